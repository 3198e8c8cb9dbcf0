import { BlockList, isIP } from "node:net";
import { domainToASCII } from "node:url";
import { z } from "zod";
import { CertwrightError } from "../errors.js";
import { maxRsaModulus } from "../pki/keys.js";
import { commonNameHost, type SubjectAltNames } from "../pki/hosts.js";
import type { KeyAlgorithm, KeySpec } from "../pki/keys.js";
import { attributeName, attributeOid, commonNameOid, emailAddressOid, type SubjectAttribute } from "../pki/subject.js";

const rulesSchema = z.strictObject({
  allow: z.array(z.string()).optional(),
  deny: z.array(z.string()).optional(),
});

/** A profile's `policy`: certwright's own field, on top of cfssl's. */
export const policySchema = z.strictObject({
  dns: rulesSchema.optional(),
  ip: rulesSchema.optional(),
  email: rulesSchema.optional(),
  uri: rulesSchema.optional(),
  allow_wildcards: z.boolean().optional(),
  allow_localhost: z.boolean().optional(),
  allow_ip_sans: z.boolean().optional(),
  common_name: z.string().optional(),
  subject: z
    .record(z.string(), z.union([z.string(), z.array(z.string()).min(1)]))
    .optional()
    .meta({ description: "Allowed values of each subject attribute other than the CN (anchored regular expressions); an attribute not named is refused" }),
  max_hosts: z.number().int().min(0).optional(),
  keys: z
    .strictObject({
      algorithms: z.array(z.enum(["ecdsa", "rsa", "ed25519"])).min(1).optional(),
      min_rsa_size: z.number().int().min(2048).optional(),
      max_rsa_size: z.number().int().min(2048).max(maxRsaModulus).optional(),
      min_ecdsa_size: z.number().int().min(256).optional(),
      allow_sha1_csr: z.boolean().optional(),
    })
    .optional(),
});

export type PolicyJson = z.infer<typeof policySchema>;

/** One allow or deny rule: its text as written (for messages) and how it matches. */
interface Rule {
  text: string;
  matches(name: string): boolean;
}

interface Rules {
  /** undefined: no allow list, so every name of this type is allowed unless denied. */
  allow: Rule[] | undefined;
  deny: Rule[];
}

/** Which keys a profile certifies, and which CSR signatures it takes. */
export interface KeyRules {
  algorithms: KeyAlgorithm[] | undefined;
  minRsaSize: number;
  maxRsaSize: number;
  minEcdsaSize: number;
  allowSha1Csr: boolean;
}

/**
 * The key rules of a profile without `policy.keys`: RSA from 2048 to 4096 bits (the sizes the
 * service documents; larger moduli cost every verifier and buy nothing), any accepted curve, and
 * CSRs signed with SHA-2.
 */
export const defaultKeyRules: KeyRules = { algorithms: undefined, minRsaSize: 2048, maxRsaSize: 4096, minEcdsaSize: 256, allowSha1Csr: false };

/** `policy.subject`: the allowed values of one attribute type. */
interface SubjectRule {
  /** As the policy names it (`O`, `DC`, `1.2.3.4`), for messages. */
  name: string;
  patterns: RegExp[];
  texts: string[];
}

/** A profile's issuance policy, parsed once at start-up. */
export interface NamePolicy {
  dns: Rules;
  ip: Rules;
  email: Rules;
  uri: Rules;
  allowWildcards: boolean;
  allowLocalhost: boolean;
  allowIpSans: boolean;
  commonName: RegExp | undefined;
  commonNameText: string | undefined;
  /** By OID; undefined: any attribute passes (cfssl's behaviour), the email address still checked as an email. */
  subject: Map<string, SubjectRule> | undefined;
  maxHosts: number | undefined;
  keys: KeyRules;
}

/** What a request asks to have certified: the whole subject, every attribute of every RDN, and the SANs. */
export interface NamesRequest {
  subject: readonly SubjectAttribute[];
  sans: SubjectAltNames;
}

export class PolicyConfigError extends Error {
  override name = "PolicyConfigError";
}

function normalizeDns(name: string): string {
  const lower = name.trim().toLowerCase().replace(/\.$/, "");
  // Rules and names compare in the form that goes into certificates: IDNs as punycode.
  return /[\u0080-\uffff]/.test(lower) ? domainToASCII(lower) : lower;
}

/**
 * DNS rules: `name` matches that name only, `.example.com` any name below example.com (at any
 * depth, not example.com itself), `*.example.com` exactly one label below it. Matching is
 * case-insensitive and on label boundaries: `.example.com` never matches `evilexample.com`.
 */
