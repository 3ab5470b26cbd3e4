/*
 * monitor.h - the monitoring endpoints: one JSON builder per endpoint,
 * shared by the HTTP port (http_server.c) and the system account's
 * $SYS.REQ.SERVER.* requests (events.c), so both answer with the same
 * bytes as nats-server 2.9.10 (field names, nesting and order).
 *
 * An endpoint's options come either from an HTTP query string or from a
 * request's JSON body; both fill the same struct monitor_opts, and a bad
 * value is an operating error answered with the reference's message (HTTP
 * 400), never a crash.  The builders write compact JSON through struct jw;
 * the HTTP side indents it the way the reference's MarshalIndent does.
 *
 * Adding an endpoint (JetStream's /jsz grows here): a value in enum
 * monitor_ep, its name in the path table of monitor.c, its options in
 * monitor_opts and the two option readers, and a case in monitor_write.
 */
#ifndef CORE_MONITOR_H
#define CORE_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "../lib/json.h"

struct server;
struct conn;
struct account;

enum monitor_ep {
	MONITOR_ROOT = 0,
	MONITOR_VARZ,
	MONITOR_CONNZ,
	MONITOR_ROUTEZ,
	MONITOR_GATEWAYZ,
	MONITOR_LEAFZ,
	MONITOR_SUBSZ,
	MONITOR_ACCOUNTZ,
	MONITOR_ACCSTATZ,
	MONITOR_JSZ,
	MONITOR_HEALTHZ,
	MONITOR_METRICS,
	MONITOR_EP_COUNT,
};

enum monitor_conn_state {
	MONITOR_CONN_OPEN = 0,
	MONITOR_CONN_CLOSED,
	MONITOR_CONN_ANY,
};

#define MONITOR_DEFAULT_LIMIT 1024
#define MONITOR_NAME_MAX 256

/* Every endpoint's options (each endpoint reads the ones it knows). */
struct monitor_opts {
	char sort[32];                 /* connz: "" = by cid */
	bool auth;                     /* connz: user and account */
	bool subs;                     /* connz, routez, subsz, leafz: lists */
	bool subs_detail;              /* connz, routez: detailed lists */
	int64_t offset;                /* connz, subsz */
	int64_t limit;                 /* connz, subsz; 0 = default */
	uint64_t cid;                  /* connz: one connection */
	enum monitor_conn_state state; /* connz */
	char user[MONITOR_NAME_MAX];   /* connz: filter by user (needs auth) */
	char acc[MONITOR_NAME_MAX];    /* connz, subsz, accountz, leafz, jsz */
	char test[MONITOR_NAME_MAX];   /* subsz: subjects matching this one */
	bool include_unused;           /* accstatz: accounts without conns */
	bool js_enabled_only;          /* healthz */
	bool js_server_only;           /* healthz */
	bool gw_accounts;              /* gatewayz */
	char gw_name[MONITOR_NAME_MAX];/* gatewayz */
	bool jsz_accounts, jsz_streams, jsz_consumers, jsz_config; /* jsz */
	bool sys_request;              /* asked over $SYS, not HTTP */
};

/* A snapshot of a closed client connection for connz?state=closed. */
struct monitor_closed {
	uint64_t cid;
	char ip[64];
	int port;
	int64_t start_wall_ns, last_wall_ns, stop_wall_ns;
	int64_t rtt_ns;
	uint64_t in_msgs, out_msgs, in_bytes, out_bytes;
	char *name, *lang, *version;   /* owned, may be NULL */
	char *user, *account;          /* owned, may be NULL */
	const char *reason;            /* static text */
};

/* The path's endpoint (after the base path), or -1 when none serves it. */
int monitor_ep_from_path(const char *path, size_t len);
const char *monitor_ep_path(enum monitor_ep ep);

void monitor_opts_init(struct monitor_opts *o);
/* Reads ep's options from an HTTP query; -1 with the message in err. */
int monitor_opts_from_query(enum monitor_ep ep, const char *query, size_t len,
			    struct monitor_opts *o, struct buf *err);
/* Reads ep's options from a $SYS request's JSON object (token obj). */
int monitor_opts_from_json(enum monitor_ep ep, const struct json_doc *d, int obj,
			   struct monitor_opts *o, struct buf *err);

/* Writes ep's JSON object (compact).  -1 with err when the options are
 * refused (HTTP 400; the writer's output is then to be dropped).
 * MONITOR_ROOT and MONITOR_METRICS are not JSON (see below). */
int monitor_write(struct server *s, enum monitor_ep ep,
		  const struct monitor_opts *o, struct jw *w, struct buf *err);
/* The reply of $SYS.REQ.SERVER.PING and the periodic STATSZ "statsz". */
void monitor_write_statsz(struct server *s, struct jw *w);
/* An account's statistics fields (acc, conns, ... slow_consumers) into
 * an object the caller opened: accstatz and the CONNS events share them. */
void monitor_write_account_stat(struct server *s, struct jw *w,
				const struct account *a);
/* Healthz: returns whether the server is healthy (HTTP 200 or 503). */
bool monitor_healthy(struct server *s, const struct monitor_opts *o);

/* ---- HTTP ---- */
struct monitor_reply {
	int status;                    /* 200, 400, 404, 503 */
	const char *content_type;      /* static */
	struct buf *body;              /* caller's buffer, appended to */
};
/* Answers one GET of path?query on the monitoring port. */
void monitor_http_answer(struct server *s, const char *path, size_t path_len,
			 const char *query, size_t query_len,
			 struct monitor_reply *reply);
/* Re-indents compact JSON like Go's json.MarshalIndent(v, "", "  "). */
void monitor_json_indent(const char *in, size_t len, struct buf *out);

/* ---- closed connections (connz?state=closed) ---- */
/* Keeps a snapshot of a client connection that just closed. */
void monitor_conn_closed(struct server *s, const struct conn *c);
void monitor_free(struct server *s);

/* ---- the listener (http_server.c) ---- */
/* Opens the monitoring port when the options ask for one; 0 when not
 * configured or listening, -1 with err (e.g. port in use). */
int http_server_start(struct server *s, struct buf *err);
/* Closes the listener and every monitoring connection. */
void http_server_stop(struct server *s);
void http_server_free(struct server *s);

#endif
