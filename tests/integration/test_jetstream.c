/*
 * test_jetstream.c - JetStream on one server, first increment: enabling
 * it, the API envelope and errors, streams, publishing into them, message
 * get/delete/purge, direct get, and restart from the store directory.
 *
 * Two kinds of checks: nats.c's JetStream API (js_AddStream, js_Publish,
 * js_GetMsg, ...) as an application uses it, and raw requests whose answers
 * are compared byte for byte where the reference's bytes do not depend on
 * time (errors, PubAcks, account info, names).  Every expectation was
 * checked against nats-server 2.9.10 -js first.
 *
 * Each test gets its own store directory (mkdtemp) in the config, so the
 * reference and natsd both write their files there; it is removed at the
 * end of the test.
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
static char conf[2048];

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

/*
 * Reads the next MSG or HMSG on the test inbox into out (payload, or
 * headers + payload for HMSG).  The reference writes PubAck MSG lines
 * with two spaces before the size; sscanf takes either.
 */
static bool raw_next_msg(struct raw_conn *rc, char *out, size_t cap, int timeout_ms)
{
	char line[512], subj[128], sid[32];
	size_t hlen = 0, tlen = 0;
	if (!raw_take_line(rc, line, sizeof(line), timeout_ms))
		return false;
	if (strncmp(line, "MSG ", 4) == 0) {
		if (sscanf(line, "MSG %127s %31s %zu", subj, sid, &tlen) != 3)
			return false;
	} else if (strncmp(line, "HMSG ", 5) == 0) {
		if (sscanf(line, "HMSG %127s %31s %zu %zu", subj, sid, &hlen, &tlen) != 4)
			return false;
	} else {
		return false;
	}
	if (!raw_wait_len(rc, tlen + 2, timeout_ms) || tlen + 1 > cap)
		return false;
	memcpy(out, rc->buf, tlen);
	out[tlen] = '\0';
	raw_consume(rc, tlen + 2);
	return true;
}

/* Publishes body on subject with the test inbox as reply and returns the
 * answer in out; fails the test when none comes. */
static void raw_request(struct raw_conn *rc, const char *subject, const char *body,
			char *out, size_t cap)
{
	char head[512];
	snprintf(head, sizeof(head), "PUB %s _INBOX.t %zu\r\n", subject, strlen(body));
	raw_send_str(rc, head);
	raw_send_str(rc, body);
	raw_send_str(rc, "\r\n");
	ck_assert_msg(raw_next_msg(rc, out, cap, WAIT_MS), "no answer on %s: [%s]", subject,
		      raw_escaped(rc));
}

/* Like raw_request with a header block (lines without the final CRLF). */
static void raw_hrequest(struct raw_conn *rc, const char *subject, const char *hdr_lines,
			 const char *body, char *out, size_t cap)
{
	char head[512], hdr[512];
	snprintf(hdr, sizeof(hdr), "NATS/1.0\r\n%s\r\n", hdr_lines);
	snprintf(head, sizeof(head), "HPUB %s _INBOX.t %zu %zu\r\n", subject, strlen(hdr),
		 strlen(hdr) + strlen(body));
	raw_send_str(rc, head);
	raw_send_str(rc, hdr);
	raw_send_str(rc, body);
	raw_send_str(rc, "\r\n");
	ck_assert_msg(raw_next_msg(rc, out, cap, WAIT_MS), "no answer on %s", subject);
}

