// Nothing answered is lost: the real server, a few hundred concurrent sign requests, SIGKILL while at
// least 50 are on the wire, a restart on the same data directory, and a count of answered serials
// against rows.
import { X509Certificate } from "node:crypto";
import { Agent, request } from "node:http";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import t from "tap";
import { decimalSerial, mustOpenssl, postJson, startService, subjectKeyId, tempDir } from "../helpers/server.js";

const total = 400;
const sockets = 100;
const minInFlight = 50;
/** Answers to wait for before the kill: enough that the crash lands in the middle of the load. */
const answersBeforeKill = 100;

type Outcome = { kind: "answered"; status: number; body: string } | { kind: "failed"; error: string };

t.test("SIGKILL under load: every certificate answered with success is in certs.db after the restart", async (t) => {
  const cwd = tempDir(t);
  const dataDir = join(cwd, "data");
  const server = await startService(t, { cwd, args: ["--data-dir", dataDir, "--log-level", "warn"] });
  const caPath = join(dataDir, "ca.pem");
  const caKeyPath = join(dataDir, "ca-key.pem");
  const caBefore = readFileSync(caPath);
  const caKeyBefore = readFileSync(caKeyPath);
  const caSki = subjectKeyId(caBefore.toString("utf8"));

  // One fixed ECDSA P-256 CSR made by openssl; every request signs it (each gets its own serial).
  mustOpenssl(["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", "load-key.pem"], cwd);
  mustOpenssl(["req", "-new", "-key", "load-key.pem", "-subj", "/CN=load.example.com", "-addext", "subjectAltName=DNS:load.example.com,IP:10.9.0.1", "-out", "load.csr"], cwd);
  const body = JSON.stringify({ certificate_request: readFileSync(join(cwd, "load.csr"), "utf8"), profile: "server" });

  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  t.teardown(() => agent.destroy());
  let sent = 0; // requests fully written to a socket
  let settled = 0; // of those, answered or failed
  let answered = 0;
  let inFlightAtKill = -1;
  let killed = false;
  let resolveKill!: () => void;
  const killDone = new Promise<void>((resolve) => (resolveKill = resolve));

  const maybeKill = () => {
    if (killed || answered < answersBeforeKill || sent - settled < minInFlight) return;
    killed = true;
    inFlightAtKill = sent - settled;
    server.child.kill("SIGKILL");
    resolveKill();
  };

  const signOnce = () =>
    new Promise<Outcome>((resolve) => {
      let wrote = false;
      const settle = (outcome: Outcome) => {
        if (wrote) settled++;
        if (outcome.kind === "answered") answered++;
        resolve(outcome);
        maybeKill();
      };
      const req = request(
        `${server.api}/sign`,
        { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => settle({ kind: "answered", status: res.statusCode ?? 0, body: text }));
          res.on("error", (error) => settle({ kind: "failed", error: error.message }));
        },
      );
      req.on("finish", () => {
        wrote = true;
        sent++;
      });
      req.on("error", (error) => settle({ kind: "failed", error: (error as NodeJS.ErrnoException).code ?? error.message }));
      req.end(body);
    });

  const started = Date.now();
  const outcomes = await Promise.all(Array.from({ length: total }, signOnce));
  const exit = await server.exited;
  await killDone;
  t.equal(exit.signal, "SIGKILL", "the server was killed by SIGKILL");
  t.ok(killed, "the kill happened during the load");
  t.ok(inFlightAtKill >= minInFlight, `${inFlightAtKill} requests were on the wire at the kill (want >= ${minInFlight})`);

  const answeredPems: string[] = [];
  let failed = 0;
  for (const outcome of outcomes) {
    if (outcome.kind === "failed") {
      failed++;
      continue;
    }
    const envelope = JSON.parse(outcome.body) as { success: boolean; result?: { certificate?: string }; errors: unknown[] };
    t.equal(outcome.status, 200, `an answer is a success, not an error: ${outcome.body.slice(0, 200)}`);
    if (envelope.success && envelope.result?.certificate) answeredPems.push(envelope.result.certificate);
  }
  t.comment(`${answeredPems.length} answered with success, ${failed} cut off by the kill, ${inFlightAtKill} on the wire at the kill, ${Date.now() - started} ms`);
  t.ok(answeredPems.length >= answersBeforeKill, `some were answered (${answeredPems.length})`);
  t.ok(failed > 0, `some were not (${failed})`);

  const answeredSerials = answeredPems.map((pem) => decimalSerial(new X509Certificate(pem).serialNumber));
  t.equal(new Set(answeredSerials).size, answeredSerials.length, "every answered serial is distinct");

  const check = (when: string) => {
    const db = new Database(join(dataDir, "certs.db"), { readonly: true, fileMustExist: true });
    try {
      t.equal(db.pragma("integrity_check", { simple: true }), "ok", `${when}: PRAGMA integrity_check is ok`);
      const rows = db.prepare("SELECT serial_number, authority_key_identifier, pem FROM certificates").all() as {
        serial_number: string;
        authority_key_identifier: string;
        pem: string;
      }[];
      const bySerial = new Map(rows.map((row) => [row.serial_number, row]));
      const missing = answeredSerials.filter((serial) => !bySerial.has(serial));
      t.same(missing, [], `${when}: all ${answeredSerials.length} answered serials are recorded (${rows.length} rows)`);
      const wrong = answeredPems.filter((pem, i) => {
        const row = bySerial.get(answeredSerials[i]!);
        return row !== undefined && (row.pem !== pem || row.authority_key_identifier !== caSki);
      });
      t.equal(wrong.length, 0, `${when}: each answered certificate's row holds its PEM under the CA's key id`);
      t.ok(rows.length >= answeredSerials.length, `${when}: ${rows.length} rows >= ${answeredSerials.length} answered`);
      t.ok(rows.length <= total, `${when}: no more rows than requests`);
      return rows.length;
    } finally {
      db.close();
    }
  };
  const rowsAfterCrash = check("as the crash left it");
  t.comment(`${rowsAfterCrash} rows: ${rowsAfterCrash - answeredSerials.length} recorded for requests the kill cut off before their answer`);

  const restarted = await startService(t, { cwd, args: ["--data-dir", dataDir, "--log-level", "warn"] });
  t.equal(check("after the restart"), rowsAfterCrash, "the restart neither loses nor adds rows");
  t.ok(readFileSync(caPath).equals(caBefore), "ca.pem unchanged");
  t.ok(readFileSync(caKeyPath).equals(caKeyBefore), "ca-key.pem unchanged");
  t.notMatch(restarted.stdout(), /created a new CA/, "no new CA on restart");

  const after = await postJson(restarted.api, "sign", JSON.parse(body));
  t.equal(after.status, 200, JSON.stringify(after.body.errors));
  const cert = new X509Certificate(after.body.result.certificate);
  t.ok(cert.checkIssued(new X509Certificate(caBefore)), "the restarted service signs with the same CA");
  const db = new Database(join(dataDir, "certs.db"), { readonly: true });
  t.ok(db.prepare("SELECT 1 FROM certificates WHERE serial_number = ?").get(decimalSerial(cert.serialNumber)), "and records what it signs");
  db.close();
  t.equal((await restarted.stop("SIGTERM")).code, 0, "and stops cleanly");
});
