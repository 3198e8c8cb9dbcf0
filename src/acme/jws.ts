// The JWS of ACME requests (RFC 8555 6.2): flattened JSON serialization only, a protected header
// only, one of the accepted algorithms, and a key that fits the algorithm. Everything a request's
// envelope can get wrong is refused here, before any of its content is read.
import { base64url, calculateJwkThumbprint, flattenedVerify, importJWK, type FlattenedJWS, type JWK } from "jose";
import { AcmeProblem } from "./problems.js";

/** The account key algorithms accepted: what certbot, lego, acme.sh and cert-manager use. */
export const acceptedAlgorithms = ["ES256", "ES384", "RS256", "EdDSA"] as const;
export type AcceptedAlgorithm = (typeof acceptedAlgorithms)[number];

/** RSA account keys below this size are refused (badPublicKey). */
const minRsaBits = 2048;

/** The protected header of an ACME request, checked for shape. */
export interface AcmeProtectedHeader {
  alg: AcceptedAlgorithm;
  nonce?: string | undefined;
  url?: string | undefined;
  kid?: string | undefined;
  jwk?: JWK | undefined;
}

/** A request's JWS, its header decoded and its payload bytes not yet trusted. */
export interface DecodedJws {
  jws: FlattenedJWS;
  header: AcmeProtectedHeader;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reads a request body as a flattened JWS and decodes its protected header (RFC 8555 6.2). */
export function decodeJws(body: unknown): DecodedJws {
  if (!isObject(body)) throw new AcmeProblem("malformed", "the request body must be a JWS in flattened JSON serialization: {\"protected\", \"payload\", \"signature\"}");
  if ("signatures" in body) throw new AcmeProblem("malformed", "a JWS in general JSON serialization (\"signatures\") is not accepted; send the flattened serialization");
  if ("header" in body) throw new AcmeProblem("malformed", "the JWS has an unprotected header; every header parameter must be in \"protected\"");
  for (const field of ["protected", "payload", "signature"] as const) {
    if (typeof body[field] !== "string") throw new AcmeProblem("malformed", `the JWS has no "${field}" string`);
  }
  const extra = Object.keys(body).filter((key) => !["protected", "payload", "signature"].includes(key));
  if (extra.length > 0) throw new AcmeProblem("malformed", `the JWS has unknown members: ${extra.join(", ")}`);
  const jws = body as unknown as FlattenedJWS;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(base64url.decode(jws.protected!)));
  } catch {
    throw new AcmeProblem("malformed", "the JWS protected header is not base64url-encoded JSON");
  }
  if (!isObject(header)) throw new AcmeProblem("malformed", "the JWS protected header is not a JSON object");
  const alg = header.alg;
  if (typeof alg !== "string" || !(acceptedAlgorithms as readonly string[]).includes(alg)) {
    throw new AcmeProblem("badSignatureAlgorithm", `alg ${JSON.stringify(alg ?? null)} is not accepted; use one of ${acceptedAlgorithms.join(", ")}`, {
      algorithms: [...acceptedAlgorithms],
    });
  }
  for (const field of ["nonce", "url", "kid"] as const) {
    if (header[field] !== undefined && typeof header[field] !== "string") throw new AcmeProblem("malformed", `the protected header's "${field}" must be a string`);
  }
  if (header.jwk !== undefined && !isObject(header.jwk)) throw new AcmeProblem("malformed", "the protected header's \"jwk\" must be a JSON object");
  if (Array.isArray(header.crit)) throw new AcmeProblem("malformed", "the protected header's \"crit\" parameters are not supported");
  return { jws, header: header as unknown as AcmeProtectedHeader };
}

/** The public members of a JWK, by key type: what is stored and thumbprinted (RFC 7638). */
const publicMembers: Record<string, readonly string[]> = {
  EC: ["kty", "crv", "x", "y"],
  RSA: ["kty", "n", "e"],
  OKP: ["kty", "crv", "x"],
};

