import { randomBytes } from "node:crypto";
import { CertwrightError } from "../errors.js";
import type { SigningProfile } from "../profiles/signing-config.js";
import { sanCount, sanList, type SubjectAltNames } from "./hosts.js";
import { ecdsaHashFor, type PrivateKey } from "./keys.js";
import { sanExtension } from "./csr.js";
import { encodePem } from "./pem.js";
import { subjectFieldsFromName } from "./subject.js";
import { x509 } from "./webcrypto.js";

/** A CA that signs: its certificate, its key, and the facts issuance checks against. */
export interface CertificateAuthority {
  /** cfssl's CA label; the default CA's is empty. */
  label: string;
  certificate: x509.X509Certificate;
  pem: string;
  key: PrivateKey;
  /** The CA's subject key id, written as the authority key id of what it issues. */
  subjectKeyId: string;
  /** The CA's own path length constraint; undefined when it has none. */
  pathLength: number | undefined;
}

/** What a certificate is made from: a subject and key (from a CSR or a generated key) and its SANs. */
export interface IssueRequest {
  subject: x509.Name;
  spki: ArrayBuffer;
  sans: SubjectAltNames;
  profile: SigningProfile;
  /** A later start than the profile's, from the request; never earlier. */
  notBefore?: Date | undefined;
  /** An earlier end than the profile's, from the request; never later. */
  notAfter?: Date | undefined;
  /** A shorter lifetime than the profile's, from the request; never longer. */
  expiryMs?: number | undefined;
}

export interface IssuedCertificate {
  pem: string;
  der: ArrayBuffer;
  /** Decimal, as cfssl records and prints serials. */
  serialNumber: string;
  /** Lower-case hex without separators, as cfssl's certdb keys certificates. */
  authorityKeyId: string;
  commonName: string;
  sans: string[];
  notBefore: Date;
  notAfter: Date;
  /** Things the client should know, for the envelope's `messages`. */
  warnings: string[];
}

/**
 * A random positive serial of at most 20 octets: 159 random bits with the top bit clear, as cfssl
 * makes them (RFC 5280 allows 20 octets; CA/B Forum wants at least 64 random bits).
 */
export function randomSerialHex(): string {
  const bytes = randomBytes(20);
  bytes[0]! &= 0x7f;
  let hex = bytes.toString("hex").replace(/^(00)+/, "");
  if (hex === "") hex = "01";
  return hex;
}

function signingAlgorithm(key: PrivateKey): Algorithm | EcdsaParams {
  return key.spec.algo === "ecdsa" ? { name: "ECDSA", hash: ecdsaHashFor(key.spec) } : key.signingKey.algorithm;
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
  const caNotAfter = ca.certificate.notAfter;
  if (notAfter > caNotAfter) {
    if (profile.beyondCaExpiry === "refuse") {
      throw new CertwrightError(
        "policyViolation",
        `the certificate would end at ${notAfter.toISOString()}, after its CA (${caNotAfter.toISOString()}); profile "${profile.name}" refuses that (beyond_ca_expiry)`,
      );
    }
    notAfter = caNotAfter;
    warnings.push(`the certificate's lifetime was cut to end with its CA's, at ${caNotAfter.toISOString()}`);
  }
  if (notAfter <= now) {
    throw new CertwrightError("policyViolation", `the certificate would already be expired (not after ${notAfter.toISOString()})`);
  }
  return { notBefore, notAfter };
}

function caConstraintOf(ca: CertificateAuthority, profile: SigningProfile): x509.BasicConstraintsExtension {
  if (!profile.isCa) return new x509.BasicConstraintsExtension(false, undefined, true);
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
  return new x509.BasicConstraintsExtension(true, profile.maxPathLen, true);
}

