/*
 * test_peer_proto.c - unit tests for the leaf node / route codec.
 *
 * Every table case is parsed in one piece, byte by byte, in random splits
 * and with the callback stopping after each op; all must give the same
 * transcript (ops written out as text in the callback, then the final
 * status).  The expected forms follow nats-server 2.9.10 (parser.go,
 * leafnode.go, route.go) and the traffic observed between two 2.9.10
 * servers (shared reference, leafnode and route protocol documents).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/assert.h"
#include "lib/buf.h"
#include "lib/mem.h"
#include "lib/prng.h"
#include "proto/peer_proto.h"

/* Check reports every passing ck_assert to the parent process, which is
 * too slow for per-byte loops: those use REQUIRE, which only reports a
 * failure. */
#define REQUIRE(cond) do { \
	if (!(cond)) \
		ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #cond); \
} while (0)

#define S(lit) ((struct peer_slice){ (lit), sizeof(lit) - 1 })
#define NO_SLICE ((struct peer_slice){ NULL, 0 })

/* ------------------------------------------------------------------ */
/* Transcripts                                                         */

static const char *op_name(enum peer_op op)
{
	static const char *const names[] = {
		[PEER_OP_CONNECT] = "CONNECT", [PEER_OP_INFO] = "INFO",
		[PEER_OP_PING] = "PING", [PEER_OP_PONG] = "PONG",
		[PEER_OP_OK] = "OK", [PEER_OP_ERR] = "ERR",
		[PEER_OP_SUB] = "SUB", [PEER_OP_UNSUB] = "UNSUB",
		[PEER_OP_MSG] = "MSG", [PEER_OP_PUB] = "PUB",
		[PEER_OP_ACCOUNT_SUB] = "A+", [PEER_OP_ACCOUNT_UNSUB] = "A-",
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
		if (c > 0x20 && c < 0x7f && c != '\\')
			buf_append_char(b, (char)c);
		else {
			char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
			buf_append(b, e, 4);
		}
	}
}

static void put_field(struct buf *b, const char *key, struct peer_slice s)
{
	if (s.len == 0)
		return;
	buf_appendf(b, " %s=", key);
	put_esc(b, s.ptr, s.len);
}

/* One line per op: "SUB a=$G s=foo q=grp w=2", "MSG s=foo qs=a,b t=2
 * p=hi"; with full, the raw argument part too. */
static void ser_msg(struct buf *b, const struct peer_msg *m, bool full)
{
	bool text = m->op == PEER_OP_CONNECT || m->op == PEER_OP_INFO ||
		    m->op == PEER_OP_ERR;

	buf_append_str(b, op_name(m->op));
	put_field(b, "o", m->origin);
	if (m->op != PEER_OP_ACCOUNT_SUB && m->op != PEER_OP_ACCOUNT_UNSUB)
		put_field(b, "a", m->account);
	else
		put_field(b, "acc", m->account);
	put_field(b, "s", m->subject);
	put_field(b, "r", m->reply);
	put_field(b, "q", m->queue);
	if (m->op == PEER_OP_SUB && m->queue.len > 0)
		buf_appendf(b, " w=%lld", (long long)m->weight);
	if (m->queue_count > 0) {
		struct peer_slice it = m->queues, q;
		buf_appendf(b, " qs(%zu)=", m->queue_count);
		for (size_t i = 0; peer_queues_next(&it, &q); i++) {
			if (i > 0)
				buf_append_char(b, ',');
			put_esc(b, q.ptr, q.len);
		}
	}
	if (text || full) {
		buf_append_str(b, " arg=");
		put_esc(b, m->arg.ptr, m->arg.len);
	}
	if (m->has_headers)
		buf_appendf(b, " h=%zu", m->header_len);
	if (m->op == PEER_OP_MSG || m->op == PEER_OP_PUB) {
		buf_appendf(b, " t=%zu p=", m->total_len);
		put_esc(b, m->payload, m->total_len);
	}
	buf_append_char(b, '\n');
}

struct rec {
	struct buf out;
	bool full;
	bool stop;
};

