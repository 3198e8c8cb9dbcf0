import { X509Certificate as NodeCertificate } from "node:crypto";
import { issuersToSend, type CaChain } from "./chain.js";
import { signatureAlgorithmName } from "./describe.js";
import { readName } from "./name.js";
import { x509 } from "./webcrypto.js";

/** cfssl's bundle status: how its bundler judged the chain. */
export interface BundleStatus {
  rebundled: boolean;
  expiring_SKIs: string[];
  untrusted_root_stores: string[];
  messages: string[];
  code: number;
}

/** cfssl's bundle (bundler.Bundle as its MarshalJSON writes it), for a certificate this CA issued. */
export interface CertificateBundle {
  /** The leaf, then the issuing CA and the certificates above it, the root left out; PEM. */
  bundle: string;
  /** The root the chain ends in, PEM; "" when this service was not given it. */
  root: string;
  /** The leaf, PEM. */
  crt: string;
  /** The leaf's private key when this service made it (newcert); "" otherwise. */
  key: string;
  key_type: string;
  key_size: number;
  issuer: string;
  subject: string;
  /** When the first certificate of `bundle` expires: the bundle's end. */
  expires: string;
  leaf_expires: string;
  hostnames: string[];
  ocsp_support: boolean;
  crl_support: boolean;
  ocsp: string[] | null;
  signature: string;
  status: BundleStatus;
}

/** cfssl's bundler warns of certificates expiring within 30 days (720 hours). */
const expiringMs = 720 * 3_600_000;

/** The names cfssl's bundler gives attribute types, by the last arc of 2.5.4.x. */
const goNames = new Map<string, string>([
  ["2.5.4.3", "CommonName"],
  ["2.5.4.5", "SerialNumber"],
  ["2.5.4.6", "Country"],
  ["2.5.4.7", "Locality"],
  ["2.5.4.8", "Province"],
  ["2.5.4.9", "StreetAddress"],
  ["2.5.4.10", "Organization"],
  ["2.5.4.11", "OrganizationalUnit"],
  ["2.5.4.17", "PostalCode"],
]);

/** A name as cfssl's bundle writes it: `/CommonName=x/Organization=y`, every attribute in order. */
function goNameText(der: ArrayBuffer): string {
  return readName(new Uint8Array(der))
    .rdns.flat()
    .map((attribute) => `/${goNames.get(attribute.oid) ?? ""}=${attribute.value}`)
    .join("");
}

/** Go's time.Time in JSON: RFC 3339, no fractional seconds when there are none. */
function goTime(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, "Z");
}

/** cfssl's key_type and key_size (Go's helpers.KeyLength: modulus or curve bits, 0 for Ed25519). */
function keyTypeOf(pem: string): { type: string; size: number } {
  const key = new NodeCertificate(pem).publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "rsa":
    case "rsa-pss": {
      const size = details.modulusLength ?? 0;
      return { type: `${size}-bit RSA`, size };
    }
    case "ec": {
      const size = { prime256v1: 256, secp384r1: 384, secp521r1: 521 }[details.namedCurve as string] ?? 0;
      return { type: `${size}-bit ECDSA`, size };
    }
    case "ed25519":
      return { type: "Ed25519", size: 0 };
    default:
      return { type: "Unknown", size: 0 };
  }
}

/** cfssl trims the PEM it writes in a bundle: no newline at the end. */
function trimmed(pem: string): string {
  return pem.trim();
}

/**
 * cfssl's bundle for `leafPem`, issued by `chain.ca`. Like cfssl's bundler, `bundle` leaves the
 * root out (a client that trusts it has it already); unlike it, nothing is fetched or judged
 * against platform root stores, so `untrusted_root_stores` is always empty. `now` decides which
 * certificates are expiring (within 30 days, as cfssl warns).
 */
export function certificateBundle(leafPem: string, chain: CaChain, keyPem: string | undefined, now: Date): CertificateBundle {
  const leaf = new x509.X509Certificate(leafPem);
  const issuers = issuersToSend(chain);
  const pems = [leafPem, ...issuers].map(trimmed);
  const certificates = [leaf, ...issuers.map((pem) => new x509.X509Certificate(pem))];
  const expiring = certificates.flatMap((certificate, index) => (certificate.notAfter.getTime() - now.getTime() < expiringMs ? [index] : []));
  const messages: string[] = [];
  if (expiring.length > 0) {
    messages.push(
      `The bundle is expiring within 30 days. The expiring cert${expiring.length > 1 ? "s are" : " is"} ${expiring.map((index) => `#${index + 1}`).join(" ")} in the chain.`,
    );
  }
  if (chain.root === undefined) {
    messages.push("The root is not known to this service (give it as the last certificate of --ca-bundle): clients must have it already.");
  }
  const skiOf = (certificate: x509.X509Certificate) => certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId.toUpperCase() ?? "";
  const cn = leaf.subjectName.getField("2.5.4.3")[0];
  const dnsNames = (leaf.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? []).filter((name) => name.type === "dns").map((name) => name.value);
  const ocsp = (leaf.getExtension(x509.AuthorityInfoAccessExtension)?.ocsp ?? []).filter((name) => name.type === "url").map((name) => name.value);
  const { type, size } = keyTypeOf(leafPem);
  return {
    bundle: pems.join("\n"),
    root: trimmed(chain.root ?? ""),
    crt: pems[0]!,
    key: trimmed(keyPem ?? ""),
    key_type: type,
    key_size: size,
    issuer: goNameText(leaf.issuerName.toArrayBuffer()),
    subject: goNameText(leaf.subjectName.toArrayBuffer()),
    expires: goTime(new Date(Math.min(...certificates.map((certificate) => certificate.notAfter.getTime())))),
    leaf_expires: goTime(leaf.notAfter),
    hostnames: [...new Set([...(cn ? [cn] : []), ...dnsNames])],
    ocsp_support: ocsp.length > 0,
    crl_support: leaf.getExtension(x509.CRLDistributionPointsExtension) !== null,
    ocsp: ocsp.length > 0 ? ocsp : null,
    signature: signatureAlgorithmName(leaf.signatureAlgorithm),
    status: { rebundled: false, expiring_SKIs: expiring.map((index) => skiOf(certificates[index]!)), untrusted_root_stores: [], messages, code: expiring.length > 0 ? 1 : 0 },
  };
}
