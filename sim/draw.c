/*
 * draw.c - drawing a scenario without running it; see draw.h.
 *
 * Node indexes follow the order a run uses (servers, then clients), so the
 * static picture and the end-of-run picture name the same nodes alike.
 */
#include "draw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/assert.h"
#include "viz.h"
#include "world.h"

struct draw {
	const struct scenario *sc;
	struct viz_node *nodes;
	uint32_t nnodes;
	struct viz_link *links;
	uint32_t nlinks, cap;
	struct viz_cut *cuts;
	uint32_t ncuts;
	uint8_t **sides;
	char **notes;
	char **labels;
	uint32_t nlabels;
};

/* The server a URL's host names (by host, alias or name), or -1. */
/* The listening port of server i for links of that kind (0: none). */
static int server_port(const struct scenario *sc, uint32_t i,
		       enum viz_kind kind)
{
	struct mem m;
	mem_init(&m);
	struct opts o;
	char err[256];
	int port = 0;
	if (scenario_server_opts(sc, i, &o, &m, err, sizeof(err)) == 0)
		port = kind == VIZ_LEAF ? o.leafnodes.port
		       : kind == VIZ_ROUTE ? o.cluster.port : o.gateway.port;
	opts_free(&o, &m);
	return port;
}

static bool host_is(const struct sc_server *s, const char *host)
{
	if (!strcmp(s->host, host) || !strcmp(s->name, host))
		return true;
	for (uint32_t a = 0; a < s->naliases; a++)
		if (!strcmp(s->aliases[a], host))
			return true;
	return false;
}

/* The server a URL of server `from` reaches: by host (a local address
 * means from's own host, as for real) and, when several servers share
 * that host, by the port they listen on for that kind of link. */
static int url_server(const struct scenario *sc, uint32_t from,
		      const char *url, enum viz_kind kind)
{
	char host[256];
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	const char *at = strchr(p, '@');
	if (at != NULL)
		p = at + 1;
	size_t n = strcspn(p, ":/");
	snprintf(host, sizeof(host), "%.*s", (int)n, p);
	int port = p[n] == ':' ? atoi(p + n + 1) : 0;
	if (!strcmp(host, "127.0.0.1") || !strcmp(host, "localhost") ||
	    !strcmp(host, "0.0.0.0"))
		snprintf(host, sizeof(host), "%s", sc->servers[from].host);
	int found = -1, nfound = 0;
	for (uint32_t i = 0; i < sc->nservers; i++) {
		if (!host_is(&sc->servers[i], host))
			continue;
		nfound++;
		if (found < 0)
			found = (int)i;
		if (port > 0 && server_port(sc, i, kind) == port)
			return (int)i;
	}
	return nfound == 1 ? found : -1;
}

static void add_link(struct draw *d, int a, int b, enum viz_kind kind)
{
	if (a < 0 || b < 0 || a == b)
		return;
	for (uint32_t i = 0; i < d->nlinks; i++)
		if (d->links[i].a == a && d->links[i].b == b &&
		    d->links[i].kind == kind)
			return;
	if (d->nlinks == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 32;
		d->links = sim_xrealloc(d->links, d->cap * sizeof(*d->links));
	}
	d->links[d->nlinks++] = (struct viz_link){ a, b, kind, true, 1, NULL };
}

static void add_urls(struct draw *d, int from, char **urls, size_t n,
		     enum viz_kind kind)
{
	for (size_t i = 0; i < n; i++)
		add_link(d, from, url_server(d->sc, (uint32_t)from, urls[i],
					     kind), kind);
}

static void note_text(struct draw *d, int node, const char *line);

static void config_links(struct draw *d, uint32_t i)
{
	struct mem m;
	mem_init(&m);
	struct opts o;
	char err[256];
	if (scenario_server_opts(d->sc, i, &o, &m, err, sizeof(err)) == 0) {
		add_urls(d, (int)i, o.cluster.routes, o.cluster.n_routes,
			 VIZ_ROUTE);
		for (size_t r = 0; r < o.leafnodes.n_remotes; r++)
			add_urls(d, (int)i, o.leafnodes.remotes[r].urls,
				 o.leafnodes.remotes[r].n_urls, VIZ_LEAF);
		for (size_t g = 0; g < o.gateway.n_gateways; g++)
			add_urls(d, (int)i, o.gateway.gateways[g].urls,
				 o.gateway.gateways[g].n_urls, VIZ_GATEWAY);
		if (o.jetstream.enabled) {
			char line[160];
			snprintf(line, sizeof(line), "JetStream%s%s",
				 o.jetstream.domain ? ", domain " : "",
				 o.jetstream.domain ? o.jetstream.domain : "");
			note_text(d, (int)i, line);
		}
	}
	opts_free(&o, &m);
}

static void when_text(const struct sc_step *st, char *out, size_t cap)
{
	if (st->at_ns >= 0)
		snprintf(out, cap, "at %lld.%03llds",
			 (long long)(st->at_ns / 1000000000),
			 (long long)(st->at_ns % 1000000000 / 1000000));
	else
		snprintf(out, cap, "after %.60s", st->after->text);
}

static void note_add(struct draw *d, int node, const char *what,
		     const struct sc_step *st)
{
	char when[96], line[160];
	when_text(st, when, sizeof(when));
	snprintf(line, sizeof(line), "%s %s", what, when);
	note_text(d, node, line);
}

