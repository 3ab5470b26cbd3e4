/*
 * fuzz_canary.c - a harness with a planted bug, to prove the fuzzing
 * machinery finds one.
 *
 * It reads the input as little records (a tag byte and a length-prefixed
 * body) into a buffer from the counting allocator; when a record's body
 * starts with the 4 bytes "N" "@" "t" "S", reached through four separate
 * comparisons, it reads one byte past the end of its buffer: a heap
 * buffer overflow that only AddressSanitizer sees.  So a campaign that
 * does not report this target as crashed has a broken build (no
 * instrumentation, no sanitizer), a broken driver, or a broken report.
 *
 * The canary is never replayed (its purpose is to crash), and its corpus
 * must never contain the magic.
 */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"

/* Not "NATS": the protocol dictionary must not hand the fuzzer the key. */
#define MAGIC0 'N'
#define MAGIC1 '@'
#define MAGIC2 't'
#define MAGIC3 'S'

static unsigned canary_record(struct mem *mem, const uint8_t *body, size_t len)
{
	unsigned sum = 0;
	uint8_t *copy = mem_alloc(mem, len > 0 ? len : 1);
	FUZZ_CHECK(copy != NULL, "harness out of memory");
	if (len > 0)
		memcpy(copy, body, len);
	size_t n = len;
	if (len >= 4 && copy[0] == MAGIC0) {
		if (copy[1] == MAGIC1) {
			if (copy[2] == MAGIC2) {
				if (copy[3] == MAGIC3)
					n = len + 1;   /* the planted bug */
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		sum += copy[i];
	mem_free(mem, copy);
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in;
	struct mem mem;
	volatile unsigned sink = 0;
	fuzz_in_init(&in, data, size);
	mem_init(&mem);
	while (!fuzz_in_done(&in)) {
		uint8_t tag = fuzz_in_u8(&in);
		const uint8_t *body;
		size_t len = fuzz_in_take(&in, fuzz_in_u8(&in) % 32u, &body);
		if (tag == 'R')
			sink += canary_record(&mem, body, len);
	}
	(void)sink;
	fuzz_check_no_leak(&mem, "canary");
	return 0;
}
