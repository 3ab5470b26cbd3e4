/*
 * test_sim_disk.c - the virtual disk: written and synced layers, what a
 * crash keeps (synced data, torn prefixes, never-synced files vanish),
 * directories and listing order, rename and remove, and the faults
 * (failed and short I/O, capacity, bit flips).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "env/env.h"

static struct sim_rng rng;

static struct sim_disk *disk_new(uint64_t seed)
{
	sim_rng_init(&rng, seed, "disk");
	struct sim_disk *d = sim_disk_new(&rng);
	d->faults.torn_writes = false;
	return d;
}

static struct sim_file *open_file(struct sim_disk *d, const char *path,
				  unsigned flags)
{
	struct sim_file *f = NULL;
	ck_assert_int_eq(sim_disk_open(d, path, flags, &f), 0);
	return f;
}

static void put(struct sim_disk *d, struct sim_file *f, const char *s,
		uint64_t off)
{
	ck_assert_int_eq(sim_disk_pwrite(d, f, s, strlen(s), off),
			 (long)strlen(s));
}

static void assert_content(struct sim_disk *d, const char *path,
			   const char *want)
{
	char buf[256];
	long n = sim_disk_peek(d, path, buf, sizeof(buf));
	ck_assert_int_eq(n, (long)strlen(want));
	ck_assert(memcmp(buf, want, (size_t)n) == 0);
}

START_TEST(test_paths)
{
	char p[64];
	ck_assert_int_eq(sim_disk_path("a/b/../c/./d", p, sizeof(p)), 0);
	ck_assert_str_eq(p, "/a/c/d");
	ck_assert_int_eq(sim_disk_path("//x//", p, sizeof(p)), 0);
	ck_assert_str_eq(p, "/x");
	ck_assert_int_eq(sim_disk_path("/..", p, sizeof(p)), 0);
	ck_assert_str_eq(p, "/");
}
END_TEST

START_TEST(test_crash_keeps_synced_only)
{
	struct sim_disk *d = disk_new(1);
	struct sim_file *f = open_file(d, "data", ENV_O_WRITE | ENV_O_CREATE);
	put(d, f, "hello", 0);
	ck_assert_int_eq(sim_disk_sync(d, f), 0);
	put(d, f, " world", 5);
	char buf[32];
	ck_assert_int_eq(sim_disk_pread(d, f, buf, sizeof(buf), 0), 11);
	sim_disk_close(d, f);
	ck_assert_uint_eq(sim_disk_crash(d, NULL, NULL), 1);
	assert_content(d, "/data", "hello");
	sim_disk_free(d);
}
END_TEST

START_TEST(test_never_synced_vanishes)
{
	struct sim_disk *d = disk_new(2);
	struct sim_file *f = open_file(d, "/tmp.dat",
				       ENV_O_WRITE | ENV_O_CREATE);
	put(d, f, "volatile", 0);
	sim_disk_close(d, f);
	/* Renaming does not make the contents durable. */
	ck_assert_int_eq(sim_disk_rename(d, "/tmp.dat", "/final.dat"), 0);
	sim_disk_crash(d, NULL, NULL);
	ck_assert_int_eq(sim_disk_peek(d, "/final.dat", NULL, 0), -1);
	struct sim_file *g;
	ck_assert_int_eq(sim_disk_open(d, "/final.dat", ENV_O_READ, &g),
			 ENV_ENOENT);
	sim_disk_free(d);
}
END_TEST

