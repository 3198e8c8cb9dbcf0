// Account creation's inputs (RFC 8555 7.3): the contact URLs, and the external account binding
// that ties a new account to one of the config's HMAC keys (7.3.4).
import { base64url, calculateJwkThumbprint, flattenedVerify, type JWK } from "jose";
import type { AcmeProvisioner } from "../profiles/acme-config.js";
import { thumbprintOf } from "./jws.js";
import { AcmeProblem } from "./problems.js";

/** The contact URLs of an account: mailto: only, as RFC 8555 7.3 lets a server require. */
export function readContact(raw: unknown): string[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw) || raw.some((entry) => typeof entry !== "string")) throw new AcmeProblem("malformed", "contact: must be an array of URLs");
  if (raw.length > 10) throw new AcmeProblem("malformed", "contact: at most 10 URLs");
  for (const entry of raw as string[]) {
    if (!/^mailto:[^\s@,?]+@[^\s@,?]+$/i.test(entry)) {
      throw new AcmeProblem("unsupportedContact", `contact ${JSON.stringify(entry)}: only mailto: URLs of one address, without headers, are accepted`);
    }
  }
  return raw as string[];
}

/**
 * RFC 8555 7.3.4: a JWS by an HMAC key of auth_keys (its name the kid), over the account key,
 * for this URL. Returns the key's name, which the account keeps.
 */
export async function verifyExternalAccountBinding(provisioner: AcmeProvisioner, authKeys: ReadonlyMap<string, Buffer>, binding: unknown, accountJwk: JWK, url: string): Promise<string> {
  const eab = binding as Record<string, unknown>;
  if (typeof eab !== "object" || eab === null || ["protected", "payload", "signature"].some((field) => typeof eab[field] !== "string")) {
    throw new AcmeProblem("malformed", "externalAccountBinding: must be a flattened JWS {\"protected\", \"payload\", \"signature\"}");
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(base64url.decode(eab.protected as string)));
  } catch {
    throw new AcmeProblem("malformed", "externalAccountBinding: the protected header is not base64url JSON");
  }
  if (typeof header.alg !== "string" || !["HS256", "HS384", "HS512"].includes(header.alg)) {
    throw new AcmeProblem("malformed", "externalAccountBinding: alg must be HS256, HS384 or HS512 (an HMAC)");
  }
  if (header.nonce !== undefined) throw new AcmeProblem("malformed", "externalAccountBinding: must not have a nonce");
  if (header.url !== url) throw new AcmeProblem("unauthorized", `externalAccountBinding: its url must be ${url}`);
  const kid = header.kid;
  const key = typeof kid === "string" && provisioner.eabKeys.includes(kid) ? authKeys.get(kid) : undefined;
  if (!key) throw new AcmeProblem("unauthorized", `externalAccountBinding: key id ${JSON.stringify(kid ?? null)} is not one of the HMAC keys of provisioner "${provisioner.name}"`);
  let payload: Uint8Array;
  try {
    ({ payload } = await flattenedVerify(eab as { protected: string; payload: string; signature: string }, new Uint8Array(key), { algorithms: [header.alg] }));
  } catch {
    throw new AcmeProblem("unauthorized", `externalAccountBinding: the HMAC does not verify with key "${kid}"`);
  }
  let bound: JWK;
  try {
    bound = JSON.parse(new TextDecoder().decode(payload)) as JWK;
  } catch {
    throw new AcmeProblem("malformed", "externalAccountBinding: its payload is not the account key as a JWK");
  }
  if ((await calculateJwkThumbprint(bound, "sha256").catch(() => "")) !== (await thumbprintOf(accountJwk))) {
    throw new AcmeProblem("unauthorized", "externalAccountBinding: it binds another key than this request's jwk");
  }
  return kid as string;
}
