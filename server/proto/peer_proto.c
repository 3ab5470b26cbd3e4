/*
 * peer_proto.c - sans-IO parser and line encoder for leaf node and route
 * connections (see peer_proto.h for the contract).
 *
 * Owns the parser's scratch buffer.  Invariants:
 *  - a control line, and a payload with its CRLF, that lie whole in the
 *    caller's bytes are handed out in place: no copy, no allocation;
 *  - only an op that crosses a feed boundary is copied into scratch: the
 *    argument part of its line (bounded by the line limit), then for a
 *    message its payload, which grows the buffer with the bytes that have
 *    arrived (never with the announced size alone);
 *  - reading the arguments of a line is a pure function of the role, the
 *    op name and the bytes; limits are checked apart.  A parked message is
 *    read again from scratch when its payload is complete, and gives the
 *    same op;
 *  - the ops and the final error do not depend on how the stream was
 *    split: every decision is made on whole lines or on single bytes whose
 *    place in the op is known.
 *
 * What nats-server 2.9.10 does on LEAF and ROUTER connections (parser.go,
 * leafnode.go, route.go, client.go):
 *  - op names are matched byte by byte, case-insensitively, over one set
 *    for both kinds: PUB PING PONG HPUB HMSG SUB UNSUB RS+ RS- RMSG LS+
 *    LS- LMSG A+ A- CONNECT INFO +OK -ERR, and "Au" (lower case u only).
 *    A byte that continues no name is 'Unknown Protocol Operation' (so MSG
 *    fails at 'M'; RMSG and LMSG are R or L then MSG).
 *  - after the name: CONNECT/INFO take their argument at once or after
 *    blanks; the others need a space or tab; PING/PONG/+OK ignore the
 *    rest of their line.  The line ends at '\n', a '\r' before it is
 *    dropped, and the first byte after the blanks always belongs to the
 *    argument (as in the client codec).
 *  - the op is chosen by the name and the connection kind:
 *      leaf:  SUB, RS+, LS+          -> "<subject> [<queue> <weight>]"
 *             UNSUB, RS-, LS-        -> "<subject> [<queue>]", any count
 *                                       (the raw argument is the key; a
 *                                       form that matches no sub is a
 *                                       no-op, dropped here)
 *             RMSG, LMSG             -> "<subject> <tail> <size>"
 *             HMSG                   -> "<subject> <tail> <hdr> <size>"
 *      route: RS+                    -> "<account> <subject> [<q> <w>]"
 *             LS+                    -> "<origin> " + the same
 *             UNSUB, RS-, LS-        -> "<account> <subject> [<queue>]"
 *             SUB                    -> read and ignored
 *             RMSG                   -> "<account> <subject> <tail> <size>"
 *             HMSG                   -> "<account> <subject> <tail> <hdr> <size>"
 *             LMSG                   -> "<origin> <account> <subject> <tail>
 *                                        <hdr> <size>"
 *      both:  PUB, HPUB as from a client (blanks only separate them;
 *             max_payload applies; HPUB needs negotiated headers);
 *             A+/A- take the whole argument as an account name and are
 *             ignored by the reference outside gateways.
 *    Arguments of the others are separated by blanks, CR and LF.  The
 *    tail is empty, one reply token, or a one-byte marker '+' (reply then
 *    queue names) or '|' (queue names); any other marker is a parse error.
 *    A queue weight that is not a size is kept as -1.
 *  - sizes are 1 to 9 decimal digits; header size > total is an error.
 *    Argument errors close the connection without -ERR.
 *  - neither max_control_line nor max_payload applies to LMSG/RMSG/HMSG
 *    in the reference; here both are optional limits (see peer_proto.h).
 *  - the payload must be followed by "\r\n", each byte checked as it
 *    arrives ('Unknown Protocol Operation' otherwise).
 */
#include "peer_proto.h"

#include <string.h>

#include "../lib/assert.h"

/* A scratch buffer larger than this is released after its op. */
#define PEER_SCRATCH_KEEP ((size_t)64 << 10)
#define PEER_SCRATCH_MIN ((size_t)256)
/* parseSize in the reference accepts at most 9 digits. */
#define PEER_SIZE_DIGITS_MAX 9
/* Internal: an op that is read but not delivered. */
#define PEER_SKIP 1

enum peer_state {
	ST_START = 0,   /* the next byte begins an op name */
	ST_NAME,        /* inside an op name: name_cand, name_pos */
	ST_NEED_BLANK,  /* op name read, a space or tab must follow */
	ST_SKIP_BLANK,  /* blanks before the argument part */
	ST_ARG,         /* argument part continues past a feed, in scratch */
	ST_IGNORE,      /* rest of a PING/PONG/+OK line */
	ST_PAYLOAD,     /* payload continues past a feed, in scratch */
};

enum peer_after {
	AFTER_BLANK,      /* a blank must follow the name */
	AFTER_OPT_BLANK,  /* the argument may follow the name directly */
	AFTER_IGNORE,     /* the rest of the line is ignored */
};

/* Every op name either kind accepts.  No name is a prefix of another, so
 * the first one matched in full is the only candidate left. */
