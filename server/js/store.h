/*
 * store.h - the JetStream message store: one per stream, on the env's
 * files (file storage) or in memory (memory storage), same semantics.
 *
 * The store owns the messages of one stream: their sequence numbers,
 * timestamps, subjects, headers and payloads, interior deletes, the
 * per-subject index, the stream limits that it enforces on append (max
 * msgs, bytes, age, msgs per subject with discard old), and durability.
 * It never sees a connection, the server or JSON; the stream layer
 * (stream.c) decides what to store and answers clients.
 *
 * Sequences: first_seq..last_seq; a store that is empty has first_seq =
 * last_seq + 1 (the reference's convention, so a fresh store has first 1,
 * last 0).  Sequences are never reused, also across purges.
 *
 * Durability: store_append() returns once the record is in the store's
 * write path; it is acknowledged as stored only when store_sync_wait()'s
 * callback runs.  The file store batches all appends of a loop turn into
 * one file_sync (group commit); with sync_interval_ns > 0 it instead syncs
 * on a timer and calls waiters right away (the reference's lazier mode).
 * The memory store calls waiters at the end of the turn too.
 *
 * Recovery: store_open() on a file store reads every block, keeps every
 * record whose checksum holds, drops a torn tail (a partial or corrupt last
 * record of the last block), and reports corruption in the middle (the
 * records whose checksum fails are skipped and counted, never hidden and
 * never fatal).  An index that is missing or disagrees with the blocks is
 * rebuilt from them.
 *
 * Every function returns 0 or a negative enum store_err; input from disk
 * is never asserted on.
 */
#ifndef JS_STORE_H
#define JS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct env;
struct mem;
struct buf;
struct store;
struct store_turn;

enum store_err {
	STORE_OK = 0,
	STORE_ERR_NOT_FOUND = -1,   /* no such sequence (below first or above last) */
	STORE_ERR_DELETED = -2,     /* the sequence was removed */
	STORE_ERR_IO = -3,          /* the env reported a file error */
	STORE_ERR_NOSPC = -4,       /* disk full: nothing was stored */
	STORE_ERR_LIMIT = -5,       /* store limit (discard new) refused it */
	STORE_ERR_NOMEM = -6,
	STORE_ERR_CORRUPT = -7,     /* a record failed its checksum on read */
	STORE_ERR_INVALID = -8,     /* bad argument from the caller */
	STORE_ERR_CLOSED = -9,
};

const char *store_strerror(int err);

enum store_kind { STORE_FILE = 0, STORE_MEMORY = 1 };

/* Limits the store enforces itself, always by discarding the oldest
 * messages (discard new is the stream's check, made before appending,
 * with store_would_exceed()).  0 or -1 means unlimited, as in the
 * reference's StreamConfig. */
struct store_limits {
	int64_t max_msgs;
	int64_t max_bytes;
	int64_t max_age_ns;
	int64_t max_msgs_per_subject;
};

/* Called for every message the store removes by itself (limits, age) or on
 * request (remove, purge, compact), so that the stream can keep consumers
 * and interest right.  subject borrowed for the call. */
typedef void (*store_removed_cb)(void *arg, uint64_t seq, const char *subject,
				 size_t subject_len);

struct store_config {
	struct env *env;
	struct mem *mem;
	enum store_kind kind;
	const char *dir;             /* file store: the stream's directory; borrowed */
	struct store_limits limits;
	uint64_t first_seq;          /* for a new store: the first sequence (default 1) */
	uint64_t block_size_bytes;   /* file store: 0 = default */
	int64_t sync_interval_ns;    /* 0 = sync before ack (default); > 0 = lazy */
	store_removed_cb removed;    /* may be NULL; must not call the store */
	void *removed_arg;
	/* Shared end-of-turn hook (see store_turn_new); NULL = the store
	 * uses a zero-delay timer of its own instead. */
	struct store_turn *turn;
};

/* env->on_turn_end hooks are permanent and few, so the stores of one
 * server share one: store_turn_new registers it, and every store opened
 * with it runs its group commit (sync, then waiters) from it.  Free it
 * only once the env no longer runs hooks and after its stores closed. */
struct store_turn;
int store_turn_new(struct store_turn **out, struct env *env, struct mem *mem);
void store_turn_free(struct store_turn *t);

/* What recovery found; all zero for a new or a clean store. */
struct store_report {
	uint64_t records_recovered;
	uint64_t torn_tail_bytes;    /* dropped from the end of the last block */
	uint64_t corrupt_records;    /* failed checksum in the middle, skipped */
	uint64_t corrupt_bytes;
	bool index_rebuilt;
	char first_problem[256];     /* human text for the log, "" if none */
};

struct store_state {
	uint64_t msgs;
	uint64_t bytes;              /* as the reference counts them per kind */
	uint64_t first_seq;
	uint64_t last_seq;
	int64_t first_ts_ns;         /* wall clock, 0 when empty */
	int64_t last_ts_ns;
	uint64_t num_deleted;        /* interior deletes between first and last */
	uint64_t num_subjects;
};

