/*
 * service.c - service imports and the response maps that carry replies
 * back across accounts (the design is described in account.h), following
 * nats-server 2.9.10's processServiceImport, addRespServiceImport and
 * checkForReverseEntry.
 *
 * Owns, per account: the service imports (each with an internal
 * subscription on its local subject), the response maps it holds as an
 * exporter (keyed by the "_R_" reply it handed out, also linked in a list
 * for expiry), the wildcard subscription that catches those replies, the
 * expiry timer, and as a requester the reverse index from its original
 * reply subjects to the maps pointing at them.
 *
 * Invariants: a response map is in its owner's responses table, in its
 * owner's resp_list and in exactly one reverse list of its destination;
 * a reverse list is never empty while it is in an rrmap.
 */
#include <string.h>

#include "../lib/assert.h"
#include "../lib/json.h"
#include "internal.h"
#include "server_int.h"
#include "subject.h"
#include "transform.h"

#define REPLY_ID_LEN 6
#define REQUEST_INFO_HDR "Nats-Request-Info"

struct rr_list {
	struct link head;              /* struct resp_map, via rr_node */
	size_t len;
	char key[];                    /* the requester's reply subject */
};

struct resp_map {
	struct account *owner;         /* holds it in responses */
	struct account *dest;          /* where responses are delivered */
	char *to;                      /* the reply subject there (owned) */
	size_t to_len;
	enum opts_response_type rt;
	int64_t threshold_ns;
	int64_t ts_ns;                 /* last activity (monotonic) */
	struct link node;              /* owner->resp_list */
	struct link rr_node;           /* rr->head */
	struct rr_list *rr;
	size_t key_len;
	char key[];                    /* "_R_.<prefix>.<id>" */
};

static void resp_map_remove(struct server *s, struct resp_map *rm);

/* ------------------------------------------------------------ expiry */

static void resp_timer_arm(struct server *s, struct account *a, int64_t at_ns)
{
	if (a->resp_timer < 0)
		return;
	if (a->resp_deadline_ns != 0 && a->resp_deadline_ns <= at_ns)
		return;
	a->resp_deadline_ns = at_ns;
	s->env->timer_arm(s->env, a->resp_timer, at_ns);
}

static void resp_timer_fired(void *arg, int timer)
{
	struct account *a = arg;
	struct server *srv = a->srv;
	UNUSED(timer);
	a->resp_deadline_ns = 0;
	struct link *l = a->resp_list.next;
	int64_t now = env_now_mono_ns(srv->env), next = 0;
	while (l != &a->resp_list) {
		struct resp_map *rm = CONTAINER_OF(l, struct resp_map, node);
		l = l->next;
		int64_t due = rm->ts_ns + rm->threshold_ns;
		if (due <= now)
			resp_map_remove(srv, rm);
		else if (next == 0 || due < next)
			next = due;
	}
	if (next != 0)
		resp_timer_arm(srv, a, next);
}

/* ------------------------------------------------------------ maps */

static void resp_sub_cb(void *arg, struct sub *sub, struct conn *from,
			struct account *acc, const struct pubmsg *m);

/* The account's "_R_.xxxxxx." prefix and the wildcard subscription under
 * it, made on first use. */
static bool resp_prefix_ensure(struct server *s, struct account *a)
{
	if (a->resp_prefix_len > 0)
		return true;
	char pre[sizeof(a->resp_prefix)];
	memcpy(pre, ACCOUNT_REPLY_PREFIX, 4);
	prng_base62(&s->prng, pre + 4, REPLY_ID_LEN);
	pre[4 + REPLY_ID_LEN] = '.';
	pre[5 + REPLY_ID_LEN] = '>';
	pre[6 + REPLY_ID_LEN] = '\0';
	a->resp_sub = internal_subscribe(s, a, pre, NULL, resp_sub_cb, a);
	if (a->resp_sub != NULL)
		a->resp_sub->forwards = true;
	if (a->resp_sub == NULL)
		return false;
	if (a->resp_timer < 0)
		a->resp_timer = s->env->timer_new(s->env, resp_timer_fired, a);
	memcpy(a->resp_prefix, pre, 5 + REPLY_ID_LEN);
	a->resp_prefix[5 + REPLY_ID_LEN] = '\0';
	a->resp_prefix_len = 5 + REPLY_ID_LEN;
	return true;
}

