// A CA key in a PKCS#11 module, end to end: the real service signs through SoftHSM2 in each signer
// thread, the CRL thread and the main thread (OCSP, readiness), and openssl verifies all of it.
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { makeSoftHsmToken, softhsmPin, softhsmSkip, type HsmKeyType, type SoftHsmToken } from "../helpers/softhsm.js";
import { mustOpenssl, openssl, postJson, runCli, startService, tempDir, writeFile } from "../helpers/server.js";
import { opensslAsync } from "../helpers/service-checks.js";

function serveArgs(hsm: SoftHsmToken, dataDir: string, uri = `pkcs11:token=${hsm.token};object=${hsm.label}`): string[] {
  return ["--data-dir", dataDir, "--ca", hsm.caFile, "--ca-key", uri, "--pkcs11-module", hsm.module, "--pkcs11-pin-file", hsm.pinFile, "--workers", "2"];
}

const keyTypes: HsmKeyType[] = ["ec-256", "ec-384", "rsa-2048"];

for (const type of keyTypes) {
  t.test(`${type}: newcert, sign, the CRL, OCSP and readiness all sign through the token`, { skip: softhsmSkip }, async (t) => {
    const hsm = makeSoftHsmToken(t, type);
    const cwd = tempDir(t);
    const service = await startService(t, { cwd, args: serveArgs(hsm, join(cwd, "data")), env: hsm.env });

    const ready = await fetch(`${service.url}/api/v1/ready`);
    const readiness = (await ready.json()) as { result: { ready: boolean; checks: { ca_key: { ok: boolean; detail: string } } } };
    t.equal(ready.status, 200, ready.status === 200 ? "ready" : JSON.stringify(readiness));
    t.ok(readiness.result.checks.ca_key.ok, readiness.result.checks.ca_key.detail);

    // newcert and sign go to both signer threads: each has its own session.
    const certFiles: string[] = [];
    for (let i = 0; i < 4; i++) {
      const issued = await postJson(service.api, "newcert", { request: { CN: `web${i}.internal`, hosts: [`web${i}.internal`] }, profile: "server" });
      t.equal(issued.status, 200, issued.status === 200 ? "newcert" : JSON.stringify(issued.body));
      certFiles.push(writeFile(cwd, `web${i}.pem`, issued.body.result.certificate));
    }
    mustOpenssl(["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", join(cwd, "client-key.pem")]);
    mustOpenssl(["req", "-new", "-key", join(cwd, "client-key.pem"), "-subj", "/CN=client.internal", "-out", join(cwd, "client.csr")]);
    const signed = await postJson(service.api, "sign", { certificate_request: readFileSync(join(cwd, "client.csr"), "utf8"), profile: "client" });
    t.equal(signed.status, 200, signed.status === 200 ? "sign" : JSON.stringify(signed.body));
    certFiles.push(writeFile(cwd, "client.pem", signed.body.result.certificate));
    for (const file of certFiles) {
      const verified = openssl(["verify", "-CAfile", hsm.caFile, file]);
      t.equal(verified.status, 0, `openssl verify ${file}: ${verified.stderr}`);
    }

    const serial = BigInt(`0x${new X509Certificate(readFileSync(certFiles[0]!)).serialNumber}`).toString(10);
    const revoked = await postJson(service.api, "revoke", { serial, reason: "keyCompromise" });
    t.equal(revoked.status, 200, revoked.status === 200 ? "revoke" : JSON.stringify(revoked.body));

    const crl = await fetch(`${service.url}/crl/default.crl`);
    t.equal(crl.status, 200);
    const crlFile = join(cwd, "ca.crl");
    writeFileSync(crlFile, Buffer.from(await crl.arrayBuffer()));
    const crlCheck = openssl(["crl", "-inform", "DER", "-in", crlFile, "-CAfile", hsm.caFile, "-noout", "-text"]);
    t.equal(crlCheck.status, 0, crlCheck.stderr);
    t.match(crlCheck.stderr, /verify OK/);
    t.match(crlCheck.stdout, /Serial Number/, "the revoked certificate is listed");

    for (const [file, status] of [[certFiles[0]!, "revoked"], [certFiles[1]!, "good"]] as const) {
      const answer = await opensslAsync(["ocsp", "-issuer", hsm.caFile, "-cert", file, "-url", `${service.url}/ocsp`, "-CAfile", hsm.caFile]);
      t.equal(answer.status, 0, answer.stderr);
      t.match(answer.stderr, /Response verify OK/);
      t.match(answer.stdout, `${file}: ${status}`);
    }
    t.notOk((service.stdout() + service.stderr()).includes(softhsmPin), "the PIN is not logged");
    t.same(await service.stop("SIGTERM"), { code: 0, signal: null });
  });
}

