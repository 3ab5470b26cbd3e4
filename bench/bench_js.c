/*
 * bench_js.c - JetStream workloads over the plain client protocol:
 * publish with acks (sync: one outstanding; async: a window of them), and
 * consumption by pull (explicit acks, pipelined batch requests) and push
 * (ack none) consumers.
 *
 * Every run makes its own stream (deleted before and after), so runs do
 * not see each other's messages.  A server without JetStream is detected
 * by $JS.API.INFO: no responders (503), no reply, or an error reply; the
 * workload then reports "n/a" rather than failing.
 */
#define _GNU_SOURCE      /* memmem */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_run.h"
#include "bench_work.h"

#define JS_STREAM "BENCH"
#define JS_SUBJECT "bench.js.m"
#define JS_API_TIMEOUT_MS 10000
#define JS_PROBE_TIMEOUT_MS 2000
#define JS_PULL_EXPIRES_NS 30000000000LL
#define JS_CTL_INDEX 100000

struct js_shared {
	struct brun run;
	uint64_t expected;              /* acks or messages ending the run */
	atomic_uint_fast64_t done;      /* acks or messages so far */
	atomic_int_fast64_t end_ns;
	const char *payload;
	size_t size;
	uint64_t window;                /* publish: acks outstanding at most */
	uint64_t batch;                 /* pull: messages per request */
	char pull_subject[96];          /* pull: the MSG.NEXT subject */
};

struct js_role {
	struct js_shared *sh;
	char inbox[64];                 /* acks, pulled or pushed messages */
	uint64_t count;                 /* publish: messages to send */
	uint64_t queued;                /* publish: messages sent */
	uint64_t local;                 /* acks or messages received */
	uint64_t reported;              /* part of local added to done */
	uint64_t pending;               /* pull: requested, not delivered */
	int64_t *sent_ns;               /* publish: ring of window send times */
	bool subscribed;
	struct hist hist;               /* publish: time to ack, ns */
};

static void js_report(struct bconn *c, struct js_role *r, int64_t now)
{
	struct js_shared *sh = r->sh;
	if (r->local <= r->reported)
		return;
	uint64_t add = r->local - r->reported;
	r->reported = r->local;
	if (atomic_fetch_add(&sh->done, add) + add >= sh->expected) {
		int_fast64_t zero = 0;
		if (atomic_compare_exchange_strong(&sh->end_ns, &zero, now))
			brun_stop(&sh->run);
	}
	(void)c;
}

static bool js_payload_has_error(const struct cp_msg *m)
{
	return memmem(m->payload + m->header_len, m->total_len - m->header_len,
		      "\"error\"", 7) != NULL;
}

/* ------------------------------------------------------------ publish */

static void js_pub_send(struct bconn *c, struct js_role *r, int64_t now)
{
	struct js_shared *sh = r->sh;
	r->sent_ns[r->queued % sh->window] = now;
	r->queued++;
	bconn_queue_pub(c, JS_SUBJECT, r->inbox, sh->payload, sh->size);
}

static void js_pub_tick(struct bconn *c, int64_t now)
{
	struct js_role *r = c->role;
	js_report(c, r, now);
	while (r->queued < r->count && r->queued - r->local < r->sh->window)
		js_pub_send(c, r, now);
}

static void js_pub_msg(struct bconn *c, const struct cp_msg *m)
{
	struct js_role *r = c->role;
	int status = bconn_msg_status(m);
	if (status != 0 || js_payload_has_error(m)) {
		bconn_fail(c, "publish not acknowledged: status %d: %.*s", status,
			   (int)(m->total_len - m->header_len > 160 ? 160 :
				 m->total_len - m->header_len),
			   m->payload + m->header_len);
		return;
	}
	if (r->local >= r->queued) {
		bconn_fail(c, "unexpected ack");
		return;
	}
	int64_t now = bconn_now_ns();
	hist_record(&r->hist, (uint64_t)(now - r->sent_ns[r->local % r->sh->window]));
	r->local++;
	/* Sync publishing: the next message leaves in this very turn. */
	if (r->sh->window == 1 && r->queued < r->count)
		js_pub_send(c, r, now);
}

/* ------------------------------------------------------------ consume */

