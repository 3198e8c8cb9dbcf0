/**
 * Runs challenge validations off the request that started them, at most `concurrency` at a time:
 * each one waits on the network (a client's HTTP server, DNS, a TLS handshake) for up to its
 * timeout, and an unbounded number of them would let clients make the service hold any number of
 * sockets. Jobs beyond `maxQueued` waiting are refused, so a flood cannot grow memory either.
 */
export class ValidationQueue {
  private running = 0;
  private readonly waiting: (() => Promise<void>)[] = [];
  private readonly idle: (() => void)[] = [];
  private closed = false;

  /**
   * @param concurrency validations in flight at once; default 8.
   * @param maxQueued validations waiting beyond those; default 1000.
   */
  constructor(
    private readonly concurrency = 8,
    private readonly maxQueued = 1000,
  ) {}

  /** Validations in flight and waiting. */
  get size(): number {
    return this.running + this.waiting.length;
  }

  /** Queues `job`; false (and nothing queued) when the queue is full or closed. The job must not throw. */
  add(job: () => Promise<void>): boolean {
    if (this.closed || this.waiting.length >= this.maxQueued) return false;
    this.waiting.push(job);
    this.next();
    return true;
  }

  private next(): void {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.running++;
      void job()
        .catch(() => {})
        .finally(() => {
          this.running--;
          this.next();
          if (this.size === 0) for (const resolve of this.idle.splice(0)) resolve();
        });
    }
  }

  /** Takes no more jobs and waits for those queued and running (each bounded by its validator's timeout). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.size === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  /** Resolves once nothing is queued or running (tests). */
  async drained(): Promise<void> {
    if (this.size === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }
}
