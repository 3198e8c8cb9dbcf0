// The CA key as it crosses threads: a PEM, or a pkcs11: URI with the module and the PIN that open it.
// Every thread that signs (the signers, the CRL thread, the main thread for OCSP) opens it itself.
import { loadCertificateAuthority } from "../pki/ca.js";
import type { CertificateAuthority } from "../pki/certificate.js";
import type { PrivateKey } from "../pki/keys.js";
import { isPkcs11Uri } from "./pkcs11-uri.js";

/** What a thread is handed to open the CA key (workerData holds only plain data). */
export interface CaKeyData {
  /** A private key PEM, or a `pkcs11:` URI. */
  caKey: string;
  /** With a URI: the module's shared library and the PIN, read once by the main thread. */
  pkcs11?: { module: string; pin: string | undefined; pinFrom: string | undefined } | undefined;
}

/** The data another thread needs to open `key` again. */
export function caKeyData(key: PrivateKey): CaKeyData {
  if (!key.pkcs11) return { caKey: key.pem };
  const { uri, module, pin, pinFrom } = key.pkcs11;
  return { caKey: uri, pkcs11: { module, pin, pinFrom } };
}

/**
 * The PKCS#11 binding, loaded only when a key is in a module: a native addon (built by node-gyp at
 * npm install) that a service with its key in a file has no use for.
 */
async function loadPkcs11Support(): Promise<typeof import("./pkcs11-key.js").openPkcs11Key> {
  try {
    return (await import("./pkcs11-key.js")).openPkcs11Key;
  } catch (cause) {
    throw new Error(`CA key: PKCS#11 support cannot be loaded (the pkcs11js package, built by node-gyp at npm install with make and a C++ compiler; run npm rebuild pkcs11js): ${(cause as Error).message}`, { cause });
  }
}

/** Loads the CA from its certificate PEM and its key, wherever the key is held (see loadCertificateAuthority). */
export async function openCertificateAuthority(certificatePem: string, key: CaKeyData, label = "", now?: Date): Promise<CertificateAuthority> {
  if (!isPkcs11Uri(key.caKey)) return loadCertificateAuthority(certificatePem, key.caKey, label, now);
  const access = key.pkcs11;
  if (!access) throw new Error("CA key: a pkcs11: URI needs the module's shared library (--pkcs11-module, or module-path in the URI)");
  const openPkcs11Key = await loadPkcs11Support();
  return loadCertificateAuthority(certificatePem, (spki) => openPkcs11Key({ uri: key.caKey, ...access }, spki), label, now);
}
