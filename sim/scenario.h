/*
 * scenario.h - a scenario file (YAML, see docs/scenarios.md) loaded and
 * validated: servers with their parsed nats-server configs, network
 * settings, clients with workloads, a timeline of steps and expectations.
 *
 * Loading checks everything it can before a run: unknown keys, bad
 * values, names that do not exist, config files that do not parse; each
 * error names the file, line and column.
 */
#ifndef SIM_SCENARIO_H
#define SIM_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>

#include "client.h"
#include "core/opts.h"
#include "disk.h"
#include "lib/mem.h"
#include "net.h"

struct sc_server {
	char *name;
	char *host;                  /* virtual host (default: name) */
	char **aliases;
	uint32_t naliases;
	char *config_file;           /* as resolved, or NULL */
	char *config_text;           /* inline config, or NULL */
	char **env_names, **env_values;
	uint32_t nenv;
	int64_t clock_offset_ns;
	int32_t drift_ppm;
	struct sim_disk_faults disk;
	bool start;                  /* start at t=0 */
	int line;
};

struct sc_client {
	struct sim_client_cfg cfg;
	int line;
};

enum sc_cond_kind {
	SC_COND_RECEIVED = 1,        /* a client's subscription(s) got N */
	SC_COND_DELIVERED,           /* all of a stream, once, in order */
	SC_COND_QUEUE,               /* each of a stream to exactly one member */
	SC_COND_ERROR,               /* -ERR containing a text */
	SC_COND_CLOSED,              /* connections closed by the server */
	SC_COND_CONNECTED,           /* the client is connected now */
	SC_COND_RECONNECTS,
	SC_COND_PUBLISHED,
	SC_COND_REPLIES,
	SC_COND_TIMEOUTS,
	SC_COND_NO_RESPONDERS,
	SC_COND_REPLY_JSON,          /* a field of the last reply */
	SC_COND_REPLY,               /* the last reply's text */
	SC_COND_SERVER,              /* running, connections, subscriptions */
	SC_COND_STORED,              /* acknowledged JetStream publishes are
				      * stored (a verify step's read-back) */
	SC_COND_ACKED,               /* JetStream publishes acknowledged */
	SC_COND_PUB_ERRORS,          /* JetStream publishes answered with an
				      * error */
	SC_COND_PUB_TIMEOUTS,        /* JetStream publishes without answer */
	SC_COND_LOG,                 /* a server's log lines containing text */
	SC_COND_SAME_JSON,           /* one field of two last replies agrees */
	SC_COND_ALL,
	SC_COND_ANY,
	SC_COND_NOT,
};

/* Counts: exact, at least, at most (each optional). */
struct sc_range {
	bool has_eq, has_min, has_max;
	int64_t eq, min, max;
};

struct sc_cond {
	enum sc_cond_kind kind;
	int line;
	char *client;                /* client name */
	char *server;                /* server name */
	char *subject;               /* subscription subject filter */
	char *from;                  /* publisher stream */
	char **members;              /* delivered.to / queue.members /
				      * received.ids */
	uint32_t nmembers;
	char *request;               /* request name */
	char *client_b;              /* same_json: the second reply's client
				      * (NULL: client) */
	char *request_b;             /* same_json: the second request */
	char *contains;              /* error text */
	char *field;                 /* reply_json: dotted path */
	char *equals;                /* reply_json: expected scalar */
	bool has_running, running;
	struct sc_range count;       /* the kind's main number */
	struct sc_range conns, subs; /* server: */
	bool exists;                 /* reply_json: field must exist */
	char *js_stream;             /* stored: the JetStream stream */
	int64_t lost_max;            /* stored: acked but missing allowed */
	int64_t errors_stored_max;   /* stored: error answers stored anyway
				      * allowed; -1 = any number */
	struct sc_cond *sub;         /* all/any: array; not: one */
	uint32_t nsub;
	char text[200];              /* how it reads in reports */
};

struct sc_expect {
	struct sc_cond cond;
	int64_t within_ns;           /* -1: not "eventually" */
	int64_t at_ns;               /* -1: at the end (or at its step) */
	int line;
};

