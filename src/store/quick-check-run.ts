import Database from "better-sqlite3";

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
