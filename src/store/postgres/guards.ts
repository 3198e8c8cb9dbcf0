import type pg from "pg";
import { postgresUnavailable } from "./unavailable.js";

/**
 * Replay nonces and rate-limit windows on PostgreSQL, shared by every replica: a nonce seen by one
 * is a replay at all of them, and a client's count is one count however its requests are spread.
 */
export class PostgresGuards {
  private lastPurge = 0;

  constructor(private readonly pool: pg.Pool) {}

  /** Records a nonce; false when it was recorded already (and has not expired): a replay. */
  async rememberNonce(keyName: string, nonce: string, expiresAt: number, now: number): Promise<boolean> {
    // Purging at most once a minute per replica keeps the table to about one window of nonces.
    if (now - this.lastPurge > 60_000) {
      this.lastPurge = now;
      await this.pool.query("DELETE FROM seen_nonces WHERE expires_at < $1", [now]);
    }
    const { rowCount } = await this.pool.query(
      "INSERT INTO seen_nonces (key_name, nonce, expires_at) VALUES ($1, $2, $3) ON CONFLICT (key_name, nonce) DO NOTHING",
      [keyName, nonce, expiresAt],
    );
    return rowCount === 1;
  }

  /**
   * Counts one request of `client` in the fixed window starting at `windowStart`; returns the count
   * so far, or 0 (not counted) when the database takes no writes now: on a hot standby, or while it
   * is unreachable. Failing open costs nothing there, since every request that writes is refused
   * anyway, and the reads (OCSP is never limited, but the inventory, certinfo and info are) are
   * what a replica on a standby is for; failing closed answered each of them 500.
   */
  async countRequest(client: string, windowStart: number): Promise<number> {
    try {
      return await this.count(client, windowStart);
    } catch (error) {
      if (postgresUnavailable(error) === undefined) throw error;
      return 0;
    }
  }

  private async count(client: string, windowStart: number): Promise<number> {
    const { rows } = await this.pool.query<{ count: number }>(
      `INSERT INTO rate_windows AS w (client, window_start, count) VALUES ($1, $2, 1)
       ON CONFLICT (client) DO UPDATE SET
         count = CASE WHEN w.window_start = excluded.window_start THEN w.count + 1 ELSE 1 END,
         window_start = excluded.window_start
       RETURNING count`,
      [client, windowStart],
    );
    return rows[0]!.count;
  }
}
