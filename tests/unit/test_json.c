/*
 * test_json.c - unit tests for the JSON reader and writer (server/lib/json.c).
 *
 * Covers RFC 8259 acceptance and rejection, token layout, lookups (exact,
 * folded, duplicate keys), string decoding with Go's rules for escapes,
 * surrogates and invalid UTF-8, integer and float reads, byte-exact writer
 * output, writer -> parser round trips, and robustness against random,
 * truncated and mutated input (meant to run under ASan/UBSan).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/json.h"
#include "lib/mem.h"
#include "lib/prng.h"

/* Parses a NUL-terminated document; the caller frees with json_doc_free. */
static int parse_str(struct json_doc *d, struct mem *m, const char *s)
{
	return json_parse(d, m, s, strlen(s));
}

/* Decodes string token tok and compares with the expected bytes. */
static void check_string(const struct json_doc *d, int tok, const char *want,
			 size_t want_len)
{
	struct mem m;
	struct buf b;
	mem_init(&m);
	buf_init(&b, &m);
	ck_assert(json_get_string(d, tok, &b));
	ck_assert_uint_eq(b.len, want_len);
	ck_assert_ptr_nonnull(b.data);
	ck_assert_int_eq(b.data[b.len], '\0');
	ck_assert(want_len == 0 || memcmp(b.data, want, want_len) == 0);
	buf_free(&b);
}

/* ---- acceptance ---- */

static const char *const valid_docs[] = {
	"0", "-0", "1", "-1", "123", "1.5", "-1.5e10", "1E5", "1e-5", "1e+5",
	"0.0", "0e0", "-0.0E-0", "true", "false", "null", "\"\"", "\"a\"",
	"[]", "{}", "[[]]", "[{}]", "{\"\":0}", " \t\n\r[1] \t\n\r",
	"[1,2,3]", "{\"a\":1,\"b\":[true,false,null],\"c\":{}}",
	"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\uABCD\\uabcd\"",
	"\"\x7f\"", "\"\xff\xfe\"", "\"\xe2\x82\"", "\"\xf0\x9f\x98\x80\"",
	"[ 1 , 2 ]", "{ \"a\" : 1 , \"b\" : 2 }",
	"12345678901234567890123456789012345678901234567890",
	"\"\\ud800\"",
};

START_TEST(test_valid_docs)
{
	for (size_t i = 0; i < sizeof(valid_docs) / sizeof(valid_docs[0]); i++) {
		struct mem m;
		struct json_doc d;
		mem_init(&m);
		int rc = parse_str(&d, &m, valid_docs[i]);
		ck_assert_msg(rc == 0, "doc %zu (%s) rejected: %s", i,
			      valid_docs[i], d.error);
		ck_assert_uint_ge(d.ntoks, 1);
		ck_assert_uint_eq(d.toks[0].next, d.ntoks);
		json_doc_free(&d);
		ck_assert_uint_eq(m.live_bytes, 0);
	}
}
END_TEST

static const char *const invalid_docs[] = {
	"", " ", "\t\n", "01", "-01", "00", "-", "+1", ".5", "1.", "1.e5",
	"1e", "1e+", "1e-", "--1", "0x10", "1_000", "NaN", "Infinity",
	"-Infinity", "tru", "nul", "fals", "True", "NULL", "truex", "nullnull",
	"[1,]", "[,1]", "[,]", "{,}", "{\"a\":1,}", "{a:1}", "{'a':1}", "'a'",
	"[1 2]", "{\"a\" 1}", "{\"a\":}", "{\"a\"}", "{1:2}", "{\"a\":1 \"b\":2}",
	"{\"a\",1}", "[1:2]", "\"abc", "\"\\x\"", "\"\\u12g4\"", "\"\\u123\"",
	"\"\\u\"", "\"\\", "\"\\U0041\"", "\"\t\"", "\"\n\"", "\"\x01\"", "\"\x1f\"", "[1]]",
	"[1] x", "1 2", "{}{}", "[", "{", "[[]", "{\"a\":[}", "]", "}",
	"\xef\xbb\xbf{}", "[1,2", "{\"a\":1", "/*c*/1", "1//c", "\x00",
};

START_TEST(test_invalid_docs)
{
	for (size_t i = 0; i < sizeof(invalid_docs) / sizeof(invalid_docs[0]);
	     i++) {
		struct mem m;
		struct json_doc d;
		mem_init(&m);
		const char *s = invalid_docs[i];
		size_t len = strlen(s);
		if (len == 0 && s[0] == '\0' && i == sizeof(invalid_docs) /
		    sizeof(invalid_docs[0]) - 1)
			len = 1;   /* the last entry is a single NUL byte */
		int rc = json_parse(&d, &m, s, len);
		ck_assert_msg(rc != 0, "doc %zu (%s) accepted", i, s);
		ck_assert_msg(strstr(d.error, "offset") != NULL,
			      "doc %zu error lacks offset: %s", i, d.error);
		ck_assert_ptr_null(d.toks);
		json_doc_free(&d);
		ck_assert_uint_eq(m.live_bytes, 0);
	}
}
END_TEST

START_TEST(test_error_offset)
{
	struct mem m;
	struct json_doc d;
	mem_init(&m);
	ck_assert_int_ne(parse_str(&d, &m, "{\"a\":[1,2,x]}"), 0);
	ck_assert_ptr_nonnull(strstr(d.error, "offset 10"));
	ck_assert_ptr_nonnull(strstr(d.error, "'x'"));
	ck_assert_int_ne(parse_str(&d, &m, "[1,2"), 0);
	ck_assert_ptr_nonnull(strstr(d.error, "end of input"));
	ck_assert_int_ne(parse_str(&d, &m, "\"a\\qb\""), 0);
	ck_assert_ptr_nonnull(strstr(d.error, "invalid escape at offset 3"));
	ck_assert_int_ne(parse_str(&d, &m, "[1] 2"), 0);
	ck_assert_ptr_nonnull(strstr(d.error, "after value at offset 4"));
}
END_TEST

/* Builds n nested arrays or objects around a 0. */
static char *nest(int n, bool obj)
{
	char *s = malloc((size_t)n * 6 + 2);
	size_t k = 0;
	for (int i = 0; i < n; i++) {
		if (obj) {
			memcpy(s + k, "{\"a\":", 5);
			k += 5;
		} else {
			s[k++] = '[';
		}
	}
	s[k++] = '0';
	for (int i = 0; i < n; i++)
		s[k++] = obj ? '}' : ']';
	s[k] = '\0';
	return s;
}

