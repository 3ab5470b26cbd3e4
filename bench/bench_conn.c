/*
 * bench_conn.c - a load-tool connection (see bench_conn.h).
 *
 * Invariants: out_off <= out.len; stream_sent_bytes <= stream_allowed_bytes
 * <= stream_total_bytes; bytes from out are written only when the stream
 * sits on a message boundary, so a PONG or PING never lands inside a PUB.
 */
#include "bench_conn.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

/* Per call bounds, so one busy connection cannot starve the others that
 * share a worker thread. */
#define BCONN_READS_PER_CALL 4
#define BCONN_FLUSH_MAX_BYTES ((size_t)1 << 20)
#define BCONN_STREAM_BLOCK ((size_t)256 << 10)
#define BCONN_REQ_SID "r"

int64_t bconn_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void bconn_fail(struct bconn *c, const char *fmt, ...)
{
	if (c->failed)
		return;
	c->failed = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
}

int bconn_msg_status(const struct cp_msg *m)
{
	const char *h = m->payload;
	if (m->header_len < 12 || memcmp(h, "NATS/1.0 ", 9) != 0)
		return 0;
	int code = 0;
	for (int i = 9; i < 12; i++) {
		if (h[i] < '0' || h[i] > '9')
			return 0;
		code = code * 10 + (h[i] - '0');
	}
	return code;
}

/* ------------------------------------------------------------ output */

void bconn_queue(struct bconn *c, const void *data, size_t len)
{
	buf_append(&c->out, data, len);
	if (c->out.oom)
		bconn_fail(c, "out of memory");
}

void bconn_queue_pub(struct bconn *c, const char *subject, const char *reply,
		     const void *payload, size_t len)
{
	bconn_queue_pub_raw(c, subject, strlen(subject), reply,
			    reply ? strlen(reply) : 0, payload, len);
}

void bconn_queue_pub_raw(struct bconn *c, const char *subject, size_t slen,
			 const char *reply, size_t rlen, const void *payload,
			 size_t len)
{
	if (!buf_reserve(&c->out, slen + rlen + CP_LINE_OVERHEAD + len + 2)) {
		bconn_fail(c, "out of memory");
		return;
	}
	struct buf *b = &c->out;
	b->len += cp_encode_pub_line(b->data + b->len, b->cap - b->len, subject,
				     slen, reply, rlen, false, 0, len);
	buf_append(b, payload, len);
	buf_append(b, "\r\n", 2);
}

void bconn_queue_sub(struct bconn *c, const char *subject, const char *queue,
		     const char *sid)
{
	size_t slen = strlen(subject), qlen = queue ? strlen(queue) : 0;
	size_t idlen = strlen(sid);
	if (!buf_reserve(&c->out, slen + qlen + idlen + CP_LINE_OVERHEAD)) {
		bconn_fail(c, "out of memory");
		return;
	}
	struct buf *b = &c->out;
	b->len += cp_encode_sub_line(b->data + b->len, b->cap - b->len, subject,
				     slen, queue, qlen, sid, idlen);
}

void bconn_queue_ping(struct bconn *c)
{
	bconn_queue(c, CP_PING_LINE, sizeof(CP_PING_LINE) - 1);
	c->pings_sent++;
}

int bconn_stream_init(struct bconn *c, const char *subject,
		      const void *payload, size_t len, uint64_t total)
{
	char line[512];
	size_t slen = strlen(subject);
	if (slen + CP_LINE_OVERHEAD > sizeof(line))
		return -1;
	size_t n = cp_encode_pub_line(line, sizeof(line), subject, slen, NULL, 0,
				      false, 0, len);
	size_t msg_len = n + len + 2;
	size_t copies = BCONN_STREAM_BLOCK / msg_len;
	if (copies == 0)
		copies = 1;
	c->stream_block = mem_alloc(&c->mem, copies * msg_len);
	if (c->stream_block == NULL)
		return -1;
	for (size_t i = 0; i < copies; i++) {
		char *p = c->stream_block + i * msg_len;
		memcpy(p, line, n);
		memcpy(p + n, payload, len);
		memcpy(p + n + len, "\r\n", 2);
	}
	c->stream_block_len = copies * msg_len;
	c->stream_msg_len = msg_len;
	c->stream_total_bytes = total * msg_len;
	c->stream_sent_bytes = c->stream_allowed_bytes = 0;
	return 0;
}

void bconn_stream_allow_all(struct bconn *c)
{
	c->stream_allowed_bytes = c->stream_total_bytes;
}

