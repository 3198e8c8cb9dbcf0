import type { z } from "zod";
import { CertwrightError } from "../errors.js";
import type { CertificateBundle } from "../pki/bundle.js";
import type { CertificateAuthority } from "../pki/certificate.js";
import { bareCaChain, type CaChain } from "../pki/chain.js";
import type { CertificateInfo } from "../pki/describe.js";
import { decodePemBlock, sumOf, type Sum } from "../pki/pem.js";
import type { SigningConfig } from "../profiles/signing-config.js";
import { SigningConfigs, type SigningConfigDocuments } from "../profiles/signing-configs.js";
import { parseKeySpec, type KeySpec } from "../pki/keys.js";
import { parseSerial, serialToDecimal } from "../pki/revocation.js";
import { signRequestSchema } from "../schemas/wire.js";
import {
  describeRequester,
  requireClientCertificate,
  requireOwnNames,
  requireProfileCredential,
  tokenMatches,
  type Requester,
} from "./authentication.js";
import { initCa } from "./init-ca.js";
import type { ReplayFields, ReplayGuard } from "./replay-guard.js";
import { CaSet } from "./ca-set.js";
import { makeKeyAndCsr, Signer, type SignerCertificate, type SignerLike } from "./signer.js";
import { issuedCertificate, type CertificateRecord, type IssuedCertificate } from "../model/issued-certificate.js";
import type { Awaitable } from "../store/backend.js";
import { DuplicateSerialError } from "../store/certificate-store.js";
import type { AuthSignRequest, CertInfoRequest, CsrRequest, InfoRequest, InfoResult, NewCertRequest, SignRequest } from "../schemas/wire.js";

/** What sign and authsign answer: the certificate, and cfssl's bundle when the request asked for it. */
export interface SignResult {
  certificate: string;
  bundle?: CertificateBundle;
}

/** The part of the certificate store the authority needs. */
export interface CertificateRecorder {
  /** Settles once the row is committed; rejects with DuplicateSerialError when the serial is taken. */
  insert(record: IssuedCertificate): void | Promise<void>;
  get(serialNumber: string, authorityKeyId: string): Awaitable<CertificateRecord | undefined>;
  /**
   * Why nothing can be recorded now (the database is unreachable, or a read-only standby), as the
   * client should read it; undefined when it can. Asked before signing, so a request that cannot be
   * recorded is refused at once instead of after the signature. Default: always can.
   */
  refusal?(): string | undefined;
}

/** A CA served by label, with its chain. */
export interface LabelledCa {
  label: string;
  ca: CertificateAuthority;
  chain: CaChain;
}

export interface AuthorityOptions {
  /** The default CA: what a request without a label is signed by. */
  ca: CertificateAuthority;
  /** The CA's certificate and those above it (--ca-bundle); default: the CA alone, its own root when self-signed. */
  chain?: CaChain;
  /** CAs served beside the default under their own labels (--ca-config); default: none. */
  others?: readonly LabelledCa[];
  /**
   * The signing config it starts with (generation 0): one for every CA, or SigningConfigs giving the
   * CAs with a config of their own (--ca-config's `config`) theirs.
   */
  config: SigningConfig | SigningConfigs;
  store: CertificateRecorder;
  /** Default: the system clock. */
  clock?: () => Date;
  /** Where the cause of a failed database write goes; the client only hears that it failed. */
  onRecordError?: (error: unknown) => void;
  /** Called once per certificate whose row is committed, before it is handed out (metrics); must not throw. */
  onIssued?: (record: IssuedCertificate) => void;
  /** Where sign and newcert (and certinfo, when it can) do their CPU work; default: a Signer on this thread. */
  signer?: SignerLike & Partial<CertificateDescriber>;
  /** Replay protection for authenticated requests; default: off, as in cfssl. */
  replayGuard?: ReplayGuard | undefined;
  /** RSA keys made ahead in low-priority threads; default: newcert makes its own. */
  keyPool?: { take(size: number): Promise<string> };
}

