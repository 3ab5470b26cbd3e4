/*
 * net.c - hosts, listeners, connections and partitions; see net.h.
 *
 * Owns every host, listener, connection and piece.  Connections live until
 * the network is freed (events in flight may still name them); their
 * buffers are released as soon as they are consumed or reset.
 *
 * Invariants: an end's unacked equals the bytes it sent that the peer has
 * not read, minus what a reset or close discarded; pieces of one direction
 * arrive in the order they were sent; held pieces keep that order and no
 * piece of a direction is in flight while earlier ones are held.
 */
#include "net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/assert.h"
#include "sim_env.h"

enum piece_type { PIECE_DATA, PIECE_SYN, PIECE_SYNACK, PIECE_FIN, PIECE_RST };

struct sim_piece {
	struct sim_piece *next;
	struct sim_conn *conn;
	uint8_t type;
	uint8_t to_side;             /* the end it travels to */
	uint32_t len;                /* data bytes */
	uint32_t off;                /* bytes already read */
	char data[];
};

#define EPHEMERAL_FIRST 32768
#define EPHEMERAL_LAST 60999

static const char *const kind_names[SIM_LINK_KINDS] = {
	"client", "route", "leaf", "gateway", "http",
};

void sim_net_observe(struct sim_net *net, struct sim_end *src,
		     const char *data, size_t len);

void sim_net_cfg_defaults(struct sim_net_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (int i = 0; i < SIM_LINK_KINDS; i++) {
		cfg->link[i].latency.min_ns = 200000;    /* 0.2 ms */
		cfg->link[i].latency.max_ns = 1000000;   /* 1 ms */
	}
	cfg->window_bytes = 256 * 1024;
	cfg->max_pieces = 3;
	cfg->short_read_ppm = 100000;
	cfg->short_write_ppm = 0;
	cfg->connect_timeout_ns = 2 * SIM_NS_PER_SEC;
	cfg->reset_after_ns = 5 * SIM_NS_PER_SEC;
	cfg->backlog = 128;
}

struct sim_net *sim_net_new(struct sim_world *w)
{
	struct sim_net *net = sim_xcalloc(1, sizeof(*net));
	net->w = w;
	sim_net_cfg_defaults(&net->cfg);
	mem_init(&net->obs_mem);
	w->net = net;
	return net;
}

static void pieces_free(struct sim_piece *p)
{
	while (p != NULL) {
		struct sim_piece *next = p->next;
		free(p);
		p = next;
	}
}

static void end_free_buffers(struct sim_end *e)
{
	pieces_free(e->rq_head);
	pieces_free(e->held_head);
	e->rq_head = e->rq_tail = e->held_head = e->held_tail = NULL;
	e->rq_bytes = e->held_bytes = 0;
	if (e->obs_init)
		cp_parser_free(&e->obs);
	e->obs_init = false;
}

static void piece_arrive(struct sim_world *w, struct sim_event *ev);

/* Pieces still in flight belong to queued events: free them with the
 * network (the world is freed right after and never runs those events). */
static void net_free_in_flight(struct sim_net *net)
{
	struct sim_world *w = net->w;
	for (uint32_t i = 0; i < w->heap_len; i++) {
		if (w->heap[i]->fn == piece_arrive) {
			free(w->heap[i]->p);
			w->heap[i]->p = NULL;
		}
	}
}

void sim_net_free(struct sim_net *net)
{
	if (net == NULL)
		return;
	net_free_in_flight(net);
	for (uint32_t i = 0; i < net->nconns; i++) {
		end_free_buffers(&net->conns[i]->end[0]);
		end_free_buffers(&net->conns[i]->end[1]);
		free(net->conns[i]);
	}
	for (uint32_t i = 0; i < net->nlisteners; i++) {
		free(net->listeners[i]->backlog);
		free(net->listeners[i]);
	}
	for (uint32_t i = 0; i < net->nhosts; i++) {
		struct sim_host *h = net->hosts[i];
		for (uint32_t j = 0; j < h->naliases; j++)
			free(h->aliases[j]);
		free(h->aliases);
		free(h->name);
		free(h);
	}
	for (uint32_t i = 0; i < net->nparts; i++)
		sim_net_partition_free(net->parts[i]);
	free(net->parts);
	free(net->conns);
	free(net->listeners);
	free(net->hosts);
	free(net);
}

