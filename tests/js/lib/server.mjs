// server.mjs - start and stop one NATS server process for a test file.
//
// Owns: the server child process (binary from $NATS_TEST_SERVER, default
// /usr/sbin/nats-server), its private temp folder (config and log).
//
// The port is picked by listening on port 0 on 127.0.0.1 and closing again;
// it is passed as `-a 127.0.0.1 -p PORT`.  Another process may take the port
// in between, so a server that exits during startup is retried with a new
// port.  Every wait is bounded; a server still running when the test
// process exits is killed.

import { spawn } from "node:child_process";
import {
  accessSync, closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync,
} from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const SERVER_PATH = process.env.NATS_TEST_SERVER || "/usr/sbin/nats-server";
const READY_TIMEOUT_MS = 10000;
const STOP_TIMEOUT_MS = 5000;

const running = new Set();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

function pickPort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function portOpen(port) {
  return new Promise((resolve) => {
    const sock = tcpConnect({ host: "127.0.0.1", port });
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class TestServer {
  constructor(child, port, dir) {
    this.child = child;
    this.port = port;
    this.dir = dir;
    this.url = `nats://127.0.0.1:${port}`;
    this.exit = null; // { code, signal } once exited
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        running.delete(child);
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  // Whether this process (its pid starts the line) has logged that it
  // listens for clients on this port: an open port alone may be another
  // process that took the picked port while this server fails its bind.
  listening() {
    const tail = `:${this.port}`;
    return this.log().split("\n").some((line) =>
      line.startsWith(`[${this.child.pid}] `) &&
      line.includes("Listening for client connections on ") && line.endsWith(tail));
  }

  log() {
    try {
      return readFileSync(join(this.dir, "server.log"), "utf8");
    } catch (err) {
      return `(no log: ${err.message})`;
    }
  }

  // SIGTERM, SIGKILL after STOP_TIMEOUT_MS; throws (with the log) if the
  // server died before, did not stop in time or crashed.
  async stop() {
    let problem = null;
    if (this.exit !== null) {
      problem = `server exited before the end of the test (${JSON.stringify(this.exit)})`;
    } else {
      this.child.kill("SIGTERM");
      let timer;
      const timeout = new Promise((resolve) => {
        timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS);
      });
      const done = await Promise.race([this.exited, timeout]);
      clearTimeout(timer); // a pending timer would keep the test process alive
      if (done === null) {
        this.child.kill("SIGKILL");
        await this.exited;
        problem = `server did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM`;
      } else if (done.signal !== null && done.signal !== "SIGTERM") {
        problem = `server died of ${done.signal} on SIGTERM`;
      }
    }
    const log = this.log();
    rmSync(this.dir, { recursive: true, force: true });
    if (problem === null && /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/.test(log)) {
      problem = "sanitizer report in the server log";
    }
    if (problem !== null) throw new Error(`${problem}\n---- server log ----\n${log}`);
  }
}

// Start a server; config is the text of a config file (optional), or a
// function of the server's private folder that returns it.
export async function startServer(config = null) {
  try {
    accessSync(SERVER_PATH, constants.X_OK);
  } catch (err) {
    throw new Error(
      `server binary ${SERVER_PATH} is not executable (set NATS_TEST_SERVER): ${err.message}`,
    );
  }
  const dir = mkdtempSync(join(process.env.TMPDIR || tmpdir(), "natsjs-"));
  const args = [];
  if (config !== null) {
    const text = typeof config === "function" ? config(dir) : config;
    writeFileSync(join(dir, "server.conf"), text);
    args.push("-c", join(dir, "server.conf"));
  }
  let lastLog = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await pickPort();
    const logFd = openSync(join(dir, "server.log"), "a");
    const child = spawn(SERVER_PATH, ["-a", "127.0.0.1", "-p", String(port), ...args], {
      stdio: ["ignore", logFd, logFd],
    });
    closeSync(logFd);
    running.add(child);
    const server = new TestServer(child, port, dir);
    child.once("error", () => {}); // reported through "exit" / the log
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (server.exit === null && Date.now() < deadline) {
      if (server.listening() && await portOpen(port)) return server;
      await sleep(10);
    }
    lastLog = server.log();
    if (server.exit === null) {
      child.kill("SIGKILL");
      await server.exited;
      break;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`server ${SERVER_PATH} did not start\n---- server log ----\n${lastLog}`);
}

// A server with JetStream, its store in the server's private folder (so
// it goes when the server is stopped).
export function startJetStreamServer() {
  return startServer((dir) => `jetstream { store_dir: "${join(dir, "store")}" }\n`);
}