t.test("a start that cannot open the key is refused with one line saying what to fix", { skip: softhsmSkip }, async (t) => {
  const hsm = makeSoftHsmToken(t, "ec-256");
  const cwd = tempDir(t);
  const dataDir = join(cwd, "data");
  const refused = async (args: string[]) => {
    const result = await runCli(t, ["serve", ...args], { cwd, env: hsm.env, timeoutMs: 20_000 });
    t.equal(result.code, 1, result.stderr);
    t.equal(result.stderr.trim().split("\n").length, 1, `one line: ${result.stderr}`);
    return result.stderr;
  };

  const wrongPin = writeFile(cwd, "wrong-pin", "9999\n");
  const pinArgs = serveArgs(hsm, dataDir);
  pinArgs[pinArgs.indexOf(hsm.pinFile)] = wrongPin;
  t.match(await refused(pinArgs), /^certwright: cannot start: CA key: the PIN in .*wrong-pin is not the user PIN of token "certwright-test" \(CKR_PIN_INCORRECT\)/);

  t.match(
    await refused(serveArgs(hsm, dataDir, "pkcs11:token=nope;object=ca-key")),
    /^certwright: cannot start: CA key: no token labelled "nope" in PKCS#11 module .*; tokens found: "certwright-test" \(serial \w+\)/,
  );
  t.match(
    await refused(serveArgs(hsm, dataDir, "pkcs11:token=certwright-test;object=other")),
    /^certwright: cannot start: CA key: no private key with label "other" on token "certwright-test"; private keys on it: "ca-key" \(id 01\)/,
  );
  t.match(await refused(serveArgs(hsm, dataDir, "pkcs11:token=certwright-test;object=ca-key?pin-value=1234")), /pin-value is refused/);

  // Another token's key for this certificate: the key does not belong to it.
  const other = makeSoftHsmToken(t, "ec-256");
  const mismatched = serveArgs(other, dataDir);
  mismatched[mismatched.indexOf(other.caFile)] = hsm.caFile;
  const mismatch = await runCli(t, ["serve", ...mismatched], { cwd, env: other.env, timeoutMs: 20_000 });
  t.equal(mismatch.code, 1);
  t.match(mismatch.stderr, /CA key: it does not belong to the CA certificate/);

  const module = serveArgs(hsm, dataDir);
  module[module.indexOf(hsm.module)] = join(cwd, "no-such-module.so");
  t.match(await refused(module), /CA key: PKCS#11 module .*no-such-module\.so cannot be loaded/);
});

t.test("the module and the PIN file can come from the URI (module-path, pin-source)", { skip: softhsmSkip }, async (t) => {
  const hsm = makeSoftHsmToken(t, "ec-256");
  const cwd = tempDir(t);
  const uri = `pkcs11:token=${hsm.token};id=%01?module-path=${hsm.module}&pin-source=file:${hsm.pinFile}`;
  const service = await startService(t, { cwd, args: ["--data-dir", join(cwd, "data"), "--ca", hsm.caFile, "--ca-key", uri, "--workers", "1"], env: hsm.env });
  const issued = await postJson(service.api, "newcert", { request: { CN: "uri.internal", hosts: ["uri.internal"] }, profile: "server" });
  t.equal(issued.status, 200, issued.status === 200 ? "newcert" : JSON.stringify(issued.body));
  const verified = openssl(["verify", "-CAfile", hsm.caFile, writeFile(cwd, "uri.pem", issued.body.result.certificate)]);
  t.equal(verified.status, 0, verified.stderr);
  t.same(await service.stop("SIGTERM"), { code: 0, signal: null });
});
