import type { Worker } from "node:worker_threads";

/** What a supervisor tells the service's log: a thread stopped, or came back. */
export type ThreadEvent = { level: "error" | "info"; message: string; error?: unknown };

export interface SupervisedThreadOptions {
  /** Names the thread in the log and in readiness: "signer thread 2". */
  name: string;
  /** Makes the Worker; called at start and again for each restart. */
  create(): Worker;
  /** Every message of the thread once it is up (the ready message of a handshake is not passed on). */
  onMessage(message: unknown): void;
  /**
   * The thread posts one message when it is ready (after opening its database, loading its CA...);
   * until then it is not up. Default false: up as soon as it is made.
   */
  handshake?: boolean;
  /** The error each call in flight fails with when the thread stops; `reason` says why it stopped. */
  callFailure(reason: string): Error;
  /** Undefined when a restart may go ahead; otherwise why the thread stays down (and it is not retried). */
  restartBlocked?(): string | undefined;
  /** After a restart came up: the pool hands it work again (refills spares...). */
  onRestarted?(): void;
  /** Where stops and restarts are told; default nowhere. */
  onEvent?(event: ThreadEvent): void;
  /** The first restart waits this long, each next one twice as long: default 100 ms. */
  minBackoffMs?: number;
  /** The longest wait between restarts: default 5 s. */
  maxBackoffMs?: number;
}

interface Call {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * One worker thread kept running: if it exits or throws, the calls it was working on fail at once
 * (a caller never waits on a thread that is gone), it is restarted after a backoff that doubles up
 * to a limit, and `down` says why while it is not up, for readiness. Every pool of the service
 * (signers, key generation, the database writer) runs its threads through this, so they all follow
 * one policy.
 */
export class SupervisedThread {
  private current: Worker | undefined;
  private up = false;
  private closed = false;
  private reason: string | undefined = "starting";
  private readonly calls = new Map<number, Call>();
  private backoffMs: number;
  private upSince = 0;
  private everUp = false;
  private restartTimer: NodeJS.Timeout | undefined;

  private constructor(private readonly options: SupervisedThreadOptions) {
    this.backoffMs = options.minBackoffMs ?? 100;
  }

  /** Starts the thread; rejects if it fails before it is up, so a bad start stops the service's start. */
  static async start(options: SupervisedThreadOptions): Promise<SupervisedThread> {
    const thread = new SupervisedThread(options);
    await thread.launch();
    return thread;
  }

  /**
   * Starts a thread without waiting (one without a handshake is up at once); if it fails, it is
   * restarted like any other.
   */
  static launchNow(options: SupervisedThreadOptions): SupervisedThread {
    const thread = new SupervisedThread(options);
    thread.launch().catch(() => {
      // Told through onEvent, and restarted.
    });
    return thread;
  }

  /** Why the thread is not up (starting, restarting after an exit...), or undefined when it is up. */
  get down(): string | undefined {
    return this.up ? undefined : (this.reason ?? "not running");
  }

  get name(): string {
    return this.options.name;
  }

  /** Calls posted and not yet answered. */
  get inFlight(): number {
    return this.calls.size;
  }

  /**
   * The running Worker, for tests that stop it for real as a crash would; the service never hands
   * it out elsewhere.
   */
  get worker(): Worker | undefined {
    return this.current;
  }

  /**
   * Posts `message` for call `id` and settles when `settle(id, ...)` is called for it, or fails at
   * once if the thread is not up or stops before answering.
   */
  call<T>(id: number, message: unknown): Promise<T> {
    if (!this.up || !this.current) return Promise.reject(this.options.callFailure(`${this.options.name} is down (${this.down ?? "not running"})`));
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.current!.postMessage(message);
    });
  }

  /** Registers call `id` without posting (the pool posts several calls in one message itself). */
  expect<T>(id: number): Promise<T> {
    if (!this.up || !this.current) return Promise.reject(this.options.callFailure(`${this.options.name} is down (${this.down ?? "not running"})`));
    return new Promise<T>((resolve, reject) => this.calls.set(id, { resolve: resolve as (value: unknown) => void, reject }));
  }

  /** Posts a message that is no call of its own (a batch of calls registered with `expect`). */
  post(message: unknown): void {
    this.current?.postMessage(message);
  }

  /** Settles call `id` with the thread's answer; false when no such call is waiting. */
  settle(id: number, outcome: { value: unknown } | { error: unknown }): boolean {
    const call = this.calls.get(id);
    if (!call) return false;
    this.calls.delete(id);
    if ("value" in outcome) call.resolve(outcome.value);
    else call.reject(outcome.error);
    return true;
  }

  private launch(): Promise<void> {
    const worker = this.options.create();
    this.current = worker;
    let failure: unknown;
    return new Promise<void>((resolve, reject) => {
      const becameUp = () => {
        this.up = true;
        this.everUp = true;
        this.reason = undefined;
        this.upSince = Date.now();
        resolve();
      };
      worker.on("message", (message: unknown) => {
        if (!this.up && this.options.handshake && this.current === worker) return becameUp();
        this.options.onMessage(message);
      });
      worker.on("error", (error) => (failure = error));
      worker.on("exit", (code) => {
        const wasUp = this.up && this.current === worker;
        if (this.current === worker) {
          this.current = undefined;
          this.up = false;
        }
        const why = failure instanceof Error ? `${failure.message}` : `exited with code ${code}`;
        if (this.closed) {
          this.failCalls("the service is stopping");
          return reject(new Error(`${this.options.name} stopped: the service is stopping`));
        }
        this.reason = `${why}; restarting`;
        this.failCalls(`${this.options.name} stopped (${why})`);
        if (!wasUp) reject(failure instanceof Error ? failure : new Error(`${this.options.name} ${why} before it was ready`));
        // A thread that never came up at the service's start fails the start instead.
        if (!this.everUp) {
          this.closed = true;
          this.reason = why;
          return;
        }
        this.scheduleRestart(why);
      });
      if (!this.options.handshake) becameUp();
    });
  }

  private failCalls(reason: string): void {
    const calls = [...this.calls.values()];
    this.calls.clear();
    for (const call of calls) call.reject(this.options.callFailure(reason));
  }

  private scheduleRestart(why: string): void {
    // A thread that ran for a while before it stopped starts over from the shortest wait.
    if (this.upSince && Date.now() - this.upSince > 30_000) this.backoffMs = this.options.minBackoffMs ?? 100;
    this.upSince = 0;
    const blocked = this.options.restartBlocked?.();
    if (blocked) {
      this.reason = `${why}; not restarted: ${blocked}`;
      this.options.onEvent?.({ level: "error", message: `${this.options.name} ${why}; not restarted: ${blocked}` });
      return;
    }
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? 5_000);
    this.options.onEvent?.({ level: "error", message: `${this.options.name} ${why}; its calls in flight failed; restarting in ${wait} ms` });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.closed) return;
      this.launch().then(
        () => {
          this.options.onEvent?.({ level: "info", message: `${this.options.name} restarted` });
          this.options.onRestarted?.();
        },
        // The exit handler has scheduled the next attempt already.
        () => {},
      );
    }, wait);
    this.restartTimer.unref();
  }

  /** Stops the thread for good; calls still waiting fail. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    this.up = false;
    this.reason = "stopped";
    const worker = this.current;
    if (worker) await worker.terminate();
    this.failCalls("the service is stopping");
  }
}
