/*
 * test_monitor.c - the HTTP monitoring port, side by side with the
 * reference.
 *
 * Each test starts the server under test ($NATS_TEST_SERVER) and the
 * reference nats-server 2.9.10 (/usr/sbin/nats-server) with the same
 * configuration, drives the same nats.c clients against both, then asks
 * both for the same endpoint.  Every key the reference returns must be in
 * ours, nested objects and the first element of arrays of objects
 * included; values that follow from what the clients did (connections,
 * messages, bytes, subscriptions, close reasons) must be equal on both and
 * equal to what the test expects.  Option errors must get the same status
 * and text; unknown paths 404.
 *
 * The monitoring port is found the way the nats.js test launcher finds it:
 * `http: 127.0.0.1:-1` and `ports_file_dir` in the config, then the
 * "monitoring" URL of the ports file.  Run against the reference itself
 * (suite 'reference') the comparison is trivially true and the value
 * checks still prove the test right.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "mon_pair.h"

static struct mon_server ours, ref;

static const char conf_fmt[] =
	"http: \"127.0.0.1:-1\"\n"
	"ports_file_dir: \"%s\"\n"
	"accounts {\n"
	"  A: {\n"
	"    users: [ {user: a, password: a} ]\n"
	"    exports: [ {service: \"svc.>\"}, {stream: \"str.>\"} ]\n"
	"  }\n"
	"  B: {\n"
	"    users: [ {user: b, password: b} ]\n"
	"    imports: [ {service: {account: A, subject: \"svc.>\"}},\n"
	"               {stream: {account: A, subject: \"str.>\"}} ]\n"
	"    mappings: { \"m.a\": \"m.b\" }\n"
	"  }\n"
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

static natsConnection *client(const struct mon_server *m, const char *user, const char *name)
{
	natsOptions *opts = harness_nats_options(&m->srv);
	natsConnection *nc = NULL;
	natsOptions_SetUserInfo(opts, user, user);
	natsOptions_SetName(opts, name);
	ck_assert_int_eq(harness_nats_try_connect(&m->srv, opts, &nc), NATS_OK);
	natsOptions_Destroy(opts);
	return nc;
}

/* The same traffic on a server: a subscriber and a publisher in account
 * A, three 5-byte messages delivered.  Returns both connections. */
static void traffic(const struct mon_server *m, natsConnection **sub_nc,
		    natsConnection **pub_nc, natsSubscription **sub)
{
	*sub_nc = client(m, "a", "subscriber");
	*pub_nc = client(m, "a", "publisher");
	ck_assert_int_eq(natsConnection_SubscribeSync(sub, *sub_nc, "foo"), NATS_OK);
	ck_assert_int_eq(natsConnection_Flush(*sub_nc), NATS_OK);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(natsConnection_PublishString(*pub_nc, "foo", "hello"), NATS_OK);
	ck_assert_int_eq(natsConnection_Flush(*pub_nc), NATS_OK);
	for (int i = 0; i < 3; i++) {
		natsMsg *msg = NULL;
		ck_assert_int_eq(natsSubscription_NextMsg(&msg, *sub, 2000), NATS_OK);
		natsMsg_Destroy(msg);
	}
	/* The server counts a delivery once it is written out: let it. */
	harness_sleep_ms(100);
}

static void traffic_end(natsConnection *a, natsConnection *b, natsSubscription *sub)
{
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(a);
	natsConnection_Destroy(b);
}

/* ---- tests ------------------------------------------------------------- */

/* Endpoints that need no traffic: same keys as the reference. */
START_TEST(test_endpoint_keys)
{
	static const char *const targets[] = {
		"/varz", "/connz", "/subsz", "/accountz", "/accountz?acc=A",
		"/accountz?acc=B", "/accstatz?unused=1", "/healthz",
		"/healthz?js-enabled-only=true", "/healthz?js-server-only=1", "/routez",
		"/leafz", "/gatewayz", "/jsz", "/jsz?accounts=true", "/subscriptionsz",
	};
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
		compare_endpoint(&ref, &ours, targets[i]);
}
END_TEST

/* Waits (up to 3 s) until the server holds no client connection, so that
 * connections of earlier tests and the readiness probe are closed and
 * counted before a test takes its baseline. */
/* Waits until no client is connected and every ended one is in the
 * closed list: nats-server records a closed connection from another
 * goroutine, after the connection count has already dropped. */
