/*
 * test_leaf_domains.c - JetStream domains across a leaf link, the docs'
 * walkthrough (the configs of examples/leaf-domains on free ports): a hub with
 * JetStream domain "hub" and a leaf with domain "leaf", both with the
 * accounts SYS and ACC, linked by one remote per account.  Also the leaf
 * link in monitoring (leafz, varz) and in the account connection events.
 *
 * Every test runs over three pairs (a loop test, _i is the pair):
 *   0: hub and leaf are both $NATS_TEST_SERVER;
 *   1: the leaf is $NATS_TEST_SERVER, the hub is the reference nats-server;
 *   2: the hub is $NATS_TEST_SERVER, the leaf is the reference nats-server.
 * With NATS_TEST_SERVER=/usr/sbin/nats-server all pairs are reference
 * pairs, which checks the test itself.
 *
 * The link and its interest come up asynchronously, so a test retries a
 * request until an answer arrives (bounded) instead of sleeping.
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
#define LINK_WAIT_MS 15000
#define NPAIRS 3

static char tested_server[512];  /* $NATS_TEST_SERVER as the test began */
static struct harness_server hub, leaf;
static int hub_leaf_port;
static char store_root[64];      /* both servers' store dirs live here */

static const char accounts_conf[] =
	"accounts {\n"
	"  SYS: { users: [{user: admin, password: admin}] }\n"
	"  ACC: { users: [{user: acc, password: acc}], jetstream: enabled }\n"
	"}\n"
	"system_account: SYS\n";

/* The leaf of the default_js_domain test has no JetStream at all. */
static const char accounts_nojs_conf[] =
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

static void start_hub(int pair)
{
	char conf[4096];
	snprintf(conf, sizeof(conf),
		 "server_name: hub-server\n"
		 "jetstream { store_dir: \"%s/hub\", domain: hub }\n"
		 "leafnodes { port: %d }\n%s",
		 store_root, hub_leaf_port, accounts_conf);
	use_server(pair == 1);
	harness_server_start(&hub, conf, NULL);
}

/* js: the leaf runs JetStream with domain "leaf"; else it has none and
 * default_js_domain sends ACC's API to the hub. */
static void start_leaf(int pair, bool js)
{
	char conf[4096];
	snprintf(conf, sizeof(conf),
		 "server_name: leaf-server\n"
		 "%s%s%s"
		 "leafnodes { remotes = [\n"
		 "  { urls: [\"nats://admin:admin@127.0.0.1:%d\"], account: SYS }\n"
		 "  { urls: [\"nats://acc:acc@127.0.0.1:%d\"], account: ACC }\n"
		 "] }\n%s",
		 js ? "jetstream { store_dir: \"" : "default_js_domain: { ACC: hub }\n",
		 js ? store_root : "",
		 js ? "/leaf\", domain: leaf }\n" : "",
		 hub_leaf_port, hub_leaf_port,
		 js ? accounts_conf : accounts_nojs_conf);
	use_server(pair == 2);
	harness_server_start(&leaf, conf, NULL);
}

/* Removes the store dirs; also runs when a failed assertion ends the
 * test's process. */
