// A key generation thread. It lowers its own scheduling priority first, so RSA generation uses
// the CPU that signing and HTTP leave idle, never the other way round.
import { generateKeyPairSync } from "node:crypto";
import { lowerThreadPriority } from "../threads/priority.js";
import { serveApi } from "../threads/rpc.js";

lowerThreadPriority(15);

const keygenApi = {
  /** A fresh RSA private key of `size` bits, PKCS#8 PEM. */
  generate(size: number): string {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: size, publicExponent: 65537 });
    return privateKey.export({ format: "pem", type: "pkcs8" }) as string;
  },
};

/** What a key generation thread does, called through KeyPool. */
export type KeygenApi = typeof keygenApi;

serveApi(keygenApi);