/* The Nats-Pending-Messages header of a 408, or all when absent. */
static uint64_t js_status_pending(const struct cp_msg *m, uint64_t all)
{
	static const char key[] = "Nats-Pending-Messages:";
	const char *p = memmem(m->payload, m->header_len, key, sizeof(key) - 1);
	if (p == NULL)
		return all;
	p += sizeof(key) - 1;
	const char *end = m->payload + m->header_len;
	while (p < end && *p == ' ')
		p++;
	uint64_t v = 0;
	while (p < end && *p >= '0' && *p <= '9')
		v = v * 10 + (uint64_t)(*p++ - '0');
	return v < all ? v : all;
}

static void js_pull_tick(struct bconn *c, int64_t now)
{
	struct js_role *r = c->role;
	struct js_shared *sh = r->sh;
	js_report(c, r, now);
	if (!r->subscribed) {
		bconn_queue_sub(c, r->inbox, NULL, "1");
		r->subscribed = true;
	}
	/* Two batches in flight: the next request is there before the
	 * current one runs dry. */
	if (r->pending <= sh->batch && atomic_load(&sh->done) < sh->expected) {
		char body[96];
		snprintf(body, sizeof(body), "{\"batch\":%llu,\"expires\":%lld}",
			 (unsigned long long)sh->batch, JS_PULL_EXPIRES_NS);
		bconn_queue_pub(c, sh->pull_subject, r->inbox, body, strlen(body));
		r->pending += sh->batch;
	}
}

static void js_pull_msg(struct bconn *c, const struct cp_msg *m)
{
	struct js_role *r = c->role;
	int status = bconn_msg_status(m);
	if (status == 100)
		return;
	if (status == 408) {
		r->pending -= js_status_pending(m, r->pending);
		return;
	}
	if (status != 0) {
		bconn_fail(c, "pull request failed: %.*s", (int)m->header_len,
			   m->payload);
		return;
	}
	r->local++;
	if (r->pending > 0)
		r->pending--;
	if (m->reply.len > 0)
		bconn_queue_pub_raw(c, m->reply.ptr, m->reply.len, NULL, 0, "", 0);
}

static void js_push_tick(struct bconn *c, int64_t now)
{
	struct js_role *r = c->role;
	js_report(c, r, now);
	if (!r->subscribed) {
		bconn_queue_sub(c, r->inbox, NULL, "1");
		r->subscribed = true;
	}
}

static void js_push_msg(struct bconn *c, const struct cp_msg *m)
{
	struct js_role *r = c->role;
	int status = bconn_msg_status(m);
	if (status == 100) {
		/* Flow control asks for an empty reply; heartbeats have none. */
		if (m->reply.len > 0)
			bconn_queue_pub_raw(c, m->reply.ptr, m->reply.len, NULL, 0, "", 0);
		return;
	}
	if (status != 0) {
		bconn_fail(c, "push delivery status %d", status);
		return;
	}
	r->local++;
}

/* ---------------------------------------------------------- API calls */

/* A JetStream API request that must succeed (no error in the reply). */
static int js_api(struct bconn *ctl, const char *subject, const char *body,
		  struct bresult *r, const char *what)
{
	struct buf reply;
	buf_init(&reply, &ctl->mem);
	int status = 0;
	int rc = bconn_request(ctl, subject, body, &reply, &status, JS_API_TIMEOUT_MS);
	const char *text = reply.data ? reply.data : "";
	if (rc < 0) {
		work_fail(r, "%s: %s", what, ctl->error);
	} else if (status != 0) {
		work_fail(r, "%s: status %d", what, status);
		rc = -1;
	} else if (strstr(text, "\"error\"") != NULL) {
		work_fail(r, "%s: %.200s", what, text);
		rc = -1;
	}
	buf_free(&reply);
	return rc;
}

/* Sets r to "n/a" and returns -1 when the server has no JetStream. */
static int js_probe(struct bconn *ctl, struct bresult *r)
{
	struct buf reply;
	buf_init(&reply, &ctl->mem);
	int status = 0;
	int rc = bconn_request(ctl, "$JS.API.INFO", "", &reply, &status,
			       JS_PROBE_TIMEOUT_MS);
	const char *why = NULL;
	if (rc < 0)
		why = "no reply to $JS.API.INFO";
	else if (status == 503)
		why = "no responders for $JS.API.INFO";
	else if (status != 0 || (reply.data && strstr(reply.data, "\"error\"")))
		why = "$JS.API.INFO answered with an error";
	buf_free(&reply);
	if (why == NULL)
		return 0;
	r->status = "n/a";
	snprintf(r->error, sizeof(r->error), "JetStream not available: %s", why);
	return -1;
}

