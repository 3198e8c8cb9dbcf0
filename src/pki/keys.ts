import { createPrivateKey, createPublicKey, generateKeyPair, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import { CertwrightError } from "../errors.js";
import { children, derNull, expectTag, oid, oidToString, readWhole, sequence, Tag } from "./der.js";
import { encodePem } from "./pem.js";

const generateKeyPairAsync = promisify(generateKeyPair);

export type KeyAlgorithm = "ecdsa" | "rsa" | "ed25519";

/** A key type and size, as cfssl's `key` object names them (`{"algo":"ecdsa","size":256}`). */
export interface KeySpec {
  algo: KeyAlgorithm;
  size: number;
}

const ecdsaCurves: Record<number, string> = { 256: "P-256", 384: "P-384", 521: "P-521" };
const curveSizes: Record<string, number> = { "prime256v1": 256, "P-256": 256, "secp384r1": 384, "P-384": 384, "secp521r1": 521, "P-521": 521 };
const rsaSizes = [2048, 3072, 4096];

export const acceptedKeys = "ecdsa with size 256, 384 or 521; rsa with size 2048, 3072 or 4096; ed25519";

/**
 * The largest RSA modulus read at all, in bits: a profile may allow up to this many
 * (`policy.keys.max_rsa_size`; 4096 by default). Beyond it, checking one CSR's signature costs
 * more than a thousand ordinary ones.
 */
export const maxRsaModulus = 8192;

/**
 * What makes an RSA public key no key at all, or undefined. An even public exponent has no
 * inverse, and with e = 1 the "signature" is the padded digest itself, which anyone can forge;
 * an even modulus cannot be a product of two large primes.
 */
function rsaKeyProblem(size: number, exponent: bigint, modulusIsOdd: boolean): string | undefined {
  if (size < 2048) return `rsa key of ${size} bits is too weak; accepted keys: ${acceptedKeys}`;
  if (size > maxRsaModulus) return `rsa key of ${size} bits is larger than the ${maxRsaModulus} bits the service reads; accepted keys: ${acceptedKeys}`;
  if (exponent < 3n || exponent % 2n === 0n) {
    return `rsa key with public exponent ${exponent} is not a valid RSA key (the exponent must be odd and at least 3; 65537 is the usual one)`;
  }
  if (!modulusIsOdd) return "rsa key with an even modulus is not a valid RSA key";
  return undefined;
}

/** cfssl's default key: ECDSA P-256. */
export const defaultKeySpec: KeySpec = { algo: "ecdsa", size: 256 };

/**
 * Checks a requested key type. `algo` is case-insensitive; `size` defaults to 256 for ecdsa and
 * 2048 for rsa, as cfssl's defaults do, and is ignored for ed25519.
 */
export function parseKeySpec(request: { algo?: string | undefined; size?: number | undefined } | null | undefined): KeySpec {
  if (!request || request.algo === undefined || request.algo === "") {
    if (request?.size) {
      throw new CertwrightError("unsupportedKey", `key: "size" given without "algo"; accepted keys: ${acceptedKeys}`);
    }
    return defaultKeySpec;
  }
  const algo = request.algo.toLowerCase();
  if (algo === "ecdsa") {
    const size = request.size || 256;
    if (!ecdsaCurves[size]) {
      throw new CertwrightError("unsupportedKey", `key: ecdsa size ${size} is not accepted; accepted keys: ${acceptedKeys}`);
    }
    return { algo, size };
  }
  if (algo === "rsa") {
    const size = request.size || 2048;
    if (!rsaSizes.includes(size)) {
      const why = size < 2048 ? "is too weak" : "is not accepted";
      throw new CertwrightError("unsupportedKey", `key: rsa size ${size} ${why}; accepted keys: ${acceptedKeys}`);
    }
    return { algo, size };
  }
  if (algo === "ed25519") {
    return { algo, size: 0 };
  }
  throw new CertwrightError("unsupportedKey", `key: algo "${request.algo}" is not accepted; accepted keys: ${acceptedKeys}`);
}

/** How a key of this spec signs: the hash (chosen by size or curve, as cfssl does) and the X.509 AlgorithmIdentifier. */
export interface SignatureAlgorithm {
  /** Node's digest name, or null for Ed25519, which hashes internally. */
  hash: string | null;
  /** The DER AlgorithmIdentifier written into certificates and CSRs. */
  identifier: Uint8Array;
}

const rsaOids: Record<string, string> = { sha256: "1.2.840.113549.1.1.11", sha384: "1.2.840.113549.1.1.12", sha512: "1.2.840.113549.1.1.13" };
const ecdsaOids: Record<string, string> = { sha256: "1.2.840.10045.4.3.2", sha384: "1.2.840.10045.4.3.3", sha512: "1.2.840.10045.4.3.4" };

export function signatureAlgorithmFor(spec: KeySpec): SignatureAlgorithm {
  switch (spec.algo) {
    case "rsa": {
      const hash = spec.size >= 4096 ? "sha512" : spec.size >= 3072 ? "sha384" : "sha256";
      // RSA's AlgorithmIdentifier carries explicit NULL parameters (RFC 4055 2.1).
      return { hash, identifier: sequence(oid(rsaOids[hash]!), derNull) };
    }
    case "ecdsa": {
      const hash = spec.size === 521 ? "sha512" : spec.size === 384 ? "sha384" : "sha256";
      return { hash, identifier: sequence(oid(ecdsaOids[hash]!)) };
    }
    case "ed25519":
      return { hash: null, identifier: sequence(oid("1.3.101.112")) };
  }
}

/** Signs `data` with `key` as its AlgorithmIdentifier says: DER ECDSA signatures, PKCS#1 v1.5 for RSA. */
export function signData(key: PrivateKey, data: Uint8Array): Buffer {
  if (key.sign) return key.sign(data);
  return sign(signatureAlgorithmFor(key.spec).hash, data, key.keyObject);
}

/**
 * signData for the HTTP thread: a key in a PKCS#11 module signs off the event loop (an HSM's
 * signature can take milliseconds to tens of them, and every request would wait for it); a key
 * the process holds signs at once, as signData does (well under a millisecond).
 */
export async function signDataAsync(key: PrivateKey, data: Uint8Array): Promise<Buffer> {
  if (key.signAsync) return key.signAsync(data);
  return signData(key, data);
}

/**
 * Where a thread finds a key held in a PKCS#11 module: the `pkcs11:` URI naming it, the module's
 * shared library, and the user PIN (read once by the main thread; never logged).
 */
export interface Pkcs11KeyReference {
  uri: string;
  module: string;
  pin: string | undefined;
  /** Where the PIN came from, for messages: "the PIN file pin.txt". */
  pinFrom: string | undefined;
}

/**
 * A private key ready to sign, with its public half and the PEM it was read from or written to.
 * A key held in a PKCS#11 module has no PEM (empty), its public key as `keyObject`, and `sign`.
 */
export interface PrivateKey {
  spec: KeySpec;
  /** PKCS#1 for RSA, SEC1 for ECDSA, PKCS#8 for Ed25519: the forms cfssl writes. Empty for a key in a module. */
  pem: string;
  /** The private key; for a key in a PKCS#11 module, its public key. */
  keyObject: KeyObject;
  /** The DER SubjectPublicKeyInfo of its public half. */
  spki: Uint8Array;
  /** Signs as signData does (DER ECDSA, PKCS#1 v1.5), for a key the process does not hold. */
  sign?: (data: Uint8Array) => Buffer;
  /** The same, with the module's work off the event loop (libuv's thread pool). */
  signAsync?: (data: Uint8Array) => Promise<Buffer>;
  /** How another thread opens this key, when it is held in a PKCS#11 module. */
  pkcs11?: Pkcs11KeyReference;
}

/**
 * Generates a key of the given spec. RSA generation (tens of milliseconds or more) runs on libuv's
 * pool, off the event loop; an EC or Ed25519 key takes about as long as one signature, less than
 * the hand-off to another thread would cost, so it is made here.
 */
export async function generatePrivateKey(spec: KeySpec): Promise<PrivateKey> {
  let privateKey: KeyObject;
  try {
    if (spec.algo === "rsa") {
      ({ privateKey } = await generateKeyPairAsync("rsa", { modulusLength: spec.size, publicExponent: 65537 }));
    } else if (spec.algo === "ecdsa") {
      ({ privateKey } = generateKeyPairSync("ec", { namedCurve: ecdsaCurves[spec.size]! }));
    } else {
      ({ privateKey } = generateKeyPairSync("ed25519"));
    }
  } catch (cause) {
    throw new CertwrightError("keyGenerationFailed", `could not generate a ${spec.algo} key`, { cause });
  }
  return wrapPrivateKey(privateKey, spec);
}

/**
 * Reads a private key in PKCS#1, SEC1 or PKCS#8 PEM. Throws a plain Error (the caller names the
 * file) when the key is encrypted, unreadable or of a type the service cannot sign with.
 */
export function loadPrivateKey(pem: string): PrivateKey {
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey({ key: pem, format: "pem" });
  } catch (cause) {
    if (/ENCRYPTED/.test(pem)) {
      throw new Error("the private key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN)", { cause });
    }
    throw new Error("not a PEM private key (PKCS#1, SEC1 or PKCS#8)", { cause });
  }
  return wrapPrivateKey(keyObject, keySpecOf(keyObject));
}

