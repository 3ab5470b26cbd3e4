/*
 * rng.c - named random streams; see rng.h.  The stream seed mixes the run
 * seed with an FNV-1a hash of the stream name through splitmix64, so
 * streams are independent and the same on every machine.
 */
#include "rng.h"

#include <string.h>

static uint64_t rng_mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void sim_rng_init(struct sim_rng *r, uint64_t seed, const char *stream)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const unsigned char *s = (const unsigned char *)stream; *s; s++) {
		h ^= *s;
		h *= 0x100000001b3ULL;
	}
	prng_seed(&r->p, rng_mix(seed) ^ rng_mix(h));
}

uint64_t sim_rng_next(struct sim_rng *r)
{
	return prng_next(&r->p);
}

uint64_t sim_rng_below(struct sim_rng *r, uint64_t bound)
{
	return bound == 0 ? 0 : prng_below(&r->p, bound);
}

int64_t sim_rng_range(struct sim_rng *r, int64_t lo, int64_t hi)
{
	if (hi <= lo)
		return lo;
	uint64_t span = (uint64_t)hi - (uint64_t)lo + 1;
	if (span == 0)   /* the full 64-bit range */
		return (int64_t)prng_next(&r->p);
	return (int64_t)((uint64_t)lo + prng_below(&r->p, span));
}

bool sim_rng_chance(struct sim_rng *r, uint32_t ppm)
{
	if (ppm == 0)
		return false;
	if (ppm >= SIM_PPM)
		return true;
	return prng_below(&r->p, SIM_PPM) < ppm;
}

void sim_rng_fill(struct sim_rng *r, void *buf, uint64_t len)
{
	unsigned char *b = buf;
	while (len > 0) {
		uint64_t x = prng_next(&r->p);
		size_t n = len < 8 ? (size_t)len : 8;
		for (size_t i = 0; i < n; i++)
			b[i] = (unsigned char)(x >> (8 * i));
		b += n;
		len -= n;
	}
}
