/*
 * test_leaf_walkthrough.c - the docs' "JetStream on leaf nodes" walkthrough,
 * end to end, on real sockets with the docs' own config files
 * (examples/leaf-domains: hub.conf, leaf.conf, accounts.conf, later
 * accounts-with-imports.conf by reload).  The only change to the files is
 * the leaf port (7422 becomes a free port, so runs do not collide); the
 * client ports are given with -p for the same reason.
 *
 * The steps and the figures are the docs': both servers answer the
 * system account's JSZ ping; stream `test` is created in domain hub and,
 * with the leaf's API prefix, in domain leaf; one publish is stored by
 * both (1 message, 45 bytes each); mirror `backup-test-leaf` (45 bytes)
 * and source `aggregate-test-leaf` (98 bytes, with its
 * Nats-Stream-Source header) in hub copy `test` from leaf; after the
 * reload, user import_mirror mirrors `aggregate-test-leaf` across
 * accounts (98 bytes); a durable pull consumer `dur` is read by user
 * import_client connected to the leaf, through the imported API prefix,
 * and its ack travels back to the hub.
 *
 * Every test runs over three pairs (a loop test, _i is the pair):
 *   0: hub and leaf are both $NATS_TEST_SERVER;
 *   1: the leaf is $NATS_TEST_SERVER, the hub the reference nats-server;
 *   2: the hub is $NATS_TEST_SERVER, the leaf the reference nats-server.
 * With NATS_TEST_SERVER=/usr/sbin/nats-server every pair is a reference
 * pair, which checks the test itself.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 2000
#define LINK_WAIT_MS 15000
#define COPY_WAIT_MS 15000
#define NPAIRS 3

static struct harness_server hub, leaf;
static int hub_port, leaf_port;

/* ---- the example files ------------------------------------------------ */

static char *read_example(const char *name)
{
	const char *dir = getenv("LEAF_DOMAINS_DIR");
	char path[512];
	ck_assert_msg(dir != NULL, "LEAF_DOMAINS_DIR is not set");
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot read %s", path);
	char *text = calloc(1, 65536);
	ck_assert_ptr_nonnull(text);
	size_t n = fread(text, 1, 65535, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

/* The file with every "7422" replaced by the test's leaf port. */
static char *example_with_port(const char *name, int port)
{
	char *in = read_example(name), *out = calloc(1, 70000), *o = out;
	char port_text[16];
	ck_assert_ptr_nonnull(out);
	snprintf(port_text, sizeof(port_text), "%d", port);
	for (const char *p = in; *p != '\0';) {
		if (strncmp(p, "7422", 4) == 0) {
			o += sprintf(o, "%s", port_text);
			p += 4;
		} else {
			*o++ = *p++;
		}
	}
	free(in);
	return out;
}

static const char *binary(bool reference)
{
	const char *t = getenv("NATS_TEST_SERVER");
	if (reference || t == NULL || t[0] == '\0')
		return HARNESS_DEFAULT_SERVER;
	return t;
}

static void start_pair(int pair)
{
	int lp = harness_free_port();
	char *hub_conf = example_with_port("hub.conf", lp);
	char *leaf_conf = example_with_port("leaf.conf", lp);
	char *accounts = read_example("accounts.conf");
	struct harness_file hf[2] = { { "hub.conf", hub_conf },
				      { "accounts.conf", accounts } };
	struct harness_file lf[2] = { { "leaf.conf", leaf_conf },
				      { "accounts.conf", accounts } };
	ck_assert_ptr_nonnull(strstr(hub_conf, "include ./accounts.conf"));
	harness_server_start_files(&hub, binary(pair == 1), hf, 2, "hub.conf",
				   NULL);
	harness_server_start_files(&leaf, binary(pair == 2), lf, 2, "leaf.conf",
				   NULL);
	hub_port = hub.port;
	leaf_port = leaf.port;
	free(hub_conf);
	free(leaf_conf);
	free(accounts);
}

static void stop_pair(void)
{
	harness_server_stop(&leaf);
	harness_server_stop(&hub);
}

/* ---- clients ---------------------------------------------------------- */

static natsConnection *connect_as(int port, const char *user)
{
	natsOptions *o = NULL;
	natsConnection *nc = NULL;
	char url[128];
	snprintf(url, sizeof(url), "nats://%s:%s@127.0.0.1:%d", user, user, port);
	if (strcmp(user, "admin") == 0)
		snprintf(url, sizeof(url), "nats://admin:admin@127.0.0.1:%d", port);
	ck_assert_int_eq(natsOptions_Create(&o), NATS_OK);
	ck_assert_int_eq(natsOptions_SetURL(o, url), NATS_OK);
	ck_assert_int_eq(natsOptions_SetTimeout(o, 2000), NATS_OK);
	ck_assert_int_eq(natsOptions_SetMaxReconnect(o, 0), NATS_OK);
	natsStatus s = natsConnection_Connect(&nc, o);
	natsOptions_Destroy(o);
	ck_assert_msg(s == NATS_OK, "connect as %s to %d: %s", user, port,
		      natsStatus_GetText(s));
	return nc;
}

static jsCtx *js_for(natsConnection *nc, const char *domain, const char *prefix)
{
	jsCtx *js = NULL;
	jsOptions o;
	jsOptions_Init(&o);
	o.Domain = domain;
	o.Prefix = prefix;
	o.Wait = 3000;
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, &o), NATS_OK);
	return js;
}

