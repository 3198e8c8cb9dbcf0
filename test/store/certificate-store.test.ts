// The certificate database: migrations, durability pragmas, and the store's queries, on real SQLite files.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import t from "tap";
import { CertificateStore } from "../../src/store/certificate-store.js";
import type { IssuedCertificate } from "../../src/model/issued-certificate.js";
import { migrationsDir, openDatabase } from "../../src/store/database.js";

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "certwright-store-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const highestMigration = Math.max(
  ...readdirSync(migrationsDir)
    .filter((name) => /^\d+_.*\.sql$/.test(name))
    .map((name) => parseInt(name, 10)),
);

function record(overrides: Partial<IssuedCertificate> = {}): IssuedCertificate {
  return {
    serialNumber: "318025543823853442546437364347397425442356262951",
    authorityKeyId: "3f2a9c0b5e7d41a8c6b2e0f19d8a7c6b5e4d3c2b",
    caLabel: "",
    profile: "kubernetes",
    expiry: new Date("2027-01-01T00:00:00.000Z"),
    pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    issuedAt: new Date("2026-01-01T00:05:00.000Z"),
    notBefore: new Date("2026-01-01T00:00:00.000Z"),
    metadata: null,
    subjectNames: [],
    requestedBy: null,
    sans: ["kubernetes", "10.96.0.1"],
    commonName: "kubernetes",
    ...overrides,
  };
}

t.test("the package's migrations apply once; user_version is the highest migration number", async (t) => {
  t.ok(highestMigration >= 1, `highest migration ${highestMigration}`);
  const dir = tempDir(t);
  const path = join(dir, "certs.db");
  const first = openDatabase(path);
  t.equal(first.pragma("user_version", { simple: true }), highestMigration);
  const tables = first.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
  t.ok(tables.includes("certificates"));
  const columns = first.prepare("SELECT name FROM pragma_table_info('certificates')").pluck().all();
  for (const column of ["serial_number", "authority_key_identifier", "ca_label", "profile", "status", "reason", "expiry", "revoked_at", "pem", "issued_at", "not_before", "metadata", "sans", "common_name"]) {
    t.ok(columns.includes(column), `column ${column}`);
  }
  new CertificateStore(first).insert(record());
  first.close();

  // Opening again (a restart) does not apply anything twice, and keeps the data.
  const second = openDatabase(path);
  t.equal(second.pragma("user_version", { simple: true }), highestMigration);
  const store = new CertificateStore(second);
  t.equal(store.count(), 1, "the row survives reopening");
  store.close();
  t.doesNotThrow(() => CertificateStore.open(path).close(), "a third open through the store is fine too");
});

t.test("numbered migrations run in numeric order, each once, each in its own transaction", async (t) => {
  const dir = tempDir(t);
  const migrations = join(dir, "migrations");
  const { mkdirSync } = await import("node:fs");
  mkdirSync(migrations);
  writeFileSync(join(migrations, "1_create.sql"), "CREATE TABLE log (step TEXT);");
  writeFileSync(join(migrations, "2_first.sql"), "INSERT INTO log VALUES ('two');");
  writeFileSync(join(migrations, "10_tenth.sql"), "INSERT INTO log VALUES ('ten');");
  writeFileSync(join(migrations, "README.md"), "not a migration");
  const path = join(dir, "test.db");

  const db = openDatabase(path, migrations);
  t.equal(db.pragma("user_version", { simple: true }), 10, "10 sorts after 2");
  t.same(db.prepare("SELECT step FROM log").pluck().all(), ["two", "ten"]);
  db.close();
  const again = openDatabase(path, migrations);
  t.same(again.prepare("SELECT step FROM log").pluck().all(), ["two", "ten"], "nothing applied twice");
  again.close();

  // A new migration is picked up on the next open; a failing one is rolled back whole and refused.
  writeFileSync(join(migrations, "11_more.sql"), "INSERT INTO log VALUES ('eleven');");
  writeFileSync(join(migrations, "12_broken.sql"), "INSERT INTO log VALUES ('twelve'); INSERT INTO nowhere VALUES (1);");
  t.throws(() => openDatabase(path, migrations), /no such table: nowhere/);
  const after = new Database(path, { readonly: true });
  t.equal(after.pragma("user_version", { simple: true }), 11, "11 applied; 12 not recorded");
  t.same(after.prepare("SELECT step FROM log").pluck().all(), ["two", "ten", "eleven"], "12's first statement was rolled back");
  after.close();
});

