/*
 * world.c - virtual clock, event queue and nodes; see world.h.
 *
 * The queue is a binary min-heap of event pointers keyed by (time, seq);
 * each event knows its heap position so it can be cancelled in O(log n).
 * Event memory comes from slabs recycled through a free list, so no
 * ordering ever depends on an address.
 *
 * Invariants: an event is in exactly one of: the heap (heap_index valid),
 * a node's deferred list (deferred), the free list, or being dispatched.
 */
#include "world.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/assert.h"

#define SLAB_EVENTS 1024
/* This many events in a row at one instant means nothing can make
 * progress (e.g. a socket reported ready forever): a livelock. */
#define LIVELOCK_EVENTS 20000000
#define TURN_BATCH_MAX 64

void *sim_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL) {
		fputs("sim: out of memory\n", stderr);
		abort();
	}
	return p;
}

void *sim_xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);
	if (q == NULL) {
		fputs("sim: out of memory\n", stderr);
		abort();
	}
	return q;
}

char *sim_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = sim_xcalloc(1, n);
	memcpy(d, s, n);
	return d;
}

struct sim_world *sim_world_new(uint64_t seed, struct trace *trace)
{
	struct sim_world *w = sim_xcalloc(1, sizeof(*w));
	w->seed = seed;
	w->trace = trace;
	sim_rng_init(&w->rng_net, seed, "net");
	sim_rng_init(&w->rng_disk, seed, "disk");
	sim_rng_init(&w->rng_faults, seed, "faults");
	sim_rng_init(&w->rng_clients, seed, "clients");
	return w;
}

void sim_world_free(struct sim_world *w)
{
	if (w == NULL)
		return;
	for (uint32_t i = 0; i < w->nslabs; i++)
		free(w->slabs[i]);
	free(w->slabs);
	free(w->heap);
	for (uint32_t i = 0; i < w->nnodes; i++)
		free(w->nodes[i]);
	free(w->nodes);
	free(w);
}

/* --------------------------------------------------------------- nodes */

struct sim_node *sim_node_add(struct sim_world *w, const char *name,
			      enum sim_role role)
{
	struct sim_node *n = sim_xcalloc(1, sizeof(*n));
	n->id = (int)w->nnodes;
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->role = role;
	char stream[96];
	snprintf(stream, sizeof(stream), "node:%s", name);
	sim_rng_init(&n->rng, w->seed, stream);
	/* Monotonic clocks start at an arbitrary point, as on real hosts. */
	n->mono_origin_ns = (int64_t)(sim_rng_below(&n->rng, 1000000) + 1) *
			    SIM_NS_PER_SEC;
	n->wall_base_ns = SIM_EPOCH_NS;
	w->nodes = sim_xrealloc(w->nodes, (w->nnodes + 1) * sizeof(*w->nodes));
	w->nodes[w->nnodes++] = n;
	trace_node(w->trace, n->id, n->name,
		   role == SIM_ROLE_SERVER ? "server" : "client");
	return n;
}

struct sim_node *sim_node_find(const struct sim_world *w, const char *name)
{
	for (uint32_t i = 0; i < w->nnodes; i++)
		if (strcmp(w->nodes[i]->name, name) == 0)
			return w->nodes[i];
	return NULL;
}

int64_t sim_node_mono(const struct sim_world *w, const struct sim_node *n)
{
	return n->mono_origin_ns + w->now_ns;
}

int64_t sim_node_wall(const struct sim_world *w, const struct sim_node *n)
{
	__int128 el = w->now_ns - n->wall_at_ns;
	__int128 d = el * (1000000 + (__int128)n->drift_ppm) / 1000000;
	return n->wall_base_ns + (int64_t)d;
}

void sim_node_set_clock(struct sim_world *w, struct sim_node *n,
			int64_t step_ns, int32_t drift_ppm)
{
	n->wall_base_ns = sim_node_wall(w, n) + step_ns;
	n->wall_at_ns = w->now_ns;
	n->drift_ppm = drift_ppm;
}

/* ---------------------------------------------------------------- heap */

static bool ev_less(const struct sim_event *a, const struct sim_event *b)
{
	if (a->time_ns != b->time_ns)
		return a->time_ns < b->time_ns;
	return a->seq < b->seq;
}

