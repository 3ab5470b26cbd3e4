/*
 * store_int.h - what the store's three files share: the in-memory index
 * (one slot per stored sequence, the per-subject table), the counters the
 * limits use, the durability waiters, and the small vtable by which
 * store_common.c drives the memory or the file kind.
 *
 * Invariants (checked by store_invariants):
 *   - slots[head..nslots) are sorted by seq; a live slot has subj != NULL;
 *   - msgs = live slots, bytes = sum of their sizes;
 *   - msgs == 0 implies first_seq == last_seq + 1; otherwise first_seq is
 *     the lowest live sequence and last_seq >= the highest;
 *   - each subject's msgs/first/last agree with the live slots.
 */
#ifndef JS_STORE_INT_H
#define JS_STORE_INT_H

#include "store.h"
#include "../lib/buf.h"
#include "../lib/hash.h"

/* One subject with messages; the key of the subject table. */
struct store_subj {
	char *name;           /* owned, NUL-terminated */
	size_t len;
	uint64_t msgs;
	uint64_t first;       /* lowest live sequence with this subject */
	uint64_t last;
	/* scratch tally of store_invariants */
	uint64_t chk_msgs, chk_first, chk_last;
};

/* One stored sequence.  A removed one keeps its place until compaction
 * with subj NULL, so that lookups stay a binary search. */
struct store_slot {
	uint64_t seq;
	int64_t ts_ns;
	struct store_subj *subj;  /* NULL once removed */
	uint32_t hdr_len;
	uint32_t data_len;
	bool has_hdr;
	/* memory kind: subject-less copy of hdr + data, owned */
	uint8_t *blob;
	/* file kind: where the record is */
	uint32_t block;           /* block number (file name) */
	uint32_t rec_len;
	uint64_t off;
};

struct store_waiter {
	uint64_t seq;
	store_synced_cb cb;
	void *arg;
};

struct store_ops {
	/* Recovers (file) or starts empty; fills the index through
	 * store_index_add and friends. */
	int (*open)(struct store *st, struct store_report *rep);
	void (*close)(struct store *st);
	int (*destroy)(struct store *st);
	/* Stores one new message whose slot (seq, ts, lengths) is filled;
	 * sets the location fields.  On failure nothing is stored. */
	int (*put)(struct store *st, struct store_slot *sl, const char *subject,
		   size_t subject_len, const void *hdr, const void *data);
	int (*get)(struct store *st, const struct store_slot *sl,
		   struct store_msg *out, struct buf *scratch);
	/* Records removals before they are applied: every sequence below
	 * new_first is gone, and the listed ones (>= new_first) too. */
	int (*log_removed)(struct store *st, uint64_t new_first,
			   const uint64_t *seqs, size_t n);
	/* Records that last_seq moved to last without a message. */
	int (*log_last)(struct store *st, uint64_t last);
	/* The message of the slot is gone from the index: release it
	 * (secure: overwrite its bytes first). */
	void (*drop)(struct store *st, struct store_slot *sl, bool secure);
	/* Makes everything written so far durable; 0 or a store_err. */
	int (*sync)(struct store *st);
	bool (*dirty)(const struct store *st);
	uint64_t (*msg_size)(size_t subject_len, size_t hdr_len,
			     size_t data_len, bool has_hdr);
};

struct store_turn;

struct store {
	struct store_config cfg;     /* dir copied into dir */
	char *dir;
	struct env *env;
	struct mem *mem;
	const struct store_ops *ops;
	void *kind_state;            /* the kind's own state */
	bool closed;

	struct store_slot *slots;
	size_t head;                 /* first slot that may be live */
	size_t nslots;
	size_t cap_slots;
	size_t dead_slots;           /* removed slots in head..nslots */

	struct hmap subjects;        /* name -> struct store_subj */
	uint64_t msgs;
	uint64_t bytes;
	uint64_t first_seq;
	uint64_t last_seq;

	/* removal batches */
	uint64_t *batch;
	size_t nbatch, cap_batch;

	/* durability */
	struct store_waiter *waiters;
	size_t nwaiters, cap_waiters;
	struct store_turn *turn;     /* shared end-of-turn hook, or NULL */
	struct store *turn_next;     /* in turn's list while pending */
	bool turn_queued;
	int flush_timer;             /* zero-delay timer when turn is NULL */
	bool flush_armed;            /* flush_timer is armed */
	int lazy_timer;              /* sync_interval_ns > 0 */
	bool lazy_armed;
	bool in_flush;

	int age_timer;               /* max_age_ns > 0 */
	bool age_armed;
};

extern const struct store_ops store_mem_ops;
extern const struct store_ops store_file_ops;

/* Index building for the kinds (recovery) and the common code. */
int store_index_add(struct store *st, const struct store_slot *sl,
		    const char *subject, size_t subject_len);
struct store_slot *store_index_find(const struct store *st, uint64_t seq);
/* Removes from the index without logging; calls removed cb and drop. */
void store_index_remove(struct store *st, struct store_slot *sl, bool secure,
			bool notify);
/* Recovery: every sequence below first is gone. */
void store_index_cut_below(struct store *st, uint64_t first);
void store_index_fix_first(struct store *st);

/* The 64-bit checksum used on disk (a fixed seed: files must verify on
 * any machine and across restarts). */
uint64_t store_checksum(const void *data, size_t len);
void store_put_u32(uint8_t *p, uint32_t v);
void store_put_u64(uint8_t *p, uint64_t v);
uint32_t store_get_u32(const uint8_t *p);
uint64_t store_get_u64(const uint8_t *p);

#endif
