import type Database from "better-sqlite3";
import type { CertificateAuthority } from "../pki/certificate.js";
import type { OcspSigner } from "../pki/ocsp.js";
import type { InventoryCounts, InventoryStore, RevocationFeed } from "../store/backend.js";
import { Inventory } from "../store/inventory.js";
import { InventoryStats } from "../store/inventory-stats.js";
import { GuardedInventory, type WriteHealth } from "./guarded-inventory.js";
import { InventoryService } from "./inventory.js";
import { InventoryOverview } from "./inventory-overview.js";
import { ReadinessService, type ReadinessOptions } from "./readiness.js";
import { defaultCrlLifetimeMs, RevocationService } from "./revocation.js";
import { Revocations } from "./revocations.js";

/** What operators ask of the service beside issuance: the inventory and its overview, revocation, readiness. */
export interface OperatorServices {
  inventory: InventoryService;
  overview: InventoryOverview;
  revocation: RevocationService;
  /** With CAs served beside the default (--ca-config): revocation for each, by label. */
  revocations?: Revocations;
  readiness: ReadinessService;
}

/** The records the operator services work on, whichever database holds them. */
export interface OperatorRecords {
  /** Its writes already held to the database's health (GuardedInventory). */
  inventory: InventoryStore;
  stats: InventoryCounts;
  /** Revocations by other replicas sharing the database; absent: this process is the only one. */
  revocationsElsewhere?: RevocationFeed | undefined;
}

/** What the service watches beside the database connection: real writes' outcomes and its threads. */
export interface ServiceWatch {
  writes?: { problem(): string | undefined };
  threads?: ReadinessOptions["threads"];
}

/** The records of an SQLite connection (the main thread's, beside the writer thread's). */
export function sqliteRecords(db: Database.Database, health?: WriteHealth): OperatorRecords {
  return { inventory: new GuardedInventory(new Inventory(db), health), stats: new InventoryStats(db) };
}

/** The operator services over the records. */
export function operatorServices(
  ca: CertificateAuthority,
  records: OperatorRecords,
  clock: () => Date,
  ocspSigner?: OcspSigner,
  watch: ServiceWatch = {},
  labelled: { others: readonly CertificateAuthority[]; defaultCrl?: string | undefined } = { others: [] },
): OperatorServices {
  const { others } = labelled;
  const { inventory } = records;
  const revocation = new RevocationService(ca, inventory, clock, defaultCrlLifetimeMs, ocspSigner, records.revocationsElsewhere);
  // The other CAs sign their own OCSP answers: a delegated responder (--responder) is the default CA's.
  const revocationOf = (other: CertificateAuthority) => new RevocationService(other, inventory, clock, defaultCrlLifetimeMs, undefined, records.revocationsElsewhere);
  return {
    inventory: new InventoryService(inventory, clock),
    overview: new InventoryOverview(ca, records.stats, clock),
    revocation,
    ...(others.length > 0 ? { revocations: new Revocations(revocation, others.map(revocationOf), labelled.defaultCrl) } : {}),
    readiness: new ReadinessService({ ca, ...(others.length > 0 ? { others } : {}), database: inventory, clock, writes: watch.writes, threads: watch.threads }),
  };
}
