/*
 * sub.h - a subscription as the routing layer sees it, and the message a
 * delivery carries.
 *
 * Three kinds share struct sub, because the sublist and delivery treat
 * them alike:
 *   - a client subscription: conn is the owner, icb and parent are NULL;
 *   - an internal subscription: icb is set, conn is NULL; the server (or a
 *     subsystem such as JetStream) owns it (internal.h);
 *   - a shadow: the copy of a client subscription placed in an exporting
 *     account for a stream import; parent is the client subscription, im
 *     says how subjects map back, sid and queue are borrowed from parent.
 * The sublist only keeps pointers and reads subject and queue.  A removed
 * sub is freed at the end of the loop turn, never at once, because a
 * delivery may still hold a match result pointing to it.
 */
#ifndef CORE_SUB_H
#define CORE_SUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct account;
struct sub;
struct stream_import;

/* One message on its way through an account.  data holds the header block
 * (header_len bytes, 0 without headers) followed by the payload; total_len
 * covers both.  Everything is borrowed for the duration of the delivery. */
struct pubmsg {
	const char *subject;
	size_t subject_len;
	const char *reply;
	size_t reply_len;
	const char *data;
	size_t header_len;
	size_t total_len;
	/* JetStream deliveries: routed by subject (a deliver subject or an
	 * inbox) but shown to the receiver as deliver (the stored message's
	 * subject), like the reference's pa.deliver.  NULL = subject. */
	const char *deliver;
	size_t deliver_len;
};

/* An internal subscription's callback.  from is the client that published
 * (NULL for a message the server published itself); acc is the account
 * whose sublist matched.  It runs inside the delivery: it may subscribe,
 * unsubscribe and publish (internal.h says how), but must not free sub. */
typedef void (*sub_msg_cb)(void *arg, struct sub *sub, struct conn *from,
			   struct account *acc, const struct pubmsg *m);

struct sub {
	char *subject;          /* owned, NUL-terminated */
	size_t subject_len;
	char *queue;            /* owned queue group name, or NULL */
	size_t queue_len;
	char *sid;              /* owned subscription id as the client sent it */
	size_t sid_len;
	struct conn *conn;      /* the owner (client and shadow subs), or NULL */
	uint64_t delivered;     /* messages delivered so far */
	uint64_t max_msgs;      /* auto-unsubscribe after this many; 0 = none */
	void *origin;           /* NULL for clients; the route/leaf link it came from */
	int32_t queue_weight;   /* for remote queue subs (route/leaf), else 1 */
	struct sub *next_free;  /* owner's deferred-free list once removed */

	struct account *acc;    /* the account whose sublist holds it */
	sub_msg_cb icb;         /* internal subscription callback, or NULL */
	void *icb_arg;
	struct sub *parent;     /* shadow: the client subscription */
	const struct stream_import *im; /* shadow: the import it serves */
	struct sub **shadows;   /* client sub: its shadows (owned array) */
	uint32_t nshadows;
	bool removed;           /* no longer in any sublist */
	bool forwards;          /* internal: routes the message on (a service
				 * import), so it gets a JetStream delivery's
				 * routing subject and keeps its deliver */
};

#endif
