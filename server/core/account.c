/*
 * account.c - accounts (see account.h): creation from the options and
 * re-configuration on reload, subject mappings (configured ones, the
 * JetStream domain table of leafnode-protocol.md section 8.2 and
 * default_js_domain's reversed table), stream imports and their shadow
 * subscriptions.  Service imports and response maps live in service.c.
 *
 * Invariants: every account in server.accounts has a sublist; a shadow
 * sits in exactly one exporting account's sublist and its parent lists it;
 * an account's internal_subs and shadow_subs count what its sublist holds
 * besides client subscriptions.  Every shadow inserted or removed is
 * reported to leaf.c, which announces the interest over leaf links.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/assert.h"
#include "internal.h"
#include "leaf.h"
#include "server_int.h"
#include "subject.h"
#include "transform.h"

/* ------------------------------------------------------------ lifecycle */

static struct account *account_new(struct server *s, const char *name)
{
	struct account *a = mem_calloc(&s->mem, 1, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->name = mem_strdup(&s->mem, name);
	a->sl = sublist_new(&s->mem, prng_next(&s->prng),
			    !s->opts->disable_sublist_cache);
	if (a->name == NULL || a->sl == NULL) {
		if (a->sl != NULL)
			sublist_free(a->sl);
		mem_free(&s->mem, a->name);
		mem_free(&s->mem, a);
		return NULL;
	}
	a->srv = s;
	a->max_conns = a->max_subs = a->max_payload = -1;
	hmap_init(&a->responses, &s->mem, prng_next(&s->prng));
	hmap_init(&a->rrmap, &s->mem, prng_next(&s->prng));
	link_init(&a->resp_list);
	a->resp_timer = -1;
	link_insert_tail(&s->accounts, &a->node);
	return a;
}

struct account *account_lookup(struct server *s, const char *name)
{
	for (struct link *l = s->accounts.next; l != &s->accounts; l = l->next) {
		struct account *a = CONTAINER_OF(l, struct account, node);
		if (!a->removed && strcmp(a->name, name) == 0)
			return a;
	}
	return NULL;
}

/* Any account by name, removed ones included (a reload may revive one). */
static struct account *account_find_any(struct server *s, const char *name)
{
	for (struct link *l = s->accounts.next; l != &s->accounts; l = l->next) {
		struct account *a = CONTAINER_OF(l, struct account, node);
		if (strcmp(a->name, name) == 0)
			return a;
	}
	return NULL;
}

static void mappings_clear(struct server *s, struct account *a)
{
	for (size_t i = 0; i < a->n_mappings; i++) {
		struct mapping *m = &a->mappings[i];
		for (size_t j = 0; j < m->ndests; j++)
			transform_free(m->dests[j].tr);
		mem_free(&s->mem, m->dests);
		mem_free(&s->mem, m->src);
	}
	mem_free(&s->mem, a->mappings);
	a->mappings = NULL;
	a->n_mappings = 0;
}

static void stream_imports_clear(struct server *s, struct account *a)
{
	for (size_t i = 0; i < a->n_simports; i++) {
		struct stream_import *im = &a->simports[i];
		transform_free(im->tr);
		transform_free(im->rtr);
		mem_free(&s->mem, im->from);
		mem_free(&s->mem, im->to);
	}
	mem_free(&s->mem, a->simports);
	a->simports = NULL;
	a->n_simports = 0;
}

void accounts_free(struct server *s)
{
	for (struct link *l = s->accounts.next; l != &s->accounts; l = l->next) {
		struct account *a = CONTAINER_OF(l, struct account, node);
		service_account_clear(s, a);
	}
	/* Internal subs removed above are freed with the other dead subs
	 * before the sublists go. */
	while (s->dead_subs != NULL) {
		struct sub *sub = s->dead_subs;
		s->dead_subs = sub->next_free;
		conn_free_sub(s, sub);
	}
	while (!link_empty(&s->accounts)) {
		struct account *a = CONTAINER_OF(s->accounts.next, struct account,
						  node);
		link_remove(&a->node);
		mappings_clear(s, a);
		stream_imports_clear(s, a);
		hmap_free(&a->responses);
		hmap_free(&a->rrmap);
		sublist_free(a->sl);
		mem_free(&s->mem, a->name);
		mem_free(&s->mem, a);
	}
}

/* ------------------------------------------------------------ mappings */

struct dest_sort {
	const struct opts_mapping_dest *d;
	uint32_t weight;
	size_t order;
};

static int dest_cmp(const void *pa, const void *pb)
{
	const struct dest_sort *a = pa, *b = pb;
	if (a->weight != b->weight)
		return a->weight < b->weight ? -1 : 1;
	return a->order < b->order ? -1 : (a->order > b->order);
}

/* Destinations for this server: those scoped to our cluster if any, else
 * the unscoped ones; the source itself takes the weight left over. */
static size_t mapping_pick_dests(const struct server *s, const struct opts_mapping *om,
				 struct dest_sort *out, bool *have_src)
{
	const char *cluster = s->opts->cluster.name;
	size_t n = 0;
	for (int pass = 0; pass < 2 && n == 0; pass++) {
		for (size_t i = 0; i < om->n_dests; i++) {
			const struct opts_mapping_dest *d = &om->dests[i];
			bool scoped = d->cluster != NULL;
			if (pass == 0 && !(scoped && cluster != NULL &&
					   strcmp(d->cluster, cluster) == 0))
				continue;
			if (pass == 1 && scoped)
				continue;
			out[n].d = d;
			out[n].weight = (uint32_t)d->weight_percent;
			out[n].order = n;
			*have_src |= strcmp(d->subject, om->source) == 0;
			n++;
		}
	}
	return n;
}

static bool mapping_build(struct server *s, const struct opts_mapping *om,
			  struct mapping *m, struct buf *err)
{
	struct dest_sort *ds = mem_calloc(&s->mem, om->n_dests + 1, sizeof(*ds));
	if (ds == NULL)
		return false;
	bool have_src = false, ok = true;
	size_t n = mapping_pick_dests(s, om, ds, &have_src);
	uint32_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += ds[i].weight;
	m->wildcard = subject_has_wildcard(om->source, strlen(om->source));
	char *self = NULL;
	if ((total != 100 || n == 0) && !have_src) {
		self = m->wildcard ? transform_tokenize(&s->mem, om->source)
				   : mem_strdup(&s->mem, om->source);
		ds[n].weight = n == 0 ? 100 : 100 - total;
		ds[n].order = n;
		n++;
	}
	qsort(ds, n, sizeof(*ds), dest_cmp);
	m->src = mem_strdup(&s->mem, om->source);
	m->dests = mem_calloc(&s->mem, n, sizeof(*m->dests));
	ok = m->src != NULL && m->dests != NULL;
	uint32_t cum = 0;
	for (size_t i = 0; ok && i < n; i++) {
		const char *dest = ds[i].d != NULL ? ds[i].d->subject : self;
		if (dest == NULL)
			break;
		m->dests[i].tr = transform_new(&s->mem, om->source, dest, err);
		cum += ds[i].weight;
		m->dests[i].cum_weight = cum;
		ok = m->dests[i].tr != NULL;
		m->ndests = i + 1;
	}
	ok = ok && m->ndests == n;
	mem_free(&s->mem, self);
	mem_free(&s->mem, ds);
	return ok;
}

static int mappings_build(struct server *s, struct account *a,
			  const struct opts_mapping *maps, size_t n, struct buf *err)
{
	mappings_clear(s, a);
	if (n == 0)
		return 0;
	a->mappings = mem_calloc(&s->mem, n, sizeof(*a->mappings));
	if (a->mappings == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		a->n_mappings = i + 1;
		if (!mapping_build(s, &maps[i], &a->mappings[i], err)) {
			if (err->len == 0)
				buf_append_str(err, "out of memory");
			buf_appendf(err, " in mapping \"%s\" of account \"%s\"",
				    maps[i].source, a->name);
			return -1;
		}
	}
	return 0;
}

bool account_map_subject(struct server *s, const struct account *acc,
			 const char *subject, size_t len, struct buf *out)
{
	const struct mapping *m = NULL;
	for (size_t i = 0; i < acc->n_mappings && m == NULL; i++) {
		const struct mapping *c = &acc->mappings[i];
		size_t sl = strlen(c->src);
		if (c->wildcard ? subject_matches(subject, len, c->src, sl)
				: (sl == len && memcmp(c->src, subject, len) == 0))
			m = c;
	}
	if (m == NULL || m->ndests == 0)
		return false;
	const struct map_dest *d = &m->dests[0];
	if (!(m->ndests == 1 && d->cum_weight == 100)) {
		uint32_t w = (uint32_t)prng_below(&s->prng, 100);
		d = NULL;
		for (size_t i = 0; i < m->ndests && d == NULL; i++)
			if (w < m->dests[i].cum_weight)
				d = &m->dests[i];
		if (d == NULL)
			return false;
	}
	return transform_apply(d->tr, subject, len, out);
}

/* -------------------------------------------- added mappings, domains */

int account_add_mapping(struct server *s, struct account *acc,
			const char *src, const char *dest)
{
	for (size_t i = 0; i < acc->n_mappings; i++)
		if (strcmp(acc->mappings[i].src, src) == 0)
			return 0;
	struct mapping *maps = mem_realloc(&s->mem, acc->mappings,
					   (acc->n_mappings + 1) * sizeof(*maps));
	if (maps == NULL)
		return -1;
	acc->mappings = maps;
	struct mapping *m = &maps[acc->n_mappings];
	memset(m, 0, sizeof(*m));
	m->src = mem_strdup(&s->mem, src);
	m->wildcard = subject_has_wildcard(src, strlen(src));
	m->dests = mem_calloc(&s->mem, 1, sizeof(*m->dests));
	if (m->src != NULL && m->dests != NULL)
		m->dests[0].tr = transform_new(&s->mem, src, dest, NULL);
	if (m->dests == NULL || m->dests[0].tr == NULL) {
		mem_free(&s->mem, m->dests);
		mem_free(&s->mem, m->src);
		return -1;
	}
	m->dests[0].cum_weight = 100;
	m->ndests = 1;
	acc->n_mappings++;
	/* Mapping sources are interest a leaf peer must hear about. */
	leaf_mapping_added(s, acc, src);
	return 1;
}

/* generateJSMappingTable of the reference, in a fixed order. */
static const char *const js_domain_rows[ACCOUNT_JS_DOMAIN_ROWS][2] = {
	{ "INFO", "$JS.API.INFO" },
	{ "STREAM.>", "$JS.API.STREAM.>" },
	{ "CONSUMER.>", "$JS.API.CONSUMER.>" },
	{ "DIRECT.>", "$JS.API.DIRECT.>" },
	{ "META.>", "$JS.API.META.>" },
	{ "SERVER.>", "$JS.API.SERVER.>" },
	{ "ACCOUNT.>", "$JS.API.ACCOUNT.>" },
	{ "$KV.>", "$KV.>" },
	{ "$OBJ.>", "$OBJ.>" },
};

void account_js_domain_row(const char *domain, size_t i, struct buf *src,
			   struct buf *dest)
{
	ASSERT(i < ACCOUNT_JS_DOMAIN_ROWS);
	buf_reset(src);
	buf_appendf(src, "$JS.%s.API.%s", domain, js_domain_rows[i][0]);
	buf_reset(dest);
	buf_append_str(dest, js_domain_rows[i][1]);
}

bool account_add_js_domain_mappings(struct server *s, struct account *acc,
				    const char *domain)
{
	struct buf src, dest;
	buf_init(&src, &s->mem);
	buf_init(&dest, &s->mem);
	bool ok = true;
	for (size_t i = 0; i < ACCOUNT_JS_DOMAIN_ROWS && ok; i++) {
		account_js_domain_row(domain, i, &src, &dest);
		ok = !src.oom && !dest.oom &&
		     account_add_mapping(s, acc, src.data, dest.data) >= 0;
	}
	buf_free(&src);
	buf_free(&dest);
	if (ok)
		acc->js_domain_mapped = true;
	return ok;
}

const char *account_default_js_domain(const struct server *s,
				      const struct account *acc)
{
	const struct opts *o = s->opts;
	for (size_t i = 0; i < o->n_default_js_domain; i++)
		if (strcmp(o->default_js_domain_accounts[i], acc->name) == 0)
			return o->default_js_domain_domains[i];
	return NULL;
}

/* default_js_domain: the table reversed, so that unmodified clients of a
 * JetStream-less account reach the named domain's JetStream. */
static bool account_add_default_js_domain(struct server *s, struct account *a)
{
	const char *d = account_default_js_domain(s, a);
	if (d == NULL || d[0] == '\0')
		return true;
	if (a->opts != NULL && a->opts->jetstream) {
		LOGW(&s->log, "Skipping Default Domain \"%s\", set for JetStream "
		     "enabled account \"%s\"", d, a->name);
		return true;
	}
	struct buf src, dest;
	buf_init(&src, &s->mem);
	buf_init(&dest, &s->mem);
	bool ok = true;
	for (size_t i = 0; i < ACCOUNT_JS_DOMAIN_ROWS && ok; i++) {
		account_js_domain_row(d, i, &src, &dest);
		ok = !src.oom && !dest.oom;
		if (!ok)
			break;
		LOGI(&s->log, "Adding default domain mapping \"%s\" -> \"%s\" to "
		     "account \"%s\"", dest.data, src.data, a->name);
		ok = account_add_mapping(s, a, dest.data, src.data) >= 0;
	}
	buf_free(&src);
	buf_free(&dest);
	return ok;
}

/* Mappings that do not come from the account's own `mappings`: the
 * JetStream domain table once installed, and default_js_domain. */
static int account_add_js_mappings(struct server *s, struct account *a,
				   struct buf *err)
{
	const char *own = s->opts->jetstream.domain;
	bool ok = true;
	if (a->js_domain_mapped && own != NULL && own[0] != '\0')
		ok = account_add_js_domain_mappings(s, a, own);
	ok = ok && account_add_default_js_domain(s, a);
	if (!ok)
		buf_appendf(err, "could not add the JetStream domain mappings of "
			    "account \"%s\"", a->name);
	return ok ? 0 : -1;
}

/* ------------------------------------------------------------ stream imports */

/* Replaces "$n" tokens by '*' (the reference's transformUntokenize). */
static char *untokenize(struct mem *mem, const char *subject)
{
	struct buf b;
	buf_init(&b, mem);
	const char *p = subject;
	while (true) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		if (l > 1 && p[0] == '$' && p[1] >= '1' && p[1] <= '9')
			buf_append_char(&b, '*');
		else
			buf_append(&b, p, l);
		if (dot == NULL)
			break;
		buf_append_char(&b, '.');
		p = dot + 1;
	}
	if (b.oom || !buf_reserve(&b, 0)) {
		buf_free(&b);
		return NULL;
	}
	return b.data;
}

