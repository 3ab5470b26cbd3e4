/*
 * bench_work.c - core NATS workloads: publish only, publish/subscribe,
 * fan-out, fan-in, queue groups, and request/reply with latencies.
 *
 * Shared state between worker threads is a handful of atomics per run;
 * roles add their local counts to them once per loop turn, not per
 * message.  Publishers are held to a window of messages in flight
 * (published but not yet delivered), so a subscriber that the tool reads
 * late never makes the server buffer without bound: the server stays the
 * bottleneck as long as the window covers its pipeline.
 */
#include "bench_work.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_run.h"

/* Default in-flight window in bytes of wire data; well below the 64 MB
 * max_pending after which both servers drop a slow consumer. */
#define WORK_INFLIGHT_BYTES ((uint64_t)16 << 20)
#define WORK_INFLIGHT_MIN 1024

void work_result_init(struct bresult *r)
{
	memset(r, 0, sizeof(*r));
	r->status = "ok";
	hist_init(&r->lat);
}

void work_fail(struct bresult *r, const char *fmt, ...)
{
	if (strcmp(r->status, "error") == 0)
		return;
	r->status = "error";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

void work_finish_status(struct bresult *r, int run_rc, bool capped,
			const char *run_error)
{
	if (run_rc < 0)
		work_fail(r, "%s", run_error);
	else if (capped)
		r->status = "capped";
}

struct bconn *work_open_conns(const struct bopts *o, int n, int first,
			      const char *what, struct bresult *r)
{
	struct bconn *cs = calloc((size_t)(n > 0 ? n : 1), sizeof(*cs));
	if (cs == NULL) {
		work_fail(r, "out of memory");
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "natsbench-%s-%d", what, i);
		cs[i].index = first + i;
		if (bconn_open(&cs[i], o->host, o->port, name,
			       WORK_SETUP_TIMEOUT_MS) < 0) {
			work_fail(r, "%s %d: %s", what, i, cs[i].error);
			work_close_conns(cs, i + 1);
			return NULL;
		}
	}
	return cs;
}

void work_close_conns(struct bconn *cs, int n)
{
	if (cs == NULL)
		return;
	for (int i = 0; i < n; i++)
		bconn_close(&cs[i]);
	free(cs);
}

char *work_payload(size_t size)
{
	char *p = malloc(size ? size : 1);
	if (p == NULL)
		return NULL;
	for (size_t i = 0; i < size; i++)
		p[i] = (char)('a' + i % 26);
	return p;
}

void work_inbox(char *out, size_t cap, int index, const char *tag)
{
	snprintf(out, cap, "_INBOX.nb%ld_%d.%s", (long)getpid(), index, tag);
}

/* ----------------------------------------------- pub/sub/fan/queue */

struct core_shared {
	struct brun run;
	uint64_t factor;              /* deliveries per published message */
	uint64_t expected;            /* deliveries that complete the run */
	uint64_t inflight;            /* window in messages; 0 = none */
	atomic_uint_fast64_t sent;    /* whole messages written, all pubs */
	atomic_uint_fast64_t recv;    /* deliveries counted, all subs */
	atomic_int pubs_left;         /* publishers before their last PONG */
	atomic_int subs_left;         /* subscribers before their last PONG */
	atomic_int_fast64_t pub_end_ns;
	atomic_int_fast64_t end_ns;
};

struct core_role {
	struct core_shared *sh;
	uint64_t local;               /* sub: deliveries seen */
	uint64_t reported;            /* part of local/sent already added */
	uint64_t ping_target;         /* PONG count that ends this role */
	bool pinged;
	bool finished;
};

static void core_end(struct core_shared *sh, int64_t now)
{
	int_fast64_t zero = 0;
	if (atomic_compare_exchange_strong(&sh->end_ns, &zero, now))
		brun_stop(&sh->run);
}