/* Step 1: the JSZ ping through the system account is answered by both
 * servers once the link is up, each with its domain. */
static void wait_both_servers(void)
{
	natsConnection *nc = connect_as(hub_port, "admin");
	long long end = harness_now_ms() + LINK_WAIT_MS;
	bool hub_seen = false, leaf_seen = false;
	while (!(hub_seen && leaf_seen) && harness_now_ms() < end) {
		natsSubscription *sub = NULL;
		natsInbox *inbox = NULL;
		ck_assert_int_eq(natsInbox_Create(&inbox), NATS_OK);
		ck_assert_int_eq(natsConnection_SubscribeSync(&sub, nc, inbox),
				 NATS_OK);
		ck_assert_int_eq(natsConnection_PublishRequestString(nc,
			"$SYS.REQ.SERVER.PING.JSZ", inbox, ""), NATS_OK);
		hub_seen = leaf_seen = false;
		natsMsg *m = NULL;
		while (natsSubscription_NextMsg(&m, sub, 500) == NATS_OK) {
			const char *d = natsMsg_GetData(m);
			hub_seen |= strstr(d, "\"domain\":\"hub\"") != NULL &&
				    strstr(d, "\"name\":\"hub-server\"") != NULL;
			leaf_seen |= strstr(d, "\"domain\":\"leaf\"") != NULL &&
				     strstr(d, "\"name\":\"leaf-server\"") != NULL;
			natsMsg_Destroy(m);
		}
		harness_sub_destroy(nc, sub);
		natsInbox_Destroy(inbox);
	}
	natsConnection_Destroy(nc);
	ck_assert_msg(hub_seen && leaf_seen, "JSZ ping: hub %d leaf %d",
		      hub_seen, leaf_seen);
}

static void add_test_stream(jsCtx *js, const char *want_domain)
{
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	const char *subjects[1] = { "test" };
	long long end = harness_now_ms() + LINK_WAIT_MS;
	natsStatus s;
	jsStreamConfig_Init(&cfg);
	cfg.Name = "test";
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	cfg.Duplicates = 120LL * 1000000000LL;
	/* The leaf's API interest may still be on its way to the hub. */
	do {
		s = js_AddStream(&si, js, &cfg, NULL, &jerr);
	} while (s == NATS_TIMEOUT && harness_now_ms() < end);
	ck_assert_msg(s == NATS_OK, "add stream test in %s: %s (%d)",
		      want_domain, natsStatus_GetText(s), jerr);
	jsStreamInfo_Destroy(si);
}