/** Describes a PEM certificate as certinfo answers; SignerPool does it in its threads. */
export interface CertificateDescriber {
  describeCertificate(pem: string): Promise<CertificateInfo>;
}

/** A result and the notes for the envelope's `messages`. */
export interface Outcome<T> {
  result: T;
  messages: string[];
}

/** One generation of the signing configs, every CA's: a request keeps the one it started with. */
interface ConfigGeneration {
  generation: number;
  configs: SigningConfigs;
}

const maxSerialAttempts = 5;
const serverAuthOid = "1.3.6.1.5.5.7.3.1";
const anyExtendedKeyUsageOid = "2.5.29.37.0";
const noHostsMessage =
  "this certificate has no hosts (SANs): TLS clients will not accept it as a server certificate; it can still serve for client authentication";

/**
 * The certificate authority the HTTP API talks to: it checks a request against its profile, has
 * the PKI core make the certificate, and records it before handing it out.
 */
export class Authority {
  readonly ca: CertificateAuthority;
  readonly chain: CaChain;
  /** Every CA by label, the default first. */
  readonly cas: CaSet<LabelledCa>;
  private current: ConfigGeneration;
  /** Generations are numbered by attempt, so a failed reload's number is never reused. */
  private lastGeneration = 0;
  /** Reloads, one at a time, so generations become current in order. */
  private reloads: Promise<unknown> = Promise.resolve();
  private readonly store: CertificateRecorder;
  private readonly clock: () => Date;
  private readonly onRecordError: (error: unknown) => void;
  private readonly onIssued: (record: IssuedCertificate) => void;
  private readonly signer: SignerLike & Partial<CertificateDescriber>;
  private readonly keyPool: AuthorityOptions["keyPool"];
  private readonly replayGuard: ReplayGuard | undefined;

  constructor(options: AuthorityOptions) {
    this.ca = options.ca;
    this.chain = options.chain ?? bareCaChain(options.ca.pem);
    this.cas = new CaSet({ label: options.ca.label, ca: options.ca, chain: this.chain }, options.others);
    const configs = SigningConfigs.of(options.config);
    this.current = { generation: 0, configs };
    this.store = options.store;
    this.clock = options.clock ?? (() => new Date());
    this.onRecordError = options.onRecordError ?? (() => {});
    this.onIssued = options.onIssued ?? (() => {});
    // On this thread, which serves HTTP: a key in a PKCS#11 module signs off the event loop.
    this.signer = options.signer ?? new Signer(new CaSet(options.ca, options.others?.map((other) => other.ca)), configs, this.clock, 0, true);
    this.keyPool = options.keyPool;
    this.replayGuard = options.replayGuard;
  }

  /**
   * The default CA's current signing config: what a request without a label that starts now is
   * checked and signed under (the console shows it). With one config for every CA, that one.
   */
  get config(): SigningConfig {
    return this.current.configs.for(this.cas.defaultCa.label);
  }

  /** Every CA's current signing config. */
  get configs(): SigningConfigs {
    return this.current.configs;
  }

  /** The current config of the CA a request's label names (unknown labels refused as a request's are). */
  configFor(label: string | null | undefined): SigningConfig {
    return this.current.configs.for(this.cas.get(label).label);
  }

  /** Whether any CA's current config has auth_keys: then the admin endpoints want the admin token. */
  get authenticates(): boolean {
    return this.cas.all.some(({ label }) => this.current.configs.for(label).authKeys.size > 0);
  }

  /** The current auth_keys of each distinct config, for telling who is asking (rate limits). */
  get authKeySets(): ReadonlyMap<string, Buffer>[] {
    return [...this.current.configs.byConfig(this.cas.all.map(({ label }) => label)).keys()].map((config) => config.authKeys);
  }

  /** The current signing configs' generation (0 at start, higher after each reload). */
  get generation(): number {
    return this.current.generation;
  }