/* One message as loaded: slices point into the caller's scratch buffer
 * given to the load function and stay valid until it changes. */
struct store_msg {
	uint64_t seq;
	int64_t ts_ns;
	const char *subject;
	size_t subject_len;
	const uint8_t *hdr;          /* NULL when the message has no headers */
	size_t hdr_len;
	const uint8_t *data;
	size_t data_len;
};

/* Opens (creating when absent) or recovers a store.  report may be NULL. */
int store_open(struct store **out, const struct store_config *cfg,
	       struct store_report *report);
/* Closes; with a file store, flushes and syncs what is pending first. */
void store_close(struct store *st);
/* Closes and removes every file of the store (stream delete). */
int store_delete(struct store *st);

int store_update_limits(struct store *st, const struct store_limits *limits);

/* True when appending a message of that subject and size would exceed
 * max_msgs, max_bytes or max_msgs_per_subject (for discard new). */
bool store_would_exceed(const struct store *st, const char *subject,
			size_t subject_len, size_t hdr_len, size_t data_len,
			bool per_subject_only);

/* Appends with the next sequence and the env's wall clock (ts_ns 0) or
 * the given time; *seq_out gets the sequence.  Enforces the limits. */
int store_append(struct store *st, const char *subject, size_t subject_len,
		 const void *hdr, size_t hdr_len, const void *data,
		 size_t data_len, int64_t ts_ns, uint64_t *seq_out);
/* Moves last_seq to seq - 1 without storing anything, so the next append
 * gets seq (mirrors, first_seq, purge to a sequence).  seq > last_seq. */
int store_skip_to(struct store *st, uint64_t seq);

typedef void (*store_synced_cb)(void *arg, uint64_t seq, int err);
/* Calls cb once every record up to seq is synced (err 0), or the sync
 * failed (err < 0: the records after the last good sync are not durable).
 * Never calls cb from inside this function: at the earliest from the end
 * of the current loop turn.  cb may append and wait again, but must not
 * close or delete this store (close calls the waiters still pending). */
int store_sync_wait(struct store *st, uint64_t seq, store_synced_cb cb,
		    void *arg);

int store_load(struct store *st, uint64_t seq, struct store_msg *out,
	       struct buf *scratch);
/* The last message whose subject matches filter (may have wildcards). */
int store_load_last(struct store *st, const char *filter, size_t filter_len,
		    struct store_msg *out, struct buf *scratch);
/* The first message with sequence >= start whose subject matches filter
 * (NULL or ">" = any). */
int store_load_next(struct store *st, const char *filter, size_t filter_len,
		    uint64_t start, struct store_msg *out, struct buf *scratch);

/* Removes one message; secure overwrites its bytes on disk first. */
int store_remove(struct store *st, uint64_t seq, bool secure);

/* Purge: subject NULL = all subjects; up_to_seq > 0 removes sequences
 * below it; keep > 0 keeps the newest keep messages (per subject when a
 * subject is given).  *purged gets the count. */
int store_purge(struct store *st, const char *subject, size_t subject_len,
		uint64_t up_to_seq, uint64_t keep, uint64_t *purged);

/* Removes messages older than max_age; returns how many.  The store also
 * does this itself on a timer when max_age is set. */
uint64_t store_expire(struct store *st);

void store_get_state(const struct store *st, struct store_state *out);
/* The interior deleted sequences, ascending. */
void store_each_deleted(const struct store *st,
			void (*cb)(void *arg, uint64_t seq), void *arg);
/* Per subject matching filter (NULL = all): message count, and the first
 * and last sequence.  Order: by subject bytes. */
void store_each_subject(const struct store *st, const char *filter,
			size_t filter_len,
			void (*cb)(void *arg, const char *subject, size_t len,
				   uint64_t msgs, uint64_t first, uint64_t last),
			void *arg);
/* Messages with sequence >= start matching filter; with last_per_subject,
 * only the last message of each subject counts. */
uint64_t store_num_pending(const struct store *st, uint64_t start,
			   const char *filter, size_t filter_len,
			   bool last_per_subject);


/* The store's own consistency checks (the simulator runs them after every
 * step); false with a reason in why. */
bool store_invariants(const struct store *st, char *why, size_t why_len);

/* ---- small durable files: stream and consumer metadata ----
 * Written atomically (new file, sync, rename, sync of content) with a
 * checksum; read back verified.  Used for meta.inf (stream config) and
 * consumer state.  The bytes are the caller's (JSON or a binary state). */
int store_meta_write(struct env *env, const char *path, const void *data,
		     size_t len);
/* Reads and verifies; *out gets the bytes (without checksum).  Returns
 * STORE_ERR_NOT_FOUND when absent, STORE_ERR_CORRUPT on a checksum
 * mismatch. */
int store_meta_read(struct env *env, const char *path, struct buf *out);

#endif
