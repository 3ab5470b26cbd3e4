/*
 * fuzz_js_api.c - harness for the JetStream API request decoders: the
 * StreamConfig (server/js/stream.h: decode, check, update check, encode)
 * and the ConsumerConfig (server/js/consumer.h: decode, encode).
 *
 * Input: a selector byte, an option byte, then the JSON request body.
 *   selector 'S' (or byte % 3 == 0): a StreamConfig object;
 *   selector 'C' (or byte % 3 == 1): a ConsumerConfig object, or a
 *     consumer create request {"stream_name":..,"config":{..}} whose
 *     "config" member is decoded the way the API does;
 *   selector 'U' (or byte % 3 == 2): an array [old, new] of two
 *     StreamConfigs, both checked, then the update old -> new checked.
 *   The option byte picks the server's duplicate window limit.
 *
 * Properties checked:
 *   - decoding never crashes or leaks; a refused StreamConfig, a refused
 *     check and a refused update come with an err_code and a description;
 *   - a decoded StreamConfig encodes to JSON that parses and decodes to an
 *     equal config (stream_config_equal), before and after the check;
 *   - a checked config encodes to a fixpoint: decoding its encoding gives
 *     the same bytes again, checking it again changes nothing and updating
 *     a stream to the same config is allowed (unless template owned);
 *   - a decoded ConsumerConfig encodes to JSON that decodes again and
 *     encodes to the same bytes;
 *   - with one allocation made to fail, nothing crashes or leaks.
 */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "js/consumer.h"
#include "js/js_api.h"
#include "js/stream.h"
#include "lib/json.h"

enum { SEL_STREAM, SEL_CONSUMER, SEL_UPDATE };

/* Server limits of duplicate_window (jetstream { max_dup_window }). */
static const int64_t dup_limits[] = {
	0, 120LL * 1000000000LL, 1000000000LL, 50000000LL,
};

struct run {
	struct mem *mem;
	bool check;         /* false under an injected allocation failure */
	int64_t max_dup;
};

static int select_decoder(uint8_t b)
{
	if (b == 'S')
		return SEL_STREAM;
	if (b == 'C')
		return SEL_CONSUMER;
	if (b == 'U')
		return SEL_UPDATE;
	return b % 3;
}

static void check_error(const struct js_error *e, const char *what)
{
	FUZZ_CHECK(e->err > JS_ERR_NONE && e->err < JS_ERR_COUNT, "%s: error %d", what,
		   (int)e->err);
	FUZZ_CHECK(js_error_code(e->err) >= 10000, "%s: err_code %d", what,
		   js_error_code(e->err));
	FUZZ_CHECK(js_error_http(e->err) >= 400, "%s: http %d", what,
		   js_error_http(e->err));
	/* The detail may quote the request, so braces are no sign of an
	 * unreplaced placeholder: only an empty description is wrong. */
	FUZZ_CHECK(e->text[0] != '\0', "%s: empty description", what);
}

/* ---- stream configs -------------------------------------------------- */

static void stream_encode(const struct stream_config *c, struct buf *out)
{
	struct jw w;
	buf_reset(out);
	jw_init(&w, out);
	stream_config_encode(&w, c);
	FUZZ_CHECK(w.depth == 0, "stream encoding ends at depth %u", w.depth);
}

/* Encodes a, decodes that into *b (owned by the caller on true).  False
 * only when checking is off and memory ran out. */
static bool stream_reencode(struct run *r, const struct stream_config *a,
			    struct buf *enc, struct stream_config *b)
{
	struct json_doc d;
	struct js_error e = { 0 };
	stream_encode(a, enc);
	if (enc->oom) {
		FUZZ_CHECK(!r->check, "stream encoding out of memory without a limit");
		return false;
	}
	if (json_parse(&d, r->mem, enc->data, enc->len) != 0) {
		if (r->check)
			fuzz_print_bytes("encoded", enc->data, enc->len);
		FUZZ_CHECK(!r->check, "stream encoding does not parse: %s", d.error);
		return false;
	}
	int rc = stream_config_decode(r->mem, &d, 0, b, &e);
	json_doc_free(&d);
	if (rc != 0 && r->check) {
		fuzz_print_bytes("encoded", enc->data, enc->len);
		FUZZ_CHECK(false, "stream encoding does not decode: %s", e.text);
	}
	return rc == 0;
}

