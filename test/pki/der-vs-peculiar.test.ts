// Property tests of the fast DER path (src/pki/der.ts, extensions.ts, name.ts, certificate.ts,
// csr.ts) against @peculiar/x509, the general path it replaced, and against openssl and node:crypto.
//
// a. TBSCertificate: for random CA keys, subject keys, SAN mixes, subjects, lifetimes and profiles,
//    `encodeTbs(certificateTemplate(...))` equals, byte for byte, what @peculiar/x509's
//    X509CertificateGenerator signs for the same values (extensions rebuilt with @peculiar's own
//    extension classes from the request, not copied from the template).
// b. `signTbs` output verifies with node:crypto and `openssl verify`; openssl shows the SANs.
// c. CSRs: @peculiar's CSRs read by `parseCsr` (subject, SPKI, SANs, requestsCa); `buildCsr`'s
//    CSRs read and verified by @peculiar and `openssl req -verify`.
// d. Malformed CSRs (byte flips, truncations): `parseCsr` throws a CertwrightError of a CSR kind,
//    or returns only for bytes @peculiar also parses and verifies.
import assert from "node:assert/strict";
import { type KeyObject, X509Certificate, createPublicKey, webcrypto } from "node:crypto";
import { isIP } from "node:net";
import fc from "fast-check";
import t from "tap";
import { CertwrightError } from "../../src/errors.js";
import { loadCertificateAuthority } from "../../src/pki/ca.js";
import { certificateTemplate, createSelfSignedCa, encodeTbs, signTbs, type CertificateAuthority, type IssueRequest } from "../../src/pki/certificate.js";
import { buildCsr, parseCsr, type ParsedCsr } from "../../src/pki/csr.js";
import { children, oidToString, readElement, Tag } from "../../src/pki/der.js";
import { emptySans, splitHosts, type SubjectAltNames } from "../../src/pki/hosts.js";
import { keyUsageForKey } from "../../src/pki/key-usage.js";
import { generatePrivateKey, type KeySpec, type PrivateKey } from "../../src/pki/keys.js";
import { encodeName, type DistinguishedName, type NameAttribute } from "../../src/pki/name.js";
import { encodePem } from "../../src/pki/pem.js";
import { buildName, subjectFieldsFromRequest, subjectLimits } from "../../src/pki/subject.js";
import { x509 } from "../../src/pki/webcrypto.js";
import { parseSigningConfig, type SigningProfile } from "../../src/profiles/signing-config.js";
import { knownUsages } from "../../src/profiles/usages.js";
import { openssl, tempDir, writeFile } from "../helpers/app.js";

const SEED = 20240404;
const hex = (bytes: Uint8Array | ArrayBuffer) => Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString("hex");
const started = Date.now();
/** A copy on a plain ArrayBuffer, as @peculiar's types want. */
const own = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(bytes);

// ---------------------------------------------------------------------------------------------
// Keys, made once (RSA-2048 generation is slow), each also imported into WebCrypto for @peculiar.

interface TestKey {
  key: PrivateKey;
  label: string;
  /** WebCrypto key pairs by signing algorithm name. */
  webcrypto: Map<string, CryptoKeyPair>;
}

const specs: { spec: KeySpec; count: number }[] = [
  { spec: { algo: "ecdsa", size: 256 }, count: 3 },
  { spec: { algo: "ecdsa", size: 384 }, count: 2 },
  { spec: { algo: "ecdsa", size: 521 }, count: 2 },
  { spec: { algo: "ed25519", size: 0 }, count: 2 },
  { spec: { algo: "rsa", size: 2048 }, count: 3 },
];
const keys: TestKey[] = await Promise.all(
  specs.flatMap(({ spec, count }) =>
    Array.from({ length: count }, async (_, i) => ({
      key: await generatePrivateKey(spec),
      label: `${spec.algo}${spec.size || ""}#${i}`,
      webcrypto: new Map<string, CryptoKeyPair>(),
    })),
  ),
);
const keysOf = (algo: string, size?: number) => keys.filter((k) => k.key.spec.algo === algo && (size === undefined || k.key.spec.size === size));

type SigAlg = { name: string; hash?: string; saltLength?: number };

/** The WebCrypto algorithm that imports a key for `sig`. */
function importAlgorithm(key: PrivateKey, sig: SigAlg): Algorithm {
  switch (key.spec.algo) {
    case "ecdsa":
      return { name: "ECDSA", namedCurve: `P-${key.spec.size}` } as EcKeyImportParams;
    case "ed25519":
      return { name: "Ed25519" };
    case "rsa":
      return { name: sig.name, hash: sig.hash } as RsaHashedImportParams;
  }
}

async function webKeys(k: TestKey, sig: SigAlg): Promise<CryptoKeyPair> {
  const id = `${sig.name}/${sig.hash ?? ""}`;
  let pair = k.webcrypto.get(id);
  if (!pair) {
    const algorithm = importAlgorithm(k.key, sig);
    const pkcs8 = k.key.keyObject.export({ format: "der", type: "pkcs8" });
    const privateKey = (await webcrypto.subtle.importKey("pkcs8", pkcs8, algorithm, true, ["sign"])) as unknown as CryptoKey;
    const publicKey = (await webcrypto.subtle.importKey("spki", k.key.spki, algorithm, true, ["verify"])) as unknown as CryptoKey;
    pair = { privateKey, publicKey };
    k.webcrypto.set(id, pair);
  }
  return pair;
}

/** The signature algorithm certwright uses for a CA key (keys.ts signatureAlgorithmFor), in WebCrypto terms. */
function certwrightSigAlg(spec: KeySpec): SigAlg {
  switch (spec.algo) {
    case "ecdsa":
      return { name: "ECDSA", hash: spec.size === 521 ? "SHA-512" : spec.size === 384 ? "SHA-384" : "SHA-256" };
    case "rsa":
      return { name: "RSASSA-PKCS1-v1_5", hash: spec.size >= 4096 ? "SHA-512" : spec.size >= 3072 ? "SHA-384" : "SHA-256" };
    case "ed25519":
      return { name: "Ed25519" };
  }
}

