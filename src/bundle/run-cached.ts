// Runs one bundled entry of the service (dist/service/code/NAME.cjs) with V8's code cache.
//
// Node 22 has module.enableCompileCache() for this; Node 20, which the service supports, does not,
// and v8-compile-cache keeps only what V8 compiles when the file loads: in a bundle that is little
// more than the outer function, as every module's body is compiled on its first call. Here the
// cache is taken a second after the entry loaded, so it holds the functions the start ran (zod's,
// fastify's, the schemas'), and the next start skips compiling them: about a third of its CPU.
//
// The cache sits beside the code, or in systemd's CacheDirectory= ($CACHE_DIRECTORY) when the
// service runs as a user that cannot write there. Its name holds the bundle's size and time, so a
// cache never serves another build (V8 itself checks only its version, its flags and the source's
// length), and the process's flags, so each set of flags has its own; V8 rejects one that does
// not fit, and it is then taken again. Where nothing can be written, every start compiles.
import { readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { setFlagsFromString } from "node:v8";
import { constants, Script } from "node:vm";

/** How long after loading the cache is taken: past the start, before a short-lived command ends. */
const takeCacheAfterMs = 1_000;

/** A bundle compiled, with what became of its cache. */
export interface CompiledBundle {
  script: Script;
  file: string;
  cacheDir: string;
  cacheFile: string;
  /** What every cache of this build's bundle is named from: the file names of other builds' caches do not start so. */
  buildPrefix: string;
  /** "used": V8 took the cache; "none": there was none; "rejected": V8 refused it (another V8 or other flags). */
  cache: "used" | "none" | "rejected";
}

/** Compiles dist/service/code/`name`.cjs (beside `stub`) with its code cache if there is one. */
export function compileBundled(name: string, stub: string): CompiledBundle {
  // V8 keys its code cache by its flags too: `serve` sets this one (see main.ts), so it is set
  // before anything compiles, or each start would reject the cache the one before it took.
  setFlagsFromString("--heap-growing-percent=50");
  const file = join(dirname(stub), "code", `${name}.cjs`);
  const { size, mtimeMs } = statSync(file);
  const cacheDir = process.env.CACHE_DIRECTORY?.split(":")[0] || dirname(file);
  const buildPrefix = `${name}-${size}-${Math.trunc(mtimeMs)}-`;
  const cacheFile = join(cacheDir, `${buildPrefix}${flagsTag()}.v8cache`);
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // First start of this build: no cache yet.
  }
  // ASCII (see build.ts), so Latin-1 reads it right, and faster. The command's bundle keeps
  // main.ts's `#!` line, which is no JavaScript inside a function.
  const source = readFileSync(file, "latin1").replace(/^#!/, "//");
  const script = new Script(`(function (exports, require, module, __filename, __dirname, __cwMetaUrl) {${source}\n})`, {
    filename: file,
    cachedData,
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  return { script, file, cacheDir, cacheFile, buildPrefix, cache: cachedData === undefined ? "none" : script.cachedDataRejected ? "rejected" : "used" };
}

/**
 * The Node and V8 flags this process runs with, as 8 hex digits (FNV-1a). V8 refuses a cache made
 * under other flags, so each set keeps a cache of its own: `npm start` (`--max-semi-space-size=2`)
 * and a bare `certwright serve` on one install would otherwise each rewrite the other's.
 */
function flagsTag(): string {
  let hash = 0x811c9dc5;
  for (const char of `${process.execArgv.join(" ")}\n${process.env.NODE_OPTIONS ?? ""}`) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, "0");
}

/**
 * Loads and runs dist/service/code/`name`.cjs as Node runs a CommonJS module, with `import.meta.url`
 * (which the bundle reads as `__cwMetaUrl`) the URL of `stub`, the file Node was asked to run: the
 * service finds its threads' entries, its migrations and its console relative to it.
 */
export function runBundled(name: string, stub: string): void {
  const { script, file, cacheDir, cacheFile, buildPrefix, cache } = compileBundled(name, stub);
  if (cache !== "used") setTimeout(() => keepCache(script, cacheDir, name, cacheFile, buildPrefix), takeCacheAfterMs).unref();
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file), pathToFileURL(stub).href);
}

/**
 * Writes the cache whole or not at all (several processes and threads may start at once), and
 * removes the caches of earlier builds.
 */
function keepCache(script: Script, cacheDir: string, name: string, cacheFile: string, buildPrefix: string): void {
  const temporary = `${cacheFile}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  try {
    writeFileSync(temporary, script.createCachedData());
    renameSync(temporary, cacheFile);
    for (const other of readdirSync(cacheDir)) {
      if (other.startsWith(`${name}-`) && other.endsWith(".v8cache") && !other.startsWith(buildPrefix)) rmSync(join(cacheDir, other), { force: true });
    }
  } catch {
    // A read-only install: every start compiles, as without a bundle. Nothing may throw from here
    // (a timer's exception would end the service): where the cache's directory is a file,
    // removing the temporary fails too.
    try {
      rmSync(temporary, { force: true });
    } catch {
      // Nothing was written.
    }
  }
}
