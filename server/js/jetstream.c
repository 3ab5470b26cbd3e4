/*
 * jetstream.c - JetStream's per-server and per-account state (see
 * jetstream.h): start-up (banner, limits, store directory), which accounts
 * may use it, the API subscriptions of every account, the streams of each
 * account (sorted by name), restore at start and close at shutdown.
 */
#include <stdio.h>
#include <string.h>

#include "../core/internal.h"
#include "../core/server_int.h"
#include "../lib/assert.h"
#include "jetstream.h"
#include "js_api.h"
#include "stream.h"

/* Where the reference keeps its files when store_dir is not set
 * (os.TempDir()/nats); the env has no temp-dir lookup. */
#define JS_DEFAULT_STORE_DIR "/tmp/nats"

struct jetstream *jetstream_of(const struct server *s)
{
	return s->js;
}

struct js_account *jetstream_account(const struct account *acc)
{
	return acc->js;
}

bool jetstream_is_enabled(const struct server *s)
{
	return s->js != NULL;
}

const char *jetstream_domain(const struct server *s)
{
	return s->js != NULL ? s->js->domain : NULL;
}

void js_account_streams_dir(const struct js_account *ja, struct buf *out)
{
	buf_reset(out);
	buf_appendf(out, "%s/%s/streams", ja->js->store_root, ja->acc->name);
}

