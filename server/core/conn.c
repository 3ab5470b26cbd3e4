/*
 * conn.c - a client connection: reading and parsing, the protocol
 * operations (CONNECT, PUB/HPUB, SUB, UNSUB, PING/PONG), message delivery,
 * buffered output, liveness (auth timeout, PINGs, write deadline) and
 * slow-consumer handling, following nats-server 2.9.10's client.go.
 *
 * Output: every byte for a connection is copied into its chain of output
 * blocks; the connection joins the server's flush list and is written with
 * one sendv at the end of the loop turn.  What the socket does not take
 * stays queued and the connection watches for writability.  A delivered
 * message is copied in one go: its line from the parts the delivery loop
 * renders once per message (struct cp_msg_parts), then body and CRLF.
 *
 * Every subscription inserted or removed is reported to leaf.c
 * (leaf_interest_added/removed) so leaf links hear about the interest.
 *
 * Invariants: a closed connection has no subscriptions in any sublist, no
 * socket and no armed timers; out_pending equals the sum of unsent bytes of
 * its blocks; a struct sub is freed only at turn end (delivery may still be
 * holding a match result that points to it).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "../lib/assert.h"
#include "../lib/json.h"
#include "../lib/timefmt.h"
#include "internal.h"
#include "leaf.h"
#include "nkey.h"
#include "server_int.h"
#include "subject.h"

#define ERR_UNKNOWN_OP "Unknown Protocol Operation"
#define RTT_MEASUREMENT_INTERVAL_NS (3600LL * 1000000000LL)
/* A MSG line is queued as head, sid and tail (see struct cp_msg_parts). */
#define CONN_LINE_PIECES 3

static void conn_io(void *arg, int sock, unsigned events);

/* ------------------------------------------------------------- output */

static void conn_schedule_flush(struct conn *c)
{
	if (c->in_flush_list || c->closed)
		return;
	c->in_flush_list = true;
	c->flush_next = c->srv->flush_list;
	c->srv->flush_list = c;
}

static void conn_slow_consumer_pending(struct conn *c)
{
	struct server *s = c->srv;
	s->stats.slow_consumers++;
	LOGI(&s->log, "%s:%d - cid:%llu - Slow Consumer Detected: "
	     "MaxPending of %lld Exceeded", c->ip, c->port,
	     (unsigned long long)c->cid, (long long)s->opts->max_pending);
	conn_close(c, CLOSE_SLOW_PENDING);
}

/* Whether len more bytes would pass max_pending; closes the connection
 * as a slow consumer when they would not. */
static bool conn_pending_ok(struct conn *c, size_t len)
{
	if (c->out_pending + len > (size_t)c->srv->opts->max_pending &&
	    c->srv->opts->max_pending > 0) {
		conn_slow_consumer_pending(c);
		return false;
	}
	return true;
}

/* Appends len bytes to the block chain, taking new blocks as needed, with
 * no limit check.  False when no block could be had (then closed). */
static bool conn_append(struct conn *c, const char *p, size_t len)
{
	while (len > 0) {
		struct outblk *b = c->out_tail;
		if (b == NULL || b->end == OUTBLK_SIZE) {
			b = server_blk_get(c->srv);
			if (b == NULL) {
				conn_close(c, CLOSE_WRITE_ERROR);
				return false;
			}
			if (c->out_tail != NULL)
				c->out_tail->next = b;
			else
				c->out_head = b;
			c->out_tail = b;
		}
		size_t n = MIN(len, (size_t)(OUTBLK_SIZE - b->end));
		memcpy(b->data + b->end, p, n);
		b->end += (uint32_t)n;
		p += n;
		len -= n;
		c->out_pending += n;
	}
	return true;
}

/* Queues len bytes.  Returns false when the connection is (now) closed. */
bool conn_queue(struct conn *c, const void *data, size_t len)
{
	if (c->closed || !conn_pending_ok(c, len))
		return false;
	if (!conn_append(c, data, len))
		return false;
	conn_schedule_flush(c);
	return true;
}

/* Queues one message: its control line in CONN_LINE_PIECES pieces (some
 * may be empty), then size bytes of body and the CRLF, checked against
 * the limits once.  When the tail block has room, which is the common
 * case, everything is copied straight into it.  False when the
 * connection is (now) closed. */
static bool conn_queue_msg(struct conn *c,
			   const struct cp_slice line[CONN_LINE_PIECES],
			   const char *body, size_t size)
{
	const size_t nline = CONN_LINE_PIECES;
	size_t total = size + 2;
	for (size_t i = 0; i < nline; i++)
		total += line[i].len;
	if (c->closed || !conn_pending_ok(c, total))
		return false;
	struct outblk *b = c->out_tail;
	if (b != NULL && OUTBLK_SIZE - b->end >= total) {
		char *d = b->data + b->end;
		for (size_t i = 0; i < nline; i++) {
			memcpy(d, line[i].ptr, line[i].len);
			d += line[i].len;
		}
		if (size > 0) /* body may be NULL then */
			memcpy(d, body, size);
		d[size] = '\r';
		d[size + 1] = '\n';
		b->end += (uint32_t)total;
		c->out_pending += total;
	} else {
		for (size_t i = 0; i < nline; i++)
			if (!conn_append(c, line[i].ptr, line[i].len))
				return false;
		if (!conn_append(c, body, size) || !conn_append(c, "\r\n", 2))
			return false;
	}
	conn_schedule_flush(c);
	return true;
}

