// The stricter mode of authenticated requests (timestamp and nonce inside the signed bytes) and
// per-client rate limiting, both with their state in SQLite so a restart forgets nothing.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import { GuardStore } from "../../src/store/guard-store.js";
import { tempDir, testApp, type TestApp } from "../helpers/app.js";

const authKey = "8899aabbccddeeff0011223344556677";
const config = {
  auth_keys: { ci: { type: "standard", key: authKey } },
  signing: {
    default: { usages: ["digital signature", "server auth"], expiry: "24h" },
    profiles: { locked: { usages: ["digital signature", "server auth"], expiry: "24h", auth_key: "ci" } },
  },
};

/** The HMAC as an operator's script computes it: openssl dgst, base64. */
function hmac(bytes: Buffer): string {
  const result = spawnSync("openssl", ["dgst", "-sha256", "-mac", "HMAC", "-macopt", `hexkey:${authKey}`, "-binary"], { input: bytes });
  return result.stdout.toString("base64");
}

function csrPem(): string {
  const result = spawnSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "/dev/null", "-subj", "/CN=replay.internal"], { encoding: "utf8" });
  return result.stdout;
}

function guardStore(t: Parameters<typeof tempDir>[0], path: string): GuardStore {
  const store = GuardStore.open(path);
  t.teardown(() => store.close());
  return store;
}

async function authsign(app: TestApp["app"], inner: object) {
  const request = Buffer.from(JSON.stringify(inner));
  const response = await app.inject({
    method: "POST",
    url: "/api/v1/cfssl/authsign",
    headers: { "content-type": "application/json" },
    payload: JSON.stringify({ token: hmac(request), request: request.toString("base64") }),
  });
  return { status: response.statusCode, body: response.json() };
}

t.test("replay protection: a fresh timestamp and an unseen nonce, inside the signed request", async (t) => {
  const dir = tempDir(t);
  let now = new Date();
  const store = guardStore(t, join(dir, "guard.db"));
  const ctx = await testApp(t, { config, clock: () => now, guard: { store, replayWindowMs: 300_000 } });
  const csr = csrPem();
  const seconds = () => Math.floor(now.getTime() / 1000);

  const signed = { certificate_request: csr, profile: "locked", timestamp: seconds(), nonce: "f3a1c9d2e4b5a6c7d8e9f0a1b2c3d4e5" };
  const first = await authsign(ctx.app, signed);
  t.equal(first.status, 200, JSON.stringify(first.body));
  const replayed = await authsign(ctx.app, signed);
  t.equal(replayed.status, 403);
  t.equal(replayed.body.errors[0].code, 13300);
  t.match(replayed.body.errors[0].message, /seen before/);

  const bare = await authsign(ctx.app, { certificate_request: csr, profile: "locked" });
  t.equal(bare.status, 403, "cfssl's plain form is refused in this mode");
  t.match(bare.body.errors[0].message, /timestamp.*nonce/);
  const stale = await authsign(ctx.app, { ...signed, nonce: "a0000000000000000000000000000001", timestamp: seconds() - 301 });
  t.equal(stale.status, 403);
  t.match(stale.body.errors[0].message, /timestamp/);
  const future = await authsign(ctx.app, { ...signed, nonce: "a0000000000000000000000000000002", timestamp: seconds() + 301 });
  t.equal(future.status, 403);
  const short = await authsign(ctx.app, { ...signed, nonce: "abc", timestamp: seconds() });
  t.equal(short.status, 403);
  t.match(short.body.errors[0].message, /16 to 128/);

  // The header form: the fields sit in the body the HMAC covers.
  const body = Buffer.from(JSON.stringify({ request: { CN: "h.internal", hosts: ["h.internal"] }, profile: "locked", timestamp: seconds(), nonce: "b1b2b3b4b5b6b7b8b9b0c1c2c3c4c5c6" }));
  const viaHeader = () =>
    ctx.app.inject({ method: "POST", url: "/api/v1/cfssl/newcert", headers: { "content-type": "application/json", authorization: `CFSSL-HMAC ci:${hmac(body)}` }, payload: body });
  t.equal((await viaHeader()).statusCode, 200);
  const again = await viaHeader();
  t.equal(again.statusCode, 403);
  t.equal(again.json().errors[0].code, 13300);

  // A restart: a new guard on the same file still knows the nonce.
  await ctx.app.close();
  store.close();
  const reopened = guardStore(t, join(dir, "guard.db"));
  const restarted = await testApp(t, { config, clock: () => now, guard: { store: reopened, replayWindowMs: 300_000 } });
  t.equal((await authsign(restarted.app, signed)).status, 403, "replayed after a restart");
  // Once the window has passed, the timestamp alone refuses it.
  now = new Date(now.getTime() + 400_000);
  t.match((await authsign(restarted.app, signed)).body.errors[0].message, /timestamp/);
});

t.test("rate limiting: 429 with Retry-After past the limit, per client, across a restart", async (t) => {
  const dir = tempDir(t);
  const store = guardStore(t, join(dir, "guard.db"));
  const limit = { requests: 3, periodMs: 3_600_000 };
  const ctx = await testApp(t, { guard: { store, rateLimit: limit } });
  const newcert = (app: TestApp["app"], remoteAddress = "10.1.1.1") =>
    app.inject({
      method: "POST",
      url: "/api/v1/cfssl/newcert",
      remoteAddress,
      headers: { "content-type": "application/json" },
      payload: { request: { CN: "r.internal", hosts: ["r.internal"] } },
    });
  for (let i = 0; i < 3; i++) t.equal((await newcert(ctx.app)).statusCode, 200, `request ${i + 1}`);
  const limited = await newcert(ctx.app);
  t.equal(limited.statusCode, 429);
  t.equal(limited.json().errors[0].code, 13400);
  const retryAfter = Number(limited.headers["retry-after"]);
  t.ok(retryAfter >= 1 && retryAfter <= 3600, `Retry-After ${retryAfter}`);
  t.equal(ctx.store.count(), 3, "nothing issued past the limit");

  t.equal((await newcert(ctx.app, "10.2.2.2")).statusCode, 200, "another client has its own allowance");
  const health = await ctx.app.inject({ method: "GET", url: "/api/v1/cfssl/health", remoteAddress: "10.1.1.1" });
  t.equal(health.statusCode, 200, "health is never limited");

  await ctx.app.close();
  store.close();
  const restarted = await testApp(t, { guard: { store: guardStore(t, join(dir, "guard.db")), rateLimit: limit } });
  t.equal((await newcert(restarted.app)).statusCode, 429, "a restart hands out no fresh allowance");
});