static void expect_answer(struct raw_conn *rc, const char *subject, const char *body,
			  const char *expected)
{
	char out[4096];
	raw_request(rc, subject, body, out, sizeof(out));
	ck_assert_str_eq(out, expected);
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

#define ERR_JSON(type, code, err_code, text)					\
	"{\"type\":\"io.nats.jetstream.api.v1." type "\",\"error\":{\"code\":"	\
	#code ",\"err_code\":" #err_code ",\"description\":\"" text "\"}}"

/* ---- tests ---------------------------------------------------------- */

START_TEST(test_info_line_and_account_info)
{
	struct raw_conn *rc = raw_connect(&srv);
	char line[2048];
	ck_assert(raw_take_line(rc, line, sizeof(line), WAIT_MS));
	ck_assert_msg(strstr(line, "\"jetstream\":true") != NULL, "INFO: %s", line);
	raw_close(rc);

	rc = raw_client();
	expect_answer(rc, "$JS.API.INFO", "",
		"{\"type\":\"io.nats.jetstream.api.v1.account_info_response\",\"memory\":0,"
		"\"storage\":0,\"streams\":0,\"consumers\":0,\"limits\":{\"max_memory\":-1,"
		"\"max_storage\":-1,\"max_streams\":-1,\"max_consumers\":-1,"
		"\"max_ack_pending\":-1,\"memory_max_stream_bytes\":-1,"
		"\"storage_max_stream_bytes\":-1,\"max_bytes_required\":false},"
		"\"api\":{\"total\":0,\"errors\":0}}");
	/* The info request itself is counted once it is answered. */
	char out[2048];
	raw_request(rc, "$JS.API.INFO", "", out, sizeof(out));
	ck_assert_msg(strstr(out, "\"api\":{\"total\":1,\"errors\":0}") != NULL, "%s", out);
	raw_close(rc);
}
END_TEST

START_TEST(test_stream_api_errors)
{
	struct raw_conn *rc = raw_client();
	char out[4096];
	raw_request(rc, "$JS.API.STREAM.CREATE.ORDERS",
		    "{\"name\":\"ORDERS\",\"subjects\":[\"orders.>\"]}", out, sizeof(out));
	ck_assert_msg(strstr(out, "\"did_create\":true") != NULL, "%s", out);
	expect_answer(rc, "$JS.API.STREAM.CREATE.ORDERS",
		      "{\"name\":\"ORDERS\",\"subjects\":[\"orders.*\"]}",
		      ERR_JSON("stream_create_response", 400, 10058,
			       "stream name already in use with a different configuration"));
	expect_answer(rc, "$JS.API.STREAM.CREATE.X", "{\"name\":\"ORDERS\"}",
		      ERR_JSON("stream_create_response", 400, 10056,
			       "stream name in subject does not match request"));
	expect_answer(rc, "$JS.API.STREAM.CREATE.O2",
		      "{\"name\":\"O2\",\"subjects\":[\"orders.a\"]}",
		      ERR_JSON("stream_create_response", 400, 10065,
			       "subjects overlap with an existing stream"));
	expect_answer(rc, "$JS.API.STREAM.CREATE.O3", "not json",
		      ERR_JSON("stream_create_response", 400, 10025, "invalid JSON"));
	expect_answer(rc, "$JS.API.STREAM.CREATE.O3", "",
		      ERR_JSON("stream_create_response", 400, 10025, "invalid JSON"));
	expect_answer(rc, "$JS.API.STREAM.CREATE.R3", "{\"name\":\"R3\",\"num_replicas\":3}",
		      ERR_JSON("stream_create_response", 500, 10074,
			       "replicas \\u003e 1 not supported in non-clustered mode"));
	expect_answer(rc, "$JS.API.STREAM.CREATE.bad*", "{\"name\":\"bad*\"}",
		      ERR_JSON("stream_create_response", 500, 10052,
			       "stream name is required and can not contain '.', '*', '\\u003e'"));
	expect_answer(rc, "$JS.API.STREAM.INFO.NOPE", "",
		      "{\"type\":\"io.nats.jetstream.api.v1.stream_info_response\","
		      "\"error\":{\"code\":404,\"err_code\":10059,\"description\":"
		      "\"stream not found\"},\"total\":0,\"offset\":0,\"limit\":0}");
	expect_answer(rc, "$JS.API.STREAM.UPDATE.ORDERS",
		      "{\"name\":\"ORDERS\",\"subjects\":[\"orders.>\"],\"storage\":\"memory\"}",
		      ERR_JSON("stream_update_response", 500, 10052,
			       "stream configuration update can not change storage type"));
	expect_answer(rc, "$JS.API.STREAM.MSG.GET.ORDERS", "",
		      ERR_JSON("stream_msg_get_response", 400, 10003, "bad request"));
	expect_answer(rc, "$JS.API.STREAM.MSG.GET.ORDERS", "{\"seq\":100}",
		      ERR_JSON("stream_msg_get_response", 404, 10037, "no message found"));
	expect_answer(rc, "$JS.API.STREAM.DELETE.NOPE", "",
		      ERR_JSON("stream_delete_response", 404, 10059, "stream not found"));
	expect_answer(rc, "$JS.API.STREAM.NAMES", "",
		      "{\"type\":\"io.nats.jetstream.api.v1.stream_names_response\","
		      "\"total\":1,\"offset\":0,\"limit\":1024,\"streams\":[\"ORDERS\"]}");
	expect_answer(rc, "$JS.API.STREAM.NAMES", "{\"subject\":\"nothing.here\"}",
		      "{\"type\":\"io.nats.jetstream.api.v1.stream_names_response\","
		      "\"total\":0,\"offset\":0,\"limit\":1024,\"streams\":null}");
	expect_answer(rc, "$JS.API.STREAM.DELETE.ORDERS", "",
		      "{\"type\":\"io.nats.jetstream.api.v1.stream_delete_response\","
		      "\"success\":true}");
	/* An API subject no handler knows gets no answer at all. */
	raw_send_str(rc, "PUB $JS.API.STREAM.CREATE.a.b _INBOX.t 12\r\n{\"name\":\"a\"}\r\n");
	ck_assert(raw_ping_pong(rc));
	ck_assert_msg(!raw_contains(rc, "MSG"), "unexpected answer: %s", raw_escaped(rc));
	raw_close(rc);
}
END_TEST

START_TEST(test_pub_acks_and_expectations)
{
	struct raw_conn *rc = raw_client();
	char out[4096];
	raw_request(rc, "$JS.API.STREAM.CREATE.ORDERS",
		    "{\"name\":\"ORDERS\",\"subjects\":[\"orders.>\"]}", out, sizeof(out));
	expect_answer(rc, "orders.1", "one", "{\"stream\":\"ORDERS\", \"seq\":1}");
	raw_hrequest(rc, "orders.2", "Nats-Msg-Id: abc\r\n", "two", out, sizeof(out));
	ck_assert_str_eq(out, "{\"stream\":\"ORDERS\", \"seq\":2}");
	raw_hrequest(rc, "orders.2", "Nats-Msg-Id: abc\r\n", "two", out, sizeof(out));
	ck_assert_str_eq(out, "{\"stream\":\"ORDERS\", \"seq\":2,\"duplicate\": true}");
	raw_hrequest(rc, "orders.2", "Nats-Expected-Last-Sequence: 1\r\n", "x", out,
		     sizeof(out));
	ck_assert_str_eq(out, "{\"error\":{\"code\":400,\"err_code\":10071,\"description\":"
			 "\"wrong last sequence: 2\"},\"stream\":\"ORDERS\",\"seq\":0}");
	raw_hrequest(rc, "orders.2", "Nats-Expected-Last-Subject-Sequence: 0\r\n", "x", out,
		     sizeof(out));
	ck_assert_str_eq(out, "{\"error\":{\"code\":400,\"err_code\":10071,\"description\":"
			 "\"wrong last sequence: 2\"},\"stream\":\"ORDERS\",\"seq\":0}");
	raw_hrequest(rc, "orders.2", "Nats-Expected-Stream: FOO\r\n", "x", out, sizeof(out));
	ck_assert_str_eq(out, "{\"error\":{\"code\":400,\"err_code\":10060,\"description\":"
			 "\"expected stream does not match\"},\"stream\":\"ORDERS\",\"seq\":0}");
	raw_hrequest(rc, "orders.2", "Nats-Expected-Last-Msg-Id: zz\r\n", "x", out,
		     sizeof(out));
	ck_assert_str_eq(out, "{\"error\":{\"code\":400,\"err_code\":10070,\"description\":"
			 "\"wrong last msg ID: abc\"},\"stream\":\"ORDERS\",\"seq\":0}");
	raw_hrequest(rc, "orders.2", "Nats-Rollup: sub\r\n", "x", out, sizeof(out));
	ck_assert_str_eq(out, "{\"error\":{\"code\":500,\"err_code\":10111,\"description\":"
			 "\"rollup not permitted\"},\"stream\":\"ORDERS\",\"seq\":0}");
	/* A publish no stream takes: the no-responders status. */
	raw_request(rc, "nostream", "x", out, sizeof(out));
	ck_assert_str_eq(out, "NATS/1.0 503\r\n\r\n");
	/* Accepted expectations store the message. */
	raw_hrequest(rc, "orders.3", "Nats-Expected-Last-Sequence: 2\r\n"
		     "Nats-Expected-Last-Subject-Sequence: 0\r\n", "y", out, sizeof(out));
	ck_assert_str_eq(out, "{\"stream\":\"ORDERS\", \"seq\":3}");
	raw_close(rc);
}
END_TEST

START_TEST(test_limits_discard_new_and_rollup)
{
	struct raw_conn *rc = raw_client();
	char out[4096];
	raw_request(rc, "$JS.API.STREAM.CREATE.MS",
		    "{\"name\":\"MS\",\"max_msg_size\":5,\"max_msgs_per_subject\":1,"
		    "\"discard\":\"new\",\"discard_new_per_subject\":true,"
		    "\"deny_delete\":true,\"deny_purge\":true}", out, sizeof(out));
	ck_assert_msg(strstr(out, "\"discard_new_per_subject\":true,\"sealed\":false,"
			     "\"deny_delete\":true,\"deny_purge\":true") != NULL, "%s", out);
	expect_answer(rc, "MS", "123456",
		      "{\"error\":{\"code\":400,\"err_code\":10054,\"description\":"
		      "\"message size exceeds maximum allowed\"},\"stream\":\"MS\",\"seq\":0}");
	expect_answer(rc, "MS", "1", "{\"stream\":\"MS\", \"seq\":1}");
	expect_answer(rc, "MS", "2",
		      "{\"error\":{\"code\":503,\"err_code\":10077,\"description\":"
		      "\"maximum messages per subject exceeded\"},\"stream\":\"MS\",\"seq\":0}");
	expect_answer(rc, "$JS.API.STREAM.MSG.DELETE.MS", "{\"seq\":1}",
		      ERR_JSON("stream_msg_delete_response", 500, 10057,
			       "message delete not permitted"));
	expect_answer(rc, "$JS.API.STREAM.PURGE.MS", "",
		      "{\"type\":\"io.nats.jetstream.api.v1.stream_purge_response\","
		      "\"error\":{\"code\":500,\"err_code\":10110,\"description\":"
		      "\"stream purge not permitted\"},\"purged\":0}");

	raw_request(rc, "$JS.API.STREAM.CREATE.MX",
		    "{\"name\":\"MX\",\"max_msgs\":2,\"discard\":\"new\","
		    "\"allow_rollup_hdrs\":true}", out, sizeof(out));
	expect_answer(rc, "MX", "a", "{\"stream\":\"MX\", \"seq\":1}");
	expect_answer(rc, "MX", "b", "{\"stream\":\"MX\", \"seq\":2}");
	expect_answer(rc, "MX", "c",
		      "{\"error\":{\"code\":503,\"err_code\":10077,\"description\":"
		      "\"maximum messages exceeded\"},\"stream\":\"MX\",\"seq\":0}");
	raw_request(rc, "$JS.API.STREAM.PURGE.MX", "", out, sizeof(out));
	ck_assert_str_eq(out, "{\"type\":\"io.nats.jetstream.api.v1.stream_purge_response\","
			 "\"success\":true,\"purged\":2}");
	expect_answer(rc, "MX", "d", "{\"stream\":\"MX\", \"seq\":3}");
	raw_hrequest(rc, "MX", "Nats-Rollup: all\r\n", "e", out, sizeof(out));
	ck_assert_str_eq(out, "{\"stream\":\"MX\", \"seq\":4}");
	raw_request(rc, "$JS.API.STREAM.INFO.MX", "", out, sizeof(out));
	ck_assert_msg(strstr(out, "\"messages\":1,") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "\"first_seq\":4,") != NULL, "%s", out);
	raw_close(rc);
}
END_TEST

