/*
 * env_posix.c - struct env on the real world: epoll, non-blocking TCP
 * sockets, POSIX files, CLOCK_MONOTONIC/CLOCK_REALTIME and getrandom.
 *
 * Owns: the epoll instance, the socket/file/timer tables and the loop.
 * Handles are indexes into those tables.  Socket events carry a generation
 * number so that an event for a socket closed (and its slot reused) earlier in
 * the same epoll batch is dropped rather than delivered to the new owner.
 *
 * Timers live in a binary min-heap ordered by (deadline, arm sequence) so
 * that timers with equal deadlines fire in the order they were armed.
 */
#define _GNU_SOURCE
#include "env_posix.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../lib/assert.h"

struct psock {
	int fd;               /* -1 when the slot is free */
	uint32_t gen;         /* bumped on every reuse of the slot */
	unsigned interest;    /* ENV_EV_READ | ENV_EV_WRITE registered */
	bool registered;      /* added to epoll */
	bool connecting;      /* connect() in progress */
	env_sock_cb cb;
	void *arg;
};

struct ptimer {
	bool used;
	env_timer_cb cb;
	void *arg;
	int64_t deadline_ns;
	uint64_t seq;         /* arm order, the heap's tie-breaker */
	int heap_index;       /* -1 when not armed */
};

struct pturn {
	env_turn_cb cb;
	void *arg;
};

struct pfd_watch {
	int fd;
	void (*cb)(void *arg, int fd);
	void *arg;
};

struct env_posix {
	struct env env;       /* first: the vtable handed to the server */
	int epfd;
	struct psock *socks;
	size_t nsocks;
	struct ptimer *timers;
	size_t ntimers;
	int *heap;            /* timer ids */
	size_t heap_len;
	uint64_t arm_seq;
	struct pturn turns[8];
	size_t nturns;
	int *files;           /* fd per file handle, -1 free */
	size_t nfiles;
	struct pfd_watch watches[8];
	size_t nwatches;
	int log_fd;
	bool stop;
};

#define WATCH_TAG (UINT64_C(1) << 63)

static struct env_posix *P(struct env *e)
{
	return (struct env_posix *)e;
}

static int errno_to_env(int err)
{
	switch (err) {
	case EAGAIN: return ENV_EAGAIN;
	case EINPROGRESS: return ENV_EAGAIN;
	case ECONNRESET: case EPIPE: case ENOTCONN: return ENV_ECLOSED;
	case EADDRINUSE: return ENV_EADDRINUSE;
	case ENOENT: return ENV_ENOENT;
	case ENOSPC: case EDQUOT: return ENV_ENOSPC;
	case EINVAL: return ENV_EINVAL;
	case ECONNREFUSED: return ENV_EREFUSED;
	case ENOMEM: return ENV_ENOMEM;
	case EEXIST: return ENV_EEXIST;
	case EIO: return ENV_EIO;
	default: return ENV_EOTHER;
	}
}

/* ---------------------------------------------------------------- time */

static int64_t posix_now(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t posix_now_mono_ns(struct env *e)
{
	UNUSED(e);
	return posix_now(CLOCK_MONOTONIC);
}

static int64_t posix_now_wall_ns(struct env *e)
{
	UNUSED(e);
	return posix_now(CLOCK_REALTIME);
}

/* -------------------------------------------------------------- timers */

static bool heap_less(struct env_posix *p, int a, int b)
{
	struct ptimer *ta = &p->timers[a], *tb = &p->timers[b];
	if (ta->deadline_ns != tb->deadline_ns)
		return ta->deadline_ns < tb->deadline_ns;
	return ta->seq < tb->seq;
}

static void heap_set(struct env_posix *p, size_t i, int id)
{
	p->heap[i] = id;
	p->timers[id].heap_index = (int)i;
}

static void heap_up(struct env_posix *p, size_t i)
{
	int id = p->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!heap_less(p, id, p->heap[parent]))
			break;
		heap_set(p, i, p->heap[parent]);
		i = parent;
	}
	heap_set(p, i, id);
}

