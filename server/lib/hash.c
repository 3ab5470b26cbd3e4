/*
 * hash.c - a multiply-fold hash (wyhash family idea) and a linear-probing map
 * with tombstones.
 */
#include "hash.h"

#include <string.h>

#include "assert.h"

#define TOMB ((uint64_t)1)

static uint64_t mix(uint64_t a, uint64_t b)
{
	unsigned __int128 r = (unsigned __int128)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t read64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

uint64_t hash_bytes(uint64_t seed, const void *data, size_t len)
{
	const unsigned char *p = data;
	const uint64_t k1 = 0xa0761d6478bd642fULL, k2 = 0xe7037ed1a0b428dbULL;
	uint64_t h = seed ^ mix(len ^ k1, k2);
	while (len >= 8) {
		h = mix(h ^ read64(p), k2 ^ 0x8ebc6af09c88c6e3ULL);
		p += 8;
		len -= 8;
	}
	uint64_t tail = 0;
	for (size_t i = 0; i < len; i++)
		tail |= (uint64_t)p[i] << (8 * i);
	h = mix(h ^ tail ^ k1, k2);
	return mix(h, k1 ^ len);
}

void hmap_init(struct hmap *m, struct mem *mem, uint64_t seed)
{
	memset(m, 0, sizeof(*m));
	m->mem = mem;
	m->seed = seed;
}

void hmap_free(struct hmap *m)
{
	mem_free(m->mem, m->slots);
	m->slots = NULL;
	m->cap = m->count = m->tombs = 0;
}

static uint64_t hmap_hash(const struct hmap *m, const char *key, size_t len)
{
	uint64_t h = hash_bytes(m->seed, key, len);
	return h <= TOMB ? h + 2 : h;
}

static struct hmap_entry *hmap_find(const struct hmap *m, uint64_t h,
				    const char *key, size_t len)
{
	if (m->cap == 0)
		return NULL;
	size_t mask = m->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct hmap_entry *e = &m->slots[i];
		if (e->hash == 0)
			return NULL;
		if (e->hash == h && e->key_len == len &&
		    memcmp(e->key, key, len) == 0)
			return e;
	}
}

void *hmap_get(const struct hmap *m, const char *key, size_t key_len)
{
	struct hmap_entry *e = hmap_find(m, hmap_hash(m, key, key_len), key,
					 key_len);
	return e ? e->value : NULL;
}

static bool hmap_grow(struct hmap *m)
{
	size_t cap = m->cap == 0 ? 16 : m->cap;
	if ((m->count + 1) * 4 >= cap * 3)
		cap *= 2;
	struct hmap_entry *slots = mem_calloc(m->mem, cap, sizeof(*slots));
	if (slots == NULL)
		return false;
	for (size_t i = 0; i < m->cap; i++) {
		struct hmap_entry *e = &m->slots[i];
		if (e->hash <= TOMB)
			continue;
		size_t j = e->hash & (cap - 1);
		while (slots[j].hash != 0)
			j = (j + 1) & (cap - 1);
		slots[j] = *e;
	}
	mem_free(m->mem, m->slots);
	m->slots = slots;
	m->cap = cap;
	m->tombs = 0;
	return true;
}

bool hmap_put(struct hmap *m, const char *key, size_t key_len, void *value)
{
	ASSERT(value != NULL);
	uint64_t h = hmap_hash(m, key, key_len);
	struct hmap_entry *e = hmap_find(m, h, key, key_len);
	if (e != NULL) {
		e->key = key;
		e->value = value;
		return true;
	}
	if ((m->count + m->tombs + 1) * 4 >= m->cap * 3 && !hmap_grow(m))
		return false;
	size_t mask = m->cap - 1;
	size_t i = h & mask;
	while (m->slots[i].hash > TOMB)
		i = (i + 1) & mask;
	if (m->slots[i].hash == TOMB)
		m->tombs--;
	m->slots[i] = (struct hmap_entry){ h, key, key_len, value };
	m->count++;
	return true;
}

void *hmap_del(struct hmap *m, const char *key, size_t key_len)
{
	struct hmap_entry *e = hmap_find(m, hmap_hash(m, key, key_len), key,
					 key_len);
	if (e == NULL)
		return NULL;
	void *v = e->value;
	e->hash = TOMB;
	e->key = NULL;
	e->value = NULL;
	m->count--;
	m->tombs++;
	return v;
}

struct hmap_entry *hmap_next(const struct hmap *m, size_t *pos)
{
	while (*pos < m->cap) {
		struct hmap_entry *e = &m->slots[(*pos)++];
		if (e->hash > TOMB)
			return e;
	}
	return NULL;
}
