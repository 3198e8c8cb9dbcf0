import type { KeyAlgorithm } from "./keys.js";

/** X.509 keyUsage bits (RFC 5280 4.2.1.3), as flags: bit n is 1 << n. */
export const KeyUsageBit = {
  digitalSignature: 1 << 0,
  nonRepudiation: 1 << 1,
  keyEncipherment: 1 << 2,
  dataEncipherment: 1 << 3,
  keyAgreement: 1 << 4,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
  encipherOnly: 1 << 7,
  decipherOnly: 1 << 8,
} as const;

const bitNames: [number, string][] = [
  [KeyUsageBit.digitalSignature, "digital signature"],
  [KeyUsageBit.nonRepudiation, "content commitment"],
  [KeyUsageBit.keyEncipherment, "key encipherment"],
  [KeyUsageBit.dataEncipherment, "data encipherment"],
  [KeyUsageBit.keyAgreement, "key agreement"],
  [KeyUsageBit.keyCertSign, "cert sign"],
  [KeyUsageBit.cRLSign, "crl sign"],
  [KeyUsageBit.encipherOnly, "encipher only"],
  [KeyUsageBit.decipherOnly, "decipher only"],
];

/**
 * The key usages a key of each type can have at all: RFC 3279 2.3.1 for RSA (no key agreement),
 * RFC 8813 3 for ECDSA (no key or data encipherment; encipher/decipher only with key agreement),
 * RFC 8410 5 for Ed25519 (signatures only).
 */
const possible: Record<KeyAlgorithm, { bits: number; rfc: string }> = {
  rsa: {
    bits: KeyUsageBit.digitalSignature | KeyUsageBit.nonRepudiation | KeyUsageBit.keyEncipherment | KeyUsageBit.dataEncipherment | KeyUsageBit.keyCertSign | KeyUsageBit.cRLSign,
    rfc: "RFC 3279",
  },
  ecdsa: {
    bits: KeyUsageBit.digitalSignature | KeyUsageBit.nonRepudiation | KeyUsageBit.keyAgreement | KeyUsageBit.keyCertSign | KeyUsageBit.cRLSign | KeyUsageBit.encipherOnly | KeyUsageBit.decipherOnly,
    rfc: "RFC 8813",
  },
  ed25519: {
    bits: KeyUsageBit.digitalSignature | KeyUsageBit.nonRepudiation | KeyUsageBit.keyCertSign | KeyUsageBit.cRLSign,
    rfc: "RFC 8410",
  },
};

/** Extended key usages under which an RSA key may transport keys: TLS servers (RSA key exchange), S/MIME, IPsec, any. */
const keyTransportUses = new Set([
  "2.5.29.37.0",
  "1.3.6.1.5.5.7.3.1",
  "1.3.6.1.5.5.7.3.4",
  "1.3.6.1.5.5.7.3.5",
  "1.3.6.1.5.5.7.3.6",
  "1.3.6.1.5.5.7.3.7",
  "1.3.6.1.4.1.311.10.3.3",
  "2.16.840.1.113730.4.1",
]);

function names(bits: number): string {
  return bitNames.filter(([bit]) => bits & bit).map(([, name]) => name).join(", ");
}

/**
 * A profile's key usage made right for the key it certifies: bits the key type cannot have are
 * left out (cfssl's shipped profiles put key encipherment on every leaf, ECDSA ones included), and
 * so is an RSA key's key encipherment when the extended key usages never transport keys (client
 * auth only, code signing…). `note` says what was left out and why, for the envelope's messages;
 * `keyUsage` is 0 when nothing is left.
 */
export function keyUsageForKey(profileKeyUsage: number, extKeyUsages: readonly string[], algorithm: KeyAlgorithm): { keyUsage: number; note: string | undefined } {
  const { bits, rfc } = possible[algorithm];
  let keyUsage = profileKeyUsage & bits;
  // Encipher only and decipher only qualify key agreement; without it they mean nothing.
  if (!(keyUsage & KeyUsageBit.keyAgreement)) keyUsage &= ~(KeyUsageBit.encipherOnly | KeyUsageBit.decipherOnly);
  const notes: string[] = [];
  const impossible = profileKeyUsage & ~keyUsage;
  if (impossible) notes.push(`${names(impossible)}: not possible with an ${algorithm === "rsa" ? "RSA" : algorithm === "ecdsa" ? "ECDSA" : "Ed25519"} key (${rfc})`);
  if (
    algorithm === "rsa" &&
    keyUsage & KeyUsageBit.keyEncipherment &&
    extKeyUsages.length > 0 &&
    !extKeyUsages.some((oid) => keyTransportUses.has(oid))
  ) {
    keyUsage &= ~KeyUsageBit.keyEncipherment;
    notes.push("key encipherment: its extended key usages never transport keys");
  }
  return { keyUsage, note: notes.length ? `key usage left out of the certificate: ${notes.join("; ")}` : undefined };
}
