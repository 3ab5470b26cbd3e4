/*
 * fuzz_store.c - harness for the file store's recovery (server/js/
 * filestore.c): arbitrary bytes as the store's files on disk.
 *
 * Input: the content of msgs/1.blk, optionally followed by more files of
 * the store's msgs/ folder, each introduced by a line "@@@ NAME":
 *
 *     <bytes of 1.blk>
 *     @@@ 2.blk
 *     <bytes of 2.blk>
 *     @@@ index.idx
 *     <bytes of the index>
 *
 * Files live in a small in-memory env (defined here): no faults, so every
 * failure to open is a bug.
 *
 * Properties checked:
 *   - store_open succeeds and store_invariants holds;
 *   - every sequence first..last loads, or is reported deleted;
 *   - an append gets last+1, and after a sync, close and reopen the store
 *     has the same state, the new message intact, no torn tail, and its
 *     invariants;
 *   - nothing leaks, also with one allocation made to fail (then open
 *     may fail, but must not crash or leak).
 */
#define _GNU_SOURCE             /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env/env.h"
#include "fuzz.h"
#include "js/store.h"
#include "lib/buf.h"

#define FILES_MAX 16
#define HANDLES_MAX 32
#define MARKER "\n@@@ "
#define MARKER_LEN 5
#define DIR "/f/S"

struct mfile {
	bool used;
	char path[96];
	uint8_t *data;
	size_t len;
};

struct menv {
	struct env env;
	struct mfile f[FILES_MAX];
	int h[HANDLES_MAX];
	struct { env_turn_cb cb; void *arg; } turns[2];
	int nturns;
	int timers;
};

static struct menv *ME(struct env *e) { return (struct menv *)e; }
static int64_t me_now(struct env *e) { (void)e; return 1700000000000000000LL; }
static int me_timer_new(struct env *e, env_timer_cb cb, void *arg)
{
	(void)cb;
	(void)arg;
	ME(e)->timers++;
	return ME(e)->timers - 1;
}
static void me_timer_arm(struct env *e, int t, int64_t at) { (void)e; (void)t; (void)at; }
static void me_timer_disarm(struct env *e, int t) { (void)e; (void)t; }
static void me_timer_free(struct env *e, int t) { (void)t; ME(e)->timers--; }
static void me_on_turn_end(struct env *e, env_turn_cb cb, void *arg)
{
	FUZZ_CHECK(ME(e)->nturns < 2, "too many turn hooks");
	ME(e)->turns[ME(e)->nturns].cb = cb;
	ME(e)->turns[ME(e)->nturns++].arg = arg;
}
static void me_random(struct env *e, void *b, size_t n) { (void)e; memset(b, 0x5a, n); }

static int mf_find(struct menv *m, const char *path)
{
	for (int i = 0; i < FILES_MAX; i++)
		if (m->f[i].used && strcmp(m->f[i].path, path) == 0)
			return i;
	return -1;
}

static int mf_new(struct menv *m, const char *path)
{
	for (int i = 0; i < FILES_MAX; i++)
		if (!m->f[i].used) {
			m->f[i] = (struct mfile){ .used = true };
			snprintf(m->f[i].path, sizeof(m->f[i].path), "%s", path);
			return i;
		}
	return -1;
}

static int me_open(struct env *e, const char *path, unsigned flags)
{
	struct menv *m = ME(e);
	int f = mf_find(m, path);
	if (f < 0 && !(flags & ENV_O_CREATE))
		return ENV_ENOENT;
	if (f < 0 && (f = mf_new(m, path)) < 0)
		return ENV_ENOSPC;
	if (flags & ENV_O_TRUNC)
		m->f[f].len = 0;
	for (int h = 0; h < HANDLES_MAX; h++)
		if (m->h[h] < 0) {
			m->h[h] = f;
			return h;
		}
	return ENV_ENOMEM;
}

static struct mfile *mf_of(struct env *e, int h)
{
	FUZZ_CHECK(h >= 0 && h < HANDLES_MAX && ME(e)->h[h] >= 0, "bad handle %d", h);
	return &ME(e)->f[ME(e)->h[h]];
}

static long me_pread(struct env *e, int h, void *b, size_t n, uint64_t off)
{
	struct mfile *f = mf_of(e, h);
	if (off >= f->len)
		return 0;
	size_t k = f->len - off < n ? f->len - off : n;
	memcpy(b, f->data + off, k);
	return (long)k;
}

static long me_pwrite(struct env *e, int h, const void *b, size_t n, uint64_t off)
{
	struct mfile *f = mf_of(e, h);
	if (off + n > (1u << 24))
		return ENV_ENOSPC;
	if (off + n > f->len) {
		uint8_t *d = realloc(f->data, off + n);
		FUZZ_CHECK(d != NULL, "host out of memory");
		memset(d + f->len, 0, off + n - f->len);
		f->data = d;
		f->len = off + n;
	}
	if (n > 0)
		memcpy(f->data + off, b, n);
	return (long)n;
}

