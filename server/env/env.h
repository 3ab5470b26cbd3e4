/*
 * env.h - the only seam between the server and the world.
 *
 * Everything with an effect outside the server's own memory goes through
 * struct env: time, timers, randomness, stream sockets, files and tracing.
 * Two implementations exist: env_posix.c (epoll, real sockets and files) and
 * the simulator's virtual world.  The server never blocks: every socket is
 * non-blocking and readiness is reported through callbacks that the driver
 * invokes from its loop.
 *
 * The vtable is versioned and append-only: new operations go at the end and
 * bump ENV_VERSION, so an older implementation can be detected.
 *
 * Handles (sockets, files, timers) are small non-negative integers owned by
 * the env; -1 is "none".  Functions return >= 0 on success and a negative
 * enum env_err on failure.
 */
#ifndef ENV_H
#define ENV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define ENV_VERSION 1

enum env_err {
	ENV_OK = 0,
	ENV_EAGAIN = -1,      /* would block: wait for the next readiness callback */
	ENV_ECLOSED = -2,     /* peer closed or connection reset */
	ENV_EADDRINUSE = -3,
	ENV_ENOENT = -4,
	ENV_EIO = -5,
	ENV_ENOSPC = -6,
	ENV_EINVAL = -7,
	ENV_EREFUSED = -8,
	ENV_ENOMEM = -9,
	ENV_EEXIST = -10,
	ENV_EOTHER = -11,
};

/* Readiness bits given to a socket callback. */
enum {
	ENV_EV_READ = 1,   /* data, EOF, or a pending accept */
	ENV_EV_WRITE = 2,  /* send buffer space, or a finished connect */
	ENV_EV_ERROR = 4,  /* error or hang-up: recv will report it */
};

/* What a socket carries, for tracing and for link-kind faults. */
enum env_link_kind {
	ENV_LINK_CLIENT = 0,
	ENV_LINK_ROUTE = 1,
	ENV_LINK_LEAF = 2,
	ENV_LINK_GATEWAY = 3,
	ENV_LINK_HTTP = 4,
};

typedef void (*env_sock_cb)(void *arg, int sock, unsigned events);
typedef void (*env_timer_cb)(void *arg, int timer);
typedef void (*env_turn_cb)(void *arg);

/* File open flags. */
enum {
	ENV_O_READ = 1,
	ENV_O_WRITE = 2,
	ENV_O_CREATE = 4,
	ENV_O_TRUNC = 8,
	ENV_O_EXCL = 16,
};

/* A structured trace event.  Fields not used by a kind stay 0/NULL. */
struct env_trace_event {
	uint32_t kind;         /* enum trace_kind (trace/trace_kinds.def) */
	uint64_t conn_id;      /* connection id (cid) if any */
	int64_t value;         /* kind-specific number (bytes, sid, error code) */
	const char *subject;   /* borrowed for the duration of the call */
	const char *text;      /* borrowed for the duration of the call */
};

/* Called for each directory entry by list(); borrowed name. */
typedef void (*env_list_cb)(void *arg, const char *name);

struct env {
	uint32_t version; /* ENV_VERSION of the implementation */

	/* ---- time ---- */
	/* Monotonic nanoseconds since an arbitrary origin. */
	int64_t (*now_mono_ns)(struct env *env);
	/* Wall clock, nanoseconds since the Unix epoch (UTC). */
	int64_t (*now_wall_ns)(struct env *env);

	/* ---- timers ---- one-shot; re-arm from the callback if periodic ---- */
	int (*timer_new)(struct env *env, env_timer_cb cb, void *arg);
	/* Arm (or re-arm) to fire at monotonic deadline_ns. */
	void (*timer_arm)(struct env *env, int timer, int64_t deadline_ns);
	void (*timer_disarm)(struct env *env, int timer);
	void (*timer_free)(struct env *env, int timer);

	/* ---- end of loop turn ---- */
	/* cb runs once after the driver has dispatched a batch of events and
	 * before it sleeps ("fill, parse, flush once per turn"). */
	void (*on_turn_end)(struct env *env, env_turn_cb cb, void *arg);

	/* ---- randomness ---- */
	void (*random_fill)(struct env *env, void *buf, size_t len);

	/* ---- network ---- stream sockets, non-blocking ---- */
	/* Listen on host:port (port 0 = pick one); *port_out gets the bound
	 * port.  cb(arg, sock, ENV_EV_READ) when connections are pending. */
	int (*tcp_listen)(struct env *env, const char *host, int port,
			  enum env_link_kind kind, env_sock_cb cb, void *arg,
			  int *port_out);
	/* Accept one pending connection; ENV_EAGAIN when none.  The new socket
	 * has no callback until sock_watch() gives it one.  peer_ip gets the
	 * remote address (NUL-terminated, at most 64 bytes incl. NUL). */
	int (*tcp_accept)(struct env *env, int listen_sock, char *peer_ip,
			  int *peer_port);
	/* Start connecting; cb gets ENV_EV_WRITE when connected or
	 * ENV_EV_ERROR when it failed. */
	int (*tcp_connect)(struct env *env, const char *host, int port,
			   enum env_link_kind kind, env_sock_cb cb, void *arg);
	/* Set callback and interest (ENV_EV_READ | ENV_EV_WRITE). */
	void (*sock_watch)(struct env *env, int sock, unsigned interest,
			   env_sock_cb cb, void *arg);
	/* Bytes read (> 0), 0 at end of stream, or a negative env_err. */
	long (*sock_recv)(struct env *env, int sock, void *buf, size_t len);
	/* Bytes written (>= 0) or a negative env_err. */
	long (*sock_sendv)(struct env *env, int sock, const struct iovec *iov,
			   int iovcnt);
	void (*sock_close)(struct env *env, int sock);

	/* ---- files ---- paths are relative to the process or absolute ---- */
	int (*file_open)(struct env *env, const char *path, unsigned flags);
	long (*file_pread)(struct env *env, int file, void *buf, size_t len,
			   uint64_t offset);
	long (*file_pwrite)(struct env *env, int file, const void *buf,
			    size_t len, uint64_t offset);
	int (*file_sync)(struct env *env, int file);
	int (*file_truncate)(struct env *env, int file, uint64_t size);
	int64_t (*file_size)(struct env *env, int file);
	void (*file_close)(struct env *env, int file);
	int (*file_rename)(struct env *env, const char *from, const char *to);
	int (*file_remove)(struct env *env, const char *path);
	int (*dir_create)(struct env *env, const char *path);
	/* Calls cb for each entry except . and .. in name order. */
	int (*dir_list)(struct env *env, const char *path, env_list_cb cb,
			void *arg);

	/* ---- trace and log ---- */
	void (*trace)(struct env *env, const struct env_trace_event *event);
	/* One finished log line (no newline).  level: 'I','W','E','F','D','T'. */
	void (*log)(struct env *env, char level, const char *line, size_t len);
};

/* Thin wrappers: the only way server code calls the env.  They carry the
 * asserts so that every implementation gets them. */
static inline int64_t env_now_mono_ns(struct env *e) { return e->now_mono_ns(e); }
static inline int64_t env_now_wall_ns(struct env *e) { return e->now_wall_ns(e); }
static inline void env_random(struct env *e, void *b, size_t n) { e->random_fill(e, b, n); }

const char *env_strerror(int err);

#endif
