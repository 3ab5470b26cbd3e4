/*
 * leaf.c - leaf node connections (nats-server 2.9.10 leafnode.go): the
 * accepting listener, the soliciting remotes with their reconnect timers,
 * the handshake (INFO, CONNECT, second INFO), interest exchange (LS+/LS-),
 * messages (LMSG/HMSG), PING/PONG and loop detection with "$LDS." subjects,
 * the JetStream domain rules applied when a link registers (denies and the
 * $JS.<domain>.API mappings, leafnode-protocol.md section 8) and the
 * links' part of monitoring (leafz, counts) and account events.
 *
 * Why a struct of its own rather than a kind of struct conn: a leaf link
 * shares nothing with a client's parser, CONNECT options, auth timer
 * rules, monitoring counts or system events, and conn.c's invariants (every
 * sub in c->subs has a sid, every conn counts in nconns and its account's
 * nconns) would all need exceptions.  A leaf keeps its own output buffer,
 * flushed once per loop turn from leaf_turn_end.
 *
 * Owns: struct leafnodes (hung off struct server), every struct leaf and
 * struct leaf_remote, the subs created for LS+ (inserted in the bound
 * account's sublist with origin = the leaf; freed through the server's
 * deferred free list like any sub) and the per-link interest map (smap).
 *
 * Invariants: an open, registered leaf's smap holds exactly the keys this
 * server announced over the link with their counts (a queue key's count is
 * the weight sent); a closed leaf has no subs in any sublist, no socket and
 * no timers, and is freed at turn end; a remote has at most one leaf.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../js/jetstream.h"
#include "../lib/assert.h"
#include "../lib/json.h"
#include "../lib/timefmt.h"
#include "../proto/peer_proto.h"
#include "internal.h"
#include "leaf.h"
#include "server_int.h"
#include "subject.h"

#define NS_PER_SEC 1000000000LL
#define LEAF_DEFAULT_PORT 7422
#define LEAF_FIRST_INFO_NS NS_PER_SEC          /* soliciting: first INFO */
#define LEAF_CONNECT_INFO_NS (2 * NS_PER_SEC)  /* soliciting: second INFO */
#define LEAF_FIRST_PING_NS NS_PER_SEC
#define LEAF_ERR_DELAY_NS (30 * NS_PER_SEC)    /* after loop/cluster/perm */
#define LEAF_LDS_PREFIX "$LDS."
#define LEAF_NUID_LEN 22

enum leaf_state {
	LEAF_CONNECTING = 0,   /* soliciting: TCP connect in progress */
	LEAF_AWAIT_INFO,       /* soliciting: first INFO due */
	LEAF_AWAIT_CONNECT,    /* accepting: CONNECT due */
	LEAF_AWAIT_CONNECT_INFO, /* soliciting: second INFO due */
	LEAF_ACTIVE,           /* registered: interest and messages flow */
};

/* A subject list (owned strings). */
struct leaf_list {
	char **items;
	size_t n;
};

/* What this server may send (pub) and announce (sub) over one link.  An
 * empty allow list allows everything.  JetStream domain denies (section 8.1
 * of leafnode-protocol.md) are merged into the deny lists on registration. */
struct leaf_perms {
	struct leaf_list pub_allow, pub_deny;
	struct leaf_list sub_allow, sub_deny;
};

/* One key announced over a link: "<subject>" or "<subject> <queue>". */
struct smap_ent {
	char *key;             /* owned; the hmap borrows it */
	size_t subject_len;    /* key bytes before the queue */
	int32_t count;         /* subs (plain) or summed weight (queue) */
};

struct leaf_remote;

struct leaf {
	struct server *srv;
	uint64_t cid;                  /* shares the clients' id space */
	int sock;                      /* env socket, -1 once closed */
	char ip[64];
	int port;
	enum leaf_state state;
	struct leaf_remote *remote;    /* soliciting side; NULL = accepted */
	bool is_spoke;                 /* this server is the spoke of the link */
	bool headers;                  /* both sides support headers */
	bool closed;
	int64_t reconnect_delay_ns;    /* soliciting: asked by an -ERR; 0 = none */
	struct peer_parser parser;
	struct account *acc;           /* bound account once known */
	struct leaf_perms perms;
	char *remote_name, *remote_id, *remote_cluster; /* owned, may be NULL */
	char *remote_domain;           /* peer's JetStream domain, owned/NULL */
	struct hmap subs;              /* key -> struct sub * (its LS+) */
	struct hmap smap;              /* key -> struct smap_ent * (our LS+) */
	struct buf out;                /* pending output */
	bool want_write;
	int ping_timer;                /* env timer: PINGs */
	int hs_timer;                  /* env timer: handshake deadline */
	int pings_out;                 /* unanswered PINGs */
	int64_t ping_sent_ns;          /* monotonic time of the last PING */
	int64_t rtt_ns;                /* last PING round trip, 0 = none yet */
	uint64_t in_msgs, in_bytes, out_msgs, out_bytes;
	struct link node;              /* in leafnodes.leafs or .dead */
};

struct leaf_remote {
	struct server *srv;
	size_t index;                  /* in opts.leafnodes.remotes; the options
					* are re-read each time because a
					* reload replaces them */
	size_t url_next;               /* index of the next url to try */
	uint64_t attempts;             /* failed attempts in a row */
	int timer;                     /* env timer: next connect */
	struct leaf *leaf;             /* current connection, or NULL */
};

struct leafnodes {
	int listen_sock;               /* -1 when there is no listener */
	int port;                      /* bound leaf port */
	char host[64];                 /* listener host as configured */
	struct link leafs;             /* open struct leaf, all states */
	struct link dead;              /* closed, freed at turn end */
	size_t nactive;                /* registered leafs */
	struct leaf_remote *remotes;
	size_t n_remotes;
	struct hmap lds;               /* account name -> owned "$LDS.x" */
};

static void leaf_io(void *arg, int sock, unsigned events);

/* The remote's current options, or NULL when a reload dropped it. */
static const struct opts_remote_leaf *leaf_remote_opts(const struct leaf_remote *r)
{
	const struct opts_leafnodes *o = &r->srv->opts->leafnodes;
	return r->index < o->n_remotes ? &o->remotes[r->index] : NULL;
}
static void leaf_close(struct leaf *l, const char *reason);
static void leaf_remote_schedule(struct leaf_remote *r, int64_t delay_ns);

#define LEAF_LOG(lvl, l, fmt, ...)                                         \
	lvl(&(l)->srv->log, "%s:%d - lid:%llu - " fmt, (l)->ip, (l)->port,  \
	    (unsigned long long)(l)->cid, ##__VA_ARGS__)

/* ---------------------------------------------------------- helpers */

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && memcmp(s, prefix, n) == 0;
}

static bool leaf_list_add(struct mem *mem, struct leaf_list *l,
			  const char *s, size_t len)
{
	char **items = mem_realloc(mem, l->items, (l->n + 1) * sizeof(*items));
	if (items == NULL)
		return false;
	l->items = items;
	l->items[l->n] = mem_strndup(mem, s, len);
	if (l->items[l->n] == NULL)
		return false;
	l->n++;
	return true;
}

static bool leaf_list_add_all(struct mem *mem, struct leaf_list *l,
			      const struct opts_subject_list *from)
{
	for (size_t i = 0; i < from->n; i++)
		if (!leaf_list_add(mem, l, from->items[i], strlen(from->items[i])))
			return false;
	return true;
}

static void leaf_list_free(struct mem *mem, struct leaf_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		mem_free(mem, l->items[i]);
	mem_free(mem, l->items);
	l->items = NULL;
	l->n = 0;
}

/* Does a literal subject match one of the patterns? */
static bool leaf_list_matches(const struct leaf_list *l, const char *s,
			      size_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (subject_matches(s, len, l->items[i], strlen(l->items[i])))
			return true;
	return false;
}

/* Is the subscription subject (maybe a wildcard) inside a pattern? */
static bool leaf_list_covers(const struct leaf_list *l, const char *s,
			     size_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (subject_is_subset(s, len, l->items[i], strlen(l->items[i])))
			return true;
	return false;
}

/* May this server send a message on the literal subject over l? */
static bool leaf_pub_ok(const struct leaf *l, const char *s, size_t len)
{
	const struct leaf_perms *p = &l->perms;
	if (p->pub_allow.n > 0 && !leaf_list_matches(&p->pub_allow, s, len))
		return false;
	return !leaf_list_matches(&p->pub_deny, s, len);
}

/* May this server announce interest in subject over l?  Wildcards that
 * only overlap a deny entry are announced and filtered per message. */
static bool leaf_sub_ok(const struct leaf *l, const char *s, size_t len)
{
	const struct leaf_perms *p = &l->perms;
	if (has_prefix(s, len, LEAF_LDS_PREFIX))
		return true;
	if (p->sub_allow.n > 0 && !leaf_list_covers(&p->sub_allow, s, len))
		return false;
	return !leaf_list_covers(&p->sub_deny, s, len);
}

static void leaf_perms_free(struct mem *mem, struct leaf_perms *p)
{
	leaf_list_free(mem, &p->pub_allow);
	leaf_list_free(mem, &p->pub_deny);
	leaf_list_free(mem, &p->sub_allow);
	leaf_list_free(mem, &p->sub_deny);
}

/* This server's cluster name as a leaf peer sees it: the configured one,
 * else (2.9.10) the server name when remotes are configured. */
static const char *leaf_cluster_name(const struct server *s)
{
	const struct opts *o = s->opts;
	if (o->cluster.name != NULL)
		return o->cluster.name;
	if (o->leafnodes.n_remotes > 0)
		return s->name;
	return NULL;
}

/* The configured JetStream domain ("" when none).  As the reference, the
 * option counts, not whether JetStream runs: a JetStream-less server with
 * a domain belongs to a JetStream that may be extended. */
static const char *leaf_local_domain(const struct server *s)
{
	const char *d = s->opts->jetstream.domain;
	return d != NULL ? d : "";
}

