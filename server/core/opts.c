/*
 * opts.c - server options: defaults, and the mapping from a parsed
 * configuration (struct conf_doc) to struct opts, option by option as in
 * nats-server 2.9.10 (server/opts.go; reference config-format.md).
 *
 * Owns: every string and array hanging off struct opts, allocated from the
 * mem given to opts_from_conf and released by opts_free.  Default strings
 * point at a constant and are never freed (see opts_str_free).
 *
 * Rules kept from the reference: option names match case-insensitively,
 * with the reference's aliases; an unknown name is an error in every block
 * the reference checks, unless the key was only used as a $variable; when a
 * map holds the same key twice the last one counts.  Options recognised but
 * not implemented by this server are listed in opts_unimplemented[] and
 * reported in opts->unsupported.  Unlike the reference, which collects every
 * error, parsing stops at the first fatal one; warnings go to
 * opts->warnings.  Nothing here depends on map iteration order: entries
 * are handled in file order.
 */
#include "opts.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/assert.h"

#define NS_PER_SEC 1000000000LL
#define NS_PER_MIN (60 * NS_PER_SEC)

static const char opts_default_host[] = "0.0.0.0";

/*
 * Recognised but not implemented yet: canonical dotted paths (first name of
 * each alias list; account names left out).  A block listed here covers
 * everything inside it.  Remove an entry when its feature lands.
 */
static const char opts_unimplemented[][48] = {
	"tls", "ocsp", "allow_non_tls",
	"websocket", "mqtt",
	"cluster", "gateway",
	"operator", "resolver", "resolver_tls", "resolver_preload",
	"resolver_pinned_accounts", "trusted",
	"syslog", "remote_syslog", "prof_port",
	"https", "https_port",
	"lame_duck_duration", "lame_duck_grace_period",
	"jetstream.key", "jetstream.cipher", "jetstream.max_outstanding_catchup",
	"jetstream.limits.max_ha_assets", "jetstream.unique_tag",
	"leafnodes.tls", "leafnodes.remotes.tls", "leafnodes.remotes.ws_compression",
	"leafnodes.remotes.ws_no_masking", "leafnodes.remotes.jetstream_cluster_migrate",
	"accounts.exports.latency", "accounts.imports.share",
};

struct opts_ctx {
	struct opts *o;
	struct mem *mem;
	struct buf *err;
	bool failed;
	const struct conf_node *auth_node;   /* top-level authorization block */
	bool auth_users_given;               /* it had a users list */
	const struct conf_node *acc_users_node; /* first account with users */
	bool js_enable;                      /* jetstream { enabled: ... } */
	const struct conf_node *no_auth_node;   /* no_auth_user, for checks */
	const struct conf_node *js_domain_node; /* default_js_domain */
};

/*
 * Field handlers are named in this list and called through a switch
 * (opts_dispatch): tables of function pointers would need relocations and
 * land outside read-only data in position-independent builds.
 */
#define OPTS_HANDLERS(X) \
	X(opts_acc_default_perms) \
	X(opts_acc_exports) \
	X(opts_acc_imports) \
	X(opts_acc_jetstream) \
	X(opts_acc_limits) \
	X(opts_acc_mappings) \
	X(opts_acc_nkey) \
	X(opts_acc_users) \
	X(opts_auth_leaf_users) \
	X(opts_auth_perms) \
	X(opts_auth_users) \
	X(opts_check_listen) \
	X(opts_check_simple_auth) \
	X(opts_check_strings) \
	X(opts_check_tls) \
	X(opts_cluster_auth) \
	X(opts_cluster_listen) \
	X(opts_cluster_perms) \
	X(opts_cluster_routes) \
	X(opts_dest_cluster) \
	X(opts_dest_subject) \
	X(opts_dest_weight) \
	X(opts_exp_accounts) \
	X(opts_exp_latency) \
	X(opts_exp_record) \
	X(opts_exp_token_pos) \
	X(opts_gw_auth) \
	X(opts_gw_gateways) \
	X(opts_gw_listen) \
	X(opts_gw_remote_url) \
	X(opts_gw_remote_urls) \
	X(opts_imp_record) \
	X(opts_js_cipher) \
	X(opts_js_domain) \
	X(opts_js_dup_window) \
	X(opts_js_enable) \
	X(opts_js_limits) \
	X(opts_js_store_dir) \
	X(opts_js_sync) \
	X(opts_js_unique_tag) \
	X(opts_leaf_auth) \
	X(opts_leaf_listen) \
	X(opts_leaf_min_version) \
	X(opts_leaf_reconnect) \
	X(opts_leaf_remotes) \
	X(opts_mqtt_pending) \
	X(opts_perm_allow) \
	X(opts_perm_deny) \
	X(opts_perm_publish) \
	X(opts_perm_responses) \
	X(opts_perm_subscribe) \
	X(opts_remote_deny_exports) \
	X(opts_remote_deny_imports) \
	X(opts_remote_urls) \
	X(opts_resp_expires) \
	X(opts_resp_max) \
	X(opts_tls_nonempty_list) \
	X(opts_tls_pinned) \
	X(opts_top_accounts) \
	X(opts_top_authorization) \
	X(opts_top_cluster) \
	X(opts_top_default_js_domain) \
	X(opts_top_gateway) \
	X(opts_top_http) \
	X(opts_top_https) \
	X(opts_top_int32) \
	X(opts_top_jetstream) \
	X(opts_top_lame_duck) \
	X(opts_top_leafnodes) \
	X(opts_top_listen) \
	X(opts_top_mappings) \
	X(opts_top_mqtt) \
	X(opts_top_no_auth_user) \
	X(opts_top_ocsp) \
	X(opts_top_preload) \
	X(opts_top_resolver) \
	X(opts_top_server_tags) \
	X(opts_top_store_dir) \
	X(opts_top_sub_tokens) \
	X(opts_top_trace_verbose) \
	X(opts_top_trusted) \
	X(opts_top_websocket) \
	X(opts_user_conn_types) \
	X(opts_user_perms)

enum opts_handler {
	OPTS_H_NONE = 0,
#define OPTS_H_ENUM(fn) OPTS_H_##fn,
	OPTS_HANDLERS(OPTS_H_ENUM)
#undef OPTS_H_ENUM
};

static int opts_dispatch(enum opts_handler h, struct opts_ctx *x, const char *key,
			 const struct conf_node *v, void *target);

enum opts_kind {
	OPTS_K_FN,        /* custom handler */
	OPTS_K_STR,       /* char * */
	OPTS_K_INT,       /* int64_t */
	OPTS_K_BOOL,      /* bool */
	OPTS_K_PORT,      /* int, -1..65535 */
	OPTS_K_DURATION,  /* int64_t ns: "2m", or integer seconds with a warning */
	OPTS_K_SECONDS,   /* int64_t ns: a number of seconds, may be fractional */
	OPTS_K_SIZE,      /* int64_t bytes: integer or "10G" */
	OPTS_K_ANY,       /* recognised; the value is not used */
};

#define OPTS_NOSTORE SIZE_MAX

/* Pointer-free, so the tables stay in read-only data. */
struct opts_field {
	char names[80];               /* canonical name first, then aliases */
	enum opts_kind kind;
	size_t off;                   /* in the walk's target, or OPTS_NOSTORE */
	enum opts_handler fn;         /* OPTS_K_FN only */
};

#define OPTS_F(names, kind, type, field) \
	{ names, kind, offsetof(type, field), OPTS_H_NONE }
#define OPTS_CHECK(names, kind) { names, kind, OPTS_NOSTORE, OPTS_H_NONE }
#define OPTS_FN(names, fn) { names, OPTS_K_FN, OPTS_NOSTORE, OPTS_H_##fn }

/* How the reference words "unknown key" in a given block. */
enum opts_unknown {
	OPTS_UNK_FIELD,
	OPTS_UNK_PERMS,
	OPTS_UNK_SUBJECT_PERMS,
	OPTS_UNK_LIMITS,
	OPTS_UNK_MAP_DEST,
	OPTS_UNK_TLS,
};

/* ------------------------------------------------------------------ */
/* Diagnostics                                                         */

static void opts_vfail(struct opts_ctx *x, const char *file, int line, int col,
		       const char *fmt, va_list ap)
{
	if (x->failed)
		return;
	x->failed = true;
	if (file != NULL && col > 0)
		buf_appendf(x->err, "%s:%d:%d: ", file, line, col);
	else if (file != NULL)
		buf_appendf(x->err, "%s:%d: ", file, line);
	buf_vappendf(x->err, fmt, ap);
}

__attribute__((format(printf, 3, 4)))
static int opts_fail(struct opts_ctx *x, const struct conf_node *at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	opts_vfail(x, at ? at->file : NULL, at ? at->line : 0, at ? at->col : 0, fmt, ap);
	va_end(ap);
	return -1;
}

__attribute__((format(printf, 4, 5)))
static int opts_fail_line(struct opts_ctx *x, const char *file, int line,
			  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	opts_vfail(x, file, line, 0, fmt, ap);
	va_end(ap);
	return -1;
}

static int opts_oom(struct opts_ctx *x)
{
	return opts_fail(x, NULL, "out of memory");
}

static void *opts_grow(struct opts_ctx *x, void *arr, size_t n, size_t size)
{
	void *p = NULL;
	if (n < SIZE_MAX / size - 1)
		p = mem_realloc(x->mem, arr, (n + 1) * size);
	if (p == NULL) {
		opts_oom(x);
		return NULL;
	}
	memset((char *)p + n * size, 0, size);
	return p;
}

/* Appends a zeroed element to arr (n counts); out points at it, or NULL. */
#define OPTS_APPEND(x, arr, n, out) do {                                     \
	void *np_ = opts_grow((x), (arr), (n), sizeof(*(arr)));              \
	(out) = NULL;                                                        \
	if (np_ != NULL) {                                                   \
		(arr) = np_;                                                 \
		(out) = &(arr)[(n)++];                                       \
	}                                                                    \
} while (0)

/* The file name table keeps names valid after the conf_doc is gone. */
static const char *opts_file(struct opts_ctx *x, const char *file)
{
	struct opts *o = x->o;
	if (file == NULL)
		return NULL;
	for (size_t i = 0; i < o->n_file_names; i++) {
		if (strcmp(o->file_names[i], file) == 0)
			return o->file_names[i];
	}
	char *copy = mem_strdup(x->mem, file);
	char **slot;
	if (copy == NULL)
		return NULL;
	OPTS_APPEND(x, o->file_names, o->n_file_names, slot);
	if (slot == NULL) {
		mem_free(x->mem, copy);
		return NULL;
	}
	*slot = copy;
	return copy;
}

__attribute__((format(printf, 3, 4)))
static void opts_warn(struct opts_ctx *x, const struct conf_node *at, const char *fmt, ...)
{
	struct buf b;
	char **slot;
	buf_init(&b, x->mem);
	buf_appendf(&b, "%s:%d:%d: ", at->file, at->line, at->col);
	va_list ap;
	va_start(ap, fmt);
	buf_vappendf(&b, fmt, ap);
	va_end(ap);
	if (b.oom) {
		buf_free(&b);
		opts_oom(x);
		return;
	}
	OPTS_APPEND(x, x->o->warnings, x->o->n_warnings, slot);
	if (slot == NULL) {
		buf_free(&b);
		return;
	}
	*slot = b.data;   /* the buf's storage becomes the message */
}

static bool opts_path_unimplemented(const char *path)
{
	for (size_t i = 0; i < ARRAY_LEN(opts_unimplemented); i++) {
		const char *u = opts_unimplemented[i];
		size_t n = strlen(u);
		if (strncmp(path, u, n) == 0 && (path[n] == '\0' || path[n] == '.'))
			return true;
	}
	return false;
}

/* Records path if it is in opts_unimplemented; covers nested keys once. */
static int opts_note(struct opts_ctx *x, const char *path, const struct conf_node *at)
{
	struct opts *o = x->o;
	if (!opts_path_unimplemented(path))
		return 0;
	const char *dot = strrchr(path, '.');
	if (dot != NULL) {
		char parent[128];
		snprintf(parent, sizeof(parent), "%.*s", (int)(dot - path), path);
		if (opts_path_unimplemented(parent))
			return 0;   /* the enclosing block is already reported */
	}
	struct opts_unsupported *u;
	char *key = mem_strdup(x->mem, path);
	const char *file = opts_file(x, at->file);
	if (key == NULL || file == NULL) {
		mem_free(x->mem, key);
		return opts_oom(x);
	}
	OPTS_APPEND(x, o->unsupported, o->n_unsupported, u);
	if (u == NULL) {
		mem_free(x->mem, key);
		return -1;
	}
	u->key = key;
	u->file = file;
	u->line = at->line;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Strings                                                             */

static void opts_str_free(struct mem *mem, char **field)
{
	if (*field != opts_default_host)
		mem_free(mem, *field);
	*field = NULL;
}

int opts_set_string(struct mem *mem, char **field, const char *value)
{
	char *copy = NULL;
	if (value != NULL && (copy = mem_strdup(mem, value)) == NULL)
		return -1;
	opts_str_free(mem, field);
	*field = copy;
	return 0;
}

static int opts_set_str(struct opts_ctx *x, char **field, const char *value)
{
	if (opts_set_string(x->mem, field, value) < 0)
		return opts_oom(x);
	return 0;
}

static bool opts_ieq(const char *a, const char *b, size_t blen)
{
	size_t i = 0;
	for (; i < blen && a[i] != '\0'; i++) {
		char ca = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] + 32) : a[i];
		char cb = b[i] >= 'A' && b[i] <= 'Z' ? (char)(b[i] + 32) : b[i];
		if (ca != cb)
			return false;
	}
	return i == blen && a[i] == '\0';
}

static bool opts_word(const char *s, const char *word)
{
	return opts_ieq(s, word, strlen(word));
}

static void opts_subjects_free(struct mem *mem, struct opts_subject_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		mem_free(mem, l->items[i]);
	mem_free(mem, l->items);
	l->items = NULL;
	l->n = 0;
}

static void opts_strv_free(struct mem *mem, char ***items, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		mem_free(mem, (*items)[i]);
	mem_free(mem, *items);
	*items = NULL;
	*n = 0;
}

