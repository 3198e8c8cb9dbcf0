import { readFileSync } from "node:fs";
import { z } from "zod";
import { CertwrightError } from "../errors.js";
import type { IssuanceProfile } from "../pki/certificate.js";
import { KeyUsageBit } from "../pki/key-usage.js";
import { parseAcmeSection, type AcmeProvisioner } from "./acme-config.js";
import { formatHours, parseDuration } from "./duration.js";
import { parsePolicy, PolicyConfigError, policySchema, type NamePolicy, type PolicyJson } from "./policy.js";
import { knownUsages, resolveUsages } from "./usages.js";

/** cfssl's `ca_constraint`. */
const caConstraintSchema = z.object({
  is_ca: z.boolean().optional(),
  max_path_len: z.number().int().min(0).optional(),
  max_path_len_zero: z.boolean().optional(),
});

/** The fields of a cfssl signing profile that certwright implements. */
const profileSchema = z.object({
  usages: z.array(z.string()).nullish(),
  expiry: z.string().nullish(),
  backdate: z.string().nullish(),
  issuer_urls: z.array(z.string()).nullish(),
  ocsp_url: z.string().nullish(),
  crl_url: z.string().nullish(),
  ca_constraint: caConstraintSchema.nullish(),
  ocsp_no_check: z.boolean().nullish(),
  not_before: z.string().nullish(),
  not_after: z.string().nullish(),
  name_whitelist: z.string().nullish(),
  auth_key: z.string().nullish(),
  prev_auth_key: z.string().nullish(),
  // certwright's own fields
  policy: policySchema.nullish(),
  beyond_ca_expiry: z.enum(["truncate", "refuse"]).nullish(),
  require_client_certificate: z.boolean().nullish(),
  own_names_only: z.boolean().nullish(),
});

/** cfssl profile fields that a later version will implement: refused rather than ignored. */
const notYetSupported = [
  "auth_remote",
  "remote",
  "copy_extensions",
  "ct_log_servers",
  "allowed_extensions",
  "cert_store",
  "lint_error_level",
  "ignored_lints",
  "policies",
];

export type ProfileJson = z.infer<typeof profileSchema>;

/**
 * A signing profile, parsed once: durations, usages and the whitelist are typed values here. What
 * issuance reads of it is pki's IssuanceProfile; the rest is for the policy, authentication and `info`.
 */
export interface SigningProfile extends IssuanceProfile {
  usages: string[];
  /** The lifetime as the file wrote it (or cfssl's default 8760h), for `info` and refusals. */
  expiry: string;
  /** cfssl's `name_whitelist`, anchored so it must match a whole name. */
  nameWhitelist: RegExp | undefined;
  /** Which names and keys the profile certifies; undefined: any (cfssl's behaviour). */
  policy: NamePolicy | undefined;
  /** The policy as the file wrote it, for `info`. */
  policyJson: PolicyJson | undefined;
  /** The auth key (a name in `auth_keys`) a request must be signed with; undefined: none needed. */
  authKey: string | undefined;
  /** The previous key, still accepted while clients move to the new one. */
  prevAuthKey: string | undefined;
  /** Requests must come with a verified client certificate (mutual TLS). */
  requireClientCertificate: boolean;
  /** The certificate may only name the client itself: its CN and SANs from the client certificate's names. */
  ownNamesOnly: boolean;
}

const oneYearMs = 8760 * 3_600_000;
const defaultBackdateMs = 5 * 60_000;

export class ConfigError extends Error {
  override name = "ConfigError";
}

function isUnset(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === "" || value === 0) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === "object") return Object.keys(value).length === 0;
  return false;
}

function parseTime(value: string, path: string): Date {
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) throw new ConfigError(`${path}: "${value}" is not an RFC 3339 time`);
  return time;
}

function parseUrl(value: string, path: string): string {
  try {
    new URL(value);
  } catch {
    throw new ConfigError(`${path}: "${value}" is not a URL`);
  }
  return value;
}

