/*
 * main.c - the sim command.
 *
 *   sim run FILE [--seed N] [--check-determinism] [--trace run.db]
 *                [--draw out.svg] [--verbose]
 *   sim check FILE                 load and validate only
 *   sim draw FILE -o out.svg       the topology, without running
 *   sim timeline run.db -o t.svg   faults, processes and expectations
 *   sim diff a.db b.db             first divergence of two traces
 *   sim query run.db QUERY.sql [name=value...]
 *
 * The host's clock is read only to report the wall time of a run; nothing
 * in a run depends on it.  Every run prints the command that replays it,
 * also when a broken invariant aborts the process.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "draw.h"
#include "query.h"
#include "runner.h"
#include "scenario.h"
#include "trace.h"
#include "viz.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2

/* Printed by the abort handler: preformatted, since the handler may only
 * call async-signal-safe functions. */
static char abort_note[1024];

static void on_abort(int sig)
{
	ssize_t rc = write(STDERR_FILENO, abort_note, strlen(abort_note));
	(void)rc;
	signal(sig, SIG_DFL);
	raise(sig);
}

static void set_abort_note(const char *exe, const char *file, uint64_t seed)
{
	snprintf(abort_note, sizeof(abort_note),
		 "\nsim: the run aborted (a broken invariant or a crash).\n"
		 "replay     %s run %s --seed %llu\n", exe, file,
		 (unsigned long long)seed);
	signal(SIGABRT, on_abort);
	signal(SIGSEGV, on_abort);
	signal(SIGBUS, on_abort);
}

static double wall_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *out)
{
	fputs("usage:\n"
	      "  sim run FILE [--seed N] [--check-determinism] [--trace DB]\n"
	      "               [--draw OUT.svg] [--verbose]\n"
	      "  sim check FILE\n"
	      "  sim draw FILE -o OUT.svg|png|dot\n"
	      "  sim timeline DB -o OUT.svg|png|dot\n"
	      "  sim diff A.db B.db\n"
	      "  sim query DB QUERY.sql [name=value ...]\n", out);
}

struct run_args {
	const char *file;
	uint64_t seed;
	bool has_seed;
	bool determinism;
	bool verbose;
	const char *trace;
	const char *draw;
};

static int parse_run_args(int argc, char **argv, struct run_args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 2; i < argc; i++) {
		const char *s = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(s, "--seed") && next) {
			char *end;
			a->seed = strtoull(next, &end, 10);
			if (*end != '\0') {
				fprintf(stderr, "sim: bad seed '%s'\n", next);
				return -1;
			}
			a->has_seed = true;
			i++;
		} else if (!strcmp(s, "--trace") && next) {
			a->trace = argv[++i];
		} else if (!strcmp(s, "--draw") && next) {
			a->draw = argv[++i];
		} else if (!strcmp(s, "--check-determinism")) {
			a->determinism = true;
		} else if (!strcmp(s, "--verbose") || !strcmp(s, "-v")) {
			a->verbose = true;
		} else if (s[0] != '-' && a->file == NULL) {
			a->file = s;
		} else {
			fprintf(stderr, "sim: unknown argument '%s'\n", s);
			return -1;
		}
	}
	if (a->file == NULL) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- report */

static void print_header(const struct scenario *sc, uint64_t seed)
{
	printf("scenario   %s (%s)\n", sc->file, sc->name);
	if (sc->description != NULL)
		printf("           %s\n", sc->description);
	printf("seed       %llu\n", (unsigned long long)seed);
}

static void print_verdicts(const struct run_result *res)
{
	printf("\nexpectations\n");
	if (res->nverdicts == 0)
		printf("  (none)\n");
	for (uint32_t i = 0; i < res->nverdicts; i++) {
		const struct run_verdict *v = &res->verdicts[i];
		printf("  %s %s: %s", v->passed ? "\u2713" : "\u2717", v->text,
		       v->detail);
		if (!v->passed)
			printf("  (line %d)", v->line);
		printf("\n");
	}
}

static void print_report(const struct run_result *res, double wall)
{
	printf("\nwhat happened\n%s", res->story[0] ? res->story
						    : "  (nothing notable)\n");
	printf("\ncounts\n%s", res->summary);
	if (res->notes[0] != '\0')
		printf("\nnotes\n%s", res->notes);
	print_verdicts(res);
	printf("\n");
	if (res->failure[0] != '\0')
		printf("failure    %s\n", res->failure);
	printf("result     %s (%u of %u expectations held)\n",
	       res->passed ? "PASS" : "FAIL", res->npassed, res->nverdicts);
	double sim = (double)res->sim_ns / 1e9;
	printf("time       %.3fs simulated in %.3fs wall, %.0fx faster than "
	       "real time\n", sim, wall, wall > 0 ? sim / wall : 0.0);
	printf("events     %llu dispatched, %llu traced\n",
	       (unsigned long long)res->events,
	       (unsigned long long)res->trace_events);
	printf("hash       %s\n", res->hash);
}

/* ------------------------------------------------------------- commands */

static int load(const char *file, struct scenario *sc)
{
	char err[1024];
	if (scenario_load(sc, file, err, sizeof(err)) != 0) {
		fprintf(stderr, "sim: %s\n", err);
		scenario_free(sc);
		return -1;
	}
	return 0;
}