START_TEST(test_msg_get_delete_and_info_details)
{
	struct raw_conn *rc = raw_client();
	char out[4096];
	raw_request(rc, "$JS.API.STREAM.CREATE.S",
		    "{\"name\":\"S\",\"subjects\":[\"s.*\"],\"storage\":\"memory\"}", out,
		    sizeof(out));
	expect_answer(rc, "s.a", "one", "{\"stream\":\"S\", \"seq\":1}");
	raw_hrequest(rc, "s.b", "Nats-Msg-Id: abc\r\n", "two", out, sizeof(out));
	expect_answer(rc, "s.a", "three", "{\"stream\":\"S\", \"seq\":3}");
	raw_request(rc, "$JS.API.STREAM.MSG.GET.S", "{\"last_by_subj\":\"s.b\"}", out,
		    sizeof(out));
	ck_assert_msg(starts_with(out, "{\"type\":\"io.nats.jetstream.api.v1.stream_msg_get_"
			      "response\",\"message\":{\"subject\":\"s.b\",\"seq\":2,\"hdrs\":"
			      "\"TkFUUy8xLjANCk5hdHMtTXNnLUlkOiBhYmMNCg0K\",\"data\":\"dHdv\","
			      "\"time\":\""), "%s", out);
	raw_request(rc, "$JS.API.STREAM.MSG.GET.S", "{\"seq\":1,\"next_by_subj\":\"s.b\"}",
		    out, sizeof(out));
	ck_assert_msg(strstr(out, "\"seq\":2,") != NULL, "%s", out);
	expect_answer(rc, "$JS.API.STREAM.MSG.DELETE.S", "{\"seq\":2,\"no_erase\":true}",
		      "{\"type\":\"io.nats.jetstream.api.v1.stream_msg_delete_response\","
		      "\"success\":true}");
	/* The memory store's own words for a missing message. */
	expect_answer(rc, "$JS.API.STREAM.MSG.DELETE.S", "{\"seq\":2}",
		      ERR_JSON("stream_msg_delete_response", 400, 10043,
			       "sequence 2 not found"));
	raw_request(rc, "$JS.API.STREAM.INFO.S",
		    "{\"deleted_details\":true,\"subjects_filter\":\"s.*\"}", out, sizeof(out));
	ck_assert_msg(starts_with(out, "{\"type\":\"io.nats.jetstream.api.v1.stream_info_"
			      "response\",\"total\":1,\"offset\":0,\"limit\":100000,"),
		      "%s", out);
	ck_assert_msg(strstr(out, "\"num_subjects\":1,\"subjects\":{\"s.a\":2},"
			     "\"num_deleted\":1,\"deleted\":[2],\"consumer_count\":0}}")
		      != NULL, "%s", out);
	raw_close(rc);
}
END_TEST

