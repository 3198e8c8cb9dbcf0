import { Worker } from "node:worker_threads";
import { CertwrightError } from "../errors.js";
import { threadEntry } from "../thread-entry.js";
import { SupervisedThread, type ThreadEvent } from "../thread-supervisor.js";
import type { SigningConfig } from "../profiles/signing-config.js";
import type { NewCertRequest, SignRequest } from "../schemas/wire.js";
import type { CertificateInfo } from "../pki/describe.js";
import { keptGenerations, type NewCertOutcome, type SignerCertificate, type SignerLike } from "./signer.js";
import type { ConfigDocumentGeneration, SignerCall, SignerReply, SignerThreadData, SignerWorkerData } from "./signer-worker.js";

const { url: workerEntry, built } = threadEntry(import.meta.url, "signer-worker");

/**
 * A signer's heap holds a few requests at a time; small limits keep each thread's footprint small.
 * They apply to the built service: in tests the thread also compiles TypeScript, which needs more.
 */
const workerHeap = built ? { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 48 } : undefined;

interface Slot {
  thread: SupervisedThread;
  /** Calls not yet posted: they leave together once this turn of the event loop ends. */
  outbox: SignerCall[];
  /** The newest config generation the running worker was started with or sent. */
  knows: number;
}

/**
 * Worker threads that do the CPU work of signing (CSR checks, DER, signatures, key generation),
 * so the main thread only serves HTTP and writes the database. Each call goes to the running worker
 * with the fewest calls in flight; a worker that dies fails its calls at once (503) and is
 * restarted (see SupervisedThread), with the config generations kept so far.
 */
export class SignerPool implements SignerLike {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private flushScheduled = false;
  /** The config generations a worker spawned now must know: those that calls in flight may name. */
  private configs: ConfigDocumentGeneration[];

  private constructor(
    private readonly data: SignerWorkerData,
    private readonly onError: (error: unknown) => void,
    private readonly onEvent?: (event: ThreadEvent) => void,
  ) {
    this.configs = [{ generation: 0, document: data.configDocument }];
  }

  /**
   * Starts `size` workers and waits until each has loaded the CA and the config (generation 0).
   * `onEvent` hears of a worker that stopped and of its restart.
   */
  static async start(
    size: number,
    data: SignerWorkerData,
    onError: (error: unknown) => void = () => {},
    onEvent?: (event: ThreadEvent) => void,
  ): Promise<SignerPool> {
    const pool = new SignerPool(data, onError, onEvent);
    const started = await Promise.allSettled(Array.from({ length: size }, (_, i) => pool.spawn(i + 1)));
    const failed = started.find((outcome) => outcome.status === "rejected");
    if (failed) {
      await pool.close();
      throw failed.reason;
    }
    return pool;
  }

  /** The threads, for readiness and for tests that stop one as a crash would. */
  get supervised(): readonly SupervisedThread[] {
    return this.slots.map((slot) => slot.thread);
  }

  private async spawn(number: number): Promise<void> {
    const { caCertificate, caKey, label } = this.data;
    const slot: Slot = { thread: undefined as unknown as SupervisedThread, outbox: [], knows: 0 };
    slot.thread = await SupervisedThread.start({
      name: `signer thread ${number}`,
      create: () => {
        const workerData: SignerThreadData = { caCertificate, caKey, label, configs: this.configs };
        slot.knows = this.configs[this.configs.length - 1]!.generation;
        return new Worker(workerEntry, { workerData, resourceLimits: workerHeap });
      },
      // A reload while the thread was restarting did not reach it: it gets what it missed first.
      onRestarted: () => {
        for (const entry of this.configs.filter((c) => c.generation > slot.knows)) {
          this.call("useConfig", [entry], slot).catch(this.onError);
        }
      },
      handshake: true,
      onMessage: (message) => {
        for (const reply of message as SignerReply[]) {
          if ("value" in reply) slot.thread.settle(reply.id, { value: reply.value });
          else if ("kind" in reply.error) slot.thread.settle(reply.id, { error: new CertwrightError(reply.error.kind, reply.error.message) });
          else slot.thread.settle(reply.id, { error: new Error(`signer worker: ${reply.error.internal}`) });
        }
      },
      callFailure: (reason) => new CertwrightError("notReady", `the request could not be signed: ${reason}; try again`),
      onEvent: this.onEvent,
    });
    this.slots.push(slot);
  }

