/*
 * test_subject.c - subject validity and matching against the rules
 * nats-server 2.9.10 applies (client-protocol.md section 10).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/subject.h"

#define S(x) (x), strlen(x)

struct validity_case {
	const char *s;
	bool valid;      /* subject_is_valid (SUB) */
	bool literal;    /* subject_is_valid_literal (pedantic PUB) */
	bool publish;    /* subject_is_valid_publish */
	bool wildcard;   /* subject_has_wildcard */
};

static const struct validity_case validity_cases[] = {
	{ "foo", true, true, true, false },
	{ "foo.bar", true, true, true, false },
	{ "a.b.c.d.e.f", true, true, true, false },
	{ "a.b*", true, true, true, false },
	{ "a*.b", true, true, true, false },
	{ "*a", true, true, true, false },
	{ "a>", true, true, true, false },
	{ ">a.b", true, true, true, false },
	{ "a.**", true, true, true, false },
	{ "a.>>", true, true, true, false },
	{ "$SYS.REQ", true, true, true, false },
	{ "_INBOX.abc", true, true, true, false },
	{ "caf\xc3\xa9.x", true, true, true, false },
	{ "*", true, false, false, true },
	{ ">", true, false, false, true },
	{ "a.*", true, false, false, true },
	{ "a.>", true, false, false, true },
	{ "*.b", true, false, false, true },
	{ "a.*.c", true, false, false, true },
	{ "*.*.>", true, false, false, true },
	{ "", false, false, false, false },
	{ ".", false, false, false, false },
	{ ".a", false, false, false, false },
	{ "a.", false, false, false, false },
	{ "a..b", false, false, false, false },
	{ "a.>.b", false, false, false, true },
	{ ">.a", false, false, false, true },
	{ ">.>", false, false, false, true },
	{ "a.*.", false, false, false, true },
	/* Whitespace: invalid for SUB; the literal check, like the
	 * reference's, does not look at it. */
	{ "a b", false, true, false, false },
	{ "a\tb", false, true, false, false },
	{ "a\rb", false, true, false, false },
	{ "a\nb", false, true, false, false },
	{ "a\fb", false, true, false, false },
	{ " ", false, true, false, false },
	{ "a. ", false, true, false, false },
	{ "a.\t.b", false, true, false, false },
	{ "a. .*", false, false, false, true },
	/* Vertical tab is not in the reference's set. */
	{ "a\vb", true, true, true, false },
};

START_TEST(test_validity_table)
{
	const struct validity_case *c = &validity_cases[_i];
	size_t len = strlen(c->s);
	ck_assert_msg(subject_is_valid(c->s, len) == c->valid, "valid '%s'", c->s);
	ck_assert_msg(subject_is_valid_literal(c->s, len) == c->literal,
		      "literal '%s'", c->s);
	ck_assert_msg(subject_is_valid_publish(c->s, len) == c->publish,
		      "publish '%s'", c->s);
	ck_assert_msg(subject_has_wildcard(c->s, len) == c->wildcard,
		      "wildcard '%s'", c->s);
}
END_TEST

START_TEST(test_validity_uses_length)
{
	/* Only len bytes count: a valid prefix of an invalid buffer. */
	const char *buf = "foo.bar..baz";
	ck_assert(subject_is_valid(buf, 7));
	ck_assert(!subject_is_valid(buf, 8));
	ck_assert(subject_is_valid("a.>.b", 3));
	/* Embedded NUL is just a byte to the server. */
	ck_assert(subject_is_valid("a\0b", 3));
}
END_TEST

struct match_case {
	const char *subject;
	const char *filter;
	bool match;
};

static const struct match_case match_cases[] = {
	/* The observed table: a.*, a.>, >, *. */
	{ "a.b", "a.*", true }, { "a.b", "a.>", true },
	{ "a.b", ">", true }, { "a.b", "*", false },
	{ "a", "a.*", false }, { "a", "a.>", false },
	{ "a", ">", true }, { "a", "*", true },
	{ "a.b.c", "a.*", false }, { "a.b.c", "a.>", true },
	{ "a.b.c", ">", true }, { "a.b.c", "*", false },
	/* Literals. */
	{ "foo", "foo", true }, { "foo", "fo", false }, { "fo", "foo", false },
	{ "foo.bar", "foo", false }, { "foo", "foo.bar", false },
	{ "Foo", "foo", false },
	/* Partial wildcards. */
	{ "a.b.c", "*.b.c", true }, { "a.b.c", "a.*.c", true },
	{ "a.b.c", "*.*.*", true }, { "a.b.c", "*.*", false },
	{ "a.x.c", "a.*.d", false }, { "a.b", "*.*.*", false },
	/* Full wildcard tails. */
	{ "a.b.c.d", "a.*.>", true }, { "a.b", "a.*.>", false },
	{ "a.b.c", "a.b.c.>", false }, { "x.b.c", "a.>", false },
	/* Wildcard characters inside tokens are literal. */
	{ "a.b*", "a.b*", true }, { "a.bc", "a.b*", false },
	{ "a.x", "a.*x", false }, { "a.>x", "a.>x", true },
	{ "a.b", "a.>x", false },
	/* A published wildcard token is matched as a literal. */
	{ "a.*", "a.*", true }, { "a.*", "a.>", true },
	{ "a.*", "a.b", false }, { "a.>", "a.>", true },
	{ "a.>", "a.*", true }, { "*", "*", true },
	/* Subjects with empty tokens match nothing. */
	{ "", ">", false }, { "a..b", ">", false }, { "a.", "a.>", false },
	{ ".a", ">", false }, { "a..b", "a.*.b", false },
	{ "a", "", false },
};

