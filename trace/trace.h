/*
 * trace.h - the simulator's event record: kinds, the run hash and the
 * SQLite sink.
 *
 * Every observable event of a run goes through trace_emit in the order the
 * simulator produces it.  The run hash is computed over a canonical byte
 * encoding of that stream (whether or not a database is open), so two runs
 * with the same hash produced the same events, field for field.  With a
 * database open, events are inserted with one prepared statement inside
 * transactions of TRACE_BATCH rows, so tracing costs little.
 *
 * Schema (see docs/traces.md): meta(key, value), kinds(id, name,
 * description), nodes(id, name, role), conns(id, kind, from_node, to_node,
 * from_port, to_port, opened_ns), events(seq, t_ns, kind, node, peer, conn,
 * value, subject, text) and the view ev that shows names instead of ids.
 */
#ifndef TRACE_TRACE_H
#define TRACE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum trace_kind {
#define X(id, name, desc) TRACE_##id,
#include "trace_kinds.def"
#undef X
	TRACE_KIND_COUNT
};

#define TRACE_BATCH 8192

struct trace_event {
	int64_t t_ns;          /* simulated time */
	uint32_t kind;         /* enum trace_kind */
	int32_t node;          /* node id, -1 = none */
	int32_t peer;          /* node id, -1 = none */
	int64_t conn;          /* connection id, 0 = none */
	int64_t value;
	const char *subject;   /* NUL-terminated or NULL; borrowed */
	const char *text;      /* NUL-terminated or NULL; borrowed */
};

/* Called for every event after it is hashed (e.g. the run report). */
typedef void (*trace_observer_fn)(void *arg, const struct trace_event *ev);

struct trace;

const char *trace_kind_name(uint32_t kind);
const char *trace_kind_desc(uint32_t kind);
/* -1 when unknown. */
int trace_kind_from_name(const char *name);

struct trace *trace_new(void);
/* Opens (replacing) a SQLite database and creates the schema.  Returns 0
 * or -1 with a message in err. */
int trace_open_db(struct trace *t, const char *path, char *err, size_t cap);
void trace_set_observer(struct trace *t, trace_observer_fn fn, void *arg);

void trace_node(struct trace *t, int id, const char *name, const char *role);
void trace_conn(struct trace *t, int64_t id, const char *kind, int from_node,
		int to_node, int from_port, int to_port, int64_t t_ns);
void trace_meta(struct trace *t, const char *key, const char *value);
void trace_emit(struct trace *t, const struct trace_event *ev);

uint64_t trace_hash(const struct trace *t);
uint64_t trace_count(const struct trace *t);
/* Writes "%016llx" of the hash into out (17 bytes). */
void trace_hash_text(const struct trace *t, char out[17]);

/* Commits and closes the database (if any).  Returns 0 or -1 with err. */
int trace_finish(struct trace *t, char *err, size_t cap);
void trace_free(struct trace *t);

/* Prints the first divergence between the events of two trace databases
 * to out, with a few events of common context.  Returns 0 when they are
 * identical, 1 when they differ, -1 on error (message in err). */
struct trace_diff_out {
	void (*line)(void *arg, const char *text);
	void *arg;
};
int trace_diff(const char *a, const char *b, const struct trace_diff_out *out,
	       char *err, size_t cap);

#endif
