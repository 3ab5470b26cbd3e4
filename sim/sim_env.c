/*
 * sim_env.c - struct env on the virtual world; see sim_env.h.
 *
 * Owns the handle tables of one node incarnation.  Socket slots carry a
 * generation, bumped on reuse, so a callback scheduled for a socket that
 * was closed (and its slot reused) before the callback ran is dropped.
 *
 * Invariants: a socket slot has at most one pending poke event; a timer
 * has at most one pending event; after sim_env_kill no event of this env
 * is queued and no byte leaves it.
 */
#include "sim_env.h"

#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "lib/assert.h"
#include "net.h"

#define TURN_HOOKS_MAX 8

struct ssock {
	bool used;
	uint32_t gen;
	struct sim_listener *l;      /* listener, or */
	struct sim_end *end;         /* connection end (NULL once killed) */
	env_sock_cb cb;
	void *arg;
	unsigned interest;
	bool connecting;             /* first readiness is the connect result */
	struct sim_event *poke_ev;
};

struct stimer {
	bool used;
	env_timer_cb cb;
	void *arg;
	struct sim_event *ev;
};

struct sim_env {
	struct env env;              /* first: handed to the server */
	struct sim_world *w;
	struct sim_node *node;
	struct ssock *socks;
	uint32_t nsocks;
	struct stimer *timers;
	uint32_t ntimers;
	struct sim_file **files;
	uint32_t nfiles;
	struct {
		env_turn_cb cb;
		void *arg;
	} turns[TURN_HOOKS_MAX];
	uint32_t nturns;
	bool dead;
	sim_log_fn log_fn;
	void *log_arg;
};

struct sim_env *sim_env_from(struct env *env)
{
	return (struct sim_env *)env;
}

struct env *sim_env_env(struct sim_env *e)
{
	return &e->env;
}

void sim_env_set_log(struct sim_env *e, sim_log_fn fn, void *arg)
{
	e->log_fn = fn;
	e->log_arg = arg;
}

/* ---------------------------------------------------------------- time */

static int64_t se_now_mono(struct env *env)
{
	struct sim_env *e = sim_env_from(env);
	return sim_node_mono(e->w, e->node);
}

static int64_t se_now_wall(struct env *env)
{
	struct sim_env *e = sim_env_from(env);
	return sim_node_wall(e->w, e->node);
}

static void se_random_fill(struct env *env, void *buf, size_t len)
{
	sim_rng_fill(&sim_env_from(env)->node->rng, buf, len);
}

/* -------------------------------------------------------------- timers */

static int se_timer_new(struct env *env, env_timer_cb cb, void *arg)
{
	struct sim_env *e = sim_env_from(env);
	uint32_t i;
	for (i = 0; i < e->ntimers; i++)
		if (!e->timers[i].used)
			break;
	if (i == e->ntimers) {
		uint32_t n = e->ntimers ? e->ntimers * 2 : 64;
		e->timers = sim_xrealloc(e->timers, n * sizeof(*e->timers));
		memset(e->timers + e->ntimers, 0,
		       (n - e->ntimers) * sizeof(*e->timers));
		e->ntimers = n;
	}
	e->timers[i] = (struct stimer){ true, cb, arg, NULL };
	return (int)i;
}

static struct stimer *timer_get(struct sim_env *e, int id)
{
	ASSERT(id >= 0 && (uint32_t)id < e->ntimers && e->timers[id].used);
	return &e->timers[id];
}

static void timer_fired(struct sim_world *w, struct sim_event *ev)
{
	UNUSED(w);
	struct sim_env *e = ev->p;
	struct stimer *t = timer_get(e, (int)ev->a);
	t->ev = NULL;
	t->cb(t->arg, (int)ev->a);
}

static void se_timer_disarm(struct env *env, int id)
{
	struct sim_env *e = sim_env_from(env);
	struct stimer *t = timer_get(e, id);
	sim_cancel(e->w, t->ev);
	t->ev = NULL;
}

