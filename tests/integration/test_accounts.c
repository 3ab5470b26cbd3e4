/*
 * test_accounts.c - accounts: isolation, stream imports (prefix and `to`),
 * service imports with the reply mapping that brings responses back to the
 * requester (a plain inbox, and nats.c's one wildcard inbox shared by all
 * requests), response types, subject mappings (plain, wildcard, functions,
 * weighted), account limits, and the accounts configuration of the docs'
 * leaf-domains walkthrough loading unchanged.
 *
 * Every expectation was checked against nats-server 2.9.10 first.  A
 * mapped reply subject ("_R_.<6>.<6>") is random, so tests read it from
 * the delivered request instead of comparing it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define WAIT_MS 2000

static struct harness_server srv;

static const char accounts_conf[] =
	"accounts {\n"
	"  A: {\n"
	"    users: [ {user: a, password: a} ]\n"
	"    exports: [\n"
	"      {stream: \"events.>\"}\n"
	"      {service: \"svc.*\", response_type: \"stream\", accounts: [B]}\n"
	"      {service: \"single\"}\n"
	"      {service: \"quiet\"}\n"
	"    ]\n"
	"  }\n"
	"  B: {\n"
	"    users: [ {user: b, password: b} ]\n"
	"    imports: [\n"
	"      {stream:  {account: A, subject: \"events.>\"}, prefix: \"fromA\"}\n"
	"      {stream:  {account: A, subject: \"events.x\"}, to: \"ex\"}\n"
	"      {service: {account: A, subject: \"svc.*\"}, to: \"a.svc.*\"}\n"
	"      {service: {account: A, subject: \"single\"}}\n"
	"      {service: {account: A, subject: \"quiet\"}}\n"
	"    ]\n"
	"  }\n"
	"  C: { users: [ {user: c, password: c} ] }\n"
	"}\n";

static void setup_server(void)
{
	harness_server_start(&srv, accounts_conf, NULL);
}

static void teardown_server(void)
{
	harness_server_stop(&srv);
}

static struct raw_conn *login_on(struct harness_server *s, const char *user, bool headers)
{
	char json[256];

	snprintf(json, sizeof(json),
		 "{\"verbose\":false,\"pedantic\":false,\"headers\":%s,\"no_responders\":%s,"
		 "\"user\":\"%s\",\"pass\":\"%s\"}",
		 headers ? "true" : "false", headers ? "true" : "false", user, user);
	return raw_connect_ready(s, json);
}

static struct raw_conn *login(const char *user)
{
	return login_on(&srv, user, true);
}

static void skip_server_pings(struct raw_conn *rc)
{
	while (raw_wait_len(rc, 6, WAIT_MS) && memcmp(rc->buf, "PING\r\n", 6) == 0) {
		raw_consume(rc, 6);
		raw_send_str(rc, "PONG\r\n");
	}
}

#define EXPECT(rc, text)				\
	do {						\
		skip_server_pings(rc);			\
		raw_expect((rc), (text), WAIT_MS);	\
	} while (0)

/* Nothing but (optionally) server PINGs arrives within quiet_ms. */
static void expect_nothing(struct raw_conn *rc, int quiet_ms)
{
	raw_send_str(rc, "PING\r\n");
	EXPECT(rc, "PONG\r\n");
	raw_read_quiet(rc, quiet_ms);
	while (rc->len >= 6 && memcmp(rc->buf, "PING\r\n", 6) == 0)
		raw_consume(rc, 6);
	ck_assert_msg(rc->len == 0, "unexpected bytes: %s", raw_escaped(rc));
}

START_TEST(test_isolation)
{
	struct raw_conn *a = login("a");
	struct raw_conn *c = login("c");

	raw_send_str(c, "SUB > 1\r\nPING\r\n");
	EXPECT(c, "PONG\r\n");
	raw_send_str(a, "SUB > 1\r\nPUB private 1\r\nx\r\nPING\r\n");
	EXPECT(a, "MSG private 1 1\r\nx\r\nPONG\r\n");
	expect_nothing(c, 200);
	raw_send_str(c, "PUB private 1\r\ny\r\nPING\r\n");
	EXPECT(c, "MSG private 1 1\r\ny\r\nPONG\r\n");
	expect_nothing(a, 200);
	raw_close(a);
	raw_close(c);
}
END_TEST

