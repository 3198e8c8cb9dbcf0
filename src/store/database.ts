import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";

/** The package's `migrations/` folder, found from this module so it works from `src/` and `dist/`. */
export const migrationsDir = fileURLToPath(new URL("../../migrations/", import.meta.url));

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
    db.pragma("busy_timeout = 5000");
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
