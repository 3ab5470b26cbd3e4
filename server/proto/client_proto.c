/*
 * client_proto.c - sans-IO parser and line encoders for the NATS client
 * protocol (see client_proto.h for the contract).
 *
 * Owns the parser's scratch buffer.  Invariants:
 *  - a complete control line, and a payload with its CRLF, that lie whole in
 *    the caller's bytes are handed out in place: no copy, no allocation;
 *  - only the part of an op that crosses a feed boundary is copied, into
 *    scratch: the argument part of a line (never more than the line limit
 *    plus one byte), or the line then header+payload+CRLF of a PUB/HPUB/
 *    MSG/HMSG, sized once from the announced size after it passed
 *    max_payload;
 *  - the callbacks and the final error do not depend on how the stream was
 *    split, because every decision is made on whole lines or on single
 *    bytes whose position in the op is known;
 *  - a whole PUB/HPUB in one feed takes a shortcut (cp_fast_pub) that
 *    declines, untouched, whatever it does not fully understand, so the
 *    state machine still makes every other decision, errors included.
 *
 * What nats-server 2.9.10 does, read from parser.go and client.go and
 * checked on the wire against /usr/sbin/nats-server:
 *  - op names are matched byte by byte, case-insensitively; a byte that
 *    cannot continue any op name is 'Unknown Protocol Operation' at once.
 *    So are "\r\n" (empty line), " PING" (leading blank), "PIN\r\n",
 *    "CONNEC\r\n", "PUBX", "UNSUB\r\n" and "-ERR\r\n" (no blank after the
 *    op), and R/A/L/M as first byte on a client connection.
 *  - PUB/HPUB/SUB/UNSUB/-ERR need one blank (space or tab) after the name,
 *    CONNECT/INFO none ("CONNECT{}" works); further blanks are skipped.  The
 *    first byte after the blanks starts the argument part even when it is
 *    '\r' or '\n': "CONNECT\r\n" yields the argument "\r" (bad JSON, silent
 *    close) and "PUB \nfoo 1\r\n" publishes to the subject "\nfoo".
 *  - the line ends at the next '\n'; a '\r' right before it is dropped.
 *    (The reference also drops bytes in odd ways when a '\r' sits inside a
 *    line, differently for split and unsplit reads; here an inner '\r' is
 *    kept as an ordinary byte.)
 *  - PING, PONG and +OK ignore everything up to '\n': "PINGX" and
 *    "PING foo" both answer PONG.
 *  - PUB/HPUB split their arguments on space and tab only; SUB/UNSUB (and
 *    the clients' MSG/HMSG) also on '\r' and '\n'.  Wrong argument counts
 *    ("PUB foo bar baz 5", "SUB foo", "UNSUB 1 2 3", "PUB \r\n") close
 *    without -ERR.
 *  - sizes are 1 to 9 decimal digits, nothing else: "-1", "+5",
 *    "0000000005" and "99999999999" close without -ERR.
 *  - order of checks: arg count, sizes (HPUB: header size, total size,
 *    header > total), then max_payload (size > limit, so equal is fine) ->
 *    'Maximum Payload Violation' before any payload byte is read.  HPUB on a
 *    connection without headers closes silently before any of these.
 *  - UNSUB's max is parsed like a size but never rejected: "UNSUB 1 abc"
 *    is UNSUB with max -1 (remove now).
 *  - the payload must be followed by exactly "\r\n"; each of these two
 *    bytes is checked as it arrives ("PUB foo 1\r\nxy" fails at 'y').
 *  - max_control_line counts the argument part only (op name, blanks
 *    after it and CRLF excluded): 4096 bytes pass, 4097 fail, also when the
 *    line has not ended yet (a partial "PUB " + 4097 bytes fails at once).
 *    Lines of PING/PONG/+OK are not limited (nothing is stored).
 *  - -ERR from a client: logged, connection closed, no reply.
 *  - MSG from a client fails at 'M'; HMSG is not rejected by the reference
 *    (it is taken as a zero-length message, then fails on the next byte
 *    unless that is CRLF); here HMSG on the server role fails at 'M' too.
 */
#include "client_proto.h"

#include <string.h>

#include "../lib/assert.h"

/* Hard bound on a control line when no max_control_line applies (client
 * role, or a server configured without limit): a peer cannot make the
 * scratch buffer grow beyond it. */
#define CP_LINE_MAX ((size_t)1 << 20)
/* A scratch buffer larger than this is released after its op, so a burst
 * of big split payloads does not pin memory on an idle connection. */
#define CP_SCRATCH_KEEP ((size_t)64 << 10)
#define CP_SCRATCH_MIN ((size_t)256)
/* parseSize in the reference accepts at most 9 digits. */
#define CP_SIZE_DIGITS_MAX 9

enum cp_state {
	ST_START = 0,   /* the next byte begins an op name */
	ST_NAME,        /* inside an op name: op, name_pos */
	ST_NEED_BLANK,  /* op name read, a space or tab must follow */
	ST_SKIP_BLANK,  /* blanks before the argument part */
	ST_ARG,         /* argument part continues past a feed, in scratch */
	ST_IGNORE,      /* rest of a PING/PONG/+OK line */
	ST_PAYLOAD,     /* payload continues past a feed, in scratch */
};

