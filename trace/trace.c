/*
 * trace.c - run hash and SQLite sink for simulator events; see trace.h.
 *
 * The hash is FNV-1a (64 bit) over a fixed little-endian encoding of each
 * event: time, kind, node, peer, conn, value, then subject and text each as
 * a length and bytes (length ~0 for NULL).  It depends on nothing but the
 * event values, so it is the same on every machine.
 *
 * Owns: the database handle and the prepared insert statements.  Invariant:
 * while a database is open, a transaction is open too; it is committed
 * every TRACE_BATCH events and at trace_finish.
 */
#include "trace.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

struct trace {
	uint64_t hash;
	uint64_t count;
	sqlite3 *db;
	sqlite3_stmt *ins_event;
	sqlite3_stmt *ins_node;
	sqlite3_stmt *ins_conn;
	sqlite3_stmt *ins_meta;
	uint32_t in_batch;      /* events inserted in the open transaction */
	bool db_failed;         /* a write failed: stop writing, report once */
	char db_error[256];
	trace_observer_fn observer;
	void *observer_arg;
};

static const char *const kind_names[] = {
#define X(id, name, desc) name,
#include "trace_kinds.def"
#undef X
};

static const char *const kind_descs[] = {
#define X(id, name, desc) desc,
#include "trace_kinds.def"
#undef X
};

const char *trace_kind_name(uint32_t kind)
{
	return kind < TRACE_KIND_COUNT ? kind_names[kind] : "unknown";
}

const char *trace_kind_desc(uint32_t kind)
{
	return kind < TRACE_KIND_COUNT ? kind_descs[kind] : "";
}

int trace_kind_from_name(const char *name)
{
	for (uint32_t i = 0; i < TRACE_KIND_COUNT; i++)
		if (strcmp(kind_names[i], name) == 0)
			return (int)i;
	return -1;
}

struct trace *trace_new(void)
{
	struct trace *t = calloc(1, sizeof(*t));
	if (t == NULL)
		abort();
	t->hash = FNV_OFFSET;
	return t;
}

void trace_set_observer(struct trace *t, trace_observer_fn fn, void *arg)
{
	t->observer = fn;
	t->observer_arg = arg;
}

/* ---------------------------------------------------------------- hash */

static void hash_bytes_into(uint64_t *h, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t x = *h;
	for (size_t i = 0; i < len; i++) {
		x ^= p[i];
		x *= FNV_PRIME;
	}
	*h = x;
}

static void hash_u64(uint64_t *h, uint64_t v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	hash_bytes_into(h, b, sizeof(b));
}

static void hash_str(uint64_t *h, const char *s)
{
	if (s == NULL) {
		hash_u64(h, ~0ULL);
		return;
	}
	size_t n = strlen(s);
	hash_u64(h, n);
	hash_bytes_into(h, s, n);
}

static void trace_hash_event(struct trace *t, const struct trace_event *ev)
{
	hash_u64(&t->hash, (uint64_t)ev->t_ns);
	hash_u64(&t->hash, ev->kind);
	hash_u64(&t->hash, (uint64_t)(int64_t)ev->node);
	hash_u64(&t->hash, (uint64_t)(int64_t)ev->peer);
	hash_u64(&t->hash, (uint64_t)ev->conn);
	hash_u64(&t->hash, (uint64_t)ev->value);
	hash_str(&t->hash, ev->subject);
	hash_str(&t->hash, ev->text);
}

uint64_t trace_hash(const struct trace *t)
{
	return t->hash;
}

uint64_t trace_count(const struct trace *t)
{
	return t->count;
}

void trace_hash_text(const struct trace *t, char out[17])
{
	snprintf(out, 17, "%016llx", (unsigned long long)t->hash);
}

/* -------------------------------------------------------------- sqlite */

