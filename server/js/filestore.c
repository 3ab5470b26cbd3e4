/*
 * filestore.c - the file kind of the message store: message blocks of
 * framed, checksummed records in "<dir>/msgs/<n>.blk", recovery, secure
 * erase, whole-block removal and the clean-shutdown index.
 *
 * Owns the block files and their bookkeeping; the index of messages and
 * every decision about what to remove is store_common.c's.  The format
 * and the recovery rules are in docs/store.md.
 *
 * Invariants:
 *   - records are only appended to the last block (secure erase rewrites
 *     a record in place with one of the same length);
 *   - a block's live count is the number of indexed messages in it;
 *   - a block is removed only after a successful sync, only when no
 *     message lives in it, when no earlier block holds a sequence its
 *     tombstones and markers speak for, and never the last block, so a
 *     restart can never see a removed message again nor reuse a sequence.
 */
#include <stdio.h>
#include <string.h>

#include "../env/env.h"
#include "store_int.h"
#include "../lib/assert.h"

#define REC_MAGIC 0x3152534eU        /* "NSR1" little-endian */
#define REC_HDR 32
#define REC_MIN (REC_HDR + 8)
#define REC_MAX ((uint32_t)1 << 31)
#define BLOCK_DEFAULT ((uint64_t)8 << 20)
#define PATH_MAX_LEN 1024
/* Sequential reads (a consumer walking the stream) fetch this much of a
 * block at once instead of one record per read. */
#define READ_AHEAD (32 * 1024)

enum rec_kind {
	REC_MSG = 1,      /* a message */
	REC_DEL = 2,      /* seq was removed */
	REC_FIRST = 3,    /* every sequence below seq was removed */
	REC_LAST = 4,     /* last_seq moved to seq without a message */
	REC_ERASED = 5,   /* a securely erased message: nothing */
};

struct blk {
	uint32_t id;
	int file;
	uint64_t size;          /* bytes of records */
	uint64_t live;          /* indexed messages in it */
	uint64_t min_seq;       /* lowest message seq written, UINT64_MAX if none */
	uint64_t max_seq;       /* highest message or LAST seq written */
	uint64_t max_target;    /* highest seq its DEL/FIRST records speak for */
	bool dirty;             /* written since the last sync */
};

struct fs {
	struct blk *blks;       /* by id ascending */
	size_t nblks, cap;
	uint64_t block_size;
	struct buf rec;         /* record being built */
	struct buf rd;          /* block being recovered */
	/* Read-ahead: bytes [ra_off, ra_off + ra.len) of block ra_blk, and
	 * where the last record read there ended (a read starting at
	 * ra_next is sequential).  ra_blk 0: nothing held. */
	struct buf ra;
	uint32_t ra_blk;
	uint64_t ra_off, ra_next;
	bool index_ok;          /* the index file agreed at open */
	uint64_t io_errors;
};

/* A parsed record; slices point into the bytes given to rec_parse. */
struct rec {
	uint32_t len;
	uint8_t kind;
	uint16_t subj_len;
	uint32_t hdr_len;
	uint32_t data_len;
	uint64_t seq;
	int64_t ts_ns;
	const char *subject;
};

static struct fs *FS(const struct store *st)
{
	return st->kind_state;
}

static int err_from_env(long e)
{
	return e == ENV_ENOSPC ? STORE_ERR_NOSPC : STORE_ERR_IO;
}

static void path_block(const struct store *st, uint32_t id, char *out)
{
	snprintf(out, PATH_MAX_LEN, "%s/msgs/%u.blk", st->dir, id);
}

static void path_sub(const struct store *st, const char *name, char *out)
{
	snprintf(out, PATH_MAX_LEN, "%s/%s", st->dir, name);
}

