/*
 * test_http.c - the HTTP/1.1 request parser, the response head writer and
 * the query helpers (server/proto/http.h).
 *
 * The parser is checked for what a monitoring client observes: the
 * request it asked for, keep-alive decisions, pipelined requests, the
 * status each kind of malformed input is answered with, and that any
 * split of the bytes over reads gives the same outcome as one read.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/mem.h"
#include "proto/http.h"

static struct http_parser *parser_new(void)
{
	struct http_parser *p = malloc(sizeof(*p));
	ck_assert_ptr_nonnull(p);
	http_parser_init(p);
	return p;
}

/* Feeds text at once; returns the result and the bytes consumed. */
static enum http_parse_result feed(struct http_parser *p, const char *text, size_t *used)
{
	return http_parse(p, text, strlen(text), used);
}

static bool field_is(const char *ptr, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(ptr, want, len) == 0;
}

START_TEST(test_simple_get)
{
	struct http_parser *p = parser_new();
	const char *req = "GET /connz?subs=1&limit=2 HTTP/1.1\r\nHost: localhost\r\n"
			  "User-Agent: curl/8\r\n\r\n";
	size_t used;
	ck_assert_int_eq(feed(p, req, &used), HTTP_PARSE_DONE);
	ck_assert_uint_eq(used, strlen(req));
	ck_assert_int_eq(p->req.method, HTTP_METHOD_GET);
	ck_assert(field_is(p->req.path, p->req.path_len, "/connz"));
	ck_assert(field_is(p->req.query, p->req.query_len, "subs=1&limit=2"));
	ck_assert_int_eq(p->req.version_minor, 1);
	ck_assert(p->req.keep_alive);
	ck_assert_uint_eq(p->req.nheaders, 2);
	size_t vlen;
	const char *ua = http_request_header(&p->req, "USER-agent", &vlen);
	ck_assert(ua != NULL && field_is(ua, vlen, "curl/8"));
	ck_assert_ptr_null(http_request_header(&p->req, "cookie", NULL));
	free(p);
}
END_TEST

/* Every way of cutting the request in two gives the same request. */
START_TEST(test_every_split)
{
	const char *req = "\r\nHEAD /varz?x=%41 HTTP/1.0\r\nConnection: keep-alive\r\n"
			  "X-A:  padded value \t\r\n\r\n";
	size_t len = strlen(req);
	for (size_t cut = 0; cut <= len; cut++) {
		struct http_parser *p = parser_new();
		size_t used = 0, used2 = 0;
		enum http_parse_result rc = http_parse(p, req, cut, &used);
		if (cut < len) {
			ck_assert_int_eq(rc, HTTP_PARSE_MORE);
			ck_assert_uint_eq(used, cut);
			rc = http_parse(p, req + cut, len - cut, &used2);
		}
		ck_assert_int_eq(rc, HTTP_PARSE_DONE);
		ck_assert_uint_eq(used + used2, len);
		ck_assert_int_eq(p->req.method, HTTP_METHOD_HEAD);
		ck_assert(field_is(p->req.path, p->req.path_len, "/varz"));
		ck_assert(field_is(p->req.query, p->req.query_len, "x=%41"));
		ck_assert_int_eq(p->req.version_minor, 0);
		ck_assert(p->req.keep_alive);
		size_t vlen;
		const char *v = http_request_header(&p->req, "x-a", &vlen);
		ck_assert(v != NULL && field_is(v, vlen, "padded value"));
		free(p);
	}
}
END_TEST

/* One byte per call, the way a slow client sends. */
START_TEST(test_byte_at_a_time)
{
	struct http_parser *p = parser_new();
	const char *req = "GET / HTTP/1.1\nHost: a\n\n";
	size_t len = strlen(req), used;
	for (size_t i = 0; i + 1 < len; i++)
		ck_assert_int_eq(http_parse(p, req + i, 1, &used), HTTP_PARSE_MORE);
	ck_assert_int_eq(http_parse(p, req + len - 1, 1, &used), HTTP_PARSE_DONE);
	ck_assert(field_is(p->req.path, p->req.path_len, "/"));
	free(p);
}
END_TEST

