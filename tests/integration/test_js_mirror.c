/*
 * test_js_mirror.c - mirrors and sources on one server, through nats.c's
 * JetStream API: a mirror copies its origin with the same sequences,
 * subjects, sizes and gaps; sources aggregate several streams (with
 * filters) and stamp each copy with a Nats-Stream-Source header; the
 * upstream consumers they use stay out of the origin's consumer count;
 * a restart resumes where the copy left off without duplicates; and the
 * config errors of mirrors and sources.  Every expectation was checked
 * against nats-server 2.9.10 -js first, except those of the 2.10
 * subject_transforms, which 2.9.10 ignores (there only the creates are
 * checked).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Copies are asynchronous: how long a test waits for one. */
#define COPY_WAIT_MS 8000

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

/* ---- helpers ---------------------------------------------------------- */

static void add_stream(jsCtx *js, const char *name, const char *subject)
{
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	const char *subjects[1] = { subject };
	jsStreamConfig_Init(&cfg);
	cfg.Name = name;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	ck_assert_int_eq(js_AddStream(&si, js, &cfg, NULL, &jerr), NATS_OK);
	jsStreamInfo_Destroy(si);
}

/* Adds a stream from cfg and returns the API error code (0 = created). */
static jsErrCode try_add(jsCtx *js, jsStreamConfig *cfg)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_AddStream(&si, js, cfg, NULL, &jerr);
	jsStreamInfo_Destroy(si);
	if (s == NATS_OK)
		return 0;
	ck_assert_int_ne(jerr, 0);
	return jerr;
}

static void add_mirror(jsCtx *js, const char *name, jsStreamSource *m)
{
	jsStreamConfig cfg;
	jsStreamConfig_Init(&cfg);
	cfg.Name = name;
	cfg.Mirror = m;
	cfg.Storage = js_FileStorage;
	ck_assert_int_eq(try_add(js, &cfg), 0);
}

static void publish(jsCtx *js, const char *subject, const char *body)
{
	jsErrCode jerr = 0;
	ck_assert_int_eq(js_Publish(NULL, js, subject, body, (int)strlen(body),
				    NULL, &jerr), NATS_OK);
}

static jsStreamInfo *info(jsCtx *js, const char *stream)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	ck_assert_int_eq(js_GetStreamInfo(&si, js, stream, NULL, &jerr), NATS_OK);
	return si;
}

/* Waits until stream holds n messages; fails after COPY_WAIT_MS. */
static void wait_msgs(jsCtx *js, const char *stream, uint64_t n)
{
	long long end = harness_now_ms() + COPY_WAIT_MS;
	uint64_t have = 0;
	for (;;) {
		jsStreamInfo *si = info(js, stream);
		have = si->State.Msgs;
		jsStreamInfo_Destroy(si);
		if (have == n || harness_now_ms() > end)
			break;
		harness_sleep_ms(50);
	}
	ck_assert_msg(have == n, "stream %s has %llu messages, expected %llu",
		      stream, (unsigned long long)have, (unsigned long long)n);
}

static natsMsg *get_msg(jsCtx *js, const char *stream, uint64_t seq)
{
	natsMsg *m = NULL;
	jsErrCode jerr = 0;
	ck_assert_int_eq(js_GetMsg(&m, js, stream, seq, NULL, &jerr), NATS_OK);
	return m;
}

static void expect_msg(jsCtx *js, const char *stream, uint64_t seq,
		       const char *subject, const char *body,
		       const char *source_hdr)
{
	natsMsg *m = get_msg(js, stream, seq);
	ck_assert_str_eq(natsMsg_GetSubject(m), subject);
	ck_assert_int_eq(natsMsg_GetDataLength(m), (int)strlen(body));
	ck_assert(memcmp(natsMsg_GetData(m), body, strlen(body)) == 0);
	const char *v = NULL;
	natsStatus s = natsMsgHeader_Get(m, "Nats-Stream-Source", &v);
	if (source_hdr == NULL) {
		ck_assert_int_eq(s, NATS_NOT_FOUND);
	} else {
		ck_assert_int_eq(s, NATS_OK);
		ck_assert_str_eq(v, source_hdr);
	}
	natsMsg_Destroy(m);
}

