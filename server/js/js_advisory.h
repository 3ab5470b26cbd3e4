/*
 * js_advisory.h - JetStream's advisories on "$JS.EVENT.ADVISORY.>", shaped
 * like nats-server 2.9.10's (jetstream_events.go): the API audit of every
 * counted API request, and the stream and consumer actions.
 *
 * Each advisory is published in the account that owns the stream (or that
 * made the request), so clients of that account can subscribe to
 * "$JS.EVENT.>".  An advisory is only built when something in the account
 * listens on its subject, and it is queued with internal_send: it leaves
 * at the end of the loop turn, in call order with the API responses (which
 * js_api_send queues the same way).  Call order therefore decides what a
 * subscriber sees; the reference's order is: STREAM.CREATED/UPDATED/DELETED
 * before the API response, the API audit after it.
 */
#ifndef JS_ADVISORY_H
#define JS_ADVISORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct js_account;
struct stream;
struct conn;

#define JS_ADVISORY_PREFIX "$JS.EVENT.ADVISORY"

/* "$JS.EVENT.ADVISORY.API", io.nats.jetstream.advisory.v1.api_audit.
 * from is the connection that sent the request (NULL when internal);
 * api_rest the request subject after "$JS.API." (a domain request is
 * reported under "$JS.API.", as the reference maps it); request the body
 * (left out when empty, as the reference does); response the JSON just
 * answered (also when there was no reply subject to answer to). */
void js_advisory_api_audit(struct js_account *ja, const struct conn *from,
			   const char *api_rest, const char *request,
			   size_t request_len, const char *response,
			   size_t response_len);

/* "$JS.EVENT.ADVISORY.STREAM.CREATED|UPDATED|DELETED.<stream>",
 * io.nats.jetstream.advisory.v1.stream_action with action create, modify
 * or delete. */
void js_advisory_stream_created(struct js_account *ja, const struct stream *st);
void js_advisory_stream_updated(struct js_account *ja, const struct stream *st);
void js_advisory_stream_deleted(struct js_account *ja, const struct stream *st);

/* "$JS.EVENT.ADVISORY.CONSUMER.CREATED|DELETED.<stream>.<consumer>",
 * io.nats.jetstream.advisory.v1.consumer_action. */
void js_advisory_consumer_action(struct js_account *ja, const char *stream,
				 const char *consumer, bool created);

/* Per-message consumer advisories:
 * "$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED|MSG_TERMINATED|MAX_DELIVERIES.
 * <stream>.<consumer>" (max_deliver has no consumer_seq). */
enum jsa_delivery {
	JSA_DELIVERY_NAK,
	JSA_DELIVERY_TERMINATED,
	JSA_DELIVERY_MAX_DELIVER,
};
void js_advisory_delivery(struct js_account *ja, enum jsa_delivery kind,
			  const char *stream, const char *consumer,
			  uint64_t consumer_seq, uint64_t stream_seq,
			  uint64_t deliveries);

/* "$JS.EVENT.METRIC.CONSUMER.ACK.<stream>.<consumer>", a sampled ack
 * (the consumer's sample_freq): ack_time is the time since delivery. */
void js_advisory_ack_metric(struct js_account *ja, const char *stream,
			    const char *consumer, uint64_t consumer_seq,
			    uint64_t stream_seq, int64_t ack_time_ns,
			    uint64_t deliveries);

#endif
