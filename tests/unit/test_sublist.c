/*
 * test_sublist.c - the subscription index: the observed matching table,
 * queue-group merging, the match cache, result lifetimes, a randomized
 * differential test against a brute-force matcher, and allocation failure.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sublist.h"
#include "core/subject.h"
#include "lib/prng.h"

#define S(x) (x), strlen(x)

/* Check's own asserts write to a pipe on success; the loops below run
 * millions of checks, so they only call into Check on failure. */
#define EXPECT(cond)                                                      \
	do {                                                              \
		if (!(cond))                                              \
			ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #cond); \
	} while (0)
#define EXPECT_EQ(a, b) EXPECT((a) == (b))
#define EXPECT_MSG(cond, ...)                                             \
	do {                                                              \
		if (!(cond))                                              \
			ck_abort_msg(__VA_ARGS__);                        \
	} while (0)

static struct sub *sub_make(const char *subject, const char *queue)
{
	struct sub *s = calloc(1, sizeof(*s));
	ck_assert_ptr_nonnull(s);
	s->subject = strdup(subject);
	s->subject_len = strlen(subject);
	if (queue != NULL) {
		s->queue = strdup(queue);
		s->queue_len = strlen(queue);
	}
	s->queue_weight = 1;
	return s;
}

static void sub_destroy(struct sub *s)
{
	free(s->subject);
	free(s->queue);
	free(s);
}

static bool result_has_psub(const struct sublist_result *r, const struct sub *s)
{
	for (size_t i = 0; i < r->npsubs; i++)
		if (r->psubs[i] == s)
			return true;
	return false;
}

static const struct sublist_qgroup *result_group(const struct sublist_result *r,
						 const char *q)
{
	for (size_t i = 0; i < r->nqgroups; i++)
		if (r->qgroups[i].queue_len == strlen(q) &&
		    memcmp(r->qgroups[i].queue, q, strlen(q)) == 0)
			return &r->qgroups[i];
	return NULL;
}

/* ---- fixed cases ----------------------------------------------------- */

static void check_observed_table(bool cache)
{
	struct mem mem;
	mem_init(&mem);
	struct sublist *sl = sublist_new(&mem, 7, cache);
	ck_assert_ptr_nonnull(sl);
	struct sub *s1 = sub_make("a.*", NULL), *s2 = sub_make("a.>", NULL);
	struct sub *s3 = sub_make(">", NULL), *s4 = sub_make("*", NULL);
	struct sub *all[] = { s1, s2, s3, s4 };
	for (size_t i = 0; i < 4; i++)
		ck_assert_int_eq(sublist_insert(sl, all[i]), SUBLIST_OK);
	ck_assert_uint_eq(sublist_count(sl), 4);
	static const struct {
		const char *subject;
		bool want[4];
	} rows[] = {
		{ "a.b", { true, true, true, false } },
		{ "a", { false, false, true, true } },
		{ "a.b.c", { false, true, true, false } },
	};
	for (int round = 0; round < 2; round++) {
		for (size_t r = 0; r < 3; r++) {
			struct sublist_result *res = sublist_match(sl, S(rows[r].subject));
			ck_assert_ptr_nonnull(res);
			size_t want_n = 0;
			for (size_t i = 0; i < 4; i++) {
				ck_assert_msg(result_has_psub(res, all[i]) == rows[r].want[i],
					      "%s sub %zu", rows[r].subject, i + 1);
				want_n += rows[r].want[i];
			}
			ck_assert_uint_eq(res->npsubs, want_n);
			ck_assert_uint_eq(res->nqgroups, 0);
			ck_assert(sublist_has_interest(sl, S(rows[r].subject)));
			sublist_result_release(sl, res);
		}
		sublist_invariants(sl);
	}
	struct sublist_stats st;
	sublist_stats(sl, &st);
	ck_assert_uint_eq(st.matches, 6);
	ck_assert_uint_eq(st.cache_hits, cache ? 3 : 0);
	ck_assert_uint_eq(st.cache_entries, cache ? 3 : 0);
	ck_assert_uint_eq(st.subs, 4);
	ck_assert_uint_eq(st.inserts, 4);
	sublist_free(sl);
	ck_assert_uint_eq(mem.live_bytes, 0);
	for (size_t i = 0; i < 4; i++)
		sub_destroy(all[i]);
}

START_TEST(test_observed_table)
{
	check_observed_table(_i != 0);
}
END_TEST

START_TEST(test_reference_order)
{
	/* The reference's walk: '>' child, then '*' subtree, then the
	 * literal path; at the end the literal node before the '*' node. */
	struct mem mem;
	mem_init(&mem);
	struct sublist *sl = sublist_new(&mem, 1, true);
	struct sub *lit = sub_make("foo.bar", NULL), *pwc = sub_make("foo.*", NULL);
	struct sub *fwc = sub_make("foo.>", NULL), *all = sub_make(">", NULL);
	struct sub *star2 = sub_make("*.bar", NULL);
	struct sub *ins[] = { lit, pwc, fwc, all, star2 };
	for (size_t i = 0; i < 5; i++)
		ck_assert_int_eq(sublist_insert(sl, ins[i]), SUBLIST_OK);
	struct sublist_result *r = sublist_match(sl, S("foo.bar"));
	struct sub *want[] = { all, star2, fwc, lit, pwc };
	ck_assert_uint_eq(r->npsubs, 5);
	for (size_t i = 0; i < 5; i++)
		ck_assert_ptr_eq(r->psubs[i], want[i]);
	sublist_result_release(sl, r);
	sublist_free(sl);
	for (size_t i = 0; i < 5; i++)
		sub_destroy(ins[i]);
}
END_TEST

