// The steps of a pair's commit, in order, as the `onStep` observer of commitPair sees them.

export const commitSteps = [
  // the links (one directory)
  /** First renewal of plain files: the pair in place copied into a generation, `current` pointing at it; the files untouched. */
  "copied",
  /** First renewal: the key is a link, the certificate still a plain file (both the old pair). */
  "key-linked",
  /** The new generation is written and fsynced; nothing points at it. */
  "generation-written",
  /** The temporary link to the new generation exists, not yet renamed over `current`. */
  "link-created",
  /** `current` names the new generation; the older ones are not removed yet. */
  "swapped",
  // the journal (two directories)
  /** Both new files are staged beside the old ones. */
  "staged",
  /** The new key is renamed in, the new certificate still staged. */
  "key-renamed",
] as const;
export type CommitStep = (typeof commitSteps)[number];

/**
 * What an `onStep` that throws becomes inside a commit: it stops the commit where it is, as a crash
 * would, so nothing is cleaned up on its way out and what is on disk is what a SIGKILL leaves.
 */
export class Stopped extends Error {
  constructor(readonly original: unknown) {
    super("stopped");
  }
}

export const stoppable =
  (onStep: (step: CommitStep) => void) =>
  (step: CommitStep): void => {
    try {
      onStep(step);
    } catch (error) {
      throw new Stopped(error);
    }
  };
