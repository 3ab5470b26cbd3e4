/*
 * ytree.c - YAML to a positioned tree with libyaml's event parser, and
 * typed readers; see ytree.h.
 *
 * Owns every node of a document.  Numbers are parsed with integer
 * arithmetic only (no floating point), so a value reads the same on every
 * machine.
 */
#include "ytree.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "world.h"

#define YDEPTH_MAX 64

struct ybuild {
	yaml_parser_t p;
	const char *file;
	char *err;
	size_t cap;
};

static int ybuild_fail(struct ybuild *b, int line, int col, const char *what)
{
	snprintf(b->err, b->cap, "%s:%d:%d: %s", b->file, line, col, what);
	return -1;
}

static int ybuild_next(struct ybuild *b, yaml_event_t *ev)
{
	if (yaml_parser_parse(&b->p, ev))
		return 0;
	const char *what = b->p.problem ? b->p.problem : "invalid YAML";
	char msg[256];
	if (b->p.context != NULL)
		snprintf(msg, sizeof(msg), "%s %s", b->p.context, what);
	else
		snprintf(msg, sizeof(msg), "%s", what);
	return ybuild_fail(b, (int)b->p.problem_mark.line + 1,
			   (int)b->p.problem_mark.column + 1, msg);
}

static void ynode_free(struct ynode *n)
{
	if (n == NULL)
		return;
	for (uint32_t i = 0; n->type == Y_SEQ && i < n->n; i++)
		ynode_free(n->items[i]);
	for (uint32_t i = 0; n->type == Y_MAP && i < n->n; i++) {
		ynode_free(n->kv[i].key);
		ynode_free(n->kv[i].value);
	}
	free(n->items);
	free(n->kv);
	free(n->text);
	free(n);
}

static struct ynode *ynode_new(enum ynode_type t, const yaml_event_t *ev)
{
	struct ynode *n = sim_xcalloc(1, sizeof(*n));
	n->type = t;
	n->line = (int)ev->start_mark.line + 1;
	n->col = (int)ev->start_mark.column + 1;
	return n;
}

static int ybuild_node(struct ybuild *b, yaml_event_t *ev, int depth,
		       struct ynode **out);

static bool has_anchor(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT: return ev->data.scalar.anchor != NULL;
	case YAML_SEQUENCE_START_EVENT:
		return ev->data.sequence_start.anchor != NULL;
	case YAML_MAPPING_START_EVENT:
		return ev->data.mapping_start.anchor != NULL;
	default: return false;
	}
}

static int ybuild_children(struct ybuild *b, struct ynode *n, int depth,
			   yaml_event_type_t end)
{
	for (;;) {
		yaml_event_t ev;
		if (ybuild_next(b, &ev) != 0)
			return -1;
		if (ev.type == end) {
			yaml_event_delete(&ev);
			return 0;
		}
		struct ynode *child = NULL;
		if (ybuild_node(b, &ev, depth + 1, &child) != 0)
			return -1;
		if (n->type == Y_SEQ) {
			n->items = sim_xrealloc(n->items,
						(n->n + 1) * sizeof(*n->items));
			n->items[n->n++] = child;
			continue;
		}
		if (child->type != Y_SCALAR) {
			ybuild_fail(b, child->line, child->col,
				    "map keys must be plain names");
			ynode_free(child);
			return -1;
		}
		for (uint32_t i = 0; i < n->n; i++) {
			if (strcmp(n->kv[i].key->text, child->text) == 0) {
				char msg[160];
				snprintf(msg, sizeof(msg), "duplicate key '%.100s'",
					 child->text);
				ybuild_fail(b, child->line, child->col, msg);
				ynode_free(child);
				return -1;
			}
		}
		yaml_event_t vev;
		struct ynode *value = NULL;
		if (ybuild_next(b, &vev) != 0 ||
		    ybuild_node(b, &vev, depth + 1, &value) != 0) {
			ynode_free(child);
			return -1;
		}
		n->kv = sim_xrealloc(n->kv, (n->n + 1) * sizeof(*n->kv));
		n->kv[n->n].key = child;
		n->kv[n->n].value = value;
		n->n++;
	}
}

