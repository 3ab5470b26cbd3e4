/*
 * test_buf.c - the growable buffer and the counting allocator.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/mem.h"

START_TEST(test_append_and_format)
{
	struct mem m;
	mem_init(&m);
	struct buf b;
	buf_init(&b, &m);
	buf_append_str(&b, "MSG ");
	buf_append_u64(&b, 18446744073709551615ULL);
	buf_append_char(&b, ' ');
	buf_append_i64(&b, -42);
	buf_appendf(&b, " %s=%d", "x", 7);
	ck_assert_str_eq(b.data, "MSG 18446744073709551615 -42 x=7");
	ck_assert_uint_eq(b.len, strlen(b.data));
	buf_consume(&b, 4);
	ck_assert_str_eq(b.data, "18446744073709551615 -42 x=7");
	buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	buf_free(&b);
	ck_assert_uint_eq(m.live_bytes, 0);
}
END_TEST

START_TEST(test_growth_large)
{
	struct mem m;
	mem_init(&m);
	struct buf b;
	buf_init(&b, &m);
	for (int i = 0; i < 100000; i++)
		buf_append_char(&b, (char)('a' + i % 26));
	ck_assert_uint_eq(b.len, 100000);
	ck_assert_int_eq(b.data[99999], 'a' + 99999 % 26);
	ck_assert(!b.oom);
	ck_assert_uint_ge(m.peak_bytes, 100000);
	buf_free(&b);
	ck_assert_uint_eq(m.live_bytes, 0);
}
END_TEST

START_TEST(test_oom_is_sticky_and_safe)
{
	struct mem m;
	mem_init(&m);
	m.limit_bytes = 1000;
	struct buf b;
	buf_init(&b, &m);
	char big[2000];
	memset(big, 'x', sizeof(big));
	buf_append(&b, "ok", 2);
	buf_append(&b, big, sizeof(big));
	ck_assert(b.oom);
	ck_assert_uint_eq(b.len, 2);
	buf_append(&b, "more", 4);
	ck_assert_uint_eq(b.len, 2);
	buf_reset(&b);
	ck_assert(!b.oom);
	buf_free(&b);
	ck_assert_uint_eq(m.live_bytes, 0);
}
END_TEST

START_TEST(test_mem_fail_at)
{
	struct mem m;
	mem_init(&m);
	m.fail_at = 3;
	void *a = mem_alloc(&m, 10), *b = mem_alloc(&m, 10);
	void *c = mem_alloc(&m, 10), *d = mem_alloc(&m, 10);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(m.live_bytes, 30);
	void *e = mem_realloc(&m, a, 100);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(m.live_bytes, 120);
	mem_free(&m, e);
	mem_free(&m, b);
	mem_free(&m, d);
	ck_assert_uint_eq(m.live_bytes, 0);
	ck_assert_ptr_null(mem_calloc(&m, SIZE_MAX / 2, 4));
}
END_TEST

START_TEST(test_fmt_u64)
{
	char out[21];
	ck_assert_uint_eq(fmt_u64(out, 0), 1);
	ck_assert_int_eq(out[0], '0');
	size_t n = fmt_u64(out, 1234567890);
	ck_assert_int_eq(memcmp(out, "1234567890", n), 0);
	/* Every length, odd and even, against the C library. */
	uint64_t v = 1;
	for (int digits = 1; digits <= 20; digits++) {
		const uint64_t probes[3] = { v, v * 7 + 3, v - 1 };
		for (int k = 0; k < 3; k++) {
			char want[32];
			int wn = snprintf(want, sizeof(want), "%llu",
					  (unsigned long long)probes[k]);
			n = fmt_u64(out, probes[k]);
			ck_assert_uint_eq(n, (size_t)wn);
			ck_assert_int_eq(memcmp(out, want, n), 0);
		}
		if (digits < 20)
			v *= 10;
	}
	n = fmt_u64(out, UINT64_MAX);
	ck_assert_int_eq(memcmp(out, "18446744073709551615", n), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_append_and_format);
	tcase_add_test(tc, test_growth_large);
	tcase_add_test(tc, test_oom_is_sticky_and_safe);
	tcase_add_test(tc, test_mem_fail_at);
	tcase_add_test(tc, test_fmt_u64);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