/* Opens the publish window as deliveries come in; never shrinks it. */
static void core_pub_window(struct bconn *c, struct core_shared *sh, uint64_t mine)
{
	uint64_t sent = atomic_load(&sh->sent);
	uint64_t done = atomic_load(&sh->recv) / sh->factor;
	uint64_t inflight = sent > done ? sent - done : 0;
	uint64_t room = inflight < sh->inflight ? sh->inflight - inflight : 0;
	uint64_t allow = (mine + room) * c->stream_msg_len;
	if (allow > c->stream_total_bytes)
		allow = c->stream_total_bytes;
	if (allow > c->stream_allowed_bytes)
		c->stream_allowed_bytes = allow;
}

static void core_pub_tick(struct bconn *c, int64_t now)
{
	struct core_role *r = c->role;
	struct core_shared *sh = r->sh;
	uint64_t mine = bconn_stream_sent_msgs(c);
	if (mine > r->reported) {
		atomic_fetch_add(&sh->sent, mine - r->reported);
		r->reported = mine;
	}
	if (sh->inflight > 0 && !bconn_stream_done(c))
		core_pub_window(c, sh, mine);
	if (bconn_stream_done(c) && !r->pinged) {
		bconn_queue_ping(c);
		r->ping_target = c->pings_sent;
		r->pinged = true;
	}
	if (r->pinged && !r->finished && c->pongs_recv >= r->ping_target) {
		r->finished = true;
		if (atomic_fetch_sub(&sh->pubs_left, 1) == 1) {
			atomic_store(&sh->pub_end_ns, now);
			if (sh->expected == 0)
				core_end(sh, now);
		}
	}
}

static void core_sub_msg(struct bconn *c, const struct cp_msg *m)
{
	struct core_role *r = c->role;
	(void)m;
	r->local++;
}

static void core_sub_tick(struct bconn *c, int64_t now)
{
	struct core_role *r = c->role;
	struct core_shared *sh = r->sh;
	if (r->local > r->reported) {
		uint64_t add = r->local - r->reported;
		r->reported = r->local;
		if (atomic_fetch_add(&sh->recv, add) + add >= sh->expected)
			core_end(sh, now);
	}
	/* Publishers are done: what has not arrived by the PONG of this
	 * PING was dropped (the server queues both in order). */
	if (!r->pinged && atomic_load(&sh->pubs_left) == 0) {
		bconn_queue_ping(c);
		r->ping_target = c->pings_sent;
		r->pinged = true;
	}
	if (r->pinged && !r->finished && c->pongs_recv >= r->ping_target) {
		r->finished = true;
		if (atomic_fetch_sub(&sh->subs_left, 1) == 1)
			core_end(sh, now);
	}
}

struct core_plan {
	int pubs, subs;
	bool queue;
};

static struct core_plan core_plan_of(const struct bopts *o)
{
	struct core_plan p = { o->pubs, o->subs, false };
	if (strcmp(o->workload, "pub") == 0)
		p.subs = 0;
	else if (strcmp(o->workload, "queue") == 0)
		p.queue = true;
	return p;
}

static int core_subscribe(struct bconn *subs, int n, bool queue, struct bresult *r)
{
	for (int i = 0; i < n; i++) {
		bconn_queue_sub(&subs[i], WORK_SUBJECT, queue ? "q" : NULL, "1");
		if (bconn_sync(&subs[i], WORK_SETUP_TIMEOUT_MS) < 0) {
			work_fail(r, "subscribe: %s", subs[i].error);
			return -1;
		}
	}
	return 0;
}

static void core_init_shared(struct core_shared *sh, const struct bopts *o,
			     const struct core_plan *p, size_t wire_len)
{
	sh->factor = p->subs == 0 ? 1 : p->queue ? 1 : (uint64_t)p->subs;
	sh->expected = p->subs == 0 ? 0 : o->count * (uint64_t)p->pubs * sh->factor;
	sh->inflight = o->inflight;
	if (sh->inflight == 0) {
		sh->inflight = WORK_INFLIGHT_BYTES / wire_len;
		if (sh->inflight < WORK_INFLIGHT_MIN)
			sh->inflight = WORK_INFLIGHT_MIN;
	}
	if (p->subs == 0)
		sh->inflight = 0;
	atomic_init(&sh->sent, 0);
	atomic_init(&sh->recv, 0);
	atomic_init(&sh->pubs_left, p->pubs);
	atomic_init(&sh->subs_left, p->subs);
	atomic_init(&sh->pub_end_ns, 0);
	atomic_init(&sh->end_ns, 0);
}

