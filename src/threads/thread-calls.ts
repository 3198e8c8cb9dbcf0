import type { Worker } from "node:worker_threads";
import type { RemoteError, ThreadApi, ThreadCall, ThreadReply } from "./rpc.js";

export interface ThreadCallsOptions {
  /** The thread calls are posted to; undefined while none runs. */
  worker(): Worker | undefined;
  /**
   * Calls made in one turn of the event loop go to the thread as one message after it: a message
   * costs both threads a wake-up and an event dispatch, which under load cost as much as the
   * copying. Default false: each call is posted at once.
   */
  batchPerTurn?: boolean;
  /** The error a call fails with when its function threw in the thread. */
  remoteError(error: RemoteError): Error;
  /** The error a call fails with when its arguments cannot be copied to the thread; default the copy's own error. */
  unsendable?(error: unknown): Error;
  /** When the last call waiting has settled. */
  onIdle(): void;
}

interface PendingCall {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** The caller's side of the wire to one thread: calls posted by id, settled by the replies that name them. */
export class ThreadCalls<Api extends ThreadApi> {
  private readonly pending = new Map<number, PendingCall>();
  private nextId = 1;
  private outbox: ThreadCall<Api>[] = [];
  private flushScheduled = false;

  constructor(private readonly options: ThreadCallsOptions) {}

  /** Calls posted and not yet answered. */
  get size(): number {
    return this.pending.size;
  }

  /** Posts a call to the running thread (see ThreadCallsOptions.batchPerTurn) and settles with its reply. */
  call<K extends keyof Api & string>(method: K, args: Parameters<Api[K]>): Promise<Awaited<ReturnType<Api[K]>>> {
    const id = this.nextId++;
    const answer = new Promise<Awaited<ReturnType<Api[K]>>>((resolve, reject) => this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject }));
    const call = { id, method, args } as ThreadCall<Api>;
    if (this.options.batchPerTurn) {
      this.outbox.push(call);
      this.scheduleFlush();
    } else {
      this.send([call]);
    }
    return answer;
  }

  /** Settles the calls the thread answered. */
  answer(replies: ThreadReply[]): void {
    for (const reply of replies) {
      if ("value" in reply) this.settle(reply.id, { value: reply.value });
      else this.settle(reply.id, { error: this.options.remoteError(reply.error) });
    }
  }

  /** Fails every call waiting, posted or not (the thread is gone): each with an error of its own. */
  failAll(error: () => Error): void {
    const calls = [...this.pending.values()];
    this.pending.clear();
    this.outbox = [];
    for (const call of calls) call.reject(error());
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const calls = this.outbox;
      this.outbox = [];
      // A thread that stopped since has failed these calls already.
      if (calls.length > 0) this.send(calls);
    });
  }

  /**
   * Posts calls. A call that cannot be copied (a value too deep for structured clone, or one it
   * refuses) fails alone: a batch is posted again one call at a time, and a throw here must not
   * escape a setImmediate, where it would end the process.
   */
  private send(calls: ThreadCall<Api>[]): void {
    try {
      this.options.worker()!.postMessage(calls);
    } catch (error) {
      if (calls.length > 1) {
        for (const call of calls) this.send([call]);
        return;
      }
      this.settle(calls[0]!.id, { error: this.options.unsendable?.(error) ?? error });
    }
  }

  private settle(id: number, outcome: { value: unknown } | { error: unknown }): void {
    const call = this.pending.get(id);
    if (!call) return;
    this.pending.delete(id);
    if ("value" in outcome) call.resolve(outcome.value);
    else call.reject(outcome.error);
    if (this.pending.size === 0) this.options.onIdle();
  }
}
