/*
 * monitor.c - the monitoring endpoints' JSON (varz, connz, routez,
 * gatewayz, leafz, subsz, accountz, accstatz, jsz, healthz, statsz), their
 * options from an HTTP query or a $SYS request body, the HTTP answer
 * (dispatch, JSONP, indentation, the root page, Prometheus text), and the
 * ring of closed connections that connz?state=closed reports.
 *
 * Shapes follow nats-server 2.9.10's monitor.go: key names and order,
 * omitted-when-empty fields, defaults (limit 1024) and option errors.  The
 * parts this server does not run (routes, gateways) report what the
 * reference reports when they are off; JetStream's figures come from
 * js/js_monitor.c.
 *
 * Owns: s->closed (the closed-connection ring, up to max_closed_clients
 * snapshots with owned strings) and s->http_req_stats.  Nothing here
 * changes server state otherwise; output never depends on pointer values
 * or hash order (lists come from ordered lists, sorted with a cid
 * tie-break).
 */
#include "monitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../js/jetstream.h"
#include "../js/js_monitor.h"
#include "../lib/timefmt.h"
#include "../proto/http.h"
#include "leaf.h"
#include "server_int.h"
#include "subject.h"

/* Indexed by enum monitor_ep: the path each endpoint answers. */
static const char *const monitor_paths[MONITOR_EP_COUNT] = {
	[MONITOR_ROOT] = "/", [MONITOR_VARZ] = "/varz", [MONITOR_CONNZ] = "/connz",
	[MONITOR_ROUTEZ] = "/routez", [MONITOR_GATEWAYZ] = "/gatewayz",
	[MONITOR_LEAFZ] = "/leafz", [MONITOR_SUBSZ] = "/subsz",
	[MONITOR_ACCOUNTZ] = "/accountz", [MONITOR_ACCSTATZ] = "/accstatz",
	[MONITOR_JSZ] = "/jsz", [MONITOR_HEALTHZ] = "/healthz",
	[MONITOR_METRICS] = "/metrics",
};

int monitor_ep_from_path(const char *path, size_t len)
{
	for (int i = 0; i < MONITOR_EP_COUNT; i++)
		if (strlen(monitor_paths[i]) == len && memcmp(monitor_paths[i], path, len) == 0)
			return i;
	/* The reference keeps the old name of /subsz as an alias. */
	if (len == 15 && memcmp(path, "/subscriptionsz", 15) == 0)
		return MONITOR_SUBSZ;
	return -1;
}

const char *monitor_ep_path(enum monitor_ep ep)
{
	ASSERT(ep >= 0 && ep < MONITOR_EP_COUNT);
	return monitor_paths[ep];
}

void monitor_opts_init(struct monitor_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->state = MONITOR_CONN_OPEN;
}

/* ------------------------------------------------------ query options */

/* One query parameter into a fixed field; an over-long value is refused
 * rather than cut, since a cut name would filter for something else. */
static int query_string(const char *q, size_t len, const char *name, char *out,
			size_t cap, struct buf *tmp, struct buf *err)
{
	if (!http_query_get(q, len, name, tmp) || tmp->len == 0)
		return 0;
	if (tmp->oom || tmp->len >= cap || memchr(tmp->data, '\0', tmp->len) != NULL) {
		buf_appendf(err, "invalid value for '%s'", name);
		return -1;
	}
	memcpy(out, tmp->data, tmp->len + 1);
	return 0;
}

static int query_bool(const char *q, size_t len, const char *name, bool *out,
		      struct buf *tmp, struct buf *err)
{
	if (!http_query_get(q, len, name, tmp) || tmp->len == 0)
		return 0;
	struct buf why;
	buf_init(&why, err->mem);
	bool ok = !tmp->oom && http_parse_bool(tmp->data, out, &why);
	if (!ok)
		buf_appendf(err, "Error decoding boolean for '%s': %s", name,
			    why.data ? why.data : "out of memory");
	buf_free(&why);
	return ok ? 0 : -1;
}

static int query_int(const char *q, size_t len, const char *name, int64_t *out,
		     struct buf *tmp, struct buf *err)
{
	if (!http_query_get(q, len, name, tmp) || tmp->len == 0)
		return 0;
	struct buf why;
	buf_init(&why, err->mem);
	bool ok = !tmp->oom && http_parse_int(tmp->data, out, &why);
	if (!ok)
		buf_appendf(err, "Error decoding int for '%s': %s", name,
			    why.data ? why.data : "out of memory");
	buf_free(&why);
	return ok ? 0 : -1;
}

static int query_uint(const char *q, size_t len, const char *name, uint64_t *out,
		      struct buf *tmp, struct buf *err)
{
	if (!http_query_get(q, len, name, tmp) || tmp->len == 0)
		return 0;
	struct buf why;
	buf_init(&why, err->mem);
	bool ok = !tmp->oom && http_parse_uint(tmp->data, out, &why);
	if (!ok)
		buf_appendf(err, "Error decoding uint64 for '%s': %s", name,
			    why.data ? why.data : "out of memory");
	buf_free(&why);
	return ok ? 0 : -1;
}

static int query_state(const char *q, size_t len, struct monitor_opts *o,
		       struct buf *tmp, struct buf *err)
{
	if (!http_query_get(q, len, "state", tmp) || tmp->len == 0)
		return 0;
	for (size_t i = 0; i < tmp->len; i++)
		if (tmp->data[i] >= 'A' && tmp->data[i] <= 'Z')
			tmp->data[i] = (char)(tmp->data[i] + 32);
	if (strcmp(tmp->data, "open") == 0)
		o->state = MONITOR_CONN_OPEN;
	else if (strcmp(tmp->data, "closed") == 0)
		o->state = MONITOR_CONN_CLOSED;
	else if (strcmp(tmp->data, "any") == 0 || strcmp(tmp->data, "all") == 0)
		o->state = MONITOR_CONN_ANY;
	else {
		buf_appendf(err, "Error decoding state for %s", tmp->data);
		return -1;
	}
	return 0;
}

/* subs=detail asks for the detailed lists, any other value is a bool. */
static int query_subs(const char *q, size_t len, struct monitor_opts *o,
		      struct buf *tmp, struct buf *err)
{
	if (http_query_get(q, len, "subs", tmp) && tmp->len == 6 &&
	    strncasecmp(tmp->data, "detail", 6) == 0) {
		o->subs_detail = true;
		return 0;
	}
	return query_bool(q, len, "subs", &o->subs, tmp, err);
}

static int query_connz(const char *q, size_t n, struct monitor_opts *o,
		       struct buf *t, struct buf *e)
{
	if (query_string(q, n, "sort", o->sort, sizeof(o->sort), t, e) != 0)
		return -1;
	if (query_bool(q, n, "auth", &o->auth, t, e) != 0 || query_subs(q, n, o, t, e) != 0 ||
	    query_int(q, n, "offset", &o->offset, t, e) != 0 ||
	    query_int(q, n, "limit", &o->limit, t, e) != 0 ||
	    query_uint(q, n, "cid", &o->cid, t, e) != 0 || query_state(q, n, o, t, e) != 0)
		return -1;
	if (query_string(q, n, "user", o->user, sizeof(o->user), t, e) != 0 ||
	    query_string(q, n, "acc", o->acc, sizeof(o->acc), t, e) != 0)
		return -1;
	return 0;
}

/* In the reference's order, so the first bad value is the one reported. */
static int query_jsz(const char *q, size_t n, struct monitor_opts *o,
		     struct buf *t, struct buf *e)
{
	/* leader-only is checked like the reference; a single server leads
	 * everything, so its value changes nothing. */
	bool leader_only = false;
	if (query_string(q, n, "acc", o->acc, sizeof(o->acc), t, e) != 0 ||
	    query_bool(q, n, "accounts", &o->jsz_accounts, t, e) != 0 ||
	    query_bool(q, n, "streams", &o->jsz_streams, t, e) != 0 ||
	    query_bool(q, n, "consumers", &o->jsz_consumers, t, e) != 0 ||
	    query_bool(q, n, "config", &o->jsz_config, t, e) != 0 ||
	    query_int(q, n, "offset", &o->offset, t, e) != 0 ||
	    query_int(q, n, "limit", &o->limit, t, e) != 0 ||
	    query_bool(q, n, "leader-only", &leader_only, t, e) != 0)
		return -1;
	return 0;
}

