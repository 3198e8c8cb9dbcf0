import { X509Certificate } from "node:crypto";
import { readCaCertificate } from "./ca.js";
import { readName } from "./name.js";
import { encodePem } from "./pem.js";
import { attributeName, commonNameOid } from "./subject.js";

/**
 * The issuing CA and what stands above it, as clients need it to build a path to their trust
 * anchor: `above` is the operator's --ca-bundle as given (the CA's issuer first), `root` the
 * self-signed end when it is known (the last of `above`, or the CA itself when it is a root).
 */
export interface CaChain {
  /** The issuing CA's certificate, PEM. */
  ca: string;
  /** The certificates above the CA, its issuer first, each PEM; [] without --ca-bundle. */
  above: string[];
  /** The self-signed root the chain ends in, PEM; undefined when it was not given. */
  root: string | undefined;
}

/** Every PEM CERTIFICATE block of a text, in order, each re-encoded from its DER. */
export function certificatePems(text: string): string[] {
  const pems: string[] = [];
  const pattern = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  for (const match of text.matchAll(pattern)) {
    const body = match[1]!.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw new Error(`certificate ${pems.length + 1}: its PEM body is not base64`);
    pems.push(encodePem("CERTIFICATE", Buffer.from(body, "base64")));
  }
  return pems;
}

/** A certificate named as an operator recognizes it: its CN, or its whole subject without one. */
function nameOf(certificate: X509Certificate): string {
  const name = readName(readCaCertificate(certificate.raw).subject);
  const attributes = name.rdns.flat();
  const cn = attributes.find((attribute) => attribute.oid === commonNameOid);
  if (cn) return `CN=${cn.value}`;
  return attributes.map((attribute) => `${attributeName(attribute.oid)}=${attribute.value}`).join(", ") || "an empty subject";
}

/** Whether `issuer` signed `subject`: names that match, and a signature its key verifies. */
function issued(issuer: X509Certificate, subject: X509Certificate): boolean {
  return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
}

/** Whether a certificate is its own issuer (a root): its name and its signature. */
export function isSelfSigned(pem: string): boolean {
  const certificate = new X509Certificate(pem);
  return issued(certificate, certificate);
}

/**
 * Checks `bundleText` (--ca-bundle: PEM certificates from the CA's issuer up to, and optionally
 * including, the root) against the CA certificate `caPem`, and returns the chain. Each certificate
 * must be a CA, valid at `now`, and the issuer of the one before it (the first, of the CA); a
 * self-signed one can only come last. Throws a plain Error, one line naming the certificates by
 * their place in the file (1 is the first; 0 is the --ca certificate); the caller adds the file name.
 */
export function checkCaChain(caPem: string, bundleText: string, now: Date = new Date()): CaChain {
  const pems = certificatePems(bundleText);
  if (pems.length === 0) throw new Error("no PEM \"CERTIFICATE\" block found; give the CA's issuer and those above it, the CA's issuer first");
  const ca = new X509Certificate(caPem);
  let below = { certificate: ca, place: "the --ca certificate" };
  pems.forEach((pem, index) => {
    const place = `certificate ${index + 1}`;
    let certificate: X509Certificate;
    let facts: ReturnType<typeof readCaCertificate>;
    try {
      certificate = new X509Certificate(pem);
      facts = readCaCertificate(certificate.raw);
    } catch {
      throw new Error(`${place}: not a valid X.509 certificate`);
    }
    const named = `${place} (${nameOf(certificate)})`;
    if (!facts.isCa) throw new Error(`${named} is not a CA certificate (basic constraints CA:TRUE is missing)`);
    if (now.getTime() > facts.notAfter.getTime()) throw new Error(`${named} expired on ${facts.notAfter.toISOString()}; put its renewed certificate in the bundle`);
    if (now.getTime() < facts.notBefore.getTime()) throw new Error(`${named} is not valid until ${facts.notBefore.toISOString()}`);
    if (!issued(certificate, below.certificate)) {
      throw new Error(`${named} did not issue ${below.place} (${nameOf(below.certificate)}); list the CA's issuer first, then each issuer of the one before, up to the root`);
    }
    if (index < pems.length - 1 && issued(certificate, certificate)) {
      throw new Error(`${named} is a self-signed root, so nothing can come after it; remove the certificates that follow it`);
    }
    below = { certificate, place };
  });
  const last = pems[pems.length - 1]!;
  return { ca: encodePem("CERTIFICATE", ca.raw), above: pems, root: isSelfSigned(last) ? last : undefined };
}

/** The chain of a CA given without --ca-bundle: nothing above it; the CA itself is the root when it is self-signed. */
export function bareCaChain(caPem: string): CaChain {
  const ca = encodePem("CERTIFICATE", new X509Certificate(caPem).raw);
  return { ca, above: [], root: isSelfSigned(ca) ? ca : undefined };
}

/**
 * What a server sends after its own certificate: the issuing CA and those above it, the root left
 * out (a client that trusts it has it already); nothing when the CA is itself the root.
 */
export function issuersToSend(chain: CaChain): string[] {
  if (chain.root === chain.ca) return [];
  return [chain.ca, ...(chain.root === undefined ? chain.above : chain.above.slice(0, -1))];
}
