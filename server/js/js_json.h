/*
 * js_json.h - JSON helpers for the JetStream API: typed field reads with
 * Go's decoding rules (case-insensitive keys, null = absent, a wrong type
 * is an error), times in the reference's form, standard base64, and NATS
 * header lookups.  Pure functions over borrowed input.
 */
#ifndef JS_JSON_H
#define JS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "../lib/json.h"
#include "../lib/mem.h"

/* Field reads: 1 = found, 0 = absent or null, -1 = wrong type. */
int js_json_int(const struct json_doc *d, int obj, const char *key,
		int64_t *out);
int js_json_uint(const struct json_doc *d, int obj, const char *key,
		 uint64_t *out);
int js_json_bool(const struct json_doc *d, int obj, const char *key,
		 bool *out);
/* *out gets an owned copy (mem) on 1. */
int js_json_str(struct mem *mem, const struct json_doc *d, int obj,
		const char *key, char **out);
/* A value's raw JSON (object/array) as an owned copy; same returns. */
int js_json_raw(struct mem *mem, const struct json_doc *d, int obj,
		const char *key, enum json_type want, char **out);

/* Parses an optional request body: empty (or only spaces) gives 0 with
 * *empty true and no document; invalid JSON or a non-object gives -1. */
int js_json_parse_body(struct json_doc *doc, struct mem *mem,
		       const char *body, size_t len, bool *empty);

/* A time value: RFC 3339 with nanoseconds, "0001-01-01T00:00:00Z" for 0. */
void js_jw_time(struct jw *w, int64_t unix_ns);

/* Two configs are equal when their encodings are (the reference compares
 * configs the same way); encode writes one config object. */
typedef void (*js_encode_fn)(struct jw *w, const void *cfg);
bool js_json_encoded_equal(struct mem *mem, js_encode_fn encode,
			   const void *a, const void *b);
/* Standard base64 with padding. */
void js_base64_encode(struct buf *out, const void *data, size_t len);

/* An enumeration field: *out = the index of its string in names.  Same
 * returns as the field reads; an unknown name is -1 (Go's UnmarshalJSON of
 * the reference's policy types fails the same way). */
int js_json_enum(struct mem *mem, const struct json_doc *d, int obj,
		 const char *key, const char *const *names, size_t n, int *out);

/* A decimal number of 1 to 20 digits (no sign, no spaces). */
bool js_parse_u64(const char *s, size_t n, uint64_t *out);

/* The fields of an ack reply subject: the 9-token form
 * $JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<dseq>.<ts>.<pending> or the
 * 12-token one with domain and account hash after "$JS.ACK". */
struct js_ack_info {
	const char *consumer;          /* points into the subject */
	size_t consumer_len;
	const char *sseq_text;         /* the stream sequence as written */
	size_t sseq_len;
	uint64_t dc, sseq, dseq, pending;
	int64_t ts;
};
bool js_ack_reply_parse(const char *subj, size_t len, struct js_ack_info *ai);

/* The value of header key in a NATS header block (exact, case-sensitive
 * name like the reference), spaces trimmed; NULL when absent. */
const char *js_header_get(const char *hdr, size_t hdr_len, const char *key,
			  size_t *value_len);

#endif
