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

/* The field of a client's last reply to a request: false (and why in
 * detail) when there is no reply or no such field. */
static bool reply_field(const struct check_ctx *x, const char *client,
			const char *request, const char *field, char *value,
			size_t vcap, char *detail, size_t cap)
{
	size_t len = 0;
	const char *reply = sim_client_req_last_reply(ctx_client(x, client),
						      request, &len);
	if (reply == NULL) {
		snprintf(detail, cap, "no reply to %s yet", request);
		return false;
	}
	if (!check_json_field(reply, len, field, value, vcap)) {
		snprintf(detail, cap, "no %s in the reply to %s", field, request);
		return false;
	}
	return true;
}

static bool check_same_json(const struct check_ctx *x,
			    const struct sc_cond *k, char *detail, size_t cap)
{
	char a[128], b[128];
	const char *client_b = k->client_b ? k->client_b : k->client;
	if (!reply_field(x, k->client, k->request, k->field, a, sizeof(a),
			 detail, cap) ||
	    !reply_field(x, client_b, k->request_b, k->field, b, sizeof(b),
			 detail, cap))
		return false;
	snprintf(detail, cap, "%s: %s, %s: %s", k->request, a, k->request_b, b);
	return strcmp(a, b) == 0;
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

/* ------------------------------------------------------------ JetStream */

/* The js_publish workload with identity prefix from, in any client. */
static const struct sim_js_pubs *find_js_pubs(const struct check_ctx *x,
					      const char *from)
{
	for (uint32_t i = 0; i < x->sc->nclients; i++) {
		const struct sim_js_pubs *p =
			sim_client_js_pubs(x->clients[i], from);
		if (p != NULL)
			return p;
	}
	return NULL;
}

/* What acknowledged, failed and unknown publishes look like in a
 * read-back of the stream. */
struct stored_tally {
	uint64_t acked, in_place, missing, misplaced, bad_len, unordered;
	uint64_t unknown, unknown_stored, errors, errors_stored, phantom;
	uint64_t first_missing, first_misplaced, first_unordered;
};

static size_t expected_len(const struct sim_js_pubs *p, uint64_t counter)
{
	char buf[96];
	size_t n = sim_identity_payload(buf, sizeof(buf), p->from, counter, 0);
	return p->size > n + 1 ? p->size : n;
}

static void tally_acked(struct stored_tally *t, const struct sim_js_pubs *p,
			const struct sim_js_scan *sc, uint64_t counter,
			uint64_t *last_seq)
{
	const struct sim_js_rec *rec = &p->recs[counter - 1];
	uint64_t at = counter <= sc->nat ? sc->at[counter - 1] : 0;
	t->acked++;
	if (rec->seq <= *last_seq && t->unordered++ == 0)
		t->first_unordered = counter;
	*last_seq = rec->seq;
	if (at == 0) {
		if (t->missing++ == 0)
			t->first_missing = counter;
	} else if (at != rec->seq) {
		if (t->misplaced++ == 0)
			t->first_misplaced = counter;
	} else if (sc->len[counter - 1] != expected_len(p, counter)) {
		t->bad_len++;
	} else {
		t->in_place++;
	}
}

static void stored_tally(const struct sim_js_pubs *p,
			 const struct sim_js_scan *sc, struct stored_tally *t)
{
	uint64_t last_seq = 0;
	memset(t, 0, sizeof(*t));
	for (uint64_t ctr = 1; ctr <= p->sent; ctr++) {
		bool found = ctr <= sc->nat && sc->at[ctr - 1] != 0;
		switch (p->recs[ctr - 1].state) {
		case SIM_JS_ACKED:
			tally_acked(t, p, sc, ctr, &last_seq);
			break;
		case SIM_JS_ERROR:
			t->errors++;
			t->errors_stored += found;
			break;
		default:
			t->unknown++;
			t->unknown_stored += found;
			break;
		}
	}
	for (uint64_t ctr = p->sent + 1; ctr <= sc->nat; ctr++)
		t->phantom += sc->at[ctr - 1] != 0;
}

/* The first reason the read-back contradicts the acknowledgements, or
 * NULL when it agrees. */
static const char *stored_problem(const struct sc_cond *k,
				  const struct sim_js_pubs *p,
				  const struct sim_js_scan *sc,
				  const struct stored_tally *t, char *why,
				  size_t cap)
{
	if (p->acked > 0 && strcmp(p->ack_stream, k->js_stream) != 0)
		snprintf(why, cap, "PubAcks name stream '%s'", p->ack_stream);
	else if (p->wrong_stream > 0)
		snprintf(why, cap, "%llu PubAcks name another stream",
			 (unsigned long long)p->wrong_stream);
	else if (t->missing > (uint64_t)k->lost_max)
		snprintf(why, cap, "%s#%llu acked at seq %llu is missing",
			 p->from, (unsigned long long)t->first_missing,
			 (unsigned long long)p->recs[t->first_missing - 1].seq);
	else if (t->misplaced > 0)
		snprintf(why, cap, "%s#%llu acked at seq %llu is at seq %llu",
			 p->from, (unsigned long long)t->first_misplaced,
			 (unsigned long long)p->recs[t->first_misplaced - 1].seq,
			 (unsigned long long)sc->at[t->first_misplaced - 1]);
	else if (sc->dups > 0)
		snprintf(why, cap, "%s#%llu stored twice (again at seq %llu)",
			 p->from, (unsigned long long)sc->dup_counter,
			 (unsigned long long)sc->dup_seq);
	else if (t->unordered > 0)
		snprintf(why, cap, "%s#%llu acked with a sequence not above "
			 "the previous ack", p->from,
			 (unsigned long long)t->first_unordered);
	else if (t->bad_len > 0 || sc->malformed > 0)
		snprintf(why, cap, "%llu stored payloads differ from what was "
			 "sent", (unsigned long long)(t->bad_len +
						       sc->malformed));
	else if (k->errors_stored_max >= 0 &&
		 t->errors_stored > (uint64_t)k->errors_stored_max)
		snprintf(why, cap, "%llu publishes answered with an error are "
			 "stored", (unsigned long long)t->errors_stored);
	else if (t->phantom > 0)
		snprintf(why, cap, "%llu stored identities were never sent",
			 (unsigned long long)t->phantom);
	else
		return NULL;
	return why;
}

static bool check_stored(const struct check_ctx *x, const struct sc_cond *k,
			 char *detail, size_t cap)
{
	const struct sim_js_scan *sc =
		sim_client_js_scan(ctx_client(x, k->client), k->request);
	const struct sim_js_pubs *p = find_js_pubs(x, k->from);
	if (p == NULL) {
		snprintf(detail, cap, "no js_publish workload of %s", k->from);
		return false;
	}
	if (sc == NULL || !sc->done) {
		snprintf(detail, cap, sc == NULL ? "no verify step %s ran"
			 : "verify %s still reading (at seq %llu of %llu)",
			 k->request, (unsigned long long)(sc ? sc->next_seq : 0),
			 (unsigned long long)(sc ? sc->last_seq : 0));
		return false;
	}
	if (sc->failed[0] != '\0') {
		snprintf(detail, cap, "verify %s failed: %s", k->request,
			 sc->failed);
		return false;
	}
	struct stored_tally t;
	stored_tally(p, sc, &t);
	char why[160];
	const char *problem = stored_problem(k, p, sc, &t, why, sizeof(why));
	snprintf(detail, cap, "%s%s%llu acked, %llu in place, %llu missing "
		 "(%lld allowed); %llu unknown (%llu stored); %llu errors "
		 "(%llu stored); read seq %llu..%llu",
		 problem ? problem : "", problem ? ": " : "",
		 (unsigned long long)t.acked, (unsigned long long)t.in_place,
		 (unsigned long long)t.missing, (long long)k->lost_max,
		 (unsigned long long)t.unknown,
		 (unsigned long long)t.unknown_stored,
		 (unsigned long long)t.errors,
		 (unsigned long long)t.errors_stored,
		 (unsigned long long)sc->first_seq,
		 (unsigned long long)sc->last_seq);
	return problem == NULL && range_ok(&k->count, (int64_t)t.acked);
}

static bool check_js_counts(const struct check_ctx *x,
			    const struct sc_cond *k, char *detail,
			    size_t cap)
{
	struct sim_client *c = ctx_client(x, k->client);
	if (k->kind == SC_COND_PUB_ERRORS)
		return check_count(&k->count, (int64_t)
				   sim_client_js_errors_matching(c, k->from,
								 k->contains),
				   "publish errors:", detail, cap);
	uint64_t n = 0;
	const struct sim_js_pubs *p;
	for (uint32_t i = 0; (p = sim_client_js_pubs_at(c, i)) != NULL; i++) {
		if (k->from != NULL && strcmp(p->from, k->from) != 0)
			continue;
		n += k->kind == SC_COND_ACKED ? p->acked : p->timeouts;
	}
	return check_count(&k->count, (int64_t)n, k->kind == SC_COND_ACKED
			   ? "PubAcks:" : "unanswered:", detail, cap);
}

static bool check_log(const struct check_ctx *x, const struct sc_cond *k,
		      char *detail, size_t cap)
{
	if (x->log_count == NULL) {
		snprintf(detail, cap, "no log kept");
		return false;
	}
	uint64_t n = x->log_count(x->log_arg,
				  scenario_find_server(x->sc, k->server),
				  k->contains);
	return check_count(&k->count, (int64_t)n, "matching lines:", detail,
			   cap);
}

bool check_cond(const struct check_ctx *x, const struct sc_cond *c,
		char *detail, size_t cap)
{
	switch (c->kind) {
	case SC_COND_RECEIVED: return check_received(x, c, detail, cap);
	case SC_COND_DELIVERED: return check_delivered(x, c, detail, cap);
	case SC_COND_QUEUE: return check_queue(x, c, detail, cap);
	case SC_COND_REPLY_JSON: return check_reply_json(x, c, detail, cap);
	case SC_COND_SAME_JSON: return check_same_json(x, c, detail, cap);
	case SC_COND_REPLY: return check_reply_text(x, c, detail, cap);
	case SC_COND_SERVER: return check_server(x, c, detail, cap);
	case SC_COND_STORED: return check_stored(x, c, detail, cap);
	case SC_COND_ACKED:
	case SC_COND_PUB_ERRORS:
	case SC_COND_PUB_TIMEOUTS: return check_js_counts(x, c, detail, cap);
	case SC_COND_LOG: return check_log(x, c, detail, cap);
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
