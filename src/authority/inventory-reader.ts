import { threadEntry } from "../thread-entry.js";
import type { ListedPageJson, PageRequest } from "./inventory-page.js";
import type { InventoryThreadData, InventoryThreadReply } from "./inventory-thread.js";
import { LazyThread } from "./lazy-thread.js";

const entry = threadEntry(import.meta.url, "inventory-thread");

/**
 * Lists inventory pages in a reader thread with its own connection to the database file (see
 * LazyThread: started on the first page, stopped when idle).
 */
export class InventoryReader {
  private readonly thread: LazyThread<PageRequest, InventoryThreadReply>;

  constructor(path: string) {
    this.thread = new LazyThread({
      name: "the inventory reader thread",
      entry,
      workerData: { path } satisfies InventoryThreadData,
      // A page holds at most 1,000 summaries (under 1 MB as JSON): a small heap is plenty, and keeps
      // the service's RSS down.
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 },
    });
  }

  async page(request: PageRequest): Promise<ListedPageJson> {
    return (await this.thread.call(request)).page;
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}
