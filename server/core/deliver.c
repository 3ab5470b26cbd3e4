/*
 * deliver.c - routing one message through an account: match the sublist,
 * hand the message to every plain subscription and to one member of each
 * queue group.  A subscription is a client's (written to its connection),
 * a shadow (a client of an importing account, with the subject mapped
 * back, see account.h) or internal (a C callback, see internal.h).
 *
 * The nesting depth of deliveries is bounded by INTERNAL_MAX_DEPTH:
 * callbacks and imports route messages too, and a cycle of imports must
 * end.  Match results are reference counted, so a callback that changes
 * the sublist does not disturb the loop that called it.
 */
#include <string.h>

#include "../lib/assert.h"
#include "internal.h"
#include "server_int.h"

void deliver_defer_free(struct server *s, struct sub *sub)
{
	ASSERT(!sub->removed);
	sub->removed = true;
	sub->next_free = s->dead_subs;
	s->dead_subs = sub;
}

/* A shadow: delivered to its client only for messages that did not come
 * through a service import (the reference does not re-export those). */
static bool deliver_shadow(struct server *s, struct conn *pub, struct sub *sub,
			   const struct pubmsg *m, unsigned flags)
{
	if (flags & DELIVER_FROM_SERVICE)
		return false;
	struct buf tmp;
	buf_init(&tmp, &s->mem);
	const char *subj;
	size_t len;
	bool ok = account_shadow_subject(sub, m, &tmp, &subj, &len) &&
		  conn_deliver(pub, sub, subj, len, m);
	buf_free(&tmp);
	return ok;
}

static bool deliver_sub(struct server *s, struct account *acc, struct conn *pub,
			struct sub *sub, const struct pubmsg *m, unsigned flags)
{
	if (sub->removed)
		return false;
	if (sub->icb != NULL) {
		sub->icb(sub->icb_arg, sub, pub, acc, m);
		return true;
	}
	if (sub->parent != NULL)
		return deliver_shadow(s, pub, sub, m, flags);
	return conn_deliver(pub, sub, m->subject, m->subject_len, m);
}

/* One member of a queue group, chosen at random among those that can take
 * the message (open, and not the publisher itself when echo is off). */
static bool deliver_queue(struct server *s, struct account *acc, struct conn *pub,
			  const struct sublist_qgroup *g, const struct pubmsg *m,
			  unsigned flags)
{
	if (g->nsubs == 0)
		return false;
	size_t start = (size_t)prng_below(&s->prng, g->nsubs);
	for (size_t i = 0; i < g->nsubs; i++) {
		struct sub *sub = g->subs[(start + i) % g->nsubs];
		if (deliver_sub(s, acc, pub, sub, m, flags))
			return true;
	}
	return false;
}

bool deliver_msg(struct server *s, struct account *acc, struct conn *pub,
		 const struct pubmsg *m, unsigned flags)
{
	if (s->deliver_depth >= INTERNAL_MAX_DEPTH)
		return false;
	struct sublist_result *r = sublist_match(acc->sl, m->subject,
						 m->subject_len);
	if (r == NULL)
		return false;
	s->deliver_depth++;
	bool delivered = false;
	for (size_t i = 0; i < r->npsubs; i++)
		delivered |= deliver_sub(s, acc, pub, r->psubs[i], m, flags);
	for (size_t i = 0; i < r->nqgroups; i++)
		delivered |= deliver_queue(s, acc, pub, &r->qgroups[i], m, flags);
	s->deliver_depth--;
	sublist_result_release(acc->sl, r);
	return delivered;
}
