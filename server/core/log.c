/*
 * log.c - formats log lines; see log.h.  Civil time is computed from the
 * env's wall clock without the OS (days-from-epoch arithmetic), in UTC.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

void log_init(struct log *l, struct env *env, const char *prefix)
{
	l->env = env;
	l->prefix = prefix ? prefix : "";
	l->debug = false;
	l->trace = false;
	l->logtime = true;
}

bool log_enabled(const struct log *l, enum log_level level)
{
	if (level == LOG_DEBUG)
		return l->debug;
	if (level == LOG_TRACE)
		return l->trace;
	return true;
}

/* Howard Hinnant's civil_from_days. */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yy + (*m <= 2));
}

static const char *const level_tags[] = {
	"[FTL]", "[ERR]", "[WRN]", "[INF]", "[DBG]", "[TRC]",
};

void log_msg(struct log *l, enum log_level level, const char *fmt, ...)
{
	if (!log_enabled(l, level))
		return;
	char line[4096];
	int n = snprintf(line, sizeof(line), "%s", l->prefix);
	if (l->logtime) {
		int64_t ns = env_now_wall_ns(l->env);
		int64_t secs = ns / 1000000000, us = (ns % 1000000000) / 1000;
		int64_t days = secs / 86400, rem = secs % 86400;
		int y, mo, d;
		civil_from_days(days, &y, &mo, &d);
		n += snprintf(line + n, sizeof(line) - (size_t)n,
			      "%04d/%02d/%02d %02d:%02d:%02d.%06d ", y, mo, d,
			      (int)(rem / 3600), (int)(rem / 60 % 60),
			      (int)(rem % 60), (int)us);
	}
	n += snprintf(line + n, sizeof(line) - (size_t)n, "%s ",
		      level_tags[level]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m > 0 ? (size_t)m : 0);
	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	static const char letters[] = "FEWIDT";
	l->env->log(l->env, letters[level], line, len);
}
