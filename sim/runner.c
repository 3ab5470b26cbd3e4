/*
 * runner.c - one run of a scenario; see runner.h.
 *
 * Owns the world of the run and everything in it.  Timeline steps at a
 * fixed time are world events; steps "after" a condition and "eventually"
 * expectations are re-evaluated after every dispatched event (conditions
 * are cheap counters, see checker.c), so they fire at the first instant the
 * condition holds.  Steps that call into a node end that node's turn, as
 * if the action had been one of its own events.
 */
#define _GNU_SOURCE             /* memmem */
#include "runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checker.h"
#include "client.h"
#include "disk.h"
#include "lib/assert.h"
#include "net.h"
#include "proc.h"
#include "runner_int.h"
#include "sim_env.h"
#include "viz.h"

/* -------------------------------------------------------------- helpers */

static int resolve_server(void *arg, const char *server, char *host,
			  size_t cap, int *port)
{
	struct runner *r = arg;
	int i = scenario_find_server(r->sc, server);
	if (i >= 0) {
		snprintf(host, cap, "%s", r->sc->servers[i].host);
		*port = r->procs[i].port;
		return *port > 0 ? 0 : -1;
	}
	const char *p = strstr(server, "://");
	p = p ? p + 3 : server;
	const char *colon = strrchr(p, ':');
	if (colon == NULL)
		return -1;
	snprintf(host, cap, "%.*s", (int)(colon - p), p);
	*port = atoi(colon + 1);
	return *port > 0 ? 0 : -1;
}

#define LOG_KEEP_BYTES (8u << 20)

static uint64_t runner_log_count(void *arg, int server, const char *text)
{
	struct runner *r = arg;
	if (server < 0 || (uint32_t)server >= r->nprocs)
		return 0;
	const struct runner_log *l = &r->logs[server];
	uint64_t n = 0;
	for (size_t off = 0; off < l->len;) {
		const char *line = l->text + off;
		const char *end = memchr(line, '\n', l->len - off);
		size_t len = (size_t)(end - line);
		if (memmem(line, len, text, strlen(text)) != NULL)
			n++;
		off += len + 1;
	}
	return n;
}

static struct check_ctx runner_check_ctx(struct runner *r)
{
	struct check_ctx x = { r->sc, r->clients, r->procs, runner_log_count,
			       r };
	return x;
}

/* ------------------------------------------------------- expectations */

static void ex_decide(struct runner *r, struct ex_state *e, bool passed,
		      const char *detail)
{
	e->state = passed ? EX_PASS : EX_FAIL;
	e->decided_ns = sim_now(r->w);
	snprintf(e->detail, sizeof(e->detail), "%s", detail);
	char text[480];
	snprintf(text, sizeof(text), "%s: %s", e->e->cond.text, detail);
	sim_emit(r->w, passed ? TRACE_EXPECT_PASS : TRACE_EXPECT_FAIL, -1, -1,
		 0, e->e->line, NULL, text);
	if (e->watching) {
		e->watching = false;
		r->nwatching--;
	}
	sim_cancel(r->w, e->timer);
	e->timer = NULL;
}

static bool ex_eval(struct runner *r, struct ex_state *e, char *detail,
		    size_t cap)
{
	struct check_ctx x = runner_check_ctx(r);
	return check_cond(&x, &e->e->cond, detail, cap);
}

static void ex_deadline(struct sim_world *w, struct sim_event *ev)
{
	struct runner *r = w->after_step_arg;
	struct ex_state *e = ev->p;
	e->timer = NULL;
	if (e->state != EX_PENDING)
		return;
	char detail[256];
	bool ok = ex_eval(r, e, detail, sizeof(detail));
	if (e->e->within_ns >= 0 && !ok) {
		char more[300];
		snprintf(more, sizeof(more), "not within %lld ms: %s",
			 (long long)(e->e->within_ns / 1000000), detail);
		ex_decide(r, e, false, more);
		return;
	}
	ex_decide(r, e, ok, detail);
}

/* Starts an expectation's clock (at 0 for top-level ones, when its step
 * runs for the others). */
