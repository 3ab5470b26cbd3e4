/*
 * mem.h - the counting allocator.
 *
 * Every allocation in server/ goes through a struct mem owned by the server
 * instance (no globals), so tests and fuzzers can count live bytes, cap them,
 * and make the N-th allocation fail.  Allocation failure is an operating
 * error: functions return NULL and callers refuse the work, never crash.
 */
#ifndef LIB_MEM_H
#define LIB_MEM_H

#include <stddef.h>
#include <stdint.h>

struct mem {
	size_t live_bytes;     /* bytes currently allocated */
	size_t peak_bytes;     /* high-water mark of live_bytes */
	uint64_t alloc_count;  /* allocations made so far */
	size_t limit_bytes;    /* 0 = unlimited */
	uint64_t fail_at;      /* 0 = never; else fail the fail_at-th allocation */
};

void mem_init(struct mem *m);
void *mem_alloc(struct mem *m, size_t size);
void *mem_calloc(struct mem *m, size_t count, size_t size);
/* Like realloc; on failure the old block is untouched and NULL returned. */
void *mem_realloc(struct mem *m, void *ptr, size_t size);
void mem_free(struct mem *m, void *ptr);
/* Copies len bytes and appends a NUL. */
char *mem_strndup(struct mem *m, const char *s, size_t len);
char *mem_strdup(struct mem *m, const char *s);

#endif
