/*
 * json.c - strict JSON reader (flat token array) and compact JSON writer;
 * see json.h.
 *
 * Reader: json_parse validates the whole document against RFC 8259 in one
 * pass and records every value as a token in one growing array.  Tokens are
 * laid out in document order: a container token is followed by its
 * children (an object by key, value pairs), and tok.next is the index just
 * past the container's subtree, so skipping a value is O(1).  Parsing is
 * iterative with an explicit stack, so nesting never uses the C stack.
 * Invariants after a successful parse: every token lies inside the text,
 * strings hold only validated escapes and no raw byte below 0x20, numbers
 * match the JSON grammar, and for every token i: i < toks[i].next <= ntoks.
 *
 * Strings are decoded on demand with the rules of Go's encoding/json, which
 * is what peers and the reference server expect: invalid UTF-8 bytes and
 * unpaired UTF-16 surrogates each become U+FFFD; nothing is rejected for it.
 *
 * Writer: struct jw emits commas from a bit per nesting level; strings are
 * escaped like Go's encoding/json (HTML-safe).  Numbers from jw_double are
 * formatted like Go's encoder: shortest round-trip digits, plain decimal
 * notation for 1e-6 <= |v| < 1e21 and exponent notation outside it.
 */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assert.h"

/* Token flags (private to this file). */
#define JSON_F_ESCAPE   0x01u  /* STRING: contains a backslash escape */
#define JSON_F_HIGH     0x02u  /* STRING: contains a byte >= 0x80 */
#define JSON_F_TRUE     0x04u  /* BOOL: value is true */
#define JSON_F_FRAC     0x08u  /* NUMBER: has a fraction or an exponent */
#define JSON_F_NEG      0x10u  /* NUMBER: starts with '-' */

#define JSON_REPLACEMENT 0xFFFDu

/* Token indices are returned as int, so their count stays below INT32_MAX. */
#define JSON_TOKS_MAX ((uint32_t)INT32_MAX)

struct json_parser {
	struct json_doc *doc;
	const char *s;
	uint32_t len;
	uint32_t pos;
	uint32_t cap;                      /* tokens allocated */
	uint32_t depth;                    /* open containers */
	uint32_t stack[JSON_MAX_DEPTH];    /* token index of each open container */
};

/* ---- reader: parsing ---- */

static int json_parse_fail(struct json_parser *p, const char *what)
{
	snprintf(p->doc->error, sizeof(p->doc->error), "json: %s at offset %u",
		 what, (unsigned)p->pos);
	return -1;
}

static int json_parse_unexpected(struct json_parser *p)
{
	if (p->pos >= p->len)
		return json_parse_fail(p, "unexpected end of input");
	unsigned char c = (unsigned char)p->s[p->pos];
	char what[48];
	if (c >= 0x21 && c < 0x7f)
		snprintf(what, sizeof(what), "unexpected character '%c'", c);
	else
		snprintf(what, sizeof(what), "unexpected byte 0x%02x", c);
	return json_parse_fail(p, what);
}

