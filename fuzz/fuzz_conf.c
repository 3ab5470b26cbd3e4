/*
 * fuzz_conf.c - harness for the configuration parser (server/core/conf.h)
 * and the mapping to options (server/core/opts.h).
 *
 * Input: configuration text, optionally followed by more files, each
 * introduced by a line "@@@ NAME":
 *
 *     port: 4222
 *     include ./accounts.conf
 *     @@@ accounts.conf
 *     accounts { A { users [ {user: a, password: a} ] } }
 *
 * The first part is /fuzz/main.conf; NAME is relative to /fuzz/ (or
 * absolute).  Includes are served from these files through struct conf_io;
 * any other path does not exist.  $NAME variables not set in the file come
 * from a small fixed environment (see fuzz_env).
 *
 * Properties checked:
 *   - a failed parse or option mapping says why, and leaves nothing
 *     allocated;
 *   - a parsed tree is well formed: known types, NUL-terminated strings,
 *     file names from the document's table, positions from 1, bounded
 *     depth, conf_map_get finds the last of equal keys (ignoring case);
 *   - opts_from_conf on every parsed tree, then opts_free: no leak;
 *   - with one allocation made to fail, nothing crashes or leaks.
 */
#define _GNU_SOURCE             /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "core/opts.h"
#include "env/env.h"
#include "fuzz.h"

#define FILES_MAX 8
#define MARKER "\n@@@ "
#define MARKER_LEN 5
/* conf.c's nesting bound plus the root; a tree deeper than this would
 * make every user of the tree recurse without bound. */
#define TREE_DEPTH_MAX 66

struct vfile {
	char path[128];
	const char *text;
	size_t len;
};

struct vfs {
	struct vfile f[FILES_MAX];
	size_t n;
	size_t reads;
};

/* Cuts the input at each marker line; the first part is main.conf. */
static void vfs_carve(struct vfs *v, const char *data, size_t len)
{
	const char *p = data, *end = data + len;
	v->n = 0;
	v->reads = 0;
	snprintf(v->f[0].path, sizeof(v->f[0].path), "/fuzz/main.conf");
	for (;;) {
		struct vfile *f = &v->f[v->n++];
		const char *m = v->n < FILES_MAX ?
				memmem(p, (size_t)(end - p), MARKER, MARKER_LEN) : NULL;
		f->text = p;
		f->len = (size_t)((m != NULL ? m + 1 : end) - p);
		if (m == NULL)
			return;
		const char *name = m + MARKER_LEN;
		const char *nl = memchr(name, '\n', (size_t)(end - name));
		size_t nlen = (size_t)((nl != NULL ? nl : end) - name);
		struct vfile *next = &v->f[v->n];
		snprintf(next->path, sizeof(next->path), "%s%.*s",
			 nlen > 0 && name[0] == '/' ? "" : "/fuzz/",
			 (int)(nlen < 100 ? nlen : 100), name);
		p = nl != NULL ? nl + 1 : end;
	}
}

static int vfs_read(void *arg, struct mem *mem, const char *path, char **data, size_t *len)
{
	struct vfs *v = arg;
	v->reads++;
	for (size_t i = 0; i < v->n; i++) {
		if (strcmp(v->f[i].path, path) != 0)
			continue;
		*data = mem_alloc(mem, v->f[i].len + 1);
		if (*data == NULL)
			return ENV_ENOMEM;
		if (v->f[i].len > 0)
			memcpy(*data, v->f[i].text, v->f[i].len);
		(*data)[v->f[i].len] = '\0';
		*len = v->f[i].len;
		return 0;
	}
	return ENV_ENOENT;
}

static const char *fuzz_env(void *arg, const char *name)
{
	static const char *const table[][2] = {
		{ "HOME", "/home/nats" },
		{ "PORT", "4222" },
		{ "HOST", "127.0.0.1" },
		{ "EMPTY", "" },
		{ "SIZE", "10MB" },
		{ "DUR", "2m30s" },
		{ "MAP", "{ user: a, password: b }" },
		{ "LIST", "[1, \"two\", 3.5]" },
		{ "NEST", "$PORT" },
		{ "SELF", "$SELF" },
		{ "BAD", "{ unterminated" },
	};
	(void)arg;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i][0], name) == 0)
			return table[i][1];
	return NULL;
}

