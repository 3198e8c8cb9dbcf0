import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";

/** The package's `migrations/` folder, found from this module so it works from `src/` and `dist/`. */
export const migrationsDir = fileURLToPath(new URL("../../migrations/", import.meta.url));

/** How long a write waits for another connection's lock before it fails (and the request gets a 503). */
export const busyTimeoutMs = 1000;

/**
 * Each connection's page cache, in KiB (SQLite's own default; better-sqlite3 builds with 16 MiB). Under
 * sign load the writer's cache grew to 12.7 MiB of the service's 21 MiB of malloc, for pages that
 * the OS page cache holds anyway.
 */
export const pageCacheKib = 2000;

/**
 * Opens the certificate database: WAL mode with `synchronous=FULL`, so a commit that returned is on
 * disk, then applies the numbered migrations it has not seen yet, each in its own transaction,
 * recorded in `PRAGMA user_version`.
 */
export function openDatabase(path: string, dir = migrationsDir): Database.Database {
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    // better-sqlite3 is synchronous: while it waits for a lock the whole event loop waits, health
    // checks and every other request included. The service is this database's only regular writer,
    // so a lock is someone else's transaction (an operator's sqlite3 shell, a VACUUM); wait up to a
    // second for a short one, then answer 503 rather than freeze the service for longer.
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    db.pragma("foreign_keys = ON");
    db.pragma(`cache_size = -${pageCacheKib}`);
    migrate(db, dir);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

export function migrate(db: Database.Database, dir = migrationsDir): void {
  const files = readdirSync(dir)
    .filter((name) => /^\d+_.*\.sql$/.test(name))
    .sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
  const current = db.pragma("user_version", { simple: true }) as number;
  for (const file of files) {
    const version = parseInt(file, 10);
    if (version <= current) continue;
    const sql = readFileSync(`${dir}/${file}`, "utf8");
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${version}`);
    })();
  }
}

/** The CA a database belongs to, recorded in its `meta` table (migration 004). */
export interface DatabaseIdentity {
  /** The CA's subject key id, lower-case hex: the authority key id of everything it issued. */
  caSubjectKeyId: string;
  /** SHA-256 of the CA certificate's DER, lower-case hex (it changes when the certificate is renewed). */
  caCertificateSha256: string;
}

/** The recorded identity; undefined for a database made before it was recorded. */
export function readIdentity(db: Database.Database): DatabaseIdentity | undefined {
  const rows = db.prepare("SELECT key, value FROM meta WHERE key IN ('ca_subject_key_id', 'ca_certificate_sha256')").all() as { key: string; value: string }[];
  const value = (key: string) => rows.find((row) => row.key === key)?.value;
  const caSubjectKeyId = value("ca_subject_key_id");
  if (caSubjectKeyId === undefined) return undefined;
  return { caSubjectKeyId, caCertificateSha256: value("ca_certificate_sha256") ?? "" };
}

export function recordIdentity(db: Database.Database, identity: DatabaseIdentity, now = new Date()): void {
  const put = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  db.transaction(() => {
    put.run("ca_subject_key_id", identity.caSubjectKeyId);
    put.run("ca_certificate_sha256", identity.caCertificateSha256);
    put.run("ca_recorded_at", now.toISOString());
  })();
}

/** True when the database holds at least one certificate. */
export function holdsCertificates(db: Database.Database): boolean {
  return (db.prepare("SELECT EXISTS (SELECT 1 FROM certificates) AS any").get() as { any: number }).any === 1;
}

/** The authority key id of the certificate recorded last, if any (the rowid order is the insert order). */
export function newestAuthorityKeyId(db: Database.Database): string | undefined {
  const row = db.prepare("SELECT authority_key_identifier AS aki FROM certificates ORDER BY rowid DESC LIMIT 1").get() as { aki: string } | undefined;
  return row?.aki;
}
