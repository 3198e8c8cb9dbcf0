import type pg from "pg";
import type { InventoryCounts } from "../backend.js";
import type { IssuedOnDay, StatusCounts } from "../inventory-stats.js";

/** The console overview's totals on PostgreSQL, from the same indexes as on SQLite. */
export class PostgresStats implements InventoryCounts {
  constructor(private readonly pool: pg.Pool) {}

  async counts(now: Date): Promise<StatusCounts> {
    const { rows } = await this.pool.query<{ good: string; revoked: string; expired: string }>(
      `SELECT (SELECT count(*) FROM certificates WHERE status = 'good' AND expiry > $1) AS good,
              (SELECT count(*) FROM certificates WHERE status = 'revoked') AS revoked,
              (SELECT count(*) FROM certificates WHERE status = 'good' AND expiry <= $1) AS expired`,
      [now],
    );
    const row = rows[0]!;
    return { good: Number(row.good), revoked: Number(row.revoked), expired: Number(row.expired) };
  }

  async issuedPerDay(since: Date): Promise<IssuedOnDay[]> {
    const { rows } = await this.pool.query<{ day: string; count: string }>(
      `SELECT to_char(issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*) AS count
       FROM certificates WHERE issued_at >= $1 GROUP BY day ORDER BY day`,
      [since],
    );
    return rows.map((row) => ({ day: row.day, count: Number(row.count) }));
  }
}
