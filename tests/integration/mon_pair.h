/*
 * mon_pair.h - the monitoring tests' side-by-side servers: the server
 * under test and the reference nats-server started with the same
 * configuration, an HTTP client for their monitoring ports, and the JSON
 * documents they answer (parsed with the server's own reader), compared
 * key by key.  Used by test_monitor.c and test_monitor_js.c.
 */
#ifndef MON_PAIR_H
#define MON_PAIR_H

#include <stdint.h>

#include "harness.h"
#include "lib/json.h"
#include "lib/mem.h"

#define MON_REFERENCE_SERVER "/usr/sbin/nats-server"

/* One server of the pair and where its monitoring port is. */
struct mon_server {
	struct harness_server srv;
	char dir[256];                 /* ports file (and store) */
	int http_port;
	const char *label;             /* "ours" or "reference", for messages */
};

/* Starts m from conf_fmt, a config in which every %s stands for the
 * server's own folder, with binary (NULL: $NATS_TEST_SERVER).  The
 * config must set `http: "127.0.0.1:-1"` and `ports_file_dir: "%s"`. */
void mon_start(struct mon_server *m, const char *binary, const char *conf_fmt,
	       const char *label);
void mon_stop(struct mon_server *m);

struct http_resp {
	int status;
	char *head;                    /* status line and headers */
	char *body;                    /* decoded (chunked or not), NUL-ended */
	size_t body_len;
};

/* A connection to 127.0.0.1:port, and everything read from it until the
 * peer closes (NUL-ended, malloc'd); both fail the test on error. */
int http_connect(int port);
char *http_read_all(int fd, size_t *len);

/* GET target from m's monitoring port (Connection: close). */
struct http_resp http_get(const struct mon_server *m, const char *target);
void http_resp_free(struct http_resp *r);

struct doc {
	struct mem mem;
	struct json_doc d;
	char *text;                    /* the JSON text, NUL-ended */
	size_t len;
};

/* Parses text (fails the test when it is not JSON; what names it). */
void doc_parse(struct doc *x, const char *text, size_t len, const char *what);
/* GET target, which must answer 200 with JSON. */
void doc_get(struct doc *x, const struct mon_server *m, const char *target);
void doc_free(struct doc *x);

/* The token at a dotted path ("connections.0.in_msgs"), or -1. */
int doc_path(const struct doc *x, const char *path);
/* The integer, or the string, at a path; fails the test when absent. */
int64_t doc_int(const struct doc *x, const char *path);
void doc_str(const struct doc *x, const char *path, char *out, size_t cap);
/* Elements of the array at path, -1 when there is none. */
int doc_array_len(const struct doc *x, const char *path);
/* Whether "s" (quoted) occurs in the text. */
bool doc_has_string(const struct doc *x, const char *s);

/* The string at token tok (empty when it is not one). */
void json_text(const struct json_doc *d, int tok, char *out, size_t cap);

/* Every key of the reference's value (rd, rt) is in ours (od, ot) with a
 * value of the same JSON type (null aside: Go writes null for an empty
 * list); objects recurse; in arrays, objects with a "name" pair by name
 * (every one of the reference's must be in ours), others compare their
 * first elements. */
void compare_keys(const struct json_doc *rd, int rt, const struct json_doc *od, int ot,
		  const char *path);
/* Fetches target from both servers and compares the key sets. */
void compare_endpoint(const struct mon_server *ref, const struct mon_server *ours,
		      const char *target);

#endif
