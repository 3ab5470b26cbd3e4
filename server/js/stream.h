/*
 * stream.h - a JetStream stream: its configuration (decode, defaults,
 * validation, encoding in the reference's field order), the subjects it
 * captures in its account, the publish path that stores messages and
 * answers PubAcks, and the message operations of the API (get, delete,
 * purge, direct get).  Messages live in a store (store.h); the stream
 * decides what goes in and answers clients.
 *
 * Ownership: a stream belongs to its js_account (jetstream.h) and owns its
 * config, its store, its internal subscriptions (one per subject) and the
 * PubAcks waiting for the store's sync.  A PubAck is sent only after the
 * record is durable (store_sync_wait), so an acknowledged message survives
 * a crash; on a file store this waits for the turn's group commit.
 */
#ifndef JS_STREAM_H
#define JS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "../lib/json.h"
#include "../lib/mem.h"
#include "js_api.h"
#include "source.h"
#include "store.h"

struct js_account;
struct pubmsg;
struct stream;

#define STREAM_NAME_MAX 255
#define STREAM_DESCRIPTION_MAX 4096
#define STREAM_DEFAULT_DUP_WINDOW_NS (120LL * 1000000000LL)

enum stream_retention {
	STREAM_RETENTION_LIMITS = 0,
	STREAM_RETENTION_INTEREST,
	STREAM_RETENTION_WORKQUEUE,
};

/* A StreamConfig.  Strings and arrays are owned (stream_config_free). */
struct stream_config {
	char *name;
	char *description;             /* NULL = none */
	char **subjects;
	size_t n_subjects;
	enum stream_retention retention;
	int64_t max_consumers;         /* -1 = unlimited */
	int64_t max_msgs;
	int64_t max_bytes;
	int64_t max_age_ns;            /* 0 = unlimited */
	int64_t max_msgs_per_subject;
	int64_t max_msg_size;          /* int32 on the wire */
	bool discard_new;
	enum store_kind storage;
	int64_t replicas;
	bool no_ack;
	char *template_owner;          /* NULL = none */
	int64_t duplicate_window_ns;
	char *placement_json;          /* passed through verbatim, or NULL */
	struct stream_source *mirror;  /* NULL = not a mirror */
	struct stream_source *sources; /* n_sources entries */
	size_t n_sources;
	bool has_republish;
	char *republish_src;
	char *republish_dest;
	bool republish_headers_only;
	bool allow_direct;
	bool mirror_direct;
	bool discard_new_per_subject;
	bool sealed;
	bool deny_delete;
	bool deny_purge;
	bool allow_rollup_hdrs;
	/* 2.10 fields (nats-server 2.9.10 ignores them): */
	uint64_t first_seq;            /* first sequence of a new stream; 0 */
	bool has_subject_transform;
	char *transform_src;           /* ">" when not given */
	char *transform_dest;
	char *metadata_json;           /* {"k":"v",...} verbatim, or NULL */
};

/* Decodes a StreamConfig JSON object at token obj (the reference's Go
 * decoding: unknown fields ignored, keys case-insensitive, a value of the
 * wrong type is invalid JSON).  0, or -1 with e set. */
int stream_config_decode(struct mem *mem, const struct json_doc *doc, int obj,
			 struct stream_config *out, struct js_error *e);
/* Fills defaults and checks the config the way the reference's
 * checkStreamCfg does (without the checks against other streams). */
int stream_config_check(struct stream_config *c, int64_t max_dup_window_ns,
			struct mem *mem, struct js_error *e);
/* Checks an update of old to c (already checked). */
int stream_config_check_update(const struct stream_config *old,
			       struct stream_config *c, struct js_error *e);
void stream_config_encode(struct jw *w, const struct stream_config *c);
bool stream_config_equal(struct mem *mem, const struct stream_config *a,
			 const struct stream_config *b);
void stream_config_free(struct mem *mem, struct stream_config *c);

/* Creates a stream from a checked config (taken over, also on failure)
 * in ja: opens its store (created or recovered), writes meta.inf when
 * persist, subscribes its subjects.  0 or -1 with e set. */
int stream_create(struct js_account *ja, struct stream_config *cfg,
		  int64_t created_ns, bool persist, struct stream **out,
		  struct js_error *e);
/* Applies a checked update (cfg taken over, also on failure). */
int stream_update(struct stream *st, struct stream_config *cfg,
		  struct js_error *e);