/* -ERR 'text'; the caller decides whether to close. */
void conn_send_err(struct conn *c, const char *text)
{
	struct buf *b = &c->srv->scratch;
	buf_reset(b);
	buf_appendf(b, "-ERR '%s'\r\n", text);
	conn_queue(c, b->data, b->len);
	LOGD(&c->srv->log, "%s:%d - cid:%llu - Client error: %s", c->ip,
	     c->port, (unsigned long long)c->cid, text);
}

static void conn_send_ok(struct conn *c)
{
	conn_queue(c, "+OK\r\n", 5);
}

static void deadline_arm(struct conn *c, int64_t now)
{
	c->stall_since_ns = now;
	struct env *e = c->srv->env;
	e->timer_arm(e, c->deadline_timer, now + c->srv->opts->write_deadline_ns);
}

void conn_flush(struct conn *c)
{
	struct server *s = c->srv;
	struct env *e = s->env;
	while (c->out_pending > 0 && !c->closed) {
		struct iovec iov[64];
		int n = 0;
		for (struct outblk *b = c->out_head; b != NULL && n < 64; b = b->next)
			iov[n++] = (struct iovec){ b->data + b->start,
						   b->end - b->start };
		long w = e->sock_sendv(e, c->sock, iov, n);
		if (w == ENV_EAGAIN)
			break;
		if (w < 0) {
			conn_close(c, CLOSE_WRITE_ERROR);
			return;
		}
		size_t left = (size_t)w;
		c->out_pending -= left;
		while (left > 0) {
			struct outblk *b = c->out_head;
			size_t avail = b->end - b->start;
			if (left < avail) {
				b->start += (uint32_t)left;
				break;
			}
			left -= avail;
			c->out_head = b->next;
			if (c->out_head == NULL)
				c->out_tail = NULL;
			server_blk_put(s, b);
		}
		if (w > 0 && c->out_pending > 0)
			deadline_arm(c, env_now_mono_ns(e));
	}
	if (c->closed)
		return;
	bool pending = c->out_pending > 0;
	if (pending && c->stall_since_ns == 0)
		deadline_arm(c, env_now_mono_ns(e));
	if (!pending && c->stall_since_ns != 0) {
		c->stall_since_ns = 0;
		e->timer_disarm(e, c->deadline_timer);
	}
	if (pending != c->want_write) {
		c->want_write = pending;
		e->sock_watch(e, c->sock, ENV_EV_READ | (pending ? ENV_EV_WRITE : 0),
			      conn_io, c);
	}
}

static void conn_deadline_fired(void *arg, int timer)
{
	struct conn *c = arg;
	UNUSED(timer);
	if (c->closed || c->out_pending == 0)
		return;
	struct server *s = c->srv;
	s->stats.slow_consumers++;
	char dl[TIMEFMT_MAX];
	timefmt_go_duration(s->opts->write_deadline_ns, dl);
	size_t chunks = 0;
	for (const struct outblk *b = c->out_head; b != NULL; b = b->next)
		chunks++;
	LOGI(&s->log, "%s:%d - cid:%llu - Slow Consumer Detected: WriteDeadline "
	     "of %s exceeded with %zu chunks of %zu total bytes.", c->ip, c->port,
	     (unsigned long long)c->cid, dl, chunks, c->out_pending);
	conn_close(c, CLOSE_SLOW_DEADLINE);
}

/* ------------------------------------------------------------- liveness */

static void conn_ping_fired(void *arg, int timer);

static void conn_arm_ping(struct conn *c, int64_t delay_ns)
{
	struct env *e = c->srv->env;
	e->timer_arm(e, c->ping_timer, env_now_mono_ns(e) + delay_ns);
}

/* After CONNECT: min(ping_interval, 2 s) plus up to 20 % random. */
static void conn_arm_first_ping(struct conn *c)
{
	int64_t d = c->srv->opts->ping_interval_ns;
	if (d > 2000000000LL)
		d = 2000000000LL;
	if (d / 5 > 0)
		d += (int64_t)prng_below(&c->srv->prng, (uint64_t)(d / 5));
	conn_arm_ping(c, d);
}

static void conn_ping_fired(void *arg, int timer)
{
	struct conn *c = arg;
	UNUSED(timer);
	if (c->closed)
		return;
	struct server *s = c->srv;
	int64_t now = env_now_mono_ns(s->env);
	int64_t interval = s->opts->ping_interval_ns;
	/* Like the reference: activity or a PING from the peer within the
	 * interval makes ours unnecessary, except that a round-trip time is
	 * measured at least once an hour (so the first timer always pings). */
	bool need_rtt = c->rtt_ping_ns == 0 ||
			now - c->rtt_ping_ns > RTT_MEASUREMENT_INTERVAL_NS;
	bool send = need_rtt || (now - c->last_activity_ns >= interval &&
				 now - c->last_ping_in_ns >= interval);
	if (send) {
		if (c->pings_out + 1 > s->opts->ping_max) {
			LOGD(&s->log, "%s:%d - cid:%llu - Stale Client Connection "
			     "- Closing", c->ip, c->port, (unsigned long long)c->cid);
			conn_send_err(c, "Stale Connection");
			conn_close(c, CLOSE_STALE);
			return;
		}
		c->pings_out++;
		c->rtt_ping_ns = now;
		conn_queue(c, "PING\r\n", 6);
	}
	conn_arm_ping(c, interval);
}

static void conn_auth_fired(struct conn *c)
{
	conn_send_err(c, "Authentication Timeout");
	conn_close(c, CLOSE_AUTH_TIMEOUT);
}

static void conn_auth_timer_fired(void *arg, int timer)
{
	struct conn *c = arg;
	UNUSED(timer);
	if (!c->closed && !c->connected)
		conn_auth_fired(c);
}

/* ------------------------------------------------------- subscriptions */

