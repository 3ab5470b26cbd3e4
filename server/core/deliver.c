/*
 * deliver.c - routing one message through an account: match the sublist,
 * hand the message to every plain subscription and to one member of each
 * queue group.  A subscription is a client's (written to its connection),
 * a shadow (a client of an importing account, with the subject mapped
 * back, see account.h), internal (a C callback, see internal.h) or a leaf
 * connection's interest (leaf.h).
 *
 * Leaf subscriptions are not written one by one: they are collected as
 * targets and each leaf connection gets one copy of the message, naming
 * the queue groups (on the far side) the copy is meant for.  As in the
 * reference, a queue group prefers a local member and falls back to a leaf
 * member; a message that arrived from a leaf reaches local queue groups
 * only when its sender named them.
 *
 * The nesting depth of deliveries is bounded by INTERNAL_MAX_DEPTH:
 * callbacks and imports route messages too, and a cycle of imports must
 * end.  Match results are reference counted, so a callback that changes
 * the sublist does not disturb the loop that called it.
 */
#include <string.h>

#include "../lib/assert.h"
#include "../proto/peer_proto.h"
#include "internal.h"
#include "leaf.h"
#include "server_int.h"

#define DELIVER_TARGETS_INLINE 16

/* One delivery in progress: who sent it and the leaf copies to make. */
struct deliver_ctx {
	struct conn *pub;              /* publishing client, or NULL */
	struct leaf *src;              /* leaf it arrived from, or NULL */
	const struct peer_slice *qfilter; /* from a leaf: groups it named */
	size_t nqfilter;
	struct sub **targets;          /* leaf subs chosen, in order */
	size_t ntargets, cap;
	struct sub *inline_targets[DELIVER_TARGETS_INLINE];
};

void deliver_defer_free(struct server *s, struct sub *sub)
{
	ASSERT(!sub->removed);
	sub->removed = true;
	sub->next_free = s->dead_subs;
	s->dead_subs = sub;
}

/* A shadow: delivered to its client only for messages that did not come
 * through a service import (the reference does not re-export those). */
static bool deliver_shadow(struct server *s, struct account *acc,
			   struct conn *pub, struct sub *sub,
			   const struct pubmsg *m, unsigned flags)
{
	if (flags & DELIVER_FROM_SERVICE)
		return false;
	struct buf tmp;
	buf_init(&tmp, &s->mem);
	const char *subj = m->deliver;
	size_t len = m->deliver_len;
	bool ok = subj != NULL ||
		  account_shadow_subject(sub, m, &tmp, &subj, &len);
	struct sub *parent = sub->parent;
	if (ok && parent->icb != NULL) {
		/* An internal subscription of the importing account. */
		if (!parent->removed) {
			struct pubmsg im = *m;
			im.subject = subj;
			im.subject_len = len;
			im.deliver = NULL;
			im.deliver_len = 0;
			parent->icb(parent->icb_arg, parent, pub, acc, &im);
		}
	} else if (ok) {
		ok = conn_deliver(pub, sub, subj, len, m);
	}
	buf_free(&tmp);
	return ok;
}

/* Remembers a leaf subscription; the copy is written after the match. */
static bool deliver_add_target(struct server *s, struct deliver_ctx *d,
			       struct sub *sub)
{
	if (!leaf_may_forward(d->src, leaf_of_sub(sub)))
		return false;
	if (d->ntargets == d->cap) {
		size_t cap = d->cap * 2;
		struct sub **t = d->targets == d->inline_targets
					 ? mem_alloc(&s->mem, cap * sizeof(*t))
					 : mem_realloc(&s->mem, d->targets,
						       cap * sizeof(*t));
		if (t == NULL)
			return false;
		if (d->targets == d->inline_targets)
			memcpy(t, d->targets, d->ntargets * sizeof(*t));
		d->targets = t;
		d->cap = cap;
	}
	d->targets[d->ntargets++] = sub;
	return true;
}

static bool deliver_sub(struct server *s, struct account *acc,
			struct deliver_ctx *d, struct sub *sub,
			const struct pubmsg *m, unsigned flags)
{
	if (sub->removed)
		return false;
	if (leaf_of_sub(sub) != NULL)
		return deliver_add_target(s, d, sub);
	if (sub->icb != NULL) {
		if (m->deliver == NULL || sub->forwards) {
			sub->icb(sub->icb_arg, sub, d->pub, acc, m);
		} else {
			struct pubmsg dm = *m;
			dm.subject = m->deliver;
			dm.subject_len = m->deliver_len;
			dm.deliver = NULL;
			dm.deliver_len = 0;
			sub->icb(sub->icb_arg, sub, d->pub, acc, &dm);
		}
		return true;
	}
	if (sub->parent != NULL)
		return deliver_shadow(s, acc, d->pub, sub, m, flags);
	if (m->deliver != NULL)
		return conn_deliver(d->pub, sub, m->deliver, m->deliver_len, m);
	return conn_deliver(d->pub, sub, m->subject, m->subject_len, m);
}

