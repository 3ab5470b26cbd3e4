/*
 * js_advisory.c - JetStream advisories (see js_advisory.h): the JSON of
 * the reference's JSAPIAudit, JSStreamActionAdvisory and
 * JSConsumerActionAdvisory, field for field and in the same order, and
 * their publication in the owning account.
 *
 * Owns nothing: each advisory is built in a local buffer and handed to
 * internal_send, which copies it.  Ids are NUID-shaped (22 base62
 * characters) drawn from the server's generator, so a simulated run stays
 * reproducible; they are only drawn when someone listens.
 */
#include "js_advisory.h"

#include <stdio.h>
#include <string.h>

#include "../core/internal.h"
#include "../core/server_int.h"
#include "../lib/json.h"
#include "../lib/timefmt.h"
#include "jetstream.h"
#include "stream.h"

#define JSA_ID_LEN 22
#define JSA_SUBJECT_MAX 1024

static struct server *jsa_server(const struct js_account *ja)
{
	return ja->js->srv;
}

/* Whether anything in ja's account (clients, streams, imports) listens on
 * subject: advisories nobody takes are not built. */
static bool jsa_wanted(struct js_account *ja, const char *subject)
{
	return sublist_has_interest(ja->acc->sl, subject, strlen(subject));
}

/* The TypedEvent head: type, id, timestamp. */
static void jsa_write_head(struct server *s, struct jw *w, const char *type)
{
	char id[JSA_ID_LEN + 1], now[TIMEFMT_MAX];
	prng_base62(&s->prng, id, JSA_ID_LEN);
	id[JSA_ID_LEN] = '\0';
	timefmt_rfc3339(env_now_wall_ns(s->env), now);
	jw_key(w, "type");
	jw_str(w, type);
	jw_key(w, "id");
	jw_str(w, id);
	jw_key(w, "timestamp");
	jw_str(w, now);
}

static void jsa_write_domain(const struct js_account *ja, struct jw *w)
{
	if (ja->js->domain != NULL) {
		jw_key(w, "domain");
		jw_str(w, ja->js->domain);
	}
}

static void jsa_send(struct js_account *ja, const char *subject,
		     const struct buf *b)
{
	if (!b->oom && b->data != NULL)
		internal_send(jsa_server(ja), ja->acc, subject, NULL, NULL, 0,
			      b->data, b->len);
}

/* The ClientInfo the reference attaches to an API request that crosses
 * into the system account: account, round trip (when measured), and this
 * server's name and cluster. */
static void jsa_write_client(struct server *s, struct jw *w,
			     const struct js_account *ja,
			     const struct conn *from)
{
	jw_key(w, "client");
	jw_obj_begin(w);
	jw_key(w, "acc");
	jw_str(w, from != NULL ? ja->acc->name : "");
	if (from != NULL && from->rtt_ns > 0) {
		jw_key(w, "rtt");
		jw_int(w, from->rtt_ns);
	}
	if (from != NULL) {
		jw_key(w, "server");
		jw_str(w, s->name);
		if (s->opts->cluster.name != NULL) {
			jw_key(w, "cluster");
			jw_str(w, s->opts->cluster.name);
		}
	}
	jw_obj_end(w);
}

void js_advisory_api_audit(struct js_account *ja, const struct conn *from,
			   const char *api_rest, const char *request,
			   size_t request_len, const char *response,
			   size_t response_len)
{
	const char *subj = JS_ADVISORY_PREFIX ".API";
	if (!jsa_wanted(ja, subj))
		return;
	struct server *s = jsa_server(ja);
	struct buf b;
	struct jw w;
	buf_init(&b, &s->mem);
	jw_init(&w, &b);
	jw_obj_begin(&w);
	jsa_write_head(s, &w, "io.nats.jetstream.advisory.v1.api_audit");
	jw_key(&w, "server");
	jw_str(&w, s->name);
	jsa_write_client(s, &w, ja, from);
	struct buf subject;
	buf_init(&subject, &s->mem);
	buf_appendf(&subject, "$JS.API.%s", api_rest);
	jw_key(&w, "subject");
	jw_strn(&w, subject.data, subject.len);
	if (subject.oom)
		b.oom = true;
	buf_free(&subject);
	if (request_len > 0) {
		jw_key(&w, "request");
		jw_strn(&w, request, request_len);
	}
	jw_key(&w, "response");
	jw_strn(&w, response != NULL ? response : "", response_len);
	jsa_write_domain(ja, &w);
	jw_obj_end(&w);
	jsa_send(ja, subj, &b);
	buf_free(&b);
}

/* One stream_action advisory; the template only on create and delete,
 * as the reference writes it. */
static void jsa_stream_action(struct js_account *ja, const struct stream *st,
			      const char *event, const char *action,
			      bool with_template)
{
	char subj[JSA_SUBJECT_MAX];
	const char *name = stream_name(st);
	int n = snprintf(subj, sizeof(subj), JS_ADVISORY_PREFIX ".STREAM.%s.%s",
			 event, name);
	if (n < 0 || (size_t)n >= sizeof(subj) || !jsa_wanted(ja, subj))
		return;
	struct server *s = jsa_server(ja);
	const char *tmpl = stream_config_of(st)->template_owner;
	struct buf b;
	struct jw w;
	buf_init(&b, &s->mem);
	jw_init(&w, &b);
	jw_obj_begin(&w);
	jsa_write_head(s, &w, "io.nats.jetstream.advisory.v1.stream_action");
	jw_key(&w, "stream");
	jw_str(&w, name);
	jw_key(&w, "action");
	jw_str(&w, action);
	if (with_template && tmpl != NULL && tmpl[0] != '\0') {
		jw_key(&w, "template");
		jw_str(&w, tmpl);
	}
	jsa_write_domain(ja, &w);
	jw_obj_end(&w);
	jsa_send(ja, subj, &b);
	buf_free(&b);
}

