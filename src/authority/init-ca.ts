import { CertwrightError } from "../errors.js";
import { createSelfSignedCa } from "../pki/certificate.js";
import { splitHosts } from "../pki/hosts.js";
import { generatePrivateKey, parseKeySpec } from "../pki/keys.js";
import { buildName, isEmptySubject, subjectFieldsFromRequest } from "../pki/subject.js";
import { parseDuration } from "../profiles/duration.js";
import type { CsrRequest } from "../schemas/wire.js";

/** cfssl's default CA lifetime: five years. */
export const defaultCaExpiry = "43800h";

/**
 * Makes a self-signed CA from a cfssl CSR JSON (`CN`, `names`, `hosts`, `key`, `ca`), as
 * `cfssl gencert -initca` does: ECDSA P-256 unless `key` says otherwise, `ca.expiry` (default
 * 43800h), `ca.pathlen` / `ca.pathlenzero` for the path length constraint.
 */
export async function initCa(request: CsrRequest, now: Date): Promise<{ certificate: string; private_key: string }> {
  const fields = subjectFieldsFromRequest({ CN: request.CN, names: request.names });
  if (isEmptySubject(fields)) {
    throw new CertwrightError("csrInvalid", "a CA needs a subject: set CN or names");
  }
  const expiry = request.ca?.expiry || defaultCaExpiry;
  const expiryMs = parseDuration(expiry);
  if (expiryMs === undefined || expiryMs <= 0) {
    throw new CertwrightError("invalidRequest", `ca.expiry: "${expiry}" is not a positive duration like "43800h"`);
  }
  // X.509 times end at 9999-12-31T23:59:59Z (RFC 5280 4.1.2.5.2).
  if (now.getTime() + expiryMs > Date.UTC(9999, 11, 31, 23, 59, 59)) {
    throw new CertwrightError("invalidRequest", `ca.expiry: "${expiry}" would end after the year 9999, which X.509 cannot express`);
  }
  const pathlen = request.ca?.pathlen ?? 0;
  const pathLength = pathlen > 0 ? pathlen : request.ca?.pathlenzero ? 0 : undefined;
  const sans = splitHosts(request.hosts ?? []);
  const key = await generatePrivateKey(parseKeySpec(request.key));
  const { pem } = await createSelfSignedCa({ subject: buildName(fields), sans, key, expiryMs, pathLength }, now);
  return { certificate: pem, private_key: key.pem };
}
