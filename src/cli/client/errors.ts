/** Exit codes of the client commands; `renew` adds `notDue`. Listed in every command's --help. */
export const exitCodes = {
  ok: 0,
  /** The service refused, could not be reached, or a file could not be read or written. */
  failed: 1,
  /** Bad flags or arguments. */
  usage: 2,
  /** `renew`: the certificate is not due for renewal yet, so nothing was done (success). */
  notDue: 3,
} as const;

export const clientExitCodes = "Exit codes: 0 success, 1 failed (the service refused or could not be reached, a file problem), 2 bad usage.";

/** A failure the user can act on; the message says what to do. Printed as `certwright: <command>: <message>`. */
export class ClientError extends Error {
  override name = "ClientError";
}

/** One entry of the envelope's `errors`. */
export interface ServiceMessage {
  code: number;
  message: string;
}

/** The service answered with `success: false`. Printed as `certwright: <endpoint>: error <code>: <message>`, one line per error. */
export class ServiceError extends Error {
  override name = "ServiceError";

  constructor(
    readonly endpoint: string,
    readonly errors: ServiceMessage[],
    readonly status: number,
  ) {
    super(errors.map((e) => `error ${e.code}: ${e.message}`).join("; ") || `HTTP ${status}`);
  }

  lines(): string[] {
    if (this.errors.length === 0) {
      return [`certwright: ${this.endpoint}: ${this.status ? `failed with HTTP ${this.status}` : "the answer says \"success\": false"} and lists no error`];
    }
    return this.errors.map((e) => `certwright: ${this.endpoint}: error ${e.code}: ${e.message}`);
  }
}
