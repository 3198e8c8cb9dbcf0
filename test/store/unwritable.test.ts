// A database that cannot be written: the request fails with 503 code 11100, no certificate (or key)
// is handed out, nothing is recorded, and the service keeps serving once the database is writable.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import t, { type Test } from "tap";
import { CertificateStore } from "../../src/store/certificate-store.js";
import { GuardStore } from "../../src/store/guard-store.js";
import { busyTimeoutMs, openDatabase } from "../../src/store/database.js";
import { post, testApp } from "../helpers/app.js";
import { mustOpenssl, postJson, startService, tempDir, type ApiAnswer, type ServerProcess } from "../helpers/server.js";

function countRows(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM certificates").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function makeCsr(dir: string): string {
  mustOpenssl(["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", "key.pem"], dir);
  mustOpenssl(["req", "-new", "-key", "key.pem", "-subj", "/CN=db.example.com", "-addext", "subjectAltName=DNS:db.example.com", "-out", "req.csr"], dir);
  return readFileSync(join(dir, "req.csr"), "utf8");
}

/** A refusal for want of a database: 503, code 11100, and no certificate or private key anywhere in it. */
function refused(t: Test, answer: ApiAnswer, what: string) {
  t.equal(answer.status, 503, `${what}: 503`);
  t.equal(answer.body.success, false, `${what}: success false`);
  t.equal(answer.body.errors[0]?.code, 11100, `${what}: code 11100`);
  t.match(answer.body.errors[0]?.message ?? "", /could not be recorded in the database, so it was not issued/, `${what}: says why`);
  t.equal(answer.body.result, null, `${what}: no result`);
  t.notMatch(JSON.stringify(answer.body), /BEGIN CERTIFICATE|PRIVATE KEY/, `${what}: no certificate or key in the answer`);
  t.notMatch(JSON.stringify(answer.body), /SQLITE|certs\.db|busy|locked|I\/O/i, `${what}: the cause stays in the log`);
}

async function healthy(t: Test, server: ServerProcess, what: string) {
  const response = await fetch(`${server.api}/health`);
  t.equal(response.status, 200, `${what}: health answers`);
}

t.test("locked by another connection: 503 after the busy timeout, then serving again once released", async (t) => {
  const cwd = tempDir(t);
  const dataDir = join(cwd, "data");
  const dbPath = join(dataDir, "certs.db");
  const server = await startService(t, { cwd, args: ["--data-dir", dataDir, "--log-level", "warn"] });
  const csr = makeCsr(cwd);
  t.equal((await postJson(server.api, "sign", { certificate_request: csr })).status, 200, "signs before the lock");
  t.equal(countRows(dbPath), 1);

  // Another writer (an operator's sqlite3 shell, say) takes the write lock and keeps it.
  const locker = new Database(dbPath);
  t.teardown(() => {
    if (locker.open) locker.close();
  });
  locker.exec("BEGIN EXCLUSIVE");
  const started = Date.now();
  const sign = await postJson(server.api, "sign", { certificate_request: csr });
  const waited = Date.now() - started;
  refused(t, sign, "sign while locked");
  t.ok(waited >= busyTimeoutMs - 50, `waited for the lock first (${waited} ms, busy timeout ${busyTimeoutMs} ms)`);
  t.ok(waited < busyTimeoutMs + 4000, `then answered rather than hanging (${waited} ms)`);
  refused(t, await postJson(server.api, "newcert", { request: { CN: "locked.example.com", hosts: ["locked.example.com"] } }), "newcert while locked");
  await healthy(t, server, "while locked");
  const info = await postJson(server.api, "info", {});
  t.equal(info.status, 200, "info (no write) still answers while locked");
  locker.exec("ROLLBACK");
  locker.close();

  t.equal(countRows(dbPath), 1, "nothing was recorded for the refused requests");
  const after = await postJson(server.api, "sign", { certificate_request: csr });
  t.equal(after.status, 200, `signs again once the lock is gone: ${JSON.stringify(after.body.errors)}`);
  t.equal(countRows(dbPath), 2);
});