/* The account's loop detection subject, created on first use. */
static const char *leaf_lds_subject(struct server *s, struct account *acc)
{
	struct leafnodes *ln = s->leafnodes;
	char *lds = hmap_get(&ln->lds, acc->name, strlen(acc->name));
	if (lds != NULL)
		return lds + strlen(lds) + 1;
	/* One allocation: the account name (the hmap's key), then the
	 * subject. */
	size_t nlen = strlen(acc->name);
	size_t plen = strlen(LEAF_LDS_PREFIX);
	lds = mem_alloc(&s->mem, nlen + 1 + plen + LEAF_NUID_LEN + 1);
	if (lds == NULL)
		return NULL;
	memcpy(lds, acc->name, nlen + 1);
	char *subj = lds + nlen + 1;
	memcpy(subj, LEAF_LDS_PREFIX, plen);
	prng_base62(&s->prng, subj + plen, LEAF_NUID_LEN);
	subj[plen + LEAF_NUID_LEN] = '\0';
	if (!hmap_put(&ln->lds, lds, nlen, lds)) {
		mem_free(&s->mem, lds);
		return NULL;
	}
	return subj;
}

/* ------------------------------------------------------------- output */

static bool leaf_queue(struct leaf *l, const void *data, size_t len)
{
	if (l->closed)
		return false;
	int64_t max = l->srv->opts->max_pending;
	if (max > 0 && l->out.len + len > (size_t)max) {
		LEAF_LOG(LOGI, l, "Slow Consumer Detected: MaxPending of %lld "
			 "Exceeded", (long long)max);
		leaf_close(l, "Slow Consumer (Pending Bytes)");
		return false;
	}
	buf_append(&l->out, data, len);
	if (l->out.oom) {
		leaf_close(l, "Write Error");
		return false;
	}
	return true;
}

static void leaf_send_err(struct leaf *l, const char *text)
{
	char line[512];
	size_t n = peer_encode_err_line(line, sizeof(line), text, strlen(text));
	if (n > 0)
		leaf_queue(l, line, n);
}

static void leaf_flush(struct leaf *l)
{
	struct env *e = l->srv->env;
	while (l->out.len > 0 && !l->closed) {
		struct iovec iov = { l->out.data, l->out.len };
		long w = e->sock_sendv(e, l->sock, &iov, 1);
		if (w == ENV_EAGAIN || w == 0)
			break;
		if (w < 0) {
			leaf_close(l, "Write Error");
			return;
		}
		buf_consume(&l->out, (size_t)w);
	}
	if (l->closed || l->state == LEAF_CONNECTING)
		return;
	bool pending = l->out.len > 0;
	if (pending != l->want_write) {
		l->want_write = pending;
		e->sock_watch(e, l->sock,
			      ENV_EV_READ | (pending ? ENV_EV_WRITE : 0),
			      leaf_io, l);
	}
}

/* ----------------------------------------------------- interest (out) */

static void leaf_send_ls(struct leaf *l, bool add, const char *subj,
			 size_t slen, const char *queue, size_t qlen,
			 int32_t weight)
{
	char small[256];
	char *line = small;
	size_t cap = slen + qlen + PEER_LINE_OVERHEAD;
	if (cap > sizeof(small)) {
		line = mem_alloc(&l->srv->mem, cap);
		if (line == NULL)
			return;
	} else {
		cap = sizeof(small);
	}
	struct peer_slice none = { NULL, 0 };
	struct peer_slice sj = { subj, slen }, q = { queue, qlen };
	size_t n = add ? peer_encode_sub_line(line, cap, PEER_LEAF, none, sj, q,
					      weight)
		       : peer_encode_unsub_line(line, cap, PEER_LEAF, none, sj, q);
	ASSERT(n > 0);
	leaf_queue(l, line, n);
	if (line != small)
		mem_free(&l->srv->mem, line);
}

static void leaf_smap_send(struct leaf *l, const struct smap_ent *e, bool add)
{
	size_t klen = strlen(e->key);
	const char *q = NULL;
	size_t qlen = 0;
	if (klen > e->subject_len) {
		q = e->key + e->subject_len + 1;
		qlen = klen - e->subject_len - 1;
	}
	leaf_send_ls(l, add, e->key, e->subject_len, q, qlen, e->count);
}

/* Adds delta to the count of "<subject>[ <queue>]" on l; when send is
 * set, announces the changes the peer must hear: LS+ on 0 -> n for a
 * subject, LS+ with the new weight on every change for a queue group,
 * LS- when the count reaches zero. */
static void leaf_smap_update(struct leaf *l, const char *subj, size_t slen,
			     const char *queue, size_t qlen, int32_t delta,
			     bool send)
{
	struct server *s = l->srv;
	struct buf key;
	buf_init(&key, &s->mem);
	buf_append(&key, subj, slen);
	if (queue != NULL) {
		buf_append_char(&key, ' ');
		buf_append(&key, queue, qlen);
	}
	struct smap_ent *e = key.oom ? NULL
				     : hmap_get(&l->smap, key.data, key.len);
	if (e == NULL && delta > 0 && !key.oom) {
		e = mem_calloc(&s->mem, 1, sizeof(*e));
		char *k = e != NULL ? mem_strndup(&s->mem, key.data, key.len)
				    : NULL;
		if (k == NULL || !hmap_put(&l->smap, k, key.len, e)) {
			mem_free(&s->mem, k);
			mem_free(&s->mem, e);
			e = NULL;
		} else {
			e->key = k;
			e->subject_len = slen;
		}
	}
	buf_free(&key);
	if (e == NULL)
		return;
	int32_t old = e->count;
	e->count += delta;
	if (e->count <= 0) {
		hmap_del(&l->smap, e->key, strlen(e->key));
		if (send && old > 0) {
			e->count = 0;
			leaf_smap_send(l, e, false);
		}
		mem_free(&s->mem, e->key);
		mem_free(&s->mem, e);
		return;
	}
	if (send && (queue != NULL ? e->count != old : old == 0))
		leaf_smap_send(l, e, true);
}

/* The hub/spoke rules of what l hears about sub (leafnode-protocol.md
 * section 5): never its own interest back, never interest a spoke learned
 * from a hub to another hub, never interest between two links to the same
 * remote cluster, and only what l's subscribe permissions allow. */
static bool leaf_should_announce(const struct leaf *l, const struct sub *sub)
{
	const struct leaf *o = leaf_of_sub(sub);
	if (o == l)
		return false;
	if (o != NULL) {
		if (l->is_spoke && o->is_spoke)
			return false;
		if (o->remote_cluster != NULL && l->remote_cluster != NULL &&
		    strcmp(o->remote_cluster, l->remote_cluster) == 0)
			return false;
	}
	return leaf_sub_ok(l, sub->subject, sub->subject_len);
}

/* Leaf queue subs count with their weight, everything else with 1. */
static int32_t leaf_sub_weight(const struct sub *sub)
{
	if (leaf_of_sub(sub) != NULL && sub->queue != NULL)
		return sub->queue_weight > 0 ? sub->queue_weight : 1;
	return 1;
}

static void leaf_interest_changed(struct server *s, struct account *acc,
				  const struct sub *sub, int32_t delta)
{
	struct leafnodes *ln = s->leafnodes;
	if (ln == NULL || ln->nactive == 0)
		return;
	for (struct link *n = ln->leafs.next; n != &ln->leafs; n = n->next) {
		struct leaf *l = CONTAINER_OF(n, struct leaf, node);
		if (l->closed || l->state != LEAF_ACTIVE || l->acc != acc ||
		    !leaf_should_announce(l, sub))
			continue;
		leaf_smap_update(l, sub->subject, sub->subject_len, sub->queue,
				 sub->queue_len, delta, true);
	}
}

void leaf_interest_added(struct server *s, struct account *acc,
			 const struct sub *sub)
{
	leaf_interest_changed(s, acc, sub, leaf_sub_weight(sub));
}

void leaf_interest_removed(struct server *s, struct account *acc,
			   const struct sub *sub)
{
	leaf_interest_changed(s, acc, sub, -leaf_sub_weight(sub));
}

static void leaf_smap_visit(void *arg, struct sub *sub)
{
	struct leaf *l = arg;
	if (!sub->removed && leaf_should_announce(l, sub))
		leaf_smap_update(l, sub->subject, sub->subject_len, sub->queue,
				 sub->queue_len, leaf_sub_weight(sub), false);
}

/* Subjects announced on connect besides the sublist: service import
 * subjects (requests flow toward the exporter), mapping sources, the
 * service reply prefix and the account's $LDS subject. */
static void leaf_smap_add_extras(struct leaf *l)
{
	struct account *acc = l->acc;
	for (size_t i = 0; i < acc->n_svc_imports; i++) {
		const char *subj = acc->svc_imports[i].local;
		if (subj != NULL && (!l->is_spoke ||
				     leaf_sub_ok(l, subj, strlen(subj))))
			leaf_smap_update(l, subj, strlen(subj), NULL, 0, 1, false);
	}
	for (size_t i = 0; i < acc->n_mappings; i++) {
		const char *subj = acc->mappings[i].src;
		if (!l->is_spoke || leaf_sub_ok(l, subj, strlen(subj)))
			leaf_smap_update(l, subj, strlen(subj), NULL, 0, 1, false);
	}
	if (acc->resp_prefix_len > 0) {
		char pre[sizeof(acc->resp_prefix) + 1];
		memcpy(pre, acc->resp_prefix, acc->resp_prefix_len);
		pre[acc->resp_prefix_len] = '>';
		leaf_smap_update(l, pre, acc->resp_prefix_len + 1, NULL, 0, 1,
				 false);
	}
	const char *lds = leaf_lds_subject(l->srv, acc);
	if (lds != NULL)
		leaf_smap_update(l, lds, strlen(lds), NULL, 0, 1, false);
}

/* The whole current interest of the account, once, on registration. */
static void leaf_send_all_interest(struct leaf *l)
{
	sublist_visit(l->acc->sl, leaf_smap_visit, l);
	leaf_smap_add_extras(l);
	size_t pos = 0;
	const struct hmap_entry *ent;
	while ((ent = hmap_next(&l->smap, &pos)) != NULL && !l->closed)
		leaf_smap_send(l, ent->value, true);
}

/* ------------------------------------------------------ interest (in) */

static char *leaf_sub_key(struct mem *mem, const struct peer_msg *m)
{
	struct buf key;
	buf_init(&key, mem);
	buf_append(&key, m->subject.ptr, m->subject.len);
	if (m->queue.len > 0) {
		buf_append_char(&key, ' ');
		buf_append(&key, m->queue.ptr, m->queue.len);
	}
	char *k = key.oom ? NULL : mem_strndup(mem, key.data, key.len);
	buf_free(&key);
	return k;
}