static void json_skip_ws(struct json_parser *p)
{
	while (p->pos < p->len) {
		char c = p->s[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			return;
		p->pos++;
	}
}

/* Appends a token and returns its index, or -1 (error set) on exhaustion. */
static int json_tok_push(struct json_parser *p, uint8_t type, uint32_t start)
{
	struct json_doc *doc = p->doc;
	if (doc->ntoks == p->cap) {
		if (p->cap >= JSON_TOKS_MAX)
			return json_parse_fail(p, "too many values");
		uint64_t cap = p->cap < 16 ? 16 : (uint64_t)p->cap * 2;
		if (cap > JSON_TOKS_MAX)
			cap = JSON_TOKS_MAX;
		if (cap > SIZE_MAX / sizeof(struct json_tok))
			return json_parse_fail(p, "out of memory");
		struct json_tok *t = mem_realloc(doc->mem, doc->toks,
						 (size_t)cap * sizeof(*t));
		if (t == NULL)
			return json_parse_fail(p, "out of memory");
		doc->toks = t;
		p->cap = (uint32_t)cap;
	}
	uint32_t i = doc->ntoks++;
	struct json_tok *t = &doc->toks[i];
	memset(t, 0, sizeof(*t));
	t->type = type;
	t->start = start;
	t->next = i + 1;
	return (int)i;
}

static bool json_is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/* Validates one escape; p->pos is at the backslash. */
static int json_scan_escape(struct json_parser *p)
{
	if (p->pos + 1 >= p->len) {
		p->pos = p->len;
		return json_parse_unexpected(p);
	}
	p->pos++;
	switch (p->s[p->pos]) {
	case '"': case '\\': case '/': case 'b':
	case 'f': case 'n': case 'r': case 't':
		p->pos++;
		return 0;
	case 'u':
		for (int k = 1; k <= 4; k++) {
			if ((uint64_t)p->pos + (uint64_t)k >= p->len) {
				p->pos = p->len;
				return json_parse_unexpected(p);
			}
			if (!json_is_hex(p->s[p->pos + (uint32_t)k])) {
				p->pos += (uint32_t)k;
				return json_parse_fail(p, "invalid \\u escape");
			}
		}
		p->pos += 5;
		return 0;
	default:
		return json_parse_fail(p, "invalid escape");
	}
}

/* Scans a string; p->pos is at the opening quote.  The token covers the
 * bytes between the quotes. */
static int json_scan_string(struct json_parser *p)
{
	uint32_t start = p->pos + 1;
	int i = json_tok_push(p, JSON_STRING, start);
	if (i < 0)
		return -1;
	uint8_t flags = 0;
	p->pos = start;
	for (;;) {
		if (p->pos >= p->len)
			return json_parse_fail(p, "unterminated string");
		unsigned char c = (unsigned char)p->s[p->pos];
		if (c == '"')
			break;
		if (c < 0x20)
			return json_parse_fail(p, "control character in string");
		if (c == '\\') {
			flags |= JSON_F_ESCAPE;
			if (json_scan_escape(p) != 0)
				return -1;
			continue;
		}
		if (c >= 0x80)
			flags |= JSON_F_HIGH;
		p->pos++;
	}
	struct json_tok *t = &p->doc->toks[i];
	t->flags = flags;
	t->len = p->pos - start;
	p->pos++;
	return i;
}

static uint32_t json_scan_digits(struct json_parser *p)
{
	uint32_t n = 0;
	while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
		p->pos++;
		n++;
	}
	return n;
}

/* Scans -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int json_scan_number(struct json_parser *p)
{
	uint32_t start = p->pos;
	uint8_t flags = 0;
	if (p->s[p->pos] == '-') {
		flags |= JSON_F_NEG;
		p->pos++;
	}
	if (p->pos < p->len && p->s[p->pos] == '0')
		p->pos++;
	else if (json_scan_digits(p) == 0)
		return json_parse_unexpected(p);
	if (p->pos < p->len && p->s[p->pos] == '.') {
		flags |= JSON_F_FRAC;
		p->pos++;
		if (json_scan_digits(p) == 0)
			return json_parse_unexpected(p);
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		flags |= JSON_F_FRAC;
		p->pos++;
		if (p->pos < p->len &&
		    (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (json_scan_digits(p) == 0)
			return json_parse_unexpected(p);
	}
	int i = json_tok_push(p, JSON_NUMBER, start);
	if (i < 0)
		return -1;
	p->doc->toks[i].flags = flags;
	p->doc->toks[i].len = p->pos - start;
	return i;
}

static int json_scan_literal(struct json_parser *p, const char *word,
			     uint8_t type, uint8_t flags)
{
	uint32_t start = p->pos;
	size_t n = strlen(word);
	for (size_t k = 0; k < n; k++) {
		if (p->pos >= p->len || p->s[p->pos] != word[k])
			return json_parse_unexpected(p);
		p->pos++;
	}
	int i = json_tok_push(p, type, start);
	if (i < 0)
		return -1;
	p->doc->toks[i].flags = flags;
	p->doc->toks[i].len = (uint32_t)n;
	return i;
}

static int json_open_container(struct json_parser *p, uint8_t type)
{
	if (p->depth >= JSON_MAX_DEPTH)
		return json_parse_fail(p, "nesting too deep");
	int i = json_tok_push(p, type, p->pos);
	if (i < 0)
		return -1;
	p->stack[p->depth++] = (uint32_t)i;
	p->pos++;
	return i;
}

static void json_close_container(struct json_parser *p)
{
	ASSERT(p->depth > 0);
	struct json_tok *t = &p->doc->toks[p->stack[--p->depth]];
	p->pos++;
	t->len = p->pos - t->start;
	t->next = p->doc->ntoks;
}

/* Scans one scalar or opens a container at p->pos (whitespace skipped).
 * Returns 1 if a container was opened, 0 for a complete scalar, -1 on
 * error. */
