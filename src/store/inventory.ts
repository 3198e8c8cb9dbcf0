import type Database from "better-sqlite3";
import type { CertificateRecord } from "../model/issued-certificate.js";
import { fromRow, type CertificateRow } from "./certificate-row.js";

/** What an operator can ask of the inventory; every field narrows the list. */
export interface InventoryFilter {
  /** `expired` means not revoked and past its NotAfter; `good` means neither. */
  status?: "good" | "revoked" | "expired" | undefined;
  profile?: string | undefined;
  label?: string | undefined;
  /** A substring of the CN or of a SAN, in any case. */
  text?: string | undefined;
  /** Unexpired, with NotAfter before now + this. */
  expiringWithinMs?: number | undefined;
  issuedAfter?: Date | undefined;
  issuedBefore?: Date | undefined;
}

/**
 * The order a listing walks, each along an index, so a page reads about as many rows as it returns:
 * `newest` (issued_at descending), `expiring` (soonest NotAfter first: with `expiringWithinMs`),
 * `expired` (most recently expired first: status `expired` alone).
 */
export type InventoryOrder = "newest" | "expiring" | "expired";

/** Where a page ended: the order it walked, the last row's key in that order (ms) and its row id. */
export interface InventoryCursor {
  order: InventoryOrder;
  keyMs: number;
  id: number;
}

/** A page of the inventory; `nextCursor` is null on the last page. */
export interface InventoryPage {
  records: (CertificateRecord & { id: number })[];
  nextCursor: InventoryCursor | null;
  /** Rows read for this page; when it reached the scan limit the page may be short, even empty. */
  scanned: number;
  /** True when the page ended at the scan limit rather than at `limit` rows or the end. */
  scanLimited: boolean;
}

/**
 * The most index entries (and their rows) one page may read. A filter that the walked index does
 * not answer (a `q` substring, a rare profile along the expiry order) is checked row by row, so a
 * page that finds few matches stops here and hands out a cursor to go on: a page costs the HTTP
 * thread a few milliseconds, whatever the database holds (about 1 µs a row on this machine).
 */
export const defaultScanLimit = 5000;

/**
 * What a CRL lists, from the partial index certificates_revoked alone (migration 005), in its
 * order: no table reads and no sort, whatever the table holds.
 */
export const revokedUnexpiredSql = `SELECT serial_number, revoked_at, reason FROM certificates
  WHERE authority_key_identifier = ? AND status = 'revoked' AND expiry > ? ORDER BY expiry, serial_number`;

/** Row ids of a page go to SQLite as one JSON array (no statement per page size). */
const rowsByIdSql = `SELECT rowid AS id, serial_number, authority_key_identifier, ca_label, profile, status, reason, expiry, revoked_at,
  '' AS pem, issued_at, not_before, metadata, sans, common_name, subject_names, requested_by
  FROM certificates WHERE rowid IN (SELECT value FROM json_each(?))`;

/** The SQL of one page's walk: its rows' ids, keys and whether each passes the whole filter. */
export interface InventoryWalk {
  sql: string;
  params: (string | number)[];
  order: InventoryOrder;
}

/**
 * Builds the walk of a listing: the index to go along (named with INDEXED BY, so the plan cannot
 * turn into a scan and a sort), the range of it the filter and cursor allow, and the filter as a
 * column rather than a WHERE clause, so every row read comes back to be counted against the scan limit.
 */
/** The order a listing with this filter walks; a cursor of another order does not fit it. */
export function inventoryOrder(filter: InventoryFilter): InventoryOrder {
  if (filter.expiringWithinMs !== undefined) return "expiring";
  return filter.status === "expired" ? "expired" : "newest";
}