START_TEST(test_depth_limit)
{
	for (int obj = 0; obj < 2; obj++) {
		struct mem m;
		struct json_doc d;
		mem_init(&m);
		char *ok = nest(JSON_MAX_DEPTH, obj);
		char *deep = nest(JSON_MAX_DEPTH + 1, obj);
		ck_assert_int_eq(parse_str(&d, &m, ok), 0);
		ck_assert_uint_eq(d.ntoks, obj ? 2 * JSON_MAX_DEPTH + 1 :
				  JSON_MAX_DEPTH + 1);
		json_doc_free(&d);
		ck_assert_int_ne(parse_str(&d, &m, deep), 0);
		ck_assert_ptr_nonnull(strstr(d.error, "too deep"));
		ck_assert_uint_eq(m.live_bytes, 0);
		free(ok);
		free(deep);
	}
}
END_TEST

START_TEST(test_size_limits)
{
	struct mem m;
	struct json_doc d;
	mem_init(&m);
	/* Refused before any byte is read, so a short buffer is enough. */
	ck_assert_int_ne(json_parse(&d, &m, "1", (size_t)UINT32_MAX + 1), 0);
	ck_assert_ptr_nonnull(strstr(d.error, "too large"));
	ck_assert_int_ne(json_parse(&d, &m, NULL, 5), 0);
	ck_assert_int_ne(json_parse(&d, &m, NULL, 0), 0);
	/* Parsing stops at len: bytes past it are not part of the document. */
	ck_assert_int_eq(json_parse(&d, &m, "12x", 2), 0);
	int64_t v;
	ck_assert(json_get_int(&d, 0, &v));
	ck_assert_int_eq(v, 12);
	json_doc_free(&d);
}
END_TEST

START_TEST(test_out_of_memory)
{
	const char *doc = "{\"a\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17],"
			  "\"b\":{\"c\":[[],[],[]]}}";
	struct mem m;
	struct json_doc d;
	mem_init(&m);
	m.fail_at = 1;
	ck_assert_int_ne(parse_str(&d, &m, doc), 0);
	ck_assert_ptr_nonnull(strstr(d.error, "out of memory"));
	ck_assert_uint_eq(m.live_bytes, 0);
	/* A failing growth (second allocation) frees the first block. */
	mem_init(&m);
	m.fail_at = 2;
	ck_assert_int_ne(parse_str(&d, &m, doc), 0);
	ck_assert_ptr_nonnull(strstr(d.error, "out of memory"));
	ck_assert_uint_eq(m.live_bytes, 0);
	mem_init(&m);
	ck_assert_int_eq(parse_str(&d, &m, doc), 0);
	json_doc_free(&d);
	json_doc_free(&d);   /* freeing twice is harmless */
	ck_assert_uint_eq(m.live_bytes, 0);
}
END_TEST

/* ---- token layout and lookups ---- */

START_TEST(test_token_layout)
{
	const char *s = " [1,[2,3],{\"a\":4,\"b\":[]},\"x\\ny\"] ";
	struct mem m;
	struct json_doc d;
	mem_init(&m);
	ck_assert_int_eq(parse_str(&d, &m, s), 0);
	/* [ 1 [ 2 3 ] { "a" 4 "b" [ ] } "x\ny" ] */
	static const uint8_t types[] = {
		JSON_ARRAY, JSON_NUMBER, JSON_ARRAY, JSON_NUMBER, JSON_NUMBER,
		JSON_OBJECT, JSON_STRING, JSON_NUMBER, JSON_STRING, JSON_ARRAY,
		JSON_STRING,
	};
	static const uint32_t nexts[] = { 11, 2, 5, 4, 5, 10, 7, 8, 9, 10, 11 };
	ck_assert_uint_eq(d.ntoks, 11);
	for (int i = 0; i < 11; i++) {
		ck_assert_int_eq(json_type_of(&d, i), types[i]);
		ck_assert_uint_eq(d.toks[i].next, nexts[i]);
	}
	ck_assert_uint_eq(d.toks[0].count, 4);
	ck_assert_uint_eq(d.toks[2].count, 2);
	ck_assert_uint_eq(d.toks[5].count, 2);
	ck_assert_uint_eq(d.toks[9].count, 0);
	size_t len;
	const char *raw = json_raw(&d, 0, &len);
	ck_assert_uint_eq(len, strlen(s) - 2);
	ck_assert(memcmp(raw, s + 1, len) == 0);
	raw = json_raw(&d, 5, &len);
	ck_assert(len == 14 && memcmp(raw, "{\"a\":4,\"b\":[]}", 14) == 0);
	raw = json_raw(&d, 10, &len);   /* strings keep their quotes */
	ck_assert(len == 6 && memcmp(raw, "\"x\\ny\"", 6) == 0);
	ck_assert_uint_eq(d.toks[10].len, 4);
	ck_assert_ptr_null(json_raw(&d, 11, &len));
	ck_assert_uint_eq(len, 0);
	static const int elems[] = { 1, 2, 5, 10 };
	for (uint32_t i = 0; i < 4; i++)
		ck_assert_int_eq(json_array_at(&d, 0, i), elems[i]);
	ck_assert_int_eq(json_array_at(&d, 0, 4), -1);
	ck_assert_int_eq(json_array_at(&d, 9, 0), -1);
	ck_assert_int_eq(json_array_at(&d, 5, 0), -1);
	ck_assert_uint_eq(json_array_len(&d, 0), 4);
	ck_assert_uint_eq(json_array_len(&d, 9), 0);   /* [] */
	ck_assert_uint_eq(json_array_len(&d, 5), 0);   /* an object */
	ck_assert_uint_eq(json_array_len(&d, 99), 0);  /* no such token */
	json_doc_free(&d);
}
END_TEST