/* Deletes the stream's files (when remove_files) and frees it; the caller
 * has unlinked it from its account. */
void stream_destroy(struct stream *st, bool remove_files);

const char *stream_name(const struct stream *st);
const struct stream_config *stream_config_of(const struct stream *st);
int64_t stream_created_ns(const struct stream *st);
void stream_get_state(const struct stream *st, struct store_state *out);
/* True when some subject of st can match a subject of c's. */
bool stream_subjects_overlap(const struct stream *st,
			     const struct stream_config *c);
/* True when some subject of st can match filter. */
bool stream_matches_filter(const struct stream *st, const char *filter);

/* ---- API operations; each writes its response into w ---- */

/* StreamInfo fields (config, created, state[, domain]) into an open
 * object; subjects_filter adds the page of the subjects map that starts at
 * subjects_offset (in subject order), deleted_details the deleted list. */
void stream_write_info(struct stream *st, struct jw *w,
		       const char *subjects_filter, uint64_t subjects_offset,
		       bool deleted_details);
/* How many subjects with messages match filter. */
uint64_t stream_count_subjects(struct stream *st, const char *filter);
/* Handlers for one request each; 0 or -1 with e set; on success they
 * append their own fields to w (an open object after "type"). */
int stream_api_purge(struct stream *st, const struct json_doc *req,
		     struct jw *w, struct js_error *e);
int stream_api_msg_get(struct stream *st, const struct json_doc *req,
		       struct jw *w, struct js_error *e);
/* -2 when the store could not remove the message (the reference answers
 * that as a normal response carrying an error). */
int stream_api_msg_delete(struct stream *st, const struct json_doc *req,
			  struct js_error *e);
/* DIRECT.GET: answers reply itself (the stored message or a status);
 * subject_tail is the subject after the stream name (NULL = none). */
void stream_direct_get(struct stream *st, const char *subject_tail,
		       const char *body, size_t body_len, const char *reply);

/* ---- mirrors and sources (source.c) ---- */

/* Stores a mirrored message at seq (> the last sequence; the sequences
 * between are skipped) with the upstream's time.  0; 1 when seq is not
 * after the last sequence; < 0 on a store error. */
int stream_store_mirrored(struct stream *st, const char *subject,
			  size_t subject_len, const char *hdr, size_t hdr_len,
			  const char *data, size_t data_len, uint64_t seq,
			  int64_t ts_ns);
/* The next mirrored message gets seq: the ones before it are gone
 * upstream.  A no-op unless seq is beyond the next sequence. */
void stream_mirror_skip_to(struct stream *st, uint64_t seq);
/* Stores a sourced message (m has no reply) with every check of a
 * publish.  0, or -1 when it was refused or failed. */
int stream_store_sourced(struct stream *st, const struct pubmsg *m);

/* The stream's consistency checks (its store's, its subscriptions, its
 * dedupe list); ASSERTs on failure. */
void stream_invariants(const struct stream *st);

/* ---- consumers (consumer.c) ----
 * A stream owns its consumers, sorted by name. */
struct consumer;
struct consumer *stream_find_consumer(const struct stream *st,
				      const char *name);
size_t stream_consumer_count(const struct stream *st);
struct consumer *stream_consumer_at(const struct stream *st, size_t i);
/* Takes ownership of c; false when memory ran out. */
bool stream_add_consumer(struct stream *st, struct consumer *c);
/* Unlinks c (the caller frees it); a no-op when not linked. */
void stream_remove_consumer(struct stream *st, struct consumer *c);
struct store *stream_store(const struct stream *st);
struct js_account *stream_account(const struct stream *st);
/* The stream's directory (also for memory streams: consumer files of
 * file streams live in "<dir>/obs"). */
const char *stream_dir(const struct stream *st);
/* The first sequence stored at or after the wall clock time. */
uint64_t stream_seq_for_time(struct stream *st, int64_t unix_ns);
/* c acked seq (or delivered it without acks): with interest or work
 * queue retention the message goes once no other consumer needs it. */
void stream_ack_msg(struct stream *st, const struct consumer *c,
		    uint64_t seq);
/* Interest retention after a consumer went away: removes the messages
 * from from_seq on that no remaining consumer needs. */
void stream_check_interest(struct stream *st, uint64_t from_seq);

/* Restores the streams found in ja's directory.  Problems are logged and
 * the stream skipped; never fatal. */
void stream_restore_all(struct js_account *ja);

#endif
