/*
 * fuzz_common.c - helpers shared by the harnesses (see fuzz.h).
 */
#include "fuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fuzz_in_init(struct fuzz_in *in, const uint8_t *data, size_t len)
{
	in->data = data;
	in->len = len;
	in->pos = 0;
}

bool fuzz_in_done(const struct fuzz_in *in)
{
	return in->pos >= in->len;
}

uint8_t fuzz_in_u8(struct fuzz_in *in)
{
	return in->pos < in->len ? in->data[in->pos++] : 0;
}

uint16_t fuzz_in_u16(struct fuzz_in *in)
{
	uint16_t hi = fuzz_in_u8(in);
	return (uint16_t)(hi << 8 | fuzz_in_u8(in));
}

size_t fuzz_in_take(struct fuzz_in *in, size_t n, const uint8_t **out)
{
	size_t left = in->len - in->pos;
	if (n > left)
		n = left;
	*out = in->data + in->pos;
	in->pos += n;
	return n;
}

uint64_t fuzz_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t fuzz_hash(const uint8_t *data, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++) {
		h ^= data[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

void fuzz_print_bytes(const char *label, const void *data, size_t len)
{
	const unsigned char *p = data;
	fprintf(stderr, "  %s (%zu bytes): \"", label, len);
	for (size_t i = 0; i < len && i < 512; i++) {
		if (p[i] == '\\' || p[i] == '"')
			fprintf(stderr, "\\%c", p[i]);
		else if (p[i] >= 0x20 && p[i] < 0x7f)
			fputc(p[i], stderr);
		else
			fprintf(stderr, "\\x%02x", p[i]);
	}
	fprintf(stderr, "%s\"\n", len > 512 ? "..." : "");
}

void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "\nFUZZ CHECK FAILED at %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

void fuzz_check_no_leak(const struct mem *m, const char *what)
{
	FUZZ_CHECK(m->live_bytes == 0, "%s: %zu bytes still allocated", what,
		   m->live_bytes);
}
