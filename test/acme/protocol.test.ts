// Every refusal of the ACME server, provoked with hand-made JWS: each answer an RFC 7807 problem
// document with its ACME type, and each carrying a fresh Replay-Nonce.
import { createHmac, generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import { base64url, type FlattenedJWS } from "jose";
import t, { type Test } from "tap";
import type { ChallengeValidator, ValidationResult } from "../../src/acme/validation/types.js";
import { parseSigningConfig } from "../../src/profiles/signing-config.js";
import { GuardStore } from "../../src/store/guard-store.js";
import { AcmeTestClient, accountKey, csrFor, http01Responder, loopbackHttp01Validator, signJws, type AcmeResponse } from "../helpers/acme-client.js";
import { testApp } from "../helpers/app.js";

const hmacKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const document = {
  auth_keys: { "team-a": { type: "standard", key: hmacKey } },
  signing: {
    default: { usages: ["digital signature", "server auth"], expiry: "720h" },
    profiles: {
      server: { usages: ["digital signature", "key encipherment", "server auth"], expiry: "720h", policy: { dns: { allow: [".example.test"] }, ip: { allow: ["192.0.2.0/24"] } } },
    },
  },
  acme: {
    default: { profile: "server" },
    "http-only": { profile: "server", challenges: ["http-01"] },
    bound: { profile: "server", external_account_binding: true },
  },
};

const urn = (type: string) => `urn:ietf:params:acme:error:${type}`;

function isProblem(t: Test, answer: AcmeResponse, type: string, status: number, detail?: RegExp) {
  t.equal(answer.status, status, `${type}: status ${status} (${answer.text})`);
  t.match(answer.headers["content-type"], /^application\/problem\+json(; charset=utf-8)?$/, "a problem document");
  t.equal(answer.body?.type, urn(type));
  t.equal(answer.body?.status, status);
  t.match(answer.headers["replay-nonce"], /^[A-Za-z0-9_-]+$/, "with a fresh nonce");
  if (detail) t.match(answer.body?.detail, detail);
}

/** A scripted validator: answers each validation with the next result, or throws. */
function scripted(results: (ValidationResult | Error)[]): ChallengeValidator {
  return {
    async validate() {
      const next = results.shift() ?? { ok: true };
      if (next instanceof Error) throw next;
      return next;
    },
  };
}

async function setup(t: Test, validator?: ChallengeValidator, clock?: () => Date) {
  const responder = await http01Responder(t);
  const ctx = await testApp(t, { config: parseSigningConfig(document), acme: { validator: validator ?? loopbackHttp01Validator(responder.port) }, clock });
  const client = await AcmeTestClient.create(ctx.app);
  return { ...ctx, client, responder };
}

t.test("nonces: missing, unknown and replayed nonces are badNonce; each answer brings a fresh one", async (t) => {
  const { client } = await setup(t);
  const url = client.directory.newAccount!;
  isProblem(t, await client.post(url, {}, { nonce: null }), "badNonce", 400, /no "nonce"/);
  isProblem(t, await client.post(url, {}, { nonce: "bm90LWlzc3VlZA" }), "badNonce", 400, /not issued|used already/);
  const nonce = await client.nonce();
  const first = await client.post(url, { termsOfServiceAgreed: true }, { nonce });
  t.equal(first.status, 201);
  isProblem(t, await client.post(url, { termsOfServiceAgreed: true }, { nonce }), "badNonce", 400, /used already/);
  const fresh = (await client.post(url, {}, { nonce: null })).headers["replay-nonce"] as string;
  t.equal((await client.post(url, { termsOfServiceAgreed: true }, { nonce: fresh })).status, 200, "the nonce of a badNonce answer works");
});

t.test("the JWS envelope: url, kid and jwk, algorithms, content type and signature", async (t) => {
  const { client } = await setup(t);
  const newAccount = client.directory.newAccount!;
  isProblem(t, await client.post(newAccount, {}, { url: `${newAccount}x` }), "unauthorized", 403, /not the URL requested/);
  isProblem(t, await client.post(newAccount, {}, { url: newAccount.replace("localhost", "attacker.example") }), "unauthorized", 403);
  isProblem(t, await client.post(newAccount, {}, { use: "both", kid: "http://localhost/acme/default/account/x" }), "malformed", 400, /both "kid" and "jwk"/);
  isProblem(t, await client.post(newAccount, {}, { use: "neither" }), "malformed", 400, /neither/);
  isProblem(t, await client.post(newAccount, {}, { use: "kid", kid: "http://localhost:80/acme/default/account/x" }), "malformed", 400, /"jwk", not an account "kid"/);
  t.equal((await client.newAccount()).status, 201);
  isProblem(t, await client.post(client.directory.newOrder!, { identifiers: [{ type: "dns", value: "a.example.test" }] }, { use: "jwk" }), "malformed", 400, /"kid"/);

  // alg none, an HMAC, and a key that does not fit its alg.
  const nonce = await client.nonce();
  const none = { protected: base64url.encode(JSON.stringify({ alg: "none", nonce, url: newAccount, jwk: client.key.jwk })), payload: "", signature: "" };
  const refusedAlg = await client.postRaw(newAccount, none);
  isProblem(t, refusedAlg, "badSignatureAlgorithm", 400, /alg "none" is not accepted/);
  t.same(refusedAlg.body.algorithms, ["ES256", "ES384", "RS256", "EdDSA"], "the algorithms accepted are listed (RFC 8555 6.2)");
  const hs = { protected: base64url.encode(JSON.stringify({ alg: "HS256", nonce: await client.nonce(), url: newAccount, jwk: client.key.jwk })), payload: "", signature: "AA" };
  isProblem(t, await client.postRaw(newAccount, hs), "badSignatureAlgorithm", 400);
  const p384 = await accountKey("ES384");
  const mismatched = await signJws(p384, { alg: "ES384", nonce: await client.nonce(), url: newAccount, jwk: client.key.jwk }, {});
  isProblem(t, await client.postRaw(newAccount, mismatched), "badSignatureAlgorithm", 400, /does not go with a EC key on P-256/);
  // jose will not sign with a 1024-bit key; the key is refused before any signature is read.
  const rsa1024 = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ format: "jwk" });
  const small = { protected: base64url.encode(JSON.stringify({ alg: "RS256", nonce: await client.nonce(), url: newAccount, jwk: rsa1024 })), payload: "", signature: "AA" };
  isProblem(t, await client.postRaw(newAccount, small), "badPublicKey", 400, /1024 bits/);

  // A signature by another key than the one named.
  const other = await accountKey("ES256");
  const forged = await client.jws(newAccount, { termsOfServiceAgreed: true }, { use: "jwk", key: other, header: { jwk: client.key.jwk } });
  isProblem(t, await client.postRaw(newAccount, forged), "malformed", 400, /signature does not verify/);
  const tampered: FlattenedJWS = { ...(await client.jws(newAccount, {}, { use: "jwk" })), payload: base64url.encode("{\"onlyReturnExisting\":true}") };
  isProblem(t, await client.postRaw(newAccount, tampered), "malformed", 400, /signature/);

  // Serializations and content types that are not ACME's.
  const good = await client.jws(newAccount, {}, { use: "jwk" });
  isProblem(t, await client.postRaw(newAccount, good, "application/json"), "malformed", 415, /application\/jose\+json/);
  isProblem(t, await client.postRaw(newAccount, { ...(await client.jws(newAccount, {}, { use: "jwk" })), header: { kid: "x" } }), "malformed", 400, /unprotected header/);
  isProblem(t, await client.postRaw(newAccount, { signatures: [] }), "malformed", 400, /general JSON/);
  const notJson = await client.app.inject({ method: "POST", url: "/acme/default/new-account", headers: { "content-type": "application/jose+json" }, payload: "{nope" });
  t.equal(notJson.statusCode, 400);
  t.equal(notJson.json().type, urn("malformed"));
});