static void remove_store_root(void)
{
	char cmd[128];
	if (store_root[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", store_root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", store_root);
	store_root[0] = '\0';
}

/* Each test runs in its own process (fork mode), so this runs once per
 * test. */
static void make_store_root(void)
{
	snprintf(store_root, sizeof(store_root), "/tmp/natsd_ld_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(store_root));
	atexit(remove_store_root);
}

static void start_pair(int pair, bool leaf_js)
{
	make_store_root();
	hub_leaf_port = harness_free_port();
	start_hub(pair);
	start_leaf(pair, leaf_js);
}

static void stop_pair(void)
{
	if (leaf.pid != 0)
		harness_server_stop(&leaf);
	if (hub.pid != 0)
		harness_server_stop(&hub);
	remove_store_root();
}

static natsConnection *connect_as(struct harness_server *s, const char *user)
{
	natsOptions *o = harness_nats_options(s);
	natsConnection *nc = NULL;
	natsOptions_SetUserInfo(o, user, user);
	natsStatus st = harness_nats_try_connect(s, o, &nc);
	natsOptions_Destroy(o);
	ck_assert_msg(st == NATS_OK, "connect: %s", natsStatus_GetText(st));
	return nc;
}

/* Copies a reply's payload into out (NUL-terminated). */
static void msg_text(natsMsg *m, char *out, size_t cap)
{
	size_t n = (size_t)natsMsg_GetDataLength(m);
	if (n >= cap)
		n = cap - 1;
	memcpy(out, natsMsg_GetData(m), n);
	out[n] = '\0';
}

/* Sends a request until an answer comes (the link or its interest may not
 * be there yet) and copies the answer into out. */
static void request_until(natsConnection *nc, const char *subj,
			  const char *body, char *out, size_t cap)
{
	long long end = harness_now_ms() + LINK_WAIT_MS;
	while (harness_now_ms() < end) {
		natsMsg *m = NULL;
		if (natsConnection_RequestString(&m, nc, subj, body, 500) == NATS_OK) {
			msg_text(m, out, cap);
			natsMsg_Destroy(m);
			return;
		}
	}
	harness_server_dump_log(&hub);
	harness_server_dump_log(&leaf);
	ck_abort_msg("no answer on %s", subj);
}

/* Publishes one request and collects every answer within ms: returns the
 * count, the first answer in out. */
static int request_all(natsConnection *nc, const char *subj, int ms,
		       char *out, size_t cap)
{
	char inbox[64];
	natsSubscription *sub = NULL;
	snprintf(inbox, sizeof(inbox), "_INBOX.dom.%lld", harness_now_ms());
	ck_assert_int_eq(natsConnection_SubscribeSync(&sub, nc, inbox), NATS_OK);
	ck_assert_int_eq(natsConnection_PublishRequestString(nc, subj, inbox, ""),
			 NATS_OK);
	natsConnection_Flush(nc);
	int n = 0;
	out[0] = '\0';
	natsMsg *m = NULL;
	while (natsSubscription_NextMsg(&m, sub, ms) == NATS_OK) {
		if (n++ == 0)
			msg_text(m, out, cap);
		natsMsg_Destroy(m);
	}
	harness_sub_destroy(nc, sub);
	return n;
}

/* Subscribes subj on sub_nc and publishes on pub_nc until a message
 * crosses (the link is up and the interest arrived). */
static void wait_link(natsConnection *pub_nc, natsConnection *sub_nc,
		      const char *subj)
{
	bool ok = harness_wait_crossing(pub_nc, sub_nc, subj, LINK_WAIT_MS);
	ck_assert_msg(ok, "nothing crossed the leaf link on %s", subj);
}

static void expect_none(natsSubscription *sub, int ms)
{
	natsMsg *m = NULL;
	if (natsSubscription_NextMsg(&m, sub, ms) == NATS_OK) {
		char subj[256];
		snprintf(subj, sizeof(subj), "%s", natsMsg_GetSubject(m));
		natsMsg_Destroy(m);
		ck_abort_msg("unexpected message on %s", subj);
	}
}

#define assert_has(text, what) \
	ck_assert_msg(strstr((text), (what)) != NULL, "no %s in %s", (what), (text))
#define assert_lacks(text, what) \
	ck_assert_msg(strstr((text), (what)) == NULL, "%s in %s", (what), (text))

/* ----------------------------------------------------------- tests */

/* A leaf client reaches the hub's JetStream as $JS.hub.API, and its plain
 * $JS.API is answered by the leaf's own JetStream alone. */
START_TEST(test_domain_api_info)
{
	char reply[4096];
	start_pair(_i, true);
	natsConnection *l = connect_as(&leaf, "acc");
	request_until(l, "$JS.hub.API.INFO", "", reply, sizeof(reply));
	assert_has(reply, "\"type\":\"io.nats.jetstream.api.v1.account_info_response\"");
	assert_has(reply, "\"domain\":\"hub\"");
	request_until(l, "$JS.leaf.API.INFO", "", reply, sizeof(reply));
	assert_has(reply, "\"domain\":\"leaf\"");
	/* Wait until the hub's interest has certainly arrived, then ask the
	 * plain API: exactly one answer, from the leaf. */
	natsConnection *h = connect_as(&hub, "acc");
	wait_link(h, l, "probe.down");
	int n = request_all(l, "$JS.API.INFO", 700, reply, sizeof(reply));
	ck_assert_int_eq(n, 1);
	assert_has(reply, "\"domain\":\"leaf\"");
	/* And the hub's client gets its own domain, also when addressing it. */
	n = request_all(h, "$JS.API.INFO", 700, reply, sizeof(reply));
	ck_assert_int_eq(n, 1);
	assert_has(reply, "\"domain\":\"hub\"");
	request_until(h, "$JS.leaf.API.INFO", "", reply, sizeof(reply));
	assert_has(reply, "\"domain\":\"leaf\"");
	natsConnection_Destroy(h);
	natsConnection_Destroy(l);
	stop_pair();
}
END_TEST

/* A stream created in the hub from a leaf client lives in the hub only;
 * a publish from the leaf into it is acknowledged with domain "hub". */
START_TEST(test_stream_in_hub_from_leaf)
{
	char reply[4096];
	start_pair(_i, true);
	natsConnection *l = connect_as(&leaf, "acc");
	natsConnection *h = connect_as(&hub, "acc");
	request_until(l, "$JS.hub.API.STREAM.CREATE.X",
		      "{\"name\":\"X\",\"subjects\":[\"x.>\"],\"storage\":\"memory\"}",
		      reply, sizeof(reply));
	assert_has(reply, "\"type\":\"io.nats.jetstream.api.v1.stream_create_response\"");
	assert_lacks(reply, "\"error\"");
	request_until(h, "$JS.API.STREAM.INFO.X", "", reply, sizeof(reply));
	assert_has(reply, "\"name\":\"X\"");
	assert_lacks(reply, "\"error\"");
	request_until(l, "$JS.API.STREAM.INFO.X", "", reply, sizeof(reply));
	assert_has(reply, "\"err_code\":10059");
	/* The stream's subjects are ordinary interest over the link. */
	request_until(l, "x.1", "hello", reply, sizeof(reply));
	assert_has(reply, "{\"stream\":\"X\", \"domain\":\"hub\", \"seq\":");
	request_until(h, "$JS.API.STREAM.INFO.X", "", reply, sizeof(reply));
	assert_lacks(reply, "\"messages\":0,");
	natsConnection_Destroy(h);
	natsConnection_Destroy(l);
	stop_pair();
}
END_TEST

/* $JS.API.>, $KV.> and $OBJ.> of a normal account never cross the link,
 * in either direction, while ordinary subjects do. */
START_TEST(test_js_subjects_do_not_cross)
{
	static const char *const subjects[] = {
		"$JS.API.FOO", "$KV.b.k", "$OBJ.b.k",
	};
	start_pair(_i, true);
	natsConnection *l = connect_as(&leaf, "acc");
	natsConnection *h = connect_as(&hub, "acc");
	natsSubscription *hs[3], *ls[3];
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(natsConnection_SubscribeSync(&hs[i], h, subjects[i]),
				 NATS_OK);
		ck_assert_int_eq(natsConnection_SubscribeSync(&ls[i], l, subjects[i]),
				 NATS_OK);
	}
	natsConnection_Flush(h);
	natsConnection_Flush(l);
	/* Interest sent after these subscriptions has arrived. */
	wait_link(l, h, "probe.up");
	wait_link(h, l, "probe.down");
	for (int i = 0; i < 3; i++) {
		natsConnection_PublishString(l, subjects[i], "from leaf");
		natsConnection_PublishString(h, subjects[i], "from hub");
	}
	natsConnection_Flush(l);
	natsConnection_Flush(h);
	for (int i = 0; i < 3; i++) {
		/* Each side gets its own message only. */
		natsMsg *m = NULL;
		ck_assert_int_eq(natsSubscription_NextMsg(&m, hs[i], WAIT_MS), NATS_OK);
		ck_assert_int_eq(memcmp(natsMsg_GetData(m), "from hub", 8), 0);
		natsMsg_Destroy(m);
		ck_assert_int_eq(natsSubscription_NextMsg(&m, ls[i], WAIT_MS), NATS_OK);
		ck_assert_int_eq(memcmp(natsMsg_GetData(m), "from leaf", 9), 0);
		natsMsg_Destroy(m);
	}
	for (int i = 0; i < 3; i++) {
		expect_none(hs[i], i == 0 ? 500 : 50);
		expect_none(ls[i], 50);
		natsSubscription_Destroy(hs[i]);
		natsSubscription_Destroy(ls[i]);
	}
	natsConnection_Destroy(h);
	natsConnection_Destroy(l);
	stop_pair();
}
END_TEST

/* A JetStream-less leaf with default_js_domain {ACC: hub}: unmodified
 * clients' $JS.API requests reach the hub. */
START_TEST(test_default_js_domain)
{
	char reply[4096];
	start_pair(_i, false);
	natsConnection *l = connect_as(&leaf, "acc");
	request_until(l, "$JS.API.INFO", "", reply, sizeof(reply));
	assert_has(reply, "\"type\":\"io.nats.jetstream.api.v1.account_info_response\"");
	assert_has(reply, "\"domain\":\"hub\"");
	request_until(l, "$JS.API.STREAM.CREATE.Y",
		      "{\"name\":\"Y\",\"subjects\":[\"y.>\"],\"storage\":\"memory\"}",
		      reply, sizeof(reply));
	assert_lacks(reply, "\"error\"");
	natsConnection *h = connect_as(&hub, "acc");
	request_until(h, "$JS.API.STREAM.INFO.Y", "", reply, sizeof(reply));
	assert_has(reply, "\"name\":\"Y\"");
	assert_lacks(reply, "\"error\"");
	natsConnection_Destroy(h);
	natsConnection_Destroy(l);
	stop_pair();
}
END_TEST

/* One $SYS.REQ.SERVER.<id>.<what> request to srv (as the system user). */
static void sys_request(struct harness_server *srv, const char *what,
			const char *body, char *out, size_t cap)
{
	natsConnection *nc = connect_as(srv, "admin");
	char id[128], subj[256];
	ck_assert_int_eq(natsConnection_GetConnectedServerId(nc, id, sizeof(id)),
			 NATS_OK);
	snprintf(subj, sizeof(subj), "$SYS.REQ.SERVER.%s.%s", id, what);
	request_until(nc, subj, body, out, cap);
	natsConnection_Destroy(nc);
}

/* Waits until srv's leafz lists both links (SYS and ACC), then checks
 * leafz and varz. */
static void check_monitoring(struct harness_server *srv)
{
	char reply[8192];
	long long end = harness_now_ms() + LINK_WAIT_MS;
	do {
		sys_request(srv, "LEAFZ", "", reply, sizeof(reply));
		if (strstr(reply, "\"leafnodes\":2") != NULL)
			break;
		harness_sleep_ms(100);
	} while (harness_now_ms() < end);
	assert_has(reply, "\"leafnodes\":2,\"leafs\":[");
	assert_has(reply, "\"account\":\"ACC\"");
	assert_has(reply, "\"account\":\"SYS\"");
	assert_has(reply, "\"ip\":\"127.0.0.1\"");
	assert_has(reply, "\"rtt\":\"");
	sys_request(srv, "VARZ", "", reply, sizeof(reply));
	assert_has(reply, "\"leafnodes\":2,");
	/* One account's link with the peer's interest: its domain's mapping
	 * sources (the peer announces them just after the link is up). */
	const char *mapped = srv == &hub ? "\"$JS.leaf.API.INFO\"" : "\"$JS.hub.API.INFO\"";
	end = harness_now_ms() + LINK_WAIT_MS;
	do {
		sys_request(srv, "LEAFZ", "{\"account\":\"ACC\",\"subscriptions\":true}",
			    reply, sizeof(reply));
		if (strstr(reply, mapped) != NULL)
			break;
		harness_sleep_ms(100);
	} while (harness_now_ms() < end);
	assert_has(reply, "\"leafnodes\":1,");
	assert_lacks(reply, "\"account\":\"SYS\"");
	assert_has(reply, "\"subscriptions_list\":[");
	assert_has(reply, mapped);
}

/* The links show in leafz and varz on both sides, and a leaf link joining
 * ACC is announced in ACC's connection event. */
START_TEST(test_monitoring_and_events)
{
	hub_leaf_port = harness_free_port();
	make_store_root();
	start_hub(_i);
	natsConnection *sys = connect_as(&hub, "admin");
	natsSubscription *ev = NULL;
	ck_assert_int_eq(natsConnection_SubscribeSync(&ev, sys,
		"$SYS.ACCOUNT.ACC.SERVER.CONNS"), NATS_OK);
	natsConnection_Flush(sys);
	start_leaf(_i, true);
	bool seen = false;
	long long end = harness_now_ms() + LINK_WAIT_MS;
	while (!seen && harness_now_ms() < end) {
		natsMsg *m = NULL;
		char text[4096];
		if (natsSubscription_NextMsg(&m, ev, 500) != NATS_OK)
			continue;
		msg_text(m, text, sizeof(text));
		natsMsg_Destroy(m);
		seen = strstr(text, "\"acc\":\"ACC\"") != NULL &&
		       strstr(text, "\"leafnodes\":1") != NULL;
	}
	ck_assert_msg(seen, "no ACC connection event with a leaf node");
	harness_sub_destroy(sys, ev);
	natsConnection_Destroy(sys);
	check_monitoring(&hub);
	check_monitoring(&leaf);
	stop_pair();
}
END_TEST

int main(void)
{
	const char *t = getenv("NATS_TEST_SERVER");
	snprintf(tested_server, sizeof(tested_server), "%s",
		 t != NULL && t[0] != '\0' ? t : HARNESS_DEFAULT_SERVER);
	Suite *s = suite_create("leaf_domains");
	TCase *tc = tcase_create("domains");
	tcase_set_timeout(tc, 90);
	tcase_add_loop_test(tc, test_domain_api_info, 0, NPAIRS);
	tcase_add_loop_test(tc, test_stream_in_hub_from_leaf, 0, NPAIRS);
	tcase_add_loop_test(tc, test_js_subjects_do_not_cross, 0, NPAIRS);
	tcase_add_loop_test(tc, test_default_js_domain, 0, NPAIRS);
	tcase_add_loop_test(tc, test_monitoring_and_events, 0, NPAIRS);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
