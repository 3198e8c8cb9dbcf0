// spkiFromJwk and sec1FromJwk build the same SubjectPublicKeyInfo and SEC 1 private key bytes as
// OpenSSL's own encoders, for every key type the service makes or loads.
import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import t from "tap";
import { generatePrivateKey, loadPrivateKey, sec1FromJwk, spkiFromJwk } from "../../src/pki/keys.js";

const opensslSpki = (key: KeyObject) => new Uint8Array((key.type === "public" ? key : createPublicKey(key)).export({ format: "der", type: "spki" }));

const kinds = [
  ["ecdsa P-256", () => generateKeyPairSync("ec", { namedCurve: "P-256" })],
  ["ecdsa P-384", () => generateKeyPairSync("ec", { namedCurve: "P-384" })],
  ["ecdsa P-521", () => generateKeyPairSync("ec", { namedCurve: "P-521" })],
  ["rsa 2048", () => generateKeyPairSync("rsa", { modulusLength: 2048 })],
  ["rsa 3072, exponent 3", () => generateKeyPairSync("rsa", { modulusLength: 3072, publicExponent: 3 })],
  ["ed25519", () => generateKeyPairSync("ed25519")],
] as const;

for (const [name, make] of kinds) {
  t.test(`${name}: the same bytes as OpenSSL, from the private or the public JWK`, async (t) => {
    // P-521 coordinates and RSA moduli with a high first bit are where padding mistakes show: try several.
    for (let i = 0; i < (name.startsWith("rsa") ? 3 : 25); i++) {
      const { privateKey, publicKey } = make();
      const expected = opensslSpki(publicKey);
      t.same(spkiFromJwk(privateKey.export({ format: "jwk" })), expected);
      t.same(spkiFromJwk(publicKey.export({ format: "jwk" })), expected);
    }
  });
}

for (const namedCurve of ["P-256", "P-384", "P-521"]) {
  t.test(`${namedCurve}: the same SEC 1 private key as OpenSSL`, async (t) => {
    for (let i = 0; i < 25; i++) {
      const { privateKey } = generateKeyPairSync("ec", { namedCurve });
      t.same(sec1FromJwk(privateKey.export({ format: "jwk" })), new Uint8Array(privateKey.export({ format: "der", type: "sec1" })));
    }
  });
}

t.test("generated and loaded keys carry OpenSSL's SPKI", async (t) => {
  for (const spec of [{ algo: "ecdsa", size: 256 }, { algo: "ecdsa", size: 521 }, { algo: "rsa", size: 2048 }, { algo: "ed25519", size: 0 }] as const) {
    const key = await generatePrivateKey(spec);
    t.same(key.spki, opensslSpki(key.keyObject), `${spec.algo} ${spec.size} generated`);
    t.same(loadPrivateKey(key.pem).spki, key.spki, `${spec.algo} ${spec.size} loaded from its PEM`);
    const openssl = spec.algo === "rsa" ? "pkcs1" : spec.algo === "ecdsa" ? "sec1" : "pkcs8";
    t.equal(key.pem, key.keyObject.export({ format: "pem", type: openssl }), `${spec.algo} ${spec.size}: the PEM OpenSSL writes`);
  }
});

t.test("a key type without an SPKI here is refused", async (t) => {
  t.throws(() => spkiFromJwk({ kty: "oct", k: "AAAA" }), /no SPKI for a oct/);
  t.throws(() => sec1FromJwk(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" })), /not an EC private key/);
});
