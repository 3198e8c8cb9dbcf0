import t from "tap";
import { certificateBundle } from "../../src/pki/bundle.js";
import { bareCaChain, checkCaChain } from "../../src/pki/chain.js";
import { caChain, intermediate } from "../helpers/chain-ca.js";
import { issueLeaf, testCa } from "../helpers/revocation-ca.js";
import { issueCertificate } from "../../src/pki/certificate.js";
import { emptySans } from "../../src/pki/hosts.js";
import { defaultKeySpec, generatePrivateKey, type KeySpec } from "../../src/pki/keys.js";
import { buildName, subjectFieldsFromRequest } from "../../src/pki/subject.js";
import { parseSigningConfig } from "../../src/profiles/signing-config.js";
import { subjectKeyId } from "../helpers/server.js";

const now = new Date();
const [root, int1, int2] = await caChain(2, now);

t.test("a bundle from the CA's issuer up to the root is accepted, with or without the root", async (t) => {
  const full = checkCaChain(int2!.pem, int1!.pem + root!.pem, now);
  t.same(full.above, [int1!.pem, root!.pem]);
  t.equal(full.root, root!.pem);
  const partial = checkCaChain(int2!.pem, int1!.pem, now);
  t.same(partial.above, [int1!.pem]);
  t.equal(partial.root, undefined, "no root: the last certificate is not self-signed");
  t.equal(checkCaChain(int1!.pem, root!.pem, now).root, root!.pem);
});

t.test("a bad bundle is refused in one line naming the certificate at fault", async (t) => {
  t.throws(() => checkCaChain(int2!.pem, root!.pem + int1!.pem, now), {
    message: /^certificate 1 \(CN=Chain Test Root\) did not issue the --ca certificate \(CN=Chain Test Intermediate 2\); list the CA's issuer first/,
  });
  t.throws(() => checkCaChain(int2!.pem, int1!.pem + int1!.pem, now), {
    message: /^certificate 2 \(CN=Chain Test Intermediate 1\) did not issue certificate 1 \(CN=Chain Test Intermediate 1\)/,
  });
  const stranger = await testCa(defaultKeySpec, "Unrelated Root", now);
  t.throws(() => checkCaChain(int1!.pem, stranger.pem, now), { message: /^certificate 1 \(CN=Unrelated Root\) did not issue the --ca certificate/ });
  const leaf = await issueLeaf(int1!.ca, "leaf.example.com");
  t.throws(() => checkCaChain(int2!.pem, leaf.pem, now), { message: /^certificate 1 \(CN=leaf.example.com\) is not a CA certificate/ });
  t.throws(() => checkCaChain(int2!.pem, "", now), { message: /no PEM "CERTIFICATE" block found/ });
  t.throws(() => checkCaChain(int1!.pem, `${root!.pem}${root!.pem}`, now), { message: /^certificate 1 \(CN=Chain Test Root\) is a self-signed root, so nothing can come after it/ });
  const later = new Date(now.getTime() + 2 * 365 * 86_400_000);
  t.throws(() => checkCaChain(int2!.pem, int1!.pem, later), { message: /^certificate 1 \(CN=Chain Test Intermediate 1\) expired on / });
});

t.test("an expired issuer in the bundle is refused", async (t) => {
  const past = new Date(now.getTime() - 400 * 86_400_000);
  const oldRoot = await testCa(defaultKeySpec, "Old Root", past);
  const shortLived = await intermediate(oldRoot.ca, "Short Lived", past, "24h");
  // The --ca certificate itself is loaded (and judged) elsewhere; here only the bundle.
  const below = await intermediate(shortLived.ca, "Below", past, "24h");
  t.throws(() => checkCaChain(below.pem, shortLived.pem, now), { message: /^certificate 1 \(CN=Short Lived\) expired on / });
});

t.test("without a bundle, a self-signed CA is its own root and an intermediate has none", async (t) => {
  t.equal(bareCaChain(root!.pem).root, root!.pem);
  t.equal(bareCaChain(int1!.pem).root, undefined);
  t.same(bareCaChain(int1!.pem).above, []);
});

t.test("cfssl's bundle: the leaf and its issuers, the root apart", async (t) => {
  const leaf = await issueLeaf(int2!.ca, "www.example.com");
  const bundle = certificateBundle(leaf.pem, checkCaChain(int2!.pem, int1!.pem + root!.pem, now), undefined, now);
  t.equal(bundle.bundle, [leaf.pem, int2!.pem, int1!.pem].map((pem) => pem.trim()).join("\n"));
  t.equal(bundle.root, root!.pem.trim());
  t.equal(bundle.crt, leaf.pem.trim());
  t.equal(bundle.key, "");
  t.equal(bundle.key_type, "256-bit ECDSA");
  t.equal(bundle.key_size, 256);
  t.equal(bundle.subject, "/CommonName=www.example.com");
  t.equal(bundle.issuer, "/Organization=certwright tests/CommonName=Chain Test Intermediate 2", "every attribute, in the certificate's order");
  t.same(bundle.hostnames, ["www.example.com"]);
  t.equal(bundle.leaf_expires, bundle.expires, "the leaf ends first");
  t.match(bundle.expires, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.equal(bundle.signature, "ECDSAWithSHA256");
  t.same(bundle.status, { rebundled: false, expiring_SKIs: [subjectKeyId(leaf.pem).toUpperCase()], untrusted_root_stores: [], messages: ["The bundle is expiring within 30 days. The expiring cert is #1 in the chain."], code: 1 });

  const selfRooted = certificateBundle(leaf.pem, bareCaChain(root!.pem), "KEY\n", now);
  t.equal(selfRooted.bundle, leaf.pem.trim(), "a self-signed CA is the root: nothing but the leaf");
  t.equal(selfRooted.key, "KEY");
  const rootless = certificateBundle(leaf.pem, checkCaChain(int2!.pem, int1!.pem, now), undefined, now);
  t.equal(rootless.root, "");
  t.match(rootless.status.messages, [/expiring/, /The root is not known to this service/]);
});

t.test("cfssl's key_type and key_size for RSA, P-384 and Ed25519 leaves", async (t) => {
  const chain = bareCaChain(root!.pem);
  const cases: [KeySpec, string, number][] = [
    [{ algo: "rsa", size: 2048 }, "2048-bit RSA", 2048],
    [{ algo: "ecdsa", size: 384 }, "384-bit ECDSA", 384],
    [{ algo: "ed25519", size: 0 }, "Ed25519", 0],
  ];
  const profile = parseSigningConfig({ signing: { default: { usages: ["digital signature"], expiry: "2000h" } } }).defaultProfile;
  for (const [spec, type, size] of cases) {
    const key = await generatePrivateKey(spec);
    const subject = buildName(subjectFieldsFromRequest({ names: [{ O: "No CN" }] }));
    const { pem } = issueCertificate(root!.ca, { subject, spki: key.spki, sans: emptySans(), profile }, now);
    const bundle = certificateBundle(pem, chain, undefined, now);
    t.same([bundle.key_type, bundle.key_size], [type, size], spec.algo);
    t.same(bundle.hostnames, [], "no CN, no DNS names: no hostnames");
    t.equal(bundle.status.code, 0, "not expiring");
  }
});
