// A certificate and its key in two files, replaced together: through links swapped with one rename
// when the files share a directory (pair-generations.ts), through a journal when they do not
// (pair-journal.ts). Either way a crash at any point leaves the old pair or the new one, and
// recoverPair, run before the next renewal, finishes or tidies up what it left.
import type { CommitStep } from "./commit-steps.js";
import { commitGeneration, pairLayout, recoverGenerations } from "./pair-generations.js";
import { commitJournal, recoverJournal } from "./pair-journal.js";
import type { PairPaths, Recovery } from "./pair-on-disk.js";

/** Looks at the pair on disk and finishes or cleans up an interrupted renewal. */
export function recoverPair(paths: PairPaths): Recovery {
  const layout = pairLayout(paths);
  return layout === undefined ? recoverJournal(paths) : recoverGenerations(layout, paths);
}

/**
 * Replaces the pair with `certPem` and `keyPem` (key mode 0600; the certificate keeps its mode),
 * synchronously: as a new generation and one rename of `current` when the files share a
 * directory (converting plain files to links first), with the journal otherwise. `onStep` is
 * called at each step of `commitSteps` the commit passes; one that throws stops the commit there.
 */
export function commitPair(paths: PairPaths, certPem: string, keyPem: string, onStep: (step: CommitStep) => void = () => {}): void {
  const layout = pairLayout(paths);
  if (layout === undefined) commitJournal(paths, certPem, keyPem, onStep);
  else commitGeneration(layout, paths, certPem, keyPem, onStep);
}
