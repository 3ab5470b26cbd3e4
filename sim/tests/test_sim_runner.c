/*
 * test_sim_runner.c - whole runs of small scenarios: a passing run and its
 * verdicts, a run whose expectations fail (wrong count, an "eventually"
 * that never holds, a step whose condition never came), the run hash
 * (same seed, same hash; another seed, another), and the SQLite trace
 * answering which connections received a message; JetStream publishers
 * and the "acknowledged means stored" check (a passing read-back, acked
 * messages removed by a limit, a duplicate, lost_max), log conditions,
 * reload steps (a replaced include, a restart after it, a refused
 * config), acking a pulled message with reply_to, same_json, and the
 * loader's errors for these keys.
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

/* ----------------------------------------------------------- JetStream */

/* A stream ORDERS on orders.> (extra stream config in `limits`), a
 * publisher of 50 identities, a read-back at 1.5 s, then `tail` (more
 * timeline steps) and `expect` as given. */
static void js_load(struct scenario *s, const char *limits, const char *tail,
		    const char *expect)
{
	char text[4096], err[1024];
	snprintf(text, sizeof(text),
		 "duration: 2s\n"
		 "servers:\n"
		 "  n1:\n"
		 "    config_text: |\n"
		 "      port: 4222\n"
		 "      jetstream { store_dir: /data }\n"
		 "clients:\n"
		 "  pub:\n"
		 "    server: n1\n"
		 "    js_publish:\n"
		 "      - {subject: orders.new, count: 50, interval: 2ms,\n"
		 "         start: 300ms, size: 40}\n"
		 "timeline:\n"
		 "  - at: 100ms\n"
		 "    request:\n"
		 "      client: pub\n"
		 "      name: create\n"
		 "      subject: $JS.API.STREAM.CREATE.ORDERS\n"
		 "      payload: '{\"name\":\"ORDERS\",\"subjects\":[\"orders.>\"]%s}'\n"
		 "%s"
		 "  - at: 1500ms\n"
		 "    verify: {client: pub, stream: ORDERS, from: pub}\n"
		 "expect:\n%s", limits, tail, expect);
	ck_assert_msg(scenario_load_text(s, "js.yaml", text, strlen(text), err,
					 sizeof(err)) == 0, "%s", err);
}

START_TEST(test_js_stored_passes)
{
	struct scenario s;
	js_load(&s, "", "",
		"  - acked: {client: pub, count: 50}\n"
		"  - pub_errors: {client: pub, count: 0}\n"
		"  - stored: {client: pub, stream: ORDERS, from: pub, count: 50}\n"
		"  - log: {server: n1, contains: Starting JetStream, count: 1}\n");
	struct run_result res;
	run(&s, 1, NULL, &res);
	ck_assert_msg(res.passed, "%s / %s", res.failure,
		      res.verdicts[2].detail);
	ck_assert_uint_eq(res.npassed, 4);
	ck_assert_ptr_nonnull(strstr(res.verdicts[2].detail,
				     "50 acked, 50 in place, 0 missing"));
	run_result_free(&res);
	scenario_free(&s);
}
END_TEST

/* A limit removes acknowledged messages: the read-back must see it. */
START_TEST(test_js_stored_sees_removed)
{
	struct scenario s;
	js_load(&s, ",\"max_msgs\":20", "",
		"  - stored: {client: pub, stream: ORDERS, from: pub}\n"
		"  - stored: {client: pub, stream: ORDERS, from: pub,\n"
		"             lost_max: 30}\n"
		"  - log: {server: n1, contains: no such line}\n");
	struct run_result res;
	run(&s, 1, NULL, &res);
	ck_assert(!res.passed);
	ck_assert(!res.verdicts[0].passed);
	ck_assert_msg(strstr(res.verdicts[0].detail,
			     "pub#1 acked at seq 1 is missing") != NULL, "%s",
		      res.verdicts[0].detail);
	ck_assert_ptr_nonnull(strstr(res.verdicts[0].detail, "read seq 31..50"));
	ck_assert_msg(res.verdicts[1].passed, "%s", res.verdicts[1].detail);
	ck_assert(!res.verdicts[2].passed);
	ck_assert_str_eq(res.verdicts[2].detail, "matching lines: 0");
	run_result_free(&res);
	scenario_free(&s);
}
END_TEST

/* A second copy of an identity in the stream is a duplicate. */
START_TEST(test_js_stored_sees_duplicate)
{
	struct scenario s;
	js_load(&s, "",
		"  - at: 1s\n"
		"    publish: {client: pub, subject: orders.again, payload: "
		"'pub#7 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'}\n",
		"  - stored: {client: pub, stream: ORDERS, from: pub}\n");
	struct run_result res;
	run(&s, 1, NULL, &res);
	ck_assert(!res.passed);
	ck_assert_msg(strstr(res.verdicts[0].detail,
			     "pub#7 stored twice (again at seq 51)") != NULL,
		      "%s", res.verdicts[0].detail);
	run_result_free(&res);
	scenario_free(&s);
}
END_TEST