START_TEST(test_invalid_and_missing)
{
	struct mem mem;
	mem_init(&mem);
	struct sublist *sl = sublist_new(&mem, 3, true);
	static const char *const bad[] = { "", "a..b", ".a", "a.", "a.>.b", "a b", "a\tb" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sub *s = sub_make(bad[i], NULL);
		ck_assert_int_eq(sublist_insert(sl, s), SUBLIST_ERR_INVALID_SUBJECT);
		ck_assert_int_eq(sublist_remove(sl, s), SUBLIST_ERR_INVALID_SUBJECT);
		sub_destroy(s);
	}
	ck_assert_uint_eq(sublist_count(sl), 0);
	struct sub *ok = sub_make("a.b*", NULL), *other = sub_make("a.b*", NULL);
	struct sub *q = sub_make("a.b*", "q");
	ck_assert_int_eq(sublist_remove(sl, ok), SUBLIST_ERR_NOT_FOUND);
	ck_assert_int_eq(sublist_insert(sl, ok), SUBLIST_OK);
	/* Same subject, different sub: not found; a queue sub likewise. */
	ck_assert_int_eq(sublist_remove(sl, other), SUBLIST_ERR_NOT_FOUND);
	ck_assert_int_eq(sublist_remove(sl, q), SUBLIST_ERR_NOT_FOUND);
	ck_assert_int_eq(sublist_remove(sl, ok), SUBLIST_OK);
	ck_assert_int_eq(sublist_remove(sl, ok), SUBLIST_ERR_NOT_FOUND);
	ck_assert_uint_eq(sublist_count(sl), 0);
	/* Matching a subject with an empty token finds nothing. */
	struct sub *all = sub_make(">", NULL);
	ck_assert_int_eq(sublist_insert(sl, all), SUBLIST_OK);
	static const char *const empty_tok[] = { "", "a..b", ".a", "a." };
	for (size_t i = 0; i < 4; i++) {
		struct sublist_result *r = sublist_match(sl, S(empty_tok[i]));
		ck_assert_uint_eq(r->npsubs + r->nqgroups, 0);
		sublist_result_release(sl, r);
		ck_assert(!sublist_has_interest(sl, S(empty_tok[i])));
	}
	sublist_invariants(sl);
	sublist_free(sl);
	ck_assert_uint_eq(mem.live_bytes, 0);
	sub_destroy(ok);
	sub_destroy(other);
	sub_destroy(q);
	sub_destroy(all);
}
END_TEST

START_TEST(test_literal_wildcard_publish)
{
	/* 2.9.10 delivers a PUB to "a.*" as a literal through the trie. */
	struct mem mem;
	mem_init(&mem);
	struct sublist *sl = sublist_new(&mem, 3, _i != 0);
	struct sub *pwc = sub_make("a.*", NULL), *lit = sub_make("a.b", NULL);
	struct sub *star = sub_make("a.b*", NULL);
	ck_assert_int_eq(sublist_insert(sl, pwc), SUBLIST_OK);
	ck_assert_int_eq(sublist_insert(sl, lit), SUBLIST_OK);
	ck_assert_int_eq(sublist_insert(sl, star), SUBLIST_OK);
	struct sublist_result *r = sublist_match(sl, S("a.*"));
	ck_assert_uint_eq(r->npsubs, 1);
	ck_assert_ptr_eq(r->psubs[0], pwc);
	sublist_result_release(sl, r);
	r = sublist_match(sl, S("a.b*"));
	ck_assert_uint_eq(r->npsubs, 2);
	ck_assert(result_has_psub(r, star) && result_has_psub(r, pwc));
	sublist_result_release(sl, r);
	sublist_invariants(sl);
	sublist_free(sl);
	sub_destroy(pwc);
	sub_destroy(lit);
	sub_destroy(star);
}
END_TEST