static void note_text(struct draw *d, int node, const char *line)
{
	char *old = d->notes[node];
	size_t n = (old ? strlen(old) + 1 : 0) + strlen(line) + 1;
	char *s = sim_xcalloc(1, n);
	snprintf(s, n, "%s%s%s", old ? old : "", old ? "\n" : "", line);
	free(old);
	d->notes[node] = s;
}

static int node_index(const struct scenario *sc, const char *name)
{
	int i = scenario_find_server(sc, name);
	if (i >= 0)
		return i;
	i = scenario_find_client(sc, name);
	return i < 0 ? -1 : (int)sc->nservers + i;
}

static void mark(struct draw *d, uint8_t *side, char **names, uint32_t n,
		 uint8_t bit)
{
	for (uint32_t i = 0; i < n; i++) {
		int k = node_index(d->sc, names[i]);
		if (k >= 0)
			side[k] |= bit;
	}
}

static void add_cut(struct draw *d, const struct sc_step *st)
{
	uint8_t *side = sim_xcalloc(d->nnodes, 1);
	const struct sc_sel *sel = &st->sel;
	if (sel->all) {
		memset(side, 3, d->nnodes);
	} else {
		mark(d, side, sel->a, sel->na, 1);
		if (sel->isolate) {
			for (uint32_t i = 0; i < d->nnodes; i++)
				if (!(side[i] & 1))
					side[i] |= 2;
		} else {
			mark(d, side, sel->b, sel->nb, 2);
		}
	}
	char when[96];
	when_text(st, when, sizeof(when));
	d->sides[d->ncuts] = side;
	d->labels[d->ncuts] = sim_xstrdup(when);
	d->cuts[d->ncuts] = (struct viz_cut){
		sel->name, side, sel->one_way, sel->mode == SIM_PART_DROP,
		sel->kinds, d->labels[d->ncuts],
	};
	d->ncuts++;
}

static void timeline_marks(struct draw *d)
{
	static const struct { enum sc_action act; const char *what; } acts[] = {
		{ SC_ACT_CRASH, "crash" }, { SC_ACT_STOP, "stop" },
		{ SC_ACT_RESTART, "restart" }, { SC_ACT_START, "start" },
		{ SC_ACT_PAUSE, "pause" }, { SC_ACT_WIPE, "wipe" },
		{ SC_ACT_RELOAD, "reload" },
	};
	for (uint32_t i = 0; i < d->sc->nsteps; i++) {
		const struct sc_step *st = &d->sc->steps[i];
		if (st->act == SC_ACT_PARTITION) {
			add_cut(d, st);
			continue;
		}
		for (size_t k = 0; k < ARRAY_LEN(acts); k++)
			if (acts[k].act == st->act && st->target != NULL)
				note_add(d, node_index(d->sc, st->target),
					 acts[k].what, st);
	}
}

static void draw_topology(void *arg, FILE *out)
{
	viz_topology_dot(arg, out);
}

static void draw_free(struct draw *d)
{
	for (uint32_t i = 0; i < d->nnodes; i++)
		free(d->notes[i]);
	for (uint32_t i = 0; i < d->ncuts; i++) {
		free(d->sides[i]);
		free(d->labels[i]);
	}
	free(d->notes);
	free(d->sides);
	free(d->labels);
	free(d->cuts);
	free(d->links);
	free(d->nodes);
}

int sim_draw_scenario(const struct scenario *sc, const char *path, char *err,
		      size_t cap)
{
	struct draw d = { .sc = sc, .nnodes = sc->nservers + sc->nclients };
	d.nodes = sim_xcalloc(d.nnodes + 1, sizeof(*d.nodes));
	d.notes = sim_xcalloc(d.nnodes + 1, sizeof(*d.notes));
	d.cuts = sim_xcalloc(sc->nsteps + 1, sizeof(*d.cuts));
	d.sides = sim_xcalloc(sc->nsteps + 1, sizeof(*d.sides));
	d.labels = sim_xcalloc(sc->nsteps + 1, sizeof(*d.labels));
	for (uint32_t i = 0; i < sc->nservers; i++)
		config_links(&d, i);
	for (uint32_t i = 0; i < sc->nclients; i++) {
		const struct sim_client_cfg *k = &sc->clients[i].cfg;
		for (uint32_t s = 0; s < k->nservers; s++)
			add_link(&d, (int)(sc->nservers + i),
				 scenario_find_server(sc, k->servers[s]),
				 VIZ_CLIENT);
	}
	timeline_marks(&d);
	for (uint32_t i = 0; i < sc->nservers; i++)
		d.nodes[i] = (struct viz_node){ sc->servers[i].name, true,
						VIZ_UP, d.notes[i] };
	for (uint32_t i = 0; i < sc->nclients; i++)
		d.nodes[sc->nservers + i] = (struct viz_node){
			sc->clients[i].cfg.name, false, VIZ_UP,
			d.notes[sc->nservers + i],
		};
	struct viz_model m = { sc->name, d.nodes, d.nnodes, d.links, d.nlinks,
			       d.cuts, d.ncuts };
	int rc = viz_render_with(draw_topology, &m, path, err, cap);
	draw_free(&d);
	return rc;
}