/** Signs a certificate for `request` with `ca` under the request's profile. Pure: records nothing. */
export async function issueCertificate(ca: CertificateAuthority, request: IssueRequest, now: Date): Promise<IssuedCertificate> {
  const { profile, sans } = request;
  if (profile.keyUsage === 0 && profile.extKeyUsages.length === 0) {
    throw new CertwrightError("noKeyUsages", `profile "${profile.name}" has no usages; add "usages" to it in the signing config`);
  }
  const fields = subjectFieldsFromName(request.subject);
  const commonName = fields.CN[0] ?? "";
  const emptySubject = request.subject.toJSON().length === 0;
  if (emptySubject && sanCount(sans) === 0) {
    throw new CertwrightError("csrInvalid", "the certificate would name nothing: give a CN or names, or hosts");
  }
  const warnings: string[] = [];
  const { notBefore, notAfter } = validityOf(ca, request, now, warnings);
  const publicKey = new x509.PublicKey(request.spki);
  const extensions: x509.Extension[] = [caConstraintOf(ca, profile)];
  if (profile.keyUsage !== 0) extensions.push(new x509.KeyUsagesExtension(profile.keyUsage, true));
  if (profile.extKeyUsages.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension(profile.extKeyUsages, false));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(publicKey));
  extensions.push(new x509.AuthorityKeyIdentifierExtension(ca.subjectKeyId));
  // RFC 5280 4.2.1.6: with an empty subject the SANs are the identity and must be critical.
  if (sanCount(sans) > 0) extensions.push(sanExtension(sans, emptySubject));
  if (profile.crlUrl) extensions.push(new x509.CRLDistributionPointsExtension([profile.crlUrl]));
  if (profile.ocspUrl || profile.issuerUrls.length > 0) {
    extensions.push(
      new x509.AuthorityInfoAccessExtension({
        ocsp: profile.ocspUrl ? [profile.ocspUrl] : [],
        caIssuers: profile.issuerUrls,
      }),
    );
  }
  if (profile.ocspNoCheck) extensions.push(new x509.Extension("1.3.6.1.5.5.7.48.1.5", false, new Uint8Array([0x05, 0x00])));
  const serialHex = randomSerialHex();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serialHex,
    subject: request.subject,
    issuer: ca.certificate.subjectName,
    notBefore,
    notAfter,
    publicKey: request.spki,
    signingKey: ca.key.signingKey,
    signingAlgorithm: signingAlgorithm(ca.key),
    extensions,
  });
  return {
    pem: encodePem("CERTIFICATE", certificate.rawData),
    der: certificate.rawData,
    serialNumber: BigInt(`0x${serialHex}`).toString(10),
    authorityKeyId: ca.subjectKeyId.toLowerCase(),
    commonName,
    sans: sanList(sans),
    notBefore,
    notAfter,
    warnings,
  };
}

/** What a new CA is made from (cfssl's `initca` CSR JSON, parsed). */
export interface CaRequest {
  subject: x509.Name;
  sans: SubjectAltNames;
  key: PrivateKey;
  expiryMs: number;
  /** undefined: no path length constraint. */
  pathLength: number | undefined;
}

/** Makes a self-signed CA certificate: CA:TRUE, cert sign and CRL sign, key ids, backdated 5 minutes as cfssl does. */
export async function createSelfSignedCa(request: CaRequest, now: Date): Promise<{ pem: string; certificate: x509.X509Certificate }> {
  const minute = 60_000;
  const notBefore = new Date(Math.round(now.getTime() / minute) * minute - 5 * minute);
  const notAfter = new Date(notBefore.getTime() + request.expiryMs);
  const ski = await x509.SubjectKeyIdentifierExtension.create(request.key.publicKey);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, request.pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ski,
    new x509.AuthorityKeyIdentifierExtension(ski.keyId),
  ];
  if (sanCount(request.sans) > 0) extensions.push(sanExtension(request.sans, false));
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: request.subject,
    issuer: request.subject,
    notBefore,
    notAfter,
    publicKey: request.key.publicKey,
    signingKey: request.key.signingKey,
    signingAlgorithm: signingAlgorithm(request.key),
    extensions,
  });
  return { pem: encodePem("CERTIFICATE", certificate.rawData), certificate };
}