static void sub_free(struct server *s, struct sub *sub)
{
	mem_free(&s->mem, sub->subject);
	if (sub->parent == NULL) {
		/* A shadow borrows its parent's sid and queue. */
		mem_free(&s->mem, sub->queue);
		mem_free(&s->mem, sub->sid);
	}
	mem_free(&s->mem, sub->shadows);
	mem_free(&s->mem, sub);
}

/* Removes sub from the account and the connection; the memory is freed at
 * turn end because a match result may still point to it. */
void conn_unsubscribe(struct conn *c, struct sub *sub)
{
	struct server *s = c->srv;
	int rc = sublist_remove(c->acc->sl, sub);
	ASSERT(rc == SUBLIST_OK);
	leaf_interest_removed(s, c->acc, sub);
	void *v = hmap_del(&c->subs, sub->sid, sub->sid_len);
	ASSERT(v == sub);
	c->nsubs--;
	s->stats.subscriptions--;
	if (sub->nshadows > 0)
		account_remove_shadows(s, sub);
	deliver_defer_free(s, sub);
	account_sub_removed(s, c->acc, sub->subject, sub->subject_len);
}

/* ------------------------------------------------------------ delivery */

/* The delivery loop's line parts for m when they suit this delivery
 * (same subject, same MSG or HMSG), rendered on first use; else NULL. */
static const struct cp_msg_parts *conn_msg_parts(struct server *s,
						 const struct pubmsg *m,
						 const char *subject,
						 size_t subject_len, bool hdr,
						 size_t size)
{
	struct cp_msg_parts *mp = s->msg_parts;
	if (mp == NULL || s->msg_parts_for != m)
		return NULL;
	if (!mp->rendered)
		cp_msg_parts_render(mp, subject, subject_len, m->reply,
				    m->reply_len, hdr, m->header_len, size);
	if (!mp->fits || mp->subject != subject ||
	    mp->subject_len != subject_len || mp->has_headers != hdr)
		return NULL;
	return mp;
}

/* The MSG/HMSG line of one delivery as pieces in out: the message's
 * parts around the sid, or else one line encoded into line (cap bytes)
 * or, when it is longer, into the server's scratch buffer, and two empty
 * pieces.  False when memory ran out. */
static bool conn_msg_line(struct conn *c, const struct sub *owner,
			  const char *subject, size_t subject_len,
			  const struct pubmsg *m, bool hdr, size_t size,
			  char *line, size_t cap,
			  struct cp_slice out[CONN_LINE_PIECES])
{
	struct server *s = c->srv;
	const struct cp_msg_parts *mp = conn_msg_parts(s, m, subject,
						       subject_len, hdr, size);
	size_t sid_len = owner->sid_len;
	if (mp != NULL && sid_len > 0) {
		out[0] = (struct cp_slice){ mp->head, mp->head_len };
		out[1] = (struct cp_slice){ owner->sid, sid_len };
		out[2] = (struct cp_slice){ mp->tail, mp->tail_len };
		return true;
	}
	size_t need = subject_len + sid_len + m->reply_len + CP_LINE_OVERHEAD;
	if (need > cap) {
		buf_reset(&s->scratch);
		if (!buf_reserve(&s->scratch, need))
			return false;
		line = s->scratch.data;
		cap = s->scratch.cap;
	}
	size_t n = cp_encode_msg_line(line, cap, subject, subject_len,
				      owner->sid, sid_len, m->reply,
				      m->reply_len, hdr, m->header_len, size);
	ASSERT(n > 0);
	out[0] = (struct cp_slice){ line, n };
	out[1] = out[2] = (struct cp_slice){ line + n, 0 };
	return true;
}

bool conn_deliver(struct conn *pub, struct sub *sub, const char *subject,
		  size_t subject_len, const struct pubmsg *m)
{
	struct sub *owner = sub->parent != NULL ? sub->parent : sub;
	struct conn *c = owner->conn;
	if (c->closed || (c == pub && !c->echo) || owner->removed)
		return false;
	if (owner->max_msgs > 0 && owner->delivered >= owner->max_msgs)
		return false;
	if (c->perms != NULL && perms_deliver_denied(c->perms, subject, subject_len))
		return false;
	owner->delivered++;
	bool hdr = m->header_len > 0 && c->headers;
	const char *body = m->data;
	size_t size = m->total_len;
	if (m->header_len > 0 && !hdr) {
		body += m->header_len;
		size -= m->header_len;
	}
	char buf[CP_LINE_OVERHEAD + 1024];
	struct cp_slice line[CONN_LINE_PIECES];
	if (!conn_msg_line(c, owner, subject, subject_len, m, hdr, size, buf,
			   sizeof(buf), line) ||
	    !conn_queue_msg(c, line, body, size))
		return false;
	c->out_msgs++;
	c->out_bytes += size;
	c->acc->out_msgs++;
	c->acc->out_bytes += size;
	c->srv->stats.out_msgs++;
	c->srv->stats.out_bytes += size;
	if (c->perms != NULL && m->reply_len > 0)
		perms_track_reply(c->perms, m->reply, m->reply_len,
				  env_now_mono_ns(c->srv->env));
	if (owner->max_msgs > 0 && owner->delivered >= owner->max_msgs)
		conn_unsubscribe(c, owner);
	return true;
}

/* The publisher's first plain subscription matching the reply subject
 * (the reference's subForReply), for the no-responders status. */
