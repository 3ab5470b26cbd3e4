/*
 * server.c - a server instance: identity, accounts, the client listener,
 * the end-of-turn work (flush queued output once per turn, free what closed
 * connections left behind), the INFO line, and start-up/shutdown.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "../lib/assert.h"
#include "../lib/json.h"
#include "../js/jetstream.h"
#include "internal.h"
#include "leaf.h"
#include "server_int.h"

#define BLK_POOL_MAX 256

/* -------------------------------------------------------- output blocks */

struct outblk *server_blk_get(struct server *s)
{
	struct outblk *b = s->blk_pool;
	if (b != NULL) {
		s->blk_pool = b->next;
		s->blk_pool_len--;
	} else {
		b = mem_alloc(&s->mem, sizeof(*b));
		if (b == NULL)
			return NULL;
	}
	b->next = NULL;
	b->start = b->end = 0;
	return b;
}

void server_blk_put(struct server *s, struct outblk *b)
{
	if (s->blk_pool_len >= BLK_POOL_MAX) {
		mem_free(&s->mem, b);
		return;
	}
	b->next = s->blk_pool;
	s->blk_pool = b;
	s->blk_pool_len++;
}

/* ---------------------------------------------------------------- INFO */

void server_build_info(struct server *s, struct conn *c, struct buf *out)
{
	const struct opts *o = s->opts;
	struct jw w;
	buf_reset(out);
	buf_append_str(out, "INFO ");
	jw_init(&w, out);
	jw_obj_begin(&w);
	jw_key(&w, "server_id");
	jw_str(&w, s->id);
	jw_key(&w, "server_name");
	jw_str(&w, s->name);
	jw_key(&w, "version");
	jw_str(&w, SERVER_NATS_VERSION);
	jw_key(&w, "proto");
	jw_int(&w, 1);
	jw_key(&w, "go");
	jw_str(&w, "natsd " SERVER_RELEASE);
	jw_key(&w, "host");
	jw_str(&w, o->host ? o->host : "0.0.0.0");
	jw_key(&w, "port");
	jw_int(&w, s->port);
	jw_key(&w, "headers");
	jw_bool(&w, !o->no_header_support);
	if (s->auth_required && o->no_auth_user == NULL) {
		jw_key(&w, "auth_required");
		jw_bool(&w, true);
	}
	jw_key(&w, "max_payload");
	jw_int(&w, o->max_payload);
	if (jetstream_is_enabled(s)) {
		jw_key(&w, "jetstream");
		jw_bool(&w, true);
	}
	if (c != NULL) {
		jw_key(&w, "client_id");
		jw_uint(&w, c->cid);
		jw_key(&w, "client_ip");
		jw_str(&w, c->ip);
		if (c->nonce[0] != '\0') {
			jw_key(&w, "nonce");
			jw_str(&w, c->nonce);
		}
	}
	if (jetstream_domain(s) != NULL) {
		jw_key(&w, "domain");
		jw_str(&w, jetstream_domain(s));
	}
	jw_obj_end(&w);
	buf_append_str(out, " \r\n");
}

/* ------------------------------------------------------------ the loop */

static void server_turn_end(void *arg)
{
	struct server *s = arg;
	if (s->reload_pending) {
		struct buf err;
		buf_init(&err, &s->mem);
		s->reload_pending = false;
		int rc = s->reload_cb(s->reload_arg, &err);
		events_reload_done(s, rc == 0 ? NULL : (err.data ? err.data : "error"));
		buf_free(&err);
	}
	internal_drain(s);
	while (s->flush_list != NULL) {
		struct conn *c = s->flush_list;
		s->flush_list = c->flush_next;
		c->flush_next = NULL;
		c->in_flush_list = false;
		if (!c->closed)
			conn_flush(c);
	}
	leaf_turn_end(s); /* leaf links: their output, then closed ones */
	while (s->dead_subs != NULL) {
		struct sub *sub = s->dead_subs;
		s->dead_subs = sub->next_free;
		conn_free_sub(s, sub);
	}
	while (!link_empty(&s->dead)) {
		struct conn *c = CONTAINER_OF(s->dead.next, struct conn, node);
		if (c->in_flush_list)
			break; /* freed on a later turn, after the list drops it */
		link_remove(&c->node);
		conn_free(c);
	}
}

static void server_accept_ready(void *arg, int sock, unsigned events)
{
	struct server *s = arg;
	struct env *e = s->env;
	UNUSED(events);
	for (int i = 0; i < 256 && s->running; i++) {
		char ip[64];
		int port = 0;
		int c = e->tcp_accept(e, sock, ip, &port);
		if (c == ENV_EAGAIN)
			return;
		if (c < 0) {
			LOGE(&s->log, "Error accepting client connection: %s",
			     env_strerror(c));
			return;
		}
		conn_accept(s, c, ip, port);
	}
}

/* ------------------------------------------------------------ lifetime */

