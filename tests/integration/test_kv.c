/*
 * test_kv.c - the JetStream key-value store through nats.c's KV API: bucket
 * creation and the stream behind it, put/get with revisions, create and
 * update with their revision checks, delete and purge markers, key history
 * within the bucket's history limit, key listing, watchers (all keys with
 * history, one key, updates only, ignoring deletes, metadata only), bucket
 * status, purging delete markers, value expiry, and opening and deleting a
 * bucket.
 *
 * Everything goes through nats.c (js_CreateKeyValue, kvStore_*, kvWatcher_*,
 * kvStatus_*) as an application uses it, plus js_GetStreamInfo on the
 * bucket's KV_<bucket> stream where nats.c 3.4 has no KV accessor (bytes,
 * the stream's configuration).  nats.c 3.4 has no UpdatesOnly watch option:
 * the updates-only check subscribes to the key's subject with the ordered
 * consumer and "deliver new" policy that option stands for.  Every
 * expectation was checked against nats-server 2.9.10 -js first.
 *
 * Each test gets its own store directory (mkdtemp) in the config; it is
 * removed at the end of the test.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 3000
/* How long a watcher must stay quiet to show nothing more is coming. */
#define QUIET_MS 300
#define NS_PER_S 1000000000LL

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

/* ---- helpers --------------------------------------------------------- */

/* One connection, its JetStream context and one bucket. */
struct kv_client {
	natsConnection *nc;
	jsCtx *js;
	kvStore *kv;
};

static void kv_client_open(struct kv_client *c)
{
	c->nc = harness_nats_connect(&srv);
	c->js = NULL;
	c->kv = NULL;
	ck_assert_int_eq(natsConnection_JetStream(&c->js, c->nc, NULL), NATS_OK);
}

static void kv_client_close(struct kv_client *c)
{
	kvStore_Destroy(c->kv);
	jsCtx_Destroy(c->js);
	natsConnection_Destroy(c->nc);
}

/* Creates bucket with the given history (0: the default of 1) and no TTL. */
static void bucket_create(struct kv_client *c, const char *bucket, uint8_t history)
{
	kvConfig kc;
	natsStatus s;
	kvConfig_Init(&kc);
	kc.Bucket = bucket;
	kc.History = history;
	s = js_CreateKeyValue(&c->kv, c->js, &kc);
	ck_assert_msg(s == NATS_OK, "js_CreateKeyValue %s: %s (%s)", bucket,
		      natsStatus_GetText(s), nats_GetLastError(NULL));
}

static uint64_t put(kvStore *kv, const char *key, const char *value)
{
	uint64_t rev = 0;
	natsStatus s = kvStore_PutString(&rev, kv, key, value);
	ck_assert_msg(s == NATS_OK, "put %s=%s: %s (%s)", key, value, natsStatus_GetText(s),
		      nats_GetLastError(NULL));
	return rev;
}

/* Fails unless e is a live entry with this key, value and revision. */
static void expect_entry(kvEntry *e, const char *bucket, const char *key,
			 const char *value, uint64_t rev, kvOperation op)
{
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(kvEntry_Bucket(e), bucket);
	ck_assert_str_eq(kvEntry_Key(e), key);
	ck_assert_uint_eq(kvEntry_Revision(e), rev);
	ck_assert_int_eq(kvEntry_Operation(e), op);
	if (value != NULL) {
		ck_assert_int_eq(kvEntry_ValueLen(e), (int)strlen(value));
		ck_assert_str_eq(kvEntry_ValueString(e), value);
	} else {
		ck_assert_int_eq(kvEntry_ValueLen(e), 0);
	}
}

/* Next watcher entry; fails the test on timeout or error (NULL is the
 * end-of-initial-values marker and is returned as such). */
static kvEntry *watch_next(kvWatcher *w)
{
	kvEntry *e = NULL;
	natsStatus s = kvWatcher_Next(&e, w, WAIT_MS);
	ck_assert_msg(s == NATS_OK, "kvWatcher_Next: %s (%s)", natsStatus_GetText(s),
		      nats_GetLastError(NULL));
	return e;
}

/* The delta of a live update (after the initial values) depends on how
 * many later messages the server had stored when it delivered, and
 * nats-server's count is approximate: not checked. */
#define LIVE UINT64_MAX

static void watch_expect_at(int line, kvWatcher *w, const char *key, const char *value,
			    uint64_t rev, kvOperation op, uint64_t delta)
{
	kvEntry *e = watch_next(w);
	ck_assert_msg(e != NULL && strcmp(kvEntry_Key(e), key) == 0 &&
		      kvEntry_Revision(e) == rev,
		      "line %d: expected %s rev %llu, got %s rev %llu", line, key,
		      (unsigned long long)rev, e ? kvEntry_Key(e) : "the marker",
		      e ? (unsigned long long)kvEntry_Revision(e) : 0ULL);
	expect_entry(e, kvEntry_Bucket(e), key, value, rev, op);
	if (delta != LIVE)
		ck_assert_uint_eq(kvEntry_Delta(e), delta);
	kvEntry_Destroy(e);
}

#define watch_expect(...) watch_expect_at(__LINE__, __VA_ARGS__)

static void watch_expect_marker(kvWatcher *w)
{
	kvEntry *e = watch_next(w);
	ck_assert_msg(e == NULL, "expected the end-of-initial-values marker, got %s rev %llu",
		      kvEntry_Key(e), (unsigned long long)kvEntry_Revision(e));
}

static void watch_expect_quiet(kvWatcher *w)
{
	kvEntry *e = NULL;
	natsStatus s = kvWatcher_Next(&e, w, QUIET_MS);
	ck_assert_msg(s == NATS_TIMEOUT, "expected nothing, got %s %s rev %llu",
		      natsStatus_GetText(s), e ? kvEntry_Key(e) : "-",
		      e ? (unsigned long long)kvEntry_Revision(e) : 0ULL);
}