int monitor_opts_from_query(enum monitor_ep ep, const char *q, size_t n,
			    struct monitor_opts *o, struct buf *e)
{
	struct buf tmp;
	int rc = 0;
	buf_init(&tmp, e->mem);
	switch (ep) {
	case MONITOR_CONNZ:
		rc = query_connz(q, n, o, &tmp, e);
		break;
	case MONITOR_ROUTEZ:
		rc = query_subs(q, n, o, &tmp, e);
		break;
	case MONITOR_GATEWAYZ:
		rc = query_bool(q, n, "accs", &o->gw_accounts, &tmp, e);
		if (rc == 0)
			rc = query_string(q, n, "gw_name", o->gw_name, sizeof(o->gw_name),
					  &tmp, e);
		if (rc == 0)
			rc = query_string(q, n, "acc_name", o->acc, sizeof(o->acc), &tmp, e);
		break;
	case MONITOR_LEAFZ:
		rc = query_bool(q, n, "subs", &o->subs, &tmp, e);
		if (rc == 0)
			rc = query_string(q, n, "acc", o->acc, sizeof(o->acc), &tmp, e);
		break;
	case MONITOR_SUBSZ:
		if (query_bool(q, n, "subs", &o->subs, &tmp, e) != 0 ||
		    query_int(q, n, "offset", &o->offset, &tmp, e) != 0 ||
		    query_int(q, n, "limit", &o->limit, &tmp, e) != 0 ||
		    query_string(q, n, "test", o->test, sizeof(o->test), &tmp, e) != 0 ||
		    query_string(q, n, "acc", o->acc, sizeof(o->acc), &tmp, e) != 0)
			rc = -1;
		break;
	case MONITOR_ACCOUNTZ:
		rc = query_string(q, n, "acc", o->acc, sizeof(o->acc), &tmp, e);
		break;
	case MONITOR_ACCSTATZ:
		rc = query_bool(q, n, "unused", &o->include_unused, &tmp, e);
		break;
	case MONITOR_JSZ:
		rc = query_jsz(q, n, o, &tmp, e);
		break;
	case MONITOR_HEALTHZ: {
		bool deprecated = false;
		if (query_bool(q, n, "js-enabled", &deprecated, &tmp, e) != 0 ||
		    query_bool(q, n, "js-enabled-only", &o->js_enabled_only, &tmp, e) != 0 ||
		    query_bool(q, n, "js-server-only", &o->js_server_only, &tmp, e) != 0)
			rc = -1;
		o->js_enabled_only |= deprecated;
		break;
	}
	default:
		break;
	}
	buf_free(&tmp);
	return rc;
}

/* ------------------------------------------------------- JSON options */

static void json_opt_string(const struct json_doc *d, int obj, const char *key,
			    char *out, size_t cap)
{
	struct buf v;
	buf_init(&v, d->mem);
	if (json_obj_string(d, obj, key, &v) && !v.oom && v.len < cap &&
	    memchr(v.data, '\0', v.len) == NULL)
		memcpy(out, v.data, v.len + 1);
	buf_free(&v);
}

static void json_opt_int(const struct json_doc *d, int obj, const char *key, int64_t *out)
{
	int64_t v;
	if (json_obj_int(d, obj, key, &v))
		*out = v;
}

/* Connz in a request body: the reference's ConnzOptions JSON names. */
static int json_connz(const struct json_doc *d, int obj, struct monitor_opts *o,
		      struct buf *err)
{
	int64_t v = 0;
	json_opt_string(d, obj, "sort", o->sort, sizeof(o->sort));
	json_obj_bool(d, obj, "auth", &o->auth);
	json_obj_bool(d, obj, "subscriptions", &o->subs);
	json_obj_bool(d, obj, "subscriptions_detail", &o->subs_detail);
	json_opt_int(d, obj, "offset", &o->offset);
	json_opt_int(d, obj, "limit", &o->limit);
	if (json_obj_int(d, obj, "cid", &v) && v > 0)
		o->cid = (uint64_t)v;
	v = 0;
	if (json_obj_int(d, obj, "state", &v)) {
		if (v < 0 || v > 2) {
			buf_appendf(err, "invalid connection state: %lld", (long long)v);
			return -1;
		}
		o->state = (enum monitor_conn_state)v;
	}
	json_opt_string(d, obj, "user", o->user, sizeof(o->user));
	json_opt_string(d, obj, "acc", o->acc, sizeof(o->acc));
	return 0;
}

int monitor_opts_from_json(enum monitor_ep ep, const struct json_doc *d, int obj,
			   struct monitor_opts *o, struct buf *err)
{
	if (obj < 0 || json_type_of(d, obj) != JSON_OBJECT)
		return 0;
	switch (ep) {
	case MONITOR_CONNZ:
		return json_connz(d, obj, o, err);
	case MONITOR_ROUTEZ:
		json_obj_bool(d, obj, "subscriptions", &o->subs);
		json_obj_bool(d, obj, "subscriptions_detail", &o->subs_detail);
		break;
	case MONITOR_SUBSZ:
		json_obj_bool(d, obj, "subscriptions", &o->subs);
		json_opt_int(d, obj, "offset", &o->offset);
		json_opt_int(d, obj, "limit", &o->limit);
		json_opt_string(d, obj, "test", o->test, sizeof(o->test));
		json_opt_string(d, obj, "account", o->acc, sizeof(o->acc));
		break;
	case MONITOR_LEAFZ:
		json_obj_bool(d, obj, "subscriptions", &o->subs);
		json_opt_string(d, obj, "account", o->acc, sizeof(o->acc));
		break;
	case MONITOR_GATEWAYZ:
		json_obj_bool(d, obj, "accounts", &o->gw_accounts);
		json_opt_string(d, obj, "name", o->gw_name, sizeof(o->gw_name));
		json_opt_string(d, obj, "account_name", o->acc, sizeof(o->acc));
		break;
	case MONITOR_ACCOUNTZ:
		json_opt_string(d, obj, "account", o->acc, sizeof(o->acc));
		break;
	case MONITOR_ACCSTATZ:
		json_obj_bool(d, obj, "include_unused", &o->include_unused);
		break;
	case MONITOR_JSZ:
		json_opt_string(d, obj, "account", o->acc, sizeof(o->acc));
		json_obj_bool(d, obj, "accounts", &o->jsz_accounts);
		json_obj_bool(d, obj, "streams", &o->jsz_streams);
		json_obj_bool(d, obj, "consumer", &o->jsz_consumers);
		json_obj_bool(d, obj, "config", &o->jsz_config);
		json_opt_int(d, obj, "offset", &o->offset);
		json_opt_int(d, obj, "limit", &o->limit);
		break;
	case MONITOR_HEALTHZ:
		json_obj_bool(d, obj, "js-enabled-only", &o->js_enabled_only);
		json_obj_bool(d, obj, "js-server-only", &o->js_server_only);
		break;
	default:
		break;
	}
	return 0;
}

/* ------------------------------------------------------- JSON helpers */

static void mon_time(struct jw *w, const char *key, int64_t unix_ns)
{
	char t[TIMEFMT_MAX];
	timefmt_rfc3339(unix_ns, t);
	jw_key(w, key);
	jw_str(w, t);
}

static void mon_str_opt(struct jw *w, const char *key, const char *v)
{
	if (v != NULL && v[0] != '\0') {
		jw_key(w, key);
		jw_str(w, v);
	}
}

static void mon_int(struct jw *w, const char *key, int64_t v)
{
	jw_key(w, key);
	jw_int(w, v);
}

static void mon_uint(struct jw *w, const char *key, uint64_t v)
{
	jw_key(w, key);
	jw_uint(w, v);
}

static void mon_str(struct jw *w, const char *key, const char *v)
{
	jw_key(w, key);
	jw_str(w, v != NULL ? v : "");
}

static void mon_empty_obj(struct jw *w, const char *key)
{
	jw_key(w, key);
	jw_obj_begin(w);
	jw_obj_end(w);
}

