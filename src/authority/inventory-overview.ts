import { X509Certificate } from "node:crypto";
import type { CertificateAuthority } from "../pki/certificate.js";
import type { ConsoleOverview } from "../schemas/console.js";
import type { InventoryStats } from "../store/inventory-stats.js";

const dayMs = 86_400_000;

/** The most days of issuance the overview reports: its chart has one bar a day. */
export const maxOverviewDays = 366;

/**
 * What the console's overview shows at a glance: the CA and its end, how many certificates are in
 * each state, and how many were issued on each of the last days (days with none included, as 0).
 */
export class InventoryOverview {
  private readonly caSubject: string;

  constructor(
    private readonly ca: CertificateAuthority,
    private readonly stats: InventoryStats,
    private readonly clock: () => Date,
  ) {
    this.caSubject = new X509Certificate(ca.pem).subject.replace(/\n/g, ", ");
  }

  /** @param days how many days of issuance, today (UTC) included; default 30. */
  overview(days = 30): ConsoleOverview {
    const now = this.clock();
    const today = Math.floor(now.getTime() / dayMs) * dayMs;
    const first = today - (days - 1) * dayMs;
    const issued = new Map(this.stats.issuedPerDay(new Date(first)).map((d) => [d.day, d.count]));
    const issuedPerDay = Array.from({ length: days }, (_, i) => {
      const day = new Date(first + i * dayMs).toISOString().slice(0, 10);
      return { day, count: issued.get(day) ?? 0 };
    });
    return {
      ca: { label: this.ca.label, subject: this.caSubject, subject_key_id: this.ca.subjectKeyId, not_after: this.ca.notAfter.toISOString() },
      counts: this.stats.counts(now),
      issued_per_day: issuedPerDay,
      at: now.toISOString(),
    };
  }
}