static const char schema_sql[] =
	"PRAGMA journal_mode=OFF;"
	"PRAGMA synchronous=OFF;"
	"DROP VIEW IF EXISTS ev;"
	"DROP TABLE IF EXISTS events;"
	"DROP TABLE IF EXISTS conns;"
	"DROP TABLE IF EXISTS nodes;"
	"DROP TABLE IF EXISTS kinds;"
	"DROP TABLE IF EXISTS meta;"
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
	"CREATE TABLE kinds(id INTEGER PRIMARY KEY, name TEXT UNIQUE,"
	" description TEXT);"
	"CREATE TABLE nodes(id INTEGER PRIMARY KEY, name TEXT, role TEXT);"
	"CREATE TABLE conns(id INTEGER PRIMARY KEY, kind TEXT,"
	" from_node INTEGER, to_node INTEGER, from_port INTEGER,"
	" to_port INTEGER, opened_ns INTEGER);"
	"CREATE TABLE events(seq INTEGER PRIMARY KEY, t_ns INTEGER,"
	" kind INTEGER, node INTEGER, peer INTEGER, conn INTEGER,"
	" value INTEGER, subject TEXT, text TEXT);"
	"CREATE VIEW ev AS SELECT e.seq, e.t_ns, k.name AS kind,"
	" n.name AS node, p.name AS peer, e.conn, e.value, e.subject, e.text"
	" FROM events e JOIN kinds k ON k.id = e.kind"
	" LEFT JOIN nodes n ON n.id = e.node"
	" LEFT JOIN nodes p ON p.id = e.peer;";

static void trace_db_fail(struct trace *t, const char *what)
{
	if (t->db_failed)
		return;
	t->db_failed = true;
	snprintf(t->db_error, sizeof(t->db_error), "%s: %s", what,
		 t->db ? sqlite3_errmsg(t->db) : "no database");
}

static int trace_prepare(struct trace *t, const char *sql,
			 sqlite3_stmt **out)
{
	if (sqlite3_prepare_v2(t->db, sql, -1, out, NULL) != SQLITE_OK) {
		trace_db_fail(t, "prepare");
		return -1;
	}
	return 0;
}

