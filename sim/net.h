/*
 * net.h - the virtual network: hosts, listeners and TCP-like connections.
 *
 * A connection is two ends joined by two directions.  Each direction is an
 * ordered, reliable byte stream: a send is cut into 1..max_pieces pieces at
 * random byte boundaries, each piece gets its own latency (from the link
 * kind's distribution) and transmission time (bandwidth), and pieces arrive
 * in order (an arrival is never earlier than the previous one).  A send
 * window bounds the bytes a sender may have unread by the peer, so a slow
 * reader pushes back on the writer.
 *
 * Handshake: connect sends a SYN; at the target, a listener queues the new
 * end in its backlog and answers SYNACK, no listener answers RST (refused).
 * A connect that is not answered within connect_timeout fails.  close sends
 * FIN after the data; data arriving at a closed or reset end is answered
 * with RST.  A reset end drops what it had still to send; what it had
 * received stays readable, then reads report the reset (as on Linux).
 *
 * Partitions: a rule blocks traffic between two sets of nodes (both ways or
 * one way), optionally only for some link kinds.  What a blocked direction
 * sends is held in order.  In "hold" mode it waits for the heal and is then
 * delivered; in "drop" mode the sender's end is reset when its data has
 * been stuck for reset_after (like TCP giving up on retransmissions), and a
 * heal before then delivers it late.  A held SYN makes connect time out.
 *
 * Bytes exchanged on client links are parsed on arrival with the client
 * protocol codec and recorded in the trace (PUB, SUB, MSG, -ERR...).
 */
#ifndef SIM_NET_H
#define SIM_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "env/env.h"
#include "lib/mem.h"
#include "proto/client_proto.h"
#include "world.h"

#define SIM_LINK_KINDS 5
#define SIM_HOST_IP_LEN 16

struct sim_latency {
	int64_t min_ns;
	int64_t max_ns;          /* uniform in [min, max] */
	int64_t tail_ns;         /* with probability tail_ppm add [0, tail] */
	uint32_t tail_ppm;
};

struct sim_link_cfg {
	struct sim_latency latency;
	int64_t bandwidth_bps;   /* bytes per second per direction; 0 = no limit */
};

struct sim_net_cfg {
	struct sim_link_cfg link[SIM_LINK_KINDS];  /* by enum env_link_kind */
	uint32_t window_bytes;       /* unread bytes a sender may have out */
	uint32_t max_pieces;         /* a send is cut into 1..max_pieces */
	uint32_t short_read_ppm;     /* a read returns fewer bytes */
	uint32_t short_write_ppm;    /* a send takes fewer bytes */
	int64_t connect_timeout_ns;
	int64_t reset_after_ns;      /* drop partitions: stall before reset */
	uint32_t backlog;            /* pending connections per listener */
};

struct sim_host {
	int id;
	char *name;
	char ip[SIM_HOST_IP_LEN];
	char **aliases;
	uint32_t naliases;
	struct sim_node *primary;    /* first server on the host, for routing
				      * partitions before a listener exists */
	int next_port;               /* next ephemeral port */
};

enum sim_part_mode { SIM_PART_DROP = 0, SIM_PART_HOLD = 1 };

struct sim_partition {
	char name[64];
	uint8_t *side;               /* per node id: bit 0 = in A, bit 1 = in B */
	uint32_t nside;
	bool one_way;                /* only A -> B is blocked */
	enum sim_part_mode mode;
	uint32_t kinds;              /* 1 << env_link_kind; 0 = every kind */
	char text[200];              /* description for traces and reports */
};

struct sim_piece;
struct sim_conn;

struct sim_end {
	struct sim_conn *conn;
	int side;                    /* 0 = connector, 1 = acceptor */
	struct sim_node *node;       /* owner; for side 1 before the SYN
				      * arrives: the node expected there */
	struct sim_env *env;         /* attached socket, or NULL */
	int sock;
	struct sim_host *host;
	int port;
	bool established;
	bool failed;                 /* connect failed (refused or timeout) */
	bool closed;                 /* the owner closed it (FIN sent) */
	bool fin_in;                 /* the peer's FIN arrived */
	bool reset;                  /* reset: reads and sends fail */
	struct sim_piece *rq_head, *rq_tail;  /* received, unread */
	uint64_t rq_bytes;
	uint64_t unacked;            /* sent and not yet read by the peer */
	int64_t wire_free_ns;        /* outgoing direction busy until */
	int64_t last_arrival_ns;     /* outgoing direction: order keeper */
	struct sim_piece *held_head, *held_tail;  /* outgoing, partitioned */
	uint64_t held_bytes;
	struct sim_event *stall_ev;  /* drop partition: reset at stall end */
	struct sim_event *connect_ev;  /* connector: connect timeout */
	struct cp_parser obs;        /* observer of what this end sends */
	bool obs_init, obs_dead;
};

