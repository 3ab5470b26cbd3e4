/*
 * test_core.c - core NATS behaviour seen through the real nats.c client.
 *
 * Each test starts its own server ($NATS_TEST_SERVER, default the reference
 * nats-server), so tests are independent and run in forked processes.  The
 * expectations were checked against nats-server 2.9.10; a test that fails
 * against it is a wrong test.
 *
 * Ordering used throughout: after the publisher's Flush returns, the server
 * has processed its messages and queued them to every subscriber; a Flush on
 * the subscriber's connection then returns only after those messages were
 * read, so QueuedMsgs on a sync subscription is exact.
 */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MSG_WAIT_MS 2000

static struct harness_server srv;

static void setup_server(void)
{
	harness_server_start(&srv, NULL, NULL);
}

static void teardown_server(void)
{
	harness_server_stop(&srv);
}

static void flush_ok(natsConnection *nc)
{
	natsStatus s = natsConnection_FlushTimeout(nc, 5000);

	ck_assert_msg(s == NATS_OK, "flush: %s", natsStatus_GetText(s));
}

static natsSubscription *sub_sync(natsConnection *nc, const char *subject)
{
	natsSubscription *sub = NULL;
	natsStatus s = natsConnection_SubscribeSync(&sub, nc, subject);

	ck_assert_msg(s == NATS_OK, "subscribe %s: %s", subject, natsStatus_GetText(s));
	return sub;
}

static uint64_t queued(natsSubscription *sub)
{
	uint64_t n = 0;

	ck_assert_int_eq(natsSubscription_QueuedMsgs(sub, &n), NATS_OK);
	return n;
}

/* Take and free every queued message; returns how many there were. */
static int drain_queued(natsSubscription *sub)
{
	uint64_t n = queued(sub);

	for (uint64_t i = 0; i < n; i++) {
		natsMsg *msg = NULL;

		ck_assert_int_eq(natsSubscription_NextMsg(&msg, sub, MSG_WAIT_MS), NATS_OK);
		natsMsg_Destroy(msg);
	}
	return (int)n;
}

static void publish_str(natsConnection *nc, const char *subject, const char *data)
{
	natsStatus s = natsConnection_PublishString(nc, subject, data);

	ck_assert_msg(s == NATS_OK, "publish %s: %s", subject, natsStatus_GetText(s));
}

START_TEST(test_pub_sub)
{
	natsConnection *nc = harness_nats_connect(&srv);
	natsSubscription *sub = sub_sync(nc, "foo");
	natsMsg *msg = NULL;

	publish_str(nc, "foo", "hello");
	ck_assert_int_eq(natsSubscription_NextMsg(&msg, sub, MSG_WAIT_MS), NATS_OK);
	ck_assert_str_eq(natsMsg_GetSubject(msg), "foo");
	ck_assert_int_eq(natsMsg_GetDataLength(msg), 5);
	ck_assert_mem_eq(natsMsg_GetData(msg), "hello", 5);
	ck_assert_ptr_null(natsMsg_GetReply(msg));
	natsMsg_Destroy(msg);

	/* Nothing else arrives, and other subjects do not leak in. */
	publish_str(nc, "foo.bar", "x");
	publish_str(nc, "fo", "x");
	flush_ok(nc);
	ck_assert_uint_eq(queued(sub), 0);

	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
}
END_TEST

START_TEST(test_empty_and_binary_payload)
{
	natsConnection *nc = harness_nats_connect(&srv);
	natsSubscription *sub = sub_sync(nc, "bin");
	const char bin[] = { 'a', '\0', '\r', '\n', 'b', '\r', '\n' };
	natsMsg *msg = NULL;

	ck_assert_int_eq(natsConnection_Publish(nc, "bin", NULL, 0), NATS_OK);
	ck_assert_int_eq(natsConnection_Publish(nc, "bin", bin, sizeof(bin)), NATS_OK);
	ck_assert_int_eq(natsSubscription_NextMsg(&msg, sub, MSG_WAIT_MS), NATS_OK);
	ck_assert_int_eq(natsMsg_GetDataLength(msg), 0);
	natsMsg_Destroy(msg);
	ck_assert_int_eq(natsSubscription_NextMsg(&msg, sub, MSG_WAIT_MS), NATS_OK);
	ck_assert_int_eq(natsMsg_GetDataLength(msg), (int)sizeof(bin));
	ck_assert_mem_eq(natsMsg_GetData(msg), bin, sizeof(bin));
	natsMsg_Destroy(msg);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
}
END_TEST

