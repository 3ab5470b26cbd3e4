/*
 * test_js_consumers.c - JetStream consumers on one server: the CONSUMER.*
 * API and its errors, pull requests and their status messages, the ack
 * kinds and redelivery, push and ordered consumers, work queue retention,
 * and a durable's state across a restart.
 *
 * Two kinds of checks: nats.c's JetStream API (js_AddConsumer,
 * js_PullSubscribe, natsSubscription_Fetch, natsMsg_Ack/Nak/Term/
 * InProgress, js_SubscribeSync with an ordered consumer) as an application
 * uses it, and raw requests whose answers are compared byte for byte where
 * the reference's bytes do not depend on time (errors, status messages).
 * Every expectation was checked against nats-server 2.9.10 -js first.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 3000

static struct harness_server srv;
static char store_dir[256];

static void setup_js(void)
{
	harness_js_setup(&srv, store_dir, sizeof(store_dir));
}

static void teardown_js(void)
{
	harness_js_teardown(&srv, store_dir);
}

/* ---- raw request helpers ------------------------------------------- */

static struct raw_conn *raw_client(void)
{
	struct raw_conn *rc = raw_connect_ready(&srv,
		"{\"verbose\":false,\"headers\":true,\"no_responders\":true}");
	raw_send_str(rc, "SUB _INBOX.t 1\r\n");
	ck_assert(raw_ping_pong(rc));
	return rc;
}

/* Reads the next MSG or HMSG: its subject, reply ("" when none) and the
 * bytes (headers + payload for HMSG). */
static bool raw_next(struct raw_conn *rc, char *subj, char *reply, char *out,
		     size_t cap, int timeout_ms)
{
	char line[512], a[256], b[256], c[64], d[64], e[64];
	size_t tlen = 0;
	if (!raw_take_line(rc, line, sizeof(line), timeout_ms))
		return false;
	int n = sscanf(line, "%*s %255s %255s %63s %63s %63s", a, b, c, d, e);
	bool hmsg = strncmp(line, "HMSG ", 5) == 0;
	if (!hmsg && strncmp(line, "MSG ", 4) != 0)
		return false;
	/* MSG subj sid [reply] size; HMSG subj sid [reply] hsize size */
	int base = hmsg ? 4 : 3;
	if (n < base)
		return false;
	const char *size = n == base + 1 ? (hmsg ? e : d) : (hmsg ? d : c);
	snprintf(subj, 256, "%s", a);
	if (n == base + 1)
		snprintf(reply, 256, "%s", c);
	else
		reply[0] = '\0';
	tlen = (size_t)strtoull(size, NULL, 10);
	if (!raw_wait_len(rc, tlen + 2, timeout_ms) || tlen + 1 > cap)
		return false;
	memcpy(out, rc->buf, tlen);
	out[tlen] = '\0';
	raw_consume(rc, tlen + 2);
	return true;
}

static void raw_pub(struct raw_conn *rc, const char *subject, const char *reply,
		    const char *body)
{
	char head[512];
	snprintf(head, sizeof(head), "PUB %s %s %zu\r\n", subject, reply ? reply : "",
		 strlen(body));
	raw_send_str(rc, head);
	raw_send_str(rc, body);
	raw_send_str(rc, "\r\n");
}

/* Publishes body with the test inbox as reply and returns the answer. */
static void raw_request(struct raw_conn *rc, const char *subject, const char *body,
			char *out, size_t cap)
{
	char subj[256], reply[256];
	raw_pub(rc, subject, "_INBOX.t", body);
	ck_assert_msg(raw_next(rc, subj, reply, out, cap, WAIT_MS), "no answer on %s: [%s]",
		      subject, raw_escaped(rc));
}

static void expect_answer(struct raw_conn *rc, const char *subject, const char *body,
			  const char *expected)
{
	char out[8192];
	raw_request(rc, subject, body, out, sizeof(out));
	ck_assert_str_eq(out, expected);
}

static void expect_contains(struct raw_conn *rc, const char *subject, const char *body,
			    const char *part)
{
	char out[8192];
	raw_request(rc, subject, body, out, sizeof(out));
	ck_assert_msg(strstr(out, part) != NULL, "%s: [%s] lacks [%s]", subject, out, part);
}

/* Like expect_contains, for effects the reference applies asynchronously:
 * asks again for up to WAIT_MS. */
static void expect_eventually(struct raw_conn *rc, const char *subject, const char *part)
{
	char out[8192];
	long long until = harness_now_ms() + WAIT_MS;
	for (;;) {
		raw_request(rc, subject, "", out, sizeof(out));
		if (strstr(out, part) != NULL)
			return;
		ck_assert_msg(harness_now_ms() < until, "%s: [%s] lacks [%s]", subject, out,
			      part);
		harness_sleep_ms(50);
	}
}

#define ERR_JSON(type, code, err_code, text)					\
	"{\"type\":\"io.nats.jetstream.api.v1." type "\",\"error\":{\"code\":"	\
	#code ",\"err_code\":" #err_code ",\"description\":\"" text "\"}}"

#define CREATE_ERR(code, err_code, text) \
	ERR_JSON("consumer_create_response", code, err_code, text)

static void raw_stream_with_msgs(struct raw_conn *rc, int n)
{
	char out[4096], subj[32], body[32];
	raw_request(rc, "$JS.API.STREAM.CREATE.S",
		    "{\"name\":\"S\",\"subjects\":[\"s.>\"]}", out, sizeof(out));
	for (int i = 0; i < n; i++) {
		snprintf(subj, sizeof(subj), "s.%d", i % 2);
		snprintf(body, sizeof(body), "m%d", i);
		raw_request(rc, subj, body, out, sizeof(out));
	}
}

/* ---- tests ---------------------------------------------------------- */

