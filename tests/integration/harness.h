/*
 * harness.h - run a real NATS server process on loopback for integration tests.
 *
 * Owns: the server child process (started from $NATS_TEST_SERVER, default
 * /usr/sbin/nats-server), its temporary folder (config file and log), and the
 * two kinds of test clients: a nats.c connection and a raw socket that reads
 * with timeouts.  The same tests run against natsd and the reference server,
 * so nothing here may depend on which one is running.
 *
 * Invariants: a started server is either stopped by harness_server_stop() or
 * killed when the test process dies (failed assertion, crash, timeout); in
 * that case a janitor process prints the server log and removes the folder.
 * No server outlives its test.  Every wait is bounded.
 */
#ifndef NATS_IT_HARNESS_H
#define NATS_IT_HARNESS_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>

#include <nats/nats.h>

#define HARNESS_DEFAULT_SERVER "/usr/sbin/nats-server"

/* Milliseconds the harness waits for a new server to accept connections. */
#define HARNESS_READY_TIMEOUT_MS 10000
/* Milliseconds between SIGTERM and SIGKILL when stopping a server. */
#define HARNESS_STOP_TIMEOUT_MS 5000

struct harness_server {
	pid_t pid;		/* server process, 0 when not running */
	int wait_status;	/* waitpid() status once the process has exited */
	int port;		/* client port on 127.0.0.1 */
	char dir[256];		/* private temp folder: config and log */
	char log_path[300];	/* server stdout and stderr */
	char conf_path[300];	/* config file, empty string when none */
	char url[64];		/* nats://127.0.0.1:<port> */
	pid_t janitor_pid;	/* cleans up if the test process dies */
	int janitor_fd;		/* write end of the janitor's pipe, -1 if none */
	char bin[256];		/* server binary; empty: $NATS_TEST_SERVER */
	bool in_dir;		/* the server runs with its folder as cwd */
};

/* A file written into a server's folder before it starts. */
struct harness_file {
	const char *name;	/* relative to the folder */
	const char *text;
};

/*
 * Start the server with `-a 127.0.0.1 -p <free port>`, plus `-c <file>`
 * holding config_text when it is not NULL, plus the NULL-terminated
 * extra_args (may be NULL).  Returns once the port accepts TCP connections;
 * fails the running test (with the server log) otherwise.
 */
void harness_server_start(struct harness_server *srv, const char *config_text,
			  const char *const *extra_args);

/*
 * Like harness_server_start, for servers run from config files as a user
 * would: bin is the server binary (NULL: $NATS_TEST_SERVER), the n files
 * are written into the server's folder, which is also its working
 * directory (so relative includes and store_dir land there), and the
 * server gets `-c <main_conf>` after `-a 127.0.0.1 -p <free port>`.
 */
void harness_server_start_files(struct harness_server *srv, const char *bin,
				const struct harness_file *files, size_t n,
				const char *main_conf,
				const char *const *extra_args);

/* (Re)writes a file in the server's folder. */
void harness_server_write_file(const struct harness_server *srv,
			       const char *name, const char *text);

/* Stops the server like harness_server_stop but keeps its folder (files,
 * store), then starts it again with the same config (and no extra
 * arguments) on a new client port. */
void harness_server_restart(struct harness_server *srv);

/* Sends SIGHUP: the server reloads its configuration. */
void harness_server_reload(const struct harness_server *srv);

/* A free TCP port on 127.0.0.1 (for ports a config must name). */
int harness_free_port(void);

/* Runs every test of s, each in its own process (CK_FORK), and returns the
 * test program's exit status. */
int harness_run(Suite *s);

/* ---- JetStream store folders ------------------------------------------ */

/* Makes a private store folder ($TMPDIR/natsjs-XXXXXX) into dir. */
void harness_store_dir_make(char *dir, size_t cap);
/* Removes it with everything in it; dir becomes "" (a no-op when ""). */
void harness_store_dir_remove(char *dir);
/* Starts srv with `jetstream { store_dir: "<dir>" }` and then extra
 * config text (may be NULL). */
void harness_js_server_start(struct harness_server *srv, const char *dir,
			     const char *extra);
/* The JetStream tests' fixture: a new store folder into dir, then the
 * server in it; and the server stopped, the folder removed. */
void harness_js_setup(struct harness_server *srv, char *dir, size_t cap);
void harness_js_teardown(struct harness_server *srv, char *dir);

/* True while the server process has not exited. */
bool harness_server_alive(struct harness_server *srv);

/*
 * Fail the test if the server died, then SIGTERM it, wait (SIGKILL after
 * HARNESS_STOP_TIMEOUT_MS) and remove its folder.  Also fails if it did not
 * exit in time, died of another signal, or its log holds a sanitizer report.
 */
void harness_server_stop(struct harness_server *srv);

/* Print the server log to stderr (used on failure). */
void harness_server_dump_log(const struct harness_server *srv);

/* Monotonic clock in milliseconds. */
long long harness_now_ms(void);

/* Sleep for ms milliseconds. */
void harness_sleep_ms(int ms);

/* ---- nats.c clients ---------------------------------------------------- */

/*
 * Options for a connection to srv: URL set, 2 s connect timeout, no
 * reconnects (a test must see a closed connection, not a retry loop).
 * Caller owns the result (natsOptions_Destroy).
 */
