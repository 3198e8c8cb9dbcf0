import type Database from "better-sqlite3";
import { openDatabase } from "./database.js";

/**
 * Replay nonces and rate-limit windows: state that must outlive a restart but is checked on every
 * request it applies to. It has its own connection with synchronous=NORMAL: in WAL mode a commit
 * then survives the process dying (what a restart needs) without waiting for an fsync, which would
 * otherwise stall the HTTP thread on each request.
 */
export class GuardStore {
  private readonly insertNonce: Database.Statement;
  private readonly purgeNonces: Database.Statement;
  private readonly countInWindow: Database.Statement;
  private lastPurge = 0;

  constructor(private readonly db: Database.Database) {
    this.insertNonce = db.prepare("INSERT OR IGNORE INTO seen_nonces (key_name, nonce, expires_at) VALUES (?, ?, ?)");
    this.purgeNonces = db.prepare("DELETE FROM seen_nonces WHERE expires_at < ?");
    this.countInWindow = db.prepare(
      `INSERT INTO rate_windows (client, window_start, count) VALUES (@client, @windowStart, 1)
       ON CONFLICT (client) DO UPDATE SET
         count = CASE WHEN window_start = excluded.window_start THEN count + 1 ELSE 1 END,
         window_start = excluded.window_start
       RETURNING count`,
    );
  }

  static open(path: string): GuardStore {
    const db = openDatabase(path);
    db.pragma("synchronous = NORMAL");
    return new GuardStore(db);
  }

  /** Records a nonce; false when it was recorded already (and has not expired): a replay. */
  rememberNonce(keyName: string, nonce: string, expiresAt: number, now: number): boolean {
    // Purging at most once a minute keeps the table to about one window of nonces.
    if (now - this.lastPurge > 60_000) {
      this.purgeNonces.run(now);
      this.lastPurge = now;
    }
    return this.insertNonce.run(keyName, nonce, expiresAt).changes === 1;
  }

  /** Counts one request of `client` in the fixed window starting at `windowStart`; returns the count so far. */
  countRequest(client: string, windowStart: number): number {
    return (this.countInWindow.get({ client, windowStart }) as { count: number }).count;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
