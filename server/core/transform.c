/*
 * transform.c - subject transforms (see transform.h), with the semantics of
 * nats-server 2.9.10's newTransform/transform/reverse.
 *
 * A transform keeps the destination as a list of parsed tokens, each a
 * literal or a function over source wildcard positions.  Applying it
 * tokenizes the subject into a fixed array (no allocation besides the
 * output buffer).
 *
 * Invariants: every wildcard index stored in a token is a valid source
 * token position; when the source has no wildcard the destination is
 * copied verbatim.
 */
#include "transform.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/assert.h"

enum tf_kind {
	TF_LITERAL = 0,
	TF_WILDCARD,
	TF_PARTITION,
	TF_SPLIT_LEFT,
	TF_SPLIT_RIGHT,
	TF_SLICE_LEFT,
	TF_SLICE_RIGHT,
	TF_SPLIT,
};

#define TF_MAX_ARGS 16

struct tf_token {
	enum tf_kind kind;
	char *text;               /* literal text (owned), or the split delimiter */
	size_t len;
	int pos[TF_MAX_ARGS];     /* source token positions (0-based) */
	int npos;
	int64_t iarg;             /* partitions, split position or slice size */
};

struct transform {
	struct mem *mem;
	char *src;                /* owned */
	char *dest;               /* owned */
	size_t src_ntok;
	bool has_fwc;             /* both end in '>' */
	bool verbatim;            /* source has no wildcard: dest as is */
	struct tf_token *toks;    /* destination tokens */
	size_t ntoks;
};

struct tok {
	const char *p;
	size_t len;
};

/* Splits s on '.'; false if there are more than cap tokens. */
static bool split_tokens(const char *s, size_t len, struct tok *out, size_t cap,
			 size_t *n)
{
	size_t start = 0;
	*n = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (*n == cap)
			return false;
		out[*n].p = s + start;
		out[(*n)++].len = i - start;
		start = i + 1;
	}
	return true;
}

static bool tok_is(const struct tok *t, char c)
{
	return t->len == 1 && t->p[0] == c;
}

/* ------------------------------------------------------------ parsing */

static const char *skip_blank(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static bool parse_int(const char *p, const char *end, int64_t *out)
{
	p = skip_blank(p, end);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (p == end)
		return false;
	bool neg = *p == '-';
	if (neg || *p == '+')
		p++;
	if (p == end)
		return false;
	int64_t v = 0;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9' || v > 100000000)
			return false;
		v = v * 10 + (*p - '0');
	}
	*out = neg ? -v : v;
	return true;
}

/* Case-insensitive on the first letter of each word, like the reference's
 * regular expressions ("[sS]plit[fF]rom[lL]eft"). */
static bool fn_name_is(const char *p, size_t len, const char *name)
{
	if (strlen(name) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char a = p[i], b = name[i];
		if (i == 0 || (b >= 'A' && b <= 'Z')) {
			a = (char)(a >= 'A' && a <= 'Z' ? a + 32 : a);
			b = (char)(b >= 'A' && b <= 'Z' ? b + 32 : b);
		}
		if (a != b)
			return false;
	}
	return true;
}

struct fn_args {
	const char *a[TF_MAX_ARGS + 1];
	const char *e[TF_MAX_ARGS + 1];
	int n;
};

/* "{{name(args)}}" -> name and comma-separated args. */
static bool parse_fn(const struct tok *t, const char **name, size_t *name_len,
		     struct fn_args *args)
{
	const char *p = t->p + 2, *end = t->p + t->len - 2;
	p = skip_blank(p, end);
	const char *n0 = p;
	while (p < end && *p != '(' && *p != ' ')
		p++;
	*name = n0;
	*name_len = (size_t)(p - n0);
	p = skip_blank(p, end);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (p >= end || *p != '(' || end[-1] != ')')
		return false;
	p++;
	end--;
	args->n = 0;
	const char *s = p;
	for (const char *q = p; q <= end; q++) {
		if (q < end && *q != ',')
			continue;
		if (args->n > TF_MAX_ARGS)
			return false;
		args->a[args->n] = s;
		args->e[args->n++] = q;
		s = q + 1;
	}
	return true;
}

static bool set_wildcard_arg(struct tf_token *tk, const char *a, const char *e,
			     const int *wc_pos, int nwc)
{
	int64_t idx;
	if (!parse_int(a, e, &idx) || idx < 1 || idx > nwc || tk->npos == TF_MAX_ARGS)
		return false;
	tk->pos[tk->npos++] = wc_pos[idx - 1];
	return true;
}

