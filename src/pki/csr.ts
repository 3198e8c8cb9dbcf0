import { constants, verify, type KeyObject } from "node:crypto";
import { CertwrightError } from "../errors.js";
import { bitString, children, DerError, type Element, expectTag, oid, oidToString, readWhole, sequence, set, smallInteger, Tag, tlv } from "./der.js";
import { extension, generalNames, oids, readExtensions } from "./extensions.js";
import { checkSans, emptySans, sanCount, type SubjectAltNames } from "./hosts.js";
import { publicKeyFromSpki, signatureAlgorithmFor, signData, type KeySpec, type PrivateKey } from "./keys.js";
import { readName, type DistinguishedName } from "./name.js";
import { decodePemBlock, encodePem } from "./pem.js";
import { checkCsrSubject } from "./subject.js";

/** What the service takes from a CSR: its subject, public key and requested SANs. */
export interface ParsedCsr {
  subject: DistinguishedName;
  /** The DER SubjectPublicKeyInfo, copied into the certificate as it is. */
  spki: Uint8Array;
  keySpec: KeySpec;
  sans: SubjectAltNames;
  /** True when the CSR's extension request has basicConstraints with cA TRUE: it asks to be a CA. */
  requestsCa: boolean;
  /** The digest of its signature (Node's name: "sha256", "sha1", "md5"…); null for Ed25519. */
  signatureHash: string | null;
}

/** Makes a PKCS#10 request for `key`, with the SANs in an extension request as cfssl and openssl do. */
export function buildCsr(subject: DistinguishedName, sans: SubjectAltNames, key: PrivateKey): { pem: string; der: Uint8Array } {
  const requested = sanCount(sans) > 0 ? [sequence(oid(oids.extensionRequest), set(sequence(extension(oids.subjectAltName, false, generalNames(sans)))))] : [];
  // attributes [0] IMPLICIT SET OF Attribute
  const info = sequence(smallInteger(0), subject.der, key.spki, tlv(0xa0, ...requested));
  const algorithm = signatureAlgorithmFor(key.spec).identifier;
  const der = sequence(info, algorithm, bitString(signData(key, info)));
  return { pem: encodePem("CERTIFICATE REQUEST", der), der };
}

