// Replicas of the real service (separate `serve` processes, one CA) on one real PostgreSQL database:
// a replica killed under load loses nothing another answered, a database restart is ridden out with
// 503s and no restart of the service, a revocation at one replica reaches the other's CRL and OCSP,
// the rate limit and replay nonces are one count across replicas, and a replica of another CA is
// refused at start.
import { createHmac, X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import pg from "pg";
import t, { type Test } from "tap";
import { type PostgresCluster, postgresSkip, startPostgres } from "../helpers/postgres.js";
import { opensslAsync } from "../helpers/service-checks.js";
import {
  authorityKeyId,
  decimalSerial,
  mustOpenssl,
  oneLine,
  openssl,
  postJson,
  runCli,
  type ServerProcess,
  startService,
  subjectKeyId,
  tempDir,
  writeFile,
} from "../helpers/server.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Ca {
  cert: string;
  key: string;
  pem: string;
  ski: string;
}

/** The CA every replica is given with --ca and --ca-key, made by openssl. */
function makeCa(dir: string): Ca {
  const cert = join(dir, "ca.pem");
  const key = join(dir, "ca-key.pem");
  mustOpenssl([
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
    "-subj", "/O=certwright tests/CN=replicas test CA", "-days", "30",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
  ]);
  const pem = readFileSync(cert, "utf8");
  return { cert, key, pem, ski: subjectKeyId(pem) };
}

/** A replica: its own data directory, the shared database and CA; one signing thread (a 2-core machine runs two). */
function replica(t: Parameters<typeof startService>[0], cwd: string, name: string, database: string, ca: Ca, ...more: string[]): Promise<ServerProcess> {
  const args = ["--data-dir", join(cwd, name), "--database", database, "--ca", ca.cert, "--ca-key", ca.key, "--workers", "1", "--log-level", "warn", ...more];
  return startService(t, { cwd, args, timeoutMs: 30_000 });
}

/** A CSR made once by openssl; each sign request of it gets its own serial. */
function signBody(cwd: string): string {
  mustOpenssl(["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", join(cwd, "load-key.pem")]);
  mustOpenssl(["req", "-new", "-key", join(cwd, "load-key.pem"), "-subj", "/CN=load.example.com", "-addext", "subjectAltName=DNS:load.example.com", "-out", join(cwd, "load.csr")]);
  return JSON.stringify({ certificate_request: readFileSync(join(cwd, "load.csr"), "utf8"), profile: "server" });
}

interface Outcome {
  replica: string;
  status?: number;
  body?: string;
  error?: string;
  sentAt: number;
  settledAt: number;
}

/** Posts to /sign on a keep-alive socket; tracks what is on the wire per replica. */
function signer(body: string) {
  const inFlight = new Map<string, number>();
  const send = (server: ServerProcess, name: string, agent: Agent) =>
    new Promise<Outcome>((resolve) => {
      const sentAt = Date.now();
      inFlight.set(name, (inFlight.get(name) ?? 0) + 1);
      let done = false;
      const settle = (result: Partial<Outcome>) => {
        if (done) return;
        done = true;
        inFlight.set(name, inFlight.get(name)! - 1);
        resolve({ replica: name, sentAt, settledAt: Date.now(), ...result });
      };
      const req = request(
        `${server.api}/sign`,
        { method: "POST", agent, timeout: 30_000, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => settle({ status: res.statusCode ?? 0, body: text }));
          res.on("error", (error) => settle({ error: (error as NodeJS.ErrnoException).code ?? error.message }));
        },
      );
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", (error) => settle({ error: (error as NodeJS.ErrnoException).code ?? error.message }));
      req.end(body);
    });
  return { send, inFlight: (name: string) => inFlight.get(name) ?? 0 };
}

/** The certificate of a 200 answer with success, or undefined. */
function certificateOf(outcome: Outcome): string | undefined {
  if (outcome.status !== 200 || outcome.body === undefined) return undefined;
  const envelope = JSON.parse(outcome.body) as { success?: boolean; result?: { certificate?: string } };
  return envelope.success ? envelope.result?.certificate : undefined;
}