START_TEST(test_queue_groups_merge)
{
	struct mem mem;
	mem_init(&mem);
	struct sublist *sl = sublist_new(&mem, 11, _i != 0);
	struct sub *a = sub_make("foo.*", "q1"), *b = sub_make("foo.>", "q1");
	struct sub *c = sub_make("foo.bar", "q2"), *d = sub_make("foo.bar", NULL);
	struct sub *e = sub_make("foo.bar", "q1"), *f = sub_make("foo.baz", "q1");
	struct sub *g = sub_make("foo.*", "q1");
	struct sub *ins[] = { a, b, c, d, e, f, g };
	for (size_t i = 0; i < 7; i++)
		ck_assert_int_eq(sublist_insert(sl, ins[i]), SUBLIST_OK);
	struct sublist_result *r = sublist_match(sl, S("foo.bar"));
	ck_assert_uint_eq(r->npsubs, 1);
	ck_assert_ptr_eq(r->psubs[0], d);
	ck_assert_uint_eq(r->nqgroups, 2);
	/* q1 is met first (at "foo.>"), and gathers members from three nodes
	 * in walk order: '>' node, literal node, '*' node. */
	const struct sublist_qgroup *q1 = &r->qgroups[0], *q2 = &r->qgroups[1];
	ck_assert_uint_eq(q1->queue_len, 2);
	ck_assert_mem_eq(q1->queue, "q1", 2);
	ck_assert_uint_eq(q1->nsubs, 4);
	ck_assert_ptr_eq(q1->subs[0], b);
	ck_assert_ptr_eq(q1->subs[1], e);
	ck_assert_ptr_eq(q1->subs[2], a);
	ck_assert_ptr_eq(q1->subs[3], g);
	ck_assert_mem_eq(q2->queue, "q2", 2);
	ck_assert_uint_eq(q2->nsubs, 1);
	ck_assert_ptr_eq(q2->subs[0], c);
	sublist_result_release(sl, r);
	/* Remove the group's first member: the others keep their order. */
	ck_assert_int_eq(sublist_remove(sl, a), SUBLIST_OK);
	r = sublist_match(sl, S("foo.bar"));
	q1 = result_group(r, "q1");
	ck_assert_ptr_nonnull(q1);
	ck_assert_uint_eq(q1->nsubs, 3);
	ck_assert_ptr_eq(q1->subs[0], b);
	ck_assert_ptr_eq(q1->subs[1], e);
	ck_assert_ptr_eq(q1->subs[2], g);
	sublist_result_release(sl, r);
	sublist_invariants(sl);
	sublist_free(sl);
	ck_assert_uint_eq(mem.live_bytes, 0);
	for (size_t i = 0; i < 7; i++)
		sub_destroy(ins[i]);
}
END_TEST

START_TEST(test_remove_keeps_order)
{
	/* Subs on one subject come out in insertion order, also after a
	 * removal from the front or the middle. */
	struct mem mem;
	mem_init(&mem);
	struct sublist *sl = sublist_new(&mem, 29, _i != 0);
	struct sub *p[5], *q[5];
	for (size_t i = 0; i < 5; i++) {
		p[i] = sub_make("o.p", NULL);
		q[i] = sub_make("o.p", "g");
		ck_assert_int_eq(sublist_insert(sl, p[i]), SUBLIST_OK);
		ck_assert_int_eq(sublist_insert(sl, q[i]), SUBLIST_OK);
	}
	ck_assert_int_eq(sublist_remove(sl, p[0]), SUBLIST_OK);
	ck_assert_int_eq(sublist_remove(sl, p[2]), SUBLIST_OK);
	ck_assert_int_eq(sublist_remove(sl, q[1]), SUBLIST_OK);
	struct sublist_result *r = sublist_match(sl, S("o.p"));
	ck_assert_uint_eq(r->npsubs, 3);
	ck_assert_ptr_eq(r->psubs[0], p[1]);
	ck_assert_ptr_eq(r->psubs[1], p[3]);
	ck_assert_ptr_eq(r->psubs[2], p[4]);
	ck_assert_uint_eq(r->nqgroups, 1);
	ck_assert_uint_eq(r->qgroups[0].nsubs, 4);
	ck_assert_ptr_eq(r->qgroups[0].subs[0], q[0]);
	ck_assert_ptr_eq(r->qgroups[0].subs[1], q[2]);
	ck_assert_ptr_eq(r->qgroups[0].subs[2], q[3]);
	ck_assert_ptr_eq(r->qgroups[0].subs[3], q[4]);
	sublist_result_release(sl, r);
	sublist_invariants(sl);
	sublist_free(sl);
	for (size_t i = 0; i < 5; i++) {
		sub_destroy(p[i]);
		sub_destroy(q[i]);
	}
}
END_TEST

START_TEST(test_result_outlives_removal)
{
	struct mem mem;
	mem_init(&mem);
	struct sublist *sl = sublist_new(&mem, 5, _i != 0);
	struct sub *p = sub_make("x.y", NULL), *w = sub_make("x.*", "workers");
	ck_assert_int_eq(sublist_insert(sl, p), SUBLIST_OK);
	ck_assert_int_eq(sublist_insert(sl, w), SUBLIST_OK);
	struct sublist_result *held = sublist_match(sl, S("x.y"));
	ck_assert_int_eq(sublist_remove(sl, p), SUBLIST_OK);
	ck_assert_int_eq(sublist_remove(sl, w), SUBLIST_OK);
	sublist_invariants(sl);
	/* Fresh interest is gone... */
	struct sublist_result *now = sublist_match(sl, S("x.y"));
	ck_assert_uint_eq(now->npsubs + now->nqgroups, 0);
	ck_assert(!sublist_has_interest(sl, S("x.y")));
	sublist_result_release(sl, now);
	/* ...but the held result is intact, queue name included. */
	ck_assert_uint_eq(held->npsubs, 1);
	ck_assert_ptr_eq(held->psubs[0], p);
	ck_assert_uint_eq(held->nqgroups, 1);
	ck_assert_uint_eq(held->qgroups[0].nsubs, 1);
	ck_assert_ptr_eq(held->qgroups[0].subs[0], w);
	ck_assert_mem_eq(held->qgroups[0].queue, "workers", 7);
	/* Re-inserting while held does not disturb it either. */
	ck_assert_int_eq(sublist_insert(sl, p), SUBLIST_OK);
	ck_assert_uint_eq(held->npsubs, 1);
	sublist_result_release(sl, held);
	sublist_invariants(sl);
	sublist_free(sl);
	ck_assert_uint_eq(mem.live_bytes, 0);
	sub_destroy(p);
	sub_destroy(w);
}
END_TEST