static bool parse_fn_token(struct mem *mem, const struct tok *t, struct tf_token *tk,
			   const int *wc_pos, int nwc)
{
	static const struct {
		const char *name;
		enum tf_kind kind;
	} fns[] = {
		{ "wildcard", TF_WILDCARD }, { "partition", TF_PARTITION },
		{ "splitFromLeft", TF_SPLIT_LEFT }, { "splitFromRight", TF_SPLIT_RIGHT },
		{ "sliceFromLeft", TF_SLICE_LEFT }, { "sliceFromRight", TF_SLICE_RIGHT },
		{ "split", TF_SPLIT },
	};
	const char *name;
	size_t nlen;
	struct fn_args a;
	if (!parse_fn(t, &name, &nlen, &a))
		return false;
	tk->kind = TF_LITERAL;
	for (size_t i = 0; i < ARRAY_LEN(fns); i++)
		if (fn_name_is(name, nlen, fns[i].name))
			tk->kind = fns[i].kind;
	switch (tk->kind) {
	case TF_WILDCARD:
		return a.n == 1 && set_wildcard_arg(tk, a.a[0], a.e[0], wc_pos, nwc);
	case TF_PARTITION:
		if (a.n < 2 || !parse_int(a.a[0], a.e[0], &tk->iarg) || tk->iarg <= 0)
			return false;
		for (int i = 1; i < a.n; i++)
			if (!set_wildcard_arg(tk, a.a[i], a.e[i], wc_pos, nwc))
				return false;
		return true;
	case TF_SPLIT: {
		if (a.n != 2 || !set_wildcard_arg(tk, a.a[0], a.e[0], wc_pos, nwc))
			return false;
		size_t dl = (size_t)(a.e[1] - a.a[1]);
		if (dl == 0 || memchr(a.a[1], ' ', dl) || memchr(a.a[1], '.', dl))
			return false;
		tk->text = mem_strndup(mem, a.a[1], dl);
		tk->len = dl;
		return tk->text != NULL;
	}
	case TF_LITERAL:
		return false;
	default:
		return a.n == 2 && set_wildcard_arg(tk, a.a[0], a.e[0], wc_pos, nwc) &&
		       parse_int(a.a[1], a.e[1], &tk->iarg);
	}
}

/* One destination token; *placeholder says whether it used wildcards. */
static bool parse_dest_token(struct mem *mem, const struct tok *t, struct tf_token *tk,
			     const int *wc_pos, int nwc, bool *placeholder)
{
	*placeholder = false;
	if (t->len > 1 && t->p[0] == '$') {
		int64_t idx;
		if (parse_int(t->p + 1, t->p + t->len, &idx)) {
			*placeholder = true;
			tk->kind = TF_WILDCARD;
			return idx >= 1 && idx <= nwc &&
			       (tk->pos[tk->npos++] = wc_pos[idx - 1], true);
		}
	} else if (t->len > 4 && t->p[0] == '{' && t->p[1] == '{' &&
		   t->p[t->len - 1] == '}' && t->p[t->len - 2] == '}') {
		*placeholder = true;
		return parse_fn_token(mem, t, tk, wc_pos, nwc);
	}
	tk->kind = TF_LITERAL;
	tk->text = mem_strndup(mem, t->p, t->len);
	tk->len = t->len;
	return tk->text != NULL;
}

static void fail(struct buf *err, const char *why, const char *src, const char *dest)
{
	if (err != NULL)
		buf_appendf(err, "%s (\"%s\" to \"%s\")", why, src, dest);
}

static bool build_tokens(struct transform *t, const struct tok *st, size_t sn,
			 const struct tok *dt, size_t dn, struct buf *err)
{
	int wc_pos[TRANSFORM_MAX_TOKENS];
	int nwc = 0;
	for (size_t i = 0; i < sn; i++)
		if (tok_is(&st[i], '*'))
			wc_pos[nwc++] = (int)i;
	t->toks = mem_calloc(t->mem, dn, sizeof(*t->toks));
	if (t->toks == NULL)
		return false;
	t->ntoks = dn;
	int used = 0;
	for (size_t i = 0; i < dn; i++) {
		bool ph;
		if (!parse_dest_token(t->mem, &dt[i], &t->toks[i], wc_pos, nwc, &ph)) {
			fail(err, "invalid mapping destination", t->src, t->dest);
			return false;
		}
		used += ph;
	}
	if (used < nwc) {
		fail(err, "not all wildcards are used in the destination", t->src, t->dest);
		return false;
	}
	return true;
}