enum cp_after {
	AFTER_BLANK,      /* a blank must follow the name */
	AFTER_OPT_BLANK,  /* the argument may follow the name directly */
	AFTER_IGNORE,     /* the rest of the line is ignored */
};

#define ROLE_S (1u << CP_ROLE_SERVER)
#define ROLE_C (1u << CP_ROLE_CLIENT)

struct cp_op_def {
	char name[8];       /* upper case */
	unsigned char len;
	unsigned char after;  /* enum cp_after */
	unsigned char roles;  /* ROLE_S / ROLE_C: who may receive it */
};

static const struct cp_op_def cp_ops[] = {
	[CP_OP_CONNECT] = { "CONNECT", 7, AFTER_OPT_BLANK, ROLE_S },
	[CP_OP_INFO] = { "INFO", 4, AFTER_OPT_BLANK, ROLE_S | ROLE_C },
	[CP_OP_PUB] = { "PUB", 3, AFTER_BLANK, ROLE_S },
	[CP_OP_HPUB] = { "HPUB", 4, AFTER_BLANK, ROLE_S },
	[CP_OP_SUB] = { "SUB", 3, AFTER_BLANK, ROLE_S },
	[CP_OP_UNSUB] = { "UNSUB", 5, AFTER_BLANK, ROLE_S },
	[CP_OP_PING] = { "PING", 4, AFTER_IGNORE, ROLE_S | ROLE_C },
	[CP_OP_PONG] = { "PONG", 4, AFTER_IGNORE, ROLE_S | ROLE_C },
	[CP_OP_OK] = { "+OK", 3, AFTER_IGNORE, ROLE_S | ROLE_C },
	[CP_OP_ERR] = { "-ERR", 4, AFTER_BLANK, ROLE_S | ROLE_C },
	[CP_OP_MSG] = { "MSG", 3, AFTER_BLANK, ROLE_C },
	[CP_OP_HMSG] = { "HMSG", 4, AFTER_BLANK, ROLE_C },
};

/* The bytes of one cp_parse call and where we are in them. */
struct cp_feed {
	const char *data;
	size_t len;
	size_t pos;
	cp_msg_cb cb;
	void *cb_arg;
};

void cp_parser_init(struct cp_parser *p, struct mem *mem, enum cp_role role)
{
	ASSERT(p != NULL && mem != NULL);
	ASSERT(role == CP_ROLE_SERVER || role == CP_ROLE_CLIENT);
	memset(p, 0, sizeof(*p));
	p->role = role;
	p->mem = mem;
	if (role == CP_ROLE_SERVER) {
		p->max_control_line = 4096;
		p->max_payload = 1048576;
	} else {
		p->max_control_line = 0;
		p->max_payload = -1;
	}
	p->headers_ok = true;
	p->state = ST_START;
}

void cp_parser_free(struct cp_parser *p)
{
	mem_free(p->mem, p->scratch);
	p->scratch = NULL;
	p->scratch_len = 0;
	p->scratch_cap = 0;
}

void cp_parser_reset(struct cp_parser *p)
{
	if (p->scratch_cap > CP_SCRATCH_KEEP)
		cp_parser_free(p);
	p->scratch_len = 0;
	p->state = ST_START;
	p->error = CP_OK;
	memset(&p->pending, 0, sizeof(p->pending));
	p->payload_need = 0;
	p->payload_off = 0;
	p->op = 0;
	p->name_pos = 0;
}

void cp_parser_set_headers(struct cp_parser *p, bool enabled)
{
	p->headers_ok = enabled;
}

