/*
 * perms.h - a connection's publish and subscribe permissions, compiled
 * from a user's (or the default) permissions block, as nats-server 2.9.10
 * applies them.
 *
 * Publish: an allow list (absent = everything) then a deny list; answers
 * are cached per connection (at most PERMS_PUB_CACHE_MAX subjects, pruned a
 * few at a time).  With allow_responses the connection may also publish to
 * reply subjects of messages it received, up to max responses each and
 * until they expire.  Subscribe: allow and deny lists whose entries may
 * name a queue group ("subject queue").  A wildcard subscription that
 * overlaps a deny entry is allowed, but messages on denied subjects are then
 * filtered at delivery.
 *
 * A struct perms is owned by one connection and reached only from the loop.
 */
#ifndef CORE_PERMS_H
#define CORE_PERMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/json.h"
#include "../lib/mem.h"
#include "opts.h"

#define PERMS_PUB_CACHE_MAX 128
#define PERMS_DENY_CACHE_MAX 256
#define PERMS_REPLIES_MAX 4096

struct perms;

/* NULL when o is NULL or sets nothing (no restrictions).  *oom is set when
 * memory ran out (the caller refuses the connection then). */
struct perms *perms_new(struct mem *mem, uint64_t seed,
			const struct opts_permissions *o, bool *oom);
void perms_free(struct perms *p);

/* May the connection publish to subject?  now_ns is monotonic time, used
 * for response permissions. */
bool perms_pub_allowed(struct perms *p, const char *subject, size_t len,
		       int64_t now_ns);
/* May it subscribe to subject (queue may be NULL)?  Arms the delivery
 * filter when a wildcard subscription overlaps the deny list. */
bool perms_sub_allowed(struct perms *p, const char *subject, size_t len,
		       const char *queue, size_t queue_len);
/* True when a message on the literal subject must not be delivered to
 * this connection (deny entries under a broader wildcard subscription). */
bool perms_deliver_denied(struct perms *p, const char *subject, size_t len);
/* A message with this reply subject was delivered to the connection. */
void perms_track_reply(struct perms *p, const char *reply, size_t len,
		       int64_t now_ns);
/* Forget the delivery filter (a reload re-arms it through
 * perms_sub_allowed). */
void perms_reset_deliver_filter(struct perms *p);

/* Writes the permissions as the value of the current key, shaped like the
 * reference's ({"publish":{...},"subscribe":{...},"responses":{...}}). */
void perms_write_json(const struct opts_permissions *o, struct jw *w);

#endif
