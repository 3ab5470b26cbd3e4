/*
 * js_json.c - JSON, time, base64 and header helpers for the JetStream API
 * (see js_json.h).  Owns nothing; every function works on borrowed input.
 */
#include <string.h>

#include "../lib/assert.h"
#include "../lib/timefmt.h"
#include "js_json.h"

/* Go's decoder treats null like an absent field. */
static int js_json_field(const struct json_doc *d, int obj, const char *key)
{
	if (obj < 0 || json_type_of(d, obj) != JSON_OBJECT)
		return -1;
	int t = json_obj_get_fold(d, obj, key);
	if (t < 0 || json_type_of(d, t) == JSON_NULL)
		return -1;
	return t;
}

int js_json_int(const struct json_doc *d, int obj, const char *key,
		int64_t *out)
{
	int t = js_json_field(d, obj, key);
	if (t < 0)
		return 0;
	return json_get_int(d, t, out) ? 1 : -1;
}

int js_json_uint(const struct json_doc *d, int obj, const char *key,
		 uint64_t *out)
{
	int t = js_json_field(d, obj, key);
	if (t < 0)
		return 0;
	return json_get_uint(d, t, out) ? 1 : -1;
}

int js_json_bool(const struct json_doc *d, int obj, const char *key,
		 bool *out)
{
	int t = js_json_field(d, obj, key);
	if (t < 0)
		return 0;
	return json_get_bool(d, t, out) ? 1 : -1;
}

int js_json_str(struct mem *mem, const struct json_doc *d, int obj,
		const char *key, char **out)
{
	int t = js_json_field(d, obj, key);
	if (t < 0)
		return 0;
	struct buf b;
	buf_init(&b, mem);
	if (!json_get_string(d, t, &b) || b.oom) {
		buf_free(&b);
		return -1;
	}
	*out = mem_strndup(mem, b.data ? b.data : "", b.len);
	buf_free(&b);
	return *out != NULL ? 1 : -1;
}

int js_json_raw(struct mem *mem, const struct json_doc *d, int obj,
		const char *key, enum json_type want, char **out)
{
	int t = js_json_field(d, obj, key);
	if (t < 0)
		return 0;
	if (json_type_of(d, t) != want)
		return -1;
	size_t len = 0;
	const char *raw = json_raw(d, t, &len);
	*out = mem_strndup(mem, raw, len);
	return *out != NULL ? 1 : -1;
}

int js_json_parse_body(struct json_doc *doc, struct mem *mem,
		       const char *body, size_t len, bool *empty)
{
	size_t i = 0;
	while (i < len && (body[i] == ' ' || body[i] == '\t' ||
			   body[i] == '\r' || body[i] == '\n'))
		i++;
	*empty = i == len;
	if (*empty)
		return 0;
	if (json_parse(doc, mem, body, len) != 0)
		return -1;
	if (json_type_of(doc, 0) != JSON_OBJECT) {
		json_doc_free(doc);
		return -1;
	}
	return 0;
}

void js_jw_time(struct jw *w, int64_t unix_ns)
{
	if (unix_ns == 0) {
		jw_str(w, "0001-01-01T00:00:00Z");
		return;
	}
	char tbuf[TIMEFMT_MAX];
	size_t n = timefmt_rfc3339(unix_ns, tbuf);
	jw_strn(w, tbuf, n);
}

void js_base64_encode(struct buf *out, const void *data, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *p = data;
	char q[4];
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		q[0] = tab[v >> 18];
		q[1] = tab[(v >> 12) & 63];
		q[2] = tab[(v >> 6) & 63];
		q[3] = tab[v & 63];
		buf_append(out, q, 4);
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		q[0] = tab[v >> 18];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		q[3] = '=';
		buf_append(out, q, 4);
	}
}

const char *js_header_get(const char *hdr, size_t hdr_len, const char *key,
			  size_t *value_len)
{
	size_t klen = strlen(key);
	size_t i = 0;
	/* Skip the status line; keys start after each CRLF. */
	while (i < hdr_len && hdr[i] != '\n')
		i++;
	while (++i < hdr_len) {
		size_t eol = i;
		while (eol < hdr_len && hdr[eol] != '\n')
			eol++;
		if (eol - i > klen && memcmp(hdr + i, key, klen) == 0 &&
		    hdr[i + klen] == ':') {
			size_t v = i + klen + 1, e = eol;
			while (v < e && (hdr[v] == ' ' || hdr[v] == '\t'))
				v++;
			while (e > v && (hdr[e - 1] == '\r' || hdr[e - 1] == ' ' ||
					 hdr[e - 1] == '\t'))
				e--;
			*value_len = e - v;
			return hdr + v;
		}
		i = eol;
	}
	return NULL;
}

bool js_json_encoded_equal(struct mem *mem, js_encode_fn encode,
			   const void *a, const void *b)
{
	struct buf ba, bb;
	struct jw w;
	buf_init(&ba, mem);
	buf_init(&bb, mem);
	jw_init(&w, &ba);
	encode(&w, a);
	jw_init(&w, &bb);
	encode(&w, b);
	bool eq = !ba.oom && !bb.oom && ba.len == bb.len &&
		  memcmp(ba.data, bb.data, ba.len) == 0;
	buf_free(&ba);
	buf_free(&bb);
	return eq;
}

int js_json_enum(struct mem *mem, const struct json_doc *d, int obj,
		 const char *key, const char *const *names, size_t n, int *out)
{
	char *v = NULL;
	int rc = js_json_str(mem, d, obj, key, &v);
	if (rc <= 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v, names[i]) == 0) {
			*out = (int)i;
			mem_free(mem, v);
			return 1;
		}
	}
	mem_free(mem, v);
	return -1;
}

bool js_parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

bool js_ack_reply_parse(const char *r, size_t len, struct js_ack_info *ai)
{
	const char *tok[13];
	size_t tlen[13], n = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && r[i] != '.')
			continue;
		if (n == 13)
			return false;
		tok[n] = r + start;
		tlen[n++] = i - start;
		start = i + 1;
	}
	if ((n != 9 && n != 12) || tlen[0] != 3 || memcmp(tok[0], "$JS", 3) ||
	    tlen[1] != 3 || memcmp(tok[1], "ACK", 3))
		return false;
	size_t b = n == 9 ? 3 : 5;     /* the consumer's token */
	uint64_t ts = 0;
	ai->consumer = tok[b];
	ai->consumer_len = tlen[b];
	ai->sseq_text = tok[b + 2];
	ai->sseq_len = tlen[b + 2];
	if (!js_parse_u64(tok[b + 1], tlen[b + 1], &ai->dc) ||
	    !js_parse_u64(tok[b + 2], tlen[b + 2], &ai->sseq) ||
	    !js_parse_u64(tok[b + 3], tlen[b + 3], &ai->dseq) ||
	    !js_parse_u64(tok[b + 4], tlen[b + 4], &ts) ||
	    !js_parse_u64(tok[b + 5], tlen[b + 5], &ai->pending))
		return false;
	ai->ts = (int64_t)ts;
	return true;
}
