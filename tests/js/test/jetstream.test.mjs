// jetstream.test.mjs - the v3 JetStream package on a server started without
// JetStream: only core behaviour is tested for now.  Its API requests go to
// $JS.API.>, nobody answers, and the no-responders status makes the client
// report JetStream as not enabled instead of waiting for a timeout.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";

import { startServer } from "../lib/server.mjs";

const T = { timeout: 20000 };

describe("jetstream v3 (@nats-io/jetstream) without JetStream", () => {
  let server;
  let nc;

  before(async () => {
    server = await startServer();
    nc = await connect({ servers: server.url, reconnect: false, timeout: 5000 });
  });
  after(async () => {
    await nc?.close();
    await server.stop();
  });

  it("reports JetStream as not enabled, without a timeout", T, async () => {
    const notEnabled = (err) => err?.name === "JetStreamNotEnabled" || assert.fail(String(err));
    const t0 = Date.now();
    await assert.rejects(jetstreamManager(nc, { timeout: 5000 }), notEnabled);
    await assert.rejects(jetstream(nc, { timeout: 5000 }).publish("js.x", "x"), notEnabled);
    assert.ok(Date.now() - t0 < 4000, "answered by no-responders, not by the 5 s timeout");
    // The connection is still usable for core traffic.
    await nc.flush();
  });
});
