#!/usr/bin/env node
// Start-up time: `npm run build && node bench/startup.mjs`.
//
// Starts the built service as `npm start` does and asks GET /api/v1/cfssl/health every 2 ms until
// it answers 200: once with no code cache, as the first start after a build; then, once a start
// has written the cache, RUNS times per case: (1) an empty data directory each time (the start makes the
// CA and the database), (2) an existing data directory with ROWS certificates in its database
// (filled once, as bench/inventory.mjs fills it). Prints, per case, the wall time from the spawn to
// that answer and the CPU the process had used by then (utime+stime of all its threads, from
// /proc: it holds on a busy machine where wall time does not), min and median, against the
// targets of issue 20: < 150 ms empty, < 300 ms with 1M certificates.
//
// Env: RUNS (default 10), ROWS (default 1000000; 0 skips case 2), BENCH_DATA_DIR (a data directory
// this bench filled before: reused and kept).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { call, dropCodeCache, fillCertificates, measureStart, minMedian, requireTools, startService, warmCodeCache } from "./lib.mjs";

requireTools([]);
const RUNS = Number(process.env.RUNS || 10);
const ROWS = Number(process.env.ROWS ?? 1_000_000);
const reuse = process.env.BENCH_DATA_DIR;
const tmp = mkdtempSync(join(tmpdir(), "certwright-startup-bench-"));
const cleanup = () => rmSync(tmp, { recursive: true, force: true });
process.on("SIGINT", () => {
  cleanup();
  process.exit(130);
});
const log = join(tmp, "service.log");

/** The start measured `runs` times, each on the data directory `dirOf(i)` gives. */
async function measure(label, dirOf, targetMs) {
  const starts = [];
  for (let i = 0; i < RUNS; i++) starts.push(await measureStart(dirOf(i), log));
  const wall = minMedian(starts.map((s) => s.wallMs));
  const cpu = minMedian(starts.map((s) => s.cpuMs));
  const pass = wall.median < targetMs;
  console.log(
    `${label}: wall min ${wall.min.toFixed(0)} ms, median ${wall.median.toFixed(0)} ms; ` +
      `CPU by then min ${cpu.min.toFixed(0)} ms, median ${cpu.median.toFixed(0)} ms (${RUNS} starts)  target < ${targetMs} ms: ${pass ? "PASS" : "FAIL"}`,
  );
  return { wall, cpu, pass };
}

async function main() {
  console.log(`node ${process.version}; each start: MALLOC_ARENA_MAX=2 node --max-semi-space-size=2 dist/service/main.cjs serve --port PORT --data-dir DIR`);
  // As after a build: the first start compiles all it runs; one that runs a second writes V8's code
  // cache (src/bundle/run-cached.ts), which the starts measured below, restarts, use.
  dropCodeCache();
  const first = await measureStart(join(tmp, "first"), log);
  console.log(`first start after the build (no V8 code cache yet): wall ${first.wallMs.toFixed(0)} ms, CPU by then ${first.cpuMs.toFixed(0)} ms`);
  console.log(`a start left running for 2 s wrote V8's code cache of ${await warmCodeCache(join(tmp, "first"), log)} bundle(s)`);
  await measure("empty data directory", (i) => join(tmp, `empty-${i}`), 150);
  if (ROWS > 0) {
    const dataDir = reuse ?? join(tmp, "big");
    if (!existsSync(join(dataDir, "certs.db"))) {
      // The first start makes the CA and the schema; one real certificate gives the rows their shape.
      const service = await startService(dataDir, log, ["--workers", "1"]);
      const issued = await call(service.port, "POST", "/api/v1/cfssl/newcert", { request: { CN: "shape.internal", hosts: ["shape.internal"] }, profile: "server" });
      if (issued.status !== 200) throw new Error(`newcert: ${issued.status} ${JSON.stringify(issued.body)}`);
      const listed = await call(service.port, "GET", "/api/v1/certificates?limit=1");
      await service.stop();
      const fillMs = fillCertificates(join(dataDir, "certs.db"), ROWS, issued.body.result.certificate, listed.body.result.certificates[0].authority_key_id);
      console.log(`filled ${ROWS} rows in ${(fillMs / 1000).toFixed(1)} s (${dataDir})`);
      // One start to settle what the first start after a fill does once (the WAL, the quick check's cache).
      await measureStart(dataDir, log);
    }
    await measure(`${ROWS} certificates in the database`, () => dataDir, 300);
  }
}

main().then(cleanup, (error) => {
  console.error(`bench: ${error.stack ?? error}`);
  cleanup();
  process.exit(1);
});