static int json_scan_value(struct json_parser *p)
{
	if (p->pos >= p->len)
		return json_parse_unexpected(p);
	switch (p->s[p->pos]) {
	case '{':
		return json_open_container(p, JSON_OBJECT) < 0 ? -1 : 1;
	case '[':
		return json_open_container(p, JSON_ARRAY) < 0 ? -1 : 1;
	case '"':
		return json_scan_string(p) < 0 ? -1 : 0;
	case 't':
		return json_scan_literal(p, "true", JSON_BOOL, JSON_F_TRUE) < 0 ?
		       -1 : 0;
	case 'f':
		return json_scan_literal(p, "false", JSON_BOOL, 0) < 0 ? -1 : 0;
	case 'n':
		return json_scan_literal(p, "null", JSON_NULL, 0) < 0 ? -1 : 0;
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return json_scan_number(p) < 0 ? -1 : 0;
	default:
		return json_parse_unexpected(p);
	}
}

/* Scans `"key" :` inside the innermost open object. */
static int json_scan_key(struct json_parser *p)
{
	json_skip_ws(p);
	if (p->pos >= p->len || p->s[p->pos] != '"')
		return json_parse_unexpected(p);
	if (json_scan_string(p) < 0)
		return -1;
	p->doc->toks[p->stack[p->depth - 1]].count++;
	json_skip_ws(p);
	if (p->pos >= p->len || p->s[p->pos] != ':')
		return json_parse_unexpected(p);
	p->pos++;
	return 0;
}

/*
 * Called when a container was just opened or a value just completed
 * inside one.  Consumes separators and closers until the next value is
 * due.  Returns 1 when a value must be scanned next, 0 when the root is
 * complete, -1 on error.
 */
static int json_scan_between(struct json_parser *p, bool opened)
{
	while (p->depth > 0) {
		struct json_tok *top = &p->doc->toks[p->stack[p->depth - 1]];
		char close = top->type == JSON_OBJECT ? '}' : ']';
		json_skip_ws(p);
		if (p->pos >= p->len)
			return json_parse_unexpected(p);
		char c = p->s[p->pos];
		if (c == close) {
			json_close_container(p);
			opened = false;
			continue;
		}
		if (!opened) {
			if (c != ',')
				return json_parse_unexpected(p);
			p->pos++;
		}
		if (top->type == JSON_OBJECT)
			return json_scan_key(p) < 0 ? -1 : 1;
		top->count++;
		return 1;
	}
	return 0;
}

static int json_parse_run(struct json_parser *p)
{
	for (;;) {
		json_skip_ws(p);
		int r = json_scan_value(p);
		if (r < 0)
			return -1;
		r = json_scan_between(p, r == 1);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
	}
	json_skip_ws(p);
	if (p->pos != p->len)
		return json_parse_fail(p, "unexpected data after value");
	return 0;
}

