/*
 * server_int.h - the insides of struct server, struct account and
 * struct conn, shared by the core modules (server.c, conn.c, auth.c).
 * Nothing outside server/core includes this file.
 *
 * Ownership: the server owns its accounts and connections; a connection
 * owns its subscriptions (the account's sublist only borrows them) and its
 * output queue.  Closed connections are unlinked at once but freed at the end
 * of the loop turn, so a delivery loop that closes a receiver never touches
 * freed memory.
 */
#ifndef CORE_SERVER_INT_H
#define CORE_SERVER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "../env/env.h"
#include "../lib/assert.h"
#include "../lib/buf.h"
#include "../lib/hash.h"
#include "../lib/mem.h"
#include "../lib/prng.h"
#include "../proto/client_proto.h"
#include "account.h"
#include "log.h"
#include "monitor.h"
#include "perms.h"
#include "opts.h"
#include "server.h"
#include "sub.h"
#include "sublist.h"

#define OUTBLK_SIZE (32 * 1024)
#define READ_BUF_SIZE (64 * 1024)
#define SERVER_ID_LEN 56

/* A block of pending output.  Bytes [start, end) are unsent. */
struct outblk {
	struct outblk *next;
	uint32_t start;
	uint32_t end;
	char data[OUTBLK_SIZE];
};

enum conn_close_reason {
	CLOSE_CLIENT = 0,              /* "Client Closed" */
	CLOSE_SERVER_SHUTDOWN,
	CLOSE_AUTH_VIOLATION,
	CLOSE_AUTH_TIMEOUT,
	CLOSE_PROTOCOL_VIOLATION,
	CLOSE_PARSE_ERROR,
	CLOSE_MAX_PAYLOAD,
	CLOSE_MAX_CONTROL_LINE,
	CLOSE_STALE,
	CLOSE_SLOW_PENDING,
	CLOSE_SLOW_DEADLINE,
	CLOSE_WRITE_ERROR,
	CLOSE_READ_ERROR,
	CLOSE_MAX_CONNECTIONS,
	CLOSE_NO_RESPONDERS_NO_HEADERS,
	CLOSE_BAD_CLIENT_PROTOCOL,
	CLOSE_MAX_ACCOUNT_CONNECTIONS,
	CLOSE_MAX_SUBSCRIPTIONS,
};

/* What the client authenticated with, kept so that a reload can check the
 * connection again against the new configuration (owned strings). */
struct conn_creds {
	char *user, *pass, *token, *nkey, *sig;
};

struct conn {
	struct server *srv;
	uint64_t cid;                  /* connection id, from 1 */
	int sock;                      /* env socket, -1 once closed */
	char ip[64];                   /* peer address */
	int port;
	int64_t start_ns;              /* monotonic time of accept */
	int64_t last_activity_ns;      /* last inbound op (suppresses PINGs) */
	int64_t last_ping_in_ns;       /* last PING from the peer */

	struct cp_parser parser;
	struct account *acc;           /* bound account */
	const struct opts_user *user;  /* authenticated user, or NULL */
	struct conn_creds creds;       /* as sent in CONNECT */
	struct perms *perms;           /* NULL = no restrictions */
	int64_t max_subs;              /* -1 = unlimited (server and account) */
	int64_t max_payload;           /* effective after auth */
	char nonce[24];                /* sent in INFO when nkeys are in use */

	/* CONNECT options; defaults before CONNECT per the reference */
	bool connected;                /* CONNECT received and accepted */
	bool verbose;
	bool pedantic;
	bool echo;
	bool headers;
	bool no_responders;
	int protocol;
	char *name, *lang, *version;   /* owned; may be NULL */

	/* subscriptions by sid */
	struct hmap subs;              /* sid -> struct sub * */
	uint32_t nsubs;

	/* output */
	struct outblk *out_head, *out_tail;
	size_t out_pending;            /* bytes queued, not yet sent */
	bool in_flush_list;
	bool want_write;               /* registered for writability */
	int64_t stall_since_ns;        /* when output stopped draining; 0 = not */

