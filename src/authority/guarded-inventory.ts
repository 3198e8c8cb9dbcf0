import { CertwrightError } from "../errors.js";
import type { Awaitable, DatabaseSource, InventoryStore, PublishedCrl } from "../store/backend.js";
import { isUnwritableCode } from "../store/database-health.js";
import type { InventoryCursor, InventoryFilter, RevokeOutcome } from "../store/inventory.js";

/** The part of the database's health the operator writes report to. */
export interface WriteHealth {
  readonly lost: string | undefined;
  checkFiles(): string | undefined;
  succeeded(): void;
  failed(message: string): void;
}

/**
 * Why an error means the database takes no writes now (rather than that this write was wrong), in
 * words for the client; undefined for any other error. This one reads SQLite's codes.
 */
export type UnavailableReason = (error: unknown) => string | undefined;

export const sqliteUnavailable: UnavailableReason = (error) => {
  const code = (error as { code?: unknown } | undefined)?.code;
  return error instanceof Error && isUnwritableCode(code) ? `the database takes no writes (${code as string})` : undefined;
};

/**
 * The inventory, with the operators' writes (revoke, the CRL number, tidy) held to what issuance
 * is held to: a database that takes no writes (a full disk, a lock held too long, a PostgreSQL
 * server that is down or a standby) answers 503 with the envelope rather than 500, and a write that
 * went into a database file deleted or replaced under the service is not answered with success.
 */
export class GuardedInventory implements InventoryStore {
  constructor(
    private readonly inner: InventoryStore,
    private readonly health?: WriteHealth,
    private readonly unavailable: UnavailableReason = sqliteUnavailable,
  ) {}

  get source(): DatabaseSource | undefined {
    return this.inner.source;
  }

  private async write<T>(what: string, run: () => Awaitable<T>): Promise<T> {
    const lost = this.health?.lost;
    if (lost) throw new CertwrightError("notReady", `${what} was not recorded: ${lost}; the service must be restarted`);
    let result: T;
    try {
      result = await run();
    } catch (error) {
      const reason = this.unavailable(error);
      if (reason === undefined) throw error;
      const code = (error as { code?: unknown }).code;
      this.health?.failed(typeof code === "string" ? `${code}: ${(error as Error).message}` : String((error as Error).message ?? error));
      throw new CertwrightError("notReady", `${what} was not recorded: ${reason}; try again once /api/v1/ready answers 200`, { cause: error });
    }
    const lostNow = this.health?.checkFiles();
    if (lostNow) throw new CertwrightError("notReady", `${what} was not recorded: ${lostNow}; the service must be restarted`);
    this.health?.succeeded();
    return result;
  }

  /** A read that fails because the database is unreachable answers 503 too, never 500. */
  private async read<T>(run: () => Awaitable<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      const reason = this.unavailable(error);
      if (reason === undefined) throw error;
      throw new CertwrightError("notReady", `the records cannot be read: ${reason}; try again once /api/v1/ready answers 200`, { cause: error });
    }
  }

  list(filter: InventoryFilter, now: Date, limit: number, cursor?: InventoryCursor, scanLimit?: number) {
    return this.read(() => this.inner.list(filter, now, limit, cursor, scanLimit));
  }

  findBySerial(serialNumber: string) {
    return this.read(() => this.inner.findBySerial(serialNumber));
  }

  revokedUnexpired(authorityKeyId: string, now: Date) {
    return this.read(() => this.inner.revokedUnexpired(authorityKeyId, now));
  }

  countExpiring(now: Date, withinMs: number) {
    return this.inner.countExpiring(now, withinMs);
  }

  checkWritable() {
    return this.inner.checkWritable();
  }

  get publishCrl(): InventoryStore["publishCrl"] {
    const inner = this.inner;
    return inner.publishCrl && ((crl: PublishedCrl) => this.write("the CRL", () => inner.publishCrl!(crl)));
  }

  get latestCrl(): InventoryStore["latestCrl"] {
    const inner = this.inner;
    return inner.latestCrl && ((authorityKeyId, now) => this.read(() => inner.latestCrl!(authorityKeyId, now)));
  }

  revoke(serialNumber: string, authorityKeyId: string, reason: number, at: Date): Promise<RevokeOutcome> {
    return this.write("the revocation", () => this.inner.revoke(serialNumber, authorityKeyId, reason, at));
  }

  nextCrlNumber(authorityKeyId: string): Promise<bigint> {
    return this.write("the CRL number", () => this.inner.nextCrlNumber(authorityKeyId));
  }

  tidy(expiredBefore: Date): Promise<number> {
    return this.write("tidying", () => this.inner.tidy(expiredBefore));
  }
}
