/*
 * runner_report.c - what a run tells its reader: the story (notable trace
 * events as sentences, in order), per-client and per-server counts, notes
 * on steps that never ran, and the topology picture of the end state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/assert.h"
#include "runner_int.h"
#include "viz.h"

#define STORY_MAX_LINES 400

static const char *node_name(struct runner *r, int id)
{
	if (id < 0 || (uint32_t)id >= r->w->nnodes)
		return "?";
	return r->w->nodes[id]->name;
}

/* A log line without its "[name] date time " prefix. */
static const char *log_body(const char *line)
{
	const char *tag = strstr(line, "[WRN] ");
	if (tag == NULL)
		tag = strstr(line, "[ERR] ");
	if (tag == NULL)
		tag = strstr(line, "[FTL] ");
	return tag != NULL ? tag : line;
}

static bool story_sentence(struct runner *r, const struct trace_event *ev,
			   char *out, size_t cap)
{
	const char *n = node_name(r, ev->node);
	const char *t = ev->text ? ev->text : "";
	switch (ev->kind) {
	case TRACE_PROC_START:
		snprintf(out, cap, "%s started (client port %lld)", n,
			 (long long)ev->value);
		return true;
	case TRACE_PROC_FAIL:
		snprintf(out, cap, "%s failed to start: %s", n, t);
		return true;
	case TRACE_PROC_STOP: snprintf(out, cap, "%s stopped", n); return true;
	case TRACE_PROC_CRASH: snprintf(out, cap, "%s crashed", n); return true;
	case TRACE_PROC_PAUSE: snprintf(out, cap, "%s paused", n); return true;
	case TRACE_PROC_RESUME:
		snprintf(out, cap, "%s resumed", n);
		return true;
	case TRACE_PROC_WIPE:
		snprintf(out, cap, "%s's disk wiped (%lld files)", n,
			 (long long)ev->value);
		return true;
	case TRACE_DISK_LOST:
		snprintf(out, cap, "%s lost %lld unsynced bytes of %s", n,
			 (long long)ev->value, t);
		return true;
	case TRACE_STEP:
		snprintf(out, cap, "step: %s", t);
		return true;
	case TRACE_CLIENT_READY:
		if (ev->value > 1)
			snprintf(out, cap, "%s reconnected to %s (connection %lld)",
				 n, t, (long long)ev->value);
		else
			snprintf(out, cap, "%s connected to %s", n, t);
		return true;
	case TRACE_CLIENT_LOST:
		if (strcmp(t, "connect failed") == 0 ||
		    strcmp(t, "unknown server") == 0)
			return false;   /* retries: counted in the summary */
		snprintf(out, cap, "%s lost its connection: %s", n, t);
		return true;
	case TRACE_PROTO_ERR:
		snprintf(out, cap, "%s got -ERR '%s'", n, t);
		return true;
	case TRACE_PROTO_BAD:
		snprintf(out, cap, "%s received bytes from %s that are not valid "
			 "protocol (%s)", n, node_name(r, ev->peer), t);
		return true;
	case TRACE_FAULT_DISK:
		if (ev->value != 1)
			return false;   /* the step line says it */
		snprintf(out, cap, "%s: %s", n, t);
		return true;
	case TRACE_LOG:
		if (ev->value != 'W' && ev->value != 'E' && ev->value != 'F')
			return false;
		snprintf(out, cap, "%s: %s", n, log_body(t));
		return true;
	default:
		return false;
	}
}

void runner_story_observe(void *arg, const struct trace_event *ev)
{
	struct runner *r = arg;
	char line[600];
	if (!story_sentence(r, ev, line, sizeof(line)))
		return;
	if (r->story.mem == NULL) {
		mem_init(&r->story_mem);
		buf_init(&r->story, &r->story_mem);
	}
	if (r->story_lines >= STORY_MAX_LINES) {
		r->story_dropped++;
		return;
	}
	r->story_lines++;
	buf_appendf(&r->story, "  %4lld.%06llds  %s\n",
		    (long long)(ev->t_ns / 1000000000),
		    (long long)(ev->t_ns % 1000000000 / 1000), line);
}

char *runner_story_take(struct runner *r)
{
	if (r->story.mem == NULL) {
		mem_init(&r->story_mem);
		buf_init(&r->story, &r->story_mem);
	}
	if (r->story_dropped > 0)
		buf_appendf(&r->story, "  ... and %u more (see --trace)\n",
			    r->story_dropped);
	buf_append(&r->story, "", 0);
	char *s = sim_xstrdup(r->story.data ? r->story.data : "");
	buf_free(&r->story);
	r->story.mem = NULL;
	return s;
}

void runner_story_free(struct runner *r)
{
	if (r->story.mem != NULL)
		buf_free(&r->story);
	r->story.mem = NULL;
}

static void summary_client(struct buf *b, const struct sim_client *c)
{
	const struct sim_client_stats *s = sim_client_stats(c);
	buf_appendf(b, "  %-12s connects %llu", sim_client_name(c),
		    (unsigned long long)s->connects);
	if (s->connect_failures)
		buf_appendf(b, " (%llu failed attempts)",
			    (unsigned long long)s->connect_failures);
	if (s->published || s->pub_dropped)
		buf_appendf(b, ", published %llu (%llu not sent)",
			    (unsigned long long)s->published,
			    (unsigned long long)s->pub_dropped);
	if (s->received)
		buf_appendf(b, ", received %llu",
			    (unsigned long long)s->received);
	if (s->requests)
		buf_appendf(b, ", requests %llu: %llu replies, %llu timeouts, "
			    "%llu no-responders", (unsigned long long)s->requests,
			    (unsigned long long)s->replies,
			    (unsigned long long)s->timeouts,
			    (unsigned long long)s->no_responders);
	if (s->errors)
		buf_appendf(b, ", -ERR %llu", (unsigned long long)s->errors);
	const struct sim_js_pubs *p;
	for (uint32_t i = 0; (p = sim_client_js_pubs_at(c, i)) != NULL; i++)
		buf_appendf(b, ", js %s: %llu acked, %llu errors, %llu unknown "
			    "(%llu late acks)", p->from,
			    (unsigned long long)p->acked,
			    (unsigned long long)p->errors,
			    (unsigned long long)p->timeouts,
			    (unsigned long long)p->late_acks);
	buf_append_str(b, "\n");
}

