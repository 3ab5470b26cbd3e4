/*
 * js_monitor.h - JetStream's part of the monitoring endpoints: /jsz (and
 * $SYS.REQ.SERVER.PING.JSZ), the "jetstream" object of /varz and of the
 * STATSZ stats, JetStream's /healthz checks and its Prometheus figures.
 *
 * Shapes follow nats-server 2.9.10 (monitor.go: JSInfo, AccountDetail,
 * StreamDetail, JetStreamVarz): key names, order and omitted-when-empty
 * fields.  Everything here only reads JetStream state through the js/
 * headers; nothing changes.  Output never depends on hash order: accounts
 * are listed by name, streams in their account's (sorted) order.
 */
#ifndef JS_MONITOR_H
#define JS_MONITOR_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/monitor.h"
#include "../lib/buf.h"
#include "../lib/json.h"

struct server;

/* The server-wide figures of /jsz and of varz's "stats". */
struct js_monitor_totals {
	uint64_t memory_bytes;         /* stored in memory streams */
	uint64_t storage_bytes;        /* stored in file streams */
	uint64_t reserved_memory_bytes;/* max_bytes of memory streams */
	uint64_t reserved_storage_bytes;
	uint64_t accounts;             /* accounts with JetStream enabled */
	uint64_t api_total, api_errors;
	uint64_t streams, consumers, messages, bytes;
};

/* Sums the figures over every JetStream-enabled account; all zero when
 * JetStream is off. */
void js_monitor_totals(const struct server *s, struct js_monitor_totals *t);

/* The /jsz object while JetStream runs (the caller answers the disabled
 * form itself).  -1 with err when the options are refused. */
int js_monitor_write_jsz(struct server *s, struct jw *w,
			 const struct monitor_opts *o, struct buf *err);

/* The value of varz's "jetstream" key: {} when JetStream is off, else
 * {"config":{...},"stats":{...}}.  for_statsz leaves out store_dir, as the
 * reference does in its STATSZ events. */
void js_monitor_write_varz(const struct server *s, struct jw *w,
			   bool for_statsz);

/* JetStream's health: NULL when healthy, else the error text, with
 * *status set to the reference's status word ("unavailable").  Healthy
 * when JetStream is not configured. */
const char *js_monitor_health(const struct server *s,
			      const struct monitor_opts *o,
			      const char **status);

/* JetStream's Prometheus figures (server totals, then one set per stream),
 * named as prometheus-nats-exporter's jsz collector names them.  Nothing
 * when JetStream is off apart from jetstream_server_jetstream_disabled. */
void js_monitor_write_metrics(const struct server *s, struct buf *out);

#endif
