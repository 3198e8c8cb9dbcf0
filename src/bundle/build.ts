// `npm run build`'s second step: bundles the service into dist/service/, what `npm start` and the
// `certwright` command run. One CommonJS file per entry (the command and each thread) starts in a
// fraction of the time Node's ES module loader takes to resolve, read and link the hundreds of
// modules the service is made of, and it can use V8's code cache (run-cached.ts), which ES modules cannot
// on Node 20.
//
//   dist/service/NAME.cjs          what Node runs: hands the entry to run-cached.cjs
//   dist/service/code/NAME.cjs     the bundle
//   dist/service/code/NAME-SIZE-TIME-FLAGS.v8cache   V8's code cache, written by the first start that runs a second
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("../../", import.meta.url));
const out = join(root, "dist", "service");

/** The process's entry and each worker thread's, by the name `threadEntry` looks them up by. */
const entries: Record<string, string> = {
  main: "src/cli/main.ts",
  "signer-worker": "src/authority/signer-worker.ts",
  "inventory-thread": "src/authority/inventory-thread.ts",
  "crl-thread": "src/authority/crl-thread.ts",
  "writer-thread": "src/store/writer-thread.ts",
  "quick-check-thread": "src/store/quick-check-thread.ts",
};

/**
 * Left to Node's require: native addons (and what loads them), and the packages that serve files
 * from their own directory (the OpenAPI page and the console, loaded on their first request).
 */
const external = ["better-sqlite3", "pkcs11js", "pg-native", "@fastify/swagger", "@fastify/swagger-ui", "@fastify/static"];

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: entries,
  outdir: join(out, "code"),
  outExtension: { ".js": ".cjs" },
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  external,
  // run-cached.ts passes the stub's URL: paths the code makes from it (../../migrations) hold.
  define: { "import.meta.url": "__cwMetaUrl" },
  // A dynamic import() of an external package becomes a require(): no ES module loader at all.
  supported: { "dynamic-import": false },
  // Each thread holds its bundle's source in its heap: minified, 5-10 MB less per thread. Names
  // are kept, so stack traces still read; BUNDLE_PLAIN=1 leaves the bundle as written, to profile.
  minifyWhitespace: process.env.BUNDLE_PLAIN !== "1",
  minifySyntax: process.env.BUNDLE_PLAIN !== "1",
  logLevel: "warning",
});
await build({
  absWorkingDir: root,
  entryPoints: ["src/bundle/run-cached.ts"],
  outfile: join(out, "run-cached.cjs"),
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  logLevel: "warning",
});
for (const name of Object.keys(entries)) {
  asciiOnly(join(out, "code", `${name}.cjs`));
  const stub = join(out, `${name}.cjs`);
  writeFileSync(stub, `#!/usr/bin/env node\n"use strict";\nrequire("./run-cached.cjs").runBundled(${JSON.stringify(name)}, __filename);\n`);
  chmodSync(stub, 0o755);
}

/**
 * run-cached.ts reads the bundles as Latin-1, twice as fast as UTF-8 (5 ms of the start for the
 * command's). esbuild escapes what is not ASCII in strings, but not in regular expressions and
 * comments: a \uXXXX escape means the same there.
 */
function asciiOnly(file: string): void {
  const text = readFileSync(file, "utf8");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the range is what is not ASCII
  const escaped = text.replace(/[^\x00-\x7f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
  if (escaped !== text) writeFileSync(file, escaped);
}
