/*
 * opts.h - server options: defaults, the command line's overrides and the
 * mapping from a parsed config file (struct conf_doc) to typed fields.
 *
 * Every option the reference nats-server 2.9.10 knows is recognised.  Those
 * this server does not implement yet are collected in `unsupported` (with
 * file and line) so start-up can report them instead of silently ignoring
 * them; unknown options are errors naming file, line and key, as in the
 * reference.  All durations are nanoseconds, sizes bytes.
 */
#ifndef CORE_OPTS_H
#define CORE_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "../lib/mem.h"
#include "conf.h"

/* Publish/subscribe allow and deny lists (subjects; "subj queue" entries
 * for queue permissions). */
struct opts_subject_list {
	char **items;
	size_t n;
};

struct opts_perm {
	struct opts_subject_list allow;
	struct opts_subject_list deny;
	bool set;                      /* the block was present */
	bool allow_set;                /* allow applies: with n == 0 nothing is
					* allowed (allow_responses without a
					* publish allow list, as the reference) */
};

struct opts_permissions {
	struct opts_perm publish;
	struct opts_perm subscribe;
	bool allow_responses;          /* response permission enabled */
	int64_t responses_max;         /* default 1 */
	int64_t responses_expires_ns;  /* default 2 minutes */
	bool set;
};

struct opts_user {
	char *user;                    /* user name, or NULL for nkey users */
	char *password;                /* plain or bcrypt ("$2a$..."), or NULL */
	char *nkey;                    /* public nkey, or NULL */
	char *account;                 /* account name it belongs to (NULL = $G) */
	struct opts_permissions perms;
	char **allowed_connection_types;
	size_t n_allowed_connection_types;
	const char *file;              /* where it was defined */
	int line;
};

enum opts_export_kind { OPTS_EXPORT_STREAM = 1, OPTS_EXPORT_SERVICE = 2 };
enum opts_response_type {
	OPTS_RESPONSE_SINGLETON = 0,
	OPTS_RESPONSE_STREAM = 1,
	OPTS_RESPONSE_CHUNKED = 2,
};

struct opts_export {
	enum opts_export_kind kind;
	char *subject;
	char **accounts;               /* allowed importers; n == 0 = public */
	size_t n_accounts;
	enum opts_response_type response_type;
	int64_t response_threshold_ns;
	int account_token_position;
	const char *file;
	int line;
};

struct opts_import {
	enum opts_export_kind kind;
	char *account;                 /* exporting account */
	char *subject;                 /* subject in the exporting account */
	char *to;                      /* local subject (service) or remap (stream) */
	char *prefix;                  /* stream import prefix */
	bool share;
	const char *file;
	int line;
};

struct opts_mapping_dest {
	char *subject;
	double weight_percent;         /* 100 when not weighted */
	char *cluster;
};

struct opts_mapping {
	char *source;
	struct opts_mapping_dest *dests;
	size_t n_dests;
};

struct opts_js_limits {
	int64_t max_memory;            /* -1 = unlimited */
	int64_t max_store;
	int64_t max_streams;
	int64_t max_consumers;
	int64_t max_ack_pending;
	int64_t mem_max_stream_bytes;
	int64_t disk_max_stream_bytes;
	bool max_bytes_required;
};

struct opts_account {
	char *name;
	struct opts_export *exports;
	size_t n_exports;
	struct opts_import *imports;
	size_t n_imports;
	struct opts_mapping *mappings;
	size_t n_mappings;
	bool jetstream;                /* enabled for this account */
	struct opts_js_limits js_limits;
	struct opts_permissions default_permissions;
	char *nkey;
	int64_t max_connections;       /* -1 = unlimited */
	int64_t max_subscriptions;     /* -1 = unlimited */
	int64_t max_payload;           /* -1 = server's */
	int64_t max_leafnodes;         /* -1 = unlimited */
	const char *file;
	int line;
};

struct opts_remote_leaf {
	char **urls;
	size_t n_urls;
	char *account;                 /* local account bound to the remote */
	char *credentials;
	struct opts_subject_list deny_imports;
	struct opts_subject_list deny_exports;
	bool hub;
	bool no_randomize;
	const char *file;
	int line;
};

struct opts_leafnodes {
	char *host;                    /* accept listener; NULL = none */
	int port;                      /* 0 = no listener */
	char *advertise;
	bool no_advertise;
	char *auth_user;
	char *auth_password;
	char *auth_account;
	struct opts_user *users;       /* leafnodes.authorization.users */
	size_t n_users;
	int64_t auth_timeout_ns;
	int64_t reconnect_delay_ns;    /* default 1 s */
	char *min_version;
	struct opts_remote_leaf *remotes;
	size_t n_remotes;
	bool set;
};

struct opts_cluster {
	char *name;
	char *host;
	int port;                      /* 0 = no cluster listener */
	char **routes;
	size_t n_routes;
	char *advertise;
	bool no_advertise;
	int64_t connect_retries;
	char *auth_user;
	char *auth_password;
	int64_t auth_timeout_ns;
	bool set;
};