function dnsRule(text: string, path: string): Rule {
  const normalized = normalizeDns(text);
  const body = normalized.replace(/^\*\./, "").replace(/^\./, "");
  if (body === "" || !/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/.test(body)) {
    throw new PolicyConfigError(`${path}: "${text}" is not a DNS name, ".suffix" or "*.wildcard"`);
  }
  if (normalized.startsWith("*.")) {
    const suffix = `.${body}`;
    return {
      text,
      matches: (name) => name.endsWith(suffix) && name.length > suffix.length && !name.slice(0, -suffix.length).includes("."),
    };
  }
  if (normalized.startsWith(".")) {
    const suffix = `.${body}`;
    return { text, matches: (name) => name.endsWith(suffix) && name.length > suffix.length };
  }
  return { text, matches: (name) => name === body };
}

/** IP rules: an address or a CIDR range, v4 or v6, matched as parsed addresses (IPv4-mapped IPv6 included). */
function ipRule(text: string, path: string): Rule {
  const [address, prefixText, extra] = text.trim().split("/");
  const family = isIP(address ?? "");
  const type = family === 6 ? "ipv6" : "ipv4";
  const prefix = prefixText === undefined ? undefined : Number(prefixText);
  const maxPrefix = family === 6 ? 128 : 32;
  if (!family || extra !== undefined || (prefix !== undefined && (!/^\d+$/.test(prefixText!) || prefix > maxPrefix))) {
    throw new PolicyConfigError(`${path}: "${text}" is not an IP address or CIDR range like 10.96.0.0/12 or fd00::/8`);
  }
  const list = new BlockList();
  if (prefix === undefined) list.addAddress(address!, type);
  else list.addSubnet(address!, prefix, type);
  return { text, matches: (ip) => list.check(ip, isIP(ip) === 6 ? "ipv6" : "ipv4") };
}

/** Email rules: `user@example.com` one mailbox, `example.com` any mailbox there, `.example.com` any below it. */
function emailRule(text: string, path: string): Rule {
  const rule = text.trim().toLowerCase();
  if (rule.includes("@")) {
    if (!/^[^\s@]+@[^\s@]+$/.test(rule)) throw new PolicyConfigError(`${path}: "${text}" is not an email address or domain`);
    return { text, matches: (email) => email.toLowerCase() === rule };
  }
  const domain = dnsRule(rule, path);
  return { text, matches: (email) => domain.matches(normalizeDns(email.slice(email.lastIndexOf("@") + 1))) };
}

/** Scheme and authority fold case; the path does not (SPIFFE IDs are case-sensitive). */
function normalizeUri(uri: string): string {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s.exec(uri.trim());
  return match ? `${match[1]!.toLowerCase()}://${match[2]!.toLowerCase()}${match[3]}` : uri.trim();
}

/** URI rules: a prefix such as `spiffe://cluster.local/`, ending at a path boundary. */
function uriRule(text: string, path: string): Rule {
  const prefix = normalizeUri(text);
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/?#]+/.test(prefix)) {
    throw new PolicyConfigError(`${path}: "${text}" is not a URI prefix like spiffe://cluster.local/`);
  }
  return {
    text,
    matches: (uri) => {
      const name = normalizeUri(uri);
      if (name === prefix) return true;
      if (!name.startsWith(prefix)) return false;
      return prefix.endsWith("/") || "/?#".includes(name[prefix.length]!);
    },
  };
}

function parseRules(raw: { allow?: string[] | undefined; deny?: string[] | undefined } | undefined, path: string, make: (text: string, path: string) => Rule): Rules {
  return {
    allow: raw?.allow?.map((text, i) => make(text, `${path}.allow[${i}]`)),
    deny: (raw?.deny ?? []).map((text, i) => make(text, `${path}.deny[${i}]`)),
  };
}

/** Parses a profile's `policy` object; errors name the JSON path below `path`. */
function anchoredPattern(text: string, path: string): RegExp {
  try {
    return new RegExp(`^(?:${text})$`);
  } catch (error) {
    throw new PolicyConfigError(`${path}: not a valid regular expression (${(error as Error).message})`);
  }
}

function parseSubjectRules(raw: Record<string, string | string[]>, path: string): Map<string, SubjectRule> {
  const rules = new Map<string, SubjectRule>();
  for (const [name, value] of Object.entries(raw)) {
    const oid = attributeOid(name);
    if (oid === commonNameOid) throw new PolicyConfigError(`${path}.${name}: the CN has its own rule; use policy.common_name`);
    if (oid === undefined) {
      throw new PolicyConfigError(`${path}.${name}: not a subject attribute the service knows (C, ST, L, O, OU, E, SerialNumber, STREET, DC, UID, title, …) nor a dotted OID`);
    }
    if (rules.has(oid)) throw new PolicyConfigError(`${path}.${name}: ${attributeName(oid)} is named twice`);
    const texts = typeof value === "string" ? [value] : value;
    rules.set(oid, { name, texts, patterns: texts.map((text, i) => anchoredPattern(text, typeof value === "string" ? `${path}.${name}` : `${path}.${name}[${i}]`)) });
  }
  return rules;
}

