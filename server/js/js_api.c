/*
 * js_api.c - dispatch of JetStream API requests and their envelope (see
 * js_api.h).  Owns the error table (from js_errors.def) and one handler per
 * API subject; handlers write the response fields after "type" into one
 * buffer that is sent to the reply subject.
 *
 * Responses go out with internal_send, so they leave at the end of the
 * loop turn in request order, after anything the request itself caused.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../core/internal.h"
#include "../core/server_int.h"
#include "../core/subject.h"
#include "../lib/assert.h"
#include "jetstream.h"
#include "js_api.h"
#include "consumer.h"
#include "js_json.h"
#include "stream.h"
#include "js_advisory.h"

#define JS_API_PREFIX "$JS.API."
#define JS_API_NAMES_LIMIT 1024
#define JS_API_LIST_LIMIT 256
#define JS_API_SUBJECTS_LIMIT 100000
#define JS_TYPE_PREFIX "io.nats.jetstream.api.v1."

struct js_err_row {
	int http;
	int code;
	const char *text;
};

static const struct js_err_row js_err_rows[] = {
	[JS_ERR_NONE] = { 0, 0, "" },
#define JS_ERR(name, http, code, text) [JS_ERR_##name] = { http, code, text },
#include "js_errors.def"
#undef JS_ERR
};

int js_error_http(enum js_err err)
{
	ASSERT(err < JS_ERR_COUNT);
	return js_err_rows[err].http;
}

int js_error_code(enum js_err err)
{
	ASSERT(err < JS_ERR_COUNT);
	return js_err_rows[err].code;
}

void js_error_set(struct js_error *e, enum js_err err, const char *detail)
{
	ASSERT(err < JS_ERR_COUNT);
	const char *text = js_err_rows[err].text;
	const char *open = strchr(text, '{');
	const char *close = open != NULL ? strchr(open, '}') : NULL;
	e->err = err;
	if (detail == NULL || open == NULL || close == NULL) {
		snprintf(e->text, sizeof(e->text), "%s", text);
		return;
	}
	snprintf(e->text, sizeof(e->text), "%.*s%s%s", (int)(open - text),
		 text, detail, close + 1);
}

void js_error_setf(struct js_error *e, enum js_err err, const char *fmt, ...)
{
	char detail[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	js_error_set(e, err, detail);
}

void js_error_write(struct jw *w, const struct js_error *e)
{
	jw_key(w, "error");
	jw_obj_begin(w);
	jw_key(w, "code");
	jw_int(w, js_error_http(e->err));
	jw_key(w, "err_code");
	jw_int(w, js_error_code(e->err));
	jw_key(w, "description");
	jw_str(w, e->text);
	jw_obj_end(w);
}

void js_api_send(struct js_account *ja, const char *reply, const char *json,
		 size_t len)
{
	internal_send(ja->js->srv, ja->acc, reply, NULL, NULL, 0, json, len);
}

/* ------------------------------------------------------- one request */

/* What a handler gets: the parsed request and where to write. */
struct api_req {
	struct js_account *ja;
	struct server *srv;
	const char *stream;            /* the subject's stream token or NULL */
	const char *consumer;          /* the subject's consumer token or NULL */
	const char *filter;            /* CONSUMER.CREATE's filter or NULL */
	bool legacy_durable;           /* CONSUMER.DURABLE.CREATE */
	const char *body;
	size_t body_len;
	const char *reply;             /* NULL when the request has none */
	struct json_doc doc;
	bool has_doc;                  /* doc parsed and non-empty */
	bool empty;                    /* no body */
	bool bad_json;                 /* body is not a JSON object */
	struct jw w;
	struct buf out;
	struct js_error e;
	/* The reference does not count every answer in the account's API
	 * stats: a found message is sent without counting, and a failed
	 * message delete counts as a success. */
	bool uncounted;
	bool error_counts_ok;
	const struct conn *from;
	const char *rest;
};

typedef int (*api_handler)(struct api_req *r);

enum api_extra {
	API_EXTRA_NONE = 0,
	API_EXTRA_PAGED,               /* total/offset/limit also on errors */
	API_EXTRA_PURGED,              /* "purged":0 also on errors */
	API_EXTRA_CONSUMERS,           /* paged, and "consumers":[] */
};

struct api_route {
	const char *name;              /* after "$JS.API." */
	const char *type;              /* response type suffix */
	bool has_stream;               /* a stream name token follows */
	enum api_extra extra;
	api_handler fn;
};

static int api_info(struct api_req *r);
static int api_stream_create(struct api_req *r);
static int api_stream_update(struct api_req *r);
static int api_stream_info(struct api_req *r);
static int api_stream_delete(struct api_req *r);
static int api_stream_names(struct api_req *r);
static int api_stream_list(struct api_req *r);
static int api_stream_purge(struct api_req *r);
static int api_msg_get(struct api_req *r);
static int api_msg_delete(struct api_req *r);
static int api_consumer_create(struct api_req *r);
static int api_consumer_info(struct api_req *r);
static int api_consumer_delete(struct api_req *r);
static int api_consumer_names(struct api_req *r);
static int api_consumer_list(struct api_req *r);