static int me_sync(struct env *e, int h) { mf_of(e, h); return 0; }
static int me_truncate(struct env *e, int h, uint64_t size)
{
	struct mfile *f = mf_of(e, h);
	if (size < f->len)
		f->len = size;
	return 0;
}
static int64_t me_size(struct env *e, int h) { return (int64_t)mf_of(e, h)->len; }
static void me_close(struct env *e, int h) { mf_of(e, h); ME(e)->h[h] = -1; }

static int me_remove(struct env *e, const char *path)
{
	struct menv *m = ME(e);
	int f = mf_find(m, path);
	if (f < 0)
		return ENV_ENOENT;
	for (int h = 0; h < HANDLES_MAX; h++)
		FUZZ_CHECK(m->h[h] != f, "removing an open file %s", path);
	free(m->f[f].data);
	m->f[f] = (struct mfile){ 0 };
	return 0;
}

static int me_rename(struct env *e, const char *a, const char *b)
{
	struct menv *m = ME(e);
	int f = mf_find(m, a);
	if (f < 0)
		return ENV_ENOENT;
	if (mf_find(m, b) >= 0)
		me_remove(e, b);
	snprintf(m->f[f].path, sizeof(m->f[f].path), "%s", b);
	return 0;
}

static int me_mkdir(struct env *e, const char *p) { (void)e; (void)p; return 0; }

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int me_list(struct env *e, const char *path, env_list_cb cb, void *arg)
{
	struct menv *m = ME(e);
	char *names[FILES_MAX];
	size_t n = 0, pl = strlen(path);
	for (int i = 0; i < FILES_MAX; i++) {
		const char *p = m->f[i].path;
		if (m->f[i].used && strncmp(p, path, pl) == 0 && p[pl] == '/' &&
		    strchr(p + pl + 1, '/') == NULL)
			names[n++] = m->f[i].path + pl + 1;
	}
	if (n > 0)
		qsort(names, n, sizeof(names[0]), name_cmp);
	for (size_t i = 0; i < n; i++)
		cb(arg, names[i]);
	return 0;
}

static void menv_init(struct menv *m)
{
	memset(m, 0, sizeof(*m));
	for (int h = 0; h < HANDLES_MAX; h++)
		m->h[h] = -1;
	struct env *e = &m->env;
	e->version = ENV_VERSION;
	e->now_mono_ns = me_now;
	e->now_wall_ns = me_now;
	e->timer_new = me_timer_new;
	e->timer_arm = me_timer_arm;
	e->timer_disarm = me_timer_disarm;
	e->timer_free = me_timer_free;
	e->on_turn_end = me_on_turn_end;
	e->random_fill = me_random;
	e->file_open = me_open;
	e->file_pread = me_pread;
	e->file_pwrite = me_pwrite;
	e->file_sync = me_sync;
	e->file_truncate = me_truncate;
	e->file_size = me_size;
	e->file_close = me_close;
	e->file_rename = me_rename;
	e->file_remove = me_remove;
	e->dir_create = me_mkdir;
	e->dir_list = me_list;
}

static void menv_free(struct menv *m)
{
	for (int h = 0; h < HANDLES_MAX; h++)
		FUZZ_CHECK(m->h[h] < 0, "file handle %d left open", h);
	FUZZ_CHECK(m->timers == 0, "%d timers left", m->timers);
	for (int i = 0; i < FILES_MAX; i++)
		free(m->f[i].data);
}

/* Cuts the input into msgs/1.blk and the files after "@@@ NAME" lines. */
static void menv_load(struct menv *m, const uint8_t *data, size_t len)
{
	const uint8_t *p = data, *end = data + len;
	char path[96] = DIR "/msgs/1.blk";
	for (;;) {
		const uint8_t *mk = memmem(p, (size_t)(end - p), MARKER, MARKER_LEN);
		int f = mf_find(m, path);
		if (f < 0)
			f = mf_new(m, path);
		if (f >= 0) {
			size_t n = (size_t)((mk != NULL ? mk : end) - p);
			free(m->f[f].data);
			m->f[f].data = malloc(n > 0 ? n : 1);
			FUZZ_CHECK(m->f[f].data != NULL, "host out of memory");
			memcpy(m->f[f].data, p, n);
			m->f[f].len = n;
		}
		if (mk == NULL)
			return;
		const uint8_t *name = mk + MARKER_LEN;
		const uint8_t *nl = memchr(name, '\n', (size_t)(end - name));
		size_t nlen = (size_t)((nl != NULL ? nl : end) - name);
		snprintf(path, sizeof(path), DIR "/msgs/%.*s",
			 (int)(nlen < 40 ? nlen : 40), (const char *)name);
		p = nl != NULL ? nl + 1 : end;
	}
}

