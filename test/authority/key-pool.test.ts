import { createPrivateKey, X509Certificate } from "node:crypto";
import t from "tap";
import { KeyPool } from "../../src/authority/key-pool.js";
import { Authority } from "../../src/authority/authority.js";
import { testApp } from "../helpers/app.js";

t.test("the key pool makes spares ahead and hands each key out once", async (t) => {
  const pool = new KeyPool({ concurrency: 2, spares: 2, sizes: [2048] });
  t.teardown(() => pool.close());
  const deadline = Date.now() + 20_000;
  while (pool.ready(2048) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.equal(pool.ready(2048), 2, "two spares are made while idle");
  const keys = await Promise.all([pool.take(2048), pool.take(2048), pool.take(2048)]);
  t.equal(new Set(keys).size, 3, "never the same key twice");
  for (const pem of keys) {
    const key = createPrivateKey(pem);
    t.equal(key.asymmetricKeyType, "rsa");
    t.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
  }
  const other = await pool.take(3072);
  t.equal(createPrivateKey(other).asymmetricKeyDetails?.modulusLength, 3072, "sizes without spares are made on demand");
});

t.test("newcert takes RSA keys from the pool, and only for RSA requests", async (t) => {
  const taken: number[] = [];
  const pool = new KeyPool({ concurrency: 1, spares: 0, sizes: [] });
  t.teardown(() => pool.close());
  const keyPool = {
    take: (size: number) => {
      taken.push(size);
      return pool.take(size);
    },
  };
  const { ca, authority: plain, store } = await testApp(t);
  const authority = new Authority({ ca, config: plain.config, store, keyPool });
  const rsa = await authority.newCert({ request: { CN: "r.internal", hosts: ["r.internal"], key: { algo: "rsa", size: 2048 } } });
  t.match(rsa.result.private_key, /^-----BEGIN RSA PRIVATE KEY-----/, "PKCS#1, as cfssl writes RSA keys");
  t.equal(new X509Certificate(rsa.result.certificate).publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  const ec = await authority.newCert({ request: { CN: "e.internal", hosts: ["e.internal"] } });
  t.match(ec.result.private_key, /^-----BEGIN EC PRIVATE KEY-----/);
  await t.rejects(authority.newCert({ request: { CN: "x", key: { algo: "rsa", size: 1024 } } }), { code: 2200 });
  t.same(taken, [2048], "one RSA key taken; none for ECDSA or for a refused size");
  t.equal(store.count(), 2);
});

t.test("on demand, nothing is made before the first key is asked for; spares follow it", async (t) => {
  const pool = new KeyPool({ concurrency: 1, spares: 1, sizes: [2048], onDemand: true });
  t.teardown(() => pool.close());
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(pool.ready(2048), 0, "no spare before the first request");
  const first = await pool.take(2048);
  t.equal(createPrivateKey(first).asymmetricKeyDetails?.modulusLength, 2048);
  const deadline = Date.now() + 20_000;
  while (pool.ready(2048) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.equal(pool.ready(2048), 1, "a spare is made once the pool is in use");
});

t.test("closing refuses the keys still waiting with 503, and later ones", async (t) => {
  const pool = new KeyPool({ concurrency: 1, spares: 0, sizes: [] });
  const making = pool.take(2048);
  const waiting = pool.take(2048);
  await pool.close();
  await t.rejects(waiting, { code: 12200, message: /stopping/ }, "the key that had not started is refused");
  await t.rejects(pool.take(2048), { code: 12200 }, "a key asked for after the close is refused");
  t.equal(createPrivateKey(await making).asymmetricKeyDetails?.modulusLength, 2048, "the key being made is finished");
});
