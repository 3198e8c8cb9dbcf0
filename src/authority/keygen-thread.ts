// A key generation thread. It lowers its own scheduling priority first, so RSA generation uses
// the CPU that signing and HTTP leave idle, never the other way round.
import { generateKeyPairSync } from "node:crypto";
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort } from "node:worker_threads";

try {
  // On Linux a thread's id (from /proc/thread-self) can be given to setpriority.
  const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
  setPriority(tid, 15);
} catch {
  // Elsewhere the thread keeps the process's priority.
}

parentPort!.on("message", ({ id, size }: { id: number; size: number }) => {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: size, publicExponent: 65537 });
  parentPort!.postMessage({ id, pem: privateKey.export({ format: "pem", type: "pkcs8" }) });
});