t.test("journal_mode is WAL and synchronous is FULL (2)", async (t) => {
  const dir = tempDir(t);
  const db = openDatabase(join(dir, "certs.db"));
  t.teardown(() => db.close());
  t.equal(db.pragma("journal_mode", { simple: true }), "wal");
  t.equal(db.pragma("synchronous", { simple: true }), 2, "FULL: a commit that returned is on disk");
  t.equal(db.pragma("foreign_keys", { simple: true }), 1);
  t.ok((db.pragma("busy_timeout", { simple: true }) as number) >= 1000, "waits for a lock rather than failing at once");
});

t.test("insert, get and count round trip", async (t) => {
  const dir = tempDir(t);
  const store = CertificateStore.open(join(dir, "certs.db"));
  t.teardown(() => store.close());
  t.equal(store.count(), 0);
  const one = record();
  store.insert(one);
  t.equal(store.count(), 1);

  const got = store.get(one.serialNumber, one.authorityKeyId);
  t.ok(got);
  t.equal(got?.serialNumber, one.serialNumber);
  t.equal(got?.authorityKeyId, one.authorityKeyId);
  t.equal(got?.caLabel, "");
  t.equal(got?.profile, "kubernetes");
  t.equal(got?.status, "good", "new certificates are good");
  t.equal(got?.reason, 0);
  t.equal(got?.revokedAt, null);
  t.equal(got?.expiry.toISOString(), one.expiry.toISOString());
  t.equal(got?.issuedAt.toISOString(), one.issuedAt.toISOString());
  t.equal(got?.notBefore.toISOString(), one.notBefore.toISOString());
  t.equal(got?.pem, one.pem);
  t.equal(got?.metadata, null);
  t.same(got?.sans, one.sans);
  t.equal(got?.commonName, "kubernetes");
  t.same(store.get(one.serialNumber, one.authorityKeyId.toUpperCase()), got, "the authority key id is matched in any case");

  t.equal(store.get("1", one.authorityKeyId), undefined, "an unknown serial");
  t.equal(store.get(one.serialNumber, "00"), undefined, "the same serial under another CA");

  // The same serial under another CA is another certificate; timestamps are stored as ISO text.
  store.insert(record({ authorityKeyId: "aa".repeat(20), sans: [], commonName: "", metadata: '{"k":"v"}' }));
  t.equal(store.count(), 2);
  t.same(store.get(one.serialNumber, "aa".repeat(20))?.sans, []);
  t.equal(store.get(one.serialNumber, "aa".repeat(20))?.metadata, '{"k":"v"}');

  // What another reader sees on disk: decimal serial text, lower-hex authority key id, ISO times.
  const reader = new Database(join(dir, "certs.db"), { readonly: true });
  const row = reader.prepare("SELECT * FROM certificates WHERE authority_key_identifier = ?").get(one.authorityKeyId) as Record<string, unknown>;
  reader.close();
  t.equal(row.serial_number, one.serialNumber);
  t.equal(row.expiry, "2027-01-01T00:00:00.000Z");
  t.equal(row.sans, JSON.stringify(one.sans));
});

t.test("a duplicate (serial, authority key id) insert throws and changes nothing", async (t) => {
  const dir = tempDir(t);
  const store = CertificateStore.open(join(dir, "certs.db"));
  t.teardown(() => store.close());
  store.insert(record());
  t.throws(() => store.insert(record({ profile: "client", commonName: "other" })), {
    name: "DuplicateSerialError",
    cause: { code: "SQLITE_CONSTRAINT_PRIMARYKEY" },
  });
  t.equal(store.count(), 1);
  t.equal(store.get(record().serialNumber, record().authorityKeyId)?.profile, "kubernetes", "the first row is untouched");
});

t.test("close is idempotent", async (t) => {
  const dir = tempDir(t);
  const store = CertificateStore.open(join(dir, "certs.db"));
  store.close();
  t.doesNotThrow(() => store.close());
});