static char *import_to(struct mem *mem, const struct opts_import *oi)
{
	if (oi->prefix != NULL && oi->prefix[0] != '\0') {
		struct buf b;
		buf_init(&b, mem);
		buf_append_str(&b, oi->prefix);
		if (oi->prefix[strlen(oi->prefix) - 1] != '.')
			buf_append_char(&b, '.');
		buf_append_str(&b, oi->subject);
		if (b.oom) {
			buf_free(&b);
			return NULL;
		}
		return b.data;
	}
	return mem_strdup(mem, oi->to != NULL && oi->to[0] ? oi->to : oi->subject);
}

static int stream_import_build(struct server *s, struct account *a,
			       const struct opts_import *oi,
			       struct stream_import *im, struct buf *err)
{
	im->from_acc = account_lookup(s, oi->account);
	im->from = mem_strdup(&s->mem, oi->subject);
	char *to = import_to(&s->mem, oi);
	if (im->from_acc == NULL || im->from == NULL || to == NULL) {
		mem_free(&s->mem, to);
		buf_appendf(err, "stream import of \"%s\" in account \"%s\" failed",
			    oi->subject, a->name);
		return -1;
	}
	if (subject_has_wildcard(im->from, strlen(im->from)) &&
	    strcmp(to, im->from) != 0) {
		char *tok = transform_tokenize(&s->mem, to);
		im->tr = tok ? transform_new(&s->mem, im->from, tok, err) : NULL;
		im->rtr = im->tr ? transform_reverse(&s->mem, im->tr) : NULL;
		mem_free(&s->mem, tok);
		im->to = untokenize(&s->mem, to);
		mem_free(&s->mem, to);
		if (im->tr == NULL || im->rtr == NULL || im->to == NULL) {
			buf_appendf(err, " (stream import of \"%s\" in account \"%s\")",
				    oi->subject, a->name);
			return -1;
		}
	} else {
		im->use_pub = subject_has_wildcard(im->from, strlen(im->from));
		im->to = to;
	}
	return 0;
}

