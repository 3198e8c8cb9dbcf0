import { Worker, type ResourceLimits } from "node:worker_threads";
import type { ThreadEntry } from "./entry.js";
import type { RemoteError, ThreadApi, ThreadReply } from "./rpc.js";
import { ThreadCalls, type ThreadCallsOptions } from "./thread-calls.js";

/** What a supervisor tells the service's log: a thread stopped, or came back. */
export type ThreadEvent = { level: "error" | "info"; message: string; error?: unknown };

/** Besides these, how calls are posted (batchPerTurn) and what a call that cannot be copied fails with (unsendable). */
export interface SupervisedThreadOptions extends Pick<ThreadCallsOptions, "batchPerTurn" | "unsendable"> {
  /** Names the thread in the log, in readiness and in errors: "signer thread 2". */
  name: string;
  /** The module it runs, from `threadEntry`; it serves its API with `serveApi`. */
  entry: ThreadEntry;
  /** What the thread starts with; called at each start, so a restart gets what is current. */
  workerData?(): unknown;
  /** Applied in the built service only: under tests the thread also compiles TypeScript, which needs more. */
  resourceLimits?: ResourceLimits;
  /**
   * Not up until the thread says it is ready (after opening its database, loading its CA...), so a
   * failure there fails the start. Default false: up as soon as it is made, calls wait in its queue.
   */
  handshake?: boolean;
  /** The error a call fails with when the thread is down, closed or stops under it; default `new Error(reason)`. */
  callFailure?(reason: string): Error;
  /** The error a call fails with when its function threw in the thread; default `new Error("NAME: message")`. */
  remoteError?(error: RemoteError): Error;
  /** Undefined when a restart may go ahead; otherwise why the thread stays down (and it is not retried). */
  restartBlocked?(): string | undefined;
  /** After a restart came up: the pool hands it work again (refills spares, sends a newer config...). */
  onRestarted?(): void;
  /** Where stops and restarts are told; default nowhere. */
  onEvent?(event: ThreadEvent): void;
  /** The first restart waits this long, each next one twice as long: default 100 ms. */
  minBackoffMs?: number;
  /** The longest wait between restarts: default 5 s. */
  maxBackoffMs?: number;
}

export interface LazyThreadOptions extends Omit<SupervisedThreadOptions, "handshake" | "restartBlocked" | "onRestarted" | "minBackoffMs" | "maxBackoffMs"> {
  /** An idle thread is stopped after this long, so a quiet service gives its memory back; default 60 s. */
  idleMs?: number;
  /**
   * Default true: the process stays alive while a call waits for the thread (nothing else may keep
   * it alive, as under inject). False for work the process may leave unfinished when it ends.
   */
  holdsProcess?: boolean;
}

/**
 * One worker thread serving an API (see `serveApi`), under the one policy every thread of the
 * service follows: if it exits or throws, the calls it was working on fail at once (a caller never
 * waits on a thread that is gone) and `down` says why, for readiness. A thread kept running
 * (`start`, `launchNow`) is restarted after a backoff that doubles up to a limit; a lazy one
 * (`lazy`) is started by the first call, stopped when idle, and started again by the next call.
 */
export class SupervisedThread<Api extends ThreadApi> {
  private current: Worker | undefined;
  private up = false;
  private closed = false;
  private reason: string | undefined = "starting";
  private readonly calls: ThreadCalls<Api>;
  private backoffMs: number;
  private upSince = 0;
  private everUp = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Set while the first start of a thread begun with `begin` goes on: calls made meanwhile wait for it. */
  private firstStart: Promise<void> | undefined;
  /** Calls waiting for that first start. */
  private waiting = 0;

  private constructor(
    private readonly options: SupervisedThreadOptions,
    /** Set for a lazy thread: how long it may idle before it is stopped. */
    private readonly idleMs?: number,
    private readonly holdsProcess = true,
  ) {
    this.backoffMs = options.minBackoffMs ?? 100;
    this.calls = new ThreadCalls<Api>({
      worker: () => this.current,
      batchPerTurn: options.batchPerTurn,
      remoteError: options.remoteError ?? ((error) => new Error(`${options.name}: ${error.message}`)),
      unsendable: options.unsendable,
      onIdle: () => this.idle(),
    });
  }