	/* liveness */
	int ping_timer;                /* env timer: auth timeout, then pings */
	int deadline_timer;            /* env timer: write deadline */
	int auth_timer;                /* env timer: CONNECT must come by then */
	int pings_out;                 /* unanswered server PINGs */
	int64_t rtt_ping_ns;           /* when the last PING went out; 0 = never */
	int64_t rtt_ns;                /* last measured round trip; 0 = unknown */
	int64_t start_wall_ns;         /* wall clock of accept, for events */

	/* statistics */
	uint64_t in_msgs, in_bytes, out_msgs, out_bytes;

	bool closed;
	bool closing;                  /* conn_close() is flushing: no re-entry */
	enum conn_close_reason close_reason;
	struct link node;              /* in server.conns or server.dead */
	struct conn *flush_next;       /* in server.flush_list */
};

struct server {
	struct env *env;
	struct mem mem;                /* all of this instance's allocations */
	const struct opts *opts;
	struct log log;
	struct prng prng;
	char id[SERVER_ID_LEN + 1];
	char *name;                    /* server_name or the id */
	const char *exe_name;

	int listen_sock;               /* -1 until started */
	int port;                      /* bound client port */
	bool auth_required;
	bool running;

	struct link accounts;          /* struct account */
	struct account *global_acc;    /* $G */
	struct account *system_acc;    /* $SYS or system_account; may be NULL */
	bool nkeys_in_use;             /* some user authenticates with an nkey */

	struct link conns;             /* live client connections */
	struct link dead;              /* closed, freed at turn end */
	uint32_t nconns;
	uint64_t next_cid;
	struct conn *flush_list;       /* connections with output to send */
	struct sub *dead_subs;         /* removed subs, freed at turn end */

	struct outblk *blk_pool;       /* free output blocks */
	uint32_t blk_pool_len;
	char *read_buf;                /* shared by all connections' reads */
	struct buf scratch;            /* per-operation formatting */

	struct server_stats stats;
	int64_t start_wall_ns;
	int64_t config_load_wall_ns;   /* last (re)load of the options */

	/* internal messaging (internal.c) */
	uint32_t deliver_depth;        /* nesting of deliveries in progress */
	struct isend *send_head, *send_tail; /* internal_send queue */
	uint32_t internal_subs;        /* live internal subscriptions */
	/* MSG line parts of the innermost delivery in progress (deliver.c
	 * sets them, conn_deliver renders them on first use); they belong
	 * to msg_parts_for and live in deliver_run's frame.  NULL = none. */
	struct cp_msg_parts *msg_parts;
	const struct pubmsg *msg_parts_for;

	/* system account services and events (events.c) */
	struct sub **sys_subs;         /* internal subs the events own */
	size_t n_sys_subs;
	uint64_t sys_seq;              /* "seq" of the next event */
	int statsz_timer;              /* periodic STATSZ; -1 = none */
	int64_t statsz_interval_ns;
	server_reload_fn reload_cb;    /* the driver's config reload, or NULL */
	void *reload_arg;
	bool reload_pending;           /* a RELOAD request waits for turn end */
	char *reload_reply;            /* where to answer it (owned) */

	/* HTTP monitoring (http_server.c, monitor.c) */
	struct http_server *http;      /* listener and connections; NULL = off */
	int http_port;                 /* bound monitoring port; 0 = none */
	uint64_t http_req_stats[MONITOR_EP_COUNT]; /* requests per endpoint */
	struct monitor_closed *closed; /* ring of closed client connections */
	size_t closed_cap;             /* slots allocated */
	size_t closed_head;            /* index of the oldest snapshot */
	size_t closed_len;             /* snapshots held */

	/* JetStream (js/jetstream.c); NULL when it is not enabled */
	struct jetstream *js;

	/* leaf node connections (leaf.c); NULL when leafnodes are off */
	struct leafnodes *leafnodes;
	uint32_t leaf_subs;            /* leaf-owned subs in all sublists */
};

