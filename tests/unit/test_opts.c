/*
 * test_opts.c - options: defaults, durations, the mapping from a parsed
 * config to struct opts (server/core/opts.c), and the docs' leaf-domains
 * configs read from tests/unit/conf_data through a small stdio conf_io.
 *
 * Accept/reject expectations were checked with `nats-server -t` (2.9.10);
 * the few deliberate differences are noted where they are tested.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/opts.h"
#include "env/env.h"

#define SEC 1000000000LL
#define MIN (60 * SEC)

/* ---- a conf_io over real files (tests may use the OS) ---- */

static int stdio_read(void *arg, struct mem *mem, const char *path, char **data, size_t *len)
{
	(void)arg;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return ENV_ENOENT;
	char *p = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n == cap) {
			char *q = mem_realloc(mem, p, cap = cap ? cap * 2 : 4096);
			if (q == NULL) {
				mem_free(mem, p);
				fclose(f);
				return ENV_ENOMEM;
			}
			p = q;
		}
		size_t got = fread(p + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	*data = p;
	*len = n;
	return 0;
}

static const char *no_env(void *arg, const char *name)
{
	(void)arg;
	(void)name;
	return NULL;
}

static const struct conf_io g_io = { stdio_read, no_env, NULL };

/* The data folder sits next to this file; tests run from the source tree
 * or from a build folder inside it. */
static const char *data_dir(void)
{
	static char dir[512];
	const char *candidates[] = { NULL, "tests/unit/conf_data", "../tests/unit/conf_data",
				     "../../tests/unit/conf_data" };
	const char *slash = strrchr(__FILE__, '/');
	char probe[600];
	snprintf(dir, sizeof(dir), "%.*sconf_data", slash ? (int)(slash - __FILE__ + 1) : 0,
		 __FILE__);
	candidates[0] = dir;
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		snprintf(probe, sizeof(probe), "%s/hub.conf", candidates[i]);
		FILE *f = fopen(probe, "rb");
		if (f != NULL) {
			fclose(f);
			if (candidates[i] != dir)
				snprintf(dir, sizeof(dir), "%s", candidates[i]);
			return dir;
		}
	}
	ck_abort_msg("conf_data folder not found");
	return NULL;
}

/* ---- fixture ---- */

static struct mem g_mem;
static struct buf g_err;
static struct conf_doc g_doc;
static struct opts g_o;

static void setup(void)
{
	mem_init(&g_mem);
	buf_init(&g_err, &g_mem);
	memset(&g_doc, 0, sizeof(g_doc));
	opts_defaults(&g_o);
}

static void teardown(void)
{
	opts_free(&g_o, &g_mem);
	conf_doc_free(&g_doc);
	buf_free(&g_err);
	ck_assert_uint_eq(g_mem.live_bytes, 0);
}

/* Parses text as "t.conf" and applies it to fresh defaults. */
static int apply(const char *text)
{
	opts_free(&g_o, &g_mem);
	opts_defaults(&g_o);
	conf_doc_free(&g_doc);
	buf_reset(&g_err);
	if (conf_parse_text(&g_doc, &g_mem, &g_io, "t.conf", text, strlen(text), &g_err) < 0)
		return -1;
	return opts_from_conf(&g_o, &g_mem, &g_doc, &g_err);
}

static void apply_ok(const char *text)
{
	ck_assert_msg(apply(text) == 0, "failed: %s\n---\n%s", g_err.data, text);
}

static void apply_err(const char *text, const char *want)
{
	ck_assert_msg(apply(text) < 0, "accepted, expected \"%s\"\n---\n%s", want, text);
	ck_assert_msg(strstr(g_err.data, want) != NULL, "error \"%s\" lacks \"%s\"",
		      g_err.data, want);
}

static void apply_file(const char *name)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/%s", data_dir(), name);
	opts_free(&g_o, &g_mem);
	opts_defaults(&g_o);
	conf_doc_free(&g_doc);
	ck_assert_msg(conf_parse_file(&g_doc, &g_mem, &g_io, path, &g_err) == 0, "%s: %s", path,
		      g_err.data);
	ck_assert_msg(opts_from_conf(&g_o, &g_mem, &g_doc, &g_err) == 0, "%s: %s", path,
		      g_err.data);
}

static bool has_unsupported(const char *key)
{
	for (size_t i = 0; i < g_o.n_unsupported; i++) {
		if (strcmp(g_o.unsupported[i].key, key) == 0)
			return true;
	}
	return false;
}

static const struct opts_user *find_user(const char *name)
{
	for (size_t i = 0; i < g_o.n_users; i++) {
		if (g_o.users[i].user != NULL && strcmp(g_o.users[i].user, name) == 0)
			return &g_o.users[i];
	}
	ck_abort_msg("no user %s", name);
	return NULL;
}

static const struct opts_account *find_account(const char *name)
{
	for (size_t i = 0; i < g_o.n_accounts; i++) {
		if (strcmp(g_o.accounts[i].name, name) == 0)
			return &g_o.accounts[i];
	}
	ck_abort_msg("no account %s", name);
	return NULL;
}

/* ---- defaults and durations ---- */

START_TEST(test_defaults)
{
	ck_assert_int_eq(g_o.port, 4222);
	ck_assert_str_eq(g_o.host, "0.0.0.0");
	ck_assert_int_eq(g_o.max_payload, 1048576);
	ck_assert_int_eq(g_o.max_control_line, 4096);
	ck_assert_int_eq(g_o.max_pending, 64 * 1024 * 1024);
	ck_assert_int_eq(g_o.max_connections, 65536);
	ck_assert_int_eq(g_o.ping_interval_ns, 2 * MIN);
	ck_assert_int_eq(g_o.ping_max, 2);
	ck_assert_int_eq(g_o.write_deadline_ns, 10 * SEC);
	ck_assert_int_eq(g_o.auth_timeout_ns, 2 * SEC);
	ck_assert_int_eq(g_o.lame_duck_duration_ns, 2 * MIN);
	ck_assert_int_eq(g_o.lame_duck_grace_period_ns, 10 * SEC);
	ck_assert_int_eq(g_o.max_closed_clients, 10000);
	ck_assert(g_o.logtime);
	ck_assert_int_eq(g_o.jetstream.max_memory, -1);
	ck_assert_int_eq(g_o.jetstream.max_store, -1);
	ck_assert(!g_o.jetstream.enabled);
	ck_assert_int_eq(g_o.leafnodes.reconnect_delay_ns, SEC);
	ck_assert_int_eq(g_o.default_permissions.responses_max, 1);
	ck_assert_int_eq(g_o.default_permissions.responses_expires_ns, 2 * MIN);
	ck_assert_ptr_eq(g_o.leafnodes.host, NULL);
	ck_assert_int_eq(g_o.n_users, 0);
	/* Freeing defaults is fine, and strings can be replaced. */
	ck_assert_int_eq(opts_set_string(&g_mem, &g_o.host, "127.0.0.1"), 0);
	ck_assert_str_eq(g_o.host, "127.0.0.1");
}
END_TEST