/** A WebCrypto provider that records what it is asked to sign: @peculiar's TBS, exactly as signed. */
let lastSigned: Uint8Array | undefined;
const recordingSubtle = new Proxy(webcrypto.subtle, {
  get(target, prop) {
    if (prop === "sign") {
      return async (algorithm: AlgorithmIdentifier, key: CryptoKey, data: BufferSource) => {
        lastSigned = new Uint8Array(ArrayBuffer.isView(data) ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) : data.slice(0));
        return target.sign(algorithm as never, key as never, data as never);
      };
    }
    const value = Reflect.get(target, prop, target);
    return typeof value === "function" ? value.bind(target) : value;
  },
});
const recordingCrypto = {
  subtle: recordingSubtle,
  getRandomValues: <T extends ArrayBufferView | null>(array: T) => webcrypto.getRandomValues(array as never) as T,
  randomUUID: () => webcrypto.randomUUID(),
} as unknown as Crypto;

// ---------------------------------------------------------------------------------------------
// CAs: one per key type, one with a path length; created in 2000 and valid for 200 years so that
// random issuance times up to 2150 land inside them and lifetimes run past 2050 (GeneralizedTime).

const caCreated = new Date("2000-01-01T00:00:00Z");
const caSubjects: Record<string, string> = {};
interface TestCa {
  ca: CertificateAuthority;
  testKey: TestKey;
  pem: string;
  label: string;
}
async function makeTestCa(testKey: TestKey, cn: string, pathLength: number | undefined, extraNames = {}): Promise<TestCa> {
  const subject = buildName(subjectFieldsFromRequest({ CN: cn, names: [extraNames] }));
  const { pem } = createSelfSignedCa({ subject, sans: emptySans(), key: testKey.key, expiryMs: 200 * 365 * 86_400_000, pathLength }, caCreated);
  const ca = await loadCertificateAuthority(pem, testKey.key.pem, "", caCreated);
  caSubjects[testKey.label] = cn;
  return { ca, testKey, pem, label: `${testKey.label}${pathLength === undefined ? "" : ` pathlen ${pathLength}`}` };
}
const cas: TestCa[] = [
  await makeTestCa(keysOf("ecdsa", 256)[0]!, "certwright test CA P-256", undefined, { C: "US", O: "Example Team", OU: "Platform" }),
  await makeTestCa(keysOf("ecdsa", 384)[0]!, "認証局 P-384 🔐", undefined, { O: "Beispiel GmbH – Zürich" }),
  await makeTestCa(keysOf("ecdsa", 521)[0]!, "P-521 CA", 2),
  await makeTestCa(keysOf("rsa")[0]!, "RSA CA", undefined, { L: "San Francisco", ST: "California" }),
  await makeTestCa(keysOf("ed25519")[0]!, "Ed25519 CA", undefined),
];

// ---------------------------------------------------------------------------------------------
// Arbitraries.

const printableChars = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?"];
const otherAscii = [...'!"#$%&*;<>@[\\]^_`{|}~'];
const unicodeChars = [..."éüßñçÅøŁœ–€中文日本語漢字한국어認証局😀🔐🚀🏽👍ℕ𝔘"];
const textOf = (chars: string[], max: number, min = 0) => fc.array(fc.constantFrom(...chars), { minLength: min, maxLength: max }).map((cs) => cs.join(""));
/** A subject attribute value of at most `max` code points: PrintableString-safe, ASCII, or UTF-8 with CJK and emoji. */
const attrValue = (max: number) =>
  fc.oneof(
    { weight: 3, arbitrary: textOf(printableChars, Math.min(max, 20), 1) },
    { weight: 1, arbitrary: textOf(printableChars, max, 1) },
    { weight: 2, arbitrary: textOf([...printableChars, ...otherAscii], Math.min(max, 20), 1) },
    { weight: 3, arbitrary: textOf([...printableChars, ...unicodeChars], Math.min(max, 20), 1) },
    { weight: 1, arbitrary: textOf([...printableChars, ...unicodeChars], max, max) },
  );
const country = fc.constantFrom("US", "DE", "JP", "cn", "Fr", "GB");
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 3 });

/** A subject as the service builds it from a CSR JSON (buildName: PrintableString or UTF8String; cfssl's order). */
const requestSubject: fc.Arbitrary<DistinguishedName> = fc
  .record({
    CN: optional(attrValue(subjectLimits.CN)),
    names: fc.array(
      fc.record({
        C: optional(country),
        ST: optional(attrValue(subjectLimits.ST)),
        L: optional(attrValue(subjectLimits.L)),
        O: optional(attrValue(subjectLimits.O)),
        OU: optional(attrValue(subjectLimits.OU)),
      }),
      { maxLength: 2 },
    ),
  })
  .map((request) => buildName(subjectFieldsFromRequest(request)));

const attributeTypes = [
  { oid: "2.5.4.3", max: subjectLimits.CN },
  { oid: "2.5.4.10", max: subjectLimits.O },
  { oid: "2.5.4.11", max: subjectLimits.OU },
  { oid: "2.5.4.7", max: subjectLimits.L },
  { oid: "2.5.4.8", max: subjectLimits.ST },
];
const isPrintable = (value: string) => /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value);
/** A subject as a CSR may carry it: any order, any string type that can hold the value, some multi-valued RDNs. */
const csrAttribute: fc.Arbitrary<NameAttribute> = fc.oneof(
  fc
    .tuple(fc.constantFrom(...attributeTypes), fc.integer({ min: 0, max: 3 }))
    .chain(([type, tagChoice]) => attrValue(type.max).map((value) => ({ type, tagChoice, value })))
    .map(({ type, tagChoice, value }) => {
      const bmpOk = [...value].every((c) => c.length === 1);
      const candidates = [
        Tag.utf8String,
        ...(isPrintable(value) ? [Tag.printableString] : []),
        ...(/^[\x20-\x7e]*$/.test(value) ? [Tag.ia5String] : []),
        ...(bmpOk ? [Tag.bmpString] : []),
      ];
      return { oid: type.oid, tag: candidates[tagChoice % candidates.length]!, value };
    }),
  country.map((value) => ({ oid: "2.5.4.6", tag: Tag.printableString, value })),
);
const csrSubject: fc.Arbitrary<DistinguishedName> = fc
  .array(fc.array(csrAttribute, { minLength: 1, maxLength: 2 }), { maxLength: 5 })
  .map((rdns) => encodeName(rdns));
