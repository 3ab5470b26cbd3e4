/*
 * store_common.c - the half of the message store that both kinds share:
 * the index (slots by sequence, subjects), limits and discard-old, purge
 * and compact, loads with subject filters, the state and the walks over
 * it, group commit and its waiters, age expiry, invariants, and the small
 * checksummed metadata files.
 *
 * The kinds (memstore.c, filestore.c) only keep the bytes: they put a
 * message, get it back, log removals and skips so that recovery sees
 * them, and sync.  Everything a client can observe is decided here, so
 * both kinds behave the same by construction.
 *
 * Invariants: see store_int.h; store_invariants() checks them all.
 */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/subject.h"
#include "../env/env.h"
#include "../lib/assert.h"

#define CHECKSUM_SEED 0x6e617473642d7331ULL  /* fixed: files outlive runs */
#define META_MAGIC 0x3146544dU               /* "MTF1" */
#define META_HDR 16

/* ------------------------------------------------------------ helpers */

const char *store_strerror(int err)
{
	switch (err) {
	case STORE_OK: return "ok";
	case STORE_ERR_NOT_FOUND: return "no message found";
	case STORE_ERR_DELETED: return "message deleted";
	case STORE_ERR_IO: return "input/output error";
	case STORE_ERR_NOSPC: return "no space left on device";
	case STORE_ERR_LIMIT: return "store limit reached";
	case STORE_ERR_NOMEM: return "out of memory";
	case STORE_ERR_CORRUPT: return "message checksum mismatch";
	case STORE_ERR_INVALID: return "invalid argument";
	case STORE_ERR_CLOSED: return "store closed";
	default: return "unknown store error";
	}
}

uint64_t store_checksum(const void *data, size_t len)
{
	return hash_bytes(CHECKSUM_SEED, data, len);
}

void store_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void store_put_u64(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(p, &v, sizeof(v));
#else
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
#endif
}

uint32_t store_get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

uint64_t store_get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static bool filter_is_all(const char *filter, size_t len)
{
	return filter == NULL || len == 0 || (len == 1 && filter[0] == '>');
}

static bool subj_matches(const struct store_subj *s, const char *filter,
			 size_t len)
{
	return filter_is_all(filter, len) ||
	       subject_matches(s->name, s->len, filter, len);
}

static uint64_t slot_size(const struct store *st, const struct store_slot *sl)
{
	return st->ops->msg_size(sl->subj->len, sl->hdr_len, sl->data_len,
				 sl->has_hdr);
}

/* -------------------------------------------------------------- index */

