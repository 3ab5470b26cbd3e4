/*
 * fuzz_json.c - harness for the JSON reader and writer (server/lib/json.h).
 *
 * Input: a JSON document, as a peer would send it (CONNECT, INFO, a
 * JetStream API request).
 *
 * Properties checked for a document that parses:
 *   - the token array is well formed: every token inside the text, every
 *     subtree ends where tok.next says, counts are right, object keys are
 *     strings;
 *   - json_array_at, json_obj_next, json_obj_get (last key wins),
 *     json_obj_get_fold (ASCII case folding) and json_string_eq agree with
 *     a walk of the tokens;
 *   - the typed getters agree with each other (int, uint, double, bool);
 *   - a number read as a double, written with jw_double and read again,
 *     is the same double;
 *   - writing the document back with the jw_* writer gives JSON that
 *     parses to the same shape and the same string values, and writing
 *     that again gives the same bytes (the writer's output is a fixpoint);
 *   - with one allocation made to fail, nothing crashes or leaks;
 *   - no memory is left allocated.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lib/json.h"

/* ---- structure ------------------------------------------------------- */

static void check_tokens(const struct json_doc *d)
{
	FUZZ_CHECK(d->ntoks > 0 && d->toks[0].next == d->ntoks, "root does not span");
	for (uint32_t i = 0; i < d->ntoks; i++) {
		const struct json_tok *t = &d->toks[i];
		FUZZ_CHECK(t->type <= JSON_OBJECT, "token %u: type %u", i, t->type);
		FUZZ_CHECK(i < t->next && t->next <= d->ntoks, "token %u: next %u", i, t->next);
		FUZZ_CHECK((size_t)t->start + t->len <= d->text_len, "token %u outside the text",
			   i);
		if (t->type != JSON_ARRAY && t->type != JSON_OBJECT) {
			FUZZ_CHECK(t->next == i + 1, "scalar %u has children", i);
			continue;
		}
		uint32_t k = i + 1, n = 0;
		while (k < t->next) {
			if (t->type == JSON_OBJECT) {
				FUZZ_CHECK(d->toks[k].type == JSON_STRING, "key %u not a string", k);
				FUZZ_CHECK(d->toks[k].next == k + 1 && k + 1 < t->next,
					   "key %u without value", k);
				k++;
			} else {
				FUZZ_CHECK(json_array_at(d, (int)i, n) == (int)k,
					   "json_array_at(%u, %u)", i, n);
			}
			k = d->toks[k].next;
			n++;
		}
		FUZZ_CHECK(k == t->next && n == t->count, "container %u: %u children, count %u",
			   i, n, t->count);
		if (t->type == JSON_ARRAY)
			FUZZ_CHECK(json_array_at(d, (int)i, n) == -1, "json_array_at past the end");
	}
}

/* ---- lookups --------------------------------------------------------- */

/* Decodes one code point of valid UTF-8 (json_get_string's output). */
static uint32_t utf8_next(const unsigned char *s, size_t len, size_t *i)
{
	unsigned char c = s[*i];
	int n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1fu : n == 3 ? c & 0x0fu : c & 0x07u;
	for (int k = 1; k < n && *i + (size_t)k < len; k++)
		cp = cp << 6 | (s[*i + (size_t)k] & 0x3fu);
	*i += (size_t)n;
	return cp;
}

/* json.h's folding, read directly: ASCII letters either case, and the
 * Kelvin sign and long s for k and s. */
static bool fold_equal(const char *key, size_t klen, const char *ascii)
{
	size_t i = 0, j = 0, alen = strlen(ascii);
	while (i < klen) {
		uint32_t cp = utf8_next((const unsigned char *)key, klen, &i);
		if (j == alen)
			return false;
		char a = ascii[j++];
		char la = (a >= 'A' && a <= 'Z') ? (char)(a + 32) : a;
		bool letter = la >= 'a' && la <= 'z';
		if (cp == (unsigned char)a || (letter && (cp == (uint32_t)la ||
							  cp == (uint32_t)la - 32)))
			continue;
		if ((cp == 0x212a && la == 'k') || (cp == 0x17f && la == 's'))
			continue;
		return false;
	}
	return j == alen;
}

static bool is_ascii_text(const struct buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if (b->data[i] == '\0' || (unsigned char)b->data[i] >= 0x80)
			return false;
	return true;
}

static void decode(const struct json_doc *d, int tok, struct buf *out)
{
	buf_reset(out);
	FUZZ_CHECK(json_get_string(d, tok, out), "json_get_string(%d) failed", tok);
	FUZZ_CHECK(out->data != NULL && out->data[out->len] == '\0',
		   "decoded string not terminated");
}

