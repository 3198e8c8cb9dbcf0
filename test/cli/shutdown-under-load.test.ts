// Graceful shutdown under load: the real service, 32 clients sending sign and newcert in a loop on
// keep-alive connections, SIGTERM in the middle. The process must exit 0 within 10 s, and every
// request must either have been answered 200 with a certificate whose row is in certs.db, or have
// failed cleanly: connection refused or reset, or a 503. Never a 200 whose serial is missing. And a
// client that stalls mid-request does not hold the exit past the shutdown grace period (5 s).
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import Database from "better-sqlite3";
import t from "tap";
import { decimalSerial, isListening, mustOpenssl, startService, tempDir } from "../helpers/server.js";

const clients = 32;
/** Answers to wait for before SIGTERM, so it lands in the middle of the load. */
const answersBeforeSignal = 150;
const minInFlight = 8;
const exitWithinMs = 10_000;

type Result = { kind: "answered"; status: number; body: string } | { kind: "failed"; error: string };
/** What became of a request, whether it was written before SIGTERM, and when it settled. */
type Outcome = Result & { sentBeforeSignal: boolean; at: number };

/** Failures a client sees when the service stops: it takes no new connections, or closed an idle one. */
const cleanFailures = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "socket hang up"]);

t.test("SIGTERM under load: exit 0 within 10 s; every 200 is recorded, everything else failed cleanly", async (t) => {
  const cwd = tempDir(t);
  const dataDir = join(cwd, "data");
  const server = await startService(t, { cwd, args: ["--data-dir", dataDir, "--log-level", "warn"] });

  mustOpenssl(["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", "load-key.pem"], cwd);
  mustOpenssl(["req", "-new", "-key", "load-key.pem", "-subj", "/CN=load.example.com", "-addext", "subjectAltName=DNS:load.example.com", "-out", "load.csr"], cwd);
  const bodies = {
    sign: JSON.stringify({ certificate_request: readFileSync(join(cwd, "load.csr"), "utf8"), profile: "server" }),
    newcert: JSON.stringify({ request: { CN: "load-new.example.com", hosts: ["load-new.example.com"] }, profile: "server" }),
  };

  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  t.teardown(() => agent.destroy());
  let sent = 0;
  let settled = 0;
  let answered = 0;
  let signalledAt = 0;
  let inFlightAtSignal = -1;
  let exited = false;
  void server.exited.then(() => (exited = true));

  const send = (endpoint: "sign" | "newcert") =>
    new Promise<Outcome>((resolve) => {
      const body = bodies[endpoint];
      let wrote = false;
      let sentBeforeSignal = false;
      const settle = (outcome: Result) => {
        if (wrote) settled++;
        if (outcome.kind === "answered" && outcome.status === 200) answered++;
        resolve({ ...outcome, sentBeforeSignal, at: Date.now() });
        if (!signalledAt && answered >= answersBeforeSignal && sent - settled >= minInFlight) {
          signalledAt = Date.now();
          inFlightAtSignal = sent - settled;
          server.child.kill("SIGTERM");
        }
      };
      const req = request(
        `${server.api}/${endpoint}`,
        { method: "POST", agent, timeout: 20_000, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => settle({ kind: "answered", status: res.statusCode ?? 0, body: text }));
          res.on("error", (error) => settle({ kind: "failed", error: (error as NodeJS.ErrnoException).code ?? error.message }));
        },
      );
      req.on("finish", () => {
        wrote = true;
        sent++;
        sentBeforeSignal = signalledAt === 0;
      });
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", (error) => settle({ kind: "failed", error: (error as NodeJS.ErrnoException).code ?? error.message }));
      req.end(body);
    });

  // Each client sends sign and newcert in turn until the service is gone (or it is told to stop).
  const client = async (n: number) => {
    const outcomes: Outcome[] = [];
    for (let i = n; ; i++) {
      const outcome = await send(i % 2 === 0 ? "sign" : "newcert");
      outcomes.push(outcome);
      if (outcome.kind === "failed" && (outcome.error === "ECONNREFUSED" || exited)) break;
      if (outcomes.length > 2000) break; // a service that never stops: the exit check below fails
    }
    return outcomes;
  };

  const started = Date.now();
  const outcomes = (await Promise.all(Array.from({ length: clients }, (_, n) => client(n)))).flat();
  const exit = await server.exited;
  t.ok(signalledAt > 0, "SIGTERM was sent during the load");
  t.ok(inFlightAtSignal >= minInFlight, `${inFlightAtSignal} requests were on the wire at SIGTERM (want >= ${minInFlight})`);
  t.same(exit, { code: 0, signal: null }, "the service exits 0");
  const exitedAt = Date.now();
  t.ok(exitedAt - signalledAt < exitWithinMs, `and within ${exitWithinMs / 1000} s of SIGTERM (${exitedAt - signalledAt} ms)`);
  t.notOk(await isListening(server.port), "nothing listens after the exit");

  const pems: string[] = [];
  const unclean: string[] = [];
  let refused503 = 0;
  let failedClean = 0;
  let answeredAfterSignal = 0;
  let sentBeforeSignalFailed = 0;
  for (const outcome of outcomes) {
    if (outcome.kind === "failed") {
      if (cleanFailures.has(outcome.error)) failedClean++;
      else unclean.push(`failed: ${outcome.error}`);
      if (outcome.sentBeforeSignal) sentBeforeSignalFailed++;
      continue;
    }
    if (outcome.status === 503) {
      refused503++;
      continue;
    }
    const envelope = JSON.parse(outcome.body) as { success?: boolean; result?: { certificate?: string } };
    if (outcome.status === 200 && envelope.success && envelope.result?.certificate) {
      pems.push(envelope.result.certificate);
      if (outcome.at >= signalledAt) answeredAfterSignal++;
    } else {
      unclean.push(`${outcome.status}: ${outcome.body.slice(0, 200)}`);
    }
  }
  t.same(unclean, [], "every request was answered 200 with a certificate, refused with 503, or cut off cleanly");
  t.comment(
    `${outcomes.length} requests in ${exitedAt - started} ms: ${pems.length} answered 200 (${answeredAfterSignal} of them after SIGTERM), ` +
      `${refused503} refused with 503, ${failedClean} cut off (refused or reset; ${sentBeforeSignalFailed} of them written before SIGTERM); ` +
      `${inFlightAtSignal} on the wire at SIGTERM`,
  );
  t.ok(pems.length >= answersBeforeSignal, `certificates were issued (${pems.length})`);
  t.ok(answeredAfterSignal > 0, `requests in flight at SIGTERM were finished and answered (${answeredAfterSignal})`);

  const serials = pems.map((pem) => decimalSerial(new X509Certificate(pem).serialNumber));
  t.equal(new Set(serials).size, serials.length, "every answered serial is distinct");
  const db = new Database(join(dataDir, "certs.db"), { readonly: true, fileMustExist: true });
  t.teardown(() => db.close());
  t.equal(db.pragma("integrity_check", { simple: true }), "ok", "PRAGMA integrity_check is ok");
  const rows = new Map(
    (db.prepare("SELECT serial_number, pem FROM certificates").all() as { serial_number: string; pem: string }[]).map((row) => [row.serial_number, row.pem]),
  );
  const missing = serials.filter((serial) => !rows.has(serial));
  t.same(missing, [], `every one of the ${serials.length} answered serials is in certs.db (${rows.size} rows)`);
  t.equal(pems.filter((pem, i) => rows.get(serials[i]!) !== pem).length, 0, "each row holds the PEM that was answered");
  t.equal(server.stderr(), "", "nothing on stderr");
});

