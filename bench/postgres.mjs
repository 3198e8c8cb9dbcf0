#!/usr/bin/env node
// certwright on PostgreSQL beside SQLite: `npm run bench:postgres` (builds, then runs this file).
//
// What it measures, in one run on one machine: sign (the same ECDSA P-256 CSR each request) and
// newcert ECDSA P-256, 64 connections for DURATION each after a 2 s warm-up, against
//   - SQLite: one replica, certs.db in its data directory (the default);
//   - PostgreSQL, one replica: `serve --database postgres://…` on a throwaway cluster this script
//     starts (initdb in a temporary directory, loopback port, fsync=on, synchronous_commit=on);
//   - PostgreSQL, two replicas: two `serve` processes, each with its own data directory, sharing
//     the same database and the same --ca/--ca-key.
// All four replicas run throughout. Within each case the backends take turns, and ROUNDS repeats
// that, so drift in the machine's other load falls on all of them alike; the tables give the median
// req/s and p99 of the rounds and totals of the rest.
//
// The client: one wrk with two threads of 32 connections (-t2 -c64) and bench/spread.lua, which
// points each thread at one replica's port (both at the one port with one replica). One wrk gives
// one latency histogram across both replicas, so p99 is of all answers (two wrk processes would
// give two p99s that cannot be combined), and every backend meets the same client.
//
// Figures per case: req/s; p99; the 2xx answers wrk counted (spread.lua's response hook) against
// the rows the case added to the database, which must be at least as many (an answer is a recorded
// certificate; the surplus is requests in flight when wrk stopped); server CPU per answer, as
// utime+stime of the replicas' processes and of all of PostgreSQL's over the case; wrk's CPU; the
// machine's busy CPU that is none of these (other work on a shared machine, taking cores from the
// replicas); and the group commits' rows and time from the replicas' /metrics. Targets (issue):
// PostgreSQL one replica ≥ 0.8× SQLite, two replicas ≥ 1.2× one. On a small machine the replicas,
// PostgreSQL and wrk share the same cores, so two replicas show contention more than scaling: read
// the ratios with the inverse ratio of CPU per answer, the ratio if server CPU were the only limit.
//
// Env: DURATION (wrk -d, default 10s), CONNECTIONS (default 64), ROUNDS (default 3), SERVE_ARGS
// (more serve flags for every replica, e.g. "--workers 1"). Needs wrk, openssl and PostgreSQL
// (Debian's postgresql package, or CERTWRIGHT_PG_BIN). Uses dist/ as built; builds nothing itself.
// Exit code 0 when the report was produced (targets may FAIL), 1 when the bench broke, 2 on bad usage.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, relative } from "node:path";
import Database from "better-sqlite3";
import { call, freePort, gitRevision, machineCpu, mainJs, requireTools, root, sleep, startService, treeCpuSeconds, wrk } from "./lib.mjs";
import { findPgBin, startPgCluster } from "./pg-cluster.mjs";

const DURATION = process.env.DURATION || "10s";
if (!/^\d+(\.\d+)?[smh]?$/.test(DURATION)) usage(`DURATION="${DURATION}" is not a wrk duration (e.g. 10s, 1m)`);
const CONNECTIONS = Number(process.env.CONNECTIONS || 64);
if (!Number.isInteger(CONNECTIONS) || CONNECTIONS < 2) usage(`CONNECTIONS="${process.env.CONNECTIONS}" is not an integer of 2 or more`);
const ROUNDS = Number(process.env.ROUNDS || 3);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) usage(`ROUNDS="${process.env.ROUNDS}" is not a positive integer`);
// More serve flags for every replica, split at spaces (e.g. SERVE_ARGS="--workers 1").
const SERVE_ARGS = (process.env.SERVE_ARGS ?? "").split(" ").filter(Boolean);
const WARMUP = "2s";
const THREADS = 2; // one per replica in the two-replica case; the same for the others
const TARGET_PG1 = 0.8;
const TARGET_PG2 = 1.2;

function usage(message) {
  console.error(`bench: ${message}`);
  process.exit(2);
}
requireTools(["wrk", "openssl"]);
if (!findPgBin()) usage("PostgreSQL is not installed: apt-get install postgresql (or set CERTWRIGHT_PG_BIN to the directory of initdb and pg_ctl)");
const spreadLua = join(root, "bench", "spread.lua");
const rel = (p) => relative(process.cwd(), p) || ".";

// ---------------------------------------------------------------- cleanup
const tmp = mkdtempSync(join(tmpdir(), "certwright-bench-pg-run-"));
const services = new Set();
let cluster = null;
process.on("exit", () => {
  for (const s of services) s.child.kill("SIGKILL");
  try {
    cluster?.stop();
  } catch (error) {
    console.error(`bench: stopping PostgreSQL: ${error.message}`);
  }
  rmSync(tmp, { recursive: true, force: true });
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    console.error(`\nbench: ${signal}: stopping the replicas and PostgreSQL, removing ${tmp}`);
    process.exit(130);
  });
}

