/*
 * test_hash.c - the seeded hash, the string map and the generator.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "lib/prng.h"

START_TEST(test_hash_seeded)
{
	ck_assert_uint_eq(hash_bytes(1, "abc", 3), hash_bytes(1, "abc", 3));
	ck_assert_uint_ne(hash_bytes(1, "abc", 3), hash_bytes(2, "abc", 3));
	ck_assert_uint_ne(hash_bytes(1, "abc", 3), hash_bytes(1, "abd", 3));
	ck_assert_uint_ne(hash_bytes(1, "", 0), hash_bytes(1, "\0", 1));
}
END_TEST

/* Differential: the map against a plain array model, random operations. */
START_TEST(test_hmap_model)
{
	struct mem m;
	mem_init(&m);
	struct hmap h;
	hmap_init(&h, &m, (uint64_t)_i * 7919);
	struct prng p;
	prng_seed(&p, (uint64_t)_i);
	enum { N = 300 };
	static char keys[N][16];
	int present[N] = { 0 };
	int vals[N];
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		vals[i] = i;
	}
	for (int step = 0; step < 5000; step++) {
		int k = (int)prng_below(&p, N);
		size_t len = strlen(keys[k]);
		switch (prng_below(&p, 3)) {
		case 0:
			ck_assert(hmap_put(&h, keys[k], len, &vals[k]));
			present[k] = 1;
			break;
		case 1: {
			void *v = hmap_del(&h, keys[k], len);
			ck_assert_ptr_eq(v, present[k] ? &vals[k] : NULL);
			present[k] = 0;
			break;
		}
		default:
			ck_assert_ptr_eq(hmap_get(&h, keys[k], len),
					 present[k] ? &vals[k] : NULL);
		}
	}
	size_t count = 0, pos = 0;
	while (hmap_next(&h, &pos) != NULL)
		count++;
	size_t expect = 0;
	for (int i = 0; i < N; i++)
		expect += (size_t)present[i];
	ck_assert_uint_eq(count, expect);
	ck_assert_uint_eq(h.count, expect);
	hmap_free(&h);
	ck_assert_uint_eq(m.live_bytes, 0);
}
END_TEST

START_TEST(test_prng_deterministic_and_bounded)
{
	struct prng a, b;
	prng_seed(&a, 42);
	prng_seed(&b, 42);
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(prng_next(&a), prng_next(&b));
	int hist[5] = { 0 };
	for (int i = 0; i < 5000; i++) {
		uint64_t v = prng_below(&a, 5);
		ck_assert_uint_lt(v, 5);
		hist[v]++;
	}
	for (int i = 0; i < 5; i++)
		ck_assert_int_gt(hist[i], 800);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hash");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_hash_seeded);
	tcase_add_loop_test(tc, test_hmap_model, 1, 6);
	tcase_add_test(tc, test_prng_deterministic_and_bounded);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