static void expect_not_found(kvStore *kv, const char *key)
{
	kvEntry *e = NULL;
	ck_assert_int_eq(kvStore_Get(&e, kv, key), NATS_NOT_FOUND);
	ck_assert_ptr_null(e);
}

static jsStreamInfo *stream_info(jsCtx *js, const char *stream)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetStreamInfo(&si, js, stream, NULL, &jerr);
	ck_assert_msg(s == NATS_OK, "stream info %s: %s jerr %d", stream,
		      natsStatus_GetText(s), (int)jerr);
	return si;
}

static uint64_t status_values(kvStore *kv)
{
	kvStatus *st = NULL;
	ck_assert_int_eq(kvStore_Status(&st, kv), NATS_OK);
	uint64_t n = kvStatus_Values(st);
	kvStatus_Destroy(st);
	return n;
}

/* Fails unless the last nats.c error mentions text. */
static void expect_last_error(const char *text)
{
	const char *err = nats_GetLastError(NULL);
	ck_assert_msg(err != NULL && strstr(err, text) != NULL, "last error [%s] lacks [%s]",
		      err ? err : "(null)", text);
}

/* ---- tests ----------------------------------------------------------- */

START_TEST(test_bucket_config_and_status)
{
	struct kv_client c;
	kvConfig kc;
	kvStatus *st = NULL;
	char value[65];
	kv_client_open(&c);
	kvConfig_Init(&kc);
	kc.Bucket = "CFG";
	kc.Description = "settings";
	kc.History = 5;
	kc.TTL = 90 * NS_PER_S;
	kc.MaxValueSize = 64;
	ck_assert_int_eq(js_CreateKeyValue(&c.kv, c.js, &kc), NATS_OK);
	ck_assert_str_eq(kvStore_Bucket(c.kv), "CFG");

	/* The stream behind the bucket. */
	jsStreamInfo *si = stream_info(c.js, "KV_CFG");
	ck_assert_str_eq(si->Config->Name, "KV_CFG");
	ck_assert_str_eq(si->Config->Description, "settings");
	ck_assert_int_eq(si->Config->SubjectsLen, 1);
	ck_assert_str_eq(si->Config->Subjects[0], "$KV.CFG.>");
	ck_assert_int_eq(si->Config->MaxMsgsPerSubject, 5);
	ck_assert_int_eq(si->Config->MaxAge, 90 * NS_PER_S);
	ck_assert_int_eq(si->Config->MaxMsgSize, 64);
	ck_assert_int_eq(si->Config->MaxBytes, -1);
	ck_assert_int_eq(si->Config->MaxMsgs, -1);
	ck_assert_int_eq(si->Config->Retention, js_LimitsPolicy);
	ck_assert_int_eq(si->Config->Storage, js_FileStorage);
	ck_assert_int_eq(si->Config->Discard, js_DiscardNew);
	ck_assert_int_eq(si->Config->Replicas, 1);
	/* A TTL under the default two minutes caps the duplicate window. */
	ck_assert_int_eq(si->Config->Duplicates, 90 * NS_PER_S);
	ck_assert(si->Config->AllowRollup);
	ck_assert(si->Config->DenyDelete);
	ck_assert(!si->Config->DenyPurge);
	ck_assert(si->Config->AllowDirect);
	ck_assert_uint_eq(si->State.Msgs, 0);
	ck_assert_uint_eq(si->State.Bytes, 0);
	jsStreamInfo_Destroy(si);

	/* An empty bucket's status. */
	ck_assert_int_eq(kvStore_Status(&st, c.kv), NATS_OK);
	ck_assert_str_eq(kvStatus_Bucket(st), "CFG");
	ck_assert_uint_eq(kvStatus_Values(st), 0);
	ck_assert_int_eq(kvStatus_History(st), 5);
	ck_assert_int_eq(kvStatus_TTL(st), 90 * NS_PER_S);
	ck_assert_int_eq(kvStatus_Replicas(st), 1);
	kvStatus_Destroy(st);

	/* The maximum value size counts the value only. */
	memset(value, 'v', sizeof(value));
	ck_assert_int_eq(kvStore_Put(NULL, c.kv, "big", value, 65), NATS_ERR);
	expect_last_error("message size exceeds maximum allowed");
	uint64_t rev = 0;
	ck_assert_int_eq(kvStore_Put(&rev, c.kv, "big", value, 64), NATS_OK);
	ck_assert_uint_eq(rev, 1);
	ck_assert_uint_eq(put(c.kv, "small", "1"), 2);
	ck_assert_uint_eq(put(c.kv, "small", "2"), 3);

	ck_assert_int_eq(kvStore_Status(&st, c.kv), NATS_OK);
	ck_assert_str_eq(kvStatus_Bucket(st), "CFG");
	ck_assert_uint_eq(kvStatus_Values(st), 3);
	ck_assert_int_eq(kvStatus_History(st), 5);
	ck_assert_int_eq(kvStatus_TTL(st), 90 * NS_PER_S);
	kvStatus_Destroy(st);
	si = stream_info(c.js, "KV_CFG");
	ck_assert_uint_eq(si->State.Msgs, 3);
	ck_assert_uint_gt(si->State.Bytes, 64);
	ck_assert_uint_eq(si->State.FirstSeq, 1);
	ck_assert_uint_eq(si->State.LastSeq, 3);
	ck_assert_uint_eq(si->State.NumSubjects, 2);
	jsStreamInfo_Destroy(si);

	/* Creating it again with the same configuration is accepted. */
	kvStore *again = NULL;
	ck_assert_int_eq(js_CreateKeyValue(&again, c.js, &kc), NATS_OK);
	kvStore_Destroy(again);
	ck_assert_uint_eq(status_values(c.kv), 3);
	kv_client_close(&c);
}
END_TEST

