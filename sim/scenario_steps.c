/*
 * scenario_steps.c - loading conditions, timeline steps and expectations
 * of a scenario (see docs/scenarios.md for the format).
 *
 * A condition is a map with exactly one key naming its kind, whose value
 * holds its parameters; expectations add "within" (eventually) and "at".
 * Every name a condition or step uses must be a declared server or client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/assert.h"
#include "scenario_int.h"

#define SEC 1000000000LL

/* ------------------------------------------------------------- helpers */

static bool want_client(struct yctx *x, const struct scenario *s,
			const struct ynode *v, char **out)
{
	if (!yget_str(x, v, out))
		return false;
	if (scenario_find_client(s, *out) < 0)
		return yfail(x, v, "no client named '%s'", *out);
	return true;
}

static bool want_server(struct yctx *x, const struct scenario *s,
			const struct ynode *v, char **out)
{
	if (!yget_str(x, v, out))
		return false;
	if (scenario_find_server(s, *out) < 0)
		return yfail(x, v, "no server named '%s'", *out);
	return true;
}

static bool want_node(struct yctx *x, const struct scenario *s,
		      const struct ynode *v, const char *name)
{
	if (scenario_find_server(s, name) < 0 &&
	    scenario_find_client(s, name) < 0)
		return yfail(x, v, "no server or client named '%s'", name);
	return true;
}

static bool want_nodes(struct yctx *x, const struct scenario *s,
		       const struct ynode *v, char ***out, uint32_t *n)
{
	if (!yget_names(x, v, out, n))
		return false;
	for (uint32_t i = 0; i < *n; i++)
		if (!want_node(x, s, v, (*out)[i]))
			return false;
	return true;
}

static bool get_range_value(struct yctx *x, const struct ynode *v,
			    struct sc_range *r)
{
	if (v->type == Y_SCALAR) {
		r->has_eq = true;
		return yget_int(x, v, 0, INT64_MAX, &r->eq);
	}
	if (!ykeys_allowed(x, v, "a count", (const char *const[]){
			   "min", "max", NULL }))
		return false;
	const struct ynode *m;
	if ((m = ymap_get(v, "min")) != NULL) {
		r->has_min = true;
		if (!yget_int(x, m, 0, INT64_MAX, &r->min))
			return false;
	}
	if ((m = ymap_get(v, "max")) != NULL) {
		r->has_max = true;
		if (!yget_int(x, m, 0, INT64_MAX, &r->max))
			return false;
	}
	return true;
}

/* count / min / max keys of a condition; at least one when given none
 * and default_min1. */
static bool get_range(struct yctx *x, const struct ynode *n, struct sc_range *r,
		      bool default_min1)
{
	const struct ynode *v;
	if ((v = ymap_get(n, "count")) != NULL) {
		r->has_eq = true;
		if (!yget_int(x, v, 0, INT64_MAX, &r->eq))
			return false;
	}
	if ((v = ymap_get(n, "min")) != NULL) {
		r->has_min = true;
		if (!yget_int(x, v, 0, INT64_MAX, &r->min))
			return false;
	}
	if ((v = ymap_get(n, "max")) != NULL) {
		r->has_max = true;
		if (!yget_int(x, v, 0, INT64_MAX, &r->max))
			return false;
	}
	if (default_min1 && !r->has_eq && !r->has_min && !r->has_max) {
		r->has_min = true;
		r->min = 1;
	}
	return true;
}

static void range_text(const struct sc_range *r, char *out, size_t cap)
{
	if (r->has_eq)
		snprintf(out, cap, "%lld", (long long)r->eq);
	else if (r->has_min && r->has_max)
		snprintf(out, cap, "%lld..%lld", (long long)r->min,
			 (long long)r->max);
	else if (r->has_min)
		snprintf(out, cap, ">= %lld", (long long)r->min);
	else if (r->has_max)
		snprintf(out, cap, "<= %lld", (long long)r->max);
	else
		snprintf(out, cap, "any number of");
}

/* ----------------------------------------------------------- conditions */

struct cond_kind_def {
	const char *key;
	enum sc_cond_kind kind;
	const char *const *params;
};

static const char *const p_received[] = { "client", "subject", "from",
					  "count", "min", "max", "ids", NULL };
static const char *const p_delivered[] = { "from", "to", NULL };
static const char *const p_queue[] = { "from", "members", NULL };
static const char *const p_error[] = { "client", "contains", "count", "min",
				       "max", NULL };
static const char *const p_counted[] = { "client", "count", "min", "max",
					 NULL };
static const char *const p_request[] = { "client", "request", "count", "min",
					 "max", NULL };
static const char *const p_json[] = { "client", "request", "field", "equals",
				      "exists", NULL };
static const char *const p_reply[] = { "client", "request", "equals",
				       "contains", NULL };
static const char *const p_server[] = { "name", "running", "connections",
					"subscriptions", NULL };
static const char *const p_published[] = { "client", "stream", "count",
					   "min", "max", NULL };
static const char *const p_stored[] = { "client", "stream", "from", "name",
					"lost_max", "errors_stored_max",
					"count", "min", "max", NULL };
static const char *const p_acked[] = { "client", "from", "count", "min",
				       "max", NULL };
static const char *const p_pub_errors[] = { "client", "from", "contains",
					    "count", "min", "max", NULL };
static const char *const p_log[] = { "server", "contains", "count", "min",
				     "max", NULL };
static const char *const p_same_json[] = { "client", "a", "b", "client_b",
					   "field", NULL };

static const struct cond_kind_def cond_kinds[] = {
	{ "received", SC_COND_RECEIVED, p_received },
	{ "delivered", SC_COND_DELIVERED, p_delivered },
	{ "queue", SC_COND_QUEUE, p_queue },
	{ "error", SC_COND_ERROR, p_error },
	{ "closed", SC_COND_CLOSED, p_counted },
	{ "connected", SC_COND_CONNECTED, p_counted },
	{ "reconnects", SC_COND_RECONNECTS, p_counted },
	{ "published", SC_COND_PUBLISHED, p_published },
	{ "replies", SC_COND_REPLIES, p_request },
	{ "timeouts", SC_COND_TIMEOUTS, p_request },
	{ "no_responders", SC_COND_NO_RESPONDERS, p_request },
	{ "reply_json", SC_COND_REPLY_JSON, p_json },
	{ "reply", SC_COND_REPLY, p_reply },
	{ "server", SC_COND_SERVER, p_server },
	{ "stored", SC_COND_STORED, p_stored },
	{ "acked", SC_COND_ACKED, p_acked },
	{ "pub_errors", SC_COND_PUB_ERRORS, p_pub_errors },
	{ "pub_timeouts", SC_COND_PUB_TIMEOUTS, p_acked },
	{ "log", SC_COND_LOG, p_log },
	{ "same_json", SC_COND_SAME_JSON, p_same_json },
	{ "all", SC_COND_ALL, NULL },
	{ "any", SC_COND_ANY, NULL },
	{ "not", SC_COND_NOT, NULL },
};

