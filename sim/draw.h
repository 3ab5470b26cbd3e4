/*
 * draw.h - the topology a scenario describes, drawn without running it:
 * servers and clients, client links to their servers, server links that
 * the configs ask for (cluster routes, leaf remotes, gateways; host names
 * matched to the scenario's servers), the timeline's partitions as cuts and
 * its crashes, stops and pauses as notes on the servers.
 */
#ifndef SIM_DRAW_H
#define SIM_DRAW_H

#include <stddef.h>

#include "scenario.h"

int sim_draw_scenario(const struct scenario *sc, const char *path, char *err,
		      size_t cap);

#endif
