/*
 * stream.c - JetStream streams (see stream.h): configuration, lifecycle,
 * the publish path (checks, store, PubAck after sync, dedupe, rollups,
 * republish), the message operations of the API, and restore from disk.
 *
 * Invariants: a stream has one internal subscription per configured
 * subject; its dedupe table and FIFO hold the same entries, oldest first;
 * every PubAck waiting for a sync is in the store's waiter list and frees
 * itself when called (also with STORE_ERR_CLOSED when the store closes).
 */
#include <stdio.h>
#include <string.h>

#include "../core/internal.h"
#include "../core/server_int.h"
#include "../core/subject.h"
#include "../core/transform.h"
#include "../lib/assert.h"
#include "../lib/hash.h"
#include "../lib/timefmt.h"
#include "consumer.h"
#include "jetstream.h"
#include "js_json.h"
#include "stream.h"

#define NS_PER_MS 1000000LL
#define STREAM_MAX_HDR_BYTES (64 * 1024)
#define STREAM_SUBJECTS_LIMIT 100000

/* A remembered Nats-Msg-Id, for the duplicate window. */
struct dedupe {
	struct dedupe *next;           /* FIFO, oldest first */
	uint64_t seq;
	int64_t ts_ns;                 /* wall clock of the store */
	size_t id_len;
	char id[];
};

/* A PubAck waiting for its record to be synced.  Self-contained, so it
 * needs neither the stream nor the store when the callback runs. */
struct pending_ack {
	struct js_account *ja;
	uint64_t seq;
	char *reply;                   /* points into bytes */
	char *stream;                  /* points into bytes */
	char bytes[];
};

struct stream {
	struct js_account *ja;         /* owner */
	struct mem *mem;               /* the server's allocator */
	struct stream_config cfg;
	int64_t created_ns;            /* wall clock of creation */
	struct store *store;
	char *dir;                     /* file storage directory, owned */
	struct sub **subs;             /* one per cfg.subjects entry */
	size_t n_subs;
	struct transform *republish;   /* NULL without republish */
	struct transform *subject_tr;  /* subject_transform, or NULL */
	struct hmap dedupe;            /* msg id -> struct dedupe */
	struct dedupe *dd_head, *dd_tail;
	char *last_msg_id;             /* last stored Nats-Msg-Id, owned */
	struct buf scratch;            /* loads and responses */
	struct buf out;                /* response building */
	struct buf ack_prefix;         /* '{"stream":"<name>", ... "seq":' */
	struct consumer **consumers;   /* sorted by name, owned */
	size_t n_consumers, cap_consumers;
	size_t n_directs;              /* of n_consumers: mirror/source ones */
	bool purging;                  /* removals are a purge, not acks */
	struct sourcing *sourcing;     /* mirror or sources; NULL = none */
};

/* ====================================================== configuration */

void stream_config_free(struct mem *mem, struct stream_config *c)
{
	mem_free(mem, c->name);
	mem_free(mem, c->description);
	for (size_t i = 0; i < c->n_subjects; i++)
		mem_free(mem, c->subjects[i]);
	mem_free(mem, c->subjects);
	mem_free(mem, c->template_owner);
	mem_free(mem, c->placement_json);
	if (c->mirror != NULL)
		source_config_free(mem, c->mirror);
	mem_free(mem, c->mirror);
	for (size_t i = 0; i < c->n_sources; i++)
		source_config_free(mem, &c->sources[i]);
	mem_free(mem, c->sources);
	mem_free(mem, c->transform_src);
	mem_free(mem, c->transform_dest);
	mem_free(mem, c->metadata_json);
	mem_free(mem, c->republish_src);
	mem_free(mem, c->republish_dest);
	memset(c, 0, sizeof(*c));
}

static const char *const retention_names[] = { "limits", "interest",
					       "workqueue" };
static const char *const discard_names[] = { "old", "new" };
static const char *const storage_names[] = { "file", "memory" };

static int config_decode_subjects(struct mem *mem, const struct json_doc *d,
				  int obj, struct stream_config *c)
{
	int t = json_obj_get_fold(d, obj, "subjects");
	if (t < 0 || json_type_of(d, t) == JSON_NULL)
		return 0;
	if (json_type_of(d, t) != JSON_ARRAY)
		return -1;
	uint32_t n = d->toks[t].count;
	if (n == 0)
		return 0;
	c->subjects = mem_calloc(mem, n, sizeof(char *));
	if (c->subjects == NULL)
		return -1;
	struct buf b;
	buf_init(&b, mem);
	for (uint32_t i = 0; i < n; i++) {
		int e = json_array_at(d, t, i);
		buf_reset(&b);
		if (!json_get_string(d, e, &b) || b.oom) {
			buf_free(&b);
			return -1;
		}
		c->subjects[i] = mem_strndup(mem, b.data ? b.data : "", b.len);
		if (c->subjects[i] == NULL) {
			buf_free(&b);
			return -1;
		}
		c->n_subjects++;
	}
	buf_free(&b);
	return 0;
}

static int config_decode_republish(struct mem *mem, const struct json_doc *d,
				   int obj, struct stream_config *c)
{
	int t = json_obj_get_fold(d, obj, "republish");
	if (t < 0 || json_type_of(d, t) == JSON_NULL)
		return 0;
	if (json_type_of(d, t) != JSON_OBJECT)
		return -1;
	c->has_republish = true;
	if (js_json_str(mem, d, t, "src", &c->republish_src) < 0 ||
	    js_json_str(mem, d, t, "dest", &c->republish_dest) < 0 ||
	    js_json_bool(d, t, "headers_only", &c->republish_headers_only) < 0)
		return -1;
	return 0;
}

/* The 2.10 fields: first_seq, subject_transform {src, dest}, metadata
 * (an object of strings). */
static int config_decode_v210(struct mem *mem, const struct json_doc *d,
			      int obj, struct stream_config *c)
{
	if (js_json_uint(d, obj, "first_seq", &c->first_seq) < 0 ||
	    js_json_raw(mem, d, obj, "metadata", JSON_OBJECT,
			&c->metadata_json) < 0)
		return -1;
	if (c->metadata_json != NULL) {
		int m = json_obj_get_fold(d, obj, "metadata");
		uint32_t it = 0;
		int v;
		while ((v = json_obj_next(d, m, &it)) >= 0)
			if (json_type_of(d, v + 1) != JSON_STRING)
				return -1;
	}
	int t = json_obj_get_fold(d, obj, "subject_transform");
	if (t < 0 || json_type_of(d, t) == JSON_NULL)
		return 0;
	if (json_type_of(d, t) != JSON_OBJECT)
		return -1;
	c->has_subject_transform = true;
	if (js_json_str(mem, d, t, "src", &c->transform_src) < 0 ||
	    js_json_str(mem, d, t, "dest", &c->transform_dest) < 0)
		return -1;
	return 0;
}

static int config_decode_numbers(const struct json_doc *d, int obj,
				 struct stream_config *c)
{
	int bad = 0;
	bad |= js_json_int(d, obj, "max_consumers", &c->max_consumers) < 0;
	bad |= js_json_int(d, obj, "max_msgs", &c->max_msgs) < 0;
	bad |= js_json_int(d, obj, "max_bytes", &c->max_bytes) < 0;
	bad |= js_json_int(d, obj, "max_age", &c->max_age_ns) < 0;
	bad |= js_json_int(d, obj, "max_msgs_per_subject",
			   &c->max_msgs_per_subject) < 0;
	bad |= js_json_int(d, obj, "max_msg_size", &c->max_msg_size) < 0;
	bad |= js_json_int(d, obj, "num_replicas", &c->replicas) < 0;
	bad |= js_json_int(d, obj, "duplicate_window",
			   &c->duplicate_window_ns) < 0;
	bad |= c->max_msg_size > INT32_MAX || c->max_msg_size < INT32_MIN;
	return bad ? -1 : 0;
}

static int config_decode_flags(const struct json_doc *d, int obj,
			       struct stream_config *c)
{
	int bad = 0;
	bad |= js_json_bool(d, obj, "no_ack", &c->no_ack) < 0;
	bad |= js_json_bool(d, obj, "allow_direct", &c->allow_direct) < 0;
	bad |= js_json_bool(d, obj, "mirror_direct", &c->mirror_direct) < 0;
	bad |= js_json_bool(d, obj, "discard_new_per_subject",
			    &c->discard_new_per_subject) < 0;
	bad |= js_json_bool(d, obj, "sealed", &c->sealed) < 0;
	bad |= js_json_bool(d, obj, "deny_delete", &c->deny_delete) < 0;
	bad |= js_json_bool(d, obj, "deny_purge", &c->deny_purge) < 0;
	bad |= js_json_bool(d, obj, "allow_rollup_hdrs",
			    &c->allow_rollup_hdrs) < 0;
	return bad ? -1 : 0;
}

/* "mirror" (an object) and "sources" (an array of objects). */
static int config_decode_sources(struct mem *mem, const struct json_doc *d,
				 int obj, struct stream_config *c)
{
	int t = json_obj_get_fold(d, obj, "mirror");
	if (t >= 0 && json_type_of(d, t) != JSON_NULL) {
		c->mirror = mem_calloc(mem, 1, sizeof(*c->mirror));
		if (c->mirror == NULL ||
		    source_config_decode(mem, d, t, c->mirror) != 0) {
			mem_free(mem, c->mirror);
			c->mirror = NULL;
			return -1;
		}
	}
	t = json_obj_get_fold(d, obj, "sources");
	if (t < 0 || json_type_of(d, t) == JSON_NULL)
		return 0;
	if (json_type_of(d, t) != JSON_ARRAY)
		return -1;
	size_t n = json_array_len(d, t);
	if (n == 0)
		return 0;
	c->sources = mem_calloc(mem, n, sizeof(*c->sources));
	if (c->sources == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int e = json_array_at(d, t, (uint32_t)i);
		if (source_config_decode(mem, d, e, &c->sources[i]) != 0)
			return -1;
		c->n_sources++;
	}
	return 0;
}