static bool parse_cond(struct yctx *x, const struct scenario *s,
		       const struct ynode *n, const char *const *modifiers,
		       struct sc_cond *c);

static const struct cond_kind_def *cond_kind_find(const char *key)
{
	for (size_t i = 0; i < ARRAY_LEN(cond_kinds); i++)
		if (strcmp(cond_kinds[i].key, key) == 0)
			return &cond_kinds[i];
	return NULL;
}

static bool parse_cond_list(struct yctx *x, const struct scenario *s,
			    const struct ynode *v, struct sc_cond *c)
{
	if (c->kind == SC_COND_NOT) {
		c->sub = sim_xcalloc(1, sizeof(*c->sub));
		c->nsub = 1;
		return parse_cond(x, s, v, NULL, c->sub);
	}
	if (!yexpect(x, v, Y_SEQ, "all/any") || v->n == 0)
		return yfail(x, v, "all/any needs a list of conditions");
	c->sub = sim_xcalloc(v->n, sizeof(*c->sub));
	for (uint32_t i = 0; i < v->n; i++) {
		c->nsub++;
		if (!parse_cond(x, s, v->items[i], NULL, &c->sub[i]))
			return false;
	}
	return true;
}

static bool parse_cond_server(struct yctx *x, const struct scenario *s,
			      const struct ynode *v, struct sc_cond *c)
{
	const struct ynode *m = ymap_get(v, "name");
	if (m == NULL)
		return yfail(x, v, "server: needs name:");
	if (!want_server(x, s, m, &c->server))
		return false;
	if ((m = ymap_get(v, "running")) != NULL) {
		c->has_running = true;
		if (!yget_bool(x, m, &c->running))
			return false;
	}
	if ((m = ymap_get(v, "connections")) && !get_range_value(x, m, &c->conns))
		return false;
	if ((m = ymap_get(v, "subscriptions")) &&
	    !get_range_value(x, m, &c->subs))
		return false;
	return true;
}

static bool parse_cond_client(struct yctx *x, const struct scenario *s,
			      const struct ynode *v, struct sc_cond *c)
{
	const struct ynode *m = ymap_get(v, "client");
	if (m == NULL)
		return yfail(x, v, "this condition needs client:");
	return want_client(x, s, m, &c->client);
}

static bool parse_cond_stream(struct yctx *x, const struct ynode *v,
			      struct sc_cond *c, const char *members_key)
{
	const struct ynode *m = ymap_get(v, "from");
	if (m == NULL || !yget_str(x, m, &c->from))
		return yfail(x, v, "this condition needs from: (a publisher)");
	m = ymap_get(v, members_key);
	if (m == NULL)
		return yfail(x, v, "this condition needs %s:", members_key);
	return yget_names(x, m, &c->members, &c->nmembers);
}

/* stored: {client, stream, from, name, lost_max, errors_stored_max,
 * count/min/max}; the count is of acknowledged publishes (at least one by
 * default). */
static bool parse_cond_stored(struct yctx *x, const struct scenario *s,
			      const struct ynode *v, struct sc_cond *c)
{
	const struct ynode *m;
	if (!parse_cond_client(x, s, v, c))
		return false;
	if ((m = ymap_get(v, "stream")) == NULL ||
	    !yget_str(x, m, &c->js_stream))
		return yfail(x, v, "stored needs stream: (a JetStream stream)");
	if ((m = ymap_get(v, "from")) == NULL || !yget_str(x, m, &c->from))
		return yfail(x, v, "stored needs from: (an identity prefix)");
	if ((m = ymap_get(v, "name")) && !yget_str(x, m, &c->request))
		return false;
	if (c->request == NULL)
		c->request = sim_xstrdup(c->js_stream);
	if ((m = ymap_get(v, "lost_max")) &&
	    !yget_int(x, m, 0, INT64_MAX, &c->lost_max))
		return false;
	c->errors_stored_max = -1;
	if ((m = ymap_get(v, "errors_stored_max")) &&
	    !yget_int(x, m, 0, INT64_MAX, &c->errors_stored_max))
		return false;
	return get_range(x, v, &c->count, true);
}

/* log: {server, contains, count/min/max}: lines of the server's log. */
static bool parse_cond_log(struct yctx *x, const struct scenario *s,
			   const struct ynode *v, struct sc_cond *c)
{
	const struct ynode *m = ymap_get(v, "server");
	if (m == NULL)
		return yfail(x, v, "log needs server:");
	if (!want_server(x, s, m, &c->server))
		return false;
	if ((m = ymap_get(v, "contains")) == NULL ||
	    !yget_str(x, m, &c->contains))
		return yfail(x, v, "log needs contains:");
	return get_range(x, v, &c->count, true);
}

/* same_json: {client, a, b, client_b, field}: the field of request a's
 * last reply equals that of request b's (of client_b, default client). */
static bool parse_cond_same_json(struct yctx *x, const struct scenario *s,
				 const struct ynode *v, struct sc_cond *c)
{
	const struct ynode *m;
	if (!parse_cond_client(x, s, v, c))
		return false;
	if ((m = ymap_get(v, "a")) == NULL || !yget_str(x, m, &c->request))
		return yfail(x, v, "same_json needs a: (a request name)");
	if ((m = ymap_get(v, "b")) == NULL || !yget_str(x, m, &c->request_b))
		return yfail(x, v, "same_json needs b: (a request name)");
	if ((m = ymap_get(v, "client_b")) && !want_client(x, s, m, &c->client_b))
		return false;
	if ((m = ymap_get(v, "field")) == NULL || !yget_str(x, m, &c->field))
		return yfail(x, v, "same_json needs field: (e.g. state.messages)");
	return true;
}

