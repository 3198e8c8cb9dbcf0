// cfssl multirootca's roots file (`-roots`), read into --ca-config's form so such a file serves
// as it is: an INI section per label, with `private = file://KEY`, `certificate = CERT` and
// `config = SIGNING-CONFIG`. Paths are as multirootca reads them: relative to the working directory.
import { resolve } from "node:path";
import { isPkcs11Uri } from "../../keys/pkcs11-uri.js";

/** Where a line of the file is wrong, and what to do about it. */
export class RootsFileError extends Error {}

/** The sections of an INI file, in order: `[ name ]` then `key = value` lines; `#` and `;` start comments. */
function iniSections(text: string): [string, Map<string, string>][] {
  const sections: [string, Map<string, string>][] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const section = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (section) {
      sections.push([section[1]!, new Map()]);
      continue;
    }
    const pair = /^([A-Za-z_][\w-]*)\s*[=:]\s*(.*)$/.exec(line);
    if (!pair) throw new RootsFileError(`line ${index + 1}: "${line}" is not [label] or key = value`);
    const current = sections[sections.length - 1];
    if (!current) throw new RootsFileError(`line ${index + 1}: ${pair[1]} comes before any [label] section`);
    current[1].set(pair[1]!.toLowerCase(), pair[2]!.trim());
  }
  return sections;
}

/**
 * The roots file as --ca-config's document: its first section is the default CA (multirootca's
 * `-l LABEL`: put that section first), and each section's `config` is that CA's signing config
 * (without one, it signs under --config). `nets` (an address allow-list this service does not
 * enforce per CA) and keys that are not files or pkcs11: URIs are refused rather than ignored.
 */
export function rootsFileDocument(text: string): unknown {
  const sections = iniSections(text);
  if (sections.length === 0) throw new RootsFileError("no [label] section: name each CA in a section of its own");
  const cas: Record<string, unknown> = {};
  for (const [label, values] of sections) {
    for (const key of values.keys()) {
      if (!["private", "certificate", "config", "dbconfig"].includes(key)) {
        const hint = key === "nets" ? ": per-CA client networks are not enforced here; restrict who reaches the service (a firewall, --mutual-tls-ca) and remove it" : "";
        throw new RootsFileError(`[${label}] ${key}: not supported${hint}`);
      }
    }
    const config = values.get("config");
    if (config === "") throw new RootsFileError(`[${label}] config: name the CA's signing config file, or remove the line to sign under --config`);
    if (values.has("dbconfig")) throw new RootsFileError(`[${label}] dbconfig: certificates are recorded in --database (or the data directory's certs.db) for every CA; remove it`);
    const privateKey = values.get("private");
    const certificate = values.get("certificate");
    if (!privateKey || !certificate) throw new RootsFileError(`[${label}]: give both private = file://KEY and certificate = CERT`);
    let key: string;
    if (isPkcs11Uri(privateKey)) key = privateKey;
    else if (privateKey.startsWith("file://")) key = resolve(privateKey.slice("file://".length));
    else if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(privateKey)) key = resolve(privateKey);
    else throw new RootsFileError(`[${label}] private ${privateKey}: only file:// keys and pkcs11: URIs are supported`);
    cas[label] = { certificate: resolve(certificate), key, ...(config === undefined ? {} : { config: resolve(config) }) };
  }
  return { default: sections[0]![0], cas };
}