START_TEST(test_nested_lookup)
{
	const char *s = "{\"config\":{\"name\":\"ORDERS\",\"subjects\":"
			"[\"a.*\",\"b.>\"],\"limits\":{\"max_msgs\":-1}},"
			"\"ok\":true,\"nil\":null,\"n\":2.5}";
	struct mem m;
	struct json_doc d;
	mem_init(&m);
	ck_assert_int_eq(parse_str(&d, &m, s), 0);
	int cfg = json_obj_get(&d, 0, "config");
	ck_assert_int_eq(json_type_of(&d, cfg), JSON_OBJECT);
	ck_assert(json_string_eq(&d, json_obj_get(&d, cfg, "name"), "ORDERS"));
	ck_assert(!json_string_eq(&d, json_obj_get(&d, cfg, "name"), "ORDER"));
	ck_assert(!json_string_eq(&d, json_obj_get(&d, cfg, "name"), "ORDERSX"));
	int subj = json_obj_get(&d, cfg, "subjects");
	ck_assert(json_string_eq(&d, json_array_at(&d, subj, 1), "b.>"));
	int64_t v = 0;
	int lim = json_obj_get(&d, cfg, "limits");
	ck_assert(json_obj_int(&d, lim, "max_msgs", &v));
	ck_assert_int_eq(v, -1);
	bool b = false;
	ck_assert(json_obj_bool(&d, 0, "ok", &b));
	ck_assert(b);
	ck_assert_int_eq(json_type_of(&d, json_obj_get(&d, 0, "nil")), JSON_NULL);
	ck_assert(!json_obj_bool(&d, 0, "nil", &b));
	ck_assert(!json_obj_int(&d, 0, "n", &v));   /* not integral */
	/* Keys of nested objects are not visible from the outer one. */
	ck_assert_int_eq(json_obj_get(&d, 0, "name"), -1);
	ck_assert_int_eq(json_obj_get(&d, 0, "missing"), -1);
	ck_assert_int_eq(json_obj_get(&d, subj, "a.*"), -1);   /* not an object */
	ck_assert_int_eq(json_obj_get(&d, -1, "config"), -1);
	ck_assert_int_eq(json_obj_get(&d, 999, "config"), -1);
	ck_assert_int_eq(json_obj_get(&d, 0, "Config"), -1);   /* case matters */
	struct buf out;
	buf_init(&out, &m);
	ck_assert(json_obj_string(&d, cfg, "name", &out));
	ck_assert_str_eq(out.data, "ORDERS");
	ck_assert(!json_obj_string(&d, 0, "ok", &out));
	ck_assert(!json_get_string(&d, -1, &out));
	ck_assert_str_eq(out.data, "ORDERS");   /* failures append nothing */
	buf_free(&out);
	json_doc_free(&d);
	ck_assert_uint_eq(m.live_bytes, 0);
}
END_TEST

START_TEST(test_iteration)
{
	const char *s = "{\"a\":{\"x\":[1,{\"y\":2}]},\"b\":[],\"c\":\"s\",\"d\":{}}";
	struct mem m;
	struct json_doc d;
	mem_init(&m);
	ck_assert_int_eq(parse_str(&d, &m, s), 0);
	static const char *const keys[] = { "a", "b", "c", "d" };
	static const uint8_t types[] = {
		JSON_OBJECT, JSON_ARRAY, JSON_STRING, JSON_OBJECT,
	};
	uint32_t it = 0;
	int k, n = 0;
	while ((k = json_obj_next(&d, 0, &it)) >= 0) {
		ck_assert_int_lt(n, 4);
		ck_assert(json_string_eq(&d, k, keys[n]));
		ck_assert_int_eq(json_type_of(&d, k + 1), types[n]);
		n++;
	}
	ck_assert_int_eq(n, 4);
	ck_assert_int_eq(json_obj_next(&d, 0, &it), -1);   /* stays done */
	/* Empty object, non-object and bad index yield nothing. */
	it = 0;
	ck_assert_int_eq(json_obj_next(&d, json_obj_get(&d, 0, "d"), &it), -1);
	it = 0;
	ck_assert_int_eq(json_obj_next(&d, json_obj_get(&d, 0, "b"), &it), -1);
	it = 0;
	ck_assert_int_eq(json_obj_next(&d, -1, &it), -1);
	/* Inner object iteration stops at its own end. */
	it = 0;
	int a = json_obj_get(&d, 0, "a");
	ck_assert_int_eq(json_obj_next(&d, a, &it), a + 1);
	ck_assert_int_eq(json_obj_next(&d, a, &it), -1);
	json_doc_free(&d);
}
END_TEST

START_TEST(test_duplicate_keys)
{
	struct mem m;
	struct json_doc d;
	mem_init(&m);
	ck_assert_int_eq(parse_str(&d, &m,
		"{\"a\":1,\"b\":2,\"a\":3,\"\\u0061\":4,\"b\":{\"a\":9}}"), 0);
	int64_t v;
	/* "\u0061" is "a" once unescaped, so it is the last "a". */
	ck_assert(json_obj_int(&d, 0, "a", &v));
	ck_assert_int_eq(v, 4);
	ck_assert_int_eq(json_type_of(&d, json_obj_get(&d, 0, "b")), JSON_OBJECT);
	ck_assert_uint_eq(d.toks[0].count, 5);
	json_doc_free(&d);
}
END_TEST

START_TEST(test_fold_lookup)
{
	struct mem m;
	struct json_doc d;
	mem_init(&m);
	ck_assert_int_eq(parse_str(&d, &m,
		"{\"Stream_Name\":1,\"A{\":2,\"\\u212aey\":3,\"\\u017fub\":4,"
		"\"caf\\u00c9\":5,\"Zz\":6}"), 0);
	int64_t v;
	ck_assert_int_eq(json_obj_get(&d, 0, "stream_name"), -1);
	ck_assert(json_get_int(&d, json_obj_get_fold(&d, 0, "stream_name"), &v));
	ck_assert_int_eq(v, 1);
	ck_assert(json_get_int(&d, json_obj_get_fold(&d, 0, "STREAM_NAME"), &v));
	ck_assert_int_eq(v, 1);
	/* Only letters fold: '[' is '{' with bit 0x20 cleared. */
	ck_assert_int_eq(json_obj_get_fold(&d, 0, "a["), -1);
	ck_assert(json_get_int(&d, json_obj_get_fold(&d, 0, "a{"), &v));
	ck_assert_int_eq(v, 2);
	/* KELVIN SIGN folds to k and LONG S to s, as in Go. */
	ck_assert(json_get_int(&d, json_obj_get_fold(&d, 0, "KEY"), &v));
	ck_assert_int_eq(v, 3);
	ck_assert(json_get_int(&d, json_obj_get_fold(&d, 0, "sub"), &v));
	ck_assert_int_eq(v, 4);
	ck_assert_int_eq(json_obj_get(&d, 0, "sub"), -1);
	/* Non-ASCII letters compare exactly. */
	ck_assert_int_eq(json_obj_get_fold(&d, 0, "caf\xc3\xa9"), -1);
	ck_assert(json_get_int(&d, json_obj_get_fold(&d, 0, "CAF\xc3\x89"), &v));
	ck_assert_int_eq(v, 5);
	ck_assert_int_eq(json_obj_get_fold(&d, 0, "z"), -1);
	ck_assert_int_eq(json_obj_get_fold(&d, 0, "zzz"), -1);
	json_doc_free(&d);
	/* Every folded match overwrites the previous one, as Go's decoder does
	 * for a struct field: the last match wins, exact or not. */
	ck_assert_int_eq(parse_str(&d, &m, "{\"name\":1,\"NAME\":2}"), 0);
	ck_assert(json_get_int(&d, json_obj_get_fold(&d, 0, "name"), &v));
	ck_assert_int_eq(v, 2);
	ck_assert(json_obj_int(&d, 0, "name", &v));
	ck_assert_int_eq(v, 1);
	json_doc_free(&d);
	ck_assert_int_eq(parse_str(&d, &m, "{\"NAME\":2,\"name\":1,\"x\":0}"), 0);
	ck_assert(json_get_int(&d, json_obj_get_fold(&d, 0, "Name"), &v));
	ck_assert_int_eq(v, 1);
	json_doc_free(&d);
}
END_TEST