static void conn_send_no_responders(struct conn *c, const struct pubmsg *m)
{
	struct sublist_result *r = sublist_match(c->acc->sl, m->reply,
						 m->reply_len);
	if (r == NULL)
		return;
	struct sub *sub = NULL;
	for (size_t i = 0; i < r->npsubs && sub == NULL; i++)
		if (r->psubs[i]->conn == c && r->psubs[i]->parent == NULL)
			sub = r->psubs[i];
	sublist_result_release(c->acc->sl, r);
	if (sub == NULL)
		return;
	struct buf b;
	buf_init(&b, &c->srv->mem);
	buf_append(&b, "HMSG ", 5);
	buf_append(&b, m->reply, m->reply_len);
	buf_append_char(&b, ' ');
	buf_append(&b, sub->sid, sub->sid_len);
	buf_append_str(&b, " 16 16\r\nNATS/1.0 503\r\n\r\n\r\n");
	if (!b.oom)
		conn_queue(c, b.data, b.len);
	buf_free(&b);
}

/* ---------------------------------------------------------- operations */

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len > n && memcmp(s, prefix, n) == 0;
}

static bool reply_is_reserved(const char *r, size_t len)
{
	return has_prefix(r, len, "_R_.") || has_prefix(r, len, "$JS.ACK.") ||
	       has_prefix(r, len, "_GR_.");
}

static void conn_pub_violation(struct conn *c, const char *what,
			       const char *subj, size_t len)
{
	struct buf tmp;
	buf_init(&tmp, &c->srv->mem);
	buf_appendf(&tmp, "Permissions Violation for Publish %s \"%.*s\"", what,
		    (int)len, subj);
	conn_send_err(c, tmp.oom ? "Permissions Violation" : tmp.data);
	buf_free(&tmp);
}

/* Checks and routes a client's message (subject already mapped). */
static void conn_publish(struct conn *c, const struct pubmsg *pm)
{
	struct server *s = c->srv;
	if (has_prefix(pm->subject, pm->subject_len, "$GNR.")) {
		conn_pub_violation(c, "to", pm->subject, pm->subject_len);
		return;
	}
	if (c->perms != NULL &&
	    !perms_pub_allowed(c->perms, pm->subject, pm->subject_len,
			       env_now_mono_ns(s->env))) {
		conn_pub_violation(c, "to", pm->subject, pm->subject_len);
		return;
	}
	if (pm->reply_len > 0 && reply_is_reserved(pm->reply, pm->reply_len)) {
		conn_pub_violation(c, "with Reply of", pm->reply, pm->reply_len);
		return;
	}
	if (c->verbose)
		conn_send_ok(c);
	bool delivered = deliver_msg(s, c->acc, c, pm, 0);
	if (!delivered && pm->reply_len > 0 && c->no_responders && !c->closed)
		conn_send_no_responders(c, pm);
}

static int conn_process_pub(struct conn *c, const struct cp_msg *m)
{
	struct server *s = c->srv;
	c->in_msgs++;
	c->in_bytes += m->total_len;
	c->acc->in_msgs++;
	c->acc->in_bytes += m->total_len;
	s->stats.in_msgs++;
	s->stats.in_bytes += m->total_len;
	if (c->pedantic &&
	    !subject_is_valid_literal(m->subject.ptr, m->subject.len))
		conn_send_err(c, "Invalid Publish Subject");
	struct pubmsg pm = { m->subject.ptr, m->subject.len, m->reply.ptr,
			     m->reply.len, m->payload, m->header_len,
			     m->total_len, NULL, 0 };
	if (c->acc->n_mappings == 0) {
		conn_publish(c, &pm);
	} else {
		/* Mappings apply before the permission checks, as in the
		 * reference. */
		struct buf mapped;
		buf_init(&mapped, &s->mem);
		if (account_map_subject(s, c->acc, pm.subject, pm.subject_len,
					&mapped)) {
			pm.subject = mapped.data;
			pm.subject_len = mapped.len;
		}
		conn_publish(c, &pm);
		buf_free(&mapped);
	}
	return c->closed ? -1 : 0;
}

static void conn_sub_violation(struct conn *c, const struct cp_msg *m,
			       const char *suffix)
{
	struct buf tmp;
	buf_init(&tmp, &c->srv->mem);
	buf_appendf(&tmp, "Permissions Violation for Subscription to \"%.*s\"%s",
		    (int)m->subject.len, m->subject.ptr, suffix);
	if (m->queue.len > 0 && suffix[0] == '\0')
		buf_appendf(&tmp, " using queue \"%.*s\"", (int)m->queue.len,
			    m->queue.ptr);
	conn_send_err(c, tmp.oom ? "Permissions Violation" : tmp.data);
	buf_free(&tmp);
}

static struct sub *conn_sub_new(struct conn *c, const struct cp_msg *m)
{
	struct server *s = c->srv;
	struct sub *sub = mem_calloc(&s->mem, 1, sizeof(*sub));
	if (sub == NULL)
		return NULL;
	sub->conn = c;
	sub->acc = c->acc;
	sub->queue_weight = 1;
	sub->subject = mem_strndup(&s->mem, m->subject.ptr, m->subject.len);
	sub->subject_len = m->subject.len;
	sub->sid = mem_strndup(&s->mem, m->sid.ptr, m->sid.len);
	sub->sid_len = m->sid.len;
	if (m->queue.len > 0) {
		sub->queue = mem_strndup(&s->mem, m->queue.ptr, m->queue.len);
		sub->queue_len = m->queue.len;
	}
	if (sub->subject == NULL || sub->sid == NULL ||
	    (m->queue.len > 0 && sub->queue == NULL)) {
		sub_free(s, sub);
		return NULL;
	}
	return sub;
}

