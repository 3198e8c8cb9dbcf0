import type Database from "better-sqlite3";
import type { CertificateAuthority } from "../pki/certificate.js";
import type { OcspSigner } from "../pki/ocsp.js";
import { Inventory } from "../store/inventory.js";
import { InventoryService } from "./inventory.js";
import { ReadinessService } from "./readiness.js";
import { defaultCrlLifetimeMs, RevocationService } from "./revocation.js";

/** What operators ask of the service beside issuance: the inventory, revocation, readiness. */
export interface OperatorServices {
  inventory: InventoryService;
  revocation: RevocationService;
  readiness: ReadinessService;
}

/** The operator services over one database connection (the main thread's, beside the writer thread's). */
export function operatorServices(ca: CertificateAuthority, db: Database.Database, clock: () => Date, ocspSigner?: OcspSigner): OperatorServices {
  const inventory = new Inventory(db);
  return {
    inventory: new InventoryService(inventory, clock),
    revocation: new RevocationService(ca, inventory, clock, defaultCrlLifetimeMs, ocspSigner),
    readiness: new ReadinessService({ ca, database: inventory, clock }),
  };
}
