/*
 * bench_conn.h - one client connection of the load tool: a non-blocking
 * TCP socket speaking the NATS client protocol through the project's
 * sans-IO codec (server/proto/client_proto.h, client role).
 *
 * A connection owns a large read buffer, an output buffer for control
 * lines and individually built messages, and optionally a "publish
 * stream": the same PUB repeated, written straight from a prebuilt block
 * of whole messages so that a publisher costs one write per block and no
 * per-message work.  Control bytes only go out on a message boundary of
 * the stream, so the two never interleave inside a message.
 *
 * Not thread-safe: a connection is used by one thread at a time (the
 * setup thread, then one worker).  Each has its own struct mem so threads
 * never share allocator counters.
 */
#ifndef BENCH_CONN_H
#define BENCH_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/mem.h"
#include "proto/client_proto.h"

#define BCONN_READ_SIZE ((size_t)256 << 10)
#define BCONN_ERROR_MAX 200

struct bconn;

/* Called for each MSG/HMSG; slices are valid only during the call. */
typedef void (*bconn_msg_fn)(struct bconn *c, const struct cp_msg *m);
/* Called once per loop turn of the worker that owns the connection. */
typedef void (*bconn_tick_fn)(struct bconn *c, int64_t now_ns);

struct bconn {
	int fd;                       /* -1 once closed */
	int index;                    /* position in its workload */
	struct mem mem;               /* this connection's allocations */
	struct cp_parser parser;      /* server -> client bytes */
	char *rbuf;                   /* BCONN_READ_SIZE bytes */
	struct buf out;               /* queued control lines and messages */
	size_t out_off;               /* bytes of out already written */
	/* The publish stream: stream_block holds whole copies of one
	 * message of stream_msg_len bytes; stream_total_bytes are to be
	 * sent, but no more than stream_allowed_bytes so far (a window). */
	char *stream_block;
	size_t stream_block_len;
	size_t stream_msg_len;
	uint64_t stream_sent_bytes;
	uint64_t stream_total_bytes;
	uint64_t stream_allowed_bytes;
	bool writable;                /* false after EAGAIN until EPOLLOUT */
	bool epoll_out;               /* EPOLLOUT is in the epoll interest */
	int epfd;                     /* worker's epoll, -1 when none */
	uint64_t pings_sent;          /* PINGs we sent */
	uint64_t pongs_recv;          /* PONGs the server sent back */
	uint64_t bytes_in;            /* bytes read from the socket */
	bool failed;                  /* error holds why */
	char error[BCONN_ERROR_MAX];
	bconn_msg_fn on_msg;          /* NULL: messages are dropped */
	bconn_tick_fn on_tick;        /* NULL: nothing to do per turn */
	void *role;                   /* the workload's state for it */
	/* bconn_request's reply, while one is awaited */
	struct buf *req_reply;
	int req_status;
	bool req_done;
	bool req_subscribed;
};

/* Connects to host:port, sends CONNECT (headers and no_responders on,
 * verbose off) and waits for the PONG of a PING.  0 on success, else -1
 * with c->error set.  The socket is non-blocking from then on. */
int bconn_open(struct bconn *c, const char *host, int port, const char *name,
	       int timeout_ms);
/* Closes the socket and frees everything; safe on a failed open. */
void bconn_close(struct bconn *c);
/* Like bconn_close, but resets the TCP connection so that no TIME_WAIT
 * is left behind (used for thousands of idle connections). */
void bconn_abort(struct bconn *c);

void bconn_queue(struct bconn *c, const void *data, size_t len);
void bconn_queue_pub(struct bconn *c, const char *subject, const char *reply,
		     const void *payload, size_t len);
/* The same with explicit lengths (reply may be NULL with rlen 0). */
void bconn_queue_pub_raw(struct bconn *c, const char *subject, size_t slen,
			 const char *reply, size_t rlen, const void *payload,
			 size_t len);
void bconn_queue_sub(struct bconn *c, const char *subject, const char *queue,
		     const char *sid);
void bconn_queue_ping(struct bconn *c);

/* Prepares the publish stream: total messages "PUB subject len" with the
 * given payload.  Nothing is allowed until stream_allowed_bytes is set;
 * bconn_stream_allow_all allows everything. */
int bconn_stream_init(struct bconn *c, const char *subject,
		      const void *payload, size_t len, uint64_t total);
void bconn_stream_allow_all(struct bconn *c);
uint64_t bconn_stream_sent_msgs(const struct bconn *c);
bool bconn_stream_done(const struct bconn *c);

/* Whether bytes are waiting that the window allows to go out. */
bool bconn_has_output(const struct bconn *c);
/* Reads what is there (a bounded number of reads) and dispatches it.
 * -1 on a closed or failed connection (c->error says why). */
int bconn_read(struct bconn *c);
/* Writes what it can.  -1 on error; else 0 (c->writable false when the
 * socket is full). */
int bconn_flush(struct bconn *c);

/* Blocking helpers for setup and teardown, used outside the workers:
 * flush and read until pred(c) holds, or until timeout_ms. */
int bconn_wait(struct bconn *c, bool (*pred)(struct bconn *c), int timeout_ms);
/* PING and wait for its PONG: everything sent before has been processed
 * by the server. */
int bconn_sync(struct bconn *c, int timeout_ms);
/* Request/reply on this connection's private inbox.  On success the
 * payload (after any header block) is in reply and *status holds the
 * HMSG status code, or 0 for a MSG.  -1 on error or timeout. */
int bconn_request(struct bconn *c, const char *subject, const char *payload,
		  struct buf *reply, int *status, int timeout_ms);

/* Fails the connection with a message (first failure wins). */
void bconn_fail(struct bconn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The status code of an HMSG ("NATS/1.0 503 ..."), 0 if none. */
int bconn_msg_status(const struct cp_msg *m);

/* Monotonic nanoseconds. */
int64_t bconn_now_ns(void);

#endif
