import Database from "better-sqlite3";
import type { DatabaseSource, InventoryReads } from "./backend.js";
import { busyTimeoutMs, pageCacheKib } from "./database.js";
import { Inventory } from "./inventory.js";
import { openPool } from "./postgres/pool.js";
import { PostgresInventory } from "./postgres/inventory.js";

export interface OpenedReads {
  inventory: InventoryReads;
  close(): Promise<void>;
}

/**
 * A read-only connection of a reader thread's own to the records at `source` (already migrated by
 * the main thread): a bug that tried to write would fail here instead of taking a write lock.
 */
export function openReads(source: DatabaseSource, name: string): OpenedReads {
  if (source.kind === "postgres") {
    const pool = openPool(source.url, { max: 1, name, readOnly: true });
    return { inventory: new PostgresInventory(pool, source.url), close: () => pool.end() };
  }
  const db = new Database(source.path, { fileMustExist: true });
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  db.pragma("query_only = ON");
  db.pragma(`cache_size = -${pageCacheKib}`);
  return {
    inventory: new Inventory(db),
    close: async () => {
      db.close();
    },
  };
}