/* A JetStream API request with a raw JSON body; the answer goes to out. */
static void api_request(natsConnection *nc, const char *subject,
			const char *body, char *out, size_t cap)
{
	natsMsg *reply = NULL;
	ck_assert_int_eq(natsConnection_RequestString(&reply, nc, subject, body,
						      5000), NATS_OK);
	snprintf(out, cap, "%.*s", natsMsg_GetDataLength(reply),
		 natsMsg_GetData(reply));
	natsMsg_Destroy(reply);
}

#define expect_in(out, text) \
	ck_assert_msg(strstr((out), (text)) != NULL, "no %s in %s", (text), (out))

/* Creates a stream from raw JSON (the answer, which must say did_create,
 * goes to out). */
static void create_raw(natsConnection *nc, const char *name, const char *json,
		       char *out, size_t cap)
{
	char subject[128];
	snprintf(subject, sizeof(subject), "$JS.API.STREAM.CREATE.%s", name);
	api_request(nc, subject, json, out, cap);
	expect_in(out, "\"did_create\":true");
}

/* The refusals of subject_transforms: nats-server 2.10's codes and
 * descriptions. */
#define TR_ERR(code, text) "\"error\":{\"code\":400,\"err_code\":" #code "," \
	"\"description\":\"" text "\"}"

static void expect_refused(natsConnection *nc, const char *json,
			   const char *error)
{
	char out[2048];
	api_request(nc, "$JS.API.STREAM.CREATE.BAD", json, out, sizeof(out));
	expect_in(out, error);
}

/* ---- tests ------------------------------------------------------------ */

START_TEST(test_mirror_copies_origin)
{
	natsConnection *nc = harness_nats_connect(&srv);
	jsCtx *js = NULL;
	jsStreamSource m;
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	add_stream(js, "ORIGIN", "o.>");
	publish(js, "o.a", "one");
	publish(js, "o.b", "two");
	publish(js, "o.a", "three");
	/* A gap: the mirror keeps the origin's sequence numbers. */
	jsErrCode jerr = 0;
	ck_assert_int_eq(js_DeleteMsg(js, "ORIGIN", 2, NULL, &jerr), NATS_OK);
	jsStreamSource_Init(&m);
	m.Name = "ORIGIN";
	add_mirror(js, "BACKUP", &m);
	wait_msgs(js, "BACKUP", 2);
	publish(js, "o.c", "four");
	wait_msgs(js, "BACKUP", 3);
	jsStreamInfo *o = info(js, "ORIGIN"), *b = info(js, "BACKUP");
	ck_assert_uint_eq(b->State.Bytes, o->State.Bytes);
	ck_assert_uint_eq(b->State.LastSeq, 4);
	ck_assert_uint_eq(b->State.FirstSeq, 1);
	ck_assert_ptr_nonnull(b->Mirror);
	ck_assert_str_eq(b->Mirror->Name, "ORIGIN");
	ck_assert_uint_eq(b->Mirror->Lag, 0);
	ck_assert_int_ge(b->Mirror->Active, 0);
	ck_assert_ptr_null(b->Mirror->External);
	ck_assert_int_eq(b->SourcesLen, 0);
	/* The mirror's upstream consumer is not one of the origin's. */
	ck_assert_int_eq(o->State.Consumers, 0);
	jsStreamInfo_Destroy(o);
	jsStreamInfo_Destroy(b);
	expect_msg(js, "BACKUP", 1, "o.a", "one", NULL);
	expect_msg(js, "BACKUP", 3, "o.a", "three", NULL);
	expect_msg(js, "BACKUP", 4, "o.c", "four", NULL);
	natsMsg *gone = NULL;
	ck_assert_int_ne(js_GetMsg(&gone, js, "BACKUP", 2, NULL, &jerr), NATS_OK);
	/* The mirror's own config keeps what was asked. */
	jsStreamInfo *again = info(js, "BACKUP");
	ck_assert_ptr_nonnull(again->Config->Mirror);
	ck_assert_str_eq(again->Config->Mirror->Name, "ORIGIN");
	ck_assert_int_eq(again->Config->SubjectsLen, 0);
	jsStreamInfo_Destroy(again);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}
END_TEST

