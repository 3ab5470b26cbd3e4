/*
 * fuzz_sublist.c - harness for subject validation (server/core/subject.h)
 * and the subscription index (server/core/sublist.h), differential against
 * a model small enough to be obviously right: a list of subscriptions
 * scanned linearly with this file's own token matcher.
 *
 * Input: one flags byte, then operations until the input ends.
 *   flags bit 0: make one allocation of sublist A fail (which one: the
 *                next two bytes), to exercise its out-of-memory paths
 * Two sublists get every operation: A with the match cache, B without.
 * Operations (first byte % 8): insert, insert, remove, match, match,
 * release a held result, subject functions, count/visit.  Subjects and
 * queue names are built from a small token table (so filters and subjects
 * meet) or taken raw from the input (so every byte is tried).
 *
 * Properties checked:
 *   - validity (subject_is_valid, _literal, _publish, has_wildcard,
 *     token_count) equals a direct reading of the rules in the client
 *     protocol reference, section 10;
 *   - insert/remove results follow validity and membership;
 *   - a match returns exactly the model's plain subs and queue groups, in
 *     the same order with and without the cache;
 *   - a held result does not change while subs come and go, until it is
 *     released;
 *   - subject_matches equals the model; subject_is_subset and
 *     subject_overlaps equal a brute force over all short subjects;
 *   - sublist_invariants after every operation; no memory left at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sub.h"
#include "core/subject.h"
#include "core/sublist.h"
#include "fuzz.h"

#define SLOTS 24
#define HELD_MAX 4
#define SUBJECT_MAX 256
#define TOKENS_MAX 64

/* ---- the model: the reference's rules, read literally ---------------- */

struct tokens {
	const char *t[TOKENS_MAX];
	size_t len[TOKENS_MAX];
	size_t n;
	bool overflow;
};

/* Splits on '.': "a..b" is three tokens, the middle one empty. */
static void tokens_split(const char *s, size_t len, struct tokens *out)
{
	size_t start = 0;
	out->n = 0;
	out->overflow = false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (out->n == TOKENS_MAX) {
			out->overflow = true;
			return;
		}
		out->t[out->n] = s + start;
		out->len[out->n++] = i - start;
		start = i + 1;
	}
}

static bool tok_is(const struct tokens *t, size_t i, char c)
{
	return t->len[i] == 1 && t->t[i][0] == c;
}

static bool model_has_empty_token(const char *s, size_t len)
{
	struct tokens t;
	tokens_split(s, len, &t);
	for (size_t i = 0; i < t.n; i++)
		if (t.len[i] == 0)
			return true;
	return len == 0;
}

static bool model_has_wildcard(const char *s, size_t len)
{
	struct tokens t;
	tokens_split(s, len, &t);
	for (size_t i = 0; i < t.n; i++)
		if (tok_is(&t, i, '*') || tok_is(&t, i, '>'))
			return true;
	return false;
}

/* Section 10: non-empty, no empty token, no whitespace, '>' only last. */
static bool model_valid(const char *s, size_t len)
{
	struct tokens t;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n' ||
		    s[i] == '\f')
			return false;
	tokens_split(s, len, &t);
	for (size_t i = 0; i < t.n; i++) {
		if (t.len[i] == 0)
			return false;
		if (tok_is(&t, i, '>') && i + 1 != t.n)
			return false;
	}
	return true;
}

static bool model_valid_literal(const char *s, size_t len)
{
	return !model_has_empty_token(s, len) && !model_has_wildcard(s, len);
}

/* A literal subject (no empty token) against a valid filter, as tokens. */
static bool model_match_tokens(const struct tokens *st, const struct tokens *ft)
{
	size_t i = 0;
	for (size_t j = 0; j < ft->n; j++) {
		if (tok_is(ft, j, '>'))
			return i < st->n;
		if (i == st->n)
			return false;
		if (!tok_is(ft, j, '*') &&
		    (ft->len[j] != st->len[i] ||
		     memcmp(ft->t[j], st->t[i], st->len[i]) != 0))
			return false;
		i++;
	}
	return i == st->n;
}

