/*
 * disk.c - the virtual disk; see disk.h for the model.
 *
 * Owns every file and directory of one server.  A file stays allocated
 * while open even after it is removed (as with unlink on POSIX): such an
 * orphan is freed at its last close.
 *
 * Invariants: used_bytes is the sum of the written-layer sizes of linked
 * files and orphans; a file with no pending operations has equal layers
 * once it has been synced.
 */
#include "disk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env/env.h"
#include "lib/assert.h"
#include "world.h"

#define PATH_MAX_LEN 1024

struct vbytes {
	char *data;
	uint64_t len;
};

enum wop_type { WOP_WRITE, WOP_TRUNC };

struct wop {
	struct wop *next;
	enum wop_type type;
	uint64_t off;                /* write offset or truncate size */
	uint64_t len;
	char data[];
};

struct sim_file {
	char *path;
	bool linked;                 /* reachable by path */
	int refs;                    /* open handles */
	bool ever_synced;
	struct vbytes cur;           /* written layer */
	struct vbytes synced;        /* durable layer */
	struct wop *pending_head, *pending_tail;
	uint32_t npending;
};

struct sim_disk *sim_disk_new(struct sim_rng *rng)
{
	struct sim_disk *d = sim_xcalloc(1, sizeof(*d));
	d->rng = rng;
	d->faults.torn_writes = true;
	return d;
}

static void pending_clear(struct sim_file *f)
{
	while (f->pending_head != NULL) {
		struct wop *o = f->pending_head;
		f->pending_head = o->next;
		free(o);
	}
	f->pending_tail = NULL;
	f->npending = 0;
}

static void file_free(struct sim_file *f)
{
	pending_clear(f);
	free(f->cur.data);
	free(f->synced.data);
	free(f->path);
	free(f);
}

void sim_disk_free(struct sim_disk *d)
{
	if (d == NULL)
		return;
	for (uint32_t i = 0; i < d->nfiles; i++)
		file_free(d->files[i]);
	for (uint32_t i = 0; i < d->ndirs; i++)
		free(d->dirs[i]);
	free(d->files);
	free(d->dirs);
	free(d);
}

/* --------------------------------------------------------------- paths */

int sim_disk_path(const char *path, char *out, size_t cap)
{
	size_t n = 0;
	const char *p = path;
	if (cap < 2)
		return -1;
	out[n++] = '/';
	while (*p != '\0') {
		while (*p == '/')
			p++;
		const char *s = p;
		while (*p != '\0' && *p != '/')
			p++;
		size_t k = (size_t)(p - s);
		if (k == 0 || (k == 1 && s[0] == '.'))
			continue;
		if (k == 2 && s[0] == '.' && s[1] == '.') {
			while (n > 1 && out[n - 1] != '/')
				n--;
			if (n > 1)
				n--;
			continue;
		}
		if (n > 1)
			out[n++] = '/';
		if (n + k + 1 > cap)
			return -1;
		memcpy(out + n, s, k);
		n += k;
	}
	out[n] = '\0';
	return 0;
}

