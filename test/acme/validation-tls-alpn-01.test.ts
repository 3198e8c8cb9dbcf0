import { createHash, randomBytes } from "node:crypto";
import t, { type Test } from "tap";
import { tlsAlpnServerName, validateTlsAlpn01 } from "../../src/acme/validation/tls-alpn-01.js";
import type { AcmeIdentifier, ValidationTargets } from "../../src/acme/validation/types.js";
import { startDnsServer } from "../helpers/acme-dns.js";
import { refusedPort, startSilentServer, startTlsAlpnResponder, type TlsAlpnVariant, tlsAlpnCertificate } from "../helpers/acme-responders.js";
import { openssl, tempDir, writeFile } from "../helpers/revocation-ca.js";

const keyAuthorization = `${randomBytes(16).toString("base64url")}.${randomBytes(32).toString("base64url")}`;
const name = (value: string): AcmeIdentifier => ({ type: "dns", value });
const aTest = name("a.test");

async function targetsFor(t: Test, tlsPort: number, timeoutMs = 1000): Promise<ValidationTargets> {
  const dns = await startDnsServer(t, { "a.test": { A: ["127.0.0.1"] }, "v6.test": { AAAA: ["::1"] } });
  return { httpPort: 80, tlsPort, dnsResolver: dns.address, timeoutMs };
}

/** A responder for `identifier` with a certificate made as `variant` says, and targets pointing at it. */
async function serve(t: Test, identifier: AcmeIdentifier, variant: TlsAlpnVariant = {}, protocols?: string[], host?: string) {
  const credentials = await tlsAlpnCertificate(identifier, keyAuthorization, variant);
  const responder = await startTlsAlpnResponder(t, credentials, protocols, host);
  return { responder, credentials, targets: await targetsFor(t, responder.port) };
}

t.test("the test certificate is what RFC 8737 §3 describes, as openssl reads it", async (t) => {
  const { cert } = await tlsAlpnCertificate(aTest, keyAuthorization);
  const file = writeFile(tempDir(t), "cert.pem", cert);
  const text = openssl(["x509", "-noout", "-text", "-in", file]).stdout;
  t.match(text, /X509v3 Subject Alternative Name: \n\s+DNS:a\.test\n/, "one SAN, the name");
  t.match(text, /1\.3\.6\.1\.5\.5\.7\.1\.31: critical\n/, "the acmeIdentifier extension, critical");
  // The extension's value: an OCTET STRING (04, length 32) of SHA-256(key authorization).
  const digest = createHash("sha256").update(keyAuthorization).digest("hex").toUpperCase();
  t.match(openssl(["asn1parse", "-in", file]).stdout, new RegExp(`OBJECT +:1\\.3\\.6\\.1\\.5\\.5\\.7\\.1\\.31\\n.*BOOLEAN +:255\\n.*OCTET STRING +\\[HEX DUMP\\]:0420${digest}\\n`));
});

t.test("a responder with the right certificate and acme-tls/1 validates; SNI is the name", async (t) => {
  const { responder, targets } = await serve(t, aTest);
  t.same(await validateTlsAlpn01(aTest, keyAuthorization, targets), { ok: true });
  t.same(responder.serverNames, ["a.test"]);
});

t.test("the SAN is compared without regard to case", async (t) => {
  const { targets } = await serve(t, aTest, { sans: { dns: ["A.Test"] } });
  t.same(await validateTlsAlpn01(aTest, keyAuthorization, targets), { ok: true });
});

