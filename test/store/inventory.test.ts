// The inventory walks an index in the order it lists, reads a bounded number of rows a page, and,
// page after page, lists exactly what a brute-force filter of the whole table finds, in order.
import { join } from "node:path";
import type Database from "better-sqlite3";
import t from "tap";
import { openDatabase } from "../../src/store/database.js";
import { Inventory, inventoryOrder, inventoryWalk, revokedUnexpiredSql, type InventoryCursor, type InventoryFilter } from "../../src/store/inventory.js";
import { tempDir } from "../helpers/app.js";

const day = 86_400_000;
const now = new Date("2026-06-01T00:00:00.000Z");
const profiles = ["server", "client", "peer", "kubernetes"];
const lifetimes = [90 * day, 365 * day, 30 * day, 730 * day];

interface FakeRow {
  id: number;
  profile: string;
  status: "good" | "revoked";
  issued: number;
  expiry: number;
  cn: string;
  label: string;
}

/** `count` rows issued over two years before `now`, several in the same millisecond (cursor ties). */
function fill(db: Database.Database, count: number): FakeRow[] {
  const insert = db.prepare(
    `INSERT INTO certificates (serial_number, authority_key_identifier, ca_label, profile, status, reason, expiry, revoked_at, pem, issued_at, not_before, sans, common_name)
     VALUES (?, 'aa', ?, ?, ?, 0, ?, NULL, 'PEM', ?, ?, ?, ?)`,
  );
  const rows: FakeRow[] = [];
  db.transaction(() => {
    for (let i = 0; i < count; i++) {
      // Groups of three share an issue time; the order of insertion is not the order of issue everywhere.
      const issued = now.getTime() - 730 * day + Math.floor(i / 3) * Math.floor((730 * day) / count) * 3 + (i % 17 === 0 ? -day : 0);
      const p = (i * 7) % 4;
      const row: FakeRow = {
        id: i + 1,
        profile: profiles[p]!,
        status: i % 50 === 7 ? "revoked" : "good",
        issued,
        expiry: issued + lifetimes[p]!,
        cn: `host-${i}.svc.internal`,
        label: i % 10 === 3 ? "other" : "",
      };
      insert.run(String(i + 1), row.label, row.profile, row.status, new Date(row.expiry).toISOString(), new Date(row.issued).toISOString(), new Date(row.issued).toISOString(), JSON.stringify([row.cn]), row.cn);
      rows.push(row);
    }
  })();
  return rows;
}

/** What the filter means, row by row, and the order it lists in: the reference the pages must match. */
function bruteForce(rows: FakeRow[], filter: InventoryFilter): number[] {
  const at = now.getTime();
  const until = filter.expiringWithinMs === undefined ? undefined : at + filter.expiringWithinMs;
  const matches = rows.filter((r) => {
    if (filter.status === "revoked" && r.status !== "revoked") return false;
    if (filter.status === "good" && !(r.status === "good" && r.expiry > at)) return false;
    if (filter.status === "expired" && !(r.status === "good" && r.expiry <= at)) return false;
    if (filter.profile !== undefined && r.profile !== filter.profile) return false;
    if (filter.label !== undefined && r.label !== filter.label) return false;
    if (filter.text !== undefined && !r.cn.includes(filter.text.toLowerCase())) return false;
    if (until !== undefined && !(r.expiry > at && r.expiry <= until)) return false;
    if (filter.issuedAfter && !(r.issued >= filter.issuedAfter.getTime())) return false;
    if (filter.issuedBefore && !(r.issued < filter.issuedBefore.getTime())) return false;
    return true;
  });
  if (until !== undefined) matches.sort((a, b) => a.expiry - b.expiry || a.id - b.id);
  else if (filter.status === "expired") matches.sort((a, b) => b.expiry - a.expiry || b.id - a.id);
  else matches.sort((a, b) => b.issued - a.issued || b.id - a.id);
  return matches.map((r) => r.id);
}

const filters: InventoryFilter[] = [
  {},
  { status: "good" },
  { status: "revoked" },
  { status: "expired" },
  { profile: "peer" },
  { profile: "peer", status: "good" },
  { label: "other" },
  { text: "HOST-12" },
  { text: "host-1234." },
  { expiringWithinMs: 400 * day },
  { expiringWithinMs: 30 * day, status: "good" },
  { expiringWithinMs: 60 * day, status: "revoked", profile: "server" },
  { expiringWithinMs: 400 * day, status: "expired" },
  { issuedAfter: new Date(now.getTime() - 365 * day) },
  { issuedBefore: new Date(now.getTime() - 365 * day), status: "expired" },
  { issuedAfter: new Date(now.getTime() - 200 * day), issuedBefore: new Date(now.getTime() - 100 * day), profile: "client" },
  { issuedAfter: new Date(now.getTime() - 500 * day), expiringWithinMs: 10 * day, text: "svc" },
];

