import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { initCa } from "../../authority/init-ca.js";
import { openCertificateAuthority } from "../../keys/ca-key.js";
import { isPkcs11Uri, parsePkcs11Uri } from "../../keys/pkcs11-uri.js";
import { loadCertificateAuthority } from "../../pki/ca.js";
import type { CertificateAuthority } from "../../pki/certificate.js";
import { bareCaChain, checkCaChain, type CaChain } from "../../pki/chain.js";
import { decryptKeyPem, encryptKeyPem, isEncryptedKeyPem } from "../../pki/key-encryption.js";
import { delegatedSigner, type OcspSigner } from "../../pki/ocsp.js";
import { csrRequestSchema } from "../../schemas/wire.js";
import { databaseOfSomeCa, syncDirectory, writeNewFile } from "../data-dir.js";
import { packageRoot, type ServeOptions } from "../options.js";
import { StartupError } from "../startup-error.js";
import { readStartupFile } from "./read-file.js";

/** A loaded CA and the certificate PEM it came from (signer workers load their own copy, and open its key). */
export interface LoadedCa {
  ca: CertificateAuthority;
  certificatePem: string;
  /** Where the certificate came from, as the operator would name it. */
  source: string;
  /** The files this start made (a new CA in the data directory), for a start that fails later to take back. */
  created: string[];
}

/** The passphrase of an encrypted CA key: the first line of --ca-key-passphrase-file. */
export interface Passphrase {
  text: string;
  file: string;
}

export function readPassphrase(file: string | undefined): Passphrase | undefined {
  if (file === undefined) return undefined;
  const text = readStartupFile(file, "CA key passphrase file").split(/\r?\n/)[0]!;
  if (text === "") throw new StartupError(`CA key passphrase file ${file} is empty; put the passphrase on its first line`);
  return { text, file };
}

/** The CA named by --ca and --ca-key, or the data directory's own (made on first start). */
export async function openCa(
  options: Pick<ServeOptions, "ca" | "caKey" | "caKeyPassphraseFile" | "dataDir" | "pkcs11Module" | "pkcs11PinFile" | "pkcs11PinCredential">,
  note: (message: string) => void,
): Promise<LoadedCa> {
  if (options.ca && options.caKey && isPkcs11Uri(options.caKey)) {
    if (options.caKeyPassphraseFile) note(`the CA key is in a PKCS#11 module: the passphrase file ${options.caKeyPassphraseFile} is not used`);
    return { ...(await loadPkcs11Ca(options.ca, options.caKey, options)), source: `--ca ${options.ca}`, created: [] };
  }
  if (options.pkcs11Module || options.pkcs11PinFile) {
    throw new StartupError("--pkcs11-module and --pkcs11-pin-file are for a CA key in a PKCS#11 module: give --ca-key 'pkcs11:token=...;object=...' with them, or leave them out");
  }
  const passphrase = readPassphrase(options.caKeyPassphraseFile);
  if (options.ca && options.caKey) return { ...(await loadCa(options.ca, options.caKey, passphrase, note)), source: `--ca ${options.ca}`, created: [] };
  return dataDirCa(options.dataDir, passphrase, note);
}

/** The user PIN: the first line of its file. */
function readPin(file: string): string {
  const pin = readStartupFile(file, "PKCS#11 PIN file").split(/\r?\n/)[0]!;
  if (pin === "") throw new StartupError(`PKCS#11 PIN file ${file} is empty; put the token's user PIN on its first line`);
  return pin;
}

/**
 * The CA whose key is in a PKCS#11 module. The module and the PIN file come from the flags or from
 * the URI (module-path, pin-source), not both; the PIN is read here once and handed to the threads.
 */
export async function loadPkcs11Ca(
  certPath: string,
  uriText: string,
  options: Pick<ServeOptions, "pkcs11Module" | "pkcs11PinFile" | "pkcs11PinCredential">,
  label = "",
): Promise<Omit<LoadedCa, "source" | "created">> {
  let uri: ReturnType<typeof parsePkcs11Uri>;
  try {
    uri = parsePkcs11Uri(uriText);
  } catch (error) {
    throw new StartupError(`--ca-key: ${(error as Error).message}`);
  }
  if (options.pkcs11Module && uri.modulePath && options.pkcs11Module !== uri.modulePath) {
    throw new StartupError(`--pkcs11-module ${options.pkcs11Module} and the URI's module-path ${uri.modulePath} differ; give the module once`);
  }
  const module = options.pkcs11Module ?? uri.modulePath;
  if (!module) throw new StartupError("--ca-key is a pkcs11: URI: give the module's shared library with --pkcs11-module PATH (or module-path= in the URI)");
  if (options.pkcs11PinFile && uri.pinFile) {
    throw new StartupError(`--pkcs11-pin-file ${options.pkcs11PinFile} and the URI's pin-source ${uri.pinFile} both name the PIN; give it once`);
  }
  const pinFile = options.pkcs11PinFile ?? uri.pinFile ?? options.pkcs11PinCredential;
  const pin = pinFile === undefined ? undefined : readPin(pinFile);
  const certificatePem = readStartupFile(certPath, "CA certificate");
  try {
    const ca = await openCertificateAuthority(certificatePem, { caKey: uriText, pkcs11: { module, pin, pinFrom: pinFile && `the PIN in ${pinFile}` } }, label);
    return { ca, certificatePem };
  } catch (error) {
    throw new StartupError(`${(error as Error).message} (certificate ${certPath}, key ${uriText})`);
  }
}

/**
 * The CA's chain: --ca-bundle checked against the CA (a bad one stops the start, naming the
 * certificate at fault), or the CA alone. An intermediate given alone still starts, with a warning:
 * its certificates verify only for clients that have its issuers already.
 */
