// The data directory's guards at start-up, on the real service: one service per directory, a
// database that belongs to its CA, and damage refused.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import t, { type Test } from "tap";
import { datedCa } from "../helpers/dated-ca.js";
import { oneLine, postJson, runCli, serveArgs, startService, subjectKeyId, tempDir, writeFile } from "../helpers/server.js";

// Many real starts and stops of the service: more than the two minutes a file gets by default, on a busy machine.
t.setTimeout(300_000);

/** A data directory made by the real service, with `certificates` certificates issued; the service is stopped again. */
async function usedDataDir(t: Test, certificates = 1): Promise<{ cwd: string; dataDir: string; ski: string }> {
  const cwd = tempDir(t);
  const dataDir = join(cwd, "data");
  const server = await startService(t, { cwd, args: ["--data-dir", dataDir, "--workers", "1"] });
  for (let i = 0; i < certificates; i++) {
    const answer = await postJson(server.api, "newcert", { request: { CN: `host-${i}.example`, hosts: [`host-${i}.example`], key: { algo: "ecdsa", size: 256 } } });
    t.equal(answer.status, 200);
  }
  t.equal((await server.stop("SIGTERM")).code, 0);
  return { cwd, dataDir, ski: subjectKeyId(readFileSync(join(dataDir, "ca.pem"), "utf8")) };
}

function recordedCa(dataDir: string): string | undefined {
  const db = new Database(join(dataDir, "certs.db"), { readonly: true });
  try {
    return (db.prepare("SELECT value FROM meta WHERE key = 'ca_subject_key_id'").get() as { value: string } | undefined)?.value;
  } finally {
    db.close();
  }
}

t.test("a second serve on the same data directory exits 1 at once, naming the first; kill -9 leaves no stale lock", async (t) => {
  const cwd = tempDir(t);
  const first = await startService(t, { cwd, args: ["--workers", "1"] });
  const started = Date.now();
  const second = await runCli(t, await serveArgs("data"), { cwd });
  t.equal(second.code, 1, "exit code 1");
  oneLine(t, second.stderr);
  t.match(second.stderr, new RegExp(`data directory data is in use by process ${first.child.pid} `), "names the process that holds it");
  t.ok(Date.now() - started < 8000, "refused without waiting");
  t.ok((await fetch(`${first.api}/health`)).ok, "the first still serves");
  await first.stop("SIGKILL");
  const third = await startService(t, { cwd, args: ["--workers", "1"] });
  t.ok((await fetch(`${third.api}/health`)).ok, "a start after kill -9 is not blocked");
});

t.test("the database's CA is recorded at the first start", async (t) => {
  const { dataDir, ski } = await usedDataDir(t, 0);
  t.equal(recordedCa(dataDir), ski, "meta holds the CA's subject key id");
  const identity = JSON.parse(readFileSync(join(dataDir, "database-identity.json"), "utf8")) as Record<string, string>;
  t.equal(identity.ca_subject_key_id, ski, "and so does the identity file beside it");
  t.match(identity.ca_certificate_sha256, /^[0-9a-f]{64}$/);
});

t.test("certs.db missing beside a CA that recorded certificates: refused, and --allow-new-database begins a new one", async (t) => {
  const { cwd, dataDir } = await usedDataDir(t);
  for (const name of ["certs.db", "certs.db-wal", "certs.db-shm"]) rmSync(join(dataDir, name), { force: true });
  const refused = await runCli(t, await serveArgs("data"), { cwd });
  t.equal(refused.code, 1);
  oneLine(t, refused.stderr);
  t.match(refused.stderr, /certs\.db is missing.*--allow-new-database/);
  t.notOk(existsSync(join(dataDir, "certs.db")), "no new database is made");
  // Without the identity file, a WAL left behind still tells of a database (and would be replayed into a new one).
  rmSync(join(dataDir, "database-identity.json"));
  writeFileSync(join(dataDir, "certs.db-wal"), Buffer.alloc(8192, 1));
  const walLeft = await runCli(t, await serveArgs("data"), { cwd });
  t.equal(walLeft.code, 1);
  oneLine(t, walLeft.stderr);
  t.match(walLeft.stderr, /certs\.db is missing, but data\/certs\.db-wal beside it holds commits/);
  const allowed = await startService(t, { cwd, args: ["--data-dir", "data", "--workers", "1", "--allow-new-database"] });
  await allowed.stop("SIGTERM");
  const after = await startService(t, { cwd, args: ["--data-dir", "data", "--workers", "1"] });
  t.ok((await fetch(`${after.api}/health`)).ok, "later starts need no flag");
});

t.test("an empty (0-byte) certs.db is refused; CERTWRIGHT_ALLOW_NEW_DATABASE=1 replaces it", async (t) => {
  const { cwd, dataDir, ski } = await usedDataDir(t);
  truncateSync(join(dataDir, "certs.db"), 0);
  rmSync(join(dataDir, "certs.db-wal"), { force: true });
  const refused = await runCli(t, await serveArgs("data"), { cwd });
  t.equal(refused.code, 1);
  oneLine(t, refused.stderr);
  t.match(refused.stderr, /certs\.db is empty \(0 bytes\).*--allow-new-database/);
  t.equal(statSync(join(dataDir, "certs.db")).size, 0, "left as it was");
  const allowed = await startService(t, { cwd, args: ["--data-dir", "data", "--workers", "1"], env: { CERTWRIGHT_ALLOW_NEW_DATABASE: "1" } });
  await allowed.stop("SIGTERM");
  t.equal(recordedCa(dataDir), ski);
});

