/*
 * events.c - the system account: request handlers ($SYS.REQ.SERVER.PING,
 * .PING.<EP> and .<id>.<EP> for STATSZ, VARZ, CONNZ, IDZ, HEALTHZ, plus
 * .<id>.RELOAD, and $SYS.REQ.USER.INFO in every account) and events
 * (client connect and disconnect, authentication errors, account
 * connection counts, periodic STATSZ, shutdown), shaped like nats-server
 * 2.9.10's JSON (field names, nesting and order); IDZ, USER.INFO and RELOAD
 * follow 2.10.
 *
 * Everything sits on internal subscriptions and internal_send (internal.h):
 * handlers run inside the delivery of the request and queue their answer,
 * which goes out at the end of the loop turn, like the reference's
 * asynchronous send queue.  Events are only built when someone listens.
 *
 * Owns: the internal subscriptions in s->sys_subs, the STATSZ timer, the
 * event sequence number.
 */
#include <stdio.h>
#include <string.h>

#include "../lib/json.h"
#include "../lib/timefmt.h"
#include "internal.h"
#include "server_int.h"
#include "subject.h"

#define STATSZ_FIRST_NS (250LL * 1000000LL)
#define STATSZ_MAX_NS (30LL * 1000000000LL)
#define CONNZ_DEFAULT_LIMIT 1024

static const char base62[] =
	"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* ------------------------------------------------------------ JSON parts */

static void jw_time(struct jw *w, const char *key, int64_t unix_ns)
{
	char t[TIMEFMT_MAX];
	timefmt_rfc3339(unix_ns, t);
	jw_key(w, key);
	jw_str(w, t);
}

static const char *server_host(const struct server *s)
{
	return s->opts->host != NULL ? s->opts->host : "0.0.0.0";
}

/* The "server" object every event and response carries. */
static void write_server_info(struct server *s, struct jw *w)
{
	jw_key(w, "server");
	jw_obj_begin(w);
	jw_key(w, "name");
	jw_str(w, s->name);
	jw_key(w, "host");
	jw_str(w, server_host(s));
	jw_key(w, "id");
	jw_str(w, s->id);
	if (s->opts->cluster.name != NULL) {
		jw_key(w, "cluster");
		jw_str(w, s->opts->cluster.name);
	}
	jw_key(w, "ver");
	jw_str(w, SERVER_NATS_VERSION);
	jw_key(w, "seq");
	jw_uint(w, ++s->sys_seq);
	jw_key(w, "jetstream");
	jw_bool(w, false);
	jw_time(w, "time", env_now_wall_ns(s->env));
	jw_obj_end(w);
}

static void write_stats(struct jw *w, const char *key, uint64_t msgs, uint64_t bytes)
{
	jw_key(w, key);
	jw_obj_begin(w);
	jw_key(w, "msgs");
	jw_uint(w, msgs);
	jw_key(w, "bytes");
	jw_uint(w, bytes);
	jw_obj_end(w);
}

/* A typed event's header: type, a fresh NUID-like id and the time. */
static void write_event_head(struct server *s, struct jw *w, const char *type)
{
	char id[23];
	for (int i = 0; i < 22; i++)
		id[i] = base62[prng_below(&s->prng, 62)];
	id[22] = '\0';
	jw_key(w, "type");
	jw_str(w, type);
	jw_key(w, "id");
	jw_str(w, id);
	jw_time(w, "timestamp", env_now_wall_ns(s->env));
}

static int64_t conn_wall_ns(const struct conn *c, int64_t mono_ns)
{
	return c->start_wall_ns + (mono_ns - c->start_ns);
}

static void jw_str_opt(struct jw *w, const char *key, const char *v)
{
	if (v != NULL && v[0] != '\0') {
		jw_key(w, key);
		jw_str(w, v);
	}
}

