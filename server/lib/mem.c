/*
 * mem.c - counting allocator.  Each block carries a 16-byte header with its
 * size so that frees can be counted without the caller passing the size.
 */
#include "mem.h"

#include <stdlib.h>
#include <string.h>

#include "assert.h"

#define MEM_HEADER 16

void mem_init(struct mem *m)
{
	memset(m, 0, sizeof(*m));
}

static int mem_refuse(struct mem *m, size_t size)
{
	m->alloc_count++;
	if (m->fail_at != 0 && m->alloc_count == m->fail_at)
		return 1;
	if (m->limit_bytes != 0 && m->live_bytes + size > m->limit_bytes)
		return 1;
	return size > SIZE_MAX - MEM_HEADER;
}

static void mem_account(struct mem *m, size_t size)
{
	m->live_bytes += size;
	if (m->live_bytes > m->peak_bytes)
		m->peak_bytes = m->live_bytes;
}

void *mem_alloc(struct mem *m, size_t size)
{
	if (mem_refuse(m, size))
		return NULL;
	unsigned char *p = malloc(size + MEM_HEADER);
	if (p == NULL)
		return NULL;
	memcpy(p, &size, sizeof(size));
	mem_account(m, size);
	return p + MEM_HEADER;
}

void *mem_calloc(struct mem *m, size_t count, size_t size)
{
	if (size != 0 && count > SIZE_MAX / size)
		return NULL;
	void *p = mem_alloc(m, count * size);
	if (p != NULL)
		memset(p, 0, count * size);
	return p;
}

void *mem_realloc(struct mem *m, void *ptr, size_t size)
{
	if (ptr == NULL)
		return mem_alloc(m, size);
	unsigned char *base = (unsigned char *)ptr - MEM_HEADER;
	size_t old;
	memcpy(&old, base, sizeof(old));
	if (size > old && mem_refuse(m, size - old))
		return NULL;
	unsigned char *p = realloc(base, size + MEM_HEADER);
	if (p == NULL)
		return NULL;
	memcpy(p, &size, sizeof(size));
	ASSERT(m->live_bytes >= old);
	m->live_bytes -= old;
	mem_account(m, size);
	return p + MEM_HEADER;
}

void mem_free(struct mem *m, void *ptr)
{
	if (ptr == NULL)
		return;
	unsigned char *base = (unsigned char *)ptr - MEM_HEADER;
	size_t size;
	memcpy(&size, base, sizeof(size));
	ASSERT(m->live_bytes >= size);
	m->live_bytes -= size;
	free(base);
}

char *mem_strndup(struct mem *m, const char *s, size_t len)
{
	char *p = mem_alloc(m, len + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *mem_strdup(struct mem *m, const char *s)
{
	return mem_strndup(m, s, strlen(s));
}