const anySubject = fc.oneof(requestSubject, csrSubject);

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
const dnsName = fc
  .tuple(fc.boolean(), fc.array(label, { minLength: 1, maxLength: 3 }), fc.constantFrom("example.com", "svc.cluster.local", "EXAMPLE.org", "xn--bcher-kva.example"))
  .map(([wildcard, labels, zone]) => `${wildcard ? "*." : ""}${[...labels, zone].join(".")}`);
const ipv4Bytes = fc.array(fc.nat(255), { minLength: 4, maxLength: 4 });
const ipv4 = fc.oneof(ipv4Bytes.map((b) => b.join(".")), fc.constantFrom("127.0.0.1", "0.0.0.0", "255.255.255.255", "10.0.0.1"));
/** 16-bit groups, often zero, so "::" compression shows up. */
const groups = fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 });
const ipv6 = fc.oneof(
  groups.map((g) => g.map((x) => x.toString(16)).join(":")), // full, unpadded
  groups.map((g) => g.map((x) => x.toString(16).padStart(4, "0").toUpperCase()).join(":")), // full, padded, upper case
  groups.map((g) => canonicalIp(g.map((x) => x.toString(16)).join(":"))), // compressed (RFC 5952)
  groups.map((g) => {
    // "::" replacing some (not necessarily the longest) zero run, or none
    const hexes = g.map((x) => x.toString(16));
    const start = g.indexOf(0);
    if (start < 0) return hexes.join(":");
    let end = start;
    while (end < 8 && g[end] === 0) end++;
    return `${hexes.slice(0, start).join(":")}::${hexes.slice(end).join(":")}`;
  }),
  ipv4Bytes.map((b) => `::ffff:${b.join(".")}`), // IPv4-mapped
  ipv4Bytes.map((b) => `::FFFF:${b.join(".")}`),
  fc.tuple(groups, ipv4Bytes).map(([g, b]) => `${g.slice(0, 6).map((x) => x.toString(16)).join(":")}:${b.join(".")}`), // full with IPv4 tail
  fc.tuple(fc.integer({ min: 1, max: 0xffff }), ipv4Bytes).map(([x, b]) => `${x.toString(16)}::${b.join(".")}`), // compressed with IPv4 tail
  fc.constantFrom("::", "::1", "1::", "fe80::1", "2001:db8::", "::0:0:1", "0:0:0:0:0:0:0:0", "2001:DB8:0:0:1:0:0:1"),
);
const email = fc.tuple(fc.stringMatching(/^[a-z0-9][a-z0-9._+-]{0,8}$/), fc.constantFrom("example.com", "mail.example.org")).map(([l, d]) => `${l}@${d}`);
const uri = fc.oneof(
  fc.tuple(label, label).map(([ns, sa]) => `spiffe://cluster.local/ns/${ns}/sa/${sa}`),
  fc.tuple(label, label).map(([h, p]) => `https://${h}.example.com/${p}?q=1&r=%20`),
  fc.constant("urn://x/y"),
);
/** `hosts` entries in any order, split into SANs as newcert/sign do. */
const hostsList = fc.array(fc.oneof(dnsName, ipv4, ipv6, email, uri), { maxLength: 8 });

/** The canonical text of an IP: IPv4 as is, IPv6 through the WHATWG URL parser (RFC 5952 form, no IPv4 tail). */
function canonicalIp(ip: string): string {
  return isIP(ip) === 4 ? ip : new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}

/** An IPv6 address as openssl prints it: eight unpadded upper-case groups, no "::". */
function opensslIpv6(ip: string): string {
  const [head, tail] = canonicalIp(ip).split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  return groups.map((g) => g.toUpperCase()).join(":");
}

const httpUrl = fc.tuple(label, fc.constantFrom("crl", "ocsp", "ca.crt", "a/b/c.crl")).map(([h, p]) => `http://${h}.example.net/${p}`);
const profileJson = fc.record({
  usages: fc.subarray(knownUsages, { maxLength: 8 }),
  expiryHours: fc.oneof(fc.integer({ min: 4, max: 24 * 90 }), fc.integer({ min: 4, max: 200 * 8760 })),
  backdateMinutes: fc.integer({ min: 0, max: 30 }),
  ca_constraint: optional(fc.record({ is_ca: fc.boolean(), max_path_len: optional(fc.integer({ min: 0, max: 4 })), max_path_len_zero: optional(fc.boolean()) })),
  crl_url: optional(httpUrl),
  ocsp_url: optional(httpUrl),
  issuer_urls: fc.array(httpUrl, { maxLength: 2 }),
  ocsp_no_check: fc.boolean(),
  beyond_ca_expiry: fc.constantFrom("truncate", "truncate", "refuse"),
});

type ValueOf<A> = A extends fc.Arbitrary<infer T> ? T : never;

function profileOf(json: ValueOf<typeof profileJson>): SigningProfile {
  const { expiryHours, backdateMinutes, ca_constraint, crl_url, ocsp_url, ...rest } = json;
  const raw: Record<string, unknown> = { ...rest, expiry: `${expiryHours}h`, backdate: `${backdateMinutes}m` };
  // keyCertSign loads only in a CA profile.
  if (!ca_constraint?.is_ca) raw.usages = rest.usages.filter((usage) => usage !== "cert sign");
  if (ca_constraint) raw.ca_constraint = Object.fromEntries(Object.entries(ca_constraint).filter(([, v]) => v !== undefined));
  if (crl_url) raw.crl_url = crl_url;
  if (ocsp_url) raw.ocsp_url = ocsp_url;
  return parseSigningConfig({ signing: { default: raw } }).defaultProfile;
}

const issuanceCase = fc.record({
  caIndex: fc.nat(cas.length - 1),
  subjectKey: fc.nat(keys.length - 1),
  subject: anySubject,
  hosts: hostsList,
  profile: profileJson,
  now: fc.date({ min: new Date("2001-01-01T00:00:00Z"), max: new Date("2150-01-01T00:00:00Z"), noInvalidDate: true }),
  // Narrowing of the window by the request, as fractions of what is left (see `requestWindow`).
  notBefore: optional(fc.double({ min: 0, max: 0.5, noNaN: true })),
  expiry: optional(fc.double({ min: 0.5, max: 1, noNaN: true })),
  notAfter: optional(fc.double({ min: 0.5, max: 1, noNaN: true })),
});
type IssuanceCase = ValueOf<typeof issuanceCase>;