/* --------------------------------------------------------------- hosts */

struct sim_host *sim_net_host(struct sim_net *net, const char *name)
{
	for (uint32_t i = 0; i < net->nhosts; i++)
		if (strcmp(net->hosts[i]->name, name) == 0)
			return net->hosts[i];
	struct sim_host *h = sim_xcalloc(1, sizeof(*h));
	h->id = (int)net->nhosts;
	h->name = sim_xstrdup(name);
	unsigned n = (unsigned)h->id % 62500u;
	snprintf(h->ip, sizeof(h->ip), "10.0.%u.%u", n / 250u, n % 250u + 1u);
	h->next_port = EPHEMERAL_FIRST;
	net->hosts = sim_xrealloc(net->hosts,
				  (net->nhosts + 1) * sizeof(*net->hosts));
	net->hosts[net->nhosts++] = h;
	return h;
}

void sim_net_add_alias(struct sim_net *net, struct sim_host *h,
		       const char *alias)
{
	UNUSED(net);
	h->aliases = sim_xrealloc(h->aliases,
				  (h->naliases + 1) * sizeof(*h->aliases));
	h->aliases[h->naliases++] = sim_xstrdup(alias);
}

static bool is_self_name(const char *name)
{
	return name[0] == '\0' || strcmp(name, "localhost") == 0 ||
	       strcmp(name, "127.0.0.1") == 0 || strcmp(name, "::1") == 0 ||
	       strcmp(name, "0.0.0.0") == 0 || strcmp(name, "::") == 0 ||
	       strcmp(name, "[::]") == 0;
}

struct sim_host *sim_net_resolve(struct sim_net *net, const char *name,
				 struct sim_host *self)
{
	if (name == NULL || is_self_name(name))
		return self;
	for (uint32_t i = 0; i < net->nhosts; i++) {
		struct sim_host *h = net->hosts[i];
		if (strcmp(h->name, name) == 0 || strcmp(h->ip, name) == 0)
			return h;
		for (uint32_t j = 0; j < h->naliases; j++)
			if (strcmp(h->aliases[j], name) == 0)
				return h;
	}
	return NULL;
}

static int host_ephemeral_port(struct sim_host *h)
{
	int p = h->next_port++;
	if (h->next_port > EPHEMERAL_LAST)
		h->next_port = EPHEMERAL_FIRST;
	return p;
}

/* ----------------------------------------------------------- listeners */

struct sim_listener *sim_net_find_listener(struct sim_net *net,
					   const struct sim_host *host,
					   int port)
{
	for (uint32_t i = 0; i < net->nlisteners; i++) {
		struct sim_listener *l = net->listeners[i];
		if (l->host == host && l->port == port)
			return l;
	}
	return NULL;
}

int sim_net_listen(struct sim_net *net, struct sim_node *node,
		   struct sim_host *host, int port, enum env_link_kind kind,
		   struct sim_listener **out)
{
	if (port < 0 || port > 65535)
		return ENV_EINVAL;
	if (port == 0) {
		do
			port = host_ephemeral_port(host);
		while (sim_net_find_listener(net, host, port) != NULL);
	} else if (sim_net_find_listener(net, host, port) != NULL) {
		return ENV_EADDRINUSE;
	}
	struct sim_listener *l = sim_xcalloc(1, sizeof(*l));
	l->host = host;
	l->port = port;
	l->kind = kind;
	l->node = node;
	l->sock = -1;
	net->listeners = sim_xrealloc(net->listeners, (net->nlisteners + 1) *
				      sizeof(*net->listeners));
	net->listeners[net->nlisteners++] = l;
	sim_emit(net->w, TRACE_NET_LISTEN, node->id, -1, 0, port, NULL,
		 kind_names[kind % SIM_LINK_KINDS]);
	*out = l;
	return 0;
}