START_TEST(test_pipelined_and_body)
{
	struct http_parser *p = parser_new();
	const char *req = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
			  "GET /b?q HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
	size_t len = strlen(req), used, at = 0;
	ck_assert_int_eq(http_parse(p, req, len, &used), HTTP_PARSE_DONE);
	ck_assert_int_eq(p->req.method, HTTP_METHOD_POST);
	ck_assert_uint_eq(p->req.content_length, 5);
	ck_assert(field_is(p->req.path, p->req.path_len, "/a"));
	at += used;
	ck_assert_int_eq(http_parse(p, req + at, len - at, &used), HTTP_PARSE_DONE);
	at += used;
	ck_assert_uint_eq(at, len);
	ck_assert(field_is(p->req.path, p->req.path_len, "/b"));
	ck_assert(field_is(p->req.query, p->req.query_len, "q"));
	ck_assert(!p->req.keep_alive);
	free(p);
}
END_TEST

START_TEST(test_keep_alive_rules)
{
	struct http_parser *p = parser_new();
	size_t used;
	ck_assert_int_eq(feed(p, "GET / HTTP/1.0\r\n\r\n", &used), HTTP_PARSE_DONE);
	ck_assert(!p->req.keep_alive);
	ck_assert_int_eq(feed(p, "GET / HTTP/1.1\r\nHost: x\r\n"
			      "Connection: Keep-Alive, CLOSE\r\n\r\n", &used), HTTP_PARSE_DONE);
	ck_assert(!p->req.keep_alive);
	free(p);
}
END_TEST

START_TEST(test_absolute_form)
{
	struct http_parser *p = parser_new();
	size_t used;
	ck_assert_int_eq(feed(p, "GET http://h:8222/subsz?subs=1 HTTP/1.1\r\nHost: h\r\n\r\n",
			      &used), HTTP_PARSE_DONE);
	ck_assert(field_is(p->req.path, p->req.path_len, "/subsz"));
	ck_assert(field_is(p->req.query, p->req.query_len, "subs=1"));
	free(p);
}
END_TEST

/* Expects text (fed at once) to fail with status. */
static void expect_error(const char *text, size_t len, int status)
{
	struct http_parser *p = parser_new();
	size_t used;
	enum http_parse_result rc = http_parse(p, text, len, &used);
	ck_assert_msg(rc == HTTP_PARSE_ERROR, "no error for [%.60s]", text);
	ck_assert_int_eq(p->error_status, status);
	ck_assert_ptr_nonnull(p->error);
	/* Sticky: the stream cannot be framed any more. */
	ck_assert_int_eq(http_parse(p, "GET / HTTP/1.0\r\n\r\n", 18, &used), HTTP_PARSE_ERROR);
	free(p);
}

