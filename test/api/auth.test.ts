// cfssl's authenticated signing, the same rule on every endpoint, and the admin token for init_ca.
import { X509Certificate } from "node:crypto";
import t from "tap";
import { openssl, tempDir, testApp, writeFile } from "../helpers/app.js";

const ciKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const oldKey = "fedcba9876543210fedcba9876543210";
const otherKey = "00112233445566778899aabbccddeeff";
const usages = ["signing", "key encipherment", "server auth", "client auth"];
const config = {
  auth_keys: {
    ci: { type: "standard", key: ciKey },
    old: { type: "standard", key: oldKey },
    other: { type: "standard", key: otherKey },
  },
  signing: {
    default: { usages, expiry: "8760h" },
    profiles: { secure: { usages, expiry: "720h", auth_key: "ci", prev_auth_key: "old" }, open: { usages, expiry: "720h" } },
  },
};
const adminToken = `${"a".repeat(20)}-admin-token-0001`;

/** The HMAC as openssl computes it: an independent implementation. */
function opensslHmac(hexKey: string, bytes: Buffer, dir: string): string {
  const file = writeFile(dir, "hmac-input", bytes.toString("latin1"));
  const out = openssl(["dgst", "-sha256", "-mac", "HMAC", "-macopt", `hexkey:${hexKey}`, "-binary", "-out", `${file}.mac`, file]);
  if (out.status !== 0) throw new Error(out.stderr);
  return openssl(["base64", "-A", "-in", `${file}.mac`]).stdout.trim();
}

function csr(dir: string): string {
  return openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${dir}/k.pem`, "-subj", "/CN=svc.internal", "-addext", "subjectAltName=DNS:svc.internal"]).stdout;
}

async function call(app: Awaited<ReturnType<typeof testApp>>["app"], path: string, payload: string, authorization?: string) {
  const response = await app.inject({
    method: "POST",
    url: `/api/v1/cfssl/${path}`,
    headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
    payload,
  });
  return { status: response.statusCode, body: response.json() };
}

t.test("authsign takes cfssl's envelope with a token openssl computed", async (t) => {
  const dir = tempDir(t);
  const { app, store } = await testApp(t, { config });
  const request = Buffer.from(JSON.stringify({ certificate_request: csr(dir), profile: "secure", hosts: null, label: "" }));
  const envelope = (token: string, bytes = request) => JSON.stringify({ token, request: bytes.toString("base64") });

  const good = await call(app, "authsign", envelope(opensslHmac(ciKey, request, dir)));
  t.equal(good.status, 200, JSON.stringify(good.body.errors));
  const cert = new X509Certificate(good.body.result.certificate);
  t.equal((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 3_600_000, 720, "signed under the profile");
  t.equal(store.count(), 1);

  const rotated = await call(app, "authsign", envelope(opensslHmac(oldKey, request, dir)));
  t.equal(rotated.status, 200, "the previous key still works while clients rotate");

  const tokenOf = opensslHmac(ciKey, request, dir);
  const refusals: [string, string][] = [
    ["a token under another key", envelope(opensslHmac(otherKey, request, dir))],
    ["a truncated token", envelope(Buffer.from(tokenOf, "base64").subarray(0, 16).toString("base64"))],
    ["a token for other bytes", envelope(tokenOf, Buffer.concat([request, Buffer.from(" ")]))],
    ["an empty token", envelope("")],
  ];
  for (const [what, payload] of refusals) {
    const answer = await call(app, "authsign", payload);
    t.equal(answer.status, 403, what);
    t.equal(answer.body.errors[0]?.code, 13200, what);
    t.match(answer.body.errors[0]?.message, /HMAC-SHA256 of request under auth key "ci"/);
  }
  const notJson = await call(app, "authsign", JSON.stringify({ token: tokenOf, request: Buffer.from("nope").toString("base64") }));
  t.equal(notJson.status, 400);
  const openProfile = Buffer.from(JSON.stringify({ certificate_request: csr(dir), profile: "open" }));
  const noKey = await call(app, "authsign", envelope(opensslHmac(ciKey, openProfile, dir), openProfile));
  t.equal(noKey.status, 400);
  t.match(noKey.body.errors[0]?.message, /has no auth_key/);
  t.equal(store.count(), 2, "refusals record nothing");
});

t.test("an authenticated profile refuses plain sign and newcert, and takes the CFSSL-HMAC header", async (t) => {
  const dir = tempDir(t);
  const { app, store } = await testApp(t, { config });
  const signBody = JSON.stringify({ certificate_request: csr(dir), profile: "secure" });
  const plain = await call(app, "sign", signBody);
  t.equal(plain.status, 401);
  t.equal(plain.body.errors[0]?.code, 13100);
  t.match(plain.body.errors[0]?.message, /requires authentication: use authsign/);
  const newcertBody = JSON.stringify({ request: { CN: "n.internal", hosts: ["n.internal"] }, profile: "secure" });
  t.equal((await call(app, "newcert", newcertBody)).status, 401, "newcert too (cfssl would issue)");

  const header = (key: string, name: string, body: string) => `CFSSL-HMAC ${name}:${opensslHmac(key, Buffer.from(body), dir)}`;
  const viaHeader = await call(app, "newcert", newcertBody, header(ciKey, "ci", newcertBody));
  t.equal(viaHeader.status, 200, JSON.stringify(viaHeader.body.errors));
  t.equal((await call(app, "sign", signBody, header(oldKey, "old", signBody))).status, 200, "the previous key");
  const wrongKey = await call(app, "sign", signBody, header(otherKey, "other", signBody));
  t.equal(wrongKey.status, 403, "a valid HMAC under a key the profile does not take");
  t.match(wrongKey.body.errors[0]?.message, /takes requests signed with auth key "ci", not "other"/);
  const forged = await call(app, "sign", signBody, header(otherKey, "ci", signBody));
  t.equal(forged.status, 403);
  t.equal((await call(app, "sign", signBody, "CFSSL-HMAC ci")).status, 403, "malformed header");
  t.equal((await call(app, "sign", signBody, header(ciKey, "ci", `${signBody} `))).status, 403, "HMAC of other bytes");
  const open = await call(app, "sign", JSON.stringify({ certificate_request: csr(dir), profile: "open" }));
  t.equal(open.status, 200, "profiles without auth_key stay open");
  t.equal(store.count(), 3);
});

t.test("init_ca needs the admin token once authentication is configured", async (t) => {
  const { app } = await testApp(t, { config, adminToken });
  const body = JSON.stringify({ CN: "Team CA" });
  const none = await call(app, "init_ca", body);
  t.equal(none.status, 401);
  t.equal(none.body.errors[0]?.code, 13100);
  const wrong = await call(app, "init_ca", body, "Bearer not-the-token");
  t.equal(wrong.status, 403);
  t.equal((await call(app, "initca", body, `Bearer ${adminToken}`)).status, 200);
  const { app: noToken } = await testApp(t, { config });
  for (const header of [`Bearer ${adminToken}`, undefined]) {
    const unset = await call(noToken, "init_ca", body, header);
    t.equal(unset.status, 403, "auth_keys without an admin token: closed to everyone, whatever is sent");
    t.match(unset.body.errors[0]?.message, /this endpoint is closed: authentication is configured \(auth_keys\) but no admin token is; the operator opens it/);
  }
  const { app: noAuth } = await testApp(t);
  t.equal((await call(noAuth, "init_ca", body)).status, 200, "without any authentication configured, init_ca stays open as in cfssl");
});
