// The database file pulled from under the running service: certs.db or its WAL deleted while
// certificates are being issued, and a disk that fills up. The real server, real files, real load.
import { X509Certificate } from "node:crypto";
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import t from "tap";
import { decimalSerial, mustOpenssl, startService, tempDir, type ApiAnswer, type ServerProcess } from "../helpers/server.js";

interface Answer extends ApiAnswer {
  sentAt: number;
}

function signBody(cwd: string): string {
  mustOpenssl(["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", "key.pem"], cwd);
  mustOpenssl(["req", "-new", "-key", "key.pem", "-subj", "/CN=load.example.com", "-addext", "subjectAltName=DNS:load.example.com", "-out", "load.csr"], cwd);
  return JSON.stringify({ certificate_request: readFileSync(join(cwd, "load.csr"), "utf8"), profile: "server" });
}

async function sign(server: ServerProcess, body: string): Promise<Answer> {
  const sentAt = performance.now();
  const response = await fetch(`${server.api}/sign`, { method: "POST", body, headers: { "content-type": "application/json" } });
  return { sentAt, status: response.status, body: (await response.json()) as Answer["body"] };
}

async function ready(server: ServerProcess) {
  const response = await fetch(`${server.url}/api/v1/ready`);
  return { status: response.status, body: (await response.json()) as Answer["body"] };
}

/**
 * `loops` clients sign in a loop; after `before` answers `act` runs (its return value is the moment
 * it is done), and the load goes on for `afterMs` more.
 */
async function underLoad(server: ServerProcess, body: string, act: () => void, { loops = 8, before = 100, afterMs = 1500 } = {}) {
  const answers: Answer[] = [];
  let actedAt = Infinity;
  let stopAt = Infinity;
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (performance.now() < stopAt) {
        answers.push(await sign(server, body));
        if (answers.length >= before && actedAt === Infinity) {
          act();
          actedAt = performance.now();
          stopAt = actedAt + afterMs;
        }
      }
    }),
  );
  return { answers, actedAt };
}

const serialOf = (answer: Answer) => decimalSerial(new X509Certificate(answer.body.result.certificate as string).serialNumber);

