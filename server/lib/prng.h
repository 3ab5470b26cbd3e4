/*
 * prng.h - xoshiro256** pseudo-random generator.
 *
 * Deterministic for a given seed; the server seeds one from the env's
 * random_fill at start-up, so the simulator's seed fixes every choice.
 */
#ifndef LIB_PRNG_H
#define LIB_PRNG_H

#include <stddef.h>
#include <stdint.h>

struct prng {
	uint64_t s[4];
};

void prng_seed(struct prng *p, uint64_t seed);
uint64_t prng_next(struct prng *p);
/* Uniform in [0, bound); bound > 0. */
uint64_t prng_below(struct prng *p, uint64_t bound);

/* The 62 digits 0-9A-Za-z, in that order (NUID-like ids, hashes). */
extern const char prng_base62_digits[63];
/* n random base-62 characters into out (not NUL-terminated). */
void prng_base62(struct prng *p, char *out, size_t n);

#endif
