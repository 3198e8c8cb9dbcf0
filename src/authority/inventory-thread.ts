// The inventory reader thread: listing pages (index walks, row fetches, summaries) runs here on a
// connection of its own, so a broad query never holds up the thread that serves HTTP.
import { workerData } from "node:worker_threads";
import type { DatabaseSource } from "../store/backend.js";
import { openReads } from "../store/open-reads.js";
import { CertwrightError } from "../errors.js";
import { postgresUnavailable } from "../store/postgres/unavailable.js";
import { lowerThreadPriority } from "../threads/priority.js";
import { serveApi } from "../threads/rpc.js";
import { sqliteUnavailable } from "./guarded-inventory.js";
import { listPageJson, type PageRequest } from "./inventory-page.js";

export interface InventoryThreadData {
  /** The certificate database, already migrated by the main thread. */
  source: DatabaseSource;
}

const { source } = workerData as InventoryThreadData;
// Below the HTTP thread (0) and the signers (5), as the key generation threads are: a broad listing
// takes the CPU that serving and signing leave, so /health and sign answer first on a busy machine.
lowerThreadPriority(10);
const { inventory } = openReads(source, "inventory reader");

const unavailable = source.kind === "postgres" ? postgresUnavailable : sqliteUnavailable;

const inventoryApi = {
  // A database that cannot be read now (PostgreSQL down) is a 503 with its reason, as the same read
  // on the HTTP thread answers, not an internal error.
  page: async (request: PageRequest) => {
    try {
      return await listPageJson(inventory, request);
    } catch (error) {
      const reason = unavailable(error);
      if (reason === undefined) throw error;
      throw new CertwrightError("notReady", `the records cannot be read: ${reason}; try again once /api/v1/ready answers 200`);
    }
  },
};

/** What the inventory reader thread does, called through InventoryReader. */
export type InventoryApi = typeof inventoryApi;

serveApi(inventoryApi);