int json_parse(struct json_doc *doc, struct mem *mem, const char *text,
	       size_t len)
{
	memset(doc, 0, sizeof(*doc));
	doc->text = text;
	doc->text_len = len;
	doc->mem = mem;
	if (len > UINT32_MAX) {
		snprintf(doc->error, sizeof(doc->error),
			 "json: document too large (%zu bytes)", len);
		return -1;
	}
	if (text == NULL && len > 0) {
		snprintf(doc->error, sizeof(doc->error), "json: no input");
		return -1;
	}
	struct json_parser p;
	memset(&p, 0, sizeof(p));
	p.doc = doc;
	p.s = text;
	p.len = (uint32_t)len;
	if (json_parse_run(&p) != 0) {
		json_doc_free(doc);
		return -1;
	}
	ASSERT(doc->ntoks > 0 && doc->toks[0].next == doc->ntoks);
	return 0;
}

void json_doc_free(struct json_doc *doc)
{
	if (doc->toks != NULL)
		mem_free(doc->mem, doc->toks);
	doc->toks = NULL;
	doc->ntoks = 0;
}

/* Appends n bytes; unlike a bare buf_append of nothing, an empty append
 * still leaves out->data allocated and NUL-terminated, so callers can use
 * it as a C string. */
static void json_buf_put(struct buf *out, const char *s, size_t n)
{
	if (n > 0)
		buf_append(out, s, n);
	else if (buf_reserve(out, 1))
		out->data[out->len] = '\0';
}

/* ---- reader: lookups ---- */

static const struct json_tok *json_tok_at(const struct json_doc *doc, int tok)
{
	if (tok < 0 || doc->toks == NULL || (uint32_t)tok >= doc->ntoks)
		return NULL;
	return &doc->toks[tok];
}

enum json_type json_type_of(const struct json_doc *doc, int tok)
{
	const struct json_tok *t = json_tok_at(doc, tok);
	return t == NULL ? JSON_NULL : (enum json_type)t->type;
}

int json_obj_next(const struct json_doc *doc, int obj, uint32_t *it)
{
	const struct json_tok *t = json_tok_at(doc, obj);
	if (t == NULL || t->type != JSON_OBJECT)
		return -1;
	/* *it holds the index of the next key; 0 cannot be one (obj >= 0). */
	uint32_t k = *it == 0 ? (uint32_t)obj + 1 : *it;
	if (k <= (uint32_t)obj || k + 1 >= t->next)
		return -1;
	*it = doc->toks[k + 1].next;
	return (int)k;
}

int json_array_at(const struct json_doc *doc, int arr, uint32_t i)
{
	const struct json_tok *t = json_tok_at(doc, arr);
	if (t == NULL || t->type != JSON_ARRAY || i >= t->count)
		return -1;
	uint32_t k = (uint32_t)arr + 1;
	while (i-- > 0)
		k = doc->toks[k].next;
	return (int)k;
}

uint32_t json_array_len(const struct json_doc *doc, int arr)
{
	const struct json_tok *t = json_tok_at(doc, arr);
	return t != NULL && t->type == JSON_ARRAY ? t->count : 0;
}

/* ---- reader: string decoding ---- */

