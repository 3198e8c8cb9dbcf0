import { Worker } from "node:worker_threads";
import { threadEntry } from "../thread-entry.js";

const { url: entry, built } = threadEntry(import.meta.url, "keygen-thread");
// The thread's own code is tiny; the limits apply to the built service (a TypeScript loader, in tests, needs more).
const resourceLimits = built ? { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 24 } : undefined;

export interface KeyPoolOptions {
  /** Generation threads, each at a low scheduling priority. */
  threads: number;
  /** RSA keys of each size made ahead in idle time; 0 makes them only on demand. */
  spares: number;
  /** RSA sizes kept ready. */
  sizes: readonly number[];
}

/**
 * RSA keys for newcert, made in low-priority threads so that a burst of RSA requests saturates
 * the idle CPU without slowing signing or health checks. A few keys per size are made ahead while
 * the service is idle and handed out once each: never reused, never written to disk.
 */
export class KeyPool {
  private readonly workers: { worker: Worker; busy: number }[] = [];
  private readonly spares = new Map<number, string[]>();
  private readonly waiting = new Map<number, { size: number; resolve: (pem: string) => void; reject: (e: Error) => void }>();
  private readonly filling = new Map<number, number>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: KeyPoolOptions) {
    for (let i = 0; i < options.threads; i++) {
      const slot = { worker: new Worker(entry, { resourceLimits }), busy: 0 };
      slot.worker.on("message", ({ id, pem }: { id: number; pem: string }) => {
        slot.busy--;
        const call = this.waiting.get(id);
        this.waiting.delete(id);
        call?.resolve(pem);
      });
      slot.worker.on("exit", () => {
        for (const call of this.waiting.values()) call.reject(new Error("key generation thread exited"));
      });
      this.workers.push(slot);
    }
    for (const size of options.sizes) this.refill(size);
  }

  private generate(size: number): Promise<string> {
    const slot = this.workers.reduce((best, w) => (w.busy < best.busy ? w : best));
    const id = this.nextId++;
    slot.busy++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { size, resolve, reject });
      slot.worker.postMessage({ id, size });
    });
  }

  /** Makes spares on idle threads only, one each at a time, so a request never queues behind many spares. */
  private refill(size: number): void {
    if (this.closed || !this.options.sizes.includes(size)) return;
    const ready = (this.spares.get(size)?.length ?? 0) + (this.filling.get(size) ?? 0);
    if (ready >= this.options.spares || !this.workers.some((w) => w.busy === 0)) return;
    this.filling.set(size, (this.filling.get(size) ?? 0) + 1);
    this.generate(size).then(
      (pem) => {
        this.filling.set(size, this.filling.get(size)! - 1);
        if (!this.closed) this.spares.set(size, [...(this.spares.get(size) ?? []), pem]);
        for (const s of this.options.sizes) this.refill(s);
      },
      () => this.filling.set(size, this.filling.get(size)! - 1),
    );
    this.refill(size);
  }

  /** A fresh RSA private key (PKCS#8 PEM) of `size` bits: a spare if one is ready, else made now. */
  take(size: number): Promise<string> {
    const spare = this.spares.get(size)?.shift();
    const key = spare !== undefined ? Promise.resolve(spare) : this.generate(size);
    key.then(
      () => this.refill(size),
      () => this.refill(size),
    );
    return key;
  }

  /** How many keys of `size` are ready. */
  ready(size: number): number {
    return this.spares.get(size)?.length ?? 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.spares.clear();
    await Promise.all(this.workers.map((slot) => slot.worker.terminate()));
  }
}
