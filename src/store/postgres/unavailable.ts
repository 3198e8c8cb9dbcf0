/** What a client is told while the database is a hot standby. */
export const standbyMessage =
  "this replica's database is a read-only hot standby (pg_is_in_recovery() is true): issuance and revocation are refused until it is promoted; send them to a replica on the primary";

/**
 * Why a PostgreSQL error means the database cannot take this request now (rather than that the
 * request was wrong), in words for the client; undefined for any other error. SQLSTATE classes:
 * 08 connection, 53 resources, 57 operator intervention (a shutdown), 58 system, XX internal,
 * 25006 a read-only (standby) transaction; without a SQLSTATE, the network's errors (refused, reset,
 * timed out) and the driver's when it gave up on a connection. Anything else is a bug, not an outage.
 */
export function postgresUnavailable(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  if (code === "25006") return standbyMessage;
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) {
    return /^(08|53|57|58|XX)/.test(code) ? `PostgreSQL cannot take it now (${code}: ${error.message})` : undefined;
  }
  const network = typeof code === "string" && /^E[A-Z_]+$/.test(code);
  return network || driverGaveUp.test(error.message) ? `PostgreSQL is unreachable (${error.message})` : undefined;
}

/** node-postgres's own words when a connection could not be made, broke, or a query timed out. */
const driverGaveUp = /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Cannot use a pool after calling end)/;