START_TEST(test_create_errors)
{
	struct raw_conn *rc = raw_client();
	raw_stream_with_msgs(rc, 2);
	expect_answer(rc, "$JS.API.CONSUMER.CREATE.S", "",
		      CREATE_ERR(400, 10025, "invalid JSON"));
	expect_answer(rc, "$JS.API.CONSUMER.CREATE.S",
		      "{\"stream_name\":\"T\",\"config\":{}}",
		      CREATE_ERR(400, 10056, "stream name in subject does not match request"));
	expect_answer(rc, "$JS.API.CONSUMER.CREATE.S",
		      "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"D\"}}",
		      CREATE_ERR(400, 10020, "consumer expected to be ephemeral but a "
				 "durable name was set in request"));
	expect_answer(rc, "$JS.API.CONSUMER.CREATE.S.X",
		      "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"D\"}}",
		      CREATE_ERR(400, 10017, "consumer name in subject does not match "
				 "durable name in request"));
	expect_answer(rc, "$JS.API.CONSUMER.DURABLE.CREATE.S.D",
		      "{\"stream_name\":\"S\",\"config\":{}}",
		      CREATE_ERR(400, 10018, "consumer expected to be durable but a "
				 "durable name was not set"));
	expect_answer(rc, "$JS.API.CONSUMER.CREATE.S.C.s.1",
		      "{\"stream_name\":\"S\",\"config\":{\"filter_subject\":\"s.0\"}}",
		      CREATE_ERR(400, 10131, "Consumer create request did not match "
				 "filtered subject from create subject"));
	expect_answer(rc, "$JS.API.CONSUMER.CREATE.S.C",
		      "{\"stream_name\":\"S\",\"config\":{\"filter_subject\":\"x.y\"}}",
		      CREATE_ERR(400, 10093, "consumer filter subject is not a valid "
				 "subset of the interest subjects"));
	expect_answer(rc, "$JS.API.CONSUMER.CREATE.S.C",
		      "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"d\","
		      "\"flow_control\":true}}",
		      CREATE_ERR(400, 10108, "consumer with flow control also needs "
				 "heartbeats"));
	expect_answer(rc, "$JS.API.CONSUMER.CREATE.S.C",
		      "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"s.x\"}}",
		      CREATE_ERR(400, 10081, "consumer deliver subject forms a cycle"));
	expect_answer(rc, "$JS.API.CONSUMER.CREATE.S.C",
		      "{\"stream_name\":\"S\",\"config\":{\"idle_heartbeat\":1000000000}}",
		      CREATE_ERR(400, 10088, "consumer idle heartbeat requires a push "
				 "based consumer"));
	expect_answer(rc, "$JS.API.CONSUMER.CREATE.S.C",
		      "{\"stream_name\":\"S\",\"config\":{\"deliver_policy\":"
		      "\"by_start_sequence\"}}",
		      CREATE_ERR(400, 10094, "consumer delivery policy is deliver by start "
				 "sequence, but optional start sequence is not set"));
	expect_answer(rc, "$JS.API.CONSUMER.CREATE.S.C",
		      "{\"stream_name\":\"S\",\"config\":{\"backoff\":[1000000000,"
		      "2000000000],\"max_deliver\":2}}",
		      CREATE_ERR(400, 10116, "max deliver is required to be \\u003e length "
				 "of backoff values"));
	expect_answer(rc, "$JS.API.CONSUMER.CREATE.X.C",
		      "{\"stream_name\":\"X\",\"config\":{}}",
		      CREATE_ERR(404, 10059, "stream not found"));
	/* A changed durable: updatable fields apply, others do not. */
	expect_contains(rc, "$JS.API.CONSUMER.DURABLE.CREATE.S.D",
			"{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"D\","
			"\"ack_policy\":\"explicit\"}}",
			"\"config\":{\"durable_name\":\"D\",\"deliver_policy\":\"all\","
			"\"ack_policy\":\"explicit\",\"ack_wait\":30000000000,"
			"\"max_deliver\":-1,\"replay_policy\":\"instant\","
			"\"max_waiting\":512,\"max_ack_pending\":1000,\"num_replicas\":0},"
			"\"delivered\":{\"consumer_seq\":0,\"stream_seq\":0},"
			"\"ack_floor\":{\"consumer_seq\":0,\"stream_seq\":0},"
			"\"num_ack_pending\":0,\"num_redelivered\":0,\"num_waiting\":0,"
			"\"num_pending\":2}");
	expect_answer(rc, "$JS.API.CONSUMER.DURABLE.CREATE.S.D",
		      "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"D\","
		      "\"ack_policy\":\"all\"}}",
		      CREATE_ERR(500, 10012, "ack policy can not be updated"));
	expect_contains(rc, "$JS.API.CONSUMER.DURABLE.CREATE.S.D",
			"{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"D\","
			"\"ack_policy\":\"explicit\",\"max_ack_pending\":5}}",
			"\"max_ack_pending\":5,");
	raw_close(rc);
}
END_TEST