static void heap_down(struct env_posix *p, size_t i)
{
	int id = p->heap[i];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		int mid = id;
		if (l < p->heap_len && heap_less(p, p->heap[l], mid)) {
			m = l;
			mid = p->heap[l];
		}
		if (r < p->heap_len && heap_less(p, p->heap[r], mid)) {
			m = r;
			mid = p->heap[r];
		}
		if (m == i)
			break;
		heap_set(p, i, mid);
		i = m;
	}
	heap_set(p, i, id);
}

static void heap_remove(struct env_posix *p, int id)
{
	int i = p->timers[id].heap_index;
	if (i < 0)
		return;
	p->timers[id].heap_index = -1;
	p->heap_len--;
	if ((size_t)i == p->heap_len)
		return;
	heap_set(p, (size_t)i, p->heap[p->heap_len]);
	heap_down(p, (size_t)i);
	heap_up(p, (size_t)p->timers[p->heap[i]].heap_index);
}

static int posix_timer_new(struct env *e, env_timer_cb cb, void *arg)
{
	struct env_posix *p = P(e);
	size_t i;
	for (i = 0; i < p->ntimers; i++)
		if (!p->timers[i].used)
			break;
	if (i == p->ntimers) {
		size_t n = p->ntimers ? p->ntimers * 2 : 64;
		struct ptimer *t = realloc(p->timers, n * sizeof(*t));
		int *h = realloc(p->heap, n * sizeof(*h));
		if (t == NULL || h == NULL) {
			if (t != NULL)
				p->timers = t;
			if (h != NULL)
				p->heap = h;
			return ENV_ENOMEM;
		}
		memset(t + p->ntimers, 0, (n - p->ntimers) * sizeof(*t));
		p->timers = t;
		p->heap = h;
		p->ntimers = n;
	}
	p->timers[i] = (struct ptimer){ true, cb, arg, 0, 0, -1 };
	return (int)i;
}

static void posix_timer_arm(struct env *e, int id, int64_t deadline_ns)
{
	struct env_posix *p = P(e);
	ASSERT(id >= 0 && (size_t)id < p->ntimers && p->timers[id].used);
	heap_remove(p, id);
	p->timers[id].deadline_ns = deadline_ns;
	p->timers[id].seq = p->arm_seq++;
	p->heap_len++;
	heap_set(p, p->heap_len - 1, id);
	heap_up(p, p->heap_len - 1);
}

static void posix_timer_disarm(struct env *e, int id)
{
	struct env_posix *p = P(e);
	ASSERT(id >= 0 && (size_t)id < p->ntimers && p->timers[id].used);
	heap_remove(p, id);
}

static void posix_timer_free(struct env *e, int id)
{
	struct env_posix *p = P(e);
	if (id < 0)
		return;
	posix_timer_disarm(e, id);
	p->timers[id].used = false;
}

static void posix_on_turn_end(struct env *e, env_turn_cb cb, void *arg)
{
	struct env_posix *p = P(e);
	ASSERT(p->nturns < ARRAY_LEN(p->turns));
	p->turns[p->nturns++] = (struct pturn){ cb, arg };
}

/* ---------------------------------------------------------- randomness */

static void posix_random_fill(struct env *e, void *buf, size_t len)
{
	UNUSED(e);
	unsigned char *b = buf;
	while (len > 0) {
		ssize_t n = getrandom(b, len, 0);
		if (n < 0) {
			ASSERT(errno == EINTR);
			continue;
		}
		b += n;
		len -= (size_t)n;
	}
}

/* -------------------------------------------------------------- sockets */

