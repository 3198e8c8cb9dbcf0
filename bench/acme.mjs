#!/usr/bin/env node
// ACME orders per second, end to end: `npm run bench:acme` (builds, then runs this file).
//
// The built app on a free loopback port over a throwaway SQLite database and an ECDSA P-256 CA,
// with a local http-01 responder. CLIENTS accounts (ES256) each run orders back to back for
// DURATION seconds: newOrder, the authorization, the http-01 challenge (validated by fetching the
// responder), polling the order until ready, finalize with a fresh P-256 CSR, and the chain download;
// every request a real HTTP POST with a JWS and a fresh nonce. Prints orders/s and latency percentiles.
//
// Env: DURATION (seconds, default 10), CLIENTS (concurrent accounts, default 16).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { base64url, calculateJwkThumbprint, exportJWK, FlattenedSign, generateKeyPair } from "jose";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dist = (path) => join(root, "dist", path);
const { buildApp } = await import(dist("api/app.js"));
const { Authority } = await import(dist("authority/authority.js"));
const { operatorServices, sqliteRecords } = await import(dist("authority/operator-services.js"));
const { initCa } = await import(dist("authority/init-ca.js"));
const { loadCertificateAuthority } = await import(dist("pki/ca.js"));
const { buildCsr } = await import(dist("pki/csr.js"));
const { generatePrivateKey } = await import(dist("pki/keys.js"));
const { encodeName } = await import(dist("pki/name.js"));
const { parseSigningConfig } = await import(dist("profiles/signing-config.js"));
const { CertificateStore } = await import(dist("store/certificate-store.js"));
const { SqliteAcmeStore } = await import(dist("store/acme-sqlite.js"));

const DURATION = Number(process.env.DURATION || 10);
const CLIENTS = Number(process.env.CLIENTS || 16);

const dir = mkdtempSync(join(tmpdir(), "certwright-acme-bench-"));
const tokens = new Map();
const responder = createServer((request, response) => {
  const token = /^\/\.well-known\/acme-challenge\/([\w-]+)$/.exec(request.url ?? "")?.[1];
  const body = token && tokens.get(token);
  response.writeHead(body ? 200 : 404).end(body ?? "");
});
await new Promise((resolve) => responder.listen(0, "127.0.0.1", resolve));
const responderPort = responder.address().port;

// The loopback http-01 check: fetch the token from the responder, compare the key authorization.
const validator = {
  async validate(_type, _identifier, token, keyAuthorization) {
    const response = await fetch(`http://127.0.0.1:${responderPort}/.well-known/acme-challenge/${token}`, { signal: AbortSignal.timeout(5000) });
    const body = (await response.text()).trim();
    return body === keyAuthorization ? { ok: true } : { ok: false, problem: { type: "incorrectResponse", detail: "wrong key authorization" } };
  },
};

const config = JSON.parse(readFileSync(join(root, "profiles", "ca-config.json"), "utf8"));
config.acme = { default: { profile: "server", challenges: ["http-01"] } };
const csrRequest = JSON.parse(readFileSync(join(root, "profiles", "ca-csr.json"), "utf8"));
const made = await initCa(csrRequest, new Date());
const ca = await loadCertificateAuthority(made.certificate, made.private_key);
const store = CertificateStore.open(join(dir, "certs.db"));
const acmeStore = SqliteAcmeStore.open(join(dir, "certs.db"));
const authority = new Authority({ ca, config: parseSigningConfig(config), store });
const app = await buildApp({ authority, ...operatorServices(ca, sqliteRecords(store.db), () => new Date()), acme: { store: acmeStore, validator } });
await app.listen({ host: "127.0.0.1", port: 0 });
const base = `http://127.0.0.1:${app.server.address().port}/acme/default`;

async function acmeClient() {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk = await exportJWK(publicKey);
  const thumbprint = await calculateJwkThumbprint(jwk, "sha256");
  let nonce = (await fetch(`${base}/new-nonce`, { method: "HEAD" })).headers.get("replay-nonce");
  let kid;
  const post = async (url, payload) => {
    const bytes = payload === "" ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(payload));
    const header = { alg: "ES256", nonce, url, ...(kid ? { kid } : { jwk }) };
    const jws = await new FlattenedSign(bytes).setProtectedHeader(header).sign(privateKey);
    const response = await fetch(url, { method: "POST", headers: { "content-type": "application/jose+json" }, body: JSON.stringify(jws) });
    nonce = response.headers.get("replay-nonce");
    const text = await response.text();
    if (response.status >= 400) throw new Error(`${url}: ${response.status} ${text}`);
    return { response, text, body: text.startsWith("{") ? JSON.parse(text) : undefined };
  };
  const account = await post(`${base}/new-account`, { termsOfServiceAgreed: true });
  kid = account.response.headers.get("location");
  return { post, thumbprint };
}

async function oneOrder(client, n) {
  const name = `host-${n}.bench.test`;
  const order = await client.post(`${base}/new-order`, { identifiers: [{ type: "dns", value: name }] });
  const location = order.response.headers.get("location");
  const authz = await client.post(order.body.authorizations[0], "");
  const challenge = authz.body.challenges.find((c) => c.type === "http-01");
  tokens.set(challenge.token, `${challenge.token}.${client.thumbprint}`);
  await client.post(challenge.url, {});
  let state = await client.post(location, "");
  while (state.body.status === "pending") {
    await new Promise((resolve) => setTimeout(resolve, 5));
    state = await client.post(location, "");
  }
  if (state.body.status !== "ready") throw new Error(`order ${location} is ${state.body.status}`);
  tokens.delete(challenge.token);
  const key = await generatePrivateKey({ algo: "ecdsa", size: 256 });
  const { der } = buildCsr(encodeName([[{ oid: "2.5.4.3", tag: 12, value: name }]]), { dns: [name], ip: [], email: [], uri: [] }, key);
  const finalized = await client.post(order.body.finalize, { csr: base64url.encode(der) });
  const chain = await client.post(finalized.body.certificate, "");
  if (!chain.text.startsWith("-----BEGIN CERTIFICATE-----")) throw new Error("no certificate");
}

const clients = await Promise.all(Array.from({ length: CLIENTS }, () => acmeClient()));
const latencies = [];
let counter = 0;
const deadline = Date.now() + DURATION * 1000;
const started = Date.now();
await Promise.all(
  clients.map(async (client) => {
    while (Date.now() < deadline) {
      const t0 = performance.now();
      await oneOrder(client, counter++);
      latencies.push(performance.now() - t0);
    }
  }),
);
const seconds = (Date.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(1);
const issued = store.db.prepare("SELECT count(*) AS n FROM certificates").get().n;
console.log(`ACME orders end to end (http-01 on loopback, ${CLIENTS} accounts, ${seconds.toFixed(1)} s): ${(latencies.length / seconds).toFixed(1)} orders/s`);
console.log(`  per order: p50 ${pct(50)} ms, p90 ${pct(90)} ms, p99 ${pct(99)} ms; ${latencies.length} orders, ${issued} certificates recorded`);
await app.close();
acmeStore.close();
store.close();
responder.close();
rmSync(dir, { recursive: true, force: true });
if (issued !== latencies.length) {
  console.error(`bench: ${latencies.length} orders finished but ${issued} certificates are recorded`);
  process.exit(1);
}
