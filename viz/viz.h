/*
 * viz.h - pictures of simulations with Graphviz: the topology (servers,
 * clients, links by kind, partitions, crashed or paused servers) and a
 * timeline of faults, process events and expectations read from a trace.
 *
 * Pictures are produced as DOT text and rendered by Debian's graphviz
 * `dot` program (SVG, PNG or PDF chosen by the output file's extension;
 * ".dot" writes the text itself).
 */
#ifndef VIZ_VIZ_H
#define VIZ_VIZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum viz_state { VIZ_UP = 0, VIZ_DOWN, VIZ_PAUSED, VIZ_CRASHED };

enum viz_kind { VIZ_CLIENT = 0, VIZ_ROUTE, VIZ_LEAF, VIZ_GATEWAY, VIZ_HTTP };
#define VIZ_KINDS 5

struct viz_node {
	const char *name;
	bool server;
	enum viz_state state;
	const char *note;            /* extra label line, or NULL */
};

struct viz_link {
	int a, b;                    /* node indexes; a initiated */
	enum viz_kind kind;
	bool live;                   /* at least one connection is up */
	uint32_t count;              /* connections seen */
	const char *label;           /* or NULL */
};

struct viz_cut {
	const char *name;
	const uint8_t *side;         /* per node: bit 0 = side A, bit 1 = B */
	bool one_way;
	bool drop;
	uint32_t kinds;              /* 1 << viz_kind; 0 = all */
	const char *label;           /* e.g. "at 2s" */
};

struct viz_model {
	const char *title;
	const struct viz_node *nodes;
	uint32_t nnodes;
	const struct viz_link *links;
	uint32_t nlinks;
	const struct viz_cut *cuts;
	uint32_t ncuts;
};

void viz_topology_dot(const struct viz_model *m, FILE *out);

/* A timeline of notable events of a trace database, as DOT. */
int viz_timeline_dot(const char *db_path, FILE *out, char *err, size_t cap);

/* Renders DOT text to path.  Returns 0 or -1 with err. */
int viz_render(const char *dot, size_t len, const char *path, char *err,
	       size_t cap);

/* Convenience: builds DOT with fn(arg, FILE *) into memory, renders it. */
int viz_render_with(void (*fn)(void *arg, FILE *out), void *arg,
		    const char *path, char *err, size_t cap);

#endif
