/*
 * perms.c - per-connection permissions (see perms.h), following
 * nats-server 2.9.10's client.go: setPermissions, pubAllowedFullCheck,
 * canSubscribe, queueMatches, checkDenySub and the reply tracking of
 * deliverMsg.
 *
 * Lists are short in practice, so a check is a linear scan with
 * subject_matches; the publish cache keeps the hot path to one hash lookup.
 * Every cache is bounded: when it grows past its limit a few entries are
 * dropped in hash order (deterministic for a given seed).
 *
 * Invariants: pcache and dcache hold at most their limit; replies at most
 * PERMS_REPLIES_MAX after a prune; a cached answer never depends on
 * response permissions (those are checked on every miss).
 */
#include "perms.h"

#include <string.h>

#include "../lib/assert.h"
#include "../lib/hash.h"
#include "subject.h"

#define PRUNE_COUNT 32

struct perm_entry {
	char *subject;          /* owned */
	size_t subject_len;
	char *queue;            /* owned; NULL for plain entries */
	size_t queue_len;
};

struct perm_list {
	struct perm_entry *e;
	size_t n;
	bool set;               /* the list applies (an allow list may be empty) */
};

/* Cache entries own their key, which the hmap borrows. */
struct flag_ent {
	bool value;
	size_t len;
	char key[];
};

struct reply_ent {
	int64_t t_ns;           /* when the request was delivered */
	int64_t n;              /* responses sent so far */
	size_t len;
	char key[];
};

struct perms {
	struct mem *mem;
	struct perm_list pub_allow, pub_deny, sub_allow, sub_deny;
	bool has_pub;           /* a publish list applies */
	bool resp;              /* allow_responses */
	int64_t resp_max;       /* <= 0: unlimited */
	int64_t resp_expires_ns;/* <= 0: never */
	struct hmap pcache;     /* subject -> struct flag_ent */
	struct hmap replies;    /* reply subject -> struct reply_ent */
	bool deliver_filter;    /* a wildcard sub overlaps the deny list */
	struct hmap dcache;     /* subject -> struct flag_ent */
};

/* ------------------------------------------------------------ lists */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	       c == '\v';
}

/* "subject" or "subject queue" (the reference's splitSubjectQueue); a
 * third word makes the entry invalid, and it is skipped like there. */
static bool entry_split(const char *s, const char **subj, size_t *slen,
			const char **queue, size_t *qlen)
{
	const char *w[3];
	size_t l[3], n = 0;
	while (*s != '\0') {
		while (is_space(*s))
			s++;
		if (*s == '\0')
			break;
		const char *start = s;
		while (*s != '\0' && !is_space(*s))
			s++;
		if (n == 3)
			return false;
		w[n] = start;
		l[n++] = (size_t)(s - start);
	}
	if (n == 0 || n == 3)
		return false;
	*subj = w[0];
	*slen = l[0];
	*queue = n == 2 ? w[1] : NULL;
	*qlen = n == 2 ? l[1] : 0;
	return true;
}

static bool list_add(struct mem *mem, struct perm_list *l, const char *item,
		     bool with_queue)
{
	const char *subj = item, *queue = NULL;
	size_t slen = strlen(item), qlen = 0;
	if (with_queue && !entry_split(item, &subj, &slen, &queue, &qlen))
		return true; /* skipped, as the reference does */
	struct perm_entry *e = &l->e[l->n];
	memset(e, 0, sizeof(*e));
	e->subject = mem_strndup(mem, subj, slen);
	e->subject_len = slen;
	if (queue != NULL) {
		e->queue = mem_strndup(mem, queue, qlen);
		e->queue_len = qlen;
	}
	if (e->subject == NULL || (queue != NULL && e->queue == NULL)) {
		mem_free(mem, e->subject);
		mem_free(mem, e->queue);
		return false;
	}
	l->n++;
	return true;
}

static bool list_build(struct mem *mem, struct perm_list *l,
		       const struct opts_subject_list *src, bool set,
		       bool with_queue)
{
	l->set = set;
	if (!set || src->n == 0)
		return true;
	l->e = mem_calloc(mem, src->n, sizeof(*l->e));
	if (l->e == NULL)
		return false;
	for (size_t i = 0; i < src->n; i++)
		if (!list_add(mem, l, src->items[i], with_queue))
			return false;
	return true;
}

static void list_free(struct mem *mem, struct perm_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		mem_free(mem, l->e[i].subject);
		mem_free(mem, l->e[i].queue);
	}
	mem_free(mem, l->e);
	l->e = NULL;
	l->n = 0;
}

static void cache_clear(struct mem *mem, struct hmap *m)
{
	size_t pos = 0;
	struct hmap_entry *ent;
	while ((ent = hmap_next(m, &pos)) != NULL)
		mem_free(mem, ent->value);
	hmap_free(m);
}