/* Subscriptions of the matching table (client-protocol.md section 10, extended). */
static const char *const wildcard_subs[] = {
	"a.*", "a.>", ">", "*", "a.b", "*.b", "a.*.c", "b.>", "a.b*",
};
#define N_WILDCARD_SUBS (sizeof(wildcard_subs) / sizeof(wildcard_subs[0]))

static const struct {
	const char *subject;
	const char *receivers;	/* indexes into wildcard_subs that get the message */
} wildcard_cases[] = {
	{ "a.b", "01245" },
	{ "a", "23" },		/* a.> does not match a */
	{ "a.b.c", "126" },
	{ "b", "23" },
	{ "b.c", "27" },
	{ "a.c.c", "126" },
	{ "x.b", "25" },
	{ "a.b*", "0128" },	/* b* is a literal token */
	{ "b.x.y", "27" },
	{ "c.d.e.f", "2" },
};

START_TEST(test_wildcards)
{
	natsConnection *nc = harness_nats_connect(&srv);
	natsSubscription *subs[N_WILDCARD_SUBS];

	for (size_t i = 0; i < N_WILDCARD_SUBS; i++)
		subs[i] = sub_sync(nc, wildcard_subs[i]);
	for (size_t c = 0; c < sizeof(wildcard_cases) / sizeof(wildcard_cases[0]); c++) {
		publish_str(nc, wildcard_cases[c].subject, "m");
		flush_ok(nc);
		for (size_t i = 0; i < N_WILDCARD_SUBS; i++) {
			bool want = strchr(wildcard_cases[c].receivers, (int)('0' + i)) != NULL;
			uint64_t got = queued(subs[i]);

			ck_assert_msg(got == (want ? 1u : 0u),
				      "PUB %s: sub %s got %llu, want %d",
				      wildcard_cases[c].subject, wildcard_subs[i],
				      (unsigned long long)got, want);
			drain_queued(subs[i]);
		}
	}
	for (size_t i = 0; i < N_WILDCARD_SUBS; i++)
		natsSubscription_Destroy(subs[i]);
	natsConnection_Destroy(nc);
}
END_TEST

START_TEST(test_queue_groups)
{
	enum { N = 200 };
	natsConnection *pub = harness_nats_connect(&srv);
	natsConnection *m1c = harness_nats_connect(&srv);
	natsConnection *m2c = harness_nats_connect(&srv);
	natsSubscription *m1 = NULL, *m2 = NULL, *plain;
	natsSubscription *other_group = NULL;
	int n1, n2, np, no;

	ck_assert_int_eq(natsConnection_QueueSubscribeSync(&m1, m1c, "work", "q"), NATS_OK);
	ck_assert_int_eq(natsConnection_QueueSubscribeSync(&m2, m2c, "work", "q"), NATS_OK);
	ck_assert_int_eq(natsConnection_QueueSubscribeSync(&other_group, m2c, "work", "r"),
			 NATS_OK);
	plain = sub_sync(m1c, "work");
	flush_ok(m1c);
	flush_ok(m2c);
	for (int i = 0; i < N; i++)
		publish_str(pub, "work", "job");
	flush_ok(pub);
	flush_ok(m1c);
	flush_ok(m2c);
	n1 = drain_queued(m1);
	n2 = drain_queued(m2);
	np = drain_queued(plain);
	no = drain_queued(other_group);
	ck_assert_int_eq(np, N);
	ck_assert_int_eq(no, N);	/* a second group gets its own copy of each */
	ck_assert_int_eq(n1 + n2, N);
	ck_assert_msg(n1 > 0 && n2 > 0, "queue members got %d and %d of %d", n1, n2, N);

	natsSubscription_Destroy(m1);
	natsSubscription_Destroy(m2);
	natsSubscription_Destroy(other_group);
	natsSubscription_Destroy(plain);
	natsConnection_Destroy(pub);
	natsConnection_Destroy(m1c);
	natsConnection_Destroy(m2c);
}
END_TEST

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	char reply[256];

	(void)sub;
	(void)closure;
	snprintf(reply, sizeof(reply), "re:%.*s", natsMsg_GetDataLength(msg),
		 natsMsg_GetData(msg));
	if (natsMsg_GetReply(msg) != NULL)
		natsConnection_PublishString(nc, natsMsg_GetReply(msg), reply);
	natsMsg_Destroy(msg);
}

