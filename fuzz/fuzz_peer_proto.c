/*
 * fuzz_peer_proto.c - harness for the leaf node / route codec
 * (server/proto/peer_proto.h), both kinds of connection.
 *
 * Input: three header bytes, then the byte stream.
 *   byte 0  bit 0: kind (0: PEER_LEAF, 1: PEER_ROUTE)
 *           bit 1: HPUB refused until a CONNECT containing "headers":true
 *           bit 2: tiny limits (max_control_line 32, both payload limits 64)
 *   byte 1  seed for the random split sizes
 *   byte 2  the stop passes stop after every (byte 2 % 8 + 1)-th op
 *
 * Properties checked:
 *   - the operations (deep-copied) and the final status are the same when
 *     the stream is fed whole, byte by byte, in random pieces, and with
 *     the callback stopping the parser and the caller resuming with the
 *     rest (whole and in pieces): a parser resumes at any byte;
 *   - every op has the shape the header promises for its kind (tokens
 *     without separators, queue list walks to queue_count names, sizes
 *     consistent, within the limits);
 *   - after an error the parser stays dead, and a reset revives it;
 *   - under a small memory cap the run is the same, or a prefix of it
 *     that ends in PEER_ERR_NOMEM; all memory is given back every time;
 *   - encoding each op with peer_encode_line (and its payload) and parsing
 *     the result again gives the same op.
 */
#define _GNU_SOURCE             /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/peer_proto.h"

#define HDR_BYTES 3
#define TINY_LINE 32
#define TINY_PAYLOAD 64
/* Memory follows the bytes that arrive, so inputs of a few KiB never
 * reach this; it only keeps a broken parser from eating the machine. */
#define MEM_CAP ((size_t)4 << 20)

enum field {
	F_ORIGIN, F_ACCOUNT, F_SUBJECT, F_REPLY, F_QUEUE, F_QUEUES, F_ARG,
	F_PAYLOAD, F_COUNT
};

static const char *const field_names[F_COUNT] = {
	"origin", "account", "subject", "reply", "queue", "queues", "arg",
	"payload",
};

/* One op, deep-copied into its record's byte log; f[] points into the
 * log once the record is sealed. */
struct rec_op {
	int op;
	const char *f[F_COUNT];
	size_t off[F_COUNT];
	size_t flen[F_COUNT];
	int64_t weight;
	size_t queue_count;
	bool has_headers;
	size_t header_len;
	size_t total_len;
};

struct rec {
	struct rec_op *ops;
	size_t n;
	size_t cap;
	char *bytes;
	size_t blen;
	size_t bcap;
	int status;                /* 0 or the enum peer_err that ended it */
};

struct cfg {
	enum peer_role role;
	bool headers_after_connect;
	bool tiny;
	uint8_t split_seed;
	unsigned stop_every;
};

struct run {
	struct peer_parser p;
	struct mem mem;
	struct rec rec;
	const struct cfg *cfg;
	unsigned stop_every;       /* 0: never stop */
	unsigned since_stop;
};

enum split { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_RANDOM };

static void rec_free(struct rec *r)
{
	free(r->ops);
	free(r->bytes);
	memset(r, 0, sizeof(*r));
}

static void rec_append(struct rec *r, struct rec_op *o, int f, struct peer_slice s)
{
	if (r->blen + s.len > r->bcap) {
		while (r->blen + s.len > r->bcap)
			r->bcap = r->bcap ? r->bcap * 2 : 256;
		r->bytes = realloc(r->bytes, r->bcap);
		FUZZ_CHECK(r->bytes != NULL, "harness out of memory");
	}
	if (s.len > 0)
		memcpy(r->bytes + r->blen, s.ptr, s.len);
	o->off[f] = r->blen;
	o->flen[f] = s.len;
	r->blen += s.len;
}

