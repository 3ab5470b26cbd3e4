/*
 * test_filestore_crash.c - the file store on the simulator's virtual disk
 * through crashes: appends with waiters, a crash at a random turn (only
 * synced bytes survive, plus a torn prefix of what was pending), then a
 * reopen.  Every acknowledged message must be there, intact and in
 * order, and no sequence may be handed out twice.  A second test adds
 * bit flips after the crash: recovery must never fail or crash, keep
 * its invariants, and account for whatever it dropped.
 *
 * The env here maps files onto struct sim_disk directly (no world, no
 * network); time stands still and timers never fire, which the store
 * does not need when given a shared end-of-turn hook.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "env/env.h"
#include "js/store.h"
#include "lib/buf.h"
#include "lib/mem.h"
#include "rng.h"

#define HANDLES 256

struct cenv {
	struct env env;
	struct sim_disk *disk;
	struct sim_file *h[HANDLES];
	bool dead;                   /* crashed: file operations fail */
	struct { env_turn_cb cb; void *arg; } turns[4];
	int nturns;
	int ntimers;
	uint64_t rnd;
};

static struct cenv *CE(struct env *e) { return (struct cenv *)e; }
static int64_t ce_now(struct env *e) { (void)e; return 1700000000LL * 1000000000LL; }
static int ce_timer_new(struct env *e, env_timer_cb cb, void *arg)
{
	(void)cb;
	(void)arg;
	return CE(e)->ntimers++;
}
static void ce_timer_arm(struct env *e, int id, int64_t at) { (void)e; (void)id; (void)at; }
static void ce_timer_disarm(struct env *e, int id) { (void)e; (void)id; }
static void ce_timer_free(struct env *e, int id) { (void)e; (void)id; }

static void ce_on_turn_end(struct env *e, env_turn_cb cb, void *arg)
{
	struct cenv *c = CE(e);
	c->turns[c->nturns].cb = cb;
	c->turns[c->nturns].arg = arg;
	c->nturns++;
}

static void ce_random(struct env *e, void *buf, size_t len)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((CE(e)->rnd = CE(e)->rnd * 6364136223846793005ULL + 1) >> 56);
}

static int ce_open(struct env *e, const char *path, unsigned flags)
{
	struct cenv *c = CE(e);
	if (c->dead)
		return ENV_EIO;
	struct sim_file *f;
	int rc = sim_disk_open(c->disk, path, flags, &f);
	if (rc < 0)
		return rc;
	for (int i = 0; i < HANDLES; i++)
		if (c->h[i] == NULL) {
			c->h[i] = f;
			return i;
		}
	sim_disk_close(c->disk, f);
	return ENV_ENOMEM;
}

static long ce_pread(struct env *e, int h, void *b, size_t n, uint64_t off)
{
	return CE(e)->dead ? ENV_EIO : sim_disk_pread(CE(e)->disk, CE(e)->h[h], b, n, off);
}

static long ce_pwrite(struct env *e, int h, const void *b, size_t n, uint64_t off)
{
	return CE(e)->dead ? ENV_EIO : sim_disk_pwrite(CE(e)->disk, CE(e)->h[h], b, n, off);
}

static int ce_sync(struct env *e, int h)
{
	return CE(e)->dead ? ENV_EIO : sim_disk_sync(CE(e)->disk, CE(e)->h[h]);
}

static int ce_truncate(struct env *e, int h, uint64_t size)
{
	return CE(e)->dead ? ENV_EIO : sim_disk_truncate(CE(e)->disk, CE(e)->h[h], size);
}

static int64_t ce_size(struct env *e, int h) { return sim_disk_size(CE(e)->h[h]); }

static void ce_close(struct env *e, int h)
{
	sim_disk_close(CE(e)->disk, CE(e)->h[h]);
	CE(e)->h[h] = NULL;
}

static int ce_rename(struct env *e, const char *a, const char *b)
{
	return CE(e)->dead ? ENV_EIO : sim_disk_rename(CE(e)->disk, a, b);
}

static int ce_remove(struct env *e, const char *p)
{
	return CE(e)->dead ? ENV_EIO : sim_disk_remove(CE(e)->disk, p);
}

static int ce_mkdir(struct env *e, const char *p)
{
	return CE(e)->dead ? ENV_EIO : sim_disk_mkdir(CE(e)->disk, p);
}

static int ce_list(struct env *e, const char *p, env_list_cb cb, void *arg)
{
	return CE(e)->dead ? ENV_EIO : sim_disk_list(CE(e)->disk, p, cb, arg);
}

