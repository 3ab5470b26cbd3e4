/*
 * conf.h - the nats-server configuration file format: lexer and parser into
 * a tree of values.  See shared reference config-format.md.
 *
 * Input reaches the parser only through struct conf_io (reading a file,
 * looking up an environment variable), so natsd, the simulator and the fuzz
 * harness can each supply their own.  Every node remembers the file and line
 * it came from, so option errors can name file, line and key.
 */
#ifndef CORE_CONF_H
#define CORE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "../lib/mem.h"

enum conf_type {
	CONF_MAP = 1,
	CONF_ARRAY,
	CONF_STRING,
	CONF_INT,
	CONF_FLOAT,
	CONF_BOOL,
	CONF_DATETIME,   /* kept as its text in str */
};

struct conf_node;

struct conf_kv {
	char *key;               /* as written (case kept) */
	struct conf_node *value;
};

struct conf_node {
	enum conf_type type;
	const char *file;        /* borrowed from the parse's file table */
	int line;                /* 1-based */
	int col;                 /* 1-based */
	bool quoted;             /* STRING came from quotes (durations care) */
	bool has_suffix;         /* INT had a size suffix (e.g. 2m) */
	char *raw;               /* INT/FLOAT/BOOL: the text as written */
	bool used_as_var;        /* referenced as $NAME later: such keys are
				  * not "unknown field" errors (reference rule) */
	union {
		int64_t i;
		double f;
		bool b;
		struct {
			char *s;          /* NUL-terminated */
			size_t len;
		} str;
		struct {
			struct conf_node **items;
			size_t n;
		} arr;
		struct {
			struct conf_kv *kv;   /* in file order; later duplicates kept,
					       * conf_map_get returns the last */
			size_t n;
		} map;
	} u;
};

struct conf_io {
	/* Read a whole file; *data is allocated from mem (caller frees).
	 * Returns 0 or a negative env_err. */
	int (*read_file)(void *arg, struct mem *mem, const char *path,
			 char **data, size_t *len);
	/* Environment lookup; NULL when unset. */
	const char *(*get_env)(void *arg, const char *name);
	void *arg;
};

struct conf_doc {
	struct conf_node *root;  /* a CONF_MAP */
	struct mem *mem;
	char **files;            /* file name table (owned) */
	size_t nfiles;
};

/* Parse path (and its includes, resolved relative to the including file).
 * Returns 0 or -1 with a message "file:line:col: what" in err. */
int conf_parse_file(struct conf_doc *doc, struct mem *mem,
		    const struct conf_io *io, const char *path, struct buf *err);
/* Parse text given directly; name is used in messages and for resolving
 * relative includes (its directory). */
int conf_parse_text(struct conf_doc *doc, struct mem *mem,
		    const struct conf_io *io, const char *name,
		    const char *text, size_t len, struct buf *err);
void conf_doc_free(struct conf_doc *doc);

/* Lookup by key, case-insensitive (the server's rule); last one wins. */
const struct conf_node *conf_map_get(const struct conf_node *map,
				     const char *key);

#endif
