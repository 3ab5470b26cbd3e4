/*
 * viz.c - DOT text for topologies and timelines, and running Graphviz;
 * see viz.h.
 *
 * Output depends only on the model (no addresses, no hash order), so the
 * same run draws the same picture.
 */
#define _GNU_SOURCE
#include "viz.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *const kind_names[VIZ_KINDS] = {
	"client", "route", "leaf", "gateway", "http",
};
static const char *const kind_colors[VIZ_KINDS] = {
	"#4a7fc1", "#2e8b57", "#d9822b", "#8e44ad", "#888888",
};

/* Writes s as a DOT quoted string body. */
static void dot_str(FILE *out, const char *s)
{
	for (; s != NULL && *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		if (*s == '\n') {
			fputs("\\n", out);
			continue;
		}
		fputc(*s, out);
	}
}

static void topo_node(FILE *out, uint32_t i, const struct viz_node *n)
{
	static const char *const state_fill[] = {
		"#e8f1fb", "#dddddd", "#fde9c8", "#f4c7c3",
	};
	static const char *const state_text[] = {
		"", "down", "paused", "crashed",
	};
	fprintf(out, "  n%u [label=\"", i);
	dot_str(out, n->name);
	if (n->state != VIZ_UP) {
		fputs("\\n(", out);
		fputs(state_text[n->state], out);
		fputc(')', out);
	}
	if (n->note != NULL) {
		fputs("\\n", out);
		dot_str(out, n->note);
	}
	if (n->server)
		fprintf(out, "\", shape=box, style=\"rounded,filled%s\", "
			"fillcolor=\"%s\", penwidth=%s];\n",
			n->state == VIZ_UP ? "" : ",dashed",
			state_fill[n->state], n->state == VIZ_UP ? "1.5" : "2");
	else
		fprintf(out, "\", shape=ellipse, style=filled, "
			"fillcolor=\"%s\"];\n",
			n->state == VIZ_UP ? "#ffffff" : state_fill[n->state]);
}

static void topo_link(FILE *out, const struct viz_link *l)
{
	const char *color = kind_colors[l->kind % VIZ_KINDS];
	fprintf(out, "  n%d -> n%d [color=\"%s\", fontcolor=\"%s\", "
		"style=%s, label=\"%s", l->a, l->b, l->live ? color : "#aaaaaa",
		color, l->live ? "solid" : "dashed", kind_names[l->kind]);
	if (l->count > 1)
		fprintf(out, " x%u", l->count);
	if (l->label != NULL) {
		fputc(' ', out);
		dot_str(out, l->label);
	}
	fprintf(out, "\"%s];\n", l->kind == VIZ_CLIENT ? "" : ", penwidth=2");
}

static void cut_kinds(FILE *out, uint32_t kinds)
{
	if (kinds == 0)
		return;
	fputs(" [", out);
	bool first = true;
	for (int k = 0; k < VIZ_KINDS; k++) {
		if (!(kinds & (1u << k)))
			continue;
		fprintf(out, "%s%s", first ? "" : ",", kind_names[k]);
		first = false;
	}
	fputc(']', out);
}

/* A partition is drawn as red cut marks between each pair it separates. */
static void topo_cut(FILE *out, const struct viz_model *m,
		     const struct viz_cut *c)
{
	for (uint32_t a = 0; a < m->nnodes; a++) {
		if (!(c->side[a] & 1))
			continue;
		for (uint32_t b = 0; b < m->nnodes; b++) {
			if (a == b || !(c->side[b] & 2))
				continue;
			if (!c->one_way && b < a && (c->side[b] & 1) &&
			    (c->side[a] & 2))
				continue;   /* already drawn the other way */
			fprintf(out, "  n%u -> n%u [color=\"#d0021b\", "
				"fontcolor=\"#d0021b\", style=dotted, "
				"penwidth=2, constraint=false, dir=%s, "
				"arrowhead=tee, arrowtail=tee, label=\"partition ",
				a, b, c->one_way ? "forward" : "both");
			dot_str(out, c->name);
			fprintf(out, " (%s)", c->drop ? "drop" : "hold");
			cut_kinds(out, c->kinds);
			if (c->label != NULL) {
				fputc(' ', out);
				dot_str(out, c->label);
			}
			fputs("\"];\n", out);
		}
	}
}

void viz_topology_dot(const struct viz_model *m, FILE *out)
{
	fputs("digraph topology {\n  graph [rankdir=LR, fontname=\"Helvetica\", "
	      "labelloc=t, fontsize=16, label=\"", out);
	dot_str(out, m->title);
	fputs("\"];\n  node [fontname=\"Helvetica\", fontsize=11];\n"
	      "  edge [fontname=\"Helvetica\", fontsize=9, arrowsize=0.6];\n",
	      out);
	fputs("  subgraph cluster_servers {\n    label=\"servers\"; "
	      "style=dashed; color=\"#bbbbbb\";\n", out);
	for (uint32_t i = 0; i < m->nnodes; i++)
		if (m->nodes[i].server) {
			fputs("  ", out);
			topo_node(out, i, &m->nodes[i]);
		}
	fputs("  }\n", out);
	for (uint32_t i = 0; i < m->nnodes; i++)
		if (!m->nodes[i].server)
			topo_node(out, i, &m->nodes[i]);
	for (uint32_t i = 0; i < m->nlinks; i++)
		topo_link(out, &m->links[i]);
	for (uint32_t i = 0; i < m->ncuts; i++)
		topo_cut(out, m, &m->cuts[i]);
	fputs("}\n", out);
}

/* ------------------------------------------------------------ timeline */

