/*
 * fuzz.h - what every harness shares: the libFuzzer entry point, a reader
 * that turns fuzz bytes into decisions, and the checks that end a run.
 *
 * A harness is one fuzz_<target>.c file defining LLVMFuzzerTestOneInput.
 * The same file links into three programs: the libFuzzer target (clang,
 * -fsanitize=fuzzer), the AFL++ target (afl-clang-fast, same flag) and the
 * regression replay driver (replay_main.c, any compiler).  So a harness
 * never depends on libFuzzer internals and reports a broken property with
 * FUZZ_CHECK, which prints and aborts in every build.
 */
#ifndef FUZZ_FUZZ_H
#define FUZZ_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

#include "lib/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads decisions from the input; reads past the end give zeros, so every
 * input, however short, is a complete program. */
struct fuzz_in {
	const uint8_t *data;
	size_t len;
	size_t pos;
};

void fuzz_in_init(struct fuzz_in *in, const uint8_t *data, size_t len);
bool fuzz_in_done(const struct fuzz_in *in);
uint8_t fuzz_in_u8(struct fuzz_in *in);
uint16_t fuzz_in_u16(struct fuzz_in *in);
/* Up to n bytes taken from the input; *out points into it. */
size_t fuzz_in_take(struct fuzz_in *in, size_t n, const uint8_t **out);

/* A tiny generator for choices that need not be steered byte by byte
 * (split sizes): splitmix64, so a one-byte seed spreads well. */
uint64_t fuzz_rand(uint64_t *state);

/* FNV-1a over the input: picks which allocation an out-of-memory pass
 * makes fail, so the choice is a function of the input alone. */
uint64_t fuzz_hash(const uint8_t *data, size_t len);

noreturn void fuzz_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A property of the code under test does not hold: print and abort. */
#define FUZZ_CHECK(cond, ...) \
	((cond) ? (void)0 : fuzz_fail(__FILE__, __LINE__, __VA_ARGS__))

/* Every byte allocated through m has been freed. */
void fuzz_check_no_leak(const struct mem *m, const char *what);

/* Prints a byte string with escapes to stderr (for failure reports). */
void fuzz_print_bytes(const char *label, const void *data, size_t len);

#endif