START_TEST(test_cache_invalidation_and_hits)
{
	struct mem mem;
	mem_init(&mem);
	struct sublist *sl = sublist_new(&mem, 9, true);
	struct sublist_result *r = sublist_match(sl, S("foo.bar"));
	ck_assert_uint_eq(r->npsubs, 0);
	sublist_result_release(sl, r);
	struct sublist_stats st;
	sublist_stats(sl, &st);
	ck_assert_uint_eq(st.cache_entries, 1);
	/* A hit hands out the same result again. */
	struct sublist_result *r1 = sublist_match(sl, S("foo.bar"));
	struct sublist_result *r2 = sublist_match(sl, S("foo.bar"));
	ck_assert_ptr_eq(r1, r2);
	sublist_stats(sl, &st);
	ck_assert_uint_eq(st.cache_hits, 2);
	/* Inserting a wildcard that matches drops the entry. */
	struct sub *w = sub_make("foo.*", NULL), *o = sub_make("other", NULL);
	ck_assert_int_eq(sublist_insert(sl, o), SUBLIST_OK);
	sublist_stats(sl, &st);
	ck_assert_uint_eq(st.cache_entries, 1);
	ck_assert_int_eq(sublist_insert(sl, w), SUBLIST_OK);
	sublist_stats(sl, &st);
	ck_assert_uint_eq(st.cache_entries, 0);
	ck_assert_uint_eq(r1->npsubs, 0);
	sublist_result_release(sl, r1);
	sublist_result_release(sl, r2);
	r = sublist_match(sl, S("foo.bar"));
	ck_assert_uint_eq(r->npsubs, 1);
	ck_assert_ptr_eq(r->psubs[0], w);
	sublist_result_release(sl, r);
	/* Removal invalidates too. */
	ck_assert_int_eq(sublist_remove(sl, w), SUBLIST_OK);
	ck_assert(!sublist_has_interest(sl, S("foo.bar")));
	r = sublist_match(sl, S("foo.bar"));
	ck_assert_uint_eq(r->npsubs, 0);
	sublist_result_release(sl, r);
	sublist_invariants(sl);
	sublist_free(sl);
	ck_assert_uint_eq(mem.live_bytes, 0);
	sub_destroy(w);
	sub_destroy(o);
}
END_TEST

START_TEST(test_cache_bounded)
{
	struct mem mem;
	mem_init(&mem);
	struct sublist *sl = sublist_new(&mem, 13, true);
	struct sub *all = sub_make(">", NULL);
	ck_assert_int_eq(sublist_insert(sl, all), SUBLIST_OK);
	char subj[32];
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(subj, sizeof(subj), "s.%d", i);
		struct sublist_result *r = sublist_match(sl, subj, (size_t)n);
		ck_assert_uint_eq(r->npsubs, 1);
		sublist_result_release(sl, r);
	}
	struct sublist_stats st;
	sublist_stats(sl, &st);
	ck_assert_uint_le(st.cache_entries, 1024);
	ck_assert_uint_ge(st.cache_entries, 512);
	/* Eviction is first-in first-out: the newest stays, the oldest went. */
	struct sublist_result *r = sublist_match(sl, S("s.4999"));
	sublist_result_release(sl, r);
	r = sublist_match(sl, S("s.0"));
	sublist_result_release(sl, r);
	struct sublist_stats st2;
	sublist_stats(sl, &st2);
	ck_assert_uint_eq(st2.cache_hits, st.cache_hits + 1);
	sublist_invariants(sl);
	sublist_free(sl);
	ck_assert_uint_eq(mem.live_bytes, 0);
	sub_destroy(all);
}
END_TEST

START_TEST(test_prune_returns_memory)
{
	struct mem mem;
	mem_init(&mem);
	struct sublist *sl = sublist_new(&mem, 17, false);
	size_t base = mem.live_bytes;
	static const char *const subjects[] = {
		"a", "a.b", "a.b.c", "a.*.c", "a.>", "*", ">", "x.y.z.w.v", "a.b.c",
	};
	struct sub *subs[18];
	for (size_t i = 0; i < 18; i++) {
		subs[i] = sub_make(subjects[i % 9], i % 3 == 0 ? "q" : NULL);
		ck_assert_int_eq(sublist_insert(sl, subs[i]), SUBLIST_OK);
	}
	ck_assert_uint_gt(mem.live_bytes, base);
	for (size_t i = 0; i < 18; i++) {
		ck_assert_int_eq(sublist_remove(sl, subs[(i * 7) % 18]), SUBLIST_OK);
		sublist_invariants(sl);
	}
	ck_assert_uint_eq(sublist_count(sl), 0);
	ck_assert_uint_eq(mem.live_bytes, base);
	sublist_free(sl);
	for (size_t i = 0; i < 18; i++)
		sub_destroy(subs[i]);
}
END_TEST