static int opts_strv_push(struct opts_ctx *x, char ***items, size_t *n, const char *s)
{
	char *copy = mem_strdup(x->mem, s);
	char **slot;
	if (copy == NULL)
		return opts_oom(x);
	OPTS_APPEND(x, *items, *n, slot);
	if (slot == NULL) {
		mem_free(x->mem, copy);
		return -1;
	}
	*slot = copy;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Typed values                                                        */

static const char *opts_type(const struct conf_node *v)
{
	switch (v->type) {
	case CONF_MAP: return "a map";
	case CONF_ARRAY: return "an array";
	case CONF_STRING: return "a string";
	case CONF_INT: return "an integer";
	case CONF_FLOAT: return "a float";
	case CONF_BOOL: return "a boolean";
	case CONF_DATETIME: return "a date";
	}
	return "a value";
}

static int opts_want(struct opts_ctx *x, const char *key, const struct conf_node *v,
		     enum conf_type t, const char *what)
{
	if (v->type == t)
		return 0;
	return opts_fail(x, v, "\"%s\": expected %s, got %s", key, what, opts_type(v));
}

static int opts_get_str(struct opts_ctx *x, const char *key, const struct conf_node *v,
			char **out)
{
	if (opts_want(x, key, v, CONF_STRING, "a string") < 0)
		return -1;
	return out == NULL ? 0 : opts_set_str(x, out, v->u.str.s);
}

static int opts_get_int(struct opts_ctx *x, const char *key, const struct conf_node *v,
			int64_t *out)
{
	if (opts_want(x, key, v, CONF_INT, "an integer") < 0)
		return -1;
	if (out != NULL)
		*out = v->u.i;
	return 0;
}

static int opts_get_bool(struct opts_ctx *x, const char *key, const struct conf_node *v,
			 bool *out)
{
	if (opts_want(x, key, v, CONF_BOOL, "a boolean") < 0)
		return -1;
	if (out != NULL)
		*out = v->u.b;
	return 0;
}

static int opts_check_port(struct opts_ctx *x, const char *key, const struct conf_node *v,
			   int64_t port)
{
	if (port < -1 || port > 65535)
		return opts_fail(x, v, "\"%s\": port %lld is out of range", key,
				 (long long)port);
	return 0;
}

static int opts_get_port(struct opts_ctx *x, const char *key, const struct conf_node *v,
			 int *out)
{
	int64_t p;
	if (opts_get_int(x, key, v, &p) < 0 || opts_check_port(x, key, v, p) < 0)
		return -1;
	if (out != NULL)
		*out = (int)p;
	return 0;
}

static int opts_seconds_ns(struct opts_ctx *x, const char *key, const struct conf_node *v,
			   int64_t secs, int64_t *out)
{
	if (secs > INT64_MAX / NS_PER_SEC || secs < INT64_MIN / NS_PER_SEC)
		return opts_fail(x, v, "\"%s\": %lld seconds is out of range", key,
				 (long long)secs);
	if (out != NULL)
		*out = secs * NS_PER_SEC;
	return 0;
}

/* A duration string, or (old style) an integer number of seconds, which the
 * reference accepts with a warning. */
static int opts_get_duration(struct opts_ctx *x, const char *key, const struct conf_node *v,
			     int64_t *out)
{
	int64_t ns;
	if (v->type == CONF_STRING) {
		if (opts_parse_duration(v->u.str.s, &ns) < 0)
			return opts_fail(x, v, "error parsing %s: time: invalid duration \"%s\"",
					 key, v->u.str.s);
		if (out != NULL)
			*out = ns;
		return 0;
	}
	if (v->type != CONF_INT)
		return opts_fail(x, v, "\"%s\": expected a duration such as \"2m\", got %s",
				 key, opts_type(v));
	opts_warn(x, v, "invalid use of field \"%s\": %s should be converted to a duration",
		  key, key);
	return opts_seconds_ns(x, key, v, v->u.i, out);
}

/* Auth and TLS timeouts: seconds as an integer or float (or, beyond the
 * reference, a duration string). */
static int opts_get_seconds(struct opts_ctx *x, const char *key, const struct conf_node *v,
			    int64_t *out)
{
	if (v->type == CONF_INT)
		return opts_seconds_ns(x, key, v, v->u.i, out);
	if (v->type == CONF_STRING)
		return opts_get_duration(x, key, v, out);
	if (v->type != CONF_FLOAT)
		return opts_fail(x, v, "\"%s\": expected a number of seconds, got %s", key,
				 opts_type(v));
	double f = v->u.f;
	if (!(f > -9.2e9 && f < 9.2e9))
		return opts_fail(x, v, "\"%s\": %s seconds is out of range", key, v->raw);
	if (out != NULL)
		*out = (int64_t)(f * (double)NS_PER_SEC);
	return 0;
}

/* JetStream sizes: an integer, or a string "<n>K|M|G|T" (powers of 1024). */
static int opts_get_size(struct opts_ctx *x, const char *key, const struct conf_node *v,
			 int64_t *out)
{
	if (v->type == CONF_INT) {
		if (out != NULL)
			*out = v->u.i;
		return 0;
	}
	if (v->type != CONF_STRING)
		return opts_fail(x, v, "%s must be int64 or string", key);
	const char *s = v->u.str.s;
	size_t len = v->u.str.len;
	if (len == 0) {
		if (out != NULL)
			*out = 0;
		return 0;
	}
	static const char units[] = "KMGT";
	const char *u = strchr(units, s[len - 1]);
	if (u == NULL || s[len - 1] == '\0')
		return opts_fail(x, v, "%s sizes defined as strings must end in K, M, G, T", key);
	int shift = 10 * (int)(u - units + 1);
	int64_t n = 0;
	size_t i = s[0] == '-' || s[0] == '+' ? 1 : 0;
	if (i == len - 1)
		return opts_fail(x, v, "%s invalid size \"%s\"", key, s);
	for (; i < len - 1; i++) {
		if (s[i] < '0' || s[i] > '9' || n > (INT64_MAX >> shift) / 10)
			return opts_fail(x, v, "%s invalid size \"%s\"", key, s);
		n = n * 10 + (s[i] - '0');
	}
	if (n > (INT64_MAX >> shift))
		return opts_fail(x, v, "%s invalid size \"%s\"", key, s);
	if (out != NULL)
		*out = (s[0] == '-' ? -n : n) * ((int64_t)1 << shift);
	return 0;
}

/* A string or an array of strings. */
static int opts_get_strings(struct opts_ctx *x, const char *key, const struct conf_node *v,
			    char ***items, size_t *n)
{
	if (v->type == CONF_STRING)
		return items == NULL ? 0 : opts_strv_push(x, items, n, v->u.str.s);
	if (v->type != CONF_ARRAY)
		return opts_fail(x, v, "error parsing %s: unsupported type %s", key,
				 opts_type(v));
	for (size_t i = 0; i < v->u.arr.n; i++) {
		const struct conf_node *e = v->u.arr.items[i];
		if (e->type != CONF_STRING)
			return opts_fail(x, e, "error parsing %s: unsupported type in array %s",
					 key, opts_type(e));
		if (items != NULL && opts_strv_push(x, items, n, e->u.str.s) < 0)
			return -1;
	}
	return 0;
}

/* Go's strconv.Atoi on a port string. */
static bool opts_atoi(const char *s, size_t len, int64_t *out)
{
	size_t i = len > 0 && (s[0] == '-' || s[0] == '+') ? 1 : 0;
	int64_t v = 0;
	if (i == len)
		return false;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > 100000000)
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = s[0] == '-' ? -v : v;
	return true;
}

/* Go's net.SplitHostPort: "host:port", "[v6]:port" or ":port". */
static bool opts_split_hostport(const char *s, const char **host, size_t *hlen,
				const char **port)
{
	const char *colon = strrchr(s, ':');
	if (colon == NULL)
		return false;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || end + 1 != colon)
			return false;
		*host = s + 1;
		*hlen = (size_t)(end - s - 1);
	} else {
		if (memchr(s, ':', (size_t)(colon - s)) != NULL ||
		    memchr(s, '[', (size_t)(colon - s)) != NULL ||
		    memchr(s, ']', (size_t)(colon - s)) != NULL)
			return false;
		*host = s;
		*hlen = (size_t)(colon - s);
	}
	*port = colon + 1;
	return true;
}

/* listen / http: a port, or "host:port".  An empty host leaves *host_out
 * unchanged (the default applies later). */
