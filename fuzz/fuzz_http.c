/*
 * fuzz_http.c - harness for the HTTP/1.1 request parser and the query
 * helpers (server/proto/http.h), the monitoring port's input surface.
 *
 * Input: one byte choosing how the stream is cut into reads, then the
 * bytes a client sends (requests, pipelined, possibly malformed).
 *
 * Properties checked:
 *   - the stream fed at once and the same stream cut at random points
 *     give the same sequence of outcomes: each request's method, path,
 *     query, version, keep-alive and body length, then the same error
 *     status (resumability at any byte);
 *   - consumed counts never exceed what was given, MORE takes everything,
 *     an error is sticky;
 *   - a request's fields point inside the parser's head buffer, the path
 *     and query lie inside the target, and an error status is a 4xx/5xx;
 *   - the query helpers run over every parsed query without leaking.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lib/buf.h"
#include "proto/http.h"

#define MAX_EVENTS 64

/* What a client would observe of one request or the final error. */
struct outcome {
	int kind;                      /* 1 request, 2 error */
	int method, version_minor, status;
	bool keep_alive;
	uint64_t content_length;
	uint64_t path_hash, query_hash;
};

struct run {
	struct outcome ev[MAX_EVENTS];
	size_t n;
};

static bool inside(const struct http_parser *p, const char *ptr, size_t len)
{
	return ptr >= p->head && ptr + len <= p->head + p->head_len;
}

static void check_request(const struct http_parser *p)
{
	const struct http_request *r = &p->req;
	FUZZ_CHECK(inside(p, r->target, r->target_len), "target outside the head");
	FUZZ_CHECK(r->path_len > 0, "empty path");
	FUZZ_CHECK((r->path_len == 1 && r->path[0] == '/') ||
		   (r->path >= r->target && r->path + r->path_len <= r->target + r->target_len),
		   "path outside the target");
	FUZZ_CHECK(r->query_len == 0 || (r->query > r->target &&
					 r->query + r->query_len == r->target + r->target_len),
		   "query outside the target");
	FUZZ_CHECK(r->version_minor == 0 || r->version_minor <= 9, "version %d",
		   r->version_minor);
	FUZZ_CHECK(r->nheaders <= HTTP_MAX_HEADERS, "%zu headers", r->nheaders);
	for (size_t i = 0; i < r->nheaders; i++)
		FUZZ_CHECK(inside(p, r->headers[i].name, r->headers[i].name_len) &&
			   inside(p, r->headers[i].value, r->headers[i].value_len),
			   "header %zu outside the head", i);
	FUZZ_CHECK(r->content_length <= HTTP_MAX_BODY_BYTES, "body of %llu accepted",
		   (unsigned long long)r->content_length);
}

static void record(struct run *run, const struct http_parser *p, bool error)
{
	if (run->n == MAX_EVENTS)
		return;
	struct outcome *o = &run->ev[run->n++];
	memset(o, 0, sizeof(*o));
	if (error) {
		o->kind = 2;
		o->status = p->error_status;
		FUZZ_CHECK(p->error_status >= 400 && p->error_status < 600 && p->error != NULL,
			   "error status %d", p->error_status);
		return;
	}
	check_request(p);
	o->kind = 1;
	o->method = (int)p->req.method;
	o->version_minor = p->req.version_minor;
	o->keep_alive = p->req.keep_alive;
	o->content_length = p->req.content_length;
	o->path_hash = fuzz_hash((const uint8_t *)p->req.path, p->req.path_len);
	o->query_hash = fuzz_hash((const uint8_t *)p->req.query, p->req.query_len);
}

/* The query helpers on a parsed query: they must not crash or leak. */
static void exercise_query(const struct http_request *r, struct buf *tmp)
{
	static const char *const names[] = { "subs", "limit", "offset", "acc", "callback" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!http_query_get(r->query, r->query_len, names[i], tmp) || tmp->oom)
			continue;
		FUZZ_CHECK(tmp->len == 0 || tmp->data[tmp->len] == '\0', "value not terminated");
		if (tmp->len == 0 || memchr(tmp->data, '\0', tmp->len) != NULL)
			continue;
		struct buf err;
		bool b;
		int64_t v;
		buf_init(&err, tmp->mem);
		if (!http_parse_bool(tmp->data, &b, &err))
			FUZZ_CHECK(err.len > 0, "ParseBool failed without a message");
		buf_reset(&err);
		if (!http_parse_int(tmp->data, &v, &err))
			FUZZ_CHECK(err.len > 0, "Atoi failed without a message");
		buf_free(&err);
	}
}

/* Feeds data in reads of the sizes rng picks (all at once when rng is
 * NULL) and records the outcomes. */
static void run_stream(struct http_parser *p, const uint8_t *data, size_t len,
		       uint64_t *rng, struct run *run, struct buf *tmp)
{
	size_t pos = 0, end = 0;
	http_parser_init(p);
	run->n = 0;
	while (pos < len) {
		if (pos == end) {
			size_t chunk = rng ? 1 + (size_t)(fuzz_rand(rng) % 64) : len;
			end = pos + chunk < len ? pos + chunk : len;
		}
		size_t used = 0, avail = end - pos;
		enum http_parse_result rc = http_parse(p, (const char *)data + pos, avail, &used);
		FUZZ_CHECK(used <= avail, "consumed %zu of %zu", used, avail);
		if (rc == HTTP_PARSE_ERROR) {
			record(run, p, true);
			FUZZ_CHECK(http_parse(p, "x", 1, &used) == HTTP_PARSE_ERROR && used == 0,
				   "error not sticky");
			return;
		}
		if (rc == HTTP_PARSE_MORE)
			FUZZ_CHECK(used == avail, "MORE left %zu bytes", avail - used);
		pos += used;
		if (rc == HTTP_PARSE_DONE) {
			record(run, p, false);
			exercise_query(&p->req, tmp);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem mem;
	struct buf tmp;
	struct run *whole = calloc(1, sizeof(*whole)), *cut = calloc(1, sizeof(*cut));
	struct http_parser *p = malloc(sizeof(*p));
	FUZZ_CHECK(whole && cut && p, "out of memory in the harness");
	mem_init(&mem);
	buf_init(&tmp, &mem);
	uint64_t seed = size > 0 ? data[0] : 0;
	const uint8_t *stream = size > 0 ? data + 1 : data;
	size_t len = size > 0 ? size - 1 : 0;
	run_stream(p, stream, len, NULL, whole, &tmp);
	run_stream(p, stream, len, &seed, cut, &tmp);
	FUZZ_CHECK(whole->n == cut->n, "%zu outcomes at once, %zu when cut", whole->n, cut->n);
	for (size_t i = 0; i < whole->n; i++)
		FUZZ_CHECK(memcmp(&whole->ev[i], &cut->ev[i], sizeof(whole->ev[i])) == 0,
			   "outcome %zu differs when the stream is cut", i);
	buf_free(&tmp);
	fuzz_check_no_leak(&mem, "http");
	free(whole);
	free(cut);
	free(p);
	return 0;
}
