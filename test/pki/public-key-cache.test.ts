// publicKeyFromSpki keeps the keys it imported lately: a key seen again is not imported again, the
// cache stays bounded, and a CSR whose key is cached still has its signature checked.
import { generateKeyPairSync } from "node:crypto";
import t from "tap";
import { buildCsr, parseCsr } from "../../src/pki/csr.js";
import { emptySans } from "../../src/pki/hosts.js";
import { generatePrivateKey, importedKeysKept, publicKeyFromSpki } from "../../src/pki/keys.js";
import { encodeName } from "../../src/pki/name.js";
import { decodePemBlock, encodePem } from "../../src/pki/pem.js";

const spkiOf = () => new Uint8Array(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "der", type: "spki" }));

t.test("the same SPKI bytes give the same KeyObject; other bytes another", async (t) => {
  const spki = spkiOf();
  const first = publicKeyFromSpki(spki);
  t.equal(publicKeyFromSpki(new Uint8Array(spki)).key, first.key, "a copy of the bytes finds the cached key");
  t.same(first.spec, { algo: "ecdsa", size: 256 });
  t.not(publicKeyFromSpki(spkiOf()).key, first.key);
});

t.test("the cache keeps the most recently used keys, at most importedKeysKept", async (t) => {
  const kept = spkiOf();
  const evicted = spkiOf();
  const keptKey = publicKeyFromSpki(kept).key;
  const evictedKey = publicKeyFromSpki(evicted).key;
  for (let i = 0; i < importedKeysKept - 1; i++) {
    publicKeyFromSpki(spkiOf());
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