static void rec_push(struct rec *r, const struct peer_msg *m)
{
	bool with_payload = m->op == PEER_OP_MSG || m->op == PEER_OP_PUB;
	const struct peer_slice s[F_COUNT] = {
		m->origin, m->account, m->subject, m->reply, m->queue, m->queues,
		m->arg, { m->payload, with_payload ? m->total_len : 0 },
	};
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 8;
		r->ops = realloc(r->ops, r->cap * sizeof(*r->ops));
		FUZZ_CHECK(r->ops != NULL, "harness out of memory");
	}
	struct rec_op *o = &r->ops[r->n++];
	memset(o, 0, sizeof(*o));
	o->op = (int)m->op;
	for (int f = 0; f < F_COUNT; f++)
		rec_append(r, o, f, s[f]);
	o->weight = m->weight;
	o->queue_count = m->queue_count;
	o->has_headers = m->has_headers;
	o->header_len = m->header_len;
	o->total_len = m->total_len;
}

static void rec_seal(struct rec *r)
{
	for (size_t i = 0; i < r->n; i++)
		for (int f = 0; f < F_COUNT; f++)
			r->ops[i].f[f] = r->bytes != NULL ? r->bytes + r->ops[i].off[f] : "";
}

/* Whether s holds a byte of the separator set (blanks, and CR/LF too). */
static bool has_sep(struct peer_slice s, bool crlf)
{
	for (size_t i = 0; i < s.len; i++) {
		char c = s.ptr[i];
		if (c == ' ' || c == '\t' || (crlf && (c == '\r' || c == '\n')))
			return true;
	}
	return false;
}

static void check_queues(const struct peer_msg *m)
{
	struct peer_slice it = m->queues, q;
	size_t n = 0;

	FUZZ_CHECK((m->queue_count == 0) == (m->queues.len == 0),
		   "queue_count %zu with a %zu-byte list", m->queue_count, m->queues.len);
	while (peer_queues_next(&it, &q)) {
		FUZZ_CHECK(q.len > 0 && !has_sep(q, true), "bad queue name");
		n++;
	}
	FUZZ_CHECK(n == m->queue_count, "walked %zu queue names of %zu", n,
		   m->queue_count);
}

/* The shape of interest and message ops for the kind of connection. */
static void check_routed(const struct cfg *cfg, const struct peer_msg *m)
{
	bool route = cfg->role == PEER_ROUTE;
	int op = (int)m->op;

	FUZZ_CHECK(!has_sep(m->origin, true) && !has_sep(m->account, true) &&
		   !has_sep(m->subject, true) && !has_sep(m->reply, true) &&
		   !has_sep(m->queue, true), "separator inside a token of op %d", op);
	FUZZ_CHECK(m->subject.len > 0, "op %d without subject", op);
	FUZZ_CHECK(route ? m->account.len > 0 : m->account.len == 0 && m->origin.len == 0,
		   "op %d: account/origin do not fit the kind", op);
	if (op == PEER_OP_UNSUB)
		FUZZ_CHECK(m->origin.len == 0, "UNSUB with an origin");
	if (op == PEER_OP_SUB)
		FUZZ_CHECK(m->queue.len > 0 ? m->weight >= -1 : m->weight == 0,
			   "weight %lld", (long long)m->weight);
	if (op == PEER_OP_MSG) {
		check_queues(m);
		if (m->origin.len > 0)
			FUZZ_CHECK(m->has_headers, "LMSG with origin and no header size");
	} else {
		FUZZ_CHECK(m->queue_count == 0, "queues on op %d", op);
	}
}

