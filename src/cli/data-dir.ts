// The data directory's guards at start-up: one service per directory, files made whole or not at
// all, and a database that belongs to the CA it is used with.
import { createHash, X509Certificate } from "node:crypto";
import { accessSync, closeSync, constants, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join, resolve as resolvePath } from "node:path";
import Database from "better-sqlite3";
import { DataDirLock, DataDirLockedError } from "../store/data-dir-lock.js";
import { holdsCertificates, newestAuthorityKeyId, openDatabase, readIdentity, recordIdentity, type DatabaseIdentity } from "../store/database.js";
import { runQuickCheck, type QuickCheckResult } from "../store/quick-check-run.js";
import { startQuickCheck } from "../store/quick-check.js";
import { StartupError } from "./startup-error.js";

/** The flag that accepts a database new to the CA (named in the refusals). */
export const allowNewDatabaseFlag = "--allow-new-database";

/** Which CA's database lives in the data directory, kept beside it: it says so when certs.db is gone. */
export const identityFileName = "database-identity.json";

const temporarySuffix = ".tmp";
/** What a start that died half-way can leave: our files under their temporary names (and SQLite's side files of the new database). */
const temporaryPattern = /^(ca\.pem|ca-key\.pem|certs\.db|database-identity\.json)\.tmp(-journal|-wal|-shm)?$/;

/**
 * A database this small is checked on the spot (a few milliseconds cached, a third of a second from a
 * cold disk), which costs less than starting a thread for it.
 */
const quickCheckInlineBytes = 16 * 1024 * 1024;
/** Problems quick_check lists before it stops: the first few say enough. */
const quickCheckMaxErrors = 3;

const errorCode = (error: unknown) => (error as NodeJS.ErrnoException).code ?? (error as Error).message;

