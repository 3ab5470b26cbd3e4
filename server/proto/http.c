/*
 * http.c - the HTTP/1.1 request parser, response head writer and query
 * helpers declared in http.h.
 *
 * The parser copies head bytes into p->head one at a time until the blank
 * line that ends the head, then parses the whole head at once.  Looking
 * back into the buffer for the end marker is what makes any split of the
 * input give the same result as one read.  Invariants: head_len never
 * exceeds HTTP_MAX_HEAD_BYTES; in HTTP_STATE_ERROR nothing more is taken.
 */
#include "http.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

static char http_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

static bool http_eq_nocase(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (http_lower(a[i]) != http_lower(b[i]))
			return false;
	return true;
}

/* RFC 9110 token characters (method and header names). */
static bool http_is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static enum http_parse_result http_fail(struct http_parser *p, int status,
					const char *why)
{
	p->state = HTTP_STATE_ERROR;
	p->error_status = status;
	p->error = why;
	return HTTP_PARSE_ERROR;
}

void http_parser_init(struct http_parser *p)
{
	p->state = HTTP_STATE_HEAD;
	p->head_len = 0;
	p->body_left = 0;
	p->error_status = 0;
	p->error = NULL;
	memset(&p->req, 0, sizeof(p->req));
}

/* ------------------------------------------------------- request line */

static enum http_method http_method_of(const char *m, size_t len)
{
	static const struct { const char *name; enum http_method m; } tab[] = {
		{ "GET", HTTP_METHOD_GET }, { "HEAD", HTTP_METHOD_HEAD },
		{ "POST", HTTP_METHOD_POST }, { "PUT", HTTP_METHOD_PUT },
		{ "DELETE", HTTP_METHOD_DELETE }, { "OPTIONS", HTTP_METHOD_OPTIONS },
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strlen(tab[i].name) == len && memcmp(tab[i].name, m, len) == 0)
			return tab[i].m;
	return HTTP_METHOD_OTHER;
}

/* Splits the target into path and query; the absolute form
 * ("http://host/path?q") keeps only its path, as a proxy-aware server
 * would. */
