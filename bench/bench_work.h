/*
 * bench_work.h - the workloads of natsbench: what each connection does
 * and when a run is over.  Each entry point sets up its connections
 * (untimed), runs the timed phase with bench_run, tears down, and fills a
 * struct bresult.
 *
 * Counting rules (docs/benchmarks.md explains them for readers):
 *  - count is per publisher; "msgs" is what the rate is computed from:
 *    deliveries to subscribers (all of them) when there are subscribers,
 *    else messages published; requests answered for reqrep; acks for
 *    JetStream publishing; messages consumed for pull/push;
 *  - a core run ends when every expected delivery arrived, or, if some
 *    were dropped, when every subscriber got the PONG of a PING sent
 *    after the publishers' final PONG (then lost says how many).
 */
#ifndef BENCH_WORK_H
#define BENCH_WORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_conn.h"
#include "bench_hist.h"

#define WORK_SUBJECT "bench.core"
#define WORK_SETUP_TIMEOUT_MS 10000

struct bopts {
	const char *workload;
	const char *host;
	int port;
	uint64_t count;           /* messages per publisher; for js-pull and
				   * js-push the messages in the stream */
	size_t size;              /* payload bytes */
	int pubs;                 /* publishers (requesters for reqrep) */
	int subs;                 /* subscribers (responders, consumers) */
	int threads;              /* worker threads of the timed phase */
	double duration_max_s;    /* the timed phase never runs longer */
	uint64_t inflight;        /* core: messages in flight cap, 0 = auto */
	uint64_t window;          /* JetStream async publish window */
	uint64_t batch;           /* pull request batch */
	const char *storage;      /* JetStream stream storage: file|memory */
	int conns;                /* idle: connections to open */
	double hold_s;            /* idle: settle time before measuring */
	int server_pid;           /* 0 = not known: no server figures */
};

struct bresult {
	const char *status;       /* "ok", "capped", "n/a" or "error" */
	char error[BCONN_ERROR_MAX + 64];
	double elapsed_s;         /* the timed phase, up to its last event */
	uint64_t msgs;            /* what the rate counts (see above) */
	uint64_t published;       /* messages the publishers sent */
	double pub_elapsed_s;     /* until the publishers' final PONG */
	uint64_t lost;            /* expected deliveries that never came */
	struct hist lat;          /* nanoseconds, when measured */
	int conns_open;           /* idle: connections established */
	long rss_before_kb;       /* idle: server VmRSS before opening */
	long rss_after_kb;        /* idle: server VmRSS with all open */
};

void work_result_init(struct bresult *r);
/* Sets status "error" with a message (first one wins). */
void work_fail(struct bresult *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* pub, pubsub, fanout, fanin, queue (o->workload says which). */
int work_core(const struct bopts *o, struct bresult *r);
int work_reqrep(const struct bopts *o, struct bresult *r);
/* js-pub-sync, js-pub-async, js-pull, js-push. */
int work_js(const struct bopts *o, struct bresult *r);
int work_idle(const struct bopts *o, struct bresult *r);

/* Shared helpers of the workload files. */
/* Opens n connections named "natsbench-<what>-<i>", indexes from first;
 * NULL (and r failed) on error, else an array to free with
 * work_close_conns. */
struct bconn *work_open_conns(const struct bopts *o, int n, int first,
			      const char *what, struct bresult *r);
void work_close_conns(struct bconn *cs, int n);
/* A payload of size bytes (printable, not all equal); free() it. */
char *work_payload(size_t size);
/* A private inbox subject for connection index (and a tag). */
void work_inbox(char *out, size_t cap, int index, const char *tag);
/* Fills r->status from a finished run. */
void work_finish_status(struct bresult *r, int run_rc, bool capped,
			const char *run_error);

#endif
