import { CertwrightError } from "../errors.js";
import { parseSerial, reasonName, serialToDecimal, serialToHex } from "../pki/revocation.js";
import { parseDuration } from "../profiles/duration.js";
import type { CertificateSummary, InventoryQuery } from "../schemas/wire.js";
import type { CertificateRecord } from "../store/certificate-store.js";
import type { Inventory } from "../store/inventory.js";

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

/** The cursor is the last row id of a page, opaque to clients so it can change shape later. */
function encodeCursor(id: number): string {
  return Buffer.from(`r${id}`).toString("base64url");
}

function decodeCursor(cursor: string): number {
  const match = /^r(\d{1,15})$/.exec(Buffer.from(cursor, "base64url").toString("latin1"));
  if (!match) throw new CertwrightError("invalidRequest", "cursor: not a cursor this service gave out; start again without it");
  return Number(match[1]);
}

export function statusOf(record: CertificateRecord, now: Date): "good" | "revoked" | "expired" {
  if (record.status === "revoked") return "revoked";
  return record.expiry.getTime() <= now.getTime() ? "expired" : "good";
}

/** A record as the inventory answers it; the PEM only when one certificate is asked for. */
export function summarize(record: CertificateRecord, now: Date, withPem = false): CertificateSummary {
  const serial = BigInt(record.serialNumber);
  return {
    serial_number: record.serialNumber,
    serial_hex: serialToHex(serial),
    authority_key_id: record.authorityKeyId,
    ca_label: record.caLabel,
    profile: record.profile,
    status: statusOf(record, now),
    ...(record.status === "revoked" ? { reason: reasonName(record.reason), revoked_at: record.revokedAt?.toISOString() ?? null } : {}),
    common_name: record.commonName,
    sans: record.sans,
    not_before: record.notBefore.toISOString(),
    not_after: record.expiry.toISOString(),
    issued_at: record.issuedAt.toISOString(),
    requested_by: record.requestedBy,
    ...(withPem ? { pem: record.pem } : {}),
  };
}

/**
 * Finds one recorded certificate by a serial as people paste it: decimal as cfssl prints it, or hex
 * as openssl does. A serial of digits only is read as decimal first, then as hex.
 */
export function findRecord(inventory: Inventory, serialText: string, authorityKeyId?: string | null): CertificateRecord {
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
    const records = inventory.findBySerial(serialToDecimal(serial)).filter((r) => aki === undefined || r.authorityKeyId === aki);
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
  constructor(
    private readonly inventory: Inventory,
    private readonly clock: () => Date,
  ) {}

  list(query: InventoryQuery): { certificates: CertificateSummary[]; next_cursor: string | null } {
    const now = this.clock();
    const page = this.inventory.list(
      {
        status: query.status,
        profile: query.profile,
        label: query.label,
        text: query.q,
        expiringWithinMs: query.expiring_within === undefined ? undefined : durationField("expiring_within", query.expiring_within),
        issuedAfter: query.issued_after === undefined ? undefined : timeField("issued_after", query.issued_after),
        issuedBefore: query.issued_before === undefined ? undefined : timeField("issued_before", query.issued_before),
      },
      now,
      query.limit ?? defaultPageSize,
      query.cursor === undefined ? undefined : decodeCursor(query.cursor),
    );
    return {
      certificates: page.records.map((record) => summarize(record, now)),
      next_cursor: page.nextCursor === null ? null : encodeCursor(page.nextCursor),
    };
  }

  get(serialText: string, authorityKeyId?: string): CertificateSummary {
    return summarize(findRecord(this.inventory, serialText, authorityKeyId), this.clock(), true);
  }

  /** How many good certificates expire within `withinMs` from now (for the metrics gauges). */
  countExpiring(withinMs: number): number {
    return this.inventory.countExpiring(this.clock(), withinMs);
  }

  /** Forgets certificates that expired more than `olderThan` ago; unexpired ones are never touched. */
  tidy(olderThan: string): { removed: number; expired_before: string } {
    const ms = durationField("older_than", olderThan);
    const cutoff = new Date(this.clock().getTime() - ms);
    return { removed: this.inventory.tidy(cutoff), expired_before: cutoff.toISOString() };
  }
}
