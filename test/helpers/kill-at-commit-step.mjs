// Preloaded (node --import) into a `certwright renew` that a crash test wants killed at one step
// of the pair's commit (src/cli/client/commit-steps.ts), named in KILL_AT_COMMIT_STEP. The product
// has no hook for it: each step is found by the file-system call that follows it (killed before
// the call) or ends it (killed after), and the first call that matches counts. Plain JavaScript:
// the client runs without tap's TypeScript loader.
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";

/** symlinkSync(target, path) and renameSync(from, to), as pair-generations.ts and pair-journal.ts make them. */
const steps = {
  // the links (one directory); "generation-written" and later: a pair that is links already
  copied: { call: "symlinkSync", when: "before", matches: (target) => target.endsWith("-current/key.pem") },
  "key-linked": { call: "symlinkSync", when: "before", matches: (target) => target.endsWith("-current/cert.pem") },
  "generation-written": { call: "symlinkSync", when: "before", matches: (_target, path) => path.endsWith("-current.tmp") },
  "link-created": { call: "renameSync", when: "before", matches: (from) => from.endsWith("-current.tmp") },
  swapped: { call: "renameSync", when: "after", matches: (from) => from.endsWith("-current.tmp") },
  // the journal (two directories)
  staged: { call: "renameSync", when: "before", matches: (from) => from.endsWith(".certwright-new") },
  "key-renamed": { call: "renameSync", when: "after", matches: (from) => from.endsWith(".certwright-new") },
};

const name = process.env.KILL_AT_COMMIT_STEP;
const step = steps[name];
if (!step) throw new Error(`KILL_AT_COMMIT_STEP must be one of ${Object.keys(steps).join(", ")}, not ${name}`);
const original = fs[step.call];
const die = () => process.kill(process.pid, "SIGKILL");
fs[step.call] = function (...args) {
  const matches = step.matches(String(args[0]), String(args[1]));
  if (matches && step.when === "before") die();
  const result = original.apply(this, args);
  if (matches) die();
  return result;
};
// The product imports { renameSync, symlinkSync } from "node:fs": make those bindings the wrapper.
syncBuiltinESMExports();