START_TEST(test_torn_writes_keep_a_prefix)
{
	/* Over many seeds, a torn crash keeps every possible prefix length
	 * and never anything that was not written in order. */
	int kept_none = 0, kept_all = 0, kept_part = 0;
	for (uint64_t seed = 1; seed <= 200; seed++) {
		struct sim_disk *d = disk_new(seed);
		d->faults.torn_writes = true;
		struct sim_file *f = open_file(d, "/log",
					       ENV_O_WRITE | ENV_O_CREATE);
		sim_disk_sync(d, f);
		put(d, f, "AAAA", 0);
		put(d, f, "BBBB", 4);
		sim_disk_close(d, f);
		sim_disk_crash(d, NULL, NULL);
		char buf[16] = { 0 };
		long n = sim_disk_peek(d, "/log", buf, sizeof(buf));
		ck_assert_int_ge(n, 0);
		ck_assert_int_le(n, 8);
		ck_assert(memcmp(buf, "AAAABBBB", (size_t)n) == 0);
		kept_none += n == 0;
		kept_all += n == 8;
		kept_part += n > 0 && n < 8;
		sim_disk_free(d);
	}
	ck_assert_int_gt(kept_none, 0);
	ck_assert_int_gt(kept_all, 0);
	ck_assert_int_gt(kept_part, 0);
}
END_TEST

static void collect(void *arg, const char *name)
{
	char *out = arg;
	strcat(out, name);
	strcat(out, ",");
}

START_TEST(test_dirs_list_rename_remove)
{
	struct sim_disk *d = disk_new(3);
	struct sim_file *f;
	ck_assert_int_eq(sim_disk_open(d, "/js/s1/a", ENV_O_WRITE |
				       ENV_O_CREATE, &f), ENV_ENOENT);
	ck_assert_int_eq(sim_disk_mkdir(d, "/js"), 0);
	ck_assert_int_eq(sim_disk_mkdir(d, "/js"), ENV_EEXIST);
	ck_assert_int_eq(sim_disk_mkdir(d, "/js/s1"), 0);
	f = open_file(d, "/js/s1/zeta", ENV_O_WRITE | ENV_O_CREATE);
	sim_disk_close(d, f);
	f = open_file(d, "/js/s1/alpha", ENV_O_WRITE | ENV_O_CREATE);
	sim_disk_close(d, f);
	char out[256] = "";
	ck_assert_int_eq(sim_disk_list(d, "/js/s1", collect, out), 0);
	ck_assert_str_eq(out, "alpha,zeta,");
	ck_assert_int_eq(sim_disk_remove(d, "/js/s1"), ENV_EOTHER);
	ck_assert_int_eq(sim_disk_rename(d, "/js/s1", "/js/s2"), 0);
	out[0] = '\0';
	sim_disk_list(d, "/js", collect, out);
	ck_assert_str_eq(out, "s2,");
	ck_assert_int_eq(sim_disk_remove(d, "/js/s2/zeta"), 0);
	ck_assert_int_eq(sim_disk_remove(d, "/js/s2/alpha"), 0);
	ck_assert_int_eq(sim_disk_remove(d, "/js/s2"), 0);
	ck_assert_int_eq(sim_disk_open(d, "/js/x", ENV_O_READ, &f), ENV_ENOENT);
	f = open_file(d, "/js/x", ENV_O_WRITE | ENV_O_CREATE | ENV_O_EXCL);
	struct sim_file *g;
	ck_assert_int_eq(sim_disk_open(d, "/js/x", ENV_O_WRITE | ENV_O_CREATE |
				       ENV_O_EXCL, &g), ENV_EEXIST);
	/* An open file survives its removal until closed. */
	put(d, f, "orphan", 0);
	ck_assert_int_eq(sim_disk_remove(d, "/js/x"), 0);
	char buf[8];
	ck_assert_int_eq(sim_disk_pread(d, f, buf, sizeof(buf), 0), 6);
	sim_disk_close(d, f);
	ck_assert_uint_eq(d->used_bytes, 0);
	sim_disk_free(d);
}
END_TEST

