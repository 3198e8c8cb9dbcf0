// Replacing a pair whose key and certificate are in different directories, where links would
// cross them: the new pair is staged completely next to the files (`x.pem.certwright-new`,
// `x-key.pem.certwright-new`, written, fsynced, directories fsynced) and renamed into place, key
// first, then certificate, in one synchronous step that no signal handler can split. A run that
// finds the key and the certificate not matching looks for the staged half that matches and
// finishes the swap (roll forward) before anything else:
//   - before both staged files are durable: the old pair is in place; the next run removes the leftovers;
//   - between the two renames (SIGKILL, power loss): new key, old certificate, and the staged new
//     certificate beside them; the next run renames it into place and reports the renewal;
//   - after the second rename: the new pair.
// Plain files in one directory with staged files beside them (left by a version before the links)
// are recovered the same way.
import { dirname } from "node:path";
import { renameSync } from "node:fs";
import type { CommitStep } from "./commit-steps.js";
import { ClientError } from "./errors.js";
import { existingMode, fsyncDirectory, writeDurable } from "./files.js";
import { keyMatchesCertificate, mismatchReason, readIfExists, removeIfExists, stagedPath, type PairPaths, type Recovery } from "./pair-on-disk.js";

function syncDirectories(paths: PairPaths): void {
  const dirs = new Set([dirname(paths.cert), dirname(paths.key)]);
  for (const dir of dirs) fsyncDirectory(dir);
}

/** Finishes a swap stopped between its two renames, or removes what a swap stopped earlier staged. */
export function recoverJournal(paths: PairPaths): Recovery {
  const cert = readIfExists(paths.cert);
  const key = readIfExists(paths.key);
  const stagedCert = readIfExists(stagedPath(paths.cert));
  const stagedKey = readIfExists(stagedPath(paths.key));
  if (keyMatchesCertificate(cert, key)) {
    const removed = [removeIfExists(stagedPath(paths.cert)), removeIfExists(stagedPath(paths.key))].some(Boolean);
    return { state: "consistent", removedStaged: removed, finishedLinking: false };
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
  return { state: "mismatched", reason: mismatchReason(paths, cert, key) };
}

/** Stage both durably, rename key then certificate, fsync the directories. */
export function commitJournal(paths: PairPaths, certPem: string, keyPem: string, onStep: (step: CommitStep) => void): void {
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
