#!/usr/bin/env node
// ACME orders per second, end to end: `npm run bench:acme` (builds, then runs this file).
//
// The built service on an empty data directory (SQLite, a new ECDSA CA) with a signing config that
// adds an `acme` provisioner (profile server, http-01), `--acme-http-port` and
// `--acme-dns-resolver` pointed at bench/acme-responder.mjs, a child process that serves the
// tokens over HTTP and answers A 127.0.0.1 for every name under bench.test. Each order has a name
// of its own (o<N>.w<W>.bench.test), so every order is a new authorization with a DNS lookup and
// an HTTP GET by the server's validator, as for a real client: nothing is reused.
//
// One order, as certbot or lego make it: newOrder → the authorization (POST-as-GET) → the token
// handed to the responder → the http-01 challenge answered → the order polled until it is no
// longer pending → finalize with a CSR for a new ECDSA P-256 key → the order polled until valid
// (when finalize did not already answer valid) → the certificate chain downloaded. Latency is that
// whole sequence. Accounts (ES256 keys, one per worker) are made before the timed runs. Nonces are
// chained from each answer's Replay-Nonce; a badNonce is retried, as RFC 8555 §6.5 asks of clients.
//
// Polling: the server says Retry-After: 1 on a pending order; a client that waits that long spends
// about a second per poll, which measures the client's patience, not the server. This bench polls
// every POLL_MS (default 50) instead and reports the requests an order took, polls included.
//
// Per concurrency level (C workers, each with its own account, ordering one after another for
// DURATION; orders started before the deadline finish): orders/s, p50/p99 of a whole order, the
// failed orders by problem type, the server's CPU per order (utime+stime from /proc over the
// level), the responder's and the load generator's CPU, the machine's busy CPU that is none of
// these (other work on a shared machine), and the check that every certificate downloaded is in
// certs.db (its PEM, in a row whose requested_by names the ACME account) and that the level added
// exactly as many ACME rows as orders completed.
//
// Env: CONCURRENCY (comma-separated levels, default 1,8,32), DURATION (seconds a level, default 10),
// POLL_MS (default 50), SERVE_ARGS (more serve flags, e.g. "--workers 1"). Uses dist/ as built.
// Exit code 0 when every level's check passed, 1 when the bench broke or a check failed, 2 on bad usage.
import { fork } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { base64url, calculateJwkThumbprint, exportJWK, FlattenedSign, generateKeyPair } from "jose";
import { gitRevision, machineCpu, mainJs, percentile, requireTools, root, sleep, startService, treeCpuSeconds } from "./lib.mjs";

function usage(message) {
  console.error(`bench: ${message}`);
  process.exit(2);
}
const CONCURRENCY = (process.env.CONCURRENCY || "1,8,32").split(",").map(Number);
if (!CONCURRENCY.every((c) => Number.isInteger(c) && c > 0)) usage(`CONCURRENCY="${process.env.CONCURRENCY}" is not a list of positive integers, e.g. 1,8,32`);
const DURATION = Number(process.env.DURATION || 10);
if (!(DURATION > 0)) usage(`DURATION="${process.env.DURATION}" is not a number of seconds`);
const POLL_MS = Number(process.env.POLL_MS || 50);
if (!(POLL_MS >= 0)) usage(`POLL_MS="${process.env.POLL_MS}" is not a number of milliseconds`);
const SERVE_ARGS = (process.env.SERVE_ARGS ?? "").split(" ").filter(Boolean);
const WARMUP_SECONDS = 2;
// Validation has a 10 s timeout per attempt (src/cli/serve/acme.ts): an order pending much longer is stuck.
const POLL_LIMIT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 30_000;
const WARMUP_WORKERS = 4;
requireTools([]);

// The service's own CSR builder, as built: the bench needs an ECDSA P-256 CSR with one DNS SAN.
const dist = (path) => import(pathToFileURL(join(root, "dist", "pki", path)).href);
const [{ buildCsr }, { generatePrivateKey }, { encodeName }, { commonNameOid }, { Tag }] = await Promise.all(
  ["csr.js", "keys.js", "name.js", "subject.js", "der.js"].map(dist),
);
async function csrFor(name) {
  const key = await generatePrivateKey({ algo: "ecdsa", size: 256 });
  const { der } = buildCsr(encodeName([[{ oid: commonNameOid, tag: Tag.utf8String, value: name }]]), { dns: [name], ip: [], email: [], uri: [] }, key);
  return base64url.encode(der);
}