static int stream_imports_build(struct server *s, struct account *a, struct buf *err)
{
	stream_imports_clear(s, a);
	const struct opts_account *o = a->opts;
	size_t n = 0;
	for (size_t i = 0; o != NULL && i < o->n_imports; i++)
		n += o->imports[i].kind == OPTS_EXPORT_STREAM;
	if (n == 0)
		return 0;
	a->simports = mem_calloc(&s->mem, n, sizeof(*a->simports));
	if (a->simports == NULL)
		return -1;
	for (size_t i = 0; i < o->n_imports; i++) {
		if (o->imports[i].kind != OPTS_EXPORT_STREAM)
			continue;
		struct stream_import *im = &a->simports[a->n_simports++];
		if (stream_import_build(s, a, &o->imports[i], im, err) != 0)
			return -1;
	}
	return 0;
}

struct toks {
	const char *p[TRANSFORM_MAX_TOKENS];
	size_t l[TRANSFORM_MAX_TOKENS];
	size_t n;
};

static bool toks_split(const char *s, size_t len, struct toks *t)
{
	size_t start = 0;
	t->n = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (t->n == TRANSFORM_MAX_TOKENS)
			return false;
		t->p[t->n] = s + start;
		t->l[t->n++] = i - start;
		start = i + 1;
	}
	return true;
}

