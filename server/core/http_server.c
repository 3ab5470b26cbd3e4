/*
 * http_server.c - the monitoring port: a listener on struct env and one
 * small state machine per HTTP connection (read, parse, answer, write,
 * keep alive or close), answering with monitor_http_answer().
 *
 * A connection reads into its own input buffer, parses every complete
 * request it holds (pipelining) and appends the answers, in order, to its
 * output buffer, which is written as the socket takes it.  Input is only
 * read while the unsent output is under HTTP_OUT_HIGH_BYTES, so a client
 * that pipelines requests without reading answers stalls itself instead
 * of growing the server's memory.  A malformed request gets its 4xx
 * answer and the connection closes once it is sent; so does one that
 * asked for "Connection: close".  A connection that completes no request
 * and receives no output progress for HTTP_IDLE_NS is closed.
 *
 * Owns: s->http (the listener and its connections).  Invariants: a
 * connection is in hs->conns exactly while its socket is open; out_sent
 * never exceeds out.len; a closed connection is freed at once (the env
 * drops later events for its socket), so every path that closes returns
 * without touching it again.
 */
#include <stdio.h>
#include <string.h>

#include "../proto/http.h"
#include "monitor.h"
#include "server_int.h"

#define HTTP_MAX_CONNS 256
#define HTTP_IN_MAX_BYTES (64 * 1024)
#define HTTP_READ_CHUNK 16384
#define HTTP_OUT_HIGH_BYTES (256 * 1024)
#define HTTP_RESPONSE_MAX_BYTES (64 * 1024 * 1024)
#define HTTP_IDLE_NS (60LL * 1000000000LL)

struct http_conn {
	struct http_server *hs;
	int sock;                      /* env socket */
	char ip[64];
	int port;
	int idle_timer;                /* env timer: closes an idle connection */
	struct buf in;                 /* received, not yet parsed */
	struct buf out;                /* answers, [out_sent, len) unsent */
	size_t out_sent;
	bool close_after;              /* close once out is sent */
	struct link node;              /* in hs->conns */
	struct http_parser parser;     /* last: large */
};

struct http_server {
	struct server *srv;
	int listen_sock;               /* -1 when not listening */
	struct link conns;             /* struct http_conn */
	uint32_t nconns;
};

static void http_conn_close(struct http_conn *c)
{
	struct http_server *hs = c->hs;
	struct server *s = hs->srv;
	struct env *e = s->env;
	e->sock_close(e, c->sock);
	e->timer_free(e, c->idle_timer);
	link_remove(&c->node);
	hs->nconns--;
	buf_free(&c->in);
	buf_free(&c->out);
	mem_free(&s->mem, c);
}

static void http_conn_touch(struct http_conn *c)
{
	struct env *e = c->hs->srv->env;
	e->timer_arm(e, c->idle_timer, env_now_mono_ns(e) + HTTP_IDLE_NS);
}

static void http_conn_idle_fired(void *arg, int timer)
{
	struct http_conn *c = arg;
	UNUSED(timer);
	http_conn_close(c);
}

static size_t http_conn_backlog(const struct http_conn *c)
{
	return c->out.len - c->out_sent;
}

/* Read interest only while there is room for input and the output is
 * drained enough; write interest while output is pending. */
static void http_conn_watch(struct http_conn *c);

/* ------------------------------------------------------------ answers */

static void http_conn_answer(struct http_conn *c, const struct http_request *req)
{
	struct server *s = c->hs->srv;
	struct buf body;
	struct monitor_reply r = { 404, NULL, &body };
	buf_init(&body, &s->mem);
	monitor_http_answer(s, req->path, req->path_len, req->query, req->query_len, &r);
	if (body.oom || body.len > HTTP_RESPONSE_MAX_BYTES) {
		/* Too big to build or to hold: a page (limit, offset) works. */
		buf_reset(&body);
		body.oom = false;
		r.status = 500;
		r.content_type = "text/plain; charset=utf-8";
		buf_append_str(&body, "response too large: ask for a smaller page\n");
	}
	if (!req->keep_alive)
		c->close_after = true;
	http_write_head(&c->out, req->version_minor, r.status, r.content_type, body.len,
			!c->close_after, env_now_wall_ns(s->env));
	if (req->method != HTTP_METHOD_HEAD)
		buf_append(&c->out, body.data, body.len);
	buf_free(&body);
}

