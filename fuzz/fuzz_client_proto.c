/*
 * fuzz_client_proto.c - harness for the client protocol codec
 * (server/proto/client_proto.h), both roles.
 *
 * Input: three header bytes, then the byte stream.
 *   byte 0  bit 0: role (0: CP_ROLE_SERVER, what clients send;
 *                        1: CP_ROLE_CLIENT, what servers send)
 *           bit 1: HPUB refused until a CONNECT containing "headers":true
 *           bit 2: tiny limits (max_control_line 32, max_payload 64)
 *   byte 1  seed for the random split sizes
 *   byte 2  the stop passes stop after every (byte 2 % 8 + 1)-th op
 *
 * Properties checked:
 *   - the operations (deep-copied) and the final status are the same when
 *     the stream is fed whole, byte by byte, in random pieces, and with the
 *     callback stopping the parser and the caller resuming with the rest
 *     (whole and in pieces): a parser resumes at any byte;
 *   - every op is legal for the role and its slices are consistent with
 *     the limits;
 *   - after an error the parser stays dead, and a reset revives it;
 *   - with a memory cap (every pass has one, one pass a small one) the run
 *     is the same, or a prefix of it that ends in CP_ERR_NOMEM; all memory
 *     is given back;
 *   - re-encoding each op with the cp_encode_* functions and parsing the
 *     line again gives the same op.
 */
#define _GNU_SOURCE             /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/client_proto.h"

#define HDR_BYTES 3
#define TINY_LINE 32
#define TINY_PAYLOAD 64
/* A split message is collected in a buffer sized from its announced size
 * (up to 1 MiB in the server role, 999999999 bytes in the client role,
 * which has no payload limit).  Inputs are at most a few KiB, so a payload
 * that big can never complete; the cap keeps such inputs from allocating
 * (and sanitizer-poisoning) megabytes on every run, and still lets a
 * buffer pass the parser's 64 KiB keep limit. */
#define MEM_CAP ((size_t)128 << 10)

enum field { F_SUBJECT, F_REPLY, F_QUEUE, F_SID, F_ARG, F_PAYLOAD, F_COUNT };

static const char *const field_names[F_COUNT] = {
	"subject", "reply", "queue", "sid", "arg", "payload",
};

/* One op, deep-copied out of the parser's slices into its record's byte
 * log (one growing buffer, so a run makes few allocations); f[] points
 * into the log once the record is sealed. */
struct rec_op {
	int op;
	const char *f[F_COUNT];
	size_t off[F_COUNT];
	size_t flen[F_COUNT];
	int64_t max_msgs;
	size_t header_len;
	size_t total_len;
};

struct rec {
	struct rec_op *ops;
	size_t n;
	size_t cap;
	char *bytes;               /* the fields of every op, back to back */
	size_t blen;
	size_t bcap;
	int status;                /* 0 or the enum cp_err that ended it */
};

struct cfg {
	enum cp_role role;
	bool headers_after_connect;
	bool tiny;
	uint8_t split_seed;
	unsigned stop_every;
};

struct run {
	struct cp_parser p;
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

static void rec_push(struct rec *r, const struct cp_msg *m)
{
	const struct cp_slice s[F_COUNT] = {
		m->subject, m->reply, m->queue, m->sid, m->arg,
		{ m->payload, m->payload != NULL ? m->total_len : 0 },
	};
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 8;
		r->ops = realloc(r->ops, r->cap * sizeof(*r->ops));
		FUZZ_CHECK(r->ops != NULL, "harness out of memory");
	}
	struct rec_op *o = &r->ops[r->n++];
	memset(o, 0, sizeof(*o));
	o->op = (int)m->op;
	for (int f = 0; f < F_COUNT; f++) {
		if (r->blen + s[f].len > r->bcap) {
			while (r->blen + s[f].len > r->bcap)
				r->bcap = r->bcap ? r->bcap * 2 : 256;
			r->bytes = realloc(r->bytes, r->bcap);
			FUZZ_CHECK(r->bytes != NULL, "harness out of memory");
		}
		if (s[f].len > 0)
			memcpy(r->bytes + r->blen, s[f].ptr, s[f].len);
		o->off[f] = r->blen;
		o->flen[f] = s[f].len;
		r->blen += s[f].len;
	}
	o->max_msgs = m->max_msgs;
	o->header_len = m->header_len;
	o->total_len = m->total_len;
}