char *runner_summary(struct runner *r)
{
	struct mem m;
	mem_init(&m);
	struct buf b;
	buf_init(&b, &m);
	for (uint32_t i = 0; i < r->nprocs; i++) {
		const struct sim_proc *p = &r->procs[i];
		struct server_stats st = { 0 };
		if (p->srv != NULL)
			server_get_stats(p->srv, &st);
		buf_appendf(&b, "  %-12s %s, starts %u, crashes %u, in %llu "
			    "msgs, out %llu msgs, %u connections now\n",
			    p->node->name, p->srv ? "running" : "down",
			    p->starts, p->crashes,
			    (unsigned long long)st.in_msgs,
			    (unsigned long long)st.out_msgs, st.connections);
	}
	for (uint32_t i = 0; i < r->sc->nclients; i++)
		summary_client(&b, r->clients[i]);
	buf_append(&b, "", 0);
	char *s = sim_xstrdup(b.data ? b.data : "");
	buf_free(&b);
	return s;
}

char *runner_notes(struct runner *r)
{
	struct mem m;
	mem_init(&m);
	struct buf b;
	buf_init(&b, &m);
	for (uint32_t i = 0; i < r->sc->nsteps; i++) {
		if (!r->steps[i].ran)
			buf_appendf(&b, "  step at line %d never ran: %s\n",
				    r->sc->steps[i].line, r->sc->steps[i].text);
		else if (r->steps[i].failed)
			buf_appendf(&b, "  step at line %d failed: %s: %s\n",
				    r->sc->steps[i].line, r->sc->steps[i].text,
				    r->steps[i].error);
	}
	buf_append(&b, "", 0);
	char *s = sim_xstrdup(b.data ? b.data : "");
	buf_free(&b);
	return s;
}

/* ------------------------------------------------------------- picture */

static enum viz_state node_state(struct runner *r, const struct sim_node *n)
{
	if (n->role == SIM_ROLE_CLIENT)
		return n->paused ? VIZ_PAUSED : VIZ_UP;
	const struct sim_proc *p = n->owner;
	if (p->srv == NULL)
		return p->crashes > 0 ? VIZ_CRASHED : VIZ_DOWN;
	UNUSED(r);
	return n->paused ? VIZ_PAUSED : VIZ_UP;
}

static bool end_up(const struct sim_end *e)
{
	return e->established && !e->reset && !e->closed && !e->failed;
}

static uint32_t draw_links(struct runner *r, struct viz_link *links,
			   uint32_t cap)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < r->net->nconns; i++) {
		const struct sim_conn *c = r->net->conns[i];
		const struct sim_node *a = c->end[0].node, *b = c->end[1].node;
		if (a == NULL || b == NULL || !c->end[1].established)
			continue;
		bool live = end_up(&c->end[0]) && end_up(&c->end[1]);
		uint32_t j;
		for (j = 0; j < n; j++)
			if (links[j].a == a->id && links[j].b == b->id &&
			    links[j].kind == (enum viz_kind)c->kind)
				break;
		if (j == n) {
			if (n == cap)
				continue;
			links[n++] = (struct viz_link){ a->id, b->id,
						       (enum viz_kind)c->kind,
						       false, 0, NULL };
		}
		links[j].count++;
		links[j].live |= live;
	}
	return n;
}

static void draw_topology(void *arg, FILE *out)
{
	viz_topology_dot(arg, out);
}

void runner_draw(struct runner *r, const char *path)
{
	struct sim_world *w = r->w;
	struct viz_node *nodes = sim_xcalloc(w->nnodes, sizeof(*nodes));
	for (uint32_t i = 0; i < w->nnodes; i++)
		nodes[i] = (struct viz_node){
			w->nodes[i]->name, w->nodes[i]->role == SIM_ROLE_SERVER,
			node_state(r, w->nodes[i]), NULL,
		};
	uint32_t cap = 1024;
	struct viz_link *links = sim_xcalloc(cap, sizeof(*links));
	uint32_t nlinks = draw_links(r, links, cap);
	struct viz_cut *cuts = sim_xcalloc(r->net->nparts + 1, sizeof(*cuts));
	for (uint32_t i = 0; i < r->net->nparts; i++) {
		const struct sim_partition *p = r->net->parts[i];
		cuts[i] = (struct viz_cut){ p->name, p->side, p->one_way,
					    p->mode == SIM_PART_DROP, p->kinds,
					    "(active at the end)" };
	}
	char title[256];
	snprintf(title, sizeof(title), "%s at %lld.%03llds (seed %llu)",
		 r->sc->name, (long long)(sim_now(w) / 1000000000),
		 (long long)(sim_now(w) % 1000000000 / 1000000),
		 (unsigned long long)w->seed);
	struct viz_model m = { title, nodes, w->nnodes, links, nlinks, cuts,
			       r->net->nparts };
	char err[256];
	if (viz_render_with(draw_topology, &m, path, err, sizeof(err)) != 0)
		fprintf(stderr, "sim: %s\n", err);
	free(nodes);
	free(links);
	free(cuts);
}
