import { CertwrightError } from "../errors.js";
import type { KeySpec } from "../pki/keys.js";
import { commonNameOid, emailAddressOid } from "../pki/subject.js";
import { defaultKeyRules, enforceKeyPolicy, enforceNamePolicy, refuse, type NamesRequest } from "./policy.js";
import type { SigningProfile } from "./signing-config.js";

/** What the profile checks before anything is signed. */
export interface PolicyRequest extends NamesRequest {
  /** Undefined where the key is not known yet. */
  keySpec?: KeySpec | undefined;
  /** The CSR asks for basicConstraints CA:TRUE. */
  requestsCa?: boolean | undefined;
  /** The digest the CSR's signature uses (Node's name), for a CSR made elsewhere. */
  csrHash?: string | null | undefined;
}

/** The names cfssl's `name_whitelist` applies to: every CN, every subject email address, DNS, email and URI SANs. */
function whitelistedNames({ subject, sans }: NamesRequest): string[] {
  const fromSubject = subject.filter((a) => (a.oid === commonNameOid || a.oid === emailAddressOid) && a.value !== "").map((a) => a.value);
  return [...fromSubject, ...sans.dns, ...sans.email, ...sans.uri];
}

/**
 * Every check a profile makes of a request, in one place: cfssl's `name_whitelist` (anchored),
 * the `policy` names, the key rules (`policy.keys` or `defaultKeyRules`), the CSR's signature
 * digest, and whether a CA may be asked for.
 */
export function enforceProfilePolicy(profile: SigningProfile, request: PolicyRequest): void {
  if (request.requestsCa && !profile.isCa) {
    refuse(profile.name, "the CSR asks for a CA certificate (basicConstraints CA:TRUE), and this profile has no ca_constraint.is_ca");
  }
  const keyRules = profile.policy?.keys ?? defaultKeyRules;
  if (request.csrHash === "md5" || (request.csrHash === "sha1" && !keyRules.allowSha1Csr)) {
    throw new CertwrightError(
      "csrInvalid",
      `certificate_request: signed with ${request.csrHash === "md5" ? "MD5" : "SHA-1"}, which no longer proves anything; make the CSR again with SHA-256 (openssl req -sha256)`,
    );
  }
  if (profile.nameWhitelist) {
    for (const name of whitelistedNames(request)) {
      if (!profile.nameWhitelist.test(name)) refuse(profile.name, `"${name}" does not match name_whitelist`);
    }
  }
  if (profile.policy) enforceNamePolicy(profile.name, profile.policy, request);
  if (request.keySpec) enforceKeyPolicy(profile.name, keyRules, request.keySpec);
}