/* The log no longer moves: point the fields into it. */
static void rec_seal(struct rec *r)
{
	for (size_t i = 0; i < r->n; i++)
		for (int f = 0; f < F_COUNT; f++)
			r->ops[i].f[f] = r->bytes != NULL ? r->bytes + r->ops[i].off[f] : "";
}

static bool op_legal(enum cp_role role, int op)
{
	switch (op) {
	case CP_OP_INFO: case CP_OP_PING: case CP_OP_PONG:
	case CP_OP_OK: case CP_OP_ERR:
		return true;
	case CP_OP_CONNECT: case CP_OP_PUB: case CP_OP_HPUB:
	case CP_OP_SUB: case CP_OP_UNSUB:
		return role == CP_ROLE_SERVER;
	case CP_OP_MSG: case CP_OP_HMSG:
		return role == CP_ROLE_CLIENT;
	default:
		return false;
	}
}

static bool has_blank(struct cp_slice s)
{
	return s.len > 0 && (memchr(s.ptr, ' ', s.len) != NULL ||
			     memchr(s.ptr, '\t', s.len) != NULL);
}

/* What the header promises about every op, whatever the input. */
static void check_msg(const struct cfg *cfg, const struct cp_parser *p,
		      const struct cp_msg *m)
{
	int op = (int)m->op;
	bool with_payload = op == CP_OP_PUB || op == CP_OP_HPUB ||
			    op == CP_OP_MSG || op == CP_OP_HMSG;
	FUZZ_CHECK(op_legal(cfg->role, op), "op %d in role %d", op, (int)cfg->role);
	FUZZ_CHECK(!has_blank(m->subject) && !has_blank(m->reply) &&
		   !has_blank(m->queue) && !has_blank(m->sid),
		   "blank inside a token of op %d", op);
	if (with_payload || op == CP_OP_SUB)
		FUZZ_CHECK(m->subject.len > 0, "op %d without subject", op);
	if (op == CP_OP_SUB || op == CP_OP_UNSUB || op == CP_OP_MSG || op == CP_OP_HMSG)
		FUZZ_CHECK(m->sid.len > 0, "op %d without sid", op);
	if (with_payload)
		FUZZ_CHECK(m->payload != NULL || m->total_len == 0,
			   "op %d: no payload pointer for %zu bytes", op, m->total_len);
	else
		FUZZ_CHECK(m->total_len == 0, "op %d has a payload", op);
	FUZZ_CHECK(m->header_len <= m->total_len, "header %zu > total %zu",
		   m->header_len, m->total_len);
	if (op != CP_OP_HPUB && op != CP_OP_HMSG)
		FUZZ_CHECK(m->header_len == 0, "op %d has a header size", op);
	if (cfg->role == CP_ROLE_SERVER && p->max_control_line > 0)
		FUZZ_CHECK(m->arg.len <= p->max_control_line, "arg of %zu bytes > limit %zu",
			   m->arg.len, p->max_control_line);
	if ((op == CP_OP_PUB || op == CP_OP_HPUB) && p->max_payload >= 0)
		FUZZ_CHECK((int64_t)m->total_len <= p->max_payload,
			   "payload %zu > limit %lld", m->total_len,
			   (long long)p->max_payload);
}

static int run_on_msg(void *arg, const struct cp_msg *m)
{
	struct run *r = arg;
	check_msg(r->cfg, &r->p, m);
	rec_push(&r->rec, m);
	if (r->cfg->headers_after_connect && m->op == CP_OP_CONNECT && m->arg.len > 0 &&
	    memmem(m->arg.ptr, m->arg.len, "\"headers\":true", 14) != NULL)
		cp_parser_set_headers(&r->p, true);
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
	cp_parser_init(&r->p, &r->mem, cfg->role);
	if (cfg->tiny) {
		r->p.max_control_line = TINY_LINE;
		r->p.max_payload = TINY_PAYLOAD;
	}
	if (cfg->headers_after_connect)
		cp_parser_set_headers(&r->p, false);
}