static bool http_split_target(struct http_request *r)
{
	const char *t = r->target, *end = t + r->target_len;
	for (const char *c = t; c < end; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return false;
	if (r->target_len == 1 && t[0] == '*') {
		r->path = t;
		r->path_len = 1;
		r->query = end;
		return true;
	}
	if (t[0] != '/') {
		const char *scheme = memchr(t, ':', r->target_len);
		if (scheme == NULL || end - scheme < 3 || scheme[1] != '/' || scheme[2] != '/')
			return false;
		const char *slash = memchr(scheme + 3, '/', (size_t)(end - scheme - 3));
		t = slash != NULL ? slash : end;
	}
	const char *q = memchr(t, '?', (size_t)(end - t));
	r->path = t == end ? "/" : t;
	r->path_len = t == end ? 1 : (size_t)((q ? q : end) - t);
	r->query = q ? q + 1 : end;
	r->query_len = q ? (size_t)(end - q - 1) : 0;
	return true;
}

static enum http_parse_result http_parse_request_line(struct http_parser *p,
						      const char *line, size_t len)
{
	struct http_request *r = &p->req;
	const char *sp1 = memchr(line, ' ', len);
	if (sp1 == NULL || sp1 == line)
		return http_fail(p, 400, "malformed request line");
	const char *rest = sp1 + 1;
	const char *sp2 = memchr(rest, ' ', len - (size_t)(rest - line));
	if (sp2 == NULL || sp2 == rest)
		return http_fail(p, 400, "malformed request line");
	r->method_text = line;
	r->method_len = (size_t)(sp1 - line);
	for (size_t i = 0; i < r->method_len; i++)
		if (!http_is_tchar((unsigned char)line[i]))
			return http_fail(p, 400, "invalid method");
	r->method = http_method_of(line, r->method_len);
	r->target = rest;
	r->target_len = (size_t)(sp2 - rest);
	const char *ver = sp2 + 1;
	size_t vlen = len - (size_t)(ver - line);
	if (vlen != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[6] != '.' ||
	    ver[5] < '0' || ver[5] > '9' || ver[7] < '0' || ver[7] > '9')
		return http_fail(p, 400, "malformed HTTP version");
	if (ver[5] != '1')
		return http_fail(p, 505, "HTTP version not supported");
	r->version_minor = ver[7] - '0';
	if (!http_split_target(r))
		return http_fail(p, 400, "invalid request target");
	return HTTP_PARSE_MORE;
}

/* ------------------------------------------------------------ headers */

/* Connection: a comma-separated list of tokens. */
static void http_apply_connection(struct http_request *r, const char *v, size_t len)
{
	size_t i = 0;
	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t start = i;
		while (i < len && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
			i++;
		if (http_eq_nocase(v + start, i - start, "close"))
			r->keep_alive = false;
		else if (http_eq_nocase(v + start, i - start, "keep-alive"))
			r->keep_alive = true;
	}
}

static bool http_read_length(const char *v, size_t len, uint64_t *out)
{
	uint64_t n = 0;
	if (len == 0 || len > 19)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	*out = n;
	return true;
}

static enum http_parse_result http_parse_header(struct http_parser *p,
						const char *line, size_t len,
						bool *have_length)
{
	struct http_request *r = &p->req;
	if (line[0] == ' ' || line[0] == '\t')
		return http_fail(p, 400, "obsolete header line folding");
	const char *colon = memchr(line, ':', len);
	if (colon == NULL || colon == line)
		return http_fail(p, 400, "malformed header line");
	for (const char *c = line; c < colon; c++)
		if (!http_is_tchar((unsigned char)*c))
			return http_fail(p, 400, "invalid header name");
	if (r->nheaders == HTTP_MAX_HEADERS)
		return http_fail(p, 431, "too many header lines");
	const char *v = colon + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (const char *c = v; c < end; c++)
		if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
			return http_fail(p, 400, "invalid header value");
	struct http_header *h = &r->headers[r->nheaders++];
	h->name = line;
	h->name_len = (size_t)(colon - line);
	h->value = v;
	h->value_len = (size_t)(end - v);
	if (http_eq_nocase(h->name, h->name_len, "connection")) {
		http_apply_connection(r, h->value, h->value_len);
	} else if (http_eq_nocase(h->name, h->name_len, "content-length")) {
		uint64_t n;
		if (!http_read_length(h->value, h->value_len, &n) ||
		    (*have_length && n != r->content_length))
			return http_fail(p, 400, "invalid Content-Length");
		*have_length = true;
		r->content_length = n;
	} else if (http_eq_nocase(h->name, h->name_len, "transfer-encoding")) {
		return http_fail(p, 501, "unsupported transfer encoding");
	}
	return HTTP_PARSE_MORE;
}

/* Parses p->head (complete, ends with the blank line) into p->req. */
static enum http_parse_result http_parse_head(struct http_parser *p)
{
	struct http_request *r = &p->req;
	const char *at = p->head, *end = p->head + p->head_len;
	bool first = true, have_length = false;
	memset(r, 0, sizeof(*r));
	for (;;) {
		const char *nl = memchr(at, '\n', (size_t)(end - at));
		size_t len = (size_t)(nl - at);
		if (len > 0 && at[len - 1] == '\r')
			len--;
		if (memchr(at, '\r', len) != NULL)
			return http_fail(p, 400, "bare CR in the request head");
		if (len == 0)
			break;
		enum http_parse_result rc = first
			? http_parse_request_line(p, at, len)
			: http_parse_header(p, at, len, &have_length);
		if (rc == HTTP_PARSE_ERROR)
			return rc;
		if (first)
			r->keep_alive = r->version_minor >= 1;
		first = false;
		at = nl + 1;
	}
	if (r->version_minor >= 1 && http_request_header(r, "host", NULL) == NULL)
		return http_fail(p, 400, "missing required Host header");
	if (r->content_length > HTTP_MAX_BODY_BYTES)
		return http_fail(p, 413, "request body too large");
	p->body_left = r->content_length;
	return HTTP_PARSE_MORE;
}

/* ------------------------------------------------------------ feeding */

/* True when the head buffer ends with the blank line that ends a head. */
static bool http_head_complete(const struct http_parser *p)
{
	const char *h = p->head;
	size_t n = p->head_len;
	if (n < 2 || h[n - 1] != '\n')
		return false;
	if (h[n - 2] == '\n')
		return true;
	return n >= 3 && h[n - 2] == '\r' && h[n - 3] == '\n';
}

static enum http_parse_result http_take_head(struct http_parser *p, const char *data,
					     size_t len, size_t *i)
{
	while (*i < len) {
		char c = data[(*i)++];
		/* Blank lines before a request are tolerated (RFC 9112 2.2). */
		if (p->head_len == 0 && (c == '\r' || c == '\n'))
			continue;
		if (p->head_len == HTTP_MAX_HEAD_BYTES)
			return memchr(p->head, '\n', p->head_len) == NULL
				? http_fail(p, 414, "request line too long")
				: http_fail(p, 431, "request head too large");
		p->head[p->head_len++] = c;
		if (c != '\n') {
			if (p->head_len > HTTP_MAX_LINE_BYTES &&
			    memchr(p->head, '\n', p->head_len) == NULL)
				return http_fail(p, 414, "request line too long");
			continue;
		}
		if (!http_head_complete(p))
			continue;
		if (http_parse_head(p) == HTTP_PARSE_ERROR)
			return HTTP_PARSE_ERROR;
		p->state = HTTP_STATE_BODY;
		return HTTP_PARSE_MORE;
	}
	return HTTP_PARSE_MORE;
}

enum http_parse_result http_parse(struct http_parser *p, const char *data,
				  size_t len, size_t *consumed)
{
	size_t i = 0;
	*consumed = 0;
	if (p->state == HTTP_STATE_ERROR)
		return HTTP_PARSE_ERROR;
	if (p->state == HTTP_STATE_DONE)
		http_parser_init(p);
	if (p->state == HTTP_STATE_HEAD) {
		enum http_parse_result rc = http_take_head(p, data, len, &i);
		*consumed = i;
		if (rc == HTTP_PARSE_ERROR || p->state == HTTP_STATE_HEAD)
			return rc;
	}
	uint64_t take = len - i;
	if (take > p->body_left)
		take = p->body_left;
	p->body_left -= take;
	i += (size_t)take;
	*consumed = i;
	if (p->body_left > 0)
		return HTTP_PARSE_MORE;
	p->state = HTTP_STATE_DONE;
	return HTTP_PARSE_DONE;
}

const char *http_request_header(const struct http_request *req,
				const char *name, size_t *value_len)
{
	for (size_t i = 0; i < req->nheaders; i++) {
		const struct http_header *h = &req->headers[i];
		if (http_eq_nocase(h->name, h->name_len, name)) {
			if (value_len != NULL)
				*value_len = h->value_len;
			return h->value;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------ responses */

const char *http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Request Entity Too Large";
	case 414: return "Request URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	return "";
}

size_t http_format_date(int64_t unix_ns, char *out)
{
	static const char days[7][4] = { "Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	int64_t secs = unix_ns / 1000000000;
	if (unix_ns < 0 && unix_ns % 1000000000 != 0)
		secs--;
	int64_t day = secs / 86400, rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		day--;
	}
	int wday = (int)(((day % 7) + 7) % 7);
	/* Civil date from days since 1970-01-01 (Howard Hinnant's method). */
	int64_t z = day + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	int64_t y = yoe + era * 400 + (m <= 2);
	int n = snprintf(out, HTTP_DATE_MAX, "%s, %02d %s %04d %02d:%02d:%02d GMT",
			 days[wday], (int)d, months[m - 1], (int)(y % 10000),
			 (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
	return n > 0 ? (size_t)n : 0;
}

void http_write_head(struct buf *out, int version_minor, int status,
		     const char *content_type, size_t content_length,
		     bool keep_alive, int64_t date_unix_ns)
{
	char date[HTTP_DATE_MAX];
	http_format_date(date_unix_ns, date);
	buf_appendf(out, "HTTP/1.%d %d %s\r\n", version_minor ? 1 : 0, status,
		    http_status_text(status));
	if (content_type != NULL)
		buf_appendf(out, "Content-Type: %s\r\n", content_type);
	buf_appendf(out, "Date: %s\r\nContent-Length: %zu\r\n", date, content_length);
	/* HTTP/1.0 clients need to be told the connection stays open. */
	if (!keep_alive)
		buf_append_str(out, "Connection: close\r\n");
	else if (version_minor == 0)
		buf_append_str(out, "Connection: keep-alive\r\n");
	buf_append_str(out, "\r\n");
}

/* ------------------------------------------------------------ queries */

static int http_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = http_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool http_unescape(const char *src, size_t len, bool plus_is_space, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		char c = src[i];
		if (c == '%') {
			if (i + 2 >= len)
				return false;
			int hi = http_hex(src[i + 1]), lo = http_hex(src[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			buf_append_char(out, (char)(hi * 16 + lo));
			i += 2;
		} else {
			buf_append_char(out, plus_is_space && c == '+' ? ' ' : c);
		}
	}
	return true;
}

bool http_query_get(const char *query, size_t len, const char *name, struct buf *out)
{
	size_t i = 0;
	buf_reset(out);
	while (i < len) {
		size_t start = i;
		while (i < len && query[i] != '&')
			i++;
		const char *pair = query + start;
		size_t plen = i - start;
		i++;
		/* Go (1.17 on) drops a pair holding ';' and an empty one. */
		if (plen == 0 || memchr(pair, ';', plen) != NULL)
			continue;
		const char *eq = memchr(pair, '=', plen);
		size_t klen = eq ? (size_t)(eq - pair) : plen;
		buf_reset(out);
		if (!http_unescape(pair, klen, true, out) || out->oom ||
		    strlen(name) != out->len || memcmp(out->data, name, out->len) != 0)
			continue;
		buf_reset(out);
		if (eq == NULL)
			return true;
		if (http_unescape(eq + 1, plen - klen - 1, true, out))
			return true;
	}
	buf_reset(out);
	return false;
}

static void http_syntax_error(struct buf *err, const char *fn, const char *text,
			      const char *why)
{
	buf_appendf(err, "strconv.%s: parsing \"%s\": %s", fn, text, why);
}

bool http_parse_bool(const char *text, bool *out, struct buf *err)
{
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
	for (size_t i = 0; i < 6; i++) {
		if (strcmp(text, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcmp(text, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	http_syntax_error(err, "ParseBool", text, "invalid syntax");
	return false;
}

/* Decimal digits into *v; -1 syntax, -2 overflow past max. */
static int http_digits(const char *s, uint64_t max, uint64_t *v)
{
	uint64_t n = 0;
	bool over = false;
	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		unsigned d = (unsigned)(*s - '0');
		if (n > (max - d) / 10)
			over = true;
		else
			n = n * 10 + d;
	}
	*v = n;
	return over ? -2 : 0;
}

bool http_parse_int(const char *text, int64_t *out, struct buf *err)
{
	const char *s = text;
	bool neg = false;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	uint64_t v = 0;
	int rc = http_digits(s, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &v);
	if (rc != 0) {
		http_syntax_error(err, "Atoi", text,
				  rc == -1 ? "invalid syntax" : "value out of range");
		return false;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

bool http_parse_uint(const char *text, uint64_t *out, struct buf *err)
{
	int rc = http_digits(text, UINT64_MAX, out);
	if (rc != 0) {
		http_syntax_error(err, "ParseUint", text,
				  rc == -1 ? "invalid syntax" : "value out of range");
		return false;
	}
	return true;
}