static bool parse_cond_params(struct yctx *x, const struct scenario *s,
			      const struct ynode *v, struct sc_cond *c)
{
	const struct ynode *m;
	switch (c->kind) {
	case SC_COND_SAME_JSON:
		return parse_cond_same_json(x, s, v, c);
	case SC_COND_STORED:
		return parse_cond_stored(x, s, v, c);
	case SC_COND_LOG:
		return parse_cond_log(x, s, v, c);
	case SC_COND_DELIVERED:
		return parse_cond_stream(x, v, c, "to");
	case SC_COND_QUEUE:
		return parse_cond_stream(x, v, c, "members");
	case SC_COND_SERVER:
		return parse_cond_server(x, s, v, c);
	default:
		break;
	}
	if (!parse_cond_client(x, s, v, c))
		return false;
	if ((m = ymap_get(v, "subject")) && !yget_str(x, m, &c->subject))
		return false;
	if ((m = ymap_get(v, "from")) && !yget_str(x, m, &c->from))
		return false;
	if ((m = ymap_get(v, "stream")) && !yget_str(x, m, &c->from))
		return false;
	if ((m = ymap_get(v, "contains")) && !yget_str(x, m, &c->contains))
		return false;
	if ((m = ymap_get(v, "request")) && !yget_str(x, m, &c->request))
		return false;
	if ((m = ymap_get(v, "ids")) &&
	    !yget_names(x, m, &c->members, &c->nmembers))
		return false;
	if (c->kind == SC_COND_REPLY) {
		if ((m = ymap_get(v, "equals")) && !yget_str(x, m, &c->equals))
			return false;
		if (c->equals == NULL && c->contains == NULL)
			return yfail(x, v, "reply needs equals: or contains:");
		return true;
	}
	if (c->kind == SC_COND_REPLY_JSON) {
		if ((m = ymap_get(v, "field")) == NULL ||
		    !yget_str(x, m, &c->field))
			return yfail(x, v, "reply_json needs field:");
		if ((m = ymap_get(v, "equals")) && !yget_str(x, m, &c->equals))
			return false;
		c->exists = true;
		if ((m = ymap_get(v, "exists")) && !yget_bool(x, m, &c->exists))
			return false;
		return true;
	}
	bool min1 = c->kind != SC_COND_PUBLISHED &&
		    c->kind != SC_COND_CONNECTED && c->nmembers == 0;
	return get_range(x, v, &c->count, min1);
}

/* How the JetStream and log conditions read in reports. */
static void cond_text_js(struct sc_cond *c, const char *r)
{
	const char *who = c->client ? c->client : "";
	switch (c->kind) {
	case SC_COND_STORED:
		snprintf(c->text, sizeof(c->text), "%s acked publishes of %s "
			 "are stored in %s%s (read by %s)", r, c->from,
			 c->js_stream, c->lost_max ? ", up to a few lost" : "",
			 who);
		return;
	case SC_COND_ACKED:
	case SC_COND_PUB_ERRORS:
	case SC_COND_PUB_TIMEOUTS:
		snprintf(c->text, sizeof(c->text), "%s got %s %s%s%s%s%s", who,
			 r, c->kind == SC_COND_ACKED ? "PubAcks"
			 : c->kind == SC_COND_PUB_ERRORS ? "publish errors"
			 : "publish timeouts", c->from ? " for " : "",
			 c->from ? c->from : "", c->contains ? " with " : "",
			 c->contains ? c->contains : "");
		return;
	case SC_COND_LOG:
		snprintf(c->text, sizeof(c->text), "%s logged %s lines with '%s'",
			 c->server, r, c->contains);
		return;
	case SC_COND_SAME_JSON:
		snprintf(c->text, sizeof(c->text), "%s of %s's reply to %s equals "
			 "that of %s's reply to %s", c->field, who, c->request,
			 c->client_b ? c->client_b : who, c->request_b);
		return;
	default:
		return;
	}
}

static void cond_text(struct sc_cond *c)
{
	char r[64];
	range_text(&c->count, r, sizeof(r));
	const char *who = c->client ? c->client : "";
	switch (c->kind) {
	case SC_COND_RECEIVED:
		if (c->nmembers > 0) {
			snprintf(c->text, sizeof(c->text), "%s received %s%s%s",
				 who, c->members[0], c->nmembers > 1
				 ? " and the other listed messages" : "",
				 c->subject ? " (on that subject)" : "");
			break;
		}
		snprintf(c->text, sizeof(c->text), "%s received %s messages%s%s"
			 "%s%s", who, r, c->subject ? " on " : "",
			 c->subject ? c->subject : "", c->from ? " from " : "",
			 c->from ? c->from : "");
		break;
	case SC_COND_REPLY:
		snprintf(c->text, sizeof(c->text), "%s's reply%s%s %s '%s'", who,
			 c->request ? " to " : "", c->request ? c->request : "",
			 c->equals ? "is" : "contains",
			 c->equals ? c->equals : c->contains);
		break;
	case SC_COND_DELIVERED:
		snprintf(c->text, sizeof(c->text), "every message of %s reached "
			 "%s%s exactly once, in order", c->from, c->members[0],
			 c->nmembers > 1 ? " (and the others)" : "");
		break;
	case SC_COND_QUEUE:
		snprintf(c->text, sizeof(c->text), "each message of %s went to "
			 "exactly one of %u queue members", c->from, c->nmembers);
		break;
	case SC_COND_ERROR:
		snprintf(c->text, sizeof(c->text), "%s got %s -ERR '%s'", who, r,
			 c->contains ? c->contains : "");
		break;
	case SC_COND_CLOSED:
		snprintf(c->text, sizeof(c->text), "the server closed %s's "
			 "connection %s times", who, r);
		break;
	case SC_COND_CONNECTED:
		snprintf(c->text, sizeof(c->text), "%s is connected", who);
		break;
	case SC_COND_RECONNECTS:
		snprintf(c->text, sizeof(c->text), "%s reconnected %s times",
			 who, r);
		break;
	case SC_COND_PUBLISHED:
		snprintf(c->text, sizeof(c->text), "%s published %s messages",
			 who, r);
		break;
	case SC_COND_REPLIES:
	case SC_COND_TIMEOUTS:
	case SC_COND_NO_RESPONDERS:
		snprintf(c->text, sizeof(c->text), "%s got %s %s%s%s", who, r,
			 c->kind == SC_COND_REPLIES ? "replies"
			 : c->kind == SC_COND_TIMEOUTS ? "timeouts"
			 : "no-responders statuses",
			 c->request ? " to " : "", c->request ? c->request : "");
		break;
	case SC_COND_REPLY_JSON:
		snprintf(c->text, sizeof(c->text), "%s's reply%s%s has %s%s%s",
			 who, c->request ? " to " : "",
			 c->request ? c->request : "", c->field,
			 c->equals ? " = " : (c->exists ? "" : " absent"),
			 c->equals ? c->equals : "");
		break;
	case SC_COND_STORED:
	case SC_COND_ACKED:
	case SC_COND_PUB_ERRORS:
	case SC_COND_PUB_TIMEOUTS:
	case SC_COND_LOG:
	case SC_COND_SAME_JSON:
		cond_text_js(c, r);
		break;
	case SC_COND_SERVER:
		snprintf(c->text, sizeof(c->text), "server %s%s", c->server,
			 c->has_running ? (c->running ? " is running"
					   : " is down") : " state");
		break;
	case SC_COND_ALL:
	case SC_COND_ANY:
		snprintf(c->text, sizeof(c->text), "%s of %u conditions",
			 c->kind == SC_COND_ALL ? "all" : "any", c->nsub);
		break;
	case SC_COND_NOT:
		snprintf(c->text, sizeof(c->text), "not (%.180s)", c->sub->text);
		break;
	}
}

