import { CertwrightError } from "../errors.js";
import { parseSerial, serialToDecimal } from "../pki/revocation.js";
import { parseDuration } from "../profiles/duration.js";
import { InventoryReader } from "./inventory-reader.js";
import { decodeCursor, listPageJson, type ListedPageJson, type PageRequest } from "./inventory-page.js";
import { toSummary } from "../model/certificate-summary.js";
import type { CertificateRecord } from "../model/issued-certificate.js";
import type { CertificateSummary, InventoryQuery } from "../schemas/wire.js";
import type { Awaitable, InventoryReads, InventoryStore } from "../store/backend.js";
import { inventoryOrder, type InventoryFilter } from "../store/inventory.js";

/** The page size when a request names none; the most it may ask for is in the wire schema. */
const defaultPageSize = 100;

function durationField(name: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) throw new CertwrightError("invalidRequest", `${name}: "${text}" is not a duration; write it as 720h, 30d or 1y`);
  return ms;
}

function timeField(name: string, text: string): Date {
  const date = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(date.getTime())) {
    throw new CertwrightError("invalidRequest", `${name}: "${text}" is not a time; write it as RFC 3339, e.g. 2026-11-24T00:00:00Z, or a date, 2026-11-24`);
  }
  return date;
}

/**
 * Finds one recorded certificate by a serial as people paste it: decimal as cfssl prints it, or hex
 * as openssl does. A serial of digits only is read as decimal first, then as hex.
 */
export async function findRecord(inventory: InventoryReads, serialText: string, authorityKeyId?: string | null): Promise<CertificateRecord> {
  const aki = authorityKeyId?.replace(/:/g, "").toLowerCase();
  const trimmed = serialText.trim();
  const candidates = [parseSerial(trimmed)];
  if (/^\d+$/.test(trimmed)) {
    try {
      candidates.push(parseSerial(`0x${trimmed}`));
    } catch {
      // too long as hex: decimal it is
    }
  }
  for (const serial of candidates) {
    const records = (await inventory.findBySerial(serialToDecimal(serial))).filter((r) => aki === undefined || r.authorityKeyId === aki);
    if (records.length > 1) {
      throw new CertwrightError("invalidRequest", `serial ${trimmed} is recorded under ${records.length} CAs; add authority_key_id to say which`);
    }
    if (records.length === 1) return records[0]!;
  }
  throw new CertwrightError(
    "certificateNotFound",
    `no certificate with serial ${trimmed}${aki ? ` and authority key id ${aki}` : ""} is recorded`,
  );
}

/** The operator's view of what was issued: list with filters, one by serial, and tidy. */
export class InventoryService {
  private readonly reader: InventoryReader | undefined;

  /**
   * @param offThread list pages in a reader thread with its own connection to the same file, so
   *   the HTTP thread only parses the query and serializes the answer; default true (an in-memory
   *   database is always listed here).
   */
  constructor(
    private readonly inventory: InventoryStore,
    private readonly clock: () => Date,
    offThread = true,
  ) {
    this.reader = offThread && inventory.source !== undefined ? new InventoryReader(inventory.source) : undefined;
  }

  /** Stops the reader thread, if one was started. */
  async close(): Promise<void> {
    await this.reader?.close();
  }

  /**
   * One page of the inventory. Newest first; with `expiring_within`, soonest to expire first; with
   * `status=expired` alone, most recently expired first. A page reads a bounded number of rows, so
   * with a filter that matches few of them it can come back short, even empty, with a cursor to go
   * on and a message saying so. The query is checked here; the page is read in the reader thread.
   */
  async list(query: InventoryQuery): Promise<ListedPageJson> {
    const filter: InventoryFilter = {
      status: query.status,
      profile: query.profile,
      label: query.label,
      text: query.q,
      expiringWithinMs: query.expiring_within === undefined ? undefined : durationField("expiring_within", query.expiring_within),
      issuedAfter: query.issued_after === undefined ? undefined : timeField("issued_after", query.issued_after),
      issuedBefore: query.issued_before === undefined ? undefined : timeField("issued_before", query.issued_before),
    };
    const request: PageRequest = {
      filter,
      nowMs: this.clock().getTime(),
      limit: query.limit ?? defaultPageSize,
      cursor: query.cursor === undefined ? undefined : decodeCursor(query.cursor, inventoryOrder(filter)),
    };
    return this.reader ? this.reader.page(request) : listPageJson(this.inventory, request);
  }

  async get(serialText: string, authorityKeyId?: string): Promise<CertificateSummary> {
    return toSummary(await findRecord(this.inventory, serialText, authorityKeyId), this.clock(), true);
  }

  /** How many good certificates expire within `withinMs` from now (for the metrics gauges). */
  countExpiring(withinMs: number): Awaitable<number> {
    return this.inventory.countExpiring(this.clock(), withinMs);
  }

  /** Forgets certificates that expired more than `olderThan` ago; unexpired ones are never touched. */
  async tidy(olderThan: string): Promise<{ removed: number; expired_before: string }> {
    const ms = durationField("older_than", olderThan);
    const cutoff = new Date(this.clock().getTime() - ms);
    return { removed: await this.inventory.tidy(cutoff), expired_before: cutoff.toISOString() };
  }
}