START_TEST(test_match_table)
{
	const struct match_case *c = &match_cases[_i];
	ck_assert_msg(subject_matches(S(c->subject), S(c->filter)) == c->match,
		      "'%s' vs '%s'", c->subject, c->filter);
}
END_TEST

struct pair_case {
	const char *a;
	const char *b;
	bool subset;     /* a is a subset of b */
	bool overlap;
};

static const struct pair_case pair_cases[] = {
	{ "foo", "foo", true, true },
	{ "foo", "bar", false, false },
	{ "foo.bar", "foo.*", true, true },
	{ "foo.*", "foo.bar", false, true },
	{ "foo.*", "foo.*", true, true },
	{ "foo.*", "foo.>", true, true },
	{ "foo.>", "foo.*", false, true },
	{ "foo.>", ">", true, true },
	{ ">", "foo.>", false, true },
	{ "foo.*", ">", true, true },
	{ "*", ">", true, true },
	{ "*.*", "*", false, false },
	{ "*", "*.*", false, false },
	{ "*.>", ">", true, true },
	{ ">", "*.>", false, true },
	{ "*.bar", "foo.*", false, true },
	{ "foo.*", "*.bar", false, true },
	{ "foo.*.baz", "*.bar.*", false, true },
	{ "foo.*.baz", "*.bar.qux", false, false },
	{ "a.*", "a.b.>", false, false },
	{ "a.b.>", "a.*", false, false },
	{ "a.>", "a", false, false },
	{ "a", "a.>", false, false },
	{ "a.b.c", "a.>", true, true },
	{ "a.>", "a.b.c", false, true },
	{ ">", "*.b.*", false, true },
	{ "a.>", "*.b.*", false, true },
	{ "a.b.>", "a.*.>", true, true },
	{ "a.*.>", "a.b.>", false, true },
	{ "a.>", "a.*.>", false, true },
	{ "a.*.>", "a.>", true, true },
	{ "a.*.c.>", "*.b.*.d.e", false, true },
	{ "a.b*", "a.*", true, true },
	{ "a.b", "a.*b", false, false },
	{ "a.*", "a.*b", false, true },
	/* Invalid input never subsets or overlaps. */
	{ "", "", false, false },
	{ "a..b", ">", false, false },
	{ ">", "a.", false, false },
};

START_TEST(test_subset_overlap_table)
{
	const struct pair_case *c = &pair_cases[_i];
	ck_assert_msg(subject_is_subset(S(c->a), S(c->b)) == c->subset,
		      "subset '%s' of '%s'", c->a, c->b);
	ck_assert_msg(subject_overlaps(S(c->a), S(c->b)) == c->overlap,
		      "overlap '%s' '%s'", c->a, c->b);
	/* Overlap is symmetric whatever the order. */
	ck_assert_msg(subject_overlaps(S(c->b), S(c->a)) == c->overlap,
		      "overlap '%s' '%s'", c->b, c->a);
}
END_TEST

/* A plain tokenizing matcher to hold the byte-level one to. */
static size_t split_tokens(const char *s, size_t len, const char *tok[], size_t tl[])
{
	size_t n = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		tok[n] = s + start;
		tl[n++] = i - start;
		start = i + 1;
	}
	return n;
}

static bool model_matches(const char *s, size_t sl, const char *f, size_t fl)
{
	const char *st[16], *ft[16];
	size_t sn[16], fn[16];
	if (sl == 0 || fl == 0)
		return false;
	size_t ns = split_tokens(s, sl, st, sn), nf = split_tokens(f, fl, ft, fn);
	for (size_t i = 0; i < ns; i++)
		if (sn[i] == 0)
			return false;
	for (size_t i = 0; i < nf; i++) {
		if (i == ns)
			return false;
		if (fn[i] == 1 && ft[i][0] == '>' && i + 1 == nf)
			return true;
		if (fn[i] == 1 && ft[i][0] == '*')
			continue;
		if (fn[i] != sn[i] || memcmp(ft[i], st[i], fn[i]) != 0)
			return false;
	}
	return ns == nf;
}

