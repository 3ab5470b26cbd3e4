/*
 * main.c - the natsd driver: command line (nats-server's flags), config
 * file, the posix env, signals, pid and ports files, and the loop.
 *
 * This file and server/env/ are the only places that touch the OS.  As in
 * the reference, the config file is applied first and command-line flags
 * override it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "core/conf.h"
#include "core/opts.h"
#include "core/server.h"
#include "env/env_posix.h"
#include "lib/buf.h"
#include "lib/mem.h"

#define EXE "natsd"

/* Flags given on the command line; NULL/-2 means "not given". */
struct flags {
	const char *config;
	const char *host;
	const char *name;
	const char *store_dir;
	const char *user, *pass, *auth;
	const char *log_file;
	const char *pid_file;
	const char *ports_file_dir;
	const char *client_advertise;
	const char *cluster, *routes, *cluster_name;
	int port;
	int http_port;
	int https_port;
	int jetstream;
	int debug, trace, logtime;
	bool test_config;
};

static void usage(FILE *out)
{
	fputs(
"\nUsage: " EXE " [options]\n\n"
"Server Options:\n"
"    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)\n"
"    -p, --port <port>                Use port for clients (default: 4222)\n"
"    -n, --name\n"
"        --server_name <server_name>  Server name (default: auto)\n"
"    -P, --pid <file>                 File to store PID\n"
"    -m, --http_port <port>           Use port for http monitoring\n"
"    -ms,--https_port <port>          Use port for https monitoring\n"
"    -c, --config <file>              Configuration file\n"
"    -t                               Test configuration and exit\n"
"        --client_advertise <string>  Client URL to advertise to other servers\n"
"        --ports_file_dir <dir>       Creates a ports file in the specified directory (<executable_name>_<pid>.ports).\n"
"\nLogging Options:\n"
"    -l, --log <file>                 File to redirect log output\n"
"    -T, --logtime                    Timestamp log entries (default: true)\n"
"    -D, --debug                      Enable debugging output\n"
"    -V, --trace                      Trace the raw protocol\n"
"    -DV                              Debug and trace\n"
"\nJetStream Options:\n"
"    -js, --jetstream                 Enable JetStream functionality\n"
"    -sd, --store_dir <dir>           Set the storage directory\n"
"\nAuthorization Options:\n"
"        --user <user>                User required for connections\n"
"        --pass <password>            Password required for connections\n"
"        --auth <token>               Authorization token required for connections\n"
"\nCluster Options:\n"
"        --routes <rurl-1, rurl-2>    Routes to solicit and connect\n"
"        --cluster <cluster-url>      Cluster URL for solicited routes\n"
"        --cluster_name <string>      Cluster Name\n"
"\nCommon Options:\n"
"    -h, --help                       Show this message\n"
"    -v, --version                    Show version\n\n", out);
}

/* Go's flag package: -x and --x are the same; values as "-x v" or "-x=v";
 * booleans as "-x" or "-x=true|false". */
static int parse_bool_text(const char *v)
{
	if (v == NULL || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "t") ||
	    !strcmp(v, "T") || !strcmp(v, "TRUE") || !strcmp(v, "True"))
		return 1;
	if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "f") ||
	    !strcmp(v, "F") || !strcmp(v, "FALSE") || !strcmp(v, "False"))
		return 0;
	return -1;
}

static bool name_is(const char *n, const char *a, const char *b, const char *c)
{
	return (a && !strcmp(n, a)) || (b && !strcmp(n, b)) || (c && !strcmp(n, c));
}

static int parse_int_arg(const char *flag, const char *v, int *out)
{
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (errno || *end || end == v || x < -1 || x > 65535) {
		fprintf(stderr, "invalid value \"%s\" for flag -%s\n", v, flag);
		return -1;
	}
	*out = (int)x;
	return 0;
}

static int parse_bool_flag(struct flags *f, const char *n, const char *val)
{
	int b = parse_bool_text(val);
	if (b < 0) {
		fprintf(stderr, "invalid boolean value \"%s\" for -%s\n", val, n);
		return -1;
	}
	if (name_is(n, "D", "debug", NULL))
		f->debug = b;
	else if (name_is(n, "V", "trace", "VV"))
		f->trace = b;
	else if (name_is(n, "DV", "DVV", NULL))
		f->debug = f->trace = b;
	else if (name_is(n, "T", "logtime", NULL))
		f->logtime = b;
	else if (name_is(n, "js", "jetstream", NULL))
		f->jetstream = b;
	else if (!strcmp(n, "t"))
		f->test_config = b;
	else
		return 1;
	return 0;
}