/* Builds the node that starts with ev (which it consumes). */
static int ybuild_node(struct ybuild *b, yaml_event_t *ev, int depth,
		       struct ynode **out)
{
	int line = (int)ev->start_mark.line + 1;
	int col = (int)ev->start_mark.column + 1;
	if (depth > YDEPTH_MAX || ev->type == YAML_ALIAS_EVENT ||
	    has_anchor(ev)) {
		yaml_event_delete(ev);
		return ybuild_fail(b, line, col, depth > YDEPTH_MAX
				   ? "nested too deeply"
				   : "anchors and aliases are not supported");
	}
	struct ynode *n = NULL;
	int rc = 0;
	if (ev->type == YAML_SCALAR_EVENT) {
		n = ynode_new(Y_SCALAR, ev);
		n->len = ev->data.scalar.length;
		n->text = sim_xcalloc(1, n->len + 1);
		memcpy(n->text, ev->data.scalar.value, n->len);
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	} else if (ev->type == YAML_SEQUENCE_START_EVENT) {
		n = ynode_new(Y_SEQ, ev);
		rc = ybuild_children(b, n, depth, YAML_SEQUENCE_END_EVENT);
	} else if (ev->type == YAML_MAPPING_START_EVENT) {
		n = ynode_new(Y_MAP, ev);
		rc = ybuild_children(b, n, depth, YAML_MAPPING_END_EVENT);
	} else {
		rc = ybuild_fail(b, line, col, "unexpected YAML event");
	}
	yaml_event_delete(ev);
	if (rc != 0) {
		ynode_free(n);
		return -1;
	}
	*out = n;
	return 0;
}

static int ybuild_doc(struct ybuild *b, struct ydoc *d)
{
	yaml_event_t ev;
	int rc = 0;
	bool in_doc = false;
	while (rc == 0) {
		if (ybuild_next(b, &ev) != 0)
			return -1;
		yaml_event_type_t t = ev.type;
		if (t == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (t == YAML_DOCUMENT_START_EVENT && d->root != NULL) {
			rc = ybuild_fail(b, (int)ev.start_mark.line + 1, 1,
					 "only one YAML document is allowed");
			yaml_event_delete(&ev);
			break;
		}
		if (t == YAML_DOCUMENT_START_EVENT || t == YAML_DOCUMENT_END_EVENT ||
		    t == YAML_STREAM_START_EVENT) {
			in_doc = t == YAML_DOCUMENT_START_EVENT;
			yaml_event_delete(&ev);
			continue;
		}
		if (!in_doc) {
			yaml_event_delete(&ev);
			continue;
		}
		rc = ybuild_node(b, &ev, 0, &d->root);
	}
	return rc;
}

static char *read_whole(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return NULL;
	size_t cap = 4096, n = 0;
	char *data = sim_xcalloc(1, cap);
	size_t k;
	while ((k = fread(data + n, 1, cap - n - 1, fp)) > 0) {
		n += k;
		if (cap - n - 1 == 0) {
			cap *= 2;
			data = sim_xrealloc(data, cap);
		}
	}
	fclose(fp);
	data[n] = '\0';
	*len = n;
	return data;
}

int ydoc_load(struct ydoc *d, const char *path, const char *text, size_t len,
	      char *err, size_t cap)
{
	memset(d, 0, sizeof(*d));
	d->file = sim_xstrdup(path);
	char *owned = NULL;
	if (text == NULL) {
		owned = read_whole(path, &len);
		if (owned == NULL) {
			snprintf(err, cap, "%s: cannot read the file", path);
			return -1;
		}
		text = owned;
	}
	struct ybuild b = { .file = path, .err = err, .cap = cap };
	yaml_parser_initialize(&b.p);
	yaml_parser_set_input_string(&b.p, (const unsigned char *)text, len);
	int rc = ybuild_doc(&b, d);
	yaml_parser_delete(&b.p);
	free(owned);
	return rc;
}

void ydoc_free(struct ydoc *d)
{
	ynode_free(d->root);
	free(d->file);
	d->root = NULL;
	d->file = NULL;
}

/* ------------------------------------------------------- typed reading */

bool yfail(struct yctx *x, const struct ynode *n, const char *fmt, ...)
{
	if (x->failed)
		return false;
	x->failed = true;
	int k = snprintf(x->err, x->cap, "%s:%d:%d: ", x->file,
			 n ? n->line : 0, n ? n->col : 0);
	if (k < 0 || (size_t)k >= x->cap)
		return false;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->err + k, x->cap - (size_t)k, fmt, ap);
	va_end(ap);
	return false;
}

