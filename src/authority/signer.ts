import { CertwrightError } from "../errors.js";
import { CaSet } from "./ca-set.js";
import { issueCertificate, issueCertificateAsync, type CertificateAuthority, type IssueRequest, type SignedCertificate } from "../pki/certificate.js";
import { buildCsr, parseCsr } from "../pki/csr.js";
import { sanCount, splitHosts } from "../pki/hosts.js";
import { generatePrivateKey, loadPrivateKey, parseKeySpec } from "../pki/keys.js";
import { sumOf, type Sum } from "../pki/pem.js";
import { withFreshSerial } from "../pki/reissue.js";
import { buildName, isEmptySubject, mergeSubjectFields, subjectAttributes, subjectFieldsFromName, subjectFieldsFromRequest } from "../pki/subject.js";
import { parseDuration } from "../profiles/duration.js";
import { enforceProfilePolicy, type PolicyRequest } from "../profiles/profile-policy.js";
import type { SigningConfig } from "../profiles/signing-config.js";
import { SigningConfigs, type SigningConfigDocuments } from "../profiles/signing-configs.js";
import type { CsrRequest, NewCertRequest, SignRequest } from "../schemas/wire.js";

/**
 * What the signer hands back for a certificate it issued: everything but its DER (nobody on the
 * other side of a thread needs it, and every byte crosses by copy).
 */
export type SignerCertificate = Omit<SignedCertificate, "der">;

export interface NewCertOutcome {
  issued: SignerCertificate;
  privateKey: string;
  certificateRequest: string;
  sums: { certificate_request: Sum; certificate: Sum };
}

/**
 * The CPU side of signing, which the authority runs here or in worker threads. `generation` names
 * the signing configs a request started under, so a reload does not change a request in flight;
 * absent, the latest. A request is checked and signed under its CA's config (see SigningConfigs).
 */
export interface SignerLike {
  sign(request: SignRequest, generation?: number): Promise<SignerCertificate>;
  /** `keyPem`: a key made ahead (RSA, from the key pool) to use instead of generating one. */
  newCert(request: NewCertRequest, keyPem?: string, generation?: number): Promise<NewCertOutcome>;
  /** The same certificate under a fresh serial, for a serial collision in the database; `label` names the CA that signed it. */
  reissue(certificatePem: string, label?: string): Promise<{ pem: string; serialNumber: string }>;
  /**
   * Adds generation `generation` of the signing configs: `configs` parsed, from `documents` (threads
   * parse their own copy). Settles once every call made after it can name that generation.
   * Absent: the signer keeps the configs it started with.
   */
  useConfig?(generation: number, configs: SigningConfigs, documents: SigningConfigDocuments): Promise<void>;
}

/** How many generations of the signing configs a signer keeps for requests in flight across reloads. */
export const keptGenerations = 16;

/** A signer's configs by generation: the newest `keptGenerations`, the latest one the default. */
class ConfigGenerations {
  private readonly configs = new Map<number, SigningConfigs>();
  private latest: number;

  constructor(config: SigningConfigs, generation = 0) {
    this.configs.set(generation, config);
    this.latest = generation;
  }

  add(generation: number, config: SigningConfigs): void {
    this.configs.set(generation, config);
    this.latest = Math.max(this.latest, generation);
    for (const kept of this.configs.keys()) {
      if (this.configs.size <= keptGenerations) break;
      if (kept !== this.latest) this.configs.delete(kept);
    }
  }

  /** The newest generation: what a call that names none signs under. */
  get latestGeneration(): number {
    return this.latest;
  }

  get(generation: number | undefined): SigningConfigs {
    const config = this.configs.get(generation ?? this.latest);
    // Not a client's mistake: more reloads than are kept happened while the request was in flight.
    if (!config) throw new Error(`signing config generation ${generation} is no longer kept (latest: ${this.latest}); the request should be sent again`);
    return config;
  }
}

/** Go's zero time, which cfssl's CLI sends for unset NotBefore / NotAfter. */
function parseRequestTime(value: string | null | undefined, field: string): Date | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) {
    throw new CertwrightError("invalidRequest", `${field}: "${value}" is not an RFC 3339 time`);
  }
  return time.getUTCFullYear() <= 1 ? undefined : time;
}

/** A request's own lifetime: `expiry` (ours), `not_after` (ours) or `NotAfter` (cfssl's), all optional. */
function requestedLifetime(expiry: string | null | undefined, notAfter: string | null | undefined, goNotAfter: string | null | undefined) {
  let expiryMs: number | undefined;
  if (expiry !== undefined && expiry !== null && expiry !== "") {
    expiryMs = parseDuration(expiry);
    if (expiryMs === undefined || expiryMs <= 0) {
      throw new CertwrightError("invalidRequest", `expiry: "${expiry}" is not a positive duration like "24h" or "30d"`);
    }
  }
  return { expiryMs, notAfter: parseRequestTime(notAfter, "not_after") ?? parseRequestTime(goNotAfter, "NotAfter") };
}

