/*
 * test_permissions.c - publish and subscribe permissions: allow and deny
 * lists with wildcards, queue permissions, the delivery filter for wildcard
 * subscriptions that cover a denied subject, response permissions
 * (allow_responses with max and expires), default permissions of the
 * authorization block and of an account, and how nats.c sees a violation.
 *
 * Every expectation was checked against nats-server 2.9.10 first: the
 * exact -ERR texts, and that the connection stays open after each one.
 * Raw exchanges finish well before the server's first PING (about 2 s after
 * CONNECT); the one test that waits answers server PINGs on the way.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define WAIT_MS 2000

static struct harness_server srv;

static const char perms_conf[] =
	"authorization {\n"
	"  users: [\n"
	"    {user: a, password: a, permissions: {\n"
	"      publish: {allow: [\"foo.>\", \"bar\", \"big.*\"], deny: [\"foo.secret\", \"big.9*\"]}\n"
	"      subscribe: {allow: [\"foo.*\", \"q.> qq\", \"qw.> q*\", \"both\", \"both q1\"],\n"
	"                  deny: [\"foo.deny\"]}\n"
	"    }}\n"
	"    {user: r, password: r, permissions: {subscribe: \">\", allow_responses: {max: 2}}}\n"
	"    {user: t, password: t, permissions: {subscribe: \">\",\n"
	"      allow_responses: {max: 5, expires: \"500ms\"}}}\n"
	"    {user: n, password: n}\n"
	"    {user: all, password: all, permissions: {publish: \">\", subscribe: \">\"}}\n"
	"  ]\n"
	"  default_permissions: {publish: \"def.>\", subscribe: [\"def.>\", \"_INBOX.>\"]}\n"
	"}\n";

static void setup_server(void)
{
	harness_server_start(&srv, perms_conf, NULL);
}

static void teardown_server(void)
{
	harness_server_stop(&srv);
}

static struct raw_conn *login(const char *user)
{
	char json[256];

	snprintf(json, sizeof(json),
		 "{\"verbose\":false,\"pedantic\":false,\"user\":\"%s\",\"pass\":\"%s\"}",
		 user, user);
	return raw_connect_ready(&srv, json);
}

/* Answers server PINGs that arrive before the expected bytes. */
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

#define PUB_ERR(subj) "-ERR 'Permissions Violation for Publish to \"" subj "\"'\r\n"
#define SUB_ERR(subj) "-ERR 'Permissions Violation for Subscription to \"" subj "\"'\r\n"
#define QSUB_ERR(subj, q)						\
	"-ERR 'Permissions Violation for Subscription to \"" subj	\
	"\" using queue \"" q "\"'\r\n"

START_TEST(test_publish_allow_and_deny)
{
	struct raw_conn *a = login("a");
	struct raw_conn *all = login("all");

	raw_send_str(all, "SUB > 1\r\nPING\r\n");
	EXPECT(all, "PONG\r\n");
	raw_send_str(a, "PUB foo.x 1\r\nx\r\nPUB foo.secret 1\r\ny\r\nPUB baz 1\r\nz\r\n"
		     "PUB bar 1\r\nw\r\nPUB foo 1\r\nv\r\nPING\r\n");
	EXPECT(a, PUB_ERR("foo.secret"));
	EXPECT(a, PUB_ERR("baz"));
	EXPECT(a, PUB_ERR("foo"));	/* "foo.>" does not cover "foo" */
	EXPECT(a, "PONG\r\n");
	raw_expect_alive(a);
	/* Only the allowed messages went anywhere. */
	raw_send_str(all, "PING\r\n");
	EXPECT(all, "MSG foo.x 1 1\r\nx\r\nMSG bar 1 1\r\nw\r\nPONG\r\n");
	raw_close(a);
	raw_close(all);
}
END_TEST

/* A reserved reply subject is refused even when the subject is allowed,
 * and a denied subject wins over the reply check. */
START_TEST(test_publish_reserved_reply)
{
	struct raw_conn *a = login("a");

	raw_send_str(a, "PUB foo.x _R_.x 1\r\nx\r\nPUB baz _R_.x 1\r\nx\r\nPING\r\n");
	EXPECT(a, "-ERR 'Permissions Violation for Publish with Reply of \"_R_.x\"'\r\n");
	EXPECT(a, PUB_ERR("baz"));
	EXPECT(a, "PONG\r\n");
	raw_close(a);
}
END_TEST