struct perms *perms_new(struct mem *mem, uint64_t seed,
			const struct opts_permissions *o, bool *oom)
{
	*oom = false;
	if (o == NULL || !o->set)
		return NULL;
	struct perms *p = mem_calloc(mem, 1, sizeof(*p));
	if (p == NULL) {
		*oom = true;
		return NULL;
	}
	p->mem = mem;
	hmap_init(&p->pcache, mem, seed);
	hmap_init(&p->replies, mem, seed ^ 0x9e3779b97f4a7c15ULL);
	hmap_init(&p->dcache, mem, seed ^ 0xc2b2ae3d27d4eb4fULL);
	bool ok = list_build(mem, &p->pub_allow, &o->publish.allow,
			     o->publish.allow_set, false) &&
		  list_build(mem, &p->pub_deny, &o->publish.deny,
			     o->publish.deny.n > 0, false) &&
		  list_build(mem, &p->sub_allow, &o->subscribe.allow,
			     o->subscribe.allow.n > 0, true) &&
		  list_build(mem, &p->sub_deny, &o->subscribe.deny,
			     o->subscribe.deny.n > 0, true);
	if (!ok) {
		perms_free(p);
		*oom = true;
		return NULL;
	}
	p->has_pub = p->pub_allow.set || p->pub_deny.set;
	p->resp = o->allow_responses;
	p->resp_max = o->responses_max;
	p->resp_expires_ns = o->responses_expires_ns;
	return p;
}

void perms_free(struct perms *p)
{
	if (p == NULL)
		return;
	struct mem *mem = p->mem;
	list_free(mem, &p->pub_allow);
	list_free(mem, &p->pub_deny);
	list_free(mem, &p->sub_allow);
	list_free(mem, &p->sub_deny);
	cache_clear(mem, &p->pcache);
	cache_clear(mem, &p->replies);
	cache_clear(mem, &p->dcache);
	mem_free(mem, p);
}

/* ------------------------------------------------------------ caches */

static void cache_prune(struct mem *mem, struct hmap *m, size_t count)
{
	size_t pos = 0, n = 0;
	struct hmap_entry *ent;
	while (n < count && (ent = hmap_next(m, &pos)) != NULL) {
		void *v = hmap_del(m, ent->key, ent->key_len);
		mem_free(mem, v);
		n++;
	}
}

/* Remembers value for key; best effort (memory shortage just skips). */
static void cache_put(struct perms *p, struct hmap *m, size_t max,
		      const char *key, size_t len, bool value)
{
	if (m->count >= max)
		cache_prune(p->mem, m, PRUNE_COUNT);
	struct flag_ent *e = mem_alloc(p->mem, sizeof(*e) + len + 1);
	if (e == NULL)
		return;
	e->value = value;
	e->len = len;
	memcpy(e->key, key, len);
	e->key[len] = '\0';
	if (!hmap_put(m, e->key, len, e))
		mem_free(p->mem, e);
}

/* ------------------------------------------------------------ publish */

static bool list_matches_plain(const struct perm_list *l, const char *subj,
			       size_t len)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct perm_entry *e = &l->e[i];
		if (e->queue == NULL &&
		    subject_matches(subj, len, e->subject, e->subject_len))
			return true;
	}
	return false;
}

/* A response to a tracked reply subject: counts it, and forgets the
 * subject once the maximum or the expiry is reached. */
static bool reply_allowed(struct perms *p, const char *subj, size_t len,
			  int64_t now_ns)
{
	struct reply_ent *r = hmap_get(&p->replies, subj, len);
	if (r == NULL)
		return false;
	r->n++;
	bool over = p->resp_max > 0 && r->n > p->resp_max;
	bool expired = p->resp_expires_ns > 0 &&
		       now_ns - r->t_ns > p->resp_expires_ns;
	if (over || expired) {
		hmap_del(&p->replies, subj, len);
		mem_free(p->mem, r);
		return false;
	}
	return true;
}

bool perms_pub_allowed(struct perms *p, const char *subject, size_t len,
		       int64_t now_ns)
{
	if (p == NULL || !p->has_pub)
		return true;
	struct flag_ent *c = hmap_get(&p->pcache, subject, len);
	if (c != NULL)
		return c->value;
	bool allowed = true;
	if (p->pub_allow.set)
		allowed = list_matches_plain(&p->pub_allow, subject, len);
	if (allowed && p->pub_deny.set)
		allowed = !list_matches_plain(&p->pub_deny, subject, len);
	/* A denial that response permissions may lift is not cached. */
	if (!allowed && p->resp)
		return reply_allowed(p, subject, len, now_ns);
	cache_put(p, &p->pcache, PERMS_PUB_CACHE_MAX, subject, len, allowed);
	return allowed;
}

static void replies_prune(struct perms *p, int64_t now_ns)
{
	size_t pos = 0;
	struct hmap_entry *ent;
	while ((ent = hmap_next(&p->replies, &pos)) != NULL) {
		struct reply_ent *r = ent->value;
		if ((p->resp_max > 0 && r->n >= p->resp_max) ||
		    (p->resp_expires_ns > 0 &&
		     now_ns - r->t_ns > p->resp_expires_ns)) {
			hmap_del(&p->replies, r->key, r->len);
			mem_free(p->mem, r);
		}
	}
}

