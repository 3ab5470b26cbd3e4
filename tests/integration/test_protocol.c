/*
 * test_protocol.c - the client wire protocol, byte by byte, over raw sockets.
 *
 * Every expectation here was checked against nats-server 2.9.10 on loopback;
 * where the binary and /work/shared/reference/client-protocol.md disagree, the
 * binary wins and a comment says so.  Each test starts its own server so a
 * connection closed by a protocol error cannot affect another test.
 *
 * Most tests finish in milliseconds, well before the server's first PING
 * (about 2 s after connect), so exact byte comparisons are not disturbed by it.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define WAIT_MS 2000
#define QUIET "{\"verbose\":false,\"pedantic\":false}"
#define QUIET_HDRS "{\"verbose\":false,\"pedantic\":false,\"headers\":true}"

static struct harness_server srv;

static void setup_server(void)
{
	harness_server_start(&srv, NULL, NULL);
}

static void setup_auth_server(void)
{
	harness_server_start(&srv, "authorization {\n  user: a\n  password: b\n  timeout: 1\n}\n",
			     NULL);
}

static void teardown_server(void)
{
	harness_server_stop(&srv);
}

/* Fail unless the next bytes are exactly err_line and the server then closes. */
static void expect_err_and_close(struct raw_conn *rc, const char *err_line)
{
	raw_expect(rc, err_line, WAIT_MS);
	ck_assert_msg(raw_wait_closed(rc, WAIT_MS), "server kept the connection open after %s",
		      err_line);
	ck_assert_msg(rc->len == 0, "bytes after the error: %s", raw_escaped(rc));
}

/* Fail unless the server closes without sending any -ERR. */
static void expect_silent_close(struct raw_conn *rc)
{
	ck_assert_msg(raw_wait_closed(rc, WAIT_MS), "server kept the connection open: %s",
		      raw_escaped(rc));
	ck_assert_msg(!raw_contains(rc, "-ERR"), "unexpected error: %s", raw_escaped(rc));
}

/*
 * Find "key" in a flat JSON object and copy its raw value (up to ',' or '}')
 * into out.  Tolerates blanks around ':'.  False if the key is absent.
 */
static bool json_raw_value(const char *json, const char *key, char *out, size_t cap)
{
	char quoted[128];
	const char *p;
	size_t n = 0;

	snprintf(quoted, sizeof(quoted), "\"%s\"", key);
	p = strstr(json, quoted);
	if (p == NULL)
		return false;
	p += strlen(quoted);
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != ':')
		return false;
	p++;
	while (*p == ' ' || *p == '\t')
		p++;
	while (p[n] != '\0' && p[n] != ',' && p[n] != '}' && n + 1 < cap) {
		out[n] = p[n];
		n++;
	}
	while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
		n--;
	out[n] = '\0';
	return true;
}

static void expect_json_value(const char *json, const char *key, const char *want)
{
	char value[256];

	ck_assert_msg(json_raw_value(json, key, value, sizeof(value)), "INFO lacks %s: %s",
		      key, json);
	ck_assert_msg(strcmp(value, want) == 0, "INFO %s is %s, want %s", key, value, want);
}

static void expect_json_string(const char *json, const char *key)
{
	char value[256];

	ck_assert_msg(json_raw_value(json, key, value, sizeof(value)), "INFO lacks %s: %s",
		      key, json);
	ck_assert_msg(strlen(value) > 2 && value[0] == '"' && value[strlen(value) - 1] == '"',
		      "INFO %s is not a non-empty string: %s", key, value);
}

/* Read and check the INFO line, leaving the connection right after it. */
static void take_info(struct raw_conn *rc, char *line, size_t cap)
{
	ck_assert_msg(raw_take_line(rc, line, cap, WAIT_MS), "no INFO line: %s",
		      raw_escaped(rc));
	ck_assert_msg(strncmp(line, "INFO {", 6) == 0, "first line: %s", line);
}

