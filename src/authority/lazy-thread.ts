import { Worker, type ResourceLimits } from "node:worker_threads";

export interface LazyThreadOptions {
  /** What the thread is, for error messages ("the CRL thread"). */
  name: string;
  /** The module it runs, from `threadEntry`. */
  entry: { url: URL; built: boolean };
  workerData: unknown;
  /** Applied in the built service only: under tests the thread also compiles TypeScript. */
  resourceLimits?: ResourceLimits;
  /** An idle thread is stopped after this long, so a quiet service gives its memory back; default 60 s. */
  idleMs?: number;
}

/**
 * A worker thread for work the HTTP thread must not do itself, started on the first call (a
 * service that never needs it pays nothing), stopped when idle, and started again after it died
 * (the calls in flight then fail). Calls carry an `id`; replies are `{ id, ... }` or `{ id, error }`.
 * It keeps the process alive only while a call waits for it.
 */
export class LazyThread<Request extends object, Reply extends { id: number }> {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();
  private nextId = 1;
  private closed = false;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: LazyThreadOptions) {}

  /** Whether the thread is up now (started and not yet stopped idle, closed or dead). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  call(request: Request): Promise<Exclude<Reply, { error: string }>> {
    if (this.closed) return Promise.reject(new Error(`${this.options.name} is closed`));
    clearTimeout(this.idleTimer);
    const worker = (this.worker ??= this.spawn());
    // Held while a call waits for it (nothing else may keep the process alive, as under inject);
    // let go once idle.
    worker.ref();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (reply: Reply) => void, reject });
      worker.postMessage({ id, ...request });
    });
  }

  private spawn(): Worker {
    const { entry, workerData, resourceLimits } = this.options;
    const worker = new Worker(entry.url, { workerData, ...(entry.built ? { resourceLimits } : {}) });
    worker.unref();
    worker.on("message", (reply: Reply) => {
      const call = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (this.pending.size === 0) {
        worker.unref();
        this.idleTimer = setTimeout(() => this.stopIdle(worker), this.options.idleMs ?? 60_000).unref();
      }
      if (!call) return;
      if ("error" in reply) call.reject(new Error(`${this.options.name}: ${String(reply.error)}`));
      else call.resolve(reply);
    });
    const failed = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const call of this.pending.values()) call.reject(new Error(`${this.options.name} ${why}`));
      this.pending.clear();
    };
    worker.on("error", (error) => failed(`failed: ${error.message}`));
    worker.on("exit", (code) => failed(`exited (${code})`));
    return worker;
  }

  private stopIdle(worker: Worker): void {
    if (this.worker !== worker || this.pending.size > 0) return;
    this.worker = undefined;
    void worker.terminate();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = undefined;
    for (const call of this.pending.values()) call.reject(new Error(`${this.options.name} is closed`));
    this.pending.clear();
    await worker?.terminate();
  }
}
