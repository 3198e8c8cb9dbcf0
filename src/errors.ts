/**
 * The closed set of errors the service can answer with.
 *
 * Codes follow cfssl's numbering where cfssl has one (category × 1000 + reason, see cfssl's
 * `errors/doc.go`); cfssl answers request-shape problems with the HTTP status as the code (400,
 * 404, 405...), and so do we. Categories cfssl leaves free hold our own codes (12xxx).
 * The HTTP status of each kind is decided here and nowhere else; docs/errors.md lists this table and
 * a test keeps the two in step.
 */
export const errorKinds = {
  malformedBody: { code: 400, status: 400, summary: "The request body is not valid JSON." },
  invalidRequest: { code: 400, status: 400, summary: "A field of the request is missing or has the wrong type or value." },
  notFound: { code: 404, status: 404, summary: "No such endpoint." },
  methodNotAllowed: { code: 405, status: 405, summary: "The endpoint exists but not for this HTTP method." },
  bodyTooLarge: { code: 413, status: 413, summary: "The request body is larger than the service accepts." },
  certificateDecodeFailed: { code: 1002, status: 400, summary: "No PEM certificate could be decoded from the input." },
  certificateParseFailed: { code: 1003, status: 400, summary: "The certificate could not be parsed as X.509." },
  unsupportedKey: { code: 2200, status: 400, summary: "The key algorithm or size is not one the service accepts." },
  keyGenerationFailed: { code: 2400, status: 500, summary: "A private key could not be generated." },
  noKeyUsages: { code: 5100, status: 400, summary: "The profile grants no key usages, so nothing can be signed with it." },
  policyViolation: { code: 5300, status: 403, summary: "The request asks for something the profile does not allow." },
  unknownProfile: { code: 5400, status: 400, summary: "The requested signing profile does not exist." },
  csrDecodeFailed: { code: 9002, status: 400, summary: "No PEM certificate request could be decoded from the input." },
  csrParseFailed: { code: 9003, status: 400, summary: "The certificate request could not be parsed as PKCS#10." },
  csrInvalid: { code: 9300, status: 400, summary: "The certificate request is invalid: bad signature, subject or hosts." },
  recordFailed: { code: 11100, status: 503, summary: "The certificate could not be recorded in the database, so it was not issued." },
  certificateNotFound: { code: 11200, status: 404, summary: "No certificate with that serial and authority key id is recorded." },
  unknownCaLabel: { code: 12100, status: 404, summary: "No CA with that label is served here." },
  notReady: { code: 12200, status: 503, summary: "The service is not ready: its database takes no writes, its CA key cannot sign, or a thread the request needed stopped." },
  configInvalid: { code: 12300, status: 400, summary: "The signing config file does not validate, so the service keeps the config it has." },
  authenticationRequired: { code: 13100, status: 401, summary: "The request needs credentials: an auth key HMAC, or the admin token." },
  authenticationFailed: { code: 13200, status: 403, summary: "The request's credentials are wrong, malformed or for another key." },
  requestReplayed: { code: 13300, status: 403, summary: "Replay protection refused the request: its timestamp is outside the window, or its nonce was seen before." },
  rateLimited: { code: 13400, status: 429, summary: "The client sent more requests than its rate limit allows; retry after Retry-After seconds." },
  internal: { code: 500, status: 500, summary: "An internal error; the detail is in the service's log." },
} as const satisfies Record<string, { code: number; status: number; summary: string }>;

export type ErrorKind = keyof typeof errorKinds;

/** An error meant for the client: its message must say what to fix and must not leak secrets. */
export class CertwrightError extends Error {
  readonly kind: ErrorKind;

  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CertwrightError";
    this.kind = kind;
  }

  get code(): number {
    return errorKinds[this.kind].code;
  }

  get status(): number {
    return errorKinds[this.kind].status;
  }
}