function parseProfile(name: string, path: string, raw: unknown): SigningProfile {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${path}: must be an object`);
  }
  for (const [key, value] of Object.entries(raw)) {
    if (notYetSupported.includes(key)) {
      if (!isUnset(value)) throw new ConfigError(`${path}.${key}: not supported yet by certwright; remove it`);
    } else if (!(key in profileSchema.shape)) {
      throw new ConfigError(`${path}.${key}: unknown field (profile fields: ${Object.keys(profileSchema.shape).join(", ")})`);
    }
  }
  const parsed = profileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${[path, ...issue.path].join(".")}: ${issue.message}`);
  }
  const p = parsed.data;
  const usages = p.usages ?? [];
  const resolved = resolveUsages(usages);
  if ("unknown" in resolved) {
    throw new ConfigError(`${path}.usages[${resolved.index}]: unknown usage "${resolved.unknown}" (known: ${knownUsages.join(", ")})`);
  }
  let expiryMs = oneYearMs;
  if (p.expiry) {
    const ms = parseDuration(p.expiry);
    if (ms === undefined || ms <= 0) throw new ConfigError(`${path}.expiry: "${p.expiry}" is not a positive duration like "8760h"`);
    expiryMs = ms;
  }
  let backdateMs = defaultBackdateMs;
  if (p.backdate) {
    const ms = parseDuration(p.backdate);
    if (ms === undefined) throw new ConfigError(`${path}.backdate: "${p.backdate}" is not a duration like "5m"`);
    backdateMs = ms;
  }
  let nameWhitelist: RegExp | undefined;
  if (p.name_whitelist) {
    try {
      nameWhitelist = new RegExp(`^(?:${p.name_whitelist})$`);
    } catch (error) {
      throw new ConfigError(`${path}.name_whitelist: not a valid regular expression (${(error as Error).message})`);
    }
  }
  const constraint = p.ca_constraint ?? {};
  // RFC 5280 4.2.1.9: keyCertSign only with CA:TRUE. A leaf carrying it is invalid, and verifiers
  // that do not check basicConstraints would take it for a CA.
  if (resolved.keyUsage & KeyUsageBit.keyCertSign && !constraint.is_ca) {
    const index = usages.findIndex((usage) => usage.toLowerCase() === "cert sign");
    throw new ConfigError(`${path}.usages[${index}]: "cert sign" is only for CA certificates; add "ca_constraint": {"is_ca": true} to issue CAs, or remove it`);
  }
  const maxPathLen =
    constraint.max_path_len && constraint.max_path_len > 0 ? constraint.max_path_len : constraint.max_path_len_zero ? 0 : undefined;
  const notBefore = p.not_before ? parseTime(p.not_before, `${path}.not_before`) : undefined;
  const notAfter = p.not_after ? parseTime(p.not_after, `${path}.not_after`) : undefined;
  if (notBefore && notAfter && notAfter <= notBefore) {
    throw new ConfigError(`${path}.not_after: must be later than not_before`);
  }
  return {
    name,
    usages,
    keyUsage: resolved.keyUsage,
    extKeyUsages: resolved.extKeyUsages,
    expiryMs,
    expiry: p.expiry || formatHours(expiryMs),
    backdateMs,
    isCa: constraint.is_ca ?? false,
    maxPathLen,
    issuerUrls: (p.issuer_urls ?? []).map((url, i) => parseUrl(url, `${path}.issuer_urls[${i}]`)),
    ocspUrl: p.ocsp_url ? parseUrl(p.ocsp_url, `${path}.ocsp_url`) : undefined,
    crlUrl: p.crl_url ? parseUrl(p.crl_url, `${path}.crl_url`) : undefined,
    ocspNoCheck: p.ocsp_no_check ?? false,
    notBefore,
    notAfter,
    nameWhitelist,
    policy: p.policy ? parsePolicyAt(p.policy, `${path}.policy`) : undefined,
    policyJson: p.policy ?? undefined,
    beyondCaExpiry: p.beyond_ca_expiry ?? "truncate",
    authKey: p.auth_key || undefined,
    prevAuthKey: p.prev_auth_key || undefined,
    // Naming only one's own identity needs an identity: a client certificate.
    requireClientCertificate: (p.require_client_certificate ?? false) || (p.own_names_only ?? false),
    ownNamesOnly: p.own_names_only ?? false,
  };
}

function parsePolicyAt(raw: NonNullable<ProfileJson["policy"]>, path: string): NamePolicy {
  try {
    return parsePolicy(raw, path);
  } catch (error) {
    if (error instanceof PolicyConfigError) throw new ConfigError(error.message);
    throw error;
  }
}

/** The signing config: `signing.default` and the named profiles. */
export class SigningConfig {
  constructor(
    readonly defaultProfile: SigningProfile,
    readonly profiles: ReadonlyMap<string, SigningProfile>,
    /** cfssl's `auth_keys`: HMAC keys by name. */
    readonly authKeys: ReadonlyMap<string, Buffer> = new Map(),
    /** certwright's `acme` section: ACME provisioners by name; empty: no ACME server. */
    readonly acme: ReadonlyMap<string, AcmeProvisioner> = new Map(),
  ) {}

  /** `profile` absent, empty or "default" means `signing.default`; an unknown name is refused. */
  profile(name: string | null | undefined): SigningProfile {
    if (name === undefined || name === null || name === "" || name === "default") return this.defaultProfile;
    const profile = this.profiles.get(name);
    if (!profile) {
      const names = ["default", ...this.profiles.keys()].map((n) => `"${n}"`).join(", ");
      throw new CertwrightError("unknownProfile", `profile "${name}" does not exist; the profiles are ${names}`);
    }
    return profile;
  }
}

