import { statSync } from "node:fs";
import { basename } from "node:path";

/**
 * Which files a database's open connections use: the device and inode of the database file, its
 * WAL and its shared-memory index, as they were when it was opened. Plain data, so it can be handed
 * to a thread.
 */
export interface DatabaseFiles {
  path: string;
  /** `dev:ino` of each file by its suffix ("" for the database itself, "-wal", "-shm"); null: absent then. */
  identities: Record<string, string | null>;
}

const suffixes = ["", "-wal", "-shm"];

function identityOf(path: string): string | null {
  const stats = statSync(path, { bigint: true, throwIfNoEntry: false });
  return stats ? `${stats.dev}:${stats.ino}` : null;
}

/** Notes the files of the database at `path`; call it right after opening it. */
export function captureDatabaseFiles(path: string): DatabaseFiles {
  return { path, identities: Object.fromEntries(suffixes.map((suffix) => [suffix, identityOf(`${path}${suffix}`)])) };
}

/**
 * Undefined while the paths still name the files that were opened; otherwise what happened, for the
 * log and readiness ("certs.db-wal was deleted"). SQLite keeps writing to a file that was deleted or
 * replaced under it, and its commits succeed, but what it writes there is gone at the next start.
 * Three stat calls: cheap enough for every commit.
 */
export function databaseFilesChange(files: DatabaseFiles): string | undefined {
  for (const suffix of suffixes) {
    const expected = files.identities[suffix];
    if (expected === null || expected === undefined) continue;
    const now = identityOf(`${files.path}${suffix}`);
    if (now === expected) continue;
    const name = `${basename(files.path)}${suffix}`;
    return now === null ? `${name} was deleted while the service had it open` : `${name} was replaced by another file while the service had it open`;
  }
  return undefined;
}

/** Whether the database file itself is still the one opened (only its WAL or index changed, if anything). */
export function databaseFileIntact(files: DatabaseFiles): boolean {
  const expected = files.identities[""];
  return expected === null || expected === undefined || identityOf(files.path) === expected;
}
