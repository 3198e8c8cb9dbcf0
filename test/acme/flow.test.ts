// The whole ACME flow against the real app: account, order, an http-01 challenge answered by a real
// loopback responder, finalize, the chain downloaded and verified (node:crypto and openssl), then
// revokeCert, seen in the inventory and by OCSP.
import { createPublicKey, X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { base64url } from "jose";
import t from "tap";
import { parseSigningConfig } from "../../src/profiles/signing-config.js";
import { AcmeTestClient, csrFor, http01Responder, loopbackHttp01Validator, type AccountAlg } from "../helpers/acme-client.js";
import { openssl, profilesDir, testApp, writeFile } from "../helpers/app.js";
import { Metrics } from "../../src/api/metrics.js";
import { PostgresAcmeStore } from "../../src/store/postgres/acme.js";
import { postgresSkip, twoReplicas } from "../helpers/postgres.js";

const config = {
  ...JSON.parse(readFileSync(join(profilesDir, "ca-config.json"), "utf8")),
  acme: { default: { profile: "server", challenges: ["http-01", "dns-01", "tls-alpn-01"] } },
};

/** Orders `names`, answers every http-01 challenge through the responder, and waits for the order to be ready. */
async function authorizedOrder(client: AcmeTestClient, responder: { tokens: Map<string, string> }, identifiers: { type: "dns" | "ip"; value: string }[]) {
  const order = await client.newOrder(identifiers);
  if (order.status !== 201) throw new Error(`newOrder: ${order.status} ${order.text}`);
  const thumbprint = await client.thumbprint();
  for (const url of order.body.authorizations as string[]) {
    const authz = await client.post(url, "");
    const challenge = authz.body.challenges.find((c: { type: string }) => c.type === "http-01");
    responder.tokens.set(challenge.token, `${challenge.token}.${thumbprint}`);
    await client.post(challenge.url, {});
  }
  const location = order.headers.location as string;
  await client.poll(location, (body) => body.status !== "pending");
  return { order, location };
}

t.test("an account orders, proves http-01, finalizes, downloads the chain and revokes it", async (t) => {
  const responder = await http01Responder(t);
  const validator = loopbackHttp01Validator(responder.port);
  const metrics = new Metrics({ defaultMetrics: false });
  const { app, store, caPem, ca: authority, dir } = await testApp(t, { config: parseSigningConfig(config), acme: { validator }, metrics });
  const client = await AcmeTestClient.create(app);

  t.same(Object.keys(client.directory).sort(), ["keyChange", "meta", "newAccount", "newNonce", "newOrder", "revokeCert"]);
  t.same(client.directory.meta, { externalAccountRequired: false });

  const head = await app.inject({ method: "HEAD", url: "/acme/default/new-nonce" });
  t.equal(head.statusCode, 200);
  t.match(head.headers["replay-nonce"], /^[A-Za-z0-9_-]{16,}$/);
  t.equal(head.headers["cache-control"], "no-store");
  t.match(head.headers.link, /<http:\/\/localhost(:80)?\/acme\/default\/directory>;rel="index"/);
  const get = await app.inject({ method: "GET", url: "/acme/default/new-nonce" });
  t.equal(get.statusCode, 204);

  const account = await client.newAccount();
  t.equal(account.status, 201, account.text);
  t.match(account.headers.location, /\/acme\/default\/account\/[A-Za-z0-9_-]+$/);
  t.same(account.body.contact, ["mailto:ops@example.test"]);
  t.equal(account.body.status, "valid");
  const again = await client.newAccount({ onlyReturnExisting: true });
  t.equal(again.status, 200, "the same key finds its account");
  t.equal(again.headers.location, account.headers.location);

  const names = [
    { type: "dns" as const, value: "www.example.test" },
    { type: "ip" as const, value: "192.0.2.10" },
  ];
  const order = await client.newOrder(names);
  t.equal(order.status, 201, order.text);
  t.equal(order.body.status, "pending");
  t.same(order.body.identifiers, names);
  t.equal(order.body.authorizations.length, 2);
  const authz = await client.post(order.body.authorizations[0], "");
  t.equal(authz.status, 200);
  t.equal(authz.headers["retry-after"], "1", "a pending authorization says when to ask again");
  t.same(authz.body.identifier, names[0]);
  t.same(authz.body.challenges.map((c: { type: string }) => c.type).sort(), ["dns-01", "http-01", "tls-alpn-01"]);
  const ipAuthz = await client.post(order.body.authorizations[1], "");
  t.same(ipAuthz.body.challenges.map((c: { type: string }) => c.type).sort(), ["http-01", "tls-alpn-01"], "no dns-01 for an IP address (RFC 8738)");

  const early = await client.post(order.body.finalize, { csr: (await csrFor({ dns: ["www.example.test"], ip: ["192.0.2.10"] })).b64 });
  t.equal(early.status, 403);
  t.equal(early.body.type, "urn:ietf:params:acme:error:orderNotReady");

  const thumbprint = await client.thumbprint();
  for (const url of order.body.authorizations) {
    const { body } = await client.post(url, "");
    const challenge = body.challenges.find((c: { type: string }) => c.type === "http-01");
    responder.tokens.set(challenge.token, `${challenge.token}.${thumbprint}`);
    const started = await client.post(challenge.url, {});
    t.equal(started.status, 200);
    t.match(started.body.status, /^(processing|valid)$/);
    t.match(started.headers.link, /<[^>]+\/authz\/[^>]+>;rel="up"/);
  }
  const ready = await client.poll(order.headers.location as string, (body) => body.status !== "pending");
  t.equal(ready.body.status, "ready", JSON.stringify(ready.body));
  t.equal(validator.calls, 2);
  t.equal(responder.requests.length, 2, "the responder was asked once per authorization");
  const validAuthz = await client.post(order.body.authorizations[0], "");
  t.equal(validAuthz.body.status, "valid");
  t.equal(validAuthz.body.challenges.length, 1, "a valid authorization lists the challenge that validated it");
  t.ok(validAuthz.body.challenges[0].validated);

  const csr = await csrFor({ dns: ["www.example.test"], ip: ["192.0.2.10"] });
  const finalized = await client.post(order.body.finalize, { csr: csr.b64 });
  t.equal(finalized.status, 200, finalized.text);
  t.equal(finalized.body.status, "valid");
  t.match(finalized.body.certificate, /\/acme\/default\/cert\//);

  const download = await client.post(finalized.body.certificate, "");
  t.equal(download.status, 200);
  t.equal(download.headers["content-type"], "application/pem-certificate-chain");
  const pems = download.text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)!;
  t.equal(pems.length, 2, "the leaf and the CA");
  const leaf = new X509Certificate(pems[0]!);
  const ca = new X509Certificate(caPem);
  t.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey), "signed by the CA");
  t.equal(pems[1]!.trim(), caPem.trim(), "the chain ends with the CA");
  t.equal(leaf.subjectAltName, "DNS:www.example.test, IP Address:192.0.2.10");
  t.ok(leaf.publicKey.equals(createPublicKey(csr.key.keyObject)), "for the CSR's key");
  const verified = openssl(["verify", "-CAfile", writeFile(dir, "ca.pem", caPem), "-purpose", "sslserver", writeFile(dir, "leaf.pem", pems[0]!)]);
  t.equal(verified.status, 0, verified.stderr);
  t.match(verified.stdout, /leaf.pem: OK/);

  const serial = BigInt(`0x${leaf.serialNumber}`).toString();
  const record = store.get(serial, authority.subjectKeyId);
  t.equal(record?.requestedBy, `acme:default:${(account.headers.location as string).split("/").pop()}`, "the inventory names the provisioner and account");
  t.equal(record?.profile, "server");

  const revoked = await client.post(client.directory.revokeCert!, { certificate: base64url.encode(leaf.raw), reason: 4 });
  t.equal(revoked.status, 200, revoked.text);
  t.equal(store.get(serial, record!.authorityKeyId)?.status, "revoked");
  t.equal(store.get(serial, record!.authorityKeyId)?.reason, 4, "superseded");
  const twice = await client.post(client.directory.revokeCert!, { certificate: base64url.encode(leaf.raw) });
  t.equal(twice.status, 400);
  t.equal(twice.body.type, "urn:ietf:params:acme:error:alreadyRevoked");

  // OCSP, asked by openssl through the service's own responder.
  const ocspRequest = openssl(["ocsp", "-issuer", join(dir, "ca.pem"), "-cert", join(dir, "leaf.pem"), "-no_nonce", "-reqout", join(dir, "req.der")]);
  t.equal(ocspRequest.status, 0, ocspRequest.stderr);
  const ocsp = await app.inject({ method: "POST", url: "/ocsp", headers: { "content-type": "application/ocsp-request" }, payload: readFileSync(join(dir, "req.der")) });
  writeFileSync(join(dir, "resp.der"), ocsp.rawPayload);
  const read = openssl(["ocsp", "-respin", join(dir, "resp.der"), "-issuer", join(dir, "ca.pem"), "-cert", join(dir, "leaf.pem"), "-VAfile", join(dir, "ca.pem")]);
  t.match(read.stdout, /leaf.pem: revoked/, read.stdout + read.stderr);

  const text = await metrics.registry.metrics();
  t.match(text, /certwright_acme_orders_total\{provisioner="default",outcome="created"\} 1/);
  t.match(text, /certwright_acme_orders_total\{provisioner="default",outcome="issued"\} 1/);
  t.match(text, /certwright_acme_failures_total\{type="orderNotReady"\} 1/);
  t.match(text, /certwright_acme_failures_total\{type="alreadyRevoked"\} 1/);
});