static bool model_match(const char *s, size_t sl, const char *f, size_t fl)
{
	struct tokens st, ft;
	tokens_split(s, sl, &st);
	tokens_split(f, fl, &ft);
	return model_match_tokens(&st, &ft);
}

/* ---- generating subjects from the input ------------------------------ */

static const char *const token_table[15] = {
	"a", "b", "c", "foo", "bar", "*", ">", "", "*x", ">>", "a b", "\t", "A",
	"\xc3\xa9", "$SYS",
};

static void put(char *out, size_t *n, const void *p, size_t len)
{
	if (*n + len > SUBJECT_MAX)
		len = SUBJECT_MAX - *n;
	if (len > 0)
		memcpy(out + *n, p, len);
	*n += len;
}

static size_t gen_raw(struct fuzz_in *in, char *out, size_t max)
{
	const uint8_t *p;
	size_t n = fuzz_in_take(in, fuzz_in_u8(in) % (max + 1), &p);
	if (n > 0)
		memcpy(out, p, n);
	return n;
}

static size_t gen_subject(struct fuzz_in *in, char *out)
{
	uint8_t mode = fuzz_in_u8(in);
	size_t n = 0;
	if (mode >= 0xf0)
		return gen_raw(in, out, 48);
	for (unsigned i = 0, ntok = 1 + mode % 5u; i < ntok; i++) {
		uint8_t t = fuzz_in_u8(in) % 16u;
		char raw[8];
		if (i > 0)
			put(out, &n, ".", 1);
		if (t < 15)
			put(out, &n, token_table[t], strlen(token_table[t]));
		else
			put(out, &n, raw, gen_raw(in, raw, 5));
	}
	return n;
}

/* NULL: no queue.  An empty name is still a queue (sub.h: queue != NULL). */
static char *gen_queue(struct fuzz_in *in, size_t *len)
{
	static const char *const names[3] = { "q1", "q2", "" };
	uint8_t q = fuzz_in_u8(in) % 8u;
	char raw[8];
	if (q < 4)
		return *len = 0, NULL;
	if (q < 7) {
		*len = strlen(names[q - 4]);
		return strdup(names[q - 4]);
	}
	*len = gen_raw(in, raw, 5);
	char *s = malloc(*len + 1);
	FUZZ_CHECK(s != NULL, "harness out of memory");
	if (*len > 0)
		memcpy(s, raw, *len);
	s[*len] = '\0';
	return s;
}

/* ---- state ----------------------------------------------------------- */

struct held {
	struct sublist_result *r;
	struct sub **psubs;           /* snapshot at match time */
	size_t npsubs;
	struct sublist_qgroup *qgroups;
	struct sub ***qsubs;
	size_t nqgroups;
};

struct state {
	struct mem mem_a, mem_b;
	struct sublist *a;            /* with cache */
	struct sublist *b;            /* without */
	struct sub *slot[SLOTS];      /* inserted in both, or NULL */
	struct sub **grave;           /* removed subs, freed when no result is held */
	size_t ngrave;
	struct held held[HELD_MAX];
	size_t nheld;
	bool a_failed;                /* A ran out of memory once: orders may differ */
};

static struct sub *sub_new(const char *subject, size_t len, char *queue, size_t qlen)
{
	struct sub *s = calloc(1, sizeof(*s));
	FUZZ_CHECK(s != NULL, "harness out of memory");
	s->subject = malloc(len + 1);
	FUZZ_CHECK(s->subject != NULL, "harness out of memory");
	if (len > 0)
		memcpy(s->subject, subject, len);
	s->subject[len] = '\0';
	s->subject_len = len;
	s->queue = queue;
	s->queue_len = qlen;
	s->queue_weight = 1;
	return s;
}