START_TEST(test_put_get_revisions)
{
	struct kv_client c;
	kvEntry *e = NULL;
	long long now_ns = (long long)time(NULL) * NS_PER_S;
	kv_client_open(&c);
	bucket_create(&c, "B", 5);
	expect_not_found(c.kv, "a");
	ck_assert_uint_eq(put(c.kv, "a", "one"), 1);
	ck_assert_uint_eq(put(c.kv, "b.c", "x"), 2);
	ck_assert_uint_eq(put(c.kv, "a", "two"), 3);
	/* An empty value is a value, not a delete. */
	ck_assert_uint_eq(put(c.kv, "empty", ""), 4);

	ck_assert_int_eq(kvStore_Get(&e, c.kv, "a"), NATS_OK);
	expect_entry(e, "B", "a", "two", 3, kvOp_Put);
	ck_assert_uint_eq(kvEntry_Delta(e), 0);
	ck_assert_msg(kvEntry_Created(e) > now_ns - 60 * NS_PER_S &&
		      kvEntry_Created(e) < now_ns + 60 * NS_PER_S, "created %lld, now %lld",
		      (long long)kvEntry_Created(e), now_ns);
	kvEntry_Destroy(e);
	ck_assert_int_eq(kvStore_Get(&e, c.kv, "b.c"), NATS_OK);
	expect_entry(e, "B", "b.c", "x", 2, kvOp_Put);
	kvEntry_Destroy(e);
	ck_assert_int_eq(kvStore_Get(&e, c.kv, "empty"), NATS_OK);
	expect_entry(e, "B", "empty", NULL, 4, kvOp_Put);
	kvEntry_Destroy(e);

	/* A binary value comes back byte for byte. */
	const char bin[] = { 'x', 0, '\r', '\n', 'y' };
	uint64_t rev = 0;
	ck_assert_int_eq(kvStore_Put(&rev, c.kv, "bin", bin, (int)sizeof(bin)), NATS_OK);
	ck_assert_uint_eq(rev, 5);
	ck_assert_int_eq(kvStore_Get(&e, c.kv, "bin"), NATS_OK);
	ck_assert_int_eq(kvEntry_ValueLen(e), (int)sizeof(bin));
	ck_assert_mem_eq(kvEntry_Value(e), bin, sizeof(bin));
	kvEntry_Destroy(e);

	/* A specific revision of a key. */
	ck_assert_int_eq(kvStore_GetRevision(&e, c.kv, "a", 1), NATS_OK);
	expect_entry(e, "B", "a", "one", 1, kvOp_Put);
	kvEntry_Destroy(e);
	ck_assert_int_eq(kvStore_GetRevision(&e, c.kv, "a", 3), NATS_OK);
	expect_entry(e, "B", "a", "two", 3, kvOp_Put);
	kvEntry_Destroy(e);
	/* A revision of another key, or past the end, is not found. */
	e = NULL;
	ck_assert_int_eq(kvStore_GetRevision(&e, c.kv, "a", 2), NATS_NOT_FOUND);
	ck_assert_ptr_null(e);
	ck_assert_int_eq(kvStore_GetRevision(&e, c.kv, "a", 99), NATS_NOT_FOUND);
	ck_assert_int_eq(kvStore_GetRevision(&e, c.kv, "b.c", 2), NATS_OK);
	expect_entry(e, "B", "b.c", "x", 2, kvOp_Put);
	kvEntry_Destroy(e);
	expect_not_found(c.kv, "b");
	expect_not_found(c.kv, "b.c.d");
	kv_client_close(&c);
}
END_TEST

START_TEST(test_create_and_update)
{
	struct kv_client c;
	kvEntry *e = NULL;
	uint64_t rev = 0;
	kv_client_open(&c);
	bucket_create(&c, "B", 5);
	ck_assert_int_eq(kvStore_CreateString(&rev, c.kv, "k", "v1"), NATS_OK);
	ck_assert_uint_eq(rev, 1);
	/* The key exists: the server refuses the expected-last-sequence 0. */
	rev = 77;
	ck_assert_int_eq(kvStore_CreateString(&rev, c.kv, "k", "v2"), NATS_ERR);
	expect_last_error("wrong last sequence: 1");
	ck_assert_uint_eq(rev, 0);
	ck_assert_uint_eq(put(c.kv, "other", "o"), 2);

	/* Update needs the key's latest revision, not the bucket's. */
	ck_assert_int_eq(kvStore_UpdateString(&rev, c.kv, "k", "v2", 2), NATS_ERR);
	expect_last_error("wrong last sequence: 1");
	ck_assert_int_eq(kvStore_UpdateString(&rev, c.kv, "k", "v2", 0), NATS_ERR);
	expect_last_error("wrong last sequence: 1");
	ck_assert_int_eq(kvStore_UpdateString(&rev, c.kv, "k", "v2", 1), NATS_OK);
	ck_assert_uint_eq(rev, 3);
	ck_assert_int_eq(kvStore_UpdateString(&rev, c.kv, "k", "v3", 1), NATS_ERR);
	expect_last_error("wrong last sequence: 3");
	ck_assert_int_eq(kvStore_Update(&rev, c.kv, "k", "v3", 2, 3), NATS_OK);
	ck_assert_uint_eq(rev, 4);
	/* Update of a key never written expects sequence 0. */
	ck_assert_int_eq(kvStore_UpdateString(&rev, c.kv, "new", "n", 4), NATS_ERR);
	expect_last_error("wrong last sequence: 0");
	ck_assert_int_eq(kvStore_Get(&e, c.kv, "k"), NATS_OK);
	expect_entry(e, "B", "k", "v3", 4, kvOp_Put);
	kvEntry_Destroy(e);

	/* After a delete the key can be created again (over the marker). */
	ck_assert_int_eq(kvStore_Delete(c.kv, "k"), NATS_OK);
	expect_not_found(c.kv, "k");
	ck_assert_int_eq(kvStore_CreateString(&rev, c.kv, "k", "v4"), NATS_OK);
	ck_assert_uint_eq(rev, 6);
	ck_assert_int_eq(kvStore_CreateString(&rev, c.kv, "k", "v5"), NATS_ERR);
	expect_last_error("wrong last sequence: 6");
	/* And after a purge too. */
	ck_assert_int_eq(kvStore_Purge(c.kv, "k", NULL), NATS_OK);
	expect_not_found(c.kv, "k");
	ck_assert_int_eq(kvStore_CreateString(&rev, c.kv, "k", "v6"), NATS_OK);
	ck_assert_uint_eq(rev, 8);
	ck_assert_int_eq(kvStore_Get(&e, c.kv, "k"), NATS_OK);
	expect_entry(e, "B", "k", "v6", 8, kvOp_Put);
	kvEntry_Destroy(e);
	ck_assert_uint_eq(status_values(c.kv), 3);
	kv_client_close(&c);
}
END_TEST

