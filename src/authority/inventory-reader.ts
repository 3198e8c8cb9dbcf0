import { Worker } from "node:worker_threads";
import { threadEntry } from "../thread-entry.js";
import type { ListedPageJson, PageRequest } from "./inventory.js";
import type { InventoryThreadData, InventoryThreadReply, InventoryThreadRequest } from "./inventory-thread.js";

const entry = threadEntry(import.meta.url, "inventory-thread").url;

type Page = ListedPageJson;

/**
 * Lists inventory pages in a reader thread with its own connection to the database file. The
 * thread starts on the first page asked for (a service nobody lists pays nothing for it) and again
 * after it died; a page in flight when it dies fails. It never keeps the process alive.
 */
export class InventoryReader {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve: (page: Page) => void; reject: (error: Error) => void }>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly path: string) {}

  page(request: PageRequest): Promise<Page> {
    if (this.closed) return Promise.reject(new Error("the inventory reader is closed"));
    const worker = (this.worker ??= this.spawn());
    const id = this.nextId++;
    return new Promise<Page>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, ...request } satisfies InventoryThreadRequest);
    });
  }

  private spawn(): Worker {
    const worker = new Worker(entry, {
      workerData: { path: this.path } satisfies InventoryThreadData,
      // A page holds at most 1,000 summaries: a small heap is plenty, and keeps the service's RSS down.
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 48 },
    });
    worker.unref();
    worker.on("message", (reply: InventoryThreadReply) => {
      const call = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (!call) return;
      if ("error" in reply) call.reject(new Error(`listing the inventory failed: ${reply.error}`));
      else call.resolve(reply.page);
    });
    const failed = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const call of this.pending.values()) call.reject(new Error(`the inventory reader thread ${why}`));
      this.pending.clear();
    };
    worker.on("error", (error) => failed(`failed: ${error.message}`));
    worker.on("exit", (code) => failed(`exited (${code})`));
    return worker;
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    for (const call of this.pending.values()) call.reject(new Error("the inventory reader is closed"));
    this.pending.clear();
    await worker?.terminate();
  }
}
