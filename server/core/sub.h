/*
 * sub.h - a subscription as the routing layer sees it.
 *
 * A struct sub is owned by the connection that created it; the sublist only
 * keeps pointers and reads subject and queue.  It is embedded-visible (not
 * opaque) because the sublist, the connection and delivery all touch it.
 */
#ifndef CORE_SUB_H
#define CORE_SUB_H

#include <stddef.h>
#include <stdint.h>

struct conn;

struct sub {
	char *subject;          /* owned, NUL-terminated */
	size_t subject_len;
	char *queue;            /* owned queue group name, or NULL */
	size_t queue_len;
	char *sid;              /* owned subscription id as the client sent it */
	size_t sid_len;
	struct conn *conn;      /* the owner */
	uint64_t delivered;     /* messages delivered so far */
	uint64_t max_msgs;      /* auto-unsubscribe after this many; 0 = none */
	void *origin;           /* NULL for clients; the route/leaf link it came from */
	int32_t queue_weight;   /* for remote queue subs (route/leaf), else 1 */
	struct sub *next_free;  /* owner's deferred-free list once removed */
};

#endif