START_TEST(test_stream_import_prefix_and_to)
{
	struct raw_conn *a = login("a");
	struct raw_conn *b = login("b");

	raw_send_str(b, "SUB fromA.> 1\r\nSUB ex 2\r\nSUB events.> 3\r\nSUB fromA.events.x 4\r\n"
		     "PING\r\n");
	EXPECT(b, "PONG\r\n");
	raw_send_str(a, "PUB events.x 2\r\nhi\r\nPING\r\n");
	EXPECT(a, "PONG\r\n");
	/* Order between the subscriptions is not specified: check both. */
	skip_server_pings(b);
	ck_assert(raw_wait_for(b, "MSG ex 2 2\r\nhi\r\n", WAIT_MS));
	ck_assert(raw_contains(b, "MSG fromA.events.x 1 2\r\nhi\r\n"));
	ck_assert(raw_wait_for(b, "MSG fromA.events.x 4 2\r\nhi\r\n", WAIT_MS));
	ck_assert_msg(!raw_contains(b, "MSG events"), "unprefixed copy: %s", raw_escaped(b));
	raw_consume(b, b->len);
	/* The reply subject passes through unchanged; unexported subjects do
	 * not cross. */
	raw_send_str(a, "PUB events.y.z r 2\r\nho\r\nPUB other 1\r\nx\r\nPING\r\n");
	EXPECT(a, "PONG\r\n");
	EXPECT(b, "MSG fromA.events.y.z 1 r 2\r\nho\r\n");
	expect_nothing(b, 200);
	raw_close(a);
	raw_close(b);
}
END_TEST

/* Reads an HMSG for sid 10/11 from the responder and returns its reply. */
static void take_request(struct raw_conn *a, const char *subject_sid, char *reply, size_t cap,
			 char *hdr, size_t hcap)
{
	char line[512];
	int hlen = 0, tlen = 0;

	skip_server_pings(a);
	ck_assert_msg(raw_take_line(a, line, sizeof(line), WAIT_MS), "no request: %s",
		      raw_escaped(a));
	ck_assert_msg(strncmp(line, subject_sid, strlen(subject_sid)) == 0, "got [%s]", line);
	ck_assert_msg(sscanf(line + strlen(subject_sid), " %255s %d %d", reply, &hlen, &tlen) == 3,
		      "bad HMSG line [%s]", line);
	ck_assert(cap > 0);
	ck_assert_msg(strncmp(reply, "_R_.", 4) == 0 && strlen(reply) == 17,
		      "reply not mapped: %s", reply);
	ck_assert(raw_wait_len(a, (size_t)tlen + 2, WAIT_MS));
	ck_assert((size_t)hlen < hcap);
	memcpy(hdr, a->buf, (size_t)hlen);
	hdr[hlen] = '\0';
	raw_consume(a, (size_t)tlen + 2);
}

#define INFO_HDR_B "NATS/1.0\r\nNats-Request-Info: {\"acc\":\"B\","

START_TEST(test_service_import_plain_inbox)
{
	struct raw_conn *a = login("a");
	struct raw_conn *b = login("b");
	char reply[256], hdr[512], cmd[2048];

	raw_send_str(a, "SUB svc.* 10\r\nPING\r\n");
	EXPECT(a, "PONG\r\n");
	raw_send_str(b, "SUB _INBOX.plain 20\r\nPUB a.svc.foo _INBOX.plain 3\r\nreq\r\nPING\r\n");
	EXPECT(b, "PONG\r\n");
	take_request(a, "HMSG svc.foo 10", reply, sizeof(reply), hdr, sizeof(hdr));
	ck_assert_msg(strncmp(hdr, INFO_HDR_B, strlen(INFO_HDR_B)) == 0,
		      "request header: %s", hdr);
	/* response_type stream: every response goes through. */
	snprintf(cmd, sizeof(cmd), "PUB %s 4\r\nrep1\r\nPUB %s 4\r\nrep2\r\nPING\r\n", reply,
		 reply);
	raw_send_str(a, cmd);
	EXPECT(a, "PONG\r\n");
	EXPECT(b, "MSG _INBOX.plain 20 4\r\nrep1\r\nMSG _INBOX.plain 20 4\r\nrep2\r\n");
	raw_close(a);
	raw_close(b);
}
END_TEST