/* ---- strings ---- */

struct decode_case {
	const char *json;   /* a JSON string literal */
	const char *want;   /* decoded bytes */
	size_t want_len;
};

#define DC(j, w) { j, w, sizeof(w) - 1 }
#define FFFD "\xef\xbf\xbd"

static const struct decode_case decode_cases[] = {
	DC("\"plain\"", "plain"),
	DC("\"\"", ""),
	DC("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t"),
	DC("\"a\\u0000b\"", "a\0b"),
	DC("\"\\u0041\\u00e9\\u00E9\\u20ac\"", "A\xc3\xa9\xc3\xa9\xe2\x82\xac"),
	DC("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80"),
	DC("\"\\uD834\\uDD1E\"", "\xf0\x9d\x84\x9e"),
	DC("\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf"),
	DC("\"\\ud800\"", FFFD),
	DC("\"\\udc00\"", FFFD),
	DC("\"\\ud800x\"", FFFD "x"),
	DC("\"\\ud800\\n\"", FFFD "\n"),
	DC("\"\\ud800\\u0041\"", FFFD "A"),
	DC("\"\\ude00\\ud83d\"", FFFD FFFD),
	DC("\"\\ud800\\ud83d\\ude00\"", FFFD "\xf0\x9f\x98\x80"),
	DC("\"\\ufffd\"", FFFD),
	DC("\"caf\xc3\xa9\"", "caf\xc3\xa9"),
	DC("\"\xf0\x9f\x98\x80\"", "\xf0\x9f\x98\x80"),
	DC("\"\xff\"", FFFD),
	DC("\"a\xfe\xff" "b\"", "a" FFFD FFFD "b"),
	DC("\"\xe2\x82\"", FFFD FFFD),
	DC("\"\xe2\x82x\"", FFFD FFFD "x"),
	DC("\"\xc0\xaf\"", FFFD FFFD),                   /* overlong */
	DC("\"\xe0\x80\xaf\"", FFFD FFFD FFFD),          /* overlong */
	DC("\"\xed\xa0\x80\"", FFFD FFFD FFFD),          /* surrogate */
	DC("\"\xf4\x90\x80\x80\"", FFFD FFFD FFFD FFFD), /* > U+10FFFF */
	DC("\"\xf5\x80\"", FFFD FFFD),
	DC("\"\x80\"", FFFD),
	DC("\"\xef\xbf\xbd\"", FFFD),
	DC("\"\xed\x9f\xbf\"", "\xed\x9f\xbf"),          /* U+D7FF */
	DC("\"\xee\x80\x80\"", "\xee\x80\x80"),          /* U+E000 */
	DC("\"\xc3\xa9\\u00e9\"", "\xc3\xa9\xc3\xa9"),
};

START_TEST(test_string_decode)
{
	for (size_t i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]);
	     i++) {
		const struct decode_case *c = &decode_cases[i];
		struct mem m;
		struct json_doc d;
		mem_init(&m);
		ck_assert_msg(parse_str(&d, &m, c->json) == 0, "case %zu: %s", i,
			      d.error);
		check_string(&d, 0, c->want, c->want_len);
		if (memchr(c->want, '\0', c->want_len) == NULL) {
			ck_assert_msg(json_string_eq(&d, 0, c->want), "case %zu", i);
			char longer[64];
			snprintf(longer, sizeof(longer), "%sz", c->want);
			ck_assert(!json_string_eq(&d, 0, longer));
		}
		json_doc_free(&d);
	}
}
END_TEST

START_TEST(test_escaped_keys)
{
	struct mem m;
	struct json_doc d;
	mem_init(&m);
	ck_assert_int_eq(parse_str(&d, &m,
		"{\"a\\u0062\":1,\"\\u00e9t\\u00e9\":2,\"x\\\"y\":3,\"\xff\":4}"), 0);
	int64_t v;
	ck_assert(json_obj_int(&d, 0, "ab", &v) && v == 1);
	ck_assert(json_obj_int(&d, 0, "\xc3\xa9t\xc3\xa9", &v) && v == 2);
	ck_assert(json_obj_int(&d, 0, "x\"y", &v) && v == 3);
	/* The invalid byte reads as U+FFFD, so that is the key's name. */
	ck_assert(json_obj_int(&d, 0, FFFD, &v) && v == 4);
	ck_assert(!json_obj_int(&d, 0, "\xff", &v));
	ck_assert(!json_obj_int(&d, 0, "a\\u0062", &v));
	ck_assert(!json_obj_int(&d, 0, "abc", &v));
	ck_assert(!json_obj_int(&d, 0, "a", &v));
	json_doc_free(&d);
}
END_TEST

/* ---- numbers ---- */