static int js_stream_create(struct bconn *ctl, const struct bopts *o,
			    struct bresult *r)
{
	struct buf ignored;
	buf_init(&ignored, &ctl->mem);
	int status;
	/* A stream left by an earlier run against the same server. */
	if (bconn_request(ctl, "$JS.API.STREAM.DELETE." JS_STREAM, "", &ignored,
			  &status, JS_API_TIMEOUT_MS) < 0) {
		buf_free(&ignored);
		work_fail(r, "stream delete: %s", ctl->error);
		return -1;
	}
	buf_free(&ignored);
	char body[256];
	snprintf(body, sizeof(body),
		 "{\"name\":\"" JS_STREAM "\",\"subjects\":[\"bench.js.>\"],"
		 "\"storage\":\"%s\",\"num_replicas\":1}", o->storage);
	return js_api(ctl, "$JS.API.STREAM.CREATE." JS_STREAM, body, r,
		      "stream create");
}

static int js_consumers_create(struct bconn *ctl, const struct bopts *o,
			       struct bconn *cs, struct bresult *r)
{
	char subject[128], body[512];
	if (strcmp(o->workload, "js-pull") == 0) {
		uint64_t ack_pending = o->batch * 4 * (uint64_t)o->subs;
		snprintf(body, sizeof(body),
			 "{\"stream_name\":\"" JS_STREAM "\",\"config\":{"
			 "\"durable_name\":\"PULL\",\"deliver_policy\":\"all\","
			 "\"ack_policy\":\"explicit\",\"ack_wait\":60000000000,"
			 "\"max_ack_pending\":%llu}}",
			 (unsigned long long)(ack_pending < 1000 ? 1000 : ack_pending));
		return js_api(ctl, "$JS.API.CONSUMER.CREATE." JS_STREAM ".PULL", body,
			      r, "pull consumer create");
	}
	for (int i = 0; i < o->subs; i++) {
		struct js_role *role = cs[i].role;
		snprintf(subject, sizeof(subject),
			 "$JS.API.CONSUMER.CREATE." JS_STREAM ".PUSH%d", i);
		snprintf(body, sizeof(body),
			 "{\"stream_name\":\"" JS_STREAM "\",\"config\":{"
			 "\"durable_name\":\"PUSH%d\",\"deliver_subject\":\"%s\","
			 "\"deliver_policy\":\"all\",\"ack_policy\":\"none\"}}",
			 i, role->inbox);
		if (js_api(ctl, subject, body, r, "push consumer create") < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------- phases */

/* Timed phase over n connections whose roles are set up. */
static void js_go(struct js_shared *sh, struct bconn *cs, int n,
		  const struct bopts *o, struct bresult *r)
{
	struct bconn **all = calloc((size_t)n, sizeof(*all));
	if (all == NULL) {
		work_fail(r, "out of memory");
		return;
	}
	for (int i = 0; i < n; i++)
		all[i] = &cs[i];
	brun_init(&sh->run, all, (size_t)n, o->threads);
	int rc = brun_go(&sh->run, (int64_t)(o->duration_max_s * 1e9));
	int64_t end = atomic_load(&sh->end_ns);
	r->elapsed_s = (double)((end ? end : bconn_now_ns()) - sh->run.start_ns) / 1e9;
	r->pub_elapsed_s = r->elapsed_s;
	r->msgs = atomic_load(&sh->done);
	work_finish_status(r, rc, atomic_load(&sh->run.capped), sh->run.error);
	free(all);
}

static void js_roles_free(struct js_role *roles, int n)
{
	for (int i = 0; roles != NULL && i < n; i++)
		free(roles[i].sent_ns);
	free(roles);
}

/* Publishes count messages from each of npubs connections with at most
 * window unacknowledged; timed, with time-to-ack latencies. */
static int js_publish(const struct bopts *o, int npubs, uint64_t window,
		      const char *payload, struct bresult *r)
{
	struct js_shared sh = { .payload = payload, .size = o->size, .window = window };
	sh.expected = o->count * (uint64_t)npubs;
	atomic_init(&sh.done, 0);
	atomic_init(&sh.end_ns, 0);
	struct js_role *roles = calloc((size_t)npubs, sizeof(*roles));
	struct bconn *cs = roles ? work_open_conns(o, npubs, 0, "jspub", r) : NULL;
	for (int i = 0; cs != NULL && i < npubs; i++) {
		struct js_role *role = &roles[i];
		role->sh = &sh;
		role->count = o->count;
		role->sent_ns = calloc(window, sizeof(*role->sent_ns));
		hist_init(&role->hist);
		work_inbox(role->inbox, sizeof(role->inbox), cs[i].index, "ack");
		cs[i].role = role;
		cs[i].on_msg = js_pub_msg;
		cs[i].on_tick = js_pub_tick;
		bconn_queue_sub(&cs[i], role->inbox, NULL, "1");
		if (role->sent_ns == NULL || bconn_sync(&cs[i], WORK_SETUP_TIMEOUT_MS) < 0) {
			work_fail(r, "publisher setup: %s", cs[i].error);
			break;
		}
	}
	if (cs != NULL && strcmp(r->status, "error") != 0) {
		js_go(&sh, cs, npubs, o, r);
		r->published = r->msgs;
		for (int i = 0; i < npubs; i++)
			hist_merge(&r->lat, &roles[i].hist);
	}
	if (roles == NULL)
		work_fail(r, "out of memory");
	work_close_conns(cs, npubs);
	js_roles_free(roles, npubs);
	return strcmp(r->status, "error") == 0 ? -1 : 0;
}

static int js_consume(struct bconn *ctl, const struct bopts *o, struct bresult *r)
{
	bool pull = strcmp(o->workload, "js-pull") == 0;
	struct js_shared sh = { .batch = o->batch };
	sh.expected = pull ? o->count : o->count * (uint64_t)o->subs;
	snprintf(sh.pull_subject, sizeof(sh.pull_subject),
		 "$JS.API.CONSUMER.MSG.NEXT." JS_STREAM ".PULL");
	atomic_init(&sh.done, 0);
	atomic_init(&sh.end_ns, 0);
	struct js_role *roles = calloc((size_t)o->subs, sizeof(*roles));
	struct bconn *cs = roles ? work_open_conns(o, o->subs, 0, "consumer", r) : NULL;
	for (int i = 0; cs != NULL && i < o->subs; i++) {
		roles[i].sh = &sh;
		work_inbox(roles[i].inbox, sizeof(roles[i].inbox), cs[i].index,
			   pull ? "pull" : "push");
		cs[i].role = &roles[i];
		cs[i].on_msg = pull ? js_pull_msg : js_push_msg;
		cs[i].on_tick = pull ? js_pull_tick : js_push_tick;
	}
	/* Push consumers start delivering when the timed phase subscribes
	 * to their deliver subjects. */
	if (cs != NULL && js_consumers_create(ctl, o, cs, r) == 0)
		js_go(&sh, cs, o->subs, o, r);
	if (roles == NULL)
		work_fail(r, "out of memory");
	work_close_conns(cs, o->subs);
	js_roles_free(roles, o->subs);
	return strcmp(r->status, "error") == 0 ? -1 : 0;
}

/* Loads the stream for a consumption run (untimed, window 1000). */
static int js_fill(const struct bopts *o, const char *payload, struct bresult *r)
{
	struct bresult *fill = malloc(sizeof(*fill));
	if (fill == NULL) {
		work_fail(r, "out of memory");
		return -1;
	}
	work_result_init(fill);
	int rc = js_publish(o, 1, 1000, payload, fill);
	if (rc == 0 && strcmp(fill->status, "ok") != 0)
		rc = -1;
	if (rc < 0)
		work_fail(r, "filling the stream: %s", fill->error[0] ? fill->error :
			  fill->status);
	free(fill);
	return rc;
}

int work_js(const struct bopts *o, struct bresult *r)
{
	char *payload = work_payload(o->size);
	struct bconn *ctl = payload ? work_open_conns(o, 1, JS_CTL_INDEX, "ctl", r) : NULL;
	if (payload == NULL)
		work_fail(r, "out of memory");
	if (ctl == NULL || js_probe(ctl, r) < 0 || js_stream_create(ctl, o, r) < 0)
		goto out;
	if (strcmp(o->workload, "js-pub-sync") == 0)
		js_publish(o, o->pubs, 1, payload, r);
	else if (strcmp(o->workload, "js-pub-async") == 0)
		js_publish(o, o->pubs, o->window, payload, r);
	else if (js_fill(o, payload, r) == 0)
		js_consume(ctl, o, r);
	if (!ctl->failed) {
		struct bresult *ignored = malloc(sizeof(*ignored));
		if (ignored != NULL) {
			work_result_init(ignored);
			js_api(ctl, "$JS.API.STREAM.DELETE." JS_STREAM, "", ignored,
			       "stream delete");
		}
		free(ignored);
	}
out:
	work_close_conns(ctl, 1);
	free(payload);
	return strcmp(r->status, "error") == 0 ? -1 : 0;
}
