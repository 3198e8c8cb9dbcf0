// lego 4 (Debian's package) against the real service over HTTPS, each challenge type answered by
// lego itself: http-01 and tls-alpn-01 with its own servers on loopback ports (--acme-http-port,
// --acme-tls-port), dns-01 through its exec provider publishing the TXT record on the test's DNS
// server (--acme-dns-resolver). The http-01 certificate is renewed and revoked, and seen revoked
// in the inventory, the CRL and OCSP. A provisioner that requires an external account binding gets
// one from lego's --eab.
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { acmeClientsSkip, legoCertificatePaths, legoDnsHook, runLego, type LegoOptions } from "../helpers/acme-clients.js";
import { startDnsServer } from "../helpers/acme-dns.js";
import { decimalSerialOf, pemBlocks, startAcmeService, succeeded, type AcmeService } from "../helpers/acme-service.js";
import { freePort, openssl } from "../helpers/server.js";

const httpNames = ["www.lego.test", "api.lego.test"];
// A wildcard and its base name: two authorizations whose TXT records share one name.
const dnsNames = ["*.dns.lego.test", "dns.lego.test"];
const tlsNames = ["alpn.lego.test"];
const boundNames = ["bound.lego.test"];

t.test("lego", { skip: acmeClientsSkip, timeout: 280_000 }, async (t) => {
  // Only http-01 and tls-alpn-01 need the names to resolve; dns-01 needs only its TXT record.
  const dns = await startDnsServer(t, Object.fromEntries([...httpNames, ...tlsNames, ...boundNames].map((name) => [name, { A: ["127.0.0.1"] }])));
  const httpPort = await freePort();
  const tlsPort = await freePort();
  const service = await startAcmeService(t, { httpPort, tlsPort, dnsResolver: dns.address, eab: true });
  const ca = new X509Certificate(service.caPem);
  const base = { directoryUrl: service.directoryUrl, caFile: service.caFile };

  /** lego's certificate for `options`: checked against the CA, the names and openssl, found in the inventory. */
  const checkCertificate = async (t: Test, options: LegoOptions, label: string, provisioner = "default") => {
    const files = legoCertificatePaths(options.dir, options.domains);
    const blocks = pemBlocks(readFileSync(files.certificate, "utf8"));
    t.equal(blocks.length, 2, `${label}: lego's bundle is the leaf and the CA`);
    const leaf = new X509Certificate(blocks[0]!);
    t.equal(leaf.issuer, ca.subject, `${label}: issued by the CA`);
    t.ok(leaf.verify(ca.publicKey), `${label}: signed by the CA`);
    t.equal(leaf.subjectAltName, options.domains.map((name) => `DNS:${name}`).join(", "), `${label}: for the names asked`);
    const leafFile = join(service.dir, `${label}-leaf.pem`);
    const chainFile = join(service.dir, `${label}-chain.pem`);
    writeFileSync(leafFile, blocks[0]!);
    writeFileSync(chainFile, readFileSync(files.issuer, "utf8"));
    const verified = openssl(["verify", "-CAfile", service.caFile, "-untrusted", chainFile, "-purpose", "sslserver", leafFile]);
    t.equal(verified.status, 0, `${label}: openssl verify -CAfile -untrusted chain: ${verified.status === 0 ? "OK" : verified.stdout + verified.stderr}`);
    const { status, record } = await service.inventory(leaf.serialNumber);
    t.equal(status, 200, `${label}: in the inventory`);
    t.match(record?.requested_by, new RegExp(`^acme:${provisioner}:[A-Za-z0-9_-]+$`), `${label}: requested by an account of provisioner ${provisioner}`);
    return { leaf, serial: decimalSerialOf(leaf), hex: leaf.serialNumber, leafFile, requestedBy: record?.requested_by };
  };

  t.test("http-01: run, renew, revoke", async (t) => {
    const options: LegoOptions = { ...base, domains: httpNames, dir: join(service.dir, "lego-http"), httpPort };
    succeeded(t, await runLego("run", options), "lego run --http");
    const first = await checkCertificate(t, options, "http-obtained");
    t.equal(first.leaf.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1", "lego's default key: EC P-256");

    succeeded(t, await runLego("renew", options), "lego renew --days 100000");
    const second = await checkCertificate(t, options, "http-renewed");
    t.not(second.serial, first.serial, "renewal issued a new certificate");
    t.equal(second.requestedBy, first.requestedBy, "by the same account");

    succeeded(t, await runLego("revoke", options, 4), "lego revoke --reason 4");
    await revokedEverywhere(t, service, second, "superseded");
    t.equal(await service.ocspStatus(first.leafFile), "good", "OCSP: the first is still good");
  });

  t.test("dns-01 through the exec provider, for a wildcard, with an RSA key", async (t) => {
    const options: LegoOptions = { ...base, domains: dnsNames, dir: join(service.dir, "lego-dns"), keyType: "rsa2048", dnsResolvers: [dns.address] };
    const hook = await legoDnsHook(t, dns, service.dir);
    // lego solves the two one after the other, waiting EXEC_SEQUENCE_INTERVAL (60 s by default) between.
    options.dnsExec = { program: hook.program, env: { EXEC_SEQUENCE_INTERVAL: "1" } };
    succeeded(t, await runLego("run", options), "lego run --dns exec");
    const obtained = await checkCertificate(t, options, "dns");
    t.equal(obtained.leaf.publicKey.asymmetricKeyType, "rsa");
    const record = "_acme-challenge.dns.lego.test";
    t.same(hook.calls, [`present ${record}.`, `cleanup ${record}.`, `present ${record}.`, `cleanup ${record}.`], "lego published each TXT record and took it away");
    t.ok(dns.queries.includes(`TXT ${record}`), "the service read the TXT record from the test DNS server");
  });

  t.test("tls-alpn-01 with lego's own listener", async (t) => {
    const options: LegoOptions = { ...base, domains: tlsNames, dir: join(service.dir, "lego-tls"), tlsPort, keyType: "ec384" };
    succeeded(t, await runLego("run", options), "lego run --tls");
    const obtained = await checkCertificate(t, options, "tls");
    t.equal(obtained.leaf.publicKey.asymmetricKeyDetails?.namedCurve, "secp384r1");
    succeeded(t, await runLego("revoke", options), "lego revoke");
    await revokedEverywhere(t, service, obtained, "unspecified");
  });

  t.test("external account binding: refused without, a certificate with --eab", async (t) => {
    const { directoryUrl, kid, hmac } = service.eab!;
    const options: LegoOptions = { ...base, directoryUrl, domains: boundNames, dir: join(service.dir, "lego-eab"), httpPort };
    const refused = await runLego("run", options);
    t.not(refused.status, 0, "lego without --eab fails");
    t.match(refused.stderr, /Server requires External Account Binding/, "lego read the directory's externalAccountRequired");
    succeeded(t, await runLego("run", { ...options, eab: { kid, hmac } }), "lego --eab --kid --hmac run");
    await checkCertificate(t, options, "bound", "bound");
  });

  t.test("the service refused nothing the clients sent but what the test meant it to", async (t) => {
    // Clients retry some refusals (badNonce, say) without failing: the log shows them.
    const { answers, errors } = service.log();
    t.ok(answers.some((answer) => answer.startsWith("200 POST /acme/default/cert/ID")), "the log has the clients' requests");
    t.same(answers.filter((answer) => !/^[23]/.test(answer)), [], "refused: none");
    t.same(errors, [], "no errors logged");
  });
});

/** The certificate is revoked in the inventory (with `reason`), listed in the CRL, and revoked by OCSP. */
async function revokedEverywhere(t: Test, service: AcmeService, certificate: { serial: string; hex: string; leafFile: string }, reason: string) {
  const { record } = await service.inventory(certificate.hex);
  t.equal(record?.status, "revoked", "the inventory has it revoked");
  t.equal(record?.reason, reason, `for the reason lego gave: ${reason}`);
  t.ok((await service.crlSerials()).includes(certificate.serial), "the CRL lists it");
  t.equal(await service.ocspStatus(certificate.leafFile), "revoked", "OCSP says revoked");
}
