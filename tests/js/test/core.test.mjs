// core.test.mjs - core NATS through both generations of nats.js.
//
// One server per client generation (started in before(), stopped in
// after(), which also fails if the server died).  Ordering used throughout:
// a subscriber's messages arrive before the PONG that completes its flush(),
// so after publisher.flush() and subscriber.flush() the counts are exact.
// Every expectation was checked against nats-server 2.9.10.

import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";

import { startServer } from "../lib/server.mjs";
import { generations } from "../lib/clients.mjs";

const T = { timeout: 20000 };

for (const g of generations) {
  describe(`core ${g.name}`, () => {
    let server;
    let open = [];
    const conn = async (opts) => {
      const nc = await g.connect(server, opts);
      open.push(nc);
      return nc;
    };

    before(async () => {
      server = await startServer();
    });
    // Each test closes what it opened, so no subscription leaks into the next.
    afterEach(async () => {
      await Promise.allSettled(open.filter((nc) => !nc.isClosed()).map((nc) => nc.close()));
      open = [];
    });
    after(async () => {
      await server.stop();
    });

    it("connects, flushes and closes cleanly", T, async () => {
      const nc = await conn();
      assert.equal(nc.info.max_payload, 1048576);
      assert.equal(nc.info.proto, 1);
      assert.equal(nc.info.headers, true);
      assert.equal(typeof nc.info.server_id, "string");
      await nc.flush();
      const rtt = await nc.rtt();
      assert.ok(rtt >= 0);
      assert.equal(nc.isClosed(), false);
      const closed = nc.closed();
      await nc.close();
      assert.equal(await closed, undefined); // no error: a clean close
      assert.equal(nc.isClosed(), true);
    });

    it("matches wildcards like the server's subject rules", T, async () => {
      const subs = ["w.*", "w.>", "w.a", "w.*.c", ">"];
      const cases = [
        ["w.a", ["w.*", "w.>", "w.a", ">"]],
        ["w.a.c", ["w.>", "w.*.c", ">"]],
        ["w.b", ["w.*", "w.>", ">"]],
        ["w", [">"]], // w.> does not match w
        ["x.a.c", [">"]],
      ];
      const sc = await conn();
      const pc = await conn();
      const got = Object.fromEntries(subs.map((s) => [s, []]));
      for (const s of subs) {
        sc.subscribe(s, { callback: (err, m) => got[s].push(m.subject) });
      }
      await sc.flush();
      for (const [subject] of cases) pc.publish(subject, subject);
      await pc.flush();
      await sc.flush();
      for (const s of subs) {
        const want = cases.filter(([, rx]) => rx.includes(s)).map(([subject]) => subject);
        assert.deepEqual(got[s], want, `subscription ${s}`);
      }
    });

    it("delivers each message to one queue member and every plain subscriber", T, async () => {
      const a = await conn();
      const b = await conn();
      const pub = await conn();
      const n = { q1: 0, q2: 0, plain: 0 };
      a.subscribe("q.work", { queue: "workers", callback: () => n.q1++ });
      b.subscribe("q.work", { queue: "workers", callback: () => n.q2++ });
      a.subscribe("q.work", { callback: () => n.plain++ });
      await a.flush();
      await b.flush();
      for (let i = 0; i < 200; i++) pub.publish("q.work", String(i));
      await pub.flush();
      await a.flush();
      await b.flush();
      assert.equal(n.plain, 200);
      assert.equal(n.q1 + n.q2, 200);
      assert.ok(n.q1 > 0 && n.q2 > 0, `both members used: ${JSON.stringify(n)}`);
    });

    it("does request/reply, with the shared inbox and without", T, async () => {
      const svc = await conn();
      const nc = await conn();
      const replies = [];
      svc.subscribe("svc.echo", {
        callback: (err, m) => {
          replies.push(m.reply);
          m.respond(`re:${m.string()}`);
        },
      });
      await svc.flush();

      // Default: one wildcard subscription _INBOX.<id>.* for all requests.
      assert.equal((await nc.request("svc.echo", "one", { timeout: 2000 })).string(), "re:one");
      assert.equal((await nc.request("svc.echo", "two", { timeout: 2000 })).string(), "re:two");
      const [r1, r2] = replies.map((r) => r.split("."));
      assert.equal(r1.length, 3, `mux reply subject ${replies[0]}`);
      assert.equal(r1[0], "_INBOX");
      assert.deepEqual(r1.slice(0, 2), r2.slice(0, 2), "requests share the mux inbox");
      assert.notEqual(r1[2], r2[2]);

      // noMux: a fresh inbox subscription per request.
      const m = await nc.request("svc.echo", "three", { timeout: 2000, noMux: true });
      assert.equal(m.string(), "re:three");
      const r3 = replies[2].split(".");
      assert.equal(r3.length, 2, `noMux reply subject ${replies[2]}`);
      assert.notEqual(r3[1], r1[1]);
    });

    it("round-trips headers on publish, request and reply", T, async () => {
      const nc = await conn();
      const seen = [];
      nc.subscribe("h.data", { callback: (err, m) => seen.push(m) });
      nc.subscribe("h.svc", {
        callback: (err, m) => {
          const h = g.headers();
          h.set("X-Echo", m.headers.get("X-Req"));
          m.respond("", { headers: h });
        },
      });
      const h = g.headers();
      h.set("X-Single", "v 1");
      h.append("X-Multi", "a");
      h.append("X-Multi", "b");
      nc.publish("h.data", "payload", { headers: h });
      nc.publish("h.data", "", { headers: h }); // headers only
      await nc.flush();
      assert.equal(seen.length, 2);
      for (const [i, m] of seen.entries()) {
        assert.ok(m.headers, `message ${i} has headers`);
        assert.equal(m.headers.get("X-Single"), "v 1");
        assert.deepEqual(m.headers.values("X-Multi"), ["a", "b"]);
      }
      assert.equal(seen[0].string(), "payload");
      assert.equal(seen[1].data.length, 0);

      const rh = g.headers();
      rh.set("X-Req", "42");
      const reply = await nc.request("h.svc", "q", { timeout: 2000, headers: rh });
      assert.equal(reply.headers.get("X-Echo"), "42");
      assert.equal(reply.data.length, 0);
    });

    it("fails a request with no subscriber as no-responders", T, async () => {
      const nc = await conn();
      for (const noMux of [false, true]) {
        const t0 = Date.now();
        await assert.rejects(
          nc.request("nobody.home", "x", { timeout: 5000, noMux }),
          (err) => g.isNoResponders(err) || assert.fail(`noMux=${noMux}: ${err}`),
        );
        // A timeout would take the full 5 s; no-responders comes back at once.
        assert.ok(Date.now() - t0 < 4000, "no-responders, not a timeout");
      }
    });

    it("unsubscribes after N messages", T, async () => {
      const sc = await conn();
      const pc = await conn();
      let a = 0;
      let b = 0;
      const subA = sc.subscribe("u.a", { callback: () => a++ });
      subA.unsubscribe(3);
      const subB = sc.subscribe("u.b", { max: 2, callback: () => b++ });
      await sc.flush();
      for (let i = 0; i < 10; i++) {
        pc.publish("u.a", "x");
        pc.publish("u.b", "y");
      }
      await pc.flush();
      await sc.flush();
      assert.equal(a, 3);
      assert.equal(b, 2);
      assert.equal(subA.getReceived(), 3);
      assert.equal(subB.getReceived(), 2);
      assert.equal(subA.isClosed(), true);
      assert.equal(subB.isClosed(), true);
    });

    it("drains: every message in flight is processed, then the connection closes", T,
      async () => {
        const sc = await conn();
        const pc = await conn();
        let n = 0;
        sc.subscribe("d.x", {
          callback: () => {
            n++;
          },
        });
        await sc.flush();
        for (let i = 0; i < 1000; i++) pc.publish("d.x", String(i));
        await pc.flush();
        await sc.drain();
        assert.equal(n, 1000);
        assert.equal(sc.isClosed(), true);
        assert.throws(() => sc.publish("d.x", "late"));
      });

    it("answers 500 concurrent requests", T, async () => {
      const svc = await conn();
      const nc = await conn();
      svc.subscribe("svc.many", { callback: (err, m) => m.respond(`re:${m.string()}`) });
      await svc.flush();
      const replies = await Promise.all(
        Array.from({ length: 500 },
          (_, i) => nc.request("svc.many", String(i), { timeout: 10000 })),
      );
      replies.forEach((m, i) => assert.equal(m.string(), `re:${i}`));
    });

    it("carries a payload of exactly max_payload bytes", T, async () => {
      const sc = await conn();
      const pc = await conn();
      const max = pc.info.max_payload;
      const data = new Uint8Array(max);
      for (let i = 0; i < max; i++) data[i] = (i * 7 + 3) % 251;
      const got = [];
      sc.subscribe("big", { callback: (err, m) => got.push(m.data) });
      await sc.flush();
      pc.publish("big", data);
      pc.publish("big", data.subarray(0, max - 1));
      await pc.flush();
      await sc.flush();
      assert.equal(got.length, 2);
      assert.equal(got[0].length, max);
      assert.ok(Buffer.from(got[0]).equals(Buffer.from(data)), "payload intact");
      assert.equal(got[1].length, max - 1);
    });
  });
}
