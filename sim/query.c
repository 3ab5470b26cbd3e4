/*
 * query.c - canned trace queries; see query.h.  A parameter name=value
 * binds :name in the SQL; the value is bound as text, or as an integer
 * when it is all digits.
 */
#include "query.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_sql(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	char *s = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
	if (s != NULL && n > 0 && fread(s, 1, (size_t)n, fp) != (size_t)n) {
		free(s);
		s = NULL;
	}
	fclose(fp);
	return s;
}

static int bind_params(sqlite3_stmt *st, int nparams, char **params)
{
	for (int i = 0; i < nparams; i++) {
		char name[128];
		const char *eq = strchr(params[i], '=');
		if (eq == NULL || eq == params[i]) {
			fprintf(stderr, "sim: parameter '%s' is not name=value\n",
				params[i]);
			return -1;
		}
		snprintf(name, sizeof(name), ":%.*s", (int)(eq - params[i]),
			 params[i]);
		int idx = sqlite3_bind_parameter_index(st, name);
		if (idx == 0) {
			fprintf(stderr, "sim: the query has no parameter %s\n",
				name);
			return -1;
		}
		const char *v = eq + 1;
		bool digits = *v != '\0' && strspn(v, "0123456789") == strlen(v);
		if (digits)
			sqlite3_bind_int64(st, idx, strtoll(v, NULL, 10));
		else
			sqlite3_bind_text(st, idx, v, -1, SQLITE_TRANSIENT);
	}
	return 0;
}

static void print_rows(sqlite3_stmt *st)
{
	int cols = sqlite3_column_count(st);
	for (int c = 0; c < cols; c++)
		printf("%s%s", c ? "\t" : "", sqlite3_column_name(st, c));
	printf("\n");
	unsigned long rows = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int c = 0; c < cols; c++) {
			const unsigned char *v = sqlite3_column_text(st, c);
			printf("%s%s", c ? "\t" : "", v ? (const char *)v : "");
		}
		printf("\n");
		rows++;
	}
	printf("(%lu rows)\n", rows);
}

int sim_query(const char *db, const char *sql_file, int nparams,
	      char **params)
{
	char *sql = read_sql(sql_file);
	if (sql == NULL) {
		fprintf(stderr, "sim: cannot read %s\n", sql_file);
		return 2;
	}
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int rc = 2;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "sim: %s: %s\n", db, sqlite3_errmsg(h));
	} else if (bind_params(st, nparams, params) == 0) {
		print_rows(st);
		rc = 0;
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	free(sql);
	return rc;
}