static void server_make_id(struct server *s)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	s->id[0] = 'N';
	for (int i = 1; i < SERVER_ID_LEN; i++)
		s->id[i] = alphabet[prng_below(&s->prng, 32)];
	s->id[SERVER_ID_LEN] = '\0';
}

int server_new(struct server **out, const struct server_config *cfg,
	       struct buf *err)
{
	/* The reference refuses to start on options that contradict each
	 * other; so do we, with its wording. */
	if (cfg->opts->max_payload > cfg->opts->max_pending) {
		buf_appendf(err, "max_payload (%lld) cannot be higher than "
			    "max_pending (%lld)",
			    (long long)cfg->opts->max_payload,
			    (long long)cfg->opts->max_pending);
		return -1;
	}
	struct mem boot;
	mem_init(&boot);
	struct server *s = mem_calloc(&boot, 1, sizeof(*s));
	if (s == NULL) {
		buf_append_str(err, "out of memory");
		return -1;
	}
	s->mem = boot;
	s->env = cfg->env;
	s->opts = cfg->opts;
	s->exe_name = cfg->exe_name ? cfg->exe_name : "natsd";
	log_init(&s->log, s->env, cfg->log_prefix);
	s->log.debug = s->opts->debug;
	s->log.trace = s->opts->trace;
	s->log.logtime = s->opts->logtime;
	uint64_t seed = cfg->seed;
	if (seed == 0)
		env_random(s->env, &seed, sizeof(seed));
	prng_seed(&s->prng, seed);
	server_make_id(s);
	s->name = mem_strdup(&s->mem, s->opts->server_name ? s->opts->server_name
							    : s->id);
	s->listen_sock = -1;
	s->statsz_timer = -1;
	s->auth_required = auth_is_required(s->opts);
	s->nkeys_in_use = auth_nkeys_in_use(s->opts);
	link_init(&s->accounts);
	link_init(&s->conns);
	link_init(&s->dead);
	buf_init(&s->scratch, &s->mem);
	s->read_buf = mem_alloc(&s->mem, READ_BUF_SIZE);
	s->start_wall_ns = env_now_wall_ns(s->env);
	s->config_load_wall_ns = s->start_wall_ns;
	if (s->name == NULL || s->read_buf == NULL) {
		buf_append_str(err, "out of memory");
		server_free(s);
		return -1;
	}
	if (accounts_configure(s, err) != 0 || events_start(s) != 0) {
		if (err->len == 0)
			buf_append_str(err, "out of memory");
		server_free(s);
		return -1;
	}
	s->env->on_turn_end(s->env, server_turn_end, s);
	*out = s;
	return 0;
}

/* Subsystems the config asks for that this server does not run yet: said
 * out loud at start-up rather than silently ignored. */
static void server_log_missing(struct server *s)
{
	const struct opts *o = s->opts;
	const char *what[6];
	size_t n = 0;
	if (o->cluster.set)
		what[n++] = "cluster";
	if (o->gateway.set)
		what[n++] = "gateway";
	for (size_t i = 0; i < n; i++)
		LOGW(&s->log, "%s is configured but not implemented yet; "
		     "running without it", what[i]);
}

static void server_log_banner(struct server *s)
{
	const struct opts *o = s->opts;
	LOGI(&s->log, "Starting natsd");
	LOGI(&s->log, "  Version:  %s (natsd %s)", SERVER_NATS_VERSION,
	     SERVER_RELEASE);
	LOGI(&s->log, "  Name:     %s", s->name);
	LOGI(&s->log, "  ID:       %s", s->id);
	if (o->config_file != NULL)
		LOGI(&s->log, "Using configuration file: %s", o->config_file);
	for (size_t i = 0; i < o->n_warnings; i++)
		LOGW(&s->log, "%s", o->warnings[i]);
	for (size_t i = 0; i < o->n_unsupported; i++)
		LOGW(&s->log, "%s:%d: option \"%s\" is recognised but not "
		     "implemented yet; ignored", o->unsupported[i].file,
		     o->unsupported[i].line, o->unsupported[i].key);
	server_log_missing(s);
}

int server_start(struct server *s, struct buf *err)
{
	const struct opts *o = s->opts;
	struct env *e = s->env;
	server_log_banner(s);
	/* JetStream comes up (and restores its streams) before clients can
	 * connect, as in the reference. */
	if (jetstream_start(s, err) != 0)
		return -1;
	/* Leaf node listener and remotes (leaf.c), then the monitoring port;
	 * the client port opens last, as in the reference, so that whoever
	 * waits for it finds the other listeners ready too. */
	if (leaf_start(s, err) != 0)
		return -1;
	if (http_server_start(s, err) != 0)
		return -1;
	int port = o->port == -1 ? 0 : (o->port == 0 ? 4222 : o->port);
	const char *host = o->host ? o->host : "0.0.0.0";
	int bound = 0;
	int sock = e->tcp_listen(e, host, port, ENV_LINK_CLIENT,
				 server_accept_ready, s, &bound);
	if (sock < 0) {
		buf_appendf(err, "Error listening on port: %s:%d, \"%s\"", host,
			    port, env_strerror(sock));
		return -1;
	}
	s->listen_sock = sock;
	s->port = bound;
	s->running = true;
	LOGI(&s->log, "Listening for client connections on %s:%d", host, bound);
	LOGI(&s->log, "Server is ready");
	return 0;
}

