// Prometheus metrics at GET /metrics: the counters move by exactly what the requests did.
import { X509Certificate } from "node:crypto";
import type { FastifyInstance } from "fastify";
import t from "tap";
import { Metrics } from "../../src/api/metrics.js";
import { post, testApp } from "../helpers/app.js";

const usages = ["signing", "key encipherment", "server auth", "client auth"];
const hours = (days: number) => `${days * 24}h`;
const day = 24 * 60 * 60 * 1000;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Reads Prometheus' text format: one sample a line, `name{label="value",…} number`. */
function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of match[2]?.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g) ?? []) labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

async function scrape(app: FastifyInstance): Promise<Sample[]> {
  const response = await app.inject({ method: "GET", url: "/metrics" });
  if (response.statusCode !== 200) throw new Error(`GET /metrics answered ${response.statusCode}: ${response.body}`);
  return parseSamples(response.body);
}

/** The value of the one sample with this name and exactly these labels; 0 when there is none yet. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (s) => s.name === name && Object.keys(s.labels).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value ?? 0;
}

function newCert(app: FastifyInstance, cn: string, profile?: string) {
  return post(app, "newcert", { request: { CN: cn, hosts: [cn] }, ...(profile ? { profile } : {}) });
}

t.test("issuing N certificates moves certwright_certificates_issued_total by exactly N", async (t) => {
  const metrics = new Metrics();
  const { app, store } = await testApp(t, { metrics });
  const before = await scrape(app);
  const n = 7;
  // Concurrently, so group commit records several in one transaction.
  const answers = await Promise.all(Array.from({ length: n }, (_, i) => newCert(app, `svc-${i}.internal`, "server")));
  t.same(answers.map((a) => a.status), Array(n).fill(200));
  await newCert(app, "default.internal");
  const after = await scrape(app);

  const issued = (s: Sample[], profile: string) => value(s, "certwright_certificates_issued_total", { profile, ca_label: "" });
  t.equal(issued(after, "server") - issued(before, "server"), n, "server profile: exactly N");
  t.equal(issued(after, "default") - issued(before, "default"), 1, "the default profile is labelled default");
  t.equal(store.count(), n + 1, "and that many rows");

  const requests = (s: Sample[]) => value(s, "certwright_http_requests_total", { route: "/api/v1/cfssl/newcert", method: "POST", status: "200" });
  t.equal(requests(after) - requests(before), n + 1, "requests by route pattern, method and status");
  t.equal(value(after, "certwright_http_request_duration_seconds_count", { route: "/api/v1/cfssl/newcert", method: "POST" }), n + 1);
  t.ok(value(after, "certwright_http_request_duration_seconds_bucket", { route: "/api/v1/cfssl/newcert", method: "POST", le: "+Inf" }) === n + 1);

  const commits = value(after, "certwright_db_commit_duration_seconds_count");
  t.ok(commits > 0, "group commits are timed");
  t.ok(commits <= n + 1, "one observation per commit, not per row");
  t.ok(value(after, "certwright_db_commit_duration_seconds_sum") > 0);
  t.equal(value(after, "certwright_db_commit_rows_sum"), n + 1, "the commits recorded every row");
  t.equal(value(after, "certwright_http_requests_total", { route: "/metrics", method: "GET", status: "200" }), 1, "the first scrape is counted too");
});

t.test("refusals are counted by error code, and nothing is issued for them", async (t) => {
  const metrics = new Metrics({ defaultMetrics: false });
  const { app } = await testApp(t, { metrics });
  const before = await scrape(app);
  t.equal((await newCert(app, "x.internal", "no-such-profile")).status, 400);
  t.equal((await post(app, "newcert", "{not json")).status, 400);
  t.equal((await post(app, "sign", { certificate_request: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n" })).status, 400);
  t.equal((await app.inject({ method: "GET", url: "/api/v1/cfssl/newcert" })).statusCode, 405);
  t.equal((await app.inject({ method: "GET", url: "/no/such/path/123456" })).statusCode, 404);
  t.equal((await app.inject({ method: "GET", url: "/no/such/path/abcdef" })).statusCode, 404);
  const after = await scrape(app);

  const refusals = (s: Sample[], code: string) => value(s, "certwright_refusals_total", { code });
  t.equal(refusals(after, "5400") - refusals(before, "5400"), 1, "unknown profile: 5400");
  t.equal(refusals(after, "400") - refusals(before, "400"), 1, "not JSON: 400");
  t.ok(refusals(after, "9002") + refusals(after, "9003") + refusals(after, "9300") >= 1, "a bad CSR: its 9xxx code");
  t.equal(refusals(after, "405"), 1);
  t.equal(refusals(after, "404"), 2);
  t.equal(value(after, "certwright_certificates_issued_total", { profile: "default", ca_label: "" }), 0, "nothing issued");

  t.equal(value(after, "certwright_http_requests_total", { route: "/api/v1/cfssl/newcert", method: "POST", status: "400" }), 2);
  t.equal(value(after, "certwright_http_requests_total", { route: "unmatched", method: "GET", status: "404" }), 2, "404s share one label");
  t.equal(value(after, "certwright_http_requests_total", { route: "unmatched", method: "GET", status: "405" }), 1);
  const routes = new Set(after.filter((s) => s.name === "certwright_http_requests_total").map((s) => s.labels.route));
  t.notOk([...routes].some((route) => route?.includes("/no/such")), "raw URLs never become labels");

  // The OCSP GET form carries the request in its path: the label is the route pattern.
  await app.inject({ method: "GET", url: "/ocsp/MEIwQDA-MDwwOjAJBgUrDgMCGgUABBQ" });
  await app.inject({ method: "GET", url: "/ocsp/MEIwQDA-MDwwOjAJBgUrDgMCGgUABBR" });
  const ocsp = (await scrape(app)).filter((s) => s.name === "certwright_http_requests_total" && s.labels.route?.startsWith("/ocsp"));
  t.same([...new Set(ocsp.map((s) => s.labels.route))], ["/ocsp/*"]);
  t.equal(ocsp.reduce((sum, s) => sum + s.value, 0), 2);
});

t.test("the CA expiry gauge is the CA's NotAfter", async (t) => {
  const metrics = new Metrics({ defaultMetrics: false });
  const { app, ca } = await testApp(t, { metrics });
  const samples = await scrape(app);
  const notAfter = new X509Certificate(ca.pem).validTo;
  t.equal(value(samples, "certwright_ca_expiry_timestamp_seconds", { ca_label: "" }), Date.parse(notAfter) / 1000);
  t.equal(value(samples, "certwright_ca_expiry_timestamp_seconds", { ca_label: "" }), ca.notAfter.getTime() / 1000);
});

t.test("the expiring gauges count good certificates ending within 7 and 30 days, at scrape time", async (t) => {
  let now = new Date();
  const config = {
    signing: {
      default: { usages, expiry: hours(365) },
      profiles: { six: { usages, expiry: hours(6) }, twenty: { usages, expiry: hours(20) }, forty: { usages, expiry: hours(40) } },
    },
  };
  const metrics = new Metrics({ defaultMetrics: false });
  const { app } = await testApp(t, { metrics, config, clock: () => now });
  const expiring = (s: Sample[], within: string) => value(s, "certwright_certificates_expiring", { within });

  let samples = await scrape(app);
  t.equal(expiring(samples, "7d"), 0);
  t.equal(expiring(samples, "30d"), 0);

  for (const [cn, profile] of [["a", "six"], ["b", "twenty"], ["c", "twenty"], ["d", "forty"], ["e", undefined]] as const) {
    t.equal((await newCert(app, `${cn}.internal`, profile)).status, 200);
  }
  samples = await scrape(app);
  t.equal(expiring(samples, "7d"), 1, "the 6-day one");
  t.equal(expiring(samples, "30d"), 3, "and the two 20-day ones");

  // Ten days on: the 6-day certificate has expired, the 20-day ones end within 7 days... or 10.
  now = new Date(now.getTime() + 10 * day);
  samples = await scrape(app);
  t.equal(expiring(samples, "7d"), 0, "expired certificates are not expiring");
  t.equal(expiring(samples, "30d"), 3, "20-day ones (10 left) and the 40-day one (30 left, minus the backdate)");

  // A revoked certificate needs no renewal.
  const list = await app.inject({ method: "GET", url: "/api/v1/certificates?profile=twenty" });
  const serial = list.json().result.certificates[0].serial_number as string;
  t.equal((await post(app, "revoke", { serial })).status, 200);
  now = new Date(now.getTime() + 4 * day);
  samples = await scrape(app);
  t.equal(expiring(samples, "7d"), 1, "one 20-day certificate left, 6 days to go");
  t.equal(expiring(samples, "30d"), 2, "and the 40-day one");
});

t.test("default process metrics, the text format, and one registry per app", async (t) => {
  const first = await testApp(t, { metrics: new Metrics() });
  const second = await testApp(t, { metrics: new Metrics() });
  const response = await first.app.inject({ method: "GET", url: "/metrics" });
  t.match(response.headers["content-type"], /^text\/plain; version=0\.0\.4/);
  t.match(response.body, /^# HELP certwright_certificates_issued_total /m);
  t.match(response.body, /^process_cpu_user_seconds_total /m, "prom-client's process metrics");
  t.match(response.body, /^nodejs_heap_size_used_bytes /m);

  t.equal((await newCert(first.app, "one.internal")).status, 200);
  const firstSamples = await scrape(first.app);
  const secondSamples = await scrape(second.app);
  t.equal(value(firstSamples, "certwright_certificates_issued_total", { profile: "default", ca_label: "" }), 1);
  t.equal(value(secondSamples, "certwright_certificates_issued_total", { profile: "default", ca_label: "" }), 0, "apps never share counters");
});

t.test("an app built without metrics serves no /metrics", async (t) => {
  const { app } = await testApp(t);
  t.equal((await app.inject({ method: "GET", url: "/metrics" })).statusCode, 404);
});