static void se_timer_arm(struct env *env, int id, int64_t deadline_ns)
{
	struct sim_env *e = sim_env_from(env);
	se_timer_disarm(env, id);
	if (e->dead)
		return;
	int64_t at = deadline_ns - e->node->mono_origin_ns;
	timer_get(e, id)->ev = sim_at(e->w, at, timer_fired, e->node, e, id);
}

static void se_timer_free(struct env *env, int id)
{
	if (id < 0)
		return;
	se_timer_disarm(env, id);
	sim_env_from(env)->timers[id].used = false;
}

static void se_on_turn_end(struct env *env, env_turn_cb cb, void *arg)
{
	struct sim_env *e = sim_env_from(env);
	ASSERT(e->nturns < TURN_HOOKS_MAX);
	e->turns[e->nturns].cb = cb;
	e->turns[e->nturns].arg = arg;
	e->nturns++;
}

void sim_env_turn_end(struct sim_env *e)
{
	if (e->dead)
		return;
	for (uint32_t i = 0; i < e->nturns; i++)
		e->turns[i].cb(e->turns[i].arg);
}

/* ------------------------------------------------------------- sockets */

static int sock_alloc(struct sim_env *e)
{
	uint32_t i;
	for (i = 0; i < e->nsocks; i++)
		if (!e->socks[i].used)
			break;
	if (i == e->nsocks) {
		uint32_t n = e->nsocks ? e->nsocks * 2 : 64;
		e->socks = sim_xrealloc(e->socks, n * sizeof(*e->socks));
		memset(e->socks + e->nsocks, 0,
		       (n - e->nsocks) * sizeof(*e->socks));
		e->nsocks = n;
	}
	struct ssock *s = &e->socks[i];
	uint32_t gen = s->gen + 1;
	memset(s, 0, sizeof(*s));
	s->used = true;
	s->gen = gen;
	return (int)i;
}

static struct ssock *sock_get(struct sim_env *e, int sock)
{
	ASSERT(sock >= 0 && (uint32_t)sock < e->nsocks && e->socks[sock].used);
	return &e->socks[sock];
}

/* The events a callback for s would get now. */
static unsigned sock_events(struct sim_env *e, const struct ssock *s)
{
	if (s->l != NULL)
		return s->l->nbacklog > 0 ? (s->interest & ENV_EV_READ) : 0;
	if (s->end == NULL)
		return 0;
	unsigned r = sim_net_end_ready(e->w->net, s->end);
	if (s->connecting) {
		if (r & ENV_EV_ERROR)
			return ENV_EV_ERROR;
		return s->end->established ? ENV_EV_WRITE : 0;
	}
	if (s->interest == 0)
		return 0;   /* not watched: no callback at all */
	if (r & ENV_EV_ERROR)
		return ENV_EV_ERROR | ENV_EV_READ;
	return r & s->interest;
}

static void poke_fired(struct sim_world *w, struct sim_event *ev);

void sim_env_sock_poke(struct sim_env *e, int sock)
{
	if (e == NULL || e->dead || sock < 0 || (uint32_t)sock >= e->nsocks)
		return;
	struct ssock *s = &e->socks[sock];
	if (!s->used || s->cb == NULL || s->poke_ev != NULL)
		return;
	if (sock_events(e, s) == 0)
		return;
	s->poke_ev = sim_at(e->w, e->w->now_ns, poke_fired, e->node, e,
			    ((int64_t)s->gen << 32) | (uint32_t)sock);
}

static void poke_fired(struct sim_world *w, struct sim_event *ev)
{
	UNUSED(w);
	struct sim_env *e = ev->p;
	int sock = (int)(uint32_t)ev->a;
	uint32_t gen = (uint32_t)(ev->a >> 32);
	struct ssock *s = &e->socks[sock];
	ASSERT(s->used && s->gen == gen);
	s->poke_ev = NULL;
	unsigned events = sock_events(e, s);
	if (events == 0 || s->cb == NULL)
		return;
	if (s->connecting)
		s->connecting = false;
	s->cb(s->arg, sock, events);
	/* Level-triggered: still ready means another callback. */
	if (s->used && s->gen == gen)
		sim_env_sock_poke(e, sock);
}