START_TEST(test_subscribe_allow_deny_and_queues)
{
	struct raw_conn *a = login("a");

	raw_send_str(a, "SUB foo.x 1\r\nSUB foo.deny 2\r\nSUB foo.> 3\r\nSUB foo.* 4\r\n"
		     "SUB foo.x.y 5\r\nSUB q.a 6\r\nSUB q.a qq 7\r\nSUB q.a zz 8\r\n"
		     "SUB qw.a q1 9\r\nSUB foo.x _sys_ 10\r\nSUB both 11\r\n"
		     "SUB both q1 12\r\nSUB both q2 13\r\nSUB foo.x anyq 14\r\nPING\r\n");
	/* "foo.>" passes "foo.*": the requested subject's tokens are matched
	 * literally against the allow list, as the reference does. */
	EXPECT(a, SUB_ERR("foo.deny"));
	EXPECT(a, SUB_ERR("foo.x.y"));
	EXPECT(a, SUB_ERR("q.a"));
	EXPECT(a, QSUB_ERR("q.a", "zz"));
	/* "q*" is not a wildcard queue name, only "*" and ">" tokens are. */
	EXPECT(a, QSUB_ERR("qw.a", "q1"));
	EXPECT(a, QSUB_ERR("foo.x", "_sys_"));
	/* With a queue entry for the subject, only its queue is allowed. */
	EXPECT(a, QSUB_ERR("both", "q2"));
	EXPECT(a, "PONG\r\n");
	raw_expect_alive(a);
	raw_close(a);
}
END_TEST

/* A wildcard subscription covering a denied subject is allowed, but the
 * denied messages are not delivered through it. */
START_TEST(test_deny_filters_wildcard_delivery)
{
	struct raw_conn *a = login("a");
	struct raw_conn *all = login("all");

	raw_send_str(a, "SUB foo.* 1\r\nPING\r\n");
	EXPECT(a, "PONG\r\n");
	raw_send_str(all, "PUB foo.deny 1\r\nd\r\nPUB foo.ok 1\r\nk\r\nPING\r\n");
	EXPECT(all, "PONG\r\n");
	raw_send_str(a, "PING\r\n");
	EXPECT(a, "MSG foo.ok 1 1\r\nk\r\nPONG\r\n");
	raw_close(a);
	raw_close(all);
}
END_TEST

/* Many more distinct subjects than the per-connection decision cache
 * holds, twice: every answer stays right while entries are evicted. */
START_TEST(test_publish_cache_eviction)
{
	struct raw_conn *a = login("a");
	char cmd[128], err[128];

	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 300; i++) {
			snprintf(cmd, sizeof(cmd), "PUB big.%d 1\r\nx\r\nPUB nope.%d 1\r\nx\r\n",
				 i, i);
			raw_send_str(a, cmd);
		}
		raw_send_str(a, "PUB big.9* 1\r\nx\r\nPING\r\n");
		for (int i = 0; i < 300; i++) {
			snprintf(err, sizeof(err),
				 "-ERR 'Permissions Violation for Publish to \"nope.%d\"'\r\n", i);
			EXPECT(a, err);
		}
		/* "9*" is not a wildcard: only the subject "big.9*" is denied. */
		EXPECT(a, PUB_ERR("big.9*"));
		EXPECT(a, "PONG\r\n");
	}
	raw_close(a);
}
END_TEST

START_TEST(test_allow_responses_max)
{
	struct raw_conn *a = login("a");
	struct raw_conn *r = login("r");

	/* Without a publish list, allow_responses allows nothing else. */
	raw_send_str(r, "PUB foo 1\r\nx\r\nSUB bar 1\r\nPING\r\n");
	EXPECT(r, PUB_ERR("foo"));
	EXPECT(r, "PONG\r\n");
	raw_send_str(a, "PUB bar _INBOX.1 2\r\nhi\r\nPING\r\n");
	EXPECT(a, "PONG\r\n");
	EXPECT(r, "MSG bar 1 _INBOX.1 2\r\nhi\r\n");
	raw_send_str(r, "PUB _INBOX.1 1\r\n1\r\nPUB _INBOX.1 1\r\n2\r\nPUB _INBOX.1 1\r\n3\r\n"
		     "PUB _INBOX.2 1\r\n4\r\nPING\r\n");
	EXPECT(r, PUB_ERR("_INBOX.1"));	/* the third response */
	EXPECT(r, PUB_ERR("_INBOX.2"));	/* never received */
	EXPECT(r, "PONG\r\n");
	raw_close(a);
	raw_close(r);
}
END_TEST

START_TEST(test_allow_responses_expire)
{
	struct raw_conn *a = login("a");
	struct raw_conn *t = login("t");

	raw_send_str(t, "SUB bar 1\r\nPING\r\n");
	EXPECT(t, "PONG\r\n");
	raw_send_str(a, "PUB bar _INBOX.9 1\r\nq\r\nPING\r\n");
	EXPECT(a, "PONG\r\n");
	EXPECT(t, "MSG bar 1 _INBOX.9 1\r\nq\r\n");
	raw_send_str(t, "PUB _INBOX.9 1\r\n1\r\nPING\r\n");
	EXPECT(t, "PONG\r\n");
	harness_sleep_ms(800);
	raw_send_str(t, "PUB _INBOX.9 1\r\n2\r\nPING\r\n");
	EXPECT(t, PUB_ERR("_INBOX.9"));
	EXPECT(t, "PONG\r\n");
	raw_close(a);
	raw_close(t);
}
END_TEST

