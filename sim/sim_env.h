/*
 * sim_env.h - struct env on the virtual world.
 *
 * One sim_env per incarnation of a node (a server process from start to
 * stop or crash, or a simulated client): it owns that incarnation's socket,
 * timer and file handle tables and its end-of-turn hooks.  Time comes from
 * the world clock through the node's monotonic origin and wall-clock
 * offset/drift, randomness from the node's own stream, sockets from the
 * virtual network and files from the node's virtual disk.
 *
 * Readiness is level-triggered like epoll: a socket whose state may have
 * changed is "poked", which schedules one callback event for its node at
 * the current time; after the callback, a socket still ready for its
 * interest is poked again.
 */
#ifndef SIM_SIM_ENV_H
#define SIM_SIM_ENV_H

#include <stdint.h>

#include "env/env.h"
#include "world.h"

struct sim_env;

typedef void (*sim_log_fn)(void *arg, struct sim_node *node, char level,
			   const char *line, size_t len);

struct sim_env *sim_env_new(struct sim_world *w, struct sim_node *node);
struct env *sim_env_env(struct sim_env *e);
struct sim_env *sim_env_from(struct env *env);
void sim_env_set_log(struct sim_env *e, sim_log_fn fn, void *arg);

/* Runs the end-of-turn hooks registered with on_turn_end. */
void sim_env_turn_end(struct sim_env *e);
/* Crash: every socket is reset (peers get RST), pending callbacks and
 * timers are dropped, and from now on sends go nowhere, file operations
 * fail and logs are dropped, so tearing the server down shows nothing. */
void sim_env_kill(struct sim_env *e);
/* Handles the incarnation still holds. */
void sim_env_open_counts(const struct sim_env *e, uint32_t *socks,
			 uint32_t *timers, uint32_t *files);
/* Frees the incarnation; sockets still open are closed (FIN), files
 * closed. */
void sim_env_free(struct sim_env *e);

/* The network's notice that sock's readiness may have changed. */
void sim_env_sock_poke(struct sim_env *e, int sock);

#endif