t.test("accounts: unknown kid, onlyReturnExisting, contact, deactivation, key rollover", async (t) => {
  const { client, app } = await setup(t);
  const stranger = await AcmeTestClient.create(app);
  isProblem(t, await stranger.post(stranger.directory.newAccount!, { onlyReturnExisting: true }, { use: "jwk" }), "accountDoesNotExist", 400);
  isProblem(
    t,
    await stranger.post(stranger.directory.newOrder!, { identifiers: [{ type: "dns", value: "a.example.test" }] }, { use: "kid", kid: "http://localhost:80/acme/default/account/nobody" }),
    "accountDoesNotExist",
    400,
  );
  isProblem(t, await client.newAccount({ contact: ["tel:+1555"] }), "unsupportedContact", 400);
  const created = await client.newAccount();
  t.equal(created.status, 201);
  const accountUrl = client.account!;
  // A kid of this account at another provisioner is not an account there.
  const elsewhere = await AcmeTestClient.create(app, "ES256", "http-only");
  elsewhere.key = client.key;
  isProblem(t, await elsewhere.post(elsewhere.directory.newOrder!, { identifiers: [{ type: "dns", value: "a.example.test" }] }, { use: "kid", kid: accountUrl }), "accountDoesNotExist", 400);

  const read = await client.post(accountUrl, "");
  t.equal(read.status, 200);
  const updated = await client.post(accountUrl, { contact: ["mailto:new@example.test"] });
  t.same(updated.body.contact, ["mailto:new@example.test"]);
  const orders = await client.post(read.body.orders, "");
  t.same(orders.body, { orders: [] });

  // Key rollover (RFC 8555 7.3.5): the new key signs an inner JWS naming the account and the old key.
  const oldKey = client.key;
  const newKey = await accountKey("ES256");
  const keyChange = client.directory.keyChange!;
  const inner = await signJws(newKey, { url: keyChange, jwk: newKey.jwk }, { account: accountUrl, oldKey: oldKey.jwk });
  const badInner = await signJws(newKey, { url: keyChange, jwk: newKey.jwk }, { account: accountUrl, oldKey: newKey.jwk });
  isProblem(t, await client.post(keyChange, badInner), "malformed", 400, /oldKey/);
  const rolled = await client.post(keyChange, inner);
  t.equal(rolled.status, 200, rolled.text);
  isProblem(t, await client.post(accountUrl, ""), "malformed", 400, /signature does not verify/);
  client.key = newKey;
  t.equal((await client.post(accountUrl, "")).status, 200, "the new key signs for the account");

  // A key already held by another account is a conflict, naming it.
  const second = await AcmeTestClient.create(app);
  await second.newAccount();
  const taken = await signJws(newKey, { url: keyChange, jwk: newKey.jwk }, { account: second.account, oldKey: second.key.jwk });
  const conflict = await second.post(keyChange, taken);
  isProblem(t, conflict, "malformed", 409);
  t.equal(conflict.headers.location, accountUrl);

  const deactivated = await client.post(accountUrl, { status: "deactivated" });
  t.equal(deactivated.body.status, "deactivated");
  isProblem(t, await client.post(accountUrl, ""), "unauthorized", 403, /deactivated/);
  isProblem(t, await second.post(accountUrl, ""), "unauthorized", 403, /another account/);
});

