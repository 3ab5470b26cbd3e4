/*
 * js_monitor.c - JetStream's figures for the monitoring endpoints (see
 * js_monitor.h): /jsz with its account and stream details, varz's and
 * statsz's "jetstream" object, the /healthz checks and the Prometheus
 * figures.
 *
 * Reads only: accounts through struct account's js pointer, streams through
 * stream.h.  Figures are computed on each call (no cached totals that could
 * drift from the streams).  Order never depends on hashing: accounts are
 * listed by name (the reference sorts them too once an offset is given),
 * streams in their account's sorted array.
 *
 * Consumers come from the stream's sorted list (stream.h) and their
 * ConsumerInfo from consumer.h; jsz without config drops the "config" key
 * from that object, as the reference does.
 */
#include "js_monitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/server_int.h"
#include "../lib/assert.h"
#include "../lib/timefmt.h"
#include "consumer.h"
#include "jetstream.h"
#include "js_json.h"
#include "stream.h"

/* Go prints a uint64 of -1 for "no limit" in the account's reserved
 * figures. */
#define JSM_UNLIMITED UINT64_MAX

/* The text of the reference's NewJSNotEnabledError().Error(). */
#define JSM_NOT_ENABLED "JetStream not enabled (10076)"

/* ------------------------------------------------------------ helpers */

static void jsm_uint(struct jw *w, const char *key, uint64_t v)
{
	jw_key(w, key);
	jw_uint(w, v);
}

static void jsm_int(struct jw *w, const char *key, int64_t v)
{
	jw_key(w, key);
	jw_int(w, v);
}