/* Waits until stream holds msgs messages of bytes bytes in all. */
static void wait_stream(jsCtx *js, const char *stream, uint64_t msgs,
			uint64_t bytes)
{
	long long end = harness_now_ms() + COPY_WAIT_MS;
	uint64_t m = 0, b = 0;
	for (;;) {
		jsStreamInfo *si = NULL;
		jsErrCode jerr = 0;
		if (js_GetStreamInfo(&si, js, stream, NULL, &jerr) == NATS_OK) {
			m = si->State.Msgs;
			b = si->State.Bytes;
			jsStreamInfo_Destroy(si);
		}
		if ((m == msgs && b == bytes) || harness_now_ms() > end)
			break;
		harness_sleep_ms(100);
	}
	ck_assert_msg(m == msgs && b == bytes, "stream %s: %llu messages, %llu "
		      "bytes; the docs show %llu, %llu", stream,
		      (unsigned long long)m, (unsigned long long)b,
		      (unsigned long long)msgs, (unsigned long long)bytes);
}

static void add_copy(jsCtx *js, const char *name, bool mirror,
		     const char *upstream, const char *api, const char *deliver)
{
	jsStreamConfig cfg;
	jsStreamSource src;
	jsExternalStream ext;
	jsStreamSource *sources[1] = { &src };
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	jsStreamSource_Init(&src);
	src.Name = upstream;
	ext.APIPrefix = api;
	ext.DeliverPrefix = deliver;
	src.External = &ext;
	jsStreamConfig_Init(&cfg);
	cfg.Name = name;
	cfg.Storage = js_FileStorage;
	if (mirror) {
		cfg.Mirror = &src;
	} else {
		cfg.Sources = sources;
		cfg.SourcesLen = 1;
	}
	natsStatus s = js_AddStream(&si, js, &cfg, NULL, &jerr);
	ck_assert_msg(s == NATS_OK, "add %s: %s (%d)", name,
		      natsStatus_GetText(s), jerr);
	jsStreamInfo_Destroy(si);
}

/* ---- the walkthrough -------------------------------------------------- */

/* Steps 1 to 4, in account ACC. */
static void walkthrough_same_account(void)
{
	wait_both_servers();
	natsConnection *nc = connect_as(hub_port, "acc");
	jsCtx *hubjs = js_for(nc, NULL, NULL);
	jsCtx *leafjs = js_for(nc, "leaf", NULL);
	add_test_stream(hubjs, "hub");
	add_test_stream(leafjs, "leaf");
	/* The streams are in different domains: both say so. */
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	jsAccountInfo *ai = NULL;
	ck_assert_int_eq(js_GetAccountInfo(&ai, hubjs, NULL, &jerr), NATS_OK);
	ck_assert_str_eq(ai->Domain, "hub");
	jsAccountInfo_Destroy(ai);
	ck_assert_int_eq(js_GetAccountInfo(&ai, leafjs, NULL, &jerr), NATS_OK);
	ck_assert_str_eq(ai->Domain, "leaf");
	jsAccountInfo_Destroy(ai);
	/* Step 3: one publish, stored by both. */
	ck_assert_int_eq(natsConnection_PublishString(nc, "test", "hello world"),
			 NATS_OK);
	wait_stream(hubjs, "test", 1, 45);
	wait_stream(leafjs, "test", 1, 45);
	/* Step 4: mirror and source in hub of test in leaf. */
	add_copy(hubjs, "backup-test-leaf", true, "test", "$JS.leaf.API", "");
	add_copy(hubjs, "aggregate-test-leaf", false, "test", "$JS.leaf.API", "");
	wait_stream(hubjs, "backup-test-leaf", 1, 45);
	wait_stream(hubjs, "aggregate-test-leaf", 1, 98);
	ck_assert_int_eq(js_GetStreamInfo(&si, hubjs, "backup-test-leaf", NULL,
					  &jerr), NATS_OK);
	ck_assert_ptr_nonnull(si->Mirror);
	ck_assert_str_eq(si->Mirror->Name, "test");
	ck_assert_ptr_nonnull(si->Mirror->External);
	ck_assert_str_eq(si->Mirror->External->APIPrefix, "$JS.leaf.API");
	ck_assert_uint_eq(si->Mirror->Lag, 0);
	jsStreamInfo_Destroy(si);
	ck_assert_int_eq(js_GetStreamInfo(&si, hubjs, "aggregate-test-leaf",
					  NULL, &jerr), NATS_OK);
	ck_assert_int_eq(si->SourcesLen, 1);
	ck_assert_str_eq(si->Sources[0]->Name, "test");
	jsStreamInfo_Destroy(si);
	/* The copy says where it came from: "test:<hash of the API> 1". */
	natsMsg *m = NULL;
	const char *v = NULL;
	ck_assert_int_eq(js_GetMsg(&m, hubjs, "aggregate-test-leaf", 1, NULL,
				   &jerr), NATS_OK);
	ck_assert_str_eq(natsMsg_GetSubject(m), "test");
	ck_assert_int_eq(natsMsgHeader_Get(m, "Nats-Stream-Source", &v), NATS_OK);
	ck_assert_int_eq((int)strlen(v), 15);
	ck_assert(strncmp(v, "test:", 5) == 0 && strcmp(v + 13, " 1") == 0);
	natsMsg_Destroy(m);
	jsCtx_Destroy(hubjs);
	jsCtx_Destroy(leafjs);
	natsConnection_Destroy(nc);
}

