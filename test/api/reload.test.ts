// Live reload of the signing config through POST /api/v1/admin/reload: a new profile becomes usable,
// a file that does not validate keeps the old config (400, 12300), a request in flight keeps the
// profile it started with (on this thread and in signer worker threads, serial collisions included),
// and admin rights and auth keys follow the config now in use.
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import t, { type Test } from "tap";
import { hmacToken } from "../../src/authority/authentication.js";
import { Signer, type SignerLike } from "../../src/authority/signer.js";
import { SignerPool } from "../../src/authority/signer-pool.js";
import { parseSigningConfig } from "../../src/profiles/signing-config.js";
import { DuplicateSerialError } from "../../src/store/certificate-store.js";
import type { IssuedCertificate } from "../../src/model/issued-certificate.js";
import { makeCa, post, readProfileJson, tempDir, testApp, type ApiAnswer } from "../helpers/app.js";

const serverAuth = "1.3.6.1.5.5.7.3.1";
const clientAuth = "1.3.6.1.5.5.7.3.2";
const authKeyHex = "00112233445566778899aabbccddeeff";

/** Generation 0: "short" is a one-hour server certificate. */
const configA = {
  signing: {
    default: { usages: ["signing", "key encipherment", "server auth", "client auth"], expiry: "8760h" },
    profiles: { short: { usages: ["signing", "key encipherment", "server auth"], expiry: "1h" } },
  },
};

/** The edit: "short" becomes a two-hour client certificate, and "added" appears. */
const configB = {
  signing: {
    default: { usages: ["signing", "key encipherment", "server auth", "client auth"], expiry: "8760h" },
    profiles: {
      short: { usages: ["signing", "digital signature", "client auth"], expiry: "2h" },
      added: { usages: ["signing", "key encipherment", "server auth"], expiry: "3h" },
    },
  },
};

function writeConfig(path: string, document: unknown): void {
  writeFileSync(path, typeof document === "string" ? document : JSON.stringify(document, null, 2));
}

async function reload(app: FastifyInstance, headers: Record<string, string> = {}): Promise<ApiAnswer> {
  const response = await app.inject({ method: "POST", url: "/api/v1/admin/reload", headers });
  return { status: response.statusCode, body: response.json() };
}

const newCert = (app: FastifyInstance, profile: string, cn = "svc.internal") => post(app, "newcert", { request: { CN: cn, hosts: [cn] }, profile });

/** Lifetime in whole hours (NotBefore is backdated 5 minutes) and extended key usages. */
function describe(pem: string) {
  const cert = new X509Certificate(pem);
  const hours = Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 3_600_000);
  return { hours, eku: cert.keyUsage ?? [], serial: BigInt(`0x${cert.serialNumber}`).toString(10) };
}

/** A signer whose first sign or newcert call waits at a gate: the request is in flight, its config generation taken. */
function gated(inner: SignerLike) {
  let called!: () => void;
  const inFlight = new Promise<void>((resolve) => (called = resolve));
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let first = true;
  const wait = async () => {
    if (!first) return;
    first = false;
    called();
    await gate;
  };
  const signer: SignerLike = {
    async sign(request, generation) {
      await wait();
      return inner.sign(request, generation);
    },
    async newCert(request, keyPem, generation) {
      await wait();
      return inner.newCert(request, keyPem, generation);
    },
    reissue: (pem) => inner.reissue(pem),
    useConfig: (generation, config, document) => inner.useConfig!(generation, config, document),
  };
  return { signer, inFlight, open };
}

/** The two places signing happens: this thread, and the worker threads `serve` uses. */
const backends: { name: string; make(t: Test, made: Awaited<ReturnType<typeof makeCa>>): Promise<SignerLike> }[] = [
  { name: "a signer on this thread", make: async (_t, made) => new Signer(made.ca, parseSigningConfig(configA)) },
  {
    name: "signer worker threads",
    make: async (t, made) => {
      const pool = await SignerPool.start(2, { caCertificate: made.certificate, caKey: made.private_key, label: made.ca.label, configDocument: configA });
      t.teardown(() => pool.close());
      return pool;
    },
  },
];