/* What the header promises about every op, whatever the input. */
static void check_msg(const struct cfg *cfg, const struct peer_parser *p,
		      const struct peer_msg *m)
{
	int op = (int)m->op;
	bool with_payload = op == PEER_OP_MSG || op == PEER_OP_PUB;

	FUZZ_CHECK(op >= PEER_OP_CONNECT && op <= PEER_OP_ACCOUNT_UNSUB, "op %d", op);
	if (op == PEER_OP_SUB || op == PEER_OP_UNSUB || op == PEER_OP_MSG)
		check_routed(cfg, m);
	if (op == PEER_OP_PUB)
		FUZZ_CHECK(m->subject.len > 0 && !has_sep(m->subject, false) &&
			   !has_sep(m->reply, false), "bad PUB tokens");
	if (with_payload)
		FUZZ_CHECK(m->payload != NULL, "op %d: no payload pointer", op);
	else
		FUZZ_CHECK(m->total_len == 0 && !m->has_headers, "op %d has a payload", op);
	FUZZ_CHECK(m->header_len <= m->total_len, "header %zu > total %zu",
		   m->header_len, m->total_len);
	if (!m->has_headers)
		FUZZ_CHECK(m->header_len == 0, "header size without headers");
	size_t limit = p->max_control_line > 0 ? p->max_control_line : PEER_LINE_MAX;
	FUZZ_CHECK(m->arg.len <= limit, "arg of %zu bytes > limit %zu", m->arg.len, limit);
	int64_t max = op == PEER_OP_PUB ? p->max_payload :
		      op == PEER_OP_MSG ? p->max_msg_payload : -1;
	if (max >= 0)
		FUZZ_CHECK((int64_t)m->total_len <= max, "payload %zu > limit %lld",
			   m->total_len, (long long)max);
}

static int run_on_msg(void *arg, const struct peer_msg *m)
{
	struct run *r = arg;

	check_msg(r->cfg, &r->p, m);
	rec_push(&r->rec, m);
	if (r->cfg->headers_after_connect && m->op == PEER_OP_CONNECT && m->arg.len > 0 &&
	    memmem(m->arg.ptr, m->arg.len, "\"headers\":true", 14) != NULL)
		peer_parser_set_headers(&r->p, true);
	if (r->stop_every != 0 && ++r->since_stop == r->stop_every) {
		r->since_stop = 0;
		return 1;
	}
	return 0;
}

static void run_init(struct run *r, const struct cfg *cfg, unsigned stop_every,
		     size_t mem_limit)
{
	memset(r, 0, sizeof(*r));
	mem_init(&r->mem);
	r->mem.limit_bytes = mem_limit;
	r->cfg = cfg;
	r->stop_every = stop_every;
	peer_parser_init(&r->p, &r->mem, cfg->role);
	if (cfg->tiny) {
		r->p.max_control_line = TINY_LINE;
		r->p.max_payload = TINY_PAYLOAD;
		r->p.max_msg_payload = TINY_PAYLOAD;
	}
	if (cfg->headers_after_connect)
		peer_parser_set_headers(&r->p, false);
}

/* Feeds one piece, resuming after each stop; 0 or a negative peer_err. */
static int run_feed(struct run *r, const uint8_t *d, size_t len)
{
	while (len > 0) {
		size_t consumed = (size_t)-1;
		long rc = peer_parse(&r->p, (const char *)d, len, run_on_msg, r, &consumed);
		if (rc == PEER_STOPPED) {
			FUZZ_CHECK(consumed >= 1 && consumed <= len,
				   "stopped with %zu of %zu bytes consumed", consumed, len);
			d += consumed;
			len -= consumed;
			continue;
		}
		if (rc < 0) {
			FUZZ_CHECK(rc >= PEER_ERR_NOMEM, "unknown status %ld", rc);
			FUZZ_CHECK(consumed <= len, "error at %zu of %zu", consumed, len);
			return (int)rc;
		}
		FUZZ_CHECK((size_t)rc == len && consumed == len, "consumed %ld of %zu",
			   rc, len);
		return 0;
	}
	return 0;
}

static int never_called(void *arg, const struct peer_msg *m)
{
	(void)arg;
	FUZZ_CHECK(false, "op %d delivered by a dead parser", (int)m->op);
	return 0;
}

static int count_ping(void *arg, const struct peer_msg *m)
{
	FUZZ_CHECK(m->op == PEER_OP_PING, "PING parsed as op %d", (int)m->op);
	(*(int *)arg)++;
	return 0;
}