START_TEST(test_request_reply)
{
	natsConnection *responder = harness_nats_connect(&srv);
	natsConnection *requester = harness_nats_connect(&srv);
	natsSubscription *sub = NULL;

	ck_assert_int_eq(natsConnection_Subscribe(&sub, responder, "svc.echo", on_request, NULL),
			 NATS_OK);
	flush_ok(responder);
	for (int i = 0; i < 20; i++) {
		char body[32], want[40];
		natsMsg *reply = NULL;
		natsStatus s;

		snprintf(body, sizeof(body), "q%d", i);
		snprintf(want, sizeof(want), "re:q%d", i);
		s = natsConnection_RequestString(&reply, requester, "svc.echo", body, 2000);
		ck_assert_msg(s == NATS_OK, "request %d: %s", i, natsStatus_GetText(s));
		ck_assert_int_eq(natsMsg_GetDataLength(reply), (int)strlen(want));
		ck_assert_mem_eq(natsMsg_GetData(reply), want, strlen(want));
		natsMsg_Destroy(reply);
	}
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(requester);
	natsConnection_Destroy(responder);
}
END_TEST

START_TEST(test_headers)
{
	natsConnection *nc = harness_nats_connect(&srv);
	natsSubscription *sub = sub_sync(nc, "hdr");
	natsMsg *out = NULL, *in = NULL;
	const char *value = NULL;
	const char **values = NULL;
	int count = 0;

	ck_assert_int_eq(natsMsg_Create(&out, "hdr", "reply.to", "body", 4), NATS_OK);
	ck_assert_int_eq(natsMsgHeader_Set(out, "X-Key", "v1"), NATS_OK);
	ck_assert_int_eq(natsMsgHeader_Set(out, "Other", "some value: with colon"), NATS_OK);
	ck_assert_int_eq(natsMsgHeader_Add(out, "Multi", "one"), NATS_OK);
	ck_assert_int_eq(natsMsgHeader_Add(out, "Multi", "two"), NATS_OK);
	ck_assert_int_eq(natsConnection_PublishMsg(nc, out), NATS_OK);

	ck_assert_int_eq(natsSubscription_NextMsg(&in, sub, MSG_WAIT_MS), NATS_OK);
	ck_assert_str_eq(natsMsg_GetSubject(in), "hdr");
	ck_assert_str_eq(natsMsg_GetReply(in), "reply.to");
	ck_assert_int_eq(natsMsg_GetDataLength(in), 4);
	ck_assert_mem_eq(natsMsg_GetData(in), "body", 4);
	ck_assert_int_eq(natsMsgHeader_Get(in, "X-Key", &value), NATS_OK);
	ck_assert_str_eq(value, "v1");
	ck_assert_int_eq(natsMsgHeader_Get(in, "Other", &value), NATS_OK);
	ck_assert_str_eq(value, "some value: with colon");
	ck_assert_int_eq(natsMsgHeader_Values(in, "Multi", &values, &count), NATS_OK);
	ck_assert_int_eq(count, 2);
	ck_assert_str_eq(values[0], "one");
	ck_assert_str_eq(values[1], "two");
	free((void *)values);
	ck_assert_int_eq(natsMsgHeader_Get(in, "Absent", &value), NATS_NOT_FOUND);

	natsMsg_Destroy(out);
	natsMsg_Destroy(in);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
}
END_TEST

START_TEST(test_no_responders)
{
	natsConnection *nc = harness_nats_connect(&srv);
	natsMsg *reply = NULL;
	long long start = harness_now_ms();
	natsStatus s = natsConnection_RequestString(&reply, nc, "nobody.home", "x", 5000);
	long long took = harness_now_ms() - start;

	ck_assert_msg(s == NATS_NO_RESPONDERS, "request without responder: %s",
		      natsStatus_GetText(s));
	ck_assert_ptr_null(reply);
	/* The server answers at once; a timeout would take the full 5 s. */
	ck_assert_msg(took < 1000, "no-responders answer took %lld ms", took);
	natsConnection_Destroy(nc);
}
END_TEST

START_TEST(test_auto_unsubscribe)
{
	natsConnection *nc = harness_nats_connect(&srv);
	natsConnection *pub = harness_nats_connect(&srv);
	natsSubscription *sub = sub_sync(nc, "au");
	natsSubscription *watcher = sub_sync(nc, "au");
	natsMsg *msg = NULL;
	int got = 0;

	ck_assert_int_eq(natsSubscription_AutoUnsubscribe(sub, 3), NATS_OK);
	flush_ok(nc);
	for (int i = 0; i < 10; i++)
		publish_str(pub, "au", "m");
	flush_ok(pub);
	flush_ok(nc);
	while (natsSubscription_NextMsg(&msg, sub, 200) == NATS_OK) {
		natsMsg_Destroy(msg);
		got++;
	}
	ck_assert_int_eq(got, 3);
	ck_assert_int_eq(drain_queued(watcher), 10);
	ck_assert(!natsSubscription_IsValid(sub));

	natsSubscription_Destroy(sub);
	natsSubscription_Destroy(watcher);
	natsConnection_Destroy(pub);
	natsConnection_Destroy(nc);
}
END_TEST