START_TEST(test_parse_duration)
{
	static const struct { const char *s; int64_t ns; } ok[] = {
		{ "0", 0 }, { "2m", 2 * MIN }, { "30s", 30 * SEC }, { "1h30m", 90 * MIN },
		{ "500ms", 500000000 }, { "1.5s", 1500000000 }, { ".5s", 500000000 },
		{ "1us", 1000 }, { "1\xc2\xb5s", 1000 }, { "3ns", 3 }, { "-1m", -MIN },
		{ "+2s", 2 * SEC }, { "1h1m1s1ms1us1ns", 3661001001001LL }, { "0.1h", 6 * MIN },
		{ "2562047h", 2562047LL * 60 * MIN },
	};
	static const char *const bad[] = {
		"", "1", "s", "2x", "1.s5", "-", ".", "1m ", " 1m", "9999999999999h", "1d",
		"--1s",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t ns = 12345;
		ck_assert_msg(opts_parse_duration(ok[i].s, &ns) == 0, "%s rejected", ok[i].s);
		ck_assert_msg(ns == ok[i].ns, "%s gave %lld", ok[i].s, (long long)ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ns;
		ck_assert_msg(opts_parse_duration(bad[i], &ns) < 0, "\"%s\" accepted", bad[i]);
	}
	ck_assert_int_lt(opts_parse_duration(NULL, &(int64_t){ 0 }), 0);
}
END_TEST

START_TEST(test_durations_in_config)
{
	apply_ok("ping_interval: \"30s\"\nwrite_deadline: \"1m\"\n");
	ck_assert_int_eq(g_o.ping_interval_ns, 30 * SEC);
	ck_assert_int_eq(g_o.write_deadline_ns, MIN);
	ck_assert_int_eq(g_o.n_warnings, 0);
	/* The gotcha: unquoted 2m is the integer 2000000, read as seconds. */
	apply_ok("ping_interval: 2m\n");
	ck_assert_int_eq(g_o.ping_interval_ns, 2000000LL * SEC);
	ck_assert_int_eq(g_o.n_warnings, 1);
	ck_assert_str_eq(g_o.warnings[0], "t.conf:1:1: invalid use of field \"ping_interval\": "
			 "ping_interval should be converted to a duration");
	apply_ok("write_deadline: 5\n");
	ck_assert_int_eq(g_o.write_deadline_ns, 5 * SEC);
	ck_assert_int_eq(g_o.n_warnings, 1);
	apply_err("ping_interval: \"3x\"\n", "t.conf:1:1: error parsing ping_interval: "
		  "time: invalid duration \"3x\"");
	apply_err("ping_interval: true\n", "expected a duration");
	apply_ok("lame_duck_duration: \"1m\"\nlame_duck_grace_period: \"5s\"\n");
	ck_assert_int_eq(g_o.lame_duck_duration_ns, MIN);
	ck_assert_int_eq(g_o.lame_duck_grace_period_ns, 5 * SEC);
	apply_err("lame_duck_duration: \"10s\"\n", "minimum is 30 seconds");
	apply_err("lame_duck_grace_period: \"-1s\"\n", "needs to be positive");
	apply_err("lame_duck_duration: 60\n", "expected a duration");
}
END_TEST

/* ---- top level ---- */

START_TEST(test_listen_and_aliases)
{
	apply_ok("listen: 127.0.0.1:4333\n");
	ck_assert_str_eq(g_o.host, "127.0.0.1");
	ck_assert_int_eq(g_o.port, 4333);
	apply_ok("listen: \"[::1]:4444\"\n");
	ck_assert_str_eq(g_o.host, "::1");
	apply_ok("listen: 5555\n");
	ck_assert_str_eq(g_o.host, "0.0.0.0");
	ck_assert_int_eq(g_o.port, 5555);
	apply_err("listen: \"a:b:c\"\n", "could not parse address string \"a:b:c\"");
	apply_err("listen: \"host:port\"\n", "could not parse port \"port\"");
	apply_ok("net: 10.0.0.1\nPORT: -1\nMax_Conn: 10\nmax_subs: 5\nmonitor_port: 8222\n"
		 "logfile: /tmp/x.log\npidfile: /tmp/x.pid\nno_sys_acc: true\nsystem: SYS\n"
		 "no_sublist_cache: true\nmax_subscription_tokens: 12\n");
	ck_assert_str_eq(g_o.host, "10.0.0.1");
	ck_assert_int_eq(g_o.port, -1);
	ck_assert_int_eq(g_o.max_connections, 10);
	ck_assert_int_eq(g_o.max_subscriptions, 5);
	ck_assert_int_eq(g_o.http_port, 8222);
	ck_assert_str_eq(g_o.log_file, "/tmp/x.log");
	ck_assert_str_eq(g_o.pid_file, "/tmp/x.pid");
	ck_assert(g_o.no_system_account);
	ck_assert_str_eq(g_o.system_account, "SYS");
	ck_assert(g_o.disable_sublist_cache);
	ck_assert_int_eq(g_o.max_sub_tokens, 12);
	apply_err("port: 70000\n", "out of range");
	apply_err("port: \"4222\"\n", "t.conf:1:1: \"port\": expected an integer, got a string");
}
END_TEST

START_TEST(test_top_level_values)
{
	apply_ok("server_name: hub\nserver_tags: [a, \"b c\"]\nclient_advertise: \"x:4222\"\n"
		 "max_payload: 2MB\nmax_control_line: 8kb\nmax_pending: 100MB\nping_max: 5\n"
		 "debug: true\ntrace_verbose: true\nlogtime: false\nno_header_support: yes\n"
		 "http: \"127.0.0.1:8222\"\nhttp_base_path: /nats\nconnect_error_reports: 7\n"
		 "reconnect_error_reports: 8\nmax_traced_msg_len: 9\nlog_size_limit: 1k\n"
		 "max_closed_clients: 5\nlogtime_utc: true\n");
	ck_assert_str_eq(g_o.server_name, "hub");
	ck_assert_int_eq(g_o.n_server_tags, 2);
	ck_assert_str_eq(g_o.server_tags[1], "b c");
	ck_assert_str_eq(g_o.client_advertise, "x:4222");
	ck_assert_int_eq(g_o.max_payload, 2 * 1048576);
	ck_assert_int_eq(g_o.max_control_line, 8192);
	ck_assert_int_eq(g_o.max_pending, 100 * 1048576);
	ck_assert_int_eq(g_o.ping_max, 5);
	ck_assert(g_o.debug && g_o.trace && g_o.trace_verbose && !g_o.logtime);
	ck_assert(g_o.no_header_support && g_o.logtime_utc);
	ck_assert_str_eq(g_o.http_host, "127.0.0.1");
	ck_assert_int_eq(g_o.http_port, 8222);
	ck_assert_str_eq(g_o.http_base_path, "/nats");
	ck_assert_int_eq(g_o.connect_error_reports, 7);
	ck_assert_int_eq(g_o.reconnect_error_reports, 8);
	ck_assert_int_eq(g_o.max_traced_msg_len, 9);
	ck_assert_int_eq(g_o.log_size_limit, 1000);
	ck_assert_int_eq(g_o.max_closed_clients, 5);
	apply_ok("server_tags: one\n");
	ck_assert_int_eq(g_o.n_server_tags, 1);
	apply_err("server_tags: [1]\n", "error parsing tags");
	apply_err("max_payload: 3000000000\n", "max_payload value is too big");
	apply_err("max_sub_tokens: 300\n", "max_sub_tokens value is too big");
	apply_err("max_sub_tokens: 0\n", "can not be negative");
	/* Explicit zeros mean "default", as in the reference. */
	apply_ok("max_payload: 0\nport: 0\nping_interval: \"0s\"\n");
	ck_assert_int_eq(g_o.max_payload, 1048576);
	ck_assert_int_eq(g_o.port, 4222);
	ck_assert_int_eq(g_o.ping_interval_ns, 2 * MIN);
}
END_TEST

START_TEST(test_unknown_fields)
{
	apply_err("port: 1\nbogus: 2\n", "t.conf:2:1: unknown field \"bogus\"");
	apply_err("jetstream { bogus: 1 }\n", "t.conf:1:13: unknown field \"bogus\"");
	apply_err("jetstream { limits { bogus: 1 } }\n", "unknown field \"bogus\"");
	apply_err("cluster { bogus: 1 }\n", "unknown field \"bogus\"");
	apply_err("gateway { bogus: 1 }\n", "unknown field \"bogus\"");
	apply_err("leafnodes { bogus: 1 }\n", "unknown field \"bogus\"");
	apply_err("leafnodes { remotes: [ {url: \"nats://h\", bogus: 1} ] }\n",
		  "unknown field \"bogus\"");
	apply_err("leafnodes { authorization { users: [ {user: a, bogus: 1} ] } }\n",
		  "unknown field \"bogus\"");
	apply_err("accounts { A { bogus: 1 } }\n", "unknown field \"bogus\"");
	apply_err("accounts { A { limits { bogus: 1 } } }\n",
		  "Unknown field \"bogus\" parsing account limits");
	apply_err("authorization { bogus: 1 }\n", "unknown field \"bogus\"");
	apply_err("authorization { users: [ {user: a, bogus: 1} ] }\n", "unknown field \"bogus\"");
	apply_err("authorization { users: [ {user: a, permissions: {bogus: x}} ] }\n",
		  "Unknown field \"bogus\" parsing permissions");
	apply_err("websocket { bogus: 1 }\n", "unknown field \"bogus\"");
	apply_err("mqtt { bogus: 1 }\n", "unknown field \"bogus\"");
	apply_err("tls { bogus: 1 }\n", "error parsing tls config, unknown field [\"bogus\"]");
	/* 2.10 options are unknown to 2.9.10 too. */
	apply_err("leafnodes { compression: s2_auto }\n", "unknown field \"compression\"");
	/* Keys used as variables are not unknown fields, at any level. */
	apply_ok("PORT_VAR = 4333\nport: $PORT_VAR\n");
	ck_assert_int_eq(g_o.port, 4333);
	apply_ok("jetstream { DIR = \"/x\"\n store_dir: $DIR }\n");
	ck_assert_str_eq(g_o.jetstream.store_dir, "/x");
	apply_ok("accounts { T = 5\n A { limits { max_conn: $T } } }\n");
	ck_assert_int_eq(find_account("A")->max_connections, 5);
	ck_assert_int_eq(g_o.n_accounts, 1);
	/* Option names ignore case. */
	apply_ok("Server_Name: x\nJETSTREAM { Store_Dir: \"/y\" }\n");
	ck_assert_str_eq(g_o.server_name, "x");
	ck_assert_str_eq(g_o.jetstream.store_dir, "/y");
}
END_TEST

START_TEST(test_duplicates_last_wins)
{
	apply_ok("port: 1\nport: 2\nleafnodes { port: 3\nport: 4 }\n");
	ck_assert_int_eq(g_o.port, 2);
	ck_assert_int_eq(g_o.leafnodes.port, 4);
	/* A bad value that is overridden later is never looked at. */
	apply_ok("port: \"x\"\nport: 5\n");
	ck_assert_int_eq(g_o.port, 5);
}
END_TEST

START_TEST(test_unsupported_list)
{
	apply_ok("port: 4222\ntls { cert_file: a, key_file: b, timeout: 2 }\n"
		 "cluster { name: c, port: 6222, routes: [\"nats://a:6222\"], tls { cert_file: x, "
		 "key_file: y } }\n"
		 "jetstream { key: s3cr3t, cipher: aes }\nsyslog: true\nprof_port: 6060\n"
		 "leafnodes { remotes: [ {url: \"nats://h\", tls { ca_file: x }} ] }\n"
		 "accounts { A { exports: [\n"
		 "  {service: s, latency: {sampling: 50%, subject: l}} ] } }\n"
		 "websocket { port: 8080, no_tls: true }\nmqtt { port: 1883 }\n"
		 "lame_duck_duration: \"1m\"\n");
	static const char *const want[] = {
		"tls", "cluster", "jetstream.key", "jetstream.cipher", "syslog", "prof_port",
		"leafnodes.remotes.tls", "accounts.exports.latency", "websocket", "mqtt",
		"lame_duck_duration",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(has_unsupported(want[i]), "%s not reported", want[i]);
	/* Covered by the enclosing block: reported once. */
	ck_assert(!has_unsupported("cluster.tls"));
	ck_assert_int_eq(g_o.n_unsupported, sizeof(want) / sizeof(want[0]));
	ck_assert_str_eq(g_o.unsupported[0].file, "t.conf");
	ck_assert_int_eq(g_o.unsupported[0].line, 2);
	/* Parsed anyway, for when routes arrive. */
	ck_assert_str_eq(g_o.cluster.name, "c");
	ck_assert_int_eq(g_o.cluster.port, 6222);
	ck_assert_str_eq(g_o.cluster.host, "0.0.0.0");
	ck_assert_int_eq(g_o.cluster.n_routes, 1);
	/* Implemented options are not reported. */
	apply_ok("port: 1\njetstream { store_dir: x }\nleafnodes { port: 7422 }\n");
	ck_assert_int_eq(g_o.n_unsupported, 0);
	apply_err("tls { cert_file: a }\n", "missing 'key_file' in TLS configuration");
}
END_TEST

/* ---- authorization, users, permissions ---- */

START_TEST(test_authorization_single)
{
	apply_ok("authorization { user: alice, password: secret, timeout: 0.5 }\n");
	ck_assert_str_eq(g_o.username, "alice");
	ck_assert_str_eq(g_o.password, "secret");
	ck_assert_int_eq(g_o.auth_timeout_ns, 500000000);
	apply_ok("authorization { token: \"s3cr3t\", timeout: 3 }\n");
	ck_assert_str_eq(g_o.authorization_token, "s3cr3t");
	ck_assert_int_eq(g_o.auth_timeout_ns, 3 * SEC);
	apply_ok("authorization { username: a, pass: b }\n");
	ck_assert_str_eq(g_o.password, "b");
	apply_err("authorization { user: a, token: b }\n", "Cannot have a user/pass and token");
	apply_err("authorization { user: x, users: [ {user: a} ] }\n",
		  "Can not have a single user/pass and a users array");
	apply_err("authorization { token: x, users: [ {user: a} ] }\n",
		  "Can not have a token and a users array");
	apply_err("authorization { user: x }\naccounts { A { users: [ {user: a} ] } }\n",
		  "Can not have a single user/pass and accounts");
}
END_TEST

START_TEST(test_users_and_permissions)
{
	apply_ok("authorization {\n"
		 "  default_permissions: { publish: \">\", subscribe: \"_INBOX.>\" }\n"
		 "  users: [\n"
		 "    {user: bob, password: \"$2a$11$abc\", permissions: {\n"
		 "       publish: {allow: [\"req.>\", \"_INBOX.>\"], deny: [\"secret.>\"]}\n"
		 "       subscribe: [\"_INBOX.>\", \"events.*\", \"work q1\"]\n"
		 "       allow_responses: true }}\n"
		 "    {user: carol, password: c}\n"
		 "    {user: dave, permissions: { pub: x, sub: {deny: y},\n"
		 "       allow_responses: {max: 5, expires: \"1m\"} }}\n"
		 "    {user: erin, permissions: { allow_responses: true }}\n"
		 "    {nkey: UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4}\n"
		 "    {user: fred, allowed_connection_types: [\"standard\", \"LEAFNODE\"]}\n"
		 "  ]\n}\n");
	ck_assert_int_eq(g_o.n_users, 6);
	const struct opts_user *bob = find_user("bob");
	ck_assert_ptr_eq(bob->account, NULL);
	ck_assert_str_eq(bob->password, "$2a$11$abc");
	ck_assert(bob->perms.set && bob->perms.allow_responses);
	ck_assert_int_eq(bob->perms.publish.allow.n, 2);
	ck_assert_str_eq(bob->perms.publish.deny.items[0], "secret.>");
	ck_assert_int_eq(bob->perms.subscribe.allow.n, 3);
	ck_assert_str_eq(bob->perms.subscribe.allow.items[2], "work q1");
	ck_assert_int_eq(bob->perms.responses_max, 1);
	ck_assert_int_eq(bob->perms.responses_expires_ns, 2 * MIN);
	ck_assert_str_eq(bob->file, "t.conf");
	ck_assert_int_eq(bob->line, 4);
	/* carol has no permissions of her own: she gets the defaults. */
	const struct opts_user *carol = find_user("carol");
	ck_assert(carol->perms.set);
	ck_assert_str_eq(carol->perms.publish.allow.items[0], ">");
	ck_assert_str_eq(carol->perms.subscribe.allow.items[0], "_INBOX.>");
	ck_assert_str_eq(g_o.default_permissions.publish.allow.items[0], ">");
	const struct opts_user *dave = find_user("dave");
	ck_assert_str_eq(dave->perms.publish.allow.items[0], "x");
	ck_assert(dave->perms.subscribe.set && !dave->perms.subscribe.allow_set);
	ck_assert_str_eq(dave->perms.subscribe.deny.items[0], "y");
	ck_assert_int_eq(dave->perms.responses_max, 5);
	ck_assert_int_eq(dave->perms.responses_expires_ns, MIN);
	/* allow_responses alone turns off the blanket publish allow. */
	const struct opts_user *erin = find_user("erin");
	ck_assert(erin->perms.publish.set && erin->perms.publish.allow_set);
	ck_assert_int_eq(erin->perms.publish.allow.n, 0);
	const struct opts_user *nk = &g_o.users[4];
	ck_assert_ptr_eq(nk->user, NULL);
	ck_assert_str_eq(nk->nkey, "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4");
	const struct opts_user *fred = find_user("fred");
	ck_assert_int_eq(fred->n_allowed_connection_types, 2);
	ck_assert_str_eq(fred->allowed_connection_types[0], "STANDARD");
}
END_TEST

START_TEST(test_user_errors)
{
	apply_err("authorization { users: [ {user: a}, {user: a} ] }\n",
		  "t.conf:1: Duplicate user \"a\" detected");
	apply_err("authorization { users: [ {password: b} ] }\n", "User entry requires a user");
	apply_err("authorization { users: [ {nkey: UBAD} ] }\n",
		  "Not a valid public nkey for a user");
	apply_err("authorization { users: [ {nkey: "
		  "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF5} ] }\n",
		  "Not a valid public nkey for a user");
	apply_err("authorization { users: [ {nkey: "
		  "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4, user: a} ] }\n",
		  "Nkey users do not take usernames or passwords");
	apply_err("authorization { users: [ {user: a, allowed_connection_types: [BOGUS]} ] }\n",
		  "invalid connection types [\"BOGUS\"]");
	apply_err("authorization { users: [ {user: a, permissions: {publish: \"a..b\"}} ] }\n",
		  "subject \"a..b\" is not a valid subject");
	apply_err("authorization { users: [ {user: a, permissions: {sub: \"a b c\"}} ] }\n",
		  "is not a valid subject");
	apply_err("authorization { users: [ {user: a, permissions: {sub: [1]}} ] }\n",
		  "cannot be cast to string");
	apply_err("authorization { users: [ {user: a, permissions: {pub: {allow: a, x: b}}} ] }\n",
		  "only 'allow' or 'deny' are permitted");
	apply_err("authorization { users: [ {user: a, permissions: "
		  "{allow_responses: {expires: 60}}} ] }\n", "not a duration string");
	apply_err("authorization { users: {user: a} }\n", "Expected users field to be an array");
	apply_err("accounts { A { users: [ {user: a} ] }, B { users: [ {user: a} ] } }\n",
		  "Duplicate user \"a\" detected");
	apply_err("no_auth_user: a\n", "users are not defined");
	apply_ok("authorization { users: [ {user: a} ] }\nno_auth_user: a\n");
	ck_assert_str_eq(g_o.no_auth_user, "a");
}
END_TEST

/* ---- accounts ---- */

START_TEST(test_accounts)
{
	apply_ok("accounts {\n"
		 "  A: {\n"
		 "    users: [ {user: a, password: a} ]\n"
		 "    jetstream: enabled\n"
		 "    exports: [\n"
		 "      {stream: \"events.>\"}\n"
		 "      {service: \"svc.*\", response_type: \"stream\", accounts: [B]}\n"
		 "      {service: \"chunk\", response: chunked, response_threshold: \"5s\"}\n"
		 "    ]\n"
		 "    mappings: { \"x\": \"y\" }\n"
		 "    default_permissions: { publish: \"a.>\" }\n"
		 "    limits: { max_conn: 10, max_subs: 11, max_payload: 12, max_leafs: 13 }\n"
		 "  }\n"
		 "  B: {\n"
		 "    users: [ {user: b, password: b, permissions: {publish: \"own\"}} ]\n"
		 "    jetstream: { max_mem: 1G, max_store: 2G, streams: 3, consumers: 4,\n"
		 "                 max_bytes_required: true }\n"
		 "    imports: [\n"
		 "      {stream: {account: A, subject: \"events.>\"}, prefix: \"fromA\"}\n"
		 "      {service: {account: A, subject: \"svc.*\"}, to: \"a.svc.*\"}\n"
		 "      {service: {account: A, subject: \"chunk\"}}\n"
		 "    ]\n"
		 "  }\n"
		 "  $SYS: { users: [ {user: sys, password: sys} ] }\n"
		 "}\nsystem_account: \"$SYS\"\n");
	ck_assert_int_eq(g_o.n_accounts, 3);
	const struct opts_account *a = find_account("A"), *b = find_account("B");
	ck_assert(a->jetstream);
	ck_assert_int_eq(a->js_limits.max_memory, -1);
	ck_assert_int_eq(a->n_exports, 3);
	ck_assert_int_eq(a->exports[0].kind, OPTS_EXPORT_STREAM);
	ck_assert_int_eq(a->exports[0].n_accounts, 0);
	ck_assert_int_eq(a->exports[1].kind, OPTS_EXPORT_SERVICE);
	ck_assert_int_eq(a->exports[1].response_type, OPTS_RESPONSE_STREAM);
	ck_assert_str_eq(a->exports[1].accounts[0], "B");
	ck_assert_int_eq(a->exports[2].response_type, OPTS_RESPONSE_CHUNKED);
	ck_assert_int_eq(a->exports[2].response_threshold_ns, 5 * SEC);
	ck_assert_int_eq(a->n_mappings, 1);
	ck_assert_str_eq(a->mappings[0].dests[0].subject, "y");
	ck_assert_int_eq(a->max_connections, 10);
	ck_assert_int_eq(a->max_subscriptions, 11);
	ck_assert_int_eq(a->max_payload, 12);
	ck_assert_int_eq(a->max_leafnodes, 13);
	ck_assert_str_eq(find_user("a")->account, "A");
	ck_assert_str_eq(find_user("a")->perms.publish.allow.items[0], "a.>");
	ck_assert(b->jetstream);
	ck_assert_int_eq(b->js_limits.max_memory, 1000000000);
	ck_assert_int_eq(b->js_limits.max_store, 2000000000);
	ck_assert_int_eq(b->js_limits.max_streams, 3);
	ck_assert_int_eq(b->js_limits.max_consumers, 4);
	ck_assert(b->js_limits.max_bytes_required);
	ck_assert_int_eq(b->n_imports, 3);
	ck_assert_str_eq(b->imports[0].prefix, "fromA");
	ck_assert_int_eq(b->imports[1].kind, OPTS_EXPORT_SERVICE);
	ck_assert_str_eq(b->imports[1].to, "a.svc.*");
	ck_assert_str_eq(b->imports[2].to, "chunk");   /* to defaults to the subject */
	ck_assert_str_eq(find_user("b")->account, "B");
	ck_assert_str_eq(find_user("sys")->account, "$SYS");
	ck_assert_str_eq(g_o.system_account, "$SYS");
	ck_assert_int_eq(find_account("$SYS")->max_connections, -1);
	apply_ok("accounts: [A, B]\n");
	ck_assert_int_eq(g_o.n_accounts, 2);
}
END_TEST

START_TEST(test_account_errors)
{
	apply_err("accounts { \"$G\" { } }\n", "t.conf:1:12: \"$G\" is a Reserved Account");
	apply_err("accounts [\"$G\"]\n", "\"$G\" is a Reserved Account");
	apply_err("accounts [A, A]\n", "Duplicate Account Entry: A");
	apply_err("accounts { A: 5 }\n", "Expected map entries for accounts");
	apply_err("accounts { A { nkey: ABC } }\n", "Not a valid public nkey for an account");
	apply_err("accounts { A {\n"
		  " nkey: AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPSAXJA } }",
		  "Not a valid public nkey for an account");   /* bad checksum */
	apply_ok("accounts { A {\n"
		 " nkey: AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPSAXJQ } }");
	ck_assert_str_eq(find_account("A")->nkey,
			 "AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPSAXJQ");
	apply_err("accounts { A { jetstream: maybe } }\n", "Expected 'enabled' or 'disabled'");
	apply_err("accounts { A { jetstream: { max_mem: \"1G\" } } }\n", "expected an integer");
	apply_err("accounts { A { exports: [ {stream: \"a.>\"} ] }, "
		  "B { imports: [ {stream: {account: A, subject: \"b.>\"}} ] } }\n",
		  "t.conf:1: Error adding stream import \"b.>\": stream import not authorized");
	apply_err("accounts { A { exports: [ {service: \"a.>\", accounts: [C]} ] }, "
		  "B { imports: [ {service: {account: A, subject: \"a.x\"}} ] }, C {} }\n",
		  "service import not authorized");
	apply_err("accounts { B { imports: [ {stream: {account: Z, subject: x}} ] } }\n",
		  "\"Z\" account not defined for stream import");
	apply_err("accounts { A { exports: [ {stream: x, accounts: [Z]} ] } }\n",
		  "\"Z\" account not defined for stream export");
	apply_err("accounts { A { exports: [ {stream: x, response_type: stream} ] } }\n",
		  "Detected response directive on non-service");
	apply_err("accounts { A { exports: [ {service: x, response_type: bogus} ] } }\n",
		  "Unknown response type: \"bogus\"");
	apply_err("accounts { A { exports: [ {service: x, latency: {sampling: 500, subject: l}} "
		  "] } }\n", "sampling");
	apply_err("accounts { A { exports: [ {service: \"a.>\"} ] }, B { imports: [ "
		  "{service: {account: A, subject: \"a.b\"}}, "
		  "{service: {account: A, subject: \"a.b\"}} ] } }\n",
		  "Duplicate service import subject \"a.b\"");
	apply_err("accounts { A { exports: [ {stream: \"a.>\"} ] }, B { imports: [ "
		  "{stream: {account: A}} ] } }\n", "Expect an account name and a subject");
	apply_err("accounts { A { exports: [ {stream: \"a.b\", account_token_position: 2} ] } }\n",
		  "account token position");
	/* Private exports with a token position bind the importer's name. */
	apply_ok("accounts { A { exports: [ {stream: \"a.*.x\", account_token_position: 2} ] }, "
		 "B { imports: [ {stream: {account: A, subject: \"a.B.x\"}} ] } }\n");
	apply_err("accounts { A { exports: [ {stream: \"a.*.x\", account_token_position: 2} ] }, "
		  "B { imports: [ {stream: {account: A, subject: \"a.C.x\"}} ] } }\n",
		  "not authorized");
}
END_TEST

START_TEST(test_mappings)
{
	apply_ok("mappings: {\n  \"orders.*\": \"orders.new.{{wildcard(1)}}\"\n"
		 "  weighted: [ {destination: \"w.a\", weight: 80%},\n"
		 "              {dest: \"w.b\", weight: 20} ]\n"
		 "  bar: [ {destination: \"bar.east\", weight: 100%, cluster: east} ]\n"
		 "  single: {destination: s, weight: \"40%\"}\n}\n");
	ck_assert_int_eq(g_o.n_mappings, 4);
	ck_assert_str_eq(g_o.mappings[0].source, "orders.*");
	ck_assert(g_o.mappings[0].dests[0].weight_percent == 100);
	ck_assert_int_eq(g_o.mappings[1].n_dests, 2);
	ck_assert(g_o.mappings[1].dests[0].weight_percent == 80);
	ck_assert_str_eq(g_o.mappings[1].dests[1].subject, "w.b");
	ck_assert_str_eq(g_o.mappings[2].dests[0].cluster, "east");
	ck_assert(g_o.mappings[3].dests[0].weight_percent == 40);
	apply_ok("maps: { a: b }\n");
	ck_assert_int_eq(g_o.n_mappings, 1);
	apply_err("mappings: { \"a..b\": c }\n", "Subject \"a..b\" is not a valid subject");
	apply_err("mappings: { a: [ {destination: b} ] }\n", "Missing weight");
	apply_err("mappings: { a: [ {destination: b, weight: 101} ] }\n", "Invalid weight 101");
	apply_err("mappings: { a: [ {destination: b, weight: 60},\n"
		  "  {destination: c, weight: 50} ] }\n",
		  "total weight needs to be <= 100");
	apply_err("mappings: { a: [ {destination: b, weight: 50, x: 1} ] }\n",
		  "Unknown field \"x\" for mapping destination");
}
END_TEST

/* ---- jetstream ---- */

START_TEST(test_jetstream)
{
	apply_ok("jetstream: enabled\n");
	ck_assert(g_o.jetstream.enabled && g_o.jetstream.set);
	apply_ok("jetstream: false\n");
	ck_assert(!g_o.jetstream.enabled && g_o.jetstream.set);
	apply_ok("jetstream: disabled\n");
	ck_assert(!g_o.jetstream.enabled);
	apply_ok("jetstream {\n store_dir: \"/data\"\n max_mem: 1G\n max_file: \"10G\"\n"
		 " domain: hub\n unique_tag: \" AZ \"\n extension_hint: will_extend\n"
		 " max_outstanding_catchup: 64MB\n"
		 " limits { max_ack_pending: 100, max_request_batch: 10, max_ha_assets: 5,\n"
		 "          duplicate_window: \"2m\" }\n}\n");
	const struct opts_jetstream *js = &g_o.jetstream;
	ck_assert(js->enabled);
	ck_assert_str_eq(js->store_dir, "/data");
	ck_assert_int_eq(js->max_memory, 1000000000);
	ck_assert_int_eq(js->max_store, 10LL << 30);
	ck_assert_str_eq(js->domain, "hub");
	ck_assert_str_eq(js->unique_tag, "az");
	ck_assert_str_eq(js->extension_hint, "will_extend");
	ck_assert_int_eq(js->max_outstanding_catchup, 64 << 20);
	ck_assert_int_eq(js->limits.max_ack_pending, 100);
	ck_assert_int_eq(js->max_request_batch, 10);
	ck_assert_int_eq(js->max_ha_assets, 5);
	ck_assert_int_eq(js->duplicate_window_ns, 2 * MIN);
	apply_ok("jetstream { enabled: false, store_dir: x }\n");
	ck_assert(!g_o.jetstream.enabled);
	apply_ok("jetstream { max_memory_store: 5, max_file_store: 6, store: y }\n");
	ck_assert_int_eq(g_o.jetstream.max_memory, 5);
	ck_assert_int_eq(g_o.jetstream.max_store, 6);
	apply_ok("jetstream { sync_interval: always }\n");
	ck_assert(g_o.jetstream.sync_always);
	apply_ok("jetstream { sync_interval: \"2s\" }\n");
	ck_assert_int_eq(g_o.jetstream.sync_interval_ns, 2 * SEC);
	apply_ok("storedir: \"/top\"\njetstream: true\n");
	ck_assert_str_eq(g_o.jetstream.store_dir, "/top");
	apply_err("store_dir: a\njetstream { store_dir: b }\n", "Duplicate 'store_dir'");
	apply_err("jetstream: maybe\n", "Expected 'enabled' or 'disabled'");
	apply_err("jetstream: 5\n", "Expected map, bool or string to define JetStream");
	apply_err("jetstream { max_mem: \"1X\" }\n", "must end in K, M, G, T");
	apply_err("jetstream { domain: \"a.b\" }\n", "invalid domain name");
	apply_err("jetstream { domain: \"a b\" }\n", "invalid domain name");
	apply_err("jetstream { cipher: rot13 }\n", "Unknown cipher type");
	apply_ok("default_js_domain: { ACC: hub, B: \"\" }\n");
	ck_assert_int_eq(g_o.n_default_js_domain, 2);
	ck_assert_str_eq(g_o.default_js_domain_accounts[0], "ACC");
	ck_assert_str_eq(g_o.default_js_domain_domains[0], "hub");
	apply_err("default_js_domain: { \"$SYS\": hub }\n", "can not be in default_js_domain");
	apply_err("default_js_domain: 5\n", "error default_js_domain config");
}
END_TEST

/* ---- leafnodes ---- */

START_TEST(test_leafnodes)
{
	apply_ok("leafnodes {\n  listen: \"127.0.0.1:7422\"\n  advertise: \"pub:7422\"\n"
		 "  no_advertise: true\n  reconnect: 5\n  min_version: \"2.9.0\"\n"
		 "  authorization { user: leaf, password: pw, account: ACC, timeout: 3 }\n"
		 "  remotes: [\n"
		 "    { urls: [\"nats-leaf://u:p@hub1:7422\", \"nats-leaf://hub2:7422\"]\n"
		 "      account: \"ACC\", credentials: \"/x.creds\",\n"
		 "      deny_imports: [\"private.>\"]\n"
		 "      deny_exports: \"local.>\", hub: true, no_randomize: true }\n"
		 "    { url: \"nats://h:7422\", local: B, creds: c, dont_randomize: false }\n"
		 "  ]\n}\naccounts { ACC {}, B {} }\n");
	const struct opts_leafnodes *ln = &g_o.leafnodes;
	ck_assert(ln->set);
	ck_assert_str_eq(ln->host, "127.0.0.1");
	ck_assert_int_eq(ln->port, 7422);
	ck_assert_str_eq(ln->advertise, "pub:7422");
	ck_assert(ln->no_advertise);
	ck_assert_int_eq(ln->reconnect_delay_ns, 5 * SEC);
	ck_assert_str_eq(ln->min_version, "2.9.0");
	ck_assert_str_eq(ln->auth_user, "leaf");
	ck_assert_str_eq(ln->auth_password, "pw");
	ck_assert_str_eq(ln->auth_account, "ACC");
	ck_assert_int_eq(ln->auth_timeout_ns, 3 * SEC);
	ck_assert_int_eq(ln->n_remotes, 2);
	const struct opts_remote_leaf *r = &ln->remotes[0];
	ck_assert_int_eq(r->n_urls, 2);
	ck_assert_str_eq(r->urls[1], "nats-leaf://hub2:7422");
	ck_assert_str_eq(r->account, "ACC");
	ck_assert_str_eq(r->credentials, "/x.creds");
	ck_assert_str_eq(r->deny_imports.items[0], "private.>");
	ck_assert_str_eq(r->deny_exports.items[0], "local.>");
	ck_assert(r->hub && r->no_randomize);
	ck_assert_int_eq(r->line, 9);
	r = &ln->remotes[1];
	ck_assert_int_eq(r->n_urls, 1);
	ck_assert_str_eq(r->account, "B");
	ck_assert_str_eq(r->credentials, "c");
	ck_assert(!r->hub && !r->no_randomize);
	/* leaf is an alias; a port alone gets the default host. */
	apply_ok("leaf { port: 7422 }\n");
	ck_assert_str_eq(g_o.leafnodes.host, "0.0.0.0");
	ck_assert_int_eq(g_o.leafnodes.reconnect_delay_ns, SEC);
	apply_ok("leafnodes { reconnect: \"250ms\" }\n");   /* beyond the reference */
	ck_assert_int_eq(g_o.leafnodes.reconnect_delay_ns, 250000000);
	apply_ok("leafnodes { authorization { users: [ {user: a, password: b, account: X},\n"
		 "  {user: c, password: d} ] } }\n");
	ck_assert_int_eq(g_o.leafnodes.n_users, 2);
	ck_assert_str_eq(g_o.leafnodes.users[0].account, "X");
	ck_assert_int_eq(g_o.n_users, 0);
	apply_ok("leafnodes { remotes: [ {urls: [\"nats://h\", \"nats://h\"]} ] }\n");
	ck_assert_int_eq(g_o.leafnodes.remotes[0].n_urls, 1);
	ck_assert_int_eq(g_o.n_warnings, 1);
	ck_assert_ptr_ne(strstr(g_o.warnings[0], "Duplicate leafnode entry detected"), NULL);
	apply_err("leafnodes { min_version: \"2.7.9\" }\n", "at least 2.8.0");
	apply_err("leafnodes { min_version: \"2.8\" }\n", "invalid leafnode's minimum version");
	apply_err("leafnodes { remotes: { url: x } }\n", "Expected remotes field to be an array");
	apply_err("leafnodes { remotes: [ x ] }\n", "Expected remote leafnode entry to be a map");
	apply_err("leafnodes { authorization { token: x } }\n", "unknown field \"token\"");
	apply_err("leafnodes { authorization { user: x, users: [ {user: a} ] } }\n",
		  "can not have a single user/pass and a users array");
	apply_err("leafnodes { authorization { users: [ {user: a}, {user: a} ] } }\n",
		  "duplicate user \"a\" detected in leafnode authorization");
	apply_err("leafnodes { remotes: [ {url: x, deny_imports: \"a..b\"} ] }\n",
		  "not a valid subject");
	apply_err("leafnodes: 5\n", "Expected map to define a leafnode");
}
END_TEST

START_TEST(test_cluster_gateway)
{
	apply_ok("cluster {\n name: C1\n listen: \"0.0.0.0:6222\"\n"
		 " routes: [\"nats-route://127.0.0.1:6222\", \"nats-route://u:p@h2:6222\"]\n"
		 " authorization { user: r, password: r, timeout: 2 }\n"
		 " cluster_advertise: \"h:6222\"\n no_advertise: true\n connect_retries: 10\n"
		 " permissions { import: \">\", export: [\"a\"] }\n}\n"
		 "gateway {\n name: east\n port: 7222\n gateways: [\n"
		 "  {name: west, urls: [\"nats://w1:7222\", \"nats://w2:7222\"]}\n"
		 "  {name: north, url: \"nats://n:7222\"}\n ]\n"
		 " reject_unknown_cluster: true\n}\n");
	ck_assert_str_eq(g_o.cluster.name, "C1");
	ck_assert_int_eq(g_o.cluster.port, 6222);
	ck_assert_int_eq(g_o.cluster.n_routes, 2);
	ck_assert_str_eq(g_o.cluster.auth_user, "r");
	ck_assert_str_eq(g_o.cluster.advertise, "h:6222");
	ck_assert(g_o.cluster.no_advertise);
	ck_assert_int_eq(g_o.cluster.connect_retries, 10);
	ck_assert_str_eq(g_o.gateway.name, "east");
	ck_assert_int_eq(g_o.gateway.n_gateways, 2);
	ck_assert_int_eq(g_o.gateway.gateways[0].n_urls, 2);
	ck_assert_str_eq(g_o.gateway.gateways[1].urls[0], "nats://n:7222");
	ck_assert(g_o.gateway.reject_unknown);
	ck_assert_str_eq(g_o.gateway.host, "0.0.0.0");
	ck_assert(has_unsupported("cluster") && has_unsupported("gateway"));
	apply_err("cluster { authorization { token: x } }\n",
		  "Cluster authorization does not support tokens");
	apply_err("cluster { authorization { users: [] } }\n",
		  "Cluster authorization does not allow multiple users");
	apply_err("cluster { permissions { allow_responses: true } }\n",
		  "do not support dynamic responses");
	apply_err("cluster { routes: \"x\" }\n", "expected an array of URLs");
	apply_err("gateway { authorization { token: x } }\n",
		  "Gateway authorization does not support tokens");
}
END_TEST

START_TEST(test_other_recognised_blocks)
{
	apply_ok("websocket { listen: \"0.0.0.0:8080\", no_tls: true, same_origin: false,\n"
		 "  allowed_origins: [\"http://x\"], handshake_timeout: \"2s\",\n"
		 "  compression: true,\n"
		 "  authorization { user: a, password: b, token: c, timeout: 2 },\n"
		 "  jwt_cookie: j, no_auth_user: n, advertise: a }\n"
		 "mqtt { port: 1883, ack_wait: \"30s\", max_ack_pending: 100, js_domain: d,\n"
		 "  stream_replicas: 1, consumer_replicas: 1, consumer_memory_storage: true }\n"
		 "operator: \"op.jwt\"\nresolver: MEMORY\nresolver_preload: { A: \"jwt\" }\n"
		 "trusted: [\"OAAACAQDAQCQMBYIBEFAWDANBYHRAEISCMKBKFQXDAMRUGY4DUPB7JSU\"]\n"
		 "ocsp: false\nallow_non_tls: true\nremote_syslog: \"udp://x:514\"\n"
		 "https: 8443\n");
	ck_assert(has_unsupported("websocket") && has_unsupported("mqtt"));
	ck_assert(has_unsupported("operator") && has_unsupported("resolver"));
	ck_assert(has_unsupported("trusted") && has_unsupported("https"));
	ck_assert_int_eq(g_o.https_port, 8443);
	apply_err("mqtt { max_ack_pending: 70000 }\n", "should in [0..65535] range");
	apply_err("trusted: \"x\"\n", "valid public operator nkey");
	apply_err("websocket: 5\n", "Expected websocket to be a map");
	apply_err("tls { pinned_certs: [\"abc\"] }\n", "does not look like hex-encoded sha256");
}
END_TEST

/* ---- the docs' leaf-domains configs ---- */

START_TEST(test_docs_hub)
{
	apply_file("hub.conf");
	ck_assert_int_eq(g_o.port, 4222);
	ck_assert_str_eq(g_o.server_name, "hub-server");
	ck_assert(g_o.jetstream.enabled);
	ck_assert_str_eq(g_o.jetstream.store_dir, "./store_server");
	ck_assert_str_eq(g_o.jetstream.domain, "hub");
	ck_assert(g_o.leafnodes.set);
	ck_assert_int_eq(g_o.leafnodes.port, 7422);
	ck_assert_str_eq(g_o.leafnodes.host, "0.0.0.0");
	ck_assert_int_eq(g_o.leafnodes.n_remotes, 0);
	ck_assert_int_eq(g_o.n_accounts, 2);
	ck_assert(!find_account("SYS")->jetstream);
	ck_assert(find_account("ACC")->jetstream);
	ck_assert_str_eq(g_o.system_account, "SYS");
	const struct opts_user *admin = find_user("admin");
	ck_assert_str_eq(admin->password, "admin");
	ck_assert_str_eq(admin->account, "SYS");
	ck_assert_ptr_ne(strstr(admin->file, "accounts.conf"), NULL);
	ck_assert_int_eq(admin->line, 3);
	ck_assert_str_eq(find_user("acc")->account, "ACC");
	ck_assert_int_eq(g_o.n_unsupported, 0);
	ck_assert_int_eq(g_o.n_warnings, 0);
	ck_assert_ptr_ne(strstr(g_o.config_file, "hub.conf"), NULL);
}
END_TEST

START_TEST(test_docs_leaf)
{
	apply_file("leaf.conf");
	ck_assert_int_eq(g_o.port, 4111);
	ck_assert_str_eq(g_o.server_name, "leaf-server");
	ck_assert_str_eq(g_o.jetstream.store_dir, "./store_leaf");
	ck_assert_str_eq(g_o.jetstream.domain, "leaf");
	ck_assert_int_eq(g_o.leafnodes.port, 0);       /* no accept listener */
	ck_assert_ptr_eq(g_o.leafnodes.host, NULL);
	ck_assert_int_eq(g_o.leafnodes.n_remotes, 2);
	ck_assert_str_eq(g_o.leafnodes.remotes[0].urls[0], "nats://admin:admin@127.0.0.1:7422");
	ck_assert_str_eq(g_o.leafnodes.remotes[0].account, "SYS");
	ck_assert_str_eq(g_o.leafnodes.remotes[1].urls[0], "nats://acc:acc@127.0.0.1:7422");
	ck_assert_str_eq(g_o.leafnodes.remotes[1].account, "ACC");
	ck_assert_int_eq(g_o.n_users, 2);
	ck_assert_str_eq(g_o.system_account, "SYS");
}
END_TEST

START_TEST(test_docs_hub_with_imports)
{
	apply_file("hub-imports.conf");
	ck_assert_int_eq(g_o.n_accounts, 4);
	const struct opts_account *acc = find_account("ACC");
	ck_assert_int_eq(acc->n_exports, 5);
	ck_assert_str_eq(acc->exports[0].subject, "$JS.hub.API.CONSUMER.CREATE.*");
	ck_assert_int_eq(acc->exports[0].response_type, OPTS_RESPONSE_STREAM);
	ck_assert_int_eq(acc->exports[1].kind, OPTS_EXPORT_STREAM);
	ck_assert_str_eq(acc->exports[1].subject, "deliver.acc.hub.>");
	ck_assert_int_eq(acc->exports[3].response_type, OPTS_RESPONSE_SINGLETON);
	const struct opts_account *mirror = find_account("IMPORT_MIRROR");
	ck_assert(mirror->jetstream);
	ck_assert_int_eq(mirror->n_imports, 3);
	ck_assert_str_eq(mirror->imports[0].account, "ACC");
	ck_assert_str_eq(mirror->imports[0].to, "JS.acc@hub.API.CONSUMER.CREATE.*");
	ck_assert_str_eq(mirror->imports[1].to, "$JS.FC.aggregate-test-leaf.dur.>");
	ck_assert_int_eq(mirror->imports[2].kind, OPTS_EXPORT_STREAM);
	ck_assert_str_eq(mirror->imports[2].subject, "deliver.acc.hub.import_mirror.>");
	const struct opts_account *client = find_account("IMPORT_CLIENT");
	ck_assert_int_eq(client->n_imports, 2);
	ck_assert_str_eq(client->imports[0].to,
			 "JS.acc@hub.API.CONSUMER.MSG.NEXT.aggregate-test-leaf.dur");
	ck_assert_str_eq(find_user("import_client")->account, "IMPORT_CLIENT");
	ck_assert_int_eq(g_o.n_users, 4);
	ck_assert_int_eq(g_o.leafnodes.port, 7422);
}
END_TEST

/* Applying must not leak on any allocation failure. */
START_TEST(test_alloc_failures)
{
	static const char text[] =
		"port: 1\nauthorization { users: [ {user: a, permissions: {pub: [x, y]}} ] }\n"
		"accounts { A { users: [ {user: b} ], exports: [ {stream: s} ] },\n"
		"  B { imports: [ {stream: {account: A, subject: s}} ], mappings: { m: n } } }\n"
		"leafnodes { remotes: [ {urls: [u1, u2], deny_imports: d} ] }\n"
		"tls { cert_file: a, key_file: b }\nping_interval: 5\n";
	for (uint64_t k = 1; k < 400; k++) {
		struct mem mem;
		struct buf err;
		struct conf_doc doc;
		struct opts o;
		mem_init(&mem);
		buf_init(&err, &mem);
		opts_defaults(&o);
		if (conf_parse_text(&doc, &mem, NULL, "t.conf", text, strlen(text), &err) == 0) {
			mem.fail_at = mem.alloc_count + k;
			opts_from_conf(&o, &mem, &doc, &err);
			conf_doc_free(&doc);
		}
		opts_free(&o, &mem);
		buf_free(&err);
		ck_assert_uint_eq(mem.live_bytes, 0);
	}
}
END_TEST

static Suite *opts_suite(void)
{
	Suite *s = suite_create("opts");
	TCase *tc = tcase_create("opts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_parse_duration);
	tcase_add_test(tc, test_durations_in_config);
	tcase_add_test(tc, test_listen_and_aliases);
	tcase_add_test(tc, test_top_level_values);
	tcase_add_test(tc, test_unknown_fields);
	tcase_add_test(tc, test_duplicates_last_wins);
	tcase_add_test(tc, test_unsupported_list);
	tcase_add_test(tc, test_authorization_single);
	tcase_add_test(tc, test_users_and_permissions);
	tcase_add_test(tc, test_user_errors);
	tcase_add_test(tc, test_accounts);
	tcase_add_test(tc, test_account_errors);
	tcase_add_test(tc, test_mappings);
	tcase_add_test(tc, test_jetstream);
	tcase_add_test(tc, test_leafnodes);
	tcase_add_test(tc, test_cluster_gateway);
	tcase_add_test(tc, test_other_recognised_blocks);
	tcase_add_test(tc, test_docs_hub);
	tcase_add_test(tc, test_docs_leaf);
	tcase_add_test(tc, test_docs_hub_with_imports);
	tcase_add_test(tc, test_alloc_failures);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(opts_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