START_TEST(test_delete_purge_and_history)
{
	struct kv_client c;
	kvEntryList hist = { 0 };
	char value[16];
	kv_client_open(&c);
	bucket_create(&c, "H", 5);
	ck_assert_int_eq(kvStore_History(&hist, c.kv, "k", NULL), NATS_NOT_FOUND);
	ck_assert_int_eq(hist.Count, 0);
	for (int i = 1; i <= 7; i++) {
		snprintf(value, sizeof(value), "v%d", i);
		ck_assert_uint_eq(put(c.kv, "k", value), (uint64_t)i);
	}
	ck_assert_uint_eq(put(c.kv, "other", "o"), 8);

	/* Only the last 5 values of the key are kept. */
	ck_assert_int_eq(kvStore_History(&hist, c.kv, "k", NULL), NATS_OK);
	ck_assert_int_eq(hist.Count, 5);
	for (int i = 0; i < 5; i++) {
		snprintf(value, sizeof(value), "v%d", i + 3);
		expect_entry(hist.Entries[i], "H", "k", value, (uint64_t)i + 3, kvOp_Put);
		ck_assert_uint_eq(kvEntry_Delta(hist.Entries[i]), (uint64_t)(4 - i));
	}
	kvEntryList_Destroy(&hist);
	ck_assert_uint_eq(status_values(c.kv), 6);

	/* A delete is a marker that counts against the history. */
	ck_assert_int_eq(kvStore_Delete(c.kv, "k"), NATS_OK);
	expect_not_found(c.kv, "k");
	ck_assert_int_eq(kvStore_History(&hist, c.kv, "k", NULL), NATS_OK);
	ck_assert_int_eq(hist.Count, 5);
	expect_entry(hist.Entries[0], "H", "k", "v4", 4, kvOp_Put);
	expect_entry(hist.Entries[3], "H", "k", "v7", 7, kvOp_Put);
	expect_entry(hist.Entries[4], "H", "k", NULL, 9, kvOp_Delete);
	kvEntryList_Destroy(&hist);
	/* The old values stay readable by revision. */
	kvEntry *e = NULL;
	ck_assert_int_eq(kvStore_GetRevision(&e, c.kv, "k", 7), NATS_OK);
	expect_entry(e, "H", "k", "v7", 7, kvOp_Put);
	kvEntry_Destroy(e);
	ck_assert_int_eq(kvStore_GetRevision(&e, c.kv, "k", 9), NATS_NOT_FOUND);

	/* History without the delete markers. */
	kvWatchOptions wo;
	kvWatchOptions_Init(&wo);
	wo.IgnoreDeletes = true;
	ck_assert_int_eq(kvStore_History(&hist, c.kv, "k", &wo), NATS_OK);
	ck_assert_int_eq(hist.Count, 4);
	expect_entry(hist.Entries[3], "H", "k", "v7", 7, kvOp_Put);
	kvEntryList_Destroy(&hist);

	/* A put after the delete, then a purge: only the purge marker stays. */
	ck_assert_uint_eq(put(c.kv, "k", "v10"), 10);
	ck_assert_uint_eq(status_values(c.kv), 6);
	ck_assert_int_eq(kvStore_Purge(c.kv, "k", NULL), NATS_OK);
	expect_not_found(c.kv, "k");
	ck_assert_int_eq(kvStore_History(&hist, c.kv, "k", NULL), NATS_OK);
	ck_assert_int_eq(hist.Count, 1);
	expect_entry(hist.Entries[0], "H", "k", NULL, 11, kvOp_Purge);
	kvEntryList_Destroy(&hist);
	ck_assert_int_eq(kvStore_GetRevision(&e, c.kv, "k", 10), NATS_NOT_FOUND);
	ck_assert_uint_eq(status_values(c.kv), 2);
	ck_assert_int_eq(kvStore_Get(&e, c.kv, "other"), NATS_OK);
	expect_entry(e, "H", "other", "o", 8, kvOp_Put);
	kvEntry_Destroy(e);

	/* Deleting a key never written still writes a marker. */
	ck_assert_int_eq(kvStore_Delete(c.kv, "ghost"), NATS_OK);
	ck_assert_int_eq(kvStore_History(&hist, c.kv, "ghost", NULL), NATS_OK);
	ck_assert_int_eq(hist.Count, 1);
	expect_entry(hist.Entries[0], "H", "ghost", NULL, 12, kvOp_Delete);
	kvEntryList_Destroy(&hist);
	kv_client_close(&c);
}
END_TEST

static bool keys_has(const kvKeysList *kl, const char *key)
{
	for (int i = 0; i < kl->Count; i++)
		if (strcmp(kl->Keys[i], key) == 0)
			return true;
	return false;
}

