/*
 * json.h - a small JSON reader (token array, no DOM allocation per value) and
 * a JSON writer into a struct buf.
 *
 * Reader: json_parse tokenizes a whole document into one array of tokens
 * (one allocation); values are looked up by token index.  Strings are
 * unescaped on demand.  Depth and size are bounded; invalid JSON is an
 * operating error (returns nonzero with a message), never a crash.
 *
 * Writer: struct jw tracks commas and nesting so callers just emit keys and
 * values; output is compact (no spaces), keys in the order written.
 */
#ifndef LIB_JSON_H
#define LIB_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mem.h"

enum json_type {
	JSON_NULL = 0,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json_tok {
	uint8_t type;       /* enum json_type */
	uint8_t flags;      /* private: escapes present, bool value, ... */
	uint32_t start;     /* byte offset of the raw value (inside quotes for strings) */
	uint32_t len;       /* raw byte length */
	uint32_t count;     /* ARRAY: elements; OBJECT: key/value pairs */
	uint32_t next;      /* index of the token after this value's subtree */
};

struct json_doc {
	const char *text;   /* borrowed input */
	size_t text_len;
	struct json_tok *toks;
	uint32_t ntoks;
	struct mem *mem;
	char error[96];     /* set when json_parse fails */
};

#define JSON_MAX_DEPTH 64

/* Returns 0 on success; on failure doc->error says why and position. */
int json_parse(struct json_doc *doc, struct mem *mem, const char *text,
	       size_t len);
void json_doc_free(struct json_doc *doc);

/* Token 0 is the root.  Lookups return a token index or -1. */
int json_obj_get(const struct json_doc *doc, int obj, const char *key);
/* Like json_obj_get but matches keys the way Go's encoding/json matches
 * struct field names: ASCII letters case-insensitively (plus U+212A KELVIN
 * SIGN for k and U+017F LONG S for s), everything else exactly.  As in Go,
 * each matching key overwrites the previous one, so the last match in the
 * document wins, whether or not it is the exact spelling. */
int json_obj_get_fold(const struct json_doc *doc, int obj, const char *key);
int json_array_at(const struct json_doc *doc, int arr, uint32_t i);
/* Elements of the array at arr (0 when arr is not an array). */
uint32_t json_array_len(const struct json_doc *doc, int arr);
/* Iterate an object: *it = 0 to start; returns key token index or -1; the
 * value is key + 1. */
int json_obj_next(const struct json_doc *doc, int obj, uint32_t *it);
enum json_type json_type_of(const struct json_doc *doc, int tok);

/* Typed reads; return false if the token is missing (-1) or of another
 * type (numbers must be integral and fit for json_get_int). */
bool json_get_bool(const struct json_doc *doc, int tok, bool *out);
bool json_get_int(const struct json_doc *doc, int tok, int64_t *out);
bool json_get_uint(const struct json_doc *doc, int tok, uint64_t *out);
bool json_get_double(const struct json_doc *doc, int tok, double *out);
/* Unescapes the string into out (appended); false if not a string or
 * invalid escape. */
bool json_get_string(const struct json_doc *doc, int tok, struct buf *out);
/* Compares a string token's unescaped value with s. */
bool json_string_eq(const struct json_doc *doc, int tok, const char *s);
/* Raw text of any value (for passing through). */
const char *json_raw(const struct json_doc *doc, int tok, size_t *len);

/* Convenience: lookup key in obj and read. */
bool json_obj_bool(const struct json_doc *d, int obj, const char *k, bool *out);
bool json_obj_int(const struct json_doc *d, int obj, const char *k, int64_t *out);
bool json_obj_string(const struct json_doc *d, int obj, const char *k,
		     struct buf *out);

/* ---- writer ---- */
struct jw {
	struct buf *out;
	uint32_t depth;
	uint64_t need_comma;   /* bit per depth level */
	bool after_key;
};

void jw_init(struct jw *w, struct buf *out);
void jw_obj_begin(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr_begin(struct jw *w);
void jw_arr_end(struct jw *w);
void jw_key(struct jw *w, const char *key);
void jw_str(struct jw *w, const char *s);
void jw_strn(struct jw *w, const char *s, size_t len);
void jw_int(struct jw *w, int64_t v);
void jw_uint(struct jw *w, uint64_t v);
void jw_double(struct jw *w, double v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/* Raw JSON text inserted as a value. */
void jw_raw(struct jw *w, const char *json, size_t len);
/* Appends s JSON-escaped (without quotes) to out; escapes like Go's
 * encoding/json (<, >, & as \u003c etc.). */
void json_escape(struct buf *out, const char *s, size_t len);

#endif
