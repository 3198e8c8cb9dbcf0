/**
 * tls-alpn-01 (RFC 8737): a TLS handshake with <name>:<tlsPort> offering only the `acme-tls/1`
 * protocol must negotiate it and present a certificate with exactly one subjectAltName, the
 * identifier, and a critical acmeIdentifier extension holding SHA-256(key authorization). The
 * certificate is self-signed by design, so it is not verified; the extension is what proves control.
 * For an IP identifier, SNI is its reverse-mapping name (RFC 8738 §6), since SNI cannot carry an address.
 *
 * Problem types: a refused or silent connection is connection; a failed handshake or a protocol
 * other than acme-tls/1 is tls; a certificate that breaks the rules above is incorrectResponse.
 */
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import { connect, type TLSSocket } from "node:tls";
import { children, DerError, oidToString, readWhole, Tag } from "../../pki/der.js";
import { ipBytes } from "../../pki/extensions.js";
import { addressesOf, checkIdentifier, codedError, connectionProblem, fail, hostPort, isWildcard, settle, ValidationFailure } from "./network.js";
import type { AcmeIdentifier, ValidationResult, ValidationTargets } from "./types.js";

export const acmeTlsProtocol = "acme-tls/1";
/** id-pe-acmeIdentifier (RFC 8737 §6.1). */
export const acmeIdentifierOid = "1.3.6.1.5.5.7.1.31";
const subjectAltNameOid = "2.5.29.17";

/** The SNI name for `identifier`: the name itself, or the in-addr.arpa / ip6.arpa name of an address. */
export function tlsAlpnServerName(identifier: AcmeIdentifier): string {
  if (identifier.type === "dns") return identifier.value.replace(/\.$/, "");
  const bytes = ipBytes(identifier.value);
  if (bytes.length === 4) return `${[...bytes].reverse().join(".")}.in-addr.arpa`;
  const nibbles = [...bytes].flatMap((b) => [b >> 4, b & 0x0f]).map((n) => n.toString(16));
  return `${nibbles.reverse().join(".")}.ip6.arpa`;
}

/** Validates a tls-alpn-01 challenge; never throws (see the module comment for the problem types). */
export function validateTlsAlpn01(
  identifier: AcmeIdentifier,
  keyAuthorization: string,
  targets: ValidationTargets,
  signal: AbortSignal = new AbortController().signal,
  onInternalError?: (error: unknown) => void,
): Promise<ValidationResult> {
  return settle(onInternalError, async () => {
    checkIdentifier(identifier);
    if (isWildcard(identifier)) fail("unauthorized", "a wildcard identifier can only be validated by dns-01 (RFC 8555 §7.1.3)");
    const addresses = await addressesOf(identifier.value, targets, signal);
    const servername = tlsAlpnServerName(identifier);
    let lastError: unknown;
    for (const address of addresses) {
      const where = hostPort(address, targets.tlsPort);
      try {
        const { protocol, certificate } = await handshake(address, targets.tlsPort, servername, targets.timeoutMs, signal);
        if (protocol !== acmeTlsProtocol) {
          fail("tls", `${where} (SNI ${servername}) did not negotiate the ${acmeTlsProtocol} protocol${protocol ? `; it chose ${JSON.stringify(protocol)}` : ""}`);
        }
        checkCertificate(certificate, identifier, keyAuthorization, where);
        return;
      } catch (error) {
        if (error instanceof ValidationFailure) throw error;
        lastError = error;
        // Another address is worth a try only when this one cannot be reached at all.
        if (!["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH"].includes((error as NodeJS.ErrnoException).code ?? "")) break;
      }
    }
    throw new ValidationFailure(connectionProblem(lastError, hostPort(addresses[addresses.length - 1]!, targets.tlsPort)));
  });
}

/** One handshake; answers the negotiated protocol and the peer's certificate in DER. */
function handshake(
  address: string,
  port: number,
  servername: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ protocol: string | false; certificate: Uint8Array }> {
  // An abort that came while the name was being looked up finds no listener yet: stop here.
  if (signal.aborted) return Promise.reject(codedError("ABORT_ERR", "aborted"));
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({ host: address, port, servername, ALPNProtocols: [acmeTlsProtocol], rejectUnauthorized: false, minVersion: "TLSv1.2" });
    let settled = false;
    const finish = (outcome: Error | { protocol: string | false; certificate: Uint8Array }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", abort);
      socket.destroy();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const timer = setTimeout(() => finish(codedError("ETIMEDOUT", "timed out")), timeoutMs);
    const abort = () => finish(codedError("ABORT_ERR", "aborted"));
    signal.addEventListener("abort", abort, { once: true });
    socket.on("error", finish);
    socket.on("close", () => finish(codedError("ECONNRESET", "closed before the handshake finished")));
    socket.on("secureConnect", () => {
      const peer = socket.getPeerX509Certificate();
      if (!peer) finish(new ValidationFailure({ type: "tls", detail: `${hostPort(address, port)} presented no certificate` }));
      else finish({ protocol: socket.alpnProtocol ?? false, certificate: new Uint8Array(peer.raw) });
    });
  });
}

