import { readTime } from "./ca.js";
import { readSans } from "./csr.js";
import { children, expectTag, readWhole, Tag, type Element } from "./der.js";
import { oids, readExtensions } from "./extensions.js";
import { emptySans, type SubjectAltNames } from "./hosts.js";
import { publicKeyFromSpki, type KeySpec } from "./keys.js";
import { readName, type DistinguishedName } from "./name.js";
import { decodePemBlock } from "./pem.js";
import { subjectAttributes, type SubjectAttribute } from "./subject.js";

/** What renewing a certificate needs from it: who it names, its key type and its lifetime. */
export interface CertificateFacts {
  /** The subject as encoded, to be copied into a new CSR as it is. */
  subject: DistinguishedName;
  sans: SubjectAltNames;
  /** The DER SubjectPublicKeyInfo, to check that a private key belongs to it. */
  spki: Uint8Array;
  keySpec: KeySpec;
  /** The serial number as lower-case hex, without leading zeros. */
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * Reads the first PEM certificate of `pem`. Throws a plain Error saying what is wrong (the caller
 * names the file); a key type outside `acceptedKeys` is refused, since no new key of that type
 * could be made for it.
 */
export function readCertificateFacts(pem: string): CertificateFacts {
  const der = decodePemBlock(pem, ["CERTIFICATE"]);
  if (!der) throw new Error("no PEM \"CERTIFICATE\" block found");
  try {
    const { fields, at, extensions } = tbsFields(der);
    const [notBefore, notAfter] = children(expectTag(fields[at + 3], Tag.sequence, "validity").value);
    const subject = readName(expectTag(fields[at + 4], Tag.sequence, "subject").raw);
    const spki = new Uint8Array(expectTag(fields[at + 5], Tag.sequence, "subjectPublicKeyInfo").raw);
    const sans = emptySans();
    for (const extension of extensions) {
      if (extension.id === oids.subjectAltName) readSans(extension.value, sans);
    }
    return {
      subject: { der: new Uint8Array(subject.der), rdns: subject.rdns },
      sans,
      spki,
      keySpec: publicKeyFromSpki(spki).spec,
      serialHex: serialHexOf(fields[at]),
      notBefore: readTime(notBefore),
      notAfter: readTime(notAfter),
    };
  } catch (cause) {
    throw new Error(`not a certificate that can be renewed: ${(cause as Error).message}`, { cause });
  }
}

/** The subject of a DER certificate, every attribute of every RDN (a mutual-TLS client's, for own-names checks). */
export function readCertificateSubject(der: Uint8Array): SubjectAttribute[] {
  const { fields, at } = tbsFields(der);
  return subjectAttributes(readName(expectTag(fields[at + 4], Tag.sequence, "subject").raw));
}

/** The tbsCertificate's fields, where they start after the optional version, and its extensions. */
function tbsFields(der: Uint8Array) {
  const [tbs] = children(readWhole(der, Tag.sequence).value);
  const fields = children(expectTag(tbs, Tag.sequence, "tbsCertificate").value);
  const at = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] version, absent in v1 certificates
  const extensionsField = fields.slice(at + 6).find((field) => field.tag === 0xa3);
  const extensions = extensionsField ? readExtensions(children(extensionsField.value)[0]!.raw) : [];
  return { fields, at, extensions };
}

function serialHexOf(field: Element | undefined): string {
  const serial = expectTag(field, Tag.integer, "serialNumber").value;
  return BigInt(`0x${Buffer.from(serial).toString("hex") || "0"}`).toString(16);
}

/** What revoking a certificate needs from it: its serial and the key id of the CA that issued it. */
export interface CertificateIds {
  /** The serial number as lower-case hex, without leading zeros. */
  serialHex: string;
  /** The authorityKeyIdentifier's keyIdentifier, lower-case hex; undefined when the certificate has none. */
  authorityKeyId: string | undefined;
}

/** Reads the serial and authority key id of the first PEM certificate of `pem`, whatever its key type. */
export function readCertificateIds(pem: string): CertificateIds {
  const der = decodePemBlock(pem, ["CERTIFICATE"]);
  if (!der) throw new Error("no PEM \"CERTIFICATE\" block found");
  try {
    const { fields, at, extensions } = tbsFields(der);
    const aki = extensions.find((extension) => extension.id === oids.authorityKeyId);
    // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL, ... }
    const keyId = aki ? children(readWhole(aki.value, Tag.sequence).value).find((element) => element.tag === 0x80) : undefined;
    return { serialHex: serialHexOf(fields[at]), authorityKeyId: keyId ? Buffer.from(keyId.value).toString("hex") : undefined };
  } catch (cause) {
    throw new Error(`not a readable X.509 certificate: ${(cause as Error).message}`, { cause });
  }
}
