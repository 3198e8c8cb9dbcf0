// The HTTP contract: cfssl's envelope on every answer, bodies read as JSON whatever the content type,
// request-shape errors with the status as code, and the read-only endpoints (health, info, certinfo).
import { X509Certificate } from "node:crypto";
import type { FastifyInstance, InjectOptions } from "fastify";
import t, { type Test } from "tap";
import { openssl, post, readProfileJson, testApp, type ApiAnswer } from "../helpers/app.js";



/** Checks cfssl's envelope exactly: the four keys, their types, and success/failure consistency. */
function checkEnvelope(t: Test, answer: ApiAnswer, expect: { success: boolean; status?: number; code?: number }) {
  const { body } = answer;
  t.same(Object.keys(body).sort(), ["errors", "messages", "result", "success"], "the envelope has exactly cfssl's four keys");
  t.equal(body.success, expect.success, `success is ${expect.success}`);
  t.ok(Array.isArray(body.errors), "errors is an array");
  t.ok(Array.isArray(body.messages), "messages is an array");
  if (expect.status !== undefined) t.equal(answer.status, expect.status, `HTTP status ${expect.status}`);
  if (expect.success) {
    t.ok(answer.status >= 200 && answer.status < 300, "a success has a 2xx status");
    t.same(body.errors, [], "a success has no errors");
    t.not(body.result, null, "a success has a result");
  } else {
    t.ok(answer.status >= 400, "a failure has a 4xx or 5xx status");
    t.equal(body.result, null, "a failure has result null");
    t.equal(body.errors.length, 1, "a failure has one error");
    t.same(Object.keys(body.errors[0] ?? {}).sort(), ["code", "message"], "an error is {code, message}");
    t.type(body.errors[0]?.code, "number");
    t.type(body.errors[0]?.message, "string");
    t.ok((body.errors[0]?.message ?? "").length > 0, "the message is not empty");
    t.same(body.messages, [], "a failure has no messages");
    if (expect.code !== undefined) t.equal(body.errors[0]?.code, expect.code, `error code ${expect.code}`);
  }
}

async function inject(app: FastifyInstance, options: InjectOptions): Promise<ApiAnswer & { headers: Record<string, unknown>; raw: string }> {
  const response = await app.inject(options);
  return { status: response.statusCode, body: response.json(), headers: response.headers, raw: response.body };
}

function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
}

/** The key ids as `openssl x509 -ext` prints them (upper-case colon hex), read by the independent verifier. */
function opensslKeyIds(pem: string): { ski: string; aki: string } {
  const out = openssl(["x509", "-noout", "-ext", "subjectKeyIdentifier,authorityKeyIdentifier"], pem);
  const lines = out.stdout.split("\n").map((line) => line.trim());
  const after = (header: RegExp) => {
    const i = lines.findIndex((line) => header.test(line));
    return i < 0 ? "" : lines[i + 1]!.replace(/^keyid:/, "").trim();
  };
  return { ski: after(/Subject Key Identifier/), aki: after(/Authority Key Identifier/) };
}

t.test("success and failure both use cfssl's envelope", async (t) => {
  const { app } = await testApp(t);
  checkEnvelope(t, await post(app, "info", {}), { success: true, status: 200 });
  checkEnvelope(t, await post(app, "newcert", { request: { CN: "envelope.example.com", hosts: ["envelope.example.com"] } }), { success: true, status: 200 });
  const health = await inject(app, { method: "GET", url: "/api/v1/cfssl/health" });
  checkEnvelope(t, health, { success: true, status: 200 });
  checkEnvelope(t, await post(app, "info", { profile: "nope" }), { success: false, status: 400, code: 5400 });
  checkEnvelope(t, await post(app, "sign", "{not json"), { success: false, status: 400, code: 400 });
  checkEnvelope(t, await inject(app, { method: "GET", url: "/no/such/path" }), { success: false, status: 404, code: 404 });
  checkEnvelope(t, await inject(app, { method: "GET", url: "/api/v1/cfssl/sign" }), { success: false, status: 405, code: 405 });
  const headers = (await inject(app, { method: "POST", url: "/api/v1/cfssl/info", payload: "{}" })).headers;
  t.match(headers["content-type"], /^application\/json/, "answers are JSON");
});

