/*
 * ytree.h - a YAML document as a small tree (maps, sequences, scalars),
 * each node with its file, line and column, built with libyaml.
 *
 * Only what scenarios need: one document, no anchors or aliases, no tags;
 * a key repeated in a map is an error.  The typed readers below turn a node
 * into a value or an error message "file:line:col: what".
 */
#ifndef SIM_YTREE_H
#define SIM_YTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ynode_type { Y_SCALAR = 1, Y_SEQ, Y_MAP };

struct ynode;

struct ykv {
	struct ynode *key;          /* a scalar */
	struct ynode *value;
};

struct ynode {
	enum ynode_type type;
	int line;                   /* 1-based */
	int col;                    /* 1-based */
	char *text;                 /* scalar */
	size_t len;                 /* scalar bytes (may hold NULs) */
	bool plain;                 /* scalar written without quotes */
	struct ynode **items;       /* sequence */
	struct ykv *kv;             /* map, in file order */
	uint32_t n;
};

struct ydoc {
	struct ynode *root;         /* NULL for an empty document */
	char *file;
};

/* Loads path (or text when not NULL, named path in messages).  Returns 0
 * or -1 with "file:line:col: what" in err. */
int ydoc_load(struct ydoc *d, const char *path, const char *text, size_t len,
	      char *err, size_t cap);
void ydoc_free(struct ydoc *d);

/* ---- typed reading with positioned errors ---- */
struct yctx {
	const char *file;
	char *err;
	size_t cap;
	bool failed;               /* the first error is kept */
};

/* Records "file:line:col: <message>" (first error wins); returns false. */
bool yfail(struct yctx *x, const struct ynode *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const struct ynode *ymap_get(const struct ynode *map, const char *key);
bool yis_null(const struct ynode *n);
bool yexpect(struct yctx *x, const struct ynode *n, enum ynode_type t,
	     const char *what);

bool yget_str(struct yctx *x, const struct ynode *n, char **out);
bool yget_bool(struct yctx *x, const struct ynode *n, bool *out);
bool yget_int(struct yctx *x, const struct ynode *n, int64_t min, int64_t max,
	      int64_t *out);
/* Durations: "1h2m3.5s", "250ms", "10us", "5ns", "0"; signed when
 * allow_negative. */
bool yget_dur(struct yctx *x, const struct ynode *n, bool allow_negative,
	      int64_t *out_ns);
/* Sizes: 123, 64KiB, 1MiB, 2GiB (powers of 1024), 10KB, 5MB, 1GB (powers
 * of 1000). */
bool yget_size(struct yctx *x, const struct ynode *n, uint64_t *out);
/* Probabilities: 0.25 or "25%"; stored in parts per million. */
bool yget_prob(struct yctx *x, const struct ynode *n, uint32_t *out_ppm);
/* A name or a list of names. */
bool yget_names(struct yctx *x, const struct ynode *n, char ***out,
		uint32_t *count);

/* Checks that every key of map is in allowed (NULL-terminated). */
bool ykeys_allowed(struct yctx *x, const struct ynode *map, const char *what,
		   const char *const *allowed);

#endif