/* Our own $LDS subject came back: the link closes a loop. */
static void leaf_loop_detected(struct leaf *l)
{
	char text[256];
	snprintf(text, sizeof(text), "Loop detected for leafnode account=\"%s\". "
		 "Delaying attempt to reconnect for 30s", l->acc->name);
	LEAF_LOG(LOGE, l, "%s", text);
	leaf_send_err(l, text);
	if (l->remote != NULL)
		l->reconnect_delay_ns = LEAF_ERR_DELAY_NS;
	leaf_close(l, "Duplicate Route");
}

/* A literal subject we may not send over the link: the hub closes, a
 * spoke ignores it (its hub told it its permissions). */
static bool leaf_sub_permitted(struct leaf *l, const struct peer_msg *m)
{
	const char *subj = m->subject.ptr;
	size_t len = m->subject.len;
	if (has_prefix(subj, len, LEAF_LDS_PREFIX) || has_prefix(subj, len, "$GR.") ||
	    has_prefix(subj, len, "_GR_.") || subject_has_wildcard(subj, len) ||
	    leaf_pub_ok(l, subj, len))
		return true;
	if (l->is_spoke)
		return false;
	char text[512];
	snprintf(text, sizeof(text), "Permissions Violation for Subscription to "
		 "\"%.*s\"", (int)len, subj);
	leaf_send_err(l, text);
	LEAF_LOG(LOGE, l, "Subscription Violation on \"%.*s\" - Check other side "
		 "configuration", (int)len, subj);
	leaf_close(l, "Protocol Violation");
	return false;
}

static struct sub *leaf_sub_new(struct leaf *l, const struct peer_msg *m,
				char *key)
{
	struct server *s = l->srv;
	struct sub *sub = mem_calloc(&s->mem, 1, sizeof(*sub));
	if (sub == NULL) {
		mem_free(&s->mem, key);
		return NULL;
	}
	sub->origin = l;
	sub->acc = l->acc;
	sub->sid = key;
	sub->sid_len = strlen(key);
	sub->subject = mem_strndup(&s->mem, m->subject.ptr, m->subject.len);
	sub->subject_len = m->subject.len;
	sub->queue_weight = 1;
	if (m->queue.len > 0) {
		sub->queue = mem_strndup(&s->mem, m->queue.ptr, m->queue.len);
		sub->queue_len = m->queue.len;
		sub->queue_weight = m->weight > 0 ? (int32_t)m->weight : 1;
	}
	if (sub->subject == NULL || (m->queue.len > 0 && sub->queue == NULL) ||
	    sublist_insert(l->acc->sl, sub) != SUBLIST_OK ||
	    !hmap_put(&l->subs, sub->sid, sub->sid_len, sub)) {
		if (sub->subject != NULL)
			sublist_remove(l->acc->sl, sub);
		conn_free_sub(s, sub);
		return NULL;
	}
	s->leaf_subs++;
	return sub;
}

static void leaf_process_sub(struct leaf *l, const struct peer_msg *m)
{
	struct server *s = l->srv;
	if (!subject_is_valid(m->subject.ptr, m->subject.len)) {
		leaf_send_err(l, "Invalid Subscription");
		return;
	}
	const char *lds = leaf_lds_subject(s, l->acc);
	if (lds != NULL && m->subject.len == strlen(lds) &&
	    memcmp(m->subject.ptr, lds, m->subject.len) == 0) {
		leaf_loop_detected(l);
		return;
	}
	if (!leaf_sub_permitted(l, m))
		return;
	char *key = leaf_sub_key(&s->mem, m);
	if (key == NULL)
		return;
	struct sub *sub = hmap_get(&l->subs, key, strlen(key));
	if (sub != NULL) {
		/* A queue group's new weight: tell the others the change. */
		mem_free(&s->mem, key);
		int32_t w = m->weight > 0 ? (int32_t)m->weight : 1;
		if (sub->queue == NULL || w == sub->queue_weight)
			return;
		int32_t delta = w - sub->queue_weight;
		sub->queue_weight = w;
		leaf_interest_changed(s, l->acc, sub, delta);
		return;
	}
	sub = leaf_sub_new(l, m, key);
	if (sub != NULL)
		leaf_interest_added(s, l->acc, sub);
}

static void leaf_remove_sub(struct leaf *l, struct sub *sub)
{
	struct server *s = l->srv;
	int rc = sublist_remove(l->acc->sl, sub);
	ASSERT(rc == SUBLIST_OK);
	void *v = hmap_del(&l->subs, sub->sid, sub->sid_len);
	ASSERT(v == sub);
	s->leaf_subs--;
	leaf_interest_removed(s, l->acc, sub);
	deliver_defer_free(s, sub);
	account_sub_removed(s, l->acc, sub->subject, sub->subject_len);
}

static void leaf_process_unsub(struct leaf *l, const struct peer_msg *m)
{
	char *key = leaf_sub_key(&l->srv->mem, m);
	if (key == NULL)
		return;
	struct sub *sub = hmap_get(&l->subs, key, strlen(key));
	mem_free(&l->srv->mem, key);
	if (sub != NULL)
		leaf_remove_sub(l, sub);
}

static void leaf_remove_all_subs(struct leaf *l)
{
	size_t pos = 0;
	struct hmap_entry *ent;
	while ((ent = hmap_next(&l->subs, &pos)) != NULL)
		leaf_remove_sub(l, ent->value);
}

/* ----------------------------------------------------------- messages */

#define LEAF_QUEUES_MAX 64

static void leaf_process_msg(struct leaf *l, const struct peer_msg *m)
{
	struct server *s = l->srv;
	l->in_msgs++;
	l->in_bytes += m->total_len;
	l->acc->in_msgs++;
	l->acc->in_bytes += m->total_len;
	s->stats.in_msgs++;
	s->stats.in_bytes += m->total_len;
	struct peer_slice queues[LEAF_QUEUES_MAX];
	size_t nq = 0;
	struct peer_slice it = m->queues, name;
	while (nq < LEAF_QUEUES_MAX && peer_queues_next(&it, &name))
		queues[nq++] = name;
	struct pubmsg pm = { m->subject.ptr, m->subject.len, m->reply.ptr,
			     m->reply.len, m->payload, m->header_len,
			     m->total_len, NULL, 0 };
	/* "$JS.ACK...@<subject>": a JetStream delivery, shown as <subject>
	 * with the ack reply before the '@' (the reference's remapping). */
	if (pm.reply_len > 8 && memcmp(pm.reply, "$JS.ACK.", 8) == 0) {
		const char *at = NULL;
		for (size_t i = pm.reply_len; i-- > 0;)
			if (pm.reply[i] == '@') {
				at = pm.reply + i;
				break;
			}
		size_t tail = at ? pm.reply_len - (size_t)(at - pm.reply) - 1 : 0;
		if (at != NULL && tail > 0) {
			pm.deliver = at + 1;
			pm.deliver_len = tail;
			pm.reply_len = (size_t)(at - pm.reply);
		}
	}
	/* The receiving account's mappings apply on arrival, as in the
	 * reference (this is how $JS.<domain>.API reaches JetStream). */
	struct buf mapped;
	buf_init(&mapped, &s->mem);
	if (l->acc->n_mappings > 0 &&
	    account_map_subject(s, l->acc, pm.subject, pm.subject_len, &mapped)) {
		pm.subject = mapped.data;
		pm.subject_len = mapped.len;
	}
	deliver_msg_from_leaf(s, l->acc, l, &pm, queues, nq);
	buf_free(&mapped);
}

bool leaf_may_forward(const struct leaf *src, const struct leaf *dst)
{
	if (dst == NULL || dst->closed || dst->state != LEAF_ACTIVE || dst == src)
		return false;
	if (src != NULL && src->remote_cluster != NULL &&
	    dst->remote_cluster != NULL &&
	    strcmp(src->remote_cluster, dst->remote_cluster) == 0)
		return false;
	return true;
}

bool leaf_send_msg(struct leaf *l, const struct pubmsg *m, const char *queues,
		   size_t qlen, size_t nq)
{
	struct server *s = l->srv;
	if (l->closed || !leaf_pub_ok(l, m->subject, m->subject_len)) {
		LOGD(&s->log, "%s:%d - lid:%llu - Not permitted to deliver to "
		     "\"%.*s\"", l->ip, l->port, (unsigned long long)l->cid,
		     (int)m->subject_len, m->subject);
		return false;
	}
	bool hdr = m->header_len > 0 && l->headers;
	const char *body = m->data;
	size_t size = m->total_len;
	if (m->header_len > 0 && !hdr) {
		body += m->header_len;
		size -= m->header_len;
	}
	struct peer_msg pm = { .op = PEER_OP_MSG };
	pm.subject = (struct peer_slice){ m->subject, m->subject_len };
	pm.reply = (struct peer_slice){ m->reply, m->reply_len };
	/* A JetStream delivery carries the subject to show after an '@' in
	 * its reply, as the reference sends it to leafs and routes. */
	struct buf reply;
	buf_init(&reply, &s->mem);
	if (m->deliver != NULL && m->reply_len > 0) {
		buf_append(&reply, m->reply, m->reply_len);
		buf_append_char(&reply, '@');
		buf_append(&reply, m->deliver, m->deliver_len);
		if (reply.oom) {
			buf_free(&reply);
			return false;
		}
		pm.reply = (struct peer_slice){ reply.data, reply.len };
	}
	pm.queues = (struct peer_slice){ queues, qlen };
	pm.queue_count = nq;
	pm.has_headers = hdr;
	pm.header_len = hdr ? m->header_len : 0;
	pm.total_len = size;
	struct buf line;
	buf_init(&line, &s->mem);
	bool ok = buf_reserve(&line, m->subject_len + pm.reply.len + qlen +
					     PEER_LINE_OVERHEAD);
	size_t n = ok ? peer_encode_line(line.data, line.cap, PEER_LEAF, &pm) : 0;
	ok = n > 0 && leaf_queue(l, line.data, n) && leaf_queue(l, body, size) &&
	     leaf_queue(l, "\r\n", 2);
	buf_free(&line);
	buf_free(&reply);
	if (!ok)
		return false;
	l->out_msgs++;
	l->out_bytes += size;
	l->acc->out_msgs++;
	l->acc->out_bytes += size;
	s->stats.out_msgs++;
	s->stats.out_bytes += size;
	return true;
}

