/*
 * client.h - a simulated NATS client speaking the real client protocol
 * through the virtual network, with the project's sans-IO codec.
 *
 * Connection: TCP connect, INFO, CONNECT (credentials, verbose false,
 * headers, no_responders), PING, and ready at the PONG.  Server PINGs are
 * answered; optional client PINGs detect a dead link.  A lost connection is
 * retried with exponential backoff and jitter, rotating through the
 * configured servers; subscriptions are re-sent on every reconnect.
 *
 * Workloads: publishers, subscribers (also queue subscribers and
 * responders), requesters (an inbox subscription "_INBOX.<client>.>" and
 * one reply subject per request), JetStream publishers (each publish waits
 * for its PubAck and the client remembers, per identity counter, the
 * acknowledged stream sequence, the error or the timeout) and raw sends
 * (any bytes, for malformed protocol tests).  A JetStream verification
 * reads a stream back message by message ($JS.API.STREAM.MSG.GET) and
 * records where each identity was found, so a checker can compare what was
 * acknowledged with what is stored.  A workload payload starts with its identity,
 * "<stream>#<counter>", so a receiver keeps only a per-publisher bitmap of
 * counters seen: duplicates, gaps and reordering are found without storing
 * messages.
 */
#ifndef SIM_CLIENT_H
#define SIM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "world.h"

struct sim_sub_cfg {
	char *subject;
	char *queue;                 /* NULL = plain subscription */
	int64_t max_msgs;            /* auto-unsubscribe after; 0 = never */
	char *reply;                 /* responder: answer with this text */
	bool reply_echo;             /* responder: answer with the request */
};

struct sim_pub_cfg {
	char *subject;
	char *reply;                 /* reply subject to put on messages */
	char *stream;                /* identity prefix (default: client) */
	char *payload;               /* fixed payload instead of identity */
	int64_t count;
	int64_t interval_ns;
	int64_t start_ns;            /* absolute simulated time */
	uint32_t size;               /* pad identity payloads to this size */
	bool headers;                /* send HPUB with a small header */
};

struct sim_req_cfg {
	char *name;                  /* for expectations */
	char *subject;
	char *payload;               /* NULL = identity payload */
	int64_t count;
	int64_t interval_ns;
	int64_t start_ns;
	int64_t timeout_ns;
};

/* A JetStream publisher: identity payloads with a reply inbox; the reply
 * is the PubAck (or an error) of the stream that captured the subject. */
struct sim_jspub_cfg {
	char *subject;
	char *stream;                /* identity prefix (default: client) */
	int64_t count;
	int64_t interval_ns;
	int64_t start_ns;            /* absolute simulated time */
	int64_t timeout_ns;          /* no PubAck by then: outcome unknown */
	uint32_t size;               /* pad identity payloads to this size */
};

struct sim_client_cfg {
	char *name;
	char **servers;              /* server node names or host:port */
	uint32_t nservers;
	char *user, *pass, *token;
	char *conn_name;             /* CONNECT "name" (default: name) */
	bool verbose, pedantic, echo, headers, no_responders;
	bool handshake;              /* false: no INFO/CONNECT handshake */
	int64_t ping_interval_ns;    /* 0 = no client PINGs */
	int32_t max_pings_out;
	bool reconnect;
	int64_t reconnect_delay_ns;
	int64_t reconnect_max_ns;
	int64_t reconnect_jitter_ns;
	int32_t max_reconnects;      /* -1 = forever */
	int64_t connect_at_ns;       /* -1 = only when a step says so */
	struct sim_sub_cfg *subs;
	uint32_t nsubs;
	struct sim_pub_cfg *pubs;
	uint32_t npubs;
	struct sim_req_cfg *reqs;
	uint32_t nreqs;
	struct sim_jspub_cfg *jspubs;
	uint32_t njspubs;
};

/* Where a configured server is right now: host name and client port.
 * Returns 0, or -1 when unknown. */