static void http_conn_answer_error(struct http_conn *c, int status)
{
	struct server *s = c->hs->srv;
	char text[64];
	int n = snprintf(text, sizeof(text), "%d %s", status, http_status_text(status));
	c->close_after = true;
	http_write_head(&c->out, 1, status, "text/plain; charset=utf-8", (size_t)n, false,
			env_now_wall_ns(s->env));
	buf_append(&c->out, text, (size_t)n);
}

/* Parses and answers what c->in holds, while the output has room. */
static void http_conn_process(struct http_conn *c)
{
	size_t at = 0;
	while (at < c->in.len && !c->close_after &&
	       http_conn_backlog(c) < HTTP_OUT_HIGH_BYTES) {
		size_t used = 0;
		enum http_parse_result rc =
			http_parse(&c->parser, c->in.data + at, c->in.len - at, &used);
		at += used;
		if (rc == HTTP_PARSE_MORE)
			break;
		if (rc == HTTP_PARSE_ERROR) {
			LOGD(&c->hs->srv->log, "%s:%d - monitoring request refused: %s",
			     c->ip, c->port, c->parser.error);
			http_conn_answer_error(c, c->parser.error_status);
			at = c->in.len;
			break;
		}
		http_conn_answer(c, &c->parser.req);
		http_conn_touch(c);
	}
	buf_consume(&c->in, at);
}

/* ------------------------------------------------------------ I/O */

/* Sends what the socket takes; false when the connection was closed. */
static bool http_conn_flush(struct http_conn *c)
{
	struct env *e = c->hs->srv->env;
	while (http_conn_backlog(c) > 0) {
		struct iovec iov = { c->out.data + c->out_sent, http_conn_backlog(c) };
		long n = e->sock_sendv(e, c->sock, &iov, 1);
		if (n == ENV_EAGAIN)
			return true;
		if (n < 0) {
			http_conn_close(c);
			return false;
		}
		c->out_sent += (size_t)n;
		http_conn_touch(c);
	}
	buf_reset(&c->out);
	c->out_sent = 0;
	if (c->close_after) {
		http_conn_close(c);
		return false;
	}
	return true;
}

/* Reads what is there; false when the connection was closed. */
static bool http_conn_read(struct http_conn *c)
{
	struct env *e = c->hs->srv->env;
	while (c->in.len < HTTP_IN_MAX_BYTES && http_conn_backlog(c) < HTTP_OUT_HIGH_BYTES &&
	       !c->close_after) {
		if (!buf_reserve(&c->in, HTTP_READ_CHUNK)) {
			http_conn_close(c);
			return false;
		}
		long n = e->sock_recv(e, c->sock, c->in.data + c->in.len, HTTP_READ_CHUNK);
		if (n == ENV_EAGAIN)
			return true;
		if (n <= 0) {
			http_conn_close(c);
			return false;
		}
		c->in.len += (size_t)n;
		http_conn_process(c);
	}
	return true;
}

static void http_conn_io(void *arg, int sock, unsigned events)
{
	struct http_conn *c = arg;
	UNUSED(sock);
	if ((events & ENV_EV_WRITE) && !http_conn_flush(c))
		return;
	if ((events & (ENV_EV_READ | ENV_EV_ERROR)) && !http_conn_read(c))
		return;
	/* Output drained: parse what pipelining left in the input. */
	if (c->in.len > 0 && http_conn_backlog(c) < HTTP_OUT_HIGH_BYTES)
		http_conn_process(c);
	if (!http_conn_flush(c))
		return;
	http_conn_watch(c);
}

