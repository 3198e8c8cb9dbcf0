// The one boundary between the main thread and a worker thread: the worker serves an object of
// functions (its API), the main thread calls them by name through a SupervisedThread typed with that
// object's type. The message types come from the API's type, so a call with the wrong arguments does
// not compile; the caller imports the API with `import type` and never loads the worker's module.
import { parentPort } from "node:worker_threads";
import { CertwrightError, type ErrorKind } from "../errors.js";

/** What a worker thread serves: functions whose arguments and results cross by structured clone. */
// never, not unknown: a function taking (request: SignRequest) is no function of unknown arguments,
// but every function accepts never; the real argument types come from Api[K] at each call.
export type ThreadApi = Record<string, (...args: never[]) => unknown>;

/** One call as it crosses: a message carries an array of them. */
export type ThreadCall<Api extends ThreadApi> = { [K in keyof Api & string]: { id: number; method: K; args: Parameters<Api[K]> } }[keyof Api & string];

/** What a function of the API threw: a CertwrightError keeps its kind, anything else its stack. */
export interface RemoteError {
  message: string;
  kind?: ErrorKind;
  stack?: string;
}

/** The answer to one call: a message carries an array of them. */
export type ThreadReply = { id: number; value: unknown } | { id: number; error: RemoteError };

/** The one message that is not an array of replies: the thread has loaded and serves its API. */
const readyMessage = { ready: true } as const;

export interface ServeOptions {
  /**
   * Replies of calls that settle in the same turn leave in one message, and of the calls that came
   * together only this many start before the replies so far leave: the main thread records and
   * answers those while this thread works on the rest, so neither waits for a whole batch. Default:
   * each reply leaves on its own as soon as its call settles.
   */
  callsPerReply?: number;
}

function remoteError(error: unknown): RemoteError {
  if (error instanceof CertwrightError) return { message: error.message, kind: error.kind };
  return error instanceof Error ? { message: error.message, stack: error.stack } : { message: String(error) };
}

/**
 * Serves `api` to the thread's parent, then tells it the thread is ready (call it once whatever the
 * thread loads first is loaded). Calls start in the order they came, a message's and the next
 * one's alike; each reply is sent as soon as its call settles, so a call that waits (a key being
 * generated) does not hold back the others.
 */
export function serveApi<Api extends ThreadApi>(api: Api, options: ServeOptions = {}): void {
  const port = parentPort!;
  const { callsPerReply } = options;
  let outbox: ThreadReply[] = [];
  let flushScheduled = false;
  const waiting: ThreadCall<Api>[] = [];
  let running = false;

  function flush(): void {
    if (outbox.length === 0) return;
    port.postMessage(outbox);
    outbox = [];
  }

  function queueReply(reply: ThreadReply): void {
    if (callsPerReply === undefined) {
      port.postMessage([reply]);
      return;
    }
    outbox.push(reply);
    if (flushScheduled) return;
    // After the calls that settle in this turn, one message carries them all.
    flushScheduled = true;
    setImmediate(() => {
      flushScheduled = false;
      flush();
    });
  }

  async function settle({ id, method, args }: ThreadCall<Api>): Promise<ThreadReply> {
    try {
      return { id, value: await api[method]!(...args) };
    } catch (error) {
      return { id, error: remoteError(error) };
    }
  }

  async function run(): Promise<void> {
    running = true;
    for (let started = 1; waiting.length > 0; started++) {
      void settle(waiting.shift()!).then(queueReply);
      if (callsPerReply !== undefined && started % callsPerReply === 0 && waiting.length > 0) {
        // A turn of the event loop lets the replies so far settle; then they leave at once.
        await new Promise(setImmediate);
        flush();
      }
    }
    running = false;
  }

  port.on("message", (calls: ThreadCall<Api>[]) => {
    waiting.push(...calls);
    if (!running) void run();
  });
  port.postMessage(readyMessage);
}
