/*
 * conf.c - lexer and parser for the nats-server configuration format
 * (reference config-format.md section 1; behaviour of nats-server 2.9.10).
 *
 * Owns: turning configuration text into a tree of struct conf_node, with
 * includes (read through struct conf_io), $NAME variables (block scoped,
 * then the environment) and file/line/column on every node.
 *
 * Design: a recursive-descent parser over the whole text in memory.  The
 * token rules (what ends a bare string, when digits become a number, a
 * date, an IP address or a string) follow the reference lexer state by
 * state; the few places where the reference accepts nonsense or rejects
 * sensible input are listed in docs/config.md.
 *
 * Invariants: every node is attached to its parent as soon as it is
 * complete, so a failed parse frees everything through the root; nesting
 * depth never exceeds CONF_DEPTH_MAX (copies made for variables included),
 * which bounds every recursion here and in the users of the tree; node
 * count, string bytes, file size, include depth and include count are all
 * bounded, so no input can make the parser loop, crash or exhaust memory.
 */
#include "conf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../env/env.h"
#include "../lib/assert.h"

#define CONF_DEPTH_MAX 64              /* nested maps and arrays */
#define CONF_NEST_MAX 16               /* includes and env values inside each other */
#define CONF_FILES_MAX 256             /* files read by one parse */
#define CONF_FILE_BYTES_MAX (16u << 20)
#define CONF_NODES_MAX 500000u
#define CONF_BYTES_MAX (64u << 20)     /* string bytes held by the tree */

/* State shared by every source (file, include, env value) of one parse. */
struct conf_parser {
	struct conf_doc *doc;
	struct mem *mem;
	const struct conf_io *io;
	struct buf *err;
	bool failed;                   /* first error already reported */
	size_t nodes;
	size_t bytes;
	size_t files_read;
	const char *stack[CONF_NEST_MAX + 2]; /* files being parsed (cycles) */
	size_t n_stack;
};

/* One piece of text being parsed. */
struct conf_lex {
	struct conf_parser *ps;
	const char *file;              /* name in messages and nodes */
	const char *dir_file;          /* includes resolve against its folder */
	const char *text;
	size_t len;
	size_t pos;
	int line;
	size_t line_start;             /* offset of the current line */
	int depth;                     /* open maps and arrays */
	int nest;                      /* include / env depth */
	struct conf_node *scopes[CONF_DEPTH_MAX + 2]; /* maps, for $NAME */
	size_t n_scopes;
};

enum conf_ctx { CONF_CTX_TOP, CONF_CTX_MAP };

static struct conf_node *conf_parse_value(struct conf_lex *lx, int line, int col);
static int conf_parse_body(struct conf_lex *lx, struct conf_node *map,
			   enum conf_ctx ctx);

/* ------------------------------------------------------------------ */
/* Errors                                                              */

static void conf_vfail(struct conf_parser *ps, const char *file, int line,
		       int col, const char *fmt, va_list ap)
{
	if (ps->failed)
		return;
	ps->failed = true;
	if (col > 0)
		buf_appendf(ps->err, "%s:%d:%d: ", file, line, col);
	else
		buf_appendf(ps->err, "%s:%d: ", file, line);
	buf_vappendf(ps->err, fmt, ap);
}

__attribute__((format(printf, 4, 5)))
static int conf_fail_at(struct conf_lex *lx, int line, int col,
			const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	conf_vfail(lx->ps, lx->file, line, col, fmt, ap);
	va_end(ap);
	return -1;
}

static int conf_col(const struct conf_lex *lx)
{
	return (int)(lx->pos - lx->line_start) + 1;
}

__attribute__((format(printf, 2, 3)))
static int conf_fail(struct conf_lex *lx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	conf_vfail(lx->ps, lx->file, lx->line, conf_col(lx), fmt, ap);
	va_end(ap);
	return -1;
}

/* Printable form of the byte at the cursor for messages. */
static const char *conf_describe(const struct conf_lex *lx, char out[8])
{
	if (lx->pos >= lx->len)
		return "end of file";
	unsigned char c = (unsigned char)lx->text[lx->pos];
	if (c == '\n')
		return "new line";
	if (c == '\r')
		return "'\\r'";
	if (c < 0x20 || c >= 0x7f)
		snprintf(out, 8, "0x%02x", c);
	else
		snprintf(out, 8, "'%c'", c);
	return out;
}

/* ------------------------------------------------------------------ */
/* Nodes                                                               */

static void conf_node_free(struct mem *mem, struct conf_node *n)
{
	if (n == NULL)
		return;
	switch (n->type) {
	case CONF_MAP:
		for (size_t i = 0; i < n->u.map.n; i++) {
			mem_free(mem, n->u.map.kv[i].key);
			conf_node_free(mem, n->u.map.kv[i].value);
		}
		mem_free(mem, n->u.map.kv);
		break;
	case CONF_ARRAY:
		for (size_t i = 0; i < n->u.arr.n; i++)
			conf_node_free(mem, n->u.arr.items[i]);
		mem_free(mem, n->u.arr.items);
		break;
	case CONF_STRING:
	case CONF_DATETIME:
		mem_free(mem, n->u.str.s);
		break;
	default:
		break;
	}
	mem_free(mem, n->raw);
	mem_free(mem, n);
}

static bool conf_charge(struct conf_lex *lx, size_t nodes, size_t bytes)
{
	struct conf_parser *ps = lx->ps;
	if (ps->nodes + nodes > CONF_NODES_MAX || bytes > CONF_BYTES_MAX - ps->bytes) {
		conf_fail(lx, "configuration too large (more than %u values or %u bytes)",
			  CONF_NODES_MAX, CONF_BYTES_MAX);
		return false;
	}
	ps->nodes += nodes;
	ps->bytes += bytes;
	return true;
}

static struct conf_node *conf_node_new(struct conf_lex *lx, enum conf_type type,
				       int line, int col)
{
	if (!conf_charge(lx, 1, 0))
		return NULL;
	struct conf_node *n = mem_calloc(lx->ps->mem, 1, sizeof(*n));
	if (n == NULL) {
		conf_fail(lx, "out of memory");
		return NULL;
	}
	n->type = type;
	n->file = lx->file;
	n->line = line;
	n->col = col;
	return n;
}

static char *conf_strndup(struct conf_lex *lx, const char *s, size_t len)
{
	if (!conf_charge(lx, 0, len + 1))
		return NULL;
	char *p = mem_strndup(lx->ps->mem, s, len);
	if (p == NULL)
		conf_fail(lx, "out of memory");
	return p;
}

/* A string node holding a copy of s[0..len). */
static struct conf_node *conf_string_new(struct conf_lex *lx, enum conf_type type,
					 const char *s, size_t len, int line, int col)
{
	struct conf_node *n = conf_node_new(lx, type, line, col);
	if (n == NULL)
		return NULL;
	n->u.str.s = conf_strndup(lx, s, len);
	if (n->u.str.s == NULL) {
		conf_node_free(lx->ps->mem, n);
		return NULL;
	}
	n->u.str.len = len;
	return n;
}