static bool rr_link(struct server *s, struct account *dest, struct resp_map *rm)
{
	struct rr_list *rr = hmap_get(&dest->rrmap, rm->to, rm->to_len);
	if (rr == NULL) {
		rr = mem_alloc(&s->mem, sizeof(*rr) + rm->to_len + 1);
		if (rr == NULL)
			return false;
		link_init(&rr->head);
		rr->len = rm->to_len;
		memcpy(rr->key, rm->to, rm->to_len + 1);
		if (!hmap_put(&dest->rrmap, rr->key, rr->len, rr)) {
			mem_free(&s->mem, rr);
			return false;
		}
	}
	link_insert_tail(&rr->head, &rm->rr_node);
	rm->rr = rr;
	return true;
}

/* Maps a fresh reply in owner to reply subject `to` in dest. */
static struct resp_map *resp_map_new(struct server *s, struct account *owner,
				     struct account *dest, const char *to,
				     size_t to_len, enum opts_response_type rt,
				     int64_t threshold_ns)
{
	if (!resp_prefix_ensure(s, owner))
		return NULL;
	size_t klen = owner->resp_prefix_len + REPLY_ID_LEN;
	struct resp_map *rm = mem_calloc(&s->mem, 1, sizeof(*rm) + klen + 1);
	if (rm == NULL)
		return NULL;
	rm->to = mem_strndup(&s->mem, to, to_len);
	memcpy(rm->key, owner->resp_prefix, owner->resp_prefix_len);
	do {
		prng_base62(&s->prng, rm->key + owner->resp_prefix_len, REPLY_ID_LEN);
	} while (hmap_get(&owner->responses, rm->key, klen) != NULL);
	rm->key[klen] = '\0';
	rm->key_len = klen;
	rm->owner = owner;
	rm->dest = dest;
	rm->to_len = to_len;
	rm->rt = rt;
	rm->threshold_ns = threshold_ns > 0 ? threshold_ns : ACCOUNT_RESP_THRESHOLD_NS;
	rm->ts_ns = env_now_mono_ns(s->env);
	link_init(&rm->rr_node);
	if (rm->to == NULL || !hmap_put(&owner->responses, rm->key, klen, rm)) {
		mem_free(&s->mem, rm->to);
		mem_free(&s->mem, rm);
		return NULL;
	}
	link_insert_tail(&owner->resp_list, &rm->node);
	if (!rr_link(s, dest, rm)) {
		resp_map_remove(s, rm);
		return NULL;
	}
	resp_timer_arm(s, owner, rm->ts_ns + rm->threshold_ns);
	return rm;
}

static void resp_map_remove(struct server *s, struct resp_map *rm)
{
	void *v = hmap_del(&rm->owner->responses, rm->key, rm->key_len);
	ASSERT(v == rm);
	link_remove(&rm->node);
	if (rm->rr != NULL) {
		link_remove(&rm->rr_node);
		if (link_empty(&rm->rr->head)) {
			hmap_del(&rm->dest->rrmap, rm->rr->key, rm->rr->len);
			mem_free(&s->mem, rm->rr);
		}
	}
	mem_free(&s->mem, rm->to);
	mem_free(&s->mem, rm);
}

size_t account_pending_responses(const struct account *acc)
{
	return acc->responses.count;
}

/* ------------------------------------------------------------ messages */

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len > n && memcmp(s, prefix, n) == 0;
}