static int sock_alloc(struct env_posix *p, int fd)
{
	size_t i;
	for (i = 0; i < p->nsocks; i++)
		if (p->socks[i].fd < 0)
			break;
	if (i == p->nsocks) {
		size_t n = p->nsocks ? p->nsocks * 2 : 256;
		struct psock *s = realloc(p->socks, n * sizeof(*s));
		if (s == NULL)
			return ENV_ENOMEM;
		for (size_t j = p->nsocks; j < n; j++)
			s[j] = (struct psock){ .fd = -1 };
		p->socks = s;
		p->nsocks = n;
	}
	struct psock *s = &p->socks[i];
	uint32_t gen = s->gen + 1;
	*s = (struct psock){ .fd = fd, .gen = gen };
	return (int)i;
}

static struct psock *sock_get(struct env_posix *p, int sock)
{
	ASSERT(sock >= 0 && (size_t)sock < p->nsocks && p->socks[sock].fd >= 0);
	return &p->socks[sock];
}

static void sock_update(struct env_posix *p, int sock)
{
	struct psock *s = sock_get(p, sock);
	struct epoll_event ev = { 0 };
	if (s->interest & ENV_EV_READ)
		ev.events |= EPOLLIN | EPOLLRDHUP;
	if (s->interest & ENV_EV_WRITE)
		ev.events |= EPOLLOUT;
	ev.data.u64 = ((uint64_t)s->gen << 32) | (uint32_t)sock;
	int op = s->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(p->epfd, op, s->fd, &ev) == 0)
		s->registered = true;
}

static int resolve(const char *host, int port, struct sockaddr_storage *ss,
		   socklen_t *len)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL;
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	if (host != NULL && (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0))
		host = "0.0.0.0";
	if (getaddrinfo(host, portstr, &hints, &res) != 0 || res == NULL)
		return ENV_EINVAL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int posix_tcp_listen(struct env *e, const char *host, int port,
			    enum env_link_kind kind, env_sock_cb cb, void *arg,
			    int *port_out)
{
	struct env_posix *p = P(e);
	UNUSED(kind);
	struct sockaddr_storage ss;
	socklen_t len;
	int rc = resolve(host, port, &ss, &len);
	if (rc < 0)
		return rc;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno_to_env(errno);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0) {
		rc = errno_to_env(errno);
		close(fd);
		return rc;
	}
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	if (port_out != NULL)
		*port_out = ntohs(ss.ss_family == AF_INET6
				  ? ((struct sockaddr_in6 *)&ss)->sin6_port
				  : ((struct sockaddr_in *)&ss)->sin_port);
	int sock = sock_alloc(p, fd);
	if (sock < 0) {
		close(fd);
		return sock;
	}
	p->socks[sock].cb = cb;
	p->socks[sock].arg = arg;
	p->socks[sock].interest = ENV_EV_READ;
	sock_update(p, sock);
	return sock;
}

static void addr_to_text(const struct sockaddr_storage *ss, char *ip,
			 int *port)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, 64);
		*port = ntohs(a->sin6_port);
	} else {
		const struct sockaddr_in *a = (const void *)ss;
		inet_ntop(AF_INET, &a->sin_addr, ip, 64);
		*port = ntohs(a->sin_port);
	}
}

static int posix_tcp_accept(struct env *e, int listen_sock, char *peer_ip,
			    int *peer_port)
{
	struct env_posix *p = P(e);
	struct psock *ls = sock_get(p, listen_sock);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = accept4(ls->fd, (struct sockaddr *)&ss, &len,
			 SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return errno_to_env(errno);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	char ip[64] = "";
	int port = 0;
	addr_to_text(&ss, ip, &port);
	if (peer_ip != NULL)
		memcpy(peer_ip, ip, sizeof(ip));
	if (peer_port != NULL)
		*peer_port = port;
	int sock = sock_alloc(p, fd);
	if (sock < 0)
		close(fd);
	return sock;
}

static int posix_tcp_connect(struct env *e, const char *host, int port,
			     enum env_link_kind kind, env_sock_cb cb, void *arg)
{
	struct env_posix *p = P(e);
	UNUSED(kind);
	struct sockaddr_storage ss;
	socklen_t len;
	int rc = resolve(host, port, &ss, &len);
	if (rc < 0)
		return rc;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno_to_env(errno);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		rc = errno_to_env(errno);
		close(fd);
		return rc;
	}
	int sock = sock_alloc(p, fd);
	if (sock < 0) {
		close(fd);
		return sock;
	}
	struct psock *s = &p->socks[sock];
	s->cb = cb;
	s->arg = arg;
	s->connecting = true;
	s->interest = ENV_EV_WRITE;
	sock_update(p, sock);
	return sock;
}

