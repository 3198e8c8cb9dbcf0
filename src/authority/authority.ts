import { CertwrightError } from "../errors.js";
import { issueCertificate, type CertificateAuthority, type IssuedCertificate } from "../pki/certificate.js";
import { buildCsr, parseCsr } from "../pki/csr.js";
import { describeCertificate, parseCertificatePem, type CertificateInfo } from "../pki/describe.js";
import { sanCount, splitHosts, type SubjectAltNames } from "../pki/hosts.js";
import { generatePrivateKey, parseKeySpec } from "../pki/keys.js";
import { initCa } from "./init-ca.js";
import { sumOf, type Sum } from "../pki/pem.js";
import { buildName, isEmptySubject, mergeSubjectFields, subjectFieldsFromName, subjectFieldsFromRequest } from "../pki/subject.js";
import { parseDuration } from "../profiles/duration.js";
import { enforceProfilePolicy, type PolicyRequest } from "../profiles/policy.js";
import type { SigningConfig, SigningProfile } from "../profiles/signing-config.js";
import { DuplicateSerialError, type CertificateRecord, type NewCertificate } from "../store/certificate-store.js";
import type { CertInfoRequest, CsrRequest, InfoRequest, InfoResult, NewCertRequest, SignRequest } from "../schemas/wire.js";

/** The part of the certificate store the authority needs. */
export interface CertificateRecorder {
  /** Settles once the row is committed; rejects with DuplicateSerialError when the serial is taken. */
  insert(record: NewCertificate): void | Promise<void>;
  get(serialNumber: string, authorityKeyId: string): CertificateRecord | undefined;
}

export interface AuthorityOptions {
  ca: CertificateAuthority;
  config: SigningConfig;
  store: CertificateRecorder;
  /** Default: the system clock. */
  clock?: () => Date;
  /** Where the cause of a failed database write goes; the client only hears that it failed. */
  onRecordError?: (error: unknown) => void;
}

/** A result and the notes for the envelope's `messages`. */
export interface Outcome<T> {
  result: T;
  messages: string[];
}

const maxSerialAttempts = 5;
const noHostsMessage =
  "this certificate has no hosts (SANs): TLS clients will not accept it as a server certificate; it can still serve for client authentication";

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

function subjectOf(request: CsrRequest) {
  return subjectFieldsFromRequest({ CN: request.CN, names: request.names });
}

/**
 * The certificate authority the HTTP API talks to: it checks a request against its profile, has
 * the PKI core make the certificate, and records it before handing it out.
 */
export class Authority {
  readonly ca: CertificateAuthority;
  readonly config: SigningConfig;
  private readonly store: CertificateRecorder;
  private readonly clock: () => Date;
  private readonly onRecordError: (error: unknown) => void;

  constructor(options: AuthorityOptions) {
    this.ca = options.ca;
    this.config = options.config;
    this.store = options.store;
    this.clock = options.clock ?? (() => new Date());
    this.onRecordError = options.onRecordError ?? (() => {});
  }

  private caFor(label: string | null | undefined): CertificateAuthority {
    if (label === undefined || label === null || label === this.ca.label) return this.ca;
    throw new CertwrightError("unknownCaLabel", `label "${label}": no such CA here; the default CA's label is "${this.ca.label}"`);
  }

  /** Makes a new self-signed CA from a CSR JSON and keeps nothing, as cfssl's init_ca does. */
  async initCa(request: CsrRequest): Promise<Outcome<{ certificate: string; private_key: string }>> {
    return { result: await initCa(request, this.clock()), messages: [] };
  }

  /** Makes a key and a CSR, as cfssl's newkey does. */
  async newKey(request: CsrRequest): Promise<Outcome<{ private_key: string; certificate_request: string; sums: { certificate_request: Sum } }>> {
    const { key, csr } = await this.keyAndCsr(request);
    return {
      result: { private_key: key.pem, certificate_request: csr.pem, sums: { certificate_request: sumOf(csr.der) } },
      messages: [],
    };
  }

  /** Makes a key, a CSR and a certificate signed by this CA under the profile, as cfssl's newcert does. */
  async newCert(request: NewCertRequest) {
    const ca = this.caFor(request.label);
    const profile = this.config.profile(request.profile);
    const lifetime = requestedLifetime(request.expiry, request.not_after, undefined);
    // Checked before the key is made: RSA generation is the expensive part of newcert.
    const { key, csr, subject, sans } = await this.keyAndCsr(request.request, (names) => enforceProfilePolicy(profile, names));
    const issued = await this.issueAndRecord(ca, profile, { subject, spki: key.spki, sans, ...lifetime });
    return {
      result: {
        private_key: key.pem,
        certificate_request: csr.pem,
        certificate: issued.pem,
        sums: { certificate_request: sumOf(csr.der), certificate: sumOf(issued.der) },
      },
      messages: this.messagesFor(issued, sans),
    };
  }