/** Describes a public or private key, refusing types and sizes outside `acceptedKeys`. */
export function keySpecOf(key: KeyObject): KeySpec {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === "rsa") {
    const size = details.modulusLength ?? 0;
    // OpenSSL would not have read an RSA key with an even modulus; the exponent it reads as it is.
    const problem = rsaKeyProblem(size, details.publicExponent ?? 0n, true);
    if (problem) throw new CertwrightError("unsupportedKey", problem);
    return { algo: "rsa", size };
  }
  if (type === "ec") {
    const size = curveSizes[details.namedCurve ?? ""];
    if (!size) {
      throw new CertwrightError("unsupportedKey", `ecdsa curve ${details.namedCurve} is not accepted; accepted keys: ${acceptedKeys}`);
    }
    return { algo: "ecdsa", size };
  }
  if (type === "ed25519") {
    return { algo: "ed25519", size: 0 };
  }
  throw new CertwrightError("unsupportedKey", `key type ${type} is not accepted; accepted keys: ${acceptedKeys}`);
}

const curveOids: Record<string, { crv: string; size: number }> = {
  "1.2.840.10045.3.1.7": { crv: "P-256", size: 256 },
  "1.3.132.0.34": { crv: "P-384", size: 384 },
  "1.3.132.0.35": { crv: "P-521", size: 521 },
};

