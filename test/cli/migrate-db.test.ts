// `certwright migrate-db` from a real service's certs.db to a real PostgreSQL: every row as it was,
// a second run that changes nothing, a later revocation carried over, and the refusals.
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import t from "tap";
import type { CertificateRow } from "../../src/store/certificate-row.js";
import { SqliteAcmeStore } from "../../src/store/acme-sqlite.js";
import { PostgresAcmeStore } from "../../src/store/postgres/acme.js";
import { migratePostgres } from "../../src/store/postgres/migrate.js";
import { textRow } from "../../src/store/postgres/inventory.js";
import { postgresSkip, startPostgres } from "../helpers/postgres.js";
import { decimalSerial, postJson, runCli, startService, tempDir } from "../helpers/server.js";

const summaryLine = (certificates: number, revoked: number, held: number) =>
  new RegExp(`^copied ${certificates} certificates \\(${revoked} revoked\\) and 1 CRL numbers; PostgreSQL now holds ${held} certificates for 1 CA\\(s\\): counts match$`, "m");

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function sqliteRows(path: string): CertificateRow[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare("SELECT * FROM certificates ORDER BY issued_at, rowid").all() as CertificateRow[];
  } finally {
    db.close();
  }
}

t.test("migrate-db copies a service's certs.db into PostgreSQL", { skip: postgresSkip }, async (t) => {
  const cwd = tempDir(t, "certwright-migrate-");
  const dataDir = join(cwd, "data");
  const certsDb = join(dataDir, "certs.db");
  const service = await startService(t, { cwd, args: ["--data-dir", dataDir, "--workers", "1", "--log-level", "warn"] });
  const serials: string[] = [];
  for (const cn of ["a.internal", "b.internal", "c.internal", "d.internal"]) {
    const answer = await postJson(service.api, "newcert", { request: { CN: cn, hosts: [cn] }, profile: "server" });
    t.equal(answer.status, 200, answer.status === 200 ? `issued ${cn}` : JSON.stringify(answer.body));
    serials.push(decimalSerial(new X509Certificate(answer.body.result.certificate).serialNumber));
  }
  const revoke = async (serial: string) => {
    const answer = await postJson(service.api, "revoke", { serial, reason: "keyCompromise" });
    t.equal(answer.status, 200, answer.status === 200 ? `revoked ${serial}` : JSON.stringify(answer.body));
  };
  await revoke(serials[0]!);
  const crl = await fetch(`${service.url}/crl/default.crl`);
  t.equal(crl.status, 200, "a CRL was made, so crl_numbers has a row");

  const cluster = await startPostgres(t);
  const url = await cluster.createDatabase();
  const migrateDb = (...more: string[]) => runCli(t, ["migrate-db", "--from", certsDb, "--to", url, ...more], { cwd, timeoutMs: 60_000 });
  const pgRows = () => withClient(url, async (client) => (await client.query("SELECT * FROM certificates ORDER BY id")).rows as Record<string, unknown>[]);

  t.test("the first run, while the service runs, copies every row as it is", async (t) => {
    const run = await migrateDb();
    t.equal(run.code, 0, run.stderr);
    t.match(run.stdout, summaryLine(4, 1, 4));
    t.match(run.stdout, /^4 certificates new to PostgreSQL, 0 revocations brought forward$/m);
    const source = sqliteRows(certsDb);
    const copied = (await pgRows()).map((row) => {
      const { id: _id, ...rest } = textRow(row) as CertificateRow & { id: string };
      return rest;
    });
    t.same(copied, source, "every column, times to the millisecond, pem, revocation; PostgreSQL's ids follow issuance");
    t.equal(copied.filter((row) => row.status === "revoked").length, 1);
    await withClient(url, async (client) => {
      const db = new Database(certsDb, { readonly: true });
      t.teardown(() => db.close());
      const crlNumbers = db.prepare("SELECT authority_key_identifier, last_number FROM crl_numbers").all() as { authority_key_identifier: string; last_number: number }[];
      t.equal(crlNumbers.length, 1);
      const { rows } = await client.query("SELECT authority_key_identifier, last_number::int FROM crl_numbers");
      t.same(rows, crlNumbers, "the CRL number");
      const meta = db.prepare("SELECT key, value FROM meta WHERE key LIKE 'ca_%' ORDER BY key").all();
      t.ok(meta.length >= 2, "the service recorded its CA identity");
      t.same((await client.query("SELECT key, value FROM meta ORDER BY key")).rows, meta, "the CA identity");
    });
  });

  t.test("a second run changes nothing", async (t) => {
    const before = await pgRows();
    const run = await migrateDb();
    t.equal(run.code, 0, run.stderr);
    t.match(run.stdout, summaryLine(4, 1, 4));
    t.notMatch(run.stdout, /new to PostgreSQL/, "nothing new to report");
    t.same(await pgRows(), before, "the same rows with the same ids");
  });

  t.test("a revocation made since is carried over; none is undone and the CRL number never goes back", async (t) => {
    await revoke(serials[2]!);
    await service.stop("SIGTERM");
    // A replica revoked one on PostgreSQL, and took the CRL number further, after the first copy.
    await withClient(url, async (client) => {
      await client.query("UPDATE certificates SET status = 'revoked', reason = 4, revoked_at = now() WHERE serial_number = $1", [serials[3]]);
      await client.query("UPDATE crl_numbers SET last_number = 1000");
    });
    // Replay nonces: one still inside its window, one past it.
    const db = new Database(certsDb);
    db.prepare("INSERT INTO seen_nonces (key_name, nonce, expires_at) VALUES (?, ?, ?)").run("provisioner", "live", Date.now() + 300_000);
    db.prepare("INSERT INTO seen_nonces (key_name, nonce, expires_at) VALUES (?, ?, ?)").run("provisioner", "stale", Date.now() - 1000);
    // An ACME account with an order, its authorization and challenge.
    const acme = new SqliteAcmeStore(db);
    acme.insertAccount({ id: "acc", provisioner: "default", thumbprint: "tp", jwk: { kty: "OKP" }, status: "valid", contact: [], eabKeyId: null, createdAt: 1 });
    acme.insertOrder(
      { id: "ord", accountId: "acc", provisioner: "default", status: "ready", expires: 2, identifiers: [{ type: "dns", value: "a.internal" }], notBefore: null, notAfter: null, error: null, certificateSerial: null, certificateAuthorityKeyId: null, certificatePem: null, createdAt: 1 },
      [{ id: "az", orderId: "ord", identifier: { type: "dns", value: "a.internal" }, status: "valid", expires: 2, wildcard: true }],
      [{ id: "ch", authorizationId: "az", type: "dns-01", token: "tok", status: "valid", validated: 1, error: null }],
    );
    db.close();
    const run = await migrateDb("--batch-size", "1");
    t.equal(run.code, 0, run.stderr);
    t.match(run.stdout, /^0 certificates new to PostgreSQL, 1 revocations brought forward$/m);
    t.match(run.stdout, /^copied 1 ACME accounts and 1 ACME orders$/m);
    t.match(run.stdout, summaryLine(4, 2, 4));
    const source = new Map(sqliteRows(certsDb).map((row) => [row.serial_number, row]));
    const copied = new Map((await pgRows()).map((row) => [row.serial_number as string, textRow(row)]));
    const later = copied.get(serials[2]!)!;
    t.same([later.status, later.reason, later.revoked_at], [source.get(serials[2]!)!.status, 1, source.get(serials[2]!)!.revoked_at], "revoked as SQLite says, at the same time");
    t.equal(copied.get(serials[3]!)!.status, "revoked", "a revocation made on PostgreSQL stays");
    t.equal(copied.get(serials[3]!)!.reason, 4);
    t.equal(copied.get(serials[1]!)!.status, "good");
    await withClient(url, async (client) => {
      t.equal((await client.query("SELECT last_number::int AS n FROM crl_numbers")).rows[0].n, 1000, "the CRL number PostgreSQL reached stays");
      t.same((await client.query("SELECT key_name, nonce FROM seen_nonces")).rows, [{ key_name: "provisioner", nonce: "live" }], "the live replay nonce, not the stale one");
      const pgAcme = new PostgresAcmeStore(client as unknown as pg.Pool);
      t.same(await pgAcme.accountByThumbprint("default", "tp"), { id: "acc", provisioner: "default", thumbprint: "tp", jwk: { kty: "OKP" }, status: "valid", contact: [], eabKeyId: null, createdAt: 1 }, "the ACME account");
      t.same((await pgAcme.authorizationById("az"))?.wildcard, true, "its order's authorization");
      t.same((await pgAcme.challengeById("ch"))?.validated, 1, "and challenge");
    });
  });

  t.test("a certificate PostgreSQL does not take: exit 1, and what is short", async (t) => {
    const other = await cluster.createDatabase();
    await withClient(other, async (client) => {
      await migratePostgres(client);
      await client.query("CREATE FUNCTION drop_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$");
      await client.query("CREATE TRIGGER drop_b BEFORE INSERT ON certificates FOR EACH ROW WHEN (NEW.common_name = 'b.internal') EXECUTE FUNCTION drop_row()");
    });
    const run = await runCli(t, ["migrate-db", "--from", certsDb, "--to", other], { cwd, timeoutMs: 60_000 });
    t.equal(run.code, 1);
    t.match(run.stderr, /PostgreSQL now holds 3 certificates for 1 CA\(s\): counts do not match/);
    t.match(run.stderr, /SQLite holds 4 certificates \(2 revoked\), PostgreSQL 3 \(2 revoked\)/);
    t.match(run.stderr, /1 of SQLite's certificates are not in PostgreSQL/);
    t.match(run.stderr, /^certwright: migrate-db: PostgreSQL does not hold everything/m);
  });

  t.test("a PostgreSQL database of another CA is refused before anything is copied", async (t) => {
    const other = await cluster.createDatabase();
    await withClient(other, async (client) => {
      await migratePostgres(client);
      await client.query("INSERT INTO meta (key, value) VALUES ('ca_subject_key_id', 'ffffffffffffffffffffffffffffffffffffffff')");
    });
    const run = await runCli(t, ["migrate-db", "--from", certsDb, "--to", other], { cwd, timeoutMs: 60_000 });
    t.equal(run.code, 1);
    t.match(run.stderr, /^certwright: migrate-db: the PostgreSQL database belongs to another CA \(subject key id f{40}; the SQLite database's is [0-9a-f]+\); nothing was copied/);
    await withClient(other, async (client) => {
      t.equal((await client.query("SELECT count(*)::int AS n FROM certificates")).rows[0].n, 0);
      t.equal((await client.query("SELECT count(*)::int AS n FROM crl_numbers")).rows[0].n, 0);
    });
  });

  t.test("an unreachable PostgreSQL: exit 1, the password hidden", async (t) => {
    const run = await runCli(t, ["migrate-db", "--from", certsDb, "--to", `postgres://certwright:s3cret@127.0.0.1:${cluster.port + 1}/x`], { cwd, timeoutMs: 60_000 });
    t.equal(run.code, 1);
    t.match(run.stderr, /^certwright: migrate-db: cannot connect to PostgreSQL at postgres:\/\/certwright:\*\*\*@127\.0\.0\.1:/);
    t.notMatch(run.stderr, /s3cret/);
  });
});

t.test("migrate-db's refusals of its flags and of its source", async (t) => {
  const cwd = tempDir(t, "certwright-migrate-");
  const certsDb = join(cwd, "certs.db");
  const cases: [string, string[], number, RegExp][] = [
    ["no --to", ["--from", certsDb], 2, /^certwright: migrate-db: --to URL is required/],
    ["no --from", ["--to", "postgres://h/db"], 2, /^certwright: migrate-db: --from FILE is required/],
    ["not a PostgreSQL URL", ["--from", certsDb, "--to", "mysql://u:pw@h/db"], 2, /--to must be a postgres:\/\/ or postgresql:\/\/ URL, not "mysql:\/\/u:\*\*\*@h\/db"/],
    ["a bad batch size", ["--from", certsDb, "--to", "postgres://h/db", "--batch-size", "0"], 2, /--batch-size: "0" is not a whole number/],
    ["no database there", ["--from", join(cwd, "nowhere.db"), "--to", "postgres://h/db"], 1, /^certwright: migrate-db: no database at .*nowhere\.db; give the service's certs\.db/],
  ];
  for (const [name, args, code, message] of cases) {
    const run = await runCli(t, ["migrate-db", ...args], { cwd });
    t.equal(run.code, code, name);
    t.match(run.stderr, message, name);
    t.equal(run.stderr.trim().split("\n").length, 1, `${name}: one line`);
  }

  writeFileSync(join(cwd, "notes.txt"), "not a database at all, but long enough to be read as one".repeat(40));
  const text = await runCli(t, ["migrate-db", "--from", join(cwd, "notes.txt"), "--to", "postgres://h/db"], { cwd });
  t.equal(text.code, 1);
  t.match(text.stderr, /notes\.txt is not a certwright database/);

  const empty = new Database(join(cwd, "other.db"));
  empty.exec("CREATE TABLE things (id INTEGER)");
  empty.close();
  const other = await runCli(t, ["migrate-db", "--from", join(cwd, "other.db"), "--to", "postgres://h/db"], { cwd });
  t.equal(other.code, 1);
  t.match(other.stderr, /other\.db is not a certwright database \(it has no certificates or crl_numbers table\)/);

  const help = await runCli(t, ["migrate-db", "--help"], { cwd });
  t.equal(help.code, 0);
  t.match(help.stdout, /--from FILE/);
  t.match(help.stdout, /stop the service/);
  const usage = await runCli(t, ["help"], { cwd });
  t.match(usage.stdout, /migrate-db +copy a SQLite certificate database into PostgreSQL/);
});