/* Switches both servers to accounts-with-imports.conf, as the docs do
 * ("restart or reload"), and waits until the new users can connect.
 * natsd reloads; nats-server 2.9.10 is restarted, because after a reload
 * its cross-account mirror never receives anything (see
 * docs/differences.md). */
static void reload_with_imports(int pair)
{
	char *accounts = read_example("accounts-with-imports.conf");
	harness_server_write_file(&hub, "accounts.conf", accounts);
	harness_server_write_file(&leaf, "accounts.conf", accounts);
	free(accounts);
	bool hub_ref = pair == 1 || strcmp(binary(false), HARNESS_DEFAULT_SERVER) == 0;
	bool leaf_ref = pair == 2 || strcmp(binary(false), HARNESS_DEFAULT_SERVER) == 0;
	if (hub_ref)
		harness_server_restart(&hub);
	else
		harness_server_reload(&hub);
	if (leaf_ref)
		harness_server_restart(&leaf);
	else
		harness_server_reload(&leaf);
	hub_port = hub.port;
	leaf_port = leaf.port;
	int ports[2] = { hub_port, leaf_port };
	const char *users[2] = { "import_mirror", "import_client" };
	for (int i = 0; i < 2; i++) {
		char url[128];
		natsConnection *nc = NULL;
		natsOptions *o = NULL;
		long long end = harness_now_ms() + LINK_WAIT_MS;
		natsStatus s;
		snprintf(url, sizeof(url), "nats://%s:%s@127.0.0.1:%d", users[i],
			 users[i], ports[i]);
		ck_assert_int_eq(natsOptions_Create(&o), NATS_OK);
		ck_assert_int_eq(natsOptions_SetURL(o, url), NATS_OK);
		ck_assert_int_eq(natsOptions_SetMaxReconnect(o, 0), NATS_OK);
		do {
			s = natsConnection_Connect(&nc, o);
			if (s != NATS_OK)
				harness_sleep_ms(100);
		} while (s != NATS_OK && harness_now_ms() < end);
		natsOptions_Destroy(o);
		ck_assert_msg(s == NATS_OK, "user %s after the reload: %s",
			      users[i], natsStatus_GetText(s));
		natsConnection_Destroy(nc);
	}
}

