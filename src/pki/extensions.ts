import * as crypto from "node:crypto";
import { isIP } from "node:net";
import { bitString, children, derNull, derTrue, expectTag, explicit, octetString, oid, oidToString, readWhole, sequence, smallInteger, Tag, tlv } from "./der.js";
import type { SubjectAltNames } from "./hosts.js";

/** One X.509 extension, encoded: `SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }`. */
export function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? sequence(oid(id), derTrue, octetString(value)) : sequence(oid(id), octetString(value));
}

export const oids = {
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectKeyId: "2.5.29.14",
  authorityKeyId: "2.5.29.35",
  subjectAltName: "2.5.29.17",
  crlDistributionPoints: "2.5.29.31",
  authorityInfoAccess: "1.3.6.1.5.5.7.1.1",
  ocspNoCheck: "1.3.6.1.5.5.7.48.1.5",
  extensionRequest: "1.2.840.113549.1.9.14",
} as const;

/** basicConstraints: cA is DEFAULT FALSE, so a leaf's is an empty SEQUENCE (DER leaves defaults out). */
export function basicConstraints(ca: boolean, pathLength: number | undefined): Uint8Array {
  const parts = ca ? [derTrue, ...(pathLength !== undefined ? [smallInteger(pathLength)] : [])] : [];
  return extension(oids.basicConstraints, true, sequence(...parts));
}

/**
 * keyUsage from X.509 bit numbers (bit 0 = digitalSignature ... bit 8 = decipherOnly, the same
 * numbering as @peculiar/x509's KeyUsageFlags): a named bit list, so trailing zero bits are dropped.
 */
export function keyUsage(flags: number): Uint8Array {
  const bytes = [0, 0];
  let highest = -1;
  for (let bit = 0; bit < 9; bit++) {
    if (flags & (1 << bit)) {
      bytes[bit >> 3]! |= 0x80 >> (bit & 7);
      highest = bit;
    }
  }
  const length = (highest >> 3) + 1;
  const unused = 7 - (highest & 7);
  return extension(oids.keyUsage, true, bitString(Uint8Array.from(bytes.slice(0, length)), unused));
}

export function extKeyUsage(ekuOids: readonly string[]): Uint8Array {
  return extension(oids.extKeyUsage, false, sequence(...ekuOids.map(oid)));
}

// crypto.hash (Node 20.12 and later) hashes in one call, without a Hash object: about half the cost
// for a key's few bytes. Read from the namespace: a named import would not link on older 20.x.
const sha1: (data: Uint8Array) => Buffer =
  typeof crypto.hash === "function" ? (data) => crypto.hash("sha1", data, "buffer") : (data) => crypto.createHash("sha1").update(data).digest();

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(spki: Uint8Array): Uint8Array {
  const [, key] = children(readWhole(spki, Tag.sequence).value);
  const bits = expectTag(key, Tag.bitString, "subjectPublicKey").value.subarray(1);
  return sha1(bits);
}

export function subjectKeyId(id: Uint8Array): Uint8Array {
  return extension(oids.subjectKeyId, false, octetString(id));
}

/** authorityKeyIdentifier with the keyIdentifier only ([0] IMPLICIT OCTET STRING). */
export function authorityKeyId(id: Uint8Array): Uint8Array {
  return extension(oids.authorityKeyId, false, sequence(tlv(0x80, id)));
}

/** The 4 or 16 octets of an IPv4 or IPv6 address in text form, as an iPAddress GeneralName holds them. */
export function ipBytes(ip: string): Uint8Array {
  if (isIP(ip) === 4) return Uint8Array.from(ip.split(".").map(Number));
  // Expand "::" and an embedded IPv4 tail into eight 16-bit groups.
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split(".").map(Number);
    text = `${text.slice(0, -v4[1]!.length)}${((a! << 8) | b!).toString(16)}:${((c! << 8) | d!).toString(16)}`;
  }
  const [head, tail] = text.split("::");
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    const value = parseInt(group, 16);
    bytes[2 * i] = value >> 8;
    bytes[2 * i + 1] = value & 0xff;
  });
  return bytes;
}

/** GeneralNames for SANs: dNSName [2], iPAddress [7], rfc822Name [1], URI [6], in cfssl's order. */
export function generalNames(sans: SubjectAltNames): Uint8Array {
  return sequence(
    ...sans.dns.map((name) => tlv(0x82, Buffer.from(name, "latin1"))),
    ...sans.ip.map((ip) => tlv(0x87, ipBytes(ip))),
    ...sans.email.map((email) => tlv(0x81, Buffer.from(email, "latin1"))),
    ...sans.uri.map((uri) => tlv(0x86, Buffer.from(uri, "latin1"))),
  );
}

export function subjectAltName(sans: SubjectAltNames, critical: boolean): Uint8Array {
  return extension(oids.subjectAltName, critical, generalNames(sans));
}

export function crlDistributionPoints(url: string): Uint8Array {
  // DistributionPoint { distributionPoint [0] { fullName [0] { uniformResourceIdentifier [6] } } }
  return extension(oids.crlDistributionPoints, false, sequence(sequence(explicit(0, tlv(0xa0, tlv(0x86, Buffer.from(url, "latin1")))))));
}

export function authorityInfoAccess(ocsp: readonly string[], caIssuers: readonly string[]): Uint8Array {
  const access = (method: string, url: string) => sequence(oid(method), tlv(0x86, Buffer.from(url, "latin1")));
  return extension(
    oids.authorityInfoAccess,
    false,
    sequence(...ocsp.map((url) => access("1.3.6.1.5.5.7.48.1", url)), ...caIssuers.map((url) => access("1.3.6.1.5.5.7.48.2", url))),
  );
}

export function ocspNoCheck(): Uint8Array {
  return extension(oids.ocspNoCheck, false, derNull);
}

/** The extensions of a DER Extensions SEQUENCE, by OID, with their criticality and value. */
export function readExtensions(der: Uint8Array): { id: string; critical: boolean; value: Uint8Array }[] {
  return children(readWhole(der, Tag.sequence).value).map((ext) => {
    const parts = children(expectTag(ext, Tag.sequence, "extension").value);
    const id = oidToString(expectTag(parts[0], Tag.oid, "extension id").value);
    const critical = parts.length === 3 && expectTag(parts[1], Tag.boolean, "critical").value[0] !== 0;
    const value = expectTag(parts[parts.length - 1], Tag.octetString, "extension value").value;
    return { id, critical, value };
  });
}
