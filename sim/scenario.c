/*
 * scenario.c - loading a scenario: the top level, network settings,
 * servers (their nats-server configs are parsed here to report errors
 * before any run) and clients with their workloads.  Conditions, steps and
 * expectations are in scenario_steps.c.
 *
 * Owns every string and array of struct scenario.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "lib/assert.h"
#include "lib/buf.h"
#include "scenario_int.h"

#define MS 1000000LL
#define SEC 1000000000LL

static const char *const kind_names[SIM_LINK_KINDS] = {
	"client", "route", "leaf", "gateway", "http",
};

const char *scenario_link_kind_name(int kind)
{
	return kind >= 0 && kind < SIM_LINK_KINDS ? kind_names[kind] : "?";
}

void sc_names_free(char **names, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* ------------------------------------------------------------- network */

static bool parse_latency(struct yctx *x, const struct ynode *n,
			  struct sim_latency *l)
{
	memset(l, 0, sizeof(*l));
	if (n->type == Y_SCALAR) {
		const char *dots = strstr(n->text, "..");
		if (dots == NULL) {
			if (!yget_dur(x, n, false, &l->min_ns))
				return false;
			l->max_ns = l->min_ns;
			return true;
		}
		struct ynode lo = *n, hi = *n;
		char a[64], b[64];
		snprintf(a, sizeof(a), "%.*s", (int)(dots - n->text), n->text);
		snprintf(b, sizeof(b), "%s", dots + 2);
		lo.text = a;
		lo.len = strlen(a);
		hi.text = b;
		hi.len = strlen(b);
		if (!yget_dur(x, &lo, false, &l->min_ns) ||
		    !yget_dur(x, &hi, false, &l->max_ns))
			return false;
	} else {
		static const char *const keys[] = { "min", "max", "tail",
						    "tail_prob", NULL };
		if (!ykeys_allowed(x, n, "latency", keys))
			return false;
		const struct ynode *v;
		if ((v = ymap_get(n, "min")) && !yget_dur(x, v, false, &l->min_ns))
			return false;
		l->max_ns = l->min_ns;
		if ((v = ymap_get(n, "max")) && !yget_dur(x, v, false, &l->max_ns))
			return false;
		if ((v = ymap_get(n, "tail")) &&
		    !yget_dur(x, v, false, &l->tail_ns))
			return false;
		l->tail_ppm = l->tail_ns > 0 ? 10000 : 0;
		if ((v = ymap_get(n, "tail_prob")) &&
		    !yget_prob(x, v, &l->tail_ppm))
			return false;
	}
	if (l->max_ns < l->min_ns)
		return yfail(x, n, "latency max is below min");
	return true;
}

bool sc_parse_kinds(struct yctx *x, const struct ynode *n, uint32_t *kinds)
{
	char **names = NULL;
	uint32_t count = 0;
	if (!yget_names(x, n, &names, &count))
		return false;
	*kinds = 0;
	bool ok = true;
	for (uint32_t i = 0; i < count && ok; i++) {
		int k = -1;
		for (int j = 0; j < SIM_LINK_KINDS; j++)
			if (strcmp(names[i], kind_names[j]) == 0)
				k = j;
		if (k < 0)
			ok = yfail(x, n, "unknown link kind '%s' (client, route, "
				   "leaf, gateway, http)", names[i]);
		else
			*kinds |= 1u << k;
	}
	sc_names_free(names, count);
	return ok;
}

static bool parse_link(struct yctx *x, const struct ynode *n,
		       struct sc_netset *ns, int kind)
{
	static const char *const keys[] = { "latency", "bandwidth", NULL };
	if (!ykeys_allowed(x, n, "a link setting", keys))
		return false;
	const struct ynode *v;
	struct sim_link_cfg *l = &ns->cfg.link[kind];
	if ((v = ymap_get(n, "latency")) != NULL) {
		if (!parse_latency(x, v, &l->latency))
			return false;
		ns->link_latency[kind] = true;
	}
	if ((v = ymap_get(n, "bandwidth")) != NULL) {
		uint64_t bw;
		if (!yget_size(x, v, &bw))
			return false;
		l->bandwidth_bps = (int64_t)bw;
		ns->link_bandwidth[kind] = true;
	}
	return true;
}

static bool parse_links(struct yctx *x, const struct ynode *n,
			struct sc_netset *ns)
{
	if (!ykeys_allowed(x, n, "links", (const char *const[]){
			   "client", "route", "leaf", "gateway", "http", NULL }))
		return false;
	for (int k = 0; k < SIM_LINK_KINDS; k++) {
		const struct ynode *v = ymap_get(n, kind_names[k]);
		if (v != NULL && !parse_link(x, v, ns, k))
			return false;
	}
	return true;
}

static bool netset_u32(struct yctx *x, const struct ynode *n, const char *key,
		       uint32_t *out, bool *flag, int64_t min, int64_t max)
{
	const struct ynode *v = ymap_get(n, key);
	int64_t i;
	if (v == NULL)
		return true;
	if (!yget_int(x, v, min, max, &i))
		return false;
	*out = (uint32_t)i;
	*flag = true;
	return true;
}

