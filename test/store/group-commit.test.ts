import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import t from "tap";
import { CertificateStore, DuplicateSerialError } from "../../src/store/certificate-store.js";
import type { IssuedCertificate } from "../../src/model/issued-certificate.js";
import { GroupCommitRecorder } from "../../src/store/group-commit.js";
import { post, tempDir, testApp } from "../helpers/app.js";

function row(serialNumber: string): IssuedCertificate {
  return {
    serialNumber, authorityKeyId: "ab", caLabel: "", profile: "default", expiry: new Date(), pem: "x",
    issuedAt: new Date(), notBefore: new Date(), metadata: null, subjectNames: [], requestedBy: null, sans: [], commonName: serialNumber,
  };
}

t.test("concurrent requests share one transaction, and each settles after its commit", async (t) => {
  const store = CertificateStore.open(join(tempDir(t), "certs.db"));
  t.teardown(() => store.close());
  const batches: number[] = [];
  const recorder = new GroupCommitRecorder({
    insertMany(records) {
      batches.push(records.length);
      return store.insertMany(records);
    },
  });
  const settled = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => recorder.insert(row(String(i + 1)))));
  t.ok(settled.every((s) => s.status === "fulfilled"));
  t.same(batches, [50], "one transaction for the whole burst");
  t.equal(store.count(), 50);
});

t.test("a duplicate fails only its own row; the rest of the batch commits", async (t) => {
  const store = CertificateStore.open(join(tempDir(t), "certs.db"));
  t.teardown(() => store.close());
  store.insert(row("7"));
  const recorder = new GroupCommitRecorder(store);
  const settled = await Promise.allSettled(["6", "7", "8"].map((serial) => recorder.insert(row(serial))));
  t.same(settled.map((s) => s.status), ["fulfilled", "rejected", "fulfilled"]);
  t.type((settled[1] as PromiseRejectedResult).reason, DuplicateSerialError);
  t.equal(store.count(), 3);
});

t.test("a batch whose commit fails gives none of its requests a certificate", async (t) => {
  const store = CertificateStore.open(join(tempDir(t), "certs.db"));
  t.teardown(() => store.close());
  let calls = 0;
  const recorder = new GroupCommitRecorder({
    insertMany() {
      calls++;
      throw new Error("disk I/O error");
    },
  });
  const { app } = await testApp(t, { store: { insert: (r) => recorder.insert(r), get: () => undefined } });
  const answers = await Promise.all(
    Array.from({ length: 8 }, (_, i) => post(app, "newcert", { request: { CN: `svc-${i}.internal`, hosts: [`svc-${i}.internal`] } })),
  );
  for (const answer of answers) {
    t.equal(answer.status, 503);
    t.equal(answer.body.errors[0]?.code, 11100);
    t.equal(answer.body.result, null, "no certificate");
    t.notMatch(JSON.stringify(answer.body), /BEGIN CERTIFICATE|PRIVATE KEY/);
  }
  t.ok(calls >= 1 && calls < 8, `the requests were committed in batches (${calls} commits for 8 requests)`);
  t.equal(store.count(), 0);
});

t.test("through the app, a burst of newcert requests is recorded with few commits", async (t) => {
  const store = CertificateStore.open(join(tempDir(t), "certs.db"));
  t.teardown(() => store.close());
  let commits = 0;
  const recorder = new GroupCommitRecorder({
    insertMany(records) {
      commits++;
      return store.insertMany(records);
    },
  });
  const { app, ca } = await testApp(t, { store: { insert: (r) => recorder.insert(r), get: (s, a) => store.get(s, a) } });
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => post(app, "newcert", { request: { CN: `n${i}.internal`, hosts: [`n${i}.internal`] } })));
  t.ok(answers.every((a) => a.status === 200));
  t.equal(store.count(), 20);
  for (const answer of answers) {
    const serial = BigInt(`0x${new X509Certificate(answer.body.result.certificate).serialNumber}`).toString(10);
    t.equal(store.get(serial, ca.subjectKeyId)?.pem, answer.body.result.certificate, "answered and recorded");
  }
  t.ok(commits < 20, `${commits} commits for 20 certificates`);
});