// ---------------------------------------------------------------- measuring
const fmt = (n, digits = 0) => (n === undefined || n === null || Number.isNaN(n) ? "n/a" : Number(n).toFixed(digits));

/** Sum over the replicas of the group commits' count, rows and seconds, from /metrics. */
async function commitStats(replicas) {
  const sum = { commits: 0, rows: 0, seconds: 0 };
  for (const r of replicas) {
    const { body } = await call(r.port, "GET", "/metrics");
    const text = Buffer.isBuffer(body) ? body.toString("utf8") : String(body);
    const value = (name) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, "m").exec(text)?.[1] ?? 0);
    sum.commits += value("certwright_db_commit_rows_count");
    sum.rows += value("certwright_db_commit_rows_sum");
    sum.seconds += value("certwright_db_commit_duration_seconds_sum");
  }
  return sum;
}

/** Waits until the replicas and PostgreSQL are idle (earlier work done), at most 15 s. */
async function settle(pids) {
  const t0 = performance.now();
  let quiet = 0;
  while (quiet < 2 && performance.now() - t0 < 15000) {
    const c0 = treeCpuSeconds(...pids);
    await sleep(500);
    quiet = treeCpuSeconds(...pids) - c0 < 0.05 ? quiet + 1 : 0;
  }
}

// ---------------------------------------------------------------- backends
const caDir = join(tmp, "ca");
const caArgs = () => ["--ca", join(caDir, "ca.pem"), "--ca-key", join(caDir, "ca-key.pem")];

async function startReplicas(name, count, database) {
  const replicas = [];
  for (let i = 0; i < count; i++) {
    const label = `${name}-${i + 1}`;
    const service = await startService(join(tmp, label), join(tmp, `${label}.log`), [...caArgs(), ...(database ? ["--database", database] : []), ...SERVE_ARGS]);
    service.label = label;
    services.add(service);
    replicas.push(service);
  }
  return replicas;
}

async function stopReplicas(replicas) {
  for (const r of replicas) {
    await r.stop();
    services.delete(r);
  }
}

const backends = [
  {
    key: "sqlite",
    name: "SQLite, 1 replica",
    replicas: 1,
    database: async () => undefined,
    // The replica's own certs.db, read while it runs (WAL: a reader sees every commit).
    rows: async (replicas) => {
      const db = new Database(join(tmp, `${replicas[0].label}`, "certs.db"), { readonly: true, fileMustExist: true });
      try {
        return db.prepare("SELECT count(*) AS n FROM certificates").get().n;
      } finally {
        db.close();
      }
    },
  },
  { key: "pg1", name: "PostgreSQL, 1 replica", replicas: 1, database: () => cluster.createDatabase("bench_pg1"), rows: () => pgRows("bench_pg1") },
  { key: "pg2", name: "PostgreSQL, 2 replicas", replicas: 2, database: () => cluster.createDatabase("bench_pg2"), rows: () => pgRows("bench_pg2") },
];
async function pgRows(database) {
  return Number((await cluster.query(database, "SELECT count(*) AS n FROM certificates"))[0].n);
}

const cases = [
  { key: "sign", name: "sign, ECDSA P-256 CSR", path: "sign", body: "sign.json" },
  { key: "newcert", name: "newcert, ECDSA P-256", path: "newcert", body: "newcert-ecdsa.json" },
];

/** Rows counted until they stop growing (commits of requests wrk gave up on may land late), at most 5 s. */
async function settledRows(backend, replicas) {
  let last = await backend.rows(replicas);
  for (let i = 0; i < 10; i++) {
    await sleep(500);
    const now = await backend.rows(replicas);
    if (now === last) return now;
    last = now;
  }
  return last;
}

function runWrk(c, replicas, duration) {
  const args = [`-t${THREADS}`, `-c${CONNECTIONS}`, `-d${duration}`, "--latency", "-s", rel(spreadLua), `http://127.0.0.1:${replicas[0].port}/api/v1/cfssl/${c.path}`];
  const env = { BODY: join(tmp, c.body), PORTS: replicas.map((r) => r.port).join(",") };
  return wrk(args, env).then((r) => ({
    ...r,
    cmd: `BODY=${c.body} PORTS=${env.PORTS} ${r.cmd}`,
    ok: Number(/^2xx (\d+)$/m.exec(r.raw)?.[1] ?? Number.NaN),
    perPort: [...r.raw.matchAll(/^2xx port (\d+) (\d+)$/gm)].map((m) => Number(m[2])),
  }));
}