t.test("the body is read as JSON whatever the content type says", async (t) => {
  const { app } = await testApp(t);
  const seen: (string | undefined)[] = [];
  app.addHook("onRequest", async (request) => {
    seen.push(request.headers["content-type"]);
  });
  const body = JSON.stringify({ profile: "kubernetes" });

  // No content type at all: inject sends none for a string payload unless told to.
  const none = await inject(app, { method: "POST", url: "/api/v1/cfssl/info", payload: body });
  t.equal(seen.at(-1), undefined, "the request really had no content-type header");
  checkEnvelope(t, none, { success: true, status: 200 });
  t.equal(none.body.result.expiry, "8760h", "and the body was read: the kubernetes profile answered");

  for (const type of ["text/plain", "application/x-www-form-urlencoded", "application/json", "application/json; charset=utf-8", "application/octet-stream"]) {
    const answer = await post(app, "info", body, type);
    t.equal(seen.at(-1), type, `the request was sent as ${type}`);
    checkEnvelope(t, answer, { success: true, status: 200 });
    t.equal(answer.body.result.expiry, "8760h", `${type}: the body was read as JSON`);
  }

  // newcert as `curl -d @file` sends it: form type, JSON body.
  const newcert = await post(app, "newcert", { request: { CN: "form.example.com", hosts: ["form.example.com"] } });
  checkEnvelope(t, newcert, { success: true, status: 200 });
  t.equal(new X509Certificate(newcert.body.result.certificate).subject, "CN=form.example.com");
});

t.test("an empty body on POST info is treated as {}", async (t) => {
  const { app, caPem } = await testApp(t);
  const cases: [string, InjectOptions][] = [
    ["no body and no content type (curl -X POST)", { method: "POST", url: "/api/v1/cfssl/info" }],
    ["an empty string and no content type", { method: "POST", url: "/api/v1/cfssl/info", payload: "" }],
    ["an empty form body (curl -d '')", { method: "POST", url: "/api/v1/cfssl/info", payload: "", headers: { "content-type": "application/x-www-form-urlencoded" } }],
    ["whitespace as JSON", { method: "POST", url: "/api/v1/cfssl/info", payload: " \n", headers: { "content-type": "application/json" } }],
  ];
  for (const [name, options] of cases) {
    const answer = await inject(app, options);
    checkEnvelope(t, answer, { success: true, status: 200 });
    t.equal(answer.body.result?.certificate, caPem, `${name}: the default profile's info`);
  }
});

t.test("malformed or mis-shaped bodies are refused with 400", async (t) => {
  const { app, store } = await testApp(t);
  for (const [name, payload] of [
    ["truncated JSON", '{"certificate_request": "x"'],
    ["not JSON at all", "certificate_request=abc"],
    ["a trailing comma", '{"profile": "kubernetes",}'],
  ]) {
    const answer = await post(app, "sign", payload!);
    checkEnvelope(t, answer, { success: false, status: 400, code: 400 });
    t.match(answer.body.errors[0]?.message, /JSON/, `${name}: the message says the body is not JSON`);
  }
  for (const [name, payload] of [
    ["a JSON array", "[]"],
    ["a JSON array of an object", '[{"profile":"kubernetes"}]'],
    ["a JSON string", '"kubernetes"'],
    ["a JSON number", "5"],
    ["JSON null", "null"],
  ]) {
    const answer = await post(app, "info", payload!, "application/json");
    checkEnvelope(t, answer, { success: false, status: 400, code: 400 });
    t.match(answer.body.errors[0]?.message, /request body/, `${name}: the message names the request body`);
  }

  const sign = await post(app, "sign", { certificate_request: 5 });
  checkEnvelope(t, sign, { success: false, status: 400, code: 400 });
  t.match(sign.body.errors[0]?.message, /certificate_request/, "the message names certificate_request");

  const missing = await post(app, "sign", { profile: "kubernetes" });
  checkEnvelope(t, missing, { success: false, status: 400, code: 400 });
  t.match(missing.body.errors[0]?.message, /certificate_request/, "a missing required field is named");

  const hosts = await post(app, "newcert", { request: { CN: "x.example.com", hosts: "x" } });
  checkEnvelope(t, hosts, { success: false, status: 400, code: 400 });
  t.match(hosts.body.errors[0]?.message, /request\.hosts/, "the message names request.hosts");

  const host = await post(app, "newcert", { request: { CN: "x.example.com", hosts: ["ok.example.com", 7] } });
  checkEnvelope(t, host, { success: false, status: 400, code: 400 });
  t.match(host.body.errors[0]?.message, /request\.hosts\[1\]/, "the message names the element request.hosts[1]");

  const size = await post(app, "newcert", { request: { CN: "x.example.com", key: { algo: "ecdsa", size: "256" } } });
  checkEnvelope(t, size, { success: false, status: 400, code: 400 });
  t.match(size.body.errors[0]?.message, /request\.key\.size/, "the message names request.key.size");

  const profile = await post(app, "info", { profile: 1 });
  checkEnvelope(t, profile, { success: false, status: 400, code: 400 });
  t.match(profile.body.errors[0]?.message, /profile/);

  t.equal(store.count(), 0, "no refused request wrote a certificate");
});

