/*
 * proc.h - a simulated server process: the natsd server library driven
 * exactly as natsd drives it (server_new, server_start, server_shutdown,
 * server_free), on a sim_env instead of the posix env.
 *
 * Lifecycle: start (a new env incarnation, server_new, server_start),
 * clean stop (server_shutdown then server_free; a leak check asserts that
 * no socket, timer or file handle is left), crash (every socket reset
 * first, then the instance is dropped with an env that lets nothing out,
 * then the disk loses what was not synced), restart (same disk), pause and
 * resume (no callbacks run while paused; the network still queues bytes),
 * and wipe (the disk is emptied; a running server is crashed first).
 */
#ifndef SIM_PROC_H
#define SIM_PROC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/opts.h"
#include "core/server.h"
#include "lib/mem.h"
#include "sim_env.h"
#include "world.h"

struct sim_proc {
	struct sim_world *w;
	struct sim_node *node;
	struct opts *opts;           /* the config in effect, owned; the server
				      * borrows it while it runs */
	struct mem opts_mem;         /* counts the allocations of opts */
	struct server *srv;          /* NULL when down */
	int port;                    /* client port: last bound or configured */
	uint32_t starts;
	uint32_t crashes;
	char log_prefix[80];
	sim_log_fn log_fn;           /* where server log lines go */
	void *log_arg;
};

/* Takes opts (allocated from opts_mem, which it also takes). */
void sim_proc_init(struct sim_proc *p, struct sim_world *w,
		   struct sim_node *node, const struct opts *opts,
		   const struct mem *opts_mem);
void sim_proc_free(struct sim_proc *p);
/* Puts new options in effect, as natsd's SIGHUP does: a running server
 * gets them through server_reload; a stopped one starts with them next.
 * Takes o (heap, allocated from p->opts_mem).  0, or -1 with err when the
 * server refused them (then the old ones stay in effect and o is freed). */
int sim_proc_set_opts(struct sim_proc *p, struct opts *o, char *err,
		      size_t cap);

bool sim_proc_running(const struct sim_proc *p);
/* 0, or -1 when it did not start (the reason is traced and in err). */
int sim_proc_start(struct sim_proc *p, char *err, size_t cap);
void sim_proc_stop(struct sim_proc *p);
void sim_proc_crash(struct sim_proc *p);
void sim_proc_pause(struct sim_proc *p);
void sim_proc_resume(struct sim_proc *p);
void sim_proc_wipe(struct sim_proc *p);

#endif