struct sim_conn {
	int64_t id;                  /* from 1, in creation order */
	enum env_link_kind kind;
	struct sim_end end[2];
	int64_t opened_ns;
};

struct sim_listener {
	struct sim_host *host;
	int port;
	enum env_link_kind kind;
	struct sim_node *node;
	struct sim_env *env;
	int sock;
	struct sim_end **backlog;
	uint32_t nbacklog;
};

struct sim_net {
	struct sim_world *w;
	struct sim_net_cfg cfg;
	struct sim_host **hosts;
	uint32_t nhosts;
	struct sim_listener **listeners;
	uint32_t nlisteners;
	struct sim_conn **conns;
	uint32_t nconns;
	struct sim_partition **parts;
	uint32_t nparts;
	struct mem obs_mem;          /* observer parsers' scratch */
};

void sim_net_cfg_defaults(struct sim_net_cfg *cfg);
struct sim_net *sim_net_new(struct sim_world *w);
void sim_net_free(struct sim_net *net);

/* Finds or creates the host called name. */
struct sim_host *sim_net_host(struct sim_net *net, const char *name);
void sim_net_add_alias(struct sim_net *net, struct sim_host *h,
		       const char *alias);
/* Host name, alias or IP; "localhost", "127.0.0.1", "::1", "0.0.0.0" and
 * "" mean self.  NULL when unknown. */
struct sim_host *sim_net_resolve(struct sim_net *net, const char *name,
				 struct sim_host *self);

/* Returns 0 and the listener, or a negative env_err. */
int sim_net_listen(struct sim_net *net, struct sim_node *node,
		   struct sim_host *host, int port, enum env_link_kind kind,
		   struct sim_listener **out);
/* Closes a listener; connections waiting in its backlog are reset. */
void sim_net_unlisten(struct sim_net *net, struct sim_listener *l);
/* Takes the oldest connection from the backlog, or NULL. */
struct sim_end *sim_net_accept(struct sim_net *net, struct sim_listener *l);
/* The port of the listener on host:port, or NULL. */
struct sim_listener *sim_net_find_listener(struct sim_net *net,
					   const struct sim_host *host,
					   int port);

/* Starts connecting from node to host:port; never fails (an unknown port
 * is refused later, as on a real network). */
struct sim_end *sim_net_connect(struct sim_net *net, struct sim_node *node,
				struct sim_host *host, int port,
				enum env_link_kind kind);
long sim_net_recv(struct sim_net *net, struct sim_end *e, void *buf,
		  size_t len);
long sim_net_send(struct sim_net *net, struct sim_end *e,
		  const struct iovec *iov, int iovcnt);
/* The owner closes its end (FIN after the data). */
void sim_net_close(struct sim_net *net, struct sim_end *e);
/* The owner vanishes (crash): RST to the peer. */
void sim_net_abort(struct sim_net *net, struct sim_end *e, const char *why);
/* ENV_EV_* bits the end is ready for. */
unsigned sim_net_end_ready(const struct sim_net *net, const struct sim_end *e);

/* Partitions: takes p; a heal releases held traffic.  heal(NULL) heals
 * all; returns the number removed. */
void sim_net_partition(struct sim_net *net, struct sim_partition *p);
uint32_t sim_net_heal(struct sim_net *net, const char *name);
struct sim_partition *sim_net_partition_new(struct sim_net *net,
					    const char *name);
void sim_net_partition_free(struct sim_partition *p);
/* Resets every live connection matching the selector p (not installed). */
uint32_t sim_net_reset_matching(struct sim_net *net,
				const struct sim_partition *p);
/* Resets every live connection of node in either direction. */
uint32_t sim_net_reset_node(struct sim_net *net, struct sim_node *node,
			    const char *why);

/* Checks the accounting of every connection (tests, paranoid runs). */
void sim_net_invariants(const struct sim_net *net);

#endif
