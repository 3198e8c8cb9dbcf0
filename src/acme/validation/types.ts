export type AcmeIdentifier = { type: "dns" | "ip"; value: string };
export type ChallengeType = "http-01" | "dns-01" | "tls-alpn-01";
export interface ChallengeProblem { type: "connection" | "incorrectResponse" | "dns" | "unauthorized" | "tls" | "serverInternal"; detail: string }
export type ValidationResult = { ok: true } | { ok: false; problem: ChallengeProblem };
export interface ValidationTargets { httpPort: number; tlsPort: number; dnsResolver?: string /* HOST:PORT */; timeoutMs: number }
export interface ChallengeValidator {
  /** keyAuthorization = token + "." + base64url(JWK thumbprint SHA-256) */
  validate(type: ChallengeType, identifier: AcmeIdentifier, token: string, keyAuthorization: string): Promise<ValidationResult>;
}