START_TEST(test_info_first_line)
{
	struct raw_conn *rc = raw_connect(&srv);
	char line[8192], value[64];
	size_t n;

	/* The server speaks first, without any input from the client. */
	take_info(rc, line, sizeof(line));
	n = strlen(line);
	while (n > 0 && line[n - 1] == ' ')	/* 2.9.10 puts a blank before CRLF */
		n--;
	ck_assert_msg(n > 0 && line[n - 1] == '}', "INFO line does not end in }: %s", line);
	expect_json_string(line, "server_id");
	expect_json_string(line, "version");
	expect_json_value(line, "proto", "1");
	expect_json_value(line, "headers", "true");
	expect_json_value(line, "max_payload", "1048576");
	ck_assert_msg(json_raw_value(line, "client_id", value, sizeof(value)),
		      "INFO lacks client_id: %s", line);
	ck_assert_msg(strtoull(value, NULL, 10) > 0, "client_id %s", value);
	ck_assert_msg(!json_raw_value(line, "auth_required", value, sizeof(value)) ||
		      strcmp(value, "false") == 0, "auth_required without auth: %s", line);
	raw_close(rc);
}
END_TEST

START_TEST(test_client_ids_differ)
{
	struct raw_conn *a = raw_connect(&srv), *b = raw_connect(&srv);
	char la[8192], lb[8192], ia[64], ib[64];

	take_info(a, la, sizeof(la));
	take_info(b, lb, sizeof(lb));
	ck_assert(json_raw_value(la, "client_id", ia, sizeof(ia)));
	ck_assert(json_raw_value(lb, "client_id", ib, sizeof(ib)));
	ck_assert_str_ne(ia, ib);
	raw_close(a);
	raw_close(b);
}
END_TEST

/* Without CONNECT, the defaults are verbose and pedantic (telnet-style use). */
START_TEST(test_defaults_before_connect)
{
	struct raw_conn *rc = raw_connect(&srv);
	char line[8192];

	take_info(rc, line, sizeof(line));
	raw_send_str(rc, "SUB x 1\r\n");
	raw_expect(rc, "+OK\r\n", WAIT_MS);
	raw_send_str(rc, "PUB x 2\r\nhi\r\n");
	raw_expect(rc, "+OK\r\nMSG x 1 2\r\nhi\r\n", WAIT_MS);
	raw_send_str(rc, "PUB x.* 1\r\nz\r\n");
	raw_expect(rc, "-ERR 'Invalid Publish Subject'\r\n+OK\r\n", WAIT_MS);
	raw_close(rc);
}
END_TEST

START_TEST(test_connect_verbose)
{
	struct raw_conn *rc = raw_connect(&srv);
	char line[8192];

	take_info(rc, line, sizeof(line));
	raw_send_str(rc, "CONNECT {\"verbose\":true}\r\n");
	raw_expect(rc, "+OK\r\n", WAIT_MS);
	raw_send_str(rc, "PING\r\n");
	raw_expect(rc, "PONG\r\n", WAIT_MS);	/* no +OK for PING */
	raw_send_str(rc, "SUB a 1\r\nUNSUB 1\r\n");
	raw_expect(rc, "+OK\r\n+OK\r\n", WAIT_MS);
	raw_close(rc);
}
END_TEST

START_TEST(test_connect_quiet)
{
	struct raw_conn *rc = raw_connect(&srv);
	char line[8192];

	take_info(rc, line, sizeof(line));
	/* CONNECT may follow the op without a blank. */
	raw_send_str(rc, "CONNECT{\"verbose\":false}\r\nSUB a 1\r\nPUB a 1\r\nq\r\nPING\r\n");
	raw_expect(rc, "MSG a 1 1\r\nq\r\nPONG\r\n", WAIT_MS);
	raw_close(rc);
}
END_TEST

/* pedantic: the error is reported but the message is still routed (2.9.10). */
START_TEST(test_pedantic_publish)
{
	struct raw_conn *rc = raw_connect(&srv);
	char line[8192];

	take_info(rc, line, sizeof(line));
	raw_send_str(rc, "CONNECT {\"verbose\":true,\"pedantic\":true}\r\n");
	raw_expect(rc, "+OK\r\n", WAIT_MS);
	raw_send_str(rc, "SUB foo.* 1\r\n");
	raw_expect(rc, "+OK\r\n", WAIT_MS);
	raw_send_str(rc, "PUB foo.* 1\r\nx\r\n");
	raw_expect(rc, "-ERR 'Invalid Publish Subject'\r\n+OK\r\nMSG foo.* 1 1\r\nx\r\n",
		   WAIT_MS);
	raw_send_str(rc, "PUB foo.bar 1\r\ny\r\n");
	raw_expect(rc, "+OK\r\nMSG foo.bar 1 1\r\ny\r\n", WAIT_MS);
	raw_close(rc);
}
END_TEST