static int se_tcp_listen(struct env *env, const char *host, int port,
			 enum env_link_kind kind, env_sock_cb cb, void *arg,
			 int *port_out)
{
	struct sim_env *e = sim_env_from(env);
	struct sim_host *h = sim_net_resolve(e->w->net, host, e->node->host);
	if (h != e->node->host)
		return ENV_EINVAL;   /* not an address of this host */
	struct sim_listener *l;
	int rc = sim_net_listen(e->w->net, e->node, h, port, kind, &l);
	if (rc < 0)
		return rc;
	int sock = sock_alloc(e);
	struct ssock *s = &e->socks[sock];
	s->l = l;
	s->cb = cb;
	s->arg = arg;
	s->interest = ENV_EV_READ;
	l->env = e;
	l->sock = sock;
	if (port_out != NULL)
		*port_out = l->port;
	return sock;
}

static int se_tcp_accept(struct env *env, int listen_sock, char *peer_ip,
			 int *peer_port)
{
	struct sim_env *e = sim_env_from(env);
	struct ssock *ls = sock_get(e, listen_sock);
	if (ls->l == NULL || e->dead)
		return ENV_EAGAIN;
	struct sim_end *end = sim_net_accept(e->w->net, ls->l);
	if (end == NULL)
		return ENV_EAGAIN;
	int sock = sock_alloc(e);
	e->socks[sock].end = end;
	end->env = e;
	end->sock = sock;
	const struct sim_end *peer = &end->conn->end[0];
	if (peer_ip != NULL)
		memcpy(peer_ip, peer->host->ip, SIM_HOST_IP_LEN);
	if (peer_port != NULL)
		*peer_port = peer->port;
	return sock;
}

static int se_tcp_connect(struct env *env, const char *host, int port,
			  enum env_link_kind kind, env_sock_cb cb, void *arg)
{
	struct sim_env *e = sim_env_from(env);
	if (e->dead)
		return ENV_EOTHER;
	struct sim_host *h = sim_net_resolve(e->w->net, host, e->node->host);
	if (h == NULL || port <= 0 || port > 65535)
		return ENV_EINVAL;
	int sock = sock_alloc(e);
	struct ssock *s = &e->socks[sock];
	s->end = sim_net_connect(e->w->net, e->node, h, port, kind);
	s->end->env = e;
	s->end->sock = sock;
	s->cb = cb;
	s->arg = arg;
	s->interest = ENV_EV_WRITE;
	s->connecting = true;
	return sock;
}

static void se_sock_watch(struct env *env, int sock, unsigned interest,
			  env_sock_cb cb, void *arg)
{
	struct sim_env *e = sim_env_from(env);
	struct ssock *s = sock_get(e, sock);
	s->cb = cb;
	s->arg = arg;
	s->interest = interest;
	sim_env_sock_poke(e, sock);
}

static long se_sock_recv(struct env *env, int sock, void *buf, size_t len)
{
	struct sim_env *e = sim_env_from(env);
	struct ssock *s = sock_get(e, sock);
	if (s->end == NULL || e->dead)
		return ENV_ECLOSED;
	return sim_net_recv(e->w->net, s->end, buf, len);
}

static long se_sock_sendv(struct env *env, int sock, const struct iovec *iov,
			  int iovcnt)
{
	struct sim_env *e = sim_env_from(env);
	struct ssock *s = sock_get(e, sock);
	/* A dead process's bytes go nowhere; "would block" keeps the
	 * teardown from reacting to errors. */
	if (e->dead)
		return ENV_EAGAIN;
	if (s->end == NULL)
		return ENV_ECLOSED;
	return sim_net_send(e->w->net, s->end, iov, iovcnt);
}