async function waitFor<T>(what: () => Promise<T>, done: (value: T) => boolean, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await what();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

t.test("certs.db deleted under load: no success after the delete, 503 with the envelope, not ready, one log line, and a copy that loses nothing", async (t) => {
  const cwd = tempDir(t);
  const dataDir = join(cwd, "data");
  const server = await startService(t, { cwd, args: ["--data-dir", dataDir, "--log-level", "warn"], timeoutMs: 45_000 });
  const body = signBody(cwd);
  const { answers, actedAt } = await underLoad(server, body, () => unlinkSync(join(dataDir, "certs.db")));
  const after = answers.filter((a) => a.sentAt > actedAt);
  t.ok(after.length > 20, `${after.length} requests sent after the delete`);
  const succeeded = after.filter((a) => a.status === 200);
  t.equal(succeeded.length, 0, "none sent after the delete is answered with success");
  for (const answer of after.slice(0, 5)) {
    t.equal(answer.status, 503);
    t.match(answer.body, { success: false, result: null, errors: [{ code: 11100 }] }, "with the envelope and code 11100");
  }
  const before = answers.filter((a) => a.status === 200);
  t.ok(before.length >= 90, `${before.length} were answered before it`);

  const notReady = await waitFor(() => ready(server), (r) => r.status === 503, 3000);
  t.equal(notReady.status, 503, "readiness fails");
  t.equal(notReady.body.errors[0]?.code, 12200);
  t.match(notReady.body.result.checks.database.detail, /certs\.db was deleted while the service had it open/);

  const revoke = await fetch(`${server.api}/revoke`, { method: "POST", body: JSON.stringify({ serial: serialOf(before[0]!), reason: "keyCompromise" }) });
  t.equal(revoke.status, 503, "revoking is refused: it would be written to the deleted file");
  t.match(await revoke.json(), { success: false, errors: [{ code: 12200, message: /the revocation was not recorded: certs\.db was deleted/ }] });

  t.equal((await fetch(`${server.api}/health`)).status, 200, "liveness still answers");
  // The log is buffered for up to a second.
  await new Promise((resolve) => setTimeout(resolve, 1200));
  const lines = server.stdout().split("\n").filter((line) => /certs\.db was deleted while the service had it open: certificates written now would be lost/.test(line));
  t.equal(lines.length, 1, "one error line says what happened");
  const line = JSON.parse(lines[0]!) as { level: number; msg: string };
  t.equal(line.level, 50);
  const copy = /everything it held is copied to (\S+certs\.db\.rescued-\d{8}T\d{6}Z): to keep it, stop the service/.exec(line.msg)?.[1];
  t.ok(copy, `and where what the deleted file held was copied: ${line.msg}`);

  // The operator's way back: stop, put the copy in place, start. Nothing answered is lost.
  server.child.kill("SIGKILL");
  await server.exited;
  renameSync(copy!, join(dataDir, "certs.db"));
  rmSync(join(dataDir, "certs.db-wal"), { force: true });
  rmSync(join(dataDir, "certs.db-shm"), { force: true });
  const db = new Database(join(dataDir, "certs.db"), { readonly: true });
  t.equal(db.pragma("integrity_check", { simple: true }), "ok", "the copy is a sound database");
  const recorded = new Set((db.prepare("SELECT serial_number FROM certificates").all() as { serial_number: string }[]).map((row) => row.serial_number));
  db.close();
  const answered = before.map(serialOf);
  t.same(answered.filter((serial) => !recorded.has(serial)), [], `all ${answered.length} answered with success are in the copy`);
  const restarted = await startService(t, { cwd, args: ["--data-dir", dataDir, "--log-level", "warn"], timeoutMs: 45_000 });
  t.equal((await fetch(`${restarted.url}/api/v1/certificates/${answered[0]}`)).status, 200, "the restarted service finds them");
  t.equal((await sign(restarted, body)).status, 200, "and issues again");
});

t.test("certs.db-wal deleted under load, then kill -9: every certificate answered with success is in certs.db after the restart", async (t) => {
  const cwd = tempDir(t);
  const dataDir = join(cwd, "data");
  const server = await startService(t, { cwd, args: ["--data-dir", dataDir, "--log-level", "warn"], timeoutMs: 45_000 });
  const body = signBody(cwd);
  const { answers, actedAt } = await underLoad(server, body, () => unlinkSync(join(dataDir, "certs.db-wal")), { afterMs: 1000 });
  t.equal(answers.filter((a) => a.sentAt > actedAt && a.status === 200).length, 0, "none sent after the delete is answered with success");
  t.equal((await ready(server)).status, 503, "not ready");
  server.child.kill("SIGKILL");
  await server.exited;

  const answered = answers.filter((a) => a.status === 200).map(serialOf);
  t.ok(answered.length >= 90, `${answered.length} answered with success`);
  const db = new Database(join(dataDir, "certs.db"), { readonly: true, fileMustExist: true });
  const recorded = new Set((db.prepare("SELECT serial_number FROM certificates").all() as { serial_number: string }[]).map((row) => row.serial_number));
  db.close();
  t.same(answered.filter((serial) => !recorded.has(serial)), [], `all ${answered.length} answered are in certs.db (${recorded.size} rows)`);

  const restarted = await startService(t, { cwd, args: ["--data-dir", dataDir, "--log-level", "warn"], timeoutMs: 45_000 });
  const again = await sign(restarted, body);
  t.equal(again.status, 200, "the restarted service issues again");
  const inventory = await fetch(`${restarted.url}/api/v1/certificates/${serialOf(answers.find((a) => a.status === 200)!)}`);
  t.equal(inventory.status, 200, "and finds what was answered before the delete");
});

/** Mounts a tmpfs of `sizeMb` at `dir` (needs root); false where that is not allowed. */
function mountTmpfs(dir: string, sizeMb: number): boolean {
  if (process.getuid?.() !== 0) return false;
  mkdirSync(dir, { recursive: true });
  return spawnSync("mount", ["-t", "tmpfs", "-o", `size=${sizeMb}m`, "tmpfs", dir]).status === 0;
}

/** Whether this machine lets the tests mount a tmpfs (root, and not a container that forbids it). */
function canMountTmpfs(): boolean {
  const dir = mkdtempSync(join(tmpdir(), "certwright-tmpfs-"));
  try {
    if (!mountTmpfs(dir, 1)) return false;
    spawnSync("umount", [dir]);
    return true;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes zeros to `path` until the file system is full. */
function fill(path: string): void {
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  } finally {
    closeSync(fd);
  }
  // The last partial chunks: a byte at a time would be slow; 512 bytes is fine-grained enough.
  const tail = openSync(path, "a");
  try {
    for (;;) writeSync(tail, Buffer.alloc(512));
  } catch {
    // full
  } finally {
    closeSync(tail);
  }
}

const fullDiskSkip = canMountTmpfs() ? false : "a full disk is made with a small tmpfs, which needs root";

t.test("a full disk: issuance and revocation 503, not ready; the space back: issuance and readiness return without a restart", { skip: fullDiskSkip }, async (t) => {
  const cwd = tempDir(t);
  const dataDir = join(cwd, "data");
  t.ok(mountTmpfs(dataDir, 8), "an 8 MB tmpfs for the data directory");
  t.teardown(() => {
    spawnSync("umount", ["-l", dataDir]);
  });
  const server = await startService(t, { cwd, args: ["--data-dir", dataDir, "--log-level", "warn"], timeoutMs: 45_000 });
  const body = signBody(cwd);
  const first = await sign(server, body);
  t.equal(first.status, 200);
  // Ready once every signer thread is up: the first signature needed only one of them.
  t.equal((await waitFor(() => ready(server), (r) => r.status === 200, 15_000)).status, 200);

  const filler = join(dataDir, "filler");
  fill(filler);
  const full = await sign(server, body);
  t.equal(full.status, 503, "issuance on a full disk: 503");
  t.match(full.body, { success: false, result: null, errors: [{ code: 11100 }] });
  const notReady = await ready(server);
  t.equal(notReady.status, 503, "readiness fails at once");
  t.match(notReady.body.result.checks.database.detail, /takes no writes: the last write failed \(SQLITE_FULL/);
  const revoke = await fetch(`${server.api}/revoke`, { method: "POST", body: JSON.stringify({ serial: serialOf(first) }) });
  t.equal(revoke.status, 503, "revocation on a full disk: 503, not 500");
  t.match(await revoke.json(), { success: false, errors: [{ code: 12200, message: /the revocation was not recorded: the database takes no writes \(SQLITE_FULL\)/ }] });

  rmSync(filler);
  const back = await waitFor(() => ready(server), (r) => r.status === 200, 5000);
  t.equal(back.status, 200, "ready again within seconds, without a restart");
  const again = await sign(server, body);
  t.equal(again.status, 200, "and issues again");
  const revoked = await fetch(`${server.api}/revoke`, { method: "POST", body: JSON.stringify({ serial: serialOf(first) }) });
  t.equal(revoked.status, 200, "and revokes");
  await server.stop("SIGTERM");
});
