// The public CRL endpoints answer from a cache: fetching a CRL never signs one, writes the database
// or takes a CRL number, whatever `?expiry=` says; a revocation or half the lifetime passing does.
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { openssl, post, testApp, type TestApp } from "../helpers/app.js";

function lastCrlNumber(ctx: TestApp): number {
  const row = ctx.store.db.prepare("SELECT last_number FROM crl_numbers").get() as { last_number: number } | undefined;
  return row?.last_number ?? 0;
}

async function cfsslCrl(ctx: TestApp, expiry?: string) {
  const response = await ctx.app.inject({ method: "GET", url: `/api/v1/cfssl/crl${expiry === undefined ? "" : `?expiry=${expiry}`}` });
  const body = response.json();
  return { status: response.statusCode, der: body.result === null ? Buffer.alloc(0) : Buffer.from(body.result as string, "base64"), body };
}

/** nextUpdate − thisUpdate of a DER CRL, in hours, as openssl reads it. */
function lifetimeHours(ctx: TestApp, der: Buffer): number {
  const file = join(ctx.dir, `crl-${Math.random()}.der`);
  writeFileSync(file, der);
  const text = openssl(["crl", "-inform", "DER", "-in", file, "-noout", "-lastupdate", "-nextupdate"]).stdout;
  const last = new Date(/lastUpdate=(.*)/.exec(text)![1]!).getTime();
  const next = new Date(/nextUpdate=(.*)/.exec(text)![1]!).getTime();
  return Math.round((next - last) / 3_600_000);
}

t.test("repeated CRL fetches, with and without expiry, take no CRL number", async (t) => {
  let now = new Date("2026-06-01T00:00:00Z");
  const ctx = await testApp(t, { clock: () => now });

  const first = await ctx.app.inject({ method: "GET", url: "/crl/default.crl" });
  t.equal(first.statusCode, 200);
  t.equal(lastCrlNumber(ctx), 1);
  for (let i = 0; i < 20; i++) {
    const again = await ctx.app.inject({ method: "GET", url: "/crl/default.crl" });
    t.same(again.rawPayload, first.rawPayload, "the same CRL, byte for byte");
  }
  // cfssl's default lifetime is the distribution point's CRL.
  t.same((await cfsslCrl(ctx, "168h")).der, first.rawPayload);
  t.same((await cfsslCrl(ctx)).der, first.rawPayload);
  t.equal(lastCrlNumber(ctx), 1);

  const day = await cfsslCrl(ctx, "24h");
  t.equal(day.status, 200);
  t.equal(lifetimeHours(ctx, day.der), 24);
  for (let i = 0; i < 50; i++) t.same((await cfsslCrl(ctx, "24h")).der, day.der);
  t.same((await cfsslCrl(ctx, "1440m")).der, day.der, "the same lifetime, written another way");
  t.equal(lastCrlNumber(ctx), 2, "one number for the 24h CRL, however often it is asked for");

  // Half the 24h lifetime later it is signed again; the 7-day one is still good.
  now = new Date(now.getTime() + 12 * 3_600_000 + 1000);
  const later = await cfsslCrl(ctx, "24h");
  t.not(later.der.equals(day.der), true, "a fresh 24h CRL once half its lifetime has passed");
  t.same((await ctx.app.inject({ method: "GET", url: "/crl/default.crl" })).rawPayload, first.rawPayload);
  t.equal(lastCrlNumber(ctx), 3);

  t.equal((await cfsslCrl(ctx, "30s")).status, 400, "a lifetime under a minute is refused");
});

t.test("a revocation makes the next fetch of each lifetime a new CRL that lists it", async (t) => {
  const ctx = await testApp(t);
  const issued = await post(ctx.app, "newcert", { request: { CN: "leaked.internal", hosts: ["leaked.internal"] }, profile: "server" });
  t.equal(issued.status, 200);
  const serial = BigInt(`0x${new X509Certificate(issued.body.result.certificate).serialNumber}`);

  const before = await ctx.app.inject({ method: "GET", url: "/crl/default.crl" });
  const beforeDay = await cfsslCrl(ctx, "24h");
  const numberBefore = lastCrlNumber(ctx);
  const revoked = await post(ctx.app, "revoke", { serial: serial.toString(10), reason: "keyCompromise" });
  t.equal(revoked.status, 200);

  const after = await ctx.app.inject({ method: "GET", url: "/crl/default.crl" });
  t.not(after.rawPayload.equals(before.rawPayload), true);
  const file = join(ctx.dir, "after.der");
  writeFileSync(file, after.rawPayload);
  const text = openssl(["crl", "-inform", "DER", "-in", file, "-noout", "-text"]).stdout;
  t.match(text, new RegExp(`Serial Number: 0*${serial.toString(16).toUpperCase()}`));
  const afterDay = await cfsslCrl(ctx, "24h");
  t.not(afterDay.der.equals(beforeDay.der), true);
  t.equal(lastCrlNumber(ctx), numberBefore + 2, "one new number per lifetime, then none");
  await ctx.app.inject({ method: "GET", url: "/crl/default.crl" });
  await cfsslCrl(ctx, "24h");
  t.equal(lastCrlNumber(ctx), numberBefore + 2);

  // Revoking it again changes nothing, so nothing is signed again.
  await post(ctx.app, "revoke", { serial: serial.toString(10), reason: "keyCompromise" });
  t.same((await ctx.app.inject({ method: "GET", url: "/crl/default.crl" })).rawPayload, after.rawPayload);
  t.equal(lastCrlNumber(ctx), numberBefore + 2);
});

t.test("a client cycling through lifetimes gets the nearest kept one once eight are kept", async (t) => {
  const ctx = await testApp(t);
  for (let hours = 1; hours <= 8; hours++) t.equal((await cfsslCrl(ctx, `${hours}h`)).status, 200);
  t.equal(lastCrlNumber(ctx), 8);
  for (let hours = 9; hours <= 40; hours++) {
    const answer = await cfsslCrl(ctx, `${hours}h`);
    t.equal(answer.status, 200);
    if (hours === 9) {
      t.equal(lifetimeHours(ctx, answer.der), 8, "the nearest lifetime kept");
      t.match(answer.body.messages[0].message, /expiry 9h: .* the nearest, 8h/);
    }
  }
  t.equal(lastCrlNumber(ctx), 8, "no CRL signed for the lifetimes beyond the eighth");
});
