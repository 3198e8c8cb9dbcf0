// finalize's CSR (RFC 8555 7.4): base64url DER whose names are exactly the order's identifiers.
import { base64url } from "jose";
import { CertwrightError } from "../errors.js";
import { parseCsr } from "../pki/csr.js";
import { encodePem } from "../pki/pem.js";
import { commonNameOid, subjectAttributes } from "../pki/subject.js";
import { identifierKey } from "./identifiers.js";
import { AcmeProblem } from "./problems.js";
import type { AcmeIdentifier } from "./validation/types.js";

/**
 * Reads finalize's `csr` and checks that it asks for the order's names and nothing else: its SANs
 * are the identifiers exactly, its CN (if any) one of them, and its subject nothing beyond a CN
 * (nothing else was validated). Returns the CSR as PEM, for the authority's sign.
 */
export function orderCsr(raw: unknown, identifiers: readonly AcmeIdentifier[]): string {
  if (typeof raw !== "string" || raw === "") throw new AcmeProblem("malformed", "csr: must be the base64url DER of a PKCS#10 request");
  if (!/^[A-Za-z0-9_-]+$/.test(raw)) throw new AcmeProblem("badCSR", "csr: not base64url (RFC 8555 7.4: base64url DER, no padding, no PEM armour)");
  const pem = encodePem("CERTIFICATE REQUEST", base64url.decode(raw));
  let csr: ReturnType<typeof parseCsr>;
  try {
    csr = parseCsr(pem);
  } catch (error) {
    if (error instanceof CertwrightError) throw new AcmeProblem("badCSR", error.message.replace(/^certificate_request: /, "csr: "));
    throw error;
  }
  const wanted = new Set(identifiers.map(identifierKey));
  const named = new Map<string, string>();
  for (const dns of csr.sans.dns) named.set(identifierKey({ type: "dns", value: dns.replace(/\.$/, "") }), dns);
  for (const ip of csr.sans.ip) named.set(identifierKey({ type: "ip", value: ip }), ip);
  const others = [...csr.sans.email, ...csr.sans.uri];
  if (others.length > 0) throw new AcmeProblem("badCSR", `csr: names ${others.join(", ")}, which are not DNS names or IP addresses; only the order's identifiers may be named`);
  const attributes = subjectAttributes(csr.subject);
  const extra = attributes.filter((a) => a.oid !== commonNameOid);
  if (extra.length > 0) {
    throw new AcmeProblem("badCSR", `csr: its subject holds ${extra.map((a) => `${a.name}=${a.value}`).join(", ")}; only a CN naming one of the order's identifiers may be there`);
  }
  for (const cn of attributes.filter((a) => a.oid === commonNameOid)) {
    const key = [identifierKey({ type: "dns", value: cn.value }), identifierKey({ type: "ip", value: cn.value })].find((k) => wanted.has(k));
    if (!key) throw new AcmeProblem("badCSR", `csr: CN "${cn.value}" is not one of the order's identifiers`);
    if (!named.has(key)) named.set(key, cn.value);
  }
  const outside = [...named].filter(([key]) => !wanted.has(key)).map(([, name]) => name);
  const missing = identifiers.filter((identifier) => !named.has(identifierKey(identifier))).map((identifier) => identifier.value);
  if (outside.length > 0 || missing.length > 0) {
    const parts = [
      ...(outside.length > 0 ? [`names ${outside.join(", ")}, which the order does not`] : []),
      ...(missing.length > 0 ? [`leaves out ${missing.join(", ")}, which the order names`] : []),
    ];
    throw new AcmeProblem("badCSR", `csr: ${parts.join(" and ")}; the CSR must name exactly the order's identifiers`);
  }
  return pem;
}