/* After the stream: a failed parser stays failed; a reset one works. */
static void run_finish(struct run *r)
{
	static const char ping[] = "PING\r\n";

	if (r->rec.status < 0) {
		long rc = peer_parse(&r->p, ping, 6, never_called, NULL, NULL);
		FUZZ_CHECK(rc == r->rec.status, "dead parser returned %ld, not %d",
			   rc, r->rec.status);
	}
	peer_parser_reset(&r->p);
	int pings = 0;
	long rc = peer_parse(&r->p, ping, 6, count_ping, &pings, NULL);
	FUZZ_CHECK(rc == 6 && pings == 1, "after reset: rc %ld, %d pings", rc, pings);
	peer_parser_free(&r->p);
	fuzz_check_no_leak(&r->mem, "peer_proto parser");
}

static size_t split_next(enum split how, uint64_t *state, size_t left)
{
	static const size_t max_piece[4] = { 2, 7, 64, 1500 };

	if (how == SPLIT_WHOLE)
		return left;
	if (how == SPLIT_BYTES)
		return 1;
	uint64_t x = fuzz_rand(state);
	size_t n = 1 + (size_t)((x >> 2) % max_piece[x & 3]);
	return n < left ? n : left;
}

static void run_pass(const struct cfg *cfg, const uint8_t *d, size_t len,
		     enum split how, unsigned stop_every, size_t mem_limit,
		     struct rec *out)
{
	struct run r;
	uint64_t state = cfg->split_seed;
	size_t off = 0;
	int status = 0;

	run_init(&r, cfg, stop_every, mem_limit);
	while (off < len && status == 0) {
		size_t n = split_next(how, &state, len - off);
		status = run_feed(&r, d + off, n);
		off += n;
	}
	r.rec.status = status;
	run_finish(&r);
	rec_seal(&r.rec);
	*out = r.rec;
}

static void report_op(const char *label, const struct rec_op *o)
{
	fprintf(stderr, "  %s: op %d weight %lld queues %zu headers %d header_len %zu "
		"total_len %zu\n", label, o->op, (long long)o->weight, o->queue_count,
		(int)o->has_headers, o->header_len, o->total_len);
	for (int f = 0; f < F_COUNT; f++)
		fuzz_print_bytes(field_names[f], o->f[f], o->flen[f]);
}

static bool field_equal(const struct rec_op *a, const struct rec_op *b, int f)
{
	return a->flen[f] == b->flen[f] && memcmp(a->f[f], b->f[f], a->flen[f]) == 0;
}

static bool op_equal(const struct rec_op *a, const struct rec_op *b, bool with_arg)
{
	if (a->op != b->op || a->weight != b->weight || a->queue_count != b->queue_count ||
	    a->has_headers != b->has_headers || a->header_len != b->header_len ||
	    a->total_len != b->total_len)
		return false;
	for (int f = 0; f < F_COUNT; f++) {
		if (f == F_ARG && !with_arg)
			continue;
		/* The queue list is compared name by name (see op_queues_equal). */
		if (f == F_QUEUES && !with_arg)
			continue;
		if (!field_equal(a, b, f))
			return false;
	}
	return true;
}

/* got must equal want; where either ran out of memory, the shorter must
 * be a prefix of the other. */
static void rec_compare(const char *what, const struct rec *want, const struct rec *got)
{
	bool nomem = got->status == PEER_ERR_NOMEM || want->status == PEER_ERR_NOMEM;
	size_t n = got->n < want->n ? got->n : want->n;

	for (size_t i = 0; i < n; i++) {
		if (!op_equal(&want->ops[i], &got->ops[i], true)) {
			report_op("whole", &want->ops[i]);
			report_op(what, &got->ops[i]);
			FUZZ_CHECK(false, "%s: op #%zu differs from the whole feed", what, i);
		}
	}
	if (nomem) {
		FUZZ_CHECK(got->status == PEER_ERR_NOMEM ? got->n <= want->n : got->n >= want->n,
			   "%s: %zu ops (status %d), whole feed %zu ops (status %d)",
			   what, got->n, got->status, want->n, want->status);
		return;
	}
	FUZZ_CHECK(got->n == want->n && got->status == want->status,
		   "%s: %zu ops, status %d; whole feed: %zu ops, status %d",
		   what, got->n, got->status, want->n, want->status);
}