static void http_conn_watch(struct http_conn *c)
{
	struct env *e = c->hs->srv->env;
	unsigned interest = 0;
	if (c->in.len < HTTP_IN_MAX_BYTES && http_conn_backlog(c) < HTTP_OUT_HIGH_BYTES &&
	    !c->close_after)
		interest |= ENV_EV_READ;
	if (http_conn_backlog(c) > 0)
		interest |= ENV_EV_WRITE;
	e->sock_watch(e, c->sock, interest, http_conn_io, c);
}

/* ------------------------------------------------------------ listener */

static void http_accept_one(struct http_server *hs, int sock, const char *ip, int port)
{
	struct server *s = hs->srv;
	struct env *e = s->env;
	struct http_conn *c = hs->nconns < HTTP_MAX_CONNS
		? mem_alloc(&s->mem, sizeof(*c)) : NULL;
	if (c == NULL) {
		LOGW(&s->log, "%s:%d - monitoring connection refused: limit of %d "
		     "connections reached or out of memory", ip, port, HTTP_MAX_CONNS);
		e->sock_close(e, sock);
		return;
	}
	c->hs = hs;
	c->sock = sock;
	snprintf(c->ip, sizeof(c->ip), "%s", ip);
	c->port = port;
	buf_init(&c->in, &s->mem);
	buf_init(&c->out, &s->mem);
	c->out_sent = 0;
	c->close_after = false;
	http_parser_init(&c->parser);
	c->idle_timer = e->timer_new(e, http_conn_idle_fired, c);
	link_insert_tail(&hs->conns, &c->node);
	hs->nconns++;
	http_conn_touch(c);
	e->sock_watch(e, sock, ENV_EV_READ, http_conn_io, c);
}

static void http_accept_ready(void *arg, int sock, unsigned events)
{
	struct http_server *hs = arg;
	struct env *e = hs->srv->env;
	UNUSED(events);
	for (int i = 0; i < 64; i++) {
		char ip[64];
		int port = 0;
		int c = e->tcp_accept(e, sock, ip, &port);
		if (c == ENV_EAGAIN)
			return;
		if (c < 0) {
			LOGE(&hs->srv->log, "Error accepting monitoring connection: %s",
			     env_strerror(c));
			return;
		}
		http_accept_one(hs, c, ip, port);
	}
}

int http_server_start(struct server *s, struct buf *err)
{
	const struct opts *o = s->opts;
	struct env *e = s->env;
	if (o->https_port != 0)
		LOGW(&s->log, "https monitoring is not implemented yet; running without it");
	if (o->http_port == 0 || s->http != NULL)
		return 0;
	const char *host = o->http_host ? o->http_host : (o->host ? o->host : "0.0.0.0");
	int port = o->http_port < 0 ? 0 : o->http_port;
	struct http_server *hs = mem_calloc(&s->mem, 1, sizeof(*hs));
	if (hs == NULL) {
		buf_append_str(err, "out of memory");
		return -1;
	}
	hs->srv = s;
	link_init(&hs->conns);
	int bound = 0;
	int sock = e->tcp_listen(e, host, port, ENV_LINK_HTTP, http_accept_ready, hs, &bound);
	if (sock < 0) {
		buf_appendf(err, "can't listen to the monitor port: %s:%d, \"%s\"", host, port,
			    env_strerror(sock));
		mem_free(&s->mem, hs);
		return -1;
	}
	hs->listen_sock = sock;
	s->http = hs;
	s->http_port = bound;
	LOGI(&s->log, "Starting http monitor on %s:%d", host, bound);
	return 0;
}

void http_server_stop(struct server *s)
{
	struct http_server *hs = s->http;
	if (hs == NULL)
		return;
	if (hs->listen_sock >= 0) {
		s->env->sock_close(s->env, hs->listen_sock);
		hs->listen_sock = -1;
	}
	while (!link_empty(&hs->conns))
		http_conn_close(CONTAINER_OF(hs->conns.next, struct http_conn, node));
}

void http_server_free(struct server *s)
{
	http_server_stop(s);
	mem_free(&s->mem, s->http);
	s->http = NULL;
	s->http_port = 0;
}

int server_http_port(const struct server *s)
{
	return s->http_port;
}
