/*
 * test_sim_scenario.c - the scenario loader: a scenario using every part
 * of the format loads with the values it says; unknown keys, bad values,
 * unknown names, bad server configs, two actions in one step and invalid
 * YAML are errors that name the file and line.  Also the typed readers
 * (durations, sizes, probabilities) and the JSON field lookup.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checker.h"
#include "scenario.h"
#include "ytree.h"

#ifndef SIM_TEST_DATA
#define SIM_TEST_DATA "sim/tests/data"
#endif

static char err[1024];

static int load(const char *name, struct scenario *s)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", SIM_TEST_DATA, name);
	return scenario_load(s, path, err, sizeof(err));
}

START_TEST(test_good_scenario_values)
{
	struct scenario s;
	ck_assert_msg(load("good.yaml", &s) == 0, "%s", err);
	ck_assert_str_eq(s.name, "good");
	ck_assert_int_eq(s.duration_ns, 2000000000LL);
	ck_assert_int_eq(s.net.cfg.link[0].latency.min_ns, 1000000);
	ck_assert_int_eq(s.net.cfg.link[0].latency.tail_ppm, 10000);
	ck_assert_int_eq(s.net.cfg.link[1].latency.min_ns, 5000000);
	ck_assert_int_eq(s.net.cfg.link[0].bandwidth_bps, 10000000);
	ck_assert_uint_eq(s.net.cfg.window_bytes, 65536);
	ck_assert_uint_eq(s.nservers, 1);
	ck_assert_int_eq(s.servers[0].clock_offset_ns, -3000000000LL);
	ck_assert_int_eq(s.servers[0].drift_ppm, 100);
	ck_assert_uint_eq(s.servers[0].disk.capacity_bytes, 1048576);
	ck_assert_uint_eq(s.servers[0].disk.read_error_ppm, 1000);
	ck_assert(!s.servers[0].disk.torn_writes);
	ck_assert_uint_eq(s.nclients, 1);
	ck_assert_uint_eq(s.clients[0].cfg.npubs, 1);
	ck_assert_int_eq(s.clients[0].cfg.pubs[0].count, 3);
	ck_assert_uint_eq(s.nsteps, 2);
	ck_assert_int_eq(s.steps[0].act, SC_ACT_PARTITION);
	ck_assert_int_eq(s.steps[0].sel.mode, SIM_PART_HOLD);
	ck_assert_uint_eq(s.steps[0].sel.kinds, 1);
	ck_assert_int_eq(s.steps[1].at_ns, -1);
	ck_assert_ptr_nonnull(s.steps[1].after);
	ck_assert_int_eq(s.steps[1].delay_ns, 10000000);
	ck_assert_uint_eq(s.nexpects, 1);
	ck_assert_int_eq(s.expects[0].within_ns, 1500000000LL);
	scenario_free(&s);
}
END_TEST

static void assert_fails(const char *name, const char *where, const char *what)
{
	struct scenario s;
	ck_assert_int_eq(load(name, &s), -1);
	ck_assert_msg(strstr(err, where) != NULL, "'%s' lacks '%s'", err, where);
	ck_assert_msg(strstr(err, what) != NULL, "'%s' lacks '%s'", err, what);
	scenario_free(&s);
}

START_TEST(test_errors_name_file_and_line)
{
	assert_fails("bad_key.yaml", "bad_key.yaml:6:", "unknown key 'subscrbe'");
	assert_fails("bad_duration.yaml", "bad_duration.yaml:1:",
		     "bad duration");
	assert_fails("bad_name.yaml", "bad_name.yaml:4:", "no client named");
	assert_fails("bad_config.yaml", "bad_config.yaml:2", "no_such_option");
	assert_fails("bad_step.yaml", "bad_step.yaml:6:", "one action per step");
	assert_fails("bad_yaml.yaml", "bad_yaml.yaml:", "");
	assert_fails("bad_prob.yaml", "bad_prob.yaml:2:", "above 1");
}
END_TEST

static struct ynode scalar(const char *text)
{
	struct ynode n = { .type = Y_SCALAR, .line = 1, .col = 1,
			   .text = (char *)text, .len = strlen(text),
			   .plain = true };
	return n;
}

START_TEST(test_typed_readers)
{
	struct yctx x = { .file = "t", .err = err, .cap = sizeof(err) };
	int64_t ns;
	struct ynode n = scalar("1m30.5s");
	ck_assert(yget_dur(&x, &n, false, &ns));
	ck_assert_int_eq(ns, 90500000000LL);
	n = scalar("250us");
	ck_assert(yget_dur(&x, &n, false, &ns));
	ck_assert_int_eq(ns, 250000);
	n = scalar("-2s");
	ck_assert(yget_dur(&x, &n, true, &ns));
	ck_assert_int_eq(ns, -2000000000LL);
	ck_assert(!yget_dur(&x, &n, false, &ns));
	x.failed = false;
	uint64_t size;
	n = scalar("64KiB");
	ck_assert(yget_size(&x, &n, &size));
	ck_assert_uint_eq(size, 65536);
	n = scalar("1.5MB");
	ck_assert(yget_size(&x, &n, &size));
	ck_assert_uint_eq(size, 1500000);
	uint32_t ppm;
	n = scalar("12.5%");
	ck_assert(yget_prob(&x, &n, &ppm));
	ck_assert_uint_eq(ppm, 125000);
	n = scalar("0.001");
	ck_assert(yget_prob(&x, &n, &ppm));
	ck_assert_uint_eq(ppm, 1000);
}
END_TEST

START_TEST(test_json_field)
{
	const char *j = "{\"a\":{\"b\":[10,{\"c\":\"x\\u0041\"}]},\"t\":true}";
	char v[64];
	ck_assert(check_json_field(j, strlen(j), "a.b[0]", v, sizeof(v)));
	ck_assert_str_eq(v, "10");
	ck_assert(check_json_field(j, strlen(j), "a.b[1].c", v, sizeof(v)));
	ck_assert_str_eq(v, "xA");
	ck_assert(check_json_field(j, strlen(j), "t", v, sizeof(v)));
	ck_assert_str_eq(v, "true");
	ck_assert(!check_json_field(j, strlen(j), "a.z", v, sizeof(v)));
	ck_assert(!check_json_field(j, strlen(j), "a.b[5]", v, sizeof(v)));
	ck_assert(!check_json_field("nope", 4, "a", v, sizeof(v)));
}
END_TEST

static Suite *scenario_suite(void)
{
	Suite *s = suite_create("sim_scenario");
	TCase *tc = tcase_create("load");
	tcase_add_test(tc, test_good_scenario_values);
	tcase_add_test(tc, test_errors_name_file_and_line);
	tcase_add_test(tc, test_typed_readers);
	tcase_add_test(tc, test_json_field);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(scenario_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