static bool tok_eq(const struct toks *t, size_t i, char c)
{
	return t->l[i] == 1 && t->p[i][0] == c;
}

/* The part of the client's wildcard subject sub that the import's subject
 * to covers, when they only overlap (the reference narrows '*' and a
 * trailing '>' with the import's tokens). */
static bool overlap_subject(const char *sub, const char *to, struct buf *out)
{
	struct toks a, b;
	if (!toks_split(sub, strlen(sub), &a) || !toks_split(to, strlen(to), &b))
		return false;
	buf_reset(out);
	for (size_t i = 0; i < a.n; i++) {
		const char *p = a.p[i];
		size_t l = a.l[i];
		bool last = i == a.n - 1;
		if (i < b.n && ((tok_eq(&a, i, '*') && !tok_eq(&b, i, '>')) ||
				(last && tok_eq(&a, i, '>')))) {
			p = b.p[i];
			l = b.l[i];
		}
		if (i > 0)
			buf_append_char(out, '.');
		buf_append(out, p, l);
	}
	if (tok_eq(&a, a.n - 1, '>'))
		for (size_t i = a.n; i < b.n; i++) {
			buf_append_char(out, '.');
			buf_append(out, b.p[i], b.l[i]);
		}
	return !out->oom && subject_is_subset(out->data, out->len, to, strlen(to));
}

