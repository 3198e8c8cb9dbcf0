// --ca-config: several CAs by label, as cfssl's multirootca serves them. Each is loaded as --ca and
// --ca-key load one (a key file, encrypted or not, or a pkcs11: URI), with its own chain and, if it
// names one, its own signing config (else --config's).
import { dirname, isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { isPkcs11Uri } from "../../keys/pkcs11-uri.js";
import type { CaUrls } from "../../pki/certificate.js";
import type { CaChain } from "../../pki/chain.js";
import type { ServeOptions } from "../options.js";
import { StartupError } from "../startup-error.js";
import { loadCa, loadPkcs11Ca, openCaChain, readPassphrase, type LoadedCa } from "./ca-files.js";
import { rootsFileDocument, RootsFileError } from "./multiroot-roots.js";
import { readStartupFile } from "./read-file.js";

/** A CA as --ca-config names it, its paths resolved against the file's directory. */
export interface CaConfigEntry {
  label: string;
  certificate: string;
  /** A key file, or a pkcs11: URI. */
  key: string;
  bundle: string | undefined;
  /** Its own CRL distribution point and issuer URLs, in place of the profiles'. */
  urls: CaUrls | undefined;
  /** Its own signing config file; undefined: it signs under --config. */
  config: string | undefined;
}

/** What --ca-config names: the CAs, the default first. */
export interface CaConfig {
  file: string;
  entries: CaConfigEntry[];
  /** The CA whose CRL is also at /crl/default.crl: what a single-CA service published there. */
  defaultCrl: string;
}

/** A loaded CA with its chain. */
export interface ServedCa {
  ca: LoadedCa;
  chain: CaChain;
}

/** The CAs --ca-config names, loaded, the default first. */
export interface ServedCas {
  cas: ServedCa[];
  /** The label of the CA whose CRL is also at /crl/default.crl. */
  defaultCrl: string;
  /** The signing config files of the CAs that have their own, by label. */
  configs: Map<string, string>;
}

/** Letters, digits, `.`, `_` and `-`: a label is also a CRL's file name (/crl/LABEL.crl). */
const labelPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const entrySchema = z.strictObject({
  certificate: z.string().min(1),
  key: z.string().min(1),
  bundle: z.string().min(1).optional(),
  config: z.string().min(1).optional(),
  crl_url: z.url().optional(),
  issuer_urls: z.array(z.url()).optional(),
});

const caConfigSchema = z.strictObject({
  default: z.string().min(1),
  default_crl: z.string().min(1).optional(),
  cas: z.record(z.string(), z.unknown()),
});

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const path = issue.path.join(".");
  if (issue.code === "unrecognized_keys") {
    return `${path ? `${path}: ` : ""}unknown field(s) ${issue.keys.join(", ")}`;
  }
  return `${path || "the file"}: ${issue.message}`;
}

/**
 * Reads and checks --ca-config: JSON, or cfssl multirootca's roots file (INI). A CA whose `config`
 * is `signingConfig` (--config) signs under it as a CA without one does, reloaded as one file. A bad
 * file stops the start, naming the field at fault.
 */
