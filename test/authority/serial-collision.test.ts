import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import t from "tap";
import type { IssuedCertificate } from "../../src/model/issued-certificate.js";
import { CertificateStore, DuplicateSerialError } from "../../src/store/certificate-store.js";
import { post, tempDir, testApp } from "../helpers/app.js";

t.test("a serial collision is drawn again: no error, no duplicate row", async (t) => {
  const real = CertificateStore.open(join(tempDir(t), "certs.db"));
  t.teardown(() => real.close());
  let planted: IssuedCertificate | undefined;
  // The first certificate's serial is recorded behind the service's back, so its own insert collides.
  const store = {
    insert(record: IssuedCertificate) {
      if (!planted) {
        planted = record;
        real.insert({ ...record, commonName: "planted" });
      }
      real.insert(record);
    },
    get: real.get.bind(real),
  };
  const { app } = await testApp(t, { store });
  const answer = await post(app, "newcert", { request: { CN: "svc", hosts: ["svc.internal"] } });
  t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
  const serial = BigInt(`0x${new X509Certificate(answer.body.result.certificate).serialNumber}`).toString(10);
  t.not(serial, planted?.serialNumber, "the answered certificate has a fresh serial");
  t.equal(real.count(), 2, "the planted row and the answered one");
  t.equal(real.get(serial, planted!.authorityKeyId)?.commonName, "svc");
  t.equal(real.get(planted!.serialNumber, planted!.authorityKeyId)?.commonName, "planted", "the first row is untouched");
});

t.test("the store reports a taken serial as DuplicateSerialError", async (t) => {
  const store = CertificateStore.open(join(tempDir(t), "certs.db"));
  t.teardown(() => store.close());
  const record: IssuedCertificate = {
    serialNumber: "42", authorityKeyId: "ab", caLabel: "", profile: "default", expiry: new Date(), pem: "x",
    issuedAt: new Date(), notBefore: new Date(), metadata: null, subjectNames: [], requestedBy: null, sans: [], commonName: "a",
  };
  store.insert(record);
  t.throws(() => store.insert(record), DuplicateSerialError);
});

t.test("a store that keeps colliding ends in 503, not a loop", async (t) => {
  let attempts = 0;
  const store = {
    insert() {
      attempts++;
      throw new DuplicateSerialError("taken");
    },
    get: () => undefined,
  };
  const { app } = await testApp(t, { store });
  const answer = await post(app, "newcert", { request: { CN: "svc", hosts: ["svc.internal"] } });
  t.equal(answer.status, 503);
  t.equal(answer.body.errors[0]?.code, 11100);
  t.equal(attempts, 5);
});