/* The subject in the exporting account a shadow for subject needs, or
 * false when the import does not cover it. */
static bool shadow_subject_for(const struct stream_import *im, const char *subj,
			       size_t len, struct buf *out)
{
	size_t tl = strlen(im->to);
	const char *use = subj;
	size_t ulen = len;
	if (len == tl && memcmp(subj, im->to, len) == 0) {
		use = im->from;
		ulen = strlen(use);
	} else if (subject_is_subset(subj, len, im->to, tl)) {
		if (im->tr != NULL)
			return transform_apply(im->rtr, subj, len, out);
		if (!im->use_pub) {
			use = im->from;
			ulen = strlen(use);
		}
	} else if (!subject_has_wildcard(subj, len)) {
		return false;
	} else if (subject_is_subset(im->to, tl, subj, len)) {
		use = im->from;
		ulen = strlen(use);
	} else {
		char *copy = mem_strndup(out->mem, subj, len);
		bool ok = copy != NULL && overlap_subject(copy, im->to, out);
		mem_free(out->mem, copy);
		if (!ok)
			return false;
		if (im->tr == NULL)
			return true;
		char *ov = mem_strndup(out->mem, out->data, out->len);
		ok = ov != NULL && transform_apply(im->rtr, ov, strlen(ov), out);
		mem_free(out->mem, ov);
		return ok;
	}
	buf_reset(out);
	buf_append(out, use, ulen);
	return !out->oom;
}