START_TEST(test_keys)
{
	struct kv_client c;
	kvKeysList kl = { 0 };
	kv_client_open(&c);
	bucket_create(&c, "K", 3);
	/* No keys: nats.c 3.4 answers with an empty list, not an error. */
	ck_assert_int_eq(kvStore_Keys(&kl, c.kv, NULL), NATS_OK);
	ck_assert_int_eq(kl.Count, 0);
	ck_assert_ptr_null(kl.Keys);

	put(c.kv, "a", "1");
	put(c.kv, "b.x", "2");
	put(c.kv, "a", "3");
	put(c.kv, "c", "4");
	put(c.kv, "d", "5");
	ck_assert_int_eq(kvStore_Delete(c.kv, "c"), NATS_OK);
	ck_assert_int_eq(kvStore_Purge(c.kv, "d", NULL), NATS_OK);
	ck_assert_int_eq(kvStore_Keys(&kl, c.kv, NULL), NATS_OK);
	/* Each live key once, in the order of their last revisions. */
	ck_assert_int_eq(kl.Count, 2);
	ck_assert_str_eq(kl.Keys[0], "b.x");
	ck_assert_str_eq(kl.Keys[1], "a");
	kvKeysList_Destroy(&kl);

	/* Only deleted keys: empty again. */
	ck_assert_int_eq(kvStore_Delete(c.kv, "a"), NATS_OK);
	ck_assert_int_eq(kvStore_Purge(c.kv, "b.x", NULL), NATS_OK);
	ck_assert_int_eq(kvStore_Keys(&kl, c.kv, NULL), NATS_OK);
	ck_assert_int_eq(kl.Count, 0);
	kvKeysList_Destroy(&kl);
	put(c.kv, "c", "6");
	ck_assert_int_eq(kvStore_Keys(&kl, c.kv, NULL), NATS_OK);
	ck_assert_int_eq(kl.Count, 1);
	ck_assert(keys_has(&kl, "c"));
	kvKeysList_Destroy(&kl);
	kv_client_close(&c);
}
END_TEST

START_TEST(test_watch_all)
{
	struct kv_client c;
	kvWatcher *w = NULL, *wl = NULL;
	kvWatchOptions wo;
	kv_client_open(&c);
	bucket_create(&c, "W", 5);

	/* An empty bucket: the marker comes first. */
	ck_assert_int_eq(kvStore_WatchAll(&w, c.kv, NULL), NATS_OK);
	watch_expect_marker(w);
	watch_expect_quiet(w);
	put(c.kv, "a", "1");
	watch_expect(w, "a", "1", 1, kvOp_Put, LIVE);
	kvWatcher_Destroy(w);

	put(c.kv, "b", "2");
	put(c.kv, "a", "3");

	/* With history: every value, delta counting down to the marker. */
	kvWatchOptions_Init(&wo);
	wo.IncludeHistory = true;
	ck_assert_int_eq(kvStore_WatchAll(&w, c.kv, &wo), NATS_OK);
	watch_expect(w, "a", "1", 1, kvOp_Put, 2);
	watch_expect(w, "b", "2", 2, kvOp_Put, 1);
	/* The delivery carries the time stored with the value. */
	kvEntry *e = watch_next(w), *g = NULL;
	expect_entry(e, "W", "a", "3", 3, kvOp_Put);
	ck_assert_int_eq(kvStore_GetRevision(&g, c.kv, "a", 3), NATS_OK);
	ck_assert_int_eq(kvEntry_Created(e), kvEntry_Created(g));
	kvEntry_Destroy(g);
	kvEntry_Destroy(e);
	watch_expect_marker(w);
	/* Without history: the latest value of each key. */
	ck_assert_int_eq(kvStore_WatchAll(&wl, c.kv, NULL), NATS_OK);
	watch_expect(wl, "b", "2", 2, kvOp_Put, 1);
	watch_expect(wl, "a", "3", 3, kvOp_Put, 0);
	watch_expect_marker(wl);
	watch_expect_quiet(w);

	/* Live updates reach both watchers, markers included. */
	put(c.kv, "c.d", "4");
	ck_assert_int_eq(kvStore_Delete(c.kv, "a"), NATS_OK);
	ck_assert_int_eq(kvStore_Purge(c.kv, "b", NULL), NATS_OK);
	kvWatcher *both[] = { w, wl };
	for (int i = 0; i < 2; i++) {
		watch_expect(both[i], "c.d", "4", 4, kvOp_Put, LIVE);
		watch_expect(both[i], "a", NULL, 5, kvOp_Delete, LIVE);
		watch_expect(both[i], "b", NULL, 6, kvOp_Purge, LIVE);
		watch_expect_quiet(both[i]);
	}
	kvWatcher_Destroy(wl);
	/* A stopped watcher returns no more entries. */
	ck_assert_int_eq(kvWatcher_Stop(w), NATS_OK);
	e = NULL;
	ck_assert_int_eq(kvWatcher_Next(&e, w, QUIET_MS), NATS_ILLEGAL_STATE);
	kvWatcher_Destroy(w);

	/* nats-server wakes its consumers before it applies a purge's
	 * rollup, so the watchers above can see the marker while b's value
	 * is still stored: wait until the stream holds the 5 entries left. */
	long long end = harness_now_ms() + WAIT_MS;
	uint64_t left = 0;
	do {
		jsStreamInfo *si = stream_info(c.js, "KV_W");
		left = si->State.Msgs;
		jsStreamInfo_Destroy(si);
		if (left != 5)
			harness_sleep_ms(20);
	} while (left != 5 && harness_now_ms() < end);
	ck_assert_uint_eq(left, 5);
	/* A new watcher sees the markers as the keys' latest entries; the
	 * purge rolled b's value up. */
	ck_assert_int_eq(kvStore_WatchAll(&w, c.kv, &wo), NATS_OK);
	watch_expect(w, "a", "1", 1, kvOp_Put, 4);
	watch_expect(w, "a", "3", 3, kvOp_Put, 3);
	watch_expect(w, "c.d", "4", 4, kvOp_Put, 2);
	watch_expect(w, "a", NULL, 5, kvOp_Delete, 1);
	watch_expect(w, "b", NULL, 6, kvOp_Purge, 0);
	watch_expect_marker(w);
	kvWatcher_Destroy(w);
	kv_client_close(&c);
}
END_TEST