static void ex_activate(struct runner *r, struct ex_state *e)
{
	int64_t now = sim_now(r->w);
	e->active = true;
	if (e->e->within_ns >= 0) {
		e->watching = true;
		r->nwatching++;
		e->timer = sim_at(r->w, now + e->e->within_ns, ex_deadline, NULL,
				  e, 0);
		return;
	}
	if (e->e->at_ns >= 0) {
		int64_t at = e->step_level ? now + e->e->at_ns : e->e->at_ns;
		e->timer = sim_at(r->w, at, ex_deadline, NULL, e, 0);
		return;
	}
	if (e->step_level) {
		char detail[256];
		ex_decide(r, e, ex_eval(r, e, detail, sizeof(detail)), detail);
	}
}

static void ex_watch(struct runner *r)
{
	char detail[256];
	for (uint32_t i = 0; i < r->nex && r->nwatching > 0; i++) {
		struct ex_state *e = &r->ex[i];
		if (e->watching && ex_eval(r, e, detail, sizeof(detail)))
			ex_decide(r, e, true, detail);
	}
}

static void ex_finish(struct runner *r)
{
	char detail[256];
	for (uint32_t i = 0; i < r->nex; i++) {
		struct ex_state *e = &r->ex[i];
		if (e->state != EX_PENDING)
			continue;
		if (!e->active) {
			ex_decide(r, e, false, "its step never ran");
			continue;
		}
		bool ok = ex_eval(r, e, detail, sizeof(detail));
		if (e->e->within_ns >= 0 || e->e->at_ns >= 0) {
			char more[300];
			snprintf(more, sizeof(more), "the run ended first: %s",
				 detail);
			ex_decide(r, e, false, more);
		} else {
			ex_decide(r, e, ok, detail);
		}
	}
}

/* -------------------------------------------------------------- steps */

static void step_fired(struct sim_world *w, struct sim_event *ev)
{
	struct runner *r = w->after_step_arg;
	runner_do_step(r, (uint32_t)ev->a);
}

static void steps_watch(struct runner *r)
{
	char detail[256];
	struct check_ctx x = runner_check_ctx(r);
	for (uint32_t i = 0; i < r->sc->nsteps && r->nwaiting > 0; i++) {
		struct step_state *s = &r->steps[i];
		if (!s->waiting)
			continue;
		if (!check_cond(&x, r->sc->steps[i].after, detail,
				sizeof(detail)))
			continue;
		s->waiting = false;
		r->nwaiting--;
		sim_at(r->w, sim_now(r->w) + r->sc->steps[i].delay_ns,
		       step_fired, NULL, NULL, i);
	}
}

static void runner_after_step(void *arg)
{
	struct runner *r = arg;
	if (r->nwatching > 0)
		ex_watch(r);
	if (r->nwaiting > 0)
		steps_watch(r);
}

void runner_step_expects_activate(struct runner *r, uint32_t step)
{
	for (uint32_t i = 0; i < r->nex; i++)
		if (r->ex[i].step_level && r->ex[i].step == step)
			ex_activate(r, &r->ex[i]);
}

/* ------------------------------------------------------------- set-up */

static void runner_log(void *arg, struct sim_node *node, char level,
		       const char *line, size_t len)
{
	struct runner *r = arg;
	char text[1024];
	snprintf(text, sizeof(text), "%.*s", (int)MIN(len, sizeof(text) - 1),
		 line);
	sim_emit(r->w, TRACE_LOG, node->id, -1, 0, level, NULL, text);
	int i = scenario_find_server(r->sc, node->name);
	size_t n = strlen(text);
	if (i >= 0) {
		struct runner_log *l = &r->logs[i];
		if (l->len + n + 1 > LOG_KEEP_BYTES) {
			l->dropped++;
		} else {
			if (l->len + n + 1 > l->cap) {
				l->cap = MAX(l->cap * 2, l->len + n + 1024);
				l->text = sim_xrealloc(l->text, l->cap);
			}
			for (size_t k = 0; k < n; k++)   /* one line each */
				l->text[l->len + k] = text[k] == '\n' ? ' '
								      : text[k];
			l->len += n;
			l->text[l->len++] = '\n';
		}
	}
	if (r->verbose)
		fprintf(stderr, "%12.6fs %s\n",
			(double)sim_now(r->w) / 1e9, text);
}