START_TEST(test_republish)
{
	struct raw_conn *rc = raw_client();
	char out[4096];
	raw_request(rc, "$JS.API.STREAM.CREATE.RP",
		    "{\"name\":\"RP\",\"subjects\":[\"rp.>\"],"
		    "\"republish\":{\"src\":\"rp.*\",\"dest\":\"out.$1\"}}", out, sizeof(out));
	ck_assert_msg(strstr(out, "\"republish\":{\"src\":\"rp.*\",\"dest\":\"out.$1\"},")
		      != NULL, "%s", out);
	raw_request(rc, "$JS.API.STREAM.CREATE.RH",
		    "{\"name\":\"RH\",\"subjects\":[\"rh.>\"],"
		    "\"republish\":{\"dest\":\"outh.>\",\"headers_only\":true}}", out,
		    sizeof(out));
	raw_send_str(rc, "SUB out.> 2\r\nSUB outh.> 3\r\n");
	/* The republished copy comes before the PubAck, on both servers. */
	raw_request(rc, "rp.a", "hello", out, sizeof(out));
	ck_assert_str_eq(out, "NATS/1.0\r\nNats-Stream: RP\r\nNats-Subject: rp.a\r\n"
			 "Nats-Sequence: 1\r\nNats-Last-Sequence: 0\r\n\r\nhello");
	ck_assert(raw_next_msg(rc, out, sizeof(out), WAIT_MS));
	ck_assert_str_eq(out, "{\"stream\":\"RP\", \"seq\":1}");
	/* Outside src: stored, not republished. */
	expect_answer(rc, "rp.b.c", "x", "{\"stream\":\"RP\", \"seq\":2}");
	raw_hrequest(rc, "rh.x", "A: b\r\n", "world", out, sizeof(out));
	ck_assert_str_eq(out, "NATS/1.0\r\nA: b\r\nNats-Stream: RH\r\nNats-Subject: rh.x\r\n"
			 "Nats-Sequence: 1\r\nNats-Last-Sequence: 0\r\n"
			 "Nats-Msg-Size: 5\r\n\r\n");
	ck_assert(raw_next_msg(rc, out, sizeof(out), WAIT_MS));
	ck_assert_str_eq(out, "{\"stream\":\"RH\", \"seq\":1}");
	raw_close(rc);
}
END_TEST