int stream_config_decode(struct mem *mem, const struct json_doc *d, int obj,
			 struct stream_config *c, struct js_error *e)
{
	memset(c, 0, sizeof(*c));
	int ret = 0, dis = 0, sto = 0;
	int bad = json_type_of(d, obj) != JSON_OBJECT;
	if (!bad) {
		bad |= js_json_str(mem, d, obj, "name", &c->name) < 0;
		bad |= js_json_str(mem, d, obj, "description",
				   &c->description) < 0;
		bad |= config_decode_subjects(mem, d, obj, c) < 0;
		bad |= js_json_enum(mem, d, obj, "retention",
					  retention_names, 3, &ret) < 0;
		bad |= js_json_enum(mem, d, obj, "discard", discard_names,
					  2, &dis) < 0;
		bad |= js_json_enum(mem, d, obj, "storage", storage_names,
					  2, &sto) < 0;
		bad |= config_decode_numbers(d, obj, c) < 0;
		bad |= config_decode_flags(d, obj, c) < 0;
		bad |= js_json_str(mem, d, obj, "template_owner",
				   &c->template_owner) < 0;
		bad |= js_json_raw(mem, d, obj, "placement", JSON_OBJECT,
				   &c->placement_json) < 0;
		bad |= config_decode_sources(mem, d, obj, c) < 0;
		bad |= config_decode_republish(mem, d, obj, c) < 0;
		bad |= config_decode_v210(mem, d, obj, c) < 0;
	}
	c->retention = (enum stream_retention)ret;
	c->discard_new = dis == 1;
	c->storage = sto == 1 ? STORE_MEMORY : STORE_FILE;
	if (c->name == NULL && !bad)
		c->name = mem_strdup(mem, "");
	if (bad || c->name == NULL) {
		stream_config_free(mem, c);
		js_error_set(e, JS_ERR_INVALID_JSON, NULL);
		return -1;
	}
	/* An empty strings means "none" in the reference's omitempty. */
	if (c->description != NULL && c->description[0] == '\0') {
		mem_free(mem, c->description);
		c->description = NULL;
	}
	if (c->template_owner != NULL && c->template_owner[0] == '\0') {
		mem_free(mem, c->template_owner);
		c->template_owner = NULL;
	}
	return 0;
}

static bool stream_name_is_valid(const char *name)
{
	if (name[0] == '\0')
		return false;
	return strpbrk(name, " \t\r\n\f.*>") == NULL;
}

static void config_fill_defaults(struct stream_config *c,
				 int64_t max_dup_window_ns)
{
	if (c->replicas == 0)
		c->replicas = 1;
	if (c->max_msgs == 0)
		c->max_msgs = -1;
	if (c->max_msgs_per_subject == 0)
		c->max_msgs_per_subject = -1;
	if (c->max_bytes == 0)
		c->max_bytes = -1;
	if (c->max_msg_size == 0)
		c->max_msg_size = -1;
	if (c->max_consumers == 0)
		c->max_consumers = -1;
	if (c->duplicate_window_ns == 0 && c->mirror == NULL) {
		int64_t w = STREAM_DEFAULT_DUP_WINDOW_NS;
		if (max_dup_window_ns > 0 && w > max_dup_window_ns)
			w = max_dup_window_ns;
		if (c->max_age_ns != 0 && c->max_age_ns < w)
			w = c->max_age_ns;
		c->duplicate_window_ns = w;
	}
}

/* The time limits of checkStreamCfg, in its order. */
static int config_check_times(const struct stream_config *c,
			      int64_t max_dup_window_ns, struct js_error *e)
{
	const char *why = NULL;
	char tmp[128];
	if (c->max_age_ns > 0 && c->max_age_ns < 100 * NS_PER_MS)
		why = "max age needs to be >= 100ms";
	else if (c->duplicate_window_ns < 0)
		why = "duplicates window can not be negative";
	else if (c->max_age_ns != 0 && c->duplicate_window_ns > c->max_age_ns)
		why = "duplicates window can not be larger then max age";
	else if (max_dup_window_ns > 0 &&
		 c->duplicate_window_ns > max_dup_window_ns) {
		char d[TIMEFMT_MAX];
		timefmt_go_duration(max_dup_window_ns, d);
		snprintf(tmp, sizeof(tmp), "duplicates window can not be larger "
			 "then server limit of %s", d);
		why = tmp;
	} else if (c->duplicate_window_ns > 0 &&
		   c->duplicate_window_ns < 100 * NS_PER_MS)
		why = "duplicates window needs to be >= 100ms";
	if (why == NULL)
		return 0;
	js_error_set(e, JS_ERR_STREAM_INVALID_CONFIG, why);
	return -1;
}

static int config_check_subjects(struct stream_config *c, struct mem *mem,
				 struct js_error *e)
{
	if (c->n_subjects == 0) {
		if (c->mirror != NULL || c->n_sources > 0)
			return 0;
		c->subjects = mem_calloc(mem, 1, sizeof(char *));
		if (c->subjects == NULL ||
		    (c->subjects[0] = mem_strdup(mem, c->name)) == NULL) {
			js_error_set(e, JS_ERR_STREAM_CREATE, "out of memory");
			return -1;
		}
		c->n_subjects = 1;
		return 0;
	}
	for (size_t i = 0; i < c->n_subjects; i++) {
		const char *s = c->subjects[i];
		const char *why = NULL;
		for (size_t j = 0; j < i && why == NULL; j++)
			if (strcmp(s, c->subjects[j]) == 0)
				why = "duplicate subjects detected";
		if (why == NULL && subject_is_valid(s, strlen(s)) &&
		    subject_is_subset(s, strlen(s), "$JS.API.>", 9))
			why = "subjects overlap with jetstream api";
		if (why == NULL && !subject_is_valid(s, strlen(s)))
			why = "invalid subject";
		if (why != NULL) {
			js_error_set(e, JS_ERR_STREAM_INVALID_CONFIG, why);
			return -1;
		}
	}
	for (size_t i = 0; i < c->n_subjects; i++) {
		for (size_t j = 0; j < c->n_subjects; j++) {
			const char *a = c->subjects[i], *b = c->subjects[j];
			if (i != j && subject_overlaps(a, strlen(a), b, strlen(b))) {
				js_error_setf(e, JS_ERR_STREAM_INVALID_CONFIG,
					      "subject \"%s\" overlaps with \"%s\"",
					      a, b);
				return -1;
			}
		}
	}
	return 0;
}

static bool config_any_overlap(const struct stream_config *c, const char *f)
{
	for (size_t i = 0; i < c->n_subjects; i++)
		if (subject_overlaps(c->subjects[i], strlen(c->subjects[i]), f,
				     strlen(f)))
			return true;
	return false;
}

static int config_check_republish(struct stream_config *c, struct mem *mem,
				  struct js_error *e)
{
	if (!c->has_republish)
		return 0;
	if (c->republish_src == NULL || c->republish_src[0] == '\0') {
		mem_free(mem, c->republish_src);
		c->republish_src = mem_strdup(mem, ">");
	}
	if (c->republish_dest == NULL)
		c->republish_dest = mem_strdup(mem, "");
	if (c->republish_src == NULL || c->republish_dest == NULL) {
		js_error_set(e, JS_ERR_STREAM_CREATE, "out of memory");
		return -1;
	}
	const char *why = NULL;
	if (!subject_is_valid(c->republish_src, strlen(c->republish_src)) ||
	    !config_any_overlap(c, c->republish_src))
		why = "stream configuration for republish source is not valid "
		      "subset of subjects";
	else if (subject_is_valid(c->republish_dest, strlen(c->republish_dest)) &&
		 config_any_overlap(c, c->republish_dest))
		why = "stream configuration for republish destination forms a "
		      "cycle";
	if (why == NULL) {
		struct transform *t = transform_new(mem, c->republish_src,
						    c->republish_dest, NULL);
		if (t == NULL)
			why = "stream configuration for republish not valid";
		transform_free(t);
	}
	if (why == NULL)
		return 0;
	js_error_set(e, JS_ERR_STREAM_INVALID_CONFIG, why);
	return -1;
}

static int config_check_subject_transform(struct stream_config *c,
					  struct mem *mem, struct js_error *e)
{
	if (!c->has_subject_transform)
		return 0;
	if (c->transform_src == NULL || c->transform_src[0] == '\0') {
		mem_free(mem, c->transform_src);
		c->transform_src = mem_strdup(mem, ">");
	}
	if (c->transform_dest == NULL)
		c->transform_dest = mem_strdup(mem, "");
	if (c->transform_src == NULL || c->transform_dest == NULL) {
		js_error_set(e, JS_ERR_STREAM_CREATE, "out of memory");
		return -1;
	}
	struct transform *t = transform_new(mem, c->transform_src,
					    c->transform_dest, NULL);
	if (t == NULL) {
		js_error_set(e, JS_ERR_STREAM_INVALID_CONFIG, "stream configuration "
			     "for subject transform not valid");
		return -1;
	}
	transform_free(t);
	return 0;
}

int stream_config_check(struct stream_config *c, int64_t max_dup_window_ns,
			struct mem *mem, struct js_error *e)
{
	const char *why = NULL;
	char tmp[96];
	if (!stream_name_is_valid(c->name))
		why = "stream name is required and can not contain '.', '*', '>'";
	else if (strlen(c->name) > STREAM_NAME_MAX) {
		snprintf(tmp, sizeof(tmp), "stream name is too long, maximum "
			 "allowed is %d", STREAM_NAME_MAX);
		why = tmp;
	} else if (c->description != NULL &&
		   strlen(c->description) > STREAM_DESCRIPTION_MAX) {
		snprintf(tmp, sizeof(tmp), "stream description is too long, "
			 "maximum allowed is %d", STREAM_DESCRIPTION_MAX);
		why = tmp;
	}
	if (why != NULL) {
		js_error_set(e, JS_ERR_STREAM_INVALID_CONFIG, why);
		return -1;
	}
	config_fill_defaults(c, max_dup_window_ns);
	if (c->replicas > 5) {
		js_error_set(e, JS_ERR_STREAM_INVALID_CONFIG,
			     "maximum replicas is 5");
		return -1;
	}
	if (c->replicas < 0) {
		js_error_set(e, JS_ERR_REPLICAS_COUNT_CANNOT_BE_NEGATIVE, NULL);
		return -1;
	}
	if (config_check_times(c, max_dup_window_ns, e) != 0)
		return -1;
	if (c->deny_purge && c->allow_rollup_hdrs)
		why = "roll-ups require the purge permission";
	else if (c->discard_new_per_subject && !c->discard_new)
		why = "discard new per subject requires discard new policy to "
		      "be set";
	else if (c->discard_new_per_subject && c->max_msgs_per_subject <= 0)
		why = "discard new per subject requires max msgs per subject > 0";
	if (why != NULL) {
		js_error_set(e, JS_ERR_STREAM_INVALID_CONFIG, why);
		return -1;
	}
	if (source_config_check(c, e) != 0)
		return -1;
	if (config_check_subjects(c, mem, e) != 0 ||
	    config_check_subject_transform(c, mem, e) != 0)
		return -1;
	return config_check_republish(c, mem, e);
}

static bool str_eq_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