typedef int (*sim_client_resolve_fn)(void *arg, const char *server,
				     char *host, size_t cap, int *port);

/* Per publisher stream seen by one subscription. */
struct sim_track {
	char stream[64];
	uint64_t count;              /* distinct counters received */
	uint64_t dups;
	uint64_t out_of_order;       /* received after a higher counter */
	uint64_t last;               /* highest counter */
	uint8_t *bits;               /* counter c is bit c-1 */
	uint64_t nbits;
};

struct sim_client_stats {
	uint64_t connects;           /* handshakes completed */
	uint64_t reconnects;         /* connects after the first */
	uint64_t disconnects;        /* established connections lost */
	uint64_t closed_by_server;   /* of those: EOF or reset from the peer */
	uint64_t connect_failures;
	uint64_t received;           /* messages on workload subscriptions */
	uint64_t published;
	uint64_t pub_dropped;        /* not sent: not connected */
	uint64_t requests;
	uint64_t replies;
	uint64_t timeouts;
	uint64_t no_responders;
	uint64_t errors;             /* -ERR received */
	uint64_t oks;                /* +OK received */
	uint64_t pings_in, pongs_in;
};

struct sim_client;

struct sim_client *sim_client_new(struct sim_world *w, struct sim_node *node,
				  const struct sim_client_cfg *cfg,
				  sim_client_resolve_fn resolve, void *arg);
void sim_client_free(struct sim_client *c);
/* Arms the first connect (at cfg->connect_at_ns) and the workloads. */
void sim_client_start(struct sim_client *c);

/* Actions (timeline steps).  Each returns 0, or -1 when not possible
 * now (not connected). */
int sim_client_connect(struct sim_client *c);
void sim_client_disconnect(struct sim_client *c);
int sim_client_publish(struct sim_client *c, const char *subject,
		       const char *reply, const char *payload, size_t len);
int sim_client_request(struct sim_client *c, const char *name,
		       const char *subject, const char *payload,
		       int64_t timeout_ns);
/* Publishes payload to the reply subject of the last reply to request
 * name (the ack subject of a pulled JetStream message); -1 when there is
 * none yet or the client is not connected. */
int sim_client_reply_to(struct sim_client *c, const char *name,
			const char *payload, size_t len);
/* GET path from host:port over HTTP (its own connection, closed by the
 * server after the answer); the body becomes request name's last reply
 * (a failure or timeout counts as a timeout of that request). */
int sim_client_http_get(struct sim_client *c, const char *name,
			const char *host, int port, const char *path,
			int64_t timeout_ns);
int sim_client_subscribe(struct sim_client *c, const char *subject,
			 const char *queue);
int sim_client_unsubscribe(struct sim_client *c, const char *subject);
int sim_client_send_raw(struct sim_client *c, const void *data, size_t len);

/* Queries (expectations and reports). */
const char *sim_client_name(const struct sim_client *c);
bool sim_client_ready(const struct sim_client *c);
const struct sim_client_stats *sim_client_stats(const struct sim_client *c);
/* Published with this identity prefix so far. */
uint64_t sim_client_sent(const struct sim_client *c, const char *stream);
/* -ERR texts: how many times one containing text was received. */
uint64_t sim_client_errors_matching(const struct sim_client *c,
				    const char *text);
const char *sim_client_error_at(const struct sim_client *c, uint32_t i);
/* Subscriptions: index i < count; subject; received; tracks. */
uint32_t sim_client_sub_count(const struct sim_client *c);
const char *sim_client_sub_subject(const struct sim_client *c, uint32_t i);
uint64_t sim_client_sub_received(const struct sim_client *c, uint32_t i);
const struct sim_track *sim_client_sub_track(const struct sim_client *c,
					     uint32_t i, const char *stream);
/* Requests by name: replies and the last reply payload (NUL-terminated,
 * NULL when none). */