static struct sub *shadow_new(struct server *s, struct sub *parent,
			      const struct stream_import *im, const struct buf *subj)
{
	struct sub *sh = mem_calloc(&s->mem, 1, sizeof(*sh));
	if (sh == NULL)
		return NULL;
	sh->subject = mem_strndup(&s->mem, subj->data, subj->len);
	sh->subject_len = subj->len;
	sh->queue = parent->queue;
	sh->queue_len = parent->queue_len;
	sh->sid = parent->sid;
	sh->sid_len = parent->sid_len;
	sh->conn = parent->conn;
	sh->queue_weight = 1;
	sh->parent = parent;
	sh->im = im;
	sh->acc = im->from_acc;
	if (sh->subject == NULL || sublist_insert(sh->acc->sl, sh) != SUBLIST_OK) {
		mem_free(&s->mem, sh->subject);
		mem_free(&s->mem, sh);
		return NULL;
	}
	sh->acc->shadow_subs++;
	leaf_interest_added(s, sh->acc, sh);
	return sh;
}

bool account_add_shadows(struct server *s, struct account *acc, struct sub *sub)
{
	if (acc->n_simports == 0)
		return true;
	struct buf subj;
	buf_init(&subj, &s->mem);
	bool ok = true;
	for (size_t i = 0; i < acc->n_simports && ok; i++) {
		const struct stream_import *im = &acc->simports[i];
		if (im->from_acc->removed ||
		    !shadow_subject_for(im, sub->subject, sub->subject_len, &subj))
			continue;
		if (!subject_is_valid(subj.data, subj.len))
			continue;
		struct sub **arr = mem_realloc(&s->mem, sub->shadows,
					       (sub->nshadows + 1) * sizeof(*arr));
		struct sub *sh = arr != NULL ? shadow_new(s, sub, im, &subj) : NULL;
		if (arr != NULL)
			sub->shadows = arr;
		if (sh == NULL) {
			ok = false;
			break;
		}
		sub->shadows[sub->nshadows++] = sh;
	}
	buf_free(&subj);
	if (!ok)
		account_remove_shadows(s, sub);
	return ok;
}

void account_remove_shadows(struct server *s, struct sub *sub)
{
	for (uint32_t i = 0; i < sub->nshadows; i++) {
		struct sub *sh = sub->shadows[i];
		int rc = sublist_remove(sh->acc->sl, sh);
		ASSERT(rc == SUBLIST_OK);
		leaf_interest_removed(s, sh->acc, sh);
		sh->acc->shadow_subs--;
		deliver_defer_free(s, sh);
	}
	mem_free(&s->mem, sub->shadows);
	sub->shadows = NULL;
	sub->nshadows = 0;
}

bool account_shadow_subject(const struct sub *shadow, const struct pubmsg *m,
			    struct buf *out, const char **subj, size_t *len)
{
	const struct stream_import *im = shadow->im;
	if (im->tr != NULL) {
		if (!transform_apply(im->tr, m->subject, m->subject_len, out))
			return false;
		*subj = out->data;
		*len = out->len;
	} else if (im->use_pub) {
		*subj = m->subject;
		*len = m->subject_len;
	} else {
		*subj = im->to;
		*len = strlen(im->to);
	}
	return true;
}

/* ------------------------------------------------------------ configuration */

static struct account *account_ensure(struct server *s, const char *name,
				      const struct opts_account *o)
{
	struct account *a = account_find_any(s, name);
	if (a == NULL)
		a = account_new(s, name);
	if (a == NULL)
		return NULL;
	a->removed = false;
	a->opts = o;
	a->max_conns = o != NULL ? o->max_connections : -1;
	a->max_subs = o != NULL ? o->max_subscriptions : -1;
	a->max_payload = o != NULL ? o->max_payload : -1;
	return a;
}

/* Creates or updates the accounts the options name, $G and the system
 * account; marks the others removed. */
static int accounts_declare(struct server *s, struct buf *err)
{
	const struct opts *o = s->opts;
	for (struct link *l = s->accounts.next; l != &s->accounts; l = l->next)
		CONTAINER_OF(l, struct account, node)->removed = true;
	s->global_acc = account_ensure(s, "$G", NULL);
	if (s->global_acc == NULL)
		goto nomem;
	for (size_t i = 0; i < o->n_accounts; i++)
		if (account_ensure(s, o->accounts[i].name, &o->accounts[i]) == NULL)
			goto nomem;
	s->system_acc = NULL;
	if (o->system_account != NULL) {
		s->system_acc = account_lookup(s, o->system_account);
		if (s->system_acc == NULL) {
			buf_appendf(err, "system account \"%s\" not defined",
				    o->system_account);
			return -1;
		}
	} else if (!o->no_system_account) {
		s->system_acc = account_lookup(s, "$SYS");
		if (s->system_acc == NULL)
			s->system_acc = account_ensure(s, "$SYS", NULL);
		if (s->system_acc == NULL)
			goto nomem;
	}
	return 0;
nomem:
	buf_append_str(err, "out of memory creating accounts");
	return -1;
}

