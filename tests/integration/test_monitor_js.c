/*
 * test_monitor_js.c - JetStream in the monitoring endpoints, side by side
 * with the reference: /jsz and its options, the "jetstream" object of
 * /varz, /healthz with JetStream, $SYS.REQ.SERVER.PING.JSZ, and the
 * JetStream advisories.
 *
 * Each test starts the server under test ($NATS_TEST_SERVER) and the
 * reference nats-server 2.9.10 with the same configuration (JetStream on,
 * accounts A and B with JetStream, C without, a system account), creates
 * the same streams with the same messages through nats.c requests, then
 * compares: every key the reference returns must be in ours (nested
 * objects and the first element of arrays included), and the figures the
 * clients caused (streams, messages, bytes, accounts, API counts, the
 * accounts selected by acc/offset/limit) must be equal on both and equal
 * to what the test expects.  Against the reference itself (suite
 * 'reference') the comparison is trivially true and the value checks still
 * prove the test right.
 *
 * The advisory test runs against both servers; NATS_TEST_JS_ADVISORIES=0
 * leaves it out against natsd.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mon_pair.h"

#define REQ_TIMEOUT_MS 3000

static struct mon_server ours, ref;

static const char conf_fmt[] =
	"server_name: jsmon\n"
	"http: \"127.0.0.1:-1\"\n"
	"ports_file_dir: \"%s\"\n"
	"jetstream { store_dir: \"%s/store\", max_memory_store: 1073741824,\n"
	"            max_file_store: 10737418240 }\n"
	"system_account: SYS\n"
	"accounts {\n"
	"  A: { users: [ {user: a, password: a} ], jetstream: enabled }\n"
	"  B: { users: [ {user: b, password: b} ], jetstream: enabled }\n"
	"  C: { users: [ {user: c, password: c} ] }\n"
	"  SYS: { users: [ {user: sys, password: sys} ] }\n"
	"}\n";

static void setup(void)
{
	mon_start(&ours, NULL, conf_fmt, "ours");
	mon_start(&ref, MON_REFERENCE_SERVER, conf_fmt, "reference");
}

static void teardown(void)
{
	mon_stop(&ours);
	mon_stop(&ref);
}

/* ---- clients ----------------------------------------------------------- */

static natsConnection *client(const struct mon_server *m, const char *user)
{
	natsOptions *opts = harness_nats_options(&m->srv);
	natsConnection *nc = NULL;
	natsOptions_SetUserInfo(opts, user, user);
	ck_assert_int_eq(harness_nats_try_connect(&m->srv, opts, &nc), NATS_OK);
	natsOptions_Destroy(opts);
	return nc;
}

/* A request that must be answered; returns the reply's data (owned). */
static char *request(natsConnection *nc, const char *subject, const char *body)
{
	natsMsg *reply = NULL;
	natsStatus st = natsConnection_RequestString(&reply, nc, subject, body, REQ_TIMEOUT_MS);
	ck_assert_msg(st == NATS_OK, "%s: %s", subject, natsStatus_GetText(st));
	char *data = strndup(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply));
	natsMsg_Destroy(reply);
	return data;
}

static void request_ok(natsConnection *nc, const char *subject, const char *body)
{
	char *r = request(nc, subject, body);
	ck_assert_msg(strstr(r, "\"error\"") == NULL, "%s: %s", subject, r);
	free(r);
}

/* The same JetStream content on a server: in A a file stream ORDERS
 * (max_bytes 1000000, two messages, a durable pull consumer D) and a
 * memory stream MEM (max_bytes 5000, one message); in B an empty file
 * stream LOG. */
