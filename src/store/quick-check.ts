import { threadEntry } from "../threads/entry.js";
import { SupervisedThread } from "../threads/supervised-thread.js";
import type { QuickCheckResult } from "./quick-check-run.js";
import type { QuickCheckApi } from "./quick-check-thread.js";

const entry = threadEntry(import.meta.url, "quick-check-thread");

export interface QuickCheck {
  /** Settles when the check is done, however long it takes; never rejects. */
  done: Promise<QuickCheckResult>;
  /** The result if the check ended within `waitMs`; undefined if it is still running. */
  within(waitMs: number): Promise<QuickCheckResult | undefined>;
}

/**
 * Starts `PRAGMA quick_check(maxErrors)` on the database at `path` in a thread of its own, at low
 * priority. It reads every page (3 s for a 1.5 GB database of a million certificates with the file
 * cached, 34 s from a cold disk), so the caller waits for it a bounded time; the thread does not
 * keep the process alive. Default `maxErrors` is 3.
 */
export function startQuickCheck(path: string, maxErrors = 3): QuickCheck {
  const thread = SupervisedThread.lazy<QuickCheckApi>({ name: "the quick_check thread", entry, holdsProcess: false });
  const done = thread
    .call("runQuickCheck", path, maxErrors)
    .catch((error: Error): QuickCheckResult => ({ ok: false, problem: `the check itself failed: ${error.message}` }))
    .finally(() => void thread.close());
  return {
    done,
    within(waitMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), waitMs);
      });
      return Promise.race([done, timeout]).finally(() => clearTimeout(timer));
    },
  };
}