uint64_t bconn_stream_sent_msgs(const struct bconn *c)
{
	return c->stream_msg_len ? c->stream_sent_bytes / c->stream_msg_len : 0;
}

bool bconn_stream_done(const struct bconn *c)
{
	return c->stream_sent_bytes == c->stream_total_bytes;
}

bool bconn_has_output(const struct bconn *c)
{
	return c->out_off < c->out.len ||
	       c->stream_sent_bytes < c->stream_allowed_bytes;
}

/* The next span to write: control bytes on a message boundary, else the
 * stream up to the window (and only to the end of the current message
 * when control bytes wait). */
static size_t bconn_next_span(const struct bconn *c, const char **p, bool *is_out)
{
	bool out_waiting = c->out_off < c->out.len;
	uint64_t in_msg = c->stream_msg_len ? c->stream_sent_bytes % c->stream_msg_len : 0;
	if (out_waiting && in_msg == 0) {
		*p = c->out.data + c->out_off;
		*is_out = true;
		return c->out.len - c->out_off;
	}
	if (c->stream_sent_bytes >= c->stream_allowed_bytes)
		return 0;
	size_t pos = (size_t)(c->stream_sent_bytes % c->stream_block_len);
	uint64_t n = c->stream_block_len - pos;
	uint64_t left = c->stream_allowed_bytes - c->stream_sent_bytes;
	if (n > left)
		n = left;
	if (out_waiting && n > c->stream_msg_len - in_msg)
		n = c->stream_msg_len - in_msg;
	*p = c->stream_block + pos;
	*is_out = false;
	return (size_t)n;
}

int bconn_flush(struct bconn *c)
{
	size_t written = 0;
	while (c->writable && !c->failed && written < BCONN_FLUSH_MAX_BYTES) {
		const char *p;
		bool is_out;
		size_t n = bconn_next_span(c, &p, &is_out);
		if (n == 0)
			break;
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->writable = false;
				break;
			}
			bconn_fail(c, "send: %s", strerror(errno));
			return -1;
		}
		written += (size_t)w;
		if (!is_out) {
			c->stream_sent_bytes += (uint64_t)w;
			continue;
		}
		c->out_off += (size_t)w;
		if (c->out_off == c->out.len) {
			buf_reset(&c->out);
			c->out_off = 0;
		}
	}
	return c->failed ? -1 : 0;
}

/* ------------------------------------------------------------- input */

static void bconn_take_reply(struct bconn *c, const struct cp_msg *m)
{
	buf_reset(c->req_reply);
	buf_append(c->req_reply, m->payload + m->header_len,
		   m->total_len - m->header_len);
	c->req_status = bconn_msg_status(m);
	c->req_done = true;
}

static int bconn_on_op(void *arg, const struct cp_msg *m)
{
	struct bconn *c = arg;
	switch (m->op) {
	case CP_OP_PING:
		bconn_queue(c, CP_PONG_LINE, sizeof(CP_PONG_LINE) - 1);
		break;
	case CP_OP_PONG:
		c->pongs_recv++;
		break;
	case CP_OP_ERR:
		bconn_fail(c, "server: -ERR '%.*s'", (int)m->arg.len, m->arg.ptr);
		break;
	case CP_OP_MSG:
	case CP_OP_HMSG:
		if (c->req_reply != NULL && m->sid.len == 1 &&
		    m->sid.ptr[0] == BCONN_REQ_SID[0])
			bconn_take_reply(c, m);
		else if (c->on_msg != NULL)
			c->on_msg(c, m);
		break;
	default:
		break;    /* INFO, +OK */
	}
	return c->failed;
}