START_TEST(test_mirror_start_seq_and_filter)
{
	natsConnection *nc = harness_nats_connect(&srv);
	jsCtx *js = NULL;
	jsStreamSource m;
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	add_stream(js, "ORIGIN", "o.>");
	for (int i = 1; i <= 5; i++)
		publish(js, i % 2 ? "o.odd" : "o.even", "x");
	jsStreamSource_Init(&m);
	m.Name = "ORIGIN";
	m.OptStartSeq = 3;
	add_mirror(js, "FROM3", &m);
	wait_msgs(js, "FROM3", 3);
	jsStreamInfo *si = info(js, "FROM3");
	ck_assert_uint_eq(si->State.FirstSeq, 3);
	ck_assert_uint_eq(si->State.LastSeq, 5);
	jsStreamInfo_Destroy(si);
	jsStreamSource_Init(&m);
	m.Name = "ORIGIN";
	m.FilterSubject = "o.even";
	add_mirror(js, "EVEN", &m);
	wait_msgs(js, "EVEN", 2);
	expect_msg(js, "EVEN", 2, "o.even", "x", NULL);
	expect_msg(js, "EVEN", 4, "o.even", "x", NULL);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}
END_TEST

START_TEST(test_sources_aggregate)
{
	natsConnection *nc = harness_nats_connect(&srv);
	jsCtx *js = NULL;
	jsStreamSource s1, s2;
	jsStreamSource *sources[2] = { &s1, &s2 };
	jsStreamConfig cfg;
	const char *subjects[1] = { "agg.>" };
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	add_stream(js, "A", "a.>");
	add_stream(js, "B", "b.>");
	publish(js, "a.1", "a-one");
	publish(js, "b.1", "b-one");
	publish(js, "b.2", "b-two");
	jsStreamSource_Init(&s1);
	s1.Name = "A";
	jsStreamSource_Init(&s2);
	s2.Name = "B";
	s2.FilterSubject = "b.2";
	jsStreamConfig_Init(&cfg);
	cfg.Name = "AGG";
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Sources = sources;
	cfg.SourcesLen = 2;
	ck_assert_int_eq(try_add(js, &cfg), 0);
	wait_msgs(js, "AGG", 2);
	publish(js, "a.2", "a-two");
	publish(js, "agg.own", "mine");
	wait_msgs(js, "AGG", 4);
	jsStreamInfo *si = info(js, "AGG");
	ck_assert_int_eq(si->SourcesLen, 2);
	ck_assert_ptr_null(si->Mirror);
	for (int i = 0; i < 2; i++) {
		const char *n = si->Sources[i]->Name;
		ck_assert(strcmp(n, "A") == 0 || strcmp(n, "B") == 0);
		ck_assert_uint_eq(si->Sources[i]->Lag, 0);
	}
	jsStreamInfo_Destroy(si);
	/* Each copy says where it came from: "<stream> <sequence>". */
	uint64_t seen_a1 = 0, seen_b2 = 0, seen_a2 = 0, seen_own = 0;
	for (uint64_t seq = 1; seq <= 4; seq++) {
		natsMsg *m = get_msg(js, "AGG", seq);
		const char *subj = natsMsg_GetSubject(m), *v = NULL;
		natsStatus hs = natsMsgHeader_Get(m, "Nats-Stream-Source", &v);
		if (strcmp(subj, "a.1") == 0) {
			ck_assert_str_eq(v, "A 1");
			seen_a1 = seq;
		} else if (strcmp(subj, "b.2") == 0) {
			ck_assert_str_eq(v, "B 2");
			seen_b2 = seq;
		} else if (strcmp(subj, "a.2") == 0) {
			ck_assert_str_eq(v, "A 2");
			seen_a2 = seq;
		} else {
			ck_assert_str_eq(subj, "agg.own");
			ck_assert_int_eq(hs, NATS_NOT_FOUND);
			seen_own = seq;
		}
		natsMsg_Destroy(m);
	}
	ck_assert(seen_a1 && seen_b2 && seen_a2 && seen_own);
	ck_assert_uint_lt(seen_a1, seen_a2);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}
END_TEST