void sim_net_unlisten(struct sim_net *net, struct sim_listener *l)
{
	for (uint32_t i = 0; i < l->nbacklog; i++)
		sim_net_abort(net, l->backlog[i], "listener closed");
	for (uint32_t i = 0; i < net->nlisteners; i++) {
		if (net->listeners[i] == l) {
			memmove(&net->listeners[i], &net->listeners[i + 1],
				(net->nlisteners - i - 1) *
				sizeof(*net->listeners));
			net->nlisteners--;
			break;
		}
	}
	free(l->backlog);
	free(l);
}

struct sim_end *sim_net_accept(struct sim_net *net, struct sim_listener *l)
{
	UNUSED(net);
	if (l->nbacklog == 0)
		return NULL;
	struct sim_end *e = l->backlog[0];
	memmove(&l->backlog[0], &l->backlog[1],
		(l->nbacklog - 1) * sizeof(*l->backlog));
	l->nbacklog--;
	return e;
}

/* ---------------------------------------------------------- partitions */

struct sim_partition *sim_net_partition_new(struct sim_net *net,
					    const char *name)
{
	struct sim_partition *p = sim_xcalloc(1, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name ? name : "");
	p->nside = net->w->nnodes;
	p->side = sim_xcalloc(p->nside ? p->nside : 1, 1);
	return p;
}

void sim_net_partition_free(struct sim_partition *p)
{
	if (p == NULL)
		return;
	free(p->side);
	free(p);
}

static bool part_in(const struct sim_partition *p, const struct sim_node *n,
		    uint8_t bit)
{
	return n != NULL && (uint32_t)n->id < p->nside &&
	       (p->side[n->id] & bit) != 0;
}

static bool part_matches(const struct sim_partition *p,
			 const struct sim_node *src,
			 const struct sim_node *dst, enum env_link_kind kind)
{
	if (src == dst || src == NULL || dst == NULL)
		return false;
	if (p->kinds != 0 && (p->kinds & (1u << kind)) == 0)
		return false;
	if (part_in(p, src, 1) && part_in(p, dst, 2))
		return true;
	return !p->one_way && part_in(p, src, 2) && part_in(p, dst, 1);
}

/* Whether traffic from src to the other end is blocked, and how. */
static bool net_blocked(const struct sim_net *net, const struct sim_end *src,
			enum sim_part_mode *mode)
{
	const struct sim_end *dst = &src->conn->end[1 - src->side];
	bool blocked = false;
	*mode = SIM_PART_HOLD;
	for (uint32_t i = 0; i < net->nparts; i++) {
		const struct sim_partition *p = net->parts[i];
		if (!part_matches(p, src->node, dst->node, src->conn->kind))
			continue;
		blocked = true;
		if (p->mode == SIM_PART_DROP)
			*mode = SIM_PART_DROP;
	}
	return blocked;
}

/* ----------------------------------------------------------- transport */

static void piece_arrive(struct sim_world *w, struct sim_event *ev);
static void stall_fired(struct sim_world *w, struct sim_event *ev);

static int64_t link_delay(struct sim_net *net, enum env_link_kind kind)
{
	const struct sim_latency *l = &net->cfg.link[kind].latency;
	int64_t d = sim_rng_range(&net->w->rng_net, l->min_ns,
				  l->max_ns > l->min_ns ? l->max_ns : l->min_ns);
	if (l->tail_ns > 0 && sim_rng_chance(&net->w->rng_net, l->tail_ppm))
		d += sim_rng_range(&net->w->rng_net, 0, l->tail_ns);
	return d;
}

