// Runs one bundled entry of the service (dist/service/code/NAME.cjs) with V8's code cache.
//
// Node 22 has module.enableCompileCache() for this; Node 20, which the service supports, does not,
// and v8-compile-cache keeps only what V8 compiles when the file loads: in a bundle that is little
// more than the outer function, as every module's body is compiled on its first call. Here the
// cache is taken a second after the entry loaded, so it holds the functions the start ran (zod's,
// fastify's, the schemas'), and the next start skips compiling them: about a third of its CPU.
//
// The cache file sits beside the code. The build removes both, so a cache never outlives its code;
// V8 checks the rest (its version, its flags, the source's length) and rejects a cache that does
// not fit, which is then taken again. A read-only install runs without one.
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { setFlagsFromString } from "node:v8";
import { constants, Script } from "node:vm";

/** How long after loading the cache is taken: past the start, before a short-lived command ends. */
const takeCacheAfterMs = 1_000;

/**
 * Loads and runs dist/service/code/`name`.cjs as Node runs a CommonJS module, with `import.meta.url`
 * (which the bundle reads as `__cwMetaUrl`) the URL of `stub`, the file Node was asked to run: the
 * service finds its threads' entries, its migrations and its console relative to it.
 */
export function runBundled(name: string, stub: string): void {
  // V8 keys its code cache by its flags too: `serve` sets this one (see main.ts), so it is set
  // before anything compiles, or each start would reject the cache the one before it took.
  setFlagsFromString("--heap-growing-percent=50");
  const file = join(dirname(stub), "code", `${name}.cjs`);
  const cacheFile = `${file}.v8cache`;
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // First start: no cache yet.
  }
  // ASCII (see build.ts), so Latin-1 reads it right, and faster. The command's bundle keeps
  // main.ts's `#!` line, which is no JavaScript inside a function.
  const source = readFileSync(file, "latin1").replace(/^#!/, "//");
  const script = new Script(`(function (exports, require, module, __filename, __dirname, __cwMetaUrl) {${source}\n})`, {
    filename: file,
    cachedData,
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  if (cachedData === undefined || script.cachedDataRejected) setTimeout(() => keepCache(script, cacheFile), takeCacheAfterMs).unref();
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file), pathToFileURL(stub).href);
}

/** Writes the cache whole or not at all: several processes (and threads) may start at once. */
function keepCache(script: Script, cacheFile: string): void {
  const temporary = `${cacheFile}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  try {
    writeFileSync(temporary, script.createCachedData());
    renameSync(temporary, cacheFile);
  } catch {
    // A read-only install: every start compiles, as without a bundle.
    rmSync(temporary, { force: true });
  }
}