START_TEST(test_int_bounds)
{
	struct {
		const char *json;
		bool int_ok;
		int64_t i;
		bool uint_ok;
		uint64_t u;
	} cases[] = {
		{ "0", true, 0, true, 0 },
		{ "-0", true, 0, false, 0 },
		{ "42", true, 42, true, 42 },
		{ "-42", true, -42, false, 0 },
		{ "9223372036854775807", true, INT64_MAX, true, INT64_MAX },
		{ "9223372036854775808", false, 0, true, (uint64_t)INT64_MAX + 1 },
		{ "-9223372036854775808", true, INT64_MIN, false, 0 },
		{ "-9223372036854775809", false, 0, false, 0 },
		{ "18446744073709551615", false, 0, true, UINT64_MAX },
		{ "18446744073709551616", false, 0, false, 0 },
		{ "99999999999999999999", false, 0, false, 0 },
		{ "-18446744073709551616", false, 0, false, 0 },
		{ "1e3", false, 0, false, 0 },
		{ "1E0", false, 0, false, 0 },
		{ "1.0", false, 0, false, 0 },
		{ "0.5", false, 0, false, 0 },
		{ "\"1\"", false, 0, false, 0 },
		{ "true", false, 0, false, 0 },
		{ "null", false, 0, false, 0 },
		{ "[1]", false, 0, false, 0 },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct mem m;
		struct json_doc d;
		mem_init(&m);
		ck_assert_int_eq(parse_str(&d, &m, cases[k].json), 0);
		int64_t i = 77;
		uint64_t u = 77;
		ck_assert_msg(json_get_int(&d, 0, &i) == cases[k].int_ok, "%s",
			      cases[k].json);
		ck_assert_msg(json_get_uint(&d, 0, &u) == cases[k].uint_ok, "%s",
			      cases[k].json);
		ck_assert(cases[k].int_ok ? i == cases[k].i : i == 77);
		ck_assert(cases[k].uint_ok ? u == cases[k].u : u == 77);
		json_doc_free(&d);
	}
}
END_TEST

START_TEST(test_double_read)
{
	struct {
		const char *json;
		bool ok;
		double v;
	} cases[] = {
		{ "0", true, 0 }, { "1e3", true, 1000 }, { "-2.5", true, -2.5 },
		{ "1.0", true, 1 }, { "0.1", true, 0.1 },
		{ "1.7976931348623157e308", true, 1.7976931348623157e308 },
		{ "1e400", false, 0 }, { "-1e400", false, 0 },
		{ "1e-400", true, 0 }, { "5e-324", true, 5e-324 },
		{ "9007199254740993", true, 9007199254740992.0 },
		{ "\"1\"", false, 0 }, { "null", false, 0 },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct mem m;
		struct json_doc d;
		mem_init(&m);
		ck_assert_int_eq(parse_str(&d, &m, cases[k].json), 0);
		double v = -77;
		ck_assert_msg(json_get_double(&d, 0, &v) == cases[k].ok, "%s",
			      cases[k].json);
		ck_assert(cases[k].ok ? v == cases[k].v : v == -77);
		json_doc_free(&d);
	}
	/* A number longer than any stack scratch space still reads. */
	char big[600];
	memset(big, '0', sizeof(big));
	big[0] = '1';
	memcpy(big + 1, ".", 1);
	big[sizeof(big) - 2] = '5';
	big[sizeof(big) - 1] = '\0';
	struct mem m;
	struct json_doc d;
	mem_init(&m);
	ck_assert_int_eq(parse_str(&d, &m, big), 0);
	double v;
	ck_assert(json_get_double(&d, 0, &v));
	ck_assert(v == 1.0);
	json_doc_free(&d);
	ck_assert_uint_eq(m.live_bytes, 0);
}
END_TEST

/* ---- writer ---- */

START_TEST(test_writer_shapes)
{
	struct mem m;
	struct buf out;
	struct jw w;
	mem_init(&m);
	buf_init(&out, &m);

	jw_init(&w, &out);
	jw_obj_begin(&w);
	jw_key(&w, "a");
	jw_int(&w, -1);
	jw_key(&w, "b");
	jw_arr_begin(&w);
	jw_uint(&w, UINT64_MAX);
	jw_str(&w, "x");
	jw_obj_begin(&w);
	jw_obj_end(&w);
	jw_arr_begin(&w);
	jw_arr_end(&w);
	jw_null(&w);
	jw_arr_end(&w);
	jw_key(&w, "c");
	jw_obj_begin(&w);
	jw_key(&w, "d");
	jw_bool(&w, true);
	jw_key(&w, "e");
	jw_bool(&w, false);
	jw_key(&w, "f");
	jw_raw(&w, "{\"g\":[1,2]}", 11);
	jw_obj_end(&w);
	jw_key(&w, "h<&>");
	jw_strn(&w, "a\0b", 3);
	jw_key(&w, "i");
	jw_str(&w, NULL);
	jw_key(&w, "j");
	jw_double(&w, 2.5);
	jw_obj_end(&w);
	ck_assert_str_eq(out.data,
		"{\"a\":-1,\"b\":[18446744073709551615,\"x\",{},[],null],"
		"\"c\":{\"d\":true,\"e\":false,\"f\":{\"g\":[1,2]}},"
		"\"h\\u003c\\u0026\\u003e\":\"a\\u0000b\",\"i\":\"\",\"j\":2.5}");
	buf_free(&out);
	ck_assert_uint_eq(m.live_bytes, 0);
}
END_TEST

START_TEST(test_writer_arrays)
{
	struct mem m;
	struct buf out;
	struct jw w;
	mem_init(&m);
	buf_init(&out, &m);
	jw_init(&w, &out);
	jw_arr_begin(&w);
	jw_arr_begin(&w);
	jw_arr_end(&w);
	jw_arr_begin(&w);
	jw_arr_begin(&w);
	jw_arr_end(&w);
	jw_int(&w, INT64_MIN);
	jw_arr_end(&w);
	jw_arr_begin(&w);
	jw_int(&w, 1);
	jw_arr_end(&w);
	jw_arr_end(&w);
	ck_assert_str_eq(out.data, "[[],[[],-9223372036854775808],[1]]");

	buf_reset(&out);
	jw_init(&w, &out);
	jw_str(&w, "root");
	ck_assert_str_eq(out.data, "\"root\"");

	buf_reset(&out);
	jw_init(&w, &out);
	jw_obj_begin(&w);
	jw_obj_end(&w);
	ck_assert_str_eq(out.data, "{}");

	/* Raw text of nothing still leaves a usable C string. */
	struct buf empty;
	buf_init(&empty, &m);
	jw_init(&w, &empty);
	jw_raw(&w, "", 0);
	ck_assert_ptr_nonnull(empty.data);
	ck_assert_str_eq(empty.data, "");
	buf_free(&empty);
	buf_free(&out);
	ck_assert_uint_eq(m.live_bytes, 0);
}
END_TEST

