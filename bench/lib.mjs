// Small helpers shared by the benchmarks that run against a big database (inventory.mjs, soak.mjs):
// a free port, the built server on a data directory, its resident memory, wrk and its output.
import { execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";

export const root = dirname(dirname(fileURLToPath(import.meta.url)));
export const mainJs = join(root, "dist", "service", "main.cjs");
export const MB = 1024 * 1024;
/** The environment `npm start` runs the service with (package.json): two malloc arenas, not one per thread. */
export const serviceEnv = { ...process.env, MALLOC_ARENA_MAX: "2" };
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function requireTools(tools) {
  for (const tool of tools) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    } catch {
      console.error(`bench: ${tool} is missing (apt-get install -y ${tool})`);
      process.exit(2);
    }
  }
  if (!existsSync(mainJs)) {
    console.error("bench: dist/service/main.cjs is missing: run npm run build first");
    process.exit(2);
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

/** One HTTP request to the service; resolves { status, body (parsed JSON or raw Buffer), ms }. */
export function call(port, method, path, body) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      { host: "127.0.0.1", port, method, path, agent, headers: payload ? { "content-type": "application/json", "content-length": payload.length } : {} },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const raw = Buffer.concat(chunks);
          let parsed = raw;
          if ((res.headers["content-type"] ?? "").includes("json")) parsed = JSON.parse(raw.toString("utf8"));
          resolve({ status: res.statusCode, body: parsed, ms: performance.now() - t0 });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** Resident memory of a process in bytes (its threads included), from /proc. */
export function rss(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Child processes of a pid, recursively, from /proc (pid first). */
export function processTree(pid) {
  const parentOf = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      parentOf.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      /* exited meanwhile */
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  return tree;
}

const clockTicks = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU seconds used by the process trees of these pids: utime+stime, plus cutime+cstime so that
 * children already reaped (PostgreSQL's ended backends) still count.
 */
export function treeCpuSeconds(...pids) {
  let ticks = 0;
  for (const p of pids.flatMap((pid) => processTree(pid))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // f[0] is field 3 (state): utime 14, stime 15, cutime 16, cstime 17
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      /* exited meanwhile */
    }
  }
  return ticks / clockTicks;
}

/** Busy and total CPU seconds of the whole machine, from /proc/stat (idle and iowait are not busy). */
/** The commit the bench ran on, and whether src/ had changes not committed, for the report's first line. */
export function gitRevision() {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    return `${head}${dirty ? " + uncommitted changes in src/" : ""}`;
  } catch {
    return "unknown";
  }
}

export function machineCpu() {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (total - f[3] - f[4]) / clockTicks, total: total / clockTicks };
}

/** RSS of the process and its children (the service runs as one process; this is a guard). */
export function treeRss(pid) {
  return processTree(pid).reduce((sum, p) => sum + (rss(p) ?? 0), 0);
}

/**
 * Starts the built service as `npm start` does (`--max-semi-space-size=2`) on `dataDir`, logging to
 * `logFile`, and waits for /health. Returns { child, port, stop() }.
 */
export async function startService(dataDir, logFile, extraArgs = []) {
  const port = await freePort();
  const fd = openSync(logFile, "a");
  const child = spawn(
    process.execPath,
    ["--max-semi-space-size=2", mainJs, "serve", "--port", String(port), "--data-dir", dataDir, "--log-level", "info", ...extraArgs],
    { cwd: root, env: serviceEnv, stdio: ["ignore", fd, fd] },
  );
  closeSync(fd);
  let exited = null;
  child.once("exit", (code, signal) => (exited = code ?? signal));
  const deadline = Date.now() + 120_000; // migrations on a big database take a while
  for (;;) {
    if (exited !== null) throw new Error(`the service exited (${exited}) before answering; see ${logFile}`);
    try {
      const r = await call(port, "GET", "/api/v1/cfssl/health");
      if (r.status === 200) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the service did not answer within 120 s; see ${logFile}`);
    }
    await sleep(50);
  }
  const stop = async () => {
    if (exited !== null) return;
    const done = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await done;
    clearTimeout(t);
  };
  return { child, port, stop };
}

const UNIT = { us: 1e-3, ms: 1, s: 1000, m: 60_000 };

/**
 * Runs wrk with these arguments; resolves its latency percentiles (ms), requests/s and errors, and
 * the CPU seconds wrk itself used (user + system, from the shell's `times` once wrk has exited).
 */
export function wrk(args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", 'wrk "$@"; times', "sh", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.once("error", reject);
    child.once("exit", () => {
      const lat = {};
      for (const m of out.matchAll(/^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$/gm)) lat[m[1]] = Number(m[2]) * UNIT[m[3]];
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
      const total = /(\d+) requests in/.exec(out);
      if (!rps || !total) return reject(new Error(`cannot read wrk's output:\n${out}`));
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
      const errors = (non2xx ? Number(non2xx[1]) : 0) + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
      // `times` prints the shell's user and system time, then its children's: wrk's.
      const times = [...out.matchAll(/^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/gm)].at(-1);
      const cpuSeconds = times ? Number(times[1]) * 60 + Number(times[2]) + Number(times[3]) * 60 + Number(times[4]) : undefined;
      resolve({ cmd: `wrk ${args.join(" ")}`, p50: lat["50"], p90: lat["90"], p99: lat["99"], rps: Number(rps[1]), requests: Number(total[1]), errors, cpuSeconds, raw: out });
    });
  });
}

