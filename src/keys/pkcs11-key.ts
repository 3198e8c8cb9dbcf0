// A CA key held in a PKCS#11 module (an HSM, a smart card, SoftHSM2), signing through pkcs11js.
// Each thread that signs opens its own session: a session runs one operation at a time, and a
// thread signs synchronously, one signature after another, so one session per thread never waits.
// The HTTP thread (OCSP answers, readiness) signs asynchronously instead, in a second session whose
// signatures run one after another on libuv's thread pool while the event loop serves requests.
import { createHash, randomBytes, verify } from "node:crypto";
import pkcs11js from "pkcs11js";
import type { PKCS11, Template } from "pkcs11js";
import { sequence, unsignedInteger } from "../pki/der.js";
import { publicKeyFromSpki, signatureAlgorithmFor, type KeySpec, type Pkcs11KeyReference, type PrivateKey } from "../pki/keys.js";
import { describeKey, parsePkcs11Uri, type Pkcs11Uri } from "./pkcs11-uri.js";

type Handle = Buffer;

/**
 * The modules this thread has loaded, by path. A module's state (C_Initialize, the login) belongs
 * to the process, shared by every thread, so it is initialized once here and never finalized: a
 * signer thread that stops must not end the sessions of the others.
 */
const loadedModules = new Map<string, PKCS11>();

/** Errors after which the session is gone (the token was reset or reconnected): open another and retry once. */
const sessionLost = new Set([
  pkcs11js.CKR_SESSION_HANDLE_INVALID,
  pkcs11js.CKR_SESSION_CLOSED,
  pkcs11js.CKR_USER_NOT_LOGGED_IN,
  pkcs11js.CKR_DEVICE_REMOVED,
  pkcs11js.CKR_TOKEN_NOT_PRESENT,
  pkcs11js.CKR_OBJECT_HANDLE_INVALID,
  pkcs11js.CKR_KEY_HANDLE_INVALID,
]);

function codeOf(error: unknown): number | undefined {
  return error instanceof pkcs11js.Pkcs11Error ? error.code : undefined;
}

