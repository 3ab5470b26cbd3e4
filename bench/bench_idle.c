/*
 * bench_idle.c - memory with many idle connections: open o->conns client
 * connections (CONNECT then PING, each answered by PONG), let the server
 * settle, and read its resident memory before and after.
 *
 * Connections here are bare sockets, not struct bconn: ten thousand of
 * them must cost the tool little.  At most IDLE_UNANSWERED handshakes are
 * outstanding at a time, so the server's accept queue never overflows
 * (an overflow costs a one-second SYN retry).  Sockets are closed with a
 * reset so that repeated runs leave no TIME_WAIT behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_proc.h"
#include "bench_work.h"

#define IDLE_UNANSWERED 256
#define IDLE_HELLO "CONNECT {\"verbose\":false,\"pedantic\":false," \
		   "\"name\":\"natsbench-idle\",\"lang\":\"c\",\"protocol\":1}\r\nPING\r\n"
#define IDLE_PONG "PONG\r\n"

struct idle_conn {
	int fd;
	uint8_t matched;              /* bytes of "PONG\r\n" seen in a row */
	bool answered;
};

struct idle_state {
	struct idle_conn *conns;
	int opened;
	int answered;
	int epfd;
	struct sockaddr_in addr;
};

static void idle_raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Feeds received bytes to the PONG matcher ("PONG\r\n" cannot overlap
 * itself, so a mismatch restarts at 0 or 1). */
static void idle_scan(struct idle_conn *ic, const char *p, size_t n)
{
	static const char pong[] = IDLE_PONG;
	for (size_t i = 0; i < n && !ic->answered; i++) {
		if (p[i] == pong[ic->matched])
			ic->matched++;
		else
			ic->matched = p[i] == 'P' ? 1 : 0;
		if (ic->matched == sizeof(pong) - 1)
			ic->answered = true;
	}
}

static int idle_read(struct idle_state *st, struct idle_conn *ic, struct bresult *r)
{
	char buf[4096];
	for (;;) {
		ssize_t n = recv(ic->fd, buf, sizeof(buf), 0);
		if (n > 0) {
			idle_scan(ic, buf, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		work_fail(r, "connection %d: %s", (int)(ic - st->conns),
			  n == 0 ? "closed by the server" : strerror(errno));
		return -1;
	}
	if (ic->answered) {
		st->answered++;
		epoll_ctl(st->epfd, EPOLL_CTL_DEL, ic->fd, NULL);
	}
	return 0;
}

/* Waits (until deadline_ns) for answers until at most max_unanswered
 * handshakes are outstanding. */
static int idle_collect(struct idle_state *st, int max_unanswered, int64_t deadline_ns,
			struct bresult *r)
{
	struct epoll_event evs[256];
	while (st->opened - st->answered > max_unanswered) {
		int64_t left = (deadline_ns - bconn_now_ns()) / 1000000;
		if (left <= 0) {
			work_fail(r, "time is up with %d of %d connections established",
				  st->answered, st->opened);
			return -1;
		}
		int n = epoll_wait(st->epfd, evs, 256, (int)(left > 100 ? 100 : left));
		for (int i = 0; i < n; i++)
			if (idle_read(st, &st->conns[evs[i].data.u32], r) < 0)
				return -1;
	}
	return 0;
}

static int idle_open_one(struct idle_state *st, struct bresult *r)
{
	struct idle_conn *ic = &st->conns[st->opened];
	ic->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ic->fd < 0 || connect(ic->fd, (struct sockaddr *)&st->addr,
				  sizeof(st->addr)) < 0) {
		work_fail(r, "connection %d: %s", st->opened, strerror(errno));
		return -1;
	}
	if (send(ic->fd, IDLE_HELLO, sizeof(IDLE_HELLO) - 1, MSG_NOSIGNAL) < 0) {
		work_fail(r, "connection %d: send: %s", st->opened, strerror(errno));
		return -1;
	}
	fcntl(ic->fd, F_SETFL, fcntl(ic->fd, F_GETFL) | O_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)st->opened };
	if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, ic->fd, &ev) < 0) {
		work_fail(r, "epoll_ctl: %s", strerror(errno));
		return -1;
	}
	st->opened++;
	return 0;
}

static void idle_close_all(struct idle_state *st)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	for (int i = 0; i < st->opened; i++) {
		setsockopt(st->conns[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(st->conns[i].fd);
	}
	if (st->epfd >= 0)
		close(st->epfd);
	free(st->conns);
}

static void idle_hold(double seconds)
{
	struct timespec ts = { (time_t)seconds,
			       (long)((seconds - (double)(time_t)seconds) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int work_idle(const struct bopts *o, struct bresult *r)
{
	idle_raise_fd_limit();
	struct idle_state st = { .epfd = epoll_create1(EPOLL_CLOEXEC) };
	st.conns = calloc((size_t)o->conns, sizeof(*st.conns));
	st.addr.sin_family = AF_INET;
	st.addr.sin_port = htons((uint16_t)o->port);
	if (st.conns == NULL || st.epfd < 0 ||
	    inet_pton(AF_INET, o->host, &st.addr.sin_addr) != 1) {
		work_fail(r, "setup failed (the idle workload needs an IPv4 address)");
		goto out;
	}
	r->rss_before_kb = o->server_pid ? proc_status_kb(o->server_pid, "VmRSS") : -1;
	int64_t start = bconn_now_ns();
	int64_t deadline = start + (int64_t)(o->duration_max_s * 1e9);
	while (st.opened < o->conns) {
		if (idle_open_one(&st, r) < 0 ||
		    idle_collect(&st, IDLE_UNANSWERED, deadline, r) < 0)
			goto out;
	}
	if (idle_collect(&st, 0, deadline, r) < 0)
		goto out;
	r->elapsed_s = (double)(bconn_now_ns() - start) / 1e9;
	r->msgs = (uint64_t)st.answered;
	r->conns_open = st.answered;
	idle_hold(o->hold_s);
	r->rss_after_kb = o->server_pid ? proc_status_kb(o->server_pid, "VmRSS") : -1;
out:
	r->conns_open = st.answered;
	idle_close_all(&st);
	return strcmp(r->status, "error") == 0 ? -1 : 0;
}