static struct blk *blk_find(const struct fs *fs, uint32_t id)
{
	size_t lo = 0, hi = fs->nblks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (fs->blks[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < fs->nblks && fs->blks[lo].id == id ? &fs->blks[lo] : NULL;
}

static struct blk *blk_last(const struct fs *fs)
{
	return fs->nblks > 0 ? &fs->blks[fs->nblks - 1] : NULL;
}

/* Forgets the read-ahead: a block's bytes were rewritten, cut or removed. */
static void ra_drop(struct fs *fs)
{
	fs->ra_blk = 0;
	fs->ra_next = 0;
	buf_reset(&fs->ra);
}

/* ------------------------------------------------------------ records */

/* Length of the valid record at p, or 0 when there is none. */
static uint32_t rec_parse(const uint8_t *p, size_t avail, struct rec *r)
{
	if (avail < REC_MIN || store_get_u32(p) != REC_MAGIC)
		return 0;
	uint32_t len = store_get_u32(p + 4);
	if (len < REC_MIN || len > avail || len > REC_MAX)
		return 0;
	r->len = len;
	r->kind = p[8];
	r->subj_len = (uint16_t)(p[10] | p[11] << 8);
	r->hdr_len = store_get_u32(p + 12);
	r->seq = store_get_u64(p + 16);
	r->ts_ns = (int64_t)store_get_u64(p + 24);
	uint64_t fixed = (uint64_t)REC_MIN + r->subj_len + r->hdr_len;
	if (r->kind < REC_MSG || r->kind > REC_ERASED || fixed > len)
		return 0;
	if (r->kind == REC_MSG && r->subj_len == 0)
		return 0;
	r->data_len = (uint32_t)(len - fixed);
	r->subject = (const char *)p + REC_HDR;
	if (store_get_u64(p + len - 8) != store_checksum(p, len - 8))
		return 0;
	return len;
}

/* Builds a record in fs->rec; returns its length or 0 when out of memory. */
static size_t rec_build(struct fs *fs, uint8_t kind, uint64_t seq, int64_t ts,
			const char *subj, size_t slen, const void *hdr,
			size_t hlen, const void *data, size_t dlen)
{
	size_t len = REC_MIN + slen + hlen + dlen;
	uint8_t h[REC_HDR] = { 0 };
	store_put_u32(h, REC_MAGIC);
	store_put_u32(h + 4, (uint32_t)len);
	h[8] = kind;
	h[10] = (uint8_t)slen;
	h[11] = (uint8_t)(slen >> 8);
	store_put_u32(h + 12, (uint32_t)hlen);
	store_put_u64(h + 16, seq);
	store_put_u64(h + 24, (uint64_t)ts);
	/* One reservation and plain copies: this runs for every publish. */
	buf_reset(&fs->rec);
	if (!buf_reserve(&fs->rec, len))
		return 0;
	uint8_t *p = (uint8_t *)fs->rec.data;
	memcpy(p, h, REC_HDR);
	p += REC_HDR;
	if (slen > 0)
		memcpy(p, subj, slen);
	p += slen;
	if (hlen > 0)
		memcpy(p, hdr, hlen);
	p += hlen;
	if (dlen > 0)
		memcpy(p, data, dlen);
	p += dlen;
	store_put_u64(p, store_checksum(fs->rec.data, len - 8));
	fs->rec.len = len;
	fs->rec.data[len] = '\0';      /* buf's invariant */
	return len;
}

static int file_write_all(struct env *env, int f, const void *p, size_t n,
			  uint64_t off)
{
	size_t done = 0;
	while (done < n) {
		long w = env->file_pwrite(env, f, (const uint8_t *)p + done,
					  n - done, off + done);
		if (w <= 0)
			return err_from_env(w == 0 ? ENV_EIO : w);
		done += (size_t)w;
	}
	return 0;
}

static int file_read_all(struct env *env, int f, void *p, size_t n,
			 uint64_t off)
{
	size_t done = 0;
	while (done < n) {
		long r = env->file_pread(env, f, (uint8_t *)p + done, n - done,
					 off + done);
		if (r <= 0)
			return STORE_ERR_IO;
		done += (size_t)r;
	}
	return 0;
}

/* ------------------------------------------------------------- blocks */

static struct blk *blk_add(struct store *st, uint32_t id, int file)
{
	struct fs *fs = FS(st);
	if (fs->nblks == fs->cap) {
		size_t n = fs->cap ? fs->cap * 2 : 8;
		void *p = mem_realloc(st->mem, fs->blks, n * sizeof(*fs->blks));
		if (p == NULL)
			return NULL;
		fs->blks = p;
		fs->cap = n;
	}
	ASSERT(fs->nblks == 0 || blk_last(fs)->id < id);
	struct blk *b = &fs->blks[fs->nblks++];
	*b = (struct blk){ .id = id, .file = file, .min_seq = UINT64_MAX };
	return b;
}

static int blk_create(struct store *st, uint32_t id, struct blk **out)
{
	char path[PATH_MAX_LEN];
	path_block(st, id, path);
	int f = st->env->file_open(st->env, path, ENV_O_READ | ENV_O_WRITE |
				   ENV_O_CREATE | ENV_O_TRUNC);
	if (f < 0)
		return err_from_env(f);
	*out = blk_add(st, id, f);
	if (*out == NULL) {
		st->env->file_close(st->env, f);
		st->env->file_remove(st->env, path);
		return STORE_ERR_NOMEM;
	}
	return 0;
}

static void blk_drop_last(struct store *st)
{
	struct fs *fs = FS(st);
	struct blk *b = blk_last(fs);
	char path[PATH_MAX_LEN];
	path_block(st, b->id, path);
	st->env->file_close(st->env, b->file);
	st->env->file_remove(st->env, path);
	ra_drop(fs);
	fs->nblks--;
}

/* Appends the record in fs->rec to the last block, rolling over to a new
 * block when it would pass block_size.  On failure the block is cut back
 * so that nothing of the record stays. */
static int blk_append(struct store *st, struct blk **where, uint64_t *off)
{
	struct fs *fs = FS(st);
	struct blk *b = blk_last(fs);
	bool created = false;
	if (b == NULL || (b->size > 0 && b->size + fs->rec.len > fs->block_size)) {
		int rc = blk_create(st, b == NULL ? 1 : b->id + 1, &b);
		if (rc != 0)
			return rc;
		created = true;
	}
	int rc = file_write_all(st->env, b->file, fs->rec.data, fs->rec.len,
				b->size);
	if (rc != 0) {
		if (created)
			blk_drop_last(st);
		else
			st->env->file_truncate(st->env, b->file, b->size);
		ra_drop(fs);
		return rc;
	}
	*off = b->size;
	b->size += fs->rec.len;
	b->dirty = true;
	*where = b;
	return 0;
}

/* Writes a DEL, FIRST or LAST record. */
static int fs_log(struct store *st, uint8_t kind, uint64_t seq)
{
	struct fs *fs = FS(st);
	if (rec_build(fs, kind, seq, 0, NULL, 0, NULL, 0, NULL, 0) == 0)
		return STORE_ERR_NOMEM;
	struct blk *b;
	uint64_t off;
	int rc = blk_append(st, &b, &off);
	if (rc != 0)
		return rc;
	uint64_t reach = kind == REC_FIRST ? seq - 1 : seq;
	if (kind != REC_DEL && reach > b->max_seq)
		b->max_seq = reach;
	uint64_t target = kind == REC_FIRST ? seq - 1 : seq;
	if (kind != REC_LAST && target > b->max_target)
		b->max_target = target;
	return 0;
}

/* ---------------------------------------------------------- the ops */

static int fs_put(struct store *st, struct store_slot *sl, const char *subject,
		  size_t subject_len, const void *hdr, const void *data)
{
	struct fs *fs = FS(st);
	if (rec_build(fs, REC_MSG, sl->seq, sl->ts_ns, subject, subject_len,
		      hdr, sl->hdr_len, data, sl->data_len) == 0)
		return STORE_ERR_NOMEM;
	struct blk *b;
	uint64_t off;
	int rc = blk_append(st, &b, &off);
	if (rc != 0)
		return rc;
	sl->block = b->id;
	sl->off = off;
	sl->rec_len = (uint32_t)fs->rec.len;
	b->live++;
	if (sl->seq < b->min_seq)
		b->min_seq = sl->seq;
	if (sl->seq > b->max_seq)
		b->max_seq = sl->seq;
	return 0;
}

static int fs_get(struct store *st, const struct store_slot *sl,
		  struct store_msg *out, struct buf *scratch)
{
	struct blk *b = blk_find(FS(st), sl->block);
	if (b == NULL)
		return STORE_ERR_IO;
	struct fs *fs = FS(st);
	buf_reset(scratch);
	if (!buf_reserve(scratch, sl->rec_len))
		return STORE_ERR_NOMEM;
	bool held = fs->ra_blk == b->id && sl->off >= fs->ra_off &&
		    sl->off + sl->rec_len <= fs->ra_off + fs->ra.len;
	if (!held && fs->ra_blk == b->id && sl->off == fs->ra_next &&
	    sl->rec_len < READ_AHEAD) {
		/* Sequential: take the next READ_AHEAD bytes of the block. */
		uint64_t n = MIN((uint64_t)READ_AHEAD, b->size - sl->off);
		buf_reset(&fs->ra);
		if (n >= sl->rec_len && buf_reserve(&fs->ra, (size_t)n) &&
		    file_read_all(st->env, b->file, fs->ra.data, (size_t)n,
				  sl->off) == 0) {
			fs->ra.len = (size_t)n;
			fs->ra_off = sl->off;
			held = true;
		}
	}
	if (held) {
		memcpy(scratch->data, fs->ra.data + (sl->off - fs->ra_off),
		       sl->rec_len);
	} else {
		buf_reset(&fs->ra);
		fs->ra_off = 0;
		int rc = file_read_all(st->env, b->file, scratch->data,
				       sl->rec_len, sl->off);
		if (rc != 0) {
			ra_drop(fs);
			return rc;
		}
	}
	fs->ra_blk = b->id;
	fs->ra_next = sl->off + sl->rec_len;
	scratch->len = sl->rec_len;
	const uint8_t *p = (const uint8_t *)scratch->data;
	struct rec r;
	if (rec_parse(p, sl->rec_len, &r) != sl->rec_len || r.kind != REC_MSG ||
	    r.seq != sl->seq || r.hdr_len != sl->hdr_len)
		return STORE_ERR_CORRUPT;
	out->seq = r.seq;
	out->ts_ns = r.ts_ns;
	out->subject = r.subject;
	out->subject_len = r.subj_len;
	out->hdr = r.hdr_len > 0 ? p + REC_HDR + r.subj_len : NULL;
	out->hdr_len = r.hdr_len;
	out->data = p + REC_HDR + r.subj_len + r.hdr_len;
	out->data_len = r.data_len;
	return 0;
}

static int fs_log_removed(struct store *st, uint64_t new_first,
			  const uint64_t *seqs, size_t n)
{
	int rc = 0;
	if (new_first > st->first_seq || st->msgs == 0)
		rc = fs_log(st, REC_FIRST, new_first);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = fs_log(st, REC_DEL, seqs[i]);
	return rc;
}

static int fs_log_last(struct store *st, uint64_t last)
{
	return fs_log(st, REC_LAST, last);
}

/* Rewrites the record in place as an erased one of the same length. */
static void fs_erase(struct store *st, struct blk *b,
		     const struct store_slot *sl)
{
	struct fs *fs = FS(st);
	size_t zeros = sl->rec_len - REC_MIN;
	buf_reset(&fs->rec);
	if (!buf_reserve(&fs->rec, sl->rec_len)) {
		fs->io_errors++;
		return;
	}
	memset(fs->rec.data, 0, sl->rec_len);
	/* The zeros ride as the "data" of the erased record. */
	uint8_t h[REC_HDR] = { 0 };
	store_put_u32(h, REC_MAGIC);
	store_put_u32(h + 4, sl->rec_len);
	h[8] = REC_ERASED;
	store_put_u64(h + 16, sl->seq);
	memcpy(fs->rec.data, h, REC_HDR);
	store_put_u64((uint8_t *)fs->rec.data + REC_HDR + zeros,
		      store_checksum(fs->rec.data, sl->rec_len - 8));
	fs->rec.len = sl->rec_len;
	ra_drop(fs);
	if (file_write_all(st->env, b->file, fs->rec.data, sl->rec_len,
			   sl->off) != 0)
		fs->io_errors++;
	b->dirty = true;
}

static void fs_drop(struct store *st, struct store_slot *sl, bool secure)
{
	struct blk *b = blk_find(FS(st), sl->block);
	if (b == NULL)
		return;
	ASSERT(b->live > 0);
	b->live--;
	if (secure)
		fs_erase(st, b, sl);
}

static bool fs_dirty(const struct store *st)
{
	const struct fs *fs = FS(st);
	for (size_t i = 0; i < fs->nblks; i++)
		if (fs->blks[i].dirty)
			return true;
	return false;
}

static uint64_t fs_msg_size(size_t subject_len, size_t hdr_len,
			    size_t data_len, bool has_hdr)
{
	UNUSED(has_hdr);
	/* The reference's record: length, seq, ts, subject length, subject,
	 * [header length, header,] payload, hash. */
	uint64_t n = 22 + (uint64_t)subject_len + data_len + 8;
	return hdr_len > 0 ? n + 4 + hdr_len : n;
}

/* Is b still needed?  Its DEL/FIRST records keep messages of earlier
 * blocks removed, and the sequences it reached keep any stale message of
 * a later block (only corrupt files have those) out of order. */
static bool blk_removable(const struct fs *fs, size_t i)
{
	const struct blk *b = &fs->blks[i];
	if (b->live > 0 || i + 1 == fs->nblks)
		return false;
	for (size_t j = 0; j < fs->nblks; j++) {
		if (j < i && fs->blks[j].min_seq <= b->max_target)
			return false;
		if (j > i && fs->blks[j].min_seq <= b->max_seq)
			return false;
	}
	return true;
}

static void blk_remove_at(struct store *st, size_t i)
{
	struct fs *fs = FS(st);
	char path[PATH_MAX_LEN];
	path_block(st, fs->blks[i].id, path);
	st->env->file_close(st->env, fs->blks[i].file);
	st->env->file_remove(st->env, path);
	ra_drop(fs);
	memmove(&fs->blks[i], &fs->blks[i + 1],
		(fs->nblks - i - 1) * sizeof(*fs->blks));
	fs->nblks--;
}

/* After a good sync: drop the blocks nothing needs any more.  A block
 * that alone remembers how far last_seq went passes that on to the last
 * block first (one LAST record, synced), so no sequence is reused. */
static void fs_remove_dead(struct store *st)
{
	struct fs *fs = FS(st);
	for (size_t i = 0; i + 1 < fs->nblks;) {
		if (!blk_removable(fs, i)) {
			i++;
			continue;
		}
		uint64_t later = 0;
		for (size_t j = i + 1; j < fs->nblks; j++)
			later = MAX(later, fs->blks[j].max_seq);
		if (fs->blks[i].max_seq > later) {
			uint32_t last_id = blk_last(fs)->id;
			if (fs_log(st, REC_LAST, st->last_seq) != 0 ||
			    blk_last(fs)->id != last_id ||
			    st->env->file_sync(st->env, blk_last(fs)->file) != 0)
				return;
			blk_last(fs)->dirty = false;
		}
		blk_remove_at(st, i);
	}
}

static int fs_sync(struct store *st)
{
	struct fs *fs = FS(st);
	int rc = 0;
	for (size_t i = 0; i < fs->nblks; i++) {
		struct blk *b = &fs->blks[i];
		if (!b->dirty)
			continue;
		if (st->env->file_sync(st->env, b->file) != 0)
			rc = STORE_ERR_IO;
		else
			b->dirty = false;
	}
	if (rc == 0 && fs->io_errors > 0)
		rc = STORE_ERR_IO;
	fs->io_errors = 0;
	if (rc == 0)
		fs_remove_dead(st);
	return rc;
}

/* ----------------------------------------------------------- recovery */

static void report_problem(struct store_report *rep, const char *what,
			   uint32_t id, uint64_t off)
{
	if (rep->first_problem[0] == '\0')
		snprintf(rep->first_problem, sizeof(rep->first_problem),
			 "block %u offset %llu: %s", id,
			 (unsigned long long)off, what);
}

static int rec_apply_msg(struct store *st, struct blk *b, const struct rec *r,
			 uint64_t off, struct store_report *rep)
{
	if (r->seq <= st->last_seq || r->seq == UINT64_MAX) {
		/* Still on disk: the blocks that outrank it must stay. */
		b->min_seq = MIN(b->min_seq, r->seq);
		rep->corrupt_records++;
		rep->corrupt_bytes += r->len;
		report_problem(rep, "message out of order",
			       b->id, off);
		return 0;
	}
	struct store_slot sl = {
		.seq = r->seq, .ts_ns = r->ts_ns, .hdr_len = r->hdr_len,
		.data_len = r->data_len, .has_hdr = r->hdr_len > 0,
		.block = b->id, .off = off, .rec_len = r->len,
	};
	int rc = store_index_add(st, &sl, r->subject, r->subj_len);
	if (rc != 0)
		return rc;
	b->live++;
	b->min_seq = MIN(b->min_seq, r->seq);
	b->max_seq = MAX(b->max_seq, r->seq);
	rep->records_recovered++;
	return 0;
}

static int rec_apply(struct store *st, struct blk *b, const struct rec *r,
		     uint64_t off, struct store_report *rep)
{
	struct store_slot *sl;
	switch (r->kind) {
	case REC_MSG:
		return rec_apply_msg(st, b, r, off, rep);
	case REC_DEL:
		b->max_target = MAX(b->max_target, r->seq);
		sl = store_index_find(st, r->seq);
		if (sl != NULL && sl->subj != NULL)
			store_index_remove(st, sl, false, false);
		break;
	case REC_FIRST:
		if (r->seq == 0 || r->seq == UINT64_MAX)
			break;
		b->max_target = MAX(b->max_target, r->seq - 1);
		b->max_seq = MAX(b->max_seq, r->seq - 1);
		store_index_cut_below(st, r->seq);
		break;
	case REC_LAST:
		if (r->seq == UINT64_MAX)
			break;
		b->max_seq = MAX(b->max_seq, r->seq);
		if (r->seq > st->last_seq)
			st->last_seq = r->seq;
		if (st->msgs == 0)
			st->first_seq = st->last_seq + 1;
		break;
	default:
		break;
	}
	return 0;
}

/* The next offset after pos where a valid record starts, or size. */
static uint64_t resync(const uint8_t *p, uint64_t pos, uint64_t size)
{
	struct rec r;
	for (uint64_t q = pos + 1; q + REC_MIN <= size; q++)
		if (p[q] == (REC_MAGIC & 0xff) && rec_parse(p + q, size - q, &r))
			return q;
	return size;
}

/* Reads every record of b; bad stretches are skipped (in the middle) or
 * cut away (at the end of the last block). */
static int blk_recover(struct store *st, struct blk *b, bool last,
		       struct store_report *rep)
{
	struct fs *fs = FS(st);
	int64_t size = st->env->file_size(st->env, b->file);
	if (size < 0)
		return STORE_ERR_IO;
	buf_reset(&fs->rd);
	if (!buf_reserve(&fs->rd, (size_t)size))
		return STORE_ERR_NOMEM;
	int rc = file_read_all(st->env, b->file, fs->rd.data, (size_t)size, 0);
	if (rc != 0)
		return rc;
	const uint8_t *p = (const uint8_t *)fs->rd.data;
	uint64_t pos = 0, end = (uint64_t)size;
	while (pos < end && rc == 0) {
		struct rec r;
		if (rec_parse(p + pos, end - pos, &r) != 0) {
			rc = rec_apply(st, b, &r, pos, rep);
			pos += r.len;
			continue;
		}
		uint64_t q = resync(p, pos, end);
		if (q == end && last) {
			rep->torn_tail_bytes += end - pos;
			report_problem(rep, "torn tail cut",
				       b->id, pos);
			if (st->env->file_truncate(st->env, b->file, pos) != 0)
				return STORE_ERR_IO;
			b->dirty = true;
			end = pos;
			break;
		}
		rep->corrupt_records++;
		rep->corrupt_bytes += q - pos;
		report_problem(rep, "bad record skipped",
			       b->id, pos);
		pos = q;
	}
	b->size = end;
	return rc;
}

struct id_list {
	struct mem *mem;
	uint32_t *ids;
	size_t n, cap;
	bool oom;
};

static void list_block(void *arg, const char *name)
{
	struct id_list *l = arg;
	uint64_t id = 0;
	size_t i = 0;
	if (name[0] == '0')
		return;     /* not a name we write: "<n>.blk" without zeros */
	for (; name[i] >= '0' && name[i] <= '9' && id <= UINT32_MAX; i++)
		id = id * 10 + (uint64_t)(name[i] - '0');
	if (i == 0 || strcmp(name + i, ".blk") != 0 || id == 0 || id > UINT32_MAX)
		return;
	if (l->n == l->cap) {
		size_t n = l->cap ? l->cap * 2 : 16;
		void *p = mem_realloc(l->mem, l->ids, n * sizeof(*l->ids));
		if (p == NULL) {
			l->oom = true;
			return;
		}
		l->ids = p;
		l->cap = n;
	}
	l->ids[l->n++] = (uint32_t)id;
}

static void ids_sort(uint32_t *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint32_t x = v[i];
		size_t j = i;
		for (; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

static int blocks_recover(struct store *st, struct id_list *l,
			  struct store_report *rep)
{
	for (size_t i = 0; i < l->n; i++) {
		char path[PATH_MAX_LEN];
		path_block(st, l->ids[i], path);
		int f = st->env->file_open(st->env, path, ENV_O_READ | ENV_O_WRITE);
		if (f < 0)
			return STORE_ERR_IO;
		struct blk *b = blk_add(st, l->ids[i], f);
		if (b == NULL) {
			st->env->file_close(st->env, f);
			return STORE_ERR_NOMEM;
		}
		int rc = blk_recover(st, b, i + 1 == l->n, rep);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* --------------------------------------------------------- the index */

/* The index is a summary written at a clean close: version, block count,
 * first/last seq, msgs, bytes, then (id, size) per block.  Open compares
 * it with what the blocks say and removes it, so it only exists while
 * the blocks are known to agree with it. */
#define IDX_VERSION 1
#define IDX_HDR 40
#define IDX_ENTRY 16

static void idx_encode(const struct store *st, struct buf *out)
{
	const struct fs *fs = FS(st);
	uint8_t h[IDX_HDR];
	store_put_u32(h, IDX_VERSION);
	store_put_u32(h + 4, (uint32_t)fs->nblks);
	store_put_u64(h + 8, st->first_seq);
	store_put_u64(h + 16, st->last_seq);
	store_put_u64(h + 24, st->msgs);
	store_put_u64(h + 32, st->bytes);
	buf_append(out, h, IDX_HDR);
	for (size_t i = 0; i < fs->nblks; i++) {
		uint8_t e[IDX_ENTRY];
		store_put_u32(e, fs->blks[i].id);
		store_put_u32(e + 4, 0);
		store_put_u64(e + 8, fs->blks[i].size);
		buf_append(out, e, IDX_ENTRY);
	}
}

static void idx_write(struct store *st)
{
	char path[PATH_MAX_LEN];
	struct buf b;
	buf_init(&b, st->mem);
	idx_encode(st, &b);
	path_sub(st, "msgs/index.idx", path);
	if (!b.oom)
		store_meta_write(st->env, path, b.data, b.len);
	buf_free(&b);
}

/* Reads and removes the index; true when it agrees with the blocks. */
static bool idx_check(struct store *st, bool *present)
{
	char path[PATH_MAX_LEN];
	struct buf want, got;
	buf_init(&want, st->mem);
	buf_init(&got, st->mem);
	path_sub(st, "msgs/index.idx", path);
	int rc = store_meta_read(st->env, path, &got);
	*present = rc != STORE_ERR_NOT_FOUND;
	idx_encode(st, &want);
	bool ok = rc == 0 && !want.oom && want.len == got.len &&
		  memcmp(want.data, got.data, got.len) == 0;
	buf_free(&want);
	buf_free(&got);
	if (*present)
		st->env->file_remove(st->env, path);
	return ok;
}

/* Creates dir (with its parents) and dir/msgs; existing ones are fine. */
static int fs_dirs(struct store *st)
{
	char path[PATH_MAX_LEN];
	if (snprintf(path, sizeof(path), "%s/msgs/4294967295.blk", st->dir) >=
	    (int)sizeof(path))
		return STORE_ERR_INVALID;
	path_sub(st, "msgs", path);
	for (size_t i = 1; path[i] != '\0'; i++) {
		if (path[i] != '/')
			continue;
		path[i] = '\0';
		int rc = st->env->dir_create(st->env, path);
		path[i] = '/';
		if (rc != 0 && rc != ENV_EEXIST)
			return err_from_env(rc);
	}
	int rc = st->env->dir_create(st->env, path);
	if (rc != 0 && rc != ENV_EEXIST)
		return err_from_env(rc);
	return 0;
}

static int fs_recover(struct store *st, struct store_report *rep)
{
	char path[PATH_MAX_LEN];
	struct id_list l = { .mem = st->mem };
	path_sub(st, "msgs", path);
	int rc = st->env->dir_list(st->env, path, list_block, &l);
	if (rc != 0)
		rc = err_from_env(rc);
	else if (l.oom)
		rc = STORE_ERR_NOMEM;
	if (rc == 0) {
		ids_sort(l.ids, l.n);
		rc = blocks_recover(st, &l, rep);
	}
	mem_free(st->mem, l.ids);
	buf_free(&FS(st)->rd);
	if (rc != 0)
		return rc;
	bool present = false;
	FS(st)->index_ok = idx_check(st, &present);
	rep->index_rebuilt = !FS(st)->index_ok && (present || l.n > 0);
	return 0;
}

static void fs_release(struct store *st)
{
	struct fs *fs = FS(st);
	for (size_t i = 0; i < fs->nblks; i++)
		st->env->file_close(st->env, fs->blks[i].file);
	buf_free(&fs->rec);
	buf_free(&fs->rd);
	buf_free(&fs->ra);
	mem_free(st->mem, fs->blks);
	mem_free(st->mem, fs);
	st->kind_state = NULL;
}

static int fs_open(struct store *st, struct store_report *rep)
{
	struct fs *fs = mem_calloc(st->mem, 1, sizeof(*fs));
	if (fs == NULL)
		return STORE_ERR_NOMEM;
	fs->block_size = st->cfg.block_size_bytes > 0 ? st->cfg.block_size_bytes :
			 BLOCK_DEFAULT;
	buf_init(&fs->rec, st->mem);
	buf_init(&fs->rd, st->mem);
	buf_init(&fs->ra, st->mem);
	st->kind_state = fs;
	int rc = fs_dirs(st);
	if (rc == 0)
		rc = fs_recover(st, rep);
	return rc;
}

static void fs_close(struct store *st)
{
	if (st->kind_state == NULL)
		return;
	if (st->closed && !fs_dirty(st))
		idx_write(st);
	fs_release(st);
}

static int fs_destroy(struct store *st)
{
	struct fs *fs = FS(st);
	char path[PATH_MAX_LEN];
	int rc = 0;
	for (size_t i = 0; i < fs->nblks; i++) {
		st->env->file_close(st->env, fs->blks[i].file);
		path_block(st, fs->blks[i].id, path);
		if (st->env->file_remove(st->env, path) != 0)
			rc = STORE_ERR_IO;
	}
	fs->nblks = 0;
	path_sub(st, "msgs/index.idx", path);
	st->env->file_remove(st->env, path);
	fs_release(st);
	return rc;
}

const struct store_ops store_file_ops = {
	.open = fs_open,
	.close = fs_close,
	.destroy = fs_destroy,
	.put = fs_put,
	.get = fs_get,
	.log_removed = fs_log_removed,
	.log_last = fs_log_last,
	.drop = fs_drop,
	.sync = fs_sync,
	.dirty = fs_dirty,
	.msg_size = fs_msg_size,
};
