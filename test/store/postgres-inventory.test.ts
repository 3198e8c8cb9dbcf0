// The inventory on PostgreSQL answers as the SQLite one does: the same rows in both, every filter
// walked page by page in both, the same pages, cursors and rows read. Then what replicas share:
// revocations and CRL numbers.
import { join } from "node:path";
import pg from "pg";
import t from "tap";
import { openDatabase } from "../../src/store/database.js";
import { Inventory, type InventoryCursor, type InventoryFilter, type InventoryPage } from "../../src/store/inventory.js";
import { PostgresInventory } from "../../src/store/postgres/inventory.js";
import { tempDir } from "../helpers/app.js";
import { postgresSkip, twoReplicas } from "../helpers/postgres.js";

const day = 86_400_000;
const now = new Date("2026-06-01T00:00:00.000Z");
const profiles = ["server", "client", "peer", "kubernetes"];
const lifetimes = [90 * day, 365 * day, 30 * day, 730 * day];
const columns = ["serial_number", "authority_key_identifier", "ca_label", "profile", "status", "reason", "expiry", "revoked_at", "pem", "issued_at", "not_before", "sans", "common_name", "subject_names"];

/** `count` rows over two years, groups of three sharing an issue time (cursor ties). */
function rows(count: number): unknown[][] {
  return Array.from({ length: count }, (_, i) => {
    const issued = now.getTime() - 730 * day + Math.floor(i / 3) * Math.floor((730 * day) / count) * 3 + (i % 17 === 0 ? -day : 0);
    const p = (i * 7) % 4;
    const revoked = i % 50 === 7;
    const cn = `host-${i}.svc.internal`;
    const iso = (ms: number) => new Date(ms).toISOString();
    return [String(i + 1), "aa", i % 10 === 3 ? "other" : "", profiles[p], revoked ? "revoked" : "good", revoked ? 1 : 0, iso(issued + lifetimes[p]!), revoked ? iso(issued + day) : null, "PEM", iso(issued), iso(issued), JSON.stringify([cn]), cn, i % 13 === 0 ? JSON.stringify([`ops-${i}@example.com`]) : "[]"];
  });
}

const filters: InventoryFilter[] = [
  {},
  { status: "good" },
  { status: "revoked" },
  { status: "expired" },
  { profile: "peer", status: "good" },
  { label: "other" },
  { text: "HOST-12" },
  { text: "ops-26@" },
  { expiringWithinMs: 400 * day },
  { expiringWithinMs: 60 * day, status: "revoked", profile: "server" },
  { issuedBefore: new Date(now.getTime() - 365 * day), status: "expired" },
  { issuedAfter: new Date(now.getTime() - 200 * day), issuedBefore: new Date(now.getTime() - 100 * day), profile: "client" },
  { issuedAfter: new Date(now.getTime() - 500 * day), expiringWithinMs: 10 * day, text: "svc" },
];

const shape = (page: InventoryPage) => ({
  serials: page.records.map((r) => `${r.id}:${r.serialNumber}:${r.status}:${r.revokedAt?.toISOString() ?? ""}:${r.subjectNames.join(",")}`),
  next: page.nextCursor,
  scanned: page.scanned,
  scanLimited: page.scanLimited,
});

t.test("PostgreSQL inventory", { skip: postgresSkip }, async (t) => {
  const { url, pools } = await twoReplicas(t);
  const [a, b] = pools.map((pool) => new PostgresInventory(pool, "postgres://unused")) as [PostgresInventory, PostgresInventory];

  const sqlite = openDatabase(join(tempDir(t), "certs.db"));
  t.teardown(() => sqlite.close());
  const data = rows(3000);
  const insert = sqlite.prepare(`INSERT INTO certificates (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`);
  sqlite.transaction(() => {
    for (const row of data) insert.run(...row);
  })();
  for (let start = 0; start < data.length; start += 500) {
    const chunk = data.slice(start, start + 500);
    const values = chunk.flat();
    const tuples = chunk.map((_, r) => `(${start + r + 1}, ${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(", ")})`);
    // The same ids as SQLite's rowids, so the two backends' cursors can be compared as they are.
    await pools[0]!.query(`INSERT INTO certificates (id, ${columns.join(", ")}) OVERRIDING SYSTEM VALUE VALUES ${tuples.join(", ")}`, values);
  }
  const inventory = new Inventory(sqlite);

  t.test("every filter lists the same pages as on SQLite, cursor after cursor", async (t) => {
    for (const filter of filters) {
      for (const [limit, scanLimit] of [
        [7, 50],
        [100, 5000],
      ] as const) {
        let cursor: InventoryCursor | undefined;
        let pages = 0;
        let listed = 0;
        let same = true;
        for (;;) {
          const expected = inventory.list(filter, now, limit, cursor, scanLimit);
          const got = await a.list(filter, now, limit, cursor, scanLimit);
          pages++;
          listed += got.records.length;
          if (JSON.stringify(shape(got)) !== JSON.stringify(shape(expected))) {
            t.same(shape(got), shape(expected), `${JSON.stringify(filter)} limit ${limit}: page ${pages}`);
            same = false;
            break;
          }
          if (expected.nextCursor === null) break;
          cursor = expected.nextCursor;
        }
        if (same) t.pass(`${JSON.stringify(filter)}, limit ${limit}, scan limit ${scanLimit}: ${listed} rows in ${pages} pages, as on SQLite`);
      }
    }
    t.same(await a.findBySerial("8"), inventory.findBySerial("8"));
    t.equal(await a.countExpiring(now, 30 * day), inventory.countExpiring(now, 30 * day));
  });

  t.test("a revocation made through one replica is what the other lists for the CRL", async (t) => {
    const first = await a.revoke("10", "aa", 4, new Date("2026-05-01T00:00:00.000Z"));
    t.equal(first?.alreadyRevoked, false);
    t.equal(first?.record.reason, 4);
    const again = await b.revoke("10", "aa", 1, new Date("2026-05-02T00:00:00.000Z"));
    t.equal(again?.alreadyRevoked, true, "revoking again changes nothing");
    t.equal(again?.record.reason, 4);
    t.equal(await b.revoke("999999", "aa", 1, now), undefined, "an unknown serial");
    sqlite.prepare("UPDATE certificates SET status = 'revoked', reason = 4, revoked_at = ? WHERE serial_number = '10'").run("2026-05-01T00:00:00.000Z");
    t.same(await b.revokedUnexpired("aa", now), inventory.revokedUnexpired("aa", now), "the CRL's entries, in the same order");
  });

  t.test("CRL numbers only grow and are never handed out twice, however the replicas race", async (t) => {
    const numbers = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).nextCrlNumber("aa")));
    t.same([...numbers].sort((x, y) => (x < y ? -1 : 1)), Array.from({ length: 40 }, (_, i) => BigInt(i + 1)));
    t.equal(await a.nextCrlNumber("bb"), 1n, "each CA counts on its own");
  });

  t.test("tidy forgets what expired long ago; a standby refuses writes", async (t) => {
    const before = sqlite.prepare("SELECT count(*) AS n FROM certificates WHERE expiry < ?").get(new Date(now.getTime() - 300 * day).toISOString()) as { n: number };
    t.equal(await b.tidy(new Date(now.getTime() - 300 * day)), before.n);
    await a.checkWritable();
    const readOnly = new pg.Pool({ connectionString: url, max: 1, options: "-c default_transaction_read_only=on" });
    t.teardown(() => readOnly.end());
    await t.rejects(new PostgresInventory(readOnly, "postgres://unused").checkWritable(), /read-only transaction/);
  });
});