/** Parses a cfssl `ca-config.json` document. Throws ConfigError naming the JSON path of a bad field. */
export function parseSigningConfig(document: unknown): SigningConfig {
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    throw new ConfigError("the config must be a JSON object with a \"signing\" section");
  }
  for (const [key, value] of Object.entries(document)) {
    if (key === "signing") continue;
    if (key === "auth_keys") continue;
    if (key === "acme") continue;
    if (key === "remotes" || key === "ocsp") {
      if (!isUnset(value)) throw new ConfigError(`${key}: not supported yet by certwright; remove it`);
    } else {
      throw new ConfigError(`${key}: unknown field (top-level fields: signing, auth_keys, acme)`);
    }
  }
  const signing = (document as { signing?: unknown }).signing ?? {};
  if (typeof signing !== "object" || signing === null || Array.isArray(signing)) {
    throw new ConfigError("signing: must be an object with \"default\" and \"profiles\"");
  }
  for (const key of Object.keys(signing)) {
    if (key !== "default" && key !== "profiles") throw new ConfigError(`signing.${key}: unknown field (fields: default, profiles)`);
  }
  const { default: rawDefault, profiles: rawProfiles } = signing as { default?: unknown; profiles?: unknown };
  // cfssl's own default when the file has none: the usual server and client usages, one year.
  const defaultProfile =
    rawDefault === undefined || rawDefault === null
      ? parseProfile("default", "signing.default", { usages: ["signing", "key encipherment", "server auth", "client auth"], expiry: "8760h" })
      : parseProfile("default", "signing.default", rawDefault);
  const profiles = new Map<string, SigningProfile>();
  if (rawProfiles !== undefined && rawProfiles !== null) {
    if (typeof rawProfiles !== "object" || Array.isArray(rawProfiles)) {
      throw new ConfigError("signing.profiles: must be an object of named profiles");
    }
    for (const [name, raw] of Object.entries(rawProfiles)) {
      profiles.set(name, parseProfile(name, `signing.profiles.${name}`, raw));
    }
  }
  const authKeys = parseAuthKeys((document as { auth_keys?: unknown }).auth_keys);
  for (const profile of [defaultProfile, ...profiles.values()]) {
    const path = profile === defaultProfile ? "signing.default" : `signing.profiles.${profile.name}`;
    for (const [field, name] of [["auth_key", profile.authKey], ["prev_auth_key", profile.prevAuthKey]] as const) {
      if (name !== undefined && !authKeys.has(name)) {
        throw new ConfigError(`${path}.${field}: "${name}" is not in auth_keys (${[...authKeys.keys()].map((k) => `"${k}"`).join(", ") || "none"})`);
      }
    }
  }
  const acme = parseAcmeSection(
    (document as { acme?: unknown }).acme,
    { profiles: ["default", ...profiles.keys()], authKeys: [...authKeys.keys()] },
    (message) => {
      throw new ConfigError(message);
    },
  );
  return new SigningConfig(defaultProfile, profiles, authKeys, acme);
}

/**
 * cfssl's `auth_keys`: `{"NAME": {"type": "standard", "key": KEY}}`, KEY being the key in hex,
 * `env:VAR` (hex in that variable) or `file:PATH` (hex in that file).
 */
function parseAuthKeys(raw: unknown): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  if (raw === undefined || raw === null) return keys;
  if (typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError("auth_keys: must be an object of named keys");
  for (const [name, entry] of Object.entries(raw)) {
    const path = `auth_keys.${name}`;
    const { type, key } = (entry ?? {}) as { type?: unknown; key?: unknown };
    if (type !== "standard") throw new ConfigError(`${path}.type: must be "standard" (HMAC-SHA256), not ${JSON.stringify(type)}`);
    if (typeof key !== "string" || key === "") throw new ConfigError(`${path}.key: must be the key in hex, "env:VAR" or "file:PATH"`);
    let hex = key;
    if (key.startsWith("env:")) {
      const value = process.env[key.slice(4)];
      if (!value) throw new ConfigError(`${path}.key: environment variable ${key.slice(4)} is not set`);
      hex = value;
    } else if (key.startsWith("file:")) {
      try {
        hex = readFileSync(key.slice(5), "utf8");
      } catch (error) {
        throw new ConfigError(`${path}.key: ${key.slice(5)} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
      }
    }
    hex = hex.trim();
    if (!/^([0-9a-fA-F]{2})+$/.test(hex) || hex.length < 32) {
      throw new ConfigError(`${path}.key: not a hex key of at least 16 bytes`);
    }
    keys.set(name, Buffer.from(hex, "hex"));
  }
  return keys;
}

/** Reads a `ca-config.json` file as JSON; errors start with the file's path. */
export function readSigningConfigDocument(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`${path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    // V8 quotes the text around an unexpected token, which can be part of an inline auth key, and
    // this message is logged (a failed reload) or printed (start-up): keep only what is wrong.
    const reason = (error as Error).message.replace(/, (?:\.\.\.)?".*$/s, "");
    throw new ConfigError(`${path}: not valid JSON (${reason})`);
  }
}

/** parseSigningConfig, with errors that start with the file's path. */
export function parseSigningConfigAt(path: string, document: unknown): SigningConfig {
  try {
    return parseSigningConfig(document);
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`${path}: ${error.message}`);
    throw error;
  }
}

/** Reads and parses a `ca-config.json` file; errors start with the file's path. */
export function loadSigningConfig(path: string): SigningConfig {
  return parseSigningConfigAt(path, readSigningConfigDocument(path));
}
