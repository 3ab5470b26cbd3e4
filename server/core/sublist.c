/*
 * sublist.c - the subscription index: a token trie plus a match cache.
 *
 * Owns the trie nodes, the cached results and the scratch arrays used to
 * build results; the struct sub pointers are borrowed from connections.
 *
 * Trie: a level holds its literal children in a seeded hmap keyed by token
 * and its '*' and '>' children in dedicated pointers.  A node holds the
 * plain subs whose subject ends there and its queue subs grouped by name,
 * both in insertion order, so results never depend on pointer values.
 *
 * Invariants (checked by sublist_invariants):
 *  - every node has a sub or a child (remove and failed inserts prune);
 *  - a node's queue groups are non-empty and have distinct names;
 *  - count is the number of subs stored;
 *  - a cached result equals what a fresh match would build, in order; the
 *    cache holds one reference on it and lists it in insertion order, which
 *    is also the eviction order.
 */
#include "sublist.h"

#include <string.h>

#include "../lib/assert.h"
#include "../lib/hash.h"
#include "subject.h"

/* Same bound as the reference's slCacheMax. */
#define SUBLIST_CACHE_MAX 1024

struct sl_node;

struct sl_level {
	struct hmap nodes;            /* literal token -> struct sl_node */
	struct sl_node *pwc;          /* the '*' child */
	struct sl_node *fwc;          /* the '>' child */
};

struct sl_subs {
	struct sub **v;
	size_t n;
	size_t cap;
};

struct sl_node {
	struct sl_level next;         /* children: the following token */
	struct sl_subs psubs;         /* plain subs, insertion order */
	struct sl_subs *qgroups;      /* one per queue name, first-insert order;
				       * the name is members' v[0]->queue */
	size_t nqgroups;
	size_t qgroups_cap;
	size_t token_len;
	char token[];                 /* key in the parent's map */
};

/* A result and, when cached, its cache links and key, in one allocation. */
struct sl_block {
	struct sublist_result r;      /* first: a result pointer is a block */
	struct sl_block *older;       /* cache FIFO while cached */
	struct sl_block *newer;
	bool cached;
	const char *key;              /* inside this block */
	size_t key_len;
};

/* Queue members gathered during a match, before they are laid out. */
struct sl_qent {
	size_t group;
	struct sub *sub;
};

struct sl_sgroup {
	const char *name;
	size_t name_len;
	size_t count;
	size_t cursor;                /* fill position while laying out */
};

struct sl_scratch {
	struct sub **psubs;
	size_t npsubs, psubs_cap;
	struct sl_qent *qents;
	size_t nqents, qents_cap;
	struct sl_sgroup *groups;
	size_t ngroups, groups_cap;
	bool oom;
};

struct sublist {
	struct mem *mem;
	uint64_t seed;                /* for every level's token map */
	bool cache_enabled;
	struct sl_level root;
	size_t count;                 /* subs stored */
	uint64_t inserts;
	uint64_t removes;
	uint64_t matches;
	uint64_t cache_hits;
	struct hmap cache;            /* subject -> struct sl_block */
	struct sl_block *oldest;      /* cache FIFO ends */
	struct sl_block *newest;
	struct sl_block empty;        /* shared empty result; we hold one ref */
	struct sl_scratch scratch;
};

/* Called per matching node in match order; returns false to stop. */
typedef bool (*sl_node_fn)(const struct sl_node *n, void *arg);

static bool sub_is_queue(const struct sub *s)
{
	return s->queue != NULL;
}

static bool token_is(const char *t, size_t tl, char c)
{
	return tl == 1 && t[0] == c;
}

static bool subject_has_empty_token(const char *s, size_t len)
{
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return true;
	for (const char *p = s, *end = s + len - 1;
	     (p = memchr(p, '.', (size_t)(end - p))) != NULL; p++)
		if (p[1] == '.')
			return true;
	return false;
}

static const char *queue_name(const struct sl_subs *g, size_t *len)
{
	ASSERT(g->n > 0);
	*len = g->v[0]->queue_len;
	return g->v[0]->queue;
}

static bool names_equal(const char *a, size_t al, const char *b, size_t bl)
{
	return al == bl && memcmp(a, b, al) == 0;
}

/* ---- levels and nodes ---------------------------------------------- */

static bool level_is_empty(const struct sl_level *l)
{
	return l->nodes.count == 0 && l->pwc == NULL && l->fwc == NULL;
}

