/*
 * bench_run.h - the timed phase of a workload: connections spread over
 * worker threads, each running its own epoll loop.
 *
 * A worker turn is: wait for readiness (at most 1 ms), read and dispatch
 * what arrived, call every connection's tick, then flush every connection
 * that has output and a writable socket; EPOLLOUT is watched only while a
 * socket is full.  The run ends when a role calls brun_stop, when a
 * connection fails, or at the deadline (then it is "capped").
 */
#ifndef BENCH_RUN_H
#define BENCH_RUN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_conn.h"

struct brun {
	struct bconn **conns;         /* borrowed; conns[i] goes to worker
				       * i % threads */
	size_t nconns;
	int threads;                  /* worker threads, >= 1 */
	int64_t start_ns;             /* set by brun_go when workers start */
	int64_t deadline_ns;          /* absolute; the run is capped there */
	atomic_bool stop;             /* set once: the run is over */
	atomic_bool capped;           /* stopped by the deadline */
	atomic_int failed;            /* a connection failed; error says */
	char error[BCONN_ERROR_MAX + 32];
};

void brun_init(struct brun *r, struct bconn **conns, size_t nconns,
	       int threads);
/* Runs until stopped; duration_max_ns bounds it.  0 when the run ended
 * without a connection failing (capped or not), else -1. */
int brun_go(struct brun *r, int64_t duration_max_ns);
/* Ends the run (from any worker). */
void brun_stop(struct brun *r);

#endif
