// certinfo (issue 13): a recorded certificate, asked for by serial and authority key id, is the
// inventory's to show and needs the admin token once authentication is configured; and a PEM is
// parsed in the signer threads, not on the HTTP thread (a 64 KiB one took tens of milliseconds
// that every other request waited for).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { SignerPool } from "../../src/authority/signer-pool.js";
import { x509 } from "../../src/pki/webcrypto.js";
import { makeCa, openssl, post, profilesDir, tempDir, testApp, writeFile, type TestApp } from "../helpers/app.js";

const adminToken = "certinfo-admin-token-0123456789";

async function certinfo(app: TestApp["app"], body: object, token?: string) {
  const response = await app.inject({
    method: "POST",
    url: "/api/v1/cfssl/certinfo",
    headers: { "content-type": "application/json", ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    payload: JSON.stringify(body),
  });
  return { status: response.statusCode, body: response.json() };
}

async function issued(app: TestApp["app"]) {
  const made = await post(app, "newcert", { request: { CN: "recorded.internal", hosts: ["recorded.internal"] } });
  if (made.status !== 200) throw new Error(JSON.stringify(made.body.errors));
  const described = await certinfo(app, { certificate: made.body.result.certificate });
  return { serial: described.body.result.serial_number as string, aki: described.body.result.authority_key_id as string };
}

t.test("certinfo by serial needs the admin token once authentication is configured, as the inventory does", async (t) => {
  const { app } = await testApp(t, { adminToken });
  const { serial, aki } = await issued(app);
  const lookup = { serial, authority_key_id: aki };

  const anonymous = await certinfo(app, lookup);
  t.equal(anonymous.status, 401, "no token: 401");
  t.match(anonymous.body, { success: false, result: null, errors: [{ code: 13100, message: /admin token/ }] });
  const wrong = await certinfo(app, lookup, "not-the-token");
  t.equal(wrong.status, 403, "a wrong token: 403");
  t.equal(wrong.body.errors[0].code, 13200);
  const unknown = await certinfo(app, { serial: "12345", authority_key_id: aki });
  t.equal(unknown.status, 401, "whether the serial is recorded is not told without the token either");
  const admin = await certinfo(app, lookup, adminToken);
  t.equal(admin.status, 200, JSON.stringify(admin.body.errors));
  t.equal(admin.body.result.serial_number, serial);
  t.equal(admin.body.result.subject.common_name, "recorded.internal");
  const inventory = await app.inject({ method: "GET", url: `/api/v1/certificates/${serial}` });
  t.equal(inventory.statusCode, 401, "the same rule as the inventory's");
});

t.test("without any authentication configured, certinfo by serial stays open, as cfssl's", async (t) => {
  const { app } = await testApp(t);
  const { serial, aki } = await issued(app);
  const open = await certinfo(app, { serial, authority_key_id: aki });
  t.equal(open.status, 200, JSON.stringify(open.body.errors));
  t.equal(open.body.result.serial_number, serial);
});

t.test("certinfo parses the PEM in the signer threads, not on the HTTP thread; errors keep their codes", async (t) => {
  const made = await makeCa();
  const configDocument = JSON.parse(readFileSync(join(profilesDir, "ca-config.json"), "utf8"));
  const pool = await SignerPool.start(1, { caCertificate: made.certificate, caKey: made.private_key, label: made.ca.label, configDocument });
  t.teardown(() => pool.close());
  const threads = await testApp(t, { ca: made.ca, signer: pool, adminToken });
  const here = await testApp(t, { ca: made.ca, adminToken });

  // A certificate near the 64 KiB bound: a thousand SANs.
  const dir = tempDir(t);
  const names = Array.from({ length: 1000 }, (_, i) => `DNS:host${String(i).padStart(5, "0")}.a-rather-long-subdomain.example.com`).join(",");
  const config = `[req]\ndistinguished_name=dn\n[dn]\n[v3]\nsubjectAltName=${names}\n`;
  const generated = openssl(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "big.key"), "-out", join(dir, "big.pem"), "-subj", "/CN=big.example.com", "-days", "2", "-extensions", "v3", "-config", writeFile(dir, "big.cnf", config)]);
  t.equal(generated.status, 0, generated.stderr);
  const pem = readFileSync(join(dir, "big.pem"), "utf8");
  t.ok(pem.length > 60_000 && pem.length <= 65_536, `a ${pem.length}-character PEM`);

  // Counts @peculiar/x509's work on this thread; worker threads load their own copy of the library.
  let parsedHere = 0;
  const getExtension = x509.X509Certificate.prototype.getExtension;
  x509.X509Certificate.prototype.getExtension = function (this: x509.X509Certificate, ...args: Parameters<typeof getExtension>) {
    parsedHere++;
    return getExtension.apply(this, args);
  } as typeof getExtension;
  t.teardown(() => {
    x509.X509Certificate.prototype.getExtension = getExtension;
  });

  const inThreads = await certinfo(threads.app, { certificate: pem });
  t.equal(inThreads.status, 200, JSON.stringify(inThreads.body.errors));
  t.equal(inThreads.body.result.sans.length, 1000);
  const { serial, aki } = await issued(threads.app);
  t.equal((await certinfo(threads.app, { serial, authority_key_id: aki }, adminToken)).status, 200, "a recorded one too");
  t.equal(parsedHere, 0, "with signer threads, nothing was parsed on the HTTP thread");

  const onThisThread = await certinfo(here.app, { certificate: pem });
  t.same(onThisThread.body, inThreads.body, "the same answer as a signer on this thread gives");
  t.ok(parsedHere > 0, "(which parses here: the counter sees it)");

  const undecodable = await certinfo(threads.app, { certificate: "not a PEM" });
  t.match(undecodable, { status: 400, body: { errors: [{ code: 1002, message: /no PEM block/ }] } });
  const unparsable = await certinfo(threads.app, { certificate: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" });
  t.match(unparsable, { status: 400, body: { errors: [{ code: 1003, message: /not a valid X\.509 certificate/ }] } });
});
