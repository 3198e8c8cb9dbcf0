// Readiness at GET /api/v1/ready: the database takes writes and the CA key signs; a CA near its end warns.
import { X509Certificate } from "node:crypto";
import Database from "better-sqlite3";
import { join } from "node:path";
import t from "tap";
import { Metrics } from "../../src/api/metrics.js";
import { ReadinessService } from "../../src/authority/readiness.js";
import { loadCertificateAuthority } from "../../src/pki/ca.js";
import { Inventory } from "../../src/store/inventory.js";
import { datedCa } from "../helpers/dated-ca.js";
import { makeCa, testApp, type TestApp } from "../helpers/app.js";

const day = 24 * 60 * 60 * 1000;

async function ready(app: TestApp["app"]) {
  const response = await app.inject({ method: "GET", url: "/api/v1/ready" });
  return { status: response.statusCode, body: response.json() };
}

t.test("a normal app is ready", async (t) => {
  const { app } = await testApp(t);
  const { status, body } = await ready(app);
  t.equal(status, 200);
  t.equal(body.success, true);
  t.equal(body.result.ready, true);
  t.equal(body.result.checks.database.ok, true);
  t.equal(body.result.checks.ca_key.ok, true);
  t.match(body.result.checks.ca_key.detail, /signs \(ecdsa\)/);
  t.same(body.result.warnings, []);
  t.same(body.errors, []);
  t.same(body.messages, []);
});

t.test("a closed database: 503 with code 12200, and liveness still answers", async (t) => {
  const { app, store } = await testApp(t);
  store.close();
  const { status, body } = await ready(app);
  t.equal(status, 503);
  t.equal(body.success, false);
  t.equal(body.result.ready, false);
  t.equal(body.result.checks.database.ok, false);
  t.match(body.result.checks.database.detail, /not open/);
  t.equal(body.result.checks.ca_key.ok, true, "the other check still runs");
  t.equal(body.errors[0].code, 12200);
  t.match(body.errors[0].message, /^not ready: database: takes no writes/);
  const health = await app.inject({ method: "GET", url: "/api/v1/cfssl/health" });
  t.equal(health.statusCode, 200, "health stays cfssl's liveness answer");
  t.same(health.json(), { success: true, result: { healthy: true }, errors: [], messages: [] });
});

t.test("a database that refuses writes: not ready", async (t) => {
  const { app, store } = await testApp(t);
  store.db.pragma("query_only = ON");
  let { status, body } = await ready(app);
  t.equal(status, 503);
  t.match(body.result.checks.database.detail, /readonly/);
  store.db.pragma("query_only = OFF");
  ({ status, body } = await ready(app));
  t.equal(status, 200, "ready again once it takes writes");
});

t.test("a read-only connection, and a database locked by another writer", async (t) => {
  const { store, dir, ca } = await testApp(t);
  const path = join(dir, "certs.db");
  const readOnly = new Database(path, { readonly: true });
  t.teardown(() => readOnly.close());
  const readiness = new ReadinessService({ ca, database: new Inventory(readOnly) });
  const result = (await readiness.check());
  t.equal(result.ready, false);
  t.match(result.checks.database.detail, /readonly/);

  const other = new Database(path);
  t.teardown(() => other.close());
  other.exec("BEGIN IMMEDIATE");
  const locked = (await new ReadinessService({ ca, database: new Inventory(store.db) }).check());
  t.equal(locked.checks.database.ok, false, "locked past the busy timeout");
  t.match(locked.checks.database.detail, /locked/);
  other.exec("ROLLBACK");
  t.equal((await new ReadinessService({ ca, database: new Inventory(store.db) }).check()).ready, true);
  t.equal(store.count(), 0, "the probe leaves nothing behind");
});

