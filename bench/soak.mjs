#!/usr/bin/env node
// Memory over a long mixed load: `npm run build && node bench/soak.mjs` (10 minutes by default).
//
// A fresh data directory; the built service as `npm start` runs it. For BENCH_SOAK seconds (default
// 600): wrk signs a fixed P-256 CSR (8 connections), while three loops, one request at a time each,
// make ECDSA newcerts (revoking one in twenty), list the inventory (broad filters, a few pages), and
// fetch the CRL (both endpoints, a few expiry values). The service's RSS is sampled every 5 s; it
// prints RSS 30 s in (after warm-up) and at the end, the peak, a line every minute, and the V8 heap
// and SQLite figures from /metrics at both ends.
//
// Env: BENCH_SOAK (seconds, default 600). Needs wrk and openssl.
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { call, fmtMb, percentile, requireTools, root, rss, startService, wrk } from "./lib.mjs";

requireTools(["wrk", "openssl"]);
const SOAK = Number(process.env.BENCH_SOAK || 600);
if (!Number.isFinite(SOAK) || SOAK < 60) {
  console.error(`bench: BENCH_SOAK="${process.env.BENCH_SOAK}" is not a number of seconds, at least 60`);
  process.exit(2);
}
const tmp = mkdtempSync(join(tmpdir(), "certwright-soak-"));
let service;
const cleanup = async () => {
  await service?.stop();
  rmSync(tmp, { recursive: true, force: true });
};
process.on("SIGINT", () => cleanup().then(() => process.exit(130)));

async function metric(names) {
  const r = await call(service.port, "GET", "/metrics");
  const text = r.body.toString("utf8");
  const out = {};
  for (const name of names) {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+]+)$`, "m").exec(text);
    out[name] = m ? Number(m[1]) : undefined;
  }
  return out;
}

async function main() {
  execFileSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(tmp, "k.pem"), "-out", join(tmp, "bench.csr"), "-subj", "/CN=soak.internal"], { stdio: "ignore" });
  writeFileSync(join(tmp, "sign.json"), JSON.stringify({ certificate_request: readFileSync(join(tmp, "bench.csr"), "utf8"), profile: "client" }));
  service = await startService(join(tmp, "data"), join(tmp, "service.log"));
  const pid = service.child.pid;
  const heapNames = ["nodejs_heap_size_used_bytes", "nodejs_heap_size_total_bytes", "nodejs_external_memory_bytes", "process_resident_memory_bytes"];

  const samples = [];
  const t0 = performance.now();
  const sampler = setInterval(() => samples.push({ s: (performance.now() - t0) / 1000, rss: rss(pid) ?? 0 }), 5000);
  let stop = false;
  const counts = { newcert: 0, revoke: 0, inventory: 0, crl: 0, errors: 0 };
  const latencies = { newcert: [], inventory: [], crl: [] };
  const loop = async (kind, step) => {
    for (let i = 0; !stop; i++) {
      try {
        const r = await step(i);
        if (r.status !== 200) counts.errors++;
        else {
          counts[kind]++;
          latencies[kind]?.push(r.ms);
        }
      } catch {
        counts.errors++;
      }
    }
  };
  const newcert = async (i) => {
    const r = await call(service.port, "POST", "/api/v1/cfssl/newcert", { request: { CN: `soak-${i}.internal`, hosts: [`soak-${i}.internal`] }, profile: "server" });
    if (r.status === 200 && i % 20 === 0) {
      const serial = BigInt(`0x${new X509Certificate(r.body.result.certificate).serialNumber}`);
      const revoked = await call(service.port, "POST", "/api/v1/cfssl/revoke", { serial: serial.toString(10), reason: "superseded" });
      if (revoked.status === 200) counts.revoke++;
    }
    return r;
  };
  const inventoryQueries = ["", "status=good", "expiring_within=400d", "status=revoked", "q=soak-1", "profile=server&limit=500"];
  const inventory = async (i) => {
    let r = await call(service.port, "GET", `/api/v1/certificates?${inventoryQueries[i % inventoryQueries.length]}`);
    for (let page = 0; page < 2 && r.status === 200 && r.body.result.next_cursor; page++) {
      r = await call(service.port, "GET", `/api/v1/certificates?${inventoryQueries[i % inventoryQueries.length]}&cursor=${r.body.result.next_cursor}`);
    }
    return r;
  };
  const crlPaths = ["/crl/default.crl", "/api/v1/cfssl/crl", "/api/v1/cfssl/crl?expiry=24h", "/api/v1/cfssl/crl?expiry=1h"];
  const crl = (i) => call(service.port, "GET", crlPaths[i % crlPaths.length]);

  const before = await metric(heapNames);
  const loops = [loop("newcert", newcert), loop("inventory", inventory), loop("crl", crl)];
  const sign = await wrk(["-t1", "-c8", `-d${SOAK}s`, "--latency", "-s", join(root, "bench", "post.lua"), `http://127.0.0.1:${service.port}/api/v1/cfssl/sign`], { BODY: join(tmp, "sign.json") });
  stop = true;
  await Promise.all(loops);
  clearInterval(sampler);
  const after = await metric(heapNames);

  const at = (s) => samples.reduce((best, x) => (Math.abs(x.s - s) < Math.abs(best.s - s) ? x : best), samples[0]);
  const start = at(30);
  const end = samples[samples.length - 1];
  console.log(`soak: ${SOAK} s of sign (wrk -c8) + newcert + revoke + inventory + crl`);
  console.log(`  sign: ${sign.rps.toFixed(0)} req/s, p99 ${sign.p99?.toFixed(2)} ms, ${sign.errors} errors`);
  console.log(`  newcert ${counts.newcert} (p99 ${percentile(latencies.newcert, 99).toFixed(1)} ms), revoke ${counts.revoke}, inventory ${counts.inventory} (p99 ${percentile(latencies.inventory, 99).toFixed(1)} ms), crl ${counts.crl} (p99 ${percentile(latencies.crl, 99).toFixed(1)} ms), errors ${counts.errors}`);
  console.log(`  RSS by minute: ${samples.filter((_, i) => i % 12 === 11).map((x) => `${Math.round(x.s / 60)}m ${fmtMb(x.rss)}`).join(", ")}`);
  console.log(`  RSS ${fmtMb(start.rss)} at ${start.s.toFixed(0)} s, ${fmtMb(end.rss)} at the end (${end.s.toFixed(0)} s), peak ${fmtMb(Math.max(...samples.map((x) => x.rss)))}`);
  for (const name of heapNames) console.log(`  ${name}: ${fmtMb(before[name])} after start, ${fmtMb(after[name])} at the end`);
  await cleanup();
}

main().catch(async (error) => {
  console.error(`bench: ${error.stack ?? error}`);
  await cleanup();
  process.exit(1);
});