/** The rows of the certificates table, read from PostgreSQL directly: serial → pem. */
async function recordedRows(url: string): Promise<Map<string, { pem: string; aki: string }>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ serial_number: string; pem: string; authority_key_identifier: string }>(
      "SELECT serial_number, pem, authority_key_identifier FROM certificates",
    );
    return new Map(rows.map((row) => [row.serial_number, { pem: row.pem, aki: row.authority_key_identifier }]));
  } finally {
    await client.end();
  }
}

/** Every answered certificate is distinct and has its row, under the CA, with its PEM. */
async function checkRecorded(t: Test, url: string, pems: string[], ca: Ca) {
  const serials = pems.map((pem) => decimalSerial(new X509Certificate(pem).serialNumber));
  t.equal(new Set(serials).size, serials.length, `the ${serials.length} answered serials are distinct`);
  const rows = await recordedRows(url);
  const missing = serials.filter((serial) => !rows.has(serial));
  t.same(missing, [], `every answered serial is in PostgreSQL (${rows.size} rows)`);
  const wrong = serials.filter((serial, i) => rows.has(serial) && (rows.get(serial)!.pem !== pems[i] || rows.get(serial)!.aki !== ca.ski));
  t.same(wrong, [], "each row holds the answered PEM under the CA's key id");
  t.ok(rows.size >= serials.length, `rows ${rows.size} >= answers ${serials.length}`);
  return rows.size;
}

interface Crl {
  number: number;
  serials: bigint[];
}

/** The CRL at /crl/default.crl, checked by openssl against the CA. */
async function fetchCrl(t: Test, server: ServerProcess, dir: string, ca: Ca): Promise<Crl> {
  const response = await fetch(`${server.url}/crl/default.crl`);
  t.equal(response.status, 200, "the CRL is served");
  t.equal(response.headers.get("content-type"), "application/pkix-crl");
  const file = join(dir, `crl-${server.port}-${Date.now()}.der`);
  writeFileSync(file, Buffer.from(await response.arrayBuffer()));
  const result = openssl(["crl", "-inform", "DER", "-in", file, "-CAfile", ca.cert, "-noout", "-text"]);
  t.equal(result.status, 0, `openssl crl: ${result.stderr}`);
  t.match(result.stderr, /verify OK/, "the CRL's signature verifies against the CA");
  const number = Number(/X509v3 CRL Number:\s*\n\s*(\d+)/.exec(result.stdout)?.[1]);
  const serials = [...result.stdout.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => BigInt(`0x${m[1]}`));
  return { number, serials };
}

function ocspAsk(server: ServerProcess, ca: Ca, certFile: string) {
  return opensslAsync(["ocsp", "-issuer", ca.cert, "-cert", certFile, "-url", `${server.url}/ocsp`, "-CAfile", ca.cert, "-no_nonce"]);
}

/** Polls until `check` holds or `ms` pass; the time it took, or undefined. */
async function waitFor(check: () => Promise<boolean> | boolean, ms: number, every = 100): Promise<number | undefined> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await check()) return Date.now() - start;
    await sleep(every);
  }
  return undefined;
}

const readyStatus = async (server: ServerProcess) => {
  const response = await fetch(`${server.url}/api/v1/ready`);
  return { status: response.status, body: (await response.json()) as { success: boolean; errors: { code: number; message: string }[] } };
};