static bool netset_prob(struct yctx *x, const struct ynode *n,
			const char *key, uint32_t *out, bool *flag)
{
	const struct ynode *v = ymap_get(n, key);
	if (v == NULL)
		return true;
	*flag = true;
	return yget_prob(x, v, out);
}

static bool netset_dur(struct yctx *x, const struct ynode *n, const char *key,
		       int64_t *out, bool *flag)
{
	const struct ynode *v = ymap_get(n, key);
	if (v == NULL)
		return true;
	*flag = true;
	return yget_dur(x, v, false, out);
}

bool sc_parse_netset(struct yctx *x, const struct ynode *n,
		     struct sc_netset *ns)
{
	static const char *const keys[] = {
		"latency", "bandwidth", "window", "max_pieces", "short_reads",
		"short_writes", "connect_timeout", "reset_after", "backlog",
		"links", NULL,
	};
	if (!ykeys_allowed(x, n, "network", keys))
		return false;
	/* Top-level latency and bandwidth apply to every link kind; the
	 * links map then overrides kinds one by one. */
	for (int k = 0; k < SIM_LINK_KINDS; k++) {
		struct ynode sub = *n;
		sub.n = 0;
		sub.kv = sim_xcalloc(2, sizeof(*sub.kv));
		for (uint32_t i = 0; i < n->n; i++) {
			const char *key = n->kv[i].key->text;
			if (!strcmp(key, "latency") || !strcmp(key, "bandwidth"))
				sub.kv[sub.n++] = n->kv[i];
		}
		bool ok = parse_link(x, &sub, ns, k);
		free(sub.kv);
		if (!ok)
			return false;
	}
	uint64_t window = 0;
	const struct ynode *v = ymap_get(n, "window");
	if (v != NULL) {
		if (!yget_size(x, v, &window) || window < 1 || window > (1u << 30))
			return yfail(x, v, "window must be 1 byte to 1GiB");
		ns->cfg.window_bytes = (uint32_t)window;
		ns->window = true;
	}
	if (!netset_u32(x, n, "max_pieces", &ns->cfg.max_pieces,
			&ns->max_pieces, 1, 64) ||
	    !netset_prob(x, n, "short_reads", &ns->cfg.short_read_ppm,
			 &ns->short_reads) ||
	    !netset_prob(x, n, "short_writes", &ns->cfg.short_write_ppm,
			 &ns->short_writes) ||
	    !netset_dur(x, n, "connect_timeout", &ns->cfg.connect_timeout_ns,
			&ns->connect_timeout) ||
	    !netset_dur(x, n, "reset_after", &ns->cfg.reset_after_ns,
			&ns->reset_after) ||
	    !netset_u32(x, n, "backlog", &ns->cfg.backlog, &ns->backlog, 1,
			65535))
		return false;
	v = ymap_get(n, "links");
	return v == NULL || parse_links(x, v, ns);
}

void scenario_netset_apply(const struct sc_netset *ns, struct sim_net_cfg *cfg)
{
	for (int k = 0; k < SIM_LINK_KINDS; k++) {
		if (ns->link_latency[k])
			cfg->link[k].latency = ns->cfg.link[k].latency;
		if (ns->link_bandwidth[k])
			cfg->link[k].bandwidth_bps = ns->cfg.link[k].bandwidth_bps;
	}
	if (ns->window)
		cfg->window_bytes = ns->cfg.window_bytes;
	if (ns->max_pieces)
		cfg->max_pieces = ns->cfg.max_pieces;
	if (ns->short_reads)
		cfg->short_read_ppm = ns->cfg.short_read_ppm;
	if (ns->short_writes)
		cfg->short_write_ppm = ns->cfg.short_write_ppm;
	if (ns->connect_timeout)
		cfg->connect_timeout_ns = ns->cfg.connect_timeout_ns;
	if (ns->reset_after)
		cfg->reset_after_ns = ns->cfg.reset_after_ns;
	if (ns->backlog)
		cfg->backlog = ns->cfg.backlog;
}

/* -------------------------------------------------------------- servers */

struct conf_ctx {
	const struct sc_server *srv;
	const struct sc_file_subst *files;
	uint32_t nfiles;
};

/* Copies path without "./" segments, so "dir/./a.conf" reads as
 * "dir/a.conf" (includes are joined to their folder as written). */
static void path_tidy(const char *path, char *out, size_t cap)
{
	size_t n = 0;
	const char *p = path;
	while (*p != '\0' && n + 1 < cap) {
		bool seg_start = p == path || p[-1] == '/';
		if (seg_start && p[0] == '.' && p[1] == '/') {
			p += 2;
			continue;
		}
		out[n++] = *p++;
	}
	out[n] = '\0';
}

bool scenario_file_matches(const struct sc_file_subst *subst,
			   const char *path)
{
	char a[2048], k[2048];
	path_tidy(path, a, sizeof(a));
	path_tidy(subst->key, k, sizeof(k));
	size_t la = strlen(a), lk = strlen(k);
	if (lk == 0 || lk > la)
		return false;
	return strcmp(a + la - lk, k) == 0 && (la == lk || a[la - lk - 1] == '/');
}