function loadModule(path: string): PKCS11 {
  const loaded = loadedModules.get(path);
  if (loaded) return loaded;
  const module = new pkcs11js.PKCS11();
  try {
    module.load(path);
  } catch (error) {
    throw new Error(`PKCS#11 module ${path} cannot be loaded (${(error as Error).message}); give the module's shared library with --pkcs11-module (libsofthsm2.so for SoftHSM2)`);
  }
  try {
    // OS locking: several threads of this process call the module at once.
    module.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (error) {
    if (codeOf(error) !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      throw new Error(`PKCS#11 module ${path} does not initialize (${(error as Error).message})`);
    }
  }
  loadedModules.set(path, module);
  return module;
}

const text = (padded: string) => padded.replace(/[\s\0]+$/, "");

/** A CK_ULONG attribute's value, in the machine's byte order (little-endian where Node runs). */
const ulong = (bytes: Buffer) => Number(bytes.length === 8 ? bytes.readBigUInt64LE(0) : BigInt(bytes.readUIntLE(0, bytes.length)));

function findSlot(module: PKCS11, uri: Pkcs11Uri, modulePath: string): { slot: Handle; label: string; loginRequired: boolean } {
  // A free slot (SoftHSM2 always keeps one) holds a token not initialized yet: no key is there.
  const tokens = module
    .C_GetSlotList(true)
    .map((slot) => {
      const info = module.C_GetTokenInfo(slot);
      return { slot, label: text(info.label), serial: text(info.serialNumber), flags: info.flags };
    })
    .filter((token) => (token.flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0);
  const matching = tokens.filter(
    (token) =>
      (uri.token === undefined || token.label === uri.token) &&
      (uri.serial === undefined || token.serial === uri.serial) &&
      (uri.slotId === undefined || token.slot.readBigUInt64LE(0) === uri.slotId),
  );
  const wanted = [uri.token !== undefined && `labelled "${uri.token}"`, uri.serial !== undefined && `with serial ${uri.serial}`, uri.slotId !== undefined && `in slot ${uri.slotId}`]
    .filter(Boolean)
    .join(" ");
  const found = tokens.map((token) => `"${token.label}" (serial ${token.serial})`).join(", ") || "none";
  if (matching.length === 0) throw new Error(`no token ${wanted || "at all"} in PKCS#11 module ${modulePath}; tokens found: ${found}`);
  if (matching.length > 1) throw new Error(`${matching.length} tokens ${wanted || "in all"} in PKCS#11 module ${modulePath} (${found}); name one with token= and serial= in the URI`);
  const [token] = matching;
  return { slot: token!.slot, label: token!.label, loginRequired: (token!.flags & pkcs11js.CKF_LOGIN_REQUIRED) !== 0 };
}

/** A session on the token, logged in as its user. */
function openSession(module: PKCS11, slot: Handle, token: string, loginRequired: boolean, reference: Pkcs11KeyReference): Handle {
  const session = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
  if (reference.pin === undefined) {
    if (!loginRequired) return session;
    module.C_CloseSession(session);
    throw new Error(`token "${token}" needs its user PIN: give a file holding it with --pkcs11-pin-file, or pin-source=file:/path in the URI`);
  }
  try {
    module.C_Login(session, pkcs11js.CKU_USER, reference.pin);
  } catch (error) {
    const code = codeOf(error);
    // The login belongs to the process: another thread (or an earlier session) logged in already.
    if (code === pkcs11js.CKR_USER_ALREADY_LOGGED_IN) return session;
    module.C_CloseSession(session);
    if (code === pkcs11js.CKR_PIN_INCORRECT) throw new Error(`${reference.pinFrom ?? "the PIN"} is not the user PIN of token "${token}" (CKR_PIN_INCORRECT)`);
    if (code === pkcs11js.CKR_PIN_LOCKED) throw new Error(`token "${token}"'s user PIN is locked after too many wrong tries (CKR_PIN_LOCKED); its security officer must unlock it`);
    throw new Error(`cannot log in to token "${token}" (${(error as Error).message})`);
  }
  return session;
}

function findObjects(module: PKCS11, session: Handle, template: Template): Handle[] {
  module.C_FindObjectsInit(session, template);
  try {
    const found: Handle[] = [];
    for (let batch = module.C_FindObjects(session, 64); batch.length > 0; batch = module.C_FindObjects(session, 64)) found.push(...batch);
    return found;
  } finally {
    module.C_FindObjectsFinal(session);
  }
}

function findPrivateKey(module: PKCS11, session: Handle, uri: Pkcs11Uri, token: string): Handle {
  const template: Template = [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }];
  if (uri.object !== undefined) template.push({ type: pkcs11js.CKA_LABEL, value: uri.object });
  if (uri.id !== undefined) template.push({ type: pkcs11js.CKA_ID, value: uri.id });
  const found = findObjects(module, session, template);
  if (found.length === 1) return found[0]!;
  const keys = findObjects(module, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }]).map((handle) => {
    const [label, id] = module.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_LABEL }, { type: pkcs11js.CKA_ID }]);
    return `"${label?.value?.toString("utf8") ?? ""}" (id ${label && id?.value ? id.value.toString("hex") : "none"})`;
  });
  const listed = `private keys on it: ${keys.join(", ") || "none"}`;
  if (found.length === 0) throw new Error(`no private key with ${describeKey(uri)} on token "${token}"; ${listed}`);
  throw new Error(`${found.length} private keys with ${describeKey(uri)} on token "${token}"; name one with both object= and id= in the URI; ${listed}`);
}

/** The DER DigestInfo prefix before a hash, for RSA PKCS#1 v1.5 signatures made with CKM_RSA_PKCS (RFC 8017 9.2). */
const digestInfoPrefix: Record<string, Buffer> = {
  sha256: Buffer.from("3031300d060960864801650304020105000420", "hex"),
  sha384: Buffer.from("3041300d060960864801650304020205000430", "hex"),
  sha512: Buffer.from("3051300d060960864801650304020305000440", "hex"),
};

const keyTypes: Partial<Record<KeySpec["algo"], number>> = { rsa: pkcs11js.CKK_RSA, ecdsa: pkcs11js.CKK_EC };

/**
 * What the token is asked to sign and how: the hash is computed here and the token signs it bare
 * (CKM_ECDSA, CKM_RSA_PKCS over a DigestInfo), which every module offers, whatever hash-and-sign
 * mechanisms it has; and the data never crosses to the token, only its hash.
 */
function signingMethod(spec: KeySpec) {
  const hash = signatureAlgorithmFor(spec).hash!;
  const bytes = Math.ceil(spec.size / 8);
  if (spec.algo === "rsa") {
    return {
      mechanism: { mechanism: pkcs11js.CKM_RSA_PKCS },
      input: (data: Uint8Array) => Buffer.concat([digestInfoPrefix[hash]!, createHash(hash).update(data).digest()]),
      outputLength: bytes,
      toDer: (raw: Buffer) => raw,
    };
  }
  return {
    mechanism: { mechanism: pkcs11js.CKM_ECDSA },
    input: (data: Uint8Array) => createHash(hash).update(data).digest(),
    outputLength: 2 * bytes,
    // PKCS#11 gives r and s side by side; X.509 wants ECDSA-Sig-Value, a SEQUENCE of two INTEGERs (RFC 3279 2.2.3).
    toDer: (raw: Buffer) => {
      const half = raw.length / 2;
      return Buffer.from(sequence(unsignedInteger(raw.subarray(0, half)), unsignedInteger(raw.subarray(half))));
    },
  };
}

