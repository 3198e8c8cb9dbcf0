import type pg from "pg";
import type { DatabaseSource, InventoryStore, PublishedCrl } from "../backend.js";
import type { CertificateRecord } from "../../model/issued-certificate.js";
import { fromRow, type CertificateRow } from "../certificate-row.js";
import {
  defaultScanLimit,
  inventoryOrder,
  type InventoryCursor,
  type InventoryFilter,
  type InventoryPage,
  type RevokedEntry,
  type RevokeOutcome,
} from "../inventory.js";

/** PostgreSQL answers timestamps as Dates; the row mapping reads SQLite's ISO text. */
export function textRow(row: Record<string, unknown>): CertificateRow {
  const iso = (value: unknown) => (value instanceof Date ? value.toISOString() : (value as string | null));
  return { ...row, expiry: iso(row.expiry), issued_at: iso(row.issued_at), not_before: iso(row.not_before), revoked_at: iso(row.revoked_at) } as CertificateRow;
}

/** How many of a CA's newest CRLs stay in the crls table. */
const keptCrls = 16;

/** Numbered parameters ($1, $2…) gathered as the SQL is built. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/**
 * The inventory and revocation queries on PostgreSQL, the same as store/inventory.ts answers on
 * SQLite, shared by every replica. The CRL number is bumped by one statement that takes the row's
 * lock, so replicas never hand out the same number twice and it only grows.
 */
export class PostgresInventory implements InventoryStore {
  /** @param url where reader threads connect to the same database. */
  constructor(
    private readonly pool: pg.Pool,
    url: string,
  ) {
    this.source = { kind: "postgres", url };
  }

  readonly source: DatabaseSource;