START_TEST(test_match_random_strings)
{
	/* Every corner of the byte-level matcher: dots anywhere, wildcard
	 * characters inside and outside tokens. */
	static const char alphabet[] = "ab.*>";
	unsigned state = 777;
	for (int iter = 0; iter < 300000; iter++) {
		char s[8], f[8];
		size_t sl = (size_t)rand_r(&state) % 8, fl = (size_t)rand_r(&state) % 8;
		for (size_t i = 0; i < sl; i++)
			s[i] = alphabet[rand_r(&state) % 5];
		for (size_t i = 0; i < fl; i++)
			f[i] = alphabet[rand_r(&state) % 5];
		bool want = model_matches(s, sl, f, fl);
		if (subject_matches(s, sl, f, fl) != want)
			ck_abort_msg("'%.*s' vs '%.*s' want %d", (int)sl, s, (int)fl, f, want);
	}
}
END_TEST

START_TEST(test_token_count)
{
	ck_assert_uint_eq(subject_token_count(S("")), 0);
	ck_assert_uint_eq(subject_token_count(S("a")), 1);
	ck_assert_uint_eq(subject_token_count(S("a.b")), 2);
	ck_assert_uint_eq(subject_token_count(S("a.b.c.>")), 4);
	ck_assert_uint_eq(subject_token_count(S("a..b")), 3);
	ck_assert_uint_eq(subject_token_count(S(".")), 2);
	ck_assert_uint_eq(subject_token_count("a.b.c", 3), 2);
}
END_TEST

/* Small alphabet so that random subjects collide often. */
static size_t random_subject(unsigned *state, char *out, bool filter)
{
	static const char *const toks[] = { "a", "b", "c", "*", ">", "ab" };
	size_t n = 1 + (size_t)(rand_r(state) % 4), len = 0;
	for (size_t i = 0; i < n; i++) {
		size_t k = (size_t)rand_r(state) % (filter ? 6 : 3);
		if (filter && k == 4 && i + 1 != n)
			k = 3;
		if (i > 0)
			out[len++] = '.';
		size_t tl = strlen(toks[k]);
		memcpy(out + len, toks[k], tl);
		len += tl;
	}
	out[len] = '\0';
	return len;
}

/* Enumerates every literal of up to 5 tokens over {a, b, c, ab}. */
static bool literals_agree(const char *a, size_t al, const char *b, size_t bl,
			   bool want_subset, bool want_overlap)
{
	static const char *const toks[] = { "a", "b", "c", "ab" };
	bool any_both = false, a_not_b = false;
	for (unsigned code = 0; code < 4 * 4 * 4 * 4 * 4 * 5; code++) {
		unsigned n = code % 5 + 1, rest = code / 5;
		char lit[64];
		size_t len = 0;
		for (unsigned i = 0; i < n; i++, rest /= 4) {
			if (i > 0)
				lit[len++] = '.';
			size_t tl = strlen(toks[rest % 4]);
			memcpy(lit + len, toks[rest % 4], tl);
			len += tl;
		}
		bool ma = subject_matches(lit, len, a, al);
		bool mb = subject_matches(lit, len, b, bl);
		any_both |= ma && mb;
		a_not_b |= ma && !mb;
	}
	/* Up to 4 filter tokens, so 5-token literals witness every '>'. */
	return any_both == want_overlap && !a_not_b == want_subset;
}

START_TEST(test_subset_overlap_agree_with_matching)
{
	unsigned state = 12345;
	for (int iter = 0; iter < 400; iter++) {
		char a[64], b[64];
		size_t al = random_subject(&state, a, true);
		size_t bl = random_subject(&state, b, true);
		ck_assert(subject_is_valid(a, al) && subject_is_valid(b, bl));
		bool sub = subject_is_subset(a, al, b, bl);
		bool ov = subject_overlaps(a, al, b, bl);
		ck_assert_msg(literals_agree(a, al, b, bl, sub, ov),
			      "'%s' '%s' subset %d overlap %d", a, b, sub, ov);
	}
}
END_TEST

static Suite *subject_suite(void)
{
	Suite *s = suite_create("subject");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_validity_table, 0,
			    (int)(sizeof(validity_cases) / sizeof(validity_cases[0])));
	tcase_add_test(tc, test_validity_uses_length);
	tcase_add_loop_test(tc, test_match_table, 0,
			    (int)(sizeof(match_cases) / sizeof(match_cases[0])));
	tcase_add_loop_test(tc, test_subset_overlap_table, 0,
			    (int)(sizeof(pair_cases) / sizeof(pair_cases[0])));
	tcase_add_test(tc, test_match_random_strings);
	tcase_add_test(tc, test_token_count);
	tcase_add_test(tc, test_subset_overlap_agree_with_matching);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(subject_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
