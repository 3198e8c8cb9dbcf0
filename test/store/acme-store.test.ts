// The ACME records, one suite run on each backend: SQLite (the data directory's file) and
// PostgreSQL (two replicas' pools on one database, so a nonce issued by one is taken at the other).
import { join } from "node:path";
import t, { type Test } from "tap";
import type { AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeOrder, AcmeStore } from "../../src/store/acme-records.js";
import { SqliteAcmeStore } from "../../src/store/acme-sqlite.js";
import { PostgresAcmeStore } from "../../src/store/postgres/acme.js";
import { tempDir } from "../helpers/app.js";
import { postgresSkip, twoReplicas } from "../helpers/postgres.js";

const now = 1_780_000_000_000;

function account(id: string, thumbprint: string, provisioner = "default"): AcmeAccount {
  return { id, provisioner, thumbprint, jwk: { kty: "EC", crv: "P-256", x: "x", y: thumbprint }, status: "valid", contact: ["mailto:a@example.test"], eabKeyId: null, createdAt: now };
}

function order(id: string, accountId: string): AcmeOrder {
  return {
    id,
    accountId,
    provisioner: "default",
    status: "pending",
    expires: now + 86_400_000,
    identifiers: [{ type: "dns", value: "a.example.test" }, { type: "ip", value: "192.0.2.1" }],
    notBefore: null,
    notAfter: null,
    error: null,
    certificateSerial: null,
    certificateAuthorityKeyId: null,
    certificatePem: null,
    createdAt: now,
  };
}

