// Each CA under its own signing config (--ca-config's `config`, multirootca's per-root config),
// through app.inject: "team-a" (the default) signs under --config, "team-b" under a file of its own
// with other profiles, other lifetimes and an auth key. Sign, authsign and info by label answer
// with that CA's profile; a profile of the other CA is unknown; a reload takes both files at once,
// and a broken one leaves both as they were.
import { createHmac, X509Certificate } from "node:crypto";
import { join } from "node:path";
import t from "tap";
import { authenticationWarnings } from "../../src/authority/authentication.js";
import { loadCertificateAuthority } from "../../src/pki/ca.js";
import { bareCaChain } from "../../src/pki/chain.js";
import { readSigningConfigs } from "../../src/profiles/signing-configs.js";
import { makeCa, openssl, tempDir, testApp, writeFile } from "../helpers/app.js";

const hour = 3_600_000;
const bKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const serverAuth = "1.3.6.1.5.5.7.3.1";
const clientAuth = "1.3.6.1.5.5.7.3.2";
const adminToken = "per-ca-config-admin-token-0123456789";

const sharedConfig = (webExpiry = "2160h") => ({
  signing: {
    default: { usages: ["digital signature", "key encipherment", "server auth"], expiry: "720h" },
    profiles: { web: { usages: ["digital signature", "server auth"], expiry: webExpiry } },
  },
});
const teamBConfig = (deviceExpiry = "24h", more: Record<string, unknown> = {}) => ({
  auth_keys: { "b-key": { type: "standard", key: bKey } },
  signing: {
    default: { usages: ["digital signature", "client auth"], expiry: "48h" },
    profiles: { device: { usages: ["digital signature", "client auth"], expiry: deviceExpiry, auth_key: "b-key" }, ...more },
  },
});

function csr(dir: string, cn: string): string {
  return openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, `${cn}.key`), "-subj", `/CN=${cn}`, "-addext", `subjectAltName=DNS:${cn}`]).stdout;
}

async function twoCaApp(t: Parameters<typeof testApp>[0]) {
  const dir = tempDir(t);
  const sharedPath = writeFile(dir, "signing.json", JSON.stringify(sharedConfig()));
  const teamBPath = writeFile(dir, "team-b.json", JSON.stringify(teamBConfig()));
  const own = new Map([["team-b", teamBPath]]);
  const a = await makeCa();
  const b = await makeCa();
  const caA = await loadCertificateAuthority(a.certificate, a.private_key, "team-a");
  const caB = await loadCertificateAuthority(b.certificate, b.private_key, "team-b");
  const made = await testApp(t, {
    ca: caA,
    others: [{ label: "team-b", ca: caB, chain: bareCaChain(b.certificate) }],
    config: readSigningConfigs(sharedPath, own).configs,
    configPath: sharedPath,
    ownConfigPaths: own,
    adminToken,
  });
  const { app } = made;
  const call = async (endpoint: string, body: unknown, headers: Record<string, string> = {}) => {
    const payload = JSON.stringify(body);
    const answer = await app.inject({ method: "POST", url: `/api/v1/cfssl/${endpoint}`, payload, headers: { "content-type": "application/json", ...headers } });
    return { status: answer.statusCode, body: answer.json() };
  };
  const hmac = (body: unknown) => {
    const payload = JSON.stringify(body);
    return { payload, authorization: `CFSSL-HMAC b-key:${createHmac("sha256", Buffer.from(bKey, "hex")).update(payload).digest("base64")}` };
  };
  const signedBy = (pem: string, ca: { pem: string }) => new X509Certificate(pem).verify(new X509Certificate(ca.pem).publicKey);
  return { ...made, dir, sharedPath, teamBPath, caA, caB, call, hmac, signedBy };
}

/** The certificate's lifetime from now, in hours, rounded (the not-before is backdated a few minutes). */
function hoursLeft(pem: string): number {
  return Math.round((new Date(new X509Certificate(pem).validTo).getTime() - Date.now()) / hour);
}

const extendedUsages = (pem: string) => new X509Certificate(pem).keyUsage ?? [];