/* Puts a piece on the wire from src: bandwidth, latency, order. */
static void net_transmit(struct sim_net *net, struct sim_end *src,
			 struct sim_piece *pc)
{
	struct sim_world *w = net->w;
	enum env_link_kind kind = src->conn->kind;
	int64_t bw = net->cfg.link[kind].bandwidth_bps;
	int64_t tx = 0;
	if (bw > 0 && pc->len > 0)
		tx = (int64_t)(((__int128)pc->len * SIM_NS_PER_SEC + bw - 1) / bw);
	int64_t depart = src->wire_free_ns > w->now_ns ? src->wire_free_ns
						       : w->now_ns;
	src->wire_free_ns = depart + tx;
	int64_t arrive = src->wire_free_ns + link_delay(net, kind);
	if (arrive < src->last_arrival_ns)
		arrive = src->last_arrival_ns;
	src->last_arrival_ns = arrive;
	pc->next = NULL;
	sim_at(w, arrive, piece_arrive, NULL, pc, 0);
}

static void held_append(struct sim_end *src, struct sim_piece *pc)
{
	pc->next = NULL;
	if (src->held_tail != NULL)
		src->held_tail->next = pc;
	else
		src->held_head = pc;
	src->held_tail = pc;
	src->held_bytes += pc->len;
}

static void stall_arm(struct sim_net *net, struct sim_end *src,
		      enum sim_part_mode mode)
{
	if (mode == SIM_PART_DROP && src->stall_ev == NULL)
		src->stall_ev = sim_at(net->w, net->w->now_ns +
				       net->cfg.reset_after_ns, stall_fired,
				       NULL, src, 0);
	if (mode == SIM_PART_HOLD && src->stall_ev != NULL) {
		sim_cancel(net->w, src->stall_ev);
		src->stall_ev = NULL;
	}
}

static void net_send_piece(struct sim_net *net, struct sim_end *src,
			   struct sim_piece *pc)
{
	enum sim_part_mode mode;
	bool blocked = net_blocked(net, src, &mode);
	if (!blocked && src->held_head == NULL) {
		net_transmit(net, src, pc);
		return;
	}
	if (pc->type == PIECE_RST && (!blocked || mode == SIM_PART_DROP)) {
		/* A reset is not retransmitted: it is lost in a drop cut. */
		free(pc);
		return;
	}
	held_append(src, pc);
	if (pc->len > 0)
		sim_emit(net->w, TRACE_NET_HELD, src->node ? src->node->id : -1,
			 -1, src->conn->id, pc->len, NULL, NULL);
	if (blocked)
		stall_arm(net, src, mode);
}

static struct sim_piece *piece_new(struct sim_end *src, uint8_t type,
				   const void *data, size_t len)
{
	struct sim_piece *pc = sim_xcalloc(1, sizeof(*pc) + len);
	pc->conn = src->conn;
	pc->type = type;
	pc->to_side = (uint8_t)(1 - src->side);
	pc->len = (uint32_t)len;
	if (len > 0)
		memcpy(pc->data, data, len);
	return pc;
}

static void net_send_ctl(struct sim_net *net, struct sim_end *src,
			 uint8_t type)
{
	net_send_piece(net, src, piece_new(src, type, NULL, 0));
}

/* Releases what a healed direction was holding. */
static void end_release(struct sim_net *net, struct sim_end *src)
{
	enum sim_part_mode mode;
	if (src->held_head == NULL)
		return;
	if (net_blocked(net, src, &mode)) {
		stall_arm(net, src, mode);
		return;
	}
	if (src->stall_ev != NULL) {
		sim_cancel(net->w, src->stall_ev);
		src->stall_ev = NULL;
	}
	uint64_t bytes = src->held_bytes;
	struct sim_piece *pc = src->held_head;
	src->held_head = src->held_tail = NULL;
	src->held_bytes = 0;
	while (pc != NULL) {
		struct sim_piece *next = pc->next;
		net_transmit(net, src, pc);
		pc = next;
	}
	sim_emit(net->w, TRACE_NET_RELEASED, src->node ? src->node->id : -1,
		 -1, src->conn->id, (int64_t)bytes, NULL, NULL);
}

static void net_release_all(struct sim_net *net)
{
	for (uint32_t i = 0; i < net->nconns; i++) {
		end_release(net, &net->conns[i]->end[0]);
		end_release(net, &net->conns[i]->end[1]);
	}
}