t.test("orders: identifiers outside the policy or not supported are refused before any validation", async (t) => {
  const validator = { calls: 0, async validate() { validator.calls++; return { ok: true } as const; } };
  const { client, app } = await setup(t, validator);
  await client.newAccount();
  const outside = await client.newOrder([
    { type: "dns", value: "ok.example.test" },
    { type: "dns", value: "evil.example.com" },
    { type: "ip", value: "10.0.0.1" },
  ]);
  isProblem(t, outside, "rejectedIdentifier", 400, /2 identifiers are refused/);
  t.same(outside.body.subproblems.map((p: { identifier: unknown }) => p.identifier), [{ type: "dns", value: "evil.example.com" }, { type: "ip", value: "10.0.0.1" }]);
  t.match(outside.body.subproblems[0].detail, /policy\.dns\.allow/);
  isProblem(t, await client.newOrder([{ type: "email" as "dns", value: "me@example.test" }]), "unsupportedIdentifier", 400);
  isProblem(t, await client.newOrder([{ type: "dns", value: "bad..example.test" }]), "rejectedIdentifier", 400, /empty label/);
  isProblem(t, await client.newOrder([]), "malformed", 400);
  isProblem(t, await client.post(client.directory.newOrder!, { identifiers: [{ type: "dns", value: "a.example.test" }], notAfter: "2030-01-01T00:00:00Z" }), "malformed", 400, /notAfter/);
  const wildcard = await client.newOrder([{ type: "dns", value: "*.example.test" }]);
  t.equal(wildcard.status, 201, "a wildcard, with dns-01 offered");
  const authz = await client.post(wildcard.body.authorizations[0], "");
  t.same(authz.body.identifier, { type: "dns", value: "example.test" });
  t.equal(authz.body.wildcard, true);
  t.same(authz.body.challenges.map((c: { type: string }) => c.type), ["dns-01"], "wildcards: dns-01 only");

  const httpOnly = await AcmeTestClient.create(app, "ES256", "http-only");
  await httpOnly.newAccount();
  isProblem(t, await httpOnly.newOrder([{ type: "dns", value: "*.example.test" }]), "rejectedIdentifier", 400, /dns-01/);
  t.equal(validator.calls, 0, "nothing was validated");
});