static void sock_release(struct sim_env *e, int sock, bool graceful)
{
	struct ssock *s = &e->socks[sock];
	sim_cancel(e->w, s->poke_ev);
	s->poke_ev = NULL;
	if (s->l != NULL)
		sim_net_unlisten(e->w->net, s->l);
	else if (s->end != NULL && graceful)
		sim_net_close(e->w->net, s->end);
	else if (s->end != NULL)
		sim_net_abort(e->w->net, s->end, "process crashed");
	s->l = NULL;
	s->end = NULL;
}

static void se_sock_close(struct env *env, int sock)
{
	struct sim_env *e = sim_env_from(env);
	struct ssock *s = sock_get(e, sock);
	sock_release(e, sock, true);
	s->used = false;
	s->cb = NULL;
	s->arg = NULL;
}

/* --------------------------------------------------------------- files */

static struct sim_disk *env_disk(struct sim_env *e)
{
	return e->dead ? NULL : e->node->disk;
}

static int se_file_open(struct env *env, const char *path, unsigned flags)
{
	struct sim_env *e = sim_env_from(env);
	struct sim_disk *d = env_disk(e);
	if (d == NULL)
		return ENV_EIO;
	struct sim_file *f;
	int rc = sim_disk_open(d, path, flags, &f);
	if (rc < 0)
		return rc;
	uint32_t i;
	for (i = 0; i < e->nfiles; i++)
		if (e->files[i] == NULL)
			break;
	if (i == e->nfiles) {
		e->files = sim_xrealloc(e->files, (e->nfiles + 1) *
					sizeof(*e->files));
		e->nfiles++;
	}
	e->files[i] = f;
	return (int)i;
}

static struct sim_file *file_get(struct sim_env *e, int file)
{
	ASSERT(file >= 0 && (uint32_t)file < e->nfiles &&
	       e->files[file] != NULL);
	return e->files[file];
}

static long se_file_pread(struct env *env, int file, void *buf, size_t len,
			  uint64_t off)
{
	struct sim_env *e = sim_env_from(env);
	struct sim_file *f = file_get(e, file);
	struct sim_disk *d = env_disk(e);
	return d ? sim_disk_pread(d, f, buf, len, off) : ENV_EIO;
}

static long se_file_pwrite(struct env *env, int file, const void *buf,
			   size_t len, uint64_t off)
{
	struct sim_env *e = sim_env_from(env);
	struct sim_file *f = file_get(e, file);
	struct sim_disk *d = env_disk(e);
	return d ? sim_disk_pwrite(d, f, buf, len, off) : ENV_EIO;
}

static int se_file_sync(struct env *env, int file)
{
	struct sim_env *e = sim_env_from(env);
	struct sim_file *f = file_get(e, file);
	struct sim_disk *d = env_disk(e);
	return d ? sim_disk_sync(d, f) : ENV_EIO;
}

static int se_file_truncate(struct env *env, int file, uint64_t size)
{
	struct sim_env *e = sim_env_from(env);
	struct sim_file *f = file_get(e, file);
	struct sim_disk *d = env_disk(e);
	return d ? sim_disk_truncate(d, f, size) : ENV_EIO;
}

static int64_t se_file_size(struct env *env, int file)
{
	return sim_disk_size(file_get(sim_env_from(env), file));
}

static void se_file_close(struct env *env, int file)
{
	struct sim_env *e = sim_env_from(env);
	struct sim_file *f = file_get(e, file);
	sim_disk_close(e->node->disk, f);
	e->files[file] = NULL;
}

static int se_file_rename(struct env *env, const char *from, const char *to)
{
	struct sim_disk *d = env_disk(sim_env_from(env));
	return d ? sim_disk_rename(d, from, to) : ENV_EIO;
}

static int se_file_remove(struct env *env, const char *path)
{
	struct sim_disk *d = env_disk(sim_env_from(env));
	return d ? sim_disk_remove(d, path) : ENV_EIO;
}

static int se_dir_create(struct env *env, const char *path)
{
	struct sim_disk *d = env_disk(sim_env_from(env));
	return d ? sim_disk_mkdir(d, path) : ENV_EIO;
}