static bool header_has(const char *hdr, size_t len, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i + 2 + kl < len; i++)
		if (hdr[i] == '\r' && hdr[i + 1] == '\n' &&
		    memcmp(hdr + i + 2, key, kl) == 0 && hdr[i + 2 + kl] == ':')
			return true;
	return false;
}

/* The request as the exporter sees it: with a Nats-Request-Info header
 * naming the requesting account (kept as is when a previous import
 * already added one). */
static bool request_with_info(struct server *s, struct conn *from,
			      const struct account *acc, const struct account *dest,
			      const struct pubmsg *m, struct buf *out,
			      struct pubmsg *nm)
{
	*nm = *m;
	if (m->header_len > 0 && header_has(m->data, m->header_len, REQUEST_INFO_HDR))
		return true;
	if (m->header_len >= 4)
		buf_append(out, m->data, m->header_len - 2);
	else
		buf_append_str(out, "NATS/1.0\r\n");
	buf_append_str(out, REQUEST_INFO_HDR ": ");
	struct jw w;
	jw_init(&w, out);
	jw_obj_begin(&w);
	jw_key(&w, "acc");
	jw_str(&w, acc->name);
	if (from != NULL && from->rtt_ns > 0) {
		jw_key(&w, "rtt");
		jw_int(&w, from->rtt_ns);
	}
	if (dest == s->system_acc) {
		jw_key(&w, "server");
		jw_str(&w, s->name);
	}
	jw_obj_end(&w);
	buf_append_str(out, "\r\n\r\n");
	size_t hlen = out->len;
	buf_append(out, m->data + m->header_len, m->total_len - m->header_len);
	if (out->oom)
		return false;
	nm->data = out->data;
	nm->header_len = hlen;
	nm->total_len = out->len;
	return true;
}

/* A request caught by a service import's subscription in the importing
 * account: forward it to the exporter with a mapped reply. */
static void svc_request_cb(void *arg, struct sub *sub, struct conn *from,
			   struct account *acc, const struct pubmsg *m)
{
	struct svc_import *si = arg;
	struct server *s = si->acc->srv;
	UNUSED(sub);
	if (si->dest->removed)
		return;
	struct buf subj, mapped, body;
	buf_init(&subj, &s->mem);
	buf_init(&mapped, &s->mem);
	buf_init(&body, &s->mem);
	struct resp_map *rm = NULL;
	struct pubmsg nm;
	char key[sizeof(si->dest->resp_prefix) + REPLY_ID_LEN];
	const char *to = si->remote;
	size_t to_len = strlen(to);
	if (si->tr != NULL && transform_apply(si->tr, m->subject, m->subject_len, &subj)) {
		to = subj.data;
		to_len = subj.len;
	} else if (si->use_pub) {
		to = m->subject;
		to_len = m->subject_len;
	}
	if (si->dest->n_mappings > 0 &&
	    account_map_subject(s, si->dest, to, to_len, &mapped)) {
		to = mapped.data;
		to_len = mapped.len;
	}
	if (!request_with_info(s, from, acc, si->dest, m, &body, &nm))
		goto out;
	nm.subject = to;
	nm.subject_len = to_len;
	if (m->reply_len > 0 && !has_prefix(m->reply, m->reply_len, "$JS.ACK.")) {
		rm = resp_map_new(s, si->dest, acc, m->reply, m->reply_len, si->rt,
				  si->threshold_ns);
		if (rm == NULL)
			goto out;
		/* A synchronous responder may end the map during delivery. */
		memcpy(key, rm->key, rm->key_len + 1);
		nm.reply = key;
		nm.reply_len = rm->key_len;
	}
	if (!deliver_msg(s, si->dest, from, &nm, DELIVER_FROM_SERVICE) && rm != NULL &&
	    (rm = hmap_get(&si->dest->responses, key, nm.reply_len)) != NULL)
		resp_map_remove(s, rm);
out:
	buf_free(&subj);
	buf_free(&mapped);
	buf_free(&body);
}