t.test("challenges: the validator's problem is the challenge's and the order's error", async (t) => {
  const results: (ValidationResult | Error)[] = [
    { ok: false, problem: { type: "incorrectResponse", detail: "the key authorization served is not this account's" } },
    { ok: false, problem: { type: "connection", detail: "connection refused" } },
    { ok: false, problem: { type: "dns", detail: "no TXT record at _acme-challenge.c.example.test" } },
    { ok: false, problem: { type: "tls", detail: "no acme-tls/1 certificate" } },
    { ok: false, problem: { type: "unauthorized", detail: "HTTP 404" } },
    new Error("validator crashed"),
  ];
  const { client } = await setup(t, scripted(results));
  await client.newAccount();
  for (const [i, type] of ["incorrectResponse", "connection", "dns", "tls", "unauthorized", "serverInternal"].entries()) {
    const order = await client.newOrder([{ type: "dns", value: `c${i}.example.test` }]);
    const authz = await client.post(order.body.authorizations[0], "");
    const challenge = authz.body.challenges[0];
    await client.post(challenge.url, {});
    const failed = await client.poll(challenge.url, (body) => body.status !== "processing");
    t.equal(failed.body.status, "invalid");
    t.equal(failed.body.error.type, urn(type), `the challenge's error is ${type}`);
    t.same(failed.body.error.identifier, { type: "dns", value: `c${i}.example.test` });
    const after = await client.post(order.headers.location as string, "");
    t.equal(after.body.status, "invalid");
    t.equal(after.body.error.type, urn(type));
    t.equal((await client.post(order.body.authorizations[0], "")).body.status, "invalid");
    const retried = await client.post(challenge.url, {});
    t.equal(retried.body.status, "invalid", "an invalid challenge stays invalid");
  }
});