/* Returns the value of 4 hex digits at s[i], or -1 if they are not. */
static int32_t json_hex4(const char *s, size_t len, size_t i)
{
	if (i + 4 > len)
		return -1;
	int32_t v = 0;
	for (size_t k = i; k < i + 4; k++) {
		char c = s[k];
		int d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* Decodes one UTF-8 sequence at s[*i] as Go's utf8.DecodeRune does: any
 * invalid, overlong, surrogate or truncated form is U+FFFD for one byte. */
static uint32_t json_utf8_decode(const unsigned char *s, size_t len, size_t *i)
{
	unsigned char c = s[*i];
	size_t n;
	uint32_t cp;
	unsigned char lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		cp = c & 0x1Fu;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		cp = c & 0x0Fu;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		cp = c & 0x07u;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		(*i)++;
		return c < 0x80 ? c : JSON_REPLACEMENT;
	}
	if (len - *i < n)
		goto bad;
	for (size_t k = 1; k < n; k++) {
		unsigned char b = s[*i + k];
		if (b < lo || b > hi)
			goto bad;
		lo = 0x80;
		hi = 0xBF;
		cp = (cp << 6) | (b & 0x3Fu);
	}
	*i += n;
	return cp;
bad:
	(*i)++;
	return JSON_REPLACEMENT;
}

/* Decodes a \uXXXX escape (s[*i] is the backslash), pairing surrogates as
 * Go's unquote does: an unpaired surrogate is U+FFFD and the escape that
 * follows it is decoded on its own. */
static uint32_t json_decode_u(const char *s, size_t len, size_t *i)
{
	int32_t rr = json_hex4(s, len, *i + 2);
	if (rr < 0) {
		(*i)++;
		return JSON_REPLACEMENT;
	}
	*i += 6;
	if (rr < 0xD800 || rr >= 0xE000)
		return (uint32_t)rr;
	if (rr < 0xDC00 && *i + 1 < len && s[*i] == '\\' && s[*i + 1] == 'u') {
		int32_t rr1 = json_hex4(s, len, *i + 2);
		if (rr1 >= 0xDC00 && rr1 < 0xE000) {
			*i += 6;
			return 0x10000u + (((uint32_t)rr - 0xD800u) << 10) +
			       ((uint32_t)rr1 - 0xDC00u);
		}
	}
	return JSON_REPLACEMENT;
}

/* Decodes the next code point of raw string bytes s[*i..len). */
static uint32_t json_str_decode(const char *s, size_t len, size_t *i)
{
	unsigned char c = (unsigned char)s[*i];
	if (c >= 0x80)
		return json_utf8_decode((const unsigned char *)s, len, i);
	if (c != '\\' || *i + 1 >= len) {
		(*i)++;
		return c;
	}
	char e = s[*i + 1];
	*i += 2;
	switch (e) {
	case 'b': return '\b';
	case 'f': return '\f';
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	case 'u':
		*i -= 2;
		return json_decode_u(s, len, i);
	default:  return (unsigned char)e;   /* " \ / */
	}
}

static size_t json_utf8_encode(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static const struct json_tok *json_str_tok(const struct json_doc *doc, int tok)
{
	const struct json_tok *t = json_tok_at(doc, tok);
	return t != NULL && t->type == JSON_STRING ? t : NULL;
}

bool json_get_string(const struct json_doc *doc, int tok, struct buf *out)
{
	const struct json_tok *t = json_str_tok(doc, tok);
	if (t == NULL)
		return false;
	const char *s = doc->text + t->start;
	if ((t->flags & (JSON_F_ESCAPE | JSON_F_HIGH)) == 0) {
		json_buf_put(out, s, t->len);
		return !out->oom;
	}
	if (!buf_reserve(out, t->len))
		return false;
	size_t i = 0;
	while (i < t->len) {
		char enc[4];
		uint32_t cp = json_str_decode(s, t->len, &i);
		buf_append(out, enc, json_utf8_encode(cp, enc));
	}
	return !out->oom;
}

/* Compares a string token's decoded value with key; with fold, ASCII
 * letters match case-insensitively and U+212A / U+017F match k / s. */
static bool json_str_match(const struct json_doc *doc, const struct json_tok *t,
			   const char *key, bool fold)
{
	const char *s = doc->text + t->start;
	size_t klen = strlen(key);
	if (!fold && (t->flags & (JSON_F_ESCAPE | JSON_F_HIGH)) == 0)
		return t->len == klen && memcmp(s, key, klen) == 0;
	size_t i = 0, j = 0;
	while (i < t->len) {
		uint32_t cp = json_str_decode(s, t->len, &i);
		char enc[4];
		size_t n = json_utf8_encode(cp, enc);
		if (fold && j < klen) {
			unsigned char kc = (unsigned char)key[j];
			unsigned char lk = (unsigned char)(kc | 0x20);
			bool letter = lk >= 'a' && lk <= 'z';
			if ((letter && cp < 0x80 && (cp | 0x20) == lk) ||
			    (cp == 0x212A && lk == 'k') ||
			    (cp == 0x017F && lk == 's')) {
				j++;
				continue;
			}
		}
		if (n > klen - j || memcmp(enc, key + j, n) != 0)
			return false;
		j += n;
	}
	return j == klen;
}

bool json_string_eq(const struct json_doc *doc, int tok, const char *s)
{
	const struct json_tok *t = json_str_tok(doc, tok);
	return t != NULL && s != NULL && json_str_match(doc, t, s, false);
}

/* Duplicate keys: the last occurrence wins, as in Go's decoder. */
static int json_obj_find(const struct json_doc *doc, int obj, const char *key,
			 bool fold)
{
	if (key == NULL)
		return -1;
	int found = -1;
	uint32_t it = 0;
	int k;
	while ((k = json_obj_next(doc, obj, &it)) >= 0) {
		if (json_str_match(doc, &doc->toks[k], key, fold))
			found = k + 1;
	}
	return found;
}

int json_obj_get(const struct json_doc *doc, int obj, const char *key)
{
	return json_obj_find(doc, obj, key, false);
}

int json_obj_get_fold(const struct json_doc *doc, int obj, const char *key)
{
	return json_obj_find(doc, obj, key, true);
}

/* ---- reader: scalars ---- */

bool json_get_bool(const struct json_doc *doc, int tok, bool *out)
{
	const struct json_tok *t = json_tok_at(doc, tok);
	if (t == NULL || t->type != JSON_BOOL)
		return false;
	*out = (t->flags & JSON_F_TRUE) != 0;
	return true;
}

/* Reads the magnitude of an integral number token; like Go's ParseInt and
 * ParseUint, forms with a fraction or exponent (1.0, 1e3) are refused. */
static bool json_get_magnitude(const struct json_doc *doc, int tok,
			       uint64_t *mag, bool *neg)
{
	const struct json_tok *t = json_tok_at(doc, tok);
	if (t == NULL || t->type != JSON_NUMBER || (t->flags & JSON_F_FRAC))
		return false;
	const char *s = doc->text + t->start;
	uint32_t i = 0;
	*neg = (t->flags & JSON_F_NEG) != 0;
	if (*neg)
		i++;
	uint64_t v = 0;
	for (; i < t->len; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*mag = v;
	return true;
}

bool json_get_int(const struct json_doc *doc, int tok, int64_t *out)
{
	uint64_t mag;
	bool neg;
	if (!json_get_magnitude(doc, tok, &mag, &neg))
		return false;
	if (neg) {
		if (mag > (uint64_t)INT64_MAX + 1)
			return false;
		*out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	} else {
		if (mag > (uint64_t)INT64_MAX)
			return false;
		*out = (int64_t)mag;
	}
	return true;
}

bool json_get_uint(const struct json_doc *doc, int tok, uint64_t *out)
{
	uint64_t mag;
	bool neg;
	/* Go's ParseUint refuses any sign, even "-0". */
	if (!json_get_magnitude(doc, tok, &mag, &neg) || neg)
		return false;
	*out = mag;
	return true;
}

/* Any number; like Go's ParseFloat, one beyond the double range fails. */
bool json_get_double(const struct json_doc *doc, int tok, double *out)
{
	const struct json_tok *t = json_tok_at(doc, tok);
	if (t == NULL || t->type != JSON_NUMBER)
		return false;
	char local[128];
	char *tmp = local;
	if (t->len >= sizeof(local)) {
		tmp = mem_alloc(doc->mem, (size_t)t->len + 1);
		if (tmp == NULL)
			return false;
	}
	memcpy(tmp, doc->text + t->start, t->len);
	tmp[t->len] = '\0';
	double v = strtod(tmp, NULL);
	if (tmp != local)
		mem_free(doc->mem, tmp);
	if (isinf(v))
		return false;
	*out = v;
	return true;
}

const char *json_raw(const struct json_doc *doc, int tok, size_t *len)
{
	const struct json_tok *t = json_tok_at(doc, tok);
	if (t == NULL) {
		*len = 0;
		return NULL;
	}
	/* A string's raw text keeps its quotes so it stays valid JSON. */
	if (t->type == JSON_STRING) {
		*len = (size_t)t->len + 2;
		return doc->text + t->start - 1;
	}
	*len = t->len;
	return doc->text + t->start;
}

bool json_obj_bool(const struct json_doc *d, int obj, const char *k, bool *out)
{
	return json_get_bool(d, json_obj_get(d, obj, k), out);
}

bool json_obj_int(const struct json_doc *d, int obj, const char *k, int64_t *out)
{
	return json_get_int(d, json_obj_get(d, obj, k), out);
}

bool json_obj_string(const struct json_doc *d, int obj, const char *k,
		     struct buf *out)
{
	return json_get_string(d, json_obj_get(d, obj, k), out);
}

/* ---- writer ---- */

void jw_init(struct jw *w, struct buf *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
}

/* Emits the comma a value or key needs and marks its level as used.
 * Level d (1..64) uses bit d-1; the root level needs no commas. */
static void jw_value_prefix(struct jw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth == 0)
		return;
	uint64_t bit = (uint64_t)1 << (w->depth - 1);
	if (w->need_comma & bit)
		buf_append_char(w->out, ',');
	w->need_comma |= bit;
}

static void jw_open(struct jw *w, char c)
{
	ASSERT(w->depth < JSON_MAX_DEPTH);
	jw_value_prefix(w);
	buf_append_char(w->out, c);
	w->depth++;
	w->need_comma &= ~((uint64_t)1 << (w->depth - 1));
}

static void jw_close(struct jw *w, char c)
{
	ASSERT(w->depth > 0 && !w->after_key);
	buf_append_char(w->out, c);
	w->depth--;
}

void jw_obj_begin(struct jw *w)
{
	jw_open(w, '{');
}

void jw_obj_end(struct jw *w)
{
	jw_close(w, '}');
}

void jw_arr_begin(struct jw *w)
{
	jw_open(w, '[');
}

void jw_arr_end(struct jw *w)
{
	jw_close(w, ']');
}

void jw_key(struct jw *w, const char *key)
{
	ASSERT(w->depth > 0 && !w->after_key);
	jw_value_prefix(w);
	buf_append_char(w->out, '"');
	json_escape(w->out, key, strlen(key));
	buf_append(w->out, "\":", 2);
	w->after_key = true;
}

/* A NULL string is written as "" since a Go string has no nil. */
void jw_str(struct jw *w, const char *s)
{
	jw_strn(w, s, s == NULL ? 0 : strlen(s));
}

void jw_strn(struct jw *w, const char *s, size_t len)
{
	jw_value_prefix(w);
	buf_append_char(w->out, '"');
	if (s != NULL)
		json_escape(w->out, s, len);
	buf_append_char(w->out, '"');
}

void jw_int(struct jw *w, int64_t v)
{
	jw_value_prefix(w);
	buf_append_i64(w->out, v);
}

void jw_uint(struct jw *w, uint64_t v)
{
	jw_value_prefix(w);
	buf_append_u64(w->out, v);
}

void jw_bool(struct jw *w, bool v)
{
	jw_value_prefix(w);
	buf_append_str(w->out, v ? "true" : "false");
}

void jw_null(struct jw *w)
{
	jw_value_prefix(w);
	buf_append(w->out, "null", 4);
}

void jw_raw(struct jw *w, const char *json, size_t len)
{
	jw_value_prefix(w);
	json_buf_put(w->out, json, len);
}

/* Shortest decimal digits of finite nonzero |v| that read back as v; the
 * value is 0.DIGITS * 10^decpt.  Returns the digit count. */
static size_t jw_shortest_digits(double v, char digits[18], int *decpt)
{
	char tmp[40];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, fabs(v));
		if (strtod(tmp, NULL) == fabs(v) || prec == 17)
			break;
	}
	/* tmp is "d[.ddd]e[+-]XX" */
	size_t n = 0;
	const char *p = tmp;
	for (; *p != 'e'; p++) {
		if (*p != '.')
			digits[n++] = *p;
	}
	*decpt = atoi(p + 1) + 1;
	while (n > 1 && digits[n - 1] == '0')
		n--;
	return n;
}