static bool is_modifier(const char *key, const char *const *modifiers)
{
	for (; modifiers != NULL && *modifiers != NULL; modifiers++)
		if (strcmp(*modifiers, key) == 0)
			return true;
	return false;
}

static bool parse_cond(struct yctx *x, const struct scenario *s,
		       const struct ynode *n, const char *const *modifiers,
		       struct sc_cond *c)
{
	if (!yexpect(x, n, Y_MAP, "a condition"))
		return false;
	const struct ynode *key = NULL, *v = NULL;
	for (uint32_t i = 0; i < n->n; i++) {
		if (is_modifier(n->kv[i].key->text, modifiers))
			continue;
		if (key != NULL)
			return yfail(x, n->kv[i].key, "a condition has one kind "
				     "('%s' and '%s')", key->text,
				     n->kv[i].key->text);
		key = n->kv[i].key;
		v = n->kv[i].value;
	}
	if (key == NULL)
		return yfail(x, n, "a condition needs a kind (received, "
			     "delivered, queue, error, closed, connected, ...)");
	const struct cond_kind_def *def = cond_kind_find(key->text);
	if (def == NULL)
		return yfail(x, key, "unknown condition '%s'", key->text);
	c->kind = def->kind;
	c->line = key->line;
	bool ok;
	if (def->params == NULL) {
		ok = parse_cond_list(x, s, v, c);
	} else if (c->kind == SC_COND_CONNECTED && v->type == Y_SCALAR) {
		ok = want_client(x, s, v, &c->client);
	} else {
		char what[64];
		snprintf(what, sizeof(what), "'%s'", key->text);
		ok = ykeys_allowed(x, v, what, def->params) &&
		     parse_cond_params(x, s, v, c);
	}
	if (ok)
		cond_text(c);
	return ok;
}

void sc_cond_free(struct sc_cond *c)
{
	free(c->client);
	free(c->server);
	free(c->subject);
	free(c->from);
	sc_names_free(c->members, c->nmembers);
	free(c->request);
	free(c->client_b);
	free(c->request_b);
	free(c->contains);
	free(c->field);
	free(c->equals);
	free(c->js_stream);
	for (uint32_t i = 0; i < c->nsub; i++)
		sc_cond_free(&c->sub[i]);
	free(c->sub);
}

/* --------------------------------------------------------- expectations */

static const char *const expect_modifiers[] = { "within", "at", NULL };

static bool parse_expect(struct yctx *x, const struct scenario *s,
			 const struct ynode *n, struct sc_expect *e)
{
	e->within_ns = -1;
	e->at_ns = -1;
	e->line = n->line;
	if (!parse_cond(x, s, n, expect_modifiers, &e->cond))
		return false;
	const struct ynode *v;
	if ((v = ymap_get(n, "within")) && !yget_dur(x, v, false, &e->within_ns))
		return false;
	if ((v = ymap_get(n, "at")) && !yget_dur(x, v, false, &e->at_ns))
		return false;
	if (e->within_ns >= 0 && e->at_ns >= 0)
		return yfail(x, n, "use within or at, not both");
	return true;
}

bool sc_parse_expects(struct yctx *x, struct scenario *s,
		      const struct ynode *n, struct sc_expect **out,
		      uint32_t *count)
{
	uint32_t total = n->type == Y_SEQ ? n->n : 1;
	if (n->type != Y_SEQ && n->type != Y_MAP)
		return yfail(x, n, "expect must be a list of conditions");
	*out = sim_xcalloc(total, sizeof(**out));
	for (uint32_t i = 0; i < total; i++) {
		(*count)++;
		if (!parse_expect(x, s, n->type == Y_SEQ ? n->items[i] : n,
				  &(*out)[i]))
			return false;
	}
	return true;
}

void sc_expects_free(struct sc_expect *e, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		sc_cond_free(&e[i].cond);
	free(e);
}

/* ---------------------------------------------------------------- steps */

typedef bool (*act_parse_fn)(struct yctx *x, const struct scenario *s,
			     const struct ynode *v, struct sc_step *st);

static bool act_server(struct yctx *x, const struct scenario *s,
		       const struct ynode *v, struct sc_step *st)
{
	return want_server(x, s, v, &st->target);
}

static bool act_node(struct yctx *x, const struct scenario *s,
		     const struct ynode *v, struct sc_step *st)
{
	return yget_str(x, v, &st->target) && want_node(x, s, v, st->target);
}

static bool act_client(struct yctx *x, const struct scenario *s,
		       const struct ynode *v, struct sc_step *st)
{
	return want_client(x, s, v, &st->target);
}

static void names_text(char *out, size_t cap, char **names, uint32_t n)
{
	size_t used = 0;
	for (uint32_t i = 0; i < n; i++) {
		int w = snprintf(out + used, cap - used, "%s%s", i ? "," : "",
				 names[i]);
		if (w < 0 || (size_t)w >= cap - used)
			return;
		used += (size_t)w;
	}
}

static bool sel_between(struct yctx *x, const struct scenario *s,
			const struct ynode *v, struct sc_sel *sel)
{
	if (v->type != Y_SEQ || v->n != 2)
		return yfail(x, v, "between needs two sides: [A, B] where each "
			     "is a name or a list of names");
	return want_nodes(x, s, v->items[0], &sel->a, &sel->na) &&
	       want_nodes(x, s, v->items[1], &sel->b, &sel->nb);
}

