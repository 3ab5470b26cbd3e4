/*
 * source.c - mirrors and sources (see source.h): the StreamSource config
 * and the copying of messages from upstream streams.
 *
 * Invariants: a link is in one of three states: idle (no deliver
 * subscription; a retry is due at retry_at_ns), setting up (sip: the
 * create request is out, its reply subscription is live, and the answer
 * is awaited until sip_deadline_ns), or running (cname known).  The
 * deliver subject is new for every setup, so a message on it can only
 * come from the consumer of this setup.  For a mirror, sseq is the
 * mirror's own last sequence; for a source, the last upstream sequence
 * copied.  dseq is the last consumer sequence seen from the current
 * consumer (0 after a setup).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "../core/internal.h"
#include "../core/server_int.h"
#include "../core/subject.h"
#include "../core/transform.h"
#include "../lib/assert.h"
#include "../lib/timefmt.h"
#include "jetstream.h"
#include "js_json.h"
#include "source.h"
#include "stream.h"

#define NS_PER_MS 1000000LL
#define NS_PER_SEC 1000000000LL
/* The reference's sourceHealthCheckInterval, its stall limit (three
 * intervals), its sourceConsumerRetryThreshold and its wait for a create
 * answer. */
#define SOURCE_HEALTH_NS (1 * NS_PER_SEC)
#define SOURCE_STALL_NS (3 * NS_PER_SEC)
#define SOURCE_RETRY_NS (2 * NS_PER_SEC)
#define SOURCE_CREATE_WAIT_NS (5 * NS_PER_SEC)
/* 22 hours: the ack wait the reference puts in these requests. */
#define SOURCE_ACK_WAIT_NS (22LL * 3600 * NS_PER_SEC)
#define SOURCE_ID_LEN 8
#define SOURCE_SUBJECT_MAX 512

/* ============================================================ config */

static void source_transforms_free(struct mem *mem, struct stream_source *s)
{
	for (size_t i = 0; i < s->n_transforms; i++) {
		mem_free(mem, s->transforms[i].src);
		mem_free(mem, s->transforms[i].dest);
	}
	mem_free(mem, s->transforms);
	s->transforms = NULL;
	s->n_transforms = 0;
}

void source_config_free(struct mem *mem, struct stream_source *s)
{
	if (s == NULL)
		return;
	mem_free(mem, s->name);
	mem_free(mem, s->opt_start_time);
	mem_free(mem, s->filter_subject);
	source_transforms_free(mem, s);
	mem_free(mem, s->api_prefix);
	mem_free(mem, s->deliver_prefix);
	mem_free(mem, s->iname);
	mem_free(mem, s->tr_key);
	memset(s, 0, sizeof(*s));
}

/* The reference's getHash: sha256, the first 8 bytes as base-62 digits. */
static void source_hash8(const char *name, char out[SOURCE_ID_LEN + 1])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)name, strlen(name));
	for (int i = 0; i < SOURCE_ID_LEN; i++)
		out[i] = prng_base62_digits[h[i] % 62];
	out[SOURCE_ID_LEN] = '\0';
}

/* s->tr_key from s->transforms (see source.h). */
static bool source_set_tr_key(struct mem *mem, struct stream_source *s)
{
	mem_free(mem, s->tr_key);
	s->tr_key = NULL;
	if (s->n_transforms == 0)
		return true;
	struct buf b;
	buf_init(&b, mem);
	for (int part = 0; part < 2; part++) {
		buf_append_str(&b, " ");
		for (size_t i = 0; i < s->n_transforms; i++) {
			const char *v = part == 0 ? s->transforms[i].src :
				s->transforms[i].dest;
			if (i > 0)
				buf_append_str(&b, "\f");
			buf_append_str(&b, v[0] != '\0' ? v : ">");
		}
	}
	bool ok = !b.oom && (s->tr_key = mem_strdup(mem, b.data)) != NULL;
	buf_free(&b);
	return ok;
}

static bool source_set_iname(struct mem *mem, struct stream_source *s)
{
	if (!source_set_tr_key(mem, s))
		return false;
	mem_free(mem, s->iname);
	if (!s->external) {
		s->iname = mem_strdup(mem, s->name);
		return s->iname != NULL;
	}
	char h[SOURCE_ID_LEN + 1];
	source_hash8(s->api_prefix, h);
	size_t n = strlen(s->name) + SOURCE_ID_LEN + 2;
	s->iname = mem_alloc(mem, n);
	if (s->iname != NULL)
		snprintf(s->iname, n, "%s:%s", s->name, h);
	return s->iname != NULL;
}

/* A field that is present and not null, or -1. */
static int source_field(const struct json_doc *d, int obj, const char *key)
{
	int t = json_obj_get_fold(d, obj, key);
	if (t < 0 || json_type_of(d, t) == JSON_NULL)
		return -1;
	return t;
}

/* A string member; absent or null is "" (the Go zero value).  0 or -1. */
static int source_str(struct mem *mem, const struct json_doc *d, int obj,
		      const char *key, char **out)
{
	if (js_json_str(mem, d, obj, key, out) < 0)
		return -1;
	if (*out == NULL)
		*out = mem_strdup(mem, "");
	return *out != NULL ? 0 : -1;
}

static int source_decode_external(struct mem *mem, const struct json_doc *d,
				  int obj, struct stream_source *out)
{
	int t = source_field(d, obj, "external");
	if (t < 0)
		return 0;
	if (json_type_of(d, t) != JSON_OBJECT)
		return -1;
	out->external = true;
	if (source_str(mem, d, t, "api", &out->api_prefix) < 0 ||
	    source_str(mem, d, t, "deliver", &out->deliver_prefix) < 0)
		return -1;
	return 0;
}

/* "subject_transforms": an array of {"src", "dest"} objects (null or
 * absent = none; a missing string is ""). */
static int source_decode_transforms(struct mem *mem, const struct json_doc *d,
				    int obj, struct stream_source *out)
{
	int t = source_field(d, obj, "subject_transforms");
	if (t < 0)
		return 0;
	if (json_type_of(d, t) != JSON_ARRAY)
		return -1;
	size_t n = json_array_len(d, t);
	if (n == 0)
		return 0;
	out->transforms = mem_calloc(mem, n, sizeof(*out->transforms));
	if (out->transforms == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int e = json_array_at(d, t, (uint32_t)i);
		struct source_transform *tr = &out->transforms[i];
		out->n_transforms++;
		if (json_type_of(d, e) != JSON_OBJECT ||
		    source_str(mem, d, e, "src", &tr->src) < 0 ||
		    source_str(mem, d, e, "dest", &tr->dest) < 0)
			return -1;
	}
	return 0;
}

int source_config_decode(struct mem *mem, const struct json_doc *d, int tok,
			 struct stream_source *out)
{
	memset(out, 0, sizeof(*out));
	int bad = json_type_of(d, tok) != JSON_OBJECT;
	if (!bad) {
		bad |= js_json_str(mem, d, tok, "name", &out->name) < 0;
		bad |= js_json_uint(d, tok, "opt_start_seq",
				    &out->opt_start_seq) < 0;
		bad |= js_json_str(mem, d, tok, "opt_start_time",
				   &out->opt_start_time) < 0;
		bad |= js_json_str(mem, d, tok, "filter_subject",
				   &out->filter_subject) < 0;
		bad |= source_decode_external(mem, d, tok, out) < 0;
		bad |= source_decode_transforms(mem, d, tok, out) < 0;
	}
	if (!bad && out->name == NULL)
		bad = (out->name = mem_strdup(mem, "")) == NULL;
	/* omitempty: an empty value is no value. */
	if (!bad && out->filter_subject != NULL &&
	    out->filter_subject[0] == '\0') {
		mem_free(mem, out->filter_subject);
		out->filter_subject = NULL;
	}
	if (!bad && out->opt_start_time != NULL &&
	    out->opt_start_time[0] == '\0') {
		mem_free(mem, out->opt_start_time);
		out->opt_start_time = NULL;
	}
	if (bad || !source_set_iname(mem, out)) {
		source_config_free(mem, out);
		return -1;
	}
	return 0;
}