t.test("a reload makes a new profile usable and changes an existing one; the log says so", async (t) => {
  const configPath = join(tempDir(t), "ca-config.json");
  writeConfig(configPath, configA);
  const lines: string[] = [];
  const { app, authority } = await testApp(t, { configPath, logStream: { write: (line) => void lines.push(line) } });

  const before = await newCert(app, "added");
  t.equal(before.status, 400);
  t.equal(before.body.errors[0]?.code, 5400, "no profile \"added\" yet");
  t.equal(describe((await newCert(app, "short")).body.result.certificate).hours, 1);

  writeConfig(configPath, configB);
  const answer = await reload(app);
  t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
  t.same(answer.body.result, { generation: 1, profiles: ["default", "short", "added"] });
  t.equal(authority.generation, 1);

  const added = await newCert(app, "added");
  t.equal(added.status, 200, JSON.stringify(added.body.errors));
  t.equal(describe(added.body.result.certificate).hours, 3, "the new profile's lifetime");
  const short = describe((await newCert(app, "short")).body.result.certificate);
  t.equal(short.hours, 2, "the changed profile's lifetime");
  t.same(short.eku, [clientAuth], "and its usages");
  const info = await post(app, "info", { profile: "short" });
  t.equal(info.body.result.expiry, "2h", "info answers from the new config");

  const logged = lines.map((line) => JSON.parse(line) as { msg: string; generation?: number; audit?: { endpoint: string; outcome: string } });
  t.ok(logged.some((line) => line.msg === "signing config reloaded: 3 profiles" && line.generation === 1), "one line says the config was reloaded");
  t.ok(logged.some((line) => line.audit?.endpoint === "reload" && line.audit.outcome === "reloaded"), "and the request's audit line");
});

t.test("a config file that does not validate keeps the old config: 400, code 12300, the reason logged", async (t) => {
  const configPath = join(tempDir(t), "ca-config.json");
  writeConfig(configPath, configB);
  const lines: string[] = [];
  const { app, authority } = await testApp(t, { configPath, logStream: { write: (line) => void lines.push(line) } });

  const broken: [string, unknown, RegExp][] = [
    ["a bad field", { signing: { profiles: { added: { usages: ["signing"], expiry: "soon" } } } }, /signing\.profiles\.added\.expiry: "soon" is not a positive duration/],
    ["an unknown field", { signing: { profiles: { added: { usages: ["signing"], expiry: "1h", expiri: "2h" } } } }, /signing\.profiles\.added\.expiri: unknown field/],
    ["not JSON", "{ \"signing\": ", /not valid JSON/],
    ["an auth_key that is not in auth_keys", { signing: { profiles: { added: { usages: ["signing"], expiry: "1h", auth_key: "ci" } } } }, /auth_key: "ci" is not in auth_keys/],
  ];
  for (const [name, document, reason] of broken) {
    writeConfig(configPath, document);
    const answer = await reload(app);
    t.equal(answer.status, 400, `${name}: 400`);
    t.equal(answer.body.success, false);
    t.equal(answer.body.errors[0]?.code, 12300, `${name}: code 12300`);
    t.match(answer.body.errors[0]?.message, reason, `${name}: the message names the problem`);
    t.match(answer.body.errors[0]?.message, configPath, `${name}: and the file`);
  }
  writeFileSync(configPath, ""); // emptied by a careless editor
  t.equal((await reload(app)).status, 400, "an empty file: 400");
  // A key pasted without its quotes: V8's JSON message would quote the text around it.
  writeConfig(configPath, `{"signing":{},"auth_keys":{"ci":{"type":"standard","key":x${authKeyHex}}}}`);
  const leaky = await reload(app);
  t.equal(leaky.status, 400);
  t.match(leaky.body.errors[0]?.message, /not valid JSON \(Unexpected token 'x'\)/);
  t.notMatch(JSON.stringify(leaky.body), authKeyHex.slice(0, 8), "no piece of the key in the answer");
  t.notOk(lines.some((line) => line.includes(authKeyHex.slice(0, 8))), "nor in the log");

  t.equal(authority.generation, 0, "the config in use is still the first one");
  const added = await newCert(app, "added");
  t.equal(added.status, 200, "the old profiles still serve");
  t.equal(describe(added.body.result.certificate).hours, 3, "as they were");
  const failures = lines.filter((line) => line.includes("signing config not reloaded, the old one stays in use"));
  t.ok(failures.some((line) => /"level":50/.test(line) && line.includes("is not a positive duration")), "the reason is logged at error level");

  writeConfig(configPath, configA);
  t.equal((await reload(app)).status, 200, "a fixed file reloads");
  t.equal((await newCert(app, "added")).body.errors[0]?.code, 5400, "and takes effect");
});