t.test("finalize: the CSR must name exactly the order's identifiers", async (t) => {
  const { client } = await setup(t, scripted([]));
  await client.newAccount();
  const order = await client.newOrder([{ type: "dns", value: "a.example.test" }, { type: "dns", value: "b.example.test" }]);
  for (const url of order.body.authorizations) {
    const { body } = await client.post(url, "");
    await client.post(body.challenges[0].url, {});
  }
  await client.poll(order.headers.location as string, (body) => body.status === "ready");
  const finalize = order.body.finalize;
  isProblem(t, await client.post(finalize, { csr: (await csrFor({ dns: ["a.example.test", "b.example.test", "c.example.test"] })).b64 }), "badCSR", 400, /names c\.example\.test, which the order does not/);
  isProblem(t, await client.post(finalize, { csr: (await csrFor({ dns: ["a.example.test"] })).b64 }), "badCSR", 400, /leaves out b\.example\.test/);
  isProblem(t, await client.post(finalize, { csr: (await csrFor({ dns: ["a.example.test", "b.example.test"] }, { cn: "evil.example.test" })).b64 }), "badCSR", 400, /CN "evil\.example\.test"/);
  isProblem(
    t,
    await client.post(finalize, { csr: (await csrFor({ dns: ["a.example.test", "b.example.test"] }, { extraSubject: [{ oid: "2.5.4.10", value: "Acme Corp" }] })).b64 }),
    "badCSR",
    400,
    /O=Acme Corp/,
  );
  isProblem(t, await client.post(finalize, { csr: "AAAA" }), "badCSR", 400);
  isProblem(t, await client.post(finalize, { csr: "-----BEGIN CERTIFICATE REQUEST-----" }), "badCSR", 400, /base64url/);
  const weak = await csrFor({ dns: ["a.example.test", "b.example.test"] }, { spec: { algo: "rsa", size: 1024 } });
  isProblem(t, await client.post(finalize, { csr: weak.b64 }), "badCSR", 400, /rsa 1024|1024/);
  t.equal((await client.post(order.headers.location as string, "")).body.status, "ready", "a refused CSR leaves the order ready");
  const done = await client.post(finalize, { csr: (await csrFor({ dns: ["B.example.test", "a.example.test"] }, { cn: null })).b64 });
  t.equal(done.status, 200, done.text);
  isProblem(t, await client.post(finalize, { csr: (await csrFor({ dns: ["a.example.test", "b.example.test"] })).b64 }), "orderNotReady", 403, /valid/);
});

t.test("revokeCert: by the ordering account or the certificate's key, not by another account", async (t) => {
  const { client, app, store, ca } = await setup(t, scripted([]));
  await client.newAccount();
  const order = await client.newOrder([{ type: "dns", value: "r.example.test" }]);
  const { body } = await client.post(order.body.authorizations[0], "");
  await client.post(body.challenges[0].url, {});
  await client.poll(order.headers.location as string, (b) => b.status === "ready");
  const csr = await csrFor({ dns: ["r.example.test"] });
  const done = await client.post(order.body.finalize, { csr: csr.b64 });
  const pem = (await client.post(done.body.certificate, "")).text.split("-----END CERTIFICATE-----")[0]!;
  const der = Buffer.from(pem.replace(/-----BEGIN CERTIFICATE-----|\s/g, ""), "base64");
  const certificate = base64url.encode(der);

  const other = await AcmeTestClient.create(app);
  await other.newAccount();
  isProblem(t, await other.post(other.directory.revokeCert!, { certificate }), "unauthorized", 403, /did not order/);
  isProblem(t, await client.post(client.directory.revokeCert!, { certificate, reason: 7 }), "badRevocationReason", 400);
  isProblem(t, await client.post(client.directory.revokeCert!, { certificate: "AAAA" }), "malformed", 400);

  // By the certificate's own key, with the jwk (no account at all).
  const { exportJWK } = await import("jose");
  const certKey = { alg: "ES256" as const, privateKey: csr.key.keyObject as unknown as CryptoKey, jwk: await exportJWK(csr.key.keyObject) };
  delete certKey.jwk.d;
  const byKey = await other.post(other.directory.revokeCert!, { certificate, reason: 1 }, { use: "jwk", key: certKey });
  t.equal(byKey.status, 200, byKey.text);
  const serial = BigInt(`0x${new (await import("node:crypto")).X509Certificate(der).serialNumber}`).toString();
  t.equal(store.get(serial, ca.subjectKeyId)?.status, "revoked");
  t.equal(store.get(serial, ca.subjectKeyId)?.reason, 1, "keyCompromise");
});

