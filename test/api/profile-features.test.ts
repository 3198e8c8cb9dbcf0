// What a profile puts into certificates beyond usages: URLs, OCSP no-check, CA constraints, and
// the CA's own lifetime as a ceiling.
import { X509Certificate } from "node:crypto";
import t from "tap";
import { makeCa, openssl, post, tempDir, testApp, writeFile } from "../helpers/app.js";

const config = {
  signing: {
    default: { usages: ["signing", "key encipherment", "server auth"], expiry: "8760h" },
    profiles: {
      urls: {
        usages: ["digital signature", "ocsp signing"],
        expiry: "720h",
        backdate: "1h",
        crl_url: "http://pki.example.com/crl/default.crl",
        ocsp_url: "http://pki.example.com/ocsp",
        issuer_urls: ["http://pki.example.com/ca.crt"],
        ocsp_no_check: true,
      },
      intermediate: {
        usages: ["cert sign", "crl sign"],
        expiry: "43800h",
        ca_constraint: { is_ca: true, max_path_len: 0, max_path_len_zero: true },
      },
    },
  },
};

t.test("a profile's URLs, backdate and OCSP no-check land in the certificate", async (t) => {
  const { app } = await testApp(t, { config });
  const answer = await post(app, "newcert", { request: { CN: "responder", hosts: ["ocsp.example.com"] }, profile: "urls" });
  t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
  const text = openssl(["x509", "-noout", "-text"], answer.body.result.certificate).stdout;
  t.match(text, /X509v3 CRL Distribution Points:[\s\S]*URI:http:\/\/pki.example.com\/crl\/default.crl/);
  t.match(text, /OCSP - URI:http:\/\/pki.example.com\/ocsp/);
  t.match(text, /CA Issuers - URI:http:\/\/pki.example.com\/ca.crt/);
  t.match(text, /OCSP No Check/);
  t.match(text, /OCSP Signing/);
  const cert = new X509Certificate(answer.body.result.certificate);
  t.equal((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 3_600_000, 720);
  t.ok(Date.parse(cert.validFrom) <= Date.now() - 59 * 60_000, "backdated by the profile's hour");
});

t.test("a ca_constraint profile issues an intermediate that can sign, within path length", async (t) => {
  const dir = tempDir(t);
  const { app, caPem } = await testApp(t, { config });
  const answer = await post(app, "newcert", { request: { CN: "Team Intermediate CA" }, profile: "intermediate" });
  t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
  const intermediate = answer.body.result.certificate as string;
  const text = openssl(["x509", "-noout", "-text"], intermediate).stdout;
  t.match(text, /CA:TRUE, pathlen:0/);
  t.match(text, /Certificate Sign, CRL Sign/);
  const rootFile = writeFile(dir, "root.pem", caPem);
  const intermediateFile = writeFile(dir, "intermediate.pem", intermediate);
  t.equal(openssl(["verify", "-CAfile", rootFile, intermediateFile]).status, 0);

  // The intermediate, served as a CA, signs a leaf that chains to the root ...
  const { loadCertificateAuthority } = await import("../../src/pki/ca.js");
  const sub = await loadCertificateAuthority(intermediate, answer.body.result.private_key);
  t.equal(sub.pathLength, 0);
  const { app: subApp } = await testApp(t, { config, ca: sub });
  const leaf = await post(subApp, "newcert", { request: { CN: "leaf", hosts: ["leaf.example.com"] } });
  t.equal(leaf.status, 200);
  const leafFile = writeFile(dir, "leaf.pem", leaf.body.result.certificate);
  const chain = openssl(["verify", "-CAfile", rootFile, "-untrusted", intermediateFile, leafFile]);
  t.equal(chain.status, 0, chain.stderr);
  // ... but, having path length 0, refuses to make another CA.
  const deeper = await post(subApp, "newcert", { request: { CN: "too deep" }, profile: "intermediate" });
  t.equal(deeper.status, 403);
  t.equal(deeper.body.errors[0]?.code, 5300);
  t.match(deeper.body.errors[0]?.message, /path length of 0/);
});

t.test("a leaf never outlives its CA: the lifetime is cut and messages say so", async (t) => {
  const { ca } = await makeCa({ CN: "short-lived CA", ca: { expiry: "100h" } });
  const { app } = await testApp(t, { ca });
  const answer = await post(app, "newcert", { request: { CN: "svc", hosts: ["svc.internal"] } });
  t.equal(answer.status, 200);
  const cert = new X509Certificate(answer.body.result.certificate);
  t.equal(Date.parse(cert.validTo), ca.notAfter.getTime(), "ends with the CA");
  t.match(answer.body.messages.map((m: { message: string }) => m.message).join("\n"), /cut to end with its CA/);
});
