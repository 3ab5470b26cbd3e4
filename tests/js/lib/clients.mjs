// clients.mjs - the two generations of nats.js behind one small interface,
// so each test is written once and run with both.
//
//   v2: the classic "nats" package (2.x)
//   v3: "@nats-io/transport-node" (3.x; core API re-exported from nats-core)
//
// Both accept string payloads and give msg.string(); what differs is how
// errors are reported, which the helpers below normalise.

import * as v2 from "nats";
import * as v3 from "@nats-io/transport-node";

// Defaults for tests: no reconnects (a test must see a failure, not a retry
// loop) and a bounded connect timeout.
const base = { reconnect: false, timeout: 5000 };

export const generations = [
  {
    name: "v2 (nats)",
    connect: (server, opts = {}) => v2.connect({ servers: server.url, ...base, ...opts }),
    headers: () => v2.headers(),
    isNoResponders: (err) => err?.code === v2.ErrorCode.NoResponders,
    isAuthError: (err) => err?.code === v2.ErrorCode.AuthorizationViolation,
    isTimeout: (err) => err?.code === v2.ErrorCode.Timeout,
  },
  {
    name: "v3 (@nats-io/transport-node)",
    connect: (server, opts = {}) => v3.connect({ servers: server.url, ...base, ...opts }),
    headers: () => v3.headers(),
    isNoResponders: (err) =>
      err instanceof v3.errors.NoRespondersError ||
      (err instanceof v3.errors.RequestError && err.isNoResponders()),
    isAuthError: (err) => err instanceof v3.errors.AuthorizationError,
    isTimeout: (err) => err instanceof v3.errors.TimeoutError,
  },
];

// Collect messages of a subscription (async iterator) into an array.
export function collect(sub) {
  const msgs = [];
  const done = (async () => {
    for await (const m of sub) msgs.push(m);
  })();
  return { msgs, done };
}
