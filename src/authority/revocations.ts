import { CertwrightError } from "../errors.js";
import { isForIssuer, OcspMalformedError, parseOcspRequest } from "../pki/ocsp.js";
import type { OcspSignRequest, RevokeRequest } from "../schemas/wire.js";
import type { OcspAnswer, RevocationService, ServedCrl } from "./revocation.js";

/** A CRL's file name under /crl/: the CA's label, or "default" for the unlabelled CA. */
export function crlFileName(label: string): string {
  return `${label || "default"}.crl`;
}

/**
 * Revocation for every CA the service signs with (cfssl multirootca's labels): one
 * RevocationService per CA, each with its own CRL, and one OCSP responder that answers for each
 * CA's certificates. With one CA, every call goes to it unchanged.
 */
export class Revocations {
  private readonly byCrlName = new Map<string, RevocationService>();

  /**
   * `others`: the CAs served beside the default, each with its own label. `defaultCrl`: the label
   * of the CA whose CRL is also at /crl/default.crl, where a service with one CA publishes it and
   * its certificates name it; default: the default CA.
   */
  constructor(
    readonly defaultService: RevocationService,
    private readonly others: readonly RevocationService[] = [],
    defaultCrl?: string,
  ) {
    for (const service of [defaultService, ...others]) this.byCrlName.set(crlFileName(service.label), service);
    if (!this.byCrlName.has(crlFileName(""))) {
      this.byCrlName.set(crlFileName(""), this.all.find((service) => service.label === defaultCrl) ?? defaultService);
    }
  }

  private get all(): RevocationService[] {
    return [this.defaultService, ...this.others];
  }

  /** The default CA's label. */
  get label(): string {
    return this.defaultService.label;
  }

  /** The CRL file names served under /crl/, the default CA's first. */
  get crlNames(): string[] {
    return [...this.byCrlName.keys()];
  }

  /** The service whose CRL has this file name; undefined for none. */
  byCrl(name: string): RevocationService | undefined {
    return this.byCrlName.get(name);
  }

  /**
   * The CA a revocation is for: the one whose key id is `authority_key_id`, else the one `label`
   * names, else the default. A key id no CA here has goes to the default, which says it is not recorded.
   */
  private forRevocation(request: RevokeRequest & { label?: string | null | undefined }): RevocationService {
    if (this.others.length === 0) return this.defaultService;
    const aki = request.authority_key_id?.replace(/:/g, "").toLowerCase();
    if (aki) return this.all.find((service) => service.issuer.subjectKeyId === aki) ?? this.defaultService;
    if (request.label) {
      const found = this.all.find((service) => service.label === request.label);
      if (!found) {
        throw new CertwrightError("unknownCaLabel", `label "${request.label}": no such CA here; the CAs served are ${this.all.map((service) => `"${service.label}"`).join(", ")}`);
      }
      return found;
    }
    return this.defaultService;
  }

  revoke(request: RevokeRequest & { label?: string | null | undefined }) {
    return this.forRevocation(request).revoke(request);
  }

  /** The default CA's CRL (cfssl's crl endpoint). */
  crl(): Promise<Uint8Array> {
    return this.defaultService.crl();
  }

  crlFor(lifetimeMs: number): Promise<ServedCrl> {
    return this.defaultService.crlFor(lifetimeMs);
  }

  /**
   * Answers with the CA whose issuer name and key hashes the request names; a request for no CA
   * here gets the default's answer (malformedRequest or unauthorized).
   */
  ocsp(der: Uint8Array): Promise<OcspAnswer> {
    if (this.others.length === 0) return this.defaultService.ocsp(der);
    let requests: ReturnType<typeof parseOcspRequest>["requests"];
    try {
      requests = parseOcspRequest(der).requests;
    } catch (error) {
      if (error instanceof OcspMalformedError) return this.defaultService.ocsp(der);
      throw error;
    }
    const service = this.all.find((candidate) => requests.some((request) => isForIssuer(request, candidate.issuer)));
    return (service ?? this.defaultService).ocsp(der);
  }

  /** cfssl's ocspsign, by the CA that signed the certificate. */
  async ocspSign(request: OcspSignRequest): Promise<Uint8Array> {
    if (this.others.length === 0) return this.defaultService.ocspSign(request);
    const service = this.all.find((candidate) => candidate.signed(request.certificate)) ?? this.defaultService;
    return service.ocspSign(request);
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((service) => service.close()));
  }
}