void sim_net_partition(struct sim_net *net, struct sim_partition *p)
{
	net->parts = sim_xrealloc(net->parts,
				  (net->nparts + 1) * sizeof(*net->parts));
	net->parts[net->nparts++] = p;
	sim_emit(net->w, TRACE_FAULT_PARTITION, -1, -1, 0, p->mode, p->name,
		 p->text);
	net_release_all(net);   /* re-arms stalls under the new rules */
}

uint32_t sim_net_heal(struct sim_net *net, const char *name)
{
	uint32_t removed = 0;
	for (uint32_t i = 0; i < net->nparts;) {
		struct sim_partition *p = net->parts[i];
		if (name != NULL && strcmp(p->name, name) != 0) {
			i++;
			continue;
		}
		sim_emit(net->w, TRACE_FAULT_HEAL, -1, -1, 0, 0, p->name, NULL);
		sim_net_partition_free(p);
		memmove(&net->parts[i], &net->parts[i + 1],
			(net->nparts - i - 1) * sizeof(*net->parts));
		net->nparts--;
		removed++;
	}
	if (removed > 0)
		net_release_all(net);
	return removed;
}

/* -------------------------------------------------------------- resets */

static void end_poke(struct sim_end *e)
{
	if (e->env != NULL)
		sim_env_sock_poke(e->env, e->sock);
}

static void end_discard_input(struct sim_end *e)
{
	struct sim_end *peer = &e->conn->end[1 - e->side];
	ASSERT(peer->unacked >= e->rq_bytes);
	peer->unacked -= e->rq_bytes;
	pieces_free(e->rq_head);
	e->rq_head = e->rq_tail = NULL;
	e->rq_bytes = 0;
}

/* The end becomes reset: what it still had to send is dropped and its
 * timers cancelled.  What it received stays readable (as on Linux, where
 * recv returns queued data before reporting the reset). */
static void end_reset(struct sim_net *net, struct sim_end *e, const char *why)
{
	if (e->reset)
		return;
	e->reset = true;
	pieces_free(e->held_head);
	e->held_head = e->held_tail = NULL;
	e->held_bytes = 0;
	sim_cancel(net->w, e->stall_ev);
	sim_cancel(net->w, e->connect_ev);
	e->stall_ev = e->connect_ev = NULL;
	sim_emit(net->w, TRACE_NET_RESET, e->node ? e->node->id : -1,
		 e->conn->end[1 - e->side].node
			 ? e->conn->end[1 - e->side].node->id : -1,
		 e->conn->id, 0, NULL, why);
	end_poke(e);
}

static void end_connect_failed(struct sim_net *net, struct sim_end *e,
			       uint32_t kind)
{
	if (e->established || e->failed || e->reset)
		return;
	e->failed = true;
	sim_cancel(net->w, e->connect_ev);
	e->connect_ev = NULL;
	pieces_free(e->held_head);
	e->held_head = e->held_tail = NULL;
	e->held_bytes = 0;
	sim_cancel(net->w, e->stall_ev);
	e->stall_ev = NULL;
	sim_emit(net->w, kind, e->node ? e->node->id : -1, -1, e->conn->id,
		 e->conn->end[1].port, NULL, NULL);
	end_poke(e);
}

static void stall_fired(struct sim_world *w, struct sim_event *ev)
{
	struct sim_end *e = ev->p;
	e->stall_ev = NULL;
	if (!e->established) {
		/* The SYN never got through: the connect timeout decides. */
		return;
	}
	end_reset(w->net, e, "stalled in a partition");
	net_send_ctl(w->net, e, PIECE_RST);
}

static void connect_timeout_fired(struct sim_world *w, struct sim_event *ev)
{
	struct sim_end *e = ev->p;
	e->connect_ev = NULL;
	end_connect_failed(w->net, e, TRACE_NET_CONNECT_TIMEOUT);
}

void sim_net_abort(struct sim_net *net, struct sim_end *e, const char *why)
{
	e->env = NULL;
	e->sock = -1;
	end_discard_input(e);   /* nobody is left to read it */
	if (e->reset || e->failed)
		return;
	bool started = e->established || e->side == 0;
	end_reset(net, e, why);
	if (started)
		net_send_ctl(net, e, PIECE_RST);
}

