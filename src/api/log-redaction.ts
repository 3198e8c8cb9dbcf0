import { stdSerializers } from "pino";

/**
 * What keeps keys, CSRs and tokens out of the log, at every level.
 *
 * Nothing logs a request body or its headers (see request-log.ts), so the secrets a request carries
 * (private keys in answers, CSRs, the Authorization header, authsign's token) never reach a log call.
 * Two things stand guard in case that changes or a client puts a secret where it does not belong:
 * pino's serializers replace the fields that would hold secrets; and the few fields that echo what a client
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

const redacted = () => "[redacted]";

/** A PEM block masked in a string, or in each string of an array; anything else as it is. */
function maskEcho(value: unknown): unknown {
  if (typeof value === "string") return maskPem(value);
  return Array.isArray(value) ? value.map(maskEcho) : value;
}

/** A copy of `record` with the PEM blocks in `fields` masked; `record` itself when none holds one. */
function maskFields<T extends object>(record: T, fields: readonly (keyof T & string)[]): T {
  const holdsPem = (value: unknown): boolean =>
    typeof value === "string" ? value.includes("-----BEGIN") : Array.isArray(value) && value.some(holdsPem);
  if (!fields.some((field) => holdsPem(record[field]))) return record;
  const copy = { ...record };
  for (const field of fields) copy[field] = maskEcho(record[field]) as T[typeof field];
  return copy;
}

const secretHeaders = ["authorization", "cookie", "proxy-authorization"];

/**
 * pino's serializers for the service's logger. They run only for the top-level fields they name,
 * which keeps a log line cheap (pino's path-based `redact` cost more than the rest of the line).
 */
export const logSerializers = {
  // Fields that would hold secrets if anything ever logged them: always replaced.
  body: redacted,
  private_key: redacted,
  token: redacted,
  certificate_request: redacted,
  headers: (headers: Record<string, unknown>) => {
    if (typeof headers !== "object" || headers === null || !secretHeaders.some((name) => name in headers)) return headers;
    const copy = { ...headers };
    for (const name of secretHeaders) if (name in copy) copy[name] = "[redacted]";
    return copy;
  },
  // Fields that echo what a client sent or what failed: kept, with PEM blocks masked.
  audit: (audit: { profile?: unknown; cn?: unknown; serial?: unknown; sans?: unknown }) => maskFields(audit, ["profile", "cn", "serial", "sans"]),
  err: (error: Error) => maskFields(stdSerializers.err(error), ["message", "stack"]),
};