START_TEST(test_sources_resume_after_restart)
{
	natsConnection *nc = harness_nats_connect(&srv);
	jsCtx *js = NULL;
	jsStreamSource s1;
	jsStreamSource *sources[1] = { &s1 };
	jsStreamConfig cfg;
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	add_stream(js, "A", "a.>");
	publish(js, "a.1", "1");
	publish(js, "a.2", "2");
	jsStreamSource_Init(&s1);
	s1.Name = "A";
	jsStreamConfig_Init(&cfg);
	cfg.Name = "AGG";
	cfg.Sources = sources;
	cfg.SourcesLen = 1;
	cfg.Storage = js_FileStorage;
	ck_assert_int_eq(try_add(js, &cfg), 0);
	jsStreamSource m;
	jsStreamSource_Init(&m);
	m.Name = "A";
	add_mirror(js, "M", &m);
	wait_msgs(js, "AGG", 2);
	wait_msgs(js, "M", 2);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	harness_server_stop(&srv);
	harness_js_server_start(&srv, store_dir, NULL);
	nc = harness_nats_connect(&srv);
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	publish(js, "a.3", "3");
	wait_msgs(js, "AGG", 3);
	wait_msgs(js, "M", 3);
	/* Nothing copied twice: the copy resumed after A's sequence 2. */
	harness_sleep_ms(300);
	jsStreamInfo *si = info(js, "AGG");
	ck_assert_uint_eq(si->State.Msgs, 3);
	ck_assert_uint_eq(si->State.LastSeq, 3);
	jsStreamInfo_Destroy(si);
	expect_msg(js, "AGG", 3, "a.3", "3", "A 3");
	expect_msg(js, "M", 3, "a.3", "3", NULL);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}
END_TEST

START_TEST(test_config_errors)
{
	natsConnection *nc = harness_nats_connect(&srv);
	jsCtx *js = NULL;
	jsStreamSource m, s1;
	jsStreamSource *sources[1] = { &s1 };
	jsStreamConfig cfg;
	const char *subjects[1] = { "m.>" };
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	add_stream(js, "ORIGIN", "o.>");
	jsStreamSource_Init(&m);
	m.Name = "ORIGIN";
	jsStreamSource_Init(&s1);
	s1.Name = "ORIGIN";
	/* A mirror takes no subjects and no sources. */
	jsStreamConfig_Init(&cfg);
	cfg.Name = "M";
	cfg.Mirror = &m;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	ck_assert_int_eq(try_add(js, &cfg), 10034);
	jsStreamConfig_Init(&cfg);
	cfg.Name = "M";
	cfg.Mirror = &m;
	cfg.Sources = sources;
	cfg.SourcesLen = 1;
	ck_assert_int_eq(try_add(js, &cfg), 10031);
	/* A filter that can never match the origin's subjects. */
	jsStreamSource_Init(&m);
	m.Name = "ORIGIN";
	m.FilterSubject = "x.y";
	jsStreamConfig_Init(&cfg);
	cfg.Name = "M";
	cfg.Mirror = &m;
	ck_assert_int_eq(try_add(js, &cfg), 10052);
	/* The mirror itself can not change. */
	jsStreamSource_Init(&m);
	m.Name = "ORIGIN";
	add_mirror(js, "M", &m);
	jsStreamSource m2;
	jsStreamSource_Init(&m2);
	m2.Name = "ORIGIN";
	m2.OptStartSeq = 5;
	jsStreamConfig_Init(&cfg);
	cfg.Name = "M";
	cfg.Mirror = &m2;
	cfg.Storage = js_FileStorage;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	ck_assert_int_ne(js_UpdateStream(&si, js, &cfg, NULL, &jerr), NATS_OK);
	ck_assert_int_eq(jerr, 10055);
	/* Sources that lead back to the stream itself. */
	jsStreamSource_Init(&s1);
	s1.Name = "LOOP";
	jsStreamConfig_Init(&cfg);
	cfg.Name = "LOOP";
	cfg.Sources = sources;
	cfg.SourcesLen = 1;
	ck_assert_int_eq(try_add(js, &cfg), 10052);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}
END_TEST