static void posix_sock_watch(struct env *e, int sock, unsigned interest,
			     env_sock_cb cb, void *arg)
{
	struct env_posix *p = P(e);
	struct psock *s = sock_get(p, sock);
	s->cb = cb;
	s->arg = arg;
	if (s->interest != interest || !s->registered) {
		s->interest = interest;
		sock_update(p, sock);
	}
}

static long posix_sock_recv(struct env *e, int sock, void *buf, size_t len)
{
	struct psock *s = sock_get(P(e), sock);
	for (;;) {
		ssize_t n = recv(s->fd, buf, len, 0);
		if (n >= 0)
			return (long)n;
		if (errno == EINTR)
			continue;
		return errno_to_env(errno);
	}
}

static long posix_sock_sendv(struct env *e, int sock, const struct iovec *iov,
			     int iovcnt)
{
	struct psock *s = sock_get(P(e), sock);
	struct msghdr mh = { .msg_iov = (struct iovec *)iov,
			     .msg_iovlen = (size_t)iovcnt };
	for (;;) {
		ssize_t n = sendmsg(s->fd, &mh, MSG_NOSIGNAL);
		if (n >= 0)
			return (long)n;
		if (errno == EINTR)
			continue;
		return errno_to_env(errno);
	}
}

static void posix_sock_close(struct env *e, int sock)
{
	struct env_posix *p = P(e);
	struct psock *s = sock_get(p, sock);
	close(s->fd);  /* also removes it from the epoll set */
	s->fd = -1;
	s->cb = NULL;
	s->arg = NULL;
	s->gen++;
}

/* ---------------------------------------------------------------- files */

static int posix_file_open(struct env *e, const char *path, unsigned flags)
{
	struct env_posix *p = P(e);
	int of = O_CLOEXEC;
	if ((flags & ENV_O_READ) && (flags & ENV_O_WRITE))
		of |= O_RDWR;
	else if (flags & ENV_O_WRITE)
		of |= O_WRONLY;
	else
		of |= O_RDONLY;
	if (flags & ENV_O_CREATE)
		of |= O_CREAT;
	if (flags & ENV_O_TRUNC)
		of |= O_TRUNC;
	if (flags & ENV_O_EXCL)
		of |= O_EXCL;
	int fd = open(path, of, 0640);
	if (fd < 0)
		return errno_to_env(errno);
	size_t i;
	for (i = 0; i < p->nfiles; i++)
		if (p->files[i] < 0)
			break;
	if (i == p->nfiles) {
		size_t n = p->nfiles ? p->nfiles * 2 : 64;
		int *f = realloc(p->files, n * sizeof(*f));
		if (f == NULL) {
			close(fd);
			return ENV_ENOMEM;
		}
		for (size_t j = p->nfiles; j < n; j++)
			f[j] = -1;
		p->files = f;
		p->nfiles = n;
	}
	p->files[i] = fd;
	return (int)i;
}

static int file_fd(struct env_posix *p, int file)
{
	ASSERT(file >= 0 && (size_t)file < p->nfiles && p->files[file] >= 0);
	return p->files[file];
}

static long posix_file_pread(struct env *e, int file, void *buf, size_t len,
			     uint64_t off)
{
	ssize_t n = pread(file_fd(P(e), file), buf, len, (off_t)off);
	return n < 0 ? errno_to_env(errno) : (long)n;
}