START_TEST(test_info_names_list_delete)
{
	struct raw_conn *rc = raw_client();
	raw_stream_with_msgs(rc, 1);
	expect_contains(rc, "$JS.API.CONSUMER.CREATE.S.B",
			"{\"stream_name\":\"S\",\"config\":{\"ack_policy\":\"none\"}}",
			"\"config\":{\"name\":\"B\",\"deliver_policy\":\"all\","
			"\"ack_policy\":\"none\",\"max_deliver\":-1,\"replay_policy\":"
			"\"instant\",\"max_waiting\":512,\"inactive_threshold\":5000000000,"
			"\"num_replicas\":0}");
	expect_contains(rc, "$JS.API.CONSUMER.CREATE.S.A",
			"{\"stream_name\":\"S\",\"config\":{\"ack_policy\":\"explicit\"}}",
			"\"name\":\"A\"");
	expect_answer(rc, "$JS.API.CONSUMER.NAMES.S", "",
		      "{\"type\":\"io.nats.jetstream.api.v1.consumer_names_response\","
		      "\"total\":2,\"offset\":0,\"limit\":1024,\"consumers\":[\"A\",\"B\"]}");
	expect_answer(rc, "$JS.API.CONSUMER.NAMES.S", "{\"offset\":5}",
		      "{\"type\":\"io.nats.jetstream.api.v1.consumer_names_response\","
		      "\"total\":2,\"offset\":2,\"limit\":1024,\"consumers\":[]}");
	expect_answer(rc, "$JS.API.CONSUMER.NAMES.X", "",
		      "{\"type\":\"io.nats.jetstream.api.v1.consumer_names_response\","
		      "\"error\":{\"code\":404,\"err_code\":10059,\"description\":"
		      "\"stream not found\"},\"total\":0,\"offset\":0,\"limit\":0,"
		      "\"consumers\":[]}");
	expect_contains(rc, "$JS.API.CONSUMER.LIST.S", "",
			"\"total\":2,\"offset\":0,\"limit\":256,\"consumers\":["
			"{\"stream_name\":\"S\",\"name\":\"A\",");
	expect_answer(rc, "$JS.API.CONSUMER.INFO.S.A", "x",
		      ERR_JSON("consumer_info_response", 400, 10038,
			       "expected an empty request payload"));
	expect_contains(rc, "$JS.API.STREAM.INFO.S", "", "\"consumer_count\":2}");
	expect_contains(rc, "$JS.API.INFO", "", "\"consumers\":2,");
	expect_answer(rc, "$JS.API.CONSUMER.DELETE.S.A", "",
		      "{\"type\":\"io.nats.jetstream.api.v1.consumer_delete_response\","
		      "\"success\":true}");
	expect_answer(rc, "$JS.API.CONSUMER.DELETE.S.A", "",
		      ERR_JSON("consumer_delete_response", 404, 10014,
			       "consumer not found"));
	expect_answer(rc, "$JS.API.CONSUMER.INFO.S.A", "",
		      ERR_JSON("consumer_info_response", 404, 10014,
			       "consumer not found"));
	raw_close(rc);
}
END_TEST

START_TEST(test_pull_statuses)
{
	struct raw_conn *rc = raw_client();
	char out[4096], subj[256], reply[256];
	raw_stream_with_msgs(rc, 3);
	expect_contains(rc, "$JS.API.CONSUMER.CREATE.S.C",
			"{\"stream_name\":\"S\",\"config\":{\"ack_policy\":\"explicit\","
			"\"max_batch\":5,\"max_expires\":5000000000,\"max_bytes\":100}}",
			"\"max_batch\":5,\"max_expires\":5000000000,\"max_bytes\":100,");
	expect_answer(rc, "$JS.API.CONSUMER.MSG.NEXT.S.C", "{\"batch\":6}",
		      "NATS/1.0 409 Exceeded MaxRequestBatch of 5\r\n\r\n");
	expect_answer(rc, "$JS.API.CONSUMER.MSG.NEXT.S.C",
		      "{\"batch\":1,\"expires\":6000000000}",
		      "NATS/1.0 409 Exceeded MaxRequestExpires of 5s\r\n\r\n");
	expect_answer(rc, "$JS.API.CONSUMER.MSG.NEXT.S.C",
		      "{\"batch\":1,\"max_bytes\":101}",
		      "NATS/1.0 409 Exceeded MaxRequestMaxBytes of 100\r\n\r\n");
	expect_answer(rc, "$JS.API.CONSUMER.MSG.NEXT.S.C",
		      "{\"batch\":1,\"max_bytes\":10}",
		      "NATS/1.0 409 Message Size Exceeds MaxBytes\r\n"
		      "Nats-Pending-Messages: 1\r\nNats-Pending-Bytes: 10\r\n\r\n");
	expect_answer(rc, "$JS.API.CONSUMER.MSG.NEXT.S.C",
		      "{\"batch\":1,\"idle_heartbeat\":1000000000}",
		      "NATS/1.0 400 Bad Request - heartbeat value too large\r\n\r\n");
	/* Two of three, then the no_wait request ends with a 408. */
	raw_pub(rc, "$JS.API.CONSUMER.MSG.NEXT.S.C", "_INBOX.t", "2");
	ck_assert(raw_next(rc, subj, reply, out, sizeof(out), WAIT_MS));
	ck_assert_str_eq(subj, "s.0");
	ck_assert_str_eq(out, "m0");
	ck_assert_msg(strncmp(reply, "$JS.ACK.S.C.1.1.1.", 18) == 0, "%s", reply);
	ck_assert_msg(strcmp(reply + strlen(reply) - 2, ".2") == 0, "%s", reply);
	ck_assert(raw_next(rc, subj, reply, out, sizeof(out), WAIT_MS));
	ck_assert_str_eq(subj, "s.1");
	raw_pub(rc, "$JS.API.CONSUMER.MSG.NEXT.S.C", "_INBOX.t",
		"{\"batch\":4,\"no_wait\":true}");
	ck_assert(raw_next(rc, subj, reply, out, sizeof(out), WAIT_MS));
	ck_assert_str_eq(out, "m2");
	ck_assert(raw_next(rc, subj, reply, out, sizeof(out), WAIT_MS));
	ck_assert_str_eq(out, "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 3"
			 "\r\nNats-Pending-Bytes: 0\r\n\r\n");
	expect_answer(rc, "$JS.API.CONSUMER.MSG.NEXT.S.C", "{\"no_wait\":true}",
		      "NATS/1.0 404 No Messages\r\n\r\n");
	raw_pub(rc, "$JS.API.CONSUMER.MSG.NEXT.S.C", "_INBOX.t",
		"{\"batch\":2,\"expires\":300000000}");
	ck_assert(raw_next(rc, subj, reply, out, sizeof(out), WAIT_MS));
	ck_assert_str_eq(out, "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 2"
			 "\r\nNats-Pending-Bytes: 0\r\n\r\n");
	expect_contains(rc, "$JS.API.CONSUMER.INFO.S.C", "",
			"\"ack_floor\":{\"consumer_seq\":0,\"stream_seq\":0},"
			"\"num_ack_pending\":3,\"num_redelivered\":0,\"num_waiting\":0,"
			"\"num_pending\":0}");
	/* The ack of the ack ("double ack") is an empty message. */
	expect_answer(rc, "$JS.ACK.S.C.1.1.1.1.2", "+ACK", "");
	expect_contains(rc, "$JS.API.CONSUMER.INFO.S.C", "",
			"\"ack_floor\":{\"consumer_seq\":1,\"stream_seq\":1,");
	/* A push consumer takes no pull requests. */
	expect_contains(rc, "$JS.API.CONSUMER.CREATE.S.P",
			"{\"stream_name\":\"S\",\"config\":{\"ack_policy\":\"explicit\","
			"\"deliver_subject\":\"pp\"}}", "\"name\":\"P\"");
	expect_answer(rc, "$JS.API.CONSUMER.MSG.NEXT.S.P", "",
		      "NATS/1.0 409 Consumer is push based\r\n\r\n");
	raw_close(rc);
}
END_TEST