void js_advisory_stream_created(struct js_account *ja, const struct stream *st)
{
	jsa_stream_action(ja, st, "CREATED", "create", true);
}

void js_advisory_stream_updated(struct js_account *ja, const struct stream *st)
{
	jsa_stream_action(ja, st, "UPDATED", "modify", false);
}

void js_advisory_stream_deleted(struct js_account *ja, const struct stream *st)
{
	jsa_stream_action(ja, st, "DELETED", "delete", true);
}

void js_advisory_consumer_action(struct js_account *ja, const char *stream,
				 const char *consumer, bool created)
{
	char subj[JSA_SUBJECT_MAX];
	int n = snprintf(subj, sizeof(subj),
			 JS_ADVISORY_PREFIX ".CONSUMER.%s.%s.%s",
			 created ? "CREATED" : "DELETED", stream, consumer);
	if (n < 0 || (size_t)n >= sizeof(subj) || !jsa_wanted(ja, subj))
		return;
	struct server *s = jsa_server(ja);
	struct buf b;
	struct jw w;
	buf_init(&b, &s->mem);
	jw_init(&w, &b);
	jw_obj_begin(&w);
	jsa_write_head(s, &w, "io.nats.jetstream.advisory.v1.consumer_action");
	jw_key(&w, "stream");
	jw_str(&w, stream);
	jw_key(&w, "consumer");
	jw_str(&w, consumer);
	jw_key(&w, "action");
	jw_str(&w, created ? "create" : "delete");
	jsa_write_domain(ja, &w);
	jw_obj_end(&w);
	jsa_send(ja, subj, &b);
	buf_free(&b);
}

/* The delivery advisories' subjects and schema types, by kind. */
static const char *const jsa_delivery_subjects[] = {
	[JSA_DELIVERY_NAK] = JS_ADVISORY_PREFIX ".CONSUMER.MSG_NAKED",
	[JSA_DELIVERY_TERMINATED] = JS_ADVISORY_PREFIX ".CONSUMER.MSG_TERMINATED",
	[JSA_DELIVERY_MAX_DELIVER] = JS_ADVISORY_PREFIX ".CONSUMER.MAX_DELIVERIES",
};
static const char *const jsa_delivery_types[] = {
	[JSA_DELIVERY_NAK] = "io.nats.jetstream.advisory.v1.nak",
	[JSA_DELIVERY_TERMINATED] = "io.nats.jetstream.advisory.v1.terminated",
	[JSA_DELIVERY_MAX_DELIVER] = "io.nats.jetstream.advisory.v1.max_deliver",
};

/* One per-message consumer event; ack_time < 0 leaves it out, cseq 0
 * leaves consumer_seq out (max_deliver). */
struct jsa_msg_event {
	const char *prefix, *type, *stream, *consumer;
	uint64_t cseq, sseq, deliveries;
	int64_t ack_time_ns;
};

static void jsa_msg_event_send(struct js_account *ja,
			       const struct jsa_msg_event *ev)
{
	char subj[JSA_SUBJECT_MAX];
	int n = snprintf(subj, sizeof(subj), "%s.%s.%s", ev->prefix, ev->stream,
			 ev->consumer);
	if (n < 0 || (size_t)n >= sizeof(subj) || !jsa_wanted(ja, subj))
		return;
	struct server *s = jsa_server(ja);
	struct buf b;
	struct jw w;
	buf_init(&b, &s->mem);
	jw_init(&w, &b);
	jw_obj_begin(&w);
	jsa_write_head(s, &w, ev->type);
	jw_key(&w, "stream");
	jw_str(&w, ev->stream);
	jw_key(&w, "consumer");
	jw_str(&w, ev->consumer);
	if (ev->cseq > 0) {
		jw_key(&w, "consumer_seq");
		jw_uint(&w, ev->cseq);
	}
	jw_key(&w, "stream_seq");
	jw_uint(&w, ev->sseq);
	if (ev->ack_time_ns >= 0) {
		jw_key(&w, "ack_time");
		jw_int(&w, ev->ack_time_ns);
	}
	jw_key(&w, "deliveries");
	jw_uint(&w, ev->deliveries);
	jsa_write_domain(ja, &w);
	jw_obj_end(&w);
	jsa_send(ja, subj, &b);
	buf_free(&b);
}

void js_advisory_delivery(struct js_account *ja, enum jsa_delivery kind,
			  const char *stream, const char *consumer,
			  uint64_t consumer_seq, uint64_t stream_seq,
			  uint64_t deliveries)
{
	struct jsa_msg_event ev = {
		jsa_delivery_subjects[kind], jsa_delivery_types[kind], stream,
		consumer, kind == JSA_DELIVERY_MAX_DELIVER ? 0 : consumer_seq,
		stream_seq, deliveries, -1,
	};
	jsa_msg_event_send(ja, &ev);
}

void js_advisory_ack_metric(struct js_account *ja, const char *stream,
			    const char *consumer, uint64_t consumer_seq,
			    uint64_t stream_seq, int64_t ack_time_ns,
			    uint64_t deliveries)
{
	struct jsa_msg_event ev = {
		"$JS.EVENT.METRIC.CONSUMER.ACK",
		"io.nats.jetstream.metric.v1.consumer_ack", stream, consumer,
		consumer_seq, stream_seq, deliveries,
		ack_time_ns < 0 ? 0 : ack_time_ns,
	};
	jsa_msg_event_send(ja, &ev);
}
