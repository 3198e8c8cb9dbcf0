// Moving a deployment from SQLite to PostgreSQL: every certificate, revocation and CRL number of a
// certs.db copied into a PostgreSQL database, then checked there. Safe to run again: a row already
// copied is left as it is, except that a revocation made since is brought forward.
import { existsSync, readdirSync } from "node:fs";
import Database from "better-sqlite3";
import type pg from "pg";
import type { CertificateRow } from "../certificate-row.js";
import { busyTimeoutMs, migrationsDir } from "../database.js";

/** The source cannot be copied: missing, not a certwright database, or at another schema version. */
export class SourceDatabaseError extends Error {
  override name = "SourceDatabaseError";
}

/** The PostgreSQL database already belongs to another CA; nothing was copied. */
export class ForeignCaError extends Error {
  override name = "ForeignCaError";
}

/** The schema version this code writes on SQLite: the last of migrations/*.sql. */
function sqliteSchemaVersion(dir = migrationsDir): number {
  return Math.max(0, ...readdirSync(dir).filter((name) => /^\d+_.*\.sql$/.test(name)).map((name) => parseInt(name, 10)));
}

/**
 * Opens a service's certs.db read-only (nothing is migrated or written) and checks that it is a
 * certwright database at this release's schema version, the one whose columns the copy reads.
 */
export function openSourceDatabase(path: string): Database.Database {
  if (!existsSync(path)) throw new SourceDatabaseError(`no database at ${path}; give the service's certs.db (in its data directory) with --from`);
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    // The running service may hold the write lock for a moment; reading only waits on a checkpoint's.
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    const tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((row) => row.name));
    const version = db.pragma("user_version", { simple: true }) as number;
    const expected = sqliteSchemaVersion();
    if (!tables.has("certificates") || !tables.has("crl_numbers")) {
      throw new SourceDatabaseError(`${path} is not a certwright database (it has no certificates or crl_numbers table); give the service's certs.db with --from`);
    }
    if (version < expected) {
      throw new SourceDatabaseError(
        `${path} is at schema version ${version}, older than this certwright's (${expected}): start this release's service on it once (that migrates it), stop it, and run migrate-db again`,
      );
    }
    if (version > expected) {
      throw new SourceDatabaseError(`${path} is at schema version ${version}, newer than this certwright knows (${expected}): run migrate-db of the release that wrote it`);
    }
    return db;
  } catch (error) {
    db?.close();
    if (error instanceof SourceDatabaseError) throw error;
    throw new SourceDatabaseError(`${path} is not a certwright database: ${(error as Error).message}`);
  }
}

/** Certificates (and revoked ones among them) of one CA, by its subject key id. */
export interface CaCount {
  authorityKeyId: string;
  certificates: number;
  revoked: number;
}

export interface CopyReport {
  /** SQLite's rows read and written (inserted, or found there already). */
  certificates: number;
  revoked: number;
  /** Of those, rows PostgreSQL did not hold yet. */
  inserted: number;
  /** Rows PostgreSQL held as good that SQLite holds as revoked: revoked there now. */
  revocationsBroughtForward: number;
  crlNumbers: number;
  /** Replay nonces still inside their window. */
  nonces: number;
  /** The ACME server's accounts and orders (with their authorizations and challenges) read. */
  acmeAccounts: number;
  acmeOrders: number;
  /** Per CA, what SQLite holds and what PostgreSQL holds after the copy. */
  sqliteCounts: CaCount[];
  postgresCounts: CaCount[];
  /** SQLite's certificates PostgreSQL does not hold after the copy (0 unless something went wrong). */
  missing: number;
  /** SQLite's revoked certificates PostgreSQL holds as good after the copy (0 unless something went wrong). */
  notRevoked: number;
  /** A line for each check that failed; empty when everything matches. */
  mismatches: string[];
}

export interface CopyOptions {
  /** Rows per INSERT, and per check. Default is 1000. */
  batchSize?: number;
  /** The clock that says which replay nonces are still live. Default is the system's. */
  now?: () => Date;
}

/** The CA identity rows of `meta` (migrations/004): the other keys are the service's own notes. */
const identityKeys = ["ca_subject_key_id", "ca_certificate_sha256", "ca_recorded_at"];

