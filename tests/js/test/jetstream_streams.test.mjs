// jetstream_streams.test.mjs - streams through the v3 JetStream package
// (@nats-io/jetstream) on a server with JetStream enabled: the manager's
// streams.add/info/list/names/purge/delete, js.publish with a message id
// and expectations, stored-message get/delete, and direct get.  Each
// expectation was checked against nats-server 2.9.10 -js first.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";

import { startJetStreamServer } from "../lib/server.mjs";
import { collect } from "../lib/iter.mjs";

const T = { timeout: 20000 };

describe("jetstream v3 streams", () => {
  let server;
  let nc;

  before(async () => {
    server = await startJetStreamServer();
    nc = await connect({ servers: server.url, reconnect: false, timeout: 5000 });
  });
  after(async () => {
    await nc?.close();
    await server.stop();
  });

  it("creates a stream with the server's defaults", T, async () => {
    const jsm = await jetstreamManager(nc);
    const si = await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
    assert.equal(si.config.name, "ORDERS");
    assert.equal(si.config.max_msgs, -1);
    assert.equal(si.config.max_msg_size, -1);
    assert.equal(si.config.duplicate_window, 120_000_000_000);
    assert.equal(si.config.storage, "file");
    assert.equal(si.state.messages, 0);
    const account = await jsm.getAccountInfo();
    assert.equal(account.streams, 1);
    await assert.rejects(
      jsm.streams.add({ name: "OTHER", subjects: ["orders.1"] }),
      (err) => err.code === 10065 || assert.fail(String(err)),
    );
  });

  it("publishes with a message id and expectations", T, async () => {
    const js = jetstream(nc);
    let pa = await js.publish("orders.1", "one");
    assert.equal(pa.stream, "ORDERS");
    assert.equal(pa.seq, 1);
    pa = await js.publish("orders.2", "two", { msgID: "abc" });
    assert.equal(pa.seq, 2);
    assert.equal(pa.duplicate, false);
    pa = await js.publish("orders.2", "two", { msgID: "abc" });
    assert.equal(pa.seq, 2);
    assert.equal(pa.duplicate, true);
    await assert.rejects(
      js.publish("orders.3", "x", { expect: { lastSequence: 1 } }),
      (err) => /wrong last sequence: 2/.test(err.message) || assert.fail(String(err)),
    );
    await assert.rejects(
      js.publish("orders.3", "x", { expect: { streamName: "NOPE" } }),
      (err) => /expected stream does not match/.test(err.message) || assert.fail(String(err)),
    );
    pa = await js.publish("orders.3", "three", {
      expect: { lastSequence: 2, lastSubjectSequence: 0, lastMsgID: "abc" },
    });
    assert.equal(pa.seq, 3);
  });

  it("gets, deletes and purges stored messages", T, async () => {
    const jsm = await jetstreamManager(nc);
    let sm = await jsm.streams.getMessage("ORDERS", { seq: 1 });
    assert.equal(sm.subject, "orders.1");
    assert.equal(sm.string(), "one");
    sm = await jsm.streams.getMessage("ORDERS", { last_by_subj: "orders.2" });
    assert.equal(sm.seq, 2);
    assert.equal(sm.header.get("Nats-Msg-Id"), "abc");
    assert.equal(await jsm.streams.deleteMessage("ORDERS", 1), true);
    assert.equal(await jsm.streams.getMessage("ORDERS", { seq: 1 }), null);
    let si = await jsm.streams.info("ORDERS", { subjects_filter: ">" });
    assert.equal(si.state.messages, 2);
    assert.equal(si.state.first_seq, 2);
    assert.deepEqual(si.state.subjects, { "orders.2": 1, "orders.3": 1 });
    const pr = await jsm.streams.purge("ORDERS", { filter: "orders.2" });
    assert.equal(pr.purged, 1);
    si = await jsm.streams.info("ORDERS");
    assert.equal(si.state.messages, 1);
  });

  it("lists streams and their names", T, async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "B", subjects: ["b.>"], storage: "memory" });
    const names = await collect(jsm.streams.names());
    assert.deepEqual(names, ["B", "ORDERS"]);
    const filtered = await collect(jsm.streams.names("b.x"));
    assert.deepEqual(filtered, ["B"]);
    const infos = await collect(jsm.streams.list());
    assert.deepEqual(infos.map((si) => si.config.name), ["B", "ORDERS"]);
    assert.equal(infos[0].config.storage, "memory");
  });

  it("answers direct gets when the stream allows them", T, async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "D", subjects: ["d.>"], allow_direct: true });
    const js = jetstream(nc);
    await js.publish("d.x", "first");
    await js.publish("d.x", "second");
    let dm = await jsm.direct.getMessage("D", { last_by_subj: "d.x" });
    assert.equal(dm.seq, 2);
    assert.equal(dm.string(), "second");
    assert.equal(dm.stream, "D");
    dm = await jsm.direct.getMessage("D", { seq: 1 });
    assert.equal(dm.string(), "first");
    assert.equal(await jsm.direct.getMessage("D", { seq: 9 }), null);
  });

  it("deletes a stream", T, async () => {
    const jsm = await jetstreamManager(nc);
    assert.equal(await jsm.streams.delete("B"), true);
    await assert.rejects(
      jsm.streams.info("B"),
      (err) => err.code === 10059 ||
        assert.fail(String(err)),
    );
  });
});