/* A message from a leaf goes to a local queue group only if the sender
 * listed the group's name. */
static bool deliver_group_wanted(const struct deliver_ctx *d,
				 const struct sublist_qgroup *g)
{
	if (d->src == NULL)
		return true;
	for (size_t i = 0; i < d->nqfilter; i++)
		if (d->qfilter[i].len == g->queue_len &&
		    memcmp(d->qfilter[i].ptr, g->queue, g->queue_len) == 0)
			return true;
	return false;
}

/* One member of a queue group, chosen at random among those that can take
 * the message (open, and not the publisher itself when echo is off).  A
 * local member is preferred; a leaf member is the fallback. */
static bool deliver_queue(struct server *s, struct account *acc,
			  struct deliver_ctx *d, const struct sublist_qgroup *g,
			  const struct pubmsg *m, unsigned flags)
{
	if (g->nsubs == 0 || !deliver_group_wanted(d, g))
		return false;
	struct sub *fallback = NULL;
	size_t start = (size_t)prng_below(&s->prng, g->nsubs);
	for (size_t i = 0; i < g->nsubs; i++) {
		struct sub *sub = g->subs[(start + i) % g->nsubs];
		if (leaf_of_sub(sub) != NULL) {
			if (fallback == NULL && !sub->removed &&
			    leaf_may_forward(d->src, leaf_of_sub(sub)))
				fallback = sub;
			continue;
		}
		if (deliver_sub(s, acc, d, sub, m, flags))
			return true;
	}
	return fallback != NULL && deliver_add_target(s, d, fallback);
}

/* Writes one copy per leaf connection, naming the queue groups of all its
 * targets. */
static void deliver_to_leafs(struct server *s, struct deliver_ctx *d,
			     const struct pubmsg *m)
{
	struct buf queues;
	buf_init(&queues, &s->mem);
	for (size_t i = 0; i < d->ntargets; i++) {
		struct leaf *l = leaf_of_sub(d->targets[i]);
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = leaf_of_sub(d->targets[j]) == l;
		if (seen)
			continue;
		buf_reset(&queues);
		size_t nq = 0;
		for (size_t j = i; j < d->ntargets; j++) {
			const struct sub *t = d->targets[j];
			if (leaf_of_sub(t) != l || t->queue == NULL)
				continue;
			if (nq++ > 0)
				buf_append_char(&queues, ' ');
			buf_append(&queues, t->queue, t->queue_len);
		}
		if (queues.oom)
			continue;
		leaf_send_msg(l, m, queues.data, queues.len, nq);
	}
	buf_free(&queues);
}

static bool deliver_run(struct server *s, struct account *acc,
			struct deliver_ctx *d, const struct pubmsg *m,
			unsigned flags)
{
	if (s->deliver_depth >= INTERNAL_MAX_DEPTH)
		return false;
	struct sublist_result *r = sublist_match(acc->sl, m->subject,
						 m->subject_len);
	if (r == NULL)
		return false;
	d->targets = d->inline_targets;
	d->ntargets = 0;
	d->cap = DELIVER_TARGETS_INLINE;
	/* A nested delivery (callback, import) has its own message: save
	 * the outer one's parts and put them back after. */
	struct cp_msg_parts parts;
	parts.rendered = false;
	struct cp_msg_parts *outer_parts = s->msg_parts;
	const struct pubmsg *outer_for = s->msg_parts_for;
	s->msg_parts = &parts;
	s->msg_parts_for = m;
	s->deliver_depth++;
	bool delivered = false;
	for (size_t i = 0; i < r->npsubs; i++)
		delivered |= deliver_sub(s, acc, d, r->psubs[i], m, flags);
	for (size_t i = 0; i < r->nqgroups; i++)
		delivered |= deliver_queue(s, acc, d, &r->qgroups[i], m, flags);
	if (d->ntargets > 0)
		deliver_to_leafs(s, d, m);
	s->deliver_depth--;
	s->msg_parts = outer_parts;
	s->msg_parts_for = outer_for;
	sublist_result_release(acc->sl, r);
	if (d->targets != d->inline_targets)
		mem_free(&s->mem, d->targets);
	return delivered;
}

bool deliver_msg(struct server *s, struct account *acc, struct conn *pub,
		 const struct pubmsg *m, unsigned flags)
{
	struct deliver_ctx d = { .pub = pub };
	return deliver_run(s, acc, &d, m, flags);
}

bool deliver_msg_from_leaf(struct server *s, struct account *acc,
			   struct leaf *src, const struct pubmsg *m,
			   const struct peer_slice *queues, size_t nqueues)
{
	ASSERT(src != NULL);
	struct deliver_ctx d = { .src = src, .qfilter = queues,
				 .nqfilter = nqueues };
	return deliver_run(s, acc, &d, m, 0);
}