for (const backend of backends) {
  t.test(`a request in flight during a reload keeps the profile it started with (${backend.name})`, async (t) => {
    const configPath = join(tempDir(t), "ca-config.json");
    writeConfig(configPath, configA);
    const made = await makeCa();
    const { signer, inFlight, open } = gated(await backend.make(t, made));
    const { app } = await testApp(t, { configPath, ca: made.ca, signer });

    let settled = false;
    const pending = newCert(app, "short", "inflight.internal").finally(() => (settled = true));
    await inFlight;
    writeConfig(configPath, configB);
    const answer = await reload(app);
    t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
    t.notOk(settled, "the reload finished while the request was still in flight");
    const after = describe((await newCert(app, "short", "after.internal")).body.result.certificate);
    t.same({ hours: after.hours, eku: after.eku }, { hours: 2, eku: [clientAuth] }, "a request started after the reload gets the new profile");

    open();
    const first = await pending;
    t.equal(first.status, 200, JSON.stringify(first.body.errors));
    const during = describe(first.body.result.certificate);
    t.same({ hours: during.hours, eku: during.eku }, { hours: 1, eku: [serverAuth] }, "the request in flight was signed under the profile it started with");
  });

  t.test(`a serial collision is issued again under the request's own config generation (${backend.name})`, async (t) => {
    const configPath = join(tempDir(t), "ca-config.json");
    writeConfig(configPath, configA);
    const made = await makeCa();
    const signer = await backend.make(t, made);
    // The first insert waits (the request is in flight, signed) and then finds its serial taken.
    let called!: () => void;
    const inFlight = new Promise<void>((resolve) => (called = resolve));
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const recorded: IssuedCertificate[] = [];
    let collided = false;
    const store = {
      async insert(record: IssuedCertificate) {
        if (!collided) {
          collided = true;
          called();
          await gate;
          throw new DuplicateSerialError(`serial ${record.serialNumber} is recorded already`);
        }
        recorded.push(record);
      },
      get: () => undefined,
    };
    const { app } = await testApp(t, { configPath, ca: made.ca, signer, store });

    const pending = newCert(app, "short", "collide.internal");
    await inFlight;
    writeConfig(configPath, configB);
    t.equal((await reload(app)).status, 200);
    open();
    const answer = await pending;
    t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
    const issued = describe(answer.body.result.certificate);
    t.same({ hours: issued.hours, eku: issued.eku }, { hours: 1, eku: [serverAuth] }, "the certificate issued again is under the first config");
    t.equal(recorded.length, 1);
    t.equal(recorded[0]?.serialNumber, issued.serial, "the answered serial is the recorded one");
  });
}

t.test("reloading is an admin's act once authentication is configured; auth keys follow the config in use", async (t) => {
  await t.test("with an admin token: 401 without it, 403 with a wrong one, 200 with it", async (t) => {
    const configPath = join(tempDir(t), "ca-config.json");
    writeConfig(configPath, configA);
    const adminToken = "reload-admin-token-0123456789";
    const { app } = await testApp(t, { configPath, adminToken });
    const none = await reload(app);
    t.equal(none.status, 401);
    t.equal(none.body.errors[0]?.code, 13100);
    t.equal((await reload(app, { authorization: "Bearer wrong-token-wrong-token" })).status, 403);
    const ok = await reload(app, { authorization: `Bearer ${adminToken}` });
    t.equal(ok.status, 200, JSON.stringify(ok.body.errors));
  });

  await t.test("a reload that adds auth_keys: its keys authenticate at once, and admin acts need the token from then on", async (t) => {
    const configPath = join(tempDir(t), "ca-config.json");
    writeConfig(configPath, configA);
    const adminToken = "reload-admin-token-0123456789";
    const { app } = await testApp(t, { configPath });
    t.equal((await reload(app)).status, 200, "no authentication configured: open, as the rest");
    t.equal((await post(app, "init_ca", readProfileJson("ca-csr.json"))).status, 200, "init_ca is open too");

    writeConfig(configPath, {
      auth_keys: { ci: { type: "standard", key: authKeyHex } },
      signing: { ...configA.signing, profiles: { ...configA.signing.profiles, locked: { usages: ["signing", "server auth"], expiry: "1h", auth_key: "ci" } } },
    });
    t.equal((await reload(app)).status, 200);

    const body = JSON.stringify({ request: { CN: "locked.internal", hosts: ["locked.internal"] }, profile: "locked" });
    const unsigned = await app.inject({ method: "POST", url: "/api/v1/cfssl/newcert", payload: body });
    t.equal(unsigned.statusCode, 401, "the new profile's auth_key holds");
    const mac = hmacToken(Buffer.from(authKeyHex, "hex"), Buffer.from(body)).toString("base64");
    const signed = await app.inject({ method: "POST", url: "/api/v1/cfssl/newcert", payload: body, headers: { authorization: `CFSSL-HMAC ci:${mac}` } });
    t.equal(signed.statusCode, 200, `the new key authenticates: ${signed.body}`);

    const locked = await reload(app);
    t.equal(locked.status, 403, "with auth_keys configured and no admin token, reloading over HTTP is closed (SIGHUP still works)");
    t.match(locked.body.errors[0]?.message, /this endpoint is closed/);
    t.equal((await app.inject({ method: "POST", url: "/api/v1/cfssl/init_ca", payload: { CN: "x" } })).statusCode, 403, "and so is init_ca");
    t.equal((await reload(app, { authorization: `Bearer ${adminToken}` })).status, 403, "no admin token is configured here, so none is right");
  });
});
