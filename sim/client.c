/*
 * client.c - simulated NATS clients; see client.h.
 *
 * Owns the client's env incarnation (a client node never crashes; it only
 * loses connections), its codec state, output buffer and workload state.
 * Output is appended to one buffer and written at the end of the turn
 * (the env's turn-end hook), like the server does.
 *
 * Invariants: bytes are queued only while a connection is established
 * (state >= CS_WAIT_INFO) and the queue is dropped with the connection;
 * every pending request has an armed timeout timer.
 */
#define _GNU_SOURCE             /* memmem */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/assert.h"
#include "lib/buf.h"
#include "lib/json.h"
#include "proto/client_proto.h"
#include "sim_env.h"

#define READ_BUF 65536
#define OUT_MAX (8u << 20)       /* publishes beyond this are dropped */
#define ERRORS_MAX 64
#define HDR_BLOCK "NATS/1.0\r\nSim: 1\r\n\r\n"
#define VERIFY_ATTEMPTS 30       /* sends of one get before giving up */
#define JS_ERR_STREAM_NOT_FOUND 10059

enum cstate {
	CS_DOWN = 0,
	CS_CONNECTING,
	CS_WAIT_INFO,
	CS_WAIT_PONG,
	CS_READY,
};

struct csub {
	char *subject;
	char *queue;
	int sid;
	bool active;                 /* re-sent on every reconnect */
	bool inbox;
	const struct sim_sub_cfg *cfg;   /* NULL for subscriptions from steps */
	int64_t delivered;           /* towards cfg->max_msgs */
	uint64_t received;
	struct sim_track *tracks;
	uint32_t ntracks;
};

struct cstream {
	char name[64];
	uint64_t sent;
};

struct sim_client;

struct cpub {
	struct sim_client *c;
	const struct sim_pub_cfg *cfg;
	struct cstream *stream;
	int timer;
	int64_t ticks;
};

struct creq {
	struct sim_client *c;
	char *name;
	char *subject;
	char *payload;
	const struct sim_req_cfg *cfg;   /* NULL for one-shot requests */
	int timer;
	int64_t ticks;
	uint64_t sent, replies, timeouts, no_responders;
	char *last;
	size_t last_len;
	char *last_reply_to;         /* the last reply's own reply subject
				      * (a pulled message's ack subject) */
};

struct pending {
	struct sim_client *c;
	uint32_t req;
	uint64_t counter;
	int timer;
	int64_t sent_ns;
	bool used;
};

struct cerr {
	char *text;
	uint64_t count;
};

/* One HTTP GET on its own connection (Connection: close): the answer's
 * body becomes the named request's last reply, so reply/reply_json
 * expectations read monitoring endpoints like NATS replies. */
struct chttp {
	struct sim_client *c;
	uint32_t req;                /* index in reqs */
	int sock;                    /* -1 when done */
	int timer;
	bool connected;
	char *out;                   /* the request, unsent from out_off */
	size_t out_len, out_off;
	char *in;                    /* the answer so far */
	size_t in_len;
};

/* One js_publish workload. */
struct cjs {
	struct sim_client *c;
	const struct sim_jspub_cfg *cfg;
	uint32_t index;              /* in the reply inbox: "j<index>" */
	struct sim_js_pubs out;
	uint64_t cap;                /* records allocated */
	uint64_t oldest;             /* lowest counter that may be pending */
	int tick_timer, timeout_timer;
	bool timeout_armed;
	int64_t ticks;
	struct cerr errors[16];      /* distinct error descriptions */
	uint32_t nerrors;
};

/* One read-back of a stream, one request at a time. */
struct cverify {
	struct sim_client *c;
	char name[64];
	uint32_t index;              /* in the reply inbox: "v<index>" */
	struct sim_js_scan scan;
	int64_t timeout_ns;
	int timer;                   /* answer timeout, or retry delay */
	uint64_t req_id;             /* the answer awaited */
	bool waiting;                /* a request is out */
	bool info_done;              /* first/last known: fetching messages */
	uint32_t attempts;           /* sends of the current request */
};

struct sim_client {
	struct sim_world *w;
	struct sim_node *node;
	struct sim_env *senv;
	struct env *env;
	const struct sim_client_cfg *cfg;
	sim_client_resolve_fn resolve;
	void *resolve_arg;
	enum cstate state;
	int sock;
	bool want_write;
	bool stopped;                /* disconnected on purpose */
	struct mem mem;
	struct cp_parser parser;
	struct buf out;
	char *rbuf;
	int reconnect_timer, ping_timer;
	uint32_t attempts;
	uint32_t server_index;
	int pings_out;
	int next_sid;
	char server_name[64];        /* the server of the current connection */
	struct csub **subs;
	uint32_t nsubs;
	struct cpub *pubs;
	uint32_t npubs;
	struct cstream **streams;
	uint32_t nstreams;
	struct creq **reqs;
	uint32_t nreqs;
	struct pending **pend;
	uint32_t npend;
	struct chttp **https;        /* HTTP fetches (monitoring endpoints) */
	uint32_t nhttps;
	struct cjs *jss;             /* js_publish workloads */
	uint32_t njss;
	struct cverify **verifies;   /* stream read-backs */
	uint32_t nverifies;
	struct cerr errors[ERRORS_MAX];
	uint32_t nerrors;
	struct sim_client_stats st;
	char *scratch;               /* payload building */
	size_t scratch_cap;
};

static void client_lost(struct sim_client *c, const char *why, bool by_peer);
static void client_io(void *arg, int sock, unsigned events);
static void client_on_inbox(struct sim_client *c, const struct cp_msg *m);

/* ------------------------------------------------------------ identity */