/* Index of the first slot with seq >= seq in head..nslots. */
static size_t slot_lower_bound(const struct store *st, uint64_t seq)
{
	size_t lo = st->head, hi = st->nslots;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (st->slots[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct store_slot *store_index_find(const struct store *st, uint64_t seq)
{
	size_t i = slot_lower_bound(st, seq);
	if (i < st->nslots && st->slots[i].seq == seq)
		return &st->slots[i];
	return NULL;
}

/* Squeezes removed slots out once they outnumber the live ones, so the
 * table stays proportional to the messages held. */
static void index_compact(struct store *st)
{
	size_t total = st->nslots - st->head;
	if (st->head == 0 && st->dead_slots * 2 <= total)
		return;
	if (st->dead_slots * 2 <= total && st->head * 2 < st->nslots)
		return;
	size_t w = 0;
	for (size_t r = st->head; r < st->nslots; r++)
		if (st->slots[r].subj != NULL)
			st->slots[w++] = st->slots[r];
	st->nslots = w;
	st->head = 0;
	st->dead_slots = 0;
}

static struct store_subj *subj_get(struct store *st, const char *s, size_t len)
{
	struct store_subj *sj = hmap_get(&st->subjects, s, len);
	if (sj != NULL)
		return sj;
	sj = mem_calloc(st->mem, 1, sizeof(*sj));
	if (sj == NULL)
		return NULL;
	sj->name = mem_strndup(st->mem, s, len);
	sj->len = len;
	if (sj->name == NULL || !hmap_put(&st->subjects, sj->name, len, sj)) {
		mem_free(st->mem, sj->name);
		mem_free(st->mem, sj);
		return NULL;
	}
	return sj;
}

static void subj_free_if_empty(struct store *st, struct store_subj *sj)
{
	if (sj->msgs > 0)
		return;
	hmap_del(&st->subjects, sj->name, sj->len);
	mem_free(st->mem, sj->name);
	mem_free(st->mem, sj);
}

int store_index_add(struct store *st, const struct store_slot *sl,
		    const char *subject, size_t subject_len)
{
	ASSERT(st->nslots == st->head || st->slots[st->nslots - 1].seq < sl->seq);
	if (st->nslots == st->cap_slots) {
		index_compact(st);
		if (st->nslots == st->cap_slots) {
			size_t n = st->cap_slots ? st->cap_slots * 2 : 64;
			void *p = mem_realloc(st->mem, st->slots, n * sizeof(*st->slots));
			if (p == NULL)
				return STORE_ERR_NOMEM;
			st->slots = p;
			st->cap_slots = n;
		}
	}
	struct store_subj *sj = subj_get(st, subject, subject_len);
	if (sj == NULL)
		return STORE_ERR_NOMEM;
	struct store_slot *dst = &st->slots[st->nslots++];
	*dst = *sl;
	dst->subj = sj;
	if (sj->msgs == 0)
		sj->first = sl->seq;
	sj->last = sl->seq;
	sj->msgs++;
	if (st->msgs == 0)
		st->first_seq = sl->seq;
	st->msgs++;
	st->bytes += slot_size(st, dst);
	if (sl->seq > st->last_seq)
		st->last_seq = sl->seq;
	return 0;
}

/* After a removal of the subject's first or last: find the new one. */
static void subj_refresh(struct store *st, struct store_subj *sj, size_t at,
			 uint64_t seq)
{
	if (sj->msgs == 1 && seq == sj->first) {
		sj->first = sj->last;
	} else if (sj->msgs == 1) {
		sj->last = sj->first;
	} else if (seq == sj->first) {
		for (size_t i = at + 1; i < st->nslots; i++)
			if (st->slots[i].subj == sj) {
				sj->first = st->slots[i].seq;
				break;
			}
	} else if (seq == sj->last) {
		for (size_t i = at; i-- > st->head;)
			if (st->slots[i].subj == sj) {
				sj->last = st->slots[i].seq;
				break;
			}
	}
}

void store_index_fix_first(struct store *st)
{
	while (st->head < st->nslots && st->slots[st->head].subj == NULL) {
		st->head++;
		st->dead_slots--;
	}
	if (st->msgs == 0) {
		st->first_seq = st->last_seq + 1;
		st->head = st->nslots = 0;
		st->dead_slots = 0;
	} else {
		st->first_seq = st->slots[st->head].seq;
	}
}

void store_index_remove(struct store *st, struct store_slot *sl, bool secure,
			bool notify)
{
	struct store_subj *sj = sl->subj;
	ASSERT(sj != NULL && sj->msgs > 0 && st->msgs > 0);
	uint64_t size = slot_size(st, sl);
	ASSERT(st->bytes >= size);
	st->msgs--;
	st->bytes -= size;
	if (notify && st->cfg.removed != NULL)
		st->cfg.removed(st->cfg.removed_arg, sl->seq, sj->name, sj->len);
	st->ops->drop(st, sl, secure);
	sl->subj = NULL;
	st->dead_slots++;
	sj->msgs--;
	if (sj->msgs == 0)
		subj_free_if_empty(st, sj);
	else
		subj_refresh(st, sj, (size_t)(sl - st->slots), sl->seq);
	if (sl->seq == st->first_seq || st->msgs == 0)
		store_index_fix_first(st);
}

void store_index_cut_below(struct store *st, uint64_t first)
{
	while (st->head < st->nslots && st->slots[st->head].seq < first) {
		struct store_slot *sl = &st->slots[st->head];
		if (sl->subj != NULL)
			store_index_remove(st, sl, false, false);
		else
			store_index_fix_first(st);
		if (st->msgs == 0)
			break;
	}
	if (first > st->last_seq + 1)
		st->last_seq = first - 1;
	if (st->msgs == 0)
		st->first_seq = st->last_seq + 1;
}

/* -------------------------------------------------------- removal batch */

static int batch_push(struct store *st, uint64_t seq)
{
	if (st->nbatch == st->cap_batch) {
		size_t n = st->cap_batch ? st->cap_batch * 2 : 32;
		void *p = mem_realloc(st->mem, st->batch, n * sizeof(uint64_t));
		if (p == NULL)
			return STORE_ERR_NOMEM;
		st->batch = p;
		st->cap_batch = n;
	}
	st->batch[st->nbatch++] = seq;
	return 0;
}

/* The lowest live sequence not in the (ascending) batch, or floor. */
static uint64_t batch_new_first(const struct store *st, uint64_t floor)
{
	size_t b = 0;
	uint64_t nf = st->last_seq + 1;
	for (size_t i = st->head; i < st->nslots; i++) {
		const struct store_slot *sl = &st->slots[i];
		if (sl->subj == NULL)
			continue;
		while (b < st->nbatch && st->batch[b] < sl->seq)
			b++;
		if (b < st->nbatch && st->batch[b] == sl->seq)
			continue;
		nf = sl->seq;
		break;
	}
	return nf > floor ? nf : floor;
}

/* Removes the batched sequences (ascending, live) and, with floor > 0,
 * everything below floor.  The removal is logged before it is applied, so
 * a failed log leaves the store as it was (secure erase overwrites first,
 * as the bytes must be gone even if the log fails). */
static int batch_apply(struct store *st, uint64_t floor, bool secure)
{
	uint64_t nf = batch_new_first(st, floor);
	size_t k = 0;
	while (k < st->nbatch && st->batch[k] < nf)
		k++;
	int rc = 0;
	if (!secure)
		rc = st->ops->log_removed(st, nf, st->batch + k, st->nbatch - k);
	if (rc != 0) {
		st->nbatch = 0;
		return rc;
	}
	for (size_t i = 0; i < st->nbatch; i++) {
		struct store_slot *sl = store_index_find(st, st->batch[i]);
		ASSERT(sl != NULL && sl->subj != NULL);
		store_index_remove(st, sl, secure, true);
	}
	if (nf > st->last_seq + 1)
		st->last_seq = nf - 1;
	if (st->msgs == 0)
		st->first_seq = st->last_seq + 1;
	if (secure)
		rc = st->ops->log_removed(st, nf, st->batch + k, st->nbatch - k);
	st->nbatch = 0;
	index_compact(st);
	return rc;
}

/* Batches the oldest live messages until the counts fit the limits. */
static int batch_oldest_until(struct store *st, uint64_t max_msgs,
			      uint64_t max_bytes)
{
	uint64_t msgs = st->msgs, bytes = st->bytes;
	for (size_t i = st->head; i < st->nslots; i++) {
		if (msgs <= max_msgs && bytes <= max_bytes)
			break;
		struct store_slot *sl = &st->slots[i];
		if (sl->subj == NULL)
			continue;
		if (batch_push(st, sl->seq) != 0)
			return STORE_ERR_NOMEM;
		msgs--;
		bytes -= slot_size(st, sl);
	}
	return 0;
}

static uint64_t limit_of(int64_t v)
{
	return v > 0 ? (uint64_t)v : UINT64_MAX;
}

/* Discard old for one subject over max_msgs_per_subject. */
static int limits_enforce_subject(struct store *st, struct store_subj *sj)
{
	uint64_t per = limit_of(st->cfg.limits.max_msgs_per_subject);
	if (sj == NULL || sj->msgs <= per)
		return 0;
	uint64_t over = sj->msgs - per;
	for (size_t i = slot_lower_bound(st, sj->first);
	     i < st->nslots && over > 0; i++) {
		if (st->slots[i].subj != sj)
			continue;
		if (batch_push(st, st->slots[i].seq) != 0) {
			st->nbatch = 0;
			return STORE_ERR_NOMEM;
		}
		over--;
	}
	return batch_apply(st, 0, false);
}

/* Discard old: per subject first, then messages, then bytes, as the
 * reference does after each stored message. */
static int limits_enforce(struct store *st, struct store_subj *sj)
{
	const struct store_limits *l = &st->cfg.limits;
	int rc = limits_enforce_subject(st, sj);
	if (rc != 0)
		return rc;
	uint64_t mm = limit_of(l->max_msgs), mb = limit_of(l->max_bytes);
	if (st->msgs <= mm && st->bytes <= mb)
		return 0;
	rc = batch_oldest_until(st, mm, mb);
	if (rc != 0) {
		st->nbatch = 0;
		return rc;
	}
	return batch_apply(st, 0, false);
}

/* ------------------------------------------------------ group commit */

struct store_turn {
	struct env *env;
	struct mem *mem;
	struct store *pending;   /* stores to flush at the end of this turn */
	struct store *running;   /* the ones being flushed now */
};

static void store_flush(struct store *st);

static void turn_run(void *arg)
{
	struct store_turn *t = arg;
	t->running = t->pending;
	t->pending = NULL;
	while (t->running != NULL) {
		struct store *st = t->running;
		t->running = st->turn_next;
		st->turn_next = NULL;
		st->turn_queued = false;
		store_flush(st);
	}
}

int store_turn_new(struct store_turn **out, struct env *env, struct mem *mem)
{
	struct store_turn *t = mem_calloc(mem, 1, sizeof(*t));
	if (t == NULL)
		return STORE_ERR_NOMEM;
	t->env = env;
	t->mem = mem;
	env->on_turn_end(env, turn_run, t);
	*out = t;
	return 0;
}

void store_turn_free(struct store_turn *t)
{
	if (t == NULL)
		return;
	ASSERT(t->pending == NULL && t->running == NULL);
	mem_free(t->mem, t);
}

static void turn_unlink(struct store *st)
{
	if (!st->turn_queued)
		return;
	struct store **lists[2] = { &st->turn->pending, &st->turn->running };
	for (int i = 0; i < 2; i++)
		for (struct store **pp = lists[i]; *pp != NULL; pp = &(*pp)->turn_next)
			if (*pp == st) {
				*pp = st->turn_next;
				st->turn_next = NULL;
				st->turn_queued = false;
				return;
			}
}

/* Asks for a flush at the end of this turn (or the next loop iteration
 * when no shared hook was given). */
static void flush_schedule(struct store *st)
{
	if (st->turn != NULL) {
		if (st->turn_queued)
			return;
		st->turn_queued = true;
		st->turn_next = st->turn->pending;
		st->turn->pending = st;
		return;
	}
	/* Armed once per turn: every append and every ack waiter asks. */
	if (st->flush_armed)
		return;
	st->flush_armed = true;
	st->env->timer_arm(st->env, st->flush_timer, env_now_mono_ns(st->env));
}

static void flush_timer_fired(void *arg, int timer)
{
	struct store *st = arg;
	UNUSED(timer);
	st->flush_armed = false;
	store_flush(st);
}

static void lazy_timer_fired(void *arg, int timer)
{
	struct store *st = arg;
	UNUSED(timer);
	st->lazy_armed = false;
	if (st->ops->dirty(st))
		st->ops->sync(st);
}

static int waiter_push(struct store *st, uint64_t seq, store_synced_cb cb,
		       void *arg)
{
	if (st->nwaiters == st->cap_waiters) {
		size_t n = st->cap_waiters ? st->cap_waiters * 2 : 16;
		void *p = mem_realloc(st->mem, st->waiters, n * sizeof(*st->waiters));
		if (p == NULL)
			return STORE_ERR_NOMEM;
		st->waiters = p;
		st->cap_waiters = n;
	}
	st->waiters[st->nwaiters++] = (struct store_waiter){ seq, cb, arg };
	return 0;
}

/* Calls the waiters covered by last_seq with err; the others stay.  The
 * list is detached first because a callback may append and wait again. */
static void waiters_release(struct store *st, int err, bool all)
{
	struct store_waiter *w = st->waiters;
	size_t n = st->nwaiters;
	st->waiters = NULL;
	st->nwaiters = st->cap_waiters = 0;
	for (size_t i = 0; i < n; i++) {
		if (all || w[i].seq <= st->last_seq)
			w[i].cb(w[i].arg, w[i].seq, err);
		else if (waiter_push(st, w[i].seq, w[i].cb, w[i].arg) != 0)
			w[i].cb(w[i].arg, w[i].seq, STORE_ERR_NOMEM);
	}
	mem_free(st->mem, w);
}

/* The group commit: one sync for everything written since the last one,
 * then the waiters.  Lazy mode answers at once and syncs on its timer. */
static void store_flush(struct store *st)
{
	if (st->in_flush || st->closed)
		return;
	st->in_flush = true;
	int err = 0;
	if (st->cfg.sync_interval_ns > 0) {
		if (st->ops->dirty(st) && !st->lazy_armed) {
			st->lazy_armed = true;
			st->env->timer_arm(st->env, st->lazy_timer,
					   env_now_mono_ns(st->env) +
					   st->cfg.sync_interval_ns);
		}
	} else if (st->ops->dirty(st)) {
		err = st->ops->sync(st);
	}
	st->in_flush = false;
	if (st->nwaiters > 0)
		waiters_release(st, err, false);
}

int store_sync_wait(struct store *st, uint64_t seq, store_synced_cb cb,
		    void *arg)
{
	if (st == NULL || cb == NULL)
		return STORE_ERR_INVALID;
	if (st->closed)
		return STORE_ERR_CLOSED;
	int rc = waiter_push(st, seq, cb, arg);
	if (rc == 0)
		flush_schedule(st);
	return rc;
}

/* ------------------------------------------------------------ age */

static void age_arm(struct store *st)
{
	if (st->cfg.limits.max_age_ns <= 0 || st->msgs == 0 || st->age_timer < 0)
		return;
	const struct store_slot *sl = &st->slots[st->head];
	int64_t wait = sl->ts_ns + st->cfg.limits.max_age_ns -
		       env_now_wall_ns(st->env);
	if (wait < 0)
		wait = 0;
	st->env->timer_arm(st->env, st->age_timer, env_now_mono_ns(st->env) + wait);
	st->age_armed = true;
}

uint64_t store_expire(struct store *st)
{
	if (st == NULL || st->closed || st->cfg.limits.max_age_ns <= 0)
		return 0;
	int64_t cutoff = env_now_wall_ns(st->env) - st->cfg.limits.max_age_ns;
	for (size_t i = st->head; i < st->nslots; i++) {
		const struct store_slot *sl = &st->slots[i];
		if (sl->subj == NULL)
			continue;
		if (sl->ts_ns > cutoff)
			break;
		if (batch_push(st, sl->seq) != 0)
			break;
	}
	uint64_t n = st->nbatch;
	if (n > 0 && batch_apply(st, 0, false) != 0)
		n = 0;
	st->nbatch = 0;
	if (n > 0)
		flush_schedule(st);
	return n;
}

static void age_timer_fired(void *arg, int timer)
{
	struct store *st = arg;
	UNUSED(timer);
	st->age_armed = false;
	store_expire(st);
	age_arm(st);
}

/* ------------------------------------------------------ open / close */

static int store_timers_new(struct store *st)
{
	struct env *e = st->env;
	st->flush_timer = st->lazy_timer = st->age_timer = -1;
	if (st->turn == NULL) {
		st->flush_timer = e->timer_new(e, flush_timer_fired, st);
		if (st->flush_timer < 0)
			return STORE_ERR_NOMEM;
	}
	if (st->cfg.sync_interval_ns > 0) {
		st->lazy_timer = e->timer_new(e, lazy_timer_fired, st);
		if (st->lazy_timer < 0)
			return STORE_ERR_NOMEM;
	}
	st->age_timer = e->timer_new(e, age_timer_fired, st);
	return st->age_timer < 0 ? STORE_ERR_NOMEM : 0;
}

static void store_free_all(struct store *st)
{
	struct env *e = st->env;
	int timers[3] = { st->flush_timer, st->lazy_timer, st->age_timer };
	for (int i = 0; i < 3; i++)
		if (timers[i] >= 0)
			e->timer_free(e, timers[i]);
	size_t pos = 0;
	struct hmap_entry *he;
	while ((he = hmap_next(&st->subjects, &pos)) != NULL) {
		struct store_subj *sj = he->value;
		mem_free(st->mem, sj->name);
		mem_free(st->mem, sj);
	}
	hmap_free(&st->subjects);
	mem_free(st->mem, st->slots);
	mem_free(st->mem, st->batch);
	mem_free(st->mem, st->waiters);
	mem_free(st->mem, st->dir);
	mem_free(st->mem, st);
}

static int store_open_new(struct store *st, const struct store_config *cfg,
			  struct store_report *rep)
{
	uint64_t seed;
	env_random(cfg->env, &seed, sizeof(seed));
	hmap_init(&st->subjects, cfg->mem, seed);
	st->first_seq = 1;
	int rc = store_timers_new(st);
	if (rc == 0)
		rc = st->ops->open(st, rep);
	if (rc != 0)
		return rc;
	if (st->msgs == 0 && st->last_seq == 0 && cfg->first_seq > 1)
		rc = store_skip_to(st, cfg->first_seq);
	if (rc == 0)
		age_arm(st);
	return rc;
}

int store_open(struct store **out, const struct store_config *cfg,
	       struct store_report *report)
{
	struct store_report scratch;
	struct store_report *rep = report != NULL ? report : &scratch;
	memset(rep, 0, sizeof(*rep));
	if (out == NULL || cfg == NULL || cfg->env == NULL || cfg->mem == NULL)
		return STORE_ERR_INVALID;
	if (cfg->kind == STORE_FILE && (cfg->dir == NULL || cfg->dir[0] == '\0'))
		return STORE_ERR_INVALID;
	struct store *st = mem_calloc(cfg->mem, 1, sizeof(*st));
	if (st == NULL)
		return STORE_ERR_NOMEM;
	st->cfg = *cfg;
	st->env = cfg->env;
	st->mem = cfg->mem;
	st->turn = cfg->turn;
	st->ops = cfg->kind == STORE_FILE ? &store_file_ops : &store_mem_ops;
	st->flush_timer = st->lazy_timer = st->age_timer = -1;
	if (cfg->dir != NULL) {
		st->dir = mem_strdup(cfg->mem, cfg->dir);
		if (st->dir == NULL) {
			mem_free(cfg->mem, st);
			return STORE_ERR_NOMEM;
		}
	}
	st->cfg.dir = st->dir;
	int rc = store_open_new(st, cfg, rep);
	if (rc != 0) {
		turn_unlink(st);
		if (st->kind_state != NULL)
			st->ops->close(st);
		store_free_all(st);
		return rc;
	}
	*out = st;
	return 0;
}

static void store_shutdown(struct store *st)
{
	int err = 0;
	if (st->ops->dirty(st))
		err = st->ops->sync(st);
	turn_unlink(st);
	if (st->nwaiters > 0)
		waiters_release(st, err, false);
	if (st->nwaiters > 0)
		waiters_release(st, STORE_ERR_CLOSED, true);
	st->closed = true;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	store_shutdown(st);
	st->ops->close(st);
	store_free_all(st);
}

int store_delete(struct store *st)
{
	if (st == NULL)
		return STORE_ERR_INVALID;
	turn_unlink(st);
	if (st->nwaiters > 0)
		waiters_release(st, STORE_ERR_CLOSED, true);
	st->closed = true;
	int rc = st->ops->destroy(st);
	store_free_all(st);
	return rc;
}

int store_update_limits(struct store *st, const struct store_limits *limits)
{
	if (st == NULL || limits == NULL)
		return STORE_ERR_INVALID;
	if (st->closed)
		return STORE_ERR_CLOSED;
	st->cfg.limits = *limits;
	int rc = 0;
	const struct store_limits *l = limits;
	if (l->max_msgs_per_subject > 0) {
		/* Every subject over the new limit loses its oldest. */
		size_t pos = 0, n = 0;
		struct hmap_entry *he;
		while ((he = hmap_next(&st->subjects, &pos)) != NULL)
			n++;
		struct store_subj **over = mem_calloc(st->mem, n + 1, sizeof(*over));
		if (over == NULL)
			return STORE_ERR_NOMEM;
		n = 0;
		pos = 0;
		while ((he = hmap_next(&st->subjects, &pos)) != NULL) {
			struct store_subj *sj = he->value;
			if (sj->msgs > (uint64_t)l->max_msgs_per_subject)
				over[n++] = sj;
		}
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = limits_enforce_subject(st, over[i]);
		mem_free(st->mem, over);
	}
	if (rc == 0)
		rc = limits_enforce(st, NULL);
	if (rc == 0 && l->max_age_ns > 0) {
		store_expire(st);
		age_arm(st);
	} else if (l->max_age_ns <= 0 && st->age_armed) {
		st->env->timer_disarm(st->env, st->age_timer);
		st->age_armed = false;
	}
	flush_schedule(st);
	return rc;
}

/* ------------------------------------------------------------ writes */

bool store_would_exceed(const struct store *st, const char *subject,
			size_t subject_len, size_t hdr_len, size_t data_len,
			bool per_subject_only)
{
	if (st == NULL)
		return false;
	const struct store_limits *l = &st->cfg.limits;
	if (l->max_msgs_per_subject > 0 && subject != NULL) {
		const struct store_subj *sj = hmap_get(&st->subjects, subject,
						       subject_len);
		if (sj != NULL && sj->msgs + 1 > (uint64_t)l->max_msgs_per_subject)
			return true;
	}
	if (per_subject_only)
		return false;
	if (l->max_msgs > 0 && st->msgs + 1 > (uint64_t)l->max_msgs)
		return true;
	uint64_t size = st->ops->msg_size(subject_len, hdr_len, data_len,
					  hdr_len > 0);
	return l->max_bytes > 0 && st->bytes + size > (uint64_t)l->max_bytes;
}

int store_append(struct store *st, const char *subject, size_t subject_len,
		 const void *hdr, size_t hdr_len, const void *data,
		 size_t data_len, int64_t ts_ns, uint64_t *seq_out)
{
	if (st == NULL || subject == NULL || subject_len == 0 ||
	    subject_len > UINT16_MAX || hdr_len > UINT32_MAX / 2 ||
	    data_len > UINT32_MAX / 2 || (hdr_len > 0 && hdr == NULL) ||
	    (data_len > 0 && data == NULL) || st->last_seq == UINT64_MAX - 1)
		return STORE_ERR_INVALID;
	if (st->closed)
		return STORE_ERR_CLOSED;
	struct store_slot sl = {
		.seq = st->last_seq + 1,
		.ts_ns = ts_ns != 0 ? ts_ns : env_now_wall_ns(st->env),
		.hdr_len = (uint32_t)hdr_len,
		.data_len = (uint32_t)data_len,
		.has_hdr = hdr_len > 0,
	};
	int rc = st->ops->put(st, &sl, subject, subject_len, hdr, data);
	if (rc != 0)
		return rc;
	rc = store_index_add(st, &sl, subject, subject_len);
	if (rc != 0) {
		/* The bytes are written but unknown to the index: remove them
		 * again so that a restart agrees with what we answered. */
		st->ops->drop(st, &sl, false);
		st->last_seq = sl.seq;
		st->ops->log_removed(st, st->msgs ? st->first_seq : sl.seq + 1,
				     &sl.seq, st->msgs ? 1 : 0);
		if (st->msgs == 0)
			st->first_seq = st->last_seq + 1;
		return rc;
	}
	if (seq_out != NULL)
		*seq_out = sl.seq;
	/* A failure to log a discard leaves the store over its limit until
	 * the next append; the message itself is stored. */
	/* The new message is the last slot. */
	const struct store_slot *last = st->nslots > st->head
					? &st->slots[st->nslots - 1] : NULL;
	limits_enforce(st, last != NULL && last->seq == sl.seq ? last->subj
							       : NULL);
	if (!st->age_armed)
		age_arm(st);
	flush_schedule(st);
	return 0;
}

int store_skip_to(struct store *st, uint64_t seq)
{
	if (st == NULL || seq <= st->last_seq || seq == UINT64_MAX)
		return STORE_ERR_INVALID;
	if (st->closed)
		return STORE_ERR_CLOSED;
	if (seq == st->last_seq + 1)
		return 0;
	int rc = st->ops->log_last(st, seq - 1);
	if (rc != 0)
		return rc;
	st->last_seq = seq - 1;
	if (st->msgs == 0)
		st->first_seq = seq;
	flush_schedule(st);
	return 0;
}

int store_remove(struct store *st, uint64_t seq, bool secure)
{
	if (st == NULL)
		return STORE_ERR_INVALID;
	if (st->closed)
		return STORE_ERR_CLOSED;
	if (seq < st->first_seq || seq > st->last_seq)
		return STORE_ERR_NOT_FOUND;
	struct store_slot *sl = store_index_find(st, seq);
	if (sl == NULL || sl->subj == NULL)
		return STORE_ERR_DELETED;
	int rc = batch_push(st, seq);
	if (rc == 0)
		rc = batch_apply(st, 0, secure);
	flush_schedule(st);
	return rc;
}

/* Everything below seq goes; past the end, the next append gets seq. */
static int store_compact(struct store *st, uint64_t seq, uint64_t *purged)
{
	for (size_t i = st->head; i < st->nslots; i++) {
		const struct store_slot *sl = &st->slots[i];
		if (sl->seq >= seq)
			break;
		if (sl->subj != NULL && batch_push(st, sl->seq) != 0) {
			st->nbatch = 0;
			return STORE_ERR_NOMEM;
		}
	}
	*purged = st->nbatch;
	if (st->nbatch == 0 && seq <= st->first_seq)
		return 0;
	return batch_apply(st, seq > st->last_seq + 1 ? seq : 0, false);
}

static int purge_subject(struct store *st, const char *subject, size_t len,
			 uint64_t up_to_seq, uint64_t keep, uint64_t *purged)
{
	uint64_t total = 0;
	for (size_t i = st->head; i < st->nslots; i++)
		if (st->slots[i].subj != NULL &&
		    subj_matches(st->slots[i].subj, subject, len))
			total++;
	if (keep >= total && keep > 0)
		return 0;
	uint64_t n = keep > 0 ? total - keep : total;
	for (size_t i = st->head; i < st->nslots && st->nbatch < n; i++) {
		const struct store_slot *sl = &st->slots[i];
		if (up_to_seq > 1 && sl->seq >= up_to_seq)
			break;
		if (sl->subj == NULL || !subj_matches(sl->subj, subject, len))
			continue;
		if (batch_push(st, sl->seq) != 0) {
			st->nbatch = 0;
			return STORE_ERR_NOMEM;
		}
	}
	*purged = st->nbatch;
	return st->nbatch > 0 ? batch_apply(st, 0, false) : 0;
}

int store_purge(struct store *st, const char *subject, size_t subject_len,
		uint64_t up_to_seq, uint64_t keep, uint64_t *purged)
{
	uint64_t dummy;
	if (purged == NULL)
		purged = &dummy;
	*purged = 0;
	if (st == NULL || (up_to_seq > 1 && keep > 0))
		return STORE_ERR_INVALID;
	if (st->closed)
		return STORE_ERR_CLOSED;
	int rc;
	if (!filter_is_all(subject, subject_len)) {
		rc = purge_subject(st, subject, subject_len, up_to_seq, keep,
				   purged);
	} else if (keep > 0) {
		/* As the reference: keep the sequences last-keep+1..last, so
		 * interior deletes among them make fewer than keep remain. */
		if (keep >= st->msgs)
			return 0;
		rc = store_compact(st, st->last_seq - keep + 1, purged);
	} else if (up_to_seq > 1) {
		rc = store_compact(st, up_to_seq, purged);
	} else {
		rc = store_compact(st, st->last_seq + 1, purged);
	}
	flush_schedule(st);
	return rc;
}

/* ------------------------------------------------------------- reads */

int store_load(struct store *st, uint64_t seq, struct store_msg *out,
	       struct buf *scratch)
{
	if (st == NULL || out == NULL || scratch == NULL)
		return STORE_ERR_INVALID;
	if (st->closed)
		return STORE_ERR_CLOSED;
	if (seq < st->first_seq || seq > st->last_seq)
		return STORE_ERR_NOT_FOUND;
	const struct store_slot *sl = store_index_find(st, seq);
	if (sl == NULL || sl->subj == NULL)
		return STORE_ERR_DELETED;
	return st->ops->get(st, sl, out, scratch);
}

int store_load_last(struct store *st, const char *filter, size_t filter_len,
		    struct store_msg *out, struct buf *scratch)
{
	if (st == NULL || out == NULL || scratch == NULL)
		return STORE_ERR_INVALID;
	if (st->closed)
		return STORE_ERR_CLOSED;
	if (!filter_is_all(filter, filter_len) &&
	    !subject_has_wildcard(filter, filter_len)) {
		const struct store_subj *sj = hmap_get(&st->subjects, filter,
						       filter_len);
		if (sj == NULL)
			return STORE_ERR_NOT_FOUND;
		return store_load(st, sj->last, out, scratch);
	}
	for (size_t i = st->nslots; i-- > st->head;) {
		const struct store_slot *sl = &st->slots[i];
		if (sl->subj != NULL && subj_matches(sl->subj, filter, filter_len))
			return st->ops->get(st, sl, out, scratch);
	}
	return STORE_ERR_NOT_FOUND;
}

int store_load_next(struct store *st, const char *filter, size_t filter_len,
		    uint64_t start, struct store_msg *out, struct buf *scratch)
{
	if (st == NULL || out == NULL || scratch == NULL)
		return STORE_ERR_INVALID;
	if (st->closed)
		return STORE_ERR_CLOSED;
	if (!filter_is_all(filter, filter_len) &&
	    !subject_has_wildcard(filter, filter_len)) {
		const struct store_subj *sj = hmap_get(&st->subjects, filter,
						       filter_len);
		if (sj == NULL || sj->last < start)
			return STORE_ERR_NOT_FOUND;
		if (start < sj->first)
			start = sj->first;
	}
	for (size_t i = slot_lower_bound(st, start); i < st->nslots; i++) {
		const struct store_slot *sl = &st->slots[i];
		if (sl->subj != NULL && subj_matches(sl->subj, filter, filter_len))
			return st->ops->get(st, sl, out, scratch);
	}
	return STORE_ERR_NOT_FOUND;
}

/* ------------------------------------------------------------- state */

void store_get_state(const struct store *st, struct store_state *out)
{
	memset(out, 0, sizeof(*out));
	out->first_seq = st->first_seq;
	out->last_seq = st->last_seq;
	out->msgs = st->msgs;
	out->bytes = st->bytes;
	out->num_subjects = st->subjects.count;
	if (st->msgs == 0)
		return;
	out->num_deleted = st->last_seq - st->first_seq + 1 - st->msgs;
	out->first_ts_ns = st->slots[st->head].ts_ns;
	for (size_t i = st->nslots; i-- > st->head;)
		if (st->slots[i].subj != NULL) {
			out->last_ts_ns = st->slots[i].ts_ns;
			break;
		}
}

void store_each_deleted(const struct store *st,
			void (*cb)(void *arg, uint64_t seq), void *arg)
{
	if (st->msgs == 0)
		return;
	uint64_t next = st->first_seq;
	for (size_t i = st->head; i < st->nslots; i++) {
		const struct store_slot *sl = &st->slots[i];
		if (sl->subj == NULL)
			continue;
		for (; next < sl->seq; next++)
			cb(arg, next);
		next = sl->seq + 1;
	}
	for (; next <= st->last_seq; next++)
		cb(arg, next);
}

static int subj_cmp(const void *a, const void *b)
{
	const struct store_subj *x = *(struct store_subj *const *)a;
	const struct store_subj *y = *(struct store_subj *const *)b;
	int c = memcmp(x->name, y->name, MIN(x->len, y->len));
	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

void store_each_subject(const struct store *st, const char *filter,
			size_t filter_len,
			void (*cb)(void *arg, const char *subject, size_t len,
				   uint64_t msgs, uint64_t first, uint64_t last),
			void *arg)
{
	size_t n = 0, pos = 0;
	struct hmap_entry *he;
	struct store_subj **v = mem_calloc(st->mem, st->subjects.count + 1,
					   sizeof(*v));
	if (v == NULL)
		return;
	while ((he = hmap_next(&st->subjects, &pos)) != NULL)
		if (subj_matches(he->value, filter, filter_len))
			v[n++] = he->value;
	qsort(v, n, sizeof(*v), subj_cmp);
	for (size_t i = 0; i < n; i++)
		cb(arg, v[i]->name, v[i]->len, v[i]->msgs, v[i]->first, v[i]->last);
	mem_free(st->mem, v);
}

uint64_t store_num_pending(const struct store *st, uint64_t start,
			   const char *filter, size_t filter_len,
			   bool last_per_subject)
{
	uint64_t n = 0;
	size_t pos = 0;
	struct hmap_entry *he;
	/* Unfiltered and without interior deletes, every slot from start on
	 * is a message: a consumer asks this for every message it delivers,
	 * so the answer must not cost a scan. */
	if (!last_per_subject && filter_is_all(filter, filter_len)) {
		if (start <= st->first_seq)
			return st->msgs;
		if (st->dead_slots == 0)
			return st->nslots - slot_lower_bound(st, start);
	}
	if (last_per_subject || start <= st->first_seq) {
		while ((he = hmap_next(&st->subjects, &pos)) != NULL) {
			const struct store_subj *sj = he->value;
			if (!subj_matches(sj, filter, filter_len) || sj->last < start)
				continue;
			n += last_per_subject ? 1 : sj->msgs;
		}
		return n;
	}
	for (size_t i = slot_lower_bound(st, start); i < st->nslots; i++) {
		const struct store_slot *sl = &st->slots[i];
		if (sl->subj != NULL && subj_matches(sl->subj, filter, filter_len))
			n++;
	}
	return n;
}

/* ------------------------------------------------------- invariants */

static bool fail(char *why, size_t cap, const char *text, uint64_t a,
		 uint64_t b)
{
	if (why != NULL && cap > 0)
		snprintf(why, cap, "%s (%llu vs %llu)", text,
			 (unsigned long long)a, (unsigned long long)b);
	return false;
}

/* One pass over the slots with a tally kept in each subject. */
static bool invariants_subjects(const struct store *st, char *why, size_t cap)
{
	size_t pos = 0;
	struct hmap_entry *he;
	uint64_t sum = 0;
	while ((he = hmap_next(&st->subjects, &pos)) != NULL) {
		struct store_subj *sj = he->value;
		sj->chk_msgs = sj->chk_first = sj->chk_last = 0;
	}
	for (size_t i = st->head; i < st->nslots; i++) {
		struct store_subj *sj = st->slots[i].subj;
		if (sj == NULL)
			continue;
		if (sj->chk_msgs++ == 0)
			sj->chk_first = st->slots[i].seq;
		sj->chk_last = st->slots[i].seq;
	}
	pos = 0;
	while ((he = hmap_next(&st->subjects, &pos)) != NULL) {
		const struct store_subj *sj = he->value;
		if (sj->chk_msgs != sj->msgs || sj->msgs == 0)
			return fail(why, cap, "subject count", sj->chk_msgs, sj->msgs);
		if (sj->chk_first != sj->first)
			return fail(why, cap, "subject first", sj->chk_first, sj->first);
		if (sj->chk_last != sj->last)
			return fail(why, cap, "subject last", sj->chk_last, sj->last);
		sum += sj->msgs;
	}
	if (sum != st->msgs)
		return fail(why, cap, "subjects sum", sum, st->msgs);
	return true;
}

bool store_invariants(const struct store *st, char *why, size_t why_len)
{
	uint64_t msgs = 0, bytes = 0, prev = 0, dead = 0;
	for (size_t i = st->head; i < st->nslots; i++) {
		const struct store_slot *sl = &st->slots[i];
		if (i > st->head && sl->seq <= prev)
			return fail(why, why_len, "slots out of order", sl->seq, prev);
		prev = sl->seq;
		if (sl->subj == NULL) {
			dead++;
			continue;
		}
		if (msgs++ == 0 && sl->seq != st->first_seq)
			return fail(why, why_len, "first_seq", sl->seq, st->first_seq);
		if (sl->seq > st->last_seq)
			return fail(why, why_len, "seq past last", sl->seq, st->last_seq);
		bytes += slot_size(st, sl);
	}
	if (msgs != st->msgs)
		return fail(why, why_len, "msgs", msgs, st->msgs);
	if (bytes != st->bytes)
		return fail(why, why_len, "bytes", bytes, st->bytes);
	if (dead != st->dead_slots)
		return fail(why, why_len, "dead slots", dead, st->dead_slots);
	if (msgs == 0 && st->first_seq != st->last_seq + 1)
		return fail(why, why_len, "empty first/last", st->first_seq,
			    st->last_seq);
	if (msgs > 0 && st->last_seq - st->first_seq + 1 < msgs)
		return fail(why, why_len, "span", st->last_seq, msgs);
	return invariants_subjects(st, why, why_len);
}

/* ------------------------------------------------------ metadata files */

/* Layout: magic u32, reserved u32, length u64, the bytes, then the
 * checksum u64 of the bytes seeded with their length. */
static int meta_write_file(struct env *env, const char *path, const void *data,
			   size_t len)
{
	uint8_t hdr[META_HDR], tail[8];
	store_put_u32(hdr, META_MAGIC);
	store_put_u32(hdr + 4, 0);
	store_put_u64(hdr + 8, len);
	store_put_u64(tail, store_checksum(data, len) ^ len);
	int f = env->file_open(env, path, ENV_O_WRITE | ENV_O_CREATE | ENV_O_TRUNC);
	if (f < 0)
		return f == ENV_ENOSPC ? STORE_ERR_NOSPC : STORE_ERR_IO;
	const struct { const void *p; size_t n; uint64_t off; } parts[3] = {
		{ hdr, META_HDR, 0 }, { data, len, META_HDR },
		{ tail, 8, META_HDR + len },
	};
	int rc = 0;
	for (int i = 0; i < 3 && rc == 0; i++) {
		size_t done = 0;
		while (done < parts[i].n && rc == 0) {
			long w = env->file_pwrite(env, f, (const uint8_t *)parts[i].p + done,
						  parts[i].n - done, parts[i].off + done);
			if (w <= 0)
				rc = w == ENV_ENOSPC ? STORE_ERR_NOSPC : STORE_ERR_IO;
			else
				done += (size_t)w;
		}
	}
	if (rc == 0 && env->file_sync(env, f) != 0)
		rc = STORE_ERR_IO;
	env->file_close(env, f);
	return rc;
}

int store_meta_write(struct env *env, const char *path, const void *data,
		     size_t len)
{
	char tmp[1024];
	if (env == NULL || path == NULL || (data == NULL && len > 0))
		return STORE_ERR_INVALID;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return STORE_ERR_INVALID;
	int rc = meta_write_file(env, tmp, data, len);
	if (rc != 0) {
		env->file_remove(env, tmp);
		return rc;
	}
	if (env->file_rename(env, tmp, path) != 0) {
		env->file_remove(env, tmp);
		return STORE_ERR_IO;
	}
	return 0;
}

static int meta_read_all(struct env *env, int f, struct buf *out, size_t n)
{
	buf_reset(out);
	if (!buf_reserve(out, n))
		return STORE_ERR_NOMEM;
	size_t done = 0;
	while (done < n) {
		long r = env->file_pread(env, f, out->data + done, n - done, done);
		if (r <= 0)
			return STORE_ERR_IO;
		done += (size_t)r;
	}
	out->len = n;
	return 0;
}

int store_meta_read(struct env *env, const char *path, struct buf *out)
{
	if (env == NULL || path == NULL || out == NULL)
		return STORE_ERR_INVALID;
	int f = env->file_open(env, path, ENV_O_READ);
	if (f < 0)
		return f == ENV_ENOENT ? STORE_ERR_NOT_FOUND : STORE_ERR_IO;
	int64_t size = env->file_size(env, f);
	int rc = 0;
	if (size < META_HDR + 8 || size > (int64_t)1 << 30)
		rc = size < 0 ? STORE_ERR_IO : STORE_ERR_CORRUPT;
	if (rc == 0)
		rc = meta_read_all(env, f, out, (size_t)size);
	env->file_close(env, f);
	if (rc != 0) {
		buf_reset(out);
		return rc;
	}
	const uint8_t *p = (const uint8_t *)out->data;
	uint64_t len = store_get_u64(p + 8);
	if (store_get_u32(p) != META_MAGIC || len != (uint64_t)size - META_HDR - 8 ||
	    store_get_u64(p + META_HDR + len) !=
	    (store_checksum(p + META_HDR, len) ^ len)) {
		buf_reset(out);
		return STORE_ERR_CORRUPT;
	}
	memmove(out->data, out->data + META_HDR, len);
	out->len = len;
	out->data[len] = '\0';
	return 0;
}
