// The database writer thread: it owns the connection that commits certificates, so the fsync of
// each group commit (synchronous=FULL) waits here and never stalls the thread that serves HTTP.
import { parentPort, workerData } from "node:worker_threads";
import { CertificateStore, DuplicateSerialError, type NewCertificate } from "./certificate-store.js";

export type WriterReply = { id: number; duplicates: number[] } | { id: number; error: string };

const store = CertificateStore.open((workerData as { path: string }).path);
parentPort!.on("message", ({ id, records }: { id: number; records: NewCertificate[] }) => {
  let reply: WriterReply;
  try {
    const results = store.insertMany(records);
    reply = { id, duplicates: results.flatMap((result, i) => (result instanceof DuplicateSerialError ? [i] : [])) };
  } catch (error) {
    reply = { id, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort!.postMessage(reply);
});
parentPort!.postMessage({ ready: true });
