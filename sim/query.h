/*
 * query.h - running a canned SQL query (the .sql files in trace/queries) on a trace
 * database, with named parameters given as name=value, printing the rows
 * as aligned text.
 */
#ifndef SIM_QUERY_H
#define SIM_QUERY_H

/* Returns 0, or 2 on an error (printed). */
int sim_query(const char *db, const char *sql_file, int nparams,
	      char **params);

#endif