/* CONSUMER.* subjects: the route and how many tokens follow its name
 * (stream, stream.consumer, or at least stream for create). */
struct api_consumer_route {
	struct api_route rt;
	int min_tokens;
	int max_tokens;
};

static const struct api_consumer_route api_consumer_routes[] = {
	{ { "CONSUMER.DURABLE.CREATE", "consumer_create_response", true,
	    API_EXTRA_NONE, api_consumer_create }, 2, 2 },
	{ { "CONSUMER.CREATE", "consumer_create_response", true,
	    API_EXTRA_NONE, api_consumer_create }, 1, 64 },
	{ { "CONSUMER.INFO", "consumer_info_response", true, API_EXTRA_NONE,
	    api_consumer_info }, 2, 2 },
	{ { "CONSUMER.DELETE", "consumer_delete_response", true,
	    API_EXTRA_NONE, api_consumer_delete }, 2, 2 },
	{ { "CONSUMER.NAMES", "consumer_names_response", true,
	    API_EXTRA_CONSUMERS, api_consumer_names }, 1, 1 },
	{ { "CONSUMER.LIST", "consumer_list_response", true,
	    API_EXTRA_CONSUMERS, api_consumer_list }, 1, 1 },
};

static const struct api_route api_routes[] = {
	{ "INFO", "account_info_response", false, API_EXTRA_NONE, api_info },
	{ "STREAM.CREATE", "stream_create_response", true, API_EXTRA_NONE,
	  api_stream_create },
	{ "STREAM.UPDATE", "stream_update_response", true, API_EXTRA_NONE,
	  api_stream_update },
	{ "STREAM.INFO", "stream_info_response", true, API_EXTRA_PAGED,
	  api_stream_info },
	{ "STREAM.DELETE", "stream_delete_response", true, API_EXTRA_NONE,
	  api_stream_delete },
	{ "STREAM.NAMES", "stream_names_response", false, API_EXTRA_NONE,
	  api_stream_names },
	{ "STREAM.LIST", "stream_list_response", false, API_EXTRA_NONE,
	  api_stream_list },
	{ "STREAM.PURGE", "stream_purge_response", true, API_EXTRA_PURGED,
	  api_stream_purge },
	{ "STREAM.MSG.GET", "stream_msg_get_response", true, API_EXTRA_NONE,
	  api_msg_get },
	{ "STREAM.MSG.DELETE", "stream_msg_delete_response", true,
	  API_EXTRA_NONE, api_msg_delete },
};

/* Matches "<route name>" or "<route name>.<stream>" exactly. */
static const struct api_route *api_route_find(const char *rest,
					      const char **stream_out)
{
	for (size_t i = 0; i < ARRAY_LEN(api_routes); i++) {
		const struct api_route *rt = &api_routes[i];
		size_t n = strlen(rt->name);
		if (strncmp(rest, rt->name, n) != 0)
			continue;
		if (!rt->has_stream) {
			if (rest[n] == '\0')
				return rt;
			continue;
		}
		if (rest[n] != '.' || rest[n + 1] == '\0' ||
		    strchr(rest + n + 1, '.') != NULL)
			continue;
		*stream_out = rest + n + 1;
		return rt;
	}
	return NULL;
}

static void api_write_extra_on_error(struct api_req *r,
				     const struct api_route *rt)
{
	if (rt->extra == API_EXTRA_PAGED) {
		jw_key(&r->w, "total");
		jw_int(&r->w, 0);
		jw_key(&r->w, "offset");
		jw_int(&r->w, 0);
		jw_key(&r->w, "limit");
		jw_int(&r->w, 0);
	} else if (rt->extra == API_EXTRA_CONSUMERS) {
		jw_key(&r->w, "total");
		jw_int(&r->w, 0);
		jw_key(&r->w, "offset");
		jw_int(&r->w, 0);
		jw_key(&r->w, "limit");
		jw_int(&r->w, 0);
		jw_key(&r->w, "consumers");
		jw_raw(&r->w, "[]", 2);
	} else if (rt->extra == API_EXTRA_PURGED) {
		jw_key(&r->w, "purged");
		jw_int(&r->w, 0);
	}
}

