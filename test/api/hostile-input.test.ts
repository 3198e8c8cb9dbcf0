// Hostile input (issue 13): values nested 5,000 levels deep, and oversized ones, in every field of
// every endpoint's body. A 10 kB body of nested arrays in `metadata` once made the hand-over to a
// signer thread (structured clone recurses) throw on the main thread and end the process, failing
// every other request of its batch with it. Each answer must be the envelope with a 200 or a 4xx,
// and afterwards the service must still answer health and sign, over worker threads as `serve` runs.
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import type { z } from "zod";
import { SignerPool } from "../../src/authority/signer-pool.js";
import {
  authSignRequestSchema,
  caRequestSchema,
  certInfoRequestSchema,
  csrRequestSchema,
  infoRequestSchema,
  keyRequestSchema,
  nameEntrySchema,
  newCertRequestSchema,
  ocspSignRequestSchema,
  revokeRequestSchema,
  signRequestSchema,
  subjectSchema,
  tidyRequestSchema,
} from "../../src/schemas/wire.js";
import { makeCa, openssl, profilesDir, tempDir, testApp, type ApiAnswer } from "../helpers/app.js";
import { startService } from "../helpers/server.js";

const depth = 5_000;
/** Raw JSON texts, built as text since JSON.stringify itself recurses; each fits authsign's base64 request too. */
const hostileValues: Record<string, string> = {
  "arrays 5,000 deep": "[".repeat(depth) + "]".repeat(depth),
  "objects 5,000 deep": `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`,
  "a 64 kB string": JSON.stringify("A".repeat(64_000)),
  "an array of 10,000 numbers": `[${Array.from({ length: 10_000 }, (_, i) => i).join(",")}]`,
  "an object of 2,000 keys": `{${Array.from({ length: 2_000 }, (_, i) => `"k${i}":${i}`).join(",")}}`,
};
type Shape = Record<string, z.ZodType>;
/** The objects nested in request bodies, by field name, so their fields get the same treatment. */
const nested: Record<string, Shape> = {
  request: csrRequestSchema.shape,
  subject: subjectSchema.shape,
  key: keyRequestSchema.shape,
  ca: caRequestSchema.shape,
  names: nameEntrySchema.shape,
};

/** Every field path of a schema's shape, nested objects' fields included (`names` as its first entry's). */
function fieldPaths(shape: Shape, prefix: string[] = []): string[][] {
  const paths: string[][] = [[...prefix, "unknown_extra_field"]];
  for (const name of Object.keys(shape)) {
    const path = [...prefix, name];
    paths.push(path);
    const inner = nested[name];
    if (inner) paths.push(...fieldPaths(inner, name === "names" ? [...path, "0"] : path));
  }
  return paths;
}

const marker = "__hostile_value__";

/** `base` as JSON with the value at `path` replaced by the raw JSON text `value`. */
function bodyWith(base: object, path: string[], value: string): string {
  const copy = structuredClone(base) as Record<string, unknown>;
  let at = copy;
  for (const [i, part] of path.slice(0, -1).entries()) {
    if (typeof at[part] !== "object" || at[part] === null) at[part] = /^\d+$/.test(path[i + 1]!) ? [] : {};
    at = at[part] as Record<string, unknown>;
  }
  at[path.at(-1)!] = marker;
  return JSON.stringify(copy).replace(JSON.stringify(marker), value);
}

/** DER SEQUENCEs nested `levels` deep around a NULL: what a recursive ASN.1 reader overflows on. */
function nestedDer(levels: number): Buffer {
  let inner = Buffer.from([0x05, 0x00]);
  for (let i = 0; i < levels; i++) {
    const n = inner.length;
    const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
    inner = Buffer.concat([Buffer.from([0x30, ...length]), inner]);
  }
  return inner;
}

const pemOf = (label: string, der: Buffer) => `-----BEGIN ${label}-----\n${der.toString("base64").replace(/.{64}/g, "$&\n")}\n-----END ${label}-----\n`;

function csrPem(dir: string, name: string): string {
  const made = openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, `${name}.key`), "-out", join(dir, `${name}.csr`), "-subj", `/CN=${name}.example.com`]);
  if (made.status !== 0) throw new Error(made.stderr);
  return readFileSync(join(dir, `${name}.csr`), "utf8");
}

function isEnvelope(body: unknown): boolean {
  if (typeof body !== "object" || body === null) return false;
  const fields = body as Record<string, unknown>;
  return typeof fields.success === "boolean" && Array.isArray(fields.errors) && Array.isArray(fields.messages) && "result" in fields;
}