/* ------------------------------------------------- JetStream domains */

/* The reference's denyAllClientJs and denyAllJs, in its order (the log
 * lines print them). */
static const char *const leaf_deny_client_js[] = {
	"$JS.API.>", "$KV.>", "$OBJ.>",
};
static const char *const leaf_deny_all_js[] = {
	"$JSC.>", "$NRG.>", "$JS.API.>", "$KV.>", "$OBJ.>",
};

/* Adds the subjects a list does not hold yet (mergeDenyPermissions). */
static bool leaf_list_merge(struct mem *mem, struct leaf_list *l,
			    const char *const *subjects, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool have = false;
		for (size_t j = 0; j < l->n && !have; j++)
			have = strcmp(l->items[j], subjects[i]) == 0;
		if (!have && !leaf_list_add(mem, l, subjects[i], strlen(subjects[i])))
			return false;
	}
	return true;
}

static bool leaf_deny_both(struct leaf *l, const char *const *subjects,
			   size_t n)
{
	struct mem *mem = &l->srv->mem;
	return leaf_list_merge(mem, &l->perms.pub_deny, subjects, n) &&
	       leaf_list_merge(mem, &l->perms.sub_deny, subjects, n);
}

/* Step 0 of section 8.1: default_js_domain entries mapping to "".  Sets
 * *skip when the account wants no deny at all, *force when the system
 * account must not extend JetStream. */
static void leaf_js_default_domain(struct leaf *l, bool *skip, bool *force)
{
	struct server *s = l->srv;
	const struct opts *o = s->opts;
	*skip = *force = false;
	if (o->n_default_js_domain == 0)
		return;
	if (l->acc == s->system_acc) {
		for (size_t i = 0; i < o->n_default_js_domain && !*force; i++)
			*force = o->default_js_domain_domains[i][0] == '\0';
		if (*force)
			LEAF_LOG(LOGI, l, "Forcing System Account into non extend "
				 "mode due to presence of empty default domain");
		return;
	}
	const char *d = account_default_js_domain(s, l->acc);
	if (d != NULL && d[0] == '\0') {
		LEAF_LOG(LOGI, l, "Skipping deny \"$JS.API.>\" for account \"%s\" "
			 "due to default domain", l->acc->name);
		*skip = true;
	}
}

/* Is JetStream not extended over this link (section 8.1 step 1)? */
static bool leaf_js_not_extended(const struct leaf *l, bool force)
{
	const struct server *s = l->srv;
	const struct opts_jetstream *js = &s->opts->jetstream;
	const char *local = leaf_local_domain(s);
	const char *remote = l->remote_domain != NULL ? l->remote_domain : "";
	bool will_extend = js->extension_hint != NULL &&
			   strcmp(js->extension_hint, "will_extend") == 0;
	return strcmp(local, remote) != 0 ||
	       (!js->enabled && local[0] == '\0' && !will_extend) ||
	       s->system_acc == NULL || force;
}

/* Section 8.1 step 4: this domain's $JS.<domain>.API table in the bound
 * account, and (when not extended) no message for this domain leaves
 * over the link. */
static bool leaf_js_domain_map(struct leaf *l, const char *local,
			       bool block_outgoing)
{
	struct server *s = l->srv;
	struct buf src, dest;
	buf_init(&src, &s->mem);
	buf_init(&dest, &s->mem);
	for (size_t i = 0; i < ACCOUNT_JS_DOMAIN_ROWS; i++) {
		account_js_domain_row(local, i, &src, &dest);
		if (src.oom || dest.oom ||
		    account_add_mapping(s, l->acc, src.data, dest.data) < 0)
			LEAF_LOG(LOGD, l, "Error adding JetStream domain mapping");
		else
			LEAF_LOG(LOGI, l, "Adding JetStream Domain Mapping \"%s\" -> "
				 "%s to account \"%s\"", src.data, dest.data,
				 l->acc->name);
	}
	l->acc->js_domain_mapped = true;
	buf_reset(&src);
	buf_appendf(&src, "$JS.%s.API.>", local);
	bool ok = !src.oom;
	if (ok && block_outgoing) {
		const char *deny[] = { src.data };
		ok = leaf_list_merge(&s->mem, &l->perms.pub_deny, deny, 1);
		LEAF_LOG(LOGI, l, "Adding deny \"%s\" for outgoing messages to "
			 "account \"%s\"", src.data, l->acc->name);
	}
	buf_free(&src);
	buf_free(&dest);
	return ok;
}

/* 2.9.10 addLeafNodeConnection's JetStream part (leafnode-protocol.md
 * section 8.1), run on both sides before any interest is announced, so
 * that the denies already filter the first LS+ burst.  False when memory
 * ran out. */
static bool leaf_js_domains(struct leaf *l)
{
	struct server *s = l->srv;
	const struct opts_jetstream *js = &s->opts->jetstream;
	struct account *acc = l->acc;
	bool skip, force, ok = true, block = false;
	leaf_js_default_domain(l, &skip, &force);
	if (skip)
		return true;
	char from[512];
	snprintf(from, sizeof(from), "%s%s%s", l->remote_name ? l->remote_name : "",
		 l->remote_cluster ? "/" : "",
		 l->remote_cluster ? l->remote_cluster : "");
	if (leaf_js_not_extended(l, force)) {
		if (acc == s->system_acc) {
			LEAF_LOG(LOGI, l, "System Account Connected from %s", from);
			LEAF_LOG(LOGI, l, "JetStream Not Extended, adding denies "
				 "[$JSC.> $NRG.> $JS.API.> $KV.> $OBJ.>]");
			ok = leaf_deny_both(l, leaf_deny_all_js,
					    ARRAY_LEN(leaf_deny_all_js));
		} else {
			LEAF_LOG(LOGI, l, "JetStream Not Extended, adding deny "
				 "[$JS.API.> $KV.> $OBJ.>] for account \"%s\"",
				 acc->name);
			ok = leaf_deny_both(l, leaf_deny_client_js,
					    ARRAY_LEN(leaf_deny_client_js));
		}
		block = true;
	} else if (acc == s->system_acc) {
		/* Same domain and a shared system account: the reference joins
		 * both JetStreams into one; natsd has no clustered JetStream, so
		 * nothing is denied and nothing more happens. */
		LOGI(&s->log, "Extending JetStream domain \"%s\" as System Account "
		     "connected from server %s", l->remote_domain ? l->remote_domain
		     : "", from);
	} else {
		LEAF_LOG(LOGI, l, "Adding deny [$JS.API.> $KV.> $OBJ.>] for account "
			 "\"%s\"", acc->name);
		ok = leaf_deny_both(l, leaf_deny_client_js,
				    ARRAY_LEN(leaf_deny_client_js));
	}
	if (ok && js->enabled && js->domain != NULL && js->domain[0] != '\0' &&
	    acc != s->system_acc)
		ok = leaf_js_domain_map(l, js->domain, block);
	return ok;
}

void leaf_mapping_added(struct server *s, struct account *acc,
			const char *src)
{
	struct leafnodes *ln = s->leafnodes;
	if (ln == NULL || ln->nactive == 0)
		return;
	size_t len = strlen(src);
	for (struct link *n = ln->leafs.next; n != &ln->leafs; n = n->next) {
		struct leaf *l = CONTAINER_OF(n, struct leaf, node);
		if (l->closed || l->state != LEAF_ACTIVE || l->acc != acc ||
		    hmap_get(&l->smap, src, len) != NULL)
			continue;
		if (!l->is_spoke || leaf_sub_ok(l, src, len))
			leaf_smap_update(l, src, len, NULL, 0, 1, true);
	}
}

/* ---------------------------------------------------------- handshake */

static void leaf_write_url(struct server *s, struct buf *out)
{
	struct leafnodes *ln = s->leafnodes;
	const struct opts_leafnodes *o = &s->opts->leafnodes;
	if (o->advertise != NULL) {
		buf_append_str(out, o->advertise);
		return;
	}
	const char *h = ln->host;
	if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 || h[0] == '\0')
		h = "127.0.0.1";
	buf_appendf(out, "%s:%d", h, ln->port);
}

static void leaf_write_list(struct jw *w, const char *key,
			    const struct opts_subject_list *l)
{
	if (l->n == 0)
		return;
	jw_key(w, key);
	jw_arr_begin(w);
	for (size_t i = 0; i < l->n; i++)
		jw_str(w, l->items[i]);
	jw_arr_end(w);
}

static void leaf_write_perm(struct jw *w, const char *key,
			    const struct opts_perm *p)
{
	if (p->allow.n == 0 && p->deny.n == 0)
		return;
	jw_key(w, key);
	jw_obj_begin(w);
	leaf_write_list(w, "allow", &p->allow);
	leaf_write_list(w, "deny", &p->deny);
	jw_obj_end(w);
}

/* The accepting side's INFO; the second one (after CONNECT) has no nonce
 * but connect_info, remote_account and the user's permissions. */
