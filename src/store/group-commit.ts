import type { DuplicateSerialError, NewCertificate } from "./certificate-store.js";

/** What group commit needs of a store: one transaction for many rows. */
export interface BatchWriter {
  insertMany(records: readonly NewCertificate[]): (DuplicateSerialError | undefined)[];
}

interface Pending {
  record: NewCertificate;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: the inserts of every request in flight go into one transaction, committed (and,
 * with synchronous=FULL, fsynced) once; each caller's promise settles only after that commit. A
 * burst pays one fsync per batch instead of one per certificate. If the commit fails, every
 * request of the batch fails, so none of them hands out a certificate that is not on disk.
 */
export class GroupCommitRecorder {
  private queue: Pending[] = [];
  private scheduled = false;

  /** @param maxBatch the most rows in one transaction; default 512. */
  constructor(
    private readonly writer: BatchWriter,
    private readonly maxBatch = 512,
  ) {}

  insert(record: NewCertificate): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // After the I/O callbacks of this turn, so every request that finished signing joins the batch.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      let results: (DuplicateSerialError | undefined)[];
      try {
        results = this.writer.insertMany(batch.map((p) => p.record));
      } catch (error) {
        for (const pending of batch) pending.reject(error);
        continue;
      }
      batch.forEach((pending, i) => (results[i] ? pending.reject(results[i]) : pending.resolve()));
    }
  }
}
