// What the console reads out of certificates, CRLs and OCSP answers itself (the API's certinfo
// gives names and dates, not the key or usages).
import { children, fromPem, integer, oid, read, time, tlv } from "./der.js";

const curves = { "1.2.840.10045.3.1.7": "P-256", "1.3.132.0.34": "P-384", "1.3.132.0.35": "P-521" };
const keyUsageNames = [
  "digital signature", "content commitment", "key encipherment", "data encipherment",
  "key agreement", "cert sign", "crl sign", "encipher only", "decipher only",
];
const extKeyUsageNames = {
  "1.3.6.1.5.5.7.3.1": "server auth",
  "1.3.6.1.5.5.7.3.2": "client auth",
  "1.3.6.1.5.5.7.3.3": "code signing",
  "1.3.6.1.5.5.7.3.4": "email protection",
  "1.3.6.1.5.5.7.3.8": "timestamping",
  "1.3.6.1.5.5.7.3.9": "ocsp signing",
};
export const reasonNames = [
  "unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
  "cessationOfOperation", "certificateHold", undefined, "removeFromCRL", "privilegeWithdrawn", "aACompromise",
];

/** The parts of a certificate's TBS the console needs, by name. */
function tbsFields(pem) {
  const [tbs] = children(read(fromPem(pem)).value);
  const fields = children(tbs.value);
  // The version is an explicit [0]; v1 certificates leave it out.
  const at = fields[0].tag === 0xa0 ? 1 : 0;
  return {
    subject: fields[at + 4],
    spki: fields[at + 5],
    extensions: fields.find((f) => f.tag === 0xa3),
  };
}

function describeKey(spki) {
  const [algorithm, bits] = children(spki.value);
  const [algorithmOid, parameters] = children(algorithm.value);
  switch (oid(algorithmOid.value)) {
    case "1.2.840.10045.2.1":
      return `ECDSA ${curves[oid(parameters.value)] ?? oid(parameters.value)}`;
    case "1.2.840.113549.1.1.1": {
      const [modulus] = children(read(bits.value.subarray(1)).value);
      return `RSA ${integer(modulus.value).toString(2).length} bits`;
    }
    case "1.3.101.112":
      return "Ed25519";
    default:
      return oid(algorithmOid.value);
  }
}

/** The key and its usages, as names. */
export function certificateFacts(pem) {
  const { spki, extensions } = tbsFields(pem);
  const facts = { key: describeKey(spki), keyUsages: [], extKeyUsages: [] };
  for (const extension of extensions ? children(children(extensions.value)[0].value) : []) {
    const parts = children(extension.value);
    const value = read(parts[parts.length - 1].value);
    const id = oid(parts[0].value);
    if (id === "2.5.29.15") {
      const flags = value.value.subarray(1);
      facts.keyUsages = keyUsageNames.filter((_, bit) => (flags[bit >> 3] ?? 0) & (0x80 >> (bit & 7)));
    } else if (id === "2.5.29.37") {
      facts.extKeyUsages = children(value.value).map((e) => extKeyUsageNames[oid(e.value)] ?? oid(e.value));
    }
  }
  return facts;
}

/** A CRL's number, this and next update, and how many certificates it lists. */
export function crlFacts(der) {
  const [tbs] = children(read(der).value);
  const fields = children(tbs.value);
  let at = fields[0].tag === 0x02 ? 1 : 0;
  const facts = { thisUpdate: time(fields[at + 2]), nextUpdate: null, entries: 0, number: null };
  at += 3;
  if (fields[at] && (fields[at].tag === 0x17 || fields[at].tag === 0x18)) facts.nextUpdate = time(fields[at++]);
  if (fields[at] && fields[at].tag === 0x30) facts.entries = children(fields[at++].value).length;
  const extensions = fields[at]?.tag === 0xa0 ? children(children(fields[at].value)[0].value) : [];
  for (const extension of extensions) {
    const parts = children(extension.value);
    if (oid(parts[0].value) === "2.5.29.20") facts.number = integer(read(parts[parts.length - 1].value).value).toString();
  }
  return facts;
}

const sha1 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-1", bytes));

/** An OCSP request (RFC 6960) for one serial of the CA whose PEM is given; SHA-1 CertID, as openssl sends. */
export async function ocspRequest(caPem, serialHex) {
  const { subject, spki } = tbsFields(caPem);
  const key = children(spki.value)[1].value.subarray(1);
  const serial = serialHex.replace(/^(00)+/, "").padStart(2, "0");
  const serialBytes = Uint8Array.from(serial.match(/../g), (b) => parseInt(b, 16));
  const positive = serialBytes[0] & 0x80 ? Uint8Array.of(0, ...serialBytes) : serialBytes;
  const sha1Algorithm = tlv(0x30, tlv(0x06, Uint8Array.of(0x2b, 0x0e, 0x03, 0x02, 0x1a)), Uint8Array.of(0x05, 0x00));
  const certId = tlv(0x30, sha1Algorithm, tlv(0x04, await sha1(subject.whole)), tlv(0x04, await sha1(key)), tlv(0x02, positive));
  return tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, certId))));
}

/** The first answer in an OCSP response: good, revoked (with time and reason) or unknown, and its dates. */
export function ocspStatus(der) {
  const [status, bytes] = children(read(der).value);
  if (status.value[0] !== 0) return { status: ["successful", "malformedRequest", "internalError", "tryLater", "", "sigRequired", "unauthorized"][status.value[0]] };
  const [, basic] = children(read(bytes.value).value);
  const [data] = children(read(basic.value).value);
  const fields = children(data.value);
  const responses = fields.find((f, i) => i > 0 && f.tag === 0x30);
  const [single] = children(responses.value);
  const [, certStatus, thisUpdate, ...rest] = children(single.value);
  const answer = { thisUpdate: time(thisUpdate), nextUpdate: rest[0]?.tag === 0xa0 ? time(read(rest[0].value)) : null };
  if (certStatus.tag === 0x80) return { status: "good", ...answer };
  if (certStatus.tag === 0xa1) {
    const [at, reason] = children(certStatus.value);
    return { status: "revoked", revokedAt: time(at), reason: reason ? reasonNames[read(reason.value).value[0]] : undefined, ...answer };
  }
  return { status: "unknown", ...answer };
}