// ---------------------------------------------------------------------------------------------
// The model of issuance (what the template must hold) and the @peculiar build of the same certificate.

const keyUsageFlagsByName: Record<string, number> = {
  signing: x509.KeyUsageFlags.digitalSignature,
  "digital signature": x509.KeyUsageFlags.digitalSignature,
  "content commitment": x509.KeyUsageFlags.nonRepudiation,
  "key encipherment": x509.KeyUsageFlags.keyEncipherment,
  "key agreement": x509.KeyUsageFlags.keyAgreement,
  "data encipherment": x509.KeyUsageFlags.dataEncipherment,
  "cert sign": x509.KeyUsageFlags.keyCertSign,
  "crl sign": x509.KeyUsageFlags.cRLSign,
  "encipher only": x509.KeyUsageFlags.encipherOnly,
  "decipher only": x509.KeyUsageFlags.decipherOnly,
};
const ekuByName: Record<string, string> = {
  any: "2.5.29.37.0",
  "server auth": x509.ExtendedKeyUsage.serverAuth,
  "client auth": x509.ExtendedKeyUsage.clientAuth,
  "code signing": x509.ExtendedKeyUsage.codeSigning,
  "email protection": x509.ExtendedKeyUsage.emailProtection,
  "s/mime": x509.ExtendedKeyUsage.emailProtection,
  "ipsec end system": "1.3.6.1.5.5.7.3.5",
  "ipsec tunnel": "1.3.6.1.5.5.7.3.6",
  "ipsec user": "1.3.6.1.5.5.7.3.7",
  timestamping: x509.ExtendedKeyUsage.timeStamping,
  "ocsp signing": x509.ExtendedKeyUsage.ocspSigning,
  "microsoft sgc": "1.3.6.1.4.1.311.10.3.3",
  "netscape sgc": "2.16.840.1.113730.4.1",
};

interface Built {
  /** With the whole parsed profile: the expected extensions are worked out from its usage names. */
  request: IssueRequest & { profile: SigningProfile };
  testCa: TestCa;
  subjectKey: TestKey;
  /** What the window must be, by the rules of validityOf, or the refusal expected. */
  expected: { notBefore: Date; notAfter: Date } | { refused: string };
}

function build(c: IssuanceCase): Built {
  const testCa = cas[c.caIndex]!;
  const subjectKey = keys[c.subjectKey]!;
  const profile = profileOf(c.profile);
  const sans = splitHosts(c.hosts);
  const minute = 60_000;
  const nb0 = Math.round(c.now.getTime() / minute) * minute - profile.backdateMs;
  const na0 = nb0 + profile.expiryMs;
  const request: Built["request"] = { subject: c.subject, spki: subjectKey.key.spki, sans, profile };
  let nb = nb0;
  let na = na0;
  if (c.notBefore !== undefined) {
    nb = nb0 + Math.floor(c.notBefore * (na0 - nb0));
    request.notBefore = new Date(nb);
  }
  if (c.expiry !== undefined) {
    request.expiryMs = Math.max(1, Math.floor(c.expiry * (na - nb)));
    na = nb + request.expiryMs;
  }
  if (c.notAfter !== undefined) {
    na = nb + 1 + Math.floor(c.notAfter * (na - nb - 1));
    request.notAfter = new Date(na);
  }
  const sanTotal = sans.dns.length + sans.ip.length + sans.email.length + sans.uri.length;
  let expected: Built["expected"];
  const caPath = testCa.ca.pathLength;
  if (profile.keyUsage === 0 && profile.extKeyUsages.length === 0) expected = { refused: "noKeyUsages" };
  else if (c.subject.rdns.length === 0 && sanTotal === 0) expected = { refused: "csrInvalid" };
  else if (na > testCa.ca.notAfter.getTime() && profile.beyondCaExpiry === "refuse") expected = { refused: "policyViolation" };
  else if (profile.isCa && caPath !== undefined && (profile.maxPathLen === undefined || profile.maxPathLen >= caPath)) expected = { refused: "policyViolation" };
  else if (profile.keyUsage !== 0 && keyUsageForKey(profile.keyUsage, profile.extKeyUsages, subjectKey.key.spec.algo).keyUsage === 0) expected = { refused: "policyViolation" };
  else expected = { notBefore: new Date(nb), notAfter: new Date(Math.min(na, testCa.ca.notAfter.getTime())) };
  return { request, testCa, subjectKey, expected };
}

/** @peculiar's SAN list for the request's SANs, in cfssl's order; IPv6 given to it in canonical form (see below). */
function peculiarSans(sans: SubjectAltNames): x509.JsonGeneralNames {
  return [
    ...sans.dns.map((value) => ({ type: "dns" as const, value })),
    // @peculiar/asn1-x509's IpConverter does not read an IPv6 address with an IPv4 tail
    // ("::ffff:1.2.3.4" becomes ::ffff:0:1 without an error; see the test "@peculiar's own IP
    // parser" below), so it is given the RFC 5952 form from the WHATWG URL parser, which is
    // independent of certwright's ipBytes.
    ...sans.ip.map((value) => ({ type: "ip" as const, value: canonicalIp(value) })),
    ...sans.email.map((value) => ({ type: "email" as const, value })),
    ...sans.uri.map((value) => ({ type: "url" as const, value })),
  ];
}