t.test("unknown extra fields are ignored", async (t) => {
  const { app, store } = await testApp(t);
  const info = await post(app, "info", { profile: "kubernetes", remote: "", made_up: { nested: [1, 2] } });
  checkEnvelope(t, info, { success: true, status: 200 });
  t.equal(info.body.result.expiry, "8760h");

  const newcert = await post(app, "newcert", {
    request: { CN: "extra.example.com", hosts: ["extra.example.com"], unknown_csr_field: true, key: { algo: "ecdsa", size: 256, curve: "x" } },
    profile: "server",
    something_else: 42,
  });
  checkEnvelope(t, newcert, { success: true, status: 200 });
  const cert = new X509Certificate(newcert.body.result.certificate);
  t.equal(cert.subjectAltName, "DNS:extra.example.com");
  t.equal(store.count(), 1);
});

t.test("unknown paths, wrong methods and oversized bodies", async (t) => {
  const { app, store } = await testApp(t, { bodyLimit: 1024 });
  for (const [method, url] of [
    ["GET", "/nope"],
    ["POST", "/api/v1/cfssl/nope"],
    ["POST", "/api/v1/cfssl/"],
    ["GET", "/api/v2/cfssl/info"],
  ] as const) {
    const answer = await inject(app, { method, url, payload: method === "POST" ? "{}" : undefined });
    checkEnvelope(t, answer, { success: false, status: 404, code: 404 });
    t.match(answer.body.errors[0]?.message, /no endpoint/, `${method} ${url}`);
  }

  for (const url of ["/api/v1/cfssl/sign", "/api/v1/cfssl/newcert", "/api/v1/cfssl/info", "/api/v1/cfssl/sign?x=1"]) {
    const answer = await inject(app, { method: "GET", url });
    checkEnvelope(t, answer, { success: false, status: 405, code: 405 });
    t.equal(answer.headers.allow, "POST", `GET ${url}: the Allow header lists POST`);
  }
  const put = await inject(app, { method: "PUT", url: "/api/v1/cfssl/health", payload: "{}" });
  checkEnvelope(t, put, { success: false, status: 405, code: 405 });
  t.equal(put.headers.allow, "GET", "health allows GET only");

  const big = JSON.stringify({ certificate_request: "A".repeat(2048) });
  const tooLarge = await post(app, "sign", big);
  checkEnvelope(t, tooLarge, { success: false, status: 413, code: 413 });
  const justFits = await post(app, "info", JSON.stringify({ profile: "kubernetes", pad: "x".repeat(900) }));
  checkEnvelope(t, justFits, { success: true, status: 200 });
  t.equal(store.count(), 0);
});

t.test("health", async (t) => {
  const { app } = await testApp(t);
  const answer = await inject(app, { method: "GET", url: "/api/v1/cfssl/health" });
  checkEnvelope(t, answer, { success: true, status: 200 });
  t.same(answer.body.result, { healthy: true });
});

