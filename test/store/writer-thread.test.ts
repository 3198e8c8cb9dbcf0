// The database writer thread under supervision and under watch: it dies and comes back without
// leaving a request waiting; its database files deleted under it stop every write; a commit that
// fails marks the database as taking no writes until a write succeeds again.
import { once } from "node:events";
import { readdirSync, unlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import Database from "better-sqlite3";
import t from "tap";
import { ReadinessService } from "../../src/authority/readiness.js";
import { CertificateStore } from "../../src/store/certificate-store.js";
import type { IssuedCertificate } from "../../src/model/issued-certificate.js";
import { captureDatabaseFiles } from "../../src/store/database-files.js";
import { DatabaseHealth } from "../../src/store/database-health.js";
import { GroupCommitRecorder } from "../../src/store/group-commit.js";
import { WriterThread } from "../../src/store/writer-client.js";
import { makeCa, post, tempDir, testApp } from "../helpers/app.js";

let serial = 1;
function row(): IssuedCertificate {
  const n = String(serial++);
  return { serialNumber: n, authorityKeyId: "ab", caLabel: "", profile: "default", expiry: new Date(), pem: "x", issuedAt: new Date(), notBefore: new Date(), metadata: null, subjectNames: [], requestedBy: null, sans: [], commonName: n };
}

async function until(condition: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await condition()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return await condition();
}

/** A database, its main-thread store, and a writer thread with a health watching both. */
async function setUp(t: { teardown(fn: () => void | Promise<void>): void }, watchMs?: number) {
  const path = join(tempDir(t), "certs.db");
  const store = CertificateStore.open(path);
  const logs: string[] = [];
  const health = new DatabaseHealth(captureDatabaseFiles(path), {
    log: (level, message) => logs.push(`${level}: ${message}`),
    checkpoint: () => store.db.pragma("wal_checkpoint(FULL)"),
  });
  const writer = await WriterThread.start(path, { health });
  if (watchMs !== undefined) health.watch(writer, watchMs, 60_000);
  t.teardown(async () => {
    await writer.close();
    store.close();
  });
  const { ca } = await makeCa();
  const readiness = new ReadinessService({ ca, database: { checkWritable() {} }, writes: health });
  return { path, store, health, writer, logs, readiness };
}

t.test("the writer thread dies: a batch sent while it is down fails at once, readiness says so, and it is restarted", async (t) => {
  const { store, writer, readiness } = await setUp(t);
  await writer.insertMany([row(), row()]);
  const worker = writer.supervised.worker!;
  const exited = once(worker, "exit");
  await worker.terminate();
  await exited;
  const started = Date.now();
  await t.rejects(writer.insertMany([row()]), { name: "WriteRefusedError", message: /nothing was committed: database writer thread is down \(exited with code \d; restarting\)/ });
  t.ok(Date.now() - started < 100, "refused at once (the old writer posted it to the dead thread and waited forever)");
  const check = await readiness.check();
  t.equal(check.ready, false);
  t.match(check.checks.database.detail, /takes no writes: the database writer thread is down \(exited with code \d; restarting\)/);
  t.ok(await until(() => writer.down === undefined), "restarted");
  t.equal((await readiness.check()).ready, true);
  await writer.insertMany([row()]);
  t.equal(store.count(), 3, "the restarted writer commits");
});

t.test("through the app: issuance while the writer is down gets 503 11100 at once", async (t) => {
  const { writer, store } = await setUp(t);
  const recorder = new GroupCommitRecorder(writer);
  const { app } = await testApp(t, { store: { insert: (r) => recorder.insert(r), get: (s, a) => store.get(s, a) } });
  await writer.supervised.worker!.terminate();
  const answer = await post(app, "newcert", { request: { CN: "a.internal", hosts: ["a.internal"] } });
  t.equal(answer.status, 503);
  t.match(answer.body, { success: false, result: null, errors: [{ code: 11100 }] });
  t.ok(await until(() => writer.down === undefined));
  t.equal((await post(app, "newcert", { request: { CN: "a.internal", hosts: ["a.internal"] } })).status, 200);
});

t.test("the WAL deleted: the next batch is refused, what was committed before is copied into certs.db, the writer stays refused", async (t) => {
  const { path, store, writer, health, logs, readiness } = await setUp(t);
  await writer.insertMany([row(), row(), row()]);
  unlinkSync(`${path}-wal`);
  await t.rejects(writer.insertMany([row()]), { name: "WriteRefusedError", message: /not recorded: certs\.db-wal was deleted while the service had it open/ });
  t.match(health.lost, /certs\.db-wal was deleted/);
  t.match((await readiness.check()).checks.database.detail, /certs\.db-wal was deleted while the service had it open; restart the service/);
  t.equal(logs.length, 1, "one log line");
  t.match(logs[0], /^error: certs\.db-wal was deleted while the service had it open; what was committed before is copied into certs\.db: certificates written now would be lost/);
  await t.rejects(writer.insertMany([row()]), { name: "WriteRefusedError" }, "and every batch after");
  await t.rejects(writer.probe(), { name: "WriteRefusedError" });
  // Read as a fresh start would: the database file alone, without the deleted WAL.
  const copy = new Database(path, { readonly: true });
  t.teardown(() => copy.close());
  t.equal((copy.prepare("SELECT count(*) AS n FROM certificates").get() as { n: number }).n, 3, "the three committed rows are in certs.db itself");
  t.equal(store.count(), 3);
});

t.test("certs.db replaced by another file: the batch committed into the old one is answered with failure", async (t) => {
  const { path, writer, health, logs } = await setUp(t);
  await writer.insertMany([row()]);
  const other = join(tempDir(t), "other.db");
  CertificateStore.open(other).close();
  const { renameSync } = await import("node:fs");
  renameSync(other, path);
  await t.rejects(writer.insertMany([row()]), { message: /certs\.db was replaced by another file while the service had it open/ });
  t.match(health.lost, /replaced/);
  // What the replaced file held is copied beside it, for the operator to put back.
  t.ok(await until(() => logs.length > 0));
  const copy = /copied to (\S+certs\.db\.rescued-\d{8}T\d{6}Z)/.exec(logs[0]!)?.[1];
  t.ok(copy && readdirSync(dirname(path)).includes(basename(copy)), `the copy is there: ${logs[0]}`);
  const rescued = new Database(copy!, { readonly: true });
  t.teardown(() => rescued.close());
  t.equal((rescued.prepare("SELECT count(*) AS n FROM certificates").get() as { n: number }).n, 1, "with the row committed before (the next batch was refused before its commit)");
});

t.test("a commit that fails marks the database as taking no writes; a probe that succeeds clears it, without a restart", async (t) => {
  const { path, writer, readiness, logs } = await setUp(t, 100);
  // Another connection holds the write lock past the busy timeout: the commit fails as on a full disk.
  const other = new Database(path);
  t.teardown(() => other.close());
  other.exec("BEGIN IMMEDIATE");
  await t.rejects(writer.insertMany([row()]), { message: /database write failed: database is locked/ });
  const check = await readiness.check();
  t.equal(check.ready, false, "not ready after the failed commit");
  t.match(check.checks.database.detail, /takes no writes: the last write failed \(SQLITE_BUSY: database is locked\)/);
  other.exec("ROLLBACK");
  t.ok(await until(async () => (await readiness.check()).ready, 5000), "ready again once a probe write succeeds");
  t.match(logs, [/^error: a write to certs\.db failed \(SQLITE_BUSY/, /^info: certs\.db takes writes again/]);
  await writer.insertMany([row()]);
  const count = (other.prepare("SELECT count(*) AS n FROM certificates").get() as { n: number }).n;
  t.equal(count, 1, "the probe left no row behind; the batch after it is recorded");
});