  /** Starts a thread kept running; rejects if it fails before it is up, so a bad start stops the service's start. */
  static async start<Api extends ThreadApi>(options: SupervisedThreadOptions): Promise<SupervisedThread<Api>> {
    const thread = new SupervisedThread<Api>(options);
    await thread.launch();
    return thread;
  }

  /**
   * Starts a thread kept running without waiting for it to be up, so the service can listen while
   * its threads load: calls made before it is up wait for it (the only time a call waits for a
   * thread), and fail if it never comes up. `started` settles as `start` would: the caller awaits it
   * to fail its own start when the thread's fails. With `after`, the thread is made only once that
   * settles (the service listening): until then it takes no CPU from the start.
   */
  static begin<Api extends ThreadApi>(options: SupervisedThreadOptions, after?: Promise<unknown>): { thread: SupervisedThread<Api>; started: Promise<void> } {
    const thread = new SupervisedThread<Api>(options);
    const launch = () => (thread.closed ? Promise.reject(new Error(`${options.name} is closed`)) : thread.launch());
    const started = after ? after.then(launch, launch) : thread.launch();
    thread.firstStart = started.then(
      () => {
        thread.firstStart = undefined;
      },
      () => {
        thread.firstStart = undefined;
      },
    );
    return { thread, started };
  }

  /**
   * Starts a thread kept running without waiting (one without a handshake is up at once); if it
   * fails, it is restarted like any other.
   */
  static launchNow<Api extends ThreadApi>(options: SupervisedThreadOptions): SupervisedThread<Api> {
    const thread = new SupervisedThread<Api>(options);
    thread.launch().catch(() => {
      // Told through onEvent, and restarted.
    });
    return thread;
  }

  /**
   * A thread for work the HTTP thread must not do itself, started on the first call (a service
   * that never needs it pays nothing) and stopped when idle. It keeps the process alive only while
   * a call waits for it, if at all (`holdsProcess`).
   */
  static lazy<Api extends ThreadApi>(options: LazyThreadOptions): SupervisedThread<Api> {
    const thread = new SupervisedThread<Api>(options, options.idleMs ?? 60_000, options.holdsProcess);
    thread.reason = "not started";
    return thread;
  }

  /** Why the thread is not up (starting, restarting after an exit...), or undefined when it is. */
  get down(): string | undefined {
    return this.up ? undefined : (this.reason ?? "not running");
  }

  /** Whether a thread is running now (a lazy one: started, and not yet stopped idle, closed or dead). */
  get running(): boolean {
    return this.current !== undefined;
  }

  get name(): string {
    return this.options.name;
  }

  /** Whether its first start (see `begin`) goes on: a call made now waits for it. */
  get starting(): boolean {
    return this.firstStart !== undefined;
  }

  /** Calls made and not yet answered (those waiting for the first start included). */
  get inFlight(): number {
    return this.calls.size + this.waiting;
  }

  /**
   * The running Worker, for tests that stop it for real as a crash would; the service never hands
   * it out elsewhere.
   */
  get worker(): Worker | undefined {
    return this.current;
  }

  /**
   * Calls `method` of the thread's API with `args` and settles with what it returned or threw;
   * fails at once if the thread is down or closed, or when it stops before answering.
   */
  call<K extends keyof Api & string>(method: K, ...args: Parameters<Api[K]>): Promise<Awaited<ReturnType<Api[K]>>> {
    const { name } = this.options;
    if (this.closed) return Promise.reject(this.failure(`${name} is closed`));
    const firstStart = this.firstStart;
    if (firstStart) {
      // Asked again once the start settles: then it is up, or the call fails with the reason it is not.
      this.waiting++;
      return firstStart.then(() => {
        this.waiting--;
        return this.call(method, ...args);
      });
    }
    if (this.idleMs !== undefined && !this.current) {
      this.launch().catch(() => {
        // Its calls fail with the reason.
      });
    }
    const worker = this.current;
    if (!this.up || !worker) return Promise.reject(this.failure(`${name} is down (${this.down ?? "not running"})`));
    if (this.idleMs !== undefined) {
      clearTimeout(this.idleTimer);
      if (this.holdsProcess) worker.ref();
    }
    return this.calls.call(method, args);
  }