t.test("revokeCert: by an account that holds valid authorizations for each of the certificate's names", async (t) => {
  const { client, app, store, ca } = await setup(t, scripted([]));
  const names = ["x.example.test", "y.example.test"];
  /** Has `account` order `wanted` and validate each name, and returns the order. */
  const validate = async (account: AcmeTestClient, wanted: string[]) => {
    const order = await account.newOrder(wanted.map((value) => ({ type: "dns", value })));
    for (const url of order.body.authorizations) {
      const { body } = await account.post(url, "");
      await account.post(body.challenges[0].url, {});
      t.equal((await account.poll(url, (b) => b.status !== "pending")).body.status, "valid");
    }
    return order;
  };
  await client.newAccount();
  const order = await validate(client, names);
  await client.poll(order.headers.location as string, (b) => b.status === "ready");
  const done = await client.post(order.body.finalize, { csr: (await csrFor({ dns: names })).b64 });
  const pem = (await client.post(done.body.certificate, "")).text.split("-----END CERTIFICATE-----")[0]!;
  const der = Buffer.from(pem.replace(/-----BEGIN CERTIFICATE-----|\s/g, ""), "base64");
  const certificate = base64url.encode(der);
  const serial = BigInt(`0x${new (await import("node:crypto")).X509Certificate(der).serialNumber}`).toString();

  const partly = await AcmeTestClient.create(app);
  await partly.newAccount();
  await validate(partly, [names[0]!]);
  isProblem(t, await partly.post(partly.directory.revokeCert!, { certificate }), "unauthorized", 403, /holds no valid authorization for each of its names/);
  t.equal(store.get(serial, ca.subjectKeyId)?.status, "good", "an account authorized for one of two names cannot");

  const fully = await AcmeTestClient.create(app);
  await fully.newAccount();
  await validate(fully, [...names].reverse());
  // Issued outside ACME with a CN that is none of its names: no authorizations cover it.
  const outside = await app.inject({ method: "POST", url: "/api/v1/cfssl/newcert", payload: { request: { CN: "z.example.test", hosts: names }, profile: "server" } });
  t.equal(outside.statusCode, 200, outside.body);
  const outsideDer = new (await import("node:crypto")).X509Certificate(outside.json().result.certificate).raw;
  isProblem(t, await fully.post(fully.directory.revokeCert!, { certificate: base64url.encode(outsideDer) }), "unauthorized", 403, /holds no valid authorization/);
  const revoked = await fully.post(fully.directory.revokeCert!, { certificate, reason: 4 });
  t.equal(revoked.status, 200, `an account authorized for both names can: ${revoked.text}`);
  t.equal(store.get(serial, ca.subjectKeyId)?.status, "revoked");
  t.equal(store.get(serial, ca.subjectKeyId)?.reason, 4, "superseded");
});

t.test("external account binding: required, checked, and recorded", async (t) => {
  const { app } = await setup(t);
  const client = await AcmeTestClient.create(app, "ES256", "bound");
  t.same(client.directory.meta, { externalAccountRequired: true });
  isProblem(t, await client.newAccount(), "externalAccountRequired", 401);
  const url = client.directory.newAccount!;
  const binding = (kid: string, key: string, payload: unknown = client.key.jwk, bindingUrl = url) => {
    const protectedHeader = base64url.encode(JSON.stringify({ alg: "HS256", kid, url: bindingUrl }));
    const body = base64url.encode(JSON.stringify(payload));
    const signature = base64url.encode(createHmac("sha256", Buffer.from(key, "hex")).update(`${protectedHeader}.${body}`).digest());
    return { protected: protectedHeader, payload: body, signature };
  };
  isProblem(t, await client.newAccount({ externalAccountBinding: binding("team-a", "ff".repeat(32)) }), "unauthorized", 403, /HMAC does not verify/);
  isProblem(t, await client.newAccount({ externalAccountBinding: binding("team-b", hmacKey) }), "unauthorized", 403, /not one of the HMAC keys/);
  isProblem(t, await client.newAccount({ externalAccountBinding: binding("team-a", hmacKey, (await accountKey()).jwk) }), "unauthorized", 403, /another key/);
  const bound = await client.newAccount({ externalAccountBinding: binding("team-a", hmacKey) });
  t.equal(bound.status, 201, bound.text);
});

