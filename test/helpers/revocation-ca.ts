// CAs and leaves for the revocation tests (CRL, OCSP), made with the service's own issuance code;
// the tests then judge what they build with the openssl command line. Kept apart from app.ts so
// these pure-core tests load no HTTP code.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCertificateAuthority } from "../../src/pki/ca.js";
import { createSelfSignedCa, issueCertificate, type CertificateAuthority, type SignedCertificate } from "../../src/pki/certificate.js";
import { emptySans, splitHosts } from "../../src/pki/hosts.js";
import { defaultKeySpec, generatePrivateKey, type KeySpec, type PrivateKey } from "../../src/pki/keys.js";
import { buildName, subjectFieldsFromRequest } from "../../src/pki/subject.js";
import { parseSigningConfig } from "../../src/profiles/signing-config.js";

/** A self-signed CA of `spec`, valid for a year from `now` (backdated 5 minutes, as cfssl does). */
export async function testCa(spec: KeySpec, cn: string, now = new Date()): Promise<{ ca: CertificateAuthority; pem: string }> {
  const key = await generatePrivateKey(spec);
  const subject = buildName(subjectFieldsFromRequest({ CN: cn, names: [{ O: "certwright tests" }] }));
  const { pem } = createSelfSignedCa({ subject, sans: emptySans(), key, expiryMs: 365 * 86_400_000, pathLength: undefined }, now);
  return { ca: await loadCertificateAuthority(pem, key.pem, "", now), pem };
}

/** A leaf issued by `ca` for the host `cn`, with cfssl usage names (server auth by default). */
export async function issueLeaf(
  ca: CertificateAuthority,
  cn: string,
  usages: string[] = ["digital signature", "key encipherment", "server auth"],
  now = new Date(),
): Promise<SignedCertificate & { key: PrivateKey; serial: bigint }> {
  const key = await generatePrivateKey(defaultKeySpec);
  const profile = parseSigningConfig({ signing: { default: { usages, expiry: "24h" } } }).defaultProfile;
  const subject = buildName(subjectFieldsFromRequest({ CN: cn }));
  const issued = issueCertificate(ca, { subject, spki: key.spki, sans: splitHosts([cn]), profile }, now);
  return { ...issued, key, serial: BigInt(issued.serialNumber) };
}

export function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "certwright-test-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `content` (text or DER) to `dir/name` and returns the path. */
export function writeFile(dir: string, name: string, content: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** Runs the openssl command line, the independent verifier. */
export function openssl(args: string[]) {
  const result = spawnSync("openssl", args, { encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, output: result.stdout + result.stderr };
}