t.test("every filter's walk goes along an index in list order: no table scan, no sort", async (t) => {
  const db = openDatabase(join(tempDir(t), "certs.db"));
  t.teardown(() => db.close());
  const cursor: InventoryCursor = { order: "newest", keyMs: now.getTime() - day, id: 10 };
  for (const filter of filters) {
    for (const withCursor of [false, true]) {
      const walk = inventoryWalk(filter, now, withCursor ? { ...cursor, order: inventoryOrder(filter) } : undefined);
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${walk.sql}`).all(...walk.params) as { detail: string }[]).map((row) => row.detail).join(" | ");
      const name = `${JSON.stringify(filter)}${withCursor ? " with a cursor" : ""}: ${plan}`;
      t.match(plan, /USING (COVERING )?INDEX certificates_\w+/, name);
      t.notMatch(plan, /TEMP B-TREE/, name);
      t.notMatch(plan, /^SCAN certificates$|\| SCAN certificates$/, name);
    }
  }
});

t.test("pages read at most the scan limit and, followed to the end, list what the filter means, in order", async (t) => {
  const db = openDatabase(join(tempDir(t), "certs.db"));
  t.teardown(() => db.close());
  const rows = fill(db, 6000);
  const inventory = new Inventory(db);
  for (const filter of filters) {
    for (const [limit, scanLimit] of [
      [7, 50],
      [100, 5000],
    ] as const) {
      const listed: number[] = [];
      let cursor: InventoryCursor | undefined;
      let pages = 0;
      let mostRead = 0;
      let longest = 0;
      for (;;) {
        const page = inventory.list(filter, now, limit, cursor, scanLimit);
        pages++;
        mostRead = Math.max(mostRead, page.scanned);
        longest = Math.max(longest, page.records.length);
        listed.push(...page.records.map((r) => r.id));
        if (page.nextCursor === null) break;
        cursor = page.nextCursor;
        if (pages > 10_000) throw new Error("cursors that do not advance");
      }
      const name = `${JSON.stringify(filter)}, limit ${limit}, scan limit ${scanLimit}`;
      t.same(listed, bruteForce(rows, filter), `${name}: ${listed.length} rows in ${pages} pages`);
      t.ok(mostRead <= Math.max(scanLimit, limit + 1) && longest <= limit, `${name}: at most ${mostRead} rows read and ${longest} listed a page`);
    }
  }
});

t.test("a broad filter's page reads about as many rows as it returns; a sparse one stops at the scan limit", async (t) => {
  const db = openDatabase(join(tempDir(t), "certs.db"));
  t.teardown(() => db.close());
  fill(db, 30_000);
  const inventory = new Inventory(db);
  for (const filter of [{}, { status: "good" }, { status: "revoked" }, { status: "expired" }, { profile: "peer" }, { expiringWithinMs: 400 * day }, { issuedAfter: new Date(now.getTime() - 365 * day) }] as InventoryFilter[]) {
    const page = inventory.list(filter, now, 100, undefined, 5000);
    t.equal(page.records.length, 100, JSON.stringify(filter));
    // Matches are dense along the index each walks: status=good skips the few expired or revoked ones.
    t.ok(page.scanned < 200, `${JSON.stringify(filter)} read ${page.scanned} rows for 100`);
  }
  const sparse = inventory.list({ text: "host-5." }, now, 100, undefined, 5000);
  t.equal(sparse.scanned, 5000);
  t.equal(sparse.records.length, 0, "newest first, the match is further on");
  t.ok(sparse.scanLimited);
  t.not(sparse.nextCursor, null, "a cursor to read on");
});

t.test("migration 005 made the indexes the walks name", async (t) => {
  const db = openDatabase(join(tempDir(t), "certs.db"));
  t.teardown(() => db.close());
  const names = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'certificates'").all() as { name: string }[]).map((r) => r.name);
  for (const index of ["certificates_issued", "certificates_profile_issued", "certificates_status_issued", "certificates_expiry", "certificates_status_expiry"]) {
    t.ok(names.includes(index), index);
  }
  t.ok((db.pragma("user_version", { simple: true }) as number) >= 5);
  const crlPlan = (db.prepare(`EXPLAIN QUERY PLAN ${revokedUnexpiredSql}`).all("aa", now.toISOString()) as { detail: string }[]).map((r) => r.detail).join(" | ");
  t.match(crlPlan, /USING COVERING INDEX certificates_revoked/, `the CRL's rows come from the index alone: ${crlPlan}`);
  t.notMatch(crlPlan, /TEMP B-TREE/);
});
