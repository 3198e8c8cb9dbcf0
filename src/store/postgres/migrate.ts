import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type pg from "pg";
import { migrationsDir } from "../database.js";

/** The package's `migrations/postgres/` folder. */
export const postgresMigrationsDir = join(migrationsDir, "postgres");

/**
 * The advisory lock every replica takes while it migrates: replicas started together apply each
 * migration once, the others wait and then find nothing left to do. A constant of our own (the
 * first bytes of "certwright" as a number) so it does not collide with another program's locks.
 */
const migrationLock = 0x6365727477726967n;

export class SchemaTooNewError extends Error {
  override name = "SchemaTooNewError";
  constructor(
    readonly databaseVersion: number,
    readonly codeVersion: number,
  ) {
    super(
      `the database's schema is at version ${databaseVersion}, newer than this certwright knows (${codeVersion}): a newer release migrated it; run that release (or a newer one) instead of downgrading`,
    );
  }
}

interface Migration {
  version: number;
  file: string;
}

function migrationsIn(dir: string): Migration[] {
  return readdirSync(dir)
    .filter((name) => /^\d+_.*\.sql$/.test(name))
    .map((file) => ({ version: parseInt(file, 10), file }))
    .sort((a, b) => a.version - b.version);
}

/** The schema version this code's migrations reach. */
export function postgresCodeVersion(dir = postgresMigrationsDir): number {
  return migrationsIn(dir).at(-1)?.version ?? 0;
}

/** The schema version a database is at (0: never migrated); for a standby, which cannot migrate. */
export async function postgresSchemaVersion(client: pg.ClientBase): Promise<number> {
  // Two queries: a statement naming a missing table fails when it is parsed, whatever a CASE around it says.
  const exists = await client.query<{ found: boolean }>("SELECT to_regclass('schema_migrations') IS NOT NULL AS found");
  if (!exists.rows[0]?.found) return 0;
  const { rows } = await client.query<{ version: number | null }>("SELECT max(version) AS version FROM schema_migrations");
  return rows[0]?.version ?? 0;
}

/**
 * Applies the numbered migrations the database has not seen, each in its own transaction and
 * recorded in `schema_migrations`, under an advisory lock held for the whole run. A database whose
 * schema is newer than this code's migrations is refused: this code would misread it.
 * Returns the versions it applied.
 */
export async function migratePostgres(client: pg.ClientBase, dir = postgresMigrationsDir): Promise<number[]> {
  const migrations = migrationsIn(dir);
  const codeVersion = migrations.at(-1)?.version ?? 0;
  await client.query("SELECT pg_advisory_lock($1)", [migrationLock.toString()]);
  try {
    await client.query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
    const { rows } = await client.query<{ version: number | null }>("SELECT max(version) AS version FROM schema_migrations");
    const current = rows[0]?.version ?? 0;
    if (current > codeVersion) throw new SchemaTooNewError(current, codeVersion);
    const applied: number[] = [];
    for (const { version, file } of migrations) {
      if (version <= current) continue;
      const sql = readFileSync(join(dir, file), "utf8");
      await client.query("BEGIN");
      try {
        await client.query(sql);
        await client.query("INSERT INTO schema_migrations (version) VALUES ($1)", [version]);
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${file} failed: ${(error as Error).message}`);
      }
      applied.push(version);
    }
    return applied;
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [migrationLock.toString()]);
  }
}
