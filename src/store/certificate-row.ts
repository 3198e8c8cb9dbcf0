import type { CertificateRecord, IssuedCertificate } from "../model/issued-certificate.js";

/** One row of the `certificates` table as SQLite answers it: times as ISO text, lists as JSON. */
export interface CertificateRow {
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

/** The columns an issued certificate fills; status, reason and revoked_at keep their defaults until it is revoked. */
export const insertColumns =
  "serial_number, authority_key_identifier, ca_label, profile, expiry, pem, issued_at, not_before, metadata, sans, common_name, requested_by, subject_names";

/** An issued certificate's values in the order of insertColumns. Positional: binding by name costs a lookup per column on every row. */
export function insertValues(certificate: IssuedCertificate): unknown[] {
  return [
    certificate.serialNumber,
    certificate.authorityKeyId,
    certificate.caLabel,
    certificate.profile,
    certificate.expiry.toISOString(),
    certificate.pem,
    certificate.issuedAt.toISOString(),
    certificate.notBefore.toISOString(),
    certificate.metadata,
    JSON.stringify(certificate.sans),
    certificate.commonName,
    certificate.requestedBy,
    certificate.subjectNames.length > 0 ? JSON.stringify(certificate.subjectNames) : "[]",
  ];
}

export function fromRow(row: CertificateRow): CertificateRecord {
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