static void core_report(const struct core_shared *sh, const struct core_plan *p,
			const struct bopts *o, struct bresult *r)
{
	int64_t start = sh->run.start_ns, now = bconn_now_ns();
	int64_t end = atomic_load(&sh->end_ns);
	int64_t pub_end = atomic_load(&sh->pub_end_ns);
	r->published = atomic_load(&sh->sent);
	r->pub_elapsed_s = (double)((pub_end ? pub_end : now) - start) / 1e9;
	r->elapsed_s = (double)((end ? end : now) - start) / 1e9;
	if (p->subs == 0) {
		r->msgs = r->published;
		return;
	}
	r->msgs = atomic_load(&sh->recv);
	if (r->msgs < sh->expected && atomic_load(&sh->subs_left) == 0)
		r->lost = sh->expected - r->msgs;
	(void)o;
}

/* Runs the timed phase over subs then pubs (so with two threads the
 * subscribers and publishers land on different workers). */
static void core_go(struct core_shared *sh, struct bconn *subs, struct bconn *pubs,
		    const struct core_plan *p, const struct bopts *o, struct bresult *r)
{
	size_t n = (size_t)(p->subs + p->pubs);
	struct bconn **all = calloc(n, sizeof(*all));
	struct core_role *roles = calloc(n, sizeof(*roles));
	if (all == NULL || roles == NULL) {
		work_fail(r, "out of memory");
		goto out;
	}
	for (int i = 0; i < p->subs; i++) {
		all[i] = &subs[i];
		subs[i].on_msg = core_sub_msg;
		subs[i].on_tick = core_sub_tick;
	}
	for (int i = 0; i < p->pubs; i++) {
		all[p->subs + i] = &pubs[i];
		pubs[i].on_tick = core_pub_tick;
		if (sh->inflight == 0)
			bconn_stream_allow_all(&pubs[i]);
	}
	for (size_t i = 0; i < n; i++) {
		roles[i].sh = sh;
		all[i]->role = &roles[i];
	}
	brun_init(&sh->run, all, n, o->threads);
	int rc = brun_go(&sh->run, (int64_t)(o->duration_max_s * 1e9));
	core_report(sh, p, o, r);
	work_finish_status(r, rc, atomic_load(&sh->run.capped), sh->run.error);
out:
	free(all);
	free(roles);
}

int work_core(const struct bopts *o, struct bresult *r)
{
	struct core_plan p = core_plan_of(o);
	struct core_shared *sh = calloc(1, sizeof(*sh));
	char *payload = work_payload(o->size);
	struct bconn *subs = NULL, *pubs = NULL;
	if (sh == NULL || payload == NULL) {
		work_fail(r, "out of memory");
		goto out;
	}
	subs = work_open_conns(o, p.subs, 0, "sub", r);
	if (subs == NULL || core_subscribe(subs, p.subs, p.queue, r) < 0)
		goto out;
	pubs = work_open_conns(o, p.pubs, p.subs, "pub", r);
	if (pubs == NULL)
		goto out;
	for (int i = 0; i < p.pubs; i++) {
		if (bconn_stream_init(&pubs[i], WORK_SUBJECT, payload, o->size,
				      o->count) < 0) {
			work_fail(r, "out of memory");
			goto out;
		}
	}
	core_init_shared(sh, o, &p, pubs[0].stream_msg_len);
	core_go(sh, subs, pubs, &p, o, r);
out:
	work_close_conns(pubs, p.pubs);
	work_close_conns(subs, p.subs);
	free(payload);
	free(sh);
	return strcmp(r->status, "error") == 0 ? -1 : 0;
}
