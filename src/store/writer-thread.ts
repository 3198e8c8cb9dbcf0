// The database writer thread: it owns the connection that commits certificates, so the fsync of
// each group commit (synchronous=FULL) waits here and never stalls the thread that serves HTTP.
import { workerData } from "node:worker_threads";
import { serveApi } from "../threads/rpc.js";
import type { IssuedCertificate } from "../model/issued-certificate.js";
import { CertificateStore, DuplicateSerialError } from "./certificate-store.js";
import { databaseFileIntact, databaseFilesChange, type DatabaseFiles } from "./database-files.js";

/**
 * How a write went: committed (the rows refused as duplicates by index), refused by the database
 * (with SQLite's code), or lost: the database files were deleted or replaced, so what was
 * committed is not in the live file.
 */
export type WriteOutcome = { duplicates: number[] } | { error: string; code?: string } | { lost: string };

/** How a rescue went: the copy's path, or why there is none. */
export type RescueOutcome = { rescued: string } | { error: string };

export interface WriterThreadData {
  path: string;
  /** The files the service opened at start: a restarted writer must open the same ones. */
  files: DatabaseFiles;
}

/** The probe's row: large enough to need new WAL pages, so it fails where a batch of certificates would. */
const probePem = "x".repeat(64 * 1024);

const { path, files } = workerData as WriterThreadData;
const before = databaseFilesChange(files);
// A restarted writer must not open a new, empty file where the old one was.
if (before) throw new Error(before);
const store = CertificateStore.open(path);
const opened = databaseFilesChange(files);
if (opened) {
  store.close();
  throw new Error(opened);
}
// A real write that leaves nothing behind: the row is gone again when the transaction commits, so
// no reader ever sees it, but its pages are written to the WAL and fsynced as a batch's are.
const insertProbe = store.db.prepare(
  "INSERT INTO certificates (serial_number, authority_key_identifier, profile, expiry, pem, issued_at, not_before) VALUES ('write-probe', '', '', '', ?, '', '')",
);
const deleteProbe = store.db.prepare("DELETE FROM certificates WHERE serial_number = 'write-probe' AND authority_key_identifier = ''");
const probe = store.db.transaction(() => {
  insertProbe.run(probePem);
  deleteProbe.run();
});

/**
 * After a commit, checks that it went into the live files. When only the WAL (or its index) is
 * gone, the database file is still the live one: a checkpoint copies every committed transaction
 * from the deleted WAL (still open here) into it, so what was answered before survives a restart.
 */
function lostCommit(): string | undefined {
  const change = databaseFilesChange(files);
  if (!change) return undefined;
  if (databaseFileIntact(files)) {
    try {
      store.db.pragma("wal_checkpoint(FULL)");
    } catch {
      // The main thread tries too; the service stops writing either way.
    }
  }
  return change;
}

let lost: string | undefined;

/** Runs a write unless the files are lost already, and checks after the commit that they are not. */
function write(commit: () => number[]): WriteOutcome {
  lost ??= databaseFilesChange(files);
  if (lost) return { lost };
  let outcome: WriteOutcome;
  try {
    outcome = { duplicates: commit() };
  } catch (error) {
    outcome = { error: error instanceof Error ? error.message : String(error), code: (error as { code?: string }).code };
  }
  // Checked after the commit and before anyone is answered: rows committed into a deleted file are lost.
  lost = lostCommit();
  return lost ? { lost } : outcome;
}

const writerApi = {
  insertMany: (records: readonly IssuedCertificate[]): WriteOutcome =>
    write(() => store.insertMany(records).flatMap((result, i) => (result instanceof DuplicateSerialError ? [i] : []))),

  /** A real write that leaves nothing behind, so it fails where a batch of certificates would. */
  probe: (): WriteOutcome =>
    write(() => {
      probe();
      return [];
    }),

  /**
   * The database file is gone from its path but still open here: a consistent copy of all it
   * holds (the WAL's commits included) is the only way left to keep what was answered.
   */
  rescue(target: string): RescueOutcome {
    try {
      store.db.prepare("VACUUM INTO ?").run(target);
      return { rescued: target };
    } catch (error) {
      return { error: error instanceof Error ? error.message : String(error) };
    }
  },
};

/** What the database writer thread does, called through WriterThread. */
export type WriterApi = typeof writerApi;

serveApi(writerApi);
