import type pg from "pg";
import type { RevocationFeed } from "../backend.js";
import { standbyMessage } from "./unavailable.js";

export interface MonitorOptions {
  /** How often the database is asked; default 500 ms, so another replica's revocation shows within a second. */
  intervalMs?: number;
  /** Where each change of state is told, once. */
  log?: (level: "error" | "warn" | "info", message: string) => void;
}

/**
 * What a replica knows of the shared PostgreSQL database between requests, from one small query
 * every half second: whether it answers, whether it is a hot standby (read-only until promoted),
 * and whether the revoked set changed (another replica revoked). Issuance asks it before signing,
 * readiness reports it, and the CRL cache listens to it. It also keeps the last real write's
 * outcome, as DatabaseHealth does for SQLite.
 */
export class PostgresMonitor implements RevocationFeed {
  private unreachable: string | undefined;
  private standby = false;
  private failure: string | undefined;
  private generation: string | undefined;
  private readonly listeners: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private readonly intervalMs: number;
  private readonly log: NonNullable<MonitorOptions["log"]>;
  /** A file database can be lost under the service; a server database cannot, in this sense. */
  readonly lost = undefined;

  constructor(
    private readonly pool: pg.Pool,
    options: MonitorOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 500;
    this.log = options.log ?? (() => {});
  }

  /** Asks once (so the start knows whether it is on a standby), then keeps asking in the background. */
  async start(): Promise<void> {
    await this.poll();
    this.timer = setInterval(() => void this.poll(), this.intervalMs);
    this.timer.unref();
  }

  /** Whether the database was a hot standby when last asked. */
  get isStandby(): boolean {
    return this.standby;
  }

  /** Why nothing can be written now, for the client; undefined when writes can be tried. */
  refusal(): string | undefined {
    return this.unreachable ?? (this.standby ? standbyMessage : undefined);
  }

  /** What readiness reports: the database's state, then the last real write's failure. */
  problem(): string | undefined {
    return this.refusal() ?? (this.failure ? `the last write failed (${this.failure})` : undefined);
  }

  onRevocation(listener: () => void): void {
    this.listeners.push(listener);
  }

  checkFiles(): undefined {
    return undefined;
  }

  succeeded(): void {
    this.failure = undefined;
  }

  failed(message: string): void {
    this.failure = message;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.polling;
  }

  private poll(): Promise<void> {
    // One question at a time: a server that hangs would otherwise pile them up.
    this.polling ??= this.ask().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async ask(): Promise<void> {
    let row: { standby: boolean; generation: string };
    try {
      const { rows } = await this.pool.query<{ standby: boolean; generation: string }>({
        text: "SELECT pg_is_in_recovery() AS standby, generation FROM revocation_state WHERE id = 1",
        query_timeout: Math.max(1_000, this.intervalMs * 4),
      } as pg.QueryConfig);
      row = rows[0]!;
    } catch (error) {
      const reason = `PostgreSQL is unreachable (${(error as Error).message})`;
      if (this.unreachable === undefined) this.log("error", `${reason}: issuance and revocation answer 503 until it is back; OCSP and CRLs are served from what was read`);
      this.unreachable = reason;
      return;
    }
    if (this.unreachable !== undefined) {
      this.log("info", "PostgreSQL answers again: issuance and revocation resume");
      this.unreachable = undefined;
      this.failure = undefined;
    }
    if (row.standby !== this.standby) {
      this.log(row.standby ? "warn" : "info", row.standby ? standbyMessage : "the database was promoted (pg_is_in_recovery() is false): issuance and revocation resume");
      this.standby = row.standby;
    }
    if (this.generation !== undefined && row.generation !== this.generation) for (const listener of this.listeners) listener();
    this.generation = row.generation;
  }
}
