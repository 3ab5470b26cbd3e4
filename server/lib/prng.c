/*
 * prng.c - xoshiro256** seeded through splitmix64.
 */
#include "prng.h"

#include "assert.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void prng_seed(struct prng *p, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		p->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t prng_next(struct prng *p)
{
	uint64_t *s = p->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t prng_below(struct prng *p, uint64_t bound)
{
	ASSERT(bound > 0);
	/* Lemire's multiply-shift with rejection for an unbiased result. */
	for (;;) {
		uint64_t x = prng_next(p);
		unsigned __int128 m = (unsigned __int128)x * bound;
		uint64_t low = (uint64_t)m;
		if (low >= bound || low >= (0 - bound) % bound)
			return (uint64_t)(m >> 64);
	}
}

const char prng_base62_digits[63] =
	"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

void prng_base62(struct prng *p, char *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = prng_base62_digits[prng_below(p, 62)];
}