START_TEST(test_invalid_subject_keeps_connection)
{
	struct raw_conn *rc = raw_connect_ready(&srv, QUIET);
	const char *bad[] = { "SUB a..b 3\r\n", "SUB a.>.b 4\r\n", "SUB .a 5\r\n",
			      "SUB a. 6\r\n" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		raw_send_str(rc, bad[i]);
		raw_expect(rc, "-ERR 'Invalid Subject'\r\n", WAIT_MS);
	}
	raw_expect_alive(rc);
	/* '*' inside a token is a literal: a.b* is a valid subject. */
	raw_send_str(rc, "SUB a.b* 2\r\nPUB a.b* 1\r\nk\r\nPING\r\n");
	raw_expect(rc, "MSG a.b* 2 1\r\nk\r\nPONG\r\n", WAIT_MS);
	raw_close(rc);
}
END_TEST

START_TEST(test_unknown_op_closes)
{
	struct raw_conn *rc = raw_connect_ready(&srv, QUIET);

	raw_send_str(rc, "FOO bar\r\n");
	expect_err_and_close(rc, "-ERR 'Unknown Protocol Operation'\r\n");
	raw_close(rc);
}
END_TEST

/* Route and leaf ops are unknown on a client connection. */
START_TEST(test_route_op_on_client_port)
{
	struct raw_conn *rc = raw_connect_ready(&srv, QUIET);

	raw_send_str(rc, "RS+ $G foo\r\n");
	expect_err_and_close(rc, "-ERR 'Unknown Protocol Operation'\r\n");
	raw_close(rc);
}
END_TEST

START_TEST(test_payload_bad_terminator)
{
	struct raw_conn *rc = raw_connect_ready(&srv, QUIET);

	raw_send_str(rc, "PUB foo 2\r\nhi\nPING\r\n");	/* bare \n after the payload */
	expect_err_and_close(rc, "-ERR 'Unknown Protocol Operation'\r\n");
	raw_close(rc);

	rc = raw_connect_ready(&srv, QUIET);
	raw_send_str(rc, "PUB foo 2\r\nhix\r\n");		/* payload longer than said */
	expect_err_and_close(rc, "-ERR 'Unknown Protocol Operation'\r\n");
	raw_close(rc);
}
END_TEST

/* The size is checked before the payload is read. */
START_TEST(test_max_payload_violation)
{
	struct raw_conn *rc = raw_connect_ready(&srv, QUIET);

	raw_send_str(rc, "SUB foo 1\r\nPUB foo 2000000\r\n");
	expect_err_and_close(rc, "-ERR 'Maximum Payload Violation'\r\n");
	raw_close(rc);
}
END_TEST

START_TEST(test_max_control_line)
{
	static char line[6000];
	struct raw_conn *rc = raw_connect_ready(&srv, QUIET);

	memcpy(line, "SUB ", 4);
	memset(line + 4, 'a', 5000);
	strcpy(line + 5004, " 1\r\n");
	raw_send_str(rc, line);
	expect_err_and_close(rc, "-ERR 'maximum control line exceeded'\r\n");
	raw_close(rc);

	/* Also enforced on a line whose end has not arrived yet. */
	rc = raw_connect_ready(&srv, QUIET);
	line[5004] = '\0';
	raw_send_str(rc, line);
	expect_err_and_close(rc, "-ERR 'maximum control line exceeded'\r\n");
	raw_close(rc);

	/* A long line under the limit is fine. */
	rc = raw_connect_ready(&srv, QUIET);
	memcpy(line, "SUB ", 4);
	memset(line + 4, 'b', 4000);
	strcpy(line + 4004, " 1\r\n");
	raw_send_str(rc, line);
	raw_expect_alive(rc);
	raw_close(rc);
}
END_TEST

/* Argument-count and size errors close without -ERR (2.9.10). */
START_TEST(test_bad_args_close_silently)
{
	const char *cases[] = {
		"PUB foo\r\n",
		"PUB foo bar baz 1\r\n",
		"PUB foo -1\r\n",
		"PUB foo abc\r\n",
		"SUB a b c d\r\n",
		"HPUB foo 10 5\r\n",	/* header size above total */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct raw_conn *rc = raw_connect_ready(&srv, QUIET_HDRS);

		raw_send_str(rc, cases[i]);
		expect_silent_close(rc);
		raw_close(rc);
	}
}
END_TEST

