import { pino } from "pino";

/** How long the stop waits for the log's last lines to be taken by stdout (a reader that stopped reading must not hold the exit). */
const logFlushMs = 1_000;

export interface LogStream {
  stream: ReturnType<typeof pino.destination>;
  /** Writes out the buffered lines, waiting at most a second. */
  close(): Promise<void>;
}

/**
 * Buffered, asynchronous writes to stdout: a synchronous write per request line costs the HTTP
 * thread more than the request itself. The database, not the log, is the record.
 */
export function openLogStream(): LogStream {
  const stream = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  // A quiet service still shows its lines within a second.
  const flusher = setInterval(() => stream.flush(), 1000).unref();
  return {
    stream,
    close() {
      clearInterval(flusher);
      return flushLog(stream, logFlushMs);
    },
  };
}

/**
 * Writes out the log's buffered lines, waiting at most `ms`. Never sonic-boom's flushSync here: it
 * retries a write that failed with EPIPE (stdout a pipe whose reader is gone) forever, and so did
 * pino's own flush at exit, which a destroyed stream skips. An EPIPE found by this asynchronous
 * write makes pino drop further lines instead.
 */
function flushLog(stream: ReturnType<typeof pino.destination>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stream.destroy();
      resolve();
    }, ms);
    stream.flush(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