/**
 * Opens the key a `pkcs11:` URI names, in a session of this thread, for the CA certificate whose
 * DER SubjectPublicKeyInfo is `certificateSpki`. The key must be the certificate's: a signature it
 * makes here must verify with the certificate's public key. Throws a plain Error of one line naming
 * what to fix: the module, the token (with those found), the PIN, the key (with those found).
 */
export function openPkcs11Key(reference: Pkcs11KeyReference, certificateSpki: Uint8Array): PrivateKey {
  const uri = parsePkcs11Uri(reference.uri);
  const { key: publicKey, spec } = publicKeyFromSpki(certificateSpki);
  const keyType = keyTypes[spec.algo];
  // Ed25519 is the one other type: CKM_EDDSA came with PKCS#11 3.0, which few modules speak yet.
  if (keyType === undefined) throw new Error("an Ed25519 key in a PKCS#11 module cannot sign here (CKM_EDDSA is PKCS#11 3.0); use an ECDSA or RSA key");
  const module = loadModule(reference.module);
  const { slot, label: token, loginRequired } = findSlot(module, uri, reference.module);
  const method = signingMethod(spec);

  const open = () => {
    const session = openSession(module, slot, token, loginRequired, reference);
    try {
      const handle = findPrivateKey(module, session, uri, token);
      const [type, alwaysAuthenticate] = module.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_KEY_TYPE }, { type: pkcs11js.CKA_ALWAYS_AUTHENTICATE }]);
      const typeCode = type?.value ? ulong(type.value) : undefined;
      if (typeCode !== keyType) {
        const name = typeCode === pkcs11js.CKK_RSA ? "an RSA key" : typeCode === pkcs11js.CKK_EC ? "an EC key" : `a key of type ${typeCode}`;
        throw new Error(`it does not belong to the CA certificate: the token's key with ${describeKey(uri)} is ${name}, the certificate's is ${spec.algo}`);
      }
      return { session, handle, contextLogin: alwaysAuthenticate?.value?.[0] === 1 };
    } catch (error) {
      module.C_CloseSession(session);
      throw error;
    }
  };
  type SessionState = ReturnType<typeof open>;
  /** A session the token dropped, closed in case it was not: the caller opens another. */
  const close = (dropped: SessionState) => {
    try {
      module.C_CloseSession(dropped.session);
    } catch {
      // Gone already: that is why a new one is opened.
    }
  };
  const lost = (error: unknown) => {
    const code = codeOf(error);
    return code !== undefined && sessionLost.has(code);
  };
  const begin = (state: SessionState) => {
    module.C_SignInit(state.session, method.mechanism, state.handle);
    // A key marked CKA_ALWAYS_AUTHENTICATE wants the PIN again for each signature.
    if (state.contextLogin && reference.pin !== undefined) module.C_Login(state.session, pkcs11js.CKU_CONTEXT_SPECIFIC, reference.pin);
  };

  let state = open();
  const signOnce = (input: Buffer) => {
    begin(state);
    return module.C_Sign(state.session, input, Buffer.alloc(method.outputLength));
  };
  const sign = (data: Uint8Array): Buffer => {
    const input = method.input(data);
    let raw: Buffer;
    try {
      raw = signOnce(input);
    } catch (error) {
      if (!lost(error)) throw error;
      close(state);
      state = open();
      raw = signOnce(input);
    }
    return method.toDer(raw);
  };

  // The asynchronous path has a session of its own, opened on first use: a synchronous signature
  // (a certificate issued on this thread with --workers 0) must never find the session busy with
  // an asynchronous one. Its signatures are queued, as a session runs one operation at a time.
  let asyncState: SessionState | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  const signOnceAsync = (input: Buffer) => {
    asyncState ??= open();
    begin(asyncState);
    return module.C_SignAsync(asyncState.session, input, Buffer.alloc(method.outputLength));
  };
  const signAsync = (data: Uint8Array): Promise<Buffer> => {
    const input = method.input(data);
    const signed = queue.then(async () => {
      let raw: Buffer;
      try {
        raw = await signOnceAsync(input);
      } catch (error) {
        if (!lost(error) || !asyncState) throw error;
        close(asyncState);
        asyncState = undefined;
        raw = await signOnceAsync(input);
      }
      return method.toDer(raw);
    });
    queue = signed.catch(() => {});
    return signed;
  };

  const probe = randomBytes(32);
  if (!verify(signatureAlgorithmFor(spec).hash, probe, publicKey, sign(probe))) {
    throw new Error(`it does not belong to the CA certificate: a signature by the token's key with ${describeKey(uri)} does not verify with the certificate's public key`);
  }
  return { spec, pem: "", keyObject: publicKey, spki: certificateSpki, sign, signAsync, pkcs11: reference };
}