static bool sel_options(struct yctx *x, const struct ynode *v,
			struct sc_sel *sel)
{
	const struct ynode *m;
	if ((m = ymap_get(v, "kinds")) && !sc_parse_kinds(x, m, &sel->kinds))
		return false;
	if ((m = ymap_get(v, "direction")) != NULL) {
		if (m->type == Y_SCALAR && !strcmp(m->text, "both"))
			sel->one_way = false;
		else if (m->type == Y_SCALAR && !strcmp(m->text, "one_way"))
			sel->one_way = true;
		else
			return yfail(x, m, "direction is both or one_way");
	}
	if ((m = ymap_get(v, "mode")) != NULL) {
		if (m->type == Y_SCALAR && !strcmp(m->text, "drop"))
			sel->mode = SIM_PART_DROP;
		else if (m->type == Y_SCALAR && !strcmp(m->text, "hold"))
			sel->mode = SIM_PART_HOLD;
		else
			return yfail(x, m, "mode is drop or hold");
	}
	if ((m = ymap_get(v, "name")) && !yget_str(x, m, &sel->name))
		return false;
	return true;
}

static void sel_text(const struct sc_sel *sel, const char *verb, char *out,
		     size_t cap)
{
	char a[80] = "", b[80] = "", kinds[64] = "";
	names_text(a, sizeof(a), sel->a, sel->na);
	names_text(b, sizeof(b), sel->b, sel->nb);
	for (int k = 0; k < SIM_LINK_KINDS; k++) {
		if (!(sel->kinds & (1u << k)))
			continue;
		size_t n = strlen(kinds);
		snprintf(kinds + n, sizeof(kinds) - n, "%s%s", n ? "," : " (",
			 scenario_link_kind_name(k));
	}
	if (kinds[0])
		strncat(kinds, " links)", sizeof(kinds) - strlen(kinds) - 1);
	const char *how = sel->one_way ? "one way" : "both ways";
	if (strcmp(verb, "reset") == 0) {
		if (sel->isolate)
			snprintf(out, cap, "reset the connections of %s%s", a,
				 kinds);
		else if (sel->all)
			snprintf(out, cap, "reset every connection%s", kinds);
		else
			snprintf(out, cap, "reset connections between %s and "
				 "%s%s", a, b, kinds);
		return;
	}
	if (sel->isolate)
		snprintf(out, cap, "%s %s: isolate %s, %s, %s%s", verb,
			 sel->name ? sel->name : "", a,
			 sel->mode == SIM_PART_DROP ? "drop" : "hold", how, kinds);
	else if (sel->all)
		snprintf(out, cap, "%s %s: everything, %s, %s%s", verb,
			 sel->name ? sel->name : "",
			 sel->mode == SIM_PART_DROP ? "drop" : "hold", how, kinds);
	else
		snprintf(out, cap, "%s %s: %s | %s, %s, %s%s", verb,
			 sel->name ? sel->name : "", a, b,
			 sel->mode == SIM_PART_DROP ? "drop" : "hold", how, kinds);
}

static bool parse_sel(struct yctx *x, const struct scenario *s,
		      const struct ynode *v, struct sc_sel *sel, bool reset)
{
	static const char *const part_keys[] = { "name", "between", "isolate",
						 "kinds", "direction", "mode",
						 NULL };
	static const char *const reset_keys[] = { "between", "isolate",
						  "client", "server", "kinds",
						  NULL };
	if (!ykeys_allowed(x, v, reset ? "reset" : "partition",
			   reset ? reset_keys : part_keys))
		return false;
	const struct ynode *m;
	int sides = 0;
	if ((m = ymap_get(v, "between")) != NULL) {
		sides++;
		if (!sel_between(x, s, m, sel))
			return false;
	}
	const char *iso_keys[] = { "isolate", "client", "server" };
	for (int i = 0; i < 3; i++) {
		if ((m = ymap_get(v, iso_keys[i])) == NULL)
			continue;
		sides++;
		sel->isolate = true;
		if (!want_nodes(x, s, m, &sel->a, &sel->na))
			return false;
	}
	if (sides > 1)
		return yfail(x, v, "give one of between or isolate");
	sel->all = sides == 0;
	return sel_options(x, v, sel);
}

static bool act_partition(struct yctx *x, const struct scenario *s,
			  const struct ynode *v, struct sc_step *st)
{
	if (!parse_sel(x, s, v, &st->sel, false))
		return false;
	if (st->sel.name == NULL) {
		char name[32];   /* unnamed: named after its line */
		snprintf(name, sizeof(name), "line%d", st->line);
		st->sel.name = sim_xstrdup(name);
	}
	sel_text(&st->sel, "partition", st->text, sizeof(st->text));
	return true;
}

static bool act_reset(struct yctx *x, const struct scenario *s,
		      const struct ynode *v, struct sc_step *st)
{
	if (!parse_sel(x, s, v, &st->sel, true))
		return false;
	sel_text(&st->sel, "reset", st->text, sizeof(st->text));
	return true;
}

static bool act_heal(struct yctx *x, const struct scenario *s,
		     const struct ynode *v, struct sc_step *st)
{
	UNUSED(s);
	if (!yget_str(x, v, &st->target))
		return false;
	snprintf(st->text, sizeof(st->text), "heal %s", st->target);
	return true;
}

static bool act_network(struct yctx *x, const struct scenario *s,
			const struct ynode *v, struct sc_step *st)
{
	UNUSED(s);
	snprintf(st->text, sizeof(st->text), "change network settings");
	return sc_parse_netset(x, v, &st->net);
}

static bool act_clock(struct yctx *x, const struct scenario *s,
		      const struct ynode *v, struct sc_step *st)
{
	static const char *const keys[] = { "server", "step", "drift_ppm",
					    NULL };
	if (!ykeys_allowed(x, v, "clock", keys))
		return false;
	const struct ynode *m = ymap_get(v, "server");
	if (m == NULL || !want_server(x, s, m, &st->target))
		return yfail(x, v, "clock needs server:");
	if ((m = ymap_get(v, "step")) &&
	    !yget_dur(x, m, true, &st->clock_step_ns))
		return false;
	if ((m = ymap_get(v, "drift_ppm")) != NULL) {
		int64_t d;
		if (!yget_int(x, m, -500000, 500000, &d))
			return false;
		st->drift_ppm = (int32_t)d;
		st->has_drift = true;
	}
	snprintf(st->text, sizeof(st->text), "clock of %s: step %lld ms%s",
		 st->target, (long long)(st->clock_step_ns / 1000000),
		 st->has_drift ? ", new drift" : "");
	return true;
}