/* The "client" object of connect and disconnect events. */
static void write_client_info(struct server *s, struct jw *w, struct conn *c, bool stop)
{
	jw_key(w, "client");
	jw_obj_begin(w);
	jw_time(w, "start", c->start_wall_ns);
	jw_str_opt(w, "host", c->ip);
	jw_key(w, "id");
	jw_uint(w, c->cid);
	jw_key(w, "acc");
	jw_str(w, c->acc->name);
	jw_str_opt(w, "user", conn_auth_user(c));
	jw_str_opt(w, "name", c->name);
	jw_str_opt(w, "lang", c->lang);
	jw_str_opt(w, "ver", c->version);
	if (stop && c->rtt_ns > 0) {
		jw_key(w, "rtt");
		jw_int(w, c->rtt_ns);
	}
	if (stop)
		jw_time(w, "stop", env_now_wall_ns(s->env));
	jw_key(w, "kind");
	jw_str(w, "Client");
	jw_key(w, "client_type");
	jw_str(w, "nats");
	jw_obj_end(w);
}

static bool sys_interest(struct server *s, const char *subject)
{
	return s->system_acc != NULL &&
	       sublist_has_interest(s->system_acc->sl, subject, strlen(subject));
}

static void sys_send(struct server *s, struct account *acc, const char *subject,
		     const char *reply, const struct buf *b)
{
	if (!b->oom)
		internal_send(s, acc, subject, reply, NULL, 0, b->data, b->len);
}

/* ------------------------------------------------------------ events */

void events_client_connect(struct server *s, struct conn *c)
{
	char subj[256];
	events_account_conns(s, c->acc);
	if (c->acc == s->global_acc)
		return;
	snprintf(subj, sizeof(subj), "$SYS.ACCOUNT.%s.CONNECT", c->acc->name);
	if (!sys_interest(s, subj))
		return;
	struct buf b;
	struct jw w;
	buf_init(&b, &s->mem);
	jw_init(&w, &b);
	jw_obj_begin(&w);
	write_event_head(s, &w, "io.nats.server.advisory.v1.client_connect");
	write_server_info(s, &w);
	write_client_info(s, &w, c, false);
	jw_obj_end(&w);
	sys_send(s, s->system_acc, subj, NULL, &b);
	buf_free(&b);
}

static void send_disconnect(struct server *s, struct conn *c, const char *subj,
			    const char *reason)
{
	struct buf b;
	struct jw w;
	buf_init(&b, &s->mem);
	jw_init(&w, &b);
	jw_obj_begin(&w);
	write_event_head(s, &w, "io.nats.server.advisory.v1.client_disconnect");
	write_server_info(s, &w);
	write_client_info(s, &w, c, true);
	write_stats(&w, "sent", c->in_msgs, c->in_bytes);
	write_stats(&w, "received", c->out_msgs, c->out_bytes);
	jw_key(&w, "reason");
	jw_str(&w, reason);
	jw_obj_end(&w);
	sys_send(s, s->system_acc, subj, NULL, &b);
	buf_free(&b);
}

void events_client_disconnect(struct server *s, struct conn *c)
{
	char subj[256];
	events_account_conns(s, c->acc);
	if (c->acc == s->global_acc)
		return;
	snprintf(subj, sizeof(subj), "$SYS.ACCOUNT.%s.DISCONNECT", c->acc->name);
	if (sys_interest(s, subj))
		send_disconnect(s, c, subj, conn_close_reason_text(c->close_reason));
}

void events_auth_error(struct server *s, struct conn *c)
{
	char subj[128];
	snprintf(subj, sizeof(subj), "$SYS.SERVER.%s.CLIENT.AUTH.ERR", s->id);
	if (sys_interest(s, subj))
		send_disconnect(s, c, subj, "Authentication Failure");
}

static void write_account_conns(struct server *s, struct jw *w, struct account *acc)
{
	jw_obj_begin(w);
	write_event_head(s, w, "io.nats.server.advisory.v1.account_connections");
	write_server_info(s, w);
	jw_key(w, "acc");
	jw_str(w, acc->name);
	jw_key(w, "conns");
	jw_uint(w, acc->nconns);
	jw_key(w, "leafnodes");
	jw_int(w, 0);
	jw_key(w, "total_conns");
	jw_uint(w, acc->nconns);
	write_stats(w, "sent", acc->out_msgs, acc->out_bytes);
	write_stats(w, "received", acc->in_msgs, acc->in_bytes);
	jw_key(w, "slow_consumers");
	jw_uint(w, acc->slow_consumers);
	jw_obj_end(w);
}