/* Binary search in the sorted array: the insertion point for name. */
static size_t js_account_stream_pos(const struct js_account *ja,
				    const char *name, bool *found)
{
	size_t lo = 0, hi = ja->n_streams;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(stream_name(ja->streams[mid]), name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct stream *js_account_find_stream(const struct js_account *ja,
				      const char *name)
{
	bool found;
	size_t i = js_account_stream_pos(ja, name, &found);
	return found ? ja->streams[i] : NULL;
}

bool js_account_add_stream(struct js_account *ja, struct stream *st)
{
	bool found;
	size_t i = js_account_stream_pos(ja, stream_name(st), &found);
	ASSERT(!found);
	if (ja->n_streams == ja->cap_streams) {
		size_t n = ja->cap_streams ? ja->cap_streams * 2 : 8;
		struct server *s = ja->js->srv;
		void *p = mem_realloc(&s->mem, ja->streams, n * sizeof(*ja->streams));
		if (p == NULL)
			return false;
		ja->streams = p;
		ja->cap_streams = n;
	}
	memmove(ja->streams + i + 1, ja->streams + i,
		(ja->n_streams - i) * sizeof(*ja->streams));
	ja->streams[i] = st;
	ja->n_streams++;
	return true;
}

void js_account_remove_stream(struct js_account *ja, struct stream *st)
{
	bool found;
	size_t i = js_account_stream_pos(ja, stream_name(st), &found);
	ASSERT(found && ja->streams[i] == st);
	memmove(ja->streams + i, ja->streams + i + 1,
		(ja->n_streams - i - 1) * sizeof(*ja->streams));
	ja->n_streams--;
}

/* The reference enables the global account alone when no other account
 * is configured, and otherwise the accounts that say "jetstream". */
static bool jetstream_account_wanted(const struct server *s,
				     const struct account *acc)
{
	const struct opts *o = s->opts;
	if (acc == s->system_acc)
		return false;
	if (o->n_accounts == 0)
		return acc == s->global_acc;
	return acc->opts != NULL && acc->opts->jetstream;
}

static void js_limits_unlimited(struct opts_js_limits *l)
{
	l->max_memory = l->max_store = l->max_streams = l->max_consumers = -1;
	l->max_ack_pending = l->mem_max_stream_bytes = -1;
	l->disk_max_stream_bytes = -1;
	l->max_bytes_required = false;
}

static int jetstream_account_setup(struct server *s, struct account *acc)
{
	struct jetstream *js = s->js;
	struct js_account *ja = mem_calloc(&s->mem, 1, sizeof(*ja));
	if (ja == NULL)
		return -1;
	ja->js = js;
	ja->acc = acc;
	ja->enabled = jetstream_account_wanted(s, acc);
	if (ja->enabled && acc->opts != NULL && acc->opts->jetstream)
		ja->limits = acc->opts->js_limits;
	else
		js_limits_unlimited(&ja->limits);
	acc->js = ja;
	ja->api_sub = internal_subscribe(s, acc, "$JS.API.>", NULL,
					 js_api_request, ja);
	if (ja->api_sub == NULL)
		return -1;
	/* With a domain the API is also $JS.<domain>.API, reached through
	 * the account mappings of leafnode-protocol.md section 8.2 (as the
	 * reference does), so leaf peers hear the mapping sources as interest
	 * and $JS.<domain>.API.$KV.> reaches $KV.>. */
	if (js->domain != NULL && ja->enabled &&
	    !account_add_js_domain_mappings(s, acc, js->domain))
		return -1;
	if (ja->enabled)
		stream_restore_all(ja);
	return 0;
}

static void jetstream_log_size(struct server *s, const char *what,
			       int64_t bytes)
{
	if (bytes < 0) {
		LOGI(&s->log, "  %-17s%s", what, "unlimited");
		return;
	}
	/* The reference's friendly form: "512 B", "1.50 KB", "17.66 GB". */
	static const char *const units[] = { "B", "KB", "MB", "GB", "TB",
					     "PB", "EB" };
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1024 && u + 1 < ARRAY_LEN(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		LOGI(&s->log, "  %-17s%lld B", what, (long long)bytes);
	else
		LOGI(&s->log, "  %-17s%.2f %s", what, v, units[u]);
}

static void jetstream_log_banner(struct server *s)
{
	struct jetstream *js = s->js;
	LOGI(&s->log, "Starting JetStream");
	LOGI(&s->log, "---------------- JETSTREAM ----------------");
	jetstream_log_size(s, "Max Memory:", js->max_memory_bytes);
	jetstream_log_size(s, "Max Storage:", js->max_store_bytes);
	LOGI(&s->log, "  Store Directory: \"%s\"", js->store_root);
	if (js->domain != NULL)
		LOGI(&s->log, "  Domain:          %s", js->domain);
	LOGI(&s->log, "-------------------------------------------");
}

static int jetstream_new(struct server *s)
{
	const struct opts_jetstream *o = &s->opts->jetstream;
	struct jetstream *js = mem_calloc(&s->mem, 1, sizeof(*js));
	if (js == NULL)
		return -1;
	s->js = js;
	js->srv = s;
	js->max_memory_bytes = o->max_memory > 0 ? o->max_memory : -1;
	js->max_store_bytes = o->max_store > 0 ? o->max_store : -1;
	js->sync_interval_ns = o->sync_always ? 0 : o->sync_interval_ns;
	js->max_dup_window_ns = o->duplicate_window_ns;
	const char *dir = o->store_dir != NULL && o->store_dir[0] != '\0'
			  ? o->store_dir : JS_DEFAULT_STORE_DIR;
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	struct buf b;
	buf_init(&b, &s->mem);
	buf_appendf(&b, "%.*s/jetstream", (int)n, dir);
	js->store_root = b.oom ? NULL : mem_strdup(&s->mem, b.data);
	buf_free(&b);
	if (js->store_root == NULL)
		return -1;
	if (o->domain != NULL && o->domain[0] != '\0') {
		js->domain = mem_strdup(&s->mem, o->domain);
		n = strlen(o->domain) + 16;
		js->api_domain_prefix = mem_alloc(&s->mem, n);
		if (js->domain == NULL || js->api_domain_prefix == NULL)
			return -1;
		snprintf(js->api_domain_prefix, n, "$JS.%s.API", o->domain);
	}
	return 0;
}

/* Creates path and every missing folder above it, like the reference's
 * os.MkdirAll; the last result (ENV_EEXIST is fine). */
static int jetstream_mkdir_all(struct env *e, char *path)
{
	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		e->dir_create(e, path);
		*p = '/';
	}
	return e->dir_create(e, path);
}

int jetstream_start(struct server *s, struct buf *err)
{
	if (!s->opts->jetstream.enabled || s->js != NULL)
		return 0;
	if (jetstream_new(s) != 0) {
		buf_append_str(err, "out of memory starting JetStream");
		return -1;
	}
	jetstream_log_banner(s);
	struct env *e = s->env;
	int rc = jetstream_mkdir_all(e, s->js->store_root);
	if (rc < 0 && rc != ENV_EEXIST) {
		buf_appendf(err, "could not create storage directory - %s",
			    env_strerror(rc));
		return -1;
	}
	for (struct link *l = s->accounts.next; l != &s->accounts; l = l->next) {
		struct account *acc = CONTAINER_OF(l, struct account, node);
		if (acc->js == NULL && jetstream_account_setup(s, acc) != 0) {
			buf_append_str(err, "out of memory starting JetStream");
			return -1;
		}
	}
	return 0;
}

uint64_t js_account_usage(const struct js_account *ja, enum store_kind kind)
{
	uint64_t total = 0;
	for (size_t i = 0; i < ja->n_streams; i++) {
		const struct stream *st = ja->streams[i];
		if (stream_config_of(st)->storage != kind)
			continue;
		struct store_state ss;
		stream_get_state(st, &ss);
		total += ss.bytes;
	}
	return total;
}

/* The reference's limitsExceeded: usage beyond the account's total or
 * per-stream byte limit of that storage. */
bool js_account_over_limits(const struct js_account *ja, enum store_kind kind)
{
	const struct opts_js_limits *l = &ja->limits;
	int64_t max = kind == STORE_MEMORY ? l->max_memory : l->max_store;
	int64_t per = kind == STORE_MEMORY ? l->mem_max_stream_bytes
					   : l->disk_max_stream_bytes;
	if (max < 0 && per <= 0)
		return false;
	uint64_t used = js_account_usage(ja, kind);
	return (per > 0 && used > (uint64_t)per) ||
	       (max >= 0 && used > (uint64_t)max);
}

bool jetstream_over_limits(const struct jetstream *js, enum store_kind kind)
{
	int64_t max = kind == STORE_MEMORY ? js->max_memory_bytes
					   : js->max_store_bytes;
	if (max < 0)
		return false;
	uint64_t used = 0;
	for (const struct link *l = js->srv->accounts.next;
	     l != &js->srv->accounts; l = l->next) {
		const struct account *acc = CONTAINER_OF(l, struct account, node);
		if (acc->js != NULL)
			used += js_account_usage(acc->js, kind);
	}
	return used > (uint64_t)max;
}

/* Bytes the streams of ja (all accounts when ja is NULL) reserve with
 * max_bytes for that storage, the stream named skip left out. */
static int64_t js_reserved(const struct server *s, const struct js_account *ja,
			   enum store_kind kind, const char *skip)
{
	int64_t total = 0;
	for (const struct link *l = s->accounts.next; l != &s->accounts;
	     l = l->next) {
		const struct account *acc = CONTAINER_OF(l, struct account, node);
		const struct js_account *a = acc->js;
		if (a == NULL || (ja != NULL && a != ja))
			continue;
		for (size_t i = 0; i < a->n_streams; i++) {
			const struct stream_config *c = stream_config_of(a->streams[i]);
			if (c->storage == kind && c->max_bytes > 0 &&
			    (a != ja || skip == NULL || strcmp(c->name, skip) != 0))
				total += c->max_bytes * (c->replicas > 0 ? c->replicas : 1);
		}
	}
	return total;
}

int js_account_check_limits(const struct js_account *ja,
			    const struct stream_config *c, struct js_error *e)
{
	const struct opts_js_limits *l = &ja->limits;
	if (c->max_consumers > 0 && l->max_consumers > 0 &&
	    c->max_consumers > l->max_consumers) {
		js_error_set(e, JS_ERR_MAXIMUM_CONSUMERS_LIMIT, NULL);
		return -1;
	}
	bool mem = c->storage == STORE_MEMORY;
	int64_t add = c->max_bytes < 0 ? 1 : c->max_bytes;
	int64_t max = mem ? l->max_memory : l->max_store;
	int64_t server_max = mem ? ja->js->max_memory_bytes
				 : ja->js->max_store_bytes;
	enum js_err err = mem ? JS_ERR_MEMORY_RESOURCES_EXCEEDED
			      : JS_ERR_STORAGE_RESOURCES_EXCEEDED;
	if (max >= 0 && js_reserved(ja->js->srv, ja, c->storage, c->name) +
			add * (c->replicas > 0 ? c->replicas : 1) > max) {
		js_error_set(e, err, NULL);
		return -1;
	}
	if (server_max >= 0 &&
	    js_reserved(ja->js->srv, NULL, c->storage, NULL) + add > server_max) {
		js_error_set(e, err, NULL);
		return -1;
	}
	return 0;
}

int jetstream_reload(struct server *s)
{
	if (s->js == NULL)
		return 0;
	for (struct link *l = s->accounts.next; l != &s->accounts; l = l->next) {
		struct account *acc = CONTAINER_OF(l, struct account, node);
		if (acc->removed)
			continue;
		struct js_account *ja = acc->js;
		if (ja == NULL) {
			/* An account the reload added. */
			if (jetstream_account_setup(s, acc) != 0)
				return -1;
			continue;
		}
		if (!jetstream_account_wanted(s, acc))
			continue; /* as the reference: not disabled by a reload */
		if (acc->opts != NULL && acc->opts->jetstream)
			ja->limits = acc->opts->js_limits;
		if (ja->enabled)
			continue;
		ja->enabled = true;
		if (s->js->domain != NULL &&
		    !account_add_js_domain_mappings(s, acc, s->js->domain))
			return -1;
		stream_restore_all(ja);
	}
	return 0;
}

void jetstream_invariants(const struct server *s)
{
	if (s->js == NULL)
		return;
	for (const struct link *l = s->accounts.next; l != &s->accounts;
	     l = l->next) {
		const struct account *acc = CONTAINER_OF(l, struct account, node);
		const struct js_account *ja = acc->js;
		if (ja == NULL)
			continue;
		ASSERT(ja->acc == acc && ja->js == s->js);
		ASSERT(ja->n_streams <= ja->cap_streams);
		for (size_t i = 0; i < ja->n_streams; i++) {
			if (i > 0)
				ASSERT(strcmp(stream_name(ja->streams[i - 1]),
					      stream_name(ja->streams[i])) < 0);
			stream_invariants(ja->streams[i]);
		}
	}
}

void jetstream_shutdown(struct server *s)
{
	if (s->js == NULL)
		return;
	for (struct link *l = s->accounts.next; l != &s->accounts; l = l->next) {
		struct account *acc = CONTAINER_OF(l, struct account, node);
		struct js_account *ja = acc->js;
		if (ja == NULL)
			continue;
		internal_unsubscribe(s, ja->api_sub);
		internal_unsubscribe(s, ja->api_domain_sub);
		ja->api_sub = ja->api_domain_sub = NULL;
		while (ja->n_streams > 0) {
			struct stream *st = ja->streams[ja->n_streams - 1];
			js_account_remove_stream(ja, st);
			stream_destroy(st, false);
		}
	}
}

void jetstream_free(struct server *s)
{
	if (s->js == NULL)
		return;
	jetstream_shutdown(s);
	for (struct link *l = s->accounts.next; l != &s->accounts; l = l->next) {
		struct account *acc = CONTAINER_OF(l, struct account, node);
		if (acc->js == NULL)
			continue;
		mem_free(&s->mem, acc->js->streams);
		mem_free(&s->mem, acc->js);
		acc->js = NULL;
	}
	mem_free(&s->mem, s->js->store_root);
	mem_free(&s->mem, s->js->domain);
	mem_free(&s->mem, s->js->api_domain_prefix);
	mem_free(&s->mem, s->js);
	s->js = NULL;
}