static bool disk_prob(struct yctx *x, const struct ynode *v, const char *key,
		      uint32_t *out, bool *flag)
{
	const struct ynode *m = ymap_get(v, key);
	if (m == NULL)
		return true;
	*flag = true;
	return yget_prob(x, m, out);
}

static bool act_disk(struct yctx *x, const struct scenario *s,
		     const struct ynode *v, struct sc_step *st)
{
	static const char *const keys[] = {
		"server", "bitflip", "file", "read_error", "write_error",
		"short_read", "short_write", "sync_error", "capacity", "full",
		NULL,
	};
	struct sc_diskset *d = &st->disk;
	if (!ykeys_allowed(x, v, "disk", keys))
		return false;
	const struct ynode *m = ymap_get(v, "server");
	if (m == NULL || !want_server(x, s, m, &st->target))
		return yfail(x, v, "disk needs server:");
	int64_t flips = 0;
	if ((m = ymap_get(v, "bitflip")) && !yget_int(x, m, 0, 1000000, &flips))
		return false;
	d->bitflips = (uint32_t)flips;
	if ((m = ymap_get(v, "file")) && !yget_str(x, m, &d->file))
		return false;
	if (!disk_prob(x, v, "read_error", &d->faults.read_error_ppm,
		       &d->read_error) ||
	    !disk_prob(x, v, "write_error", &d->faults.write_error_ppm,
		       &d->write_error) ||
	    !disk_prob(x, v, "short_read", &d->faults.short_read_ppm,
		       &d->short_read) ||
	    !disk_prob(x, v, "short_write", &d->faults.short_write_ppm,
		       &d->short_write) ||
	    !disk_prob(x, v, "sync_error", &d->faults.sync_error_ppm,
		       &d->sync_error))
		return false;
	if ((m = ymap_get(v, "capacity")) != NULL) {
		d->capacity = true;
		if (!yget_size(x, m, &d->faults.capacity_bytes))
			return false;
	}
	if ((m = ymap_get(v, "full")) && !yget_bool(x, m, &d->full))
		return false;
	snprintf(st->text, sizeof(st->text), "disk fault on %s%s%s", st->target,
		 d->bitflips ? " (bit flips)" : "", d->full ? " (full)" : "");
	return true;
}

/* Reads the keys of a client action into the step. */
static bool client_args(struct yctx *x, const struct scenario *s,
			const struct ynode *v, struct sc_step *st,
			const char *const *keys, const char *what)
{
	if (!ykeys_allowed(x, v, what, keys))
		return false;
	const struct ynode *m = ymap_get(v, "client");
	if (m == NULL)
		return yfail(x, v, "%s needs client:", what);
	if (!want_client(x, s, m, &st->target))
		return false;
	struct { const char *key; char **out; } strs[] = {
		{ "subject", &st->subject }, { "reply", &st->reply },
		{ "queue", &st->queue }, { "payload", &st->payload },
		{ "data", &st->payload }, { "name", &st->name },
	};
	for (size_t i = 0; i < ARRAY_LEN(strs); i++) {
		m = ymap_get(v, strs[i].key);
		if (m == NULL)
			continue;
		if (m->type != Y_SCALAR)
			return yfail(x, m, "expected a text value");
		free(*strs[i].out);
		*strs[i].out = sim_xcalloc(1, m->len + 1);
		memcpy(*strs[i].out, m->text, m->len);
		if (strs[i].out == &st->payload)
			st->payload_len = m->len;
	}
	st->count = 1;
	if ((m = ymap_get(v, "count")) &&
	    !yget_int(x, m, 1, 10000000, &st->count))
		return false;
	st->timeout_ns = 1 * SEC;
	if ((m = ymap_get(v, "timeout")) &&
	    !yget_dur(x, m, false, &st->timeout_ns))
		return false;
	if (st->subject == NULL && (st->act == SC_ACT_PUBLISH ||
				    st->act == SC_ACT_REQUEST ||
				    st->act == SC_ACT_SUBSCRIBE ||
				    st->act == SC_ACT_UNSUBSCRIBE))
		return yfail(x, v, "%s needs subject:", what);
	if (st->act == SC_ACT_SEND && st->payload == NULL)
		return yfail(x, v, "send needs data:");
	return true;
}

static bool act_publish(struct yctx *x, const struct scenario *s,
			const struct ynode *v, struct sc_step *st)
{
	static const char *const keys[] = { "client", "subject", "reply",
					    "payload", "count", NULL };
	if (!client_args(x, s, v, st, keys, "publish"))
		return false;
	snprintf(st->text, sizeof(st->text), "%s publishes %lld to %s",
		 st->target, (long long)st->count, st->subject);
	return true;
}

static bool act_request(struct yctx *x, const struct scenario *s,
			const struct ynode *v, struct sc_step *st)
{
	static const char *const keys[] = { "client", "subject", "name",
					    "payload", "timeout", NULL };
	if (!client_args(x, s, v, st, keys, "request"))
		return false;
	if (st->name == NULL)
		st->name = sim_xstrdup(st->subject);
	snprintf(st->text, sizeof(st->text), "%s requests %s (%s)",
		 st->target, st->subject, st->name);
	return true;
}

/* http: {client, server, path, name, port, timeout}: a GET of a
 * monitoring endpoint; the body is the named request's reply. */
static bool act_http(struct yctx *x, const struct scenario *s,
		     const struct ynode *v, struct sc_step *st)
{
	static const char *const keys[] = { "client", "server", "path", "name",
					    "port", "timeout", NULL };
	const struct ynode *m;
	if (!ykeys_allowed(x, v, "http", keys) ||
	    !client_args(x, s, v, st, keys, "http"))
		return false;
	if ((m = ymap_get(v, "server")) == NULL)
		return yfail(x, v, "http needs server:");
	if (!want_server(x, s, m, &st->http_server))
		return false;
	if ((m = ymap_get(v, "path")) == NULL)
		return yfail(x, v, "http needs path: (e.g. /varz)");
	if (!yget_str(x, m, &st->subject))
		return false;
	if (st->subject[0] != '/')
		return yfail(x, m, "a path starts with '/'");
	if ((m = ymap_get(v, "port")) && !yget_int(x, m, 1, 65535, &st->http_port))
		return false;
	if (st->name == NULL)
		st->name = sim_xstrdup(st->subject);
	snprintf(st->text, sizeof(st->text), "%s gets %s from %s (%s)",
		 st->target, st->subject, st->http_server, st->name);
	return true;
}

