import { Worker } from "node:worker_threads";
import { CertwrightError } from "../errors.js";
import { threadEntry } from "../thread-entry.js";
import type { SigningConfig } from "../profiles/signing-config.js";
import type { NewCertRequest, SignRequest } from "../schemas/wire.js";
import type { CertificateInfo } from "../pki/describe.js";
import { keptGenerations, type NewCertOutcome, type SignedCertificate, type SignerLike } from "./signer.js";
import type { ConfigDocumentGeneration, SignerCall, SignerReply, SignerThreadData, SignerWorkerData } from "./signer-worker.js";

const { url: workerEntry, built } = threadEntry(import.meta.url, "signer-worker");

/**
 * A signer's heap holds a few requests at a time; small limits keep each thread's footprint small.
 * They apply to the built service: in tests the thread also compiles TypeScript, which needs more.
 */
const workerHeap = built ? { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 48 } : undefined;

interface Task {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

interface Slot {
  worker: Worker;
  tasks: Map<number, Task>;
  /** Calls not yet posted: they leave together once this turn of the event loop ends. */
  outbox: SignerCall[];
}

/**
 * Worker threads that do the CPU work of signing (CSR checks, DER, signatures, key generation),
 * so the main thread only serves HTTP and writes the database. Each call goes to the worker with
 * the fewest calls in flight; a worker that dies fails its calls and is replaced.
 */
export class SignerPool implements SignerLike {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closing = false;
  private flushScheduled = false;
  /** The config generations a worker spawned now must know: those that calls in flight may name. */
  private configs: ConfigDocumentGeneration[];

  private constructor(
    private readonly data: SignerWorkerData,
    private readonly onError: (error: unknown) => void,
  ) {
    this.configs = [{ generation: 0, document: data.configDocument }];
  }

  /** Starts `size` workers and waits until each has loaded the CA and the config (generation 0). */
  static async start(size: number, data: SignerWorkerData, onError: (error: unknown) => void = () => {}): Promise<SignerPool> {
    const pool = new SignerPool(data, onError);
    await Promise.all(Array.from({ length: size }, () => pool.spawn()));
    return pool;
  }

  private spawn(): Promise<void> {
    const { caCertificate, caKey, label } = this.data;
    const workerData: SignerThreadData = { caCertificate, caKey, label, configs: this.configs };
    const worker = new Worker(workerEntry, { workerData, resourceLimits: workerHeap });
    const slot: Slot = { worker, tasks: new Map(), outbox: [] };
    this.slots.push(slot);
    return new Promise((resolve, reject) => {
      worker.on("message", (message: SignerReply[] | { ready: true }) => {
        if ("ready" in message) return resolve();
        for (const reply of message) {
          const task = slot.tasks.get(reply.id);
          if (!task) continue;
          slot.tasks.delete(reply.id);
          if ("value" in reply) task.resolve(reply.value);
          else if ("kind" in reply.error) task.reject(new CertwrightError(reply.error.kind, reply.error.message));
          else task.reject(new Error(`signer worker: ${reply.error.internal}`));
        }
      });
      worker.on("error", (error) => {
        this.onError(error);
        reject(error);
      });
      worker.on("exit", (code) => {
        this.slots.splice(this.slots.indexOf(slot), 1);
        for (const task of slot.tasks.values()) task.reject(new Error(`signer worker exited with code ${code}`));
        if (!this.closing) this.spawn().catch(this.onError);
      });
    });
  }

  private call<T>(method: SignerCall["method"], args: unknown[], slot = this.slots.reduce((best, s) => (s.tasks.size < best.tasks.size ? s : best))): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      slot.tasks.set(id, { resolve: resolve as (value: unknown) => void, reject });
      slot.outbox.push({ id, method, args } as SignerCall);
      this.scheduleFlush();
    });
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
        this.post(slot, calls);
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
      slot.worker.postMessage(calls);
    } catch (error) {
      if (calls.length > 1) {
        for (const call of calls) this.post(slot, [call]);
        return;
      }
      this.onError(error);
      const task = slot.tasks.get(calls[0]!.id);
      slot.tasks.delete(calls[0]!.id);
      task?.reject(new CertwrightError("invalidRequest", "the request could not be handed to a signer thread (a value nested too deeply or too large); send it without free-form fields such as metadata"));
    }
  }

  sign(request: SignRequest, generation?: number): Promise<SignedCertificate> {
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
    await Promise.all(this.slots.map((slot) => this.call("useConfig", [entry], slot)));
  }

  reissue(certificatePem: string): Promise<{ pem: string; serialNumber: string }> {
    return this.call("reissue", [certificatePem]);
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }
}