static int runner_add_server(struct runner *r, uint32_t i, char *err,
			     size_t cap)
{
	const struct sc_server *s = &r->sc->servers[i];
	struct sim_node *n = sim_node_add(r->w, s->name, SIM_ROLE_SERVER);
	n->host = sim_net_host(r->net, s->host);
	if (n->host->primary == NULL)
		n->host->primary = n;
	for (uint32_t a = 0; a < s->naliases; a++)
		sim_net_add_alias(r->net, n->host, s->aliases[a]);
	n->disk = sim_disk_new(&r->w->rng_disk);
	n->disk->faults = s->disk;
	n->wall_base_ns = SIM_EPOCH_NS + s->clock_offset_ns;
	n->drift_ppm = s->drift_ppm;
	struct mem m;
	mem_init(&m);
	struct opts o;
	if (scenario_server_opts(r->sc, i, &o, &m, err, cap) != 0) {
		opts_free(&o, &m);
		return -1;
	}
	sim_proc_init(&r->procs[i], r->w, n, &o, &m);
	r->procs[i].log_fn = runner_log;
	r->procs[i].log_arg = r;
	return 0;
}

static void runner_add_client(struct runner *r, uint32_t i)
{
	const struct sc_client *c = &r->sc->clients[i];
	struct sim_node *n = sim_node_add(r->w, c->cfg.name, SIM_ROLE_CLIENT);
	n->host = sim_net_host(r->net, c->cfg.name);
	r->clients[i] = sim_client_new(r->w, n, &c->cfg, resolve_server, r);
}

static void runner_flatten_expects(struct runner *r)
{
	const struct scenario *sc = r->sc;
	uint32_t n = sc->nexpects;
	for (uint32_t i = 0; i < sc->nsteps; i++)
		n += sc->steps[i].nexpects;
	r->ex = sim_xcalloc(n ? n : 1, sizeof(*r->ex));
	for (uint32_t i = 0; i < sc->nexpects; i++)
		r->ex[r->nex++] = (struct ex_state){ .e = &sc->expects[i] };
	for (uint32_t i = 0; i < sc->nsteps; i++)
		for (uint32_t j = 0; j < sc->steps[i].nexpects; j++)
			r->ex[r->nex++] = (struct ex_state){
				.e = &sc->steps[i].expects[j],
				.step_level = true, .step = i,
			};
}

static int runner_setup(struct runner *r, const struct run_opts *o, char *err,
			size_t cap)
{
	const struct scenario *sc = r->sc;
	r->trace = trace_new();
	if (o->trace_path != NULL &&
	    trace_open_db(r->trace, o->trace_path, err, cap) != 0)
		return -1;
	trace_set_observer(r->trace, runner_story_observe, r);
	r->w = sim_world_new(o->seed, r->trace);
	r->net = sim_net_new(r->w);
	scenario_netset_apply(&sc->net, &r->net->cfg);
	r->procs = sim_xcalloc(sc->nservers, sizeof(*r->procs));
	r->logs = sim_xcalloc(sc->nservers ? sc->nservers : 1,
			      sizeof(*r->logs));
	r->files = sim_xcalloc(sc->nservers ? sc->nservers : 1,
			       sizeof(*r->files));
	r->clients = sim_xcalloc(sc->nclients ? sc->nclients : 1,
				 sizeof(*r->clients));
	for (uint32_t i = 0; i < sc->nservers; i++) {
		if (runner_add_server(r, i, err, cap) != 0)
			return -1;
		r->nprocs++;
	}
	for (uint32_t i = 0; i < sc->nclients; i++)
		runner_add_client(r, i);
	r->steps = sim_xcalloc(sc->nsteps ? sc->nsteps : 1, sizeof(*r->steps));
	runner_flatten_expects(r);
	r->w->after_step = runner_after_step;
	r->w->after_step_arg = r;
	return 0;
}

static void runner_schedule(struct runner *r)
{
	const struct scenario *sc = r->sc;
	char err[512];
	for (uint32_t i = 0; i < sc->nservers; i++)
		if (sc->servers[i].start)
			sim_proc_start(&r->procs[i], err, sizeof(err));
	for (uint32_t i = 0; i < sc->nclients; i++)
		sim_client_start(r->clients[i]);
	for (uint32_t i = 0; i < sc->nsteps; i++) {
		if (sc->steps[i].at_ns >= 0) {
			sim_at(r->w, sc->steps[i].at_ns, step_fired, NULL, NULL,
			       i);
		} else {
			r->steps[i].waiting = true;
			r->nwaiting++;
		}
	}
	for (uint32_t i = 0; i < r->nex; i++)
		if (!r->ex[i].step_level)
			ex_activate(r, &r->ex[i]);
}