static void api_run(struct api_req *r, const struct api_route *rt)
{
	char type[96];
	snprintf(type, sizeof(type), JS_TYPE_PREFIX "%s", rt->type);
	buf_init(&r->out, &r->srv->mem);
	jw_init(&r->w, &r->out);
	jw_obj_begin(&r->w);
	jw_key(&r->w, "type");
	jw_str(&r->w, type);
	/* A handler that fails may have written some fields already: the
	 * response is cut back to here and the error written instead. */
	size_t mark = r->out.len;
	struct jw saved = r->w;
	int rc;
	if (!r->ja->enabled) {
		js_error_set(&r->e, JS_ERR_NOT_ENABLED_FOR_ACCOUNT, NULL);
		rc = -1;
	} else {
		rc = rt->fn(r);
	}
	if (rc != 0) {
		r->out.len = mark;
		r->w = saved;
		js_error_write(&r->w, &r->e);
		api_write_extra_on_error(r, rt);
	}
	jw_obj_end(&r->w);
	if (!r->uncounted) {
		r->ja->api_total++;
		if (rc != 0 && !r->error_counts_ok)
			r->ja->api_errors++;
	}
	if (r->reply != NULL && !r->out.oom)
		js_api_send(r->ja, r->reply, r->out.data, r->out.len);
	if (!r->uncounted && !r->out.oom)
		js_advisory_api_audit(r->ja, r->from, r->rest, r->body,
				      r->body_len, r->out.data, r->out.len);
	buf_free(&r->out);
}

/* Splits rest (a copy the caller owns) into the tokens after a consumer
 * route's name: r->stream, r->consumer and r->filter. */
static const struct api_route *api_consumer_route_find(char *rest,
						       struct api_req *r)
{
	for (size_t i = 0; i < ARRAY_LEN(api_consumer_routes); i++) {
		const struct api_consumer_route *cr = &api_consumer_routes[i];
		size_t n = strlen(cr->rt.name);
		if (strncmp(rest, cr->rt.name, n) != 0 || rest[n] != '.')
			continue;
		char *p = rest + n + 1;
		size_t len = strlen(p);
		int ntok = len > 0 ? (int)subject_token_count(p, len) : 0;
		if (len == 0 || ntok < cr->min_tokens || ntok > cr->max_tokens)
			return NULL;
		r->legacy_durable = i == 0;
		r->stream = p;
		char *dot = strchr(p, '.');
		if (dot != NULL) {
			*dot = '\0';
			r->consumer = dot + 1;
			dot = strchr(dot + 1, '.');
			/* The reference takes a filter only from the eighth
			 * token of the full subject on. */
			if (dot != NULL) {
				*dot = '\0';
				if (strchr(dot + 1, '.') != NULL)
					r->filter = dot + 1;
			}
		}
		return &cr->rt;
	}
	return NULL;
}

/* MSG.NEXT.<stream>.<consumer>: served by the consumer, without the API
 * envelope and not counted (the reference serves it from the consumer's
 * own subscription). */
static void api_msg_next(struct js_account *ja, const char *rest,
			 const struct pubmsg *m, const char *reply)
{
	char name[STREAM_NAME_MAX + CONSUMER_NAME_MAX + 2];
	const char *dot = strchr(rest, '.');
	if (!ja->enabled || dot == NULL || strchr(dot + 1, '.') != NULL ||
	    strlen(rest) >= sizeof(name))
		return;
	memcpy(name, rest, (size_t)(dot - rest));
	name[dot - rest] = '\0';
	struct stream *st = js_account_find_stream(ja, name);
	struct consumer *c = st ? stream_find_consumer(st, dot + 1) : NULL;
	if (c != NULL)
		consumer_next_request(c, reply, m->data + m->header_len,
				      m->total_len - m->header_len);
}

/* DIRECT.GET.<stream>[.<subject>]: answered by the stream itself, and not
 * at all when the stream does not allow it (like the reference). */
static void api_direct_get(struct js_account *ja, const char *rest,
			   const char *body, size_t body_len,
			   const char *reply)
{
	const char *dot = strchr(rest, '.');
	char name[STREAM_NAME_MAX + 1];
	size_t n = dot ? (size_t)(dot - rest) : strlen(rest);
	if (!ja->enabled || n == 0 || n > STREAM_NAME_MAX)
		return;
	memcpy(name, rest, n);
	name[n] = '\0';
	struct stream *st = js_account_find_stream(ja, name);
	if (st != NULL)
		stream_direct_get(st, dot ? dot + 1 : NULL, body, body_len,
				  reply);
}

