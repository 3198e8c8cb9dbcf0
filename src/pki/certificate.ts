import { randomFillSync } from "node:crypto";
import { CertwrightError } from "../errors.js";
import { encodeTree, explicit, smallInteger, Tag, time, tlvNode, type TlvNode, unsignedInteger } from "./der.js";
import {
  authorityInfoAccess,
  authorityKeyId,
  basicConstraints,
  crlDistributionPoints,
  extKeyUsage,
  keyIdentifier,
  keyUsage,
  ocspNoCheck,
  subjectAltName,
  subjectKeyId,
} from "./extensions.js";
import { sanCount, sanList, type SubjectAltNames } from "./hosts.js";
import { KeyUsageBit, keyUsageForKey } from "./key-usage.js";
import { keyAlgorithmOfSpki, signatureAlgorithmFor, signData, signDataAsync, type KeyAlgorithm, type PrivateKey } from "./keys.js";
import { nameValues, type DistinguishedName } from "./name.js";
import { encodePem } from "./pem.js";
import { subjectAttributes, type SubjectAttribute } from "./subject.js";

/** A CA that signs: its certificate, its key, and the facts issuance checks against. */
export interface CertificateAuthority {
  /** cfssl's CA label; the default CA's is empty. */
  label: string;
  pem: string;
  key: PrivateKey;
  /** The CA certificate's subject, byte for byte: the issuer of what it signs. */
  subjectDer: Uint8Array;
  notAfter: Date;
  /** The CA's subject key id (lower-case hex), written as the authority key id of what it issues. */
  subjectKeyId: string;
  /** The CA's own path length constraint; undefined when it has none. */
  pathLength: number | undefined;
  /** Its authorityKeyIdentifier extension for what it issues, encoded on first use. */
  authorityKeyIdExtension?: Uint8Array;
  /**
   * Where its own CRL and certificate are published, written in place of a profile's `crl_url` and
   * `issuer_urls` (where the profile has them): with several CAs by label, each names its own.
   */
  urls?: CaUrls | undefined;
}

/** A CA's own CRL distribution point and issuer URLs. */
export interface CaUrls {
  crlUrl?: string | undefined;
  issuerUrls?: string[] | undefined;
}

/** The CA's authorityKeyIdentifier extension, encoded on first use and kept on the CA. */
export function authorityKeyIdExtensionOf(ca: CertificateAuthority): Uint8Array {
  ca.authorityKeyIdExtension ??= authorityKeyId(Buffer.from(ca.subjectKeyId, "hex"));
  return ca.authorityKeyIdExtension;
}

/**
 * What issuance reads of a signing profile: lifetime, usages, CA constraint and the URLs it writes
 * into every certificate. The profiles' parsed `SigningProfile` is one; pki knows nothing else of it.
 */
export interface IssuanceProfile {
  /** Named in refusals. */
  name: string;
  /** The X.509 keyUsage bits (KeyUsageBit), before they are fitted to the key's type. */
  keyUsage: number;
  /** Extended key usage OIDs, in the order written. */
  extKeyUsages: string[];
  expiryMs: number;
  /** The lifetime as the profile wrote it, named in refusals. */
  expiry: string;
  /** How far before the minute of issue NotBefore is put. */
  backdateMs: number;
  isCa: boolean;
  /** Path length constraint of issued CA certificates; undefined means none. */
  maxPathLen: number | undefined;
  issuerUrls: string[];
  ocspUrl: string | undefined;
  crlUrl: string | undefined;
  ocspNoCheck: boolean;
  /** A fixed validity start, instead of now less the backdate. */
  notBefore: Date | undefined;
  /** A fixed validity end, instead of NotBefore plus the expiry. */
  notAfter: Date | undefined;
  /** What to do when the lifetime would pass the CA's NotAfter: cut it or refuse. */
  beyondCaExpiry: "truncate" | "refuse";
}