t.test("info gives the CA certificate and the profile's usages and expiry", async (t) => {
  const { app, caPem, ca } = await testApp(t);
  const byDefault = await post(app, "info", {});
  checkEnvelope(t, byDefault, { success: true, status: 200 });
  t.equal(byDefault.body.result.certificate, caPem, "the CA certificate is the app's");
  t.equal(new X509Certificate(byDefault.body.result.certificate).fingerprint256, new X509Certificate(caPem).fingerprint256);
  t.ok(new X509Certificate(byDefault.body.result.certificate).ca, "it is a CA certificate");
  t.same(byDefault.body.result.usages, ["signing", "key encipherment", "server auth", "client auth"]);
  t.equal(byDefault.body.result.expiry, "8760h");

  const kubernetes = await post(app, "info", { profile: "kubernetes", label: ca.label });
  checkEnvelope(t, kubernetes, { success: true, status: 200 });
  t.equal(kubernetes.body.result.certificate, caPem);
  t.same(kubernetes.body.result.usages, ["signing", "key encipherment", "server auth", "client auth"]);
  t.equal(kubernetes.body.result.expiry, "8760h");

  const client = await post(app, "info", { profile: "client" });
  t.same(client.body.result.usages, ["signing", "key encipherment", "client auth"], "each profile answers its own usages");

  for (const name of ["", "default", null]) {
    const answer = await post(app, "info", { profile: name });
    checkEnvelope(t, answer, { success: true, status: 200 });
    t.same(answer.body.result.usages, byDefault.body.result.usages, `profile ${JSON.stringify(name)} is the default`);
  }

  const unknown = await post(app, "info", { profile: "kubernetez" });
  checkEnvelope(t, unknown, { success: false, status: 400, code: 5400 });
  t.match(unknown.body.errors[0]?.message, /kubernetez/, "the message names the unknown profile");
  t.match(unknown.body.errors[0]?.message, /"kubernetes"/, "and lists the profiles there are");

  const label = await post(app, "info", { label: "other-ca" });
  checkEnvelope(t, label, { success: false, status: 404, code: 12100 });
});

