/*
 * buf.h - growable byte buffer.
 *
 * A buf owns its bytes (allocated from its struct mem).  Appends grow it
 * geometrically; a failed growth sets buf->oom and drops the append, so a
 * caller can do many appends and check once.  data is always NUL-terminated
 * when cap > 0, which keeps short-lived string building simple.
 */
#ifndef LIB_BUF_H
#define LIB_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem.h"

struct buf {
	char *data;
	size_t len;      /* bytes used */
	size_t cap;      /* bytes allocated, excluding the NUL slot */
	struct mem *mem;
	bool oom;        /* an append failed since the last reset */
};

void buf_init(struct buf *b, struct mem *mem);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);           /* len = 0, keeps capacity */
bool buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_append_str(struct buf *b, const char *s);
void buf_append_char(struct buf *b, char c);
void buf_append_u64(struct buf *b, uint64_t v);
void buf_append_i64(struct buf *b, int64_t v);
void buf_appendf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vappendf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Drops the first n bytes. */
void buf_consume(struct buf *b, size_t n);

/* Writes the decimal form of v into out (at least 21 bytes); returns length. */
size_t fmt_u64(char *out, uint64_t v);

#endif
