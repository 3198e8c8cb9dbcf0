import { createPublicKey } from "node:crypto";
import type { CertificateAuthority } from "./certificate.js";
import { children, readWhole, Tag } from "./der.js";
import { keyIdentifier } from "./extensions.js";
import { loadPrivateKey } from "./keys.js";
import { decodePemBlock, encodePem } from "./pem.js";
import { x509 } from "./webcrypto.js";

/**
 * Loads a CA from its certificate and key PEM (RSA, ECDSA or Ed25519; PKCS#1, SEC1 or PKCS#8), as
 * `cfssl serve -ca -ca-key` does. Throws a plain Error saying what is wrong with which part; the
 * caller adds the file names. A CA that is expired at `now`, or not valid yet, is refused: whatever
 * it signed would not verify.
 */
export async function loadCertificateAuthority(
  certificatePem: string,
  keyPem: string,
  label = "",
  now: Date = new Date(),
): Promise<CertificateAuthority> {
  const der = decodePemBlock(certificatePem, ["CERTIFICATE"]);
  if (!der) throw new Error("CA certificate: no PEM \"CERTIFICATE\" block found");
  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(der);
  } catch (cause) {
    throw new Error("CA certificate: not a valid X.509 certificate", { cause });
  }
  const constraints = certificate.getExtension(x509.BasicConstraintsExtension);
  if (!constraints?.ca) {
    throw new Error("CA certificate: it is not a CA certificate (basic constraints CA:TRUE is missing)");
  }
  if (now.getTime() > certificate.notAfter.getTime()) {
    throw new Error(`CA certificate: it expired on ${certificate.notAfter.toISOString()}; renew the CA or pass another with --ca and --ca-key`);
  }
  if (now.getTime() < certificate.notBefore.getTime()) {
    throw new Error(`CA certificate: it is not valid until ${certificate.notBefore.toISOString()}; check this machine's clock or the CA's NotBefore`);
  }
  let key;
  try {
    key = loadPrivateKey(keyPem);
  } catch (error) {
    throw new Error(`CA key: ${(error as Error).message}`, { cause: error });
  }
  const certificateSpki = Buffer.from(certificate.publicKey.rawData);
  const keySpki = createPublicKey(key.keyObject).export({ format: "der", type: "spki" });
  if (!certificateSpki.equals(keySpki)) {
    throw new Error("CA key: it does not belong to the CA certificate (their public keys differ)");
  }
  const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  const subjectKeyId = ski ? ski.keyId : Buffer.from(keyIdentifier(certificateSpki)).toString("hex");
  return {
    label,
    pem: encodePem("CERTIFICATE", certificate.rawData),
    key,
    subjectDer: subjectOf(der),
    notAfter: certificate.notAfter,
    subjectKeyId: subjectKeyId.toLowerCase(),
    pathLength: constraints.pathLength,
  };
}

/** The subject Name of a DER certificate, byte for byte, so what the CA issues names it exactly. */
function subjectOf(certificate: Uint8Array): Uint8Array {
  const [tbs] = children(readWhole(certificate, Tag.sequence).value);
  const fields = children(tbs!.value);
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] version, absent in v1 certificates
  return new Uint8Array(fields[offset + 4]!.raw);
}
