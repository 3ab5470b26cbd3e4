/*
 * checker.h - evaluating scenario conditions against a running world.
 *
 * Conditions read only what the simulated clients and the server API
 * expose (client statistics, per-publisher bitmaps, server_get_stats), so
 * checking needs no record of the messages themselves.  Each evaluation
 * also explains what it saw ("got 198 of 200"), for the report.
 */
#ifndef SIM_CHECK_H
#define SIM_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "client.h"
#include "proc.h"
#include "scenario.h"

struct check_ctx {
	const struct scenario *sc;
	struct sim_client **clients;   /* by scenario client index */
	struct sim_proc *procs;        /* by scenario server index */
};

bool check_cond(const struct check_ctx *x, const struct sc_cond *c,
		char *detail, size_t cap);

/* Looks a dotted path ("a.b[2].c") up in a JSON text; returns true and
 * the value's text (strings unescaped, other values as written) when it
 * exists. */
bool check_json_field(const char *json, size_t len, const char *path,
		      char *value, size_t cap);

#endif
