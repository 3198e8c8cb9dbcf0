// certbot 2 (Debian's package) against the real service over HTTPS: it registers, obtains a
// certificate through http-01 with its standalone server on a loopback port, renews it and revokes
// it; the certificate is checked by node:crypto and openssl, found in the inventory, and seen
// revoked in the CRL and by OCSP. The names resolve to 127.0.0.1 only through the test's DNS
// server, which the service's validator asks (--acme-dns-resolver). A second account, with an RSA
// key, changes its email, revokes by the certificate's own key and deactivates itself; a third
// registers with an external account binding.
import { X509Certificate } from "node:crypto";
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { acmeClientsSkip, certbotCertificatePaths, runCertbot, runCertbotCommand, type CertbotOptions } from "../helpers/acme-clients.js";
import { startDnsServer } from "../helpers/acme-dns.js";
import { decimalSerialOf, pemBlocks, startAcmeService, succeeded } from "../helpers/acme-service.js";
import { freePort, openssl } from "../helpers/server.js";

const names = ["www.certbot.test", "api.certbot.test"];
const rsaNames = ["rsa.certbot.test"];
const laterNames = ["again.certbot.test"];
const boundNames = ["bound.certbot.test"];

t.test("certbot", { skip: acmeClientsSkip, timeout: 280_000 }, async (t) => {
  const dns = await startDnsServer(t, Object.fromEntries([...names, ...rsaNames, ...laterNames, ...boundNames].map((name) => [name, { A: ["127.0.0.1"] }])));
  const httpPort = await freePort();
  const service = await startAcmeService(t, { httpPort, dnsResolver: dns.address, eab: true });
  const ca = new X509Certificate(service.caPem);
  const base = { directoryUrl: service.directoryUrl, caFile: service.caFile, httpPort };

  /** The lineage's current certificate, checked against the CA and the names, and in the inventory. */
  const checkCertificate = async (t: Test, options: CertbotOptions, label: string, provisioner = "default") => {
    const files = certbotCertificatePaths(options.dir, options.domains[0]!);
    const blocks = pemBlocks(readFileSync(files.fullchain, "utf8"));
    t.equal(blocks.length, 2, `${label}: fullchain is the leaf and the CA`);
    const leaf = new X509Certificate(blocks[0]!);
    t.equal(leaf.issuer, ca.subject, `${label}: issued by the CA`);
    t.ok(leaf.verify(ca.publicKey), `${label}: signed by the CA`);
    t.equal(leaf.subjectAltName, options.domains.map((name) => `DNS:${name}`).join(", "), `${label}: for the names asked`);
    const leafFile = join(service.dir, `${label}-leaf.pem`);
    writeFileSync(leafFile, blocks[0]!);
    const verified = openssl(["verify", "-CAfile", service.caFile, "-untrusted", files.chain, "-purpose", "sslserver", leafFile]);
    t.equal(verified.status, 0, `${label}: openssl verify -CAfile -untrusted chain: ${verified.status === 0 ? "OK" : verified.stdout + verified.stderr}`);
    const { status, record } = await service.inventory(leaf.serialNumber);
    t.equal(status, 200, `${label}: in the inventory`);
    t.match(record?.requested_by, new RegExp(`^acme:${provisioner}:[A-Za-z0-9_-]+$`), `${label}: requested by an account of provisioner ${provisioner}`);
    t.equal(record?.profile, "server", `${label}: under the provisioner's profile`);
    return { leaf, serial: decimalSerialOf(leaf), hex: leaf.serialNumber, leafFile, requestedBy: record?.requested_by };
  };

  t.test("certonly over http-01, renew, revoke", async (t) => {
    const options: CertbotOptions = { ...base, domains: names, dir: join(service.dir, "certbot"), email: "ops@example.org" };
    succeeded(t, await runCertbot("certonly", options), "certbot certonly");
    const first = await checkCertificate(t, options, "obtained");
    t.equal(first.leaf.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1", "certbot 2's default key: EC P-256");
    t.ok(dns.queries.includes(`A ${names[0]}`), "the service looked the name up on the test DNS server");

    succeeded(t, await runCertbot("renew", options), "certbot renew --force-renewal");
    const second = await checkCertificate(t, options, "renewed");
    t.not(second.serial, first.serial, "renewal issued a new certificate");
    t.equal(second.requestedBy, first.requestedBy, "by the same account");

    succeeded(t, await runCertbot("revoke", options), "certbot revoke");
    const { record } = await service.inventory(second.hex);
    t.equal(record?.status, "revoked", "the inventory has it revoked");
    t.equal(record?.reason, "unspecified", "for the reason certbot gave");
    const crl = await service.crlSerials();
    t.ok(crl.includes(second.serial), "the CRL lists it");
    t.notOk(crl.includes(first.serial), "and not the first, which certbot did not revoke");
    t.equal(await service.ocspStatus(second.leafFile), "revoked", "OCSP says revoked");
    t.equal(await service.ocspStatus(first.leafFile), "good", "OCSP: the first is still good");
  });

  t.test("an RSA key; the account's email changed, the certificate revoked by its own key, the account deactivated", async (t) => {
    const options: CertbotOptions = { ...base, domains: rsaNames, dir: join(service.dir, "certbot-rsa"), email: "first@example.org", keyType: "rsa" };
    succeeded(t, await runCertbot("certonly", options), "certbot certonly --key-type rsa");
    const obtained = await checkCertificate(t, options, "rsa");
    t.equal(obtained.leaf.publicKey.asymmetricKeyType, "rsa");

    succeeded(t, await runCertbotCommand("update_account", ["--email", "second@example.org"], options), "certbot update_account");
    const shown = await runCertbotCommand("show_account", [], options);
    succeeded(t, shown, "certbot show_account");
    t.match(shown.stdout, /Email contact: second@example\.org/, "the server keeps the new contact");

    const files = certbotCertificatePaths(options.dir, rsaNames[0]!);
    const revoked = await runCertbotCommand("revoke", ["--cert-path", files.certificate, "--key-path", files.key, "--reason", "keycompromise", "--no-delete-after-revoke"], options);
    succeeded(t, revoked, "certbot revoke --key-path (signed by the certificate's key)");
    const { record } = await service.inventory(obtained.hex);
    t.equal(record?.status, "revoked");
    t.equal(record?.reason, "keyCompromise");
    t.equal(await service.ocspStatus(obtained.leafFile), "revoked", "OCSP says revoked");

    // certbot forgets the account it deactivates; put its files back to see what the server says of it.
    const accounts = join(options.dir, "config", "accounts");
    cpSync(accounts, `${accounts}.kept`, { recursive: true });
    succeeded(t, await runCertbotCommand("unregister", [], options), "certbot unregister");
    rmSync(accounts, { recursive: true, force: true });
    cpSync(`${accounts}.kept`, accounts, { recursive: true });
    const again = await runCertbot("certonly", { ...options, domains: laterNames });
    t.not(again.status, 0, "the deactivated account can no longer order");
    // certbot 2.1 on Python 3.11 shows any ACME error as "AttributeError: can't set attribute"
    // (josepy); its log has the server's problem document.
    const log = readFileSync(join(options.dir, "logs", "letsencrypt.log"), "utf8");
    t.match(log, /"POST \/acme\/default\/new-order HTTP\/1\.1" 403/, "new-order answered 403");
    t.match(log, /urn:ietf:params:acme:error:unauthorized :: .* :: the account is deactivated/, "an unauthorized problem that says why");
  });

  t.test("external account binding: a provisioner that requires one", async (t) => {
    const { directoryUrl, kid, hmac } = service.eab!;
    const options: CertbotOptions = { ...base, directoryUrl, domains: boundNames, dir: join(service.dir, "certbot-eab"), eab: { kid, hmac } };
    succeeded(t, await runCertbot("certonly", options), "certbot certonly --eab-kid --eab-hmac-key");
    await checkCertificate(t, options, "bound", "bound");
  });

  t.test("the service refused nothing the clients sent but what the test meant it to", async (t) => {
    // Clients retry some refusals (badNonce, say) without failing: the log shows them.
    const { answers, errors } = service.log();
    t.ok(answers.some((answer) => answer.startsWith("200 POST /acme/default/cert/ID")), "the log has the clients' requests");
    t.same(answers.filter((answer) => !/^[23]/.test(answer)), ["403 POST /acme/default/new-order"], "refused: only the deactivated account's order");
    t.same(errors, [], "no errors logged");
  });
});