  /**
   * Makes `configs` (parsed from `documents`, which signer threads parse again) the current signing
   * configs, every CA's at once, once the signer has them. Requests that started before keep the
   * configs they started with. Resolves to the new generation; if the signer refuses them, the old
   * ones stay current.
   */
  useConfig(configs: SigningConfig | SigningConfigs, documents: SigningConfigDocuments): Promise<number> {
    const next = SigningConfigs.of(configs);
    const reload = this.reloads.then(async () => {
      const generation = ++this.lastGeneration;
      await this.signer.useConfig?.(generation, next, documents);
      this.current = { generation, configs: next };
      return generation;
    });
    this.reloads = reload.catch(() => {});
    return reload;
  }

  /**
   * The profile's authentication rules (auth key, client certificate), then, in the stricter
   * mode, the request's timestamp and nonce.
   */
  private async authenticate(config: SigningConfig, request: (NewCertRequest | SignRequest) & ReplayFields, requester: Requester): Promise<void> {
    const profile = config.profile(request.profile);
    // An ACME account bound to an auth key (external account binding) holds that key's credential.
    const acmeKey = requester.acme?.eabKeyId;
    requireProfileCredential(profile, requester.credential ?? (acmeKey ? { keyName: acmeKey } : undefined));
    requireClientCertificate(profile, requester);
    const refusal = this.store.refusal?.();
    if (refusal) throw new CertwrightError("recordFailed", `${refusal}; nothing was signed, try again once /api/v1/ready answers 200`);
    if (requester.credential && this.replayGuard) await this.replayGuard.check(requester.credential.keyName, request);
  }

  /** Makes a new self-signed CA from a CSR JSON and keeps nothing, as cfssl's init_ca does. */
  async initCa(request: CsrRequest): Promise<Outcome<{ certificate: string; private_key: string }>> {
    return { result: await initCa(request, this.clock()), messages: [] };
  }

  /** Makes a key and a CSR, as cfssl's newkey does. */
  async newKey(request: CsrRequest): Promise<Outcome<{ private_key: string; certificate_request: string; sums: { certificate_request: Sum } }>> {
    const { key, csr } = await makeKeyAndCsr(request);
    return {
      result: { private_key: key.pem, certificate_request: csr.pem, sums: { certificate_request: sumOf(csr.der) } },
      messages: [],
    };
  }

  /** Makes a key, a CSR and a certificate signed by this CA under the profile, as cfssl's newcert does. */
  async newCert(request: NewCertRequest, requester: Requester = {}) {
    const { generation, configs } = this.current;
    const served = this.cas.get(request.label);
    const config = configs.for(served.label);
    await this.authenticate(config, request, requester);
    const outcome = await this.signer.newCert(request, await this.pooledKey(request), generation);
    const { issued, warnings } = await this.record(config, served, outcome.issued, requester);
    return {
      result: {
        private_key: outcome.privateKey,
        certificate_request: outcome.certificateRequest,
        certificate: issued.pem,
        sums: issued.pem === outcome.issued.pem ? outcome.sums : { ...outcome.sums, certificate: sumOf(decodePemBlock(issued.pem, ["CERTIFICATE"])!) },
        ...(request.bundle ? { bundle: await this.bundleOf(served.chain, issued.pem, outcome.privateKey) } : {}),
      },
      messages: this.messagesFor(config, issued, warnings),
      issued,
    };
  }

  /** Signs a CSR the caller made. `hosts` replaces its SANs ([] clears them); `subject` overrides attributes. */
  sign(request: SignRequest, requester: Requester = {}): Promise<Outcome<SignResult> & { issued: IssuedCertificate }> {
    return this.signUnder(this.current, request, requester);
  }