/** The suite: `a` and `b` are two handles on the same records (two replicas, or one store twice). */
async function suite(t: Test, a: AcmeStore, b: AcmeStore) {
  t.test("nonces are single-use across handles and expire", async (t) => {
    await a.issueNonce("n1", now + 60_000, now);
    t.equal(await b.consumeNonce("n1", now + 1), true, "taken at the other handle");
    t.equal(await a.consumeNonce("n1", now + 2), false, "used already");
    t.equal(await a.consumeNonce("never", now), false, "never issued");
    await a.issueNonce("n2", now + 10, now);
    t.equal(await b.consumeNonce("n2", now + 11), false, "expired");
    await b.issueNonce("n3", now + 60_000, now);
    const racing = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).consumeNonce("n3", now + 1)));
    t.equal(racing.filter(Boolean).length, 1, "of ten takers at once, one gets it");
  });

  t.test("accounts: one per key and provisioner; key changes refuse a key in use", async (t) => {
    const first = await a.insertAccount(account("acc-1", "tp-1"));
    t.equal(first.id, "acc-1");
    const raced = await b.insertAccount(account("acc-2", "tp-1"));
    t.equal(raced.id, "acc-1", "the same key at the same provisioner answers the existing account");
    t.equal((await a.insertAccount(account("acc-3", "tp-1", "other"))).id, "acc-3", "another provisioner's account is its own");
    t.same(await b.accountByThumbprint("default", "tp-1"), account("acc-1", "tp-1"));
    t.equal(await a.accountById("nobody"), undefined);
    await a.insertAccount(account("acc-4", "tp-4"));
    t.equal(await a.updateAccount("acc-4", { thumbprint: "tp-1" }), false, "tp-1 is acc-1's");
    t.equal(await a.updateAccount("acc-4", { thumbprint: "tp-5", jwk: { kty: "OKP" }, contact: [] }), true);
    const changed = (await b.accountById("acc-4"))!;
    t.same([changed.thumbprint, changed.jwk, changed.contact], ["tp-5", { kty: "OKP" }, []]);
    t.equal(await a.updateAccount("acc-4", { status: "deactivated" }), true);
    t.equal((await b.accountById("acc-4"))!.status, "deactivated");
  });

  t.test("orders with their authorizations and challenges; status changes are compare-and-set", async (t) => {
    const o = order("ord-1", "acc-1");
    const authorizations: AcmeAuthorization[] = [
      { id: "az-1", orderId: "ord-1", identifier: { type: "dns", value: "a.example.test" }, status: "pending", expires: o.expires, wildcard: false },
      { id: "az-2", orderId: "ord-1", identifier: { type: "ip", value: "192.0.2.1" }, status: "pending", expires: o.expires, wildcard: true },
    ];
    const challenges: AcmeChallenge[] = [
      { id: "ch-1", authorizationId: "az-1", type: "http-01", token: "tok", status: "pending", validated: null, error: null },
      { id: "ch-2", authorizationId: "az-1", type: "dns-01", token: "tok", status: "pending", validated: null, error: null },
    ];
    await a.insertOrder(o, authorizations, challenges);
    t.same(await b.orderById("ord-1"), o);
    t.same(await b.orderIdsOfAccount("acc-1"), ["ord-1"]);
    t.same((await b.authorizationsOfOrder("ord-1")).sort((x, y) => x.id.localeCompare(y.id)), authorizations);
    t.same(await b.authorizationById("az-2"), authorizations[1]);
    t.same((await b.challengesOfAuthorization("az-1")).sort((x, y) => x.id.localeCompare(y.id)), challenges);

    const winners = await Promise.all([a, b, a, b].map((store) => store.updateChallenge("ch-1", ["pending"], { status: "processing" })));
    t.equal(winners.filter(Boolean).length, 1, "one handle starts the validation");
    t.same(await a.processingChallenges(), [{ ...challenges[0], status: "processing" }], "the challenge being validated is the one in processing");
    const error = { type: "urn:ietf:params:acme:error:connection", detail: "refused", status: 400 };
    t.equal(await b.updateChallenge("ch-1", ["processing"], { status: "invalid", error, validated: now }), true);
    t.same(await a.challengeById("ch-1"), { ...challenges[0], status: "invalid", error, validated: now });
    t.equal(await a.updateAuthorization("az-1", ["valid"], "expired"), false, "not valid: unchanged");
    t.equal(await a.updateAuthorization("az-1", ["pending"], "invalid"), true);
    t.equal(await a.updateAuthorization("az-2", ["pending"], "valid"), true);
    t.same(await b.validAuthorizationsOfAccount("acc-1", now), [{ ...authorizations[1], status: "valid" }], "an account's valid authorizations, not its invalid ones");
    t.same(await b.validAuthorizationsOfAccount("acc-1", o.expires), [], "none once they expire");
    t.same(await b.validAuthorizationsOfAccount("acc-2", now), [], "none of another account's");
    t.equal(await b.updateOrder("ord-1", ["ready"], { status: "processing" }), false, "not ready");
    t.equal(await b.updateOrder("ord-1", ["pending"], { status: "ready" }), true);
    const issued = { status: "valid" as const, certificateSerial: "1234", certificateAuthorityKeyId: "abcd", certificatePem: "PEM" };
    t.equal(await a.updateOrder("ord-1", ["ready", "processing"], issued), true);
    t.same(await b.orderByCertificate("1234", "abcd"), { ...o, ...issued });
    t.equal(await b.orderByCertificate("1234", "other"), undefined);
  });

  t.test("orders that expired without a certificate are purged with their authorizations and challenges; valid ones stay", async (t) => {
    const stale = { ...order("ord-stale", "acc-1"), expires: now - 1 };
    await a.insertOrder(
      stale,
      [{ id: "az-stale", orderId: "ord-stale", identifier: { type: "dns", value: "s.example.test" }, status: "invalid", expires: now - 1, wildcard: false }],
      [{ id: "ch-stale", authorizationId: "az-stale", type: "http-01", token: "t", status: "invalid", validated: null, error: null }],
    );
    await a.insertOrder({ ...order("ord-valid-old", "acc-1"), status: "valid", expires: now - 1 }, [], []);
    t.equal(await b.purgeOrders(now), 1);
    t.equal(await a.orderById("ord-stale"), undefined);
    t.equal(await a.authorizationById("az-stale"), undefined);
    t.equal(await a.challengeById("ch-stale"), undefined);
    t.ok(await a.orderById("ord-valid-old"), "a valid order stays");
    t.ok(await a.orderById("ord-1"), "an order not expired stays");
  });
}

t.test("SQLite", async (t) => {
  const path = join(tempDir(t), "certs.db");
  const a = SqliteAcmeStore.open(path);
  const b = SqliteAcmeStore.open(path);
  t.teardown(() => {
    a.close();
    b.close();
  });
  await suite(t, a, b);
});

t.test("PostgreSQL", { skip: postgresSkip }, async (t) => {
  const { pools } = await twoReplicas(t);
  await suite(t, new PostgresAcmeStore(pools[0]), new PostgresAcmeStore(pools[1]));
});