/* Rebuilds the struct peer_msg of a recorded op (slices into the log). */
static struct peer_msg rec_to_msg(const struct rec_op *o)
{
	struct peer_msg m;
	struct peer_slice *s[F_COUNT] = {
		&m.origin, &m.account, &m.subject, &m.reply, &m.queue, &m.queues,
		&m.arg, NULL,
	};

	memset(&m, 0, sizeof(m));
	m.op = (enum peer_op)o->op;
	for (int f = 0; f < F_PAYLOAD; f++) {
		s[f]->ptr = o->f[f];
		s[f]->len = o->flen[f];
	}
	m.payload = o->f[F_PAYLOAD];
	m.weight = o->weight;
	m.queue_count = o->queue_count;
	m.has_headers = o->has_headers;
	m.header_len = o->header_len;
	m.total_len = o->total_len;
	return m;
}

/* Whether the encoder can give this op back: a weight that was not a
 * size has no spelling, and an -ERR text with a line feed in it would
 * end the line early. */
static bool encodable(const struct rec_op *o)
{
	if (o->op == PEER_OP_SUB && o->flen[F_QUEUE] > 0 && o->weight < 0)
		return false;
	if (o->op == PEER_OP_ERR && memchr(o->f[F_ARG], '\n', o->flen[F_ARG]) != NULL)
		return false;
	return true;
}

/* Encodes op o (and its payload) into out; returns the length. */
static size_t encode_op(enum peer_role role, const struct rec_op *o, char *out,
			size_t cap)
{
	struct peer_msg m = rec_to_msg(o);
	size_t bound = PEER_LINE_OVERHEAD;

	for (int f = 0; f < F_PAYLOAD; f++)
		bound += o->flen[f];
	size_t n = peer_encode_line(out, cap, role, &m);
	FUZZ_CHECK(n > 0 && n <= bound, "encoder wrote %zu bytes (bound %zu)", n, bound);
	FUZZ_CHECK(n >= 2 && out[n - 2] == '\r' && out[n - 1] == '\n',
		   "encoded line does not end in CRLF");
	FUZZ_CHECK(peer_encode_line(out, n - 1, role, &m) == 0,
		   "encoder wrote into a buffer one byte too small");
	n = peer_encode_line(out, cap, role, &m);
	if (o->op != PEER_OP_MSG && o->op != PEER_OP_PUB)
		return n;
	FUZZ_CHECK(n + o->total_len + 2 <= cap, "harness buffer too small");
	memcpy(out + n, o->f[F_PAYLOAD], o->total_len);
	memcpy(out + n + o->total_len, "\r\n", 2);
	return n + o->total_len + 2;
}

/* The raw argument survives for the ops that carry text; INFO gets the
 * reference's trailing blank. */
static bool arg_survives(const struct rec_op *want, const struct rec_op *got)
{
	size_t n = got->flen[F_ARG];

	switch (want->op) {
	case PEER_OP_INFO:
		return n == want->flen[F_ARG] + 1 && got->f[F_ARG][n - 1] == ' ' &&
		       memcmp(got->f[F_ARG], want->f[F_ARG], n - 1) == 0;
	case PEER_OP_CONNECT:
	case PEER_OP_ERR:
	case PEER_OP_ACCOUNT_SUB:
	case PEER_OP_ACCOUNT_UNSUB:
		return field_equal(want, got, F_ARG);
	default:
		return true;
	}
}