struct visit_acc {
	struct sub **seen;
	size_t n;
};

static void visit_cb(void *arg, struct sub *s)
{
	struct visit_acc *acc = arg;
	acc->seen[acc->n++] = s;
}

START_TEST(test_visit_all)
{
	struct mem mem;
	mem_init(&mem);
	struct sublist *sl = sublist_new(&mem, 19, true);
	static const char *const subjects[] = { "a", "a.b", "a.*", ">", "c.>", "a.b" };
	struct sub *subs[6];
	for (size_t i = 0; i < 6; i++) {
		subs[i] = sub_make(subjects[i], i == 5 ? "g" : NULL);
		ck_assert_int_eq(sublist_insert(sl, subs[i]), SUBLIST_OK);
	}
	struct sub *seen[8];
	struct visit_acc acc = { seen, 0 };
	sublist_visit(sl, visit_cb, &acc);
	ck_assert_uint_eq(acc.n, 6);
	for (size_t i = 0; i < 6; i++) {
		size_t hits = 0;
		for (size_t j = 0; j < acc.n; j++)
			hits += seen[j] == subs[i];
		ck_assert_uint_eq(hits, 1);
	}
	sublist_free(sl);
	for (size_t i = 0; i < 6; i++)
		sub_destroy(subs[i]);
}
END_TEST

START_TEST(test_deep_and_long)
{
	struct mem mem;
	mem_init(&mem);
	struct sublist *sl = sublist_new(&mem, 23, true);
	char subj[4096];
	size_t len = 0;
	for (int i = 0; i < 1000; i++) {
		if (i > 0)
			subj[len++] = '.';
		subj[len++] = (char)('a' + i % 26);
	}
	subj[len] = '\0';
	struct sub *deep = sub_make(subj, NULL);
	subj[len - 1] = '*';
	struct sub *deep_pwc = sub_make(subj, NULL);
	subj[len - 1] = '>';
	struct sub *deep_fwc = sub_make(subj, NULL);
	ck_assert_int_eq(sublist_insert(sl, deep), SUBLIST_OK);
	ck_assert_int_eq(sublist_insert(sl, deep_pwc), SUBLIST_OK);
	ck_assert_int_eq(sublist_insert(sl, deep_fwc), SUBLIST_OK);
	struct sublist_result *r = sublist_match(sl, deep->subject, deep->subject_len);
	ck_assert_uint_eq(r->npsubs, 3);
	sublist_result_release(sl, r);
	sublist_invariants(sl);
	ck_assert_int_eq(sublist_remove(sl, deep), SUBLIST_OK);
	ck_assert_int_eq(sublist_remove(sl, deep_pwc), SUBLIST_OK);
	ck_assert_int_eq(sublist_remove(sl, deep_fwc), SUBLIST_OK);
	sublist_invariants(sl);
	sublist_free(sl);
	ck_assert_uint_eq(mem.live_bytes, 0);
	sub_destroy(deep);
	sub_destroy(deep_pwc);
	sub_destroy(deep_fwc);
}
END_TEST

/* ---- randomized differential test ------------------------------------ */

#define POOL_MAX 512

/* The live subs in insertion order; each sub's `delivered` field holds a
 * creation index so fingerprints never see pointer values. */
struct world {
	struct prng rng;
	struct sub *live[POOL_MAX];
	size_t nlive;
	uint64_t created;
	uint64_t bursts;              /* distinct-subject counter */
	uint64_t fingerprint;
};

static void random_filter(struct prng *p, char *out)
{
	static const char *const toks[] = { "a", "b", "c", "*", ">" };
	size_t n = 1 + prng_below(p, 4), len = 0;
	for (size_t i = 0; i < n; i++) {
		size_t k = prng_below(p, 5);
		if (k == 4 && i + 1 != n)
			k = 3;
		if (i > 0)
			out[len++] = '.';
		out[len++] = toks[k][0];
	}
	out[len] = '\0';
}

static size_t random_literal(struct prng *p, char *out)
{
	size_t n = 1 + prng_below(p, 5), len = 0;
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			out[len++] = '.';
		uint64_t k = prng_below(p, 40);
		/* Now and then a published "*" token, matched as a literal, or
		 * a rare token that only wildcards match and that fills the
		 * cache past its bound. */
		if (k == 0)
			out[len++] = '*';
		else if (k < 8)
			out[len++] = (char)('d' + prng_below(p, 23));
		else
			out[len++] = (char)('a' + k % 3);
	}
	out[len] = '\0';
	return len;
}

static struct sub *world_new_sub(struct world *w)
{
	char f[16];
	random_filter(&w->rng, f);
	uint64_t q = prng_below(&w->rng, 5);
	struct sub *s = sub_make(f, q == 0 ? "q1" : q == 1 ? "q2" : NULL);
	s->delivered = w->created++;
	return s;
}

