/*
 * assert.c - the failure path of ASSERT.  Writing to stderr here is the one
 * deliberate exception to the env rule: a broken invariant means the process
 * state can no longer be trusted, including the env.
 */
#include "assert.h"

#include <stdio.h>
#include <stdlib.h>

noreturn void assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "assertion failed: %s (%s:%d)\n", expr, file, line);
	abort();
}