static void jw_append_zeros(struct buf *out, int n)
{
	for (int k = 0; k < n; k++)
		buf_append_char(out, '0');
}

/* Formats like Go's encoding/json: 'f' style for 1e-6 <= |v| < 1e21,
 * else 'e' style with at least two exponent digits except that e-0X is
 * shortened to e-X.  Non-finite values, which Go refuses, are null. */
void jw_double(struct jw *w, double v)
{
	jw_value_prefix(w);
	struct buf *out = w->out;
	if (!isfinite(v)) {
		buf_append(out, "null", 4);
		return;
	}
	if (signbit(v))
		buf_append_char(out, '-');
	if (v == 0) {
		buf_append_char(out, '0');
		return;
	}
	char d[18];
	int decpt;
	int n = (int)jw_shortest_digits(v, d, &decpt);
	if (fabs(v) < 1e-6 || fabs(v) >= 1e21) {
		int e = decpt - 1;
		buf_append_char(out, d[0]);
		if (n > 1) {
			buf_append_char(out, '.');
			buf_append(out, d + 1, (size_t)n - 1);
		}
		if (e < 0 && e > -10)
			buf_appendf(out, "e-%d", -e);
		else
			buf_appendf(out, "e%c%02d", e < 0 ? '-' : '+', abs(e));
	} else if (decpt <= 0) {
		buf_append(out, "0.", 2);
		jw_append_zeros(out, -decpt);
		buf_append(out, d, (size_t)n);
	} else if (decpt >= n) {
		buf_append(out, d, (size_t)n);
		jw_append_zeros(out, decpt - n);
	} else {
		buf_append(out, d, (size_t)decpt);
		buf_append_char(out, '.');
		buf_append(out, d + decpt, (size_t)(n - decpt));
	}
}