static int parse_value_flag(struct flags *f, const char *n, const char *v)
{
	if (name_is(n, "c", "config", NULL)) f->config = v;
	else if (name_is(n, "a", "addr", "net")) f->host = v;
	else if (name_is(n, "n", "name", "server_name")) f->name = v;
	else if (name_is(n, "sd", "store_dir", NULL)) f->store_dir = v;
	else if (!strcmp(n, "user")) f->user = v;
	else if (!strcmp(n, "pass")) f->pass = v;
	else if (!strcmp(n, "auth")) f->auth = v;
	else if (name_is(n, "l", "log", NULL)) f->log_file = v;
	else if (name_is(n, "P", "pid", NULL)) f->pid_file = v;
	else if (!strcmp(n, "ports_file_dir")) f->ports_file_dir = v;
	else if (!strcmp(n, "client_advertise")) f->client_advertise = v;
	else if (!strcmp(n, "cluster")) f->cluster = v;
	else if (!strcmp(n, "routes")) f->routes = v;
	else if (!strcmp(n, "cluster_name")) f->cluster_name = v;
	else if (name_is(n, "p", "port", NULL)) return parse_int_arg(n, v, &f->port);
	else if (name_is(n, "m", "http_port", NULL))
		return parse_int_arg(n, v, &f->http_port);
	else if (name_is(n, "ms", "https_port", NULL))
		return parse_int_arg(n, v, &f->https_port);
	else return 1;
	return 0;
}

/* Returns 0 to run, 1 to exit 0 (help/version), -1 on a usage error. */
static int parse_flags(int argc, char **argv, struct flags *f)
{
	memset(f, 0, sizeof(*f));
	f->port = f->http_port = f->https_port = -2;
	f->jetstream = f->debug = f->trace = f->logtime = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || a[1] == '\0') {
			fprintf(stderr, "unexpected argument \"%s\"\n", a);
			return -1;
		}
		a += a[1] == '-' ? 2 : 1;
		char name[64];
		const char *eq = strchr(a, '=');
		size_t nl = eq ? (size_t)(eq - a) : strlen(a);
		if (nl >= sizeof(name))
			nl = sizeof(name) - 1;
		memcpy(name, a, nl);
		name[nl] = '\0';
		if (name_is(name, "h", "help", NULL)) {
			usage(stdout);
			return 1;
		}
		if (name_is(name, "v", "version", NULL)) {
			printf(EXE ": v%s\n", SERVER_NATS_VERSION);
			return 1;
		}
		int rc = parse_bool_flag(f, name, eq ? eq + 1 : NULL);
		if (rc <= 0) {
			if (rc < 0)
				return -1;
			continue;
		}
		const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (v == NULL) {
			fprintf(stderr, "flag needs an argument: -%s\n", name);
			return -1;
		}
		rc = parse_value_flag(f, name, v);
		if (rc > 0) {
			fprintf(stderr, "flag provided but not defined: -%s\n", name);
			usage(stderr);
		}
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* ---------------------------------------------------------- config I/O */

static int read_file(void *arg, struct mem *mem, const char *path, char **data,
		     size_t *len)
{
	(void)arg;
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return -4;
	struct buf b;
	buf_init(&b, mem);
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_append(&b, chunk, n);
	fclose(fp);
	if (b.oom) {
		buf_free(&b);
		return -9;
	}
	if (b.data == NULL)
		buf_append(&b, "", 0);
	*data = b.data;
	*len = b.len;
	return 0;
}

static const char *get_env(void *arg, const char *name)
{
	(void)arg;
	return getenv(name);
}

static void dup_into(struct mem *m, char **slot, const char *v)
{
	if (opts_set_string(m, slot, v) < 0) {
		fprintf(stderr, EXE ": out of memory\n");
		exit(1);
	}
}

