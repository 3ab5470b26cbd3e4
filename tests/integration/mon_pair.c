/*
 * mon_pair.c - see mon_pair.h.
 */
#include "mon_pair.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/buf.h"

#define HTTP_TIMEOUT_MS 5000

/* ---- servers ----------------------------------------------------------- */

/* The monitoring port from the ports file the server wrote in dir. */
static int read_monitor_port(const char *dir)
{
	static const char key[] = "\"monitoring\":[\"http://127.0.0.1:";
	for (int tries = 0; tries < 100; tries++) {
		DIR *d = opendir(dir);
		struct dirent *e;
		char path[600], text[2048];
		ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
		while ((e = readdir(d)) != NULL) {
			size_t n = strlen(e->d_name);
			if (n < 6 || strcmp(e->d_name + n - 6, ".ports") != 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			FILE *fp = fopen(path, "r");
			size_t got = fp ? fread(text, 1, sizeof(text) - 1, fp) : 0;
			if (fp)
				fclose(fp);
			text[got] = '\0';
			const char *m = strstr(text, key);
			if (m != NULL) {
				closedir(d);
				return atoi(m + strlen(key));
			}
		}
		closedir(d);
		harness_sleep_ms(50);
	}
	ck_abort_msg("no ports file with a monitoring URL in %s", dir);
	return -1;
}

/* conf_fmt with every %s replaced by dir. */
static void expand_dir(const char *conf_fmt, const char *dir, char *out, size_t cap)
{
	size_t n = 0, dl = strlen(dir);
	for (const char *p = conf_fmt; *p != '\0'; p++) {
		bool hole = p[0] == '%' && p[1] == 's';
		size_t add = hole ? dl : 1;
		ck_assert_msg(n + add < cap, "config too long");
		memcpy(out + n, hole ? dir : p, add);
		n += add;
		p += hole;
	}
	out[n] = '\0';
}

void mon_start(struct mon_server *m, const char *binary, const char *conf_fmt,
	       const char *label)
{
	char conf[4096];
	const char *saved = getenv("NATS_TEST_SERVER");
	char keep[512] = "";
	if (saved != NULL)
		snprintf(keep, sizeof(keep), "%s", saved);
	m->label = label;
	snprintf(m->dir, sizeof(m->dir), "/tmp/natsmon-XXXXXX");
	ck_assert(mkdtemp(m->dir) != NULL);
	expand_dir(conf_fmt, m->dir, conf, sizeof(conf));
	if (binary != NULL)
		setenv("NATS_TEST_SERVER", binary, 1);
	harness_server_start(&m->srv, conf, NULL);
	if (binary != NULL) {
		if (keep[0] != '\0')
			setenv("NATS_TEST_SERVER", keep, 1);
		else
			unsetenv("NATS_TEST_SERVER");
	}
	m->http_port = read_monitor_port(m->dir);
}

void mon_stop(struct mon_server *m)
{
	char cmd[400];
	harness_server_stop(&m->srv);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", m->dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* ---- HTTP client ------------------------------------------------------- */

int http_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert(fd >= 0);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %d: %s",
		      port, strerror(errno));
	return fd;
}

/* Reads until the peer closes; returns the bytes (NUL-ended). */
char *http_read_all(int fd, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *data = malloc(cap + 1);
	long long deadline = harness_now_ms() + HTTP_TIMEOUT_MS;
	ck_assert(data != NULL);
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		long long left = deadline - harness_now_ms();
		ck_assert_msg(left > 0 && poll(&pfd, 1, (int)left) > 0, "HTTP answer timed out");
		if (n == cap) {
			cap *= 2;
			data = realloc(data, cap + 1);
			ck_assert(data != NULL);
		}
		ssize_t got = read(fd, data + n, cap - n);
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	data[n] = '\0';
	*len = n;
	return data;
}

static void http_dechunk(const char *in, struct http_resp *r)
{
	r->body = malloc(strlen(in) + 1);
	ck_assert(r->body != NULL);
	r->body_len = 0;
	for (;;) {
		unsigned long size = strtoul(in, NULL, 16);
		const char *nl = strstr(in, "\r\n");
		if (size == 0 || nl == NULL)
			break;
		memcpy(r->body + r->body_len, nl + 2, size);
		r->body_len += size;
		in = nl + 2 + size + 2;
	}
	r->body[r->body_len] = '\0';
}

/* Splits one raw response into status, head and body. */
static void http_split(const char *raw, struct http_resp *r)
{
	const char *end = strstr(raw, "\r\n\r\n");
	ck_assert_msg(end != NULL, "no response head in [%s]", raw);
	ck_assert_msg(sscanf(raw, "HTTP/1.%*d %d", &r->status) == 1, "status line [%.40s]", raw);
	r->head = strndup(raw, (size_t)(end - raw) + 2);
	if (strstr(r->head, "Transfer-Encoding: chunked") != NULL) {
		http_dechunk(end + 4, r);
	} else {
		r->body = strdup(end + 4);
		r->body_len = strlen(r->body);
	}
}

struct http_resp http_get(const struct mon_server *m, const char *target)
{
	struct http_resp r = { 0 };
	char req[1024];
	size_t len;
	int fd = http_connect(m->http_port);
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Connection: close\r\n\r\n", target);
	ck_assert(write(fd, req, (size_t)n) == n);
	char *raw = http_read_all(fd, &len);
	close(fd);
	http_split(raw, &r);
	free(raw);
	return r;
}

void http_resp_free(struct http_resp *r)
{
	free(r->head);
	free(r->body);
}

/* ---- JSON documents ---------------------------------------------------- */

