// The certificate and key files of a pair as they are on disk: read, compared, removed. Shared by
// the two ways a pair is replaced (pair-generations.ts, pair-journal.ts).
import { createPublicKey, X509Certificate } from "node:crypto";
import { readFileSync, readlinkSync, unlinkSync } from "node:fs";
import { ClientError } from "./errors.js";

export interface PairPaths {
  cert: string;
  key: string;
}

/** Where the journal stages the new file before renaming it over `path`. */
export const stagedPath = (path: string): string => `${path}.certwright-new`;

export type Recovery =
  /**
   * Key and certificate match. `removedStaged`: leftovers of a renewal stopped before its swap were
   * removed. `finishedLinking`: a conversion to links stopped half-way was finished (same pair).
   */
  | { state: "consistent"; removedStaged: boolean; finishedLinking: boolean }
  /** An interrupted renewal was finished (journal layout): the new pair is now in place. */
  | { state: "completed" }
  /** Key and certificate do not match, and no staged file explains it. */
  | { state: "mismatched"; reason: string };

export function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ClientError(`cannot read ${path}: ${(error as Error).message}`);
  }
}

export function removeIfExists(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new ClientError(`cannot remove ${path}: ${(error as Error).message}`);
  }
}

/** What the symbolic link at `path` holds; undefined when there is nothing there or it is not a link. */
export function linkText(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EINVAL") return undefined;
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

/** Why the two files are not a pair, in words. */
export function mismatchReason(paths: PairPaths, cert: string | undefined, key: string | undefined): string {
  const missing = (path: string) => {
    const link = linkText(path);
    return link === undefined ? `${path} does not exist` : `${path} is a link to ${link}, which does not exist`;
  };
  if (cert === undefined) return missing(paths.cert);
  if (key === undefined) return missing(paths.key);
  return `${paths.key} is not the private key of ${paths.cert}`;
}