/* A response (or any message) on the exporter's "_R_.<prefix>.>". */
static void resp_sub_cb(void *arg, struct sub *sub, struct conn *from,
			struct account *acc, const struct pubmsg *m)
{
	struct account *a = arg;
	struct server *s = a->srv;
	UNUSED(sub);
	UNUSED(acc);
	struct resp_map *rm = hmap_get(&a->responses, m->subject, m->subject_len);
	if (rm == NULL || rm->dest->removed)
		return;
	/* The delivery may end rm (an auto-unsubscribe drops the interest),
	 * so the message refers to copies. */
	struct buf to;
	buf_init(&to, &s->mem);
	buf_append(&to, rm->to, rm->to_len);
	char key[sizeof(a->resp_prefix) + REPLY_ID_LEN];
	struct account *dest = rm->dest;
	struct pubmsg nm = *m;
	nm.subject = to.data;
	nm.subject_len = to.len;
	nm.reply = "";
	nm.reply_len = 0;
	struct resp_map *back = NULL;
	if (m->reply_len > 0 && !has_prefix(m->reply, m->reply_len, "$JS.ACK.")) {
		/* A response that wants an answer itself: map that too. */
		back = resp_map_new(s, dest, a, m->reply, m->reply_len, rm->rt,
				    rm->threshold_ns);
		if (back != NULL) {
			memcpy(key, back->key, back->key_len + 1);
			nm.reply = key;
			nm.reply_len = back->key_len;
		}
	} else if (m->reply_len > 0) {
		nm.reply = m->reply;
		nm.reply_len = m->reply_len;
	}
	bool delivered = !to.oom &&
			 deliver_msg(s, dest, from, &nm, DELIVER_FROM_SERVICE);
	buf_free(&to);
	if (!delivered && back != NULL &&
	    (back = hmap_get(&dest->responses, key, nm.reply_len)) != NULL)
		resp_map_remove(s, back);
	rm = hmap_get(&a->responses, m->subject, m->subject_len);
	if (rm == NULL)
		return;
	if (!delivered || rm->rt == OPTS_RESPONSE_SINGLETON || m->total_len == 0)
		resp_map_remove(s, rm);
	else
		rm->ts_ns = env_now_mono_ns(s->env);
}

/* ------------------------------------------------------------ interest */

static void rr_drop(struct server *s, struct rr_list *rr)
{
	while (!link_empty(&rr->head)) {
		struct resp_map *rm = CONTAINER_OF(rr->head.next, struct resp_map,
						   rr_node);
		bool last = rm->rr_node.next == &rr->head;
		resp_map_remove(s, rm);
		if (last)
			break; /* rr itself was freed with the last map */
	}
}

void account_sub_removed(struct server *s, struct account *acc,
			 const char *subject, size_t len)
{
	if (acc->rrmap.count == 0)
		return;
	if (!subject_has_wildcard(subject, len)) {
		struct rr_list *rr = hmap_get(&acc->rrmap, subject, len);
		if (rr != NULL && !sublist_has_interest(acc->sl, subject, len))
			rr_drop(s, rr);
		return;
	}
	size_t pos = 0;
	struct hmap_entry *ent;
	while ((ent = hmap_next(&acc->rrmap, &pos)) != NULL) {
		struct rr_list *rr = ent->value;
		if (subject_matches(rr->key, rr->len, subject, len) &&
		    !sublist_has_interest(acc->sl, rr->key, rr->len))
			rr_drop(s, rr);
	}
}

/* ------------------------------------------------------------ imports */

/* The exporter's service export for subject: exact first, then any export
 * whose subject contains it. */
