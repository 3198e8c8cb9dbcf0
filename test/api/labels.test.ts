// Several CAs by label through app.inject: authsign's inner label (certmgr with an auth key),
// bundle and info per CA, the audit line's label, ocspsign by the certificate's issuer; and a
// service with one CA answering as it always did.
import { createHmac, X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import t from "tap";
import { checkCaChain } from "../../src/pki/chain.js";
import { loadCertificateAuthority } from "../../src/pki/ca.js";
import { caChain } from "../helpers/chain-ca.js";
import { makeCa, openssl, tempDir, testApp, writeFile } from "../helpers/app.js";

const ciKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const usages = ["signing", "key encipherment", "server auth"];
const config = {
  auth_keys: { ci: { type: "standard", key: ciKey } },
  signing: { default: { usages, expiry: "8760h" }, profiles: { secure: { usages, expiry: "720h", auth_key: "ci" } } },
};

function csr(dir: string, cn: string): string {
  return openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${dir}/${cn}.key`, "-subj", `/CN=${cn}`, "-addext", `subjectAltName=DNS:${cn}`]).stdout;
}

const adminToken = "labels-admin-token-0123456789abcdef";

async function labelledApp(t: Parameters<typeof testApp>[0], lines: { audit?: Record<string, unknown> }[] = []) {
  const defaultCa = await makeCa();
  const [root, intermediate] = await caChain(1);
  const other = await loadCertificateAuthority(intermediate!.pem, intermediate!.keyPem, "team-2024");
  return {
    ...(await testApp(t, {
      ca: defaultCa.ca,
      config,
      adminToken,
      others: [{ label: "team-2024", ca: other, chain: checkCaChain(intermediate!.pem, root!.pem) }],
      logStream: { write: (line) => lines.push(JSON.parse(line)) },
    })),
    other,
    root: root!,
  };
}

const issuedBy = (pem: string, ca: { pem: string }) => new X509Certificate(pem).verify(new X509Certificate(ca.pem).publicKey);

t.test("authsign with a label inside the signed request: certmgr's authority with an auth_key", async (t) => {
  const dir = tempDir(t);
  const lines: { audit?: Record<string, unknown> }[] = [];
  const { app, ca, other } = await labelledApp(t, lines);
  for (const label of ["team-2024", ""]) {
    const request = Buffer.from(JSON.stringify({ hosts: ["svc.internal"], certificate_request: csr(dir, "svc.internal"), profile: "secure", crl_override: "", label }));
    const token = createHmac("sha256", Buffer.from(ciKey, "hex")).update(request).digest("base64");
    const answer = await app.inject({ method: "POST", url: "/api/v1/cfssl/authsign", payload: { token, request: request.toString("base64") } });
    t.equal(answer.statusCode, 200, answer.body);
    t.ok(issuedBy(answer.json().result.certificate, label ? other : ca), `label "${label}": signed by its CA`);
  }
  const audits = lines.filter((line) => line.audit).map((line) => line.audit!);
  t.equal(audits[0]?.label, "team-2024", "the audit line names the CA");
  t.notOk("label" in audits[1]!, "the default CA, unlabelled here, adds nothing to the audit line");
});

t.test("bundle and info per CA: each with its own chain", async (t) => {
  const dir = tempDir(t);
  const { app, root } = await labelledApp(t);
  const signed = await app.inject({ method: "POST", url: "/api/v1/cfssl/sign", payload: { certificate_request: csr(dir, "b.internal"), label: "team-2024", bundle: true } });
  t.equal(signed.statusCode, 200, signed.body);
  t.equal(signed.json().result.bundle.root.trim(), root.pem.trim(), "the labelled CA's root");
  const info = await app.inject({ method: "POST", url: "/api/v1/cfssl/info", payload: { label: "team-2024" } });
  t.equal(info.json().result.chain?.length, 1, "its chain");
  const plain = await app.inject({ method: "POST", url: "/api/v1/cfssl/info", payload: {} });
  t.notOk("chain" in plain.json().result, "the default CA has none");
});

t.test("ocspsign answers with the certificate's issuer; the CRLs are by label", async (t) => {
  const dir = tempDir(t);
  const { app, other } = await labelledApp(t);
  const signed = await app.inject({ method: "POST", url: "/api/v1/cfssl/sign", payload: { certificate_request: csr(dir, "o.internal"), label: "team-2024" } });
  const leaf = signed.json().result.certificate as string;
  const ocsp = await app.inject({ method: "POST", url: "/api/v1/cfssl/ocspsign", headers: { authorization: `Bearer ${adminToken}` }, payload: { certificate: leaf } });
  t.equal(ocsp.statusCode, 200, ocsp.body);
  const files = { response: writeFile(dir, "r.der", ""), leaf: writeFile(dir, "leaf.pem", leaf), issuer: writeFile(dir, "issuer.pem", other.pem) };
  writeFileSync(files.response, Buffer.from(ocsp.json().result.ocspResponse, "base64"));
  const checked = openssl(["ocsp", "-respin", files.response, "-issuer", files.issuer, "-cert", files.leaf, "-VAfile", files.issuer]);
  t.match(checked.stderr, /Response verify OK/, "signed by the labelled CA");
  t.match(checked.stdout, /leaf\.pem: good/);
  for (const name of ["default.crl", "team-2024.crl"]) t.equal((await app.inject({ url: `/crl/${name}` })).statusCode, 200, name);
  const missing = await app.inject({ url: "/crl/nope.crl" });
  t.equal(missing.statusCode, 404);
  t.match(missing.json().errors[0].message, /no CRL nope\.crl here; its CAs publish \/crl\/default\.crl, \/crl\/team-2024\.crl/);
});

t.test("one CA: the label refusals and the CRL name as before", async (t) => {
  const dir = tempDir(t);
  const { app } = await testApp(t);
  const refused = await app.inject({ method: "POST", url: "/api/v1/cfssl/sign", payload: { certificate_request: csr(dir, "x.internal"), label: "team" } });
  t.equal(refused.statusCode, 404);
  t.equal(refused.json().errors[0].message, `label "team": no such CA here; the default CA's label is ""`);
  const missing = await app.inject({ url: "/crl/team.crl" });
  t.equal(missing.json().errors[0].message, "no CRL team.crl here; this service's CA publishes /crl/default.crl");
});

t.test("readiness checks every CA's key and warns of each one's expiry", async (t) => {
  const { ReadinessService } = await import("../../src/authority/readiness.js");
  const { datedCa } = await import("../helpers/dated-ca.js");
  const now = new Date();
  const day = 24 * 3_600_000;
  const main = (await makeCa()).ca;
  const soon = await datedCa(new Date(now.getTime() - day), new Date(now.getTime() + 10 * day), "Soon CA");
  const expiring = await loadCertificateAuthority(soon.certificate, soon.key, "soon", now);
  const database = { checkWritable() {} };
  const ready = await new ReadinessService({ ca: main, others: [expiring], database, clock: () => now }).check();
  t.equal(ready.ready, true);
  t.match(ready.warnings, [/the CA "soon" expires at .*, in 10 day\(s\)/]);
  // A labelled CA whose key is not its certificate's: requests under its label would fail.
  const wrongKey = { ...expiring, key: main.key };
  const notReady = await new ReadinessService({ ca: main, others: [wrongKey], database, clock: () => now }).check();
  t.equal(notReady.ready, false);
  t.match(notReady.checks.ca_key.detail, /^CA "soon": the CA key's signature does not verify/);
});
