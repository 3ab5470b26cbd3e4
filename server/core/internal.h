/*
 * internal.h - the server's own subscriptions and publishes.
 *
 * An internal subscription sits in an account's sublist like a client's,
 * but a matching message calls a C function instead of being written to a
 * socket.  An internal publish routes a message through an account exactly
 * like a client publish does (client subscriptions, stream-import shadows,
 * service imports and other internal subscriptions), without permissions
 * or mappings.  The system account's events and requests, service imports
 * and JetStream's API all sit on these two operations.
 *
 * Re-entrancy: a callback runs inside a delivery.  It may subscribe,
 * unsubscribe (even its own sub) and call internal_publish, which delivers
 * at once (nested; the nesting depth is bounded, which also breaks import
 * cycles).  Code that is not inside a delivery but must not deliver now
 * (for example while a connection is being closed) uses internal_send,
 * which copies the message and delivers it at the end of the loop turn, in
 * order.
 */
#ifndef CORE_INTERNAL_H
#define CORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "sub.h"

struct server;
struct account;

/* Deeper nesting of deliveries (imports of imports, callbacks publishing)
 * is dropped: it can only come from a cycle. */
#define INTERNAL_MAX_DEPTH 8

/* Subscribes in acc on subject (wildcards allowed) with an optional queue
 * group.  Returns the subscription, or NULL when the subject is invalid or
 * memory ran out.  The caller owns it until internal_unsubscribe. */
struct sub *internal_subscribe(struct server *s, struct account *acc,
			       const char *subject, const char *queue,
			       sub_msg_cb cb, void *arg);
/* Removes sub; its memory is freed at the end of the loop turn.  NULL is
 * accepted. */
void internal_unsubscribe(struct server *s, struct sub *sub);

/* Delivers now in acc.  hdr (may be NULL) is a complete header block
 * ("NATS/1.0\r\n...\r\n\r\n").  Returns whether anyone took it. */
bool internal_publish(struct server *s, struct account *acc,
		      const char *subject, const char *reply,
		      const void *hdr, size_t hdr_len,
		      const void *data, size_t len);
/* Like internal_publish, but shown (when not NULL) is the subject the
 * receivers see: a JetStream delivery routed by its deliver subject. */
bool internal_publish_as(struct server *s, struct account *acc,
			 const char *subject, const char *shown,
			 const char *reply, const void *hdr, size_t hdr_len,
			 const void *data, size_t len);
/* Copies the message and delivers it at the end of the loop turn. */
void internal_send(struct server *s, struct account *acc,
		   const char *subject, const char *reply,
		   const void *hdr, size_t hdr_len,
		   const void *data, size_t len);
/* internal_send with a shown subject (see internal_publish_as). */
void internal_send_as(struct server *s, struct account *acc,
		      const char *subject, const char *shown,
		      const char *reply, const void *hdr, size_t hdr_len,
		      const void *data, size_t len);
/* Delivers everything internal_send queued (the server's turn end). */
void internal_drain(struct server *s);
/* Drops what is queued (shutdown). */
void internal_discard(struct server *s);

#endif