START_TEST(test_writer_max_depth)
{
	struct mem m;
	struct buf out;
	struct jw w;
	mem_init(&m);
	buf_init(&out, &m);
	jw_init(&w, &out);
	for (int i = 0; i < JSON_MAX_DEPTH; i++) {
		jw_arr_begin(&w);
		jw_int(&w, i);
	}
	for (int i = 0; i < JSON_MAX_DEPTH; i++) {
		jw_int(&w, -i);
		jw_arr_end(&w);
	}
	struct json_doc d;
	ck_assert_int_eq(json_parse(&d, &m, out.data, out.len), 0);
	/* The innermost array holds 63 and then 0 (-0 as an integer). */
	int t = 0;
	for (int i = 0; i < JSON_MAX_DEPTH - 1; i++) {
		ck_assert_uint_eq(d.toks[t].count, 3);
		t = json_array_at(&d, t, 1);
	}
	ck_assert_uint_eq(d.toks[t].count, 2);
	json_doc_free(&d);
	ck_assert(strncmp(out.data, "[0,[1,[2,", 9) == 0);
	ck_assert_ptr_nonnull(strstr(out.data, ",[63,0],-1],-2],"));
	ck_assert_str_eq(out.data + out.len - 10, ",-62],-63]");
	buf_free(&out);
}
END_TEST

START_TEST(test_writer_double)
{
	struct {
		double v;
		const char *want;
	} cases[] = {
		{ 0.0, "0" }, { -0.0, "-0" }, { 1, "1" }, { -1, "-1" },
		{ 0.1, "0.1" }, { 1.5, "1.5" }, { -2.5, "-2.5" }, { 100, "100" },
		{ 1e20, "100000000000000000000" }, { 1e21, "1e+21" },
		{ 1.5e300, "1.5e+300" }, { 1e100, "1e+100" },
		{ 1e-6, "0.000001" }, { 1.25e-6, "0.00000125" },
		{ 1e-7, "1e-7" }, { 1.5e-7, "1.5e-7" }, { 1.2345e-10, "1.2345e-10" },
		{ 123456789.125, "123456789.125" }, { 5e-324, "5e-324" },
		{ 1.7976931348623157e308, "1.7976931348623157e+308" },
		{ 0.30000000000000004, "0.30000000000000004" },
		{ 12345678912345678.0, "12345678912345678" },
		{ 1.0 / 3.0, "0.3333333333333333" }, { 2.0 / 3.0, "0.6666666666666666" },
		{ 9007199254740993.0, "9007199254740992" },
		{ NAN, "null" }, { INFINITY, "null" }, { -INFINITY, "null" },
	};
	struct mem m;
	struct buf out;
	struct jw w;
	mem_init(&m);
	buf_init(&out, &m);
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		buf_reset(&out);
		jw_init(&w, &out);
		jw_double(&w, cases[k].v);
		ck_assert_str_eq(out.data, cases[k].want);
	}
	buf_free(&out);
}
END_TEST

START_TEST(test_escape)
{
	struct {
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
		{ "plain /text~\x7f", 0, "plain /text~\x7f" },
		{ "<a href=\"x\">&amp;</a>", 0,
		  "\\u003ca href=\\\"x\\\"\\u003e\\u0026amp;\\u003c/a\\u003e" },
		{ "\\", 0, "\\\\" },
		{ "\n\r\t", 0, "\\n\\r\\t" },
		{ "\b\f\x01\x1f", 0, "\\u0008\\u000c\\u0001\\u001f" },
		{ "a\0b", 3, "a\\u0000b" },
		{ "caf\xc3\xa9 \xf0\x9f\x98\x80", 0, "caf\xc3\xa9 \xf0\x9f\x98\x80" },
		{ "\xe2\x80\xa8|\xe2\x80\xa9|\xe2\x80\xaa", 0,
		  "\\u2028|\\u2029|\xe2\x80\xaa" },
		{ "\xff", 0, "\\ufffd" },
		{ "a\xe2\x82", 0, "a\\ufffd\\ufffd" },
		{ "\xc0\xaf", 0, "\\ufffd\\ufffd" },
		{ "\xed\xa0\x80", 0, "\\ufffd\\ufffd\\ufffd" },
		{ "\xef\xbf\xbd", 0, "\xef\xbf\xbd" },
		{ "", 0, "" },
		{ "<", 0, "\\u003c" },
		{ "\xff", 0, "\\ufffd" },
	};
	struct mem m;
	struct buf out;
	mem_init(&m);
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		/* A fresh buffer each time covers appends to an empty one. */
		buf_init(&out, &m);
		size_t len = cases[k].len ? cases[k].len : strlen(cases[k].in);
		json_escape(&out, cases[k].in, len);
		ck_assert_ptr_nonnull(out.data);
		ck_assert_msg(out.len == strlen(cases[k].want) &&
			      strcmp(out.data, cases[k].want) == 0,
			      "case %zu: got %s", k, out.data);
		buf_free(&out);
	}
	ck_assert_uint_eq(m.live_bytes, 0);
}
END_TEST

/* ---- round trips ---- */

/* Random bytes weighted toward the interesting ones for escaping. */
static size_t random_bytes(struct prng *r, char *s, size_t max)
{
	static const char pick[] = "aZ09 \"\\/<>&\n\t\x01\x7f";
	static const char *const seq[] = {
		"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xe2\x80\xa8",
		"\xed\xa0\x80", "\xef\xbf\xbd", "\xff", "\xc0", "\xe2\x82",
	};
	size_t n = 0, want = prng_below(r, max / 4);
	while (n < want) {
		uint64_t x = prng_below(r, 4);
		if (x == 0) {
			s[n++] = pick[prng_below(r, sizeof(pick) - 1)];
		} else if (x == 1) {
			s[n++] = (char)prng_below(r, 256);
		} else if (x == 2) {
			const char *q = seq[prng_below(r, 9)];
			memcpy(s + n, q, strlen(q));
			n += strlen(q);
		} else {
			s[n++] = (char)('a' + prng_below(r, 26));
		}
	}
	return n;
}

/* Go's decoded view of raw bytes: each invalid UTF-8 byte is U+FFFD. */
static size_t go_sanitize(const char *s, size_t len, char *out)
{
	size_t n = 0;
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		size_t k = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 :
			   c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
		bool ok = k > 0 && i + k <= len;
		for (size_t j = 1; ok && j < k; j++)
			ok = ((unsigned char)s[i + j] & 0xc0) == 0x80;
		if (ok && k == 3) {
			unsigned char c1 = (unsigned char)s[i + 1];
			ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 > 0x9f);
		}
		if (ok && k == 4) {
			unsigned char c1 = (unsigned char)s[i + 1];
			ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 > 0x8f);
		}
		if (!ok) {
			memcpy(out + n, FFFD, 3);
			n += 3;
			i++;
		} else {
			memcpy(out + n, s + i, k);
			n += k;
			i += k;
		}
	}
	return n;
}