static void leaf_build_info(struct leaf *l, bool second,
			    const struct opts_user *u, struct buf *out)
{
	struct server *s = l->srv;
	const struct opts *o = s->opts;
	struct buf url;
	buf_init(&url, &s->mem);
	leaf_write_url(s, &url);
	struct jw w;
	buf_append_str(out, "INFO ");
	jw_init(&w, out);
	jw_obj_begin(&w);
	jw_key(&w, "server_id"); jw_str(&w, s->id);
	jw_key(&w, "server_name"); jw_str(&w, s->name);
	jw_key(&w, "version"); jw_str(&w, SERVER_NATS_VERSION);
	jw_key(&w, "proto"); jw_int(&w, 1);
	jw_key(&w, "go"); jw_str(&w, "natsd " SERVER_RELEASE);
	jw_key(&w, "host"); jw_str(&w, s->leafnodes->host);
	jw_key(&w, "port"); jw_int(&w, s->leafnodes->port);
	jw_key(&w, "headers"); jw_bool(&w, !o->no_header_support);
	jw_key(&w, "auth_required"); jw_bool(&w, true);
	jw_key(&w, "max_payload"); jw_int(&w, o->max_payload);
	if (jetstream_is_enabled(s)) {
		jw_key(&w, "jetstream"); jw_bool(&w, true);
	}
	jw_key(&w, "ip"); jw_str(&w, url.data ? url.data : "");
	jw_key(&w, "client_id"); jw_uint(&w, l->cid);
	if (!second) {
		char nonce[LEAF_NUID_LEN + 1];
		static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
					  "qrstuvwxyz0123456789-_";
		for (size_t i = 0; i < 15; i++)
			nonce[i] = abc[prng_below(&s->prng, 64)];
		nonce[15] = '\0';
		jw_key(&w, "nonce"); jw_str(&w, nonce);
	}
	if (leaf_local_domain(s)[0] != '\0') {
		jw_key(&w, "domain"); jw_str(&w, leaf_local_domain(s));
	}
	if (leaf_cluster_name(s) != NULL) {
		jw_key(&w, "cluster"); jw_str(&w, leaf_cluster_name(s));
	}
	if (second) {
		jw_key(&w, "connect_info"); jw_bool(&w, true);
		jw_key(&w, "remote_account"); jw_str(&w, l->acc->name);
		if (u != NULL) {
			leaf_write_perm(&w, "import", &u->perms.subscribe);
			leaf_write_perm(&w, "export", &u->perms.publish);
		}
	} else {
		jw_key(&w, "info_on_connect"); jw_bool(&w, true);
	}
	jw_key(&w, "leafnode_urls");
	jw_arr_begin(&w);
	jw_str(&w, url.data ? url.data : "");
	jw_arr_end(&w);
	jw_obj_end(&w);
	buf_append_str(out, " \r\n");
	buf_free(&url);
}

static bool leaf_secret_ok(const char *stored, const char *given)
{
	if (stored == NULL)
		return given == NULL || given[0] == '\0';
	if (given == NULL)
		given = "";
	size_t ls = strlen(stored), lg = strlen(given);
	unsigned char diff = (unsigned char)(ls != lg);
	for (size_t i = 0; i < ls && i < lg; i++)
		diff |= (unsigned char)(stored[i] ^ given[i]);
	return diff == 0;
}

static const struct opts_user *leaf_find_user(const struct opts_user *users,
					      size_t n, const char *user,
					      const char *pass)
{
	if (user == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (users[i].user != NULL && strcmp(users[i].user, user) == 0)
			return leaf_secret_ok(users[i].password, pass) ? &users[i]
								     : NULL;
	return NULL;
}

/* 2.9.10's isLeafNodeAuthorized: leafnodes.authorization user, then its
 * users, else the client users.  Returns the bound account or NULL. */
static struct account *leaf_authorize(struct server *s, const char *user,
				      const char *pass,
				      const struct opts_user **uout)
{
	const struct opts *o = s->opts;
	const struct opts_leafnodes *ln = &o->leafnodes;
	const struct opts_user *u = NULL;
	*uout = NULL;
	if (ln->auth_user != NULL) {
		if (user == NULL || strcmp(user, ln->auth_user) != 0 ||
		    !leaf_secret_ok(ln->auth_password, pass))
			return NULL;
		return ln->auth_account ? account_lookup(s, ln->auth_account)
					: s->global_acc;
	}
	if (ln->n_users > 0)
		u = leaf_find_user(ln->users, ln->n_users, user, pass);
	else if (!s->auth_required)
		return s->global_acc;
	else if (o->n_users > 0)
		u = leaf_find_user(o->users, o->n_users, user, pass);
	else if (o->username != NULL && user != NULL &&
		 strcmp(o->username, user) == 0 && leaf_secret_ok(o->password, pass))
		return s->global_acc;
	if (u == NULL)
		return NULL;
	*uout = u;
	return u->account ? account_lookup(s, u->account) : s->global_acc;
}

/* The accepting side swaps the user's permissions: what the leaf may
 * subscribe to is what this server may send it. */
static bool leaf_perms_from_user(struct leaf *l, const struct opts_user *u)
{
	struct mem *mem = &l->srv->mem;
	const struct opts_permissions *p = &u->perms;
	return leaf_list_add_all(mem, &l->perms.pub_allow, &p->subscribe.allow) &&
	       leaf_list_add_all(mem, &l->perms.pub_deny, &p->subscribe.deny) &&
	       leaf_list_add_all(mem, &l->perms.sub_allow, &p->publish.allow) &&
	       leaf_list_add_all(mem, &l->perms.sub_deny, &p->publish.deny);
}

static char *leaf_json_str(struct mem *mem, const struct json_doc *d,
			   const char *key)
{
	int t = json_obj_get(d, 0, key);
	if (t < 0 || json_type_of(d, t) != JSON_STRING)
		return NULL;
	struct buf b;
	buf_init(&b, mem);
	char *r = NULL;
	if (json_get_string(d, t, &b) && !b.oom)
		r = mem_strndup(mem, b.data ? b.data : "", b.len);
	buf_free(&b);
	return r;
}

/* Appends a JSON array of strings to a subject list. */
static bool leaf_json_list(struct mem *mem, const struct json_doc *d, int arr,
			   struct leaf_list *out)
{
	if (arr < 0 || json_type_of(d, arr) != JSON_ARRAY)
		return true;
	struct buf b;
	buf_init(&b, mem);
	bool ok = true;
	for (uint32_t i = 0; ok; i++) {
		int t = json_array_at(d, arr, i);
		if (t < 0)
			break;
		buf_reset(&b);
		if (json_get_string(d, t, &b) && !b.oom && b.len > 0)
			ok = leaf_list_add(mem, out, b.data, b.len);
	}
	buf_free(&b);
	return ok;
}

static void leaf_arm_ping(struct leaf *l, int64_t delay_ns)
{
	struct env *e = l->srv->env;
	e->timer_arm(e, l->ping_timer, env_now_mono_ns(e) + delay_ns);
}

/* Handshake done: interest flows from now on, pings start. */
static void leaf_register(struct leaf *l)
{
	struct server *s = l->srv;
	struct env *e = s->env;
	e->timer_disarm(e, l->hs_timer);
	/* Before the state changes: a mapping added here is announced by the
	 * first burst below, not a second time by leaf_mapping_added. */
	if (!leaf_js_domains(l)) {
		leaf_close(l, "Write Error");
		return;
	}
	l->state = LEAF_ACTIVE;
	s->leafnodes->nactive++;
	if (l->remote != NULL) {
		l->remote->attempts = 0;
		LEAF_LOG(LOGI, l, "Leafnode connection created for account: %s %s",
			 l->acc->name, l->remote_name ? l->remote_name : "");
	} else {
		LEAF_LOG(LOGI, l, "Leafnode connection created %s",
			 l->remote_name ? l->remote_name : "");
	}
	leaf_send_all_interest(l);
	/* The account's connection counts now include this link. */
	if (s->running && !l->closed)
		events_account_conns(s, l->acc);
	/* First PING after about a second, randomised by up to 20 %. */
	int64_t d = LEAF_FIRST_PING_NS;
	if (s->opts->ping_interval_ns < d)
		d = s->opts->ping_interval_ns;
	if (d / 5 > 0)
		d += (int64_t)prng_below(&s->prng, (uint64_t)(d / 5));
	leaf_arm_ping(l, d);
}

struct leaf_connect {
	char *user, *pass, *name, *server_id, *cluster, *domain;
	bool headers, is_hub, has_lang;
};

static void leaf_connect_free(struct mem *mem, struct leaf_connect *c)
{
	mem_free(mem, c->user);
	mem_free(mem, c->pass);
	mem_free(mem, c->name);
	mem_free(mem, c->server_id);
	mem_free(mem, c->cluster);
	mem_free(mem, c->domain);
}

static bool leaf_read_connect(struct leaf *l, const struct peer_msg *m,
			      struct leaf_connect *c)
{
	struct mem *mem = &l->srv->mem;
	struct json_doc d;
	if (json_parse(&d, mem, m->arg.ptr, m->arg.len) != 0 ||
	    json_type_of(&d, 0) != JSON_OBJECT) {
		json_doc_free(&d);
		return false;
	}
	c->user = leaf_json_str(mem, &d, "user");
	c->pass = leaf_json_str(mem, &d, "pass");
	c->name = leaf_json_str(mem, &d, "name");
	c->server_id = leaf_json_str(mem, &d, "server_id");
	c->cluster = leaf_json_str(mem, &d, "cluster");
	c->domain = leaf_json_str(mem, &d, "domain");
	json_obj_bool(&d, 0, "headers", &c->headers);
	json_obj_bool(&d, 0, "is_hub", &c->is_hub);
	c->has_lang = json_obj_get(&d, 0, "lang") >= 0;
	bool ok = leaf_json_list(mem, &d, json_obj_get(&d, 0, "deny_pub"),
				 &l->perms.pub_deny);
	json_doc_free(&d);
	return ok;
}

static void leaf_reject(struct leaf *l, const char *text, const char *reason)
{
	leaf_send_err(l, text);
	leaf_close(l, reason);
}

/* Accepting side: CONNECT from a soliciting server. */
static void leaf_process_connect(struct leaf *l, const struct peer_msg *m)
{
	struct server *s = l->srv;
	struct leaf_connect c = { 0 };
	if (l->state != LEAF_AWAIT_CONNECT || l->remote != NULL) {
		LEAF_LOG(LOGD, l, "Ignoring CONNECT on a connected leafnode");
		return;
	}
	if (!leaf_read_connect(l, m, &c)) {
		leaf_reject(l, "Authorization Violation", "Authentication Failure");
	} else if (c.has_lang) {
		LEAF_LOG(LOGE, l, "attempted to connect to leaf node port");
		leaf_reject(l, "attempted to connect to leaf node port",
			    "Protocol Violation");
	} else {
		const struct opts_user *u = NULL;
		struct account *acc = leaf_authorize(s, c.user, c.pass, &u);
		const char *cl = leaf_cluster_name(s);
		if (acc == NULL || acc->removed || (u && !leaf_perms_from_user(l, u))) {
			LEAF_LOG(LOGE, l, "Authorization Error - User \"%s\"",
				 c.user ? c.user : "");
			leaf_reject(l, "Authorization Violation",
				    "Authentication Failure");
		} else if (cl != NULL && c.cluster != NULL &&
			   strcmp(cl, c.cluster) == 0) {
			LEAF_LOG(LOGE, l, "remote leafnode has same cluster name");
			leaf_reject(l, "remote leafnode has same cluster name",
				    "Cluster Name Conflict");
		} else {
			l->acc = acc;
			l->headers = c.headers && !s->opts->no_header_support;
			l->is_spoke = c.is_hub;
			l->remote_name = c.name;
			l->remote_id = c.server_id;
			l->remote_cluster = c.cluster;
			l->remote_domain = c.domain;
			c.name = c.server_id = c.cluster = c.domain = NULL;
			struct buf info;
			buf_init(&info, &s->mem);
			leaf_build_info(l, true, u, &info);
			if (!info.oom)
				leaf_queue(l, info.data, info.len);
			buf_free(&info);
			if (!l->closed)
				leaf_register(l);
		}
	}
	leaf_connect_free(&s->mem, &c);
}

/* Soliciting side: the CONNECT we send after the first INFO. */
static void leaf_send_connect(struct leaf *l, const char *user,
			      const char *pass)
{
	struct server *s = l->srv;
	const struct opts_remote_leaf *ro = leaf_remote_opts(l->remote);
	struct buf out;
	buf_init(&out, &s->mem);
	buf_append_str(&out, "CONNECT ");
	struct jw w;
	jw_init(&w, &out);
	jw_obj_begin(&w);
	jw_key(&w, "version"); jw_str(&w, SERVER_NATS_VERSION);
	if (user != NULL) {
		jw_key(&w, "user"); jw_str(&w, user);
		jw_key(&w, "pass"); jw_str(&w, pass ? pass : "");
	}
	jw_key(&w, "tls_required"); jw_bool(&w, false);
	jw_key(&w, "server_id"); jw_str(&w, s->id);
	jw_key(&w, "domain"); jw_str(&w, leaf_local_domain(s));
	jw_key(&w, "name"); jw_str(&w, s->name);
	if (leaf_cluster_name(s) != NULL) {
		jw_key(&w, "cluster"); jw_str(&w, leaf_cluster_name(s));
	}
	if (ro != NULL && ro->hub) {
		jw_key(&w, "is_hub"); jw_bool(&w, true);
	}
	jw_key(&w, "headers"); jw_bool(&w, !s->opts->no_header_support);
	if (jetstream_is_enabled(s) && l->acc->js != NULL) {
		jw_key(&w, "jetstream"); jw_bool(&w, true);
	}
	if (ro != NULL)
		leaf_write_list(&w, "deny_pub", &ro->deny_imports);
	jw_obj_end(&w);
	buf_append_str(&out, "\r\n");
	if (!out.oom)
		leaf_queue(l, out.data, out.len);
	buf_free(&out);
}

/* ------------------------------------------------------ soliciting side */

struct leaf_url {
	char host[256];
	int port;
	char user[128];
	char pass[128];
	bool has_user;
};

static void leaf_copy(char *dst, size_t cap, const char *src, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* "[scheme://][user[:pass]@]host[:port]"; the port defaults to 7422. */
static bool leaf_parse_url(const char *url, struct leaf_url *u)
{
	memset(u, 0, sizeof(*u));
	u->port = LEAF_DEFAULT_PORT;
	const char *p = strstr(url, "://");
	p = p != NULL ? p + 3 : url;
	const char *end = p + strcspn(p, "/?");
	const char *at = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	if (at != NULL) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		const char *uend = colon != NULL ? colon : at;
		leaf_copy(u->user, sizeof(u->user), p, (size_t)(uend - p));
		if (colon != NULL)
			leaf_copy(u->pass, sizeof(u->pass), colon + 1,
				  (size_t)(at - colon - 1));
		u->has_user = true;
		p = at + 1;
	}
	const char *colon = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == ':')
			colon = q;
	const char *hend = colon != NULL ? colon : end;
	if (hend == p)
		return false;
	leaf_copy(u->host, sizeof(u->host), p, (size_t)(hend - p));
	if (colon != NULL) {
		int port = 0;
		for (const char *q = colon + 1; q < end; q++) {
			if (*q < '0' || *q > '9' || port > 65535)
				return false;
			port = port * 10 + (*q - '0');
		}
		if (port <= 0 || port > 65535)
			return false;
		u->port = port;
	}
	return true;
}