static void stream_expect_equal(struct run *r, const struct stream_config *a,
				const struct stream_config *b, const char *what)
{
	if (!r->check || stream_config_equal(r->mem, a, b))
		return;
	struct buf x, y;
	buf_init(&x, r->mem);
	buf_init(&y, r->mem);
	stream_encode(a, &x);
	stream_encode(b, &y);
	fuzz_print_bytes("first", x.data, x.len);
	fuzz_print_bytes("second", y.data, y.len);
	FUZZ_CHECK(false, "%s: stream configs differ", what);
}

/* The checked config a: its encoding is a fixpoint of decode + check. */
static void stream_check_fixpoint(struct run *r, const struct stream_config *a)
{
	struct buf first, second;
	struct stream_config b;
	struct js_error e = { 0 };
	buf_init(&first, r->mem);
	buf_init(&second, r->mem);
	if (stream_reencode(r, a, &first, &b)) {
		stream_expect_equal(r, a, &b, "checked config after a round trip");
		int rc = stream_config_check(&b, r->max_dup, r->mem, &e);
		if (r->check && rc != 0) {
			fuzz_print_bytes("encoded", first.data, first.len);
			FUZZ_CHECK(false, "a checked config fails its check again: %s",
				   e.text);
		}
		if (rc == 0) {
			stream_expect_equal(r, a, &b, "checked config checked again");
			stream_encode(&b, &second);
			FUZZ_CHECK(!r->check || (second.len == first.len &&
				   memcmp(second.data, first.data, first.len) == 0),
				   "encoding a checked config twice differs");
			/* A template owned stream takes no update at all. */
			rc = stream_config_check_update(a, &b, &e);
			FUZZ_CHECK(!r->check || rc == 0 || a->template_owner != NULL,
				   "updating a stream to its own config: %s", e.text);
		}
		stream_config_free(r->mem, &b);
	}
	buf_free(&first);
	buf_free(&second);
}

/* Decodes and checks the StreamConfig at tok; true with *c on success. */
static bool stream_decode_checked(struct run *r, const struct json_doc *d,
				  int tok, struct stream_config *c)
{
	struct js_error e = { 0 };
	struct stream_config b;
	struct buf enc;
	if (stream_config_decode(r->mem, d, tok, c, &e) != 0) {
		check_error(&e, "stream_config_decode");
		FUZZ_CHECK(!r->check || e.err == JS_ERR_INVALID_JSON,
			   "stream decode error is not invalid JSON: %s", e.text);
		return false;
	}
	FUZZ_CHECK(c->name != NULL, "decoded stream config without a name");
	buf_init(&enc, r->mem);
	if (stream_reencode(r, c, &enc, &b)) {
		stream_expect_equal(r, c, &b, "decoded config after a round trip");
		stream_config_free(r->mem, &b);
	}
	buf_free(&enc);
	memset(&e, 0, sizeof(e));
	if (stream_config_check(c, r->max_dup, r->mem, &e) != 0) {
		check_error(&e, "stream_config_check");
		stream_config_free(r->mem, c);
		return false;
	}
	/* Mirrors and sources may have no subjects; a mirror has no
	 * duplicate window of its own. */
	FUZZ_CHECK((c->n_subjects > 0 || c->mirror != NULL ||
		    c->n_sources > 0) && c->replicas >= 1 && c->replicas <= 5 &&
		   (c->duplicate_window_ns > 0 || c->mirror != NULL),
		   "checked config out of range");
	FUZZ_CHECK(c->mirror == NULL || (c->n_subjects == 0 &&
					 c->n_sources == 0),
		   "a checked mirror with subjects or sources");
	stream_check_fixpoint(r, c);
	return true;
}

static void run_stream(struct run *r, const struct json_doc *d)
{
	struct stream_config c;
	if (stream_decode_checked(r, d, 0, &c))
		stream_config_free(r->mem, &c);
}

