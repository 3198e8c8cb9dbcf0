// One battery of API checks against the real service, run once on SQLite (the data directory's
// certs.db) and once on PostgreSQL (--database postgres://…): issuance, certinfo, the inventory with
// its filters and cursor pages, revocation, the CRL, OCSP, tidy, the console's counts, metrics,
// readiness, replay protection and the rate limit. Each run writes down what it saw that does not
// depend on random serials or the clock, and the two transcripts must be equal.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import t, { type Test } from "tap";
import { postgresSkip, startPostgres } from "../helpers/postgres.js";
import { decimalSerial, startService, tempDir, writeFile, type ServerProcess } from "../helpers/server.js";
import {
  crlSerials,
  getJson,
  makeOpensslCa,
  ocspStatus,
  opensslCsr,
  pemFile,
  postBody,
  serialHex,
  unrecordedCertificate,
} from "../helpers/service-checks.js";

const config = {
  signing: {
    default: { usages: ["digital signature", "key encipherment", "server auth"], expiry: "8760h" },
    profiles: {
      server: { usages: ["digital signature", "key encipherment", "server auth"], expiry: "8760h" },
      short: { usages: ["digital signature", "key encipherment", "server auth"], expiry: "72h" },
      // Its certificate is asked to end a few seconds after issuance (not_after): the expired status, and tidy, need one.
      flash: { usages: ["digital signature", "server auth"], expiry: "24h" },
    },
  },
};

const authKey = "8899aabbccddeeff0011223344556677";
const guardedConfig = {
  auth_keys: { ci: { type: "standard", key: authKey } },
  signing: {
    default: { usages: ["digital signature", "server auth"], expiry: "24h" },
    profiles: { locked: { usages: ["digital signature", "server auth"], expiry: "24h", auth_key: "ci" } },
  },
};

/** How a run reaches its database: the flags `serve` gets for a fresh, empty one. */
interface Backend {
  name: string;
  freshDatabase(): Promise<string[]>;
  /** What the start-up note says of the database: proof the run used this backend. */
  note: RegExp;
}

const root = tempDir(t, "certwright-backends-");
const ca = makeOpensslCa(root);
const configFile = writeFile(root, "config.json", JSON.stringify(config));
const guardedConfigFile = writeFile(root, "guarded.json", JSON.stringify(guardedConfig));
const transcripts = new Map<string, unknown>();

