// A worker thread that signs: it loads the CA and the signing config itself (a parsed config holds
// regular expressions and address lists, which do not cross threads) and answers SignerLike calls.
// A reload sends the new config document, which the thread parses and keeps beside the older
// generations that requests in flight may still name.
import { parentPort, workerData } from "node:worker_threads";
import { CertwrightError } from "../errors.js";
import { loadCertificateAuthority } from "../pki/ca.js";
import { parseSigningConfig } from "../profiles/signing-config.js";
import { lowerThreadPriority } from "../thread-priority.js";
import { Signer } from "./signer.js";

/** What SignerPool.start needs: the CA's PEM and the signing config document it starts with. */
export interface SignerWorkerData {
  caCertificate: string;
  caKey: string;
  label: string;
  configDocument: unknown;
}

/** One generation of the signing config, as a document. */
export interface ConfigDocumentGeneration {
  generation: number;
  document: unknown;
}

/** What a thread starts with: the CA, and the config generations kept so far, oldest first. */
export interface SignerThreadData {
  caCertificate: string;
  caKey: string;
  label: string;
  configs: ConfigDocumentGeneration[];
}

export type SignerCall =
  | { id: number; method: "sign" | "newCert" | "reissue"; args: unknown[] }
  | { id: number; method: "useConfig"; args: [ConfigDocumentGeneration] }
  | { id: number; method: "describeCertificate"; args: [string] };

export type SignerReply =
  | { id: number; value: unknown }
  | { id: number; error: { kind: CertwrightError["kind"]; message: string } | { internal: string } };

// Signing is the stage that can always use more CPU; the HTTP thread and the database writer,
// which answer and record what it signed, go first when they have work, so certificates already
// signed do not wait behind new ones (and the CPU they leave is still all signing's).
lowerThreadPriority(5);

const data = workerData as SignerThreadData;
const [first, ...later] = data.configs;
const signer = new Signer(
  await loadCertificateAuthority(data.caCertificate, data.caKey, data.label),
  parseSigningConfig(first!.document),
  undefined,
  first!.generation,
);
for (const { generation, document } of later) await signer.useConfig(generation, parseSigningConfig(document));
const port = parentPort!;

async function answer(call: SignerCall): Promise<unknown> {
  if (call.method === "useConfig") {
    const [{ generation, document }] = call.args;
    return signer.useConfig(generation, parseSigningConfig(document));
  }
  if (call.method === "describeCertificate") {
    // certinfo: parsing a PEM of up to 64 KiB with @peculiar/x509 takes tens of milliseconds,
    // which on the HTTP thread every other request waited for. Loaded on first use, as there.
    const { describeCertificate, parseCertificatePem } = await import("../pki/describe.js");
    return describeCertificate(parseCertificatePem(call.args[0]));
  }
  return (signer[call.method] as (...a: unknown[]) => Promise<unknown>).apply(signer, call.args);
}

/** Replies settled since the last flush: they go back together, as the calls came (see SignerPool). */
let outbox: SignerReply[] = [];
let flushScheduled = false;

function flush(): void {
  if (outbox.length === 0) return;
  port.postMessage(outbox);
  outbox = [];
}

function queueReply(reply: SignerReply): void {
  outbox.push(reply);
  if (flushScheduled) return;
  // After the calls that settle in this turn (every sign does), one message carries them all.
  flushScheduled = true;
  setImmediate(() => {
    flushScheduled = false;
    flush();
  });
}

/**
 * How many calls of a batch run before their replies leave: the HTTP thread records and answers
 * those while this thread signs the rest, so neither waits for a whole batch.
 */
const callsPerReply = 4;

async function settle(call: SignerCall): Promise<SignerReply> {
  const { id } = call;
  try {
    return { id, value: await answer(call) };
  } catch (error) {
    return error instanceof CertwrightError
      ? { id, error: { kind: error.kind, message: error.message } }
      : { id, error: { internal: error instanceof Error ? (error.stack ?? error.message) : String(error) } };
  }
}

/** Calls received and not started yet, across messages, in the order they came. */
const waiting: SignerCall[] = [];
let running = false;

// Calls start in the order they came, a message's and the next one's alike; each reply is queued
// as soon as it settles, so a call that waits (a key being generated) does not hold back the others.
async function run(): Promise<void> {
  running = true;
  for (let started = 1; waiting.length > 0; started++) {
    void settle(waiting.shift()!).then(queueReply);
    if (started % callsPerReply === 0 && waiting.length > 0) {
      // A turn of the event loop lets the replies so far settle; then they leave at once.
      await new Promise(setImmediate);
      flush();
    }
  }
  running = false;
}

port.on("message", (calls: SignerCall[]) => {
  waiting.push(...calls);
  if (!running) void run();
});
port.postMessage({ ready: true });
