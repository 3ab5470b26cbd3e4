// auth.test.mjs - user/password in a config with two accounts, through both
// generations of nats.js.  Accounts A and B share subject names but not
// messages.  Checked against nats-server 2.9.10.

import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";

import { startServer } from "../lib/server.mjs";
import { generations } from "../lib/clients.mjs";

const T = { timeout: 20000 };
const CONFIG = `
accounts {
  A { users: [ { user: a, password: pa } ] }
  B { users: [ { user: b, password: pb } ] }
}
`;

for (const g of generations) {
  describe(`accounts ${g.name}`, () => {
    let server;
    let open = [];
    const conn = async (opts) => {
      const nc = await g.connect(server, opts);
      open.push(nc);
      return nc;
    };

    before(async () => {
      server = await startServer(CONFIG);
    });
    // Each test closes what it opened, so no subscription leaks into the next.
    afterEach(async () => {
      await Promise.allSettled(open.filter((nc) => !nc.isClosed()).map((nc) => nc.close()));
      open = [];
    });
    after(async () => {
      await server.stop();
    });

    it("keeps accounts apart", T, async () => {
      const a = await conn({ user: "a", pass: "pa" });
      const a2 = await conn({ user: "a", pass: "pa" });
      const b = await conn({ user: "b", pass: "pb" });
      assert.equal(a.info.auth_required, true);
      const got = { a2: [], b: [] };
      a2.subscribe("shared", { callback: (err, m) => got.a2.push(m.string()) });
      b.subscribe("shared", { callback: (err, m) => got.b.push(m.string()) });
      await a2.flush();
      await b.flush();
      a.publish("shared", "from-a");
      b.publish("shared", "from-b");
      await a.flush();
      await b.flush();
      await a2.flush();
      assert.deepEqual(got.a2, ["from-a"]);
      assert.deepEqual(got.b, ["from-b"]);

      // Request/reply stays inside the account too.
      b.subscribe("svc", { callback: (err, m) => m.respond("b") });
      await b.flush();
      await assert.rejects(a.request("svc", "", { timeout: 3000 }), (err) =>
        g.isNoResponders(err) || assert.fail(String(err)));
      assert.equal((await b.request("svc", "", { timeout: 3000 })).string(), "b");
    });

    it("refuses a wrong password and missing credentials", T, async () => {
      await assert.rejects(g.connect(server, { user: "a", pass: "pb" }), (err) =>
        g.isAuthError(err) || assert.fail(String(err)));
      await assert.rejects(g.connect(server, { user: "nobody", pass: "x" }), (err) =>
        g.isAuthError(err) || assert.fail(String(err)));
      await assert.rejects(g.connect(server), (err) =>
        g.isAuthError(err) || assert.fail(String(err)));
    });
  });
}
