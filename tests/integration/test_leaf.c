/*
 * test_leaf.c - leaf node connections between two server processes: a hub
 * (leafnodes { port }) and a leaf (leafnodes { remotes }), with nats.c
 * clients on each side.
 *
 * Every link test runs over three pairs (a loop test, _i is the pair):
 *   0: hub and leaf are both $NATS_TEST_SERVER;
 *   1: the leaf is $NATS_TEST_SERVER, the hub is the reference nats-server;
 *   2: the hub is $NATS_TEST_SERVER, the leaf is the reference nats-server.
 * With NATS_TEST_SERVER=/usr/sbin/nats-server all pairs are reference
 * pairs, which checks the test itself.  The raw-protocol tests speak the
 * leaf protocol to $NATS_TEST_SERVER's leaf port by hand.
 *
 * Interest crosses a link asynchronously, so a test first waits until a
 * probe message makes it across (wait_link) instead of sleeping.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 2000
#define LINK_WAIT_MS 10000
#define NPAIRS 3

static char tested_server[512];  /* $NATS_TEST_SERVER as the test began */
static struct harness_server hub, leaf;
static int hub_leaf_port;

static const char accounts_conf[] =
	"accounts {\n"
	"  SYS: { users: [{user: admin, password: admin}] }\n"
	"  ACC: { users: [{user: acc, password: acc}] }\n"
	"}\n"
	"system_account: SYS\n";

static void use_server(bool reference)
{
	setenv("NATS_TEST_SERVER", reference ? HARNESS_DEFAULT_SERVER
					     : tested_server, 1);
}

static void start_hub(int pair, const char *extra)
{
	char conf[2048];
	snprintf(conf, sizeof(conf), "server_name: hub\nleafnodes { port: %d }\n%s",
		 hub_leaf_port, extra ? extra : "");
	use_server(pair == 1);
	harness_server_start(&hub, conf, NULL);
}

