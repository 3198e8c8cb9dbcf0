import type { IssuedCertificate } from "../model/issued-certificate.js";
import type { DuplicateSerialError } from "./certificate-store.js";

/** What group commit needs of a store: one transaction for many rows, here or in another thread. */
export interface BatchWriter {
  /**
   * Each entry of the result is undefined (recorded) or that row's DuplicateSerialError; any
   * other failure, the commit's included, throws (or rejects) and records none of them.
   */
  insertMany(records: readonly IssuedCertificate[]): (DuplicateSerialError | undefined)[] | Promise<(DuplicateSerialError | undefined)[]>;
}

interface Pending {
  record: IssuedCertificate;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export interface GroupCommitOptions {
  /** The most rows in one transaction; default 512. */
  maxBatch?: number;
  /**
   * Called after each successful commit with how long the writer took (milliseconds, the fsync
   * included) and how many rows it committed; default: nothing. The metrics plug in here, so the
   * store knows nothing of them. It must not throw.
   */
  onCommit?: (durationMs: number, rows: number) => void;
}

/**
 * Group commit: the inserts of every request in flight go into one transaction, committed (and,
 * with synchronous=FULL, fsynced) once; each caller's promise settles only after that commit. A
 * burst pays one fsync per batch instead of one per certificate, and while one batch commits the
 * next one gathers. If a commit fails, every request of its batch fails, so none of them hands out
 * a certificate that is not on disk.
 */
export class GroupCommitRecorder {
  private queue: Pending[] = [];
  private scheduled = false;
  private committing = false;

  private readonly maxBatch: number;
  private readonly onCommit: (durationMs: number, rows: number) => void;

  constructor(
    private readonly writer: BatchWriter,
    options: GroupCommitOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 512;
    this.onCommit = options.onCommit ?? (() => {});
  }

  insert(record: IssuedCertificate): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.committing || this.queue.length === 0) return;
    this.scheduled = true;
    // After the I/O callbacks of this turn, so every request that finished signing joins the batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.commit();
    });
  }

  private async commit(): Promise<void> {
    this.committing = true;
    const batch = this.queue.splice(0, this.maxBatch);
    const started = performance.now();
    try {
      const results = await this.writer.insertMany(batch.map((p) => p.record));
      const durationMs = performance.now() - started;
      for (const [i, pending] of batch.entries()) {
        const failure = results[i];
        if (failure) pending.reject(failure);
        else pending.resolve();
      }
      // After the batch is settled: a throwing callback cannot fail requests that are on disk.
      this.onCommit(durationMs, batch.length);
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    } finally {
      this.committing = false;
      this.schedule();
    }
  }
}
