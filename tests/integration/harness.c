/*
 * harness.c - server process control and test clients for integration tests.
 *
 * Owns: the server process, a janitor process per server, the temp folders
 * and the raw socket receive buffers.
 *
 * Why a janitor: Check ends a failed test with _exit() (no atexit handlers,
 * no teardown) and a timed-out test with SIGKILL to its process group.  The
 * server dies with the test (PR_SET_PDEATHSIG), but someone must still print
 * its log and remove its folder.  The janitor, in its own process group,
 * waits on a pipe from the test process: a 'D' byte means the test stopped
 * the server itself; end-of-file without it means the test died, so the
 * janitor kills the server, prints the log and removes the folder.
 *
 * Invariants: every loop that waits on the server or the network has a
 * deadline; children close every inherited descriptor they do not need, so
 * a socket closed by the test is really closed.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HARNESS_MAX_ARGS 64
#define HARNESS_LOG_TAIL_BYTES (64 * 1024)
#define RAW_MAX_BUF_BYTES (64u * 1024 * 1024)

long long harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void harness_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Keep fds 0..keep_below-1, close every other inherited descriptor. */
static void harness_close_inherited(int keep_below)
{
	if (close_range((unsigned)keep_below, ~0U, 0) != 0) {
		long max = sysconf(_SC_OPEN_MAX);

		for (long fd = keep_below; fd < (max > 0 ? max : 1024); fd++)
			close((int)fd);
	}
}