START_TEST(test_mirror_inherits_allow_direct)
{
	natsConnection *nc = harness_nats_connect(&srv);
	jsCtx *js = NULL;
	jsStreamConfig cfg;
	jsStreamSource m;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	const char *subjects[1] = { "o" };
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	jsStreamConfig_Init(&cfg);
	cfg.Name = "O";
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.AllowDirect = true;
	ck_assert_int_eq(try_add(js, &cfg), 0);
	jsStreamSource_Init(&m);
	m.Name = "O";
	jsStreamConfig_Init(&cfg);
	cfg.Name = "M";
	cfg.Mirror = &m;
	ck_assert_int_eq(js_AddStream(&si, js, &cfg, NULL, &jerr), NATS_OK);
	ck_assert(si->Config->MirrorDirect);
	ck_assert(!si->Config->AllowDirect);
	jsStreamInfo_Destroy(si);
	/* The same request again answers the existing mirror. */
	ck_assert_int_eq(try_add(js, &cfg), 0);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}
END_TEST

START_TEST(test_mirror_of_missing_stream_waits)
{
	natsConnection *nc = harness_nats_connect(&srv);
	jsCtx *js = NULL;
	jsStreamSource m;
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	/* The origin does not exist yet: the mirror is created and keeps
	 * trying, and copies once the origin appears. */
	jsStreamSource_Init(&m);
	m.Name = "LATER";
	add_mirror(js, "EARLY", &m);
	add_stream(js, "LATER", "later.>");
	publish(js, "later.x", "hello");
	wait_msgs(js, "EARLY", 1);
	expect_msg(js, "EARLY", 1, "later.x", "hello", NULL);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}
END_TEST

/* 2.10 subject_transforms on sources: each src picks upstream messages,
 * its dest (when given) renames the copy; what no src matches is not
 * copied, and the copying goes on past it. */
/* The rest of a Nats-Stream-Source header with subject_transforms (2.10's
 * form: the srcs, then the dests, each list joined by form feeds). */
#define ONE_KEY " o.a.* one.{{wildcard(1)}}"
#define TWO_KEY " o.a.>\fo.b.* two.>\f>"
#define BOTH_KEY_A " o.a.* A.{{wildcard(1)}}"
#define BOTH_KEY_B " o.b.* B.{{wildcard(1)}}"

/* ORIGIN (o.>) with o.a.1, o.b.1, o.c.1 and o.a.2 at sequences 1 to 4. */
static void origin_with_four(jsCtx *js)
{
	add_stream(js, "ORIGIN", "o.>");
	publish(js, "o.a.1", "a1");
	publish(js, "o.b.1", "b1");
	publish(js, "o.c.1", "c1");
	publish(js, "o.a.2", "a2");
}

