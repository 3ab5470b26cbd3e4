/*
 * test_client_proto.c - unit tests for the client protocol codec.
 *
 * Every table case is parsed in one piece, byte by byte, in random splits
 * and with the callback stopping after each op; all must give the same
 * ops (deep-copied into a text form in the callback) and the same error.
 * The expected results for the server role were checked against the
 * reference nats-server 2.9.10 on the wire (see client_proto.c).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/mem.h"
#include "lib/prng.h"
#include "proto/client_proto.h"

/* Check reports every passing ck_assert to the parent process, which is
 * too slow for per-byte loops: those use REQUIRE, which only reports a
 * failure. */
#define REQUIRE(cond) do { \
	if (!(cond)) \
		ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #cond); \
} while (0)

/* ------------------------------------------------------------------ */
/* Recording ops                                                       */

static const char *op_name(enum cp_op op)
{
	static const char *const names[] = {
		[CP_OP_CONNECT] = "CONNECT", [CP_OP_INFO] = "INFO",
		[CP_OP_PUB] = "PUB", [CP_OP_HPUB] = "HPUB",
		[CP_OP_SUB] = "SUB", [CP_OP_UNSUB] = "UNSUB",
		[CP_OP_PING] = "PING", [CP_OP_PONG] = "PONG",
		[CP_OP_OK] = "+OK", [CP_OP_ERR] = "-ERR",
		[CP_OP_MSG] = "MSG", [CP_OP_HMSG] = "HMSG",
	};
	if ((size_t)op < sizeof(names) / sizeof(names[0]) && names[op])
		return names[op];
	return "?";
}

static void put_esc(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c > 0x20 && c < 0x7f && c != '\\' && c != '|')
			buf_append_char(b, (char)c);
		else {
			char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
			buf_append(b, e, 4);
		}
	}
}

static void put_field(struct buf *b, const char *key, struct cp_slice s,
		      bool always)
{
	if (s.len == 0 && !always)
		return;
	buf_appendf(b, " %s=", key);
	put_esc(b, s.ptr, s.len);
}

static bool has_payload(enum cp_op op)
{
	return op == CP_OP_PUB || op == CP_OP_HPUB || op == CP_OP_MSG ||
	       op == CP_OP_HMSG;
}

static bool has_text_arg(enum cp_op op)
{
	return op == CP_OP_CONNECT || op == CP_OP_INFO || op == CP_OP_ERR;
}

/* One line per op.  The short form has what tests state by hand; the
 * full form (used to compare splits) also has the raw argument part. */
static void ser_msg(struct buf *b, const struct cp_msg *m, bool full)
{
	buf_append_str(b, op_name(m->op));
	put_field(b, "s", m->subject, full);
	put_field(b, "r", m->reply, full);
	put_field(b, "q", m->queue, full);
	put_field(b, "i", m->sid, full);
	if (full || has_text_arg(m->op))
		put_field(b, "a", m->arg, true);
	if (m->max_msgs != -1 || full)
		buf_appendf(b, " m=%lld", (long long)m->max_msgs);
	if (m->header_len != 0 || full)
		buf_appendf(b, " h=%zu", m->header_len);
	if (has_payload(m->op)) {
		buf_appendf(b, " t=%zu p=", m->total_len);
		put_esc(b, m->payload, m->total_len);
	} else if (full) {
		buf_appendf(b, " t=%zu", m->total_len);
	}
	buf_append_char(b, '\n');
}

struct rec {
	struct buf out;
	bool full;
	bool stop;              /* stop after every op */
	int ops;
	struct cp_parser *p;
	bool headers_on_connect; /* enable HPUB when CONNECT arrives */
};

static int rec_cb(void *arg, const struct cp_msg *m)
{
	struct rec *r = arg;

	ser_msg(&r->out, m, r->full);
	r->ops++;
	if (r->headers_on_connect && m->op == CP_OP_CONNECT)
		cp_parser_set_headers(r->p, true);
	return r->stop ? 1 : 0;
}

static const char *bstr(const struct buf *b)
{
	return b->data ? b->data : "";
}

/* ------------------------------------------------------------------ */
/* Driving the parser                                                  */

struct cfg {
	enum cp_role role;
	size_t mcl;
	int64_t mpay;
	bool headers;
};

static struct cfg cfg_server(void)
{
	struct cfg c = { CP_ROLE_SERVER, 4096, 1048576, true };
	return c;
}

static struct cfg cfg_client(void)
{
	struct cfg c = { CP_ROLE_CLIENT, 0, -1, true };
	return c;
}

enum mode { MODE_WHOLE, MODE_BYTES, MODE_RANDOM };

/* Feeds one chunk, re-feeding the rest after each stop. */
static int feed(struct cp_parser *p, struct rec *r, const char *d, size_t n)
{
	size_t off = 0;

	while (off < n) {
		size_t used = (size_t)-1;
		long rc = cp_parse(p, d + off, n - off, rec_cb, r, &used);
		REQUIRE(used <= n - off);
		if (rc == CP_STOPPED) {
			REQUIRE(r->stop);
			REQUIRE(used > 0);
			off += used;
			continue;
		}
		if (rc < 0)
			return (int)rc;
		REQUIRE(rc == (long)(n - off));
		REQUIRE(used == n - off);
		return 0;
	}
	return 0;
}

struct run {
	struct cfg cfg;
	enum mode mode;
	bool stop;
	bool full;
	uint64_t seed;
	size_t max_chunk;
};

/* Parses d with one strategy; the ops go to out, the error is returned. */
static int run_parse(const struct run *how, const char *d, size_t n,
		     struct buf *out, struct mem *outmem)
{
	struct mem mem;
	struct cp_parser p;
	struct rec r;
	struct prng rng;
	int err = 0;

	mem_init(&mem);
	cp_parser_init(&p, &mem, how->cfg.role);
	p.max_control_line = how->cfg.mcl;
	p.max_payload = how->cfg.mpay;
	cp_parser_set_headers(&p, how->cfg.headers);
	memset(&r, 0, sizeof(r));
	buf_init(&r.out, outmem);
	r.full = how->full;
	r.stop = how->stop;
	r.p = &p;
	prng_seed(&rng, how->seed);
	for (size_t off = 0; off < n && err == 0;) {
		size_t c = n - off;
		if (how->mode == MODE_BYTES)
			c = 1;
		else if (how->mode == MODE_RANDOM)
			c = 1 + (size_t)prng_below(&rng, how->max_chunk);
		if (c > n - off)
			c = n - off;
		/* Each chunk lives in its own buffer, scribbled over and freed
		 * after the feed: an op that kept pointing into an earlier
		 * feed would show garbage (or trip ASan). */
		char *chunk = malloc(c);
		REQUIRE(chunk != NULL);
		memcpy(chunk, d + off, c);
		err = feed(&p, &r, chunk, c);
		memset(chunk, '#', c);
		free(chunk);
		off += c;
	}
	if (err != 0) {
		/* Errors are sticky until reset. */
		REQUIRE(cp_parse(&p, "PING\r\n", 6, rec_cb, &r, NULL) == err);
	}
	cp_parser_free(&p);
	REQUIRE(mem.live_bytes == 0);
	*out = r.out;
	return err;
}

static void esc_input(struct buf *b, const char *d, size_t n)
{
	put_esc(b, d, n > 300 ? 300 : n);
}

/* Every strategy must give want/want_err (want == NULL: must agree with
 * the one-piece full-form result, whatever it is). */
