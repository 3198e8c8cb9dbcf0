import type pg from "pg";
import type { CertificateRecord, IssuedCertificate } from "../../model/issued-certificate.js";
import { fromRow, insertColumns, insertValues } from "../certificate-row.js";
import { DuplicateSerialError } from "../certificate-store.js";
import { textRow } from "./inventory.js";

const columnCount = insertColumns.split(",").length;

/** The certificates table on PostgreSQL: what the writer and the lookups by serial need. */
export class PostgresCertificates {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Commits the batch as one transaction (one fsync for all, as SQLite's group commit does). A
   * serial already recorded, by this replica or another, is skipped and reported for that record
   * alone, so the caller re-signs it under a fresh serial while the others stand.
   */
  async insertMany(records: readonly IssuedCertificate[]): Promise<(DuplicateSerialError | undefined)[]> {
    if (records.length === 0) return [];
    const values: unknown[] = [];
    const tuples = records.map((record, row) => {
      values.push(...insertValues(record));
      return `(${Array.from({ length: columnCount }, (_, column) => `$${row * columnCount + column + 1}`).join(", ")})`;
    });
    const { rows } = await this.pool.query<{ serial_number: string; authority_key_identifier: string }>(
      `INSERT INTO certificates (${insertColumns}) VALUES ${tuples.join(", ")}
       ON CONFLICT (serial_number, authority_key_identifier) DO NOTHING
       RETURNING serial_number, authority_key_identifier`,
      values,
    );
    const inserted = new Set(rows.map((row) => `${row.serial_number}/${row.authority_key_identifier}`));
    const seen = new Set<string>();
    return records.map((record) => {
      const key = `${record.serialNumber}/${record.authorityKeyId}`;
      // A serial given twice in one batch is inserted once: the second is the duplicate.
      const fresh = inserted.has(key) && !seen.has(key);
      seen.add(key);
      return fresh ? undefined : new DuplicateSerialError(`serial ${record.serialNumber} is recorded already`);
    });
  }

  async get(serialNumber: string, authorityKeyId: string): Promise<CertificateRecord | undefined> {
    const { rows } = await this.pool.query("SELECT * FROM certificates WHERE serial_number = $1 AND authority_key_identifier = $2", [serialNumber, authorityKeyId]);
    return rows[0] === undefined ? undefined : fromRow(textRow(rows[0]));
  }

  async count(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>("SELECT count(*) AS n FROM certificates");
    return Number(rows[0]?.n ?? 0);
  }
}