START_TEST(test_purge_and_removal_move_consumers)
{
	struct raw_conn *rc = raw_client();
	char out[4096], subj[256], reply[256];
	raw_stream_with_msgs(rc, 4);
	expect_contains(rc, "$JS.API.CONSUMER.CREATE.S.A",
			"{\"stream_name\":\"S\",\"config\":{\"ack_policy\":\"all\"}}",
			"\"name\":\"A\"");
	raw_pub(rc, "$JS.API.CONSUMER.MSG.NEXT.S.A", "_INBOX.t", "2");
	for (int i = 0; i < 2; i++)
		ck_assert(raw_next(rc, subj, reply, out, sizeof(out), WAIT_MS));
	/* A purge below the delivered messages acks them. */
	expect_contains(rc, "$JS.API.STREAM.PURGE.S", "{\"seq\":3}", "\"purged\":2");
	expect_contains(rc, "$JS.API.CONSUMER.INFO.S.A", "",
			"\"ack_floor\":{\"consumer_seq\":2,\"stream_seq\":2},"
			"\"num_ack_pending\":0,\"num_redelivered\":0,\"num_waiting\":0,"
			"\"num_pending\":2}");
	/* A full purge moves the cursor past the end. */
	expect_contains(rc, "$JS.API.STREAM.PURGE.S", "", "\"purged\":2");
	expect_contains(rc, "$JS.API.CONSUMER.INFO.S.A", "",
			"\"ack_floor\":{\"consumer_seq\":2,\"stream_seq\":4},"
			"\"num_ack_pending\":0,\"num_redelivered\":0,\"num_waiting\":0,"
			"\"num_pending\":0}");
	/* Deleting a delivered message counts as its ack. */
	raw_request(rc, "s.0", "m4", out, sizeof(out));
	raw_pub(rc, "$JS.API.CONSUMER.MSG.NEXT.S.A", "_INBOX.t", "1");
	ck_assert(raw_next(rc, subj, reply, out, sizeof(out), WAIT_MS));
	ck_assert_str_eq(out, "m4");
	expect_contains(rc, "$JS.API.CONSUMER.INFO.S.A", "", "\"num_ack_pending\":1,");
	expect_answer(rc, "$JS.API.STREAM.MSG.DELETE.S", "{\"seq\":5}",
		      "{\"type\":\"io.nats.jetstream.api.v1.stream_msg_delete_response\","
		      "\"success\":true}");
	expect_eventually(rc, "$JS.API.CONSUMER.INFO.S.A",
			  "\"ack_floor\":{\"consumer_seq\":3,\"stream_seq\":5,");
	expect_contains(rc, "$JS.API.CONSUMER.INFO.S.A", "", "\"num_ack_pending\":0,");
	raw_close(rc);
}
END_TEST

/* ---- nats.c ---------------------------------------------------------- */

static void stream_create(jsCtx *js, const char *name, const char *subject,
			  jsRetentionPolicy retention)
{
	jsStreamConfig cfg;
	const char *subjects[] = { subject };
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	jsStreamConfig_Init(&cfg);
	cfg.Name = name;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Retention = retention;
	ck_assert_int_eq(js_AddStream(&si, js, &cfg, NULL, &jerr), NATS_OK);
	jsStreamInfo_Destroy(si);
}

static void publish_n(jsCtx *js, const char *prefix, int n)
{
	char subj[64], body[32];
	for (int i = 0; i < n; i++) {
		snprintf(subj, sizeof(subj), "%s.%d", prefix, i % 2);
		snprintf(body, sizeof(body), "m%d", i);
		ck_assert_int_eq(js_Publish(NULL, js, subj, body, (int)strlen(body), NULL,
					    NULL), NATS_OK);
	}
}

static jsConsumerInfo *consumer_info(jsCtx *js, const char *stream, const char *name)
{
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	ck_assert_int_eq(js_GetConsumerInfo(&ci, js, stream, name, NULL, &jerr), NATS_OK);
	return ci;
}

static uint64_t msg_stream_seq(natsMsg *m, uint64_t *delivered)
{
	jsMsgMetaData *meta = NULL;
	ck_assert_int_eq(natsMsg_GetMetaData(&meta, m), NATS_OK);
	uint64_t seq = meta->Sequence.Stream;
	if (delivered != NULL)
		*delivered = meta->NumDelivered;
	jsMsgMetaData_Destroy(meta);
	return seq;
}

