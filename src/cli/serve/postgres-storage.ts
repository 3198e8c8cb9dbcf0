import type pg from "pg";
import { GuardedInventory } from "../../authority/guarded-inventory.js";
import { CertwrightError } from "../../errors.js";
import type { IssuedCertificate } from "../../model/issued-certificate.js";
import { PostgresCertificates } from "../../store/postgres/certificates.js";
import { PostgresAcmeStore } from "../../store/postgres/acme.js";
import { PostgresGuards } from "../../store/postgres/guards.js";
import { PostgresInventory } from "../../store/postgres/inventory.js";
import { migratePostgres, postgresCodeVersion, postgresSchemaVersion, SchemaTooNewError } from "../../store/postgres/migrate.js";
import { PostgresMonitor } from "../../store/postgres/monitor.js";
import type { GuardStorage, InventoryCounts } from "../../store/backend.js";
import { redactedUrl } from "../../store/database-url.js";
import { openPool } from "../../store/postgres/pool.js";
import { PostgresStats } from "../../store/postgres/stats.js";
import { postgresUnavailable } from "../../store/postgres/unavailable.js";
import { caIdentity } from "../data-dir.js";
import type { ServeOptions } from "../options.js";
import { StartupError } from "../startup-error.js";
import type { Storage, StorageParts } from "./storage-parts.js";
import { trackedGroupCommit } from "./tracked-commit.js";

/**
 * Connections of the HTTP thread's pool: group commit uses one at a time, the rest serve lookups
 * (OCSP, certinfo, the guards) and the monitor. The inventory and CRL threads have one each.
 */
const poolSize = 8;

/**
 * Opens the PostgreSQL database the replicas share: connects, migrates (under the advisory lock,
 * so replicas starting together migrate once), checks that it belongs to this CA, and starts the
 * monitor. A hot standby is not migrated; it must already be at this code's schema.
 */
export async function openPostgresStorage(url: string, options: ServeOptions, { ca, others, metrics, log, note, stack, acme }: StorageParts): Promise<Storage> {
  const shown = redactedUrl(url);
  const pool = openPool(url, { max: poolSize, name: "serve", onIdleError: (error) => log.write("warn", `a PostgreSQL connection was dropped: ${error.message}`) });
  stack.defer(() => pool.end());
  let standby: boolean;
  try {
    standby = await prepareDatabase(pool, options, caIdentity(ca.ca.subjectKeyId, ca.certificatePem), others?.map((other) => other.ca.subjectKeyId) ?? [], note);
  } catch (error) {
    if (error instanceof StartupError) throw error;
    const message = error instanceof SchemaTooNewError ? error.message : `cannot be used: ${(error as Error).message}`;
    throw new StartupError(`database ${shown}: ${message}`);
  }
  note(`database ${shown}: PostgreSQL${standby ? ", a hot standby: serving OCSP, CRLs and the inventory, refusing issuance until it is promoted" : ""}`);

  const monitor = new PostgresMonitor(pool, { log: (level, message) => log.write(level, message) });
  await monitor.start();
  stack.defer(() => monitor.close());
  const certificates = new PostgresCertificates(pool);
  const writer = {
    async insertMany(records: readonly IssuedCertificate[]) {
      const refusal = monitor.refusal();
      if (refusal) throw new CertwrightError("recordFailed", `${refusal}; the certificate was not issued`);
      try {
        const results = await certificates.insertMany(records);
        monitor.succeeded();
        return results;
      } catch (error) {
        const reason = postgresUnavailable(error);
        if (reason === undefined) throw error;
        monitor.failed(reason);
        throw new CertwrightError("recordFailed", `the certificate could not be recorded: ${reason}; it was not issued, try again`, { cause: error });
      }
    },
  };
  const insert = trackedGroupCommit(writer, metrics, stack);
  const guardStore = options.replayWindowMs !== undefined || options.rateLimit ? refusedWhileUnavailable(new PostgresGuards(pool)) : undefined;
  return {
    recorder: { insert, get: (serial, aki) => certificates.get(serial, aki), refusal: () => monitor.refusal() },
    records: {
      inventory: new GuardedInventory(new PostgresInventory(pool, url), monitor, postgresUnavailable),
      stats: statsOrNotReady(new PostgresStats(pool)),
      revocationsElsewhere: monitor,
    },
    health: monitor,
    guardStore,
    acme: acme ? new PostgresAcmeStore(pool) : undefined,
  };
}