export function parsePolicy(raw: PolicyJson, path: string): NamePolicy {
  const keys = raw.keys ?? {};
  const maxRsaSize = keys.max_rsa_size ?? Math.max(defaultKeyRules.maxRsaSize, keys.min_rsa_size ?? 0);
  if (keys.min_rsa_size !== undefined && keys.min_rsa_size > maxRsaSize) {
    throw new PolicyConfigError(`${path}.keys.min_rsa_size: ${keys.min_rsa_size} is above max_rsa_size ${maxRsaSize}`);
  }
  return {
    dns: parseRules(raw.dns, `${path}.dns`, dnsRule),
    ip: parseRules(raw.ip, `${path}.ip`, ipRule),
    email: parseRules(raw.email, `${path}.email`, emailRule),
    uri: parseRules(raw.uri, `${path}.uri`, uriRule),
    allowWildcards: raw.allow_wildcards ?? true,
    allowLocalhost: raw.allow_localhost ?? true,
    allowIpSans: raw.allow_ip_sans ?? true,
    commonName: raw.common_name === undefined ? undefined : anchoredPattern(raw.common_name, `${path}.common_name`),
    commonNameText: raw.common_name,
    subject: raw.subject ? parseSubjectRules(raw.subject, `${path}.subject`) : undefined,
    maxHosts: raw.max_hosts,
    keys: {
      algorithms: keys.algorithms,
      minRsaSize: keys.min_rsa_size ?? defaultKeyRules.minRsaSize,
      maxRsaSize,
      minEcdsaSize: keys.min_ecdsa_size ?? defaultKeyRules.minEcdsaSize,
      allowSha1Csr: keys.allow_sha1_csr ?? false,
    },
  };
}

const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");

function isLocalhostName(name: string): boolean {
  return name === "localhost" || name.endsWith(".localhost") || name === "localhost.localdomain";
}

function isLocalhostIp(ip: string): boolean {
  return loopback.check(ip, isIP(ip) === 6 ? "ipv6" : "ipv4");
}

/** A policy refusal, naming the profile. */
export function refuse(profile: string, message: string): never {
  throw new CertwrightError("policyViolation", `profile "${profile}" refuses this request: ${message}`);
}

type RuleKind = "dns" | "ip" | "email" | "uri";
const kindNames: Record<RuleKind, string> = { dns: "DNS name", ip: "IP address", email: "email", uri: "URI" };

/** `what` names the name in messages: by default its kind ("DNS name"), or where it is ("CN", "subject E"). */
function checkRules(profile: string, kind: RuleKind, name: string, shown: string, rules: Rules, what = kindNames[kind]): void {
  const denied = rules.deny.find((rule) => rule.matches(name));
  if (denied) refuse(profile, `${what} "${shown}" matches policy.${kind}.deny rule "${denied.text}"`);
  if (rules.allow && !rules.allow.some((rule) => rule.matches(name))) {
    const allowed = rules.allow.map((rule) => `"${rule.text}"`).join(", ") || "none";
    refuse(profile, `${what} "${shown}" is not in policy.${kind}.allow (${allowed})`);
  }
}

function checkDns(profile: string, policy: NamePolicy, raw: string, shown = raw, what?: string): void {
  const name = normalizeDns(raw);
  if (!policy.allowWildcards && name.includes("*")) refuse(profile, `wildcard name "${shown}" is not allowed (policy.allow_wildcards is false)`);
  if (!policy.allowLocalhost && isLocalhostName(name)) refuse(profile, `"${shown}" is localhost (policy.allow_localhost is false)`);
  checkRules(profile, "dns", name, shown, policy.dns, what);
}

function checkIp(profile: string, policy: NamePolicy, ip: string, isSan: boolean, shown = ip, what?: string): void {
  if (isSan && !policy.allowIpSans) refuse(profile, `IP address "${ip}" is not allowed (policy.allow_ip_sans is false)`);
  if (!policy.allowLocalhost && isLocalhostIp(ip)) refuse(profile, `"${shown}" is a loopback address (policy.allow_localhost is false)`);
  checkRules(profile, "ip", ip, shown, policy.ip, what);
}

function checkEmail(profile: string, policy: NamePolicy, email: string, what?: string): void {
  if (!policy.allowLocalhost && isLocalhostName(normalizeDns(email.slice(email.lastIndexOf("@") + 1)))) {
    refuse(profile, `"${email}" is at localhost (policy.allow_localhost is false)`);
  }
  checkRules(profile, "email", email, email, policy.email, what);
}