t.test("sign by label: each CA's own profile, lifetime and usages; the other CA's profile is unknown", async (t) => {
  const { call, dir, caA, caB, signedBy } = await twoCaApp(t);
  const viaA = await call("sign", { certificate_request: csr(dir, "a.internal") });
  t.equal(viaA.status, 200, JSON.stringify(viaA.body));
  t.ok(signedBy(viaA.body.result.certificate, caA), "no label: team-a signed it");
  t.equal(hoursLeft(viaA.body.result.certificate), 720, "team-a's default: --config's 720h");
  t.same(extendedUsages(viaA.body.result.certificate), [serverAuth]);

  const viaB = await call("sign", { certificate_request: csr(dir, "b.internal"), label: "team-b" });
  t.equal(viaB.status, 200, JSON.stringify(viaB.body));
  t.ok(signedBy(viaB.body.result.certificate, caB), "team-b signed it");
  t.equal(hoursLeft(viaB.body.result.certificate), 48, "team-b's default: its own file's 48h");
  t.same(extendedUsages(viaB.body.result.certificate), [clientAuth], "and its usages");

  const web = await call("sign", { certificate_request: csr(dir, "web.internal"), profile: "web", label: "team-a" });
  t.equal(web.status, 200);
  t.equal(hoursLeft(web.body.result.certificate), 2160);

  const foreign = await call("sign", { certificate_request: csr(dir, "x.internal"), profile: "web", label: "team-b" });
  t.equal(foreign.status, 400, "team-a's profile under team-b");
  t.equal(foreign.body.errors[0].code, 5400);
  t.match(foreign.body.errors[0].message, /profile "web" does not exist; the profiles are "default", "device"/);
  const foreignBack = await call("newcert", { request: { CN: "y.internal", hosts: ["y.internal"] }, profile: "device" });
  t.equal(foreignBack.status, 400, "team-b's profile under the default CA");
  t.equal(foreignBack.body.errors[0].code, 5400);

  const unknownLabel = await call("sign", { certificate_request: csr(dir, "z.internal"), profile: "device", label: "team-c" });
  t.equal(unknownLabel.status, 404, "an unknown label is the CA's refusal, before any profile is looked up");
  t.equal(unknownLabel.body.errors[0].code, 12100);
});

t.test("an auth key of one CA's profile is enforced there only", async (t) => {
  const { app, call, dir, caB, hmac, signedBy } = await twoCaApp(t);
  const body = { certificate_request: csr(dir, "device.internal"), profile: "device", label: "team-b" };
  const bare = await call("sign", body);
  t.equal(bare.status, 401, "team-b's device profile wants its key");
  t.equal(bare.body.errors[0].code, 13100);

  const { payload, authorization } = hmac(body);
  const keyed = await app.inject({ method: "POST", url: "/api/v1/cfssl/sign", payload, headers: { "content-type": "application/json", authorization } });
  t.equal(keyed.statusCode, 200, keyed.body);
  t.ok(signedBy(keyed.json().result.certificate, caB));
  t.equal(hoursLeft(keyed.json().result.certificate), 24, "device's 24h");

  const request = Buffer.from(JSON.stringify({ ...body, certificate_request: csr(dir, "auth.internal") }));
  const token = createHmac("sha256", Buffer.from(bKey, "hex")).update(request).digest("base64");
  const authsigned = await call("authsign", { token, request: request.toString("base64") });
  t.equal(authsigned.status, 200, JSON.stringify(authsigned.body));
  t.ok(signedBy(authsigned.body.result.certificate, caB), "authsign: the label inside the signed request picks the CA and its keys");

  const defaultAuthsign = Buffer.from(JSON.stringify({ certificate_request: csr(dir, "d.internal"), profile: "web" }));
  const refused = await call("authsign", { token: createHmac("sha256", Buffer.from(bKey, "hex")).update(defaultAuthsign).digest("base64"), request: defaultAuthsign.toString("base64") });
  t.equal(refused.status, 400, "team-a's web profile has no auth key to authenticate against");
  t.match(refused.body.errors[0].message, /profile "web" has no auth_key/);

  const open = await call("sign", { certificate_request: csr(dir, "open.internal"), profile: "web" });
  t.equal(open.status, 200, "team-a's profiles stay open");

  const inventory = await app.inject({ method: "GET", url: "/api/v1/certificates" });
  t.equal(inventory.statusCode, 401, "one CA's auth_keys make the admin endpoints want the admin token");
});

t.test("info by label answers with that CA's profile", async (t) => {
  const { call, caA, caB } = await twoCaApp(t);
  const device = await call("info", { label: "team-b", profile: "device" });
  t.equal(device.status, 200);
  t.equal(device.body.result.certificate, caB.pem);
  t.equal(device.body.result.expiry, "24h");
  t.same(device.body.result.usages, ["digital signature", "client auth"]);
  const web = await call("info", { profile: "web" });
  t.equal(web.body.result.certificate, caA.pem);
  t.equal(web.body.result.expiry, "2160h");
  const foreign = await call("info", { label: "team-b", profile: "web" });
  t.equal(foreign.status, 400);
  t.equal(foreign.body.errors[0].code, 5400);
});