START_TEST(test_watch_key_and_updates_only)
{
	struct kv_client c;
	kvWatcher *w = NULL;
	kvWatchOptions wo;
	natsSubscription *sub = NULL;
	natsMsg *m = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	const char *op = NULL;
	kv_client_open(&c);
	bucket_create(&c, "W", 5);
	put(c.kv, "a", "1");
	put(c.kv, "b", "2");
	put(c.kv, "a", "3");
	put(c.kv, "a.x", "4");

	/* One key: its latest value, the marker, then only its updates. */
	ck_assert_int_eq(kvStore_Watch(&w, c.kv, "a", NULL), NATS_OK);
	watch_expect(w, "a", "3", 3, kvOp_Put, 0);
	watch_expect_marker(w);
	put(c.kv, "b", "5");
	put(c.kv, "a.x", "6");
	put(c.kv, "a", "7");
	watch_expect(w, "a", "7", 7, kvOp_Put, LIVE);
	ck_assert_int_eq(kvStore_Delete(c.kv, "a"), NATS_OK);
	watch_expect(w, "a", NULL, 8, kvOp_Delete, LIVE);
	watch_expect_quiet(w);
	kvWatcher_Destroy(w);

	/* A wildcard key with history. */
	kvWatchOptions_Init(&wo);
	wo.IncludeHistory = true;
	ck_assert_int_eq(kvStore_Watch(&w, c.kv, "a.*", &wo), NATS_OK);
	watch_expect(w, "a.x", "4", 4, kvOp_Put, 1);
	watch_expect(w, "a.x", "6", 6, kvOp_Put, 0);
	watch_expect_marker(w);
	watch_expect_quiet(w);
	kvWatcher_Destroy(w);

	/* A key with no value yet: the marker at once. */
	ck_assert_int_eq(kvStore_Watch(&w, c.kv, "z", NULL), NATS_OK);
	watch_expect_marker(w);
	put(c.kv, "z", "9");
	watch_expect(w, "z", "9", 9, kvOp_Put, LIVE);
	kvWatcher_Destroy(w);

	/* Updates only: an ordered consumer on the key's subject that
	 * delivers new messages only. */
	jsSubOptions_Init(&so);
	so.Stream = "KV_W";
	so.Ordered = true;
	so.Config.DeliverPolicy = js_DeliverNew;
	ck_assert_int_eq(js_SubscribeSync(&sub, c.js, "$KV.W.b", NULL, &so, &jerr), NATS_OK);
	ck_assert_int_eq(natsSubscription_NextMsg(&m, sub, QUIET_MS), NATS_TIMEOUT);
	put(c.kv, "a", "10");
	put(c.kv, "b", "11");
	ck_assert_int_eq(natsSubscription_NextMsg(&m, sub, WAIT_MS), NATS_OK);
	ck_assert_str_eq(natsMsg_GetSubject(m), "$KV.W.b");
	ck_assert_int_eq(natsMsg_GetDataLength(m), 2);
	ck_assert_str_eq(natsMsg_GetData(m), "11");
	jsMsgMetaData *meta = NULL;
	ck_assert_int_eq(natsMsg_GetMetaData(&meta, m), NATS_OK);
	ck_assert_uint_eq(meta->Sequence.Stream, 11);
	ck_assert_uint_eq(meta->NumPending, 0);
	ck_assert_str_eq(meta->Stream, "KV_W");
	jsMsgMetaData_Destroy(meta);
	natsMsg_Destroy(m);
	ck_assert_int_eq(kvStore_Purge(c.kv, "b", NULL), NATS_OK);
	ck_assert_int_eq(natsSubscription_NextMsg(&m, sub, WAIT_MS), NATS_OK);
	ck_assert_int_eq(natsMsg_GetDataLength(m), 0);
	ck_assert_int_eq(natsMsgHeader_Get(m, "KV-Operation", &op), NATS_OK);
	ck_assert_str_eq(op, "PURGE");
	ck_assert_int_eq(natsMsgHeader_Get(m, "Nats-Rollup", &op), NATS_OK);
	ck_assert_str_eq(op, "sub");
	natsMsg_Destroy(m);
	ck_assert_int_eq(natsSubscription_NextMsg(&m, sub, QUIET_MS), NATS_TIMEOUT);
	natsSubscription_Destroy(sub);
	kv_client_close(&c);
}
END_TEST

