// Files the client reads and writes. Every write is atomic: a temporary file in the same
// directory, written, fsynced, renamed over the target, and the directory fsynced, so a reader
// (or a crash) sees the old file or the new one, never a part.
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, closeSync, constants, fchmodSync, fchownSync, fsyncSync, lchownSync, mkdirSync, openSync, readFileSync, renameSync, statSync, symlinkSync, unlinkSync, writeSync } from "node:fs";
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

/** The owner and group of `path` (following links), when we run as root and it exists: what a file made in its stead should get. */
function ownerToKeep(path: string | undefined): { uid: number; gid: number } | undefined {
  if (path === undefined || process.getuid?.() !== 0) return undefined;
  try {
    const { uid, gid } = statSync(path);
    return { uid, gid };
  } catch {
    // No previous file: the new one is root's, as any file root makes.
    return undefined;
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
    const owner = ownerToKeep(options.ownerFrom);
    if (owner !== undefined) fchownSync(fd, owner.uid, owner.gid);
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


/**
 * Makes the directory `path` with exactly `mode` (chmod after mkdir, whatever the umask), owned by
 * the owner of `ownerFrom` when we run as root. The caller fsyncs the parent.
 */
export function makeDirectory(path: string, mode: number, ownerFrom?: string): void {
  mkdirSync(path, { mode: 0o700 });
  chmodSync(path, mode);
  const owner = ownerToKeep(ownerFrom);
  if (owner !== undefined) chownSync(path, owner.uid, owner.gid);
}

/**
 * Replaces `path` (a file, a link, or nothing) by a symbolic link holding `target`, in one rename:
 * the link is made at `temporary` (same directory) first, then `onCreated` runs, then the rename.
 * Owned, when we run as root, by the owner of what it replaces (for fs.protected_symlinks). The
 * caller fsyncs the directory.
 */
export function replaceWithSymlink(path: string, target: string, temporary: string, onCreated: () => void = () => {}): void {
  const owner = ownerToKeep(path);
  try {
    unlinkSync(temporary);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  symlinkSync(target, temporary);
  try {
    if (owner !== undefined) lchownSync(temporary, owner.uid, owner.gid);
  } catch (error) {
    unlinkSync(temporary);
    throw error;
  }
  onCreated();
  try {
    renameSync(temporary, path);
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {
      // already gone
    }
    throw error;
  }
}