t.test("a reload takes every CA's file at once; one broken file keeps both old configs", async (t) => {
  const { app, call, dir, sharedPath, teamBPath } = await twoCaApp(t);
  const reload = async () => {
    const answer = await app.inject({ method: "POST", url: "/api/v1/admin/reload", headers: { authorization: `Bearer ${adminToken}` } });
    return { status: answer.statusCode, body: answer.json() };
  };
  writeFile(dir, "team-b.json", JSON.stringify(teamBConfig("12h", { kiosk: { usages: ["digital signature", "client auth"], expiry: "6h" } })));
  const first = await reload();
  t.equal(first.status, 200, JSON.stringify(first.body));
  t.equal(first.body.result.generation, 1);
  t.same(first.body.result.profiles, ["default", "web"], "the default CA's profiles");
  t.same(first.body.result.cas, { "team-a": ["default", "web"], "team-b": ["default", "device", "kiosk"] });
  t.equal((await call("info", { label: "team-b", profile: "device" })).body.result.expiry, "12h", "team-b's change is in force");
  const kiosk = await call("sign", { certificate_request: csr(dir, "kiosk.internal"), profile: "kiosk", label: "team-b" });
  t.equal(kiosk.status, 200);
  t.equal(hoursLeft(kiosk.body.result.certificate), 6, "a profile the reload added signs with its lifetime");
  t.equal((await call("info", { profile: "web" })).body.result.expiry, "2160h", "team-a's unchanged");

  // --config changes well, team-b's file breaks: neither change is taken.
  writeFile(dir, "signing.json", JSON.stringify(sharedConfig("100h")));
  writeFile(dir, "team-b.json", JSON.stringify({ ...teamBConfig("1h"), signing: { ...teamBConfig("1h").signing, oops: true } }));
  const broken = await reload();
  t.equal(broken.status, 400);
  t.equal(broken.body.errors[0].code, 12300);
  t.match(broken.body.errors[0].message, `the old ones stay in use: CA "team-b": ${teamBPath}: signing.oops: unknown field`);
  t.equal((await call("info", { profile: "web" })).body.result.expiry, "2160h", "--config's good change is not taken either");
  t.equal((await call("info", { label: "team-b", profile: "device" })).body.result.expiry, "12h", "team-b keeps its last good config");

  // And the other way round: --config broken, team-b's good.
  writeFile(dir, "team-b.json", JSON.stringify(teamBConfig("3h")));
  writeFile(dir, "signing.json", "{ not json");
  const sharedBroken = await reload();
  t.equal(sharedBroken.status, 400);
  t.match(sharedBroken.body.errors[0].message, `${sharedPath}: not valid JSON`);
  t.equal((await call("info", { label: "team-b", profile: "device" })).body.result.expiry, "12h");

  writeFile(dir, "signing.json", JSON.stringify(sharedConfig("100h")));
  const fixed = await reload();
  t.equal(fixed.status, 200);
  t.equal(fixed.body.result.generation, 2, "a file that did not validate made no generation");
  t.equal((await call("info", { profile: "web" })).body.result.expiry, "100h");
  t.equal((await call("info", { label: "team-b", profile: "device" })).body.result.expiry, "3h");
});

t.test("start-up warnings name each CA's open profiles", async (t) => {
  const dir = tempDir(t);
  const sharedPath = writeFile(dir, "signing.json", JSON.stringify(sharedConfig()));
  const own = new Map([["team-b", writeFile(dir, "team-b.json", JSON.stringify(teamBConfig()))]]);
  const { configs } = readSigningConfigs(sharedPath, own);
  const warnings = authenticationWarnings(configs, ["team-a", "team-b"], undefined);
  t.equal(warnings.length, 3, warnings.join("\n"));
  t.match(warnings[0], /auth_keys are configured but no admin token/);
  t.match(warnings[1], /these profiles of CA "team-a" issue without authentication: "default", "web"/);
  t.match(warnings[2], /these profiles of CA "team-b" issue without authentication: "default" \(a request that names no profile gets default\)/);
  t.same(authenticationWarnings(readSigningConfigs(sharedPath).configs, ["team-a", "team-b"], undefined), [], "no CA has auth_keys: nothing to warn of");
});

t.test("a CA's own config that does not validate is refused, naming the CA and the file", async (t) => {
  const dir = tempDir(t);
  const sharedPath = writeFile(dir, "signing.json", JSON.stringify(sharedConfig()));
  const bad = writeFile(dir, "bad.json", JSON.stringify({ signing: { default: { expiry: "forever" } } }));
  t.throws(() => readSigningConfigs(sharedPath, new Map([["team-b", bad]])), { message: new RegExp(`^CA "team-b": ${bad}: signing\\.default\\.expiry`) });
  const missing = join(dir, "missing.json");
  t.throws(() => readSigningConfigs(sharedPath, new Map([["team-c", missing]])), { message: `CA "team-c": ${missing}: cannot be read (ENOENT)` });
  // Two CAs naming one file share one parsed config.
  const good = writeFile(dir, "team-b.json", JSON.stringify(teamBConfig()));
  const { configs, documents } = readSigningConfigs(sharedPath, new Map([["x", good], ["y", good]]));
  t.equal(configs.for("x"), configs.for("y"));
  t.equal(configs.for("z"), configs.shared, "a CA without its own: --config's");
  t.same(Object.keys(documents.own ?? {}), ["x", "y"]);
});