const char *cp_err_text(int err)
{
	switch (err) {
	case CP_ERR_UNKNOWN_OP:
		return "Unknown Protocol Operation";
	case CP_ERR_MAX_CONTROL_LINE:
		return "maximum control line exceeded";
	case CP_ERR_MAX_PAYLOAD:
		return "Maximum Payload Violation";
	default:
		return NULL;
	}
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static inline int cp_upper(unsigned char b)
{
	return (b >= 'a' && b <= 'z') ? b - ('a' - 'A') : b;
}

static inline bool cp_is_blank(unsigned char b)
{
	return b == ' ' || b == '\t';
}

static bool cp_role_allows(const struct cp_parser *p, int op)
{
	return (cp_ops[op].roles & (1u << p->role)) != 0;
}

static bool cp_op_has_payload(int op)
{
	return op == CP_OP_PUB || op == CP_OP_HPUB || op == CP_OP_MSG ||
	       op == CP_OP_HMSG;
}

/* The longest argument part accepted, see CP_LINE_MAX. */
static size_t cp_line_limit(const struct cp_parser *p)
{
	if (p->role == CP_ROLE_SERVER && p->max_control_line > 0)
		return p->max_control_line;
	return CP_LINE_MAX;
}

/* Length of a line without the '\r' that preceded its '\n'.  The first
 * byte of the argument part is never dropped (the reference keeps it). */
static size_t cp_line_trim(const char *line, size_t n)
{
	if (n >= 2 && line[n - 1] == '\r')
		return n - 1;
	return n;
}

/* Decimal size as the reference reads it: 1 to 9 digits, else -1. */
static int64_t cp_parse_size(struct cp_slice s)
{
	if (s.len == 0 || s.len > CP_SIZE_DIGITS_MAX)
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

/* Argument separators: PUB/HPUB split on blanks only, the others on
 * blanks, CR and LF.  A table keeps the splitting loop branch-light. */
#define SEP_BLANK 1
#define SEP_CRLF 2
static const unsigned char cp_sep_class[256] = {
	[' '] = SEP_BLANK, ['\t'] = SEP_BLANK,
	['\r'] = SEP_CRLF, ['\n'] = SEP_CRLF,
};

/* Splits s into tokens; stores the first max and returns how many there
 * are, stopping at max + 1 (enough to tell "too many"). */
static size_t cp_split(const char *s, size_t n, bool crlf,
		       struct cp_slice *tok, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned char mask = crlf ? SEP_BLANK | SEP_CRLF : SEP_BLANK;
	size_t count = 0;
	size_t i = 0;

	while (i < n && count <= max) {
		while (i < n && (cp_sep_class[u[i]] & mask))
			i++;
		if (i == n)
			break;
		size_t start = i;
		while (i < n && !(cp_sep_class[u[i]] & mask))
			i++;
		if (count < max) {
			tok[count].ptr = s + start;
			tok[count].len = i - start;
		}
		count++;
	}
	return count;
}

/* ------------------------------------------------------------------ */
/* Scratch buffer                                                      */

/* Makes room for size bytes, keeping the content.  Lines grow
 * geometrically up to their limit; payloads ask for their exact size. */
static int cp_scratch_reserve(struct cp_parser *p, size_t size, size_t max)
{
	if (size <= p->scratch_cap)
		return CP_OK;
	size_t cap = MAX(size, MAX(p->scratch_cap * 2, CP_SCRATCH_MIN));
	cap = MIN(cap, MAX(max, size));
	char *s = mem_realloc(p->mem, p->scratch, cap);
	if (s == NULL)
		return CP_ERR_NOMEM;
	p->scratch = s;
	p->scratch_cap = cap;
	return CP_OK;
}

/* The op held in scratch is delivered: forget it, and give back a big
 * buffer. */
static void cp_scratch_done(struct cp_parser *p)
{
	p->scratch_len = 0;
	p->payload_off = 0;
	if (p->scratch_cap > CP_SCRATCH_KEEP)
		cp_parser_free(p);
}

/* Appends n (>= 1) bytes of a line that has not ended yet.  Checks the
 * line limit on what has arrived, as the reference does, so a peer cannot
 * grow the buffer: the arrived part without a trailing '\r' (which may
 * turn out to be the dropped one) can only get longer. */
static int cp_arg_stash(struct cp_parser *p, const char *src, size_t n)
{
	size_t limit = cp_line_limit(p);
	size_t total = p->scratch_len + n;
	size_t effective = total;

	ASSERT(n >= 1);
	if (total >= 2 && src[n - 1] == '\r')
		effective--;
	if (effective > limit)
		return CP_ERR_MAX_CONTROL_LINE;
	int rc = cp_scratch_reserve(p, total, limit + 1);
	if (rc != CP_OK)
		return rc;
	memcpy(p->scratch + p->scratch_len, src, n);
	p->scratch_len = total;
	return CP_OK;
}

/* ------------------------------------------------------------------ */
/* Arguments of each op                                                */

static int cp_check_payload(const struct cp_parser *p, int64_t size)
{
	if (p->max_payload >= 0 && size > p->max_payload)
		return CP_ERR_MAX_PAYLOAD;
	return CP_OK;
}

/* Header and total sizes of HPUB/HMSG, in the reference's order. */
static int cp_args_sizes(const struct cp_parser *p, struct cp_msg *m,
			 struct cp_slice hdr, struct cp_slice total)
{
	int64_t h = cp_parse_size(hdr);
	int64_t t = cp_parse_size(total);

	if (h < 0 || t < 0 || h > t)
		return CP_ERR_PARSE;
	m->header_len = (size_t)h;
	m->total_len = (size_t)t;
	return cp_check_payload(p, t);
}

static int cp_args_pub(const struct cp_parser *p, struct cp_msg *m,
		       const char *s, size_t n)
{
	struct cp_slice t[3];
	size_t c = cp_split(s, n, false, t, 3);

	if (c != 2 && c != 3)
		return CP_ERR_PARSE;
	m->subject = t[0];
	if (c == 3)
		m->reply = t[1];
	int64_t size = cp_parse_size(t[c - 1]);
	if (size < 0)
		return CP_ERR_PARSE;
	m->total_len = (size_t)size;
	return cp_check_payload(p, size);
}

static int cp_args_hpub(const struct cp_parser *p, struct cp_msg *m,
			const char *s, size_t n)
{
	struct cp_slice t[4];

	if (!p->headers_ok)
		return CP_ERR_PARSE;
	size_t c = cp_split(s, n, false, t, 4);
	if (c != 3 && c != 4)
		return CP_ERR_PARSE;
	m->subject = t[0];
	if (c == 4)
		m->reply = t[1];
	return cp_args_sizes(p, m, t[c - 2], t[c - 1]);
}

static int cp_args_sub(struct cp_msg *m, const char *s, size_t n)
{
	struct cp_slice t[3];
	size_t c = cp_split(s, n, true, t, 3);

	if (c != 2 && c != 3)
		return CP_ERR_PARSE;
	m->subject = t[0];
	if (c == 3)
		m->queue = t[1];
	m->sid = t[c - 1];
	return CP_OK;
}

static int cp_args_unsub(struct cp_msg *m, const char *s, size_t n)
{
	struct cp_slice t[2];
	size_t c = cp_split(s, n, true, t, 2);

	if (c != 1 && c != 2)
		return CP_ERR_PARSE;
	m->sid = t[0];
	if (c == 2)
		m->max_msgs = cp_parse_size(t[1]);
	return CP_OK;
}

static int cp_args_msg(const struct cp_parser *p, struct cp_msg *m,
		       const char *s, size_t n)
{
	struct cp_slice t[4];
	size_t c = cp_split(s, n, true, t, 4);

	if (c != 3 && c != 4)
		return CP_ERR_PARSE;
	m->subject = t[0];
	m->sid = t[1];
	if (c == 4)
		m->reply = t[2];
	int64_t size = cp_parse_size(t[c - 1]);
	if (size < 0)
		return CP_ERR_PARSE;
	m->total_len = (size_t)size;
	return cp_check_payload(p, size);
}

static int cp_args_hmsg(const struct cp_parser *p, struct cp_msg *m,
			const char *s, size_t n)
{
	struct cp_slice t[5];
	size_t c = cp_split(s, n, true, t, 5);

	if (c != 4 && c != 5)
		return CP_ERR_PARSE;
	m->subject = t[0];
	m->sid = t[1];
	if (c == 5)
		m->reply = t[2];
	return cp_args_sizes(p, m, t[c - 2], t[c - 1]);
}

/* -ERR text without trailing blanks and without its single quotes. */
static struct cp_slice cp_err_unquote(const char *s, size_t n)
{
	struct cp_slice r = { s, n };

	while (r.len > 0 && cp_is_blank((unsigned char)r.ptr[r.len - 1]))
		r.len--;
	if (r.len >= 2 && r.ptr[0] == '\'' && r.ptr[r.len - 1] == '\'') {
		r.ptr++;
		r.len -= 2;
	}
	return r;
}

static int cp_args_parse(const struct cp_parser *p, struct cp_msg *m,
			 const char *s, size_t n)
{
	m->arg.ptr = s;
	m->arg.len = n;
	switch (m->op) {
	case CP_OP_PUB:
		return cp_args_pub(p, m, s, n);
	case CP_OP_HPUB:
		return cp_args_hpub(p, m, s, n);
	case CP_OP_SUB:
		return cp_args_sub(m, s, n);
	case CP_OP_UNSUB:
		return cp_args_unsub(m, s, n);
	case CP_OP_MSG:
		return cp_args_msg(p, m, s, n);
	case CP_OP_HMSG:
		return cp_args_hmsg(p, m, s, n);
	case CP_OP_ERR:
		m->arg = cp_err_unquote(s, n);
		return CP_OK;
	case CP_OP_CONNECT:
	case CP_OP_INFO:
		return CP_OK;
	default:
		ASSERT(!"op without argument part");
	}
	return CP_ERR_PARSE;
}

/* ------------------------------------------------------------------ */
/* Delivering ops                                                      */

static void cp_msg_clear(struct cp_msg *m, int op)
{
	memset(m, 0, sizeof(*m));
	m->op = (enum cp_op)op;
	m->max_msgs = -1;
}

static int cp_emit(struct cp_feed *f, const struct cp_msg *m)
{
	return f->cb(f->cb_arg, m) != 0 ? CP_STOPPED : CP_OK;
}

/* Checks the CRLF after a payload of total bytes, for the chunk src[0..n)
 * that holds bytes [got, got + n) of payload + CRLF. */
static int cp_crlf_check(const char *src, size_t n, size_t got, size_t total)
{
	if (total >= got && total < got + n && src[total - got] != '\r')
		return CP_ERR_UNKNOWN_OP;
	if (total + 1 >= got && total + 1 < got + n &&
	    src[total + 1 - got] != '\n')
		return CP_ERR_UNKNOWN_OP;
	return CP_OK;
}

/* Keeps an op whose payload continues in a later feed: its line (n bytes
 * at line, which may already be scratch) moves to the start of scratch,
 * followed by room for need bytes of payload + CRLF. */
static int cp_park(struct cp_parser *p, const struct cp_msg *m,
		   const char *line, size_t n, size_t need)
{
	bool in_scratch = p->scratch != NULL && line == p->scratch;
	struct cp_msg k = *m;
	struct cp_slice *sl[] = { &k.subject, &k.reply, &k.queue, &k.sid,
				  &k.arg };
	size_t off[ARRAY_LEN(sl)];

	ASSERT(in_scratch || p->scratch_len == 0);
	/* Offsets first: a realloc may move the line if it is in scratch. */
	for (size_t i = 0; i < ARRAY_LEN(sl); i++)
		off[i] = sl[i]->len > 0 ? (size_t)(sl[i]->ptr - line) : 0;
	int rc = cp_scratch_reserve(p, n + need, n + need);
	if (rc != CP_OK)
		return rc;
	if (!in_scratch)
		memcpy(p->scratch, line, n);
	for (size_t i = 0; i < ARRAY_LEN(sl); i++)
		sl[i]->ptr = sl[i]->len > 0 ? p->scratch + off[i] : NULL;
	p->pending = k;
	p->scratch_len = n;
	p->payload_off = n;
	return CP_OK;
}

/* The control line of a PUB/HPUB/MSG/HMSG is done and f->pos is just
 * after it: deliver in place if the payload is all there, else park. */
static int cp_payload_begin(struct cp_parser *p, struct cp_feed *f,
			    struct cp_msg *m, const char *line, size_t n)
{
	size_t need = m->total_len + 2;
	size_t avail = f->len - f->pos;
	const char *src = f->data + f->pos;
	int rc;

	if (avail >= need) {
		rc = cp_crlf_check(src, need, 0, m->total_len);
		if (rc != CP_OK)
			return rc;
		m->payload = src;
		f->pos += need;
		rc = cp_emit(f, m);
		cp_scratch_done(p);
		return rc;
	}
	rc = cp_crlf_check(src, avail, 0, m->total_len);
	if (rc == CP_OK)
		rc = cp_park(p, m, line, n, need);
	if (rc != CP_OK)
		return rc;
	memcpy(p->scratch + p->payload_off, src, avail);
	p->payload_need = need - avail;
	f->pos = f->len;
	p->state = ST_PAYLOAD;
	return CP_OK;
}

/* A whole control line of the current op: n argument bytes at line (in
 * the caller's bytes or in scratch); f->pos is just after its '\n'. */
static int cp_line_done(struct cp_parser *p, struct cp_feed *f,
			const char *line, size_t n)
{
	struct cp_msg m;
	int rc;

	if (n > cp_line_limit(p))
		return CP_ERR_MAX_CONTROL_LINE;
	cp_msg_clear(&m, p->op);
	rc = cp_args_parse(p, &m, line, n);
	if (rc != CP_OK)
		return rc;
	p->state = ST_START;
	if (cp_op_has_payload(p->op))
		return cp_payload_begin(p, f, &m, line, n);
	rc = cp_emit(f, &m);
	cp_scratch_done(p);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The state machine                                                   */

static int cp_name_first(struct cp_parser *p, unsigned char b)
{
	int op;

	switch (cp_upper(b)) {
	case 'P':
		op = CP_OP_PUB;  /* or PING/PONG: the next byte decides */
		break;
	case 'H':
		op = CP_OP_HPUB; /* or HMSG */
		break;
	case 'S':
		op = CP_OP_SUB;
		break;
	case 'U':
		op = CP_OP_UNSUB;
		break;
	case 'C':
		op = CP_OP_CONNECT;
		break;
	case 'I':
		op = CP_OP_INFO;
		break;
	case 'M':
		op = CP_OP_MSG;
		break;
	case '+':
		op = CP_OP_OK;
		break;
	case '-':
		op = CP_OP_ERR;
		break;
	default:
		return CP_ERR_UNKNOWN_OP;
	}
	if (op != CP_OP_PUB && op != CP_OP_HPUB && !cp_role_allows(p, op))
		return CP_ERR_UNKNOWN_OP;
	p->op = op;
	p->name_pos = 1;
	p->state = ST_NAME;
	return CP_OK;
}

static int cp_name_next(struct cp_parser *p, unsigned char b)
{
	int c = cp_upper(b);

	if (p->name_pos == 1) {
		if (p->op == CP_OP_PUB && c == 'I')
			p->op = CP_OP_PING;
		else if (p->op == CP_OP_PUB && c == 'O')
			p->op = CP_OP_PONG;
		else if (p->op == CP_OP_HPUB && c == 'M')
			p->op = CP_OP_HMSG;
	}
	const struct cp_op_def *d = &cp_ops[p->op];
	if (c != (unsigned char)d->name[p->name_pos])
		return CP_ERR_UNKNOWN_OP;
	if (p->name_pos == 1 && !cp_role_allows(p, p->op))
		return CP_ERR_UNKNOWN_OP;
	if (++p->name_pos < d->len)
		return CP_OK;
	if (d->after == AFTER_BLANK)
		p->state = ST_NEED_BLANK;
	else if (d->after == AFTER_OPT_BLANK)
		p->state = ST_SKIP_BLANK;
	else
		p->state = ST_IGNORE;
	return CP_OK;
}

/* The argument part starts at f->pos: take the line in place if its '\n'
 * is in this feed, else start collecting it in scratch. */
static int cp_line_begin(struct cp_parser *p, struct cp_feed *f)
{
	const char *start = f->data + f->pos;
	size_t avail = f->len - f->pos;
	/* The first byte belongs to the argument even if it is a '\n'. */
	const char *nl = avail > 1 ? memchr(start + 1, '\n', avail - 1) : NULL;

	if (nl == NULL) {
		f->pos = f->len;
		p->state = ST_ARG;
		return cp_arg_stash(p, start, avail);
	}
	f->pos = (size_t)(nl - f->data) + 1;
	return cp_line_done(p, f, start, cp_line_trim(start, (size_t)(nl - start)));
}

static int cp_step_name(struct cp_parser *p, struct cp_feed *f)
{
	while (f->pos < f->len) {
		unsigned char b = (unsigned char)f->data[f->pos];
		int rc = CP_OK;

		switch (p->state) {
		case ST_START:
			rc = cp_name_first(p, b);
			break;
		case ST_NAME:
			rc = cp_name_next(p, b);
			break;
		case ST_NEED_BLANK:
			if (!cp_is_blank(b))
				return CP_ERR_UNKNOWN_OP;
			p->state = ST_SKIP_BLANK;
			break;
		case ST_SKIP_BLANK:
			if (!cp_is_blank(b))
				return cp_line_begin(p, f);
			break;
		default:
			return CP_OK;
		}
		if (rc != CP_OK)
			return rc;
		f->pos++;
	}
	return CP_OK;
}

/* Continues a line held in scratch (it has at least its first byte). */
static int cp_step_arg(struct cp_parser *p, struct cp_feed *f)
{
	const char *src = f->data + f->pos;
	size_t avail = f->len - f->pos;
	const char *nl = memchr(src, '\n', avail);
	int rc;

	if (nl == NULL) {
		f->pos = f->len;
		return cp_arg_stash(p, src, avail);
	}
	size_t n = (size_t)(nl - src);
	if (n > 0) {
		rc = cp_arg_stash(p, src, n);
		if (rc != CP_OK)
			return rc;
	}
	f->pos += n + 1;
	return cp_line_done(p, f, p->scratch,
			    cp_line_trim(p->scratch, p->scratch_len));
}

static int cp_step_ignore(struct cp_parser *p, struct cp_feed *f)
{
	const char *src = f->data + f->pos;
	const char *nl = memchr(src, '\n', f->len - f->pos);
	struct cp_msg m;

	if (nl == NULL) {
		f->pos = f->len;
		return CP_OK;
	}
	f->pos += (size_t)(nl - src) + 1;
	p->state = ST_START;
	cp_msg_clear(&m, p->op);
	return cp_emit(f, &m);
}

static int cp_step_payload(struct cp_parser *p, struct cp_feed *f)
{
	const char *src = f->data + f->pos;
	size_t n = MIN(f->len - f->pos, p->payload_need);
	size_t total = p->pending.total_len;
	size_t got = total + 2 - p->payload_need;
	int rc = cp_crlf_check(src, n, got, total);

	if (rc != CP_OK)
		return rc;
	memcpy(p->scratch + p->payload_off + got, src, n);
	f->pos += n;
	p->payload_need -= n;
	if (p->payload_need > 0)
		return CP_OK;
	p->pending.payload = p->scratch + p->payload_off;
	p->state = ST_START;
	rc = cp_emit(f, &p->pending);
	cp_scratch_done(p);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The fast path: a whole PUB or HPUB at ST_START                      */

/* cp_fast_pub's answer when it leaves the op to the state machine. */
#define CP_FAST_DECLINED 1

static inline bool cp_is_digit(unsigned char b)
{
	return b >= '0' && b <= '9';
}

/* The size that ends s[0..*end), its digits taken from the end, with the
 * blanks before it skipped; *end moves to the start of its digits.  -1
 * unless it is 1 to 9 digits after a blank (anything else is left to
 * cp_split and cp_parse_size). */
static int64_t cp_fast_size_back(const char *s, size_t *end)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t e = *end;
	int64_t v = 0;
	int64_t place = 1;

	while (e > 0 && cp_is_blank(u[e - 1]))
		e--;
	size_t d = e;
	while (d > 0 && cp_is_digit(u[d - 1]) && e - d < CP_SIZE_DIGITS_MAX) {
		v += (u[d - 1] - '0') * place;
		place *= 10;
		d--;
	}
	if (d == e || d == 0 || !cp_is_blank(u[d - 1]))
		return -1;
	*end = d;
	return v;
}

/* Length of the token at s[0] within s[0..n): up to the first blank. */
static size_t cp_fast_token_len(const char *s, size_t n)
{
	const char *space = memchr(s, ' ', n);
	size_t len = space != NULL ? (size_t)(space - s) : n;
	const char *tab = memchr(s, '\t', len);
	return tab != NULL ? (size_t)(tab - s) : len;
}

/* The arguments of PUB ("<subject> [reply] <size>") or HPUB (two sizes),
 * read as cp_split and cp_args_pub/hpub would, but only in the plain
 * case: false leaves anything else (wrong count, bad sizes, limits) to
 * them.  s[0] is not a blank. */
static bool cp_fast_args(const struct cp_parser *p, struct cp_msg *m,
			 const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t end = n;
	int64_t total = cp_fast_size_back(s, &end);
	int64_t hdr = 0;

	if (total < 0)
		return false;
	if (m->op == CP_OP_HPUB) {
		hdr = cp_fast_size_back(s, &end);
		if (hdr < 0 || hdr > total)
			return false;
	}
	if (p->max_payload >= 0 && total > p->max_payload)
		return false;
	while (cp_is_blank(u[end - 1]))
		end--;
	size_t i = cp_fast_token_len(s, end);
	m->subject = (struct cp_slice){ s, i };
	if (i < end) {
		while (cp_is_blank(u[i]))
			i++;
		if (cp_fast_token_len(s + i, end - i) < end - i)
			return false;
		m->reply = (struct cp_slice){ s + i, end - i };
	}
	m->header_len = (size_t)hdr;
	m->total_len = (size_t)total;
	return true;
}

/* "PUB" or "HPUB", any case, and its blank: the op, or 0. */
static int cp_fast_name(const struct cp_parser *p, const char *s,
			size_t *name_len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t h = (u[0] | 0x20) == 'h';

	if ((u[h] | 0x20) != 'p' || (u[h + 1] | 0x20) != 'u' ||
	    (u[h + 2] | 0x20) != 'b' || !cp_is_blank(u[h + 3]))
		return 0;
	if (h && !p->headers_ok)
		return 0;
	*name_len = h + 4;
	return h ? CP_OP_HPUB : CP_OP_PUB;
}

/* The common case on a server: a PUB or HPUB whose line and payload are
 * both in this feed, read with a few scans instead of byte by byte.  It
 * changes nothing and returns CP_FAST_DECLINED for anything else (a split
 * op, any error), so the state machine decides those as before and the
 * result never depends on which path ran. */
static int cp_fast_pub(struct cp_parser *p, struct cp_feed *f)
{
	const char *s = f->data + f->pos;
	size_t avail = f->len - f->pos;
	size_t i;

	if (avail < 8 || p->role != CP_ROLE_SERVER)
		return CP_FAST_DECLINED;
	int op = cp_fast_name(p, s, &i);
	if (op == 0)
		return CP_FAST_DECLINED;
	while (i < avail && cp_is_blank((unsigned char)s[i]))
		i++;
	if (avail - i < 2)
		return CP_FAST_DECLINED;
	/* As in cp_line_begin: the first byte is the argument's, even '\n'. */
	const char *line = s + i;
	const char *nl = memchr(line + 1, '\n', avail - i - 1);
	if (nl == NULL)
		return CP_FAST_DECLINED;
	size_t n = cp_line_trim(line, (size_t)(nl - line));
	struct cp_msg m = { .op = (enum cp_op)op, .arg = { line, n },
			    .max_msgs = -1 };
	if (n > cp_line_limit(p) || !cp_fast_args(p, &m, line, n))
		return CP_FAST_DECLINED;
	size_t at = (size_t)(nl - s) + 1;
	const char *payload = s + at;
	if (avail - at < m.total_len + 2 || payload[m.total_len] != '\r' ||
	    payload[m.total_len + 1] != '\n')
		return CP_FAST_DECLINED;
	m.payload = payload;
	p->op = op;
	f->pos += at + m.total_len + 2;
	return cp_emit(f, &m);
}

static int cp_step(struct cp_parser *p, struct cp_feed *f)
{
	int rc;

	switch (p->state) {
	case ST_START:
		rc = cp_fast_pub(p, f);
		if (rc != CP_FAST_DECLINED)
			return rc;
		return cp_step_name(p, f);
	case ST_NAME:
	case ST_NEED_BLANK:
	case ST_SKIP_BLANK:
		return cp_step_name(p, f);
	case ST_ARG:
		return cp_step_arg(p, f);
	case ST_IGNORE:
		return cp_step_ignore(p, f);
	case ST_PAYLOAD:
		return cp_step_payload(p, f);
	default:
		ASSERT(!"bad parser state");
	}
	return CP_ERR_PARSE;
}

long cp_parse(struct cp_parser *p, const char *data, size_t len,
	      cp_msg_cb cb, void *arg, size_t *consumed)
{
	struct cp_feed f = { data, len, 0, cb, arg };
	int rc = CP_OK;

	ASSERT(p != NULL && cb != NULL && (data != NULL || len == 0));
	if (p->error != CP_OK) {
		if (consumed != NULL)
			*consumed = 0;
		return p->error;
	}
	while (f.pos < f.len && rc == CP_OK)
		rc = cp_step(p, &f);
	if (consumed != NULL)
		*consumed = f.pos;
	if (rc == CP_OK)
		return (long)len;
	if (rc != CP_STOPPED)
		p->error = rc;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Encoders                                                            */

/* Output cursor: writes stop at end and mark the line as not fitting. */
struct cp_out {
	char *p;
	char *end;
	bool full;
};

static void cp_put(struct cp_out *o, const char *s, size_t n)
{
	if (o->full || (size_t)(o->end - o->p) < n) {
		o->full = true;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
}

static void cp_put_u64(struct cp_out *o, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	cp_put(o, tmp + i, sizeof(tmp) - i);
}

/* " <s>", or nothing when s is empty. */
static void cp_put_opt(struct cp_out *o, const char *s, size_t n)
{
	if (n == 0)
		return;
	cp_put(o, " ", 1);
	cp_put(o, s, n);
}

static size_t cp_out_end(struct cp_out *o, char *start)
{
	cp_put(o, "\r\n", 2);
	return o->full ? 0 : (size_t)(o->p - start);
}

/* " [<header_len>] <total_len>" and the CRLF. */
static size_t cp_put_sizes(struct cp_out *o, char *start, bool has_headers,
			   size_t header_len, size_t total_len)
{
	if (has_headers) {
		cp_put(o, " ", 1);
		cp_put_u64(o, header_len);
	}
	cp_put(o, " ", 1);
	cp_put_u64(o, total_len);
	return cp_out_end(o, start);
}

size_t cp_encode_msg_line(char *out, size_t cap,
			  const char *subject, size_t subject_len,
			  const char *sid, size_t sid_len,
			  const char *reply, size_t reply_len,
			  bool has_headers, size_t header_len, size_t total_len)
{
	struct cp_out o = { out, out + cap, false };

	ASSERT(!has_headers || header_len <= total_len);
	if (has_headers)
		cp_put(&o, "HMSG ", 5);
	else
		cp_put(&o, "MSG ", 4);
	cp_put(&o, subject, subject_len);
	cp_put_opt(&o, sid, sid_len);
	cp_put_opt(&o, reply, reply_len);
	return cp_put_sizes(&o, out, has_headers, header_len, total_len);
}

/* Writes v in decimal at out; returns the end.  Digits are counted first
 * so they go straight to their place, two at a time. */
static char *cp_put_digits(char *out, size_t v)
{
	static const char pairs[] =
		"00010203040506070809101112131415161718192021222324"
		"25262728293031323334353637383940414243444546474849"
		"50515253545556575859606162636465666768697071727374"
		"75767778798081828384858687888990919293949596979899";
	size_t n = 1;

	for (size_t t = v; t >= 10; t /= 10)
		n++;
	char *p = out + n;
	while (v >= 100) {
		p -= 2;
		memcpy(p, pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v >= 10)
		memcpy(p - 2, pairs + 2 * v, 2);
	else
		p[-1] = (char)('0' + v);
	return out + n;
}

/* Written without the checked cursor: the sizes are known up front and
 * this runs once per published message. */
bool cp_msg_parts_render(struct cp_msg_parts *mp,
			 const char *subject, size_t subject_len,
			 const char *reply, size_t reply_len,
			 bool has_headers, size_t header_len, size_t total_len)
{
	/* " <header_len> <total>\r\n" with 20 digits each at most */
	const size_t sizes_max = 2 * (1 + 20) + 2;
	size_t op_len = has_headers ? 5 : 4;

	ASSERT(!has_headers || header_len <= total_len);
	mp->subject = subject;
	mp->subject_len = subject_len;
	mp->has_headers = has_headers;
	mp->rendered = true;
	mp->fits = op_len + subject_len + 1 <= sizeof(mp->head) &&
		   1 + reply_len + sizes_max <= sizeof(mp->tail);
	if (!mp->fits)
		return false;
	memcpy(mp->head, has_headers ? "HMSG " : "MSG  ", 5);
	memcpy(mp->head + op_len, subject, subject_len);
	mp->head[op_len + subject_len] = ' ';
	mp->head_len = (uint16_t)(op_len + subject_len + 1);
	char *t = mp->tail;
	if (reply_len > 0) {
		*t++ = ' ';
		memcpy(t, reply, reply_len);
		t += reply_len;
	}
	if (has_headers) {
		*t++ = ' ';
		t = cp_put_digits(t, header_len);
	}
	*t++ = ' ';
	t = cp_put_digits(t, total_len);
	*t++ = '\r';
	*t++ = '\n';
	mp->tail_len = (uint16_t)(t - mp->tail);
	return true;
}

size_t cp_encode_pub_line(char *out, size_t cap,
			  const char *subject, size_t subject_len,
			  const char *reply, size_t reply_len,
			  bool has_headers, size_t header_len, size_t total_len)
{
	struct cp_out o = { out, out + cap, false };

	ASSERT(!has_headers || header_len <= total_len);
	if (has_headers)
		cp_put(&o, "HPUB ", 5);
	else
		cp_put(&o, "PUB ", 4);
	cp_put(&o, subject, subject_len);
	cp_put_opt(&o, reply, reply_len);
	return cp_put_sizes(&o, out, has_headers, header_len, total_len);
}

size_t cp_encode_sub_line(char *out, size_t cap,
			  const char *subject, size_t subject_len,
			  const char *queue, size_t queue_len,
			  const char *sid, size_t sid_len)
{
	struct cp_out o = { out, out + cap, false };

	cp_put(&o, "SUB ", 4);
	cp_put(&o, subject, subject_len);
	cp_put_opt(&o, queue, queue_len);
	cp_put_opt(&o, sid, sid_len);
	return cp_out_end(&o, out);
}

size_t cp_encode_unsub_line(char *out, size_t cap,
			    const char *sid, size_t sid_len, int64_t max_msgs)
{
	struct cp_out o = { out, out + cap, false };

	cp_put(&o, "UNSUB ", 6);
	cp_put(&o, sid, sid_len);
	if (max_msgs >= 0) {
		cp_put(&o, " ", 1);
		cp_put_u64(&o, (uint64_t)max_msgs);
	}
	return cp_out_end(&o, out);
}

size_t cp_encode_connect_line(char *out, size_t cap,
			      const char *json, size_t json_len)
{
	struct cp_out o = { out, out + cap, false };

	cp_put(&o, "CONNECT ", 8);
	cp_put(&o, json, json_len);
	return cp_out_end(&o, out);
}

size_t cp_encode_info_line(char *out, size_t cap,
			   const char *json, size_t json_len)
{
	struct cp_out o = { out, out + cap, false };

	cp_put(&o, "INFO ", 5);
	cp_put(&o, json, json_len);
	cp_put(&o, " ", 1);
	return cp_out_end(&o, out);
}

size_t cp_encode_err_line(char *out, size_t cap,
			  const char *text, size_t text_len)
{
	struct cp_out o = { out, out + cap, false };

	cp_put(&o, "-ERR '", 6);
	cp_put(&o, text, text_len);
	cp_put(&o, "'", 1);
	return cp_out_end(&o, out);
}