START_TEST(test_roundtrip_strings)
{
	struct prng r;
	prng_seed(&r, 12345);
	char s[512], want[2048];
	struct mem m;
	mem_init(&m);
	for (int iter = 0; iter < 3000; iter++) {
		size_t n = random_bytes(&r, s, sizeof(s) - 8);
		struct buf doc, got;
		struct jw w;
		buf_init(&doc, &m);
		buf_init(&got, &m);
		jw_init(&w, &doc);
		jw_obj_begin(&w);
		jw_key(&w, "k");
		jw_strn(&w, s, n);
		jw_obj_end(&w);
		/* The writer's output is always ASCII-safe valid JSON. */
		struct json_doc d;
		ck_assert_int_eq(json_parse(&d, &m, doc.data, doc.len), 0);
		ck_assert(json_obj_string(&d, 0, "k", &got));
		size_t wn = go_sanitize(s, n, want);
		ck_assert_uint_eq(got.len, wn);
		ck_assert(memcmp(got.data, want, wn) == 0);
		json_doc_free(&d);
		buf_free(&doc);
		buf_free(&got);
	}
	ck_assert_uint_eq(m.live_bytes, 0);
}
END_TEST

/* Raw (unescaped) bytes in a document decode the same way escaped ones
 * do: the decoder and json_escape agree on what is invalid UTF-8. */
START_TEST(test_raw_bytes_decode)
{
	struct prng r;
	prng_seed(&r, 777);
	char s[512], raw[520], want[2048];
	struct mem m;
	mem_init(&m);
	for (int iter = 0; iter < 3000; iter++) {
		size_t n = random_bytes(&r, s, sizeof(s) - 8);
		size_t k = 0;
		raw[k++] = '"';
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c >= 0x20 && c != '"' && c != '\\')
				raw[k++] = (char)c;
		}
		raw[k++] = '"';
		struct json_doc d;
		ck_assert_int_eq(json_parse(&d, &m, raw, k), 0);
		size_t wn = go_sanitize(raw + 1, k - 2, want);
		check_string(&d, 0, want, wn);
		json_doc_free(&d);
	}
}
END_TEST

START_TEST(test_roundtrip_numbers)
{
	struct prng r;
	prng_seed(&r, 99);
	struct mem m;
	mem_init(&m);
	for (int iter = 0; iter < 20000; iter++) {
		uint64_t bits = prng_next(&r);
		double v;
		memcpy(&v, &bits, sizeof(v));
		if (iter % 4 == 1)
			v = (double)(int64_t)bits / 1e6;
		if (iter % 4 == 2)
			v = (double)(bits % 100000) / 1000.0;
		if (!isfinite(v))
			continue;
		struct buf out;
		struct jw w;
		buf_init(&out, &m);
		jw_init(&w, &out);
		jw_arr_begin(&w);
		jw_double(&w, v);
		jw_int(&w, (int64_t)bits);
		jw_uint(&w, bits);
		jw_arr_end(&w);
		struct json_doc d;
		ck_assert_int_eq(json_parse(&d, &m, out.data, out.len), 0);
		double got;
		int64_t gi;
		uint64_t gu;
		ck_assert(json_get_double(&d, json_array_at(&d, 0, 0), &got));
		ck_assert_msg(memcmp(&got, &v, sizeof(v)) == 0, "%s", out.data);
		ck_assert(json_get_int(&d, json_array_at(&d, 0, 1), &gi));
		ck_assert_int_eq(gi, (int64_t)bits);
		ck_assert(json_get_uint(&d, json_array_at(&d, 0, 2), &gu));
		ck_assert_uint_eq(gu, bits);
		/* Shortest form: never more than 17 significant digits and no
		 * redundant trailing zero in the fraction. */
		size_t len;
		const char *raw = json_raw(&d, json_array_at(&d, 0, 0), &len);
		ck_assert(!(memchr(raw, '.', len) && memchr(raw, 'e', len) == NULL &&
			    raw[len - 1] == '0'));
		json_doc_free(&d);
		buf_free(&out);
	}
	ck_assert_uint_eq(m.live_bytes, 0);
}
END_TEST

/* ---- robustness ---- */

/* Walks every token through every reader; checks the layout invariants. */
static void exercise_doc(const struct json_doc *d)
{
	struct mem m;
	struct buf b;
	mem_init(&m);
	buf_init(&b, &m);
	ck_assert_uint_eq(d->toks[0].next, d->ntoks);
	for (uint32_t i = 0; i < d->ntoks; i++) {
		const struct json_tok *t = &d->toks[i];
		ck_assert_uint_gt(t->next, i);
		ck_assert_uint_le(t->next, d->ntoks);
		ck_assert_uint_le((uint64_t)t->start + t->len, d->text_len);
		bool bv;
		int64_t iv;
		uint64_t uv;
		double dv;
		size_t len;
		json_get_bool(d, (int)i, &bv);
		json_get_int(d, (int)i, &iv);
		json_get_uint(d, (int)i, &uv);
		json_get_double(d, (int)i, &dv);
		buf_reset(&b);
		if (t->type == JSON_STRING)
			ck_assert(json_get_string(d, (int)i, &b));
		json_string_eq(d, (int)i, "k");
		json_raw(d, (int)i, &len);
		json_obj_get(d, (int)i, "k");
		json_obj_get_fold(d, (int)i, "K");
		json_array_at(d, (int)i, 1);
		uint32_t it = 0, n = 0;
		while (json_obj_next(d, (int)i, &it) >= 0)
			n++;
		if (t->type == JSON_OBJECT)
			ck_assert_uint_eq(n, t->count);
	}
	buf_free(&b);
	ck_assert_uint_eq(m.live_bytes, 0);
}

START_TEST(test_random_garbage)
{
	static const char alphabet[] = "{}[]:,\"\\ 0123456789-+.eEtrufalsn\x01\xff"
				       "u\"aA";
	struct prng r;
	prng_seed(&r, 4242 + (uint64_t)_i);
	struct mem m;
	mem_init(&m);
	char *s = malloc(300);
	int accepted = 0;
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = prng_below(&r, 300);
		for (size_t k = 0; k < n; k++) {
			s[k] = prng_below(&r, 8) == 0 ? (char)prng_below(&r, 256) :
			       alphabet[prng_below(&r, sizeof(alphabet) - 1)];
		}
		/* Only n bytes are readable, so ASan catches any overrun. */
		char *exact = malloc(n ? n : 1);
		memcpy(exact, s, n);
		struct json_doc d;
		if (json_parse(&d, &m, exact, n) == 0) {
			accepted++;
			exercise_doc(&d);
			json_doc_free(&d);
		} else {
			ck_assert(d.error[0] != '\0');
		}
		free(exact);
		ck_assert_uint_eq(m.live_bytes, 0);
	}
	free(s);
	ck_assert_int_gt(accepted, 0);
}
END_TEST