static int conf_array_push(struct conf_lex *lx, struct conf_node *arr,
			   struct conf_node *item)
{
	struct conf_node **items = mem_realloc(lx->ps->mem, arr->u.arr.items,
					       (arr->u.arr.n + 1) * sizeof(*items));
	if (items == NULL)
		return conf_fail(lx, "out of memory");
	arr->u.arr.items = items;
	items[arr->u.arr.n++] = item;
	return 0;
}

/* Takes key and value (frees both on failure). */
static int conf_map_push(struct conf_lex *lx, struct conf_node *map, char *key,
			 struct conf_node *value)
{
	struct conf_kv *kv = mem_realloc(lx->ps->mem, map->u.map.kv,
					 (map->u.map.n + 1) * sizeof(*kv));
	if (kv == NULL) {
		mem_free(lx->ps->mem, key);
		conf_node_free(lx->ps->mem, value);
		return conf_fail(lx, "out of memory");
	}
	map->u.map.kv = kv;
	kv[map->u.map.n].key = key;
	kv[map->u.map.n].value = value;
	map->u.map.n++;
	return 0;
}

/* Height of a subtree: 0 for scalars, 1 + tallest child for containers. */
static int conf_node_height(const struct conf_node *n)
{
	int h = 0;
	if (n->type == CONF_MAP) {
		for (size_t i = 0; i < n->u.map.n; i++) {
			int c = conf_node_height(n->u.map.kv[i].value);
			h = MAX(h, c);   /* not inline: MAX evaluates twice */
		}
		return h + 1;
	}
	if (n->type == CONF_ARRAY) {
		for (size_t i = 0; i < n->u.arr.n; i++) {
			int c = conf_node_height(n->u.arr.items[i]);
			h = MAX(h, c);
		}
		return h + 1;
	}
	return 0;
}

static int conf_copy_children(struct conf_lex *lx, const struct conf_node *src,
			      struct conf_node *dst);

/* Deep copy; the caller has checked the depth budget. */
static struct conf_node *conf_node_copy(struct conf_lex *lx, const struct conf_node *src)
{
	struct conf_node *n = conf_node_new(lx, src->type, src->line, src->col);
	if (n == NULL)
		return NULL;
	n->file = src->file;
	n->quoted = src->quoted;
	n->has_suffix = src->has_suffix;
	if (src->raw != NULL) {
		n->raw = conf_strndup(lx, src->raw, strlen(src->raw));
		if (n->raw == NULL)
			goto fail;
	}
	switch (src->type) {
	case CONF_STRING:
	case CONF_DATETIME:
		n->u.str.s = conf_strndup(lx, src->u.str.s, src->u.str.len);
		if (n->u.str.s == NULL)
			goto fail;
		n->u.str.len = src->u.str.len;
		break;
	case CONF_MAP:
	case CONF_ARRAY:
		if (conf_copy_children(lx, src, n) < 0)
			goto fail;
		break;
	default:
		n->u = src->u;
		break;
	}
	return n;
fail:
	conf_node_free(lx->ps->mem, n);
	return NULL;
}

static int conf_copy_children(struct conf_lex *lx, const struct conf_node *src,
			      struct conf_node *dst)
{
	if (src->type == CONF_ARRAY) {
		for (size_t i = 0; i < src->u.arr.n; i++) {
			struct conf_node *c = conf_node_copy(lx, src->u.arr.items[i]);
			if (c == NULL || conf_array_push(lx, dst, c) < 0) {
				conf_node_free(lx->ps->mem, c);
				return -1;
			}
		}
		return 0;
	}
	for (size_t i = 0; i < src->u.map.n; i++) {
		const struct conf_kv *kv = &src->u.map.kv[i];
		char *key = conf_strndup(lx, kv->key, strlen(kv->key));
		if (key == NULL)
			return -1;
		struct conf_node *c = conf_node_copy(lx, kv->value);
		if (c == NULL) {
			mem_free(lx->ps->mem, key);
			return -1;
		}
		if (conf_map_push(lx, dst, key, c) < 0)
			return -1;
	}
	return 0;
}

/* Values read from the environment get the position of the reference. */
static void conf_node_relocate(struct conf_node *n, const char *file, int line, int col)
{
	n->file = file;
	n->line = line;
	n->col = col;
	if (n->type == CONF_MAP) {
		for (size_t i = 0; i < n->u.map.n; i++)
			conf_node_relocate(n->u.map.kv[i].value, file, line, col);
	} else if (n->type == CONF_ARRAY) {
		for (size_t i = 0; i < n->u.arr.n; i++)
			conf_node_relocate(n->u.arr.items[i], file, line, col);
	}
}

/* ------------------------------------------------------------------ */
/* Characters                                                          */

static int conf_peek_at(const struct conf_lex *lx, size_t off)
{
	if (off >= lx->len - lx->pos || lx->pos >= lx->len)
		return -1;
	return (unsigned char)lx->text[lx->pos + off];
}

static int conf_peek(const struct conf_lex *lx)
{
	return conf_peek_at(lx, 0);
}

static bool conf_is_ws(int c)
{
	return c == ' ' || c == '\t';
}

static bool conf_is_nl(int c)
{
	return c == '\n' || c == '\r';
}

static bool conf_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static void conf_advance(struct conf_lex *lx, size_t n)
{
	ASSERT(n <= lx->len - lx->pos);
	for (size_t i = 0; i < n; i++) {
		if (lx->text[lx->pos] == '\n') {
			lx->line++;
			lx->line_start = lx->pos + 1;
		}
		lx->pos++;
	}
}

/* Length of the Unicode white space (Go's unicode.IsSpace) at the cursor,
 * 0 when there is none. */
static size_t conf_space_len(const struct conf_lex *lx)
{
	int c = conf_peek(lx), c1 = conf_peek_at(lx, 1), c2 = conf_peek_at(lx, 2);
	if (c == ' ' || (c >= '\t' && c <= '\r'))
		return 1;
	if (c == 0xc2 && (c1 == 0x85 || c1 == 0xa0))
		return 2;
	if (c == 0xe1 && c1 == 0x9a && c2 == 0x80)
		return 3;
	if (c == 0xe2 && c1 == 0x80 &&
	    ((c2 >= 0x80 && c2 <= 0x8a) || c2 == 0xa8 || c2 == 0xa9 || c2 == 0xaf))
		return 3;
	if (c == 0xe2 && c1 == 0x81 && c2 == 0x9f)
		return 3;
	if (c == 0xe3 && c1 == 0x80 && c2 == 0x80)
		return 3;
	return 0;
}

static void conf_skip_space(struct conf_lex *lx)
{
	size_t n;
	while ((n = conf_space_len(lx)) > 0)
		conf_advance(lx, n);
}

static void conf_skip_ws(struct conf_lex *lx)
{
	while (conf_is_ws(conf_peek(lx)))
		conf_advance(lx, 1);
}

static bool conf_at_comment(const struct conf_lex *lx)
{
	int c = conf_peek(lx);
	return c == '#' || (c == '/' && conf_peek_at(lx, 1) == '/');
}

/* Skips to the end of the line, leaving the new line for the caller. */
static void conf_skip_comment(struct conf_lex *lx)
{
	while (lx->pos < lx->len && !conf_is_nl(conf_peek(lx)))
		conf_advance(lx, 1);
}