START_TEST(test_watch_ignore_deletes_and_meta_only)
{
	struct kv_client c;
	kvWatcher *w = NULL;
	kvWatchOptions wo;
	kv_client_open(&c);
	bucket_create(&c, "W", 5);
	put(c.kv, "a", "1");
	put(c.kv, "b", "2");
	put(c.kv, "c", "3");
	ck_assert_int_eq(kvStore_Delete(c.kv, "b"), NATS_OK);
	ck_assert_int_eq(kvStore_Purge(c.kv, "c", NULL), NATS_OK);
	put(c.kv, "d", "6");

	/* Without the option the markers are the latest entries. */
	ck_assert_int_eq(kvStore_WatchAll(&w, c.kv, NULL), NATS_OK);
	watch_expect(w, "a", "1", 1, kvOp_Put, 3);
	watch_expect(w, "b", NULL, 4, kvOp_Delete, 2);
	watch_expect(w, "c", NULL, 5, kvOp_Purge, 1);
	watch_expect(w, "d", "6", 6, kvOp_Put, 0);
	watch_expect_marker(w);
	kvWatcher_Destroy(w);

	kvWatchOptions_Init(&wo);
	wo.IgnoreDeletes = true;
	ck_assert_int_eq(kvStore_WatchAll(&w, c.kv, &wo), NATS_OK);
	watch_expect(w, "a", "1", 1, kvOp_Put, 3);
	watch_expect(w, "d", "6", 6, kvOp_Put, 0);
	watch_expect_marker(w);
	ck_assert_int_eq(kvStore_Delete(c.kv, "a"), NATS_OK);
	ck_assert_int_eq(kvStore_Purge(c.kv, "d", NULL), NATS_OK);
	put(c.kv, "e", "9");
	/* The markers are skipped: the next entry is the put after them. */
	watch_expect(w, "e", "9", 9, kvOp_Put, LIVE);
	watch_expect_quiet(w);
	kvWatcher_Destroy(w);

	/* Metadata only: keys, revisions and operations without values. */
	kvWatchOptions_Init(&wo);
	wo.MetaOnly = true;
	wo.IncludeHistory = true;
	ck_assert_int_eq(kvStore_Watch(&w, c.kv, "e", &wo), NATS_OK);
	watch_expect(w, "e", NULL, 9, kvOp_Put, 0);
	watch_expect_marker(w);
	put(c.kv, "e", "ten");
	watch_expect(w, "e", NULL, 10, kvOp_Put, LIVE);
	ck_assert_int_eq(kvStore_Delete(c.kv, "e"), NATS_OK);
	watch_expect(w, "e", NULL, 11, kvOp_Delete, LIVE);
	kvWatcher_Destroy(w);
	kv_client_close(&c);
}
END_TEST

START_TEST(test_purge_deletes)
{
	struct kv_client c;
	kvEntryList hist = { 0 };
	kvKeysList kl = { 0 };
	kvPurgeOptions po;
	kvEntry *e = NULL;
	kv_client_open(&c);
	bucket_create(&c, "P", 5);
	put(c.kv, "a", "1");
	put(c.kv, "a", "2");
	put(c.kv, "b", "3");
	put(c.kv, "c", "4");
	put(c.kv, "c", "5");
	ck_assert_int_eq(kvStore_Delete(c.kv, "a"), NATS_OK);
	ck_assert_int_eq(kvStore_Delete(c.kv, "c"), NATS_OK);
	ck_assert_uint_eq(status_values(c.kv), 7);

	/* By default recent markers stay, the values under them go. */
	ck_assert_int_eq(kvStore_PurgeDeletes(c.kv, NULL), NATS_OK);
	ck_assert_uint_eq(status_values(c.kv), 3);
	ck_assert_int_eq(kvStore_History(&hist, c.kv, "a", NULL), NATS_OK);
	ck_assert_int_eq(hist.Count, 1);
	expect_entry(hist.Entries[0], "P", "a", NULL, 6, kvOp_Delete);
	kvEntryList_Destroy(&hist);
	ck_assert_int_eq(kvStore_GetRevision(&e, c.kv, "a", 2), NATS_NOT_FOUND);

	/* A negative age removes the markers too. */
	ck_assert_int_eq(kvStore_Purge(c.kv, "b", NULL), NATS_OK);
	put(c.kv, "d", "9");
	kvPurgeOptions_Init(&po);
	po.DeleteMarkersOlderThan = -1;
	ck_assert_int_eq(kvStore_PurgeDeletes(c.kv, &po), NATS_OK);
	ck_assert_uint_eq(status_values(c.kv), 1);
	ck_assert_int_eq(kvStore_History(&hist, c.kv, "a", NULL), NATS_NOT_FOUND);
	ck_assert_int_eq(kvStore_History(&hist, c.kv, "b", NULL), NATS_NOT_FOUND);
	ck_assert_int_eq(kvStore_History(&hist, c.kv, "c", NULL), NATS_NOT_FOUND);
	ck_assert_int_eq(kvStore_Keys(&kl, c.kv, NULL), NATS_OK);
	ck_assert_int_eq(kl.Count, 1);
	ck_assert_str_eq(kl.Keys[0], "d");
	kvKeysList_Destroy(&kl);
	ck_assert_int_eq(kvStore_Get(&e, c.kv, "d"), NATS_OK);
	expect_entry(e, "P", "d", "9", 9, kvOp_Put);
	kvEntry_Destroy(e);
	jsStreamInfo *si = stream_info(c.js, "KV_P");
	ck_assert_uint_eq(si->State.Msgs, 1);
	ck_assert_uint_eq(si->State.FirstSeq, 9);
	ck_assert_uint_eq(si->State.LastSeq, 9);
	ck_assert_uint_eq(si->State.NumSubjects, 1);
	jsStreamInfo_Destroy(si);
	/* Nothing left to purge: a no-op. */
	ck_assert_int_eq(kvStore_PurgeDeletes(c.kv, &po), NATS_OK);
	ck_assert_uint_eq(status_values(c.kv), 1);
	/* Keys can be created again after their markers are gone. */
	uint64_t rev = 0;
	ck_assert_int_eq(kvStore_CreateString(&rev, c.kv, "a", "new"), NATS_OK);
	ck_assert_uint_eq(rev, 10);
	kv_client_close(&c);
}
END_TEST