static void api_dispatch(struct js_account *ja, const char *rest,
			 const struct pubmsg *m, const struct conn *from)
{
	struct server *s = ja->js->srv;
	struct api_req r;
	memset(&r, 0, sizeof(r));
	r.ja = ja;
	r.srv = s;
	r.from = from;
	r.rest = rest;
	char reply[512];
	if (m->reply_len > 0 && m->reply_len < sizeof(reply)) {
		memcpy(reply, m->reply, m->reply_len);
		reply[m->reply_len] = '\0';
		r.reply = reply;
	}
	r.body = m->data + m->header_len;
	r.body_len = m->total_len - m->header_len;
	if (strncmp(rest, "DIRECT.GET.", 11) == 0) {
		api_direct_get(ja, rest + 11, r.body, r.body_len, r.reply);
		return;
	}
	if (strncmp(rest, "CONSUMER.MSG.NEXT.", 18) == 0) {
		api_msg_next(ja, rest + 18, m, r.reply);
		return;
	}
	char copy[1024];
	const struct api_route *rt = NULL;
	if (strncmp(rest, "CONSUMER.", 9) == 0) {
		snprintf(copy, sizeof(copy), "%s", rest);
		rt = api_consumer_route_find(copy, &r);
	} else {
		rt = api_route_find(rest, &r.stream);
	}
	if (rt == NULL)
		return; /* like the reference: unknown API subjects get nothing */
	r.bad_json = js_json_parse_body(&r.doc, &s->mem, r.body, r.body_len,
					&r.empty) != 0;
	r.has_doc = !r.bad_json && !r.empty;
	api_run(&r, rt);
	if (r.has_doc)
		json_doc_free(&r.doc);
}

/* The subject arrives with its length; handlers want C strings. */
static void api_request_common(struct js_account *ja, const struct pubmsg *m,
			       size_t prefix_len, const struct conn *from)
{
	char subject[1024];
	if (m->subject_len >= sizeof(subject) || m->subject_len <= prefix_len)
		return;
	memcpy(subject, m->subject, m->subject_len);
	subject[m->subject_len] = '\0';
	api_dispatch(ja, subject + prefix_len, m, from);
}

void js_api_request(void *arg, struct sub *sub, struct conn *from,
		    struct account *acc, const struct pubmsg *m)
{
	UNUSED(sub);
	UNUSED(acc);
	api_request_common(arg, m, strlen(JS_API_PREFIX), from);
}

void js_api_domain_request(void *arg, struct sub *sub, struct conn *from,
			   struct account *acc, const struct pubmsg *m)
{
	struct js_account *ja = arg;
	UNUSED(sub);
	UNUSED(acc);
	api_request_common(ja, m, strlen(ja->js->api_domain_prefix) + 1, from);
}

/* ------------------------------------------------------------ handlers */

static void api_write_limits(struct jw *w, const struct opts_js_limits *l)
{
	jw_key(w, "limits");
	jw_obj_begin(w);
	jw_key(w, "max_memory");
	jw_int(w, l->max_memory);
	jw_key(w, "max_storage");
	jw_int(w, l->max_store);
	jw_key(w, "max_streams");
	jw_int(w, l->max_streams);
	jw_key(w, "max_consumers");
	jw_int(w, l->max_consumers);
	jw_key(w, "max_ack_pending");
	jw_int(w, l->max_ack_pending);
	jw_key(w, "memory_max_stream_bytes");
	jw_int(w, l->mem_max_stream_bytes);
	jw_key(w, "storage_max_stream_bytes");
	jw_int(w, l->disk_max_stream_bytes);
	jw_key(w, "max_bytes_required");
	jw_bool(w, l->max_bytes_required);
	jw_obj_end(w);
}

static int api_info(struct api_req *r)
{
	struct js_account *ja = r->ja;
	uint64_t memory = 0, storage = 0;
	for (size_t i = 0; i < ja->n_streams; i++) {
		struct store_state ss;
		stream_get_state(ja->streams[i], &ss);
		if (stream_config_of(ja->streams[i])->storage == STORE_MEMORY)
			memory += ss.bytes;
		else
			storage += ss.bytes;
	}
	jw_key(&r->w, "memory");
	jw_uint(&r->w, memory);
	jw_key(&r->w, "storage");
	jw_uint(&r->w, storage);
	jw_key(&r->w, "streams");
	jw_uint(&r->w, ja->n_streams);
	uint64_t consumers = 0;
	for (size_t i = 0; i < ja->n_streams; i++)
		consumers += stream_consumer_count(ja->streams[i]);
	jw_key(&r->w, "consumers");
	jw_uint(&r->w, consumers);
	api_write_limits(&r->w, &ja->limits);
	if (ja->js->domain != NULL) {
		jw_key(&r->w, "domain");
		jw_str(&r->w, ja->js->domain);
	}
	/* The counters do not include this request yet, as in the
	 * reference. */
	jw_key(&r->w, "api");
	jw_obj_begin(&r->w);
	jw_key(&r->w, "total");
	jw_uint(&r->w, ja->api_total);
	jw_key(&r->w, "errors");
	jw_uint(&r->w, ja->api_errors);
	jw_obj_end(&r->w);
	return 0;
}

static struct stream *api_find_stream(struct api_req *r)
{
	struct stream *st = js_account_find_stream(r->ja, r->stream);
	if (st == NULL)
		js_error_set(&r->e, JS_ERR_STREAM_NOT_FOUND, NULL);
	return st;
}

static int api_bad_json(struct api_req *r)
{
	js_error_set(&r->e, JS_ERR_INVALID_JSON, NULL);
	return -1;
}