int bconn_read(struct bconn *c)
{
	for (int i = 0; i < BCONN_READS_PER_CALL && !c->failed; i++) {
		ssize_t n = recv(c->fd, c->rbuf, BCONN_READ_SIZE, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			bconn_fail(c, "recv: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			bconn_fail(c, "connection closed by the server");
			break;
		}
		c->bytes_in += (uint64_t)n;
		long rc = cp_parse(&c->parser, c->rbuf, (size_t)n, bconn_on_op, c, NULL);
		if (rc < 0 && !c->failed)
			bconn_fail(c, "protocol error %ld from the server", rc);
		if ((size_t)n < BCONN_READ_SIZE)
			break;
	}
	return c->failed ? -1 : 0;
}

/* ---------------------------------------------------- blocking helpers */

int bconn_wait(struct bconn *c, bool (*pred)(struct bconn *c), int timeout_ms)
{
	int64_t deadline = bconn_now_ns() + (int64_t)timeout_ms * 1000000;
	while (!c->failed && !pred(c)) {
		if (bconn_flush(c) < 0)
			break;
		int64_t left_ms = (deadline - bconn_now_ns()) / 1000000;
		if (left_ms <= 0) {
			bconn_fail(c, "timed out after %d ms", timeout_ms);
			break;
		}
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		if (bconn_has_output(c) && !c->writable)
			pfd.events |= POLLOUT;
		int rc = poll(&pfd, 1, (int)(left_ms > 100 ? 100 : left_ms));
		if (rc < 0 && errno != EINTR) {
			bconn_fail(c, "poll: %s", strerror(errno));
			break;
		}
		if (rc <= 0)
			continue;
		if (pfd.revents & POLLOUT)
			c->writable = true;
		if (pfd.revents & (POLLIN | POLLERR | POLLHUP))
			bconn_read(c);
	}
	return c->failed ? -1 : 0;
}

static bool bconn_synced(struct bconn *c)
{
	return c->pongs_recv >= c->pings_sent;
}

int bconn_sync(struct bconn *c, int timeout_ms)
{
	bconn_queue_ping(c);
	return bconn_wait(c, bconn_synced, timeout_ms);
}

static bool bconn_replied(struct bconn *c)
{
	return c->req_done;
}

int bconn_request(struct bconn *c, const char *subject, const char *payload,
		  struct buf *reply, int *status, int timeout_ms)
{
	char inbox[64];
	snprintf(inbox, sizeof(inbox), "_INBOX.nb%ld_%d.req", (long)getpid(), c->index);
	if (!c->req_subscribed) {
		bconn_queue_sub(c, inbox, NULL, BCONN_REQ_SID);
		c->req_subscribed = true;
	}
	bconn_queue_pub(c, subject, inbox, payload, strlen(payload));
	c->req_reply = reply;
	c->req_done = false;
	int rc = bconn_wait(c, bconn_replied, timeout_ms);
	c->req_reply = NULL;
	*status = c->req_status;
	return rc;
}

/* ------------------------------------------------------ open, close */

static int bconn_connect(struct bconn *c, const char *host, int port)
{
	char service[16];
	snprintf(service, sizeof(service), "%d", port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0) {
		bconn_fail(c, "resolve %s: %s", host, gai_strerror(rc));
		return -1;
	}
	for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
		c->fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
		if (c->fd < 0)
			continue;
		if (connect(c->fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		close(c->fd);
		c->fd = -1;
	}
	freeaddrinfo(res);
	if (c->fd < 0) {
		bconn_fail(c, "connect %s:%d: %s", host, port, strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	return 0;
}

static void bconn_init(struct bconn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->epfd = -1;
	c->writable = true;
	mem_init(&c->mem);
	buf_init(&c->out, &c->mem);
	cp_parser_init(&c->parser, &c->mem, CP_ROLE_CLIENT);
}

int bconn_open(struct bconn *c, const char *host, int port, const char *name,
	       int timeout_ms)
{
	int index = c->index;
	bconn_init(c);
	c->index = index;
	c->rbuf = mem_alloc(&c->mem, BCONN_READ_SIZE);
	if (c->rbuf == NULL) {
		bconn_fail(c, "out of memory");
		return -1;
	}
	if (bconn_connect(c, host, port) < 0)
		return -1;
	char line[512];
	int n = snprintf(line, sizeof(line),
			 "CONNECT {\"verbose\":false,\"pedantic\":false,"
			 "\"tls_required\":false,\"name\":\"%s\",\"lang\":\"c\","
			 "\"version\":\"natsbench\",\"protocol\":1,\"echo\":true,"
			 "\"headers\":true,\"no_responders\":true}\r\n",
			 name);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		bconn_fail(c, "client name too long");
		return -1;
	}
	bconn_queue(c, line, (size_t)n);
	return bconn_sync(c, timeout_ms);
}

void bconn_close(struct bconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	cp_parser_free(&c->parser);
	buf_free(&c->out);
	mem_free(&c->mem, c->rbuf);
	mem_free(&c->mem, c->stream_block);
	c->rbuf = c->stream_block = NULL;
}

void bconn_abort(struct bconn *c)
{
	if (c->fd >= 0) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	bconn_close(c);
}