START_TEST(test_direct_get)
{
	struct raw_conn *rc = raw_client();
	char out[4096];
	raw_request(rc, "$JS.API.STREAM.CREATE.D",
		    "{\"name\":\"D\",\"subjects\":[\"d.>\"],\"allow_direct\":true}", out,
		    sizeof(out));
	raw_request(rc, "$JS.API.STREAM.CREATE.ND", "{\"name\":\"ND\"}", out, sizeof(out));
	raw_request(rc, "$JS.API.DIRECT.GET.D.d.x", "", out, sizeof(out));
	ck_assert_str_eq(out, "NATS/1.0 404 Message Not Found\r\n\r\n");
	expect_answer(rc, "d.x", "hello", "{\"stream\":\"D\", \"seq\":1}");
	raw_hrequest(rc, "d.x", "Foo: bar\r\n", "hello2", out, sizeof(out));
	raw_request(rc, "$JS.API.DIRECT.GET.D.d.x", "", out, sizeof(out));
	ck_assert_msg(starts_with(out, "NATS/1.0\r\nFoo: bar\r\nNats-Stream: D\r\nNats-Subject: "
			      "d.x\r\nNats-Sequence: 2\r\nNats-Time-Stamp: 20"),
		      "%s", out);
	ck_assert_msg(strstr(out, "Z\r\n\r\nhello2") != NULL, "%s", out);
	raw_request(rc, "$JS.API.DIRECT.GET.D", "{\"seq\":1}", out, sizeof(out));
	ck_assert_msg(starts_with(out, "NATS/1.0\r\nNats-Stream: D\r\nNats-Subject: d.x\r\n"
			      "Nats-Sequence: 1\r\n"), "%s", out);
	raw_request(rc, "$JS.API.DIRECT.GET.D", "{\"last_by_subj\":\"d.x\"}", out, sizeof(out));
	ck_assert_msg(strstr(out, "Nats-Sequence: 2\r\n") != NULL, "%s", out);
	raw_request(rc, "$JS.API.DIRECT.GET.D", "{\"seq\":9}", out, sizeof(out));
	ck_assert_str_eq(out, "NATS/1.0 404 Message Not Found\r\n\r\n");
	raw_request(rc, "$JS.API.DIRECT.GET.D", "", out, sizeof(out));
	ck_assert_str_eq(out, "NATS/1.0 408 Empty Request\r\n\r\n");
	raw_request(rc, "$JS.API.DIRECT.GET.D", "x", out, sizeof(out));
	ck_assert_str_eq(out, "NATS/1.0 408 Malformed Request\r\n\r\n");
	/* Without allow_direct nobody answers. */
	raw_send_str(rc, "PUB $JS.API.DIRECT.GET.ND _INBOX.t 9\r\n{\"seq\":1}\r\n");
	ck_assert(raw_ping_pong(rc));
	ck_assert_msg(!raw_contains(rc, "MSG"), "unexpected answer: %s", raw_escaped(rc));
	raw_close(rc);
}
END_TEST

/* Creates stream ORDERS on "orders.>" with nats.c and checks the echoed
 * defaults. */
static void orders_create(jsCtx *js)
{
	jsStreamConfig cfg;
	const char *subjects[] = { "orders.>" };
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	jsStreamConfig_Init(&cfg);
	cfg.Name = "ORDERS";
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	ck_assert_int_eq(js_AddStream(&si, js, &cfg, NULL, &jerr), NATS_OK);
	ck_assert_int_eq(si->Config->MaxMsgs, -1);
	ck_assert_int_eq(si->Config->Duplicates, 120000000000LL);
	ck_assert_int_eq(si->Config->Storage, js_FileStorage);
	jsStreamInfo_Destroy(si);
	/* The same config again is accepted; another one is refused. */
	ck_assert_int_eq(js_AddStream(&si, js, &cfg, NULL, &jerr), NATS_OK);
	jsStreamInfo_Destroy(si);
	cfg.MaxMsgs = 10;
	ck_assert_int_ne(js_AddStream(&si, js, &cfg, NULL, &jerr), NATS_OK);
	ck_assert_int_eq(jerr, JSStreamNameExistErr);
}

static uint64_t publish_seq(jsCtx *js, const char *subject, jsPubOptions *po,
			    bool *duplicate)
{
	jsPubAck *pa = NULL;
	jsErrCode jerr = 0;
	ck_assert_int_eq(js_Publish(&pa, js, subject, "x", 1, po, &jerr), NATS_OK);
	ck_assert_str_eq(pa->Stream, "ORDERS");
	uint64_t seq = pa->Sequence;
	if (duplicate != NULL)
		*duplicate = pa->Duplicate;
	jsPubAck_Destroy(pa);
	return seq;
}

START_TEST(test_nats_c_publish)
{
	natsConnection *nc = harness_nats_connect(&srv);
	jsCtx *js = NULL;
	jsErrCode jerr = 0;
	bool dup = true;
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	orders_create(js);
	ck_assert_uint_eq(publish_seq(js, "orders.1", NULL, NULL), 1);
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MsgId = "id-1";
	ck_assert_uint_eq(publish_seq(js, "orders.2", &po, &dup), 2);
	ck_assert(!dup);
	ck_assert_uint_eq(publish_seq(js, "orders.2", &po, &dup), 2);
	ck_assert(dup);
	jsPubOptions_Init(&po);
	po.ExpectLastSeq = 7;
	jsPubAck *pa = NULL;
	ck_assert_int_ne(js_Publish(&pa, js, "orders.3", "c", 1, &po, &jerr), NATS_OK);
	ck_assert_int_eq(jerr, JSStreamWrongLastSequenceErr);
	jsPubOptions_Init(&po);
	po.ExpectStream = "OTHER";
	ck_assert_int_ne(js_Publish(&pa, js, "orders.3", "c", 1, &po, &jerr), NATS_OK);
	ck_assert_int_eq(jerr, JSStreamNotMatchErr);
	jsPubOptions_Init(&po);
	po.ExpectLastMsgId = "id-1";
	po.ExpectNoMessage = true;
	ck_assert_uint_eq(publish_seq(js, "orders.3", &po, NULL), 3);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}
