import { BlockList, isIP } from "node:net";
import { domainToASCII } from "node:url";
import { z } from "zod";
import { CertwrightError } from "../errors.js";
import type { SubjectAltNames } from "../pki/hosts.js";
import type { KeyAlgorithm, KeySpec } from "../pki/keys.js";
import type { SigningProfile } from "./signing-config.js";

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
  max_hosts: z.number().int().min(0).optional(),
  keys: z
    .strictObject({
      algorithms: z.array(z.enum(["ecdsa", "rsa", "ed25519"])).min(1).optional(),
      min_rsa_size: z.number().int().min(2048).optional(),
      min_ecdsa_size: z.number().int().min(256).optional(),
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
  maxHosts: number | undefined;
  keyAlgorithms: KeyAlgorithm[] | undefined;
  minRsaSize: number;
  minEcdsaSize: number;
}

/** What a request asks to have certified. */
export interface NamesRequest {
  commonName: string;
  sans: SubjectAltNames;
}

export class PolicyConfigError extends Error {
  override name = "PolicyConfigError";
}

function normalizeDns(name: string): string {
  const lower = name.trim().toLowerCase().replace(/\.$/, "");
  // Rules and names compare in the form that goes into certificates: IDNs as punycode.
  return /[^\x00-\x7f]/.test(lower) ? domainToASCII(lower) : lower;
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
export function parsePolicy(raw: PolicyJson, path: string): NamePolicy {
  let commonName: RegExp | undefined;
  if (raw.common_name !== undefined) {
    try {
      commonName = new RegExp(`^(?:${raw.common_name})$`);
    } catch (error) {
      throw new PolicyConfigError(`${path}.common_name: not a valid regular expression (${(error as Error).message})`);
    }
  }
  return {
    dns: parseRules(raw.dns, `${path}.dns`, dnsRule),
    ip: parseRules(raw.ip, `${path}.ip`, ipRule),
    email: parseRules(raw.email, `${path}.email`, emailRule),
    uri: parseRules(raw.uri, `${path}.uri`, uriRule),
    allowWildcards: raw.allow_wildcards ?? true,
    allowLocalhost: raw.allow_localhost ?? true,
    allowIpSans: raw.allow_ip_sans ?? true,
    commonName,
    commonNameText: raw.common_name,
    maxHosts: raw.max_hosts,
    keyAlgorithms: raw.keys?.algorithms,
    minRsaSize: raw.keys?.min_rsa_size ?? 2048,
    minEcdsaSize: raw.keys?.min_ecdsa_size ?? 256,
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

function refuse(profile: string, message: string): never {
  throw new CertwrightError("policyViolation", `profile "${profile}" refuses this request: ${message}`);
}

type RuleKind = "dns" | "ip" | "email" | "uri";
const kindNames: Record<RuleKind, string> = { dns: "DNS name", ip: "IP address", email: "email", uri: "URI" };

function checkRules(profile: string, kind: RuleKind, name: string, shown: string, rules: Rules): void {
  const denied = rules.deny.find((rule) => rule.matches(name));
  if (denied) refuse(profile, `${kindNames[kind]} "${shown}" matches policy.${kind}.deny rule "${denied.text}"`);
  if (rules.allow && !rules.allow.some((rule) => rule.matches(name))) {
    const allowed = rules.allow.map((rule) => `"${rule.text}"`).join(", ") || "none";
    refuse(profile, `${kindNames[kind]} "${shown}" is not in policy.${kind}.allow (${allowed})`);
  }
}

function checkDns(profile: string, policy: NamePolicy, raw: string): void {
  const name = normalizeDns(raw);
  if (!policy.allowWildcards && name.includes("*")) refuse(profile, `wildcard name "${raw}" is not allowed (policy.allow_wildcards is false)`);
  if (!policy.allowLocalhost && isLocalhostName(name)) refuse(profile, `"${raw}" is localhost (policy.allow_localhost is false)`);
  checkRules(profile, "dns", name, raw, policy.dns);
}

function checkIp(profile: string, policy: NamePolicy, ip: string, isSan: boolean): void {
  if (isSan && !policy.allowIpSans) refuse(profile, `IP address "${ip}" is not allowed (policy.allow_ip_sans is false)`);
  if (!policy.allowLocalhost && isLocalhostIp(ip)) refuse(profile, `"${ip}" is a loopback address (policy.allow_localhost is false)`);
  checkRules(profile, "ip", ip, ip, policy.ip);
}

const dnsShape = /^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

/**
 * Checks every name a request asks for against the profile's policy; the first name outside it
 * refuses the whole request (5300), naming the name and the rule. The CN is checked against
 * `common_name` when the policy has one; otherwise a CN that is a host name or an IP address must
 * pass the same rules as a SAN, so the CN cannot smuggle in a name the SANs may not carry.
 */
export function enforceNamePolicy(profile: string, policy: NamePolicy, request: NamesRequest): void {
  const { sans, commonName } = request;
  const count = sans.dns.length + sans.ip.length + sans.email.length + sans.uri.length;
  if (policy.maxHosts !== undefined && count > policy.maxHosts) {
    refuse(profile, `${count} hosts requested, at most ${policy.maxHosts} allowed (policy.max_hosts)`);
  }
  if (commonName !== "") {
    if (policy.commonName) {
      if (!policy.commonName.test(commonName)) refuse(profile, `CN "${commonName}" does not match policy.common_name "${policy.commonNameText}"`);
    } else if (isIP(commonName)) {
      checkIp(profile, policy, commonName, false);
    } else if (dnsShape.test(commonName)) {
      checkDns(profile, policy, commonName);
    }
  }
  for (const name of sans.dns) checkDns(profile, policy, name);
  for (const ip of sans.ip) checkIp(profile, policy, ip, true);
  for (const email of sans.email) {
    if (!policy.allowLocalhost && isLocalhostName(normalizeDns(email.slice(email.lastIndexOf("@") + 1)))) {
      refuse(profile, `"${email}" is at localhost (policy.allow_localhost is false)`);
    }
    checkRules(profile, "email", email, email, policy.email);
  }
  for (const uri of sans.uri) checkRules(profile, "uri", uri, uri, policy.uri);
}

/** Checks the key to be certified against the profile's `policy.keys`. */
export function enforceKeyPolicy(profile: string, policy: NamePolicy, key: KeySpec): void {
  if (policy.keyAlgorithms && !policy.keyAlgorithms.includes(key.algo)) {
    refuse(profile, `${key.algo} keys are not allowed (policy.keys.algorithms: ${policy.keyAlgorithms.join(", ")})`);
  }
  if (key.algo === "rsa" && key.size < policy.minRsaSize) {
    refuse(profile, `rsa ${key.size} is below policy.keys.min_rsa_size ${policy.minRsaSize}`);
  }
  if (key.algo === "ecdsa" && key.size < policy.minEcdsaSize) {
    refuse(profile, `ecdsa ${key.size} is below policy.keys.min_ecdsa_size ${policy.minEcdsaSize}`);
  }
}

/** What the profile checks before anything is signed. */
export interface PolicyRequest extends NamesRequest {
  /** Undefined where the key is not known yet. */
  keySpec?: KeySpec | undefined;
  /** The CSR asks for basicConstraints CA:TRUE. */
  requestsCa?: boolean | undefined;
}

/**
 * Every check a profile makes of a request, in one place: cfssl's `name_whitelist` (anchored, on
 * the CN, DNS, email and URI names), the `policy` names and keys, and whether a CA may be asked for.
 */
export function enforceProfilePolicy(profile: SigningProfile, request: PolicyRequest): void {
  const { commonName, sans } = request;
  if (request.requestsCa && !profile.isCa) {
    refuse(profile.name, "the CSR asks for a CA certificate (basicConstraints CA:TRUE), and this profile has no ca_constraint.is_ca");
  }
  if (profile.nameWhitelist) {
    for (const name of [...(commonName ? [commonName] : []), ...sans.dns, ...sans.email, ...sans.uri]) {
      if (!profile.nameWhitelist.test(name)) refuse(profile.name, `"${name}" does not match name_whitelist`);
    }
  }
  if (profile.policy) {
    enforceNamePolicy(profile.name, profile.policy, request);
    if (request.keySpec) enforceKeyPolicy(profile.name, profile.policy, request.keySpec);
  }
}