/* ---- tree checks ------------------------------------------------------- */

static bool key_equal_nocase(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a + 32) : *a;
		char y = (*b >= 'A' && *b <= 'Z') ? (char)(*b + 32) : *b;
		if (x != y)
			return false;
	}
	return *a == *b;
}

static void check_node(const struct conf_doc *doc, const struct conf_node *n, int depth)
{
	bool known_file = false;
	FUZZ_CHECK(n != NULL, "NULL node in the tree");
	FUZZ_CHECK(depth <= TREE_DEPTH_MAX, "tree deeper than %d", TREE_DEPTH_MAX);
	FUZZ_CHECK(n->type >= CONF_MAP && n->type <= CONF_DATETIME, "node type %d", n->type);
	FUZZ_CHECK(n->line >= 1 && n->col >= 1, "node at line %d col %d", n->line, n->col);
	for (size_t i = 0; i < doc->nfiles && !known_file; i++)
		known_file = n->file == doc->files[i];
	FUZZ_CHECK(known_file, "node's file is not in the document's table");
	switch (n->type) {
	case CONF_STRING: case CONF_DATETIME:
		FUZZ_CHECK(n->u.str.s != NULL && n->u.str.s[n->u.str.len] == '\0',
			   "string not NUL-terminated at its length");
		break;
	case CONF_INT: case CONF_FLOAT: case CONF_BOOL:
		FUZZ_CHECK(n->raw != NULL, "scalar without its text");
		break;
	case CONF_ARRAY:
		for (size_t i = 0; i < n->u.arr.n; i++)
			check_node(doc, n->u.arr.items[i], depth + 1);
		break;
	case CONF_MAP:
		for (size_t i = 0; i < n->u.map.n; i++) {
			const struct conf_kv *kv = &n->u.map.kv[i];
			FUZZ_CHECK(kv->key != NULL, "map entry without key");
			check_node(doc, kv->value, depth + 1);
			const struct conf_node *last = NULL;
			for (size_t j = 0; j < n->u.map.n; j++)
				if (key_equal_nocase(n->u.map.kv[j].key, kv->key))
					last = n->u.map.kv[j].value;
			FUZZ_CHECK(conf_map_get(n, kv->key) == last,
				   "conf_map_get('%s') is not the last equal key", kv->key);
		}
		break;
	}
}

/* ---- runs ---------------------------------------------------------------- */

/* Parses and applies; with check, verifies everything on the way. */
static void run_once(struct vfs *v, struct mem *mem, bool check)
{
	const struct conf_io io = { .read_file = vfs_read, .get_env = fuzz_env, .arg = v };
	struct conf_doc doc;
	struct buf err;
	buf_init(&err, mem);
	int rc = conf_parse_text(&doc, mem, &io, v->f[0].path, v->f[0].text, v->f[0].len,
				 &err);
	if (rc != 0) {
		FUZZ_CHECK(!check || err.len > 0, "parse failed without a message");
		buf_free(&err);
		return;
	}
	FUZZ_CHECK(rc == 0, "conf_parse_text returned %d", rc);
	if (check) {
		FUZZ_CHECK(doc.root != NULL && doc.root->type == CONF_MAP, "root is no map");
		FUZZ_CHECK(doc.nfiles >= 1 && strcmp(doc.files[0], v->f[0].path) == 0,
			   "first file is not the main file");
		check_node(&doc, doc.root, 0);
	}
	struct opts o;
	opts_defaults(&o);
	buf_reset(&err);
	rc = opts_from_conf(&o, mem, &doc, &err);
	FUZZ_CHECK(!check || rc == 0 || err.len > 0, "opts_from_conf failed without a message");
	opts_free(&o, mem);
	conf_doc_free(&doc);
	buf_free(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vfs v;
	struct mem mem;
	vfs_carve(&v, (const char *)data, size);
	mem_init(&mem);
	run_once(&v, &mem, true);
	fuzz_check_no_leak(&mem, "conf and opts");

	/* Again with one allocation failing, chosen by the input. */
	uint64_t allocs = mem.alloc_count;
	if (allocs > 0) {
		mem_init(&mem);
		mem.fail_at = 1 + fuzz_hash(data, size) % allocs;
		run_once(&v, &mem, false);
		fuzz_check_no_leak(&mem, "conf and opts under an allocation failure");
	}
	return 0;
}