export function inventoryWalk(filter: InventoryFilter, now: Date, cursor?: InventoryCursor): InventoryWalk {
  const nowText = now.toISOString();
  const checks: string[] = [];
  const checkParams: (string | number)[] = [];
  const check = (clause: string, ...values: (string | number)[]) => {
    checks.push(clause);
    checkParams.push(...values);
  };
  if (filter.status === "revoked") check("status = 'revoked'");
  if (filter.status === "good") check("status = 'good' AND expiry > ?", nowText);
  if (filter.status === "expired") check("status = 'good' AND expiry <= ?", nowText);
  if (filter.profile !== undefined) check("profile = ?", filter.profile);
  if (filter.label !== undefined) check("ca_label = ?", filter.label);
  if (filter.text !== undefined) {
    // instr, not LIKE: what the operator types is text, never a pattern. SANs and the subject's
    // other names (further CNs, email addresses) are stored as JSON.
    const needle = filter.text.toLowerCase();
    const inJson = JSON.stringify(needle).slice(1, -1);
    check("(instr(lower(common_name), ?) > 0 OR instr(lower(sans), ?) > 0 OR instr(lower(subject_names), ?) > 0)", needle, inJson, inJson);
  }
  const until = filter.expiringWithinMs === undefined ? undefined : new Date(now.getTime() + filter.expiringWithinMs).toISOString();
  if (until !== undefined) check("expiry > ? AND expiry <= ?", nowText, until);
  if (filter.issuedAfter) check("issued_at >= ?", filter.issuedAfter.toISOString());
  if (filter.issuedBefore) check("issued_at < ?", filter.issuedBefore.toISOString());

  const where: string[] = [];
  const params: (string | number)[] = [];
  const bound = (clause: string, ...values: (string | number)[]) => {
    where.push(clause);
    params.push(...values);
  };
  const statusKey = filter.status === "revoked" ? "revoked" : filter.status === undefined ? undefined : "good";
  const cursorKey = cursor ? new Date(cursor.keyMs).toISOString() : undefined;
  let order: InventoryOrder;
  let index: string;
  let orderBy: string;
  if (until !== undefined || filter.status === "expired") {
    const column = "expiry";
    if (statusKey !== undefined) {
      index = "certificates_status_expiry";
      bound("status = ?", statusKey);
    } else {
      index = "certificates_expiry";
    }
    if (until !== undefined) {
      order = "expiring";
      orderBy = "expiry ASC, rowid ASC";
      // One bound on each side, the tighter of the filter's and the cursor's: with two, SQLite
      // could walk from the looser one and filter its way to the cursor, page after page.
      if (cursorKey !== undefined && cursorKey >= nowText && cursor!.order === order) {
        bound(`${column} >= ? AND (${column} > ? OR rowid > ?)`, cursorKey, cursorKey, cursor!.id);
      } else {
        bound(`${column} > ?`, nowText);
      }
      bound(`${column} <= ?`, until);
    } else {
      order = "expired";
      orderBy = "expiry DESC, rowid DESC";
      if (cursorKey !== undefined && cursorKey <= nowText && cursor!.order === order) {
        bound(`${column} <= ? AND (${column} < ? OR rowid < ?)`, cursorKey, cursorKey, cursor!.id);
      } else {
        bound(`${column} <= ?`, nowText);
      }
    }
  } else {
    order = "newest";
    orderBy = "issued_at DESC, rowid DESC";
    if (filter.profile !== undefined) {
      index = "certificates_profile_issued";
      bound("profile = ?", filter.profile);
    } else if (statusKey !== undefined) {
      index = "certificates_status_issued";
      bound("status = ?", statusKey);
    } else {
      index = "certificates_issued";
    }
    const before = filter.issuedBefore?.toISOString();
    if (cursorKey !== undefined && cursor!.order === order && (before === undefined || cursorKey < before)) {
      bound("issued_at <= ? AND (issued_at < ? OR rowid < ?)", cursorKey, cursorKey, cursor!.id);
    } else if (before !== undefined) {
      bound("issued_at < ?", before);
    }
    if (filter.issuedAfter) bound("issued_at >= ?", filter.issuedAfter.toISOString());
  }
  const keyColumn = order === "newest" ? "issued_at" : "expiry";
  const hit = checks.length > 0 ? `(${checks.join(" AND ")})` : "1";
  const sql = `SELECT rowid, ${keyColumn}, ${hit} FROM certificates INDEXED BY ${index}
    ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY ${orderBy}`;
  return { sql, params: [...checkParams, ...params], order };
}

/** A revoked certificate as a CRL lists it: serial in decimal, the time and the RFC 5280 reason code. */
export interface RevokedEntry {
  serialNumber: string;
  revokedAt: Date;
  reason: number;
}

export type RevokeOutcome = { record: CertificateRecord; alreadyRevoked: boolean } | undefined;

/**
 * The inventory and revocation queries, on the main thread's connection. Revoking and tidying are
 * rare operator acts, so they write here directly; issuance keeps its own writer thread.
 */
export class Inventory {
  private readonly findStatement: Database.Statement;
  private readonly revokeStatement: Database.Statement;
  private readonly revokedStatement: Database.Statement;
  private readonly bumpCrlNumberStatement: Database.Statement;
  private readonly tidyStatement: Database.Statement;
  private readonly countExpiringStatement: Database.Statement;
  private readonly writeProbeStatement: Database.Statement;
  private readonly rowsByIdStatement: Database.Statement;

  /** The database file, for a reader thread to open a connection of its own; undefined in memory. */
  get source(): { kind: "sqlite"; path: string } | undefined {
    return this.db.memory ? undefined : { kind: "sqlite", path: this.db.name };
  }