  private call<T>(method: SignerCall["method"], args: unknown[], slot?: Slot): Promise<T> {
    const target = slot ?? this.pick();
    if (!target) return Promise.reject(new CertwrightError("notReady", "no signer thread is running (they are restarting); try again"));
    const id = this.nextId++;
    const answer = target.thread.expect<T>(id);
    // A thread that is down refuses at once; nothing to post.
    if (target.thread.down === undefined) {
      target.outbox.push({ id, method, args } as SignerCall);
      this.scheduleFlush();
    }
    return answer;
  }

  /** The running worker with the fewest calls in flight. */
  private pick(): Slot | undefined {
    let best: Slot | undefined;
    for (const slot of this.slots) {
      if (slot.thread.down !== undefined) continue;
      if (!best || slot.thread.inFlight < best.thread.inFlight) best = slot;
    }
    return best;
  }

  /**
   * Calls made in one turn of the event loop (the requests read from every ready socket) go to each
   * worker as one message after it: a message costs both threads a wake-up and an event dispatch,
   * which under load cost as much as the copying.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      for (const slot of this.slots) {
        if (slot.outbox.length === 0) continue;
        const calls = slot.outbox;
        slot.outbox = [];
        // A thread that stopped since has failed these calls already.
        if (slot.thread.down === undefined) this.post(slot, calls);
      }
    });
  }

  /**
   * Posts calls to a worker. A call that cannot be copied (a value too deep for structured clone,
   * or one it refuses) fails alone: the batch is posted again one call at a time, and a throw here
   * must not escape the setImmediate above, where it would end the process.
   */
  private post(slot: Slot, calls: SignerCall[]): void {
    try {
      slot.thread.post(calls);
    } catch (error) {
      if (calls.length > 1) {
        for (const call of calls) this.post(slot, [call]);
        return;
      }
      this.onError(error);
      slot.thread.settle(calls[0]!.id, {
        error: new CertwrightError("invalidRequest", "the request could not be handed to a signer thread (a value nested too deeply or too large); send it without free-form fields such as metadata"),
      });
    }
  }

  sign(request: SignRequest, generation?: number): Promise<SignerCertificate> {
    // Only what the signer reads crosses the thread: cfssl's free-form metadata and the fields
    // this thread has checked already (replay protection) stay here.
    const { metadata: _metadata, crl_override: _crlOverride, ReturnPrecert: _precert, timestamp: _timestamp, nonce: _nonce, ...signed } = request;
    return this.call("sign", [signed, generation]);
  }

  newCert(request: NewCertRequest, keyPem?: string, generation?: number): Promise<NewCertOutcome> {
    return this.call("newCert", [request, keyPem, generation]);
  }

  /** certinfo's parsing, off the HTTP thread (see the worker). */
  describeCertificate(pem: string): Promise<CertificateInfo> {
    return this.call("describeCertificate", [pem]);
  }

  /**
   * Sends the config document to every worker and waits until each has parsed it; workers spawned
   * later (a replacement for one that died) start with it and the generations kept before it.
   */
  async useConfig(generation: number, _config: SigningConfig, document: unknown): Promise<void> {
    const entry: ConfigDocumentGeneration = { generation, document };
    this.configs = [...this.configs, entry].slice(-keptGenerations);
    await Promise.all(
      this.slots
        .filter((slot) => slot.thread.down === undefined)
        .map((slot) => {
          slot.knows = generation;
          return this.call("useConfig", [entry], slot);
        }),
    );
  }

  reissue(certificatePem: string): Promise<{ pem: string; serialNumber: string }> {
    return this.call("reissue", [certificatePem]);
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((slot) => slot.thread.close()));
  }
}