  private failure(reason: string): Error {
    return this.options.callFailure?.(reason) ?? new Error(reason);
  }

  /** A lazy thread with nothing to do lets the process go, and is stopped if it stays so. */
  private idle(): void {
    const worker = this.current;
    if (this.idleMs === undefined || !worker) return;
    worker.unref();
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.current !== worker || this.calls.size > 0) return;
      this.current = undefined;
      this.up = false;
      this.reason = "stopped while idle";
      void worker.terminate();
    }, this.idleMs).unref();
  }

  private launch(): Promise<void> {
    const { name, entry, handshake, resourceLimits } = this.options;
    const worker = new Worker(entry.url, { workerData: this.options.workerData?.(), ...(entry.built ? { resourceLimits } : {}) });
    this.current = worker;
    if (this.idleMs !== undefined) worker.unref();
    let failure: unknown;
    return new Promise<void>((resolve, reject) => {
      const becameUp = () => {
        this.up = true;
        this.everUp = true;
        this.reason = undefined;
        this.upSince = Date.now();
        resolve();
      };
      worker.on("message", (message: ThreadReply[] | { ready: true }) => {
        if (Array.isArray(message)) this.calls.answer(message);
        else if (!this.up && handshake && this.current === worker) becameUp();
      });
      worker.on("error", (error) => (failure = error));
      worker.on("exit", (code) => {
        // A lazy thread stopped while idle: nothing was waiting on it.
        if (this.current !== worker) return;
        const wasUp = this.up;
        this.current = undefined;
        this.up = false;
        if (this.closed) {
          this.failCalls(`${name} is closed`);
          return reject(new Error(`${name} is closed`));
        }
        const why = failure instanceof Error ? failure.message : `exited with code ${code}`;
        this.reason = this.idleMs === undefined ? `${why}; restarting` : why;
        this.failCalls(failure instanceof Error ? `${name} failed: ${why}` : `${name} stopped (${why})`);
        if (!wasUp) reject(failure instanceof Error ? failure : new Error(`${name} ${why} before it was ready`));
        if (this.idleMs !== undefined) {
          this.options.onEvent?.({ level: "error", message: `${name} ${why}; its calls in flight failed; the next call starts it again` });
          return;
        }
        // A thread that never came up at the service's start fails the start instead.
        if (!this.everUp) {
          this.closed = true;
          this.reason = why;
          return;
        }
        this.scheduleRestart(why);
      });
      if (!handshake) becameUp();
    });
  }

  private failCalls(reason: string): void {
    clearTimeout(this.idleTimer);
    this.calls.failAll(() => this.failure(reason));
  }

  private scheduleRestart(why: string): void {
    const { name } = this.options;
    // A thread that ran for a while before it stopped starts over from the shortest wait.
    if (this.upSince && Date.now() - this.upSince > 30_000) this.backoffMs = this.options.minBackoffMs ?? 100;
    this.upSince = 0;
    const blocked = this.options.restartBlocked?.();
    if (blocked) {
      this.reason = `${why}; not restarted: ${blocked}`;
      this.options.onEvent?.({ level: "error", message: `${name} ${why}; not restarted: ${blocked}` });
      return;
    }
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? 5_000);
    this.options.onEvent?.({ level: "error", message: `${name} ${why}; its calls in flight failed; restarting in ${wait} ms` });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.closed) return;
      this.launch().then(
        () => {
          this.options.onEvent?.({ level: "info", message: `${name} restarted` });
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
    clearTimeout(this.idleTimer);
    this.up = false;
    this.reason = "stopped";
    const worker = this.current;
    if (worker) await worker.terminate();
    this.failCalls(`${this.options.name} is closed`);
  }
}