/* Create's own checks, between the name match and the config checks. */
static int api_create_precheck(struct api_req *r, struct stream_config *cfg)
{
	if (strpbrk(r->stream, "/\\") != NULL)
		js_error_set(&r->e, JS_ERR_STREAM_NAME_CONTAINS_PATH_SEPARATORS,
			     NULL);
	else if (cfg->sealed)
		js_error_set(&r->e, JS_ERR_STREAM_INVALID_CONFIG, "stream "
			     "configuration for create can not be sealed");
	else if (cfg->mirror_direct && cfg->mirror == NULL)
		js_error_set(&r->e, JS_ERR_STREAM_INVALID_CONFIG, "stream has "
			     "no mirror but does have mirror direct");
	else
		return 0;
	stream_config_free(&r->srv->mem, cfg);
	return -1;
}

/* Decodes and checks the request's StreamConfig for create and update,
 * in the reference's order. */
static int api_decode_config(struct api_req *r, struct stream_config *cfg,
			     bool create)
{
	struct mem *mem = &r->srv->mem;
	if (!r->has_doc)
		return api_bad_json(r);
	if (stream_config_decode(mem, &r->doc, 0, cfg, &r->e) != 0)
		return -1;
	if (strcmp(cfg->name, r->stream) != 0) {
		stream_config_free(mem, cfg);
		js_error_set(&r->e, JS_ERR_STREAM_MISMATCH, NULL);
		return -1;
	}
	if (create && api_create_precheck(r, cfg) != 0)
		return -1;
	if (stream_config_check(cfg, r->ja->js->max_dup_window_ns, mem,
				&r->e) != 0) {
		stream_config_free(mem, cfg);
		return -1;
	}
	if (cfg->replicas > 1) {
		stream_config_free(mem, cfg);
		js_error_set(&r->e, JS_ERR_STREAM_REPLICAS_NOT_SUPPORTED, NULL);
		return -1;
	}
	/* The account's max bytes rules (checkStreamCfg's maxBytesLimits). */
	const struct opts_js_limits *l = &r->ja->limits;
	int64_t per = cfg->storage == STORE_MEMORY ? l->mem_max_stream_bytes
						   : l->disk_max_stream_bytes;
	if (l->max_bytes_required && cfg->max_bytes <= 0)
		js_error_set(&r->e, JS_ERR_STREAM_MAX_BYTES_REQUIRED, NULL);
	else if (per > 0 && cfg->max_bytes > per)
		js_error_set(&r->e, JS_ERR_STREAM_MAX_STREAM_BYTES_EXCEEDED, NULL);
	else
		return 0;
	stream_config_free(mem, cfg);
	return -1;
}

static bool api_overlaps_other(struct api_req *r, const struct stream *self,
			       const struct stream_config *cfg)
{
	for (size_t i = 0; i < r->ja->n_streams; i++) {
		struct stream *o = r->ja->streams[i];
		if (o != self && stream_subjects_overlap(o, cfg))
			return true;
	}
	return false;
}

/* Creates the stream of cfg (taken); 0 with *out, or -1 with r->e. */
static int api_create_new(struct api_req *r, struct stream_config *cfg,
			  struct stream **out)
{
	struct js_account *ja = r->ja;
	if (ja->limits.max_streams > 0 &&
	    ja->n_streams >= (size_t)ja->limits.max_streams) {
		js_error_set(&r->e, JS_ERR_MAXIMUM_STREAMS_LIMIT, NULL);
		return -1;
	}
	if (api_overlaps_other(r, NULL, cfg)) {
		js_error_set(&r->e, JS_ERR_STREAM_SUBJECT_OVERLAP, NULL);
		return -1;
	}
	if (source_config_check_streams(ja, cfg, &r->e) != 0 ||
	    js_account_check_limits(ja, cfg, &r->e) != 0)
		return -1;
	if (stream_create(ja, cfg, env_now_wall_ns(r->srv->env), true, out,
			  &r->e) != 0)
		return -1;
	if (!js_account_add_stream(ja, *out)) {
		stream_destroy(*out, true);
		js_error_set(&r->e, JS_ERR_STREAM_CREATE, "out of memory");
		return -1;
	}
	js_advisory_stream_created(ja, *out);
	return 0;
}

static int api_stream_create(struct api_req *r)
{
	struct mem *mem = &r->srv->mem;
	struct stream_config cfg;
	if (api_decode_config(r, &cfg, true) != 0)
		return -1;
	struct stream *st = js_account_find_stream(r->ja, cfg.name);
	int rc = -1;
	if (st != NULL) {
		/* The same config again is not an error: it answers the
		 * existing stream, as the reference does. */
		source_config_inherit(r->ja, &cfg);
		if (stream_config_equal(mem, stream_config_of(st), &cfg))
			rc = 0;
		else
			js_error_set(&r->e, JS_ERR_STREAM_NAME_EXIST, NULL);
	} else {
		rc = api_create_new(r, &cfg, &st);
	}
	stream_config_free(mem, &cfg);
	if (rc != 0)
		return -1;
	stream_write_info(st, &r->w, NULL, 0, false);
	jw_key(&r->w, "did_create");
	jw_bool(&r->w, true);
	return 0;
}

