/*
 * bench_reqrep.c - request/reply: each requester keeps exactly one
 * request outstanding (closed loop) and records the time from writing it
 * to reading its reply; responders (a queue group, so each request is
 * answered once) reply with a payload of the same size.
 *
 * Latency includes the tool's own turn, identical for both servers; the
 * next request goes out in the same turn that read the reply.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_run.h"
#include "bench_work.h"

#define RR_SUBJECT "bench.req"

struct rr_shared {
	struct brun run;
	uint64_t expected;              /* replies that complete the run */
	atomic_uint_fast64_t replies;   /* replies received, all requesters */
	atomic_int_fast64_t end_ns;
	const char *payload;
	size_t size;
};

struct rr_role {
	struct rr_shared *sh;
	char inbox[64];
	uint64_t count;                 /* requests this requester makes */
	uint64_t sent;
	int64_t sent_ns;                /* when the outstanding one left */
	bool outstanding;
	struct hist hist;               /* nanoseconds */
};

static void rr_send(struct bconn *c, struct rr_role *r, int64_t now)
{
	bconn_queue_pub(c, RR_SUBJECT, r->inbox, r->sh->payload, r->sh->size);
	r->sent++;
	r->sent_ns = now;
	r->outstanding = true;
}

static void rr_requester_tick(struct bconn *c, int64_t now)
{
	struct rr_role *r = c->role;
	if (!r->outstanding && r->sent < r->count)
		rr_send(c, r, now);
}

static void rr_requester_msg(struct bconn *c, const struct cp_msg *m)
{
	struct rr_role *r = c->role;
	struct rr_shared *sh = r->sh;
	int64_t now = bconn_now_ns();
	if (!r->outstanding) {
		bconn_fail(c, "reply without a request on %.*s", (int)m->subject.len,
			   m->subject.ptr);
		return;
	}
	if (bconn_msg_status(m) != 0) {
		bconn_fail(c, "request failed with status %d", bconn_msg_status(m));
		return;
	}
	hist_record(&r->hist, (uint64_t)(now - r->sent_ns));
	r->outstanding = false;
	if (atomic_fetch_add(&sh->replies, 1) + 1 >= sh->expected) {
		int_fast64_t zero = 0;
		if (atomic_compare_exchange_strong(&sh->end_ns, &zero, now))
			brun_stop(&sh->run);
	}
	if (r->sent < r->count)
		rr_send(c, r, now);
}

static void rr_responder_msg(struct bconn *c, const struct cp_msg *m)
{
	struct rr_role *r = c->role;
	if (m->reply.len == 0)
		return;
	bconn_queue_pub_raw(c, m->reply.ptr, m->reply.len, NULL, 0, r->sh->payload,
			    r->sh->size);
}

static int rr_setup(struct bconn *resp, int nresp, struct bconn *req, int nreq,
		    struct rr_role *roles, struct bresult *r)
{
	for (int i = 0; i < nresp; i++) {
		resp[i].on_msg = rr_responder_msg;
		resp[i].role = &roles[i];
		bconn_queue_sub(&resp[i], RR_SUBJECT, "responders", "1");
		if (bconn_sync(&resp[i], WORK_SETUP_TIMEOUT_MS) < 0) {
			work_fail(r, "responder: %s", resp[i].error);
			return -1;
		}
	}
	for (int i = 0; i < nreq; i++) {
		struct rr_role *role = &roles[nresp + i];
		work_inbox(role->inbox, sizeof(role->inbox), req[i].index, "rr");
		req[i].on_msg = rr_requester_msg;
		req[i].on_tick = rr_requester_tick;
		req[i].role = role;
		bconn_queue_sub(&req[i], role->inbox, NULL, "1");
		if (bconn_sync(&req[i], WORK_SETUP_TIMEOUT_MS) < 0) {
			work_fail(r, "requester: %s", req[i].error);
			return -1;
		}
	}
	return 0;
}

static void rr_go(struct rr_shared *sh, struct bconn *resp, struct bconn *req,
		  struct rr_role *roles, const struct bopts *o, struct bresult *r)
{
	size_t n = (size_t)(o->subs + o->pubs);
	struct bconn **all = calloc(n, sizeof(*all));
	if (all == NULL) {
		work_fail(r, "out of memory");
		return;
	}
	for (int i = 0; i < o->subs; i++)
		all[i] = &resp[i];
	for (int i = 0; i < o->pubs; i++)
		all[o->subs + i] = &req[i];
	brun_init(&sh->run, all, n, o->threads);
	int rc = brun_go(&sh->run, (int64_t)(o->duration_max_s * 1e9));
	int64_t end = atomic_load(&sh->end_ns);
	r->elapsed_s = (double)((end ? end : bconn_now_ns()) - sh->run.start_ns) / 1e9;
	r->msgs = atomic_load(&sh->replies);
	for (int i = 0; i < o->pubs; i++) {
		hist_merge(&r->lat, &roles[o->subs + i].hist);
		r->published += roles[o->subs + i].sent;
	}
	r->pub_elapsed_s = r->elapsed_s;
	work_finish_status(r, rc, atomic_load(&sh->run.capped), sh->run.error);
	free(all);
}

int work_reqrep(const struct bopts *o, struct bresult *r)
{
	struct rr_shared *sh = calloc(1, sizeof(*sh));
	struct rr_role *roles = calloc((size_t)(o->pubs + o->subs), sizeof(*roles));
	char *payload = work_payload(o->size);
	struct bconn *resp = NULL, *req = NULL;
	if (sh == NULL || roles == NULL || payload == NULL) {
		work_fail(r, "out of memory");
		goto out;
	}
	sh->expected = o->count * (uint64_t)o->pubs;
	sh->payload = payload;
	sh->size = o->size;
	atomic_init(&sh->replies, 0);
	atomic_init(&sh->end_ns, 0);
	for (int i = 0; i < o->pubs + o->subs; i++) {
		roles[i].sh = sh;
		roles[i].count = o->count;
		hist_init(&roles[i].hist);
	}
	resp = work_open_conns(o, o->subs, 0, "responder", r);
	if (resp == NULL)
		goto out;
	req = work_open_conns(o, o->pubs, o->subs, "requester", r);
	if (req == NULL || rr_setup(resp, o->subs, req, o->pubs, roles, r) < 0)
		goto out;
	rr_go(sh, resp, req, roles, o, r);
out:
	work_close_conns(req, o->pubs);
	work_close_conns(resp, o->subs);
	free(payload);
	free(roles);
	free(sh);
	return strcmp(r->status, "error") == 0 ? -1 : 0;
}