static int opts_get_listen(struct opts_ctx *x, const char *key, const struct conf_node *v,
			   char **host_out, int *port_out)
{
	int64_t port;
	if (v->type == CONF_INT) {
		if (opts_check_port(x, key, v, v->u.i) < 0)
			return -1;
		if (port_out != NULL)
			*port_out = (int)v->u.i;
		return 0;
	}
	if (v->type != CONF_STRING)
		return opts_fail(x, v, "expected port or host:port, got %s", opts_type(v));
	const char *host, *ps;
	size_t hlen;
	if (!opts_split_hostport(v->u.str.s, &host, &hlen, &ps))
		return opts_fail(x, v, "could not parse address string \"%s\"", v->u.str.s);
	if (!opts_atoi(ps, strlen(ps), &port))
		return opts_fail(x, v, "could not parse port \"%s\"", ps);
	if (opts_check_port(x, key, v, port) < 0)
		return -1;
	if (port_out != NULL)
		*port_out = (int)port;
	if (host_out == NULL || hlen == 0)
		return 0;
	char *h = mem_strndup(x->mem, host, hlen);
	if (h == NULL)
		return opts_oom(x);
	opts_str_free(x->mem, host_out);
	*host_out = h;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Walking a block                                                     */

static bool opts_names_match(const char *names, const char *key)
{
	while (*names != '\0') {
		const char *bar = strchr(names, '|');
		size_t n = bar != NULL ? (size_t)(bar - names) : strlen(names);
		if (opts_ieq(key, names, n))
			return true;
		names += n + (bar != NULL ? 1 : 0);
	}
	return false;
}

/* The same key again later in the map replaces this one. */
static bool opts_overridden(const struct conf_node *map, size_t i)
{
	for (size_t j = i + 1; j < map->u.map.n; j++) {
		if (strcmp(map->u.map.kv[j].key, map->u.map.kv[i].key) == 0)
			return true;
	}
	return false;
}

static int opts_unknown(struct opts_ctx *x, const struct conf_node *v, const char *key,
			enum opts_unknown how)
{
	switch (how) {
	case OPTS_UNK_PERMS:
		return opts_fail(x, v, "Unknown field \"%s\" parsing permissions", key);
	case OPTS_UNK_SUBJECT_PERMS:
		return opts_fail(x, v, "Unknown field name \"%s\" parsing subject permissions, "
				 "only 'allow' or 'deny' are permitted", key);
	case OPTS_UNK_LIMITS:
		return opts_fail(x, v, "Unknown field \"%s\" parsing account limits", key);
	case OPTS_UNK_MAP_DEST:
		return opts_fail(x, v, "Unknown field \"%s\" for mapping destination", key);
	case OPTS_UNK_TLS:
		return opts_fail(x, v, "error parsing tls config, unknown field [\"%s\"]", key);
	case OPTS_UNK_FIELD:
		break;
	}
	return opts_fail(x, v, "unknown field \"%s\"", key);
}

static int opts_apply(struct opts_ctx *x, const struct opts_field *f, const char *key,
		      const struct conf_node *v, void *target)
{
	void *dst = target != NULL && f->off != OPTS_NOSTORE ? (char *)target + f->off : NULL;
	switch (f->kind) {
	case OPTS_K_FN: return opts_dispatch(f->fn, x, key, v, target);
	case OPTS_K_STR: return opts_get_str(x, key, v, dst);
	case OPTS_K_INT: return opts_get_int(x, key, v, dst);
	case OPTS_K_BOOL: return opts_get_bool(x, key, v, dst);
	case OPTS_K_PORT: return opts_get_port(x, key, v, dst);
	case OPTS_K_DURATION: return opts_get_duration(x, key, v, dst);
	case OPTS_K_SECONDS: return opts_get_seconds(x, key, v, dst);
	case OPTS_K_SIZE: return opts_get_size(x, key, v, dst);
	case OPTS_K_ANY: return 0;
	}
	return 0;
}

/* Applies the fields of a map in file order.  path is the block's dotted
 * canonical path ("" at top level), for the unimplemented table. */
static int opts_walk(struct opts_ctx *x, const struct conf_node *map, const char *path,
		     const struct opts_field *fields, size_t nfields, void *target,
		     enum opts_unknown how)
{
	ASSERT(map->type == CONF_MAP);
	for (size_t i = 0; i < map->u.map.n; i++) {
		const struct conf_kv *kv = &map->u.map.kv[i];
		if (opts_overridden(map, i))
			continue;
		const struct opts_field *f = NULL;
		for (size_t j = 0; j < nfields && f == NULL; j++) {
			if (opts_names_match(fields[j].names, kv->key))
				f = &fields[j];
		}
		if (f == NULL) {
			if (kv->value->used_as_var)
				continue;
			return opts_unknown(x, kv->value, kv->key, how);
		}
		char full[128];
		size_t clen = strcspn(f->names, "|");
		snprintf(full, sizeof(full), "%s%s%.*s", path, path[0] ? "." : "",
			 (int)clen, f->names);
		if (opts_note(x, full, kv->value) < 0 || opts_apply(x, f, kv->key, kv->value,
								    target) < 0)
			return -1;
	}
	return 0;
}

static int opts_want_map(struct opts_ctx *x, const char *what, const struct conf_node *v)
{
	if (v->type == CONF_MAP)
		return 0;
	return opts_fail(x, v, "Expected %s to be a map, got %s", what, opts_type(v));
}

/* ------------------------------------------------------------------ */
/* Subjects                                                            */

static bool opts_subject_valid(const char *s)
{
	if (s[0] == '\0')
		return false;
	bool fwc = false;
	while (true) {
		const char *dot = strchr(s, '.');
		size_t n = dot != NULL ? (size_t)(dot - s) : strlen(s);
		if (n == 0 || fwc)
			return false;
		if (strcspn(s, " \t\n\r\f") < n)
			return false;
		if (n == 1 && s[0] == '>')
			fwc = true;
		if (dot == NULL)
			return true;
		s = dot + 1;
	}
}

/* A subject, or "subject queue" for queue permissions. */
static bool opts_perm_subject_valid(const char *s, const char **bad)
{
	*bad = s;
	if (opts_subject_valid(s))
		return true;
	const char *p = s + strspn(s, " \t\n\r\f\v");
	size_t first = strcspn(p, " \t\n\r\f\v");
	const char *q = p + first;
	q += strspn(q, " \t\n\r\f\v");
	size_t second = strcspn(q, " \t\n\r\f\v");
	if (first == 0 || second == 0 || q[second + strspn(q + second, " \t\n\r\f\v")] != '\0')
		return false;
	char tok[256];
	if (first >= sizeof(tok))
		return false;
	memcpy(tok, p, first);
	tok[first] = '\0';
	return opts_subject_valid(tok);
}

/* parsePermSubjects: a subject or an array of subjects. */
static int opts_get_subjects(struct opts_ctx *x, const struct conf_node *v,
			     struct opts_subject_list *out)
{
	const struct conf_node *one = v;
	size_t n = 1;
	if (v->type == CONF_ARRAY) {
		n = v->u.arr.n;
	} else if (v->type != CONF_STRING) {
		return opts_fail(x, v, "Expected subject permissions to be a subject, or array "
				 "of subjects, got %s", opts_type(v));
	}
	for (size_t i = 0; i < n; i++) {
		const struct conf_node *e = v->type == CONF_ARRAY ? v->u.arr.items[i] : one;
		const char *bad;
		if (e->type != CONF_STRING)
			return opts_fail(x, e, "Subject in permissions array cannot be cast to "
					 "string");
		if (!opts_perm_subject_valid(e->u.str.s, &bad))
			return opts_fail(x, e, "subject \"%s\" is not a valid subject", bad);
		if (opts_strv_push(x, &out->items, &out->n, e->u.str.s) < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* NKeys: base32 of prefix byte, 32-byte key and CRC16 (XMODEM).       */

static uint16_t opts_crc16(const uint8_t *p, size_t n)
{
	uint16_t crc = 0;
	for (size_t i = 0; i < n; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021)
					   : (uint16_t)(crc << 1);
	}
	return crc;
}

/* prefix: 'U' user, 'A' account, 'O' operator (as base32 letters). */
static bool opts_nkey_valid(const char *s, char prefix)
{
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	uint8_t raw[35];
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;
	if (strlen(s) != 56 || s[0] != prefix)
		return false;
	for (size_t i = 0; i < 56; i++) {
		const char *c = s[i] != '\0' ? strchr(alpha, s[i]) : NULL;
		if (c == NULL)
			return false;
		acc = (acc << 5) | (uint32_t)(c - alpha);
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			raw[n++] = (uint8_t)(acc >> bits);
		}
	}
	ASSERT(n == sizeof(raw));
	if (raw[0] != (uint8_t)((strchr(alpha, prefix) - alpha) << 3))
		return false;
	uint16_t want = (uint16_t)(raw[33] | (raw[34] << 8));
	return opts_crc16(raw, 33) == want;
}

/* ------------------------------------------------------------------ */
/* Permissions                                                         */

static void opts_perms_init(struct opts_permissions *p)
{
	memset(p, 0, sizeof(*p));
	p->responses_max = 1;
	p->responses_expires_ns = 2 * NS_PER_MIN;
}

static void opts_perms_free(struct mem *mem, struct opts_permissions *p)
{
	opts_subjects_free(mem, &p->publish.allow);
	opts_subjects_free(mem, &p->publish.deny);
	opts_subjects_free(mem, &p->subscribe.allow);
	opts_subjects_free(mem, &p->subscribe.deny);
	opts_perms_init(p);
}

static int opts_subjects_copy(struct opts_ctx *x, const struct opts_subject_list *src,
			      struct opts_subject_list *dst)
{
	dst->items = NULL;
	dst->n = 0;
	for (size_t i = 0; i < src->n; i++) {
		if (opts_strv_push(x, &dst->items, &dst->n, src->items[i]) < 0)
			return -1;
	}
	return 0;
}

/* dst must be empty; on failure it holds what was copied (free it). */
static int opts_perms_copy(struct opts_ctx *x, const struct opts_permissions *src,
			   struct opts_permissions *dst)
{
	/* Scalars by value; every list starts empty so that a failed copy
	 * never leaves dst sharing a list with src. */
	*dst = *src;
	dst->publish.allow = dst->publish.deny = (struct opts_subject_list){ 0 };
	dst->subscribe.allow = dst->subscribe.deny = (struct opts_subject_list){ 0 };
	if (opts_subjects_copy(x, &src->publish.allow, &dst->publish.allow) < 0 ||
	    opts_subjects_copy(x, &src->publish.deny, &dst->publish.deny) < 0 ||
	    opts_subjects_copy(x, &src->subscribe.allow, &dst->subscribe.allow) < 0 ||
	    opts_subjects_copy(x, &src->subscribe.deny, &dst->subscribe.deny) < 0)
		return -1;
	return 0;
}

static int opts_perm_allow(struct opts_ctx *x, const char *key, const struct conf_node *v,
			   void *target)
{
	struct opts_perm *pm = target;
	UNUSED(key);
	opts_subjects_free(x->mem, &pm->allow);
	return opts_get_subjects(x, v, &pm->allow);
}

static int opts_perm_deny(struct opts_ctx *x, const char *key, const struct conf_node *v,
			  void *target)
{
	struct opts_perm *pm = target;
	UNUSED(key);
	opts_subjects_free(x->mem, &pm->deny);
	return opts_get_subjects(x, v, &pm->deny);
}

static const struct opts_field opts_subject_perm_fields[] = {
	OPTS_FN("allow", opts_perm_allow),
	OPTS_FN("deny", opts_perm_deny),
};

/* A subject, a list (both mean allow) or {allow, deny}. */
static int opts_get_perm(struct opts_ctx *x, const struct conf_node *v, struct opts_perm *pm)
{
	opts_subjects_free(x->mem, &pm->allow);
	opts_subjects_free(x->mem, &pm->deny);
	pm->set = pm->allow_set = false;
	if (v->type == CONF_MAP) {
		if (v->u.map.n == 0)
			return 0;   /* the reference ignores an empty map */
		if (opts_walk(x, v, "permissions", opts_subject_perm_fields,
			      ARRAY_LEN(opts_subject_perm_fields), pm,
			      OPTS_UNK_SUBJECT_PERMS) < 0)
			return -1;
	} else if (opts_get_subjects(x, v, &pm->allow) < 0) {
		return -1;
	}
	pm->set = true;
	pm->allow_set = pm->allow.n > 0;
	return 0;
}

static int opts_perm_publish(struct opts_ctx *x, const char *key, const struct conf_node *v,
			     void *target)
{
	UNUSED(key);
	return opts_get_perm(x, v, &((struct opts_permissions *)target)->publish);
}

static int opts_perm_subscribe(struct opts_ctx *x, const char *key,
			       const struct conf_node *v, void *target)
{
	UNUSED(key);
	return opts_get_perm(x, v, &((struct opts_permissions *)target)->subscribe);
}

static int opts_resp_max(struct opts_ctx *x, const char *key, const struct conf_node *v,
			 void *target)
{
	struct opts_permissions *p = target;
	int64_t max;
	if (opts_get_int(x, key, v, &max) < 0)
		return -1;
	if (max != 0)   /* 0 keeps the default; negative means unlimited */
		p->responses_max = max;
	return 0;
}

static int opts_resp_expires(struct opts_ctx *x, const char *key, const struct conf_node *v,
			     void *target)
{
	struct opts_permissions *p = target;
	int64_t ns;
	UNUSED(key);
	if (v->type != CONF_STRING)
		return opts_fail(x, v, "error parsing expires, not a duration string");
	if (opts_parse_duration(v->u.str.s, &ns) < 0)
		return opts_fail(x, v, "error parsing expires: time: invalid duration \"%s\"",
				 v->u.str.s);
	if (ns != 0)
		p->responses_expires_ns = ns;
	return 0;
}

static const struct opts_field opts_response_fields[] = {
	OPTS_FN("max|max_msgs|max_messages|max_responses", opts_resp_max),
	OPTS_FN("expires|expiration|ttl", opts_resp_expires),
};

static int opts_perm_responses(struct opts_ctx *x, const char *key,
			       const struct conf_node *v, void *target)
{
	struct opts_permissions *p = target;
	UNUSED(key);
	if (v->type == CONF_BOOL) {
		p->allow_responses = v->u.b;
		return 0;
	}
	if (v->type != CONF_MAP)
		return opts_fail(x, v, "error parsing response permissions, expected a boolean "
				 "or a map");
	p->allow_responses = true;
	return opts_walk(x, v, "permissions", opts_response_fields,
			 ARRAY_LEN(opts_response_fields), p, OPTS_UNK_PERMS);
}

static const struct opts_field opts_perm_fields[] = {
	OPTS_FN("publish|pub|import", opts_perm_publish),
	OPTS_FN("subscribe|sub|export", opts_perm_subscribe),
	OPTS_FN("allow_responses|publish_allow_responses", opts_perm_responses),
};

static int opts_get_permissions(struct opts_ctx *x, const struct conf_node *v,
				struct opts_permissions *p)
{
	if (v->type != CONF_MAP)
		return opts_fail(x, v, "Expected permissions to be a map/struct, got %s",
				 opts_type(v));
	opts_perms_free(x->mem, p);
	if (opts_walk(x, v, "permissions", opts_perm_fields, ARRAY_LEN(opts_perm_fields), p,
		      OPTS_UNK_PERMS) < 0)
		return -1;
	/* Response permission turns off the blanket publish allow. */
	if (p->allow_responses && !p->publish.allow_set)
		p->publish.set = p->publish.allow_set = true;
	p->set = true;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Users                                                               */

static void opts_user_free(struct mem *mem, struct opts_user *u)
{
	mem_free(mem, u->user);
	mem_free(mem, u->password);
	mem_free(mem, u->nkey);
	mem_free(mem, u->account);
	opts_perms_free(mem, &u->perms);
	opts_strv_free(mem, &u->allowed_connection_types, &u->n_allowed_connection_types);
}

static void opts_users_free(struct mem *mem, struct opts_user **users, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		opts_user_free(mem, &(*users)[i]);
	mem_free(mem, *users);
	*users = NULL;
	*n = 0;
}

static int opts_user_conn_types(struct opts_ctx *x, const char *key,
				const struct conf_node *v, void *target)
{
	static const char known[][12] = {
		"STANDARD", "WEBSOCKET", "LEAFNODE", "LEAFNODE_WS", "MQTT", "MQTT_WS",
	};
	struct opts_user *u = target;
	UNUSED(key);
	opts_strv_free(x->mem, &u->allowed_connection_types, &u->n_allowed_connection_types);
	if (opts_get_strings(x, "allowed connection types", v, &u->allowed_connection_types,
			     &u->n_allowed_connection_types) < 0)
		return -1;
	for (size_t i = 0; i < u->n_allowed_connection_types; i++) {
		char *t = u->allowed_connection_types[i];
		bool ok = false;
		for (char *c = t; *c != '\0'; c++)
			*c = *c >= 'a' && *c <= 'z' ? (char)(*c - 32) : *c;
		for (size_t k = 0; k < ARRAY_LEN(known); k++)
			ok = ok || strcmp(t, known[k]) == 0;
		if (!ok)
			return opts_fail(x, v, "invalid connection types [\"%s\"]", t);
	}
	return 0;
}

static int opts_user_perms(struct opts_ctx *x, const char *key, const struct conf_node *v,
			   void *target)
{
	UNUSED(key);
	return opts_get_permissions(x, v, &((struct opts_user *)target)->perms);
}

static const struct opts_field opts_user_fields[] = {
	OPTS_F("nkey", OPTS_K_STR, struct opts_user, nkey),
	OPTS_F("user|username", OPTS_K_STR, struct opts_user, user),
	OPTS_F("password|pass", OPTS_K_STR, struct opts_user, password),
	OPTS_FN("permissions|permission|authorization", opts_user_perms),
	OPTS_FN("allowed_connection_types|connection_types|clients", opts_user_conn_types),
};

/* leafnodes.authorization.users entries are simpler. */
static const struct opts_field opts_leaf_user_fields[] = {
	OPTS_F("user|username", OPTS_K_STR, struct opts_user, user),
	OPTS_F("password|pass", OPTS_K_STR, struct opts_user, password),
	OPTS_F("account", OPTS_K_STR, struct opts_user, account),
};

static int opts_user_check(struct opts_ctx *x, const struct conf_node *v,
			   const struct opts_user *u)
{
	if (u->nkey == NULL && u->user == NULL)
		return opts_fail(x, v, "User entry requires a user");
	if (u->nkey == NULL)
		return 0;
	if (!opts_nkey_valid(u->nkey, 'U'))
		return opts_fail(x, v, "Not a valid public nkey for a user");
	if (u->user != NULL || u->password != NULL)
		return opts_fail(x, v, "Nkey users do not take usernames or passwords");
	return 0;
}

/* users: [ {...} ] appended to *users, each bound to account (or NULL). */
static int opts_parse_users(struct opts_ctx *x, const struct conf_node *v, const char *account,
			    bool leaf, struct opts_user **users, size_t *n, const char *path)
{
	if (v->type != CONF_ARRAY)
		return opts_fail(x, v, "Expected users field to be an array, got %s",
				 opts_type(v));
	for (size_t i = 0; i < v->u.arr.n; i++) {
		const struct conf_node *e = v->u.arr.items[i];
		struct opts_user *u;
		if (e->type != CONF_MAP)
			return opts_fail(x, e, "Expected user entry to be a map/struct, got %s",
					 opts_type(e));
		OPTS_APPEND(x, *users, *n, u);
		if (u == NULL)
			return -1;
		opts_perms_init(&u->perms);
		u->file = opts_file(x, e->file);
		u->line = e->line;
		if (u->file == NULL)
			return opts_oom(x);
		if (account != NULL && opts_set_str(x, &u->account, account) < 0)
			return opts_oom(x);
		if (leaf && opts_walk(x, e, path, opts_leaf_user_fields,
				      ARRAY_LEN(opts_leaf_user_fields), u, OPTS_UNK_FIELD) < 0)
			return -1;
		if (!leaf && (opts_walk(x, e, path, opts_user_fields, ARRAY_LEN(opts_user_fields),
					u, OPTS_UNK_FIELD) < 0 || opts_user_check(x, e, u) < 0))
			return -1;
	}
	return 0;
}

/* Users without their own permissions get the block's defaults. */
static int opts_apply_default_perms(struct opts_ctx *x, struct opts_user *users, size_t n,
				    const struct opts_permissions *defaults)
{
	if (!defaults->set)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (users[i].perms.set)
			continue;
		opts_perms_free(x->mem, &users[i].perms);
		if (opts_perms_copy(x, defaults, &users[i].perms) < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* authorization blocks                                                */

struct opts_auth {
	char *user;
	char *password;
	char *token;
	char *account;                 /* leafnodes only */
	int64_t timeout_ns;
	bool users_given;
	struct opts_user *users;
	size_t n_users;
	struct opts_permissions perms;
	const char *path;
};

static void opts_auth_free(struct mem *mem, struct opts_auth *a)
{
	mem_free(mem, a->user);
	mem_free(mem, a->password);
	mem_free(mem, a->token);
	mem_free(mem, a->account);
	opts_users_free(mem, &a->users, &a->n_users);
	opts_perms_free(mem, &a->perms);
}

static int opts_auth_users(struct opts_ctx *x, const char *key, const struct conf_node *v,
			   void *target)
{
	struct opts_auth *a = target;
	char path[64];
	UNUSED(key);
	snprintf(path, sizeof(path), "%s.users", a->path);
	a->users_given = true;
	opts_users_free(x->mem, &a->users, &a->n_users);
	return opts_parse_users(x, v, NULL, false, &a->users, &a->n_users, path);
}

static int opts_auth_leaf_users(struct opts_ctx *x, const char *key,
				const struct conf_node *v, void *target)
{
	struct opts_auth *a = target;
	UNUSED(key);
	a->users_given = true;
	opts_users_free(x->mem, &a->users, &a->n_users);
	return opts_parse_users(x, v, NULL, true, &a->users, &a->n_users,
				"leafnodes.authorization.users");
}

static int opts_auth_perms(struct opts_ctx *x, const char *key, const struct conf_node *v,
			   void *target)
{
	UNUSED(key);
	return opts_get_permissions(x, v, &((struct opts_auth *)target)->perms);
}

static const struct opts_field opts_auth_fields[] = {
	OPTS_F("user|username", OPTS_K_STR, struct opts_auth, user),
	OPTS_F("password|pass", OPTS_K_STR, struct opts_auth, password),
	OPTS_F("token", OPTS_K_STR, struct opts_auth, token),
	OPTS_F("timeout", OPTS_K_SECONDS, struct opts_auth, timeout_ns),
	OPTS_FN("users", opts_auth_users),
	OPTS_FN("default_permissions|default_permission|permissions", opts_auth_perms),
};

static const struct opts_field opts_leaf_auth_fields[] = {
	OPTS_F("user|username", OPTS_K_STR, struct opts_auth, user),
	OPTS_F("password|pass", OPTS_K_STR, struct opts_auth, password),
	OPTS_F("timeout", OPTS_K_SECONDS, struct opts_auth, timeout_ns),
	OPTS_FN("users", opts_auth_leaf_users),
	OPTS_F("account", OPTS_K_STR, struct opts_auth, account),
};

static int opts_parse_auth(struct opts_ctx *x, const struct conf_node *v, bool leaf,
			   const char *path, struct opts_auth *a)
{
	memset(a, 0, sizeof(*a));
	opts_perms_init(&a->perms);
	a->path = path;
	if (opts_want_map(x, "authorization", v) < 0)
		return -1;
	if (leaf)
		return opts_walk(x, v, path, opts_leaf_auth_fields,
				 ARRAY_LEN(opts_leaf_auth_fields), a, OPTS_UNK_FIELD);
	return opts_walk(x, v, path, opts_auth_fields, ARRAY_LEN(opts_auth_fields), a,
			 OPTS_UNK_FIELD);
}

/* Moves src's users to the end of *dst. */
static int opts_users_move(struct opts_ctx *x, struct opts_user **dst, size_t *n,
			   struct opts_user **src, size_t *nsrc)
{
	if (*nsrc == 0)
		return 0;
	struct opts_user *p = NULL;
	if (*n <= SIZE_MAX / sizeof(*p) - *nsrc)
		p = mem_realloc(x->mem, *dst, (*n + *nsrc) * sizeof(*p));
	if (p == NULL)
		return opts_oom(x);
	memcpy(p + *n, *src, *nsrc * sizeof(*p));
	*dst = p;
	*n += *nsrc;
	mem_free(x->mem, *src);
	*src = NULL;
	*nsrc = 0;
	return 0;
}

static void opts_take_str(struct mem *mem, char **dst, char **src)
{
	opts_str_free(mem, dst);
	*dst = *src;
	*src = NULL;
}

static int opts_top_authorization(struct opts_ctx *x, const char *key,
				  const struct conf_node *v, void *target)
{
	struct opts *o = x->o;
	struct opts_auth a;
	UNUSED(key);
	UNUSED(target);
	int rc = opts_parse_auth(x, v, false, "authorization", &a);
	if (rc == 0 && (a.user != NULL || a.password != NULL) && a.token != NULL)
		rc = opts_fail(x, v, "Cannot have a user/pass and token");
	if (rc == 0)
		rc = opts_apply_default_perms(x, a.users, a.n_users, &a.perms);
	if (rc == 0) {
		x->auth_node = v;
		x->auth_users_given = x->auth_users_given || a.users_given;
		opts_take_str(x->mem, &o->username, &a.user);
		opts_take_str(x->mem, &o->password, &a.password);
		opts_take_str(x->mem, &o->authorization_token, &a.token);
		o->auth_timeout_ns = a.timeout_ns;
		if (a.perms.set) {
			opts_perms_free(x->mem, &o->default_permissions);
			o->default_permissions = a.perms;
			opts_perms_init(&a.perms);
		}
		rc = opts_users_move(x, &o->users, &o->n_users, &a.users, &a.n_users);
	}
	opts_auth_free(x->mem, &a);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Subject mappings                                                    */

struct opts_dest_ctx {
	struct opts_mapping_dest *d;
	bool weight_seen;
};

static int opts_dest_subject(struct opts_ctx *x, const char *key, const struct conf_node *v,
			     void *target)
{
	return opts_get_str(x, key, v, &((struct opts_dest_ctx *)target)->d->subject);
}

static int opts_dest_cluster(struct opts_ctx *x, const char *key, const struct conf_node *v,
			     void *target)
{
	return opts_get_str(x, key, v, &((struct opts_dest_ctx *)target)->d->cluster);
}

static int opts_dest_weight(struct opts_ctx *x, const char *key, const struct conf_node *v,
			    void *target)
{
	struct opts_dest_ctx *dc = target;
	int64_t w;
	UNUSED(key);
	if (v->type == CONF_STRING) {
		size_t len = v->u.str.len;
		if (len > 0 && v->u.str.s[len - 1] == '%')
			len--;
		if (!opts_atoi(v->u.str.s, len, &w))
			return opts_fail(x, v, "Invalid weight \"%.*s\" for mapping destination",
					 (int)len, v->u.str.s);
	} else if (v->type == CONF_INT) {
		w = v->u.i;
	} else {
		return opts_fail(x, v, "Unknown entry type for weight of %s", opts_type(v));
	}
	if (w < 0 || w > 100)
		return opts_fail(x, v, "Invalid weight %lld for mapping destination",
				 (long long)w);
	dc->d->weight_percent = (double)w;
	dc->weight_seen = true;
	return 0;
}

static const struct opts_field opts_dest_fields[] = {
	OPTS_FN("destination|dest", opts_dest_subject),
	OPTS_FN("weight", opts_dest_weight),
	OPTS_FN("cluster", opts_dest_cluster),
};

static int opts_mapping_dest(struct opts_ctx *x, const struct conf_node *v,
			     struct opts_mapping *m)
{
	struct opts_dest_ctx dc = { 0 };
	if (v->type != CONF_MAP)
		return opts_fail(x, v, "Expected an entry for the mapping destination");
	OPTS_APPEND(x, m->dests, m->n_dests, dc.d);
	if (dc.d == NULL)
		return -1;
	if (opts_walk(x, v, "mappings", opts_dest_fields, ARRAY_LEN(opts_dest_fields), &dc,
		      OPTS_UNK_MAP_DEST) < 0)
		return -1;
	if (!dc.weight_seen)
		return opts_fail(x, v, "Missing weight for mapping destination \"%s\"",
				 dc.d->subject != NULL ? dc.d->subject : "");
	return 0;
}

static int opts_mapping_check(struct opts_ctx *x, const struct conf_node *v,
			      const struct opts_mapping *m)
{
	double total = 0;
	for (size_t i = 0; i < m->n_dests; i++) {
		const char *s = m->dests[i].subject;
		if (s == NULL || s[0] == '\0')
			return opts_fail(x, v, "Error adding mapping for \"%s\": invalid mapping "
					 "destination", m->source);
		for (size_t j = 0; j < i; j++) {
			if (strcmp(m->dests[j].subject, s) == 0)
				return opts_fail(x, v, "Error adding mapping for \"%s\": "
						 "duplicate entry for \"%s\"", m->source, s);
		}
		total += m->dests[i].weight_percent;
	}
	if (total > 100)
		return opts_fail(x, v, "Error adding mapping for \"%s\": total weight needs to "
				 "be <= 100", m->source);
	return 0;
}

static int opts_mapping_one(struct opts_ctx *x, const char *subject, const struct conf_node *v,
			    struct opts_mapping *m)
{
	if (!opts_subject_valid(subject))
		return opts_fail(x, v, "Subject \"%s\" is not a valid subject", subject);
	if ((m->source = mem_strdup(x->mem, subject)) == NULL)
		return opts_oom(x);
	if (v->type == CONF_STRING) {
		struct opts_mapping_dest *d;
		OPTS_APPEND(x, m->dests, m->n_dests, d);
		if (d == NULL || opts_set_str(x, &d->subject, v->u.str.s) < 0)
			return -1;
		d->weight_percent = 100;
	} else if (v->type == CONF_ARRAY) {
		for (size_t i = 0; i < v->u.arr.n; i++) {
			if (opts_mapping_dest(x, v->u.arr.items[i], m) < 0)
				return -1;
		}
	} else if (v->type == CONF_MAP) {
		if (opts_mapping_dest(x, v, m) < 0)
			return -1;
	} else {
		return opts_fail(x, v, "Unknown type %s for mapping destination", opts_type(v));
	}
	return opts_mapping_check(x, v, m);
}

static int opts_parse_mappings(struct opts_ctx *x, const struct conf_node *v,
			       struct opts_mapping **maps, size_t *n)
{
	if (opts_want_map(x, "mappings", v) < 0)
		return -1;
	for (size_t i = 0; i < v->u.map.n; i++) {
		struct opts_mapping *m;
		if (opts_overridden(v, i))
			continue;
		OPTS_APPEND(x, *maps, *n, m);
		if (m == NULL || opts_mapping_one(x, v->u.map.kv[i].key, v->u.map.kv[i].value,
						  m) < 0)
			return -1;
	}
	return 0;
}

static void opts_mappings_free(struct mem *mem, struct opts_mapping **maps, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		struct opts_mapping *m = &(*maps)[i];
		for (size_t j = 0; j < m->n_dests; j++) {
			mem_free(mem, m->dests[j].subject);
			mem_free(mem, m->dests[j].cluster);
		}
		mem_free(mem, m->dests);
		mem_free(mem, m->source);
	}
	mem_free(mem, *maps);
	*maps = NULL;
	*n = 0;
}

/* ------------------------------------------------------------------ */
/* Accounts: exports                                                   */

static void opts_js_limits_init(struct opts_js_limits *l)
{
	l->max_memory = l->max_store = l->max_streams = l->max_consumers = -1;
	l->max_ack_pending = l->mem_max_stream_bytes = l->disk_max_stream_bytes = -1;
	l->max_bytes_required = false;
}

static void opts_export_free(struct mem *mem, struct opts_export *e)
{
	mem_free(mem, e->subject);
	opts_strv_free(mem, &e->accounts, &e->n_accounts);
}

static void opts_import_free(struct mem *mem, struct opts_import *im)
{
	mem_free(mem, im->account);
	mem_free(mem, im->subject);
	mem_free(mem, im->to);
	mem_free(mem, im->prefix);
}

/* Raw entries of one export, checked together once all are seen. */
struct opts_export_ctx {
	struct opts_export e;
	const struct conf_node *stream, *service, *response, *threshold, *latency;
};

static int opts_exp_record(struct opts_ctx *x, const char *key, const struct conf_node *v,
			   void *target)
{
	struct opts_export_ctx *c = target;
	UNUSED(x);
	if (opts_word(key, "stream"))
		c->stream = v;
	else if (opts_word(key, "service"))
		c->service = v;
	else if (opts_word(key, "response") || opts_word(key, "response_type"))
		c->response = v;
	else
		c->threshold = v;
	return 0;
}

static int opts_exp_accounts(struct opts_ctx *x, const char *key, const struct conf_node *v,
			     void *target)
{
	struct opts_export_ctx *c = target;
	if (opts_want(x, key, v, CONF_ARRAY, "an array of account names") < 0)
		return -1;
	opts_strv_free(x->mem, &c->e.accounts, &c->e.n_accounts);
	return opts_get_strings(x, key, v, &c->e.accounts, &c->e.n_accounts);
}

/* latency: "subject" or {sampling: 1..100 | "50%" | "headers", subject}. */
static int opts_exp_latency(struct opts_ctx *x, const char *key, const struct conf_node *v,
			    void *target)
{
	UNUSED(key);
	((struct opts_export_ctx *)target)->latency = v;
	if (v->type == CONF_STRING)
		return 0;
	if (v->type != CONF_MAP)
		return opts_fail(x, v, "Expected latency entry to be a map/struct or string, "
				 "got %s", opts_type(v));
	const struct conf_node *s = conf_map_get(v, "sampling");
	const struct conf_node *subj = conf_map_get(v, "subject");
	int64_t rate = 100;
	if (s != NULL && s->type == CONF_INT) {
		rate = s->u.i;
	} else if (s != NULL && s->type == CONF_STRING && !opts_word(s->u.str.s, "headers")) {
		size_t len = s->u.str.len;
		if (len > 0 && s->u.str.s[len - 1] == '%')
			len--;
		if (!opts_atoi(s->u.str.s, len, &rate))
			return opts_fail(x, s, "Failed to parse latency sample: \"%s\"",
					 s->u.str.s);
	} else if (s != NULL && s->type != CONF_STRING) {
		return opts_fail(x, s, "Expected latency sample to be a string or map/struct, "
				 "got %s", opts_type(s));
	}
	if (rate < 1 || rate > 100)
		return opts_fail(x, s, "sampling rate must be from 1 to 100");
	if (subj == NULL)
		return opts_fail(x, v, "Latency subject required, but missing");
	if (subj->type != CONF_STRING)
		return opts_fail(x, subj, "Expected latency subject to be a string, got %s",
				 opts_type(subj));
	return 0;
}

static int opts_exp_token_pos(struct opts_ctx *x, const char *key, const struct conf_node *v,
			      void *target)
{
	int64_t pos;
	if (opts_get_int(x, key, v, &pos) < 0)
		return -1;
	if (pos < 0 || pos > 255)
		return opts_fail(x, v, "\"%s\": %lld is out of range", key, (long long)pos);
	((struct opts_export_ctx *)target)->e.account_token_position = (int)pos;
	return 0;
}

static const struct opts_field opts_export_fields[] = {
	OPTS_FN("stream", opts_exp_record),
	OPTS_FN("service", opts_exp_record),
	OPTS_FN("response_type|response", opts_exp_record),
	OPTS_FN("response_threshold|threshold|response_max_time|response_time",
		opts_exp_record),
	OPTS_FN("accounts", opts_exp_accounts),
	OPTS_FN("latency", opts_exp_latency),
	OPTS_FN("account_token_position", opts_exp_token_pos),
};

static int opts_exp_service(struct opts_ctx *x, struct opts_export_ctx *c)
{
	const struct conf_node *rt = c->response, *th = c->threshold;
	c->e.kind = OPTS_EXPORT_SERVICE;
	if (rt != NULL && rt->type != CONF_STRING)
		return opts_fail(x, rt, "Expected response type to be string, got %s",
				 opts_type(rt));
	if (rt == NULL || opts_word(rt->u.str.s, "singleton") || opts_word(rt->u.str.s, "single"))
		c->e.response_type = OPTS_RESPONSE_SINGLETON;
	else if (opts_word(rt->u.str.s, "stream"))
		c->e.response_type = OPTS_RESPONSE_STREAM;
	else if (opts_word(rt->u.str.s, "chunked") || opts_word(rt->u.str.s, "chunk"))
		c->e.response_type = OPTS_RESPONSE_CHUNKED;
	else
		return opts_fail(x, rt, "Unknown response type: \"%s\"", rt->u.str.s);
	if (th != NULL && (th->type != CONF_STRING ||
			   opts_parse_duration(th->u.str.s, &c->e.response_threshold_ns) < 0))
		return opts_fail(x, th, "Expected response threshold to be a parseable time "
				 "duration, got %s", opts_type(th));
	return 0;
}

/* Checks the recorded entries; *keep is false for an entry that names
 * neither a stream nor a service (the reference ignores those). */
static int opts_exp_finish(struct opts_ctx *x, struct opts_export_ctx *c, bool *keep)
{
	const struct conf_node *what = c->stream != NULL ? c->stream : c->service;
	*keep = what != NULL;
	if (what == NULL)
		return 0;
	if (c->stream != NULL && c->service != NULL)
		return opts_fail(x, c->service, "Detected service but already saw a stream");
	if (what->type != CONF_STRING)
		return opts_fail(x, what, "Expected %s name to be string, got %s",
				 c->stream ? "stream" : "service", opts_type(what));
	if (c->stream != NULL) {
		c->e.kind = OPTS_EXPORT_STREAM;
		if (c->response != NULL || c->threshold != NULL)
			return opts_fail(x, c->response ? c->response : c->threshold,
					 "Detected response directive on non-service");
		if (c->latency != NULL)
			return opts_fail(x, c->latency,
					 "Detected latency directive on non-service");
	} else if (opts_exp_service(x, c) < 0) {
		return -1;
	}
	const char *kind = c->stream ? "stream" : "service";
	if (!opts_subject_valid(what->u.str.s))
		return opts_fail(x, what, "Error adding %s export \"%s\": invalid subject", kind,
				 what->u.str.s);
	return opts_set_str(x, &c->e.subject, what->u.str.s);
}

/* The account position must name a '*' token of the export subject. */
static int opts_exp_check_pos(struct opts_ctx *x, const struct conf_node *v,
			      const struct opts_export *e)
{
	int pos = e->account_token_position, i = 1;
	if (pos == 0)
		return 0;
	for (const char *s = e->subject; s != NULL; i++) {
		const char *dot = strchr(s, '.');
		if (i == pos && s[0] == '*' && (s[1] == '.' || s[1] == '\0'))
			return 0;
		s = dot != NULL ? dot + 1 : NULL;
	}
	return opts_fail(x, v, "Error adding export \"%s\": account token position %d does "
			 "not point to a '*' token", e->subject, pos);
}

static int opts_acc_exports(struct opts_ctx *x, const char *key, const struct conf_node *v,
			    void *target)
{
	struct opts_account *a = target;
	if (v->type != CONF_ARRAY)
		return opts_fail(x, v, "Exports should be an array, got %s", opts_type(v));
	UNUSED(key);
	for (size_t i = 0; i < v->u.arr.n; i++) {
		const struct conf_node *e = v->u.arr.items[i];
		struct opts_export_ctx c = { 0 };
		struct opts_export *slot;
		bool keep = false;
		if (e->type != CONF_MAP)
			return opts_fail(x, e, "Export Items should be a map with type entry, "
					 "got %s", opts_type(e));
		int rc = opts_walk(x, e, "accounts.exports", opts_export_fields,
				   ARRAY_LEN(opts_export_fields), &c, OPTS_UNK_FIELD);
		if (rc == 0)
			rc = opts_exp_finish(x, &c, &keep);
		if (rc == 0 && keep)
			rc = opts_exp_check_pos(x, e, &c.e);
		c.e.file = opts_file(x, e->file);
		c.e.line = e->line;
		if (rc == 0 && keep) {
			OPTS_APPEND(x, a->exports, a->n_exports, slot);
			if (slot != NULL) {
				*slot = c.e;
				continue;
			}
			rc = -1;
		}
		opts_export_free(x->mem, &c.e);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Accounts: imports                                                   */

struct opts_import_ctx {
	const struct conf_node *stream, *service, *prefix, *to, *share;
	struct opts_import im;
};

static int opts_imp_record(struct opts_ctx *x, const char *key, const struct conf_node *v,
			   void *target)
{
	struct opts_import_ctx *c = target;
	UNUSED(x);
	if (opts_word(key, "stream"))
		c->stream = v;
	else if (opts_word(key, "service"))
		c->service = v;
	else if (opts_word(key, "prefix"))
		c->prefix = v;
	else if (opts_word(key, "to"))
		c->to = v;
	else
		c->share = v;
	return 0;
}

static const struct opts_field opts_import_fields[] = {
	OPTS_FN("stream", opts_imp_record),
	OPTS_FN("service", opts_imp_record),
	OPTS_FN("prefix", opts_imp_record),
	OPTS_FN("to", opts_imp_record),
	OPTS_FN("share", opts_imp_record),
};

static const struct opts_field opts_import_source_fields[] = {
	OPTS_F("account", OPTS_K_STR, struct opts_import, account),
	OPTS_F("subject", OPTS_K_STR, struct opts_import, subject),
};

static int opts_imp_strings(struct opts_ctx *x, struct opts_import_ctx *c)
{
	struct opts_import *im = &c->im;
	if ((c->prefix != NULL && opts_get_str(x, "prefix", c->prefix, &im->prefix) < 0) ||
	    (c->to != NULL && opts_get_str(x, "to", c->to, &im->to) < 0) ||
	    (c->share != NULL && opts_get_bool(x, "share", c->share, &im->share) < 0))
		return -1;
	if (im->kind == OPTS_EXPORT_STREAM && im->prefix != NULL && im->to != NULL)
		return opts_fail(x, c->to, "Stream import can not have a 'prefix' and a 'to' "
				 "property");
	if (im->kind == OPTS_EXPORT_SERVICE && im->to == NULL)
		return opts_set_str(x, &im->to, im->subject);
	return 0;
}

static int opts_imp_finish(struct opts_ctx *x, struct opts_import_ctx *c, bool *keep)
{
	const struct conf_node *src = c->stream != NULL ? c->stream : c->service;
	const char *kind = c->stream != NULL ? "Stream" : "Service";
	*keep = src != NULL;
	if (src == NULL)
		return 0;
	if (c->stream != NULL && c->service != NULL)
		return opts_fail(x, c->service, "Detected service but already saw a stream");
	if (src->type != CONF_MAP)
		return opts_fail(x, src, "%s entry should be an account map, got %s", kind,
				 opts_type(src));
	c->im.kind = c->stream != NULL ? OPTS_EXPORT_STREAM : OPTS_EXPORT_SERVICE;
	if (opts_walk(x, src, "accounts.imports", opts_import_source_fields,
		      ARRAY_LEN(opts_import_source_fields), &c->im, OPTS_UNK_FIELD) < 0)
		return -1;
	if (c->im.account == NULL || c->im.account[0] == '\0' || c->im.subject == NULL ||
	    c->im.subject[0] == '\0')
		return opts_fail(x, src, "Expect an account name and a subject");
	return opts_imp_strings(x, c);
}

static int opts_imp_check_dup(struct opts_ctx *x, const struct conf_node *v,
			      const struct opts_account *a, const struct opts_import *im)
{
	if (im->kind != OPTS_EXPORT_SERVICE)
		return 0;
	for (size_t i = 0; i < a->n_imports; i++) {
		const struct opts_import *p = &a->imports[i];
		if (p->kind == OPTS_EXPORT_SERVICE && strcmp(p->to, im->to) == 0)
			return opts_fail(x, v, "Duplicate service import subject \"%s\", "
					 "previously used in import for account \"%s\", "
					 "subject \"%s\"",
					 im->to, p->account, p->subject);
	}
	return 0;
}

static int opts_acc_imports(struct opts_ctx *x, const char *key, const struct conf_node *v,
			    void *target)
{
	struct opts_account *a = target;
	UNUSED(key);
	if (v->type != CONF_ARRAY)
		return opts_fail(x, v, "Imports should be an array, got %s", opts_type(v));
	for (size_t i = 0; i < v->u.arr.n; i++) {
		const struct conf_node *e = v->u.arr.items[i];
		struct opts_import_ctx c = { 0 };
		struct opts_import *slot;
		bool keep = false;
		if (e->type != CONF_MAP)
			return opts_fail(x, e, "Import Items should be a map with type entry, "
					 "got %s", opts_type(e));
		int rc = opts_walk(x, e, "accounts.imports", opts_import_fields,
				   ARRAY_LEN(opts_import_fields), &c, OPTS_UNK_FIELD);
		if (rc == 0)
			rc = opts_imp_finish(x, &c, &keep);
		if (rc == 0 && keep)
			rc = opts_imp_check_dup(x, e, a, &c.im);
		c.im.file = opts_file(x, e->file);
		c.im.line = e->line;
		if (rc == 0 && keep) {
			OPTS_APPEND(x, a->imports, a->n_imports, slot);
			if (slot != NULL) {
				*slot = c.im;
				continue;
			}
			rc = -1;
		}
		opts_import_free(x->mem, &c.im);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Accounts: the rest of an account block                              */

static int opts_acc_nkey(struct opts_ctx *x, const char *key, const struct conf_node *v,
			 void *target)
{
	struct opts_account *a = target;
	UNUSED(key);
	if (v->type != CONF_STRING || !opts_nkey_valid(v->u.str.s, 'A'))
		return opts_fail(x, v, "Not a valid public nkey for an account: \"%s\"",
				 v->type == CONF_STRING ? v->u.str.s : opts_type(v));
	return opts_set_str(x, &a->nkey, v->u.str.s);
}

static const struct opts_field opts_js_limit_fields[] = {
	OPTS_F("max_memory|max_mem|mem|memory", OPTS_K_INT, struct opts_js_limits, max_memory),
	OPTS_F("max_store|max_file|max_disk|store|disk", OPTS_K_INT, struct opts_js_limits,
	       max_store),
	OPTS_F("max_streams|streams", OPTS_K_INT, struct opts_js_limits, max_streams),
	OPTS_F("max_consumers|consumers", OPTS_K_INT, struct opts_js_limits, max_consumers),
	OPTS_F("max_bytes_required|max_stream_bytes|max_bytes", OPTS_K_BOOL,
	       struct opts_js_limits, max_bytes_required),
	OPTS_F("mem_max_stream_bytes|memory_max_stream_bytes", OPTS_K_INT,
	       struct opts_js_limits, mem_max_stream_bytes),
	OPTS_F("disk_max_stream_bytes|store_max_stream_bytes", OPTS_K_INT,
	       struct opts_js_limits, disk_max_stream_bytes),
	OPTS_F("max_ack_pending", OPTS_K_INT, struct opts_js_limits, max_ack_pending),
};

/* true / "enabled" / limits map; false / "disabled". */
static int opts_acc_jetstream(struct opts_ctx *x, const char *key, const struct conf_node *v,
			      void *target)
{
	struct opts_account *a = target;
	UNUSED(key);
	opts_js_limits_init(&a->js_limits);
	if (v->type == CONF_BOOL) {
		a->jetstream = v->u.b;
	} else if (v->type == CONF_STRING) {
		const char *s = v->u.str.s;
		if (opts_word(s, "enabled") || opts_word(s, "enable"))
			a->jetstream = true;
		else if (opts_word(s, "disabled") || opts_word(s, "disable"))
			a->jetstream = false;
		else
			return opts_fail(x, v, "Expected 'enabled' or 'disabled' for string "
					 "value, got '%s'", s);
	} else if (v->type == CONF_MAP) {
		a->jetstream = true;
		return opts_walk(x, v, "accounts.jetstream", opts_js_limit_fields,
				 ARRAY_LEN(opts_js_limit_fields), &a->js_limits, OPTS_UNK_FIELD);
	} else {
		return opts_fail(x, v, "Expected map, bool or string to define JetStream, got %s",
				 opts_type(v));
	}
	return 0;
}

static int opts_acc_users(struct opts_ctx *x, const char *key, const struct conf_node *v,
			  void *target)
{
	struct opts_account *a = target;
	UNUSED(key);
	if (x->acc_users_node == NULL && v->type == CONF_ARRAY && v->u.arr.n > 0)
		x->acc_users_node = v;
	return opts_parse_users(x, v, a->name, false, &x->o->users, &x->o->n_users,
				"accounts.users");
}

static int opts_acc_default_perms(struct opts_ctx *x, const char *key,
				  const struct conf_node *v, void *target)
{
	UNUSED(key);
	return opts_get_permissions(x, v, &((struct opts_account *)target)->default_permissions);
}

static int opts_acc_mappings(struct opts_ctx *x, const char *key, const struct conf_node *v,
			     void *target)
{
	struct opts_account *a = target;
	UNUSED(key);
	return opts_parse_mappings(x, v, &a->mappings, &a->n_mappings);
}

static const struct opts_field opts_acc_limit_fields[] = {
	OPTS_F("max_connections|max_conn", OPTS_K_INT, struct opts_account, max_connections),
	OPTS_F("max_subscriptions|max_subs", OPTS_K_INT, struct opts_account, max_subscriptions),
	OPTS_F("max_payload|max_pay", OPTS_K_INT, struct opts_account, max_payload),
	OPTS_F("max_leafnodes|max_leafs", OPTS_K_INT, struct opts_account, max_leafnodes),
};

static int opts_acc_limits(struct opts_ctx *x, const char *key, const struct conf_node *v,
			   void *target)
{
	UNUSED(key);
	if (v->type != CONF_MAP)
		return opts_fail(x, v, "Expected account limits to be a map/struct, got %s",
				 opts_type(v));
	return opts_walk(x, v, "accounts.limits", opts_acc_limit_fields,
			 ARRAY_LEN(opts_acc_limit_fields), target, OPTS_UNK_LIMITS);
}

static const struct opts_field opts_account_fields[] = {
	OPTS_FN("nkey", opts_acc_nkey),
	OPTS_FN("imports", opts_acc_imports),
	OPTS_FN("exports", opts_acc_exports),
	OPTS_FN("jetstream", opts_acc_jetstream),
	OPTS_FN("users", opts_acc_users),
	OPTS_FN("default_permissions", opts_acc_default_perms),
	OPTS_FN("mappings|maps", opts_acc_mappings),
	OPTS_FN("limits", opts_acc_limits),
};

static struct opts_account *opts_account_find(struct opts *o, const char *name)
{
	for (size_t i = 0; i < o->n_accounts; i++) {
		if (strcmp(o->accounts[i].name, name) == 0)
			return &o->accounts[i];
	}
	return NULL;
}

/* Declares an account; $G is reserved (the reference allows $SYS). */
static struct opts_account *opts_account_new(struct opts_ctx *x, const char *name,
					     const struct conf_node *at)
{
	struct opts *o = x->o;
	struct opts_account *a;
	if (strcmp(name, "$G") == 0) {
		opts_fail(x, at, "\"%s\" is a Reserved Account", name);
		return NULL;
	}
	if (opts_account_find(o, name) != NULL) {
		opts_fail(x, at, "Duplicate Account Entry: %s", name);
		return NULL;
	}
	OPTS_APPEND(x, o->accounts, o->n_accounts, a);
	if (a == NULL)
		return NULL;
	a->max_connections = a->max_subscriptions = a->max_payload = a->max_leafnodes = -1;
	opts_js_limits_init(&a->js_limits);
	opts_perms_init(&a->default_permissions);
	a->file = opts_file(x, at->file);
	a->line = at->line;
	a->name = mem_strdup(x->mem, name);
	if (a->name == NULL || a->file == NULL) {
		opts_oom(x);
		return NULL;
	}
	return a;
}

static int opts_account_block(struct opts_ctx *x, const char *name, const struct conf_node *v)
{
	struct opts *o = x->o;
	if (v->type != CONF_MAP)
		return opts_fail(x, v, "Expected map entries for accounts");
	if (opts_account_new(x, name, v) == NULL)
		return -1;
	size_t idx = o->n_accounts - 1, first_user = o->n_users;
	/* The account's fields only grow its own arrays and o->users, so the
	 * pointer into o->accounts stays valid during the walk. */
	struct opts_account *a = &o->accounts[idx];
	if (opts_walk(x, v, "accounts", opts_account_fields, ARRAY_LEN(opts_account_fields), a,
		      OPTS_UNK_FIELD) < 0)
		return -1;
	if (o->n_users == first_user)
		return 0;              /* no users: o->users may still be NULL */
	return opts_apply_default_perms(x, o->users + first_user, o->n_users - first_user,
					&a->default_permissions);
}

/* ------------------------------------------------------------------ */
/* Accounts: cross-account checks                                      */

/* The reference's isSubsetMatch: is subject (tokens) inside pattern? */
static bool opts_subset_match(const char *subject, const char *pattern)
{
	const char *s = subject, *p = pattern;
	while (p != NULL) {
		size_t pl = strcspn(p, "."), sl;
		if (s == NULL || pl == 0)
			return false;
		if (pl == 1 && p[0] == '>')
			return true;
		sl = strcspn(s, ".");
		if (sl == 0 || (sl == 1 && s[0] == '>'))
			return false;
		if (sl == 1 && s[0] == '*') {
			if (!(pl == 1 && p[0] == '*'))
				return false;
		} else if (!(pl == 1 && p[0] == '*') && (pl != sl || memcmp(s, p, sl) != 0)) {
			return false;
		}
		p = p[pl] == '.' ? p + pl + 1 : NULL;
		s = s[sl] == '.' ? s + sl + 1 : NULL;
	}
	return s == NULL;
}

static bool opts_export_allows(const struct opts_export *e, const char *importer,
			       const char *subject)
{
	if (e->n_accounts == 0 && e->account_token_position == 0)
		return true;
	if (e->account_token_position > 0) {
		const char *t = subject;
		for (int i = 1; i < e->account_token_position && t != NULL; i++) {
			t = strchr(t, '.');
			t = t != NULL ? t + 1 : NULL;
		}
		return t != NULL && strncmp(t, importer, strlen(importer)) == 0 &&
		       (t[strlen(importer)] == '.' || t[strlen(importer)] == '\0');
	}
	for (size_t i = 0; i < e->n_accounts; i++) {
		if (strcmp(e->accounts[i], importer) == 0)
			return true;
	}
	return false;
}

/* An exact export decides first, then any export containing the subject. */
static bool opts_import_authorized(const struct opts_account *from, const char *importer,
				   const struct opts_import *im)
{
	if (!opts_subject_valid(im->subject))
		return false;
	for (size_t i = 0; i < from->n_exports; i++) {
		const struct opts_export *e = &from->exports[i];
		if (e->kind == im->kind && strcmp(e->subject, im->subject) == 0)
			return opts_export_allows(e, importer, im->subject);
	}
	for (size_t i = 0; i < from->n_exports; i++) {
		const struct opts_export *e = &from->exports[i];
		if (e->kind == im->kind && opts_subset_match(im->subject, e->subject) &&
		    opts_export_allows(e, importer, im->subject))
			return true;
	}
	return false;
}

static const char *opts_kind_name(enum opts_export_kind k)
{
	return k == OPTS_EXPORT_STREAM ? "stream" : "service";
}

static int opts_check_exports(struct opts_ctx *x, const struct opts_account *a)
{
	for (size_t j = 0; j < a->n_exports; j++) {
		const struct opts_export *e = &a->exports[j];
		for (size_t k = 0; k < e->n_accounts; k++) {
			if (opts_account_find(x->o, e->accounts[k]) != NULL)
				continue;
			return opts_fail_line(x, e->file, e->line, "\"%s\" account not defined "
					      "for %s export", e->accounts[k],
					      opts_kind_name(e->kind));
		}
	}
	return 0;
}

static int opts_check_imports(struct opts_ctx *x, const struct opts_account *a)
{
	for (size_t j = 0; j < a->n_imports; j++) {
		const struct opts_import *im = &a->imports[j];
		const char *kind = opts_kind_name(im->kind);
		const struct opts_account *from = opts_account_find(x->o, im->account);
		if (from == NULL)
			return opts_fail_line(x, im->file, im->line, "\"%s\" account not defined "
					      "for %s import", im->account, kind);
		if (!opts_import_authorized(from, a->name, im))
			return opts_fail_line(x, im->file, im->line, "Error adding %s import "
					      "\"%s\": %s import not authorized", kind,
					      im->subject, kind);
	}
	return 0;
}

/* Run once all accounts are known, like the reference. */
static int opts_check_account_links(struct opts_ctx *x)
{
	for (size_t i = 0; i < x->o->n_accounts; i++) {
		if (opts_check_exports(x, &x->o->accounts[i]) < 0 ||
		    opts_check_imports(x, &x->o->accounts[i]) < 0)
			return -1;
	}
	return 0;
}

static int opts_top_accounts(struct opts_ctx *x, const char *key, const struct conf_node *v,
			     void *target)
{
	UNUSED(key);
	UNUSED(target);
	if (v->type == CONF_ARRAY) {
		for (size_t i = 0; i < v->u.arr.n; i++) {
			const struct conf_node *e = v->u.arr.items[i];
			if (e->type != CONF_STRING)
				return opts_fail(x, e, "\"accounts\": expected account "
						 "names, got %s", opts_type(e));
			if (opts_account_new(x, e->u.str.s, e) == NULL)
				return -1;
		}
	} else if (v->type == CONF_MAP) {
		for (size_t i = 0; i < v->u.map.n; i++) {
			const struct conf_kv *kv = &v->u.map.kv[i];
			if (opts_overridden(v, i) || kv->value->used_as_var)
				continue;
			if (opts_account_block(x, kv->key, kv->value) < 0)
				return -1;
		}
	} else {
		return opts_fail(x, v, "Expected accounts to be a map or an array, got %s",
				 opts_type(v));
	}
	return opts_check_account_links(x);
}

/* ------------------------------------------------------------------ */
/* jetstream                                                           */

static int opts_js_store_dir(struct opts_ctx *x, const char *key, const struct conf_node *v,
			     void *target)
{
	struct opts_jetstream *js = target;
	if (js->store_dir != NULL)
		return opts_fail(x, v, "Duplicate 'store_dir' configuration");
	return opts_get_str(x, key, v, &js->store_dir);
}

static bool opts_domain_valid(const char *d)
{
	return d[0] != '\0' && strpbrk(d, " \t\r\n\f.*>") == NULL;
}

static int opts_js_domain(struct opts_ctx *x, const char *key, const struct conf_node *v,
			  void *target)
{
	struct opts_jetstream *js = target;
	if (opts_get_str(x, key, v, &js->domain) < 0)
		return -1;
	if (js->domain[0] != '\0' && !opts_domain_valid(js->domain))
		return opts_fail(x, v, "invalid domain name: may not contain ., * or >");
	return 0;
}

static int opts_js_enable(struct opts_ctx *x, const char *key, const struct conf_node *v,
			  void *target)
{
	UNUSED(target);
	return opts_get_bool(x, key, v, &x->js_enable);
}

static int opts_js_cipher(struct opts_ctx *x, const char *key, const struct conf_node *v,
			  void *target)
{
	UNUSED(target);
	if (opts_get_str(x, key, v, NULL) < 0)
		return -1;
	const char *c = v->u.str.s;
	if (!opts_word(c, "chacha") && !opts_word(c, "chachapoly") && !opts_word(c, "aes"))
		return opts_fail(x, v, "Unknown cipher type: \"%s\"", c);
	return 0;
}

static int opts_js_unique_tag(struct opts_ctx *x, const char *key, const struct conf_node *v,
			      void *target)
{
	struct opts_jetstream *js = target;
	if (opts_want(x, key, v, CONF_STRING, "a string") < 0)
		return -1;
	const char *s = v->u.str.s + strspn(v->u.str.s, " \t\r\n\f\v");
	size_t n = strlen(s);
	while (n > 0 && strchr(" \t\r\n\f\v", s[n - 1]) != NULL)
		n--;
	char *t = mem_strndup(x->mem, s, n);
	if (t == NULL)
		return opts_oom(x);
	for (char *c = t; *c != '\0'; c++)
		*c = *c >= 'A' && *c <= 'Z' ? (char)(*c + 32) : *c;
	opts_str_free(x->mem, &js->unique_tag);
	js->unique_tag = t;
	return 0;
}

/* sync_interval (2.10): a duration or "always". */
static int opts_js_sync(struct opts_ctx *x, const char *key, const struct conf_node *v,
			void *target)
{
	struct opts_jetstream *js = target;
	if (v->type == CONF_STRING && opts_word(v->u.str.s, "always")) {
		js->sync_always = true;
		js->sync_interval_ns = 0;
		return 0;
	}
	js->sync_always = false;
	return opts_get_duration(x, key, v, &js->sync_interval_ns);
}

static int opts_js_dup_window(struct opts_ctx *x, const char *key, const struct conf_node *v,
			      void *target)
{
	struct opts_jetstream *js = target;
	if (opts_want(x, key, v, CONF_STRING, "a duration") < 0)
		return -1;
	if (opts_parse_duration(v->u.str.s, &js->duplicate_window_ns) < 0)
		return opts_fail(x, v, "time: invalid duration \"%s\"", v->u.str.s);
	return 0;
}

static const struct opts_field opts_js_server_limit_fields[] = {
	OPTS_F("max_ack_pending", OPTS_K_INT, struct opts_jetstream, limits.max_ack_pending),
	OPTS_F("max_ha_assets", OPTS_K_INT, struct opts_jetstream, max_ha_assets),
	OPTS_F("max_request_batch", OPTS_K_INT, struct opts_jetstream, max_request_batch),
	OPTS_FN("duplicate_window", opts_js_dup_window),
};

static int opts_js_limits(struct opts_ctx *x, const char *key, const struct conf_node *v,
			  void *target)
{
	UNUSED(key);
	if (v->type != CONF_MAP)
		return opts_fail(x, v, "Expected a map to define JetStreamLimits, got %s",
				 opts_type(v));
	return opts_walk(x, v, "jetstream.limits", opts_js_server_limit_fields,
			 ARRAY_LEN(opts_js_server_limit_fields), target, OPTS_UNK_FIELD);
}

static const struct opts_field opts_js_fields[] = {
	OPTS_FN("store_dir|store|storedir", opts_js_store_dir),
	OPTS_F("max_memory_store|max_mem_store|max_mem", OPTS_K_SIZE, struct opts_jetstream,
	       max_memory),
	OPTS_F("max_file_store|max_file", OPTS_K_SIZE, struct opts_jetstream, max_store),
	OPTS_FN("domain", opts_js_domain),
	OPTS_FN("enabled|enable", opts_js_enable),
	OPTS_CHECK("key|ek|encryption_key", OPTS_K_STR),
	OPTS_FN("cipher", opts_js_cipher),
	OPTS_F("extension_hint", OPTS_K_STR, struct opts_jetstream, extension_hint),
	OPTS_FN("limits", opts_js_limits),
	OPTS_FN("unique_tag", opts_js_unique_tag),
	OPTS_F("max_outstanding_catchup", OPTS_K_SIZE, struct opts_jetstream,
	       max_outstanding_catchup),
	OPTS_FN("sync_interval", opts_js_sync),
};

/* jetstream: true | "enabled" | "disabled" | { ... } */
static int opts_top_jetstream(struct opts_ctx *x, const char *key, const struct conf_node *v,
			      void *target)
{
	struct opts_jetstream *js = &x->o->jetstream;
	UNUSED(key);
	UNUSED(target);
	js->set = true;
	if (v->type == CONF_BOOL) {
		js->enabled = v->u.b;
	} else if (v->type == CONF_STRING) {
		if (opts_word(v->u.str.s, "enabled") || opts_word(v->u.str.s, "enable"))
			js->enabled = true;
		else if (opts_word(v->u.str.s, "disabled") || opts_word(v->u.str.s, "disable"))
			js->enabled = false;
		else
			return opts_fail(x, v, "Expected 'enabled' or 'disabled' for string "
					 "value, got '%s'", v->u.str.s);
	} else if (v->type == CONF_MAP) {
		x->js_enable = true;
		if (opts_walk(x, v, "jetstream", opts_js_fields, ARRAY_LEN(opts_js_fields), js,
			      OPTS_UNK_FIELD) < 0)
			return -1;
		js->enabled = x->js_enable;
	} else {
		return opts_fail(x, v, "Expected map, bool or string to define JetStream, got %s",
				 opts_type(v));
	}
	return 0;
}

static int opts_top_store_dir(struct opts_ctx *x, const char *key, const struct conf_node *v,
			      void *target)
{
	UNUSED(target);
	return opts_js_store_dir(x, key, v, &x->o->jetstream);
}

static void opts_jetstream_free(struct mem *mem, struct opts_jetstream *js)
{
	mem_free(mem, js->store_dir);
	mem_free(mem, js->domain);
	mem_free(mem, js->unique_tag);
	mem_free(mem, js->extension_hint);
}

/* ------------------------------------------------------------------ */
/* tls, websocket, mqtt: recognised and checked, not implemented       */

static int opts_tls_nonempty_list(struct opts_ctx *x, const char *key,
				  const struct conf_node *v, void *target)
{
	UNUSED(target);
	if (v->type != CONF_ARRAY || v->u.arr.n == 0)
		return opts_fail(x, v, "error parsing tls config, '%s' cannot be empty", key);
	return opts_get_strings(x, key, v, NULL, NULL);
}

static int opts_tls_pinned(struct opts_ctx *x, const char *key, const struct conf_node *v,
			   void *target)
{
	UNUSED(target);
	if (v->type != CONF_ARRAY)
		return opts_fail(x, v, "error parsing tls config, expected 'pinned_certs' to be a "
				 "list of hex-encoded sha256 of DER encoded SubjectPublicKeyInfo");
	if (opts_get_strings(x, key, v, NULL, NULL) < 0)
		return -1;
	for (size_t i = 0; i < v->u.arr.n; i++) {
		const char *s = v->u.arr.items[i]->u.str.s;
		if (strlen(s) != 64 || strspn(s, "0123456789abcdefABCDEF") != 64)
			return opts_fail(x, v->u.arr.items[i], "error parsing tls config, "
					 "'pinned_certs' key %s does not look like hex-encoded "
					 "sha256 of DER encoded SubjectPublicKeyInfo", s);
	}
	return 0;
}

static const struct opts_field opts_tls_fields[] = {
	OPTS_CHECK("cert_file", OPTS_K_STR),
	OPTS_CHECK("key_file", OPTS_K_STR),
	OPTS_CHECK("ca_file", OPTS_K_STR),
	OPTS_CHECK("insecure", OPTS_K_BOOL),
	OPTS_CHECK("verify", OPTS_K_BOOL),
	OPTS_CHECK("verify_and_map", OPTS_K_BOOL),
	OPTS_CHECK("verify_cert_and_check_known_urls", OPTS_K_BOOL),
	OPTS_FN("cipher_suites", opts_tls_nonempty_list),
	OPTS_FN("curve_preferences", opts_tls_nonempty_list),
	OPTS_CHECK("timeout", OPTS_K_SECONDS),
	OPTS_CHECK("connection_rate_limit", OPTS_K_INT),
	OPTS_FN("pinned_certs", opts_tls_pinned),
};

static int opts_check_tls(struct opts_ctx *x, const char *key, const struct conf_node *v,
			  void *target)
{
	UNUSED(key);
	UNUSED(target);
	if (v->type != CONF_MAP)
		return opts_fail(x, v, "error parsing tls config, expected a map, got %s",
				 opts_type(v));
	if (opts_walk(x, v, "tls", opts_tls_fields, ARRAY_LEN(opts_tls_fields), NULL,
		      OPTS_UNK_TLS) < 0)
		return -1;
	bool cert = conf_map_get(v, "cert_file") != NULL;
	bool pkey = conf_map_get(v, "key_file") != NULL;
	if (cert != pkey)
		return opts_fail(x, v, "missing '%s' in TLS configuration",
				 cert ? "key_file" : "cert_file");
	return 0;
}

static const struct opts_field opts_simple_auth_fields[] = {
	OPTS_CHECK("user|username", OPTS_K_STR),
	OPTS_CHECK("password|pass", OPTS_K_STR),
	OPTS_CHECK("token", OPTS_K_STR),
	OPTS_CHECK("timeout", OPTS_K_SECONDS),
};

static int opts_check_simple_auth(struct opts_ctx *x, const char *key,
				  const struct conf_node *v, void *target)
{
	UNUSED(target);
	if (opts_want_map(x, key, v) < 0)
		return -1;
	return opts_walk(x, v, "websocket.authorization", opts_simple_auth_fields,
			 ARRAY_LEN(opts_simple_auth_fields), NULL, OPTS_UNK_FIELD);
}

static int opts_check_listen(struct opts_ctx *x, const char *key, const struct conf_node *v,
			     void *target)
{
	UNUSED(target);
	return opts_get_listen(x, key, v, NULL, NULL);
}

static int opts_check_strings(struct opts_ctx *x, const char *key, const struct conf_node *v,
			      void *target)
{
	UNUSED(target);
	return opts_get_strings(x, key, v, NULL, NULL);
}

static const struct opts_field opts_ws_fields[] = {
	OPTS_FN("listen", opts_check_listen),
	OPTS_CHECK("port", OPTS_K_PORT),
	OPTS_CHECK("host|net", OPTS_K_STR),
	OPTS_CHECK("advertise", OPTS_K_STR),
	OPTS_CHECK("no_tls", OPTS_K_BOOL),
	OPTS_FN("tls", opts_check_tls),
	OPTS_CHECK("same_origin", OPTS_K_BOOL),
	OPTS_FN("allowed_origins|allowed_origin|allow_origins|allow_origin|origins|origin",
		opts_check_strings),
	OPTS_CHECK("handshake_timeout", OPTS_K_SECONDS),
	OPTS_CHECK("compression|compress", OPTS_K_BOOL),
	OPTS_FN("authorization|authentication", opts_check_simple_auth),
	OPTS_CHECK("jwt_cookie", OPTS_K_STR),
	OPTS_CHECK("no_auth_user", OPTS_K_STR),
};

static int opts_mqtt_pending(struct opts_ctx *x, const char *key, const struct conf_node *v,
			     void *target)
{
	int64_t n;
	UNUSED(target);
	if (opts_get_int(x, key, v, &n) < 0)
		return -1;
	if (n < 0 || n > 0xffff)
		return opts_fail(x, v, "invalid value %lld, should in [0..%d] range",
				 (long long)n, 0xffff);
	return 0;
}

static const struct opts_field opts_mqtt_fields[] = {
	OPTS_FN("listen", opts_check_listen),
	OPTS_CHECK("port", OPTS_K_PORT),
	OPTS_CHECK("host|net", OPTS_K_STR),
	OPTS_FN("tls", opts_check_tls),
	OPTS_FN("authorization|authentication", opts_check_simple_auth),
	OPTS_CHECK("no_auth_user", OPTS_K_STR),
	OPTS_CHECK("ack_wait|ackwait", OPTS_K_DURATION),
	OPTS_FN("max_ack_pending|max_pending|max_inflight", opts_mqtt_pending),
	OPTS_CHECK("js_domain", OPTS_K_STR),
	OPTS_CHECK("stream_replicas", OPTS_K_INT),
	OPTS_CHECK("consumer_replicas", OPTS_K_INT),
	OPTS_CHECK("consumer_memory_storage", OPTS_K_BOOL),
	OPTS_CHECK("consumer_inactive_threshold|consumer_auto_cleanup", OPTS_K_DURATION),
};

static int opts_top_websocket(struct opts_ctx *x, const char *key, const struct conf_node *v,
			      void *target)
{
	UNUSED(key);
	UNUSED(target);
	if (opts_want_map(x, "websocket", v) < 0)
		return -1;
	return opts_walk(x, v, "websocket", opts_ws_fields, ARRAY_LEN(opts_ws_fields), NULL,
			 OPTS_UNK_FIELD);
}

static int opts_top_mqtt(struct opts_ctx *x, const char *key, const struct conf_node *v,
			 void *target)
{
	UNUSED(key);
	UNUSED(target);
	if (opts_want_map(x, "mqtt", v) < 0)
		return -1;
	return opts_walk(x, v, "mqtt", opts_mqtt_fields, ARRAY_LEN(opts_mqtt_fields), NULL,
			 OPTS_UNK_FIELD);
}

/* ------------------------------------------------------------------ */
/* leafnodes                                                           */

static void opts_remote_free(struct mem *mem, struct opts_remote_leaf *r)
{
	opts_strv_free(mem, &r->urls, &r->n_urls);
	mem_free(mem, r->account);
	mem_free(mem, r->credentials);
	opts_subjects_free(mem, &r->deny_imports);
	opts_subjects_free(mem, &r->deny_exports);
}

/* url / urls: a string or a list; repeated URLs are dropped with a warning. */
static int opts_remote_urls(struct opts_ctx *x, const char *key, const struct conf_node *v,
			    void *target)
{
	struct opts_remote_leaf *r = target;
	if (v->type != CONF_STRING && v->type != CONF_ARRAY)
		return opts_fail(x, v, "Expected remote leafnode url to be an array or string, "
				 "got %s", opts_type(v));
	if (v->type == CONF_ARRAY)
		opts_strv_free(x->mem, &r->urls, &r->n_urls);
	size_t n = v->type == CONF_ARRAY ? v->u.arr.n : 1;
	for (size_t i = 0; i < n; i++) {
		const struct conf_node *e = v->type == CONF_ARRAY ? v->u.arr.items[i] : v;
		bool dup = false;
		if (opts_want(x, key, e, CONF_STRING, "a URL string") < 0)
			return -1;
		for (size_t j = 0; j < r->n_urls && v->type == CONF_ARRAY; j++)
			dup = dup || strcmp(r->urls[j], e->u.str.s) == 0;
		if (dup) {
			opts_warn(x, e, "invalid use of field \"%s\": Duplicate leafnode entry "
				  "detected", e->u.str.s);
			continue;
		}
		if (opts_strv_push(x, &r->urls, &r->n_urls, e->u.str.s) < 0)
			return -1;
	}
	return 0;
}

static int opts_remote_deny_imports(struct opts_ctx *x, const char *key,
				    const struct conf_node *v, void *target)
{
	struct opts_remote_leaf *r = target;
	UNUSED(key);
	opts_subjects_free(x->mem, &r->deny_imports);
	return opts_get_subjects(x, v, &r->deny_imports);
}

static int opts_remote_deny_exports(struct opts_ctx *x, const char *key,
				    const struct conf_node *v, void *target)
{
	struct opts_remote_leaf *r = target;
	UNUSED(key);
	opts_subjects_free(x->mem, &r->deny_exports);
	return opts_get_subjects(x, v, &r->deny_exports);
}

static const struct opts_field opts_remote_fields[] = {
	OPTS_F("no_randomize|dont_randomize", OPTS_K_BOOL, struct opts_remote_leaf,
	       no_randomize),
	OPTS_FN("urls|url", opts_remote_urls),
	OPTS_F("account|local", OPTS_K_STR, struct opts_remote_leaf, account),
	OPTS_F("credentials|creds", OPTS_K_STR, struct opts_remote_leaf, credentials),
	OPTS_FN("tls", opts_check_tls),
	OPTS_F("hub", OPTS_K_BOOL, struct opts_remote_leaf, hub),
	OPTS_FN("deny_imports|deny_import", opts_remote_deny_imports),
	OPTS_FN("deny_exports|deny_export", opts_remote_deny_exports),
	OPTS_CHECK("ws_compression|ws_compress|websocket_compress|websocket_compression",
		   OPTS_K_BOOL),
	OPTS_CHECK("ws_no_masking|websocket_no_masking", OPTS_K_BOOL),
	OPTS_CHECK("jetstream_cluster_migrate|js_cluster_migrate", OPTS_K_ANY),
};

static int opts_leaf_remotes(struct opts_ctx *x, const char *key, const struct conf_node *v,
			     void *target)
{
	struct opts_leafnodes *ln = target;
	UNUSED(key);
	if (v->type != CONF_ARRAY)
		return opts_fail(x, v, "Expected remotes field to be an array, got %s",
				 opts_type(v));
	for (size_t i = 0; i < ln->n_remotes; i++)
		opts_remote_free(x->mem, &ln->remotes[i]);
	ln->n_remotes = 0;
	for (size_t i = 0; i < v->u.arr.n; i++) {
		const struct conf_node *e = v->u.arr.items[i];
		struct opts_remote_leaf *r;
		if (e->type != CONF_MAP)
			return opts_fail(x, e, "Expected remote leafnode entry to be a "
					 "map/struct, got %s", opts_type(e));
		OPTS_APPEND(x, ln->remotes, ln->n_remotes, r);
		if (r == NULL)
			return -1;
		r->file = opts_file(x, e->file);
		r->line = e->line;
		if (opts_walk(x, e, "leafnodes.remotes", opts_remote_fields,
			      ARRAY_LEN(opts_remote_fields), r, OPTS_UNK_FIELD) < 0)
			return -1;
	}
	return 0;
}

static int opts_leaf_auth(struct opts_ctx *x, const char *key, const struct conf_node *v,
			  void *target)
{
	struct opts_leafnodes *ln = target;
	struct opts_auth a;
	UNUSED(key);
	int rc = opts_parse_auth(x, v, true, "leafnodes.authorization", &a);
	if (rc == 0 && a.n_users > 0 && a.user != NULL)
		rc = opts_fail(x, v, "can not have a single user/pass and a users array");
	for (size_t i = 0; rc == 0 && i < a.n_users; i++) {
		for (size_t j = 0; rc == 0 && j < i; j++) {
			const char *u1 = a.users[i].user, *u2 = a.users[j].user;
			if ((u1 == NULL && u2 == NULL) || (u1 && u2 && strcmp(u1, u2) == 0))
				rc = opts_fail(x, v, "duplicate user \"%s\" detected in leafnode "
					       "authorization", u1 ? u1 : "");
		}
	}
	if (rc == 0) {
		opts_take_str(x->mem, &ln->auth_user, &a.user);
		opts_take_str(x->mem, &ln->auth_password, &a.password);
		opts_take_str(x->mem, &ln->auth_account, &a.account);
		ln->auth_timeout_ns = a.timeout_ns;
		opts_users_free(x->mem, &ln->users, &ln->n_users);
		rc = opts_users_move(x, &ln->users, &ln->n_users, &a.users, &a.n_users);
	}
	opts_auth_free(x->mem, &a);
	return rc;
}

/* reconnect: integer seconds in the reference; a duration string also works. */
static int opts_leaf_reconnect(struct opts_ctx *x, const char *key, const struct conf_node *v,
			       void *target)
{
	struct opts_leafnodes *ln = target;
	if (v->type == CONF_INT)
		return opts_seconds_ns(x, key, v, v->u.i, &ln->reconnect_delay_ns);
	return opts_get_duration(x, key, v, &ln->reconnect_delay_ns);
}

/* At least 2.8.0, as "major.minor.patch" with an optional 'v' and suffix. */
static int opts_leaf_min_version(struct opts_ctx *x, const char *key,
				 const struct conf_node *v, void *target)
{
	struct opts_leafnodes *ln = target;
	if (opts_want(x, key, v, CONF_STRING, "a version string") < 0)
		return -1;
	const char *s = v->u.str.s + (v->u.str.s[0] == 'v');
	long part[3];
	for (int i = 0; i < 3; i++) {
		size_t n = strspn(s, "0123456789");
		if (n == 0 || n > 6 || (i < 2 && s[n] != '.'))
			return opts_fail(x, v, "invalid leafnode's minimum version: "
					 "invalid semver \"%s\"", v->u.str.s);
		part[i] = strtol(s, NULL, 10);
		s += n + (i < 2 ? 1 : 0);
	}
	if (part[0] < 2 || (part[0] == 2 && part[1] < 8))
		return opts_fail(x, v, "the minimum version should be at least 2.8.0");
	return opts_set_str(x, &ln->min_version, v->u.str.s);
}

static int opts_leaf_listen(struct opts_ctx *x, const char *key, const struct conf_node *v,
			    void *target)
{
	struct opts_leafnodes *ln = target;
	return opts_get_listen(x, key, v, &ln->host, &ln->port);
}

static const struct opts_field opts_leaf_fields[] = {
	OPTS_FN("listen", opts_leaf_listen),
	OPTS_F("port", OPTS_K_PORT, struct opts_leafnodes, port),
	OPTS_F("host|net", OPTS_K_STR, struct opts_leafnodes, host),
	OPTS_FN("authorization", opts_leaf_auth),
	OPTS_FN("remotes", opts_leaf_remotes),
	OPTS_FN("reconnect|reconnect_delay|reconnect_interval", opts_leaf_reconnect),
	OPTS_FN("tls", opts_check_tls),
	OPTS_F("advertise|leafnode_advertise", OPTS_K_STR, struct opts_leafnodes, advertise),
	OPTS_F("no_advertise", OPTS_K_BOOL, struct opts_leafnodes, no_advertise),
	OPTS_FN("min_version|minimum_version", opts_leaf_min_version),
};

static int opts_top_leafnodes(struct opts_ctx *x, const char *key, const struct conf_node *v,
			      void *target)
{
	UNUSED(key);
	UNUSED(target);
	if (v->type != CONF_MAP)
		return opts_fail(x, v, "Expected map to define a leafnode, got %s", opts_type(v));
	x->o->leafnodes.set = true;
	return opts_walk(x, v, "leafnodes", opts_leaf_fields, ARRAY_LEN(opts_leaf_fields),
			 &x->o->leafnodes, OPTS_UNK_FIELD);
}

static void opts_leafnodes_free(struct mem *mem, struct opts_leafnodes *ln)
{
	opts_str_free(mem, &ln->host);
	mem_free(mem, ln->advertise);
	mem_free(mem, ln->auth_user);
	mem_free(mem, ln->auth_password);
	mem_free(mem, ln->auth_account);
	mem_free(mem, ln->min_version);
	opts_users_free(mem, &ln->users, &ln->n_users);
	for (size_t i = 0; i < ln->n_remotes; i++)
		opts_remote_free(mem, &ln->remotes[i]);
	mem_free(mem, ln->remotes);
}

/* ------------------------------------------------------------------ */
/* cluster and gateway (parsed; not implemented yet)                   */

/* Route and gateway authorization: one user, no token, no users list. */
static int opts_route_auth(struct opts_ctx *x, const struct conf_node *v, const char *what,
			   const char *path, char **user, char **password, int64_t *timeout_ns)
{
	struct opts_auth a;
	int rc = opts_parse_auth(x, v, false, path, &a);
	if (rc == 0 && a.users_given)
		rc = opts_fail(x, v, "%s authorization does not allow multiple users", what);
	if (rc == 0 && a.token != NULL)
		rc = opts_fail(x, v, "%s authorization does not support tokens", what);
	if (rc == 0 && a.perms.set)
		opts_warn(x, v, "invalid use of field \"authorization\": setting \"permissions\" "
			  "within cluster authorization block is deprecated");
	if (rc == 0) {
		opts_take_str(x->mem, user, &a.user);
		opts_take_str(x->mem, password, &a.password);
		*timeout_ns = a.timeout_ns;
	}
	opts_auth_free(x->mem, &a);
	return rc;
}

/* A list of URLs; repeats are dropped with a warning. */
static int opts_url_list(struct opts_ctx *x, const char *key, const struct conf_node *v,
			 const char *what, char ***urls, size_t *n)
{
	if (opts_want(x, key, v, CONF_ARRAY, "an array of URLs") < 0)
		return -1;
	opts_strv_free(x->mem, urls, n);
	for (size_t i = 0; i < v->u.arr.n; i++) {
		const struct conf_node *e = v->u.arr.items[i];
		bool dup = false;
		if (opts_want(x, key, e, CONF_STRING, "a URL string") < 0)
			return -1;
		for (size_t j = 0; j < *n; j++)
			dup = dup || strcmp((*urls)[j], e->u.str.s) == 0;
		if (dup) {
			opts_warn(x, e, "invalid use of field \"%s\": Duplicate %s entry detected",
				  e->u.str.s, what);
			continue;
		}
		if (opts_strv_push(x, urls, n, e->u.str.s) < 0)
			return -1;
	}
	return 0;
}

static int opts_cluster_listen(struct opts_ctx *x, const char *key, const struct conf_node *v,
			       void *target)
{
	struct opts_cluster *c = target;
	return opts_get_listen(x, key, v, &c->host, &c->port);
}

static int opts_cluster_auth(struct opts_ctx *x, const char *key, const struct conf_node *v,
			     void *target)
{
	struct opts_cluster *c = target;
	UNUSED(key);
	return opts_route_auth(x, v, "Cluster", "cluster.authorization", &c->auth_user,
			       &c->auth_password, &c->auth_timeout_ns);
}

static int opts_cluster_routes(struct opts_ctx *x, const char *key, const struct conf_node *v,
			       void *target)
{
	struct opts_cluster *c = target;
	return opts_url_list(x, key, v, "route", &c->routes, &c->n_routes);
}

static int opts_cluster_perms(struct opts_ctx *x, const char *key, const struct conf_node *v,
			      void *target)
{
	struct opts_permissions p;
	UNUSED(key);
	UNUSED(target);
	opts_perms_init(&p);
	int rc = opts_get_permissions(x, v, &p);
	if (rc == 0 && p.allow_responses)
		rc = opts_fail(x, v, "Cluster permissions do not support dynamic responses");
	opts_perms_free(x->mem, &p);
	return rc;
}

static const struct opts_field opts_cluster_fields[] = {
	OPTS_F("name", OPTS_K_STR, struct opts_cluster, name),
	OPTS_FN("listen", opts_cluster_listen),
	OPTS_F("port", OPTS_K_PORT, struct opts_cluster, port),
	OPTS_F("host|net", OPTS_K_STR, struct opts_cluster, host),
	OPTS_FN("authorization", opts_cluster_auth),
	OPTS_FN("routes", opts_cluster_routes),
	OPTS_FN("tls", opts_check_tls),
	OPTS_F("advertise|cluster_advertise", OPTS_K_STR, struct opts_cluster, advertise),
	OPTS_F("no_advertise", OPTS_K_BOOL, struct opts_cluster, no_advertise),
	OPTS_F("connect_retries", OPTS_K_INT, struct opts_cluster, connect_retries),
	OPTS_FN("permissions", opts_cluster_perms),
};

static int opts_top_cluster(struct opts_ctx *x, const char *key, const struct conf_node *v,
			    void *target)
{
	UNUSED(key);
	UNUSED(target);
	if (v->type != CONF_MAP)
		return opts_fail(x, v, "Expected map to define cluster, got %s", opts_type(v));
	x->o->cluster.set = true;
	return opts_walk(x, v, "cluster", opts_cluster_fields, ARRAY_LEN(opts_cluster_fields),
			 &x->o->cluster, OPTS_UNK_FIELD);
}

static int opts_gw_remote_url(struct opts_ctx *x, const char *key, const struct conf_node *v,
			      void *target)
{
	struct opts_gateway_remote *g = target;
	if (opts_want(x, key, v, CONF_STRING, "a URL string") < 0)
		return -1;
	return opts_strv_push(x, &g->urls, &g->n_urls, v->u.str.s);
}

static int opts_gw_remote_urls(struct opts_ctx *x, const char *key, const struct conf_node *v,
			       void *target)
{
	struct opts_gateway_remote *g = target;
	return opts_url_list(x, key, v, "gateway", &g->urls, &g->n_urls);
}

static const struct opts_field opts_gw_remote_fields[] = {
	OPTS_F("name", OPTS_K_STR, struct opts_gateway_remote, name),
	OPTS_FN("tls", opts_check_tls),
	OPTS_FN("url", opts_gw_remote_url),
	OPTS_FN("urls", opts_gw_remote_urls),
};

static void opts_gateway_free(struct mem *mem, struct opts_gateway *g)
{
	for (size_t i = 0; i < g->n_gateways; i++) {
		mem_free(mem, g->gateways[i].name);
		opts_strv_free(mem, &g->gateways[i].urls, &g->gateways[i].n_urls);
	}
	mem_free(mem, g->gateways);
	g->gateways = NULL;
	g->n_gateways = 0;
	mem_free(mem, g->name);
	opts_str_free(mem, &g->host);
	mem_free(mem, g->advertise);
}

static int opts_gw_gateways(struct opts_ctx *x, const char *key, const struct conf_node *v,
			    void *target)
{
	struct opts_gateway *gw = target;
	UNUSED(key);
	if (v->type != CONF_ARRAY)
		return opts_fail(x, v, "Expected gateways field to be an array, got %s",
				 opts_type(v));
	for (size_t i = 0; i < v->u.arr.n; i++) {
		const struct conf_node *e = v->u.arr.items[i];
		struct opts_gateway_remote *g;
		if (e->type != CONF_MAP)
			return opts_fail(x, e, "Expected gateway entry to be a map/struct, got %s",
					 opts_type(e));
		OPTS_APPEND(x, gw->gateways, gw->n_gateways, g);
		if (g == NULL || opts_walk(x, e, "gateway.gateways", opts_gw_remote_fields,
					   ARRAY_LEN(opts_gw_remote_fields), g,
					   OPTS_UNK_FIELD) < 0)
			return -1;
	}
	return 0;
}

static int opts_gw_listen(struct opts_ctx *x, const char *key, const struct conf_node *v,
			  void *target)
{
	struct opts_gateway *gw = target;
	return opts_get_listen(x, key, v, &gw->host, &gw->port);
}

static int opts_gw_auth(struct opts_ctx *x, const char *key, const struct conf_node *v,
			void *target)
{
	char *user = NULL, *password = NULL;
	int64_t timeout;
	UNUSED(key);
	UNUSED(target);
	int rc = opts_route_auth(x, v, "Gateway", "gateway.authorization", &user, &password,
				 &timeout);
	mem_free(x->mem, user);
	mem_free(x->mem, password);
	return rc;
}

static const struct opts_field opts_gateway_fields[] = {
	OPTS_F("name", OPTS_K_STR, struct opts_gateway, name),
	OPTS_FN("listen", opts_gw_listen),
	OPTS_F("port", OPTS_K_PORT, struct opts_gateway, port),
	OPTS_F("host|net", OPTS_K_STR, struct opts_gateway, host),
	OPTS_FN("authorization", opts_gw_auth),
	OPTS_FN("tls", opts_check_tls),
	OPTS_F("advertise", OPTS_K_STR, struct opts_gateway, advertise),
	OPTS_F("connect_retries", OPTS_K_INT, struct opts_gateway, connect_retries),
	OPTS_FN("gateways", opts_gw_gateways),
	OPTS_F("reject_unknown|reject_unknown_cluster", OPTS_K_BOOL, struct opts_gateway,
	       reject_unknown),
};

static int opts_top_gateway(struct opts_ctx *x, const char *key, const struct conf_node *v,
			    void *target)
{
	UNUSED(key);
	UNUSED(target);
	if (opts_want_map(x, "gateway", v) < 0)
		return -1;
	x->o->gateway.set = true;
	return opts_walk(x, v, "gateway", opts_gateway_fields, ARRAY_LEN(opts_gateway_fields),
			 &x->o->gateway, OPTS_UNK_FIELD);
}

/* ------------------------------------------------------------------ */
/* Top-level options                                                   */

static int opts_top_listen(struct opts_ctx *x, const char *key, const struct conf_node *v,
			   void *target)
{
	struct opts *o = target;
	return opts_get_listen(x, key, v, &o->host, &o->port);
}

static int opts_top_http(struct opts_ctx *x, const char *key, const struct conf_node *v,
			 void *target)
{
	struct opts *o = target;
	return opts_get_listen(x, key, v, &o->http_host, &o->http_port);
}

static int opts_top_https(struct opts_ctx *x, const char *key, const struct conf_node *v,
			  void *target)
{
	struct opts *o = target;
	return opts_get_listen(x, key, v, &o->http_host, &o->https_port);
}

static int opts_top_trace_verbose(struct opts_ctx *x, const char *key,
				  const struct conf_node *v, void *target)
{
	struct opts *o = target;
	if (opts_get_bool(x, key, v, &o->trace_verbose) < 0)
		return -1;
	o->trace = o->trace_verbose;
	return 0;
}

static int opts_top_server_tags(struct opts_ctx *x, const char *key, const struct conf_node *v,
				void *target)
{
	struct opts *o = target;
	UNUSED(key);
	opts_strv_free(x->mem, &o->server_tags, &o->n_server_tags);
	return opts_get_strings(x, "tags", v, &o->server_tags, &o->n_server_tags);
}

static int opts_top_mappings(struct opts_ctx *x, const char *key, const struct conf_node *v,
			     void *target)
{
	struct opts *o = target;
	UNUSED(key);
	return opts_parse_mappings(x, v, &o->mappings, &o->n_mappings);
}

/* max_payload, max_control_line: at most 2^31 - 1. */
static int opts_top_int32(struct opts_ctx *x, const char *key, const struct conf_node *v,
			  void *target)
{
	struct opts *o = target;
	int64_t n;
	if (opts_get_int(x, key, v, &n) < 0)
		return -1;
	if (n > INT32_MAX)
		return opts_fail(x, v, "%s value is too big", key);
	if (n < 0)
		return opts_fail(x, v, "%s value can not be negative", key);
	if (opts_word(key, "max_payload"))
		o->max_payload = n;
	else
		o->max_control_line = n;
	return 0;
}

static int opts_top_sub_tokens(struct opts_ctx *x, const char *key, const struct conf_node *v,
			       void *target)
{
	struct opts *o = target;
	int64_t n;
	if (opts_get_int(x, key, v, &n) < 0)
		return -1;
	if (n > 255)
		return opts_fail(x, v, "%s value is too big", key);
	if (n <= 0)
		return opts_fail(x, v, "%s value can not be negative", key);
	o->max_sub_tokens = n;
	return 0;
}

/* lame_duck_duration (at least 30s) and lame_duck_grace_period (>= 0):
 * duration strings only. */
static int opts_top_lame_duck(struct opts_ctx *x, const char *key, const struct conf_node *v,
			      void *target)
{
	struct opts *o = target;
	int64_t ns;
	bool grace = opts_word(key, "lame_duck_grace_period");
	if (opts_want(x, key, v, CONF_STRING, "a duration") < 0)
		return -1;
	if (opts_parse_duration(v->u.str.s, &ns) < 0)
		return opts_fail(x, v, "error parsing %s: time: invalid duration \"%s\"", key,
				 v->u.str.s);
	if (grace && ns < 0)
		return opts_fail(x, v, "invalid lame_duck_grace_period, needs to be positive");
	if (!grace && ns < 30 * NS_PER_SEC)
		return opts_fail(x, v, "invalid lame_duck_duration of %s, minimum is 30 seconds",
				 v->u.str.s);
	*(grace ? &o->lame_duck_grace_period_ns : &o->lame_duck_duration_ns) = ns;
	return 0;
}

static int opts_top_ocsp(struct opts_ctx *x, const char *key, const struct conf_node *v,
			 void *target)
{
	UNUSED(key);
	UNUSED(target);
	if (v->type != CONF_BOOL && v->type != CONF_MAP)
		return opts_fail(x, v, "error parsing ocsp config: unsupported type %s",
				 opts_type(v));
	return 0;
}

static int opts_top_resolver(struct opts_ctx *x, const char *key, const struct conf_node *v,
			     void *target)
{
	UNUSED(key);
	UNUSED(target);
	if (v->type != CONF_STRING && v->type != CONF_MAP)
		return opts_fail(x, v, "error parsing operator resolver, wrong type %s",
				 opts_type(v));
	return 0;
}

static int opts_top_preload(struct opts_ctx *x, const char *key, const struct conf_node *v,
			    void *target)
{
	UNUSED(key);
	UNUSED(target);
	if (v->type != CONF_MAP)
		return opts_fail(x, v, "preload should be a map of "
				 "account_public_key:account_jwt");
	for (size_t i = 0; i < v->u.map.n; i++) {
		if (v->u.map.kv[i].value->type != CONF_STRING)
			return opts_fail(x, v->u.map.kv[i].value,
					 "preload map value should be a string JWT");
	}
	return 0;
}

static int opts_top_trusted(struct opts_ctx *x, const char *key, const struct conf_node *v,
			    void *target)
{
	char **keys = NULL;
	size_t n = 0;
	UNUSED(target);
	int rc = opts_get_strings(x, key, v, &keys, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (!opts_nkey_valid(keys[i], 'O'))
			rc = opts_fail(x, v, "trust key \"%s\" required to be a valid public "
				       "operator nkey", keys[i]);
	}
	opts_strv_free(x->mem, &keys, &n);
	return rc;
}

static int opts_top_default_js_domain(struct opts_ctx *x, const char *key,
				      const struct conf_node *v, void *target)
{
	struct opts *o = target;
	UNUSED(key);
	if (v->type != CONF_MAP)
		return opts_fail(x, v, "error default_js_domain config: unsupported type %s",
				 opts_type(v));
	x->js_domain_node = v;
	opts_strv_free(x->mem, &o->default_js_domain_accounts, &o->n_default_js_domain);
	size_t n = 0;
	opts_strv_free(x->mem, &o->default_js_domain_domains, &n);
	for (size_t i = 0; i < v->u.map.n; i++) {
		const struct conf_kv *kv = &v->u.map.kv[i];
		if (opts_overridden(v, i))
			continue;
		if (opts_want(x, kv->key, kv->value, CONF_STRING, "a domain name") < 0)
			return -1;
		const char *d = kv->value->u.str.s;
		if (d[0] != '\0' && !opts_domain_valid(d))
			return opts_fail(x, kv->value, "default_js_domain contains account \"%s\" "
					 "with invalid domain name \"%s\"", kv->key, d);
		if (opts_strv_push(x, &o->default_js_domain_domains, &n, d) < 0)
			return -1;
		if (opts_strv_push(x, &o->default_js_domain_accounts, &o->n_default_js_domain,
				   kv->key) < 0)
			return -1;
	}
	return 0;
}

static int opts_top_no_auth_user(struct opts_ctx *x, const char *key,
				 const struct conf_node *v, void *target)
{
	struct opts *o = target;
	x->no_auth_node = v;
	return opts_get_str(x, key, v, &o->no_auth_user);
}

static const struct opts_field opts_top_fields[] = {
	OPTS_FN("listen", opts_top_listen),
	OPTS_F("port", OPTS_K_PORT, struct opts, port),
	OPTS_F("host|net", OPTS_K_STR, struct opts, host),
	OPTS_F("client_advertise", OPTS_K_STR, struct opts, client_advertise),
	OPTS_F("server_name", OPTS_K_STR, struct opts, server_name),
	OPTS_FN("server_tags", opts_top_server_tags),
	OPTS_F("debug", OPTS_K_BOOL, struct opts, debug),
	OPTS_F("trace", OPTS_K_BOOL, struct opts, trace),
	OPTS_FN("trace_verbose", opts_top_trace_verbose),
	OPTS_F("logtime", OPTS_K_BOOL, struct opts, logtime),
	OPTS_F("logtime_utc", OPTS_K_BOOL, struct opts, logtime_utc),
	OPTS_FN("mappings|maps", opts_top_mappings),
	OPTS_F("disable_sublist_cache|no_sublist_cache", OPTS_K_BOOL, struct opts,
	       disable_sublist_cache),
	OPTS_FN("accounts", opts_top_accounts),
	OPTS_FN("authorization", opts_top_authorization),
	OPTS_FN("http", opts_top_http),
	OPTS_FN("https", opts_top_https),
	OPTS_F("http_port|monitor_port", OPTS_K_PORT, struct opts, http_port),
	OPTS_F("https_port", OPTS_K_PORT, struct opts, https_port),
	OPTS_F("http_base_path", OPTS_K_STR, struct opts, http_base_path),
	OPTS_FN("cluster", opts_top_cluster),
	OPTS_FN("gateway", opts_top_gateway),
	OPTS_FN("leafnodes|leaf", opts_top_leafnodes),
	OPTS_FN("store_dir|storedir", opts_top_store_dir),
	OPTS_FN("jetstream", opts_top_jetstream),
	OPTS_F("log_file|logfile", OPTS_K_STR, struct opts, log_file),
	OPTS_F("log_size_limit|logfile_size_limit", OPTS_K_INT, struct opts, log_size_limit),
	OPTS_F("syslog", OPTS_K_BOOL, struct opts, syslog),
	OPTS_F("remote_syslog", OPTS_K_STR, struct opts, remote_syslog),
	OPTS_F("pid_file|pidfile", OPTS_K_STR, struct opts, pid_file),
	OPTS_F("ports_file_dir", OPTS_K_STR, struct opts, ports_file_dir),
	OPTS_CHECK("prof_port", OPTS_K_PORT),
	OPTS_FN("max_control_line", opts_top_int32),
	OPTS_FN("max_payload", opts_top_int32),
	OPTS_F("max_pending", OPTS_K_INT, struct opts, max_pending),
	OPTS_F("max_connections|max_conn", OPTS_K_INT, struct opts, max_connections),
	OPTS_F("max_traced_msg_len", OPTS_K_INT, struct opts, max_traced_msg_len),
	OPTS_F("max_subscriptions|max_subs", OPTS_K_INT, struct opts, max_subscriptions),
	OPTS_FN("max_sub_tokens|max_subscription_tokens", opts_top_sub_tokens),
	OPTS_F("ping_interval", OPTS_K_DURATION, struct opts, ping_interval_ns),
	OPTS_F("ping_max", OPTS_K_INT, struct opts, ping_max),
	OPTS_F("write_deadline", OPTS_K_DURATION, struct opts, write_deadline_ns),
	OPTS_FN("lame_duck_duration", opts_top_lame_duck),
	OPTS_FN("lame_duck_grace_period", opts_top_lame_duck),
	OPTS_F("max_closed_clients", OPTS_K_INT, struct opts, max_closed_clients),
	OPTS_FN("tls", opts_check_tls),
	OPTS_FN("ocsp", opts_top_ocsp),
	OPTS_CHECK("allow_non_tls", OPTS_K_BOOL),
	OPTS_FN("operator|operators|roots|root|root_operators|root_operator",
		opts_check_strings),
	OPTS_FN("resolver|account_resolver|accounts_resolver", opts_top_resolver),
	OPTS_FN("resolver_tls", opts_check_tls),
	OPTS_FN("resolver_preload", opts_top_preload),
	OPTS_FN("resolver_pinned_accounts", opts_check_strings),
	OPTS_FN("trusted|trusted_keys", opts_top_trusted),
	OPTS_FN("no_auth_user", opts_top_no_auth_user),
	OPTS_F("system_account|system", OPTS_K_STR, struct opts, system_account),
	OPTS_F("no_system_account|no_system|no_sys_acc", OPTS_K_BOOL, struct opts,
	       no_system_account),
	OPTS_F("no_header_support", OPTS_K_BOOL, struct opts, no_header_support),
	OPTS_F("connect_error_reports", OPTS_K_INT, struct opts, connect_error_reports),
	OPTS_F("reconnect_error_reports", OPTS_K_INT, struct opts, reconnect_error_reports),
	OPTS_FN("websocket|ws", opts_top_websocket),
	OPTS_FN("mqtt", opts_top_mqtt),
	OPTS_FN("default_js_domain", opts_top_default_js_domain),
};

/* ------------------------------------------------------------------ */
/* Checks across blocks, and defaults for explicit zeros               */

static int opts_check_auth_mix(struct opts_ctx *x)
{
	const struct opts *o = x->o;
	bool arr = x->auth_users_given;
	const struct conf_node *at = arr ? x->auth_node : x->acc_users_node;
	if (!arr && x->acc_users_node == NULL)
		return 0;
	if (o->username != NULL)
		return opts_fail(x, at, "Can not have a single user/pass and %s",
				 arr ? "a users array" : "accounts");
	if (o->authorization_token != NULL)
		return opts_fail(x, at, "Can not have a token and %s",
				 arr ? "a users array" : "accounts");
	return 0;
}

static int opts_check_users(struct opts_ctx *x)
{
	const struct opts *o = x->o;
	if (opts_check_auth_mix(x) < 0)
		return -1;
	for (size_t i = 0; i < o->n_users; i++) {
		const struct opts_user *u = &o->users[i];
		for (size_t j = 0; j < i; j++) {
			const struct opts_user *p = &o->users[j];
			if (u->user != NULL && p->user != NULL && strcmp(u->user, p->user) == 0)
				return opts_fail_line(x, u->file, u->line, "Duplicate user \"%s\" "
						      "detected", u->user);
			if (u->nkey != NULL && p->nkey != NULL && strcmp(u->nkey, p->nkey) == 0)
				return opts_fail_line(x, u->file, u->line, "Duplicate nkey \"%s\" "
						      "detected", u->nkey);
		}
	}
	if (o->no_auth_user == NULL || o->no_auth_user[0] == '\0')
		return 0;
	for (size_t i = 0; i < o->n_users; i++) {
		if (o->users[i].user != NULL && strcmp(o->users[i].user, o->no_auth_user) == 0)
			return 0;
	}
	if (o->n_users == 0)
		return opts_fail(x, x->no_auth_node, "no_auth_user: \"%s\" present, but users "
				 "are not defined", o->no_auth_user);
	return opts_fail(x, x->no_auth_node, "no_auth_user: \"%s\" not present as user in "
			 "authorization block or account configuration", o->no_auth_user);
}

static int opts_check_js_domains(struct opts_ctx *x)
{
	const struct opts *o = x->o;
	const char *sys = o->system_account != NULL ? o->system_account : "$SYS";
	for (size_t i = 0; i < o->n_default_js_domain; i++) {
		if (strcmp(o->default_js_domain_accounts[i], sys) == 0)
			return opts_fail(x, x->js_domain_node, "system account \"%s\" "
					 "can not be in default_js_domain", sys);
	}
	return 0;
}

static void opts_default_i64(int64_t *v, int64_t def)
{
	if (*v == 0)
		*v = def;
}

/* The reference treats 0 as "use the default" for these. */
static void opts_baseline(struct opts *o)
{
	if (o->host == NULL)
		o->host = (char *)opts_default_host;
	if (o->port == 0)
		o->port = 4222;
	opts_default_i64(&o->max_connections, 64 * 1024);
	opts_default_i64(&o->ping_interval_ns, 2 * NS_PER_MIN);
	opts_default_i64(&o->ping_max, 2);
	opts_default_i64(&o->auth_timeout_ns, 2 * NS_PER_SEC);
	opts_default_i64(&o->max_control_line, 4096);
	opts_default_i64(&o->max_payload, 1024 * 1024);
	opts_default_i64(&o->max_pending, 64 * 1024 * 1024);
	opts_default_i64(&o->write_deadline_ns, 10 * NS_PER_SEC);
	opts_default_i64(&o->max_closed_clients, 10000);
	opts_default_i64(&o->lame_duck_duration_ns, 2 * NS_PER_MIN);
	opts_default_i64(&o->lame_duck_grace_period_ns, 10 * NS_PER_SEC);
	opts_default_i64(&o->connect_error_reports, 3600);
	opts_default_i64(&o->reconnect_error_reports, 1);
	opts_default_i64(&o->leafnodes.reconnect_delay_ns, NS_PER_SEC);
	opts_default_i64(&o->leafnodes.auth_timeout_ns, 2 * NS_PER_SEC);
	opts_default_i64(&o->cluster.auth_timeout_ns, 2 * NS_PER_SEC);
	if (o->leafnodes.port != 0 && o->leafnodes.host == NULL)
		o->leafnodes.host = (char *)opts_default_host;
	if (o->cluster.port != 0 && o->cluster.host == NULL)
		o->cluster.host = (char *)opts_default_host;
	if (o->gateway.port != 0 && o->gateway.host == NULL)
		o->gateway.host = (char *)opts_default_host;
}

static int opts_dispatch(enum opts_handler h, struct opts_ctx *x, const char *key,
			 const struct conf_node *v, void *target)
{
	switch (h) {
#define OPTS_H_CASE(fn) case OPTS_H_##fn: return fn(x, key, v, target);
	OPTS_HANDLERS(OPTS_H_CASE)
#undef OPTS_H_CASE
	case OPTS_H_NONE:
		break;
	}
	ASSERT(!"field table entry without a handler");
	return -1;
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */

void opts_defaults(struct opts *o)
{
	memset(o, 0, sizeof(*o));
	opts_perms_init(&o->default_permissions);
	o->logtime = true;
	o->jetstream.max_memory = -1;
	o->jetstream.max_store = -1;
	opts_js_limits_init(&o->jetstream.limits);
	opts_baseline(o);
}

int opts_from_conf(struct opts *o, struct mem *mem, const struct conf_doc *doc,
		   struct buf *err)
{
	struct opts_ctx x = { .o = o, .mem = mem, .err = err };
	if (doc == NULL || doc->root == NULL || doc->root->type != CONF_MAP) {
		buf_append_str(err, "no configuration to apply");
		return -1;
	}
	if (doc->nfiles > 0) {
		o->config_file = opts_file(&x, doc->files[0]);
		if (o->config_file == NULL)
			return opts_oom(&x);
	}
	if (opts_walk(&x, doc->root, "", opts_top_fields, ARRAY_LEN(opts_top_fields), o,
		      OPTS_UNK_FIELD) < 0 || opts_check_users(&x) < 0 ||
	    opts_check_js_domains(&x) < 0)
		return -1;
	opts_baseline(o);
	return x.failed ? -1 : 0;
}

static void opts_accounts_free(struct mem *mem, struct opts *o)
{
	for (size_t i = 0; i < o->n_accounts; i++) {
		struct opts_account *a = &o->accounts[i];
		mem_free(mem, a->name);
		mem_free(mem, a->nkey);
		for (size_t j = 0; j < a->n_exports; j++)
			opts_export_free(mem, &a->exports[j]);
		mem_free(mem, a->exports);
		for (size_t j = 0; j < a->n_imports; j++)
			opts_import_free(mem, &a->imports[j]);
		mem_free(mem, a->imports);
		opts_mappings_free(mem, &a->mappings, &a->n_mappings);
		opts_perms_free(mem, &a->default_permissions);
	}
	mem_free(mem, o->accounts);
}

static void opts_cluster_free(struct mem *mem, struct opts_cluster *c)
{
	mem_free(mem, c->name);
	opts_str_free(mem, &c->host);
	opts_strv_free(mem, &c->routes, &c->n_routes);
	mem_free(mem, c->advertise);
	mem_free(mem, c->auth_user);
	mem_free(mem, c->auth_password);
}

static void opts_strings_free(struct mem *mem, struct opts *o)
{
	char **strs[] = {
		&o->host, &o->client_advertise, &o->server_name, &o->username, &o->password,
		&o->authorization_token, &o->no_auth_user, &o->system_account, &o->http_host,
		&o->http_base_path, &o->log_file, &o->remote_syslog, &o->pid_file,
		&o->ports_file_dir,
	};
	for (size_t i = 0; i < ARRAY_LEN(strs); i++)
		opts_str_free(mem, strs[i]);
}

void opts_free(struct opts *o, struct mem *mem)
{
	opts_strings_free(mem, o);
	opts_strv_free(mem, &o->server_tags, &o->n_server_tags);
	opts_users_free(mem, &o->users, &o->n_users);
	opts_perms_free(mem, &o->default_permissions);
	opts_accounts_free(mem, o);
	opts_mappings_free(mem, &o->mappings, &o->n_mappings);
	size_t n = o->n_default_js_domain;
	opts_strv_free(mem, &o->default_js_domain_accounts, &o->n_default_js_domain);
	opts_strv_free(mem, &o->default_js_domain_domains, &n);
	opts_jetstream_free(mem, &o->jetstream);
	opts_leafnodes_free(mem, &o->leafnodes);
	opts_cluster_free(mem, &o->cluster);
	opts_gateway_free(mem, &o->gateway);
	for (size_t i = 0; i < o->n_unsupported; i++)
		mem_free(mem, o->unsupported[i].key);
	mem_free(mem, o->unsupported);
	opts_strv_free(mem, &o->warnings, &o->n_warnings);
	opts_strv_free(mem, &o->file_names, &o->n_file_names);
	memset(o, 0, sizeof(*o));
}

/* ------------------------------------------------------------------ */
/* Durations, as Go's time.ParseDuration                               */

static int64_t opts_duration_unit(const char *u, size_t n)
{
	static const struct { char name[4]; int64_t ns; } units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, { "\xce\xbcs", 1000 },
		{ "ms", 1000000 }, { "s", NS_PER_SEC }, { "m", NS_PER_MIN },
		{ "h", 60 * NS_PER_MIN },
	};
	for (size_t i = 0; i < ARRAY_LEN(units); i++) {
		if (strlen(units[i].name) == n && memcmp(units[i].name, u, n) == 0)
			return units[i].ns;
	}
	return 0;
}

/* One "<number>[.<fraction>]<unit>" component; adds it to *total. */
static int opts_duration_part(const char **sp, uint64_t *total)
{
	const uint64_t limit = (uint64_t)1 << 63;
	const char *s = *sp, *start = s;
	uint64_t v = 0, f = 0;
	double scale = 1;
	while (*s >= '0' && *s <= '9') {
		if (v > (limit - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s++ - '0');
	}
	bool pre = s != start, post = false;
	if (*s == '.') {
		const char *fs = ++s;
		bool overflow = false;
		for (; *s >= '0' && *s <= '9'; s++) {
			if (overflow || f > (UINT64_MAX - 9) / 10 || scale > 1e18) {
				overflow = true;
				continue;
			}
			f = f * 10 + (uint64_t)(*s - '0');
			scale *= 10;
		}
		post = s != fs;
	}
	if (!pre && !post)
		return -1;
	const char *u = s;
	while (*s != '\0' && *s != '.' && !(*s >= '0' && *s <= '9'))
		s++;
	int64_t unit = opts_duration_unit(u, (size_t)(s - u));
	if (unit == 0 || v > limit / (uint64_t)unit)
		return -1;
	v *= (uint64_t)unit;
	if (f > 0) {
		v += (uint64_t)((double)f * ((double)unit / scale));
		if (v > limit)
			return -1;
	}
	if (v > limit - *total)
		return -1;
	*total += v;
	*sp = s;
	return 0;
}

int opts_parse_duration(const char *s, int64_t *out_ns)
{
	uint64_t total = 0;
	bool neg = false;
	if (s == NULL)
		return -1;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (strcmp(s, "0") == 0) {
		*out_ns = 0;
		return 0;
	}
	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		if (opts_duration_part(&s, &total) < 0)
			return -1;
	}
	if (neg) {
		*out_ns = (int64_t)(0 - total);
		return 0;
	}
	if (total > (uint64_t)INT64_MAX)
		return -1;
	*out_ns = (int64_t)total;
	return 0;
}