/* A singleton export lets one response through; the responder's extra
 * ones are dropped.  Shared wildcard inbox, as nats.c and nats.js use. */
START_TEST(test_service_import_singleton_shared_inbox)
{
	struct raw_conn *a = login("a");
	struct raw_conn *b = login("b");
	char reply[256], hdr[512], cmd[2048];

	raw_send_str(a, "SUB single 11\r\nPING\r\n");
	EXPECT(a, "PONG\r\n");
	raw_send_str(b, "SUB _INBOX.mux.* 20\r\n"
		     "PUB single _INBOX.mux.1 2\r\nr1\r\nPUB single _INBOX.mux.2 2\r\nr2\r\nPING\r\n");
	EXPECT(b, "PONG\r\n");
	char reply2[256];

	take_request(a, "HMSG single 11", reply, sizeof(reply), hdr, sizeof(hdr));
	take_request(a, "HMSG single 11", reply2, sizeof(reply2), hdr, sizeof(hdr));
	/* Each request is answered twice, the second one first. */
	snprintf(cmd, sizeof(cmd), "PUB %s 5\r\nfirst\r\nPUB %s 6\r\nsecond\r\n"
		 "PUB %s 5\r\nfirst\r\nPUB %s 6\r\nsecond\r\nPING\r\n",
		 reply2, reply2, reply, reply);
	raw_send_str(a, cmd);
	EXPECT(a, "PONG\r\n");
	EXPECT(b, "MSG _INBOX.mux.2 20 5\r\nfirst\r\nMSG _INBOX.mux.1 20 5\r\nfirst\r\n");
	expect_nothing(b, 200);
	raw_close(a);
	raw_close(b);
}
END_TEST

/* A request no one in the exporting account listens to: the import took
 * it, so no no-responders status comes back (as in the reference), while a
 * subject nobody imports gets one. */
START_TEST(test_service_import_without_responder)
{
	struct raw_conn *b = login("b");

	raw_send_str(b, "SUB _INBOX.q.* 20\r\nPUB quiet _INBOX.q.1 1\r\nx\r\n"
		     "PUB nothing _INBOX.q.2 1\r\ny\r\nPING\r\n");
	EXPECT(b, "HMSG _INBOX.q.2 20 16 16\r\nNATS/1.0 503\r\n\r\n\r\nPONG\r\n");
	expect_nothing(b, 200);
	raw_close(b);
}
END_TEST

/* An account without the import reaches nothing in the exporter. */
START_TEST(test_service_not_imported)
{
	struct raw_conn *a = login("a");
	struct raw_conn *c = login("c");

	raw_send_str(a, "SUB svc.* 10\r\nSUB single 11\r\nPING\r\n");
	EXPECT(a, "PONG\r\n");
	raw_send_str(c, "PUB single _INBOX.c 1\r\nx\r\nPUB svc.x _INBOX.c 1\r\nx\r\n"
		     "PUB a.svc.x _INBOX.c 1\r\nx\r\nPING\r\n");
	EXPECT(c, "PONG\r\n");
	expect_nothing(a, 200);
	raw_close(a);
	raw_close(c);
}
END_TEST

/* nats.c requests through the import with its default (shared wildcard)
 * inbox; the responder is a nats.c async subscriber in the exporter. */