enum sc_action {
	SC_ACT_START = 1, SC_ACT_STOP, SC_ACT_CRASH, SC_ACT_RESTART,
	SC_ACT_PAUSE, SC_ACT_RESUME, SC_ACT_WIPE, SC_ACT_PARTITION,
	SC_ACT_HEAL, SC_ACT_RESET, SC_ACT_NETWORK, SC_ACT_CLOCK, SC_ACT_DISK,
	SC_ACT_PUBLISH, SC_ACT_REQUEST, SC_ACT_SUBSCRIBE, SC_ACT_UNSUBSCRIBE,
	SC_ACT_SEND, SC_ACT_CONNECT, SC_ACT_DISCONNECT, SC_ACT_EXPECT,
	SC_ACT_LOG, SC_ACT_END, SC_ACT_HTTP, SC_ACT_VERIFY, SC_ACT_RELOAD,
	SC_ACT_REPLY_TO,
};

/* A config file replaced on a server's machine (reload step): a file the
 * config reads whose path, as resolved from the including file, is key or
 * ends in "/key" is read from path instead. */
struct sc_file_subst {
	char *key;
	char *path;                  /* resolved from the scenario's folder */
};

/* Which connections a partition or reset applies to. */
struct sc_sel {
	char *name;
	char **a, **b;               /* node names; b NULL with isolate */
	uint32_t na, nb;
	bool isolate;                /* a against every other node */
	bool all;                    /* every pair (usually with kinds) */
	uint32_t kinds;              /* 1 << env_link_kind; 0 = all */
	bool one_way;                /* only a -> b */
	enum sim_part_mode mode;
};

/* A partial change of network settings. */
struct sc_netset {
	struct sim_net_cfg cfg;      /* values */
	bool link_latency[SIM_LINK_KINDS];
	bool link_bandwidth[SIM_LINK_KINDS];
	bool window, max_pieces, short_reads, short_writes;
	bool connect_timeout, reset_after, backlog;
};

struct sc_diskset {
	uint32_t bitflips;
	char *file;
	struct sim_disk_faults faults;
	bool read_error, write_error, short_read, short_write, sync_error;
	bool capacity, full;
};

struct sc_step {
	int64_t at_ns;               /* -1 when it waits for a condition */
	struct sc_cond *after;
	int64_t delay_ns;
	enum sc_action act;
	char *target;                /* server or client name */
	struct sc_sel sel;
	struct sc_netset net;
	int64_t clock_step_ns;
	int32_t drift_ppm;
	bool has_drift;
	struct sc_diskset disk;
	char *subject, *reply, *queue, *payload, *name;
	size_t payload_len;
	char *http_server;           /* http: the server asked */
	int64_t http_port;           /* http: 0 = the server's monitoring port */
	char *js_stream;             /* verify: the JetStream stream read */
	char *from;                  /* verify: the identity prefix */
	struct sc_file_subst *files; /* reload: replaced config files */
	uint32_t nfiles;
	int64_t count;
	int64_t timeout_ns;
	struct sc_expect *expects;
	uint32_t nexpects;
	char text[200];              /* how it reads in reports */
	int line;
};

struct scenario {
	char *file;
	char *dir;
	char *name;
	char *description;
	uint64_t seed;
	int64_t duration_ns;
	struct sc_netset net;
	struct sc_server *servers;
	uint32_t nservers;
	struct sc_client *clients;
	uint32_t nclients;
	struct sc_step *steps;
	uint32_t nsteps;
	struct sc_expect *expects;
	uint32_t nexpects;
};

/* Returns 0, or -1 with "file:line:col: what" in err. */
int scenario_load(struct scenario *s, const char *path, char *err,
		  size_t cap);
/* The same from text in memory (path names it in errors and is the base
 * of relative config paths); text NULL reads the file. */
int scenario_load_text(struct scenario *s, const char *path, const char *text,
		       size_t len, char *err, size_t cap);
void scenario_free(struct scenario *s);
/* Parses server i's config into fresh opts (each run owns its copy). */
int scenario_server_opts(const struct scenario *s, uint32_t i,
			 struct opts *o, struct mem *m, char *err,
			 size_t cap);
/* The same, with files of the config replaced (later entries win). */
int scenario_server_opts_files(const struct scenario *s, uint32_t i,
			       const struct sc_file_subst *files,
			       uint32_t nfiles, struct opts *o, struct mem *m,
			       char *err, size_t cap);
/* Whether a file the config reads at path is replaced by subst. */
bool scenario_file_matches(const struct sc_file_subst *subst,
			   const char *path);
/* Applies a partial network setting to cfg. */
void scenario_netset_apply(const struct sc_netset *ns,
			   struct sim_net_cfg *cfg);

int scenario_find_server(const struct scenario *s, const char *name);
int scenario_find_client(const struct scenario *s, const char *name);
const char *scenario_link_kind_name(int kind);

#endif