static const char timeline_sql[] =
	"SELECT e.seq, e.t_ns, k.name, IFNULL(n.name, ''), IFNULL(e.text, ''),"
	" e.value FROM events e JOIN kinds k ON k.id = e.kind"
	" LEFT JOIN nodes n ON n.id = e.node"
	" WHERE k.name IN ('proc_start','proc_fail','proc_stop','proc_crash',"
	" 'proc_pause','proc_resume','proc_wipe','step','expect_pass',"
	" 'expect_fail','disk_lost','proto_err')"
	" OR (k.name = 'client_ready' AND e.value > 1)"
	" ORDER BY e.seq LIMIT 400";

static const char *event_color(const char *kind)
{
	if (!strcmp(kind, "expect_pass"))
		return "#c8e6c9";
	if (!strcmp(kind, "expect_fail") || !strcmp(kind, "proc_crash") ||
	    !strcmp(kind, "proc_fail") || !strcmp(kind, "disk_lost"))
		return "#f4c7c3";
	if (!strcmp(kind, "step"))
		return "#dbe8f8";
	if (!strcmp(kind, "proto_err"))
		return "#fde9c8";
	return "#eeeeee";
}

static void timeline_event(FILE *out, sqlite3_stmt *st, int64_t *last_t,
			   long *tick)
{
	long long seq = sqlite3_column_int64(st, 0);
	int64_t t = sqlite3_column_int64(st, 1);
	const char *kind = (const char *)sqlite3_column_text(st, 2);
	const char *node = (const char *)sqlite3_column_text(st, 3);
	const char *text = (const char *)sqlite3_column_text(st, 4);
	if (t != *last_t) {
		(*tick)++;
		fprintf(out, "  t%ld [shape=plaintext, label=\"%lld.%03llds\"];\n",
			*tick, (long long)(t / 1000000000),
			(long long)(t % 1000000000 / 1000000));
		if (*tick > 0)
			fprintf(out, "  t%ld -> t%ld [color=\"#999999\"];\n",
				*tick - 1, *tick);
		*last_t = t;
	}
	fprintf(out, "  e%lld [shape=box, style=\"rounded,filled\", "
		"fillcolor=\"%s\", label=\"", seq, event_color(kind));
	if (node[0] != '\0' && strcmp(kind, "step") != 0) {
		dot_str(out, node);
		fputs(": ", out);
	}
	dot_str(out, kind);
	if (text[0] != '\0') {
		char shown[90];
		snprintf(shown, sizeof(shown), "%.80s%s", text,
			 strlen(text) > 80 ? "..." : "");
		fputs("\\n", out);
		dot_str(out, shown);
	}
	fprintf(out, "\"];\n  t%ld -> e%lld [style=invis];\n"
		"  { rank=same; t%ld; e%lld; }\n", *tick, seq, *tick, seq);
}

int viz_timeline_dot(const char *db_path, FILE *out, char *err, size_t cap)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) !=
		    SQLITE_OK ||
	    sqlite3_prepare_v2(db, timeline_sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, cap, "%s: %s", db_path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	fputs("digraph timeline {\n  graph [rankdir=LR, fontname=\"Helvetica\", "
	      "labelloc=t, label=\"timeline: faults, processes, "
	      "expectations\", nodesep=0.15];\n  node [fontname=\"Helvetica\", "
	      "fontsize=10];\n", out);
	int64_t last_t = -1;
	long tick = -1;
	while (sqlite3_step(st) == SQLITE_ROW)
		timeline_event(out, st, &last_t, &tick);
	fputs("}\n", out);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return 0;
}

/* ------------------------------------------------------------ rendering */

static const char *path_format(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (dot == NULL)
		return "svg";
	if (!strcmp(dot, ".png"))
		return "png";
	if (!strcmp(dot, ".pdf"))
		return "pdf";
	if (!strcmp(dot, ".dot") || !strcmp(dot, ".gv"))
		return "dot";
	return "svg";
}

static int write_text(const char *dot, size_t len, const char *path,
		      char *err, size_t cap)
{
	FILE *fp = fopen(path, "w");
	if (fp == NULL || fwrite(dot, 1, len, fp) != len) {
		snprintf(err, cap, "%s: %s", path, strerror(errno));
		if (fp != NULL)
			fclose(fp);
		return -1;
	}
	return fclose(fp) == 0 ? 0 : -1;
}

static int feed_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int viz_render(const char *dot, size_t len, const char *path, char *err,
	       size_t cap)
{
	const char *fmt = path_format(path);
	if (!strcmp(fmt, "dot"))
		return write_text(dot, len, path, err, cap);
	int pipefd[2];
	if (pipe(pipefd) != 0) {
		snprintf(err, cap, "pipe: %s", strerror(errno));
		return -1;
	}
	char tflag[16];
	snprintf(tflag, sizeof(tflag), "-T%s", fmt);
	char *argv[] = { "dot", tflag, "-o", (char *)path, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[0], STDIN_FILENO);
	posix_spawn_file_actions_addclose(&fa, pipefd[1]);
	pid_t pid;
	int rc = posix_spawnp(&pid, "dot", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[0]);
	if (rc != 0) {
		close(pipefd[1]);
		snprintf(err, cap, "cannot run Graphviz dot (%s); install the "
			 "graphviz package", strerror(rc));
		return -1;
	}
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	int wrc = feed_all(pipefd[1], dot, len);
	close(pipefd[1]);
	signal(SIGPIPE, old);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (wrc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, cap, "Graphviz dot failed to render %s", path);
		return -1;
	}
	return 0;
}

int viz_render_with(void (*fn)(void *arg, FILE *out), void *arg,
		    const char *path, char *err, size_t cap)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	if (mem == NULL) {
		snprintf(err, cap, "out of memory");
		return -1;
	}
	fn(arg, mem);
	fclose(mem);
	int rc = viz_render(text, len, path, err, cap);
	free(text);
	return rc;
}