int stream_config_check_update(const struct stream_config *old,
			       struct stream_config *c, struct js_error *e)
{
	const char *why = NULL;
	if (strcmp(c->name, old->name) != 0)
		why = "stream configuration name must match original";
	else if (c->max_consumers != old->max_consumers)
		why = "stream configuration update can not change MaxConsumers";
	else if (c->storage != old->storage)
		why = "stream configuration update can not change storage type";
	else if (c->retention != old->retention)
		why = "stream configuration update can not change retention "
		      "policy";
	else if (old->template_owner != NULL)
		why = "stream configuration update not allowed on template "
		      "owned stream";
	else if (c->template_owner != NULL)
		why = "stream configuration update can not be owned by a "
		      "template";
	else if (!c->sealed && old->sealed)
		why = "stream configuration update can not unseal a sealed "
		      "stream";
	else if (!c->deny_delete && old->deny_delete)
		why = "stream configuration update can not cancel deny message "
		      "deletes";
	else if (!c->deny_purge && old->deny_purge)
		why = "stream configuration update can not cancel deny purge";
	if (why == NULL && !source_config_equal(old->mirror, c->mirror)) {
		js_error_set(e, JS_ERR_STREAM_MIRROR_NOT_UPDATABLE, NULL);
		return -1;
	}
	if (why != NULL)
		;
	else if (c->has_republish != old->has_republish ||
		 !str_eq_null(c->republish_src, old->republish_src) ||
		 !str_eq_null(c->republish_dest, old->republish_dest) ||
		 c->republish_headers_only != old->republish_headers_only)
		why = "stream configuration update can not change RePublish";
	if (why != NULL) {
		js_error_set(e, JS_ERR_STREAM_INVALID_CONFIG, why);
		return -1;
	}
	if (c->replicas != old->replicas) {
		js_error_set(e, JS_ERR_STREAM_REPLICAS_NOT_UPDATABLE, NULL);
		return -1;
	}
	if (c->sealed) {
		/* A sealed stream keeps everything and takes nothing more. */
		c->max_age_ns = 0;
		c->discard_new = true;
		c->deny_delete = c->deny_purge = true;
		c->allow_rollup_hdrs = false;
	}
	return 0;
}

static void config_encode_republish(struct jw *w, const struct stream_config *c)
{
	jw_key(w, "republish");
	jw_obj_begin(w);
	jw_key(w, "src");
	jw_str(w, c->republish_src ? c->republish_src : "");
	jw_key(w, "dest");
	jw_str(w, c->republish_dest ? c->republish_dest : "");
	if (c->republish_headers_only) {
		jw_key(w, "headers_only");
		jw_bool(w, true);
	}
	jw_obj_end(w);
}

static void config_encode_tail(struct jw *w, const struct stream_config *c)
{
	if (c->duplicate_window_ns != 0) {
		jw_key(w, "duplicate_window");
		jw_int(w, c->duplicate_window_ns);
	}
	if (c->placement_json != NULL) {
		jw_key(w, "placement");
		jw_raw(w, c->placement_json, strlen(c->placement_json));
	}
	if (c->mirror != NULL) {
		jw_key(w, "mirror");
		source_config_encode(w, c->mirror);
	}
	if (c->n_sources > 0) {
		jw_key(w, "sources");
		jw_arr_begin(w);
		for (size_t i = 0; i < c->n_sources; i++)
			source_config_encode(w, &c->sources[i]);
		jw_arr_end(w);
	}
	if (c->first_seq > 0) {
		jw_key(w, "first_seq");
		jw_uint(w, c->first_seq);
	}
	if (c->has_subject_transform) {
		jw_key(w, "subject_transform");
		jw_obj_begin(w);
		jw_key(w, "src");
		jw_str(w, c->transform_src ? c->transform_src : ">");
		jw_key(w, "dest");
		jw_str(w, c->transform_dest ? c->transform_dest : "");
		jw_obj_end(w);
	}
	if (c->has_republish)
		config_encode_republish(w, c);
	jw_key(w, "allow_direct");
	jw_bool(w, c->allow_direct);
	jw_key(w, "mirror_direct");
	jw_bool(w, c->mirror_direct);
	if (c->discard_new_per_subject) {
		jw_key(w, "discard_new_per_subject");
		jw_bool(w, true);
	}
	jw_key(w, "sealed");
	jw_bool(w, c->sealed);
	jw_key(w, "deny_delete");
	jw_bool(w, c->deny_delete);
	jw_key(w, "deny_purge");
	jw_bool(w, c->deny_purge);
	jw_key(w, "allow_rollup_hdrs");
	jw_bool(w, c->allow_rollup_hdrs);
	if (c->metadata_json != NULL) {
		jw_key(w, "metadata");
		jw_raw(w, c->metadata_json, strlen(c->metadata_json));
	}
}

void stream_config_encode(struct jw *w, const struct stream_config *c)
{
	jw_obj_begin(w);
	jw_key(w, "name");
	jw_str(w, c->name);
	if (c->description != NULL) {
		jw_key(w, "description");
		jw_str(w, c->description);
	}
	if (c->n_subjects > 0) {
		jw_key(w, "subjects");
		jw_arr_begin(w);
		for (size_t i = 0; i < c->n_subjects; i++)
			jw_str(w, c->subjects[i]);
		jw_arr_end(w);
	}
	jw_key(w, "retention");
	jw_str(w, retention_names[c->retention]);
	jw_key(w, "max_consumers");
	jw_int(w, c->max_consumers);
	jw_key(w, "max_msgs");
	jw_int(w, c->max_msgs);
	jw_key(w, "max_bytes");
	jw_int(w, c->max_bytes);
	jw_key(w, "max_age");
	jw_int(w, c->max_age_ns);
	jw_key(w, "max_msgs_per_subject");
	jw_int(w, c->max_msgs_per_subject);
	if (c->max_msg_size != 0) {
		jw_key(w, "max_msg_size");
		jw_int(w, c->max_msg_size);
	}
	jw_key(w, "discard");
	jw_str(w, c->discard_new ? "new" : "old");
	jw_key(w, "storage");
	jw_str(w, c->storage == STORE_MEMORY ? "memory" : "file");
	jw_key(w, "num_replicas");
	jw_int(w, c->replicas);
	if (c->no_ack) {
		jw_key(w, "no_ack");
		jw_bool(w, true);
	}
	if (c->template_owner != NULL) {
		jw_key(w, "template_owner");
		jw_str(w, c->template_owner);
	}
	config_encode_tail(w, c);
	jw_obj_end(w);
}

static void stream_config_encode_any(struct jw *w, const void *cfg)
{
	stream_config_encode(w, cfg);
}

bool stream_config_equal(struct mem *mem, const struct stream_config *a,
			 const struct stream_config *b)
{
	return js_json_encoded_equal(mem, stream_config_encode_any, a, b);
}

/* ========================================================== lifecycle */

const char *stream_name(const struct stream *st)
{
	return st->cfg.name;
}

const struct stream_config *stream_config_of(const struct stream *st)
{
	return &st->cfg;
}

int64_t stream_created_ns(const struct stream *st)
{
	return st->created_ns;
}

void stream_get_state(const struct stream *st, struct store_state *out)
{
	store_get_state(st->store, out);
}

bool stream_subjects_overlap(const struct stream *st,
			     const struct stream_config *c)
{
	for (size_t i = 0; i < c->n_subjects; i++)
		if (config_any_overlap(&st->cfg, c->subjects[i]))
			return true;
	return false;
}

bool stream_matches_filter(const struct stream *st, const char *filter)
{
	return config_any_overlap(&st->cfg, filter);
}

static struct server *stream_server(const struct stream *st)
{
	return st->ja->js->srv;
}

static void stream_msg_in(void *arg, struct sub *sub, struct conn *from,
			  struct account *acc, const struct pubmsg *m);
static void stream_purge_consumers(struct stream *st, const char *filter);

static void stream_unsubscribe_all(struct stream *st)
{
	for (size_t i = 0; i < st->n_subs; i++)
		internal_unsubscribe(stream_server(st), st->subs[i]);
	mem_free(st->mem, st->subs);
	st->subs = NULL;
	st->n_subs = 0;
}