/* Feeds one piece, resuming after each stop; 0 or a negative cp_err. */
static int run_feed(struct run *r, const uint8_t *d, size_t len)
{
	while (len > 0) {
		size_t consumed = (size_t)-1;
		long rc = cp_parse(&r->p, (const char *)d, len, run_on_msg, r, &consumed);
		if (rc == CP_STOPPED) {
			/* The op that stopped ended in this piece. */
			FUZZ_CHECK(consumed >= 1 && consumed <= len,
				   "stopped with %zu of %zu bytes consumed", consumed, len);
			d += consumed;
			len -= consumed;
			continue;
		}
		if (rc < 0) {
			FUZZ_CHECK(rc >= CP_ERR_NOMEM, "unknown status %ld", rc);
			FUZZ_CHECK(consumed <= len, "error at %zu of %zu", consumed, len);
			return (int)rc;
		}
		FUZZ_CHECK((size_t)rc == len, "consumed %ld of %zu", rc, len);
		return 0;
	}
	return 0;
}

static int never_called(void *arg, const struct cp_msg *m)
{
	(void)arg;
	FUZZ_CHECK(false, "op %d delivered by a dead parser", (int)m->op);
	return 0;
}

static int count_ping(void *arg, const struct cp_msg *m)
{
	FUZZ_CHECK(m->op == CP_OP_PING, "PING parsed as op %d", (int)m->op);
	(*(int *)arg)++;
	return 0;
}