static int check_determinism(const struct scenario *sc,
			     const struct run_args *a, uint64_t seed,
			     const struct run_result *first)
{
	char second_trace[1024];
	struct run_opts o = { .seed = seed };
	if (a->trace != NULL) {
		snprintf(second_trace, sizeof(second_trace), "%s.again.db",
			 a->trace);
		o.trace_path = second_trace;
	}
	struct run_result again;
	runner_run(sc, &o, &again);
	bool same = strcmp(again.hash, first->hash) == 0 &&
		    again.events == first->events;
	printf("determinism %s second run: hash %s, %llu events\n",
	       same ? "\u2713" : "\u2717", again.hash,
	       (unsigned long long)again.events);
	if (!same && a->trace != NULL)
		printf("           compare: sim diff %s %s\n", a->trace,
		       second_trace);
	run_result_free(&again);
	return same ? 0 : -1;
}

static int cmd_run(int argc, char **argv)
{
	struct run_args a;
	if (parse_run_args(argc, argv, &a) != 0)
		return EXIT_USAGE;
	struct scenario sc;
	if (load(a.file, &sc) != 0)
		return EXIT_USAGE;
	uint64_t seed = a.has_seed ? a.seed : sc.seed;
	set_abort_note(argv[0], a.file, seed);
	print_header(&sc, seed);
	fflush(stdout);
	struct run_opts o = { seed, a.trace, a.verbose, a.draw, wall_seconds };
	struct run_result res;
	int rc = runner_run(&sc, &o, &res);
	if (rc != 0) {
		fprintf(stderr, "sim: %s\n", res.failure);
		run_result_free(&res);
		scenario_free(&sc);
		return EXIT_USAGE;
	}
	print_report(&res, res.wall_s);
	bool ok = res.passed;
	if (a.determinism && check_determinism(&sc, &a, seed, &res) != 0)
		ok = false;
	if (a.trace != NULL)
		printf("trace      %s\n", a.trace);
	if (a.draw != NULL)
		printf("picture    %s\n", a.draw);
	printf("replay     %s run %s --seed %llu\n", argv[0], a.file,
	       (unsigned long long)seed);
	run_result_free(&res);
	scenario_free(&sc);
	return ok ? 0 : EXIT_FAILED;
}

static int cmd_check(int argc, char **argv)
{
	if (argc != 3) {
		usage(stderr);
		return EXIT_USAGE;
	}
	struct scenario sc;
	if (load(argv[2], &sc) != 0)
		return EXIT_USAGE;
	printf("%s: ok (%u servers, %u clients, %u steps, %u expectations)\n",
	       argv[2], sc.nservers, sc.nclients, sc.nsteps, sc.nexpects);
	scenario_free(&sc);
	return 0;
}

static const char *out_arg(int argc, char **argv)
{
	for (int i = 3; i + 1 < argc; i++)
		if (!strcmp(argv[i], "-o"))
			return argv[i + 1];
	return NULL;
}

static int cmd_draw(int argc, char **argv)
{
	const char *out = out_arg(argc, argv);
	if (argc < 3 || out == NULL) {
		usage(stderr);
		return EXIT_USAGE;
	}
	struct scenario sc;
	if (load(argv[2], &sc) != 0)
		return EXIT_USAGE;
	char err[512];
	int rc = sim_draw_scenario(&sc, out, err, sizeof(err));
	scenario_free(&sc);
	if (rc != 0) {
		fprintf(stderr, "sim: %s\n", err);
		return EXIT_FAILED;
	}
	printf("picture    %s\n", out);
	return 0;
}

struct timeline_arg {
	const char *db;
	int rc;
	char err[512];
};

static void timeline_dot(void *arg, FILE *out)
{
	struct timeline_arg *t = arg;
	t->rc = viz_timeline_dot(t->db, out, t->err, sizeof(t->err));
}

static int cmd_timeline(int argc, char **argv)
{
	const char *out = out_arg(argc, argv);
	if (argc < 3 || out == NULL) {
		usage(stderr);
		return EXIT_USAGE;
	}
	struct timeline_arg t = { .db = argv[2] };
	char err[512];
	if (viz_render_with(timeline_dot, &t, out, err, sizeof(err)) != 0 ||
	    t.rc != 0) {
		fprintf(stderr, "sim: %s\n", t.rc != 0 ? t.err : err);
		return EXIT_FAILED;
	}
	printf("picture    %s\n", out);
	return 0;
}

static void diff_line(void *arg, const char *text)
{
	(void)arg;
	printf("%s\n", text);
}

static int cmd_diff(int argc, char **argv)
{
	if (argc != 4) {
		usage(stderr);
		return EXIT_USAGE;
	}
	char err[512];
	struct trace_diff_out out = { diff_line, NULL };
	int rc = trace_diff(argv[2], argv[3], &out, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "sim: %s\n", err);
		return EXIT_USAGE;
	}
	return rc == 0 ? 0 : EXIT_FAILED;
}

static int cmd_query(int argc, char **argv)
{
	if (argc < 4) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return sim_query(argv[2], argv[3], argc - 4, argv + 4);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "run"))
		return cmd_run(argc, argv);
	if (!strcmp(cmd, "check"))
		return cmd_check(argc, argv);
	if (!strcmp(cmd, "draw"))
		return cmd_draw(argc, argv);
	if (!strcmp(cmd, "timeline"))
		return cmd_timeline(argc, argv);
	if (!strcmp(cmd, "diff"))
		return cmd_diff(argc, argv);
	if (!strcmp(cmd, "query"))
		return cmd_query(argc, argv);
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") ||
	    !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "sim: unknown command '%s'\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