static void populate(const struct mon_server *m)
{
	natsConnection *a = client(m, "a"), *b = client(m, "b");
	request_ok(a, "$JS.API.STREAM.CREATE.ORDERS",
		   "{\"name\":\"ORDERS\",\"subjects\":[\"orders.>\"],\"max_bytes\":1000000}");
	request_ok(a, "$JS.API.STREAM.CREATE.MEM",
		   "{\"name\":\"MEM\",\"subjects\":[\"mem\"],\"storage\":\"memory\","
		   "\"max_bytes\":5000}");
	request_ok(b, "$JS.API.STREAM.CREATE.LOG", "{\"name\":\"LOG\",\"subjects\":[\"log\"]}");
	request_ok(a, "orders.new", "first");
	request_ok(a, "orders.new", "second");
	request_ok(a, "mem", "m");
	request_ok(a, "$JS.API.CONSUMER.DURABLE.CREATE.ORDERS.D",
		   "{\"stream_name\":\"ORDERS\",\"config\":{\"durable_name\":\"D\","
		   "\"ack_policy\":\"explicit\"}}");
	natsConnection_Destroy(a);
	natsConnection_Destroy(b);
}

static void populate_both(void)
{
	populate(&ref);
	populate(&ours);
}

/* ---- tests ------------------------------------------------------------- */

START_TEST(test_jsz_keys)
{
	static const char *const targets[] = {
		"/jsz", "/jsz?accounts=true", "/jsz?streams=true", "/jsz?streams=1&config=1",
		"/jsz?consumers=true&config=true", "/jsz?acc=A", "/jsz?acc=B&streams=true",
		"/varz", "/healthz", "/healthz?js-enabled-only=true",
		"/healthz?js-server-only=true", "/accountz?acc=A",
	};
	populate_both();
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
		compare_endpoint(&ref, &ours, targets[i]);
}
END_TEST

/* Server figures after the same content: equal on both, as expected. */
START_TEST(test_jsz_totals)
{
	static const char *const same[] = {
		"memory", "storage", "reserved_memory", "reserved_storage", "accounts",
		"streams", "consumers", "messages", "bytes", "api.total", "api.errors",
		"config.max_memory", "config.max_storage",
	};
	populate_both();
	struct doc r, o;
	doc_get(&r, &ref, "/jsz");
	doc_get(&o, &ours, "/jsz");
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		ck_assert_msg(doc_int(&r, same[i]) == doc_int(&o, same[i]),
			      "%s: ours %lld, reference %lld", same[i],
			      (long long)doc_int(&o, same[i]), (long long)doc_int(&r, same[i]));
	ck_assert_int_eq(doc_int(&o, "streams"), 3);
	ck_assert_int_eq(doc_int(&o, "messages"), 3);
	ck_assert_int_eq(doc_int(&o, "accounts"), 2);
	ck_assert_int_eq(doc_int(&o, "reserved_memory"), 5000);
	ck_assert_int_eq(doc_int(&o, "reserved_storage"), 1000000);
	ck_assert_int_eq(doc_int(&o, "api.total"), 4);
	ck_assert_int_eq(doc_int(&o, "consumers"), 1);
	ck_assert(doc_int(&o, "memory") > 0 && doc_int(&o, "storage") > 0);
	ck_assert_int_eq(doc_int(&o, "bytes"), doc_int(&o, "memory") + doc_int(&o, "storage"));
	ck_assert_int_eq(doc_path(&o, "account_details"), -1);
	ck_assert_int_eq(doc_path(&o, "disabled"), -1);
	doc_free(&r);
	doc_free(&o);
	/* varz carries the same stats. */
	doc_get(&o, &ours, "/varz");
	ck_assert_int_eq(doc_int(&o, "jetstream.stats.accounts"), 2);
	ck_assert_int_eq(doc_int(&o, "jetstream.stats.reserved_storage"), 1000000);
	ck_assert_int_eq(doc_int(&o, "jetstream.config.max_memory"), 1073741824);
	doc_free(&o);
}
END_TEST

/* Which account details each option selects, and what they hold. */
struct selection {
	const char *target;
	int count;                     /* -1: no account_details at all */
	const char *first;             /* name of the first detail */
	int streams;                   /* stream_detail of the first: -1 none */
	bool config;                   /* stream_detail[0] has config */
	int consumers;                 /* consumer_detail of ORDERS: -1 none */
};

