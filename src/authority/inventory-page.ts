// Listing one page of the inventory, on whichever thread holds the connection: the reader thread
// loads this without the service around it, and the service reaches the thread through it.
import { CertwrightError } from "../errors.js";
import { toSummary } from "../model/certificate-summary.js";
import type { CertificateSummary } from "../schemas/wire.js";
import type { InventoryReads } from "../store/backend.js";
import type { InventoryCursor, InventoryFilter, InventoryOrder } from "../store/inventory.js";

const orderMarks: Record<InventoryOrder, string> = { newest: "n", expiring: "x", expired: "e" };

/**
 * The cursor is where a page ended along the order it walked: that order, the last row's key
 * (issued_at or expiry, ms) and its row id. Opaque to clients so it can change shape later.
 */
function encodeCursor(cursor: InventoryCursor): string {
  return Buffer.from(`${orderMarks[cursor.order]}${cursor.keyMs}.${cursor.id}`).toString("base64url");
}

export function decodeCursor(cursor: string, order: InventoryOrder): InventoryCursor {
  const match = /^([nxe])(-?\d{1,15})\.(\d{1,15})$/.exec(Buffer.from(cursor, "base64url").toString("latin1"));
  if (!match) throw new CertwrightError("invalidRequest", "cursor: not a cursor this service gave out; start again without it");
  if (match[1] !== orderMarks[order]) {
    throw new CertwrightError("invalidRequest", "cursor: it comes from a listing with other filters; pass the same filters as the page it came from, or start again without it");
  }
  return { order, keyMs: Number(match[2]), id: Number(match[3]) };
}

/** One page to list: the parsed filter, the time it is listed at, the page size and where to go on from. */
export interface PageRequest {
  filter: InventoryFilter;
  nowMs: number;
  limit: number;
  cursor?: InventoryCursor | undefined;
}

export interface ListedPage {
  result: { certificates: CertificateSummary[]; next_cursor: string | null };
  messages: string[];
}

/** Lists a page and summarizes it as the API answers it (on whichever thread holds `inventory`). */
export async function listPage(inventory: InventoryReads, request: PageRequest): Promise<ListedPage> {
  const now = new Date(request.nowMs);
  const page = await inventory.list(request.filter, now, request.limit, request.cursor);
  return {
    result: {
      certificates: page.records.map((record) => toSummary(record, now)),
      next_cursor: page.nextCursor === null ? null : encodeCursor(page.nextCursor),
    },
    messages: page.scanLimited
      ? [`read ${page.scanned} certificates for this page and found ${page.records.length} matching; pass next_cursor as cursor to read on`]
      : [],
  };
}

/**
 * A listed page with its result already JSON: the reader thread serializes it, so the HTTP thread
 * neither rebuilds up to 1,000 summaries from a structured clone nor stringifies them (a few ms a page).
 */
export interface ListedPageJson {
  resultJson: string;
  messages: string[];
}

export async function listPageJson(inventory: InventoryReads, request: PageRequest): Promise<ListedPageJson> {
  const { result, messages } = await listPage(inventory, request);
  return { resultJson: JSON.stringify(result), messages };
}
