/*
 * sublist.h - the subscription index: a token trie with '*' and '>' branches,
 * queue groups, and a match cache.
 *
 * The sublist stores borrowed struct sub pointers (owned by connections).
 * sublist_match returns a reference-counted result: it stays valid, even if
 * subscriptions are inserted or removed meanwhile (e.g. auto-unsubscribe
 * during delivery), until the caller releases it.  The order of subs in a
 * result is deterministic for a given sequence of operations and seed (it
 * never depends on pointer values).
 */
#ifndef CORE_SUBLIST_H
#define CORE_SUBLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/mem.h"
#include "sub.h"

enum sublist_status {
	SUBLIST_OK = 0,
	SUBLIST_ERR_INVALID_SUBJECT = -1,
	SUBLIST_ERR_NOT_FOUND = -2,
	SUBLIST_ERR_NOMEM = -3,
};

struct sublist_qgroup {
	const char *queue;        /* the group name (a copy inside the result) */
	size_t queue_len;
	struct sub **subs;        /* members matching the subject, once each
				   * (queue_weight is left to the caller) */
	size_t nsubs;
};

struct sublist_result {
	uint32_t refs;            /* owner counts: cache + callers */
	struct sub **psubs;       /* plain (non-queue) subscriptions */
	size_t npsubs;
	struct sublist_qgroup *qgroups; /* one entry per distinct queue name */
	size_t nqgroups;
};

struct sublist_stats {
	uint64_t subs;            /* subscriptions stored */
	uint64_t inserts;
	uint64_t removes;
	uint64_t matches;
	uint64_t cache_hits;
	uint64_t cache_entries;
};

struct sublist;

/* cache_enabled=false matches the reference's disable_sublist_cache. */
struct sublist *sublist_new(struct mem *mem, uint64_t seed, bool cache_enabled);
void sublist_free(struct sublist *sl);
/* Validates sub->subject (subject_is_valid).  A sub with queue != NULL is a
 * queue sub.  The same sub must not be inserted twice.  Release every
 * result before sublist_free. */
int sublist_insert(struct sublist *sl, struct sub *sub);
int sublist_remove(struct sublist *sl, struct sub *sub);
/* Match a literal subject.  Returns a result holding one reference for the
 * caller (release it), or NULL only when memory ran out. */
struct sublist_result *sublist_match(struct sublist *sl, const char *subject,
				     size_t len);
void sublist_result_release(struct sublist *sl, struct sublist_result *r);
/* True when at least one subscription matches the literal subject. */
bool sublist_has_interest(struct sublist *sl, const char *subject, size_t len);
size_t sublist_count(const struct sublist *sl);
void sublist_stats(const struct sublist *sl, struct sublist_stats *out);
/* Visit every stored subscription (order: deterministic).  The callback
 * must not insert or remove. */
void sublist_visit(const struct sublist *sl,
		   void (*cb)(void *arg, struct sub *sub), void *arg);
/* Asserts the internal invariants (counts, trie shape, cache consistency). */
void sublist_invariants(const struct sublist *sl);

#endif