/* The hub's permissions from its second INFO, merged with ours:
 * export -> what we may send, import -> what we may announce. */
static bool leaf_apply_info_perms(struct leaf *l, const struct json_doc *d)
{
	struct mem *mem = &l->srv->mem;
	struct leaf_perms *p = &l->perms;
	int imp = json_obj_get(d, 0, "import");
	int exp = json_obj_get(d, 0, "export");
	bool ok = true;
	if (exp >= 0 && json_type_of(d, exp) == JSON_OBJECT)
		ok = leaf_json_list(mem, d, json_obj_get(d, exp, "allow"),
				    &p->pub_allow) &&
		     leaf_json_list(mem, d, json_obj_get(d, exp, "deny"),
				    &p->pub_deny);
	if (ok && imp >= 0 && json_type_of(d, imp) == JSON_OBJECT)
		ok = leaf_json_list(mem, d, json_obj_get(d, imp, "allow"),
				    &p->sub_allow) &&
		     leaf_json_list(mem, d, json_obj_get(d, imp, "deny"),
				    &p->sub_deny);
	return ok;
}

/* The first INFO from the hub: guard against a wrong port, then CONNECT. */
static void leaf_first_info(struct leaf *l, const struct json_doc *d)
{
	struct server *s = l->srv;
	int64_t cid = 0;
	int urls = json_obj_get(d, 0, "leafnode_urls");
	if (!json_obj_int(d, 0, "client_id", &cid) || cid == 0 || urls < 0 ||
	    json_type_of(d, urls) == JSON_NULL) {
		LEAF_LOG(LOGE, l, "attempted to connect to wrong port");
		leaf_close(l, "Protocol Violation");
		return;
	}
	l->remote_name = leaf_json_str(&s->mem, d, "server_name");
	l->remote_id = leaf_json_str(&s->mem, d, "server_id");
	l->remote_cluster = leaf_json_str(&s->mem, d, "cluster");
	l->remote_domain = leaf_json_str(&s->mem, d, "domain");
	bool headers = false, again = false;
	json_obj_bool(d, 0, "headers", &headers);
	json_obj_bool(d, 0, "info_on_connect", &again);
	l->headers = headers && !s->opts->no_header_support;
	const struct opts_remote_leaf *ro = leaf_remote_opts(l->remote);
	struct leaf_url u = { .has_user = false };
	if (ro != NULL && ro->n_urls > 0) {
		size_t idx = (l->remote->url_next + ro->n_urls - 1) % ro->n_urls;
		leaf_parse_url(ro->urls[idx], &u);
	}
	leaf_send_connect(l, u.has_user ? u.user : NULL, u.pass);
	if (l->closed)
		return;
	if (!again) {
		leaf_register(l);
		return;
	}
	struct env *e = s->env;
	l->state = LEAF_AWAIT_CONNECT_INFO;
	e->timer_arm(e, l->hs_timer, env_now_mono_ns(e) + LEAF_CONNECT_INFO_NS);
}

static void leaf_process_info(struct leaf *l, const struct peer_msg *m)
{
	struct server *s = l->srv;
	if (l->remote == NULL || l->state == LEAF_ACTIVE)
		return; /* async updates: leafnode_urls are not used yet */
	struct json_doc d;
	if (json_parse(&d, &s->mem, m->arg.ptr, m->arg.len) != 0 ||
	    json_type_of(&d, 0) != JSON_OBJECT) {
		json_doc_free(&d);
		leaf_close(l, "Parse Error");
		return;
	}
	if (l->state == LEAF_AWAIT_INFO) {
		leaf_first_info(l, &d);
	} else if (l->state == LEAF_AWAIT_CONNECT_INFO) {
		bool ci = false;
		json_obj_bool(&d, 0, "connect_info", &ci);
		if (ci) {
			if (leaf_apply_info_perms(l, &d))
				leaf_register(l);
			else
				leaf_close(l, "Write Error");
		}
	}
	json_doc_free(&d);
}

static bool leaf_contains(const struct peer_slice *text, const char *word)
{
	size_t n = strlen(word);
	for (size_t i = 0; i + n <= text->len; i++)
		if (memcmp(text->ptr + i, word, n) == 0)
			return true;
	return false;
}

/* -ERR from the peer: logged; the special ones set a longer reconnect
 * delay (and a loop closes the link). */
static void leaf_process_err(struct leaf *l, const struct peer_msg *m)
{
	LEAF_LOG(LOGE, l, "Leafnode Error '%.*s'", (int)m->arg.len, m->arg.ptr);
	bool loop = leaf_contains(&m->arg, "Loop detected");
	bool same = leaf_contains(&m->arg, "remote leafnode has same cluster name");
	bool perm = leaf_contains(&m->arg, "Permissions Violation");
	if (l->remote != NULL && (loop || same || perm))
		l->reconnect_delay_ns = LEAF_ERR_DELAY_NS;
	if (same)
		LEAF_LOG(LOGE, l, "Leafnode connection dropped with same cluster "
			 "name error. Delaying attempt to reconnect for 30s");
	if (loop)
		leaf_close(l, "Duplicate Route");
}

/* ------------------------------------------------------ read, dispatch */

static void leaf_process_pong(struct leaf *l)
{
	l->pings_out = 0;
	if (l->ping_sent_ns > 0) {
		l->rtt_ns = env_now_mono_ns(l->srv->env) - l->ping_sent_ns;
		l->ping_sent_ns = 0;
	}
}

static int leaf_on_op(void *arg, const struct peer_msg *m)
{
	struct leaf *l = arg;
	struct server *s = l->srv;
	if (l->closed)
		return 1;
	LOGT(&s->log, "%s:%d - lid:%llu - <<- [op %d %.*s]", l->ip, l->port,
	     (unsigned long long)l->cid, (int)m->op, (int)m->arg.len, m->arg.ptr);
	switch (m->op) {
	case PEER_OP_CONNECT: leaf_process_connect(l, m); break;
	case PEER_OP_INFO: leaf_process_info(l, m); break;
	case PEER_OP_PING: leaf_queue(l, PEER_PONG_LINE, 6); break;
	case PEER_OP_PONG: leaf_process_pong(l); break;
	case PEER_OP_ERR: leaf_process_err(l, m); break;
	case PEER_OP_OK:
	case PEER_OP_ACCOUNT_SUB:
	case PEER_OP_ACCOUNT_UNSUB:
		break;
	case PEER_OP_SUB:
	case PEER_OP_UNSUB:
	case PEER_OP_MSG:
	case PEER_OP_PUB:
		if (l->state != LEAF_ACTIVE) {
			/* Before the handshake only CONNECT/INFO count. */
			leaf_reject(l, "Authorization Violation",
				    "Authentication Failure");
			return 1;
		}
		if (m->op == PEER_OP_SUB)
			leaf_process_sub(l, m);
		else if (m->op == PEER_OP_UNSUB)
			leaf_process_unsub(l, m);
		else
			leaf_process_msg(l, m);
		break;
	}
	return l->closed ? 1 : 0;
}

