// The ACME error types (RFC 8555 6.7, RFC 8738, RFC 8737) in one table: each answer is an RFC 7807
// problem document with the URN type, at the status decided here and nowhere else.

/** Every ACME problem type the server answers with, and its HTTP status. */
export const acmeProblemTypes = {
  accountDoesNotExist: 400,
  alreadyRevoked: 400,
  badCSR: 400,
  badNonce: 400,
  badPublicKey: 400,
  badRevocationReason: 400,
  badSignatureAlgorithm: 400,
  connection: 400,
  dns: 400,
  externalAccountRequired: 401,
  incorrectResponse: 403,
  malformed: 400,
  orderNotReady: 403,
  rateLimited: 429,
  rejectedIdentifier: 400,
  serverInternal: 500,
  tls: 400,
  unauthorized: 403,
  unsupportedContact: 400,
  unsupportedIdentifier: 400,
} as const satisfies Record<string, number>;

export type AcmeProblemType = keyof typeof acmeProblemTypes;

const urnPrefix = "urn:ietf:params:acme:error:";

/** An RFC 7807 problem document as ACME sends it (RFC 8555 6.7), subproblems per identifier (6.7.1). */
export interface ProblemDocument {
  type: string;
  detail: string;
  status?: number;
  identifier?: { type: string; value: string };
  subproblems?: ProblemDocument[];
}

/** An ACME refusal: thrown anywhere below the routes, rendered once by the ACME error handler. */
export class AcmeProblem extends Error {
  override name = "AcmeProblem";

  constructor(
    readonly type: AcmeProblemType,
    readonly detail: string,
    readonly extra: {
      identifier?: { type: string; value: string };
      subproblems?: ProblemDocument[];
      cause?: unknown;
      algorithms?: string[];
      /** Another status than the type's usual one: 404 for a resource that does not exist, 409 for a key in use, 503... */
      status?: number;
      /** Extra answer headers (Location of the account a key belongs to). */
      headers?: Record<string, string>;
    } = {},
  ) {
    super(detail, extra.cause === undefined ? undefined : { cause: extra.cause });
  }

  get status(): number {
    return this.extra.status ?? acmeProblemTypes[this.type];
  }

  /** The problem document; `algorithms` is RFC 8555 6.2's list for badSignatureAlgorithm. */
  toDocument(): ProblemDocument & { algorithms?: string[] } {
    return {
      type: `${urnPrefix}${this.type}`,
      detail: this.detail,
      status: this.status,
      ...(this.extra.identifier ? { identifier: this.extra.identifier } : {}),
      ...(this.extra.subproblems ? { subproblems: this.extra.subproblems } : {}),
      ...(this.extra.algorithms ? { algorithms: this.extra.algorithms } : {}),
    };
  }
}

/** The document of a problem type without throwing (stored on challenges and orders). */
export function problemDocument(type: AcmeProblemType, detail: string, identifier?: { type: string; value: string }): ProblemDocument {
  return new AcmeProblem(type, detail, identifier ? { identifier } : {}).toDocument();
}

/** The ACME type named by a problem document's URN; undefined for one not ours. */
export function problemTypeOf(document: { type: string }): AcmeProblemType | undefined {
  const name = document.type.startsWith(urnPrefix) ? document.type.slice(urnPrefix.length) : "";
  return name in acmeProblemTypes ? (name as AcmeProblemType) : undefined;
}
