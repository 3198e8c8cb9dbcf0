// spkiFromSec1 builds the same SubjectPublicKeyInfo bytes as OpenSSL's own encoder, and keys the
// service makes or loads carry OpenSSL's SPKI and the PEM OpenSSL writes.
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import t from "tap";
import { generatePrivateKey, loadPrivateKey, spkiFromSec1 } from "../../src/pki/keys.js";

for (const namedCurve of ["P-256", "P-384", "P-521"]) {
  t.test(`${namedCurve}: the SPKI from the SEC 1 key is OpenSSL's`, async (t) => {
    for (let i = 0; i < 25; i++) {
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve });
      const sec1 = new Uint8Array(privateKey.export({ format: "der", type: "sec1" }));
      t.same(spkiFromSec1(sec1), new Uint8Array(publicKey.export({ format: "der", type: "spki" })));
    }
  });
}

t.test("generated and loaded keys carry OpenSSL's SPKI and PEM", async (t) => {
  for (const spec of [{ algo: "ecdsa", size: 256 }, { algo: "ecdsa", size: 521 }, { algo: "rsa", size: 2048 }, { algo: "ed25519", size: 0 }] as const) {
    const key = await generatePrivateKey(spec);
    t.same(key.spki, new Uint8Array(createPublicKey(key.keyObject).export({ format: "der", type: "spki" })), `${spec.algo} ${spec.size} generated`);
    t.same(loadPrivateKey(key.pem).spki, key.spki, `${spec.algo} ${spec.size} loaded from its PEM`);
    const type = spec.algo === "rsa" ? "pkcs1" : spec.algo === "ecdsa" ? "sec1" : "pkcs8";
    t.equal(key.pem, key.keyObject.export({ format: "pem", type }), `${spec.algo} ${spec.size}: the PEM OpenSSL writes`);
  }
});

t.test("an SEC 1 key without its curve or public key is refused", async (t) => {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const sec1 = new Uint8Array(privateKey.export({ format: "der", type: "sec1" }));
  // version and private key only: SEQUENCE { INTEGER 1, OCTET STRING d }
  const bare = Uint8Array.of(0x30, 3 + 34, 0x02, 0x01, 0x01, ...sec1.subarray(5, 5 + 34));
  t.throws(() => spkiFromSec1(bare), /EC parameters/);
});
