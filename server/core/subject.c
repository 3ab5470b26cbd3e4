/*
 * subject.c - subject validation and wildcard matching.
 *
 * Owns no state.  Validity rules follow nats-server 2.9.10: a subject is a
 * non-empty sequence of non-empty tokens separated by '.', with no space,
 * tab, CR, LF or FF; '*' and '>' are wildcards only as whole tokens, and a
 * '>' token must be the last one.  Matching treats every token of a
 * published subject as a literal, so a PUB to "a.*" reaches a SUB on "a.*"
 * (the filter's '*' matches the token "*"), exactly as the trie does.
 */
#include "subject.h"

#include <string.h>

/* Walks the '.'-separated tokens of a string, empty tokens included. */
struct subject_iter {
	const char *s;
	size_t len;
	size_t pos;
	bool done;
};

static void subject_iter_init(struct subject_iter *it, const char *s, size_t len)
{
	it->s = s;
	it->len = len;
	it->pos = 0;
	it->done = len == 0;
}

static bool subject_iter_next(struct subject_iter *it, const char **tok, size_t *tok_len)
{
	if (it->done)
		return false;
	const char *start = it->s + it->pos;
	size_t left = it->len - it->pos;
	const char *dot = memchr(start, '.', left);
	*tok = start;
	if (dot == NULL) {
		*tok_len = left;
		it->done = true;
	} else {
		*tok_len = (size_t)(dot - start);
		it->pos += *tok_len + 1;
	}
	return true;
}

static bool subject_is_space(char c)
{
	/* The reference's set: no vertical tab, no other Unicode spaces. */
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}

static bool token_is(const char *t, size_t tl, char c)
{
	return tl == 1 && t[0] == c;
}

/* Non-empty with no empty token: what every matching function requires. */
static bool subject_tokens_nonempty(const char *s, size_t len)
{
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 1; i < len; i++)
		if (s[i] == '.' && s[i - 1] == '.')
			return false;
	return true;
}

bool subject_is_valid(const char *s, size_t len)
{
	if (len == 0)
		return false;
	size_t start = 0;
	bool after_fwc = false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.') {
			if (subject_is_space(s[i]))
				return false;
			continue;
		}
		size_t tl = i - start;
		if (tl == 0 || after_fwc)
			return false;
		if (token_is(s + start, tl, '>'))
			after_fwc = true;
		start = i + 1;
	}
	return true;
}

bool subject_is_valid_literal(const char *s, size_t len)
{
	if (!subject_tokens_nonempty(s, len))
		return false;
	return !subject_has_wildcard(s, len);
}

bool subject_is_valid_publish(const char *s, size_t len)
{
	return subject_is_valid(s, len) && !subject_has_wildcard(s, len);
}

bool subject_has_wildcard(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '*' && s[i] != '>')
			continue;
		if ((i == 0 || s[i - 1] == '.') && (i + 1 == len || s[i + 1] == '.'))
			return true;
	}
	return false;
}

/* Is the rest of a subject, from a token start, one or more non-empty
 * tokens? */
static bool subject_rest_nonempty(const char *s, size_t len)
{
	return len > 0 && subject_tokens_nonempty(s, len);
}

/*
 * One pass over both strings, byte by byte: this runs for every cached
 * subject when a wildcard sub comes or goes, so it avoids a tokenizer.
 */
bool subject_matches(const char *subject, size_t subject_len,
		     const char *filter, size_t filter_len)
{
	const char *s = subject, *f = filter;
	size_t sl = subject_len, fl = filter_len, i = 0, j = 0;
	if (sl == 0 || fl == 0)
		return false;
	for (;;) {
		/* Both i and j are at the start of a token here. */
		bool whole = j + 1 == fl || f[j + 1] == '.';
		if (f[j] == '*' && whole) {
			size_t start = i;
			while (i < sl && s[i] != '.')
				i++;
			if (i == start)
				return false;
			j++;
		} else if (f[j] == '>' && j + 1 == fl) {
			/* '>' not in last place is not a wildcard: it is
			 * compared as text below. */
			return subject_rest_nonempty(s + i, sl - i);
		} else {
			if (f[j] == '.')
				return false;
			while (j < fl && f[j] != '.') {
				if (i >= sl || s[i] != f[j])
					return false;
				i++;
				j++;
			}
			if (i < sl && s[i] != '.')
				return false;
		}
		if (j == fl)
			return i == sl;
		if (i == sl)
			return false;
		i++;
		j++;
		/* A trailing '.' leaves an empty last token. */
		if (i == sl || j == fl)
			return false;
	}
}

bool subject_is_subset(const char *a, size_t a_len, const char *b, size_t b_len)
{
	if (!subject_tokens_nonempty(a, a_len) || !subject_tokens_nonempty(b, b_len))
		return false;
	struct subject_iter ai, bi;
	subject_iter_init(&ai, a, a_len);
	subject_iter_init(&bi, b, b_len);
	const char *at = NULL, *bt = NULL;
	size_t al = 0, bl = 0;
	for (;;) {
		bool ha = subject_iter_next(&ai, &at, &al);
		bool hb = subject_iter_next(&bi, &bt, &bl);
		if (!ha || !hb)
			return ha == hb;
		if (token_is(bt, bl, '>') && bi.done)
			return true;
		/* a reaches arbitrary lengths here, b does not. */
		if (token_is(at, al, '>') && ai.done)
			return false;
		if (token_is(bt, bl, '*'))
			continue;
		if (token_is(at, al, '*'))
			return false;
		if (al != bl || memcmp(at, bt, al) != 0)
			return false;
	}
}

bool subject_overlaps(const char *a, size_t a_len, const char *b, size_t b_len)
{
	if (!subject_tokens_nonempty(a, a_len) || !subject_tokens_nonempty(b, b_len))
		return false;
	struct subject_iter ai, bi;
	subject_iter_init(&ai, a, a_len);
	subject_iter_init(&bi, b, b_len);
	const char *at = NULL, *bt = NULL;
	size_t al = 0, bl = 0;
	for (;;) {
		bool ha = subject_iter_next(&ai, &at, &al);
		bool hb = subject_iter_next(&bi, &bt, &bl);
		if (!ha || !hb)
			return ha == hb;
		if ((token_is(at, al, '>') && ai.done) ||
		    (token_is(bt, bl, '>') && bi.done))
			return true;
		if (token_is(at, al, '*') || token_is(bt, bl, '*'))
			continue;
		if (al != bl || memcmp(at, bt, al) != 0)
			return false;
	}
}

size_t subject_token_count(const char *s, size_t len)
{
	if (len == 0)
		return 0;
	size_t n = 1;
	for (const char *p = s, *end = s + len;
	     (p = memchr(p, '.', (size_t)(end - p))) != NULL; p++)
		n++;
	return n;
}