void events_account_conns(struct server *s, struct account *acc)
{
	char old_subj[256], new_subj[256];
	snprintf(old_subj, sizeof(old_subj), "$SYS.SERVER.ACCOUNT.%s.CONNS", acc->name);
	snprintf(new_subj, sizeof(new_subj), "$SYS.ACCOUNT.%s.SERVER.CONNS", acc->name);
	bool o = sys_interest(s, old_subj), n = sys_interest(s, new_subj);
	if (!o && !n)
		return;
	struct buf b;
	struct jw w;
	buf_init(&b, &s->mem);
	jw_init(&w, &b);
	write_account_conns(s, &w, acc);
	if (o)
		sys_send(s, s->system_acc, old_subj, NULL, &b);
	if (n)
		sys_send(s, s->system_acc, new_subj, NULL, &b);
	buf_free(&b);
}

/* ------------------------------------------------------------ statsz */

static uint32_t total_subscriptions(struct server *s)
{
	size_t n = 0;
	for (struct link *l = s->accounts.next; l != &s->accounts; l = l->next)
		n += sublist_count(CONTAINER_OF(l, struct account, node)->sl);
	return (uint32_t)n;
}

static void write_statsz(struct server *s, struct jw *w)
{
	uint32_t active = 0;
	for (struct link *l = s->accounts.next; l != &s->accounts; l = l->next)
		active += CONTAINER_OF(l, struct account, node)->nconns > 0;
	jw_obj_begin(w);
	jw_time(w, "start", s->start_wall_ns);
	jw_key(w, "mem");
	jw_uint(w, s->mem.live_bytes);
	jw_key(w, "cores");
	jw_int(w, 1);
	jw_key(w, "cpu");
	jw_int(w, 0);
	jw_key(w, "connections");
	jw_uint(w, s->nconns);
	jw_key(w, "total_connections");
	jw_uint(w, s->stats.total_connections);
	jw_key(w, "active_accounts");
	jw_uint(w, active);
	jw_key(w, "subscriptions");
	jw_uint(w, total_subscriptions(s));
	write_stats(w, "sent", s->stats.out_msgs, s->stats.out_bytes);
	write_stats(w, "received", s->stats.in_msgs, s->stats.in_bytes);
	jw_key(w, "slow_consumers");
	jw_uint(w, s->stats.slow_consumers);
	jw_key(w, "active_servers");
	jw_int(w, 1);
	jw_obj_end(w);
}

static void build_statsz_msg(struct server *s, struct buf *b)
{
	struct jw w;
	jw_init(&w, b);
	jw_obj_begin(&w);
	write_server_info(s, &w);
	jw_key(&w, "statsz");
	write_statsz(s, &w);
	jw_obj_end(&w);
}

static void statsz_fired(void *arg, int timer)
{
	struct server *s = arg;
	char subj[128];
	UNUSED(timer);
	snprintf(subj, sizeof(subj), "$SYS.SERVER.%s.STATSZ", s->id);
	if (sys_interest(s, subj)) {
		struct buf b;
		buf_init(&b, &s->mem);
		build_statsz_msg(s, &b);
		sys_send(s, s->system_acc, subj, NULL, &b);
		buf_free(&b);
	}
	if (s->statsz_interval_ns < STATSZ_MAX_NS)
		s->statsz_interval_ns *= 2;
	if (s->statsz_interval_ns > STATSZ_MAX_NS)
		s->statsz_interval_ns = STATSZ_MAX_NS;
	s->env->timer_arm(s->env, s->statsz_timer,
			  env_now_mono_ns(s->env) + s->statsz_interval_ns);
}

/* ------------------------------------------------------------ varz, connz */