END_TEST

START_TEST(test_nats_c_get_list_purge)
{
	natsConnection *nc = harness_nats_connect(&srv);
	jsCtx *js = NULL;
	jsErrCode jerr = 0;
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	orders_create(js);
	publish_seq(js, "orders.1", NULL, NULL);
	publish_seq(js, "orders.2", NULL, NULL);
	publish_seq(js, "orders.3", NULL, NULL);

	natsMsg *m = NULL;
	ck_assert_int_eq(js_GetMsg(&m, js, "ORDERS", 1, NULL, &jerr), NATS_OK);
	ck_assert_str_eq(natsMsg_GetSubject(m), "orders.1");
	ck_assert_int_eq(natsMsg_GetDataLength(m), 1);
	natsMsg_Destroy(m);
	ck_assert_int_eq(js_GetLastMsg(&m, js, "ORDERS", "orders.2", NULL, &jerr), NATS_OK);
	ck_assert_uint_eq(natsMsg_GetSequence(m), 2);
	natsMsg_Destroy(m);
	ck_assert_int_eq(js_DeleteMsg(js, "ORDERS", 1, NULL, &jerr), NATS_OK);
	ck_assert_int_ne(js_GetMsg(&m, js, "ORDERS", 1, NULL, &jerr), NATS_OK);
	ck_assert_int_eq(jerr, JSNoMessageFoundErr);

	jsStreamInfo *si = NULL;
	ck_assert_int_eq(js_GetStreamInfo(&si, js, "ORDERS", NULL, &jerr), NATS_OK);
	ck_assert_uint_eq(si->State.Msgs, 2);
	ck_assert_uint_eq(si->State.FirstSeq, 2);
	ck_assert_uint_eq(si->State.LastSeq, 3);
	jsStreamInfo_Destroy(si);
	jsStreamNamesList *names = NULL;
	ck_assert_int_eq(js_StreamNames(&names, js, NULL, &jerr), NATS_OK);
	ck_assert_int_eq(names->Count, 1);
	ck_assert_str_eq(names->List[0], "ORDERS");
	jsStreamNamesList_Destroy(names);
	jsStreamInfoList *list = NULL;
	ck_assert_int_eq(js_Streams(&list, js, NULL, &jerr), NATS_OK);
	ck_assert_int_eq(list->Count, 1);
	ck_assert_uint_eq(list->List[0]->State.Msgs, 2);
	jsStreamInfoList_Destroy(list);

	ck_assert_int_eq(js_PurgeStream(js, "ORDERS", NULL, &jerr), NATS_OK);
	ck_assert_int_eq(js_GetStreamInfo(&si, js, "ORDERS", NULL, &jerr), NATS_OK);
	ck_assert_uint_eq(si->State.Msgs, 0);
	ck_assert_uint_eq(si->State.FirstSeq, 4);
	jsStreamInfo_Destroy(si);
	ck_assert_int_eq(js_DeleteStream(js, "ORDERS", NULL, &jerr), NATS_OK);
	ck_assert_int_ne(js_GetStreamInfo(&si, js, "ORDERS", NULL, &jerr), NATS_OK);
	ck_assert_int_eq(jerr, JSStreamNotFoundErr);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}
END_TEST

START_TEST(test_restart_keeps_streams)
{
	struct raw_conn *rc = raw_client();
	char out[4096];
	raw_request(rc, "$JS.API.STREAM.CREATE.KEEP",
		    "{\"name\":\"KEEP\",\"subjects\":[\"keep.>\"]}", out, sizeof(out));
	expect_answer(rc, "keep.a", "1", "{\"stream\":\"KEEP\", \"seq\":1}");
	raw_hrequest(rc, "keep.b", "Nats-Msg-Id: m2\r\n", "2", out, sizeof(out));
	ck_assert_str_eq(out, "{\"stream\":\"KEEP\", \"seq\":2}");
	raw_request(rc, "$JS.API.STREAM.CREATE.GONE", "{\"name\":\"GONE\"}", out, sizeof(out));
	raw_request(rc, "$JS.API.STREAM.DELETE.GONE", "", out, sizeof(out));
	raw_close(rc);

	harness_server_stop(&srv);
	harness_js_server_start(&srv, store_dir, NULL);
	rc = raw_client();
	expect_answer(rc, "$JS.API.STREAM.NAMES", "",
		      "{\"type\":\"io.nats.jetstream.api.v1.stream_names_response\","
		      "\"total\":1,\"offset\":0,\"limit\":1024,\"streams\":[\"KEEP\"]}");
	raw_request(rc, "$JS.API.STREAM.MSG.GET.KEEP", "{\"last_by_subj\":\"keep.b\"}", out,
		    sizeof(out));
	ck_assert_msg(strstr(out, "\"seq\":2,\"hdrs\":") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "\"data\":\"Mg==\"") != NULL, "%s", out);
	/* The duplicate window survives the restart. */
	raw_hrequest(rc, "keep.b", "Nats-Msg-Id: m2\r\n", "2", out, sizeof(out));
	ck_assert_str_eq(out, "{\"stream\":\"KEEP\", \"seq\":2,\"duplicate\": true}");
	raw_hrequest(rc, "keep.c", "Nats-Expected-Last-Msg-Id: m2\r\n", "3", out, sizeof(out));
	ck_assert_str_eq(out, "{\"stream\":\"KEEP\", \"seq\":3}");
	raw_close(rc);
}
END_TEST