static int conn_process_sub(struct conn *c, const struct cp_msg *m)
{
	struct server *s = c->srv;
	bool sys_queue = m->queue.len == 5 && memcmp(m->queue.ptr, "_sys_", 5) == 0;
	if (sys_queue || (c->perms != NULL &&
			  !perms_sub_allowed(c->perms, m->subject.ptr, m->subject.len,
					     m->queue.ptr, m->queue.len))) {
		conn_sub_violation(c, m, "");
		return 0;
	}
	if (s->opts->max_sub_tokens > 0 &&
	    subject_token_count(m->subject.ptr, m->subject.len) >
		    (size_t)s->opts->max_sub_tokens) {
		conn_sub_violation(c, m, ", too many tokens");
		return 0;
	}
	if (c->max_subs >= 0 && c->nsubs >= (uint64_t)c->max_subs) {
		LOGE(&s->log, "%s:%d - cid:%llu - maximum subscriptions exceeded",
		     c->ip, c->port, (unsigned long long)c->cid);
		conn_send_err(c, "maximum subscriptions exceeded");
		return 0;
	}
	if (hmap_get(&c->subs, m->sid.ptr, m->sid.len) != NULL) {
		if (c->verbose)
			conn_send_ok(c);
		return 0;
	}
	struct sub *sub = conn_sub_new(c, m);
	if (sub == NULL)
		goto nomem;
	int rc = sublist_insert(c->acc->sl, sub);
	if (rc == SUBLIST_ERR_INVALID_SUBJECT) {
		sub_free(s, sub);
		conn_send_err(c, "Invalid Subject");
		return 0;
	}
	if (rc != SUBLIST_OK)
		goto nomem_sub;
	if (!hmap_put(&c->subs, sub->sid, sub->sid_len, sub)) {
		sublist_remove(c->acc->sl, sub);
		goto nomem_sub;
	}
	c->nsubs++;
	s->stats.subscriptions++;
	leaf_interest_added(s, c->acc, sub);
	if (!account_add_shadows(s, c->acc, sub)) {
		conn_unsubscribe(c, sub);
		goto nomem;
	}
	if (c->verbose)
		conn_send_ok(c);
	return 0;
nomem_sub:
	sub_free(s, sub);
nomem:
	conn_send_err(c, "maximum subscriptions exceeded");
	return 0;
}

static int conn_process_unsub(struct conn *c, const struct cp_msg *m)
{
	struct sub *sub = hmap_get(&c->subs, m->sid.ptr, m->sid.len);
	if (sub != NULL) {
		if (m->max_msgs > 0 && (uint64_t)m->max_msgs > sub->delivered)
			sub->max_msgs = (uint64_t)m->max_msgs;
		else
			conn_unsubscribe(c, sub);
	}
	if (c->verbose)
		conn_send_ok(c);
	return 0;
}

struct connect_fields {
	char *user, *pass, *token, *nkey, *sig, *jwt, *account;
	bool new_account;
};

static void connect_fields_free(struct mem *mem, struct connect_fields *f)
{
	mem_free(mem, f->user);
	mem_free(mem, f->pass);
	mem_free(mem, f->token);
	mem_free(mem, f->nkey);
	mem_free(mem, f->sig);
	mem_free(mem, f->jwt);
	mem_free(mem, f->account);
}

/* Reads a bool field like Go's decoder: absent or null keeps the value, a
 * value of another type is an error. */
static bool connect_bool(const struct json_doc *d, const char *key, bool *v)
{
	int t = json_obj_get_fold(d, 0, key);
	if (t < 0 || json_type_of(d, t) == JSON_NULL)
		return true;
	return json_get_bool(d, t, v);
}

static bool connect_string(struct mem *mem, const struct json_doc *d,
			   const char *key, char **out)
{
	int t = json_obj_get_fold(d, 0, key);
	if (t < 0 || json_type_of(d, t) == JSON_NULL)
		return true;
	if (json_type_of(d, t) != JSON_STRING)
		return false;
	struct buf b;
	buf_init(&b, mem);
	if (!json_get_string(d, t, &b) || !buf_reserve(&b, 0)) {
		buf_free(&b);
		return false;
	}
	mem_free(mem, *out);
	*out = b.data;
	return true;
}

/* Reads CONNECT's JSON into c's options; false when it is malformed or a
 * field has the wrong type (the reference closes without -ERR then).
 * Absent fields keep their values. */
static bool conn_read_connect(struct conn *c, const char *json, size_t len,
			      struct connect_fields *f)
{
	struct mem *mem = &c->srv->mem;
	struct json_doc d;
	if (json_parse(&d, mem, json, len) != 0)
		return false;
	bool ok = json_type_of(&d, 0) == JSON_OBJECT;
	ok = ok && connect_bool(&d, "verbose", &c->verbose);
	ok = ok && connect_bool(&d, "pedantic", &c->pedantic);
	ok = ok && connect_bool(&d, "echo", &c->echo);
	ok = ok && connect_bool(&d, "headers", &c->headers);
	ok = ok && connect_bool(&d, "no_responders", &c->no_responders);
	ok = ok && connect_bool(&d, "new_account", &f->new_account);
	bool tls = false;
	ok = ok && connect_bool(&d, "tls_required", &tls);
	int t = json_obj_get_fold(&d, 0, "protocol");
	int64_t proto = c->protocol;
	if (ok && t >= 0 && json_type_of(&d, t) != JSON_NULL)
		ok = json_get_int(&d, t, &proto) && proto >= INT32_MIN &&
		     proto <= INT32_MAX;
	c->protocol = (int)proto;
	ok = ok && connect_string(mem, &d, "name", &c->name);
	ok = ok && connect_string(mem, &d, "lang", &c->lang);
	ok = ok && connect_string(mem, &d, "version", &c->version);
	ok = ok && connect_string(mem, &d, "user", &f->user);
	ok = ok && connect_string(mem, &d, "pass", &f->pass);
	ok = ok && connect_string(mem, &d, "auth_token", &f->token);
	ok = ok && connect_string(mem, &d, "nkey", &f->nkey);
	ok = ok && connect_string(mem, &d, "sig", &f->sig);
	ok = ok && connect_string(mem, &d, "jwt", &f->jwt);
	ok = ok && connect_string(mem, &d, "account", &f->account);
	json_doc_free(&d);
	return ok;
}

