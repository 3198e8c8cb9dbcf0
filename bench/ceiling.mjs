// The crypto ceiling of one sign request: one ECDSA P-256 signature check (the CSR) and one ECDSA
// P-256 signature (the certificate), in a loop on one core with Node's crypto.
import { generateKeyPairSync, sign, verify } from "node:crypto";

const seconds = Number(process.argv[2] ?? 3);
const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const data = Buffer.alloc(400, 7);
const signature = sign("sha256", data, privateKey);
let n = 0;
const end = performance.now() + seconds * 1000;
while (performance.now() < end) {
  for (let i = 0; i < 100; i++) {
    verify("sha256", data, publicKey, signature);
    sign("sha256", data, privateKey);
  }
  n += 100;
}
console.log(JSON.stringify({ ceiling_per_second: Math.round(n / seconds) }));
