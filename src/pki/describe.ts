import { CertwrightError } from "../errors.js";
import { decodePemBlock, encodePem, formatKeyId } from "./pem.js";
import { x509 } from "./webcrypto.js";

/** cfssl's certinfo name: the usual attributes joined by commas, and every value in order. */
export interface NameInfo {
  common_name?: string;
  serial_number?: string;
  country?: string;
  organization?: string;
  organizational_unit?: string;
  locality?: string;
  province?: string;
  street_address?: string;
  postal_code?: string;
  names?: string[];
}

/** cfssl's certinfo result. */
export interface CertificateInfo {
  subject: NameInfo;
  issuer: NameInfo;
  serial_number: string;
  sans: string[];
  not_before: string;
  not_after: string;
  sigalg: string;
  authority_key_id: string;
  subject_key_id: string;
  pem: string;
}

const nameFields: [keyof NameInfo, string][] = [
  ["common_name", "2.5.4.3"],
  ["serial_number", "2.5.4.5"],
  ["country", "2.5.4.6"],
  ["organization", "2.5.4.10"],
  ["organizational_unit", "2.5.4.11"],
  ["locality", "2.5.4.7"],
  ["province", "2.5.4.8"],
  ["street_address", "2.5.4.9"],
  ["postal_code", "2.5.4.17"],
];

function describeName(name: x509.Name): NameInfo {
  const info: NameInfo = {};
  for (const [field, oid] of nameFields) {
    const values = name.getField(oid);
    if (values.length > 0) (info as Record<string, string>)[field] = values.join(",");
  }
  const names = name.toJSON().flatMap((rdn) => Object.values(rdn).flat());
  if (names.length > 0) info.names = names;
  return info;
}

/** Go's names for signature algorithms, which cfssl prints. */
export function signatureAlgorithmName(algorithm: x509.HashedAlgorithm | Algorithm): string {
  const hash = "hash" in algorithm ? (typeof algorithm.hash === "string" ? algorithm.hash : algorithm.hash.name) : "";
  const bits = hash.replace(/^SHA-?/i, "");
  switch (algorithm.name.toUpperCase()) {
    case "RSASSA-PKCS1-V1_5":
      return bits === "1" ? "SHA1WithRSA" : `SHA${bits}WithRSA`;
    case "RSA-PSS":
      return `SHA${bits}WithRSAPSS`;
    case "ECDSA":
      return bits === "1" ? "ECDSAWithSHA1" : `ECDSAWithSHA${bits}`;
    case "ED25519":
    case "EDDSA":
      return "Ed25519";
    default:
      return algorithm.name;
  }
}

function sansOf(certificate: x509.X509Certificate): string[] {
  const extension = certificate.getExtension(x509.SubjectAlternativeNameExtension);
  const items = extension?.names.items ?? [];
  const ofType = (type: string) => items.filter((item) => item.type === type).map((item) => item.value);
  return [...ofType("dns"), ...ofType("ip"), ...ofType("email"), ...ofType("url")];
}

/** Parses a PEM certificate, with cfssl's error codes for undecodable (1002) and unparsable (1003) input. */
export function parseCertificatePem(pem: string, field = "certificate"): x509.X509Certificate {
  const der = decodePemBlock(pem, ["CERTIFICATE"]);
  if (!der) {
    throw new CertwrightError("certificateDecodeFailed", `${field}: no PEM block "-----BEGIN CERTIFICATE-----" found`);
  }
  try {
    return new x509.X509Certificate(der);
  } catch (cause) {
    throw new CertwrightError("certificateParseFailed", `${field}: the PEM block is not a valid X.509 certificate`, { cause });
  }
}

/** Describes a certificate as cfssl's certinfo does (serial in decimal, key ids as colon hex). */
export function describeCertificate(certificate: x509.X509Certificate): CertificateInfo {
  const aki = certificate.getExtension(x509.AuthorityKeyIdentifierExtension);
  const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  return {
    subject: describeName(certificate.subjectName),
    issuer: describeName(certificate.issuerName),
    serial_number: BigInt(`0x${certificate.serialNumber}`).toString(10),
    sans: sansOf(certificate),
    not_before: certificate.notBefore.toISOString().replace(/\.000Z$/, "Z"),
    not_after: certificate.notAfter.toISOString().replace(/\.000Z$/, "Z"),
    sigalg: signatureAlgorithmName(certificate.signatureAlgorithm),
    authority_key_id: aki?.keyId ? formatKeyId(Buffer.from(aki.keyId, "hex")) : "",
    subject_key_id: ski ? formatKeyId(Buffer.from(ski.keyId, "hex")) : "",
    pem: encodePem("CERTIFICATE", certificate.rawData),
  };
}