enum peer_name {
	NM_CONNECT, NM_INFO, NM_PING, NM_PONG, NM_OK, NM_ERR,
	NM_PUB, NM_HPUB, NM_HMSG, NM_SUB, NM_UNSUB,
	NM_RS_PLUS, NM_RS_MINUS, NM_RMSG,
	NM_LS_PLUS, NM_LS_MINUS, NM_LMSG,
	NM_A_PLUS, NM_A_MINUS, NM_A_U,
	NM_COUNT
};

struct peer_name_def {
	char name[8];         /* upper case letters match either case; a
			       * lower case letter matches only itself */
	unsigned char len;
	unsigned char after;  /* enum peer_after */
};

static const struct peer_name_def peer_names[NM_COUNT] = {
	[NM_CONNECT] = { "CONNECT", 7, AFTER_OPT_BLANK },
	[NM_INFO] = { "INFO", 4, AFTER_OPT_BLANK },
	[NM_PING] = { "PING", 4, AFTER_IGNORE },
	[NM_PONG] = { "PONG", 4, AFTER_IGNORE },
	[NM_OK] = { "+OK", 3, AFTER_IGNORE },
	[NM_ERR] = { "-ERR", 4, AFTER_BLANK },
	[NM_PUB] = { "PUB", 3, AFTER_BLANK },
	[NM_HPUB] = { "HPUB", 4, AFTER_BLANK },
	[NM_HMSG] = { "HMSG", 4, AFTER_BLANK },
	[NM_SUB] = { "SUB", 3, AFTER_BLANK },
	[NM_UNSUB] = { "UNSUB", 5, AFTER_BLANK },
	[NM_RS_PLUS] = { "RS+", 3, AFTER_BLANK },
	[NM_RS_MINUS] = { "RS-", 3, AFTER_BLANK },
	[NM_RMSG] = { "RMSG", 4, AFTER_BLANK },
	[NM_LS_PLUS] = { "LS+", 3, AFTER_BLANK },
	[NM_LS_MINUS] = { "LS-", 3, AFTER_BLANK },
	[NM_LMSG] = { "LMSG", 4, AFTER_BLANK },
	[NM_A_PLUS] = { "A+", 2, AFTER_BLANK },
	[NM_A_MINUS] = { "A-", 2, AFTER_BLANK },
	[NM_A_U] = { "Au", 2, AFTER_BLANK },
};

#define NM_ALL ((uint32_t)((1u << NM_COUNT) - 1))

/* The bytes of one peer_parse call and where we are in them. */
struct peer_feed {
	const char *data;
	size_t len;
	size_t pos;
	peer_msg_cb cb;
	void *cb_arg;
};

void peer_parser_init(struct peer_parser *p, struct mem *mem,
		      enum peer_role role)
{
	ASSERT(p != NULL && mem != NULL);
	ASSERT(role == PEER_LEAF || role == PEER_ROUTE);
	memset(p, 0, sizeof(*p));
	p->role = role;
	p->mem = mem;
	p->max_control_line = 0;
	p->max_payload = role == PEER_LEAF ? 1048576 : -1;
	p->max_msg_payload = -1;
	p->headers_ok = true;
	p->state = ST_START;
}

void peer_parser_free(struct peer_parser *p)
{
	mem_free(p->mem, p->scratch);
	p->scratch = NULL;
	p->scratch_len = 0;
	p->scratch_cap = 0;
}

void peer_parser_reset(struct peer_parser *p)
{
	if (p->scratch_cap > PEER_SCRATCH_KEEP)
		peer_parser_free(p);
	p->scratch_len = 0;
	p->state = ST_START;
	p->error = PEER_OK;
	p->line_len = 0;
	p->payload_need = 0;
	p->payload_total = 0;
	p->name_cand = 0;
	p->name = 0;
	p->name_pos = 0;
}

void peer_parser_set_headers(struct peer_parser *p, bool enabled)
{
	p->headers_ok = enabled;
}