static void path_parent(const char *path, char *out, size_t cap)
{
	snprintf(out, cap, "%s", path);
	char *slash = strrchr(out, '/');
	if (slash == out)
		out[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
}

static int dir_index(const struct sim_disk *d, const char *path)
{
	for (uint32_t i = 0; i < d->ndirs; i++)
		if (strcmp(d->dirs[i], path) == 0)
			return (int)i;
	return -1;
}

static bool dir_exists(const struct sim_disk *d, const char *path)
{
	return strcmp(path, "/") == 0 || dir_index(d, path) >= 0;
}

static struct sim_file *file_find(const struct sim_disk *d, const char *path)
{
	for (uint32_t i = 0; i < d->nfiles; i++)
		if (d->files[i]->linked && strcmp(d->files[i]->path, path) == 0)
			return d->files[i];
	return NULL;
}

static bool parent_exists(const struct sim_disk *d, const char *path)
{
	char parent[PATH_MAX_LEN];
	path_parent(path, parent, sizeof(parent));
	return dir_exists(d, parent);
}

/* ---------------------------------------------------------- file table */

static void file_forget(struct sim_disk *d, struct sim_file *f)
{
	for (uint32_t i = 0; i < d->nfiles; i++) {
		if (d->files[i] == f) {
			memmove(&d->files[i], &d->files[i + 1],
				(d->nfiles - i - 1) * sizeof(*d->files));
			d->nfiles--;
			break;
		}
	}
	d->used_bytes -= f->cur.len;
	file_free(f);
}

static void file_unlink(struct sim_disk *d, struct sim_file *f)
{
	f->linked = false;
	if (f->refs == 0)
		file_forget(d, f);
}

static struct sim_file *file_create(struct sim_disk *d, const char *path)
{
	struct sim_file *f = sim_xcalloc(1, sizeof(*f));
	f->path = sim_xstrdup(path);
	f->linked = true;
	d->files = sim_xrealloc(d->files, (d->nfiles + 1) * sizeof(*d->files));
	d->files[d->nfiles++] = f;
	return f;
}

/* --------------------------------------------------------- byte layers */

static void vbytes_resize(struct vbytes *v, uint64_t len)
{
	if (len > v->len) {
		v->data = sim_xrealloc(v->data, (size_t)len);
		memset(v->data + v->len, 0, (size_t)(len - v->len));
	}
	v->len = len;
}

static void vbytes_write(struct vbytes *v, uint64_t off, const void *buf,
			 uint64_t len)
{
	if (off + len > v->len)
		vbytes_resize(v, off + len);
	memcpy(v->data + off, buf, (size_t)len);
}

static void vbytes_copy(struct vbytes *dst, const struct vbytes *src)
{
	dst->data = sim_xrealloc(dst->data, src->len ? (size_t)src->len : 1);
	if (src->len > 0)
		memcpy(dst->data, src->data, (size_t)src->len);
	dst->len = src->len;
}

static void pending_add(struct sim_file *f, enum wop_type type, uint64_t off,
			const void *buf, uint64_t len)
{
	uint64_t size = type == WOP_WRITE ? len : 0;
	struct wop *o = sim_xcalloc(1, sizeof(*o) + (size_t)size);
	o->type = type;
	o->off = off;
	o->len = len;
	if (size > 0)
		memcpy(o->data, buf, (size_t)size);
	if (f->pending_tail != NULL)
		f->pending_tail->next = o;
	else
		f->pending_head = o;
	f->pending_tail = o;
	f->npending++;
}

static void file_set_size(struct sim_disk *d, struct sim_file *f,
			  uint64_t size)
{
	d->used_bytes = d->used_bytes - f->cur.len + size;
	vbytes_resize(&f->cur, size);
}

/* ---------------------------------------------------------- operations */

int sim_disk_open(struct sim_disk *d, const char *path, unsigned flags,
		  struct sim_file **out)
{
	char p[PATH_MAX_LEN];
	if (sim_disk_path(path, p, sizeof(p)) < 0)
		return ENV_EINVAL;
	if (dir_exists(d, p))
		return ENV_EINVAL;
	struct sim_file *f = file_find(d, p);
	if (f != NULL && (flags & ENV_O_CREATE) && (flags & ENV_O_EXCL))
		return ENV_EEXIST;
	if (f == NULL) {
		if (!(flags & ENV_O_CREATE))
			return ENV_ENOENT;
		if (!parent_exists(d, p))
			return ENV_ENOENT;
		f = file_create(d, p);
	}
	if ((flags & ENV_O_TRUNC) && (flags & ENV_O_WRITE) && f->cur.len > 0) {
		file_set_size(d, f, 0);
		pending_add(f, WOP_TRUNC, 0, NULL, 0);
	}
	f->refs++;
	*out = f;
	return 0;
}

void sim_disk_close(struct sim_disk *d, struct sim_file *f)
{
	ASSERT(f->refs > 0);
	if (--f->refs == 0 && !f->linked)
		file_forget(d, f);
}

long sim_disk_pread(struct sim_disk *d, struct sim_file *f, void *buf,
		    size_t len, uint64_t off)
{
	if (sim_rng_chance(d->rng, d->faults.read_error_ppm))
		return ENV_EIO;
	if (off >= f->cur.len || len == 0)
		return 0;
	uint64_t n = MIN((uint64_t)len, f->cur.len - off);
	if (n > 1 && sim_rng_chance(d->rng, d->faults.short_read_ppm))
		n = 1 + sim_rng_below(d->rng, n - 1);
	memcpy(buf, f->cur.data + off, (size_t)n);
	return (long)n;
}

/* How many of len bytes at off fit under the capacity (0 = none). */
static uint64_t disk_room(const struct sim_disk *d, const struct sim_file *f,
			  uint64_t off, uint64_t len)
{
	uint64_t cap = d->faults.capacity_bytes;
	if (cap == 0 || off + len <= f->cur.len)
		return len;
	uint64_t avail = d->used_bytes >= cap ? 0 : cap - d->used_bytes;
	uint64_t max_end = f->cur.len + avail;
	if (off >= max_end)
		return 0;
	return MIN(len, max_end - off);
}

long sim_disk_pwrite(struct sim_disk *d, struct sim_file *f, const void *buf,
		     size_t len, uint64_t off)
{
	if (sim_rng_chance(d->rng, d->faults.write_error_ppm))
		return ENV_EIO;
	if (len == 0)
		return 0;
	uint64_t n = disk_room(d, f, off, len);
	if (n == 0)
		return ENV_ENOSPC;
	if (n > 1 && sim_rng_chance(d->rng, d->faults.short_write_ppm))
		n = 1 + sim_rng_below(d->rng, n - 1);
	if (off + n > f->cur.len)
		file_set_size(d, f, off + n);
	vbytes_write(&f->cur, off, buf, n);
	pending_add(f, WOP_WRITE, off, buf, n);
	return (long)n;
}

int sim_disk_sync(struct sim_disk *d, struct sim_file *f)
{
	if (sim_rng_chance(d->rng, d->faults.sync_error_ppm))
		return ENV_EIO;
	vbytes_copy(&f->synced, &f->cur);
	pending_clear(f);
	f->ever_synced = true;
	return 0;
}

int sim_disk_truncate(struct sim_disk *d, struct sim_file *f, uint64_t size)
{
	if (size > f->cur.len && disk_room(d, f, f->cur.len,
					    size - f->cur.len) <
					 size - f->cur.len)
		return ENV_ENOSPC;
	file_set_size(d, f, size);
	pending_add(f, WOP_TRUNC, size, NULL, 0);
	return 0;
}

int64_t sim_disk_size(const struct sim_file *f)
{
	return (int64_t)f->cur.len;
}

static bool has_prefix_dir(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static void rename_children(struct sim_disk *d, const char *from,
			    const char *to)
{
	char buf[PATH_MAX_LEN];
	size_t n = strlen(from);
	for (uint32_t i = 0; i < d->ndirs; i++) {
		if (!has_prefix_dir(d->dirs[i], from))
			continue;
		snprintf(buf, sizeof(buf), "%s%s", to, d->dirs[i] + n);
		free(d->dirs[i]);
		d->dirs[i] = sim_xstrdup(buf);
	}
	for (uint32_t i = 0; i < d->nfiles; i++) {
		struct sim_file *f = d->files[i];
		if (!f->linked || !has_prefix_dir(f->path, from))
			continue;
		snprintf(buf, sizeof(buf), "%s%s", to, f->path + n);
		free(f->path);
		f->path = sim_xstrdup(buf);
	}
}

static int rename_dir(struct sim_disk *d, int di, const char *to)
{
	if (file_find(d, to) != NULL || dir_exists(d, to))
		return ENV_EEXIST;
	char from[PATH_MAX_LEN];
	snprintf(from, sizeof(from), "%s", d->dirs[di]);
	free(d->dirs[di]);
	d->dirs[di] = sim_xstrdup(to);
	rename_children(d, from, to);
	return 0;
}

int sim_disk_rename(struct sim_disk *d, const char *from, const char *to)
{
	char a[PATH_MAX_LEN], b[PATH_MAX_LEN];
	if (sim_disk_path(from, a, sizeof(a)) < 0 ||
	    sim_disk_path(to, b, sizeof(b)) < 0)
		return ENV_EINVAL;
	if (!parent_exists(d, b))
		return ENV_ENOENT;
	int di = dir_index(d, a);
	if (di >= 0)
		return rename_dir(d, di, b);
	struct sim_file *f = file_find(d, a);
	if (f == NULL)
		return ENV_ENOENT;
	if (strcmp(a, b) == 0)
		return 0;
	if (dir_exists(d, b))
		return ENV_EEXIST;
	struct sim_file *old = file_find(d, b);
	if (old != NULL)
		file_unlink(d, old);
	free(f->path);
	f->path = sim_xstrdup(b);
	return 0;
}

static bool dir_empty(const struct sim_disk *d, const char *path)
{
	for (uint32_t i = 0; i < d->ndirs; i++)
		if (has_prefix_dir(d->dirs[i], path))
			return false;
	for (uint32_t i = 0; i < d->nfiles; i++)
		if (d->files[i]->linked && has_prefix_dir(d->files[i]->path,
							  path))
			return false;
	return true;
}

int sim_disk_remove(struct sim_disk *d, const char *path)
{
	char p[PATH_MAX_LEN];
	if (sim_disk_path(path, p, sizeof(p)) < 0)
		return ENV_EINVAL;
	struct sim_file *f = file_find(d, p);
	if (f != NULL) {
		file_unlink(d, f);
		return 0;
	}
	int di = dir_index(d, p);
	if (di < 0)
		return ENV_ENOENT;
	if (!dir_empty(d, p))
		return ENV_EOTHER;
	free(d->dirs[di]);
	memmove(&d->dirs[di], &d->dirs[di + 1],
		(d->ndirs - (uint32_t)di - 1) * sizeof(*d->dirs));
	d->ndirs--;
	return 0;
}

int sim_disk_mkdir(struct sim_disk *d, const char *path)
{
	char p[PATH_MAX_LEN];
	if (sim_disk_path(path, p, sizeof(p)) < 0)
		return ENV_EINVAL;
	if (dir_exists(d, p) || file_find(d, p) != NULL)
		return ENV_EEXIST;
	if (!parent_exists(d, p))
		return ENV_ENOENT;
	d->dirs = sim_xrealloc(d->dirs, (d->ndirs + 1) * sizeof(*d->dirs));
	d->dirs[d->ndirs++] = sim_xstrdup(p);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entry name of child under dir, or NULL if not a direct child. */
static const char *child_name(const char *dir, const char *child)
{
	size_t n = strlen(dir);
	if (n == 1)
		n = 0;   /* "/" */
	if (strncmp(child, dir, n) != 0 || child[n] != '/')
		return NULL;
	const char *name = child + n + 1;
	return strchr(name, '/') == NULL && name[0] != '\0' ? name : NULL;
}

int sim_disk_list(struct sim_disk *d, const char *path,
		  void (*cb)(void *arg, const char *name), void *arg)
{
	char p[PATH_MAX_LEN];
	if (sim_disk_path(path, p, sizeof(p)) < 0)
		return ENV_EINVAL;
	if (!dir_exists(d, p))
		return file_find(d, p) ? ENV_EINVAL : ENV_ENOENT;
	const char **names = sim_xcalloc(d->nfiles + d->ndirs + 1,
					 sizeof(*names));
	uint32_t n = 0;
	for (uint32_t i = 0; i < d->ndirs; i++)
		if ((names[n] = child_name(p, d->dirs[i])) != NULL)
			n++;
	for (uint32_t i = 0; i < d->nfiles; i++)
		if (d->files[i]->linked &&
		    (names[n] = child_name(p, d->files[i]->path)) != NULL)
			n++;
	qsort(names, n, sizeof(*names), cmp_str);
	for (uint32_t i = 0; i < n; i++)
		cb(arg, names[i]);
	free(names);
	return 0;
}

/* ---------------------------------------------------------- crash, wipe */

static void wop_apply(struct vbytes *v, const struct wop *o, uint64_t keep)
{
	if (o->type == WOP_TRUNC)
		vbytes_resize(v, o->off);
	else
		vbytes_write(v, o->off, o->data, keep);
}

/* Rebuilds f from its synced layer plus a random prefix of its pending
 * operations; returns the bytes of pending writes that were lost. */
static uint64_t file_crash(struct sim_disk *d, struct sim_file *f)
{
	uint64_t keep_ops = 0, lost = 0;
	if (d->faults.torn_writes && f->npending > 0)
		keep_ops = sim_rng_below(d->rng, (uint64_t)f->npending + 1);
	struct vbytes v = { NULL, 0 };
	vbytes_copy(&v, &f->synced);
	uint64_t i = 0;
	for (struct wop *o = f->pending_head; o != NULL; o = o->next, i++) {
		if (i < keep_ops) {
			wop_apply(&v, o, o->len);
			continue;
		}
		uint64_t keep = 0;
		if (i == keep_ops && o->type == WOP_WRITE && o->len > 1 &&
		    d->faults.torn_writes)
			keep = sim_rng_below(d->rng, o->len);
		if (keep > 0)
			wop_apply(&v, o, keep);
		lost += o->type == WOP_WRITE ? o->len - keep : 0;
	}
	d->used_bytes = d->used_bytes - f->cur.len + v.len;
	free(f->cur.data);
	f->cur = v;
	vbytes_copy(&f->synced, &f->cur);
	pending_clear(f);
	return lost;
}

uint32_t sim_disk_crash(struct sim_disk *d,
			void (*lost)(void *arg, const char *path,
				     uint64_t bytes),
			void *arg)
{
	uint32_t count = 0;
	for (uint32_t i = 0; i < d->nfiles;) {
		struct sim_file *f = d->files[i];
		ASSERT(f->refs == 0);   /* the process's handles are gone */
		if (!f->ever_synced) {
			if (lost != NULL)
				lost(arg, f->path, f->cur.len);
			count++;
			file_forget(d, f);
			continue;
		}
		uint64_t n = file_crash(d, f);
		if (n > 0) {
			if (lost != NULL)
				lost(arg, f->path, n);
			count++;
		}
		i++;
	}
	return count;
}

uint32_t sim_disk_wipe(struct sim_disk *d)
{
	uint32_t n = 0;
	while (d->nfiles > 0) {
		struct sim_file *f = d->files[d->nfiles - 1];
		ASSERT(f->refs == 0);
		file_forget(d, f);
		n++;
	}
	for (uint32_t i = 0; i < d->ndirs; i++)
		free(d->dirs[i]);
	d->ndirs = 0;
	return n;
}

int sim_disk_bitflip(struct sim_disk *d, const char *path, char *what,
		     size_t cap)
{
	struct sim_file *f = NULL;
	if (path != NULL) {
		char p[PATH_MAX_LEN];
		if (sim_disk_path(path, p, sizeof(p)) == 0)
			f = file_find(d, p);
	} else {
		uint32_t candidates = 0;
		for (uint32_t i = 0; i < d->nfiles; i++)
			candidates += d->files[i]->cur.len > 0;
		uint64_t pick = sim_rng_below(d->rng, candidates);
		for (uint32_t i = 0; i < d->nfiles && f == NULL; i++)
			if (d->files[i]->cur.len > 0 && pick-- == 0)
				f = d->files[i];
	}
	if (f == NULL || f->cur.len == 0)
		return -1;
	uint64_t off = sim_rng_below(d->rng, f->cur.len);
	unsigned bit = (unsigned)sim_rng_below(d->rng, 8);
	f->cur.data[off] ^= (char)(1u << bit);
	if (off < f->synced.len)
		f->synced.data[off] ^= (char)(1u << bit);
	snprintf(what, cap, "%s@%llu^%u", f->path, (unsigned long long)off, bit);
	return 0;
}

long sim_disk_peek(struct sim_disk *d, const char *path, void *buf,
		   size_t cap)
{
	char p[PATH_MAX_LEN];
	if (sim_disk_path(path, p, sizeof(p)) < 0)
		return -1;
	struct sim_file *f = file_find(d, p);
	if (f == NULL)
		return -1;
	size_t n = (size_t)MIN((uint64_t)cap, f->cur.len);
	memcpy(buf, f->cur.data, n);
	return (long)f->cur.len;
}