bool sim_identity_parse(const char *p, size_t len, char *stream, size_t cap,
			uint64_t *counter)
{
	size_t n = 0;
	while (n < len && n < 96 && p[n] != ' ' && p[n] != '\r' &&
	       p[n] != '\n')
		n++;
	size_t hash = n;
	while (hash > 0 && p[hash - 1] != '#')
		hash--;
	if (hash < 2 || hash == n || hash - 1 >= cap)
		return false;
	uint64_t v = 0;
	for (size_t i = hash; i < n; i++) {
		if (p[i] < '0' || p[i] > '9' || v > UINT64_MAX / 10 - 10)
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	memcpy(stream, p, hash - 1);
	stream[hash - 1] = '\0';
	*counter = v;
	return v > 0;
}

bool sim_track_has(const struct sim_track *t, uint64_t counter)
{
	if (counter == 0 || counter > t->nbits)
		return false;
	return (t->bits[(counter - 1) / 8] >> ((counter - 1) % 8)) & 1;
}

static struct sim_track *track_get(struct csub *s, const char *stream)
{
	for (uint32_t i = 0; i < s->ntracks; i++)
		if (strcmp(s->tracks[i].stream, stream) == 0)
			return &s->tracks[i];
	s->tracks = sim_xrealloc(s->tracks, (s->ntracks + 1) *
				 sizeof(*s->tracks));
	struct sim_track *t = &s->tracks[s->ntracks++];
	memset(t, 0, sizeof(*t));
	snprintf(t->stream, sizeof(t->stream), "%s", stream);
	return t;
}

static void track_record(struct sim_track *t, uint64_t counter)
{
	if (counter > t->nbits) {
		uint64_t nbits = MAX(counter, t->nbits * 2);
		nbits = (nbits + 63) & ~(uint64_t)63;
		t->bits = sim_xrealloc(t->bits, (size_t)(nbits / 8));
		memset(t->bits + t->nbits / 8, 0,
		       (size_t)((nbits - t->nbits) / 8));
		t->nbits = nbits;
	}
	if (sim_track_has(t, counter)) {
		t->dups++;
		return;
	}
	t->bits[(counter - 1) / 8] |= (uint8_t)(1u << ((counter - 1) % 8));
	t->count++;
	if (counter < t->last)
		t->out_of_order++;
	else
		t->last = counter;
}

/* -------------------------------------------------------------- output */

static bool client_established(const struct sim_client *c)
{
	return c->sock >= 0 && c->state >= CS_WAIT_INFO;
}

static void client_watch(struct sim_client *c, bool write)
{
	c->want_write = write;
	c->env->sock_watch(c->env, c->sock,
			   ENV_EV_READ | (write ? ENV_EV_WRITE : 0),
			   client_io, c);
}

static void client_flush(void *arg)
{
	struct sim_client *c = arg;
	if (!client_established(c))
		return;
	while (c->out.len > 0) {
		struct iovec iov = { c->out.data, c->out.len };
		long n = c->env->sock_sendv(c->env, c->sock, &iov, 1);
		if (n == ENV_EAGAIN)
			break;
		if (n < 0) {
			client_lost(c, env_strerror((int)n), true);
			return;
		}
		buf_consume(&c->out, (size_t)n);
	}
	bool pending = c->out.len > 0;
	if (pending != c->want_write)
		client_watch(c, pending);
}

static void client_write(struct sim_client *c, const void *data, size_t len)
{
	if (client_established(c))
		buf_append(&c->out, data, len);
}

static void client_write_str(struct sim_client *c, const char *s)
{
	client_write(c, s, strlen(s));
}

static void client_send_sub(struct sim_client *c, const struct csub *s)
{
	char line[1024], sid[16];
	int sl = snprintf(sid, sizeof(sid), "%d", s->sid);
	size_t n = cp_encode_sub_line(line, sizeof(line), s->subject,
				      strlen(s->subject), s->queue,
				      s->queue ? strlen(s->queue) : 0, sid,
				      (size_t)sl);
	client_write(c, line, n);
	if (s->cfg != NULL && s->cfg->max_msgs > 0) {
		n = cp_encode_unsub_line(line, sizeof(line), sid, (size_t)sl,
					 s->cfg->max_msgs - s->delivered);
		client_write(c, line, n);
	}
}

static int client_pub(struct sim_client *c, const char *subject,
		      const char *reply, const void *payload, size_t len,
		      bool headers)
{
	if (c->state != CS_READY || c->out.len > OUT_MAX)
		return -1;
	size_t hl = headers ? strlen(HDR_BLOCK) : 0;
	char line[1024];
	size_t n = cp_encode_pub_line(line, sizeof(line), subject,
				      strlen(subject), reply,
				      reply ? strlen(reply) : 0, headers, hl,
				      hl + len);
	if (n == 0)
		return -1;
	client_write(c, line, n);
	if (headers)
		client_write(c, HDR_BLOCK, hl);
	client_write(c, payload, len);
	client_write(c, "\r\n", 2);
	return 0;
}

/* ---------------------------------------------------------- handshake */

static void client_send_connect(struct sim_client *c)
{
	const struct sim_client_cfg *k = c->cfg;
	struct buf b;
	struct jw w;
	buf_init(&b, &c->mem);
	jw_init(&w, &b);
	jw_obj_begin(&w);
	jw_key(&w, "verbose");
	jw_bool(&w, k->verbose);
	jw_key(&w, "pedantic");
	jw_bool(&w, k->pedantic);
	jw_key(&w, "tls_required");
	jw_bool(&w, false);
	jw_key(&w, "name");
	jw_str(&w, k->conn_name ? k->conn_name : k->name);
	jw_key(&w, "lang");
	jw_str(&w, "sim");
	jw_key(&w, "version");
	jw_str(&w, "0.1.0");
	jw_key(&w, "protocol");
	jw_int(&w, 1);
	jw_key(&w, "echo");
	jw_bool(&w, k->echo);
	jw_key(&w, "headers");
	jw_bool(&w, k->headers);
	jw_key(&w, "no_responders");
	jw_bool(&w, k->no_responders);
	if (k->user) {
		jw_key(&w, "user");
		jw_str(&w, k->user);
	}
	if (k->pass) {
		jw_key(&w, "pass");
		jw_str(&w, k->pass);
	}
	if (k->token) {
		jw_key(&w, "auth_token");
		jw_str(&w, k->token);
	}
	jw_obj_end(&w);
	client_write_str(c, "CONNECT ");
	client_write(c, b.data, b.len);
	client_write_str(c, "\r\n" CP_PING_LINE);
	buf_free(&b);
}

static void client_ping_fired(void *arg, int timer)
{
	struct sim_client *c = arg;
	UNUSED(timer);
	if (c->state != CS_READY)
		return;
	if (c->pings_out >= c->cfg->max_pings_out) {
		client_lost(c, "stale connection (no PONG)", false);
		return;
	}
	c->pings_out++;
	client_write_str(c, CP_PING_LINE);
	c->env->timer_arm(c->env, c->ping_timer, c->env->now_mono_ns(c->env) +
			  c->cfg->ping_interval_ns);
}

static void client_ready(struct sim_client *c)
{
	c->state = CS_READY;
	c->st.connects++;
	if (c->st.connects > 1)
		c->st.reconnects++;
	c->attempts = 0;
	c->pings_out = 0;
	for (uint32_t i = 0; i < c->nsubs; i++)
		if (c->subs[i]->active)
			client_send_sub(c, c->subs[i]);
	struct sim_node *srv = sim_node_find(c->w, c->server_name);
	sim_emit(c->w, TRACE_CLIENT_READY, c->node->id, srv ? srv->id : -1, 0,
		 (int64_t)c->st.connects, NULL, c->server_name);
	if (c->cfg->ping_interval_ns > 0)
		c->env->timer_arm(c->env, c->ping_timer,
				  c->env->now_mono_ns(c->env) +
				  c->cfg->ping_interval_ns);
}

/* ----------------------------------------------------------- reconnect */

static int64_t client_backoff(struct sim_client *c)
{
	const struct sim_client_cfg *k = c->cfg;
	uint32_t shift = MIN(c->attempts > 0 ? c->attempts - 1 : 0, 20u);
	int64_t d = k->reconnect_delay_ns << shift;
	if (d > k->reconnect_max_ns || d < 0)
		d = k->reconnect_max_ns;
	if (k->reconnect_jitter_ns > 0)
		d += sim_rng_range(&c->w->rng_clients, 0, k->reconnect_jitter_ns);
	return d;
}

static void client_schedule_reconnect(struct sim_client *c)
{
	const struct sim_client_cfg *k = c->cfg;
	if (c->stopped || !k->reconnect)
		return;
	if (k->max_reconnects >= 0 && c->attempts >= (uint32_t)k->max_reconnects)
		return;
	c->attempts++;
	c->server_index++;
	c->env->timer_arm(c->env, c->reconnect_timer,
			  c->env->now_mono_ns(c->env) + client_backoff(c));
}

static void client_reset_conn(struct sim_client *c)
{
	if (c->sock >= 0)
		c->env->sock_close(c->env, c->sock);
	c->sock = -1;
	c->state = CS_DOWN;
	c->want_write = false;
	c->pings_out = 0;
	buf_reset(&c->out);
	cp_parser_reset(&c->parser);
	c->env->timer_disarm(c->env, c->ping_timer);
}

static void client_lost(struct sim_client *c, const char *why, bool by_peer)
{
	bool established = c->state >= CS_WAIT_INFO;
	client_reset_conn(c);
	if (established) {
		c->st.disconnects++;
		if (by_peer)
			c->st.closed_by_server++;
	} else {
		c->st.connect_failures++;
	}
	sim_emit(c->w, TRACE_CLIENT_LOST, c->node->id, -1, 0, by_peer, NULL,
		 why);
	client_schedule_reconnect(c);
}

int sim_client_connect(struct sim_client *c)
{
	c->stopped = false;
	if (c->state != CS_DOWN)
		return -1;
	const struct sim_client_cfg *k = c->cfg;
	char host[128];
	int port = 0;
	const char *target = k->servers[c->server_index % k->nservers];
	snprintf(c->server_name, sizeof(c->server_name), "%s", target);
	if (c->resolve(c->resolve_arg, target, host, sizeof(host), &port) != 0) {
		client_lost(c, "unknown server", false);
		return -1;
	}
	int s = c->env->tcp_connect(c->env, host, port, ENV_LINK_CLIENT,
				    client_io, c);
	if (s < 0) {
		client_lost(c, env_strerror(s), false);
		return -1;
	}
	c->sock = s;
	c->state = CS_CONNECTING;
	return 0;
}

static void client_reconnect_fired(void *arg, int timer)
{
	UNUSED(timer);
	sim_client_connect(arg);
}

void sim_client_disconnect(struct sim_client *c)
{
	c->stopped = true;
	c->env->timer_disarm(c->env, c->reconnect_timer);
	if (c->state == CS_DOWN)
		return;
	client_reset_conn(c);
	sim_emit(c->w, TRACE_CLIENT_LOST, c->node->id, -1, 0, 0, NULL,
		 "closed by the client");
}

/* ------------------------------------------------------------ receiving */

static void client_record_error(struct sim_client *c, const char *text,
				size_t len)
{
	c->st.errors++;
	for (uint32_t i = 0; i < c->nerrors; i++) {
		if (strlen(c->errors[i].text) == len &&
		    memcmp(c->errors[i].text, text, len) == 0) {
			c->errors[i].count++;
			return;
		}
	}
	if (c->nerrors == ERRORS_MAX)
		return;
	char *t = sim_xcalloc(1, len + 1);
	memcpy(t, text, len);
	c->errors[c->nerrors++] = (struct cerr){ t, 1 };
}

static struct csub *client_sub_by_sid(struct sim_client *c,
				      const struct cp_slice *sid)
{
	int v = 0;
	for (size_t i = 0; i < sid->len; i++) {
		if (sid->ptr[i] < '0' || sid->ptr[i] > '9' || v > 100000000)
			return NULL;
		v = v * 10 + (sid->ptr[i] - '0');
	}
	for (uint32_t i = 0; i < c->nsubs; i++)
		if (c->subs[i]->sid == v)
			return c->subs[i];
	return NULL;
}

static void pending_free(struct sim_client *c, struct pending *p)
{
	c->env->timer_free(c->env, p->timer);
	p->timer = -1;
	p->used = false;
}

/* "_INBOX.<client>.<req>.<counter>": the pending request it answers. */
static struct pending *client_pending_for(struct sim_client *c,
					  const struct cp_slice *subject)
{
	const char *s = subject->ptr, *end = s + subject->len;
	const char *dot2 = end, *dot1;
	while (dot2 > s && dot2[-1] != '.')
		dot2--;
	dot1 = dot2 > s ? dot2 - 1 : s;
	while (dot1 > s && dot1[-1] != '.')
		dot1--;
	uint64_t req = 0, counter = 0;
	for (const char *p = dot1; p < dot2 - 1; p++)
		req = req * 10 + (uint64_t)(*p - '0');
	for (const char *p = dot2; p < end; p++)
		counter = counter * 10 + (uint64_t)(*p - '0');
	for (uint32_t i = 0; i < c->npend; i++) {
		struct pending *p = c->pend[i];
		if (p->used && p->req == req && p->counter == counter)
			return p;
	}
	return NULL;
}

static bool msg_is_no_responders(const struct cp_msg *m)
{
	static const char status[] = "NATS/1.0 503";
	return m->op == CP_OP_HMSG && m->header_len >= sizeof(status) - 1 &&
	       memcmp(m->payload, status, sizeof(status) - 1) == 0 &&
	       m->total_len == m->header_len;
}

/* A message on the inbox subscription whose subject is no inbox: the
 * server kept the message's own subject, as JetStream does for a message
 * pulled from a consumer ("test", not the request's reply subject).  Like
 * nats.go's request multiplexer, it answers the one request waiting, if
 * only one is. */
static struct pending *client_pending_only(struct sim_client *c)
{
	struct pending *only = NULL;
	for (uint32_t i = 0; i < c->npend; i++) {
		if (!c->pend[i]->used)
			continue;
		if (only != NULL)
			return NULL;
		only = c->pend[i];
	}
	return only;
}

static void client_on_reply(struct sim_client *c, const struct cp_msg *m,
			    struct pending *p)
{
	if (p == NULL)
		return;   /* late: it already timed out */
	struct creq *r = c->reqs[p->req];
	char ident[96];
	snprintf(ident, sizeof(ident), "%s#%llu", r->name,
		 (unsigned long long)p->counter);
	if (msg_is_no_responders(m)) {
		r->no_responders++;
		c->st.no_responders++;
		sim_emit(c->w, TRACE_CLIENT_NO_RESPONDERS, c->node->id, -1, 0, 0,
			 r->subject, ident);
	} else {
		size_t len = m->total_len - m->header_len;
		r->replies++;
		c->st.replies++;
		r->last = sim_xrealloc(r->last, len + 1);
		memcpy(r->last, m->payload + m->header_len, len);
		r->last[len] = '\0';
		r->last_len = len;
		free(r->last_reply_to);
		r->last_reply_to = NULL;
		if (m->reply.len > 0) {
			r->last_reply_to = sim_xcalloc(1, m->reply.len + 1);
			memcpy(r->last_reply_to, m->reply.ptr, m->reply.len);
		}
		sim_emit(c->w, TRACE_CLIENT_REPLY, c->node->id, -1, 0,
			 sim_now(c->w) - p->sent_ns, r->subject, ident);
	}
	pending_free(c, p);
}

static void client_respond(struct sim_client *c, const struct csub *s,
			   const struct cp_msg *m)
{
	if (s->cfg == NULL || m->reply.len == 0 ||
	    (s->cfg->reply == NULL && !s->cfg->reply_echo))
		return;
	char reply[512];
	size_t n = MIN(m->reply.len, sizeof(reply) - 1);
	memcpy(reply, m->reply.ptr, n);
	reply[n] = '\0';
	if (s->cfg->reply_echo)
		client_pub(c, reply, NULL, m->payload + m->header_len,
			   m->total_len - m->header_len, false);
	else
		client_pub(c, reply, NULL, s->cfg->reply,
			   strlen(s->cfg->reply), false);
}

static void client_on_msg(struct sim_client *c, const struct cp_msg *m)
{
	struct csub *s = client_sub_by_sid(c, &m->sid);
	if (s == NULL)
		return;   /* after an unsubscribe */
	if (s->inbox) {
		client_on_inbox(c, m);
		return;
	}
	s->received++;
	c->st.received++;
	char stream[64];
	uint64_t counter;
	if (sim_identity_parse(m->payload + m->header_len,
			       m->total_len - m->header_len, stream,
			       sizeof(stream), &counter))
		track_record(track_get(s, stream), counter);
	client_respond(c, s, m);
	if (s->cfg != NULL && s->cfg->max_msgs > 0 &&
	    ++s->delivered >= s->cfg->max_msgs)
		s->active = false;
}

static int client_on_op(void *arg, const struct cp_msg *m)
{
	struct sim_client *c = arg;
	switch (m->op) {
	case CP_OP_INFO:
		if (c->state == CS_WAIT_INFO) {
			client_send_connect(c);
			c->state = CS_WAIT_PONG;
		}
		break;
	case CP_OP_PING:
		c->st.pings_in++;
		client_write_str(c, CP_PONG_LINE);
		break;
	case CP_OP_PONG:
		c->st.pongs_in++;
		if (c->state == CS_WAIT_PONG)
			client_ready(c);
		else
			c->pings_out = 0;
		break;
	case CP_OP_MSG:
	case CP_OP_HMSG:
		client_on_msg(c, m);
		break;
	case CP_OP_ERR:
		client_record_error(c, m->arg.ptr, m->arg.len);
		break;
	case CP_OP_OK:
		c->st.oks++;
		break;
	default:
		break;
	}
	return c->sock < 0;   /* stop if the connection went away */
}

static void client_read(struct sim_client *c)
{
	for (;;) {
		long n = c->env->sock_recv(c->env, c->sock, c->rbuf, READ_BUF);
		if (n == ENV_EAGAIN)
			return;
		if (n == 0) {
			client_lost(c, "closed by the server", true);
			return;
		}
		if (n < 0) {
			client_lost(c, env_strerror((int)n), true);
			return;
		}
		long rc = cp_parse(&c->parser, c->rbuf, (size_t)n,
				   client_on_op, c, NULL);
		if (c->sock < 0)
			return;
		if (rc < 0) {
			client_lost(c, "protocol error from the server", false);
			return;
		}
	}
}

static void client_io(void *arg, int sock, unsigned events)
{
	struct sim_client *c = arg;
	if (sock != c->sock)
		return;
	if (c->state == CS_CONNECTING) {
		if (events & ENV_EV_ERROR) {
			client_lost(c, "connect failed", false);
			return;
		}
		c->state = c->cfg->handshake ? CS_WAIT_INFO : CS_READY;
		if (!c->cfg->handshake) {
			c->st.connects++;
			sim_emit(c->w, TRACE_CLIENT_READY, c->node->id, -1, 0,
				 (int64_t)c->st.connects, NULL, c->server_name);
		}
		client_watch(c, false);
		return;
	}
	if (events & ENV_EV_WRITE)
		client_flush(c);
	if (c->sock >= 0 && (events & (ENV_EV_READ | ENV_EV_ERROR)))
		client_read(c);
}

/* ----------------------------------------------------------- workloads */

static int64_t client_mono_at(struct sim_client *c, int64_t world_ns)
{
	return c->node->mono_origin_ns + world_ns;
}

static struct cstream *client_stream(struct sim_client *c, const char *name)
{
	for (uint32_t i = 0; i < c->nstreams; i++)
		if (strcmp(c->streams[i]->name, name) == 0)
			return c->streams[i];
	struct cstream *s = sim_xcalloc(1, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	c->streams = sim_xrealloc(c->streams, (c->nstreams + 1) *
				  sizeof(*c->streams));
	c->streams[c->nstreams++] = s;
	return s;
}

/* "<stream>#<counter>", padded with a blank and 'x's to size bytes. */
static size_t identity_payload(char *out, size_t cap, const char *stream,
			       uint64_t counter, uint32_t size)
{
	int n = snprintf(out, cap, "%s#%llu", stream,
			 (unsigned long long)counter);
	size_t len = (size_t)n;
	if (size > len + 1 && size <= cap) {
		out[len] = ' ';
		memset(out + len + 1, 'x', size - len - 1);
		len = size;
	}
	return len;
}

size_t sim_identity_payload(char *out, size_t cap, const char *stream,
			    uint64_t counter, uint32_t size)
{
	return identity_payload(out, cap, stream, counter, size);
}

static char *client_scratch(struct sim_client *c, size_t need)
{
	if (need > c->scratch_cap) {
		c->scratch = sim_xrealloc(c->scratch, need);
		c->scratch_cap = need;
	}
	return c->scratch;
}

static void pub_tick(void *arg, int timer)
{
	struct cpub *p = arg;
	struct sim_client *c = p->c;
	const struct sim_pub_cfg *k = p->cfg;
	UNUSED(timer);
	p->ticks++;
	if (c->state == CS_READY && c->out.len <= OUT_MAX) {
		const char *data = k->payload;
		size_t len = data ? strlen(data) : 0;
		if (data == NULL) {
			char *buf = client_scratch(c, (size_t)k->size + 96);
			len = identity_payload(buf, (size_t)k->size + 96,
					       p->stream->name,
					       p->stream->sent + 1, k->size);
			data = buf;
		}
		client_pub(c, k->subject, k->reply, data, len, k->headers);
		p->stream->sent++;
		c->st.published++;
	} else {
		c->st.pub_dropped++;
	}
	if (p->ticks < k->count)
		c->env->timer_arm(c->env, p->timer,
				  c->env->now_mono_ns(c->env) + k->interval_ns);
}

static struct creq *client_req_find(struct sim_client *c, const char *name,
				    uint32_t *index)
{
	for (uint32_t i = 0; i < c->nreqs; i++) {
		if (strcmp(c->reqs[i]->name, name) == 0) {
			if (index != NULL)
				*index = i;
			return c->reqs[i];
		}
	}
	return NULL;
}

static struct csub *client_add_sub(struct sim_client *c, const char *subject,
				   const char *queue,
				   const struct sim_sub_cfg *cfg, bool inbox)
{
	struct csub *s = sim_xcalloc(1, sizeof(*s));
	s->subject = sim_xstrdup(subject);
	s->queue = queue ? sim_xstrdup(queue) : NULL;
	s->sid = ++c->next_sid;
	s->active = true;
	s->inbox = inbox;
	s->cfg = cfg;
	c->subs = sim_xrealloc(c->subs, (c->nsubs + 1) * sizeof(*c->subs));
	c->subs[c->nsubs++] = s;
	if (c->state == CS_READY)
		client_send_sub(c, s);
	return s;
}

static void client_ensure_inbox(struct sim_client *c)
{
	for (uint32_t i = 0; i < c->nsubs; i++)
		if (c->subs[i]->inbox)
			return;
	char subject[128];
	snprintf(subject, sizeof(subject), "_INBOX.%s.>", c->cfg->name);
	client_add_sub(c, subject, NULL, NULL, true);
}

static void pending_timeout(void *arg, int timer)
{
	struct pending *p = arg;
	struct sim_client *c = p->c;
	struct creq *r = c->reqs[p->req];
	UNUSED(timer);
	char ident[96];
	snprintf(ident, sizeof(ident), "%s#%llu", r->name,
		 (unsigned long long)p->counter);
	r->timeouts++;
	c->st.timeouts++;
	sim_emit(c->w, TRACE_CLIENT_TIMEOUT, c->node->id, -1, 0, 0, r->subject,
		 ident);
	pending_free(c, p);
}

static struct pending *pending_new(struct sim_client *c)
{
	for (uint32_t i = 0; i < c->npend; i++)
		if (!c->pend[i]->used)
			return c->pend[i];
	struct pending *p = sim_xcalloc(1, sizeof(*p));
	p->c = c;
	p->timer = -1;
	c->pend = sim_xrealloc(c->pend, (c->npend + 1) * sizeof(*c->pend));
	c->pend[c->npend++] = p;
	return p;
}

/* Sends one request of r; -1 when not connected. */
static int client_send_request(struct sim_client *c, uint32_t ri,
			       int64_t timeout_ns)
{
	struct creq *r = c->reqs[ri];
	if (c->state != CS_READY || c->out.len > OUT_MAX)
		return -1;
	uint64_t counter = ++r->sent;
	char reply[160], ident[128];
	snprintf(reply, sizeof(reply), "_INBOX.%s.%u.%llu", c->cfg->name, ri,
		 (unsigned long long)counter);
	const char *payload = r->payload;
	size_t len;
	if (payload == NULL) {
		len = identity_payload(ident, sizeof(ident), r->name, counter, 0);
		payload = ident;
	} else {
		len = strlen(payload);
	}
	client_pub(c, r->subject, reply, payload, len, false);
	c->st.requests++;
	struct pending *p = pending_new(c);
	p->used = true;
	p->req = ri;
	p->counter = counter;
	p->sent_ns = sim_now(c->w);
	p->timer = c->env->timer_new(c->env, pending_timeout, p);
	c->env->timer_arm(c->env, p->timer,
			  c->env->now_mono_ns(c->env) + timeout_ns);
	return 0;
}

static void req_tick(void *arg, int timer)
{
	struct creq *r = arg;
	struct sim_client *c = r->c;
	UNUSED(timer);
	uint32_t ri = 0;
	client_req_find(c, r->name, &ri);
	r->ticks++;
	if (client_send_request(c, ri, r->cfg->timeout_ns) != 0)
		c->st.pub_dropped++;
	if (r->ticks < r->cfg->count)
		c->env->timer_arm(c->env, r->timer, c->env->now_mono_ns(c->env) +
				  r->cfg->interval_ns);
}

static struct creq *client_req_add(struct sim_client *c, const char *name,
				   const char *subject, const char *payload,
				   const struct sim_req_cfg *cfg)
{
	struct creq *r = sim_xcalloc(1, sizeof(*r));
	r->c = c;
	r->name = sim_xstrdup(name);
	r->subject = sim_xstrdup(subject);
	r->payload = payload ? sim_xstrdup(payload) : NULL;
	r->cfg = cfg;
	r->timer = -1;
	c->reqs = sim_xrealloc(c->reqs, (c->nreqs + 1) * sizeof(*c->reqs));
	c->reqs[c->nreqs++] = r;
	client_ensure_inbox(c);
	return r;
}

/* ------------------------------------------------------------- actions */

int sim_client_publish(struct sim_client *c, const char *subject,
		       const char *reply, const char *payload, size_t len)
{
	char ident[128];
	if (payload == NULL) {
		struct cstream *s = client_stream(c, c->cfg->name);
		len = identity_payload(ident, sizeof(ident), s->name,
				       s->sent + 1, 0);
		payload = ident;
		if (c->state != CS_READY)
			return -1;
		s->sent++;
	}
	if (client_pub(c, subject, reply, payload, len, false) != 0)
		return -1;
	c->st.published++;
	return 0;
}

int sim_client_reply_to(struct sim_client *c, const char *name,
			const char *payload, size_t len)
{
	const struct creq *r = client_req_find(c, name, NULL);
	if (r == NULL || r->last_reply_to == NULL)
		return -1;
	if (client_pub(c, r->last_reply_to, NULL, payload ? payload : "",
		       payload ? len : 0, false) != 0)
		return -1;
	c->st.published++;
	return 0;
}

int sim_client_request(struct sim_client *c, const char *name,
		       const char *subject, const char *payload,
		       int64_t timeout_ns)
{
	uint32_t ri = 0;
	struct creq *r = client_req_find(c, name, &ri);
	if (r == NULL) {
		client_req_add(c, name, subject, payload, NULL);
		ri = c->nreqs - 1;
		r = c->reqs[ri];
	} else {
		free(r->subject);
		r->subject = sim_xstrdup(subject);
		free(r->payload);
		r->payload = payload ? sim_xstrdup(payload) : NULL;
	}
	return client_send_request(c, ri, timeout_ns);
}

int sim_client_subscribe(struct sim_client *c, const char *subject,
			 const char *queue)
{
	client_add_sub(c, subject, queue, NULL, false);
	return c->state == CS_READY ? 0 : -1;
}

int sim_client_unsubscribe(struct sim_client *c, const char *subject)
{
	for (uint32_t i = 0; i < c->nsubs; i++) {
		struct csub *s = c->subs[i];
		if (!s->active || s->inbox || strcmp(s->subject, subject) != 0)
			continue;
		s->active = false;
		char line[64], sid[16];
		int sl = snprintf(sid, sizeof(sid), "%d", s->sid);
		size_t n = cp_encode_unsub_line(line, sizeof(line), sid,
						(size_t)sl, -1);
		if (c->state == CS_READY)
			client_write(c, line, n);
		return 0;
	}
	return -1;
}

int sim_client_send_raw(struct sim_client *c, const void *data, size_t len)
{
	if (!client_established(c))
		return -1;
	client_write(c, data, len);
	return 0;
}

/* ---------------------------------------------------------------- http */

static void http_done(struct chttp *h, bool ok, const char *why)
{
	struct sim_client *c = h->c;
	struct creq *r = c->reqs[h->req];
	if (h->sock >= 0)
		c->env->sock_close(c->env, h->sock);
	h->sock = -1;
	c->env->timer_free(c->env, h->timer);
	h->timer = -1;
	const char *body = NULL;
	size_t blen = 0;
	if (ok) {
		/* Status line, headers, blank line, body (the server closes
		 * after it, so the body is the rest). */
		const char *end = h->in_len > 0 ? memmem(h->in, h->in_len,
							 "\r\n\r\n", 4) : NULL;
		if (end == NULL || h->in_len < 12 || memcmp(h->in, "HTTP/1.", 7))
			ok = false, why = "not an HTTP answer";
		else
			body = end + 4, blen = h->in_len - (size_t)(body - h->in);
	}
	if (ok) {
		free(r->last);
		free(r->last_reply_to);
		r->last_reply_to = NULL;
		r->last = sim_xcalloc(1, blen + 1);
		memcpy(r->last, body, blen);
		r->last_len = blen;
		r->replies++;
		c->st.replies++;
	} else {
		r->timeouts++;
		c->st.timeouts++;
	}
	sim_emit(c->w, ok ? TRACE_CLIENT_REPLY : TRACE_CLIENT_TIMEOUT,
		 c->node->id, -1, 0, 0, r->subject, ok ? r->name : why);
	free(h->out);
	free(h->in);
	h->out = h->in = NULL;
}

static void http_io(void *arg, int sock, unsigned events)
{
	struct chttp *h = arg;
	struct sim_client *c = h->c;
	if (sock != h->sock)
		return;
	if (!h->connected) {
		if (events & ENV_EV_ERROR) {
			http_done(h, false, "connect failed");
			return;
		}
		h->connected = true;
	}
	while (h->out_off < h->out_len) {
		struct iovec iov = { h->out + h->out_off, h->out_len - h->out_off };
		long n = c->env->sock_sendv(c->env, h->sock, &iov, 1);
		if (n == ENV_EAGAIN)
			break;
		if (n < 0) {
			http_done(h, false, env_strerror((int)n));
			return;
		}
		h->out_off += (size_t)n;
	}
	c->env->sock_watch(c->env, h->sock, ENV_EV_READ |
			   (h->out_off < h->out_len ? ENV_EV_WRITE : 0),
			   http_io, h);
	for (;;) {
		long n = c->env->sock_recv(c->env, h->sock, c->rbuf, READ_BUF);
		if (n == ENV_EAGAIN)
			return;
		if (n <= 0) {
			/* End of stream: the answer is complete; a reset
			 * before any byte is a failure. */
			http_done(h, n == 0 || h->in_len > 0,
				  env_strerror((int)n));
			return;
		}
		h->in = sim_xrealloc(h->in, h->in_len + (size_t)n);
		memcpy(h->in + h->in_len, c->rbuf, (size_t)n);
		h->in_len += (size_t)n;
	}
}

static void http_timeout(void *arg, int timer)
{
	UNUSED(timer);
	http_done(arg, false, "timeout");
}

int sim_client_http_get(struct sim_client *c, const char *name,
			const char *host, int port, const char *path,
			int64_t timeout_ns)
{
	uint32_t ri = 0;
	struct creq *r = client_req_find(c, name, &ri);
	if (r == NULL) {
		r = sim_xcalloc(1, sizeof(*r));
		r->c = c;
		r->name = sim_xstrdup(name);
		r->subject = sim_xstrdup(path);
		r->timer = -1;
		c->reqs = sim_xrealloc(c->reqs, (c->nreqs + 1) * sizeof(*c->reqs));
		ri = c->nreqs;
		c->reqs[c->nreqs++] = r;
	}
	r->sent++;
	c->st.requests++;
	struct chttp *h = sim_xcalloc(1, sizeof(*h));
	h->c = c;
	h->req = ri;
	size_t cap = strlen(path) + strlen(host) + 96;
	h->out = sim_xcalloc(1, cap);
	h->out_len = (size_t)snprintf(h->out, cap, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n"
				      "Connection: close\r\n\r\n", path, host, port);
	c->https = sim_xrealloc(c->https, (c->nhttps + 1) * sizeof(*c->https));
	c->https[c->nhttps++] = h;
	h->timer = c->env->timer_new(c->env, http_timeout, h);
	c->env->timer_arm(c->env, h->timer, c->env->now_mono_ns(c->env) + timeout_ns);
	h->sock = c->env->tcp_connect(c->env, host, port, ENV_LINK_HTTP, http_io, h);
	if (h->sock < 0) {
		h->sock = -1;
		http_done(h, false, "connect failed");
		return -1;
	}
	return 0;
}

/* ----------------------------------------------------------- JetStream */

/* A reply inbox of this client: "_INBOX.<client>.<kind><index>.<n>". */
static bool inbox_parse(const struct sim_client *c, const struct cp_slice *s,
			char *kind, uint32_t *index, uint64_t *n)
{
	size_t nl = strlen(c->cfg->name), i = 7 + nl + 1;
	if (s->len <= i + 2 || memcmp(s->ptr, "_INBOX.", 7) != 0 ||
	    memcmp(s->ptr + 7, c->cfg->name, nl) != 0 || s->ptr[7 + nl] != '.')
		return false;
	*kind = s->ptr[i];
	if (*kind >= '0' && *kind <= '9')
		return true;   /* a plain request: client_pending_for */
	uint64_t v = 0;
	for (i++; i < s->len && s->ptr[i] != '.'; i++) {
		if (s->ptr[i] < '0' || s->ptr[i] > '9' || v > 1000000)
			return false;
		v = v * 10 + (uint64_t)(s->ptr[i] - '0');
	}
	*index = (uint32_t)v;
	if (i + 1 >= s->len)
		return false;
	for (v = 0, i++; i < s->len; i++) {
		if (s->ptr[i] < '0' || s->ptr[i] > '9' || v > UINT64_MAX / 20)
			return false;
		v = v * 10 + (uint64_t)(s->ptr[i] - '0');
	}
	*n = v;
	return true;
}

/* What a JetStream API answer says: an error (code, err_code,
 * description) or the fields a caller asked for. */
struct js_answer {
	bool error;
	int64_t code, err_code;
	char text[128];              /* error description */
};

static void js_answer_error(struct sim_client *c, const struct json_doc *d,
			    struct js_answer *a)
{
	int e = json_obj_get(d, 0, "error");
	a->error = e >= 0;
	if (!a->error)
		return;
	json_obj_int(d, e, "code", &a->code);
	json_obj_int(d, e, "err_code", &a->err_code);
	struct buf b;
	buf_init(&b, &c->mem);
	if (json_obj_string(d, e, "description", &b))
		snprintf(a->text, sizeof(a->text), "%.*s", (int)b.len, b.data);
	buf_free(&b);
}

static void jspub_record_error(struct cjs *j, const char *text)
{
	for (uint32_t i = 0; i < j->nerrors; i++) {
		if (strcmp(j->errors[i].text, text) == 0) {
			j->errors[i].count++;
			return;
		}
	}
	if (j->nerrors < ARRAY_LEN(j->errors))
		j->errors[j->nerrors++] = (struct cerr){ sim_xstrdup(text), 1 };
}

/* Applies the answer to publish `counter`: a PubAck or an error.  An
 * answer after the timeout still counts (late): the server did store it. */
static void jspub_answer(struct cjs *j, uint64_t counter, const char *p,
			 size_t len, bool no_responders)
{
	struct sim_client *c = j->c;
	if (counter == 0 || counter > j->out.sent)
		return;
	struct sim_js_rec *rec = &j->out.recs[counter - 1];
	if (rec->state == SIM_JS_ACKED || rec->state == SIM_JS_ERROR)
		return;   /* a second answer: ignore it */
	struct js_answer a = { .error = true };
	uint64_t seq = 0;
	char stream[64] = "";
	struct json_doc d;
	if (no_responders) {
		snprintf(a.text, sizeof(a.text), "no responders");
	} else if (json_parse(&d, &c->mem, p, len) != 0) {
		snprintf(a.text, sizeof(a.text), "not a PubAck");
	} else {
		js_answer_error(c, &d, &a);
		struct buf b;
		buf_init(&b, &c->mem);
		if (!a.error && (!json_get_uint(&d, json_obj_get(&d, 0, "seq"),
						&seq) || seq == 0)) {
			a.error = true;
			snprintf(a.text, sizeof(a.text), "PubAck without seq");
		}
		if (json_obj_string(&d, 0, "stream", &b))
			snprintf(stream, sizeof(stream), "%.*s", (int)b.len,
				 b.data);
		buf_free(&b);
		json_doc_free(&d);
	}
	if (rec->state == SIM_JS_TIMEOUT) {
		j->out.timeouts--;
		j->out.late_acks += !a.error;
	}
	char ident[160];
	if (a.error) {
		rec->state = SIM_JS_ERROR;
		j->out.errors++;
		jspub_record_error(j, a.text);
		snprintf(ident, sizeof(ident), "%s#%llu error: %s", j->out.from,
			 (unsigned long long)counter, a.text);
	} else {
		rec->state = SIM_JS_ACKED;
		rec->seq = seq;
		j->out.acked++;
		if (j->out.ack_stream[0] == '\0')
			snprintf(j->out.ack_stream, sizeof(j->out.ack_stream),
				 "%s", stream);
		else if (strcmp(j->out.ack_stream, stream) != 0)
			j->out.wrong_stream++;
		snprintf(ident, sizeof(ident), "%s#%llu seq %llu", j->out.from,
			 (unsigned long long)counter, (unsigned long long)seq);
	}
	sim_emit(c->w, TRACE_CLIENT_REPLY, c->node->id, -1, 0,
		 c->env->now_mono_ns(c->env) - rec->sent_mono_ns,
		 j->cfg->subject, ident);
}

/* Publishes still unanswered after the timeout become unknown; one timer
 * per workload, armed for the oldest pending publish. */
static void jspub_timeouts(void *arg, int timer)
{
	struct cjs *j = arg;
	struct sim_client *c = j->c;
	UNUSED(timer);
	j->timeout_armed = false;
	int64_t now = c->env->now_mono_ns(c->env);
	for (; j->oldest <= j->out.sent; j->oldest++) {
		struct sim_js_rec *rec = &j->out.recs[j->oldest - 1];
		if (rec->state != SIM_JS_PENDING)
			continue;
		int64_t due = rec->sent_mono_ns + j->cfg->timeout_ns;
		if (due > now) {
			c->env->timer_arm(c->env, j->timeout_timer, due);
			j->timeout_armed = true;
			return;
		}
		rec->state = SIM_JS_TIMEOUT;
		j->out.timeouts++;
		char ident[96];
		snprintf(ident, sizeof(ident), "%s#%llu", j->out.from,
			 (unsigned long long)j->oldest);
		sim_emit(c->w, TRACE_CLIENT_TIMEOUT, c->node->id, -1, 0, 0,
			 j->cfg->subject, ident);
	}
}

static void jspub_send(struct cjs *j)
{
	struct sim_client *c = j->c;
	const struct sim_jspub_cfg *k = j->cfg;
	uint64_t counter = j->out.sent + 1;
	if (counter > j->cap) {
		j->cap = j->cap ? j->cap * 2 : 256;
		j->out.recs = sim_xrealloc(j->out.recs,
					   (size_t)j->cap * sizeof(*j->out.recs));
	}
	char *buf = client_scratch(c, (size_t)k->size + 96);
	size_t len = sim_identity_payload(buf, (size_t)k->size + 96,
					  j->out.from, counter, k->size);
	char reply[160];
	snprintf(reply, sizeof(reply), "_INBOX.%s.j%u.%llu", c->cfg->name,
		 j->index, (unsigned long long)counter);
	client_pub(c, k->subject, reply, buf, len, false);
	int64_t now = c->env->now_mono_ns(c->env);
	j->out.recs[counter - 1] = (struct sim_js_rec){
		.sent_mono_ns = now, .state = SIM_JS_PENDING,
	};
	j->out.sent = counter;
	c->st.published++;
	if (!j->timeout_armed) {
		c->env->timer_arm(c->env, j->timeout_timer, now + k->timeout_ns);
		j->timeout_armed = true;
	}
}

static void jspub_tick(void *arg, int timer)
{
	struct cjs *j = arg;
	struct sim_client *c = j->c;
	UNUSED(timer);
	j->ticks++;
	if (c->state == CS_READY && c->out.len <= OUT_MAX) {
		jspub_send(j);
	} else {
		j->out.not_sent++;
		c->st.pub_dropped++;
	}
	if (j->ticks < j->cfg->count)
		c->env->timer_arm(c->env, j->tick_timer,
				  c->env->now_mono_ns(c->env) +
				  j->cfg->interval_ns);
}

/* Standard base64 (padding optional); returns the decoded length, or -1. */
static long base64_decode(const char *in, size_t len, char *out, size_t cap)
{
	uint32_t acc = 0, bits = 0;
	size_t n = 0;
	for (size_t i = 0; i < len && in[i] != '='; i++) {
		char ch = in[i];
		int v = ch >= 'A' && ch <= 'Z' ? ch - 'A'
			: ch >= 'a' && ch <= 'z' ? ch - 'a' + 26
			: ch >= '0' && ch <= '9' ? ch - '0' + 52
			: ch == '+' ? 62 : ch == '/' ? 63 : -1;
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return -1;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	return (long)n;
}

/* A payload is well formed when it is exactly what a publisher sends:
 * the identity, then optionally a blank and 'x's. */
static bool identity_well_formed(const char *p, size_t len)
{
	const char *sp = memchr(p, ' ', len);
	if (sp == NULL)
		return true;
	for (const char *q = sp + 1; q < p + len; q++)
		if (*q != 'x')
			return false;
	return sp + 1 < p + len;
}

static void scan_record(struct sim_js_scan *s, const char *p, size_t len,
			uint64_t seq)
{
	char from[64];
	uint64_t counter;
	if (!sim_identity_parse(p, len, from, sizeof(from), &counter) ||
	    strcmp(from, s->from) != 0) {
		s->foreign++;
		return;
	}
	if (!identity_well_formed(p, len))
		s->malformed++;
	if (counter > s->nat) {
		uint64_t n = MAX(counter, s->nat * 2);
		s->at = sim_xrealloc(s->at, (size_t)n * sizeof(*s->at));
		s->len = sim_xrealloc(s->len, (size_t)n * sizeof(*s->len));
		memset(s->at + s->nat, 0, (size_t)(n - s->nat) * sizeof(*s->at));
		memset(s->len + s->nat, 0,
		       (size_t)(n - s->nat) * sizeof(*s->len));
		s->nat = n;
	}
	if (s->at[counter - 1] != 0) {
		if (s->dups++ == 0) {
			s->dup_counter = counter;
			s->dup_seq = seq;
		}
		return;
	}
	s->at[counter - 1] = seq;
	s->len[counter - 1] = (uint32_t)MIN(len, UINT32_MAX);
	s->found++;
}

static void verify_send(struct cverify *v);

static void verify_finish(struct cverify *v, const char *failed)
{
	struct sim_client *c = v->c;
	v->scan.done = true;
	v->waiting = false;
	c->env->timer_disarm(c->env, v->timer);
	if (failed != NULL)
		snprintf(v->scan.failed, sizeof(v->scan.failed), "%s", failed);
	char text[256];
	snprintf(text, sizeof(text), "verify %s: %s%s", v->name,
		 failed ? "failed: " : "done", failed ? failed : "");
	sim_emit(c->w, TRACE_CLIENT_REPLY, c->node->id, -1, 0,
		 (int64_t)v->scan.found, v->scan.stream, text);
}

/* No answer in time, or an answer that says "try again": send the same
 * request again, a bounded number of times. */
static void verify_retry_fired(void *arg, int timer)
{
	struct cverify *v = arg;
	UNUSED(timer);
	if (v->scan.done)
		return;
	v->waiting = false;
	if (++v->attempts > VERIFY_ATTEMPTS) {
		char why[160];
		snprintf(why, sizeof(why), "no answer for %s after %u attempts",
			 v->info_done ? "a message get" : "the stream info",
			 VERIFY_ATTEMPTS);
		verify_finish(v, why);
		return;
	}
	v->scan.retries++;
	verify_send(v);
}

static void verify_retry_later(struct cverify *v)
{
	struct sim_client *c = v->c;
	v->waiting = false;
	c->env->timer_arm(c->env, v->timer,
			  c->env->now_mono_ns(c->env) + v->timeout_ns);
}

static void verify_send(struct cverify *v)
{
	struct sim_client *c = v->c;
	if (c->state != CS_READY || c->out.len > OUT_MAX) {
		verify_retry_later(v);
		return;
	}
	char subject[200], reply[160], payload[64];
	size_t plen = 0;
	if (!v->info_done) {
		snprintf(subject, sizeof(subject), "$JS.API.STREAM.INFO.%s",
			 v->scan.stream);
	} else {
		snprintf(subject, sizeof(subject), "$JS.API.STREAM.MSG.GET.%s",
			 v->scan.stream);
		plen = (size_t)snprintf(payload, sizeof(payload), "{\"seq\":%llu}",
					(unsigned long long)v->scan.next_seq);
	}
	snprintf(reply, sizeof(reply), "_INBOX.%s.v%u.%llu", c->cfg->name,
		 v->index, (unsigned long long)++v->req_id);
	client_pub(c, subject, reply, payload, plen, false);
	v->waiting = true;
	c->env->timer_arm(c->env, v->timer,
			  c->env->now_mono_ns(c->env) + v->timeout_ns);
}

static void verify_next(struct cverify *v)
{
	v->attempts = 0;
	if (v->scan.next_seq > v->scan.last_seq || v->scan.next_seq == 0) {
		verify_finish(v, NULL);
		return;
	}
	verify_send(v);
}

static void verify_on_info(struct cverify *v, const struct json_doc *d)
{
	int state = json_obj_get(d, 0, "state");
	if (!json_get_uint(d, json_obj_get(d, state, "first_seq"),
			   &v->scan.first_seq) ||
	    !json_get_uint(d, json_obj_get(d, state, "last_seq"),
			   &v->scan.last_seq)) {
		verify_finish(v, "stream info without state.first_seq/last_seq");
		return;
	}
	v->info_done = true;
	v->scan.next_seq = v->scan.first_seq;
	verify_next(v);
}

static void verify_on_msg(struct cverify *v, const struct json_doc *d)
{
	struct sim_client *c = v->c;
	int msg = json_obj_get(d, 0, "message");
	struct buf b;
	buf_init(&b, &c->mem);
	uint64_t seq = 0;
	if (msg < 0 || !json_get_uint(d, json_obj_get(d, msg, "seq"), &seq) ||
	    seq != v->scan.next_seq) {
		buf_free(&b);
		verify_finish(v, "a message get answered another sequence");
		return;
	}
	json_obj_string(d, msg, "data", &b);
	char *raw = client_scratch(c, b.len + 4);
	long n = base64_decode(b.data ? b.data : "", b.len, raw, b.len + 4);
	buf_free(&b);
	if (n < 0)
		v->scan.foreign++;
	else
		scan_record(&v->scan, raw, (size_t)n, seq);
	v->scan.next_seq++;
	verify_next(v);
}

static void verify_answer(struct cverify *v, uint64_t req_id, const char *p,
			  size_t len)
{
	struct sim_client *c = v->c;
	if (v->scan.done || !v->waiting || req_id != v->req_id)
		return;   /* late: that request was already sent again */
	c->env->timer_disarm(c->env, v->timer);
	v->waiting = false;
	struct json_doc d;
	if (json_parse(&d, &c->mem, p, len) != 0) {
		verify_finish(v, "an API answer that is not JSON");
		return;
	}
	struct js_answer a = { 0 };
	js_answer_error(c, &d, &a);
	if (a.error && a.err_code == JS_ERR_STREAM_NOT_FOUND) {
		verify_finish(v, "stream not found");
	} else if (a.error && a.code == 404 && v->info_done) {
		v->scan.not_found++;   /* an interior gap */
		v->scan.next_seq++;
		verify_next(v);
	} else if (a.error) {
		verify_retry_later(v);   /* e.g. 503 while restoring */
	} else if (!v->info_done) {
		verify_on_info(v, &d);
	} else {
		verify_on_msg(v, &d);
	}
	json_doc_free(&d);
}

static void client_on_inbox(struct sim_client *c, const struct cp_msg *m)
{
	char kind = 0;
	uint32_t index = 0;
	uint64_t n = 0;
	if (!inbox_parse(c, &m->subject, &kind, &index, &n)) {
		client_on_reply(c, m, client_pending_only(c));
		return;
	}
	const char *p = m->payload + m->header_len;
	size_t len = m->total_len - m->header_len;
	if (kind == 'j' && index < c->njss)
		jspub_answer(&c->jss[index], n, p, len, msg_is_no_responders(m));
	else if (kind == 'v' && index < c->nverifies &&
		 !msg_is_no_responders(m))
		verify_answer(c->verifies[index], n, p, len);
	else if (kind >= '0' && kind <= '9')
		client_on_reply(c, m, client_pending_for(c, &m->subject));
}

int sim_client_js_verify(struct sim_client *c, const char *name,
			 const char *stream, const char *from,
			 int64_t timeout_ns)
{
	struct cverify *v = NULL;
	for (uint32_t i = 0; i < c->nverifies && v == NULL; i++)
		if (strcmp(c->verifies[i]->name, name) == 0)
			v = c->verifies[i];
	if (v != NULL && !v->scan.done)
		return -1;
	if (v == NULL) {
		v = sim_xcalloc(1, sizeof(*v));
		v->c = c;
		v->index = c->nverifies;
		snprintf(v->name, sizeof(v->name), "%s", name);
		v->timer = c->env->timer_new(c->env, verify_retry_fired, v);
		c->verifies = sim_xrealloc(c->verifies, (c->nverifies + 1) *
					   sizeof(*c->verifies));
		c->verifies[c->nverifies++] = v;
	}
	free(v->scan.at);
	free(v->scan.len);
	memset(&v->scan, 0, sizeof(v->scan));
	snprintf(v->scan.stream, sizeof(v->scan.stream), "%s", stream);
	snprintf(v->scan.from, sizeof(v->scan.from), "%s", from);
	v->timeout_ns = timeout_ns;
	v->info_done = false;
	v->attempts = 0;
	client_ensure_inbox(c);
	verify_send(v);
	return 0;
}

const struct sim_js_scan *sim_client_js_scan(const struct sim_client *c,
					     const char *name)
{
	for (uint32_t i = 0; i < c->nverifies; i++)
		if (strcmp(c->verifies[i]->name, name) == 0)
			return &c->verifies[i]->scan;
	return NULL;
}

const struct sim_js_pubs *sim_client_js_pubs(const struct sim_client *c,
					     const char *from)
{
	for (uint32_t i = 0; i < c->njss; i++)
		if (strcmp(c->jss[i].out.from, from) == 0)
			return &c->jss[i].out;
	return NULL;
}

const struct sim_js_pubs *sim_client_js_pubs_at(const struct sim_client *c,
						uint32_t i)
{
	return i < c->njss ? &c->jss[i].out : NULL;
}

uint64_t sim_client_js_errors_matching(const struct sim_client *c,
				       const char *from, const char *text)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < c->njss; i++) {
		const struct cjs *j = &c->jss[i];
		if (from != NULL && strcmp(j->out.from, from) != 0)
			continue;
		if (text == NULL) {
			n += j->out.errors;
			continue;
		}
		for (uint32_t e = 0; e < j->nerrors; e++)
			if (strstr(j->errors[e].text, text) != NULL)
				n += j->errors[e].count;
	}
	return n;
}

/* ------------------------------------------------------------ lifetime */

static void client_turn_end(struct sim_node *n)
{
	if (n->env != NULL)
		sim_env_turn_end(n->env);
}

static void client_init_workloads(struct sim_client *c)
{
	const struct sim_client_cfg *k = c->cfg;
	for (uint32_t i = 0; i < k->nsubs; i++)
		client_add_sub(c, k->subs[i].subject, k->subs[i].queue,
			       &k->subs[i], false);
	c->pubs = sim_xcalloc(k->npubs, sizeof(*c->pubs));
	c->npubs = k->npubs;
	for (uint32_t i = 0; i < k->npubs; i++) {
		struct cpub *p = &c->pubs[i];
		p->c = c;
		p->cfg = &k->pubs[i];
		p->stream = client_stream(c, k->pubs[i].stream
					     ? k->pubs[i].stream : k->name);
		p->timer = c->env->timer_new(c->env, pub_tick, p);
	}
	for (uint32_t i = 0; i < k->nreqs; i++) {
		struct creq *r = client_req_add(c, k->reqs[i].name,
						k->reqs[i].subject,
						k->reqs[i].payload, &k->reqs[i]);
		r->timer = c->env->timer_new(c->env, req_tick, r);
	}
	c->jss = sim_xcalloc(k->njspubs ? k->njspubs : 1, sizeof(*c->jss));
	c->njss = k->njspubs;
	for (uint32_t i = 0; i < k->njspubs; i++) {
		struct cjs *j = &c->jss[i];
		j->c = c;
		j->cfg = &k->jspubs[i];
		j->index = i;
		j->oldest = 1;
		j->out.from = k->jspubs[i].stream ? k->jspubs[i].stream : k->name;
		j->out.size = k->jspubs[i].size;
		j->tick_timer = c->env->timer_new(c->env, jspub_tick, j);
		j->timeout_timer = c->env->timer_new(c->env, jspub_timeouts, j);
	}
	if (k->njspubs > 0)
		client_ensure_inbox(c);
}

struct sim_client *sim_client_new(struct sim_world *w, struct sim_node *node,
				  const struct sim_client_cfg *cfg,
				  sim_client_resolve_fn resolve, void *arg)
{
	ASSERT(cfg->nservers > 0);
	struct sim_client *c = sim_xcalloc(1, sizeof(*c));
	c->w = w;
	c->node = node;
	c->cfg = cfg;
	c->resolve = resolve;
	c->resolve_arg = arg;
	c->sock = -1;
	c->senv = sim_env_new(w, node);
	c->env = sim_env_env(c->senv);
	node->env = c->senv;
	node->owner = c;
	node->turn_end = client_turn_end;
	mem_init(&c->mem);
	cp_parser_init(&c->parser, &c->mem, CP_ROLE_CLIENT);
	buf_init(&c->out, &c->mem);
	c->rbuf = sim_xcalloc(1, READ_BUF);
	c->env->on_turn_end(c->env, client_flush, c);
	c->reconnect_timer = c->env->timer_new(c->env, client_reconnect_fired,
					       c);
	c->ping_timer = c->env->timer_new(c->env, client_ping_fired, c);
	client_init_workloads(c);
	return c;
}

void sim_client_start(struct sim_client *c)
{
	const struct sim_client_cfg *k = c->cfg;
	if (k->connect_at_ns >= 0)
		c->env->timer_arm(c->env, c->reconnect_timer,
				  client_mono_at(c, k->connect_at_ns));
	for (uint32_t i = 0; i < c->npubs; i++)
		if (c->pubs[i].cfg->count > 0)
			c->env->timer_arm(c->env, c->pubs[i].timer,
					  client_mono_at(c,
							 c->pubs[i].cfg->start_ns));
	for (uint32_t i = 0; i < c->njss; i++)
		if (c->jss[i].cfg->count > 0)
			c->env->timer_arm(c->env, c->jss[i].tick_timer,
					  client_mono_at(c,
							 c->jss[i].cfg->start_ns));
	for (uint32_t i = 0; i < c->nreqs; i++) {
		struct creq *r = c->reqs[i];
		if (r->cfg != NULL && r->cfg->count > 0)
			c->env->timer_arm(c->env, r->timer,
					  client_mono_at(c, r->cfg->start_ns));
	}
}

void sim_client_free(struct sim_client *c)
{
	if (c == NULL)
		return;
	sim_env_free(c->senv);
	c->node->env = NULL;
	for (uint32_t i = 0; i < c->nhttps; i++) {
		free(c->https[i]->out);
		free(c->https[i]->in);
		free(c->https[i]);
	}
	free(c->https);
	for (uint32_t i = 0; i < c->nsubs; i++) {
		for (uint32_t j = 0; j < c->subs[i]->ntracks; j++)
			free(c->subs[i]->tracks[j].bits);
		free(c->subs[i]->tracks);
		free(c->subs[i]->subject);
		free(c->subs[i]->queue);
		free(c->subs[i]);
	}
	for (uint32_t i = 0; i < c->nreqs; i++) {
		free(c->reqs[i]->name);
		free(c->reqs[i]->subject);
		free(c->reqs[i]->payload);
		free(c->reqs[i]->last);
		free(c->reqs[i]->last_reply_to);
		free(c->reqs[i]);
	}
	for (uint32_t i = 0; i < c->nstreams; i++)
		free(c->streams[i]);
	for (uint32_t i = 0; i < c->npend; i++)
		free(c->pend[i]);
	for (uint32_t i = 0; i < c->nerrors; i++)
		free(c->errors[i].text);
	for (uint32_t i = 0; i < c->njss; i++) {
		free(c->jss[i].out.recs);
		for (uint32_t e = 0; e < c->jss[i].nerrors; e++)
			free(c->jss[i].errors[e].text);
	}
	free(c->jss);
	for (uint32_t i = 0; i < c->nverifies; i++) {
		free(c->verifies[i]->scan.at);
		free(c->verifies[i]->scan.len);
		free(c->verifies[i]);
	}
	free(c->verifies);
	free(c->subs);
	free(c->reqs);
	free(c->streams);
	free(c->pend);
	free(c->pubs);
	free(c->rbuf);
	free(c->scratch);
	buf_free(&c->out);
	cp_parser_free(&c->parser);
	free(c);
}

/* ------------------------------------------------------------- queries */

const char *sim_client_name(const struct sim_client *c)
{
	return c->cfg->name;
}

bool sim_client_ready(const struct sim_client *c)
{
	return c->state == CS_READY;
}

const struct sim_client_stats *sim_client_stats(const struct sim_client *c)
{
	return &c->st;
}

uint64_t sim_client_sent(const struct sim_client *c, const char *stream)
{
	for (uint32_t i = 0; i < c->nstreams; i++)
		if (strcmp(c->streams[i]->name, stream) == 0)
			return c->streams[i]->sent;
	return 0;
}

uint64_t sim_client_errors_matching(const struct sim_client *c,
				    const char *text)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < c->nerrors; i++)
		if (text == NULL || strstr(c->errors[i].text, text) != NULL)
			n += c->errors[i].count;
	return n;
}

