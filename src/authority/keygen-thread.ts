// A key generation thread. It lowers its own scheduling priority first, so RSA generation uses
// the CPU that signing and HTTP leave idle, never the other way round.
import { generateKeyPairSync } from "node:crypto";
import { parentPort } from "node:worker_threads";
import { lowerThreadPriority } from "../thread-priority.js";

lowerThreadPriority(15);

parentPort!.on("message", ({ id, size }: { id: number; size: number }) => {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: size, publicExponent: 65537 });
  parentPort!.postMessage({ id, pem: privateKey.export({ format: "pem", type: "pkcs8" }) });
});