static int conf_read_file(void *arg, struct mem *mem, const char *path,
			  char **data, size_t *len)
{
	const struct conf_ctx *cc = arg;
	/* The last reload naming this file wins, as the last edit would. */
	for (uint32_t i = cc->nfiles; i-- > 0;) {
		if (scenario_file_matches(&cc->files[i], path)) {
			path = cc->files[i].path;
			break;
		}
	}
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return ENV_ENOENT;
	struct buf b;
	buf_init(&b, mem);
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_append(&b, chunk, n);
	fclose(fp);
	if (b.oom) {
		buf_free(&b);
		return ENV_ENOMEM;
	}
	if (b.data == NULL)
		buf_append(&b, "", 0);
	*data = b.data;
	*len = b.len;
	return 0;
}

/* $VARIABLES in a config come from the server's env map only, never from
 * the simulator's own environment, so a run does not depend on the host. */
static const char *conf_get_env(void *arg, const char *name)
{
	const struct conf_ctx *c = arg;
	for (uint32_t i = 0; i < c->srv->nenv; i++)
		if (strcmp(c->srv->env_names[i], name) == 0)
			return c->srv->env_values[i];
	return NULL;
}

int scenario_server_opts(const struct scenario *s, uint32_t i,
			 struct opts *o, struct mem *m, char *err, size_t cap)
{
	return scenario_server_opts_files(s, i, NULL, 0, o, m, err, cap);
}

int scenario_server_opts_files(const struct scenario *s, uint32_t i,
			       const struct sc_file_subst *files,
			       uint32_t nfiles, struct opts *o, struct mem *m,
			       char *err, size_t cap)
{
	const struct sc_server *srv = &s->servers[i];
	struct conf_ctx cc = { srv, files, nfiles };
	struct conf_io io = { conf_read_file, conf_get_env, &cc };
	struct conf_doc doc;
	struct buf e;
	buf_init(&e, m);
	opts_defaults(o);
	int rc = 0;
	if (srv->config_file != NULL) {
		rc = conf_parse_file(&doc, m, &io, srv->config_file, &e);
	} else if (srv->config_text != NULL) {
		/* Named after the scenario so messages point there; includes
		 * resolve from the scenario's folder. */
		char name[1024];
		snprintf(name, sizeof(name), "%s#%s.config_text", s->file,
			 srv->name);
		rc = conf_parse_text(&doc, m, &io, name, srv->config_text,
				     strlen(srv->config_text), &e);
	} else {
		buf_free(&e);
		return 0;
	}
	if (rc == 0) {
		rc = opts_from_conf(o, m, &doc, &e);
		conf_doc_free(&doc);
	}
	if (rc != 0)
		snprintf(err, cap, "%s:%d: server %s: %s", s->file, srv->line,
			 srv->name, e.data ? e.data : "bad config");
	buf_free(&e);
	return rc == 0 ? 0 : -1;
}

static bool parse_env_map(struct yctx *x, const struct ynode *n,
			  struct sc_server *srv)
{
	if (!yexpect(x, n, Y_MAP, "env"))
		return false;
	srv->env_names = sim_xcalloc(n->n, sizeof(char *));
	srv->env_values = sim_xcalloc(n->n, sizeof(char *));
	for (uint32_t i = 0; i < n->n; i++) {
		srv->env_names[i] = sim_xstrdup(n->kv[i].key->text);
		srv->nenv++;
		if (!yget_str(x, n->kv[i].value, &srv->env_values[i]))
			return false;
	}
	return true;
}

static bool parse_clock(struct yctx *x, const struct ynode *n,
			struct sc_server *srv)
{
	static const char *const keys[] = { "offset", "drift_ppm", NULL };
	if (!ykeys_allowed(x, n, "clock", keys))
		return false;
	const struct ynode *v;
	int64_t d;
	if ((v = ymap_get(n, "offset")) &&
	    !yget_dur(x, v, true, &srv->clock_offset_ns))
		return false;
	if ((v = ymap_get(n, "drift_ppm")) != NULL) {
		if (!yget_int(x, v, -500000, 500000, &d))
			return false;
		srv->drift_ppm = (int32_t)d;
	}
	return true;
}

static bool parse_disk_faults(struct yctx *x, const struct ynode *n,
			      struct sim_disk_faults *f)
{
	static const char *const keys[] = {
		"capacity", "read_error", "write_error", "short_read",
		"short_write", "sync_error", "torn_writes", NULL,
	};
	if (!ykeys_allowed(x, n, "disk", keys))
		return false;
	const struct ynode *v;
	if ((v = ymap_get(n, "capacity")) && !yget_size(x, v, &f->capacity_bytes))
		return false;
	if ((v = ymap_get(n, "read_error")) && !yget_prob(x, v, &f->read_error_ppm))
		return false;
	if ((v = ymap_get(n, "write_error")) &&
	    !yget_prob(x, v, &f->write_error_ppm))
		return false;
	if ((v = ymap_get(n, "short_read")) &&
	    !yget_prob(x, v, &f->short_read_ppm))
		return false;
	if ((v = ymap_get(n, "short_write")) &&
	    !yget_prob(x, v, &f->short_write_ppm))
		return false;
	if ((v = ymap_get(n, "sync_error")) &&
	    !yget_prob(x, v, &f->sync_error_ppm))
		return false;
	if ((v = ymap_get(n, "torn_writes")) && !yget_bool(x, v, &f->torn_writes))
		return false;
	return true;
}