interface Extension {
  critical: boolean;
  value: Uint8Array;
}

/** The extensions of a certificate by OID, refusing a repeated one (RFC 5280 §4.2). */
function extensionsOf(der: Uint8Array): Map<string, Extension> {
  const [tbs] = children(readWhole(der, Tag.sequence).value);
  if (tbs?.tag !== Tag.sequence) throw new DerError("no tbsCertificate");
  const wrapper = children(tbs.value).find((element) => element.tag === 0xa3);
  const found = new Map<string, Extension>();
  if (!wrapper) return found;
  for (const extension of children(readWhole(wrapper.value, Tag.sequence).value)) {
    const parts = children(extension.value);
    const id = oidToString(parts[0]?.tag === Tag.oid ? parts[0].value : new Uint8Array());
    const critical = parts.length === 3 && parts[1]!.tag === Tag.boolean && parts[1]!.value[0] !== 0;
    const value = parts[parts.length - 1];
    if (value?.tag !== Tag.octetString) throw new DerError("extnValue is not an OCTET STRING");
    if (found.has(id)) throw new DerError(`extension ${id} appears twice`);
    found.set(id, { critical, value: value.value });
  }
  return found;
}

/** The certificate checks of RFC 8737 §3; failures are incorrectResponse. */
function checkCertificate(der: Uint8Array, identifier: AcmeIdentifier, keyAuthorization: string, where: string): void {
  let extensions: Map<string, Extension>;
  try {
    extensions = extensionsOf(der);
  } catch (error) {
    fail("incorrectResponse", `the certificate from ${where} could not be read: ${(error as Error).message}`);
  }
  const san = extensions.get(subjectAltNameOid);
  if (!san) fail("incorrectResponse", `the certificate from ${where} has no subjectAltName extension`);
  let names: { tag: number; value: Uint8Array }[];
  try {
    names = children(readWhole(san.value, Tag.sequence).value);
  } catch {
    fail("incorrectResponse", `the subjectAltName extension of the certificate from ${where} could not be read`);
  }
  const wanted = identifier.type === "ip" ? { tag: 0x87, value: ipBytes(identifier.value) } : { tag: 0x82, value: Buffer.from(identifier.value.replace(/\.$/, "").toLowerCase(), "latin1") };
  const only = names.length === 1 ? names[0]! : undefined;
  const matches = only?.tag === wanted.tag && Buffer.from(wanted.tag === 0x82 ? Buffer.from(only.value).toString("latin1").toLowerCase() : only.value).equals(wanted.value);
  if (!matches) {
    fail("incorrectResponse", `the certificate from ${where} must have exactly one subjectAltName, ${identifier.value}; it has ${describeNames(names)}`);
  }
  const acme = extensions.get(acmeIdentifierOid);
  if (!acme) fail("incorrectResponse", `the certificate from ${where} has no acmeIdentifier extension (${acmeIdentifierOid})`);
  if (!acme.critical) fail("incorrectResponse", `the acmeIdentifier extension of the certificate from ${where} is not marked critical`);
  let digest: Uint8Array;
  try {
    digest = readWhole(acme.value, Tag.octetString).value;
  } catch {
    fail("incorrectResponse", `the acmeIdentifier extension of the certificate from ${where} is not an OCTET STRING`);
  }
  const expected = createHash("sha256").update(keyAuthorization).digest();
  if (!expected.equals(digest)) {
    fail("incorrectResponse", `the acmeIdentifier extension of the certificate from ${where} does not hold the digest of this challenge's key authorization`);
  }
}

/** SANs as a message shows them: `DNS:a.example, IP:127.0.0.1`, or "none". */
function describeNames(names: { tag: number; value: Uint8Array }[]): string {
  if (names.length === 0) return "none";
  const shown = names.slice(0, 5).map(({ tag, value }) => {
    if (tag === 0x82) return `DNS:${Buffer.from(value).toString("latin1")}`;
    if (tag === 0x87 && (value.length === 4 || value.length === 16)) return `IP:${ipText(value)}`;
    return `[${tag & 0x1f}]`;
  });
  return `${shown.join(", ")}${names.length > 5 ? ", …" : ""}`;
}

function ipText(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  // Not shortened to "::": the text is for a message, and isIP accepts it as it is.
  const text = groups.join(":");
  return isIP(text) ? text : "?";
}
