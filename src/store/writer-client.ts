import { Worker } from "node:worker_threads";
import { threadEntry } from "../thread-entry.js";
import { SupervisedThread, type ThreadEvent } from "../thread-supervisor.js";
import type { IssuedCertificate } from "../model/issued-certificate.js";
import { DuplicateSerialError } from "./certificate-store.js";
import { captureDatabaseFiles } from "./database-files.js";
import { DatabaseHealth, isUnwritableCode } from "./database-health.js";
import type { BatchWriter } from "./group-commit.js";
import type { WriterReply, WriterRequest, WriterThreadData } from "./writer-thread.js";

const entry = threadEntry(import.meta.url, "writer-thread").url;

export interface WriterThreadOptions {
  /** The health the writer reports each commit's outcome to; default: one of its own over the files as they are now. */
  health?: DatabaseHealth;
  /** Where the thread's stops and restarts are told. */
  onEvent?: (event: ThreadEvent) => void;
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
  private readonly batches = new Map<number, readonly IssuedCertificate[]>();
  private nextId = 1;

  private constructor(
    private readonly thread: SupervisedThread,
    readonly health: DatabaseHealth,
  ) {}

  /** Starts the writer thread on the database at `path` (already migrated) and waits until it is open. */
  static async start(path: string, options: WriterThreadOptions = {}): Promise<WriterThread> {
    const health = options.health ?? new DatabaseHealth(captureDatabaseFiles(path));
    const workerData: WriterThreadData = { path, files: health.files };
    let writer: WriterThread | undefined;
    const thread = await SupervisedThread.start({
      name: "database writer thread",
      create: () => new Worker(entry, { workerData, resourceLimits: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 64 } }),
      handshake: true,
      onMessage: (reply) => writer?.answer(reply as WriterReply),
      callFailure: (reason) => new WriteRefusedError(`nothing was committed: ${reason}`),
      restartBlocked: () => health.lost,
      onEvent: options.onEvent,
    });
    writer = new WriterThread(thread, health);
    health.attach(writer);
    return writer;
  }

  /** Why the writer thread is not up, or undefined when it is. */
  get down(): string | undefined {
    return this.thread.down;
  }

  /** The supervised thread, for tests that stop it as a crash would. */
  get supervised(): SupervisedThread {
    return this.thread;
  }

  private answer(reply: WriterReply): void {
    const records = this.batches.get(reply.id);
    this.batches.delete(reply.id);
    let outcome: { value: unknown } | { error: unknown };
    if ("rescued" in reply) {
      outcome = { value: reply.rescued };
    } else if ("lost" in reply) {
      this.health.markLost(reply.lost);
      outcome = { error: new WriteRefusedError(`not recorded: ${reply.lost}`) };
    } else if ("error" in reply) {
      // A batch refused for itself (a constraint) says nothing of the database.
      if (isUnwritableCode(reply.code)) this.health.failed(`${reply.code}: ${reply.error}`);
      outcome = { error: new Error(`database write failed: ${reply.error}`) };
    } else {
      this.health.succeeded();
      const results: (DuplicateSerialError | undefined)[] = (records ?? []).map(() => undefined);
      for (const i of reply.duplicates) results[i] = new DuplicateSerialError(`serial ${records![i]!.serialNumber} is recorded already`);
      outcome = { value: results };
    }
    this.thread.settle(reply.id, outcome);
  }

  private send<T>(request: WriterRequest): Promise<T> {
    const lost = this.health.lost;
    if (lost) return Promise.reject(new WriteRefusedError(`not recorded: ${lost}`));
    return this.thread.call<T>(request.id, request);
  }

  insertMany(records: readonly IssuedCertificate[]): Promise<(DuplicateSerialError | undefined)[]> {
    const id = this.nextId++;
    const sent = this.send<(DuplicateSerialError | undefined)[]>({ id, records: records as IssuedCertificate[] });
    this.batches.set(id, records);
    sent.catch(() => this.batches.delete(id));
    return sent;
  }

  /**
   * Copies everything the open database holds to `target` (VACUUM INTO), even once its file was
   * deleted or replaced: the writer thread still has the old file open.
   */
  rescue(target: string): Promise<string> {
    const id = this.nextId++;
    return this.thread.call<string>(id, { id, rescueTo: target } satisfies WriterRequest);
  }

  /** A real write that leaves nothing behind (see the writer thread); its outcome goes to the health too. */
  probe(): Promise<void> {
    return this.send<void>({ id: this.nextId++, probe: true });
  }

  async close(): Promise<void> {
    this.health.close();
    await this.thread.close();
  }
}