static void settle(const struct mon_server *m)
{
	for (int i = 0; i < 150; i++) {
		struct doc v, c;
		doc_get(&v, m, "/varz");
		int64_t n = doc_int(&v, "connections");
		int64_t total = doc_int(&v, "total_connections");
		doc_free(&v);
		doc_get(&c, m, "/connz?state=closed");
		int64_t closed = doc_int(&c, "total");
		doc_free(&c);
		if (n == 0 && closed == total)
			return;
		harness_sleep_ms(20);
	}
}

/* varz, connz and accstatz after the same traffic: same keys, and the
 * counts the clients caused. */
START_TEST(test_traffic_values)
{
	struct mon_server *both[2] = { &ref, &ours };
	natsConnection *s[2], *p[2];
	natsSubscription *sub[2];
	int64_t total_before[2];
	/* The harness's readiness probe is a connection too: count from
	 * here. */
	for (int i = 0; i < 2; i++) {
		struct doc v;
		settle(both[i]);
		doc_get(&v, both[i], "/varz");
		total_before[i] = doc_int(&v, "total_connections");
		doc_free(&v);
		traffic(both[i], &s[i], &p[i], &sub[i]);
	}
	compare_endpoint(&ref, &ours, "/varz");
	compare_endpoint(&ref, &ours, "/connz?subs=1&auth=1");
	compare_endpoint(&ref, &ours, "/connz?subs=detail");
	compare_endpoint(&ref, &ours, "/accstatz");
	compare_endpoint(&ref, &ours, "/subsz?subs=1&test=foo");
	for (int i = 0; i < 2; i++) {
		struct doc v, c, a;
		doc_get(&v, both[i], "/varz");
		ck_assert_int_eq(doc_int(&v, "connections"), 2);
		ck_assert_int_eq(doc_int(&v, "total_connections") - total_before[i], 2);
		ck_assert_int_eq(doc_int(&v, "in_msgs"), 3);
		ck_assert_int_eq(doc_int(&v, "out_msgs"), 3);
		ck_assert_int_eq(doc_int(&v, "in_bytes"), 15);
		ck_assert_int_eq(doc_int(&v, "out_bytes"), 15);
		ck_assert_int_eq(doc_int(&v, "slow_consumers"), 0);
		doc_get(&c, both[i], "/connz?subs=1&auth=1&sort=msgs_to");
		ck_assert_int_eq(doc_int(&c, "num_connections"), 2);
		/* Sorted by messages sent to the client: the subscriber first. */
		ck_assert_int_eq(doc_int(&c, "connections.0.out_msgs"), 3);
		ck_assert_int_eq(doc_int(&c, "connections.0.subscriptions"), 1);
		ck_assert_int_eq(doc_int(&c, "connections.1.in_msgs"), 3);
		ck_assert_int_eq(doc_int(&c, "connections.1.in_bytes"), 15);
		ck_assert(doc_has_string(&c, "subscriber") && doc_has_string(&c, "foo"));
		ck_assert(doc_has_string(&c, "A"));
		doc_get(&a, both[i], "/accstatz?acc=A");
		ck_assert_int_eq(doc_int(&a, "account_statz.0.conns"), 2);
		doc_free(&v);
		doc_free(&c);
		doc_free(&a);
	}
	for (int i = 0; i < 2; i++)
		traffic_end(s[i], p[i], sub[i]);
}
END_TEST

/* A closed client is reported by connz?state=closed with its reason. */
START_TEST(test_closed_connections)
{
	struct mon_server *both[2] = { &ref, &ours };
	int64_t before[2];
	for (int i = 0; i < 2; i++) {
		struct doc c;
		settle(both[i]);
		doc_get(&c, both[i], "/connz?state=closed");
		before[i] = doc_int(&c, "total");
		doc_free(&c);
		natsConnection *nc = client(both[i], "b", "short-lived");
		natsConnection_Destroy(nc);
	}
	for (int i = 0; i < 2; i++)
		settle(both[i]);
	compare_endpoint(&ref, &ours, "/connz?state=closed&auth=1");
	for (int i = 0; i < 2; i++) {
		struct doc c;
		doc_get(&c, both[i], "/connz?state=closed&sort=stop");
		ck_assert_int_eq(doc_int(&c, "num_connections") - before[i], 1);
		/* Newest first: the client this test closed. */
		ck_assert(strstr(c.text, "\"reason\": \"Client Closed\"") != NULL);
		ck_assert(doc_has_string(&c, "Client Closed"));
		ck_assert(doc_has_string(&c, "short-lived"));
		doc_free(&c);
		doc_get(&c, both[i], "/connz?state=any&limit=5");
		ck_assert_int_eq(doc_int(&c, "total") - before[i], 1);
		ck_assert_int_eq(doc_int(&c, "limit"), 5);
		doc_free(&c);
	}
}
END_TEST