static void apply_flags(struct opts *o, struct mem *m, const struct flags *f)
{
	if (f->host) dup_into(m, &o->host, f->host);
	if (f->port != -2) o->port = f->port;
	if (f->name) dup_into(m, &o->server_name, f->name);
	if (f->store_dir) dup_into(m, &o->jetstream.store_dir, f->store_dir);
	if (f->jetstream >= 0) o->jetstream.enabled = f->jetstream;
	if (f->user) dup_into(m, &o->username, f->user);
	if (f->pass) dup_into(m, &o->password, f->pass);
	if (f->auth) dup_into(m, &o->authorization_token, f->auth);
	if (f->log_file) dup_into(m, &o->log_file, f->log_file);
	if (f->pid_file) dup_into(m, &o->pid_file, f->pid_file);
	if (f->ports_file_dir) dup_into(m, &o->ports_file_dir, f->ports_file_dir);
	if (f->client_advertise)
		dup_into(m, &o->client_advertise, f->client_advertise);
	if (f->http_port != -2) o->http_port = f->http_port;
	if (f->https_port != -2) o->https_port = f->https_port;
	if (f->debug >= 0) o->debug = f->debug;
	if (f->trace >= 0) o->trace = f->trace;
	if (f->logtime >= 0) o->logtime = f->logtime;
}

static int load_options(struct opts *o, struct mem *m, const struct flags *f)
{
	opts_defaults(o);
	if (f->config != NULL) {
		struct conf_io io = { read_file, get_env, NULL };
		struct conf_doc doc;
		struct buf err;
		buf_init(&err, m);
		int rc = conf_parse_file(&doc, m, &io, f->config, &err);
		if (rc == 0) {
			rc = opts_from_conf(o, m, &doc, &err);
			conf_doc_free(&doc);
		}
		if (rc != 0) {
			fprintf(stderr, EXE ": %s\n", err.data ? err.data : "error");
			buf_free(&err);
			return -1;
		}
		buf_free(&err);
	}
	apply_flags(o, m, f);
	if (f->cluster || f->routes || f->cluster_name)
		fprintf(stderr, EXE ": cluster flags are recognised but "
			"clustering is not implemented yet; ignored\n");
	return 0;
}

/* ------------------------------------------------------------- signals */

struct driver {
	struct env_posix *env;
	struct server *srv;
	int sigfd;
	struct mem *mem;
	const struct flags *flags;
	struct opts *opts;             /* the options in effect (owned) */
};

/* Re-reads the config file and applies it; the old options are freed once
 * the server no longer uses them. */
static int reload_config(void *arg, struct buf *err)
{
	struct driver *d = arg;
	struct opts *o = malloc(sizeof(*o));
	if (o == NULL) {
		buf_append_str(err, "out of memory");
		return -1;
	}
	if (load_options(o, d->mem, d->flags) != 0) {
		opts_free(o, d->mem);
		free(o);
		buf_append_str(err, "config file could not be loaded (see the log)");
		return -1;
	}
	if (server_reload(d->srv, o, err) != 0) {
		opts_free(o, d->mem);
		free(o);
		return -1;
	}
	opts_free(d->opts, d->mem);
	free(d->opts);
	d->opts = o;
	return 0;
}

static void on_signal(void *arg, int fd)
{
	struct driver *d = arg;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM ||
		    si.ssi_signo == SIGQUIT) {
			server_shutdown(d->srv);
			env_posix_stop(d->env);
		} else if (si.ssi_signo == SIGHUP && d->flags->config != NULL) {
			struct buf err;
			buf_init(&err, d->mem);
			if (reload_config(d, &err) != 0)
				fprintf(stderr, EXE ": failed to reload server configuration: %s\n",
					err.data ? err.data : "error");
			buf_free(&err);
		}
	}
}

static int setup_signals(struct driver *d)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sigfd < 0)
		return -1;
	return env_posix_watch_fd(d->env, d->sigfd, on_signal, d);
}

/* ----------------------------------------------------- pid, ports file */

static void write_text_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	if (fp == NULL) {
		fprintf(stderr, EXE ": could not write %s: %s\n", path,
			strerror(errno));
		return;
	}
	fputs(text, fp);
	fclose(fp);
}