/* Whether an ASCII byte is written as is (Go's htmlSafeSet). */
static bool json_byte_safe(unsigned char c)
{
	return c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' &&
	       c != '&';
}

static void json_escape_ascii(struct buf *out, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF] };
	switch (c) {
	case '"':  buf_append(out, "\\\"", 2); return;
	case '\\': buf_append(out, "\\\\", 2); return;
	case '\n': buf_append(out, "\\n", 2); return;
	case '\r': buf_append(out, "\\r", 2); return;
	case '\t': buf_append(out, "\\t", 2); return;
	default:   buf_append(out, e, sizeof(e)); return;
	}
}

void json_escape(struct buf *out, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;   /* s[run..i) is pending verbatim output */
	while (i < len) {
		unsigned char c = u[i];
		if (c < 0x80 && json_byte_safe(c)) {
			i++;
			continue;
		}
		size_t at = i;
		if (c >= 0x80) {
			uint32_t cp = json_utf8_decode(u, len, &i);
			/* A literal U+FFFD is three bytes and stays as is. */
			bool bad = cp == JSON_REPLACEMENT && i - at == 1;
			if (!bad && cp != 0x2028 && cp != 0x2029)
				continue;
			json_buf_put(out, s + run, at - run);
			buf_append_str(out, bad ? "\\ufffd" :
				       cp == 0x2028 ? "\\u2028" : "\\u2029");
		} else {
			json_buf_put(out, s + run, at - run);
			json_escape_ascii(out, c);
			i++;
		}
		run = i;
	}
	json_buf_put(out, s + run, i - run);
}