void perms_track_reply(struct perms *p, const char *reply, size_t len,
		       int64_t now_ns)
{
	if (p == NULL || !p->resp || len == 0)
		return;
	struct reply_ent *r = hmap_get(&p->replies, reply, len);
	if (r != NULL) {
		r->t_ns = now_ns;
		r->n = 0;
		return;
	}
	r = mem_alloc(p->mem, sizeof(*r) + len + 1);
	if (r == NULL)
		return;
	r->t_ns = now_ns;
	r->n = 0;
	r->len = len;
	memcpy(r->key, reply, len);
	r->key[len] = '\0';
	if (!hmap_put(&p->replies, r->key, len, r)) {
		mem_free(p->mem, r);
		return;
	}
	if (p->replies.count > PERMS_REPLIES_MAX)
		replies_prune(p, now_ns);
}

/* ------------------------------------------------------------ subscribe */

/* The reference's queueMatches over the queue entries matching subj. */
static bool queue_matches(const struct perm_list *l, const char *subj,
			  size_t len, const char *queue, size_t qlen)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct perm_entry *e = &l->e[i];
		if (e->queue == NULL ||
		    !subject_matches(subj, len, e->subject, e->subject_len))
			continue;
		if (e->queue_len == qlen && memcmp(e->queue, queue, qlen) == 0)
			return true;
		if (subject_has_wildcard(e->queue, e->queue_len) &&
		    subject_is_subset(queue, qlen, e->queue, e->queue_len))
			return true;
	}
	return false;
}

static bool list_has_queue_match(const struct perm_list *l, const char *subj,
				 size_t len)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct perm_entry *e = &l->e[i];
		if (e->queue != NULL &&
		    subject_matches(subj, len, e->subject, e->subject_len))
			return true;
	}
	return false;
}

/* A wildcard subscription that covers a denied subject: deliveries must
 * be filtered from now on. */
static void maybe_arm_filter(struct perms *p, const char *subj, size_t len)
{
	if (p->deliver_filter || !subject_has_wildcard(subj, len))
		return;
	for (size_t i = 0; i < p->sub_deny.n; i++) {
		const struct perm_entry *e = &p->sub_deny.e[i];
		if (e->queue == NULL &&
		    subject_is_subset(e->subject, e->subject_len, subj, len)) {
			p->deliver_filter = true;
			return;
		}
	}
}

bool perms_sub_allowed(struct perms *p, const char *subject, size_t len,
		       const char *queue, size_t queue_len)
{
	if (p == NULL)
		return true;
	bool q = queue != NULL && queue_len > 0;
	bool allowed = true;
	if (p->sub_allow.set) {
		allowed = list_matches_plain(&p->sub_allow, subject, len);
		if (q && list_has_queue_match(&p->sub_allow, subject, len))
			allowed = queue_matches(&p->sub_allow, subject, len,
						queue, queue_len);
	}
	if (allowed && p->sub_deny.set) {
		allowed = !list_matches_plain(&p->sub_deny, subject, len);
		if (q && list_has_queue_match(&p->sub_deny, subject, len))
			allowed = !queue_matches(&p->sub_deny, subject, len,
						 queue, queue_len);
		if (allowed)
			maybe_arm_filter(p, subject, len);
	}
	return allowed;
}

bool perms_deliver_denied(struct perms *p, const char *subject, size_t len)
{
	if (p == NULL || !p->deliver_filter)
		return false;
	struct flag_ent *c = hmap_get(&p->dcache, subject, len);
	if (c != NULL)
		return c->value;
	bool denied = list_matches_plain(&p->sub_deny, subject, len);
	cache_put(p, &p->dcache, PERMS_DENY_CACHE_MAX, subject, len, denied);
	return denied;
}

void perms_reset_deliver_filter(struct perms *p)
{
	if (p == NULL)
		return;
	p->deliver_filter = false;
	cache_clear(p->mem, &p->dcache);
}

/* ------------------------------------------------------------ JSON */

static void write_list(struct jw *w, const char *key,
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

static void write_perm(struct jw *w, const char *key, const struct opts_perm *pm)
{
	jw_key(w, key);
	if (!pm->set) {
		jw_null(w);
		return;
	}
	jw_obj_begin(w);
	write_list(w, "allow", &pm->allow);
	write_list(w, "deny", &pm->deny);
	jw_obj_end(w);
}

void perms_write_json(const struct opts_permissions *o, struct jw *w)
{
	jw_obj_begin(w);
	write_perm(w, "publish", &o->publish);
	write_perm(w, "subscribe", &o->subscribe);
	if (o->allow_responses) {
		jw_key(w, "responses");
		jw_obj_begin(w);
		jw_key(w, "max");
		jw_int(w, o->responses_max);
		jw_key(w, "ttl");
		jw_int(w, o->responses_expires_ns);
		jw_obj_end(w);
	}
	jw_obj_end(w);
}
