/*
 * internal.c - internal subscriptions and publishes (see internal.h).
 *
 * Owns the queue of messages sent with internal_send: each entry is one
 * allocation holding subject, reply, header and payload, delivered in FIFO
 * order by internal_drain at the end of the loop turn.  Draining may queue
 * more (an event caused by a delivery); the loop runs until the queue is
 * empty, which terminates because only finitely many connections can close.
 */
#include <string.h>

#include "../lib/assert.h"
#include "account.h"
#include "internal.h"
#include "leaf.h"
#include "server_int.h"
#include "subject.h"

struct isend {
	struct isend *next;
	struct account *acc;
	size_t subject_len, reply_len, shown_len, hdr_len, data_len;
	bool has_shown;
	char bytes[];           /* subject NUL reply NUL shown NUL header payload */
};

struct sub *internal_subscribe(struct server *s, struct account *acc,
			       const char *subject, const char *queue,
			       sub_msg_cb cb, void *arg)
{
	ASSERT(cb != NULL && acc != NULL);
	size_t len = strlen(subject);
	if (!subject_is_valid(subject, len))
		return NULL;
	struct sub *sub = mem_calloc(&s->mem, 1, sizeof(*sub));
	if (sub == NULL)
		return NULL;
	sub->subject = mem_strndup(&s->mem, subject, len);
	sub->subject_len = len;
	sub->sid = mem_strdup(&s->mem, "");
	sub->queue_weight = 1;
	if (queue != NULL) {
		sub->queue = mem_strdup(&s->mem, queue);
		sub->queue_len = strlen(queue);
	}
	sub->acc = acc;
	sub->icb = cb;
	sub->icb_arg = arg;
	if (sub->subject == NULL || sub->sid == NULL ||
	    (queue != NULL && sub->queue == NULL) ||
	    sublist_insert(acc->sl, sub) != SUBLIST_OK) {
		conn_free_sub(s, sub);
		return NULL;
	}
	acc->internal_subs++;
	s->internal_subs++;
	leaf_interest_added(s, acc, sub);
	/* Stream imports reach internal subscriptions too (a mirror or
	 * source fed through an imported deliver subject). */
	if (!account_add_shadows(s, acc, sub)) {
		internal_unsubscribe(s, sub);
		return NULL;
	}
	return sub;
}

void internal_unsubscribe(struct server *s, struct sub *sub)
{
	if (sub == NULL || sub->removed)
		return;
	ASSERT(sub->icb != NULL);
	int rc = sublist_remove(sub->acc->sl, sub);
	ASSERT(rc == SUBLIST_OK);
	if (sub->nshadows > 0)
		account_remove_shadows(s, sub);
	leaf_interest_removed(s, sub->acc, sub);
	sub->acc->internal_subs--;
	s->internal_subs--;
	deliver_defer_free(s, sub);
}

bool internal_publish(struct server *s, struct account *acc,
		      const char *subject, const char *reply,
		      const void *hdr, size_t hdr_len,
		      const void *data, size_t len)
{
	return internal_publish_as(s, acc, subject, NULL, reply, hdr, hdr_len,
				   data, len);
}

bool internal_publish_as(struct server *s, struct account *acc,
			 const char *subject, const char *shown,
			 const char *reply, const void *hdr, size_t hdr_len,
			 const void *data, size_t len)
{
	if (acc == NULL || acc->removed)
		return false;
	struct pubmsg m = { subject, strlen(subject), reply ? reply : "",
			    reply ? strlen(reply) : 0, NULL, hdr_len,
			    hdr_len + len, shown, shown ? strlen(shown) : 0 };
	char *joined = NULL;
	if (hdr_len > 0 && len > 0) {
		/* Header and payload must be contiguous for delivery. */
		joined = mem_alloc(&s->mem, hdr_len + len);
		if (joined == NULL)
			return false;
		memcpy(joined, hdr, hdr_len);
		memcpy(joined + hdr_len, data, len);
		m.data = joined;
	} else {
		m.data = hdr_len > 0 ? hdr : data;
	}
	if (m.data == NULL)
		m.data = "";
	bool delivered = deliver_msg(s, acc, NULL, &m, 0);
	mem_free(&s->mem, joined);
	return delivered;
}

void internal_send(struct server *s, struct account *acc,
		   const char *subject, const char *reply,
		   const void *hdr, size_t hdr_len,
		   const void *data, size_t len)
{
	internal_send_as(s, acc, subject, NULL, reply, hdr, hdr_len, data, len);
}

void internal_send_as(struct server *s, struct account *acc,
		      const char *subject, const char *shown,
		      const char *reply, const void *hdr, size_t hdr_len,
		      const void *data, size_t len)
{
	if (acc == NULL)
		return;
	size_t sl = strlen(subject), rl = reply ? strlen(reply) : 0;
	size_t shl = shown ? strlen(shown) : 0;
	struct isend *e = mem_alloc(&s->mem, sizeof(*e) + sl + rl + shl + 3 +
					     hdr_len + len);
	if (e == NULL)
		return; /* best effort, like the reference's bounded send queue */
	e->next = NULL;
	e->acc = acc;
	e->subject_len = sl;
	e->reply_len = rl;
	e->shown_len = shl;
	e->has_shown = shown != NULL;
	e->hdr_len = hdr_len;
	e->data_len = len;
	char *p = e->bytes;
	memcpy(p, subject, sl + 1);
	p += sl + 1;
	if (rl > 0)
		memcpy(p, reply, rl);
	p[rl] = '\0';
	p += rl + 1;
	if (shl > 0)
		memcpy(p, shown, shl);
	p[shl] = '\0';
	p += shl + 1;
	if (hdr_len > 0)
		memcpy(p, hdr, hdr_len);
	if (len > 0)
		memcpy(p + hdr_len, data, len);
	if (s->send_tail != NULL)
		s->send_tail->next = e;
	else
		s->send_head = e;
	s->send_tail = e;
}

void internal_drain(struct server *s)
{
	while (s->send_head != NULL) {
		struct isend *e = s->send_head;
		s->send_head = e->next;
		if (s->send_head == NULL)
			s->send_tail = NULL;
		const char *subject = e->bytes;
		const char *reply = subject + e->subject_len + 1;
		const char *shown = reply + e->reply_len + 1;
		const char *body = shown + e->shown_len + 1;
		struct pubmsg m = { subject, e->subject_len, reply, e->reply_len,
				    body, e->hdr_len, e->hdr_len + e->data_len,
				    e->has_shown ? shown : NULL, e->shown_len };
		if (!e->acc->removed)
			deliver_msg(s, e->acc, NULL, &m, 0);
		mem_free(&s->mem, e);
	}
}

void internal_discard(struct server *s)
{
	while (s->send_head != NULL) {
		struct isend *e = s->send_head;
		s->send_head = e->next;
		mem_free(&s->mem, e);
	}
	s->send_tail = NULL;
}