static long posix_file_pwrite(struct env *e, int file, const void *buf,
			      size_t len, uint64_t off)
{
	ssize_t n = pwrite(file_fd(P(e), file), buf, len, (off_t)off);
	return n < 0 ? errno_to_env(errno) : (long)n;
}

static int posix_file_sync(struct env *e, int file)
{
	return fdatasync(file_fd(P(e), file)) < 0 ? errno_to_env(errno) : 0;
}

static int posix_file_truncate(struct env *e, int file, uint64_t size)
{
	return ftruncate(file_fd(P(e), file), (off_t)size) < 0
		       ? errno_to_env(errno) : 0;
}

static int64_t posix_file_size(struct env *e, int file)
{
	struct stat st;
	if (fstat(file_fd(P(e), file), &st) < 0)
		return errno_to_env(errno);
	return (int64_t)st.st_size;
}

static void posix_file_close(struct env *e, int file)
{
	struct env_posix *p = P(e);
	close(file_fd(p, file));
	p->files[file] = -1;
}

static int posix_file_rename(struct env *e, const char *from, const char *to)
{
	UNUSED(e);
	return rename(from, to) < 0 ? errno_to_env(errno) : 0;
}

static int posix_file_remove(struct env *e, const char *path)
{
	UNUSED(e);
	if (unlink(path) == 0)
		return 0;
	if (errno == EISDIR && rmdir(path) == 0)
		return 0;
	return errno_to_env(errno);
}

static int posix_dir_create(struct env *e, const char *path)
{
	UNUSED(e);
	return mkdir(path, 0750) < 0 ? errno_to_env(errno) : 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int posix_dir_list(struct env *e, const char *path, env_list_cb cb,
			  void *arg)
{
	UNUSED(e);
	DIR *d = opendir(path);
	if (d == NULL)
		return errno_to_env(errno);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (nn == NULL) {
				rc = ENV_ENOMEM;
				break;
			}
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL) {
			rc = ENV_ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			cb(arg, names[i]);
		free(names[i]);
	}
	free(names);
	return rc;
}

/* ------------------------------------------------------------ tracing */

static void posix_trace(struct env *e, const struct env_trace_event *ev)
{
	UNUSED(e);
	UNUSED(ev);
}

static void posix_log(struct env *e, char level, const char *line, size_t len)
{
	struct env_posix *p = P(e);
	UNUSED(level);
	struct iovec iov[2] = { { (void *)line, len }, { "\n", 1 } };
	ssize_t rc = writev(p->log_fd, iov, 2);
	UNUSED(rc);
}

/* ---------------------------------------------------------------- loop */

int env_posix_init(struct env_posix **out)
{
	struct env_posix *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return ENV_ENOMEM;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0) {
		free(p);
		return errno_to_env(errno);
	}
	p->log_fd = STDERR_FILENO;
	struct env *e = &p->env;
	e->version = ENV_VERSION;
	e->now_mono_ns = posix_now_mono_ns;
	e->now_wall_ns = posix_now_wall_ns;
	e->timer_new = posix_timer_new;
	e->timer_arm = posix_timer_arm;
	e->timer_disarm = posix_timer_disarm;
	e->timer_free = posix_timer_free;
	e->on_turn_end = posix_on_turn_end;
	e->random_fill = posix_random_fill;
	e->tcp_listen = posix_tcp_listen;
	e->tcp_accept = posix_tcp_accept;
	e->tcp_connect = posix_tcp_connect;
	e->sock_watch = posix_sock_watch;
	e->sock_recv = posix_sock_recv;
	e->sock_sendv = posix_sock_sendv;
	e->sock_close = posix_sock_close;
	e->file_open = posix_file_open;
	e->file_pread = posix_file_pread;
	e->file_pwrite = posix_file_pwrite;
	e->file_sync = posix_file_sync;
	e->file_truncate = posix_file_truncate;
	e->file_size = posix_file_size;
	e->file_close = posix_file_close;
	e->file_rename = posix_file_rename;
	e->file_remove = posix_file_remove;
	e->dir_create = posix_dir_create;
	e->dir_list = posix_dir_list;
	e->trace = posix_trace;
	e->log = posix_log;
	*out = p;
	return 0;
}