uint32_t sim_net_reset_node(struct sim_net *net, struct sim_node *node,
			    const char *why)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < net->nconns; i++) {
		for (int s = 0; s < 2; s++) {
			struct sim_end *e = &net->conns[i]->end[s];
			if (e->node == node && !e->reset && !e->failed &&
			    (e->established || s == 0)) {
				sim_net_abort(net, e, why);
				n++;
			}
		}
	}
	return n;
}

static bool end_live(const struct sim_end *e)
{
	return e->established && !e->reset && !e->closed;
}

uint32_t sim_net_reset_matching(struct sim_net *net,
				const struct sim_partition *p)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < net->nconns; i++) {
		struct sim_conn *c = net->conns[i];
		if (!end_live(&c->end[0]) && !end_live(&c->end[1]))
			continue;
		if (!part_matches(p, c->end[0].node, c->end[1].node, c->kind))
			continue;
		end_reset(net, &c->end[0], "reset fault");
		end_reset(net, &c->end[1], "reset fault");
		n++;
	}
	return n;
}

/* ------------------------------------------------------------ connects */

static struct sim_conn *conn_new(struct sim_net *net, enum env_link_kind kind)
{
	struct sim_conn *c = sim_xcalloc(1, sizeof(*c));
	c->id = (int64_t)net->nconns + 1;
	c->kind = kind;
	c->opened_ns = net->w->now_ns;
	for (int s = 0; s < 2; s++) {
		c->end[s].conn = c;
		c->end[s].side = s;
		c->end[s].sock = -1;
	}
	net->conns = sim_xrealloc(net->conns,
				  (net->nconns + 1) * sizeof(*net->conns));
	net->conns[net->nconns++] = c;
	return c;
}

struct sim_end *sim_net_connect(struct sim_net *net, struct sim_node *node,
				struct sim_host *host, int port,
				enum env_link_kind kind)
{
	struct sim_conn *c = conn_new(net, kind);
	struct sim_end *e = &c->end[0], *t = &c->end[1];
	e->node = node;
	e->host = node->host;
	e->port = host_ephemeral_port(node->host);
	t->host = host;
	t->port = port;
	struct sim_listener *l = sim_net_find_listener(net, host, port);
	t->node = l != NULL ? l->node : host->primary;
	char text[96];
	snprintf(text, sizeof(text), "%s:%d", host->name, port);
	sim_emit(net->w, TRACE_NET_CONNECT, node->id, t->node ? t->node->id : -1,
		 c->id, port, NULL, text);
	e->connect_ev = sim_at(net->w, net->w->now_ns +
			       net->cfg.connect_timeout_ns,
			       connect_timeout_fired, NULL, e, 0);
	net_send_ctl(net, e, PIECE_SYN);
	return e;
}

static void syn_arrived(struct sim_net *net, struct sim_conn *c)
{
	struct sim_end *t = &c->end[1];
	struct sim_listener *l = sim_net_find_listener(net, t->host, t->port);
	if (l == NULL) {
		net_send_ctl(net, t, PIECE_RST);
		return;
	}
	if (l->nbacklog >= net->cfg.backlog)
		return;   /* SYN dropped: the connector times out */
	t->node = l->node;
	t->established = true;
	l->backlog = sim_xrealloc(l->backlog,
				  (l->nbacklog + 1) * sizeof(*l->backlog));
	l->backlog[l->nbacklog++] = t;
	int from = c->end[0].node ? c->end[0].node->id : -1;
	sim_emit(net->w, TRACE_NET_OPEN, l->node->id, from, c->id, t->port,
		 NULL, kind_names[c->kind % SIM_LINK_KINDS]);
	trace_conn(net->w->trace, c->id, kind_names[c->kind % SIM_LINK_KINDS],
		   from, l->node->id, c->end[0].port, t->port, net->w->now_ns);
	net_send_ctl(net, t, PIECE_SYNACK);
	if (l->env != NULL)
		sim_env_sock_poke(l->env, l->sock);
}