/** Makes the data directory (mode 0700) if it is missing, or says in one line why it cannot be used. */
export function prepareDataDir(dataDir: string): void {
  try {
    makeDirectories(dataDir);
    if (!statSync(dataDir).isDirectory()) throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" });
    accessSync(dataDir, constants.W_OK);
  } catch (error) {
    throw new StartupError(`data directory ${dataDir} is not writable (${errorCode(error)}); pick another with --data-dir`);
  }
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdirSync never returns for a path under /proc
 * (the kernel answers ENOENT for every level, and Node keeps retrying).
 */
function makeDirectories(path: string): void {
  const missing: string[] = [];
  for (let dir = resolvePath(path); !existsSync(dir); dir = dirname(dir)) {
    missing.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of missing) {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
}

/** Takes the data directory's lock, or refuses the start naming the process that holds it. */
export function lockDataDir(dataDir: string): DataDirLock {
  try {
    return DataDirLock.acquire(dataDir);
  } catch (error) {
    if (error instanceof DataDirLockedError) {
      const holder = error.pid === undefined ? "another process" : `process ${error.pid}`;
      throw new StartupError(`data directory ${dataDir} is in use by ${holder} (it holds ${error.path}); stop that service first, or give this one another --data-dir`);
    }
    throw new StartupError(`cannot lock data directory ${dataDir} (${join(dataDir, "lock")}: ${(error as Error).message})`);
  }
}

/** Removes files a start that died half-way left under temporary names; the caller holds the lock, so none is being written. */
export function removeTemporaries(dataDir: string): void {
  for (const name of readdirSync(dataDir)) {
    if (temporaryPattern.test(name)) unlinkSync(join(dataDir, name));
  }
}

/** Makes renames and new names in `dir` durable (a rename is on disk only once its directory is). */
export function syncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeTemporary(path: string, content: string, mode: number): string {
  const temporary = path + temporarySuffix;
  try {
    const fd = openSync(temporary, "w", mode);
    try {
      const bytes = Buffer.from(content);
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    unlinkQuietly(temporary);
    throw error;
  }
  return temporary;
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/**
 * Writes a new file whole or not at all, and never over an existing one: the content goes to a
 * temporary name and is fsynced, then linked to its name (which fails if the name exists). The
 * caller syncs the directory. A full disk leaves no file, rather than an empty or a cut one.
 */
export function writeNewFile(path: string, content: string, mode: number): void {
  const temporary = writeTemporary(path, content, mode);
  try {
    linkSync(temporary, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // A file system without hard links: a rename, once we know the name is free (we hold the lock).
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "ENOSYS") {
      unlinkQuietly(temporary);
      throw error;
    }
    if (existsQuietly(path)) {
      unlinkQuietly(temporary);
      throw Object.assign(new Error(`EEXIST: file already exists, ${path}`), { code: "EEXIST" });
    }
    renameSync(temporary, path);
    return;
  }
  unlinkSync(temporary);
}

/** Replaces a file whole: temporary name, fsync, rename. The caller syncs the directory. */
function replaceFile(path: string, content: string, mode: number): void {
  const temporary = writeTemporary(path, content, mode);
  try {
    renameSync(temporary, path);
  } catch (error) {
    unlinkQuietly(temporary);
    throw error;
  }
}

function existsQuietly(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The identity of a CA as a database records it. */
export function caIdentity(subjectKeyId: string, certificatePem: string): DatabaseIdentity {
  return { caSubjectKeyId: subjectKeyId, caCertificateSha256: createHash("sha256").update(new X509Certificate(certificatePem).raw).digest("hex") };
}

type DatabaseFile = "missing" | "empty" | "present";

function databaseFile(path: string): DatabaseFile {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "missing";
    throw new StartupError(`database ${path} cannot be read (${errorCode(error)})`);
  }
  if (size > 0) return "present";
  // A main file still empty beside a WAL that holds commits is SQLite's to recover, not ours to judge.
  let walSize = 0;
  try {
    walSize = statSync(`${path}-wal`).size;
  } catch {
    // no WAL
  }
  return walSize > 0 ? "present" : "empty";
}

function databaseBytes(path: string): number {
  return ["", "-wal"].reduce((sum, suffix) => sum + (statSync(path + suffix, { throwIfNoEntry: false })?.size ?? 0), 0);
}

interface IdentityFile {
  ca_subject_key_id: string;
  ca_certificate_sha256: string;
  database: string;
}

function readIdentityFile(path: string): IdentityFile | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as Partial<IdentityFile>;
    return typeof parsed.ca_subject_key_id === "string" ? (parsed as IdentityFile) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when `certs.db` exists and belongs to a CA: it holds certificates or records its CA. The CA
 * files missing beside such a database are lost files, not a first start.
 */
export function databaseOfSomeCa(databasePath: string): { caSubjectKeyId: string | undefined } | undefined {
  if (databaseFile(databasePath) !== "present") return undefined;
  let db: Database.Database | undefined;
  try {
    // Looked at only: no migration is applied to a database whose CA is missing.
    db = new Database(databasePath, { fileMustExist: true });
    const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== undefined;
    const identity = hasMeta ? readIdentity(db) : undefined;
    if (identity) return { caSubjectKeyId: identity.caSubjectKeyId };
    return holdsCertificates(db) ? { caSubjectKeyId: newestAuthorityKeyId(db) } : undefined;
  } catch (error) {
    throw new StartupError(`database ${databasePath} cannot be read (${(error as Error).message}); restore it from a backup`);
  } finally {
    db?.close();
  }
}

/**
 * A new database, made whole under a temporary name (schema and the CA's identity, closed so that
 * its WAL is folded in), fsynced, then renamed to `path`. The caller syncs the directory.
 */
function createDatabase(path: string, identity: DatabaseIdentity): void {
  const temporary = path + temporarySuffix;
  const sideFiles = ["", "-journal", "-wal", "-shm"].map((suffix) => temporary + suffix);
  sideFiles.forEach(unlinkQuietly);
  try {
    const db = openDatabase(temporary);
    try {
      recordIdentity(db, identity);
      // Fold the WAL into the file now: a checkpoint that fails (a full disk) fails here, loudly.
      db.pragma("wal_checkpoint(TRUNCATE)");
    } finally {
      db.close();
    }
    const fd = openSync(temporary, "r+");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } finally {
    sideFiles.forEach(unlinkQuietly);
  }
}

export interface DatabaseCheck {
  dataDir: string;
  databasePath: string;
  /** The CA the service signs with... */
  identity: DatabaseIdentity;
  /** ...and where it came from, for the refusals: `--ca FILE` or the data directory's `ca.pem`. */
  caSource: string;
  /**
   * The subject key ids of the CAs served beside it by label (--ca-config): a database one of them
   * owns is accepted, and recorded as the default CA's from then on (a rotation). Default: none.
   */
  otherCaKeyIds?: readonly string[] | undefined;
  /** --allow-new-database: accept a database new to this CA (an empty one, or another CA's). */
  allowNewDatabase: boolean;
  /**
   * How long the start waits for `PRAGMA quick_check`, on a database (with its WAL) of at most
   * `quickCheckWaitBytes`; a check that takes longer, or of a larger database, goes on in the background.
   */
  quickCheckWaitMs: number;
  quickCheckWaitBytes: number;
  note(message: string): void;
  /** A quick_check that outlived the wait: told its result once it ends. */
  onLateQuickCheck(result: QuickCheckResult): void;
}

const restoreHint = "restore certs.db (with certs.db-wal, if your backup has one) from a backup";

/**
 * Makes sure `certs.db` is there, sound and this CA's before the service uses it:
 * - missing: made new, unless the identity file says this CA's database was here (then refused);
 * - empty (0 bytes; no database this service wrote is): refused;
 * - present: checked with `PRAGMA quick_check` (a damaged one is refused), migrated, and its
 *   recorded CA compared with this one (another CA's is refused). One made before the identity was
 *   recorded gets it now, unless the certificate it recorded last is another CA's.
 * `allowNewDatabase` turns each refusal except damage into a new database or an adopted one.
 * The identity file is written once the database is known to be this CA's.
 */
export async function checkDatabase(check: DatabaseCheck): Promise<void> {
  const { dataDir, databasePath, identity, allowNewDatabase, note } = check;
  const identityPath = join(dataDir, identityFileName);
  const recordedHere = readIdentityFile(identityPath);
  const state = databaseFile(databasePath);
  const ski = identity.caSubjectKeyId;
  if (state === "missing" || state === "empty") {
    if (!allowNewDatabase) {
      if (state === "empty") {
        throw new StartupError(`database ${databasePath} is empty (0 bytes), which no database this service made is; ${restoreHint}, or start once with ${allowNewDatabaseFlag} to replace it with a new empty database`);
      }
      if (recordedHere !== undefined && (recordedHere.ca_subject_key_id === ski || check.otherCaKeyIds?.includes(recordedHere.ca_subject_key_id))) {
        throw new StartupError(`database ${databasePath} is missing, but ${identityPath} says this CA (subject key id ${ski}) recorded its certificates there; ${restoreHint}, or start once with ${allowNewDatabaseFlag} to begin a new empty database`);
      }
      if ((statSync(`${databasePath}-wal`, { throwIfNoEntry: false })?.size ?? 0) > 0) {
        throw new StartupError(`database ${databasePath} is missing, but ${databasePath}-wal beside it holds commits of a database; ${restoreHint}, or start once with ${allowNewDatabaseFlag} to begin a new empty database`);
      }
    }
    // What was left of the old database: SQLite would take an old WAL for the new file's.
    for (const suffix of state === "empty" ? ["", "-wal", "-shm"] : ["-wal", "-shm"]) unlinkQuietly(databasePath + suffix);
    try {
      createDatabase(databasePath, identity);
      syncDirectory(dataDir);
    } catch (error) {
      throw new StartupError(`cannot create database ${databasePath} (${(error as Error).message}); nothing was left half-made`);
    }
    note(`created database ${databasePath} for the CA with subject key id ${ski}`);
  } else {
    const bytes = databaseBytes(databasePath);
    let result: QuickCheckResult | undefined;
    if (bytes <= quickCheckInlineBytes) {
      result = runQuickCheck(databasePath, quickCheckMaxErrors);
    } else {
      const quickCheck = startQuickCheck(databasePath, quickCheckMaxErrors);
      // A database too large to be read within the wait is not waited for at all: the wait would only delay the start.
      result = await quickCheck.within(bytes <= check.quickCheckWaitBytes ? check.quickCheckWaitMs : 0);
      if (!result) {
        note(`PRAGMA quick_check of ${databasePath} goes on in the background (a large database); its result will be logged`);
        void quickCheck.done.then(check.onLateQuickCheck);
      }
    }
    if (result && !result.ok) {
      throw new StartupError(`database ${databasePath} is damaged (PRAGMA quick_check: ${result.problem}); ${restoreHint}`);
    }
    let db: Database.Database;
    try {
      db = openDatabase(databasePath);
    } catch (error) {
      throw new StartupError(`database ${databasePath} cannot be opened: ${(error as Error).message}`);
    }
    try {
      const recorded = readIdentity(db);
      const owner = recorded ? recorded.caSubjectKeyId : newestAuthorityKeyId(db);
      if (owner !== undefined && owner !== ski && check.otherCaKeyIds?.includes(owner)) {
        recordIdentity(db, identity);
        note(`database ${databasePath} was recorded for the CA with subject key id ${owner}, served here too: the default CA (${ski}) is recorded from now on`);
      } else if (owner !== undefined && owner !== ski) {
        if (!allowNewDatabase) {
          throw new StartupError(
            `database ${databasePath} belongs to another CA (subject key id ${owner}) than ${check.caSource} (${ski}): check --data-dir${check.caSource.startsWith("--ca") ? " and --ca" : ""}, or start once with ${allowNewDatabaseFlag} to use it with this CA from now on`,
          );
        }
        recordIdentity(db, identity);
        note(`database ${databasePath} was another CA's (subject key id ${owner}); it is this CA's (${ski}) from now on (${allowNewDatabaseFlag})`);
      } else if (!recorded) {
        recordIdentity(db, identity);
        note(`recorded in ${databasePath} that it belongs to the CA with subject key id ${ski}`);
      } else if (recorded.caCertificateSha256 !== identity.caCertificateSha256) {
        // The same key with a renewed certificate: what it issued still verifies, so the database stays its own.
        recordIdentity(db, identity);
        note(`the CA certificate changed (same key, subject key id ${ski}): recorded its new SHA-256 ${identity.caCertificateSha256}`);
      }
    } catch (error) {
      if (error instanceof StartupError) throw error;
      throw new StartupError(`database ${databasePath} cannot be checked: ${(error as Error).message}`);
    } finally {
      db.close();
    }
  }
  if (recordedHere?.ca_subject_key_id !== ski || recordedHere.ca_certificate_sha256 !== identity.caCertificateSha256) {
    const content: IdentityFile = { ca_subject_key_id: ski, ca_certificate_sha256: identity.caCertificateSha256, database: "certs.db" };
    try {
      replaceFile(identityPath, `${JSON.stringify(content, null, 2)}\n`, 0o644);
      syncDirectory(dataDir);
    } catch (error) {
      throw new StartupError(`cannot write ${identityPath} (${errorCode(error)})`);
    }
  }
}