START_TEST(test_connect_bad_protocol)
{
	struct raw_conn *rc = raw_connect(&srv);
	char line[8192];

	take_info(rc, line, sizeof(line));
	raw_send_str(rc, "CONNECT {\"verbose\":false,\"protocol\":2}\r\nPING\r\n");
	expect_err_and_close(rc, "-ERR 'invalid client protocol'\r\n");
	raw_close(rc);
}
END_TEST

START_TEST(test_no_responders_requires_headers)
{
	struct raw_conn *rc = raw_connect(&srv);
	char line[8192];

	take_info(rc, line, sizeof(line));
	raw_send_str(rc, "CONNECT {\"verbose\":false,\"no_responders\":true}\r\nPING\r\n");
	expect_err_and_close(rc, "-ERR 'no responders requires headers support'\r\n");
	raw_close(rc);
}
END_TEST

START_TEST(test_connect_malformed_json)
{
	const char *cases[] = {
		"CONNECT {\"verbose\":false,\r\n",
		"CONNECT not json\r\n",
		"CONNECT {\"verbose\":\"yes\"}\r\n",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct raw_conn *rc = raw_connect(&srv);
		char line[8192];

		take_info(rc, line, sizeof(line));
		raw_send_str(rc, cases[i]);
		expect_silent_close(rc);
		raw_close(rc);
	}
}
END_TEST

START_TEST(test_separators_and_reply)
{
	struct raw_conn *rc = raw_connect_ready(&srv, QUIET);

	raw_send_str(rc, "SUB foo 1\r\npub   foo\t bar  5\r\nhello\r\n");
	raw_expect(rc, "MSG foo 1 bar 5\r\nhello\r\n", WAIT_MS);
	raw_send_str(rc, "SUB\tq\t\t7\r\nPUB q 0\r\n\r\n");
	raw_expect(rc, "MSG q 7 0\r\n\r\n", WAIT_MS);
	raw_close(rc);
}
END_TEST

START_TEST(test_lower_case_ops)
{
	struct raw_conn *rc = raw_connect(&srv);
	char line[8192];

	take_info(rc, line, sizeof(line));
	raw_send_str(rc, "connect {\"verbose\":false}\r\n");
	raw_send_str(rc, "sub foo 1\r\npub foo 2\r\nhi\r\nping\r\n");
	raw_expect(rc, "MSG foo 1 2\r\nhi\r\nPONG\r\n", WAIT_MS);
	raw_send_str(rc, "Unsub 1\r\nSuB bar 2\r\nPuB bar 1\r\nx\r\nPiNg\r\n");
	raw_expect(rc, "MSG bar 2 1\r\nx\r\nPONG\r\n", WAIT_MS);
	raw_close(rc);
}
END_TEST

START_TEST(test_bare_newline_line_ends)
{
	struct raw_conn *rc = raw_connect(&srv);
	char line[8192];

	take_info(rc, line, sizeof(line));
	raw_send_str(rc, "CONNECT {\"verbose\":false}\nSUB x 1\nPUB x 2\nhi\r\nPING\n");
	raw_expect(rc, "MSG x 1 2\r\nhi\r\nPONG\r\n", WAIT_MS);
	raw_close(rc);
}
END_TEST

START_TEST(test_ping_with_junk)
{
	struct raw_conn *rc = raw_connect_ready(&srv, QUIET);

	raw_send_str(rc, "PING foo bar\r\n");
	raw_expect(rc, "PONG\r\n", WAIT_MS);
	raw_send_str(rc, "PONG whatever\r\nPING\r\n");	/* a PONG with junk is ignored */
	raw_expect(rc, "PONG\r\n", WAIT_MS);
	raw_close(rc);
}
END_TEST

/* A -ERR sent by a client makes the server close the connection. */
START_TEST(test_client_err_closes)
{
	struct raw_conn *rc = raw_connect_ready(&srv, QUIET);

	raw_send_str(rc, "-ERR 'oops'\r\n");
	expect_silent_close(rc);
	raw_close(rc);
}
END_TEST

