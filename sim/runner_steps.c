/*
 * runner_steps.c - carrying out timeline steps: process actions, network
 * and clock and disk faults, client actions and step-level expectations.
 * Each step is recorded (STEP) before it acts, so its effects follow it in
 * the trace.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "lib/assert.h"
#include "runner_int.h"

static int server_index(struct runner *r, const char *name)
{
	return scenario_find_server(r->sc, name);
}

static struct sim_client *client_named(struct runner *r, const char *name)
{
	int i = scenario_find_client(r->sc, name);
	return i < 0 ? NULL : r->clients[i];
}

/* Marks the named nodes in a partition's side bits. */
static void part_mark(struct runner *r, struct sim_partition *p,
		      char **names, uint32_t n, uint8_t bit)
{
	for (uint32_t i = 0; i < n; i++) {
		struct sim_node *node = sim_node_find(r->w, names[i]);
		if (node != NULL && (uint32_t)node->id < p->nside)
			p->side[node->id] |= bit;
	}
}

static struct sim_partition *part_build(struct runner *r,
					const struct sc_step *st)
{
	const struct sc_sel *sel = &st->sel;
	struct sim_partition *p = sim_net_partition_new(r->net, sel->name);
	if (sel->all) {
		memset(p->side, 3, p->nside);
	} else {
		part_mark(r, p, sel->a, sel->na, 1);
		if (sel->isolate) {
			for (uint32_t i = 0; i < p->nside; i++)
				if (!(p->side[i] & 1))
					p->side[i] |= 2;
		} else {
			part_mark(r, p, sel->b, sel->nb, 2);
		}
	}
	p->kinds = sel->kinds;
	p->one_way = sel->one_way;
	p->mode = sel->mode;
	snprintf(p->text, sizeof(p->text), "%s", st->text);
	return p;
}

static void step_failed(struct runner *r, uint32_t step, const char *err)
{
	struct step_state *ss = &r->steps[step];
	ss->failed = true;
	snprintf(ss->error, sizeof(ss->error), "%s", err);
	char text[400];
	snprintf(text, sizeof(text), "%s failed: %s", r->sc->steps[step].text,
		 err);
	sim_emit(r->w, TRACE_STEP, -1, -1, 0, r->sc->steps[step].line, NULL,
		 text);
}

/* Reads server i's config again, through the files replaced so far;
 * NULL (and err) when it does not parse. */
static struct opts *reread_opts(struct runner *r, int i, char *err,
				size_t cap)
{
	struct sim_proc *p = &r->procs[i];
	struct opts *o = sim_xcalloc(1, sizeof(*o));
	const struct runner_files *f = &r->files[i];
	if (scenario_server_opts_files(r->sc, (uint32_t)i, f->v, f->n, o,
				       &p->opts_mem, err, cap) != 0) {
		opts_free(o, &p->opts_mem);
		free(o);
		return NULL;
	}
	return o;
}

/* A start reads the config from the machine, so replaced files count;
 * without replacements the config has not changed since set-up. */
static void proc_start(struct runner *r, int i)
{
	struct sim_proc *p = &r->procs[i];
	char err[512];
	if (r->files[i].n > 0 && !sim_proc_running(p)) {
		struct opts *o = reread_opts(r, i, err, sizeof(err));
		if (o == NULL || sim_proc_set_opts(p, o, err, sizeof(err)) != 0) {
			sim_emit(r->w, TRACE_PROC_FAIL, p->node->id, -1, 0, 0,
				 NULL, err);
			return;
		}
	}
	sim_proc_start(p, err, sizeof(err));
}

/* The files are replaced for good, even when the server then refuses
 * the config (as an edited file stays edited). */
static void do_reload(struct runner *r, uint32_t step)
{
	const struct sc_step *st = &r->sc->steps[step];
	int i = server_index(r, st->target);
	struct runner_files *f = &r->files[i];
	if (st->nfiles > 0) {
		f->v = sim_xrealloc(f->v, (f->n + st->nfiles) * sizeof(*f->v));
		memcpy(f->v + f->n, st->files, st->nfiles * sizeof(*f->v));
		f->n += st->nfiles;
	}
	char err[512];
	struct opts *o = reread_opts(r, i, err, sizeof(err));
	if (o == NULL && f->n > 0) {
		/* The parser names files as included; say what they held. */
		size_t used = strlen(err);
		snprintf(err + used, sizeof(err) - used, " (%s read from %s)",
			 f->v[f->n - 1].key, f->v[f->n - 1].path);
	}
	if (o == NULL || sim_proc_set_opts(&r->procs[i], o, err,
					   sizeof(err)) != 0)
		step_failed(r, step, err);
}

