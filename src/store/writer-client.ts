import { Worker } from "node:worker_threads";
import { threadEntry } from "../thread-entry.js";
import { DuplicateSerialError, type NewCertificate } from "./certificate-store.js";
import type { BatchWriter } from "./group-commit.js";
import type { WriterReply } from "./writer-thread.js";

const entry = threadEntry(import.meta.url, "writer-thread").url;

/** A BatchWriter whose transactions run in the database writer thread. */
export class WriterThread implements BatchWriter {
  private readonly pending = new Map<number, { records: readonly NewCertificate[]; resolve: (r: (DuplicateSerialError | undefined)[]) => void; reject: (e: Error) => void }>();
  private nextId = 1;

  private constructor(private readonly worker: Worker) {
    worker.on("message", (reply: WriterReply | { ready: true }) => {
      if ("ready" in reply) return;
      const call = this.pending.get(reply.id);
      if (!call) return;
      this.pending.delete(reply.id);
      if ("error" in reply) return call.reject(new Error(`database write failed: ${reply.error}`));
      const results: (DuplicateSerialError | undefined)[] = call.records.map(() => undefined);
      for (const i of reply.duplicates) results[i] = new DuplicateSerialError(`serial ${call.records[i]!.serialNumber} is recorded already`);
      call.resolve(results);
    });
    worker.on("exit", (code) => {
      for (const call of this.pending.values()) call.reject(new Error(`database writer thread exited with code ${code}`));
      this.pending.clear();
    });
  }

  /** Starts the writer thread on the database at `path` (already migrated) and waits until it is open. */
  static start(path: string): Promise<WriterThread> {
    const worker = new Worker(entry, { workerData: { path }, resourceLimits: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 64 } });
    return new Promise((resolve, reject) => {
      worker.once("message", () => resolve(new WriterThread(worker)));
      worker.once("error", reject);
    });
  }

  insertMany(records: readonly NewCertificate[]): Promise<(DuplicateSerialError | undefined)[]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { records, resolve, reject });
      this.worker.postMessage({ id, records });
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
