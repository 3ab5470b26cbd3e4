/*
 * log.h - log lines in the reference's style:
 *   [pid] 2006/01/02 15:04:05.000000 [INF] message
 * formatted here and handed to env->log; time from the env's wall clock
 * (UTC).
 */
#ifndef CORE_LOG_H
#define CORE_LOG_H

#include <stdbool.h>

#include "../env/env.h"

enum log_level {
	LOG_FATAL = 0,
	LOG_ERROR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
	LOG_TRACE,
};

struct log {
	struct env *env;
	const char *prefix;   /* borrowed, e.g. "[1234] " */
	bool debug;
	bool trace;
	bool logtime;
};

void log_init(struct log *l, struct env *env, const char *prefix);
void log_msg(struct log *l, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool log_enabled(const struct log *l, enum log_level level);

#define LOGF(l, ...) log_msg((l), LOG_FATAL, __VA_ARGS__)
#define LOGE(l, ...) log_msg((l), LOG_ERROR, __VA_ARGS__)
#define LOGW(l, ...) log_msg((l), LOG_WARN, __VA_ARGS__)
#define LOGI(l, ...) log_msg((l), LOG_INFO, __VA_ARGS__)
#define LOGD(l, ...) do { if ((l)->debug) log_msg((l), LOG_DEBUG, __VA_ARGS__); } while (0)
#define LOGT(l, ...) do { if ((l)->trace) log_msg((l), LOG_TRACE, __VA_ARGS__); } while (0)

#endif
