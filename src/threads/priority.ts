import { readdirSync, readlinkSync, stat } from "node:fs";
import { setPriority } from "node:os";

/**
 * Lowers the calling thread's scheduling priority to `nice` (Linux: a thread's id, from
 * /proc/thread-self, can be given to setpriority). Elsewhere the thread keeps the process's priority.
 */
export function lowerThreadPriority(nice: number): void {
  try {
    renice(Number(readlinkSync("/proc/thread-self").split("/").pop()), nice);
  } catch {
    // Not Linux: nothing is lost but the ordering.
  }
}

/** Sets thread `tid`'s nice value; false when not allowed (nothing is lost but the ordering). */
function renice(tid: number, nice: number): boolean {
  try {
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts libuv's thread pool (`size` threads unless UV_THREADPOOL_SIZE says otherwise) and lowers
 * its threads' scheduling priority to `nice`; returns how many it lowered: 0 when the pool was
 * already running or this is not Linux, and the pool keeps the process's priority.
 *
 * libuv makes the pool on its first job, all its threads before that job's call returns (it waits
 * for each to start), so the threads that appear across one asynchronous stat are the pool's and
 * no other's. In the service the pool makes RSA keys (KeyPool) and runs the log's writes and DNS
 * lookups; signing, hashing and the database run synchronously on threads of their own.
 */
export function lowerWorkPoolPriority(nice: number, size: number): number {
  process.env.UV_THREADPOOL_SIZE ??= String(size);
  let before: Set<string>;
  try {
    before = new Set(readdirSync("/proc/self/task"));
  } catch {
    return 0;
  }
  stat(".", () => {});
  const pool = readdirSync("/proc/self/task").filter((tid) => !before.has(tid));
  return pool.every((tid) => renice(Number(tid), nice)) ? pool.length : 0;
}
