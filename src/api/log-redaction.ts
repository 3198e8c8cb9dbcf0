/**
 * What keeps keys, CSRs and tokens out of the log, at every level.
 *
 * Nothing logs a request body or its headers (see request-log.ts), so the secrets a request carries
 * (private keys in answers, CSRs, the Authorization header, authsign's token) never reach a log call.
 * Two things stand guard in case that changes or a client puts a secret where it does not belong:
 * pino redacts the fields that would hold secrets, by path; and the few fields that echo what a client
 * sent (the audit record's names, an error's message; a refusal's message is masked where it is
 * logged, in error-handler.ts) have any PEM block in them masked, so a private key pasted as a
 * profile name is refused without being written down.
 */

/** A PEM block: its BEGIN marker followed by base64, up to its END marker or the end of the text. */
const pemBlock = /-----BEGIN ([A-Z0-9 ]{1,64})-----(?=(?:\s|\\[rn])*[A-Za-z0-9+/=])[\s\S]*?(?:-----END \1-----|$)/g;

/** Masks every PEM block in `text`; a marker that is only named ("no -----BEGIN CSR----- found") stays. */
export function maskPem(text: string): string {
  return text.includes("-----BEGIN") ? text.replace(pemBlock, "[redacted PEM]") : text;
}

/** Fields that would hold secrets if anything ever logged them: always replaced. */
const secretPaths = [
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["proxy-authorization"]',
  "headers.authorization",
  "req.body",
  "body",
  "private_key",
  "token",
  "certificate_request",
];

/** Fields that echo what a client sent or what failed: kept, with PEM blocks masked. */
const echoPaths = ["err.message", "err.stack", "audit.profile", "audit.cn", "audit.serial", "audit.sans[*]"];

/** pino's `redact` option for the service's logger. */
export const logRedaction = {
  paths: [...secretPaths, ...echoPaths],
  censor: (value: unknown, path: string[]): unknown => {
    if (!echoPaths.includes(path.join(".").replace(/\.\d+$/, "[*]"))) return "[redacted]";
    return typeof value === "string" ? maskPem(value) : value;
  },
};