static void check_selection(const struct mon_server *m, const struct selection *s)
{
	struct doc x;
	char name[64];
	doc_get(&x, m, s->target);
	int n = doc_array_len(&x, "account_details");
	ck_assert_msg(n == s->count, "%s on %s: %d details, expected %d", s->target, m->label, n,
		      s->count);
	if (n > 0) {
		doc_str(&x, "account_details.0.name", name, sizeof(name));
		if (s->first != NULL)
			ck_assert_msg(strcmp(name, s->first) == 0, "%s on %s: first %s",
				      s->target, m->label, name);
		ck_assert_int_eq(doc_array_len(&x, "account_details.0.stream_detail"),
				 s->streams);
	}
	if (s->streams > 0) {
		bool has = doc_path(&x, "account_details.0.stream_detail.0.config") >= 0;
		ck_assert_msg(has == s->config, "%s on %s: config %d", s->target, m->label, has);
		ck_assert(doc_path(&x, "account_details.0.stream_detail.0.state.messages") >= 0);
		ck_assert(doc_path(&x, "account_details.0.stream_detail.0.cluster.leader") >= 0);
	}
	/* ORDERS sorts after MEM in ours; the reference's order is its
	 * map's, so find it by name. */
	for (int i = 0; i < s->streams; i++) {
		char path[128];
		snprintf(path, sizeof(path), "account_details.0.stream_detail.%d.name", i);
		doc_str(&x, path, name, sizeof(name));
		if (strcmp(name, "ORDERS") != 0)
			continue;
		snprintf(path, sizeof(path), "account_details.0.stream_detail.%d.consumer_detail",
			 i);
		ck_assert_msg(doc_array_len(&x, path) == s->consumers, "%s on %s: consumers",
			      s->target, m->label);
		strcat(path, ".0.config");
		if (s->consumers > 0)
			ck_assert_msg((doc_path(&x, path) >= 0) == s->config,
				      "%s on %s: consumer config", s->target, m->label);
		snprintf(path, sizeof(path), "account_details.0.stream_detail.%d.state."
			 "consumer_count", i);
		ck_assert_int_eq(doc_int(&x, path), 1);
	}
	doc_free(&x);
}

START_TEST(test_jsz_selection)
{
	/* With offset or one account the order is defined (by name); the
	 * others check the count only, since the reference's order there
	 * follows its map. */
	static const struct selection sel[] = {
		{ "/jsz?accounts=true", 2, NULL, -1, false, -1 },
		{ "/jsz?acc=A", 1, "A", -1, false, -1 },
		{ "/jsz?acc=A&streams=true", 1, "A", 2, false, -1 },
		{ "/jsz?acc=A&streams=true&config=true", 1, "A", 2, true, -1 },
		{ "/jsz?acc=A&consumers=true", 1, "A", 2, false, 1 },
		{ "/jsz?acc=A&consumers=true&config=true", 1, "A", 2, true, 1 },
		{ "/jsz?acc=B&consumers=true", 1, "B", 1, false, -1 },
		{ "/jsz?acc=C", -1, NULL, -1, false, -1 },
		{ "/jsz?acc=C&accounts=true", 2, NULL, -1, false, -1 },
		{ "/jsz?accounts=true&offset=1", 1, "B", -1, false, -1 },
		{ "/jsz?accounts=true&offset=1&limit=5", 1, "B", -1, false, -1 },
		{ "/jsz?accounts=true&offset=2", -1, NULL, -1, false, -1 },
		{ "/jsz?limit=1", -1, NULL, -1, false, -1 },
	};
	populate_both();
	for (size_t i = 0; i < sizeof(sel) / sizeof(sel[0]); i++) {
		check_selection(&ref, &sel[i]);
		check_selection(&ours, &sel[i]);
	}
	/* An account's reserved figures are its limits: unlimited here. */
	struct doc x;
	doc_get(&x, &ours, "/jsz?acc=A");
	ck_assert(strstr(x.text, "\"reserved_memory\": 18446744073709551615") != NULL);
	ck_assert_int_eq(doc_int(&x, "account_details.0.api.total"), 3);
	doc_free(&x);
	doc_get(&x, &ours, "/accountz?acc=A");
	ck_assert(strstr(x.text, "\"jetstream_enabled\": true") != NULL);
	doc_free(&x);
	doc_get(&x, &ours, "/accountz?acc=C");
	ck_assert(strstr(x.text, "\"jetstream_enabled\": false") != NULL);
	doc_free(&x);
}
END_TEST

