import type Database from "better-sqlite3";
import type { CertificateRecord, IssuedCertificate } from "../model/issued-certificate.js";
import { fromRow, insertColumns, insertValues, type CertificateRow } from "./certificate-row.js";
import { openDatabase } from "./database.js";

/** The (serial, authority key id) pair is recorded already: the caller should pick another serial. */
export class DuplicateSerialError extends Error {
  override name = "DuplicateSerialError";
}

/** The certificate database: the few queries the service needs. */
export class CertificateStore {
  private readonly insertStatement: Database.Statement;
  private readonly getStatement: Database.Statement;
  private readonly countStatement: Database.Statement;

  constructor(readonly db: Database.Database) {
    this.insertStatement = db.prepare(
      `INSERT INTO certificates (${insertColumns}) VALUES (${insertColumns.split(",").map(() => "?").join(", ")})`,
    );
    this.getStatement = db.prepare(
      "SELECT * FROM certificates WHERE serial_number = ? AND authority_key_identifier = ?",
    );
    this.countStatement = db.prepare("SELECT count(*) AS n FROM certificates");
    this.insertManyTransaction = db.transaction((records: readonly IssuedCertificate[]) =>
      records.map((record) => {
        try {
          this.insertRow(record);
          return undefined;
        } catch (error) {
          if (error instanceof DuplicateSerialError) return error;
          throw error;
        }
      }),
    );
  }

  static open(path: string): CertificateStore {
    return new CertificateStore(openDatabase(path));
  }

  /**
   * Records an issued certificate; when this returns, the row is committed to disk. Throws
   * DuplicateSerialError when the serial is taken under the same authority key id.
   */
  insert(record: IssuedCertificate): void {
    this.insertRow(record);
  }

  /**
   * Records several certificates in one transaction, so one fsync covers them all. Each entry of
   * the result is undefined (recorded) or the DuplicateSerialError of that row; any other failure,
   * the commit's included, throws and records none of them.
   */
  insertMany(records: readonly IssuedCertificate[]): (DuplicateSerialError | undefined)[] {
    return this.insertManyTransaction(records);
  }

  private readonly insertManyTransaction: (records: readonly IssuedCertificate[]) => (DuplicateSerialError | undefined)[];

  private insertRow(record: IssuedCertificate): void {
    try {
      this.insertStatement.run(...insertValues(record));
    } catch (error) {
      if ((error as { code?: string }).code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
        throw new DuplicateSerialError(`serial ${record.serialNumber} is recorded already`, { cause: error });
      }
      throw error;
    }
  }

  get(serialNumber: string, authorityKeyId: string): CertificateRecord | undefined {
    const row = this.getStatement.get(serialNumber, authorityKeyId.toLowerCase()) as CertificateRow | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** A pragma's value on this connection (journal_mode, synchronous...). */
  pragma(name: string): unknown {
    return this.db.pragma(name, { simple: true });
  }

  count(): number {
    return (this.countStatement.get() as { n: number }).n;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