const tmp = mkdtempSync(join(tmpdir(), "certwright-bench-acme-"));
let service;
let responder;
process.on("exit", () => {
  service?.child.kill("SIGKILL");
  responder?.kill("SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => process.exit(130));
const fmt = (n, digits = 0) => (n === undefined || Number.isNaN(n) ? "n/a" : Number(n).toFixed(digits));
const rel = (p) => relative(process.cwd(), p) || ".";

// ---------------------------------------------------------------- the responder, over IPC
async function startResponder() {
  const child = fork(join(root, "bench", "acme-responder.mjs"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const waiting = new Map();
  let nextId = 0;
  let statsWanted;
  const ready = new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the responder exited (${code})`)));
    child.on("message", (message) => {
      if (message.ready) resolve(message.ready);
      else if (message.ack !== undefined) {
        waiting.get(message.ack)();
        waiting.delete(message.ack);
      } else if (message.stats) statsWanted?.(message.stats);
    });
  });
  const ports = await ready;
  return {
    child,
    ...ports,
    kill: (signal) => child.kill(signal),
    /** Resolves once the responder serves `keyAuthorization` for `token`. */
    serve: (token, keyAuthorization) =>
      new Promise((resolve) => {
        const id = nextId++;
        waiting.set(id, resolve);
        child.send({ id, token, keyAuthorization });
      }),
    stats: () =>
      new Promise((resolve) => {
        statsWanted = resolve;
        child.send({ stats: true });
      }),
  };
}

// ---------------------------------------------------------------- a small ACME client
const agent = new Agent({ keepAlive: true, maxSockets: Math.max(...CONCURRENCY) + WARMUP_WORKERS });

/** One request to the service; resolves { status, headers, body (parsed JSON, if it is), text }. */
function send(port, method, path, payload) {
  return new Promise((resolve, reject) => {
    const bytes = payload === undefined ? undefined : Buffer.from(JSON.stringify(payload));
    const headers = bytes ? { "content-type": "application/jose+json", "content-length": bytes.length } : {};
    const req = request({ host: "127.0.0.1", port, method, path, agent, headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let body;
        if ((res.headers["content-type"] ?? "").includes("json")) body = JSON.parse(text);
        resolve({ status: res.statusCode, headers: res.headers, body, text });
      });
    });
    // An answer that never comes is a failed order, not a hung bench.
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer to ${method} ${path} within ${REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on("error", reject);
    req.end(bytes);
  });
}

class OrderFailed extends Error {
  constructor(step, answer) {
    super(`${step}: HTTP ${answer.status} ${answer.text.slice(0, 300)}`);
    this.kind = `${step}: ${answer.body?.type?.replace("urn:ietf:params:acme:error:", "") ?? `HTTP ${answer.status}`}`;
  }
}

class Account {
  requests = 0;
  badNonces = 0;
  /** Answers without a Replay-Nonce (the service could not store one): the next request HEADs newNonce first. */
  missingNonces = 0;
  nonce;

  constructor(port, directory) {
    this.port = port;
    this.directory = directory;
  }

  async create() {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    this.privateKey = privateKey;
    this.jwk = await exportJWK(publicKey);
    this.thumbprint = await calculateJwkThumbprint(this.jwk, "sha256");
    const answer = await this.post(this.directory.newAccount, { termsOfServiceAgreed: true }, "jwk");
    if (answer.status !== 201) throw new OrderFailed("newAccount", answer);
    this.kid = answer.headers.location;
    return this;
  }

  /** A JWS POST (payload "" is POST-as-GET), signed with the kid once the account exists. */
  async post(url, payload, use = "kid") {
    for (let attempt = 0; ; attempt++) {
      if (!this.nonce) this.nonce = (await send(this.port, "HEAD", new URL(this.directory.newNonce).pathname)).headers["replay-nonce"];
      const header = { alg: "ES256", nonce: this.nonce, url, ...(use === "kid" ? { kid: this.kid } : { jwk: this.jwk }) };
      this.nonce = undefined;
      const bytes = payload === "" ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(payload));
      const jws = await new FlattenedSign(bytes).setProtectedHeader(header).sign(this.privateKey);
      this.requests++;
      const answer = await send(this.port, "POST", new URL(url).pathname, jws);
      this.nonce = answer.headers["replay-nonce"];
      if (!this.nonce) this.missingNonces++;
      if (answer.status === 400 && answer.body?.type === "urn:ietf:params:acme:error:badNonce" && attempt < 3) {
        this.badNonces++;
        continue;
      }
      return answer;
    }
  }

  /** Polls the order until `done(status)`; an order still not done after POLL_LIMIT_MS fails, so nothing hangs. */
  async poll(url, done) {
    const give = performance.now() + POLL_LIMIT_MS;
    for (;;) {
      await sleep(POLL_MS);
      const answer = await this.post(url, "");
      if (answer.status !== 200) throw new OrderFailed("poll", answer);
      if (done(answer.body.status)) return answer;
      if (performance.now() > give) {
        const authz = await this.post(answer.body.authorizations[0], "");
        const states = `authorization ${authz.body?.status}, challenge ${authz.body?.challenges?.map((c) => c.status).join(",")}`;
        throw new OrderFailed(`order still ${answer.body.status} after ${POLL_LIMIT_MS / 1000} s`, { status: 200, text: states, body: { type: states } });
      }
    }
  }

  /** One whole order for `name`; resolves { name, pem (the leaf), chain, ms }. */
  async order(name, serve) {
    const t0 = performance.now();
    const order = await this.post(this.directory.newOrder, { identifiers: [{ type: "dns", value: name }] });
    if (order.status !== 201) throw new OrderFailed("newOrder", order);
    const authz = await this.post(order.body.authorizations[0], "");
    if (authz.status !== 200) throw new OrderFailed("authz", authz);
    const challenge = authz.body.challenges.find((c) => c.type === "http-01");
    await serve(challenge.token, `${challenge.token}.${this.thumbprint}`);
    const answered = await this.post(challenge.url, {});
    if (answered.status !== 200) throw new OrderFailed("challenge", answered);
    const location = order.headers.location;
    const ready = await this.poll(location, (status) => status !== "pending");
    if (ready.body.status !== "ready") throw new OrderFailed(`order ${ready.body.status}`, { status: 200, text: JSON.stringify(ready.body.error), body: ready.body.error });
    let finalized = await this.post(ready.body.finalize, { csr: await csrFor(name) });
    if (finalized.status !== 200) throw new OrderFailed("finalize", finalized);
    if (finalized.body.status !== "valid") finalized = await this.poll(location, (status) => status === "valid" || status === "invalid");
    if (finalized.body.status !== "valid") throw new OrderFailed(`order ${finalized.body.status}`, { status: 200, text: JSON.stringify(finalized.body.error), body: finalized.body.error });
    const certificate = await this.post(finalized.body.certificate, "");
    if (certificate.status !== 200) throw new OrderFailed("certificate", certificate);
    const chain = certificate.text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
    return { name, pem: chain[0]?.trim(), chain: chain.length, ms: performance.now() - t0 };
  }
}

// ---------------------------------------------------------------- a level
let orderSeq = 0;

/** C workers, each ordering with its account until `seconds` have passed; the orders started finish. */
async function run(accounts, seconds) {
  const deadline = performance.now() + seconds * 1000;
  const done = [];
  const failures = new Map();
  const t0 = performance.now();
  await Promise.all(
    accounts.map(async (account, w) => {
      while (performance.now() < deadline) {
        const name = `o${orderSeq++}.w${w}.bench.test`;
        try {
          done.push(await account.order(name, responder.serve));
        } catch (error) {
          const kind = error instanceof OrderFailed ? error.kind : `client: ${error.message}`;
          failures.set(kind, [(failures.get(kind)?.[0] ?? 0) + 1, error.message]);
        }
      }
    }),
  );
  return { done, failures, seconds: (performance.now() - t0) / 1000 };
}

const db = () => new Database(join(tmp, "data", "certs.db"), { readonly: true, fileMustExist: true });
function acmeRows() {
  const d = db();
  try {
    return d.prepare("SELECT count(*) AS n FROM certificates WHERE requested_by LIKE 'acme:%'").get().n;
  } finally {
    d.close();
  }
}

/** Which of these leaves are not in certs.db as issued to their account, and which do not verify. */
function check(done, ca, kidOf) {
  const d = db();
  const bySerial = d.prepare("SELECT pem, requested_by FROM certificates WHERE serial_number = ?");
  const problems = [];
  try {
    for (const order of done) {
      const leaf = new X509Certificate(order.pem);
      if (order.chain !== 2) problems.push(`${order.name}: a chain of ${order.chain} certificates, not the leaf and the CA`);
      if (leaf.subjectAltName !== `DNS:${order.name}`) problems.push(`${order.name}: the certificate is for ${leaf.subjectAltName}`);
      if (!leaf.verify(ca.publicKey)) problems.push(`${order.name}: the certificate is not signed by the CA`);
      const row = bySerial.get(BigInt(`0x${leaf.serialNumber}`).toString(10));
      if (row?.pem.trim() !== order.pem) problems.push(`${order.name}: serial ${leaf.serialNumber} is not in certs.db with this PEM`);
      else if (!row.requested_by.endsWith(`:${kidOf(order).split("/").pop()}`)) problems.push(`${order.name}: the row names ${row.requested_by}, not the account`);
    }
  } finally {
    d.close();
  }
  return problems;
}

/** Waits until the service is idle (the last level's work done), at most 10 s. */
async function settle(pid) {
  for (let quiet = 0, i = 0; quiet < 2 && i < 20; i++) {
    const c0 = treeCpuSeconds(pid);
    await sleep(500);
    quiet = treeCpuSeconds(pid) - c0 < 0.05 ? quiet + 1 : 0;
  }
}

// ---------------------------------------------------------------- the run
async function main() {
  const rev = gitRevision();
  console.log(`certwright bench:acme: ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), node ${process.version}, git ${rev}, ${rel(mainJs)}`);

  responder = await startResponder();
  const config = JSON.parse(readFileSync(join(root, "profiles", "ca-config.json"), "utf8"));
  config.acme = { bench: { profile: "server", challenges: ["http-01"] } };
  writeFileSync(join(tmp, "ca-config.json"), JSON.stringify(config));
  const serveArgs = ["--config", join(tmp, "ca-config.json"), "--acme-http-port", String(responder.httpPort), "--acme-dns-resolver", `127.0.0.1:${responder.dnsPort}`, ...SERVE_ARGS];
  service = await startService(join(tmp, "data"), join(tmp, "service.log"), serveArgs);
  const pid = service.child.pid;
  console.log(`service pid ${pid} port ${service.port}; responder pid ${responder.child.pid} (http ${responder.httpPort}, dns ${responder.dnsPort}); work dir ${tmp}`);
  console.log(`  node --max-semi-space-size=2 dist/service/main.cjs serve --port PORT --data-dir DIR --log-level info --config CONFIG --acme-http-port ${responder.httpPort} --acme-dns-resolver 127.0.0.1:${responder.dnsPort}${SERVE_ARGS.map((a) => ` ${a}`).join("")}`);
  console.log(`  provisioner "bench": profile server, http-01; each level ${DURATION} s after a ${WARMUP_SECONDS} s warm-up of ${WARMUP_WORKERS} workers; polling every ${POLL_MS} ms\n`);

  const directory = (await send(service.port, "GET", "/acme/bench/directory")).body;
  const ca = new X509Certificate(readFileSync(join(tmp, "data", "ca.pem")));
  const accounts = [];
  for (let i = 0; i < Math.max(WARMUP_WORKERS, ...CONCURRENCY); i++) accounts.push(await new Account(service.port, directory).create());
  const kidOf = (order) => accounts[Number(/\.w(\d+)\./.exec(order.name)[1])].kid;

  const warm = await run(accounts.slice(0, WARMUP_WORKERS), WARMUP_SECONDS);
  if (warm.done.length === 0) throw new Error(`no order completed in the warm-up: ${[...warm.failures.values()].map(([n, m]) => `${n}× ${m}`).join("; ")}`);

  const results = [];
  for (const c of CONCURRENCY) {
    const workers = accounts.slice(0, c);
    await settle(pid);
    const rows0 = acmeRows();
    const requests0 = workers.reduce((n, a) => n + a.requests, 0);
    const badNonces0 = workers.reduce((n, a) => n + a.badNonces, 0);
    const missing0 = workers.reduce((n, a) => n + a.missingNonces, 0);
    const stats0 = await responder.stats();
    const load = loadavg()[0];
    const m0 = machineCpu();
    const svc0 = treeCpuSeconds(pid);
    const resp0 = treeCpuSeconds(responder.child.pid);
    const own0 = process.cpuUsage();
    const r = await run(workers, DURATION);
    const ownCpu = process.cpuUsage(own0);
    const svc = treeCpuSeconds(pid) - svc0;
    const resp = treeCpuSeconds(responder.child.pid) - resp0;
    const m1 = machineCpu();
    const stats1 = await responder.stats();
    await sleep(200); // a validation of a failed order may still be recording
    const rows = acmeRows() - rows0;
    const n = r.done.length;
    const own = (ownCpu.user + ownCpu.system) / 1e6;
    const problems = check(r.done, ca, kidOf);
    const failed = [...r.failures.values()].reduce((sum, [count]) => sum + count, 0);
    const res = {
      c,
      orders: n,
      failed,
      failures: r.failures,
      rps: n / r.seconds,
      p50: percentile(r.done.map((o) => o.ms), 50),
      p99: percentile(r.done.map((o) => o.ms), 99),
      rows,
      problems,
      pass: problems.length === 0 && rows === n,
      requestsPerOrder: (workers.reduce((sum, a) => sum + a.requests, 0) - requests0) / (n + failed),
      badNonces: workers.reduce((sum, a) => sum + a.badNonces, 0) - badNonces0,
      missingNonces: workers.reduce((sum, a) => sum + a.missingNonces, 0) - missing0,
      validations: stats1.httpRequests - stats0.httpRequests,
      dnsQueries: stats1.dnsQueries - stats0.dnsQueries,
      svcMs: (svc / n) * 1000,
      respMs: (resp / n) * 1000,
      ownMs: (own / n) * 1000,
      svcCores: svc / r.seconds,
      ownCores: own / r.seconds,
      otherCores: (m1.busy - m0.busy - svc - resp - own) / r.seconds,
      load,
    };
    results.push(res);
    console.log(
      `  ${c} worker(s): ${fmt(res.rps, 1)} orders/s, p50 ${fmt(res.p50, 1)} ms, p99 ${fmt(res.p99, 1)} ms per order; ${n} orders, ${failed} failed; ` +
        `${fmt(res.requestsPerOrder, 1)} requests/order, ${res.badNonces} badNonce retries, ${res.missingNonces} answers without Replay-Nonce, ${res.validations} http-01 GETs, ${res.dnsQueries} DNS queries; ` +
        `CPU ${fmt(res.svcMs, 2)} ms/order server (${fmt(res.svcCores, 2)} cores), ${fmt(res.respMs, 2)} responder, ${fmt(res.ownMs, 2)} load generator (${fmt(res.ownCores, 2)} cores), ${fmt(res.otherCores, 2)} cores not this bench; ` +
        `load avg before ${fmt(load, 2)}; ${rows} ACME rows in certs.db: ${res.pass ? "PASS" : "FAIL"}`,
    );
    for (const [kind, [count, message]] of r.failures) console.log(`    failed ${count}× ${kind} (e.g. ${message})`);
    for (const problem of problems.slice(0, 5)) console.log(`    ${problem}`);
  }
  await service.stop();
  // What the service logged as warnings or errors (pino levels 40 and 50+) during the whole run.
  const logged = readFileSync(join(tmp, "service.log"), "utf8")
    .split("\n")
    .flatMap((line) => {
      try {
        const entry = JSON.parse(line);
        return entry.level >= 40 ? [entry] : [];
      } catch {
        return [];
      }
    });
  console.log(`\nservice log: ${logged.filter((e) => e.level >= 50).length} errors, ${logged.filter((e) => e.level === 40).length} warnings`);
  for (const entry of logged.slice(0, 5)) console.log(`  level ${entry.level}: ${entry.msg} ${entry.err?.message ?? ""}`.trimEnd());

  const headers = ["workers", "orders/s", "p50 order", "p99 order", "orders", "failed", "rows", "rows = orders, each PEM in certs.db", "server CPU ms/order", "requests/order", "load gen cores", "not this bench"];
  const rows = results.map((r) => [
    r.c,
    fmt(r.rps, 1),
    `${fmt(r.p50, 1)} ms`,
    `${fmt(r.p99, 1)} ms`,
    r.orders,
    r.failed,
    r.rows,
    r.pass ? "PASS" : "FAIL",
    fmt(r.svcMs, 2),
    fmt(r.requestsPerOrder, 1),
    fmt(r.ownCores, 2),
    `${fmt(r.otherCores, 2)} cores`,
  ]);
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(" | ")} |`;
  console.log(`\n${line(headers)}\n|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of rows) console.log(line(r));
  const failing = results.filter((r) => !r.pass).length;
  console.log(`\n${failing === 0 ? "every certificate downloaded is in certs.db, issued to its account, and each level added exactly one ACME row per order" : `${failing} level(s) failed the check`}`);
  return failing === 0;
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (error) => {
    console.error(`\nbench: broke: ${error.stack ?? error}`);
    process.exit(1);
  },
);