START_TEST(test_jsz_errors_and_health)
{
	static const char *const bad[] = {
		"/jsz?accounts=x", "/jsz?streams=maybe", "/jsz?offset=z", "/jsz?leader-only=x",
		"/healthz?js-server-only=x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct http_resp r = http_get(&ref, bad[i]);
		struct http_resp o = http_get(&ours, bad[i]);
		ck_assert_msg(r.status == 400, "%s: reference status %d", bad[i], r.status);
		ck_assert_msg(o.status == r.status && strcmp(o.body, r.body) == 0,
			      "%s: %d [%s], reference %d [%s]", bad[i], o.status, o.body,
			      r.status, r.body);
		http_resp_free(&r);
		http_resp_free(&o);
	}
	static const char *const healthy[] = {
		"/healthz", "/healthz?js-enabled-only=true", "/healthz?js-server-only=true",
	};
	for (size_t i = 0; i < sizeof(healthy) / sizeof(healthy[0]); i++) {
		struct http_resp o = http_get(&ours, healthy[i]);
		ck_assert_int_eq(o.status, 200);
		ck_assert_str_eq(o.body, "{\"status\":\"ok\"}");
		http_resp_free(&o);
	}
}
END_TEST

/* $SYS.REQ.SERVER.PING.JSZ answers the /jsz data with the body's options. */
START_TEST(test_sys_jsz)
{
	populate_both();
	struct mon_server *both[2] = { &ref, &ours };
	struct doc d[2];
	for (int i = 0; i < 2; i++) {
		natsConnection *nc = client(both[i], "sys");
		char *r = request(nc, "$SYS.REQ.SERVER.PING.JSZ",
				  "{\"accounts\":true,\"streams\":true,\"offset\":1}");
		doc_parse(&d[i], r, strlen(r), "PING.JSZ");
		free(r);
		natsConnection_Destroy(nc);
		ck_assert_int_eq(doc_int(&d[i], "data.streams"), 3);
		ck_assert_int_eq(doc_array_len(&d[i], "data.account_details"), 1);
		char name[32];
		doc_str(&d[i], "data.account_details.0.name", name, sizeof(name));
		ck_assert_str_eq(name, "B");
		ck_assert_int_eq(doc_array_len(&d[i], "data.account_details.0.stream_detail"), 1);
	}
	compare_keys(&d[0].d, json_obj_get(&d[0].d, 0, "data"), &d[1].d,
		     json_obj_get(&d[1].d, 0, "data"), "PING.JSZ.data");
	doc_free(&d[0]);
	doc_free(&d[1]);
	/* STATSZ carries the JetStream config (without store_dir) and stats. */
	for (int i = 0; i < 2; i++) {
		natsConnection *nc = client(both[i], "sys");
		char *r = request(nc, "$SYS.REQ.SERVER.PING.STATSZ", "");
		doc_parse(&d[i], r, strlen(r), "PING.STATSZ");
		free(r);
		natsConnection_Destroy(nc);
		ck_assert_int_eq(doc_int(&d[i], "statsz.jetstream.stats.accounts"), 2);
		ck_assert_int_eq(doc_path(&d[i], "statsz.jetstream.config.store_dir"), -1);
	}
	compare_keys(&d[0].d, json_obj_get(&d[0].d, 0, "statsz"), &d[1].d,
		     json_obj_get(&d[1].d, 0, "statsz"), "PING.STATSZ.statsz");
	doc_free(&d[0]);
	doc_free(&d[1]);
}
END_TEST