// MD5 and SHA-1 are read so that a CSR signed with them is refused by name (the profile decides).
const rsaHashes: Record<string, string> = {
  "1.2.840.113549.1.1.4": "md5",
  "1.2.840.113549.1.1.5": "sha1",
  "1.2.840.113549.1.1.14": "sha224",
  "1.2.840.113549.1.1.11": "sha256",
  "1.2.840.113549.1.1.12": "sha384",
  "1.2.840.113549.1.1.13": "sha512",
};
const ecdsaHashes: Record<string, string> = {
  "1.2.840.10045.4.1": "sha1",
  "1.2.840.10045.4.3.1": "sha224",
  "1.2.840.10045.4.3.2": "sha256",
  "1.2.840.10045.4.3.3": "sha384",
  "1.2.840.10045.4.3.4": "sha512",
};
const digestOids: Record<string, string> = {
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.4": "sha224",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

/** Verifies the CSR's self-signature with Node's crypto, by the algorithm it names; says which digest it used. */
function verifySignature(algorithm: Uint8Array, signed: Uint8Array, signature: Uint8Array, key: KeyObject): { valid: boolean; hash: string | null } {
  const [id, params] = children(readWhole(algorithm, Tag.sequence).value);
  const name = oidToString(expectTag(id, Tag.oid, "signature algorithm").value);
  const type = key.asymmetricKeyType;
  const rsaHash = rsaHashes[name];
  const ecdsaHash = ecdsaHashes[name];
  if (rsaHash && type === "rsa") return { valid: verify(rsaHash, signed, key, signature), hash: rsaHash };
  if (ecdsaHash && type === "ec") return { valid: verify(ecdsaHash, signed, key, signature), hash: ecdsaHash };
  if (name === "1.3.101.112" && type === "ed25519") return { valid: verify(null, signed, key, signature), hash: null };
  if (name === "1.2.840.113549.1.1.10" && (type === "rsa" || type === "rsa-pss")) {
    const { hash, saltLength } = readPssParams(params);
    return { valid: verify(hash, signed, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, signature), hash };
  }
  throw new DerError(`signature algorithm ${name} does not go with a ${type} key`);
}

/** A digest AlgorithmIdentifier: SEQUENCE { OID, NULL? }, of a hash Node knows. */
function readDigest(element: Element | undefined): string {
  const [id, params, extra] = children(expectTag(element, Tag.sequence, "hash algorithm").value);
  if (extra || (params && !(params.tag === Tag.null && params.value.length === 0))) throw new DerError("bad hash parameters");
  const hash = digestOids[oidToString(expectTag(id, Tag.oid, "hash algorithm").value)];
  if (!hash) throw new DerError("unknown hash algorithm");
  return hash;
}

/**
 * RSASSA-PSS-params (RFC 4055 3.1), read strictly: [0] hash (SHA-1 by default), [1] MGF1 with the
 * same hash (the only mask Node verifies with), [2] salt length (20 by default), [3] trailer 1.
 */
function readPssParams(params: Element | undefined): { hash: string; saltLength: number } {
  let hash = "sha1";
  let mgfHash = "sha1";
  let saltLength = 20;
  let last = -1;
  for (const field of children(expectTag(params, Tag.sequence, "RSASSA-PSS parameters").value)) {
    const index = field.tag - 0xa0;
    if (index <= last || index > 3) throw new DerError("RSASSA-PSS parameters out of order");
    last = index;
    const inner = readWhole(field.value, index === 0 || index === 1 ? Tag.sequence : Tag.integer);
    if (index === 0) hash = readDigest(inner);
    if (index === 1) {
      const [id, mgfParams, extra] = children(inner.value);
      if (extra || oidToString(expectTag(id, Tag.oid, "mask generation").value) !== "1.2.840.113549.1.1.8") {
        throw new DerError("mask generation is not MGF1");
      }
      mgfHash = readDigest(mgfParams);
    }
    if (index === 2 || index === 3) {
      if (inner.value.length === 0 || inner.value.length > 2 || inner.value[0]! & 0x80) throw new DerError("bad integer");
      const value = inner.value.reduce((n, b) => n * 256 + b, 0);
      if (index === 2) saltLength = value;
      else if (value !== 1) throw new DerError("trailer field must be 1");
    }
  }
  if (mgfHash !== hash) throw new DerError("MGF1 hash differs from the signature hash");
  return { hash, saltLength };
}

function ipString(bytes: Uint8Array): string {
  if (bytes.length === 4) return [...bytes].join(".");
  if (bytes.length !== 16) throw new DerError("an IP SAN must have 4 or 16 bytes");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // RFC 5952: the longest run of two or more zero groups becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/** Adds the DNS, IP, email and URI names of a DER GeneralNames (a subjectAltName value) to `sans`. */
export function readSans(value: Uint8Array, sans: SubjectAltNames): void {
  for (const name of children(readWhole(value, Tag.sequence).value)) {
    const text = () => Buffer.from(name.value).toString("latin1");
    if (name.tag === 0x82) sans.dns.push(text());
    else if (name.tag === 0x87) sans.ip.push(ipString(name.value));
    else if (name.tag === 0x81) sans.email.push(text());
    else if (name.tag === 0x86) sans.uri.push(text());
  }
}

function readRequestedExtensions(attributes: Uint8Array): { sans: SubjectAltNames; requestsCa: boolean } {
  const sans = emptySans();
  let requestsCa = false;
  for (const attribute of children(attributes)) {
    const [type, values] = children(expectTag(attribute, Tag.sequence, "attribute").value);
    if (oidToString(expectTag(type, Tag.oid, "attribute type").value) !== oids.extensionRequest) continue;
    for (const requested of children(expectTag(values, Tag.set, "attribute values").value)) {
      for (const ext of readExtensions(requested.raw)) {
        if (ext.id === oids.subjectAltName) readSans(ext.value, sans);
        if (ext.id === oids.basicConstraints) {
          const first = children(readWhole(ext.value, Tag.sequence).value)[0];
          requestsCa ||= first?.tag === Tag.boolean && first.value[0] !== 0;
        }
      }
    }
  }
  return { sans, requestsCa };
}

/**
 * Decodes a PEM CSR, checks its signature and reads what signing needs. Errors name what is wrong
 * with the input: not PEM (9002), not PKCS#10 (9003), an unaccepted key (2200), a bad signature, a
 * subject attribute over its limit or holding control characters, or SANs that are not valid names (9300).
 */
export function parseCsr(pem: string): ParsedCsr {
  const der = decodePemBlock(pem, ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]);
  if (!der) {
    throw new CertwrightError(
      "csrDecodeFailed",
      "certificate_request: no PEM block \"-----BEGIN CERTIFICATE REQUEST-----\" found; send the CSR file's whole text",
    );
  }
  const notPkcs10 = (cause: unknown) =>
    new CertwrightError("csrParseFailed", "certificate_request: the PEM block is not a valid PKCS#10 request", { cause });
  // Destructured from lists of any length, so each may be missing: expectTag says which.
  let info: Element | undefined, algorithm: Element | undefined, signature: Element | undefined;
  let version: Element | undefined, subjectElement: Element | undefined, spki: Element | undefined, attributes: Element | undefined;
  let subject: DistinguishedName;
  try {
    [info, algorithm, signature] = children(readWhole(der, Tag.sequence).value);
    [version, subjectElement, spki, attributes] = children(expectTag(info, Tag.sequence, "certificationRequestInfo").value);
    expectTag(version, Tag.integer, "version");
    subject = readName(subjectElement!.raw);
    expectTag(spki, Tag.sequence, "subjectPKInfo");
    expectTag(algorithm, Tag.sequence, "signatureAlgorithm");
    if (expectTag(signature, Tag.bitString, "signature").value[0] !== 0) throw new DerError("signature has unused bits");
  } catch (cause) {
    throw notPkcs10(cause);
  }
  let key: KeyObject;
  let keySpec: KeySpec;
  try {
    ({ key, spec: keySpec } = publicKeyFromSpki(spki!.raw));
  } catch (cause) {
    if (cause instanceof CertwrightError) throw cause;
    throw new CertwrightError("csrParseFailed", "certificate_request: its public key cannot be read", { cause });
  }
  let valid: boolean;
  let signatureHash: string | null;
  try {
    ({ valid, hash: signatureHash } = verifySignature(algorithm!.raw, info!.raw, signature!.value.subarray(1), key));
  } catch (cause) {
    throw new CertwrightError("csrInvalid", "certificate_request: its signature algorithm is not supported", { cause });
  }
  if (!valid) {
    throw new CertwrightError("csrInvalid", "certificate_request: its signature does not verify with its own public key; make the CSR again");
  }
  let requested: { sans: SubjectAltNames; requestsCa: boolean };
  try {
    requested = attributes?.tag === 0xa0 ? readRequestedExtensions(attributes.value) : { sans: emptySans(), requestsCa: false };
  } catch (cause) {
    throw new CertwrightError("csrParseFailed", "certificate_request: its extension request cannot be read", { cause });
  }
  checkCsrSubject(subject, "certificate_request: subject");
  const sans = checkSans(requested.sans, "certificate_request");
  return { subject, spki: new Uint8Array(spki!.raw), keySpec, sans, requestsCa: requested.requestsCa, signatureHash };
}
