/*
 * rng.h - named random streams for the simulator.
 *
 * One run seed feeds every random choice, but each concern (network, disk,
 * faults, clients, each node's random_fill) draws from its own stream,
 * derived from the seed and the stream's name.  A change in how one concern
 * uses randomness then leaves the others' choices alone, which keeps a
 * failing seed meaningful while the code around it evolves.
 */
#ifndef SIM_RNG_H
#define SIM_RNG_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/prng.h"

struct sim_rng {
	struct prng p;
};

#define SIM_PPM 1000000u   /* probabilities are parts per million */

void sim_rng_init(struct sim_rng *r, uint64_t seed, const char *stream);
uint64_t sim_rng_next(struct sim_rng *r);
/* Uniform in [0, bound); 0 when bound is 0. */
uint64_t sim_rng_below(struct sim_rng *r, uint64_t bound);
/* Uniform in [lo, hi] (lo <= hi). */
int64_t sim_rng_range(struct sim_rng *r, int64_t lo, int64_t hi);
/* True with probability ppm / SIM_PPM. */
bool sim_rng_chance(struct sim_rng *r, uint32_t ppm);
void sim_rng_fill(struct sim_rng *r, void *buf, uint64_t len);

#endif