t.test("replicas on one PostgreSQL database", { skip: postgresSkip }, async (t) => {
  const cluster = await startPostgres(t);
  const cwd = tempDir(t);
  const ca = makeCa(cwd);

  t.test("two replicas under 32-way sign load, one SIGKILLed: every answered serial is recorded, the other never falters", async (t) => {
    const url = await cluster.createDatabase("killed");
    const a = await replica(t, cwd, "kill-a", url, ca);
    const b = await replica(t, cwd, "kill-b", url, ca);
    const { send, inFlight } = signer(signBody(cwd));
    const agents = { a: new Agent({ keepAlive: true, maxSockets: 16 }), b: new Agent({ keepAlive: true, maxSockets: 16 }) };
    t.teardown(() => {
      for (const agent of Object.values(agents)) agent.destroy();
    });

    /** Answers before the kill: enough that it lands in the middle of the load. */
    const answersBeforeKill = 150;
    let answered = 0;
    let killedAt = 0;
    let inFlightAtKill = 0;
    let bOkAfterKill = 0;
    const maybeKill = () => {
      if (killedAt || answered < answersBeforeKill || inFlight("a") < 4) return;
      killedAt = Date.now();
      inFlightAtKill = inFlight("a");
      a.child.kill("SIGKILL");
    };
    const client = async (name: "a" | "b") => {
      const server = name === "a" ? a : b;
      const outcomes: Outcome[] = [];
      for (let i = 0; i < 2_000; i++) {
        const outcome = await send(server, name, agents[name]);
        outcomes.push(outcome);
        if (outcome.status === 200) {
          answered++;
          if (name === "b" && killedAt && outcome.sentAt > killedAt) bOkAfterKill++;
        }
        maybeKill();
        if (outcome.error !== undefined) break; // A is gone (or B failed, which the checks below report)
        if (name === "b" && killedAt && Date.now() - killedAt > 2_000 && bOkAfterKill >= 50) break;
      }
      return outcomes;
    };
    const started = Date.now();
    const outcomes = (await Promise.all(Array.from({ length: 32 }, (_, n) => client(n < 16 ? "a" : "b")))).flat();
    const exit = await a.exited;
    t.ok(killedAt > 0, "replica A was killed during the load");
    t.equal(exit.signal, "SIGKILL");
    t.ok(inFlightAtKill >= 4, `${inFlightAtKill} requests were on the wire to A at the kill`);

    const fromA = outcomes.filter((o) => o.replica === "a");
    const fromB = outcomes.filter((o) => o.replica === "b");
    t.same(
      fromA.filter((o) => o.error === undefined && certificateOf(o) === undefined).map((o) => `${o.status}: ${o.body?.slice(0, 200)}`),
      [],
      "every answer A gave is a 200 with a certificate",
    );
    t.same(
      fromB.filter((o) => certificateOf(o) === undefined).map((o) => o.error ?? `${o.status}: ${o.body?.slice(0, 200)}`),
      [],
      "B answered every request 200 with a certificate, before and after the kill",
    );
    t.ok(bOkAfterKill > 0, `B answered ${bOkAfterKill} requests sent after the kill`);
    const pems = outcomes.map(certificateOf).filter((pem): pem is string => pem !== undefined);
    const cutOff = fromA.filter((o) => o.error !== undefined).length;
    const rows = await checkRecorded(t, url, pems, ca);
    t.ok(rows <= outcomes.length, "no more rows than requests");
    t.comment(
      `${outcomes.length} requests in ${Date.now() - started} ms: ${pems.length} answered 200 (A ${fromA.filter((o) => o.status === 200).length}, ` +
        `B ${fromB.filter((o) => o.status === 200).length}, ${bOkAfterKill} of B's sent after the kill); ${cutOff} cut off at A ` +
        `(${inFlightAtKill} on the wire at the kill); ${rows} rows`,
    );

    const after = await postJson(b.api, "newcert", { request: { CN: "after.example.com", hosts: ["after.example.com"] }, profile: "server" });
    t.equal(after.status, 200, "B still issues");
  });

  t.test("a revocation at A is in B's CRL within 1.5 s and in B's OCSP answer; CRL numbers grow across replicas", async (t) => {
    const url = await cluster.createDatabase("revoked");
    const a = await replica(t, cwd, "revoke-a", url, ca);
    const b = await replica(t, cwd, "revoke-b", url, ca);
    const issued = await postJson(a.api, "newcert", { request: { CN: "web.internal", hosts: ["web.internal"] }, profile: "server" });
    t.equal(issued.status, 200);
    const pem = issued.body.result.certificate as string;
    const certFile = writeFile(cwd, "revoked-web.pem", pem);
    const serial = BigInt(`0x${new X509Certificate(pem).serialNumber}`);

    const crlA1 = await fetchCrl(t, a, cwd, ca);
    const crlB1 = await fetchCrl(t, b, cwd, ca);
    t.notOk(crlB1.serials.includes(serial), "B's CRL, cached before the revocation, does not list it");
    const good = await ocspAsk(b, ca, certFile);
    t.equal(good.status, 0, good.stderr);
    t.match(good.stdout, `${certFile}: good`, "B's OCSP says good before");

    const revoked = await postJson(a.api, "revoke", { serial: serial.toString(10), authority_key_id: authorityKeyId(pem), reason: "keyCompromise" });
    t.equal(revoked.status, 200, JSON.stringify(revoked.body));
    const revokedAt = Date.now();
    let crlB2: Crl | undefined;
    const delay = await waitFor(async () => {
      crlB2 = await fetchCrl(t, b, cwd, ca);
      return crlB2.serials.includes(serial);
    }, 10_000);
    // The requirement; a failure here is reported, not loosened.
    t.ok(delay !== undefined && delay <= 1_500, `B's CRL lists the revocation ${delay === undefined ? "never (10 s)" : `${Date.now() - revokedAt} ms`} after A answered (want <= 1500 ms)`);
    t.comment(`revocation visible in B's CRL ${Date.now() - revokedAt} ms after A's answer`);

    const answer = await ocspAsk(b, ca, certFile);
    t.equal(answer.status, 0, answer.stderr);
    t.match(answer.stderr, /Response verify OK/);
    t.match(answer.stdout, `${certFile}: revoked`, "B's OCSP says revoked");
    t.match(answer.stdout, /Reason: keyCompromise/);

    const crlA2 = await fetchCrl(t, a, cwd, ca);
    t.ok(crlA2.serials.includes(serial), "A's CRL lists it");
    const numbers = [crlA1.number, crlB1.number, crlB2!.number, crlA2.number];
    t.ok(
      numbers.every((n, i) => i === 0 || n > numbers[i - 1]!),
      `CRL numbers only grow across replicas, in the order signed: ${numbers.join(", ")}`,
    );
  });

  t.test("the rate limit and replay nonces are one count across replicas", async (t) => {
    const url = await cluster.createDatabase("guarded");
    const authKey = "8899aabbccddeeff0011223344556677";
    const config = writeFile(
      cwd,
      "guarded-config.json",
      JSON.stringify({
        auth_keys: { ci: { type: "standard", key: authKey } },
        signing: {
          default: { usages: ["digital signature", "server auth"], expiry: "24h" },
          profiles: { locked: { usages: ["digital signature", "server auth"], expiry: "24h", auth_key: "ci" } },
        },
      }),
    );
    const flags = ["--config", config, "--rate-limit", "5/m", "--replay-window", "5m"];
    const a = await replica(t, cwd, "guard-a", url, ca, ...flags);
    const b = await replica(t, cwd, "guard-b", url, ca, ...flags);

    // Windows are fixed minutes: six requests must not straddle one's end.
    if (Date.now() % 60_000 > 45_000) await sleep(60_000 - (Date.now() % 60_000) + 200);
    const statuses: number[] = [];
    let last: Response | undefined;
    for (const server of [a, a, a, b, b, b]) {
      last = await fetch(`${server.api}/info`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      statuses.push(last.status);
      if (last.status !== 429) await last.arrayBuffer();
    }
    t.same(statuses, [200, 200, 200, 200, 200, 429], "3 at A and 3 at B from one client: the 6th is over 5/m");
    const refused = (await last!.json()) as { success: boolean; errors: { code: number; message: string }[] };
    t.equal(refused.success, false);
    t.match(refused.errors[0]!.message, /more than 5 requests in 60s/);
    t.ok(Number(last!.headers.get("retry-after")) >= 1, "with Retry-After");

    // An authenticated request counts against its key, not the address (over its limit already):
    // the HMAC in the header, the timestamp and nonce in the body it covers.
    const body = JSON.stringify({
      certificate_request: (JSON.parse(signBody(cwd)) as { certificate_request: string }).certificate_request,
      profile: "locked",
      timestamp: Math.floor(Date.now() / 1000),
      nonce: "f3a1c9d2e4b5a6c7d8e9f0a1b2c3d4e5",
    });
    const authorization = `CFSSL-HMAC ci:${createHmac("sha256", Buffer.from(authKey, "hex")).update(body).digest("base64")}`;
    const signAt = async (server: ServerProcess) => {
      const response = await fetch(`${server.api}/sign`, { method: "POST", headers: { "content-type": "application/json", authorization }, body });
      return { status: response.status, body: (await response.json()) as { errors: { code: number; message: string }[] } };
    };
    const first = await signAt(a);
    t.equal(first.status, 200, `the first use of a nonce, at A: ${JSON.stringify(first.body.errors)}`);
    const replayed = await signAt(b);
    t.equal(replayed.status, 403, `the same signed request at B is a replay: ${JSON.stringify(replayed.body.errors)}`);
    t.equal(replayed.body.errors[0]?.code, 13300);
    t.match(replayed.body.errors[0]?.message, /seen before/);
  });

  t.test("a replica of another CA is refused at start, naming the database's CA", async (t) => {
    const url = await cluster.createDatabase("owned");
    const a = await replica(t, cwd, "owner", url, ca);
    const before = await recordedRows(url);
    // No --ca: the data directory makes its own CA on first start.
    const withPassword = url.replace("//certwright@", "//certwright:s3cret@");
    const other = await runCli(t, ["serve", "--port", "0", "--data-dir", join(cwd, "other-ca"), "--database", withPassword, "--workers", "1"], { cwd, timeoutMs: 30_000 });
    t.equal(other.code, 1, `exit code 1: ${other.stderr}`);
    oneLine(t, other.stderr);
    t.match(other.stderr, /belongs to another CA/);
    t.ok(other.stderr.includes(ca.ski), `the message names the database's CA (${ca.ski})`);
    t.notMatch(other.stderr, /s3cret/, "the URL's password is not shown");
    t.equal((await recordedRows(url)).size, before.size, "nothing was recorded");
    const still = await postJson(a.api, "newcert", { request: { CN: "still.internal", hosts: ["still.internal"] }, profile: "server" });
    t.equal(still.status, 200, "the first replica still issues");
  });
});

t.test("PostgreSQL restarted under load: 503 while it is down, 200 again without restarting the service", { skip: postgresSkip }, async (t) => {
  // A cluster of its own: stopping it must not touch the other tests' databases.
  const cluster: PostgresCluster = await startPostgres(t);
  const url = await cluster.createDatabase("restarted");
  const cwd = tempDir(t);
  const ca = makeCa(cwd);
  const server = await replica(t, cwd, "restart", url, ca);
  // A second replica whose every request is first counted (and nonce-checked) in the database too.
  const guarded = await replica(t, cwd, "restart-guarded", url, ca, "--rate-limit", "100000/m", "--replay-window", "5m");
  const newcert = (at: ServerProcess, cn: string) => postJson(at.api, "newcert", { request: { CN: cn, hosts: [cn] }, profile: "server" });
  let exited = false;
  void server.exited.then(() => (exited = true));

  const issued = await postJson(server.api, "newcert", { request: { CN: "known.internal", hosts: ["known.internal"] }, profile: "server" });
  t.equal(issued.status, 200);
  const knownPem = issued.body.result.certificate as string;
  const certFile = writeFile(cwd, "known.pem", knownPem);
  const good = await ocspAsk(server, ca, certFile);
  t.match(good.stdout, `${certFile}: good`, "OCSP read the certificate's status while the database was up");
  const unasked = await newcert(server, "unasked.internal");
  const unaskedFile = writeFile(cwd, "unasked.pem", unasked.body.result.certificate);
  const crlBefore = await fetchCrl(t, server, cwd, ca);
  t.equal((await readyStatus(server)).status, 200, "ready before");

  const { send } = signer(signBody(cwd));
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  t.teardown(() => agent.destroy());
  let stopLoad = false;
  let ok = 0;
  const client = async () => {
    const outcomes: Outcome[] = [];
    while (!stopLoad && outcomes.length < 5_000) {
      const outcome = await send(server, "r", agent);
      outcomes.push(outcome);
      if (outcome.status === 200) ok++;
      // Refusals come back at once: a short pause keeps the clients from spinning the CPU.
      else await sleep(50);
    }
    return outcomes;
  };
  const clients = Promise.all(Array.from({ length: 8 }, client));
  t.ok((await waitFor(() => ok >= 40, 30_000)) !== undefined, "issuing under load before the stop");

  cluster.stop();
  const downAt = Date.now();
  const readyDown = await waitFor(async () => (await readyStatus(server)).status === 503, 10_000);
  t.ok(readyDown !== undefined, `/api/v1/ready answers 503 once the database is down (${readyDown} ms)`);
  const notReady = await readyStatus(server);
  t.equal(notReady.body.success, false);
  t.equal(notReady.body.errors[0]?.code, 12200);

  const ocspDown = await ocspAsk(server, ca, certFile);
  t.equal(ocspDown.status, 0, ocspDown.stderr);
  t.match(ocspDown.stderr, /Response verify OK/);
  t.match(ocspDown.stdout, `${certFile}: good`, "OCSP answers from the status it read, while the database is down");
  const unaskedDown = await ocspAsk(server, ca, unaskedFile);
  t.match(`${unaskedDown.stdout}${unaskedDown.stderr}`, /trylater/i, "a certificate OCSP never read is answered tryLater, not good");
  const crlDown = await fetchCrl(t, server, cwd, ca);
  t.equal(crlDown.number, crlBefore.number, "the cached CRL is served while the database is down");
  const bareDown = await newcert(server, "down.internal");
  t.equal(bareDown.status, 503, "newcert too is refused while it is down");
  const guardedDown = await newcert(guarded, "guarded-down.internal");
  t.equal(guardedDown.status, 503, `a replica with --rate-limit refuses with 503, not 500: ${JSON.stringify(guardedDown.body.errors)}`);
  // The rate limit lets it through while it cannot count (PostgresGuards), and issuance refuses it.
  t.ok([11100, 12200].includes(guardedDown.body.errors[0]?.code ?? 0), "with code 11100 or 12200");
  const listDown = await fetch(`${server.url}/api/v1/certificates?limit=5`);
  t.equal(listDown.status, 503, `the inventory is refused with 503 while it is down: ${(await listDown.text()).slice(0, 300)}`);
  const overviewDown = await fetch(`${server.url}/api/v1/admin/overview`);
  t.equal(overviewDown.status, 503, `so is the console's overview: ${(await overviewDown.text()).slice(0, 300)}`);
  await sleep(Math.max(0, 2_500 - (Date.now() - downAt)));

  const startCalledAt = Date.now();
  cluster.start();
  const upAt = Date.now();
  const okBefore = ok;
  const recovered = await waitFor(() => ok > okBefore, 15_000, 50);
  const readyUp = await waitFor(async () => (await readyStatus(server)).status === 200, 15_000);
  t.ok(readyUp !== undefined, `/api/v1/ready answers 200 again (${readyUp} ms after the start returned)`);
  const okAfterUp = ok;
  await waitFor(() => ok >= okAfterUp + 20, 15_000, 50);
  stopLoad = true;
  const outcomes = (await clients).flat();

  t.notOk(exited, "the same service process rode it out");
  // Each replica finds the database back on its own next poll (every half second).
  await waitFor(async () => (await readyStatus(guarded)).status === 200, 15_000);
  const guardedUp = await newcert(guarded, "guarded-up.internal");
  t.equal(guardedUp.status, 200, `the replica with --rate-limit issues again too: ${JSON.stringify(guardedUp.body.errors)}`);
  const failed = outcomes.filter((o) => o.error !== undefined).map((o) => o.error);
  t.same(failed, [], "no request failed at the network level");
  const badRefusals: string[] = [];
  let refusals = 0;
  for (const o of outcomes) {
    if (o.status === 200) continue;
    refusals++;
    const envelope = JSON.parse(o.body ?? "{}") as { success?: boolean; errors?: { code: number }[] };
    if (o.status !== 503 || envelope.success !== false || ![11100, 12200].includes(envelope.errors?.[0]?.code ?? 0)) badRefusals.push(`${o.status}: ${o.body?.slice(0, 200)}`);
  }
  t.same(badRefusals, [], "every refusal is a 503 with the cfssl envelope, code 11100 or 12200");
  const whileDown = outcomes.filter((o) => o.sentAt >= downAt && o.settledAt <= startCalledAt);
  t.ok(whileDown.length > 0, `requests were sent while it was down (${whileDown.length})`);
  t.same(
    whileDown.filter((o) => o.status === 200).length,
    0,
    "none answered 200 while the database was down",
  );
  const afterUp = outcomes.filter((o) => o.sentAt >= upAt && o.status === 200);
  t.ok(afterUp.length > 0, `the same process answers 200 again after the restart (${afterUp.length})`);
  const firstAfter = Math.min(...afterUp.map((o) => o.settledAt)) - upAt;
  t.ok(recovered !== undefined && firstAfter <= 5_000, `its first 200 came ${firstAfter} ms after the database was back (want <= 5000 ms)`);
  // The reader threads' own connections came back too: the inventory lists, a new CRL is signed.
  const listUp = await fetch(`${server.url}/api/v1/certificates?limit=5`);
  t.equal(listUp.status, 200, `the inventory lists again: ${(await listUp.text()).slice(0, 300)}`);
  t.equal((await fetch(`${server.url}/api/v1/admin/overview`)).status, 200, "the overview answers again");
  const knownSerial = BigInt(`0x${new X509Certificate(knownPem).serialNumber}`);
  const revoked = await postJson(server.api, "revoke", { serial: knownSerial.toString(10), authority_key_id: authorityKeyId(knownPem), reason: "keyCompromise" });
  t.equal(revoked.status, 200, `revoking works again: ${JSON.stringify(revoked.body.errors)}`);
  const crlAfter = await fetchCrl(t, server, cwd, ca);
  t.ok(crlAfter.serials.includes(knownSerial), "a fresh CRL lists it");
  t.ok(crlAfter.number > crlBefore.number, `with a greater CRL number (${crlBefore.number} -> ${crlAfter.number})`);
  const ocspAfter = await ocspAsk(server, ca, certFile);
  t.match(ocspAfter.stdout, `${certFile}: revoked`, "OCSP says revoked");

  const pems = outcomes.map(certificateOf).filter((pem): pem is string => pem !== undefined);
  await checkRecorded(t, url, [knownPem, guardedUp.body.result.certificate as string, ...pems], ca);
  t.comment(
    `${outcomes.length} requests: ${pems.length} answered 200 (${afterUp.length} sent after the restart), ${refusals} refused with 503 ` +
      `(${whileDown.length} sent and answered while down); ready 503 after ${readyDown} ms; first 200 ${firstAfter} ms after the start; ` +
      `ready 200 ${readyUp} ms after`,
  );
});
