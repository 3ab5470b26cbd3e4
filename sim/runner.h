/*
 * runner.h - one run of a scenario with one seed: builds the world (hosts,
 * server processes from their configs, clients), schedules the timeline,
 * runs the clock to the scenario's duration, decides every expectation and
 * collects what is needed for the report (the story, the verdicts, the run
 * hash, counts).
 */
#ifndef SIM_RUNNER_H
#define SIM_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include "scenario.h"

struct run_opts {
	uint64_t seed;
	const char *trace_path;      /* SQLite file, or NULL */
	bool verbose;                /* print every server log line */
	const char *draw_path;       /* topology picture at the end, or NULL */
	/* The host's clock in seconds, to report how long the run took (set-up
	 * to trace written, without drawing); NULL = not measured.  Nothing in
	 * the run reads it. */
	double (*wall_clock)(void);
};

struct run_verdict {
	char text[200];
	char detail[256];
	int line;
	bool passed;
	int64_t decided_ns;          /* when it was decided */
};

struct run_result {
	bool passed;                 /* every expectation, no fatal problem */
	char failure[512];           /* fatal problem, "" = none */
	struct run_verdict *verdicts;
	uint32_t nverdicts, npassed;
	int64_t sim_ns;
	double wall_s;               /* host time the run took */
	uint64_t events;             /* dispatched world events */
	uint64_t trace_events;
	char hash[17];
	char *story;                 /* what happened, one line per event */
	char *summary;               /* per-client and per-server counts */
	char *notes;                 /* warnings (steps that never ran...) */
};

/* Returns 0 when the run could be made (pass or fail, see res->passed),
 * -1 on a setup error (message in res->failure). */
int runner_run(const struct scenario *sc, const struct run_opts *o,
	       struct run_result *res);
void run_result_free(struct run_result *res);

#endif
