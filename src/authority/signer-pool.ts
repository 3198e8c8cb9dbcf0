import { CertwrightError } from "../errors.js";
import { threadEntry } from "../threads/entry.js";
import { SupervisedThread, type ThreadEvent } from "../threads/supervised-thread.js";
import type { SigningConfigDocuments, SigningConfigs } from "../profiles/signing-configs.js";
import type { NewCertRequest, SignRequest } from "../schemas/wire.js";
import type { CertificateInfo } from "../pki/describe.js";
import { keptGenerations, type NewCertOutcome, type SignerCertificate, type SignerLike } from "./signer.js";
import type { ConfigDocumentGeneration, SignerApi, SignerThreadData, SignerWorkerData } from "./signer-worker.js";

const entry = threadEntry(import.meta.url, "signer-worker");

/** A signer's heap holds a few requests at a time; small limits keep each thread's footprint small. */
const resourceLimits = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 48 };

interface Slot {
  thread: SupervisedThread<SignerApi>;
  /** The newest config generation the running worker was started with or sent. */
  knows: number;
}

/**
 * Worker threads that do the CPU work of signing (CSR checks, DER, signatures, key generation),
 * so the main thread only serves HTTP and writes the database. Each call goes to the running worker
 * with the fewest calls in flight; a worker that dies fails its calls at once (503) and is
 * restarted (see SupervisedThread), with the config generations kept so far. The calls made in one
 * turn of the event loop (the requests read from every ready socket) go to each worker as one message.
 */
export class SignerPool implements SignerLike {
  private readonly slots: Slot[] = [];
  /** The config generations a worker spawned now must know: those that calls in flight may name. */
  private configs: ConfigDocumentGeneration[];

  private constructor(
    private readonly data: SignerWorkerData,
    private readonly onError: (error: unknown) => void,
    private readonly onEvent?: (event: ThreadEvent) => void,
  ) {
    const own = data.caConfigDocuments;
    this.configs = [{ generation: 0, documents: { shared: data.configDocument, ...(own && Object.keys(own).length > 0 ? { own } : {}) } }];
  }

  /**
   * Starts `size` workers and waits until each has loaded the CAs and the configs (generation 0).
   * `onEvent` hears of a worker that stopped and of its restart.
   */
  static async start(
    size: number,
    data: SignerWorkerData,
    onError: (error: unknown) => void = () => {},
    onEvent?: (event: ThreadEvent) => void,
  ): Promise<SignerPool> {
    const { pool, started } = SignerPool.begin(size, data, onError, onEvent);
    await started;
    return pool;
  }

  /**
   * Starts `size` workers without waiting for them: calls made while they load wait for them.
   * `started` settles once every worker is up, or rejects (after closing the pool) if one fails
   * to start, as `start` does. With `after`, they are made once that settles (see SupervisedThread.begin).
   */
  static begin(
    size: number,
    data: SignerWorkerData,
    onError: (error: unknown) => void = () => {},
    onEvent?: (event: ThreadEvent) => void,
    after?: Promise<unknown>,
  ): { pool: SignerPool; started: Promise<void> } {
    const pool = new SignerPool(data, onError, onEvent);
    const starts = Array.from({ length: size }, (_, i) => pool.spawn(i + 1, after));
    const started = Promise.allSettled(starts).then(async (outcomes) => {
      const failed = outcomes.find((outcome) => outcome.status === "rejected");
      if (failed) {
        await pool.close();
        throw failed.reason;
      }
    });
    return { pool, started };
  }

  /** The threads, for readiness and for tests that stop one as a crash would. */
  get supervised(): readonly SupervisedThread<SignerApi>[] {
    return this.slots.map((slot) => slot.thread);
  }

  /** Begins a worker's start and keeps its slot; resolves once it is up. */
  private spawn(number: number, after?: Promise<unknown>): Promise<void> {
    const { caCertificate, caKey, pkcs11, label, urls, others } = this.data;
    const slot: Slot = { thread: undefined as unknown as SupervisedThread<SignerApi>, knows: 0 };
    const { thread, started } = SupervisedThread.begin<SignerApi>({
      name: `signer thread ${number}`,
      entry,
      workerData: () => {
        slot.knows = this.configs[this.configs.length - 1]!.generation;
        return {
          caCertificate,
          caKey,
          pkcs11,
          label,
          ...(urls ? { urls } : {}),
          ...(others && others.length > 0 ? { others } : {}),
          configs: this.configs,
        } satisfies SignerThreadData;
      },
      resourceLimits,
      handshake: true,
      batchPerTurn: true,
      // A reload while the thread was restarting did not reach it: it gets what it missed first.
      onRestarted: () => {
        for (const entry of this.configs.filter((c) => c.generation > slot.knows)) {
          slot.thread.call("useConfig", entry).catch(this.onError);
        }
      },
      callFailure: (reason) => new CertwrightError("notReady", `the request could not be signed: ${reason}; try again`),
      remoteError: (error) => (error.kind ? new CertwrightError(error.kind, error.message) : new Error(`signer worker: ${error.stack ?? error.message}`)),
      unsendable: (error) => {
        this.onError(error);
        return new CertwrightError("invalidRequest", "the request could not be handed to a signer thread (a value nested too deeply or too large); send it without free-form fields such as metadata");
      },
      onEvent: this.onEvent,
    }, after);
    slot.thread = thread;
    this.slots.push(slot);
    return started;
  }

  /** The running worker (or one still starting: the call waits for it) with the fewest calls in flight. */
  private pick(): SupervisedThread<SignerApi> {
    let best: SupervisedThread<SignerApi> | undefined;
    for (const { thread } of this.slots) {
      if (thread.down !== undefined && !thread.starting) continue;
      if (!best || thread.inFlight < best.inFlight) best = thread;
    }
    if (!best) throw new CertwrightError("notReady", "no signer thread is running (they are restarting); try again");
    return best;
  }

  async sign(request: SignRequest, generation?: number): Promise<SignerCertificate> {
    // Only what the signer reads crosses the thread: cfssl's free-form metadata and the fields
    // this thread has checked already (replay protection) stay here.
    const { metadata: _metadata, crl_override: _crlOverride, ReturnPrecert: _precert, timestamp: _timestamp, nonce: _nonce, ...signed } = request;
    return this.pick().call("sign", signed, generation);
  }

  async newCert(request: NewCertRequest, keyPem?: string, generation?: number): Promise<NewCertOutcome> {
    return this.pick().call("newCert", request, keyPem, generation);
  }

  /** certinfo's parsing, off the HTTP thread (see the worker). */
  async describeCertificate(pem: string): Promise<CertificateInfo> {
    return this.pick().call("describeCertificate", pem);
  }

  /**
   * Sends the config documents to every worker and waits until each has parsed them; workers spawned
   * later (a replacement for one that died) start with them and the generations kept before.
   */
  async useConfig(generation: number, _configs: SigningConfigs, documents: SigningConfigDocuments): Promise<void> {
    const entry: ConfigDocumentGeneration = { generation, documents };
    this.configs = [...this.configs, entry].slice(-keptGenerations);
    await Promise.all(
      this.slots
        // One still starting was given the generations known when it began: it gets this one too.
        .filter((slot) => slot.thread.down === undefined || slot.thread.starting)
        .map((slot) => {
          slot.knows = generation;
          return slot.thread.call("useConfig", entry);
        }),
    );
  }

  async reissue(certificatePem: string, label?: string): Promise<{ pem: string; serialNumber: string }> {
    return this.pick().call("reissue", certificatePem, label);
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((slot) => slot.thread.close()));
  }
}