t.test("expiry: an order and its authorizations past their lifetime are invalid and expired", async (t) => {
  let now = new Date("2026-06-01T00:00:00Z");
  const { client } = await setup(t, scripted([]), () => now);
  await client.newAccount();
  const order = await client.newOrder([{ type: "dns", value: "x.example.test" }]);
  t.equal(order.body.expires, "2026-06-02T00:00:00.000Z", "24 hours");
  now = new Date("2026-06-02T00:00:01Z");
  isProblem(t, await client.post(order.headers.location as string, ""), "badNonce", 400, /expired/);
  const later = await client.post(order.headers.location as string, "", { nonce: await client.nonce() });
  t.equal(later.body.status, "invalid");
  t.equal((await client.post(order.body.authorizations[0], "", { nonce: await client.nonce() })).body.status, "expired");
  isProblem(t, await client.post(order.body.finalize, { csr: (await csrFor({ dns: ["x.example.test"] })).b64 }), "orderNotReady", 403);
});

t.test("authorization deactivation makes the order invalid", async (t) => {
  const { client } = await setup(t, scripted([]));
  await client.newAccount();
  const order = await client.newOrder([{ type: "dns", value: "d.example.test" }]);
  const deactivated = await client.post(order.body.authorizations[0], { status: "deactivated" });
  t.equal(deactivated.body.status, "deactivated");
  t.equal((await client.post(order.headers.location as string, "")).body.status, "invalid");
  isProblem(t, await client.post(order.body.authorizations[0], { status: "valid" }), "malformed", 400);
});

t.test("resources: unknown provisioners and paths, other accounts' orders", async (t) => {
  const { client, app } = await setup(t, scripted([]));
  const missing = await app.inject({ method: "GET", url: "/acme/nobody/directory" });
  t.equal(missing.statusCode, 404);
  t.match(missing.headers["content-type"], /^application\/problem\+json/);
  t.match(missing.json().detail, /no ACME provisioner "nobody"/);
  const nowhere = await app.inject({ method: "GET", url: "/acme/default/nothing" });
  t.equal(nowhere.statusCode, 404);
  t.equal(nowhere.json().type, urn("malformed"));
  await client.newAccount();
  const order = await client.newOrder([{ type: "dns", value: "o.example.test" }]);
  const other = await AcmeTestClient.create(app);
  await other.newAccount();
  isProblem(t, await other.post(order.headers.location as string, ""), "malformed", 404, /does not exist/);
  isProblem(t, await other.post(order.body.authorizations[0], ""), "malformed", 404);
  const { body: authz } = await client.post(order.body.authorizations[0], "");
  isProblem(t, await other.post(authz.challenges[0].url, {}), "malformed", 404, /challenge .* does not exist/);
  t.equal((await client.post(authz.challenges[0].url, "")).body.status, "pending", "and nothing was started by the stranger's request");
});

t.test("rate limits answer rateLimited in a problem document", async (t) => {
  const { tempDir } = await import("../helpers/app.js");
  const guard = GuardStore.open(join(tempDir(t), "guard.db"));
  t.teardown(() => guard.close());
  const { app } = await testApp(t, { config: parseSigningConfig(document), acme: { validator: scripted([]) }, guard: { store: guard, rateLimit: { requests: 2, periodMs: 60_000 } } });
  let last = await app.inject({ method: "GET", url: "/acme/default/directory" });
  for (let i = 0; i < 3; i++) last = await app.inject({ method: "GET", url: "/acme/default/directory" });
  t.equal(last.statusCode, 429);
  t.equal(last.json().type, urn("rateLimited"));
  t.ok(last.headers["retry-after"]);
});
