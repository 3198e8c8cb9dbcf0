// The inventory reader thread: listing pages (index walks, row fetches, summaries) runs here on a
// connection of its own, so a broad query never holds up the thread that serves HTTP.
import { workerData } from "node:worker_threads";
import type { DatabaseSource } from "../store/backend.js";
import { openReads } from "../store/open-reads.js";
import { lowerThreadPriority } from "../threads/priority.js";
import { serveApi } from "../threads/rpc.js";
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

const inventoryApi = {
  page: (request: PageRequest) => listPageJson(inventory, request),
};

/** What the inventory reader thread does, called through InventoryReader. */
export type InventoryApi = typeof inventoryApi;

serveApi(inventoryApi);