/* verify: {client, stream, from, name, timeout}: the client reads the
 * stream back; a `stored` condition of the same name judges it. */
static bool act_verify(struct yctx *x, const struct scenario *s,
		       const struct ynode *v, struct sc_step *st)
{
	static const char *const keys[] = { "client", "stream", "from", "name",
					    "timeout", NULL };
	const struct ynode *m;
	if (!client_args(x, s, v, st, keys, "verify"))
		return false;
	if ((m = ymap_get(v, "stream")) == NULL ||
	    !yget_str(x, m, &st->js_stream))
		return yfail(x, v, "verify needs stream: (a JetStream stream)");
	if ((m = ymap_get(v, "from")) == NULL || !yget_str(x, m, &st->from))
		return yfail(x, v, "verify needs from: (an identity prefix)");
	if (st->timeout_ns <= 0)
		return yfail(x, v, "verify needs a positive timeout");
	if (st->name == NULL)
		st->name = sim_xstrdup(st->js_stream);
	snprintf(st->text, sizeof(st->text), "%s reads stream %s back (%s)",
		 st->target, st->js_stream, st->name);
	return true;
}

/* A replacement file of a reload, read from the scenario's folder. */
static bool reload_file(struct yctx *x, const struct scenario *s,
			const struct ynode *key, const struct ynode *v,
			struct sc_file_subst *f)
{
	char *rel = NULL;
	if (key->text[0] == '\0')
		return yfail(x, key, "reload: a file to replace needs a name");
	if (!yget_str(x, v, &rel))
		return false;
	char path[2048];
	snprintf(path, sizeof(path), "%s%s%s", rel[0] == '/' ? "" : s->dir,
		 rel[0] == '/' ? "" : "/", rel);
	free(rel);
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return yfail(x, v, "cannot read file %s", path);
	fclose(fp);
	f->key = sim_xstrdup(key->text);
	f->path = sim_xstrdup(path);
	return true;
}

/* reload: SERVER or {server, files: {NAME: PATH}}: the files are replaced
 * on the server's machine, then its config is read again and applied to
 * the running server (natsd's SIGHUP). */
static bool act_reload(struct yctx *x, const struct scenario *s,
		       const struct ynode *v, struct sc_step *st)
{
	static const char *const keys[] = { "server", "files", NULL };
	if (v->type == Y_SCALAR) {
		if (!want_server(x, s, v, &st->target))
			return false;
	} else {
		if (!ykeys_allowed(x, v, "reload", keys))
			return false;
		const struct ynode *m = ymap_get(v, "server");
		if (m == NULL)
			return yfail(x, v, "reload needs server:");
		if (!want_server(x, s, m, &st->target))
			return false;
		if ((m = ymap_get(v, "files")) != NULL) {
			if (!yexpect(x, m, Y_MAP, "files (NAME: PATH)"))
				return false;
			st->files = sim_xcalloc(m->n ? m->n : 1,
						sizeof(*st->files));
			for (uint32_t i = 0; i < m->n; i++) {
				st->nfiles++;
				if (!reload_file(x, s, m->kv[i].key,
						 m->kv[i].value, &st->files[i]))
					return false;
			}
		}
	}
	snprintf(st->text, sizeof(st->text), "reload %s%s%s", st->target,
		 st->nfiles ? " with " : "", st->nfiles ? st->files[0].key : "");
	if (st->nfiles > 1)
		snprintf(st->text + strlen(st->text),
			 sizeof(st->text) - strlen(st->text), " (and %u more)",
			 st->nfiles - 1);
	if (st->nfiles > 0)
		snprintf(st->text + strlen(st->text),
			 sizeof(st->text) - strlen(st->text), " replaced");
	return true;
}

/* reply_to: {client, request, payload}: publishes payload (default empty)
 * to the reply subject of the last reply to that request, e.g. "+ACK" for
 * a message pulled from a consumer. */
static bool act_reply_to(struct yctx *x, const struct scenario *s,
			 const struct ynode *v, struct sc_step *st)
{
	static const char *const keys[] = { "client", "request", "payload",
					    NULL };
	if (!client_args(x, s, v, st, keys, "reply_to"))
		return false;
	const struct ynode *m = ymap_get(v, "request");
	if (m == NULL)
		return yfail(x, v, "reply_to needs request: (a request name)");
	if (!yget_str(x, m, &st->name))
		return false;
	snprintf(st->text, sizeof(st->text), "%s answers the last reply to %s "
		 "with '%.40s'", st->target, st->name,
		 st->payload ? st->payload : "");
	return true;
}

static bool act_subscribe(struct yctx *x, const struct scenario *s,
			  const struct ynode *v, struct sc_step *st)
{
	static const char *const keys[] = { "client", "subject", "queue",
					    NULL };
	if (!client_args(x, s, v, st, keys, "subscribe"))
		return false;
	snprintf(st->text, sizeof(st->text), "%s subscribes to %s%s%s",
		 st->target, st->subject, st->queue ? " in queue " : "",
		 st->queue ? st->queue : "");
	return true;
}

static bool act_unsubscribe(struct yctx *x, const struct scenario *s,
			    const struct ynode *v, struct sc_step *st)
{
	static const char *const keys[] = { "client", "subject", NULL };
	if (!client_args(x, s, v, st, keys, "unsubscribe"))
		return false;
	snprintf(st->text, sizeof(st->text), "%s unsubscribes from %s",
		 st->target, st->subject);
	return true;
}

static bool act_send(struct yctx *x, const struct scenario *s,
		     const struct ynode *v, struct sc_step *st)
{
	static const char *const keys[] = { "client", "data", NULL };
	if (!client_args(x, s, v, st, keys, "send"))
		return false;
	char shown[64];
	size_t k = 0;
	for (size_t i = 0; i < st->payload_len && k + 3 < sizeof(shown); i++) {
		char c = st->payload[i];
		if (c == '\r' || c == '\n') {
			shown[k++] = '\\';
			shown[k++] = c == '\r' ? 'r' : 'n';
		} else {
			shown[k++] = c >= 0x20 && c < 0x7f ? c : '.';
		}
	}
	shown[k] = '\0';
	snprintf(st->text, sizeof(st->text), "%s sends raw \"%s\"", st->target,
		 shown);
	return true;
}

