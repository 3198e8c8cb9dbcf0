// `certwright migrate-db`: moves a deployment's certificates, revocations and CRL numbers from its
// SQLite certs.db to a PostgreSQL database, and checks the counts there.
import pg from "pg";
import { copySqliteToPostgres, ForeignCaError, openSourceDatabase, SourceDatabaseError, type CopyReport } from "../store/postgres/copy-from-sqlite.js";
import { migratePostgres, SchemaTooNewError } from "../store/postgres/migrate.js";
import { ClientError, exitCodes } from "./client/errors.js";
import { expectPositionals, parseArgs, renderHelp, type FlagSpec } from "./client/flags.js";
import { UsageError } from "./usage-error.js";
import { isPostgresUrl, redactedUrl } from "../store/database-url.js";

const defaultBatchSize = 1000;

const flags: FlagSpec[] = [
  { name: "from", value: "FILE", help: "the service's SQLite database, e.g. ./data/certs.db (required; opened read-only)" },
  { name: "to", value: "URL", help: "the PostgreSQL database: postgres://USER[:PASSWORD]@HOST:PORT/DB (required)" },
  { name: "batch-size", value: "N", help: `certificates per INSERT (default ${defaultBatchSize})` },
];

const help = renderHelp(
  "certwright migrate-db --from FILE --to postgres://USER:PASSWORD@HOST:PORT/DB",
  [
    "Copies every certificate, revocation and CRL number of a certwright SQLite database, its CA",
    "identity, its live replay nonces and its ACME accounts and orders into a PostgreSQL database",
    "(migrated first), then checks that PostgreSQL holds each certificate, each revocation and each",
    "CRL number. A password left out of",
    "the URL is read from PGPASSWORD, as psql does (a URL's password shows in ps).",
    "",
    "Running it again is safe: rows copied before stay as they are,",
    "except that a revocation made since is brought forward; nothing is un-revoked, and a CRL number",
    "never goes back. A PostgreSQL database that belongs to another CA is refused.",
    "",
    "It reads one consistent snapshot, so it may run while the service runs; what the service writes",
    "after that is not copied. For the final copy, stop the service (or run it again once stopped),",
    "then start the replicas on PostgreSQL.",
  ],
  flags,
  "Exit codes: 0 copied and checked, 1 failed (no database, PostgreSQL unreachable or of another CA, counts that do not match), 2 bad usage.",
);

function postgresUrl(value: string | undefined): string {
  if (!value) throw new UsageError("--to URL is required: the PostgreSQL database to copy into (postgres://USER:PASSWORD@HOST:PORT/DB)");
  if (!isPostgresUrl(value)) throw new UsageError(`--to must be a postgres:// or postgresql:// URL, not "${redactedUrl(value)}"`);
  return value;
}

function batchSize(value: string | undefined): number {
  if (value === undefined) return defaultBatchSize;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 10_000) throw new UsageError(`--batch-size: "${value}" is not a whole number from 1 to 10000`);
  return n;
}

function summary(report: CopyReport): string {
  const held = report.postgresCounts.reduce((sum, ca) => sum + ca.certificates, 0);
  const verdict = report.mismatches.length === 0 ? "counts match" : "counts do not match";
  return `copied ${report.certificates} certificates (${report.revoked} revoked) and ${report.crlNumbers} CRL numbers; PostgreSQL now holds ${held} certificates for ${report.postgresCounts.length} CA(s): ${verdict}`;
}

export async function migrateDbCommand(argv: string[], _env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseArgs("migrate-db", argv, flags);
  if (parsed === "help") {
    console.log(help);
    return exitCodes.ok;
  }
  expectPositionals("migrate-db", parsed.positionals, []);
  const from = parsed.flags.get("from");
  if (!from) throw new UsageError("--from FILE is required: the service's SQLite database, e.g. ./data/certs.db");
  const to = postgresUrl(parsed.flags.get("to"));
  const size = batchSize(parsed.flags.get("batch-size"));

  let source: ReturnType<typeof openSourceDatabase>;
  try {
    source = openSourceDatabase(from);
  } catch (error) {
    if (error instanceof SourceDatabaseError) throw new ClientError(error.message);
    throw error;
  }
  try {
    const client = new pg.Client({ connectionString: to, connectionTimeoutMillis: 10_000 });
    try {
      await client.connect();
    } catch (error) {
      throw new ClientError(`cannot connect to PostgreSQL at ${redactedUrl(to)}: ${(error as Error).message}; check the URL, that the server runs and that it accepts this user`);
    }
    // A server that goes away mid-copy reports on the client too; the failed query says the rest.
    client.on("error", () => {});
    try {
      await migratePostgres(client);
      const report = await copySqliteToPostgres(source, client, { batchSize: size });
      if (report.acmeAccounts > 0) console.log(`copied ${report.acmeAccounts} ACME accounts and ${report.acmeOrders} ACME orders`);
      if (report.inserted > 0 || report.revocationsBroughtForward > 0) {
        console.log(`${report.inserted} certificates new to PostgreSQL, ${report.revocationsBroughtForward} revocations brought forward`);
      }
      if (report.mismatches.length > 0) {
        console.error(summary(report));
        for (const line of report.mismatches) console.error(`  ${line}`);
        throw new ClientError("PostgreSQL does not hold everything the SQLite database holds; run migrate-db again, and look at PostgreSQL's log if it stays so");
      }
      console.log(summary(report));
      return exitCodes.ok;
    } catch (error) {
      if (error instanceof ClientError) throw error;
      if (error instanceof ForeignCaError || error instanceof SchemaTooNewError) throw new ClientError(error.message);
      throw new ClientError(`copying into PostgreSQL failed: ${(error as Error).message}; what was copied stays, and running migrate-db again carries on`);
    } finally {
      await client.end().catch(() => {});
    }
  } finally {
    source.close();
  }
}