/** The p-th percentile of a list of numbers. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export const fmtMb = (bytes) => (bytes === undefined ? "n/a" : `${(bytes / MB).toFixed(0)} MB`);
export const fmtMs = (ms) => (ms === undefined || Number.isNaN(ms) ? "n/a" : `${ms.toFixed(2)} ms`);

const day = 86_400_000;
const profiles = [
  { name: "server", lifetime: 90 * day, share: 0.4 },
  { name: "client", lifetime: 365 * day, share: 0.3 },
  { name: "peer", lifetime: 30 * day, share: 0.2 },
  { name: "kubernetes", lifetime: 730 * day, share: 0.1 },
];

/**
 * Writes `rows` certificates into the database at `dbPath` (made by the service, so migrated),
 * issued evenly over the last two years (so the oldest have expired), 1% revoked, with the PEM,
 * CA key id and shape of one real certificate of this service. Returns the milliseconds it took.
 */
export function fillCertificates(dbPath, rows, pem, aki) {
  const db = new Database(dbPath);
  db.pragma("synchronous = OFF");
  const insert = db.prepare(
    `INSERT INTO certificates (serial_number, authority_key_identifier, ca_label, profile, status, reason, expiry, revoked_at, pem,
       issued_at, not_before, sans, common_name, requested_by)
     VALUES (?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'address:10.0.0.1')`,
  );
  const now = Date.now();
  const span = 730 * day;
  const t0 = performance.now();
  db.transaction(() => {
    for (let i = 0; i < rows; i++) {
      const issued = now - span + Math.floor((i * span) / rows);
      const pick = (i * 7919) % 100;
      let acc = 0;
      const profile =
        profiles.find((p) => {
          acc += p.share * 100;
          return pick < acc;
        }) ?? profiles[0];
      const revoked = i % 100 === 42;
      const cn = `host-${i}.svc.internal`;
      insert.run(
        ((BigInt(issued) << 64n) | BigInt(i)).toString(10),
        aki,
        profile.name,
        revoked ? "revoked" : "good",
        revoked ? 1 : 0,
        new Date(issued + profile.lifetime).toISOString(),
        revoked ? new Date(issued + day).toISOString() : null,
        pem,
        new Date(issued).toISOString(),
        new Date(issued - 300_000).toISOString(),
        JSON.stringify([cn, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`]),
        cn,
      );
    }
  })();
  db.close();
  return performance.now() - t0;
}

/** utime+stime of one process (its threads included), in milliseconds, from /proc. */
export function processCpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks;
}

/** One GET of /health on its own connection: true on a 200, false on anything else. */
function healthy(port) {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/api/v1/cfssl/health", agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode === 200));
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

/**
 * Starts the built service as `npm start` does on `dataDir` and asks /health every 2 ms until it
 * answers 200; then stops it (SIGTERM, SIGKILL after 15 s), so the next start finds the data
 * directory as a clean stop leaves it.
 * Resolves { wallMs } from the spawn to that answer, and { cpuMs }: the CPU the process had used by
 * then (all its threads). Throws with the log's tail if it exits or does not answer within 60 s.
 */
export async function measureStart(dataDir, logFile, extraArgs = []) {
  const port = await freePort();
  const fd = openSync(logFile, "a");
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    ["--max-semi-space-size=2", mainJs, "serve", "--port", String(port), "--data-dir", dataDir, ...extraArgs],
    { cwd: root, env: serviceEnv, stdio: ["ignore", fd, fd] },
  );
  closeSync(fd);
  let exited = null;
  child.once("exit", (code, signal) => (exited = code ?? signal));
  try {
    for (;;) {
      if (await healthy(port)) break;
      if (exited !== null) throw new Error(`the service exited (${exited}) before answering: ${readFileSync(logFile, "utf8").split("\n").slice(-5).join(" | ")}`);
      if (performance.now() - t0 > 60_000) throw new Error(`the service did not answer within 60 s; see ${logFile}`);
      await sleep(2);
    }
    return { wallMs: performance.now() - t0, cpuMs: processCpuMs(child.pid) };
  } finally {
    if (exited === null) {
      const gone = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const kill = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await gone;
      clearTimeout(kill);
    }
  }
}

/** V8's code cache of each bundle (src/bundle/run-cached.ts): written by a start that runs a second. */
function codeCacheFiles() {
  const dir = join(dirname(mainJs), "code");
  return readdirSync(dir)
    .filter((name) => name.endsWith(".v8cache"))
    .map((name) => join(dir, name));
}

/** Removes V8's code cache, as a build does: the next start compiles everything it runs. */
export function dropCodeCache() {
  for (const file of codeCacheFiles()) rmSync(file, { force: true });
}

/**
 * One start that runs long enough (2 s) to write V8's code cache, as any start after a build that
 * runs for a second does: the starts measured after it are a service's restarts, not its first start.
 */
export async function warmCodeCache(dataDir, logFile) {
  const service = await startService(dataDir, logFile);
  await sleep(2000);
  await service.stop();
  return codeCacheFiles().length;
}

/** min and median of a list of numbers. */
export function minMedian(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)] };
}