static bool valid_name(const char *s)
{
	if (s[0] == '\0' || strlen(s) > 48)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return false;
	return true;
}

static bool parse_config_path(struct yctx *x, const struct scenario *s,
			      const struct ynode *v, struct sc_server *srv)
{
	char *rel = NULL;
	if (!yget_str(x, v, &rel))
		return false;
	char path[2048];
	if (rel[0] == '/')
		snprintf(path, sizeof(path), "%s", rel);
	else
		snprintf(path, sizeof(path), "%s/%s", s->dir, rel);
	free(rel);
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return yfail(x, v, "cannot read config file %s", path);
	fclose(fp);
	srv->config_file = sim_xstrdup(path);
	return true;
}

static bool parse_server(struct yctx *x, struct scenario *s,
			 const struct ynode *key, const struct ynode *n,
			 struct sc_server *srv)
{
	static const char *const keys[] = {
		"config", "config_text", "host", "aliases", "env", "clock",
		"disk", "start", NULL,
	};
	srv->name = sim_xstrdup(key->text);
	srv->line = key->line;
	srv->start = true;
	srv->disk.torn_writes = true;
	if (!valid_name(srv->name))
		return yfail(x, key, "server name '%s' must be letters, digits, "
			     "'_' or '-'", srv->name);
	if (yis_null(n))
		return true;
	if (!ykeys_allowed(x, n, "a server", keys))
		return false;
	const struct ynode *v;
	if ((v = ymap_get(n, "config")) && !parse_config_path(x, s, v, srv))
		return false;
	if ((v = ymap_get(n, "config_text")) &&
	    !yget_str(x, v, &srv->config_text))
		return false;
	if (srv->config_file && srv->config_text)
		return yfail(x, n, "give either config or config_text, not both");
	if ((v = ymap_get(n, "host")) && !yget_str(x, v, &srv->host))
		return false;
	if ((v = ymap_get(n, "aliases")) &&
	    !yget_names(x, v, &srv->aliases, &srv->naliases))
		return false;
	if ((v = ymap_get(n, "env")) && !parse_env_map(x, v, srv))
		return false;
	if ((v = ymap_get(n, "clock")) && !parse_clock(x, v, srv))
		return false;
	if ((v = ymap_get(n, "disk")) && !parse_disk_faults(x, v, &srv->disk))
		return false;
	if ((v = ymap_get(n, "start")) && !yget_bool(x, v, &srv->start))
		return false;
	return true;
}

static bool parse_servers(struct yctx *x, struct scenario *s,
			  const struct ynode *n)
{
	if (!yexpect(x, n, Y_MAP, "servers"))
		return false;
	s->servers = sim_xcalloc(n->n, sizeof(*s->servers));
	for (uint32_t i = 0; i < n->n; i++) {
		s->nservers++;
		if (!parse_server(x, s, n->kv[i].key, n->kv[i].value,
				  &s->servers[i]))
			return false;
		if (s->servers[i].host == NULL)
			s->servers[i].host = sim_xstrdup(s->servers[i].name);
	}
	/* Parse each config now, so a bad one fails the load. */
	for (uint32_t i = 0; i < s->nservers; i++) {
		struct mem m;
		mem_init(&m);
		struct opts o;
		if (scenario_server_opts(s, i, &o, &m, x->err, x->cap) != 0) {
			x->failed = true;
			opts_free(&o, &m);
			return false;
		}
		opts_free(&o, &m);
	}
	return true;
}

int scenario_find_server(const struct scenario *s, const char *name)
{
	for (uint32_t i = 0; i < s->nservers; i++)
		if (strcmp(s->servers[i].name, name) == 0)
			return (int)i;
	return -1;
}

int scenario_find_client(const struct scenario *s, const char *name)
{
	for (uint32_t i = 0; i < s->nclients; i++)
		if (strcmp(s->clients[i].cfg.name, name) == 0)
			return (int)i;
	return -1;
}

/* -------------------------------------------------------------- clients */