/* Copies tmpl into out with every "%d" replaced by port. */
static void subst_port(char *out, size_t cap, const char *tmpl, int port)
{
	size_t n = 0;
	for (const char *p = tmpl; *p != '\0' && n + 8 < cap; p++) {
		if (p[0] == '%' && p[1] == 'd') {
			n += (size_t)snprintf(out + n, cap - n, "%d", port);
			p++;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
}

/* remotes: the body of the remotes array; %d in it is the hub's leaf
 * port. */
static void start_leaf(int pair, const char *remotes, const char *extra)
{
	char rem[1024], conf[3072];
	subst_port(rem, sizeof(rem), remotes, hub_leaf_port);
	snprintf(conf, sizeof(conf),
		 "server_name: leaf\nleafnodes { remotes = [ %s ] }\n%s", rem,
		 extra ? extra : "");
	use_server(pair == 2);
	harness_server_start(&leaf, conf, NULL);
}

static void start_pair(int pair)
{
	hub_leaf_port = harness_free_port();
	start_hub(pair, NULL);
	start_leaf(pair, "{urls: [\"nats://127.0.0.1:%d\"]}", NULL);
}

static void stop_pair(void)
{
	if (leaf.pid != 0)
		harness_server_stop(&leaf);
	if (hub.pid != 0)
		harness_server_stop(&hub);
}

static natsConnection *connect_as(struct harness_server *s, const char *user)
{
	natsOptions *o = harness_nats_options(s);
	natsConnection *nc = NULL;
	if (user != NULL)
		natsOptions_SetUserInfo(o, user, user);
	natsStatus st = harness_nats_try_connect(s, o, &nc);
	natsOptions_Destroy(o);
	ck_assert_msg(st == NATS_OK, "connect: %s", natsStatus_GetText(st));
	return nc;
}

/* Subscribes subj on sub_nc and publishes on pub_nc until a message
 * crosses (the link is up and the interest arrived). */
static void wait_link(natsConnection *pub_nc, natsConnection *sub_nc,
		      const char *subj)
{
	bool ok = harness_wait_crossing(pub_nc, sub_nc, subj, LINK_WAIT_MS);
	if (!ok) {
		harness_server_dump_log(&hub);
		harness_server_dump_log(&leaf);
	}
	ck_assert_msg(ok, "nothing crossed the leaf link on %s", subj);
}

static void expect_msg(natsSubscription *sub, const char *subj,
		       const char *data)
{
	natsMsg *m = NULL;
	natsStatus st = natsSubscription_NextMsg(&m, sub, WAIT_MS);
	ck_assert_msg(st == NATS_OK, "no message on %s: %s", subj,
		      natsStatus_GetText(st));
	ck_assert_str_eq(natsMsg_GetSubject(m), subj);
	ck_assert_int_eq(natsMsg_GetDataLength(m), (int)strlen(data));
	ck_assert(memcmp(natsMsg_GetData(m), data, strlen(data)) == 0);
	natsMsg_Destroy(m);
}

static void expect_none(natsSubscription *sub, int ms)
{
	natsMsg *m = NULL;
	natsStatus st = natsSubscription_NextMsg(&m, sub, ms);
	if (st == NATS_OK) {
		ck_abort_msg("unexpected message on %s", natsMsg_GetSubject(m));
		natsMsg_Destroy(m);
	}
}

static int pending(natsSubscription *sub)
{
	int n = 0;
	natsSubscription_GetPending(sub, &n, NULL);
	return n;
}

/* Drops what a subscription holds (probes of wait_link). */
static void drain(natsSubscription *sub)
{
	natsMsg *m = NULL;
	harness_sleep_ms(100);
	while (natsSubscription_NextMsg(&m, sub, 10) == NATS_OK)
		natsMsg_Destroy(m);
}

/* --------------------------------------------------------- link tests */

START_TEST(test_pubsub_both_directions)
{
	start_pair(_i);
	natsConnection *h = connect_as(&hub, NULL), *l = connect_as(&leaf, NULL);
	wait_link(h, l, "probe.down");
	wait_link(l, h, "probe.up");

	natsSubscription *ls = NULL, *hs = NULL;
	ck_assert_int_eq(natsConnection_SubscribeSync(&ls, l, "down.>"), NATS_OK);
	ck_assert_int_eq(natsConnection_SubscribeSync(&hs, h, "up.*"), NATS_OK);
	natsConnection_Flush(l);
	natsConnection_Flush(h);
	wait_link(h, l, "down.sync");
	wait_link(l, h, "up.sync");
	drain(ls);
	drain(hs);

	ck_assert_int_eq(natsConnection_PublishString(h, "down.a.b", "one"), NATS_OK);
	ck_assert_int_eq(natsConnection_PublishString(l, "up.x", "two"), NATS_OK);
	/* Headers cross too (HMSG). */
	natsMsg *m = NULL;
	natsMsg_Create(&m, "down.hdr", NULL, "three", 5);
	natsMsgHeader_Set(m, "K", "V");
	ck_assert_int_eq(natsConnection_PublishMsg(h, m), NATS_OK);
	natsMsg_Destroy(m);
	natsConnection_Flush(h);
	natsConnection_Flush(l);
	expect_msg(ls, "down.a.b", "one");
	expect_msg(hs, "up.x", "two");
	m = NULL;
	ck_assert_int_eq(natsSubscription_NextMsg(&m, ls, WAIT_MS), NATS_OK);
	ck_assert_str_eq(natsMsg_GetSubject(m), "down.hdr");
	const char *v = NULL;
	ck_assert_int_eq(natsMsgHeader_Get(m, "K", &v), NATS_OK);
	ck_assert_str_eq(v, "V");
	natsMsg_Destroy(m);
	/* One copy per message even though two leaf subs match. */
	natsSubscription *ls2 = NULL;
	natsConnection_SubscribeSync(&ls2, l, "down.a.*");
	natsConnection_Flush(l);
	wait_link(h, l, "down.a.sync2");
	drain(ls);
	drain(ls2);
	natsConnection_PublishString(h, "down.a.c", "four");
	natsConnection_Flush(h);
	expect_msg(ls, "down.a.c", "four");
	expect_msg(ls2, "down.a.c", "four");
	expect_none(ls, 300);
	expect_none(ls2, 10);

	natsSubscription_Destroy(ls2);
	natsSubscription_Destroy(ls);
	natsSubscription_Destroy(hs);
	natsConnection_Destroy(h);
	natsConnection_Destroy(l);
	stop_pair();
}
END_TEST

START_TEST(test_queue_groups_across)
{
	start_pair(_i);
	natsConnection *h = connect_as(&hub, NULL), *l = connect_as(&leaf, NULL);
	wait_link(h, l, "probe.down");
	natsSubscription *q1 = NULL, *q2 = NULL, *hq = NULL;
	ck_assert_int_eq(natsConnection_QueueSubscribeSync(&q1, l, "work", "grp"),
			 NATS_OK);
	ck_assert_int_eq(natsConnection_QueueSubscribeSync(&q2, l, "work", "grp"),
			 NATS_OK);
	natsConnection_Flush(l);
	/* Wait until the group's interest reached the hub. */
	long long end = harness_now_ms() + LINK_WAIT_MS;
	while (pending(q1) + pending(q2) == 0 && harness_now_ms() < end) {
		natsConnection_PublishString(h, "work", "probe");
		natsConnection_Flush(h);
		harness_sleep_ms(100);
	}
	ck_assert_int_gt(pending(q1) + pending(q2), 0);
	harness_sleep_ms(300);
	int before = pending(q1) + pending(q2);
	for (int i = 0; i < 20; i++)
		natsConnection_PublishString(h, "work", "job");
	natsConnection_Flush(h);
	harness_sleep_ms(500);
	/* Each message reaches one member of the group, not both. */
	ck_assert_int_eq(pending(q1) + pending(q2) - before, 20);

	/* A local member on the hub is preferred over the leaf's. */
	ck_assert_int_eq(natsConnection_QueueSubscribeSync(&hq, h, "work", "grp"),
			 NATS_OK);
	natsConnection_Flush(h);
	before = pending(q1) + pending(q2);
	for (int i = 0; i < 20; i++)
		natsConnection_PublishString(h, "work", "job");
	natsConnection_Flush(h);
	harness_sleep_ms(500);
	ck_assert_int_eq(pending(hq), 20);
	ck_assert_int_eq(pending(q1) + pending(q2), before);
	/* From the leaf side its own members win as well. */
	for (int i = 0; i < 10; i++)
		natsConnection_PublishString(l, "work", "job");
	natsConnection_Flush(l);
	harness_sleep_ms(500);
	ck_assert_int_eq(pending(hq), 20);
	ck_assert_int_eq(pending(q1) + pending(q2), before + 10);

	natsSubscription_Destroy(q1);
	natsSubscription_Destroy(q2);
	natsSubscription_Destroy(hq);
	natsConnection_Destroy(h);
	natsConnection_Destroy(l);
	stop_pair();
}
END_TEST

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *m,
		       void *closure)
{
	(void)sub;
	(void)closure;
	char reply[128];
	snprintf(reply, sizeof(reply), "re:%.*s", natsMsg_GetDataLength(m),
		 natsMsg_GetData(m));
	natsConnection_PublishString(nc, natsMsg_GetReply(m), reply);
	natsMsg_Destroy(m);
}

START_TEST(test_request_reply_and_interest_removal)
{
	start_pair(_i);
	natsConnection *h = connect_as(&hub, NULL), *l = connect_as(&leaf, NULL);
	wait_link(h, l, "probe.down");
	wait_link(l, h, "probe.up");
	natsSubscription *svc = NULL, *svc2 = NULL;
	ck_assert_int_eq(natsConnection_Subscribe(&svc, h, "svc.hub", on_request,
						  NULL), NATS_OK);
	ck_assert_int_eq(natsConnection_Subscribe(&svc2, l, "svc.leaf", on_request,
						  NULL), NATS_OK);
	natsConnection_Flush(h);
	natsConnection_Flush(l);
	wait_link(l, h, "svc.sync");
	wait_link(h, l, "svc.sync2");
	natsMsg *r = NULL;
	ck_assert_int_eq(natsConnection_RequestString(&r, l, "svc.hub", "ping",
						      WAIT_MS), NATS_OK);
	ck_assert_str_eq(natsMsg_GetData(r), "re:ping");
	natsMsg_Destroy(r);
	ck_assert_int_eq(natsConnection_RequestString(&r, h, "svc.leaf", "pong",
						      WAIT_MS), NATS_OK);
	ck_assert_str_eq(natsMsg_GetData(r), "re:pong");
	natsMsg_Destroy(r);

	/* The leaf's responder leaves: the hub loses the interest, so a
	 * request gets "no responders" instead of timing out. */
	natsSubscription_Unsubscribe(svc2);
	natsConnection_Flush(l);
	natsStatus st = NATS_OK;
	long long end = harness_now_ms() + LINK_WAIT_MS;
	while (harness_now_ms() < end) {
		r = NULL;
		st = natsConnection_RequestString(&r, h, "svc.leaf", "x", 500);
		natsMsg_Destroy(r);
		if (st == NATS_NO_RESPONDERS)
			break;
		harness_sleep_ms(100);
	}
	ck_assert_msg(st == NATS_NO_RESPONDERS, "got %s", natsStatus_GetText(st));

	natsSubscription_Destroy(svc);
	natsSubscription_Destroy(svc2);
	natsConnection_Destroy(h);
	natsConnection_Destroy(l);
	stop_pair();
}
END_TEST

START_TEST(test_reconnect_after_hub_restart)
{
	start_pair(_i);
	natsConnection *h = connect_as(&hub, NULL), *l = connect_as(&leaf, NULL);
	wait_link(h, l, "probe.down");
	natsConnection_Destroy(h);
	harness_server_stop(&hub);
	start_hub(_i, NULL);
	h = connect_as(&hub, NULL);
	/* The leaf dials again (1 s reconnect delay) and re-sends interest. */
	wait_link(h, l, "probe.again");
	wait_link(l, h, "probe.again.up");
	natsConnection_Destroy(h);
	natsConnection_Destroy(l);
	stop_pair();
}
END_TEST

/* The docs' walkthrough shape: two remotes to one hub, one bound to SYS
 * and one to ACC; traffic stays in its account. */
START_TEST(test_two_remotes_account_binding)
{
	hub_leaf_port = harness_free_port();
	start_hub(_i, accounts_conf);
	start_leaf(_i, "{urls: [\"nats://admin:admin@127.0.0.1:%d\"], account: SYS},"
		   "{urls: [\"nats://acc:acc@127.0.0.1:%d\"], account: ACC}",
		   accounts_conf);
	natsConnection *h = connect_as(&hub, "acc"), *l = connect_as(&leaf, "acc");
	natsConnection *hs = connect_as(&hub, "admin");
	wait_link(h, l, "acc.down");
	wait_link(l, h, "acc.up");
	/* SYS is linked too: a subscription of the leaf's SYS account is
	 * reachable from the hub's SYS account... */
	natsConnection *ls = connect_as(&leaf, "admin");
	wait_link(hs, ls, "sys.probe");
	/* ...but not from ACC. */
	natsSubscription *sub = NULL;
	natsConnection_SubscribeSync(&sub, ls, "only.sys");
	natsConnection_Flush(ls);
	wait_link(hs, ls, "sys.probe2");
	natsConnection_PublishString(h, "only.sys", "wrong account");
	natsConnection_Flush(h);
	expect_none(sub, 500);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(ls);
	natsConnection_Destroy(hs);
	natsConnection_Destroy(h);
	natsConnection_Destroy(l);
	stop_pair();
}
END_TEST

START_TEST(test_wrong_credentials_refused)
{
	hub_leaf_port = harness_free_port();
	start_hub(_i, accounts_conf);
	start_leaf(_i, "{urls: [\"nats://acc:nope@127.0.0.1:%d\"], account: ACC}",
		   accounts_conf);
	natsConnection *h = connect_as(&hub, "acc"), *l = connect_as(&leaf, "acc");
	natsSubscription *sub = NULL;
	natsConnection_SubscribeSync(&sub, l, "never");
	natsConnection_Flush(l);
	for (int i = 0; i < 25; i++) {
		natsConnection_PublishString(h, "never", "x");
		natsConnection_Flush(h);
		harness_sleep_ms(100);
	}
	expect_none(sub, 100);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(h);
	natsConnection_Destroy(l);
	stop_pair();
}
END_TEST

/* Publishes subj on pub_nc while sub holds a subscription to it on the
 * other side, and checks that nothing crosses. */
static void expect_blocked(natsConnection *pub_nc, natsConnection *sub_nc,
			   const char *subj)
{
	natsSubscription *sub = NULL;
	ck_assert_int_eq(natsConnection_SubscribeSync(&sub, sub_nc, subj), NATS_OK);
	natsConnection_Flush(sub_nc);
	harness_sleep_ms(300);
	natsConnection_PublishString(pub_nc, subj, "blocked");
	natsConnection_Flush(pub_nc);
	expect_none(sub, 500);
	natsSubscription_Destroy(sub);
}

/* deny_exports: never sent to the hub; deny_imports: never received. */
START_TEST(test_remote_deny_lists)
{
	hub_leaf_port = harness_free_port();
	start_hub(_i, NULL);
	start_leaf(_i, "{urls: [\"nats://127.0.0.1:%d\"], deny_exports: [\"secret.>\"],"
		   " deny_imports: [\"private.>\"]}", NULL);
	natsConnection *h = connect_as(&hub, NULL), *l = connect_as(&leaf, NULL);
	wait_link(l, h, "open.up");
	wait_link(h, l, "open.down");
	expect_blocked(l, h, "secret.x");
	expect_blocked(h, l, "private.y");
	wait_link(l, h, "open.up2");
	natsConnection_Destroy(h);
	natsConnection_Destroy(l);
	stop_pair();
}
END_TEST

static const char perms_conf[] =
	"authorization { users: [\n"
	"  {user: c, password: c}\n"
	"  {user: lf, password: lf, permissions: {\n"
	"    publish: {deny: [\"nopub.>\"]}, subscribe: {deny: [\"nosub.>\"]}}}\n"
	"] }\n";

/* The hub's leaf user permissions apply to the link, swapped on the hub
 * and adopted by the leaf from the second INFO. */
START_TEST(test_hub_user_permissions)
{
	hub_leaf_port = harness_free_port();
	start_hub(_i, perms_conf);
	start_leaf(_i, "{urls: [\"nats://lf:lf@127.0.0.1:%d\"]}", NULL);
	natsConnection *h = connect_as(&hub, "c"), *l = connect_as(&leaf, NULL);
	wait_link(l, h, "ok.up");
	wait_link(h, l, "ok.down");
	expect_blocked(l, h, "nopub.x");
	expect_blocked(h, l, "nosub.x");
	wait_link(l, h, "ok.up2");
	wait_link(h, l, "ok.down2");
	natsConnection_Destroy(h);
	natsConnection_Destroy(l);
	stop_pair();
}
END_TEST

/* ------------------------------------------------- raw leaf protocol */

static struct harness_server leaf_port_of(const struct harness_server *s)
{
	struct harness_server p = *s;
	p.port = hub_leaf_port;
	return p;
}

static struct raw_conn *raw_leaf(void)
{
	struct harness_server p = leaf_port_of(&hub);
	struct raw_conn *rc = raw_connect(&p);
	char line[4096];
	ck_assert(raw_take_line(rc, line, sizeof(line), WAIT_MS));
	ck_assert_msg(strncmp(line, "INFO ", 5) == 0, "%s", line);
	ck_assert_msg(strstr(line, "\"leafnode_urls\":[") != NULL, "%s", line);
	ck_assert_msg(strstr(line, "\"info_on_connect\":true") != NULL, "%s", line);
	ck_assert_msg(strstr(line, "\"client_id\":") != NULL, "%s", line);
	ck_assert_msg(strstr(line, "\"auth_required\":true") != NULL, "%s", line);
	return rc;
}

static void start_raw_hub(const char *extra)
{
	hub_leaf_port = harness_free_port();
	start_hub(0, extra);
}

START_TEST(test_raw_auth_and_wrong_port)
{
	start_raw_hub(accounts_conf);
	struct raw_conn *rc = raw_leaf();
	raw_send_str(rc, "CONNECT {\"user\":\"acc\",\"pass\":\"bad\"}\r\n");
	ck_assert_msg(raw_wait_for(rc, "-ERR 'Authorization Violation'", WAIT_MS),
		      "%s", raw_escaped(rc));
	ck_assert(raw_wait_closed(rc, WAIT_MS));
	raw_close(rc);

	rc = raw_leaf();
	raw_send_str(rc, "CONNECT {\"lang\":\"C\",\"user\":\"acc\",\"pass\":\"acc\"}\r\n");
	ck_assert_msg(raw_wait_for(rc, "-ERR 'attempted to connect to leaf node "
				   "port'", WAIT_MS), "%s", raw_escaped(rc));
	ck_assert(raw_wait_closed(rc, WAIT_MS));
	raw_close(rc);

	/* Good credentials: the second INFO names the bound account. */
	rc = raw_leaf();
	raw_send_str(rc, "CONNECT {\"user\":\"acc\",\"pass\":\"acc\",\"name\":\"x\"}\r\n");
	ck_assert_msg(raw_wait_for(rc, "\"connect_info\":true", WAIT_MS), "%s",
		      raw_escaped(rc));
	ck_assert_msg(raw_wait_for(rc, "\"remote_account\":\"ACC\"", WAIT_MS), "%s",
		      raw_escaped(rc));
	raw_close(rc);
	harness_server_stop(&hub);
}
END_TEST

/* Replaying the hub's own $LDS subject is a loop. */
START_TEST(test_raw_loop_detection)
{
	start_raw_hub(NULL);
	struct raw_conn *rc = raw_leaf();
	raw_send_str(rc, "CONNECT {\"name\":\"fake\"}\r\n");
	ck_assert_msg(raw_wait_for(rc, "LS+ $LDS.", WAIT_MS), "%s", raw_escaped(rc));
	ck_assert(raw_consume_through(rc, "LS+ $LDS."));
	char lds[128];
	ck_assert(raw_take_line(rc, lds, sizeof(lds), WAIT_MS));
	char line[256];
	snprintf(line, sizeof(line), "LS+ $LDS.%s\r\n", lds);
	raw_send_str(rc, line);
	ck_assert_msg(raw_wait_for(rc, "-ERR 'Loop detected for leafnode "
				   "account=\"$G\". Delaying attempt to reconnect "
				   "for 30s'", WAIT_MS), "%s", raw_escaped(rc));
	ck_assert(raw_wait_closed(rc, WAIT_MS));
	raw_close(rc);
	harness_server_stop(&hub);
}
END_TEST

/* A fake leaf's LS+/LMSG: interest and messages as the protocol says. */
START_TEST(test_raw_interest_and_messages)
{
	start_raw_hub(NULL);
	struct raw_conn *rc = raw_leaf();
	raw_send_str(rc, "CONNECT {\"name\":\"fake\",\"headers\":true}\r\n"
		     "LS+ foo\r\nLS+ bar q1 3\r\nPING\r\n");
	ck_assert(raw_wait_for(rc, "PONG\r\n", WAIT_MS));
	raw_consume_through(rc, "PONG\r\n");
	natsConnection *h = connect_as(&hub, NULL);
	natsSubscription *sub = NULL;
	natsConnection_SubscribeSync(&sub, h, "baz");
	natsConnection_Flush(h);
	ck_assert_msg(raw_wait_for(rc, "LS+ baz\r\n", WAIT_MS), "%s", raw_escaped(rc));
	natsConnection_PublishRequestString(h, "foo", "reply.1", "hello");
	natsConnection_PublishString(h, "bar", "abc");
	natsConnection_Flush(h);
	ck_assert_msg(raw_wait_for(rc, "LMSG foo reply.1 5\r\nhello\r\n", WAIT_MS),
		      "%s", raw_escaped(rc));
	ck_assert_msg(raw_wait_for(rc, "LMSG bar | q1 3\r\nabc\r\n", WAIT_MS),
		      "%s", raw_escaped(rc));
	raw_send_str(rc, "LMSG baz rep 2\r\nhi\r\n");
	natsMsg *m = NULL;
	ck_assert_int_eq(natsSubscription_NextMsg(&m, sub, WAIT_MS), NATS_OK);
	ck_assert_str_eq(natsMsg_GetReply(m), "rep");
	natsMsg_Destroy(m);
	natsSubscription_Unsubscribe(sub);
	natsConnection_Flush(h);
	ck_assert_msg(raw_wait_for(rc, "LS- baz\r\n", WAIT_MS), "%s", raw_escaped(rc));
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(h);
	raw_close(rc);
	harness_server_stop(&hub);
}
END_TEST

int main(void)
{
	const char *t = getenv("NATS_TEST_SERVER");
	snprintf(tested_server, sizeof(tested_server), "%s",
		 t != NULL && t[0] != '\0' ? t : HARNESS_DEFAULT_SERVER);
	Suite *s = suite_create("leaf");
	TCase *tc = tcase_create("link");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_pubsub_both_directions, 0, NPAIRS);
	tcase_add_loop_test(tc, test_queue_groups_across, 0, NPAIRS);
	tcase_add_loop_test(tc, test_request_reply_and_interest_removal, 0, NPAIRS);
	tcase_add_loop_test(tc, test_reconnect_after_hub_restart, 0, NPAIRS);
	tcase_add_loop_test(tc, test_two_remotes_account_binding, 0, NPAIRS);
	tcase_add_loop_test(tc, test_wrong_credentials_refused, 0, NPAIRS);
	tcase_add_loop_test(tc, test_remote_deny_lists, 0, NPAIRS);
	tcase_add_loop_test(tc, test_hub_user_permissions, 0, NPAIRS);
	suite_add_tcase(s, tc);
	TCase *raw = tcase_create("raw");
	tcase_set_timeout(raw, 30);
	tcase_add_test(raw, test_raw_auth_and_wrong_port);
	tcase_add_test(raw, test_raw_loop_detection);
	tcase_add_test(raw, test_raw_interest_and_messages);
	suite_add_tcase(s, raw);
	return harness_run(s);
}
