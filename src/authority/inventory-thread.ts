// The inventory reader thread: listing pages (index walks, row fetches, summaries) runs here on a
// connection of its own, so a broad query never holds up the thread that serves HTTP.
import { workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { Inventory } from "../store/inventory.js";
import { lowerThreadPriority } from "../threads/priority.js";
import { serveApi } from "../threads/rpc.js";
import { busyTimeoutMs } from "../store/database.js";
import { listPageJson, type PageRequest } from "./inventory-page.js";

export interface InventoryThreadData {
  /** The certificate database, already migrated by the main thread. */
  path: string;
}

const { path } = workerData as InventoryThreadData;
// Below the HTTP thread (0) and the signers (5), as the key generation threads are: a broad listing
// takes the CPU that serving and signing leave, so /health and sign answer first on a busy machine.
lowerThreadPriority(10);
const db = new Database(path, { fileMustExist: true });
db.pragma(`busy_timeout = ${busyTimeoutMs}`);
// It only ever reads: a bug that tried to write would fail here instead of taking the write lock.
db.pragma("query_only = ON");
const inventory = new Inventory(db);

const inventoryApi = {
  page: (request: PageRequest) => listPageJson(inventory, request),
};

/** What the inventory reader thread does, called through InventoryReader. */
export type InventoryApi = typeof inventoryApi;

serveApi(inventoryApi);