static void heap_put(struct sim_world *w, uint32_t i, struct sim_event *ev)
{
	w->heap[i] = ev;
	ev->heap_index = i;
}

static void heap_up(struct sim_world *w, uint32_t i)
{
	struct sim_event *ev = w->heap[i];
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (!ev_less(ev, w->heap[parent]))
			break;
		heap_put(w, i, w->heap[parent]);
		i = parent;
	}
	heap_put(w, i, ev);
}

static void heap_down(struct sim_world *w, uint32_t i)
{
	struct sim_event *ev = w->heap[i];
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		struct sim_event *best = ev;
		if (l < w->heap_len && ev_less(w->heap[l], best)) {
			m = l;
			best = w->heap[l];
		}
		if (r < w->heap_len && ev_less(w->heap[r], best)) {
			m = r;
			best = w->heap[r];
		}
		if (m == i)
			break;
		heap_put(w, i, best);
		i = m;
	}
	heap_put(w, i, ev);
}

static void heap_push(struct sim_world *w, struct sim_event *ev)
{
	if (w->heap_len == w->heap_cap) {
		w->heap_cap = w->heap_cap ? w->heap_cap * 2 : 1024;
		w->heap = sim_xrealloc(w->heap, w->heap_cap * sizeof(*w->heap));
	}
	heap_put(w, w->heap_len++, ev);
	heap_up(w, ev->heap_index);
}

static void heap_remove(struct sim_world *w, struct sim_event *ev)
{
	uint32_t i = ev->heap_index;
	ASSERT(i < w->heap_len && w->heap[i] == ev);
	ev->heap_index = SIM_NOT_QUEUED;
	w->heap_len--;
	if (i == w->heap_len)
		return;
	struct sim_event *moved = w->heap[w->heap_len];
	heap_put(w, i, moved);
	heap_down(w, i);
	heap_up(w, moved->heap_index);
}

/* -------------------------------------------------------------- events */

static struct sim_event *ev_alloc(struct sim_world *w)
{
	if (w->free_events == NULL) {
		struct sim_event *slab = sim_xcalloc(SLAB_EVENTS, sizeof(*slab));
		w->slabs = sim_xrealloc(w->slabs,
					(w->nslabs + 1) * sizeof(*w->slabs));
		w->slabs[w->nslabs++] = slab;
		for (int i = SLAB_EVENTS - 1; i >= 0; i--) {
			slab[i].next = w->free_events;
			w->free_events = &slab[i];
		}
	}
	struct sim_event *ev = w->free_events;
	w->free_events = ev->next;
	memset(ev, 0, sizeof(*ev));
	ev->heap_index = SIM_NOT_QUEUED;
	return ev;
}

static void ev_release(struct sim_world *w, struct sim_event *ev)
{
	ASSERT(ev->heap_index == SIM_NOT_QUEUED && !ev->deferred);
	ev->fn = NULL;
	ev->next = w->free_events;
	w->free_events = ev;
}

struct sim_event *sim_at(struct sim_world *w, int64_t at_ns, sim_event_fn fn,
			 struct sim_node *node, void *p, int64_t a)
{
	struct sim_event *ev = ev_alloc(w);
	ev->time_ns = at_ns < w->now_ns ? w->now_ns : at_ns;
	ev->seq = w->seq++;
	ev->fn = fn;
	ev->node = node;
	ev->node_gen = node ? node->gen : 0;
	ev->p = p;
	ev->a = a;
	heap_push(w, ev);
	return ev;
}

static void deferred_unlink(struct sim_node *n, struct sim_event *ev)
{
	if (ev->prev != NULL)
		ev->prev->next = ev->next;
	else
		n->deferred_head = ev->next;
	if (ev->next != NULL)
		ev->next->prev = ev->prev;
	else
		n->deferred_tail = ev->prev;
	ev->next = ev->prev = NULL;
	ev->deferred = false;
	n->ndeferred--;
}

void sim_cancel(struct sim_world *w, struct sim_event *ev)
{
	if (ev == NULL)
		return;
	if (ev->deferred)
		deferred_unlink(ev->node, ev);
	else if (ev->heap_index != SIM_NOT_QUEUED)
		heap_remove(w, ev);
	ev_release(w, ev);
}