static bool parse_sub(struct yctx *x, const struct ynode *n,
		      struct sim_sub_cfg *sub)
{
	static const char *const keys[] = { "subject", "queue", "max",
					    "reply", "echo", NULL };
	if (n->type == Y_SCALAR)
		return yget_str(x, n, &sub->subject);
	if (!ykeys_allowed(x, n, "a subscription", keys))
		return false;
	const struct ynode *v = ymap_get(n, "subject");
	if (v == NULL)
		return yfail(x, n, "a subscription needs a subject");
	if (!yget_str(x, v, &sub->subject))
		return false;
	if ((v = ymap_get(n, "queue")) && !yget_str(x, v, &sub->queue))
		return false;
	if ((v = ymap_get(n, "max")) &&
	    !yget_int(x, v, 1, INT64_MAX, &sub->max_msgs))
		return false;
	if ((v = ymap_get(n, "reply")) && !yget_str(x, v, &sub->reply))
		return false;
	if ((v = ymap_get(n, "echo")) && !yget_bool(x, v, &sub->reply_echo))
		return false;
	return true;
}

static bool parse_pub(struct yctx *x, const struct ynode *n,
		      struct sim_pub_cfg *p)
{
	static const char *const keys[] = {
		"subject", "count", "interval", "start", "size", "reply",
		"stream", "payload", "headers", NULL,
	};
	if (!ykeys_allowed(x, n, "a publisher", keys))
		return false;
	const struct ynode *v = ymap_get(n, "subject");
	if (v == NULL)
		return yfail(x, n, "a publisher needs a subject");
	p->count = 1;
	p->interval_ns = 10 * MS;
	int64_t size = 0;
	if (!yget_str(x, v, &p->subject))
		return false;
	if ((v = ymap_get(n, "count")) &&
	    !yget_int(x, v, 0, 100000000, &p->count))
		return false;
	if ((v = ymap_get(n, "interval")) &&
	    !yget_dur(x, v, false, &p->interval_ns))
		return false;
	if ((v = ymap_get(n, "start")) && !yget_dur(x, v, false, &p->start_ns))
		return false;
	if ((v = ymap_get(n, "size")) && !yget_int(x, v, 0, 8 << 20, &size))
		return false;
	p->size = (uint32_t)size;
	if ((v = ymap_get(n, "reply")) && !yget_str(x, v, &p->reply))
		return false;
	if ((v = ymap_get(n, "stream")) && !yget_str(x, v, &p->stream))
		return false;
	if (p->stream != NULL && !valid_name(p->stream))
		return yfail(x, v, "a stream name is letters, digits, '_', '-'");
	if ((v = ymap_get(n, "payload")) && !yget_str(x, v, &p->payload))
		return false;
	if ((v = ymap_get(n, "headers")) && !yget_bool(x, v, &p->headers))
		return false;
	return true;
}

/* js_publish: like a publisher, plus a timeout for the PubAck. */
static bool parse_jspub(struct yctx *x, const struct ynode *n,
			struct sim_jspub_cfg *p)
{
	static const char *const keys[] = {
		"subject", "count", "interval", "start", "size", "stream",
		"timeout", NULL,
	};
	if (!ykeys_allowed(x, n, "a JetStream publisher", keys))
		return false;
	const struct ynode *v = ymap_get(n, "subject");
	if (v == NULL)
		return yfail(x, n, "a JetStream publisher needs a subject");
	p->count = 1;
	p->interval_ns = 10 * MS;
	p->timeout_ns = 1 * SEC;
	int64_t size = 0;
	if (!yget_str(x, v, &p->subject))
		return false;
	if ((v = ymap_get(n, "count")) &&
	    !yget_int(x, v, 0, 10000000, &p->count))
		return false;
	if ((v = ymap_get(n, "interval")) &&
	    !yget_dur(x, v, false, &p->interval_ns))
		return false;
	if ((v = ymap_get(n, "start")) && !yget_dur(x, v, false, &p->start_ns))
		return false;
	if ((v = ymap_get(n, "timeout")) &&
	    !yget_dur(x, v, false, &p->timeout_ns))
		return false;
	if (p->timeout_ns <= 0)
		return yfail(x, v, "a PubAck timeout must be positive");
	if ((v = ymap_get(n, "size")) && !yget_int(x, v, 0, 8 << 20, &size))
		return false;
	p->size = (uint32_t)size;
	if ((v = ymap_get(n, "stream")) && !yget_str(x, v, &p->stream))
		return false;
	if (p->stream != NULL && !valid_name(p->stream))
		return yfail(x, v, "a stream name is letters, digits, '_', '-'");
	return true;
}

static bool parse_req(struct yctx *x, const struct ynode *n, uint32_t index,
		      struct sim_req_cfg *r)
{
	static const char *const keys[] = {
		"name", "subject", "count", "interval", "start", "timeout",
		"payload", NULL,
	};
	if (!ykeys_allowed(x, n, "a requester", keys))
		return false;
	const struct ynode *v = ymap_get(n, "subject");
	if (v == NULL)
		return yfail(x, n, "a requester needs a subject");
	if (!yget_str(x, v, &r->subject))
		return false;
	r->count = 1;
	r->interval_ns = 100 * MS;
	r->timeout_ns = 1 * SEC;
	char name[32];
	snprintf(name, sizeof(name), "r%u", index + 1);
	r->name = sim_xstrdup(name);
	if ((v = ymap_get(n, "name")) && !yget_str(x, v, &r->name))
		return false;
	if (!valid_name(r->name))
		return yfail(x, v, "a request name is letters, digits, '_', '-'");
	if ((v = ymap_get(n, "count")) &&
	    !yget_int(x, v, 0, 100000000, &r->count))
		return false;
	if ((v = ymap_get(n, "interval")) &&
	    !yget_dur(x, v, false, &r->interval_ns))
		return false;
	if ((v = ymap_get(n, "start")) && !yget_dur(x, v, false, &r->start_ns))
		return false;
	if ((v = ymap_get(n, "timeout")) &&
	    !yget_dur(x, v, false, &r->timeout_ns))
		return false;
	if ((v = ymap_get(n, "payload")) && !yget_str(x, v, &r->payload))
		return false;
	return true;
}

