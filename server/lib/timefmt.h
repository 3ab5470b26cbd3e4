/*
 * timefmt.h - time and duration text the way the reference (Go) writes it
 * in JSON: RFC 3339 with nanoseconds in UTC ("2006-01-02T15:04:05.999999999Z",
 * trailing fraction zeros dropped), Go's Duration.String ("1.5ms", "2m3s"),
 * and the monitoring "uptime" form ("1d2h3m4s").  Pure functions.
 */
#ifndef LIB_TIMEFMT_H
#define LIB_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define TIMEFMT_MAX 48

/* out needs TIMEFMT_MAX bytes; each returns the length written. */
size_t timefmt_rfc3339(int64_t unix_ns, char *out);
size_t timefmt_go_duration(int64_t ns, char *out);
size_t timefmt_uptime(int64_t ns, char *out);

#endif
