import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The module a worker thread runs, and whether it is the built service's (see `threadEntry`). */
export interface ThreadEntry {
  url: URL;
  built: boolean;
}

/**
 * The module a worker thread runs: the compiled `NAME.js` next to `base` in the built service, or
 * `NAME.ts` when tests run the TypeScript sources (`built` says which).
 */
export function threadEntry(base: string, name: string): ThreadEntry {
  const compiled = new URL(`./${name}.js`, base);
  return existsSync(fileURLToPath(compiled)) ? { url: compiled, built: true } : { url: new URL(`./${name}.ts`, base), built: false };
}
