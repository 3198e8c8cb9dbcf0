// cfssl's `bundle` field through the HTTP API: asked for on sign, newcert and authsign, absent
// otherwise, and `info`'s chain.
import { createHmac } from "node:crypto";
import t from "tap";
import { checkCaChain } from "../../src/pki/chain.js";
import { openssl, tempDir, testApp } from "../helpers/app.js";
import { caChain } from "../helpers/chain-ca.js";

const authKey = "0123456789abcdef0123456789abcdef";
const usages = ["signing", "key encipherment", "server auth"];
const config = {
  auth_keys: { ci: { type: "standard", key: authKey } },
  signing: { default: { usages, expiry: "8760h" }, profiles: { secure: { usages, expiry: "720h", auth_key: "ci" } } },
};
const [root, int1] = await caChain(1);

function csr(dir: string): string {
  return openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${dir}/k.pem`, "-subj", "/CN=svc.internal"]).stdout;
}

async function call(app: Awaited<ReturnType<typeof testApp>>["app"], path: string, body: unknown) {
  const response = await app.inject({ method: "POST", url: `/api/v1/cfssl/${path}`, headers: { "content-type": "application/json" }, payload: JSON.stringify(body) });
  return { status: response.statusCode, body: response.json(), raw: response.body };
}

t.test("sign, newcert and authsign answer the bundle only when asked", async (t) => {
  const dir = tempDir(t);
  const { app } = await testApp(t, { config, ca: int1!.ca, chain: checkCaChain(int1!.pem, root!.pem) });
  const request = csr(dir);

  const plain = await call(app, "sign", { certificate_request: request, hosts: ["svc.internal"] });
  t.same(Object.keys(plain.body.result), ["certificate"], "no bundle unless asked");
  t.notMatch(plain.raw, /"bundle"/);
  const signed = await call(app, "sign", { certificate_request: request, hosts: ["svc.internal"], bundle: true });
  t.equal(signed.status, 200, JSON.stringify(signed.body.errors));
  const { bundle } = signed.body.result;
  t.equal(bundle.bundle, `${signed.body.result.certificate.trim()}\n${int1!.pem.trim()}`);
  t.equal(bundle.root, root!.pem.trim());
  t.equal(bundle.key, "");
  t.same(bundle.hostnames, ["svc.internal"]);

  const made = await call(app, "newcert", { request: { CN: "made.internal", hosts: ["made.internal"] }, bundle: true });
  t.equal(made.body.result.bundle.key, made.body.result.private_key.trim());
  const madePlain = await call(app, "newcert", { request: { CN: "made.internal", hosts: ["made.internal"] } });
  t.notOk("bundle" in madePlain.body.result);

  const bytes = Buffer.from(JSON.stringify({ certificate_request: request, profile: "secure", bundle: true }));
  const token = createHmac("sha256", Buffer.from(authKey, "hex")).update(bytes).digest("base64");
  const authSigned = await call(app, "authsign", { token, request: bytes.toString("base64") });
  t.equal(authSigned.status, 200, JSON.stringify(authSigned.body.errors));
  t.equal(authSigned.body.result.bundle.root, root!.pem.trim());

  const info = await call(app, "info", {});
  t.same(info.body.result.chain, [root!.pem]);
});

t.test("a self-signed CA: the bundle is the leaf alone and the CA its root; info has no chain", async (t) => {
  const { app, caPem } = await testApp(t, { config });
  const made = await call(app, "newcert", { request: { CN: "solo.internal", hosts: ["solo.internal"] }, bundle: true });
  t.equal(made.body.result.bundle.bundle, made.body.result.certificate.trim());
  t.equal(made.body.result.bundle.root, caPem.trim());
  t.equal(made.body.result.bundle.status.code, 0);
  const info = await call(app, "info", {});
  t.notOk("chain" in info.body.result);
});