static void run_update(struct run *r, const struct json_doc *d)
{
	struct stream_config old, c;
	struct js_error e = { 0 };
	int t0 = json_array_at(d, 0, 0), t1 = json_array_at(d, 0, 1);
	if (t0 < 0 || t1 < 0) {
		run_stream(r, d);
		return;
	}
	if (!stream_decode_checked(r, d, t0, &old))
		return;
	if (stream_decode_checked(r, d, t1, &c)) {
		if (stream_config_check_update(&old, &c, &e) != 0)
			check_error(&e, "stream_config_check_update");
		else
			stream_check_fixpoint(r, &c);
		stream_config_free(r->mem, &c);
	}
	stream_config_free(r->mem, &old);
}

/* ---- consumer configs ------------------------------------------------ */

static void consumer_encode(const struct consumer_config *c, struct buf *out)
{
	struct jw w;
	buf_reset(out);
	jw_init(&w, out);
	consumer_config_encode(&w, c);
	FUZZ_CHECK(w.depth == 0, "consumer encoding ends at depth %u", w.depth);
}

static void consumer_round_trip(struct run *r, const struct consumer_config *c)
{
	struct buf first, second;
	struct json_doc d;
	struct consumer_config b;
	buf_init(&first, r->mem);
	buf_init(&second, r->mem);
	consumer_encode(c, &first);
	FUZZ_CHECK(!r->check || !first.oom, "consumer encoding out of memory");
	if (!first.oom && json_parse(&d, r->mem, first.data, first.len) == 0) {
		if (consumer_config_decode(r->mem, &d, 0, &b) == 0) {
			consumer_encode(&b, &second);
			if (r->check && (second.len != first.len ||
			    memcmp(second.data, first.data, first.len) != 0)) {
				fuzz_print_bytes("first", first.data, first.len);
				fuzz_print_bytes("second", second.data, second.len);
				FUZZ_CHECK(false, "consumer config round trip differs");
			}
			consumer_config_free(r->mem, &b);
		} else if (r->check) {
			fuzz_print_bytes("encoded", first.data, first.len);
			FUZZ_CHECK(false, "consumer encoding does not decode");
		}
		json_doc_free(&d);
	} else if (r->check) {
		fuzz_print_bytes("encoded", first.data, first.len);
		FUZZ_CHECK(false, "consumer encoding does not parse: %s", d.error);
	}
	buf_free(&first);
	buf_free(&second);
}

static void run_consumer(struct run *r, const struct json_doc *d)
{
	struct consumer_config c;
	int tok = 0;
	/* A create request carries the config in "config", as the API reads. */
	if (json_obj_get_fold(d, 0, "stream_name") >= 0) {
		tok = json_obj_get_fold(d, 0, "config");
		if (tok < 0 || json_type_of(d, tok) == JSON_NULL)
			return;
	}
	if (consumer_config_decode(r->mem, d, tok, &c) != 0)
		return;
	consumer_round_trip(r, &c);
	consumer_config_free(r->mem, &c);
}

/* ---- the run --------------------------------------------------------- */

static void run_once(const uint8_t *data, size_t size, struct mem *mem, bool check)
{
	struct fuzz_in in;
	const uint8_t *body;
	struct json_doc d;
	fuzz_in_init(&in, data, size);
	int sel = select_decoder(fuzz_in_u8(&in));
	struct run r = { mem, check, dup_limits[fuzz_in_u8(&in) % 4] };
	size_t len = fuzz_in_take(&in, size, &body);
	if (json_parse(&d, mem, (const char *)body, len) != 0)
		return;
	if (sel == SEL_STREAM)
		run_stream(&r, &d);
	else if (sel == SEL_CONSUMER)
		run_consumer(&r, &d);
	else
		run_update(&r, &d);
	json_doc_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem mem;
	mem_init(&mem);
	run_once(data, size, &mem, true);
	fuzz_check_no_leak(&mem, "js api decoders");

	/* Again with one allocation failing, chosen by the input. */
	uint64_t allocs = mem.alloc_count;
	if (allocs > 0) {
		mem_init(&mem);
		mem.fail_at = 1 + fuzz_hash(data, size) % allocs;
		run_once(data, size, &mem, false);
		fuzz_check_no_leak(&mem, "js api decoders under an allocation failure");
	}
	return 0;
}