/* "external": {"api", "deliver"}, in the config and in stream info. */
static void source_write_external(struct jw *w, const struct stream_source *s)
{
	if (!s->external)
		return;
	jw_key(w, "external");
	jw_obj_begin(w);
	jw_key(w, "api");
	jw_str(w, s->api_prefix);
	jw_key(w, "deliver");
	jw_str(w, s->deliver_prefix);
	jw_obj_end(w);
}

/* "subject_transforms": [{"src", "dest"}], in the config and in stream
 * info; omitted when empty. */
static void source_write_transforms(struct jw *w, const struct stream_source *s)
{
	if (s->n_transforms == 0)
		return;
	jw_key(w, "subject_transforms");
	jw_arr_begin(w);
	for (size_t i = 0; i < s->n_transforms; i++) {
		jw_obj_begin(w);
		jw_key(w, "src");
		jw_str(w, s->transforms[i].src);
		jw_key(w, "dest");
		jw_str(w, s->transforms[i].dest);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

void source_config_encode(struct jw *w, const struct stream_source *s)
{
	jw_obj_begin(w);
	jw_key(w, "name");
	jw_str(w, s->name);
	if (s->opt_start_seq > 0) {
		jw_key(w, "opt_start_seq");
		jw_uint(w, s->opt_start_seq);
	}
	if (s->opt_start_time != NULL) {
		jw_key(w, "opt_start_time");
		jw_str(w, s->opt_start_time);
	}
	if (s->filter_subject != NULL) {
		jw_key(w, "filter_subject");
		jw_str(w, s->filter_subject);
	}
	source_write_transforms(w, s);
	source_write_external(w, s);
	jw_obj_end(w);
}

static char *dup_or_null(struct mem *mem, const char *s, bool *oom)
{
	if (s == NULL)
		return NULL;
	char *d = mem_strdup(mem, s);
	if (d == NULL)
		*oom = true;
	return d;
}

bool source_config_copy(struct mem *mem, const struct stream_source *in,
			struct stream_source *out)
{
	bool oom = false;
	memset(out, 0, sizeof(*out));
	out->name = dup_or_null(mem, in->name, &oom);
	out->opt_start_seq = in->opt_start_seq;
	out->opt_start_time = dup_or_null(mem, in->opt_start_time, &oom);
	out->filter_subject = dup_or_null(mem, in->filter_subject, &oom);
	out->external = in->external;
	out->api_prefix = dup_or_null(mem, in->api_prefix, &oom);
	out->deliver_prefix = dup_or_null(mem, in->deliver_prefix, &oom);
	out->iname = dup_or_null(mem, in->iname, &oom);
	out->tr_key = dup_or_null(mem, in->tr_key, &oom);
	if (in->n_transforms > 0) {
		out->transforms = mem_calloc(mem, in->n_transforms,
					     sizeof(*out->transforms));
		oom |= out->transforms == NULL;
	}
	for (size_t i = 0; out->transforms != NULL && i < in->n_transforms;
	     i++) {
		out->transforms[i].src = dup_or_null(mem, in->transforms[i].src,
						     &oom);
		out->transforms[i].dest = dup_or_null(mem,
						      in->transforms[i].dest,
						      &oom);
		out->n_transforms++;
	}
	if (oom)
		source_config_free(mem, out);
	return !oom;
}

static bool str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool transforms_same(const struct stream_source *a,
			    const struct stream_source *b)
{
	if (a->n_transforms != b->n_transforms)
		return false;
	for (size_t i = 0; i < a->n_transforms; i++)
		if (!str_same(a->transforms[i].src, b->transforms[i].src) ||
		    !str_same(a->transforms[i].dest, b->transforms[i].dest))
			return false;
	return true;
}

bool source_config_equal(const struct stream_source *a,
			 const struct stream_source *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return str_same(a->name, b->name) &&
	       transforms_same(a, b) &&
	       a->opt_start_seq == b->opt_start_seq &&
	       str_same(a->opt_start_time, b->opt_start_time) &&
	       str_same(a->filter_subject, b->filter_subject) &&
	       a->external == b->external &&
	       str_same(a->api_prefix, b->api_prefix) &&
	       str_same(a->deliver_prefix, b->deliver_prefix);
}

static int source_check_external(const struct stream_source *s,
				 struct js_error *e)
{
	if (!s->external)
		return 0;
	const char *dp = s->deliver_prefix, *ap = s->api_prefix;
	if (dp[0] != '\0' && !subject_is_valid_publish(dp, strlen(dp))) {
		js_error_setf(e, JS_ERR_STREAM_INVALID_EXTERNAL_DELIVERY_SUBJ,
			      "%s", dp);
		return -1;
	}
	if (ap[0] == '\0')
		return 0;
	if (!subject_is_valid_publish(ap, strlen(ap))) {
		js_error_setf(e, JS_ERR_STREAM_INVALID_CONFIG, "stream external "
			      "api prefix \"%s\" must be a valid subject without "
			      "wildcards", ap);
		return -1;
	}
	if (subject_overlaps(ap, strlen(ap), "$JS.API", 7)) {
		js_error_setf(e, JS_ERR_STREAM_EXTERNAL_API_OVERLAP, "%s|%s", ap,
			      "$JS.API");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------ subject_transforms */

/* The reference's (2.10) refusals of subject_transforms: for a source
 * 10144 (with filter_subject), 10145 (src), 10146 (dest), 10147
 * (overlap); for a mirror 10150, 10151, 10154, 10152. */
enum source_tr_err {
	SOURCE_TR_WITH_FILTER,
	SOURCE_TR_BAD_SRC,
	SOURCE_TR_BAD_DEST,
	SOURCE_TR_OVERLAP,
	SOURCE_TR_TOO_MANY,
};

static int source_tr_error(struct js_error *e, bool mirror,
			   enum source_tr_err kind, const char *detail)
{
	switch (kind) {
	case SOURCE_TR_WITH_FILTER:
		js_error_set(e, mirror ? JS_ERR_MIRROR_MULTIPLE_FILTERS_NOT_ALLOWED :
			     JS_ERR_SOURCE_MULTIPLE_FILTERS_NOT_ALLOWED, NULL);
		break;
	case SOURCE_TR_BAD_SRC:
		js_error_set(e, mirror ? JS_ERR_MIRROR_INVALID_SUBJECT_FILTER :
			     JS_ERR_SOURCE_INVALID_SUBJECT_FILTER, detail);
		break;
	case SOURCE_TR_BAD_DEST:
		js_error_set(e, mirror ? JS_ERR_MIRROR_INVALID_TRANSFORM_DESTINATION :
			     JS_ERR_SOURCE_INVALID_TRANSFORM_DESTINATION, detail);
		break;
	case SOURCE_TR_OVERLAP:
		js_error_set(e, mirror ? JS_ERR_MIRROR_OVERLAPPING_SUBJECT_FILTERS :
			     JS_ERR_SOURCE_OVERLAPPING_SUBJECT_FILTERS, NULL);
		break;
	case SOURCE_TR_TOO_MANY:
		js_error_setf(e, JS_ERR_STREAM_INVALID_CONFIG,
			      "%s subject transforms are limited to %d",
			      mirror ? "mirror" : "source", SOURCE_TRANSFORMS_MAX);
		break;
	}
	return -1;
}

/* The transform's src as a filter: "" takes everything. */
static const char *transform_src_of(const struct source_transform *t)
{
	return t->src[0] != '\0' ? t->src : ">";
}

/* "{{ name(...) }}" with one of the reference's mapping functions (the
 * first letter of the name in either case). */
static bool dest_is_known_function(const char *t, size_t len)
{
	static const char *const names[] = {
		"partition", "wildcard", "splitFromLeft", "splitFromRight",
		"sliceFromLeft", "sliceFromRight", "split",
	};
	const char *p = t + 2, *end = t + len - 2;
	while (p < end && *p == ' ')
		p++;
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		size_t n = strlen(names[i]);
		if ((size_t)(end - p) < n || strncmp(p + 1, names[i] + 1, n - 1) ||
		    (p[0] != names[i][0] && p[0] != names[i][0] - 'a' + 'A'))
			continue;
		const char *q = p + n;
		while (q < end && *q == ' ')
			q++;
		const char *close = end;
		while (close > q && close[-1] == ' ')
			close--;
		if (q < end && *q == '(' && close > q && close[-1] == ')')
			return true;
	}
	return false;
}

/* The reference's ValidateMapping: the destination's tokens first, then
 * whether a transform can be built.  "" is valid (no rewrite).  On
 * failure why gets the reason in the reference's words where the
 * transform engine's match them. */
static bool source_dest_valid(struct mem *mem, const struct source_transform *t,
			      char *why, size_t cap)
{
	const char *d = t->dest;
	if (d[0] == '\0')
		return true;
	bool after_fwc = false;
	for (const char *p = d;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot != NULL ? (size_t)(dot - p) : strlen(p);
		bool fn = len > 4 && p[0] == '{' && p[1] == '{' &&
			  p[len - 2] == '}' && p[len - 1] == '}';
		if (len == 0 || after_fwc) {
			snprintf(why, cap, "invalid mapping destination: invalid "
				 "subject in %.*s", (int)len, p);
			return false;
		}
		if (fn && !dest_is_known_function(p, len)) {
			snprintf(why, cap, "invalid mapping destination: unknown "
				 "function in %.*s", (int)len, p);
			return false;
		}
		if (!fn && strcspn(p, " \t\n\f\r") < len) {
			snprintf(why, cap, "invalid mapping destination: invalid "
				 "subject");
			return false;
		}
		after_fwc = len == 1 && p[0] == '>';
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	struct buf err;
	buf_init(&err, mem);
	struct transform *tr = transform_new(mem, transform_src_of(t), d, &err);
	if (tr == NULL) {
		/* The engine adds ("src" to "dest"), which the stream's own
		 * config already shows. */
		if (err.len > 0 && !err.oom)
			snprintf(why, cap, "%.*s", (int)err.len, err.data);
		else
			snprintf(why, cap, "invalid subject");
		char *paren = strstr(why, " (\"");
		if (paren != NULL)
			*paren = '\0';
	}
	transform_free(tr);
	buf_free(&err);
	return tr != NULL;
}

/* Whether transform i's src overlaps another's: a source refuses a src
 * that is a subset of another, a mirror any two that can match one
 * subject. */
static bool source_tr_overlaps(const struct stream_source *s, size_t i,
			       bool mirror)
{
	const char *a = transform_src_of(&s->transforms[i]);
	for (size_t j = 0; j < s->n_transforms; j++) {
		const char *b = transform_src_of(&s->transforms[j]);
		if (j == i)
			continue;
		if (mirror ? subject_overlaps(a, strlen(a), b, strlen(b))
			   : subject_is_subset(a, strlen(a), b, strlen(b)))
			return true;
	}
	return false;
}

/* The reference's checks of one mirror's or source's subject_transforms
 * (it checks a mirror's overlaps as it goes, a source's after all srcs
 * and dests are valid). */
static int source_check_transforms(struct mem *mem,
				   const struct stream_source *s, bool mirror,
				   struct js_error *e)
{
	if (s->n_transforms == 0)
		return 0;
	if (s->filter_subject != NULL)
		return source_tr_error(e, mirror, SOURCE_TR_WITH_FILTER, NULL);
	if (s->n_transforms > SOURCE_TRANSFORMS_MAX)
		return source_tr_error(e, mirror, SOURCE_TR_TOO_MANY, NULL);
	char why[160];
	for (size_t i = 0; i < s->n_transforms; i++) {
		const struct source_transform *t = &s->transforms[i];
		if (t->src[0] != '\0' && !subject_is_valid(t->src, strlen(t->src))) {
			snprintf(why, sizeof(why), "invalid subject %s", t->src);
			return source_tr_error(e, mirror, SOURCE_TR_BAD_SRC, why);
		}
		if (!source_dest_valid(mem, t, why, sizeof(why)))
			return source_tr_error(e, mirror, SOURCE_TR_BAD_DEST, why);
		if (mirror && source_tr_overlaps(s, i, true))
			return source_tr_error(e, mirror, SOURCE_TR_OVERLAP, NULL);
	}
	for (size_t i = 0; !mirror && i < s->n_transforms; i++)
		if (source_tr_overlaps(s, i, false))
			return source_tr_error(e, mirror, SOURCE_TR_OVERLAP, NULL);
	return 0;
}

int source_config_check(const struct stream_config *c, struct js_error *e)
{
	if (c->mirror != NULL) {
		if (c->n_subjects > 0) {
			js_error_set(e, JS_ERR_MIRROR_WITH_SUBJECTS, NULL);
			return -1;
		}
		if (c->n_sources > 0) {
			js_error_set(e, JS_ERR_MIRROR_WITH_SOURCES, NULL);
			return -1;
		}
	}
	return 0;
}

/* Subjects of the stream named name and of what it copies from in this
 * account, as far as they can be seen (the reference's
 * streamSourceSubjects); each stream once. */
struct subj_walk {
	const char *seen[32];
	size_t n_seen;
	const char *subjects[256];
	size_t n;
};

static void source_walk_subjects(struct js_account *ja, const char *name,
				 struct subj_walk *sw)
{
	for (size_t i = 0; i < sw->n_seen; i++)
		if (strcmp(sw->seen[i], name) == 0)
			return;
	struct stream *st = js_account_find_stream(ja, name);
	if (st == NULL || sw->n_seen == sizeof(sw->seen) / sizeof(sw->seen[0]))
		return;
	sw->seen[sw->n_seen++] = name;
	const struct stream_config *c = stream_config_of(st);
	for (size_t i = 0; i < c->n_subjects; i++)
		if (sw->n < sizeof(sw->subjects) / sizeof(sw->subjects[0]))
			sw->subjects[sw->n++] = c->subjects[i];
	if (c->mirror != NULL && !c->mirror->external)
		source_walk_subjects(ja, c->mirror->name, sw);
	for (size_t i = 0; i < c->n_sources; i++)
		if (!c->sources[i].external)
			source_walk_subjects(ja, c->sources[i].name, sw);
}

static bool walk_overlaps(const struct subj_walk *sw, const char *filter)
{
	if (filter == NULL || sw->n == 0)
		return true;
	for (size_t i = 0; i < sw->n; i++)
		if (subject_overlaps(filter, strlen(filter), sw->subjects[i],
				     strlen(sw->subjects[i])))
			return true;
	return false;
}

/* The per-upstream checks: sizes and filter overlap when the upstream is
 * visible here. */
static int source_check_one(struct js_account *ja,
			    const struct stream_config *c,
			    const struct stream_source *s, bool mirror,
			    struct subj_walk *all, struct js_error *e)
{
	struct stream *up = s->external ? NULL
			    : js_account_find_stream(ja, s->name);
	if (up == NULL)
		return 0;
	struct subj_walk sw;
	memset(&sw, 0, sizeof(sw));
	source_walk_subjects(ja, s->name, &sw);
	for (size_t i = 0; i < sw.n && all->n < 256; i++)
		all->subjects[all->n++] = sw.subjects[i];
	int64_t upmax = stream_config_of(up)->max_msg_size;
	if (c->max_msg_size > 0 && upmax > 0 && c->max_msg_size < upmax) {
		js_error_set(e, mirror ? JS_ERR_MIRROR_MAX_MESSAGE_SIZE_TOO_BIG
				       : JS_ERR_SOURCE_MAX_MESSAGE_SIZE_TOO_BIG,
			     NULL);
		return -1;
	}
	/* Sources are checked against every subject gathered so far, as
	 * the reference does. */
	if (!walk_overlaps(mirror ? &sw : all, s->filter_subject)) {
		js_error_setf(e, JS_ERR_STREAM_INVALID_CONFIG, "%s '%s' filter "
			      "subject '%s' does not overlap with any origin "
			      "stream subject", mirror ? "mirror" : "source",
			      s->name, s->filter_subject);
		return -1;
	}
	return 0;
}

static bool source_reaches(struct js_account *ja, const struct stream_config *c,
			   const char *target, int depth);

/* Whether upstream s of some stream is target, or copies from it (local
 * upstreams only: external ones can not be seen from here). */
static bool upstream_reaches(struct js_account *ja,
			     const struct stream_source *s,
			     const char *target, int depth)
{
	if (s == NULL || s->external)
		return false;
	if (strcmp(s->name, target) == 0)
		return true;
	struct stream *st = js_account_find_stream(ja, s->name);
	return st != NULL &&
	       source_reaches(ja, stream_config_of(st), target, depth + 1);
}

/* Whether c copies, directly or not, from the stream named target. */
static bool source_reaches(struct js_account *ja, const struct stream_config *c,
			   const char *target, int depth)
{
	if (depth > 32)
		return false;
	if (upstream_reaches(ja, c->mirror, target, depth))
		return true;
	for (size_t i = 0; i < c->n_sources; i++)
		if (upstream_reaches(ja, &c->sources[i], target, depth))
			return true;
	return false;
}

static int source_check_deliver(const struct stream_source *s,
				const struct subj_walk *all,
				struct js_error *e)
{
	if (!s->external || s->deliver_prefix[0] == '\0')
		return 0;
	for (size_t i = 0; i < all->n; i++) {
		char joined[SOURCE_SUBJECT_MAX];
		const char *sub = all->subjects[i];
		int n = snprintf(joined, sizeof(joined), "%s.%s",
				 s->deliver_prefix, sub);
		if (n <= 0 || (size_t)n >= sizeof(joined))
			continue;
		if (subject_overlaps(sub, strlen(sub), joined, (size_t)n)) {
			js_error_setf(e, JS_ERR_STREAM_EXTERNAL_DEL_PREFIX_OVERLAPS,
				      "%s|%s", s->deliver_prefix, sub);
			return -1;
		}
	}
	return 0;
}

void source_config_inherit(struct js_account *ja, struct stream_config *c)
{
	/* The origin's direct gets are answered by the origin itself on
	 * this server. */
	if (c->mirror != NULL && !c->mirror->external) {
		struct stream *o = js_account_find_stream(ja, c->mirror->name);
		if (o != NULL)
			c->mirror_direct = stream_config_of(o)->allow_direct;
	}
}

int source_config_check_streams(struct js_account *ja,
				struct stream_config *c, struct js_error *e)
{
	struct mem *mem = &ja->js->srv->mem;
	if (c->mirror != NULL &&
	    source_check_transforms(mem, c->mirror, true, e) != 0)
		return -1;
	for (size_t i = 0; i < c->n_sources; i++)
		if (source_check_transforms(mem, &c->sources[i], false, e) != 0)
			return -1;
	source_config_inherit(ja, c);
	struct subj_walk all;
	memset(&all, 0, sizeof(all));
	if (c->mirror != NULL &&
	    (source_check_external(c->mirror, e) != 0 ||
	     source_check_one(ja, c, c->mirror, true, &all, e) != 0))
		return -1;
	for (size_t i = 0; i < c->n_sources; i++)
		if (source_check_one(ja, c, &c->sources[i], false, &all, e) != 0)
			return -1;
	for (size_t i = 0; i < c->n_sources; i++)
		if (source_check_external(&c->sources[i], e) != 0)
			return -1;
	if (c->mirror != NULL && source_check_deliver(c->mirror, &all, e) != 0)
		return -1;
	for (size_t i = 0; i < c->n_sources; i++)
		if (source_check_deliver(&c->sources[i], &all, e) != 0)
			return -1;
	if (source_reaches(ja, c, c->name, 0)) {
		js_error_set(e, JS_ERR_STREAM_INVALID_CONFIG, "detected cycle");
		return -1;
	}
	return 0;
}

/* =========================================================== runtime */

struct source_link {
	struct sourcing *sg;
	const struct stream_source *cfg;  /* in the stream's config */
	struct transform **trs;        /* per cfg->transforms; NULL = dest "" */
	bool mirror;
	struct sub *deliver_sub;
	struct sub *reply_sub;
	char deliver[SOURCE_SUBJECT_MAX];
	char reply[32];
	char cname[256];               /* the upstream consumer, "" = none */
	uint64_t sseq, dseq, lag;
	int64_t last_ns;               /* last message or heartbeat; 0 never */
	int64_t last_req_ns;           /* last create request; 0 never */
	bool sip;                      /* a create request is out */
	int64_t sip_deadline_ns;
	int64_t retry_at_ns;           /* 0 = no retry scheduled */
	uint64_t retry_seq;            /* sources: where the retry starts */
	int64_t start_time_ns;         /* sources: the stream's last time */
	bool has_err;
	int err_code, err_num;
	char err_desc[256];
};

struct sourcing {
	struct stream *st;
	struct server *srv;
	struct source_link *links;
	size_t n;
	int timer;
	int64_t next_tick_ns;
	struct buf hdr;                /* a sourced message's new header */
	struct buf msg;                /* ... header and payload together */
	struct buf subj;               /* a copy's transformed subject */
};

static int64_t sg_now(const struct sourcing *sg)
{
	return sg->srv->env->now_mono_ns(sg->srv->env);
}

static struct account *sg_acc(const struct sourcing *sg)
{
	return stream_account(sg->st)->acc;
}

static void sg_arm(struct sourcing *sg)
{
	int64_t at = sg->next_tick_ns;
	for (size_t i = 0; i < sg->n; i++) {
		const struct source_link *l = &sg->links[i];
		if (l->retry_at_ns > 0 && l->retry_at_ns < at)
			at = l->retry_at_ns;
		if (l->sip && l->sip_deadline_ns < at)
			at = l->sip_deadline_ns;
	}
	sg->srv->env->timer_arm(sg->srv->env, sg->timer, at);
}

static void random_id(struct sourcing *sg, char out[SOURCE_ID_LEN + 1])
{
	prng_base62(&sg->srv->prng, out, SOURCE_ID_LEN);
	out[SOURCE_ID_LEN] = '\0';
}

/* Drops the link's subscriptions and consumer name (the reference's
 * cancelSourceInfo). */
static void link_cancel(struct source_link *l)
{
	internal_unsubscribe(l->sg->srv, l->deliver_sub);
	internal_unsubscribe(l->sg->srv, l->reply_sub);
	l->deliver_sub = l->reply_sub = NULL;
	l->cname[0] = '\0';
	l->sip = false;
}

static void link_set_error(struct source_link *l, int code, int num,
			   const char *desc)
{
	l->has_err = true;
	l->err_code = code;
	l->err_num = num;
	snprintf(l->err_desc, sizeof(l->err_desc), "%s", desc);
}

static void link_setup(struct source_link *l, uint64_t seq);

/* Schedules a setup no sooner than the retry threshold after the last
 * request, with some jitter (the reference's ...RetryAsap). */
static void link_retry_later(struct source_link *l, uint64_t seq)
{
	struct sourcing *sg = l->sg;
	int64_t now = sg_now(sg);
	int64_t at = l->last_req_ns + SOURCE_RETRY_NS;
	if (at < now)
		at = now;
	at += 10 * NS_PER_MS + (int64_t)prng_below(&sg->srv->prng, 50);
	l->retry_at_ns = at;
	l->retry_seq = seq;
	sg_arm(sg);
}

/* Recreates the consumer (a retry), keeping what was copied. */
static void link_retry(struct source_link *l, uint64_t seq)
{
	link_cancel(l);
	link_setup(l, seq);
}

/* ------------------------------------------------- the create request */

/* What the upstream consumer filters on: filter_subject, or the src of
 * the only subject transform (several are filtered here, as a 2.9
 * upstream knows no filter_subjects).  NULL = everything. */
static const char *link_filter(const struct source_link *l)
{
	const struct stream_source *c = l->cfg;
	if (c->filter_subject != NULL)
		return c->filter_subject;
	if (c->n_transforms == 1 && c->transforms[0].src[0] != '\0')
		return c->transforms[0].src;
	return NULL;
}

static void link_write_start(struct source_link *l, struct jw *w, uint64_t seq)
{
	const struct stream_source *c = l->cfg;
	const char *policy = "all";
	const char *start_time = NULL;
	char tbuf[TIMEFMT_MAX + 1];
	if (l->mirror) {
		struct store_state ss;
		stream_get_state(l->sg->st, &ss);
		seq = ss.last_seq + 1;
		if (ss.last_seq == 0 && ss.msgs == 0) {
			seq = c->opt_start_seq;
			if (seq == 0 && c->opt_start_time != NULL)
				start_time = c->opt_start_time;
		}
	} else if (seq <= 1) {
		seq = c->opt_start_seq;
		if (seq == 0 && c->opt_start_time != NULL) {
			start_time = c->opt_start_time;
		} else if (seq == 0 && l->start_time_ns > 0) {
			/* Added to a stream that has messages: from now on. */
			size_t n = timefmt_rfc3339(l->start_time_ns, tbuf);
			tbuf[n] = '\0';
			start_time = tbuf;
		}
	}
	if (start_time != NULL)
		policy = "by_start_time";
	else if (seq > 0)
		policy = "by_start_sequence";
	jw_key(w, "deliver_policy");
	jw_str(w, policy);
	if (start_time == NULL && seq > 0) {
		jw_key(w, "opt_start_seq");
		jw_uint(w, seq);
	}
	if (start_time != NULL) {
		jw_key(w, "opt_start_time");
		jw_str(w, start_time);
	}
}

static bool link_request(struct source_link *l, uint64_t seq, const char *name,
			 struct buf *body)
{
	struct jw w;
	jw_init(&w, body);
	jw_obj_begin(&w);
	jw_key(&w, "stream_name");
	jw_str(&w, l->cfg->name);
	jw_key(&w, "config");
	jw_obj_begin(&w);
	if (name != NULL) {
		jw_key(&w, "name");
		jw_str(&w, name);
	}
	jw_key(&w, "deliver_subject");
	jw_str(&w, l->deliver);
	link_write_start(l, &w, seq);
	jw_key(&w, "ack_policy");
	jw_str(&w, "none");
	jw_key(&w, "ack_wait");
	jw_int(&w, SOURCE_ACK_WAIT_NS);
	jw_key(&w, "max_deliver");
	jw_int(&w, 1);
	if (link_filter(l) != NULL) {
		jw_key(&w, "filter_subject");
		jw_str(&w, link_filter(l));
	}
	jw_key(&w, "replay_policy");
	jw_str(&w, "instant");
	jw_key(&w, "idle_heartbeat");
	jw_int(&w, SOURCE_HEALTH_NS);
	jw_key(&w, "flow_control");
	jw_bool(&w, true);
	jw_key(&w, "direct");
	jw_bool(&w, true);
	jw_obj_end(&w);
	jw_obj_end(&w);
	return !body->oom;
}

/* "<api prefix>.CONSUMER.CREATE.<stream>[.<name>.<filter>]", with ".."
 * collapsed as the reference does. */
static bool link_api_subject(const struct source_link *l, const char *name,
			     char *out, size_t cap)
{
	const struct stream_source *c = l->cfg;
	const char *api = c->external && c->api_prefix[0] != '\0'
			  ? c->api_prefix : "$JS.API";
	int n = name != NULL
		? snprintf(out, cap, "%s.CONSUMER.CREATE.%s.%s.%s", api, c->name,
			   name, link_filter(l))
		: snprintf(out, cap, "%s.CONSUMER.CREATE.%s", api, c->name);
	if (n <= 0 || (size_t)n >= cap)
		return false;
	char *dd;
	while ((dd = strstr(out, "..")) != NULL)
		memmove(dd, dd + 1, strlen(dd + 1) + 1);
	return true;
}

static void link_deliver_subject(struct source_link *l)
{
	const struct stream_source *c = l->cfg;
	char id[SOURCE_ID_LEN + 1];
	random_id(l->sg, id);
	const char *kind = l->mirror ? "M" : "S";
	if (c->external && c->deliver_prefix[0] != '\0')
		snprintf(l->deliver, sizeof(l->deliver), "%s.%s.%s",
			 c->deliver_prefix, kind, id);
	else
		snprintf(l->deliver, sizeof(l->deliver), "$JS.%s.%s", kind, id);
	char *dd;
	while ((dd = strstr(l->deliver, "..")) != NULL)
		memmove(dd, dd + 1, strlen(dd + 1) + 1);
}

static void link_msg_in(void *arg, struct sub *sub, struct conn *from,
			struct account *acc, const struct pubmsg *m);
static void link_reply_in(void *arg, struct sub *sub, struct conn *from,
			  struct account *acc, const struct pubmsg *m);

/* Sends a create request for a consumer that starts after seq (sources)
 * or after the mirror's last sequence (the reference's
 * setupMirrorConsumer and setSourceConsumer). */
static void link_setup(struct source_link *l, uint64_t seq)
{
	struct sourcing *sg = l->sg;
	int64_t now = sg_now(sg);
	l->retry_at_ns = 0;
	if (l->sip || (l->last_req_ns > 0 &&
		       now - l->last_req_ns < SOURCE_RETRY_NS)) {
		link_retry_later(l, seq);
		return;
	}
	l->last_req_ns = now;
	if (l->mirror) {
		struct store_state ss;
		stream_get_state(sg->st, &ss);
		l->sseq = ss.last_seq;
	}
	link_deliver_subject(l);
	char id[SOURCE_ID_LEN + 1], name[64], subject[SOURCE_SUBJECT_MAX];
	random_id(sg, id);
	snprintf(l->reply, sizeof(l->reply), "$JSC.R.%s", id);
	const char *cname = NULL;
	if (link_filter(l) != NULL) {
		random_id(sg, id);
		snprintf(name, sizeof(name), "%s-%s", l->mirror ? "mirror" : "src",
			 id);
		cname = name;
	}
	struct buf body;
	buf_init(&body, &sg->srv->mem);
	bool ok = link_api_subject(l, cname, subject, sizeof(subject)) &&
		  link_request(l, seq, cname, &body);
	if (ok) {
		l->reply_sub = internal_subscribe(sg->srv, sg_acc(sg), l->reply,
						  NULL, link_reply_in, l);
		l->deliver_sub = internal_subscribe(sg->srv, sg_acc(sg),
						    l->deliver, NULL,
						    link_msg_in, l);
		ok = l->reply_sub != NULL && l->deliver_sub != NULL;
	}
	if (!ok) {
		link_cancel(l);
		link_set_error(l, 500, l->mirror ? 10029 : 10045,
			       "could not set up the consumer request");
		buf_free(&body);
		link_retry_later(l, seq);
		return;
	}
	l->dseq = 0;
	l->sip = true;
	l->sip_deadline_ns = now + SOURCE_CREATE_WAIT_NS;
	/* Sent at the end of the turn: the caller may be inside a
	 * delivery (an API request, a stream being created). */
	internal_send(sg->srv, sg_acc(sg), subject, l->reply, NULL, 0, body.data,
		      body.len);
	buf_free(&body);
	sg_arm(sg);
}

/* ------------------------------------------------ the create response */

static void link_take_error(struct source_link *l, const struct json_doc *d, int et)
{
	int64_t code = 500, num = 0;
	struct buf desc;
	buf_init(&desc, &l->sg->srv->mem);
	js_json_int(d, et, "code", &code);
	js_json_int(d, et, "err_code", &num);
	int t = json_obj_get(d, et, "description");
	if (t < 0 || !json_get_string(d, t, &desc) || desc.oom) {
		buf_reset(&desc);
		buf_append_str(&desc, "unknown error");
	}
	buf_append_char(&desc, '\0');
	link_set_error(l, (int)code, (int)num, desc.oom ? "" : desc.data);
	buf_free(&desc);
}

static void link_started(struct source_link *l, const struct json_doc *d)
{
	struct buf b;
	buf_init(&b, &l->sg->srv->mem);
	int t = json_obj_get(d, 0, "name");
	if (t >= 0 && json_get_string(d, t, &b) && !b.oom &&
	    b.len < sizeof(l->cname) && l->cname[0] == '\0') {
		memcpy(l->cname, b.data, b.len);
		l->cname[b.len] = '\0';
	}
	buf_free(&b);
	uint64_t delivered = 0;
	int dt = json_obj_get(d, 0, "delivered");
	if (dt >= 0)
		js_json_uint(d, dt, "stream_seq", &delivered);
	if (l->mirror) {
		/* The upstream no longer has what comes before: skip it. */
		struct store_state ss;
		stream_get_state(l->sg->st, &ss);
		if (delivered > ss.last_seq && l->dseq == 0)
			stream_mirror_skip_to(l->sg->st, delivered + 1);
		if (l->dseq == 0)
			l->sseq = delivered > ss.last_seq ? delivered
							  : ss.last_seq;
	} else if (l->dseq == 0 && l->sseq != delivered) {
		l->sseq = delivered;
	}
	l->has_err = false;
	l->last_ns = sg_now(l->sg);
}

static void link_reply_in(void *arg, struct sub *sub, struct conn *from,
			  struct account *acc, const struct pubmsg *m)
{
	struct source_link *l = arg;
	UNUSED(from);
	UNUSED(acc);
	if (sub != l->reply_sub)
		return;
	internal_unsubscribe(l->sg->srv, l->reply_sub);
	l->reply_sub = NULL;
	l->sip = false;
	struct json_doc d;
	const char *body = m->data + m->header_len;
	size_t len = m->total_len - m->header_len;
	if (json_parse(&d, &l->sg->srv->mem, body, len) != 0) {
		link_set_error(l, 500, 10025, "invalid JSON");
		link_cancel(l);
		link_retry_later(l, l->sseq + 1);
		return;
	}
	int et = json_obj_get(&d, 0, "error");
	if (et >= 0 && json_type_of(&d, et) == JSON_OBJECT) {
		link_take_error(l, &d, et);
		LOGW(&l->sg->srv->log, "JetStream error response for create %s "
		     "consumer of '%s > %s': %s", l->mirror ? "mirror" : "source",
		     sg_acc(l->sg)->name, stream_name(l->sg->st), l->err_desc);
		json_doc_free(&d);
		link_cancel(l);
		link_retry_later(l, l->mirror ? 0 : l->sseq + 1);
		return;
	}
	link_started(l, &d);
	json_doc_free(&d);
}

/* ------------------------------------------------------ the messages */

static bool is_control(const struct pubmsg *m)
{
	return m->total_len == m->header_len && m->header_len >= 13 &&
	       memcmp(m->data, "NATS/1.0 100 ", 13) == 0;
}

/* Flow control requests and idle heartbeats.  True when the link goes
 * on, false when it was restarted. */
static bool link_control(struct source_link *l, const struct pubmsg *m)
{
	struct sourcing *sg = l->sg;
	if (m->reply_len > 0) {
		char reply[SOURCE_SUBJECT_MAX];
		if (m->reply_len < sizeof(reply)) {
			memcpy(reply, m->reply, m->reply_len);
			reply[m->reply_len] = '\0';
			internal_send(sg->srv, sg_acc(sg), reply, NULL, NULL, 0,
				      NULL, 0);
		}
		return true;
	}
	size_t vlen = 0;
	const char *v = js_header_get(m->data, m->header_len,
				      "Nats-Last-Consumer", &vlen);
	uint64_t last = 0;
	if (v != NULL && js_parse_u64(v, vlen, &last) && last > 0 &&
	    last != l->dseq) {
		link_retry(l, l->mirror ? 0 : l->sseq + 1);
		return false;
	}
	v = js_header_get(m->data, m->header_len, "Nats-Consumer-Stalled",
			  &vlen);
	if (v != NULL && vlen > 0 && vlen < SOURCE_SUBJECT_MAX) {
		char fc[SOURCE_SUBJECT_MAX];
		memcpy(fc, v, vlen);
		fc[vlen] = '\0';
		internal_send(sg->srv, sg_acc(sg), fc, NULL, NULL, 0, NULL, 0);
	}
	return true;
}

/* The subject a copy is stored under: with subject_transforms, the first
 * whose src matches decides (its dest applied, when there is one).
 * 1 with *subject set; 0 when no src matches (not copied); -1 when
 * memory ran out. */
static int link_map_subject(struct source_link *l, const struct pubmsg *m,
			    const char **subject, size_t *len)
{
	const struct stream_source *c = l->cfg;
	*subject = m->subject;
	*len = m->subject_len;
	for (size_t i = 0; i < c->n_transforms; i++) {
		const char *src = transform_src_of(&c->transforms[i]);
		if (!subject_matches(m->subject, m->subject_len, src,
				     strlen(src)))
			continue;
		if (l->trs[i] == NULL)
			return 1;
		struct buf *b = &l->sg->subj;
		bool ok = transform_apply(l->trs[i], m->subject,
					  m->subject_len, b);
		if (b->oom)
			return -1;
		if (ok) {
			/* Too many tokens to map: kept as it came. */
			*subject = b->data;
			*len = b->len;
		}
		return 1;
	}
	return c->n_transforms == 0 ? 1 : 0;
}

static void link_mirror_msg(struct source_link *l, const struct pubmsg *m,
			    const struct js_ack_info *ai)
{
	struct stream *st = l->sg->st;
	uint64_t old_sseq = l->sseq, old_dseq = l->dseq;
	if (ai->sseq == l->sseq + 1) {
		l->dseq = ai->dseq;
		l->sseq++;
	} else if (ai->sseq <= l->sseq) {
		return; /* already have it */
	} else if (ai->dseq == l->dseq + 1) {
		/* The upstream removed what lies between. */
		stream_mirror_skip_to(st, ai->sseq);
		l->dseq++;
		l->sseq = ai->sseq;
	} else {
		link_retry(l, 0);
		return;
	}
	l->lag = ai->pending > 0 ? ai->pending - 1 : 0;
	const char *subject;
	size_t subject_len;
	int mapped = link_map_subject(l, m, &subject, &subject_len);
	if (mapped == 0)
		return; /* not taken: a gap, as with an upstream filter */
	size_t dlen = m->total_len - m->header_len;
	int rc = -1;
	if (mapped > 0)
		rc = stream_store_mirrored(st, subject, subject_len,
					   m->header_len ? m->data : NULL,
					   m->header_len,
					   m->data + m->header_len, dlen,
					   ai->sseq, ai->ts);
	if (rc != 0) {
		/* Not stored (a store error, or a sequence we already have):
		 * start again from what the mirror holds. */
		l->sseq = old_sseq;
		l->dseq = old_dseq;
		if (rc < 0)
			link_retry(l, 0);
	}
}

/* The message's header without any Nats-Stream-Source line, plus ours
 * (the reference's removeHeaderIfPresent and genHeader). */
static void source_build_header(struct source_link *l, const struct pubmsg *m,
				const struct js_ack_info *ai, struct buf *h)
{
	buf_reset(h);
	const char *p = m->data, *end = m->data + m->header_len;
	if (m->header_len >= 4) {
		end -= 2; /* the blank line */
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end - 1;
		buf_append(h, p, (size_t)(eol + 1 - p));
		for (p = eol + 1; p < end;) {
			const char *e = memchr(p, '\n', (size_t)(end - p));
			const char *next = e ? e + 1 : end;
			if (!((size_t)(next - p) > 19 &&
			      strncmp(p, "Nats-Stream-Source:", 19) == 0))
				buf_append(h, p, (size_t)(next - p));
			p = next;
		}
	} else {
		buf_append_str(h, "NATS/1.0\r\n");
	}
	buf_appendf(h, "Nats-Stream-Source: %s %.*s%s\r\n\r\n", l->cfg->iname,
		    (int)ai->sseq_len, ai->sseq_text,
		    l->cfg->tr_key != NULL ? l->cfg->tr_key : "");
}

static void link_source_msg(struct source_link *l, const struct pubmsg *m,
			    const struct js_ack_info *ai)
{
	struct sourcing *sg = l->sg;
	uint64_t old_sseq = l->sseq;
	if (ai->dseq == l->dseq + 1) {
		l->dseq++;
		l->sseq = ai->sseq;
	} else if (ai->dseq > l->dseq) {
		link_retry(l, l->sseq + 1);
		return;
	} else {
		return;
	}
	l->lag = ai->pending > 0 ? ai->pending - 1 : 0;
	const char *subject;
	size_t subject_len;
	int mapped = link_map_subject(l, m, &subject, &subject_len);
	if (mapped == 0)
		return; /* not taken; the position still moves on */
	source_build_header(l, m, ai, &sg->hdr);
	buf_reset(&sg->msg);
	buf_append(&sg->msg, sg->hdr.data, sg->hdr.len);
	buf_append(&sg->msg, m->data + m->header_len,
		   m->total_len - m->header_len);
	if (mapped < 0 || sg->hdr.oom || sg->msg.oom) {
		link_retry(l, l->sseq);
		return;
	}
	struct pubmsg out = { subject, subject_len, NULL, 0, sg->msg.data,
			      sg->hdr.len, sg->msg.len, NULL, 0 };
	if (stream_store_sourced(sg->st, &out) != 0) {
		LOGW(&sg->srv->log, "Error processing inbound source '%s' for "
		     "'%s > %s'", l->cfg->iname, sg_acc(sg)->name,
		     stream_name(sg->st));
		l->sseq = old_sseq; /* not stored: ask for it again */
		link_retry(l, l->sseq + 1);
	}
}

static void link_msg_in(void *arg, struct sub *sub, struct conn *from,
			struct account *acc, const struct pubmsg *m)
{
	struct source_link *l = arg;
	UNUSED(from);
	UNUSED(acc);
	if (sub != l->deliver_sub)
		return;
	if (is_control(m)) {
		l->last_ns = sg_now(l->sg);
		link_control(l, m);
		return;
	}
	struct js_ack_info ai;
	if (!js_ack_reply_parse(m->reply, m->reply_len, &ai) || ai.dc > 1)
		return;
	if (l->cname[0] == '\0' && ai.consumer_len < sizeof(l->cname)) {
		/* Delivery began before the create answer arrived. */
		memcpy(l->cname, ai.consumer, ai.consumer_len);
		l->cname[ai.consumer_len] = '\0';
	}
	if (strlen(l->cname) != ai.consumer_len ||
	    memcmp(l->cname, ai.consumer, ai.consumer_len) != 0)
		return;
	l->last_ns = sg_now(l->sg);
	if (l->mirror)
		link_mirror_msg(l, m, &ai);
	else
		link_source_msg(l, m, &ai);
}

/* ------------------------------------------------------------- timer */

static void link_tick(struct source_link *l, int64_t now)
{
	if (l->retry_at_ns > 0 && now >= l->retry_at_ns) {
		l->retry_at_ns = 0;
		link_setup(l, l->retry_seq);
		return;
	}
	if (l->sip && now >= l->sip_deadline_ns) {
		/* No answer: the upstream may be unreachable. */
		link_cancel(l);
		link_retry_later(l, l->mirror ? 0 : l->sseq + 1);
		return;
	}
	if (!l->sip && l->deliver_sub != NULL && l->last_ns > 0 &&
	    now - l->last_ns > SOURCE_STALL_NS) {
		LOGD(&l->sg->srv->log, "Retrying %s consumer for '%s > %s'",
		     l->mirror ? "mirror" : "source", sg_acc(l->sg)->name,
		     stream_name(l->sg->st));
		link_retry(l, l->mirror ? 0 : l->sseq + 1);
	}
}

static void sourcing_timer_fired(void *arg, int timer)
{
	struct sourcing *sg = arg;
	UNUSED(timer);
	int64_t now = sg_now(sg);
	if (now >= sg->next_tick_ns)
		sg->next_tick_ns = now + SOURCE_HEALTH_NS;
	for (size_t i = 0; i < sg->n; i++)
		link_tick(&sg->links[i], now);
	sg_arm(sg);
}

/* --------------------------------------------------- start and stop */

static const char *source_header_of(struct stream *st, uint64_t seq,
				    struct store_msg *sm, struct buf *scratch,
				    size_t *len)
{
	if (store_load(stream_store(st), seq, sm, scratch) != 0 ||
	    sm->hdr_len == 0)
		return NULL;
	return js_header_get((const char *)sm->hdr, sm->hdr_len,
			     "Nats-Stream-Source", len);
}

/* Where each source left off: the newest Nats-Stream-Source header per
 * index name (the reference's startingSequenceForSources). */
static void sourcing_find_starts(struct sourcing *sg)
{
	struct store_state ss;
	stream_get_state(sg->st, &ss);
	for (size_t i = 0; i < sg->n; i++)
		sg->links[i].start_time_ns = ss.msgs > 0 ? ss.last_ts_ns : 0;
	size_t found = 0;
	struct buf scratch;
	buf_init(&scratch, &sg->srv->mem);
	for (uint64_t seq = ss.last_seq; seq >= ss.first_seq && seq > 0 &&
	     ss.msgs > 0 && found < sg->n; seq--) {
		struct store_msg sm;
		size_t len = 0;
		const char *v = source_header_of(sg->st, seq, &sm, &scratch, &len);
		/* "<iname> <seq>[ <srcs> <dests>]" */
		const char *sp = v ? memchr(v, ' ', len) : NULL;
		if (sp == NULL)
			continue;
		size_t nlen = (size_t)(sp - v);
		const char *seq_at = sp + 1, *end = v + len;
		const char *rest = memchr(seq_at, ' ', (size_t)(end - seq_at));
		if (rest == NULL)
			rest = end;
		uint64_t sseq = 0;
		if (!js_parse_u64(seq_at, (size_t)(rest - seq_at), &sseq))
			continue;
		size_t rlen = (size_t)(end - rest);
		for (size_t i = 0; i < sg->n; i++) {
			struct source_link *l = &sg->links[i];
			const char *key = l->cfg->tr_key ? l->cfg->tr_key : "";
			if (l->sseq == 0 && strlen(l->cfg->iname) == nlen &&
			    memcmp(l->cfg->iname, v, nlen) == 0 &&
			    strlen(key) == rlen && memcmp(key, rest, rlen) == 0) {
				l->sseq = sseq;
				found++;
			}
		}
	}
	buf_free(&scratch);
}

/* The link's transforms, one per subject_transforms entry with a dest
 * (checked when the config was accepted).  False when memory ran out. */
static bool link_build_transforms(struct source_link *l)
{
	const struct stream_source *c = l->cfg;
	struct mem *mem = &l->sg->srv->mem;
	if (c->n_transforms == 0)
		return true;
	l->trs = mem_calloc(mem, c->n_transforms, sizeof(*l->trs));
	if (l->trs == NULL)
		return false;
	for (size_t i = 0; i < c->n_transforms; i++) {
		const struct source_transform *t = &c->transforms[i];
		if (t->dest[0] == '\0')
			continue;
		l->trs[i] = transform_new(mem, transform_src_of(t), t->dest,
					  NULL);
		if (l->trs[i] == NULL)
			return false;
	}
	return true;
}

/* Frees sg once its links hold no subscription. */
static void sourcing_free(struct sourcing *sg)
{
	struct server *s = sg->srv;
	for (size_t i = 0; i < sg->n; i++) {
		struct source_link *l = &sg->links[i];
		ASSERT(l->deliver_sub == NULL && l->reply_sub == NULL);
		for (size_t j = 0; l->trs != NULL && j < l->cfg->n_transforms; j++)
			transform_free(l->trs[j]);
		mem_free(&s->mem, l->trs);
	}
	s->env->timer_free(s->env, sg->timer);
	buf_free(&sg->hdr);
	buf_free(&sg->msg);
	buf_free(&sg->subj);
	mem_free(&s->mem, sg->links);
	mem_free(&s->mem, sg);
}

struct sourcing *sourcing_start(struct stream *st)
{
	const struct stream_config *c = stream_config_of(st);
	size_t n = c->mirror != NULL ? 1 : c->n_sources;
	if (n == 0)
		return NULL;
	struct server *s = stream_account(st)->js->srv;
	struct sourcing *sg = mem_calloc(&s->mem, 1, sizeof(*sg));
	if (sg != NULL)
		sg->links = mem_calloc(&s->mem, n, sizeof(*sg->links));
	if (sg == NULL || sg->links == NULL ||
	    (sg->timer = s->env->timer_new(s->env, sourcing_timer_fired,
					   sg)) < 0) {
		if (sg != NULL)
			mem_free(&s->mem, sg->links);
		mem_free(&s->mem, sg);
		LOGW(&s->log, "JetStream stream '%s': out of memory for its "
		     "mirror or sources", c->name);
		return NULL;
	}
	sg->st = st;
	sg->srv = s;
	sg->n = n;
	buf_init(&sg->hdr, &s->mem);
	buf_init(&sg->msg, &s->mem);
	buf_init(&sg->subj, &s->mem);
	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		sg->links[i].sg = sg;
		sg->links[i].mirror = c->mirror != NULL;
		sg->links[i].cfg = c->mirror != NULL ? c->mirror : &c->sources[i];
		ok = ok && link_build_transforms(&sg->links[i]);
	}
	if (!ok) {
		LOGW(&s->log, "JetStream stream '%s': out of memory for the "
		     "subject transforms of its mirror or sources", c->name);
		sourcing_free(sg);
		return NULL;
	}
	if (c->mirror == NULL)
		sourcing_find_starts(sg);
	sg->next_tick_ns = sg_now(sg) + SOURCE_HEALTH_NS;
	for (size_t i = 0; i < n; i++)
		link_setup(&sg->links[i], sg->links[i].sseq + 1);
	sg_arm(sg);
	return sg;
}

void sourcing_stop(struct sourcing *sg)
{
	if (sg == NULL)
		return;
	for (size_t i = 0; i < sg->n; i++)
		link_cancel(&sg->links[i]);
	sourcing_free(sg);
}

/* ------------------------------------------------------------- info */

static void link_write_info(const struct source_link *l, struct jw *w)
{
	jw_obj_begin(w);
	jw_key(w, "name");
	jw_str(w, l->cfg->name);
	source_write_external(w, l->cfg);
	jw_key(w, "lag");
	jw_uint(w, l->lag);
	jw_key(w, "active");
	jw_int(w, l->last_ns > 0 ? sg_now(l->sg) - l->last_ns : -1);
	if (l->has_err) {
		jw_key(w, "error");
		jw_obj_begin(w);
		jw_key(w, "code");
		jw_int(w, l->err_code);
		if (l->err_num > 0) {
			jw_key(w, "err_code");
			jw_int(w, l->err_num);
		}
		jw_key(w, "description");
		jw_str(w, l->err_desc);
		jw_obj_end(w);
	}
	source_write_transforms(w, l->cfg);
	jw_obj_end(w);
}

void sourcing_write_info(const struct sourcing *sg, struct jw *w)
{
	if (sg == NULL)
		return;
	if (sg->links[0].mirror) {
		jw_key(w, "mirror");
		link_write_info(&sg->links[0], w);
		return;
	}
	jw_key(w, "sources");
	jw_arr_begin(w);
	for (size_t i = 0; i < sg->n; i++)
		link_write_info(&sg->links[i], w);
	jw_arr_end(w);
}