/** The same certificate through @peculiar/x509: extensions from the request's values with @peculiar's classes. */
async function peculiarCertificate(b: Built, template: ReturnType<typeof certificateTemplate>["template"]) {
  const { request, testCa } = b;
  const { profile, sans } = request;
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(profile.isCa, profile.isCa ? profile.maxPathLen : undefined, true)];
  const ekus = [...new Set(profile.usages.map((name) => ekuByName[name]).filter((oid): oid is string => oid !== undefined))];
  // The profile's usages, less what the key type cannot have (test/api/conformance.test.ts checks that rule with openssl).
  const flags = keyUsageForKey(profile.usages.reduce((f, name) => f | (keyUsageFlagsByName[name] ?? 0), 0), ekus, b.subjectKey.key.spec.algo).keyUsage;
  if (flags !== 0) extensions.push(new x509.KeyUsagesExtension(flags, true));
  if (ekus.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension(ekus, false));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(own(request.spki), false, webcrypto as unknown as Crypto));
  extensions.push(await x509.AuthorityKeyIdentifierExtension.create(own(testCa.testKey.key.spki), false, webcrypto as unknown as Crypto));
  const names = peculiarSans(sans);
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, request.subject.rdns.length === 0));
  if (profile.crlUrl) extensions.push(new x509.CRLDistributionPointsExtension([profile.crlUrl]));
  if (profile.ocspUrl || profile.issuerUrls.length > 0) {
    extensions.push(new x509.AuthorityInfoAccessExtension({ ocsp: profile.ocspUrl ? [profile.ocspUrl] : [], caIssuers: profile.issuerUrls }));
  }
  // id-pkix-ocsp-nocheck has no @peculiar class: its value is a NULL (RFC 6960 4.2.2.2.1).
  if (profile.ocspNoCheck) extensions.push(new x509.Extension("1.3.6.1.5.5.7.48.1.5", false, Uint8Array.of(0x05, 0x00)));

  const sig = certwrightSigAlg(testCa.ca.key.spec);
  const { privateKey } = await webKeys(testCa.testKey, sig);
  lastSigned = undefined;
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: hex(template.serial),
      notBefore: template.notBefore,
      notAfter: template.notAfter,
      issuer: new x509.Name(own(template.issuer)),
      subject: new x509.Name(own(template.subject)),
      publicKey: own(template.spki),
      signingKey: privateKey,
      signingAlgorithm: sig as Algorithm,
      extensions,
    },
    recordingCrypto,
  );
  const signed = lastSigned as Uint8Array | undefined;
  assert.ok(signed, "@peculiar signed something");
  return { certificate, signed };
}

const tbsFieldNames = ["version", "serialNumber", "signature", "issuer", "validity", "subject", "subjectPublicKeyInfo", "extensions"];
/** Names the first TBS field (and extension) where two encodings differ, for readable failures. */
function describeDifference(fast: Uint8Array, peculiar: Uint8Array): string {
  const a = children(readElement(fast).value);
  const b = children(readElement(peculiar).value);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (hex(a[i]?.raw ?? new Uint8Array()) === hex(b[i]?.raw ?? new Uint8Array())) continue;
    const field = tbsFieldNames[i] ?? `field ${i}`;
    if (field === "extensions" && a[i] && b[i]) {
      const ea = children(children(a[i]!.value)[0]!.value);
      const eb = children(children(b[i]!.value)[0]!.value);
      for (let j = 0; j < Math.max(ea.length, eb.length); j++) {
        const ha = hex(ea[j]?.raw ?? new Uint8Array());
        const hb = hex(eb[j]?.raw ?? new Uint8Array());
        if (ha !== hb) {
          const id = (e: typeof ea[number] | undefined) => (e ? oidToString(children(e.value)[0]!.value) : "none");
          return `extension #${j} (${id(ea[j])} vs ${id(eb[j])}): fast ${ha} vs @peculiar ${hb}`;
        }
      }
    }
    return `${field}: fast ${hex(a[i]?.raw ?? new Uint8Array())} vs @peculiar ${hex(b[i]?.raw ?? new Uint8Array())}`;
  }
  return "no difference found field by field";
}

const counts: Record<string, number> = {};
const count = (what: string) => (counts[what] = (counts[what] ?? 0) + 1);

// ---------------------------------------------------------------------------------------------

t.test("@peculiar's own IP parser mis-reads an IPv6 address with an IPv4 tail (why IPs are given to it canonical)", async (t) => {
  const ext = new x509.SubjectAlternativeNameExtension([{ type: "ip", value: "::ffff:1.2.3.4" }]);
  const ip = ext.names.items[0]!.value;
  t.not(ip, "::ffff:102:304", `@peculiar reads ::ffff:1.2.3.4 as ${ip}`);
  // certwright's fast path encodes it as the 16 bytes of ::ffff:102:304 (openssl prints it as such below).
  const fast = parseCsr(buildCsr(encodeName([]), { ...emptySans(), ip: ["::ffff:1.2.3.4"] }, keys[0]!.key).pem);
  t.same(fast.sans.ip, ["::ffff:102:304"]);
});

t.test("a. the fast TBSCertificate equals @peculiar/x509's for the same values", async (t) => {
  const numRuns = 200;
  await fc.assert(
    fc.asyncProperty(issuanceCase, async (c) => {
      const b = build(c);
      let result: ReturnType<typeof certificateTemplate>;
      try {
        result = certificateTemplate(b.testCa.ca, b.request, c.now);
      } catch (error) {
        assert.ok(error instanceof CertwrightError, `a CertwrightError, got ${error}`);
        assert.ok("refused" in b.expected, `unexpected refusal: ${error.kind}: ${error.message}`);
        assert.equal(error.kind, b.expected.refused, error.message);
        count(`a: refused ${error.kind}`);
        return;
      }
      assert.ok(!("refused" in b.expected), `expected a refusal (${"refused" in b.expected ? b.expected.refused : ""})`);
      const { template } = result;
      assert.equal(template.notBefore.getTime(), b.expected.notBefore.getTime(), "notBefore as validityOf's rules say");
      assert.equal(template.notAfter.getTime(), b.expected.notAfter.getTime(), "notAfter as validityOf's rules say");
      const tbs = encodeTbs(template);
      const { certificate, signed } = await peculiarCertificate(b, template);
      const peculiarTbs = children(readElement(new Uint8Array(certificate.rawData)).value)[0]!.raw;
      assert.equal(hex(signed), hex(peculiarTbs), "@peculiar's certificate holds the TBS it signed");
      if (hex(tbs) !== hex(signed)) assert.fail(`TBS differs: ${describeDifference(tbs, signed)}`);
      count("a: equal");
      if (template.notAfter.getUTCFullYear() >= 2050) count("a: GeneralizedTime notAfter");
      if (template.notBefore.getUTCFullYear() >= 2050) count("a: GeneralizedTime notBefore");
      if (c.subject.rdns.length === 0) count("a: empty subject (critical SAN)");
      if (b.request.sans.ip.some((ip) => ip.includes("."))) count("a: IPv6 with IPv4 tail or IPv4");
      count(`a: CA ${b.testCa.label}`);
    }),
    { seed: SEED, numRuns },
  );
  t.pass(`${numRuns} runs: ${JSON.stringify(Object.fromEntries(Object.entries(counts).filter(([k]) => k.startsWith("a:"))))}`);
});