/** What a certificate is made from: a subject and key (from a CSR or a generated key) and its SANs. */
export interface IssueRequest {
  subject: DistinguishedName;
  /** The DER SubjectPublicKeyInfo, copied into the certificate as it is. */
  spki: Uint8Array;
  sans: SubjectAltNames;
  profile: IssuanceProfile;
  /** A later start than the profile's, from the request; never earlier. */
  notBefore?: Date | undefined;
  /** An earlier end than the profile's, from the request; never later. */
  notAfter?: Date | undefined;
  /** A shorter lifetime than the profile's, from the request; never longer. */
  expiryMs?: number | undefined;
}

/** What issueCertificate signed, and the facts of it the service records and reports. */
export interface SignedCertificate {
  pem: string;
  der: Uint8Array;
  /** Decimal, as cfssl records and prints serials. */
  serialNumber: string;
  /** Lower-case hex without separators, as cfssl's certdb keys certificates. */
  authorityKeyId: string;
  /** The first CN; every attribute, other CNs included, is in `subjectAttributes`. */
  commonName: string;
  subjectAttributes: SubjectAttribute[];
  sans: string[];
  notBefore: Date;
  notAfter: Date;
  /** The name of the profile it was issued under. */
  profile: string;
  /** Things the client should know, for the envelope's `messages`. */
  warnings: string[];
}

/**
 * Everything a TBSCertificate holds, encoded: what issuance decides, before anything is signed.
 * The property tests build the same template with @peculiar/x509 and compare the bytes.
 */
export interface CertificateTemplate {
  serial: Uint8Array;
  signatureAlgorithm: Uint8Array;
  issuer: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  subject: Uint8Array;
  spki: Uint8Array;
  /** Each one a whole DER Extension. */
  extensions: Uint8Array[];
}

