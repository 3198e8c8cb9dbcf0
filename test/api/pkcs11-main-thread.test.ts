// A CA key in a SoftHSM2 token used on the thread that serves HTTP (certificates with --workers 0,
// OCSP answers, readiness): every signature there takes the asynchronous path, off the event loop,
// and what it signs verifies with openssl (the CRL, made in the CRL thread, too).
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { openCertificateAuthority } from "../../src/keys/ca-key.js";
import { makeSoftHsmToken, softhsmPin, softhsmSkip } from "../helpers/softhsm.js";
import { openssl, tempDir, testApp, writeFile } from "../helpers/app.js";

t.test("a PKCS#11 CA key on the HTTP thread signs asynchronously: certificates, OCSP, readiness", { skip: softhsmSkip }, async (t) => {
  const hsm = makeSoftHsmToken(t, "rsa-2048");
  // SoftHSM2 reads its config when the module is initialized, once for this process.
  process.env.SOFTHSM2_CONF = hsm.env.SOFTHSM2_CONF;
  const caPem = readFileSync(hsm.caFile, "utf8");
  const ca = await openCertificateAuthority(caPem, { caKey: `pkcs11:token=${hsm.token};object=${hsm.label}`, pkcs11: { module: hsm.module, pin: softhsmPin, pinFrom: "the test's PIN" } });
  // Counts which path each signature takes.
  const calls = { sync: 0, async: 0 };
  const { sign, signAsync } = ca.key;
  t.ok(sign && signAsync, "a key in a module has both paths");
  ca.key.sign = (data) => {
    calls.sync++;
    return sign!(data);
  };
  ca.key.signAsync = (data) => {
    calls.async++;
    return signAsync!(data);
  };
  const { app } = await testApp(t, { ca });
  const dir = tempDir(t);

  const answers = await Promise.all(
    Array.from({ length: 12 }, (_, i) =>
      app.inject({ method: "POST", url: "/api/v1/cfssl/newcert", payload: { request: { CN: `hsm-${i}.internal`, hosts: [`hsm-${i}.internal`], key: { algo: "ecdsa", size: 256 } } } }),
    ),
  );
  const caCertificate = new X509Certificate(caPem);
  for (const answer of answers) {
    t.equal(answer.statusCode, 200, answer.body);
    t.ok(new X509Certificate(answer.json().result.certificate).verify(caCertificate.publicKey), "signed by the token's key");
  }
  t.same(calls, { sync: 0, async: 12 }, "each certificate signed on the asynchronous path");

  const crl = await app.inject({ method: "GET", url: "/crl/default.crl" });
  t.equal(crl.statusCode, 200);
  const crlFile = join(dir, "default.crl");
  writeFileSync(crlFile, crl.rawPayload);
  t.equal(openssl(["crl", "-inform", "der", "-in", crlFile, "-CAfile", hsm.caFile, "-noout"]).status, 0, "openssl verifies the CRL");
  t.equal(calls.async, 12, "the CRL is signed in the CRL thread, which opens the key itself");

  const leaf = answers[0]!.json().result.certificate as string;
  const ocsp = await app.inject({ method: "POST", url: "/api/v1/cfssl/ocspsign", payload: { certificate: leaf, status: "good" } });
  t.equal(ocsp.statusCode, 200, ocsp.body);
  const responseFile = join(dir, "ocsp.der");
  writeFileSync(responseFile, Buffer.from(ocsp.json().result.ocspResponse, "base64"));
  const checked = openssl(["ocsp", "-respin", responseFile, "-CAfile", hsm.caFile, "-issuer", hsm.caFile, "-cert", writeFile(dir, "leaf.pem", leaf)]);
  t.match(checked.stdout + checked.stderr, /Response verify OK/, "openssl verifies the OCSP answer");
  t.equal(calls.async, 13, "the OCSP answer on the asynchronous path");
  const ready = await app.inject({ method: "GET", url: "/api/v1/ready" });
  t.equal(ready.statusCode, 200, ready.body);
  t.equal(calls.async, 14, "readiness's probe signature too");
  t.equal(calls.sync, 0, "nothing signed synchronously on this thread");
});