/* Bad options: the same status and message as the reference. */
START_TEST(test_errors)
{
	static const char *const targets[] = {
		"/connz?sort=bogus", "/connz?limit=x", "/connz?subs=maybe", "/connz?cid=-1",
		"/connz?state=sleepy", "/connz?sort=stop", "/subsz?test=foo.*",
		"/healthz?js-enabled-only=x", "/accountz?acc=NOPE", "/nope", "/varz/",
	};
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		struct http_resp r = http_get(&ref, targets[i]);
		struct http_resp o = http_get(&ours, targets[i]);
		ck_assert_msg(r.status == o.status, "%s: status %d, reference %d", targets[i],
			      o.status, r.status);
		ck_assert_msg(r.status >= 400, "%s: reference status %d", targets[i], r.status);
		ck_assert_msg(strcmp(r.body, o.body) == 0, "%s: [%s], reference [%s]",
			      targets[i], o.body, r.body);
		http_resp_free(&r);
		http_resp_free(&o);
	}
}
END_TEST

/* JSONP and the root page. */
START_TEST(test_jsonp_and_root)
{
	struct mon_server *both[2] = { &ref, &ours };
	for (int i = 0; i < 2; i++) {
		struct http_resp r = http_get(both[i], "/varz?callback=cb");
		ck_assert_int_eq(r.status, 200);
		ck_assert(strncmp(r.body, "cb({", 4) == 0);
		ck_assert(r.body[r.body_len - 1] == ')');
		ck_assert(strstr(r.head, "application/javascript") != NULL);
		http_resp_free(&r);
		r = http_get(both[i], "/");
		ck_assert_int_eq(r.status, 200);
		ck_assert(strstr(r.head, "text/html") != NULL);
		ck_assert(strstr(r.body, "./varz") && strstr(r.body, "./connz"));
		http_resp_free(&r);
	}
}
END_TEST

/* Two pipelined requests on a kept-alive connection, then a malformed
 * one: two answers in order, then a 400 and the close. */
START_TEST(test_keep_alive_pipelining)
{
	struct mon_server *both[2] = { &ref, &ours };
	for (int i = 0; i < 2; i++) {
		const char req[] = "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"
				   "GET /varz HTTP/1.1\r\nHost: h\r\n\r\n"
				   "BAD REQUEST\r\n\r\n";
		size_t len;
		int fd = http_connect(both[i]->http_port);
		ck_assert(write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1));
		char *raw = http_read_all(fd, &len);
		close(fd);
		const char *first = strstr(raw, "{\"status\":\"ok\"}");
		const char *second = strstr(raw, "\"server_id\"");
		const char *bad = strstr(raw, "HTTP/1.1 400 Bad Request");
		ck_assert_msg(first && second && bad && first < second && second < bad,
			      "answers out of order or missing: [%.300s]", raw);
		free(raw);
	}
}
END_TEST

/* /metrics is ours only: Prometheus text with the varz figures. */
START_TEST(test_metrics)
{
	natsConnection *nc = client(&ours, "a", "m");
	struct http_resp r = http_get(&ours, "/metrics");
	ck_assert_int_eq(r.status, 200);
	ck_assert(strstr(r.head, "text/plain") != NULL);
	ck_assert(strstr(r.body, "# TYPE gnatsd_varz_connections gauge") != NULL);
	const char *line = strstr(r.body, "\ngnatsd_varz_connections{");
	ck_assert(line != NULL);
	ck_assert_int_eq(atoi(strchr(line, '}') + 1), 1);
	http_resp_free(&r);
	natsConnection_Destroy(nc);
}
END_TEST

static Suite *monitor_suite(void)
{
	Suite *s = suite_create("monitor");
	TCase *tc = tcase_create("http");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_endpoint_keys);
	tcase_add_test(tc, test_traffic_values);
	tcase_add_test(tc, test_closed_connections);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_jsonp_and_root);
	tcase_add_test(tc, test_keep_alive_pipelining);
	suite_add_tcase(s, tc);
	/* Our own extension: only against natsd. */
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
	return harness_run(monitor_suite());
}
