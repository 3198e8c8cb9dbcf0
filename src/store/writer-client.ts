import { threadEntry } from "../threads/entry.js";
import { SupervisedThread, type ThreadEvent } from "../threads/supervised-thread.js";
import type { IssuedCertificate } from "../model/issued-certificate.js";
import { DuplicateSerialError } from "./certificate-store.js";
import { captureDatabaseFiles } from "./database-files.js";
import { DatabaseHealth, isUnwritableCode } from "./database-health.js";
import type { BatchWriter } from "./group-commit.js";
import type { RescueOutcome, WriteOutcome, WriterApi, WriterThreadData } from "./writer-thread.js";

const entry = threadEntry(import.meta.url, "writer-thread");

export interface WriterThreadOptions {
  /** The health the writer reports each commit's outcome to; default: one of its own over the files as they are now. */
  health?: DatabaseHealth;
  /** Where the thread's stops and restarts are told. */
  onEvent?: (event: ThreadEvent) => void;
  /** `begin` makes the thread once this settles (the service listening); default at once. */
  after?: Promise<unknown>;
}

/** The database is not the live file any more, or the writer thread is down: nothing is committed. */
export class WriteRefusedError extends Error {
  override name = "WriteRefusedError";
}

/**
 * A BatchWriter whose transactions run in the database writer thread, kept running by a
 * supervisor: a batch in flight when the thread dies fails at once, the thread is restarted, and a
 * batch sent while it is down fails at once too (never waits for a thread that is gone).
 */
export class WriterThread implements BatchWriter {
  private constructor(
    private readonly thread: SupervisedThread<WriterApi>,
    readonly health: DatabaseHealth,
  ) {}

  /** Starts the writer thread on the database at `path` (already migrated) and waits until it is open. */
  static async start(path: string, options: WriterThreadOptions = {}): Promise<WriterThread> {
    const { writer, started } = WriterThread.begin(path, options);
    await started;
    return writer;
  }

  /**
   * Starts the writer thread without waiting for it: writes sent while it opens the database wait
   * for it (nothing is answered before it is up). `started` rejects if it cannot start.
   */
  static begin(path: string, options: WriterThreadOptions = {}): { writer: WriterThread; started: Promise<void> } {
    const health = options.health ?? new DatabaseHealth(captureDatabaseFiles(path));
    const workerData: WriterThreadData = { path, files: health.files };
    const { thread, started } = SupervisedThread.begin<WriterApi>({
      name: "database writer thread",
      entry,
      workerData: () => workerData,
      resourceLimits: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 64 },
      handshake: true,
      callFailure: (reason) => new WriteRefusedError(`nothing was committed: ${reason}`),
      restartBlocked: () => health.lost,
      onEvent: options.onEvent,
    }, options.after);
    const writer = new WriterThread(thread, health);
    health.attach(writer);
    return { writer, started };
  }

  /** Why the writer thread is not up, or undefined when it is. */
  get down(): string | undefined {
    return this.thread.down;
  }

  /** The supervised thread, for tests that stop it as a crash would. */
  get supervised(): SupervisedThread<WriterApi> {
    return this.thread;
  }

  /** Tells the health what a write met; rejects unless it committed. */
  private committed(outcome: WriteOutcome): number[] {
    if ("lost" in outcome) {
      this.health.markLost(outcome.lost);
      throw new WriteRefusedError(`not recorded: ${outcome.lost}`);
    }
    if ("error" in outcome) {
      // A batch refused for itself (a constraint) says nothing of the database.
      if (isUnwritableCode(outcome.code)) this.health.failed(`${outcome.code}: ${outcome.error}`);
      throw new Error(`database write failed: ${outcome.error}`);
    }
    this.health.succeeded();
    return outcome.duplicates;
  }

  private refusedIfLost(): Promise<never> | undefined {
    const lost = this.health.lost;
    return lost ? Promise.reject(new WriteRefusedError(`not recorded: ${lost}`)) : undefined;
  }

  async insertMany(records: readonly IssuedCertificate[]): Promise<(DuplicateSerialError | undefined)[]> {
    const duplicates = this.committed(await (this.refusedIfLost() ?? this.thread.call("insertMany", records)));
    const results: (DuplicateSerialError | undefined)[] = records.map(() => undefined);
    for (const i of duplicates) results[i] = new DuplicateSerialError(`serial ${records[i]!.serialNumber} is recorded already`);
    return results;
  }

  /**
   * Copies everything the open database holds to `target` (VACUUM INTO), even once its file was
   * deleted or replaced: the writer thread still has the old file open.
   */
  async rescue(target: string): Promise<string> {
    const outcome: RescueOutcome = await this.thread.call("rescue", target);
    if ("error" in outcome) throw new Error(`database write failed: ${outcome.error}`);
    return outcome.rescued;
  }

  /** A real write that leaves nothing behind (see the writer thread); its outcome goes to the health too. */
  async probe(): Promise<void> {
    this.committed(await (this.refusedIfLost() ?? this.thread.call("probe")));
  }

  async close(): Promise<void> {
    this.health.close();
    await this.thread.close();
  }
}