const struct ynode *ymap_get(const struct ynode *map, const char *key)
{
	if (map == NULL || map->type != Y_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->n; i++)
		if (strcmp(map->kv[i].key->text, key) == 0)
			return map->kv[i].value;
	return NULL;
}

bool yis_null(const struct ynode *n)
{
	return n == NULL || (n->type == Y_SCALAR && n->plain &&
			     (n->len == 0 || strcmp(n->text, "~") == 0 ||
			      strcmp(n->text, "null") == 0));
}

bool yexpect(struct yctx *x, const struct ynode *n, enum ynode_type t,
	     const char *what)
{
	if (n != NULL && n->type == t)
		return true;
	static const char *const names[] = { "", "a value", "a list", "a map" };
	return yfail(x, n, "%s must be %s", what, names[t]);
}

bool yget_str(struct yctx *x, const struct ynode *n, char **out)
{
	if (n == NULL || n->type != Y_SCALAR || yis_null(n))
		return yfail(x, n, "expected a text value");
	free(*out);
	*out = sim_xstrdup(n->text);
	return true;
}

bool yget_bool(struct yctx *x, const struct ynode *n, bool *out)
{
	if (n != NULL && n->type == Y_SCALAR) {
		const char *t = n->text;
		if (!strcmp(t, "true") || !strcmp(t, "yes") || !strcmp(t, "on")) {
			*out = true;
			return true;
		}
		if (!strcmp(t, "false") || !strcmp(t, "no") || !strcmp(t, "off")) {
			*out = false;
			return true;
		}
	}
	return yfail(x, n, "expected true or false");
}

/* Parses an unsigned decimal with an optional fraction: *whole and the
 * fraction scaled to 1e9 in *frac_e9.  Returns the characters used. */
static size_t parse_decimal(const char *s, uint64_t *whole, uint64_t *frac_e9)
{
	size_t i = 0;
	*whole = 0;
	*frac_e9 = 0;
	while (s[i] >= '0' && s[i] <= '9' && *whole < 1000000000000ULL)
		*whole = *whole * 10 + (uint64_t)(s[i++] - '0');
	if (s[i] == '.') {
		uint64_t scale = 100000000;
		for (i++; s[i] >= '0' && s[i] <= '9'; i++) {
			*frac_e9 += (uint64_t)(s[i] - '0') * scale;
			scale /= 10;
		}
	}
	return i;
}

bool yget_int(struct yctx *x, const struct ynode *n, int64_t min, int64_t max,
	      int64_t *out)
{
	if (n == NULL || n->type != Y_SCALAR || n->len == 0)
		return yfail(x, n, "expected a whole number");
	const char *s = n->text;
	bool neg = s[0] == '-';
	uint64_t v, frac;
	size_t k = parse_decimal(s + neg, &v, &frac);
	if (k == 0 || s[neg + k] != '\0' || frac != 0 || strchr(s, '.'))
		return yfail(x, n, "expected a whole number, not '%s'", s);
	int64_t r = neg ? -(int64_t)v : (int64_t)v;
	if (r < min || r > max)
		return yfail(x, n, "%s is out of range [%lld, %lld]", s,
			     (long long)min, (long long)max);
	*out = r;
	return true;
}

static int64_t dur_unit(const char *u, size_t *len)
{
	static const struct { const char *name; int64_t ns; } units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 },
		{ "ms", 1000000 }, { "s", 1000000000 },
		{ "m", 60 * 1000000000LL }, { "h", 3600 * 1000000000LL },
	};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t n = strlen(units[i].name);
		if (strncmp(u, units[i].name, n) == 0 &&
		    !(n == 1 && u[0] == 'm' && u[1] == 's')) {
			*len = n;
			return units[i].ns;
		}
	}
	return 0;
}

bool yget_dur(struct yctx *x, const struct ynode *n, bool allow_negative,
	      int64_t *out_ns)
{
	if (n == NULL || n->type != Y_SCALAR || n->len == 0)
		return yfail(x, n, "expected a duration such as 500ms or 2s");
	const char *s = n->text;
	bool neg = s[0] == '-';
	if (neg && !allow_negative)
		return yfail(x, n, "a negative duration is not allowed here");
	if (strcmp(s + neg, "0") == 0) {
		*out_ns = 0;
		return true;
	}
	__int128 total = 0;
	size_t i = neg;
	while (s[i] != '\0') {
		uint64_t whole, frac;
		size_t k = parse_decimal(s + i, &whole, &frac), ul = 0;
		int64_t unit = k > 0 ? dur_unit(s + i + k, &ul) : 0;
		if (unit == 0)
			return yfail(x, n, "bad duration '%s' (use e.g. 250ms, "
				     "1.5s, 2m, 1h)", s);
		total += (__int128)whole * unit +
			 (__int128)frac * unit / 1000000000;
		if (total > (__int128)INT64_MAX / 2)
			return yfail(x, n, "duration '%s' is too long", s);
		i += k + ul;
	}
	*out_ns = neg ? -(int64_t)total : (int64_t)total;
	return true;
}

