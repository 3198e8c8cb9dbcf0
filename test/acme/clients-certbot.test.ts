// certbot 2 (Debian's package) against the real service over HTTPS: it registers, obtains a
// certificate through http-01 with its standalone server on a loopback port, renews it and revokes
// it; the certificate is checked by node:crypto and openssl, found in the inventory, and seen
// revoked in the CRL and by OCSP. The names resolve to 127.0.0.1 only through the test's DNS
// server, which the service's validator asks (--acme-dns-resolver).
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { acmeClientsSkip, certbotCertificatePaths, runCertbot, type CertbotOptions } from "../helpers/acme-clients.js";
import { startDnsServer } from "../helpers/acme-dns.js";
import { decimalSerialOf, pemBlocks, startAcmeService, succeeded } from "../helpers/acme-service.js";
import { freePort, openssl } from "../helpers/server.js";

t.test("certbot: certonly over http-01, renew, revoke", { skip: acmeClientsSkip, timeout: 300_000 }, async (t) => {
  const names = ["www.certbot.test", "api.certbot.test"];
  const dns = await startDnsServer(t, Object.fromEntries(names.map((name) => [name, { A: ["127.0.0.1"] }])));
  const httpPort = await freePort();
  const service = await startAcmeService(t, { httpPort, dnsResolver: dns.address });
  const ca = new X509Certificate(service.caPem);
  const options: CertbotOptions = { directoryUrl: service.directoryUrl, caFile: service.caFile, domains: names, dir: join(service.dir, "certbot"), httpPort, email: "ops@example.org" };

  /** The lineage's current certificate, checked against the CA and the names, and in the inventory. */
  const checkCertificate = async (t: Test, label: string) => {
    const fullchain = readFileSync(certbotCertificatePaths(options.dir, names[0]!).fullchain, "utf8");
    const blocks = pemBlocks(fullchain);
    t.equal(blocks.length, 2, `${label}: fullchain is the leaf and the CA`);
    const leaf = new X509Certificate(blocks[0]!);
    t.equal(leaf.issuer, ca.subject, `${label}: issued by the CA`);
    t.ok(leaf.verify(ca.publicKey), `${label}: signed by the CA`);
    t.equal(leaf.subjectAltName, names.map((name) => `DNS:${name}`).join(", "), `${label}: for the names asked`);
    const leafFile = join(service.dir, `${label}-leaf.pem`);
    const chainFile = join(service.dir, `${label}-chain.pem`);
    writeFileSync(leafFile, blocks[0]!);
    writeFileSync(chainFile, blocks.slice(1).join(""));
    const verified = openssl(["verify", "-CAfile", service.caFile, "-untrusted", chainFile, "-purpose", "sslserver", leafFile]);
    t.equal(verified.status, 0, `${label}: openssl verify -CAfile -untrusted chain: ${verified.status === 0 ? "OK" : verified.stdout + verified.stderr}`);
    const { status, record } = await service.inventory(leaf.serialNumber);
    t.equal(status, 200, `${label}: in the inventory`);
    t.match(record?.requested_by, /^acme:default:[A-Za-z0-9_-]+$/, `${label}: requested by the acme provisioner's account`);
    t.equal(record?.profile, "server", `${label}: under the provisioner's profile`);
    return { serial: decimalSerialOf(leaf), hex: leaf.serialNumber, leafFile, requestedBy: record?.requested_by };
  };

  const obtained = await runCertbot("certonly", options);
  succeeded(t, obtained, "certbot certonly");
  const first = await checkCertificate(t, "obtained");
  t.ok(dns.queries.some((query) => query === `A ${names[0]}`), "the service looked the name up on the test DNS server");

  const renewed = await runCertbot("renew", options);
  succeeded(t, renewed, "certbot renew --force-renewal");
  const second = await checkCertificate(t, "renewed");
  t.not(second.serial, first.serial, "renewal issued a new certificate");
  t.equal(second.requestedBy, first.requestedBy, "by the same account");

  const revoked = await runCertbot("revoke", options);
  succeeded(t, revoked, "certbot revoke");
  const { record } = await service.inventory(second.hex);
  t.equal(record?.status, "revoked", "the inventory has it revoked");
  t.equal(record?.reason, "unspecified", "for the reason certbot gave");
  const crl = await service.crlSerials();
  t.ok(crl.includes(second.serial), `the CRL lists ${second.serial}: ${crl.join(" ")}`);
  t.notOk(crl.includes(first.serial), "and not the first, which certbot did not revoke");
  t.equal(await service.ocspStatus(second.leafFile), "revoked", "OCSP says revoked");
  t.equal(await service.ocspStatus(first.leafFile), "good", "OCSP: the first is still good");
});