static int stream_subscribe_all(struct stream *st, struct js_error *e)
{
	struct server *s = stream_server(st);
	st->subs = mem_calloc(st->mem, st->cfg.n_subjects + 1, sizeof(*st->subs));
	if (st->subs == NULL) {
		js_error_set(e, JS_ERR_STREAM_CREATE, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < st->cfg.n_subjects; i++) {
		struct sub *sub = internal_subscribe(s, st->ja->acc,
						     st->cfg.subjects[i], NULL,
						     stream_msg_in, st);
		if (sub == NULL) {
			stream_unsubscribe_all(st);
			js_error_set(e, JS_ERR_STREAM_CREATE,
				     "could not subscribe to stream subjects");
			return -1;
		}
		st->subs[st->n_subs++] = sub;
	}
	return 0;
}

/* The store removed a message (limits, age, purge, delete, acks): the
 * consumers forget it. */
static void stream_store_removed(void *arg, uint64_t seq, const char *subject,
				 size_t subject_len)
{
	struct stream *st = arg;
	/* A purge moves the consumers itself (stream_purge_consumers). */
	if (st->purging)
		return;
	for (size_t i = 0; i < st->n_consumers; i++)
		consumer_msg_removed(st->consumers[i], seq, subject, subject_len);
}

static void stream_limits_of(const struct stream_config *c,
			     struct store_limits *l)
{
	l->max_msgs = c->max_msgs;
	l->max_bytes = c->max_bytes;
	l->max_age_ns = c->max_age_ns;
	l->max_msgs_per_subject = c->max_msgs_per_subject;
}

/* Creates every missing folder of path (the env has no mkdir -p). */
static int stream_mkdirs(struct env *env, struct buf *path)
{
	for (size_t i = 1; i <= path->len; i++) {
		if (i < path->len && path->data[i] != '/')
			continue;
		char c = path->data[i];
		path->data[i] = '\0';
		int rc = env->dir_create(env, path->data);
		path->data[i] = c;
		if (rc < 0 && rc != ENV_EEXIST)
			return rc;
	}
	return 0;
}

static int stream_write_meta(struct stream *st)
{
	if (st->dir == NULL)
		return 0;
	struct buf b, path;
	struct jw w;
	buf_init(&b, st->mem);
	buf_init(&path, st->mem);
	jw_init(&w, &b);
	jw_obj_begin(&w);
	jw_key(&w, "created_ns");
	jw_int(&w, st->created_ns);
	jw_key(&w, "config");
	stream_config_encode(&w, &st->cfg);
	jw_obj_end(&w);
	buf_appendf(&path, "%s/meta.inf", st->dir);
	int rc = b.oom || path.oom ? STORE_ERR_NOMEM
		 : store_meta_write(stream_server(st)->env, path.data, b.data,
				    b.len);
	buf_free(&b);
	buf_free(&path);
	return rc;
}

static int stream_open_store(struct stream *st, struct js_error *e)
{
	struct server *s = stream_server(st);
	struct buf dir;
	buf_init(&dir, st->mem);
	js_account_streams_dir(st->ja, &dir);
	buf_appendf(&dir, "/%s", st->cfg.name);
	if (dir.oom || (st->dir = mem_strdup(st->mem, dir.data)) == NULL) {
		buf_free(&dir);
		js_error_set(e, JS_ERR_STREAM_CREATE, "out of memory");
		return -1;
	}
	int rc = stream_mkdirs(s->env, &dir);
	buf_free(&dir);
	if (rc < 0) {
		js_error_setf(e, JS_ERR_STREAM_CREATE, "could not create "
			      "stream directory: %s", env_strerror(rc));
		return -1;
	}
	struct store_config sc = {
		.env = s->env, .mem = st->mem, .kind = st->cfg.storage,
		.dir = st->dir,
		.first_seq = st->cfg.first_seq > 0 ? st->cfg.first_seq : 1,
		.sync_interval_ns = st->ja->js->sync_interval_ns,
		.removed = stream_store_removed, .removed_arg = st,
	};
	stream_limits_of(&st->cfg, &sc.limits);
	struct store_report rep;
	memset(&rep, 0, sizeof(rep));
	rc = store_open(&st->store, &sc, &rep);
	if (rc != 0) {
		js_error_setf(e, JS_ERR_STREAM_CREATE, "error creating store "
			      "for stream: %s", store_strerror(rc));
		return -1;
	}
	if (rep.first_problem[0] != '\0')
		LOGW(&s->log, "JetStream stream '%s > %s': %s",
		     st->ja->acc->name, st->cfg.name, rep.first_problem);
	return 0;
}

int stream_create(struct js_account *ja, struct stream_config *cfg,
		  int64_t created_ns, bool persist, struct stream **out,
		  struct js_error *e)
{
	struct server *s = ja->js->srv;
	struct stream *st = mem_calloc(&s->mem, 1, sizeof(*st));
	if (st == NULL) {
		stream_config_free(&s->mem, cfg);
		js_error_set(e, JS_ERR_STREAM_CREATE, "out of memory");
		return -1;
	}
	st->ja = ja;
	st->mem = &s->mem;
	st->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	st->created_ns = created_ns;
	hmap_init(&st->dedupe, st->mem, prng_next(&s->prng));
	buf_init(&st->scratch, st->mem);
	buf_init(&st->out, st->mem);
	buf_init(&st->ack_prefix, st->mem);
	if (st->cfg.has_republish) {
		st->republish = transform_new(st->mem, st->cfg.republish_src,
					      st->cfg.republish_dest, NULL);
	}
	if (st->cfg.has_subject_transform)
		st->subject_tr = transform_new(st->mem, st->cfg.transform_src,
					       st->cfg.transform_dest, NULL);
	if ((st->cfg.has_republish && st->republish == NULL) ||
	    (st->cfg.has_subject_transform && st->subject_tr == NULL) ||
	    stream_open_store(st, e) != 0 ||
	    (persist && stream_write_meta(st) != 0) ||
	    stream_subscribe_all(st, e) != 0) {
		if (e->err == JS_ERR_NONE)
			js_error_set(e, JS_ERR_STREAM_CREATE,
				     "could not write stream metadata");
		stream_destroy(st, persist);
		return -1;
	}
	st->sourcing = sourcing_start(st);
	*out = st;
	return 0;
}

int stream_update(struct stream *st, struct stream_config *cfg,
		  struct js_error *e)
{
	struct stream_config old = st->cfg;
	st->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	bool resubscribe = old.n_subjects != st->cfg.n_subjects;
	for (size_t i = 0; !resubscribe && i < old.n_subjects; i++)
		resubscribe = strcmp(old.subjects[i], st->cfg.subjects[i]) != 0;
	if (resubscribe) {
		stream_unsubscribe_all(st);
		if (stream_subscribe_all(st, e) != 0) {
			/* Back to the old subjects, which did subscribe. */
			stream_config_free(st->mem, &st->cfg);
			st->cfg = old;
			stream_subscribe_all(st, e);
			return -1;
		}
	}
	struct transform *tr = NULL;
	if (st->cfg.has_subject_transform)
		tr = transform_new(st->mem, st->cfg.transform_src,
				   st->cfg.transform_dest, NULL);
	transform_free(st->subject_tr);
	st->subject_tr = tr;
	/* The links point into the config: set them up again (each resumes
	 * from what the stream already holds). */
	sourcing_stop(st->sourcing);
	st->sourcing = sourcing_start(st);
	stream_config_free(st->mem, &old);
	struct store_limits l;
	stream_limits_of(&st->cfg, &l);
	int rc = store_update_limits(st->store, &l);
	if (rc == 0)
		rc = stream_write_meta(st);
	if (rc != 0) {
		js_error_setf(e, JS_ERR_STREAM_UPDATE, "%s", store_strerror(rc));
		return -1;
	}
	return 0;
}

static void stream_dedupe_clear(struct stream *st)
{
	while (st->dd_head != NULL) {
		struct dedupe *d = st->dd_head;
		st->dd_head = d->next;
		mem_free(st->mem, d);
	}
	st->dd_tail = NULL;
	hmap_free(&st->dedupe);
}

void stream_destroy(struct stream *st, bool remove_files)
{
	if (st == NULL)
		return;
	struct server *s = stream_server(st);
	sourcing_stop(st->sourcing);
	st->sourcing = NULL;
	stream_unsubscribe_all(st);
	while (st->n_consumers > 0)
		consumer_destroy(st->consumers[st->n_consumers - 1],
				 remove_files);
	mem_free(st->mem, st->consumers);
	if (remove_files && st->dir != NULL) {
		struct buf obs;
		buf_init(&obs, st->mem);
		buf_appendf(&obs, "%s/obs", st->dir);
		if (!obs.oom)
			s->env->file_remove(s->env, obs.data);
		buf_free(&obs);
	}
	if (st->store != NULL) {
		if (remove_files)
			store_delete(st->store);
		else
			store_close(st->store);
	}
	if (remove_files && st->dir != NULL) {
		struct buf p;
		buf_init(&p, st->mem);
		buf_appendf(&p, "%s/meta.inf", st->dir);
		if (!p.oom)
			s->env->file_remove(s->env, p.data);
		/* store_delete removes the store's files but leaves its
		 * (then empty) folder; a stream's folder must go entirely or
		 * the next start finds a stream without metadata. */
		buf_reset(&p);
		buf_appendf(&p, "%s/msgs", st->dir);
		if (!p.oom)
			s->env->file_remove(s->env, p.data);
		s->env->file_remove(s->env, st->dir);
		buf_free(&p);
	}
	transform_free(st->republish);
	transform_free(st->subject_tr);
	stream_dedupe_clear(st);
	stream_config_free(st->mem, &st->cfg);
	mem_free(st->mem, st->last_msg_id);
	mem_free(st->mem, st->dir);
	buf_free(&st->scratch);
	buf_free(&st->out);
	buf_free(&st->ack_prefix);
	mem_free(st->mem, st);
}

/* ======================================================= publish path */

/* The PubAck bytes, byte for byte as the reference's template writes
 * them (note the space after the first comma). */
static void stream_pub_ack_ok(struct stream *st, struct buf *out,
			      uint64_t seq, bool duplicate)
{
	const char *domain = st->ja->js->domain;
	/* The part before the sequence is the same for every PubAck. */
	if (st->ack_prefix.len == 0) {
		struct buf *p = &st->ack_prefix;
		buf_append_str(p, "{\"stream\":\"");
		json_escape(p, st->cfg.name, strlen(st->cfg.name));
		buf_append_str(p, "\", ");
		if (domain != NULL) {
			buf_append_str(p, "\"domain\":\"");
			json_escape(p, domain, strlen(domain));
			buf_append_str(p, "\", ");
		}
		buf_append_str(p, "\"seq\":");
		if (p->oom) {
			buf_free(p);
			buf_init(p, st->mem);
		}
	}
	buf_reset(out);
	if (st->ack_prefix.len == 0) {
		out->oom = true;       /* no answer rather than a broken one */
		return;
	}
	buf_append(out, st->ack_prefix.data, st->ack_prefix.len);
	buf_append_u64(out, seq);
	if (duplicate)
		buf_append_str(out, ",\"duplicate\": true");
	buf_append_char(out, '}');
}

static void stream_pub_ack_err(const struct stream *st, struct buf *out,
			       const struct js_error *e)
{
	struct jw w;
	buf_reset(out);
	jw_init(&w, out);
	jw_obj_begin(&w);
	js_error_write(&w, e);
	jw_key(&w, "stream");
	jw_str(&w, st->cfg.name);
	jw_key(&w, "seq");
	jw_uint(&w, 0);
	if (st->ja->js->domain != NULL) {
		jw_key(&w, "domain");
		jw_str(&w, st->ja->js->domain);
	}
	jw_obj_end(&w);
}

static void stream_ack_synced(void *arg, uint64_t seq, int err)
{
	struct pending_ack *pa = arg;
	UNUSED(seq);
	struct js_account *ja = pa->ja;
	struct stream *st = js_account_find_stream(ja, pa->stream);
	/* A closed store means the stream is going away: nobody to answer
	 * for, and the client's request times out like on a crash. */
	if (err != STORE_ERR_CLOSED && st != NULL) {
		if (err == 0) {
			stream_pub_ack_ok(st, &st->out, pa->seq, false);
		} else {
			struct js_error e;
			js_error_set(&e, JS_ERR_STREAM_STORE_FAILED,
				     store_strerror(err));
			stream_pub_ack_err(st, &st->out, &e);
		}
		if (!st->out.oom)
			js_api_send(ja, pa->reply, st->out.data, st->out.len);
	}
	mem_free(&ja->js->srv->mem, pa);
}

static void stream_ack_when_synced(struct stream *st, const char *reply,
				   size_t reply_len, uint64_t seq)
{
	size_t name_len = strlen(st->cfg.name);
	struct pending_ack *pa = mem_alloc(st->mem, sizeof(*pa) + reply_len +
					   name_len + 2);
	if (pa == NULL)
		return; /* the publisher times out, as on any lost reply */
	pa->ja = st->ja;
	pa->seq = seq;
	pa->reply = pa->bytes;
	memcpy(pa->reply, reply, reply_len);
	pa->reply[reply_len] = '\0';
	pa->stream = pa->bytes + reply_len + 1;
	memcpy(pa->stream, st->cfg.name, name_len + 1);
	if (store_sync_wait(st->store, seq, stream_ack_synced, pa) != 0)
		mem_free(st->mem, pa);
}

static void stream_reply_err(struct stream *st, const char *reply,
			     const struct js_error *e)
{
	if (reply == NULL)
		return;
	stream_pub_ack_err(st, &st->out, e);
	if (!st->out.oom)
		js_api_send(st->ja, reply, st->out.data, st->out.len);
}

static void stream_dedupe_expire(struct stream *st, int64_t now_ns)
{
	int64_t window = st->cfg.duplicate_window_ns;
	while (st->dd_head != NULL &&
	       (window <= 0 || st->dd_head->ts_ns + window <= now_ns)) {
		struct dedupe *d = st->dd_head;
		st->dd_head = d->next;
		if (st->dd_head == NULL)
			st->dd_tail = NULL;
		if (hmap_get(&st->dedupe, d->id, d->id_len) == d)
			hmap_del(&st->dedupe, d->id, d->id_len);
		mem_free(st->mem, d);
	}
}

static void stream_dedupe_add(struct stream *st, const char *id, size_t len,
			      uint64_t seq, int64_t ts_ns)
{
	if (st->cfg.duplicate_window_ns <= 0)
		return;
	struct dedupe *d = mem_alloc(st->mem, sizeof(*d) + len + 1);
	if (d == NULL)
		return; /* dedupe is best effort under memory pressure */
	d->next = NULL;
	d->seq = seq;
	d->ts_ns = ts_ns;
	d->id_len = len;
	memcpy(d->id, id, len);
	d->id[len] = '\0';
	if (!hmap_put(&st->dedupe, d->id, len, d)) {
		mem_free(st->mem, d);
		return;
	}
	if (st->dd_tail != NULL)
		st->dd_tail->next = d;
	else
		st->dd_head = d;
	st->dd_tail = d;
}

/* The headers a publish may carry, found once. */
struct pub_hdrs {
	const char *msg_id, *exp_stream, *exp_last_seq, *exp_subj_seq;
	const char *exp_last_id, *rollup;
	size_t msg_id_len, exp_stream_len, exp_last_seq_len, exp_subj_seq_len;
	size_t exp_last_id_len, rollup_len;
};

static void pub_hdrs_parse(const char *hdr, size_t len, struct pub_hdrs *h)
{
	memset(h, 0, sizeof(*h));
	if (len == 0)
		return;
	h->msg_id = js_header_get(hdr, len, "Nats-Msg-Id", &h->msg_id_len);
	h->exp_stream = js_header_get(hdr, len, "Nats-Expected-Stream",
				      &h->exp_stream_len);
	h->exp_last_seq = js_header_get(hdr, len, "Nats-Expected-Last-Sequence",
					&h->exp_last_seq_len);
	h->exp_subj_seq = js_header_get(hdr, len,
					"Nats-Expected-Last-Subject-Sequence",
					&h->exp_subj_seq_len);
	h->exp_last_id = js_header_get(hdr, len, "Nats-Expected-Last-Msg-Id",
				       &h->exp_last_id_len);
	h->rollup = js_header_get(hdr, len, "Nats-Rollup", &h->rollup_len);
	/* An empty value means the header is not there (the reference
	 * compares with ""). */
	if (h->msg_id_len == 0)
		h->msg_id = NULL;
	if (h->exp_stream_len == 0)
		h->exp_stream = NULL;
	if (h->exp_last_id_len == 0)
		h->exp_last_id = NULL;
	if (h->rollup_len == 0)
		h->rollup = NULL;
}

/* A decimal header value.  Like the reference, an empty value counts as
 * absent (false) and one that is not a number as a sequence that never
 * matches (UINT64_MAX). */
static bool hdr_u64(const char *v, size_t len, uint64_t *out)
{
	if (v == NULL || len == 0)
		return false;
	if (len > 19 || !js_parse_u64(v, len, out))
		*out = UINT64_MAX;
	return true;
}

static uint64_t stream_last_seq_of(struct stream *st, const char *subject,
				   size_t len)
{
	struct store_msg sm;
	if (store_load_last(st->store, subject, len, &sm, &st->scratch) != 0)
		return 0;
	return sm.seq;
}

/* The Nats-Expected-* checks, in the reference's order. */
static int stream_check_expected(struct stream *st, const struct pubmsg *m,
				 const struct pub_hdrs *h, struct js_error *e)
{
	if (h->exp_stream != NULL &&
	    (h->exp_stream_len != strlen(st->cfg.name) ||
	     memcmp(h->exp_stream, st->cfg.name, h->exp_stream_len) != 0)) {
		js_error_set(e, JS_ERR_STREAM_NOT_MATCH, NULL);
		return -1;
	}
	struct store_state ss;
	store_get_state(st->store, &ss);
	uint64_t want;
	if (hdr_u64(h->exp_last_seq, h->exp_last_seq_len, &want) &&
	    want != ss.last_seq) {
		js_error_setf(e, JS_ERR_STREAM_WRONG_LAST_SEQUENCE, "%llu",
			      (unsigned long long)ss.last_seq);
		return -1;
	}
	if (hdr_u64(h->exp_subj_seq, h->exp_subj_seq_len, &want)) {
		uint64_t last = stream_last_seq_of(st, m->subject, m->subject_len);
		if (want != last) {
			js_error_setf(e, JS_ERR_STREAM_WRONG_LAST_SEQUENCE,
				      "%llu", (unsigned long long)last);
			return -1;
		}
	}
	if (h->exp_last_id != NULL) {
		const char *last = st->last_msg_id ? st->last_msg_id : "";
		if (h->exp_last_id_len != strlen(last) ||
		    memcmp(h->exp_last_id, last, h->exp_last_id_len) != 0) {
			js_error_setf(e, JS_ERR_STREAM_WRONG_LAST_MSG_ID, "%s",
				      last);
			return -1;
		}
	}
	return 0;
}

/* Discard new: which limit refuses the message, like the reference's
 * texts. */
static int stream_check_discard_new(struct stream *st, const struct pubmsg *m,
				    size_t hdr_len, size_t data_len,
				    struct js_error *e)
{
	if (!st->cfg.discard_new)
		return 0;
	struct store_state ss;
	store_get_state(st->store, &ss);
	const char *why = NULL;
	if (st->cfg.max_msgs > 0 && ss.msgs + 1 > (uint64_t)st->cfg.max_msgs)
		why = "maximum messages exceeded";
	else if (st->cfg.discard_new_per_subject &&
		 store_would_exceed(st->store, m->subject, m->subject_len,
				    hdr_len, data_len, true))
		why = "maximum messages per subject exceeded";
	else if (st->cfg.max_bytes > 0 &&
		 !store_would_exceed(st->store, m->subject, m->subject_len,
				     hdr_len, data_len, true) &&
		 store_would_exceed(st->store, m->subject, m->subject_len,
				    hdr_len, data_len, false))
		why = "maximum bytes exceeded";
	if (why == NULL)
		return 0;
	js_error_set(e, JS_ERR_STREAM_STORE_FAILED, why);
	return -1;
}

static int stream_check_rollup(const struct stream *st,
			       const struct pub_hdrs *h, struct js_error *e)
{
	if (h->rollup == NULL)
		return 0;
	if (!st->cfg.allow_rollup_hdrs || st->cfg.deny_purge) {
		js_error_set(e, JS_ERR_STREAM_ROLLUP_FAILED,
			     "rollup not permitted");
		return -1;
	}
	bool sub = h->rollup_len == 3 && memcmp(h->rollup, "sub", 3) == 0;
	bool all = h->rollup_len == 3 && memcmp(h->rollup, "all", 3) == 0;
	if (!sub && !all) {
		js_error_setf(e, JS_ERR_STREAM_ROLLUP_FAILED,
			      "rollup value invalid: %.*s", (int)h->rollup_len,
			      h->rollup);
		return -1;
	}
	return 0;
}

/* Everything that can refuse a message before it is stored.  Returns 1
 * for a duplicate (answered), 0 to store, -1 with e set. */
static int stream_check_publish(struct stream *st, const struct pubmsg *m,
				const char *reply, const struct pub_hdrs *h,
				size_t data_len, struct js_error *e)
{
	if (st->cfg.sealed) {
		js_error_set(e, JS_ERR_STREAM_SEALED, NULL);
		return -1;
	}
	if (m->header_len > STREAM_MAX_HDR_BYTES) {
		js_error_set(e, JS_ERR_STREAM_HEADER_EXCEEDS_MAXIMUM, NULL);
		return -1;
	}
	if (st->cfg.max_msg_size >= 0 &&
	    m->total_len > (uint64_t)st->cfg.max_msg_size) {
		js_error_set(e, JS_ERR_STREAM_MESSAGE_EXCEEDS_MAXIMUM, NULL);
		return -1;
	}
	if (h->msg_id != NULL) {
		stream_dedupe_expire(st, env_now_wall_ns(stream_server(st)->env));
		struct dedupe *d = hmap_get(&st->dedupe, h->msg_id, h->msg_id_len);
		if (d != NULL) {
			if (reply != NULL && !st->cfg.no_ack) {
				stream_pub_ack_ok(st, &st->out, d->seq, true);
				if (!st->out.oom)
					js_api_send(st->ja, reply, st->out.data,
						    st->out.len);
			}
			return 1;
		}
	}
	if (stream_check_expected(st, m, h, e) != 0 ||
	    stream_check_rollup(st, h, e) != 0)
		return -1;
	return stream_check_discard_new(st, m, m->header_len, data_len, e);
}

/* Republish: the stored message again on the mapped subject, with the
 * reference's added headers. */
static void stream_republish(struct stream *st, const char *subject,
			     size_t subject_len, const char *hdr,
			     size_t hdr_len, const char *data, size_t data_len,
			     uint64_t seq, uint64_t last_seq)
{
	struct server *s = stream_server(st);
	if (st->republish == NULL ||
	    !subject_matches(subject, subject_len, st->cfg.republish_src,
			     strlen(st->cfg.republish_src)))
		return;
	struct buf dest, h;
	buf_init(&dest, st->mem);
	buf_init(&h, st->mem);
	if (!transform_apply(st->republish, subject, subject_len, &dest))
		goto out;
	if (hdr_len >= 4)
		buf_append(&h, hdr, hdr_len - 2); /* drop the blank line */
	else
		buf_append_str(&h, "NATS/1.0\r\n");
	buf_appendf(&h, "Nats-Stream: %s\r\nNats-Subject: %.*s\r\n"
		    "Nats-Sequence: %llu\r\nNats-Last-Sequence: %llu\r\n",
		    st->cfg.name, (int)subject_len, subject,
		    (unsigned long long)seq, (unsigned long long)last_seq);
	if (st->cfg.republish_headers_only)
		buf_appendf(&h, "Nats-Msg-Size: %zu\r\n", data_len);
	buf_append_str(&h, "\r\n");
	if (!dest.oom && !h.oom)
		internal_send(s, st->ja->acc, dest.data, NULL, h.data, h.len,
			      data, st->cfg.republish_headers_only ? 0 : data_len);
out:
	buf_free(&dest);
	buf_free(&h);
}

static void stream_after_store(struct stream *st, const struct pubmsg *m,
			       const struct pub_hdrs *h, uint64_t seq,
			       uint64_t subj_last)
{
	if (h->msg_id != NULL) {
		struct store_msg sm;
		int64_t ts = env_now_wall_ns(stream_server(st)->env);
		if (store_load(st->store, seq, &sm, &st->scratch) == 0)
			ts = sm.ts_ns;
		stream_dedupe_add(st, h->msg_id, h->msg_id_len, seq, ts);
		char *id = mem_strndup(st->mem, h->msg_id, h->msg_id_len);
		if (id != NULL) {
			mem_free(st->mem, st->last_msg_id);
			st->last_msg_id = id;
		}
	}
	if (h->rollup != NULL) {
		uint64_t purged = 0;
		char subj[512];
		bool by_subject = h->rollup[0] == 's' &&
				  m->subject_len < sizeof(subj);
		st->purging = true;
		if (h->rollup[0] == 's')
			store_purge(st->store, m->subject, m->subject_len, 0, 1,
				    &purged);
		else
			store_purge(st->store, NULL, 0, seq, 0, &purged);
		st->purging = false;
		if (by_subject) {
			memcpy(subj, m->subject, m->subject_len);
			subj[m->subject_len] = '\0';
		}
		stream_purge_consumers(st, by_subject ? subj : NULL);
	}
	stream_republish(st, m->subject, m->subject_len, m->data,
			 m->header_len, m->data + m->header_len,
			 m->total_len - m->header_len, seq, subj_last);
}

/* Interest retention: a message no consumer would see takes a sequence
 * but is not stored (the reference's SkipMsg), and is acked at once. */
static bool stream_skip_no_interest(struct stream *st, const struct pubmsg *m,
				    const char *reply)
{
	if (st->cfg.retention != STREAM_RETENTION_INTEREST)
		return false;
	for (size_t i = 0; i < st->n_consumers; i++) {
		const char *f = consumer_filter(st->consumers[i]);
		if (f == NULL ||
		    subject_matches(m->subject, m->subject_len, f, strlen(f)))
			return false;
	}
	struct store_state ss;
	store_get_state(st->store, &ss);
	if (store_skip_to(st->store, ss.last_seq + 2) != 0)
		return false;
	if (reply != NULL && !st->cfg.no_ack) {
		stream_pub_ack_ok(st, &st->out, ss.last_seq + 1, false);
		if (!st->out.oom)
			js_api_send(st->ja, reply, st->out.data, st->out.len);
	}
	return true;
}

/* 0 when stored (or a duplicate, or skipped), -1 when refused or failed
 * (answered when there is a reply). */
static int stream_store_msg(struct stream *st, const struct pubmsg *m,
			    const char *reply)
{
	struct pub_hdrs h;
	struct js_error e = { JS_ERR_NONE, "" };
	size_t data_len = m->total_len - m->header_len;
	pub_hdrs_parse(m->data, m->header_len, &h);
	int rc = stream_check_publish(st, m, reply, &h, data_len, &e);
	if (rc > 0)
		return 0;
	if (rc < 0) {
		stream_reply_err(st, reply, &e);
		return -1;
	}
	uint64_t subj_last = 0, seq = 0;
	if (jetstream_over_limits(st->ja->js, st->cfg.storage)) {
		js_error_set(&e, JS_ERR_INSUFFICIENT_RESOURCES, NULL);
		stream_reply_err(st, reply, &e);
		return -1;
	}
	if (stream_skip_no_interest(st, m, reply))
		return 0;
	if (st->republish != NULL)
		subj_last = stream_last_seq_of(st, m->subject, m->subject_len);
	int src = store_append(st->store, m->subject, m->subject_len,
			       m->header_len ? m->data : NULL, m->header_len,
			       m->data + m->header_len, data_len, 0, &seq);
	if (src == 0 && js_account_over_limits(st->ja, st->cfg.storage)) {
		/* As the reference: stored, found over the account's limits,
		 * removed again (the sequence stays used). */
		LOGW(&stream_server(st)->log, "JetStream resource limits "
		     "exceeded for account: \"%s\"", st->ja->acc->name);
		store_remove(st->store, seq, false);
		js_error_set(&e, JS_ERR_ACCOUNT_RESOURCES_EXCEEDED, NULL);
		stream_reply_err(st, reply, &e);
		return -1;
	}
	if (src != 0) {
		if (src == STORE_ERR_NOSPC || src == STORE_ERR_NOMEM)
			js_error_set(&e, JS_ERR_INSUFFICIENT_RESOURCES, NULL);
		else
			js_error_set(&e, JS_ERR_STREAM_STORE_FAILED,
				     store_strerror(src));
		stream_reply_err(st, reply, &e);
		return -1;
	}
	stream_after_store(st, m, &h, seq, subj_last);
	if (reply != NULL && !st->cfg.no_ack)
		stream_ack_when_synced(st, reply, strlen(reply), seq);
	for (size_t i = 0; i < st->n_consumers; i++)
		consumer_msg_stored(st->consumers[i], seq, m->subject,
				    m->subject_len);
	return 0;
}

int stream_store_sourced(struct stream *st, const struct pubmsg *m)
{
	return stream_store_msg(st, m, NULL);
}

void stream_mirror_skip_to(struct stream *st, uint64_t seq)
{
	struct store_state ss;
	store_get_state(st->store, &ss);
	if (seq > ss.last_seq + 1)
		store_skip_to(st->store, seq);
}

int stream_store_mirrored(struct stream *st, const char *subject,
			  size_t subject_len, const char *hdr, size_t hdr_len,
			  const char *data, size_t data_len, uint64_t seq,
			  int64_t ts_ns)
{
	struct store_state ss;
	store_get_state(st->store, &ss);
	if (seq <= ss.last_seq)
		return 1;
	if (seq > ss.last_seq + 1) {
		int rc = store_skip_to(st->store, seq);
		if (rc != 0)
			return rc < 0 ? rc : -1;
	}
	uint64_t got = 0;
	int rc = store_append(st->store, subject, subject_len, hdr, hdr_len,
			      data, data_len, ts_ns, &got);
	if (rc != 0) {
		LOGW(&stream_server(st)->log, "Error processing inbound mirror "
		     "message for '%s > %s': %s", st->ja->acc->name, st->cfg.name,
		     store_strerror(rc));
		return rc < 0 ? rc : -1;
	}
	ASSERT(got == seq);
	stream_republish(st, subject, subject_len, hdr, hdr_len, data, data_len,
			 got, 0);
	for (size_t i = 0; i < st->n_consumers; i++)
		consumer_msg_stored(st->consumers[i], got, subject, subject_len);
	return 0;
}

/* The internal subscription on one of the stream's subjects. */
static void stream_msg_in(void *arg, struct sub *sub, struct conn *from,
			  struct account *acc, const struct pubmsg *m)
{
	struct stream *st = arg;
	UNUSED(sub);
	UNUSED(from);
	UNUSED(acc);
	char small[256];
	char *reply = NULL;
	if (m->reply_len > 0) {
		reply = m->reply_len < sizeof(small)
			? small : mem_alloc(st->mem, m->reply_len + 1);
		if (reply == NULL)
			return;
		memcpy(reply, m->reply, m->reply_len);
		reply[m->reply_len] = '\0';
	}
	/* subject_transform: the message is stored under the mapped subject
	 * (when it matches the transform's source). */
	struct buf mapped;
	struct pubmsg tm;
	buf_init(&mapped, st->mem);
	if (st->subject_tr != NULL &&
	    subject_matches(m->subject, m->subject_len, st->cfg.transform_src,
			    strlen(st->cfg.transform_src)) &&
	    transform_apply(st->subject_tr, m->subject, m->subject_len,
			    &mapped) && !mapped.oom) {
		tm = *m;
		tm.subject = mapped.data;
		tm.subject_len = mapped.len;
		m = &tm;
	}
	stream_store_msg(st, m, reply);
	buf_free(&mapped);
	if (reply != NULL && reply != small)
		mem_free(st->mem, reply);
}

/* ===================================================== API operations */

/* One page of the subjects map: entries [skip, skip + limit). */
struct info_subjects {
	struct jw *w;
	uint64_t skip;
	uint64_t seen;
	uint64_t written;
};

static void info_subject_cb(void *arg, const char *subject, size_t len,
			    uint64_t msgs, uint64_t first, uint64_t last)
{
	struct info_subjects *is = arg;
	UNUSED(first);
	UNUSED(last);
	if (is->seen++ < is->skip || is->written >= STREAM_SUBJECTS_LIMIT)
		return;
	/* Keys are written by hand: jw_key needs a NUL-terminated name. */
	struct buf *out = is->w->out;
	if (is->written++ > 0)
		buf_append_char(out, ',');
	buf_append_char(out, '"');
	json_escape(out, subject, len);
	buf_appendf(out, "\":%llu", (unsigned long long)msgs);
}

static void info_deleted_cb(void *arg, uint64_t seq)
{
	jw_uint(arg, seq);
}

static void info_count_cb(void *arg, const char *subject, size_t len,
			  uint64_t msgs, uint64_t first, uint64_t last)
{
	UNUSED(subject);
	UNUSED(len);
	UNUSED(msgs);
	UNUSED(first);
	UNUSED(last);
	(*(uint64_t *)arg)++;
}

static void stream_write_state(struct stream *st, struct jw *w,
			       const char *filter, uint64_t offset,
			       bool deleted)
{
	struct store_state ss;
	store_get_state(st->store, &ss);
	jw_key(w, "state");
	jw_obj_begin(w);
	jw_key(w, "messages");
	jw_uint(w, ss.msgs);
	jw_key(w, "bytes");
	jw_uint(w, ss.bytes);
	jw_key(w, "first_seq");
	jw_uint(w, ss.msgs == 0 && ss.last_seq == 0 ? 0 : ss.first_seq);
	jw_key(w, "first_ts");
	js_jw_time(w, ss.first_ts_ns);
	jw_key(w, "last_seq");
	jw_uint(w, ss.last_seq);
	jw_key(w, "last_ts");
	js_jw_time(w, ss.last_ts_ns);
	if (ss.num_subjects > 0) {
		jw_key(w, "num_subjects");
		jw_uint(w, ss.num_subjects);
	}
	uint64_t nmatch = 0;
	if (filter != NULL && ss.num_subjects > 0)
		store_each_subject(st->store, filter, strlen(filter),
				   info_count_cb, &nmatch);
	if (nmatch > offset) {
		struct info_subjects is = { w, offset, 0, 0 };
		jw_key(w, "subjects");
		jw_raw(w, "{", 1);
		store_each_subject(st->store, filter, strlen(filter),
				   info_subject_cb, &is);
		buf_append_char(w->out, '}');
	}
	if (ss.num_deleted > 0) {
		jw_key(w, "num_deleted");
		jw_uint(w, ss.num_deleted);
		if (deleted) {
			jw_key(w, "deleted");
			jw_arr_begin(w);
			store_each_deleted(st->store, info_deleted_cb, w);
			jw_arr_end(w);
		}
	}
	jw_key(w, "consumer_count");
	jw_uint(w, stream_consumer_count(st));
	jw_obj_end(w);
}

uint64_t stream_count_subjects(struct stream *st, const char *filter)
{
	uint64_t n = 0;
	store_each_subject(st->store, filter, strlen(filter), info_count_cb, &n);
	return n;
}

void stream_write_info(struct stream *st, struct jw *w,
		       const char *subjects_filter, uint64_t subjects_offset,
		       bool deleted_details)
{
	jw_key(w, "config");
	stream_config_encode(w, &st->cfg);
	jw_key(w, "created");
	js_jw_time(w, st->created_ns);
	stream_write_state(st, w, subjects_filter, subjects_offset,
			   deleted_details);
	if (st->ja->js->domain != NULL) {
		jw_key(w, "domain");
		jw_str(w, st->ja->js->domain);
	}
	sourcing_write_info(st->sourcing, w);
}

/* After a purge the consumers start after what is gone (the reference's
 * consumer purge with the stream's first and last sequence; a subject
 * purge uses the first message left on that subject). */
static void stream_purge_consumers(struct stream *st, const char *filter)
{
	struct store_state ss;
	struct store_msg sm;
	store_get_state(st->store, &ss);
	uint64_t first = ss.first_seq;
	if (filter != NULL)
		first = store_load_next(st->store, filter, strlen(filter),
					ss.first_seq, &sm, &st->scratch) == 0
			? sm.seq : 0;
	for (size_t i = 0; i < st->n_consumers; i++) {
		struct consumer *c = st->consumers[i];
		const char *f = consumer_filter(c);
		if (filter != NULL && f != NULL &&
		    !subject_is_subset(filter, strlen(filter), f, strlen(f)))
			continue;
		consumer_purged(c, first, ss.last_seq);
	}
}

int stream_api_purge(struct stream *st, const struct json_doc *req,
		     struct jw *w, struct js_error *e)
{
	if (st->cfg.sealed) {
		js_error_set(e, JS_ERR_STREAM_SEALED, NULL);
		return -1;
	}
	if (st->cfg.deny_purge) {
		js_error_set(e, JS_ERR_STREAM_PURGE_FAILED,
			     "stream purge not permitted");
		return -1;
	}
	char *filter = NULL;
	uint64_t seq = 0, keep = 0, purged = 0;
	if (req != NULL &&
	    (js_json_str(st->mem, req, 0, "filter", &filter) < 0 ||
	     js_json_uint(req, 0, "seq", &seq) < 0 ||
	     js_json_uint(req, 0, "keep", &keep) < 0)) {
		mem_free(st->mem, filter);
		js_error_set(e, JS_ERR_INVALID_JSON, NULL);
		return -1;
	}
	if (seq > 0 && keep > 0) {
		mem_free(st->mem, filter);
		js_error_set(e, JS_ERR_BAD_REQUEST, NULL);
		return -1;
	}
	bool all = filter == NULL || filter[0] == '\0' || strcmp(filter, ">") == 0;
	st->purging = true;
	int rc = store_purge(st->store, all ? NULL : filter,
			     all ? 0 : strlen(filter), seq, keep, &purged);
	st->purging = false;
	if (rc == 0)
		stream_purge_consumers(st, all ? NULL : filter);
	mem_free(st->mem, filter);
	if (rc != 0) {
		js_error_set(e, JS_ERR_STREAM_PURGE_FAILED, store_strerror(rc));
		return -1;
	}
	jw_key(w, "success");
	jw_bool(w, true);
	jw_key(w, "purged");
	jw_uint(w, purged);
	return 0;
}

/* The three ways to name a message: seq, last_by_subj, next_by_subj. */
struct msg_query {
	uint64_t seq;
	char *last_by;
	char *next_by;
};

static int stream_query_load(struct stream *st, const struct msg_query *q,
			     struct store_msg *sm)
{
	if (q->last_by != NULL)
		return store_load_last(st->store, q->last_by,
				       strlen(q->last_by), sm, &st->scratch);
	if (q->next_by != NULL)
		return store_load_next(st->store, q->next_by,
				       strlen(q->next_by), q->seq, sm,
				       &st->scratch);
	return store_load(st->store, q->seq, sm, &st->scratch);
}

static void msg_query_free(struct mem *mem, struct msg_query *q)
{
	mem_free(mem, q->last_by);
	mem_free(mem, q->next_by);
}

/* 0 valid, -1 bad JSON, -2 a request that names no message. */
static int msg_query_decode(struct mem *mem, const struct json_doc *req,
			    struct msg_query *q)
{
	memset(q, 0, sizeof(*q));
	if (js_json_uint(req, 0, "seq", &q->seq) < 0 ||
	    js_json_str(mem, req, 0, "last_by_subj", &q->last_by) < 0 ||
	    js_json_str(mem, req, 0, "next_by_subj", &q->next_by) < 0)
		return -1;
	if (q->last_by != NULL && q->last_by[0] == '\0') {
		mem_free(mem, q->last_by);
		q->last_by = NULL;
	}
	if (q->next_by != NULL && q->next_by[0] == '\0') {
		mem_free(mem, q->next_by);
		q->next_by = NULL;
	}
	if ((q->seq > 0 && q->last_by != NULL) ||
	    (q->seq == 0 && q->last_by == NULL && q->next_by == NULL) ||
	    (q->next_by != NULL && q->last_by != NULL))
		return -2;
	return 0;
}

static void stream_write_stored_msg(struct stream *st, struct jw *w,
				    const struct store_msg *sm)
{
	struct buf b64;
	buf_init(&b64, st->mem);
	jw_key(w, "message");
	jw_obj_begin(w);
	jw_key(w, "subject");
	jw_strn(w, sm->subject, sm->subject_len);
	jw_key(w, "seq");
	jw_uint(w, sm->seq);
	if (sm->hdr != NULL && sm->hdr_len > 0) {
		js_base64_encode(&b64, sm->hdr, sm->hdr_len);
		jw_key(w, "hdrs");
		jw_strn(w, b64.data, b64.len);
	}
	if (sm->data_len > 0) {
		buf_reset(&b64);
		js_base64_encode(&b64, sm->data, sm->data_len);
		jw_key(w, "data");
		jw_strn(w, b64.data, b64.len);
	}
	jw_key(w, "time");
	js_jw_time(w, sm->ts_ns);
	jw_obj_end(w);
	buf_free(&b64);
}

int stream_api_msg_get(struct stream *st, const struct json_doc *req,
		       struct jw *w, struct js_error *e)
{
	struct msg_query q;
	int rc = req == NULL ? -2 : msg_query_decode(st->mem, req, &q);
	if (rc != 0) {
		if (req != NULL)
			msg_query_free(st->mem, &q);
		js_error_set(e, rc == -1 ? JS_ERR_INVALID_JSON
					 : JS_ERR_BAD_REQUEST, NULL);
		return -1;
	}
	struct store_msg sm;
	rc = stream_query_load(st, &q, &sm);
	msg_query_free(st->mem, &q);
	if (rc != 0) {
		js_error_set(e, JS_ERR_NO_MESSAGE_FOUND, NULL);
		return -1;
	}
	stream_write_stored_msg(st, w, &sm);
	return 0;
}

int stream_api_msg_delete(struct stream *st, const struct json_doc *req,
			  struct js_error *e)
{
	uint64_t seq = 0;
	bool no_erase = false;
	if (req == NULL) {
		js_error_set(e, JS_ERR_BAD_REQUEST, NULL);
		return -1;
	}
	if (js_json_uint(req, 0, "seq", &seq) < 0 ||
	    js_json_bool(req, 0, "no_erase", &no_erase) < 0) {
		js_error_set(e, JS_ERR_INVALID_JSON, NULL);
		return -1;
	}
	if (st->cfg.sealed) {
		js_error_set(e, JS_ERR_STREAM_SEALED, NULL);
		return -1;
	}
	if (st->cfg.deny_delete) {
		js_error_set(e, JS_ERR_STREAM_MSG_DELETE_FAILED,
			     "message delete not permitted");
		return -1;
	}
	int rc = store_remove(st->store, seq, !no_erase);
	if (rc == 0)
		return 0;
	/* The reference's two stores report a missing message differently:
	 * the memory store as "sequence N not found", the file store with
	 * its own error text. */
	if ((rc == STORE_ERR_NOT_FOUND || rc == STORE_ERR_DELETED) &&
	    st->cfg.storage == STORE_MEMORY)
		js_error_setf(e, JS_ERR_SEQUENCE_NOT_FOUND, "%llu",
			      (unsigned long long)seq);
	else
		js_error_set(e, JS_ERR_STREAM_MSG_DELETE_FAILED,
			     rc == STORE_ERR_DELETED ? "no message found"
						     : store_strerror(rc));
	return -2;
}

static void stream_direct_status(struct stream *st, const char *reply,
				 const char *status)
{
	struct buf *h = &st->out;
	buf_reset(h);
	buf_appendf(h, "NATS/1.0 %s\r\n\r\n", status);
	if (!h->oom)
		internal_send(stream_server(st), st->ja->acc, reply, NULL,
			      h->data, h->len, NULL, 0);
}

static void stream_direct_reply(struct stream *st, const char *reply,
				const struct store_msg *sm)
{
	struct buf *h = &st->out;
	char ts[TIMEFMT_MAX];
	timefmt_rfc3339(sm->ts_ns, ts);
	buf_reset(h);
	if (sm->hdr != NULL && sm->hdr_len >= 4)
		buf_append(h, sm->hdr, sm->hdr_len - 2); /* drop blank line */
	else
		buf_append_str(h, "NATS/1.0\r\n");
	buf_appendf(h, "Nats-Stream: %s\r\nNats-Subject: %.*s\r\n"
		    "Nats-Sequence: %llu\r\nNats-Time-Stamp: %s\r\n\r\n",
		    st->cfg.name, (int)sm->subject_len, sm->subject,
		    (unsigned long long)sm->seq, ts);
	if (!h->oom)
		internal_send(stream_server(st), st->ja->acc, reply, NULL,
			      h->data, h->len, sm->data, sm->data_len);
}

void stream_direct_get(struct stream *st, const char *subject_tail,
		       const char *body, size_t body_len, const char *reply)
{
	if (reply == NULL || !st->cfg.allow_direct)
		return;
	struct msg_query q;
	memset(&q, 0, sizeof(q));
	struct json_doc doc;
	bool empty = true;
	if (js_json_parse_body(&doc, st->mem, body, body_len, &empty) != 0) {
		stream_direct_status(st, reply, "408 Malformed Request");
		return;
	}
	int rc = 0;
	if (!empty) {
		rc = msg_query_decode(st->mem, &doc, &q);
		json_doc_free(&doc);
	}
	if (subject_tail != NULL) {
		if (!empty || rc != 0) {
			msg_query_free(st->mem, &q);
			stream_direct_status(st, reply, "408 Bad Request");
			return;
		}
		q.last_by = mem_strdup(st->mem, subject_tail);
		rc = q.last_by == NULL ? -1 : 0;
	} else if (empty) {
		rc = -2;
	}
	if (rc != 0) {
		msg_query_free(st->mem, &q);
		stream_direct_status(st, reply, rc == -1 ? "408 Malformed Request"
						     : "408 Empty Request");
		return;
	}
	struct store_msg sm;
	rc = stream_query_load(st, &q, &sm);
	msg_query_free(st->mem, &q);
	if (rc != 0)
		stream_direct_status(st, reply, "404 Message Not Found");
	else
		stream_direct_reply(st, reply, &sm);
}

void stream_invariants(const struct stream *st)
{
	char why[256];
	ASSERT(st->n_subs == st->cfg.n_subjects);
	for (size_t i = 0; i < st->n_subs; i++)
		ASSERT(!st->subs[i]->removed);
	size_t n = 0;
	for (const struct dedupe *d = st->dd_head; d != NULL; d = d->next) {
		ASSERT(d->next != NULL || d == st->dd_tail);
		n++;
	}
	/* A replaced id stays in the FIFO until it expires, so the list may
	 * hold more entries than the table. */
	ASSERT(n >= st->dedupe.count);
	if (!store_invariants(st->store, why, sizeof(why)))
		assert_fail(why, __FILE__, __LINE__);
	for (size_t i = 0; i < st->n_consumers; i++) {
		ASSERT(i == 0 || strcmp(consumer_name(st->consumers[i - 1]),
					consumer_name(st->consumers[i])) < 0);
		consumer_invariants(st->consumers[i]);
	}
}

/* ============================================================ restore */

/* The first sequence stored at or after cutoff_ns: a binary search over
 * the sequences (timestamps grow with them), each probe one load. */
static uint64_t stream_seq_from_time(struct stream *st, int64_t cutoff_ns)
{
	struct store_state ss;
	store_get_state(st->store, &ss);
	uint64_t lo = ss.first_seq, hi = ss.last_seq + 1;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		struct store_msg sm;
		if (store_load_next(st->store, NULL, 0, mid, &sm, &st->scratch) != 0)
			break;
		if (sm.ts_ns < cutoff_ns)
			lo = sm.seq + 1;
		else
			hi = mid;
	}
	return lo;
}

