import { CertwrightError } from "../errors.js";
import { ConfigError } from "../profiles/signing-config.js";
import { readSigningConfigs, type ReadSigningConfigs } from "../profiles/signing-configs.js";
import type { Authority } from "./authority.js";

/** Where a reload says what it did: pino's loggers (the app's, a request's) fit. */
export interface ReloadLog {
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** A reload's answer: the new generation and its profiles (`default` first). */
export interface ReloadResult {
  generation: number;
  /** The default CA's profiles. */
  profiles: string[];
  /** Each CA's profiles, by label, when some CA has a config of its own. */
  cas?: Record<string, string[]>;
}

/**
 * Live reload of the signing configs (SIGHUP, POST /api/v1/admin/reload): re-reads the `--config`
 * file and every CA's own config file and, if every one validates, makes them the authority's
 * current configs together. If any one does not, nothing changes: every CA keeps its old config and
 * the reason, naming the file (and the CA), is logged and thrown (configInvalid, 400). Requests in
 * flight keep the configs they started with.
 */
export class SigningConfigReloader {
  constructor(
    private readonly authority: Authority,
    /** The `--config` file. */
    readonly path: string,
    /** The config files of the CAs that have their own (--ca-config's `config`), by label. */
    readonly own: ReadonlyMap<string, string> = new Map(),
  ) {}

  async reload(log: ReloadLog): Promise<ReloadResult> {
    const paths = [this.path, ...new Set(this.own.values())];
    const where = paths.length > 1 ? { path: this.path, paths } : { path: this.path };
    let read: ReadSigningConfigs;
    try {
      read = readSigningConfigs(this.path, this.own);
      try {
        read.configs.checkAcme(this.authority.cas.all.map((ca) => ca.label));
      } catch (error) {
        throw new ConfigError(`${this.path}: ${(error as Error).message}`);
      }
    } catch (error) {
      const reason = (error as Error).message;
      const stays = paths.length > 1 ? "the old ones stay in use" : "the old one stays in use";
      log.error({ ...where, generation: this.authority.generation }, `signing config not reloaded, ${stays}: ${reason}`);
      throw new CertwrightError("configInvalid", `signing config not reloaded, ${stays}: ${reason}`);
    }
    let generation: number;
    try {
      generation = await this.authority.useConfig(read.configs, read.documents);
    } catch (error) {
      log.error({ ...where, err: error }, "signing config not reloaded, the old one stays in use: the signer threads could not take it");
      throw error;
    }
    const profilesOf = (label: string) => {
      const config = read.configs.for(label);
      return ["default", ...config.profiles.keys()];
    };
    const labels = this.authority.cas.all.map((ca) => ca.label);
    const profiles = profilesOf(labels[0]!);
    if (this.own.size === 0) {
      log.info({ path: this.path, generation, profiles }, `signing config reloaded: ${profiles.length} profiles`);
      return { generation, profiles };
    }
    const cas = Object.fromEntries(labels.map((label) => [label, profilesOf(label)]));
    log.info({ ...where, generation, cas }, `signing configs reloaded: ${paths.length} files for ${labels.length} CAs`);
    return { generation, profiles, cas };
  }
}