/** Whether this machine lets the tests make a file immutable, and mount a tmpfs (root with the capabilities). */
function probeCapabilities(): { chattr: boolean; mount: boolean } {
  const dir = mkdtempSync(join(tmpdir(), "certwright-probe-"));
  try {
    const file = join(dir, "probe");
    writeFileSync(file, "");
    const chattr = spawnSync("chattr", ["+i", file]).status === 0;
    if (chattr) spawnSync("chattr", ["-i", file]);
    const mount = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]).status === 0;
    if (mount) spawnSync("umount", [dir]);
    return { chattr, mount };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const can = probeCapabilities();

const immutableSkip = can.chattr ? false : "chattr +i is not possible here (needs CAP_LINUX_IMMUTABLE and a file system with the flag)";
t.test("database files made immutable under the running service (chattr +i): 503, then serving again", { skip: immutableSkip }, async (t) => {
  const cwd = tempDir(t);
  const dataDir = join(cwd, "data");
  const dbPath = join(dataDir, "certs.db");
  const server = await startService(t, { cwd, args: ["--data-dir", dataDir, "--log-level", "warn"] });
  const csr = makeCsr(cwd);
  t.equal((await postJson(server.api, "sign", { certificate_request: csr })).status, 200);
  const files = [dbPath, `${dbPath}-wal`];
  // Root ignores file modes, not the immutable flag: every write to these files now fails with EPERM.
  t.equal(spawnSync("chattr", ["+i", ...files]).status, 0, "chattr +i certs.db certs.db-wal");
  try {
    refused(t, await postJson(server.api, "sign", { certificate_request: csr }), "sign on a read-only database");
    refused(t, await postJson(server.api, "newcert", { request: { CN: "ro.example.com", hosts: ["ro.example.com"] } }), "newcert on a read-only database");
    await healthy(t, server, "while read-only");
  } finally {
    spawnSync("chattr", ["-i", ...files]);
  }
  const after = await postJson(server.api, "sign", { certificate_request: csr });
  t.equal(after.status, 200, `signs again once writable: ${JSON.stringify(after.body.errors)}`);
  t.equal(countRows(dbPath), 2, "the two answered certificates, nothing for the refused ones");
  const db = new Database(dbPath, { readonly: true });
  t.equal(db.pragma("integrity_check", { simple: true }), "ok", "integrity_check ok");
  db.close();
});

const tmpfsSkip = can.mount ? false : "mounting a tmpfs is not possible here (needs root with CAP_SYS_ADMIN)";
t.test("disk full (a small tmpfs filled up under the running service): 503, then serving again", { skip: tmpfsSkip }, async (t) => {
  const mountPoint = mkdtempSync(join(tmpdir(), "certwright-full-"));
  if (spawnSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint]).status !== 0) {
    rmSync(mountPoint, { recursive: true, force: true });
    t.fail("mounting the tmpfs failed although the probe could");
    return;
  }
  let server: ServerProcess | undefined;
  try {
    const dataDir = join(mountPoint, "data");
    const dbPath = join(dataDir, "certs.db");
    server = await startService(t, { cwd: mountPoint, args: ["--data-dir", dataDir, "--log-level", "warn"] });
    const csrDir = join(mountPoint, "csr");
    mkdirSync(csrDir);
    const csr = makeCsr(csrDir);
    t.equal((await postJson(server.api, "sign", { certificate_request: csr })).status, 200);
    // Fill every free block.
    const filler = join(mountPoint, "filler");
    const chunk = Buffer.alloc(64 * 1024);
    for (let i = 0; ; i++) {
      try {
        writeFileSync(filler, chunk, { flag: i === 0 ? "w" : "a" });
      } catch (error) {
        t.equal((error as NodeJS.ErrnoException).code, "ENOSPC", "the file system is full");
        break;
      }
    }
    // The WAL may still have room in pages it already holds: write until one does not fit.
    let answer: ApiAnswer | undefined;
    let signed = 1;
    for (let i = 0; i < 50; i++) {
      answer = await postJson(server.api, "sign", { certificate_request: csr });
      if (answer.status !== 200) break;
      signed++;
    }
    refused(t, answer!, "sign on a full disk");
    await healthy(t, server, "while the disk is full");
    rmSync(filler);
    const after = await postJson(server.api, "sign", { certificate_request: csr });
    t.equal(after.status, 200, `signs again once there is room: ${JSON.stringify(after.body.errors)}`);
    t.equal(countRows(dbPath), signed + 1, "every answered certificate, nothing for the refused one");
    const db = new Database(dbPath, { readonly: true });
    t.equal(db.pragma("integrity_check", { simple: true }), "ok", "integrity_check ok");
    db.close();
  } finally {
    await server?.stop("SIGKILL");
    if (spawnSync("umount", [mountPoint]).status !== 0) spawnSync("umount", ["-l", mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  }
});