t.test("b. signTbs output verifies with node:crypto and openssl, and openssl shows the SANs", async (t) => {
  const dir = tempDir(t);
  const caFiles = cas.map((c, i) => writeFile(dir, `ca${i}.pem`, c.pem));
  const numRuns = 40;
  let verified = 0;
  await fc.assert(
    fc.asyncProperty(issuanceCase, async (c) => {
      const b = build(c);
      if ("refused" in b.expected) return;
      const { template } = certificateTemplate(b.testCa.ca, b.request, c.now);
      const der = signTbs(encodeTbs(template), template.signatureAlgorithm, b.testCa.ca.key);
      const cert = new X509Certificate(der);
      const caPublic: KeyObject = createPublicKey(b.testCa.ca.key.keyObject);
      assert.ok(cert.verify(caPublic), "node:crypto verifies the signature with the CA key");
      assert.ok(cert.checkIssued(new X509Certificate(b.testCa.pem)), "node:crypto: issued by the CA");
      const pem = encodePem("CERTIFICATE", der);
      const leaf = writeFile(dir, "leaf.pem", pem);
      const nb = Math.floor(template.notBefore.getTime() / 1000);
      const na = Math.floor(template.notAfter.getTime() / 1000);
      const timeArgs = nb < na ? ["-attime", String(nb)] : ["-no_check_time"];
      const result = openssl(["verify", ...timeArgs, "-CAfile", caFiles[c.caIndex]!, leaf]);
      assert.equal(result.status, 0, `openssl verify: ${result.stdout}${result.stderr}\n${pem}`);
      const text = openssl(["x509", "-noout", "-text", "-in", leaf]);
      assert.equal(text.status, 0, text.stderr);
      for (const dns of b.request.sans.dns) assert.ok(text.stdout.includes(`DNS:${dns}`), `openssl shows DNS:${dns}`);
      for (const mail of b.request.sans.email) assert.ok(text.stdout.includes(`email:${mail}`), `openssl shows email:${mail}`);
      for (const u of b.request.sans.uri) assert.ok(text.stdout.includes(`URI:${u}`), `openssl shows URI:${u}`);
      for (const ip of b.request.sans.ip) {
        // openssl prints IPv6 as eight unpadded upper-case groups, without compression.
        const printed = isIP(ip) === 4 ? ip : opensslIpv6(ip);
        assert.ok(text.stdout.includes(`IP Address:${printed}`), `openssl shows IP Address:${printed} for ${ip}:\n${text.stdout}`);
      }
      verified++;
    }),
    { seed: SEED + 1, numRuns },
  );
  t.ok(verified > numRuns / 2, `${verified} of ${numRuns} cases issued and verified (the rest are refusals, checked in a.)`);
});

// ---------------------------------------------------------------------------------------------
// CSRs.

const sigAlgFor = (k: TestKey, choice: number): SigAlg => {
  const hashes = ["SHA-256", "SHA-384", "SHA-512"];
  switch (k.key.spec.algo) {
    case "ecdsa":
      return { name: "ECDSA", hash: hashes[choice % 3]! };
    case "ed25519":
      return { name: "Ed25519" };
    case "rsa":
      return choice % 4 === 3 ? { name: "RSA-PSS", hash: "SHA-256", saltLength: 32 } : { name: "RSASSA-PKCS1-v1_5", hash: hashes[choice % 3]! };
  }
};

const sanItem = fc.oneof(
  dnsName.map((value) => ({ type: "dns" as const, value })),
  fc.oneof(ipv4, ipv6).map((value) => ({ type: "ip" as const, value: canonicalIp(value) })),
  email.map((value) => ({ type: "email" as const, value })),
  uri.map((value) => ({ type: "url" as const, value })),
);
const csrCase = fc.record({
  key: fc.nat(keys.length - 1),
  sigChoice: fc.nat(11),
  subject: anySubject,
  sans: fc.array(sanItem, { maxLength: 8 }),
  basicConstraints: fc.constantFrom("none", "ca", "ca-pathlen", "not-ca"),
  keyUsage: fc.boolean(),
});
type CsrCase = ValueOf<typeof csrCase>;

async function peculiarCsr(c: CsrCase): Promise<{ der: Uint8Array; requestsCa: boolean }> {
  const k = keys[c.key]!;
  const sig = sigAlgFor(k, c.sigChoice);
  const extensions: x509.Extension[] = [];
  if (c.keyUsage) extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true));
  if (c.sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(c.sans));
  if (c.basicConstraints === "ca") extensions.push(new x509.BasicConstraintsExtension(true, undefined, true));
  if (c.basicConstraints === "ca-pathlen") extensions.push(new x509.BasicConstraintsExtension(true, 1, true));
  if (c.basicConstraints === "not-ca") extensions.push(new x509.BasicConstraintsExtension(false, undefined, true));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name: new x509.Name(own(c.subject.der)), keys: await webKeys(k, sig), signingAlgorithm: sig as Algorithm, extensions },
    webcrypto as unknown as Crypto,
  );
  return { der: new Uint8Array(csr.rawData), requestsCa: c.basicConstraints.startsWith("ca") };
}

const byType = (items: { type: string; value: string }[], type: string) => items.filter((i) => i.type === type).map((i) => i.value);