struct transform *transform_new(struct mem *mem, const char *src,
				const char *dest, struct buf *err)
{
	struct tok st[TRANSFORM_MAX_TOKENS], dt[TRANSFORM_MAX_TOKENS];
	size_t sn, dn;
	if (!split_tokens(src, strlen(src), st, ARRAY_LEN(st), &sn) ||
	    !split_tokens(dest, strlen(dest), dt, ARRAY_LEN(dt), &dn)) {
		fail(err, "too many tokens", src, dest);
		return NULL;
	}
	bool swc = false, sfwc = false, dfwc = false, ok = src[0] && dest[0];
	for (size_t i = 0; i < sn; i++) {
		ok = ok && st[i].len > 0 && (!tok_is(&st[i], '>') || i == sn - 1);
		swc |= tok_is(&st[i], '*');
		sfwc |= tok_is(&st[i], '>');
	}
	for (size_t i = 0; i < dn; i++) {
		ok = ok && dt[i].len > 0 && !tok_is(&dt[i], '*') &&
		     (!tok_is(&dt[i], '>') || i == dn - 1);
		dfwc |= tok_is(&dt[i], '>');
	}
	if (!ok || sfwc != dfwc) {
		fail(err, "invalid subject", src, dest);
		return NULL;
	}
	struct transform *t = mem_calloc(mem, 1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->mem = mem;
	t->src = mem_strdup(mem, src);
	t->dest = mem_strdup(mem, dest);
	t->src_ntok = sn;
	t->has_fwc = sfwc;
	t->verbatim = !swc && !sfwc;
	if (t->src == NULL || t->dest == NULL ||
	    (!t->verbatim && !build_tokens(t, st, sn, dt, dn, err))) {
		transform_free(t);
		return NULL;
	}
	return t;
}

void transform_free(struct transform *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->ntoks; i++)
		mem_free(t->mem, t->toks[i].text);
	mem_free(t->mem, t->toks);
	mem_free(t->mem, t->src);
	mem_free(t->mem, t->dest);
	mem_free(t->mem, t);
}

const char *transform_source(const struct transform *t)
{
	return t->src;
}

const char *transform_dest(const struct transform *t)
{
	return t->dest;
}

/* ------------------------------------------------------------ applying */

static uint32_t fnv1a(const struct tok *toks, const struct tf_token *tk)
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < tk->npos; i++) {
		const struct tok *s = &toks[tk->pos[i]];
		for (size_t j = 0; j < s->len; j++) {
			h ^= (unsigned char)s->p[j];
			h *= 16777619u;
		}
	}
	return h;
}

static void apply_split(struct buf *out, const struct tok *s, const char *d, size_t dl)
{
	/* Empty pieces are dropped, as the reference does. */
	bool first = true;
	size_t start = 0;
	for (size_t i = 0; i <= s->len; i++) {
		bool at = i + dl <= s->len && memcmp(s->p + i, d, dl) == 0;
		if (i < s->len && !at)
			continue;
		if (i > start) {
			if (!first)
				buf_append_char(out, '.');
			buf_append(out, s->p + start, i - start);
			first = false;
		}
		if (at)
			i += dl - 1;
		start = i + 1;
	}
}

static void apply_slice(struct buf *out, const struct tok *s, int64_t size,
			bool from_right)
{
	size_t n = s->len, sz = (size_t)size;
	if (size <= 0 || sz >= n) {
		buf_append(out, s->p, n);
		return;
	}
	size_t first = from_right ? n % sz : sz;
	if (first == 0)
		first = sz;
	buf_append(out, s->p, first);
	for (size_t i = first; i < n; i += sz) {
		buf_append_char(out, '.');
		buf_append(out, s->p + i, MIN(sz, n - i));
	}
}