START_TEST(test_capacity_and_io_faults)
{
	struct sim_disk *d = disk_new(4);
	d->faults.capacity_bytes = 10;
	struct sim_file *f = open_file(d, "/f", ENV_O_WRITE | ENV_O_CREATE);
	ck_assert_int_eq(sim_disk_pwrite(d, f, "0123456789ABC", 13, 0), 10);
	ck_assert_int_eq(sim_disk_pwrite(d, f, "x", 1, 10), ENV_ENOSPC);
	ck_assert_int_eq(sim_disk_pwrite(d, f, "z", 1, 0), 1);  /* overwrite */
	d->faults.read_error_ppm = SIM_PPM;
	char buf[16];
	ck_assert_int_eq(sim_disk_pread(d, f, buf, 4, 0), ENV_EIO);
	d->faults.read_error_ppm = 0;
	d->faults.short_read_ppm = SIM_PPM;
	long n = sim_disk_pread(d, f, buf, 8, 0);
	ck_assert_int_ge(n, 1);
	ck_assert_int_lt(n, 8);
	d->faults.write_error_ppm = SIM_PPM;
	ck_assert_int_eq(sim_disk_pwrite(d, f, "q", 1, 0), ENV_EIO);
	d->faults.write_error_ppm = 0;
	d->faults.sync_error_ppm = SIM_PPM;
	ck_assert_int_eq(sim_disk_sync(d, f), ENV_EIO);
	sim_disk_close(d, f);
	sim_disk_free(d);
}
END_TEST

START_TEST(test_bitflip_changes_one_bit_in_both_layers)
{
	struct sim_disk *d = disk_new(5);
	struct sim_file *f = open_file(d, "/blk", ENV_O_WRITE | ENV_O_CREATE);
	ck_assert_int_eq(sim_disk_pwrite(d, f, "\0\0\0\0\0\0\0\0", 8, 0), 8);
	sim_disk_sync(d, f);
	sim_disk_close(d, f);
	char what[128];
	ck_assert_int_eq(sim_disk_bitflip(d, NULL, what, sizeof(what)), 0);
	ck_assert(strncmp(what, "/blk@", 5) == 0);
	sim_disk_crash(d, NULL, NULL);   /* the flip is in the synced layer */
	unsigned char buf[8];
	ck_assert_int_eq(sim_disk_peek(d, "/blk", buf, sizeof(buf)), 8);
	int bits = 0;
	for (int i = 0; i < 8; i++)
		bits += __builtin_popcount(buf[i]);
	ck_assert_int_eq(bits, 1);
	ck_assert_int_eq(sim_disk_bitflip(d, "/none", what, sizeof(what)), -1);
	ck_assert_uint_eq(sim_disk_wipe(d), 1);
	ck_assert_int_eq(sim_disk_bitflip(d, NULL, what, sizeof(what)), -1);
	sim_disk_free(d);
}
END_TEST

START_TEST(test_truncate_is_pending_until_sync)
{
	struct sim_disk *d = disk_new(6);
	struct sim_file *f = open_file(d, "/t", ENV_O_WRITE | ENV_O_CREATE);
	put(d, f, "abcdef", 0);
	sim_disk_sync(d, f);
	ck_assert_int_eq(sim_disk_truncate(d, f, 2), 0);
	ck_assert_int_eq(sim_disk_size(f), 2);
	sim_disk_close(d, f);
	sim_disk_crash(d, NULL, NULL);
	assert_content(d, "/t", "abcdef");
	f = open_file(d, "/t", ENV_O_WRITE | ENV_O_TRUNC);
	ck_assert_int_eq(sim_disk_size(f), 0);
	sim_disk_sync(d, f);
	sim_disk_close(d, f);
	sim_disk_crash(d, NULL, NULL);
	assert_content(d, "/t", "");
	sim_disk_free(d);
}
END_TEST

static Suite *disk_suite(void)
{
	Suite *s = suite_create("sim_disk");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_paths);
	tcase_add_test(tc, test_crash_keeps_synced_only);
	tcase_add_test(tc, test_never_synced_vanishes);
	tcase_add_test(tc, test_torn_writes_keep_a_prefix);
	tcase_add_test(tc, test_dirs_list_rename_remove);
	tcase_add_test(tc, test_capacity_and_io_faults);
	tcase_add_test(tc, test_bitflip_changes_one_bit_in_both_layers);
	tcase_add_test(tc, test_truncate_is_pending_until_sync);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(disk_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
