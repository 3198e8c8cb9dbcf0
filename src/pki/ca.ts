import { createPublicKey } from "node:crypto";
import type { CertificateAuthority } from "./certificate.js";
import { children, DerError, expectTag, readWhole, Tag, type Element } from "./der.js";
import { keyIdentifier, oids, readExtensions } from "./extensions.js";
import { loadPrivateKey, type PrivateKey } from "./keys.js";
import { decodePemBlock, encodePem } from "./pem.js";

/** UTCTime (YYMMDDHHMMSSZ, 1950-2049) or GeneralizedTime (YYYYMMDDHHMMSSZ). */
export function readTime(element: Element | undefined): Date {
  const text = Buffer.from(element?.value ?? []).toString("latin1");
  const match =
    element?.tag === Tag.utcTime
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
      : element?.tag === Tag.generalizedTime
        ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
        : null;
  if (!match) throw new DerError(`not a DER time: ${text}`);
  let year = Number(match[1]);
  if (element!.tag === Tag.utcTime) year += year < 50 ? 2000 : 1900;
  return new Date(Date.UTC(year, Number(match[2]) - 1, Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6])));
}

/** The parts of a CA certificate issuance (and a chain's check) needs, read from its DER. */
export function readCaCertificate(der: Uint8Array) {
  const [tbs] = children(readWhole(der, Tag.sequence).value);
  const fields = children(expectTag(tbs, Tag.sequence, "tbsCertificate").value);
  const at = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] version, absent in v1 certificates
  const [notBefore, notAfter] = children(expectTag(fields[at + 3], Tag.sequence, "validity").value);
  const subject = expectTag(fields[at + 4], Tag.sequence, "subject");
  const spki = expectTag(fields[at + 5], Tag.sequence, "subjectPublicKeyInfo");
  const extensionsField = fields.slice(at + 6).find((field) => field.tag === 0xa3);
  const extensions = extensionsField ? readExtensions(children(extensionsField.value)[0]!.raw) : [];
  let isCa = false;
  let pathLength: number | undefined;
  let subjectKeyId: Uint8Array | undefined;
  for (const extension of extensions) {
    if (extension.id === oids.basicConstraints) {
      for (const part of children(readWhole(extension.value, Tag.sequence).value)) {
        if (part.tag === Tag.boolean) isCa = part.value[0] !== 0;
        if (part.tag === Tag.integer) pathLength = part.value.reduce((n, b) => n * 256 + b, 0);
      }
    }
    if (extension.id === oids.subjectKeyId) subjectKeyId = readWhole(extension.value, Tag.octetString).value;
  }
  return {
    notBefore: readTime(notBefore),
    notAfter: readTime(notAfter),
    subject: new Uint8Array(subject.raw),
    spki: new Uint8Array(spki.raw),
    isCa,
    pathLength,
    subjectKeyId,
  };
}

/**
 * Opens a CA key held outside the process (a PKCS#11 module) for the certificate whose DER
 * SubjectPublicKeyInfo it is given; throws a plain Error when the key does not belong to it.
 */
export type KeyOpener = (certificateSpki: Uint8Array) => PrivateKey;

/**
 * Loads a CA from its certificate and key PEM (RSA, ECDSA or Ed25519; PKCS#1, SEC1 or PKCS#8), as
 * `cfssl serve -ca -ca-key` does. Throws a plain Error saying what is wrong with which part; the
 * caller adds the file names. A CA that is expired at `now`, or not valid yet, is refused: whatever
 * it signed would not verify. In place of the key PEM, a KeyOpener opens a key held in a module.
 */
export async function loadCertificateAuthority(
  certificatePem: string,
  keyPem: string | KeyOpener,
  label = "",
  now: Date = new Date(),
): Promise<CertificateAuthority> {
  const der = decodePemBlock(certificatePem, ["CERTIFICATE"]);
  if (!der) throw new Error("CA certificate: no PEM \"CERTIFICATE\" block found");
  let certificate: ReturnType<typeof readCaCertificate>;
  try {
    certificate = readCaCertificate(der);
  } catch (cause) {
    throw new Error("CA certificate: not a valid X.509 certificate", { cause });
  }
  if (!certificate.isCa) {
    throw new Error("CA certificate: it is not a CA certificate (basic constraints CA:TRUE is missing)");
  }
  if (now.getTime() > certificate.notAfter.getTime()) {
    throw new Error(`CA certificate: it expired on ${certificate.notAfter.toISOString()}; renew the CA or pass another with --ca and --ca-key`);
  }
  if (now.getTime() < certificate.notBefore.getTime()) {
    throw new Error(`CA certificate: it is not valid until ${certificate.notBefore.toISOString()}; check this machine's clock or the CA's NotBefore`);
  }
  let key: PrivateKey;
  try {
    key = typeof keyPem === "string" ? loadPrivateKey(keyPem) : keyPem(certificate.spki);
  } catch (error) {
    throw new Error(`CA key: ${(error as Error).message}`, { cause: error });
  }
  const keySpki = key.sign ? key.spki : createPublicKey(key.keyObject).export({ format: "der", type: "spki" });
  if (!Buffer.from(certificate.spki).equals(keySpki)) {
    throw new Error("CA key: it does not belong to the CA certificate (their public keys differ)");
  }
  return {
    label,
    pem: encodePem("CERTIFICATE", der),
    key,
    subjectDer: certificate.subject,
    notAfter: certificate.notAfter,
    subjectKeyId: Buffer.from(certificate.subjectKeyId ?? keyIdentifier(certificate.spki)).toString("hex"),
    pathLength: certificate.pathLength,
  };
}