t.test("a CA key that is not the CA certificate's: not ready", async (t) => {
  const { ca } = await makeCa();
  const { ca: other } = await makeCa();
  const { app } = await testApp(t, { ca: { ...ca, key: other.key } });
  const { status, body } = await ready(app);
  t.equal(status, 503);
  t.equal(body.result.checks.database.ok, true);
  t.equal(body.result.checks.ca_key.ok, false);
  t.match(body.result.checks.ca_key.detail, /does not verify/);
});

t.test("a CA expiring within 30 days: ready, with a warning; the metric says the same date", async (t) => {
  const now = new Date();
  const soon = new Date(now.getTime() + 10 * day);
  const dated = await datedCa(new Date(now.getTime() - 300 * day), soon, "Ending CA");
  const ca = await loadCertificateAuthority(dated.certificate, dated.key);
  const metrics = new Metrics({ defaultMetrics: false });
  const { app } = await testApp(t, { ca, metrics });
  const { status, body } = await ready(app);
  t.equal(status, 200);
  t.equal(body.result.ready, true);
  t.equal(body.result.warnings.length, 1);
  t.match(body.result.warnings[0], /expires at .* in 10 day\(s\)/);
  const scrape = await app.inject({ method: "GET", url: "/metrics" });
  const line = scrape.body.split("\n").find((l) => l.startsWith("certwright_ca_expiry_timestamp_seconds{"));
  t.equal(line, `certwright_ca_expiry_timestamp_seconds{ca_label=""} ${Math.floor(soon.getTime() / 1000)}`);

  const later = await datedCa(new Date(now.getTime() - day), new Date(now.getTime() + 60 * day));
  const { app: fine } = await testApp(t, { ca: await loadCertificateAuthority(later.certificate, later.key) });
  t.same((await ready(fine)).body.result.warnings, [], "60 days left: no warning");
});

t.test("a CA that has expired: not ready", async (t) => {
  const { ca } = await makeCa();
  const readiness = new ReadinessService({ ca, database: { checkWritable() {} }, clock: () => new Date(ca.notAfter.getTime() + 1000) });
  const result = (await readiness.check());
  t.equal(result.ready, false);
  t.match(result.checks.ca_key.detail, /expired/);
  t.same(result.warnings, []);
});

t.test("the OpenAPI document has readiness, and /metrics as Prometheus' text", async (t) => {
  const { app } = await testApp(t, { metrics: new Metrics({ defaultMetrics: false }) });
  const document = (await app.inject({ method: "GET", url: "/openapi.json" })).json();
  t.ok(document.paths["/api/v1/ready"]?.get, "documents GET /api/v1/ready");
  t.ok(document.paths["/metrics"]?.get?.responses["200"].content["text/plain"], "documents GET /metrics as text/plain");
});

t.test("a database that refuses writes: revoke and tidy answer 503 (code 12200) with the envelope, not 500", async (t) => {
  const { app, store } = await testApp(t);
  const issued = await app.inject({ method: "POST", url: "/api/v1/cfssl/newcert", payload: { request: { CN: "r.internal", hosts: ["r.internal"] } } });
  t.equal(issued.statusCode, 200);
  const serial = BigInt(`0x${new X509Certificate(issued.json().result.certificate).serialNumber}`).toString();
  store.db.pragma("query_only = ON");
  const revoke = await app.inject({ method: "POST", url: "/api/v1/cfssl/revoke", payload: { serial } });
  t.equal(revoke.statusCode, 503);
  t.match(revoke.json(), {
    success: false,
    result: null,
    errors: [{ code: 12200, message: /^the revocation was not recorded: the database takes no writes \(SQLITE_READONLY\); try again once \/api\/v1\/ready answers 200$/ }],
  });
  const tidy = await app.inject({ method: "POST", url: "/api/v1/certificates/tidy", payload: { older_than: "365d" } });
  t.equal(tidy.statusCode, 503);
  t.equal(tidy.json().errors[0].code, 12200);
  store.db.pragma("query_only = OFF");
  const again = await app.inject({ method: "POST", url: "/api/v1/cfssl/revoke", payload: { serial } });
  t.equal(again.statusCode, 200, "revoked once the database takes writes");
});
