/**
 * dns-01 (RFC 8555 §8.4): a TXT record at `_acme-challenge.<name>` (the base name for a wildcard)
 * must hold base64url(SHA-256(key authorization)). Other TXT records may sit beside it, as when a
 * client validates a name and its wildcard at once.
 *
 * Problem types: no TXT record at the name is unauthorized; TXT records none of which is the
 * digest are incorrectResponse; NXDOMAIN, SERVFAIL, a refusal and a silent server are dns.
 */
import { createHash } from "node:crypto";
import { cancelOnAbort, checkIdentifier, dnsProblem, fail, resolverFor, settle, ValidationFailure } from "./network.js";
import type { AcmeIdentifier, ValidationResult, ValidationTargets } from "./types.js";

/** The TXT value a client publishes for `keyAuthorization`. */
export function dns01Digest(keyAuthorization: string): string {
  return createHash("sha256").update(keyAuthorization).digest("base64url");
}

/** The name whose TXT records are read for `identifier`. */
export function dns01Name(identifier: AcmeIdentifier): string {
  return `_acme-challenge.${identifier.value.replace(/^\*\./, "").replace(/\.$/, "")}`;
}

/** Validates a dns-01 challenge; never throws (see the module comment for the problem types). */
export function validateDns01(
  identifier: AcmeIdentifier,
  keyAuthorization: string,
  targets: ValidationTargets,
  signal: AbortSignal = new AbortController().signal,
  onInternalError?: (error: unknown) => void,
): Promise<ValidationResult> {
  return settle(onInternalError, async () => {
    checkIdentifier(identifier);
    if (identifier.type === "ip") fail("unauthorized", "dns-01 cannot validate an IP identifier (RFC 8738 §7)");
    const name = dns01Name(identifier);
    const resolver = resolverFor(targets);
    const release = cancelOnAbort(resolver, signal);
    let records: string[];
    try {
      // A TXT record is a list of strings of up to 255 octets each; its value is them joined.
      records = (await resolver.resolveTxt(name)).map((chunks) => chunks.join(""));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENODATA") fail("unauthorized", `no TXT record found at ${name}`);
      throw new ValidationFailure(dnsProblem(error, "TXT", name));
    } finally {
      release();
    }
    const expected = dns01Digest(keyAuthorization);
    if (records.includes(expected)) return;
    const shown = records.slice(0, 5).map((r) => JSON.stringify(r.length > 64 ? `${r.slice(0, 64)}…` : r));
    fail("incorrectResponse", `no TXT record at ${name} holds the digest of this challenge's key authorization; found ${shown.join(", ")}${records.length > 5 ? ", …" : ""}`);
  });
}
