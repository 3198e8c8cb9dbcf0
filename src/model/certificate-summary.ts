import { reasonName, serialToHex } from "../pki/revocation.js";
import type { CertificateSummary } from "../schemas/wire.js";
import type { CertificateRecord } from "./issued-certificate.js";

function statusOf(record: CertificateRecord, now: Date): "good" | "revoked" | "expired" {
  if (record.status === "revoked") return "revoked";
  return record.expiry.getTime() <= now.getTime() ? "expired" : "good";
}

/** A record as the inventory and revoke answer it (the wire's CertificateSummary); the PEM only when one certificate is asked for. */
export function toSummary(record: CertificateRecord, now: Date, withPem = false): CertificateSummary {
  const serial = BigInt(record.serialNumber);
  return {
    serial_number: record.serialNumber,
    serial_hex: serialToHex(serial),
    authority_key_id: record.authorityKeyId,
    ca_label: record.caLabel,
    profile: record.profile,
    status: statusOf(record, now),
    ...(record.status === "revoked" ? { reason: reasonName(record.reason), revoked_at: record.revokedAt?.toISOString() ?? null } : {}),
    common_name: record.commonName,
    sans: record.sans,
    ...(record.subjectNames.length > 0 ? { subject_names: record.subjectNames } : {}),
    not_before: record.notBefore.toISOString(),
    not_after: record.expiry.toISOString(),
    issued_at: record.issuedAt.toISOString(),
    requested_by: record.requestedBy,
    ...(withPem ? { pem: record.pem } : {}),
  };
}