static void do_proc(struct runner *r, const struct sc_step *st)
{
	int i = server_index(r, st->target);
	struct sim_proc *p = &r->procs[i];
	switch (st->act) {
	case SC_ACT_START:
		proc_start(r, i);
		break;
	case SC_ACT_STOP:
		sim_proc_stop(p);
		break;
	case SC_ACT_CRASH:
		sim_proc_crash(p);
		break;
	case SC_ACT_RESTART:
		sim_proc_stop(p);
		proc_start(r, i);
		break;
	case SC_ACT_WIPE:
		sim_proc_wipe(p);
		break;
	default:
		break;
	}
}

static void do_pause(struct runner *r, const struct sc_step *st, bool pause)
{
	int i = server_index(r, st->target);
	if (i >= 0) {
		if (pause)
			sim_proc_pause(&r->procs[i]);
		else
			sim_proc_resume(&r->procs[i]);
		return;
	}
	struct sim_node *n = sim_node_find(r->w, st->target);
	if (pause && !n->paused) {
		sim_node_pause(r->w, n);
		sim_emit(r->w, TRACE_PROC_PAUSE, n->id, -1, 0, 0, NULL, NULL);
	} else if (!pause && n->paused) {
		uint32_t k = sim_node_resume(r->w, n);
		sim_emit(r->w, TRACE_PROC_RESUME, n->id, -1, 0, k, NULL, NULL);
	}
}

static void do_clock(struct runner *r, const struct sc_step *st)
{
	struct sim_node *n = sim_node_find(r->w, st->target);
	int32_t drift = st->has_drift ? st->drift_ppm : n->drift_ppm;
	sim_node_set_clock(r->w, n, st->clock_step_ns, drift);
	sim_emit(r->w, TRACE_FAULT_CLOCK, n->id, -1, 0, st->clock_step_ns, NULL,
		 st->text);
}

static void do_disk(struct runner *r, const struct sc_step *st)
{
	struct sim_node *n = sim_node_find(r->w, st->target);
	struct sim_disk *d = n->disk;
	const struct sc_diskset *ds = &st->disk;
	if (ds->read_error)
		d->faults.read_error_ppm = ds->faults.read_error_ppm;
	if (ds->write_error)
		d->faults.write_error_ppm = ds->faults.write_error_ppm;
	if (ds->short_read)
		d->faults.short_read_ppm = ds->faults.short_read_ppm;
	if (ds->short_write)
		d->faults.short_write_ppm = ds->faults.short_write_ppm;
	if (ds->sync_error)
		d->faults.sync_error_ppm = ds->faults.sync_error_ppm;
	if (ds->capacity)
		d->faults.capacity_bytes = ds->faults.capacity_bytes;
	if (ds->full)   /* nothing more fits from now on */
		d->faults.capacity_bytes = d->used_bytes ? d->used_bytes : 1;
	sim_emit(r->w, TRACE_FAULT_DISK, n->id, -1, 0, 0, NULL, st->text);
	for (uint32_t i = 0; i < ds->bitflips; i++) {
		char what[256];
		if (sim_disk_bitflip(d, ds->file, what, sizeof(what)) != 0)
			snprintf(what, sizeof(what), "bit flip: no file to flip");
		sim_emit(r->w, TRACE_FAULT_DISK, n->id, -1, 0, 1, NULL, what);
	}
}

