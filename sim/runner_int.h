/*
 * runner_int.h - the state of one run, shared by runner.c (set-up,
 * expectations, the loop), runner_steps.c (timeline actions) and
 * runner_report.c (story, summary, picture).
 */
#ifndef SIM_RUNNER_INT_H
#define SIM_RUNNER_INT_H

#include "client.h"
#include "lib/buf.h"
#include "lib/mem.h"
#include "net.h"
#include "proc.h"
#include "runner.h"
#include "scenario.h"
#include "world.h"

enum ex_status { EX_PENDING = 0, EX_PASS, EX_FAIL };

struct ex_state {
	const struct sc_expect *e;
	bool step_level;             /* belongs to step `step` */
	uint32_t step;
	bool active;                 /* its clock started */
	bool watching;               /* "within": checked after every event */
	enum ex_status state;
	struct sim_event *timer;     /* deadline or "at" */
	int64_t decided_ns;
	char detail[256];
};

struct step_state {
	bool waiting;                /* "after": condition not seen yet */
	bool ran;
	bool failed;                 /* it could not do its action (a
				      * refused reload...): the run fails */
	char error[200];
};

/* The config files replaced on a server's machine so far, in the order
 * of the reload steps (shallow copies of the steps' entries). */
struct runner_files {
	struct sc_file_subst *v;
	uint32_t n;
};

/* A server's log lines, kept for `log` conditions: each line ends in
 * '\n'; beyond LOG_KEEP_BYTES the later lines are only counted. */
struct runner_log {
	char *text;
	size_t len, cap;
	uint64_t dropped;
};

struct runner {
	const struct scenario *sc;
	bool verbose;
	struct trace *trace;
	struct sim_world *w;
	struct sim_net *net;
	struct sim_proc *procs;      /* by scenario server index */
	uint32_t nprocs;
	struct sim_client **clients; /* by scenario client index */
	struct runner_log *logs;     /* by scenario server index */
	struct runner_files *files;  /* by scenario server index */
	struct ex_state *ex;
	uint32_t nex;
	uint32_t nwatching;
	struct step_state *steps;
	uint32_t nwaiting;
	struct mem story_mem;
	struct buf story;
	uint32_t story_lines;
	uint32_t story_dropped;
};

void runner_do_step(struct runner *r, uint32_t step);
void runner_step_expects_activate(struct runner *r, uint32_t step);

void runner_story_observe(void *arg, const struct trace_event *ev);
char *runner_story_take(struct runner *r);
void runner_story_free(struct runner *r);
char *runner_summary(struct runner *r);
char *runner_notes(struct runner *r);
void runner_draw(struct runner *r, const char *path);

#endif
