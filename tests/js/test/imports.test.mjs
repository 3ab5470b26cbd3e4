// imports.test.mjs - cross-account traffic through exports and imports, with
// both generations of nats.js.  Their request() uses one wildcard inbox
// subscription for all requests by default, so the reply of a service
// import must find its way back through the mapped reply subject.  Also a
// stream import with a prefix, and a service import answered by several
// requests in flight at once.  Checked against nats-server 2.9.10.

import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";

import { startServer } from "../lib/server.mjs";
import { generations } from "../lib/clients.mjs";

const T = { timeout: 20000 };
const CONFIG = `
accounts {
  SVC {
    users: [ { user: svc, password: svc } ]
    exports: [
      { service: "time.>" }
      { stream: "feed.>" }
    ]
  }
  APP {
    users: [ { user: app, password: app } ]
    imports: [
      { service: { account: SVC, subject: "time.>" } }
      { service: { account: SVC, subject: "time.utc" }, to: "clock" }
      { stream: { account: SVC, subject: "feed.>" }, prefix: "in" }
    ]
  }
  OTHER { users: [ { user: other, password: other } ] }
}
`;

for (const g of generations) {
  describe(`imports ${g.name}`, () => {
    let server;
    let open = [];
    const conn = async (user) => {
      const nc = await g.connect(server, { user, pass: user });
      open.push(nc);
      return nc;
    };

    before(async () => {
      server = await startServer(CONFIG);
    });
    afterEach(async () => {
      await Promise.allSettled(open.filter((nc) => !nc.isClosed()).map((nc) => nc.close()));
      open = [];
    });
    after(async () => {
      await server.stop();
    });

    it("answers a request through a service import (shared inbox)", T, async () => {
      const svc = await conn("svc");
      const app = await conn("app");
      const seen = [];
      svc.subscribe("time.>", {
        callback: (err, m) => {
          seen.push(m.subject);
          m.respond(`${m.subject}:${m.string()}`);
        },
      });
      await svc.flush();
      const r = await app.request("time.utc", "q1", { timeout: 3000 });
      assert.equal(r.string(), "time.utc:q1");
      // The renamed import reaches the exporter under the exported name.
      const r2 = await app.request("clock", "q2", { timeout: 3000 });
      assert.equal(r2.string(), "time.utc:q2");
      // Many requests in flight at once share the one inbox subscription.
      const many = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          app.request(`time.zone.${i}`, `${i}`, { timeout: 5000 })),
      );
      many.forEach((m, i) => assert.equal(m.string(), `time.zone.${i}:${i}`));
      assert.equal(seen.length, 52);
    });

    it("delivers a stream import under its prefix, and nowhere else", T, async () => {
      const svc = await conn("svc");
      const app = await conn("app");
      const other = await conn("other");
      const got = { app: [], other: [] };
      app.subscribe("in.feed.>", { callback: (err, m) => got.app.push(`${m.subject}=${m.string()}`) });
      other.subscribe(">", { callback: (err, m) => got.other.push(m.subject) });
      await app.flush();
      await other.flush();
      svc.publish("feed.a", "1");
      svc.publish("feed.b.c", "2");
      svc.publish("notexported", "3");
      await svc.flush();
      await app.flush();
      await other.flush();
      assert.deepEqual(got.app, ["in.feed.a=1", "in.feed.b.c=2"]);
      assert.deepEqual(got.other, []);
    });

    it("does not answer a request for a service that is not imported", T, async () => {
      const svc = await conn("svc");
      const other = await conn("other");
      svc.subscribe("time.>", { callback: (err, m) => m.respond("x") });
      await svc.flush();
      await assert.rejects(other.request("time.utc", "", { timeout: 3000 }), (err) =>
        g.isNoResponders(err) || assert.fail(String(err)));
    });
  });
}
