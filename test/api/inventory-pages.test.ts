// The inventory over HTTP with more rows than a page reads: a sparse search comes back short with a
// cursor and a message, following it finds the match; orders and cursors that do not fit are refused.
import t from "tap";
import { testApp } from "../helpers/app.js";

const day = 86_400_000;

t.test("a sparse search reads a bounded number of rows a page and says so; cursors carry the order", async (t) => {
  const now = new Date("2026-06-01T00:00:00.000Z");
  const ctx = await testApp(t, { clock: () => now });
  const insert = ctx.store.db.prepare(
    `INSERT INTO certificates (serial_number, authority_key_identifier, profile, expiry, pem, issued_at, not_before, sans, common_name)
     VALUES (?, 'aa', 'server', ?, 'PEM', ?, ?, ?, ?)`,
  );
  ctx.store.db.transaction(() => {
    for (let i = 0; i < 12_000; i++) {
      const issued = new Date(now.getTime() - 300 * day + i * 60_000).toISOString();
      const expiry = new Date(now.getTime() + ((i * 37) % 400) * day + i).toISOString();
      insert.run(String(i + 1), expiry, issued, issued, JSON.stringify([`host-${i}.internal`]), `host-${i}.internal`);
    }
  })();
  const list = async (query: string) => {
    const response = await ctx.app.inject({ method: "GET", url: `/api/v1/certificates?${query}` });
    return { status: response.statusCode, body: response.json(), type: response.headers["content-type"] };
  };

  // The oldest certificate, newest first: past the first page's reading.
  const first = await list("q=HOST-0.internal");
  t.equal(first.status, 200);
  t.match(first.type, /^application\/json/);
  t.same(first.body.result.certificates, []);
  t.type(first.body.result.next_cursor, "string");
  t.match(first.body.messages[0].message, /^read 5000 certificates for this page and found 0 matching; pass next_cursor as cursor to read on$/);
  let cursor = first.body.result.next_cursor as string | null;
  const found: string[] = [];
  for (let pages = 1; cursor !== null && pages < 10; pages++) {
    const next = await list(`q=HOST-0.internal&cursor=${cursor}`);
    t.equal(next.status, 200);
    found.push(...next.body.result.certificates.map((c: { common_name: string }) => c.common_name));
    cursor = next.body.result.next_cursor;
  }
  t.same(found, ["host-0.internal"]);
  t.equal(cursor, null, "the last page says it is the last");

  // Expiring soonest first, across pages, without repeats.
  const soon: string[] = [];
  let page = await list("expiring_within=30d&limit=250");
  for (;;) {
    t.equal(page.status, 200);
    soon.push(...page.body.result.certificates.map((c: { not_after: string }) => c.not_after));
    if (!page.body.result.next_cursor) break;
    page = await list(`expiring_within=30d&limit=250&cursor=${page.body.result.next_cursor}`);
  }
  t.ok(soon.length > 500, `${soon.length} expire within 30 days`);
  t.same(soon, [...soon].sort(), "soonest first");
  t.ok(soon.every((at) => new Date(at).getTime() <= now.getTime() + 30 * day));

  // A cursor from one order does not fit a listing in another.
  const newest = await list("limit=10");
  const misfit = await list(`expiring_within=30d&cursor=${newest.body.result.next_cursor}`);
  t.equal(misfit.status, 400);
  t.match(misfit.body.errors[0].message, /^cursor: it comes from a listing with other filters/);
  t.equal((await list(`cursor=${Buffer.from("r123").toString("base64url")}`)).status, 400, "an old-style cursor");
});
