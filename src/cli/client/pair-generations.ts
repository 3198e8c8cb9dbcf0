// Replacing a pair whose two files share a directory. Two renames are not atomic together, so the
// files are not replaced at all: they become symbolic links through one more link, Kubernetes'
// AtomicWriter layout (the `..data` link of projected volumes), and a renewal swaps that one link:
//
//   server.pem     -> .certwright/server.pem-current/cert.pem
//   server-key.pem -> .certwright/server.pem-current/key.pem
//   .certwright/                     (0711: others may pass through, not list)
//     server.pem-current -> server.pem-3
//     server.pem-3/cert.pem, key.pem (the pair in place; directory 0700, plus search for whom the certificate's mode lets read it; key 0600)
//     server.pem-2/                  (the previous pair, kept until the next renewal: a rollback is one link away)
//
// The links are relative, so the directory can move. A renewal writes the next generation
// completely (files and directory fsynced), makes a temporary link to it, renames that over
// `server.pem-current` (rename(2) is atomic), fsyncs `.certwright`, and removes the generations
// older than the previous one. Whatever follows the links sees the old pair or the new one at every
// instant; a SIGKILL or power loss before the rename leaves the old pair and an unreferenced
// generation, which the next run removes.
//
// The first renewal of plain files converts them, without a mixed moment either: the pair in place
// is copied into a generation and `current` pointed at it; the key, then the certificate, is
// replaced by its link with one rename each (each link resolves to the same bytes as the file it
// replaces); only then is `current` swapped to the new pair. A run that finds one link and one plain
// file (a conversion cut short) finishes linking; one that finds two plain files and a `.certwright`
// entry for them (a conversion cut short earlier, or files put back by hand) removes the entry.
import { existsSync, readdirSync, realpathSync, rmdirSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { Stopped, stoppable, type CommitStep } from "./commit-steps.js";
import { ClientError } from "./errors.js";
import { existingMode, fsyncDirectory, makeDirectory, replaceWithSymlink, writeDurable } from "./files.js";
import { recoverJournal } from "./pair-journal.js";
import { keyMatchesCertificate, linkText, mismatchReason, readIfExists, removeIfExists, stagedPath, type PairPaths, type Recovery } from "./pair-on-disk.js";

/** Where a link to put at `path` is made before it is renamed over `path`. */
export const temporaryLinkPath = (path: string): string => join(dirname(path), `.${basename(path)}.certwright-link`);
/** The directory, next to the files, that holds the generations. */
export const storeName = ".certwright";

export interface Layout {
  /** The directory of both files. */
  dir: string;
  /** `dir/.certwright` */
  store: string;
  /** The certificate's file name: the prefix of this pair's entries in the store. */
  name: string;
  /** `dir/.certwright/<name>-current` */
  current: string;
  /** What the links at --cert and --key hold. */
  certLink: string;
  keyLink: string;
}

const realDirectory = (dir: string): string => {
  try {
    return realpathSync(dir);
  } catch {
    return resolve(dir);
  }
};

/** The layout of a pair whose two files share a directory; undefined when they do not (the journal is used). */
export function pairLayout(paths: PairPaths): Layout | undefined {
  const dir = dirname(paths.cert);
  if (realDirectory(dir) !== realDirectory(dirname(paths.key))) return undefined;
  const name = basename(paths.cert);
  const store = join(dir, storeName);
  return {
    dir,
    store,
    name,
    current: join(store, `${name}-current`),
    certLink: `${storeName}/${name}-current/cert.pem`,
    keyLink: `${storeName}/${name}-current/key.pem`,
  };
}

/** True when the pair is in place as links (--cert and --key both links to `<name>-current`). */
export function isLinked(paths: PairPaths): boolean {
  const layout = pairLayout(paths);
  return layout !== undefined && linkText(paths.cert) === layout.certLink && linkText(paths.key) === layout.keyLink;
}

const generationName = (layout: Layout, n: number) => `${layout.name}-${n}`;

function generationNumber(layout: Layout, entry: string): number | undefined {
  const prefix = `${layout.name}-`;
  if (!entry.startsWith(prefix)) return undefined;
  const rest = entry.slice(prefix.length);
  return /^[0-9]{1,15}$/.test(rest) ? Number(rest) : undefined;
}

/** This pair's generations in the store, oldest first. */
function generations(layout: Layout): number[] {
  let entries: string[];
  try {
    entries = readdirSync(layout.store);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new ClientError(`cannot read ${layout.store}: ${(error as Error).message}`);
  }
  return entries
    .map((entry) => generationNumber(layout, entry))
    .filter((n): n is number => n !== undefined)
    .sort((a, b) => a - b);
}

/** The generation `current` names; undefined when there is no such link, or it names something else. */
function currentGeneration(layout: Layout): number | undefined {
  const text = linkText(layout.current);
  return text === undefined ? undefined : generationNumber(layout, text);
}

function nextGeneration(layout: Layout): number {
  return Math.max(0, currentGeneration(layout) ?? 0, ...generations(layout)) + 1;
}

/** The generation directory's mode: 0700, plus search for the group and others when the certificate's mode lets them read it. */
const generationMode = (certMode: number) => 0o700 | (certMode & 0o040 ? 0o010 : 0) | (certMode & 0o004 ? 0o001 : 0);

/** True when generation `n` holds exactly this pair. */
function generationHolds(layout: Layout, n: number, certPem: string, keyPem: string): boolean {
  const dir = join(layout.store, generationName(layout, n));
  return readIfExists(join(dir, "cert.pem")) === certPem && readIfExists(join(dir, "key.pem")) === keyPem;
}

/** Makes `.certwright` (0711) when missing. */
function ensureStore(layout: Layout): void {
  if (existsSync(layout.store)) return;
  try {
    makeDirectory(layout.store, 0o711);
  } catch (error) {
    // Another pair's renewal in the same directory made it a moment ago.
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  fsyncDirectory(layout.dir);
}

/** Writes generation `n` completely and durably: key 0600, certificate `certMode`, owners kept from the files in place. */
function writeGeneration(layout: Layout, paths: PairPaths, n: number, certPem: string, keyPem: string, certMode: number): void {
  const dir = join(layout.store, generationName(layout, n));
  try {
    makeDirectory(dir, generationMode(certMode), paths.key);
    writeDurable(join(dir, "key.pem"), keyPem, { mode: 0o600, ownerFrom: paths.key });
    writeDurable(join(dir, "cert.pem"), certPem, { mode: certMode, ownerFrom: paths.cert });
    fsyncDirectory(dir);
    fsyncDirectory(layout.store);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Renames a fresh link to generation `n` over `current` (atomic), and fsyncs the store. */
function pointCurrentAt(layout: Layout, n: number, onLinkCreated: () => void = () => {}): void {
  replaceWithSymlink(layout.current, generationName(layout, n), `${layout.current}.tmp`, onLinkCreated);
  fsyncDirectory(layout.store);
}

/**
 * Makes --key and --cert links to `current`, which is first made to hold `certPem`/`keyPem`, the
 * pair the files show now (or, when they show no pair, the new one): every rename then replaces a
 * file by a link to the same bytes.
 */
function linkFiles(layout: Layout, paths: PairPaths, certPem: string, keyPem: string, certMode: number, onStep: (step: CommitStep) => void): void {
  ensureStore(layout);
  const current = currentGeneration(layout);
  if (current === undefined || !generationHolds(layout, current, certPem, keyPem)) {
    const n = nextGeneration(layout);
    writeGeneration(layout, paths, n, certPem, keyPem, certMode);
    pointCurrentAt(layout, n);
  }
  onStep("copied");
  for (const [path, link] of [
    [paths.key, layout.keyLink],
    [paths.cert, layout.certLink],
  ] as const) {
    if (linkText(path) === link) continue;
    replaceWithSymlink(path, link, temporaryLinkPath(path));
    fsyncDirectory(layout.dir);
    if (path === paths.key) onStep("key-linked");
  }
}

/** Removes the generations other than `current` and the one before it. True when one newer than `current` (an unfinished renewal's) was among them. */
function removeOldGenerations(layout: Layout): boolean {
  const current = currentGeneration(layout);
  if (current === undefined || !existsSync(join(layout.store, generationName(layout, current)))) return false;
  const all = generations(layout);
  const previous = all.filter((n) => n < current).pop();
  let newer = false;
  for (const n of all) {
    if (n === current || n === previous) continue;
    if (n > current) newer = true;
    rmSync(join(layout.store, generationName(layout, n)), { recursive: true, force: true });
  }
  fsyncDirectory(layout.store);
  return newer;
}

/** Removes every store entry of this pair (its files are plain files again). True when there was one. */
function removeLayout(layout: Layout): boolean {
  let removed = removeIfExists(layout.current);
  removed = removeIfExists(`${layout.current}.tmp`) || removed;
  for (const n of generations(layout)) {
    rmSync(join(layout.store, generationName(layout, n)), { recursive: true, force: true });
    removed = true;
  }
  if (removed) {
    try {
      rmdirSync(layout.store);
      fsyncDirectory(layout.dir);
    } catch {
      // other pairs' entries are in it
      fsyncDirectory(layout.store);
    }
  }
  return removed;
}

// ---- recovery and commit ---------------------------------------------------------------------

/** Looks at the linked pair on disk and finishes or cleans up an interrupted renewal; see the top of this file. */
export function recoverGenerations(layout: Layout, paths: PairPaths): Recovery {
  try {
    let removed = [removeIfExists(temporaryLinkPath(paths.cert)), removeIfExists(temporaryLinkPath(paths.key))].some(Boolean);
    const certLinked = linkText(paths.cert) === layout.certLink;
    const keyLinked = linkText(paths.key) === layout.keyLink;
    if (!certLinked && !keyLinked) {
      // Plain files: they are the pair in place, whatever the store holds for them.
      const journal = recoverJournal(paths);
      removed = removeLayout(layout) || removed;
      return journal.state === "consistent" ? { ...journal, removedStaged: journal.removedStaged || removed } : journal;
    }
    removed = removeIfExists(`${layout.current}.tmp`) || removed;
    removed = removeOldGenerations(layout) || removed;
    const cert = readIfExists(paths.cert);
    const key = readIfExists(paths.key);
    if (!keyMatchesCertificate(cert, key)) return { state: "mismatched", reason: mismatchReason(paths, cert, key) };
    removed = [removeIfExists(stagedPath(paths.cert)), removeIfExists(stagedPath(paths.key))].some(Boolean) || removed;
    const finishedLinking = !(certLinked && keyLinked);
    if (finishedLinking) linkFiles(layout, paths, cert!, key!, existingMode(paths.cert, 0o644), () => {});
    return { state: "consistent", removedStaged: removed, finishedLinking };
  } catch (error) {
    if (error instanceof ClientError) throw error;
    throw new ClientError(`cannot tidy up after an interrupted renewal of ${paths.cert}: ${(error as Error).message}`);
  }
}

/**
 * Replaces the pair with `certPem` and `keyPem` (key mode 0600; the certificate keeps its mode) as
 * a new generation and one rename of `current`, converting plain files to links first.
 */
export function commitGeneration(layout: Layout, paths: PairPaths, certPem: string, keyPem: string, hook: (step: CommitStep) => void): void {
  const onStep = stoppable(hook);
  const certMode = existingMode(paths.cert, 0o644);
  let written: number | undefined;
  let inPlace = "the old pair is in place";
  try {
    if (linkText(paths.cert) !== layout.certLink || linkText(paths.key) !== layout.keyLink) {
      const cert = readIfExists(paths.cert);
      const key = readIfExists(paths.key);
      if (!keyMatchesCertificate(cert, key)) {
        // No pair to keep in view (--force on a mismatched or missing pair): link straight to the new one.
        inPlace = "the files may be half replaced; run renew --force again";
        linkFiles(layout, paths, certPem, keyPem, certMode, onStep);
        removeOldGenerations(layout);
        return;
      }
      linkFiles(layout, paths, cert!, key!, certMode, onStep);
    }
    written = nextGeneration(layout);
    writeGeneration(layout, paths, written, certPem, keyPem, certMode);
    onStep("generation-written");
    pointCurrentAt(layout, written, () => onStep("link-created"));
  } catch (error) {
    if (error instanceof Stopped) throw error.original;
    try {
      if (written !== undefined && currentGeneration(layout) !== written) rmSync(join(layout.store, generationName(layout, written)), { recursive: true, force: true });
    } catch {
      // the next run removes it
    }
    const what = error instanceof ClientError ? error.message : `cannot write the new certificate and key next to ${paths.cert}: ${(error as Error).message}`;
    throw new ClientError(`${what}; ${inPlace}`);
  }
  hook("swapped");
  try {
    removeOldGenerations(layout);
  } catch {
    // The new pair is in place; the next run removes what is left.
  }
}
