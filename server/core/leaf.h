/*
 * leaf.h - leaf node connections, both the accepting side (the
 * `leafnodes { port }` listener) and the soliciting side (`leafnodes {
 * remotes [...] }`), speaking nats-server 2.9.10's leaf protocol.
 *
 * A leaf connection is bound to one account.  Interest it announces (LS+)
 * becomes subscriptions in that account's sublist owned by the connection
 * (struct sub with origin set to the connection), so ordinary delivery
 * finds them; deliver.c hands such matches to leaf_send_msg, one copy per
 * connection per message.  Interest of the account is announced over the
 * link through the hooks below, which every module that inserts into or
 * removes from a sublist calls.
 *
 * Nothing here runs unless leafnodes are configured: the hooks return at
 * once when the server has no leaf connection.
 */
#ifndef CORE_LEAF_H
#define CORE_LEAF_H

#include <stdbool.h>
#include <stddef.h>

#include "../lib/buf.h"
#include "sub.h"

struct server;
struct account;
struct leaf;
struct jw;

/* Opens the leaf listener and starts the remotes (server start).  -1 with
 * err when the listener cannot be opened. */
int leaf_start(struct server *s, struct buf *err);
/* Closes the listener, every leaf connection and the remotes' timers. */
void leaf_shutdown(struct server *s);
/* Frees what leaf_start allocated (after leaf_shutdown). */
void leaf_free(struct server *s);
/* End of the loop turn: writes pending output, frees closed connections. */
void leaf_turn_end(struct server *s);
/* Live leaf connections (handshake finished). */
size_t leaf_count(const struct server *s);
/* The bound port of the leaf listener, 0 when none. */
int leaf_port(const struct server *s);

/* Live leaf connections bound to acc. */
size_t leaf_count_account(const struct server *s, const struct account *acc);
/* /leafz's "leafnodes" count and "leafs" list (null when empty), in
 * connection order, for the account named acc (NULL or "": all); subs
 * adds each link's "subscriptions_list" (sorted). */
void leaf_write_leafz(struct server *s, struct jw *w, const char *acc,
		      bool subs);

/* ---- interest hooks: a subscription entered or left acc's sublist ---- */
void leaf_interest_added(struct server *s, struct account *acc,
			 const struct sub *sub);
void leaf_interest_removed(struct server *s, struct account *acc,
			   const struct sub *sub);

/* A mapping with source src was added to acc: its links that have not
 * announced src yet do so now (the reference's forceAddToSmap). */
void leaf_mapping_added(struct server *s, struct account *acc,
			const char *src);

/* ---- delivery (deliver.c) ---- */
/* The leaf connection that owns sub, or NULL for any other kind. */
static inline struct leaf *leaf_of_sub(const struct sub *sub)
{
	return (struct leaf *)sub->origin;
}
/* May a message that arrived from src (NULL: not from a leaf) go to dst?
 * Never back to its source, nor between two links to the same remote
 * cluster, nor to a closed connection. */
bool leaf_may_forward(const struct leaf *src, const struct leaf *dst);
/* Writes m as LMSG/HMSG to l.  queues holds nq queue group names
 * separated by single spaces (qlen bytes, 0 when none).  Returns whether
 * it was queued (false when the connection's publish permissions deny the
 * subject). */
bool leaf_send_msg(struct leaf *l, const struct pubmsg *m, const char *queues,
		   size_t qlen, size_t nq);

#endif