t.test("c1. @peculiar's CSRs are read by parseCsr: same subject bytes, SPKI, SANs and requestsCa", async (t) => {
  const numRuns = 150;
  await fc.assert(
    fc.asyncProperty(csrCase, async (c) => {
      const { der, requestsCa } = await peculiarCsr(c);
      const info = children(readElement(der).value)[0]!;
      const [, subjectElement, spkiElement] = children(info.value);
      const parsed = parseCsr(encodePem("CERTIFICATE REQUEST", der));
      assert.equal(hex(parsed.subject.der), hex(subjectElement!.raw), "subject DER as in the CSR");
      assert.equal(hex(parsed.subject.der), hex(c.subject.der), "subject DER as generated (@peculiar kept it)");
      assert.deepEqual(parsed.subject.rdns, c.subject.rdns, "subject attributes");
      assert.equal(hex(parsed.spki), hex(spkiElement!.raw), "SPKI as in the CSR");
      assert.equal(hex(parsed.spki), hex(keys[c.key]!.key.spki), "SPKI of the key");
      assert.deepEqual(parsed.keySpec, keys[c.key]!.key.spec);
      assert.deepEqual(parsed.sans.dns, byType(c.sans, "dns"));
      assert.deepEqual(parsed.sans.email, byType(c.sans, "email"));
      assert.deepEqual(parsed.sans.uri, byType(c.sans, "url"));
      assert.deepEqual(parsed.sans.ip.map(canonicalIp), byType(c.sans, "ip").map(canonicalIp));
      assert.deepEqual(parsed.sans.ip, byType(c.sans, "ip").map(canonicalIp), "IPs in RFC 5952 form");
      assert.equal(parsed.requestsCa, requestsCa);
      // And @peculiar reads the same.
      const csr = new x509.Pkcs10CertificateRequest(own(der));
      assert.ok(await csr.verify(webcrypto as unknown as Crypto));
      assert.equal(hex(new Uint8Array(csr.publicKey.rawData)), hex(parsed.spki));
      count(`c1: ${sigAlgFor(keys[c.key]!, c.sigChoice).name}`);
    }),
    { seed: SEED + 2, numRuns },
  );
  t.pass(`${numRuns} runs: ${JSON.stringify(Object.fromEntries(Object.entries(counts).filter(([k]) => k.startsWith("c1:"))))}`);
});

t.test("c2. buildCsr's CSRs are read and verified by @peculiar and by openssl req -verify", async (t) => {
  const numRuns = 150;
  let opensslRuns = 0;
  await fc.assert(
    fc.asyncProperty(fc.record({ key: fc.nat(keys.length - 1), subject: anySubject, hosts: hostsList }), async (c) => {
      const k = keys[c.key]!;
      const sans = splitHosts(c.hosts);
      const { der, pem } = buildCsr(c.subject, sans, k.key);
      const csr = new x509.Pkcs10CertificateRequest(own(der));
      assert.ok(await csr.verify(webcrypto as unknown as Crypto), "@peculiar verifies the signature");
      assert.equal(hex(new Uint8Array(csr.subjectName.toArrayBuffer())), hex(c.subject.der), "@peculiar reads the same subject");
      assert.equal(hex(new Uint8Array(csr.publicKey.rawData)), hex(k.key.spki), "@peculiar reads the same SPKI");
      const san = csr.getExtension("2.5.29.17") as x509.SubjectAlternativeNameExtension | null;
      const names = san ? san.names.toJSON() : [];
      assert.deepEqual(byType(names, "dns"), sans.dns);
      assert.deepEqual(byType(names, "ip"), sans.ip.map(canonicalIp), "IP bytes (read back by @peculiar in RFC 5952 form)");
      assert.deepEqual(byType(names, "email"), sans.email);
      assert.deepEqual(byType(names, "url"), sans.uri);
      // And the fast reader reads back what the fast writer wrote.
      const parsed = parseCsr(pem);
      assert.deepEqual({ ...parsed.sans, ip: parsed.sans.ip.map(canonicalIp) }, { ...sans, ip: sans.ip.map(canonicalIp) });
      if (opensslRuns < 50) {
        opensslRuns++;
        const result = openssl(["req", "-verify", "-noout"], pem);
        assert.equal(result.status, 0, `openssl req -verify: ${result.stderr}\n${pem}`);
      }
    }),
    { seed: SEED + 3, numRuns },
  );
  t.pass(`${numRuns} runs, ${opensslRuns} checked by openssl`);
});

// ---------------------------------------------------------------------------------------------
// Malformed CSRs.


// Valid CSRs of every key type and signature algorithm, from both writers, made once for d1 and d2.
const malformedBases: { der: Uint8Array; pss: boolean }[] = [];
for (const [i, k] of keys.entries()) {
  const subject = i % 2 ? encodeName([[{ oid: "2.5.4.3", tag: Tag.utf8String, value: `テスト ${i} 🔐` }]]) : encodeName([[{ oid: "2.5.4.3", tag: Tag.printableString, value: `base ${i}` }]]);
  const sans = splitHosts([`h${i}.example.com`, "10.0.0.1", "::ffff:1.2.3.4", "a@example.com", "spiffe://x/y"]);
  malformedBases.push({ der: buildCsr(subject, sans, k.key).der, pss: false });
  const made = await peculiarCsr({
    key: i,
    sigChoice: i,
    subject,
    sans: [{ type: "dns", value: `p${i}.example.com` }, { type: "ip", value: "2001:db8::1" }],
    basicConstraints: i % 3 ? "none" : "ca",
    keyUsage: i % 2 === 0,
  });
  malformedBases.push({ der: made.der, pss: sigAlgFor(k, i).name === "RSA-PSS" });
}
for (const { der } of malformedBases) parseCsr(encodePem("CERTIFICATE REQUEST", der)); // every base is valid

/** Where the unsigned signatureAlgorithm starts and ends in a CSR: mutations there are the most interesting. */
function algorithmSpan(der: Uint8Array) {
  const outer = readElement(der);
  const [info, algorithm] = children(outer.value);
  const start = der.length - outer.value.length + info!.raw.length;
  return { start, length: algorithm!.raw.length };
}

