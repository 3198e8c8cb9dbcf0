// A certificate and its key in two files, replaced together.
//
// Two renames are not atomic together, so the new pair is first staged completely next to the
// files (`x.pem.certwright-new`, `x-key.pem.certwright-new`, each written and fsynced, and the
// directories fsynced), and only then renamed into place, key first, then certificate, in one
// synchronous step that no signal handler can split. The staged files are the journal: a run
// that finds the key and the certificate not matching looks for the staged half that matches and
// finishes the swap (roll forward) before anything else, so an interruption at any point ends in
// the old pair or the new one:
//   - before both staged files are durable: the old pair is in place; the next run removes the leftovers;
//   - between the two renames (SIGKILL, power loss): new key, old certificate, and the staged new
//     certificate beside them; the next run renames it into place and reports the renewal;
//   - after the second rename: the new pair.
// SIGTERM and SIGINT cannot land between the renames: their handlers run between event-loop turns.
import { createPublicKey, X509Certificate } from "node:crypto";
import { closeSync, constants, existsSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { ClientError } from "./errors.js";
import { existingMode, fsyncDirectory, writeDurable } from "./files.js";

export interface PairPaths {
  cert: string;
  key: string;
}

export const stagedPath = (path: string): string => `${path}.certwright-new`;
export const lockPath = (paths: PairPaths): string => `${paths.cert}.certwright-lock`;

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ClientError(`cannot read ${path}: ${(error as Error).message}`);
  }
}

/** True when `keyPem` is the private key of the first certificate in `certPem`; false for anything unreadable. */
export function keyMatchesCertificate(certPem: string | undefined, keyPem: string | undefined): boolean {
  if (certPem === undefined || keyPem === undefined) return false;
  try {
    const certificateKey = new X509Certificate(certPem).publicKey.export({ format: "der", type: "spki" });
    const privateKey = createPublicKey(keyPem).export({ format: "der", type: "spki" });
    return certificateKey.equals(privateKey);
  } catch {
    return false;
  }
}

export type Recovery =
  /** Key and certificate match; stale staged files of an unfinished run were removed. */
  | { state: "consistent"; removedStaged: boolean }
  /** An interrupted renewal was finished: the new pair is now in place. */
  | { state: "completed" }
  /** Key and certificate do not match, and no staged file explains it. */
  | { state: "mismatched"; reason: string };

function removeIfExists(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new ClientError(`cannot remove ${path}: ${(error as Error).message}`);
  }
}

function syncDirectories(paths: PairPaths): void {
  const dirs = new Set([dirname(paths.cert), dirname(paths.key)]);
  for (const dir of dirs) fsyncDirectory(dir);
}

/** Looks at the pair on disk and finishes an interrupted swap; see the top of this file. */
export function recoverPair(paths: PairPaths): Recovery {
  const cert = readIfExists(paths.cert);
  const key = readIfExists(paths.key);
  const stagedCert = readIfExists(stagedPath(paths.cert));
  const stagedKey = readIfExists(stagedPath(paths.key));
  if (keyMatchesCertificate(cert, key)) {
    const removed = [removeIfExists(stagedPath(paths.cert)), removeIfExists(stagedPath(paths.key))].some(Boolean);
    return { state: "consistent", removedStaged: removed };
  }
  if (stagedCert !== undefined && keyMatchesCertificate(stagedCert, key)) {
    renameSync(stagedPath(paths.cert), paths.cert);
    removeIfExists(stagedPath(paths.key));
    syncDirectories(paths);
    return { state: "completed" };
  }
  if (stagedKey !== undefined && keyMatchesCertificate(cert, stagedKey)) {
    renameSync(stagedPath(paths.key), paths.key);
    removeIfExists(stagedPath(paths.cert));
    syncDirectories(paths);
    return { state: "completed" };
  }
  const reason =
    cert === undefined
      ? `${paths.cert} does not exist`
      : key === undefined
        ? `${paths.key} does not exist`
        : `${paths.key} is not the private key of ${paths.cert}`;
  return { state: "mismatched", reason };
}

/** Points in a commit where a test can interrupt it, to check what an interruption leaves. */
export type CommitStep = "staged" | "key-renamed";

/**
 * Replaces the pair with `certPem` and `keyPem` (key mode 0600; the certificate keeps its mode),
 * synchronously: stage both durably, rename key then certificate, fsync the directories.
 */
export function commitPair(paths: PairPaths, certPem: string, keyPem: string, onStep: (step: CommitStep) => void = () => {}): void {
  const stagedKey = stagedPath(paths.key);
  const stagedCert = stagedPath(paths.cert);
  try {
    removeIfExists(stagedKey);
    removeIfExists(stagedCert);
    writeDurable(stagedKey, keyPem, { mode: 0o600, ownerFrom: paths.key });
    writeDurable(stagedCert, certPem, { mode: existingMode(paths.cert, 0o644), ownerFrom: paths.cert });
    syncDirectories(paths);
  } catch (error) {
    removeIfExists(stagedKey);
    removeIfExists(stagedCert);
    if (error instanceof ClientError) throw error;
    throw new ClientError(`cannot write the new certificate and key next to ${paths.cert}: ${(error as Error).message}; the old pair is unchanged`);
  }
  onStep("staged");
  renameSync(stagedKey, paths.key);
  onStep("key-renamed");
  renameSync(stagedCert, paths.cert);
  syncDirectories(paths);
}

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
