/*
 * transform.h - subject transforms: a source filter and a destination
 * template, as nats-server 2.9.10 uses them for account mappings and for
 * stream and service imports whose subjects differ.
 *
 * Destination tokens: literals, "$n" or "{{wildcard(n)}}" (the n-th '*' of
 * the source), "{{partition(k,n...)}}" (FNV-1a of the named wildcards
 * modulo k), "{{splitFromLeft(n,pos)}}", "{{splitFromRight(n,pos)}}",
 * "{{sliceFromLeft(n,size)}}", "{{sliceFromRight(n,size)}}" and
 * "{{split(n,delim)}}"; a trailing '>' copies the rest of the subject.
 * A transform is immutable after creation.
 */
#ifndef CORE_TRANSFORM_H
#define CORE_TRANSFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "../lib/buf.h"
#include "../lib/mem.h"

#define TRANSFORM_MAX_TOKENS 128

struct transform;

/* NULL with a reason in err (when err is not NULL) if src or dest is
 * unusable, like the reference's newTransform. */
struct transform *transform_new(struct mem *mem, const char *src,
				const char *dest, struct buf *err);
void transform_free(struct transform *t);
/* Writes the transformed form of the literal subject (which is assumed to
 * match the source) into out, replacing its content.  False when the
 * subject has too many tokens or memory ran out. */
bool transform_apply(const struct transform *t, const char *subject,
		     size_t len, struct buf *out);
/* The inverse transform (dest back to src), or NULL.  Only transforms whose
 * placeholders are plain wildcards can be reversed. */
struct transform *transform_reverse(struct mem *mem, const struct transform *t);
/* A copy of subject with each '*' token replaced by $1, $2, ... (the form
 * a destination template needs); NULL when memory ran out. */
char *transform_tokenize(struct mem *mem, const char *subject);
const char *transform_source(const struct transform *t);
const char *transform_dest(const struct transform *t);

#endif