const copiedColumns = [
  ["serial_number", "text"],
  ["authority_key_identifier", "text"],
  ["ca_label", "text"],
  ["profile", "text"],
  ["status", "text"],
  ["reason", "int"],
  ["expiry", "timestamptz"],
  ["revoked_at", "timestamptz"],
  ["pem", "text"],
  ["issued_at", "timestamptz"],
  ["not_before", "timestamptz"],
  ["metadata", "text"],
  ["sans", "text"],
  ["common_name", "text"],
  ["requested_by", "text"],
  ["subject_names", "text"],
] as const satisfies readonly (readonly [keyof CertificateRow, string])[];

const names = copiedColumns.map(([name]) => name).join(", ");

// One array parameter per column (16 parameters whatever the batch size, where a VALUES list would
// need 16 per row), inserted in the order read so that PostgreSQL's ids follow issuance. A row there
// already keeps what it holds, except that SQLite's revocation is brought forward; nothing is ever
// un-revoked, since a replica may have revoked it since the last run.
const upsertSql = `
  INSERT INTO certificates AS c (${names})
  SELECT ${names} FROM unnest(${copiedColumns.map(([, type], i) => `$${i + 1}::${type}[]`).join(", ")}) WITH ORDINALITY AS r(${names}, ord)
  ORDER BY ord
  ON CONFLICT (serial_number, authority_key_identifier) DO UPDATE
    SET status = 'revoked', reason = excluded.reason, revoked_at = excluded.revoked_at
    WHERE c.status = 'good' AND excluded.status = 'revoked'
  RETURNING (xmax = 0) AS inserted`;

const checkSql = `
  SELECT count(c.serial_number)::int AS found,
         count(*) FILTER (WHERE k.status = 'revoked' AND c.status = 'good')::int AS not_revoked
  FROM unnest($1::text[], $2::text[], $3::text[]) AS k(serial_number, authority_key_identifier, status)
  LEFT JOIN certificates c ON c.serial_number = k.serial_number AND c.authority_key_identifier = k.authority_key_identifier`;