/* -------------------------------------------------------------- results */

static void runner_collect(struct runner *r, struct run_result *res)
{
	res->nverdicts = r->nex;
	res->verdicts = sim_xcalloc(r->nex ? r->nex : 1,
				    sizeof(*res->verdicts));
	res->passed = r->w->failure[0] == '\0';
	for (uint32_t i = 0; i < r->sc->nsteps; i++)
		if (r->steps[i].failed)
			res->passed = false;
	for (uint32_t i = 0; i < r->nex; i++) {
		struct run_verdict *v = &res->verdicts[i];
		const struct ex_state *e = &r->ex[i];
		snprintf(v->text, sizeof(v->text), "%s", e->e->cond.text);
		snprintf(v->detail, sizeof(v->detail), "%s", e->detail);
		v->line = e->e->line;
		v->passed = e->state == EX_PASS;
		v->decided_ns = e->decided_ns;
		res->npassed += v->passed;
		if (!v->passed)
			res->passed = false;
	}
	snprintf(res->failure, sizeof(res->failure), "%s", r->w->failure);
	res->sim_ns = sim_now(r->w);
	res->events = r->w->dispatched;
	res->trace_events = trace_count(r->trace);
	trace_hash_text(r->trace, res->hash);
	res->story = runner_story_take(r);
	res->summary = runner_summary(r);
	res->notes = runner_notes(r);
}

static void runner_meta(struct runner *r, const struct run_result *res)
{
	char seed[32];
	snprintf(seed, sizeof(seed), "%llu", (unsigned long long)r->w->seed);
	trace_meta(r->trace, "scenario", r->sc->file);
	trace_meta(r->trace, "name", r->sc->name);
	trace_meta(r->trace, "seed", seed);
	trace_meta(r->trace, "result", res->passed ? "pass" : "fail");
}

static void runner_teardown(struct runner *r)
{
	if (r->trace != NULL)
		trace_set_observer(r->trace, NULL, NULL);
	for (uint32_t i = 0; r->clients != NULL && i < r->sc->nclients; i++)
		sim_client_free(r->clients[i]);
	for (uint32_t i = 0; i < r->nprocs; i++) {
		sim_proc_free(&r->procs[i]);
		sim_disk_free(r->procs[i].node->disk);
	}
	runner_story_free(r);
	sim_net_free(r->net);
	sim_world_free(r->w);
	trace_free(r->trace);
	for (uint32_t i = 0; r->logs != NULL && i < r->sc->nservers; i++)
		free(r->logs[i].text);
	free(r->logs);
	for (uint32_t i = 0; r->files != NULL && i < r->sc->nservers; i++)
		free(r->files[i].v);
	free(r->files);
	free(r->procs);
	free(r->clients);
	free(r->steps);
	free(r->ex);
}

int runner_run(const struct scenario *sc, const struct run_opts *o,
	       struct run_result *res)
{
	memset(res, 0, sizeof(*res));
	struct runner r = { .sc = sc, .verbose = o->verbose };
	char err[512] = "";
	double t0 = o->wall_clock ? o->wall_clock() : 0;
	int rc = runner_setup(&r, o, err, sizeof(err));
	if (rc == 0) {
		runner_schedule(&r);
		sim_run_until(r.w, sc->duration_ns);
		ex_finish(&r);
		runner_collect(&r, res);
		runner_meta(&r, res);
		if (trace_finish(r.trace, err, sizeof(err)) != 0) {
			snprintf(res->failure, sizeof(res->failure), "%s", err);
			res->passed = false;
		}
		res->wall_s = o->wall_clock ? o->wall_clock() - t0 : 0;
		if (o->draw_path != NULL)
			runner_draw(&r, o->draw_path);
	} else {
		snprintf(res->failure, sizeof(res->failure), "%s", err);
	}
	if (r.w != NULL)
		r.w->after_step = NULL;
	runner_teardown(&r);
	return rc;
}

void run_result_free(struct run_result *res)
{
	free(res->verdicts);
	free(res->story);
	free(res->summary);
	free(res->notes);
	memset(res, 0, sizeof(*res));
}
