// publicKeyFromSpki keeps the keys that come back: a key seen a second time is kept imported, a key
// seen once is not, the cache stays bounded, and a CSR whose key is cached still has its signature checked.
import { generateKeyPairSync } from "node:crypto";
import t from "tap";
import { buildCsr, parseCsr } from "../../src/pki/csr.js";
import { emptySans } from "../../src/pki/hosts.js";
import { generatePrivateKey, importedKeysKept, publicKeyFromSpki } from "../../src/pki/keys.js";
import { encodeName } from "../../src/pki/name.js";
import { decodePemBlock, encodePem } from "../../src/pki/pem.js";

const spkiOf = () => new Uint8Array(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "der", type: "spki" }));

/** Brings a key twice, so it is kept; returns the KeyObject kept. */
const keep = (spki: Uint8Array) => {
  publicKeyFromSpki(spki);
  return publicKeyFromSpki(spki).key;
};

t.test("a key that comes back is kept imported; a key seen once is not", async (t) => {
  const spki = spkiOf();
  const first = publicKeyFromSpki(spki);
  t.same(first.spec, { algo: "ecdsa", size: 256 });
  const second = publicKeyFromSpki(new Uint8Array(spki));
  t.not(second.key, first.key, "the first sight keeps nothing");
  t.equal(publicKeyFromSpki(new Uint8Array(spki)).key, second.key, "from the second on, a copy of the bytes finds the kept key");
  t.not(publicKeyFromSpki(spkiOf()).key, second.key);
});

t.test("the cache keeps the most recently used keys, at most importedKeysKept", async (t) => {
  const kept = spkiOf();
  const evicted = spkiOf();
  const keptKey = keep(kept);
  const evictedKey = keep(evicted);
  for (let i = 0; i < importedKeysKept - 1; i++) {
    keep(spkiOf());
    // Used again now and then, so it stays among the most recent.
    if (i % 100 === 0) publicKeyFromSpki(kept);
  }
  t.equal(publicKeyFromSpki(kept).key, keptKey, "a key in use stays");
  t.not(publicKeyFromSpki(evicted).key, evictedKey, "the least recently used key was dropped and is imported afresh");
});

t.test("a CSR whose key is cached is still refused when its signature does not verify", async (t) => {
  const key = await generatePrivateKey({ algo: "ecdsa", size: 256 });
  const { pem } = buildCsr(encodeName([[{ oid: "2.5.4.3", tag: 0x0c, value: "cached" }]]), emptySans(), key);
  t.equal(parseCsr(pem).subject.der.length > 0, true, "the genuine CSR is accepted (its key is now cached)");
  const der = Buffer.from(decodePemBlock(pem, ["CERTIFICATE REQUEST"])!);
  const at = der.indexOf(Buffer.from("cached"));
  der.write("cachet", at, "latin1");
  t.throws(() => parseCsr(encodePem("CERTIFICATE REQUEST", der)), { kind: "csrInvalid", message: /signature does not verify/ });
});
