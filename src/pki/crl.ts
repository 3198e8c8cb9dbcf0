import { authorityKeyIdExtensionOf, signTbs, signTbsAsync, type CertificateAuthority } from "./certificate.js";
import { bigInteger, enumerated, explicit, sequence, smallInteger, time } from "./der.js";
import { extension } from "./extensions.js";
import { signatureAlgorithmFor } from "./keys.js";
import { reasonName } from "./revocation.js";

const crlNumberOid = "2.5.29.20";
const reasonCodeOid = "2.5.29.21";

export interface RevokedEntry {
  serial: bigint;
  revokedAt: Date;
  /** An RFC 5280 reason code (see revocation.ts); 0, unspecified, writes no reasonCode extension. */
  reason: number;
}

export interface CrlInput {
  /** Must grow with each CRL the CA publishes (RFC 5280 5.2.3), so relying parties keep the newest. */
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  /** Written in the order given. */
  revoked: readonly RevokedEntry[];
}

function revokedCertificate(entry: RevokedEntry): Uint8Array {
  reasonName(entry.reason); // refuses codes that are not reasons (7, out of range) before they are signed
  // RFC 5280 5.3.1: the reasonCode extension should be absent rather than say "unspecified".
  const extensions = entry.reason === 0 ? [] : [sequence(extension(reasonCodeOid, false, enumerated(entry.reason)))];
  return sequence(bigInteger(entry.serial), time(entry.revokedAt), ...extensions);
}

/**
 * A v2 CRL (DER CertificateList) signed by `ca`, with the signature algorithm its key implies,
 * the CA's subject as issuer byte for byte (so path building matches it), an authority key id and
 * a CRL number. revokedCertificates is left out when nothing is revoked, as RFC 5280 5.1.2.6 asks.
 */
export function buildCrl(ca: CertificateAuthority, input: CrlInput): Uint8Array {
  // A CertificateList has the same outer shape as a Certificate: tbs, algorithm, signature bits.
  return signTbs(tbsCertList(ca, input), signatureAlgorithmFor(ca.key.spec).identifier, ca.key);
}

/** buildCrl, with a key in a PKCS#11 module signing off the event loop (see signDataAsync). */
export function buildCrlAsync(ca: CertificateAuthority, input: CrlInput): Promise<Uint8Array> {
  return signTbsAsync(tbsCertList(ca, input), signatureAlgorithmFor(ca.key.spec).identifier, ca.key);
}

function tbsCertList(ca: CertificateAuthority, input: CrlInput): Uint8Array {
  const signatureAlgorithm = signatureAlgorithmFor(ca.key.spec).identifier;
  return sequence(
    smallInteger(1), // v2: needed for extensions
    signatureAlgorithm,
    ca.subjectDer,
    time(input.thisUpdate),
    time(input.nextUpdate),
    ...(input.revoked.length > 0 ? [sequence(...input.revoked.map(revokedCertificate))] : []),
    explicit(
      0,
      sequence(
        authorityKeyIdExtensionOf(ca),
        extension(crlNumberOid, false, bigInteger(input.crlNumber)),
      ),
    ),
  );
}