t.test("deep and oversized values in every field of every endpoint, over signer worker threads: 4xx envelopes, and the service still signs", async (t) => {
  const made = await makeCa();
  const dir = tempDir(t);
  const configPath = join(dir, "ca-config.json");
  copyFileSync(join(profilesDir, "ca-config.json"), configPath);
  const configDocument = JSON.parse(readFileSync(configPath, "utf8"));
  const pool = await SignerPool.start(2, { caCertificate: made.certificate, caKey: made.private_key, label: made.ca.label, configDocument });
  t.teardown(() => pool.close());
  const { app, store, caPem } = await testApp(t, { ca: made.ca, configPath, signer: pool });
  const csr = csrPem(dir, "normal");
  const signBase = { certificate_request: csr, hosts: ["normal.example.com"] };

  const endpoints: { path: string; base: object; shape: Shape }[] = [
    ...["init_ca", "initca", "newkey"].map((name) => ({ path: `/api/v1/cfssl/${name}`, base: { CN: "x.example.com" }, shape: csrRequestSchema.shape })),
    ...["newcert", "gencert"].map((name) => ({ path: `/api/v1/cfssl/${name}`, base: { request: { CN: "x.example.com", hosts: ["x.example.com"] } }, shape: newCertRequestSchema.shape })),
    { path: "/api/v1/cfssl/sign", base: signBase, shape: signRequestSchema.shape },
    { path: "/api/v1/cfssl/authsign", base: { token: "AAAA", request: Buffer.from(JSON.stringify(signBase)).toString("base64") }, shape: authSignRequestSchema.shape },
    { path: "/api/v1/cfssl/info", base: {}, shape: infoRequestSchema.shape },
    { path: "/api/v1/cfssl/certinfo", base: { certificate: caPem }, shape: certInfoRequestSchema.shape },
    { path: "/api/v1/cfssl/revoke", base: { serial: "1" }, shape: revokeRequestSchema.shape },
    { path: "/api/v1/cfssl/ocspsign", base: { certificate: caPem }, shape: ocspSignRequestSchema.shape },
    { path: "/api/v1/certificates/tidy", base: { older_than: "8760h" }, shape: tidyRequestSchema.shape },
    { path: "/api/v1/admin/reload", base: {}, shape: {} },
  ];
  const shots: { where: string; path: string; payload: string }[] = [];
  for (const { path, base, shape } of endpoints) {
    for (const field of fieldPaths(shape)) {
      for (const [kind, value] of Object.entries(hostileValues)) {
        shots.push({ where: `${path} ${field.join(".")}: ${kind}`, path, payload: bodyWith(base, field, value) });
      }
    }
  }
  // authsign's request is a sign request of its own, base64: every field of it too.
  for (const field of fieldPaths(signRequestSchema.shape)) {
    for (const [kind, value] of Object.entries(hostileValues)) {
      const request = Buffer.from(bodyWith(signBase, field, value)).toString("base64");
      shots.push({ where: `authsign request.${field.join(".")}: ${kind}`, path: "/api/v1/cfssl/authsign", payload: JSON.stringify({ token: "AAAA", request }) });
    }
  }

  let failures = 0;
  for (const shot of shots) {
    const response = await app.inject({ method: "POST", url: shot.path, payload: shot.payload, headers: { "content-type": "application/json" } });
    const status = response.statusCode;
    let body: unknown;
    try {
      body = response.json();
    } catch {
      body = undefined;
    }
    const answered = isEnvelope(body) && (status === 200 || (status >= 400 && status < 500));
    if (!answered && failures++ < 10) t.fail(`${shot.where}: ${status} ${response.body.slice(0, 200)}`);
  }
  t.equal(failures, 0, `${shots.length} hostile requests, each answered with the envelope and a 200 or a 4xx`);

  // The fields that hold DER: nested 9,000 levels deep (a 48 kB PEM), and oversized query strings.
  const der = nestedDer(9_000);
  const derShots = [
    { method: "POST" as const, url: "/api/v1/cfssl/certinfo", payload: { certificate: pemOf("CERTIFICATE", der) } },
    { method: "POST" as const, url: "/api/v1/cfssl/sign", payload: { certificate_request: pemOf("CERTIFICATE REQUEST", der) } },
    { method: "POST" as const, url: "/api/v1/cfssl/ocspsign", payload: { certificate: pemOf("CERTIFICATE", der) } },
    { method: "GET" as const, url: `/api/v1/certificates?q=${"q".repeat(8_000)}&profile=${"p".repeat(8_000)}` },
    { method: "GET" as const, url: `/api/v1/certificates/${"9".repeat(8_000)}` },
    { method: "GET" as const, url: `/api/v1/cfssl/crl?expiry=${"9".repeat(8_000)}h` },
    { method: "GET" as const, url: "/api/v1/certificates/%E0%A4%A" },
  ];
  for (const shot of derShots) {
    const response = await app.inject(shot);
    t.ok(response.statusCode < 500 && isEnvelope(response.json()), `${shot.method} ${shot.url.slice(0, 60)}: ${response.statusCode} ${response.body.slice(0, 120)}`);
  }
  for (const ocsp of [
    app.inject({ method: "POST", url: "/ocsp", payload: der, headers: { "content-type": "application/ocsp-request" } }),
    app.inject({ method: "GET", url: `/ocsp/${encodeURIComponent(nestedDer(4_000).toString("base64"))}` }),
  ]) {
    const response = await ocsp;
    t.equal(response.statusCode, 200, "OCSP answers a request it cannot read with its own malformedRequest status");
  }

  const deep = await app.inject({ method: "POST", url: "/api/v1/cfssl/sign", payload: bodyWith(signBase, ["metadata", "a"], hostileValues["arrays 5,000 deep"]!) });
  t.equal(deep.statusCode, 400);
  t.match(deep.json().errors[0], { code: 400, message: /metadata.*nested deeper than 8 levels/ }, "the message names the field and the bound");

  t.equal((await app.inject({ method: "GET", url: "/api/v1/cfssl/health" })).statusCode, 200, "health still answers");
  const before = store.count();
  const signed = await app.inject({ method: "POST", url: "/api/v1/cfssl/sign", payload: { ...signBase, metadata: { team: "payments", tags: ["a", "b"] } } });
  t.equal(signed.statusCode, 200, `a normal sign, with small metadata, still works: ${signed.body.slice(0, 200)}`);
  t.equal(store.count(), before + 1);
});