const char *peer_err_text(int err)
{
	switch (err) {
	case PEER_ERR_UNKNOWN_OP:
		return "Unknown Protocol Operation";
	case PEER_ERR_MAX_CONTROL_LINE:
		return "maximum control line exceeded";
	case PEER_ERR_MAX_PAYLOAD:
		return "Maximum Payload Violation";
	default:
		return NULL;
	}
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static inline int peer_upper(unsigned char b)
{
	return (b >= 'a' && b <= 'z') ? b - ('a' - 'A') : b;
}

static inline bool peer_is_blank(unsigned char b)
{
	return b == ' ' || b == '\t';
}

static inline bool peer_is_sep(unsigned char b, bool crlf)
{
	return b == ' ' || b == '\t' || (crlf && (b == '\r' || b == '\n'));
}

static size_t peer_line_limit(const struct peer_parser *p)
{
	return p->max_control_line > 0 ? p->max_control_line : PEER_LINE_MAX;
}

/* Length of a line without the '\r' that preceded its '\n'.  The first
 * byte of the argument part is never dropped (the reference keeps it). */
static size_t peer_line_trim(const char *line, size_t n)
{
	if (n >= 2 && line[n - 1] == '\r')
		return n - 1;
	return n;
}

/* Decimal size as the reference reads it: 1 to 9 digits, else -1. */
static int64_t peer_parse_size(struct peer_slice s)
{
	if (s.len == 0 || s.len > PEER_SIZE_DIGITS_MAX)
		return -1;
	int64_t n = 0;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char d = (unsigned char)s.ptr[i];
		if (d < '0' || d > '9')
			return -1;
		n = n * 10 + (d - '0');
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* Tokens                                                              */

/* The first TOK_HEAD and the last TOK_TAIL tokens of an argument part,
 * and how many there are: enough for every form, since only queue names
 * (never looked at one by one here) sit between the two ends. */
#define TOK_HEAD 6
#define TOK_TAIL 3

struct peer_tokens {
	struct peer_slice head[TOK_HEAD];
	struct peer_slice tail[TOK_TAIL];  /* tail[TOK_TAIL - 1] is the last */
	size_t count;
};

static void peer_tokens_split(const char *s, size_t n, bool crlf,
			      struct peer_tokens *t)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	memset(t, 0, sizeof(*t));
	while (i < n) {
		while (i < n && peer_is_sep(u[i], crlf))
			i++;
		if (i == n)
			break;
		size_t start = i;
		while (i < n && !peer_is_sep(u[i], crlf))
			i++;
		struct peer_slice tok = { s + start, i - start };
		if (t->count < TOK_HEAD)
			t->head[t->count] = tok;
		memmove(&t->tail[0], &t->tail[1],
			(TOK_TAIL - 1) * sizeof(t->tail[0]));
		t->tail[TOK_TAIL - 1] = tok;
		t->count++;
	}
}

/* Token i (i < count); the forms only ask for the head or the tail. */
static struct peer_slice peer_tok(const struct peer_tokens *t, size_t i)
{
	ASSERT(i < t->count);
	if (i < TOK_HEAD)
		return t->head[i];
	ASSERT(i + TOK_TAIL >= t->count);
	return t->tail[i + TOK_TAIL - t->count];
}

bool peer_queues_next(struct peer_slice *it, struct peer_slice *name)
{
	const unsigned char *u = (const unsigned char *)it->ptr;
	size_t i = 0;

	if (it->len == 0)
		return false;
	while (i < it->len && peer_is_sep(u[i], true))
		i++;
	if (i == it->len) {
		it->ptr += it->len;
		it->len = 0;
		return false;
	}
	size_t start = i;
	while (i < it->len && !peer_is_sep(u[i], true))
		i++;
	name->ptr = it->ptr + start;
	name->len = i - start;
	it->ptr += i;
	it->len -= i;
	return true;
}

/* ------------------------------------------------------------------ */
/* Arguments of each op (pure: no limits here)                         */

/* Message: `lead` fixed tokens (subject; account subject; origin account
 * subject), the reply/queue tail, then one or two sizes. */
static int peer_args_msg(struct peer_msg *m, const char *s, size_t n,
			 size_t lead, bool headers)
{
	struct peer_tokens t;
	size_t sizes = headers ? 2 : 1;
	size_t qfirst = 0, qend = 0;

	peer_tokens_split(s, n, true, &t);
	size_t c = t.count;
	if (c < lead + sizes)
		return PEER_ERR_PARSE;
	if (c == lead + sizes + 1) {
		m->reply = peer_tok(&t, lead);
	} else if (c > lead + sizes + 1) {
		struct peer_slice mark = peer_tok(&t, lead);
		if (mark.len != 1 || (mark.ptr[0] != '+' && mark.ptr[0] != '|'))
			return PEER_ERR_PARSE;
		qfirst = lead + 1;
		if (mark.ptr[0] == '+')
			m->reply = peer_tok(&t, qfirst++);
		qend = c - sizes;
	}
	if (qend > qfirst) {
		struct peer_slice first = peer_tok(&t, qfirst);
		struct peer_slice last = peer_tok(&t, qend - 1);
		m->queues.ptr = first.ptr;
		m->queues.len = (size_t)(last.ptr + last.len - first.ptr);
		m->queue_count = qend - qfirst;
	}
	int64_t hdr = headers ? peer_parse_size(peer_tok(&t, c - 2)) : 0;
	int64_t total = peer_parse_size(peer_tok(&t, c - 1));
	if (hdr < 0 || total < 0 || hdr > total)
		return PEER_ERR_PARSE;
	m->has_headers = headers;
	m->header_len = (size_t)hdr;
	m->total_len = (size_t)total;
	if (lead == 3)
		m->origin = peer_tok(&t, 0);
	if (lead >= 2)
		m->account = peer_tok(&t, lead - 2);
	m->subject = peer_tok(&t, lead - 1);
	return PEER_OK;
}

/* Interest: `lead` fixed tokens then nothing or "<queue> <weight>". */
static int peer_args_sub(struct peer_msg *m, const char *s, size_t n,
			 size_t lead)
{
	struct peer_tokens t;

	peer_tokens_split(s, n, true, &t);
	if (t.count != lead && t.count != lead + 2)
		return PEER_ERR_PARSE;
	if (lead == 3)
		m->origin = t.head[0];
	if (lead >= 2)
		m->account = t.head[lead - 2];
	m->subject = t.head[lead - 1];
	if (t.count == lead + 2) {
		m->queue = t.head[lead];
		m->weight = peer_parse_size(t.head[lead + 1]);
	}
	return PEER_OK;
}

static int peer_args_leaf_unsub(struct peer_msg *m, const char *s, size_t n)
{
	struct peer_tokens t;

	peer_tokens_split(s, n, true, &t);
	if (t.count != 1 && t.count != 2)
		return PEER_SKIP;
	m->subject = t.head[0];
	if (t.count == 2)
		m->queue = t.head[1];
	return PEER_OK;
}

static int peer_args_route_unsub(struct peer_msg *m, const char *s, size_t n)
{
	struct peer_tokens t;

	peer_tokens_split(s, n, true, &t);
	if (t.count != 2 && t.count != 3)
		return PEER_ERR_PARSE;
	m->account = t.head[0];
	m->subject = t.head[1];
	if (t.count == 3)
		m->queue = t.head[2];
	return PEER_OK;
}

/* PUB/HPUB: blanks only separate the arguments, as for a client. */
static int peer_args_pub(struct peer_msg *m, const char *s, size_t n,
			 bool headers)
{
	struct peer_tokens t;
	size_t sizes = headers ? 2 : 1;

	peer_tokens_split(s, n, false, &t);
	if (t.count != sizes + 1 && t.count != sizes + 2)
		return PEER_ERR_PARSE;
	m->subject = t.head[0];
	if (t.count == sizes + 2)
		m->reply = t.head[1];
	int64_t hdr = headers ? peer_parse_size(peer_tok(&t, t.count - 2)) : 0;
	int64_t total = peer_parse_size(peer_tok(&t, t.count - 1));
	if (hdr < 0 || total < 0 || hdr > total)
		return PEER_ERR_PARSE;
	m->has_headers = headers;
	m->header_len = (size_t)hdr;
	m->total_len = (size_t)total;
	return PEER_OK;
}

/* -ERR text without trailing blanks and without its single quotes. */
static struct peer_slice peer_err_unquote(const char *s, size_t n)
{
	struct peer_slice r = { s, n };

	while (r.len > 0 && peer_is_blank((unsigned char)r.ptr[r.len - 1]))
		r.len--;
	if (r.len >= 2 && r.ptr[0] == '\'' && r.ptr[r.len - 1] == '\'') {
		r.ptr++;
		r.len -= 2;
	}
	return r;
}

static void peer_msg_clear(struct peer_msg *m, enum peer_op op)
{
	memset(m, 0, sizeof(*m));
	m->op = op;
}

/* Interest and messages: which form the name has on this kind. */
static int peer_args_routed(enum peer_role role, int name, struct peer_msg *m,
			    const char *s, size_t n)
{
	bool leaf = role == PEER_LEAF;

	switch (name) {
	case NM_SUB:
		if (!leaf)
			return PEER_SKIP;
		return peer_args_sub(m, s, n, 1);
	case NM_RS_PLUS:
		return peer_args_sub(m, s, n, leaf ? 1 : 2);
	case NM_LS_PLUS:
		return peer_args_sub(m, s, n, leaf ? 1 : 3);
	case NM_UNSUB:
	case NM_RS_MINUS:
	case NM_LS_MINUS:
		m->op = PEER_OP_UNSUB;
		if (leaf)
			return peer_args_leaf_unsub(m, s, n);
		return peer_args_route_unsub(m, s, n);
	case NM_RMSG:
		m->op = PEER_OP_MSG;
		return peer_args_msg(m, s, n, leaf ? 1 : 2, false);
	case NM_LMSG:
		m->op = PEER_OP_MSG;
		return leaf ? peer_args_msg(m, s, n, 1, false) :
			      peer_args_msg(m, s, n, 3, true);
	case NM_HMSG:
		m->op = PEER_OP_MSG;
		return peer_args_msg(m, s, n, leaf ? 1 : 2, true);
	default:
		ASSERT(!"not an interest or message name");
	}
	return PEER_ERR_PARSE;
}

/* Reads the argument part of op `name`: PEER_OK with m filled in,
 * PEER_SKIP for an op that is read and dropped, or an error. */
static int peer_args_parse(enum peer_role role, int name, struct peer_msg *m,
			   const char *s, size_t n)
{
	peer_msg_clear(m, PEER_OP_SUB);
	m->arg.ptr = s;
	m->arg.len = n;
	switch (name) {
	case NM_CONNECT:
		m->op = PEER_OP_CONNECT;
		return PEER_OK;
	case NM_INFO:
		m->op = PEER_OP_INFO;
		return PEER_OK;
	case NM_ERR:
		m->op = PEER_OP_ERR;
		m->arg = peer_err_unquote(s, n);
		return PEER_OK;
	case NM_PUB:
	case NM_HPUB:
		m->op = PEER_OP_PUB;
		return peer_args_pub(m, s, n, name == NM_HPUB);
	case NM_A_PLUS:
		m->op = PEER_OP_ACCOUNT_SUB;
		m->account = m->arg;
		return PEER_OK;
	case NM_A_MINUS:
	case NM_A_U:
		m->op = PEER_OP_ACCOUNT_UNSUB;
		m->account = m->arg;
		return PEER_OK;
	default:
		return peer_args_routed(role, name, m, s, n);
	}
}

/* The limits, checked once on a fresh line, after its arguments were read
 * (the reference's order: argument errors first). */
static int peer_check_limits(const struct peer_parser *p, int name,
			     const struct peer_msg *m)
{
	int64_t max = -1;

	if (name == NM_HPUB && !p->headers_ok)
		return PEER_ERR_PARSE;
	if (m->op == PEER_OP_PUB)
		max = p->max_payload;
	else if (m->op == PEER_OP_MSG)
		max = p->max_msg_payload;
	if (max >= 0 && (int64_t)m->total_len > max)
		return PEER_ERR_MAX_PAYLOAD;
	return PEER_OK;
}

/* ------------------------------------------------------------------ */
/* Scratch buffer                                                      */

/* Makes room for size bytes, keeping the content; grows geometrically,
 * never beyond max (unless size itself is larger). */
static int peer_scratch_reserve(struct peer_parser *p, size_t size, size_t max)
{
	if (size <= p->scratch_cap)
		return PEER_OK;
	size_t cap = MAX(size, MAX(p->scratch_cap * 2, PEER_SCRATCH_MIN));
	cap = MIN(cap, MAX(max, size));
	char *s = mem_realloc(p->mem, p->scratch, cap);
	if (s == NULL)
		return PEER_ERR_NOMEM;
	p->scratch = s;
	p->scratch_cap = cap;
	return PEER_OK;
}

/* The op held in scratch is delivered: forget it, give back a big buffer. */
static void peer_scratch_done(struct peer_parser *p)
{
	p->scratch_len = 0;
	p->line_len = 0;
	if (p->scratch_cap > PEER_SCRATCH_KEEP)
		peer_parser_free(p);
}

/* Appends n (>= 1) bytes of a line that has not ended yet, checking the
 * line limit on what has arrived so a peer cannot grow the buffer: the
 * part without a trailing '\r' (maybe the dropped one) only gets longer. */
static int peer_arg_stash(struct peer_parser *p, const char *src, size_t n)
{
	size_t limit = peer_line_limit(p);
	size_t total = p->scratch_len + n;
	size_t effective = total;

	ASSERT(n >= 1);
	if (total >= 2 && src[n - 1] == '\r')
		effective--;
	if (effective > limit)
		return PEER_ERR_MAX_CONTROL_LINE;
	int rc = peer_scratch_reserve(p, total, limit + 1);
	if (rc != PEER_OK)
		return rc;
	memcpy(p->scratch + p->scratch_len, src, n);
	p->scratch_len = total;
	return PEER_OK;
}

/* ------------------------------------------------------------------ */
/* Delivering ops                                                      */

static int peer_emit(struct peer_feed *f, const struct peer_msg *m)
{
	return f->cb(f->cb_arg, m) != 0 ? PEER_STOPPED : PEER_OK;
}

/* Checks the CRLF after a payload of total bytes, for the chunk src[0..n)
 * that holds bytes [got, got + n) of payload + CRLF. */
static int peer_crlf_check(const char *src, size_t n, size_t got, size_t total)
{
	if (total >= got && total < got + n && src[total - got] != '\r')
		return PEER_ERR_UNKNOWN_OP;
	if (total + 1 >= got && total + 1 < got + n &&
	    src[total + 1 - got] != '\n')
		return PEER_ERR_UNKNOWN_OP;
	return PEER_OK;
}

/* Keeps a message whose payload continues in a later feed: its line (n
 * bytes at line, maybe already at the start of scratch) then the avail
 * payload bytes at src go to scratch.  The op is read again from there
 * once complete. */
static int peer_park(struct peer_parser *p, const struct peer_msg *m,
		     const char *line, size_t n, const char *src, size_t avail)
{
	bool in_scratch = p->scratch != NULL && line == p->scratch;
	size_t need = m->total_len + 2;

	ASSERT(in_scratch || p->scratch_len == 0);
	ASSERT(avail < need);
	int rc = peer_scratch_reserve(p, n + avail, n + need);
	if (rc != PEER_OK)
		return rc;
	if (!in_scratch)
		memcpy(p->scratch, line, n);
	memcpy(p->scratch + n, src, avail);
	p->line_len = n;
	p->scratch_len = n + avail;
	p->payload_total = m->total_len;
	p->payload_need = need - avail;
	p->state = ST_PAYLOAD;
	return PEER_OK;
}

/* The control line of a message is done and f->pos is just after it:
 * deliver in place if the payload is all there, else park it. */
static int peer_payload_begin(struct peer_parser *p, struct peer_feed *f,
			      struct peer_msg *m, const char *line, size_t n)
{
	size_t need = m->total_len + 2;
	size_t avail = f->len - f->pos;
	const char *src = f->data + f->pos;
	int rc;

	if (avail >= need) {
		rc = peer_crlf_check(src, need, 0, m->total_len);
		if (rc != PEER_OK)
			return rc;
		m->payload = src;
		f->pos += need;
		rc = peer_emit(f, m);
		peer_scratch_done(p);
		return rc;
	}
	rc = peer_crlf_check(src, avail, 0, m->total_len);
	if (rc == PEER_OK)
		rc = peer_park(p, m, line, n, src, avail);
	if (rc != PEER_OK)
		return rc;
	f->pos = f->len;
	return PEER_OK;
}

/* A whole control line of the current op: n argument bytes at line (in
 * the caller's bytes or in scratch); f->pos is just after its '\n'. */
static int peer_line_done(struct peer_parser *p, struct peer_feed *f,
			  const char *line, size_t n)
{
	struct peer_msg m;
	int rc;

	if (n > peer_line_limit(p))
		return PEER_ERR_MAX_CONTROL_LINE;
	rc = peer_args_parse(p->role, p->name, &m, line, n);
	if (rc == PEER_OK)
		rc = peer_check_limits(p, p->name, &m);
	p->state = ST_START;
	if (rc == PEER_SKIP) {
		peer_scratch_done(p);
		return PEER_OK;
	}
	if (rc != PEER_OK)
		return rc;
	if (m.op == PEER_OP_MSG || m.op == PEER_OP_PUB)
		return peer_payload_begin(p, f, &m, line, n);
	rc = peer_emit(f, &m);
	peer_scratch_done(p);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The state machine                                                   */

static bool peer_name_byte_ok(char want, unsigned char b)
{
	if (want >= 'a' && want <= 'z')
		return b == (unsigned char)want;
	return peer_upper(b) == (unsigned char)want;
}

/* One more byte of an op name: narrow the candidates; the name is read
 * once one of them is matched in full. */
static int peer_name_step(struct peer_parser *p, unsigned char b)
{
	uint32_t left = 0;

	if (p->state == ST_START) {
		p->name_cand = NM_ALL;
		p->name_pos = 0;
		p->state = ST_NAME;
	}
	for (int i = 0; i < NM_COUNT; i++) {
		if (!(p->name_cand & (1u << i)))
			continue;
		ASSERT(peer_names[i].len > p->name_pos);
		if (peer_name_byte_ok(peer_names[i].name[p->name_pos], b))
			left |= 1u << i;
	}
	if (left == 0)
		return PEER_ERR_UNKNOWN_OP;
	p->name_cand = left;
	p->name_pos++;
	for (int i = 0; i < NM_COUNT; i++) {
		if (!(left & (1u << i)) || peer_names[i].len != p->name_pos)
			continue;
		ASSERT(left == (1u << i));
		p->name = i;
		if (peer_names[i].after == AFTER_BLANK)
			p->state = ST_NEED_BLANK;
		else if (peer_names[i].after == AFTER_OPT_BLANK)
			p->state = ST_SKIP_BLANK;
		else
			p->state = ST_IGNORE;
		break;
	}
	return PEER_OK;
}

/* The argument part starts at f->pos: take the line in place if its '\n'
 * is in this feed, else start collecting it in scratch. */
static int peer_line_begin(struct peer_parser *p, struct peer_feed *f)
{
	const char *start = f->data + f->pos;
	size_t avail = f->len - f->pos;
	/* The first byte belongs to the argument even if it is a '\n'. */
	const char *nl = avail > 1 ? memchr(start + 1, '\n', avail - 1) : NULL;

	if (nl == NULL) {
		f->pos = f->len;
		p->state = ST_ARG;
		return peer_arg_stash(p, start, avail);
	}
	f->pos = (size_t)(nl - f->data) + 1;
	return peer_line_done(p, f, start,
			      peer_line_trim(start, (size_t)(nl - start)));
}

static int peer_step_name(struct peer_parser *p, struct peer_feed *f)
{
	while (f->pos < f->len) {
		unsigned char b = (unsigned char)f->data[f->pos];
		int rc = PEER_OK;

		switch (p->state) {
		case ST_START:
		case ST_NAME:
			rc = peer_name_step(p, b);
			break;
		case ST_NEED_BLANK:
			if (!peer_is_blank(b))
				return PEER_ERR_UNKNOWN_OP;
			p->state = ST_SKIP_BLANK;
			break;
		case ST_SKIP_BLANK:
			if (!peer_is_blank(b))
				return peer_line_begin(p, f);
			break;
		default:
			return PEER_OK;
		}
		if (rc != PEER_OK)
			return rc;
		f->pos++;
	}
	return PEER_OK;
}

/* Continues a line held in scratch (it has at least its first byte). */
static int peer_step_arg(struct peer_parser *p, struct peer_feed *f)
{
	const char *src = f->data + f->pos;
	size_t avail = f->len - f->pos;
	const char *nl = memchr(src, '\n', avail);
	int rc;

	if (nl == NULL) {
		f->pos = f->len;
		return peer_arg_stash(p, src, avail);
	}
	size_t n = (size_t)(nl - src);
	if (n > 0) {
		rc = peer_arg_stash(p, src, n);
		if (rc != PEER_OK)
			return rc;
	}
	f->pos += n + 1;
	return peer_line_done(p, f, p->scratch,
			      peer_line_trim(p->scratch, p->scratch_len));
}

static int peer_step_ignore(struct peer_parser *p, struct peer_feed *f)
{
	static const enum peer_op ops[NM_COUNT] = {
		[NM_PING] = PEER_OP_PING, [NM_PONG] = PEER_OP_PONG,
		[NM_OK] = PEER_OP_OK,
	};
	const char *src = f->data + f->pos;
	const char *nl = memchr(src, '\n', f->len - f->pos);
	struct peer_msg m;

	if (nl == NULL) {
		f->pos = f->len;
		return PEER_OK;
	}
	f->pos += (size_t)(nl - src) + 1;
	p->state = ST_START;
	ASSERT(ops[p->name] != 0);
	peer_msg_clear(&m, ops[p->name]);
	return peer_emit(f, &m);
}

/* The parked message is complete: read its line again, from scratch. */
static int peer_payload_done(struct peer_parser *p, struct peer_feed *f)
{
	struct peer_msg m;
	int rc = peer_args_parse(p->role, p->name, &m, p->scratch, p->line_len);

	ASSERT(rc == PEER_OK && m.total_len == p->payload_total);
	m.payload = p->scratch + p->line_len;
	p->state = ST_START;
	rc = peer_emit(f, &m);
	peer_scratch_done(p);
	return rc;
}

static int peer_step_payload(struct peer_parser *p, struct peer_feed *f)
{
	const char *src = f->data + f->pos;
	size_t n = MIN(f->len - f->pos, p->payload_need);
	size_t total = p->payload_total;
	size_t got = total + 2 - p->payload_need;
	int rc = peer_crlf_check(src, n, got, total);

	if (rc != PEER_OK)
		return rc;
	rc = peer_scratch_reserve(p, p->scratch_len + n, p->line_len + total + 2);
	if (rc != PEER_OK)
		return rc;
	memcpy(p->scratch + p->scratch_len, src, n);
	p->scratch_len += n;
	f->pos += n;
	p->payload_need -= n;
	if (p->payload_need > 0)
		return PEER_OK;
	return peer_payload_done(p, f);
}

static int peer_step(struct peer_parser *p, struct peer_feed *f)
{
	switch (p->state) {
	case ST_START:
	case ST_NAME:
	case ST_NEED_BLANK:
	case ST_SKIP_BLANK:
		return peer_step_name(p, f);
	case ST_ARG:
		return peer_step_arg(p, f);
	case ST_IGNORE:
		return peer_step_ignore(p, f);
	case ST_PAYLOAD:
		return peer_step_payload(p, f);
	default:
		ASSERT(!"bad parser state");
	}
	return PEER_ERR_PARSE;
}

long peer_parse(struct peer_parser *p, const char *data, size_t len,
		peer_msg_cb cb, void *arg, size_t *consumed)
{
	struct peer_feed f = { data, len, 0, cb, arg };
	int rc = PEER_OK;

	ASSERT(p != NULL && cb != NULL && (data != NULL || len == 0));
	if (p->error != PEER_OK) {
		if (consumed != NULL)
			*consumed = 0;
		return p->error;
	}
	while (f.pos < f.len && rc == PEER_OK)
		rc = peer_step(p, &f);
	if (consumed != NULL)
		*consumed = f.pos;
	if (rc == PEER_OK)
		return (long)len;
	if (rc != PEER_STOPPED)
		p->error = rc;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Encoders                                                            */

/* Output cursor: writes stop at end and mark the line as not fitting. */
struct peer_out {
	char *p;
	char *end;
	bool full;
};

static void peer_put(struct peer_out *o, const char *s, size_t n)
{
	if (o->full || (size_t)(o->end - o->p) < n) {
		o->full = true;
		return;
	}
	if (n > 0)
		memcpy(o->p, s, n);
	o->p += n;
}

static void peer_put_u64(struct peer_out *o, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	peer_put(o, tmp + i, sizeof(tmp) - i);
}

/* " <s>", or nothing when s is empty. */
static void peer_put_opt(struct peer_out *o, struct peer_slice s)
{
	if (s.len == 0)
		return;
	peer_put(o, " ", 1);
	peer_put(o, s.ptr, s.len);
}

static size_t peer_out_end(struct peer_out *o, char *start)
{
	peer_put(o, "\r\n", 2);
	return o->full ? 0 : (size_t)(o->p - start);
}

/* Route lines carry the account (and maybe the origin) first. */
static void peer_put_prefix(struct peer_out *o, enum peer_role role,
			    const struct peer_msg *m, bool with_origin)
{
	if (role != PEER_ROUTE)
		return;
	if (with_origin)
		peer_put_opt(o, m->origin);
	peer_put_opt(o, m->account);
}

static size_t peer_encode_sub(struct peer_out *o, char *out,
			      enum peer_role role, const struct peer_msg *m)
{
	bool origin = role == PEER_ROUTE && m->origin.len > 0;

	ASSERT(m->queue.len == 0 || m->weight >= 0);
	peer_put(o, role == PEER_ROUTE && !origin ? "RS+" : "LS+", 3);
	peer_put_prefix(o, role, m, true);
	peer_put_opt(o, m->subject);
	if (m->queue.len > 0) {
		peer_put_opt(o, m->queue);
		peer_put(o, " ", 1);
		peer_put_u64(o, (uint64_t)m->weight);
	}
	return peer_out_end(o, out);
}

static size_t peer_encode_unsub(struct peer_out *o, char *out,
				enum peer_role role, const struct peer_msg *m)
{
	peer_put(o, role == PEER_ROUTE ? "RS-" : "LS-", 3);
	peer_put_prefix(o, role, m, false);
	peer_put_opt(o, m->subject);
	peer_put_opt(o, m->queue);
	return peer_out_end(o, out);
}

/* "[<reply>]" or "+ <reply> <queues>" or "| <queues>". */
static void peer_put_tail(struct peer_out *o, const struct peer_msg *m)
{
	struct peer_slice it = m->queues;
	struct peer_slice q;

	if (m->queue_count == 0) {
		peer_put_opt(o, m->reply);
		return;
	}
	peer_put(o, m->reply.len > 0 ? " +" : " |", 2);
	peer_put_opt(o, m->reply);
	while (peer_queues_next(&it, &q))
		peer_put_opt(o, q);
}

static size_t peer_encode_msg(struct peer_out *o, char *out,
			      enum peer_role role, const struct peer_msg *m)
{
	bool origin = role == PEER_ROUTE && m->origin.len > 0;
	bool headers = m->has_headers || origin;

	ASSERT(m->header_len <= m->total_len);
	ASSERT(headers || m->header_len == 0);
	if (origin)
		peer_put(o, "LMSG", 4);
	else if (headers)
		peer_put(o, "HMSG", 4);
	else
		peer_put(o, role == PEER_ROUTE ? "RMSG" : "LMSG", 4);
	peer_put_prefix(o, role, m, true);
	peer_put_opt(o, m->subject);
	peer_put_tail(o, m);
	if (headers) {
		peer_put(o, " ", 1);
		peer_put_u64(o, m->header_len);
	}
	peer_put(o, " ", 1);
	peer_put_u64(o, m->total_len);
	return peer_out_end(o, out);
}

static size_t peer_encode_pub(struct peer_out *o, char *out,
			      const struct peer_msg *m)
{
	ASSERT(m->header_len <= m->total_len);
	if (m->has_headers)
		peer_put(o, "HPUB", 4);
	else
		peer_put(o, "PUB", 3);
	peer_put_opt(o, m->subject);
	peer_put_opt(o, m->reply);
	if (m->has_headers) {
		peer_put(o, " ", 1);
		peer_put_u64(o, m->header_len);
	}
	peer_put(o, " ", 1);
	peer_put_u64(o, m->total_len);
	return peer_out_end(o, out);
}

/* "<word> <text><suffix>". */
static size_t peer_encode_text(struct peer_out *o, char *out, const char *word,
			       struct peer_slice text, const char *suffix)
{
	peer_put(o, word, strlen(word));
	peer_put(o, " ", 1);
	peer_put(o, text.ptr, text.len);
	peer_put(o, suffix, strlen(suffix));
	return peer_out_end(o, out);
}

size_t peer_encode_line(char *out, size_t cap, enum peer_role role,
			const struct peer_msg *m)
{
	struct peer_out o = { out, out + cap, false };

	ASSERT(out != NULL || cap == 0);
	switch (m->op) {
	case PEER_OP_CONNECT:
		return peer_encode_text(&o, out, "CONNECT", m->arg, "");
	case PEER_OP_INFO:
		return peer_encode_text(&o, out, "INFO", m->arg, " ");
	case PEER_OP_PING:
		peer_put(&o, "PING", 4);
		return peer_out_end(&o, out);
	case PEER_OP_PONG:
		peer_put(&o, "PONG", 4);
		return peer_out_end(&o, out);
	case PEER_OP_OK:
		peer_put(&o, "+OK", 3);
		return peer_out_end(&o, out);
	case PEER_OP_ERR:
		peer_put(&o, "-ERR '", 6);
		peer_put(&o, m->arg.ptr, m->arg.len);
		peer_put(&o, "'", 1);
		return peer_out_end(&o, out);
	case PEER_OP_SUB:
		return peer_encode_sub(&o, out, role, m);
	case PEER_OP_UNSUB:
		return peer_encode_unsub(&o, out, role, m);
	case PEER_OP_MSG:
		return peer_encode_msg(&o, out, role, m);
	case PEER_OP_PUB:
		return peer_encode_pub(&o, out, m);
	case PEER_OP_ACCOUNT_SUB:
		return peer_encode_text(&o, out, "A+", m->account, "");
	case PEER_OP_ACCOUNT_UNSUB:
		return peer_encode_text(&o, out, "A-", m->account, "");
	default:
		ASSERT(!"bad op");
	}
	return 0;
}

size_t peer_encode_sub_line(char *out, size_t cap, enum peer_role role,
			    struct peer_slice account, struct peer_slice subject,
			    struct peer_slice queue, int64_t weight)
{
	struct peer_msg m;

	peer_msg_clear(&m, PEER_OP_SUB);
	m.account = account;
	m.subject = subject;
	m.queue = queue;
	m.weight = weight;
	return peer_encode_line(out, cap, role, &m);
}

size_t peer_encode_unsub_line(char *out, size_t cap, enum peer_role role,
			      struct peer_slice account, struct peer_slice subject,
			      struct peer_slice queue)
{
	struct peer_msg m;

	peer_msg_clear(&m, PEER_OP_UNSUB);
	m.account = account;
	m.subject = subject;
	m.queue = queue;
	return peer_encode_line(out, cap, role, &m);
}

size_t peer_encode_info_line(char *out, size_t cap, const char *json,
			     size_t json_len)
{
	struct peer_msg m;

	peer_msg_clear(&m, PEER_OP_INFO);
	m.arg.ptr = json;
	m.arg.len = json_len;
	return peer_encode_line(out, cap, PEER_LEAF, &m);
}

size_t peer_encode_connect_line(char *out, size_t cap, const char *json,
				size_t json_len)
{
	struct peer_msg m;

	peer_msg_clear(&m, PEER_OP_CONNECT);
	m.arg.ptr = json;
	m.arg.len = json_len;
	return peer_encode_line(out, cap, PEER_LEAF, &m);
}

size_t peer_encode_err_line(char *out, size_t cap, const char *text,
			    size_t text_len)
{
	struct peer_msg m;

	peer_msg_clear(&m, PEER_OP_ERR);
	m.arg.ptr = text;
	m.arg.len = text_len;
	return peer_encode_line(out, cap, PEER_LEAF, &m);
}