START_TEST(test_source_subject_transforms)
{
	natsConnection *nc = harness_nats_connect(&srv);
	jsCtx *js = NULL;
	char out[4096];
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	origin_with_four(js);
	/* One transform: the upstream consumer filters on its src. */
	create_raw(nc, "ONE", "{\"name\":\"ONE\",\"sources\":[{\"name\":\"ORIGIN\","
		   "\"subject_transforms\":[{\"src\":\"o.a.*\","
		   "\"dest\":\"one.{{wildcard(1)}}\"}]}]}", out, sizeof(out));
	/* Two: the upstream consumer is unfiltered, the copy filters. */
	create_raw(nc, "TWO", "{\"name\":\"TWO\",\"sources\":[{\"name\":\"ORIGIN\","
		   "\"subject_transforms\":[{\"src\":\"o.a.>\",\"dest\":\"two.>\"},"
		   "{\"src\":\"o.b.*\",\"dest\":\"\"}]}]}", out, sizeof(out));
	if (harness_testing_reference())
		goto done;
	/* Encoded as the reference does, '>' as \u003e. */
	expect_in(out, "\"sources\":[{\"name\":\"ORIGIN\",\"subject_transforms\":"
		  "[{\"src\":\"o.a.\\u003e\",\"dest\":\"two.\\u003e\"},"
		  "{\"src\":\"o.b.*\",\"dest\":\"\"}]}]");
	/* The same stream sourced twice, with different transforms: each
	 * source resumes from its own copies (its own header). */
	create_raw(nc, "BOTH", "{\"name\":\"BOTH\",\"sources\":["
		   "{\"name\":\"ORIGIN\",\"subject_transforms\":[{\"src\":\"o.a.*\","
		   "\"dest\":\"A.{{wildcard(1)}}\"}]},"
		   "{\"name\":\"ORIGIN\",\"subject_transforms\":[{\"src\":\"o.b.*\","
		   "\"dest\":\"B.{{wildcard(1)}}\"}]}]}", out, sizeof(out));
	wait_msgs(js, "ONE", 2);
	expect_msg(js, "ONE", 1, "one.1", "a1", "ORIGIN 1" ONE_KEY);
	expect_msg(js, "ONE", 2, "one.2", "a2", "ORIGIN 4" ONE_KEY);
	wait_msgs(js, "TWO", 3);
	expect_msg(js, "TWO", 1, "two.1", "a1", "ORIGIN 1" TWO_KEY);
	expect_msg(js, "TWO", 2, "o.b.1", "b1", "ORIGIN 2" TWO_KEY);
	expect_msg(js, "TWO", 3, "two.2", "a2", "ORIGIN 4" TWO_KEY);
	publish(js, "o.c.2", "c2");
	publish(js, "o.b.2", "b2");
	wait_msgs(js, "TWO", 4);
	expect_msg(js, "TWO", 4, "o.b.2", "b2", "ORIGIN 6" TWO_KEY);
	wait_msgs(js, "BOTH", 4);
	harness_sleep_ms(200);
	wait_msgs(js, "ONE", 2);
	/* Stream info shows the transforms in the config and per source. */
	api_request(nc, "$JS.API.STREAM.INFO.ONE", "", out, sizeof(out));
	expect_in(out, "\"sources\":[{\"name\":\"ORIGIN\",\"subject_transforms\":"
		  "[{\"src\":\"o.a.*\",\"dest\":\"one.{{wildcard(1)}}\"}]}]");
	expect_in(out, "\"active\":");
	ck_assert_msg(strstr(strstr(out, "\"active\":"), "\"subject_transforms\"")
		      != NULL, "%s", out);
	/* The same config again is the same stream; another is not. */
	create_raw(nc, "ONE", "{\"name\":\"ONE\",\"sources\":[{\"name\":\"ORIGIN\","
		   "\"subject_transforms\":[{\"src\":\"o.a.*\","
		   "\"dest\":\"one.{{wildcard(1)}}\"}]}]}", out, sizeof(out));
	api_request(nc, "$JS.API.STREAM.CREATE.ONE", "{\"name\":\"ONE\","
		    "\"sources\":[{\"name\":\"ORIGIN\",\"subject_transforms\":"
		    "[{\"src\":\"o.a.*\",\"dest\":\"uno.{{wildcard(1)}}\"}]}]}",
		    out, sizeof(out));
	expect_in(out, "\"err_code\":10058");
	/* After a restart the transforms are still there and the copies
	 * resume where they were. */
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	harness_server_stop(&srv);
	harness_js_server_start(&srv, store_dir, NULL);
	nc = harness_nats_connect(&srv);
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	publish(js, "o.a.3", "a3");
	wait_msgs(js, "ONE", 3);
	expect_msg(js, "ONE", 3, "one.3", "a3", "ORIGIN 7" ONE_KEY);
	wait_msgs(js, "TWO", 5);
	expect_msg(js, "TWO", 5, "two.3", "a3", "ORIGIN 7" TWO_KEY);
	/* BOTH held a1 a2 b1 b2 (4); after the restart a3 and then b3 are
	 * each copied once, under their own source's header. */
	publish(js, "o.b.3", "b3");
	wait_msgs(js, "BOTH", 6);
	harness_sleep_ms(300);
	jsStreamInfo *si = NULL;
	ck_assert_int_eq(js_GetStreamInfo(&si, js, "BOTH", NULL, NULL), NATS_OK);
	ck_assert_uint_eq(si->State.Msgs, 6);
	jsStreamInfo_Destroy(si);
	expect_msg(js, "BOTH", 5, "A.3", "a3", "ORIGIN 7" BOTH_KEY_A);
	expect_msg(js, "BOTH", 6, "B.3", "b3", "ORIGIN 8" BOTH_KEY_B);
done:
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}
END_TEST

/* A mirror with subject_transforms keeps the origin's sequences: what no
 * src matches becomes a gap. */
