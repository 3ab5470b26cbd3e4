/*
 * proc.c - simulated server processes; see proc.h.
 *
 * Owns the server instance and its env incarnation.  The node's turn-end
 * function runs the env's end-of-turn hooks (the server's flush) and then
 * server_invariants, so the server's invariants are checked after every
 * step of the simulation that ran server code.
 */
#include "proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "lib/assert.h"
#include "lib/buf.h"
#include "net.h"

static void proc_turn_end(struct sim_node *n)
{
	struct sim_proc *p = n->owner;
	if (p->srv == NULL || n->env == NULL)
		return;
	sim_env_turn_end(n->env);
	server_invariants(p->srv);
}

void sim_proc_init(struct sim_proc *p, struct sim_world *w,
		   struct sim_node *node, const struct opts *opts,
		   const struct mem *opts_mem)
{
	memset(p, 0, sizeof(*p));
	p->w = w;
	p->node = node;
	p->opts = sim_xcalloc(1, sizeof(*p->opts));
	*p->opts = *opts;
	p->opts_mem = *opts_mem;
	p->port = opts->port > 0 ? opts->port : (opts->port == 0 ? 4222 : -1);
	snprintf(p->log_prefix, sizeof(p->log_prefix), "[%s] ", node->name);
	node->owner = p;
	node->turn_end = proc_turn_end;
}

void sim_proc_free(struct sim_proc *p)
{
	if (p->srv != NULL)
		sim_proc_crash(p);
	opts_free(p->opts, &p->opts_mem);
	free(p->opts);
	p->opts = NULL;
}

static void proc_opts_drop(struct sim_proc *p, struct opts *o)
{
	opts_free(o, &p->opts_mem);
	free(o);
}

int sim_proc_set_opts(struct sim_proc *p, struct opts *o, char *err,
		      size_t cap)
{
	if (p->srv != NULL) {
		struct mem m;
		mem_init(&m);
		struct buf e;
		buf_init(&e, &m);
		int rc = server_reload(p->srv, o, &e);
		if (rc != 0) {
			snprintf(err, cap, "%s", e.data ? e.data : "reload failed");
			buf_free(&e);
			proc_opts_drop(p, o);
			return -1;
		}
		buf_free(&e);
		/* Flush what the reload queued (closed connections, errors). */
		sim_node_turn_end(p->node);
	}
	/* Only now does nothing point to the old options any more. */
	proc_opts_drop(p, p->opts);
	p->opts = o;
	return 0;
}

bool sim_proc_running(const struct sim_proc *p)
{
	return p->srv != NULL;
}

static void proc_down(struct sim_proc *p)
{
	sim_env_free(p->node->env);
	p->node->env = NULL;
	p->node->paused = false;
	sim_node_new_gen(p->w, p->node);
}

int sim_proc_start(struct sim_proc *p, char *err, size_t cap)
{
	if (p->srv != NULL) {
		snprintf(err, cap, "%s is already running", p->node->name);
		return -1;
	}
	struct sim_node *n = p->node;
	sim_node_new_gen(p->w, n);
	n->env = sim_env_new(p->w, n);
	sim_env_set_log(n->env, p->log_fn, p->log_arg);
	struct server_config cfg = {
		.env = sim_env_env(n->env), .opts = p->opts,
		.log_prefix = p->log_prefix, .exe_name = "natsd", .seed = 0,
	};
	struct mem m;
	mem_init(&m);
	struct buf e;
	buf_init(&e, &m);
	int rc = server_new(&p->srv, &cfg, &e);
	if (rc == 0 && (rc = server_start(p->srv, &e)) != 0) {
		server_free(p->srv);
	}
	if (rc != 0) {
		p->srv = NULL;
		snprintf(err, cap, "%s", e.data ? e.data : "start failed");
		sim_emit(p->w, TRACE_PROC_FAIL, n->id, -1, 0, 0, NULL, err);
		buf_free(&e);
		proc_down(p);
		return -1;
	}
	buf_free(&e);
	p->starts++;
	p->port = server_client_port(p->srv);
	sim_emit(p->w, TRACE_PROC_START, n->id, -1, 0, p->port, NULL, NULL);
	sim_node_turn_end(n);
	return 0;
}

void sim_proc_stop(struct sim_proc *p)
{
	if (p->srv == NULL)
		return;
	struct sim_node *n = p->node;
	n->paused = false;
	server_shutdown(p->srv);
	server_free(p->srv);
	p->srv = NULL;
	uint32_t socks, timers, files;
	sim_env_open_counts(n->env, &socks, &timers, &files);
	if (socks + timers + files > 0)
		sim_fail(p->w, "%s: after server_free %u sockets, %u timers "
			 "and %u files were still open", n->name, socks,
			 timers, files);
	proc_down(p);
	sim_emit(p->w, TRACE_PROC_STOP, n->id, -1, 0, 0, NULL, NULL);
}

static void proc_lost(void *arg, const char *path, uint64_t bytes)
{
	struct sim_proc *p = arg;
	sim_emit(p->w, TRACE_DISK_LOST, p->node->id, -1, 0, (int64_t)bytes,
		 NULL, path);
}

void sim_proc_crash(struct sim_proc *p)
{
	if (p->srv == NULL)
		return;
	struct sim_node *n = p->node;
	n->paused = false;
	sim_emit(p->w, TRACE_PROC_CRASH, n->id, -1, 0, 0, NULL, NULL);
	/* Reset every socket before the instance goes, so that tearing it
	 * down cannot send a byte. */
	sim_env_kill(n->env);
	server_free(p->srv);
	p->srv = NULL;
	proc_down(p);
	if (n->disk != NULL)
		sim_disk_crash(n->disk, proc_lost, p);
	p->crashes++;
}

void sim_proc_pause(struct sim_proc *p)
{
	if (p->srv == NULL || p->node->paused)
		return;
	sim_node_pause(p->w, p->node);
	sim_emit(p->w, TRACE_PROC_PAUSE, p->node->id, -1, 0, 0, NULL, NULL);
}

void sim_proc_resume(struct sim_proc *p)
{
	if (!p->node->paused)
		return;
	uint32_t n = sim_node_resume(p->w, p->node);
	sim_emit(p->w, TRACE_PROC_RESUME, p->node->id, -1, 0, n, NULL, NULL);
}

void sim_proc_wipe(struct sim_proc *p)
{
	sim_proc_crash(p);
	uint32_t n = p->node->disk ? sim_disk_wipe(p->node->disk) : 0;
	sim_emit(p->w, TRACE_PROC_WIPE, p->node->id, -1, 0, n, NULL, NULL);
}