START_TEST(test_no_echo)
{
	natsOptions *opts = harness_nats_options(&srv);
	natsConnection *quiet = NULL;
	natsConnection *other = harness_nats_connect(&srv);
	natsSubscription *quiet_sub, *other_sub;

	ck_assert_int_eq(natsOptions_SetNoEcho(opts, true), NATS_OK);
	ck_assert_int_eq(harness_nats_try_connect(&srv, opts, &quiet), NATS_OK);
	natsOptions_Destroy(opts);
	quiet_sub = sub_sync(quiet, "echo");
	other_sub = sub_sync(other, "echo");
	flush_ok(quiet);
	flush_ok(other);

	publish_str(quiet, "echo", "from quiet");
	flush_ok(quiet);
	flush_ok(other);
	ck_assert_uint_eq(queued(quiet_sub), 0);	/* own message not echoed */
	ck_assert_int_eq(drain_queued(other_sub), 1);

	publish_str(other, "echo", "from other");
	flush_ok(other);
	flush_ok(quiet);
	ck_assert_int_eq(drain_queued(quiet_sub), 1);	/* others' messages still arrive */
	ck_assert_int_eq(drain_queued(other_sub), 1);	/* echo is on for this one */

	natsSubscription_Destroy(quiet_sub);
	natsSubscription_Destroy(other_sub);
	natsConnection_Destroy(quiet);
	natsConnection_Destroy(other);
}
END_TEST

/*
 * nats.c learns max_payload from INFO and refuses a bigger publish itself with
 * NATS_MAX_PAYLOAD (nothing is sent, the connection stays up).
 */
START_TEST(test_max_payload)
{
	struct harness_server small;
	natsConnection *nc;
	natsSubscription *sub;
	char big[2000];
	natsStatus s;
	natsMsg *msg = NULL;

	harness_server_start(&small, "max_payload: 1024\n", NULL);
	nc = harness_nats_connect(&small);
	sub = sub_sync(nc, "big");
	memset(big, 'z', sizeof(big));
	ck_assert_int_eq(natsConnection_GetMaxPayload(nc), 1024);

	s = natsConnection_Publish(nc, "big", big, sizeof(big));
	ck_assert_msg(s == NATS_MAX_PAYLOAD, "oversized publish: %s", natsStatus_GetText(s));
	s = natsConnection_Publish(nc, "big", big, 1025);
	ck_assert_msg(s == NATS_MAX_PAYLOAD, "1025-byte publish: %s", natsStatus_GetText(s));

	/* Exactly max_payload is allowed and the connection still works. */
	ck_assert_int_eq(natsConnection_Publish(nc, "big", big, 1024), NATS_OK);
	ck_assert_int_eq(natsSubscription_NextMsg(&msg, sub, MSG_WAIT_MS), NATS_OK);
	ck_assert_int_eq(natsMsg_GetDataLength(msg), 1024);
	natsMsg_Destroy(msg);
	flush_ok(nc);
	ck_assert(!natsConnection_IsClosed(nc));

	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
	harness_server_stop(&small);
}
END_TEST

START_TEST(test_many_clients)
{
	enum { CLIENTS = 50, MSGS = 10 };
	natsConnection *conns[CLIENTS];
	natsSubscription *subs[CLIENTS];
	natsConnection *pub;

	for (int i = 0; i < CLIENTS; i++) {
		conns[i] = harness_nats_connect(&srv);
		subs[i] = sub_sync(conns[i], "fan.out");
		flush_ok(conns[i]);
	}
	pub = harness_nats_connect(&srv);
	for (int m = 0; m < MSGS; m++)
		publish_str(pub, "fan.out", "hi");
	flush_ok(pub);
	for (int i = 0; i < CLIENTS; i++) {
		flush_ok(conns[i]);
		ck_assert_msg(queued(subs[i]) == MSGS, "client %d got %llu of %d", i,
			      (unsigned long long)queued(subs[i]), MSGS);
	}
	for (int i = 0; i < CLIENTS; i++) {
		natsSubscription_Destroy(subs[i]);
		natsConnection_Destroy(conns[i]);
	}
	natsConnection_Destroy(pub);
}
END_TEST