/* ------------------------------------------------------------------ */
/* Strings                                                             */

static int conf_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void conf_put_utf8(struct buf *b, uint32_t cp)
{
	if (cp < 0x80) {
		buf_append_char(b, (char)cp);
	} else if (cp < 0x800) {
		buf_append_char(b, (char)(0xc0 | (cp >> 6)));
		buf_append_char(b, (char)(0x80 | (cp & 0x3f)));
	} else {
		buf_append_char(b, (char)(0xe0 | (cp >> 12)));
		buf_append_char(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
		buf_append_char(b, (char)(0x80 | (cp & 0x3f)));
	}
}

/* \uXXXX: an extension over the reference, which only knows \xXX. */
static int conf_escape_unicode(struct conf_lex *lx, struct buf *out)
{
	uint32_t cp = 0;
	for (size_t i = 0; i < 4; i++) {
		int h = conf_hex(conf_peek_at(lx, i));
		if (h < 0)
			return conf_fail(lx, "expected four hexadecimal digits after '\\u'");
		cp = cp * 16 + (uint32_t)h;
	}
	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
		return conf_fail(lx, "invalid unicode escape '\\u%04x'", (unsigned)cp);
	conf_advance(lx, 4);
	conf_put_utf8(out, cp);
	return 0;
}

/* The cursor is on the character after a backslash. */
static int conf_escape(struct conf_lex *lx, struct buf *out)
{
	int c = conf_peek(lx);
	const char *plain = NULL;
	switch (c) {
	case 't': plain = "\t"; break;
	case 'n': plain = "\n"; break;
	case 'r': plain = "\r"; break;
	case '"': plain = "\""; break;
	case '\\': plain = "\\"; break;
	case 'x': {
		int h1 = conf_hex(conf_peek_at(lx, 1)), h2 = conf_hex(conf_peek_at(lx, 2));
		if (h1 < 0 || h2 < 0) {
			conf_advance(lx, 1);
			return conf_fail(lx, "expected two hexadecimal digits after '\\x'");
		}
		buf_append_char(out, (char)(h1 * 16 + h2));
		conf_advance(lx, 3);
		return 0;
	}
	case 'u':
		conf_advance(lx, 1);
		return conf_escape_unicode(lx, out);
	default: {
		char d[8];
		return conf_fail(lx, "invalid escape character %s; allowed are \\xXX, "
				 "\\uXXXX, \\t, \\n, \\r, \\\" and \\\\", conf_describe(lx, d));
	}
	}
	buf_append_str(out, plain);
	conf_advance(lx, 1);
	return 0;
}

/* Turns a finished buffer into a string node. */
static struct conf_node *conf_buf_node(struct conf_lex *lx, struct buf *b,
				       bool quoted, int line, int col)
{
	struct conf_node *n = NULL;
	if (b->oom)
		conf_fail(lx, "out of memory");
	else
		n = conf_string_new(lx, CONF_STRING, b->len ? b->data : "", b->len,
				    line, col);
	if (n != NULL)
		n->quoted = quoted;
	buf_free(b);
	return n;
}

static struct conf_node *conf_parse_dquote(struct conf_lex *lx, int line, int col)
{
	struct buf b;
	buf_init(&b, lx->ps->mem);
	int sline = lx->line, scol = conf_col(lx);
	conf_advance(lx, 1);
	for (;;) {
		size_t span = 0;
		while (lx->pos + span < lx->len && lx->text[lx->pos + span] != '"' &&
		       lx->text[lx->pos + span] != '\\')
			span++;
		if (span > 0)  /* buf_append of nothing on an empty buf is unsafe */
			buf_append(&b, lx->text + lx->pos, span);
		conf_advance(lx, span);
		int c = conf_peek(lx);
		if (c < 0) {
			buf_free(&b);
			conf_fail_at(lx, sline, scol, "unterminated quoted string");
			return NULL;
		}
		conf_advance(lx, 1);
		if (c == '"')
			break;
		if (conf_escape(lx, &b) < 0) {
			buf_free(&b);
			return NULL;
		}
	}
	return conf_buf_node(lx, &b, true, line, col);
}

/* 'raw string': no escapes, no variables. */
static struct conf_node *conf_parse_squote(struct conf_lex *lx, int line, int col)
{
	int sline = lx->line, scol = conf_col(lx);
	const char *start = lx->text + lx->pos + 1;
	const char *end = memchr(start, '\'', lx->len - lx->pos - 1);
	if (end == NULL) {
		conf_fail_at(lx, sline, scol, "unterminated quoted string");
		return NULL;
	}
	struct conf_node *n = conf_string_new(lx, CONF_STRING, start, (size_t)(end - start),
					      line, col);
	if (n != NULL)
		n->quoted = true;
	conf_advance(lx, (size_t)(end - start) + 2);
	return n;
}

/* key ( raw text ): ends at a ')' alone at the start of a line. */
static struct conf_node *conf_parse_block(struct conf_lex *lx, int line, int col)
{
	int sline = lx->line, scol = conf_col(lx);
	size_t start = lx->pos + 1;
	for (size_t i = start; i < lx->len; i++) {
		if (lx->text[i] != ')' || lx->text[i - 1] != '\n')
			continue;
		if (i + 1 < lx->len && lx->text[i + 1] != '\n')
			continue;
		struct conf_node *n = conf_string_new(lx, CONF_STRING, lx->text + start,
						      i - start, line, col);
		if (n != NULL)
			n->quoted = true;
		conf_advance(lx, i + 1 - lx->pos);
		return n;
	}
	conf_fail_at(lx, sline, scol, "unterminated block: expected ')' alone on a line");
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Variables                                                           */

static int conf_parse_env(struct conf_lex *lx, const char *name, const char *value,
			  int line, struct conf_node **out);

static struct conf_node *conf_lookup_scopes(const struct conf_lex *lx, const char *name)
{
	for (size_t s = lx->n_scopes; s-- > 0;) {
		const struct conf_node *m = lx->scopes[s];
		for (size_t i = m->u.map.n; i-- > 0;) {
			if (strcmp(m->u.map.kv[i].key, name) == 0)
				return m->u.map.kv[i].value;
		}
	}
	return NULL;
}

static struct conf_node *conf_resolve_variable(struct conf_lex *lx, const char *name,
					       int line, int col)
{
	/* $2a$... is a bcrypt hash written without quotes. */
	if (strncmp(name, "2a$", 3) == 0) {
		struct conf_node *n = conf_string_new(lx, CONF_STRING, name - 1,
						      strlen(name) + 1, line, col);
		return n;
	}
	struct conf_node *found = conf_lookup_scopes(lx, name);
	if (found != NULL) {
		if (lx->depth + conf_node_height(found) > CONF_DEPTH_MAX) {
			conf_fail_at(lx, line, col, "variable '%s' nests too deeply "
				     "(more than %d levels)", name, CONF_DEPTH_MAX);
			return NULL;
		}
		struct conf_node *n = conf_node_copy(lx, found);
		if (n == NULL)
			return NULL;
		found->used_as_var = true;
		n->file = lx->file;
		n->line = line;
		n->col = col;
		return n;
	}
	const struct conf_io *io = lx->ps->io;
	const char *env = io != NULL && io->get_env != NULL ? io->get_env(io->arg, name) : NULL;
	if (env != NULL) {
		struct conf_node *n = NULL;
		if (conf_parse_env(lx, name, env, line, &n) < 0)
			return NULL;
		if (n != NULL) {
			conf_node_relocate(n, lx->file, line, col);
			return n;
		}
	}
	conf_fail_at(lx, line, col, "variable reference for '%s' on line %d can not be found",
		     name, line);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Bare strings, booleans and numbers                                  */

/* What ends an unquoted string. */
static bool conf_bare_end(int c)
{
	return c < 0 || conf_is_nl(c) || conf_is_ws(c) || c == ';' || c == ',' ||
	       c == ']' || c == '}';
}

/* ASCII case-insensitive comparison of s[0..len) with a lower-case word. */
static bool conf_word_equal(const char *s, size_t len, const char *word)
{
	if (strlen(word) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
		if (c != word[i])
			return false;
	}
	return true;
}

static int conf_bool_value(const char *s, size_t len)
{
	static const struct { char word[6]; int value; } words[] = {
		{ "true", 1 }, { "yes", 1 }, { "on", 1 },
		{ "false", 0 }, { "no", 0 }, { "off", 0 },
	};
	for (size_t i = 0; i < ARRAY_LEN(words); i++) {
		if (conf_word_equal(s, len, words[i].word))
			return words[i].value;
	}
	return -1;
}

static struct conf_node *conf_bare_node(struct conf_lex *lx, struct buf *b,
					bool escaped, int line, int col)
{
	const char *s = b->data != NULL ? b->data : "";
	int bv = escaped ? -1 : conf_bool_value(s, b->len);
	if (bv >= 0) {
		struct conf_node *n = conf_node_new(lx, CONF_BOOL, line, col);
		if (n != NULL) {
			n->u.b = bv == 1;
			n->raw = conf_strndup(lx, s, b->len);
			if (n->raw == NULL) {
				conf_node_free(lx->ps->mem, n);
				n = NULL;
			}
		}
		buf_free(b);
		return n;
	}
	if (!escaped && b->len > 0 && s[0] == '$') {
		struct conf_node *n = NULL;
		if (strlen(s) != b->len)
			conf_fail_at(lx, line, col, "invalid variable name");
		else
			n = conf_resolve_variable(lx, s + 1, line, col);
		buf_free(b);
		return n;
	}
	return conf_buf_node(lx, b, false, line, col);
}

/* An unquoted string: ends at white space, a new line, ';', ',', ']' or
 * '}'; a single quote ends it too and is dropped (reference behaviour). */
static struct conf_node *conf_parse_bare(struct conf_lex *lx, int line, int col)
{
	struct buf b;
	buf_init(&b, lx->ps->mem);
	bool escaped = false;
	int vline = lx->line, vcol = conf_col(lx);
	for (;;) {
		size_t span = 0;
		while (lx->pos + span < lx->len) {
			int c = (unsigned char)lx->text[lx->pos + span];
			if (conf_bare_end(c) || c == '\\' || c == '\'')
				break;
			span++;
		}
		if (span > 0)
			buf_append(&b, lx->text + lx->pos, span);
		conf_advance(lx, span);
		int c = conf_peek(lx);
		if (c == '\'') {
			conf_advance(lx, 1);
			break;
		}
		if (c != '\\')
			break;
		conf_advance(lx, 1);
		escaped = true;
		if (conf_escape(lx, &b) < 0) {
			buf_free(&b);
			return NULL;
		}
	}
	if (b.len == 0 && !escaped) {
		char d[8];
		buf_free(&b);
		conf_fail_at(lx, vline, vcol, "expected a value but got %s",
			     conf_describe(lx, d));
		return NULL;
	}
	return conf_bare_node(lx, &b, escaped, line, col);
}

/* What ends a number.  ']' is included, unlike the reference, so that
 * [1, 2] works without a space before the bracket. */
static bool conf_number_end(int c)
{
	return c < 0 || conf_is_nl(c) || conf_is_ws(c) || c == ';' || c == ',' ||
	       c == ']' || c == '}';
}

static bool conf_is_suffix(int c)
{
	return c >= 0 && c < 128 && strchr("kKmMgGtTpPeE", c) != NULL;
}

static const struct {
	char suffix[4];
	int64_t mult;
} conf_suffixes[] = {
	{ "", 1 },
	{ "k", 1000LL }, { "kb", 1LL << 10 }, { "ki", 1LL << 10 }, { "kib", 1LL << 10 },
	{ "m", 1000000LL }, { "mb", 1LL << 20 }, { "mi", 1LL << 20 }, { "mib", 1LL << 20 },
	{ "g", 1000000000LL }, { "gb", 1LL << 30 }, { "gi", 1LL << 30 },
	{ "gib", 1LL << 30 },
	{ "t", 1000000000000LL }, { "tb", 1LL << 40 }, { "ti", 1LL << 40 },
	{ "tib", 1LL << 40 },
	{ "p", 1000000000000000LL }, { "pb", 1LL << 50 }, { "pi", 1LL << 50 },
	{ "pib", 1LL << 50 },
	{ "e", 1000000000000000000LL }, { "eb", 1LL << 60 }, { "ei", 1LL << 60 },
	{ "eib", 1LL << 60 },
};

static int64_t conf_suffix_mult(const char *s, size_t len)
{
	char low[4];
	if (len >= sizeof(low))
		return 0;
	for (size_t i = 0; i < len; i++)
		low[i] = (char)(s[i] | 0x20);
	low[len] = '\0';
	for (size_t i = 0; i < ARRAY_LEN(conf_suffixes); i++) {
		if (strcmp(conf_suffixes[i].suffix, low) == 0)
			return conf_suffixes[i].mult;
	}
	return 0;
}

/* Decimal digits with an optional sign into an int64; false on overflow. */
static bool conf_parse_i64(const char *s, size_t len, int64_t *out)
{
	bool neg = len > 0 && s[0] == '-';
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	uint64_t v = 0;
	for (size_t i = neg ? 1 : 0; i < len; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (limit - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

/* Integer token text[start..end): digits and an optional size suffix. */
static struct conf_node *conf_make_int(struct conf_lex *lx, size_t start, size_t end,
				       int line, int col)
{
	const char *s = lx->text + start;
	size_t len = end - start, ndig = s[0] == '-' ? 1 : 0;
	while (ndig < len && conf_is_digit(s[ndig]))
		ndig++;
	int64_t v, mult = conf_suffix_mult(s + ndig, len - ndig);
	if (mult == 0) {
		conf_fail_at(lx, line, col, "invalid size suffix in '%.*s'", (int)len, s);
		return NULL;
	}
	if (!conf_parse_i64(s, ndig, &v) || (v > 0 && v > INT64_MAX / mult) ||
	    (v < 0 && v < INT64_MIN / mult)) {
		conf_fail_at(lx, line, col, "integer '%.*s' is out of the range", (int)len, s);
		return NULL;
	}
	struct conf_node *n = conf_node_new(lx, CONF_INT, line, col);
	if (n == NULL)
		return NULL;
	n->u.i = v * mult;
	n->has_suffix = ndig < len;
	n->raw = conf_strndup(lx, s, len);
	if (n->raw == NULL) {
		conf_node_free(lx->ps->mem, n);
		return NULL;
	}
	lx->pos = end;  /* no new lines inside a number */
	return n;
}

static struct conf_node *conf_make_float(struct conf_lex *lx, size_t start, size_t end,
					 int line, int col)
{
	struct conf_node *n = conf_node_new(lx, CONF_FLOAT, line, col);
	if (n == NULL)
		return NULL;
	n->raw = conf_strndup(lx, lx->text + start, end - start);
	if (n->raw == NULL) {
		conf_node_free(lx->ps->mem, n);
		return NULL;
	}
	/* Only digits, '-' and '.' reach here, so strtod sees plain decimal. */
	n->u.f = strtod(n->raw, NULL);
	if (!isfinite(n->u.f)) {
		conf_fail_at(lx, line, col, "float '%s' is out of the range", n->raw);
		conf_node_free(lx->ps->mem, n);
		return NULL;
	}
	lx->pos = end;
	return n;
}

static int conf_days_in_month(int year, int month)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return month == 2 && leap ? 29 : days[month - 1];
}

/* YYYY-MM-DDTHH:MM:SSZ, the only date form the reference accepts. */
static struct conf_node *conf_parse_datetime(struct conf_lex *lx, size_t start,
					     int line, int col)
{
	static const char form[] = "0000-00-00T00:00:00Z";
	const char *s = lx->text + start;
	size_t n = sizeof(form) - 1;
	for (size_t i = 0; i < n; i++) {
		char c = start + i < lx->len ? s[i] : '\0';
		bool ok = form[i] == '0' ? conf_is_digit(c) : c == form[i];
		if (!ok) {
			char what[16];
			snprintf(what, sizeof(what), form[i] == '0' ? "a digit" : "'%c'",
				 form[i]);
			lx->pos = start + i < lx->len ? start + i : lx->len;
			conf_fail(lx, "expected %s in ISO8601 datetime", what);
			return NULL;
		}
	}
	int v[6];
	for (int i = 0; i < 6; i++) {
		const char *p = s + (i == 0 ? 0 : 2 + 3 * i);
		v[i] = i == 0 ? atoi(p) : (p[0] - '0') * 10 + (p[1] - '0');
	}
	if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > conf_days_in_month(v[0], v[1]) ||
	    v[3] > 23 || v[4] > 59 || v[5] > 59) {
		conf_fail_at(lx, line, col, "expected Zulu formatted DateTime, but got '%.*s'",
			     (int)n, s);
		return NULL;
	}
	struct conf_node *node = conf_string_new(lx, CONF_DATETIME, s, n, line, col);
	if (node != NULL)
		lx->pos = start + n;
	return node;
}

/* After "digits." : a float, or an IPv4-ish address kept as a string. */
static struct conf_node *conf_parse_float_or_ip(struct conf_lex *lx, size_t start,
						size_t dot, int line, int col)
{
	size_t p = dot + 1;
	if (p >= lx->len || !conf_is_digit(lx->text[p])) {
		lx->pos = p < lx->len ? p : lx->len;
		conf_fail(lx, "floats must have a digit after the '.'");
		return NULL;
	}
	while (p < lx->len && conf_is_digit(lx->text[p]))
		p++;
	if (p >= lx->len || lx->text[p] != '.')
		return conf_make_float(lx, start, p, line, col);
	while (p < lx->len && (conf_is_digit(lx->text[p]) || lx->text[p] == '.' ||
			       lx->text[p] == ':' || lx->text[p] == '-'))
		p++;
	struct conf_node *n = conf_string_new(lx, CONF_STRING, lx->text + start, p - start,
					      line, col);
	if (n != NULL)
		lx->pos = p;
	return n;
}

/* A number with a size suffix ("1k", "2MB"), or a string such as "30s"
 * or "500ms" that merely starts like one.  p is on the suffix letter. */
static struct conf_node *conf_parse_suffixed(struct conf_lex *lx, size_t start, size_t p,
					     int line, int col)
{
	p++;
	while (p < lx->len && strchr("bBiI", lx->text[p]) != NULL)
		p++;
	int c = p < lx->len ? (unsigned char)lx->text[p] : -1;
	if (conf_number_end(c) || conf_is_digit(c))
		return conf_make_int(lx, start, p, line, col);
	return conf_parse_bare(lx, line, col);
}

/* Something starting with a digit: integer, float, datetime, IP address
 * or, failing those, a bare string ("10mins", "1h30m", "4222abc"). */
static struct conf_node *conf_parse_number(struct conf_lex *lx, int line, int col)
{
	size_t start = lx->pos, p = start;
	bool neg = lx->text[p] == '-';
	if (neg) {
		p++;
		if (p >= lx->len || !conf_is_digit(lx->text[p])) {
			conf_advance(lx, 1);
			conf_fail(lx, "expected a digit after '-'");
			return NULL;
		}
	}
	while (p < lx->len && conf_is_digit(lx->text[p]))
		p++;
	int c = p < lx->len ? (unsigned char)lx->text[p] : -1;
	if (c == '-' && !neg) {
		if (p - start == 4)
			return conf_parse_datetime(lx, start, line, col);
		conf_fail_at(lx, line, col, "all ISO8601 dates must be in full Zulu form");
		return NULL;
	}
	if (c == '.')
		return conf_parse_float_or_ip(lx, start, p, line, col);
	if (conf_is_suffix(c))
		return conf_parse_suffixed(lx, start, p, line, col);
	if (neg || conf_number_end(c))
		return conf_make_int(lx, start, p, line, col);
	return conf_parse_bare(lx, line, col);
}

/* ------------------------------------------------------------------ */
/* Arrays and maps                                                     */

static int conf_enter(struct conf_lex *lx)
{
	if (lx->depth >= CONF_DEPTH_MAX)
		return conf_fail(lx, "maps and arrays nested too deeply (more than %d levels)",
				 CONF_DEPTH_MAX);
	lx->depth++;
	return 0;
}

/* After an array element: ',' or a new line, or the closing ']'. */
static int conf_array_value_end(struct conf_lex *lx)
{
	conf_skip_ws(lx);
	int c = conf_peek(lx);
	if (conf_at_comment(lx)) {
		conf_skip_comment(lx);
		return 0;
	}
	if (c == ',' || conf_is_nl(c)) {
		conf_advance(lx, 1);
		return 0;
	}
	if (c == ']')
		return 0;
	char d[8];
	return conf_fail(lx, "expected an array value terminator ',' or an array "
			 "terminator ']', but got %s", conf_describe(lx, d));
}

static int conf_array_items(struct conf_lex *lx, struct conf_node *arr, int sline, int scol)
{
	for (;;) {
		conf_skip_space(lx);
		int c = conf_peek(lx);
		if (conf_at_comment(lx)) {
			conf_skip_comment(lx);
			continue;
		}
		if (c < 0)
			return conf_fail_at(lx, sline, scol, "array is not closed with ']'");
		if (c == ',')
			return conf_fail(lx, "unexpected array value terminator ','");
		if (c == ']') {
			conf_advance(lx, 1);
			return 0;
		}
		struct conf_node *item = conf_parse_value(lx, lx->line, conf_col(lx));
		if (item == NULL || conf_array_push(lx, arr, item) < 0) {
			conf_node_free(lx->ps->mem, item);
			return -1;
		}
		if (conf_array_value_end(lx) < 0)
			return -1;
	}
}

static struct conf_node *conf_parse_array(struct conf_lex *lx, int line, int col)
{
	int sline = lx->line, scol = conf_col(lx);
	if (conf_enter(lx) < 0)
		return NULL;
	struct conf_node *arr = conf_node_new(lx, CONF_ARRAY, line, col);
	conf_advance(lx, 1);
	if (arr != NULL && conf_array_items(lx, arr, sline, scol) < 0) {
		conf_node_free(lx->ps->mem, arr);
		arr = NULL;
	}
	lx->depth--;
	return arr;
}

static struct conf_node *conf_parse_map(struct conf_lex *lx, int line, int col)
{
	if (conf_enter(lx) < 0)
		return NULL;
	struct conf_node *map = conf_node_new(lx, CONF_MAP, line, col);
	conf_advance(lx, 1);
	if (map != NULL) {
		ASSERT(lx->n_scopes < ARRAY_LEN(lx->scopes));
		lx->scopes[lx->n_scopes++] = map;
		int rc = conf_parse_body(lx, map, CONF_CTX_MAP);
		lx->n_scopes--;
		if (rc < 0) {
			conf_node_free(lx->ps->mem, map);
			map = NULL;
		}
	}
	lx->depth--;
	return map;
}

/* Any value; line/col is the position given to the node (the key's for
 * map entries, like the reference's error positions). */
static struct conf_node *conf_parse_value(struct conf_lex *lx, int line, int col)
{
	int c = conf_peek(lx);
	char d[8];
	switch (c) {
	case '[':
		return conf_parse_array(lx, line, col);
	case '{':
		return conf_parse_map(lx, line, col);
	case '\'':
		return conf_parse_squote(lx, line, col);
	case '"':
		return conf_parse_dquote(lx, line, col);
	case '(':
		return conf_parse_block(lx, line, col);
	case '.':
		conf_fail(lx, "floats must start with a digit");
		return NULL;
	case -1:
	case '\n':
	case '\r':
		conf_fail(lx, "expected a value but found %s", conf_describe(lx, d));
		return NULL;
	default:
		break;
	}
	if (c == '-' || conf_is_digit(c))
		return conf_parse_number(lx, line, col);
	return conf_parse_bare(lx, line, col);
}

/* ------------------------------------------------------------------ */
/* Keys, entries and includes                                          */

static int conf_include(struct conf_lex *lx, struct conf_node *map, const char *path,
			int line, int col);

/* After a value in a map or at top level. */
static int conf_value_end(struct conf_lex *lx, enum conf_ctx ctx, const char *key)
{
	conf_skip_ws(lx);
	int c = conf_peek(lx);
	if (conf_at_comment(lx)) {
		conf_skip_comment(lx);
		return 0;
	}
	if (c < 0 || (ctx == CONF_CTX_MAP && c == '}'))
		return 0;
	if (conf_is_nl(c) || c == ';' || c == ',' || c == '}') {
		conf_advance(lx, 1);
		return 0;
	}
	char d[8];
	return conf_fail(lx, "expected a new line, ';', ',' or comment after the value "
			 "of \"%s\", but got %s", key, conf_describe(lx, d));
}

/* Reads a quoted or bare key; *is_include when it is the include keyword. */
static char *conf_parse_key(struct conf_lex *lx, bool *is_include)
{
	int q = conf_peek(lx);
	*is_include = false;
	if (q == '"' || q == '\'') {
		const char *start = lx->text + lx->pos + 1;
		const char *end = memchr(start, q, lx->len - lx->pos - 1);
		if (end == NULL) {
			conf_fail(lx, "unterminated quoted key");
			return NULL;
		}
		char *key = conf_strndup(lx, start, (size_t)(end - start));
		conf_advance(lx, (size_t)(end - start) + 2);
		return key;
	}
	size_t start = lx->pos;
	while (lx->pos < lx->len && conf_space_len(lx) == 0 &&
	       lx->text[lx->pos] != '=' && lx->text[lx->pos] != ':')
		lx->pos++;
	size_t len = lx->pos - start;
	*is_include = len == 7 && conf_space_len(lx) > 0 &&
		      conf_word_equal(lx->text + start, len, "include");
	return conf_strndup(lx, lx->text + start, len);
}

/* include path | include "path" | include 'path' */
static int conf_parse_include(struct conf_lex *lx, struct conf_node *map,
			      enum conf_ctx ctx, int line, int col)
{
	conf_skip_ws(lx);
	int c = conf_peek(lx);
	char d[8];
	size_t start = lx->pos, end;
	if (c == '"' || c == '\'') {
		const char *q = memchr(lx->text + start + 1, c, lx->len - start - 1);
		if (q == NULL)
			return conf_fail(lx, "unterminated quoted include path");
		start++;
		end = (size_t)(q - lx->text);
	} else {
		if (c < 0 || conf_is_nl(c) || c == '[' || c == '{' || c == '(' ||
		    conf_is_digit(c) || c == '-' || c == '\\' || c == ';' || c == '}')
			return conf_fail(lx, "expected an include path but found %s",
					 conf_describe(lx, d));
		end = start;
		while (end < lx->len && !conf_is_nl(lx->text[end]) && !conf_is_ws(lx->text[end]) &&
		       lx->text[end] != ';' && lx->text[end] != '}' && lx->text[end] != '\'')
			end++;
	}
	char *path = conf_strndup(lx, lx->text + start, end - start);
	if (path == NULL)
		return -1;
	bool closing = end < lx->len && (lx->text[end] == '"' || lx->text[end] == '\'');
	conf_advance(lx, end - lx->pos + (closing ? 1 : 0));
	int rc = conf_include(lx, map, path, line, col);
	mem_free(lx->ps->mem, path);
	if (rc < 0)
		return -1;
	return conf_value_end(lx, ctx, "include");
}

/* key [=|:] value, at top level or inside a map. */
static int conf_parse_entry(struct conf_lex *lx, struct conf_node *map, enum conf_ctx ctx)
{
	int line = lx->line, col = conf_col(lx);
	bool is_include;
	char *key = conf_parse_key(lx, &is_include);
	if (key == NULL)
		return -1;
	if (is_include) {
		mem_free(lx->ps->mem, key);
		return conf_parse_include(lx, map, ctx, line, col);
	}
	conf_skip_space(lx);
	int c = conf_peek(lx);
	if (c == '=' || c == ':') {
		conf_advance(lx, 1);
		if (ctx == CONF_CTX_TOP)
			conf_skip_ws(lx);
		else
			conf_skip_space(lx);
		c = conf_peek(lx);
	}
	if (c < 0 || conf_is_nl(c) || c == ';' || c == ',' || c == '}' || c == ']') {
		conf_fail_at(lx, line, col, "expected a value after key \"%s\"", key);
		mem_free(lx->ps->mem, key);
		return -1;
	}
	struct conf_node *value = conf_parse_value(lx, line, col);
	if (value == NULL) {
		mem_free(lx->ps->mem, key);
		return -1;
	}
	if (conf_map_push(lx, map, key, value) < 0)
		return -1;
	return conf_value_end(lx, ctx, map->u.map.kv[map->u.map.n - 1].key);
}

/* Entries of the top level (ctx TOP, ends at end of input) or of a map
 * whose '{' was consumed (ends at its '}'). */
static int conf_parse_body(struct conf_lex *lx, struct conf_node *map, enum conf_ctx ctx)
{
	int sline = lx->line, scol = conf_col(lx) - 1;
	for (;;) {
		conf_skip_space(lx);
		int c = conf_peek(lx);
		if (c < 0) {
			if (ctx == CONF_CTX_TOP)
				return 0;
			return conf_fail_at(lx, sline, scol, "map is not closed with '}'");
		}
		if (conf_at_comment(lx)) {
			conf_skip_comment(lx);
			continue;
		}
		/* The whole file may be wrapped in { }. */
		if (ctx == CONF_CTX_TOP && (c == '{' || c == '}')) {
			conf_advance(lx, 1);
			continue;
		}
		if (c == '}') {
			conf_advance(lx, 1);
			return 0;
		}
		if (c == ']')
			return conf_fail(lx, "unexpected ']' where a key was expected");
		if (c == '=' || c == ':')
			return conf_fail(lx, "unexpected key separator '%c'", c);
		if (conf_parse_entry(lx, map, ctx) < 0)
			return -1;
	}
}

/* ------------------------------------------------------------------ */
/* Sources: files, includes and environment values                     */

static const char *conf_io_error(int rc)
{
	switch (rc) {
	case ENV_ENOENT: return "no such file or directory";
	case ENV_EIO: return "input/output error";
	case ENV_ENOMEM: return "out of memory";
	case ENV_EINVAL: return "invalid argument";
	default: return "cannot read file";
	}
}

/* Lexically cleans a path like Go's path.Clean ("a/./b/../c" -> "a/c"). */
static void conf_path_clean(char *p)
{
	bool abs = p[0] == '/';
	char *out = p, *r = p;
	size_t keep = 0;   /* segments that ".." may remove */
	while (*r != '\0') {
		while (*r == '/')
			r++;
		char *seg = r;
		while (*r != '\0' && *r != '/')
			r++;
		size_t n = (size_t)(r - seg);
		if (n == 0 || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.' && keep > 0) {
			while (out > p && *--out != '/')
				;
			keep--;
			continue;
		}
		if (n == 2 && seg[0] == '.' && seg[1] == '.' && abs)
			continue;
		if (out > p || abs)
			*out++ = '/';
		memmove(out, seg, n);
		out += n;
		if (!(n == 2 && seg[0] == '.' && seg[1] == '.'))
			keep++;
	}
	if (out == p)
		*out++ = abs ? '/' : '.';
	*out = '\0';
}

/* dir(base)/rel, cleaned; rel is used as given when absolute. */
static char *conf_path_join(struct conf_lex *lx, const char *base, const char *rel)
{
	const char *slash = strrchr(base, '/');
	size_t dlen = rel[0] == '/' || slash == NULL ? 0 : (size_t)(slash - base) + 1;
	size_t rlen = strlen(rel);
	char *p = mem_alloc(lx->ps->mem, dlen + rlen + 1);
	if (p == NULL) {
		conf_fail(lx, "out of memory");
		return NULL;
	}
	memcpy(p, base, dlen);
	memcpy(p + dlen, rel, rlen + 1);
	conf_path_clean(p);
	return p;
}

/* Adds a file name to the document's table; returns the stored copy. */
static const char *conf_add_file(struct conf_parser *ps, const char *name)
{
	struct conf_doc *doc = ps->doc;
	for (size_t i = 0; i < doc->nfiles; i++) {
		if (strcmp(doc->files[i], name) == 0)
			return doc->files[i];
	}
	char **files = mem_realloc(ps->mem, doc->files, (doc->nfiles + 1) * sizeof(*files));
	if (files == NULL)
		return NULL;
	doc->files = files;
	files[doc->nfiles] = mem_strdup(ps->mem, name);
	if (files[doc->nfiles] == NULL)
		return NULL;
	return files[doc->nfiles++];
}

static void conf_lex_init(struct conf_lex *lx, struct conf_parser *ps, const char *file,
			  const char *text, size_t len)
{
	memset(lx, 0, sizeof(*lx));
	lx->ps = ps;
	lx->file = file;
	lx->dir_file = file;
	lx->text = text;
	lx->len = len;
	lx->line = 1;
}

/* Parses a whole source into root (a fresh map), which is its only scope. */
static int conf_parse_source(struct conf_lex *lx, struct conf_node *root)
{
	const char *nul = memchr(lx->text, '\0', lx->len);
	if (nul != NULL) {
		conf_advance(lx, (size_t)(nul - lx->text));
		return conf_fail(lx, "NUL byte in configuration text");
	}
	lx->scopes[0] = root;
	lx->n_scopes = 1;
	return conf_parse_body(lx, root, CONF_CTX_TOP);
}

static int conf_read(struct conf_lex *lx, const char *path, char **data, size_t *len,
		     int line, int col)
{
	const struct conf_io *io = lx->ps->io;
	if (io == NULL || io->read_file == NULL)
		return conf_fail_at(lx, line, col, "error parsing include file '%s': "
				    "no file access", path);
	int rc = io->read_file(io->arg, lx->ps->mem, path, data, len);
	if (rc < 0)
		return conf_fail_at(lx, line, col, "error parsing include file '%s': %s",
				    path, conf_io_error(rc));
	if (*data == NULL)
		*len = 0;
	if (*len > CONF_FILE_BYTES_MAX) {
		mem_free(lx->ps->mem, *data);
		return conf_fail_at(lx, line, col, "include file '%s' is too large", path);
	}
	return 0;
}

static int conf_check_include(struct conf_lex *lx, const char *full, int line, int col)
{
	struct conf_parser *ps = lx->ps;
	if (lx->nest >= CONF_NEST_MAX)
		return conf_fail_at(lx, line, col, "includes nested too deeply (more than %d)",
				    CONF_NEST_MAX);
	for (size_t i = 0; i < ps->n_stack; i++) {
		if (strcmp(ps->stack[i], full) == 0)
			return conf_fail_at(lx, line, col, "include cycle: '%s' is already "
					    "being parsed", full);
	}
	if (ps->files_read >= CONF_FILES_MAX)
		return conf_fail_at(lx, line, col, "too many included files (more than %d)",
				    CONF_FILES_MAX);
	return 0;
}

/* Moves the entries of an included root into map. */
static int conf_merge(struct conf_lex *lx, struct conf_node *map, struct conf_node *inc)
{
	size_t n = map->u.map.n + inc->u.map.n;
	if (inc->u.map.n > 0) {
		struct conf_kv *kv = mem_realloc(lx->ps->mem, map->u.map.kv, n * sizeof(*kv));
		if (kv == NULL)
			return conf_fail(lx, "out of memory");
		memcpy(kv + map->u.map.n, inc->u.map.kv, inc->u.map.n * sizeof(*kv));
		map->u.map.kv = kv;
		map->u.map.n = n;
		inc->u.map.n = 0;
	}
	return 0;
}

static int conf_include_text(struct conf_lex *lx, struct conf_node *map, const char *name,
			     const char *text, size_t len)
{
	struct conf_parser *ps = lx->ps;
	struct conf_lex *child = mem_alloc(ps->mem, sizeof(*child));
	if (child == NULL)
		return conf_fail(lx, "out of memory");
	conf_lex_init(child, ps, name, text, len);
	child->depth = lx->depth;
	child->nest = lx->nest + 1;
	struct conf_node *root = conf_node_new(child, CONF_MAP, 1, 1);
	int rc = root == NULL ? -1 : conf_parse_source(child, root);
	if (rc == 0)
		rc = conf_merge(lx, map, root);
	conf_node_free(ps->mem, root);
	mem_free(ps->mem, child);
	return rc;
}

static int conf_include(struct conf_lex *lx, struct conf_node *map, const char *path,
			int line, int col)
{
	struct conf_parser *ps = lx->ps;
	char *full = conf_path_join(lx, lx->dir_file, path);
	if (full == NULL)
		return -1;
	char *data = NULL;
	size_t len = 0;
	int rc = conf_check_include(lx, full, line, col);
	if (rc == 0)
		rc = conf_read(lx, full, &data, &len, line, col);
	if (rc == 0) {
		ps->files_read++;
		const char *name = conf_add_file(ps, full);
		if (name == NULL) {
			rc = conf_fail(lx, "out of memory");
		} else {
			ASSERT(ps->n_stack < ARRAY_LEN(ps->stack));
			ps->stack[ps->n_stack++] = name;
			rc = conf_include_text(lx, map, name, data != NULL ? data : "", len);
			ps->n_stack--;
		}
		mem_free(ps->mem, data);
	}
	mem_free(ps->mem, full);
	return rc;
}

/* An environment value is parsed as the value of a one-key document. */
static int conf_parse_env(struct conf_lex *lx, const char *name, const char *value,
			  int line, struct conf_node **out)
{
	struct conf_parser *ps = lx->ps;
	/* "pk=" alone would be a key without a value: an empty variable is
	 * the empty string, as in the reference. */
	if (value[0] == '\0') {
		*out = conf_string_new(lx, CONF_STRING, "", 0, line, conf_col(lx));
		return *out == NULL ? -1 : 0;
	}
	if (lx->nest >= CONF_NEST_MAX)
		return conf_fail(lx, "variable '%s' nests too deeply through the environment",
				 name);
	size_t vlen = strlen(value);
	if (vlen > CONF_FILE_BYTES_MAX)
		return conf_fail(lx, "environment variable '%s' is too large", name);
	struct buf text, err, *saved = ps->err;
	buf_init(&text, ps->mem);
	buf_init(&err, ps->mem);
	buf_appendf(&text, "pk=%s", value);
	struct conf_lex *child = mem_alloc(ps->mem, sizeof(*child));
	struct conf_node *root = NULL;
	int rc = -1;
	if (child != NULL && !text.oom) {
		char fname[80];
		snprintf(fname, sizeof(fname), "$%.60s", name);
		conf_lex_init(child, ps, fname, text.data, text.len);
		child->dir_file = lx->dir_file;
		child->depth = lx->depth;
		child->nest = lx->nest + 1;
		ps->err = &err;
		root = conf_node_new(child, CONF_MAP, 1, 1);
		rc = root == NULL ? -1 : conf_parse_source(child, root);
		ps->err = saved;
	}
	if (rc == 0 && root->u.map.n > 0 && strcmp(root->u.map.kv[0].key, "pk") == 0) {
		*out = root->u.map.kv[0].value;
		root->u.map.kv[0].value = NULL;
	} else if (rc < 0) {
		ps->failed = false;
		conf_fail(lx, "variable reference for '%s' on line %d could not be parsed: %s",
			  name, line, err.data != NULL ? err.data : "out of memory");
	}
	conf_node_free(ps->mem, root);
	mem_free(ps->mem, child);
	buf_free(&text);
	buf_free(&err);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */

int conf_parse_text(struct conf_doc *doc, struct mem *mem, const struct conf_io *io,
		    const char *name, const char *text, size_t len, struct buf *err)
{
	memset(doc, 0, sizeof(*doc));
	doc->mem = mem;
	if (text == NULL) {
		text = "";
		len = 0;
	}
	struct conf_parser ps = { .doc = doc, .mem = mem, .io = io, .err = err };
	struct conf_lex *lx = mem_alloc(mem, sizeof(*lx));
	const char *fname = conf_add_file(&ps, name != NULL ? name : "<config>");
	int rc = -1;
	if (lx == NULL || fname == NULL) {
		buf_appendf(err, "%s: out of memory", name != NULL ? name : "<config>");
	} else if (len > CONF_FILE_BYTES_MAX) {
		buf_appendf(err, "%s: configuration file is too large", fname);
	} else {
		conf_lex_init(lx, &ps, fname, text, len);
		ps.stack[ps.n_stack++] = fname;
		doc->root = conf_node_new(lx, CONF_MAP, 1, 1);
		rc = doc->root == NULL ? -1 : conf_parse_source(lx, doc->root);
	}
	mem_free(mem, lx);
	if (rc < 0)
		conf_doc_free(doc);
	return rc;
}

int conf_parse_file(struct conf_doc *doc, struct mem *mem, const struct conf_io *io,
		    const char *path, struct buf *err)
{
	memset(doc, 0, sizeof(*doc));
	doc->mem = mem;
	char *data = NULL;
	size_t len = 0;
	int rc = io != NULL && io->read_file != NULL ?
		 io->read_file(io->arg, mem, path, &data, &len) : ENV_EINVAL;
	if (rc < 0) {
		buf_appendf(err, "%s: error opening config file: %s", path, conf_io_error(rc));
		return -1;
	}
	rc = conf_parse_text(doc, mem, io, path, data, data != NULL ? len : 0, err);
	mem_free(mem, data);
	return rc;
}

void conf_doc_free(struct conf_doc *doc)
{
	if (doc->mem == NULL)
		return;
	conf_node_free(doc->mem, doc->root);
	for (size_t i = 0; i < doc->nfiles; i++)
		mem_free(doc->mem, doc->files[i]);
	mem_free(doc->mem, doc->files);
	struct mem *mem = doc->mem;
	memset(doc, 0, sizeof(*doc));
	doc->mem = mem;
}

static bool conf_key_equal(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		char ca = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
		char cb = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
		if (ca != cb)
			return false;
	}
	return *a == *b;
}

const struct conf_node *conf_map_get(const struct conf_node *map, const char *key)
{
	if (map == NULL || map->type != CONF_MAP)
		return NULL;
	for (size_t i = map->u.map.n; i-- > 0;) {
		if (conf_key_equal(map->u.map.kv[i].key, key))
			return map->u.map.kv[i].value;
	}
	return NULL;
}