static void do_net(struct runner *r, const struct sc_step *st)
{
	switch (st->act) {
	case SC_ACT_PARTITION:
		sim_net_partition(r->net, part_build(r, st));
		break;
	case SC_ACT_HEAL:
		sim_net_heal(r->net, strcmp(st->target, "all") == 0
				     ? NULL : st->target);
		break;
	case SC_ACT_RESET: {
		struct sim_partition *sel = part_build(r, st);
		uint32_t n = sim_net_reset_matching(r->net, sel);
		sim_emit(r->w, TRACE_FAULT_RESET, -1, -1, 0, n, NULL, st->text);
		sim_net_partition_free(sel);
		break;
	}
	case SC_ACT_NETWORK:
		scenario_netset_apply(&st->net, &r->net->cfg);
		sim_emit(r->w, TRACE_FAULT_NET, -1, -1, 0, 0, NULL, st->text);
		break;
	default:
		break;
	}
}

/* The monitoring port of a server: the step's, else the one it bound
 * (or, while it is down, the one its config names). */
static void do_http(struct runner *r, struct sim_client *c,
		    const struct sc_step *st)
{
	int i = scenario_find_server(r->sc, st->http_server);
	ASSERT(i >= 0);
	const struct sim_proc *p = &r->procs[i];
	int port = (int)st->http_port;
	if (port == 0)
		port = p->srv != NULL ? server_http_port(p->srv)
				      : (int)p->opts->http_port;
	sim_client_http_get(c, st->name, r->sc->servers[i].host,
			    port > 0 ? port : 8222, st->subject, st->timeout_ns);
}

static void do_client(struct runner *r, uint32_t step)
{
	const struct sc_step *st = &r->sc->steps[step];
	struct sim_client *c = client_named(r, st->target);
	switch (st->act) {
	case SC_ACT_REPLY_TO:
		if (sim_client_reply_to(c, st->name, st->payload,
					st->payload_len) != 0)
			step_failed(r, step, "no reply with a reply subject to "
				    "answer, or not connected");
		break;
	case SC_ACT_PUBLISH:
		for (int64_t i = 0; i < st->count; i++)
			sim_client_publish(c, st->subject, st->reply, st->payload,
					   st->payload_len);
		break;
	case SC_ACT_HTTP:
		do_http(r, c, st);
		break;
	case SC_ACT_REQUEST:
		sim_client_request(c, st->name, st->subject, st->payload,
				   st->timeout_ns);
		break;
	case SC_ACT_SUBSCRIBE:
		sim_client_subscribe(c, st->subject, st->queue);
		break;
	case SC_ACT_UNSUBSCRIBE:
		sim_client_unsubscribe(c, st->subject);
		break;
	case SC_ACT_SEND:
		sim_client_send_raw(c, st->payload, st->payload_len);
		break;
	case SC_ACT_CONNECT:
		sim_client_connect(c);
		break;
	case SC_ACT_DISCONNECT:
		sim_client_disconnect(c);
		break;
	case SC_ACT_VERIFY:
		sim_client_js_verify(c, st->name, st->js_stream, st->from,
				     st->timeout_ns);
		break;
	default:
		break;
	}
	sim_node_turn_end(sim_node_find(r->w, st->target));
}

void runner_do_step(struct runner *r, uint32_t step)
{
	const struct sc_step *st = &r->sc->steps[step];
	r->steps[step].ran = true;
	struct sim_node *target = st->target ? sim_node_find(r->w, st->target)
					     : NULL;
	sim_emit(r->w, TRACE_STEP, target ? target->id : -1, -1, 0, st->line,
		 NULL, st->text);
	switch (st->act) {
	case SC_ACT_START: case SC_ACT_STOP: case SC_ACT_CRASH:
	case SC_ACT_RESTART: case SC_ACT_WIPE:
		do_proc(r, st);
		break;
	case SC_ACT_PAUSE:
	case SC_ACT_RESUME:
		do_pause(r, st, st->act == SC_ACT_PAUSE);
		break;
	case SC_ACT_PARTITION: case SC_ACT_HEAL: case SC_ACT_RESET:
	case SC_ACT_NETWORK:
		do_net(r, st);
		break;
	case SC_ACT_CLOCK:
		do_clock(r, st);
		break;
	case SC_ACT_DISK:
		do_disk(r, st);
		break;
	case SC_ACT_EXPECT:
		runner_step_expects_activate(r, step);
		break;
	case SC_ACT_END:
		r->w->stop = true;
		break;
	case SC_ACT_LOG:
		break;
	case SC_ACT_RELOAD:
		do_reload(r, step);
		break;
	default:
		do_client(r, step);
		break;
	}
}
