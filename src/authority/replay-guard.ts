import { CertwrightError } from "../errors.js";
import type { GuardStorage } from "../store/backend.js";

/** What a signed request carries for replay protection, inside the bytes its HMAC covers. */
export interface ReplayFields {
  timestamp?: number | null | undefined;
  nonce?: string | null | undefined;
}

const noncePattern = /^[A-Za-z0-9_+/=-]{16,128}$/;

/**
 * The stricter mode of authenticated requests: the signed request must carry a `timestamp` (unix
 * seconds) within the window of now and a `nonce` not seen before under the same key. The fields
 * sit inside the signed JSON, so they cannot be changed without breaking the HMAC; cfssl's own
 * `timestamp` beside the token is not signed, so it cannot serve.
 */
export class ReplayGuard {
  constructor(
    private readonly store: GuardStorage,
    readonly windowMs: number,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async check(keyName: string, fields: ReplayFields): Promise<void> {
    const { timestamp, nonce } = fields;
    const seconds = Math.round(this.windowMs / 1000);
    if (typeof timestamp !== "number" || typeof nonce !== "string") {
      throw new CertwrightError(
        "requestReplayed",
        `replay protection is on: the signed request must carry "timestamp" (unix seconds, within ${seconds}s of now) and "nonce" (16 to 128 characters, never reused)`,
      );
    }
    if (!noncePattern.test(nonce)) {
      throw new CertwrightError("requestReplayed", "nonce: must be 16 to 128 characters of A-Z, a-z, 0-9, _ + / = -; use openssl rand -hex 16");
    }
    const now = this.clock().getTime();
    const at = timestamp * 1000;
    if (!Number.isFinite(at) || Math.abs(now - at) > this.windowMs) {
      throw new CertwrightError("requestReplayed", `timestamp: ${timestamp} is more than ${seconds}s from the service's clock (${Math.floor(now / 1000)}); sign a fresh request`);
    }
    // A nonce is remembered until its timestamp leaves the window: after that the timestamp alone refuses it.
    if (!(await this.store.rememberNonce(keyName, nonce, at + this.windowMs, now))) {
      throw new CertwrightError("requestReplayed", "nonce: this request was seen before; a replayed request is refused");
    }
  }
}
