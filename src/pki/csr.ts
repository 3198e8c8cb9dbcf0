import { createPublicKey } from "node:crypto";
import { CertwrightError } from "../errors.js";
import { checkSans, emptySans, sanCount, type SubjectAltNames } from "./hosts.js";
import { ecdsaHashFor, keySpecOf, type KeySpec, type PrivateKey } from "./keys.js";
import { decodePemBlock, encodePem } from "./pem.js";
import { checkCsrSubject } from "./subject.js";
import { x509 } from "./webcrypto.js";

/** What the service takes from a CSR: its subject, public key and requested SANs. */
export interface ParsedCsr {
  subject: x509.Name;
  /** The DER SubjectPublicKeyInfo, copied into the certificate as it is. */
  spki: ArrayBuffer;
  keySpec: KeySpec;
  sans: SubjectAltNames;
  /** True when the CSR's extension request has basicConstraints with cA TRUE: it asks to be a CA. */
  requestsCa: boolean;
}

export function sanExtension(sans: SubjectAltNames, critical: boolean): x509.SubjectAlternativeNameExtension {
  return new x509.SubjectAlternativeNameExtension(
    [
      ...sans.dns.map((value) => ({ type: "dns" as const, value })),
      ...sans.ip.map((value) => ({ type: "ip" as const, value })),
      ...sans.email.map((value) => ({ type: "email" as const, value })),
      ...sans.uri.map((value) => ({ type: "url" as const, value })),
    ],
    critical,
  );
}

/** Makes a PKCS#10 request for `key`, with the SANs in an extension request as cfssl and openssl do. */
export async function buildCsr(subject: x509.Name, sans: SubjectAltNames, key: PrivateKey): Promise<{ pem: string; der: ArrayBuffer }> {
  const extensions = sanCount(sans) > 0 ? [sanExtension(sans, false)] : [];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subject,
    keys: { privateKey: key.signingKey, publicKey: key.publicKey },
    signingAlgorithm: key.spec.algo === "ecdsa" ? { name: "ECDSA", hash: ecdsaHashFor(key.spec) } : key.signingKey.algorithm,
    extensions,
  });
  return { pem: encodePem("CERTIFICATE REQUEST", csr.rawData), der: csr.rawData };
}

/**
 * Decodes a PEM CSR, checks its signature and reads what signing needs. Errors name what is wrong
 * with the input: not PEM (9002), not PKCS#10 (9003), an unaccepted key (2200), a bad signature, a
 * subject attribute over its limit or holding control characters, or SANs that are not valid names (9300).
 */
export async function parseCsr(pem: string): Promise<ParsedCsr> {
  const der = decodePemBlock(pem, ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]);
  if (!der) {
    throw new CertwrightError(
      "csrDecodeFailed",
      "certificate_request: no PEM block \"-----BEGIN CERTIFICATE REQUEST-----\" found; send the CSR file's whole text",
    );
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
  } catch (cause) {
    throw new CertwrightError("csrParseFailed", "certificate_request: the PEM block is not a valid PKCS#10 request", { cause });
  }
  const spki = csr.publicKey.rawData;
  let keySpec: KeySpec;
  try {
    keySpec = keySpecOf(createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" }));
  } catch (cause) {
    if (cause instanceof CertwrightError) throw cause;
    throw new CertwrightError("csrParseFailed", "certificate_request: its public key cannot be read", { cause });
  }
  let valid = false;
  try {
    valid = await csr.verify();
  } catch (cause) {
    throw new CertwrightError("csrInvalid", `certificate_request: its signature algorithm is not supported`, { cause });
  }
  if (!valid) {
    throw new CertwrightError("csrInvalid", "certificate_request: its signature does not verify with its own public key; make the CSR again");
  }
  let sans: SubjectAltNames;
  let asksForCa: boolean;
  try {
    sans = sansOf(csr);
    asksForCa = requestsCa(csr);
  } catch (cause) {
    throw new CertwrightError("csrParseFailed", "certificate_request: its extension request cannot be read", { cause });
  }
  checkCsrSubject(csr.subjectName, "certificate_request: subject");
  checkSans(sans, "certificate_request");
  return { subject: csr.subjectName, spki, keySpec, sans, requestsCa: asksForCa };
}

function requestsCa(csr: x509.Pkcs10CertificateRequest): boolean {
  return csr.extensions.some((e) => e instanceof x509.BasicConstraintsExtension && e.ca);
}

function sansOf(csr: x509.Pkcs10CertificateRequest): SubjectAltNames {
  const sans = emptySans();
  const extension = csr.extensions.find((e) => e instanceof x509.SubjectAlternativeNameExtension);
  for (const name of extension?.names.items ?? []) {
    if (name.type === "dns") sans.dns.push(name.value);
    else if (name.type === "ip") sans.ip.push(name.value);
    else if (name.type === "email") sans.email.push(name.value);
    else if (name.type === "url") sans.uri.push(name.value);
  }
  return sans;
}
