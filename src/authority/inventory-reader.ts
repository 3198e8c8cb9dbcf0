import { CertwrightError } from "../errors.js";
import type { DatabaseSource } from "../store/backend.js";
import { threadEntry } from "../threads/entry.js";
import { SupervisedThread } from "../threads/supervised-thread.js";
import type { ListedPageJson, PageRequest } from "./inventory-page.js";
import type { InventoryApi, InventoryThreadData } from "./inventory-thread.js";

const entry = threadEntry(import.meta.url, "inventory-thread");

/**
 * Lists inventory pages in a reader thread with its own connection to the database file (a lazy
 * SupervisedThread: started on the first page, stopped when idle).
 */
export class InventoryReader {
  private readonly thread: SupervisedThread<InventoryApi>;

  constructor(source: DatabaseSource) {
    this.thread = SupervisedThread.lazy<InventoryApi>({
      name: "the inventory reader thread",
      entry,
      workerData: () => ({ source }) satisfies InventoryThreadData,
      // A page holds at most 1,000 summaries (under 1 MB as JSON): a small heap is plenty, and keeps
      // the service's RSS down.
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 },
      // The thread's refusals (a database that cannot be read now) keep their kind, so their status.
      remoteError: (error) => (error.kind ? new CertwrightError(error.kind, error.message) : new Error(`the inventory reader thread: ${error.message}`)),
    });
  }

  page(request: PageRequest): Promise<ListedPageJson> {
    return this.thread.call("page", request);
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}