START_TEST(test_default_permissions)
{
	struct raw_conn *n = login("n");

	raw_send_str(n, "PUB def.x 1\r\nx\r\nPUB foo 1\r\nx\r\nSUB x 1\r\nSUB _INBOX.x 2\r\n"
		     "SUB def.* 3\r\nPING\r\n");
	EXPECT(n, PUB_ERR("foo"));
	EXPECT(n, SUB_ERR("x"));
	EXPECT(n, "PONG\r\n");
	raw_close(n);
}
END_TEST

/* An account's default_permissions apply to its users without their own. */
START_TEST(test_account_default_permissions)
{
	struct harness_server s2;
	struct raw_conn *rc;

	harness_server_start(&s2,
		"accounts {\n"
		"  A: {\n"
		"    default_permissions: {publish: {deny: \"no.>\"}, subscribe: {allow: \"yes.>\"}}\n"
		"    users: [{user: u, password: u}\n"
		"            {user: v, password: v, permissions: {publish: \">\"}}]\n"
		"  }\n"
		"}\n", NULL);
	rc = raw_connect_ready(&s2, "{\"verbose\":false,\"user\":\"u\",\"pass\":\"u\"}");
	raw_send_str(rc, "PUB no.1 1\r\nx\r\nPUB ok 1\r\nx\r\nSUB nope 1\r\nSUB yes.1 2\r\nPING\r\n");
	EXPECT(rc, PUB_ERR("no.1"));
	EXPECT(rc, SUB_ERR("nope"));
	EXPECT(rc, "PONG\r\n");
	raw_close(rc);
	/* Own permissions replace the defaults entirely. */
	rc = raw_connect_ready(&s2, "{\"verbose\":false,\"user\":\"v\",\"pass\":\"v\"}");
	raw_send_str(rc, "PUB no.1 1\r\nx\r\nSUB nope 1\r\nPING\r\n");
	EXPECT(rc, "PONG\r\n");
	raw_close(rc);
	harness_server_stop(&s2);
}
END_TEST

/* nats.c reports a violation asynchronously and keeps the connection. */
static char last_err[256];

static void err_handler(natsConnection *nc, natsSubscription *sub, natsStatus err,
			void *closure)
{
	(void)sub;
	(void)err;
	(void)closure;
	const char *text = NULL;

	natsConnection_GetLastError(nc, &text);
	snprintf(last_err, sizeof(last_err), "%s", text ? text : "");
}

START_TEST(test_nats_c_sees_violation)
{
	natsOptions *opts = harness_nats_options(&srv);
	natsConnection *nc = NULL;
	natsSubscription *sub = NULL;
	natsMsg *msg = NULL;
	natsStatus s;

	ck_assert_int_eq(natsOptions_SetUserInfo(opts, "a", "a"), NATS_OK);
	ck_assert_int_eq(natsOptions_SetErrorHandler(opts, err_handler, NULL), NATS_OK);
	s = harness_nats_try_connect(&srv, opts, &nc);
	ck_assert_msg(s == NATS_OK, "connect: %s", natsStatus_GetText(s));
	ck_assert_int_eq(natsConnection_SubscribeSync(&sub, nc, "foo.*"), NATS_OK);
	ck_assert_int_eq(natsConnection_PublishString(nc, "foo.secret", "x"), NATS_OK);
	natsConnection_FlushTimeout(nc, 2000);
	for (int i = 0; i < 100 && strstr(last_err, "Permissions Violation") == NULL; i++)
		harness_sleep_ms(20);
	ck_assert_msg(strstr(last_err, "Permissions Violation for Publish to \"foo.secret\""),
		      "error handler saw [%s]", last_err);
	ck_assert(!natsConnection_IsClosed(nc));
	ck_assert_int_eq(natsConnection_PublishString(nc, "foo.ok", "y"), NATS_OK);
	ck_assert_int_eq(natsSubscription_NextMsg(&msg, sub, WAIT_MS), NATS_OK);
	ck_assert_str_eq(natsMsg_GetSubject(msg), "foo.ok");
	natsMsg_Destroy(msg);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(opts);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("permissions");
	TCase *tc = tcase_create("permissions");

	tcase_add_checked_fixture(tc, setup_server, teardown_server);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_publish_allow_and_deny);
	tcase_add_test(tc, test_publish_reserved_reply);
	tcase_add_test(tc, test_subscribe_allow_deny_and_queues);
	tcase_add_test(tc, test_deny_filters_wildcard_delivery);
	tcase_add_test(tc, test_publish_cache_eviction);
	tcase_add_test(tc, test_allow_responses_max);
	tcase_add_test(tc, test_allow_responses_expire);
	tcase_add_test(tc, test_default_permissions);
	tcase_add_test(tc, test_account_default_permissions);
	tcase_add_test(tc, test_nats_c_sees_violation);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
