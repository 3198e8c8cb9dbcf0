// Issue 21's conformance points that concern certificates: the subject written in cfssl's (and
// openssl's) attribute order, key usage that fits the key type and the extended key usages, the
// service's own TLS certificate, and the "no hosts" note only where a server could use it.
import { X509Certificate } from "node:crypto";
import t from "tap";
import { ServingCertificate } from "../../src/authority/serving-certificate.js";
import { openssl, post, readProfileJson, tempDir, testApp, writeFile } from "../helpers/app.js";

function opensslText(dir: string, pem: string): string {
  const file = writeFile(dir, "cert.pem", pem);
  const result = openssl(["x509", "-in", file, "-noout", "-text"]);
  if (result.status !== 0) throw new Error(result.stderr);
  return result.stdout;
}

function keyUsageLine(text: string): string {
  return /X509v3 Key Usage: critical\n\s+(.*)\n/.exec(text)?.[1] ?? "none";
}

t.test("1. subjects are written C, ST, L, O, OU, CN, as cfssl and openssl write them", async (t) => {
  const dir = tempDir(t);
  const { app } = await testApp(t);
  const request = readProfileJson("server-csr.json");
  const issued = await post(app, "newcert", { request, profile: "kubernetes" });
  t.equal(issued.status, 200);
  const made = openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${dir}/k.pem`, "-subj", "/C=US/ST=California/L=San Francisco/O=Example Team/OU=Platform/CN=kubernetes"]);
  const opensslSubject = openssl(["req", "-noout", "-subject", "-nameopt", "RFC2253"], made.stdout).stdout.trim();
  const ours = openssl(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", writeFile(dir, "issued.pem", issued.body.result.certificate)]).stdout.trim();
  t.equal(ours, opensslSubject, "the same subject as openssl makes from the same attributes, in the same order");
  t.equal(ours, "subject=CN=kubernetes,OU=Platform,O=Example Team,L=San Francisco,ST=California,C=US");
  const ca = await post(app, "init_ca", readProfileJson("kubernetes-ca-csr.json"));
  t.match(opensslText(dir, ca.body.result.certificate), /Subject: C ?= ?US, ST ?= ?[^,]+, L ?= ?[^,]+, O ?= ?[^,]+, OU ?= ?[^,]+, CN ?= ?/, "init_ca too");
  t.match(
    openssl(["x509", "-noout", "-subject", "-in", writeFile(dir, "e.pem", (await post(app, "newcert", { request: { CN: "alice", names: [{ E: "alice@example.com", O: "Acme", C: "US" }] }, profile: "client" })).body.result.certificate)]).stdout,
    /subject=C = US, O = Acme, CN = alice, emailAddress = alice@example.com/,
    "the email address last, as cfssl's extra name",
  );
});

t.test("2. key usage fits the key type: no key encipherment on ECDSA or Ed25519 leaves, and a message says so", async (t) => {
  const dir = tempDir(t);
  const { app } = await testApp(t);
  const ecdsa = await post(app, "newcert", { request: { CN: "web", hosts: ["web.internal"] }, profile: "server" });
  t.equal(keyUsageLine(opensslText(dir, ecdsa.body.result.certificate)), "Digital Signature", "ECDSA: digital signature only (RFC 8813)");
  t.match(ecdsa.body.messages.map((m: { message: string }) => m.message).join("\n"), /key usage left out of the certificate: key encipherment: not possible with an ECDSA key \(RFC 8813\)/);
  const ed25519 = await post(app, "newcert", { request: { CN: "web", hosts: ["web.internal"], key: { algo: "ed25519" } }, profile: "server" });
  t.equal(keyUsageLine(opensslText(dir, ed25519.body.result.certificate)), "Digital Signature", "Ed25519 (RFC 8410)");
  const rsa = await post(app, "newcert", { request: { CN: "web", hosts: ["web.internal"], key: { algo: "rsa", size: 2048 } }, profile: "server" });
  t.equal(keyUsageLine(opensslText(dir, rsa.body.result.certificate)), "Digital Signature, Key Encipherment", "an RSA server key may transport keys");
  t.notMatch(rsa.body.messages.map((m: { message: string }) => m.message).join("\n"), /key usage left out/);
  const rsaClient = await post(app, "newcert", { request: { CN: "agent", key: { algo: "rsa", size: 2048 } }, profile: "client" });
  t.equal(keyUsageLine(opensslText(dir, rsaClient.body.result.certificate)), "Digital Signature", "a client-auth-only RSA certificate never enciphers keys");
  t.match(rsaClient.body.messages.map((m: { message: string }) => m.message).join("\n"), /key encipherment: its extended key usages never transport keys/);
  // The seed's recipe: the API server's RSA key keeps what the Kubernetes page shows.
  const recipe = await post(app, "newcert", { request: readProfileJson("server-csr.json"), profile: "kubernetes" });
  t.equal(keyUsageLine(opensslText(dir, recipe.body.result.certificate)), "Digital Signature, Key Encipherment");
});

t.test("2. a profile whose key usages a key type cannot have at all refuses that key type, naming why", async (t) => {
  const dir = tempDir(t);
  const { app, store } = await testApp(t, {
    config: { signing: { default: { usages: ["key encipherment", "data encipherment"], expiry: "24h" }, profiles: { agreement: { usages: ["key agreement"], expiry: "24h" } } } },
  });
  const refused = await post(app, "newcert", { request: { CN: "web", hosts: ["web.internal"] } });
  t.equal(refused.status, 403);
  t.match(refused.body.errors[0]?.message, /key encipherment, data encipherment: not possible with an ECDSA key.*none of its key usages is left/);
  t.equal((await post(app, "newcert", { request: { CN: "web", hosts: ["web.internal"], key: { algo: "rsa", size: 2048 } } })).status, 200, "RSA can");
  const agreement = await post(app, "newcert", { request: { CN: "web", hosts: ["web.internal"] }, profile: "agreement" });
  t.equal(agreement.status, 200, "ECDSA keeps key agreement");
  t.equal(keyUsageLine(opensslText(dir, agreement.body.result.certificate)), "Key Agreement");
  t.equal(store.count(), 2);
});

t.test("2. the service's own TLS certificate: digital signature only, and no IP address in its CN", async (t) => {
  const dir = tempDir(t);
  const { ca } = await testApp(t);
  const record = async () => {};
  const named = await new ServingCertificate(ca, ["127.0.0.1", "pki.internal"], 3_600_000, record).issue();
  const text = opensslText(dir, named.cert);
  t.match(text, /Subject: O ?= ?certwright, CN ?= ?pki\.internal/);
  t.equal(keyUsageLine(text), "Digital Signature");
  const addressOnly = await new ServingCertificate(ca, ["127.0.0.1"], 3_600_000, record).issue();
  t.match(opensslText(dir, addressOnly.cert), /Subject: O ?= ?certwright, CN ?= ?certwright\n/, "an address stays in the SANs");
  t.equal(new X509Certificate(addressOnly.cert).subjectAltName, "IP Address:127.0.0.1");
});

t.test("6. the note on a certificate without hosts is for server profiles only", async (t) => {
  const { app } = await testApp(t);
  const client = await post(app, "newcert", { request: { CN: "system:node:n1", names: [{ O: "system:nodes" }] }, profile: "client" });
  t.equal(client.status, 200);
  t.notMatch(client.body.messages.map((m: { message: string }) => m.message).join("\n"), /no hosts/, "a client certificate needs none");
  const server = await post(app, "newcert", { request: { CN: "web" }, profile: "server" });
  t.match(server.body.messages.map((m: { message: string }) => m.message).join("\n"), /this certificate has no hosts/);
});
