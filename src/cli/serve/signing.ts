import { availableParallelism } from "node:os";
import type { Metrics } from "../../api/metrics.js";
import { Authority } from "../../authority/authority.js";
import { KeyPool } from "../../authority/key-pool.js";
import { ReplayGuard } from "../../authority/replay-guard.js";
import { SignerPool } from "../../authority/signer-pool.js";
import { caKeyData } from "../../keys/ca-key.js";
import type { CaChain } from "../../pki/chain.js";
import type { SigningConfigDocuments, SigningConfigs } from "../../profiles/signing-configs.js";
import type { ReadinessOptions } from "../../authority/readiness.js";
import type { ServeOptions } from "../options.js";
import type { LoadedCa } from "./ca-files.js";
import type { ServedCa } from "./ca-config.js";
import type { ServiceLog } from "./service-log.js";
import type { ShutdownStack } from "./shutdown-stack.js";
import type { Storage } from "./storage-parts.js";

/** RSA-2048 keys made ahead for newcert: a burst of this many is answered without waiting for generation. */
const rsaSpares = 8;

export interface Signing {
  authority: Authority;
  /** The threads readiness reports on. */
  threads: NonNullable<ReadinessOptions["threads"]>;
  /** Settles once the signer threads are up (calls made before wait for them); rejects if one cannot start. */
  started: Promise<void>;
}

export interface SigningParts {
  ca: LoadedCa;
  chain: CaChain;
  /** CAs served beside the default by label (--ca-config). */
  others: readonly ServedCa[];
  /** Every CA's signing config: --config's, and the CAs' own. */
  configs: SigningConfigs;
  configDocuments: SigningConfigDocuments;
  storage: Storage;
  metrics: Metrics;
  log: ServiceLog;
  note(message: string): void;
  stack: ShutdownStack;
  /** Settles once the service listens: the signer threads are made then, not before. */
  listening?: Promise<void>;
}

/** The authority, with its signer threads and the pool of RSA keys made ahead. */
export async function startSigning(options: ServeOptions, { ca, chain, others, configs, configDocuments, storage, metrics, log, note, stack, listening }: SigningParts): Promise<Signing> {
  // The signers load once the service listens: a request that needs one waits for it.
  const signers =
    options.workers > 0
      ? SignerPool.begin(
          options.workers,
          {
            caCertificate: ca.certificatePem,
            ...caKeyData(ca.ca.key),
            label: ca.ca.label,
            ...(ca.ca.urls ? { urls: ca.ca.urls } : {}),
            others: others.map((other) => ({ caCertificate: other.ca.certificatePem, ...caKeyData(other.ca.ca.key), label: other.ca.ca.label, urls: other.ca.ca.urls })),
            configDocument: configDocuments.shared,
            caConfigDocuments: configDocuments.own,
          },
          (error) => log.write("error", "signer worker failed", error),
          (event) => log.thread(event),
          listening,
        )
      : undefined;
  const signer = signers?.pool;
  if (signer) {
    stack.defer(() => signer.close());
    note(`signing in ${options.workers} worker thread(s)`);
  }
  // Started by the first RSA newcert, so neither the start nor a service that makes no RSA keys pays for it.
  const keyPool = new KeyPool({ concurrency: availableParallelism(), spares: rsaSpares, sizes: [2048], onDemand: true });
  stack.defer(() => keyPool.close());
  const { guardStore } = storage;
  if (options.replayWindowMs !== undefined) note(`replay protection: authenticated requests need a timestamp within ${options.replayWindowMs / 1000}s and a fresh nonce`);
  const authority = new Authority({
    ca: ca.ca,
    chain,
    others: others.map((other) => ({ label: other.ca.ca.label, ca: other.ca.ca, chain: other.chain })),
    config: configs,
    store: storage.recorder,
    onRecordError: (error) => log.write("error", "recording a certificate failed", error),
    onIssued: (record) => metrics.certificateIssued(record),
    signer,
    keyPool,
    replayGuard: guardStore && options.replayWindowMs !== undefined ? new ReplayGuard(guardStore, options.replayWindowMs) : undefined,
  });
  return { authority, threads: () => signer?.supervised ?? [], started: signers?.started ?? Promise.resolve() };
}