/* Every live account with JetStream enabled, in list order. */
#define JSM_FOR_EACH_JS_ACCOUNT(s, ja)                                        \
	for (const struct link *ja##_l = (s)->accounts.next;                  \
	     ja##_l != &(s)->accounts; ja##_l = ja##_l->next)                 \
		for (const struct js_account *ja = jsm_enabled(ja##_l);       \
		     ja != NULL; ja = NULL)

static const struct js_account *jsm_enabled(const struct link *l)
{
	const struct account *a = CONTAINER_OF(l, struct account, node);
	if (a->removed || a->js == NULL || !a->js->enabled)
		return NULL;
	return a->js;
}

static uint64_t jsm_stream_consumers(const struct stream *st)
{
	return stream_consumer_count(st);
}

/* The end of the JSON value that starts at i in compact JSON we wrote
 * ourselves (strings escaped, so quotes inside them are preceded by a
 * backslash). */
static size_t jsm_value_end(const char *p, size_t len, size_t i)
{
	int depth = 0;
	for (; i < len; i++) {
		char c = p[i];
		if (c == '"') {
			for (i++; i < len && p[i] != '"'; i++)
				if (p[i] == '\\')
					i++;
			if (depth == 0)
				return i + 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth <= 0)
				return depth == 0 ? i + 1 : i;
		} else if (depth == 0 && c == ',') {
			return i;
		}
	}
	return len;
}

/* Removes the member ,"key":value from the top level of the compact
 * object in b that starts at start. */
static void jsm_drop_member(struct buf *b, size_t start, const char *key)
{
	char pat[64];
	int n = snprintf(pat, sizeof(pat), ",\"%s\":", key);
	ASSERT(n > 0 && (size_t)n < sizeof(pat));
	int depth = 0;
	for (size_t i = start; i < b->len; i++) {
		char c = b->data[i];
		if (c == '"') {
			i = jsm_value_end(b->data, b->len, i) - 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (c == ',' && depth == 1 && i + (size_t)n <= b->len &&
			   memcmp(b->data + i, pat, (size_t)n) == 0) {
			size_t end = jsm_value_end(b->data, b->len, i + (size_t)n);
			memmove(b->data + i, b->data + end, b->len - end);
			b->len -= end - i;
			b->data[b->len] = '\0';
			return;
		}
	}
}

/* "consumer_detail":[ConsumerInfo...], left out when st has none; the
 * config only with_config, as the reference. */
static void jsm_write_consumers(struct jw *w, const struct stream *st,
				bool with_config)
{
	size_t n = stream_consumer_count(st);
	if (n == 0)
		return;
	jw_key(w, "consumer_detail");
	jw_arr_begin(w);
	for (size_t i = 0; i < n; i++) {
		size_t start = w->out->len;
		jw_obj_begin(w);
		/* Asking for the info may expire waiting pull requests, as
		 * the reference's info() does. */
		consumer_write_info(stream_consumer_at(st, i), w);
		jw_obj_end(w);
		if (!with_config && !w->out->oom)
			jsm_drop_member(w->out, start + (w->out->data[start] == ','),
					"config");
	}
	jw_arr_end(w);
}

/* One account's usage: bytes in memory and file streams. */
static void jsm_account_usage(const struct js_account *ja, uint64_t *memory,
			      uint64_t *storage)
{
	*memory = *storage = 0;
	for (size_t i = 0; i < ja->n_streams; i++) {
		struct store_state ss;
		stream_get_state(ja->streams[i], &ss);
		if (stream_config_of(ja->streams[i])->storage == STORE_MEMORY)
			*memory += ss.bytes;
		else
			*storage += ss.bytes;
	}
}

void js_monitor_totals(const struct server *s, struct js_monitor_totals *t)
{
	memset(t, 0, sizeof(*t));
	if (jetstream_of(s) == NULL)
		return;
	JSM_FOR_EACH_JS_ACCOUNT(s, ja) {
		t->accounts++;
		t->api_total += ja->api_total;
		t->api_errors += ja->api_errors;
		t->streams += ja->n_streams;
		for (size_t i = 0; i < ja->n_streams; i++) {
			const struct stream *st = ja->streams[i];
			const struct stream_config *c = stream_config_of(st);
			struct store_state ss;
			stream_get_state(st, &ss);
			bool mem = c->storage == STORE_MEMORY;
			*(mem ? &t->memory_bytes : &t->storage_bytes) += ss.bytes;
			/* The reference reserves max_bytes for a stream that
			 * sets it, per storage kind. */
			if (c->max_bytes > 0)
				*(mem ? &t->reserved_memory_bytes
				      : &t->reserved_storage_bytes) +=
					(uint64_t)c->max_bytes;
			t->messages += ss.msgs;
			t->bytes += ss.bytes;
			t->consumers += jsm_stream_consumers(st);
		}
	}
}

/* ------------------------------------------------------ shared objects */

/* JetStreamConfig: the server's limits (-1 = not limited, where the
 * reference would print 75% of RAM or disk), store_dir, domain. */
static void jsm_write_config(const struct jetstream *js, struct jw *w,
			     bool with_store_dir)
{
	jw_key(w, "config");
	jw_obj_begin(w);
	jsm_int(w, "max_memory", js->max_memory_bytes);
	jsm_int(w, "max_storage", js->max_store_bytes);
	if (with_store_dir && js->store_root != NULL) {
		jw_key(w, "store_dir");
		jw_str(w, js->store_root);
	}
	if (js->domain != NULL) {
		jw_key(w, "domain");
		jw_str(w, js->domain);
	}
	/* The reference always announces it can take compressed snapshots. */
	jw_key(w, "compress_ok");
	jw_bool(w, true);
	jw_obj_end(w);
}

static void jsm_write_api(struct jw *w, uint64_t total, uint64_t errors)
{
	jw_key(w, "api");
	jw_obj_begin(w);
	jsm_uint(w, "total", total);
	jsm_uint(w, "errors", errors);
	jw_obj_end(w);
}

/* JetStreamStats fields into an open object. */
static void jsm_write_stats(struct jw *w, const struct js_monitor_totals *t)
{
	jsm_uint(w, "memory", t->memory_bytes);
	jsm_uint(w, "storage", t->storage_bytes);
	jsm_uint(w, "reserved_memory", t->reserved_memory_bytes);
	jsm_uint(w, "reserved_storage", t->reserved_storage_bytes);
	jsm_uint(w, "accounts", t->accounts);
	jsm_int(w, "ha_assets", 0);
	jsm_write_api(w, t->api_total, t->api_errors);
}

void js_monitor_write_varz(const struct server *s, struct jw *w,
			   bool for_statsz)
{
	const struct jetstream *js = jetstream_of(s);
	jw_obj_begin(w);
	if (js != NULL) {
		struct js_monitor_totals t;
		js_monitor_totals(s, &t);
		jsm_write_config(js, w, !for_statsz);
		jw_key(w, "stats");
		jw_obj_begin(w);
		jsm_write_stats(w, &t);
		jw_obj_end(w);
	}
	jw_obj_end(w);
}

/* ---------------------------------------------------------------- jsz */

/* StreamState without the subjects map and deleted list (jsz never asks
 * for them). */
static void jsm_write_state(struct jw *w, const struct stream *st)
{
	struct store_state ss;
	stream_get_state(st, &ss);
	jw_key(w, "state");
	jw_obj_begin(w);
	jsm_uint(w, "messages", ss.msgs);
	jsm_uint(w, "bytes", ss.bytes);
	jsm_uint(w, "first_seq",
		 ss.msgs == 0 && ss.last_seq == 0 ? 0 : ss.first_seq);
	jw_key(w, "first_ts");
	js_jw_time(w, ss.first_ts_ns);
	jsm_uint(w, "last_seq", ss.last_seq);
	jw_key(w, "last_ts");
	js_jw_time(w, ss.last_ts_ns);
	if (ss.num_subjects > 0)
		jsm_uint(w, "num_subjects", ss.num_subjects);
	if (ss.num_deleted > 0)
		jsm_uint(w, "num_deleted", ss.num_deleted);
	jsm_uint(w, "consumer_count", jsm_stream_consumers(st));
	jw_obj_end(w);
}

/* StreamDetail: name, created, cluster (single server: this server leads
 * every stream), config when asked, state, consumers when asked. */
static void jsm_write_stream(const struct server *s, struct jw *w,
			     const struct stream *st,
			     const struct monitor_opts *o)
{
	jw_obj_begin(w);
	jw_key(w, "name");
	jw_str(w, stream_name(st));
	jw_key(w, "created");
	js_jw_time(w, stream_created_ns(st));
	jw_key(w, "cluster");
	jw_obj_begin(w);
	if (s->opts->cluster.name != NULL) {
		jw_key(w, "name");
		jw_str(w, s->opts->cluster.name);
	}
	jw_key(w, "leader");
	jw_str(w, s->name);
	jw_obj_end(w);
	if (o->jsz_config) {
		jw_key(w, "config");
		stream_config_encode(w, stream_config_of(st));
	}
	jsm_write_state(w, st);
	if (o->jsz_consumers)
		jsm_write_consumers(w, st, o->jsz_config);
	jw_obj_end(w);
}

/* AccountDetail: the account's own usage and API counters; its reserved
 * figures are its configured limits, as uint64 (-1 prints as 2^64-1). */
static void jsm_write_account(const struct server *s, struct jw *w,
			      const struct js_account *ja,
			      const struct monitor_opts *o)
{
	uint64_t memory, storage;
	jsm_account_usage(ja, &memory, &storage);
	jw_obj_begin(w);
	jw_key(w, "name");
	jw_str(w, ja->acc->name);
	jw_key(w, "id");
	jw_str(w, ja->acc->name);
	jsm_uint(w, "memory", memory);
	jsm_uint(w, "storage", storage);
	jsm_uint(w, "reserved_memory", ja->limits.max_memory < 0
		 ? JSM_UNLIMITED : (uint64_t)ja->limits.max_memory);
	jsm_uint(w, "reserved_storage", ja->limits.max_store < 0
		 ? JSM_UNLIMITED : (uint64_t)ja->limits.max_store);
	jsm_int(w, "accounts", 0);
	jsm_int(w, "ha_assets", 0);
	jsm_write_api(w, ja->api_total, ja->api_errors);
	if (o->jsz_streams && ja->n_streams > 0) {
		jw_key(w, "stream_detail");
		jw_arr_begin(w);
		for (size_t i = 0; i < ja->n_streams; i++)
			jsm_write_stream(s, w, ja->streams[i], o);
		jw_arr_end(w);
	}
	jw_obj_end(w);
}

static int jsm_compare_accounts(const void *a, const void *b)
{
	const struct js_account *x = *(const struct js_account *const *)a;
	const struct js_account *y = *(const struct js_account *const *)b;
	return strcmp(x->acc->name, y->acc->name);
}

/* The accounts whose details are written, sorted by name, into *out
 * (owned by the caller; NULL when none).  The reference's rules: a
 * JetStream account named by acc alone; else, with accounts, the page
 * [offset, offset + limit); else none. */
static size_t jsm_select_accounts(struct server *s,
				  const struct monitor_opts *o,
				  const struct js_account ***out)
{
	size_t n = 0, k = 0;
	*out = NULL;
	JSM_FOR_EACH_JS_ACCOUNT(s, ja) {
		if (o->acc[0] != '\0' && strcmp(ja->acc->name, o->acc) == 0) {
			const struct js_account **one =
				mem_alloc(&s->mem, sizeof(*one));
			if (one == NULL)
				return 0;
			one[0] = ja;
			*out = one;
			return 1;
		}
		n++;
	}
	if (!o->jsz_accounts || n == 0)
		return 0;
	const struct js_account **all = mem_calloc(&s->mem, n, sizeof(*all));
	if (all == NULL)
		return 0;
	JSM_FOR_EACH_JS_ACCOUNT(s, ja)
		all[k++] = ja;
	ASSERT(k == n);
	qsort(all, n, sizeof(*all), jsm_compare_accounts);
	/* A negative offset or limit makes the reference fail (a slice out
	 * of range); here it simply selects nothing. */
	int64_t limit = o->limit == 0 ? MONITOR_DEFAULT_LIMIT : o->limit;
	if (o->offset < 0 || limit < 0 || (uint64_t)o->offset >= n) {
		mem_free(&s->mem, all);
		return 0;
	}
	size_t first = (size_t)o->offset;
	size_t count = n - first;
	if ((uint64_t)limit < count)
		count = (size_t)limit;
	memmove(all, all + first, count * sizeof(*all));
	*out = all;
	return count;
}

int js_monitor_write_jsz(struct server *s, struct jw *w,
			 const struct monitor_opts *o_in, struct buf *err)
{
	const struct jetstream *js = jetstream_of(s);
	char now[TIMEFMT_MAX];
	UNUSED(err);
	ASSERT(js != NULL);
	/* consumers implies streams, streams implies accounts. */
	struct monitor_opts o = *o_in;
	o.jsz_streams |= o.jsz_consumers;
	o.jsz_accounts |= o.jsz_streams;
	struct js_monitor_totals t;
	js_monitor_totals(s, &t);
	jw_obj_begin(w);
	jw_key(w, "server_id");
	jw_str(w, s->id);
	timefmt_rfc3339(env_now_wall_ns(s->env), now);
	jw_key(w, "now");
	jw_str(w, now);
	jsm_write_config(js, w, true);
	jsm_write_stats(w, &t);
	jsm_uint(w, "streams", t.streams);
	jsm_uint(w, "consumers", t.consumers);
	jsm_uint(w, "messages", t.messages);
	jsm_uint(w, "bytes", t.bytes);
	const struct js_account **list;
	size_t n = jsm_select_accounts(s, &o, &list);
	if (n > 0) {
		jw_key(w, "account_details");
		jw_arr_begin(w);
		for (size_t i = 0; i < n; i++)
			jsm_write_account(s, w, list[i], &o);
		jw_arr_end(w);
	}
	mem_free(&s->mem, list);
	jw_obj_end(w);
	return 0;
}

/* ------------------------------------------------------------ healthz */

const char *js_monitor_health(const struct server *s,
			      const struct monitor_opts *o,
			      const char **status)
{
	UNUSED(o);
	*status = "ok";
	if (!s->opts->jetstream.enabled)
		return NULL;
	/* Configured but not running: still starting (restoring its streams)
	 * or failed.  The reference answers both with this error. */
	if (jetstream_of(s) == NULL) {
		*status = "unavailable";
		return JSM_NOT_ENABLED;
	}
	/* js-enabled-only stops here; js-server-only skips the stream and
	 * consumer checks.  A single server has no meta group, and its
	 * streams and consumers are always current, so both are healthy. */
	return NULL;
}

/* ---------------------------------------------------------- /metrics */

/* A Prometheus label value: backslash, quote and newline escaped. */
static void jsm_prom_label(struct buf *out, const char *name, const char *v)
{
	buf_appendf(out, "%s=\"", name);
	for (const char *p = v != NULL ? v : ""; *p != '\0'; p++) {
		if (*p == '\\' || *p == '"')
			buf_append_char(out, '\\');
		if (*p == '\n')
			buf_append_str(out, "\\n");
		else
			buf_append_char(out, *p);
	}
	buf_append_char(out, '"');
}

static void jsm_prom_server_labels(const struct server *s, struct buf *out)
{
	const struct jetstream *js = jetstream_of(s);
	jsm_prom_label(out, "server_id", s->id);
	buf_append_char(out, ',');
	jsm_prom_label(out, "server_name", s->name);
	buf_append_char(out, ',');
	jsm_prom_label(out, "cluster", s->opts->cluster.name);
	buf_append_char(out, ',');
	jsm_prom_label(out, "domain", js != NULL ? js->domain : NULL);
	buf_append_str(out, ",meta_leader=\"\",is_meta_leader=\"true\"");
}

static void jsm_prom_head(struct buf *out, const char *name, const char *help)
{
	buf_appendf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void jsm_prom_server(const struct server *s, struct buf *out,
			    const char *name, const char *help, double v)
{
	jsm_prom_head(out, name, help);
	buf_appendf(out, "%s{", name);
	jsm_prom_server_labels(s, out);
	buf_appendf(out, "} %.17g\n", v);
}

/* One figure for every stream: the exporter's stream labels. */
static void jsm_prom_streams(const struct server *s, struct buf *out,
			     const char *name, const char *help, int which)
{
	jsm_prom_head(out, name, help);
	JSM_FOR_EACH_JS_ACCOUNT(s, ja) {
		for (size_t i = 0; i < ja->n_streams; i++) {
			const struct stream *st = ja->streams[i];
			struct store_state ss;
			stream_get_state(st, &ss);
			uint64_t v[] = { ss.msgs, ss.bytes, ss.first_seq,
					 ss.last_seq, jsm_stream_consumers(st) };
			ASSERT(which >= 0 && which < (int)ARRAY_LEN(v));
			buf_appendf(out, "%s{", name);
			jsm_prom_server_labels(s, out);
			buf_append_char(out, ',');
			jsm_prom_label(out, "account", ja->acc->name);
			buf_append_char(out, ',');
			jsm_prom_label(out, "account_id", ja->acc->name);
			buf_append_char(out, ',');
			jsm_prom_label(out, "stream_name", stream_name(st));
			buf_append_char(out, ',');
			jsm_prom_label(out, "stream_leader", s->name);
			buf_appendf(out, ",is_stream_leader=\"true\"} %llu\n",
				    (unsigned long long)v[which]);
		}
	}
}

void js_monitor_write_metrics(const struct server *s, struct buf *out)
{
	const struct jetstream *js = jetstream_of(s);
	struct js_monitor_totals t;
	jsm_prom_server(s, out, "jetstream_server_jetstream_disabled",
			"JetStream disabled or not", js == NULL ? 1 : 0);
	if (js == NULL)
		return;
	js_monitor_totals(s, &t);
	jsm_prom_server(s, out, "jetstream_server_total_streams",
			"Total number of streams in JetStream", (double)t.streams);
	jsm_prom_server(s, out, "jetstream_server_total_consumers",
			"Total number of consumers in JetStream",
			(double)t.consumers);
	jsm_prom_server(s, out, "jetstream_server_total_messages",
			"Total number of stored messages in JetStream",
			(double)t.messages);
	jsm_prom_server(s, out, "jetstream_server_total_message_bytes",
			"Total number of bytes stored in JetStream",
			(double)t.bytes);
	jsm_prom_server(s, out, "jetstream_server_max_memory",
			"JetStream Max Memory", (double)js->max_memory_bytes);
	jsm_prom_server(s, out, "jetstream_server_max_storage",
			"JetStream Max Storage", (double)js->max_store_bytes);
	jsm_prom_streams(s, out, "jetstream_stream_total_messages",
			 "Total number of messages from a stream", 0);
	jsm_prom_streams(s, out, "jetstream_stream_total_bytes",
			 "Total stored bytes from a stream", 1);
	jsm_prom_streams(s, out, "jetstream_stream_first_seq",
			 "First sequence from a stream", 2);
	jsm_prom_streams(s, out, "jetstream_stream_last_seq",
			 "Last sequence from a stream", 3);
	jsm_prom_streams(s, out, "jetstream_stream_consumer_count",
			 "Total number of consumers from a stream", 4);
}