START_TEST(test_account_without_jetstream)
{
	harness_server_stop(&srv);
	harness_js_server_start(&srv, store_dir, "accounts {\n"
			"  A: { jetstream: enabled, users: [ {user: a, password: a} ] }\n"
			"  B: { users: [ {user: b, password: b} ] }\n"
			"}\n");
	struct raw_conn *b = raw_connect_ready(&srv,
		"{\"verbose\":false,\"headers\":true,\"user\":\"b\",\"pass\":\"b\"}");
	raw_send_str(b, "SUB _INBOX.t 1\r\n");
	expect_answer(b, "$JS.API.INFO", "",
		      ERR_JSON("account_info_response", 503, 10039,
			       "JetStream not enabled for account"));
	expect_answer(b, "$JS.API.STREAM.CREATE.S", "{\"name\":\"S\"}",
		      ERR_JSON("stream_create_response", 503, 10039,
			       "JetStream not enabled for account"));
	raw_close(b);
	struct raw_conn *a = raw_connect_ready(&srv,
		"{\"verbose\":false,\"headers\":true,\"user\":\"a\",\"pass\":\"a\"}");
	raw_send_str(a, "SUB _INBOX.t 1\r\n");
	char out[4096];
	raw_request(a, "$JS.API.STREAM.CREATE.S", "{\"name\":\"S\"}", out, sizeof(out));
	ck_assert_msg(strstr(out, "\"did_create\":true") != NULL, "%s", out);
	raw_close(a);
}
END_TEST

START_TEST(test_domain)
{
	harness_server_stop(&srv);
	snprintf(conf, sizeof(conf), "jetstream { store_dir: \"%s\", domain: hub }\n",
		 store_dir);
	harness_server_start(&srv, conf, NULL);
	struct raw_conn *rc = raw_client();
	char out[4096];
	raw_request(rc, "$JS.hub.API.INFO", "", out, sizeof(out));
	ck_assert_msg(strstr(out, "\"domain\":\"hub\",\"api\":{") != NULL, "%s", out);
	raw_request(rc, "$JS.API.STREAM.CREATE.X", "{\"name\":\"X\"}", out, sizeof(out));
	expect_answer(rc, "X", "1", "{\"stream\":\"X\", \"domain\":\"hub\", \"seq\":1}");
	raw_close(rc);
}
END_TEST

/* Account limits: bytes reserved by max_bytes at create and update,
 * max_bytes required and per-stream maximums, and a publish that takes
 * the account over max_file: stored, found over, removed again. */
START_TEST(test_account_limits)
{
	harness_server_stop(&srv);
	snprintf(conf, sizeof(conf),
		 "jetstream { store_dir: \"%s\" }\n"
		 "accounts {\n"
		 "  A: { users: [{user: a, password: a}],\n"
		 "       jetstream: { max_file: 1000, max_mem: 2000, max_streams: 5,\n"
		 "                    max_consumers: 3 } }\n"
		 "  B: { users: [{user: b, password: b}],\n"
		 "       jetstream: { max_file: 10000, max_bytes_required: true,\n"
		 "                    disk_max_stream_bytes: 5000 } }\n"
		 "}\n", store_dir);
	harness_server_start(&srv, conf, NULL);
	struct raw_conn *a = raw_connect_ready(&srv,
		"{\"verbose\":false,\"headers\":true,\"user\":\"a\",\"pass\":\"a\"}");
	raw_send_str(a, "SUB _INBOX.t 1\r\n");
	char out[4096];
	expect_answer(a, "$JS.API.STREAM.CREATE.BIG",
		      "{\"name\":\"BIG\",\"max_bytes\":2000}",
		      ERR_JSON("stream_create_response", 500, 10047,
			       "insufficient storage resources available"));
	expect_answer(a, "$JS.API.STREAM.CREATE.MEM",
		      "{\"name\":\"MEM\",\"storage\":\"memory\",\"max_bytes\":3000}",
		      ERR_JSON("stream_create_response", 500, 10028,
			       "insufficient memory resources available"));
	expect_answer(a, "$JS.API.STREAM.CREATE.MC",
		      "{\"name\":\"MC\",\"max_consumers\":5}",
		      ERR_JSON("stream_create_response", 400, 10026,
			       "maximum consumers limit reached"));
	raw_request(a, "$JS.API.STREAM.CREATE.R1", "{\"name\":\"R1\",\"max_bytes\":600}",
		    out, sizeof(out));
	ck_assert_msg(strstr(out, "\"did_create\":true") != NULL, "%s", out);
	expect_answer(a, "$JS.API.STREAM.CREATE.R2",
		      "{\"name\":\"R2\",\"max_bytes\":600}",
		      ERR_JSON("stream_create_response", 500, 10047,
			       "insufficient storage resources available"));
	/* An update counts the stream's own reservation once. */
	raw_request(a, "$JS.API.STREAM.UPDATE.R1", "{\"name\":\"R1\",\"max_bytes\":900}",
		    out, sizeof(out));
	ck_assert_msg(strstr(out, "\"max_bytes\":900") != NULL, "%s", out);
	raw_request(a, "$JS.API.STREAM.CREATE.S", "{\"name\":\"S\",\"subjects\":[\"s\"]}",
		    out, sizeof(out));
	ck_assert_msg(strstr(out, "\"did_create\":true") != NULL, "%s", out);
	/* Publishes of 200 bytes (plus overhead) until the account is over
	 * its 1000 bytes: the one that goes over is refused and removed. */
	char body[201];
	memset(body, 'x', 200);
	body[200] = '\0';
	int acked = 0;
	for (int i = 0; i < 10; i++) {
		raw_request(a, "s", body, out, sizeof(out));
		if (strstr(out, "\"error\"") != NULL) {
			ck_assert_str_eq(out, "{\"error\":{\"code\":400,\"err_code\":10002,"
					 "\"description\":\"resource limits exceeded for "
					 "account\"},\"stream\":\"S\",\"seq\":0}");
			break;
		}
		acked++;
	}
	ck_assert_int_eq(acked, 4);
	raw_request(a, "$JS.API.STREAM.INFO.S", "", out, sizeof(out));
	ck_assert_msg(strstr(out, "\"messages\":4,") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "\"last_seq\":5,") != NULL, "%s", out);
	raw_close(a);

	struct raw_conn *b = raw_connect_ready(&srv,
		"{\"verbose\":false,\"headers\":true,\"user\":\"b\",\"pass\":\"b\"}");
	raw_send_str(b, "SUB _INBOX.t 1\r\n");
	expect_answer(b, "$JS.API.STREAM.CREATE.N", "{\"name\":\"N\"}",
		      ERR_JSON("stream_create_response", 400, 10113,
			       "account requires a stream config to have max bytes set"));
	expect_answer(b, "$JS.API.STREAM.CREATE.N", "{\"name\":\"N\",\"max_bytes\":6000}",
		      ERR_JSON("stream_create_response", 400, 10122,
			       "stream max bytes exceeds account limit max stream bytes"));
	raw_request(b, "$JS.API.STREAM.CREATE.N", "{\"name\":\"N\",\"max_bytes\":5000}",
		    out, sizeof(out));
	ck_assert_msg(strstr(out, "\"did_create\":true") != NULL, "%s", out);
	raw_close(b);
}
END_TEST

