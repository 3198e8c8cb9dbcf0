import { join } from "node:path";
import { CertificateStore } from "../../store/certificate-store.js";
import { captureDatabaseFiles } from "../../store/database-files.js";
import { DatabaseHealth } from "../../store/database-health.js";
import { GuardStore } from "../../store/guard-store.js";
import { SqliteAcmeStore } from "../../store/acme-sqlite.js";
import { isPostgresUrl } from "../../store/database-url.js";
import { sqliteRecords } from "../../authority/operator-services.js";
import type { Storage, StorageParts } from "./storage-parts.js";
import { trackedGroupCommit } from "./tracked-commit.js";
import { WriterThread } from "../../store/writer-client.js";
import type { ThreadEvent } from "../../threads/supervised-thread.js";
import { caIdentity, checkDatabase } from "../data-dir.js";
import type { ServeOptions } from "../options.js";
import { StartupError } from "../startup-error.js";
import { removeCreated } from "./ca-files.js";

/**
 * How long the start waits for `PRAGMA quick_check`, and on databases up to what size. It reads
 * every page: 1.5 GB (a million certificates) takes 3 s cached and 34 s from a cold disk, so 256 MB
 * is about half a second cached. A check that takes longer, or of a larger database, goes on in the
 * background at low priority and its result is logged.
 */
const quickCheckWaitMs = 1_000;
const quickCheckWaitBytes = 256 * 1024 * 1024;

const synchronousNames = ["OFF", "NORMAL", "FULL", "EXTRA"];

/**
 * Opens the database --database names: PostgreSQL for a URL, else the SQLite file (by default the
 * data directory's certs.db).
 */
export async function openStorage(options: ServeOptions, parts: StorageParts): Promise<Storage> {
  if (options.database !== undefined && isPostgresUrl(options.database)) {
    const { openPostgresStorage } = await import("./postgres-storage.js");
    try {
      return await openPostgresStorage(options.database, options, parts);
    } catch (error) {
      removeCreated(options.dataDir, parts.ca.created);
      throw error;
    }
  }
  return openSqliteStorage(options, parts);
}

/**
 * Checks that the data directory's database belongs to this CA, opens it, and starts its writer
 * thread. A CA made by this start with no database for it is taken back, so nothing is half-made.
 */
async function openSqliteStorage(options: ServeOptions, { ca, others, metrics, log, note, stack, acme, listening }: StorageParts): Promise<Storage> {
  const databasePath = options.database ?? join(options.dataDir, "certs.db");
  try {
    await checkDatabase({
      dataDir: options.dataDir,
      databasePath,
      identity: caIdentity(ca.ca.subjectKeyId, ca.certificatePem),
      caSource: ca.source,
      otherCaKeyIds: others?.map((other) => other.ca.subjectKeyId),
      allowNewDatabase: options.allowNewDatabase,
      quickCheckWaitMs,
      quickCheckWaitBytes,
      note,
      onLateQuickCheck: (result) =>
        result.ok
          ? log.write("info", `PRAGMA quick_check of ${databasePath}: ok`)
          : log.write("error", `PRAGMA quick_check of ${databasePath} found damage: ${result.problem}; stop the service and restore certs.db from a backup`),
    });
  } catch (error) {
    removeCreated(options.dataDir, ca.created);
    throw error;
  }
  let store: CertificateStore;
  try {
    store = CertificateStore.open(databasePath);
  } catch (error) {
    throw new StartupError(`database ${databasePath} cannot be opened: ${(error as Error).message}`);
  }
  stack.defer(() => store.close());
  note(`database ${databasePath}: journal_mode=${store.pragma("journal_mode")} synchronous=${synchronousNames[store.pragma("synchronous") as number] ?? "?"}`);

  // The files as opened: one deleted or replaced under the service stops writes (see DatabaseHealth).
  const health = new DatabaseHealth(captureDatabaseFiles(databasePath), {
    log: (level, message) => log.write(level, message),
    checkpoint: () => store.db.pragma("wal_checkpoint(FULL)"),
  });
  // A writer thread commits, so fsyncs never block HTTP. It is made once the service listens: a
  // write sent before it is up waits for it.
  const { writer, started } = WriterThread.begin(databasePath, { health, onEvent: (event: ThreadEvent) => log.thread(event), after: listening });
  health.watch(writer);
  stack.defer(() => writer.close());
  const insert = trackedGroupCommit(writer, metrics, stack);

  const guardStore = options.replayWindowMs !== undefined || options.rateLimit ? GuardStore.open(databasePath) : undefined;
  if (guardStore) stack.defer(() => guardStore.close());
  const acmeStore = acme ? SqliteAcmeStore.open(databasePath) : undefined;
  if (acmeStore) stack.defer(() => acmeStore.close());
  return {
    health,
    guardStore,
    acme: acmeStore,
    records: sqliteRecords(store.db, health),
    recorder: { insert, get: (serial, aki) => store.get(serial, aki) },
    started,
  };
}