START_TEST(test_ttl_expiry)
{
	struct kv_client c;
	kvConfig kc;
	kvEntry *e = NULL;
	natsStatus s;
	kv_client_open(&c);
	kvConfig_Init(&kc);
	kc.Bucket = "T";
	kc.TTL = NS_PER_S;
	ck_assert_int_eq(js_CreateKeyValue(&c.kv, c.js, &kc), NATS_OK);
	long long start = harness_now_ms();
	put(c.kv, "k", "v");
	ck_assert_int_eq(kvStore_Get(&e, c.kv, "k"), NATS_OK);
	expect_entry(e, "T", "k", "v", 1, kvOp_Put);
	kvEntry_Destroy(e);
	/* Gone after the TTL, without a marker. */
	for (;;) {
		e = NULL;
		s = kvStore_Get(&e, c.kv, "k");
		kvEntry_Destroy(e);
		if (s == NATS_NOT_FOUND)
			break;
		ck_assert_int_eq(s, NATS_OK);
		ck_assert_msg(harness_now_ms() - start < 5000, "value still there after 5 s");
		harness_sleep_ms(100);
	}
	ck_assert_msg(harness_now_ms() - start >= 900, "expired after %lld ms",
		      harness_now_ms() - start);
	ck_assert_uint_eq(status_values(c.kv), 0);
	kvEntryList hist = { 0 };
	ck_assert_int_eq(kvStore_History(&hist, c.kv, "k", NULL), NATS_NOT_FOUND);
	/* The revision counter carries on. */
	ck_assert_uint_eq(put(c.kv, "k", "w"), 2);
	kv_client_close(&c);
}
END_TEST

START_TEST(test_open_and_delete_bucket)
{
	struct kv_client c, d;
	kvStore *kv = NULL;
	kvEntry *e = NULL;
	kvStatus *st = NULL;
	kv_client_open(&c);
	ck_assert_int_eq(js_KeyValue(&kv, c.js, "OPEN"), NATS_NOT_FOUND);
	ck_assert_ptr_null(kv);
	ck_assert_int_eq(js_DeleteKeyValue(c.js, "OPEN"), NATS_NOT_FOUND);
	/* Names outside A-Z a-z 0-9 _ - never reach the server. */
	ck_assert_int_eq(js_KeyValue(&kv, c.js, "bad.name"), NATS_INVALID_ARG);

	bucket_create(&c, "OPEN", 3);
	put(c.kv, "k", "v1");
	put(c.kv, "k", "v2");

	/* Another connection opens the existing bucket. */
	kv_client_open(&d);
	ck_assert_int_eq(js_KeyValue(&d.kv, d.js, "OPEN"), NATS_OK);
	ck_assert_str_eq(kvStore_Bucket(d.kv), "OPEN");
	ck_assert_int_eq(kvStore_Get(&e, d.kv, "k"), NATS_OK);
	expect_entry(e, "OPEN", "k", "v2", 2, kvOp_Put);
	kvEntry_Destroy(e);
	ck_assert_int_eq(kvStore_Status(&st, d.kv), NATS_OK);
	ck_assert_str_eq(kvStatus_Bucket(st), "OPEN");
	ck_assert_uint_eq(kvStatus_Values(st), 2);
	ck_assert_int_eq(kvStatus_History(st), 3);
	ck_assert_int_eq(kvStatus_TTL(st), 0);
	kvStatus_Destroy(st);
	uint64_t rev = 0;
	ck_assert_int_eq(kvStore_UpdateString(&rev, d.kv, "k", "v3", 2), NATS_OK);
	ck_assert_uint_eq(rev, 3);
	ck_assert_int_eq(kvStore_Get(&e, c.kv, "k"), NATS_OK);
	expect_entry(e, "OPEN", "k", "v3", 3, kvOp_Put);
	kvEntry_Destroy(e);

	/* A stream that is not a bucket's is refused as one. */
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	const char *subjects[] = { "plain.>" };
	jsStreamConfig_Init(&sc);
	sc.Name = "KV_PLAIN";
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	ck_assert_int_eq(js_AddStream(&si, c.js, &sc, NULL, &jerr), NATS_OK);
	jsStreamInfo_Destroy(si);
	ck_assert_int_eq(js_KeyValue(&kv, c.js, "PLAIN"), NATS_INVALID_ARG);
	expect_last_error("bucket not valid key-value store");

	/* Deleting the bucket deletes its stream. */
	ck_assert_int_eq(js_DeleteKeyValue(c.js, "OPEN"), NATS_OK);
	ck_assert_int_eq(js_GetStreamInfo(&si, c.js, "KV_OPEN", NULL, &jerr), NATS_NOT_FOUND);
	ck_assert_int_eq(jerr, JSStreamNotFoundErr);
	ck_assert_int_eq(js_KeyValue(&kv, c.js, "OPEN"), NATS_NOT_FOUND);
	ck_assert_int_eq(js_DeleteKeyValue(c.js, "OPEN"), NATS_NOT_FOUND);
	/* The handle left over no longer reaches a bucket. */
	ck_assert_int_eq(kvStore_Status(&st, d.kv), NATS_NOT_FOUND);
	ck_assert_int_ne(kvStore_PutString(&rev, d.kv, "k", "v4"), NATS_OK);

	/* The name can be used again, starting from scratch. */
	kvStore_Destroy(c.kv);
	c.kv = NULL;
	bucket_create(&c, "OPEN", 1);
	ck_assert_int_eq(kvStore_Get(&e, c.kv, "k"), NATS_NOT_FOUND);
	ck_assert_uint_eq(put(c.kv, "k", "again"), 1);
	ck_assert_uint_eq(status_values(c.kv), 1);
	kv_client_close(&d);
	kv_client_close(&c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kv");
	TCase *tc = tcase_create("kv");

	tcase_add_checked_fixture(tc, setup_js, teardown_js);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_bucket_config_and_status);
	tcase_add_test(tc, test_put_get_revisions);
	tcase_add_test(tc, test_create_and_update);
	tcase_add_test(tc, test_delete_purge_and_history);
	tcase_add_test(tc, test_keys);
	tcase_add_test(tc, test_watch_all);
	tcase_add_test(tc, test_watch_key_and_updates_only);
	tcase_add_test(tc, test_watch_ignore_deletes_and_meta_only);
	tcase_add_test(tc, test_purge_deletes);
	tcase_add_test(tc, test_ttl_expiry);
	tcase_add_test(tc, test_open_and_delete_bucket);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
