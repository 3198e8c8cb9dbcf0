import type Database from "better-sqlite3";

/** How many recorded certificates are in each state at one moment. */
export interface StatusCounts {
  good: number;
  revoked: number;
  expired: number;
}

/** Certificates issued on one UTC day (`YYYY-MM-DD`). */
export interface IssuedOnDay {
  day: string;
  count: number;
}

/**
 * The inventory's totals for the console's overview. Each query is answered from an index
 * (status + expiry, issued_at), so the overview costs an index walk, never a table scan and sort.
 */
export class InventoryStats {
  private readonly revokedStatement: Database.Statement;
  private readonly unrevokedStatement: Database.Statement;
  private readonly perDayStatement: Database.Statement;

  constructor(db: Database.Database) {
    this.revokedStatement = db.prepare("SELECT count(*) AS n FROM certificates WHERE status = 'revoked'");
    this.unrevokedStatement = db.prepare(
      "SELECT count(*) FILTER (WHERE expiry > @now) AS good, count(*) FILTER (WHERE expiry <= @now) AS expired FROM certificates WHERE status = 'good'",
    );
    // issued_at is an ISO 8601 UTC text, so its first ten characters are the UTC day.
    this.perDayStatement = db.prepare(
      "SELECT substr(issued_at, 1, 10) AS day, count(*) AS count FROM certificates WHERE issued_at >= ? GROUP BY day ORDER BY day",
    );
  }

  counts(now: Date): StatusCounts {
    const { n: revoked } = this.revokedStatement.get() as { n: number };
    const { good, expired } = this.unrevokedStatement.get({ now: now.toISOString() }) as { good: number; expired: number };
    return { good, revoked, expired };
  }

  /** Days on which something was issued, from `since` on, oldest first; days with none are left out. */
  issuedPerDay(since: Date): IssuedOnDay[] {
    return this.perDayStatement.all(since.toISOString()) as IssuedOnDay[];
  }
}