static int api_stream_update(struct api_req *r)
{
	struct mem *mem = &r->srv->mem;
	struct stream_config cfg;
	if (api_decode_config(r, &cfg, false) != 0)
		return -1;
	struct stream *st = api_find_stream(r);
	if (st == NULL ||
	    stream_config_check_update(stream_config_of(st), &cfg, &r->e) != 0) {
		stream_config_free(mem, &cfg);
		return -1;
	}
	if (api_overlaps_other(r, st, &cfg)) {
		stream_config_free(mem, &cfg);
		js_error_set(&r->e, JS_ERR_STREAM_SUBJECT_OVERLAP, NULL);
		return -1;
	}
	if (source_config_check_streams(r->ja, &cfg, &r->e) != 0 ||
	    js_account_check_limits(r->ja, &cfg, &r->e) != 0) {
		stream_config_free(mem, &cfg);
		return -1;
	}
	if (stream_update(st, &cfg, &r->e) != 0)
		return -1;
	js_advisory_stream_updated(r->ja, st);
	stream_write_info(st, &r->w, NULL, 0, false);
	return 0;
}

static int api_stream_info(struct api_req *r)
{
	struct mem *mem = &r->srv->mem;
	if (r->bad_json)
		return api_bad_json(r);
	struct stream *st = api_find_stream(r);
	if (st == NULL)
		return -1;
	char *filter = NULL;
	bool deleted = false;
	int64_t offset = 0;
	if (r->has_doc &&
	    (js_json_str(mem, &r->doc, 0, "subjects_filter", &filter) < 0 ||
	     js_json_bool(&r->doc, 0, "deleted_details", &deleted) < 0 ||
	     js_json_int(&r->doc, 0, "offset", &offset) < 0)) {
		mem_free(mem, filter);
		return api_bad_json(r);
	}
	if (filter != NULL && filter[0] == '\0') {
		mem_free(mem, filter);
		filter = NULL;
	}
	/* total/offset/limit describe the page of the subjects map, and stay
	 * 0 when no subject matches (as in the reference). */
	uint64_t total = filter != NULL ? stream_count_subjects(st, filter) : 0;
	if (offset < 0)
		offset = 0;
	if ((uint64_t)offset > total)
		offset = (int64_t)total;
	jw_key(&r->w, "total");
	jw_uint(&r->w, total);
	jw_key(&r->w, "offset");
	jw_int(&r->w, total > 0 ? offset : 0);
	jw_key(&r->w, "limit");
	jw_int(&r->w, total > 0 ? JS_API_SUBJECTS_LIMIT : 0);
	stream_write_info(st, &r->w, filter, (uint64_t)offset, deleted);
	mem_free(mem, filter);
	return 0;
}

static int api_stream_delete(struct api_req *r)
{
	struct stream *st = api_find_stream(r);
	if (st == NULL)
		return -1;
	js_advisory_stream_deleted(r->ja, st);
	js_account_remove_stream(r->ja, st);
	stream_destroy(st, true);
	jw_key(&r->w, "success");
	jw_bool(&r->w, true);
	return 0;
}

/* NAMES and LIST share the request: {"offset":n,"subject":"filter"}. */
static int api_list_request(struct api_req *r, int64_t *offset,
			    char **subject)
{
	*offset = 0;
	*subject = NULL;
	if (r->bad_json)
		return api_bad_json(r);
	if (r->has_doc &&
	    (js_json_int(&r->doc, 0, "offset", offset) < 0 ||
	     js_json_str(&r->srv->mem, &r->doc, 0, "subject", subject) < 0)) {
		mem_free(&r->srv->mem, *subject);
		*subject = NULL;
		return api_bad_json(r);
	}
	if (*offset < 0)
		*offset = 0;
	return 0;
}

static bool api_list_selects(const struct stream *st, const char *subject)
{
	return subject == NULL || subject[0] == '\0' ||
	       stream_matches_filter(st, subject);
}

static void api_list_entries(struct api_req *r, bool names, size_t offset,
			     size_t limit, const char *subject)
{
	size_t idx = 0, shown = 0;
	jw_key(&r->w, "streams");
	for (size_t i = 0; i < r->ja->n_streams && shown < limit; i++) {
		struct stream *st = r->ja->streams[i];
		if (!api_list_selects(st, subject) || idx++ < offset)
			continue;
		if (shown++ == 0)
			jw_arr_begin(&r->w);
		if (names) {
			jw_str(&r->w, stream_name(st));
		} else {
			jw_obj_begin(&r->w);
			stream_write_info(st, &r->w, NULL, 0, false);
			jw_obj_end(&r->w);
		}
	}
	if (shown > 0)
		jw_arr_end(&r->w);
	else if (names)
		jw_null(&r->w);
	else
		jw_raw(&r->w, "[]", 2);
}