static void write_varz_head(struct server *s, struct jw *w)
{
	const struct opts *o = s->opts;
	jw_key(w, "server_id");
	jw_str(w, s->id);
	jw_key(w, "server_name");
	jw_str(w, s->name);
	jw_key(w, "version");
	jw_str(w, SERVER_NATS_VERSION);
	jw_key(w, "proto");
	jw_int(w, 1);
	jw_key(w, "go");
	jw_str(w, "natsd " SERVER_RELEASE);
	jw_key(w, "host");
	jw_str(w, server_host(s));
	jw_key(w, "port");
	jw_int(w, s->port);
	if (s->auth_required) {
		jw_key(w, "auth_required");
		jw_bool(w, true);
	}
	jw_key(w, "max_connections");
	jw_int(w, o->max_connections);
	jw_key(w, "ping_interval");
	jw_int(w, o->ping_interval_ns);
	jw_key(w, "ping_max");
	jw_int(w, o->ping_max);
	jw_key(w, "http_host");
	jw_str(w, o->http_host ? o->http_host : server_host(s));
	jw_key(w, "http_port");
	jw_int(w, o->http_port);
	jw_key(w, "http_base_path");
	jw_str(w, o->http_base_path ? o->http_base_path : "");
	jw_key(w, "https_port");
	jw_int(w, o->https_port);
	jw_key(w, "auth_timeout");
	jw_double(w, (double)o->auth_timeout_ns / 1e9);
	jw_key(w, "max_control_line");
	jw_int(w, o->max_control_line);
	jw_key(w, "max_payload");
	jw_int(w, o->max_payload);
	jw_key(w, "max_pending");
	jw_int(w, o->max_pending);
}

static void write_empty_obj(struct jw *w, const char *key)
{
	jw_key(w, key);
	jw_obj_begin(w);
	jw_obj_end(w);
}

static void write_varz(struct server *s, struct jw *w)
{
	const struct opts *o = s->opts;
	int64_t now = env_now_wall_ns(s->env);
	char up[TIMEFMT_MAX];
	jw_obj_begin(w);
	write_varz_head(s, w);
	static const char *const empty[] = {
		"cluster", "gateway", "leaf", "mqtt", "websocket", "jetstream",
	};
	for (size_t i = 0; i < ARRAY_LEN(empty); i++)
		write_empty_obj(w, empty[i]);
	jw_key(w, "tls_timeout");
	jw_int(w, 2);
	jw_key(w, "write_deadline");
	jw_int(w, o->write_deadline_ns);
	jw_time(w, "start", s->start_wall_ns);
	jw_time(w, "now", now);
	timefmt_uptime(now - s->start_wall_ns, up);
	jw_key(w, "uptime");
	jw_str(w, up);
	jw_key(w, "mem");
	jw_uint(w, s->mem.live_bytes);
	jw_key(w, "cores");
	jw_int(w, 1);
	jw_key(w, "gomaxprocs");
	jw_int(w, 1);
	jw_key(w, "cpu");
	jw_int(w, 0);
	jw_key(w, "connections");
	jw_uint(w, s->nconns);
	jw_key(w, "total_connections");
	jw_uint(w, s->stats.total_connections);
	static const char *const zeros[] = { "routes", "remotes", "leafnodes" };
	for (size_t i = 0; i < ARRAY_LEN(zeros); i++) {
		jw_key(w, zeros[i]);
		jw_int(w, 0);
	}
	jw_key(w, "in_msgs");
	jw_uint(w, s->stats.in_msgs);
	jw_key(w, "out_msgs");
	jw_uint(w, s->stats.out_msgs);
	jw_key(w, "in_bytes");
	jw_uint(w, s->stats.in_bytes);
	jw_key(w, "out_bytes");
	jw_uint(w, s->stats.out_bytes);
	jw_key(w, "slow_consumers");
	jw_uint(w, s->stats.slow_consumers);
	jw_key(w, "subscriptions");
	jw_uint(w, total_subscriptions(s));
	write_empty_obj(w, "http_req_stats");
	jw_time(w, "config_load_time", s->config_load_wall_ns);
	if (s->system_acc != NULL) {
		jw_key(w, "system_account");
		jw_str(w, s->system_acc->name);
	}
	jw_obj_end(w);
}

struct connz_opts {
	int64_t offset, limit;
	uint64_t cid;
	bool subs, detail, auth;
	char acc[128];
};