static void deferred_push(struct sim_node *n, struct sim_event *ev)
{
	ev->deferred = true;
	ev->next = NULL;
	ev->prev = n->deferred_tail;
	if (n->deferred_tail != NULL)
		n->deferred_tail->next = ev;
	else
		n->deferred_head = ev;
	n->deferred_tail = ev;
	n->ndeferred++;
}

void sim_node_pause(struct sim_world *w, struct sim_node *n)
{
	UNUSED(w);
	n->paused = true;
}

uint32_t sim_node_resume(struct sim_world *w, struct sim_node *n)
{
	uint32_t count = 0;
	n->paused = false;
	/* Parked events run now, in the order they were due. */
	while (n->deferred_head != NULL) {
		struct sim_event *ev = n->deferred_head;
		deferred_unlink(n, ev);
		ev->time_ns = w->now_ns;
		ev->seq = w->seq++;
		heap_push(w, ev);
		count++;
	}
	return count;
}

void sim_node_new_gen(struct sim_world *w, struct sim_node *n)
{
	n->gen++;
	while (n->deferred_head != NULL) {
		struct sim_event *ev = n->deferred_head;
		deferred_unlink(n, ev);
		ev_release(w, ev);
	}
}

void sim_node_turn_end(struct sim_node *n)
{
	if (n->turn_end != NULL && !n->paused)
		n->turn_end(n);
}

/* ------------------------------------------------------------ dispatch */

static struct sim_event *heap_pop(struct sim_world *w)
{
	struct sim_event *ev = w->heap[0];
	heap_remove(w, ev);
	return ev;
}

/* Runs ev; returns false when it was dropped or parked instead. */
static bool dispatch_one(struct sim_world *w, struct sim_event *ev)
{
	struct sim_node *n = ev->node;
	if (n != NULL && ev->node_gen != n->gen) {
		ev_release(w, ev);
		return false;
	}
	if (n != NULL && n->paused) {
		deferred_push(n, ev);
		return false;
	}
	w->dispatched++;
	ev->fn(w, ev);
	ev_release(w, ev);
	return true;
}

static bool same_batch(const struct sim_world *w, const struct sim_node *n)
{
	if (w->heap_len == 0)
		return false;
	const struct sim_event *top = w->heap[0];
	return top->node == n && top->time_ns == w->now_ns &&
	       top->node_gen == n->gen && !n->paused;
}

static void note_time(struct sim_world *w, int64_t t)
{
	if (t == w->now_ns) {
		if (++w->same_time_run > LIVELOCK_EVENTS)
			sim_fail(w, "livelock: more than %d events at t=%lld ns",
				 LIVELOCK_EVENTS, (long long)t);
		return;
	}
	ASSERT(t > w->now_ns);
	w->now_ns = t;
	w->same_time_run = 0;
}

bool sim_step(struct sim_world *w, int64_t until_ns)
{
	if (w->heap_len == 0 || w->heap[0]->time_ns > until_ns || w->stop)
		return false;
	struct sim_event *ev = heap_pop(w);
	note_time(w, ev->time_ns);
	struct sim_node *n = ev->node;
	if (!dispatch_one(w, ev))
		return true;
	if (n != NULL) {
		for (int i = 1; i < TURN_BATCH_MAX && same_batch(w, n); i++) {
			note_time(w, w->now_ns);
			dispatch_one(w, heap_pop(w));
		}
		sim_node_turn_end(n);
	}
	if (w->after_step != NULL)
		w->after_step(w->after_step_arg);
	return true;
}

void sim_run_until(struct sim_world *w, int64_t until_ns)
{
	while (!w->stop && sim_step(w, until_ns))
		;
	if (!w->stop && until_ns > w->now_ns)
		w->now_ns = until_ns;
}

/* --------------------------------------------------------------- trace */

void sim_emit(struct sim_world *w, uint32_t kind, int node, int peer,
	      int64_t conn, int64_t value, const char *subject,
	      const char *text)
{
	struct trace_event ev = {
		.t_ns = w->now_ns, .kind = kind, .node = node, .peer = peer,
		.conn = conn, .value = value, .subject = subject, .text = text,
	};
	trace_emit(w->trace, &ev);
}

void sim_fail(struct sim_world *w, const char *fmt, ...)
{
	w->stop = true;
	if (w->failure[0] != '\0')
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->failure, sizeof(w->failure), fmt, ap);
	va_end(ap);
}