/* After a restart, the message ids stored within the duplicate window are
 * remembered again, so a publisher retrying across the restart is still
 * told "duplicate" (the reference's rebuildDedupe). */
static void stream_dedupe_rebuild(struct stream *st)
{
	int64_t window = st->cfg.duplicate_window_ns;
	if (window <= 0)
		return;
	int64_t now = env_now_wall_ns(stream_server(st)->env);
	uint64_t seq = stream_seq_from_time(st, now - window);
	struct store_msg sm;
	while (store_load_next(st->store, NULL, 0, seq, &sm, &st->scratch) == 0) {
		size_t len = 0;
		const char *id = sm.hdr == NULL ? NULL
				 : js_header_get((const char *)sm.hdr, sm.hdr_len,
						 "Nats-Msg-Id", &len);
		if (id != NULL && len > 0 &&
		    hmap_get(&st->dedupe, id, len) == NULL) {
			stream_dedupe_add(st, id, len, sm.seq, sm.ts_ns);
			char *copy = mem_strndup(st->mem, id, len);
			if (copy != NULL) {
				mem_free(st->mem, st->last_msg_id);
				st->last_msg_id = copy;
			}
		}
		seq = sm.seq + 1;
	}
}

struct restore_ctx {
	struct js_account *ja;
	struct buf path;
	struct buf data;
};