// A position as a fraction of a region; unbiased, since fast-check otherwise favours 0 and every
// mutation would land on the first byte.
const position = fc.noBias(fc.integer({ min: 0, max: 999_999 })).map((n) => n / 1_000_000);
const mutation = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: position, xor: fc.integer({ min: 1, max: 255 }), region: fc.constantFrom("any", "any", "algorithm", "tail") }),
  fc.record({ op: fc.constant("set" as const), at: position, value: fc.constantFrom(0x00, 0x04, 0x05, 0x30, 0x80, 0x81, 0x82, 0x84, 0xff), region: fc.constantFrom("any", "algorithm") }),
  fc.record({ op: fc.constant("truncate" as const), at: position }),
  fc.record({ op: fc.constant("append" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
);
type Mutation = ValueOf<typeof mutation>;

function mutate(base: Uint8Array, mutations: Mutation[]): Uint8Array {
  let der = new Uint8Array(base);
  const span = algorithmSpan(base);
  for (const m of mutations) {
    if (der.length === 0) break;
    if (m.op === "truncate") der = der.slice(0, Math.floor(m.at * der.length));
    else if (m.op === "append") der = Uint8Array.from([...der, ...m.bytes]);
    else {
      const region = m.region === "algorithm" ? span : m.region === "tail" ? { start: span.start, length: base.length - span.start } : { start: 0, length: der.length };
      const at = Math.min(der.length - 1, region.start + Math.floor(m.at * region.length));
      der[at] = m.op === "flip" ? der[at]! ^ m.xor : m.value;
    }
  }
  return der;
}

const csrKinds = new Set(["csrParseFailed", "csrInvalid", "unsupportedKey", "csrDecodeFailed"]);

/** The property of d: a CertwrightError of a CSR kind, quickly, or a result only for bytes @peculiar parses and verifies. */
async function malformedProperty(bases: Uint8Array[], seed: number, numRuns: number) {
  const tally = { refused: 0, accepted: 0, kinds: {} as Record<string, number> };
  await fc.assert(
    fc.asyncProperty(fc.nat(bases.length - 1), fc.array(mutation, { minLength: 1, maxLength: 3 }), async (baseIndex, mutations) => {
      const der = mutate(bases[baseIndex]!, mutations);
      const begin = Date.now();
      let parsed: ParsedCsr;
      try {
        parsed = parseCsr(encodePem("CERTIFICATE REQUEST", der));
      } catch (error) {
        assert.ok(error instanceof CertwrightError, `parseCsr threw a ${(error as Error)?.name}: ${(error as Error)?.message} for ${hex(der)}`);
        assert.ok(csrKinds.has(error.kind), `unexpected kind ${error.kind}: ${error.message}`);
        tally.kinds[error.kind] = (tally.kinds[error.kind] ?? 0) + 1;
        tally.refused++;
        return;
      } finally {
        assert.ok(Date.now() - begin < 1000, "parseCsr answered within a second");
      }
      tally.accepted++;
      let peculiar: x509.Pkcs10CertificateRequest;
      try {
        peculiar = new x509.Pkcs10CertificateRequest(own(der));
      } catch (error) {
        assert.fail(`parseCsr accepted bytes @peculiar cannot read (${(error as Error).message}): ${hex(der)}`);
      }
      let verified: boolean;
      try {
        verified = await peculiar.verify(webcrypto as unknown as Crypto);
      } catch (error) {
        assert.fail(`parseCsr accepted bytes @peculiar cannot verify (${(error as Error).message}): ${hex(der)}`);
      }
      assert.ok(verified, `parseCsr accepted bytes whose signature @peculiar does not verify: ${hex(der)}`);
      assert.equal(hex(parsed.spki), hex(new Uint8Array(peculiar.publicKey.rawData)), "same SPKI");
    }),
    { seed, numRuns },
  );
  return tally;
}

t.test("d1. malformed CSRs: parseCsr refuses with a CertwrightError, or accepts only what @peculiar parses and verifies", async (t) => {
  // RSASSA-PSS CSRs are in d2.
  const bases = malformedBases.filter((b) => !b.pss).map((b) => b.der);
  const numRuns = 600;
  const tally = await malformedProperty(bases, SEED + 4, numRuns);
  t.pass(`${numRuns} runs over ${bases.length} CSRs: ${tally.refused} refused ${JSON.stringify(tally.kinds)}, ${tally.accepted} accepted (and verified by @peculiar)`);
});

// DISCREPANCY (src/pki/csr.ts verifySignature, RSASSA-PSS branch): the PSS parameters are read
// loosely. [0] hashAlgorithm is taken as "first child of whatever element is inside [0]" without
// checking it is a SEQUENCE holding an OID; [1] maskGenAlgorithm is never read at all (any OID, any
// MGF hash, even broken lengths inside it); [2] saltLength is read without checking it is an
// INTEGER. So parseCsr accepts CSRs that openssl (`openssl req -verify`) and, for the structural
// cases, @peculiar/x509 refuse. The signature itself is still checked (with MGF1 over the [0]
// hash), so this is lax parsing, not a forgery; but the fast reader is not equivalent to the
// general one on malformed input. Reproducer: an RSA-PSS (SHA-256, salt 32) CSR from @peculiar
// whose signatureAlgorithm is
//   30 3d 06092a864886f70d01010a 30 30 a00d 300b 0609608648016503040201 a11a 3018 06092a864886f70d010108
//   300b 0609608648016503040201 a203 020120
// with any of: byte 17 of it 0x30->0x31 ([0]'s SEQUENCE as a SET), byte 36 0x2a->0x2b (MGF OID
// changed), byte 49 0x60->0x61 (MGF1's hash an unknown OID), byte 46 0x0b->0x0a (inner length
// wrong), byte 60 0x02->0x03 (saltLength as a BIT STRING): parseCsr once returned a result; openssl
// refuses every one; @peculiar refuses the structural ones (17, 46, 60).
// parseCsr used to accept these; it now reads RSASSA-PSS-params strictly, as openssl does.
t.test("d2. malformed RSASSA-PSS CSRs are refused", async (t) => {
  const bases = malformedBases.filter((b) => b.pss).map((b) => b.der);
  t.ok(bases.length > 0, "there is an RSA-PSS CSR");
  // The deterministic reproducer: byte 17 of the signatureAlgorithm, [0] hashAlgorithm's SEQUENCE tag, made a SET.
  const base = bases[0]!;
  const { start } = algorithmSpan(base);
  t.equal(base[start + 17], 0x30, "byte 17 of the algorithm is [0]'s SEQUENCE tag");
  const bad = new Uint8Array(base);
  bad[start + 17] = 0x31;
  t.equal(openssl(["req", "-verify", "-noout"], encodePem("CERTIFICATE REQUEST", bad)).status, 1, "openssl refuses it");
  await t.rejects(async () => new x509.Pkcs10CertificateRequest(own(bad)).verify(webcrypto as unknown as Crypto), "@peculiar refuses it");
  t.throws(() => parseCsr(encodePem("CERTIFICATE REQUEST", bad)), { name: "CertwrightError" }, "parseCsr refuses it");
  // And the random property over the RSA-PSS CSRs alone.
  try {
    const tally = await malformedProperty(bases, SEED + 5, 300);
    t.pass(`300 runs: ${JSON.stringify(tally)}`);
  } catch (error) {
    t.fail(`the malformed-CSR property over RSASSA-PSS CSRs: ${(error as Error).message.split("\n").slice(0, 3).join(" ")}`);
  }
});

t.teardown(() => {
  console.log(`# der-vs-peculiar: ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
