/**
 * The challenge validator the ACME protocol core calls: dispatches by challenge type, runs at most
 * `concurrency` validations at once (the rest wait their turn in order), and gives each one an
 * overall deadline. It never throws: every failure is a ValidationResult with its problem.
 */
import { validateDns01 } from "./dns-01.js";
import { validateHttp01 } from "./http-01.js";
import { internalProblem, resolverFor } from "./network.js";
import { validateTlsAlpn01 } from "./tls-alpn-01.js";
import type { AcmeIdentifier, ChallengeType, ChallengeValidator, ValidationResult, ValidationTargets } from "./types.js";

export interface ValidatorOptions {
  /** How many validations run at once; more wait in order. Default is 8. */
  concurrency?: number;
  /**
   * The deadline of one validation from the moment it starts (time spent waiting for a turn is
   * not counted), across its redirects and retries. Default is three times `targets.timeoutMs`,
   * the per-attempt timeout.
   */
  validationTimeoutMs?: number;
  /**
   * Told of a validation that failed through a fault of the server (the client only sees
   * serverInternal), for the log. Default is none.
   */
  onInternalError?: (error: unknown, type: ChallengeType, identifier: AcmeIdentifier) => void;
}

/** A ChallengeValidator that talks to the network as RFC 8555, 8737 and 8738 say. */
export class NetworkChallengeValidator implements ChallengeValidator {
  readonly concurrency: number;
  readonly validationTimeoutMs: number;
  readonly #onInternalError: ValidatorOptions["onInternalError"];
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(
    readonly targets: ValidationTargets,
    options: ValidatorOptions = {},
  ) {
    for (const [name, port] of [["httpPort", targets.httpPort], ["tlsPort", targets.tlsPort]] as const) {
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`${name} must be a port number from 1 to 65535, not ${port}`);
    }
    if (!(targets.timeoutMs > 0)) throw new RangeError(`timeoutMs must be a positive number of milliseconds, not ${targets.timeoutMs}`);
    // setServers refuses what it cannot parse; better at start-up than at the first validation.
    if (targets.dnsResolver !== undefined) {
      try {
        resolverFor(targets);
      } catch {
        throw new RangeError(`dnsResolver must be HOST:PORT (an IPv6 address in brackets), not ${JSON.stringify(targets.dnsResolver)}`);
      }
    }
    this.concurrency = options.concurrency ?? 8;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) throw new RangeError(`concurrency must be a whole number of at least 1, not ${this.concurrency}`);
    this.validationTimeoutMs = options.validationTimeoutMs ?? 3 * targets.timeoutMs;
    this.#onInternalError = options.onInternalError;
    if (!(this.validationTimeoutMs > 0)) throw new RangeError(`validationTimeoutMs must be positive, not ${this.validationTimeoutMs}`);
  }

  /** Validations running now. */
  get running(): number {
    return this.#running;
  }

  /** Validations waiting for a turn. */
  get waiting(): number {
    return this.#waiting.length;
  }

  async validate(type: ChallengeType, identifier: AcmeIdentifier, token: string, keyAuthorization: string): Promise<ValidationResult> {
    // A finishing validation hands its slot straight to the next in line, so a call arriving in
    // between cannot take it as well.
    if (this.#running < this.concurrency) this.#running++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await this.#validateNow(type, identifier, token, keyAuthorization);
    } catch (error) {
      this.#report(error, type, identifier);
      return { ok: false, problem: internalProblem };
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }

  async #validateNow(type: ChallengeType, identifier: AcmeIdentifier, token: string, keyAuthorization: string): Promise<ValidationResult> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<ValidationResult>((resolve) => {
      timer = setTimeout(() => {
        controller.abort();
        // identifier?.: a malformed call must not throw here, in a timer, where nothing would catch it.
        resolve({ ok: false, problem: { type: "connection", detail: `the ${type} validation of ${identifier?.value} did not finish within ${this.validationTimeoutMs} ms` } });
      }, this.validationTimeoutMs);
    });
    try {
      return await Promise.race([deadline, this.#dispatch(type, identifier, token, keyAuthorization, controller.signal)]);
    } finally {
      clearTimeout(timer);
      // A validation that lost the race stops its sockets and queries.
      controller.abort();
    }
  }

  #report(error: unknown, type: ChallengeType, identifier: AcmeIdentifier): void {
    try {
      this.#onInternalError?.(error, type, identifier);
    } catch {}
  }

  #dispatch(type: ChallengeType, identifier: AcmeIdentifier, token: string, keyAuthorization: string, signal: AbortSignal): Promise<ValidationResult> {
    const report = (error: unknown) => this.#report(error, type, identifier);
    switch (type) {
      case "http-01":
        return validateHttp01(identifier, token, keyAuthorization, this.targets, signal, report);
      case "dns-01":
        return validateDns01(identifier, keyAuthorization, this.targets, signal, report);
      case "tls-alpn-01":
        return validateTlsAlpn01(identifier, keyAuthorization, this.targets, signal, report);
      default:
        return Promise.resolve({ ok: false, problem: { type: "serverInternal", detail: `unknown challenge type ${JSON.stringify(type)}` } });
    }
  }
}