void server_shutdown(struct server *s)
{
	struct env *e = s->env;
	if (!s->running)
		return;
	s->running = false;
	LOGI(&s->log, "Initiating Shutdown...");
	events_shutdown(s);
	leaf_shutdown(s); /* leaf links before the clients they serve */
	http_server_stop(s); /* monitoring connections go first */
	if (s->listen_sock >= 0) {
		e->sock_close(e, s->listen_sock);
		s->listen_sock = -1;
	}
	while (!link_empty(&s->conns)) {
		struct conn *c = CONTAINER_OF(s->conns.next, struct conn, node);
		conn_close(c, CLOSE_SERVER_SHUTDOWN);
	}
	jetstream_shutdown(s); /* closes the stores: pending writes synced */
	internal_discard(s);
	server_turn_end(s);
	LOGI(&s->log, "Server Exiting..");
}

void server_free(struct server *s)
{
	if (s == NULL)
		return;
	server_shutdown(s);
	s->flush_list = NULL;
	while (!link_empty(&s->dead)) {
		struct conn *c = CONTAINER_OF(s->dead.next, struct conn, node);
		link_remove(&c->node);
		c->in_flush_list = false;
		conn_free(c);
	}
	events_free(s);
	http_server_free(s);
	monitor_free(s); /* closed-connection snapshots */
	leaf_free(s); /* before the accounts its subs sit in */
	jetstream_free(s); /* before the accounts its state hangs off */
	internal_discard(s);
	accounts_free(s);
	while (s->blk_pool != NULL) {
		struct outblk *b = s->blk_pool;
		s->blk_pool = b->next;
		mem_free(&s->mem, b);
	}
	buf_free(&s->scratch);
	mem_free(&s->mem, s->read_buf);
	mem_free(&s->mem, s->name);
	struct mem m = s->mem;
	mem_free(&m, s);
}

void server_set_reload_handler(struct server *s, server_reload_fn fn, void *arg)
{
	s->reload_cb = fn;
	s->reload_arg = arg;
}

int server_client_port(const struct server *s)
{
	return s->port;
}

const char *server_id(const struct server *s)
{
	return s->id;
}

const char *server_name(const struct server *s)
{
	return s->name;
}

void server_get_stats(const struct server *s, struct server_stats *out)
{
	*out = s->stats;
}

static void count_internal_shadow(void *arg, struct sub *sub)
{
	if (sub->parent != NULL && sub->parent->icb != NULL) {
		ASSERT(sub->parent->conn == NULL);
		(*(size_t *)arg)++;
	}
}

void server_invariants(const struct server *s)
{
	uint32_t n = 0, subs = 0, shadows = 0;
	for (const struct link *l = s->conns.next; l != &s->conns; l = l->next) {
		const struct conn *c = CONTAINER_OF(l, struct conn, node);
		ASSERT(!c->closed);
		ASSERT(c->nsubs == c->subs.count);
		size_t pending = 0;
		for (const struct outblk *b = c->out_head; b; b = b->next) {
			ASSERT(b->start <= b->end && b->end <= OUTBLK_SIZE);
			pending += b->end - b->start;
		}
		ASSERT(pending == c->out_pending);
		size_t pos = 0;
		const struct hmap_entry *ent;
		while ((ent = hmap_next(&c->subs, &pos)) != NULL) {
			const struct sub *sub = ent->value;
			ASSERT(sub->conn == c && sub->parent == NULL && !sub->removed);
			for (uint32_t i = 0; i < sub->nshadows; i++)
				ASSERT(sub->shadows[i]->parent == sub);
			shadows += sub->nshadows;
		}
		subs += c->nsubs;
		n++;
	}
	ASSERT(n == s->nconns);
	ASSERT(subs == s->stats.subscriptions);
	uint32_t acc_conns = 0, internal = 0, acc_shadows = 0;
	size_t acc_subs = 0;
	for (const struct link *l = s->accounts.next; l != &s->accounts;
	     l = l->next) {
		const struct account *a = CONTAINER_OF(l, struct account, node);
		sublist_invariants(a->sl);
		/* Internal subscriptions have shadows too (imports feeding a
		 * mirror or source). */
		size_t ishadows = 0;
		sublist_visit(a->sl, count_internal_shadow, &ishadows);
		shadows += (uint32_t)ishadows;
		acc_conns += a->nconns;
		acc_subs += sublist_count(a->sl);
		internal += a->internal_subs;
		acc_shadows += a->shadow_subs;
	}
	ASSERT(acc_conns == n);
	ASSERT(internal == s->internal_subs);
	ASSERT(acc_shadows == shadows);
	ASSERT(acc_subs == (size_t)subs + internal + shadows + s->leaf_subs);
	jetstream_invariants(s);
}
