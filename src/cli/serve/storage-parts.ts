import type { Metrics } from "../../api/metrics.js";
import type { CertificateRecorder } from "../../authority/authority.js";
import type { OperatorRecords } from "../../authority/operator-services.js";
import type { IssuedCertificate } from "../../model/issued-certificate.js";
import type { AcmeStore } from "../../store/acme-records.js";
import type { GuardStorage } from "../../store/backend.js";
import type { LoadedCa } from "./ca-files.js";
import type { ServiceLog } from "./service-log.js";
import type { ShutdownStack } from "./shutdown-stack.js";

/** The certificate database as the service uses it, SQLite or PostgreSQL. */
export interface Storage {
  /** What the authority records into: group-committed, read back by serial. */
  recorder: Omit<CertificateRecorder, "insert"> & { insert(record: IssuedCertificate): Promise<void> };
  /** The inventory, its totals and revocations elsewhere, for the operator services. */
  records: OperatorRecords;
  /** Whether writes can reach the database now (readiness). */
  health: { problem(): string | undefined };
  /** Replay nonces and rate-limit counts, when either is configured: they outlive restarts. */
  guardStore: GuardStorage | undefined;
  /**
   * Settles once the threads it writes through are up (writes sent before wait for them); rejects
   * if one cannot start, which fails the service's start. Absent: nothing to wait for.
   */
  started?: Promise<void>;
  /** The ACME server's records, when the signing config has an `acme` section. */
  acme?: AcmeStore | undefined;
}

export interface StorageParts {
  ca: LoadedCa;
  /** The CAs served beside it by label (--ca-config): a database any of them recorded is theirs too. */
  others?: readonly LoadedCa[];
  /** Open the ACME records too (the signing config has an `acme` section). */
  acme?: boolean;
  metrics: Metrics;
  log: ServiceLog;
  note(message: string): void;
  stack: ShutdownStack;
  /** Settles once the service listens: its threads are made then, not before (see Storage.started). */
  listening?: Promise<void>;
}

export interface StorageParts {
  ca: LoadedCa;
  metrics: Metrics;
  log: ServiceLog;
  note(message: string): void;
  stack: ShutdownStack;
}