START_TEST(test_mirror_subject_transforms)
{
	natsConnection *nc = harness_nats_connect(&srv);
	jsCtx *js = NULL;
	char out[4096];
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	origin_with_four(js);
	create_raw(nc, "M1", "{\"name\":\"M1\",\"mirror\":{\"name\":\"ORIGIN\","
		   "\"subject_transforms\":[{\"src\":\"o.a.*\","
		   "\"dest\":\"m.{{wildcard(1)}}\"}]}}", out, sizeof(out));
	create_raw(nc, "M2", "{\"name\":\"M2\",\"mirror\":{\"name\":\"ORIGIN\","
		   "\"subject_transforms\":[{\"src\":\"o.b.*\",\"dest\":\"\"},"
		   "{\"src\":\"o.c.*\",\"dest\":\"c.$1\"}]}}", out, sizeof(out));
	if (harness_testing_reference())
		goto done;
	expect_in(out, "\"mirror\":{\"name\":\"ORIGIN\",\"subject_transforms\":"
		  "[{\"src\":\"o.b.*\",\"dest\":\"\"},{\"src\":\"o.c.*\","
		  "\"dest\":\"c.$1\"}]}");
	wait_msgs(js, "M1", 2);
	expect_msg(js, "M1", 1, "m.1", "a1", NULL);
	expect_msg(js, "M1", 4, "m.2", "a2", NULL);
	wait_msgs(js, "M2", 2);
	expect_msg(js, "M2", 2, "o.b.1", "b1", NULL);
	expect_msg(js, "M2", 3, "c.1", "c1", NULL);
	publish(js, "o.a.3", "a3");
	publish(js, "o.c.2", "c2");
	wait_msgs(js, "M2", 3);
	expect_msg(js, "M2", 6, "c.2", "c2", NULL);
	jsStreamInfo *si = info(js, "M2");
	ck_assert_uint_eq(si->State.FirstSeq, 2);
	ck_assert_uint_eq(si->State.LastSeq, 6);
	jsStreamInfo_Destroy(si);
	wait_msgs(js, "M1", 3);
	si = info(js, "M1");
	ck_assert_uint_eq(si->State.LastSeq, 5);
	jsStreamInfo_Destroy(si);
	expect_msg(js, "M1", 5, "m.3", "a3", NULL);
	api_request(nc, "$JS.API.STREAM.INFO.M1", "", out, sizeof(out));
	expect_in(out, "\"mirror\":{\"name\":\"ORIGIN\",\"subject_transforms\":"
		  "[{\"src\":\"o.a.*\",\"dest\":\"m.{{wildcard(1)}}\"}]}");
	/* A mirror's transforms can not change either. */
	api_request(nc, "$JS.API.STREAM.UPDATE.M1", "{\"name\":\"M1\",\"mirror\":"
		    "{\"name\":\"ORIGIN\",\"subject_transforms\":[{\"src\":"
		    "\"o.a.*\",\"dest\":\"n.{{wildcard(1)}}\"}]}}", out,
		    sizeof(out));
	expect_in(out, "\"err_code\":10055");
done:
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}
END_TEST

/* The refusals of subject_transforms (2.9.10 accepts all of these, as it
 * ignores the field). */
