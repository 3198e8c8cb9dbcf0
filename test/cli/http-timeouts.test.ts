// Slow clients against the real server: half-sent headers, a body that trickles in, an idle
// keep-alive connection. Each is cut off after its timeout instead of holding a socket for minutes.
import { connect, type Socket } from "node:net";
import t from "tap";
import { parseServeOptions } from "../../src/cli/options.js";
import { UsageError } from "../../src/cli/usage-error.js";
import { startService, tempDir } from "../helpers/server.js";

/** Opens a socket, runs `drive` on it, and resolves with what the server sent and when it closed. */
function slowClient(port: number, drive: (socket: Socket) => void): Promise<{ ms: number; received: string }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let received = "";
    const socket = connect(port, "127.0.0.1", () => drive(socket));
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (received += chunk));
    socket.on("error", () => {}); // a reset is a close too
    socket.on("close", () => resolve({ ms: Date.now() - started, received }));
    setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for 10 s; received: ${received}`));
    }, 10_000).unref();
  });
}

t.test("the server closes connections of clients that send too slowly, or idle too long", async (t) => {
  const cwd = tempDir(t);
  const service = await startService(t, {
    cwd,
    args: ["--data-dir", "data", "--workers", "0", "--headers-timeout", "500ms", "--request-timeout", "1500ms", "--keep-alive-timeout", "300ms"],
  });

  // Half the headers, then nothing: cut off after the headers timeout, with Node's 408.
  const halfHeaders = await slowClient(service.port, (socket) => socket.write("GET /api/v1/cfssl/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  t.ok(halfHeaders.ms >= 400 && halfHeaders.ms < 2500, `closed after ${halfHeaders.ms} ms (headers timeout 500 ms)`);
  t.match(halfHeaders.received, /^HTTP\/1\.1 408/);

  // Headers trickled in a line at a time, never finished: the headers timeout counts from the first byte.
  const trickledHeaders = await slowClient(service.port, (socket) => {
    socket.write("GET /api/v1/cfssl/health HTTP/1.1\r\n");
    const timer = setInterval(() => socket.writable && socket.write(`X-Slow-${Date.now()}: 1\r\n`), 100);
    socket.on("close", () => clearInterval(timer));
  });
  t.ok(trickledHeaders.ms >= 400 && trickledHeaders.ms < 2500, `closed after ${trickledHeaders.ms} ms`);

  // Whole headers, then a body a few bytes at a time: never idle, but cut at the request timeout.
  const slowBody = await slowClient(service.port, (socket) => {
    socket.write("POST /api/v1/cfssl/sign HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n");
    const timer = setInterval(() => socket.writable && socket.write("          "), 100);
    socket.on("close", () => clearInterval(timer));
  });
  t.ok(slowBody.ms >= 1400 && slowBody.ms < 4000, `closed after ${slowBody.ms} ms (request timeout 1500 ms)`);
  t.notMatch(slowBody.received, /"success":true/);

  // A keep-alive connection left idle after its answer is closed after the keep-alive timeout.
  let answeredAt = 0;
  const before = Date.now();
  const idle = await slowClient(service.port, (socket) => {
    socket.write("GET /api/v1/cfssl/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    socket.once("data", () => (answeredAt = Date.now()));
  });
  t.match(idle.received, /^HTTP\/1\.1 200/);
  const idleMs = before + idle.ms - answeredAt;
  // Node holds the socket a second longer than the Keep-Alive header says, for clients that cut it fine.
  t.ok(answeredAt > 0 && idleMs >= 200 && idleMs < 2500, `closed ${idleMs} ms after the answer (keep-alive timeout 300 ms, plus Node's 1 s)`);

  // The service still answers everyone else.
  const health = await fetch(`${service.api}/health`);
  t.equal(health.status, 200);
});

t.test("timeout flags and variables: defaults, a flag beats its variable, bad values refused", async (t) => {
  const defaults = parseServeOptions([], {});
  t.not(defaults, "help");
  if (defaults === "help") return;
  t.same([defaults.headersTimeoutMs, defaults.requestTimeoutMs, defaults.keepAliveTimeoutMs], [10_000, 30_000, 5_000]);

  const fromEnv = parseServeOptions(["--request-timeout", "1m"], { CERTWRIGHT_HEADERS_TIMEOUT: "20s", CERTWRIGHT_REQUEST_TIMEOUT: "45s", CERTWRIGHT_KEEP_ALIVE_TIMEOUT: "2s" });
  if (fromEnv === "help") return t.fail("help");
  t.same([fromEnv.headersTimeoutMs, fromEnv.requestTimeoutMs, fromEnv.keepAliveTimeoutMs], [20_000, 60_000, 2_000]);

  t.throws(() => parseServeOptions(["--headers-timeout", "soon"], {}), new UsageError('--headers-timeout: "soon" is not a duration from 100ms to 1h, such as 10s'));
  t.throws(() => parseServeOptions(["--keep-alive-timeout", "0"], {}), UsageError);
  t.throws(() => parseServeOptions(["--headers-timeout", "40s"], {}), /--headers-timeout \(40s\) is longer than --request-timeout \(30s\)/);
});