static int trace_fill_kinds(struct trace *t)
{
	sqlite3_stmt *st;
	if (trace_prepare(t, "INSERT INTO kinds VALUES(?,?,?)", &st) != 0)
		return -1;
	for (uint32_t i = 0; i < TRACE_KIND_COUNT; i++) {
		sqlite3_bind_int(st, 1, (int)i);
		sqlite3_bind_text(st, 2, kind_names[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, kind_descs[i], -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			trace_db_fail(t, "insert kind");
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return t->db_failed ? -1 : 0;
}

static int trace_exec(struct trace *t, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(t->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(t->db_error, sizeof(t->db_error), "%s",
			 msg ? msg : "sqlite error");
		sqlite3_free(msg);
		t->db_failed = true;
		return -1;
	}
	return 0;
}

int trace_open_db(struct trace *t, const char *path, char *err, size_t cap)
{
	if (sqlite3_open(path, &t->db) != SQLITE_OK) {
		snprintf(err, cap, "%s: %s", path, sqlite3_errmsg(t->db));
		sqlite3_close(t->db);
		t->db = NULL;
		return -1;
	}
	if (trace_exec(t, schema_sql) != 0 || trace_exec(t, "BEGIN") != 0 ||
	    trace_fill_kinds(t) != 0 ||
	    trace_prepare(t, "INSERT INTO events VALUES(?,?,?,?,?,?,?,?,?)",
			  &t->ins_event) != 0 ||
	    trace_prepare(t, "INSERT INTO nodes VALUES(?,?,?)",
			  &t->ins_node) != 0 ||
	    trace_prepare(t, "INSERT INTO conns VALUES(?,?,?,?,?,?,?)",
			  &t->ins_conn) != 0 ||
	    trace_prepare(t, "INSERT OR REPLACE INTO meta VALUES(?,?)",
			  &t->ins_meta) != 0) {
		snprintf(err, cap, "%s: %s", path, t->db_error);
		return -1;
	}
	return 0;
}

static void trace_step(struct trace *t, sqlite3_stmt *st, const char *what)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		trace_db_fail(t, what);
	sqlite3_reset(st);
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

static void bind_node(sqlite3_stmt *st, int i, int node)
{
	if (node < 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int(st, i, node);
}

void trace_node(struct trace *t, int id, const char *name, const char *role)
{
	if (t->db == NULL || t->db_failed)
		return;
	sqlite3_bind_int(t->ins_node, 1, id);
	bind_text_or_null(t->ins_node, 2, name);
	bind_text_or_null(t->ins_node, 3, role);
	trace_step(t, t->ins_node, "insert node");
}

void trace_conn(struct trace *t, int64_t id, const char *kind, int from_node,
		int to_node, int from_port, int to_port, int64_t t_ns)
{
	if (t->db == NULL || t->db_failed)
		return;
	sqlite3_stmt *st = t->ins_conn;
	sqlite3_bind_int64(st, 1, id);
	bind_text_or_null(st, 2, kind);
	bind_node(st, 3, from_node);
	bind_node(st, 4, to_node);
	sqlite3_bind_int(st, 5, from_port);
	sqlite3_bind_int(st, 6, to_port);
	sqlite3_bind_int64(st, 7, t_ns);
	trace_step(t, st, "insert conn");
}

void trace_meta(struct trace *t, const char *key, const char *value)
{
	if (t->db == NULL || t->db_failed)
		return;
	bind_text_or_null(t->ins_meta, 1, key);
	bind_text_or_null(t->ins_meta, 2, value);
	trace_step(t, t->ins_meta, "insert meta");
}

static void trace_insert(struct trace *t, const struct trace_event *ev)
{
	sqlite3_stmt *st = t->ins_event;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)t->count);
	sqlite3_bind_int64(st, 2, ev->t_ns);
	sqlite3_bind_int(st, 3, (int)ev->kind);
	bind_node(st, 4, ev->node);
	bind_node(st, 5, ev->peer);
	sqlite3_bind_int64(st, 6, ev->conn);
	sqlite3_bind_int64(st, 7, ev->value);
	bind_text_or_null(st, 8, ev->subject);
	bind_text_or_null(st, 9, ev->text);
	trace_step(t, st, "insert event");
	if (++t->in_batch >= TRACE_BATCH) {
		t->in_batch = 0;
		trace_exec(t, "COMMIT; BEGIN");
	}
}

void trace_emit(struct trace *t, const struct trace_event *ev)
{
	t->count++;
	trace_hash_event(t, ev);
	if (t->db != NULL && !t->db_failed)
		trace_insert(t, ev);
	if (t->observer != NULL)
		t->observer(t->observer_arg, ev);
}

static void trace_close_db(struct trace *t)
{
	sqlite3_finalize(t->ins_event);
	sqlite3_finalize(t->ins_node);
	sqlite3_finalize(t->ins_conn);
	sqlite3_finalize(t->ins_meta);
	t->ins_event = t->ins_node = t->ins_conn = t->ins_meta = NULL;
	sqlite3_close(t->db);
	t->db = NULL;
}

int trace_finish(struct trace *t, char *err, size_t cap)
{
	if (t->db == NULL)
		return 0;
	char hash[17], count[32];
	trace_hash_text(t, hash);
	snprintf(count, sizeof(count), "%llu", (unsigned long long)t->count);
	trace_meta(t, "hash", hash);
	trace_meta(t, "events", count);
	if (!t->db_failed) {
		trace_exec(t, "COMMIT");
		trace_exec(t, "CREATE INDEX events_kind ON events(kind);"
			      "CREATE INDEX events_text ON events(text);"
			      "CREATE INDEX events_conn ON events(conn)");
	}
	int rc = 0;
	if (t->db_failed) {
		snprintf(err, cap, "trace database: %s", t->db_error);
		rc = -1;
	}
	trace_close_db(t);
	return rc;
}

void trace_free(struct trace *t)
{
	if (t == NULL)
		return;
	if (t->db != NULL)
		trace_close_db(t);
	free(t);
}