static void cenv_init(struct cenv *c, struct sim_disk *d)
{
	memset(c, 0, sizeof(*c));
	c->disk = d;
	c->rnd = 7;
	struct env *e = &c->env;
	e->version = ENV_VERSION;
	e->now_mono_ns = ce_now;
	e->now_wall_ns = ce_now;
	e->timer_new = ce_timer_new;
	e->timer_arm = ce_timer_arm;
	e->timer_disarm = ce_timer_disarm;
	e->timer_free = ce_timer_free;
	e->on_turn_end = ce_on_turn_end;
	e->random_fill = ce_random;
	e->file_open = ce_open;
	e->file_pread = ce_pread;
	e->file_pwrite = ce_pwrite;
	e->file_sync = ce_sync;
	e->file_truncate = ce_truncate;
	e->file_size = ce_size;
	e->file_close = ce_close;
	e->file_rename = ce_rename;
	e->file_remove = ce_remove;
	e->dir_create = ce_mkdir;
	e->dir_list = ce_list;
}

static void cenv_turn(struct cenv *c)
{
	for (int i = 0; i < c->nturns; i++)
		c->turns[i].cb(c->turns[i].arg);
}

static void cenv_check_closed(struct cenv *c)
{
	for (int i = 0; i < HANDLES; i++)
		ck_assert_msg(c->h[i] == NULL, "handle %d left open", i);
}

/* ----------------------------------------------------------------- run */

#define MAX_SEQ 4096

struct run {
	struct cenv c;
	struct mem m;
	struct store_turn *turn;
	struct store *st;
	struct store_config cfg;
	struct buf scratch;
	bool acked[MAX_SEQ];
	uint64_t max_acked;
	uint64_t max_issued;
	struct sim_rng rng;
};

static void on_synced(void *arg, uint64_t seq, int err)
{
	struct run *r = arg;
	ck_assert_uint_lt(seq, MAX_SEQ);
	if (err == 0) {
		r->acked[seq] = true;
		if (seq > r->max_acked)
			r->max_acked = seq;
	}
}

static void payload_of(uint64_t seq, char *out, size_t cap, size_t *len)
{
	int n = snprintf(out, cap, "msg-%llu-", (unsigned long long)seq);
	size_t want = (size_t)n + (seq * 37) % 150;
	for (size_t i = (size_t)n; i < want && i < cap; i++)
		out[i] = (char)('a' + (seq + i) % 26);
	*len = want < cap ? want : cap;
}

static void run_open(struct run *r, struct store_report *rep)
{
	cenv_init(&r->c, r->c.disk);
	ck_assert_int_eq(store_turn_new(&r->turn, &r->c.env, &r->m), 0);
	r->cfg = (struct store_config){ .env = &r->c.env, .mem = &r->m,
		.kind = STORE_FILE, .dir = "/js/stream/ORDERS",
		.block_size_bytes = 1500, .turn = r->turn };
	ck_assert_int_eq(store_open(&r->st, &r->cfg, rep), 0);
	char why[256];
	ck_assert_msg(store_invariants(r->st, why, sizeof(why)), "%s", why);
}

/* Turns of appends with waiters, some removals, until the crash turn;
 * the crash hits in the middle of that turn's appends. */
static void run_until_crash(struct run *r, int turns)
{
	for (int t = 0; t <= turns; t++) {
		int n = 1 + (int)sim_rng_below(&r->rng, 8);
		if (t == turns)
			n = (int)sim_rng_below(&r->rng, (uint64_t)n + 1);
		for (int i = 0; i < n && r->max_issued + 1 < MAX_SEQ; i++) {
			char p[256];
			size_t len;
			uint64_t seq;
			payload_of(r->max_issued + 1, p, sizeof(p), &len);
			int rc = store_append(r->st, "orders.new", 10, NULL, 0, p, len,
					      0, &seq);
			if (rc != 0)
				continue;
			ck_assert_uint_eq(seq, r->max_issued + 1);
			r->max_issued = seq;
			ck_assert_int_eq(store_sync_wait(r->st, seq, on_synced, r), 0);
		}
		if (t < turns)
			cenv_turn(&r->c);
	}
}

/* The process dies: nothing more reaches the disk, then the disk keeps
 * only what was synced plus perhaps a torn piece of the rest. */
