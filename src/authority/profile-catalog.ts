import type { SigningConfig, SigningProfile } from "../profiles/signing-config.js";
import type { ProfileDescription } from "../schemas/console.js";

/** cfssl's name_whitelist as the file wrote it: the config anchors it to match whole names. */
function asWritten(whitelist: RegExp): string {
  return whitelist.source.replace(/^\^\(\?:([\s\S]*)\)\$$/, "$1");
}

function describe(name: string, profile: SigningProfile): ProfileDescription {
  return {
    name,
    usages: profile.usages,
    expiry: profile.expiry,
    ca_constraint: { is_ca: profile.isCa, max_path_len: profile.maxPathLen ?? null },
    // The key's name only: the key itself never leaves the config.
    auth_key: profile.authKey ?? null,
    require_client_certificate: profile.requireClientCertificate,
    own_names_only: profile.ownNamesOnly,
    name_whitelist: profile.nameWhitelist ? asWritten(profile.nameWhitelist) : null,
    ...(profile.policyJson ? { policy: profile.policyJson } : {}),
    beyond_ca_expiry: profile.beyondCaExpiry,
    crl_url: profile.crlUrl ?? null,
    ocsp_url: profile.ocspUrl ?? null,
    issuer_urls: profile.issuerUrls,
  };
}

/** The signing profiles as an operator reads them: `default` first, then the others by name. */
export function describeProfiles(config: SigningConfig): ProfileDescription[] {
  const named = [...config.profiles.entries()].sort(([a], [b]) => a.localeCompare(b));
  return [describe("default", config.defaultProfile), ...named.map(([name, profile]) => describe(name, profile))];
}
