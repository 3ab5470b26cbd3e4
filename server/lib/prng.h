/*
 * prng.h - xoshiro256** pseudo-random generator.
 *
 * Deterministic for a given seed; the server seeds one from the env's
 * random_fill at start-up, so the simulator's seed fixes every choice.
 */
#ifndef LIB_PRNG_H
#define LIB_PRNG_H

#include <stdint.h>

struct prng {
	uint64_t s[4];
};

void prng_seed(struct prng *p, uint64_t seed);
uint64_t prng_next(struct prng *p);
/* Uniform in [0, bound); bound > 0. */
uint64_t prng_below(struct prng *p, uint64_t bound);

#endif
