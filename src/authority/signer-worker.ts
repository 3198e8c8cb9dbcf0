// A worker thread that signs: it loads the CA and the signing config itself (a parsed config holds
// regular expressions and address lists, which do not cross threads) and answers SignerLike calls.
import { parentPort, workerData } from "node:worker_threads";
import { CertwrightError } from "../errors.js";
import { loadCertificateAuthority } from "../pki/ca.js";
import { parseSigningConfig } from "../profiles/signing-config.js";
import { Signer, type SignerLike } from "./signer.js";

export interface SignerWorkerData {
  caCertificate: string;
  caKey: string;
  label: string;
  configDocument: unknown;
}

export interface SignerCall {
  id: number;
  method: keyof SignerLike;
  args: unknown[];
}

export type SignerReply =
  | { id: number; value: unknown }
  | { id: number; error: { kind: CertwrightError["kind"]; message: string } | { internal: string } };

const data = workerData as SignerWorkerData;
const signer = new Signer(
  await loadCertificateAuthority(data.caCertificate, data.caKey, data.label),
  parseSigningConfig(data.configDocument),
);
const port = parentPort!;

port.on("message", async ({ id, method, args }: SignerCall) => {
  let reply: SignerReply;
  try {
    reply = { id, value: await (signer[method] as (...a: unknown[]) => Promise<unknown>).apply(signer, args) };
  } catch (error) {
    reply =
      error instanceof CertwrightError
        ? { id, error: { kind: error.kind, message: error.message } }
        : { id, error: { internal: error instanceof Error ? (error.stack ?? error.message) : String(error) } };
  }
  port.postMessage(reply);
});
port.postMessage({ ready: true });
