// The PKCS#11 key in this process, on a SoftHSM2 token: signatures that verify, a session the
// module drops opened again, a key that is not the certificate's refused, and the HTTP thread's
// asynchronous signatures made off the event loop beside synchronous ones.
import { generateKeyPairSync, verify, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import pkcs11js from "pkcs11js";
import t from "tap";
import { openPkcs11Key } from "../../src/keys/pkcs11-key.js";
import { signatureAlgorithmFor, signData, signDataAsync } from "../../src/pki/keys.js";
import { makeSoftHsmToken, softhsmPin, softhsmSkip } from "../helpers/softhsm.js";

const spkiOf = (pem: string) => new Uint8Array(new X509Certificate(pem).publicKey.export({ format: "der", type: "spki" }));

t.test("a key in SoftHSM2", { skip: softhsmSkip }, async (t) => {
  const hsm = makeSoftHsmToken(t, "ec-256");
  // SoftHSM2 reads its config when the module is initialized, once for this process.
  process.env.SOFTHSM2_CONF = hsm.env.SOFTHSM2_CONF;
  const caPem = readFileSync(hsm.caFile, "utf8");
  const reference = { uri: `pkcs11:token=${hsm.token};object=${hsm.label}`, module: hsm.module, pin: softhsmPin, pinFrom: "the test's PIN" };
  const key = openPkcs11Key(reference, spkiOf(caPem));
  const publicKey = new X509Certificate(caPem).publicKey;
  const hash = signatureAlgorithmFor(key.spec).hash;

  t.test("signs what verifies with the certificate's public key", async (t) => {
    t.same(key.spec, { algo: "ecdsa", size: 256 });
    t.equal(key.pem, "", "no PEM: the key is not in the process");
    for (let i = 0; i < 50; i++) {
      const data = Buffer.from(`data ${i}`);
      t.ok(verify(hash, data, publicKey, signData(key, data)), `signature ${i} (DER ECDSA-Sig-Value) verifies`);
    }
  });

  t.test("a session the module dropped is opened again on the next signature", async (t) => {
    const other = new pkcs11js.PKCS11();
    other.load(hsm.module);
    try {
      other.C_Initialize();
    } catch {
      // initialized by the key above: the state is the process's
    }
    const [slot] = other.C_GetSlotList(true);
    // Closing every session of the token also logs the process out.
    other.C_CloseAllSessions(slot!);
    const data = Buffer.from("after the sessions were closed");
    t.ok(verify(hash, data, publicKey, signData(key, data)));
  });

  t.test("asynchronous signatures run off the event loop, queued on a session of their own", async (t) => {
    t.ok(key.signAsync, "a key in a module signs asynchronously too");
    /** How many turns of the event loop (setImmediate callbacks) ran while `work` was pending. */
    const turnsDuring = async (work: () => Promise<unknown>) => {
      let turns = 0;
      let done = false;
      const spin = () => {
        if (done) return;
        turns++;
        setImmediate(spin);
      };
      setImmediate(spin);
      await work();
      done = true;
      return turns;
    };
    const count = 40;
    const data = Array.from({ length: count }, (_, i) => Buffer.from(`async ${i}`));
    let signatures: Buffer[] = [];
    const asyncTurns = await turnsDuring(async () => {
      const pending = data.map((d) => signDataAsync(key, d));
      // The synchronous path (a certificate issued on this thread) meanwhile: its own session, never busy.
      for (const d of data.slice(0, 5)) t.ok(verify(hash, d, publicKey, signData(key, d)), "a synchronous signature between asynchronous ones");
      signatures = await Promise.all(pending);
    });
    t.ok(signatures.every((signature, i) => verify(hash, data[i]!, publicKey, signature)), `${count} concurrent asynchronous signatures verify`);
    t.ok(asyncTurns >= count / 2, `the event loop turned ${asyncTurns} times while ${count} signatures were made`);
    // The same work done synchronously, wrapped in a promise: the event loop does not turn at all.
    const syncTurns = await turnsDuring(async () => {
      for (const d of data) signData(key, d);
    });
    t.equal(syncTurns, 0, "the synchronous path holds the event loop, as the measure tells");

    const other = new pkcs11js.PKCS11();
    other.load(hsm.module);
    try {
      other.C_Initialize();
    } catch {
      // initialized already
    }
    other.C_CloseAllSessions(other.C_GetSlotList(true)[0]!);
    const after = Buffer.from("async, after the sessions were closed");
    t.ok(verify(hash, after, publicKey, await signDataAsync(key, after)), "a dropped session is opened again on the asynchronous path too");
  });

  t.test("a key that is not the certificate's is refused", async (t) => {
    const otherEc = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "der", type: "spki" });
    t.throws(() => openPkcs11Key(reference, new Uint8Array(otherEc)), { message: /it does not belong to the CA certificate: a signature by the token's key with label "ca-key" does not verify/ });
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "der", type: "spki" });
    t.throws(() => openPkcs11Key(reference, new Uint8Array(rsa)), { message: /the token's key with label "ca-key" is an EC key, the certificate's is rsa/ });
    const ed = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" });
    t.throws(() => openPkcs11Key(reference, new Uint8Array(ed)), { message: /an Ed25519 key in a PKCS#11 module cannot sign here/ });
  });
});
