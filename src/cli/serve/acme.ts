import type { ChallengeValidator, ValidationTargets } from "../../acme/validation/types.js";

/** How long one challenge validation may take, connection and answer together. */
export const acmeValidationTimeoutMs = 10_000;

/**
 * The challenge validators serve hands the ACME server: http-01, dns-01 and tls-alpn-01 against
 * `targets` (--acme-http-port, --acme-tls-port, --acme-dns-resolver).
 *
 * The validators themselves live in src/acme/validation/ and are wired in here, the one place serve
 * makes them. Until they are, every validation fails with serverInternal saying so, and serve warns
 * at start: an order can be placed but no challenge passes, so nothing is issued unvalidated.
 */
export function createChallengeValidator(targets: ValidationTargets): { validator: ChallengeValidator; warning?: string } {
  void targets;
  return {
    validator: {
      async validate(type) {
        return { ok: false, problem: { type: "serverInternal", detail: `${type} validation is not available in this build of certwright` } };
      },
    },
    warning: "ACME challenge validation is not available in this build: every challenge will fail",
  };
}