static bool parse_list(struct yctx *x, const struct ynode *n, const char *what,
		       void **arr, uint32_t *count, size_t elem,
		       bool (*fn)(struct yctx *, const struct ynode *, uint32_t,
				  void *))
{
	const struct ynode *single = n;
	uint32_t total = n->type == Y_SEQ ? n->n : 1;
	if (n->type != Y_SEQ && n->type != Y_MAP && n->type != Y_SCALAR)
		return yfail(x, n, "%s must be a list", what);
	*arr = sim_xcalloc(total, elem);
	for (uint32_t i = 0; i < total; i++) {
		const struct ynode *item = n->type == Y_SEQ ? n->items[i] : single;
		(*count)++;
		if (!fn(x, item, i, (char *)*arr + i * elem))
			return false;
	}
	return true;
}

static bool sub_item(struct yctx *x, const struct ynode *n, uint32_t i,
		     void *out)
{
	UNUSED(i);
	return parse_sub(x, n, out);
}

static bool pub_item(struct yctx *x, const struct ynode *n, uint32_t i,
		     void *out)
{
	UNUSED(i);
	return parse_pub(x, n, out);
}

static bool jspub_item(struct yctx *x, const struct ynode *n, uint32_t i,
		       void *out)
{
	UNUSED(i);
	return parse_jspub(x, n, out);
}

/* Each js_publish workload of a client needs its own identity prefix:
 * checks attribute stored messages to a workload by it. */
static bool jspubs_distinct(struct yctx *x, const struct ynode *n,
			    const struct sim_client_cfg *k)
{
	for (uint32_t i = 0; i < k->njspubs; i++) {
		const char *a = k->jspubs[i].stream ? k->jspubs[i].stream
						    : k->name;
		for (uint32_t j = 0; j < i; j++) {
			const char *b = k->jspubs[j].stream
					? k->jspubs[j].stream : k->name;
			if (strcmp(a, b) == 0)
				return yfail(x, n, "two js_publish workloads "
					     "use the identity prefix '%s' "
					     "(give each its own stream:)", a);
		}
	}
	return true;
}

static bool req_item(struct yctx *x, const struct ynode *n, uint32_t i,
		     void *out)
{
	return parse_req(x, n, i, out);
}

static bool parse_reconnect(struct yctx *x, const struct ynode *n,
			    struct sim_client_cfg *k)
{
	static const char *const keys[] = { "delay", "max_delay", "jitter",
					    "max_attempts", NULL };
	if (n->type == Y_SCALAR)
		return yget_bool(x, n, &k->reconnect);
	if (!ykeys_allowed(x, n, "reconnect", keys))
		return false;
	const struct ynode *v;
	int64_t attempts;
	if ((v = ymap_get(n, "delay")) &&
	    !yget_dur(x, v, false, &k->reconnect_delay_ns))
		return false;
	if ((v = ymap_get(n, "max_delay")) &&
	    !yget_dur(x, v, false, &k->reconnect_max_ns))
		return false;
	if ((v = ymap_get(n, "jitter")) &&
	    !yget_dur(x, v, false, &k->reconnect_jitter_ns))
		return false;
	if ((v = ymap_get(n, "max_attempts")) != NULL) {
		if (!yget_int(x, v, -1, 1000000000, &attempts))
			return false;
		k->max_reconnects = (int32_t)attempts;
	}
	return true;
}

static void client_defaults(struct sim_client_cfg *k, const char *name)
{
	k->name = sim_xstrdup(name);
	k->echo = k->headers = k->no_responders = k->handshake = true;
	k->ping_interval_ns = 120 * SEC;
	k->max_pings_out = 2;
	k->reconnect = true;
	k->reconnect_delay_ns = 100 * MS;
	k->reconnect_max_ns = 2 * SEC;
	k->reconnect_jitter_ns = 100 * MS;
	k->max_reconnects = -1;
	k->connect_at_ns = 0;
}

