/*
 * world.h - the simulated world: one virtual clock, one event queue, the
 * run's random streams and the nodes (server processes and clients).
 *
 * Time only moves when the next event is taken from the queue: the clock
 * jumps to its time.  Events are ordered by (time, sequence number), the
 * sequence being the order in which they were scheduled, so equal times
 * never depend on anything but the run itself.
 *
 * An event may target a node.  Such an event is dropped when the node has
 * restarted or crashed since it was scheduled (its generation changed) and
 * parked while the node is paused; after a batch of a node's events (same
 * node, same time) the node's turn-end function runs (the env's end-of-turn
 * hooks, then the invariants).  Events without a node are the world's own
 * (packet arrivals, timeline steps) and run no server code directly.
 */
#ifndef SIM_WORLD_H
#define SIM_WORLD_H

#include <stdbool.h>
#include <stdint.h>

#include "rng.h"
#include "trace.h"

#define SIM_NOT_QUEUED UINT32_MAX
#define SIM_NS_PER_SEC 1000000000LL
/* 2024-01-01T00:00:00Z: the wall clock of every node starts here plus its
 * own offset, never from the host's clock. */
#define SIM_EPOCH_NS (1704067200LL * SIM_NS_PER_SEC)

struct sim_world;
struct sim_node;
struct sim_event;
struct sim_env;
struct sim_disk;
struct sim_host;

typedef void (*sim_event_fn)(struct sim_world *w, struct sim_event *ev);

struct sim_event {
	int64_t time_ns;
	uint64_t seq;              /* scheduling order: the tie-breaker */
	sim_event_fn fn;
	struct sim_node *node;     /* target process or NULL */
	uint32_t node_gen;         /* node->gen when scheduled */
	uint32_t heap_index;       /* SIM_NOT_QUEUED when not in the heap */
	bool deferred;             /* parked on a paused node */
	void *p;                   /* payload for fn */
	int64_t a;                 /* payload for fn */
	struct sim_event *next;    /* free list or deferred list */
	struct sim_event *prev;    /* deferred list */
};

enum sim_role { SIM_ROLE_SERVER = 0, SIM_ROLE_CLIENT = 1 };

struct sim_node {
	int id;                    /* index in the world, trace node id */
	char name[64];
	enum sim_role role;
	struct sim_host *host;     /* where it lives on the network */
	struct sim_env *env;       /* current incarnation; NULL when down */
	uint32_t gen;              /* bumped at every stop, crash and start */
	bool paused;
	struct sim_event *deferred_head, *deferred_tail;
	uint32_t ndeferred;
	struct sim_rng rng;        /* the node's random_fill stream */
	int64_t mono_origin_ns;    /* monotonic clock = origin + world time */
	/* wall = wall_base_ns + (now - wall_at_ns) * (1e6 + drift_ppm) / 1e6 */
	int64_t wall_base_ns;
	int64_t wall_at_ns;
	int32_t drift_ppm;
	struct sim_disk *disk;     /* servers only */
	void *owner;               /* struct sim_proc or struct sim_client */
	/* after a batch of this node's events; NULL = nothing */
	void (*turn_end)(struct sim_node *n);
};

struct sim_world {
	int64_t now_ns;
	uint64_t seq;
	uint64_t dispatched;       /* events run (the report's count) */
	uint64_t seed;
	struct sim_event **heap;
	uint32_t heap_len, heap_cap;
	struct sim_event *free_events;
	struct sim_event **slabs;  /* event memory, freed with the world */
	uint32_t nslabs;
	struct sim_node **nodes;
	uint32_t nnodes;
	struct sim_net *net;
	struct trace *trace;
	struct sim_rng rng_net, rng_disk, rng_faults, rng_clients;
	int64_t same_time_run;     /* events in a row at one time (livelock) */
	bool stop;                 /* set to end the run early */
	char failure[512];         /* first fatal problem ("" = none) */
	/* runs after every dispatched event (checks, conditions) */
	void (*after_step)(void *arg);
	void *after_step_arg;
};

struct sim_world *sim_world_new(uint64_t seed, struct trace *trace);
void sim_world_free(struct sim_world *w);

struct sim_node *sim_node_add(struct sim_world *w, const char *name,
			      enum sim_role role);
struct sim_node *sim_node_find(const struct sim_world *w, const char *name);

static inline int64_t sim_now(const struct sim_world *w) { return w->now_ns; }

/* Schedules fn at time at_ns (clamped to now).  With a node, the event is
 * bound to the node's current generation. */
struct sim_event *sim_at(struct sim_world *w, int64_t at_ns, sim_event_fn fn,
			 struct sim_node *node, void *p, int64_t a);
/* Removes a scheduled or parked event and frees it. */
void sim_cancel(struct sim_world *w, struct sim_event *ev);

/* Runs the next batch if it is due at or before until_ns.  Returns false
 * when nothing was due (the clock then stays). */
bool sim_step(struct sim_world *w, int64_t until_ns);
/* Runs until until_ns (the clock ends there) or until w->stop. */
void sim_run_until(struct sim_world *w, int64_t until_ns);
/* Runs the turn end of n now (after world code called into n). */
void sim_node_turn_end(struct sim_node *n);

void sim_node_pause(struct sim_world *w, struct sim_node *n);
/* Returns the number of parked events put back in the queue. */
uint32_t sim_node_resume(struct sim_world *w, struct sim_node *n);
/* A new incarnation: events bound to the old one are dropped. */
void sim_node_new_gen(struct sim_world *w, struct sim_node *n);

int64_t sim_node_mono(const struct sim_world *w, const struct sim_node *n);
int64_t sim_node_wall(const struct sim_world *w, const struct sim_node *n);
/* Steps the wall clock by step_ns and sets the drift from now on. */
void sim_node_set_clock(struct sim_world *w, struct sim_node *n,
			int64_t step_ns, int32_t drift_ppm);

void sim_emit(struct sim_world *w, uint32_t kind, int node, int peer,
	      int64_t conn, int64_t value, const char *subject,
	      const char *text);
/* Records the first fatal problem and stops the run. */
void sim_fail(struct sim_world *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Allocation that cannot fail (the simulator aborts when out of memory). */
void *sim_xcalloc(size_t n, size_t size);
void *sim_xrealloc(void *p, size_t size);
char *sim_xstrdup(const char *s);

#endif
