import { CertwrightError } from "../errors.js";
import { parseSigningConfigAt, readSigningConfigDocument, type SigningConfig } from "../profiles/signing-config.js";
import type { Authority } from "./authority.js";

/** Where a reload says what it did: pino's loggers (the app's, a request's) fit. */
export interface ReloadLog {
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** A reload's answer: the new generation and its profiles (`default` first). */
export interface ReloadResult {
  generation: number;
  profiles: string[];
}

/**
 * Live reload of the signing config (SIGHUP, POST /api/v1/admin/reload): re-reads the `--config`
 * file and, if it validates, makes it the authority's current config. A file that does not
 * validate changes nothing: the old config keeps serving and the reason is logged and thrown
 * (configInvalid, 400). Requests in flight keep the config they started with.
 */
export class SigningConfigReloader {
  constructor(
    private readonly authority: Authority,
    /** The `--config` file. */
    readonly path: string,
  ) {}

  async reload(log: ReloadLog): Promise<ReloadResult> {
    let document: unknown;
    let config: SigningConfig;
    try {
      document = readSigningConfigDocument(this.path);
      config = parseSigningConfigAt(this.path, document);
    } catch (error) {
      const reason = (error as Error).message;
      log.error({ path: this.path, generation: this.authority.generation }, `signing config not reloaded, the old one stays in use: ${reason}`);
      throw new CertwrightError("configInvalid", `signing config not reloaded, the old one stays in use: ${reason}`);
    }
    let generation: number;
    try {
      generation = await this.authority.useConfig(config, document);
    } catch (error) {
      log.error({ path: this.path, err: error }, "signing config not reloaded, the old one stays in use: the signer threads could not take it");
      throw error;
    }
    const profiles = ["default", ...config.profiles.keys()];
    log.info({ path: this.path, generation, profiles }, `signing config reloaded: ${profiles.length} profiles`);
    return { generation, profiles };
  }
}
