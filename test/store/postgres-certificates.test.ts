// The certificates table on a real PostgreSQL: batches, duplicates across replicas, round trips.
import t from "tap";
import type { IssuedCertificate } from "../../src/model/issued-certificate.js";
import { DuplicateSerialError } from "../../src/store/certificate-store.js";
import { PostgresCertificates } from "../../src/store/postgres/certificates.js";
import { postgresSkip, twoReplicas } from "../helpers/postgres.js";

function record(serialNumber: string, overrides: Partial<IssuedCertificate> = {}): IssuedCertificate {
  return {
    serialNumber,
    authorityKeyId: "3f2a9c0b5e7d41a8c6b2e0f19d8a7c6b5e4d3c2b",
    caLabel: "",
    profile: "kubernetes",
    expiry: new Date("2027-01-01T00:00:00.000Z"),
    pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    issuedAt: new Date("2026-01-01T00:05:00.123Z"),
    notBefore: new Date("2026-01-01T00:00:00.000Z"),
    metadata: null,
    subjectNames: ["second-cn", "ops@example.com"],
    requestedBy: "auth-key:provisioner",
    sans: ["kubernetes", "10.96.0.1"],
    commonName: "kubernetes",
    ...overrides,
  };
}

t.test("PostgreSQL certificates", { skip: postgresSkip }, async (t) => {
  const { pools } = await twoReplicas(t);
  const [a, b] = pools.map((pool) => new PostgresCertificates(pool)) as [PostgresCertificates, PostgresCertificates];

  t.test("a batch commits together and reads back as it was written", async (t) => {
    const batch = ["1001", "1002", "1003"].map((serial) => record(serial));
    t.same(await a.insertMany(batch), [undefined, undefined, undefined]);
    const back = await b.get("1002", batch[1]!.authorityKeyId);
    t.same(back, { ...batch[1], status: "good", reason: 0, revokedAt: null }, "every field, dates to the millisecond, the lists and who asked");
    t.equal(await b.get("1002", "00"), undefined, "another CA's serial is another certificate");
    t.equal(await a.count(), 3);
  });

  t.test("a serial taken by another replica is refused for that record alone", async (t) => {
    const results = await b.insertMany([record("2001"), record("1001"), record("2002"), record("2001")]);
    t.equal(results[0], undefined);
    t.ok(results[1] instanceof DuplicateSerialError, "taken earlier by replica a");
    t.equal(results[2], undefined);
    t.ok(results[3] instanceof DuplicateSerialError, "given twice in one batch: the second is the duplicate");
    t.equal(await a.count(), 5);
  });

  t.test("two replicas racing for the same serials: each serial is recorded once, and each loser hears so", async (t) => {
    const serials = Array.from({ length: 200 }, (_, i) => String(3000 + i));
    const [fromA, fromB] = await Promise.all([a.insertMany(serials.map((s) => record(s))), b.insertMany(serials.map((s) => record(s)))]);
    for (let i = 0; i < serials.length; i++) {
      const winners = [fromA[i], fromB[i]].filter((result) => result === undefined).length;
      if (winners !== 1) t.fail(`serial ${serials[i]}: ${winners} replicas were told it was recorded`);
    }
    t.equal(await a.count(), 205);
  });
});