static bool parse_client_servers(struct yctx *x, const struct scenario *s,
				 const struct ynode *n,
				 struct sim_client_cfg *k)
{
	const struct ynode *v = ymap_get(n, "server");
	const struct ynode *vs = ymap_get(n, "servers");
	if ((v == NULL) == (vs == NULL))
		return yfail(x, n, "a client needs server: NAME or servers: "
			     "[NAMES] (one of them)");
	if (!yget_names(x, v ? v : vs, &k->servers, &k->nservers))
		return false;
	for (uint32_t i = 0; i < k->nservers; i++)
		if (strchr(k->servers[i], ':') == NULL &&
		    scenario_find_server(s, k->servers[i]) < 0)
			return yfail(x, v ? v : vs, "no server named '%s'",
				     k->servers[i]);
	return true;
}

static bool parse_client_flags(struct yctx *x, const struct ynode *n,
			       struct sim_client_cfg *k)
{
	static const struct { const char *key; size_t off; } flags[] = {
		{ "verbose", offsetof(struct sim_client_cfg, verbose) },
		{ "pedantic", offsetof(struct sim_client_cfg, pedantic) },
		{ "echo", offsetof(struct sim_client_cfg, echo) },
		{ "headers", offsetof(struct sim_client_cfg, headers) },
		{ "no_responders", offsetof(struct sim_client_cfg,
					    no_responders) },
		{ "handshake", offsetof(struct sim_client_cfg, handshake) },
	};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		const struct ynode *v = ymap_get(n, flags[i].key);
		if (v && !yget_bool(x, v, (bool *)((char *)k + flags[i].off)))
			return false;
	}
	return true;
}

static bool parse_client_conn(struct yctx *x, const struct ynode *n,
			      struct sim_client_cfg *k)
{
	const struct ynode *v;
	int64_t pings;
	if ((v = ymap_get(n, "user")) && !yget_str(x, v, &k->user))
		return false;
	if ((v = ymap_get(n, "pass")) && !yget_str(x, v, &k->pass))
		return false;
	if ((v = ymap_get(n, "token")) && !yget_str(x, v, &k->token))
		return false;
	if ((v = ymap_get(n, "name")) && !yget_str(x, v, &k->conn_name))
		return false;
	if ((v = ymap_get(n, "ping_interval")) &&
	    !yget_dur(x, v, false, &k->ping_interval_ns))
		return false;
	if ((v = ymap_get(n, "max_pings_out")) != NULL) {
		if (!yget_int(x, v, 1, 1000, &pings))
			return false;
		k->max_pings_out = (int32_t)pings;
	}
	if ((v = ymap_get(n, "reconnect")) && !parse_reconnect(x, v, k))
		return false;
	if ((v = ymap_get(n, "connect_at")) != NULL) {
		if (v->type == Y_SCALAR && strcmp(v->text, "never") == 0)
			k->connect_at_ns = -1;
		else if (!yget_dur(x, v, false, &k->connect_at_ns))
			return false;
	}
	return parse_client_flags(x, n, k);
}

static bool parse_client(struct yctx *x, const struct scenario *s,
			 const struct ynode *key, const struct ynode *n,
			 struct sc_client *c)
{
	static const char *const keys[] = {
		"server", "servers", "user", "pass", "token", "name", "verbose",
		"pedantic", "echo", "headers", "no_responders", "handshake",
		"ping_interval", "max_pings_out", "reconnect", "connect_at",
		"subscribe", "publish", "request", "js_publish", NULL,
	};
	struct sim_client_cfg *k = &c->cfg;
	client_defaults(k, key->text);
	c->line = key->line;
	if (!valid_name(k->name))
		return yfail(x, key, "client name '%s' must be letters, digits, "
			     "'_' or '-'", k->name);
	if (scenario_find_server(s, k->name) >= 0)
		return yfail(x, key, "'%s' is already a server name", k->name);
	if (!ykeys_allowed(x, n, "a client", keys) ||
	    !parse_client_servers(x, s, n, k) || !parse_client_conn(x, n, k))
		return false;
	const struct ynode *v;
	if ((v = ymap_get(n, "subscribe")) &&
	    !parse_list(x, v, "subscribe", (void **)&k->subs, &k->nsubs,
			sizeof(*k->subs), sub_item))
		return false;
	if ((v = ymap_get(n, "publish")) &&
	    !parse_list(x, v, "publish", (void **)&k->pubs, &k->npubs,
			sizeof(*k->pubs), pub_item))
		return false;
	if ((v = ymap_get(n, "request")) &&
	    !parse_list(x, v, "request", (void **)&k->reqs, &k->nreqs,
			sizeof(*k->reqs), req_item))
		return false;
	if ((v = ymap_get(n, "js_publish")) &&
	    (!parse_list(x, v, "js_publish", (void **)&k->jspubs, &k->njspubs,
			 sizeof(*k->jspubs), jspub_item) ||
	     !jspubs_distinct(x, v, k)))
		return false;
	return true;
}

static bool parse_clients(struct yctx *x, struct scenario *s,
			  const struct ynode *n)
{
	if (!yexpect(x, n, Y_MAP, "clients"))
		return false;
	s->clients = sim_xcalloc(n->n, sizeof(*s->clients));
	for (uint32_t i = 0; i < n->n; i++) {
		s->nclients++;
		if (!parse_client(x, s, n->kv[i].key, n->kv[i].value,
				  &s->clients[i]))
			return false;
	}
	return true;
}