START_TEST(test_nats_c_pull_and_acks)
{
	natsConnection *nc = harness_nats_connect(&srv);
	jsCtx *js = NULL;
	jsErrCode jerr = 0;
	natsSubscription *sub = NULL;
	natsMsgList list = { 0 };
	jsSubOptions so;
	uint64_t dc = 0;
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	stream_create(js, "ORDERS", "orders.>", js_LimitsPolicy);
	publish_n(js, "orders", 4);
	jsSubOptions_Init(&so);
	so.Config.AckWait = 700 * 1000000LL;
	so.Config.MaxDeliver = 3;
	ck_assert_int_eq(js_PullSubscribe(&sub, js, "orders.>", "P", NULL, &so, &jerr),
			 NATS_OK);
	ck_assert_int_eq(natsSubscription_Fetch(&list, sub, 4, 2000, &jerr), NATS_OK);
	ck_assert_int_eq(list.Count, 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_uint_eq(msg_stream_seq(list.Msgs[i], NULL), (uint64_t)i + 1);
		ck_assert_str_eq(natsMsg_GetSubject(list.Msgs[i]), i % 2 ? "orders.1" :
				 "orders.0");
	}
	ck_assert_int_eq(natsMsg_AckSync(list.Msgs[0], NULL, &jerr), NATS_OK);
	ck_assert_int_eq(natsMsg_Nak(list.Msgs[1], NULL), NATS_OK);
	ck_assert_int_eq(natsMsg_Term(list.Msgs[2], NULL), NATS_OK);
	ck_assert_int_eq(natsMsg_InProgress(list.Msgs[3], NULL), NATS_OK);
	natsMsgList_Destroy(&list);
	/* The nak'd one comes back at once as a redelivery. */
	ck_assert_int_eq(natsSubscription_Fetch(&list, sub, 1, 2000, &jerr), NATS_OK);
	ck_assert_int_eq(list.Count, 1);
	ck_assert_uint_eq(msg_stream_seq(list.Msgs[0], &dc), 2);
	ck_assert_uint_eq(dc, 2);
	natsMsgList_Destroy(&list);
	/* Not acked again: after the ack wait both come back, then after
	 * max_deliver the nak'd one stops. */
	/* Their ack waits end at slightly different times (seq 4's was
	 * restarted by +WPI), so one fetch may return only one of them. */
	uint64_t seqs[2], dcs[2];
	int got = 0;
	for (int tries = 0; got < 2 && tries < 3; tries++) {
		if (natsSubscription_Fetch(&list, sub, 2 - got, 3000, &jerr) != NATS_OK)
			continue;
		for (int i = 0; i < list.Count && got < 2; i++, got++) {
			seqs[got] = msg_stream_seq(list.Msgs[i], &dcs[got]);
			if (seqs[got] == 4)
				ck_assert_int_eq(natsMsg_Ack(list.Msgs[i], NULL), NATS_OK);
		}
		natsMsgList_Destroy(&list);
	}
	ck_assert_int_eq(got, 2);
	/* Seq 4's ack wait began at +WPI, just before seq 2's redelivery, so
	 * the order of the two is not fixed: compare them sorted. */
	if (seqs[0] > seqs[1]) {
		uint64_t t = seqs[0];
		seqs[0] = seqs[1];
		seqs[1] = t;
		t = dcs[0];
		dcs[0] = dcs[1];
		dcs[1] = t;
	}
	ck_assert_uint_eq(seqs[0], 2);
	ck_assert_uint_eq(dcs[0], 3);
	ck_assert_uint_eq(seqs[1], 4);
	ck_assert_uint_eq(dcs[1], 2);
	ck_assert_int_eq(natsSubscription_Fetch(&list, sub, 1, 1500, &jerr), NATS_TIMEOUT);
	natsMsgList_Destroy(&list);
	jsConsumerInfo *ci = consumer_info(js, "ORDERS", "P");
	ck_assert_uint_eq(ci->Delivered.Stream, 4);
	ck_assert_uint_eq(ci->AckFloor.Stream, 1);
	/* Delivered max_deliver times: no longer waiting for an ack. */
	ck_assert_int_eq(ci->NumAckPending, 0);
	ck_assert_uint_eq(ci->NumPending, 0);
	jsConsumerInfo_Destroy(ci);
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}
END_TEST

START_TEST(test_nats_c_consumer_admin)
{
	natsConnection *nc = harness_nats_connect(&srv);
	jsCtx *js = NULL;
	jsErrCode jerr = 0;
	jsConsumerConfig cc;
	jsConsumerInfo *ci = NULL;
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	stream_create(js, "ORDERS", "orders.>", js_LimitsPolicy);
	publish_n(js, "orders", 3);
	jsConsumerConfig_Init(&cc);
	cc.Durable = "D1";
	cc.AckPolicy = js_AckExplicit;
	cc.FilterSubject = "orders.1";
	ck_assert_int_eq(js_AddConsumer(&ci, js, "ORDERS", &cc, NULL, &jerr), NATS_OK);
	ck_assert_str_eq(ci->Name, "D1");
	ck_assert_uint_eq(ci->NumPending, 1);
	ck_assert_int_eq(ci->Config->MaxAckPending, 1000);
	jsConsumerInfo_Destroy(ci);
	jsConsumerConfig_Init(&cc);
	cc.Durable = "D2";
	cc.AckPolicy = js_AckNone;
	cc.DeliverPolicy = js_DeliverLast;
	ck_assert_int_eq(js_AddConsumer(&ci, js, "ORDERS", &cc, NULL, &jerr), NATS_OK);
	ck_assert_uint_eq(ci->NumPending, 1);
	ck_assert_uint_eq(ci->Delivered.Stream, 2);
	jsConsumerInfo_Destroy(ci);
	jsConsumerNamesList *names = NULL;
	ck_assert_int_eq(js_ConsumerNames(&names, js, "ORDERS", NULL, &jerr), NATS_OK);
	ck_assert_int_eq(names->Count, 2);
	/* nats.c does not keep the server's order. */
	ck_assert(strcmp(names->List[0], "D1") == 0 || strcmp(names->List[1], "D1") == 0);
	ck_assert(strcmp(names->List[0], "D2") == 0 || strcmp(names->List[1], "D2") == 0);
	jsConsumerNamesList_Destroy(names);
	jsConsumerInfoList *infos = NULL;
	ck_assert_int_eq(js_Consumers(&infos, js, "ORDERS", NULL, &jerr), NATS_OK);
	ck_assert_int_eq(infos->Count, 2);
	ck_assert(infos->List[0]->Config->FilterSubject != NULL ||
		  infos->List[1]->Config->FilterSubject != NULL);
	jsConsumerInfoList_Destroy(infos);
	ck_assert_int_eq(js_DeleteConsumer(js, "ORDERS", "D1", NULL, &jerr), NATS_OK);
	ck_assert_int_ne(js_GetConsumerInfo(&ci, js, "ORDERS", "D1", NULL, &jerr), NATS_OK);
	ck_assert_int_eq(jerr, JSConsumerNotFoundErr);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}
END_TEST