/* Removes dir and everything below it (stores make nested folders). */
static void harness_remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;
	char path[1024];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			harness_remove_dir(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

void harness_server_dump_log(const struct harness_server *srv)
{
	char chunk[4096];
	ssize_t n;
	off_t size;
	int fd = open(srv->log_path, O_RDONLY);

	fprintf(stderr, "---- server log %s (port %d) ----\n", srv->log_path, srv->port);
	if (fd < 0) {
		fprintf(stderr, "(no log: %s)\n", strerror(errno));
		return;
	}
	size = lseek(fd, 0, SEEK_END);
	lseek(fd, size > HARNESS_LOG_TAIL_BYTES ? size - HARNESS_LOG_TAIL_BYTES : 0, SEEK_SET);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		fwrite(chunk, 1, (size_t)n, stderr);
	close(fd);
	fprintf(stderr, "---- end of server log ----\n");
	fflush(stderr);
}

/* Kill and reap; used on paths that fail the test anyway. */
static void harness_server_kill(struct harness_server *srv)
{
	if (srv->pid > 0) {
		kill(srv->pid, SIGKILL);
		waitpid(srv->pid, NULL, 0);
		srv->pid = 0;
	}
}

/* Janitor body: see the file comment.  Never returns. */
static void harness_janitor_run(const struct harness_server *srv, int ctl_fd)
{
	char byte = 0;
	ssize_t n;

	/* Out of the test's group: survive Check's killpg on timeout. */
	setpgid(0, 0);
	signal(SIGINT, SIG_IGN);
	if (dup2(ctl_fd, 3) != 3)
		_exit(1);
	harness_close_inherited(4);
	do
		n = read(3, &byte, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1 && byte == 'D')
		_exit(0);
	kill(srv->pid, SIGKILL);
	/* Let the server go before reading its log and removing its folder. */
	for (int i = 0; i < 200 && kill(srv->pid, 0) == 0; i++)
		harness_sleep_ms(5);
	fprintf(stderr, "harness: test process ended with server pid %d on port %d still "
		"running (failed assertion, crash or timeout)\n", (int)srv->pid, srv->port);
	harness_server_dump_log(srv);
	harness_remove_dir(srv->dir);
	_exit(0);
}

static void harness_janitor_start(struct harness_server *srv)
{
	int fds[2];
	pid_t pid;

	ck_assert_msg(pipe2(fds, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		harness_janitor_run(srv, fds[0]);
	close(fds[0]);
	srv->janitor_fd = fds[1];
	srv->janitor_pid = pid;
}

/* Tell the janitor the test cleaned up itself, and reap it. */
static void harness_janitor_release(struct harness_server *srv)
{
	if (srv->janitor_fd < 0)
		return;
	if (write(srv->janitor_fd, "D", 1) != 1)
		fprintf(stderr, "harness: janitor pipe: %s\n", strerror(errno));
	close(srv->janitor_fd);
	srv->janitor_fd = -1;
	waitpid(srv->janitor_pid, NULL, 0);
}

/* Bind port 0 on loopback, read the port chosen by the kernel, release it. */
static int harness_pick_port(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int port;

	ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind: %s",
		      strerror(errno));
	ck_assert_msg(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0, "getsockname: %s",
		      strerror(errno));
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static const char *harness_env_server_path(void)
{
	const char *path = getenv("NATS_TEST_SERVER");

	return (path != NULL && path[0] != '\0') ? path : HARNESS_DEFAULT_SERVER;
}

static const char *harness_server_path(const struct harness_server *srv)
{
	return srv->bin[0] != '\0' ? srv->bin : harness_env_server_path();
}

static void harness_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_msg(fclose(f) == 0, "cannot write %s", path);
}

/* Child side of the fork: redirect output to the log and exec the server. */
static void harness_exec_server(const struct harness_server *srv, pid_t parent,
				char *const argv[])
{
	int log_fd = open(srv->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	int null_fd = open("/dev/null", O_RDONLY);

	/* Die with the test process, however it ends. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(126);
	if (log_fd < 0 || null_fd < 0)
		_exit(125);
	dup2(null_fd, STDIN_FILENO);
	dup2(log_fd, STDOUT_FILENO);
	dup2(log_fd, STDERR_FILENO);
	harness_close_inherited(3);
	if (srv->in_dir && chdir(srv->dir) != 0)
		_exit(124);
	execv(argv[0], argv);
	dprintf(STDERR_FILENO, "harness: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static void harness_spawn(struct harness_server *srv, const char *const *extra_args)
{
	char port_text[16];
	char *argv[HARNESS_MAX_ARGS];
	int argc = 0;
	pid_t parent = getpid();
	pid_t pid;

	snprintf(port_text, sizeof(port_text), "%d", srv->port);
	argv[argc++] = (char *)harness_server_path(srv);
	argv[argc++] = (char *)"-a";
	argv[argc++] = (char *)"127.0.0.1";
	argv[argc++] = (char *)"-p";
	argv[argc++] = port_text;
	if (srv->conf_path[0] != '\0') {
		argv[argc++] = (char *)"-c";
		argv[argc++] = srv->conf_path;
	}
	for (int i = 0; extra_args != NULL && extra_args[i] != NULL; i++) {
		ck_assert_msg(argc < HARNESS_MAX_ARGS - 1, "harness: too many server args");
		argv[argc++] = (char *)extra_args[i];
	}
	argv[argc] = NULL;

	fflush(NULL);
	pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		harness_exec_server(srv, parent, argv);
	srv->pid = pid;
}

/* True once 127.0.0.1:port accepts a TCP connection. */
static bool harness_port_open(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* 0: ready; 1: the process exited (maybe the port was taken); -1: timeout. */
/* True once this process (not an earlier one appending to the same log)
 * has logged that it listens for clients on srv->port.  An open port
 * alone is not enough: with tests running in parallel, another process
 * may have taken the picked port, and this server is about to fail its
 * bind. */
static bool harness_log_says_listening(const struct harness_server *srv)
{
	FILE *f = fopen(srv->log_path, "r");
	char line[1024], pid_tag[32], port_tag[16];
	bool found = false;

	if (f == NULL)
		return false;
	snprintf(pid_tag, sizeof(pid_tag), "[%d] ", (int)srv->pid);
	snprintf(port_tag, sizeof(port_tag), ":%d", srv->port);
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		size_t n = strcspn(line, "\r\n");
		size_t pl = strlen(port_tag);

		line[n] = '\0';
		found = strncmp(line, pid_tag, strlen(pid_tag)) == 0 &&
			strstr(line, "Listening for client connections on ") != NULL &&
			n >= pl && strcmp(line + n - pl, port_tag) == 0;
	}
	fclose(f);
	return found;
}

static int harness_wait_ready(struct harness_server *srv)
{
	long long deadline = harness_now_ms() + HARNESS_READY_TIMEOUT_MS;

	while (harness_now_ms() < deadline) {
		if (!harness_server_alive(srv))
			return 1;
		if (harness_log_says_listening(srv) && harness_port_open(srv->port))
			return 0;
		harness_sleep_ms(5);
	}
	return -1;
}

static void harness_make_dir(struct harness_server *srv, const char *config_text)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(srv->dir, sizeof(srv->dir), "%s/natsit-XXXXXX",
		 (tmp != NULL && tmp[0] != '\0') ? tmp : "/tmp");
	ck_assert_msg(mkdtemp(srv->dir) != NULL, "mkdtemp %s: %s", srv->dir, strerror(errno));
	snprintf(srv->log_path, sizeof(srv->log_path), "%s/server.log", srv->dir);
	srv->conf_path[0] = '\0';
	if (config_text != NULL) {
		snprintf(srv->conf_path, sizeof(srv->conf_path), "%s/server.conf", srv->dir);
		harness_write_file(srv->conf_path, config_text);
	}
}

static void harness_server_launch(struct harness_server *srv,
				  const char *const *extra_args);

void harness_server_start(struct harness_server *srv, const char *config_text,
			  const char *const *extra_args)
{
	memset(srv, 0, sizeof(*srv));
	srv->janitor_fd = -1;
	signal(SIGPIPE, SIG_IGN);
	harness_make_dir(srv, config_text);
	harness_server_launch(srv, extra_args);
}

void harness_server_write_file(const struct harness_server *srv,
			       const char *name, const char *text)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", srv->dir, name);
	harness_write_file(path, text);
}

void harness_server_start_files(struct harness_server *srv, const char *bin,
				const struct harness_file *files, size_t n,
				const char *main_conf,
				const char *const *extra_args)
{
	memset(srv, 0, sizeof(*srv));
	srv->janitor_fd = -1;
	if (bin != NULL)
		snprintf(srv->bin, sizeof(srv->bin), "%s", bin);
	srv->in_dir = true;
	signal(SIGPIPE, SIG_IGN);
	harness_make_dir(srv, NULL);
	for (size_t i = 0; i < n; i++)
		harness_server_write_file(srv, files[i].name, files[i].text);
	snprintf(srv->conf_path, sizeof(srv->conf_path), "%s/%s", srv->dir,
		 main_conf);
	harness_server_launch(srv, extra_args);
}

void harness_server_reload(const struct harness_server *srv)
{
	ck_assert_msg(srv->pid > 0, "reload of a server that is not running");
	ck_assert_int_eq(kill(srv->pid, SIGHUP), 0);
}

int harness_free_port(void)
{
	return harness_pick_port();
}

static void harness_server_launch(struct harness_server *srv,
				  const char *const *extra_args)
{
	const char *path = harness_server_path(srv);
	int rc = -1;

	ck_assert_msg(access(path, X_OK) == 0, "server binary %s is not executable: %s "
		      "(set NATS_TEST_SERVER)", path, strerror(errno));

	/* Another process may grab the picked port before the server binds it. */
	for (int attempt = 0; attempt < 3; attempt++) {
		srv->port = harness_pick_port();
		snprintf(srv->url, sizeof(srv->url), "nats://127.0.0.1:%d", srv->port);
		harness_spawn(srv, extra_args);
		rc = harness_wait_ready(srv);
		if (rc != 1)
			break;
	}
	if (rc != 0) {
		harness_server_dump_log(srv);
		harness_server_kill(srv);
		harness_remove_dir(srv->dir);
		ck_abort_msg("server %s %s (see log above)", path, rc == 1 ?
			     "exited during startup" :
			     "did not accept connections within the startup bound");
	}
	harness_janitor_start(srv);
}

bool harness_server_alive(struct harness_server *srv)
{
	int status;

	if (srv->pid <= 0)
		return false;
	if (waitpid(srv->pid, &status, WNOHANG) == srv->pid) {
		srv->pid = 0;
		srv->wait_status = status;
		return false;
	}
	return true;
}

/* True if the log holds a sanitizer report (natsd built with -Dsanitize=true). */
static bool harness_log_has_sanitizer_report(const struct harness_server *srv)
{
	static const char *const markers[] = {
		"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
	};
	char line[4096];
	bool found = false;
	FILE *f = fopen(srv->log_path, "r");

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++)
			found = found || strstr(line, markers[i]) != NULL;
	fclose(f);
	return found;
}

/* A clean exit is any exit() or death by the SIGTERM we sent; not a crash. */
static bool harness_exit_was_clean(const struct harness_server *srv)
{
	if (WIFEXITED(srv->wait_status))
		return true;
	return WIFSIGNALED(srv->wait_status) && WTERMSIG(srv->wait_status) == SIGTERM;
}

static void harness_server_stop_common(struct harness_server *srv, bool keep_dir);

void harness_server_stop(struct harness_server *srv)
{
	harness_server_stop_common(srv, false);
}

void harness_server_restart(struct harness_server *srv)
{
	harness_server_stop_common(srv, true);
	harness_server_launch(srv, NULL);
}

static void harness_server_stop_common(struct harness_server *srv, bool keep_dir)
{
	long long deadline;
	bool exited = false, clean, sanitizer;

	if (!harness_server_alive(srv)) {
		harness_server_dump_log(srv);
		harness_remove_dir(srv->dir);
		harness_janitor_release(srv);
		ck_abort_msg("server exited before the end of the test (status 0x%x), log above",
			     (unsigned)srv->wait_status);
	}
	kill(srv->pid, SIGTERM);
	deadline = harness_now_ms() + HARNESS_STOP_TIMEOUT_MS;
	while (harness_now_ms() < deadline) {
		if (!harness_server_alive(srv)) {
			exited = true;
			break;
		}
		harness_sleep_ms(2);
	}
	clean = exited && harness_exit_was_clean(srv);
	sanitizer = harness_log_has_sanitizer_report(srv);
	if (!clean || sanitizer) {
		harness_server_dump_log(srv);
		harness_server_kill(srv);
	}
	if (!keep_dir || !clean || sanitizer)
		harness_remove_dir(srv->dir);
	harness_janitor_release(srv);
	ck_assert_msg(exited, "server did not exit within %d ms of SIGTERM",
		      HARNESS_STOP_TIMEOUT_MS);
	ck_assert_msg(clean, "server crashed on SIGTERM (status 0x%x), log above",
		      (unsigned)srv->wait_status);
	ck_assert_msg(!sanitizer, "sanitizer report in the server log, log above");
}

/* ---- nats.c clients ---------------------------------------------------- */

natsOptions *harness_nats_options(const struct harness_server *srv)
{
	natsOptions *opts = NULL;

	ck_assert_int_eq(natsOptions_Create(&opts), NATS_OK);
	ck_assert_int_eq(natsOptions_SetURL(opts, srv->url), NATS_OK);
	ck_assert_int_eq(natsOptions_SetTimeout(opts, 2000), NATS_OK);
	ck_assert_int_eq(natsOptions_SetAllowReconnect(opts, false), NATS_OK);
	return opts;
}

natsStatus harness_nats_try_connect(const struct harness_server *srv, natsOptions *opts,
				    natsConnection **nc)
{
	natsOptions *own = NULL;
	natsStatus s;

	if (opts == NULL)
		opts = own = harness_nats_options(srv);
	s = natsConnection_Connect(nc, opts);
	natsOptions_Destroy(own);
	return s;
}

natsConnection *harness_nats_connect(const struct harness_server *srv)
{
	natsConnection *nc = NULL;
	natsStatus s = harness_nats_try_connect(srv, NULL, &nc);

	ck_assert_msg(s == NATS_OK, "nats.c connect to %s: %s (%s)", srv->url,
		      natsStatus_GetText(s), nats_GetLastError(NULL));
	return nc;
}

bool harness_wait_crossing(natsConnection *pub_nc, natsConnection *sub_nc,
			   const char *subj, int timeout_ms)
{
	natsSubscription *sub = NULL;
	ck_assert_int_eq(natsConnection_SubscribeSync(&sub, sub_nc, subj), NATS_OK);
	ck_assert_int_eq(natsConnection_Flush(sub_nc), NATS_OK);
	long long end = harness_now_ms() + timeout_ms;
	bool ok = false;
	while (!ok && harness_now_ms() < end) {
		natsMsg *m = NULL;
		natsConnection_PublishString(pub_nc, subj, "probe");
		natsConnection_Flush(pub_nc);
		if (natsSubscription_NextMsg(&m, sub, 200) == NATS_OK) {
			natsMsg_Destroy(m);
			ok = true;
		}
	}
	harness_sub_destroy(sub_nc, sub);
	return ok;
}

bool harness_testing_reference(void)
{
	return strstr(harness_env_server_path(), "nats-server") != NULL;
}

void harness_sub_destroy(natsConnection *nc, natsSubscription *sub)
{
	natsSubscription_Unsubscribe(sub);
	natsConnection_FlushTimeout(nc, 5000);
	natsSubscription_Destroy(sub);
}

/* ---- raw socket clients ------------------------------------------------ */

struct raw_conn *raw_connect(const struct harness_server *srv)
{
	struct raw_conn *rc = calloc(1, sizeof(*rc));
	struct sockaddr_in sa;
	int one = 1;

	ck_assert_ptr_nonnull(rc);
	rc->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(rc->fd >= 0, "socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)srv->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_msg(connect(rc->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		      "connect 127.0.0.1:%d: %s", srv->port, strerror(errno));
	setsockopt(rc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc->cap = 64 * 1024;
	rc->buf = malloc(rc->cap);
	ck_assert_ptr_nonnull(rc->buf);
	return rc;
}

struct raw_conn *raw_connect_ready(const struct harness_server *srv, const char *json)
{
	struct raw_conn *rc = raw_connect(srv);
	char line[8192];

	ck_assert_msg(raw_take_line(rc, line, sizeof(line), 2000), "no INFO line from server");
	ck_assert_msg(strncmp(line, "INFO ", 5) == 0, "first line is not INFO: %s", line);
	raw_send_str(rc, "CONNECT ");
	raw_send_str(rc, json);
	raw_send_str(rc, "\r\nPING\r\n");
	raw_expect(rc, "PONG\r\n", 2000);
	return rc;
}

void raw_close(struct raw_conn *rc)
{
	if (rc == NULL)
		return;
	if (rc->fd >= 0)
		close(rc->fd);
	free(rc->buf);
	free(rc);
}

bool raw_send(struct raw_conn *rc, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(rc->fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

bool raw_send_str(struct raw_conn *rc, const char *text)
{
	return raw_send(rc, text, strlen(text));
}

/* One poll+recv step; false when the deadline passed or the peer closed. */
static bool raw_read_some(struct raw_conn *rc, long long deadline)
{
	struct pollfd pfd = { .fd = rc->fd, .events = POLLIN };
	long long left = deadline - harness_now_ms();
	ssize_t n;

	if (rc->closed || left <= 0)
		return false;
	if (poll(&pfd, 1, (int)left) <= 0)
		return false;
	if (rc->cap - rc->len < 4096) {
		ck_assert_msg(rc->cap * 2 <= RAW_MAX_BUF_BYTES, "raw client buffer overflow");
		rc->cap *= 2;
		rc->buf = realloc(rc->buf, rc->cap);
		ck_assert_ptr_nonnull(rc->buf);
	}
	n = recv(rc->fd, rc->buf + rc->len, rc->cap - rc->len, 0);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0) {
		/* EOF or reset (ECONNRESET when the server closed with unread input). */
		rc->closed = true;
		return false;
	}
	rc->len += (size_t)n;
	return true;
}

bool raw_wait_for_bytes(struct raw_conn *rc, const void *pattern, size_t len,
			int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	for (;;) {
		if (memmem(rc->buf, rc->len, pattern, len) != NULL)
			return true;
		if (!raw_read_some(rc, deadline) && (rc->closed || harness_now_ms() >= deadline))
			return memmem(rc->buf, rc->len, pattern, len) != NULL;
	}
}

bool raw_wait_for(struct raw_conn *rc, const char *pattern, int timeout_ms)
{
	return raw_wait_for_bytes(rc, pattern, strlen(pattern), timeout_ms);
}

bool raw_wait_len(struct raw_conn *rc, size_t n, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	while (rc->len < n) {
		if (!raw_read_some(rc, deadline) && (rc->closed || harness_now_ms() >= deadline))
			break;
	}
	return rc->len >= n;
}

bool raw_wait_closed(struct raw_conn *rc, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	while (!rc->closed && harness_now_ms() < deadline)
		raw_read_some(rc, deadline);
	return rc->closed;
}

void raw_read_quiet(struct raw_conn *rc, int quiet_ms)
{
	while (raw_read_some(rc, harness_now_ms() + quiet_ms))
		;
}

bool raw_contains(const struct raw_conn *rc, const char *pattern)
{
	return memmem(rc->buf, rc->len, pattern, strlen(pattern)) != NULL;
}

void raw_consume(struct raw_conn *rc, size_t n)
{
	if (n > rc->len)
		n = rc->len;
	memmove(rc->buf, rc->buf + n, rc->len - n);
	rc->len -= n;
}

bool raw_consume_through(struct raw_conn *rc, const char *pattern)
{
	size_t plen = strlen(pattern);
	const char *at = memmem(rc->buf, rc->len, pattern, plen);

	if (at == NULL)
		return false;
	raw_consume(rc, (size_t)(at - rc->buf) + plen);
	return true;
}

const char *harness_escape(const void *data, size_t len)
{
	static char bufs[4][4096];
	static unsigned next;
	const unsigned char *p = data;
	char *out = bufs[next++ % 4];
	size_t o = 0;

	for (size_t i = 0; i < len && o + 8 < sizeof(bufs[0]); i++) {
		if (p[i] == '\r')
			o += (size_t)snprintf(out + o, sizeof(bufs[0]) - o, "\\r");
		else if (p[i] == '\n')
			o += (size_t)snprintf(out + o, sizeof(bufs[0]) - o, "\\n");
		else if (p[i] < 0x20 || p[i] >= 0x7f)
			o += (size_t)snprintf(out + o, sizeof(bufs[0]) - o, "\\x%02x", p[i]);
		else
			out[o++] = (char)p[i];
	}
	out[o] = '\0';
	return out;
}

const char *raw_escaped(const struct raw_conn *rc)
{
	return harness_escape(rc->buf, rc->len);
}

bool raw_expect_check(struct raw_conn *rc, const void *expected, size_t len,
		      int timeout_ms)
{
	if (!raw_wait_len(rc, len, timeout_ms) || memcmp(rc->buf, expected, len) != 0)
		return false;
	raw_consume(rc, len);
	return true;
}

bool raw_take_line(struct raw_conn *rc, char *out, size_t cap, int timeout_ms)
{
	const char *nl;
	size_t n;

	if (!raw_wait_for(rc, "\n", timeout_ms))
		return false;
	nl = memchr(rc->buf, '\n', rc->len);
	n = (size_t)(nl - rc->buf);
	if (n > 0 && rc->buf[n - 1] == '\r')
		n--;
	if (cap > 0) {
		size_t copy = n < cap - 1 ? n : cap - 1;

		memcpy(out, rc->buf, copy);
		out[copy] = '\0';
	}
	raw_consume(rc, (size_t)(nl - rc->buf) + 1);
	return true;
}

bool raw_ping_pong(struct raw_conn *rc)
{
	if (!raw_send_str(rc, "PING\r\n") || !raw_wait_for(rc, "PONG\r\n", 2000))
		return false;
	return raw_consume_through(rc, "PONG\r\n");
}

/* ---- JetStream store folders ------------------------------------------ */

int harness_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

void harness_store_dir_make(char *dir, size_t cap)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, cap, "%s/natsjs-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
}

void harness_store_dir_remove(char *dir)
{
	if (dir[0] == '\0')
		return;
	harness_remove_dir(dir);
	dir[0] = '\0';
}

void harness_js_server_start(struct harness_server *srv, const char *dir,
			     const char *extra)
{
	size_t cap = strlen(dir) + (extra ? strlen(extra) : 0) + 64;
	char *conf = malloc(cap);

	ck_assert_ptr_nonnull(conf);
	snprintf(conf, cap, "jetstream { store_dir: \"%s\" }\n%s", dir,
		 extra ? extra : "");
	harness_server_start(srv, conf, NULL);
	free(conf);
}

void harness_js_setup(struct harness_server *srv, char *dir, size_t cap)
{
	harness_store_dir_make(dir, cap);
	harness_js_server_start(srv, dir, NULL);
}

void harness_js_teardown(struct harness_server *srv, char *dir)
{
	harness_server_stop(srv);
	harness_store_dir_remove(dir);
}
