/*
 * test_sim_runner.c - whole runs of small scenarios: a passing run and its
 * verdicts, a run whose expectations fail (wrong count, an "eventually"
 * that never holds, a step whose condition never came), the run hash
 * (same seed, same hash; another seed, another), and the SQLite trace
 * answering which connections received a message.
 */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner.h"
#include "scenario.h"

#ifndef SIM_TEST_DATA
#define SIM_TEST_DATA "sim/tests/data"
#endif

static void load(const char *name, struct scenario *s)
{
	char path[512], err[1024];
	snprintf(path, sizeof(path), "%s/%s", SIM_TEST_DATA, name);
	ck_assert_msg(scenario_load(s, path, err, sizeof(err)) == 0, "%s", err);
}

static void run(const struct scenario *s, uint64_t seed, const char *trace,
		struct run_result *res)
{
	struct run_opts o = { .seed = seed, .trace_path = trace };
	ck_assert_int_eq(runner_run(s, &o, res), 0);
}

START_TEST(test_passing_run)
{
	struct scenario s;
	load("run_ok.yaml", &s);
	struct run_result res;
	run(&s, 1, NULL, &res);
	ck_assert_msg(res.passed, "%s", res.failure);
	ck_assert_uint_eq(res.nverdicts, 2);
	ck_assert_uint_eq(res.npassed, 2);
	ck_assert_int_eq(res.sim_ns, 2000000000LL);
	ck_assert_uint_gt(res.events, 100);
	ck_assert_ptr_nonnull(strstr(res.story, "step: partition cut"));
	ck_assert_ptr_nonnull(strstr(res.story, "a connected to s1"));
	run_result_free(&res);
	scenario_free(&s);
}
END_TEST

START_TEST(test_failing_run)
{
	struct scenario s;
	load("run_fail.yaml", &s);
	struct run_result res;
	run(&s, 1, NULL, &res);
	ck_assert(!res.passed);
	ck_assert_uint_eq(res.nverdicts, 4);
	ck_assert(!res.verdicts[0].passed);
	ck_assert_str_eq(res.verdicts[0].detail, "got 5");
	ck_assert(!res.verdicts[1].passed);
	ck_assert_ptr_nonnull(strstr(res.verdicts[1].detail, "not within 500"));
	ck_assert_int_eq(res.verdicts[1].decided_ns, 500000000LL);
	ck_assert(res.verdicts[2].passed);
	ck_assert(!res.verdicts[3].passed);   /* the step never ran */
	ck_assert_str_eq(res.verdicts[3].detail, "its step never ran");
	ck_assert_ptr_nonnull(strstr(res.notes, "never ran"));
	run_result_free(&res);
	scenario_free(&s);
}
END_TEST

START_TEST(test_hash_follows_seed)
{
	struct scenario s;
	load("run_ok.yaml", &s);
	struct run_result a, b, c;
	run(&s, 5, NULL, &a);
	run(&s, 5, NULL, &b);
	run(&s, 6, NULL, &c);
	ck_assert_str_eq(a.hash, b.hash);
	ck_assert_uint_eq(a.events, b.events);
	ck_assert_str_ne(a.hash, c.hash);
	run_result_free(&a);
	run_result_free(&b);
	run_result_free(&c);
	scenario_free(&s);
}
END_TEST

static int count_rows(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	int n = 0;
	while (sqlite3_step(st) == SQLITE_ROW)
		n++;
	sqlite3_finalize(st);
	return n;
}

START_TEST(test_trace_answers_receivers)
{
	struct scenario s;
	load("run_ok.yaml", &s);
	char path[] = "/tmp/test_sim_runner_XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	struct run_result res, again;
	run(&s, 3, path, &res);
	run(&s, 3, NULL, &again);
	/* Recording a trace does not change the run. */
	ck_assert_str_eq(res.hash, again.hash);
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(count_rows(db,
		"SELECT DISTINCT conn FROM ev WHERE kind = 'proto_msg' "
		"AND text = 'p#7'"), 2);
	ck_assert_int_eq(count_rows(db,
		"SELECT 1 FROM ev WHERE kind = 'proto_msg' AND text = 'p#7' "
		"AND node IN ('a', 'b')"), 2);
	ck_assert_int_eq(count_rows(db,
		"SELECT 1 FROM meta WHERE key = 'hash' AND value = (SELECT "
		"value FROM meta WHERE key = 'hash')"), 1);
	ck_assert_int_eq(count_rows(db,
		"SELECT 1 FROM ev WHERE kind = 'fault_partition'"), 1);
	ck_assert_int_eq(count_rows(db, "SELECT 1 FROM events"),
			 (int)res.trace_events);
	sqlite3_close(db);
	unlink(path);
	run_result_free(&res);
	run_result_free(&again);
	scenario_free(&s);
}
END_TEST

static Suite *runner_suite(void)
{
	Suite *s = suite_create("sim_runner");
	TCase *tc = tcase_create("runs");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_passing_run);
	tcase_add_test(tc, test_failing_run);
	tcase_add_test(tc, test_hash_follows_seed);
	tcase_add_test(tc, test_trace_answers_receivers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(runner_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
