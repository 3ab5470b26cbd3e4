/*
 * trace_diff.c - the first divergence between two recorded runs.
 *
 * Walks the events of both databases in sequence order (through the ev
 * view, so names rather than ids are compared and shown) and stops at the
 * first row that differs in any field.  A few rows of common history are
 * kept in a small ring so the divergence is shown in context.
 */
#include "trace.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#define DIFF_CONTEXT 5
#define ROW_TEXT 480

static const char diff_sql[] =
	"SELECT seq, t_ns, kind, IFNULL(node,'-'), IFNULL(peer,'-'), conn,"
	" value, IFNULL(subject,''), IFNULL(text,'') FROM ev ORDER BY seq";

static int diff_open(const char *path, sqlite3 **db, sqlite3_stmt **st,
		     char *err, size_t cap)
{
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(*db, diff_sql, -1, st, NULL) != SQLITE_OK) {
		snprintf(err, cap, "%s: %s", path, sqlite3_errmsg(*db));
		return -1;
	}
	return 0;
}

/* One row as text without its sequence number (compared) and with it
 * (shown). */
static void diff_row_text(sqlite3_stmt *st, char *out, size_t cap)
{
	int64_t t = sqlite3_column_int64(st, 1);
	snprintf(out, cap, "t=%lld.%09llds %s node=%s peer=%s conn=%lld "
		 "value=%lld subject=%s text=%.160s",
		 (long long)(t / 1000000000), (long long)(t % 1000000000),
		 (const char *)sqlite3_column_text(st, 2),
		 (const char *)sqlite3_column_text(st, 3),
		 (const char *)sqlite3_column_text(st, 4),
		 (long long)sqlite3_column_int64(st, 5),
		 (long long)sqlite3_column_int64(st, 6),
		 (const char *)sqlite3_column_text(st, 7),
		 (const char *)sqlite3_column_text(st, 8));
}

static void diff_emit(const struct trace_diff_out *out, const char *mark,
		      const char *row, long long seq)
{
	char line[ROW_TEXT + 64];
	snprintf(line, sizeof(line), "%s #%lld   %s", mark, seq, row);
	out->line(out->arg, line);
}

struct diff_state {
	char ring[DIFF_CONTEXT][ROW_TEXT];
	long long ring_seq[DIFF_CONTEXT];
	int ring_len, ring_pos;
};

static void diff_report(const struct trace_diff_out *out,
			struct diff_state *ds, long long seq,
			const char *ra, const char *rb)
{
	char line[128];
	snprintf(line, sizeof(line), "first divergence at event #%lld", seq);
	out->line(out->arg, line);
	for (int i = 0; i < ds->ring_len; i++) {
		int k = (ds->ring_pos - ds->ring_len + i + DIFF_CONTEXT) %
			DIFF_CONTEXT;
		diff_emit(out, " ", ds->ring[k], ds->ring_seq[k]);
	}
	diff_emit(out, "-", ra ? ra : "(end of run)", seq);
	diff_emit(out, "+", rb ? rb : "(end of run)", seq);
}

static int diff_walk(sqlite3_stmt *sa, sqlite3_stmt *sb,
		     const struct trace_diff_out *out)
{
	struct diff_state ds = { .ring_len = 0 };
	char ra[ROW_TEXT], rb[ROW_TEXT];
	for (long long seq = 0;; seq++) {
		int a = sqlite3_step(sa), b = sqlite3_step(sb);
		if (a != SQLITE_ROW && b != SQLITE_ROW)
			break;
		if (a == SQLITE_ROW)
			diff_row_text(sa, ra, sizeof(ra));
		if (b == SQLITE_ROW)
			diff_row_text(sb, rb, sizeof(rb));
		if (a != SQLITE_ROW || b != SQLITE_ROW || strcmp(ra, rb) != 0) {
			diff_report(out, &ds, seq, a == SQLITE_ROW ? ra : NULL,
				    b == SQLITE_ROW ? rb : NULL);
			return 1;
		}
		memcpy(ds.ring[ds.ring_pos], ra, sizeof(ra));
		ds.ring_seq[ds.ring_pos] = seq;
		ds.ring_pos = (ds.ring_pos + 1) % DIFF_CONTEXT;
		if (ds.ring_len < DIFF_CONTEXT)
			ds.ring_len++;
	}
	out->line(out->arg, "identical event streams");
	return 0;
}

int trace_diff(const char *a, const char *b, const struct trace_diff_out *out,
	       char *err, size_t cap)
{
	sqlite3 *da = NULL, *db = NULL;
	sqlite3_stmt *sa = NULL, *sb = NULL;
	int rc = -1;
	if (diff_open(a, &da, &sa, err, cap) == 0 &&
	    diff_open(b, &db, &sb, err, cap) == 0)
		rc = diff_walk(sa, sb, out);
	sqlite3_finalize(sa);
	sqlite3_finalize(sb);
	sqlite3_close(da);
	sqlite3_close(db);
	return rc;
}