static void respond(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	char out[256];

	(void)sub;
	(void)closure;
	snprintf(out, sizeof(out), "re:%.*s", natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
	natsConnection_PublishString(nc, natsMsg_GetReply(msg), out);
	natsMsg_Destroy(msg);
}

static natsConnection *nats_login(const char *user)
{
	natsOptions *opts = harness_nats_options(&srv);
	natsConnection *nc = NULL;
	natsStatus s;

	ck_assert_int_eq(natsOptions_SetUserInfo(opts, user, user), NATS_OK);
	s = harness_nats_try_connect(&srv, opts, &nc);
	ck_assert_msg(s == NATS_OK, "connect %s: %s", user, natsStatus_GetText(s));
	natsOptions_Destroy(opts);
	return nc;
}

START_TEST(test_service_import_nats_c_requests)
{
	natsConnection *na = nats_login("a");
	natsConnection *nb = nats_login("b");
	natsSubscription *sub = NULL;
	char data[32], want[64];

	ck_assert_int_eq(natsConnection_Subscribe(&sub, na, "svc.*", respond, NULL), NATS_OK);
	ck_assert_int_eq(natsConnection_FlushTimeout(na, WAIT_MS), NATS_OK);
	for (int i = 0; i < 50; i++) {
		natsMsg *reply = NULL;
		natsStatus s;

		snprintf(data, sizeof(data), "n%d", i);
		s = natsConnection_RequestString(&reply, nb, "a.svc.op", data, WAIT_MS);
		ck_assert_msg(s == NATS_OK, "request %d: %s", i, natsStatus_GetText(s));
		snprintf(want, sizeof(want), "re:%s", data);
		ck_assert_int_eq(natsMsg_GetDataLength(reply), (int)strlen(want));
		ck_assert(memcmp(natsMsg_GetData(reply), want, strlen(want)) == 0);
		natsMsg_Destroy(reply);
	}
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(na);
	natsConnection_Destroy(nb);
}
END_TEST

START_TEST(test_mappings)
{
	struct harness_server s2;
	struct raw_conn *m;
	int wa = 0, wb = 0, w = 0;

	harness_server_start(&s2,
		"mappings: { \"top\": \"top.mapped\" }\n"
		"accounts {\n"
		"  M: {\n"
		"    users: [ {user: m, password: m} ]\n"
		"    mappings: {\n"
		"      \"orders.*\": \"orders.new.{{wildcard(1)}}\"\n"
		"      \"old.>\": \"new.>\"\n"
		"      \"swap.*.*\": \"swap.$2.$1\"\n"
		"      \"p.*.*\": \"p.$2.$1.{{partition(3,1,2)}}\"\n"
		"      \"w\": [ {destination: \"w.a\", weight: 30%}, {destination: \"w.b\", weight: 30%} ]\n"
		"    }\n"
		"  }\n"
		"  G: { users: [ {user: g, password: g} ] }\n"
		"}\n", NULL);
	m = login_on(&s2, "m", false);
	raw_send_str(m, "SUB > 1\r\nPUB orders.5 1\r\nx\r\nPUB old.a.b 1\r\nx\r\n"
		     "PUB swap.x.y 1\r\nx\r\nPUB p.ab.cd 1\r\nx\r\nPUB top 1\r\nx\r\nPING\r\n");
	EXPECT(m, "MSG orders.new.5 1 1\r\nx\r\nMSG new.a.b 1 1\r\nx\r\nMSG swap.y.x 1 1\r\nx\r\n"
	       "MSG p.cd.ab.1 1 1\r\nx\r\nMSG top 1 1\r\nx\r\nPONG\r\n");
	for (int i = 0; i < 300; i++)
		raw_send_str(m, "PUB w 1\r\nx\r\n");
	raw_send_str(m, "PING\r\n");
	skip_server_pings(m);
	ck_assert(raw_wait_for(m, "PONG\r\n", 5000));
	for (char *p = m->buf; (p = strstr(p, "MSG w")) != NULL; p++) {
		if (strncmp(p, "MSG w.a ", 8) == 0)
			wa++;
		else if (strncmp(p, "MSG w.b ", 8) == 0)
			wb++;
		else if (strncmp(p, "MSG w 1", 7) == 0)
			w++;
	}
	/* 30 %, 30 % and the unmapped rest (40 %). */
	ck_assert_int_eq(wa + wb + w, 300);
	ck_assert_msg(wa > 45 && wb > 45 && w > 75, "split %d/%d/%d", wa, wb, w);
	raw_close(m);
	harness_server_stop(&s2);
}
END_TEST

/* Top-level mappings are the global account's. */
START_TEST(test_global_mappings)
{
	struct harness_server s2;
	struct raw_conn *rc;

	harness_server_start(&s2, "mappings: { \"top.*\": \"top.mapped.$1\" }\n", NULL);
	rc = raw_connect_ready(&s2, "{\"verbose\":false,\"pedantic\":false}");
	raw_send_str(rc, "SUB > 1\r\nPUB top.x 1\r\nx\r\nPING\r\n");
	EXPECT(rc, "MSG top.mapped.x 1 1\r\nx\r\nPONG\r\n");
	raw_close(rc);
	harness_server_stop(&s2);
}
END_TEST

START_TEST(test_account_limits)
{
	struct harness_server s2;
	struct raw_conn *l1, *l2;
	char line[4096];

	harness_server_start(&s2,
		"accounts {\n"
		"  L: {\n"
		"    users: [ {user: l, password: l} ]\n"
		"    limits: {max_connections: 1, max_subscriptions: 2, max_payload: 10}\n"
		"  }\n"
		"}\n", NULL);
	l1 = login_on(&s2, "l", false);
	l2 = raw_connect(&s2);
	ck_assert(raw_take_line(l2, line, sizeof(line), WAIT_MS));
	raw_send_str(l2, "CONNECT {\"verbose\":false,\"user\":\"l\",\"pass\":\"l\"}\r\nPING\r\n");
	raw_expect(l2, "-ERR 'maximum account active connections exceeded'\r\n", WAIT_MS);
	ck_assert(raw_wait_closed(l2, WAIT_MS));
	raw_close(l2);
	raw_send_str(l1, "SUB x 1\r\nSUB y 2\r\nSUB z 3\r\nPING\r\n");
	EXPECT(l1, "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n");
	raw_send_str(l1, "PUB x 10\r\n0123456789\r\nPING\r\n");
	EXPECT(l1, "MSG x 1 10\r\n0123456789\r\nPONG\r\n");
	raw_send_str(l1, "PUB x 11\r\n");
	EXPECT(l1, "-ERR 'Maximum Payload Violation'\r\n");
	ck_assert(raw_wait_closed(l1, WAIT_MS));
	raw_close(l1);
	/* The closed connection freed its slot. */
	l1 = login_on(&s2, "l", false);
	raw_close(l1);
	harness_server_stop(&s2);
}
END_TEST

/* The accounts of the docs' leaf-domains walkthrough (second half, with
 * imports) load unchanged, and a request crosses its service import. */
static const char walkthrough_conf[] =
	"accounts {\n"
	"    SYS: {\n"
	"        users: [{user: admin, password: admin}]\n"
	"    },\n"
	"    ACC: {\n"
	"        users: [{user: acc, password: acc}],\n"
	"        jetstream: enabled\n"
	"        exports: [\n"
	"            {service: \"$JS.hub.API.CONSUMER.CREATE.*\", response_type: \"stream\"}\n"
	"            {stream: \"deliver.acc.hub.>\"}\n"
	"            {service: \"$JS.hub.API.CONSUMER.MSG.NEXT.aggregate-test-leaf.dur\", "
	"response_type: \"stream\"}\n"
	"            {service: \"$JS.ACK.aggregate-test-leaf.dur.>\"}\n"
	"            {service: \"$JS.FC.aggregate-test-leaf.dur.>\"}\n"
	"        ]\n"
	"    }\n"
	"    IMPORT_MIRROR: {\n"
	"        users: [{user: import_mirror, password: import_mirror}],\n"
	"        jetstream: enabled\n"
	"        imports: [\n"
	"            {service: {account: ACC, subject: \"$JS.hub.API.CONSUMER.CREATE.*\"}, "
	"to: \"JS.acc@hub.API.CONSUMER.CREATE.*\" }\n"
	"            {service: {account: ACC, subject: \"$JS.FC.aggregate-test-leaf.dur.>\"}}\n"
	"            {stream: {account: ACC, subject: deliver.acc.hub.import_mirror.>}}\n"
	"        ]\n"
	"    }\n"
	"    IMPORT_CLIENT: {\n"
	"        users: [{user: import_client, password: import_client}],\n"
	"        jetstream: enabled\n"
	"        imports: [\n"
	"            {service: {account: ACC, subject: "
	"\"$JS.hub.API.CONSUMER.MSG.NEXT.aggregate-test-leaf.dur\"}, "
	"to: \"JS.acc@hub.API.CONSUMER.MSG.NEXT.aggregate-test-leaf.dur\" }\n"
	"            {service: {account: ACC, subject: \"$JS.ACK.aggregate-test-leaf.dur.>\"}}\n"
	"        ]\n"
	"    }\n"
	"}\n"
	"system_account: SYS\n";

START_TEST(test_walkthrough_accounts_load)
{
	struct harness_server s2;
	struct raw_conn *acc, *mir, *cli;
	char reply[256], hdr[512], cmd[2048];

	harness_server_start(&s2, walkthrough_conf, NULL);
	acc = login_on(&s2, "acc", true);
	mir = login_on(&s2, "import_mirror", true);
	cli = login_on(&s2, "import_client", true);
	raw_send_str(acc, "SUB $JS.hub.API.CONSUMER.CREATE.* 10\r\nSUB $JS.ACK.> 11\r\nPING\r\n");
	EXPECT(acc, "PONG\r\n");
	raw_send_str(mir, "SUB deliver.acc.hub.import_mirror.> 1\r\nSUB _INBOX.m.* 2\r\n"
		     "PUB JS.acc@hub.API.CONSUMER.CREATE.s _INBOX.m.1 2\r\n{}\r\nPING\r\n");
	EXPECT(mir, "PONG\r\n");
	take_request(acc, "HMSG $JS.hub.API.CONSUMER.CREATE.s 10", reply, sizeof(reply), hdr,
		     sizeof(hdr));
	snprintf(cmd, sizeof(cmd), "PUB %s 2\r\nok\r\n"
		 "PUB deliver.acc.hub.import_mirror.x 1\r\nd\r\nPING\r\n", reply);
	raw_send_str(acc, cmd);
	EXPECT(acc, "PONG\r\n");
	EXPECT(mir, "MSG _INBOX.m.1 2 2\r\nok\r\nMSG deliver.acc.hub.import_mirror.x 1 1\r\nd\r\n");
	/* An ack subject imported with its wildcard keeps its subject and its
	 * $JS.ACK reply is not mapped. */
	raw_send_str(cli, "PUB $JS.ACK.aggregate-test-leaf.dur.1.2 0\r\n\r\nPING\r\n");
	EXPECT(cli, "PONG\r\n");
	skip_server_pings(acc);
	ck_assert(raw_wait_for(acc, "$JS.ACK.aggregate-test-leaf.dur.1.2 11 ", WAIT_MS));
	raw_close(acc);
	raw_close(mir);
	raw_close(cli);
	harness_server_stop(&s2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("accounts");
	TCase *tc = tcase_create("accounts");

	tcase_add_checked_fixture(tc, setup_server, teardown_server);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_isolation);
	tcase_add_test(tc, test_stream_import_prefix_and_to);
	tcase_add_test(tc, test_service_import_plain_inbox);
	tcase_add_test(tc, test_service_import_singleton_shared_inbox);
	tcase_add_test(tc, test_service_import_without_responder);
	tcase_add_test(tc, test_service_not_imported);
	tcase_add_test(tc, test_service_import_nats_c_requests);
	tcase_add_test(tc, test_mappings);
	tcase_add_test(tc, test_global_mappings);
	tcase_add_test(tc, test_account_limits);
	tcase_add_test(tc, test_walkthrough_accounts_load);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