t.test("IP identifiers: SNI is the reverse-mapping name (RFC 8738 §6), the SAN the address", async (t) => {
  t.equal(tlsAlpnServerName({ type: "ip", value: "192.0.2.10" }), "10.2.0.192.in-addr.arpa");
  t.equal(tlsAlpnServerName({ type: "ip", value: "2001:db8::1" }), "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
  const v4 = { type: "ip", value: "127.0.0.1" } as const;
  const four = await serve(t, v4);
  t.same(await validateTlsAlpn01(v4, keyAuthorization, four.targets), { ok: true });
  t.same(four.responder.serverNames, ["1.0.0.127.in-addr.arpa"]);
  const v6 = { type: "ip", value: "::1" } as const;
  const six = await serve(t, v6, {}, undefined, "::1");
  t.same(await validateTlsAlpn01(v6, keyAuthorization, six.targets), { ok: true });
  t.match(six.responder.serverNames, [/^1\.0(\.0){30}\.ip6\.arpa$/]);
  t.match(await validateTlsAlpn01(v4, keyAuthorization, { ...four.targets, tlsPort: six.responder.port }), { ok: false }, "nothing on 127.0.0.1 at the ::1 responder's port");
  const named = await serve(t, aTest);
  t.match(await validateTlsAlpn01(v4, keyAuthorization, named.targets), { ok: false, problem: { type: "incorrectResponse", detail: /exactly one subjectAltName, 127\.0\.0\.1; it has DNS:a\.test$/ } }, "a DNS SAN does not stand for an address");
});

t.test("a name with only an AAAA record is reached over IPv6", async (t) => {
  const identifier = name("v6.test");
  const { targets } = await serve(t, identifier, {}, undefined, "::1");
  t.same(await validateTlsAlpn01(identifier, keyAuthorization, targets), { ok: true });
});

t.test("a server that does not negotiate acme-tls/1 fails as tls", async (t) => {
  const none = await serve(t, aTest, {}, []);
  t.match(await validateTlsAlpn01(aTest, keyAuthorization, none.targets), { ok: false, problem: { type: "tls", detail: /did not negotiate the acme-tls\/1 protocol$/ } }, "no ALPN at all");
  const h2 = await serve(t, aTest, {}, ["h2", "http/1.1"]);
  t.match(await validateTlsAlpn01(aTest, keyAuthorization, h2.targets), { ok: false, problem: { type: "tls" } }, "ALPN without acme-tls/1: the handshake is refused");
});

t.test("certificates that break RFC 8737 §3 are incorrectResponse, each with its reason", async (t) => {
  const cases: [string, TlsAlpnVariant, RegExp][] = [
    ["a wrong digest", { digest: createHash("sha256").update("another.authorization").digest() }, /does not hold the digest of this challenge's key authorization/],
    ["a digest of the wrong length", { digest: new Uint8Array(16) }, /does not hold the digest/],
    ["the extension not critical", { critical: false }, /acmeIdentifier extension .* is not marked critical/],
    ["no extension", { noExtension: true }, /has no acmeIdentifier extension \(1\.3\.6\.1\.5\.5\.7\.1\.31\)/],
    ["another name", { sans: { dns: ["b.test"] } }, /must have exactly one subjectAltName, a\.test; it has DNS:b\.test$/],
    ["a second name", { sans: { dns: ["a.test", "b.test"] } }, /it has DNS:a\.test, DNS:b\.test$/],
    ["the name and an address", { sans: { dns: ["a.test"], ip: ["127.0.0.1"] } }, /it has DNS:a\.test, IP:127\.0\.0\.1$/],
  ];
  for (const [what, variant, detail] of cases) {
    const { targets } = await serve(t, aTest, variant);
    t.match(await validateTlsAlpn01(aTest, keyAuthorization, targets), { ok: false, problem: { type: "incorrectResponse", detail } }, what);
  }
});

t.test("a refused port and a silent server are connection problems; a failed lookup is dns", async (t) => {
  const targets = await targetsFor(t, await refusedPort(), 300);
  t.match(await validateTlsAlpn01(aTest, keyAuthorization, targets), { ok: false, problem: { type: "connection", detail: /^connection refused by 127\.0\.0\.1:\d+$/ } });
  const silent = await startSilentServer(t);
  const started = performance.now();
  t.match(await validateTlsAlpn01(aTest, keyAuthorization, { ...targets, tlsPort: silent.port }), { ok: false, problem: { type: "connection", detail: /^timed out talking to/ } });
  t.ok(performance.now() - started < 3000, "within the per-attempt timeout");
  t.match(await validateTlsAlpn01(name("nowhere.test"), keyAuthorization, targets), { ok: false, problem: { type: "dns", detail: "NXDOMAIN looking up A for nowhere.test" } });
});

t.test("a plain HTTP server on the TLS port fails the handshake as tls", async (t) => {
  const { createServer } = await import("node:http");
  const server = createServer((_, response) => response.end("hello"));
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  t.teardown(() => server.close());
  const targets = await targetsFor(t, (server.address() as { port: number }).port);
  t.match(await validateTlsAlpn01(aTest, keyAuthorization, targets), { ok: false, problem: { type: "tls" } });
});

t.test("a wildcard identifier cannot be validated by tls-alpn-01", async (t) => {
  const { responder, targets } = await serve(t, aTest);
  t.match(await validateTlsAlpn01(name("*.a.test"), keyAuthorization, targets), { ok: false, problem: { type: "unauthorized", detail: /wildcard/ } });
  t.same(responder.serverNames, []);
});