/* The queue lists hold the same names (the encoder normalises blanks). */
static bool queues_equal(const struct rec_op *a, const struct rec_op *b)
{
	struct peer_slice ia = { a->f[F_QUEUES], a->flen[F_QUEUES] };
	struct peer_slice ib = { b->f[F_QUEUES], b->flen[F_QUEUES] };
	struct peer_slice qa, qb;

	for (;;) {
		bool more_a = peer_queues_next(&ia, &qa);
		bool more_b = peer_queues_next(&ib, &qb);
		if (more_a != more_b)
			return false;
		if (!more_a)
			return true;
		if (qa.len != qb.len || memcmp(qa.ptr, qb.ptr, qa.len) != 0)
			return false;
	}
}

static void check_one_round_trip(const struct cfg *cfg, const struct rec_op *o,
				 size_t i, char *buf, size_t cap)
{
	const struct cfg plain = { .role = cfg->role };
	size_t n = encode_op(cfg->role, o, buf, cap);
	struct run r;

	run_init(&r, &plain, 0, 0);
	r.p.max_payload = -1;
	int status = run_feed(&r, (const uint8_t *)buf, n);
	r.rec.status = status;
	rec_seal(&r.rec);
	bool same = status == 0 && r.rec.n == 1 && op_equal(o, &r.rec.ops[0], false) &&
		    arg_survives(o, &r.rec.ops[0]) && queues_equal(o, &r.rec.ops[0]);
	if (!same) {
		report_op("parsed", o);
		fuzz_print_bytes("encoded", buf, n);
		if (r.rec.n == 1)
			report_op("re-parsed", &r.rec.ops[0]);
		FUZZ_CHECK(false, "round trip of op #%zu: status %d, %zu ops", i, status,
			   r.rec.n);
	}
	run_finish(&r);
	rec_free(&r.rec);
}

static void check_round_trip(const struct cfg *cfg, const struct rec *want)
{
	size_t cap = 0;
	char *buf = NULL;

	for (size_t i = 0; i < want->n; i++) {
		const struct rec_op *o = &want->ops[i];
		if (!encodable(o))
			continue;
		size_t need = o->total_len + 2 + PEER_LINE_OVERHEAD;
		for (int f = 0; f < F_PAYLOAD; f++)
			need += o->flen[f];
		if (need > cap) {
			free(buf);
			cap = need;
			buf = malloc(cap);
			FUZZ_CHECK(buf != NULL, "harness out of memory");
		}
		check_one_round_trip(cfg, o, i, buf, cap);
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HDR_BYTES)
		return 0;
	struct cfg cfg = {
		.role = (data[0] & 1) ? PEER_ROUTE : PEER_LEAF,
		.headers_after_connect = (data[0] & 2) != 0,
		.tiny = (data[0] & 4) != 0,
		.split_seed = data[1],
		.stop_every = data[2] % 8u + 1,
	};
	const uint8_t *d = data + HDR_BYTES;
	size_t len = size - HDR_BYTES;
	struct rec whole, other;
	static const struct {
		const char *name;
		enum split how;
		bool stop;
	} passes[] = {
		{ "byte by byte", SPLIT_BYTES, false },
		{ "random pieces", SPLIT_RANDOM, false },
		{ "whole with stops", SPLIT_WHOLE, true },
		{ "random pieces with stops", SPLIT_RANDOM, true },
	};

	run_pass(&cfg, d, len, SPLIT_WHOLE, 0, MEM_CAP, &whole);
	for (size_t i = 0; i < sizeof(passes) / sizeof(passes[0]); i++) {
		run_pass(&cfg, d, len, passes[i].how, passes[i].stop ? cfg.stop_every : 0,
			 MEM_CAP, &other);
		rec_compare(passes[i].name, &whole, &other);
		rec_free(&other);
	}
	/* A memory cap hits the scratch buffer of split ops. */
	run_pass(&cfg, d, len, SPLIT_RANDOM, 0, 64 + (size_t)data[1] * 4, &other);
	rec_compare("random pieces under a small memory cap", &whole, &other);
	rec_free(&other);

	check_round_trip(&cfg, &whole);
	rec_free(&whole);
	return 0;
}
