/*
 * checker.c - condition evaluation; see checker.h.
 *
 * The delivery checks lean on the workload identities: a subscription
 * keeps, per publisher stream, a bitmap of the counters it received, and
 * the publisher knows how many it sent.  "All delivered exactly once, in
 * order" is then count == sent with no duplicate and no reordering, and a
 * queue group is checked by asking, for each counter, how many members
 * hold it.
 */
#include "checker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/json.h"

static struct sim_client *ctx_client(const struct check_ctx *x,
				     const char *name)
{
	int i = scenario_find_client(x->sc, name);
	return i < 0 ? NULL : x->clients[i];
}

static bool range_ok(const struct sc_range *r, int64_t v)
{
	if (r->has_eq && v != r->eq)
		return false;
	if (r->has_min && v < r->min)
		return false;
	if (r->has_max && v > r->max)
		return false;
	return true;
}

static bool check_count(const struct sc_range *r, int64_t v, const char *what,
			char *detail, size_t cap)
{
	snprintf(detail, cap, "%s %lld", what, (long long)v);
	return range_ok(r, v);
}

/* Messages sent with identity prefix stream, over every client. */
static uint64_t stream_sent(const struct check_ctx *x, const char *stream)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < x->sc->nclients; i++)
		n += sim_client_sent(x->clients[i], stream);
	return n;
}

static bool sub_matches(const struct sim_client *c, uint32_t i,
			const char *subject)
{
	const char *s = sim_client_sub_subject(c, i);
	return s != NULL && (subject == NULL || strcmp(s, subject) == 0);
}

/* Whether some subscription of c (on subject, if given) got identity id. */
static bool client_has_id(const struct sim_client *c, const char *subject,
			  const char *id)
{
	char stream[64];
	uint64_t counter;
	if (!sim_identity_parse(id, strlen(id), stream, sizeof(stream),
				&counter))
		return false;
	for (uint32_t i = 0; i < sim_client_sub_count(c); i++) {
		const struct sim_track *t;
		if (sub_matches(c, i, subject) &&
		    (t = sim_client_sub_track(c, i, stream)) != NULL &&
		    sim_track_has(t, counter))
			return true;
	}
	return false;
}

static bool check_ids(const struct sim_client *c, const struct sc_cond *k,
		      char *detail, size_t cap)
{
	for (uint32_t i = 0; i < k->nmembers; i++) {
		if (!client_has_id(c, k->subject, k->members[i])) {
			snprintf(detail, cap, "%s not received", k->members[i]);
			return false;
		}
	}
	snprintf(detail, cap, "all %u received", k->nmembers);
	return true;
}

static bool check_reply_text(const struct check_ctx *x,
			     const struct sc_cond *k, char *detail, size_t cap)
{
	size_t len = 0;
	const char *reply = sim_client_req_last_reply(
		ctx_client(x, k->client), k->request, &len);
	if (reply == NULL) {
		snprintf(detail, cap, "no reply yet");
		return false;
	}
	snprintf(detail, cap, "'%.200s'", reply);
	if (k->equals != NULL)
		return strcmp(reply, k->equals) == 0;
	return strstr(reply, k->contains) != NULL;
}

static bool check_received(const struct check_ctx *x, const struct sc_cond *k,
			   char *detail, size_t cap)
{
	struct sim_client *c = ctx_client(x, k->client);
	if (k->nmembers > 0 && !check_ids(c, k, detail, cap))
		return false;
	uint64_t total = 0, dups = 0;
	for (uint32_t i = 0; i < sim_client_sub_count(c); i++) {
		if (!sub_matches(c, i, k->subject))
			continue;
		if (k->from == NULL) {
			total += sim_client_sub_received(c, i);
			continue;
		}
		const struct sim_track *t = sim_client_sub_track(c, i, k->from);
		if (t != NULL) {
			total += t->count;
			dups += t->dups;
		}
	}
	bool ok = range_ok(&k->count, (int64_t)total);
	snprintf(detail, cap, "got %llu%s", (unsigned long long)total,
		 dups ? " (and duplicates)" : "");
	return ok;
}

/* The best subscription of c for stream: the most counters received. */
static const struct sim_track *best_track(const struct sim_client *c,
					  const char *stream)
{
	const struct sim_track *best = NULL;
	for (uint32_t i = 0; i < sim_client_sub_count(c); i++) {
		if (!sub_matches(c, i, NULL))
			continue;
		const struct sim_track *t = sim_client_sub_track(c, i, stream);
		if (t != NULL && (best == NULL || t->count > best->count))
			best = t;
	}
	return best;
}

