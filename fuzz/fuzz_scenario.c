/*
 * fuzz_scenario.c - harness for the scenario loader (sim/scenario.c over
 * libyaml and sim/ytree.c): arbitrary bytes as a scenario file.
 *
 * Properties checked:
 *   - loading never crashes, hangs or leaks (the sanitizers and libFuzzer's
 *     leak check see the loader's malloc'd tree and scenario);
 *   - a refused file says why, and the reason names the file and a line
 *     ("file:line:col: ..." or "file: ..."), as docs/scenarios.md promises;
 *   - an accepted file is well formed: every server and client has a name,
 *     names are unique among servers and among clients, and the duration
 *     is not negative;
 *   - loading the same bytes twice gives the same verdict and the same
 *     counts (the loader depends on nothing but its input).
 *
 * Config files named by `config:` are resolved against a folder that does
 * not exist, so an input cannot make the harness read the host's files;
 * inline `config_text` is not parsed here (fuzz_conf covers that parser).
 */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "scenario.h"

#define FAKE_PATH "/nonexistent-fuzz-dir/scenario.yaml"

struct verdict {
	int rc;
	uint32_t nservers, nclients, nsteps, nexpects;
};

static void check_names(const struct scenario *s)
{
	for (uint32_t i = 0; i < s->nservers; i++) {
		FUZZ_CHECK(s->servers[i].name != NULL, "server %u has no name", i);
		for (uint32_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(s->servers[i].name, s->servers[j].name) != 0,
				   "server name %s twice", s->servers[i].name);
	}
	for (uint32_t i = 0; i < s->nclients; i++) {
		const char *n = s->clients[i].cfg.name;
		FUZZ_CHECK(n != NULL, "client %u has no name", i);
		for (uint32_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(n, s->clients[j].cfg.name) != 0,
				   "client name %s twice", n);
	}
}

static struct verdict load_once(const uint8_t *data, size_t size)
{
	struct scenario s;
	char err[512] = "";
	struct verdict v = { 0 };
	v.rc = scenario_load_text(&s, FAKE_PATH, (const char *)data, size, err,
				  sizeof(err));
	if (v.rc != 0) {
		FUZZ_CHECK(err[0] != '\0', "a refused scenario without a reason");
		FUZZ_CHECK(strncmp(err, FAKE_PATH, strlen(FAKE_PATH)) == 0,
			   "the reason does not name the file: %s", err);
	} else {
		check_names(&s);
		FUZZ_CHECK(s.duration_ns >= 0, "duration %lld",
			   (long long)s.duration_ns);
		v.nservers = s.nservers;
		v.nclients = s.nclients;
		v.nsteps = s.nsteps;
		v.nexpects = s.nexpects;
	}
	scenario_free(&s);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Scenario files are small; bound the work per input. */
	if (size > 16384)
		return 0;
	struct verdict a = load_once(data, size);
	struct verdict b = load_once(data, size);
	FUZZ_CHECK(a.rc == b.rc && a.nservers == b.nservers &&
		   a.nclients == b.nclients && a.nsteps == b.nsteps &&
		   a.nexpects == b.nexpects,
		   "two loads of the same bytes differ");
	return 0;
}