const base64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

/**
 * Imports a DER SubjectPublicKeyInfo for verifying, with its spec. Accepted key types go through
 * JWK, which Node imports several times faster than DER (OpenSSL 3's decoders are slow); anything
 * else takes the general path, which refuses what is not in `acceptedKeys`.
 */
export function publicKeyFromSpki(spki: Uint8Array): { key: KeyObject; spec: KeySpec } {
  const cacheKey = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength).toString("latin1");
  const cached = importedKeys.get(cacheKey);
  if (cached) {
    // Refreshed as most recently used: a Map iterates in insertion order.
    importedKeys.delete(cacheKey);
    importedKeys.set(cacheKey, cached);
    return cached;
  }
  const imported = importPublicKey(spki);
  if (seenOnce.delete(cacheKey)) {
    importedKeys.set(cacheKey, imported);
    if (importedKeys.size > importedKeysKept) importedKeys.delete(importedKeys.keys().next().value!);
  } else {
    if (seenOnce.size >= seenOnceKept) seenOnce.clear();
    seenOnce.add(cacheKey);
  }
  return imported;
}

/**
 * Public keys imported lately, by their exact SPKI bytes. OpenSSL 3 validates a public key fully
 * when it is imported (for EC, a scalar multiplication as costly as the signature check itself) and
 * converts it again on its first use, so a key seen again (a client that retries, renews with the
 * same key, or sends the same CSR) is verified with the KeyObject made before. Holding a public key
 * is harmless; the signature is still checked on every request.
 *
 * Only a key that comes back is kept (`seenOnce` is the doorkeeper). Most requests bring a key
 * never seen before, and a KeyObject kept even briefly outlives V8's young generation; its OpenSSL
 * memory (about 6 KB, which V8 does not count) then waits for a full collection. Keeping every key
 * grew the service by over 100 MB under a stream of new keys (measured: 225 → 349 MB).
 */
const importedKeys = new Map<string, { key: KeyObject; spec: KeySpec }>();
export const importedKeysKept = 1024;
/**
 * Keys seen once lately, as strings only; forgotten all at once when it fills. Half the cache's
 * size: keys that come back in turn are kept only when all of them fit, so they never churn it.
 */
const seenOnce = new Set<string>();
const seenOnceKept = importedKeysKept / 2;