  /** Signs a CSR the caller made. `hosts` replaces its SANs ([] clears them); `subject` overrides attributes. */
  async sign(request: SignRequest): Promise<Outcome<{ certificate: string }>> {
    if (request.bundle) {
      throw new CertwrightError("invalidRequest", "bundle: not supported; fetch the CA certificate with info instead");
    }
    if (request.extensions && request.extensions.length > 0) {
      throw new CertwrightError("invalidRequest", "extensions: not supported; the profile decides the certificate's extensions");
    }
    const ca = this.caFor(request.label);
    const profile = this.config.profile(request.profile);
    const notBefore = parseRequestTime(request.NotBefore, "NotBefore");
    const lifetime = requestedLifetime(request.expiry, request.not_after, request.NotAfter);
    const csr = await parseCsr(request.certificate_request);
    const sans = request.hosts === undefined || request.hosts === null ? csr.sans : splitHosts(request.hosts);
    const subject = request.subject
      ? buildName(mergeSubjectFields(subjectFieldsFromRequest(request.subject), subjectFieldsFromName(csr.subject)))
      : csr.subject;
    enforceProfilePolicy(profile, {
      commonName: subjectFieldsFromName(subject).CN[0] ?? "",
      sans,
      keySpec: csr.keySpec,
      requestsCa: csr.requestsCa,
    });
    const issued = await this.issueAndRecord(ca, profile, { subject, spki: csr.spki, sans, notBefore, ...lifetime });
    return { result: { certificate: issued.pem }, messages: this.messagesFor(issued, sans) };
  }

  /** The CA certificate and a profile's usages and expiry, as cfssl's info answers, and its policy. */
  info(request: InfoRequest): Outcome<InfoResult> {
    const ca = this.caFor(request.label);
    const profile = this.config.profile(request.profile);
    return {
      result: {
        certificate: ca.pem,
        usages: profile.usages,
        expiry: profile.expiry,
        ...(profile.policyJson ? { policy: profile.policyJson } : {}),
        beyond_ca_expiry: profile.beyondCaExpiry,
      },
      messages: [],
    };
  }

  /** Describes a PEM certificate, or one this service recorded, by serial and authority key id. */
  certInfo(request: CertInfoRequest): Outcome<CertificateInfo> {
    if (request.certificate) {
      return { result: describeCertificate(parseCertificatePem(request.certificate)), messages: [] };
    }
    if (request.serial && request.authority_key_id) {
      const serial = request.serial.trim();
      if (!/^\d+$/.test(serial)) {
        throw new CertwrightError("invalidRequest", `serial: "${serial}" must be the decimal serial number, as certinfo prints it`);
      }
      const aki = request.authority_key_id.replace(/:/g, "").toLowerCase();
      const record = this.store.get(serial, aki);
      if (!record) {
        throw new CertwrightError("certificateNotFound", `no certificate with serial ${serial} and authority key id ${request.authority_key_id} is recorded`);
      }
      return { result: describeCertificate(parseCertificatePem(record.pem)), messages: [] };
    }
    if (request.domain) {
      throw new CertwrightError("invalidRequest", "domain: not supported; send the PEM as \"certificate\" instead");
    }
    throw new CertwrightError("invalidRequest", "send \"certificate\" (a PEM certificate), or \"serial\" with \"authority_key_id\"");
  }

  /** Makes a key and a CSR from a CSR JSON; `check` sees the names and key type before the key is made. */
  private async keyAndCsr(request: CsrRequest, check: (request: PolicyRequest) => void = () => {}) {
    const fields = subjectOf(request);
    const sans = splitHosts(request.hosts ?? []);
    if (isEmptySubject(fields) && sanCount(sans) === 0) {
      throw new CertwrightError("csrInvalid", "the request names nothing: set CN, names or hosts");
    }
    const subject = buildName(fields);
    const keySpec = parseKeySpec(request.key);
    check({ commonName: fields.CN[0] ?? "", sans, keySpec });
    const key = await generatePrivateKey(keySpec);
    const csr = await buildCsr(subject, sans, key);
    return { key, csr, subject, sans };
  }

  /**
   * Issues and records; a certificate leaves only once its row is committed. A serial that is
   * taken already (159 random bits make it all but impossible) is drawn again, never reported.
   */
  private async issueAndRecord(
    ca: CertificateAuthority,
    profile: SigningProfile,
    request: Omit<Parameters<typeof issueCertificate>[1], "profile">,
  ): Promise<IssuedCertificate> {
    for (let attempt = 1; ; attempt++) {
      const now = this.clock();
      const issued = await issueCertificate(ca, { ...request, profile }, now);
      try {
        await this.store.insert({
          serialNumber: issued.serialNumber,
          authorityKeyId: issued.authorityKeyId,
          caLabel: ca.label,
          profile: profile.name,
          expiry: issued.notAfter,
          pem: issued.pem,
          issuedAt: now,
          notBefore: issued.notBefore,
          metadata: null,
          sans: issued.sans,
          commonName: issued.commonName,
        });
        return issued;
      } catch (cause) {
        if (cause instanceof DuplicateSerialError && attempt < maxSerialAttempts) continue;
        this.onRecordError(cause);
        throw new CertwrightError("recordFailed", "the certificate could not be recorded in the database, so it was not issued; try again", {
          cause,
        });
      }
    }
  }

  private messagesFor(issued: IssuedCertificate, sans: SubjectAltNames): string[] {
    return sanCount(sans) === 0 ? [noHostsMessage, ...issued.warnings] : issued.warnings;
  }
}
