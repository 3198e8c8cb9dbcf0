// CA keys kept encrypted at rest (PKCS#8 with PBES2, as `openssl genpkey -aes256` writes them):
// decrypted into memory once at start, never written back in the clear.
import { createPrivateKey } from "node:crypto";

/** Whether a PEM private key is encrypted: PKCS#8 `ENCRYPTED PRIVATE KEY`, or OpenSSL's legacy `Proc-Type: 4,ENCRYPTED`. */
export function isEncryptedKeyPem(pem: string): boolean {
  return /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/.test(pem);
}

export class WrongPassphraseError extends Error {
  override name = "WrongPassphraseError";
}

/** The key as unencrypted PKCS#8 PEM, for this process's memory only. */
export function decryptKeyPem(pem: string, passphrase: string): string {
  try {
    return createPrivateKey({ key: pem, format: "pem", passphrase }).export({ format: "pem", type: "pkcs8" }).toString();
  } catch (cause) {
    throw new WrongPassphraseError("the passphrase does not decrypt it (a wrong passphrase, or a damaged key)", { cause });
  }
}

/** Encrypted PKCS#8 PEM (AES-256-CBC, PBKDF2 with HMAC-SHA256): what `openssl pkey -in KEY -aes256` writes. */
export function encryptKeyPem(pem: string, passphrase: string): string {
  return createPrivateKey({ key: pem, format: "pem" }).export({ format: "pem", type: "pkcs8", cipher: "aes-256-cbc", passphrase }).toString();
}
