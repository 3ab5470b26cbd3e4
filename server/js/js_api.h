/*
 * js_api.h - the JetStream API: requests on "$JS.API.>" (and
 * "$JS.<domain>.API.>"), their JSON envelope and the error table.
 *
 * Every request is answered with one message to its reply subject (none
 * when it has no reply), in the reference's exact JSON shape: "type" first,
 * then "error" on failure, then the payload fields.  Errors carry the
 * reference's http code, err_code and description from js_errors.def.
 * Requests for subjects no handler knows get no answer, like the
 * reference.  Counters (api total/errors) are per account.
 */
#ifndef JS_API_H
#define JS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/json.h"

struct server;
struct account;
struct sub;
struct conn;
struct pubmsg;
struct js_account;

enum js_err {
	JS_ERR_NONE = 0,
#define JS_ERR(name, http, code, text) JS_ERR_##name,
#include "js_errors.def"
#undef JS_ERR
	JS_ERR_COUNT
};

/* An error as it goes on the wire: err NONE = no error. */
struct js_error {
	enum js_err err;
	char text[256];                /* description with {...} replaced */
};

/* Sets e to err; detail replaces the "{...}" placeholder of the table's
 * description (NULL leaves the description as it is). */
void js_error_set(struct js_error *e, enum js_err err, const char *detail);
/* Like js_error_set with a printf-formatted detail. */
void js_error_setf(struct js_error *e, enum js_err err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int js_error_http(enum js_err err);
int js_error_code(enum js_err err);
/* Writes "error":{"code":..,"err_code":..,"description":..} into w. */
void js_error_write(struct jw *w, const struct js_error *e);

/* The internal subscription callback for "$JS.API.>" (arg: the
 * js_account), and the one for "$JS.<domain>.API.>". */
void js_api_request(void *arg, struct sub *sub, struct conn *from,
		    struct account *acc, const struct pubmsg *m);
void js_api_domain_request(void *arg, struct sub *sub, struct conn *from,
			   struct account *acc, const struct pubmsg *m);

/* Sends a finished response to reply in ja's account (queued to the end
 * of the loop turn, in order). */
void js_api_send(struct js_account *ja, const char *reply, const char *json,
		 size_t len);

#endif
