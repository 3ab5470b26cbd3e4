/*
 * test_limits.c - liveness and output limits, connection limits and
 * authorization options, seen from raw sockets and nats.c.
 *
 * Covers: slow consumers (max_pending and write_deadline), stale connections
 * (ping_interval, ping_max), max_connections, max_subscriptions,
 * max_control_line from a config file, token and bcrypt authorization,
 * account isolation with no_auth_user, the ports file (--ports_file_dir) and
 * the startup check that max_payload may not exceed max_pending.
 *
 * Every expectation was checked against nats-server 2.9.10; a test that fails
 * against it is a wrong test.  Each test starts its own server with its own
 * config.  Floods are bounded in bytes and time, and every wait has a
 * deadline; no assertion on wall-clock time is tighter than 15 s.
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 2000
#define QUIET "{\"verbose\":false,\"pedantic\":false}"
/* The bound the brief allows for any wall-clock expectation. */
#define CLOSE_BOUND_MS 15000
/* Bounds on every flood: at most this long, and at most FLOOD_MAX_BYTES. */
#define FLOOD_TIME_MS 10000
#define FLOOD_MAX_BYTES (16 * 1024 * 1024)

static struct harness_server srv;

/* ---- helpers ----------------------------------------------------------- */

/*
 * Like raw_connect, but with SO_RCVBUF set before connect() so the window the
 * server sees is small from the start: a subscriber that never reads then
 * fills its kernel buffers after a few kilobytes.
 */
static struct raw_conn *raw_connect_rcvbuf(const struct harness_server *s, int rcvbuf)
{
	struct raw_conn *rc = calloc(1, sizeof(*rc));
	struct sockaddr_in sa;
	int one = 1;