/** Takes `size` rows at a time from an iterator, so a big table is never in memory at once. */
function* batches<T>(rows: IterableIterator<T>, size: number): Generator<T[]> {
  let batch: T[] = [];
  for (const row of rows) {
    batch.push(row);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

async function postgresCounts(client: pg.ClientBase): Promise<CaCount[]> {
  const { rows } = await client.query<{ aki: string; n: string; revoked: string }>(
    "SELECT authority_key_identifier AS aki, count(*) AS n, count(*) FILTER (WHERE status = 'revoked') AS revoked FROM certificates GROUP BY 1 ORDER BY 1",
  );
  return rows.map((row) => ({ authorityKeyId: row.aki, certificates: Number(row.n), revoked: Number(row.revoked) }));
}

/**
 * Copies `source` (from openSourceDatabase) into the migrated PostgreSQL database `client` is
 * connected to, then checks it. Everything is read from one SQLite snapshot (a read transaction),
 * so a service still writing to certs.db neither blocks the copy nor makes its rows and its checks
 * disagree; what it writes after the snapshot is copied by the next run. (While the snapshot is
 * held, the service's WAL is not checkpointed past it and grows: 600,000 certificates took 20 s.)
 * Throws ForeignCaError, before writing anything, when PostgreSQL belongs to another CA.
 */
export async function copySqliteToPostgres(source: Database.Database, client: pg.ClientBase, options: CopyOptions = {}): Promise<CopyReport> {
  const batchSize = options.batchSize ?? 1000;
  const now = options.now ?? (() => new Date());
  source.exec("BEGIN");
  try {
    const meta = source.prepare(`SELECT key, value FROM meta WHERE key IN (${identityKeys.map(() => "?").join(", ")})`).all(...identityKeys) as { key: string; value: string }[];
    const sourceCa = meta.find((row) => row.key === "ca_subject_key_id")?.value;
    const { rows: target } = await client.query<{ value: string }>("SELECT value FROM meta WHERE key = 'ca_subject_key_id'");
    const targetCa = target[0]?.value;
    if (sourceCa !== undefined && targetCa !== undefined && sourceCa !== targetCa) {
      throw new ForeignCaError(
        `the PostgreSQL database belongs to another CA (subject key id ${targetCa}; the SQLite database's is ${sourceCa}); nothing was copied: give --to an empty database or this CA's`,
      );
    }
    // The identity goes first, so that a copy cut short still keeps another CA's copy out. A row
    // there already stays: the service re-records the certificate's hash itself when it changes.
    for (const { key, value } of meta) {
      await client.query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", [key, value]);
    }

    const report: CopyReport = {
      certificates: 0,
      revoked: 0,
      inserted: 0,
      revocationsBroughtForward: 0,
      crlNumbers: 0,
      nonces: 0,
      acmeAccounts: 0,
      acmeOrders: 0,
      sqliteCounts: [],
      postgresCounts: [],
      missing: 0,
      notRevoked: 0,
      mismatches: [],
    };
    const rows = source.prepare(`SELECT ${names} FROM certificates ORDER BY issued_at, rowid`).iterate() as IterableIterator<CertificateRow>;
    for (const batch of batches(rows, batchSize)) {
      const columns = copiedColumns.map(([name]) => batch.map((row) => row[name]));
      const { rows: written } = await client.query<{ inserted: boolean }>(upsertSql, columns);
      const revoked = batch.filter((row) => row.status === "revoked").length;
      report.certificates += batch.length;
      report.revoked += revoked;
      const inserted = written.filter((row) => row.inserted).length;
      report.inserted += inserted;
      report.revocationsBroughtForward += written.length - inserted;
    }

    // The CRL number only grows (RFC 5280): PostgreSQL keeps its own when replicas took it further.
    const crlNumbers = source.prepare("SELECT authority_key_identifier AS aki, last_number AS n FROM crl_numbers").all() as { aki: string; n: number }[];
    for (const { aki, n } of crlNumbers) {
      await client.query(
        `INSERT INTO crl_numbers AS c (authority_key_identifier, last_number) VALUES ($1, $2)
         ON CONFLICT (authority_key_identifier) DO UPDATE SET last_number = GREATEST(c.last_number, excluded.last_number)`,
        [aki, n],
      );
    }
    report.crlNumbers = crlNumbers.length;

    // A nonce still inside the replay window stays refused on the replicas, so that a request
    // captured just before the move cannot be replayed to them. Rate-limit windows last a period
    // at most and are left behind: the replicas count afresh, as they would after a window ends.
    const nonces = source.prepare("SELECT key_name, nonce, expires_at FROM seen_nonces WHERE expires_at > ?").iterate(now().getTime()) as IterableIterator<{
      key_name: string;
      nonce: string;
      expires_at: number;
    }>;
    for (const batch of batches(nonces, batchSize)) {
      await client.query(
        `INSERT INTO seen_nonces (key_name, nonce, expires_at) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
         ON CONFLICT (key_name, nonce) DO UPDATE SET expires_at = GREATEST(seen_nonces.expires_at, excluded.expires_at)`,
        [batch.map((row) => row.key_name), batch.map((row) => row.nonce), batch.map((row) => row.expires_at)],
      );
      report.nonces += batch.length;
    }

    // ACME accounts (so that clients keep theirs), orders, authorizations and challenges, parents
    // first. A row there already stays: the replicas may have moved an order on since. Its nonces
    // are left behind: a client that gets badNonce takes the fresh one and tries again.
    const acmeCounts = await copyAcme(source, client, batchSize);
    report.acmeAccounts = acmeCounts.acme_accounts;
    report.acmeOrders = acmeCounts.acme_orders;

    // The checks read the same snapshot the copy read.
    const keys = source.prepare("SELECT serial_number, authority_key_identifier, status FROM certificates ORDER BY issued_at, rowid").iterate() as IterableIterator<
      Pick<CertificateRow, "serial_number" | "authority_key_identifier" | "status">
    >;
    for (const batch of batches(keys, batchSize)) {
      const { rows: checked } = await client.query<{ found: number; not_revoked: number }>(checkSql, [
        batch.map((row) => row.serial_number),
        batch.map((row) => row.authority_key_identifier),
        batch.map((row) => row.status),
      ]);
      report.missing += batch.length - checked[0]!.found;
      report.notRevoked += checked[0]!.not_revoked;
    }
    report.sqliteCounts = (
      source
        .prepare("SELECT authority_key_identifier AS aki, count(*) AS n, sum(status = 'revoked') AS revoked FROM certificates GROUP BY 1 ORDER BY 1")
        .all() as { aki: string; n: number; revoked: number }[]
    ).map((row) => ({ authorityKeyId: row.aki, certificates: row.n, revoked: row.revoked }));
    report.postgresCounts = await postgresCounts(client);
    report.mismatches = compare(report, crlNumbers, await postgresCrlNumbers(client));
    return report;
  } finally {
    source.exec("COMMIT");
  }
}

/** The ACME tables in the order their references need, each column with its PostgreSQL array type. */
const acmeTables = [
  ["acme_accounts", [["id", "text"], ["provisioner", "text"], ["thumbprint", "text"], ["jwk", "text"], ["status", "text"], ["contact", "text"], ["eab_key_id", "text"], ["created_at", "bigint"]]],
  [
    "acme_orders",
    [
      ["id", "text"],
      ["account_id", "text"],
      ["provisioner", "text"],
      ["status", "text"],
      ["expires", "bigint"],
      ["identifiers", "text"],
      ["not_before", "bigint"],
      ["not_after", "bigint"],
      ["error", "text"],
      ["certificate_serial", "text"],
      ["certificate_authority_key_id", "text"],
      ["certificate_pem", "text"],
      ["created_at", "bigint"],
    ],
  ],
  ["acme_authorizations", [["id", "text"], ["order_id", "text"], ["identifier_type", "text"], ["identifier_value", "text"], ["status", "text"], ["expires", "bigint"], ["wildcard", "boolean"]]],
  ["acme_challenges", [["id", "text"], ["authorization_id", "text"], ["type", "text"], ["token", "text"], ["status", "text"], ["validated", "bigint"], ["error", "text"]]],
] as const;

async function copyAcme(source: Database.Database, client: pg.ClientBase, batchSize: number): Promise<Record<(typeof acmeTables)[number][0], number>> {
  const counts = { acme_accounts: 0, acme_orders: 0, acme_authorizations: 0, acme_challenges: 0 };
  for (const [table, columns] of acmeTables) {
    const list = columns.map(([name]) => name).join(", ");
    const rows = source.prepare(`SELECT ${list} FROM ${table} ORDER BY rowid`).iterate() as IterableIterator<Record<string, unknown>>;
    for (const batch of batches(rows, batchSize)) {
      // SQLite keeps booleans as 0 and 1.
      const values = columns.map(([name, type]) => batch.map((row) => (type === "boolean" ? row[name] === 1 : row[name])));
      await client.query(
        `INSERT INTO ${table} (${list}) SELECT * FROM unnest(${columns.map(([, type], i) => `$${i + 1}::${type}[]`).join(", ")}) ON CONFLICT DO NOTHING`,
        values,
      );
      counts[table] += batch.length;
    }
  }
  return counts;
}

async function postgresCrlNumbers(client: pg.ClientBase): Promise<Map<string, number>> {
  const { rows } = await client.query<{ aki: string; n: string }>("SELECT authority_key_identifier AS aki, last_number AS n FROM crl_numbers");
  return new Map(rows.map((row) => [row.aki, Number(row.n)]));
}

/** What PostgreSQL holds short of SQLite, a line each; it may hold more (replicas may have issued since). */
function compare(report: CopyReport, sqliteCrlNumbers: { aki: string; n: number }[], postgresCrlNumbers: Map<string, number>): string[] {
  const lines: string[] = [];
  for (const ca of report.sqliteCounts) {
    const there = report.postgresCounts.find((row) => row.authorityKeyId === ca.authorityKeyId) ?? { certificates: 0, revoked: 0 };
    if (there.certificates < ca.certificates || there.revoked < ca.revoked) {
      lines.push(`CA ${ca.authorityKeyId}: SQLite holds ${ca.certificates} certificates (${ca.revoked} revoked), PostgreSQL ${there.certificates} (${there.revoked} revoked)`);
    }
  }
  if (report.missing > 0) lines.push(`${report.missing} of SQLite's certificates are not in PostgreSQL`);
  if (report.notRevoked > 0) lines.push(`${report.notRevoked} certificates revoked in SQLite are good in PostgreSQL`);
  for (const { aki, n } of sqliteCrlNumbers) {
    const there = postgresCrlNumbers.get(aki) ?? 0;
    if (there < n) lines.push(`CA ${aki}: CRL number ${n} in SQLite, ${there} in PostgreSQL`);
  }
  return lines;
}
