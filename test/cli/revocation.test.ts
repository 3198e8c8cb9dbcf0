// Revocation end to end on the real service: openssl ocsp -url against the running responder, the
// CRL from the distribution point, and a CRL number that keeps growing across a restart.
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { mustOpenssl, postJson, runCli, startService, tempDir, writeFile } from "../helpers/server.js";
import { opensslAsync } from "../helpers/service-checks.js";

async function crlNumber(url: string, dir: string, caFile: string): Promise<number> {
  const response = await fetch(`${url}/crl/default.crl`);
  t.equal(response.headers.get("content-type"), "application/pkix-crl");
  const file = join(dir, `crl-${Date.now()}.der`);
  writeFileSync(file, Buffer.from(await response.arrayBuffer()));
  const text = mustOpenssl(["crl", "-inform", "DER", "-in", file, "-CAfile", caFile, "-noout", "-text"]);
  return Number(/X509v3 CRL Number:\s*\n\s*(\d+)/.exec(text)![1]);
}

t.test("openssl ocsp -url gets good, then revoked; the CRL number survives a restart", async (t) => {
  const cwd = tempDir(t);
  const dataDir = join(cwd, "data");
  let service = await startService(t, { cwd, args: ["--data-dir", dataDir] });
  const caFile = join(dataDir, "ca.pem");

  const issued = await postJson(service.api, "newcert", { request: { CN: "web.internal", hosts: ["web.internal"] }, profile: "server" });
  t.equal(issued.status, 200);
  const certFile = writeFile(cwd, "web.pem", issued.body.result.certificate);

  const ask = () => opensslAsync(["ocsp", "-issuer", caFile, "-cert", certFile, "-url", `${service.url}/ocsp`, "-CAfile", caFile]);
  const before = await ask();
  t.equal(before.status, 0, before.stderr);
  t.match(before.stderr, /Response verify OK/);
  t.match(before.stdout, `${certFile}: good`);

  const serial = BigInt(`0x${new X509Certificate(readFileSync(certFile)).serialNumber}`).toString(10);
  const revoked = await postJson(service.api, "revoke", { serial, reason: "keyCompromise" });
  t.equal(revoked.status, 200, JSON.stringify(revoked.body));

  const after = await ask();
  t.equal(after.status, 0, after.stderr);
  t.match(after.stdout, `${certFile}: revoked`);
  t.match(after.stdout, /Reason: keyCompromise/);

  const first = await crlNumber(service.url, cwd, caFile);
  const fresh = await fetch(`${service.api}/crl?expiry=1h`);
  t.equal(fresh.status, 200);
  await service.stop("SIGTERM");

  service = await startService(t, { cwd, args: ["--data-dir", dataDir] });
  const afterRestart = await crlNumber(service.url, cwd, caFile);
  t.ok(afterRestart > first + 1, `CRL number ${afterRestart} after restart, ${first} before`);
  await service.stop("SIGTERM");
});

t.test("a delegated OCSP responder signs the answers; one without OCSP signing is refused at start-up", async (t) => {
  const cwd = tempDir(t);
  const dataDir = join(cwd, "data");
  // First start makes the data-dir CA; the responder certificate is then made by openssl from it.
  const first = await startService(t, { cwd, args: ["--data-dir", dataDir] });
  await first.stop("SIGTERM");
  const caFile = join(dataDir, "ca.pem");
  const makeResponder = (name: string, eku: string) => {
    mustOpenssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(cwd, `${name}-key.pem`), "-subj", `/CN=${name}`, "-out", join(cwd, `${name}.csr`)]);
    writeFile(cwd, `${name}.ext`, `extendedKeyUsage=${eku}\nkeyUsage=digitalSignature\n`);
    mustOpenssl(["x509", "-req", "-in", join(cwd, `${name}.csr`), "-CA", caFile, "-CAkey", join(dataDir, "ca-key.pem"), "-CAcreateserial", "-days", "30", "-extfile", join(cwd, `${name}.ext`), "-out", join(cwd, `${name}.pem`)]);
  };
  makeResponder("responder", "OCSPSigning");
  makeResponder("notresponder", "serverAuth");

  const service = await startService(t, { cwd, args: ["--data-dir", dataDir, "--responder", join(cwd, "responder.pem"), "--responder-key", join(cwd, "responder-key.pem")] });
  const issued = await postJson(service.api, "newcert", { request: { CN: "db.internal", hosts: ["db.internal"] }, profile: "server" });
  const certFile = writeFile(cwd, "db.pem", issued.body.result.certificate);
  const answer = await opensslAsync(["ocsp", "-issuer", caFile, "-cert", certFile, "-url", `${service.url}/ocsp`, "-CAfile", caFile, "-resp_text"]);
  t.equal(answer.status, 0, answer.stderr);
  t.match(answer.stderr, /Response verify OK/);
  t.match(answer.stdout, `${certFile}: good`);
  t.match(answer.stdout, /Subject: CN\s*=\s*responder/, "the responder's certificate travels in the answer");
  await service.stop("SIGTERM");

  const refused = await runCli(t, ["serve", "--data-dir", dataDir, "--port", "0", "--responder", join(cwd, "notresponder.pem"), "--responder-key", join(cwd, "notresponder-key.pem")], { cwd });
  t.equal(refused.code, 1);
  t.match(refused.stderr, /OCSP signing/);
  t.equal(refused.stderr.trim().split("\n").length, 1, "one line");
});
