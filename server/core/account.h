/*
 * account.h - accounts: isolated subject spaces with their imports,
 * exports, subject mappings and limits, as nats-server 2.9.10 configures
 * them from the accounts block.
 *
 * Stream imports work through shadow subscriptions: when a client of the
 * importing account subscribes to something an import covers, a copy of
 * its subscription goes into the exporting account's sublist, and messages
 * it catches are delivered with the subject mapped back (prefix or `to`).
 *
 * Service imports work through an internal subscription in the importing
 * account on the import's local subject.  A request it catches is
 * republished in the exporting account; its reply subject is replaced by a
 * fresh "_R_.<prefix>.<id>" and the exporting account remembers where that
 * reply must go (a response map).  One internal wildcard subscription per
 * exporting account ("_R_.<prefix>.>") catches the responses and delivers
 * them to the original reply subject in the requester's account, so both a
 * plain inbox and one wildcard inbox shared by many requests work.
 * Response maps end after one response (singleton), after an empty message
 * (chunked), when the request found no responder, when the requester's
 * interest in the reply subject is gone, or after the export's response
 * threshold (default 2 minutes) without traffic.
 *
 * Ownership: the server owns its accounts and keeps every account object
 * until it is freed (a reload that drops an account only marks it removed),
 * so pointers between accounts never dangle.  Imports, exports and mappings
 * are rebuilt from the options on start and on reload.
 */
#ifndef CORE_ACCOUNT_H
#define CORE_ACCOUNT_H

#include <stdbool.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "../lib/hash.h"
#include "opts.h"
#include "sub.h"

struct server;
struct transform;

/* Intrusive doubly-linked list. */
struct link {
	struct link *prev, *next;
};

#define ACCOUNT_RESP_THRESHOLD_NS (120LL * 1000000000LL)
#define ACCOUNT_REPLY_PREFIX "_R_."

struct stream_import {
	struct account *from_acc;      /* the exporting account */
	char *from;                    /* subject in the exporting account */
	char *to;                      /* the same messages here */
	struct transform *tr;          /* from -> to, when they differ */
	struct transform *rtr;         /* to -> from, for shadow subjects */
	bool use_pub;                  /* wildcard import without remapping */
};

struct svc_import {
	struct account *acc;           /* the importing account (owner) */
	struct account *dest;          /* the exporting account */
	char *local;                   /* subject clients publish to here */
	char *remote;                  /* subject in the exporting account */
	struct transform *tr;          /* local -> remote when they differ */
	bool use_pub;                  /* wildcard, same subject on both sides */
	enum opts_response_type rt;    /* from the export */
	int64_t threshold_ns;          /* from the export */
	struct sub *sub;               /* internal sub on local */
};

/* A subject mapping (the accounts' `mappings`). */
struct map_dest {
	struct transform *tr;
	uint32_t cum_weight;           /* cumulative percent, ascending */
};

struct mapping {
	char *src;
	bool wildcard;
	struct map_dest *dests;
	size_t ndests;
};

struct account {
	struct server *srv;            /* the server it belongs to */
	char *name;                    /* owned */
	struct sublist *sl;            /* the account's subject space */
	const struct opts_account *opts; /* borrowed; NULL for $G/$SYS defaults */
	uint32_t nconns;               /* client connections bound to it */
	struct link node;              /* in server.accounts */
	bool removed;                  /* dropped from the config by a reload */

	/* limits: -1 = unlimited */
	int64_t max_conns;
	int64_t max_subs;              /* per connection, like the reference */
	int64_t max_payload;

	struct stream_import *simports;
	size_t n_simports;
	struct svc_import *svc_imports;
	size_t n_svc_imports;
	struct mapping *mappings;
	size_t n_mappings;

	/* as an exporter of services */
	char resp_prefix[16];          /* "_R_.xxxxxx." once created */
	size_t resp_prefix_len;        /* 0 until the first request */
	struct sub *resp_sub;          /* internal sub on "<prefix>>" */
	struct hmap responses;         /* reply -> struct resp_map */
	struct link resp_list;         /* struct resp_map, oldest first */
	int resp_timer;                /* env timer for expiry, -1 = none */
	int64_t resp_deadline_ns;      /* when it fires; 0 = disarmed */

	/* as an importer: original reply -> struct rr_list of resp_maps */
	struct hmap rrmap;

	/* statistics */
	uint64_t in_msgs, in_bytes, out_msgs, out_bytes;
	uint64_t total_conns;
	uint64_t slow_consumers;
	uint32_t internal_subs;        /* internal subs in sl (invariants) */
	uint32_t shadow_subs;          /* shadow subs in sl (invariants) */

	/* JetStream state (js/jetstream.c), NULL unless JetStream runs */
	struct js_account *js;
	/* The $JS.<domain>.API table of this server's domain was installed
	 * (JetStream start or a leaf link); a reload installs it again. */
	bool js_domain_mapped;
};

/* Creates, updates and removes accounts to match s->opts; used at start
 * and on reload.  -1 with err on a configuration problem. */
int accounts_configure(struct server *s, struct buf *err);
void accounts_free(struct server *s);
struct account *account_lookup(struct server *s, const char *name);

/* ---- stream imports (shadow subscriptions) ---- */
/* Adds the shadows a new client subscription needs.  False when memory
 * ran out (the subscription is refused then). */
bool account_add_shadows(struct server *s, struct account *acc,
			 struct sub *sub);
/* Removes (and schedules the freeing of) sub's shadows. */
void account_remove_shadows(struct server *s, struct sub *sub);
/* The subject a shadow delivers with; out is scratch space. */
bool account_shadow_subject(const struct sub *shadow, const struct pubmsg *m,
			    struct buf *out, const char **subj, size_t *len);

/* ---- mappings ---- */
/* If acc maps subject, writes the new one into out and returns true. */
bool account_map_subject(struct server *s, const struct account *acc,
			 const char *subject, size_t len, struct buf *out);

/* Adds the mapping src -> dest (all traffic) unless acc already maps src,
 * and announces src over acc's leaf links.  Returns 1 when added, 0 when
 * src was mapped already, -1 when the transform is refused or memory ran
 * out. */
int account_add_mapping(struct server *s, struct account *acc,
			const char *src, const char *dest);

/* ---- JetStream domains (leafnode-protocol.md section 8.2) ---- */
#define ACCOUNT_JS_DOMAIN_ROWS 9
/* Row i of the $JS.<domain>.API table: the source clients publish to and
 * the subject it maps to, written into src and dest (replaced). */
void account_js_domain_row(const char *domain, size_t i, struct buf *src,
			   struct buf *dest);
/* Installs the whole table of this server's JetStream domain in acc and
 * remembers it for reloads.  False when a row could not be added. */
bool account_add_js_domain_mappings(struct server *s, struct account *acc,
				    const char *domain);
/* default_js_domain's domain for acc, or NULL when it names none. */
const char *account_default_js_domain(const struct server *s,
				      const struct account *acc);

/* ---- service responses ---- */
/* A subscription on subject went away in acc: drop response maps whose
 * requester no longer listens. */
void account_sub_removed(struct server *s, struct account *acc,
			 const char *subject, size_t len);
size_t account_pending_responses(const struct account *acc);

/* ---- service.c, used by account.c ---- */
int service_imports_build(struct server *s, struct account *a, struct buf *err);
void service_imports_clear(struct server *s, struct account *a);
/* Drops the imports, response maps, timer and internal subs (shutdown). */
void service_account_clear(struct server *s, struct account *a);

#endif
