/*
 * bench_run.c - worker threads and their epoll loops (see bench_run.h).
 *
 * Ownership: during brun_go each connection belongs to exactly one
 * worker, which alone touches it; workers share only the struct brun
 * atomics and whatever atomics the roles keep in their own shared state.
 * Level-triggered epoll: a connection that still has bytes to read after
 * its bounded read simply shows up again in the next turn.
 */
#include "bench_run.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define BRUN_EVENTS 256

struct bworker {
	struct brun *run;
	int epfd;
	struct bconn **conns;         /* this worker's share */
	size_t nconns;
	pthread_t thread;
};

void brun_init(struct brun *r, struct bconn **conns, size_t nconns, int threads)
{
	memset(r, 0, sizeof(*r));
	r->conns = conns;
	r->nconns = nconns;
	r->threads = threads < 1 ? 1 : threads;
	if ((size_t)r->threads > nconns && nconns > 0)
		r->threads = (int)nconns;
	atomic_init(&r->stop, false);
	atomic_init(&r->capped, false);
	atomic_init(&r->failed, 0);
}

void brun_stop(struct brun *r)
{
	atomic_store(&r->stop, true);
}

static void brun_fail(struct brun *r, const struct bconn *c)
{
	if (atomic_exchange(&r->failed, 1) == 0)
		snprintf(r->error, sizeof(r->error), "connection %d: %s", c->index,
			 c->error);
	brun_stop(r);
}

/* Watches EPOLLOUT exactly while output waits on a full socket. */
static void bworker_watch(struct bworker *w, struct bconn *c)
{
	bool want = !c->writable && bconn_has_output(c);
	if (want == c->epoll_out)
		return;
	struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0),
				  .data.ptr = c };
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		bconn_fail(c, "epoll_ctl: %s", strerror(errno));
		return;
	}
	c->epoll_out = want;
}

/* One loop turn; returns whether some connection could write more right
 * away (then the next wait must not sleep). */
static bool bworker_turn(struct bworker *w, struct epoll_event *evs, bool busy)
{
	struct brun *r = w->run;
	int n = epoll_wait(w->epfd, evs, BRUN_EVENTS, busy ? 0 : 1);
	for (int i = 0; i < n; i++) {
		struct bconn *c = evs[i].data.ptr;
		if (evs[i].events & EPOLLOUT)
			c->writable = true;
		if ((evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
		    bconn_read(c) < 0)
			brun_fail(r, c);
	}
	int64_t now = bconn_now_ns();
	busy = false;
	for (size_t i = 0; i < w->nconns; i++) {
		struct bconn *c = w->conns[i];
		if (c->on_tick != NULL)
			c->on_tick(c, now);
		if (c->writable && bconn_has_output(c))
			bconn_flush(c);
		bworker_watch(w, c);
		busy |= c->writable && bconn_has_output(c);
		if (c->failed)
			brun_fail(r, c);
	}
	if (now >= r->deadline_ns && !atomic_load(&r->stop)) {
		atomic_store(&r->capped, true);
		brun_stop(r);
	}
	return busy;
}

static void *bworker_main(void *arg)
{
	struct bworker *w = arg;
	struct epoll_event evs[BRUN_EVENTS];
	bool busy = true;
	while (!atomic_load_explicit(&w->run->stop, memory_order_relaxed))
		busy = bworker_turn(w, evs, busy);
	return NULL;
}

static int bworker_setup(struct bworker *w, struct brun *r, int index)
{
	w->run = r;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return -1;
	w->conns = calloc(r->nconns / (size_t)r->threads + 1, sizeof(*w->conns));
	if (w->conns == NULL)
		return -1;
	for (size_t i = (size_t)index; i < r->nconns; i += (size_t)r->threads) {
		struct bconn *c = r->conns[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			return -1;
		c->epfd = w->epfd;
		c->epoll_out = false;
		w->conns[w->nconns++] = c;
	}
	return 0;
}

static void bworker_teardown(struct bworker *w)
{
	for (size_t i = 0; i < w->nconns; i++) {
		w->conns[i]->epfd = -1;
		w->conns[i]->epoll_out = false;
	}
	if (w->epfd >= 0)
		close(w->epfd);
	free(w->conns);
}

int brun_go(struct brun *r, int64_t duration_max_ns)
{
	struct bworker *ws = calloc((size_t)r->threads, sizeof(*ws));
	if (ws == NULL)
		return -1;
	int rc = 0;
	for (int i = 0; i < r->threads; i++) {
		ws[i].epfd = -1;
		if (bworker_setup(&ws[i], r, i) < 0) {
			snprintf(r->error, sizeof(r->error), "worker setup: %s",
				 strerror(errno));
			rc = -1;
		}
	}
	r->start_ns = bconn_now_ns();
	r->deadline_ns = r->start_ns + duration_max_ns;
	int started = 1;
	for (int i = 1; rc == 0 && i < r->threads; i++, started++)
		if (pthread_create(&ws[i].thread, NULL, bworker_main, &ws[i]) != 0)
			break;
	if (rc == 0)
		bworker_main(&ws[0]);
	brun_stop(r);
	for (int i = 1; i < started; i++)
		pthread_join(ws[i].thread, NULL);
	for (int i = 0; i < r->threads; i++)
		bworker_teardown(&ws[i]);
	free(ws);
	if (started < r->threads && rc == 0) {
		snprintf(r->error, sizeof(r->error), "cannot start worker threads");
		rc = -1;
	}
	return rc < 0 || atomic_load(&r->failed) ? -1 : 0;
}