static void sub_free(struct sub *s)
{
	free(s->subject);
	free(s->queue);
	free(s);
}

static void grave_add(struct state *st, struct sub *s)
{
	st->grave = realloc(st->grave, (st->ngrave + 1) * sizeof(*st->grave));
	FUZZ_CHECK(st->grave != NULL, "harness out of memory");
	st->grave[st->ngrave++] = s;
}

static void grave_empty(struct state *st)
{
	for (size_t i = 0; i < st->ngrave; i++)
		sub_free(st->grave[i]);
	st->ngrave = 0;
}

static int slot_of(const struct state *st, const struct sub *s)
{
	for (int i = 0; i < SLOTS; i++)
		if (st->slot[i] == s)
			return i;
	return -1;
}

/* ---- checking a match result against the model ----------------------- */

static bool same_name(const char *a, size_t al, const char *b, size_t bl)
{
	return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

/* Does the model say sub s receives a message on subject? */
static bool model_delivers(const struct sub *s, const char *subject, size_t len)
{
	return !model_has_empty_token(subject, len) &&
	       model_match(subject, len, s->subject, s->subject_len);
}

static void check_member(const struct state *st, const struct sub *s, bool seen[SLOTS],
			 const char *subject, size_t len, const char *which)
{
	int i = slot_of(st, s);
	FUZZ_CHECK(i >= 0, "%s: result holds a sub that is not inserted", which);
	FUZZ_CHECK(!seen[i], "%s: sub '%s' twice in one result", which, s->subject);
	seen[i] = true;
	if (!model_delivers(s, subject, len)) {
		fuzz_print_bytes("subject", subject, len);
		fuzz_print_bytes("filter", s->subject, s->subject_len);
		FUZZ_CHECK(false, "%s: result holds a sub whose filter does not match", which);
	}
}

static void check_result(const struct state *st, const struct sublist_result *r,
			 const char *subject, size_t len, const char *which)
{
	bool seen[SLOTS] = { false };
	for (size_t i = 0; i < r->npsubs; i++) {
		FUZZ_CHECK(r->psubs[i]->queue == NULL, "%s: queue sub among plain", which);
		check_member(st, r->psubs[i], seen, subject, len, which);
	}
	for (size_t g = 0; g < r->nqgroups; g++) {
		const struct sublist_qgroup *q = &r->qgroups[g];
		FUZZ_CHECK(q->nsubs > 0, "%s: empty queue group", which);
		for (size_t h = 0; h < g; h++)
			FUZZ_CHECK(!same_name(q->queue, q->queue_len, r->qgroups[h].queue,
					      r->qgroups[h].queue_len),
				   "%s: queue group listed twice", which);
		for (size_t i = 0; i < q->nsubs; i++) {
			const struct sub *s = q->subs[i];
			FUZZ_CHECK(s->queue != NULL && same_name(s->queue, s->queue_len,
								 q->queue, q->queue_len),
				   "%s: member of the wrong queue group", which);
			check_member(st, s, seen, subject, len, which);
		}
	}
	for (int i = 0; i < SLOTS; i++) {
		if (st->slot[i] == NULL || seen[i] || !model_delivers(st->slot[i], subject, len))
			continue;
		fuzz_print_bytes("subject", subject, len);
		fuzz_print_bytes("filter", st->slot[i]->subject, st->slot[i]->subject_len);
		FUZZ_CHECK(false, "%s: a matching sub is missing from the result", which);
	}
}

/* With and without the cache the same subs come in the same order. */
static void check_same_order(const struct sublist_result *x, const struct sublist_result *y)
{
	FUZZ_CHECK(x->npsubs == y->npsubs && x->nqgroups == y->nqgroups,
		   "cache changes the result's shape");
	for (size_t i = 0; i < x->npsubs; i++)
		FUZZ_CHECK(x->psubs[i] == y->psubs[i], "cache changes the plain order");
	for (size_t g = 0; g < x->nqgroups; g++) {
		const struct sublist_qgroup *p = &x->qgroups[g], *q = &y->qgroups[g];
		FUZZ_CHECK(p->nsubs == q->nsubs &&
			   same_name(p->queue, p->queue_len, q->queue, q->queue_len),
			   "cache changes the queue groups");
		for (size_t i = 0; i < p->nsubs; i++)
			FUZZ_CHECK(p->subs[i] == q->subs[i], "cache changes a group's order");
	}
}

/* ---- held results ------------------------------------------------------ */

static void held_take(struct held *h, struct sublist_result *r)
{
	memset(h, 0, sizeof(*h));
	h->r = r;
	h->npsubs = r->npsubs;
	h->nqgroups = r->nqgroups;
	h->psubs = malloc((r->npsubs + 1) * sizeof(*h->psubs));
	h->qgroups = malloc((r->nqgroups + 1) * sizeof(*h->qgroups));
	h->qsubs = malloc((r->nqgroups + 1) * sizeof(*h->qsubs));
	FUZZ_CHECK(h->psubs && h->qgroups && h->qsubs, "harness out of memory");
	if (r->npsubs > 0)
		memcpy(h->psubs, r->psubs, r->npsubs * sizeof(*h->psubs));
	for (size_t g = 0; g < r->nqgroups; g++) {
		h->qgroups[g] = r->qgroups[g];
		h->qsubs[g] = malloc((r->qgroups[g].nsubs + 1) * sizeof(**h->qsubs));
		FUZZ_CHECK(h->qsubs[g] != NULL, "harness out of memory");
		if (r->qgroups[g].nsubs > 0)
			memcpy(h->qsubs[g], r->qgroups[g].subs,
			       r->qgroups[g].nsubs * sizeof(**h->qsubs));
	}
}

/* A held result must read as it did when it was returned. */
static void held_check(const struct held *h)
{
	const struct sublist_result *r = h->r;
	FUZZ_CHECK(r->refs > 0, "held result has no reference");
	FUZZ_CHECK(r->npsubs == h->npsubs && r->nqgroups == h->nqgroups,
		   "held result changed shape");
	for (size_t i = 0; i < h->npsubs; i++)
		FUZZ_CHECK(r->psubs[i] == h->psubs[i], "held result changed");
	for (size_t g = 0; g < h->nqgroups; g++) {
		const struct sublist_qgroup *q = &r->qgroups[g];
		FUZZ_CHECK(q->nsubs == h->qgroups[g].nsubs && q->queue == h->qgroups[g].queue &&
			   q->queue_len == h->qgroups[g].queue_len,
			   "held result's queue group changed");
		for (size_t i = 0; i < q->nsubs; i++)
			FUZZ_CHECK(q->subs[i] == h->qsubs[g][i], "held result's group changed");
	}
}

static void held_release(struct state *st, size_t i)
{
	struct held *h = &st->held[i];
	held_check(h);
	sublist_result_release(st->a, h->r);
	free(h->psubs);
	free(h->qgroups);
	for (size_t g = 0; g < h->nqgroups; g++)
		free(h->qsubs[g]);
	free(h->qsubs);
	st->held[i] = st->held[--st->nheld];
	if (st->nheld == 0)
		grave_empty(st);
}

/* ---- operations ---------------------------------------------------------- */

static void op_insert(struct state *st, struct fuzz_in *in)
{
	char subject[SUBJECT_MAX];
	size_t slot = fuzz_in_u8(in) % SLOTS;
	size_t len = gen_subject(in, subject), qlen;
	char *queue = gen_queue(in, &qlen);
	if (st->slot[slot] != NULL) {
		free(queue);
		return;
	}
	struct sub *s = sub_new(subject, len, queue, qlen);
	bool valid = model_valid(subject, len);
	int ra = sublist_insert(st->a, s);
	int rb = sublist_insert(st->b, s);
	FUZZ_CHECK(rb == (valid ? SUBLIST_OK : SUBLIST_ERR_INVALID_SUBJECT),
		   "insert of '%s' (valid %d) returned %d", s->subject, valid, rb);
	if (ra == SUBLIST_ERR_NOMEM) {
		st->a_failed = true;
		if (rb == SUBLIST_OK)
			FUZZ_CHECK(sublist_remove(st->b, s) == SUBLIST_OK, "undo in B failed");
		grave_add(st, s);
		return;
	}
	FUZZ_CHECK(ra == rb, "insert: with cache %d, without %d", ra, rb);
	if (rb == SUBLIST_OK)
		st->slot[slot] = s;
	else
		grave_add(st, s);
}

static void op_remove(struct state *st, struct fuzz_in *in)
{
	size_t slot = fuzz_in_u8(in) % SLOTS;
	struct sub *s = st->slot[slot];
	if (s == NULL) {
		/* A sub that was never inserted. */
		char subject[SUBJECT_MAX];
		size_t len = gen_subject(in, subject);
		struct sub *t = sub_new(subject, len, NULL, 0);
		int want = model_valid(subject, len) ? SUBLIST_ERR_NOT_FOUND
						     : SUBLIST_ERR_INVALID_SUBJECT;
		int ra = sublist_remove(st->a, t), rb = sublist_remove(st->b, t);
		FUZZ_CHECK(ra == want && rb == want, "remove of a stranger: %d %d, want %d",
			   ra, rb, want);
		sub_free(t);
		return;
	}
	int ra = sublist_remove(st->a, s), rb = sublist_remove(st->b, s);
	FUZZ_CHECK(ra == SUBLIST_OK && rb == SUBLIST_OK, "remove of '%s': %d %d",
		   s->subject, ra, rb);
	ra = sublist_remove(st->a, s);
	FUZZ_CHECK(ra == SUBLIST_ERR_NOT_FOUND, "second remove returned %d", ra);
	st->slot[slot] = NULL;
	grave_add(st, s);
	if (st->nheld == 0)
		grave_empty(st);
}

static void op_match(struct state *st, struct fuzz_in *in)
{
	char subject[SUBJECT_MAX];
	size_t len = gen_subject(in, subject);
	bool keep = fuzz_in_u8(in) & 1;
	struct sublist_result *ra = sublist_match(st->a, subject, len);
	struct sublist_result *rb = sublist_match(st->b, subject, len);
	FUZZ_CHECK(rb != NULL, "match without cache failed without a memory limit");
	check_result(st, rb, subject, len, "without cache");
	bool any = rb->npsubs > 0 || rb->nqgroups > 0;
	FUZZ_CHECK(sublist_has_interest(st->b, subject, len) == any, "interest (no cache)");
	if (ra == NULL) {
		FUZZ_CHECK(st->mem_a.fail_at != 0 && st->mem_a.fail_at <= st->mem_a.alloc_count,
			   "match with cache failed without running out of memory");
		st->a_failed = true;
	} else {
		check_result(st, ra, subject, len, "with cache");
		if (!st->a_failed)
			check_same_order(ra, rb);
		FUZZ_CHECK(sublist_has_interest(st->a, subject, len) == any, "interest (cache)");
	}
	sublist_result_release(st->b, rb);
	if (ra != NULL && keep && st->nheld < HELD_MAX)
		held_take(&st->held[st->nheld++], ra);
	else
		sublist_result_release(st->a, ra);
}

/* Exhaustive over short subjects made of the filters' literal tokens and
 * one token neither has: exact for subset and overlap, since any other
 * token behaves like the fresh one and '>' makes longer subjects behave
 * like one token longer than the longest filter. */
static void check_subset_overlap(const char *a, size_t al, const char *b, size_t bl)
{
	struct tokens ta, tb;
	const char *alpha[12];
	size_t alen[12], na = 0, maxlen, combos = 1;
	tokens_split(a, al, &ta);
	tokens_split(b, bl, &tb);
	if (ta.overflow || tb.overflow)
		return;
	for (int pass = 0; pass < 2; pass++) {
		const struct tokens *t = pass ? &tb : &ta;
		for (size_t i = 0; i < t->n; i++) {
			bool dup = tok_is(t, i, '*') || tok_is(t, i, '>');
			for (size_t k = 0; k < na && !dup; k++)
				dup = same_name(alpha[k], alen[k], t->t[i], t->len[i]);
			if (!dup && na < 11) {
				alpha[na] = t->t[i];
				alen[na++] = t->len[i];
			}
		}
	}
	/* A token longer than any of theirs is none of theirs. */
	char fresh[SUBJECT_MAX + 1];
	size_t flen = 1;
	for (size_t k = 0; k < na; k++)
		flen = alen[k] >= flen ? alen[k] + 1 : flen;
	memset(fresh, 'z', flen);
	alpha[na] = fresh;
	alen[na++] = flen;
	maxlen = (ta.n > tb.n ? ta.n : tb.n) + 1;
	for (size_t i = 0; i < maxlen && combos <= 2000; i++)
		combos *= na;
	if (combos > 2000)
		return;
	bool subset = true, overlap = false;
	for (size_t n = 1; n <= maxlen; n++) {
		size_t idx[TOKENS_MAX] = { 0 };
		struct tokens st = { .n = n };
		for (;;) {
			for (size_t i = 0; i < n; i++) {
				st.t[i] = alpha[idx[i]];
				st.len[i] = alen[idx[i]];
			}
			bool ma = model_match_tokens(&st, &ta), mb = model_match_tokens(&st, &tb);
			subset = subset && (!ma || mb);
			overlap = overlap || (ma && mb);
			size_t i = 0;
			while (i < n && ++idx[i] == na)
				idx[i++] = 0;
			if (i == n)
				break;
		}
	}
	if (subject_is_subset(a, al, b, bl) != subset ||
	    subject_overlaps(a, al, b, bl) != overlap) {
		fuzz_print_bytes("a", a, al);
		fuzz_print_bytes("b", b, bl);
		FUZZ_CHECK(false, "subset %d (model %d), overlap %d (model %d)",
			   subject_is_subset(a, al, b, bl), subset,
			   subject_overlaps(a, al, b, bl), overlap);
	}
}

static void check_validity(const char *s, size_t len)
{
	bool valid = model_valid(s, len), wild = model_has_wildcard(s, len);
	if (subject_is_valid(s, len) != valid ||
	    subject_is_valid_literal(s, len) != model_valid_literal(s, len) ||
	    subject_is_valid_publish(s, len) != (valid && !wild) ||
	    subject_has_wildcard(s, len) != wild) {
		fuzz_print_bytes("subject", s, len);
		FUZZ_CHECK(false, "valid %d literal %d publish %d wildcard %d; model: "
			   "valid %d literal %d wildcard %d",
			   subject_is_valid(s, len), subject_is_valid_literal(s, len),
			   subject_is_valid_publish(s, len), subject_has_wildcard(s, len),
			   valid, model_valid_literal(s, len), wild);
	}
	if (valid) {
		struct tokens t;
		tokens_split(s, len, &t);
		FUZZ_CHECK(t.overflow || subject_token_count(s, len) == t.n,
			   "token count %zu, model %zu", subject_token_count(s, len), t.n);
	}
}

static void op_subjects(struct fuzz_in *in)
{
	char a[SUBJECT_MAX], b[SUBJECT_MAX], s[SUBJECT_MAX];
	size_t al = gen_subject(in, a), bl = gen_subject(in, b), sl = gen_subject(in, s);
	check_validity(a, al);
	check_validity(b, bl);
	check_validity(s, sl);
	/* Matching is defined for a subject without empty tokens against a
	 * valid filter; elsewhere it only must not crash. */
	bool m = subject_matches(s, sl, a, al);
	if (model_valid(a, al) && !model_has_empty_token(s, sl) &&
	    m != model_match(s, sl, a, al)) {
		fuzz_print_bytes("subject", s, sl);
		fuzz_print_bytes("filter", a, al);
		FUZZ_CHECK(false, "subject_matches says %d", m);
	}
	if (model_valid(a, al) && model_valid(b, bl))
		check_subset_overlap(a, al, b, bl);
	else
		(void)(subject_is_subset(a, al, b, bl) + subject_overlaps(a, al, b, bl));
}

static void visit_mark(void *arg, struct sub *s)
{
	struct state *st = arg;
	int i = slot_of(st, s);
	FUZZ_CHECK(i >= 0, "visit found a sub that is not inserted");
	FUZZ_CHECK(s->next_free == NULL, "visit found a sub twice");
	s->next_free = s;
}

static void op_count(struct state *st)
{
	size_t n = 0;
	struct sublist_stats stats;
	for (int i = 0; i < SLOTS; i++)
		n += st->slot[i] != NULL;
	FUZZ_CHECK(sublist_count(st->a) == n && sublist_count(st->b) == n,
		   "count %zu/%zu, model %zu", sublist_count(st->a), sublist_count(st->b), n);
	sublist_stats(st->a, &stats);
	FUZZ_CHECK(stats.subs == n, "stats.subs %llu, model %zu",
		   (unsigned long long)stats.subs, n);
	sublist_visit(st->b, visit_mark, st);
	for (int i = 0; i < SLOTS; i++) {
		if (st->slot[i] == NULL)
			continue;
		FUZZ_CHECK(st->slot[i]->next_free != NULL, "visit missed '%s'",
			   st->slot[i]->subject);
		st->slot[i]->next_free = NULL;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in;
	struct state *st = calloc(1, sizeof(*st));
	FUZZ_CHECK(st != NULL, "harness out of memory");
	fuzz_in_init(&in, data, size);
	uint8_t flags = fuzz_in_u8(&in);
	mem_init(&st->mem_a);
	mem_init(&st->mem_b);
	if (flags & 1) {
		uint16_t n = fuzz_in_u16(&in);
		st->mem_a.fail_at = 1 + n;
	}
	st->a = sublist_new(&st->mem_a, 0x5eed, true);
	st->b = sublist_new(&st->mem_b, 0x5eed, false);
	FUZZ_CHECK(st->b != NULL, "sublist_new failed without a memory limit");
	if (st->a != NULL) {
		while (!fuzz_in_done(&in)) {
			switch (fuzz_in_u8(&in) % 8u) {
			case 0: case 1: op_insert(st, &in); break;
			case 2: op_remove(st, &in); break;
			case 3: case 4: op_match(st, &in); break;
			case 5:
				if (st->nheld > 0)
					held_release(st, fuzz_in_u8(&in) % st->nheld);
				break;
			case 6: op_subjects(&in); break;
			default: op_count(st); break;
			}
			sublist_invariants(st->a);
			sublist_invariants(st->b);
			for (size_t i = 0; i < st->nheld; i++)
				held_check(&st->held[i]);
		}
		while (st->nheld > 0)
			held_release(st, st->nheld - 1);
		sublist_free(st->a);
	}
	sublist_free(st->b);
	for (int i = 0; i < SLOTS; i++)
		if (st->slot[i] != NULL)
			sub_free(st->slot[i]);
	grave_empty(st);
	free(st->grave);
	fuzz_check_no_leak(&st->mem_a, "sublist with cache");
	fuzz_check_no_leak(&st->mem_b, "sublist without cache");
	free(st);
	return 0;
}