function importPublicKey(spki: Uint8Array): { key: KeyObject; spec: KeySpec } {
  try {
    const [algorithm, bits] = children(readWhole(spki, Tag.sequence).value);
    const [id, params] = children(expectTag(algorithm, Tag.sequence, "algorithm").value);
    const type = oidToString(expectTag(id, Tag.oid, "algorithm id").value);
    const key = expectTag(bits, Tag.bitString, "subjectPublicKey").value.subarray(1);
    if (type === "1.2.840.10045.2.1" && params?.tag === Tag.oid) {
      const curve = curveOids[oidToString(params.value)];
      const half = (key.length - 1) / 2;
      if (curve && key[0] === 0x04 && Number.isInteger(half)) {
        const jwk = { kty: "EC", crv: curve.crv, x: base64url(key.subarray(1, 1 + half)), y: base64url(key.subarray(1 + half)) };
        return { key: createPublicKey({ key: jwk, format: "jwk" }), spec: { algo: "ecdsa", size: curve.size } };
      }
    } else if (type === "1.2.840.113549.1.1.1") {
      const [n, e] = children(readWhole(key, Tag.sequence).value);
      let modulus = expectTag(n, Tag.integer, "modulus").value;
      while (modulus.length > 1 && modulus[0] === 0) modulus = modulus.subarray(1);
      const size = (modulus.length - 1) * 8 + (32 - Math.clz32(modulus[0]!));
      const exponent = expectTag(e, Tag.integer, "exponent").value;
      // A negative exponent (its top bit set) reads as 0 here, and is refused with the rest.
      const exponentValue = exponent.length === 0 || exponent[0]! & 0x80 ? 0n : BigInt(`0x${Buffer.from(exponent).toString("hex")}`);
      const problem = rsaKeyProblem(size, exponentValue, (modulus[modulus.length - 1]! & 1) === 1);
      if (problem) throw new CertwrightError("unsupportedKey", problem);
      const jwk = { kty: "RSA", n: base64url(modulus), e: base64url(exponent) };
      return { key: createPublicKey({ key: jwk, format: "jwk" }), spec: { algo: "rsa", size } };
    } else if (type === "1.3.101.112" && key.length === 32) {
      return { key: createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: base64url(key) }, format: "jwk" }), spec: { algo: "ed25519", size: 0 } };
    }
  } catch (error) {
    if (error instanceof CertwrightError) throw error;
    // Not what the fast path reads: let OpenSSL judge it below.
  }
  const key = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  return { key, spec: keySpecOf(key) };
}

function wrapPrivateKey(keyObject: KeyObject, spec: KeySpec): PrivateKey {
  if (spec.algo === "ecdsa") {
    const sec1 = new Uint8Array(keyObject.export({ format: "der", type: "sec1" }));
    return { spec, pem: encodePem("EC PRIVATE KEY", sec1), keyObject, spki: spkiFromSec1(sec1) };
  }
  const spki = new Uint8Array(createPublicKey(keyObject).export({ format: "der", type: "spki" }));
  const pem = keyObject.export({ format: "pem", type: spec.algo === "rsa" ? "pkcs1" : "pkcs8" }).toString();
  return { spec, pem, keyObject, spki };
}

/**
 * An EC key's SubjectPublicKeyInfo, from its SEC 1 ECPrivateKey DER (RFC 5915), which carries the
 * curve and the public point. OpenSSL 3's SPKI encoder costs about 120 µs a key, as much as the
 * rest of an ECDSA newcert; the SEC 1 export about 11. (Not from the JWK export, which is cheaper
 * still: Node 20 can deadlock exporting a freshly generated key's JWK when a garbage collection
 * runs during the export.) Tests compare the bytes with OpenSSL's.
 */
export function spkiFromSec1(sec1: Uint8Array): Uint8Array {
  const [, , parameters, publicKey] = children(readWhole(sec1, Tag.sequence).value);
  const [curve] = children(expectTag(parameters, 0xa0, "EC parameters").value);
  const [point] = children(expectTag(publicKey, 0xa1, "EC public key").value);
  return sequence(sequence(oid("1.2.840.10045.2.1"), expectTag(curve, Tag.oid, "named curve").raw), expectTag(point, Tag.bitString, "public point").raw);
}

const spkiAlgorithms: Record<string, KeyAlgorithm> = {
  "1.2.840.113549.1.1.1": "rsa",
  "1.2.840.10045.2.1": "ecdsa",
  "1.3.101.112": "ed25519",
};

/** The key type a DER SubjectPublicKeyInfo names, from its algorithm OID alone (no import). */
export function keyAlgorithmOfSpki(spki: Uint8Array): KeyAlgorithm | undefined {
  const [algorithm] = children(readWhole(spki, Tag.sequence).value);
  const [id] = children(expectTag(algorithm, Tag.sequence, "algorithm").value);
  return spkiAlgorithms[oidToString(expectTag(id, Tag.oid, "algorithm id").value)];
}