  private async signUnder({ generation, configs }: ConfigGeneration, request: SignRequest, requester: Requester) {
    const served = this.cas.get(request.label);
    const config = configs.for(served.label);
    await this.authenticate(config, request, requester);
    const { issued, warnings } = await this.record(config, served, await this.signer.sign(request, generation), requester);
    const result: SignResult = { certificate: issued.pem };
    if (request.bundle) result.bundle = await this.bundleOf(served.chain, issued.pem, undefined);
    return {
      result,
      messages: this.messagesFor(config, issued, warnings),
      issued,
    };
  }

  /**
   * cfssl's authenticated signing: `request` is the base64 of a JSON sign request and `token` the
   * base64 HMAC-SHA256 of those bytes under the profile's auth key (or its previous key).
   */
  async authSign(envelope: AuthSignRequest, requester: Requester = {}): Promise<Outcome<SignResult> & { issued: IssuedCertificate }> {
    const bytes = Buffer.from(envelope.request, "base64");
    let parsed: z.ZodSafeParseResult<SignRequest>;
    try {
      parsed = signRequestSchema.safeParse(JSON.parse(bytes.toString("utf8")));
    } catch {
      throw new CertwrightError("invalidRequest", "request: must be the base64 of a JSON sign request");
    }
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new CertwrightError("invalidRequest", `request.${issue.path.join(".")}: ${issue.message}`);
    }
    const current = this.current;
    // The profile and its keys are those of the CA the request names.
    const config = current.configs.for(this.cas.get(parsed.data.label).label);
    const profile = config.profile(parsed.data.profile);
    const names = [profile.authKey, profile.prevAuthKey].filter((name): name is string => name !== undefined);
    if (names.length === 0) {
      throw new CertwrightError("invalidRequest", `profile "${profile.name}" has no auth_key, so there is nothing to authenticate against; use sign`);
    }
    const token = Buffer.from(envelope.token, "base64");
    const keyName = names.find((name) => tokenMatches(config.authKeys.get(name)!, bytes, token));
    if (!keyName) {
      // "invalid token" is cfssl's wording, which clients such as certmgr look for to tell a wrong key from an outage.
      throw new CertwrightError("authenticationFailed", `token: invalid token: not the HMAC-SHA256 of request under auth key "${profile.authKey}"`);
    }
    return this.signUnder(current, parsed.data, { ...requester, credential: { keyName } });
  }

  /** The CA certificate and a profile's usages and expiry (of that CA's config), as cfssl's info answers, and its policy. */
  info(request: InfoRequest): Outcome<InfoResult> {
    const { ca, chain, label } = this.cas.get(request.label);
    const profile = this.current.configs.for(label).profile(request.profile);
    return {
      result: {
        certificate: ca.pem,
        usages: profile.usages,
        expiry: profile.expiry,
        ...(profile.policyJson ? { policy: profile.policyJson } : {}),
        beyond_ca_expiry: profile.beyondCaExpiry,
        // Ours, not cfssl's: absent without --ca-bundle, so those answers stay as they were.
        ...(chain.above.length > 0 ? { chain: chain.above } : {}),
      },
      messages: [],
    };
  }

  /** Describes a PEM certificate, or one this service recorded, by serial and authority key id. */
  async certInfo(request: CertInfoRequest): Promise<Outcome<CertificateInfo>> {
    if (request.certificate) {
      return { result: await this.describe(request.certificate), messages: [] };
    }
    if (request.serial && request.authority_key_id) {
      // Decimal as cfssl prints serials, or hex as openssl does.
      const serial = serialToDecimal(parseSerial(request.serial));
      const aki = request.authority_key_id.replace(/:/g, "").toLowerCase();
      const record = await this.store.get(serial, aki);
      if (!record) {
        throw new CertwrightError("certificateNotFound", `no certificate with serial ${serial} and authority key id ${request.authority_key_id} is recorded`);
      }
      return { result: await this.describe(record.pem), messages: [] };
    }
    if (request.domain) {
      throw new CertwrightError("invalidRequest", "domain: not supported; send the PEM as \"certificate\" instead");
    }
    throw new CertwrightError("invalidRequest", "send \"certificate\" (a PEM certificate), or \"serial\" with \"authority_key_id\"");
  }

  /**
   * Parses and describes a PEM certificate in the signer's threads when it has them: a 64 KiB
   * certificate costs tens of milliseconds that every request on the HTTP thread would wait for.
   */
  private async describe(pem: string): Promise<CertificateInfo> {
    if (this.signer.describeCertificate) return this.signer.describeCertificate(pem);
    // Loaded on first use: @peculiar/x509 takes a fifth of start-up and only certinfo needs it.
    const { describeCertificate, parseCertificatePem } = await import("../pki/describe.js");
    return describeCertificate(parseCertificatePem(pem));
  }

  /**
   * Whether this service recorded the certificate and has revoked it. Read from the database each
   * time, so a revocation made on any replica counts at once.
   */
  async isRevoked(serialNumber: string, authorityKeyId: string): Promise<boolean> {
    return (await this.store.get(serialNumber, authorityKeyId))?.status === "revoked";
  }

  /**
   * cfssl's bundle for a certificate just issued. Loaded on first use, as certinfo's describer is:
   * @peculiar/x509 takes a fifth of start-up and only `"bundle": true` needs it here.
   */
  private async bundleOf(chain: CaChain, pem: string, keyPem: string | undefined): Promise<CertificateBundle> {
    const { certificateBundle } = await import("../pki/bundle.js");
    return certificateBundle(pem, chain, keyPem, this.clock());
  }

  /** An RSA key from the pool when the request asks for one; anything else, the signer makes itself. */
  private async pooledKey(request: NewCertRequest): Promise<string | undefined> {
    if (!this.keyPool || request.request.key?.algo?.toLowerCase() !== "rsa") return undefined;
    let spec: KeySpec;
    try {
      spec = parseKeySpec(request.request.key);
    } catch {
      return undefined; // the signer refuses it with the right message
    }
    return this.keyPool.take(spec.size);
  }

  /**
   * Records what the signer issued; a certificate leaves only once its row is committed. A serial
   * that is taken already (112 random bits make it all but impossible) is drawn again, never reported.
   */
  private async record(config: SigningConfig, served: LabelledCa, first: SignerCertificate, requester: Requester): Promise<{ issued: IssuedCertificate; warnings: string[] }> {
    // Checked on what was signed, the CSR's names and the request's hosts merged; a refused
    // certificate is dropped here, never recorded or sent.
    requireOwnNames(config.profile(first.profile), requester, first.subjectAttributes, first.sans);
    let signed = first;
    for (let attempt = 1; ; attempt++) {
      try {
        const issued = issuedCertificate(signed, { caLabel: served.label, issuedAt: this.clock(), requestedBy: describeRequester(requester) });
        await this.store.insert(issued);
        this.onIssued(issued);
        return { issued, warnings: signed.warnings };
      } catch (cause) {
        if (cause instanceof DuplicateSerialError && attempt < maxSerialAttempts) {
          signed = { ...signed, ...(await this.signer.reissue(signed.pem, served.label || undefined)) };
          continue;
        }
        this.onRecordError(cause);
        // The store's own refusal (a standby, an unreachable database) already says what to do.
        if (cause instanceof CertwrightError) throw cause;
        throw new CertwrightError("recordFailed", "the certificate could not be recorded in the database, so it was not issued; try again", {
          cause,
        });
      }
    }
  }

  /** The note on a certificate without hosts is for one a TLS server could use: not for client-only or signing-only profiles. */
  private messagesFor(config: SigningConfig, issued: IssuedCertificate, warnings: string[]): string[] {
    const { extKeyUsages } = config.profile(issued.profile);
    const serverUse = extKeyUsages.length === 0 || extKeyUsages.includes(serverAuthOid) || extKeyUsages.includes(anyExtendedKeyUsageOid);
    return issued.sans.length === 0 && serverUse ? [noHostsMessage, ...warnings] : warnings;
  }
}