t.test("in process, on any machine: a read-only connection, and a database at its page limit", async (t) => {
  await t.test("a store opened read-only: SQLITE_READONLY becomes 503 code 11100", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "certwright-ro-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "certs.db");
    openDatabase(path).close();
    const readonly = new CertificateStore(new Database(path, { readonly: true }));
    t.teardown(() => readonly.close());
    const { app } = await testApp(t, { store: readonly });
    const newkey = await post(app, "newkey", { CN: "ro.example.com", hosts: ["ro.example.com"] });
    t.equal(newkey.status, 200, "newkey writes nothing, so it still works");
    const sign = await post(app, "sign", { certificate_request: newkey.body.result.certificate_request, profile: "server" });
    t.equal(sign.status, 503);
    t.equal(sign.body.errors[0]?.code, 11100);
    t.notMatch(JSON.stringify(sign.body), /BEGIN CERTIFICATE/);
    t.equal(readonly.count(), 0);
  });

  await t.test("max_page_count reached (SQLITE_FULL, what a full disk reports): 503 code 11100", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "certwright-full-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const db = openDatabase(join(dir, "certs.db"));
    db.pragma(`max_page_count = ${db.pragma("page_count", { simple: true }) as number}`);
    const store = new CertificateStore(db);
    t.teardown(() => store.close());
    const { app } = await testApp(t, { store });
    const newkey = await post(app, "newkey", { CN: "full.example.com", hosts: ["full.example.com"] });
    let answer: Awaited<ReturnType<typeof post>> | undefined;
    let signed = 0;
    for (let i = 0; i < 50; i++) {
      answer = await post(app, "sign", { certificate_request: newkey.body.result.certificate_request, profile: "server" });
      if (answer.status !== 200) break;
      signed++;
    }
    t.equal(answer?.status, 503, `refused once the database is full (after ${signed})`);
    t.equal(answer?.body.errors[0]?.code, 11100);
    t.notMatch(JSON.stringify(answer?.body), /BEGIN CERTIFICATE/);
    t.equal(store.count(), signed, "a row for each answered certificate, none for the refused one");
  });
});

t.test("the replay and rate-limit tables cannot be written: 503 with the envelope (code 12200), not 500", async (t) => {
  const path = join(tempDir(t), "guard.db");
  const store = GuardStore.open(path);
  t.teardown(() => store.close());
  const { app } = await testApp(t, { guard: { store, rateLimit: { requests: 100, periodMs: 60_000 } } });
  const other = new Database(path);
  t.teardown(() => other.close());
  other.exec("BEGIN IMMEDIATE");
  const answer = await post(app, "newcert", { request: { CN: "g.internal", hosts: ["g.internal"] } });
  t.equal(answer.status, 503);
  t.match(answer.body, { success: false, result: null, errors: [{ code: 12200, message: /^the database takes no writes now \(SQLITE_BUSY\); try again once \/api\/v1\/ready answers 200$/ }] });
  other.exec("ROLLBACK");
  t.equal((await post(app, "newcert", { request: { CN: "g.internal", hosts: ["g.internal"] } })).status, 200, "served again once it takes writes");
});