export function readCaConfig(file: string, signingConfig?: string): CaConfig {
  const text = readStartupFile(file, "CA config (--ca-config)");
  let document: unknown;
  // Our JSON is an object; anything else is taken for a roots file, which says what is wrong with it.
  if (!/^\s*\{/.test(text)) {
    try {
      document = rootsFileDocument(text);
    } catch (error) {
      if (error instanceof RootsFileError) throw new StartupError(`--ca-config ${file} (a multirootca roots file): ${error.message}`);
      throw error;
    }
  } else {
    try {
      document = JSON.parse(text);
    } catch (error) {
      throw new StartupError(`--ca-config ${file}: not JSON (${(error as Error).message})`);
    }
  }
  const parsed = caConfigSchema.safeParse(document);
  if (!parsed.success) {
    throw new StartupError(`--ca-config ${file}: ${firstIssue(parsed.error)}; expected {"default": LABEL, "cas": {LABEL: {"certificate": FILE, "key": FILE or pkcs11: URI, "bundle": FILE, "config": FILE}}}`);
  }
  const base = dirname(file);
  const at = (path: string) => (isAbsolute(path) ? path : resolve(base, path));
  const entries: CaConfigEntry[] = [];
  for (const [label, value] of Object.entries(parsed.data.cas)) {
    if (!labelPattern.test(label)) {
      throw new StartupError(`--ca-config ${file}: cas.${label}: a label is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (it names the CRL /crl/LABEL.crl)`);
    }
    if (label === "default") throw new StartupError(`--ca-config ${file}: cas.default: "default" names the default CA's CRL (/crl/default.crl); give this CA another label`);
    const entry = entrySchema.safeParse(value);
    if (!entry.success) throw new StartupError(`--ca-config ${file}: cas.${label}.${firstIssue(entry.error)}`);
    const { certificate, key, bundle, config, crl_url: crlUrl, issuer_urls: issuerUrls } = entry.data;
    const ownConfig = config === undefined ? undefined : at(config);
    entries.push({
      label,
      certificate: at(certificate),
      key: isPkcs11Uri(key) ? key : at(key),
      bundle: bundle === undefined ? undefined : at(bundle),
      urls: crlUrl === undefined && issuerUrls === undefined ? undefined : { crlUrl, issuerUrls },
      config: ownConfig === undefined || (signingConfig !== undefined && ownConfig === resolve(signingConfig)) ? undefined : ownConfig,
    });
  }
  const first = entries.find((entry) => entry.label === parsed.data.default);
  if (!first) {
    throw new StartupError(`--ca-config ${file}: default: "${parsed.data.default}" is not one of the CAs (${entries.map((entry) => `"${entry.label}"`).join(", ") || "none"})`);
  }
  const defaultCrl = parsed.data.default_crl ?? first.label;
  if (!entries.some((entry) => entry.label === defaultCrl)) {
    throw new StartupError(`--ca-config ${file}: default_crl: "${defaultCrl}" is not one of the CAs (${entries.map((entry) => `"${entry.label}"`).join(", ")})`);
  }
  return { file, entries: [first, ...entries.filter((entry) => entry !== first)], defaultCrl };
}

/**
 * Loads every CA --ca-config names, the default first. The passphrase file and the PKCS#11 module
 * and PIN flags serve every CA that needs them.
 */
export async function openCaConfig(
  options: Pick<ServeOptions, "caConfig" | "config" | "caKeyPassphraseFile" | "pkcs11Module" | "pkcs11PinFile" | "pkcs11PinCredential">,
  note: (message: string) => void,
  warn: (message: string) => void,
): Promise<ServedCas> {
  const config = readCaConfig(options.caConfig!, options.config);
  const passphrase = readPassphrase(options.caKeyPassphraseFile);
  const served: ServedCa[] = [];
  const seen = new Map<string, string>();
  for (const entry of config.entries) {
    const source = `--ca-config ${config.file} "${entry.label}"`;
    const loaded = isPkcs11Uri(entry.key)
      ? await loadPkcs11Ca(entry.certificate, entry.key, options, entry.label)
      : await loadCa(entry.certificate, entry.key, passphrase, note, entry.label);
    const twin = seen.get(loaded.ca.subjectKeyId);
    if (twin !== undefined) {
      throw new StartupError(`--ca-config ${config.file}: "${entry.label}" and "${twin}" are the same CA (subject key id ${loaded.ca.subjectKeyId}); name each CA once`);
    }
    seen.set(loaded.ca.subjectKeyId, entry.label);
    if (entry.urls) loaded.ca.urls = entry.urls;
    const ca: LoadedCa = { ...loaded, source, created: [] };
    served.push({ ca, chain: openCaChain({ caBundle: entry.bundle }, ca, warn, `${source} bundle`) });
  }
  note(`serving ${served.length} CA(s) from ${config.file}: ${served.map(({ ca }) => `"${ca.ca.label}"`).join(", ")}, "${served[0]!.ca.ca.label}" the default`);
  const configs = new Map(config.entries.filter((entry) => entry.config !== undefined).map((entry) => [entry.label, entry.config!]));
  for (const [label, file] of configs) note(`CA "${label}" signs under its own signing config ${file}`);
  return { cas: served, defaultCrl: config.defaultCrl, configs };
}