/**
 * Every CN value, wherever it sits in the subject: TLS clients that fall back to the CN (OpenSSL's
 * hostname check, Python's ssl, curl) may match any of them, so each must pass. With `common_name`
 * the pattern decides. Without it, a CN is read the way clients would read it as a host (spaces
 * trimmed, a trailing dot dropped, an IDN as punycode) and checked as a DNS name or IP address; a
 * CN that is no host at all is refused when the policy restricts DNS names, since the profile then
 * certifies hosts only.
 */
function checkCommonName(profile: string, policy: NamePolicy, cn: string): void {
  if (cn === "") return;
  if (policy.commonName) {
    if (!policy.commonName.test(cn)) refuse(profile, `CN "${cn}" does not match policy.common_name "${policy.commonNameText}"`);
    return;
  }
  const host = commonNameHost(cn);
  if (host.kind === "ip") checkIp(profile, policy, host.name, false, cn, "CN");
  else if (host.kind === "dns") checkDns(profile, policy, host.name, cn, "CN");
  else if (host.kind === "ambiguous") refuse(profile, `CN "${cn}" ${host.problem}`);
  else if (policy.dns.allow) {
    refuse(profile, `CN "${cn}" is not a host name, and policy.dns.allow limits the hosts this profile certifies; set policy.common_name to allow CNs that are not host names`);
  }
}

/** `policy.subject`: when present, every attribute other than the CN must be named there and match one of its patterns. */
function checkSubjectAttribute(profile: string, policy: NamePolicy, attribute: SubjectAttribute): void {
  if (!policy.subject) return;
  const rule = policy.subject.get(attribute.oid);
  if (!rule) {
    const named = [...policy.subject.values()].map((r) => r.name).join(", ") || "none";
    refuse(profile, `subject ${attribute.name} "${attribute.value}" is not allowed: policy.subject does not name ${attribute.name} (it names ${named})`);
  }
  if (!rule.patterns.some((pattern) => pattern.test(attribute.value))) {
    refuse(profile, `subject ${attribute.name} "${attribute.value}" does not match policy.subject.${rule.name} (${rule.texts.map((text) => `"${text}"`).join(", ")})`);
  }
}

/**
 * Checks everything a request asks to have certified against the profile's policy: every CN value
 * (see `checkCommonName`), every other subject attribute (`policy.subject`; a subject email address
 * also as an email name, since S/MIME verifiers take it as one), and every SAN. The first name
 * outside it refuses the whole request (5300), naming the name and the rule.
 */
export function enforceNamePolicy(profile: string, policy: NamePolicy, request: NamesRequest): void {
  const { sans, subject } = request;
  const count = sans.dns.length + sans.ip.length + sans.email.length + sans.uri.length;
  if (policy.maxHosts !== undefined && count > policy.maxHosts) {
    refuse(profile, `${count} hosts requested, at most ${policy.maxHosts} allowed (policy.max_hosts)`);
  }
  for (const attribute of subject) {
    if (attribute.oid === commonNameOid) {
      checkCommonName(profile, policy, attribute.value);
      continue;
    }
    checkSubjectAttribute(profile, policy, attribute);
    if (attribute.oid === emailAddressOid) checkEmail(profile, policy, attribute.value, "subject E");
  }
  for (const name of sans.dns) checkDns(profile, policy, name);
  for (const ip of sans.ip) checkIp(profile, policy, ip, true);
  for (const email of sans.email) checkEmail(profile, policy, email);
  for (const uri of sans.uri) checkRules(profile, "uri", uri, uri, policy.uri);
}

/** Checks the key to be certified against the profile's key rules (`policy.keys`, or the defaults). */
export function enforceKeyPolicy(profile: string, rules: KeyRules, key: KeySpec): void {
  if (rules.algorithms && !rules.algorithms.includes(key.algo)) {
    refuse(profile, `${key.algo} keys are not allowed (policy.keys.algorithms: ${rules.algorithms.join(", ")})`);
  }
  if (key.algo === "rsa" && key.size < rules.minRsaSize) {
    refuse(profile, `rsa ${key.size} is below policy.keys.min_rsa_size ${rules.minRsaSize}`);
  }
  if (key.algo === "rsa" && key.size > rules.maxRsaSize) {
    refuse(profile, `rsa ${key.size} is above policy.keys.max_rsa_size ${rules.maxRsaSize}; use a key of 2048 to ${rules.maxRsaSize} bits`);
  }
  if (key.algo === "ecdsa" && key.size < rules.minEcdsaSize) {
    refuse(profile, `ecdsa ${key.size} is below policy.keys.min_ecdsa_size ${rules.minEcdsaSize}`);
  }
}