static void stream_restore_one(struct restore_ctx *rc, const char *name)
{
	struct js_account *ja = rc->ja;
	struct server *s = ja->js->srv;
	buf_reset(&rc->path);
	js_account_streams_dir(ja, &rc->path);
	buf_appendf(&rc->path, "/%s/meta.inf", name);
	buf_reset(&rc->data);
	int err = rc->path.oom ? STORE_ERR_NOMEM
		  : store_meta_read(s->env, rc->path.data, &rc->data);
	if (err != 0) {
		LOGW(&s->log, "  Error reading stream metadata for '%s > %s': %s",
		     ja->acc->name, name, store_strerror(err));
		return;
	}
	struct json_doc doc;
	struct stream_config cfg;
	struct js_error e = { JS_ERR_NONE, "" };
	int64_t created = 0;
	struct stream *st = NULL;
	if (json_parse(&doc, &s->mem, rc->data.data, rc->data.len) != 0) {
		LOGW(&s->log, "  Error unmarshalling stream metadata for "
		     "'%s > %s'", ja->acc->name, name);
		return;
	}
	js_json_int(&doc, 0, "created_ns", &created);
	int cfg_tok = json_obj_get(&doc, 0, "config");
	int bad = cfg_tok < 0 ||
		  stream_config_decode(&s->mem, &doc, cfg_tok, &cfg, &e) != 0;
	json_doc_free(&doc);
	if (!bad && (stream_config_check(&cfg, ja->js->max_dup_window_ns,
					 &s->mem, &e) != 0 ||
		     strcmp(cfg.name, name) != 0)) {
		stream_config_free(&s->mem, &cfg);
		bad = 1;
	}
	if (!bad && stream_create(ja, &cfg, created, false, &st, &e) == 0 &&
	    !js_account_add_stream(ja, st)) {
		stream_destroy(st, false);
		js_error_set(&e, JS_ERR_STREAM_CREATE, "out of memory");
		st = NULL;
	}
	if (st == NULL) {
		LOGW(&s->log, "  Error recreating stream '%s > %s': %s",
		     ja->acc->name, name, e.text[0] ? e.text : "bad metadata");
		return;
	}
	stream_dedupe_rebuild(st);
	consumer_restore_all(st);
	struct store_state ss;
	store_get_state(st->store, &ss);
	LOGI(&s->log, "  Restored %llu messages for stream '%s > %s'",
	     (unsigned long long)ss.msgs, ja->acc->name, name);
}