static struct sl_node *level_get(const struct sl_level *l, const char *t, size_t tl)
{
	if (tl == 1 && (t[0] == '*' || t[0] == '>'))
		return t[0] == '*' ? l->pwc : l->fwc;
	if (l->nodes.count == 0)
		return NULL;
	return hmap_get(&l->nodes, t, tl);
}

/* Literal lookup for matching: a published "*" token is a literal and so
 * never finds the '*' child here (the walk visits that one separately). */
static struct sl_node *level_get_literal(const struct sl_level *l, const char *t,
					 size_t tl)
{
	if (l->nodes.count == 0)
		return NULL;
	return hmap_get(&l->nodes, t, tl);
}

static bool node_is_empty(const struct sl_node *n)
{
	return n->psubs.n == 0 && n->nqgroups == 0 && level_is_empty(&n->next);
}

static struct sl_node *node_new(struct sublist *sl, const char *t, size_t tl)
{
	struct sl_node *n = mem_calloc(sl->mem, 1, sizeof(*n) + tl + 1);
	if (n == NULL)
		return NULL;
	hmap_init(&n->next.nodes, sl->mem, sl->seed);
	memcpy(n->token, t, tl);
	n->token_len = tl;
	return n;
}

static void level_free(struct sublist *sl, struct sl_level *l);

static void node_free(struct sublist *sl, struct sl_node *n)
{
	level_free(sl, &n->next);
	mem_free(sl->mem, n->psubs.v);
	for (size_t i = 0; i < n->nqgroups; i++)
		mem_free(sl->mem, n->qgroups[i].v);
	mem_free(sl->mem, n->qgroups);
	mem_free(sl->mem, n);
}

static void level_free(struct sublist *sl, struct sl_level *l)
{
	size_t pos = 0;
	struct hmap_entry *e;
	while ((e = hmap_next(&l->nodes, &pos)) != NULL)
		node_free(sl, e->value);
	hmap_free(&l->nodes);
	if (l->pwc != NULL)
		node_free(sl, l->pwc);
	if (l->fwc != NULL)
		node_free(sl, l->fwc);
	l->pwc = l->fwc = NULL;
}

/* Unlinks and frees an empty child of l. */
static void level_prune(struct sublist *sl, struct sl_level *l, struct sl_node *n)
{
	ASSERT(node_is_empty(n));
	if (n == l->pwc) {
		l->pwc = NULL;
	} else if (n == l->fwc) {
		l->fwc = NULL;
	} else {
		void *v = hmap_del(&l->nodes, n->token, n->token_len);
		ASSERT(v == n);
		/* Give back the slots of a map that emptied out. */
		if (l->nodes.count == 0)
			hmap_free(&l->nodes);
	}
	node_free(sl, n);
}

/* Finds or creates the child for token t; NULL when memory ran out. */
static struct sl_node *level_child(struct sublist *sl, struct sl_level *l,
				   const char *t, size_t tl)
{
	struct sl_node *n = level_get(l, t, tl);
	if (n != NULL)
		return n;
	n = node_new(sl, t, tl);
	if (n == NULL)
		return NULL;
	if (token_is(t, tl, '*')) {
		l->pwc = n;
	} else if (token_is(t, tl, '>')) {
		l->fwc = n;
	} else if (!hmap_put(&l->nodes, n->token, n->token_len, n)) {
		node_free(sl, n);
		return NULL;
	}
	return n;
}

/* Prunes the empty nodes along a subject's path, deepest first. */
static void level_prune_path(struct sublist *sl, struct sl_level *l,
			     const char *s, size_t len)
{
	const char *dot = memchr(s, '.', len);
	size_t tl = dot ? (size_t)(dot - s) : len;
	struct sl_node *n = level_get(l, s, tl);
	if (n == NULL)
		return;
	if (dot != NULL)
		level_prune_path(sl, &n->next, dot + 1, len - tl - 1);
	if (node_is_empty(n))
		level_prune(sl, l, n);
}

static struct sl_node *sublist_find_node(const struct sublist *sl,
					 const char *s, size_t len)
{
	const struct sl_level *l = &sl->root;
	for (;;) {
		const char *dot = memchr(s, '.', len);
		size_t tl = dot ? (size_t)(dot - s) : len;
		struct sl_node *n = level_get(l, s, tl);
		if (n == NULL || dot == NULL)
			return n;
		l = &n->next;
		s = dot + 1;
		len -= tl + 1;
	}
}

/* ---- sub arrays ------------------------------------------------------ */

