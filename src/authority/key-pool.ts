import { generateKeyPair } from "node:crypto";
import { CertwrightError } from "../errors.js";

export interface KeyPoolOptions {
  /** Keys made at once, each on one of libuv's pool threads (the CPUs, for the service). */
  concurrency: number;
  /** RSA keys of each size made ahead in idle time; 0 makes them only on demand. */
  spares: number;
  /** RSA sizes kept ready. */
  sizes: readonly number[];
  /**
   * Default false: spares are made at once. True: nothing is made before the first key is asked
   * for, so a start is not slowed by key generation (1.3 CPU-s for 8 spares) and a service that
   * never makes an RSA key never pays for one; spares are made from then on.
   */
  onDemand?: boolean;
}

interface Job {
  size: number;
  resolve(pem: string): void;
  reject(error: Error): void;
}

/**
 * RSA keys for newcert, made by OpenSSL on libuv's thread pool (`crypto.generateKeyPair`), whose
 * threads the service runs at a low scheduling priority (lowerWorkPoolPriority), so a burst of RSA
 * requests takes the idle CPU without slowing signing or health checks, and costs no V8 isolate
 * (a thread of our own per CPU cost 9 MB each). A few keys per size are made ahead while the
 * service is idle and handed out once each: never reused, never written to disk. A request's key
 * goes before spares: a spare starts only while no request waits.
 */
export class KeyPool {
  private readonly spares = new Map<number, string[]>();
  private readonly filling = new Map<number, number>();
  private readonly waiting: Job[] = [];
  private running = 0;
  private closed = false;
  private started: boolean;

  constructor(private readonly options: KeyPoolOptions) {
    this.started = !options.onDemand;
    for (const size of options.sizes) this.refill(size);
  }

  private generate(size: number): Promise<string> {
    this.started = true;
    if (this.closed) return Promise.reject(new CertwrightError("notReady", "the service is stopping; try again"));
    return new Promise((resolve, reject) => {
      this.waiting.push({ size, resolve, reject });
      this.next();
    });
  }

  private next(): void {
    while (this.running < this.options.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.running++;
      // Encoded on the pool thread too: the PEM costs the event loop nothing.
      generateKeyPair(
        "rsa",
        { modulusLength: job.size, publicExponent: 65537, publicKeyEncoding: { type: "spki", format: "der" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } },
        (error, _publicKey, privateKey) => {
          this.running--;
          if (error) job.reject(new CertwrightError("notReady", `the RSA key for this request could not be made: ${error.message}; try again`));
          else job.resolve(privateKey);
          this.next();
        },
      );
    }
  }

  /** Makes spares while nothing waits, one per free slot, so a request never queues behind many spares. */
  private refill(size: number): void {
    if (this.closed || !this.started || !this.options.sizes.includes(size)) return;
    const ready = (this.spares.get(size)?.length ?? 0) + (this.filling.get(size) ?? 0);
    if (ready >= this.options.spares || this.waiting.length > 0 || this.running >= this.options.concurrency) return;
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

  /** Refuses the keys not started yet; those being made finish on their own (OpenSSL cannot be stopped midway). */
  async close(): Promise<void> {
    this.closed = true;
    this.spares.clear();
    for (const job of this.waiting.splice(0)) job.reject(new CertwrightError("notReady", "the service is stopping; try again"));
  }
}