bool yget_size(struct yctx *x, const struct ynode *n, uint64_t *out)
{
	static const struct { const char *suffix; uint64_t mul; } units[] = {
		{ "", 1 }, { "B", 1 }, { "KB", 1000 }, { "MB", 1000000 },
		{ "GB", 1000000000 }, { "KiB", 1024 }, { "MiB", 1048576 },
		{ "GiB", 1073741824 }, { "K", 1024 }, { "M", 1048576 },
		{ "G", 1073741824 },
	};
	if (n == NULL || n->type != Y_SCALAR || n->len == 0)
		return yfail(x, n, "expected a size such as 4096, 64KiB or 1MB");
	uint64_t whole, frac;
	size_t k = parse_decimal(n->text, &whole, &frac);
	for (size_t i = 0; k > 0 && i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(n->text + k, units[i].suffix) == 0) {
			*out = whole * units[i].mul +
			       (uint64_t)((__int128)frac * units[i].mul /
					  1000000000);
			return true;
		}
	}
	return yfail(x, n, "bad size '%s' (use e.g. 4096, 64KiB, 1MiB, 10MB)",
		     n->text);
}

bool yget_prob(struct yctx *x, const struct ynode *n, uint32_t *out_ppm)
{
	if (n == NULL || n->type != Y_SCALAR || n->len == 0)
		return yfail(x, n, "expected a probability such as 0.1 or 10%%");
	uint64_t whole, frac;
	size_t k = parse_decimal(n->text, &whole, &frac);
	bool pct = n->text[k] == '%' && n->text[k + 1] == '\0';
	if (k == 0 || (!pct && n->text[k] != '\0'))
		return yfail(x, n, "bad probability '%s'", n->text);
	uint64_t ppm = whole * 1000000 + frac / 1000;
	if (pct)
		ppm /= 100;
	if (ppm > 1000000)
		return yfail(x, n, "probability '%s' is above 1", n->text);
	*out_ppm = (uint32_t)ppm;
	return true;
}

bool yget_names(struct yctx *x, const struct ynode *n, char ***out,
		uint32_t *count)
{
	if (n != NULL && n->type == Y_SCALAR && !yis_null(n)) {
		*out = sim_xcalloc(1, sizeof(**out));
		(*out)[0] = sim_xstrdup(n->text);
		*count = 1;
		return true;
	}
	if (n == NULL || n->type != Y_SEQ || n->n == 0)
		return yfail(x, n, "expected a name or a list of names");
	*out = sim_xcalloc(n->n, sizeof(**out));
	*count = 0;
	for (uint32_t i = 0; i < n->n; i++) {
		if (n->items[i]->type != Y_SCALAR)
			return yfail(x, n->items[i], "expected a name");
		(*out)[(*count)++] = sim_xstrdup(n->items[i]->text);
	}
	return true;
}

bool ykeys_allowed(struct yctx *x, const struct ynode *map, const char *what,
		   const char *const *allowed)
{
	if (!yexpect(x, map, Y_MAP, what))
		return false;
	for (uint32_t i = 0; i < map->n; i++) {
		bool ok = false;
		for (const char *const *a = allowed; *a != NULL && !ok; a++)
			ok = strcmp(*a, map->kv[i].key->text) == 0;
		if (ok)
			continue;
		char list[512] = "";
		size_t used = 0;
		for (const char *const *a = allowed; *a != NULL; a++) {
			int w = snprintf(list + used, sizeof(list) - used, "%s%s",
					 used ? ", " : "", *a);
			if (w < 0 || (size_t)w >= sizeof(list) - used)
				break;
			used += (size_t)w;
		}
		return yfail(x, map->kv[i].key, "unknown key '%s' in %s "
			     "(known: %s)", map->kv[i].key->text, what, list);
	}
	return true;
}
