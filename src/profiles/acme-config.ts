import { z } from "zod";

/** The challenge types an ACME provisioner can accept (RFC 8555 8.3, 8.4; RFC 8737). */
export const challengeTypes = ["http-01", "dns-01", "tls-alpn-01"] as const;
export type AcmeChallengeType = (typeof challengeTypes)[number];

/** One provisioner of the `acme` section, as the file writes it. */
const provisionerSchema = z.strictObject({
  profile: z.string().min(1).meta({ description: "The signing profile every order of this provisioner is signed under; \"default\" is signing.default" }),
  challenges: z
    .array(z.enum(challengeTypes))
    .min(1)
    .refine((list) => new Set(list).size === list.length, "a challenge type is named twice")
    .optional()
    .meta({ description: "The challenge types offered; default all three" }),
  label: z.string().max(128).optional().meta({ description: "The CA (by cfssl label) that signs; default the default CA" }),
  external_account_binding: z.boolean().optional().meta({ description: "New accounts must carry an external account binding (RFC 8555 7.3.4)" }),
  eab_keys: z.array(z.string().min(1)).min(1).optional().meta({ description: "The auth_keys names an EAB may use as its key id; default every auth key" }),
});

/** A provisioner, parsed once: what the ACME server reads of it. */
export interface AcmeProvisioner {
  name: string;
  profile: string;
  challenges: readonly AcmeChallengeType[];
  label: string;
  /** EAB is required for new accounts. */
  externalAccountRequired: boolean;
  /** The auth_keys names an EAB may name as its key id. */
  eabKeys: readonly string[];
}

/** A provisioner's name is a path segment of its URLs: kept to characters that need no escaping. */
const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Parses the signing config's `acme` section: provisioner name → profile, challenges, CA label and
 * external account binding. `fail` turns a problem into the caller's config error, with its path.
 */
export function parseAcmeSection(
  raw: unknown,
  known: { profiles: readonly string[]; authKeys: readonly string[] },
  fail: (message: string) => never,
): Map<string, AcmeProvisioner> {
  const provisioners = new Map<string, AcmeProvisioner>();
  if (raw === undefined || raw === null) return provisioners;
  if (typeof raw !== "object" || Array.isArray(raw)) fail('acme: must be an object of named provisioners, e.g. {"default": {"profile": "server"}}');
  for (const [name, entry] of Object.entries(raw as Record<string, unknown>)) {
    const path = `acme.${name}`;
    if (!namePattern.test(name)) fail(`${path}: a provisioner's name is part of its URL: letters, digits, ".", "_" and "-", at most 64`);
    const parsed = provisionerSchema.safeParse(entry);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.reduce<string>((at, part) => (typeof part === "number" ? `${at}[${part}]` : `${at}.${String(part)}`), path);
      if (issue.code === "unrecognized_keys") fail(`${path}: unknown field ${issue.keys.map((k) => `"${k}"`).join(", ")} (fields: ${Object.keys(provisionerSchema.shape).join(", ")})`);
      fail(`${field}: ${issue.message}`);
    }
    const p = parsed.data;
    // A labelled provisioner's profile is its CA's, which may have a config of its own: checked
    // against that one once the CAs are known (SigningConfigs.checkAcme).
    if (p.label === undefined && !known.profiles.includes(p.profile)) {
      fail(`${path}.profile: "${p.profile}" is not a profile of signing (${known.profiles.map((n) => `"${n}"`).join(", ")})`);
    }
    const required = p.external_account_binding ?? false;
    for (const [i, key] of (p.eab_keys ?? []).entries()) {
      if (!known.authKeys.includes(key)) fail(`${path}.eab_keys[${i}]: "${key}" is not in auth_keys (${known.authKeys.map((k) => `"${k}"`).join(", ") || "none"})`);
    }
    const eabKeys = p.eab_keys ?? known.authKeys;
    if (required && eabKeys.length === 0) {
      fail(`${path}.external_account_binding: true needs HMAC keys to bind with; add them to auth_keys (and optionally name them in eab_keys)`);
    }
    provisioners.set(name, {
      name,
      profile: p.profile,
      challenges: p.challenges ?? challengeTypes,
      label: p.label ?? "",
      externalAccountRequired: required,
      eabKeys,
    });
  }
  return provisioners;
}