t.test("certinfo describes an issued certificate as cfssl does", async (t) => {
  const { app, caPem } = await testApp(t);
  const hosts = ["api.example.com", "www.example.com", "10.0.0.1", "ops@example.com"];
  const newcert = await post(app, "newcert", {
    request: { CN: "api.example.com", hosts, names: [{ O: "Example Team", C: "US" }] },
    profile: "server",
  });
  checkEnvelope(t, newcert, { success: true, status: 200 });
  const pem: string = newcert.body.result.certificate;
  const cert = new X509Certificate(pem);
  const caCert = new X509Certificate(caPem);

  const answer = await post(app, "certinfo", { certificate: pem });
  checkEnvelope(t, answer, { success: true, status: 200 });
  const info = answer.body.result;
  t.equal(info.subject.common_name, "api.example.com");
  t.equal(info.subject.organization, "Example Team");
  t.equal(info.subject.country, "US");
  t.equal(info.issuer.common_name, /CN=([^\n]+)/.exec(caCert.subject)?.[1], "issuer is the CA's subject");
  t.equal(info.serial_number, BigInt(`0x${cert.serialNumber}`).toString(10), "serial in decimal");
  t.match(info.serial_number, /^[1-9]\d*$/, "plain decimal digits");
  t.same([...info.sans].sort(), [...hosts].sort(), "all the SANs");
  const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
  t.match(info.not_before, rfc3339);
  t.match(info.not_after, rfc3339);
  t.equal(Date.parse(info.not_before), Date.parse(cert.validFrom), "not_before matches the certificate");
  t.equal(Date.parse(info.not_after), Date.parse(cert.validTo), "not_after matches the certificate");
  t.equal(info.sigalg, "ECDSAWithSHA256", "the default ECDSA P-256 CA signs with SHA-256");
  const ids = opensslKeyIds(pem);
  t.match(ids.ski, /^([0-9A-F]{2}:)+[0-9A-F]{2}$/, "openssl printed a subject key id");
  t.equal(info.subject_key_id, ids.ski, "subject_key_id is what openssl prints");
  t.equal(info.authority_key_id, ids.aki, "authority_key_id is what openssl prints");
  t.equal(info.authority_key_id, opensslKeyIds(caPem).ski, "and it is the CA's subject key id");
  t.equal(info.pem.trim(), pem.trim(), "pem is the certificate");
  t.same(pemToDer(info.pem), cert.raw);

  // The recorded certificate, by serial and authority key id, in the spellings clients use.
  const akiHex = info.authority_key_id.replace(/:/g, "");
  for (const aki of [info.authority_key_id, info.authority_key_id.toLowerCase(), akiHex, akiHex.toLowerCase()]) {
    const bySerial = await post(app, "certinfo", { serial: info.serial_number, authority_key_id: aki });
    checkEnvelope(t, bySerial, { success: true, status: 200 });
    t.equal(bySerial.body.result.pem.trim(), pem.trim(), `found with authority_key_id ${aki}`);
    t.equal(bySerial.body.result.serial_number, info.serial_number);
  }

  const otherSerial = (BigInt(info.serial_number) + 1n).toString(10);
  const unknown = await post(app, "certinfo", { serial: otherSerial, authority_key_id: info.authority_key_id });
  checkEnvelope(t, unknown, { success: false, status: 404, code: 11200 });
  t.notMatch(JSON.stringify(unknown.body), /BEGIN CERTIFICATE/);
  const otherAki = await post(app, "certinfo", { serial: info.serial_number, authority_key_id: "00:11:22" });
  checkEnvelope(t, otherAki, { success: false, status: 404, code: 11200 });

  const hexSerial = await post(app, "certinfo", { serial: `${cert.serialNumber}zz`, authority_key_id: info.authority_key_id });
  checkEnvelope(t, hexSerial, { success: false, status: 400, code: 400 });
  t.match(hexSerial.body.errors[0]?.message, /decimal/);

  for (const garbage of ["garbage", "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", newcert.body.result.certificate_request]) {
    const answer = await post(app, "certinfo", { certificate: garbage });
    checkEnvelope(t, answer, { success: false, status: 400, code: 1002 });
  }
  const notX509 = await post(app, "certinfo", { certificate: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" });
  checkEnvelope(t, notX509, { success: false, status: 400, code: 1003 });

  const nothing = await post(app, "certinfo", {});
  checkEnvelope(t, nothing, { success: false, status: 400, code: 400 });
});

t.test("certinfo on the CA certificate itself", async (t) => {
  const { app, caPem } = await testApp(t);
  const answer = await post(app, "certinfo", { certificate: caPem });
  checkEnvelope(t, answer, { success: true, status: 200 });
  const ca = readProfileJson("ca-csr.json");
  t.equal(answer.body.result.subject.common_name, ca.CN);
  t.same(answer.body.result.subject, answer.body.result.issuer, "self-signed: subject is issuer");
  t.same(answer.body.result.sans, []);
  t.equal(answer.body.result.subject_key_id, opensslKeyIds(caPem).ski);
});

t.test("a store that cannot write: 503 code 11100, and no certificate is handed out", async (t) => {
  const tried: unknown[] = [];
  const { app } = await testApp(t, {
    store: {
      insert(record) {
        tried.push(record);
        throw new Error("disk full at /var/lib/secret/certs.db");
      },
      get() {
        return undefined;
      },
    },
  });
  const newcert = await post(app, "newcert", { request: { CN: "lost.example.com", hosts: ["lost.example.com"] } });
  checkEnvelope(t, newcert, { success: false, status: 503, code: 11100 });
  const newcertRaw = JSON.stringify(newcert.body);
  t.notMatch(newcertRaw, /BEGIN CERTIFICATE-----/, "no certificate in the answer");
  t.notMatch(newcertRaw, /PRIVATE KEY/, "no private key in the answer");
  t.notMatch(newcertRaw, /disk full|secret/, "the cause stays in the log");

  const newkey = await post(app, "newkey", { CN: "lost.example.com", hosts: ["lost.example.com"] });
  checkEnvelope(t, newkey, { success: true, status: 200 });
  const sign = await post(app, "sign", { certificate_request: newkey.body.result.certificate_request, profile: "server" });
  checkEnvelope(t, sign, { success: false, status: 503, code: 11100 });
  t.notMatch(JSON.stringify(sign.body), /BEGIN CERTIFICATE-----/, "no certificate in the answer");
  t.equal(tried.length, 2, "both tried to record before answering");

  const health = await inject(app, { method: "GET", url: "/api/v1/cfssl/health" });
  checkEnvelope(t, health, { success: true, status: 200 });
});

t.test("answers are never cached and never sniffed: they carry private keys", async (t) => {
  const { app } = await testApp(t);
  const response = await app.inject({ method: "POST", url: "/api/v1/cfssl/newcert", payload: { request: { CN: "c.internal", hosts: ["c.internal"] } } });
  t.equal(response.statusCode, 200);
  t.equal(response.headers["cache-control"], "no-store");
  t.equal(response.headers["x-content-type-options"], "nosniff");
  t.notOk(response.headers["strict-transport-security"], "no HSTS over plain HTTP");
  const refused = await app.inject({ method: "GET", url: "/nope" });
  t.equal(refused.headers["cache-control"], "no-store");
});
