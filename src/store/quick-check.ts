import Database from "better-sqlite3";
import { threadEntry } from "../threads/entry.js";
import { SupervisedThread } from "../threads/supervised-thread.js";
import type { QuickCheckApi } from "./quick-check-thread.js";

const entry = threadEntry(import.meta.url, "quick-check-thread");

/** What `PRAGMA quick_check` found: nothing (ok), the problems it lists, or that the file is no database. */
export type QuickCheckResult = { ok: true } | { ok: false; problem: string };

/** Runs `PRAGMA quick_check(maxErrors)` on its own connection to the database at `path`, here and now. */
export function runQuickCheck(path: string, maxErrors: number): QuickCheckResult {
  try {
    const db = new Database(path, { fileMustExist: true });
    try {
      const rows = db.pragma(`quick_check(${maxErrors})`) as { quick_check: string }[];
      const problems = rows.map((row) => row.quick_check).filter((text) => text !== "ok");
      return problems.length === 0 ? { ok: true } : { ok: false, problem: problems.join("; ").replace(/\s+/g, " ").trim() };
    } finally {
      db.close();
    }
  } catch (error) {
    const code = (error as { code?: string }).code;
    return { ok: false, problem: code === "SQLITE_NOTADB" ? "it is not a SQLite database" : (error as Error).message };
  }
}

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