START_TEST(test_flush_roundtrip)
{
	natsConnection *nc = harness_nats_connect(&srv);
	int64_t rtt = -1;
	long long start = harness_now_ms();

	for (int i = 0; i < 200; i++)
		flush_ok(nc);
	/* 200 PING/PONG round trips on loopback: far below a second each. */
	ck_assert_msg(harness_now_ms() - start < 5000, "200 flushes took %lld ms",
		      harness_now_ms() - start);
	ck_assert_int_eq(natsConnection_GetRTT(nc, &rtt), NATS_OK);
	ck_assert(rtt >= 0);
	ck_assert_int_eq(natsConnection_Status(nc), NATS_CONN_STATUS_CONNECTED);
	natsConnection_Destroy(nc);
}
END_TEST

static atomic_int drained_count;

static void on_drain_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
			 void *closure)
{
	(void)nc;
	(void)sub;
	(void)closure;
	harness_sleep_ms(1);	/* slow enough that messages are pending at drain */
	atomic_fetch_add(&drained_count, 1);
	natsMsg_Destroy(msg);
}

START_TEST(test_drain)
{
	enum { N = 100 };
	natsConnection *nc = harness_nats_connect(&srv);
	natsConnection *pub = harness_nats_connect(&srv);
	natsConnection *watcher_nc = harness_nats_connect(&srv);
	natsSubscription *sub = NULL;
	natsSubscription *watcher = sub_sync(watcher_nc, "drain.me");
	long long deadline;

	atomic_store(&drained_count, 0);
	ck_assert_int_eq(natsConnection_Subscribe(&sub, nc, "drain.me", on_drain_msg, NULL),
			 NATS_OK);
	flush_ok(nc);
	flush_ok(watcher_nc);
	for (int i = 0; i < N; i++)
		publish_str(pub, "drain.me", "d");
	flush_ok(pub);
	flush_ok(nc);

	ck_assert_int_eq(natsConnection_Drain(nc), NATS_OK);
	deadline = harness_now_ms() + 10000;
	while (!natsConnection_IsClosed(nc) && harness_now_ms() < deadline)
		harness_sleep_ms(10);
	ck_assert_msg(natsConnection_IsClosed(nc), "drain did not close the connection");
	ck_assert_int_eq(atomic_load(&drained_count), N);

	/* The server dropped the drained interest; others are unaffected. */
	publish_str(pub, "drain.me", "after");
	flush_ok(pub);
	flush_ok(watcher_nc);
	ck_assert_int_eq(drain_queued(watcher), N + 1);
	ck_assert_int_eq(atomic_load(&drained_count), N);

	natsSubscription_Destroy(sub);
	natsSubscription_Destroy(watcher);
	natsConnection_Destroy(nc);
	natsConnection_Destroy(pub);
	natsConnection_Destroy(watcher_nc);
}
END_TEST

START_TEST(test_unsubscribe_stops_delivery)
{
	natsConnection *nc = harness_nats_connect(&srv);
	natsConnection *pub = harness_nats_connect(&srv);
	natsSubscription *sub = sub_sync(nc, "u.x");

	flush_ok(nc);
	publish_str(pub, "u.x", "1");
	flush_ok(pub);
	flush_ok(nc);
	ck_assert_int_eq(drain_queued(sub), 1);
	ck_assert_int_eq(natsSubscription_Unsubscribe(sub), NATS_OK);
	flush_ok(nc);
	/* The publisher sees no interest any more: a request gets no responders. */
	{
		natsMsg *reply = NULL;
		natsStatus s = natsConnection_RequestString(&reply, pub, "u.x", "?", 2000);

		ck_assert_msg(s == NATS_NO_RESPONDERS, "after unsubscribe: %s",
			      natsStatus_GetText(s));
	}
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(pub);
	natsConnection_Destroy(nc);
}
END_TEST

static Suite *core_suite(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("nats.c");

	tcase_add_checked_fixture(tc, setup_server, teardown_server);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pub_sub);
	tcase_add_test(tc, test_empty_and_binary_payload);
	tcase_add_test(tc, test_wildcards);
	tcase_add_test(tc, test_queue_groups);
	tcase_add_test(tc, test_request_reply);
	tcase_add_test(tc, test_headers);
	tcase_add_test(tc, test_no_responders);
	tcase_add_test(tc, test_auto_unsubscribe);
	tcase_add_test(tc, test_no_echo);
	tcase_add_test(tc, test_max_payload);
	tcase_add_test(tc, test_many_clients);
	tcase_add_test(tc, test_flush_roundtrip);
	tcase_add_test(tc, test_drain);
	tcase_add_test(tc, test_unsubscribe_stops_delivery);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run(core_suite());
}