natsOptions *harness_nats_options(const struct harness_server *srv);

/* Connect with opts (NULL: harness_nats_options()); returns the status. */
natsStatus harness_nats_try_connect(const struct harness_server *srv,
				    natsOptions *opts, natsConnection **nc);

/* Subscribes subj on sub_nc and publishes a probe on pub_nc every 200 ms
 * until one crosses (a link is up and its interest arrived) or
 * timeout_ms pass; true when one did.  Late probes cannot hurt: the
 * subscription goes with harness_sub_destroy. */
bool harness_wait_crossing(natsConnection *pub_nc, natsConnection *sub_nc,
			   const char *subj, int timeout_ms);

/* True when the server under test ($NATS_TEST_SERVER, by default
 * HARNESS_DEFAULT_SERVER) is the reference nats-server, for the checks of
 * behaviour natsd has and nats-server 2.9.10 has not. */
bool harness_testing_reference(void);

/* Connect with default options; fails the test on error. */
natsConnection *harness_nats_connect(const struct harness_server *srv);

/* Destroys a subscription that messages may still be arriving for:
 * unsubscribes, then waits for a PING round trip so that the connection's
 * reader is done with it (nats.c 3.4 can touch a subscription destroyed
 * while it delivers to it). */
void harness_sub_destroy(natsConnection *nc, natsSubscription *sub);

/* ---- raw socket clients ------------------------------------------------ */

struct raw_conn {
	int fd;			/* socket, -1 after raw_close */
	bool closed;		/* peer closed or reset the connection */
	char *buf;		/* bytes received and not yet consumed */
	size_t len;		/* bytes held in buf */
	size_t cap;		/* bytes allocated for buf */
};

/* Connect to srv; fails the test on error.  Caller frees with raw_close. */
struct raw_conn *raw_connect(const struct harness_server *srv);

/*
 * Connect, read the INFO line, send `CONNECT <json>` and PING and wait for
 * PONG (json must not ask for verbose).  Fails the test on error.
 */
struct raw_conn *raw_connect_ready(const struct harness_server *srv, const char *json);

/* Close the socket and free rc (NULL is fine). */
void raw_close(struct raw_conn *rc);

/* Send all bytes; returns false if the peer is gone. */
bool raw_send(struct raw_conn *rc, const void *data, size_t len);
bool raw_send_str(struct raw_conn *rc, const char *text);

/*
 * Read until buf holds pattern (bytes, may hold NUL) anywhere, the peer closes,
 * or timeout_ms passes.  Returns whether the pattern is held.
 */
bool raw_wait_for_bytes(struct raw_conn *rc, const void *pattern, size_t len,
			int timeout_ms);
bool raw_wait_for(struct raw_conn *rc, const char *pattern, int timeout_ms);

/* Read until at least n bytes are held, close or timeout. */
bool raw_wait_len(struct raw_conn *rc, size_t n, int timeout_ms);

/* Read until the peer closes (true) or timeout_ms passes (false). */
bool raw_wait_closed(struct raw_conn *rc, int timeout_ms);

/* Read whatever arrives until nothing has come for quiet_ms. */
void raw_read_quiet(struct raw_conn *rc, int quiet_ms);

/* True if the held bytes contain pattern. */
bool raw_contains(const struct raw_conn *rc, const char *pattern);

/* Drop the first n held bytes. */
void raw_consume(struct raw_conn *rc, size_t n);

/* Drop held bytes up to and including the first pattern; false if absent. */
bool raw_consume_through(struct raw_conn *rc, const char *pattern);

/*
 * Wait for the next len bytes; if they equal expected, consume them and return
 * true.  Otherwise leave the buffer as it is (for the failure message).
 */
bool raw_expect_check(struct raw_conn *rc, const void *expected, size_t len,
		      int timeout_ms);

/*
 * Fail the test, at the caller's line, unless the next bytes are expected.
 * Macros so that Check reports the test's file and line.
 */
#define raw_expect_bytes(rc, expected, len, timeout_ms)				\
	ck_assert_msg(raw_expect_check((rc), (expected), (len), (timeout_ms)),	\
		      "expected [%s], got%s [%s]",				\
		      harness_escape((expected), (len)),			\
		      (rc)->closed ? " (closed)" : "", raw_escaped(rc))
#define raw_expect(rc, expected, timeout_ms)					\
	raw_expect_bytes((rc), (expected), strlen(expected), (timeout_ms))

/*
 * Take the next line (ending "\n", "\r\n" stripped) into out (cap bytes,
 * NUL-terminated, truncated if longer).  False on close/timeout.
 */
bool raw_take_line(struct raw_conn *rc, char *out, size_t cap, int timeout_ms);

/*
 * Bytes as a printable, escaped, NUL-terminated string in one of a few
 * rotating static buffers (valid until a few more calls).
 */
const char *harness_escape(const void *data, size_t len);

/* The held bytes, escaped as by harness_escape(). */
const char *raw_escaped(const struct raw_conn *rc);

/* Send PING and return whether PONG comes back (consumed through it). */
bool raw_ping_pong(struct raw_conn *rc);

/* Fail the test unless the connection still answers PING. */
#define raw_expect_alive(rc)							\
	ck_assert_msg(raw_ping_pong(rc), "connection not alive:%s [%s]",	\
		      (rc)->closed ? " (closed)" : "", raw_escaped(rc))

#endif