  constructor(private readonly db: Database.Database) {
    this.findStatement = db.prepare("SELECT rowid AS id, * FROM certificates WHERE serial_number = ? ORDER BY rowid DESC");
    this.revokeStatement = db.prepare(
      `UPDATE certificates SET status = 'revoked', reason = @reason, revoked_at = @revokedAt
       WHERE serial_number = @serialNumber AND authority_key_identifier = @authorityKeyId AND status = 'good'`,
    );
    this.revokedStatement = db.prepare(revokedUnexpiredSql);
    this.bumpCrlNumberStatement = db.prepare(
      `INSERT INTO crl_numbers (authority_key_identifier, last_number) VALUES (?, 1)
       ON CONFLICT (authority_key_identifier) DO UPDATE SET last_number = last_number + 1
       RETURNING last_number`,
    );
    this.tidyStatement = db.prepare("DELETE FROM certificates WHERE expiry < ?");
    // Answered from the (status, expiry) index: cheap enough for every metrics scrape.
    this.countExpiringStatement = db.prepare("SELECT count(*) AS n FROM certificates WHERE status = 'good' AND expiry > ? AND expiry <= ?");
    // A write that changes nothing (row ids start at 1), so it needs the write lock and a writable file.
    this.writeProbeStatement = db.prepare("UPDATE certificates SET status = status WHERE rowid = 0");
    this.rowsByIdStatement = db.prepare(rowsByIdSql);
  }

  /** How many good (unrevoked) certificates end after `now` and at most `withinMs` later. */
  countExpiring(now: Date, withinMs: number): number {
    const row = this.countExpiringStatement.get(now.toISOString(), new Date(now.getTime() + withinMs).toISOString()) as { n: number };
    return row.n;
  }

  /**
   * Throws unless the database takes a write: a no-op UPDATE in a transaction that is rolled back,
   * so it fails on a closed, read-only or locked (past the busy timeout) database and leaves no trace.
   */
  checkWritable(): void {
    this.db.exec("BEGIN IMMEDIATE");
    try {
      this.writeProbeStatement.run();
    } finally {
      this.db.exec("ROLLBACK");
    }
  }

  /**
   * One page of the certificates that pass the filter, in the order the filter implies (see
   * `InventoryOrder`), after the cursor. At most `scanLimit` rows are read: a page that reaches it
   * first may be short or empty, and its cursor goes on from where it stopped.
   */
  list(filter: InventoryFilter, now: Date, limit: number, cursor?: InventoryCursor, scanLimit = defaultScanLimit): InventoryPage {
    const walk = inventoryWalk(filter, now, cursor);
    const statement = this.db.prepare(walk.sql).raw(true);
    const hits: { id: number; key: string }[] = [];
    let last: { id: number; key: string } | undefined;
    let scanned = 0;
    let more = false;
    for (const [id, key, hit] of statement.iterate(...walk.params) as IterableIterator<[number, string, number | null]>) {
      if (scanned === Math.max(scanLimit, limit + 1)) {
        more = true;
        break;
      }
      scanned++;
      if (hit) {
        // One match beyond the page tells that another page exists.
        if (hits.length === limit) {
          more = true;
          break;
        }
        hits.push({ id, key });
      }
      last = { id, key };
    }
    const rows = hits.length > 0 ? (this.rowsByIdStatement.all(JSON.stringify(hits.map((h) => h.id))) as (CertificateRow & { id: number })[]) : [];
    const byId = new Map(rows.map((row) => [row.id, row]));
    const records = hits.flatMap((h) => {
      const row = byId.get(h.id);
      return row ? [{ ...fromRow(row), id: row.id }] : [];
    });
    const end = hits.length === limit ? hits[hits.length - 1] : last;
    return {
      records,
      nextCursor: more && end ? { order: walk.order, keyMs: new Date(end.key).getTime(), id: end.id } : null,
      scanned,
      scanLimited: more && hits.length < limit,
    };
  }

  /** Every recorded certificate with this decimal serial, whatever CA issued it. */
  findBySerial(serialNumber: string): CertificateRecord[] {
    return (this.findStatement.all(serialNumber) as CertificateRow[]).map(fromRow);
  }

  /**
   * Marks a certificate revoked. Revoking again changes nothing and says so; undefined when no such
   * certificate is recorded.
   */
  revoke(serialNumber: string, authorityKeyId: string, reason: number, at: Date): RevokeOutcome {
    return this.db.transaction((): RevokeOutcome => {
      const changed = this.revokeStatement.run({ serialNumber, authorityKeyId, reason, revokedAt: at.toISOString() }).changes;
      const record = this.findBySerial(serialNumber).find((r) => r.authorityKeyId === authorityKeyId);
      return record ? { record, alreadyRevoked: changed === 0 } : undefined;
    })();
  }

  /** What a CRL must list: the CA's revoked certificates that have not expired yet. */
  revokedUnexpired(authorityKeyId: string, now: Date): RevokedEntry[] {
    const rows = this.revokedStatement.all(authorityKeyId, now.toISOString()) as { serial_number: string; revoked_at: string; reason: number }[];
    return rows.map((row) => ({ serialNumber: row.serial_number, revokedAt: new Date(row.revoked_at), reason: row.reason }));
  }

  /** The CA's next CRL number, committed before the CRL is made, so no number is ever issued twice. */
  nextCrlNumber(authorityKeyId: string): bigint {
    return BigInt((this.bumpCrlNumberStatement.get(authorityKeyId) as { last_number: number }).last_number);
  }

  /** Removes the records of certificates that expired before `expiredBefore`; returns how many. */
  tidy(expiredBefore: Date): number {
    return this.tidyStatement.run(expiredBefore.toISOString()).changes;
  }
}