t.test("a database of another CA is refused, data directory CA or --ca; the flag adopts it", async (t) => {
  const { cwd, dataDir, ski } = await usedDataDir(t);
  const now = Date.now();
  const other = await datedCa(new Date(now - 3_600_000), new Date(now + 30 * 86_400_000), "Other CA");
  writeFile(cwd, "other.pem", other.certificate);
  writeFile(cwd, "other-key.pem", other.key);
  const otherSki = subjectKeyId(other.certificate);

  const byo = await runCli(t, await serveArgs("data", "--ca", "other.pem", "--ca-key", "other-key.pem"), { cwd });
  t.equal(byo.code, 1, "--ca of another CA: exit 1");
  oneLine(t, byo.stderr);
  t.match(byo.stderr, new RegExp(`belongs to another CA \\(subject key id ${ski}\\) than --ca other\\.pem \\(${otherSki}\\).*--allow-new-database`));

  // The same database beside another data directory's CA (a restore into the wrong directory).
  const elsewhere = join(cwd, "elsewhere");
  mkdirSync(elsewhere);
  writeFile(elsewhere, "ca.pem", other.certificate);
  writeFile(elsewhere, "ca-key.pem", other.key);
  writeFileSync(join(elsewhere, "certs.db"), readFileSync(join(dataDir, "certs.db")));
  const copied = await runCli(t, await serveArgs("elsewhere"), { cwd });
  t.equal(copied.code, 1, "another directory's CA: exit 1");
  oneLine(t, copied.stderr);
  t.match(copied.stderr, /belongs to another CA .* than elsewhere\/ca\.pem/);

  const adopted = await startService(t, { cwd, args: ["--data-dir", "data", "--workers", "1", "--ca", "other.pem", "--ca-key", "other-key.pem", "--allow-new-database"] });
  await adopted.stop("SIGTERM");
  t.equal(recordedCa(dataDir), otherSki, "the database is the other CA's from then on");
  const again = await startService(t, { cwd, args: ["--data-dir", "data", "--workers", "1", "--ca", "other.pem", "--ca-key", "other-key.pem"] });
  t.ok((await fetch(`${again.api}/health`)).ok, "and starts with it without the flag");
});

t.test("a database made before the CA was recorded gets it; one whose newest certificate is another CA's is refused", async (t) => {
  const { cwd, dataDir, ski } = await usedDataDir(t);
  const db = new Database(join(dataDir, "certs.db"));
  db.exec("DELETE FROM meta");
  db.close();
  rmSync(join(dataDir, "database-identity.json"));
  const server = await startService(t, { cwd, args: ["--data-dir", "data", "--workers", "1"] });
  await server.stop("SIGTERM");
  t.equal(recordedCa(dataDir), ski, "recorded at the first start of this version");

  const older = new Database(join(dataDir, "certs.db"));
  older.exec("DELETE FROM meta; UPDATE certificates SET authority_key_identifier = '00112233445566778899aabbccddeeff00112233'");
  older.close();
  const refused = await runCli(t, await serveArgs("data"), { cwd });
  t.equal(refused.code, 1);
  oneLine(t, refused.stderr);
  t.match(refused.stderr, /belongs to another CA \(subject key id 00112233445566778899aabbccddeeff00112233\)/);
});

t.test("CA files missing beside a database with certificates: refused, and no new CA is written", async (t) => {
  const { cwd, dataDir } = await usedDataDir(t);
  rmSync(join(dataDir, "ca.pem"));
  rmSync(join(dataDir, "ca-key.pem"));
  const refused = await runCli(t, await serveArgs("data"), { cwd });
  t.equal(refused.code, 1);
  oneLine(t, refused.stderr);
  t.match(refused.stderr, /ca\.pem and .*ca-key\.pem are missing beside .*certs\.db.*restore both from a backup/);
  t.notOk(existsSync(join(dataDir, "ca.pem")), "no ca.pem");
  t.notOk(existsSync(join(dataDir, "ca-key.pem")), "no ca-key.pem");
});

t.test("a database with a damaged page is refused at start with one line", async (t) => {
  const { cwd, dataDir } = await usedDataDir(t);
  // Enough rows that the middle of the file is a b-tree page of certificates, as in a real inventory.
  const db = new Database(join(dataDir, "certs.db"));
  db.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
    INSERT INTO certificates (serial_number, authority_key_identifier, ca_label, profile, status, reason, expiry, pem, issued_at, not_before, sans, common_name)
    SELECT 'x' || i, authority_key_identifier, ca_label, profile, status, reason, expiry, pem, issued_at, not_before, sans, common_name
    FROM certificates, n`);
  db.close();
  const path = join(dataDir, "certs.db");
  const pages = statSync(path).size / 4096;
  t.ok(pages > 100, `${pages} pages`);
  const fd = openSync(path, "r+");
  // A whole page in the middle of the file, overwritten as a bad disk block or a stray write would.
  const garbage = Buffer.alloc(4096, 0xa5);
  writeSync(fd, garbage, 0, garbage.length, Math.floor(pages / 2) * 4096);
  closeSync(fd);
  const refused = await runCli(t, await serveArgs("data"), { cwd });
  t.equal(refused.code, 1);
  oneLine(t, refused.stderr);
  t.match(refused.stderr, /database data\/certs\.db is damaged \(PRAGMA quick_check: .+\); restore certs\.db/);
});