  async countExpiring(now: Date, withinMs: number): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>("SELECT count(*) AS n FROM certificates WHERE status = 'good' AND expiry > $1 AND expiry <= $2", [
      now,
      new Date(now.getTime() + withinMs),
    ]);
    return Number(rows[0]!.n);
  }

  /** Throws unless the database takes a write: a standby (read-only) or an unreachable server fails. */
  async checkWritable(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("UPDATE certificates SET status = status WHERE id = 0");
    } finally {
      await client.query("ROLLBACK").catch(() => {});
      client.release();
    }
  }

  /**
   * One page, walked as store/inventory.ts walks it: along the order's index, at most `scanLimit`
   * rows read, each row's filter answered as a column so that every row read counts.
   */
  async list(filter: InventoryFilter, now: Date, limit: number, cursor?: InventoryCursor, scanLimit = defaultScanLimit): Promise<InventoryPage> {
    const p = new Params();
    const checks: string[] = [];
    if (filter.status === "revoked") checks.push("status = 'revoked'");
    if (filter.status === "good") checks.push(`status = 'good' AND expiry > ${p.add(now)}`);
    if (filter.status === "expired") checks.push(`status = 'good' AND expiry <= ${p.add(now)}`);
    if (filter.profile !== undefined) checks.push(`profile = ${p.add(filter.profile)}`);
    if (filter.label !== undefined) checks.push(`ca_label = ${p.add(filter.label)}`);
    if (filter.text !== undefined) {
      // strpos, not LIKE: what the operator types is text, never a pattern.
      const needle = filter.text.toLowerCase();
      const inJson = p.add(JSON.stringify(needle).slice(1, -1));
      checks.push(`(strpos(lower(common_name), ${p.add(needle)}) > 0 OR strpos(lower(sans), ${inJson}) > 0 OR strpos(lower(subject_names), ${inJson}) > 0)`);
    }
    const until = filter.expiringWithinMs === undefined ? undefined : new Date(now.getTime() + filter.expiringWithinMs);
    if (until !== undefined) checks.push(`expiry > ${p.add(now)} AND expiry <= ${p.add(until)}`);
    if (filter.issuedAfter) checks.push(`issued_at >= ${p.add(filter.issuedAfter)}`);
    if (filter.issuedBefore) checks.push(`issued_at < ${p.add(filter.issuedBefore)}`);

    const order = inventoryOrder(filter);
    const where: string[] = [];
    const statusKey = filter.status === "revoked" ? "revoked" : filter.status === undefined ? undefined : "good";
    const cursorAt = cursor && cursor.order === order ? { key: new Date(cursor.keyMs), id: cursor.id } : undefined;
    let orderBy: string;
    if (order === "newest") {
      orderBy = "issued_at DESC, id DESC";
      if (filter.profile !== undefined) where.push(`profile = ${p.add(filter.profile)}`);
      else if (statusKey !== undefined) where.push(`status = ${p.add(statusKey)}`);
      if (cursorAt) where.push(`(issued_at, id) < (${p.add(cursorAt.key)}, ${p.add(cursorAt.id)})`);
      if (filter.issuedBefore) where.push(`issued_at < ${p.add(filter.issuedBefore)}`);
      if (filter.issuedAfter) where.push(`issued_at >= ${p.add(filter.issuedAfter)}`);
    } else {
      if (statusKey !== undefined) where.push(`status = ${p.add(statusKey)}`);
      if (order === "expiring") {
        orderBy = "expiry ASC, id ASC";
        where.push(`expiry > ${p.add(now)} AND expiry <= ${p.add(until)}`);
        if (cursorAt) where.push(`(expiry, id) > (${p.add(cursorAt.key)}, ${p.add(cursorAt.id)})`);
      } else {
        orderBy = "expiry DESC, id DESC";
        where.push(`expiry <= ${p.add(now)}`);
        if (cursorAt) where.push(`(expiry, id) < (${p.add(cursorAt.key)}, ${p.add(cursorAt.id)})`);
      }
    }
    const keyColumn = order === "newest" ? "issued_at" : "expiry";
    const hit = checks.length > 0 ? checks.join(" AND ") : "true";
    const walked = await this.pool.query<{ id: string; key: Date; hit: boolean }>(
      `SELECT id, ${keyColumn} AS key, (${hit}) AS hit FROM certificates ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY ${orderBy} LIMIT ${p.add(Math.max(scanLimit, limit + 1) + 1)}`,
      p.values,
    );
    const hits: { id: number; key: Date }[] = [];
    let last: { id: number; key: Date } | undefined;
    let scanned = 0;
    let more = false;
    for (const row of walked.rows) {
      if (scanned === Math.max(scanLimit, limit + 1)) {
        more = true;
        break;
      }
      scanned++;
      const at = { id: Number(row.id), key: row.key };
      if (row.hit) {
        if (hits.length === limit) {
          more = true;
          break;
        }
        hits.push(at);
      }
      last = at;
    }
    const rows =
      hits.length > 0
        ? (await this.pool.query("SELECT *, '' AS pem FROM certificates WHERE id = ANY($1::bigint[])", [hits.map((h) => h.id)])).rows
        : [];
    const byId = new Map(rows.map((row) => [Number(row.id), row]));
    const records = hits.flatMap((h) => {
      const row = byId.get(h.id);
      return row ? [{ ...fromRow(textRow(row)), id: h.id }] : [];
    });
    const end = hits.length === limit ? hits[hits.length - 1] : last;
    return { records, nextCursor: more && end ? { order, keyMs: end.key.getTime(), id: end.id } : null, scanned, scanLimited: more && hits.length < limit };
  }

  async findBySerial(serialNumber: string): Promise<CertificateRecord[]> {
    const { rows } = await this.pool.query("SELECT * FROM certificates WHERE serial_number = $1 ORDER BY id DESC", [serialNumber]);
    return rows.map((row) => fromRow(textRow(row)));
  }

  /** Marks a certificate revoked; revoking again changes nothing and says so; undefined when unknown. */
  async revoke(serialNumber: string, authorityKeyId: string, reason: number, at: Date): Promise<RevokeOutcome> {
    const changed = await this.pool.query(
      "UPDATE certificates SET status = 'revoked', reason = $3, revoked_at = $4 WHERE serial_number = $1 AND authority_key_identifier = $2 AND status = 'good'",
      [serialNumber, authorityKeyId, reason, at],
    );
    const { rows } = await this.pool.query("SELECT * FROM certificates WHERE serial_number = $1 AND authority_key_identifier = $2", [serialNumber, authorityKeyId]);
    return rows[0] ? { record: fromRow(textRow(rows[0])), alreadyRevoked: changed.rowCount === 0 } : undefined;
  }

  async revokedUnexpired(authorityKeyId: string, now: Date): Promise<RevokedEntry[]> {
    const { rows } = await this.pool.query<{ serial_number: string; revoked_at: Date; reason: number }>(
      "SELECT serial_number, revoked_at, reason FROM certificates WHERE authority_key_identifier = $1 AND status = 'revoked' AND expiry > $2 ORDER BY expiry, serial_number",
      [authorityKeyId, now],
    );
    return rows.map((row) => ({ serialNumber: row.serial_number, revokedAt: row.revoked_at, reason: row.reason }));
  }

  async nextCrlNumber(authorityKeyId: string): Promise<bigint> {
    const { rows } = await this.pool.query<{ last_number: string }>(
      `INSERT INTO crl_numbers AS c (authority_key_identifier, last_number) VALUES ($1, 1)
       ON CONFLICT (authority_key_identifier) DO UPDATE SET last_number = c.last_number + 1
       RETURNING last_number`,
      [authorityKeyId],
    );
    return BigInt(rows[0]!.last_number);
  }

  /** Keeps the CA's last CRLs (those of the last `keptCrls` numbers) for replicas on a standby. */
  async publishCrl(crl: PublishedCrl): Promise<void> {
    await this.pool.query(
      `WITH kept AS (
         INSERT INTO crls (authority_key_identifier, crl_number, this_update, next_update, der) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING RETURNING 1)
       DELETE FROM crls WHERE authority_key_identifier = $1 AND crl_number <= $2::bigint - ${keptCrls}`,
      [crl.authorityKeyId, crl.crlNumber.toString(), crl.thisUpdate, crl.nextUpdate, Buffer.from(crl.der)],
    );
  }

  async latestCrl(authorityKeyId: string, now: Date): Promise<PublishedCrl | undefined> {
    const { rows } = await this.pool.query<{ crl_number: string; this_update: Date; next_update: Date; der: Buffer }>(
      "SELECT crl_number, this_update, next_update, der FROM crls WHERE authority_key_identifier = $1 AND next_update > $2 ORDER BY crl_number DESC LIMIT 1",
      [authorityKeyId, now],
    );
    const row = rows[0];
    return row && { authorityKeyId, crlNumber: BigInt(row.crl_number), thisUpdate: row.this_update, nextUpdate: row.next_update, der: new Uint8Array(row.der) };
  }

  async tidy(expiredBefore: Date): Promise<number> {
    return (await this.pool.query("DELETE FROM certificates WHERE expiry < $1", [expiredBefore])).rowCount ?? 0;
  }
}
