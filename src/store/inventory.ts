import type Database from "better-sqlite3";
import { fromRow, type CertificateRecord, type Row } from "./certificate-store.js";

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

/** A page of the inventory, newest first; `nextCursor` is null on the last page. */
export interface InventoryPage {
  records: (CertificateRecord & { id: number })[];
  nextCursor: number | null;
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

  constructor(private readonly db: Database.Database) {
    this.findStatement = db.prepare("SELECT rowid AS id, * FROM certificates WHERE serial_number = ? ORDER BY rowid DESC");
    this.revokeStatement = db.prepare(
      `UPDATE certificates SET status = 'revoked', reason = @reason, revoked_at = @revokedAt
       WHERE serial_number = @serialNumber AND authority_key_identifier = @authorityKeyId AND status = 'good'`,
    );
    this.revokedStatement = db.prepare(
      `SELECT serial_number, revoked_at, reason FROM certificates
       WHERE authority_key_identifier = ? AND status = 'revoked' AND expiry > ? ORDER BY rowid`,
    );
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

  /** One page of the certificates that pass the filter, newest first, after the cursor (a row id). */
  list(filter: InventoryFilter, now: Date, limit: number, cursor?: number): InventoryPage {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const add = (clause: string, ...values: (string | number)[]) => {
      where.push(clause);
      params.push(...values);
    };
    const nowText = now.toISOString();
    if (filter.status === "revoked") add("status = 'revoked'");
    if (filter.status === "good") add("status = 'good' AND expiry > ?", nowText);
    if (filter.status === "expired") add("status = 'good' AND expiry <= ?", nowText);
    if (filter.profile !== undefined) add("profile = ?", filter.profile);
    if (filter.label !== undefined) add("ca_label = ?", filter.label);
    if (filter.text !== undefined) {
      // instr, not LIKE: what the operator types is text, never a pattern. SANs are stored as JSON.
      const needle = filter.text.toLowerCase();
      add("(instr(lower(common_name), ?) > 0 OR instr(lower(sans), ?) > 0)", needle, JSON.stringify(needle).slice(1, -1));
    }
    if (filter.expiringWithinMs !== undefined) {
      add("expiry > ? AND expiry <= ?", nowText, new Date(now.getTime() + filter.expiringWithinMs).toISOString());
    }
    if (filter.issuedAfter) add("issued_at >= ?", filter.issuedAfter.toISOString());
    if (filter.issuedBefore) add("issued_at < ?", filter.issuedBefore.toISOString());
    if (cursor !== undefined) add("rowid < ?", cursor);
    const sql = `SELECT rowid AS id, * FROM certificates ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY rowid DESC LIMIT ?`;
    // One row more than asked tells whether another page exists.
    const rows = this.db.prepare(sql).all(...params, limit + 1) as (Row & { id: number })[];
    const page = rows.slice(0, limit).map((row) => ({ ...fromRow(row), id: row.id }));
    return { records: page, nextCursor: rows.length > limit ? page[page.length - 1]!.id : null };
  }

  /** Every recorded certificate with this decimal serial, whatever CA issued it. */
  findBySerial(serialNumber: string): CertificateRecord[] {
    return (this.findStatement.all(serialNumber) as Row[]).map(fromRow);
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