struct env *env_posix_env(struct env_posix *p)
{
	return &p->env;
}

void env_posix_set_log_fd(struct env_posix *p, int fd)
{
	p->log_fd = fd;
}

int env_posix_watch_fd(struct env_posix *p, int fd,
		       void (*cb)(void *arg, int fd), void *arg)
{
	if (p->nwatches == ARRAY_LEN(p->watches))
		return ENV_ENOMEM;
	size_t i = p->nwatches++;
	p->watches[i] = (struct pfd_watch){ fd, cb, arg };
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = WATCH_TAG | i };
	return epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0
		       ? errno_to_env(errno) : 0;
}

void env_posix_stop(struct env_posix *p)
{
	p->stop = true;
}

static void dispatch(struct env_posix *p, const struct epoll_event *ev)
{
	if (ev->data.u64 & WATCH_TAG) {
		struct pfd_watch *w = &p->watches[ev->data.u64 & 0xff];
		w->cb(w->arg, w->fd);
		return;
	}
	uint32_t sock = (uint32_t)ev->data.u64;
	uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
	if (sock >= p->nsocks)
		return;
	struct psock *s = &p->socks[sock];
	if (s->fd < 0 || s->gen != gen || s->cb == NULL)
		return;
	unsigned events = 0;
	if (ev->events & (EPOLLIN | EPOLLRDHUP))
		events |= ENV_EV_READ;
	if (ev->events & EPOLLOUT)
		events |= ENV_EV_WRITE;
	if (ev->events & (EPOLLERR | EPOLLHUP))
		events |= ENV_EV_ERROR | ENV_EV_READ;
	if (s->connecting && (events & (ENV_EV_WRITE | ENV_EV_ERROR))) {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		s->connecting = false;
		events = err ? ENV_EV_ERROR : ENV_EV_WRITE;
	}
	s->cb(s->arg, (int)sock, events);
}

static void run_timers(struct env_posix *p)
{
	int64_t now = posix_now(CLOCK_MONOTONIC);
	/* Only timers due now; those re-armed for now fire next turn. */
	uint64_t seq_limit = p->arm_seq;
	while (p->heap_len > 0) {
		int id = p->heap[0];
		struct ptimer *t = &p->timers[id];
		if (t->deadline_ns > now || t->seq >= seq_limit)
			break;
		heap_remove(p, id);
		t->cb(t->arg, id);
	}
}

static int next_timeout_ms(struct env_posix *p)
{
	if (p->heap_len == 0)
		return 1000;
	int64_t wait = p->timers[p->heap[0]].deadline_ns -
		       posix_now(CLOCK_MONOTONIC);
	if (wait <= 0)
		return 0;
	int64_t ms = (wait + 999999) / 1000000;
	return ms > 1000 ? 1000 : (int)ms;
}

int env_posix_run(struct env_posix *p)
{
	struct epoll_event events[256];
	while (!p->stop) {
		int n = epoll_wait(p->epfd, events, (int)ARRAY_LEN(events),
				   next_timeout_ms(p));
		if (n < 0 && errno != EINTR)
			return errno_to_env(errno);
		for (int i = 0; i < n; i++)
			dispatch(p, &events[i]);
		run_timers(p);
		for (size_t i = 0; i < p->nturns; i++)
			p->turns[i].cb(p->turns[i].arg);
	}
	return 0;
}

void env_posix_free(struct env_posix *p)
{
	for (size_t i = 0; i < p->nsocks; i++)
		if (p->socks[i].fd >= 0)
			close(p->socks[i].fd);
	for (size_t i = 0; i < p->nfiles; i++)
		if (p->files[i] >= 0)
			close(p->files[i]);
	close(p->epfd);
	free(p->socks);
	free(p->timers);
	free(p->heap);
	free(p->files);
	free(p);
}