async function measure(backend, c, replicas, pgPid) {
  await runWrk(c, replicas, WARMUP);
  const pids = replicas.map((r) => r.child.pid);
  await settle(pgPid ? [...pids, pgPid] : pids);
  const rows0 = await settledRows(backend, replicas);
  const commits0 = await commitStats(replicas);
  const load = loadavg()[0];
  const m0 = machineCpu();
  const svc0 = treeCpuSeconds(...pids);
  const pg0 = pgPid ? treeCpuSeconds(pgPid) : 0;
  const r = await runWrk(c, replicas, DURATION);
  const m1 = machineCpu();
  const svc = treeCpuSeconds(...pids) - svc0;
  const pgCpu = pgPid ? treeCpuSeconds(pgPid) - pg0 : 0;
  const commits1 = await commitStats(replicas);
  const rows = (await settledRows(backend, replicas)) - rows0;
  const wall = m1.total / cpus().length - m0.total / cpus().length;
  const machineBusy = m1.busy - m0.busy;
  const commits = commits1.commits - commits0.commits;
  return {
    backend: backend.key,
    case: c.key,
    ...r,
    rows,
    load,
    svcSeconds: svc,
    pgSeconds: pgCpu,
    svcCores: svc / wall,
    pgCores: pgCpu / wall,
    wrkCores: r.cpuSeconds / wall,
    // Not this bench at all: on a shared machine, other work takes cores from the replicas.
    otherCores: (machineBusy - svc - pgCpu - (r.cpuSeconds ?? 0)) / wall,
    commits,
    commitRows: commits1.rows - commits0.rows,
    commitSeconds: commits1.seconds - commits0.seconds,
    rowsPerCommit: commits ? (commits1.rows - commits0.rows) / commits : undefined,
    msPerCommit: commits ? ((commits1.seconds - commits0.seconds) / commits) * 1000 : undefined,
  };
}