/* UNSUB <sid> <max> counts messages from the subscription's creation. */
START_TEST(test_unsub_max)
{
	struct raw_conn *rc = raw_connect_ready(&srv, QUIET);

	raw_send_str(rc, "SUB foo 1\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\n");
	raw_expect(rc, "MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\nMSG foo 1 1\r\nc\r\n", WAIT_MS);
	/* Already past the limit: removed at once. */
	raw_send_str(rc, "UNSUB 1 1\r\nPUB foo 1\r\nd\r\nPING\r\n");
	raw_expect(rc, "PONG\r\n", WAIT_MS);

	/* Not yet reached: delivers up to the total, then stops. */
	raw_send_str(rc, "SUB bar 2\r\nPUB bar 1\r\n1\r\nUNSUB 2 3\r\n");
	raw_send_str(rc, "PUB bar 1\r\n2\r\nPUB bar 1\r\n3\r\nPUB bar 1\r\n4\r\nPING\r\n");
	raw_expect(rc, "MSG bar 2 1\r\n1\r\nMSG bar 2 1\r\n2\r\nMSG bar 2 1\r\n3\r\nPONG\r\n",
		   WAIT_MS);

	/* max 0 removes now. */
	raw_send_str(rc, "SUB baz 3\r\nUNSUB 3 0\r\nPUB baz 1\r\nz\r\nPING\r\n");
	raw_expect(rc, "PONG\r\n", WAIT_MS);
	raw_close(rc);
}
END_TEST

START_TEST(test_reused_sid_ignored)
{
	struct raw_conn *rc = raw_connect_ready(&srv, QUIET);

	raw_send_str(rc, "SUB foo 1\r\nSUB bar 1\r\nPUB bar 1\r\nb\r\nPUB foo 1\r\nf\r\nPING\r\n");
	raw_expect(rc, "MSG foo 1 1\r\nf\r\nPONG\r\n", WAIT_MS);
	raw_close(rc);

	rc = raw_connect(&srv);
	raw_read_quiet(rc, 50);
	raw_consume(rc, rc->len);
	raw_send_str(rc, "CONNECT {\"verbose\":true}\r\nSUB foo 1\r\nSUB bar 1\r\n");
	raw_expect(rc, "+OK\r\n+OK\r\n+OK\r\n", WAIT_MS);	/* +OK even when ignored */
	raw_close(rc);
}
END_TEST

START_TEST(test_unsub_unknown_sid)
{
	struct raw_conn *rc = raw_connect(&srv);
	char line[8192];

	take_info(rc, line, sizeof(line));
	raw_send_str(rc, "CONNECT {\"verbose\":true}\r\nUNSUB 99\r\nUNSUB 98 5\r\n");
	raw_expect(rc, "+OK\r\n+OK\r\n+OK\r\n", WAIT_MS);
	raw_expect_alive(rc);
	raw_close(rc);
}
END_TEST

START_TEST(test_two_subs_two_copies)
{
	struct raw_conn *rc = raw_connect_ready(&srv, QUIET);

	raw_send_str(rc, "SUB a.b 1\r\nSUB a.* 2\r\nPUB a.b 1\r\nx\r\nPING\r\n");
	/* One copy per matching subscription; the order between them is not fixed. */
	ck_assert(raw_wait_for(rc, "PONG\r\n", WAIT_MS));
	ck_assert_msg(raw_contains(rc, "MSG a.b 1 1\r\nx\r\n") &&
		      raw_contains(rc, "MSG a.b 2 1\r\nx\r\n"), "got %s", raw_escaped(rc));
	ck_assert_uint_eq(rc->len, strlen("MSG a.b 1 1\r\nx\r\nMSG a.b 2 1\r\nx\r\nPONG\r\n"));
	raw_close(rc);
}
END_TEST

#define HDR_BLOCK "NATS/1.0\r\nA: B\r\nC:  D\r\n\r\n"

START_TEST(test_hpub_hmsg_passthrough)
{
	struct raw_conn *rc = raw_connect_ready(&srv, QUIET_HDRS);

	raw_send_str(rc, "SUB foo 1\r\nHPUB foo 25 30\r\n" HDR_BLOCK "hello\r\n");
	raw_expect(rc, "HMSG foo 1 25 30\r\n" HDR_BLOCK "hello\r\n", WAIT_MS);
	raw_send_str(rc, "HPUB foo rep.ly 25 25\r\n" HDR_BLOCK "\r\n");
	raw_expect(rc, "HMSG foo 1 rep.ly 25 25\r\n" HDR_BLOCK "\r\n", WAIT_MS);
	/* A plain PUB reaches a header-capable client as MSG. */
	raw_send_str(rc, "PUB foo 2\r\nhi\r\n");
	raw_expect(rc, "MSG foo 1 2\r\nhi\r\n", WAIT_MS);
	raw_close(rc);
}
END_TEST