static void world_forget(struct world *w, size_t i)
{
	memmove(&w->live[i], &w->live[i + 1], (w->nlive - i - 1) * sizeof(w->live[0]));
	w->nlive--;
}

static void fingerprint_add(struct world *w, uint64_t v)
{
	w->fingerprint = (w->fingerprint ^ v) * 0x100000001b3ULL;
}

/* Checks r against every live sub with subject_matches. */
static void check_brute_force(const struct world *w, const char *subj, size_t len,
			      const struct sublist_result *r)
{
	size_t np = 0, nq1 = 0, nq2 = 0;
	for (size_t i = 0; i < w->nlive; i++) {
		const struct sub *s = w->live[i];
		if (!subject_matches(subj, len, s->subject, s->subject_len))
			continue;
		if (s->queue == NULL) {
			EXPECT_MSG(result_has_psub(r, s), "%s misses %s", subj, s->subject);
			np++;
			continue;
		}
		const struct sublist_qgroup *g = result_group(r, s->queue);
		EXPECT_MSG(g != NULL, "%s misses group %s", subj, s->queue);
		bool found = false;
		for (size_t j = 0; j < g->nsubs; j++)
			found |= g->subs[j] == s;
		EXPECT(found);
		*(s->queue[1] == '1' ? &nq1 : &nq2) += 1;
	}
	EXPECT_EQ(r->npsubs, np);
	EXPECT_EQ(r->nqgroups, (size_t)(nq1 > 0) + (size_t)(nq2 > 0));
	const struct sublist_qgroup *g1 = result_group(r, "q1"), *g2 = result_group(r, "q2");
	EXPECT_EQ(g1 ? g1->nsubs : 0, nq1);
	EXPECT_EQ(g2 ? g2->nsubs : 0, nq2);
}

static void check_same_result(const struct sublist_result *a, const struct sublist_result *b)
{
	EXPECT_EQ(a->npsubs, b->npsubs);
	EXPECT_EQ(a->nqgroups, b->nqgroups);
	for (size_t i = 0; i < a->npsubs; i++)
		EXPECT_EQ(a->psubs[i], b->psubs[i]);
	for (size_t g = 0; g < a->nqgroups; g++) {
		const struct sublist_qgroup *x = &a->qgroups[g], *y = &b->qgroups[g];
		EXPECT_EQ(x->queue_len, y->queue_len);
		EXPECT(memcmp(x->queue, y->queue, x->queue_len) == 0);
		EXPECT_EQ(x->nsubs, y->nsubs);
		for (size_t i = 0; i < x->nsubs; i++)
			EXPECT_EQ(x->subs[i], y->subs[i]);
	}
}

static void fingerprint_result(struct world *w, const struct sublist_result *r)
{
	fingerprint_add(w, r->npsubs);
	for (size_t i = 0; i < r->npsubs; i++)
		fingerprint_add(w, r->psubs[i]->delivered);
	for (size_t g = 0; g < r->nqgroups; g++) {
		fingerprint_add(w, r->qgroups[g].queue[1]);
		for (size_t i = 0; i < r->qgroups[g].nsubs; i++)
			fingerprint_add(w, r->qgroups[g].subs[i]->delivered);
	}
}

/* A result kept across operations and the copy it must still equal. */
struct held {
	struct sublist_result *r;
	struct sublist_result copy;
	struct sub *psubs[POOL_MAX];
	struct sublist_qgroup groups[2];
	struct sub *members[2][POOL_MAX];
};

static void held_take(struct held *h, struct sublist_result *r)
{
	h->r = r;
	h->copy = *r;
	if (r->npsubs > 0)
		memcpy(h->psubs, r->psubs, r->npsubs * sizeof(r->psubs[0]));
	h->copy.psubs = h->psubs;
	EXPECT(r->nqgroups <= 2);
	for (size_t g = 0; g < r->nqgroups; g++) {
		h->groups[g] = r->qgroups[g];
		memcpy(h->members[g], r->qgroups[g].subs, r->qgroups[g].nsubs * sizeof(void *));
		h->groups[g].subs = h->members[g];
	}
	h->copy.qgroups = h->groups;
}

struct diff_lists {
	struct mem mem_cache, mem_plain;
	struct sublist *cached;
	struct sublist *plain;
	struct held held;
};

static void diff_match_subject(struct world *w, struct diff_lists *d,
			       const char *subj, size_t len, bool brute)
{
	struct sublist_result *rc = sublist_match(d->cached, subj, len);
	struct sublist_result *rp = sublist_match(d->plain, subj, len);
	EXPECT(rc != NULL);
	EXPECT(rp != NULL);
	check_same_result(rc, rp);
	if (brute)
		check_brute_force(w, subj, len, rc);
	fingerprint_result(w, rc);
	bool interest = rc->npsubs + rc->nqgroups > 0;
	EXPECT(sublist_has_interest(d->cached, subj, len) == interest);
	EXPECT(sublist_has_interest(d->plain, subj, len) == interest);
	if (d->held.r == NULL && prng_below(&w->rng, 8) == 0) {
		held_take(&d->held, rc);
	} else {
		sublist_result_release(d->cached, rc);
	}
	sublist_result_release(d->plain, rp);
}