static bool act_expect(struct yctx *x, const struct scenario *s,
		       const struct ynode *v, struct sc_step *st)
{
	snprintf(st->text, sizeof(st->text), "check expectations");
	return sc_parse_expects(x, (struct scenario *)s, v, &st->expects,
				&st->nexpects);
}

static bool act_log(struct yctx *x, const struct scenario *s,
		    const struct ynode *v, struct sc_step *st)
{
	UNUSED(s);
	if (!yget_str(x, v, &st->target))
		return false;
	snprintf(st->text, sizeof(st->text), "note: %s", st->target);
	return true;
}

static bool act_end(struct yctx *x, const struct scenario *s,
		    const struct ynode *v, struct sc_step *st)
{
	UNUSED(s);
	bool yes = false;
	if (!yget_bool(x, v, &yes))
		return false;
	if (!yes)
		return yfail(x, v, "end: true ends the run here");
	snprintf(st->text, sizeof(st->text), "end of the run");
	return true;
}

struct act_def {
	const char *key;
	enum sc_action act;
	act_parse_fn parse;
};

static const struct act_def act_defs[] = {
	{ "start", SC_ACT_START, act_server },
	{ "stop", SC_ACT_STOP, act_server },
	{ "crash", SC_ACT_CRASH, act_server },
	{ "restart", SC_ACT_RESTART, act_server },
	{ "pause", SC_ACT_PAUSE, act_node },
	{ "resume", SC_ACT_RESUME, act_node },
	{ "wipe", SC_ACT_WIPE, act_server },
	{ "partition", SC_ACT_PARTITION, act_partition },
	{ "heal", SC_ACT_HEAL, act_heal },
	{ "reset", SC_ACT_RESET, act_reset },
	{ "network", SC_ACT_NETWORK, act_network },
	{ "clock", SC_ACT_CLOCK, act_clock },
	{ "disk", SC_ACT_DISK, act_disk },
	{ "publish", SC_ACT_PUBLISH, act_publish },
	{ "request", SC_ACT_REQUEST, act_request },
	{ "subscribe", SC_ACT_SUBSCRIBE, act_subscribe },
	{ "unsubscribe", SC_ACT_UNSUBSCRIBE, act_unsubscribe },
	{ "send", SC_ACT_SEND, act_send },
	{ "connect", SC_ACT_CONNECT, act_client },
	{ "disconnect", SC_ACT_DISCONNECT, act_client },
	{ "expect", SC_ACT_EXPECT, act_expect },
	{ "log", SC_ACT_LOG, act_log },
	{ "end", SC_ACT_END, act_end },
	{ "http", SC_ACT_HTTP, act_http },
	{ "verify", SC_ACT_VERIFY, act_verify },
	{ "reload", SC_ACT_RELOAD, act_reload },
	{ "reply_to", SC_ACT_REPLY_TO, act_reply_to },
};

static bool parse_step_when(struct yctx *x, const struct scenario *s,
			    const struct ynode *n, struct sc_step *st)
{
	const struct ynode *at = ymap_get(n, "at");
	const struct ynode *after = ymap_get(n, "after");
	const struct ynode *delay = ymap_get(n, "delay");
	st->at_ns = -1;
	if ((at == NULL) == (after == NULL))
		return yfail(x, n, "a step needs at: TIME or after: CONDITION");
	if (at != NULL && !yget_dur(x, at, false, &st->at_ns))
		return false;
	if (after != NULL) {
		st->after = sim_xcalloc(1, sizeof(*st->after));
		if (!parse_cond(x, s, after, NULL, st->after))
			return false;
	}
	if (delay != NULL && after == NULL)
		return yfail(x, delay, "delay goes with after:");
	return delay == NULL || yget_dur(x, delay, false, &st->delay_ns);
}

static bool parse_step(struct yctx *x, const struct scenario *s,
		       const struct ynode *n, struct sc_step *st)
{
	st->line = n->line;
	if (!yexpect(x, n, Y_MAP, "a timeline step"))
		return false;
	const struct act_def *def = NULL;
	const struct ynode *value = NULL;
	for (uint32_t i = 0; i < n->n; i++) {
		const char *key = n->kv[i].key->text;
		if (!strcmp(key, "at") || !strcmp(key, "after") ||
		    !strcmp(key, "delay"))
			continue;
		const struct act_def *d = NULL;
		for (size_t j = 0; j < ARRAY_LEN(act_defs) && d == NULL; j++)
			if (strcmp(act_defs[j].key, key) == 0)
				d = &act_defs[j];
		if (d == NULL)
			return yfail(x, n->kv[i].key, "unknown step '%s'", key);
		if (def != NULL)
			return yfail(x, n->kv[i].key, "one action per step "
				     "('%s' and '%s')", def->key, key);
		def = d;
		value = n->kv[i].value;
	}
	if (def == NULL)
		return yfail(x, n, "a step needs an action (crash, partition, "
			     "publish, expect, ...)");
	st->act = def->act;
	if (!parse_step_when(x, s, n, st) || !def->parse(x, s, value, st))
		return false;
	if (st->text[0] == '\0')
		snprintf(st->text, sizeof(st->text), "%s %s", def->key,
			 st->target ? st->target : "");
	return true;
}

bool sc_parse_timeline(struct yctx *x, struct scenario *s,
		       const struct ynode *n)
{
	if (!yexpect(x, n, Y_SEQ, "timeline"))
		return false;
	s->steps = sim_xcalloc(n->n, sizeof(*s->steps));
	for (uint32_t i = 0; i < n->n; i++) {
		s->nsteps++;
		if (!parse_step(x, s, n->items[i], &s->steps[i]))
			return false;
	}
	return true;
}

void sc_step_free(struct sc_step *st)
{
	if (st->after != NULL) {
		sc_cond_free(st->after);
		free(st->after);
	}
	free(st->target);
	free(st->sel.name);
	sc_names_free(st->sel.a, st->sel.na);
	sc_names_free(st->sel.b, st->sel.nb);
	free(st->disk.file);
	free(st->subject);
	free(st->reply);
	free(st->queue);
	free(st->payload);
	free(st->name);
	free(st->http_server);
	free(st->js_stream);
	free(st->from);
	for (uint32_t i = 0; i < st->nfiles; i++) {
		free(st->files[i].key);
		free(st->files[i].path);
	}
	free(st->files);
	sc_expects_free(st->expects, st->nexpects);
}