static void run_crash(struct run *r)
{
	r->c.dead = true;
	store_close(r->st);
	r->st = NULL;
	store_turn_free(r->turn);
	cenv_check_closed(&r->c);
	sim_disk_crash(r->c.disk, NULL, NULL);
}

static void check_acked(struct run *r)
{
	struct store_state s;
	store_get_state(r->st, &s);
	ck_assert_uint_ge(s.last_seq, r->max_acked);
	uint64_t prev = 0;
	for (uint64_t q = 1; q <= r->max_acked; q++) {
		struct store_msg m;
		int rc = store_load(r->st, q, &m, &r->scratch);
		if (!r->acked[q])
			continue;
		ck_assert_msg(rc == 0, "acknowledged seq %llu lost (%d)",
			      (unsigned long long)q, rc);
		char p[256];
		size_t len;
		payload_of(q, p, sizeof(p), &len);
		ck_assert_uint_eq(m.data_len, len);
		ck_assert(memcmp(m.data, p, len) == 0);
		ck_assert_uint_gt(m.seq, prev);
		prev = m.seq;
	}
}

START_TEST(t_crash_keeps_acknowledged)
{
	static struct run r;
	memset(&r, 0, sizeof(r));
	mem_init(&r.m);
	buf_init(&r.scratch, &r.m);
	struct sim_rng disk_rng;
	sim_rng_init(&disk_rng, (uint64_t)_i + 1, "disk");
	sim_rng_init(&r.rng, (uint64_t)_i + 1, "work");
	r.c.disk = sim_disk_new(&disk_rng);
	r.c.disk->faults.torn_writes = true;
	struct store_report rep;
	for (int round = 0; round < 4; round++) {
		run_open(&r, &rep);
		if (round > 0)
			check_acked(&r);
		/* a restart never hands out a sequence again */
		struct store_state s;
		store_get_state(r.st, &s);
		ck_assert_uint_ge(s.last_seq + 1, r.max_acked + 1);
		r.max_issued = s.last_seq;
		run_until_crash(&r, 1 + (int)sim_rng_below(&r.rng, 12));
		run_crash(&r);
	}
	run_open(&r, &rep);
	check_acked(&r);
	ck_assert_uint_eq(rep.corrupt_records, 0);
	store_close(r.st);
	store_turn_free(r.turn);
	buf_free(&r.scratch);
	sim_disk_free(r.c.disk);
	ck_assert_uint_eq(r.m.live_bytes, 0);
}
END_TEST

START_TEST(t_crash_then_bitflips)
{
	static struct run r;
	memset(&r, 0, sizeof(r));
	mem_init(&r.m);
	buf_init(&r.scratch, &r.m);
	struct sim_rng disk_rng;
	sim_rng_init(&disk_rng, (uint64_t)_i + 100, "disk");
	sim_rng_init(&r.rng, (uint64_t)_i + 100, "work");
	r.c.disk = sim_disk_new(&disk_rng);
	r.c.disk->faults.torn_writes = true;
	struct store_report rep;
	run_open(&r, &rep);
	run_until_crash(&r, 20);
	run_crash(&r);
	char what[256];
	int flips = 1 + (int)sim_rng_below(&r.rng, 3);
	for (int i = 0; i < flips; i++)
		sim_disk_bitflip(r.c.disk, NULL, what, sizeof(what));
	run_open(&r, &rep);
	/* Something may be gone, but never silently: every acknowledged
	 * message is there, or recovery reports a problem. */
	uint64_t missing = 0;
	for (uint64_t q = 1; q <= r.max_acked; q++) {
		struct store_msg m;
		if (r.acked[q] && store_load(r.st, q, &m, &r.scratch) != 0)
			missing++;
	}
	if (missing > 0)
		ck_assert(rep.corrupt_records > 0 || rep.torn_tail_bytes > 0);
	uint64_t seq;
	ck_assert_int_eq(store_append(r.st, "after", 5, NULL, 0, "x", 1, 0, &seq), 0);
	ck_assert_uint_gt(seq, r.max_acked);
	store_close(r.st);
	store_turn_free(r.turn);
	buf_free(&r.scratch);
	sim_disk_free(r.c.disk);
	ck_assert_uint_eq(r.m.live_bytes, 0);
}
END_TEST

static Suite *crash_suite(void)
{
	Suite *s = suite_create("filestore_crash");
	TCase *tc = tcase_create("crash");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, t_crash_keeps_acknowledged, 0, 40);
	tcase_add_loop_test(tc, t_crash_then_bitflips, 0, 40);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(crash_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