static int api_stream_list_common(struct api_req *r, bool names)
{
	int64_t offset;
	char *subject;
	if (api_list_request(r, &offset, &subject) != 0)
		return -1;
	size_t total = 0;
	size_t limit = names ? JS_API_NAMES_LIMIT : JS_API_LIST_LIMIT;
	for (size_t i = 0; i < r->ja->n_streams; i++)
		total += api_list_selects(r->ja->streams[i], subject);
	/* The reference reports an offset past the end as the end. */
	if ((size_t)offset > total)
		offset = (int64_t)total;
	jw_key(&r->w, "total");
	jw_uint(&r->w, total);
	jw_key(&r->w, "offset");
	jw_int(&r->w, offset);
	jw_key(&r->w, "limit");
	jw_uint(&r->w, limit);
	api_list_entries(r, names, (size_t)offset, limit, subject);
	mem_free(&r->srv->mem, subject);
	return 0;
}

static int api_stream_names(struct api_req *r)
{
	return api_stream_list_common(r, true);
}

static int api_stream_list(struct api_req *r)
{
	return api_stream_list_common(r, false);
}

static int api_stream_purge(struct api_req *r)
{
	if (r->bad_json)
		return api_bad_json(r);
	struct stream *st = api_find_stream(r);
	if (st == NULL)
		return -1;
	return stream_api_purge(st, r->has_doc ? &r->doc : NULL, &r->w, &r->e);
}

/* MSG.GET and MSG.DELETE: the body is required and checked before the
 * stream is looked up.  NULL with r->e set on failure. */
static struct stream *api_msg_stream(struct api_req *r)
{
	if (r->empty) {
		js_error_set(&r->e, JS_ERR_BAD_REQUEST, NULL);
		return NULL;
	}
	if (r->bad_json) {
		api_bad_json(r);
		return NULL;
	}
	return api_find_stream(r);
}

static int api_msg_get(struct api_req *r)
{
	struct stream *st = api_msg_stream(r);
	if (st == NULL)
		return -1;
	int rc = stream_api_msg_get(st, &r->doc, &r->w, &r->e);
	r->uncounted = rc == 0;
	return rc;
}

static int api_msg_delete(struct api_req *r)
{
	struct stream *st = api_msg_stream(r);
	if (st == NULL)
		return -1;
	int rc = stream_api_msg_delete(st, &r->doc, &r->e);
	if (rc != 0) {
		r->error_counts_ok = rc == -2;
		return -1;
	}
	jw_key(&r->w, "success");
	jw_bool(&r->w, true);
	return 0;
}

/* ----------------------------------------------------------- consumers */

/* The reference's isEmptyRequest: no body, or an object without fields. */
static bool api_is_empty(const struct api_req *r)
{
	return r->empty || (r->has_doc && r->doc.toks[0].count == 0);
}

/* Create's subject checks, in the reference's order. */
static int api_consumer_subject_checks(struct api_req *r,
				       struct consumer_config *cfg)
{
	struct mem *mem = &r->srv->mem;
	const char *cn = r->consumer;
	if (cn != NULL && strpbrk(cn, "/\\") != NULL) {
		js_error_set(&r->e, JS_ERR_CONSUMER_NAME_CONTAINS_PATH_SEPARATORS,
			     NULL);
		return -1;
	}
	if (r->legacy_durable) {
		if (cfg->durable == NULL) {
			js_error_set(&r->e, JS_ERR_CONSUMER_DURABLE_NAME_NOT_SET,
				     NULL);
			return -1;
		}
		if (strcmp(cn, cfg->durable) != 0) {
			js_error_set(&r->e,
				     JS_ERR_CONSUMER_DURABLE_NAME_NOT_MATCH_SUBJECT,
				     NULL);
			return -1;
		}
	} else if (cn != NULL) {
		if (cfg->durable != NULL && strcmp(cn, cfg->durable) != 0) {
			js_error_set(&r->e,
				     JS_ERR_CONSUMER_DURABLE_NAME_NOT_MATCH_SUBJECT,
				     NULL);
			return -1;
		}
		char *name = mem_strdup(mem, cn);
		if (name == NULL) {
			js_error_set(&r->e, JS_ERR_CONSUMER_CREATE, "out of memory");
			return -1;
		}
		mem_free(mem, cfg->name);
		cfg->name = name;
	} else if (cfg->durable != NULL) {
		js_error_set(&r->e, JS_ERR_CONSUMER_EPHEMERAL_WITH_DURABLE_NAME,
			     NULL);
		return -1;
	}
	if (r->filter != NULL && (cfg->filter_subject == NULL ||
				  strcmp(cfg->filter_subject, r->filter) != 0)) {
		js_error_set(&r->e, JS_ERR_CONSUMER_CREATE_FILTER_SUBJECT_MISMATCH,
			     NULL);
		return -1;
	}
	if (cfg->replicas > 1) {
		js_error_set(&r->e, JS_ERR_STREAM_REPLICAS_NOT_SUPPORTED, NULL);
		return -1;
	}
	return 0;
}

