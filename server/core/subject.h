/*
 * subject.h - subject validation and matching, as nats-server 2.9.10 does it.
 *
 * A subject is a non-empty sequence of non-empty tokens separated by '.',
 * without whitespace (space, tab, CR, LF, FF).  '*' and '>' are wildcards only
 * when they are a whole token; '>' must be the last token.
 */
#ifndef CORE_SUBJECT_H
#define CORE_SUBJECT_H

#include <stdbool.h>
#include <stddef.h>

/* Valid for SUB: wildcards allowed as whole tokens, '>' last. */
bool subject_is_valid(const char *s, size_t len);
/* Valid for a pedantic PUB (the reference's IsValidLiteralSubject): no empty
 * token and no wildcard token.  Like the reference it does not look for
 * whitespace, which the protocol parser has already split on. */
bool subject_is_valid_literal(const char *s, size_t len);
/* subject_is_valid and no wildcard token (the reference's
 * IsValidPublishSubject, used e.g. for mapping and reply subjects). */
bool subject_is_valid_publish(const char *s, size_t len);
/* True when some token is exactly "*" or ">". */
bool subject_has_wildcard(const char *s, size_t len);
/* Does the literal subject match the (possibly wildcard) filter?  Every
 * subject token is literal, as in the trie: "a.*" published matches a filter
 * "a.*" but not "a.b".  False when the subject has an empty token. */
bool subject_matches(const char *subject, size_t subject_len,
		     const char *filter, size_t filter_len);
/* Is every subject matched by filter a also matched by filter b? */
bool subject_is_subset(const char *a, size_t a_len, const char *b, size_t b_len);
/* Can some literal subject match both filters? */
bool subject_overlaps(const char *a, size_t a_len, const char *b, size_t b_len);
/* Number of tokens. */
size_t subject_token_count(const char *s, size_t len);

#endif