static bool subs_push(struct sublist *sl, struct sl_subs *a, struct sub *sub)
{
	if (a->n == a->cap) {
		size_t cap = a->cap == 0 ? 4 : a->cap * 2;
		struct sub **v = mem_realloc(sl->mem, a->v, cap * sizeof(*v));
		if (v == NULL)
			return false;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = sub;
	return true;
}

/* Removes sub keeping the order of the others; false when absent. */
static bool subs_remove(struct sublist *sl, struct sl_subs *a, const struct sub *sub)
{
	size_t i = a->n;
	while (i > 0 && a->v[i - 1] != sub)
		i--;
	if (i == 0)
		return false;
	i--;
	memmove(&a->v[i], &a->v[i + 1], (a->n - i - 1) * sizeof(a->v[0]));
	a->n--;
	if (a->n == 0) {
		mem_free(sl->mem, a->v);
		a->v = NULL;
		a->cap = 0;
	} else if (a->cap > 16 && a->n < a->cap / 4) {
		/* Shrinking never needs new memory; keep the old block if refused. */
		struct sub **v = mem_realloc(sl->mem, a->v, a->cap / 2 * sizeof(*v));
		if (v != NULL) {
			a->v = v;
			a->cap /= 2;
		}
	}
	return true;
}

static struct sl_subs *node_find_qgroup(const struct sl_node *n, const char *q, size_t ql)
{
	for (size_t i = 0; i < n->nqgroups; i++) {
		size_t gl;
		const char *g = queue_name(&n->qgroups[i], &gl);
		if (names_equal(g, gl, q, ql))
			return &n->qgroups[i];
	}
	return NULL;
}

static bool node_add_qsub(struct sublist *sl, struct sl_node *n, struct sub *sub)
{
	struct sl_subs *g = node_find_qgroup(n, sub->queue, sub->queue_len);
	if (g != NULL)
		return subs_push(sl, g, sub);
	if (n->nqgroups == n->qgroups_cap) {
		size_t cap = n->qgroups_cap == 0 ? 2 : n->qgroups_cap * 2;
		struct sl_subs *v = mem_realloc(sl->mem, n->qgroups, cap * sizeof(*v));
		if (v == NULL)
			return false;
		n->qgroups = v;
		n->qgroups_cap = cap;
	}
	g = &n->qgroups[n->nqgroups];
	memset(g, 0, sizeof(*g));
	if (!subs_push(sl, g, sub))
		return false;
	n->nqgroups++;
	return true;
}

static bool node_remove_sub(struct sublist *sl, struct sl_node *n, const struct sub *sub)
{
	if (!sub_is_queue(sub))
		return subs_remove(sl, &n->psubs, sub);
	struct sl_subs *g = node_find_qgroup(n, sub->queue, sub->queue_len);
	if (g == NULL || !subs_remove(sl, g, sub))
		return false;
	if (g->n == 0) {
		size_t i = (size_t)(g - n->qgroups);
		memmove(g, g + 1, (n->nqgroups - i - 1) * sizeof(*g));
		n->nqgroups--;
		if (n->nqgroups == 0) {
			mem_free(sl->mem, n->qgroups);
			n->qgroups = NULL;
			n->qgroups_cap = 0;
		}
	}
	return true;
}

/* ---- matching walk --------------------------------------------------- */

/*
 * Visits the nodes matching a literal subject in the reference's order:
 * at each level the '>' child, then everything under the '*' child, then
 * the literal path; at the end the literal node, then the '*' node.
 * Returns false when fn stopped the walk.
 */
static bool level_walk_match(const struct sl_level *l, const char *s, size_t len,
			     sl_node_fn fn, void *arg)
{
	const struct sl_node *n, *pwc;
	for (;;) {
		const char *dot = memchr(s, '.', len);
		size_t tl = dot ? (size_t)(dot - s) : len;
		if (l->fwc != NULL && !fn(l->fwc, arg))
			return false;
		pwc = l->pwc;
		if (pwc != NULL && dot != NULL &&
		    !level_walk_match(&pwc->next, dot + 1, len - tl - 1, fn, arg))
			return false;
		n = level_get_literal(l, s, tl);
		if (dot == NULL)
			break;
		if (n == NULL)
			return true;
		l = &n->next;
		s = dot + 1;
		len -= tl + 1;
	}
	if (n != NULL && !fn(n, arg))
		return false;
	if (pwc != NULL && !fn(pwc, arg))
		return false;
	return true;
}

static bool scratch_reserve(struct sublist *sl, void **v, size_t *cap, size_t need,
			    size_t elem)
{
	if (need <= *cap)
		return true;
	size_t c = *cap == 0 ? 16 : *cap;
	while (c < need)
		c *= 2;
	void *p = mem_realloc(sl->mem, *v, c * elem);
	if (p == NULL)
		return false;
	*v = p;
	*cap = c;
	return true;
}

static size_t scratch_group(struct sl_scratch *sc, const char *q, size_t ql)
{
	for (size_t i = 0; i < sc->ngroups; i++)
		if (names_equal(sc->groups[i].name, sc->groups[i].name_len, q, ql))
			return i;
	return SIZE_MAX;
}

/* The walk callback collecting a node's subs into the scratch arrays. */
static bool collect_node(struct sublist *sl, const struct sl_node *n)
{
	struct sl_scratch *sc = &sl->scratch;
	if (n->psubs.n > 0) {
		if (!scratch_reserve(sl, (void **)&sc->psubs, &sc->psubs_cap,
				     sc->npsubs + n->psubs.n, sizeof(*sc->psubs)))
			return false;
		memcpy(&sc->psubs[sc->npsubs], n->psubs.v, n->psubs.n * sizeof(*sc->psubs));
		sc->npsubs += n->psubs.n;
	}
	for (size_t i = 0; i < n->nqgroups; i++) {
		const struct sl_subs *g = &n->qgroups[i];
		size_t ql;
		const char *q = queue_name(g, &ql);
		size_t gi = scratch_group(sc, q, ql);
		if (gi == SIZE_MAX) {
			if (!scratch_reserve(sl, (void **)&sc->groups, &sc->groups_cap,
					     sc->ngroups + 1, sizeof(*sc->groups)))
				return false;
			gi = sc->ngroups++;
			sc->groups[gi] = (struct sl_sgroup){ q, ql, 0, 0 };
		}
		if (!scratch_reserve(sl, (void **)&sc->qents, &sc->qents_cap,
				     sc->nqents + g->n, sizeof(*sc->qents)))
			return false;
		for (size_t j = 0; j < g->n; j++)
			sc->qents[sc->nqents++] = (struct sl_qent){ gi, g->v[j] };
		sc->groups[gi].count += g->n;
	}
	return true;
}

static bool collect_node_cb(const struct sl_node *n, void *arg)
{
	struct sublist *sl = arg;
	if (collect_node(sl, n))
		return true;
	sl->scratch.oom = true;
	return false;
}

/* Stops the walk at the first node holding a sub. */
static bool node_lacks_subs_cb(const struct sl_node *n, void *arg)
{
	UNUSED(arg);
	return n->psubs.n == 0 && n->nqgroups == 0;
}

/* ---- results and the cache ------------------------------------------- */

static struct sublist_result *result_ref(struct sl_block *b)
{
	ASSERT(b->r.refs > 0);
	b->r.refs++;
	return &b->r;
}

static size_t scratch_names_size(const struct sl_scratch *sc)
{
	size_t size = 0;
	for (size_t i = 0; i < sc->ngroups; i++)
		size += sc->groups[i].name_len + 1;
	return size;
}

static void scratch_layout_qgroups(struct sl_scratch *sc, struct sublist_qgroup *qg,
				   struct sub **qs, char *names)
{
	size_t offset = 0;
	for (size_t i = 0; i < sc->ngroups; i++) {
		struct sl_sgroup *g = &sc->groups[i];
		/* Names are copied so they outlive the member subs. */
		memcpy(names, g->name, g->name_len);
		names[g->name_len] = '\0';
		qg[i] = (struct sublist_qgroup){ names, g->name_len, qs + offset, g->count };
		names += g->name_len + 1;
		g->cursor = offset;
		offset += g->count;
	}
	ASSERT(offset == sc->nqents);
	/* A stable placement keeps each group's members in walk order. */
	for (size_t i = 0; i < sc->nqents; i++)
		qs[sc->groups[sc->qents[i].group].cursor++] = sc->qents[i].sub;
}

/* Builds a result from the scratch arrays in one allocation, refs = 1. */
static struct sl_block *scratch_build(struct sublist *sl, const char *key,
				      size_t key_len, bool with_key)
{
	struct sl_scratch *sc = &sl->scratch;
	size_t names = scratch_names_size(sc);
	size_t size = sizeof(struct sl_block) +
		      sc->ngroups * sizeof(struct sublist_qgroup) +
		      (sc->npsubs + sc->nqents) * sizeof(struct sub *) + names +
		      (with_key ? key_len + 1 : 0);
	struct sl_block *b = mem_alloc(sl->mem, size);
	if (b == NULL)
		return NULL;
	memset(b, 0, sizeof(*b));
	char *p = (char *)(b + 1);
	struct sublist_qgroup *qg = (struct sublist_qgroup *)(void *)p;
	p += sc->ngroups * sizeof(*qg);
	struct sub **ps = (struct sub **)(void *)p;
	p += sc->npsubs * sizeof(*ps);
	struct sub **qs = (struct sub **)(void *)p;
	p += sc->nqents * sizeof(*qs);
	b->r.refs = 1;
	if (sc->npsubs > 0) {
		memcpy(ps, sc->psubs, sc->npsubs * sizeof(*ps));
		b->r.psubs = ps;
		b->r.npsubs = sc->npsubs;
	}
	if (sc->ngroups > 0) {
		scratch_layout_qgroups(sc, qg, qs, p);
		b->r.qgroups = qg;
		b->r.nqgroups = sc->ngroups;
		p += names;
	}
	if (with_key) {
		memcpy(p, key, key_len);
		p[key_len] = '\0';
		b->key = p;
		b->key_len = key_len;
	}
	return b;
}

static void cache_drop(struct sublist *sl, struct sl_block *b)
{
	ASSERT(b->cached);
	void *v = hmap_del(&sl->cache, b->key, b->key_len);
	ASSERT(v == b);
	if (b->older != NULL)
		b->older->newer = b->newer;
	else
		sl->oldest = b->newer;
	if (b->newer != NULL)
		b->newer->older = b->older;
	else
		sl->newest = b->older;
	b->older = b->newer = NULL;
	b->cached = false;
	sublist_result_release(sl, &b->r);
}

/* Caches b when the map has room; a refused put only costs the caching. */
static void cache_add(struct sublist *sl, struct sl_block *b)
{
	ASSERT(!b->cached && b->key != NULL);
	/* First in, first out: deterministic and O(1). */
	if (sl->cache.count >= SUBLIST_CACHE_MAX)
		cache_drop(sl, sl->oldest);
	if (!hmap_put(&sl->cache, b->key, b->key_len, b))
		return;
	b->cached = true;
	b->r.refs++;
	b->older = sl->newest;
	b->newer = NULL;
	if (sl->newest != NULL)
		sl->newest->newer = b;
	else
		sl->oldest = b;
	sl->newest = b;
}

/* Drops the cached results a sub on filter would change. */
static void cache_invalidate(struct sublist *sl, const char *filter, size_t len)
{
	if (sl->cache.count == 0)
		return;
	if (!subject_has_wildcard(filter, len)) {
		struct sl_block *b = hmap_get(&sl->cache, filter, len);
		if (b != NULL)
			cache_drop(sl, b);
		return;
	}
	struct sl_block *next;
	for (struct sl_block *b = sl->oldest; b != NULL; b = next) {
		next = b->newer;
		if (subject_matches(b->key, b->key_len, filter, len))
			cache_drop(sl, b);
	}
}

/* ---- public API ------------------------------------------------------ */

struct sublist *sublist_new(struct mem *mem, uint64_t seed, bool cache_enabled)
{
	struct sublist *sl = mem_calloc(mem, 1, sizeof(*sl));
	if (sl == NULL)
		return NULL;
	sl->mem = mem;
	sl->seed = seed;
	sl->cache_enabled = cache_enabled;
	hmap_init(&sl->root.nodes, mem, seed);
	hmap_init(&sl->cache, mem, seed ^ 0x5bd1e9955bd1e995ULL);
	sl->empty.r.refs = 1;
	return sl;
}

void sublist_free(struct sublist *sl)
{
	if (sl == NULL)
		return;
	while (sl->oldest != NULL) {
		/* A result still held by a caller would outlive its sublist. */
		ASSERT(sl->oldest->r.refs == 1);
		cache_drop(sl, sl->oldest);
	}
	hmap_free(&sl->cache);
	level_free(sl, &sl->root);
	ASSERT(sl->empty.r.refs == 1);
	mem_free(sl->mem, sl->scratch.psubs);
	mem_free(sl->mem, sl->scratch.qents);
	mem_free(sl->mem, sl->scratch.groups);
	mem_free(sl->mem, sl);
}

static struct sl_node *sublist_make_path(struct sublist *sl, const char *s, size_t len)
{
	struct sl_level *l = &sl->root;
	for (;;) {
		const char *dot = memchr(s, '.', len);
		size_t tl = dot ? (size_t)(dot - s) : len;
		struct sl_node *n = level_child(sl, l, s, tl);
		if (n == NULL || dot == NULL)
			return n;
		l = &n->next;
		s = dot + 1;
		len -= tl + 1;
	}
}

int sublist_insert(struct sublist *sl, struct sub *sub)
{
	const char *s = sub->subject;
	size_t len = sub->subject_len;
	if (s == NULL || !subject_is_valid(s, len))
		return SUBLIST_ERR_INVALID_SUBJECT;
	struct sl_node *n = sublist_make_path(sl, s, len);
	bool ok = n != NULL;
	if (ok)
		ok = sub_is_queue(sub) ? node_add_qsub(sl, n, sub)
				       : subs_push(sl, &n->psubs, sub);
	if (!ok) {
		/* Undo the nodes created for nothing. */
		level_prune_path(sl, &sl->root, s, len);
		return SUBLIST_ERR_NOMEM;
	}
	sl->count++;
	sl->inserts++;
	cache_invalidate(sl, s, len);
	return SUBLIST_OK;
}

int sublist_remove(struct sublist *sl, struct sub *sub)
{
	const char *s = sub->subject;
	size_t len = sub->subject_len;
	if (s == NULL || !subject_is_valid(s, len))
		return SUBLIST_ERR_INVALID_SUBJECT;
	struct sl_node *n = sublist_find_node(sl, s, len);
	if (n == NULL || !node_remove_sub(sl, n, sub))
		return SUBLIST_ERR_NOT_FOUND;
	level_prune_path(sl, &sl->root, s, len);
	ASSERT(sl->count > 0);
	sl->count--;
	sl->removes++;
	cache_invalidate(sl, s, len);
	return SUBLIST_OK;
}

static void scratch_reset(struct sl_scratch *sc)
{
	sc->npsubs = 0;
	sc->nqents = 0;
	sc->ngroups = 0;
	sc->oom = false;
}

struct sublist_result *sublist_match(struct sublist *sl, const char *subject,
				     size_t len)
{
	sl->matches++;
	if (len == 0)
		return result_ref(&sl->empty);
	if (sl->cache_enabled) {
		struct sl_block *b = hmap_get(&sl->cache, subject, len);
		if (b != NULL) {
			sl->cache_hits++;
			return result_ref(b);
		}
	}
	/* Like the reference: no interest in a subject with an empty token. */
	if (subject_has_empty_token(subject, len))
		return result_ref(&sl->empty);
	struct sl_scratch *sc = &sl->scratch;
	scratch_reset(sc);
	level_walk_match(&sl->root, subject, len, collect_node_cb, sl);
	if (sc->oom)
		return NULL;
	if (!sl->cache_enabled && sc->npsubs == 0 && sc->ngroups == 0)
		return result_ref(&sl->empty);
	struct sl_block *b = scratch_build(sl, subject, len, sl->cache_enabled);
	if (b == NULL)
		return NULL;
	if (sl->cache_enabled)
		cache_add(sl, b);
	return &b->r;
}

void sublist_result_release(struct sublist *sl, struct sublist_result *r)
{
	if (r == NULL)
		return;
	ASSERT(r->refs > 0);
	if (--r->refs > 0)
		return;
	struct sl_block *b = (struct sl_block *)r;
	ASSERT(b != &sl->empty && !b->cached);
	mem_free(sl->mem, b);
}

bool sublist_has_interest(struct sublist *sl, const char *subject, size_t len)
{
	if (len == 0)
		return false;
	if (sl->cache_enabled) {
		const struct sl_block *b = hmap_get(&sl->cache, subject, len);
		if (b != NULL)
			return b->r.npsubs > 0 || b->r.nqgroups > 0;
	}
	if (subject_has_empty_token(subject, len))
		return false;
	return !level_walk_match(&sl->root, subject, len, node_lacks_subs_cb, NULL);
}

size_t sublist_count(const struct sublist *sl)
{
	return sl->count;
}

void sublist_stats(const struct sublist *sl, struct sublist_stats *out)
{
	out->subs = sl->count;
	out->inserts = sl->inserts;
	out->removes = sl->removes;
	out->matches = sl->matches;
	out->cache_hits = sl->cache_hits;
	out->cache_entries = sl->cache.count;
}

static void level_visit(const struct sl_level *l,
			void (*cb)(void *arg, struct sub *sub), void *arg);

static void node_visit(const struct sl_node *n,
		       void (*cb)(void *arg, struct sub *sub), void *arg)
{
	for (size_t i = 0; i < n->psubs.n; i++)
		cb(arg, n->psubs.v[i]);
	for (size_t g = 0; g < n->nqgroups; g++)
		for (size_t i = 0; i < n->qgroups[g].n; i++)
			cb(arg, n->qgroups[g].v[i]);
	level_visit(&n->next, cb, arg);
}

static void level_visit(const struct sl_level *l,
			void (*cb)(void *arg, struct sub *sub), void *arg)
{
	/* Map order is fixed by the seed and the operations, never by
	 * pointer values. */
	size_t pos = 0;
	struct hmap_entry *e;
	while ((e = hmap_next(&l->nodes, &pos)) != NULL)
		node_visit(e->value, cb, arg);
	if (l->pwc != NULL)
		node_visit(l->pwc, cb, arg);
	if (l->fwc != NULL)
		node_visit(l->fwc, cb, arg);
}

void sublist_visit(const struct sublist *sl,
		   void (*cb)(void *arg, struct sub *sub), void *arg)
{
	level_visit(&sl->root, cb, arg);
}

/* ---- invariants ------------------------------------------------------ */

/* The chain of nodes from a node up to the root, built on the stack. */
struct sl_path {
	const struct sl_node *node;
	const struct sl_path *up;
};

/* Does the subject spell exactly the tokens of the path? */
static bool path_spells(const struct sl_path *p, const char *s, size_t len)
{
	size_t end = len;
	for (; p != NULL; p = p->up) {
		size_t start = end;
		while (start > 0 && s[start - 1] != '.')
			start--;
		if (!names_equal(s + start, end - start, p->node->token, p->node->token_len))
			return false;
		if (start == 0)
			return p->up == NULL;
		end = start - 1;
	}
	return false;
}

static void node_check_subs(const struct sl_node *n, const struct sl_path *path)
{
	for (size_t i = 0; i < n->psubs.n; i++) {
		const struct sub *sub = n->psubs.v[i];
		ASSERT(!sub_is_queue(sub));
		ASSERT(path_spells(path, sub->subject, sub->subject_len));
	}
	ASSERT((n->qgroups == NULL) == (n->qgroups_cap == 0));
	ASSERT(n->nqgroups <= n->qgroups_cap);
	for (size_t g = 0; g < n->nqgroups; g++) {
		const struct sl_subs *grp = &n->qgroups[g];
		ASSERT(grp->n > 0 && grp->n <= grp->cap);
		size_t ql;
		const char *q = queue_name(grp, &ql);
		for (size_t i = 0; i < grp->n; i++) {
			const struct sub *sub = grp->v[i];
			ASSERT(sub_is_queue(sub));
			ASSERT(names_equal(sub->queue, sub->queue_len, q, ql));
			ASSERT(path_spells(path, sub->subject, sub->subject_len));
		}
		ASSERT(node_find_qgroup(n, q, ql) == grp);
	}
}

static size_t level_check(const struct sl_level *l, const struct sl_path *up);

static size_t node_check(const struct sl_node *n, const struct sl_path *up)
{
	struct sl_path path = { n, up };
	ASSERT(!node_is_empty(n));
	ASSERT(n->psubs.n <= n->psubs.cap);
	node_check_subs(n, &path);
	size_t count = n->psubs.n;
	for (size_t g = 0; g < n->nqgroups; g++)
		count += n->qgroups[g].n;
	return count + level_check(&n->next, &path);
}

static size_t level_check(const struct sl_level *l, const struct sl_path *up)
{
	size_t count = 0, children = 0, pos = 0;
	struct hmap_entry *e;
	while ((e = hmap_next(&l->nodes, &pos)) != NULL) {
		const struct sl_node *n = e->value;
		ASSERT(e->key == n->token && e->key_len == n->token_len);
		ASSERT(n->token_len > 0);
		ASSERT(!token_is(n->token, n->token_len, '*'));
		ASSERT(!token_is(n->token, n->token_len, '>'));
		count += node_check(n, up);
		children++;
	}
	ASSERT(children == l->nodes.count);
	if (l->pwc != NULL) {
		ASSERT(token_is(l->pwc->token, l->pwc->token_len, '*'));
		count += node_check(l->pwc, up);
	}
	if (l->fwc != NULL) {
		ASSERT(token_is(l->fwc->token, l->fwc->token_len, '>'));
		/* Nothing may follow a '>' token. */
		ASSERT(level_is_empty(&l->fwc->next));
		count += node_check(l->fwc, up);
	}
	return count;
}

/* Compares a cached result with the walk that would rebuild it. */
struct sl_check {
	const struct sublist_result *r;
	size_t psub_at;               /* next plain sub expected */
	size_t groups_seen;           /* distinct names met so far */
	size_t qsubs_seen;
	size_t group;                 /* the group under check (second pass) */
	size_t member_at;
};

static size_t result_group_index(const struct sublist_result *r, const char *q, size_t ql)
{
	for (size_t i = 0; i < r->nqgroups; i++)
		if (names_equal(r->qgroups[i].queue, r->qgroups[i].queue_len, q, ql))
			return i;
	return SIZE_MAX;
}

static bool check_order_cb(const struct sl_node *n, void *arg)
{
	struct sl_check *c = arg;
	for (size_t i = 0; i < n->psubs.n; i++) {
		ASSERT(c->psub_at < c->r->npsubs);
		ASSERT(c->r->psubs[c->psub_at] == n->psubs.v[i]);
		c->psub_at++;
	}
	for (size_t g = 0; g < n->nqgroups; g++) {
		size_t ql;
		const char *q = queue_name(&n->qgroups[g], &ql);
		size_t gi = result_group_index(c->r, q, ql);
		/* Groups appear in the order their names are first met. */
		ASSERT(gi != SIZE_MAX && gi <= c->groups_seen);
		if (gi == c->groups_seen)
			c->groups_seen++;
		c->qsubs_seen += n->qgroups[g].n;
	}
	return true;
}

static bool check_members_cb(const struct sl_node *n, void *arg)
{
	struct sl_check *c = arg;
	const struct sublist_qgroup *want = &c->r->qgroups[c->group];
	const struct sl_subs *g = node_find_qgroup(n, want->queue, want->queue_len);
	for (size_t i = 0; g != NULL && i < g->n; i++) {
		ASSERT(c->member_at < want->nsubs);
		ASSERT(want->subs[c->member_at] == g->v[i]);
		c->member_at++;
	}
	return true;
}

static void result_check(const struct sublist *sl, const struct sl_block *b)
{
	const struct sublist_result *r = &b->r;
	struct sl_check c = { .r = r };
	level_walk_match(&sl->root, b->key, b->key_len, check_order_cb, &c);
	ASSERT(c.psub_at == r->npsubs);
	ASSERT(c.groups_seen == r->nqgroups);
	size_t total = 0;
	for (size_t i = 0; i < r->nqgroups; i++) {
		ASSERT(r->qgroups[i].nsubs > 0);
		total += r->qgroups[i].nsubs;
		c.group = i;
		c.member_at = 0;
		level_walk_match(&sl->root, b->key, b->key_len, check_members_cb, &c);
		ASSERT(c.member_at == r->qgroups[i].nsubs);
	}
	ASSERT(total == c.qsubs_seen);
}

/* Re-checking every cached subject after every step made the simulator
 * spend most of its time here (a full cache of request inboxes), so the
 * key and result of an entry are checked for the newest entries and for a
 * sample of the others that changes with the match count; the FIFO links
 * and the count of every entry are still checked. */
#define CACHE_CHECK_NEWEST 16
#define CACHE_CHECK_SAMPLE 32

static bool cache_check_full(const struct sublist *sl, const struct sl_block *b,
			     size_t from_newest)
{
	if (from_newest < CACHE_CHECK_NEWEST)
		return true;
	uint64_t h = hash_bytes(sl->seed, b->key, b->key_len) ^ sl->matches;
	return h % CACHE_CHECK_SAMPLE == 0;
}

static void cache_check(const struct sublist *sl)
{
	if (!sl->cache_enabled)
		ASSERT(sl->cache.count == 0);
	ASSERT(sl->cache.count <= SUBLIST_CACHE_MAX);
	size_t n = 0;
	const struct sl_block *older = NULL;
	for (const struct sl_block *b = sl->oldest; b != NULL; b = b->newer) {
		ASSERT(b->cached && b->r.refs >= 1);
		ASSERT(b->older == older);
		ASSERT(b->key != NULL);
		ASSERT(n < sl->cache.count);
		if (cache_check_full(sl, b, sl->cache.count - 1 - n)) {
			ASSERT(!subject_has_empty_token(b->key, b->key_len));
			ASSERT(hmap_get(&sl->cache, b->key, b->key_len) == b);
			result_check(sl, b);
		}
		older = b;
		n++;
	}
	ASSERT(sl->newest == older);
	ASSERT(n == sl->cache.count);
}

void sublist_invariants(const struct sublist *sl)
{
	ASSERT(sl != NULL);
	ASSERT(level_check(&sl->root, NULL) == sl->count);
	ASSERT(sl->inserts - sl->removes == sl->count);
	ASSERT(sl->cache_hits <= sl->matches);
	ASSERT(sl->empty.r.refs >= 1 && !sl->empty.cached);
	ASSERT(sl->empty.r.npsubs == 0 && sl->empty.r.nqgroups == 0);
	cache_check(sl);
}