/* Step 5: a mirror in account IMPORT_MIRROR of ACC's aggregate stream. */
static void walkthrough_import_mirror(void)
{
	natsConnection *nc = connect_as(hub_port, "import_mirror");
	jsCtx *js = js_for(nc, "hub", NULL);
	add_copy(js, "aggregate-test-leaf-from-acc", true, "aggregate-test-leaf",
		 "JS.acc@hub.API",
		 "deliver.acc.hub.import_mirror.hub.aggregate-test-leaf-from-acc");
	wait_stream(js, "aggregate-test-leaf-from-acc", 1, 98);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* Step 6: the durable pull consumer dur, read from the leaf by
 * import_client through JS.acc@hub.API, and acked back. */
static void walkthrough_import_client(void)
{
	natsConnection *acc = connect_as(hub_port, "acc");
	jsCtx *js = js_for(acc, "hub", NULL);
	jsConsumerConfig cc;
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	jsConsumerConfig_Init(&cc);
	cc.Durable = "dur";
	cc.AckPolicy = js_AckExplicit;
	cc.DeliverPolicy = js_DeliverAll;
	ck_assert_int_eq(js_AddConsumer(&ci, js, "aggregate-test-leaf", &cc,
					NULL, &jerr), NATS_OK);
	ck_assert_uint_eq(ci->NumPending, 1);
	jsConsumerInfo_Destroy(ci);

	natsConnection *nc = connect_as(leaf_port, "import_client");
	natsMsg *m = NULL;
	natsStatus s = NATS_TIMEOUT;
	long long end = harness_now_ms() + LINK_WAIT_MS;
	while (s != NATS_OK && harness_now_ms() < end)
		s = natsConnection_RequestString(&m, nc,
			"JS.acc@hub.API.CONSUMER.MSG.NEXT.aggregate-test-leaf.dur",
			"1", 2000);
	ck_assert_msg(s == NATS_OK, "MSG.NEXT from the leaf: %s",
		      natsStatus_GetText(s));
	ck_assert_str_eq(natsMsg_GetSubject(m), "test");
	ck_assert_int_eq(natsMsg_GetDataLength(m), 11);
	ck_assert(memcmp(natsMsg_GetData(m), "hello world", 11) == 0);
	const char *reply = natsMsg_GetReply(m);
	ck_assert_ptr_nonnull(reply);
	ck_assert(strncmp(reply, "$JS.ACK.aggregate-test-leaf.dur.1.1.1.", 38) == 0);
	ck_assert_int_eq(natsConnection_PublishString(nc, reply, "+ACK"), NATS_OK);
	ck_assert_int_eq(natsConnection_Flush(nc), NATS_OK);
	natsMsg_Destroy(m);

	/* The ack reached the consumer in hub. */
	end = harness_now_ms() + COPY_WAIT_MS;
	uint64_t floor = 0;
	int64_t ack_pending = -1;
	while (harness_now_ms() < end) {
		ck_assert_int_eq(js_GetConsumerInfo(&ci, js, "aggregate-test-leaf",
						    "dur", NULL, &jerr), NATS_OK);
		floor = ci->AckFloor.Stream;
		ack_pending = ci->NumAckPending;
		jsConsumerInfo_Destroy(ci);
		if (floor == 1 && ack_pending == 0)
			break;
		harness_sleep_ms(100);
	}
	ck_assert_uint_eq(floor, 1);
	ck_assert_int_eq(ack_pending, 0);
	natsConnection_Destroy(nc);
	jsCtx_Destroy(js);
	natsConnection_Destroy(acc);
}

START_TEST(test_walkthrough)
{
	start_pair(_i);
	walkthrough_same_account();
	reload_with_imports(_i);
	walkthrough_import_mirror();
	walkthrough_import_client();
	stop_pair();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("leaf_walkthrough");
	TCase *tc = tcase_create("leaf_walkthrough");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_walkthrough, 0, NPAIRS);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