for (const alg of ["ES256", "ES384", "RS256", "EdDSA"] as AccountAlg[]) {
  t.test(`an ${alg} account key gets a certificate`, async (t) => {
    const responder = await http01Responder(t);
    const { app } = await testApp(t, { config: parseSigningConfig(config), acme: { validator: loopbackHttp01Validator(responder.port) } });
    const client = await AcmeTestClient.create(app, alg);
    t.equal((await client.newAccount()).status, 201);
    const { order, location } = await authorizedOrder(client, responder, [{ type: "dns", value: `${alg.toLowerCase()}.example.test` }]);
    const finalized = await client.post(order.body.finalize, { csr: (await csrFor({ dns: [`${alg.toLowerCase()}.example.test`] })).b64 });
    t.equal(finalized.status, 200, finalized.text);
    t.equal((await client.post(location, "")).body.status, "valid");
  });
}

t.test("on PostgreSQL: the flow, and a nonce one replica hands out is good once at another", { skip: postgresSkip }, async (t) => {
  const { pools } = await twoReplicas(t);
  const responder = await http01Responder(t);
  const validator = loopbackHttp01Validator(responder.port);
  const replicaA = await testApp(t, { config: parseSigningConfig(config), acme: { validator, store: new PostgresAcmeStore(pools[0]) } });
  const replicaB = await testApp(t, { config: parseSigningConfig(config), acme: { validator, store: new PostgresAcmeStore(pools[1]) } });
  const client = await AcmeTestClient.create(replicaA.app);
  const nonce = (await replicaB.app.inject({ method: "HEAD", url: "/acme/default/new-nonce" })).headers["replay-nonce"] as string;
  const jws = await client.jws(client.directory.newAccount!, { termsOfServiceAgreed: true }, { use: "jwk", nonce });
  const created = await client.postRaw(client.directory.newAccount!, jws);
  t.equal(created.status, 201, "replica B's nonce at replica A");
  client.account = created.headers.location as string;
  const replayed = await new AcmeTestClient(replicaB.app, client.key).postRaw(client.directory.newAccount!, jws);
  t.equal(replayed.body.type, "urn:ietf:params:acme:error:badNonce", "and not again at replica B");

  const { order, location } = await authorizedOrder(client, responder, [{ type: "dns", value: "pg.example.test" }]);
  t.equal((await client.post(location, "")).body.status, "ready");
  const finalized = await client.post(order.body.finalize, { csr: (await csrFor({ dns: ["pg.example.test"] })).b64 });
  t.equal(finalized.status, 200, finalized.text);
  const chain = await client.post(finalized.body.certificate, "");
  t.match(chain.text, /^-----BEGIN CERTIFICATE-----/);
});
