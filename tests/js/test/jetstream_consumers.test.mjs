// jetstream_consumers.test.mjs - consumers through the v3 JetStream package
// (@nats-io/jetstream): the manager's consumers.add/info/list/delete, pull
// consumers with fetch, next and consume, the ack kinds (ack, nak, term,
// working) and redelivery after ack_wait, and the ordered consumer (an
// ephemeral push consumer with flow control and heartbeats).  Each
// expectation was checked against nats-server 2.9.10 -js first.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";

import { startJetStreamServer } from "../lib/server.mjs";
import { collect } from "../lib/iter.mjs";

const T = { timeout: 30000 };

describe("jetstream v3 consumers", () => {
  let server;
  let nc;
  let jsm;
  let js;

  before(async () => {
    server = await startJetStreamServer();
    nc = await connect({ servers: server.url, reconnect: false, timeout: 5000 });
    jsm = await jetstreamManager(nc);
    js = jetstream(nc);
    await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
    for (let i = 0; i < 5; i++) await js.publish(`orders.${i % 2}`, `m${i}`);
  });
  after(async () => {
    await nc?.close();
    await server.stop();
  });

  it("adds, lists, describes and deletes consumers", T, async () => {
    const ci = await jsm.consumers.add("ORDERS", {
      durable_name: "D1",
      ack_policy: AckPolicy.Explicit,
      filter_subject: "orders.1",
    });
    assert.equal(ci.name, "D1");
    assert.equal(ci.config.durable_name, "D1");
    assert.equal(ci.config.ack_wait, 30_000_000_000);
    assert.equal(ci.config.max_deliver, -1);
    assert.equal(ci.config.max_ack_pending, 1000);
    assert.equal(ci.config.max_waiting, 512);
    assert.equal(ci.num_pending, 2);
    const named = await jsm.consumers.add("ORDERS", {
      name: "N1",
      ack_policy: AckPolicy.None,
    });
    assert.equal(named.config.inactive_threshold, 5_000_000_000);
    const list = await collect(await jsm.consumers.list("ORDERS"));
    assert.deepEqual(list.map((c) => c.name), ["D1", "N1"]);
    const si = await jsm.streams.info("ORDERS");
    assert.equal(si.state.consumer_count, 2);
    assert.equal((await jsm.getAccountInfo()).consumers, 2);
    assert.equal(await jsm.consumers.delete("ORDERS", "N1"), true);
    await assert.rejects(jsm.consumers.info("ORDERS", "N1"),
      (err) => /consumer not found/.test(String(err)) || assert.fail(String(err)));
    await assert.rejects(
      jsm.consumers.add("ORDERS", {
        durable_name: "BAD",
        ack_policy: AckPolicy.Explicit,
        flow_control: true,
      }),
      (err) => /heartbeat|push/.test(String(err)) || assert.fail(String(err)),
    );
  });

  it("fetches, acks and redelivers after a nak", T, async () => {
    await jsm.consumers.add("ORDERS", {
      durable_name: "P1",
      ack_policy: AckPolicy.Explicit,
    });
    const c = await js.consumers.get("ORDERS", "P1");
    const iter = await c.fetch({ max_messages: 3, expires: 2000 });
    const got = [];
    for await (const m of iter) {
      got.push([m.subject, m.seq, m.string()]);
      if (m.seq === 2) m.nak();
      else m.ack();
    }
    assert.deepEqual(got, [["orders.0", 1, "m0"], ["orders.1", 2, "m1"],
      ["orders.0", 3, "m2"]]);
    // nats-server queues acks for its consumer goroutine: give the nak
    // time to land before the next pull, or it may serve seq 4 first.
    await nc.flush();
    await new Promise((r) => setTimeout(r, 200));
    const m = await c.next({ expires: 2000 });
    assert.ok(m);
    assert.equal(m.seq, 2);
    assert.equal(m.redelivered, true);
    assert.equal(m.info.deliveryCount, 2);
    m.term();
    await nc.flush();
    await new Promise((r) => setTimeout(r, 200)); // see the nak above
    const info = await c.info();
    assert.equal(info.delivered.stream_seq, 3);
    assert.equal(info.ack_floor.stream_seq, 3);
    assert.equal(info.num_ack_pending, 0);
    assert.equal(info.num_pending, 2);
  });

  it("redelivers after ack_wait and honours working", T, async () => {
    await jsm.consumers.add("ORDERS", {
      durable_name: "W1",
      ack_policy: AckPolicy.Explicit,
      ack_wait: 1_000_000_000,
      filter_subject: "orders.0",
    });
    const c = await js.consumers.get("ORDERS", "W1");
    const first = await c.next({ expires: 2000 });
    assert.equal(first.seq, 1);
    // working() keeps the message ours past the first ack wait.
    await new Promise((r) => setTimeout(r, 600));
    first.working();
    await new Promise((r) => setTimeout(r, 600));
    let info = await c.info();
    assert.equal(info.num_redelivered, 0);
    assert.equal(info.num_ack_pending, 1);
    // The next one comes at once, the unacked one after its ack wait.
    const iter = await c.fetch({ max_messages: 3, expires: 3000 });
    const got = [];
    for await (const m of iter) {
      got.push([m.seq, m.info.deliveryCount]);
      await m.ackAck();
    }
    assert.deepEqual(got, [[3, 1], [5, 1], [1, 2]]);
    info = await c.info();
    assert.equal(info.num_ack_pending, 0);
    assert.equal(info.num_redelivered, 0);
    assert.equal(info.delivered.consumer_seq, 4);
  });

  it("consumes continuously", T, async () => {
    await jsm.consumers.add("ORDERS", {
      durable_name: "C1",
      ack_policy: AckPolicy.Explicit,
    });
    const c = await js.consumers.get("ORDERS", "C1");
    const msgs = await c.consume({ max_messages: 2 });
    const seen = [];
    const done = (async () => {
      for await (const m of msgs) {
        seen.push(m.seq);
        m.ack();
        if (seen.length === 7) break;
      }
    })();
    await js.publish("orders.7", "late1");
    await js.publish("orders.8", "late2");
    await done;
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7]);
  });

  it("delivers through an ordered consumer", T, async () => {
    const c = await js.consumers.get("ORDERS", {
      filter_subjects: "orders.1",
      deliver_policy: DeliverPolicy.All,
    });
    const iter = await c.fetch({ max_messages: 2, expires: 3000 });
    const got = [];
    for await (const m of iter) got.push([m.subject, m.seq]);
    assert.deepEqual(got, [["orders.1", 2], ["orders.1", 4]]);
  });
});
