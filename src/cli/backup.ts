// `certwright backup`: a consistent copy of the certificate database, safe while the service runs.
import { closeSync, existsSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import Database from "better-sqlite3";
import { busyTimeoutMs } from "../store/database.js";
import { ClientError, exitCodes } from "./client/errors.js";
import { expectPositionals, parseArgs, renderHelp, type FlagSpec } from "./client/flags.js";
import { UsageError } from "./usage-error.js";

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

/** SQLite's side files of a database file: all go when the partial copy goes. */
const sqliteSuffixes = ["", "-wal", "-shm", "-journal"];

/** Where a backup run with this pid writes its copy before it is checked and renamed to `out`. */
export function partialPath(out: string, pid = process.pid): string {
  return `${out}.partial-${pid}`;
}

/** Removes the partial copy (and its side files) of the backup run with this pid. */
export function removePartial(out: string, pid = process.pid): void {
  for (const suffix of sqliteSuffixes) rmSync(`${partialPath(out, pid)}${suffix}`, { force: true });
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it lives, under another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * A partial copy: SQLite's header, or (a run killed before it wrote page 1, which the copy's
 * commit writes last) an empty file or one that starts with zeros, or one with a rollback journal.
 */
function looksLikePartialCopy(path: string): boolean {
  if (existsSync(`${path}-journal`)) return true;
  const header = Buffer.alloc(16);
  const fd = openSync(path, "r");
  try {
    const read = readSync(fd, header, 0, 16, 0);
    return read === 0 || header.toString("latin1") === "SQLite format 3\0" || header.subarray(0, read).every((byte) => byte === 0);
  } finally {
    closeSync(fd);
  }
}

/**
 * Lets the event loop take a turn, so a stop signal that came during a long synchronous step (the
 * copy, the integrity check) is acted on before the copy can replace `out`.
 */
const yieldToSignals = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Removes what earlier backup runs into `out`'s folder left when they were killed (SIGKILL, the
 * OOM killer, a power cut): `<name>.partial-<pid>` copies and their side files whose process is
 * gone. A live pid's files are another run in progress and stay, and so does a file that is not a
 * SQLite database, whatever its name. Returns the paths removed.
 */
export function removeStalePartials(out: string): string[] {
  const dir = dirname(out);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = /^(.+)\.partial-(\d+)(-wal|-shm|-journal)?$/.exec(name);
    if (!match) continue;
    const pid = Number(match[2]);
    if (pid === process.pid || processIsAlive(pid)) continue;
    const path = join(dir, name);
    try {
      if (!statSync(path).isFile() || (match[3] === undefined && !looksLikePartialCopy(path))) continue;
      rmSync(path, { force: true });
      removed.push(path);
    } catch {
      // gone already, or not ours to remove: leave it
    }
  }
  return removed;
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
  const partial = partialPath(out);
  try {
    const db = new Database(source, { fileMustExist: true });
    try {
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      await db.backup(partial, { progress: () => 0x7fffffff });
    } finally {
      db.close();
    }
    await yieldToSignals();
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
    await yieldToSignals();
    renameSync(partial, out);
    return { ...result, bytes: statSync(out).size };
  } catch (error) {
    removePartial(out);
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
  for (const path of removeStalePartials(out)) console.error(`removed ${basename(path)}, left by a backup run that was killed`);
  // Stopped by a signal (systemd's stop, Ctrl-C): the partial copy goes before the process does,
  // and `out` is left as it was. The copy is one synchronous step, so a signal is acted on when that
  // step returns. SIGKILL cannot be caught; the next run removes what it leaves.
  const signals = ["SIGTERM", "SIGINT", "SIGHUP"] as const;
  const onSignal = (signal: NodeJS.Signals) => {
    removePartial(out);
    process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGHUP" ? 1 : 15));
  };
  for (const signal of signals) process.once(signal, onSignal);
  let result: BackupResult;
  try {
    result = await backupDatabase(join(dataDir, "certs.db"), out);
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
  }
  console.log(`backed up ${result.certificates} certificates (schema version ${result.schemaVersion}, ${result.bytes} bytes) to ${out}`);
  if (existsSync(join(dataDir, "ca-key.pem"))) {
    console.log(`the CA is ${join(dataDir, "ca.pem")} and ${join(dataDir, "ca-key.pem")}: keep a copy of both (the key is secret); they never change`);
  }
  return exitCodes.ok;
}
