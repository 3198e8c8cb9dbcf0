// Files the client reads and writes. Every write is atomic: a temporary file in the same
// directory, written, fsynced, renamed over the target, and the directory fsynced, so a reader
// (or a crash) sees the old file or the new one, never a part.
import { randomBytes } from "node:crypto";
import { closeSync, constants, fchmodSync, fchownSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { ClientError } from "./errors.js";

/** Reads a file, or stdin for "-"; `what` names it in errors ("CSR JSON", "--cert"). */
export async function readInput(path: string, what: string): Promise<string> {
  if (path === "-") {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  }
  return readText(path, what);
}

export function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new ClientError(`${what}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message}`);
  }
}

/** Fsyncs a directory, so that the renames and creations in it survive a power loss. */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface WriteOptions {
  /** Applied with fchmod, whatever the umask: 0o600 for private keys. Otherwise the umask applies to 0o644 (as cfssljson's files). */
  mode?: number;
  /** Take the owner and group of this file when it exists and we run as root (a key renewed for a service user stays theirs). */
  ownerFrom?: string;
}

/**
 * Writes `content` to `path` completely and durably (write, fsync, close), under a name no other
 * writer uses. The caller renames it into place.
 */
export function writeDurable(path: string, content: string, options: WriteOptions = {}): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, options.mode ?? 0o644);
  try {
    if (options.mode !== undefined) fchmodSync(fd, options.mode);
    if (options.ownerFrom !== undefined && process.getuid?.() === 0) {
      try {
        const owner = statSync(options.ownerFrom);
        fchownSync(fd, owner.uid, owner.gid);
      } catch {
        // No previous file: the new one is root's, as any file root makes.
      }
    }
    const bytes = Buffer.from(content, "utf8");
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The mode an existing file has, to keep it when the file is replaced; `fallback` when there is none. */
export function existingMode(path: string, fallback: number): number {
  try {
    return statSync(path).mode & 0o777;
  } catch {
    return fallback;
  }
}

/** Writes `path` atomically: temporary file, fsync, rename, fsync of the directory. */
export function writeFileAtomic(path: string, content: string, options: WriteOptions = {}): void {
  const dir = dirname(path);
  const temporary = join(dir, `.${basename(path)}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
  try {
    writeDurable(temporary, content, { ownerFrom: path, ...options });
    renameSync(temporary, path);
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {
      // never made, or already renamed
    }
    throw new ClientError(`cannot write ${path}: ${(error as Error).message}`);
  }
  fsyncDirectory(dir);
}

