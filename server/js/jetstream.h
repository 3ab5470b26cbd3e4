/*
 * jetstream.h - JetStream on one server: whether it runs, where it keeps
 * its files, which accounts may use it, and the per-account state (the
 * API subscriptions, the streams, the API counters).
 *
 * The server calls the first group of functions (start, shutdown, free,
 * invariants, the INFO fields); the rest of this header is shared by the
 * js/ modules only (js_api.c, stream.c).  All state hangs off struct server (s->js) and struct account
 * (acc->js); nothing is global.
 *
 * Invariants: every account that exists at start has a js_account with
 * the API subscriptions, whether JetStream is enabled for it or not (so a
 * request from an account without JetStream is answered with 10039, like
 * the reference).  A js_account's streams array is sorted by name, which
 * makes NAMES/LIST and the disk layout independent of creation order.
 */
#ifndef JS_JETSTREAM_H
#define JS_JETSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/opts.h"
#include "../lib/buf.h"
#include "js_api.h"
#include "store.h"

struct stream_config;

struct server;
struct account;
struct sub;
struct stream;

/* The server's JetStream; NULL in struct server when disabled. */
struct jetstream {
	struct server *srv;
	char *store_root;              /* "<store_dir>/jetstream", owned */
	char *domain;                  /* owned, NULL = none */
	char *api_domain_prefix;       /* "$JS.<domain>.API", owned or NULL */
	int64_t max_memory_bytes;      /* -1 = not limited by the config */
	int64_t max_store_bytes;       /* -1 = not limited by the config */
	int64_t sync_interval_ns;      /* 0 = sync before every ack */
	int64_t max_dup_window_ns;     /* jetstream.limits duplicate_window; 0 */
};

/* One account's JetStream. */
struct js_account {
	struct jetstream *js;
	struct account *acc;
	bool enabled;                  /* JetStream may be used here */
	struct opts_js_limits limits;  /* -1 = unlimited */
	struct sub *api_sub;           /* "$JS.API.>" */
	struct sub *api_domain_sub;    /* NULL: the domain API is mapped */
	struct stream **streams;       /* sorted by name, owned */
	size_t n_streams;
	size_t cap_streams;
	uint64_t api_total;            /* requests answered */
	uint64_t api_errors;           /* ... with an error */
};

/* ---- called by the server ---- */

/* Starts JetStream when the options enable it: logs the banner, enables
 * the accounts, restores the streams from store_dir and subscribes the
 * API.  A no-op when disabled.  -1 with err on failure. */
int jetstream_start(struct server *s, struct buf *err);
/* Bytes stored by ja's streams of that storage kind. */
uint64_t js_account_usage(const struct js_account *ja, enum store_kind kind);
/* True when ja uses more than its limits allow for that storage (the
 * total, or a per-stream maximum); a publish that gets there is undone. */
bool js_account_over_limits(const struct js_account *ja, enum store_kind kind);
/* True when the server's streams use more than its max_memory_store or
 * max_file_store (a publish is then refused). */
bool jetstream_over_limits(const struct jetstream *js, enum store_kind kind);
/* Stream create/update against the account's and the server's limits:
 * max consumers, and the bytes reserved by max_bytes (the reference's
 * checkAllLimits).  0 or -1 with e set. */
int js_account_check_limits(const struct js_account *ja,
			    const struct stream_config *c, struct js_error *e);
/* After a configuration reload: accounts the reload added or enabled
 * get JetStream (their API, domain mappings and streams).  -1 when
 * memory ran out. */
int jetstream_reload(struct server *s);
/* Drops the API subscriptions and closes every stream's store (pending
 * writes are flushed and synced).  Safe to call twice. */
void jetstream_shutdown(struct server *s);
/* Frees what jetstream_start allocated. */
void jetstream_free(struct server *s);
/* JetStream's consistency checks (streams sorted and each stream's own);
 * ASSERTs on failure.  The simulator runs them after every step. */
void jetstream_invariants(const struct server *s);
/* For the INFO line. */
bool jetstream_is_enabled(const struct server *s);
const char *jetstream_domain(const struct server *s);

/* ---- shared by the js/ modules ---- */

/* The server's js (NULL when disabled) and the account's state. */
struct jetstream *jetstream_of(const struct server *s);
struct js_account *jetstream_account(const struct account *acc);
struct stream *js_account_find_stream(const struct js_account *ja,
				      const char *name);
/* Takes ownership of st; false when memory ran out. */
bool js_account_add_stream(struct js_account *ja, struct stream *st);
/* Unlinks st (the caller frees it). */
void js_account_remove_stream(struct js_account *ja, struct stream *st);
/* "<store_root>/<account>/streams" into out (replacing its content). */
void js_account_streams_dir(const struct js_account *ja, struct buf *out);

#endif
