import pg from "pg";

export interface PoolOptions {
  /** How many connections at most: sized to what shares the pool. */
  max: number;
  /** Shown in pg_stat_activity beside "certwright", so a DBA sees which part holds a connection. */
  name: string;
  /** Every transaction read-only: for reader threads, so a bug that tried to write fails. */
  readOnly?: boolean;
  /** Where an idle connection's failure is told (the server restarted, the network dropped it). */
  onIdleError?: (error: Error) => void;
}

/**
 * A pool on the URL as given (TLS settings such as sslmode come from it). Every commit waits for
 * the WAL flush (synchronous_commit=on, whatever the server's default): an answer is only sent for
 * what is durable. Connecting and each query have a time limit, so an unreachable server fails
 * requests within seconds instead of holding them, and the pool reconnects by itself afterwards.
 */
export function openPool(url: string, options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max,
    application_name: `certwright ${options.name}`,
    options: `-c synchronous_commit=on${options.readOnly ? " -c default_transaction_read_only=on" : ""}`,
    connectionTimeoutMillis: 3_000,
    query_timeout: 15_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
  });
  // An idle connection that breaks is dropped from the pool, which makes a new one when needed;
  // without a listener the 'error' event would end the process.
  pool.on("error", (error) => options.onIdleError?.(error));
  return pool;
}
