// kv.test.mjs - the v3 key-value store (@nats-io/kv) on a server with
// JetStream enabled: bucket creation and status, put/get with revisions and
// operations, create and update with their last-subject-sequence checks,
// delete and purge markers, key history, keys() with and without a filter,
// watchers (last values, full history, updates only, key filter), listing,
// opening and destroying buckets.  Each expectation was checked against
// nats-server 2.9.10 -js first.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm, KvWatchInclude } from "@nats-io/kv";

import { startJetStreamServer } from "../lib/server.mjs";
import { collect, reader } from "../lib/iter.mjs";

const T = { timeout: 20000 };

// A compact view of watch/history entries: "key:OP:value@revision".
const view = (entries) =>
  entries.map((e) => `${e.key}:${e.operation}:${e.string()}@${e.revision}`);

// A watcher reader whose timeout message shows the entries as view does.
const watchReader = (iter) => reader(iter, (entries) => JSON.stringify(view(entries)));

const isCode = (code) => (err) =>
  err?.code === code || assert.fail(`expected API error ${code}, got ${err}`);

describe("kv v3 (@nats-io/kv)", () => {
  let server;
  let nc;
  let kvm;
  let kv;

  before(async () => {
    server = await startJetStreamServer();
    nc = await connect({ servers: server.url, reconnect: false, timeout: 5000 });
    kvm = new Kvm(nc);
  });
  after(async () => {
    await nc?.close();
    await server.stop();
  });

  it("creates a bucket and reports its status", T, async () => {
    kv = await kvm.create("CFG", {
      history: 5,
      ttl: 60_000,
      maxValueSize: 1024,
      max_bytes: 1024 * 1024,
      description: "settings",
    });
    const st = await kv.status();
    assert.equal(st.bucket, "CFG");
    assert.equal(st.values, 0);
    assert.equal(st.history, 5);
    assert.equal(st.ttl, 60_000);
    assert.equal(st.maxValueSize, 1024);
    assert.equal(st.max_bytes, 1024 * 1024);
    assert.equal(st.description, "settings");
    assert.equal(st.backingStore, "file");
    assert.equal(st.storage, "file");
    assert.equal(st.replicas, 1);
    assert.equal(st.size, 0);
    assert.equal(st.markerTTL, 0);
    assert.equal(st.compression, false);
    const cfg = st.streamInfo.config;
    assert.equal(cfg.name, "KV_CFG");
    assert.deepEqual(cfg.subjects, ["$KV.CFG.>"]);
    assert.equal(cfg.max_msgs_per_subject, 5);
    assert.equal(cfg.max_age, 60_000_000_000);
    assert.equal(cfg.max_msg_size, 1024);
    assert.equal(cfg.discard, "new");
    assert.equal(cfg.allow_rollup_hdrs, true);
    assert.equal(cfg.allow_direct, true);
    assert.equal(cfg.deny_delete, false);
    assert.equal(cfg.deny_purge, false);
    assert.equal(cfg.retention, "limits");

    // Creating it again opens the existing bucket unchanged.
    const again = await kvm.create("CFG", { history: 2 });
    assert.equal((await again.status()).history, 5);
  });

  it("puts and gets values with revisions", T, async () => {
    const t0 = Date.now();
    assert.equal(await kv.put("app.name", "one"), 1);
    assert.equal(await kv.put("app.name", "two"), 2);
    assert.equal(await kv.put("app.port", "4222"), 3);

    let e = await kv.get("app.name");
    assert.equal(e.bucket, "CFG");
    assert.equal(e.key, "app.name");
    assert.equal(e.string(), "two");
    assert.equal(e.revision, 2);
    assert.equal(e.operation, "PUT");
    assert.equal(e.length, 3);
    assert.ok(e.created instanceof Date);
    assert.ok(Math.abs(e.created.getTime() - t0) < 10_000, `created ${e.created.toISOString()}`);

    e = await kv.get("app.name", { revision: 1 });
    assert.equal(e.string(), "one");
    assert.equal(e.revision, 1);
    // A revision holding another key is no entry of this key.
    assert.equal(await kv.get("app.name", { revision: 3 }), null);
    assert.equal(await kv.get("app.missing"), null);

    // Binary and JSON values round-trip.
    await kv.put("bin", new Uint8Array([0, 1, 2, 255]));
    assert.deepEqual([...(await kv.get("bin")).value], [0, 1, 2, 255]);
    await kv.put("json", JSON.stringify({ a: 1, b: [true] }));
    assert.deepEqual((await kv.get("json")).json(), { a: 1, b: [true] });

    // Values larger than maxValueSize are refused by the server.
    await assert.rejects(kv.put("big", new Uint8Array(2000)), isCode(10054));
    assert.equal(await kv.get("big"), null);

    // Keys are validated by the client.
    await assert.rejects(kv.put("bad key", "x"), /invalid key/);
  });

  it("creates only missing or deleted keys", T, async () => {
    const r1 = await kv.create("lock", "owner-1");
    assert.equal(r1, 6);
    await assert.rejects(kv.create("lock", "owner-2"), isCode(10071));
    assert.equal((await kv.get("lock")).string(), "owner-1");

    await kv.delete("lock");
    let e = await kv.get("lock");
    assert.equal(e.operation, "DEL");
    assert.equal(e.revision, 7);
    assert.equal(e.length, 0);
    assert.equal(await kv.create("lock", "owner-2"), 8);

    await kv.purge("lock");
    e = await kv.get("lock");
    assert.equal(e.operation, "PURGE");
    assert.equal(e.revision, 9);
    assert.equal(await kv.create("lock", "owner-3"), 10);
    assert.equal((await kv.get("lock")).string(), "owner-3");
  });

  it("updates only at the expected revision", T, async () => {
    const rev = (await kv.get("app.port")).revision;
    assert.equal(rev, 3);
    await assert.rejects(
      kv.update("app.port", "1", rev - 1),
      (err) => (err.code === 10071 && /wrong last sequence: 3/.test(err.message)) ||
        assert.fail(String(err)),
    );
    const next = await kv.update("app.port", "4223", rev);
    assert.equal(next, 11);
    await assert.rejects(kv.update("app.port", "4224", rev), isCode(10071));
    // put with previousSeq is the same check.
    await assert.rejects(kv.put("app.port", "x", { previousSeq: 1 }), isCode(10071));
    assert.equal(await kv.put("app.port", "4224", { previousSeq: 11 }), 12);
    assert.equal((await kv.get("app.port")).string(), "4224");
  });

  it("keeps the history of a key up to the bucket's limit", T, async () => {
    for (let i = 3; i <= 7; i++) await kv.put("app.name", `v${i}`);
    // history 5: the two oldest of seven values are gone.
    const h = await collect(await kv.history({ key: "app.name" }));
    assert.deepEqual(view(h), [
      "app.name:PUT:v3@13",
      "app.name:PUT:v4@14",
      "app.name:PUT:v5@15",
      "app.name:PUT:v6@16",
      "app.name:PUT:v7@17",
    ]);
    assert.equal(await kv.get("app.name", { revision: 2 }), null);
    assert.equal((await kv.get("app.name", { revision: 13 })).string(), "v3");

    // A delete is one more entry; a purge leaves only its marker.
    await kv.delete("app.name");
    let hist = view(await collect(await kv.history({ key: "app.name" })));
    assert.deepEqual(hist.slice(-2), ["app.name:PUT:v7@17", "app.name:DEL:@18"]);
    assert.equal(hist.length, 5);
    await kv.purge("app.name");
    hist = view(await collect(await kv.history({ key: "app.name" })));
    assert.deepEqual(hist, ["app.name:PURGE:@19"]);

    // History of a key never written is empty.
    assert.deepEqual(await collect(await kv.history({ key: "nothing" })), []);
  });

  it("lists keys, with and without a filter", T, async () => {
    // app.name is purged, lock was deleted then re-created.
    const all = (await collect(await kv.keys())).sort();
    assert.deepEqual(all, ["app.port", "bin", "json", "lock"]);
    assert.deepEqual(await collect(await kv.keys("app.>")), ["app.port"]);
    assert.deepEqual(await collect(await kv.keys("app.*")), ["app.port"]);
    assert.deepEqual(await collect(await kv.keys("nope.>")), []);
    await kv.delete("bin");
    assert.deepEqual((await collect(await kv.keys())).sort(), ["app.port", "json", "lock"]);
    const st = await kv.status();
    assert.equal(st.values, st.streamInfo.state.messages);
    assert.equal(st.streamInfo.state.last_seq, 20);
  });

  it("watches last values, then updates, in order", T, async () => {
    const w = await kvm.create("W", { history: 10 });
    await w.put("a", "1");
    await w.put("b", "1");
    await w.put("a", "2");
    await w.delete("b");

    const iter = watchReader(await w.watch());
    let got = await iter.take(2);
    assert.deepEqual(view(got), ["a:PUT:2@3", "b:DEL:@4"]);
    assert.deepEqual(got.map((e) => e.isUpdate), [false, true]);
    assert.deepEqual(got.map((e) => e.delta), [1, 0]);

    // A purge is a rollup, a filtered purge of the stream: nats-server
    // 2.9.10 moves every consumer whose filter matches the purged subject
    // past the entries it has not delivered yet.  So each purge waits
    // until the watcher has seen everything before it.
    await w.put("c", "1");
    got = await iter.take(1);
    await w.purge("a");
    got.push(...(await iter.take(1)));
    await w.put("b", "3");
    got.push(...(await iter.take(1)));
    assert.deepEqual(view(got), ["c:PUT:1@5", "a:PURGE:@6", "b:PUT:3@7"]);
    assert.ok(got.every((e) => e.isUpdate));
    iter.stop();
  });

  it("watches the whole history", T, async () => {
    const w = await kvm.open("W");
    const iter = watchReader(await w.watch({ include: KvWatchInclude.AllHistory }));
    // The purge of "a" removed its earlier values.
    const got = await iter.take(5);
    assert.deepEqual(view(got), [
      "b:PUT:1@2",
      "b:DEL:@4",
      "c:PUT:1@5",
      "a:PURGE:@6",
      "b:PUT:3@7",
    ]);
    await w.put("d", "1");
    assert.deepEqual(view(await iter.take(1)), ["d:PUT:1@8"]);
    iter.stop();
  });

  it("watches updates only, and ignores deletes on request", T, async () => {
    const w = await kvm.open("W");
    const iter = watchReader(await w.watch({ include: KvWatchInclude.UpdatesOnly }));
    const quiet = watchReader(await w.watch({ include: KvWatchInclude.UpdatesOnly, ignoreDeletes: true }));
    await w.put("e", "1");
    await w.delete("e");
    const got = await iter.take(2);
    const gotQuiet = await quiet.take(1);
    // (the purge waits for the watchers, see above)
    await w.purge("c");
    await w.put("e", "2");
    got.push(...(await iter.take(2)));
    assert.deepEqual(view(got), ["e:PUT:1@9", "e:DEL:@10", "c:PURGE:@11", "e:PUT:2@12"]);
    assert.ok(got.every((e) => e.isUpdate));
    // ignoreDeletes drops DEL only, purges still show.
    gotQuiet.push(...(await quiet.take(2)));
    assert.deepEqual(view(gotQuiet), ["e:PUT:1@9", "c:PURGE:@11", "e:PUT:2@12"]);
    await nc.flush();
    assert.deepEqual(view(iter.extra()), []);
    assert.deepEqual(view(quiet.extra()), []);
    iter.stop();
    quiet.stop();
  });

  it("watches a key filter", T, async () => {
    const w = await kvm.create("F", { history: 3 });
    await w.put("user.1.name", "ann");
    await w.put("user.2.name", "bob");
    await w.put("group.1", "admins");
    await w.put("user.1.name", "anne");

    const iter = watchReader(await w.watch({ key: "user.*.name" }));
    assert.deepEqual(view(await iter.take(2)), ["user.2.name:PUT:bob@2", "user.1.name:PUT:anne@4"]);
    await w.put("group.2", "users");
    await w.delete("user.2.name");
    await w.put("user.3.name", "cid");
    assert.deepEqual(view(await iter.take(2)), ["user.2.name:DEL:@6", "user.3.name:PUT:cid@7"]);
    iter.stop();

    const one = watchReader(await w.watch({ key: "group.1", include: KvWatchInclude.AllHistory }));
    assert.deepEqual(view(await one.take(1)), ["group.1:PUT:admins@3"]);
    one.stop();

    const hist = await collect(await w.history({ key: "user.>" }));
    assert.deepEqual(view(hist), [
      "user.1.name:PUT:ann@1",
      "user.2.name:PUT:bob@2",
      "user.1.name:PUT:anne@4",
      "user.2.name:DEL:@6",
      "user.3.name:PUT:cid@7",
    ]);
  });

  it("watches an empty bucket and sees the first writes", T, async () => {
    const w = await kvm.create("E", { storage: "memory" });
    const iter = watchReader(await w.watch());
    // history 1: the second put removes the first value, possibly before
    // the watcher got it, so the watcher is read in between.
    await w.put("x", "1");
    const got = await iter.take(1);
    await w.put("x", "2");
    got.push(...(await iter.take(1)));
    assert.deepEqual(view(got), ["x:PUT:1@1", "x:PUT:2@2"]);
    assert.ok(got.every((e) => e.isUpdate));
    iter.stop();
    const st = await w.status();
    assert.equal(st.backingStore, "memory");
    assert.equal(st.history, 1);
    assert.equal(st.ttl, 0);
    assert.equal(st.values, 1);
  });

  it("opens an existing bucket by name", T, async () => {
    const cfg = await kvm.open("CFG");
    assert.equal((await cfg.get("app.port")).string(), "4224");
    assert.equal((await cfg.status()).history, 5);
    assert.equal(await cfg.put("app.port", "5000"), 21);
    assert.equal((await kv.get("app.port")).string(), "5000");
    // Opening does not create: a missing bucket fails on first use.
    const missing = await kvm.open("MISSING");
    await assert.rejects(missing.status(), isCode(10059));
    await assert.rejects(missing.put("k", "v"), (err) => err != null);
  });

  it("lists and destroys buckets", T, async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "PLAIN", subjects: ["plain.>"] });
    const list = await collect(kvm.list());
    assert.deepEqual(list.map((s) => s.bucket).sort(), ["CFG", "E", "F", "W"]);
    const cfg = list.find((s) => s.bucket === "CFG");
    assert.equal(cfg.history, 5);
    assert.equal(cfg.ttl, 60_000);
    assert.equal(cfg.values, cfg.streamInfo.state.messages);

    const e = await kvm.open("E");
    assert.equal(await e.destroy(), true);
    await assert.rejects(e.status(), isCode(10059));
    assert.deepEqual((await collect(kvm.list())).map((s) => s.bucket).sort(), ["CFG", "F", "W"]);
    assert.deepEqual(await collect(jsm.streams.names()), ["KV_CFG", "KV_F", "KV_W", "PLAIN"]);
  });
});
