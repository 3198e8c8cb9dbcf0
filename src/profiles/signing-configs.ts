// The signing configs of a service with several CAs (cfssl multirootca's model, where each CA of
// the roots file names its own `config`): --config's, which every CA without one of its own signs
// under, and the CAs' own by label. One generation of them is reloaded and handed to signer
// threads as a whole, so a request never sees one CA's new config beside another's old one.
import { ConfigError, parseSigningConfig, parseSigningConfigAt, readSigningConfigDocument, type SigningConfig } from "./signing-config.js";

/** The configs as documents, as they cross to signer threads (a parsed config does not). */
export interface SigningConfigDocuments {
  /** --config's document. */
  shared: unknown;
  /** The documents of the CAs that have their own, by label. */
  own?: Record<string, unknown> | undefined;
}

/** Every CA's signing config: its own, or --config's. */
export class SigningConfigs {
  /** `own`: the configs of the CAs that have their own, by label; every other CA signs under `shared`. */
  constructor(
    readonly shared: SigningConfig,
    readonly own: ReadonlyMap<string, SigningConfig> = new Map(),
  ) {}

  /** A config, or configs already, as SigningConfigs. */
  static of(config: SigningConfig | SigningConfigs): SigningConfigs {
    return config instanceof SigningConfigs ? config : new SigningConfigs(config);
  }

  /** The config the CA labelled `label` signs under (its label as served, not a request's empty one). */
  for(label: string): SigningConfig {
    return this.own.get(label) ?? this.shared;
  }

  /**
   * Checks --config's ACME provisioners against the CAs served (`labels`, the default first): each
   * names a CA that is served, and a profile of the config that CA signs under.
   */
  checkAcme(labels: readonly string[]): void {
    for (const provisioner of this.shared.acme.values()) {
      const path = `acme.${provisioner.name}`;
      const label = provisioner.label === "" ? labels[0]! : provisioner.label;
      if (!labels.includes(label)) {
        throw new ConfigError(`${path}.label: "${label}" is not a CA served here (${labels.map((name) => `"${name}"`).join(", ")})`);
      }
      const config = this.for(label);
      if (provisioner.profile !== "default" && !config.profiles.has(provisioner.profile)) {
        const owner = config === this.shared ? "signing" : `CA "${label}"'s own config`;
        throw new ConfigError(`${path}.profile: "${provisioner.profile}" is not a profile of ${owner} (${["default", ...config.profiles.keys()].map((name) => `"${name}"`).join(", ")})`);
      }
    }
  }

  /** The CAs of `labels` grouped by the config they sign under, in the order of `labels`. */
  byConfig(labels: readonly string[]): Map<SigningConfig, string[]> {
    const groups = new Map<SigningConfig, string[]>();
    for (const label of labels) {
      const config = this.for(label);
      groups.set(config, [...(groups.get(config) ?? []), label]);
    }
    return groups;
  }
}

/** Parses the documents of `SigningConfigs` (in a signer thread: they were checked where they were read). */
export function parseSigningConfigs(documents: SigningConfigDocuments): SigningConfigs {
  const shared = parseSigningConfig(documents.shared);
  return new SigningConfigs(shared, new Map(Object.entries(documents.own ?? {}).map(([label, document]) => [label, parseSigningConfig(document)])));
}

/** What `readSigningConfigs` read: the configs parsed, and their documents for signer threads. */
export interface ReadSigningConfigs {
  configs: SigningConfigs;
  documents: SigningConfigDocuments;
}

/**
 * Reads and checks --config (`shared`) and every CA's own config file (`own`, by label), all or
 * nothing. A file that fails throws ConfigError starting with `CA "LABEL": ` for a CA's own file,
 * then the file's path and what is wrong, as for --config. A file named by several CAs is read once,
 * and they share the parsed config.
 */
export function readSigningConfigs(shared: string, own: ReadonlyMap<string, string> = new Map()): ReadSigningConfigs {
  const sharedDocument = readSigningConfigDocument(shared);
  const sharedConfig = parseSigningConfigAt(shared, sharedDocument);
  const read = new Map<string, { document: unknown; config: SigningConfig }>();
  const configs = new Map<string, SigningConfig>();
  const documents: Record<string, unknown> = {};
  for (const [label, path] of own) {
    let file = read.get(path);
    if (!file) {
      try {
        const document = readSigningConfigDocument(path);
        file = { document, config: parseSigningConfigAt(path, document) };
      } catch (error) {
        if (error instanceof ConfigError) throw new ConfigError(`CA "${label}": ${error.message}`);
        throw error;
      }
      read.set(path, file);
    }
    configs.set(label, file.config);
    documents[label] = file.document;
  }
  return {
    configs: new SigningConfigs(sharedConfig, configs),
    documents: { shared: sharedDocument, ...(configs.size > 0 ? { own: documents } : {}) },
  };
}