/* The 2.10 stream fields natsd supports: subject_transform (stored under
 * the mapped subject), first_seq, metadata.  nats-server 2.9.10 ignores
 * them (unknown fields), so against it only the plain create is checked. */
START_TEST(test_v210_stream_fields)
{
	struct raw_conn *rc = raw_client();
	char out[4096];
	raw_request(rc, "$JS.API.STREAM.CREATE.T",
		    "{\"name\":\"T\",\"subjects\":[\"in.>\"],"
		    "\"subject_transform\":{\"src\":\"in.*\",\"dest\":\"out.{{wildcard(1)}}\"},"
		    "\"first_seq\":100,\"metadata\":{\"owner\":\"ops\"}}", out, sizeof(out));
	ck_assert_msg(strstr(out, "\"did_create\":true") != NULL, "%s", out);
	if (harness_testing_reference()) {
		raw_close(rc);
		return;
	}
	ck_assert_msg(strstr(out, "\"first_seq\":100,\"subject_transform\":{\"src\":"
			      "\"in.*\",\"dest\":\"out.{{wildcard(1)}}\"}") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "\"metadata\":{\"owner\":\"ops\"}") != NULL, "%s", out);
	expect_answer(rc, "in.a", "x", "{\"stream\":\"T\", \"seq\":100}");
	/* Not matched by the transform's source: stored as published. */
	expect_answer(rc, "in.b.c", "y", "{\"stream\":\"T\", \"seq\":101}");
	raw_request(rc, "$JS.API.STREAM.MSG.GET.T", "{\"seq\":100}", out, sizeof(out));
	ck_assert_msg(strstr(out, "\"subject\":\"out.a\"") != NULL, "%s", out);
	raw_request(rc, "$JS.API.STREAM.MSG.GET.T", "{\"seq\":101}", out, sizeof(out));
	ck_assert_msg(strstr(out, "\"subject\":\"in.b.c\"") != NULL, "%s", out);
	expect_answer(rc, "$JS.API.STREAM.CREATE.B",
		      "{\"name\":\"B\",\"subject_transform\":{\"src\":\"b.*\","
		      "\"dest\":\"c.{{wildcard(2)}}\"}}",
		      ERR_JSON("stream_create_response", 500, 10052,
			       "stream configuration for subject transform not valid"));
	raw_close(rc);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("jetstream");
	TCase *tc = tcase_create("jetstream");

	tcase_add_checked_fixture(tc, setup_js, teardown_js);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_info_line_and_account_info);
	tcase_add_test(tc, test_stream_api_errors);
	tcase_add_test(tc, test_pub_acks_and_expectations);
	tcase_add_test(tc, test_limits_discard_new_and_rollup);
	tcase_add_test(tc, test_msg_get_delete_and_info_details);
	tcase_add_test(tc, test_republish);
	tcase_add_test(tc, test_direct_get);
	tcase_add_test(tc, test_nats_c_publish);
	tcase_add_test(tc, test_nats_c_get_list_purge);
	tcase_add_test(tc, test_restart_keeps_streams);
	tcase_add_test(tc, test_account_without_jetstream);
	tcase_add_test(tc, test_domain);
	tcase_add_test(tc, test_account_limits);
	tcase_add_test(tc, test_v210_stream_fields);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