/* ------------------------------------------------------------- runs */

static void check_inv(struct store *st, const char *when)
{
	char why[256] = "";
	FUZZ_CHECK(store_invariants(st, why, sizeof(why)), "invariants %s: %s",
		   when, why);
}

static void check_loads(struct store *st, struct buf *scratch)
{
	struct store_state s;
	store_get_state(st, &s);
	uint64_t live = 0;
	for (uint64_t q = s.first_seq; q <= s.last_seq && q - s.first_seq < 100000; q++) {
		struct store_msg m;
		int rc = store_load(st, q, &m, scratch);
		FUZZ_CHECK(rc == 0 || rc == STORE_ERR_DELETED, "load %llu: %d",
			   (unsigned long long)q, rc);
		if (rc == 0) {
			FUZZ_CHECK(m.seq == q && m.subject_len > 0, "loaded wrong message");
			live++;
		}
	}
	FUZZ_CHECK(s.last_seq - s.first_seq >= 100000 || live == s.msgs,
		   "%llu loadable, state says %llu", (unsigned long long)live,
		   (unsigned long long)s.msgs);
}

static void run_once(struct menv *m, struct mem *mem, bool check)
{
	struct store_turn *turn = NULL;
	struct store *st = NULL;
	struct store_report rep;
	struct buf scratch;
	buf_init(&scratch, mem);
	if (store_turn_new(&turn, &m->env, mem) != 0) {
		FUZZ_CHECK(!check, "store_turn_new failed");
		return;
	}
	struct store_config cfg = { .env = &m->env, .mem = mem, .kind = STORE_FILE,
				    .dir = DIR, .block_size_bytes = 4096,
				    .turn = turn };
	int rc = store_open(&st, &cfg, &rep);
	FUZZ_CHECK(!check || rc == 0, "store_open: %d", rc);
	if (rc != 0)
		goto out;
	check_inv(st, "after open");
	if (check)
		check_loads(st, &scratch);
	uint64_t seq = 0;
	struct store_state before, after;
	store_get_state(st, &before);
	rc = store_append(st, "fuzz.new", 8, "H", 1, "payload", 7, 0, &seq);
	FUZZ_CHECK(!check || rc == 0 || before.last_seq >= UINT64_MAX - 2,
		   "append: %d", rc);
	if (rc == 0)
		FUZZ_CHECK(seq == before.last_seq + 1, "append got %llu",
			   (unsigned long long)seq);
	m->turns[0].cb(m->turns[0].arg);
	store_get_state(st, &before);
	store_close(st);
	st = NULL;
	rc = store_open(&st, &cfg, &rep);
	FUZZ_CHECK(!check || rc == 0, "reopen: %d", rc);
	if (rc != 0)
		goto out;
	check_inv(st, "after reopen");
	store_get_state(st, &after);
	if (check) {
		FUZZ_CHECK(rep.torn_tail_bytes == 0, "torn tail after a clean close");
		FUZZ_CHECK(after.msgs == before.msgs && after.first_seq == before.first_seq &&
			   after.last_seq == before.last_seq && after.bytes == before.bytes,
			   "state changed across a clean reopen: msgs %llu/%llu first "
			   "%llu/%llu last %llu/%llu bytes %llu/%llu",
			   (unsigned long long)before.msgs, (unsigned long long)after.msgs,
			   (unsigned long long)before.first_seq,
			   (unsigned long long)after.first_seq,
			   (unsigned long long)before.last_seq,
			   (unsigned long long)after.last_seq,
			   (unsigned long long)before.bytes, (unsigned long long)after.bytes);
		struct store_msg msg;
		FUZZ_CHECK(seq == 0 || (store_load(st, seq, &msg, &scratch) == 0 &&
			   msg.data_len == 7 && memcmp(msg.data, "payload", 7) == 0),
			   "appended message lost");
	}
	store_close(st);
out:
	store_turn_free(turn);
	buf_free(&scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct menv *m = malloc(sizeof(*m));
	FUZZ_CHECK(m != NULL, "host out of memory");
	struct mem mem;
	menv_init(m);
	menv_load(m, data, size);
	mem_init(&mem);
	run_once(m, &mem, true);
	menv_free(m);
	fuzz_check_no_leak(&mem, "store");

	/* Again on the original files with one allocation failing. */
	uint64_t allocs = mem.alloc_count;
	if (allocs > 0) {
		menv_init(m);
		menv_load(m, data, size);
		mem_init(&mem);
		mem.fail_at = 1 + fuzz_hash(data, size) % allocs;
		run_once(m, &mem, false);
		menv_free(m);
		fuzz_check_no_leak(&mem, "store under an allocation failure");
	}
	free(m);
	return 0;
}