static void diff_match(struct world *w, struct diff_lists *d)
{
	char subj[16];
	size_t len = random_literal(&w->rng, subj);
	diff_match_subject(w, d, subj, len, true);
}

/* More distinct subjects in a row than the cache holds, so that it evicts
 * while later inserts and removes invalidate. */
static void diff_burst(struct world *w, struct diff_lists *d)
{
	for (int i = 0; i < 1100; i++) {
		char subj[32];
		int n = snprintf(subj, sizeof(subj), "%c.%llu", (char)('a' + i % 3),
				 (unsigned long long)w->bursts++);
		/* The plain list (and every few steps subject_matches) keeps
		 * the cached answers honest. */
		diff_match_subject(w, d, subj, (size_t)n, i % 16 == 0);
	}
	struct sublist_stats st;
	sublist_stats(d->cached, &st);
	EXPECT_EQ(st.cache_entries, 1024);
}

static void diff_step(struct world *w, struct diff_lists *d)
{
	uint64_t op = prng_below(&w->rng, 20);
	if (op < 8 && w->nlive < POOL_MAX) {
		struct sub *s = world_new_sub(w);
		EXPECT(sublist_insert(d->cached, s) == SUBLIST_OK);
		EXPECT(sublist_insert(d->plain, s) == SUBLIST_OK);
		w->live[w->nlive++] = s;
	} else if (op < 13 && w->nlive > 0) {
		size_t i = prng_below(&w->rng, w->nlive);
		struct sub *s = w->live[i];
		EXPECT(sublist_remove(d->cached, s) == SUBLIST_OK);
		EXPECT(sublist_remove(d->plain, s) == SUBLIST_OK);
		EXPECT(sublist_remove(d->plain, s) == SUBLIST_ERR_NOT_FOUND);
		world_forget(w, i);
		/* A held result may still point at it: it is only compared. */
		sub_destroy(s);
	} else if (op == 14 && prng_below(&w->rng, 8) == 0) {
		diff_burst(w, d);
	} else if (op == 13 && d->held.r != NULL) {
		check_same_result(d->held.r, &d->held.copy);
		sublist_result_release(d->cached, d->held.r);
		d->held.r = NULL;
	} else {
		diff_match(w, d);
	}
	EXPECT_EQ(sublist_count(d->cached), w->nlive);
	EXPECT_EQ(sublist_count(d->plain), w->nlive);
}

/* Runs one seed; returns the fingerprint of every match result. */
static uint64_t diff_run(uint64_t seed, uint64_t list_seed, int steps)
{
	struct world w = { .fingerprint = 0xcbf29ce484222325ULL };
	prng_seed(&w.rng, seed);
	struct diff_lists d;
	memset(&d, 0, sizeof(d));
	mem_init(&d.mem_cache);
	mem_init(&d.mem_plain);
	d.cached = sublist_new(&d.mem_cache, list_seed, true);
	d.plain = sublist_new(&d.mem_plain, list_seed, false);
	for (int step = 0; step < steps; step++) {
		diff_step(&w, &d);
		if (step % 16 == 0) {
			sublist_invariants(d.cached);
			sublist_invariants(d.plain);
		}
	}
	sublist_invariants(d.cached);
	sublist_invariants(d.plain);
	if (d.held.r != NULL)
		sublist_result_release(d.cached, d.held.r);
	while (w.nlive > 0) {
		struct sub *s = w.live[w.nlive - 1];
		EXPECT(sublist_remove(d.cached, s) == SUBLIST_OK);
		EXPECT(sublist_remove(d.plain, s) == SUBLIST_OK);
		sub_destroy(s);
		w.nlive--;
	}
	sublist_invariants(d.cached);
	sublist_invariants(d.plain);
	sublist_free(d.cached);
	sublist_free(d.plain);
	EXPECT_EQ(d.mem_cache.live_bytes, 0);
	EXPECT_EQ(d.mem_plain.live_bytes, 0);
	return w.fingerprint;
}

START_TEST(test_differential_seeds)
{
	for (uint64_t seed = (uint64_t)_i * 10; seed < (uint64_t)_i * 10 + 10; seed++) {
		uint64_t a = diff_run(seed, seed * 31 + 1, 1000);
		if (seed % 4 != 0)
			continue;
		/* Same operations, same order of every result: across runs and
		 * whatever the hash seed. */
		EXPECT_EQ(diff_run(seed, seed * 31 + 1, 1000), a);
		EXPECT_EQ(diff_run(seed, seed * 31 + 2, 1000), a);
	}
}
END_TEST

/* ---- allocation failure ---------------------------------------------- */

/* Runs a fixed script on a failing allocator; every step must either work
 * or report NOMEM / NULL and leave the list consistent. */
