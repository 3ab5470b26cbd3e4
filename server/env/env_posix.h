/*
 * env_posix.h - the production struct env (epoll loop, real sockets and
 * files) and the loop the natsd driver runs.
 */
#ifndef ENV_POSIX_H
#define ENV_POSIX_H

#include <stdbool.h>

#include "env.h"

struct env_posix;

int env_posix_init(struct env_posix **out);
void env_posix_free(struct env_posix *p);
struct env *env_posix_env(struct env_posix *p);
/* Where log lines go (default stderr). */
void env_posix_set_log_fd(struct env_posix *p, int fd);
/* Watch an extra fd (e.g. a signalfd) for readability. */
int env_posix_watch_fd(struct env_posix *p, int fd,
		       void (*cb)(void *arg, int fd), void *arg);
/* Runs until env_posix_stop; returns 0 or a negative env_err. */
int env_posix_run(struct env_posix *p);
void env_posix_stop(struct env_posix *p);

#endif