START_TEST(test_nats_c_push_and_ordered)
{
	natsConnection *nc = harness_nats_connect(&srv);
	jsCtx *js = NULL;
	jsErrCode jerr = 0;
	natsSubscription *sub = NULL;
	natsMsg *m = NULL;
	jsSubOptions so;
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	stream_create(js, "ORDERS", "orders.>", js_LimitsPolicy);
	publish_n(js, "orders", 4);
	/* A durable push consumer with explicit acks. */
	jsSubOptions_Init(&so);
	so.ManualAck = true;
	ck_assert_int_eq(js_SubscribeSync(&sub, js, "orders.1", NULL, &so, &jerr), NATS_OK);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(natsSubscription_NextMsg(&m, sub, 2000), NATS_OK);
		ck_assert_uint_eq(msg_stream_seq(m, NULL), (uint64_t)(2 * i + 2));
		ck_assert_str_eq(natsMsg_GetSubject(m), "orders.1");
		ck_assert_int_eq(natsMsg_AckSync(m, NULL, &jerr), NATS_OK);
		natsMsg_Destroy(m);
	}
	ck_assert_int_eq(js_Publish(NULL, js, "orders.1", "late", 4, NULL, NULL), NATS_OK);
	ck_assert_int_eq(natsSubscription_NextMsg(&m, sub, 2000), NATS_OK);
	ck_assert_uint_eq(msg_stream_seq(m, NULL), 5);
	natsMsg_Destroy(m);
	natsSubscription_Destroy(sub);
	/* An ordered consumer: ephemeral, flow control, heartbeats. */
	jsSubOptions_Init(&so);
	so.Ordered = true;
	so.Config.Heartbeat = 500 * 1000000LL;
	ck_assert_int_eq(js_SubscribeSync(&sub, js, "orders.>", NULL, &so, &jerr), NATS_OK);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(natsSubscription_NextMsg(&m, sub, 2000), NATS_OK);
		ck_assert_uint_eq(msg_stream_seq(m, NULL), (uint64_t)i + 1);
		natsMsg_Destroy(m);
	}
	/* Heartbeats are consumed by the library: nothing else arrives. */
	ck_assert_int_eq(natsSubscription_NextMsg(&m, sub, 1200), NATS_TIMEOUT);
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}
END_TEST

START_TEST(test_work_queue_and_interest)
{
	natsConnection *nc = harness_nats_connect(&srv);
	jsCtx *js = NULL;
	jsErrCode jerr = 0;
	natsSubscription *sub = NULL;
	natsMsgList list = { 0 };
	jsStreamInfo *si = NULL;
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	stream_create(js, "WQ", "wq.>", js_WorkQueuePolicy);
	publish_n(js, "wq", 3);
	ck_assert_int_eq(js_PullSubscribe(&sub, js, "wq.>", "W", NULL, NULL, &jerr), NATS_OK);
	ck_assert_int_eq(natsSubscription_Fetch(&list, sub, 2, 2000, &jerr), NATS_OK);
	ck_assert_int_eq(list.Count, 2);
	for (int i = 0; i < list.Count; i++)
		ck_assert_int_eq(natsMsg_AckSync(list.Msgs[i], NULL, &jerr), NATS_OK);
	natsMsgList_Destroy(&list);
	ck_assert_int_eq(js_GetStreamInfo(&si, js, "WQ", NULL, &jerr), NATS_OK);
	ck_assert_uint_eq(si->State.Msgs, 1);
	ck_assert_uint_eq(si->State.FirstSeq, 3);
	jsStreamInfo_Destroy(si);
	/* A second unfiltered consumer is refused on a work queue. */
	jsConsumerConfig cc;
	jsConsumerInfo *ci = NULL;
	jsConsumerConfig_Init(&cc);
	cc.Durable = "W2";
	cc.AckPolicy = js_AckExplicit;
	ck_assert_int_ne(js_AddConsumer(&ci, js, "WQ", &cc, NULL, &jerr), NATS_OK);
	ck_assert_int_eq(jerr, JSConsumerWQMultipleUnfilteredErr);
	natsSubscription_Destroy(sub);
	/* Interest: stored only while a consumer wants it, gone once acked. */
	stream_create(js, "IN", "in.>", js_InterestPolicy);
	publish_n(js, "in", 1);
	ck_assert_int_eq(js_GetStreamInfo(&si, js, "IN", NULL, &jerr), NATS_OK);
	ck_assert_uint_eq(si->State.Msgs, 0);
	ck_assert_uint_eq(si->State.LastSeq, 1);
	jsStreamInfo_Destroy(si);
	ck_assert_int_eq(js_PullSubscribe(&sub, js, "in.>", "I", NULL, NULL, &jerr), NATS_OK);
	publish_n(js, "in", 2);
	ck_assert_int_eq(natsSubscription_Fetch(&list, sub, 2, 2000, &jerr), NATS_OK);
	ck_assert_int_eq(list.Count, 2);
	ck_assert_int_eq(natsMsg_AckSync(list.Msgs[0], NULL, &jerr), NATS_OK);
	natsMsgList_Destroy(&list);
	ck_assert_int_eq(js_GetStreamInfo(&si, js, "IN", NULL, &jerr), NATS_OK);
	ck_assert_uint_eq(si->State.Msgs, 1);
	ck_assert_uint_eq(si->State.FirstSeq, 3);
	jsStreamInfo_Destroy(si);
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}
END_TEST

START_TEST(test_durable_survives_restart)
{
	natsConnection *nc = harness_nats_connect(&srv);
	jsCtx *js = NULL;
	jsErrCode jerr = 0;
	natsSubscription *sub = NULL;
	natsMsgList list = { 0 };
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	stream_create(js, "ORDERS", "orders.>", js_LimitsPolicy);
	publish_n(js, "orders", 4);
	ck_assert_int_eq(js_PullSubscribe(&sub, js, "orders.>", "DUR", NULL, NULL, &jerr),
			 NATS_OK);
	ck_assert_int_eq(natsSubscription_Fetch(&list, sub, 3, 2000, &jerr), NATS_OK);
	ck_assert_int_eq(list.Count, 3);
	ck_assert_int_eq(natsMsg_AckSync(list.Msgs[0], NULL, &jerr), NATS_OK);
	ck_assert_int_eq(natsMsg_AckSync(list.Msgs[2], NULL, &jerr), NATS_OK);
	natsMsgList_Destroy(&list);
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	harness_server_stop(&srv);
	harness_js_server_start(&srv, store_dir, NULL);
	nc = harness_nats_connect(&srv);
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	jsConsumerInfo *ci = consumer_info(js, "ORDERS", "DUR");
	ck_assert_uint_eq(ci->Delivered.Consumer, 3);
	ck_assert_uint_eq(ci->Delivered.Stream, 3);
	ck_assert_uint_eq(ci->AckFloor.Stream, 1);
	ck_assert_int_eq(ci->NumAckPending, 1);
	ck_assert_uint_eq(ci->NumPending, 1);
	jsConsumerInfo_Destroy(ci);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}
