import type Database from "better-sqlite3";
import { openDatabase } from "./database.js";

/** One row of the `certificates` table, as the service writes it. */
export interface CertificateRecord {
  serialNumber: string;
  authorityKeyId: string;
  caLabel: string;
  profile: string;
  status: "good" | "revoked";
  reason: number;
  expiry: Date;
  revokedAt: Date | null;
  pem: string;
  issuedAt: Date;
  notBefore: Date;
  metadata: string | null;
  sans: string[];
  commonName: string;
  /** The subject's names beyond the first CN: further CN values and email addresses. */
  subjectNames: string[];
  /** Who asked: an auth key name, a client certificate's CN, or an address; null before it was kept. */
  requestedBy: string | null;
}

export type NewCertificate = Omit<CertificateRecord, "status" | "reason" | "revokedAt" | "requestedBy" | "subjectNames"> & {
  requestedBy?: string | null;
  subjectNames?: string[];
};

export interface Row {
  serial_number: string;
  authority_key_identifier: string;
  ca_label: string;
  profile: string;
  status: "good" | "revoked";
  reason: number;
  expiry: string;
  revoked_at: string | null;
  pem: string;
  issued_at: string;
  not_before: string;
  metadata: string | null;
  sans: string;
  common_name: string;
  subject_names: string;
  requested_by: string | null;
}

export function fromRow(row: Row): CertificateRecord {
  return {
    serialNumber: row.serial_number,
    authorityKeyId: row.authority_key_identifier,
    caLabel: row.ca_label,
    profile: row.profile,
    status: row.status,
    reason: row.reason,
    expiry: new Date(row.expiry),
    revokedAt: row.revoked_at ? new Date(row.revoked_at) : null,
    pem: row.pem,
    issuedAt: new Date(row.issued_at),
    notBefore: new Date(row.not_before),
    metadata: row.metadata,
    sans: JSON.parse(row.sans) as string[],
    commonName: row.common_name,
    subjectNames: JSON.parse(row.subject_names ?? "[]") as string[],
    requestedBy: row.requested_by,
  };
}

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
      `INSERT INTO certificates (serial_number, authority_key_identifier, ca_label, profile, expiry, pem, issued_at,
         not_before, metadata, sans, common_name, requested_by, subject_names)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.getStatement = db.prepare(
      "SELECT * FROM certificates WHERE serial_number = ? AND authority_key_identifier = ?",
    );
    this.countStatement = db.prepare("SELECT count(*) AS n FROM certificates");
    this.insertManyTransaction = db.transaction((records: readonly NewCertificate[]) =>
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
  insert(record: NewCertificate): void {
    this.insertRow(record);
  }

  /**
   * Records several certificates in one transaction, so one fsync covers them all. Each entry of
   * the result is undefined (recorded) or the DuplicateSerialError of that row; any other failure,
   * the commit's included, throws and records none of them.
   */
  insertMany(records: readonly NewCertificate[]): (DuplicateSerialError | undefined)[] {
    return this.insertManyTransaction(records);
  }

  private readonly insertManyTransaction: (records: readonly NewCertificate[]) => (DuplicateSerialError | undefined)[];

  private insertRow(record: NewCertificate): void {
    try {
      // Positional parameters: binding by name costs a lookup per column on every row.
      this.insertStatement.run(
        record.serialNumber,
        record.authorityKeyId,
        record.caLabel,
        record.profile,
        record.expiry.toISOString(),
        record.pem,
        record.issuedAt.toISOString(),
        record.notBefore.toISOString(),
        record.metadata,
        JSON.stringify(record.sans),
        record.commonName,
        record.requestedBy ?? null,
        record.subjectNames?.length ? JSON.stringify(record.subjectNames) : "[]",
      );
    } catch (error) {
      if ((error as { code?: string }).code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
        throw new DuplicateSerialError(`serial ${record.serialNumber} is recorded already`, { cause: error });
      }
      throw error;
    }
  }

  get(serialNumber: string, authorityKeyId: string): CertificateRecord | undefined {
    const row = this.getStatement.get(serialNumber, authorityKeyId.toLowerCase()) as Row | undefined;
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