/* After the stream: a failed parser stays failed; a reset one works. */
static void run_finish(struct run *r)
{
	static const char ping[] = "PING\r\n";
	if (r->rec.status < 0) {
		long rc = cp_parse(&r->p, ping, 6, never_called, NULL, NULL);
		FUZZ_CHECK(rc == r->rec.status, "dead parser returned %ld, not %d",
			   rc, r->rec.status);
	}
	cp_parser_reset(&r->p);
	int pings = 0;
	long rc = cp_parse(&r->p, ping, 6, count_ping, &pings, NULL);
	FUZZ_CHECK(rc == 6 && pings == 1, "after reset: rc %ld, %d pings", rc, pings);
	cp_parser_free(&r->p);
	fuzz_check_no_leak(&r->mem, "client_proto parser");
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

/* One pass over the stream; fills out (caller frees). */
static void run_pass(const struct cfg *cfg, const uint8_t *d, size_t len,
		     enum split how, unsigned stop_every, size_t mem_limit,
		     struct rec *out)
{
	struct run r;
	uint64_t state = cfg->split_seed;
	run_init(&r, cfg, stop_every, mem_limit);
	size_t off = 0;
	int status = 0;
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
	fprintf(stderr, "  %s: op %d max_msgs %lld header_len %zu total_len %zu\n", label,
		o->op, (long long)o->max_msgs, o->header_len, o->total_len);
	for (int f = 0; f < F_COUNT; f++)
		fuzz_print_bytes(field_names[f], o->f[f], o->flen[f]);
}

static bool op_equal(const struct rec_op *a, const struct rec_op *b, bool with_arg)
{
	if (a->op != b->op || a->max_msgs != b->max_msgs ||
	    a->header_len != b->header_len || a->total_len != b->total_len)
		return false;
	for (int f = 0; f < F_COUNT; f++) {
		if (f == F_ARG && !with_arg)
			continue;
		if (a->flen[f] != b->flen[f] || memcmp(a->f[f], b->f[f], a->flen[f]) != 0)
			return false;
	}
	return true;
}

/* got must equal want; where either ran out of memory, the shorter must be
 * a prefix of the other (only split ops use memory, so where the cap hits
 * depends on the split). */
static void rec_compare(const char *what, const struct rec *want, const struct rec *got)
{
	bool nomem = got->status == CP_ERR_NOMEM || want->status == CP_ERR_NOMEM;
	size_t n = got->n < want->n ? got->n : want->n;
	for (size_t i = 0; i < n; i++) {
		if (!op_equal(&want->ops[i], &got->ops[i], true)) {
			report_op("whole", &want->ops[i]);
			report_op(what, &got->ops[i]);
			FUZZ_CHECK(false, "%s: op #%zu differs from the whole feed", what, i);
		}
	}
	if (nomem) {
		FUZZ_CHECK(got->status == CP_ERR_NOMEM ? got->n <= want->n : got->n >= want->n,
			   "%s: %zu ops (status %d), whole feed %zu ops (status %d)",
			   what, got->n, got->status, want->n, want->status);
		return;
	}
	FUZZ_CHECK(got->n == want->n && got->status == want->status,
		   "%s: %zu ops, status %d; whole feed: %zu ops, status %d",
		   what, got->n, got->status, want->n, want->status);
}

/* Encodes op o as its line (and payload) into out; 0 when not encodable. */
static size_t encode_op(const struct rec_op *o, char *out, size_t cap)
{
	const char *const *f = o->f;
	const size_t *l = o->flen;
	size_t n = 0;
	switch (o->op) {
	case CP_OP_PUB: case CP_OP_HPUB:
		n = cp_encode_pub_line(out, cap, f[F_SUBJECT], l[F_SUBJECT], f[F_REPLY],
				       l[F_REPLY], o->op == CP_OP_HPUB, o->header_len,
				       o->total_len);
		break;
	case CP_OP_MSG: case CP_OP_HMSG:
		n = cp_encode_msg_line(out, cap, f[F_SUBJECT], l[F_SUBJECT], f[F_SID],
				       l[F_SID], f[F_REPLY], l[F_REPLY], o->op == CP_OP_HMSG,
				       o->header_len, o->total_len);
		break;
	case CP_OP_SUB:
		n = cp_encode_sub_line(out, cap, f[F_SUBJECT], l[F_SUBJECT], f[F_QUEUE],
				       l[F_QUEUE], f[F_SID], l[F_SID]);
		break;
	case CP_OP_UNSUB:
		n = cp_encode_unsub_line(out, cap, f[F_SID], l[F_SID], o->max_msgs);
		break;
	default:
		return 0;
	}
	size_t need = l[F_SUBJECT] + l[F_REPLY] + l[F_QUEUE] + l[F_SID] + CP_LINE_OVERHEAD;
	FUZZ_CHECK(n > 0 && n <= need && n <= cap, "encoder wrote %zu bytes (bound %zu)",
		   n, need);
	FUZZ_CHECK(n >= 2 && out[n - 2] == '\r' && out[n - 1] == '\n',
		   "encoded line does not end in CRLF");
	if (o->op == CP_OP_UNSUB || o->op == CP_OP_SUB)
		return n;
	if (n + o->total_len + 2 > cap)
		return 0;
	memcpy(out + n, o->f[F_PAYLOAD], o->total_len);
	memcpy(out + n + o->total_len, "\r\n", 2);
	return n + o->total_len + 2;
}

/* Parsing the encoding of each op gives the op back (arg aside: it is the
 * raw argument text, which the encoder normalises). */
static void check_round_trip(const struct cfg *cfg, const struct rec *want)
{
	const struct cfg plain = { .role = cfg->role };
	size_t cap = 0;
	char *buf = NULL;
	for (size_t i = 0; i < want->n; i++) {
		const struct rec_op *o = &want->ops[i];
		size_t need = o->total_len + 2 + CP_LINE_OVERHEAD;
		for (int f = 0; f < F_COUNT; f++)
			need += f == F_PAYLOAD ? 0 : o->flen[f];
		if (need > cap) {
			free(buf);
			cap = need;
			buf = malloc(cap);
			FUZZ_CHECK(buf != NULL, "harness out of memory");
		}
		size_t n = encode_op(o, buf, cap);
		if (n == 0)
			continue;
		struct run r;
		run_init(&r, &plain, 0, 0);
		r.p.max_control_line = 0;
		r.p.max_payload = -1;
		int status = run_feed(&r, (const uint8_t *)buf, n);
		r.rec.status = status;
		rec_seal(&r.rec);
		if (status != 0 || r.rec.n != 1 || !op_equal(o, &r.rec.ops[0], false)) {
			report_op("parsed", o);
			fuzz_print_bytes("encoded", buf, n);
			if (r.rec.n == 1)
				report_op("re-parsed", &r.rec.ops[0]);
			FUZZ_CHECK(false, "round trip of op #%zu: status %d, %zu ops",
				   i, status, r.rec.n);
		}
		run_finish(&r);
		rec_free(&r.rec);
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HDR_BYTES)
		return 0;
	struct cfg cfg = {
		.role = (data[0] & 1) ? CP_ROLE_CLIENT : CP_ROLE_SERVER,
		.headers_after_connect = (data[0] & 2) != 0,
		.tiny = (data[0] & 4) != 0,
		.split_seed = data[1],
		.stop_every = data[2] % 8u + 1,
	};
	const uint8_t *d = data + HDR_BYTES;
	size_t len = size - HDR_BYTES;
	struct rec whole, other;

	run_pass(&cfg, d, len, SPLIT_WHOLE, 0, MEM_CAP, &whole);
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
