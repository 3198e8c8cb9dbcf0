// The database writer thread: it owns the connection that commits certificates, so the fsync of
// each group commit (synchronous=FULL) waits here and never stalls the thread that serves HTTP.
import { parentPort, workerData } from "node:worker_threads";
import type { IssuedCertificate } from "../model/issued-certificate.js";
import { CertificateStore, DuplicateSerialError } from "./certificate-store.js";
import { databaseFileIntact, databaseFilesChange, type DatabaseFiles } from "./database-files.js";

export type WriterRequest = { id: number; records: IssuedCertificate[] } | { id: number; probe: true } | { id: number; rescueTo: string };

export type WriterReply =
  | { id: number; duplicates: number[] }
  | { id: number; error: string; code?: string }
  /** The database files were deleted or replaced: what was committed is not in the live file. */
  | { id: number; lost: string }
  | { id: number; rescued: string };

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
parentPort!.on("message", (request: WriterRequest) => {
  const { id } = request;
  let reply: WriterReply;
  if ("rescueTo" in request) {
    // The database file is gone from its path but still open here: a consistent copy of all it
    // holds (the WAL's commits included) is the only way left to keep what was answered.
    try {
      store.db.prepare("VACUUM INTO ?").run(request.rescueTo);
      reply = { id, rescued: request.rescueTo };
    } catch (error) {
      reply = { id, error: error instanceof Error ? error.message : String(error) };
    }
    parentPort!.postMessage(reply);
    return;
  }
  lost ??= databaseFilesChange(files);
  if (lost) {
    parentPort!.postMessage({ id, lost } satisfies WriterReply);
    return;
  }
  try {
    if ("probe" in request) {
      probe();
      reply = { id, duplicates: [] };
    } else {
      const results = store.insertMany(request.records);
      reply = { id, duplicates: results.flatMap((result, i) => (result instanceof DuplicateSerialError ? [i] : [])) };
    }
  } catch (error) {
    reply = { id, error: error instanceof Error ? error.message : String(error), code: (error as { code?: string }).code };
  }
  // Checked after the commit and before anyone is answered: rows committed into a deleted file are lost.
  lost = lostCommit();
  if (lost) reply = { id, lost };
  parentPort!.postMessage(reply);
});
parentPort!.postMessage({ ready: true });