static void check_all(struct cfg c, const char *d, size_t n,
		      const char *want, int want_err, uint64_t seed)
{
	struct mem outmem;
	struct buf ref, got, in;
	struct run how = { c, MODE_WHOLE, false, want == NULL, seed, 1 };
	int ref_err, err;

	mem_init(&outmem);
	buf_init(&in, &outmem);
	esc_input(&in, d, n);
	ref_err = run_parse(&how, d, n, &ref, &outmem);
	if (want != NULL && (strcmp(bstr(&ref), want) != 0 || ref_err != want_err))
		ck_abort_msg("input '%s':\n got '%s' err %d\nwant '%s' err %d",
			     bstr(&in), bstr(&ref), ref_err, want, want_err);
	for (int k = 0; k < 12; k++) {
		how.mode = k < 2 ? MODE_WHOLE : k < 4 ? MODE_BYTES : MODE_RANDOM;
		how.stop = (k & 1) != 0;
		how.seed = seed * 131 + (uint64_t)k;
		how.max_chunk = k < 8 ? 8 : 200;
		if (k == 0)
			continue;
		err = run_parse(&how, d, n, &got, &outmem);
		if (strcmp(bstr(&got), bstr(&ref)) != 0 || err != ref_err)
			ck_abort_msg("input '%s' strategy %d:\n got '%s' err %d\n"
				     "want '%s' err %d", bstr(&in), k, bstr(&got),
				     err, bstr(&ref), ref_err);
		buf_free(&got);
	}
	buf_free(&ref);
	buf_free(&in);
	REQUIRE(outmem.live_bytes == 0);
}

#define EXPECT(c, lit, want, err) check_all((c), (lit), sizeof(lit) - 1, \
					    (want), (err), 1)

/* ------------------------------------------------------------------ */
/* Valid forms, server role                                            */

START_TEST(test_server_connect_info)
{
	struct cfg c = cfg_server();

	EXPECT(c, "CONNECT {\"verbose\":false}\r\n",
	       "CONNECT a={\"verbose\":false}\n", 0);
	EXPECT(c, "CONNECT{}\r\n", "CONNECT a={}\n", 0);
	EXPECT(c, "connect \t {}\n", "CONNECT a={}\n", 0);
	EXPECT(c, "CoNnEcT\t{\"a\": 1}\r\n", "CONNECT a={\"a\":\\x201}\n", 0);
	/* The reference takes the first non-blank byte, even '\r' or '\n',
	 * as the start of the argument (CONNECT\n{...} is accepted). */
	EXPECT(c, "CONNECT\r\n", "CONNECT a=\\x0d\n", 0);
	EXPECT(c, "CONNECT\n{}\r\n", "CONNECT a=\\x0a{}\n", 0);
	/* Inner '\r' is an ordinary byte; only the one before '\n' goes. */
	EXPECT(c, "CONNECT {\r}\r\n", "CONNECT a={\\x0d}\n", 0);
	EXPECT(c, "INFO {}\r\ninfo{\"x\":1}\n",
	       "INFO a={}\nINFO a={\"x\":1}\n", 0);
}
END_TEST

START_TEST(test_server_pub)
{
	struct cfg c = cfg_server();

	EXPECT(c, "PUB foo 5\r\nhello\r\n", "PUB s=foo t=5 p=hello\n", 0);
	EXPECT(c, "pub foo bar 2\r\nhi\r\n", "PUB s=foo r=bar t=2 p=hi\n", 0);
	EXPECT(c, "pUb   foo\t bar  5\r\nhello\r\n",
	       "PUB s=foo r=bar t=5 p=hello\n", 0);
	EXPECT(c, "PUB\tfoo\t\t0\r\n\r\n", "PUB s=foo t=0 p=\n", 0);
	EXPECT(c, "PUB foo 0\r\n\r\nPUB foo 0\n\r\n",
	       "PUB s=foo t=0 p=\nPUB s=foo t=0 p=\n", 0);
	/* Trailing blanks are separators; payload may hold CR and LF. */
	EXPECT(c, "PUB foo 4 \r\n\r\n\r\n\r\n", "PUB s=foo t=4 p=\\x0d\\x0a\\x0d\\x0a\n", 0);
	EXPECT(c, "pub foo 1\r\n\r\r\n", "PUB s=foo t=1 p=\\x0d\n", 0);
	/* PUB splits on blanks only: the '\n' that starts the argument is
	 * part of the subject (the reference delivers nothing to "foo"). */
	EXPECT(c, "PUB \nfoo 1\r\nx\r\n", "PUB s=\\x0afoo t=1 p=x\n", 0);
	/* Leading zeros are fine while there are at most 9 digits. */
	EXPECT(c, "PUB foo 000000002\r\nab\r\n", "PUB s=foo t=2 p=ab\n", 0);
}
END_TEST

START_TEST(test_server_hpub)
{
	struct cfg c = cfg_server();

	EXPECT(c, "HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
	       "HPUB s=foo h=12 t=14 p=NATS/1.0\\x0d\\x0a\\x0d\\x0ahi\n", 0);
	EXPECT(c, "hpub\tfoo  rep\t12 12\nNATS/1.0\r\n\r\n\r\n",
	       "HPUB s=foo r=rep h=12 t=12 p=NATS/1.0\\x0d\\x0a\\x0d\\x0a\n", 0);
	EXPECT(c, "HPUB foo 0 0\r\n\r\n", "HPUB s=foo t=0 p=\n", 0);
	EXPECT(c, "HPUB foo 3 3\r\nabc\r\n", "HPUB s=foo h=3 t=3 p=abc\n", 0);
}
END_TEST

START_TEST(test_server_sub_unsub)
{
	struct cfg c = cfg_server();

	EXPECT(c, "SUB foo 1\r\n", "SUB s=foo i=1\n", 0);
	EXPECT(c, "sub foo.* q 22\n", "SUB s=foo.* q=q i=22\n", 0);
	EXPECT(c, "SUB foo\tq  1\r\n", "SUB s=foo q=q i=1\n", 0);
	/* SUB/UNSUB also split on '\r' and '\n'. */
	EXPECT(c, "SUB \nfoo 1\r\n", "SUB s=foo i=1\n", 0);
	EXPECT(c, "SUB foo\r1\r\n", "SUB s=foo i=1\n", 0);
	EXPECT(c, "UNSUB 1\r\n", "UNSUB i=1\n", 0);
	EXPECT(c, "unsub 1 5\r\n", "UNSUB i=1 m=5\n", 0);
	EXPECT(c, "UNSUB 1 0\r\n", "UNSUB i=1 m=0\n", 0);
	/* A bad max is not an error: it reads as -1 (remove now). */
	EXPECT(c, "UNSUB 1 abc\r\n", "UNSUB i=1\n", 0);
	EXPECT(c, "UNSUB 1 99999999999\r\n", "UNSUB i=1\n", 0);
	EXPECT(c, "UNSUB\t\t7  999999999 \r\n", "UNSUB i=7 m=999999999\n", 0);
}
END_TEST

