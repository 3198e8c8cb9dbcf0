// The identifiers of a new order (RFC 8555 7.1.3, RFC 8738): read, normalized to the form that goes
// into the certificate, and checked against the provisioner's challenges and the profile's policy
// before anything is validated.
import { isIP } from "node:net";
import { CertwrightError } from "../errors.js";
import { checkDnsName, maxHosts } from "../pki/hosts.js";
import type { AcmeProvisioner } from "../profiles/acme-config.js";
import { enforceProfilePolicy } from "../profiles/profile-policy.js";
import type { SigningProfile } from "../profiles/signing-config.js";
import { AcmeProblem, problemDocument, type ProblemDocument } from "./problems.js";
import type { AcmeIdentifier, ChallengeType } from "./validation/types.js";

/** An IP address in the one form it is compared in: IPv6 compressed and lower-case, as URL parsing writes it. */
export function canonicalIp(value: string): string {
  if (isIP(value) === 6) return new URL(`http://[${value}]/`).hostname.slice(1, -1);
  return value;
}

/** An identifier's key for comparing sets of names: type and normalized value. */
export function identifierKey(identifier: AcmeIdentifier): string {
  return `${identifier.type}:${identifier.type === "ip" ? canonicalIp(identifier.value) : identifier.value.toLowerCase()}`;
}

/** Reads the `identifiers` of a newOrder payload; refuses what is not a DNS name or IP address. */
export function readIdentifiers(raw: unknown): AcmeIdentifier[] {
  if (!Array.isArray(raw) || raw.length === 0) throw new AcmeProblem("malformed", "identifiers: must be a non-empty array of {\"type\", \"value\"}");
  if (raw.length > maxHosts) throw new AcmeProblem("rejectedIdentifier", `identifiers: ${raw.length} names in one order; at most ${maxHosts} are accepted`);
  const seen = new Set<string>();
  const identifiers: AcmeIdentifier[] = [];
  for (const [i, entry] of raw.entries()) {
    const { type, value } = (entry ?? {}) as { type?: unknown; value?: unknown };
    if (typeof type !== "string" || typeof value !== "string") throw new AcmeProblem("malformed", `identifiers[${i}]: must be {"type": "dns" or "ip", "value": string}`);
    let identifier: AcmeIdentifier;
    if (type === "dns") {
      if (isIP(value)) throw new AcmeProblem("malformed", `identifiers[${i}]: "${value}" is an IP address; send it with type "ip" (RFC 8738)`);
      const checked = checkDnsName(value);
      if ("problem" in checked) {
        throw new AcmeProblem("rejectedIdentifier", `identifiers[${i}]: "${value}" is not a valid DNS name: ${checked.problem}`, { identifier: { type, value } });
      }
      identifier = { type: "dns", value: checked.name.toLowerCase() };
    } else if (type === "ip") {
      if (!isIP(value) || value.includes("%")) throw new AcmeProblem("malformed", `identifiers[${i}]: "${value}" is not an IP address`);
      identifier = { type: "ip", value: canonicalIp(value) };
    } else {
      throw new AcmeProblem("unsupportedIdentifier", `identifiers[${i}]: type "${type}" is not supported; this server issues for "dns" and "ip" identifiers`);
    }
    const key = identifierKey(identifier);
    if (seen.has(key)) continue;
    seen.add(key);
    identifiers.push(identifier);
  }
  return identifiers;
}

/** The challenge types an identifier can be validated with here: RFC 8555 8.4 for wildcards, RFC 8738 7 for IPs. */
export function challengesFor(identifier: AcmeIdentifier, provisioner: AcmeProvisioner): ChallengeType[] {
  const offered = provisioner.challenges as readonly ChallengeType[];
  if (identifier.type === "ip") return offered.filter((type) => type !== "dns-01");
  if (identifier.value.startsWith("*.")) return offered.filter((type) => type === "dns-01");
  return [...offered];
}

/**
 * Checks an order's names before any validation: each must be validatable with a challenge the
 * provisioner offers and allowed by the profile's policy (name_whitelist and policy, as sign
 * checks them). Refuses with rejectedIdentifier, a subproblem for each name refused.
 */
export function checkOrderIdentifiers(identifiers: readonly AcmeIdentifier[], provisioner: AcmeProvisioner, profile: SigningProfile): void {
  const subproblems: ProblemDocument[] = [];
  for (const identifier of identifiers) {
    if (challengesFor(identifier, provisioner).length === 0) {
      const why =
        identifier.type === "ip"
          ? `IP addresses are validated with http-01 or tls-alpn-01, and provisioner "${provisioner.name}" offers ${provisioner.challenges.join(", ")}`
          : `wildcard names are validated with dns-01 only, which provisioner "${provisioner.name}" does not offer`;
      subproblems.push(problemDocument("rejectedIdentifier", `${identifier.value}: ${why}`, identifier));
      continue;
    }
    const refusal = policyRefusal(profile, [identifier]);
    if (refusal) subproblems.push(problemDocument("rejectedIdentifier", refusal, identifier));
  }
  if (subproblems.length > 0) {
    const detail = subproblems.length === 1 ? subproblems[0]!.detail : `${subproblems.length} identifiers are refused: ${subproblems.map((p) => p.identifier?.value).join(", ")}`;
    throw new AcmeProblem("rejectedIdentifier", detail, { subproblems });
  }
  // Limits on the whole set (policy.max_hosts) only show with every name together.
  const whole = policyRefusal(profile, identifiers);
  if (whole) throw new AcmeProblem("rejectedIdentifier", whole);
}

/** The profile's refusal of a certificate for these names, or undefined when it allows them. */
function policyRefusal(profile: SigningProfile, identifiers: readonly AcmeIdentifier[]): string | undefined {
  try {
    enforceProfilePolicy(profile, {
      subject: [],
      sans: {
        dns: identifiers.filter((i) => i.type === "dns").map((i) => i.value),
        ip: identifiers.filter((i) => i.type === "ip").map((i) => i.value),
        email: [],
        uri: [],
      },
    });
    return undefined;
  } catch (error) {
    if (error instanceof CertwrightError && error.kind === "policyViolation") return error.message;
    throw error;
  }
}
