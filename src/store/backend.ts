// The one interface the service keeps its records through, whichever database holds them: SQLite
// in the data directory (synchronous, on this machine) or PostgreSQL shared by replicas
// (asynchronous, over the network). Callers always await, so either answers.
import type { CertificateRecord } from "../model/issued-certificate.js";
import type { IssuedOnDay, StatusCounts } from "./inventory-stats.js";
import type { InventoryCursor, InventoryFilter, InventoryPage, RevokedEntry, RevokeOutcome } from "./inventory.js";

export type Awaitable<T> = T | Promise<T>;

/** Where a reader thread opens a connection of its own to the same records. */
export type DatabaseSource = { kind: "sqlite"; path: string } | { kind: "postgres"; url: string };

/** What reader threads (inventory pages, CRLs) and the HTTP thread read. */
export interface InventoryReads {
  list(filter: InventoryFilter, now: Date, limit: number, cursor?: InventoryCursor, scanLimit?: number): Awaitable<InventoryPage>;
  /** Every recorded certificate with this decimal serial, whatever CA issued it, newest first. */
  findBySerial(serialNumber: string): Awaitable<CertificateRecord[]>;
  /** What a CRL must list: the CA's revoked certificates that have not expired yet. */
  revokedUnexpired(authorityKeyId: string, now: Date): Awaitable<RevokedEntry[]>;
  /** How many good (unrevoked) certificates end after `now` and at most `withinMs` later. */
  countExpiring(now: Date, withinMs: number): Awaitable<number>;
}

/** The inventory with the operators' writes. */
export interface InventoryStore extends InventoryReads {
  /** Marks a certificate revoked; revoking again changes nothing and says so; undefined when unknown. */
  revoke(serialNumber: string, authorityKeyId: string, reason: number, at: Date): Awaitable<RevokeOutcome>;
  /** The CA's next CRL number, committed before the CRL is made: no number is issued twice, across replicas too. */
  nextCrlNumber(authorityKeyId: string): Awaitable<bigint>;
  /** Removes the records of certificates that expired before `expiredBefore`; returns how many. */
  tidy(expiredBefore: Date): Awaitable<number>;
  /** Throws unless the database takes a write right now (readiness). */
  checkWritable(): Awaitable<void>;
  /** Where reader threads connect; undefined: this store is read where it is (an in-memory database). */
  readonly source: DatabaseSource | undefined;
  /**
   * Keeps a signed CRL in the database, where replicas that cannot take a CRL number (those on a
   * read-only standby) find it. Absent: CRLs are kept only by the process that signed them.
   */
  publishCrl?(crl: PublishedCrl): Awaitable<void>;
  /** The newest CRL published for the CA that is still within its nextUpdate. */
  latestCrl?(authorityKeyId: string, now: Date): Awaitable<PublishedCrl | undefined>;
}

/** A signed CRL as replicas share it. */
export interface PublishedCrl {
  authorityKeyId: string;
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  der: Uint8Array;
}

/** The console overview's totals. */
export interface InventoryCounts {
  counts(now: Date): Awaitable<StatusCounts>;
  /** Days on which something was issued, from `since` on, oldest first; days with none are left out. */
  issuedPerDay(since: Date): Awaitable<IssuedOnDay[]>;
}

/** Replay nonces and rate-limit windows: state that outlives a restart and is shared by replicas. */
export interface GuardStorage {
  /** Records a nonce; false when it was recorded already (and has not expired): a replay. */
  rememberNonce(keyName: string, nonce: string, expiresAt: number, now: number): Awaitable<boolean>;
  /** Counts one request of `client` in the fixed window starting at `windowStart`; returns the count so far. */
  countRequest(client: string, windowStart: number): Awaitable<number>;
}

/**
 * Revocations made elsewhere (another replica on the same database): each call of the listener
 * means the revoked set may have changed, so whatever was built from it (a cached CRL) is stale.
 */
export interface RevocationFeed {
  onRevocation(listener: () => void): void;
}