t.test("one request that cannot be handed to a signer thread fails alone, not the requests sent with it", async (t) => {
  const made = await makeCa();
  const dir = tempDir(t);
  const configDocument = JSON.parse(readFileSync(join(profilesDir, "ca-config.json"), "utf8"));
  const pool = await SignerPool.start(1, { caCertificate: made.certificate, caKey: made.private_key, label: made.ca.label, configDocument });
  t.teardown(() => pool.close());
  const csr = csrPem(dir, "batch");
  // Past the schema (a caller inside the service), a value structured clone cannot copy: too deep.
  let tooDeep: unknown[] = [];
  for (let i = 0; i < 20_000; i++) tooDeep = [tooDeep];
  const calls = Array.from({ length: 6 }, (_, i) =>
    pool.sign(i === 2 ? { certificate_request: csr, extensions: tooDeep } : { certificate_request: csr, hosts: [`n${i}.example.com`] }),
  );
  const settled = await Promise.allSettled(calls);
  t.same(settled.map((s) => s.status), ["fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled", "fulfilled"], "only the one that could not be posted fails");
  t.match((settled[2] as PromiseRejectedResult).reason, { kind: "invalidRequest", message: /could not be handed to a signer thread/ });
  t.ok(await pool.sign({ certificate_request: csr }), "the pool still signs");
});

t.test("the real service: deep metadata and extensions are refused with 400 and it keeps serving", async (t) => {
  const cwd = tempDir(t);
  const service = await startService(t, { cwd, args: ["--workers", "1", "--log-level", "warn"] });
  const csr = csrPem(cwd, "process");
  const post = async (body: string) => {
    const response = await fetch(`${service.api}/sign`, { method: "POST", body, headers: { "content-type": "application/json" } });
    return { status: response.status, body: (await response.json()) as ApiAnswer["body"] };
  };
  const base = { certificate_request: csr };
  const normal = JSON.stringify(base);
  // A hostile request in the middle of a batch of normal ones, all in flight together.
  const answers = await Promise.all([
    post(normal),
    post(bodyWith(base, ["metadata", "a"], hostileValues["arrays 5,000 deep"]!)),
    post(bodyWith(base, ["extensions"], hostileValues["arrays 5,000 deep"]!)),
    post(bodyWith(base, ["metadata"], hostileValues["objects 5,000 deep"]!)),
    post(normal),
    post(normal),
  ]);
  t.same(answers.map((a) => a.status), [200, 400, 400, 400, 200, 200], JSON.stringify(answers.map((a) => a.body.errors)));
  t.match(answers[1]!.body.errors[0]?.message, /metadata/);
  t.match(answers[2]!.body.errors[0]?.message, /extensions/);
  const health = await fetch(`${service.api}/health`);
  t.equal(health.status, 200, "the process still answers health");
  t.equal((await post(normal)).status, 200, "and signs");
  t.equal(service.child.exitCode, null, "and is still running");
});
