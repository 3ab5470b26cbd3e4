/*
 * hash.h - seeded byte hash and a string-keyed open-addressing map.
 *
 * Seeds come from the server's generator so that hash flooding is hard in
 * production and runs are reproducible in the simulator.  Iteration order of
 * a hmap depends on the seed: never let output depend on it (sort first).
 */
#ifndef LIB_HASH_H
#define LIB_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem.h"

uint64_t hash_bytes(uint64_t seed, const void *data, size_t len);

struct hmap_entry {
	uint64_t hash;     /* 0 = empty slot; stored hashes are forced nonzero */
	const char *key;   /* borrowed from the value's owner unless copied */
	size_t key_len;
	void *value;
};

struct hmap {
	struct hmap_entry *slots;
	size_t cap;        /* power of two, 0 when empty */
	size_t count;      /* live entries */
	size_t tombs;      /* deleted slots */
	uint64_t seed;
	struct mem *mem;
};

void hmap_init(struct hmap *m, struct mem *mem, uint64_t seed);
void hmap_free(struct hmap *m);
void *hmap_get(const struct hmap *m, const char *key, size_t key_len);
/* Key memory is borrowed: it must live as long as the entry (store it in
 * the value).  Replaces an existing value.  Returns false on OOM. */
bool hmap_put(struct hmap *m, const char *key, size_t key_len, void *value);
/* Returns the removed value or NULL. */
void *hmap_del(struct hmap *m, const char *key, size_t key_len);
/* Iterate: start with *pos = 0; returns NULL at the end. */
struct hmap_entry *hmap_next(const struct hmap *m, size_t *pos);

#endif