START_TEST(test_malformed)
{
	static const struct { const char *text; int status; } cases[] = {
		{ "GARBAGE\r\n\r\n", 400 },
		{ "GET /\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\n\r\n", 400 },              /* no Host */
		{ "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505 },
		{ "GET / HTTQ/1.1\r\nHost: h\r\n\r\n", 400 },
		{ "GET noslash HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
		{ "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: h\rx\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		  400 },
		{ "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999\r\n\r\n", 413 },
		{ "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 501 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_error(cases[i].text, strlen(cases[i].text), cases[i].status);
}
END_TEST

START_TEST(test_limits)
{
	size_t n = HTTP_MAX_HEAD_BYTES + 100;
	char *big = malloc(n + 1);
	/* A request line that never ends. */
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', n - 5);
	expect_error(big, n, 414);
	/* A head of many short headers. */
	strcpy(big, "GET / HTTP/1.1\r\nHost: h\r\n");
	size_t at = strlen(big);
	while (at + 12 < n) {
		memcpy(big + at, "X-Pad: aaaa\r\n", 13);
		at += 13;
	}
	expect_error(big, at, 431);
	/* More header lines than HTTP_MAX_HEADERS, in a small head. */
	strcpy(big, "GET / HTTP/1.1\r\n");
	at = strlen(big);
	for (int i = 0; i <= HTTP_MAX_HEADERS; i++) {
		memcpy(big + at, "A: b\r\n", 6);
		at += 6;
	}
	memcpy(big + at, "\r\n", 2);
	expect_error(big, at + 2, 431);
	free(big);
}
END_TEST

START_TEST(test_response_head)
{
	struct mem m;
	struct buf b;
	mem_init(&m);
	buf_init(&b, &m);
	http_write_head(&b, 1, 404, "text/plain", 19, true, 1795439677LL * 1000000000LL);
	ck_assert_str_eq(b.data, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
				 "Date: Mon, 23 Nov 2026 13:14:37 GMT\r\n"
				 "Content-Length: 19\r\n\r\n");
	buf_reset(&b);
	http_write_head(&b, 0, 200, NULL, 0, false, 0);
	ck_assert_str_eq(b.data, "HTTP/1.0 200 OK\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
				 "Content-Length: 0\r\nConnection: close\r\n\r\n");
	buf_reset(&b);
	http_write_head(&b, 0, 503, NULL, 3, true, 0);
	ck_assert(strstr(b.data, "Connection: keep-alive\r\n") != NULL);
	ck_assert(strstr(b.data, "503 Service Unavailable") != NULL);
	buf_free(&b);
	ck_assert_uint_eq(m.live_bytes, 0);
}
END_TEST

START_TEST(test_dates)
{
	char out[HTTP_DATE_MAX];
	http_format_date(951782400LL * 1000000000LL, out);
	ck_assert_str_eq(out, "Tue, 29 Feb 2000 00:00:00 GMT");
	http_format_date(4102444799LL * 1000000000LL + 999999999LL, out);
	ck_assert_str_eq(out, "Thu, 31 Dec 2099 23:59:59 GMT");
}
END_TEST

START_TEST(test_query)
{
	struct mem m;
	struct buf v;
	mem_init(&m);
	buf_init(&v, &m);
	const char *q = "a=1&sort=msgs%5Fto&a=2&name=x+y%21&flag&bad=%zz&semi=1;x&e=";
	ck_assert(http_query_get(q, strlen(q), "a", &v));
	ck_assert_str_eq(v.data, "1");
	ck_assert(http_query_get(q, strlen(q), "sort", &v));
	ck_assert_str_eq(v.data, "msgs_to");
	ck_assert(http_query_get(q, strlen(q), "name", &v));
	ck_assert_str_eq(v.data, "x y!");
	ck_assert(http_query_get(q, strlen(q), "flag", &v));
	ck_assert_uint_eq(v.len, 0);
	ck_assert(http_query_get(q, strlen(q), "e", &v));
	ck_assert_uint_eq(v.len, 0);
	/* Go drops a pair with a bad escape or a semicolon. */
	ck_assert(!http_query_get(q, strlen(q), "bad", &v));
	ck_assert(!http_query_get(q, strlen(q), "semi", &v));
	ck_assert(!http_query_get(q, strlen(q), "missing", &v));
	ck_assert(!http_query_get("", 0, "a", &v));
	buf_reset(&v);
	ck_assert(!http_unescape("%4", 2, false, &v));
	buf_reset(&v);
	ck_assert(http_unescape("a+b%2B", 6, false, &v));
	ck_assert_str_eq(v.data, "a+b+");
	buf_free(&v);
	ck_assert_uint_eq(m.live_bytes, 0);
}
END_TEST

START_TEST(test_conversions)
{
	struct mem m;
	struct buf err;
	bool b = false;
	int64_t i = 0;
	uint64_t u = 0;
	mem_init(&m);
	buf_init(&err, &m);
	ck_assert(http_parse_bool("True", &b, &err) && b);
	ck_assert(http_parse_bool("0", &b, &err) && !b);
	ck_assert(!http_parse_bool("yes", &b, &err));
	ck_assert_str_eq(err.data, "strconv.ParseBool: parsing \"yes\": invalid syntax");
	buf_reset(&err);
	ck_assert(http_parse_int("-42", &i, &err) && i == -42);
	ck_assert(http_parse_int("+7", &i, &err) && i == 7);
	ck_assert(http_parse_int("-9223372036854775808", &i, &err) && i == INT64_MIN);
	ck_assert(!http_parse_int("9223372036854775808", &i, &err));
	ck_assert_str_eq(err.data,
			 "strconv.Atoi: parsing \"9223372036854775808\": value out of range");
	buf_reset(&err);
	ck_assert(!http_parse_int("1x", &i, &err));
	ck_assert_str_eq(err.data, "strconv.Atoi: parsing \"1x\": invalid syntax");
	buf_reset(&err);
	ck_assert(http_parse_uint("18446744073709551615", &u, &err) && u == UINT64_MAX);
	ck_assert(!http_parse_uint("-1", &u, &err));
	ck_assert_str_eq(err.data, "strconv.ParseUint: parsing \"-1\": invalid syntax");
	buf_free(&err);
}
END_TEST

static Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_simple_get);
	tcase_add_test(tc, test_every_split);
	tcase_add_test(tc, test_byte_at_a_time);
	tcase_add_test(tc, test_pipelined_and_body);
	tcase_add_test(tc, test_keep_alive_rules);
	tcase_add_test(tc, test_absolute_form);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_response_head);
	tcase_add_test(tc, test_dates);
	tcase_add_test(tc, test_query);
	tcase_add_test(tc, test_conversions);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(http_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