/* Without a stream the publishes get no-responders errors, and the
 * read-back reports the stream as missing. */
START_TEST(test_js_no_stream)
{
	char err[1024];
	const char *text =
		"duration: 2s\n"
		"servers:\n"
		"  n1: {config_text: \"jetstream { store_dir: /data }\"}\n"
		"clients:\n"
		"  pub:\n"
		"    server: n1\n"
		"    js_publish: [{subject: x, count: 5, start: 100ms}]\n"
		"timeline:\n"
		"  - at: 1s\n"
		"    verify: {client: pub, stream: NONE, from: pub}\n"
		"expect:\n"
		"  - pub_errors: {client: pub, contains: no responders, count: 5}\n"
		"  - stored: {client: pub, stream: NONE, from: pub, min: 0}\n";
	struct scenario s;
	ck_assert_msg(scenario_load_text(&s, "js.yaml", text, strlen(text), err,
					 sizeof(err)) == 0, "%s", err);
	struct run_result res;
	run(&s, 1, NULL, &res);
	ck_assert_msg(res.verdicts[0].passed, "%s", res.verdicts[0].detail);
	ck_assert(!res.verdicts[1].passed);
	ck_assert_str_eq(res.verdicts[1].detail,
			 "verify NONE failed: stream not found");
	run_result_free(&res);
	scenario_free(&s);
}
END_TEST

/* reload: the included file is replaced, the running server takes the new
 * users (b can connect), a restart keeps them, and a config the server
 * refuses fails the step (and the run) while the old one stays. */
START_TEST(test_reload_replaces_file)
{
	char err[1024];
	const char *text =
		"duration: 5s\n"
		"servers:\n"
		"  n1: {config: reload_main.conf}\n"
		"clients:\n"
		"  a: {server: n1, user: a, pass: a}\n"
		"  b: {server: n1, user: b, pass: b,\n"
		"      reconnect: {delay: 200ms, max_delay: 200ms}}\n"
		"timeline:\n"
		"  - at: 500ms\n"
		"    expect: [{not: {connected: b}}]\n"
		"  - at: 1s\n"
		"    reload: {server: n1,\n"
		"             files: {reload_users.conf: reload_users_more.conf}}\n"
		"  - at: 3s\n"
		"    restart: n1\n"
		"  - at: 4s\n"
		"    reload: {server: n1,\n"
		"             files: {./reload_users.conf: reload_users_bad.conf}}\n"
		"expect:\n"
		"  - connected: b\n"
		"  - connected: a\n"
		"  - reconnects: {client: b, count: 1}\n"
		"  - log: {server: n1, contains: Reloaded server configuration,\n"
		"          count: 1}\n";
	char path[512];
	snprintf(path, sizeof(path), "%s/reload.yaml", SIM_TEST_DATA);
	struct scenario s;
	ck_assert_msg(scenario_load_text(&s, path, text, strlen(text), err,
					 sizeof(err)) == 0, "%s", err);
	struct run_result res;
	run(&s, 1, NULL, &res);
	ck_assert_uint_eq(res.npassed, res.nverdicts);
	ck_assert(!res.passed);
	ck_assert_msg(strstr(res.notes, "failed: reload n1 with "
			     "./reload_users.conf replaced: system account "
			     "\"NOPE\" not defined") != NULL, "%s", res.notes);
	ck_assert_ptr_nonnull(strstr(res.story, "b connected to n1"));
	run_result_free(&res);
	scenario_free(&s);
}
END_TEST

/* A pulled message is acked with reply_to; same_json compares a field of
 * two replies. */