/* {"stream_name":"S","config":{...}} */
static int api_consumer_decode(struct api_req *r, struct consumer_config *cfg)
{
	struct mem *mem = &r->srv->mem;
	char *sname = NULL;
	int ct;
	memset(cfg, 0, sizeof(*cfg));
	if (!r->has_doc ||
	    js_json_str(mem, &r->doc, 0, "stream_name", &sname) < 0)
		return api_bad_json(r);
	ct = json_obj_get_fold(&r->doc, 0, "config");
	if (ct >= 0 && json_type_of(&r->doc, ct) != JSON_NULL &&
	    consumer_config_decode(mem, &r->doc, ct, cfg) != 0) {
		mem_free(mem, sname);
		return api_bad_json(r);
	}
	bool match = sname != NULL && strcmp(sname, r->stream) == 0;
	mem_free(mem, sname);
	if (!match) {
		consumer_config_free(mem, cfg);
		js_error_set(&r->e, JS_ERR_STREAM_MISMATCH, NULL);
		return -1;
	}
	return 0;
}

static int api_consumer_create(struct api_req *r)
{
	struct mem *mem = &r->srv->mem;
	struct consumer_config cfg;
	if (api_consumer_decode(r, &cfg) != 0)
		return -1;
	if (api_consumer_subject_checks(r, &cfg) != 0) {
		consumer_config_free(mem, &cfg);
		return -1;
	}
	struct stream *st = api_find_stream(r);
	struct consumer *c;
	if (st == NULL) {
		consumer_config_free(mem, &cfg);
		return -1;
	}
	if (consumer_create(st, &cfg, &c, &r->e) != 0)
		return -1;
	consumer_write_info(c, &r->w);
	return 0;
}

static struct consumer *api_find_consumer(struct api_req *r)
{
	struct stream *st = api_find_stream(r);
	if (st == NULL)
		return NULL;
	struct consumer *c = stream_find_consumer(st, r->consumer);
	if (c == NULL)
		js_error_set(&r->e, JS_ERR_CONSUMER_NOT_FOUND, NULL);
	return c;
}

static int api_consumer_info(struct api_req *r)
{
	if (!api_is_empty(r)) {
		js_error_set(&r->e, JS_ERR_NOT_EMPTY_REQUEST, NULL);
		return -1;
	}
	struct consumer *c = api_find_consumer(r);
	if (c == NULL)
		return -1;
	consumer_write_info(c, &r->w);
	return 0;
}

static int api_consumer_delete(struct api_req *r)
{
	if (!api_is_empty(r)) {
		js_error_set(&r->e, JS_ERR_NOT_EMPTY_REQUEST, NULL);
		return -1;
	}
	struct consumer *c = api_find_consumer(r);
	if (c == NULL)
		return -1;
	consumer_delete(c);
	jw_key(&r->w, "success");
	jw_bool(&r->w, true);
	return 0;
}

static int api_consumer_list_common(struct api_req *r, bool names)
{
	int64_t offset = 0;
	if (!api_is_empty(r) &&
	    (!r->has_doc || js_json_int(&r->doc, 0, "offset", &offset) < 0))
		return api_bad_json(r);
	struct stream *st = api_find_stream(r);
	if (st == NULL)
		return -1;
	size_t total = stream_consumer_count(st);
	size_t limit = names ? JS_API_NAMES_LIMIT : JS_API_LIST_LIMIT;
	if (offset < 0)
		offset = 0;
	if ((size_t)offset > total)
		offset = (int64_t)total;
	jw_key(&r->w, "total");
	jw_uint(&r->w, total);
	jw_key(&r->w, "offset");
	jw_int(&r->w, offset);
	jw_key(&r->w, "limit");
	jw_uint(&r->w, limit);
	jw_key(&r->w, "consumers");
	jw_arr_begin(&r->w);
	for (size_t i = (size_t)offset, n = 0; i < total && n < limit; i++, n++) {
		struct consumer *c = stream_consumer_at(st, i);
		if (names) {
			jw_str(&r->w, consumer_name(c));
		} else {
			jw_obj_begin(&r->w);
			consumer_write_info(c, &r->w);
			jw_obj_end(&r->w);
		}
	}
	jw_arr_end(&r->w);
	return 0;
}

static int api_consumer_names(struct api_req *r)
{
	return api_consumer_list_common(r, true);
}

static int api_consumer_list(struct api_req *r)
{
	return api_consumer_list_common(r, false);
}
