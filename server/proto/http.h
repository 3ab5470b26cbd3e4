/*
 * http.h - a sans-IO HTTP/1.1 request codec for the monitoring port.
 *
 * The parser takes (state, bytes, length) like every codec here: it never
 * sees a socket, never allocates, and resumes at any byte boundary.  The
 * request head (request line and headers) is copied into a fixed buffer
 * inside the parser, so a head split over many reads costs no allocation
 * and the request's fields can point into it.  A body (a GET rarely has
 * one) is counted off and dropped: monitoring reads only the target.
 *
 * Limits are part of the protocol surface: a request line longer than
 * HTTP_MAX_LINE_BYTES answers 414, a head longer than HTTP_MAX_HEAD_BYTES
 * answers 431, more than HTTP_MAX_HEADERS header lines 431, a body longer
 * than HTTP_MAX_BODY_BYTES 413, and any other malformed input 400.  After
 * an error the parser stays in the error state: the connection must be
 * answered and closed, because the byte stream can no longer be framed.
 *
 * Also here: the response head writer, the date format HTTP uses, and the
 * query string helpers with the same rules as Go's net/url (first value
 * wins, '+' is a space, a pair with a bad escape is dropped) and strconv
 * (ParseBool, Atoi, ParseUint) so that option errors read like the
 * reference server's.
 */
#ifndef PROTO_HTTP_H
#define PROTO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"

#define HTTP_MAX_LINE_BYTES 8192
#define HTTP_MAX_HEAD_BYTES 16384
#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_BODY_BYTES (1024 * 1024)

enum http_method {
	HTTP_METHOD_OTHER = 0,
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_POST,
	HTTP_METHOD_PUT,
	HTTP_METHOD_DELETE,
	HTTP_METHOD_OPTIONS,
};

/* What http_parse returns. */
enum http_parse_result {
	HTTP_PARSE_ERROR = -1,        /* p->error_status and p->error say why */
	HTTP_PARSE_MORE = 0,          /* every byte taken, request incomplete */
	HTTP_PARSE_DONE = 1,          /* p->req holds a complete request */
};

struct http_header {
	const char *name;             /* points into the parser's head */
	size_t name_len;
	const char *value;            /* surrounding blanks trimmed */
	size_t value_len;
};

/* One request.  Every pointer points into the parser that produced it and
 * stays valid until the next http_parse or http_parser_init on it. */
struct http_request {
	enum http_method method;
	const char *method_text;
	size_t method_len;
	const char *target;           /* request target as sent */
	size_t target_len;
	const char *path;             /* target up to '?' (absolute form: the
				       * path part only) */
	size_t path_len;
	const char *query;            /* after '?', without it; "" if none */
	size_t query_len;
	int version_minor;            /* HTTP/1.<minor>: 0 or 1 */
	bool keep_alive;              /* the connection may carry another */
	uint64_t content_length;      /* body bytes (skipped) */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t nheaders;
};

enum http_parser_state {
	HTTP_STATE_HEAD = 0,          /* collecting the request head */
	HTTP_STATE_BODY,              /* skipping body_left bytes */
	HTTP_STATE_DONE,              /* a request is ready; next call resets */
	HTTP_STATE_ERROR,             /* sticky */
};

struct http_parser {
	enum http_parser_state state;
	size_t head_len;              /* bytes held in head */
	uint64_t body_left;           /* body bytes still to skip */
	int error_status;             /* HTTP status to answer an error with */
	const char *error;            /* static text saying why */
	struct http_request req;
	char head[HTTP_MAX_HEAD_BYTES];
};

void http_parser_init(struct http_parser *p);
/* Feeds len bytes.  *consumed gets the bytes taken: all of them for MORE,
 * up to the end of the request for DONE (the rest belongs to the next,
 * pipelined request: call again with it), and an unspecified count for
 * ERROR.  A call after DONE starts a new request. */
enum http_parse_result http_parse(struct http_parser *p, const char *data,
				  size_t len, size_t *consumed);
/* The header's value (first one, name compared without case), or NULL. */
const char *http_request_header(const struct http_request *req,
				const char *name, size_t *value_len);

/* ---- responses ---- */

/* The reason phrase of a status code ("OK", "Not Found"); "" if unknown. */
const char *http_status_text(int status);
/* Formats unix_ns as an HTTP date ("Mon, 23 Nov 2026 13:04:37 GMT") into
 * out (at least HTTP_DATE_MAX bytes); returns the length. */
#define HTTP_DATE_MAX 32
size_t http_format_date(int64_t unix_ns, char *out);
/* Appends a status line and headers (Content-Type when content_type is
 * not NULL, Date, Content-Length, and Connection: close when the
 * connection ends after this response), then the blank line. */
void http_write_head(struct buf *out, int version_minor, int status,
		     const char *content_type, size_t content_length,
		     bool keep_alive, int64_t date_unix_ns);

/* ---- query strings ---- */

/* Percent-decodes src ('+' becomes a space when plus_is_space) into out
 * (appended).  False on a bad escape; out may then hold a partial value. */
bool http_unescape(const char *src, size_t len, bool plus_is_space,
		   struct buf *out);
/* Finds the first value of name in a query string ("a=1&b=2") into out
 * (reset first).  Returns whether the parameter is present; a present
 * parameter may have an empty value. */
bool http_query_get(const char *query, size_t len, const char *name,
		    struct buf *out);

/* Go-compatible conversions of an option's text.  On failure each writes
 * the reference's message (e.g. strconv.ParseBool: parsing "x": invalid
 * syntax) into err and returns false. */
bool http_parse_bool(const char *text, bool *out, struct buf *err);
bool http_parse_int(const char *text, int64_t *out, struct buf *err);
bool http_parse_uint(const char *text, uint64_t *out, struct buf *err);

#endif