static int rec_cb(void *arg, const struct peer_msg *m)
{
	struct rec *r = arg;

	if (m->op == PEER_OP_MSG || m->op == PEER_OP_PUB)
		REQUIRE(m->payload != NULL);
	REQUIRE(m->header_len <= m->total_len);
	ser_msg(&r->out, m, r->full);
	return r->stop ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* Driving the parser                                                  */

struct cfg {
	enum peer_role role;
	size_t mcl;
	int64_t mpay;
	int64_t mmsg;
	bool headers;
	bool set;          /* use the fields above, not the role defaults */
};

enum mode { MODE_WHOLE, MODE_BYTES, MODE_RANDOM };

static int feed(struct peer_parser *p, struct rec *r, const char *d, size_t n)
{
	size_t off = 0;

	while (off < n) {
		size_t used = (size_t)-1;
		long rc = peer_parse(p, d + off, n - off, rec_cb, r, &used);
		REQUIRE(used <= n - off);
		if (rc == PEER_STOPPED) {
			REQUIRE(r->stop && used > 0);
			off += used;
			continue;
		}
		if (rc < 0)
			return (int)rc;
		REQUIRE(rc == (long)(n - off) && used == n - off);
		return 0;
	}
	return 0;
}

static void parser_setup(struct peer_parser *p, struct mem *mem,
			 const struct cfg *cfg)
{
	mem_init(mem);
	peer_parser_init(p, mem, cfg->role);
	if (cfg->set) {
		p->max_control_line = cfg->mcl;
		p->max_payload = cfg->mpay;
		p->max_msg_payload = cfg->mmsg;
		peer_parser_set_headers(p, cfg->headers);
	}
}

/* Parses d with one strategy into out (ops, then "!<status>" on error). */
static void run_parse(const struct cfg *cfg, enum mode mode, bool stop,
		      bool full, uint64_t seed, const char *d, size_t n,
		      struct buf *out, struct mem *outmem)
{
	struct mem mem;
	struct peer_parser p;
	struct rec r = { .full = full, .stop = stop };
	struct prng rng;
	int err = 0;
	size_t off = 0;

	parser_setup(&p, &mem, cfg);
	buf_init(&r.out, outmem);
	prng_seed(&rng, seed);
	while (off < n && err == 0) {
		size_t k = n - off;
		if (mode == MODE_BYTES)
			k = 1;
		else if (mode == MODE_RANDOM) {
			size_t piece = 1 + prng_below(&rng, 1 + prng_below(&rng, 40));
			k = MIN(k, piece);
		}
		err = feed(&p, &r, d + off, k);
		off += k;
	}
	if (err != 0)
		buf_appendf(&r.out, "!%d\n", err);
	peer_parser_free(&p);
	REQUIRE(mem.live_bytes == 0);
	buf_append_char(&r.out, '\0');
	*out = r.out;
}

/* Runs every strategy, requires they agree, returns the short transcript
 * (caller frees with free()). */
static char *parse_all(const struct cfg *cfg, const char *d, size_t n)
{
	struct mem m;
	struct buf want, got, brief;

	mem_init(&m);
	run_parse(cfg, MODE_WHOLE, false, true, 0, d, n, &want, &m);
	for (int i = 0; i < 14; i++) {
		enum mode mode = i == 0 ? MODE_BYTES : i == 1 ? MODE_WHOLE : MODE_RANDOM;
		run_parse(cfg, mode, i % 2 == 1, true, (uint64_t)i, d, n, &got, &m);
		if (strcmp(want.data, got.data) != 0)
			ck_abort_msg("split %d differs:\nwhole:\n%s\nsplit:\n%s",
				     i, want.data, got.data);
		buf_free(&got);
	}
	run_parse(cfg, MODE_WHOLE, false, false, 0, d, n, &brief, &m);
	char *s = strdup(brief.data);
	buf_free(&want);
	buf_free(&brief);
	return s;
}

static void expect(const struct cfg *cfg, const char *in, const char *want)
{
	char *got = parse_all(cfg, in, strlen(in));
	if (strcmp(got, want) != 0)
		ck_abort_msg("input: %s\nwant:\n%s\ngot:\n%s", in, want, got);
	free(got);
}

static const struct cfg LEAF = { .role = PEER_LEAF };
static const struct cfg ROUTE = { .role = PEER_ROUTE };

struct tcase {
	const char *in;
	const char *want;
};

static void run_table(const struct cfg *cfg, const struct tcase *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		expect(cfg, t[i].in, t[i].want);
}

/* ------------------------------------------------------------------ */
/* Leaf connections                                                    */

START_TEST(test_leaf_handshake)
{
	static const struct tcase t[] = {
		{ "INFO {\"server_id\":\"N\",\"leafnode_urls\":[\"a:1\"]} \r\n",
		  "INFO arg={\"server_id\":\"N\",\"leafnode_urls\":[\"a:1\"]}\\x20\n" },
		{ "CONNECT {\"name\":\"leaf\",\"headers\":true}\r\n",
		  "CONNECT arg={\"name\":\"leaf\",\"headers\":true}\n" },
		{ "CONNECT{}\r\ninfo\t{}\n", "CONNECT arg={}\nINFO arg={}\n" },
		{ "PING\r\nPONG\r\n+OK\r\nping\npong\r\n",
		  "PING\nPONG\nOK\nPING\nPONG\n" },
		{ "PINGX\r\nPONG foo\r\n", "PING\nPONG\n" },
		{ "-ERR 'Loop detected for leafnode account=\"ACC\"'\r\n",
		  "ERR arg=Loop\\x20detected\\x20for\\x20leafnode\\x20account=\"ACC\"\n" },
		{ "-ERR\t  plain text  \r\n", "ERR arg=plain\\x20text\n" },
	};
	run_table(&LEAF, t, ARRAY_LEN(t));
}
END_TEST

START_TEST(test_leaf_interest)
{
	static const struct tcase t[] = {
		{ "LS+ foo\r\n", "SUB s=foo\n" },
		{ "LS+ bar q1 3\r\n", "SUB s=bar q=q1 w=3\n" },
		{ "ls+ $LDS.4pseJ4cOkYR6IVfWv4Osqb\r\n",
		  "SUB s=$LDS.4pseJ4cOkYR6IVfWv4Osqb\n" },
		{ "LS+ qq grp abc\r\n", "SUB s=qq q=grp w=-1\n" },
		{ "LS+\t foo  q \t 0010\r\n", "SUB s=foo q=q w=10\n" },
		/* The reference takes RS+ and SUB on a leaf as LS+. */
		{ "RS+ foo\r\nSUB bar g 2\r\n", "SUB s=foo\nSUB s=bar q=g w=2\n" },
		{ "LS- foo\r\nLS- bar q1\r\n", "UNSUB s=foo\nUNSUB s=bar q=q1\n" },
		{ "RS- foo\r\nUNSUB foo\r\n", "UNSUB s=foo\nUNSUB s=foo\n" },
		/* Forms that name no sub are no-ops in the reference. */
		{ "LS- a b c\r\nLS- \r\nPING\r\n", "PING\n" },
		{ "LS+ a b\r\n", "!-4\n" },
		{ "LS+ a b c d\r\n", "!-4\n" },
		{ "LS+ \r\n", "!-4\n" },
		{ "LS+foo\r\n", "!-1\n" },
		{ "LS* foo\r\n", "!-1\n" },
	};
	run_table(&LEAF, t, ARRAY_LEN(t));
}
END_TEST

START_TEST(test_leaf_messages)
{
	static const struct tcase t[] = {
		{ "LMSG foo reply.1 5\r\nhello\r\n", "MSG s=foo r=reply.1 t=5 p=hello\n" },
		{ "LMSG baz 2\r\nhi\r\n", "MSG s=baz t=2 p=hi\n" },
		{ "LMSG bar | q1 3\r\nabc\r\n", "MSG s=bar qs(1)=q1 t=3 p=abc\n" },
		{ "LMSG bar + r.2 q1 3\r\nabc\r\n",
		  "MSG s=bar r=r.2 qs(1)=q1 t=3 p=abc\n" },
		{ "LMSG bar | a b c 0\r\n\r\n", "MSG s=bar qs(3)=a,b,c t=0 p=\n" },
		{ "LMSG bar + r 1\r\nx\r\n", "MSG s=bar r=r t=1 p=x\n" },
		{ "LMSG bar | 1\r\nx\r\n", "MSG s=bar r=| t=1 p=x\n" },
		{ "HMSG foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n",
		  "MSG s=foo h=12 t=17 p=NATS/1.0\\x0d\\x0a\\x0d\\x0ahello\n" },
		{ "HMSG foo rep 0 0\r\n\r\n", "MSG s=foo r=rep h=0 t=0 p=\n" },
		{ "HMSG qq + rr grp g2 2 2\r\nhi\r\n",
		  "MSG s=qq r=rr qs(2)=grp,g2 h=2 t=2 p=hi\n" },
		/* RMSG is LMSG on a leaf. */
		{ "RMSG foo 1\r\nx\r\n", "MSG s=foo t=1 p=x\n" },
		{ "lmsg\tfoo\t\t2\r\nab\r\n", "MSG s=foo t=2 p=ab\n" },
		{ "LMSG foo 2\nab\r\n", "MSG s=foo t=2 p=ab\n" },
		{ "PUB foo 2\r\nhi\r\nHPUB foo r 1 2\r\nxy\r\n",
		  "PUB s=foo t=2 p=hi\nPUB s=foo r=r h=1 t=2 p=xy\n" },
	};
	run_table(&LEAF, t, ARRAY_LEN(t));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Routes                                                              */

START_TEST(test_route_interest)
{
	static const struct tcase t[] = {
		{ "RS+ $G foo\r\nRS+ $G foo grp 1\r\nRS+ $G bar\r\n",
		  "SUB a=$G s=foo\nSUB a=$G s=foo q=grp w=1\nSUB a=$G s=bar\n" },
		{ "RS- $G bar\r\nRS- $G foo grp\r\n",
		  "UNSUB a=$G s=bar\nUNSUB a=$G s=foo q=grp\n" },
		{ "LS+ SOMECLUSTER ACC foo\r\n", "SUB o=SOMECLUSTER a=ACC s=foo\n" },
		{ "LS+ C ACC foo q 4\r\n", "SUB o=C a=ACC s=foo q=q w=4\n" },
		{ "LS- ACC foo\r\nUNSUB ACC foo q\r\n",
		  "UNSUB a=ACC s=foo\nUNSUB a=ACC s=foo q=q\n" },
		/* SUB is read and ignored on a route. */
		{ "SUB foo 1\r\nSUB\r\nPING\r\n", "!-1\n" },
		{ "SUB foo 1\r\nSUB x\r\nPING\r\n", "PING\n" },
		{ "RS+ $G\r\n", "!-4\n" },
		{ "RS+ $G foo q\r\n", "!-4\n" },
		{ "RS+ $G foo q 1 x\r\n", "!-4\n" },
		{ "LS+ C ACC\r\n", "!-4\n" },
		{ "LS+ C ACC foo q\r\n", "!-4\n" },
		{ "RS- $G\r\n", "!-4\n" },
		{ "RS- $G a b c\r\n", "!-4\n" },
		{ "A+ ACC\r\nA- ACC\r\nAu ACC\r\n", "A+ acc=ACC\nA- acc=ACC\nA- acc=ACC\n" },
		{ "AU ACC\r\n", "!-1\n" },
	};
	run_table(&ROUTE, t, ARRAY_LEN(t));
}
END_TEST

START_TEST(test_route_messages)
{
	static const struct tcase t[] = {
		{ "RMSG $G baz r.1 2\r\nhi\r\n", "MSG a=$G s=baz r=r.1 t=2 p=hi\n" },
		{ "RMSG $G qq | g1 2\r\nhi\r\n", "MSG a=$G s=qq qs(1)=g1 t=2 p=hi\n" },
		{ "RMSG $G foo + rr grp 2\r\nhi\r\n",
		  "MSG a=$G s=foo r=rr qs(1)=grp t=2 p=hi\n" },
		{ "RMSG $G foo | a b c d e f g 0\r\n\r\n",
		  "MSG a=$G s=foo qs(7)=a,b,c,d,e,f,g t=0 p=\n" },
		{ "HMSG $G baz 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
		  "MSG a=$G s=baz h=12 t=14 p=NATS/1.0\\x0d\\x0a\\x0d\\x0ahi\n" },
		{ "HMSG $G baz + r q1 q2 1 2\r\nhi\r\n",
		  "MSG a=$G s=baz r=r qs(2)=q1,q2 h=1 t=2 p=hi\n" },
		{ "LMSG SOMECLUSTER $G bar 0 2\r\nhi\r\n",
		  "MSG o=SOMECLUSTER a=$G s=bar h=0 t=2 p=hi\n" },
		{ "LMSG C $G bar rep 0 2\r\nhi\r\n",
		  "MSG o=C a=$G s=bar r=rep h=0 t=2 p=hi\n" },
		{ "LMSG C $G bar | q 1 2\r\nhi\r\n",
		  "MSG o=C a=$G s=bar qs(1)=q h=1 t=2 p=hi\n" },
		{ "LMSG C $G bar + r q w 0 2\r\nhi\r\n",
		  "MSG o=C a=$G s=bar r=r qs(2)=q,w h=0 t=2 p=hi\n" },
		{ "RMSG $G foo 2\r\n", "" },
		{ "RMSG $G foo\r\n", "!-4\n" },
		{ "RMSG $G foo x 1 2\r\n", "!-4\n" },
		{ "RMSG $G foo ++ r q 2\r\n", "!-4\n" },
		{ "HMSG $G foo 3 2\r\n", "!-4\n" },
		{ "HMSG $G foo 2\r\n", "!-4\n" },
		{ "LMSG C $G bar 2\r\n", "!-4\n" },
		{ "MSG foo 1 2\r\n", "!-1\n" },
		/* PUB is accepted on routes, without a payload limit. */
		{ "PUB foo 2\r\nhi\r\n", "PUB s=foo t=2 p=hi\n" },
	};
	run_table(&ROUTE, t, ARRAY_LEN(t));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Errors                                                              */

START_TEST(test_errors_both_roles)
{
	static const struct tcase t[] = {
		{ "\r\n", "!-1\n" },
		{ " PING\r\n", "!-1\n" },
		{ "PIN\r\n", "!-1\n" },
		{ "XYZ\r\n", "!-1\n" },
		{ "M", "!-1\n" },
		{ "LMSGX", "!-1\n" },
		{ "RS*", "!-1\n" },
		{ "A*", "!-1\n" },
		{ "-ERR\r\n", "!-1\n" },
		{ "CONNEC\r\n", "!-1\n" },
		{ "PUB foo 1\r\nxy", "!-1\n" },
		{ "PUB foo 1\r\nx\rz", "!-1\n" },
		{ "PUB foo bar baz 5\r\n", "!-4\n" },
		{ "PUB foo -1\r\n", "!-4\n" },
		{ "PUB foo 0000000005\r\n", "!-4\n" },
		{ "HPUB foo 3 2\r\n", "!-4\n" },
		{ "HPUB foo 2\r\n", "!-4\n" },
		{ "HMSG\r\n", "!-1\n" },
		{ "LMSG foo +5\r\n", "!-4\n" },
		{ "PUB foo 1\r\nx\r\nPING\r\nBAD", "PUB s=foo t=1 p=x\nPING\n!-1\n" },
	};
	run_table(&LEAF, t, ARRAY_LEN(t));
	run_table(&ROUTE, t, ARRAY_LEN(t));
}
END_TEST

START_TEST(test_err_text)
{
	ck_assert_str_eq(peer_err_text(PEER_ERR_UNKNOWN_OP), "Unknown Protocol Operation");
	ck_assert_str_eq(peer_err_text(PEER_ERR_MAX_CONTROL_LINE),
			 "maximum control line exceeded");
	ck_assert_str_eq(peer_err_text(PEER_ERR_MAX_PAYLOAD), "Maximum Payload Violation");
	ck_assert_ptr_null(peer_err_text(PEER_ERR_PARSE));
	ck_assert_ptr_null(peer_err_text(PEER_ERR_NOMEM));
	ck_assert_ptr_null(peer_err_text(PEER_OK));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Limits                                                              */

START_TEST(test_max_payload_defaults)
{
	/* Leaf: PUB limited to 1 MiB like a client, LMSG not limited. */
	expect(&LEAF, "PUB foo 1048577\r\n", "!-3\n");
	expect(&LEAF, "HPUB foo 0 1048577\r\n", "!-3\n");
	expect(&LEAF, "PUB foo 1048576\r\n", "");
	expect(&LEAF, "LMSG foo 999999999\r\n", "");
	expect(&ROUTE, "PUB foo 999999999\r\n", "");
	expect(&ROUTE, "RMSG $G foo 999999999\r\n", "");
}
END_TEST

START_TEST(test_max_payload_configured)
{
	struct cfg c = { .role = PEER_ROUTE, .mcl = 0, .mpay = 4, .mmsg = 8,
			 .headers = true, .set = true };

	expect(&c, "PUB foo 4\r\nabcd\r\n", "PUB s=foo t=4 p=abcd\n");
	expect(&c, "PUB foo 5\r\nabcde\r\n", "!-3\n");
	expect(&c, "RMSG $G foo 8\r\n12345678\r\n", "MSG a=$G s=foo t=8 p=12345678\n");
	expect(&c, "RMSG $G foo 9\r\n", "!-3\n");
	expect(&c, "HMSG $G foo 1 9\r\n", "!-3\n");
	/* Argument errors come before the limit, as in the reference. */
	expect(&c, "PUB foo x 5 5\r\n", "!-4\n");
	c.role = PEER_LEAF;
	expect(&c, "LMSG foo | q 9\r\n", "!-3\n");
}
END_TEST

START_TEST(test_max_control_line)
{
	struct cfg c = { .role = PEER_LEAF, .mcl = 10, .mpay = -1, .mmsg = -1,
			 .headers = true, .set = true };

	expect(&c, "LS+ 0123456789\r\n", "SUB s=0123456789\n");
	expect(&c, "LS+ 01234567890\r\n", "!-2\n");
	/* A partial line over the limit fails before its end arrives. */
	expect(&c, "LS+ 01234567890", "!-2\n");
	expect(&c, "LS+ 0123456789", "");
	/* PING lines are not limited: nothing is kept. */
	expect(&c, "PING 01234567890123456789\r\n", "PING\n");

	/* Default: only the hard bound. */
	size_t n = PEER_LINE_MAX + 16;
	char *big = malloc(n + 1);
	ck_assert_ptr_nonnull(big);
	memcpy(big, "LS+ ", 4);
	memset(big + 4, 'x', n - 4);
	big[n] = '\0';
	expect(&LEAF, big, "!-2\n");
	big[PEER_LINE_MAX + 4 - 2] = '\r';
	big[PEER_LINE_MAX + 4 - 1] = '\n';
	big[PEER_LINE_MAX + 4] = '\0';
	char *got = parse_all(&LEAF, big, strlen(big));
	ck_assert_int_eq(strncmp(got, "SUB s=xxx", 9), 0);
	free(got);
	free(big);
}
END_TEST

START_TEST(test_headers_gate)
{
	struct cfg c = { .role = PEER_LEAF, .mcl = 0, .mpay = -1, .mmsg = -1,
			 .headers = false, .set = true };

	expect(&c, "HPUB foo 1 2\r\nxy\r\n", "!-4\n");
	/* HMSG is not gated: the reference does not check it. */
	expect(&c, "HMSG foo 1 2\r\nxy\r\n", "MSG s=foo h=1 t=2 p=xy\n");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Memory and resumption                                               */

static int count_cb(void *arg, const struct peer_msg *m)
{
	(void)m;
	(*(int *)arg)++;
	return 0;
}

START_TEST(test_fast_path_no_copy)
{
	static const char in[] =
		"LS+ foo\r\nLMSG foo + r q 5\r\nhello\r\nHMSG foo 2 3\r\nab!\r\nPING\r\n";
	struct mem mem;
	struct peer_parser p;
	int n = 0;

	mem_init(&mem);
	peer_parser_init(&p, &mem, PEER_LEAF);
	ck_assert_int_eq(peer_parse(&p, in, sizeof(in) - 1, count_cb, &n, NULL),
			 (long)sizeof(in) - 1);
	ck_assert_int_eq(n, 4);
	ck_assert_uint_eq(mem.alloc_count, 0);
	peer_parser_free(&p);
}
END_TEST

START_TEST(test_split_payload_memory)
{
	/* An announced size does not allocate: memory follows arrival. */
	static const char line[] = "RMSG $G foo 999999999\r\n";
	struct mem mem;
	struct peer_parser p;
	char chunk[1000];
	int n = 0;

	mem_init(&mem);
	peer_parser_init(&p, &mem, PEER_ROUTE);
	ck_assert_int_eq(peer_parse(&p, line, sizeof(line) - 1, count_cb, &n, NULL),
			 (long)sizeof(line) - 1);
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(peer_parse(&p, chunk, sizeof(chunk), count_cb, &n, NULL),
				 (long)sizeof(chunk));
	ck_assert_int_eq(n, 0);
	ck_assert_uint_le(mem.peak_bytes, 4 * (10 * sizeof(chunk) + sizeof(line)));
	peer_parser_free(&p);
	ck_assert_uint_eq(mem.live_bytes, 0);
}
END_TEST

START_TEST(test_big_split_payload)
{
	/* A 200 KiB payload in 7-byte pieces arrives whole, and its buffer
	 * is released after the op. */
	size_t total = 200 << 10;
	char *in = malloc(total + 64);
	ck_assert_ptr_nonnull(in);
	int hl = snprintf(in, 64, "LMSG big | q1 q2 %zu\r\n", total);
	for (size_t i = 0; i < total; i++)
		in[hl + i] = (char)('a' + i % 26);
	memcpy(in + hl + total, "\r\n", 2);
	size_t n = (size_t)hl + total + 2;
	struct mem mem;
	struct peer_parser p;
	int ops = 0;

	mem_init(&mem);
	peer_parser_init(&p, &mem, PEER_LEAF);
	for (size_t off = 0; off < n; off += 7) {
		size_t k = MIN(7, n - off);
		ck_assert_int_eq(peer_parse(&p, in + off, k, count_cb, &ops, NULL), (long)k);
	}
	ck_assert_int_eq(ops, 1);
	ck_assert_uint_eq(mem.live_bytes, 0);
	peer_parser_free(&p);
	free(in);
}
END_TEST

START_TEST(test_nomem)
{
	static const char in[] = "LMSG foo 10\r\n0123456789\r\n";
	struct mem mem;
	struct peer_parser p;
	int n = 0;

	mem_init(&mem);
	mem.fail_at = 1;
	peer_parser_init(&p, &mem, PEER_LEAF);
	/* Split inside the line: the scratch buffer is needed and refused. */
	ck_assert_int_eq(peer_parse(&p, in, 6, count_cb, &n, NULL), PEER_ERR_NOMEM);
	ck_assert_int_eq(peer_parse(&p, in + 6, 3, count_cb, &n, NULL), PEER_ERR_NOMEM);
	peer_parser_reset(&p);
	mem.fail_at = 0;
	ck_assert_int_eq(peer_parse(&p, in, 6, count_cb, &n, NULL), 6);
	ck_assert_int_eq(peer_parse(&p, in + 6, sizeof(in) - 7, count_cb, &n, NULL),
			 (long)sizeof(in) - 7);
	ck_assert_int_eq(n, 1);
	peer_parser_free(&p);
	ck_assert_uint_eq(mem.live_bytes, 0);
}
END_TEST

START_TEST(test_sticky_error_and_reset)
{
	struct mem mem;
	struct peer_parser p;
	int n = 0;
	size_t used = 99;

	mem_init(&mem);
	peer_parser_init(&p, &mem, PEER_ROUTE);
	ck_assert_int_eq(peer_parse(&p, "PING\r\nXX", 8, count_cb, &n, &used),
			 PEER_ERR_UNKNOWN_OP);
	ck_assert_uint_eq(used, 6);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(peer_parse(&p, "PING\r\n", 6, count_cb, &n, &used),
			 PEER_ERR_UNKNOWN_OP);
	ck_assert_uint_eq(used, 0);
	ck_assert_int_eq(n, 1);
	peer_parser_reset(&p);
	ck_assert_int_eq(peer_parse(&p, "PING\r\n", 6, count_cb, &n, NULL), 6);
	ck_assert_int_eq(n, 2);
	peer_parser_free(&p);
}
END_TEST

static int stop_cb(void *arg, const struct peer_msg *m)
{
	(void)m;
	(*(int *)arg)++;
	return 1;
}

START_TEST(test_stop_resume)
{
	static const char in[] = "LS+ a\r\nLS+ b\r\nLMSG a 1\r\nx\r\n";
	struct mem mem;
	struct peer_parser p;
	size_t used = 0, off = 0;
	int n = 0;

	mem_init(&mem);
	peer_parser_init(&p, &mem, PEER_LEAF);
	ck_assert_int_eq(peer_parse(&p, in, sizeof(in) - 1, stop_cb, &n, &used),
			 PEER_STOPPED);
	ck_assert_uint_eq(used, 7);
	off += used;
	ck_assert_int_eq(peer_parse(&p, in + off, sizeof(in) - 1 - off, stop_cb, &n,
				    &used), PEER_STOPPED);
	ck_assert_uint_eq(used, 7);
	off += used;
	ck_assert_int_eq(peer_parse(&p, in + off, sizeof(in) - 1 - off, stop_cb, &n,
				    &used), PEER_STOPPED);
	ck_assert_uint_eq(off + used, sizeof(in) - 1);
	ck_assert_int_eq(n, 3);
	peer_parser_free(&p);
}
END_TEST

START_TEST(test_queues_next)
{
	struct peer_slice it = S("a \tbb\r\nccc ");
	struct peer_slice q;

	ck_assert(peer_queues_next(&it, &q));
	ck_assert_uint_eq(q.len, 1);
	ck_assert(peer_queues_next(&it, &q));
	ck_assert_int_eq(strncmp(q.ptr, "bb", 2), 0);
	ck_assert_uint_eq(q.len, 2);
	ck_assert(peer_queues_next(&it, &q));
	ck_assert_int_eq(strncmp(q.ptr, "ccc", 3), 0);
	ck_assert(!peer_queues_next(&it, &q));
	ck_assert(!peer_queues_next(&it, &q));
	struct peer_slice empty = NO_SLICE;
	ck_assert(!peer_queues_next(&empty, &q));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Encoders                                                            */

static void enc_eq(enum peer_role role, const struct peer_msg *m, const char *want)
{
	char out[256];
	size_t n = peer_encode_line(out, sizeof(out), role, m);

	ck_assert_uint_eq(n, strlen(want));
	ck_assert_int_eq(memcmp(out, want, n), 0);
	/* Every smaller buffer is refused. */
	for (size_t cap = 0; cap < n; cap++)
		REQUIRE(peer_encode_line(out, cap, role, m) == 0);
}

static struct peer_msg mk(enum peer_op op)
{
	struct peer_msg m;

	memset(&m, 0, sizeof(m));
	m.op = op;
	return m;
}

START_TEST(test_encode_control)
{
	struct peer_msg m = mk(PEER_OP_PING);
	char out[64];

	enc_eq(PEER_LEAF, &m, PEER_PING_LINE);
	m.op = PEER_OP_PONG;
	enc_eq(PEER_ROUTE, &m, PEER_PONG_LINE);
	m.op = PEER_OP_OK;
	enc_eq(PEER_ROUTE, &m, "+OK\r\n");
	m.op = PEER_OP_ERR;
	m.arg = S("Loop detected");
	enc_eq(PEER_LEAF, &m, "-ERR 'Loop detected'\r\n");
	m.op = PEER_OP_INFO;
	m.arg = S("{\"a\":1}");
	enc_eq(PEER_LEAF, &m, "INFO {\"a\":1} \r\n");
	m.op = PEER_OP_CONNECT;
	enc_eq(PEER_ROUTE, &m, "CONNECT {\"a\":1}\r\n");
	m = mk(PEER_OP_ACCOUNT_SUB);
	m.account = S("ACC");
	enc_eq(PEER_ROUTE, &m, "A+ ACC\r\n");
	m.op = PEER_OP_ACCOUNT_UNSUB;
	enc_eq(PEER_ROUTE, &m, "A- ACC\r\n");

	ck_assert_uint_eq(peer_encode_info_line(out, sizeof(out), "{}", 2), 10);
	ck_assert_int_eq(memcmp(out, "INFO {} \r\n", 10), 0);
	ck_assert_uint_eq(peer_encode_connect_line(out, sizeof(out), "{}", 2), 12);
	ck_assert_int_eq(memcmp(out, "CONNECT {}\r\n", 12), 0);
	ck_assert_uint_eq(peer_encode_err_line(out, sizeof(out), "x", 1), 10);
	ck_assert_int_eq(memcmp(out, "-ERR 'x'\r\n", 10), 0);
	ck_assert_uint_eq(peer_encode_err_line(out, 9, "x", 1), 0);
}
END_TEST

START_TEST(test_encode_interest)
{
	char out[64];
	struct peer_msg m = mk(PEER_OP_SUB);

	m.subject = S("foo");
	enc_eq(PEER_LEAF, &m, "LS+ foo\r\n");
	m.queue = S("grp");
	m.weight = 3;
	enc_eq(PEER_LEAF, &m, "LS+ foo grp 3\r\n");
	m.account = S("$G");
	enc_eq(PEER_ROUTE, &m, "RS+ $G foo grp 3\r\n");
	m.origin = S("C1");
	enc_eq(PEER_ROUTE, &m, "LS+ C1 $G foo grp 3\r\n");
	/* A leaf line has neither account nor origin. */
	enc_eq(PEER_LEAF, &m, "LS+ foo grp 3\r\n");
	m = mk(PEER_OP_UNSUB);
	m.subject = S("foo");
	m.account = S("$G");
	enc_eq(PEER_LEAF, &m, "LS- foo\r\n");
	enc_eq(PEER_ROUTE, &m, "RS- $G foo\r\n");
	m.queue = S("q");
	enc_eq(PEER_ROUTE, &m, "RS- $G foo q\r\n");

	ck_assert_uint_eq(peer_encode_sub_line(out, sizeof(out), PEER_ROUTE, S("$G"),
					       S("bar"), NO_SLICE, 0), 12);
	ck_assert_int_eq(memcmp(out, "RS+ $G bar\r\n", 12), 0);
	ck_assert_uint_eq(peer_encode_unsub_line(out, sizeof(out), PEER_LEAF, NO_SLICE,
						 S("bar"), S("q")), 11);
	ck_assert_int_eq(memcmp(out, "LS- bar q\r\n", 11), 0);
}
END_TEST

START_TEST(test_encode_messages)
{
	struct peer_msg m = mk(PEER_OP_MSG);

	m.subject = S("foo");
	m.total_len = 5;
	enc_eq(PEER_LEAF, &m, "LMSG foo 5\r\n");
	m.reply = S("reply.1");
	enc_eq(PEER_LEAF, &m, "LMSG foo reply.1 5\r\n");
	m.queues = S("q1 q2");
	m.queue_count = 2;
	enc_eq(PEER_LEAF, &m, "LMSG foo + reply.1 q1 q2 5\r\n");
	m.reply = NO_SLICE;
	enc_eq(PEER_LEAF, &m, "LMSG foo | q1 q2 5\r\n");
	m.has_headers = true;
	m.header_len = 2;
	enc_eq(PEER_LEAF, &m, "HMSG foo | q1 q2 2 5\r\n");
	m.account = S("$G");
	enc_eq(PEER_ROUTE, &m, "HMSG $G foo | q1 q2 2 5\r\n");
	m.has_headers = false;
	m.header_len = 0;
	enc_eq(PEER_ROUTE, &m, "RMSG $G foo | q1 q2 5\r\n");
	m.queue_count = 0;
	m.queues = NO_SLICE;
	enc_eq(PEER_ROUTE, &m, "RMSG $G foo 5\r\n");
	/* An origin makes it LMSG, which always has a header size. */
	m.origin = S("C1");
	enc_eq(PEER_ROUTE, &m, "LMSG C1 $G foo 0 5\r\n");
	m = mk(PEER_OP_PUB);
	m.subject = S("foo");
	m.reply = S("r");
	m.total_len = 2;
	enc_eq(PEER_ROUTE, &m, "PUB foo r 2\r\n");
	m.has_headers = true;
	m.header_len = 1;
	enc_eq(PEER_LEAF, &m, "HPUB foo r 1 2\r\n");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Round trips and random streams                                      */

static const char *const tokens[] = {
	"foo", "foo.bar", "$G", "ACC", "_INBOX.x.y", "q1", "grp", "$LDS.abc",
	"a", "C1", "+", "|", ">", "*.b",
};

static struct peer_slice rand_tok(struct prng *r)
{
	const char *t = tokens[prng_below(r, ARRAY_LEN(tokens))];
	return (struct peer_slice){ t, strlen(t) };
}

/* A random op as our own server would send it on this kind. */
static struct peer_msg rand_op(struct prng *r, enum peer_role role, char *qbuf,
			       size_t qcap)
{
	static const enum peer_op ops[] = {
		PEER_OP_PING, PEER_OP_PONG, PEER_OP_SUB, PEER_OP_UNSUB,
		PEER_OP_MSG, PEER_OP_MSG, PEER_OP_PUB, PEER_OP_INFO, PEER_OP_ERR,
	};
	struct peer_msg m = mk(ops[prng_below(r, ARRAY_LEN(ops))]);
	bool route = role == PEER_ROUTE;

	m.subject = rand_tok(r);
	if (route)
		m.account = rand_tok(r);
	if (route && (m.op == PEER_OP_SUB || m.op == PEER_OP_MSG) && prng_below(r, 3) == 0)
		m.origin = rand_tok(r);
	if (m.op == PEER_OP_SUB || m.op == PEER_OP_UNSUB) {
		if (prng_below(r, 2))
			m.queue = rand_tok(r);
		m.weight = m.queue.len > 0 ? (int64_t)prng_below(r, 1000) : 0;
	}
	if (m.op == PEER_OP_MSG || m.op == PEER_OP_PUB) {
		if (prng_below(r, 2))
			m.reply = rand_tok(r);
		m.total_len = prng_below(r, 300);
		m.has_headers = m.origin.len > 0 || prng_below(r, 2);
		m.header_len = m.has_headers ? prng_below(r, m.total_len + 1) : 0;
	}
	if (m.op == PEER_OP_MSG && prng_below(r, 2)) {
		size_t n = 0;
		m.queue_count = 1 + prng_below(r, 8);
		for (size_t i = 0; i < m.queue_count; i++) {
			struct peer_slice t = rand_tok(r);
			REQUIRE(n + t.len + 1 < qcap);
			if (i > 0)
				qbuf[n++] = ' ';
			memcpy(qbuf + n, t.ptr, t.len);
			n += t.len;
		}
		m.queues = (struct peer_slice){ qbuf, n };
	}
	if (m.op == PEER_OP_INFO || m.op == PEER_OP_ERR) {
		m.subject = m.account = NO_SLICE;
		m.arg = S("{\"server_id\":\"X\"}");
	}
	if (m.op == PEER_OP_PING || m.op == PEER_OP_PONG)
		m.subject = m.account = NO_SLICE;
	if (m.op == PEER_OP_PUB)
		m.account = NO_SLICE;
	return m;
}

/* Encodes random ops into one stream and checks the parser gives the same
 * transcript as the ops themselves, in every split. */
static void round_trip(enum peer_role role, uint64_t seed)
{
	struct mem mem;
	struct buf stream, want;
	struct prng r;
	char qbuf[128], line[512];

	mem_init(&mem);
	buf_init(&stream, &mem);
	buf_init(&want, &mem);
	prng_seed(&r, seed);
	for (int i = 0; i < 40; i++) {
		struct peer_msg m = rand_op(&r, role, qbuf, sizeof(qbuf));
		size_t n = peer_encode_line(line, sizeof(line), role, &m);
		REQUIRE(n > 0);
		buf_append(&stream, line, n);
		char payload[300];
		for (size_t k = 0; k < m.total_len; k++)
			payload[k] = (char)('0' + (k + i) % 64);
		m.payload = payload;
		if (m.op == PEER_OP_MSG && m.origin.len > 0)
			m.has_headers = true;
		if (m.op == PEER_OP_INFO) {
			/* The encoder adds the reference's blank. */
			m.arg.len++;
			m.arg.ptr = "{\"server_id\":\"X\"} ";
		}
		ser_msg(&want, &m, false);
		if (m.op == PEER_OP_MSG || m.op == PEER_OP_PUB) {
			buf_append(&stream, payload, m.total_len);
			buf_append(&stream, "\r\n", 2);
		}
	}
	buf_append_char(&want, '\0');
	const struct cfg c = { .role = role, .mpay = -1, .mmsg = -1,
			       .headers = true, .set = true };
	char *got = parse_all(&c, stream.data, stream.len);
	if (strcmp(got, want.data) != 0)
		ck_abort_msg("seed %llu:\nwant:\n%s\ngot:\n%s",
			     (unsigned long long)seed, want.data, got);
	free(got);
	buf_free(&stream);
	buf_free(&want);
}

START_TEST(test_round_trip_leaf)
{
	for (uint64_t seed = 1; seed <= 30; seed++)
		round_trip(PEER_LEAF, seed);
}
END_TEST

START_TEST(test_round_trip_route)
{
	for (uint64_t seed = 1; seed <= 30; seed++)
		round_trip(PEER_ROUTE, seed);
}
END_TEST

/* Random bytes drawn from protocol fragments: every split agrees
 * (parse_all checks it) and nothing leaks (run_parse checks it). */
START_TEST(test_random_noise)
{
	static const char *const frags[] = {
		"LS+ ", "LS- ", "RS+ ", "RS- ", "LMSG ", "RMSG ", "HMSG ", "PUB ",
		"HPUB ", "SUB ", "UNSUB ", "A+ ", "A- ", "PING", "PONG", "+OK",
		"-ERR ", "INFO ", "CONNECT ", "\r\n", "\n", "\r", " ", "\t", "foo",
		"$G", "+", "|", "0", "1", "2", "12", "q", "hi",
	};
	struct prng r;
	char in[400];

	prng_seed(&r, 7);
	for (int iter = 0; iter < 300; iter++) {
		size_t n = 0;
		while (n < sizeof(in) - 16) {
			const char *f = frags[prng_below(&r, ARRAY_LEN(frags))];
			size_t k = strlen(f);
			memcpy(in + n, f, k);
			n += k;
			if (prng_below(&r, 40) == 0)
				break;
		}
		const struct cfg *c = iter % 2 ? &LEAF : &ROUTE;
		free(parse_all(c, in, n));
	}
}
END_TEST

static Suite *peer_proto_suite(void)
{
	Suite *s = suite_create("peer_proto");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_leaf_handshake);
	tcase_add_test(tc, test_leaf_interest);
	tcase_add_test(tc, test_leaf_messages);
	tcase_add_test(tc, test_route_interest);
	tcase_add_test(tc, test_route_messages);
	tcase_add_test(tc, test_errors_both_roles);
	tcase_add_test(tc, test_err_text);
	tcase_add_test(tc, test_max_payload_defaults);
	tcase_add_test(tc, test_max_payload_configured);
	tcase_add_test(tc, test_max_control_line);
	tcase_add_test(tc, test_headers_gate);
	tcase_add_test(tc, test_fast_path_no_copy);
	tcase_add_test(tc, test_split_payload_memory);
	tcase_add_test(tc, test_big_split_payload);
	tcase_add_test(tc, test_nomem);
	tcase_add_test(tc, test_sticky_error_and_reset);
	tcase_add_test(tc, test_stop_resume);
	tcase_add_test(tc, test_queues_next);
	tcase_add_test(tc, test_encode_control);
	tcase_add_test(tc, test_encode_interest);
	tcase_add_test(tc, test_encode_messages);
	tcase_add_test(tc, test_round_trip_leaf);
	tcase_add_test(tc, test_round_trip_route);
	tcase_add_test(tc, test_random_noise);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(peer_proto_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