/**
 * Runs a query of the shared database that neither issuance's nor the inventory's guards cover: an
 * unreachable PostgreSQL answers 503 (code 12200) saying what could not be done, not 500.
 */
async function orNotReady<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const reason = postgresUnavailable(error);
    if (reason === undefined) throw error;
    throw new CertwrightError("notReady", `${what}: ${reason}; try again once /api/v1/ready answers 200`, { cause: error });
  }
}

/** Rate-limit counts and replay nonces: a request is neither let through unchecked nor answered 500. */
function refusedWhileUnavailable(guards: PostgresGuards): GuardStorage {
  return {
    rememberNonce: (keyName, nonce, expiresAt, now) => orNotReady("the request's nonce could not be checked", () => guards.rememberNonce(keyName, nonce, expiresAt, now)),
    // Counting fails open on a standby or an unreachable database (PostgresGuards.countRequest).
    countRequest: (client, windowStart) => guards.countRequest(client, windowStart),
  };
}

/** The console overview's totals. */
function statsOrNotReady(stats: PostgresStats): InventoryCounts {
  return {
    counts: (now) => orNotReady("the totals cannot be read", () => stats.counts(now)),
    issuedPerDay: (since) => orNotReady("the totals cannot be read", () => stats.issuedPerDay(since)),
  };
}

/** Migrates (or, on a standby, checks the schema) and records or checks the CA; true on a standby. */
async function prepareDatabase(
  pool: pg.Pool,
  options: ServeOptions,
  identity: ReturnType<typeof caIdentity>,
  otherCaKeyIds: readonly string[],
  note: (message: string) => void,
): Promise<boolean> {
  const client = await pool.connect();
  try {
    const { rows } = await client.query<{ standby: boolean }>("SELECT pg_is_in_recovery() AS standby");
    const standby = rows[0]!.standby;
    if (standby) {
      const version = await postgresSchemaVersion(client);
      const codeVersion = postgresCodeVersion();
      if (version > codeVersion) throw new SchemaTooNewError(version, codeVersion);
      if (version < codeVersion) {
        throw new StartupError(
          `database ${redactedUrl(options.database!)} is a hot standby at schema version ${version}, older than this certwright's (${codeVersion}); start a replica on the primary first, which migrates it`,
        );
      }
    } else {
      await migratePostgres(client);
      // Recorded by the first replica to start; the others find it.
      await client.query(
        "INSERT INTO meta (key, value) VALUES ('ca_subject_key_id', $1), ('ca_certificate_sha256', $2) ON CONFLICT (key) DO NOTHING",
        [identity.caSubjectKeyId, identity.caCertificateSha256],
      );
    }
    const meta = await client.query<{ value: string }>("SELECT value FROM meta WHERE key = 'ca_subject_key_id'");
    const recorded = meta.rows[0]?.value;
    // With several CAs (--ca-config), the database of any of them is theirs: after a rotation the
    // old default's records stay, and the new default is recorded as the owner from now on.
    const ours = recorded !== undefined && otherCaKeyIds.includes(recorded);
    if (ours && !standby) {
      await client.query("UPDATE meta SET value = CASE key WHEN 'ca_subject_key_id' THEN $1 ELSE $2 END WHERE key IN ('ca_subject_key_id', 'ca_certificate_sha256')", [
        identity.caSubjectKeyId,
        identity.caCertificateSha256,
      ]);
      note(`database ${redactedUrl(options.database!)} was recorded for the CA with subject key id ${recorded}, served here too: the default CA (${identity.caSubjectKeyId}) is recorded from now on`);
    } else if (recorded !== undefined && !ours && recorded !== identity.caSubjectKeyId) {
      if (!options.allowNewDatabase || standby) {
        throw new StartupError(
          `database ${redactedUrl(options.database!)} belongs to another CA (subject key id ${recorded}), not to this one (${identity.caSubjectKeyId}): every replica must use the same --ca and --ca-key; to hand this database to a new CA, start once with --allow-new-database`,
        );
      }
      await client.query("UPDATE meta SET value = CASE key WHEN 'ca_subject_key_id' THEN $1 ELSE $2 END WHERE key IN ('ca_subject_key_id', 'ca_certificate_sha256')", [
        identity.caSubjectKeyId,
        identity.caCertificateSha256,
      ]);
    }
    return standby;
  } finally {
    client.release();
  }
}