t.test("a client stalled mid-request does not hold the exit: its connection is cut after the grace period", async (t) => {
  const cwd = tempDir(t);
  const server = await startService(t, { cwd, args: ["--data-dir", join(cwd, "data"), "--log-level", "warn"] });
  const socket = connect(server.port, "127.0.0.1");
  t.teardown(() => socket.destroy());
  socket.on("error", () => {});
  await new Promise((resolve) => socket.once("connect", resolve));
  // Headers and a third of the body, then nothing: without a deadline Node waits 5 minutes for the rest.
  socket.write('POST /api/v1/cfssl/newcert HTTP/1.1\r\nHost: localhost\r\nContent-Length: 90\r\n\r\n{"request":{"CN":');
  await new Promise((resolve) => setTimeout(resolve, 200));
  const closed = new Promise((resolve) => socket.once("close", resolve));
  const signalled = Date.now();
  const exit = await server.stop("SIGTERM");
  const took = Date.now() - signalled;
  t.same(exit, { code: 0, signal: null }, "exit 0");
  t.ok(took >= 4_000 && took < exitWithinMs, `after the grace period, within ${exitWithinMs / 1000} s (${took} ms)`);
  await closed;
  t.match(server.stdout(), /requests still in flight 5s after the stop began: closing their connections/, "a warning says so");
});