const char *sim_client_error_at(const struct sim_client *c, uint32_t i)
{
	return i < c->nerrors ? c->errors[i].text : NULL;
}

uint32_t sim_client_sub_count(const struct sim_client *c)
{
	return c->nsubs;
}

const char *sim_client_sub_subject(const struct sim_client *c, uint32_t i)
{
	return i < c->nsubs && !c->subs[i]->inbox ? c->subs[i]->subject : NULL;
}

uint64_t sim_client_sub_received(const struct sim_client *c, uint32_t i)
{
	return i < c->nsubs ? c->subs[i]->received : 0;
}

const struct sim_track *sim_client_sub_track(const struct sim_client *c,
					     uint32_t i, const char *stream)
{
	if (i >= c->nsubs)
		return NULL;
	const struct csub *s = c->subs[i];
	for (uint32_t j = 0; j < s->ntracks; j++)
		if (strcmp(s->tracks[j].stream, stream) == 0)
			return &s->tracks[j];
	return NULL;
}

static const struct creq *req_by_name(const struct sim_client *c,
				      const char *name)
{
	for (uint32_t i = 0; i < c->nreqs; i++)
		if (name == NULL || strcmp(c->reqs[i]->name, name) == 0)
			return c->reqs[i];
	return NULL;
}

uint64_t sim_client_req_replies(const struct sim_client *c, const char *name)
{
	if (name == NULL)
		return c->st.replies;
	const struct creq *r = req_by_name(c, name);
	return r ? r->replies : 0;
}

uint64_t sim_client_req_timeouts(const struct sim_client *c,
				 const char *name)
{
	if (name == NULL)
		return c->st.timeouts;
	const struct creq *r = req_by_name(c, name);
	return r ? r->timeouts : 0;
}

uint64_t sim_client_req_no_responders(const struct sim_client *c,
				      const char *name)
{
	if (name == NULL)
		return c->st.no_responders;
	const struct creq *r = req_by_name(c, name);
	return r ? r->no_responders : 0;
}

const char *sim_client_req_last_reply(const struct sim_client *c,
				       const char *name, size_t *len)
{
	const struct creq *r = req_by_name(c, name);
	if (r == NULL || r->last == NULL)
		return NULL;
	if (len != NULL)
		*len = r->last_len;
	return r->last;
}
