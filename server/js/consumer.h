/*
 * consumer.h - JetStream consumers: a cursor over one stream that delivers
 * its messages to clients and tracks their acknowledgements.
 *
 * A consumer belongs to its stream (stream.h keeps the list, sorted by
 * name) and owns its configuration, its delivery state (next stream and
 * consumer sequences, the messages waiting for an ack, the redelivery
 * queue, the waiting pull requests), its internal subscriptions (acks,
 * flow control replies) and one env timer that drives everything that
 * happens later: deliveries after a new message, ack-wait redeliveries,
 * pull request expiry and heartbeats, push idle heartbeats, the inactive
 * threshold of ephemerals and the lazy write of a durable's state.
 *
 * Pull consumers are served through $JS.API.CONSUMER.MSG.NEXT (js_api.c
 * calls consumer_next_request); push consumers publish to their
 * deliver_subject while it has interest.  Every message goes out with
 * internal_send, so deliveries leave at the end of the loop turn in order.
 *
 * Invariants: pending entries are sorted by stream sequence and each has
 * a consumer sequence below the next one to hand out; every sequence on
 * the redelivery queue is pending and flagged as queued; the ack floor is
 * below every pending entry.
 */
#ifndef JS_CONSUMER_H
#define JS_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/json.h"
#include "../lib/mem.h"
#include "js_api.h"

struct stream;
struct consumer;

#define CONSUMER_NAME_MAX 255
#define CONSUMER_BACKOFF_MAX 64

enum consumer_deliver {
	CONSUMER_DELIVER_ALL = 0,
	CONSUMER_DELIVER_LAST,
	CONSUMER_DELIVER_NEW,
	CONSUMER_DELIVER_BY_START_SEQUENCE,
	CONSUMER_DELIVER_BY_START_TIME,
	CONSUMER_DELIVER_LAST_PER_SUBJECT,
};

enum consumer_ack { CONSUMER_ACK_NONE = 0, CONSUMER_ACK_ALL,
		    CONSUMER_ACK_EXPLICIT };

/* A ConsumerConfig (2.9.10 fields).  Strings are owned
 * (consumer_config_free); NULL means absent. */
struct consumer_config {
	char *durable;
	char *name;
	char *description;
	enum consumer_deliver deliver_policy;
	uint64_t opt_start_seq;
	bool has_opt_start_time;
	int64_t opt_start_time_ns;     /* wall clock */
	enum consumer_ack ack_policy;
	bool ack_policy_set;           /* the request named one */
	int64_t ack_wait_ns;
	int64_t max_deliver;           /* -1 = unlimited */
	int64_t backoff_ns[CONSUMER_BACKOFF_MAX];
	size_t n_backoff;
	char *filter_subject;
	bool replay_original;
	uint64_t rate_limit_bps;
	char *sample_freq;
	int64_t max_waiting;
	int64_t max_ack_pending;
	int64_t idle_heartbeat_ns;
	bool flow_control;
	bool headers_only;
	int64_t max_batch;
	int64_t max_expires_ns;
	int64_t max_bytes;
	char *deliver_subject;         /* set = push consumer */
	char *deliver_group;
	int64_t inactive_threshold_ns;
	int64_t replicas;
	bool mem_storage;
	bool direct;
};

/* Decodes a ConsumerConfig object at token obj with Go's rules (unknown
 * fields ignored, keys case-insensitive, a wrong type is invalid JSON).
 * 0, or -1 (the caller answers 10025 invalid JSON). */
int consumer_config_decode(struct mem *mem, const struct json_doc *doc,
			   int obj, struct consumer_config *out);
void consumer_config_free(struct mem *mem, struct consumer_config *c);
/* Writes the config in the reference's field order. */
void consumer_config_encode(struct jw *w, const struct consumer_config *c);

/* Adds a consumer to st from a decoded config (taken, also on failure):
 * defaults, checks, limits and work queue rules in the reference's order.
 * An existing consumer of the same name is updated when the change is
 * allowed.  0 with *out (borrowed: the stream owns it), or -1 with e. */
int consumer_create(struct stream *st, struct consumer_config *cfg,
		    struct consumer **out, struct js_error *e);
/* Stops and frees; remove_files deletes a durable's state file. */
void consumer_destroy(struct consumer *c, bool remove_files);
/* The API's delete: unlinks from the stream, answers waiting pull
 * requests with 409 Consumer Deleted, removes its files, frees. */
void consumer_delete(struct consumer *c);

const char *consumer_name(const struct consumer *c);
const char *consumer_filter(const struct consumer *c);
/* Writes the ConsumerInfo fields into an open object. */
void consumer_write_info(struct consumer *c, struct jw *w);

/* MSG.NEXT: a pull request whose messages go to reply. */
void consumer_next_request(struct consumer *c, const char *reply,
			   const char *body, size_t len);

/* ---- called by the stream ---- */

/* A message was stored: deliver it when someone waits. */
void consumer_msg_stored(struct consumer *c, uint64_t seq,
			 const char *subject, size_t subject_len);
/* The store removed seq: a pending seq counts as acked (no store calls:
 * this runs inside the store's removal callback). */
void consumer_msg_removed(struct consumer *c, uint64_t seq,
			  const char *subject, size_t subject_len);
/* The stream was purged: first_seq is the first sequence left (0 when
 * nothing is left), last_seq the stream's last. */
void consumer_purged(struct consumer *c, uint64_t first_seq,
		     uint64_t last_seq);
/* Interest and work queue retention: whether c still needs seq acked. */
/* A consumer made for a mirror or source (config "direct"): left out of
 * the stream's lists and counts. */
bool consumer_is_direct(const struct consumer *c);
bool consumer_needs_ack(const struct consumer *c, uint64_t seq,
			const char *subject, size_t subject_len);
/* Writes a durable's state now (shutdown). */
void consumer_flush_state(struct consumer *c);
/* Recreates the durables found in the stream's directory. */
void consumer_restore_all(struct stream *st);

/* Consistency checks; ASSERTs on failure. */
void consumer_invariants(const struct consumer *c);

#endif