static const char *const sample_docs[] = {
	"{\"verbose\":false,\"pedantic\":false,\"tls_required\":false,"
	"\"name\":\"n\\u00e9\",\"lang\":\"go\",\"version\":\"1.2.2\","
	"\"protocol\":1,\"headers\":true,\"no_responders\":true}",
	"{\"type\":\"io.nats.jetstream.api.v1.stream_create_response\","
	"\"config\":{\"name\":\"S\",\"subjects\":[\"a.>\",\"b\"],"
	"\"max_age\":1e9,\"discard\":\"old\",\"n\":-12.5E-3},"
	"\"state\":{\"messages\":0,\"deleted\":null,\"x\":[[],{},[{}]]}}",
	"[\"\\ud83d\\ude00\\ud800\",true,false,null,0,-0.0,\"\\\\\\\"\"]",
};

START_TEST(test_truncations)
{
	struct mem m;
	mem_init(&m);
	for (size_t k = 0; k < sizeof(sample_docs) / sizeof(sample_docs[0]); k++) {
		size_t n = strlen(sample_docs[k]);
		struct json_doc d;
		ck_assert_int_eq(json_parse(&d, &m, sample_docs[k], n), 0);
		exercise_doc(&d);
		json_doc_free(&d);
		for (size_t cut = 0; cut < n; cut++) {
			char *p = malloc(cut ? cut : 1);
			memcpy(p, sample_docs[k], cut);
			/* Every proper prefix of a container document is invalid. */
			ck_assert_int_ne(json_parse(&d, &m, p, cut), 0);
			ck_assert_uint_eq(m.live_bytes, 0);
			free(p);
		}
	}
}
END_TEST

START_TEST(test_mutations)
{
	struct mem m;
	mem_init(&m);
	static const char repl[] = "{}[]\",:\\ 0-.eu\x00\x1f\x80\xff";
	for (size_t k = 0; k < sizeof(sample_docs) / sizeof(sample_docs[0]); k++) {
		size_t n = strlen(sample_docs[k]);
		char *p = malloc(n);
		for (size_t pos = 0; pos < n; pos++) {
			for (size_t c = 0; c < sizeof(repl) - 1; c++) {
				memcpy(p, sample_docs[k], n);
				p[pos] = repl[c];
				struct json_doc d;
				if (json_parse(&d, &m, p, n) == 0) {
					exercise_doc(&d);
					json_doc_free(&d);
				}
				ck_assert_uint_eq(m.live_bytes, 0);
			}
			/* Also drop the byte: the tail shifts left. */
			memcpy(p, sample_docs[k], pos);
			memcpy(p + pos, sample_docs[k] + pos + 1, n - pos - 1);
			struct json_doc d;
			if (json_parse(&d, &m, p, n - 1) == 0) {
				exercise_doc(&d);
				json_doc_free(&d);
			}
		}
		free(p);
	}
	ck_assert_uint_eq(m.live_bytes, 0);
}
END_TEST

START_TEST(test_bad_indices)
{
	struct mem m;
	struct json_doc d;
	mem_init(&m);
	ck_assert_int_eq(parse_str(&d, &m, "{\"a\":\"b\"}"), 0);
	bool b;
	int64_t i;
	uint64_t u;
	double x;
	struct buf out;
	buf_init(&out, &m);
	for (int tok = -2; tok < 6; tok++) {
		if (tok >= 0 && tok < 3)
			continue;
		ck_assert(!json_get_bool(&d, tok, &b));
		ck_assert(!json_get_int(&d, tok, &i));
		ck_assert(!json_get_uint(&d, tok, &u));
		ck_assert(!json_get_double(&d, tok, &x));
		ck_assert(!json_get_string(&d, tok, &out));
		ck_assert(!json_string_eq(&d, tok, "b"));
		ck_assert_int_eq(json_type_of(&d, tok), JSON_NULL);
		ck_assert_int_eq(json_array_at(&d, tok, 0), -1);
		ck_assert_int_eq(json_obj_get(&d, tok, "a"), -1);
	}
	ck_assert_int_eq(json_obj_get(&d, 0, NULL), -1);
	ck_assert(!json_string_eq(&d, 2, NULL));
	/* A stale iterator past the object's end yields nothing. */
	uint32_t it = 57;
	ck_assert_int_eq(json_obj_next(&d, 0, &it), -1);
	json_doc_free(&d);
	/* A freed document answers nothing. */
	ck_assert_int_eq(json_obj_get(&d, 0, "a"), -1);
	ck_assert_uint_eq(out.len, 0);
	buf_free(&out);
}
END_TEST

static Suite *json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("reader");
	tcase_add_test(tc, test_valid_docs);
	tcase_add_test(tc, test_invalid_docs);
	tcase_add_test(tc, test_error_offset);
	tcase_add_test(tc, test_depth_limit);
	tcase_add_test(tc, test_size_limits);
	tcase_add_test(tc, test_out_of_memory);
	tcase_add_test(tc, test_token_layout);
	tcase_add_test(tc, test_nested_lookup);
	tcase_add_test(tc, test_iteration);
	tcase_add_test(tc, test_duplicate_keys);
	tcase_add_test(tc, test_fold_lookup);
	tcase_add_test(tc, test_string_decode);
	tcase_add_test(tc, test_escaped_keys);
	tcase_add_test(tc, test_int_bounds);
	tcase_add_test(tc, test_double_read);
	tcase_add_test(tc, test_bad_indices);
	suite_add_tcase(s, tc);
	tc = tcase_create("writer");
	tcase_add_test(tc, test_writer_shapes);
	tcase_add_test(tc, test_writer_arrays);
	tcase_add_test(tc, test_writer_max_depth);
	tcase_add_test(tc, test_writer_double);
	tcase_add_test(tc, test_escape);
	suite_add_tcase(s, tc);
	tc = tcase_create("roundtrip");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_roundtrip_strings);
	tcase_add_test(tc, test_raw_bytes_decode);
	tcase_add_test(tc, test_roundtrip_numbers);
	suite_add_tcase(s, tc);
	tc = tcase_create("robustness");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_random_garbage, 0, 4);
	tcase_add_test(tc, test_truncations);
	tcase_add_test(tc, test_mutations);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(json_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
