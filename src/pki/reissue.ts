import { randomSerial, serialDecimal, signTbs, type CertificateAuthority } from "./certificate.js";
import { children, readWhole, sequence, Tag, unsignedInteger } from "./der.js";
import { signatureAlgorithmFor } from "./keys.js";
import { decodePemBlock, encodePem } from "./pem.js";

/**
 * The same certificate under a fresh serial, signed again by `ca`: what a serial collision in the
 * database calls for (112 random bits make one all but impossible). Everything else in the
 * TBSCertificate, the validity included, stays as it was decided the first time.
 */
export function withFreshSerial(ca: CertificateAuthority, certificatePem: string): { pem: string; der: Uint8Array; serialNumber: string } {
  const der = decodePemBlock(certificatePem, ["CERTIFICATE"]);
  if (!der) throw new Error("withFreshSerial: not a PEM certificate");
  const [tbs] = children(readWhole(der, Tag.sequence).value);
  const [version, , ...rest] = children(tbs!.value);
  const serial = randomSerial();
  const reissued = signTbs(sequence(version!.raw, unsignedInteger(serial), ...rest.map((part) => part.raw)), signatureAlgorithmFor(ca.key.spec).identifier, ca.key);
  return { pem: encodePem("CERTIFICATE", reissued), der: reissued, serialNumber: serialDecimal(serial) };
}
