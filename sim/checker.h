/*
 * checker.h - evaluating scenario conditions against a running world.
 *
 * Conditions read only what the simulated clients and the server API
 * expose (client statistics, per-publisher bitmaps, server_get_stats, the
 * servers' log lines), so checking needs no record of the messages
 * themselves.  "Acknowledged means stored" compares what JetStream
 * publishers were told (PubAck sequences per identity counter) with what a
 * verify step read back from the stream.  Each evaluation
 * also explains what it saw ("got 198 of 200"), for the report.
 */
#ifndef SIM_CHECK_H
#define SIM_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "proc.h"
#include "scenario.h"

/* Log lines of server `server` (scenario index) containing text. */
typedef uint64_t (*check_log_count_fn)(void *arg, int server,
				       const char *text);

struct check_ctx {
	const struct scenario *sc;
	struct sim_client **clients;   /* by scenario client index */
	struct sim_proc *procs;        /* by scenario server index */
	check_log_count_fn log_count;  /* NULL: no log kept */
	void *log_arg;
};

bool check_cond(const struct check_ctx *x, const struct sc_cond *c,
		char *detail, size_t cap);

/* Looks a dotted path ("a.b[2].c") up in a JSON text; returns true and
 * the value's text (strings unescaped, other values as written) when it
 * exists. */
bool check_json_field(const char *json, size_t len, const char *path,
		      char *value, size_t cap);

#endif