static void synack_arrived(struct sim_net *net, struct sim_end *e)
{
	if (e->closed || e->failed || e->reset) {
		net_send_ctl(net, e, PIECE_RST);
		return;
	}
	e->established = true;
	sim_cancel(net->w, e->connect_ev);
	e->connect_ev = NULL;
	end_poke(e);
}

static void rq_append(struct sim_end *e, struct sim_piece *pc)
{
	pc->next = NULL;
	if (e->rq_tail != NULL)
		e->rq_tail->next = pc;
	else
		e->rq_head = pc;
	e->rq_tail = pc;
	e->rq_bytes += pc->len;
}

static void data_arrived(struct sim_net *net, struct sim_end *e,
			 struct sim_piece *pc)
{
	struct sim_end *src = &e->conn->end[1 - e->side];
	if (e->reset || e->closed || !e->established) {
		ASSERT(src->unacked >= pc->len);
		src->unacked -= pc->len;
		free(pc);
		net_send_ctl(net, e, PIECE_RST);
		return;
	}
	sim_emit(net->w, TRACE_NET_DATA, e->node ? e->node->id : -1,
		 src->node ? src->node->id : -1, e->conn->id, pc->len, NULL,
		 NULL);
	sim_net_observe(net, src, pc->data, pc->len);
	rq_append(e, pc);
	end_poke(e);
}

static void piece_arrive(struct sim_world *w, struct sim_event *ev)
{
	struct sim_net *net = w->net;
	struct sim_piece *pc = ev->p;
	struct sim_end *e = &pc->conn->end[pc->to_side];
	switch (pc->type) {
	case PIECE_DATA:
		data_arrived(net, e, pc);
		return;
	case PIECE_SYN:
		syn_arrived(net, pc->conn);
		break;
	case PIECE_SYNACK:
		synack_arrived(net, e);
		break;
	case PIECE_FIN:
		if (!e->reset && !e->fin_in) {
			e->fin_in = true;
			sim_emit(w, TRACE_NET_FIN, e->node ? e->node->id : -1,
				 -1, e->conn->id, 0, NULL, NULL);
			end_poke(e);
		}
		break;
	case PIECE_RST:
		if (e->side == 0 && !e->established)
			end_connect_failed(net, e, TRACE_NET_REFUSED);
		else
			end_reset(net, e, "reset by peer");
		break;
	}
	free(pc);
}

/* ------------------------------------------------------ reads, writes */

unsigned sim_net_end_ready(const struct sim_net *net, const struct sim_end *e)
{
	if (e->failed || e->reset)
		return ENV_EV_READ | ENV_EV_ERROR;
	if (!e->established)
		return 0;
	unsigned r = 0;
	if (e->rq_bytes > 0 || e->fin_in)
		r |= ENV_EV_READ;
	if (e->unacked < net->cfg.window_bytes && !e->closed)
		r |= ENV_EV_WRITE;
	return r;
}

static size_t rq_take(struct sim_end *e, char *out, size_t n)
{
	size_t done = 0;
	while (done < n && e->rq_head != NULL) {
		struct sim_piece *pc = e->rq_head;
		size_t k = MIN(n - done, (size_t)(pc->len - pc->off));
		memcpy(out + done, pc->data + pc->off, k);
		pc->off += (uint32_t)k;
		done += k;
		if (pc->off == pc->len) {
			e->rq_head = pc->next;
			if (e->rq_head == NULL)
				e->rq_tail = NULL;
			free(pc);
		}
	}
	e->rq_bytes -= done;
	return done;
}