static int se_dir_list(struct env *env, const char *path, env_list_cb cb,
		       void *arg)
{
	struct sim_disk *d = env_disk(sim_env_from(env));
	return d ? sim_disk_list(d, path, cb, arg) : ENV_EIO;
}

/* ------------------------------------------------------------ tracing */

static void se_trace(struct env *env, const struct env_trace_event *ev)
{
	struct sim_env *e = sim_env_from(env);
	if (e->dead)
		return;
	uint32_t kind = ev->kind < TRACE_KIND_COUNT ? ev->kind : TRACE_SRV_OTHER;
	sim_emit(e->w, kind, e->node->id, -1, (int64_t)ev->conn_id, ev->value,
		 ev->subject, ev->text);
}

static void se_log(struct env *env, char level, const char *line, size_t len)
{
	struct sim_env *e = sim_env_from(env);
	if (e->dead || e->log_fn == NULL)
		return;
	e->log_fn(e->log_arg, e->node, level, line, len);
}

/* ----------------------------------------------------------- lifetime */

static void env_fill_vtable(struct env *v)
{
	v->version = ENV_VERSION;
	v->now_mono_ns = se_now_mono;
	v->now_wall_ns = se_now_wall;
	v->timer_new = se_timer_new;
	v->timer_arm = se_timer_arm;
	v->timer_disarm = se_timer_disarm;
	v->timer_free = se_timer_free;
	v->on_turn_end = se_on_turn_end;
	v->random_fill = se_random_fill;
	v->tcp_listen = se_tcp_listen;
	v->tcp_accept = se_tcp_accept;
	v->tcp_connect = se_tcp_connect;
	v->sock_watch = se_sock_watch;
	v->sock_recv = se_sock_recv;
	v->sock_sendv = se_sock_sendv;
	v->sock_close = se_sock_close;
	v->file_open = se_file_open;
	v->file_pread = se_file_pread;
	v->file_pwrite = se_file_pwrite;
	v->file_sync = se_file_sync;
	v->file_truncate = se_file_truncate;
	v->file_size = se_file_size;
	v->file_close = se_file_close;
	v->file_rename = se_file_rename;
	v->file_remove = se_file_remove;
	v->dir_create = se_dir_create;
	v->dir_list = se_dir_list;
	v->trace = se_trace;
	v->log = se_log;
}

struct sim_env *sim_env_new(struct sim_world *w, struct sim_node *node)
{
	struct sim_env *e = sim_xcalloc(1, sizeof(*e));
	env_fill_vtable(&e->env);
	e->w = w;
	e->node = node;
	return e;
}

void sim_env_kill(struct sim_env *e)
{
	for (uint32_t i = 0; i < e->nsocks; i++)
		if (e->socks[i].used)
			sock_release(e, (int)i, false);
	for (uint32_t i = 0; i < e->ntimers; i++) {
		sim_cancel(e->w, e->timers[i].ev);
		e->timers[i].ev = NULL;
	}
	e->dead = true;
}

void sim_env_open_counts(const struct sim_env *e, uint32_t *socks,
			 uint32_t *timers, uint32_t *files)
{
	*socks = *timers = *files = 0;
	for (uint32_t i = 0; i < e->nsocks; i++)
		*socks += e->socks[i].used;
	for (uint32_t i = 0; i < e->ntimers; i++)
		*timers += e->timers[i].used;
	for (uint32_t i = 0; i < e->nfiles; i++)
		*files += e->files[i] != NULL;
}

void sim_env_free(struct sim_env *e)
{
	if (e == NULL)
		return;
	for (uint32_t i = 0; i < e->nsocks; i++)
		if (e->socks[i].used)
			sock_release(e, (int)i, !e->dead);
	for (uint32_t i = 0; i < e->ntimers; i++)
		sim_cancel(e->w, e->timers[i].ev);
	for (uint32_t i = 0; i < e->nfiles; i++)
		if (e->files[i] != NULL)
			sim_disk_close(e->node->disk, e->files[i]);
	free(e->socks);
	free(e->timers);
	free(e->files);
	free(e);
}
