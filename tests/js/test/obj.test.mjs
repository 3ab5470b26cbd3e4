// obj.test.mjs - the v3 object store (@nats-io/obj) on a server with
// JetStream enabled: store creation and status, multi-chunk and empty
// objects with their SHA-256 digests, info/list, replacing and deleting
// objects, watchers, links to objects (in the same and another store) and
// to stores, sealing and destroying a store.  Each expectation was checked
// against nats-server 2.9.10 -js first.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { connect, headers } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";

import { startJetStreamServer } from "../lib/server.mjs";
import { reader } from "../lib/iter.mjs";

const T = { timeout: 20000 };

const CHUNK = 16 * 1024;
const SIZE = 300 * 1024;

// Deterministic test data.
function bytes(n, seed = 7) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >> 8)) & 0xff;
  return b;
}

// The digest the client stores: "SHA-256=" and the base64url (padded) hash.
const digestOf = (b) => `SHA-256=${createHash("sha256").update(b).digest("base64url")}=`;

async function readAll(rs) {
  const parts = [];
  for await (const c of rs) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

describe("object store v3 (@nats-io/obj)", () => {
  let server;
  let nc;
  let objm;
  let os;
  const data = bytes(SIZE);

  before(async () => {
    server = await startJetStreamServer();
    nc = await connect({ servers: server.url, reconnect: false, timeout: 5000 });
    objm = new Objm(nc);
  });
  after(async () => {
    await nc?.close();
    await server.stop();
  });

  it("creates a store and reports its status", T, async () => {
    os = await objm.create("files", { description: "test files" });
    const st = await os.status();
    assert.equal(st.bucket, "files");
    assert.equal(st.description, "test files");
    assert.equal(st.storage, "file");
    assert.equal(st.backingStore, "JetStream");
    assert.equal(st.replicas, 1);
    assert.equal(st.sealed, false);
    assert.equal(st.size, 0);
    assert.equal(st.ttl, 0);
    assert.equal(st.compression, false);
    const cfg = st.streamInfo.config;
    assert.equal(cfg.name, "OBJ_files");
    assert.deepEqual(cfg.subjects, ["$O.files.C.>", "$O.files.M.>"]);
    assert.equal(cfg.discard, "new");
    assert.equal(cfg.allow_rollup_hdrs, true);
    assert.equal(cfg.allow_direct, true);
    assert.equal(cfg.max_age, 0);
    assert.equal(st.streamInfo.state.messages, 0);
  });

  it("puts a multi-chunk object and gets it back", T, async () => {
    const h = headers();
    h.set("Content-Type", "application/octet-stream");
    const info = await os.putBlob(
      { name: "data.bin", description: "300 KB", headers: h, options: { max_chunk_size: CHUNK } },
      data,
    );
    assert.equal(info.name, "data.bin");
    assert.equal(info.bucket, "files");
    assert.equal(info.size, SIZE);
    assert.equal(info.chunks, Math.ceil(SIZE / CHUNK));
    assert.equal(info.chunks, 19);
    assert.equal(info.digest, digestOf(data));
    assert.equal(info.deleted, false);
    assert.equal(info.revision, 20); // 19 chunks, then the meta message
    assert.match(info.nuid, /^[A-Za-z0-9]{22}$/);

    const got = await os.getBlob("data.bin");
    assert.equal(got.length, SIZE);
    assert.ok(Buffer.from(got).equals(Buffer.from(data)), "object bytes differ");

    const r = await os.get("data.bin");
    assert.equal(r.info.size, SIZE);
    assert.equal(r.info.digest, digestOf(data));
    assert.equal(r.info.headers.get("Content-Type"), "application/octet-stream");
    const streamed = await readAll(r.data);
    assert.equal(await r.error, undefined);
    assert.ok(Buffer.from(streamed).equals(Buffer.from(data)), "streamed bytes differ");

    const st = await os.status();
    assert.equal(st.streamInfo.state.messages, 20);
    assert.ok(st.size > SIZE, `store size ${st.size}`);
  });

  it("stores an empty object", T, async () => {
    const info = await os.putBlob({ name: "empty" }, new Uint8Array(0));
    assert.equal(info.size, 0);
    assert.equal(info.chunks, 0);
    assert.equal(info.digest, "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=");
    assert.equal(info.revision, 21);
    const got = await os.getBlob("empty");
    assert.equal(got.length, 0);
    const i = await os.info("empty");
    assert.equal(i.size, 0);
    assert.equal(i.chunks, 0);
    assert.equal(i.options.max_chunk_size, 128 * 1024);
  });

  it("describes and lists objects", T, async () => {
    const info = await os.info("data.bin");
    assert.equal(info.name, "data.bin");
    assert.equal(info.description, "300 KB");
    assert.equal(info.size, SIZE);
    assert.equal(info.chunks, 19);
    assert.equal(info.revision, 20);
    assert.equal(info.digest, digestOf(data));
    assert.equal(info.options.max_chunk_size, CHUNK);
    assert.equal(info.isLink(), false);
    assert.ok(Math.abs(Date.parse(info.mtime) - Date.now()) < 10_000, info.mtime);
    assert.equal(await os.info("nothing"), null);
    assert.equal(await os.get("nothing"), null);

    const list = await os.list();
    assert.deepEqual(list.map((i) => i.name).sort(), ["data.bin", "empty"]);
    assert.deepEqual(list.map((i) => i.size).sort((a, b) => a - b), [0, SIZE]);
  });

  it("replaces an object and drops the old chunks", T, async () => {
    const small = bytes(1000, 3);
    const info = await os.putBlob({ name: "data.bin", options: { max_chunk_size: CHUNK } }, small);
    assert.equal(info.size, 1000);
    assert.equal(info.chunks, 1);
    assert.equal(info.revision, 23);
    assert.deepEqual([...(await os.getBlob("data.bin"))], [...small]);
    const st = await os.status();
    // The old meta is rolled up, the old chunks purged: 1 chunk + 2 metas.
    assert.equal(st.streamInfo.state.messages, 3);
    assert.ok(st.size < 2000, `store size ${st.size}`);
    // Put it back for the following tests.
    const again = await os.putBlob({ name: "data.bin", options: { max_chunk_size: CHUNK } }, data);
    assert.equal(again.revision, 43);
  });

  it("deletes an object", T, async () => {
    await os.putBlob({ name: "tmp" }, bytes(10));
    const pr = await os.delete("tmp");
    assert.equal(pr.success, true);
    assert.equal(pr.purged, 1);
    assert.equal(await os.get("tmp"), null);
    assert.equal(await os.getBlob("tmp"), null);
    const info = await os.info("tmp");
    assert.equal(info.deleted, true);
    assert.equal(info.size, 0);
    assert.equal(info.chunks, 0);
    assert.equal(info.digest, "");
    assert.deepEqual((await os.list()).map((i) => i.name).sort(), ["data.bin", "empty"]);
    const missing = await os.delete("never");
    assert.deepEqual({ ...missing }, { purged: 0, success: false });
  });

  it("watches puts and deletes", T, async () => {
    const w = reader(await os.watch());
    const all = reader(await os.watch({ includeHistory: true }));
    // With history: the last meta of each object, deleted ones included.
    const hist = await all.take(3);
    assert.deepEqual(
      hist.map((i) => `${i.name}:${i.deleted}:${i.isUpdate}`).sort(),
      ["data.bin:false:false", "empty:false:false", "tmp:true:true"],
    );

    // Every meta message is a rollup (a filtered purge of the stream), and
    // nats-server 2.9.10 moves every watcher past the entries it has not
    // delivered yet on a purge, so each write waits for the watchers.
    const seen = [[], []];
    const step = async (write) => {
      await write();
      for (const [i, r] of [w, all].entries()) seen[i].push(...(await r.take(1)));
    };
    await step(() => os.putBlob({ name: "w1" }, bytes(5)));
    await step(() => os.delete("w1"));
    await step(() => os.putBlob({ name: "w2" }, bytes(6)));
    for (const got of seen) {
      assert.deepEqual(
        got.map((i) => `${i.name}:${i.size}:${i.deleted}:${i.isUpdate}`),
        ["w1:5:false:true", "w1:0:true:true", "w2:6:false:true"],
      );
      assert.equal(got[0].bucket, "files");
      assert.equal(got[0].digest, digestOf(bytes(5)));
    }
    await nc.flush();
    assert.deepEqual(w.extra(), []);
    w.stop();
    all.stop();

    const quiet = reader(await os.watch({ includeHistory: true, ignoreDeletes: true }));
    const got = await quiet.take(3);
    assert.deepEqual(got.map((i) => i.name).sort(), ["data.bin", "empty", "w2"]);
    quiet.stop();
  });

  it("links to objects and stores", T, async () => {
    const src = await os.info("data.bin");
    const link = await os.link("alias.bin", src);
    assert.equal(link.name, "alias.bin");
    assert.equal(link.isLink(), true);
    assert.deepEqual({ ...link.options.link }, { bucket: "files", name: "data.bin" });
    assert.ok(Buffer.from(await os.getBlob("alias.bin")).equals(Buffer.from(data)));
    await assert.rejects(os.link("alias.bin", src), /already exists/);
    await assert.rejects(os.link("alias2", link), /src object is a link/);

    // A link to an object of another store.
    const other = await objm.create("other", { storage: "memory" });
    const remote = await other.putBlob({ name: "remote.txt" }, new TextEncoder().encode("far away"));
    assert.equal(remote.bucket, "other");
    const rl = await os.link("remote-link", remote);
    assert.deepEqual({ ...rl.options.link }, { bucket: "other", name: "remote.txt" });
    assert.equal(new TextDecoder().decode(await os.getBlob("remote-link")), "far away");

    // A link to a whole store.
    const sl = await os.linkStore("other-store", other);
    assert.equal(sl.name, "other-store");
    assert.deepEqual({ ...sl.options.link }, { bucket: "other" });
    const si = await os.info("other-store");
    assert.equal(si.isLink(), true);
    await assert.rejects(os.get("other-store"), /link is a bucket/);

    assert.deepEqual(
      (await os.list()).map((i) => i.name).sort(),
      ["alias.bin", "data.bin", "empty", "other-store", "remote-link", "w2"],
    );
  });

  it("seals a store", T, async () => {
    const other = await objm.open("other");
    const st = await other.seal();
    assert.equal(st.sealed, true);
    assert.equal(st.bucket, "other");
    assert.equal(st.storage, "memory");
    assert.equal((await other.status()).sealed, true);
    assert.equal(st.streamInfo.config.sealed, true);
    await assert.rejects(other.putBlob({ name: "more" }, bytes(3)));
    await assert.rejects(other.delete("remote.txt"));
    // Reads still work.
    assert.equal(new TextDecoder().decode(await other.getBlob("remote.txt")), "far away");
  });

  it("lists and destroys stores", T, async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "PLAIN", subjects: ["plain.>"] });
    const stores = [];
    for await (const s of objm.list()) stores.push(s);
    assert.deepEqual(stores.map((s) => s.bucket).sort(), ["files", "other"]);
    assert.deepEqual(stores.map((s) => s.sealed).sort(), [false, true]);

    const other = await objm.open("other");
    assert.equal(await other.destroy(), true);
    await assert.rejects(other.status(), /object store not found/);
    await assert.rejects(objm.open("other"), /object store not found/);
    const names = [];
    for await (const s of objm.list()) names.push(s.bucket);
    assert.deepEqual(names, ["files"]);
    const streams = [];
    for await (const n of jsm.streams.names()) streams.push(n);
    assert.deepEqual(streams, ["OBJ_files", "PLAIN"]);
  });
});