uint64_t sim_client_req_replies(const struct sim_client *c, const char *name);
uint64_t sim_client_req_timeouts(const struct sim_client *c,
				 const char *name);
uint64_t sim_client_req_no_responders(const struct sim_client *c,
				      const char *name);
const char *sim_client_req_last_reply(const struct sim_client *c,
				       const char *name, size_t *len);

/* ------------------------------------------------------------ JetStream */

/* Outcome of one JetStream publish, by identity counter. */
enum sim_js_state {
	SIM_JS_PENDING = 1,          /* sent, no answer yet */
	SIM_JS_ACKED,                /* PubAck: stored at seq */
	SIM_JS_ERROR,                /* error answer: not stored */
	SIM_JS_TIMEOUT,              /* no answer in time: unknown */
};

struct sim_js_rec {
	uint64_t seq;                /* acknowledged stream sequence */
	int64_t sent_mono_ns;
	uint8_t state;               /* enum sim_js_state */
};

/* One js_publish workload: counters 1..sent, recs[counter - 1]. */
struct sim_js_pubs {
	const char *from;            /* identity prefix */
	uint32_t size;               /* payload padding */
	uint64_t sent, acked, errors, timeouts;
	uint64_t late_acks;          /* PubAcks after the timeout (acked) */
	uint64_t wrong_stream;       /* PubAcks naming another stream */
	uint64_t not_sent;           /* ticks while not connected */
	char ack_stream[64];         /* the stream named by the first PubAck */
	struct sim_js_rec *recs;
};

/* A read-back of a stream: every sequence from first to last fetched in
 * turn; messages whose payload is an identity of `from` are recorded. */
struct sim_js_scan {
	char stream[64];
	char from[64];
	bool done;                   /* finished (failed[0] says if badly) */
	char failed[160];            /* why the scan could not finish */
	uint64_t first_seq, last_seq;
	uint64_t next_seq;           /* the next (or current) get */
	uint64_t found;              /* identities of `from` found */
	uint64_t not_found;          /* sequences without a message */
	uint64_t foreign;            /* other messages */
	uint64_t malformed;          /* `from` identity, wrong padding */
	uint64_t dups;               /* a counter found a second time */
	uint64_t dup_counter, dup_seq;   /* the first duplicate */
	uint64_t retries;            /* gets sent again (timeouts, errors) */
	uint64_t *at;                /* at[counter - 1]: seq where found */
	uint32_t *len;               /* len[counter - 1]: its payload length */
	uint64_t nat;
};

/* Starts reading stream back (identity prefix from); the result is kept
 * under name.  Each get waits up to timeout_ns and is retried while the
 * server is unreachable.  Returns -1 when a scan of that name runs. */
int sim_client_js_verify(struct sim_client *c, const char *name,
			 const char *stream, const char *from,
			 int64_t timeout_ns);
const struct sim_js_scan *sim_client_js_scan(const struct sim_client *c,
					     const char *name);
/* The js_publish workload with identity prefix from, or NULL. */
const struct sim_js_pubs *sim_client_js_pubs(const struct sim_client *c,
					     const char *from);
/* The i-th js_publish workload, or NULL past the last. */
const struct sim_js_pubs *sim_client_js_pubs_at(const struct sim_client *c,
						uint32_t i);
/* Error answers of that workload (from NULL: every workload) whose
 * description contains text (NULL: all). */
uint64_t sim_client_js_errors_matching(const struct sim_client *c,
				       const char *from, const char *text);
/* The identity payload a publisher with this padding sends. */
size_t sim_identity_payload(char *out, size_t cap, const char *stream,
			    uint64_t counter, uint32_t size);

/* Parses "<stream>#<counter>" at the start of a payload. */
bool sim_identity_parse(const char *p, size_t len, char *stream, size_t cap,
			uint64_t *counter);
bool sim_track_has(const struct sim_track *t, uint64_t counter);

#endif