static void apply_token(struct buf *out, const struct tok *toks,
			const struct tf_token *tk)
{
	const struct tok *s = tk->npos > 0 ? &toks[tk->pos[0]] : NULL;
	size_t pos = (size_t)tk->iarg;
	switch (tk->kind) {
	case TF_LITERAL:
		buf_append(out, tk->text, tk->len);
		break;
	case TF_WILDCARD:
		buf_append(out, s->p, s->len);
		break;
	case TF_PARTITION:
		buf_append_u64(out, fnv1a(toks, tk) % (uint32_t)tk->iarg);
		break;
	case TF_SPLIT_LEFT:
	case TF_SPLIT_RIGHT:
		if (tk->iarg > 0 && pos < s->len) {
			size_t at = tk->kind == TF_SPLIT_LEFT ? pos : s->len - pos;
			buf_append(out, s->p, at);
			buf_append_char(out, '.');
			buf_append(out, s->p + at, s->len - at);
		} else {
			buf_append(out, s->p, s->len);
		}
		break;
	case TF_SLICE_LEFT:
	case TF_SLICE_RIGHT:
		apply_slice(out, s, tk->iarg, tk->kind == TF_SLICE_RIGHT);
		break;
	case TF_SPLIT:
		apply_split(out, s, tk->text, tk->len);
		break;
	}
}

bool transform_apply(const struct transform *t, const char *subject,
		     size_t len, struct buf *out)
{
	buf_reset(out);
	if (t->verbatim) {
		buf_append_str(out, t->dest);
		return !out->oom;
	}
	struct tok toks[TRANSFORM_MAX_TOKENS];
	size_t n;
	if (!split_tokens(subject, len, toks, ARRAY_LEN(toks), &n) || n < t->src_ntok)
		return false;
	for (size_t i = 0; i < t->ntoks; i++) {
		const struct tf_token *tk = &t->toks[i];
		if (tk->kind == TF_LITERAL && tk->len == 1 && tk->text[0] == '>')
			break;
		if (i > 0)
			buf_append_char(out, '.');
		apply_token(out, toks, tk);
	}
	if (t->has_fwc) {
		for (size_t i = t->src_ntok - 1; i < n; i++) {
			if (out->len > 0)
				buf_append_char(out, '.');
			buf_append(out, toks[i].p, toks[i].len);
		}
	}
	return !out->oom;
}

/* ------------------------------------------------------------ reverse */

char *transform_tokenize(struct mem *mem, const char *subject)
{
	struct buf b;
	buf_init(&b, mem);
	int n = 1;
	const char *s = subject;
	while (true) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		if (l == 1 && s[0] == '*')
			buf_appendf(&b, "$%d", n++);
		else
			buf_append(&b, s, l);
		if (dot == NULL)
			break;
		buf_append_char(&b, '.');
		s = dot + 1;
	}
	if (b.oom || !buf_reserve(&b, 0)) {
		buf_free(&b);
		return NULL;
	}
	return b.data;
}

struct transform *transform_reverse(struct mem *mem, const struct transform *t)
{
	if (t->verbatim)
		return transform_new(mem, t->dest, t->src, NULL);
	/* New source: the destination with placeholders as '*'.  New
	 * destination: the source with its i-th '*' replaced by the index
	 * of the placeholder that used it. */
	struct buf nsrc, ndst;
	buf_init(&nsrc, mem);
	buf_init(&ndst, mem);
	int order[TRANSFORM_MAX_TOKENS];
	int nph = 0;
	for (size_t i = 0; i < t->ntoks; i++) {
		const struct tf_token *tk = &t->toks[i];
		if (i > 0)
			buf_append_char(&nsrc, '.');
		if (tk->kind == TF_LITERAL) {
			buf_append(&nsrc, tk->text, tk->len);
		} else if (tk->kind == TF_WILDCARD) {
			buf_append_char(&nsrc, '*');
			order[nph++] = tk->pos[0];
		} else {
			buf_free(&nsrc);
			return NULL;
		}
	}
	struct tok st[TRANSFORM_MAX_TOKENS];
	size_t sn;
	split_tokens(t->src, strlen(t->src), st, ARRAY_LEN(st), &sn);
	for (size_t i = 0; i < sn; i++) {
		if (i > 0)
			buf_append_char(&ndst, '.');
		int ph = 0;
		for (int k = 0; k < nph; k++)
			if (order[k] == (int)i)
				ph = k + 1;
		if (ph > 0)
			buf_appendf(&ndst, "$%d", ph);
		else
			buf_append(&ndst, st[i].p, st[i].len);
	}
	struct transform *r = NULL;
	if (!nsrc.oom && !ndst.oom && buf_reserve(&nsrc, 0) && buf_reserve(&ndst, 0))
		r = transform_new(mem, nsrc.data, ndst.data, NULL);
	buf_free(&nsrc);
	buf_free(&ndst);
	return r;
}