static bool check_delivered(const struct check_ctx *x,
			    const struct sc_cond *k, char *detail, size_t cap)
{
	uint64_t sent = stream_sent(x, k->from);
	if (sent == 0) {
		snprintf(detail, cap, "%s sent nothing", k->from);
		return false;
	}
	for (uint32_t m = 0; m < k->nmembers; m++) {
		struct sim_client *c = ctx_client(x, k->members[m]);
		const struct sim_track *t = c ? best_track(c, k->from) : NULL;
		uint64_t got = t ? t->count : 0;
		if (t != NULL && got == sent && t->dups == 0 &&
		    t->out_of_order == 0)
			continue;
		snprintf(detail, cap, "%s got %llu of %llu (%llu duplicates, "
			 "%llu out of order)", k->members[m],
			 (unsigned long long)got, (unsigned long long)sent,
			 (unsigned long long)(t ? t->dups : 0),
			 (unsigned long long)(t ? t->out_of_order : 0));
		return false;
	}
	snprintf(detail, cap, "%llu of %llu to each", (unsigned long long)sent,
		 (unsigned long long)sent);
	return true;
}

static uint64_t member_tracks(const struct check_ctx *x,
			     const struct sc_cond *k,
			     const struct sim_track **tracks, uint32_t max,
			     uint32_t *n, uint64_t *dups)
{
	uint64_t total = 0;
	*n = 0;
	*dups = 0;
	for (uint32_t m = 0; m < k->nmembers; m++) {
		struct sim_client *c = ctx_client(x, k->members[m]);
		for (uint32_t i = 0; c && i < sim_client_sub_count(c); i++) {
			const struct sim_track *t =
				sim_client_sub_track(c, i, k->from);
			if (t == NULL || *n == max)
				continue;
			tracks[(*n)++] = t;
			total += t->count;
			*dups += t->dups;
		}
	}
	return total;
}

static bool check_queue(const struct check_ctx *x, const struct sc_cond *k,
			char *detail, size_t cap)
{
	const struct sim_track *tracks[256];
	uint32_t n;
	uint64_t dups, sent = stream_sent(x, k->from);
	uint64_t total = member_tracks(x, k, tracks, 256, &n, &dups);
	snprintf(detail, cap, "members got %llu of %llu, %llu duplicates",
		 (unsigned long long)total, (unsigned long long)sent,
		 (unsigned long long)dups);
	if (sent == 0 || total != sent || dups != 0)
		return false;
	uint32_t members_used = 0;
	for (uint32_t i = 0; i < n; i++)
		members_used += tracks[i]->count > 0;
	for (uint64_t ctr = 1; ctr <= sent; ctr++) {
		int owners = 0;
		for (uint32_t i = 0; i < n; i++)
			owners += sim_track_has(tracks[i], ctr);
		if (owners != 1) {
			snprintf(detail, cap, "%s#%llu went to %d members",
				 k->from, (unsigned long long)ctr, owners);
			return false;
		}
	}
	snprintf(detail, cap, "%llu messages over %u members",
		 (unsigned long long)sent, members_used);
	return true;
}

static bool check_reply_json(const struct check_ctx *x,
			     const struct sc_cond *k, char *detail,
			     size_t cap)
{
	struct sim_client *c = ctx_client(x, k->client);
	size_t len = 0;
	const char *reply = sim_client_req_last_reply(c, k->request, &len);
	if (reply == NULL) {
		snprintf(detail, cap, "no reply yet");
		return false;
	}
	char value[256];
	bool found = check_json_field(reply, len, k->field, value,
				      sizeof(value));
	if (!k->exists) {
		snprintf(detail, cap, found ? "%s is %s" : "%s is absent",
			 k->field, value);
		return !found;
	}
	if (!found) {
		snprintf(detail, cap, "no %s in %.120s", k->field, reply);
		return false;
	}
	snprintf(detail, cap, "%s = %s", k->field, value);
	return k->equals == NULL || strcmp(value, k->equals) == 0;
}

static bool check_server(const struct check_ctx *x, const struct sc_cond *k,
			 char *detail, size_t cap)
{
	const struct sim_proc *p =
		&x->procs[scenario_find_server(x->sc, k->server)];
	bool running = sim_proc_running(p);
	struct server_stats st = { 0 };
	if (running)
		server_get_stats(p->srv, &st);
	snprintf(detail, cap, "%s, %u connections, %u subscriptions",
		 running ? "running" : "down", st.connections, st.subscriptions);
	if (k->has_running && running != k->running)
		return false;
	if (!range_ok(&k->conns, st.connections) ||
	    !range_ok(&k->subs, st.subscriptions))
		return false;
	return true;
}

static bool check_list(const struct check_ctx *x, const struct sc_cond *k,
		       char *detail, size_t cap)
{
	char sub[256];
	for (uint32_t i = 0; i < k->nsub; i++) {
		bool ok = check_cond(x, &k->sub[i], sub, sizeof(sub));
		if (k->kind == SC_COND_ALL && !ok) {
			snprintf(detail, cap, "%.80s: %.160s", k->sub[i].text, sub);
			return false;
		}
		if (k->kind == SC_COND_ANY && ok) {
			snprintf(detail, cap, "%.80s: %.160s", k->sub[i].text, sub);
			return true;
		}
		if (k->kind == SC_COND_NOT) {
			snprintf(detail, cap, "%s", sub);
			return !ok;
		}
	}
	snprintf(detail, cap, k->kind == SC_COND_ALL ? "all held"
						      : "none held");
	return k->kind == SC_COND_ALL;
}