async function serve(t: Test, backend: Backend, dir: string, ...more: string[]): Promise<ServerProcess> {
  return startService(t, { cwd: dir, args: ["--data-dir", join(dir, "data"), "--ca", ca.cert, "--ca-key", ca.key, "--workers", "1", ...(await backend.freshDatabase()), ...more] });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The HMAC as an operator's script computes it: openssl dgst, base64. */
function hmac(bytes: Buffer): string {
  return spawnSync("openssl", ["dgst", "-sha256", "-mac", "HMAC", "-macopt", `hexkey:${authKey}`, "-binary"], { input: bytes }).stdout.toString("base64");
}

/** Everything one backend must answer; returns what it saw, to compare with the other backend. */
async function battery(t: Test, backend: Backend): Promise<Record<string, unknown>> {
  const dir = tempDir(t);
  const service = await serve(t, backend, dir, "--config", configFile);
  t.match(service.stdout() + service.stderr(), backend.note, `the service records into ${backend.name}`);
  const seen: Record<string, unknown> = {};
  const inventory = `${service.url}/api/v1/certificates`;

  // Issuance: sign an openssl CSR, and newcert with a key made here (ECDSA).
  const signed = await postBody(`${service.api}/sign`, { certificate_request: opensslCsr(dir, "signed.internal"), profile: "server" });
  t.equal(signed.status, 200, JSON.stringify(signed.body.errors));
  const made = await postBody(`${service.api}/newcert`, { request: { CN: "made.internal", hosts: ["made.internal"], key: { algo: "ecdsa", size: 256 } }, profile: "short" });
  t.equal(made.status, 200, JSON.stringify(made.body.errors));
  t.match(made.body.result.private_key, /BEGIN EC PRIVATE KEY|BEGIN PRIVATE KEY/);
  const issued = new Map<string, string>([
    ["signed.internal", signed.body.result.certificate],
    ["made.internal", made.body.result.certificate],
  ]);
  for (const [cn, profile] of [
    ["three.internal", "server"],
    ["four.internal", "short"],
    ["five.internal", "server"],
    ["flash.internal", "flash"],
  ] as const) {
    const notAfter = profile === "flash" ? new Date(Math.ceil(Date.now() / 1000) * 1000 + 3_000).toISOString() : undefined;
    const answer = await postBody(`${service.api}/newcert`, { request: { CN: cn, hosts: [cn] }, profile, not_after: notAfter });
    t.equal(answer.status, 200, `${cn}: ${JSON.stringify(answer.body.errors)}`);
    issued.set(cn, answer.body.result.certificate);
  }
  const files = new Map([...issued].map(([cn, pem]) => [cn, pemFile(dir, `${cn}.pem`, pem)]));
  for (const [cn, file] of files) {
    const verified = spawnSync("openssl", ["verify", "-CAfile", ca.cert, file], { encoding: "utf8" });
    t.equal(verified.status, 0, `${cn} verifies against the CA: ${verified.stderr}`);
  }

  // certinfo by serial and authority key id gives back the certificate that was issued.
  const described = await postBody(`${service.api}/certinfo`, { certificate: issued.get("signed.internal") });
  const serialDecimal: string = described.body.result.serial_number;
  const aki: string = described.body.result.authority_key_id;
  const byRecord = await postBody(`${service.api}/certinfo`, { serial: serialDecimal, authority_key_id: aki });
  t.equal(byRecord.status, 200, JSON.stringify(byRecord.body.errors));
  t.equal(byRecord.body.result.pem.trim(), issued.get("signed.internal")!.trim());
  seen.certinfo = { status: byRecord.status, cn: byRecord.body.result.subject.common_name, sans: byRecord.body.result.sans };
  const missing = await postBody(`${service.api}/certinfo`, { serial: "12345", authority_key_id: aki });
  seen.certinfoMissing = { status: missing.status, code: missing.body.errors[0]?.code };

  // The inventory, a page of two at a time: every certificate once, newest first.
  const walk = async (query: string) => {
    const names: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await getJson(`${inventory}?limit=2${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      t.equal(page.status, 200, JSON.stringify(page.body.errors));
      names.push(...page.body.result.certificates.map((c: { common_name: string }) => c.common_name));
      cursor = page.body.result.next_cursor;
      pages++;
    } while (cursor !== null && pages < 20);
    return { names, pages };
  };
  const all = await walk("");
  t.same(all.names, ["flash.internal", "five.internal", "four.internal", "three.internal", "made.internal", "signed.internal"], "newest first, each once");
  seen.all = all;
  seen.byProfile = await walk("&profile=short");
  t.same((seen.byProfile as { names: string[] }).names, ["four.internal", "made.internal"]);
  seen.byText = await walk("&q=FIVE");
  t.same((seen.byText as { names: string[] }).names, ["five.internal"], "q matches any case");
  // Past flash's NotAfter (3 s after it was issued), so both backends list the same: a walk on either
  // side of that instant would differ.
  await waitUntilExpired(issued.get("flash.internal")!);
  seen.expiringSoon = await walk("&expiring_within=7d");
  t.same(new Set((seen.expiringSoon as { names: string[] }).names), new Set(["four.internal", "made.internal"]));

  // One certificate by serial: decimal as cfssl prints it, hex as openssl does.
  const hex = serialHex(issued.get("signed.internal")!);
  const byHex = await getJson(`${inventory}/${hex}`);
  const byDecimal = await getJson(`${inventory}/${serialDecimal}`);
  t.equal(byHex.status, 200, JSON.stringify(byHex.body.errors));
  t.equal(byDecimal.status, 200);
  t.equal(byHex.body.result.serial_number, serialDecimal);
  t.equal(byDecimal.body.result.serial_hex, hex);
  t.equal(byDecimal.body.result.pem.trim(), issued.get("signed.internal")!.trim());
  seen.getBySerial = {
    status: byHex.body.result.status,
    profile: byHex.body.result.profile,
    cn: byHex.body.result.common_name,
    sans: byHex.body.result.sans,
    requestedBy: byHex.body.result.requested_by,
    fields: Object.keys(byHex.body.result).sort(),
  };
  const page = await getJson(`${inventory}?limit=1`);
  seen.pageFields = { envelope: Object.keys(page.body.result).sort(), item: Object.keys(page.body.result.certificates[0]).sort() };

  // Revocation, twice: the second changes nothing and says so.
  const revokedCn = "three.internal";
  const revokedSerial = decimalSerial(serialHex(issued.get(revokedCn)!));
  const revoked = await postBody(`${service.api}/revoke`, { serial: revokedSerial, authority_key_id: aki, reason: "keyCompromise" });
  t.equal(revoked.status, 200, JSON.stringify(revoked.body.errors));
  const again = await postBody(`${service.api}/revoke`, { serial: revokedSerial, authority_key_id: aki, reason: "keyCompromise" });
  t.equal(again.status, 200);
  t.match(again.body.messages.map((m) => m.message).join(" "), /already revoked/);
  seen.revoke = {
    first: revoked.status,
    firstFields: Object.keys(revoked.body.result ?? {}).sort(),
    again: again.status,
    againMessages: again.body.messages.map((m) => m.message.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, "<time>")),
  };
  const unknownRevoke = await postBody(`${service.api}/revoke`, { serial: "98765", authority_key_id: aki });
  seen.revokeUnknown = { status: unknownRevoke.status, code: unknownRevoke.body.errors[0]?.code };
  seen.revokedOnly = await walk("&status=revoked");
  t.same((seen.revokedOnly as { names: string[] }).names, [revokedCn]);
  const revokedRecord = await getJson(`${inventory}/${revokedSerial}`);
  t.equal(revokedRecord.body.result.status, "revoked");
  t.equal(revokedRecord.body.result.reason, "keyCompromise");

  // The CRL lists it (and only it); OCSP says good, revoked, and unknown for what was never issued.
  const listed = await crlSerials(service.url, dir, ca);
  t.same(listed, [serialHex(issued.get(revokedCn)!)]);
  seen.crlCount = listed.length;
  const stranger = unrecordedCertificate(dir, ca);
  const ocsp = {
    good: await ocspStatus(service.url, ca, files.get("five.internal")!),
    revoked: await ocspStatus(service.url, ca, files.get(revokedCn)!),
    unknown: await ocspStatus(service.url, ca, stranger),
  };
  for (const [expected, got] of Object.entries(ocsp)) {
    t.equal(got.status, expected, `OCSP ${expected}: ${got.text}`);
    t.ok(got.verified, `the ${expected} answer verifies against the CA`);
  }
  t.match(ocsp.revoked.text, /Reason: keyCompromise/);
  seen.ocsp = Object.fromEntries(Object.entries(ocsp).map(([k, v]) => [k, v.status]));

  // Metrics: the expiring gauge counts the good certificates ending within 7 and 30 days.
  await waitUntilExpired(issued.get("flash.internal")!);
  const metrics = await (await fetch(`${service.url}/metrics`)).text();
  const gauge = (within: string) => Number(new RegExp(`^certwright_certificates_expiring\\{within="${within}"\\} (\\d+)`, "m").exec(metrics)?.[1]);
  seen.expiringGauge = { "7d": gauge("7d"), "30d": gauge("30d") };
  t.same(seen.expiringGauge, { "7d": 2, "30d": 2 }, "the two 72h certificates; the expired one is not counted");

  // The console's counts, then tidy removes the expired record and the counts follow.
  // Another number of days each time: an overview is reused for 10 s per number of days asked.
  const overview = async (days: number) => (await getJson(`${service.url}/api/v1/admin/overview?days=${days}`)).body.result;
  const before = await overview(30);
  t.same(before.counts, { good: 4, revoked: 1, expired: 1 });
  t.equal(before.issued_per_day.at(-1).count, 6, "six issued today");
  seen.expiredOnly = await walk("&status=expired");
  t.same((seen.expiredOnly as { names: string[] }).names, ["flash.internal"]);
  const tidied = await postBody(`${inventory}/tidy`, { older_than: "1s" });
  t.equal(tidied.status, 200, JSON.stringify(tidied.body.errors));
  t.equal(tidied.body.result.removed, 1);
  const after = await overview(7);
  t.same(after.counts, { good: 4, revoked: 1, expired: 0 });
  seen.counts = { before: before.counts, after: after.counts, tidied: tidied.body.result.removed, issuedToday: before.issued_per_day.at(-1).count };
  seen.afterTidy = await walk("");

  const ready = await getJson(`${service.url}/api/v1/ready`);
  t.equal(ready.status, 200, JSON.stringify(ready.body));
  seen.ready = { status: ready.status, ready: ready.body.result.ready, checks: Object.keys(ready.body.result.checks).sort() };
  await service.stop("SIGTERM");
  return seen;
}

/** Replay protection and the rate limit keep their state in the backend: each on its own service. */
async function guards(t: Test, backend: Backend): Promise<Record<string, unknown>> {
  const seen: Record<string, unknown> = {};
  const replayDir = tempDir(t);
  const replay = await serve(t, backend, replayDir, "--config", guardedConfigFile, "--replay-window", "5m");
  const authsign = async (inner: object) => {
    const request = Buffer.from(JSON.stringify(inner));
    return postBody(`${replay.api}/authsign`, { token: hmac(request), request: request.toString("base64") });
  };
  const signedRequest = { certificate_request: opensslCsr(replayDir, "replay.internal"), profile: "locked", timestamp: Math.floor(Date.now() / 1000), nonce: "f3a1c9d2e4b5a6c7d8e9f0a1b2c3d4e5" };
  const first = await authsign(signedRequest);
  t.equal(first.status, 200, JSON.stringify(first.body.errors));
  const replayed = await authsign(signedRequest);
  t.equal(replayed.status, 403);
  t.equal(replayed.body.errors[0]?.code, 13300);
  seen.replay = { first: first.status, replayed: replayed.status, code: replayed.body.errors[0]?.code };
  await replay.stop("SIGTERM");

  // Per hour rather than per minute: a fixed window that rolled over mid-test would hand out a fresh allowance.
  const limitedDir = tempDir(t);
  const limited = await serve(t, backend, limitedDir, "--config", configFile, "--rate-limit", "3/h");
  const statuses: number[] = [];
  let last: Envelope | undefined;
  for (let i = 0; i < 4; i++) {
    last = await postBody(`${limited.api}/newcert`, { request: { CN: "limited.internal", hosts: ["limited.internal"] } });
    statuses.push(last.status);
  }
  t.same(statuses, [200, 200, 200, 429]);
  t.equal(last!.body.errors[0]?.code, 13400);
  t.equal((await fetch(`${limited.url}/api/v1/ready`)).status, 200, "readiness is never limited");
  const listed = await getJson(`${limited.url}/api/v1/certificates`);
  t.equal(listed.status, 429, "the inventory is limited too");
  seen.rateLimit = { statuses, code: last!.body.errors[0]?.code };
  await limited.stop("SIGTERM");
  return seen;
}

type Envelope = Awaited<ReturnType<typeof getJson>>;

function notAfter(pem: string): number {
  const out = spawnSync("openssl", ["x509", "-noout", "-enddate"], { input: pem, encoding: "utf8" }).stdout;
  return new Date(out.trim().replace(/^notAfter=/, "")).getTime();
}

/** Until the certificate is more than a second past its NotAfter, so tidy with older_than 1s takes it. */
async function waitUntilExpired(pem: string): Promise<void> {
  const wait = notAfter(pem) + 1_500 - Date.now();
  if (wait > 0) await sleep(wait);
}

async function runOn(t: Test, backend: Backend) {
  await t.test("the API battery", async (t) => void transcripts.set(backend.name, await battery(t, backend)));
  await t.test("replay protection and the rate limit", async (t) => void transcripts.set(`${backend.name} guards`, await guards(t, backend)));
}

t.test("SQLite (the data directory's certs.db)", (t) => runOn(t, { name: "sqlite", freshDatabase: async () => [], note: /certs\.db: journal_mode=wal/ }));

t.test("PostgreSQL (--database postgres://…)", { skip: postgresSkip }, async (t) => {
  const cluster = await startPostgres(t);
  await runOn(t, { name: "postgres", freshDatabase: async () => ["--database", await cluster.createDatabase()], note: /database postgres:\/\/\S+: PostgreSQL/ });
});

t.test("both backends gave the same answers", { skip: postgresSkip }, async (t) => {
  t.ok(transcripts.has("sqlite") && transcripts.has("postgres"), "both batteries ran");
  t.same(transcripts.get("postgres"), transcripts.get("sqlite"));
  t.same(transcripts.get("postgres guards"), transcripts.get("sqlite guards"));
});
