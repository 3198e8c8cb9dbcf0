// V8's code cache of the bundled service (src/bundle/run-cached.ts): a start that runs a second
// writes it (in systemd's $CACHE_DIRECTORY when set), V8 takes it at the next start, and a cache
// that is damaged, of another build, or cannot be written costs only the compile.
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import t, { type Test } from "tap";
import { childEnv, mainJs, postJson, startService, tempDir, writeFile } from "../helpers/server.js";
import { opensslCsr } from "../helpers/service-checks.js";

const runCached = join(dirname(mainJs), "run-cached.cjs");
const caches = (dir: string) => readdirSync(dir).filter((name) => name.endsWith(".v8cache"));

/**
 * What V8 makes of the cache of bundle `name` in `cacheDirectory`, as a start would compile it: in a
 * process run as the service is (a script, no flags), since the cache's name holds the flags.
 */
function cacheState(name: string, cacheDirectory: string): string {
  const script = writeFile(tempDir(t, "certwright-cache-state-"), "state.cjs", `process.stdout.write(require(${JSON.stringify(runCached)}).compileBundled(${JSON.stringify(name)}, ${JSON.stringify(mainJs)}).cache)`);
  return execFileSync(process.execPath, [script], { env: childEnv({ CACHE_DIRECTORY: cacheDirectory }), encoding: "utf8" });
}

/** A start that runs long enough to write its cache, signs once, and stops. */
async function serveAndSign(t: Test, dir: string, cacheDirectory: string): Promise<string> {
  const service = await startService(t, { cwd: dir, args: ["--data-dir", join(dir, "data"), "--workers", "1"], env: { CACHE_DIRECTORY: cacheDirectory } });
  const signed = await postJson(service.api, "sign", { certificate_request: opensslCsr(dir, "cache.internal"), hosts: ["cache.internal"], profile: "server" });
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  // The cache is taken a second after the start, whatever becomes of it the service keeps serving.
  t.match(await service.stop("SIGTERM"), { code: 0 }, "the service ran until it was stopped, and stopped cleanly");
  t.equal(signed.status, 200, `sign answers 200: ${JSON.stringify(signed.body.errors)}`);
  const certificate = new X509Certificate((signed.body.result as { certificate: string }).certificate);
  t.equal(certificate.subjectAltName, "DNS:cache.internal", "with a certificate for the name asked");
  return certificate.subject;
}

t.test("a start writes the cache of the command and of its threads; the next start uses it", async (t) => {
  const dir = tempDir(t);
  const cacheDirectory = tempDir(t, "certwright-code-cache-");
  t.equal(cacheState("main", cacheDirectory), "none", "no cache before the first start");
  t.match(await serveAndSign(t, dir, cacheDirectory), /CN=cache.internal/, "the first start signs");
  const written = caches(cacheDirectory);
  t.ok(
    written.some((name) => /^main-\d+-\d+-[0-9a-f]{8}\.v8cache$/.test(name)),
    `the command's cache is named by the bundle's size and time, and the flags (${written.join(", ")})`,
  );
  t.ok(
    written.some((name) => name.startsWith("signer-worker-")),
    "the signer thread's too",
  );
  t.ok(
    written.some((name) => name.startsWith("writer-thread-")),
    "and the writer thread's",
  );
  t.same(
    readdirSync(cacheDirectory).filter((name) => !name.endsWith(".v8cache")),
    [],
    "no temporary file is left",
  );
  t.equal(cacheState("main", cacheDirectory), "used", "V8 takes the command's cache");
  t.equal(cacheState("signer-worker", cacheDirectory), "used", "and the signer thread's");
  t.match(await serveAndSign(t, dir, cacheDirectory), /CN=cache.internal/, "a start with the cache signs");
  t.same(caches(cacheDirectory).sort(), written.sort(), "and leaves the cache as it found it");
});

t.test("a damaged cache is refused by V8 and written again; a cache of another build is removed", async (t) => {
  const dir = tempDir(t);
  const cacheDirectory = tempDir(t, "certwright-code-cache-");
  await serveAndSign(t, dir, cacheDirectory);
  const mainCache = caches(cacheDirectory).find((name) => name.startsWith("main-"))!;
  writeFileSync(join(cacheDirectory, mainCache), Buffer.alloc(4096, 7));
  writeFile(cacheDirectory, "main-1-1-00000000.v8cache", "an older build's");
  // The same build under other flags: V8 would refuse this start's cache there, and theirs here.
  const otherFlags = mainCache.replace(/-[0-9a-f]{8}\.v8cache$/, "-00000000.v8cache");
  writeFile(cacheDirectory, otherFlags, "the cache of a start with other flags");
  t.equal(cacheState("main", cacheDirectory), "rejected", "V8 refuses the damaged cache");
  t.match(await serveAndSign(t, dir, cacheDirectory), /CN=cache.internal/, "the start compiles and signs");
  t.equal(cacheState("main", cacheDirectory), "used", "and writes a cache V8 takes");
  t.notOk(caches(cacheDirectory).includes("main-1-1-00000000.v8cache"), "the older build's cache is gone");
  t.ok(caches(cacheDirectory).includes(otherFlags), "this build's cache for other flags is kept");
});

t.test("where the cache cannot be written, the service runs without it", async (t) => {
  const dir = tempDir(t);
  // A file where the directory should be: nothing can be written under it.
  const notADirectory = writeFile(dir, "not-a-directory", "");
  t.match(await serveAndSign(t, dir, notADirectory), /CN=cache.internal/, "it signs");
  t.equal(cacheState("main", notADirectory), "none", "and there is still no cache");
});