START_TEST(test_reply_to_acks_and_same_json)
{
	char err[1024];
	const char *text =
		"duration: 3s\n"
		"servers:\n"
		"  n1: {config_text: \"jetstream { store_dir: /data }\"}\n"
		"clients:\n"
		"  c: {server: n1}\n"
		"  d: {server: n1}\n"
		"timeline:\n"
		"  - at: 100ms\n"
		"    reply_to: {client: c, request: next}\n"
		"  - at: 200ms\n"
		"    request: {client: c, name: mk, subject: $JS.API.STREAM.CREATE.S,\n"
		"              payload: '{\"name\":\"S\",\"subjects\":[\"s\"]}'}\n"
		"  - at: 300ms\n"
		"    publish: {client: c, subject: s, payload: hi}\n"
		"  - at: 400ms\n"
		"    request: {client: c, name: dur,\n"
		"      subject: $JS.API.CONSUMER.DURABLE.CREATE.S.D,\n"
		"      payload: '{\"stream_name\":\"S\",\"config\":{\"durable_name\":"
		"\"D\",\"ack_policy\":\"explicit\"}}'}\n"
		"  - at: 500ms\n"
		"    request: {client: c, name: next,\n"
		"              subject: $JS.API.CONSUMER.MSG.NEXT.S.D, payload: '1'}\n"
		"  - at: 1s\n"
		"    reply_to: {client: c, request: next, payload: +ACK}\n"
		"  - at: 1500ms\n"
		"    request: {client: c, name: ci, subject: $JS.API.CONSUMER.INFO.S.D,\n"
		"              payload: ''}\n"
		"  - at: 1500ms\n"
		"    request: {client: c, name: si, subject: $JS.API.STREAM.INFO.S,\n"
		"              payload: ''}\n"
		"  - at: 1500ms\n"
		"    request: {client: d, name: si2, subject: $JS.API.STREAM.INFO.S,\n"
		"              payload: ''}\n"
		"expect:\n"
		"  - reply: {client: c, request: next, equals: hi}\n"
		"  - reply_json: {client: c, request: ci, field: ack_floor.stream_seq,\n"
		"                 equals: '1'}\n"
		"  - same_json: {client: c, a: si, client_b: d, b: si2,\n"
		"                field: state.messages}\n"
		"  - same_json: {client: c, a: si, b: ci, field: state.messages}\n"
		"  - same_json: {client: c, a: si, b: ci, field: num_pending}\n";
	struct scenario s;
	ck_assert_msg(scenario_load_text(&s, "ack.yaml", text, strlen(text), err,
					 sizeof(err)) == 0, "%s", err);
	struct run_result res;
	run(&s, 1, NULL, &res);
	ck_assert_uint_eq(res.nverdicts, 5);
	for (int i = 0; i < 3; i++)
		ck_assert_msg(res.verdicts[i].passed, "%d: %s", i,
			      res.verdicts[i].detail);
	ck_assert_str_eq(res.verdicts[2].detail, "si: 1, si2: 1");
	ck_assert(!res.verdicts[3].passed);
	ck_assert_str_eq(res.verdicts[3].detail,
			 "no state.messages in the reply to ci");
	ck_assert_str_eq(res.verdicts[4].detail,
			 "no num_pending in the reply to si");
	/* The first reply_to came before any reply: a failed step. */
	ck_assert(!res.passed);
	ck_assert_ptr_nonnull(strstr(res.notes, "step at line 8 failed"));
	run_result_free(&res);
	scenario_free(&s);
}
END_TEST

static void load_fails(const char *text, const char *want)
{
	struct scenario s;
	char err[1024];
	ck_assert_int_eq(scenario_load_text(&s, "bad.yaml", text, strlen(text),
					    err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, want) != NULL, "%s", err);
	scenario_free(&s);
}

START_TEST(test_js_load_errors)
{
	static const char head[] =
		"servers: {n1: {config_text: \"port: 4222\"}}\n"
		"clients:\n"
		"  c:\n"
		"    server: n1\n";
	char text[1024];
	snprintf(text, sizeof(text), "%s    js_publish: [{subject: a}, "
		 "{subject: b}]\n", head);
	load_fails(text, "two js_publish workloads use the identity prefix 'c'");
	snprintf(text, sizeof(text), "%s    js_publish: [{subject: a, "
		 "timeout: 0}]\n", head);
	load_fails(text, "a PubAck timeout must be positive");
	snprintf(text, sizeof(text), "%sexpect:\n  - stored: {client: c, "
		 "from: c}\n", head);
	load_fails(text, "stored needs stream:");
	snprintf(text, sizeof(text), "%stimeline:\n  - at: 1s\n    verify: "
		 "{client: c, stream: S}\n", head);
	load_fails(text, "verify needs from:");
	snprintf(text, sizeof(text), "%sexpect:\n  - log: {server: c, "
		 "contains: x}\n", head);
	load_fails(text, "no server named 'c'");
	snprintf(text, sizeof(text), "%stimeline:\n  - at: 1s\n    reload: "
		 "{server: n1, files: {a.conf: no-such.conf}}\n", head);
	load_fails(text, "bad.yaml:7:42: cannot read file ./no-such.conf");
	snprintf(text, sizeof(text), "%stimeline:\n  - at: 1s\n    reload: "
		 "{server: c}\n", head);
	load_fails(text, "bad.yaml:7:22: no server named 'c'");
	snprintf(text, sizeof(text), "%stimeline:\n  - at: 1s\n    reply_to: "
		 "{client: c, payload: x}\n", head);
	load_fails(text, "reply_to needs request:");
	snprintf(text, sizeof(text), "%sexpect:\n  - same_json: {client: c, "
		 "a: x, field: f}\n", head);
	load_fails(text, "same_json needs b:");
	snprintf(text, sizeof(text), "%sexpect:\n  - same_json: {client: c, "
		 "a: x, b: y, client_b: z, field: f}\n", head);
	load_fails(text, "no client named 'z'");
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
	TCase *js = tcase_create("jetstream");
	tcase_set_timeout(js, 60);
	tcase_add_test(js, test_js_stored_passes);
	tcase_add_test(js, test_js_stored_sees_removed);
	tcase_add_test(js, test_js_stored_sees_duplicate);
	tcase_add_test(js, test_js_no_stream);
	tcase_add_test(js, test_js_load_errors);
	tcase_add_test(js, test_reload_replaces_file);
	tcase_add_test(js, test_reply_to_acks_and_same_json);
	suite_add_tcase(s, js);
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
