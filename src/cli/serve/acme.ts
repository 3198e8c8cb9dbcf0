import { NetworkChallengeValidator } from "../../acme/validation/validator.js";
import type { ChallengeValidator, ValidationTargets } from "../../acme/validation/types.js";

/** How long one attempt of a challenge validation may take (connection and answer); a validation has three times that across redirects. */
export const acmeValidationTimeoutMs = 10_000;

/**
 * The challenge validator serve hands the ACME server: http-01, dns-01 and tls-alpn-01 against
 * `targets` (--acme-http-port, --acme-tls-port, --acme-dns-resolver), at most 8 at once.
 */
export function createChallengeValidator(targets: ValidationTargets): ChallengeValidator {
  return new NetworkChallengeValidator(targets);
}
