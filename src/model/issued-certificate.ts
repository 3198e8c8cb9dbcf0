import type { SignedCertificate } from "../pki/certificate.js";
import { commonNameOid, emailAddressOid } from "../pki/subject.js";

/**
 * A certificate this service issued: the one shape it has from the signer to the database to the
 * wire. A new column is a migration, a field here, its line in the row mapping
 * (store/certificate-row.ts) and its wire field (schemas/wire.ts, filled by toSummary).
 */
export interface IssuedCertificate {
  /** Decimal, as cfssl records and prints serials. */
  serialNumber: string;
  /** Lower-case hex without separators, as cfssl's certdb keys certificates. */
  authorityKeyId: string;
  /** cfssl's CA label of the CA that signed it; the default CA's is empty. */
  caLabel: string;
  profile: string;
  /** The first CN; "" when the subject has none. */
  commonName: string;
  /** The subject's names beyond the first CN: further CN values and email addresses. */
  subjectNames: string[];
  sans: string[];
  notBefore: Date;
  /** Its NotAfter; cfssl's certdb calls the column `expiry`. */
  expiry: Date;
  issuedAt: Date;
  pem: string;
  /** Who asked: an auth key name, a client certificate's CN, or an address; null before it was kept. */
  requestedBy: string | null;
  /** cfssl's certdb column; nothing writes it yet. */
  metadata: string | null;
}

/** An issued certificate as the database holds it: with what became of it since. */
export interface CertificateRecord extends IssuedCertificate {
  status: "good" | "revoked";
  /** RFC 5280 reason code; 0 while good. */
  reason: number;
  revokedAt: Date | null;
}

/** What the authority knows of an issuance that the signer does not: which CA, when, for whom. */
export interface Issuance {
  caLabel: string;
  issuedAt: Date;
  requestedBy: string | null;
}

/** The names a subject carries beyond its first CN (further CNs, email addresses), for the inventory's search. */
function subjectNamesOf(signed: Pick<SignedCertificate, "subjectAttributes" | "commonName">): string[] {
  const names = signed.subjectAttributes.filter((a) => a.oid === commonNameOid || a.oid === emailAddressOid).map((a) => a.value);
  const first = names.indexOf(signed.commonName);
  if (first >= 0 && signed.commonName !== "") names.splice(first, 1);
  return names;
}

/** The issued certificate the database records, from what the signer made and the issuance's facts. */
export function issuedCertificate(signed: Omit<SignedCertificate, "der" | "warnings">, issuance: Issuance): IssuedCertificate {
  return {
    serialNumber: signed.serialNumber,
    authorityKeyId: signed.authorityKeyId,
    caLabel: issuance.caLabel,
    profile: signed.profile,
    commonName: signed.commonName,
    subjectNames: subjectNamesOf(signed),
    sans: signed.sans,
    notBefore: signed.notBefore,
    expiry: signed.notAfter,
    issuedAt: issuance.issuedAt,
    pem: signed.pem,
    requestedBy: issuance.requestedBy,
    metadata: null,
  };
}
