// `certwright backup`: a consistent copy of the certificate database, safe while the service runs.
import { existsSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { busyTimeoutMs } from "../store/database.js";
import { ClientError, exitCodes } from "./client/errors.js";
import { expectPositionals, parseArgs, renderHelp, type FlagSpec } from "./client/flags.js";
import { UsageError } from "./options.js";

const flags: FlagSpec[] = [
  { name: "data-dir", value: "DIR", help: "the service's data directory (default ./data, or CERTWRIGHT_DATA_DIR)" },
  { name: "out", value: "FILE", help: "where to write the copy of certs.db (required); an existing file is replaced" },
];

const help = renderHelp(
  "certwright backup --out FILE [--data-dir DIR]",
  [
    "Copies DIR/certs.db to FILE with SQLite's online backup: a consistent snapshot, safe while the",
    "service runs and signs. The copy is one self-contained file, checked with PRAGMA integrity_check",
    "before it replaces FILE. Back up the CA files (ca.pem, ca-key.pem) as well: they never change.",
  ],
  flags,
  "Exit codes: 0 success, 1 failed (no database, a file problem, a copy that does not check), 2 bad usage.",
);

export interface BackupResult {
  /** Rows of the certificates table in the copy. */
  certificates: number;
  /** The copy's schema version (PRAGMA user_version). */
  schemaVersion: number;
  bytes: number;
}

/**
 * Copies the SQLite database at `source` to `out`. All pages go in one backup step under one read
 * transaction: in WAL mode a reader never blocks the service's writer, and a step-by-step backup
 * would start over after every commit of a busy service. The copy is written next to `out`, turned
 * into a single file (journal_mode=DELETE), checked, and only then renamed over `out`.
 */
export async function backupDatabase(source: string, out: string): Promise<BackupResult> {
  if (!existsSync(source)) throw new ClientError(`no database at ${source}; give the service's data directory with --data-dir`);
  if (existsSync(out) && statSync(out).isDirectory()) throw new ClientError(`--out ${out} is a directory; give a file name, e.g. ${join(out, "certs-backup.db")}`);
  const partial = `${out}.partial-${process.pid}`;
  const removePartial = () => {
    for (const suffix of ["", "-wal", "-shm", "-journal"]) rmSync(`${partial}${suffix}`, { force: true });
  };
  try {
    const db = new Database(source, { fileMustExist: true });
    try {
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      await db.backup(partial, { progress: () => 0x7fffffff });
    } finally {
      db.close();
    }
    const copy = new Database(partial);
    let result: BackupResult;
    try {
      copy.pragma("journal_mode = DELETE");
      const check = copy.pragma("integrity_check", { simple: true });
      if (check !== "ok") throw new ClientError(`the copy does not pass integrity_check (${String(check)}); the old --out file is left as it was`);
      const { n } = copy.prepare("SELECT count(*) AS n FROM certificates").get() as { n: number };
      result = { certificates: n, schemaVersion: copy.pragma("user_version", { simple: true }) as number, bytes: 0 };
    } finally {
      copy.close();
    }
    renameSync(partial, out);
    return { ...result, bytes: statSync(out).size };
  } catch (error) {
    removePartial();
    if (error instanceof ClientError) throw error;
    throw new ClientError(`backing up ${source} to ${out} failed: ${(error as Error).message}`);
  }
}

export async function backupCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseArgs("backup", argv, flags);
  if (parsed === "help") {
    console.log(help);
    return exitCodes.ok;
  }
  expectPositionals("backup", parsed.positionals, []);
  const out = parsed.flags.get("out");
  if (!out) throw new UsageError("--out FILE is required: where to write the copy of the database");
  const dataDir = parsed.flags.get("data-dir") ?? (env.CERTWRIGHT_DATA_DIR || "data");
  const result = await backupDatabase(join(dataDir, "certs.db"), out);
  console.log(`backed up ${result.certificates} certificates (schema version ${result.schemaVersion}, ${result.bytes} bytes) to ${out}`);
  if (existsSync(join(dataDir, "ca-key.pem"))) {
    console.log(`the CA is ${join(dataDir, "ca.pem")} and ${join(dataDir, "ca-key.pem")}: keep a copy of both (the key is secret); they never change`);
  }
  return exitCodes.ok;
}