static void conn_auth_violation(struct conn *c)
{
	struct server *s = c->srv;
	/* The reference names the credential it looked up. */
	if (s->nkeys_in_use)
		LOGE(&s->log, "%s:%d - cid:%llu - authentication error - Nkey "
		     "\"%s\"", c->ip, c->port, (unsigned long long)c->cid,
		     c->creds.nkey ? c->creds.nkey : "");
	else if (s->opts->n_users > 0)
		LOGE(&s->log, "%s:%d - cid:%llu - authentication error - User "
		     "\"%s\"", c->ip, c->port, (unsigned long long)c->cid,
		     c->creds.user ? c->creds.user : "");
	else
		LOGE(&s->log, "%s:%d - cid:%llu - authentication error", c->ip,
		     c->port, (unsigned long long)c->cid);
	events_auth_error(c->srv, c);
	conn_send_err(c, "Authorization Violation");
	conn_close(c, CLOSE_AUTH_VIOLATION);
}

static void conn_take_creds(struct conn *c, struct connect_fields *f)
{
	struct mem *mem = &c->srv->mem;
	mem_free(mem, c->creds.user);
	mem_free(mem, c->creds.pass);
	mem_free(mem, c->creds.token);
	mem_free(mem, c->creds.nkey);
	mem_free(mem, c->creds.sig);
	c->creds = (struct conn_creds){ f->user, f->pass, f->token, f->nkey,
					f->sig };
	f->user = f->pass = f->token = f->nkey = f->sig = NULL;
}

/* Authenticates; false when the connection was closed. */
static bool conn_authenticate(struct conn *c, struct connect_fields *f)
{
	struct server *s = c->srv;
	struct auth_request req = { f->user, f->pass, f->token, f->nkey, f->sig,
				    f->jwt };
	enum auth_result ar = auth_check_client(s, c, &req);
	bool acct = f->new_account || (f->account != NULL && f->account[0]);
	conn_take_creds(c, f);
	if (ar == AUTH_ACCOUNT_FULL) {
		LOGE(&s->log, "%s:%d - cid:%llu - maximum account active "
		     "connections exceeded", c->ip, c->port,
		     (unsigned long long)c->cid);
		conn_send_err(c, "maximum account active connections exceeded");
		conn_close(c, CLOSE_MAX_ACCOUNT_CONNECTIONS);
		return false;
	}
	if (ar != AUTH_OK || acct) {
		conn_auth_violation(c);
		return false;
	}
	return true;
}

static int conn_process_connect(struct conn *c, const struct cp_msg *m)
{
	struct server *s = c->srv;
	struct env *e = s->env;
	if (!c->connected)
		e->timer_disarm(e, c->auth_timer);
	c->last_activity_ns = env_now_mono_ns(e);
	conn_arm_first_ping(c);
	struct connect_fields f = { 0 };
	if (!conn_read_connect(c, m->arg.ptr, m->arg.len, &f)) {
		connect_fields_free(&s->mem, &f);
		conn_close(c, CLOSE_PROTOCOL_VIOLATION);
		return -1;
	}
	if (s->opts->no_header_support)
		c->headers = false;
	cp_parser_set_headers(&c->parser, c->headers);
	bool first = !c->connected;
	if (first) {
		/* The first round-trip estimate, as the reference's: accept to
		 * CONNECT. */
		int64_t rtt = env_now_mono_ns(e) - c->start_ns;
		c->rtt_ns = rtt > 0 ? rtt : 1;
	}
	bool ok = conn_authenticate(c, &f);
	connect_fields_free(&s->mem, &f);
	if (!ok)
		return -1;
	c->connected = true;
	if (first)
		events_client_connect(s, c);
	if (c->protocol < 0 || c->protocol > 1) {
		conn_send_err(c, "invalid client protocol");
		conn_close(c, CLOSE_BAD_CLIENT_PROTOCOL);
		return -1;
	}
	if (c->no_responders && !c->headers) {
		conn_send_err(c, "no responders requires headers support");
		conn_close(c, CLOSE_NO_RESPONDERS_NO_HEADERS);
		return -1;
	}
	if (c->verbose)
		conn_send_ok(c);
	return 0;
}

const char *conn_auth_user(const struct conn *c)
{
	if (c->creds.nkey != NULL && c->creds.nkey[0])
		return c->creds.nkey;
	if (c->creds.user != NULL && c->creds.user[0])
		return c->creds.user;
	if (c->user != NULL && c->user->user != NULL)
		return c->user->user;
	if (c->creds.token != NULL && c->creds.token[0])
		return c->creds.token;
	return "";
}

static void conn_trace_op(struct conn *c, const struct cp_msg *m)
{
	static const char *const names[] = {
		[CP_OP_CONNECT] = "CONNECT", [CP_OP_INFO] = "INFO",
		[CP_OP_PUB] = "PUB", [CP_OP_HPUB] = "HPUB", [CP_OP_SUB] = "SUB",
		[CP_OP_UNSUB] = "UNSUB", [CP_OP_PING] = "PING",
		[CP_OP_PONG] = "PONG", [CP_OP_OK] = "+OK", [CP_OP_ERR] = "-ERR",
		[CP_OP_MSG] = "MSG", [CP_OP_HMSG] = "HMSG",
	};
	const char *name = (unsigned)m->op < ARRAY_LEN(names) && names[m->op]
				   ? names[m->op] : "?";
	LOGT(&c->srv->log, "%s:%d - cid:%llu - <<- [%s %.*s]", c->ip,
	     c->port, (unsigned long long)c->cid, name, (int)m->arg.len,
	     m->arg.ptr);
}

