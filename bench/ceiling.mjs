// Crypto baselines on one core with Node's crypto, printed as one JSON line.
//   node bench/ceiling.mjs [seconds] [ecdsa|rsa]
// ecdsa (default): the crypto ceiling of one sign request, one ECDSA P-256 signature check (the
//                  CSR) and one ECDSA P-256 signature (the certificate) per op.
// rsa:             RSA-2048 key generations per second (generateKeyPairSync in a loop).
import { generateKeyPairSync, sign, verify } from "node:crypto";

const seconds = Number(process.argv[2] ?? 3);
const mode = process.argv[3] ?? "ecdsa";

if (mode === "rsa") {
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 0x10001 });
    n++;
    elapsed = performance.now() - start;
  } while (elapsed < seconds * 1000);
  console.log(JSON.stringify({ rsa2048_keygen_per_second: Number(((n * 1000) / elapsed).toFixed(2)) }));
} else if (mode === "ecdsa") {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const data = Buffer.alloc(400, 7);
  const signature = sign("sha256", data, privateKey);
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) {
      verify("sha256", data, publicKey, signature);
      sign("sha256", data, privateKey);
    }
    n += 100;
  }
  console.log(JSON.stringify({ ceiling_per_second: Math.round((n * 1000) / (performance.now() - start)) }));
} else {
  console.error(`ceiling.mjs: unknown mode "${mode}" (ecdsa or rsa)`);
  process.exit(2);
}