START_TEST(test_subject_transforms_errors)
{
	natsConnection *nc = harness_nats_connect(&srv);
	char out[2048];
	if (harness_testing_reference()) {
		create_raw(nc, "BAD", "{\"name\":\"BAD\",\"mirror\":{\"name\":"
			   "\"O\",\"filter_subject\":\"o.a\",\"subject_transforms\":"
			   "[{\"src\":\"o.>\",\"dest\":\"m.>\"}]}}", out,
			   sizeof(out));
		natsConnection_Destroy(nc);
		return;
	}
	expect_refused(nc, "{\"name\":\"BAD\",\"sources\":[{\"name\":\"O\","
		       "\"filter_subject\":\"o.a\",\"subject_transforms\":"
		       "[{\"src\":\"o.a\",\"dest\":\"x\"}]}]}",
		       TR_ERR(10144, "source with multiple subject transforms cannot "
			      "also have a single subject filter"));
	expect_refused(nc, "{\"name\":\"BAD\",\"mirror\":{\"name\":\"O\","
		       "\"filter_subject\":\"o.a\",\"subject_transforms\":"
		       "[{\"src\":\"o.>\",\"dest\":\"m.>\"}]}}",
		       TR_ERR(10150, "mirror with multiple subject transforms cannot "
			      "also have a single subject filter"));
	expect_refused(nc, "{\"name\":\"BAD\",\"sources\":[{\"name\":\"O\","
		       "\"subject_transforms\":[{\"src\":\"o..a\",\"dest\":\"\"}]}]}",
		       TR_ERR(10145, "source transform source: invalid subject o..a"));
	expect_refused(nc, "{\"name\":\"BAD\",\"mirror\":{\"name\":\"O\","
		       "\"subject_transforms\":[{\"src\":\"o.>.a\",\"dest\":\"\"}]}}",
		       TR_ERR(10151, "mirror transform source: invalid subject "
			      "o.\\u003e.a"));
	expect_refused(nc, "{\"name\":\"BAD\",\"sources\":[{\"name\":\"O\","
		       "\"subject_transforms\":[{\"src\":\"o.*\","
		       "\"dest\":\"x.{{nope(1)}}\"}]}]}",
		       TR_ERR(10146, "source transform: invalid mapping destination: "
			      "unknown function in {{nope(1)}}"));
	expect_refused(nc, "{\"name\":\"BAD\",\"mirror\":{\"name\":\"O\","
		       "\"subject_transforms\":[{\"src\":\"o.>\",\"dest\":\"m.>.x\"}]}}",
		       TR_ERR(10154, "mirror transform: invalid mapping destination: "
			      "invalid subject in x"));
	/* A '>' in the source needs one in the destination. */
	expect_refused(nc, "{\"name\":\"BAD\",\"sources\":[{\"name\":\"O\","
		       "\"subject_transforms\":[{\"src\":\"o.>\",\"dest\":\"x\"}]}]}",
		       TR_ERR(10146, "source transform: invalid subject"));
	expect_refused(nc, "{\"name\":\"BAD\",\"sources\":[{\"name\":\"O\","
		       "\"subject_transforms\":[{\"src\":\"o.a.*\",\"dest\":\"\"},"
		       "{\"src\":\"o.a.b\",\"dest\":\"x\"}]}]}",
		       TR_ERR(10147, "source filters can not overlap"));
	expect_refused(nc, "{\"name\":\"BAD\",\"sources\":[{\"name\":\"O\","
		       "\"subject_transforms\":[{\"src\":\"o.a\",\"dest\":\"x\"},"
		       "{\"src\":\"o.a\",\"dest\":\"y\"}]}]}",
		       TR_ERR(10147, "source filters can not overlap"));
	/* A source only refuses a src inside another; a mirror any two that
	 * can match one subject. */
	expect_refused(nc, "{\"name\":\"BAD\",\"mirror\":{\"name\":\"O\","
		       "\"subject_transforms\":[{\"src\":\"o.*.b\",\"dest\":\"\"},"
		       "{\"src\":\"o.a.*\",\"dest\":\"\"}]}}",
		       TR_ERR(10152, "mirror subject filters can not overlap"));
	create_raw(nc, "OK", "{\"name\":\"OK\",\"sources\":[{\"name\":\"O\","
		   "\"subject_transforms\":[{\"src\":\"o.*.b\",\"dest\":\"\"},"
		   "{\"src\":\"o.a.*\",\"dest\":\"\"}]}]}", out, sizeof(out));
	/* Not an array of objects: invalid JSON. */
	expect_refused(nc, "{\"name\":\"BAD\",\"sources\":[{\"name\":\"O\","
		       "\"subject_transforms\":[\"o.a\"]}]}",
		       "\"err_code\":10025");
	natsConnection_Destroy(nc);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("js_mirror");
	TCase *tc = tcase_create("js_mirror");

	tcase_add_checked_fixture(tc, setup_js, teardown_js);
	tcase_set_timeout(tc, 40);
	tcase_add_test(tc, test_mirror_copies_origin);
	tcase_add_test(tc, test_mirror_start_seq_and_filter);
	tcase_add_test(tc, test_sources_aggregate);
	tcase_add_test(tc, test_sources_resume_after_restart);
	tcase_add_test(tc, test_config_errors);
	tcase_add_test(tc, test_mirror_of_missing_stream_waits);
	tcase_add_test(tc, test_mirror_inherits_allow_direct);
	tcase_add_test(tc, test_source_subject_transforms);
	tcase_add_test(tc, test_mirror_subject_transforms);
	tcase_add_test(tc, test_subject_transforms_errors);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