/* list helpers */
static inline void link_init(struct link *l) { l->prev = l->next = l; }
static inline bool link_empty(const struct link *l) { return l->next == l; }
static inline void link_insert_tail(struct link *head, struct link *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}
static inline void link_remove(struct link *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}
#define CONTAINER_OF(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* ---- conn.c ---- */
/* Writes MSG/HMSG for m to sub's connection (client or shadow sub) with
 * the given delivery subject.  Returns true if it was queued. */
bool conn_deliver(struct conn *pub, struct sub *sub, const char *subject,
		  size_t subject_len, const struct pubmsg *m);
/* Queues raw bytes for the connection; false when it is (now) closed. */
bool conn_queue(struct conn *c, const void *data, size_t len);
void conn_send_err(struct conn *c, const char *text);
/* Removes a client subscription (and its shadows). */
void conn_unsubscribe(struct conn *c, struct sub *sub);
/* The user name events and monitoring report ("" when none). */
const char *conn_auth_user(const struct conn *c);
void conn_accept(struct server *s, int sock, const char *ip, int port);
void conn_close(struct conn *c, enum conn_close_reason why);
void conn_free(struct conn *c);
void conn_free_sub(struct server *s, struct sub *sub);
/* Sends everything queued that the socket takes now. */
void conn_flush(struct conn *c);
const char *conn_close_reason_text(enum conn_close_reason why);

/* ---- deliver.c ---- */
enum {
	DELIVER_FROM_SERVICE = 1,      /* came through a service import */
};
/* Routes m through acc: client subs, shadows, internal subs, queue groups.
 * pub is the publishing client or NULL.  Returns whether anyone took it. */
bool deliver_msg(struct server *s, struct account *acc, struct conn *pub,
		 const struct pubmsg *m, unsigned flags);
/* Puts a removed sub on the turn-end free list. */
void deliver_defer_free(struct server *s, struct sub *sub);
/* Routes m, which arrived over the leaf connection src, through acc: the
 * queue groups src named (queues, nqueues) get one member each; never
 * back to src. */
struct leaf;
struct peer_slice;
bool deliver_msg_from_leaf(struct server *s, struct account *acc,
			   struct leaf *src, const struct pubmsg *m,
			   const struct peer_slice *queues, size_t nqueues);

/* ---- server.c ---- */
struct outblk *server_blk_get(struct server *s);
void server_blk_put(struct server *s, struct outblk *b);
/* The INFO line for a new client connection (ends with CRLF). */
void server_build_info(struct server *s, struct conn *c, struct buf *out);

/* ---- events.c ---- */
/* System account events; all cheap no-ops without listeners. */
void events_client_connect(struct server *s, struct conn *c);
void events_client_disconnect(struct server *s, struct conn *c);
void events_auth_error(struct server *s, struct conn *c);
void events_account_conns(struct server *s, struct account *acc);
/* Sets up the system account's request handlers and timers (start and
 * reload); -1 when memory ran out. */
int events_start(struct server *s);
/* Drops the request subscriptions (a reload starts them again). */
void events_stop(struct server *s);
void events_free(struct server *s);
/* Publishes the SHUTDOWN event at once. */
void events_shutdown(struct server *s);
/* Answers a pending RELOAD request; error is NULL on success. */
void events_reload_done(struct server *s, const char *error);

/* ---- auth.c ---- */
struct auth_request {
	const char *user, *pass, *token, *nkey, *sig, *jwt;
};
enum auth_result {
	AUTH_OK = 0,
	AUTH_FAILED,                   /* -ERR 'Authorization Violation' */
	AUTH_ACCOUNT_FULL,             /* the account's max_connections */
};
/* Decides whether the CONNECT credentials are good; on success binds
 * c->acc, c->user, c->perms and the limits. */
enum auth_result auth_check_client(struct server *s, struct conn *c,
				   const struct auth_request *req);
bool auth_is_required(const struct opts *o);
bool auth_nkeys_in_use(const struct opts *o);
/* Binds the connection to acc (limits, counts); false when the account's
 * connection limit is reached. */
bool auth_bind_account(struct server *s, struct conn *c, struct account *acc);

#endif