static int conn_on_op(void *arg, const struct cp_msg *m)
{
	struct conn *c = arg;
	struct server *s = c->srv;
	if (c->closed)
		return 1;
	if (s->log.trace)
		conn_trace_op(c, m);
	if (!c->connected && s->auth_required && m->op != CP_OP_CONNECT) {
		conn_auth_violation(c);
		return 1;
	}
	int rc = 0;
	switch (m->op) {
	case CP_OP_CONNECT: rc = conn_process_connect(c, m); break;
	case CP_OP_PUB:
	case CP_OP_HPUB: rc = conn_process_pub(c, m); break;
	case CP_OP_SUB: rc = conn_process_sub(c, m); break;
	case CP_OP_UNSUB: rc = conn_process_unsub(c, m); break;
	case CP_OP_PING:
		conn_queue(c, "PONG\r\n", 6);
		c->last_ping_in_ns = env_now_mono_ns(s->env);
		break;
	case CP_OP_PONG:
		c->pings_out = 0;
		if (c->rtt_ping_ns > 0) {
			int64_t rtt = env_now_mono_ns(s->env) - c->rtt_ping_ns;
			c->rtt_ns = rtt > 0 ? rtt : 1;
		}
		break;
	case CP_OP_ERR:
		conn_close(c, CLOSE_CLIENT);
		return 1;
	case CP_OP_INFO:
	case CP_OP_OK:
		break;
	default:
		conn_send_err(c, ERR_UNKNOWN_OP);
		conn_close(c, CLOSE_PROTOCOL_VIOLATION);
		return 1;
	}
	return rc != 0 || c->closed;
}

/* ---------------------------------------------------------------- read */

static void conn_parse_failed(struct conn *c, long err)
{
	const char *text = cp_err_text((int)err);
	enum conn_close_reason why = CLOSE_PARSE_ERROR;
	if (err == CP_ERR_MAX_PAYLOAD) {
		why = CLOSE_MAX_PAYLOAD;
		LOGE(&c->srv->log, "%s:%d - cid:%llu - maximum payload exceeded",
		     c->ip, c->port, (unsigned long long)c->cid);
	} else if (err == CP_ERR_MAX_CONTROL_LINE) {
		why = CLOSE_MAX_CONTROL_LINE;
	}
	if (text != NULL)
		conn_send_err(c, text);
	conn_close(c, why);
}

static void conn_read(struct conn *c)
{
	struct server *s = c->srv;
	struct env *e = s->env;
	for (int round = 0; round < 16 && !c->closed; round++) {
		long n = e->sock_recv(e, c->sock, s->read_buf, READ_BUF_SIZE);
		if (n == ENV_EAGAIN)
			return;
		if (n <= 0) {
			conn_close(c, n == 0 ? CLOSE_CLIENT : CLOSE_READ_ERROR);
			return;
		}
		c->last_activity_ns = env_now_mono_ns(e);
		long rc = cp_parse(&c->parser, s->read_buf, (size_t)n, conn_on_op,
				   c, NULL);
		if (c->closed)
			return;
		if (rc < 0 && rc != CP_STOPPED) {
			conn_parse_failed(c, rc);
			return;
		}
		if ((size_t)n < READ_BUF_SIZE)
			return;
	}
}

static void conn_io(void *arg, int sock, unsigned events)
{
	struct conn *c = arg;
	UNUSED(sock);
	if (c->closed)
		return;
	if (events & ENV_EV_WRITE)
		conn_flush(c);
	if (!c->closed && (events & (ENV_EV_READ | ENV_EV_ERROR)))
		conn_read(c);
}

/* ------------------------------------------------------- accept, close */

void conn_accept(struct server *s, int sock, const char *ip, int port)
{
	struct env *e = s->env;
	struct conn *c = mem_calloc(&s->mem, 1, sizeof(*c));
	if (c == NULL) {
		e->sock_close(e, sock);
		return;
	}
	c->srv = s;
	c->cid = ++s->next_cid;
	c->sock = sock;
	snprintf(c->ip, sizeof(c->ip), "%s", ip);
	c->port = port;
	c->start_ns = c->last_activity_ns = env_now_mono_ns(e);
	c->start_wall_ns = env_now_wall_ns(e);
	c->verbose = c->pedantic = c->echo = true;
	c->acc = s->global_acc;
	c->max_payload = s->opts->max_payload;
	c->max_subs = s->opts->max_subscriptions > 0 ? s->opts->max_subscriptions : -1;
	if (s->nkeys_in_use) {
		uint8_t raw[NKEY_NONCE_BYTES];
		env_random(e, raw, sizeof(raw));
		nkey_base64url(raw, sizeof(raw), c->nonce);
	}
	cp_parser_init(&c->parser, &s->mem, CP_ROLE_SERVER);
	c->parser.max_control_line = (size_t)s->opts->max_control_line;
	c->parser.max_payload = c->max_payload;
	/* HPUB closes the connection until CONNECT negotiates headers. */
	cp_parser_set_headers(&c->parser, false);
	hmap_init(&c->subs, &s->mem, prng_next(&s->prng));
	c->ping_timer = e->timer_new(e, conn_ping_fired, c);
	c->deadline_timer = e->timer_new(e, conn_deadline_fired, c);
	c->auth_timer = e->timer_new(e, conn_auth_timer_fired, c);
	link_insert_tail(&s->conns, &c->node);
	s->nconns++;
	s->stats.connections++;
	s->stats.total_connections++;
	s->global_acc->nconns++;
	s->global_acc->total_conns++;
	LOGD(&s->log, "%s:%d - cid:%llu - Client connection created", ip, port,
	     (unsigned long long)c->cid);

	server_build_info(s, c, &s->scratch);
	conn_queue(c, s->scratch.data, s->scratch.len);
	if (s->opts->max_connections > 0 &&
	    s->nconns > (uint64_t)s->opts->max_connections) {
		LOGE(&s->log, "%s:%d - cid:%llu - maximum connections exceeded",
		     ip, port, (unsigned long long)c->cid);
		conn_send_err(c, "maximum connections exceeded");
		conn_close(c, CLOSE_MAX_CONNECTIONS);
		return;
	}
	e->sock_watch(e, sock, ENV_EV_READ, conn_io, c);
	if (s->auth_required)
		e->timer_arm(e, c->auth_timer,
			     c->start_ns + s->opts->auth_timeout_ns);
	conn_arm_ping(c, s->opts->ping_interval_ns);
	conn_flush(c);
}