void doc_parse(struct doc *x, const char *text, size_t len, const char *what)
{
	x->text = strndup(text, len);
	x->len = len;
	mem_init(&x->mem);
	ck_assert_msg(json_parse(&x->d, &x->mem, x->text, x->len) == 0,
		      "%s: not JSON: %s [%s]", what, x->d.error, x->text);
}

void doc_get(struct doc *x, const struct mon_server *m, const char *target)
{
	struct http_resp r = http_get(m, target);
	ck_assert_msg(r.status == 200, "%s on %s: status %d [%s]", target, m->label,
		      r.status, r.body);
	doc_parse(x, r.body, r.body_len, target);
	http_resp_free(&r);
}

void doc_free(struct doc *x)
{
	json_doc_free(&x->d);
	free(x->text);
}

int doc_path(const struct doc *x, const char *path)
{
	char copy[256], *save = NULL;
	int t = 0;
	snprintf(copy, sizeof(copy), "%s", path);
	for (char *part = strtok_r(copy, ".", &save); part && t >= 0;
	     part = strtok_r(NULL, ".", &save)) {
		if (part[0] >= '0' && part[0] <= '9')
			t = json_array_at(&x->d, t, (uint32_t)atoi(part));
		else
			t = json_obj_get(&x->d, t, part);
	}
	return t;
}

int64_t doc_int(const struct doc *x, const char *path)
{
	int t = doc_path(x, path);
	int64_t v;
	ck_assert_msg(t >= 0, "no %s in [%s]", path, x->text);
	ck_assert_msg(json_get_int(&x->d, t, &v), "%s is not an integer", path);
	return v;
}

void json_text(const struct json_doc *d, int tok, char *out, size_t cap)
{
	struct mem mem;
	struct buf b;
	mem_init(&mem);
	buf_init(&b, &mem);
	json_get_string(d, tok, &b);
	snprintf(out, cap, "%s", b.data ? b.data : "");
	buf_free(&b);
}

void doc_str(const struct doc *x, const char *path, char *out, size_t cap)
{
	int t = doc_path(x, path);
	ck_assert_msg(t >= 0, "no %s in [%s]", path, x->text);
	json_text(&x->d, t, out, cap);
}

int doc_array_len(const struct doc *x, const char *path)
{
	int t = doc_path(x, path);
	if (t < 0)
		return -1;
	return (int)json_array_len(&x->d, t);
}

bool doc_has_string(const struct doc *x, const char *s)
{
	char quoted[256];
	snprintf(quoted, sizeof(quoted), "\"%s\"", s);
	return strstr(x->text, quoted) != NULL;
}

/* ---- comparison -------------------------------------------------------- */

/* The element of our array ot named like the reference's element re
 * ("name" key), or -1; arrays in map order differ between the two. */
static int array_find_named(const struct json_doc *rd, int re, const struct json_doc *od,
			    int ot)
{
	char want[256], have[256];
	int k = json_type_of(rd, re) == JSON_OBJECT ? json_obj_get(rd, re, "name") : -1;
	if (k < 0 || json_type_of(rd, k) != JSON_STRING)
		return -1;
	json_text(rd, k, want, sizeof(want));
	for (uint32_t i = 0; json_array_at(od, ot, i) >= 0; i++) {
		int e = json_array_at(od, ot, i);
		int n = json_type_of(od, e) == JSON_OBJECT ? json_obj_get(od, e, "name") : -1;
		if (n < 0)
			continue;
		json_text(od, n, have, sizeof(have));
		if (strcmp(want, have) == 0)
			return e;
	}
	return -1;
}

static void compare_arrays(const struct json_doc *rd, int rt, const struct json_doc *od,
			   int ot, const char *path)
{
	char sub[512];
	int r0 = json_array_at(rd, rt, 0), o0 = json_array_at(od, ot, 0);
	if (r0 < 0 || o0 < 0)
		return;
	if (array_find_named(rd, r0, od, ot) < 0) {
		snprintf(sub, sizeof(sub), "%s[0]", path);
		compare_keys(rd, r0, od, o0, sub);
		return;
	}
	for (uint32_t i = 0; json_array_at(rd, rt, i) >= 0; i++) {
		int re = json_array_at(rd, rt, i);
		int oe = array_find_named(rd, re, od, ot);
		snprintf(sub, sizeof(sub), "%s[%u]", path, i);
		ck_assert_msg(oe >= 0, "%s: named element missing in ours", sub);
		compare_keys(rd, re, od, oe, sub);
	}
}

void compare_keys(const struct json_doc *rd, int rt, const struct json_doc *od, int ot,
		  const char *path)
{
	enum json_type rtype = json_type_of(rd, rt), otype = json_type_of(od, ot);
	if (rtype == JSON_NULL || otype == JSON_NULL)
		return;
	ck_assert_msg(rtype == otype, "%s: type %d in the reference, %d in ours", path, rtype,
		      otype);
	if (rtype == JSON_ARRAY) {
		compare_arrays(rd, rt, od, ot, path);
		return;
	}
	if (rtype != JSON_OBJECT)
		return;
	uint32_t it = 0;
	int k;
	while ((k = json_obj_next(rd, rt, &it)) >= 0) {
		char key[128], sub[512];
		json_text(rd, k, key, sizeof(key));
		snprintf(sub, sizeof(sub), "%s.%s", path, key);
		int v = json_obj_get(od, ot, key);
		ck_assert_msg(v >= 0, "%s: in the reference, missing in ours", sub);
		compare_keys(rd, k + 1, od, v, sub);
	}
}

void compare_endpoint(const struct mon_server *ref, const struct mon_server *ours,
		      const char *target)
{
	struct doc r, o;
	doc_get(&r, ref, target);
	doc_get(&o, ours, target);
	compare_keys(&r.d, 0, &o.d, 0, target);
	doc_free(&r);
	doc_free(&o);
}