/* The advisories one client of A sees for create, update, delete and a
 * failed request: same subjects in the same order, same keys, values. */
static void advisories_of(const struct mon_server *m, struct doc *out, char subj[][96],
			  int max, int *n)
{
	natsConnection *a = client(m, "a");
	natsSubscription *sub = NULL;
	ck_assert_int_eq(natsConnection_SubscribeSync(&sub, a, "$JS.EVENT.>"), NATS_OK);
	ck_assert_int_eq(natsConnection_Flush(a), NATS_OK);
	request_ok(a, "$JS.API.STREAM.CREATE.ADV", "{\"name\":\"ADV\",\"subjects\":[\"adv\"]}");
	request_ok(a, "$JS.API.STREAM.UPDATE.ADV",
		   "{\"name\":\"ADV\",\"subjects\":[\"adv\",\"adv.>\"]}");
	request_ok(a, "$JS.API.STREAM.DELETE.ADV", "");
	free(request(a, "$JS.API.STREAM.INFO.NOPE", ""));
	/* The 7 expected within 10 s (the reference sends audits from
	 * another goroutine, late on a loaded machine), then 300 ms more to
	 * see any extra one. */
	*n = 0;
	long long end = harness_now_ms() + 10000;
	for (;;) {
		long long left = *n < 7 ? end - harness_now_ms() : 300;
		natsMsg *msg = NULL;
		if (*n >= max || left <= 0 ||
		    natsSubscription_NextMsg(&msg, sub, left) != NATS_OK)
			break;
		snprintf(subj[*n], 96, "%s", natsMsg_GetSubject(msg));
		doc_parse(&out[*n], natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
			  natsMsg_GetSubject(msg));
		(*n)++;
		natsMsg_Destroy(msg);
	}
	harness_sub_destroy(a, sub);
	natsConnection_Destroy(a);
}

/* Create, update, delete: the three stream actions in that order, and
 * four API audits (one per request, the failed INFO's included).  The
 * reference sends audits from another goroutine, so an audit may come
 * after the next action: only the actions' order is fixed. */
static void check_pairs(char subj[][96], int n)
{
	static const char *const actions[] = {
		"$JS.EVENT.ADVISORY.STREAM.CREATED.ADV", "$JS.EVENT.ADVISORY.STREAM.UPDATED.ADV",
		"$JS.EVENT.ADVISORY.STREAM.DELETED.ADV",
	};
	ck_assert_int_eq(n, 7);
	int next_action = 0, audits = 0;
	for (int i = 0; i < n; i++) {
		if (strcmp(subj[i], "$JS.EVENT.ADVISORY.API") == 0) {
			audits++;
			continue;
		}
		ck_assert_msg(next_action < 3 && strcmp(subj[i], actions[next_action]) == 0,
			      "advisory %d: %s", i, subj[i]);
		next_action++;
	}
	ck_assert_int_eq(next_action, 3);
	ck_assert_int_eq(audits, 4);
}