/* For every key of object obj, the lookups find the last equal key. */
static void check_object(const struct json_doc *d, int obj, struct buf *key,
			 struct buf *other)
{
	uint32_t it = 0;
	int k;
	while ((k = json_obj_next(d, obj, &it)) >= 0) {
		decode(d, k, key);
		if (memchr(key->data, '\0', key->len) != NULL)
			continue;
		FUZZ_CHECK(json_string_eq(d, k, key->data), "json_string_eq(key %d)", k);
		int want = -1, want_fold = -1, k2;
		uint32_t it2 = 0;
		bool ascii = is_ascii_text(key);
		while ((k2 = json_obj_next(d, obj, &it2)) >= 0) {
			decode(d, k2, other);
			if (other->len == key->len && memcmp(other->data, key->data, key->len) == 0)
				want = k2 + 1;
			if (ascii && fold_equal(other->data, other->len, key->data))
				want_fold = k2 + 1;
		}
		FUZZ_CHECK(json_obj_get(d, obj, key->data) == want,
			   "json_obj_get: %d, want %d", json_obj_get(d, obj, key->data), want);
		if (ascii)
			FUZZ_CHECK(json_obj_get_fold(d, obj, key->data) == want_fold,
				   "json_obj_get_fold: %d, want %d",
				   json_obj_get_fold(d, obj, key->data), want_fold);
	}
}

/* ---- scalars --------------------------------------------------------- */

static void check_double_round_trip(double v)
{
	struct mem mem;
	struct buf out;
	struct jw w;
	struct json_doc d;
	double back = 0;
	mem_init(&mem);
	buf_init(&out, &mem);
	jw_init(&w, &out);
	jw_double(&w, v);
	FUZZ_CHECK(!out.oom && json_parse(&d, &mem, out.data, out.len) == 0,
		   "jw_double(%.17g) wrote '%s'", v, out.data);
	FUZZ_CHECK(json_get_double(&d, 0, &back) && back == v && !signbit(back) == !signbit(v),
		   "jw_double(%.17g) wrote '%s', read back %.17g", v, out.data, back);
	json_doc_free(&d);
	buf_free(&out);
	fuzz_check_no_leak(&mem, "double round trip");
}

static void check_scalar(const struct json_doc *d, int i)
{
	enum json_type type = json_type_of(d, i);
	int64_t iv;
	uint64_t uv;
	double dv;
	bool bv;
	size_t rl;
	const char *raw = json_raw(d, i, &rl);
	bool is_int = json_get_int(d, i, &iv), is_uint = json_get_uint(d, i, &uv);
	bool is_double = json_get_double(d, i, &dv);
	FUZZ_CHECK(raw != NULL, "json_raw(%d) is NULL", i);
	FUZZ_CHECK(json_get_bool(d, i, &bv) == (type == JSON_BOOL), "get_bool on type %d",
		   type);
	if (type == JSON_BOOL)
		FUZZ_CHECK(bv == (rl == 4 && memcmp(raw, "true", 4) == 0), "bool value");
	if (type == JSON_NULL)
		FUZZ_CHECK(rl == 4 && memcmp(raw, "null", 4) == 0, "null token raw text");
	if (type != JSON_NUMBER) {
		FUZZ_CHECK(!is_int && !is_uint && !is_double, "number getter on type %d", type);
		return;
	}
	if (is_uint)
		FUZZ_CHECK(is_int == (uv <= (uint64_t)INT64_MAX) &&
			   (!is_int || (uint64_t)iv == uv), "get_uint and get_int disagree");
	if (is_int && iv > 0)
		FUZZ_CHECK(is_uint, "positive int %lld is no uint", (long long)iv);
	if (is_int) {
		FUZZ_CHECK(is_double, "int %lld is no double", (long long)iv);
		if (iv > -(1ll << 53) && iv < (1ll << 53))
			FUZZ_CHECK(dv == (double)iv, "int %lld reads as double %.17g",
				   (long long)iv, dv);
	}
	if (is_double)
		check_double_round_trip(dv);
}

/* ---- writing back ---------------------------------------------------- */

/* Writes the value at tok with the jw_* writer; returns the next token. */
static uint32_t rewrite(const struct json_doc *d, uint32_t tok, struct jw *w,
			struct buf *tmp)
{
	const struct json_tok *t = &d->toks[tok];
	size_t len;
	const char *raw;
	uint32_t k;
	bool b;
	switch (t->type) {
	case JSON_OBJECT:
		jw_obj_begin(w);
		for (k = tok + 1; k < t->next;) {
			buf_reset(tmp);
			json_get_string(d, (int)k, tmp);
			/* jw_key takes a C string: a key with NUL is cut there. */
			jw_key(w, tmp->data != NULL ? tmp->data : "");
			k = rewrite(d, k + 1, w, tmp);
		}
		jw_obj_end(w);
		return t->next;
	case JSON_ARRAY:
		jw_arr_begin(w);
		for (k = tok + 1; k < t->next;)
			k = rewrite(d, k, w, tmp);
		jw_arr_end(w);
		return t->next;
	case JSON_STRING:
		buf_reset(tmp);
		json_get_string(d, (int)tok, tmp);
		jw_strn(w, tmp->data, tmp->len);
		return tok + 1;
	case JSON_NUMBER:
		raw = json_raw(d, (int)tok, &len);
		jw_raw(w, raw, len);
		return tok + 1;
	case JSON_BOOL:
		FUZZ_CHECK(json_get_bool(d, (int)tok, &b), "json_get_bool on a bool");
		jw_bool(w, b);
		return tok + 1;
	default:
		jw_null(w);
		return tok + 1;
	}
}