	ck_assert_ptr_nonnull(rc);
	rc->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(rc->fd >= 0, "socket: %s", strerror(errno));
	ck_assert_int_eq(setsockopt(rc->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)s->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_msg(connect(rc->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		      "connect 127.0.0.1:%d: %s", s->port, strerror(errno));
	setsockopt(rc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc->cap = 64 * 1024;
	rc->buf = malloc(rc->cap);	/* raw_close() frees both */
	ck_assert_ptr_nonnull(rc->buf);
	return rc;
}

/* Read INFO, send CONNECT (quiet), then `ops` and PING; wait for PONG. */
static void raw_handshake(struct raw_conn *rc, const char *ops)
{
	char line[8192];

	ck_assert_msg(raw_take_line(rc, line, sizeof(line), WAIT_MS), "no INFO: %s",
		      raw_escaped(rc));
	ck_assert_msg(strncmp(line, "INFO {", 6) == 0, "first line: %s", line);
	raw_send_str(rc, "CONNECT " QUIET "\r\n");
	raw_send_str(rc, ops);
	raw_send_str(rc, "PING\r\n");
	raw_expect(rc, "PONG\r\n", WAIT_MS);
}

/* A send that blocks longer than ms fails instead of hanging the test. */
static void raw_set_send_timeout(struct raw_conn *rc, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	ck_assert_int_eq(setsockopt(rc->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
}

/* PING and wait up to ms for PONG (after a flood the server may be busy). */
static bool raw_ping_within(struct raw_conn *rc, int ms)
{
	if (!raw_send_str(rc, "PING\r\n") || !raw_wait_for(rc, "PONG\r\n", ms))
		return false;
	return raw_consume_through(rc, "PONG\r\n");
}

/*
 * Publish `count` messages of `size` bytes ('x') on subject, within the flood
 * bounds.  Fails the test if the server stops taking the publisher's bytes.
 */
static void flood(struct raw_conn *pub, const char *subject, size_t size, int count)
{
	char head[128];
	size_t hlen = (size_t)snprintf(head, sizeof(head), "PUB %s %zu\r\n", subject, size);
	size_t mlen = hlen + size + 2;
	char *msg = malloc(mlen);
	long long deadline = harness_now_ms() + FLOOD_TIME_MS;

	ck_assert_ptr_nonnull(msg);
	ck_assert_msg((size_t)count * size <= FLOOD_MAX_BYTES, "flood above its bound");
	memcpy(msg, head, hlen);
	memset(msg + hlen, 'x', size);
	memcpy(msg + hlen + size, "\r\n", 2);
	for (int i = 0; i < count && harness_now_ms() < deadline; i++)
		ck_assert_msg(raw_send(pub, msg, mlen), "publisher blocked or closed after "
			      "%d messages: %s", i, strerror(errno));
	free(msg);
}

/* True once the server log contains text; a hint for when to look, never a verdict. */
static bool log_contains(const struct harness_server *s, const char *text)
{
	char chunk[8192];
	bool found = false;
	FILE *f = fopen(s->log_path, "r");

	if (f == NULL)
		return false;
	while (!found && fgets(chunk, sizeof(chunk), f) != NULL)
		found = strstr(chunk, text) != NULL;
	fclose(f);
	return found;
}

static void log_wait_for(const struct harness_server *s, const char *text, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	while (!log_contains(s, text) && harness_now_ms() < deadline)
		harness_sleep_ms(20);
}

/* A new nats.c client can publish to itself through the server. */
static void expect_fresh_client_works(void)
{
	natsConnection *nc = harness_nats_connect(&srv);
	natsSubscription *sub = NULL;
	natsMsg *msg = NULL;

	ck_assert_int_eq(natsConnection_SubscribeSync(&sub, nc, "fresh"), NATS_OK);
	ck_assert_int_eq(natsConnection_PublishString(nc, "fresh", "ok"), NATS_OK);
	ck_assert_int_eq(natsSubscription_NextMsg(&msg, sub, WAIT_MS), NATS_OK);
	ck_assert_int_eq(natsMsg_GetDataLength(msg), 2);
	ck_assert_mem_eq(natsMsg_GetData(msg), "ok", 2);
	natsMsg_Destroy(msg);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
}

/* ---- slow consumers ---------------------------------------------------- */

/*
 * A subscriber that never reads is cut off once more than max_pending bytes
 * wait for it.  2.9.10 sends no -ERR (the close is all the client sees) and
 * logs "Slow Consumer Detected: MaxPending of 65536 Exceeded".  The publisher
 * and other clients are not affected.  max_payload is lowered too because
 * 2.9.10 refuses to start with max_payload above max_pending.
 */
START_TEST(test_slow_consumer_max_pending)
{
	struct raw_conn *sub, *pub;

	harness_server_start(&srv, "max_pending: 65536\nmax_payload: 65536\n", NULL);
	sub = raw_connect_rcvbuf(&srv, 4096);
	raw_handshake(sub, "SUB big 1\r\n");
	pub = raw_connect_ready(&srv, QUIET);
	raw_set_send_timeout(pub, 5000);

	/* 16 MiB: far beyond the kernel buffers of both sockets plus 64 KiB. */
	flood(pub, "big", 32768, 512);
	ck_assert_msg(raw_ping_within(pub, 10000), "publisher not healthy after the flood:%s",
		      pub->closed ? " (closed)" : "");

	/* Reading now drains what the kernel held; then the close must show. */
	ck_assert_msg(raw_wait_closed(sub, CLOSE_BOUND_MS),
		      "slow subscriber still connected (%zu bytes read)", sub->len);
	ck_assert_msg(!raw_contains(sub, "-ERR"), "slow consumer got an error line");

	raw_expect_alive(pub);
	raw_close(sub);
	raw_close(pub);
	expect_fresh_client_works();
	harness_server_stop(&srv);
}
END_TEST

/*
 * With a large max_pending, a subscriber whose socket stays full is cut off
 * by the write deadline instead: 2.9.10 logs "Slow Consumer Detected:
 * WriteDeadline of 1s exceeded" about 1 s after its writes block, and again
 * sends no -ERR.
 *
 * The subscriber must not read before the server gives up (reading would
 * unblock the write).  It waits for the log line, at most 5 s: a server that
 * ignored write_deadline (default 10 s) would then see its writes drain and
 * keep the connection, and the test fails on the missing close.
 */
START_TEST(test_slow_consumer_write_deadline)
{
	struct raw_conn *sub, *pub;
	long long flood_end;

	harness_server_start(&srv, "write_deadline: \"1s\"\nmax_pending: 134217728\n", NULL);
	sub = raw_connect_rcvbuf(&srv, 4096);
	raw_handshake(sub, "SUB big 1\r\n");
	pub = raw_connect_ready(&srv, QUIET);
	raw_set_send_timeout(pub, 5000);

	/* 16 MiB: fills the socket buffers, stays far below max_pending. */
	flood(pub, "big", 65536, 256);
	ck_assert_msg(raw_ping_within(pub, 10000), "publisher not healthy after the flood:%s",
		      pub->closed ? " (closed)" : "");
	flood_end = harness_now_ms();

	log_wait_for(&srv, "Slow Consumer", 5000);
	ck_assert_msg(raw_wait_closed(sub, CLOSE_BOUND_MS),
		      "subscriber with a full socket still connected (%zu bytes read)", sub->len);
	ck_assert_msg(harness_now_ms() - flood_end <= CLOSE_BOUND_MS,
		      "closed only after %lld ms", harness_now_ms() - flood_end);
	ck_assert_msg(!raw_contains(sub, "-ERR"), "slow consumer got an error line");

	raw_expect_alive(pub);
	raw_close(sub);
	raw_close(pub);
	expect_fresh_client_works();
	harness_server_stop(&srv);
}
END_TEST

/* ---- stale connections -------------------------------------------------- */

/*
 * Answer every server PING on rc that has arrived; fail on anything else but
 * PING (the client has no subscriptions).
 */
static void answer_pings(struct raw_conn *rc, int wait_ms)
{
	raw_wait_for(rc, "PING\r\n", wait_ms);
	while (raw_consume_through(rc, "PING\r\n"))
		ck_assert(raw_send_str(rc, "PONG\r\n"));
	ck_assert_msg(rc->len == 0 && !rc->closed, "answering client got:%s [%s]",
		      rc->closed ? " (closed)" : "", raw_escaped(rc));
}

/*
 * ping_interval 1s, ping_max 2: a client that never answers gets exactly two
 * PINGs, then -ERR 'Stale Connection' and the close (about 3 s after
 * CONNECT on 2.9.10).  A client that answers stays, well past that point.
 */
START_TEST(test_stale_connection)
{
	static const char expected[] = "PING\r\nPING\r\n-ERR 'Stale Connection'\r\n";
	struct raw_conn *mute, *live;
	long long deadline, stale_at;

	harness_server_start(&srv, "ping_interval: \"1s\"\nping_max: 2\n", NULL);
	mute = raw_connect(&srv);
	live = raw_connect(&srv);
	raw_handshake(mute, "");
	raw_handshake(live, "");

	deadline = harness_now_ms() + CLOSE_BOUND_MS;
	while (!mute->closed && harness_now_ms() < deadline) {
		raw_read_quiet(mute, 50);
		answer_pings(live, 50);
	}
	ck_assert_msg(mute->closed, "client that ignores PINGs still connected after %d ms: [%s]",
		      CLOSE_BOUND_MS, raw_escaped(mute));
	ck_assert_msg(mute->len == strlen(expected) && memcmp(mute->buf, expected,
		      mute->len) == 0, "stale client got [%s], want [%s]", raw_escaped(mute),
		      harness_escape(expected, strlen(expected)));

	/* Keep answering for more than one further ping interval. */
	stale_at = harness_now_ms();
	while (harness_now_ms() - stale_at < 1500)
		answer_pings(live, 100);
	raw_expect_alive(live);
	raw_close(mute);
	raw_close(live);
	harness_server_stop(&srv);
}
END_TEST

/* ---- connection and subscription limits -------------------------------- */

/*
 * Connect a raw client and return true if it was admitted: the INFO line is
 * sent first in every case; a refused one then gets exactly
 * "-ERR 'maximum connections exceeded'\r\n" and the close (2.9.10 order).
 */
static bool connect_admitted(struct raw_conn **out)
{
	struct raw_conn *rc = raw_connect(&srv);
	char line[8192];

	ck_assert_msg(raw_take_line(rc, line, sizeof(line), WAIT_MS), "no INFO: %s",
		      raw_escaped(rc));
	ck_assert_msg(strncmp(line, "INFO {", 6) == 0, "first line: %s", line);
	raw_send_str(rc, "CONNECT " QUIET "\r\nPING\r\n");
	if (raw_expect_check(rc, "PONG\r\n", 6, WAIT_MS)) {
		*out = rc;
		return true;
	}
	raw_expect(rc, "-ERR 'maximum connections exceeded'\r\n", WAIT_MS);
	ck_assert_msg(raw_wait_closed(rc, WAIT_MS), "refused connection left open");
	ck_assert_msg(rc->len == 0, "bytes after the error: %s", raw_escaped(rc));
	raw_close(rc);
	*out = NULL;
	return false;
}

START_TEST(test_max_connections)
{
	struct raw_conn *a = NULL, *b = NULL, *c = NULL;
	natsConnection *nc = NULL;
	natsStatus s;
	long long deadline;
	bool admitted = false;

	harness_server_start(&srv, "max_connections: 2\n", NULL);
	/* The harness's readiness probe counts until the server has seen it
	 * close, which nats-server notices on its own time: retry. */
	deadline = harness_now_ms() + WAIT_MS;
	while (!connect_admitted(&a) && harness_now_ms() < deadline)
		harness_sleep_ms(20);
	ck_assert_msg(a != NULL, "first connection refused");
	while (!connect_admitted(&b) && harness_now_ms() < deadline)
		harness_sleep_ms(20);
	ck_assert_msg(b != NULL, "second connection refused");
	/* Refused right after INFO, before any CONNECT is read. */
	c = raw_connect(&srv);
	ck_assert_msg(raw_wait_for(c, "\r\n", WAIT_MS), "no INFO: %s", raw_escaped(c));
	ck_assert_msg(strncmp(c->buf, "INFO {", 6) == 0, "first line: %s", raw_escaped(c));
	ck_assert(raw_consume_through(c, "\r\n"));
	raw_expect(c, "-ERR 'maximum connections exceeded'\r\n", WAIT_MS);
	ck_assert_msg(raw_wait_closed(c, WAIT_MS), "third connection left open");
	raw_close(c);
	ck_assert_msg(!connect_admitted(&c), "third connection admitted");

	/* nats.c sees the refusal as a connect error. */
	s = harness_nats_try_connect(&srv, NULL, &nc);
	ck_assert_msg(s != NATS_OK, "nats.c admitted as a third connection");

	/* The admitted ones are unaffected; a freed slot is available again. */
	raw_expect_alive(a);
	raw_expect_alive(b);
	raw_close(a);
	deadline = harness_now_ms() + WAIT_MS;
	while (!admitted && harness_now_ms() < deadline)
		admitted = connect_admitted(&c);
	ck_assert_msg(admitted, "slot of a closed connection not freed");
	raw_expect_alive(c);
	raw_close(b);
	raw_close(c);
	harness_server_stop(&srv);
}
END_TEST

/* The third SUB is refused with -ERR; the connection stays and keeps two subs. */
START_TEST(test_max_subscriptions)
{
	struct raw_conn *rc, *other, *verbose;
	char line[8192];

	harness_server_start(&srv, "max_subscriptions: 2\n", NULL);
	rc = raw_connect_ready(&srv, QUIET);
	raw_send_str(rc, "SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPING\r\n");
	raw_expect(rc, "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n", WAIT_MS);
	/* sid 3 was not registered; freeing one slot admits a new SUB. */
	raw_send_str(rc, "UNSUB 1\r\nSUB c 4\r\nPUB c 1\r\nx\r\nPUB a 1\r\ny\r\nPING\r\n");
	raw_expect(rc, "MSG c 4 1\r\nx\r\nPONG\r\n", WAIT_MS);
	raw_send_str(rc, "SUB d 5\r\nPING\r\n");
	raw_expect(rc, "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n", WAIT_MS);

	/* The limit is per connection. */
	other = raw_connect_ready(&srv, QUIET);
	raw_send_str(other, "SUB a 1\r\nSUB b 2\r\nPUB b 1\r\nz\r\nPING\r\n");
	raw_expect(other, "MSG b 2 1\r\nz\r\nPONG\r\n", WAIT_MS);

	/* Verbose: +OK for CONNECT and the admitted SUBs, only -ERR for the third. */
	verbose = raw_connect(&srv);
	ck_assert(raw_take_line(verbose, line, sizeof(line), WAIT_MS));
	raw_send_str(verbose, "CONNECT {\"verbose\":true}\r\nSUB a 1\r\nSUB b 2\r\nSUB c 3\r\n"
		     "PING\r\n");
	raw_expect(verbose, "+OK\r\n+OK\r\n+OK\r\n-ERR 'maximum subscriptions exceeded'\r\n"
		   "PONG\r\n", WAIT_MS);
	raw_expect_alive(rc);
	raw_close(rc);
	raw_close(other);
	raw_close(verbose);
	harness_server_stop(&srv);
}
END_TEST

/* ---- max_control_line --------------------------------------------------- */

#define CONTROL_LINE_ERR "-ERR 'maximum control line exceeded'\r\n"

/* Send `SUB <n x 'a'> 1\r\n` on a fresh connection; true if it is accepted. */
static bool sub_line_accepted(int subject_len, bool split)
{
	struct raw_conn *rc = raw_connect_ready(&srv, QUIET);
	char *line = malloc((size_t)subject_len + 16);
	size_t n;
	bool ok;

	ck_assert_ptr_nonnull(line);
	memcpy(line, "SUB ", 4);
	memset(line + 4, 'a', (size_t)subject_len);
	n = 4 + (size_t)subject_len;
	n += (size_t)sprintf(line + n, " 1\r\n");
	if (split) {
		raw_send(rc, line, n - 2);
		raw_read_quiet(rc, 20);		/* let the partial line be parsed alone */
		raw_send(rc, line + n - 2, 2);
	} else {
		raw_send(rc, line, n);
	}
	free(line);
	ok = raw_ping_pong(rc);
	if (!ok) {
		ck_assert_msg(raw_expect_check(rc, CONTROL_LINE_ERR, strlen(CONTROL_LINE_ERR),
					       WAIT_MS),
			      "long line: want the control line error, got [%s]", raw_escaped(rc));
		ck_assert_msg(raw_wait_closed(rc, WAIT_MS), "connection left open");
	}
	raw_close(rc);
	return ok;
}

/*
 * max_control_line: 256 counts the arguments after the op: `SUB <254> 1`
 * (256 bytes of arguments) passes, one more byte is refused with -ERR and
 * the close, whether or not the line end has arrived.  It covers CONNECT too.
 */
START_TEST(test_config_max_control_line)
{
	struct raw_conn *rc;
	char connect[512];

	harness_server_start(&srv, "max_control_line: 256\n", NULL);
	ck_assert_msg(sub_line_accepted(254, false), "256 bytes of arguments refused");
	ck_assert_msg(sub_line_accepted(254, true), "256 bytes of arguments refused (split)");
	ck_assert_msg(!sub_line_accepted(255, false), "257 bytes of arguments accepted");
	ck_assert_msg(!sub_line_accepted(255, true), "257 bytes of arguments accepted (split)");
	ck_assert_msg(!sub_line_accepted(1000, false), "1000-byte subject accepted");

	rc = raw_connect(&srv);
	ck_assert(raw_wait_for(rc, "\r\n", WAIT_MS));
	ck_assert(raw_consume_through(rc, "\r\n"));
	snprintf(connect, sizeof(connect), "CONNECT {\"verbose\":false,\"name\":\"%0300d\"}\r\n", 0);
	raw_send_str(rc, connect);
	raw_expect(rc, CONTROL_LINE_ERR, WAIT_MS);
	ck_assert_msg(raw_wait_closed(rc, WAIT_MS), "connection left open");
	raw_close(rc);
	harness_server_stop(&srv);
}
END_TEST

/* ---- authorization ------------------------------------------------------ */

/*
 * CONNECT with json must get exactly -ERR 'Authorization Violation' and the
 * close.  INFO asks for auth unless no_auth_user is set.
 */
static void expect_auth_violation(const char *connect_json)
{
	struct raw_conn *rc = raw_connect(&srv);

	ck_assert(raw_wait_for(rc, "\r\n", WAIT_MS));
	ck_assert(raw_consume_through(rc, "\r\n"));
	raw_send_str(rc, "CONNECT ");
	raw_send_str(rc, connect_json);
	raw_send_str(rc, "\r\nPING\r\n");
	raw_expect(rc, "-ERR 'Authorization Violation'\r\n", WAIT_MS);
	ck_assert_msg(raw_wait_closed(rc, WAIT_MS), "rejected connection left open");
	ck_assert_msg(rc->len == 0, "bytes after the error: %s", raw_escaped(rc));
	raw_close(rc);
}

/* Connect with json, then round-trip one message on a private subject. */
static void expect_auth_ok(const char *connect_json)
{
	struct raw_conn *rc = raw_connect_ready(&srv, connect_json);

	raw_send_str(rc, "SUB t 1\r\nPUB t 2\r\nok\r\nPING\r\n");
	raw_expect(rc, "MSG t 1 2\r\nok\r\nPONG\r\n", WAIT_MS);
	raw_close(rc);
}

START_TEST(test_token_auth)
{
	struct raw_conn *rc;
	natsOptions *opts;
	natsConnection *nc = NULL;
	natsStatus s;

	harness_server_start(&srv, "authorization { token: s3cr3t }\n", NULL);
	rc = raw_connect(&srv);
	ck_assert(raw_wait_for(rc, "\r\n", WAIT_MS));
	ck_assert_msg(raw_contains(rc, "\"auth_required\":true"), "INFO: %s", raw_escaped(rc));
	raw_close(rc);
	expect_auth_ok("{\"verbose\":false,\"auth_token\":\"s3cr3t\"}");
	expect_auth_violation("{\"verbose\":false,\"auth_token\":\"s3cr3T\"}");
	expect_auth_violation("{\"verbose\":false}");
	/* The token is not accepted in the user field. */
	expect_auth_violation("{\"verbose\":false,\"user\":\"s3cr3t\"}");

	opts = harness_nats_options(&srv);
	ck_assert_int_eq(natsOptions_SetToken(opts, "s3cr3t"), NATS_OK);
	s = harness_nats_try_connect(&srv, opts, &nc);
	ck_assert_msg(s == NATS_OK, "nats.c with the token: %s", natsStatus_GetText(s));
	natsConnection_Destroy(nc);
	nc = NULL;
	ck_assert_int_eq(natsOptions_SetToken(opts, "wrong"), NATS_OK);
	s = harness_nats_try_connect(&srv, opts, &nc);
	ck_assert_msg(s == NATS_CONNECTION_AUTH_FAILED, "nats.c with a wrong token: %s",
		      natsStatus_GetText(s));
	natsOptions_Destroy(opts);
	harness_server_stop(&srv);
}
END_TEST

/*
 * bcrypt hashes of "pass" and "s3cr3t", cost 10, from `htpasswd -bnBC 10 ""
 * pass` with the $2y$ label written as $2a$ (same algorithm): unquoted, the
 * config parser takes a value starting with $2a$ as a string, not a variable.
 */
#define BCRYPT_PASS "$2a$10$Xh16wAf3SHZwavtHTibdsuygs7Lbjl.h5FEivhN4UHAZWogCpZtiS"
#define BCRYPT_TOKEN "$2a$10$2MxwTf4PWD9cMMIVp5J6mODsGwbsv8mjPtXWYdk0CUuYg.0eq.C.m"

START_TEST(test_bcrypt_password)
{
	harness_server_start(&srv, "authorization { user: u, password: " BCRYPT_PASS " }\n",
			     NULL);
	expect_auth_ok("{\"verbose\":false,\"user\":\"u\",\"pass\":\"pass\"}");
	expect_auth_violation("{\"verbose\":false,\"user\":\"u\",\"pass\":\"Pass\"}");
	/* The hash itself is not a password. */
	expect_auth_violation("{\"verbose\":false,\"user\":\"u\",\"pass\":\"" BCRYPT_PASS "\"}");
	harness_server_stop(&srv);

	harness_server_start(&srv, "authorization { token: " BCRYPT_TOKEN " }\n", NULL);
	expect_auth_ok("{\"verbose\":false,\"auth_token\":\"s3cr3t\"}");
	expect_auth_violation("{\"verbose\":false,\"auth_token\":\"s3cr3T\"}");
	harness_server_stop(&srv);
}
END_TEST

/* nats.c connects with user/pass. */
static void expect_nats_user_ok(const char *user, const char *pass)
{
	natsOptions *opts = harness_nats_options(&srv);
	natsConnection *nc = NULL;
	natsStatus s;

	ck_assert_int_eq(natsOptions_SetUserInfo(opts, user, pass), NATS_OK);
	s = harness_nats_try_connect(&srv, opts, &nc);
	ck_assert_msg(s == NATS_OK, "nats.c as %s: %s", user, natsStatus_GetText(s));
	natsConnection_Destroy(nc);
	natsOptions_Destroy(opts);
}

#define ACCOUNTS_CONF								\
	"accounts {\n"								\
	"  A { users: [ { user: a, password: a } ] }\n"			\
	"  B { users: [ { user: b, password: b } ] }\n"			\
	"}\n"									\
	"no_auth_user: b\n"

/*
 * Accounts A and B share subject x but not messages; a client without
 * credentials is bound to B by no_auth_user (and INFO then does not ask for
 * auth).  Order is exact: each publisher's PONG proves its message was
 * queued to every subscriber before the next step.
 */
START_TEST(test_accounts_isolation)
{
	struct raw_conn *a, *b, *anon;
	char line[8192];

	harness_server_start(&srv, ACCOUNTS_CONF, NULL);
	a = raw_connect_ready(&srv, "{\"verbose\":false,\"user\":\"a\",\"pass\":\"a\"}");
	b = raw_connect_ready(&srv, "{\"verbose\":false,\"user\":\"b\",\"pass\":\"b\"}");
	anon = raw_connect(&srv);
	ck_assert(raw_take_line(anon, line, sizeof(line), WAIT_MS));
	ck_assert_msg(strstr(line, "auth_required") == NULL, "INFO with no_auth_user: %s", line);
	raw_send_str(anon, "CONNECT " QUIET "\r\nPING\r\n");
	raw_expect(anon, "PONG\r\n", WAIT_MS);

	raw_send_str(a, "SUB x 1\r\nPING\r\n");
	raw_send_str(b, "SUB x 1\r\nPING\r\n");
	raw_send_str(anon, "SUB x 1\r\nPING\r\n");
	raw_expect(a, "PONG\r\n", WAIT_MS);
	raw_expect(b, "PONG\r\n", WAIT_MS);
	raw_expect(anon, "PONG\r\n", WAIT_MS);

	raw_send_str(a, "PUB x 2\r\nfa\r\nPING\r\n");
	raw_expect(a, "MSG x 1 2\r\nfa\r\nPONG\r\n", WAIT_MS);
	raw_send_str(b, "PUB x 2\r\nfb\r\nPING\r\n");
	raw_expect(b, "MSG x 1 2\r\nfb\r\nPONG\r\n", WAIT_MS);
	raw_send_str(anon, "PUB x 2\r\nfn\r\nPING\r\n");
	raw_expect(anon, "MSG x 1 2\r\nfb\r\nMSG x 1 2\r\nfn\r\nPONG\r\n", WAIT_MS);
	raw_send_str(b, "PING\r\n");
	raw_expect(b, "MSG x 1 2\r\nfn\r\nPONG\r\n", WAIT_MS);
	raw_send_str(a, "PING\r\n");
	raw_expect(a, "PONG\r\n", WAIT_MS);	/* nothing from account B */

	expect_auth_violation("{\"verbose\":false,\"user\":\"a\",\"pass\":\"b\"}");
	expect_auth_violation("{\"verbose\":false,\"user\":\"zz\",\"pass\":\"b\"}");

	/* nats.c with credentials and without. */
	expect_nats_user_ok("a", "a");
	expect_fresh_client_works();

	raw_close(a);
	raw_close(b);
	raw_close(anon);
	harness_server_stop(&srv);
}
END_TEST

/* ---- processes started without the harness ----------------------------- */

struct bare_server {
	pid_t pid;		/* 0 once reaped */
	char dir[256];		/* private folder: config, log, ports file */
	char log_path[300];
	char conf_path[300];
};

static const char *server_path(void)
{
	const char *path = getenv("NATS_TEST_SERVER");

	return (path != NULL && path[0] != '\0') ? path : HARNESS_DEFAULT_SERVER;
}

/* Make the private folder and write config_text (if any) to server.conf. */
static void bare_prepare(struct bare_server *b, const char *config_text)
{
	const char *tmp = getenv("TMPDIR");
	FILE *f;

	memset(b, 0, sizeof(*b));
	snprintf(b->dir, sizeof(b->dir), "%s/natslim-XXXXXX",
		 (tmp != NULL && tmp[0] != '\0') ? tmp : "/tmp");
	ck_assert_msg(mkdtemp(b->dir) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(b->log_path, sizeof(b->log_path), "%s/server.log", b->dir);
	snprintf(b->conf_path, sizeof(b->conf_path), "%s/server.conf", b->dir);
	if (config_text != NULL) {
		f = fopen(b->conf_path, "w");
		ck_assert_ptr_nonnull(f);
		fputs(config_text, f);
		ck_assert_int_eq(fclose(f), 0);
	}
}

/*
 * Start the server with exactly args (after argv[0]), output to the log.
 * The harness always passes `-p <port>`; these tests need other command
 * lines.  The process dies with the test (PR_SET_PDEATHSIG).
 */
static void bare_spawn(struct bare_server *b, const char *const *args)
{
	char *argv[16];
	int argc = 0;
	pid_t parent = getpid();

	argv[argc++] = (char *)server_path();
	for (int i = 0; args[i] != NULL && argc < 15; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	fflush(NULL);
	b->pid = fork();
	ck_assert_msg(b->pid >= 0, "fork: %s", strerror(errno));
	if (b->pid == 0) {
		int log_fd = open(b->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int null_fd = open("/dev/null", O_RDONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent || log_fd < 0 || null_fd < 0)
			_exit(126);
		dup2(null_fd, STDIN_FILENO);
		dup2(log_fd, STDOUT_FILENO);
		dup2(log_fd, STDERR_FILENO);
		close_range(3, ~0U, 0);
		execv(argv[0], argv);
		_exit(127);
	}
}

/* Wait up to ms for the process to exit; true, with its status, if it did. */
static bool bare_wait_exit(struct bare_server *b, int ms, int *status)
{
	long long deadline = harness_now_ms() + ms;

	while (harness_now_ms() < deadline) {
		if (waitpid(b->pid, status, WNOHANG) == b->pid) {
			b->pid = 0;
			return true;
		}
		harness_sleep_ms(5);
	}
	return false;
}

/* Kill if still running, print the log, remove the folder (flat). */
static void bare_cleanup(struct bare_server *b, bool show_log)
{
	DIR *d;
	struct dirent *de;
	char path[600];

	if (b->pid > 0) {
		kill(b->pid, SIGKILL);
		waitpid(b->pid, NULL, 0);
		b->pid = 0;
	}
	if (show_log) {
		struct harness_server view;

		memset(&view, 0, sizeof(view));
		snprintf(view.log_path, sizeof(view.log_path), "%s", b->log_path);
		harness_server_dump_log(&view);
	}
	d = opendir(b->dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			snprintf(path, sizeof(path), "%s/%s", b->dir, de->d_name);
			unlink(path);
		}
	}
	closedir(d);
	rmdir(b->dir);
}

/* Read up to cap-1 bytes of path into out; false if it cannot be opened. */
static bool read_text_file(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return false;
	n = fread(out, 1, cap - 1, f);
	fclose(f);
	out[n] = '\0';
	return true;
}

/*
 * 2.9.10 refuses a config whose max_payload (default 1 MiB) exceeds
 * max_pending: it prints "nats-server: max_payload (1048576) cannot be higher
 * than max_pending (65536)" and exits with status 1 before listening.
 */
START_TEST(test_max_pending_below_max_payload_refused)
{
	struct bare_server b;
	char log[16384];
	int status = 0;
	bool exited;

	bare_prepare(&b, "max_pending: 65536\n");
	bare_spawn(&b, (const char *const[]){ "-a", "127.0.0.1", "-p", "-1", "-c", b.conf_path,
					      NULL });
	exited = bare_wait_exit(&b, 5000, &status);
	read_text_file(b.log_path, log, sizeof(log));
	bare_cleanup(&b, !exited);
	ck_assert_msg(exited, "server started with max_payload (1 MiB) above max_pending "
		      "(64 KiB), log above");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "exit status 0x%x",
		      (unsigned)status);
	ck_assert_msg(strstr(log, "max_payload (1048576) cannot be higher than max_pending "
			     "(65536)") != NULL, "reason missing from the output: %s", log);
}
END_TEST

/* Find "<anything>_<pid>.ports" in dir; copy its name into out. */
static bool find_ports_file(const char *dir, pid_t pid, char *out, size_t cap)
{
	char suffix[32];
	size_t slen = (size_t)snprintf(suffix, sizeof(suffix), "_%d.ports", (int)pid);
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;

	if (d == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		if (n > slen && strcmp(de->d_name + n - slen, suffix) == 0) {
			snprintf(out, cap, "%s", de->d_name);
			found = true;
		}
	}
	closedir(d);
	return found;
}

/*
 * --ports_file_dir with -p -1 (random port): 2.9.10 writes
 * `<basename of argv[0]>_<pid>.ports` holding exactly
 * {"nats":["nats://127.0.0.1:<port>"]} (no newline), the port accepts
 * clients, and the file is removed on shutdown.
 */
START_TEST(test_ports_file)
{
	struct bare_server b;
	struct harness_server view;
	struct raw_conn *rc;
	char name[256], path[600], text[1024], want[256], info_port[64], exe[512];
	long long deadline;
	int port = 0, status = 0;
	bool have = false;

	bare_prepare(&b, NULL);
	bare_spawn(&b, (const char *const[]){ "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir",
					      b.dir, NULL });
	/* The file may appear in two steps: wait until it holds a whole object. */
	deadline = harness_now_ms() + 10000;
	while (!have && harness_now_ms() < deadline) {
		have = find_ports_file(b.dir, b.pid, name, sizeof(name));
		if (have) {
			snprintf(path, sizeof(path), "%s/%s", b.dir, name);
			have = read_text_file(path, text, sizeof(text)) &&
			       strlen(text) > 0 && text[strlen(text) - 1] == '}';
		}
		if (!have)
			harness_sleep_ms(10);
	}
	if (!have) {
		bare_cleanup(&b, true);
		ck_abort_msg("no *_%d.ports file within 10 s, log above", (int)b.pid);
	}

	snprintf(exe, sizeof(exe), "%s", server_path());
	snprintf(want, sizeof(want), "%s_%d.ports", basename(exe), (int)b.pid);
	ck_assert_msg(strcmp(name, want) == 0, "ports file %s, want %s", name, want);
	ck_assert_msg(sscanf(text, "{\"nats\":[\"nats://127.0.0.1:%d\"]}", &port) == 1 &&
		      port > 0 && port < 65536, "ports file content: %s", text);
	snprintf(want, sizeof(want), "{\"nats\":[\"nats://127.0.0.1:%d\"]}", port);
	ck_assert_msg(strcmp(text, want) == 0, "ports file content [%s], want [%s]", text, want);

	/* The advertised port is the client port. */
	memset(&view, 0, sizeof(view));
	view.port = port;
	rc = raw_connect(&view);
	ck_assert(raw_wait_for(rc, "\r\n", WAIT_MS));
	snprintf(info_port, sizeof(info_port), "\"port\":%d,", port);
	ck_assert_msg(raw_contains(rc, info_port), "INFO: %s", raw_escaped(rc));
	ck_assert(raw_consume_through(rc, "\r\n"));
	raw_send_str(rc, "CONNECT " QUIET "\r\nPING\r\n");
	raw_expect(rc, "PONG\r\n", WAIT_MS);
	raw_close(rc);

	/* A clean shutdown removes the file. */
	kill(b.pid, SIGTERM);
	if (!bare_wait_exit(&b, 5000, &status)) {
		bare_cleanup(&b, true);
		ck_abort_msg("server did not exit within 5 s of SIGTERM");
	}
	ck_assert_msg(access(path, F_OK) != 0, "ports file %s left after shutdown", name);
	bare_cleanup(&b, false);
}
END_TEST

static TCase *limits_tcase(void)
{
	TCase *tc = tcase_create("limits");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_slow_consumer_max_pending);
	tcase_add_test(tc, test_slow_consumer_write_deadline);
	tcase_add_test(tc, test_stale_connection);
	tcase_add_test(tc, test_max_connections);
	tcase_add_test(tc, test_max_subscriptions);
	tcase_add_test(tc, test_config_max_control_line);
	tcase_add_test(tc, test_max_pending_below_max_payload_refused);
	return tc;
}

static TCase *auth_tcase(void)
{
	TCase *tc = tcase_create("auth");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_token_auth);
	tcase_add_test(tc, test_bcrypt_password);
	tcase_add_test(tc, test_accounts_isolation);
	return tc;
}

static TCase *ports_tcase(void)
{
	TCase *tc = tcase_create("ports");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_ports_file);
	return tc;
}

int main(void)
{
	Suite *s = suite_create("limits");

	suite_add_tcase(s, limits_tcase());
	suite_add_tcase(s, auth_tcase());
	suite_add_tcase(s, ports_tcase());
	return harness_run(s);
}