static void leaf_read(struct leaf *l)
{
	struct server *s = l->srv;
	struct env *e = s->env;
	for (int round = 0; round < 16 && !l->closed; round++) {
		long n = e->sock_recv(e, l->sock, s->read_buf, READ_BUF_SIZE);
		if (n == ENV_EAGAIN)
			return;
		if (n <= 0) {
			leaf_close(l, n == 0 ? "Client Closed" : "Read Error");
			return;
		}
		long rc = peer_parse(&l->parser, s->read_buf, (size_t)n,
				     leaf_on_op, l, NULL);
		if (l->closed)
			return;
		if (rc < 0 && rc != PEER_STOPPED) {
			const char *text = peer_err_text((int)rc);
			if (text != NULL)
				leaf_send_err(l, text);
			leaf_close(l, "Parse Error");
			return;
		}
		if ((size_t)n < READ_BUF_SIZE)
			return;
	}
}

/* The TCP connect of a soliciting leaf finished. */
static void leaf_connected(struct leaf *l, unsigned events)
{
	struct server *s = l->srv;
	struct env *e = s->env;
	if (events & ENV_EV_ERROR) {
		struct leaf_remote *r = l->remote;
		r->attempts++;
		LOGE(&s->log, "Error trying to connect as leafnode to remote server "
		     "\"%s:%d\" (attempt %llu): connection refused", l->ip, l->port,
		     (unsigned long long)r->attempts);
		leaf_close(l, "Connect Error");
		return;
	}
	l->state = LEAF_AWAIT_INFO;
	l->want_write = false;
	e->sock_watch(e, l->sock, ENV_EV_READ, leaf_io, l);
	e->timer_arm(e, l->hs_timer, env_now_mono_ns(e) + LEAF_FIRST_INFO_NS);
	leaf_flush(l);
}

static void leaf_io(void *arg, int sock, unsigned events)
{
	struct leaf *l = arg;
	UNUSED(sock);
	if (l->closed)
		return;
	if (l->state == LEAF_CONNECTING) {
		leaf_connected(l, events);
		return;
	}
	if (events & ENV_EV_WRITE)
		leaf_flush(l);
	if (!l->closed && (events & (ENV_EV_READ | ENV_EV_ERROR)))
		leaf_read(l);
}

/* ------------------------------------------------------------- timers */

static void leaf_ping_fired(void *arg, int timer)
{
	struct leaf *l = arg;
	UNUSED(timer);
	if (l->closed)
		return;
	const struct opts *o = l->srv->opts;
	if (l->pings_out + 1 > o->ping_max) {
		LEAF_LOG(LOGD, l, "Stale Client Connection - Closing");
		leaf_send_err(l, "Stale Connection");
		leaf_close(l, "Stale Connection");
		return;
	}
	l->pings_out++;
	l->ping_sent_ns = env_now_mono_ns(l->srv->env);
	leaf_queue(l, PEER_PING_LINE, 6);
	leaf_arm_ping(l, o->ping_interval_ns);
}

static void leaf_hs_fired(void *arg, int timer)
{
	struct leaf *l = arg;
	UNUSED(timer);
	if (l->closed || l->state == LEAF_ACTIVE)
		return;
	if (l->state == LEAF_AWAIT_CONNECT) {
		leaf_reject(l, "Authentication Timeout", "Authentication Timeout");
	} else if (l->state == LEAF_AWAIT_CONNECT_INFO) {
		leaf_reject(l, "Stale Leaf Node Connection - Closing",
			    "Stale Connection");
	} else {
		LEAF_LOG(LOGE, l, "Error waiting for the leafnode's INFO: timeout");
		leaf_close(l, "Stale Connection");
	}
}

/* ---------------------------------------------------- create, close */

