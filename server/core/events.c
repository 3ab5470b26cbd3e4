/*
 * events.c - the system account: request handlers ($SYS.REQ.SERVER.PING,
 * .PING.<EP> and .<id>.<EP> for STATSZ, VARZ, CONNZ, SUBSZ, ROUTEZ,
 * GATEWAYZ, LEAFZ, ACCOUNTZ, JSZ, HEALTHZ, IDZ, plus .<id>.RELOAD, and
 * $SYS.REQ.USER.INFO in every account) and events
 * (client connect and disconnect, authentication errors, account
 * connection counts, periodic STATSZ, shutdown), shaped like nats-server
 * 2.9.10's JSON (field names, nesting and order); IDZ, USER.INFO and RELOAD
 * follow 2.10.
 *
 * Everything sits on internal subscriptions and internal_send (internal.h):
 * handlers run inside the delivery of the request and queue their answer,
 * which goes out at the end of the loop turn, like the reference's
 * asynchronous send queue.  Events are only built when someone listens.
 * The endpoints' data comes from monitor.c, the same builders the HTTP
 * monitoring port uses, so both answer alike.
 *
 * Owns: the internal subscriptions in s->sys_subs, the STATSZ timer, the
 * event sequence number.
 */
#include <stdio.h>
#include <string.h>

#include "../lib/json.h"
#include "../lib/timefmt.h"
#include "../js/jetstream.h"
#include "internal.h"
#include "monitor.h"
#include "server_int.h"
#include "subject.h"

#define STATSZ_FIRST_NS (250LL * 1000000LL)
#define STATSZ_MAX_NS (30LL * 1000000000LL)

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
	if (jetstream_domain(s) != NULL) {
		jw_key(w, "domain");
		jw_str(w, jetstream_domain(s));
	}
	jw_key(w, "ver");
	jw_str(w, SERVER_NATS_VERSION);
	jw_key(w, "seq");
	jw_uint(w, ++s->sys_seq);
	jw_key(w, "jetstream");
	jw_bool(w, jetstream_is_enabled(s));
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
	prng_base62(&s->prng, id, 22);
	id[22] = '\0';
	jw_key(w, "type");
	jw_str(w, type);
	jw_key(w, "id");
	jw_str(w, id);
	jw_time(w, "timestamp", env_now_wall_ns(s->env));
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
	/* Every client close passes here: connz?state=closed keeps it. */
	monitor_conn_closed(s, c);
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
	monitor_write_account_stat(s, w, acc);
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

static void build_statsz_msg(struct server *s, struct buf *b)
{
	struct jw w;
	jw_init(&w, b);
	jw_obj_begin(&w);
	write_server_info(s, &w);
	jw_key(&w, "statsz");
	monitor_write_statsz(s, &w);
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

/* ------------------------------------------------------------ requests */

enum sys_ep {
	EP_STATSZ = 0,
	EP_VARZ,
	EP_CONNZ,
	EP_SUBSZ,
	EP_ROUTEZ,
	EP_GATEWAYZ,
	EP_LEAFZ,
	EP_ACCOUNTZ,
	EP_JSZ,
	EP_HEALTHZ,
	EP_IDZ,
	EP_RELOAD,                     /* only by server id */
	EP_USERINFO,
	EP_PING,                       /* the legacy $SYS.REQ.SERVER.PING */
};

static const char *const ep_names[] = {
	[EP_STATSZ] = "STATSZ", [EP_VARZ] = "VARZ", [EP_CONNZ] = "CONNZ",
	[EP_SUBSZ] = "SUBSZ", [EP_ROUTEZ] = "ROUTEZ", [EP_GATEWAYZ] = "GATEWAYZ",
	[EP_LEAFZ] = "LEAFZ", [EP_ACCOUNTZ] = "ACCOUNTZ", [EP_JSZ] = "JSZ",
	[EP_HEALTHZ] = "HEALTHZ", [EP_IDZ] = "IDZ", [EP_RELOAD] = "RELOAD",
};

/* The monitoring endpoint (monitor.c) that builds an EP's data, or -1. */
static int ep_monitor(enum sys_ep ep)
{
	switch (ep) {
	case EP_VARZ: return MONITOR_VARZ;
	case EP_CONNZ: return MONITOR_CONNZ;
	case EP_SUBSZ: return MONITOR_SUBSZ;
	case EP_ROUTEZ: return MONITOR_ROUTEZ;
	case EP_GATEWAYZ: return MONITOR_GATEWAYZ;
	case EP_LEAFZ: return MONITOR_LEAFZ;
	case EP_ACCOUNTZ: return MONITOR_ACCOUNTZ;
	case EP_JSZ: return MONITOR_JSZ;
	case EP_HEALTHZ: return MONITOR_HEALTHZ;
	default: return -1;
	}
}

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

static void write_idz(struct server *s, struct jw *w)
{
	jw_obj_begin(w);
	jw_key(w, "name");
	jw_str(w, s->name);
	jw_key(w, "host");
	jw_str(w, server_host(s));
	jw_key(w, "id");
	jw_str(w, s->id);
	jw_obj_end(w);
}

/* An endpoint's data, built by monitor.c from the request's options (the
 * same builders as the HTTP port).  -1 with err when refused. */
static int write_ep_data(struct server *s, struct jw *w, enum sys_ep ep,
			 const struct sys_req *r, struct conn *from, struct buf *err)
{
	int mep = ep_monitor(ep);
	if (mep >= 0) {
		struct monitor_opts o;
		monitor_opts_init(&o);
		o.sys_request = true;
		if (r->parsed &&
		    monitor_opts_from_json((enum monitor_ep)mep, &r->doc, 0, &o, err) != 0)
			return -1;
		return monitor_write(s, (enum monitor_ep)mep, &o, w, err);
	}
	if (ep == EP_IDZ)
		write_idz(s, w);
	else if (ep == EP_USERINFO)
		write_user_info(s, w, from);
	else
		jw_null(w);
	return 0;
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

/* "data", or "error" (500, as the reference) when the builder refused the
 * options: the data is built aside so a refusal leaves no partial JSON. */
static void sys_answer_data(struct server *s, struct jw *w, enum sys_ep ep,
			    const struct sys_req *r, struct conn *from)
{
	struct buf data, err;
	struct jw dw;
	buf_init(&data, &s->mem);
	buf_init(&err, &s->mem);
	jw_init(&dw, &data);
	if (write_ep_data(s, &dw, ep, r, from, &err) != 0) {
		write_error(w, 500, err.data ? err.data : "error");
	} else {
		jw_key(w, "data");
		jw_raw(w, data.data ? data.data : "null", data.data ? data.len : 4);
	}
	if (data.oom)
		w->out->oom = true;
	buf_free(&data);
	buf_free(&err);
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
			sys_answer_data(s, &w, ep, r, from);
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