/** Makes a key and a CSR from a CSR JSON; `check` sees the names and key type before the key is made. */
export async function makeKeyAndCsr(request: CsrRequest, check: (request: PolicyRequest) => void = () => {}, keyPem?: string) {
  // As cfssl answers: a leaf made here never becomes a CA, so a `ca` section is a mistake, not a no-op.
  if (request.ca !== undefined && request.ca !== null) {
    throw new CertwrightError("invalidRequest", "ca: the ca section is only permitted in init_ca; remove it, or use init_ca to make a CA");
  }
  const fields = subjectFieldsFromRequest({ CN: request.CN, names: request.names });
  const sans = splitHosts(request.hosts ?? []);
  if (isEmptySubject(fields) && sanCount(sans) === 0) {
    throw new CertwrightError("csrInvalid", "the request names nothing: set CN, names or hosts");
  }
  const subject = buildName(fields);
  const keySpec = parseKeySpec(request.key);
  check({ subject: subjectAttributes(subject), sans, keySpec });
  const made = keyPem === undefined ? undefined : loadPrivateKey(keyPem);
  const key = made && made.spec.algo === keySpec.algo && made.spec.size === keySpec.size ? made : await generatePrivateKey(keySpec);
  const csr = buildCsr(subject, sans, key);
  return { key, csr, subject, sans };
}

function withoutDer({ der: _der, ...issued }: SignedCertificate): SignerCertificate {
  return issued;
}

/**
 * Checks requests against their profile and signs them with the CA: the CPU work of `sign` and
 * `newcert`, with no HTTP and no database, so it can run in a worker thread.
 */
export class Signer implements SignerLike {
  private readonly configs: ConfigGenerations;
  private readonly cas: CaSet<CertificateAuthority>;

  private readonly issue: (ca: CertificateAuthority, request: IssueRequest, now: Date) => SignedCertificate | Promise<SignedCertificate>;

  /**
   * `config` is generation `generation` (default 0) of the signing config, one for every CA or each
   * CA's own; `ca`, one CA or several by label. `offEventLoop` (default false): a CA key in a
   * PKCS#11 module signs in libuv's thread pool, for a signer on the thread that serves HTTP; a
   * signer thread signs synchronously in its own session instead, as the pool's few threads are
   * the whole process's.
   */
  constructor(
    ca: CertificateAuthority | CaSet<CertificateAuthority>,
    config: SigningConfig | SigningConfigs,
    private readonly clock: () => Date = () => new Date(),
    generation = 0,
    offEventLoop = false,
  ) {
    this.cas = ca instanceof CaSet ? ca : new CaSet(ca);
    this.configs = new ConfigGenerations(SigningConfigs.of(config), generation);
    this.issue = offEventLoop ? issueCertificateAsync : issueCertificate;
  }

  async useConfig(generation: number, config: SigningConfig | SigningConfigs): Promise<void> {
    this.configs.add(generation, SigningConfigs.of(config));
  }

  async reissue(certificatePem: string, label?: string): Promise<{ pem: string; serialNumber: string }> {
    const { pem, serialNumber } = withFreshSerial(this.cas.get(label), certificatePem);
    return { pem, serialNumber };
  }

  /** Signs a CSR the caller made. `hosts` replaces its SANs ([] clears them); `subject` overrides attributes. */
  async sign(request: SignRequest, generation = this.configs.latestGeneration): Promise<SignerCertificate> {
    if (request.extensions && request.extensions.length > 0) {
      throw new CertwrightError("invalidRequest", "extensions: not supported; the profile decides the certificate's extensions");
    }
    const ca = this.cas.get(request.label);
    const profile = this.configs.get(generation).for(ca.label).profile(request.profile);
    const notBefore = parseRequestTime(request.NotBefore, "NotBefore");
    const lifetime = requestedLifetime(request.expiry, request.not_after, request.NotAfter);
    const csr = parseCsr(request.certificate_request);
    const sans = request.hosts === undefined || request.hosts === null ? csr.sans : splitHosts(request.hosts);
    const subject = request.subject
      ? buildName(mergeSubjectFields(subjectFieldsFromRequest(request.subject), subjectFieldsFromName(csr.subject)))
      : csr.subject;
    // The subject as it will be signed, every RDN of it: the CSR's, or the CSR's merged with `subject`.
    enforceProfilePolicy(profile, {
      subject: subjectAttributes(subject),
      sans,
      keySpec: csr.keySpec,
      requestsCa: csr.requestsCa,
      csrHash: csr.signatureHash,
    });
    return withoutDer(await this.issue(ca, { subject, spki: csr.spki, sans, notBefore, ...lifetime, profile }, this.clock()));
  }

  /** Makes a key, a CSR and a certificate signed by this CA under the profile, as cfssl's newcert does. */
  async newCert(request: NewCertRequest, keyPem?: string, generation = this.configs.latestGeneration): Promise<NewCertOutcome> {
    const ca = this.cas.get(request.label);
    const profile = this.configs.get(generation).for(ca.label).profile(request.profile);
    const lifetime = requestedLifetime(request.expiry, request.not_after, undefined);
    // Checked before the key is made: RSA generation is the expensive part of newcert.
    const { key, csr, subject, sans } = await makeKeyAndCsr(request.request, (names) => enforceProfilePolicy(profile, names), keyPem);
    const issued = await this.issue(ca, { subject, spki: key.spki, sans, ...lifetime, profile }, this.clock());
    return {
      issued: withoutDer(issued),
      privateKey: key.pem,
      certificateRequest: csr.pem,
      sums: { certificate_request: sumOf(csr.der), certificate: sumOf(issued.der) },
    };
  }
}
