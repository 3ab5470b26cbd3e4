/*
 * test_bench_hist.c - the latency histogram of natsbench: the percentiles
 * it reports are what the benchmark table compares, so they must be
 * right to within the promised relative error and never below the truth.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "bench_hist.h"

/* Every value maps to a bucket whose top is >= the value and within
 * 1/HIST_SUB_COUNT of it; buckets are in value order. */
START_TEST(test_bucket_bounds)
{
	uint64_t values[] = { 0, 1, 255, 256, 257, 1000, 4095, 4096, 123456789,
			      (uint64_t)1 << 40, ((uint64_t)1 << 63) + 12345,
			      UINT64_MAX };
	size_t prev = 0;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		uint64_t v = values[i];
		size_t b = hist_bucket_of(v);
		ck_assert_uint_lt(b, HIST_BUCKETS);
		ck_assert_uint_ge(b, prev);
		prev = b;
		uint64_t high = hist_bucket_high(b);
		ck_assert_uint_ge(high, v);
		ck_assert_uint_le(high - v, v / HIST_SUB_COUNT);
		if (b > 0)
			ck_assert_uint_lt(hist_bucket_high(b - 1), v);
	}
	ck_assert_uint_eq(hist_bucket_of(UINT64_MAX), HIST_BUCKETS - 1);
}
END_TEST

/* 1..100000 ns uniformly: p50 is 50000, p99 99000, p99.9 99900, each
 * reported within 0.8 % above. */
START_TEST(test_percentiles_uniform)
{
	struct hist *h = malloc(sizeof(*h));
	hist_init(h);
	for (uint64_t v = 1; v <= 100000; v++)
		hist_record(h, v);
	double want[][2] = { { 50, 50000 }, { 90, 90000 }, { 99, 99000 },
			     { 99.9, 99900 }, { 100, 100000 } };
	for (size_t i = 0; i < 5; i++) {
		uint64_t got = hist_percentile(h, want[i][0]);
		ck_assert_uint_ge(got, (uint64_t)want[i][1]);
		ck_assert_uint_le(got, (uint64_t)(want[i][1] * (1 + 1.0 / HIST_SUB_COUNT)));
	}
	ck_assert_uint_eq(h->min, 1);
	ck_assert_uint_eq(h->max, 100000);
	ck_assert(hist_mean(h) > 50000.0 && hist_mean(h) < 50001.0);
	free(h);
}
END_TEST

/* A tail: 999 fast values and one slow one.  p99.9 must not see it, the
 * maximum must, and merging two halves gives the same answers. */
START_TEST(test_tail_and_merge)
{
	struct hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	hist_init(a);
	hist_init(b);
	for (int i = 0; i < 999; i++)
		hist_record(i % 2 ? a : b, 20000);
	hist_record(b, 5000000);
	hist_merge(a, b);
	ck_assert_uint_eq(a->total, 1000);
	ck_assert_uint_le(hist_percentile(a, 99.9), 20000 + 20000 / HIST_SUB_COUNT);
	ck_assert_uint_eq(hist_percentile(a, 100), 5000000);
	ck_assert_uint_eq(a->max, 5000000);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_empty)
{
	struct hist *h = malloc(sizeof(*h));
	hist_init(h);
	ck_assert_uint_eq(hist_percentile(h, 99), 0);
	ck_assert(hist_mean(h) == 0.0);
	free(h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bench_hist");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_bucket_bounds);
	tcase_add_test(tc, test_percentiles_uniform);
	tcase_add_test(tc, test_tail_and_merge);
	tcase_add_test(tc, test_empty);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