// ---------------------------------------------------------------- the run
async function main() {
  const rev = gitRevision();
  console.log(`certwright bench:postgres: ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), node ${process.version}, git ${rev}, ${rel(mainJs)}`);
  cluster = startPgCluster(await freePort());
  console.log(`PostgreSQL: ${cluster.version}, port ${cluster.port}, fsync=on, synchronous_commit=on (postmaster pid ${cluster.postmasterPid})`);
  console.log(`cases: wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION} --latency -s ${rel(spreadLua)} after a ${WARMUP} warm-up; work dir ${tmp}\n`);

  // One CA for every replica: made by a first start on a data directory, then given as --ca/--ca-key.
  const first = await startService(caDir, join(tmp, "ca.log"));
  await first.stop();
  const csrArgs = ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(tmp, "bench.key"), "-subj", "/O=system:nodes/CN=system:node:bench", "-out", join(tmp, "bench.csr")];
  execFileSync("openssl", csrArgs, { stdio: ["ignore", "ignore", "pipe"] });
  writeFileSync(join(tmp, "sign.json"), JSON.stringify({ certificate_request: readFileSync(join(tmp, "bench.csr"), "utf8"), profile: "client" }));
  writeFileSync(join(tmp, "newcert-ecdsa.json"), JSON.stringify({ request: { CN: "bench", hosts: ["bench.internal", "10.0.0.1"], key: { algo: "ecdsa", size: 256 } }, profile: "peer" }));

  for (const backend of backends) {
    const database = await backend.database();
    backend.pgPid = database ? cluster.postmasterPid : undefined;
    backend.running = await startReplicas(backend.key, backend.replicas, database);
    console.log(`[${backend.name}] ${backend.running.map((r) => `pid ${r.child.pid} port ${r.port}`).join("; ")}`);
    console.log(`  node --max-semi-space-size=2 dist/service/main.cjs serve --port PORT --data-dir DIR --ca CA/ca.pem --ca-key CA/ca-key.pem${database ? ` --database ${database}` : ""}${SERVE_ARGS.map((a) => ` ${a}`).join("")}`);
  }

  // Backends in turn within each case, and rounds of all: the machine's other load drifts, and
  // interleaving puts each comparison side by side in time.
  const results = [];
  for (let round = 1; round <= ROUNDS; round++) {
    console.log(`\nround ${round} of ${ROUNDS}`);
    for (const c of cases) {
      for (const backend of backends) {
        const r = await measure(backend, c, backend.running, backend.pgPid);
        r.round = round;
        results.push(r);
        console.log(
          `  ${c.name}, ${backend.name}: ${fmt(r.rps)} req/s, p99 ${fmt(r.p99, 2)} ms, ${r.ok} 2xx${r.perPort.length > 1 ? ` (${r.perPort.join(" + ")})` : ""}, ${r.errors} errors, ${r.rows} rows; ` +
            `CPU ${fmt(r.svcCores, 2)} cores replicas + ${fmt(r.pgCores, 2)} PostgreSQL + ${fmt(r.wrkCores, 2)} wrk + ${fmt(r.otherCores, 2)} not this bench; ` +
            `${fmt(r.commits)} commits of ${fmt(r.rowsPerCommit, 1)} rows, ${fmt(r.msPerCommit, 2)} ms each; load avg before ${fmt(r.load, 2)}`,
        );
        if (round === 1) console.log(`    ${r.cmd}`);
      }
    }
  }
  for (const backend of backends) await stopReplicas(backend.running);

  // the tables: per case and backend, the median of the rounds' req/s and p99; sums for the rest
  const table = (headers, rows) => {
    const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
    const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(" | ")} |`;
    console.log(`${line(headers)}\n|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
    for (const r of rows) console.log(line(r));
  };
  const median = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const summary = new Map();
  for (const c of cases) {
    for (const backend of backends) {
      const rs = results.filter((r) => r.case === c.key && r.backend === backend.key);
      const total = (f) => rs.reduce((n, r) => n + f(r), 0);
      const ok = total((r) => r.ok);
      const commits = total((r) => r.commits);
      summary.set(`${c.key}/${backend.key}`, {
        c,
        backend,
        rps: median(rs.map((r) => r.rps)),
        rounds: rs.map((r) => fmt(r.rps)).join(", "),
        p99: median(rs.map((r) => r.p99)),
        ok,
        rows: total((r) => r.rows),
        errors: total((r) => r.errors),
        svcMs: (total((r) => r.svcSeconds) / ok) * 1000,
        pgMs: (total((r) => r.pgSeconds) / ok) * 1000,
        wrkCores: median(rs.map((r) => r.wrkCores)),
        otherCores: median(rs.map((r) => r.otherCores)),
        rowsPerCommit: commits ? total((r) => r.commitRows) / commits : undefined,
        msPerCommit: commits ? (total((r) => r.commitSeconds) / commits) * 1000 : undefined,
      });
    }
  }
  console.log(`\nmedians of ${ROUNDS} round(s) (req/s, p99, cores of wrk and of others); totals over the rounds (2xx, rows, errors, CPU, commits)\n`);
  table(
    ["case", "backend", "req/s", "rounds", "p99", "2xx", "rows", "rows ≥ 2xx", "errors", "CPU ms/answer: replicas + PG", "wrk", "not this bench", "rows/commit", "ms/commit"],
    [...summary.values()].map((s) => [
      s.c.key,
      s.backend.name,
      fmt(s.rps),
      s.rounds,
      `${fmt(s.p99, 2)} ms`,
      s.ok,
      s.rows,
      s.rows >= s.ok ? "PASS" : "FAIL",
      s.errors,
      `${fmt(s.svcMs, 3)} + ${fmt(s.pgMs, 3)} = ${fmt(s.svcMs + s.pgMs, 3)}`,
      `${fmt(s.wrkCores, 2)} cores`,
      `${fmt(s.otherCores, 2)} cores`,
      fmt(s.rowsPerCommit, 1),
      fmt(s.msPerCommit, 2),
    ]),
  );
  console.log("");
  const ratioRows = [];
  for (const c of cases) {
    const by = (key) => summary.get(`${c.key}/${key}`);
    const cpu = (s) => s.svcMs + s.pgMs;
    const pg1 = by("pg1").rps / by("sqlite").rps;
    const pg2 = by("pg2").rps / by("pg1").rps;
    ratioRows.push([c.key, "PostgreSQL 1 replica / SQLite", `${fmt(pg1, 2)}×`, `≥ ${TARGET_PG1}×`, pg1 >= TARGET_PG1 ? "PASS" : "FAIL", `${fmt(cpu(by("sqlite")) / cpu(by("pg1")), 2)}×`]);
    ratioRows.push([c.key, "PostgreSQL 2 replicas / 1 replica", `${fmt(pg2, 2)}×`, `≥ ${TARGET_PG2}×`, pg2 >= TARGET_PG2 ? "PASS" : "FAIL", `${fmt(cpu(by("pg1")) / cpu(by("pg2")), 2)}×`]);
  }
  table(["case", "ratio of median req/s", "value", "target", "result", "inverse ratio of CPU per answer"], ratioRows);
  const lost = [...summary.values()].filter((s) => !(s.rows >= s.ok)).length;
  console.log(`\n${lost === 0 ? "every case recorded at least as many rows as it answered" : `${lost} case(s) answered more than they recorded: FAIL`}`);
  console.log("(inverse ratio of CPU per answer: what the req/s ratio would be if the server CPU were the only limit)");
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`\nbench: broke: ${error.stack ?? error}`);
    process.exit(1);
  },
);