/* Named like the reference's: <basename of argv[0]>_<pid>.ports. */
static void write_ports_file(const struct opts *o, struct server *srv,
			     const char *argv0, char *path, size_t cap)
{
	const char *host = o->host && strcmp(o->host, "0.0.0.0") != 0
				   ? o->host : "127.0.0.1";
	char text[512];
	int n = snprintf(text, sizeof(text), "{\"nats\":[\"nats://%s:%d\"]", host,
			 server_client_port(srv));
	/* The monitoring port, as the reference lists it (test launchers
	 * such as nats.js's read /varz from it). */
	if (n < 0 || n >= (int)sizeof(text))
		n = (int)sizeof(text) - 1;
	if (server_http_port(srv) > 0) {
		const char *mh = o->http_host && strcmp(o->http_host, "0.0.0.0") != 0
					 ? o->http_host : host;
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      ",\"monitoring\":[\"http://%s:%d\"]", mh,
			      server_http_port(srv));
	}
	if (n < 0 || n >= (int)sizeof(text) - 1)
		n = (int)sizeof(text) - 2;
	snprintf(text + n, sizeof(text) - (size_t)n, "}");
	const char *base = strrchr(argv0, '/');
	base = base != NULL ? base + 1 : argv0;
	snprintf(path, cap, "%s/%s_%d.ports", o->ports_file_dir,
		 base[0] ? base : EXE, (int)getpid());
	write_text_file(path, text);
}

int main(int argc, char **argv)
{
	struct flags f;
	int rc = parse_flags(argc, argv, &f);
	if (rc != 0)
		return rc > 0 ? 0 : 1;
	struct mem m;
	mem_init(&m);
	/* Heap-allocated: a reload replaces the options in effect. */
	struct opts *o = malloc(sizeof(*o));
	if (o == NULL)
		return 1;
	if (load_options(o, &m, &f) != 0) {
		opts_free(o, &m);
		free(o);
		return 1;
	}
	if (f.test_config) {
		fprintf(stderr, EXE ": configuration file %s is valid\n",
			f.config ? f.config : "");
		opts_free(o, &m);
		free(o);
		return 0;
	}
	struct driver d = { .mem = &m, .flags = &f, .opts = o };
	if (env_posix_init(&d.env) != 0) {
		fprintf(stderr, EXE ": cannot create the event loop\n");
		return 1;
	}
	if (o->log_file != NULL) {
		int fd = open(o->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			      0640);
		if (fd < 0) {
			fprintf(stderr, EXE ": cannot open log file %s: %s\n",
				o->log_file, strerror(errno));
			return 1;
		}
		env_posix_set_log_fd(d.env, fd);
	}
	/* libsodium picks its fastest implementations here; the server's
	 * signature checks work either way. */
	if (sodium_init() < 0)
		fprintf(stderr, EXE ": libsodium initialisation failed\n");
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "[%d] ", (int)getpid());
	struct server_config cfg = { env_posix_env(d.env), o, prefix, EXE, 0 };
	struct buf err;
	buf_init(&err, &m);
	if (server_new(&d.srv, &cfg, &err) != 0 ||
	    server_start(d.srv, &err) != 0) {
		fprintf(stderr, EXE ": %s\n", err.data ? err.data : "error");
		if (d.srv != NULL)
			server_free(d.srv);
		env_posix_free(d.env);
		buf_free(&err);
		opts_free(d.opts, &m);
		free(d.opts);
		return 1;
	}
	if (f.config != NULL)
		server_set_reload_handler(d.srv, reload_config, &d);
	if (setup_signals(&d) != 0) {
		fprintf(stderr, EXE ": cannot set up signal handling\n");
		return 1;
	}
	/* Start-up files keep the names they were created with. */
	char *pid_file = o->pid_file != NULL ? strdup(o->pid_file) : NULL;
	if (pid_file != NULL) {
		char pid[32];
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		write_text_file(pid_file, pid);
	}
	char ports_path[4096] = "";
	if (o->ports_file_dir != NULL)
		write_ports_file(o, d.srv, argv[0], ports_path, sizeof(ports_path));
	rc = env_posix_run(d.env);
	server_free(d.srv);
	if (ports_path[0] != '\0')
		unlink(ports_path);
	if (pid_file != NULL)
		unlink(pid_file);
	free(pid_file);
	env_posix_free(d.env);
	buf_free(&err);
	opts_free(d.opts, &m);
	free(d.opts);
	return rc == 0 ? 0 : 1;
}