START_TEST(test_server_ping_pong_ok_err)
{
	struct cfg c = cfg_server();

	EXPECT(c, "PING\r\nping\nPiNg foo bar\r\nPINGX\r\nPINGPONG\r\n",
	       "PING\nPING\nPING\nPING\nPING\n", 0);
	EXPECT(c, "PONG\r\npong x\n", "PONG\nPONG\n", 0);
	EXPECT(c, "+OK\r\n+ok\n+OKAY whatever\r\n", "+OK\n+OK\n+OK\n", 0);
	EXPECT(c, "-ERR 'Stale Connection'\r\n", "-ERR a=Stale\\x20Connection\n", 0);
	EXPECT(c, "-err\t\t'x' \r\n", "-ERR a=x\n", 0);
	EXPECT(c, "-ERR no quotes\r\n", "-ERR a=no\\x20quotes\n", 0);
	EXPECT(c, "-ERR ''\r\n", "-ERR a=\n", 0);
	EXPECT(c, "-ERR '\r\n", "-ERR a='\n", 0);
	EXPECT(c, "-ERR \r\n", "-ERR a=\\x0d\n", 0);
	/* Ops back to back in one buffer. */
	EXPECT(c, "SUB x 1\nPUB x 2\nhi\r\nPING\n",
	       "SUB s=x i=1\nPUB s=x t=2 p=hi\nPING\n", 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Errors, server role                                                 */

START_TEST(test_server_unknown_op)
{
	struct cfg c = cfg_server();

	EXPECT(c, "\r\nPING\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "\nPING\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, " PING\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "PING\r\n\r\n", "PING\n", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "PIN\r\nPING\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "CONNEC\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "PUBX foo 1\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "PUB\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "SUB\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "UNSUB\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "-ERR\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "XYZ\r\n", "", CP_ERR_UNKNOWN_OP);
	/* The failing byte is found at once, no need for the line end. */
	EXPECT(c, "PONG\r\nPUX", "PONG\n", CP_ERR_UNKNOWN_OP);
	/* Route, leaf and delivery ops are not for clients. */
	EXPECT(c, "RS+ foo 1\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "RS- foo\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "RMSG $G foo 1\r\nx\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "LS+ foo\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "LS- foo\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "LMSG foo 1\r\nx\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "A+ foo\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "A- foo\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "MSG foo 1 5\r\nhello\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "HMSG foo 1 5 10\r\n0123456789\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "hmsg foo 1 0 0\r\n\r\n", "", CP_ERR_UNKNOWN_OP);
}
END_TEST

START_TEST(test_server_payload_terminator)
{
	struct cfg c = cfg_server();

	EXPECT(c, "PUB foo 2\r\nhiX\r\nPING\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "PUB foo 2\r\nhi\nPING\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "PUB foo 1\r\nxy", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "PUB foo 1\r\nx\ry", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "PUB foo 0\r\n\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "HPUB foo 1 1\r\nxx\r\n", "", CP_ERR_UNKNOWN_OP);
	/* Incomplete but not wrong: nothing yet, no error. */
	EXPECT(c, "PUB foo 1\r\nx", "", 0);
	EXPECT(c, "PUB foo 1\r\nx\r", "", 0);
	EXPECT(c, "PUB foo 3\r\n", "", 0);
}
END_TEST

START_TEST(test_server_parse_errors)
{
	struct cfg c = cfg_server();

	EXPECT(c, "PUB foo bar baz 5\r\nhello\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "PUB foo\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "PUB \r\n", "", CP_ERR_PARSE);
	EXPECT(c, "PUB foo -1\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "PUB foo +5\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "PUB foo 5x\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "PUB foo 0000000005\r\nhello\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "PUB foo 99999999999\r\n", "", CP_ERR_PARSE);
	/* PUB does not split on '\r': "5\r" is not a number. */
	EXPECT(c, "PUB foo 5\r\r\nhello\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "HPUB foo 5\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "HPUB foo a b c 5\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "HPUB foo 5 3\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "HPUB foo x 3\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "HPUB foo 1 -3\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "SUB foo\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "SUB a b c d\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "SUB \r\n", "", CP_ERR_PARSE);
	EXPECT(c, "UNSUB \r\n", "", CP_ERR_PARSE);
	EXPECT(c, "UNSUB 1 2 3\r\n", "", CP_ERR_PARSE);
	/* Ops before the bad one are delivered. */
	EXPECT(c, "PING\r\nSUB foo\r\n", "PING\n", CP_ERR_PARSE);
}
END_TEST

START_TEST(test_server_hpub_without_headers)
{
	struct cfg c = cfg_server();
	struct mem mem, outmem;
	struct cp_parser p;
	struct rec r;
	static const char in[] =
		"HPUB foo 3 3\r\nabc\r\n";
	static const char in2[] =
		"CONNECT {\"headers\":true}\r\nHPUB foo 3 3\r\nabc\r\n";

	c.headers = false;
	EXPECT(c, "HPUB foo 3 3\r\nabc\r\n", "", CP_ERR_PARSE);
	/* The reference closes silently here, before the size checks. */
	EXPECT(c, "HPUB foo 1 2000000\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "PUB foo 1\r\nx\r\n", "PUB s=foo t=1 p=x\n", 0);

	/* Enabled from the callback, it applies to the next op. */
	mem_init(&mem);
	mem_init(&outmem);
	cp_parser_init(&p, &mem, CP_ROLE_SERVER);
	cp_parser_set_headers(&p, false);
	memset(&r, 0, sizeof(r));
	buf_init(&r.out, &outmem);
	r.p = &p;
	r.headers_on_connect = true;
	ck_assert_int_eq(cp_parse(&p, in2, sizeof(in2) - 1, rec_cb, &r, NULL),
			 (long)sizeof(in2) - 1);
	ck_assert_str_eq(bstr(&r.out), "CONNECT a={\"headers\":true}\n"
			 "HPUB s=foo h=3 t=3 p=abc\n");
	cp_parser_reset(&p);
	cp_parser_set_headers(&p, false);
	ck_assert_int_eq(cp_parse(&p, in, sizeof(in) - 1, rec_cb, &r, NULL),
			 CP_ERR_PARSE);
	cp_parser_free(&p);
	buf_free(&r.out);
	ck_assert_uint_eq(mem.live_bytes, 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Limits                                                              */

/* "PUB foo rrr... 0\r\n\r\n" whose argument part is n bytes long. */
static char *pub_with_arg(size_t n, const char *op_and_blanks, size_t *len)
{
	size_t ol = strlen(op_and_blanks);
	char *s = malloc(ol + n + 8);

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_ge(n, 7);
	memcpy(s, op_and_blanks, ol);
	memcpy(s + ol, "foo ", 4);
	memset(s + ol + 4, 'r', n - 6);
	memcpy(s + ol + n - 2, " 0\r\n\r\n", 6);
	*len = ol + n + 4;
	return s;
}

START_TEST(test_max_control_line_complete)
{
	struct cfg c = cfg_server();
	char *want = malloc(4200);
	size_t len;
	char *s;

	/* 4096 argument bytes pass, 4097 fail; the op name, the blanks after
	 * it and the CRLF do not count. */
	ck_assert_ptr_nonnull(want);
	strcpy(want, "PUB s=foo r=");
	memset(want + 12, 'r', 4090);
	strcpy(want + 12 + 4090, " t=0 p=\n");
	s = pub_with_arg(4096, "PUB ", &len);
	check_all(c, s, len, want, 0, 3);
	free(s);
	s = pub_with_arg(4096, "PUB\t\t  ", &len);
	check_all(c, s, len, want, 0, 4);
	free(s);
	s = pub_with_arg(4097, "PUB ", &len);
	check_all(c, s, len, "", CP_ERR_MAX_CONTROL_LINE, 5);
	free(s);
	free(want);
}
END_TEST

START_TEST(test_max_control_line_edges)
{
	struct cfg c = cfg_server();
	struct mem outmem;
	struct buf out;
	struct run how = { c, MODE_WHOLE, false, false, 1, 1 };
	size_t len;
	char *s;

	mem_init(&outmem);
	s = pub_with_arg(4097, "PUB ", &len);
	/* The limit is configurable, and 0 means no limit. */
	how.cfg.mcl = 5000;
	ck_assert_int_eq(run_parse(&how, s, len, &out, &outmem), 0);
	ck_assert_int_eq(strncmp(bstr(&out), "PUB s=foo r=rrr", 15), 0);
	buf_free(&out);
	how.cfg.mcl = 0;
	ck_assert_int_eq(run_parse(&how, s, len, &out, &outmem), 0);
	ck_assert_int_eq(strncmp(bstr(&out), "PUB s=foo r=rrr", 15), 0);
	buf_free(&out);
	free(s);
	/* No limit on the client role either (below the 1 MiB bound). */
	how.cfg = cfg_client();
	s = pub_with_arg(4097, "INFO ", &len);
	ck_assert_int_eq(run_parse(&how, s, len - 2, &out, &outmem), 0);
	ck_assert_int_eq(strncmp(bstr(&out), "INFO a=foo\\x20rrr", 17), 0);
	buf_free(&out);
	free(s);

	/* CONNECT and -ERR count the same way. */
	c.mcl = 10;
	EXPECT(c, "CONNECT 0123456789\r\n", "CONNECT a=0123456789\n", 0);
	EXPECT(c, "CONNECT 0123456789A\r\n", "", CP_ERR_MAX_CONTROL_LINE);
	EXPECT(c, "CONNECT{}\r\n-ERR 0123456789A\r\n", "CONNECT a={}\n",
	       CP_ERR_MAX_CONTROL_LINE);
	/* PING/PONG/+OK lines are not stored, hence not limited. */
	EXPECT(c, "PING 0123456789ABCDEF\r\n", "PING\n", 0);
	ck_assert_uint_eq(outmem.live_bytes, 0);
}
END_TEST

/* A line that has not ended yet is held to the limit as it arrives. */
START_TEST(test_max_control_line_partial)
{
	struct mem mem, outmem;
	struct cp_parser p;
	struct rec r;
	char big[4200];

	mem_init(&mem);
	mem_init(&outmem);
	memset(&r, 0, sizeof(r));
	buf_init(&r.out, &outmem);
	memset(big, 'x', sizeof(big));

	cp_parser_init(&p, &mem, CP_ROLE_SERVER);
	ck_assert_int_eq(cp_parse(&p, "PUB ", 4, rec_cb, &r, NULL), 4);
	ck_assert_int_eq(cp_parse(&p, big, 4096, rec_cb, &r, NULL), 4096);
	/* A '\r' that may be the line's own is not counted yet. */
	ck_assert_int_eq(cp_parse(&p, "\r", 1, rec_cb, &r, NULL), 1);
	ck_assert_int_eq(cp_parse(&p, "x", 1, rec_cb, &r, NULL),
			 CP_ERR_MAX_CONTROL_LINE);
	/* The scratch buffer never held more than the limit + 1 byte. */
	ck_assert_uint_le(mem.peak_bytes, 4097 + 64);
	cp_parser_reset(&p);

	ck_assert_int_eq(cp_parse(&p, "PUB ", 4, rec_cb, &r, NULL), 4);
	ck_assert_int_eq(cp_parse(&p, big, 4096, rec_cb, &r, NULL), 4096);
	ck_assert_int_eq(cp_parse(&p, "\r", 1, rec_cb, &r, NULL), 1);
	ck_assert_int_eq(cp_parse(&p, "\n", 1, rec_cb, &r, NULL), CP_ERR_PARSE);
	cp_parser_reset(&p);

	ck_assert_int_eq(cp_parse(&p, "PUB ", 4, rec_cb, &r, NULL), 4);
	ck_assert_int_eq(cp_parse(&p, big, 4097, rec_cb, &r, NULL),
			 CP_ERR_MAX_CONTROL_LINE);
	cp_parser_free(&p);
	ck_assert_uint_eq(mem.live_bytes, 0);

	/* Without a configured limit a line is still bounded (1 MiB). */
	cp_parser_init(&p, &mem, CP_ROLE_CLIENT);
	ck_assert_int_eq(cp_parse(&p, "INFO ", 5, rec_cb, &r, NULL), 5);
	long rc = 0;
	for (int i = 0; i < 300 && rc >= 0; i++)
		rc = cp_parse(&p, big, sizeof(big), rec_cb, &r, NULL);
	ck_assert_int_eq(rc, CP_ERR_MAX_CONTROL_LINE);
	ck_assert_uint_le(mem.peak_bytes, (1u << 20) + 64);
	cp_parser_free(&p);
	ck_assert_uint_eq(mem.live_bytes, 0);
	ck_assert_int_eq(r.ops, 0);
	buf_free(&r.out);
}
END_TEST

START_TEST(test_max_payload)
{
	struct cfg c = cfg_server();

	/* Checked when the line ends, before any payload byte. */
	EXPECT(c, "PUB foo 1048576\r\n", "", 0);
	EXPECT(c, "PUB foo 1048577\r\n", "", CP_ERR_MAX_PAYLOAD);
	EXPECT(c, "PUB foo 999999999\r\n", "", CP_ERR_MAX_PAYLOAD);
	EXPECT(c, "HPUB foo 1 2000000\r\n", "", CP_ERR_MAX_PAYLOAD);
	/* Argument and size errors come first. */
	EXPECT(c, "PUB foo bar baz 2000000\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "HPUB foo x 2000000\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "HPUB foo 3000000 2000000\r\n", "", CP_ERR_PARSE);
	c.mpay = 4;
	EXPECT(c, "PUB foo 4\r\nabcd\r\nPUB foo 5\r\n",
	       "PUB s=foo t=4 p=abcd\n", CP_ERR_MAX_PAYLOAD);
	EXPECT(c, "HPUB foo 2 4\r\nabcd\r\nHPUB foo 2 5\r\nabcde\r\n",
	       "HPUB s=foo h=2 t=4 p=abcd\n", CP_ERR_MAX_PAYLOAD);
	c.mpay = 0;
	EXPECT(c, "PUB foo 0\r\n\r\nPUB foo 1\r\nx\r\n", "PUB s=foo t=0 p=\n",
	       CP_ERR_MAX_PAYLOAD);
	c.mpay = -1;
	EXPECT(c, "PUB foo 2000000\r\n", "", 0);
	/* The client role applies a configured limit to MSG/HMSG. */
	c = cfg_client();
	c.mpay = 3;
	EXPECT(c, "MSG foo 1 3\r\nabc\r\nMSG foo 1 4\r\n",
	       "MSG s=foo i=1 t=3 p=abc\n", CP_ERR_MAX_PAYLOAD);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Client role                                                         */

START_TEST(test_client_role)
{
	struct cfg c = cfg_client();

	EXPECT(c, "INFO {\"server_id\":\"N\"} \r\n",
	       "INFO a={\"server_id\":\"N\"}\\x20\n", 0);
	EXPECT(c, "MSG foo 1 5\r\nhello\r\n", "MSG s=foo i=1 t=5 p=hello\n", 0);
	EXPECT(c, "msg foo 1 bar 0\n\r\n", "MSG s=foo r=bar i=1 t=0 p=\n", 0);
	EXPECT(c, "HMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
	       "HMSG s=foo i=1 h=12 t=14 p=NATS/1.0\\x0d\\x0a\\x0d\\x0ahi\n", 0);
	EXPECT(c, "HMSG _INBOX.x 9 _R_.y 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
	       "HMSG s=_INBOX.x r=_R_.y i=9 h=16 t=16 "
	       "p=NATS/1.0\\x20503\\x0d\\x0a\\x0d\\x0a\n", 0);
	EXPECT(c, "PING\r\nPONG\r\n+OK\r\n-ERR 'Authorization Violation'\r\n",
	       "PING\nPONG\n+OK\n-ERR a=Authorization\\x20Violation\n", 0);
	EXPECT(c, "MSG foo 1\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "MSG foo 1 2 3 4\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "MSG foo 1 x\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "HMSG foo 1 5\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "HMSG foo 1 6 5\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "HMSG a b c d e f\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "MSG foo 1 1\r\nxx", "", CP_ERR_UNKNOWN_OP);
	/* What only a server receives is unknown to a client. */
	EXPECT(c, "CONNECT {}\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "PUB foo 0\r\n\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "HPUB foo 0 0\r\n\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "SUB foo 1\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "UNSUB 1\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "RMSG x\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "LS+ x\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "A+ x\r\n", "", CP_ERR_UNKNOWN_OP);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Fast path, stop and resume, memory                                  */

struct ptr_rec {
	const char *lo, *hi;
	int inside;
	int ops;
};

static int ptr_cb(void *arg, const struct cp_msg *m)
{
	struct ptr_rec *r = arg;

	r->ops++;
	if (m->payload >= r->lo && m->payload + m->total_len <= r->hi &&
	    m->subject.ptr >= r->lo && m->subject.ptr < r->hi)
		r->inside++;
	return 0;
}

START_TEST(test_fast_path_no_copy)
{
	static const char in[] = "PUB foo 5\r\nhello\r\nHPUB a b 3 4\r\nabcd\r\n"
				 "PUB x 0\r\n\r\n";
	struct mem mem;
	struct cp_parser p;
	struct ptr_rec r = { in, in + sizeof(in) - 1, 0, 0 };

	mem_init(&mem);
	cp_parser_init(&p, &mem, CP_ROLE_SERVER);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(cp_parse(&p, in, sizeof(in) - 1, ptr_cb, &r,
					  NULL), (long)sizeof(in) - 1);
	ck_assert_int_eq(r.ops, 300);
	ck_assert_int_eq(r.inside, 300);
	ck_assert_uint_eq(mem.alloc_count, 0);
	cp_parser_free(&p);
}
END_TEST

/* Whole PUB/HPUB ops in one feed take a shortcut past the byte-by-byte
 * state machine; check_all compares it with byte-wise and random feeds,
 * on the forms it takes and on those it must leave alone. */
START_TEST(test_fast_path_forms)
{
	struct cfg c = cfg_server();

	EXPECT(c, "PUB foo 5\r\nhelloPUB foo 1\r\nx\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "PUB foo 1\r\nx\r\nSUB a 1\r\npUb\tfoo\t r \t1 \t\ny\r\n",
	       "PUB s=foo t=1 p=x\nSUB s=a i=1\nPUB s=foo r=r t=1 p=y\n", 0);
	EXPECT(c, "PUB foo\r 1\r\nx\r\n", "PUB s=foo\\x0d t=1 p=x\n", 0);
	EXPECT(c, "PUB foo 999999999\r\n", "", CP_ERR_MAX_PAYLOAD);
	EXPECT(c, "PUB foo 1a\r\nx\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "PUB foo a1\r\nx\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "PUB 1\r\nx\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "PUB foo 1 \r\nx\r\n", "PUB s=foo t=1 p=x\n", 0);
	EXPECT(c, "PUB a b c\t1\r\nx\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "PUBX foo 1\r\nx\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "PUB\r\nfoo 1\r\nx\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "PUSH foo 1\r\nx\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "HPUX foo 1 1\r\nx\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "HMSG foo 1 1 1\r\nx\r\n", "", CP_ERR_UNKNOWN_OP);
	EXPECT(c, "hPuB a r 1 2\r\nxy\r\nHPUB a 0 0\r\n\r\n",
	       "HPUB s=a r=r h=1 t=2 p=xy\nHPUB s=a t=0 p=\n", 0);
	EXPECT(c, "HPUB a 1 2 3\r\nxyz\r\n", "HPUB s=a r=1 h=2 t=3 p=xyz\n", 0);
	EXPECT(c, "HPUB a b c 2 3\r\nxyz\r\n", "", CP_ERR_PARSE);
	EXPECT(c, "HPUB a 3 2\r\nxy\r\n", "", CP_ERR_PARSE);
	/* A payload that continues past the feed, then a whole op. */
	EXPECT(c, "PUB foo 3\r\nab", "", 0);
	c.mcl = 5;
	EXPECT(c, "PUB foo 1\r\nx\r\nPUB fooo 1\r\nx\r\n", "PUB s=foo t=1 p=x\n",
	       CP_ERR_MAX_CONTROL_LINE);
	/* The client role never takes it: PUB is not a server's op. */
	EXPECT(cfg_client(), "PUB foo 1\r\nx\r\n", "", CP_ERR_UNKNOWN_OP);
}
END_TEST

START_TEST(test_stop_resume)
{
	static const char in[] = "PING\r\nPUB foo 2\r\nhi\r\nSUB a 1\r\nPONG\r\n";
	static const size_t ends[] = { 6, 21, 30, 36 };
	struct mem mem, outmem;
	struct cp_parser p;
	struct rec r;
	size_t off = 0, used;

	mem_init(&mem);
	mem_init(&outmem);
	cp_parser_init(&p, &mem, CP_ROLE_SERVER);
	memset(&r, 0, sizeof(r));
	buf_init(&r.out, &outmem);
	r.stop = true;
	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(cp_parse(&p, in + off, sizeof(in) - 1 - off,
					  rec_cb, &r, &used), CP_STOPPED);
		off += used;
		ck_assert_uint_eq(off, ends[i]);
		ck_assert_int_eq(r.ops, (int)i + 1);
	}
	ck_assert_int_eq(cp_parse(&p, in + off, 0, rec_cb, &r, &used), 0);
	ck_assert_str_eq(bstr(&r.out), "PING\nPUB s=foo t=2 p=hi\nSUB s=a i=1\n"
			 "PONG\n");
	/* A stop on a split payload resumes too. */
	ck_assert_int_eq(cp_parse(&p, "PUB x 3\r\nab", 11, rec_cb, &r, &used), 11);
	ck_assert_int_eq(cp_parse(&p, "c\r\nPING\r\n", 9, rec_cb, &r, &used),
			 CP_STOPPED);
	ck_assert_uint_eq(used, 3);
	ck_assert_int_eq(cp_parse(&p, "PING\r\n", 6, rec_cb, &r, &used),
			 CP_STOPPED);
	ck_assert_str_eq(bstr(&r.out), "PING\nPUB s=foo t=2 p=hi\nSUB s=a i=1\n"
			 "PONG\nPUB s=x t=3 p=abc\nPING\n");
	cp_parser_free(&p);
	buf_free(&r.out);
	ck_assert_uint_eq(mem.live_bytes, 0);
}
END_TEST

START_TEST(test_split_payload_memory)
{
	struct mem mem, outmem;
	struct cp_parser p;
	struct rec r;
	enum { BIG = 200000 };
	char *payload = malloc(BIG);
	char line[64];

	mem_init(&mem);
	mem_init(&outmem);
	memset(&r, 0, sizeof(r));
	buf_init(&r.out, &outmem);
	ck_assert_ptr_nonnull(payload);
	memset(payload, 'z', BIG);
	cp_parser_init(&p, &mem, CP_ROLE_SERVER);
	size_t n = cp_encode_pub_line(line, sizeof(line), "big", 3, NULL, 0,
				      false, 0, BIG);
	ck_assert_int_eq(cp_parse(&p, line, n, rec_cb, &r, NULL), (long)n);
	for (size_t off = 0; off < BIG; off += 1000)
		ck_assert_int_eq(cp_parse(&p, payload + off, 1000, rec_cb, &r,
					  NULL), 1000);
	ck_assert_int_eq(r.ops, 0);
	/* Sized once from the announced size. */
	ck_assert_uint_le(mem.alloc_count, 1);
	ck_assert_int_eq(cp_parse(&p, "\r\n", 2, rec_cb, &r, NULL), 2);
	ck_assert_int_eq(r.ops, 1);
	/* A big scratch buffer is given back after its op. */
	ck_assert_uint_eq(mem.live_bytes, 0);
	cp_parser_free(&p);
	buf_free(&r.out);
	free(payload);
}
END_TEST

START_TEST(test_nomem)
{
	struct mem mem, outmem;
	struct cp_parser p;
	struct rec r;

	mem_init(&mem);
	mem_init(&outmem);
	memset(&r, 0, sizeof(r));
	buf_init(&r.out, &outmem);
	cp_parser_init(&p, &mem, CP_ROLE_SERVER);
	mem.fail_at = 1;
	ck_assert_int_eq(cp_parse(&p, "PUB foo 5\r\nhe", 13, rec_cb, &r, NULL),
			 CP_ERR_NOMEM);
	ck_assert_int_eq(cp_parse(&p, "llo\r\n", 5, rec_cb, &r, NULL),
			 CP_ERR_NOMEM);
	cp_parser_reset(&p);
	ck_assert_int_eq(cp_parse(&p, "PUB foo 5\r\nhe", 13, rec_cb, &r, NULL), 13);
	ck_assert_int_eq(cp_parse(&p, "llo\r\n", 5, rec_cb, &r, NULL), 5);
	ck_assert_str_eq(bstr(&r.out), "PUB s=foo t=5 p=hello\n");
	mem.fail_at = mem.alloc_count + 1;
	cp_parser_free(&p);
	cp_parser_init(&p, &mem, CP_ROLE_SERVER);
	ck_assert_int_eq(cp_parse(&p, "SUB foo", 7, rec_cb, &r, NULL),
			 CP_ERR_NOMEM);
	cp_parser_free(&p);
	buf_free(&r.out);
	ck_assert_uint_eq(mem.live_bytes, 0);
}
END_TEST

START_TEST(test_sticky_error_and_reset)
{
	struct mem mem;
	struct cp_parser p;
	struct rec r;
	size_t used = 99;

	mem_init(&mem);
	memset(&r, 0, sizeof(r));
	buf_init(&r.out, &mem);
	cp_parser_init(&p, &mem, CP_ROLE_SERVER);
	ck_assert_int_eq(cp_parse(&p, "PING\r\nXPING\r\n", 13, rec_cb, &r, &used),
			 CP_ERR_UNKNOWN_OP);
	ck_assert_uint_eq(used, 6);
	ck_assert_int_eq(r.ops, 1);
	ck_assert_int_eq(cp_parse(&p, "PING\r\n", 6, rec_cb, &r, &used),
			 CP_ERR_UNKNOWN_OP);
	ck_assert_uint_eq(used, 0);
	ck_assert_int_eq(r.ops, 1);
	cp_parser_reset(&p);
	ck_assert_int_eq(cp_parse(&p, "PING\r\n", 6, rec_cb, &r, &used), 6);
	ck_assert_int_eq(r.ops, 2);
	/* Reset in the middle of an op forgets it. */
	ck_assert_int_eq(cp_parse(&p, "PUB foo 3\r\na", 12, rec_cb, &r, NULL), 12);
	cp_parser_reset(&p);
	ck_assert_int_eq(cp_parse(&p, "PONG\r\n", 6, rec_cb, &r, NULL), 6);
	ck_assert_str_eq(bstr(&r.out), "PING\nPING\nPONG\n");
	cp_parser_free(&p);
	buf_free(&r.out);
	ck_assert_uint_eq(mem.live_bytes, 0);
}
END_TEST

START_TEST(test_err_text)
{
	ck_assert_str_eq(cp_err_text(CP_ERR_UNKNOWN_OP),
			 "Unknown Protocol Operation");
	ck_assert_str_eq(cp_err_text(CP_ERR_MAX_CONTROL_LINE),
			 "maximum control line exceeded");
	ck_assert_str_eq(cp_err_text(CP_ERR_MAX_PAYLOAD),
			 "Maximum Payload Violation");
	ck_assert_ptr_null(cp_err_text(CP_ERR_PARSE));
	ck_assert_ptr_null(cp_err_text(CP_ERR_NOMEM));
	ck_assert_ptr_null(cp_err_text(CP_OK));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Encoders                                                            */

#define ENC_EQ(call, want) do { \
	char out_[256]; \
	size_t n_ = (call); \
	ck_assert_uint_eq(n_, sizeof(want) - 1); \
	ck_assert(memcmp(out_, (want), n_) == 0); \
} while (0)

START_TEST(test_encoders)
{
	ENC_EQ(cp_encode_msg_line(out_, sizeof(out_), "foo", 3, "1", 1, NULL, 0,
				  false, 0, 5), "MSG foo 1 5\r\n");
	ENC_EQ(cp_encode_msg_line(out_, sizeof(out_), "foo", 3, "12", 2, "r.x", 3,
				  false, 0, 0), "MSG foo 12 r.x 0\r\n");
	ENC_EQ(cp_encode_msg_line(out_, sizeof(out_), "foo", 3, "1", 1, NULL, 0,
				  true, 16, 16), "HMSG foo 1 16 16\r\n");
	ENC_EQ(cp_encode_msg_line(out_, sizeof(out_), "a", 1, "7", 1, "b", 1,
				  true, 12, 1234567890123ULL),
	       "HMSG a 7 b 12 1234567890123\r\n");
	ENC_EQ(cp_encode_pub_line(out_, sizeof(out_), "foo", 3, NULL, 0, false,
				  0, 5), "PUB foo 5\r\n");
	ENC_EQ(cp_encode_pub_line(out_, sizeof(out_), "foo", 3, "_INBOX.1", 8,
				  true, 12, 14), "HPUB foo _INBOX.1 12 14\r\n");
	ENC_EQ(cp_encode_sub_line(out_, sizeof(out_), "foo.*", 5, NULL, 0, "1", 1),
	       "SUB foo.* 1\r\n");
	ENC_EQ(cp_encode_sub_line(out_, sizeof(out_), "foo", 3, "q", 1, "22", 2),
	       "SUB foo q 22\r\n");
	ENC_EQ(cp_encode_unsub_line(out_, sizeof(out_), "1", 1, -1),
	       "UNSUB 1\r\n");
	ENC_EQ(cp_encode_unsub_line(out_, sizeof(out_), "1", 1, 0),
	       "UNSUB 1 0\r\n");
	ENC_EQ(cp_encode_unsub_line(out_, sizeof(out_), "1", 1, 10),
	       "UNSUB 1 10\r\n");
	ENC_EQ(cp_encode_connect_line(out_, sizeof(out_), "{}", 2),
	       "CONNECT {}\r\n");
	ENC_EQ(cp_encode_info_line(out_, sizeof(out_), "{\"a\":1}", 7),
	       "INFO {\"a\":1} \r\n");
	ENC_EQ(cp_encode_err_line(out_, sizeof(out_), "Stale Connection", 16),
	       "-ERR 'Stale Connection'\r\n");
	ck_assert_str_eq(CP_PING_LINE, "PING\r\n");
	ck_assert_str_eq(CP_PONG_LINE, "PONG\r\n");
	ck_assert_str_eq(CP_OK_LINE, "+OK\r\n");
}
END_TEST

START_TEST(test_encoders_capacity)
{
	char out[64];
	const size_t full = sizeof("HMSG foo 1 r 12 14\r\n") - 1;

	for (size_t cap = 0; cap <= full; cap++) {
		memset(out, '#', sizeof(out));
		size_t n = cp_encode_msg_line(out, cap, "foo", 3, "1", 1, "r", 1,
					      true, 12, 14);
		ck_assert_uint_eq(n, cap == full ? full : 0);
		/* Never writes past cap. */
		ck_assert_int_eq(out[cap], '#');
	}
	ck_assert_uint_eq(cp_encode_unsub_line(out, 9, "1", 1, -1), 9);
	ck_assert_uint_eq(cp_encode_unsub_line(out, 8, "1", 1, -1), 0);
	ck_assert_uint_eq(cp_encode_err_line(out, 10, "x", 1), 10);
	ck_assert_uint_eq(cp_encode_err_line(out, 9, "x", 1), 0);
}
END_TEST

/* head + sid + tail is the line cp_encode_msg_line writes. */
static void check_parts(const char *subject, size_t subject_len,
			const char *reply, bool hdr, size_t h, size_t t)
{
	static const char *const sids[] = { "1", "22", "abcdefghij0123456789" };
	struct cp_msg_parts mp;
	char want[2 * CP_MSG_PARTS_MAX + 64], got[sizeof(want) + 32];
	size_t rl = reply ? strlen(reply) : 0;

	mp.rendered = false;
	ck_assert(cp_msg_parts_render(&mp, subject, subject_len, reply, rl, hdr,
				      h, t));
	ck_assert(mp.rendered && mp.fits && mp.has_headers == hdr);
	ck_assert(mp.subject == subject && mp.subject_len == subject_len);
	for (size_t i = 0; i < sizeof(sids) / sizeof(sids[0]); i++) {
		size_t sl = strlen(sids[i]);
		size_t n = cp_encode_msg_line(want, sizeof(want), subject,
					      subject_len, sids[i], sl, reply,
					      rl, hdr, h, t);
		ck_assert_uint_gt(n, 0);
		memcpy(got, mp.head, mp.head_len);
		memcpy(got + mp.head_len, sids[i], sl);
		memcpy(got + mp.head_len + sl, mp.tail, mp.tail_len);
		ck_assert_uint_eq(mp.head_len + sl + mp.tail_len, n);
		ck_assert(memcmp(got, want, n) == 0);
	}
}

START_TEST(test_msg_parts)
{
	char big[CP_MSG_PARTS_MAX + 1];
	struct cp_msg_parts mp;

	check_parts("foo", 3, NULL, false, 0, 5);
	check_parts("foo", 3, "r.x", false, 0, 0);
	check_parts("a.b.c", 5, NULL, true, 16, 16);
	check_parts("a", 1, "_INBOX.abc", true, 12, 1234567890123ULL);
	check_parts("x", 1, NULL, false, 0, 9);
	check_parts("x", 1, NULL, false, 0, 10);
	check_parts("x", 1, NULL, true, 99, 100);
	check_parts("x", 1, NULL, false, 0, SIZE_MAX);
	/* The longest subject that fits in head ("HMSG " + subject + ' '),
	 * and one more; the same for the reply in tail. */
	memset(big, 's', sizeof(big));
	check_parts(big, CP_MSG_PARTS_MAX - 6, NULL, true, 1, 2);
	ck_assert(!cp_msg_parts_render(&mp, big, CP_MSG_PARTS_MAX - 5, NULL, 0,
				       true, 1, 2));
	ck_assert(mp.rendered && !mp.fits);
	ck_assert(cp_msg_parts_render(&mp, big, CP_MSG_PARTS_MAX - 5, NULL, 0,
				      false, 0, 2));
	big[200] = '\0';
	check_parts("r", 1, big, true, 1, 2);
	ck_assert(!cp_msg_parts_render(&mp, "r", 1, big, sizeof(big), false,
				       0, 2));
	ck_assert(!mp.fits);
}
END_TEST

/* Lines from the encoders parse back to the same fields. */
START_TEST(test_encoders_round_trip)
{
	char buf[512];
	size_t n = 0;

	n += cp_encode_pub_line(buf + n, sizeof(buf) - n, "a.b", 3, "r", 1,
				false, 0, 2);
	memcpy(buf + n, "hi\r\n", 4);
	n += 4;
	n += cp_encode_pub_line(buf + n, sizeof(buf) - n, "h", 1, NULL, 0,
				true, 3, 5);
	memcpy(buf + n, "abcde\r\n", 7);
	n += 7;
	n += cp_encode_sub_line(buf + n, sizeof(buf) - n, "a.>", 3, "q", 1,
				"9", 1);
	n += cp_encode_unsub_line(buf + n, sizeof(buf) - n, "9", 1, 3);
	n += cp_encode_connect_line(buf + n, sizeof(buf) - n, "{}", 2);
	check_all(cfg_server(), buf, n,
		  "PUB s=a.b r=r t=2 p=hi\nHPUB s=h h=3 t=5 p=abcde\n"
		  "SUB s=a.> q=q i=9\nUNSUB i=9 m=3\nCONNECT a={}\n", 0, 7);

	n = cp_encode_info_line(buf, sizeof(buf), "{}", 2);
	n += cp_encode_msg_line(buf + n, sizeof(buf) - n, "s", 1, "1", 1, "r", 1,
				true, 2, 3);
	memcpy(buf + n, "xyz\r\n", 5);
	n += 5;
	n += cp_encode_err_line(buf + n, sizeof(buf) - n, "Bad Thing", 9);
	check_all(cfg_client(), buf, n,
		  "INFO a={}\\x20\nHMSG s=s r=r i=1 h=2 t=3 p=xyz\n"
		  "-ERR a=Bad\\x20Thing\n", 0, 8);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Random streams                                                      */

struct gen {
	struct prng rng;
	struct buf in;      /* the stream */
	struct buf want;    /* short form of its ops */
	struct buf tmp;
	enum cp_role role;
};

static uint64_t rnd(struct gen *g, uint64_t n)
{
	return prng_below(&g->rng, n);
}

static void gen_name(struct gen *g, const char *name)
{
	for (const char *s = name; *s; s++) {
		char c = *s;
		if (c >= 'A' && c <= 'Z' && rnd(g, 2))
			c = (char)(c + ('a' - 'A'));
		buf_append_char(&g->in, c);
	}
}

static void gen_blanks(struct gen *g, int min)
{
	int n = min + (rnd(g, 3) == 0 ? (int)rnd(g, 4) : 0);

	for (int i = 0; i < n; i++)
		buf_append_char(&g->in, rnd(g, 3) ? ' ' : '\t');
}

static void gen_eol(struct gen *g)
{
	buf_append_str(&g->in, rnd(g, 4) ? "\r\n" : "\n");
}

/* A token into g->tmp at offset off; returns its slice offset/len. */
static struct cp_slice gen_token(struct gen *g, struct buf *dst)
{
	static const char alpha[] = "abcxyzABC019._-*>$";
	size_t n = 1 + rnd(g, 12);
	size_t start = dst->len;

	for (size_t i = 0; i < n; i++)
		buf_append_char(dst, alpha[rnd(g, sizeof(alpha) - 1)]);
	struct cp_slice s = { (const char *)(uintptr_t)start, n };
	return s;
}

static void fix(struct buf *b, struct cp_slice *s)
{
	if (s->len > 0)
		s->ptr = b->data + (uintptr_t)s->ptr;
}

static size_t gen_payload_len(struct gen *g)
{
	uint64_t r = rnd(g, 100);

	if (r < 70)
		return rnd(g, 41);
	if (r < 97)
		return 41 + rnd(g, 600);
	return 600 + rnd(g, 70000);
}

/* Writes "<tokens...> <sizes>" with blanks, then the payload. */
static void gen_payload_op(struct gen *g, struct cp_msg *m, bool headers)
{
	struct cp_slice sub = gen_token(g, &g->tmp), rep = { 0, 0 };
	struct cp_slice sid = { 0, 0 };
	bool server = g->role == CP_ROLE_SERVER;

	if (!server)
		sid = gen_token(g, &g->tmp);
	if (rnd(g, 2))
		rep = gen_token(g, &g->tmp);
	size_t hlen = headers ? 10 + rnd(g, 20) : 0;
	size_t total = hlen + gen_payload_len(g);
	size_t pay = g->tmp.len;
	for (size_t i = 0; i < total; i++)
		buf_append_char(&g->tmp, (char)rnd(g, 256));
	fix(&g->tmp, &sub);
	fix(&g->tmp, &sid);
	fix(&g->tmp, &rep);
	m->subject = sub;
	m->sid = sid;
	m->reply = rep;
	m->header_len = hlen;
	m->total_len = total;
	m->payload = g->tmp.data + pay;
	gen_name(g, server ? (headers ? "HPUB" : "PUB") :
		 (headers ? "HMSG" : "MSG"));
	gen_blanks(g, 1);
	buf_append(&g->in, sub.ptr, sub.len);
	if (!server) {
		gen_blanks(g, 1);
		buf_append(&g->in, sid.ptr, sid.len);
	}
	if (rep.len) {
		gen_blanks(g, 1);
		buf_append(&g->in, rep.ptr, rep.len);
	}
	if (headers) {
		gen_blanks(g, 1);
		buf_append_u64(&g->in, hlen);
	}
	gen_blanks(g, 1);
	buf_append_u64(&g->in, total);
	gen_blanks(g, 0);
	gen_eol(g);
	buf_append(&g->in, m->payload, total);
	buf_append_str(&g->in, "\r\n");
}

static void gen_sub_unsub(struct gen *g, struct cp_msg *m)
{
	if (rnd(g, 2)) {
		struct cp_slice s = gen_token(g, &g->tmp), q = { 0, 0 };
		if (rnd(g, 2))
			q = gen_token(g, &g->tmp);
		struct cp_slice i = gen_token(g, &g->tmp);
		fix(&g->tmp, &s);
		fix(&g->tmp, &q);
		fix(&g->tmp, &i);
		m->op = CP_OP_SUB;
		m->subject = s;
		m->queue = q;
		m->sid = i;
		gen_name(g, "SUB");
		gen_blanks(g, 1);
		buf_append(&g->in, s.ptr, s.len);
		if (q.len) {
			gen_blanks(g, 1);
			buf_append(&g->in, q.ptr, q.len);
		}
		gen_blanks(g, 1);
		buf_append(&g->in, i.ptr, i.len);
	} else {
		struct cp_slice i = gen_token(g, &g->tmp);
		fix(&g->tmp, &i);
		m->op = CP_OP_UNSUB;
		m->sid = i;
		gen_name(g, "UNSUB");
		gen_blanks(g, 1);
		buf_append(&g->in, i.ptr, i.len);
		if (rnd(g, 2)) {
			m->max_msgs = (int64_t)rnd(g, 1000000);
			gen_blanks(g, 1);
			buf_append_u64(&g->in, (uint64_t)m->max_msgs);
		}
	}
	gen_blanks(g, 0);
	gen_eol(g);
}

/* CONNECT/INFO/-ERR, or PING/PONG/+OK with junk after the name. */
static void gen_text_op(struct gen *g, struct cp_msg *m, int kind)
{
	static const char *const names[] = { "PING", "PONG", "+OK" };
	static const enum cp_op ops[] = { CP_OP_PING, CP_OP_PONG, CP_OP_OK };

	if (kind < 3) {
		m->op = ops[kind];
		gen_name(g, names[kind]);
		if (rnd(g, 3) == 0) {
			struct cp_slice junk = gen_token(g, &g->tmp);
			buf_append(&g->in, g->tmp.data + (uintptr_t)junk.ptr,
				   junk.len);
			buf_append_str(&g->in, rnd(g, 2) ? " \r" : "\t");
		}
		gen_eol(g);
		return;
	}
	struct cp_slice t = gen_token(g, &g->tmp);
	fix(&g->tmp, &t);
	if (kind == 3) {
		m->op = g->role == CP_ROLE_SERVER ? CP_OP_CONNECT : CP_OP_INFO;
		gen_name(g, g->role == CP_ROLE_SERVER ? "CONNECT" : "INFO");
		gen_blanks(g, 0);
		m->arg = t;
		buf_append(&g->in, t.ptr, t.len);
	} else {
		m->op = CP_OP_ERR;
		gen_name(g, "-ERR");
		gen_blanks(g, 1);
		m->arg = t;
		buf_append_char(&g->in, '\'');
		buf_append(&g->in, t.ptr, t.len);
		buf_append_char(&g->in, '\'');
	}
	gen_eol(g);
}

/* A valid stream of ops with its expected short form. */
static void gen_stream(struct gen *g, int ops)
{
	for (int k = 0; k < ops; k++) {
		struct cp_msg m;
		memset(&m, 0, sizeof(m));
		m.max_msgs = -1;
		buf_reset(&g->tmp);
		uint64_t r = rnd(g, 10);
		if (r < 3) {
			m.op = g->role == CP_ROLE_SERVER ? CP_OP_PUB : CP_OP_MSG;
			gen_payload_op(g, &m, false);
		} else if (r < 5) {
			m.op = g->role == CP_ROLE_SERVER ? CP_OP_HPUB : CP_OP_HMSG;
			gen_payload_op(g, &m, true);
		} else if (r < 6 && g->role == CP_ROLE_SERVER) {
			gen_sub_unsub(g, &m);
		} else {
			gen_text_op(g, &m, (int)rnd(g, 5));
		}
		ser_msg(&g->want, &m, false);
	}
}

static void gen_init(struct gen *g, struct mem *mem, enum cp_role role,
		     uint64_t seed)
{
	prng_seed(&g->rng, seed);
	buf_init(&g->in, mem);
	buf_init(&g->want, mem);
	buf_init(&g->tmp, mem);
	g->role = role;
}

static void gen_free(struct gen *g)
{
	buf_free(&g->in);
	buf_free(&g->want);
	buf_free(&g->tmp);
}

static void random_valid(enum cp_role role, uint64_t seeds)
{
	struct mem mem;
	struct cfg c = role == CP_ROLE_SERVER ? cfg_server() : cfg_client();

	mem_init(&mem);
	for (uint64_t seed = 1; seed <= seeds; seed++) {
		struct gen g;
		gen_init(&g, &mem, role, seed);
		gen_stream(&g, 1 + (int)rnd(&g, 25));
		/* The expected ops, in every split. */
		check_all(c, g.in.data, g.in.len, bstr(&g.want), 0, seed);
		/* And every split agrees on the full form. */
		check_all(c, g.in.data, g.in.len, NULL, 0, seed);
		gen_free(&g);
	}
	ck_assert_uint_eq(mem.live_bytes, 0);
}

START_TEST(test_random_valid_server)
{
	random_valid(CP_ROLE_SERVER, 150);
}
END_TEST

START_TEST(test_random_valid_client)
{
	random_valid(CP_ROLE_CLIENT, 150);
}
END_TEST

/* Valid streams ending in garbage, mutated, truncated, or parsed with
 * small limits: whatever the outcome, every split must agree on it. */
static void random_broken(enum cp_role role, uint64_t seeds)
{
	static const char junk[] = "PUBSINGHMOKCTEFRLA+-pubsingmok \t\r\n"
				   "0123456789'{}x";
	struct mem mem;

	mem_init(&mem);
	for (uint64_t seed = 1; seed <= seeds; seed++) {
		struct gen g;
		struct cfg c = role == CP_ROLE_SERVER ? cfg_server() : cfg_client();
		gen_init(&g, &mem, role, seed * 7919);
		gen_stream(&g, 1 + (int)rnd(&g, 12));
		uint64_t how = rnd(&g, 4);
		size_t n = g.in.len;
		if (how == 0 || how == 3) {
			for (uint64_t i = 1 + rnd(&g, 20); i > 0; i--)
				buf_append_char(&g.in, junk[rnd(&g, sizeof(junk) - 1)]);
			n = g.in.len;
		}
		if (how == 1 || how == 3) {
			for (uint64_t i = 1 + rnd(&g, 4); i > 0; i--) {
				size_t at = (size_t)rnd(&g, g.in.len);
				g.in.data[at] = rnd(&g, 2) ?
					junk[rnd(&g, sizeof(junk) - 1)] :
					(char)rnd(&g, 256);
			}
		}
		if (how == 2)
			n = (size_t)rnd(&g, g.in.len + 1);
		if (rnd(&g, 3) == 0) {
			c.mcl = 1 + rnd(&g, 40);
			c.mpay = (int64_t)rnd(&g, 300);
		}
		check_all(c, g.in.data, n, NULL, 0, seed);
		gen_free(&g);
	}
	ck_assert_uint_eq(mem.live_bytes, 0);
}

START_TEST(test_random_broken_server)
{
	random_broken(CP_ROLE_SERVER, 400);
}
END_TEST

START_TEST(test_random_broken_client)
{
	random_broken(CP_ROLE_CLIENT, 400);
}
END_TEST

/* Pure noise from the protocol's alphabet. */
START_TEST(test_random_noise)
{
	static const char alpha[] = "PUBSINGHMOKCTEF+-pubsing \t\r\n015'{}";
	struct prng rng;
	char in[200];

	prng_seed(&rng, 42);
	for (uint64_t seed = 1; seed <= 500; seed++) {
		size_t n = 1 + (size_t)prng_below(&rng, sizeof(in));
		for (size_t i = 0; i < n; i++)
			in[i] = alpha[prng_below(&rng, sizeof(alpha) - 1)];
		struct cfg c = (seed & 1) ? cfg_server() : cfg_client();
		c.mcl = 1 + prng_below(&rng, 30);
		c.mpay = (int64_t)prng_below(&rng, 20);
		check_all(c, in, n, NULL, 0, seed);
	}
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *client_proto_suite(void)
{
	Suite *s = suite_create("client_proto");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_server_connect_info);
	tcase_add_test(tc, test_server_pub);
	tcase_add_test(tc, test_server_hpub);
	tcase_add_test(tc, test_server_sub_unsub);
	tcase_add_test(tc, test_server_ping_pong_ok_err);
	tcase_add_test(tc, test_server_unknown_op);
	tcase_add_test(tc, test_server_payload_terminator);
	tcase_add_test(tc, test_server_parse_errors);
	tcase_add_test(tc, test_server_hpub_without_headers);
	tcase_add_test(tc, test_max_control_line_complete);
	tcase_add_test(tc, test_max_control_line_edges);
	tcase_add_test(tc, test_max_control_line_partial);
	tcase_add_test(tc, test_max_payload);
	tcase_add_test(tc, test_client_role);
	tcase_add_test(tc, test_fast_path_no_copy);
	tcase_add_test(tc, test_fast_path_forms);
	tcase_add_test(tc, test_stop_resume);
	tcase_add_test(tc, test_split_payload_memory);
	tcase_add_test(tc, test_nomem);
	tcase_add_test(tc, test_sticky_error_and_reset);
	tcase_add_test(tc, test_err_text);
	tcase_add_test(tc, test_encoders);
	tcase_add_test(tc, test_encoders_capacity);
	tcase_add_test(tc, test_encoders_round_trip);
	tcase_add_test(tc, test_msg_parts);
	suite_add_tcase(s, tc);

	TCase *tr = tcase_create("random");
	tcase_set_timeout(tr, 300);
	tcase_add_test(tr, test_random_valid_server);
	tcase_add_test(tr, test_random_valid_client);
	tcase_add_test(tr, test_random_broken_server);
	tcase_add_test(tr, test_random_broken_client);
	tcase_add_test(tr, test_random_noise);
	suite_add_tcase(s, tr);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(client_proto_suite());

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