static void mon_msgs_bytes(struct jw *w, const char *key, uint64_t msgs, uint64_t bytes)
{
	jw_key(w, key);
	jw_obj_begin(w);
	mon_uint(w, "msgs", msgs);
	mon_uint(w, "bytes", bytes);
	jw_obj_end(w);
}

static const char *mon_host(const struct server *s)
{
	return s->opts->host != NULL ? s->opts->host : "0.0.0.0";
}

/* Seconds as the reference's float64 option fields print them. */
static void mon_seconds(struct jw *w, const char *key, int64_t ns)
{
	jw_key(w, key);
	jw_double(w, (double)ns / 1e9);
}

/* Every (live) account, in the server's list order. */
#define FOR_EACH_ACCOUNT(s, a)                                                 \
	for (struct link *a##_l = (s)->accounts.next; a##_l != &(s)->accounts; \
	     a##_l = a##_l->next)                                              \
		for (struct account *a = CONTAINER_OF(a##_l, struct account, node); \
		     a != NULL && !a->removed; a = NULL)

static uint64_t mon_total_subs(struct server *s)
{
	uint64_t n = 0;
	FOR_EACH_ACCOUNT(s, a)
		n += sublist_count(a->sl);
	return n;
}

/* Monotonic times of a connection as wall-clock times. */
static int64_t mon_conn_wall(const struct conn *c, int64_t mono_ns)
{
	return c->start_wall_ns + (mono_ns - c->start_ns);
}

/* ------------------------------------------------------------- varz */

static void varz_head(struct server *s, struct jw *w)
{
	const struct opts *o = s->opts;
	mon_str(w, "server_id", s->id);
	mon_str(w, "server_name", s->name);
	mon_str(w, "version", SERVER_NATS_VERSION);
	mon_int(w, "proto", 1);
	mon_str(w, "go", "natsd " SERVER_RELEASE);
	mon_str(w, "host", mon_host(s));
	mon_int(w, "port", s->port);
	if (s->auth_required) {
		jw_key(w, "auth_required");
		jw_bool(w, true);
	}
	mon_int(w, "max_connections", o->max_connections);
	if (o->max_subscriptions > 0)
		mon_int(w, "max_subscriptions", o->max_subscriptions);
	mon_int(w, "ping_interval", o->ping_interval_ns);
	mon_int(w, "ping_max", o->ping_max);
	mon_str(w, "http_host", o->http_host ? o->http_host : mon_host(s));
	mon_int(w, "http_port", o->http_port);
	mon_str(w, "http_base_path", o->http_base_path);
	mon_int(w, "https_port", o->https_port);
	mon_seconds(w, "auth_timeout", o->auth_timeout_ns);
	mon_int(w, "max_control_line", o->max_control_line);
	mon_int(w, "max_payload", o->max_payload);
	mon_int(w, "max_pending", o->max_pending);
}

static void varz_str_list(struct jw *w, const char *key, char *const *items, size_t n)
{
	if (n == 0)
		return;
	jw_key(w, key);
	jw_arr_begin(w);
	for (size_t i = 0; i < n; i++)
		jw_str(w, items[i]);
	jw_arr_end(w);
}

/* The configured cluster, gateway and leafnode listeners, as the reference
 * reports its options (empty objects when not configured). */
static void varz_subsystems(struct server *s, struct jw *w)
{
	const struct opts *o = s->opts;
	jw_key(w, "cluster");
	jw_obj_begin(w);
	mon_str_opt(w, "name", o->cluster.name);
	mon_str_opt(w, "addr", o->cluster.port != 0 ? o->cluster.host : NULL);
	if (o->cluster.port > 0)
		mon_int(w, "cluster_port", o->cluster.port);
	if (o->cluster.port != 0)
		mon_seconds(w, "auth_timeout", o->cluster.auth_timeout_ns);
	varz_str_list(w, "urls", o->cluster.routes, o->cluster.n_routes);
	if (o->cluster.port != 0)
		mon_int(w, "tls_timeout", 2);
	jw_obj_end(w);
	jw_key(w, "gateway");
	jw_obj_begin(w);
	mon_str_opt(w, "name", o->gateway.name);
	mon_str_opt(w, "host", o->gateway.port != 0 ? o->gateway.host : NULL);
	if (o->gateway.port > 0)
		mon_int(w, "port", o->gateway.port);
	jw_obj_end(w);
	jw_key(w, "leaf");
	jw_obj_begin(w);
	if (o->leafnodes.port != 0) {
		mon_str_opt(w, "host", o->leafnodes.host ? o->leafnodes.host : "0.0.0.0");
		if (o->leafnodes.port > 0)
			mon_int(w, "port", o->leafnodes.port);
		mon_seconds(w, "auth_timeout", o->leafnodes.auth_timeout_ns);
		mon_int(w, "tls_timeout", 2);
	}
	jw_obj_end(w);
	mon_empty_obj(w, "mqtt");
	mon_empty_obj(w, "websocket");
	jw_key(w, "jetstream");
	js_monitor_write_varz(s, w, false);
}

/* Requests served per path, keys sorted as Go prints a map. */
static void varz_req_stats(struct server *s, struct jw *w)
{
	int order[MONITOR_EP_COUNT], n = 0;
	for (int i = 0; i < MONITOR_EP_COUNT; i++)
		if (s->http_req_stats[i] > 0)
			order[n++] = i;
	for (int i = 1; i < n; i++)
		for (int k = i; k > 0 && strcmp(monitor_paths[order[k - 1]],
						monitor_paths[order[k]]) > 0; k--) {
			int t = order[k];
			order[k] = order[k - 1];
			order[k - 1] = t;
		}
	jw_key(w, "http_req_stats");
	jw_obj_begin(w);
	for (int i = 0; i < n; i++)
		mon_uint(w, monitor_paths[order[i]], s->http_req_stats[order[i]]);
	jw_obj_end(w);
}

static void varz_runtime(struct server *s, struct jw *w)
{
	int64_t now = env_now_wall_ns(s->env);
	char up[TIMEFMT_MAX];
	mon_seconds(w, "tls_timeout", 2000000000LL);
	mon_int(w, "write_deadline", s->opts->write_deadline_ns);
	mon_time(w, "start", s->start_wall_ns);
	mon_time(w, "now", now);
	timefmt_uptime(now - s->start_wall_ns, up);
	mon_str(w, "uptime", up);
	/* No OS calls here: the allocator's live bytes stand in for RSS. */
	mon_uint(w, "mem", s->mem.live_bytes);
	mon_int(w, "cores", 1);
	mon_int(w, "gomaxprocs", 1);
	mon_int(w, "cpu", 0);
	mon_uint(w, "connections", s->nconns);
	mon_uint(w, "total_connections", s->stats.total_connections);
	mon_int(w, "routes", 0);
	mon_int(w, "remotes", 0);
	mon_uint(w, "leafnodes", leaf_count(s));
	mon_uint(w, "in_msgs", s->stats.in_msgs);
	mon_uint(w, "out_msgs", s->stats.out_msgs);
	mon_uint(w, "in_bytes", s->stats.in_bytes);
	mon_uint(w, "out_bytes", s->stats.out_bytes);
	mon_uint(w, "slow_consumers", s->stats.slow_consumers);
	mon_uint(w, "subscriptions", mon_total_subs(s));
}

static void monitor_write_varz(struct server *s, struct jw *w)
{
	jw_obj_begin(w);
	varz_head(s, w);
	varz_subsystems(s, w);
	varz_runtime(s, w);
	varz_req_stats(s, w);
	mon_time(w, "config_load_time", s->config_load_wall_ns);
	varz_str_list(w, "tags", s->opts->server_tags, s->opts->n_server_tags);
	if (s->system_acc != NULL)
		mon_str(w, "system_account", s->system_acc->name);
	jw_obj_end(w);
}

void monitor_write_statsz(struct server *s, struct jw *w)
{
	uint32_t active = 0;
	FOR_EACH_ACCOUNT(s, a)
		active += a->nconns > 0;
	jw_obj_begin(w);
	mon_time(w, "start", s->start_wall_ns);
	mon_uint(w, "mem", s->mem.live_bytes);
	mon_int(w, "cores", 1);
	mon_int(w, "cpu", 0);
	mon_uint(w, "connections", s->nconns);
	mon_uint(w, "total_connections", s->stats.total_connections);
	mon_uint(w, "active_accounts", active);
	mon_uint(w, "subscriptions", mon_total_subs(s));
	mon_msgs_bytes(w, "sent", s->stats.out_msgs, s->stats.out_bytes);
	mon_msgs_bytes(w, "received", s->stats.in_msgs, s->stats.in_bytes);
	mon_uint(w, "slow_consumers", s->stats.slow_consumers);
	mon_int(w, "active_servers", 1);
	if (jetstream_is_enabled(s)) {
		jw_key(w, "jetstream");
		js_monitor_write_varz(s, w, true);
	}
	jw_obj_end(w);
}

/* ------------------------------------------------------------- connz */

/* One row of connz: an open connection or a closed one's snapshot. */
struct ci {
	const struct conn *c;
	const struct monitor_closed *cc;
	uint64_t cid;
	int64_t key;                   /* sort key, already negated for
					* descending orders */
	const char *skey;              /* string sort key (reason) or NULL */
};

static int ci_compare(const void *a, const void *b)
{
	const struct ci *x = a, *y = b;
	if (x->skey != NULL && y->skey != NULL) {
		int r = strcmp(x->skey, y->skey);
		if (r != 0)
			return r;
	} else if (x->key != y->key) {
		return x->key < y->key ? -1 : 1;
	}
	return x->cid < y->cid ? -1 : x->cid > y->cid;
}

static const char *const connz_sorts[] = {
	"cid", "start", "subs", "pending", "msgs_to", "msgs_from", "bytes_to",
	"bytes_from", "last", "idle", "uptime", "stop", "reason",
};

static int connz_check(const struct monitor_opts *o, struct buf *err)
{
	bool known = o->sort[0] == '\0';
	for (size_t i = 0; i < ARRAY_LEN(connz_sorts) && !known; i++)
		known = strcmp(o->sort, connz_sorts[i]) == 0;
	if (!known) {
		buf_appendf(err, "invalid sorting option: %s", o->sort);
		return -1;
	}
	if (strcmp(o->sort, "stop") == 0 && o->state != MONITOR_CONN_CLOSED) {
		buf_append_str(err, "sort by stop only valid on closed connections");
		return -1;
	}
	if (strcmp(o->sort, "reason") == 0 && o->state != MONITOR_CONN_CLOSED) {
		buf_append_str(err, "sort by reason only valid on closed connections");
		return -1;
	}
	return 0;
}

/* The sort key of a row: descending orders negate (as sort.Reverse). */
static void ci_set_key(struct server *s, struct ci *r, const char *sort)
{
	const struct conn *c = r->c;
	const struct monitor_closed *cc = r->cc;
	int64_t now = env_now_wall_ns(s->env);
	int64_t start = c ? c->start_wall_ns : cc->start_wall_ns;
	int64_t last = c ? mon_conn_wall(c, c->last_activity_ns) : cc->last_wall_ns;
	r->key = 0;
	r->skey = NULL;
	if (strcmp(sort, "subs") == 0)
		r->key = -(int64_t)(c ? c->nsubs : 0);
	else if (strcmp(sort, "pending") == 0)
		r->key = -(int64_t)(c ? c->out_pending : 0);
	else if (strcmp(sort, "msgs_to") == 0)
		r->key = -(int64_t)(c ? c->out_msgs : cc->out_msgs);
	else if (strcmp(sort, "msgs_from") == 0)
		r->key = -(int64_t)(c ? c->in_msgs : cc->in_msgs);
	else if (strcmp(sort, "bytes_to") == 0)
		r->key = -(int64_t)(c ? c->out_bytes : cc->out_bytes);
	else if (strcmp(sort, "bytes_from") == 0)
		r->key = -(int64_t)(c ? c->in_bytes : cc->in_bytes);
	else if (strcmp(sort, "last") == 0)
		r->key = -last;
	else if (strcmp(sort, "idle") == 0)
		r->key = -(last - start);
	else if (strcmp(sort, "uptime") == 0)
		r->key = (c ? now : cc->stop_wall_ns) - start;
	else if (strcmp(sort, "stop") == 0)
		r->key = -(cc ? cc->stop_wall_ns : 0);
	else if (strcmp(sort, "reason") == 0)
		r->skey = cc ? cc->reason : "";
}

/* The reference truncates round trips between 1µs and 1ms to µs. */
static void mon_rtt(struct jw *w, int64_t rtt_ns)
{
	char t[TIMEFMT_MAX];
	if (rtt_ns > 1000 && rtt_ns < 1000000)
		rtt_ns -= rtt_ns % 1000;
	timefmt_go_duration(rtt_ns, t);
	mon_str(w, "rtt", t);
}

static int sub_by_sid(const void *a, const void *b)
{
	const struct sub *x = *(const struct sub *const *)a;
	const struct sub *y = *(const struct sub *const *)b;
	if (x->sid_len != y->sid_len)
		return x->sid_len < y->sid_len ? -1 : 1;
	return memcmp(x->sid, y->sid, x->sid_len);
}

static void mon_sub_detail(struct jw *w, const struct sub *sub, const char *acc,
			   uint64_t cid)
{
	jw_obj_begin(w);
	mon_str_opt(w, "account", acc);
	mon_str(w, "subject", sub->subject);
	mon_str_opt(w, "qgroup", sub->queue);
	jw_key(w, "sid");
	jw_strn(w, sub->sid, sub->sid_len);
	mon_uint(w, "msgs", sub->delivered);
	if (sub->max_msgs > 0)
		mon_uint(w, "max", sub->max_msgs);
	mon_uint(w, "cid", cid);
	jw_obj_end(w);
}

/* A connection's subscriptions in sid order (the map's order would
 * depend on its seed). */
static void conn_write_subs(struct server *s, struct jw *w, const struct conn *c,
			    bool detail)
{
	struct sub **arr = mem_alloc(&s->mem, c->subs.count * sizeof(*arr));
	size_t n = 0, pos = 0;
	const struct hmap_entry *ent;
	if (arr == NULL)
		return;
	while ((ent = hmap_next(&c->subs, &pos)) != NULL && n < c->subs.count)
		arr[n++] = ent->value;
	qsort(arr, n, sizeof(*arr), sub_by_sid);
	jw_key(w, detail ? "subscriptions_list_detail" : "subscriptions_list");
	jw_arr_begin(w);
	for (size_t i = 0; i < n; i++) {
		if (detail)
			mon_sub_detail(w, arr[i], NULL, c->cid);
		else
			jw_str(w, arr[i]->subject);
	}
	jw_arr_end(w);
	mem_free(&s->mem, arr);
}

static void ci_write_times(struct jw *w, int64_t start, int64_t last, int64_t stop,
			   const char *reason, int64_t now, int64_t rtt_ns)
{
	char t[TIMEFMT_MAX];
	mon_time(w, "start", start);
	mon_time(w, "last_activity", last);
	if (stop != 0) {
		mon_time(w, "stop", stop);
		mon_str_opt(w, "reason", reason);
		now = stop;
	}
	mon_rtt(w, rtt_ns);
	timefmt_uptime(now - start, t);
	mon_str(w, "uptime", t);
	timefmt_uptime(now - last, t);
	mon_str(w, "idle", t);
}

static void ci_write_counts(struct jw *w, uint64_t pending, uint64_t in_msgs,
			    uint64_t out_msgs, uint64_t in_bytes, uint64_t out_bytes,
			    uint64_t nsubs)
{
	mon_uint(w, "pending_bytes", pending);
	mon_uint(w, "in_msgs", in_msgs);
	mon_uint(w, "out_msgs", out_msgs);
	mon_uint(w, "in_bytes", in_bytes);
	mon_uint(w, "out_bytes", out_bytes);
	mon_uint(w, "subscriptions", nsubs);
}

static void ci_write_open(struct server *s, struct jw *w, const struct conn *c,
			  const struct monitor_opts *o)
{
	mon_str(w, "ip", c->ip);
	mon_int(w, "port", c->port);
	ci_write_times(w, c->start_wall_ns, mon_conn_wall(c, c->last_activity_ns), 0,
		       NULL, env_now_wall_ns(s->env), c->rtt_ns);
	ci_write_counts(w, c->out_pending, c->in_msgs, c->out_msgs, c->in_bytes,
			c->out_bytes, c->nsubs);
	mon_str_opt(w, "name", c->name);
	mon_str_opt(w, "lang", c->lang);
	mon_str_opt(w, "version", c->version);
	if (o->auth) {
		mon_str_opt(w, "authorized_user", conn_auth_user(c));
		if (c->acc != s->global_acc)
			mon_str_opt(w, "account", c->acc->name);
	}
	if (c->nsubs > 0 && (o->subs || o->subs_detail))
		conn_write_subs(s, w, c, o->subs_detail);
}

static void ci_write_closed(struct jw *w, const struct monitor_closed *cc,
			    const struct monitor_opts *o)
{
	mon_str(w, "ip", cc->ip);
	mon_int(w, "port", cc->port);
	ci_write_times(w, cc->start_wall_ns, cc->last_wall_ns, cc->stop_wall_ns,
		       cc->reason, 0, cc->rtt_ns);
	ci_write_counts(w, 0, cc->in_msgs, cc->out_msgs, cc->in_bytes, cc->out_bytes, 0);
	mon_str_opt(w, "name", cc->name);
	mon_str_opt(w, "lang", cc->lang);
	mon_str_opt(w, "version", cc->version);
	if (o->auth) {
		mon_str_opt(w, "authorized_user", cc->user);
		if (cc->account != NULL && strcmp(cc->account, "$G") != 0)
			mon_str_opt(w, "account", cc->account);
	}
}

static void ci_write(struct server *s, struct jw *w, const struct ci *r,
		     const struct monitor_opts *o)
{
	jw_obj_begin(w);
	mon_uint(w, "cid", r->cid);
	mon_str(w, "kind", "Client");
	mon_str(w, "type", "nats");
	if (r->c != NULL)
		ci_write_open(s, w, r->c, o);
	else
		ci_write_closed(w, r->cc, o);
	jw_obj_end(w);
}

static bool connz_open_match(const struct conn *c, const struct monitor_opts *o)
{
	if (o->acc[0] != '\0' && strcmp(c->acc->name, o->acc) != 0)
		return false;
	if (o->user[0] != '\0' && (c->creds.user == NULL || strcmp(c->creds.user, o->user) != 0))
		return false;
	return o->cid == 0 || c->cid == o->cid;
}

static bool connz_closed_match(const struct monitor_closed *cc, const struct monitor_opts *o)
{
	if (o->acc[0] != '\0' && (cc->account == NULL || strcmp(cc->account, o->acc) != 0))
		return false;
	if (o->user[0] != '\0' && (cc->user == NULL || strcmp(cc->user, o->user) != 0))
		return false;
	return o->cid == 0 || cc->cid == o->cid;
}

/* Rows that pass the filters, in *out (owned, caller frees); *total gets
 * what the reference reports as "total" (before cid and user filters). */
static size_t connz_collect(struct server *s, const struct monitor_opts *o,
			    struct ci **out, int64_t *total)
{
	bool open = o->state != MONITOR_CONN_CLOSED, closed = o->state != MONITOR_CONN_OPEN;
	size_t cap = (open ? s->nconns : 0) + (closed ? s->closed_len : 0), n = 0;
	struct ci *arr = mem_alloc(&s->mem, (cap ? cap : 1) * sizeof(*arr));
	*total = 0;
	*out = arr;
	if (arr == NULL)
		return 0;
	for (struct link *l = s->conns.next; open && l != &s->conns; l = l->next) {
		const struct conn *c = CONTAINER_OF(l, struct conn, node);
		if (o->acc[0] != '\0' && strcmp(c->acc->name, o->acc) != 0)
			continue;
		(*total)++;
		if (connz_open_match(c, o) && n < cap)
			arr[n++] = (struct ci){ .c = c, .cid = c->cid };
	}
	for (size_t i = 0; closed && i < s->closed_len; i++) {
		const struct monitor_closed *cc =
			&s->closed[(s->closed_head + i) % s->closed_cap];
		if (o->acc[0] != '\0' && (cc->account == NULL || strcmp(cc->account, o->acc) != 0))
			continue;
		(*total)++;
		if (connz_closed_match(cc, o) && n < cap)
			arr[n++] = (struct ci){ .cc = cc, .cid = cc->cid };
	}
	return n;
}

static int monitor_write_connz(struct server *s, struct jw *w,
			       const struct monitor_opts *o, struct buf *err)
{
	if (connz_check(o, err) != 0)
		return -1;
	int64_t offset = o->offset > 0 ? o->offset : 0;
	int64_t limit = o->limit > 0 ? o->limit : MONITOR_DEFAULT_LIMIT;
	if (o->cid > 0)
		limit = 1;
	bool acc_known = o->acc[0] == '\0' || account_lookup(s, o->acc) != NULL;
	struct ci *rows = NULL;
	int64_t total = 0;
	size_t n = acc_known ? connz_collect(s, o, &rows, &total) : 0;
	for (size_t i = 0; i < n; i++)
		ci_set_key(s, &rows[i], o->sort);
	if (n > 1)
		qsort(rows, n, sizeof(*rows), ci_compare);
	size_t lo = (uint64_t)offset < n ? (size_t)offset : n;
	size_t hi = (uint64_t)limit < n - lo ? lo + (size_t)limit : n;
	jw_obj_begin(w);
	mon_str(w, "server_id", s->id);
	mon_time(w, "now", env_now_wall_ns(s->env));
	mon_uint(w, "num_connections", hi - lo);
	mon_int(w, "total", total);
	mon_int(w, "offset", offset);
	mon_int(w, "limit", limit);
	jw_key(w, "connections");
	if (!acc_known) {
		/* The reference returns before filling the list: null. */
		jw_null(w);
	} else {
		jw_arr_begin(w);
		for (size_t i = lo; i < hi; i++)
			ci_write(s, w, &rows[i], o);
		jw_arr_end(w);
	}
	jw_obj_end(w);
	mem_free(&s->mem, rows);
	return 0;
}

/* ------------------------------------------ routez, gatewayz, leafz */

/* Routes and gateways do not run in this server yet, so these report what
 * the reference reports without any such connection.  Leaf links are
 * listed by leaf.c. */
static void monitor_write_routez(struct server *s, struct jw *w)
{
	jw_obj_begin(w);
	mon_str(w, "server_id", s->id);
	mon_time(w, "now", env_now_wall_ns(s->env));
	mon_int(w, "num_routes", 0);
	jw_key(w, "routes");
	jw_arr_begin(w);
	jw_arr_end(w);
	jw_obj_end(w);
}

static void monitor_write_gatewayz(struct server *s, struct jw *w)
{
	const struct opts *o = s->opts;
	jw_obj_begin(w);
	mon_str(w, "server_id", s->id);
	mon_time(w, "now", env_now_wall_ns(s->env));
	mon_str_opt(w, "name", o->gateway.name);
	mon_str_opt(w, "host", o->gateway.port != 0 ? o->gateway.host : NULL);
	if (o->gateway.port > 0)
		mon_int(w, "port", o->gateway.port);
	mon_empty_obj(w, "outbound_gateways");
	mon_empty_obj(w, "inbound_gateways");
	jw_obj_end(w);
}

static void monitor_write_leafz(struct server *s, struct jw *w,
				const struct monitor_opts *o)
{
	jw_obj_begin(w);
	mon_str(w, "server_id", s->id);
	mon_time(w, "now", env_now_wall_ns(s->env));
	leaf_write_leafz(s, w, o->acc, o->subs);
	jw_obj_end(w);
}

/* ------------------------------------------------------------- subsz */

static void mon_sublist_stats(struct jw *w, const struct sublist_stats *st)
{
	mon_uint(w, "num_subscriptions", st->subs);
	mon_uint(w, "num_cache", st->cache_entries);
	mon_uint(w, "num_inserts", st->inserts);
	mon_uint(w, "num_removes", st->removes);
	mon_uint(w, "num_matches", st->matches);
	jw_key(w, "cache_hit_rate");
	jw_double(w, st->matches > 0 ? (double)st->cache_hits / (double)st->matches : 0.0);
	/* The sublist does not keep fan-out figures for its cache entries. */
	mon_int(w, "max_fanout", 0);
	mon_int(w, "avg_fanout", 0);
}

struct subsz_walk {
	struct jw *w;                  /* NULL while counting */
	const struct monitor_opts *o;
	const struct account *acc;
	int64_t index;                 /* matching subs seen so far */
	int64_t lo, hi;                /* the page [lo, hi) to write */
};

static void subsz_visit(void *arg, struct sub *sub)
{
	struct subsz_walk *wk = arg;
	if (sub->conn == NULL)
		return; /* internal subscriptions have no client to report */
	if (wk->o->test[0] != '\0' &&
	    !subject_matches(wk->o->test, strlen(wk->o->test), sub->subject, sub->subject_len))
		return;
	int64_t i = wk->index++;
	if (wk->w != NULL && i >= wk->lo && i < wk->hi)
		mon_sub_detail(wk->w, sub, wk->acc->name, sub->conn->cid);
}

/* Walks the accounts' subscriptions: counts them (w == NULL) or writes
 * the page. */
static int64_t subsz_walk(struct server *s, const struct monitor_opts *o, struct jw *w,
			  int64_t lo, int64_t hi)
{
	struct subsz_walk wk = { w, o, NULL, 0, lo, hi };
	FOR_EACH_ACCOUNT(s, a) {
		if (o->acc[0] != '\0' && strcmp(a->name, o->acc) != 0)
			continue;
		wk.acc = a;
		sublist_visit(a->sl, subsz_visit, &wk);
	}
	return wk.index;
}

static int monitor_write_subsz(struct server *s, struct jw *w,
			       const struct monitor_opts *o, struct buf *err)
{
	if (o->test[0] != '\0' && !subject_is_valid_literal(o->test, strlen(o->test))) {
		buf_appendf(err, "invalid test subject, must be valid publish subject: %s",
			    o->test);
		return -1;
	}
	struct sublist_stats sum = { 0 };
	FOR_EACH_ACCOUNT(s, a) {
		if (o->acc[0] != '\0' && strcmp(a->name, o->acc) != 0)
			continue;
		struct sublist_stats st;
		sublist_stats(a->sl, &st);
		sum.subs += st.subs;
		sum.inserts += st.inserts;
		sum.removes += st.removes;
		sum.matches += st.matches;
		sum.cache_hits += st.cache_hits;
		sum.cache_entries += st.cache_entries;
	}
	int64_t offset = o->offset > 0 ? o->offset : 0;
	int64_t limit = o->limit > 0 ? o->limit : MONITOR_DEFAULT_LIMIT;
	int64_t n = o->subs ? subsz_walk(s, o, NULL, 0, 0) : 0;
	int64_t lo = offset < n ? offset : n, hi = limit < n - lo ? lo + limit : n;
	bool full = o->sys_request || hi > lo;
	jw_obj_begin(w);
	/* Like the reference: over HTTP, without a page of subscriptions
	 * only the sublist figures are sent. */
	if (full) {
		mon_str(w, "server_id", s->id);
		mon_time(w, "now", env_now_wall_ns(s->env));
	}
	mon_sublist_stats(w, &sum);
	if (full) {
		mon_int(w, "total", hi - lo);
		mon_int(w, "offset", offset);
		mon_int(w, "limit", limit);
	}
	if (hi > lo) {
		jw_key(w, "subscriptions_list");
		jw_arr_begin(w);
		subsz_walk(s, o, w, lo, hi);
		jw_arr_end(w);
	}
	jw_obj_end(w);
	return 0;
}

/* ---------------------------------------------------------- accountz */

static const char *const response_types[] = {
	[OPTS_RESPONSE_SINGLETON] = "Singleton", [OPTS_RESPONSE_STREAM] = "Stream",
	[OPTS_RESPONSE_CHUNKED] = "Chunked",
};

static void acc_write_export(struct jw *w, const struct opts_export *e)
{
	jw_obj_begin(w);
	mon_str(w, "subject", e->subject);
	bool svc = e->kind == OPTS_EXPORT_SERVICE;
	mon_str(w, "type", svc ? "service" : "stream");
	if (svc && (unsigned)e->response_type < ARRAY_LEN(response_types))
		mon_str(w, "response_type", response_types[e->response_type]);
	if (e->account_token_position > 0)
		mon_int(w, "account_token_position", e->account_token_position);
	varz_str_list(w, "approved_accounts", e->accounts, e->n_accounts);
	jw_obj_end(w);
}

static void acc_write_exports(struct jw *w, const struct opts_account *oa)
{
	if (oa == NULL || oa->n_exports == 0)
		return;
	jw_key(w, "exports");
	jw_arr_begin(w);
	/* Services first, then streams, as the reference lists them. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < oa->n_exports; i++)
			if ((oa->exports[i].kind == OPTS_EXPORT_SERVICE) == (pass == 0))
				acc_write_export(w, &oa->exports[i]);
	jw_arr_end(w);
}

static void acc_write_import_tail(struct jw *w, const char *type, bool share)
{
	mon_str(w, "type", type);
	jw_key(w, "invalid");
	jw_bool(w, false);
	jw_key(w, "share");
	jw_bool(w, share);
	jw_key(w, "tracking");
	jw_bool(w, false);
}

static void acc_write_imports(struct jw *w, const struct account *a)
{
	/* The reference always has imports here (the system account's
	 * services imported into every account), so the key is always sent;
	 * those system imports do not exist in this server yet. */
	jw_key(w, "imports");
	jw_arr_begin(w);
	for (size_t i = 0; i < a->n_simports; i++) {
		const struct stream_import *im = &a->simports[i];
		jw_obj_begin(w);
		mon_str(w, "subject", im->from);
		mon_str(w, "account", im->from_acc->name);
		mon_str(w, "local_subject", im->to != NULL ? im->to : im->from);
		acc_write_import_tail(w, "stream", false);
		jw_obj_end(w);
	}
	for (size_t i = 0; i < a->n_svc_imports; i++) {
		const struct svc_import *im = &a->svc_imports[i];
		jw_obj_begin(w);
		mon_str(w, "subject", im->local);
		mon_str(w, "account", im->dest->name);
		mon_str(w, "to", im->remote);
		acc_write_import_tail(w, "service", false);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

static void acc_write_mappings(struct jw *w, const struct opts_mapping *m, size_t n)
{
	if (n == 0)
		return;
	jw_key(w, "mappings");
	jw_obj_begin(w);
	for (size_t i = 0; i < n; i++) {
		jw_key(w, m[i].source);
		jw_arr_begin(w);
		for (size_t k = 0; k < m[i].n_dests; k++) {
			jw_obj_begin(w);
			mon_str(w, "subject", m[i].dests[k].subject);
			mon_int(w, "weight", (int64_t)m[i].dests[k].weight_percent);
			mon_str_opt(w, "cluster", m[i].dests[k].cluster);
			jw_obj_end(w);
		}
		jw_arr_end(w);
	}
	jw_obj_end(w);
}

static void acc_write_detail(struct server *s, struct jw *w, const struct account *a)
{
	const struct opts_account *oa = a->opts;
	struct sublist_stats st;
	jw_key(w, "account_detail");
	jw_obj_begin(w);
	mon_str(w, "account_name", a->name);
	mon_time(w, "update_time", s->config_load_wall_ns);
	if (a == s->system_acc) {
		jw_key(w, "is_system");
		jw_bool(w, true);
	}
	jw_key(w, "expired");
	jw_bool(w, false);
	jw_key(w, "complete");
	jw_bool(w, true);
	jw_key(w, "jetstream_enabled");
	jw_bool(w, a->js != NULL && a->js->enabled);
	mon_uint(w, "leafnode_connections", leaf_count_account(s, a));
	mon_uint(w, "client_connections", a->nconns);
	mon_uint(w, "subscriptions", sublist_count(a->sl));
	if (a == s->global_acc)
		acc_write_mappings(w, s->opts->mappings, s->opts->n_mappings);
	else if (oa != NULL)
		acc_write_mappings(w, oa->mappings, oa->n_mappings);
	acc_write_exports(w, oa);
	acc_write_imports(w, a);
	sublist_stats(a->sl, &st);
	jw_key(w, "sublist_stats");
	jw_obj_begin(w);
	mon_sublist_stats(w, &st);
	jw_obj_end(w);
	jw_obj_end(w);
}

static int monitor_write_accountz(struct server *s, struct jw *w,
				  const struct monitor_opts *o, struct buf *err)
{
	const struct account *a = NULL;
	if (o->acc[0] != '\0') {
		a = account_lookup(s, o->acc);
		if (a == NULL || a->removed) {
			buf_appendf(err, "Account %s does not exist", o->acc);
			return -1;
		}
	}
	jw_obj_begin(w);
	mon_str(w, "server_id", s->id);
	mon_time(w, "now", env_now_wall_ns(s->env));
	if (s->system_acc != NULL)
		mon_str(w, "system_account", s->system_acc->name);
	if (a != NULL) {
		acc_write_detail(s, w, a);
	} else {
		jw_key(w, "accounts");
		jw_arr_begin(w);
		FOR_EACH_ACCOUNT(s, acc)
			jw_str(w, acc->name);
		jw_arr_end(w);
	}
	jw_obj_end(w);
	return 0;
}

/* ---------------------------------------------------------- accstatz */

void monitor_write_account_stat(struct server *s, struct jw *w, const struct account *a)
{
	mon_str(w, "acc", a->name);
	mon_uint(w, "conns", a->nconns);
	size_t leafs = leaf_count_account(s, a);
	mon_uint(w, "leafnodes", leafs);
	mon_uint(w, "total_conns", a->nconns + leafs);
	mon_msgs_bytes(w, "sent", a->out_msgs, a->out_bytes);
	mon_msgs_bytes(w, "received", a->in_msgs, a->in_bytes);
	mon_uint(w, "slow_consumers", a->slow_consumers);
}

static void monitor_write_accstatz(struct server *s, struct jw *w,
				   const struct monitor_opts *o)
{
	jw_obj_begin(w);
	mon_str(w, "server_id", s->id);
	mon_time(w, "now", env_now_wall_ns(s->env));
	jw_key(w, "account_statz");
	jw_arr_begin(w);
	FOR_EACH_ACCOUNT(s, a) {
		if (o->acc[0] != '\0' && strcmp(a->name, o->acc) != 0)
			continue;
		if (!o->include_unused && a->nconns == 0)
			continue;
		jw_obj_begin(w);
		monitor_write_account_stat(s, w, a);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_obj_end(w);
}

/* ------------------------------------------------------ jsz, healthz */

/* While JetStream runs js_monitor.c builds the answer; this is what the
 * reference answers while it is off. */
static int monitor_write_jsz(struct server *s, struct jw *w,
			     const struct monitor_opts *o, struct buf *err)
{
	static const char *const zeros[] = {
		"memory", "storage", "reserved_memory", "reserved_storage", "accounts",
		"ha_assets",
	};
	if (jetstream_is_enabled(s))
		return js_monitor_write_jsz(s, w, o, err);
	jw_obj_begin(w);
	mon_str(w, "server_id", s->id);
	mon_time(w, "now", env_now_wall_ns(s->env));
	jw_key(w, "disabled");
	jw_bool(w, true);
	jw_key(w, "config");
	jw_obj_begin(w);
	mon_int(w, "max_memory", 0);
	mon_int(w, "max_storage", 0);
	jw_obj_end(w);
	for (size_t i = 0; i < ARRAY_LEN(zeros); i++)
		mon_int(w, zeros[i], 0);
	jw_key(w, "api");
	jw_obj_begin(w);
	mon_int(w, "total", 0);
	mon_int(w, "errors", 0);
	jw_obj_end(w);
	mon_int(w, "streams", 0);
	mon_int(w, "consumers", 0);
	mon_int(w, "messages", 0);
	mon_int(w, "bytes", 0);
	jw_obj_end(w);
	return 0;
}

/* NULL when healthy, else why not, with the status word the reference
 * gives that problem ("error" or "unavailable"). */
static const char *healthz_problem(struct server *s, const struct monitor_opts *o,
				   const char **status)
{
	*status = "ok";
	if (!s->running) {
		*status = "error";
		return "server not ready for connections";
	}
	/* JetStream configured: enabled, then (clustered) meta leader and
	 * assets current; healthy without it, as the reference. */
	return js_monitor_health(s, o, status);
}

bool monitor_healthy(struct server *s, const struct monitor_opts *o)
{
	const char *status;
	return healthz_problem(s, o, &status) == NULL;
}

static void monitor_write_healthz(struct server *s, struct jw *w,
				  const struct monitor_opts *o)
{
	const char *status;
	const char *why = healthz_problem(s, o, &status);
	jw_obj_begin(w);
	mon_str(w, "status", status);
	mon_str_opt(w, "error", why);
	jw_obj_end(w);
}

int monitor_write(struct server *s, enum monitor_ep ep, const struct monitor_opts *o,
		  struct jw *w, struct buf *err)
{
	switch (ep) {
	case MONITOR_VARZ:
		monitor_write_varz(s, w);
		return 0;
	case MONITOR_CONNZ:
		return monitor_write_connz(s, w, o, err);
	case MONITOR_ROUTEZ:
		monitor_write_routez(s, w);
		return 0;
	case MONITOR_GATEWAYZ:
		monitor_write_gatewayz(s, w);
		return 0;
	case MONITOR_LEAFZ:
		monitor_write_leafz(s, w, o);
		return 0;
	case MONITOR_SUBSZ:
		return monitor_write_subsz(s, w, o, err);
	case MONITOR_ACCOUNTZ:
		return monitor_write_accountz(s, w, o, err);
	case MONITOR_ACCSTATZ:
		monitor_write_accstatz(s, w, o);
		return 0;
	case MONITOR_JSZ:
		return monitor_write_jsz(s, w, o, err);
	case MONITOR_HEALTHZ:
		monitor_write_healthz(s, w, o);
		return 0;
	default:
		buf_appendf(err, "%s is not a JSON endpoint", monitor_paths[ep]);
		return -1;
	}
}

/* ------------------------------------------------------------- HTTP */

static void indent_newline(struct buf *out, int depth)
{
	buf_append_char(out, '\n');
	for (int i = 0; i < depth; i++)
		buf_append_str(out, "  ");
}

void monitor_json_indent(const char *in, size_t len, struct buf *out)
{
	int depth = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '"') {
			size_t start = i++;
			while (i < len && in[i] != '"')
				i += in[i] == '\\' ? 2 : 1;
			buf_append(out, in + start, (i < len ? i + 1 : len) - start);
			continue;
		}
		if (c == '{' || c == '[') {
			buf_append_char(out, c);
			if (i + 1 < len && (in[i + 1] == '}' || in[i + 1] == ']')) {
				buf_append_char(out, in[++i]);
				continue;
			}
			indent_newline(out, ++depth);
		} else if (c == '}' || c == ']') {
			indent_newline(out, --depth);
			buf_append_char(out, c);
		} else if (c == ',') {
			buf_append_char(out, c);
			indent_newline(out, depth);
		} else if (c == ':') {
			buf_append_str(out, ": ");
		} else {
			buf_append_char(out, c);
		}
	}
}

static void http_root_page(struct buf *body)
{
	static const char *const links[][2] = {
		{ "varz", "General" }, { "jsz", "JetStream" }, { "connz", "Connections" },
		{ "accountz", "Accounts" }, { "accstatz", "Account Stats" },
		{ "subsz", "Subscriptions" }, { "routez", "Routes" },
		{ "leafz", "LeafNodes" }, { "gatewayz", "Gateways" },
		{ "healthz", "Health Probe" }, { "metrics", "Prometheus Metrics" },
	};
	buf_append_str(body, "<html lang=\"en\">\n<head><title>natsd monitoring</title>"
			     "</head>\n<body>\n<h1>natsd</h1>\n");
	buf_appendf(body, "<p>v%s (natsd %s)</p>\n", SERVER_NATS_VERSION, SERVER_RELEASE);
	for (size_t i = 0; i < ARRAY_LEN(links); i++)
		buf_appendf(body, "<a href=./%s>%s</a><br/>\n", links[i][0], links[i][1]);
	buf_append_str(body, "</body>\n</html>\n");
}

static void prom_metric(struct buf *b, const char *sid, const char *name,
			const char *type, const char *help, double v)
{
	buf_appendf(b, "# HELP gnatsd_varz_%s %s\n# TYPE gnatsd_varz_%s %s\n", name, help,
		    name, type);
	buf_appendf(b, "gnatsd_varz_%s{server_id=\"%s\"} %.17g\n", name, sid, v);
}

/* The varz figures in Prometheus text format, named as the
 * prometheus-nats-exporter names them, so its dashboards work. */
static void http_metrics(struct server *s, struct buf *b)
{
	const struct server_stats *st = &s->stats;
	int64_t up_ns = env_now_wall_ns(s->env) - s->start_wall_ns;
	prom_metric(b, s->id, "connections", "gauge", "Current client connections",
		    s->nconns);
	prom_metric(b, s->id, "total_connections", "counter",
		    "Client connections accepted since start", (double)st->total_connections);
	prom_metric(b, s->id, "subscriptions", "gauge", "Subscriptions in all accounts",
		    (double)mon_total_subs(s));
	prom_metric(b, s->id, "slow_consumers", "counter", "Slow consumers detected",
		    (double)st->slow_consumers);
	prom_metric(b, s->id, "in_msgs", "counter", "Messages received", (double)st->in_msgs);
	prom_metric(b, s->id, "out_msgs", "counter", "Messages sent", (double)st->out_msgs);
	prom_metric(b, s->id, "in_bytes", "counter", "Bytes received", (double)st->in_bytes);
	prom_metric(b, s->id, "out_bytes", "counter", "Bytes sent", (double)st->out_bytes);
	prom_metric(b, s->id, "mem", "gauge", "Bytes allocated by the server",
		    (double)s->mem.live_bytes);
	prom_metric(b, s->id, "uptime_seconds", "gauge", "Seconds since start",
		    (double)(up_ns / 1000000000));
	struct monitor_opts o;
	monitor_opts_init(&o);
	prom_metric(b, s->id, "healthy", "gauge", "1 when /healthz answers ok",
		    monitor_healthy(s, &o) ? 1 : 0);
	js_monitor_write_metrics(s, b);
}

static void http_reply_text(struct monitor_reply *r, int status, const char *text)
{
	r->status = status;
	r->content_type = "text/plain; charset=utf-8";
	buf_append_str(r->body, text);
}

/* A JSON endpoint: options, builder, indentation (healthz stays compact
 * as in the reference), and JSONP when ?callback= is given. */
static void http_answer_json(struct server *s, enum monitor_ep ep, const char *query,
			     size_t qlen, struct monitor_reply *r)
{
	struct monitor_opts o;
	struct buf err, json, cb;
	struct jw w;
	buf_init(&err, &s->mem);
	buf_init(&json, &s->mem);
	buf_init(&cb, &s->mem);
	monitor_opts_init(&o);
	jw_init(&w, &json);
	if (monitor_opts_from_query(ep, query, qlen, &o, &err) != 0 ||
	    monitor_write(s, ep, &o, &w, &err) != 0) {
		http_reply_text(r, 400, err.data ? err.data : "bad request");
		goto out;
	}
	r->status = ep == MONITOR_HEALTHZ && !monitor_healthy(s, &o) ? 503 : 200;
	bool jsonp = http_query_get(query, qlen, "callback", &cb) && cb.len > 0 && !cb.oom;
	r->content_type = jsonp ? "application/javascript" : "application/json";
	if (jsonp) {
		buf_append(r->body, cb.data, cb.len);
		buf_append_char(r->body, '(');
	}
	if (ep == MONITOR_HEALTHZ)
		buf_append(r->body, json.data, json.len);
	else
		monitor_json_indent(json.data, json.len, r->body);
	if (jsonp)
		buf_append_char(r->body, ')');
	if (json.oom)
		r->body->oom = true;
out:
	buf_free(&err);
	buf_free(&json);
	buf_free(&cb);
}

void monitor_http_answer(struct server *s, const char *path, size_t path_len,
			 const char *query, size_t query_len, struct monitor_reply *r)
{
	const char *base = s->opts->http_base_path;
	size_t blen = base != NULL ? strlen(base) : 0;
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	int ep = -1;
	if (path_len >= blen && memcmp(path, base ? base : "", blen) == 0) {
		ep = monitor_ep_from_path(path + blen, path_len - blen);
		if (ep < 0 && path_len == blen)
			ep = MONITOR_ROOT;
	}
	if (ep < 0) {
		http_reply_text(r, 404, "404 page not found\n");
		return;
	}
	s->http_req_stats[ep]++;
	if (ep == MONITOR_ROOT) {
		r->status = 200;
		r->content_type = "text/html; charset=utf-8";
		http_root_page(r->body);
	} else if (ep == MONITOR_METRICS) {
		r->status = 200;
		r->content_type = "text/plain; version=0.0.4; charset=utf-8";
		http_metrics(s, r->body);
	} else {
		http_answer_json(s, (enum monitor_ep)ep, query, query_len, r);
	}
}

/* ------------------------------------------------ closed connections */

static void closed_clear(struct server *s, struct monitor_closed *cc)
{
	mem_free(&s->mem, cc->name);
	mem_free(&s->mem, cc->lang);
	mem_free(&s->mem, cc->version);
	mem_free(&s->mem, cc->user);
	mem_free(&s->mem, cc->account);
	memset(cc, 0, sizeof(*cc));
}

static char *closed_dup(struct server *s, const char *v)
{
	return v != NULL && v[0] != '\0' ? mem_strdup(&s->mem, v) : NULL;
}

/* Grows the ring (doubling, from 16) until max_closed_clients; once it
 * is that big the oldest snapshot makes room.  0 keeps none. */
static bool closed_grow(struct server *s)
{
	int64_t max = s->opts->max_closed_clients;
	if (max <= 0 || s->closed_len < s->closed_cap || s->closed_cap >= (uint64_t)max)
		return max > 0 && s->closed_cap > 0;
	size_t cap = s->closed_cap ? s->closed_cap * 2 : 16;
	if (cap > (uint64_t)max)
		cap = (size_t)max;
	struct monitor_closed *arr = mem_calloc(&s->mem, cap, sizeof(*arr));
	if (arr == NULL)
		return s->closed_cap > 0;
	for (size_t i = 0; i < s->closed_len; i++)
		arr[i] = s->closed[(s->closed_head + i) % s->closed_cap];
	mem_free(&s->mem, s->closed);
	s->closed = arr;
	s->closed_cap = cap;
	s->closed_head = 0;
	return true;
}

void monitor_conn_closed(struct server *s, const struct conn *c)
{
	if (!closed_grow(s))
		return;
	struct monitor_closed *cc;
	if (s->closed_len == s->closed_cap) {
		cc = &s->closed[s->closed_head];
		s->closed_head = (s->closed_head + 1) % s->closed_cap;
		closed_clear(s, cc);
	} else {
		cc = &s->closed[(s->closed_head + s->closed_len++) % s->closed_cap];
	}
	cc->cid = c->cid;
	snprintf(cc->ip, sizeof(cc->ip), "%s", c->ip);
	cc->port = c->port;
	cc->start_wall_ns = c->start_wall_ns;
	cc->last_wall_ns = mon_conn_wall(c, c->last_activity_ns);
	cc->stop_wall_ns = env_now_wall_ns(s->env);
	cc->rtt_ns = c->rtt_ns;
	cc->in_msgs = c->in_msgs;
	cc->out_msgs = c->out_msgs;
	cc->in_bytes = c->in_bytes;
	cc->out_bytes = c->out_bytes;
	cc->name = closed_dup(s, c->name);
	cc->lang = closed_dup(s, c->lang);
	cc->version = closed_dup(s, c->version);
	cc->user = closed_dup(s, conn_auth_user(c));
	cc->account = closed_dup(s, c->acc != NULL ? c->acc->name : NULL);
	cc->reason = conn_close_reason_text(c->close_reason);
}

void monitor_free(struct server *s)
{
	for (size_t i = 0; i < s->closed_len; i++)
		closed_clear(s, &s->closed[(s->closed_head + i) % s->closed_cap]);
	mem_free(&s->mem, s->closed);
	s->closed = NULL;
	s->closed_cap = s->closed_head = s->closed_len = 0;
}
