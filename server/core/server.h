/*
 * server.h - one NATS server instance.
 *
 * A struct server holds all of an instance's state (no globals), so one
 * process can hold many (the simulator does).  It reaches the world only
 * through the struct env given at creation and never blocks: the driver's
 * loop calls into it through the env's callbacks.
 */
#ifndef CORE_SERVER_H
#define CORE_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "../env/env.h"
#include "../lib/buf.h"
#include "opts.h"

/* The NATS feature level we advertise to clients (INFO "version"). */
#define SERVER_NATS_VERSION "2.10.0"
/* Our own release. */
#define SERVER_RELEASE "0.1.0"

struct server;

struct server_config {
	struct env *env;
	const struct opts *opts;   /* borrowed for the server's lifetime */
	const char *log_prefix;    /* e.g. "[1234] "; may be "" */
	const char *exe_name;      /* for messages and the ports file */
	uint64_t seed;             /* 0 = take one from env randomness */
};

struct server_stats {
	uint64_t in_msgs, out_msgs, in_bytes, out_bytes;
	uint64_t slow_consumers;
	uint64_t total_connections;
	uint32_t connections;
	uint32_t subscriptions;
};

/* Creates the server (does not listen yet).  Returns 0 or -1 with err. */
int server_new(struct server **out, const struct server_config *cfg,
	       struct buf *err);
/* Opens the listeners and logs the start-up banner.  -1 with err on
 * failure (e.g. port in use). */
int server_start(struct server *s, struct buf *err);
/* Closes every connection and listener; the server stays allocated. */
void server_shutdown(struct server *s);
void server_free(struct server *s);

int server_client_port(const struct server *s);
/* The bound monitoring (HTTP) port, or 0 when it is off. */
int server_http_port(const struct server *s);
const char *server_id(const struct server *s);
const char *server_name(const struct server *s);
void server_get_stats(const struct server *s, struct server_stats *out);
/* The driver's config reload (file I/O lives in the driver): re-reads the
 * configuration and applies it with server_reload.  0, or -1 with err. */
typedef int (*server_reload_fn)(void *arg, struct buf *err);
/* Lets $SYS.REQ.SERVER.<id>.RELOAD reach the driver. */
void server_set_reload_handler(struct server *s, server_reload_fn fn, void *arg);
/* Applies new options: accounts, imports, exports, mappings, users and
 * permissions.  Connections whose user vanished or moved to another account
 * are closed, those whose credentials no longer pass get an Authorization
 * Violation, the others get the new permissions and lose subscriptions they
 * may no longer hold.  o is borrowed until the next reload or server_free;
 * on failure (-1 with err) the old options stay in effect. */
int server_reload(struct server *s, const struct opts *o, struct buf *err);

/* Asserts the cross-module invariants; the simulator calls it after every
 * step. */
void server_invariants(const struct server *s);

#endif
