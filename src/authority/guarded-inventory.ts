import type Database from "better-sqlite3";
import { CertwrightError } from "../errors.js";
import { isUnwritableCode } from "../store/database-health.js";
import { Inventory, type RevokeOutcome } from "../store/inventory.js";

/** The part of DatabaseHealth the operator writes report to. */
export interface WriteHealth {
  readonly lost: string | undefined;
  checkFiles(): string | undefined;
  succeeded(): void;
  failed(message: string): void;
}

function isDatabaseError(error: unknown): error is Error & { code: string } {
  return error instanceof Error && isUnwritableCode((error as { code?: unknown }).code);
}

/**
 * The inventory, with the operators' writes (revoke, the CRL number, tidy) held to what issuance
 * is held to: a database that takes no writes (a full disk, a lock held too long) answers 503 with
 * the envelope rather than 500, and a write that went into a database file deleted or replaced
 * under the service is not answered with success.
 */
export class GuardedInventory extends Inventory {
  constructor(
    db: Database.Database,
    private readonly health?: WriteHealth,
  ) {
    super(db);
  }

  private write<T>(what: string, run: () => T): T {
    const lost = this.health?.lost;
    if (lost) throw new CertwrightError("notReady", `${what} was not recorded: ${lost}; the service must be restarted`);
    let result: T;
    try {
      result = run();
    } catch (error) {
      if (!isDatabaseError(error)) throw error;
      this.health?.failed(`${error.code}: ${error.message}`);
      throw new CertwrightError("notReady", `${what} was not recorded: the database takes no writes (${error.code}); try again once /api/v1/ready answers 200`, {
        cause: error,
      });
    }
    const lostNow = this.health?.checkFiles();
    if (lostNow) throw new CertwrightError("notReady", `${what} was not recorded: ${lostNow}; the service must be restarted`);
    this.health?.succeeded();
    return result;
  }

  override revoke(serialNumber: string, authorityKeyId: string, reason: number, at: Date): RevokeOutcome {
    return this.write("the revocation", () => super.revoke(serialNumber, authorityKeyId, reason, at));
  }

  override nextCrlNumber(authorityKeyId: string): bigint {
    return this.write("the CRL number", () => super.nextCrlNumber(authorityKeyId));
  }

  override tidy(expiredBefore: Date): number {
    return this.write("tidying", () => super.tidy(expiredBefore));
  }
}