// Serials are drawn from a pool filled 4 KiB at a time: one getrandom call per ~200 certificates
// instead of one each. Each serial is a fresh copy of pool bytes used once.
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function random20(): Buffer {
  if (poolOffset + 20 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = Buffer.from(pool.subarray(poolOffset, poolOffset + 20));
  pool.fill(0, poolOffset, poolOffset + 20);
  poolOffset += 20;
  return bytes;
}

/**
 * A positive serial of 20 octets: the time of issue in milliseconds (6 octets), then 112 random
 * bits (RFC 5280 allows 20 octets; the CA/Browser Forum wants at least 64 random bits). Starting
 * with the time makes serials grow, so the database's serial index takes each new one at its end:
 * one index page written per commit, where a wholly random serial lands on a random page each
 * (measured: 45 → 26 µs of writer CPU per certificate). The first octet is non-zero and below 0x80
 * until the year 6429, so the INTEGER is positive and always 20 octets.
 */
export function randomSerial(now = Date.now()): Uint8Array {
  const serial = random20();
  serial.writeUIntBE(now, 0, 6);
  return serial;
}

/** A serial's decimal form, as cfssl records and prints serials. */
export function serialDecimal(serial: Uint8Array): string {
  return BigInt(`0x${Buffer.from(serial).toString("hex")}`).toString(10);
}

/** `[0] EXPLICIT INTEGER 2`: version v3, the same in every certificate. */
const version3 = explicit(0, smallInteger(2));
/** The unused-bits octet that starts a BIT STRING of whole bytes. */
const wholeBytes = Uint8Array.of(0);

/** TBSCertificate: v3, serial, signature algorithm, issuer, validity, subject, key, extensions. */
export function encodeTbs(template: CertificateTemplate): Uint8Array {
  // Written in one go (see TlvNode): the extensions would otherwise be copied three times.
  const parts: (Uint8Array | TlvNode)[] = [
    version3,
    unsignedInteger(template.serial),
    template.signatureAlgorithm,
    template.issuer,
    tlvNode(Tag.sequence, [time(template.notBefore), time(template.notAfter)]),
    template.subject,
    template.spki,
  ];
  if (template.extensions.length > 0) parts.push(tlvNode(0xa3, [tlvNode(Tag.sequence, template.extensions)]));
  return encodeTree(tlvNode(Tag.sequence, parts));
}

/** Signs a TBSCertificate with `key` and wraps it as a Certificate. */
export function signTbs(tbs: Uint8Array, signatureAlgorithm: Uint8Array, key: PrivateKey): Uint8Array {
  return signedTbs(tbs, signatureAlgorithm, signData(key, tbs));
}

/** signTbs, with a key in a PKCS#11 module signing off the event loop (see signDataAsync). */
export async function signTbsAsync(tbs: Uint8Array, signatureAlgorithm: Uint8Array, key: PrivateKey): Promise<Uint8Array> {
  return signedTbs(tbs, signatureAlgorithm, await signDataAsync(key, tbs));
}

function signedTbs(tbs: Uint8Array, signatureAlgorithm: Uint8Array, signature: Uint8Array): Uint8Array {
  return encodeTree(tlvNode(Tag.sequence, [tbs, signatureAlgorithm, tlvNode(Tag.bitString, [wholeBytes, signature])]));
}

/** Works out the validity window: cfssl's backdate and expiry, narrowed by the request, capped by the CA. */
function validityOf(ca: CertificateAuthority, request: IssueRequest, now: Date, warnings: string[]): { notBefore: Date; notAfter: Date } {
  const { profile } = request;
  const minute = 60_000;
  let notBefore = profile.notBefore ?? new Date(Math.round(now.getTime() / minute) * minute - profile.backdateMs);
  let notAfter = profile.notAfter ?? new Date(notBefore.getTime() + profile.expiryMs);
  if (request.notBefore) {
    if (request.notBefore < notBefore || request.notBefore >= notAfter) {
      throw new CertwrightError(
        "policyViolation",
        `NotBefore ${request.notBefore.toISOString()} is outside what profile "${profile.name}" allows (${notBefore.toISOString()} to ${notAfter.toISOString()})`,
      );
    }
    notBefore = request.notBefore;
  }
  if (request.expiryMs !== undefined) {
    if (request.expiryMs <= 0 || notBefore.getTime() + request.expiryMs > notAfter.getTime()) {
      throw new CertwrightError(
        "policyViolation",
        `expiry: a lifetime of ${request.expiryMs / 3_600_000}h is not allowed; profile "${profile.name}" allows at most ${profile.expiry}`,
      );
    }
    notAfter = new Date(notBefore.getTime() + request.expiryMs);
  }
  if (request.notAfter) {
    if (request.notAfter > notAfter || request.notAfter <= notBefore) {
      throw new CertwrightError(
        "policyViolation",
        `NotAfter ${request.notAfter.toISOString()} is outside what profile "${profile.name}" allows (latest ${notAfter.toISOString()})`,
      );
    }
    notAfter = request.notAfter;
  }
  const caNotAfter = ca.notAfter;
  // getTime() on the checks every certificate passes: comparing Dates goes through ToPrimitive, ~20x slower.
  if (notAfter.getTime() > caNotAfter.getTime()) {
    if (profile.beyondCaExpiry === "refuse") {
      throw new CertwrightError(
        "policyViolation",
        `the certificate would end at ${notAfter.toISOString()}, after its CA (${caNotAfter.toISOString()}); profile "${profile.name}" refuses that (beyond_ca_expiry)`,
      );
    }
    notAfter = caNotAfter;
    warnings.push(`the certificate's lifetime was cut to end with its CA's, at ${caNotAfter.toISOString()}`);
  }
  if (notAfter.getTime() <= now.getTime()) {
    throw new CertwrightError("policyViolation", `the certificate would already be expired (not after ${notAfter.toISOString()})`);
  }
  return { notBefore, notAfter };
}

function caConstraintOf(ca: CertificateAuthority, profile: IssuanceProfile): Uint8Array {
  if (!profile.isCa) return basicConstraints(false, undefined);
  if (ca.pathLength !== undefined) {
    if (ca.pathLength === 0) {
      throw new CertwrightError("policyViolation", "this CA has a path length of 0, so it cannot issue CA certificates");
    }
    if (profile.maxPathLen === undefined || profile.maxPathLen >= ca.pathLength) {
      throw new CertwrightError(
        "policyViolation",
        `profile "${profile.name}" must set ca_constraint.max_path_len below this CA's path length ${ca.pathLength}`,
      );
    }
  }
  return basicConstraints(true, profile.maxPathLen);
}

interface ProfileExtensions {
  extensions: Uint8Array[];
  /** What was left out of the profile's key usage for this key type, for `messages`. */
  note: string | undefined;
}

/** The extensions a profile gives every certificate, encoded once per CA, profile and key type. */
const profileExtensionCache = new WeakMap<IssuanceProfile, WeakMap<CertificateAuthority, Map<KeyAlgorithm | undefined, ProfileExtensions>>>();

function profileExtensions(ca: CertificateAuthority, profile: IssuanceProfile, algorithm: KeyAlgorithm | undefined): ProfileExtensions {
  let byCa = profileExtensionCache.get(profile);
  if (!byCa) {
    byCa = new WeakMap();
    profileExtensionCache.set(profile, byCa);
  }
  let byKey = byCa.get(ca);
  if (!byKey) {
    byKey = new Map();
    byCa.set(ca, byKey);
  }
  let cached = byKey.get(algorithm);
  if (!cached) {
    const { keyUsage: bits, note } = algorithm ? keyUsageForKey(profile.keyUsage, profile.extKeyUsages, algorithm) : { keyUsage: profile.keyUsage, note: undefined };
    if (profile.keyUsage !== 0 && bits === 0) {
      throw new CertwrightError("policyViolation", `profile "${profile.name}": ${note}; none of its key usages is left for this key, so use another key type`);
    }
    const extensions = [caConstraintOf(ca, profile)];
    if (bits !== 0) extensions.push(keyUsage(bits));
    if (profile.extKeyUsages.length > 0) extensions.push(extKeyUsage(profile.extKeyUsages));
    cached = { extensions, note };
    byKey.set(algorithm, cached);
  }
  return cached;
}

function profileTrailingExtensions(ca: CertificateAuthority, profile: IssuanceProfile): Uint8Array[] {
  const extensions: Uint8Array[] = [];
  if (profile.crlUrl) extensions.push(crlDistributionPoints(ca.urls?.crlUrl ?? profile.crlUrl));
  const issuerUrls = profile.issuerUrls.length > 0 ? (ca.urls?.issuerUrls ?? profile.issuerUrls) : profile.issuerUrls;
  if (profile.ocspUrl || issuerUrls.length > 0) {
    extensions.push(authorityInfoAccess(profile.ocspUrl ? [profile.ocspUrl] : [], issuerUrls));
  }
  if (profile.ocspNoCheck) extensions.push(ocspNoCheck());
  return extensions;
}

/**
 * Decides what a certificate for `request` holds under its profile: validity, extensions, serial.
 * Refuses (with the client's error) what the profile does not allow. Pure: signs and records nothing.
 */
export function certificateTemplate(ca: CertificateAuthority, request: IssueRequest, now: Date): { template: CertificateTemplate; warnings: string[] } {
  const { profile, sans } = request;
  if (profile.keyUsage === 0 && profile.extKeyUsages.length === 0) {
    throw new CertwrightError("noKeyUsages", `profile "${profile.name}" has no usages; add "usages" to it in the signing config`);
  }
  const emptySubject = request.subject.rdns.length === 0;
  if (emptySubject && sanCount(sans) === 0) {
    throw new CertwrightError("csrInvalid", "the certificate would name nothing: give a CN or names, or hosts");
  }
  const warnings: string[] = [];
  const { notBefore, notAfter } = validityOf(ca, request, now, warnings);
  const fromProfile = profileExtensions(ca, profile, keyAlgorithmOfSpki(request.spki));
  if (fromProfile.note) warnings.push(fromProfile.note);
  const extensions = [
    ...fromProfile.extensions,
    subjectKeyId(keyIdentifier(request.spki)),
    authorityKeyIdExtensionOf(ca),
    // RFC 5280 4.2.1.6: with an empty subject the SANs are the identity and must be critical.
    ...(sanCount(sans) > 0 ? [subjectAltName(sans, emptySubject)] : []),
    ...profileTrailingExtensions(ca, profile),
  ];
  return {
    template: {
      serial: randomSerial(),
      signatureAlgorithm: signatureAlgorithmFor(ca.key.spec).identifier,
      issuer: ca.subjectDer,
      notBefore,
      notAfter,
      subject: request.subject.der,
      spki: request.spki,
      extensions,
    },
    warnings,
  };
}

/** Signs a certificate for `request` with `ca` under the request's profile. Pure: records nothing. */
export function issueCertificate(ca: CertificateAuthority, request: IssueRequest, now: Date): SignedCertificate {
  const { template, warnings } = certificateTemplate(ca, request, now);
  return issued(ca, request, template, warnings, signTbs(encodeTbs(template), template.signatureAlgorithm, ca.key));
}

/** issueCertificate, with a key in a PKCS#11 module signing off the event loop (see signDataAsync). */
export async function issueCertificateAsync(ca: CertificateAuthority, request: IssueRequest, now: Date): Promise<SignedCertificate> {
  const { template, warnings } = certificateTemplate(ca, request, now);
  return issued(ca, request, template, warnings, await signTbsAsync(encodeTbs(template), template.signatureAlgorithm, ca.key));
}

function issued(ca: CertificateAuthority, request: IssueRequest, template: CertificateTemplate, warnings: string[], der: Uint8Array): SignedCertificate {
  return {
    pem: encodePem("CERTIFICATE", der),
    der,
    serialNumber: serialDecimal(template.serial),
    authorityKeyId: ca.subjectKeyId,
    commonName: nameValues(request.subject, "2.5.4.3")[0] ?? "",
    subjectAttributes: subjectAttributes(request.subject),
    sans: sanList(request.sans),
    notBefore: template.notBefore,
    notAfter: template.notAfter,
    profile: request.profile.name,
    warnings,
  };
}

/** What a new CA is made from (cfssl's `initca` CSR JSON, parsed). */
export interface CaRequest {
  subject: DistinguishedName;
  sans: SubjectAltNames;
  key: PrivateKey;
  expiryMs: number;
  /** undefined: no path length constraint. */
  pathLength: number | undefined;
}

/** Makes a self-signed CA certificate: CA:TRUE, cert sign and CRL sign, key ids, backdated 5 minutes as cfssl does. */
export function createSelfSignedCa(request: CaRequest, now: Date): { pem: string; der: Uint8Array } {
  const minute = 60_000;
  const notBefore = new Date(Math.round(now.getTime() / minute) * minute - 5 * minute);
  const notAfter = new Date(notBefore.getTime() + request.expiryMs);
  const ski = keyIdentifier(request.key.spki);
  const signatureAlgorithm = signatureAlgorithmFor(request.key.spec).identifier;
  const template: CertificateTemplate = {
    serial: randomSerial(),
    signatureAlgorithm,
    issuer: request.subject.der,
    notBefore,
    notAfter,
    subject: request.subject.der,
    spki: request.key.spki,
    extensions: [
      basicConstraints(true, request.pathLength),
      keyUsage(KeyUsageBit.keyCertSign | KeyUsageBit.cRLSign),
      subjectKeyId(ski),
      authorityKeyId(ski),
      ...(sanCount(request.sans) > 0 ? [subjectAltName(request.sans, false)] : []),
    ],
  };
  const der = signTbs(encodeTbs(template), signatureAlgorithm, request.key);
  return { pem: encodePem("CERTIFICATE", der), der };
}