END_TEST

START_TEST(test_delivery_advisories)
{
	natsConnection *nc = harness_nats_connect(&srv);
	jsCtx *js = NULL;
	jsErrCode jerr = 0;
	natsSubscription *sub = NULL, *adv = NULL;
	natsMsgList list = { 0 };
	jsSubOptions so;
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	ck_assert_int_eq(natsConnection_SubscribeSync(&adv, nc, "$JS.EVENT.>"),
			 NATS_OK);
	stream_create(js, "ORDERS", "orders.>", js_LimitsPolicy);
	publish_n(js, "orders", 3);
	jsSubOptions_Init(&so);
	so.Config.AckWait = 500 * 1000000LL;
	so.Config.MaxDeliver = 1;
	so.Config.SampleFrequency = "100%";
	ck_assert_int_eq(js_PullSubscribe(&sub, js, "orders.>", "P", NULL, &so, &jerr),
			 NATS_OK);
	ck_assert_int_eq(natsSubscription_Fetch(&list, sub, 3, 2000, &jerr), NATS_OK);
	ck_assert_int_eq(list.Count, 3);
	ck_assert_int_eq(natsMsg_AckSync(list.Msgs[0], NULL, &jerr), NATS_OK);
	ck_assert_int_eq(natsMsg_Nak(list.Msgs[1], NULL), NATS_OK);
	ck_assert_int_eq(natsMsg_Term(list.Msgs[2], NULL), NATS_OK);
	natsMsgList_Destroy(&list);
	/* The per-message ones come among the advisories of the stream and
	 * consumer creation and the API audits. */
	const char *const ack[] = { "\"type\":\"io.nats.jetstream.metric.v1.consumer_ack\"",
				    "\"stream\":\"ORDERS\"", "\"consumer\":\"P\"",
				    "\"consumer_seq\":1", "\"stream_seq\":1",
				    "\"ack_time\":", "\"deliveries\":1", NULL };
	const char *const nak[] = { "\"type\":\"io.nats.jetstream.advisory.v1.nak\"",
				    "\"consumer_seq\":2", "\"stream_seq\":2",
				    "\"deliveries\":1", NULL };
	const char *const term[] = { "\"type\":\"io.nats.jetstream.advisory.v1.terminated\"",
				     "\"consumer_seq\":3", "\"stream_seq\":3",
				     "\"deliveries\":1", NULL };
	const char *const maxd[] = { "\"type\":\"io.nats.jetstream.advisory.v1.max_deliver\"",
				     "\"stream_seq\":2", "\"deliveries\":1", NULL };
	const char *want[4] = { "$JS.EVENT.METRIC.CONSUMER.ACK.ORDERS.P",
				"$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.ORDERS.P",
				"$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.ORDERS.P",
				"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.ORDERS.P" };
	const char *const *texts[4] = { ack, nak, term, maxd };
	bool seen[4] = { false };
	int next = 0;
	/* The nak'd message is due again at once, but max_deliver 1: the next
	 * pull makes the server drop it with a MAX_DELIVERIES advisory.
	 * nats-server sends these from the consumer's goroutine, so only
	 * their set is compared, not their order. */
	natsSubscription_Fetch(&list, sub, 1, 700, &jerr);
	ck_assert_int_eq(list.Count, 0);
	natsMsgList_Destroy(&list);
	long long end = harness_now_ms() + 5000;
	while (next < 4 && harness_now_ms() < end) {
		natsMsg *m = NULL;
		if (natsSubscription_NextMsg(&m, adv, 500) != NATS_OK)
			continue;
		const char *subj = natsMsg_GetSubject(m);
		int k = 0;
		while (k < 4 && strcmp(subj, want[k]) != 0)
			k++;
		if (k < 4) {
			ck_assert_msg(!seen[k], "%s twice", subj);
			for (int i = 0; texts[k][i] != NULL; i++)
				ck_assert_msg(strstr(natsMsg_GetData(m), texts[k][i]) != NULL,
					      "%s: no %s in %s", subj, texts[k][i],
					      natsMsg_GetData(m));
			seen[k] = true;
			next++;
		} else {
			ck_assert_msg(strncmp(subj, "$JS.EVENT.ADVISORY.API", 22) == 0 ||
				      strncmp(subj, "$JS.EVENT.ADVISORY.STREAM.", 26) == 0 ||
				      strncmp(subj, "$JS.EVENT.ADVISORY.CONSUMER.CREATED", 35) == 0,
				      "unexpected %s after %d", subj, next);
		}
		natsMsg_Destroy(m);
	}
	ck_assert_msg(next == 4, "saw %d of the 4 per-message advisories", next);
	harness_sub_destroy(nc, adv);
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}
END_TEST

/* A push consumer without flow control, and a subscriber that does not
 * read for a while: natsd pauses delivery while the subscriber's
 * connection has a backlog and resumes as it drains, so the subscriber
 * gets everything and stays connected; nats-server writes on until the
 * connection passes max_pending and closes it as a slow consumer
 * (docs/differences.md). */
enum { BIG_N = 4000, BIG_SIZE = 8000 };

/* Restarts the server with max_pending 2 MiB (and a write deadline long
 * enough for a loaded machine: a member that reads nothing must not be
 * closed for that) and stores BIG_N messages of BIG_SIZE bytes (32 MB)
 * in stream S, each starting with its index as 8 digits.  Returns the
 * client that did it. */