static void conn_remove_all_subs(struct conn *c)
{
	size_t pos = 0;
	struct hmap_entry *ent;
	while ((ent = hmap_next(&c->subs, &pos)) != NULL)
		conn_unsubscribe(c, ent->value);
}

void conn_close(struct conn *c, enum conn_close_reason why)
{
	if (c->closed || c->closing)
		return;
	struct server *s = c->srv;
	struct env *e = s->env;
	/* Best effort: what is queued (often an -ERR) goes out before the
	 * socket closes.  A write error in that flush would close the
	 * connection from inside; this call owns the close instead, with its
	 * own reason. */
	if (c->out_pending > 0 && why != CLOSE_SLOW_PENDING &&
	    why != CLOSE_SLOW_DEADLINE && why != CLOSE_WRITE_ERROR) {
		c->closing = true;
		conn_flush(c);
		c->closing = false;
	}
	c->closed = true;
	c->close_reason = why;
	conn_remove_all_subs(c);
	e->timer_free(e, c->ping_timer);
	e->timer_free(e, c->deadline_timer);
	e->timer_free(e, c->auth_timer);
	c->ping_timer = c->deadline_timer = c->auth_timer = -1;
	e->sock_close(e, c->sock);
	c->sock = -1;
	link_remove(&c->node);
	link_insert_tail(&s->dead, &c->node);
	s->nconns--;
	s->stats.connections--;
	c->acc->nconns--;
	if (why == CLOSE_SLOW_PENDING || why == CLOSE_SLOW_DEADLINE)
		c->acc->slow_consumers++;
	events_client_disconnect(s, c);
	c->user = NULL; /* points into options a reload may free */
	LOGD(&s->log, "%s:%d - cid:%llu - \"%s\" - Client connection closed: %s",
	     c->ip, c->port, (unsigned long long)c->cid,
	     c->name ? c->name : "", conn_close_reason_text(why));
}

void conn_free(struct conn *c)
{
	struct server *s = c->srv;
	ASSERT(c->closed);
	while (c->out_head != NULL) {
		struct outblk *b = c->out_head;
		c->out_head = b->next;
		server_blk_put(s, b);
	}
	hmap_free(&c->subs);
	cp_parser_free(&c->parser);
	perms_free(c->perms);
	mem_free(&s->mem, c->creds.user);
	mem_free(&s->mem, c->creds.pass);
	mem_free(&s->mem, c->creds.token);
	mem_free(&s->mem, c->creds.nkey);
	mem_free(&s->mem, c->creds.sig);
	mem_free(&s->mem, c->name);
	mem_free(&s->mem, c->lang);
	mem_free(&s->mem, c->version);
	mem_free(&s->mem, c);
}

void conn_free_sub(struct server *s, struct sub *sub)
{
	sub_free(s, sub);
}

const char *conn_close_reason_text(enum conn_close_reason why)
{
	switch (why) {
	case CLOSE_CLIENT: return "Client Closed";
	case CLOSE_SERVER_SHUTDOWN: return "Server Shutdown";
	case CLOSE_AUTH_VIOLATION: return "Authentication Failure";
	case CLOSE_AUTH_TIMEOUT: return "Authentication Timeout";
	case CLOSE_PROTOCOL_VIOLATION: return "Protocol Violation";
	case CLOSE_PARSE_ERROR: return "Parse Error";
	case CLOSE_MAX_PAYLOAD: return "Maximum Message Payload Exceeded";
	case CLOSE_MAX_CONTROL_LINE: return "Maximum Control Line Exceeded";
	case CLOSE_STALE: return "Stale Connection";
	case CLOSE_SLOW_PENDING: return "Slow Consumer (Pending Bytes)";
	case CLOSE_SLOW_DEADLINE: return "Slow Consumer (Write Deadline)";
	case CLOSE_WRITE_ERROR: return "Write Error";
	case CLOSE_READ_ERROR: return "Read Error";
	case CLOSE_MAX_CONNECTIONS: return "Maximum Connections Exceeded";
	case CLOSE_NO_RESPONDERS_NO_HEADERS:
		return "No Responders Requires Headers";
	case CLOSE_BAD_CLIENT_PROTOCOL: return "Bad Client Protocol Version";
	case CLOSE_MAX_ACCOUNT_CONNECTIONS:
		return "Maximum Account Connections Exceeded";
	case CLOSE_MAX_SUBSCRIPTIONS: return "Maximum Subscriptions Exceeded";
	}
	return "Unknown";
}
