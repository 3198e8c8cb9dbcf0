import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";

/**
 * Lowers the calling thread's scheduling priority to `nice` (Linux: a thread's id, from
 * /proc/thread-self, can be given to setpriority). Elsewhere the thread keeps the process's priority.
 */
export function lowerThreadPriority(nice: number): void {
  try {
    setPriority(Number(readlinkSync("/proc/thread-self").split("/").pop()), nice);
  } catch {
    // Not Linux, or not allowed: nothing is lost but the ordering.
  }
}
