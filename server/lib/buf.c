/*
 * buf.c - growable byte buffer; see buf.h.
 */
#include "buf.h"

#include <stdio.h>
#include <string.h>

#include "assert.h"

void buf_init(struct buf *b, struct mem *mem)
{
	memset(b, 0, sizeof(*b));
	b->mem = mem;
}

void buf_free(struct buf *b)
{
	mem_free(b->mem, b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	b->oom = false;
	if (b->data != NULL)
		b->data[0] = '\0';
}

bool buf_reserve(struct buf *b, size_t extra)
{
	if (b->oom)
		return false;
	if (extra > SIZE_MAX / 2 - b->len) {
		b->oom = true;
		return false;
	}
	size_t need = b->len + extra;
	if (need <= b->cap && b->data != NULL)
		return true;
	size_t cap = b->cap < 64 ? 64 : b->cap;
	while (cap < need)
		cap *= 2;
	char *p = mem_realloc(b->mem, b->data, cap + 1);
	if (p == NULL) {
		b->oom = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void buf_append(struct buf *b, const void *data, size_t len)
{
	if (!buf_reserve(b, len))
		return;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void buf_append_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_append_char(struct buf *b, char c)
{
	buf_append(b, &c, 1);
}

/* Two digits per division: ack subjects and PubAcks format several
 * numbers for every message. */
static const char fmt_digits2[] =
	"00010203040506070809101112131415161718192021222324252627282930313233"
	"34353637383940414243444546474849505152535455565758596061626364656667"
	"6869707172737475767778798081828384858687888990919293949596979899";

size_t fmt_u64(char *out, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);
	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		i -= 2;
		memcpy(tmp + i, fmt_digits2 + 2 * r, 2);
	}
	if (v >= 10) {
		i -= 2;
		memcpy(tmp + i, fmt_digits2 + 2 * v, 2);
	} else {
		tmp[--i] = (char)('0' + v);
	}
	size_t n = sizeof(tmp) - i;
	memcpy(out, tmp + i, n);
	return n;
}

void buf_append_u64(struct buf *b, uint64_t v)
{
	char tmp[21];
	buf_append(b, tmp, fmt_u64(tmp, v));
}

void buf_append_i64(struct buf *b, int64_t v)
{
	if (v < 0) {
		buf_append_char(b, '-');
		buf_append_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		buf_append_u64(b, (uint64_t)v);
	}
}

void buf_vappendf(struct buf *b, const char *fmt, va_list ap)
{
	va_list copy;
	va_copy(copy, ap);
	int n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0 || !buf_reserve(b, (size_t)n))
		return;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vappendf(b, fmt, ap);
	va_end(ap);
}

void buf_consume(struct buf *b, size_t n)
{
	ASSERT(n <= b->len);
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	if (b->data != NULL)
		b->data[b->len] = '\0';
}