static const struct opts_export *find_export(const struct account *dest,
					     const char *subject)
{
	const struct opts_account *o = dest->opts;
	size_t len = strlen(subject);
	for (size_t i = 0; o != NULL && i < o->n_exports; i++)
		if (o->exports[i].kind == OPTS_EXPORT_SERVICE &&
		    strcmp(o->exports[i].subject, subject) == 0)
			return &o->exports[i];
	for (size_t i = 0; o != NULL && i < o->n_exports; i++) {
		const struct opts_export *e = &o->exports[i];
		if (e->kind == OPTS_EXPORT_SERVICE &&
		    subject_is_subset(subject, len, e->subject, strlen(e->subject)))
			return e;
	}
	return NULL;
}

static int svc_import_build(struct server *s, struct account *a,
			    const struct opts_import *oi, struct svc_import *si,
			    struct buf *err)
{
	si->acc = a;
	si->dest = account_lookup(s, oi->account);
	si->local = mem_strdup(&s->mem, oi->to != NULL ? oi->to : oi->subject);
	si->remote = mem_strdup(&s->mem, oi->subject);
	if (si->dest == NULL || si->local == NULL || si->remote == NULL)
		goto fail;
	const struct opts_export *e = find_export(si->dest, si->remote);
	si->rt = e != NULL ? e->response_type : OPTS_RESPONSE_SINGLETON;
	si->threshold_ns = e != NULL ? e->response_threshold_ns : 0;
	if (subject_has_wildcard(si->local, strlen(si->local))) {
		if (strcmp(si->local, si->remote) == 0) {
			si->use_pub = true;
		} else {
			char *tok = transform_tokenize(&s->mem, si->remote);
			si->tr = tok ? transform_new(&s->mem, si->local, tok, err) : NULL;
			mem_free(&s->mem, tok);
			if (si->tr == NULL)
				goto fail;
		}
	}
	si->sub = internal_subscribe(s, a, si->local, NULL, svc_request_cb, si);
	if (si->sub != NULL)
		si->sub->forwards = true;
	if (si->sub == NULL)
		goto fail;
	return 0;
fail:
	buf_appendf(err, "%sservice import of \"%s\" in account \"%s\" failed",
		    err->len ? ": " : "", oi->subject, a->name);
	return -1;
}

void service_imports_clear(struct server *s, struct account *a)
{
	for (size_t i = 0; i < a->n_svc_imports; i++) {
		struct svc_import *si = &a->svc_imports[i];
		internal_unsubscribe(s, si->sub);
		transform_free(si->tr);
		mem_free(&s->mem, si->local);
		mem_free(&s->mem, si->remote);
	}
	mem_free(&s->mem, a->svc_imports);
	a->svc_imports = NULL;
	a->n_svc_imports = 0;
}

int service_imports_build(struct server *s, struct account *a, struct buf *err)
{
	const struct opts_account *o = a->opts;
	a->srv = s;
	size_t n = 0;
	for (size_t i = 0; o != NULL && i < o->n_imports; i++)
		n += o->imports[i].kind == OPTS_EXPORT_SERVICE;
	if (n == 0)
		return 0;
	a->svc_imports = mem_calloc(&s->mem, n, sizeof(*a->svc_imports));
	if (a->svc_imports == NULL)
		return -1;
	for (size_t i = 0; i < o->n_imports; i++) {
		if (o->imports[i].kind != OPTS_EXPORT_SERVICE)
			continue;
		struct svc_import *si = &a->svc_imports[a->n_svc_imports++];
		if (svc_import_build(s, a, &o->imports[i], si, err) != 0)
			return -1;
	}
	return 0;
}

void service_account_clear(struct server *s, struct account *a)
{
	service_imports_clear(s, a);
	while (!link_empty(&a->resp_list))
		resp_map_remove(s, CONTAINER_OF(a->resp_list.next, struct resp_map,
						node));
	internal_unsubscribe(s, a->resp_sub);
	a->resp_sub = NULL;
	a->resp_prefix_len = 0;
	if (a->resp_timer >= 0)
		s->env->timer_free(s->env, a->resp_timer);
	a->resp_timer = -1;
	a->resp_deadline_ns = 0;
}
