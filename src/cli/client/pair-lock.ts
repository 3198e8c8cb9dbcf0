// One renewal of a pair at a time.
import { closeSync, constants, existsSync, openSync, writeSync } from "node:fs";
import { ClientError } from "./errors.js";
import { readIfExists, removeIfExists, type PairPaths } from "./pair-on-disk.js";

export const lockPath = (paths: PairPaths): string => `${paths.cert}.certwright-lock`;

/**
 * Takes `x.pem.certwright-lock` so that two renewals of one pair (a timer and a daemon, say)
 * cannot interleave their renames. A lock whose process is gone is taken over. Returns the release.
 */
export function lockPair(paths: PairPaths): () => void {
  const path = lockPath(paths);
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw new ClientError(`cannot create the lock ${path}: ${(error as Error).message}`);
      const holder = Number((readIfExists(path) ?? "").trim());
      if (Number.isInteger(holder) && holder > 0 && isRunning(holder)) {
        throw new ClientError(`another renewal (process ${holder}) is working on ${paths.cert}; if it is gone, remove ${path}`);
      }
      removeIfExists(path);
      continue;
    }
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    const release = () => {
      if (existsSync(path) && (readIfExists(path) ?? "").trim() === String(process.pid)) removeIfExists(path);
      process.off("exit", release);
    };
    process.on("exit", release);
    return release;
  }
  throw new ClientError(`cannot take the lock ${path}; remove it if no renewal is running`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