static void write_doc(const struct json_doc *d, struct buf *out, struct buf *tmp)
{
	struct jw w;
	buf_reset(out);
	jw_init(&w, out);
	rewrite(d, 0, &w, tmp);
	FUZZ_CHECK(w.depth == 0, "writer depth %u at the end", w.depth);
}

/* Same shape, same string values (keys with a NUL aside). */
static void check_same_values(const struct json_doc *a, const struct json_doc *b,
			      struct buf *x, struct buf *y)
{
	FUZZ_CHECK(a->ntoks == b->ntoks, "rewritten document has %u tokens, not %u",
		   b->ntoks, a->ntoks);
	for (uint32_t i = 0; i < a->ntoks; i++) {
		const struct json_tok *s = &a->toks[i], *t = &b->toks[i];
		FUZZ_CHECK(s->type == t->type && s->next == t->next && s->count == t->count,
			   "token %u changed shape in the rewrite", i);
		if (s->type != JSON_STRING)
			continue;
		decode(a, (int)i, x);
		decode(b, (int)i, y);
		if (memchr(x->data, '\0', x->len) != NULL)
			continue;
		if (x->len != y->len || memcmp(x->data, y->data, x->len) != 0) {
			fuzz_print_bytes("before", x->data, x->len);
			fuzz_print_bytes("after", y->data, y->len);
			FUZZ_CHECK(false, "string %u changed in the rewrite", i);
		}
	}
}

/* ---- the run --------------------------------------------------------- */

static void check_doc(const struct json_doc *d, struct mem *mem)
{
	struct buf x, y, first, second;
	struct json_doc again, third;
	buf_init(&x, mem);
	buf_init(&y, mem);
	buf_init(&first, mem);
	buf_init(&second, mem);
	check_tokens(d);
	for (uint32_t i = 0; i < d->ntoks; i++) {
		enum json_type type = json_type_of(d, (int)i);
		if (type == JSON_OBJECT)
			check_object(d, (int)i, &x, &y);
		else if (type == JSON_STRING)
			decode(d, (int)i, &x);
		else if (type != JSON_ARRAY)
			check_scalar(d, (int)i);
	}
	FUZZ_CHECK(json_type_of(d, -1) == JSON_NULL && json_obj_get(d, -1, "a") == -1 &&
		   json_array_at(d, (int)d->ntoks, 0) == -1, "lookups off the document");

	write_doc(d, &first, &x);
	FUZZ_CHECK(!first.oom, "writer out of memory without a limit");
	if (json_parse(&again, mem, first.data, first.len) != 0) {
		fuzz_print_bytes("written", first.data, first.len);
		FUZZ_CHECK(false, "the writer's output does not parse: %s", again.error);
	}
	check_same_values(d, &again, &x, &y);
	write_doc(&again, &second, &x);
	if (second.len != first.len || memcmp(second.data, first.data, first.len) != 0) {
		fuzz_print_bytes("first", first.data, first.len);
		fuzz_print_bytes("second", second.data, second.len);
		FUZZ_CHECK(false, "writing the document twice gives different bytes");
	}
	FUZZ_CHECK(json_parse(&third, mem, second.data, second.len) == 0, "reparse");
	json_doc_free(&third);
	json_doc_free(&again);
	buf_free(&x);
	buf_free(&y);
	buf_free(&first);
	buf_free(&second);
}

/* With one allocation failing: parse and write back, checking nothing but
 * that it neither crashes nor leaks. */
static void run_out_of_memory(const uint8_t *data, size_t size, uint64_t allocs)
{
	struct mem mem;
	struct json_doc d;
	struct buf out, tmp;
	mem_init(&mem);
	mem.fail_at = 1 + fuzz_hash(data, size) % allocs;
	if (json_parse(&d, &mem, (const char *)data, size) == 0) {
		buf_init(&out, &mem);
		buf_init(&tmp, &mem);
		for (uint32_t i = 0; i < d.ntoks; i++) {
			double v;
			(void)json_get_double(&d, (int)i, &v);
			buf_reset(&tmp);
			(void)json_get_string(&d, (int)i, &tmp);
		}
		write_doc(&d, &out, &tmp);
		buf_free(&out);
		buf_free(&tmp);
		json_doc_free(&d);
	}
	fuzz_check_no_leak(&mem, "json under an allocation failure");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem mem;
	struct json_doc d;
	mem_init(&mem);
	if (json_parse(&d, &mem, (const char *)data, size) == 0) {
		check_doc(&d, &mem);
		json_doc_free(&d);
	} else {
		FUZZ_CHECK(d.error[0] != '\0', "json_parse failed without a message");
		FUZZ_CHECK(d.toks == NULL, "failed parse kept its tokens");
	}
	fuzz_check_no_leak(&mem, "json");
	if (mem.alloc_count > 0)
		run_out_of_memory(data, size, mem.alloc_count);
	return 0;
}