static struct raw_conn *big_stream(void)
{
	harness_server_stop(&srv);
	harness_js_server_start(&srv, store_dir,
				"max_pending: 2097152\nwrite_deadline: \"60s\"\n");
	struct raw_conn *rc = raw_client();
	char *body = malloc(BIG_SIZE + 1);
	char small[4096];
	ck_assert(body != NULL);
	memset(body, 'x', BIG_SIZE);
	body[BIG_SIZE] = '\0';
	raw_request(rc, "$JS.API.STREAM.CREATE.S",
		    "{\"name\":\"S\",\"subjects\":[\"s.>\"]}", small, sizeof(small));
	for (int i = 0; i < BIG_N; i++) {
		snprintf(body, 16, "%08d", i);
		body[8] = 'x';
		raw_pub(rc, "s.a", NULL, body);
	}
	free(body);
	long long end = harness_now_ms() + 10000;
	do {
		raw_request(rc, "$JS.API.STREAM.INFO.S", "", small, sizeof(small));
		if (strstr(small, "\"messages\":4000,") != NULL)
			break;
		harness_sleep_ms(20);
	} while (harness_now_ms() < end);
	ck_assert_msg(strstr(small, "\"messages\":4000,") != NULL, "%s", small);
	return rc;
}

START_TEST(test_push_backpressure)
{
	enum { N = BIG_N, SIZE = BIG_SIZE };
	struct raw_conn *rc = big_stream();
	char *out = malloc(SIZE + 64);
	char subj[256], reply[256];
	ck_assert(out != NULL);

	struct raw_conn *slow = raw_connect_ready(&srv, "{\"verbose\":false}");
	raw_send_str(slow, "SUB push.d 1\r\n");
	ck_assert(raw_ping_pong(slow));
	expect_contains(rc, "$JS.API.CONSUMER.CREATE.S.P",
			"{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"P\","
			"\"deliver_subject\":\"push.d\",\"ack_policy\":\"none\"}}",
			"\"name\":\"P\"");
	/* 32 MB for a subscriber that reads nothing for 1.5 s. */
	harness_sleep_ms(1500);
	int got = 0;
	while (got < N && raw_next(slow, subj, reply, out, SIZE + 64, WAIT_MS)) {
		char want[16];
		snprintf(want, sizeof(want), "%08d", got);
		ck_assert_msg(strncmp(out, want, 8) == 0, "message %d is %.8s", got, out);
		got++;
	}
	if (harness_testing_reference()) {
		ck_assert_msg(got < N && raw_wait_closed(slow, WAIT_MS),
			      "nats-server kept a slow consumer (%d messages)", got);
	} else {
		ck_assert_msg(got == N, "%d of %d messages: %s", got, N, raw_escaped(slow));
		ck_assert(raw_ping_pong(slow));
	}
	raw_close(slow);
	raw_close(rc);
	free(out);
}
END_TEST

/* natsd only: a queue group behind a push consumer, one member reading
 * nothing for a while.  Delivery goes to the member that reads, the one
 * with a backlog gets no more, and between them every message arrives
 * exactly once (nats-server would close the idle member as a slow
 * consumer and lose what it held). */
START_TEST(test_push_backpressure_queue)
{
	enum { N = BIG_N, SIZE = BIG_SIZE };
	struct raw_conn *rc = big_stream();
	static bool seen[BIG_N];
	char *out = malloc(SIZE + 64);
	char subj[256], reply[256];
	ck_assert(out != NULL);
	memset(seen, 0, sizeof(seen));
	struct raw_conn *idle = raw_connect_ready(&srv, "{\"verbose\":false}");
	struct raw_conn *reader = raw_connect_ready(&srv, "{\"verbose\":false}");
	raw_send_str(idle, "SUB push.q g 1\r\n");
	raw_send_str(reader, "SUB push.q g 1\r\n");
	ck_assert(raw_ping_pong(idle) && raw_ping_pong(reader));
	expect_contains(rc, "$JS.API.CONSUMER.CREATE.S.Q",
			"{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"Q\","
			"\"deliver_subject\":\"push.q\",\"deliver_group\":\"g\","
			"\"ack_policy\":\"none\"}}", "\"name\":\"Q\"");
	int by_reader = 0, by_idle = 0;
	struct raw_conn *both[2] = { reader, idle };
	int *count[2] = { &by_reader, &by_idle };
	for (int k = 0; k < 2; k++) {
		while (raw_next(both[k], subj, reply, out, SIZE + 64, 1000)) {
			int i = atoi(out);
			ck_assert_msg(i >= 0 && i < N && !seen[i], "message %.8s twice", out);
			seen[i] = true;
			(*count[k])++;
		}
	}
	ck_assert_msg(by_reader + by_idle == N, "%d + %d of %d messages", by_reader, by_idle,
		      N);
	ck_assert_msg(by_reader > N / 2, "the reading member got only %d", by_reader);
	ck_assert(raw_ping_pong(idle) && raw_ping_pong(reader));
	raw_close(idle);
	raw_close(reader);
	raw_close(rc);
	free(out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("js_consumers");
	TCase *tc = tcase_create("js_consumers");

	tcase_add_checked_fixture(tc, setup_js, teardown_js);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_create_errors);
	tcase_add_test(tc, test_info_names_list_delete);
	tcase_add_test(tc, test_pull_statuses);
	tcase_add_test(tc, test_purge_and_removal_move_consumers);
	tcase_add_test(tc, test_nats_c_pull_and_acks);
	tcase_add_test(tc, test_nats_c_consumer_admin);
	tcase_add_test(tc, test_nats_c_push_and_ordered);
	tcase_add_test(tc, test_work_queue_and_interest);
	tcase_add_test(tc, test_durable_survives_restart);
	tcase_add_test(tc, test_delivery_advisories);
	tcase_add_test(tc, test_push_backpressure);
	suite_add_tcase(s, tc);
	if (!harness_testing_reference()) {
		TCase *ext = tcase_create("natsd");
		tcase_add_checked_fixture(ext, setup_js, teardown_js);
		tcase_set_timeout(ext, 30);
		tcase_add_test(ext, test_push_backpressure_queue);
		suite_add_tcase(s, ext);
	}
	return harness_run(s);
}