static void oom_script(struct mem *mem, bool cache, uint64_t *allocs)
{
	struct sublist *sl = sublist_new(mem, 99, cache);
	if (sl == NULL)
		return;
	struct world w;
	memset(&w, 0, sizeof(w));
	prng_seed(&w.rng, 4242);
	for (int step = 0; step < 300; step++) {
		uint64_t op = prng_below(&w.rng, 10);
		if (op < 5) {
			struct sub *s = world_new_sub(&w);
			int rc = sublist_insert(sl, s);
			EXPECT(rc == SUBLIST_OK || rc == SUBLIST_ERR_NOMEM);
			if (rc == SUBLIST_OK)
				w.live[w.nlive++] = s;
			else
				sub_destroy(s);
		} else if (op < 7 && w.nlive > 0) {
			size_t i = prng_below(&w.rng, w.nlive);
			EXPECT(sublist_remove(sl, w.live[i]) == SUBLIST_OK);
			sub_destroy(w.live[i]);
			world_forget(&w, i);
		} else {
			char subj[16];
			size_t len = random_literal(&w.rng, subj);
			struct sublist_result *r = sublist_match(sl, subj, len);
			if (r != NULL) {
				check_brute_force(&w, subj, len, r);
				sublist_result_release(sl, r);
			}
		}
		EXPECT_EQ(sublist_count(sl), w.nlive);
		sublist_invariants(sl);
	}
	/* Memory is back: everything answers correctly again. */
	mem->fail_at = 0;
	mem->limit_bytes = 0;
	for (int i = 0; i < 50; i++) {
		char subj[16];
		size_t len = random_literal(&w.rng, subj);
		struct sublist_result *r = sublist_match(sl, subj, len);
		EXPECT(r != NULL);
		check_brute_force(&w, subj, len, r);
		sublist_result_release(sl, r);
	}
	sublist_invariants(sl);
	while (w.nlive > 0) {
		EXPECT(sublist_remove(sl, w.live[w.nlive - 1]) == SUBLIST_OK);
		sub_destroy(w.live[--w.nlive]);
	}
	sublist_invariants(sl);
	sublist_free(sl);
	EXPECT_EQ(mem->live_bytes, 0);
	if (allocs != NULL)
		*allocs = mem->alloc_count;
}

START_TEST(test_oom_fail_at)
{
	bool cache = _i != 0;
	struct mem mem;
	mem_init(&mem);
	uint64_t total = 0;
	oom_script(&mem, cache, &total);
	EXPECT(total > 100);
	for (uint64_t k = 1; k <= total; k++) {
		mem_init(&mem);
		mem.fail_at = k;
		oom_script(&mem, cache, NULL);
	}
}
END_TEST

START_TEST(test_oom_limit_bytes)
{
	bool cache = _i != 0;
	/* A byte budget refuses every allocation past it, not just one. */
	for (size_t limit = 256; limit < 64 * 1024; limit = limit * 5 / 4) {
		struct mem mem;
		mem_init(&mem);
		mem.limit_bytes = limit;
		oom_script(&mem, cache, NULL);
	}
}
END_TEST

START_TEST(test_oom_reports_nomem)
{
	/* Fail the allocation of a new node: insert says so, nothing stays. */
	struct mem mem;
	mem_init(&mem);
	struct sublist *sl = sublist_new(&mem, 1, true);
	size_t base = mem.live_bytes;
	struct sub *s = sub_make("a.b.c", "q");
	mem.fail_at = mem.alloc_count + 3;
	ck_assert_int_eq(sublist_insert(sl, s), SUBLIST_ERR_NOMEM);
	ck_assert_uint_eq(sublist_count(sl), 0);
	ck_assert_uint_eq(mem.live_bytes, base);
	sublist_invariants(sl);
	ck_assert_int_eq(sublist_insert(sl, s), SUBLIST_OK);
	mem.fail_at = mem.alloc_count + 1;
	ck_assert_ptr_null(sublist_match(sl, S("a.b.c")));
	struct sublist_result *r = sublist_match(sl, S("a.b.c"));
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->nqgroups, 1);
	sublist_result_release(sl, r);
	ck_assert_int_eq(sublist_remove(sl, s), SUBLIST_OK);
	sublist_free(sl);
	ck_assert_uint_eq(mem.live_bytes, 0);
	sub_destroy(s);
}
END_TEST

static Suite *sublist_suite(void)
{
	Suite *s = suite_create("sublist");
	TCase *tc = tcase_create("fixed");
	tcase_add_loop_test(tc, test_observed_table, 0, 2);
	tcase_add_test(tc, test_reference_order);
	tcase_add_test(tc, test_invalid_and_missing);
	tcase_add_loop_test(tc, test_literal_wildcard_publish, 0, 2);
	tcase_add_loop_test(tc, test_queue_groups_merge, 0, 2);
	tcase_add_loop_test(tc, test_remove_keeps_order, 0, 2);
	tcase_add_loop_test(tc, test_result_outlives_removal, 0, 2);
	tcase_add_test(tc, test_cache_invalidation_and_hits);
	tcase_add_test(tc, test_cache_bounded);
	tcase_add_test(tc, test_prune_returns_memory);
	tcase_add_test(tc, test_visit_all);
	tcase_add_test(tc, test_deep_and_long);
	suite_add_tcase(s, tc);
	tc = tcase_create("differential");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_differential_seeds, 0, 8);
	suite_add_tcase(s, tc);
	tc = tcase_create("oom");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_oom_fail_at, 0, 2);
	tcase_add_loop_test(tc, test_oom_limit_bytes, 0, 2);
	tcase_add_test(tc, test_oom_reports_nomem);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sublist_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