START_TEST(test_headers_stripped_for_old_client)
{
	struct raw_conn *old = raw_connect_ready(&srv, QUIET);
	struct raw_conn *pub = raw_connect_ready(&srv, QUIET_HDRS);

	raw_send_str(old, "SUB foo 1\r\n");
	raw_expect_alive(old);
	raw_send_str(pub, "HPUB foo rr 25 30\r\n" HDR_BLOCK "hello\r\n");
	raw_expect_alive(pub);
	raw_expect(old, "MSG foo 1 rr 5\r\nhello\r\n", WAIT_MS);
	raw_close(old);
	raw_close(pub);
}
END_TEST

/* 2.9.10 closes without -ERR when HPUB comes on a connection without headers. */
START_TEST(test_hpub_without_headers_closes)
{
	struct raw_conn *rc = raw_connect_ready(&srv, QUIET);

	raw_send_str(rc, "HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
	expect_silent_close(rc);
	raw_close(rc);

	/* Same before any CONNECT: headers default to off. */
	rc = raw_connect(&srv);
	raw_send_str(rc, "HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
	ck_assert(raw_wait_closed(rc, WAIT_MS));
	ck_assert_msg(!raw_contains(rc, "-ERR"), "got %s", raw_escaped(rc));
	raw_close(rc);
}
END_TEST

START_TEST(test_no_responders_exact)
{
	struct raw_conn *rc = raw_connect_ready(&srv,
		"{\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true}");

	raw_send_str(rc, "SUB inbox.* 4\r\nPUB req inbox.1 2\r\nhi\r\n");
	raw_expect(rc, "HMSG inbox.1 4 16 16\r\nNATS/1.0 503\r\n\r\n\r\n", WAIT_MS);
	/* With a responder present nothing comes back from the server itself. */
	raw_send_str(rc, "SUB req 5\r\nPUB req inbox.2 2\r\nhi\r\nPING\r\n");
	raw_expect(rc, "MSG req 5 inbox.2 2\r\nhi\r\nPONG\r\n", WAIT_MS);
	/* No subscription matching the reply subject: no 503 either. */
	raw_send_str(rc, "PUB nobody other.1 2\r\nhi\r\nPING\r\n");
	raw_expect(rc, "PONG\r\n", WAIT_MS);
	raw_close(rc);
}
END_TEST

START_TEST(test_no_responders_not_requested)
{
	struct raw_conn *rc = raw_connect_ready(&srv, QUIET_HDRS);

	raw_send_str(rc, "SUB inbox.* 4\r\nPUB req inbox.1 2\r\nhi\r\nPING\r\n");
	raw_expect(rc, "PONG\r\n", WAIT_MS);
	raw_close(rc);
}
END_TEST

/* The first server PING comes 2 s (+ up to 20 %) after connect in 2.9.10. */
START_TEST(test_first_server_ping)
{
	long long start = harness_now_ms();
	struct raw_conn *rc = raw_connect_ready(&srv, QUIET);
	long long took;

	ck_assert_msg(raw_wait_for(rc, "PING\r\n", 6000), "no server PING: %s",
		      raw_escaped(rc));
	took = harness_now_ms() - start;
	ck_assert_msg(took >= 1500 && took <= 4500, "first PING after %lld ms", took);
	ck_assert_str_eq(raw_escaped(rc), "PING\\r\\n");
	raw_consume(rc, rc->len);
	raw_send_str(rc, "PONG\r\n");
	raw_expect_alive(rc);
	raw_close(rc);
}
END_TEST

START_TEST(test_auth_info)
{
	struct raw_conn *rc = raw_connect(&srv);
	char line[8192];

	take_info(rc, line, sizeof(line));
	expect_json_value(line, "auth_required", "true");
	raw_close(rc);
}
END_TEST

START_TEST(test_auth_timeout)
{
	long long start = harness_now_ms();
	struct raw_conn *rc = raw_connect(&srv);
	char line[8192];
	long long took;

	take_info(rc, line, sizeof(line));
	raw_expect(rc, "-ERR 'Authentication Timeout'\r\n", 4000);
	took = harness_now_ms() - start;
	ck_assert_msg(took >= 800 && took <= 3000, "auth timeout after %lld ms", took);
	ck_assert(raw_wait_closed(rc, WAIT_MS));
	raw_close(rc);
}
END_TEST

START_TEST(test_auth_wrong_password)
{
	struct raw_conn *rc = raw_connect(&srv);
	char line[8192];

	take_info(rc, line, sizeof(line));
	raw_send_str(rc, "CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"x\"}\r\nPING\r\n");
	expect_err_and_close(rc, "-ERR 'Authorization Violation'\r\n");
	raw_close(rc);

	rc = raw_connect(&srv);
	take_info(rc, line, sizeof(line));
	raw_send_str(rc, "CONNECT {\"verbose\":false}\r\nPING\r\n");	/* no credentials */
	expect_err_and_close(rc, "-ERR 'Authorization Violation'\r\n");
	raw_close(rc);
}
END_TEST

START_TEST(test_auth_first_op_not_connect)
{
	struct raw_conn *rc = raw_connect(&srv);
	char line[8192];

	take_info(rc, line, sizeof(line));
	raw_send_str(rc, "SUB foo 1\r\n");
	expect_err_and_close(rc, "-ERR 'Authorization Violation'\r\n");
	raw_close(rc);

	rc = raw_connect(&srv);
	take_info(rc, line, sizeof(line));
	raw_send_str(rc, "PING\r\n");
	expect_err_and_close(rc, "-ERR 'Authorization Violation'\r\n");
	raw_close(rc);
}
END_TEST

START_TEST(test_auth_good_password)
{
	struct raw_conn *rc = raw_connect_ready(&srv,
		"{\"verbose\":false,\"user\":\"a\",\"pass\":\"b\"}");
	natsOptions *opts = harness_nats_options(&srv);
	natsConnection *nc = NULL;
	natsStatus s;

	raw_send_str(rc, "SUB foo 1\r\nPUB foo 1\r\nx\r\nPING\r\n");
	raw_expect(rc, "MSG foo 1 1\r\nx\r\nPONG\r\n", WAIT_MS);
	raw_close(rc);

	/* nats.c reports the rejection as a connect error. */
	ck_assert_int_eq(natsOptions_SetUserInfo(opts, "a", "wrong"), NATS_OK);
	s = harness_nats_try_connect(&srv, opts, &nc);
	ck_assert_msg(s == NATS_CONNECTION_AUTH_FAILED, "connect with a wrong password: %s",
		      natsStatus_GetText(s));
	ck_assert_int_eq(natsOptions_SetUserInfo(opts, "a", "b"), NATS_OK);
	s = harness_nats_try_connect(&srv, opts, &nc);
	ck_assert_msg(s == NATS_OK, "connect with user a: %s", natsStatus_GetText(s));
	natsConnection_Destroy(nc);
	natsOptions_Destroy(opts);
}
END_TEST

/* The limit comes from the config file, shows in INFO and is enforced. */
START_TEST(test_config_max_payload)
{
	struct harness_server small;
	struct raw_conn *rc;
	char line[8192], payload[1024];

	harness_server_start(&small, "max_payload: 1024\n", NULL);
	rc = raw_connect(&small);
	take_info(rc, line, sizeof(line));
	expect_json_value(line, "max_payload", "1024");
	raw_send_str(rc, "CONNECT {\"verbose\":false}\r\nSUB big 1\r\n");
	raw_send_str(rc, "PUB big 1024\r\n");
	memset(payload, 'p', sizeof(payload));
	raw_send(rc, payload, sizeof(payload));
	raw_send_str(rc, "\r\nPING\r\n");
	raw_expect(rc, "MSG big 1 1024\r\n", WAIT_MS);
	ck_assert(raw_consume_through(rc, "PONG\r\n"));
	raw_send_str(rc, "PUB big 1025\r\n");
	expect_err_and_close(rc, "-ERR 'Maximum Payload Violation'\r\n");
	raw_close(rc);
	harness_server_stop(&small);
}
END_TEST

/* xorshift64*: the garbage test must be reproducible from its seed. */
static uint64_t garbage_next(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 2685821657736338717ULL;
}

static void garbage_send_round(uint64_t seed)
{
	static const char *const prefixes[] = {
		"", "PUB a ", "SUB ", "CONNECT ", "HPUB a 1 ", "INFO ", "PUB a 5\r\n",
		"CONNECT {\"verbose\":false,\"headers\":true}\r\nHPUB a 4 ", "UNSUB ", "MSG ",
	};
	uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
	struct raw_conn *rc = raw_connect(&srv);
	char chunk[4096];
	int chunks = 1 + (int)(garbage_next(&state) % 4);

	raw_send_str(rc, prefixes[seed % (sizeof(prefixes) / sizeof(prefixes[0]))]);
	for (int c = 0; c < chunks && !rc->closed; c++) {
		size_t len = 1 + garbage_next(&state) % sizeof(chunk);

		for (size_t i = 0; i < len; i++)
			chunk[i] = (char)(garbage_next(&state) >> 56);
		if (!raw_send(rc, chunk, len))
			break;
		raw_read_quiet(rc, 1);
	}
	raw_wait_closed(rc, 100);	/* closing is allowed, not required */
	raw_close(rc);
}

START_TEST(test_garbage_does_not_crash)
{
	natsConnection *nc;
	natsSubscription *sub = NULL;
	natsMsg *msg = NULL;

	for (uint64_t seed = 1; seed <= 60; seed++) {
		garbage_send_round(seed);
		ck_assert_msg(harness_server_alive(&srv), "server died on garbage seed %llu",
			      (unsigned long long)seed);
	}
	nc = harness_nats_connect(&srv);
	ck_assert_int_eq(natsConnection_SubscribeSync(&sub, nc, "after.garbage"), NATS_OK);
	ck_assert_int_eq(natsConnection_PublishString(nc, "after.garbage", "ok"), NATS_OK);
	ck_assert_int_eq(natsSubscription_NextMsg(&msg, sub, WAIT_MS), NATS_OK);
	ck_assert_mem_eq(natsMsg_GetData(msg), "ok", 2);
	natsMsg_Destroy(msg);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
}
END_TEST

static TCase *protocol_tcase(void)
{
	TCase *tc = tcase_create("protocol");

	tcase_add_checked_fixture(tc, setup_server, teardown_server);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_info_first_line);
	tcase_add_test(tc, test_client_ids_differ);
	tcase_add_test(tc, test_defaults_before_connect);
	tcase_add_test(tc, test_connect_verbose);
	tcase_add_test(tc, test_connect_quiet);
	tcase_add_test(tc, test_pedantic_publish);
	tcase_add_test(tc, test_invalid_subject_keeps_connection);
	tcase_add_test(tc, test_unknown_op_closes);
	tcase_add_test(tc, test_route_op_on_client_port);
	tcase_add_test(tc, test_payload_bad_terminator);
	tcase_add_test(tc, test_max_payload_violation);
	tcase_add_test(tc, test_max_control_line);
	tcase_add_test(tc, test_config_max_payload);
	tcase_add_test(tc, test_bad_args_close_silently);
	tcase_add_test(tc, test_connect_bad_protocol);
	tcase_add_test(tc, test_no_responders_requires_headers);
	tcase_add_test(tc, test_connect_malformed_json);
	tcase_add_test(tc, test_separators_and_reply);
	tcase_add_test(tc, test_lower_case_ops);
	tcase_add_test(tc, test_bare_newline_line_ends);
	tcase_add_test(tc, test_ping_with_junk);
	tcase_add_test(tc, test_client_err_closes);
	tcase_add_test(tc, test_unsub_max);
	tcase_add_test(tc, test_reused_sid_ignored);
	tcase_add_test(tc, test_unsub_unknown_sid);
	tcase_add_test(tc, test_two_subs_two_copies);
	tcase_add_test(tc, test_hpub_hmsg_passthrough);
	tcase_add_test(tc, test_headers_stripped_for_old_client);
	tcase_add_test(tc, test_hpub_without_headers_closes);
	tcase_add_test(tc, test_no_responders_exact);
	tcase_add_test(tc, test_no_responders_not_requested);
	tcase_add_test(tc, test_first_server_ping);
	tcase_add_test(tc, test_garbage_does_not_crash);
	return tc;
}

static TCase *auth_tcase(void)
{
	TCase *tc = tcase_create("auth");

	tcase_add_checked_fixture(tc, setup_auth_server, teardown_server);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_auth_info);
	tcase_add_test(tc, test_auth_timeout);
	tcase_add_test(tc, test_auth_wrong_password);
	tcase_add_test(tc, test_auth_first_op_not_connect);
	tcase_add_test(tc, test_auth_good_password);
	return tc;
}

int main(void)
{
	Suite *s = suite_create("protocol");

	suite_add_tcase(s, protocol_tcase());
	suite_add_tcase(s, auth_tcase());
	return harness_run(s);
}