static struct leaf *leaf_new(struct server *s, int sock, const char *ip,
			     int port)
{
	struct env *e = s->env;
	struct leaf *l = mem_calloc(&s->mem, 1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->srv = s;
	l->cid = ++s->next_cid;
	l->sock = sock;
	snprintf(l->ip, sizeof(l->ip), "%s", ip);
	l->port = port;
	peer_parser_init(&l->parser, &s->mem, PEER_LEAF);
	l->parser.max_payload = s->opts->max_payload;
	hmap_init(&l->subs, &s->mem, prng_next(&s->prng));
	hmap_init(&l->smap, &s->mem, prng_next(&s->prng));
	buf_init(&l->out, &s->mem);
	l->ping_timer = e->timer_new(e, leaf_ping_fired, l);
	l->hs_timer = e->timer_new(e, leaf_hs_fired, l);
	link_insert_tail(&s->leafnodes->leafs, &l->node);
	return l;
}

static void leaf_free_one(struct leaf *l)
{
	struct server *s = l->srv;
	ASSERT(l->closed);
	size_t pos = 0;
	const struct hmap_entry *ent;
	while ((ent = hmap_next(&l->smap, &pos)) != NULL) {
		struct smap_ent *e = ent->value;
		mem_free(&s->mem, e->key);
		mem_free(&s->mem, e);
	}
	hmap_free(&l->smap);
	hmap_free(&l->subs);
	peer_parser_free(&l->parser);
	leaf_perms_free(&s->mem, &l->perms);
	buf_free(&l->out);
	mem_free(&s->mem, l->remote_name);
	mem_free(&s->mem, l->remote_id);
	mem_free(&s->mem, l->remote_cluster);
	mem_free(&s->mem, l->remote_domain);
	mem_free(&s->mem, l);
}

static void leaf_close(struct leaf *l, const char *reason)
{
	if (l->closed)
		return;
	struct server *s = l->srv;
	struct env *e = s->env;
	/* Best effort: a queued -ERR goes out before the socket closes. */
	if (l->out.len > 0 && l->state != LEAF_CONNECTING &&
	    strncmp(reason, "Slow", 4) != 0 && strcmp(reason, "Write Error") != 0)
		leaf_flush(l);
	if (l->closed)
		return;
	bool was_active = l->state == LEAF_ACTIVE;
	l->closed = true;
	if (was_active) {
		s->leafnodes->nactive--;
		leaf_remove_all_subs(l);
	}
	e->timer_free(e, l->ping_timer);
	e->timer_free(e, l->hs_timer);
	l->ping_timer = l->hs_timer = -1;
	if (l->sock >= 0)
		e->sock_close(e, l->sock);
	l->sock = -1;
	link_remove(&l->node);
	link_insert_tail(&s->leafnodes->dead, &l->node);
	if (was_active || l->state != LEAF_CONNECTING)
		LEAF_LOG(LOGI, l, "Leafnode connection closed: %s%s%s", reason,
			 l->acc ? " - Account: " : "", l->acc ? l->acc->name : "");
	/* As the reference, the global account's count is not re-sent. */
	if (was_active && s->running && l->acc != s->global_acc)
		events_account_conns(s, l->acc);
	struct leaf_remote *r = l->remote;
	if (r != NULL && r->leaf == l) {
		r->leaf = NULL;
		if (s->running) {
			int64_t d = l->reconnect_delay_ns > 0
					    ? l->reconnect_delay_ns
					    : s->opts->leafnodes.reconnect_delay_ns;
			leaf_remote_schedule(r, d);
		}
	}
}

static void leaf_accept_one(struct server *s, int sock, const char *ip,
			    int port)
{
	struct env *e = s->env;
	struct leaf *l = leaf_new(s, sock, ip, port);
	if (l == NULL) {
		e->sock_close(e, sock);
		return;
	}
	l->state = LEAF_AWAIT_CONNECT;
	LEAF_LOG(LOGD, l, "Leafnode connection accepted");
	struct buf info;
	buf_init(&info, &s->mem);
	leaf_build_info(l, false, NULL, &info);
	if (!info.oom)
		leaf_queue(l, info.data, info.len);
	buf_free(&info);
	e->sock_watch(e, sock, ENV_EV_READ, leaf_io, l);
	e->timer_arm(e, l->hs_timer, env_now_mono_ns(e) +
				       s->opts->leafnodes.auth_timeout_ns);
	leaf_flush(l);
}

static void leaf_accept_ready(void *arg, int sock, unsigned events)
{
	struct server *s = arg;
	struct env *e = s->env;
	UNUSED(events);
	for (int i = 0; i < 64 && s->running; i++) {
		char ip[64];
		int port = 0;
		int c = e->tcp_accept(e, sock, ip, &port);
		if (c == ENV_EAGAIN)
			return;
		if (c < 0) {
			LOGE(&s->log, "Error accepting leafnode connection: %s",
			     env_strerror(c));
			return;
		}
		leaf_accept_one(s, c, ip, port);
	}
}

/* ------------------------------------------------------------ remotes */

static void leaf_remote_connect(struct leaf_remote *r)
{
	struct server *s = r->srv;
	struct env *e = s->env;
	const struct opts_remote_leaf *o = leaf_remote_opts(r);
	if (!s->running || r->leaf != NULL || o == NULL || o->n_urls == 0)
		return;
	const char *url = o->urls[r->url_next % o->n_urls];
	r->url_next = (r->url_next + 1) % o->n_urls;
	struct leaf_url u;
	struct account *acc = account_lookup(s, o->account ? o->account : "$G");
	if (acc == NULL || !leaf_parse_url(url, &u)) {
		LOGE(&s->log, "Unable to use leafnode remote \"%s\" (account %s)",
		     url, o->account ? o->account : "$G");
		return;
	}
	LOGD(&s->log, "Trying to connect as leafnode to remote server on "
	     "\"%s:%d\"", u.host, u.port);
	struct leaf *l = leaf_new(s, -1, u.host, u.port);
	if (l == NULL) {
		leaf_remote_schedule(r, s->opts->leafnodes.reconnect_delay_ns);
		return;
	}
	l->remote = r;
	l->acc = acc;
	l->is_spoke = !o->hub;
	l->state = LEAF_CONNECTING;
	r->leaf = l;
	struct mem *mem = &s->mem;
	if (!leaf_list_add_all(mem, &l->perms.pub_deny, &o->deny_exports) ||
	    !leaf_list_add_all(mem, &l->perms.sub_deny, &o->deny_imports)) {
		leaf_close(l, "Write Error");
		return;
	}
	int sock = e->tcp_connect(e, u.host, u.port, ENV_LINK_LEAF, leaf_io, l);
	if (sock < 0) {
		r->attempts++;
		LOGE(&s->log, "Error trying to connect as leafnode to remote server "
		     "\"%s:%d\" (attempt %llu): %s", u.host, u.port,
		     (unsigned long long)r->attempts, env_strerror(sock));
		leaf_close(l, "Connect Error");
		return;
	}
	l->sock = sock;
}

static void leaf_remote_fired(void *arg, int timer)
{
	UNUSED(timer);
	leaf_remote_connect(arg);
}

/* Next attempt after delay_ns plus up to 10 % jitter, so that many leafs
 * of a restarted hub do not come back in lock step. */
static void leaf_remote_schedule(struct leaf_remote *r, int64_t delay_ns)
{
	struct env *e = r->srv->env;
	uint64_t rnd = 0;
	env_random(e, &rnd, sizeof(rnd));
	if (delay_ns / 10 > 0)
		delay_ns += (int64_t)(rnd % (uint64_t)(delay_ns / 10));
	e->timer_arm(e, r->timer, env_now_mono_ns(e) + delay_ns);
}

/* --------------------------------------------------------- public API */

static int leaf_listen(struct server *s, struct buf *err)
{
	struct leafnodes *ln = s->leafnodes;
	struct env *e = s->env;
	const struct opts_leafnodes *o = &s->opts->leafnodes;
	const char *host = o->host ? o->host : "0.0.0.0";
	int port = o->port < 0 ? 0 : o->port;
	snprintf(ln->host, sizeof(ln->host), "%s", host);
	int bound = 0;
	int sock = e->tcp_listen(e, host, port, ENV_LINK_LEAF, leaf_accept_ready,
				 s, &bound);
	if (sock < 0) {
		buf_appendf(err, "Error listening on leafnode port: %s:%d, \"%s\"",
			    host, port, env_strerror(sock));
		return -1;
	}
	ln->listen_sock = sock;
	ln->port = bound;
	LOGI(&s->log, "Listening for leafnode connections on %s:%d", host, bound);
	return 0;
}

int leaf_start(struct server *s, struct buf *err)
{
	const struct opts_leafnodes *o = &s->opts->leafnodes;
	if (o->port == 0 && o->n_remotes == 0)
		return 0;
	struct leafnodes *ln = mem_calloc(&s->mem, 1, sizeof(*ln));
	if (ln == NULL) {
		buf_append_str(err, "out of memory");
		return -1;
	}
	s->leafnodes = ln;
	ln->listen_sock = -1;
	link_init(&ln->leafs);
	link_init(&ln->dead);
	hmap_init(&ln->lds, &s->mem, prng_next(&s->prng));
	if (o->port != 0 && leaf_listen(s, err) != 0)
		return -1;
	if (o->n_remotes == 0)
		return 0;
	ln->remotes = mem_calloc(&s->mem, o->n_remotes, sizeof(*ln->remotes));
	if (ln->remotes == NULL) {
		buf_append_str(err, "out of memory");
		return -1;
	}
	ln->n_remotes = o->n_remotes;
	struct env *e = s->env;
	for (size_t i = 0; i < o->n_remotes; i++) {
		struct leaf_remote *r = &ln->remotes[i];
		r->srv = s;
		r->index = i;
		r->timer = e->timer_new(e, leaf_remote_fired, r);
		if (o->remotes[i].n_urls > 1 && !o->remotes[i].no_randomize)
			r->url_next = (size_t)prng_below(&s->prng,
							 o->remotes[i].n_urls);
		/* Connect once the server is running (next loop turn). */
		e->timer_arm(e, r->timer, env_now_mono_ns(e));
	}
	return 0;
}

void leaf_shutdown(struct server *s)
{
	struct leafnodes *ln = s->leafnodes;
	if (ln == NULL)
		return;
	struct env *e = s->env;
	if (ln->listen_sock >= 0) {
		e->sock_close(e, ln->listen_sock);
		ln->listen_sock = -1;
	}
	for (size_t i = 0; i < ln->n_remotes; i++)
		if (ln->remotes[i].timer >= 0) {
			e->timer_free(e, ln->remotes[i].timer);
			ln->remotes[i].timer = -1;
		}
	while (!link_empty(&ln->leafs)) {
		struct leaf *l = CONTAINER_OF(ln->leafs.next, struct leaf, node);
		leaf_close(l, "Server Shutdown");
	}
}

void leaf_turn_end(struct server *s)
{
	struct leafnodes *ln = s->leafnodes;
	if (ln == NULL)
		return;
	for (struct link *n = ln->leafs.next; n != &ln->leafs;) {
		struct leaf *l = CONTAINER_OF(n, struct leaf, node);
		n = n->next; /* a failed write moves l to the dead list */
		if (l->out.len > 0 && l->state != LEAF_CONNECTING)
			leaf_flush(l);
	}
	while (!link_empty(&ln->dead)) {
		struct leaf *l = CONTAINER_OF(ln->dead.next, struct leaf, node);
		link_remove(&l->node);
		leaf_free_one(l);
	}
}

void leaf_free(struct server *s)
{
	struct leafnodes *ln = s->leafnodes;
	if (ln == NULL)
		return;
	leaf_shutdown(s);
	leaf_turn_end(s);
	size_t pos = 0;
	const struct hmap_entry *ent;
	while ((ent = hmap_next(&ln->lds, &pos)) != NULL)
		mem_free(&s->mem, ent->value);
	hmap_free(&ln->lds);
	mem_free(&s->mem, ln->remotes);
	mem_free(&s->mem, ln);
	s->leafnodes = NULL;
}

size_t leaf_count(const struct server *s)
{
	return s->leafnodes != NULL ? s->leafnodes->nactive : 0;
}

int leaf_port(const struct server *s)
{
	return s->leafnodes != NULL ? s->leafnodes->port : 0;
}

size_t leaf_count_account(const struct server *s, const struct account *acc)
{
	const struct leafnodes *ln = s->leafnodes;
	size_t n = 0;
	if (ln == NULL)
		return 0;
	for (const struct link *p = ln->leafs.next; p != &ln->leafs; p = p->next) {
		const struct leaf *l = CONTAINER_OF(p, struct leaf, node);
		if (!l->closed && l->state == LEAF_ACTIVE && l->acc == acc)
			n++;
	}
	return n;
}

static int leaf_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The link's remote interest subjects, sorted so that the output does not
 * depend on the hash map's order. */
static void leaf_write_subs_list(struct server *s, struct jw *w,
				 const struct leaf *l)
{
	size_t n = l->subs.count;
	if (n == 0)
		return;
	const char **v = mem_calloc(&s->mem, n, sizeof(*v));
	if (v == NULL)
		return;
	size_t i = 0, pos = 0;
	const struct hmap_entry *ent;
	while ((ent = hmap_next(&l->subs, &pos)) != NULL && i < n)
		v[i++] = ((const struct sub *)ent->value)->subject;
	qsort(v, i, sizeof(*v), leaf_cmp_str);
	jw_key(w, "subscriptions_list");
	jw_arr_begin(w);
	for (size_t j = 0; j < i; j++)
		jw_str(w, v[j]);
	jw_arr_end(w);
	mem_free(&s->mem, v);
}

/* Go's getRTT: microseconds when under a millisecond, else as measured. */
static void leaf_write_rtt(struct jw *w, int64_t rtt_ns)
{
	char t[64];
	if (rtt_ns > 1000 && rtt_ns < 1000000)
		rtt_ns -= rtt_ns % 1000;
	timefmt_go_duration(rtt_ns, t);
	jw_key(w, "rtt");
	jw_str(w, t);
}

static void leaf_write_info(struct server *s, struct jw *w,
			    const struct leaf *l, bool subs)
{
	jw_obj_begin(w);
	jw_key(w, "account"); jw_str(w, l->acc->name);
	jw_key(w, "ip"); jw_str(w, l->ip);
	jw_key(w, "port"); jw_int(w, l->port);
	leaf_write_rtt(w, l->rtt_ns);
	jw_key(w, "in_msgs"); jw_uint(w, l->in_msgs);
	jw_key(w, "out_msgs"); jw_uint(w, l->out_msgs);
	jw_key(w, "in_bytes"); jw_uint(w, l->in_bytes);
	jw_key(w, "out_bytes"); jw_uint(w, l->out_bytes);
	jw_key(w, "subscriptions"); jw_uint(w, l->subs.count);
	if (subs)
		leaf_write_subs_list(s, w, l);
	jw_obj_end(w);
}

/* Is l a registered link listed by leafz for the account filter acc? */
static bool leaf_listed(const struct leaf *l, const char *acc)
{
	return !l->closed && l->state == LEAF_ACTIVE &&
	       (acc == NULL || acc[0] == '\0' || strcmp(l->acc->name, acc) == 0);
}

void leaf_write_leafz(struct server *s, struct jw *w, const char *acc,
		      bool subs)
{
	const struct leafnodes *ln = s->leafnodes;
	const struct link *p;
	size_t n = 0;
	for (p = ln != NULL ? ln->leafs.next : NULL; p != NULL && p != &ln->leafs;
	     p = p->next)
		n += leaf_listed(CONTAINER_OF(p, struct leaf, node), acc);
	jw_key(w, "leafnodes");
	jw_uint(w, n);
	jw_key(w, "leafs");
	if (n == 0) {
		jw_null(w);
		return;
	}
	jw_arr_begin(w);
	for (p = ln->leafs.next; p != &ln->leafs; p = p->next) {
		const struct leaf *l = CONTAINER_OF(p, struct leaf, node);
		if (leaf_listed(l, acc))
			leaf_write_info(s, w, l, subs);
	}
	jw_arr_end(w);
}
