import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The module a worker thread runs, and whether it is the built service's (see `threadEntry`). */
export interface ThreadEntry {
  url: URL;
  built: boolean;
}

/**
 * The module a worker thread runs: the bundled `NAME.cjs` beside the bundle's entry (dist/service),
 * the compiled `NAME.js` next to `base` in tsc's output, or `NAME.ts` when tests run the TypeScript
 * sources (`built` says which but the last).
 */
export function threadEntry(base: string, name: string): ThreadEntry {
  if (base.endsWith(".cjs")) return { url: new URL(`./${name}.cjs`, base), built: true };
  const compiled = new URL(`./${name}.js`, base);
  return existsSync(fileURLToPath(compiled)) ? { url: compiled, built: true } : { url: new URL(`./${name}.ts`, base), built: false };
}