/* dir_list calls back in name order, so restore is deterministic. */
static void stream_restore_entry(void *arg, const char *name)
{
	struct restore_ctx *rc = arg;
	if (name[0] == '.')
		return;
	stream_restore_one(rc, name);
}

void stream_restore_all(struct js_account *ja)
{
	struct server *s = ja->js->srv;
	struct restore_ctx rc;
	rc.ja = ja;
	buf_init(&rc.path, &s->mem);
	buf_init(&rc.data, &s->mem);
	struct buf dir;
	buf_init(&dir, &s->mem);
	js_account_streams_dir(ja, &dir);
	if (!dir.oom)
		s->env->dir_list(s->env, dir.data, stream_restore_entry, &rc);
	buf_free(&dir);
	buf_free(&rc.path);
	buf_free(&rc.data);
}

/* ========================================================= consumers */

static size_t stream_consumer_pos(const struct stream *st, const char *name,
				  bool *found)
{
	size_t lo = 0, hi = st->n_consumers;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(consumer_name(st->consumers[mid]), name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct consumer *stream_find_consumer(const struct stream *st,
				      const char *name)
{
	bool found;
	size_t i = stream_consumer_pos(st, name, &found);
	return found ? st->consumers[i] : NULL;
}

/* The public views skip "direct" consumers (those of mirrors and
 * sources), as the reference's lists and counts do. */
size_t stream_consumer_count(const struct stream *st)
{
	return st->n_consumers - st->n_directs;
}

struct consumer *stream_consumer_at(const struct stream *st, size_t i)
{
	ASSERT(i < st->n_consumers - st->n_directs);
	if (st->n_directs == 0)
		return st->consumers[i];
	for (size_t j = 0; j < st->n_consumers; j++) {
		if (consumer_is_direct(st->consumers[j]))
			continue;
		if (i-- == 0)
			return st->consumers[j];
	}
	ASSERT(false);
	return NULL;
}

bool stream_add_consumer(struct stream *st, struct consumer *c)
{
	bool found;
	size_t i = stream_consumer_pos(st, consumer_name(c), &found);
	ASSERT(!found);
	if (st->n_consumers == st->cap_consumers) {
		size_t cap = st->cap_consumers ? st->cap_consumers * 2 : 4;
		struct consumer **n = mem_realloc(st->mem, st->consumers,
						  cap * sizeof(*n));
		if (n == NULL)
			return false;
		st->consumers = n;
		st->cap_consumers = cap;
	}
	memmove(&st->consumers[i + 1], &st->consumers[i],
		(st->n_consumers - i) * sizeof(*st->consumers));
	st->consumers[i] = c;
	st->n_consumers++;
	if (consumer_is_direct(c))
		st->n_directs++;
	return true;
}

void stream_remove_consumer(struct stream *st, struct consumer *c)
{
	for (size_t i = 0; i < st->n_consumers; i++) {
		if (st->consumers[i] != c)
			continue;
		memmove(&st->consumers[i], &st->consumers[i + 1],
			(st->n_consumers - i - 1) * sizeof(*st->consumers));
		st->n_consumers--;
		if (consumer_is_direct(c))
			st->n_directs--;
		return;
	}
}

struct store *stream_store(const struct stream *st)
{
	return st->store;
}

struct js_account *stream_account(const struct stream *st)
{
	return st->ja;
}

const char *stream_dir(const struct stream *st)
{
	return st->dir;
}

uint64_t stream_seq_for_time(struct stream *st, int64_t unix_ns)
{
	return stream_seq_from_time(st, unix_ns);
}

static bool stream_needed_by_others(struct stream *st,
				    const struct consumer *except,
				    const struct store_msg *sm)
{
	for (size_t i = 0; i < st->n_consumers; i++) {
		const struct consumer *o = st->consumers[i];
		if (o != except && consumer_needs_ack(o, sm->seq, sm->subject,
						      sm->subject_len))
			return true;
	}
	return false;
}

void stream_ack_msg(struct stream *st, const struct consumer *c, uint64_t seq)
{
	if (st->cfg.retention == STREAM_RETENTION_LIMITS)
		return;
	struct store_msg sm;
	if (store_load(st->store, seq, &sm, &st->scratch) != 0)
		return;
	if (st->cfg.retention == STREAM_RETENTION_INTEREST &&
	    stream_needed_by_others(st, c, &sm))
		return;
	store_remove(st->store, seq, false);
}

void stream_check_interest(struct stream *st, uint64_t from_seq)
{
	if (st->cfg.retention != STREAM_RETENTION_INTEREST)
		return;
	struct store_msg sm;
	uint64_t seq = from_seq;
	while (store_load_next(st->store, NULL, 0, seq, &sm, &st->scratch) == 0) {
		seq = sm.seq + 1;
		if (!stream_needed_by_others(st, NULL, &sm))
			store_remove(st->store, sm.seq, false);
	}
}
