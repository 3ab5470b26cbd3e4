/*
 * assert.h - invariant checks that stay on in every build.
 *
 * A broken invariant is a bug: ASSERT prints where and aborts.  Never use it
 * on input from a peer, a file or a config; those are operating errors.
 */
#ifndef LIB_ASSERT_H
#define LIB_ASSERT_H

#include <stdnoreturn.h>

noreturn void assert_fail(const char *expr, const char *file, int line);

#define ASSERT(expr) \
	((expr) ? (void)0 : assert_fail(#expr, __FILE__, __LINE__))

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define UNUSED(x) ((void)(x))

#endif