static int accounts_check_users(struct server *s, struct buf *err)
{
	const struct opts *o = s->opts;
	for (size_t i = 0; i < o->n_users; i++) {
		const char *acc = o->users[i].account;
		if (acc != NULL && account_lookup(s, acc) == NULL) {
			buf_appendf(err, "%s:%d: user \"%s\" refers to unknown "
				    "account \"%s\"", o->users[i].file,
				    o->users[i].line,
				    o->users[i].user ? o->users[i].user : "",
				    acc);
			return -1;
		}
	}
	return 0;
}

/* Internal subscriptions (not shadows) of one account, collected. */
struct isub_list {
	struct mem *mem;
	struct sub **subs;
	size_t n, cap;
	bool oom;
};

static void isub_collect(void *arg, struct sub *sub)
{
	struct isub_list *l = arg;
	if (sub->icb == NULL || sub->parent != NULL || sub->removed || l->oom)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct sub **n = mem_realloc(l->mem, l->subs, cap * sizeof(*n));
		if (n == NULL) {
			l->oom = true;
			return;
		}
		l->subs = n;
		l->cap = cap;
	}
	l->subs[l->n++] = sub;
}

/* Internal subscriptions can have shadows too (a mirror's deliver
 * subject fed by an import): rebuilt like the clients'. */
static bool accounts_rebuild_internal_shadows(struct server *s)
{
	bool ok = true;
	for (struct link *l = s->accounts.next; l != &s->accounts; l = l->next) {
		struct account *a = CONTAINER_OF(l, struct account, node);
		if (a->internal_subs == 0)
			continue;
		struct isub_list il = { &s->mem, NULL, 0, 0, false };
		sublist_visit(a->sl, isub_collect, &il);
		ok &= !il.oom;
		for (size_t i = 0; i < il.n; i++) {
			account_remove_shadows(s, il.subs[i]);
			if (!a->removed)
				ok &= account_add_shadows(s, a, il.subs[i]);
		}
		mem_free(&s->mem, il.subs);
	}
	return ok;
}

/* Rebuilds the shadows of every client subscription (imports changed). */
static bool accounts_rebuild_shadows(struct server *s)
{
	bool ok = accounts_rebuild_internal_shadows(s);
	for (struct link *l = s->conns.next; l != &s->conns; l = l->next) {
		struct conn *c = CONTAINER_OF(l, struct conn, node);
		size_t pos = 0;
		struct hmap_entry *ent;
		while ((ent = hmap_next(&c->subs, &pos)) != NULL) {
			struct sub *sub = ent->value;
			account_remove_shadows(s, sub);
			ok &= account_add_shadows(s, c->acc, sub);
		}
	}
	return ok;
}

int accounts_configure(struct server *s, struct buf *err)
{
	if (accounts_declare(s, err) != 0 || accounts_check_users(s, err) != 0)
		return -1;
	for (struct link *l = s->accounts.next; l != &s->accounts; l = l->next) {
		struct account *a = CONTAINER_OF(l, struct account, node);
		service_imports_clear(s, a);
		stream_imports_clear(s, a);
		mappings_clear(s, a);
	}
	for (struct link *l = s->accounts.next; l != &s->accounts; l = l->next) {
		struct account *a = CONTAINER_OF(l, struct account, node);
		if (a->removed)
			continue;
		const struct opts_mapping *maps = a->opts ? a->opts->mappings : NULL;
		size_t nmaps = a->opts ? a->opts->n_mappings : 0;
		if (a == s->global_acc) {
			maps = s->opts->mappings;
			nmaps = s->opts->n_mappings;
		}
		if (mappings_build(s, a, maps, nmaps, err) != 0 ||
		    account_add_js_mappings(s, a, err) != 0 ||
		    stream_imports_build(s, a, err) != 0 ||
		    service_imports_build(s, a, err) != 0) {
			if (err->len == 0)
				buf_append_str(err, "out of memory configuring accounts");
			return -1;
		}
	}
	if (!accounts_rebuild_shadows(s)) {
		buf_append_str(err, "out of memory configuring stream imports");
		return -1;
	}
	return 0;
}