static void write_conn_subs(struct jw *w, const struct conn *c, bool detail)
{
	size_t pos = 0;
	const struct hmap_entry *ent;
	jw_key(w, detail ? "subscriptions_list_detail" : "subscriptions_list");
	jw_arr_begin(w);
	while ((ent = hmap_next(&c->subs, &pos)) != NULL) {
		const struct sub *sub = ent->value;
		if (!detail) {
			jw_str(w, sub->subject);
			continue;
		}
		jw_obj_begin(w);
		jw_key(w, "account");
		jw_str(w, c->acc->name);
		jw_key(w, "subject");
		jw_str(w, sub->subject);
		if (sub->queue != NULL) {
			jw_key(w, "qgroup");
			jw_str(w, sub->queue);
		}
		jw_key(w, "sid");
		jw_str(w, sub->sid);
		jw_key(w, "msgs");
		jw_uint(w, sub->delivered);
		if (sub->max_msgs > 0) {
			jw_key(w, "max");
			jw_uint(w, sub->max_msgs);
		}
		jw_key(w, "cid");
		jw_uint(w, c->cid);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

static void write_conn_times(struct server *s, struct jw *w, const struct conn *c)
{
	int64_t now_mono = env_now_mono_ns(s->env);
	char t[TIMEFMT_MAX];
	jw_time(w, "start", c->start_wall_ns);
	jw_time(w, "last_activity", conn_wall_ns(c, c->last_activity_ns));
	if (c->rtt_ns > 0) {
		timefmt_go_duration(c->rtt_ns, t);
		jw_key(w, "rtt");
		jw_str(w, t);
	}
	timefmt_uptime(now_mono - c->start_ns, t);
	jw_key(w, "uptime");
	jw_str(w, t);
	timefmt_uptime(now_mono - c->last_activity_ns, t);
	jw_key(w, "idle");
	jw_str(w, t);
}

static void write_conn(struct server *s, struct jw *w, const struct conn *c,
		       const struct connz_opts *co)
{
	jw_obj_begin(w);
	jw_key(w, "cid");
	jw_uint(w, c->cid);
	jw_key(w, "kind");
	jw_str(w, "Client");
	jw_key(w, "type");
	jw_str(w, "nats");
	jw_key(w, "ip");
	jw_str(w, c->ip);
	jw_key(w, "port");
	jw_int(w, c->port);
	write_conn_times(s, w, c);
	jw_key(w, "pending_bytes");
	jw_uint(w, c->out_pending);
	jw_key(w, "in_msgs");
	jw_uint(w, c->in_msgs);
	jw_key(w, "out_msgs");
	jw_uint(w, c->out_msgs);
	jw_key(w, "in_bytes");
	jw_uint(w, c->in_bytes);
	jw_key(w, "out_bytes");
	jw_uint(w, c->out_bytes);
	jw_key(w, "subscriptions");
	jw_uint(w, c->nsubs);
	jw_str_opt(w, "name", c->name);
	jw_str_opt(w, "lang", c->lang);
	jw_str_opt(w, "version", c->version);
	if (co->auth) {
		jw_str_opt(w, "authorized_user", conn_auth_user(c));
		jw_str_opt(w, "account", c->acc->name);
	}
	if (co->subs && c->nsubs > 0)
		write_conn_subs(w, c, co->detail);
	jw_obj_end(w);
}

static bool connz_match(const struct conn *c, const struct connz_opts *co)
{
	return (co->cid == 0 || c->cid == co->cid) &&
	       (co->acc[0] == '\0' || strcmp(c->acc->name, co->acc) == 0);
}

static void write_connz(struct server *s, struct jw *w, const struct connz_opts *co)
{
	int64_t total = 0, shown = 0;
	for (struct link *l = s->conns.next; l != &s->conns; l = l->next)
		total += connz_match(CONTAINER_OF(l, struct conn, node), co);
	jw_obj_begin(w);
	jw_key(w, "server_id");
	jw_str(w, s->id);
	jw_time(w, "now", env_now_wall_ns(s->env));
	int64_t first = co->offset, n = 0;
	for (struct link *l = s->conns.next; l != &s->conns; l = l->next) {
		const struct conn *c = CONTAINER_OF(l, struct conn, node);
		if (connz_match(c, co) && n++ >= first && shown < co->limit)
			shown++;
	}
	jw_key(w, "num_connections");
	jw_int(w, shown);
	jw_key(w, "total");
	jw_int(w, total);
	jw_key(w, "offset");
	jw_int(w, co->offset);
	jw_key(w, "limit");
	jw_int(w, co->limit);
	jw_key(w, "connections");
	jw_arr_begin(w);
	n = 0;
	shown = 0;
	/* Connections are kept in accept order, which is cid order. */
	for (struct link *l = s->conns.next; l != &s->conns; l = l->next) {
		const struct conn *c = CONTAINER_OF(l, struct conn, node);
		if (!connz_match(c, co) || n++ < first || shown >= co->limit)
			continue;
		write_conn(s, w, c, co);
		shown++;
	}
	jw_arr_end(w);
	jw_obj_end(w);
}

/* ------------------------------------------------------------ requests */

enum sys_ep {
	EP_STATSZ = 0,
	EP_VARZ,
	EP_CONNZ,
	EP_IDZ,
	EP_HEALTHZ,
	EP_RELOAD,
	EP_USERINFO,
	EP_PING,                       /* the legacy $SYS.REQ.SERVER.PING */
};

static const char *const ep_names[] = {
	[EP_STATSZ] = "STATSZ", [EP_VARZ] = "VARZ", [EP_CONNZ] = "CONNZ",
	[EP_IDZ] = "IDZ", [EP_HEALTHZ] = "HEALTHZ", [EP_RELOAD] = "RELOAD",
};

/* One request's parsed body: the server filter and the endpoint options. */
struct sys_req {
	struct json_doc doc;
	bool parsed;
	bool bad;                      /* body is not a JSON object */
};

static bool filter_string(const struct sys_req *r, const char *key, const char *ours)
{
	int t = json_obj_get(&r->doc, 0, key);
	if (t < 0 || json_type_of(&r->doc, t) != JSON_STRING)
		return true;
	size_t len;
	json_raw(&r->doc, t, &len);
	if (len <= 2)
		return true; /* an empty filter matches every server */
	return ours != NULL && json_string_eq(&r->doc, t, ours);
}

static bool filter_tags(struct server *s, const struct sys_req *r)
{
	int t = json_obj_get(&r->doc, 0, "tags");
	if (t < 0 || json_type_of(&r->doc, t) != JSON_ARRAY)
		return true;
	for (uint32_t i = 0;; i++) {
		int e = json_array_at(&r->doc, t, i);
		if (e < 0)
			return true;
		bool found = false;
		for (size_t k = 0; k < s->opts->n_server_tags && !found; k++)
			found = json_string_eq(&r->doc, e, s->opts->server_tags[k]);
		if (!found)
			return false;
	}
}

/* The reference's filterRequest: a request naming another server (name,
 * host, cluster, tags, domain) gets no answer from this one. */
static bool sys_req_for_us(struct server *s, const struct sys_req *r)
{
	if (!r->parsed)
		return true;
	return filter_string(r, "server_name", s->name) &&
	       filter_string(r, "host", server_host(s)) &&
	       filter_string(r, "cluster", s->opts->cluster.name) &&
	       filter_string(r, "domain", s->opts->jetstream.domain) &&
	       filter_tags(s, r);
}

static void sys_req_parse(struct server *s, const struct pubmsg *m, struct sys_req *r)
{
	const char *body = m->data + m->header_len;
	size_t len = m->total_len - m->header_len;
	memset(r, 0, sizeof(*r));
	if (len == 0)
		return;
	if (json_parse(&r->doc, &s->mem, body, len) != 0) {
		r->bad = true;
		return;
	}
	r->parsed = true;
	r->bad = json_type_of(&r->doc, 0) != JSON_OBJECT;
}

static void connz_opts_read(const struct sys_req *r, struct connz_opts *co)
{
	memset(co, 0, sizeof(*co));
	co->limit = CONNZ_DEFAULT_LIMIT;
	if (!r->parsed)
		return;
	const struct json_doc *d = &r->doc;
	int64_t v;
	if (json_obj_int(d, 0, "offset", &v) && v > 0)
		co->offset = v;
	if (json_obj_int(d, 0, "limit", &v) && v > 0)
		co->limit = v;
	if (json_obj_int(d, 0, "cid", &v) && v > 0)
		co->cid = (uint64_t)v;
	json_obj_bool(d, 0, "auth", &co->auth);
	json_obj_bool(d, 0, "subscriptions", &co->subs);
	json_obj_bool(d, 0, "subscriptions_detail", &co->detail);
	co->subs |= co->detail;
	struct buf acc;
	buf_init(&acc, d->mem);
	if (json_obj_string(d, 0, "acc", &acc) && acc.len < sizeof(co->acc) && !acc.oom)
		memcpy(co->acc, acc.data, acc.len + 1);
	buf_free(&acc);
}

static void write_user_info(struct server *s, struct jw *w, struct conn *from)
{
	UNUSED(s);
	jw_obj_begin(w);
	if (from != NULL) {
		jw_key(w, "user");
		jw_str(w, conn_auth_user(from));
		jw_key(w, "account");
		jw_str(w, from->acc->name);
		if (from->user != NULL && from->user->perms.set) {
			jw_key(w, "permissions");
			perms_write_json(&from->user->perms, w);
		}
	}
	jw_obj_end(w);
}

static void write_ep_data(struct server *s, struct jw *w, enum sys_ep ep,
			  const struct sys_req *r, struct conn *from)
{
	struct connz_opts co;
	switch (ep) {
	case EP_VARZ:
		write_varz(s, w);
		break;
	case EP_CONNZ:
		connz_opts_read(r, &co);
		write_connz(s, w, &co);
		break;
	case EP_IDZ:
		jw_obj_begin(w);
		jw_key(w, "name");
		jw_str(w, s->name);
		jw_key(w, "host");
		jw_str(w, server_host(s));
		jw_key(w, "id");
		jw_str(w, s->id);
		jw_obj_end(w);
		break;
	case EP_HEALTHZ:
		jw_obj_begin(w);
		jw_key(w, "status");
		jw_str(w, "ok");
		jw_obj_end(w);
		break;
	case EP_USERINFO:
		write_user_info(s, w, from);
		break;
	default:
		jw_null(w);
		break;
	}
}

static void write_error(struct jw *w, int code, const char *text)
{
	jw_key(w, "error");
	jw_obj_begin(w);
	jw_key(w, "code");
	jw_int(w, code);
	jw_key(w, "description");
	jw_str(w, text);
	jw_obj_end(w);
}

static void sys_answer(struct server *s, struct account *acc, const char *reply,
		       enum sys_ep ep, const struct sys_req *r, struct conn *from)
{
	struct buf b;
	struct jw w;
	buf_init(&b, &s->mem);
	jw_init(&w, &b);
	if (ep == EP_PING || ep == EP_STATSZ) {
		build_statsz_msg(s, &b);
	} else {
		jw_obj_begin(&w);
		write_server_info(s, &w);
		if (r->bad) {
			write_error(&w, 400, "request body is not a JSON object");
		} else if (ep != EP_RELOAD) {
			jw_key(&w, "data");
			write_ep_data(s, &w, ep, r, from);
		}
		jw_obj_end(&w);
	}
	sys_send(s, acc, reply, NULL, &b);
	buf_free(&b);
}

/* A reload asked for by request runs at the end of the loop turn (not
 * inside the delivery), then answers. */
static void sys_reload_request(struct server *s, const char *reply)
{
	if (s->reload_cb == NULL) {
		struct buf b;
		struct jw w;
		buf_init(&b, &s->mem);
		jw_init(&w, &b);
		jw_obj_begin(&w);
		write_server_info(s, &w);
		write_error(&w, 500, "config reload not supported");
		jw_obj_end(&w);
		sys_send(s, s->system_acc, reply, NULL, &b);
		buf_free(&b);
		return;
	}
	char *copy = mem_strdup(&s->mem, reply);
	if (copy == NULL)
		return;
	mem_free(&s->mem, s->reload_reply);
	s->reload_reply = copy;
	s->reload_pending = true;
}

void events_reload_done(struct server *s, const char *error)
{
	char *reply = s->reload_reply;
	s->reload_reply = NULL;
	if (reply == NULL)
		return;
	struct buf b;
	struct jw w;
	buf_init(&b, &s->mem);
	jw_init(&w, &b);
	jw_obj_begin(&w);
	write_server_info(s, &w);
	if (error != NULL)
		write_error(&w, 500, error);
	jw_obj_end(&w);
	sys_send(s, s->system_acc, reply, NULL, &b);
	buf_free(&b);
	mem_free(&s->mem, reply);
}

static void sys_request_cb(void *arg, struct sub *sub, struct conn *from,
			   struct account *acc, const struct pubmsg *m)
{
	struct server *s = sub->acc->srv;
	enum sys_ep ep = (enum sys_ep)(uintptr_t)arg;
	if (m->reply_len == 0)
		return;
	char *reply = mem_strndup(&s->mem, m->reply, m->reply_len);
	if (reply == NULL)
		return;
	struct sys_req r;
	sys_req_parse(s, m, &r);
	if (ep == EP_RELOAD)
		sys_reload_request(s, reply);
	else if (ep == EP_USERINFO || sys_req_for_us(s, &r))
		sys_answer(s, acc, reply, ep, &r, from);
	if (r.parsed)
		json_doc_free(&r.doc);
	mem_free(&s->mem, reply);
}

/* ------------------------------------------------------------ lifetime */

static int sys_subscribe(struct server *s, struct account *acc, const char *subject,
			 enum sys_ep ep)
{
	struct sub **arr = mem_realloc(&s->mem, s->sys_subs,
				       (s->n_sys_subs + 1) * sizeof(*arr));
	if (arr == NULL)
		return -1;
	s->sys_subs = arr;
	struct sub *sub = internal_subscribe(s, acc, subject, NULL, sys_request_cb,
					     (void *)(uintptr_t)ep);
	if (sub == NULL)
		return -1;
	s->sys_subs[s->n_sys_subs++] = sub;
	return 0;
}

static int sys_subscribe_server(struct server *s)
{
	struct account *sys = s->system_acc;
	char subj[160];
	if (sys_subscribe(s, sys, "$SYS.REQ.SERVER.PING", EP_PING) != 0)
		return -1;
	for (int ep = EP_STATSZ; ep <= EP_RELOAD; ep++) {
		if (ep != EP_RELOAD) {
			snprintf(subj, sizeof(subj), "$SYS.REQ.SERVER.PING.%s", ep_names[ep]);
			if (sys_subscribe(s, sys, subj, (enum sys_ep)ep) != 0)
				return -1;
		}
		snprintf(subj, sizeof(subj), "$SYS.REQ.SERVER.%s.%s", s->id, ep_names[ep]);
		if (sys_subscribe(s, sys, subj, (enum sys_ep)ep) != 0)
			return -1;
	}
	return 0;
}

int events_start(struct server *s)
{
	events_stop(s);
	if (s->system_acc == NULL)
		return 0;
	if (sys_subscribe_server(s) != 0)
		return -1;
	/* Every account answers its users' $SYS.REQ.USER.INFO (2.10). */
	for (struct link *l = s->accounts.next; l != &s->accounts; l = l->next) {
		struct account *a = CONTAINER_OF(l, struct account, node);
		if (!a->removed && sys_subscribe(s, a, "$SYS.REQ.USER.INFO", EP_USERINFO) != 0)
			return -1;
	}
	if (s->statsz_timer < 0) {
		s->statsz_timer = s->env->timer_new(s->env, statsz_fired, s);
		s->statsz_interval_ns = STATSZ_FIRST_NS;
		s->env->timer_arm(s->env, s->statsz_timer,
				  env_now_mono_ns(s->env) + s->statsz_interval_ns);
	}
	return 0;
}

void events_stop(struct server *s)
{
	for (size_t i = 0; i < s->n_sys_subs; i++)
		internal_unsubscribe(s, s->sys_subs[i]);
	mem_free(&s->mem, s->sys_subs);
	s->sys_subs = NULL;
	s->n_sys_subs = 0;
}

void events_free(struct server *s)
{
	events_stop(s);
	if (s->statsz_timer >= 0)
		s->env->timer_free(s->env, s->statsz_timer);
	s->statsz_timer = -1;
	mem_free(&s->mem, s->reload_reply);
	s->reload_reply = NULL;
}

void events_shutdown(struct server *s)
{
	char subj[128];
	snprintf(subj, sizeof(subj), "$SYS.SERVER.%s.SHUTDOWN", s->id);
	if (sys_interest(s, subj))
		internal_publish(s, s->system_acc, subj, NULL, NULL, 0, NULL, 0);
}
