import { X509Certificate } from "node:crypto";
import type { CertificateAuthority } from "../pki/certificate.js";
import type { ConsoleOverview } from "../schemas/console.js";
import type { InventoryCounts } from "../store/backend.js";

const dayMs = 86_400_000;

/**
 * How long an overview is answered again rather than counted again. Counting walks indexes on the
 * HTTP thread (about 100 ms at a million certificates, see InventoryStats), so however many
 * consoles are open, it happens at most this often.
 */
export const overviewReuseMs = 10_000;

/**
 * What the console's overview shows at a glance: the CA and its end, how many certificates are in
 * each state, and how many were issued on each of the last days (days with none included, as 0).
 */
export class InventoryOverview {
  private readonly caSubject: string;
  /** The last overview counted, per number of days asked for. */
  private readonly recent = new Map<number, ConsoleOverview>();

  constructor(
    private readonly ca: CertificateAuthority,
    private readonly stats: InventoryCounts,
    private readonly clock: () => Date,
  ) {
    this.caSubject = new X509Certificate(ca.pem).subject.replace(/\n/g, ", ");
  }

  /**
   * @param days how many days of issuance, today (UTC) included; default 30. An overview counted
   *   less than `overviewReuseMs` ago is answered again; its `at` says when it was counted.
   */
  async overview(days = 30): Promise<ConsoleOverview> {
    const now = this.clock();
    const recent = this.recent.get(days);
    if (recent && now.getTime() - Date.parse(recent.at) < overviewReuseMs && now.getTime() >= Date.parse(recent.at)) return recent;
    const overview = await this.count(days, now);
    this.recent.set(days, overview);
    return overview;
  }

  private async count(days: number, now: Date): Promise<ConsoleOverview> {
    const today = Math.floor(now.getTime() / dayMs) * dayMs;
    const first = today - (days - 1) * dayMs;
    const issued = new Map((await this.stats.issuedPerDay(new Date(first))).map((d) => [d.day, d.count]));
    const issuedPerDay = Array.from({ length: days }, (_, i) => {
      const day = new Date(first + i * dayMs).toISOString().slice(0, 10);
      return { day, count: issued.get(day) ?? 0 };
    });
    return {
      ca: { label: this.ca.label, subject: this.caSubject, subject_key_id: this.ca.subjectKeyId, not_after: this.ca.notAfter.toISOString() },
      counts: await this.stats.counts(now),
      issued_per_day: issuedPerDay,
      at: now.toISOString(),
    };
  }
}
