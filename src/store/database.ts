import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";

/** The package's `migrations/` folder, found from this module so it works from `src/` and `dist/`. */
export const migrationsDir = fileURLToPath(new URL("../../migrations/", import.meta.url));

/** How long a write waits for another connection's lock before it fails (and the request gets a 503). */
export const busyTimeoutMs = 1000;

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