START_TEST(test_advisories)
{
	enum { MAX = 16 };
	static const char *const expect[] = {
		"$JS.EVENT.ADVISORY.API", "$JS.EVENT.ADVISORY.STREAM.UPDATED.ADV",
		"$JS.EVENT.ADVISORY.API", "$JS.EVENT.ADVISORY.STREAM.DELETED.ADV",
		"$JS.EVENT.ADVISORY.API", "$JS.EVENT.ADVISORY.API",
	};
	struct doc rd[MAX], od[MAX];
	char rs[MAX][96], os[MAX][96];
	int rn, on;
	advisories_of(&ref, rd, rs, MAX, &rn);
	advisories_of(&ours, od, os, MAX, &on);
	/* natsd: each stream action, then the audit of its request.  The
	 * reference sends the two from different queues, so within each
	 * request's pair they come in either order. */
	ck_assert_int_eq(rn, 7);
	ck_assert_int_eq(on, 7);
	check_pairs(rs, 7);
	check_pairs(os, 7);
	if (!harness_testing_reference()) {
		ck_assert_str_eq(os[0], "$JS.EVENT.ADVISORY.STREAM.CREATED.ADV");
		for (int i = 1; i < 7; i++)
			ck_assert_str_eq(os[i], expect[i - 1]);
	}
	/* Each of ours against the reference's advisory with the same subject
	 * (and, for an audit, the same API subject), wherever it came. */
	bool used[7] = { false };
	for (int i = 0; i < 7; i++) {
		int r = -1;
		char os_api[512], rs_api[512];
		os_api[0] = '\0';
		if (doc_path(&od[i], "subject") >= 0)
			doc_str(&od[i], "subject", os_api, sizeof(os_api));
		for (int k = 0; k < 7 && r < 0; k++) {
			if (used[k] || strcmp(rs[k], os[i]) != 0)
				continue;
			rs_api[0] = '\0';
			if (doc_path(&rd[k], "subject") >= 0)
				doc_str(&rd[k], "subject", rs_api, sizeof(rs_api));
			if (strcmp(os_api, rs_api) == 0)
				r = k;
		}
		ck_assert_msg(r >= 0, "%d: ours %s (%s) has no match in the reference's",
			      i, os[i], os_api);
		used[r] = true;
		compare_keys(&rd[r].d, 0, &od[i].d, 0, os[i]);
		char a[512], b[512];
		static const char *const fields[] = { "type", "stream", "action", "subject",
						      "request", "client.acc" };
		for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
			if (doc_path(&rd[r], fields[f]) < 0)
				continue;
			doc_str(&rd[r], fields[f], a, sizeof(a));
			doc_str(&od[i], fields[f], b, sizeof(b));
			ck_assert_msg(strcmp(a, b) == 0, "%s %s: ours [%s], reference [%s]",
				      os[i], fields[f], b, a);
		}
	}
	for (int i = 0; i < 7; i++) {
		doc_free(&rd[i]);
		doc_free(&od[i]);
	}
}
END_TEST

/* Our /metrics (an extension) carries the JetStream figures. */
START_TEST(test_metrics)
{
	populate(&ours);
	struct http_resp r = http_get(&ours, "/metrics");
	ck_assert_int_eq(r.status, 200);
	const char *line = strstr(r.body, "\njetstream_server_total_streams{");
	ck_assert_msg(line != NULL, "%s", r.body);
	ck_assert_int_eq(atoi(strchr(line, '}') + 1), 3);
	line = strstr(r.body, "\njetstream_server_total_messages{");
	ck_assert(line != NULL);
	ck_assert_int_eq(atoi(strchr(line, '}') + 1), 3);
	line = strstr(r.body, "stream_name=\"ORDERS\"");
	ck_assert(line != NULL);
	line = strstr(r.body, "\njetstream_stream_total_messages{");
	ck_assert(line != NULL && strstr(line, "stream_name=\"MEM\"") != NULL);
	ck_assert(strstr(r.body, "\njetstream_server_jetstream_disabled{") != NULL);
	http_resp_free(&r);
}
END_TEST

static Suite *monitor_js_suite(void)
{
	Suite *s = suite_create("monitor_js");
	TCase *tc = tcase_create("jsz");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_jsz_keys);
	tcase_add_test(tc, test_jsz_totals);
	tcase_add_test(tc, test_jsz_selection);
	tcase_add_test(tc, test_jsz_errors_and_health);
	tcase_add_test(tc, test_sys_jsz);
	const char *adv = getenv("NATS_TEST_JS_ADVISORIES");
	if (harness_testing_reference() || (adv == NULL || strcmp(adv, "0") != 0))
		tcase_add_test(tc, test_advisories);
	suite_add_tcase(s, tc);
	if (!harness_testing_reference()) {
		TCase *ext = tcase_create("extensions");
		tcase_add_checked_fixture(ext, setup, teardown);
		tcase_set_timeout(ext, 60);
		tcase_add_test(ext, test_metrics);
		suite_add_tcase(s, ext);
	}
	return s;
}

int main(void)
{
	return harness_run(monitor_js_suite());
}
