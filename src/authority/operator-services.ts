import type Database from "better-sqlite3";
import type { CertificateAuthority } from "../pki/certificate.js";
import type { OcspSigner } from "../pki/ocsp.js";
import { GuardedInventory, type WriteHealth } from "./guarded-inventory.js";
import { InventoryStats } from "../store/inventory-stats.js";
import { InventoryService } from "./inventory.js";
import { InventoryOverview } from "./inventory-overview.js";
import { ReadinessService, type ReadinessOptions } from "./readiness.js";
import { defaultCrlLifetimeMs, RevocationService } from "./revocation.js";

/** What operators ask of the service beside issuance: the inventory and its overview, revocation, readiness. */
export interface OperatorServices {
  inventory: InventoryService;
  overview: InventoryOverview;
  revocation: RevocationService;
  readiness: ReadinessService;
}

/** What the service watches beside the database connection: real writes' outcomes and its threads. */
export interface ServiceWatch {
  writes?: WriteHealth & { problem(): string | undefined };
  threads?: ReadinessOptions["threads"];
}

/** The operator services over one database connection (the main thread's, beside the writer thread's). */
export function operatorServices(
  ca: CertificateAuthority,
  db: Database.Database,
  clock: () => Date,
  ocspSigner?: OcspSigner,
  watch: ServiceWatch = {},
): OperatorServices {
  const inventory = new GuardedInventory(db, watch.writes);
  return {
    inventory: new InventoryService(inventory, clock),
    overview: new InventoryOverview(ca, new InventoryStats(db), clock),
    revocation: new RevocationService(ca, inventory, clock, defaultCrlLifetimeMs, ocspSigner),
    readiness: new ReadinessService({ ca, database: inventory, clock, writes: watch.writes, threads: watch.threads }),
  };
}
