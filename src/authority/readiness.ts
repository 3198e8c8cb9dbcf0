import { randomBytes, verify, X509Certificate, type KeyObject } from "node:crypto";
import type { CertificateAuthority } from "../pki/certificate.js";
import { signatureAlgorithmFor, signDataAsync } from "../pki/keys.js";
import type { ReadinessResult } from "../schemas/wire.js";

const day = 24 * 60 * 60 * 1000;

/** Warn this long before the CA's own NotAfter: 30 days. */
export const caExpiryWarningMs = 30 * day;

export interface ReadinessOptions {
  ca: CertificateAuthority;
  /** CAs served beside it by label (--ca-config): their keys are checked and their expiry warned of too. Default: none. */
  others?: readonly CertificateAuthority[];
  /** Throws unless the certificate database takes a write (InventoryStore.checkWritable). */
  database: { checkWritable(): void | Promise<void> };
  /**
   * What really happened to writes (DatabaseHealth): the files deleted or replaced, the writer
   * thread down, the last commit failed. Default: only the probe above.
   */
  writes?: { problem(): string | undefined };
  /** The signing and key generation threads; one that is down fails the signing check. Default: none. */
  threads?: () => readonly { name: string; down: string | undefined }[];
  /** Default: the system clock. */
  clock?: () => Date;
  /** How long before the CA's NotAfter to warn; default 30 days. */
  caExpiryWarningMs?: number;
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Whether the service can do its job right now: record certificates (the database takes a write)
 * and sign them (the CA key signs, and the CA certificate's public key verifies what it signed).
 * Each check is cheap: the outcome of the last real write, a rolled-back no-op write and one
 * signature, so a probe every few seconds costs nothing noticeable. The threads that sign and make
 * keys count too: while one is down (restarting), the service is not ready.
 */
export class ReadinessService {
  private readonly ca: CertificateAuthority;
  private readonly others: readonly CertificateAuthority[];
  private readonly database: ReadinessOptions["database"];
  private readonly writes: ReadinessOptions["writes"];
  private readonly threads: NonNullable<ReadinessOptions["threads"]>;
  private readonly clock: () => Date;
  private readonly warnWithinMs: number;
  private readonly publicKeys = new Map<CertificateAuthority, KeyObject>();

  constructor(options: ReadinessOptions) {
    this.ca = options.ca;
    this.others = options.others ?? [];
    this.database = options.database;
    this.writes = options.writes;
    this.threads = options.threads ?? (() => []);
    this.clock = options.clock ?? (() => new Date());
    this.warnWithinMs = options.caExpiryWarningMs ?? caExpiryWarningMs;
  }

  async check(): Promise<ReadinessResult> {
    const now = this.clock();
    const warnings: string[] = [];
    const database = await this.checkDatabase();
    const caKey = await this.checkCaKey(now);
    const msLeft = this.ca.notAfter.getTime() - now.getTime();
    if (msLeft > 0 && msLeft <= this.warnWithinMs) {
      warnings.push(
        `the CA certificate expires at ${this.ca.notAfter.toISOString()}, in ${Math.ceil(msLeft / day)} day(s): ` +
          "certificates issued now are cut to end with it; make a new CA and hand it to clients",
      );
    }
    for (const other of this.others) {
      const left = other.notAfter.getTime() - now.getTime();
      if (left <= 0) {
        warnings.push(`the CA "${other.label}" expired at ${other.notAfter.toISOString()}: so did everything it issued; take it out of --ca-config`);
      } else if (left <= this.warnWithinMs) {
        warnings.push(`the CA "${other.label}" expires at ${other.notAfter.toISOString()}, in ${Math.ceil(left / day)} day(s): certificates it issues now are cut to end with it`);
      }
    }
    return { ready: database.ok && caKey.ok, checks: { database, ca_key: caKey }, warnings };
  }

  private async checkDatabase(): Promise<ReadinessResult["checks"]["database"]> {
    // A rolled-back no-op write succeeds on a full disk and on a deleted file: what the real
    // commits met comes first.
    const problem = this.writes?.problem();
    if (problem) return { ok: false, detail: `takes no writes: ${problem}` };
    try {
      await this.database.checkWritable();
      return { ok: true, detail: "takes writes" };
    } catch (error) {
      return { ok: false, detail: `takes no writes: ${reason(error)}` };
    }
  }

  private async checkCaKey(now: Date): Promise<ReadinessResult["checks"]["ca_key"]> {
    if (now.getTime() >= this.ca.notAfter.getTime()) {
      return { ok: false, detail: `the CA certificate expired at ${this.ca.notAfter.toISOString()}: nothing it signs would be valid` };
    }
    const down = this.threads().filter((thread) => thread.down !== undefined);
    if (down.length > 0) {
      return { ok: false, detail: `cannot sign every request now: ${down.map((thread) => `${thread.name} is down (${thread.down})`).join("; ")}` };
    }
    const problem = await this.signingProblem(this.ca);
    if (problem) return { ok: false, detail: problem };
    // An expired CA beside the default is warned of above: it is kept for what it issued, not to sign.
    for (const other of this.others) {
      const otherProblem = now.getTime() < other.notAfter.getTime() ? await this.signingProblem(other) : undefined;
      if (otherProblem) return { ok: false, detail: `CA "${other.label}": ${otherProblem}` };
    }
    return { ok: true, detail: `signs (${this.ca.key.spec.algo}), and the CA certificate's public key verifies the signature` };
  }

  /** Why the CA's key does not sign as its certificate says; undefined when it does. */
  private async signingProblem(ca: CertificateAuthority): Promise<string | undefined> {
    try {
      let publicKey = this.publicKeys.get(ca);
      if (!publicKey) {
        publicKey = new X509Certificate(ca.pem).publicKey;
        this.publicKeys.set(ca, publicKey);
      }
      const data = randomBytes(32);
      // Off the event loop for a key in a PKCS#11 module: a probe must not hold up the requests being served.
      const signature = await signDataAsync(ca.key, data);
      if (!verify(signatureAlgorithmFor(ca.key.spec).hash, data, publicKey, signature)) {
        return "the CA key's signature does not verify with the CA certificate's public key: the key is not the certificate's";
      }
      return undefined;
    } catch (error) {
      return `the CA key cannot sign: ${reason(error)}`;
    }
  }
}
