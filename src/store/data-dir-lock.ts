import { closeSync, openSync, readSync, truncateSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";

/** Another process holds the data directory. */
export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
  constructor(
    readonly path: string,
    /** The holder's pid as it wrote it; undefined when it could not be read. */
    readonly pid: number | undefined,
  ) {
    super(`${path} is locked by ${pid === undefined ? "another process" : `process ${pid}`}`);
  }
}

/**
 * The pid in the lock file's header: SQLite keeps `PRAGMA user_version` as 4 big-endian bytes at
 * offset 60 (the file format's documented header), readable without any SQLite lock, which the
 * holder's exclusive lock would refuse.
 */
function holderPid(path: string): number | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const header = Buffer.alloc(4);
    if (readSync(fd, header, 0, 4, 60) !== 4) return undefined;
    const pid = header.readUInt32BE(0);
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function lockFile(path: string, pid: number): Database.Database {
  const db = new Database(path, { timeout: 0 });
  try {
    db.pragma("locking_mode = EXCLUSIVE");
    // No journal file beside it: the file holds nothing but the pid, and it is started afresh if a write was cut.
    db.pragma("journal_mode = MEMORY");
    // The first write takes the exclusive lock; in this locking mode it is kept after the commit.
    db.pragma(`user_version = ${pid}`);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/**
 * One `serve` per data directory: an exclusive lock on `<dir>/lock`, held until the process ends.
 *
 * The lock is SQLite's own (a POSIX record lock, taken by a write in `locking_mode=EXCLUSIVE` and never
 * given back while the connection is open): the kernel drops it when the process dies, `kill -9`
 * included, so a crash never leaves a stale lock behind, and no new dependency is needed (Node has
 * no flock; the npm packages that emulate it with lock files and timestamps do leave stale locks).
 * The holder writes its pid into the file so a second process can name it.
 */
export class DataDirLock {
  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {}

  /** Takes the lock or throws DataDirLockedError at once (no waiting). Other failures are thrown as they are. */
  static acquire(dataDir: string, pid = process.pid): DataDirLock {
    const path = join(dataDir, "lock");
    try {
      return new DataDirLock(lockFile(path, pid), path);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "SQLITE_BUSY") throw new DataDirLockedError(path, holderPid(path));
      if (code !== "SQLITE_NOTADB" && code !== "SQLITE_CORRUPT") throw error;
    }
    // A lock file cut short (a power loss during a write, or anything else written over it). No
    // one holds it, or we would have been told SQLITE_BUSY before SQLite read it: start it afresh,
    // in place, so that every process keeps locking the same file.
    truncateSync(path, 0);
    try {
      return new DataDirLock(lockFile(path, pid), path);
    } catch (error) {
      if ((error as { code?: string }).code === "SQLITE_BUSY") throw new DataDirLockedError(path, holderPid(path));
      throw error;
    }
  }

  /** Gives the lock back (the process ending does the same). */
  release(): void {
    if (this.db.open) this.db.close();
  }
}