struct opts_gateway_remote {
	char *name;
	char **urls;
	size_t n_urls;
};

struct opts_gateway {
	char *name;
	char *host;
	int port;
	struct opts_gateway_remote *gateways;
	size_t n_gateways;
	char *advertise;
	bool reject_unknown;
	int64_t connect_retries;
	bool set;
};

struct opts_jetstream {
	bool enabled;
	char *store_dir;
	int64_t max_memory;            /* -1 = dynamic (derived) */
	int64_t max_store;             /* -1 = dynamic */
	char *domain;
	char *unique_tag;
	char *extension_hint;
	int64_t sync_interval_ns;      /* 0 = sync every write (our default) */
	bool sync_always;
	int64_t max_outstanding_catchup;
	struct opts_js_limits limits;
	bool set;
	int64_t max_request_batch;     /* jetstream.limits; 0 = none */
	int64_t max_ha_assets;         /* jetstream.limits; 0 = none */
	int64_t duplicate_window_ns;   /* jetstream.limits; 0 = default */
};

/* Something that was parsed but is not implemented by this server yet. */
struct opts_unsupported {
	char *key;                     /* dotted path, e.g. "cluster.tls" */
	const char *file;
	int line;
};

struct opts {
	/* ---- client listener ---- */
	char *host;                    /* default "0.0.0.0" */
	int port;                      /* default 4222; -1 = random; 0 = default */
	char *client_advertise;
	char *server_name;
	char **server_tags;
	size_t n_server_tags;

	/* ---- limits ---- */
	int64_t max_payload;           /* default 1 MiB */
	int64_t max_control_line;      /* default 4096 */
	int64_t max_pending;           /* default 64 MiB */
	int64_t max_connections;       /* default 65536 */
	int64_t max_subscriptions;     /* 0 = unlimited */
	int64_t max_sub_tokens;        /* 0 = unlimited */
	int64_t ping_interval_ns;      /* default 2 min */
	int64_t ping_max;              /* default 2 */
	int64_t write_deadline_ns;     /* default 10 s */
	int64_t lame_duck_duration_ns; /* default 2 min */
	int64_t lame_duck_grace_period_ns; /* default 10 s */
	int64_t max_closed_clients;    /* default 10000 */
	bool no_header_support;
	bool disable_sublist_cache;

	/* ---- auth (authorization block, global account) ---- */
	char *username;
	char *password;
	char *authorization_token;
	int64_t auth_timeout_ns;       /* default 2 s */
	struct opts_user *users;       /* authorization.users and accounts' users */
	size_t n_users;
	struct opts_permissions default_permissions;
	char *no_auth_user;

	/* ---- accounts ---- */
	struct opts_account *accounts;
	size_t n_accounts;
	char *system_account;          /* NULL = "$SYS" */
	bool no_system_account;
	struct opts_mapping *mappings; /* for $G */
	size_t n_mappings;
	/* default_js_domain: account name -> domain */
	char **default_js_domain_accounts;
	char **default_js_domain_domains;
	size_t n_default_js_domain;

	/* ---- subsystems ---- */
	struct opts_jetstream jetstream;
	struct opts_leafnodes leafnodes;
	struct opts_cluster cluster;
	struct opts_gateway gateway;

	/* ---- monitoring ---- */
	char *http_host;               /* default = host */
	int http_port;                 /* 0 = off, -1 = random */
	int https_port;
	char *http_base_path;

	/* ---- logging and files ---- */
	bool debug;
	bool trace;
	bool trace_verbose;
	bool logtime;                  /* default true */
	bool logtime_utc;
	char *log_file;
	int64_t log_size_limit;
	bool syslog;
	char *remote_syslog;
	char *pid_file;
	char *ports_file_dir;
	int64_t max_traced_msg_len;
	int64_t connect_error_reports;
	int64_t reconnect_error_reports;

	/* ---- diagnostics from parsing ---- */
	struct opts_unsupported *unsupported;
	size_t n_unsupported;
	char **warnings;               /* "file:line: ..." messages */
	size_t n_warnings;

	const char *config_file;       /* borrowed; NULL when none */

	/* Names of the files the config came from; the `file` fields above
	 * point into this table, so opts do not depend on the conf_doc. */
	char **file_names;
	size_t n_file_names;
};

void opts_defaults(struct opts *o);
/* Apply a parsed config.  Returns 0, or -1 with "file:line:col: why" in
 * err (the first fatal problem, like the reference's config errors).  The
 * opts keep copies of everything, so the conf_doc may be freed after. */
int opts_from_conf(struct opts *o, struct mem *mem, const struct conf_doc *doc,
		   struct buf *err);
void opts_free(struct opts *o, struct mem *mem);

/* Replace a string option with a copy of value (NULL clears it), freeing
 * the old one; use it for command-line overrides.  -1 when out of memory. */
int opts_set_string(struct mem *mem, char **field, const char *value);

/* Parse a Go-style duration string ("2m", "1h30m", "500ms"); -1 on error. */
int opts_parse_duration(const char *s, int64_t *out_ns);

#endif