static bool check_client_counts(const struct check_ctx *x,
				const struct sc_cond *k, char *detail,
				size_t cap)
{
	struct sim_client *c = ctx_client(x, k->client);
	const struct sim_client_stats *st = sim_client_stats(c);
	switch (k->kind) {
	case SC_COND_ERROR:
		return check_count(&k->count,
				   (int64_t)sim_client_errors_matching(c,
								k->contains),
				   "matching -ERR:", detail, cap);
	case SC_COND_CLOSED:
		return check_count(&k->count, (int64_t)st->closed_by_server,
				   "closed by the server:", detail, cap);
	case SC_COND_RECONNECTS:
		return check_count(&k->count, (int64_t)st->reconnects,
				   "reconnects:", detail, cap);
	case SC_COND_PUBLISHED:
		return check_count(&k->count, (int64_t)(k->from
				   ? sim_client_sent(c, k->from)
				   : st->published), "published:", detail, cap);
	case SC_COND_REPLIES:
		return check_count(&k->count, (int64_t)sim_client_req_replies(
					   c, k->request), "replies:", detail,
				   cap);
	case SC_COND_TIMEOUTS:
		return check_count(&k->count, (int64_t)sim_client_req_timeouts(
					   c, k->request), "timeouts:", detail,
				   cap);
	case SC_COND_NO_RESPONDERS:
		return check_count(&k->count,
				   (int64_t)sim_client_req_no_responders(
					   c, k->request), "no-responders:",
				   detail, cap);
	default:
		snprintf(detail, cap, "%s", sim_client_ready(c)
			 ? "connected" : "not connected");
		return sim_client_ready(c);
	}
}

bool check_cond(const struct check_ctx *x, const struct sc_cond *c,
		char *detail, size_t cap)
{
	switch (c->kind) {
	case SC_COND_RECEIVED: return check_received(x, c, detail, cap);
	case SC_COND_DELIVERED: return check_delivered(x, c, detail, cap);
	case SC_COND_QUEUE: return check_queue(x, c, detail, cap);
	case SC_COND_REPLY_JSON: return check_reply_json(x, c, detail, cap);
	case SC_COND_REPLY: return check_reply_text(x, c, detail, cap);
	case SC_COND_SERVER: return check_server(x, c, detail, cap);
	case SC_COND_ALL:
	case SC_COND_ANY:
	case SC_COND_NOT: return check_list(x, c, detail, cap);
	default: return check_client_counts(x, c, detail, cap);
	}
}

/* ------------------------------------------------------------------ json */

/* Next path element: a key (into key) or an index (*index >= 0). */
static const char *path_next(const char *p, char *key, size_t cap,
			     long *index)
{
	*index = -1;
	key[0] = '\0';
	if (*p == '[') {
		*index = strtol(p + 1, (char **)&p, 10);
		if (*p != ']')
			return NULL;
		p++;
	} else {
		size_t n = 0;
		while (*p && *p != '.' && *p != '[' && n + 1 < cap)
			key[n++] = *p++;
		key[n] = '\0';
		if (n == 0)
			return NULL;
	}
	if (*p == '.')
		p++;
	return p;
}

static void json_value_text(const struct json_doc *d, int tok, char *value,
			    size_t cap)
{
	struct mem m;
	mem_init(&m);
	struct buf b;
	buf_init(&b, &m);
	size_t len = 0;
	if (json_type_of(d, tok) == JSON_STRING && json_get_string(d, tok, &b)) {
		snprintf(value, cap, "%.*s", (int)b.len, b.data ? b.data : "");
	} else {
		const char *raw = json_raw(d, tok, &len);
		snprintf(value, cap, "%.*s", (int)len, raw);
	}
	buf_free(&b);
}

bool check_json_field(const char *json, size_t len, const char *path,
		      char *value, size_t cap)
{
	struct mem m;
	mem_init(&m);
	struct json_doc d;
	value[0] = '\0';
	if (json_parse(&d, &m, json, len) != 0)
		return false;
	int tok = 0;
	const char *p = path;
	char key[128];
	long index;
	while (tok >= 0 && *p != '\0') {
		p = path_next(p, key, sizeof(key), &index);
		if (p == NULL) {
			tok = -1;
			break;
		}
		if (index >= 0)
			tok = json_type_of(&d, tok) == JSON_ARRAY
				      ? json_array_at(&d, tok, (uint32_t)index)
				      : -1;
		else
			tok = json_type_of(&d, tok) == JSON_OBJECT
				      ? json_obj_get(&d, tok, key) : -1;
	}
	if (tok >= 0)
		json_value_text(&d, tok, value, cap);
	json_doc_free(&d);
	return tok >= 0;
}