/**
 * Checks that a JWK is a public key of a type and size the server accepts and that fits `alg`, and
 * returns its public members only. Private members are refused: a client that sends them has leaked its key.
 */
export function publicAccountKey(jwk: unknown, alg: AcceptedAlgorithm): JWK {
  if (!isObject(jwk) || typeof jwk.kty !== "string") throw new AcmeProblem("malformed", "the JWK has no \"kty\"");
  if ("d" in jwk || "p" in jwk) throw new AcmeProblem("badPublicKey", "the JWK holds a private key; send the public key only (and make a new key: this one has been disclosed)");
  const members = publicMembers[jwk.kty];
  if (!members) throw new AcmeProblem("badPublicKey", `key type ${jwk.kty} is not accepted; use an EC (P-256, P-384), RSA (2048 bits or more) or Ed25519 key`);
  for (const member of members) {
    if (typeof jwk[member] !== "string" || jwk[member] === "") throw new AcmeProblem("malformed", `the ${jwk.kty} JWK has no "${member}"`);
  }
  const fits =
    (alg === "ES256" && jwk.kty === "EC" && jwk.crv === "P-256") ||
    (alg === "ES384" && jwk.kty === "EC" && jwk.crv === "P-384") ||
    (alg === "RS256" && jwk.kty === "RSA") ||
    (alg === "EdDSA" && jwk.kty === "OKP" && jwk.crv === "Ed25519");
  if (!fits) {
    throw new AcmeProblem("badSignatureAlgorithm", `alg ${alg} does not go with a ${jwk.kty} key${typeof jwk.crv === "string" ? ` on ${jwk.crv}` : ""}`, {
      algorithms: [...acceptedAlgorithms],
    });
  }
  if (jwk.kty === "RSA") {
    const bits = rsaModulusBits(jwk.n as string);
    if (bits < minRsaBits) throw new AcmeProblem("badPublicKey", `RSA key of ${bits} bits; use at least ${minRsaBits}`);
  }
  return Object.fromEntries(members.map((member) => [member, jwk[member]])) as JWK;
}

function rsaModulusBits(n: string): number {
  let bytes: Uint8Array;
  try {
    bytes = base64url.decode(n);
  } catch {
    throw new AcmeProblem("malformed", "the RSA JWK's \"n\" is not base64url");
  }
  let first = 0;
  while (first < bytes.length && bytes[first] === 0) first++;
  if (first === bytes.length) return 0;
  return (bytes.length - first - 1) * 8 + (32 - Math.clz32(bytes[first]!));
}

/** RFC 7638 SHA-256 thumbprint of a public JWK, base64url: the account key's identity. */
export function thumbprintOf(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint(jwk, "sha256");
}

/**
 * Verifies the JWS signature with `jwk` under the header's algorithm and returns the payload
 * bytes. A signature that does not verify is `malformed` (RFC 8555 6.2 names no other type).
 */
export async function verifyJws(decoded: DecodedJws, jwk: JWK): Promise<Uint8Array> {
  let key: Awaited<ReturnType<typeof importJWK>>;
  try {
    key = await importJWK(jwk, decoded.header.alg);
  } catch (error) {
    throw new AcmeProblem("badPublicKey", `the account key cannot be used: ${(error as Error).message}`);
  }
  try {
    const { payload } = await flattenedVerify(decoded.jws, key, { algorithms: [decoded.header.alg] });
    return payload;
  } catch {
    throw new AcmeProblem("malformed", "the JWS signature does not verify with the account key");
  }
}

/** A JWS payload as JSON: "" is POST-as-GET (undefined); anything else must be a JSON object. */
export function payloadJson(payload: Uint8Array): Record<string, unknown> | undefined {
  if (payload.length === 0) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch {
    throw new AcmeProblem("malformed", "the JWS payload is not JSON");
  }
  if (!isObject(value)) throw new AcmeProblem("malformed", "the JWS payload must be a JSON object (or empty, for POST-as-GET)");
  return value;
}