long sim_net_recv(struct sim_net *net, struct sim_end *e, void *buf,
		  size_t len)
{
	if (e->failed)
		return ENV_EREFUSED;
	if (!e->established && !e->reset)
		return ENV_EAGAIN;
	if (e->rq_bytes == 0) {
		if (e->reset)
			return ENV_ECLOSED;
		return e->fin_in ? 0 : ENV_EAGAIN;
	}
	if (len == 0)
		return 0;
	size_t n = (size_t)MIN((uint64_t)len, e->rq_bytes);
	if (n > 1 && sim_rng_chance(&net->w->rng_net, net->cfg.short_read_ppm))
		n = 1 + (size_t)sim_rng_below(&net->w->rng_net, n - 1);
	n = rq_take(e, buf, n);
	struct sim_end *peer = &e->conn->end[1 - e->side];
	bool was_full = peer->unacked >= net->cfg.window_bytes;
	ASSERT(peer->unacked >= n);
	peer->unacked -= n;
	if (was_full && peer->unacked < net->cfg.window_bytes)
		end_poke(peer);
	return (long)n;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Cuts n bytes into pieces at random boundaries and sends them. */
static void net_send_bytes(struct sim_net *net, struct sim_end *e,
			   const char *data, size_t n)
{
	uint32_t cuts[66];
	uint32_t k = 1 + (uint32_t)sim_rng_below(&net->w->rng_net,
						 MIN(net->cfg.max_pieces, 64));
	uint32_t ncuts = 0;
	for (uint32_t i = 0; i + 1 < k && n > 1; i++)
		cuts[ncuts++] = 1 + (uint32_t)sim_rng_below(&net->w->rng_net,
							    n - 1);
	cuts[ncuts++] = (uint32_t)n;
	qsort(cuts, ncuts, sizeof(cuts[0]), cmp_u32);
	uint32_t at = 0;
	for (uint32_t i = 0; i < ncuts; i++) {
		if (cuts[i] == at)
			continue;
		net_send_piece(net, e, piece_new(e, PIECE_DATA, data + at,
						 cuts[i] - at));
		at = cuts[i];
	}
}

long sim_net_send(struct sim_net *net, struct sim_end *e,
		  const struct iovec *iov, int iovcnt)
{
	if (e->failed || e->reset || e->closed)
		return ENV_ECLOSED;
	if (!e->established)
		return ENV_EAGAIN;
	if (e->unacked >= net->cfg.window_bytes)
		return ENV_EAGAIN;
	size_t room = (size_t)(net->cfg.window_bytes - e->unacked), total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	size_t n = MIN(total, room);
	if (n > 1 && sim_rng_chance(&net->w->rng_net, net->cfg.short_write_ppm))
		n = 1 + (size_t)sim_rng_below(&net->w->rng_net, n - 1);
	if (n == 0)
		return 0;
	char *flat = sim_xcalloc(1, n);
	size_t at = 0;
	for (int i = 0; i < iovcnt && at < n; i++) {
		size_t k = MIN(iov[i].iov_len, n - at);
		memcpy(flat + at, iov[i].iov_base, k);
		at += k;
	}
	e->unacked += n;
	net_send_bytes(net, e, flat, n);
	free(flat);
	return (long)n;
}

void sim_net_close(struct sim_net *net, struct sim_end *e)
{
	e->env = NULL;
	e->sock = -1;
	if (e->closed)
		return;
	e->closed = true;
	end_discard_input(e);
	if (e->reset || e->failed)
		return;
	if (e->established) {
		net_send_ctl(net, e, PIECE_FIN);
		return;
	}
	/* Still connecting: a late SYNACK is answered with RST. */
	sim_cancel(net->w, e->connect_ev);
	e->connect_ev = NULL;
}

/* ---------------------------------------------------------- invariants */

static uint64_t pieces_bytes(const struct sim_piece *p)
{
	uint64_t n = 0;
	for (; p != NULL; p = p->next)
		n += p->len - p->off;
	return n;
}

void sim_net_invariants(const struct sim_net *net)
{
	for (uint32_t i = 0; i < net->nconns; i++) {
		const struct sim_conn *c = net->conns[i];
		for (int s = 0; s < 2; s++) {
			const struct sim_end *e = &c->end[s];
			ASSERT(pieces_bytes(e->rq_head) == e->rq_bytes);
			ASSERT(pieces_bytes(e->held_head) == e->held_bytes);
			ASSERT(e->held_bytes <= e->unacked || e->reset);
			ASSERT(!(e->closed && e->rq_bytes > 0));
		}
	}
}