export function openCaChain(options: Pick<ServeOptions, "caBundle">, ca: LoadedCa, warn: (message: string) => void, bundleName = "--ca-bundle"): CaChain {
  if (options.caBundle === undefined) {
    const chain = bareCaChain(ca.certificatePem);
    if (chain.root === undefined) {
      warn(
        `the CA (${ca.source}) is not self-signed and no ${bundleName} names its issuers: clients must have the chain up to the root already; give it with ${bundleName}`,
      );
    }
    return chain;
  }
  const text = readStartupFile(options.caBundle, "CA bundle");
  try {
    return checkCaChain(ca.certificatePem, text);
  } catch (error) {
    throw new StartupError(`${bundleName} ${options.caBundle}: ${(error as Error).message}`);
  }
}

/** The delegated OCSP responder named by --responder and --responder-key, if any. */
export function openResponder(options: Pick<ServeOptions, "responder" | "responderKey">, ca: CertificateAuthority): OcspSigner | undefined {
  if (!options.responder || !options.responderKey) return undefined;
  try {
    return delegatedSigner(readStartupFile(options.responder, "OCSP responder certificate"), readStartupFile(options.responderKey, "OCSP responder key"), ca);
  } catch (error) {
    if (error instanceof StartupError) throw error;
    throw new StartupError(`--responder ${options.responder}: ${(error as Error).message}`);
  }
}

/** Takes back the files a failed first start made, so the next start begins afresh. */
export function removeCreated(dataDir: string, created: readonly string[]): void {
  for (const path of created) rmSync(path, { force: true });
  if (created.length > 0) syncDirectory(dataDir);
}

/** The CA key file's PEM, decrypted in memory when it is encrypted. */
function readCaKey(keyPath: string, passphrase: Passphrase | undefined, note: (message: string) => void): string {
  const pem = readStartupFile(keyPath, "CA key");
  if (!isEncryptedKeyPem(pem)) {
    if (passphrase) note(`CA key ${keyPath} is not encrypted: the passphrase from ${passphrase.file} is not used (encrypt it: openssl pkey -in KEY -aes256 -out KEY.enc)`);
    return pem;
  }
  if (!passphrase) {
    throw new StartupError(`CA key ${keyPath} is encrypted; give the file holding its passphrase with --ca-key-passphrase-file (or CERTWRIGHT_CA_KEY_PASSPHRASE_FILE)`);
  }
  try {
    return decryptKeyPem(pem, passphrase.text);
  } catch {
    throw new StartupError(`CA key ${keyPath} cannot be decrypted with the passphrase in ${passphrase.file}: a wrong passphrase, or a damaged key`);
  }
}

export async function loadCa(
  certPath: string,
  keyPath: string,
  passphrase: Passphrase | undefined,
  note: (message: string) => void,
  label = "",
): Promise<Omit<LoadedCa, "source" | "created">> {
  try {
    const certificatePem = readStartupFile(certPath, "CA certificate");
    const keyPem = readCaKey(keyPath, passphrase, note);
    return { ca: await loadCertificateAuthority(certificatePem, keyPem, label), certificatePem };
  } catch (error) {
    if (error instanceof StartupError) throw error;
    throw new StartupError(`${(error as Error).message} (certificate ${certPath}, key ${keyPath})`);
  }
}

/**
 * The CA in the data directory, made on first start from the package's `profiles/ca-csr.json`.
 * Each file is written whole or not at all (a full disk leaves neither), the key first, with mode
 * 0600 and never over an existing file. No CA is made beside a database of another one: those
 * files were lost, and a new CA would silently orphan every certificate recorded there.
 */
async function dataDirCa(dataDir: string, passphrase: Passphrase | undefined, note: (message: string) => void): Promise<LoadedCa> {
  const certPath = join(dataDir, "ca.pem");
  const keyPath = join(dataDir, "ca-key.pem");
  const haveCert = existsSync(certPath);
  const haveKey = existsSync(keyPath);
  if (haveCert && haveKey) return { ...(await loadCa(certPath, keyPath, passphrase, note)), source: certPath, created: [] };
  if (haveCert !== haveKey) {
    throw new StartupError(`${haveCert ? keyPath : certPath} is missing while ${haveCert ? certPath : keyPath} exists; restore it, or move both away to make a new CA`);
  }
  const databasePath = join(dataDir, "certs.db");
  const owner = databaseOfSomeCa(databasePath);
  if (owner) {
    throw new StartupError(
      `${certPath} and ${keyPath} are missing beside ${databasePath}, the database of the CA with subject key id ${owner.caSubjectKeyId ?? "unknown"}; restore both from a backup (no new CA is made over its certificates; to start a new CA, move certs.db away first)`,
    );
  }
  const csrPath = join(packageRoot, "profiles", "ca-csr.json");
  const request = csrRequestSchema.parse(JSON.parse(readStartupFile(csrPath, "CA CSR JSON")));
  const { certificate, private_key } = await initCa(request, new Date());
  const created: string[] = [];
  try {
    writeNewFile(keyPath, passphrase ? encryptKeyPem(private_key, passphrase.text) : private_key, 0o600);
    created.push(keyPath);
    writeNewFile(certPath, certificate, 0o644);
    created.push(certPath);
    syncDirectory(dataDir);
  } catch (error) {
    removeCreated(dataDir, created);
    throw new StartupError(`cannot write a new CA in ${dataDir} (${(error as Error).message}); nothing was left half-made`);
  }
  note(`created a new CA in ${dataDir} (ca.pem, ca-key.pem${passphrase ? ` encrypted with the passphrase in ${passphrase.file}` : ""}) from ${csrPath}`);
  return { ...(await loadCa(certPath, keyPath, passphrase, note)), source: certPath, created };
}
