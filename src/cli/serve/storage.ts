import { join } from "node:path";
import type { Metrics } from "../../api/metrics.js";
import type { CertificateRecorder } from "../../authority/authority.js";
import type { IssuedCertificate } from "../../model/issued-certificate.js";
import { CertificateStore } from "../../store/certificate-store.js";
import { captureDatabaseFiles } from "../../store/database-files.js";
import { DatabaseHealth } from "../../store/database-health.js";
import { GroupCommitRecorder } from "../../store/group-commit.js";
import { GuardStore } from "../../store/guard-store.js";
import { WriterThread } from "../../store/writer-client.js";
import type { ThreadEvent } from "../../threads/supervised-thread.js";
import { caIdentity, checkDatabase } from "../data-dir.js";
import type { ServeOptions } from "../options.js";
import { StartupError } from "../startup-error.js";
import type { LoadedCa } from "./ca-files.js";
import { removeCreated } from "./ca-files.js";
import type { ServiceLog } from "./service-log.js";
import type { ShutdownStack } from "./shutdown-stack.js";

/**
 * How long the start waits for `PRAGMA quick_check`, and on databases up to what size. It reads
 * every page: 1.5 GB (a million certificates) takes 3 s cached and 34 s from a cold disk, so 256 MB
 * is about half a second cached. A check that takes longer, or of a larger database, goes on in the
 * background at low priority and its result is logged.
 */
const quickCheckWaitMs = 1_000;
const quickCheckWaitBytes = 256 * 1024 * 1024;

const synchronousNames = ["OFF", "NORMAL", "FULL", "EXTRA"];

/** The certificate database as the service uses it. */
export interface Storage {
  /** Reads on the main thread (certinfo, the inventory's lookups by serial). */
  store: CertificateStore;
  /** What the authority records into: group-committed by the writer thread, read back from the store. */
  recorder: Omit<CertificateRecorder, "insert"> & { insert(record: IssuedCertificate): Promise<void> };
  /** Whether writes can still reach the live database files (readiness). */
  health: DatabaseHealth;
  /** Replay nonces and rate-limit counts, when either is configured: they outlive restarts. */
  guardStore: GuardStore | undefined;
}

export interface StorageParts {
  ca: LoadedCa;
  metrics: Metrics;
  log: ServiceLog;
  note(message: string): void;
  stack: ShutdownStack;
}

/**
 * Checks that the data directory's database belongs to this CA, opens it, and starts its writer
 * thread. A CA made by this start with no database for it is taken back, so nothing is half-made.
 */
export async function openStorage(options: ServeOptions, { ca, metrics, log, note, stack }: StorageParts): Promise<Storage> {
  const databasePath = join(options.dataDir, "certs.db");
  try {
    await checkDatabase({
      dataDir: options.dataDir,
      databasePath,
      identity: caIdentity(ca.ca.subjectKeyId, ca.certificatePem),
      caSource: ca.source,
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
  // A writer thread commits, so fsyncs never block HTTP.
  const writer = await WriterThread.start(databasePath, { health, onEvent: (event: ThreadEvent) => log.thread(event) });
  health.watch(writer);
  const groupCommit = new GroupCommitRecorder(writer, { onCommit: (ms, rows) => metrics.databaseCommitted(ms, rows) });
  // Inserts not yet committed: a request whose client went away may still be committing at the
  // stop, and it settles (or fails) before the writer thread stops, so no transaction is cut short.
  const inserting = new Set<Promise<void>>();
  stack.defer(async () => {
    await Promise.allSettled([...inserting]);
    await writer.close();
  });
  const insert = (record: IssuedCertificate) => {
    const committed = groupCommit.insert(record);
    inserting.add(committed);
    const settled = () => inserting.delete(committed);
    committed.then(settled, settled);
    return committed;
  };

  const guardStore = options.replayWindowMs !== undefined || options.rateLimit ? GuardStore.open(databasePath) : undefined;
  if (guardStore) stack.defer(() => guardStore.close());
  return { store, health, guardStore, recorder: { insert, get: (serial, aki) => store.get(serial, aki) } };
}