/* ------------------------------------------------------------ top level */

static bool parse_top(struct yctx *x, struct scenario *s,
		      const struct ynode *root)
{
	static const char *const keys[] = {
		"name", "description", "seed", "duration", "network",
		"servers", "clients", "timeline", "expect", NULL,
	};
	if (!ykeys_allowed(x, root, "the scenario", keys))
		return false;
	const struct ynode *v;
	int64_t seed = 1;
	if ((v = ymap_get(root, "name")) && !yget_str(x, v, &s->name))
		return false;
	if ((v = ymap_get(root, "description")) &&
	    !yget_str(x, v, &s->description))
		return false;
	if ((v = ymap_get(root, "seed")) && !yget_int(x, v, 0, INT64_MAX, &seed))
		return false;
	s->seed = (uint64_t)seed;
	if ((v = ymap_get(root, "duration")) &&
	    !yget_dur(x, v, false, &s->duration_ns))
		return false;
	if ((v = ymap_get(root, "network")) && !sc_parse_netset(x, v, &s->net))
		return false;
	v = ymap_get(root, "servers");
	if (v == NULL)
		return yfail(x, root, "a scenario needs servers:");
	if (!parse_servers(x, s, v))
		return false;
	if ((v = ymap_get(root, "clients")) && !parse_clients(x, s, v))
		return false;
	if ((v = ymap_get(root, "timeline")) && !sc_parse_timeline(x, s, v))
		return false;
	if ((v = ymap_get(root, "expect")) &&
	    !sc_parse_expects(x, s, v, &s->expects, &s->nexpects))
		return false;
	return true;
}

int scenario_load(struct scenario *s, const char *path, char *err, size_t cap)
{
	return scenario_load_text(s, path, NULL, 0, err, cap);
}

int scenario_load_text(struct scenario *s, const char *path, const char *text,
		       size_t len, char *err, size_t cap)
{
	memset(s, 0, sizeof(*s));
	s->file = sim_xstrdup(path);
	char *copy = sim_xstrdup(path);
	s->dir = sim_xstrdup(dirname(copy));
	free(copy);
	s->duration_ns = 30 * SEC;
	sim_net_cfg_defaults(&s->net.cfg);
	struct ydoc doc;
	if (ydoc_load(&doc, path, text, len, err, cap) != 0) {
		ydoc_free(&doc);
		return -1;
	}
	struct yctx x = { .file = path, .err = err, .cap = cap };
	bool ok = doc.root != NULL ? parse_top(&x, s, doc.root)
				   : yfail(&x, NULL, "the file is empty");
	ydoc_free(&doc);
	if (ok && s->name == NULL) {
		char *b = sim_xstrdup(path);
		char *base = basename(b);
		char *dot = strrchr(base, '.');
		if (dot != NULL)
			*dot = '\0';
		s->name = sim_xstrdup(base);
		free(b);
	}
	return ok ? 0 : -1;
}

/* -------------------------------------------------------------- freeing */

static void client_cfg_free(struct sim_client_cfg *k)
{
	free(k->name);
	sc_names_free(k->servers, k->nservers);
	free(k->user);
	free(k->pass);
	free(k->token);
	free(k->conn_name);
	for (uint32_t i = 0; i < k->nsubs; i++) {
		free(k->subs[i].subject);
		free(k->subs[i].queue);
		free(k->subs[i].reply);
	}
	for (uint32_t i = 0; i < k->npubs; i++) {
		free(k->pubs[i].subject);
		free(k->pubs[i].reply);
		free(k->pubs[i].stream);
		free(k->pubs[i].payload);
	}
	for (uint32_t i = 0; i < k->nreqs; i++) {
		free(k->reqs[i].name);
		free(k->reqs[i].subject);
		free(k->reqs[i].payload);
	}
	for (uint32_t i = 0; i < k->njspubs; i++) {
		free(k->jspubs[i].subject);
		free(k->jspubs[i].stream);
	}
	free(k->subs);
	free(k->pubs);
	free(k->reqs);
	free(k->jspubs);
}

static void sc_server_free(struct sc_server *srv)
{
	free(srv->name);
	free(srv->host);
	sc_names_free(srv->aliases, srv->naliases);
	free(srv->config_file);
	free(srv->config_text);
	sc_names_free(srv->env_names, srv->nenv);
	sc_names_free(srv->env_values, srv->nenv);
}

void scenario_free(struct scenario *s)
{
	for (uint32_t i = 0; i < s->nservers; i++)
		sc_server_free(&s->servers[i]);
	for (uint32_t i = 0; i < s->nclients; i++)
		client_cfg_free(&s->clients[i].cfg);
	for (uint32_t i = 0; i < s->nsteps; i++)
		sc_step_free(&s->steps[i]);
	sc_expects_free(s->expects, s->nexpects);
	free(s->servers);
	free(s->clients);
	free(s->steps);
	free(s->file);
	free(s->dir);
	free(s->name);
	free(s->description);
	memset(s, 0, sizeof(*s));
}
