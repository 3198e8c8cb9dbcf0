import { CertwrightError } from "../errors.js";
import { threadEntry } from "../threads/entry.js";
import { SupervisedThread, type ThreadEvent } from "../threads/supervised-thread.js";
import type { KeygenApi } from "./keygen-thread.js";

const entry = threadEntry(import.meta.url, "keygen-thread");
// The thread's own code is tiny.
const resourceLimits = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 24 };

export interface KeyPoolOptions {
  /** Generation threads, each at a low scheduling priority. */
  threads: number;
  /** RSA keys of each size made ahead in idle time; 0 makes them only on demand. */
  spares: number;
  /** RSA sizes kept ready. */
  sizes: readonly number[];
  /**
   * Default false: the threads start and make spares at once. True: nothing starts before the
   * first key is asked for, so a start is not slowed by key generation (1.3 CPU-s for 8 spares)
   * and a service that never makes an RSA key runs no thread for it; spares are made from then on.
   */
  onDemand?: boolean;
}

/**
 * RSA keys for newcert, made in low-priority threads so that a burst of RSA requests saturates
 * the idle CPU without slowing signing or health checks. A few keys per size are made ahead while
 * the service is idle and handed out once each: never reused, never written to disk. A thread that
 * dies fails the keys it was making at once (503) and is restarted (see SupervisedThread).
 */
export class KeyPool {
  private readonly threads: SupervisedThread<KeygenApi>[] = [];
  private readonly spares = new Map<number, string[]>();
  private readonly filling = new Map<number, number>();
  private closed = false;
  private started = false;

  constructor(
    private readonly options: KeyPoolOptions,
    private readonly onEvent?: (event: ThreadEvent) => void,
  ) {
    if (options.onDemand) return;
    this.startThreads();
    for (const size of options.sizes) this.refill(size);
  }

  /** Once the pool is in use: the first key asked for is made first, spares after it (see `take`). */
  private startThreads(): void {
    const { options, onEvent } = this;
    this.started = true;
    for (let i = 0; i < options.threads; i++) {
      const thread = SupervisedThread.launchNow<KeygenApi>({
        name: `key generation thread ${i + 1}`,
        entry,
        resourceLimits,
        callFailure: (reason) => new CertwrightError("notReady", `the RSA key for this request could not be made: ${reason}; try again`),
        onRestarted: () => {
          for (const size of options.sizes) this.refill(size);
        },
        onEvent,
      });
      this.threads.push(thread);
    }
  }

  /** The threads, for readiness and for tests that stop one as a crash would. */
  get supervised(): readonly SupervisedThread<KeygenApi>[] {
    return this.threads;
  }

  private generate(size: number): Promise<string> {
    if (!this.started && !this.closed) this.startThreads();
    const up = this.threads.filter((thread) => thread.down === undefined);
    if (up.length === 0) {
      return Promise.reject(new CertwrightError("notReady", "no key generation thread is running (they are restarting); try again"));
    }
    const thread = up.reduce((best, t) => (t.inFlight < best.inFlight ? t : best));
    return thread.call("generate", size);
  }

  /** Makes spares on idle threads only, one each at a time, so a request never queues behind many spares. */
  private refill(size: number): void {
    if (this.closed || !this.started || !this.options.sizes.includes(size)) return;
    const ready = (this.spares.get(size)?.length ?? 0) + (this.filling.get(size) ?? 0);
    if (ready >= this.options.spares || !this.threads.some((t) => t.down === undefined && t.inFlight === 0)) return;
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
    await Promise.all(this.threads.map((thread) => thread.close()));
  }
}
