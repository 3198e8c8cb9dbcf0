import { isIP } from "node:net";
import type { CertificateAuthority, SignedCertificate } from "../pki/certificate.js";
import { issueCertificate } from "../pki/certificate.js";
import { splitHosts } from "../pki/hosts.js";
import { defaultKeySpec, generatePrivateKey } from "../pki/keys.js";
import { buildName, subjectFieldsFromRequest } from "../pki/subject.js";
import { formatHours } from "../profiles/duration.js";
import { parseSigningConfig } from "../profiles/signing-config.js";

/** What the TLS server needs, and when to replace it. */
export interface ServingPair {
  cert: string;
  key: string;
  issued: SignedCertificate;
  /** Two thirds into its lifetime, as certificate renewal agents do. */
  renewAt: Date;
}

/**
 * The service's own TLS certificate, issued by its CA for the names and addresses it is told
 * (zero-setup TLS): clients that trust the CA trust the service. The key lives in memory only,
 * and a fresh pair is made for each renewal; each certificate is recorded like any other.
 */
export class ServingCertificate {
  constructor(
    private readonly ca: CertificateAuthority,
    private readonly hosts: readonly string[],
    private readonly lifetimeMs: number,
    private readonly record: (issued: SignedCertificate) => Promise<void>,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * An exact window from now: backdated a little for clients with a slow clock, but never by a
   * large share of a short life (profiles round to the minute, too coarse for short lifetimes).
   */
  private profileAt(now: Date) {
    const notBefore = new Date(now.getTime() - Math.min(60_000, Math.floor(this.lifetimeMs / 10)));
    return parseSigningConfig({
      signing: {
        default: {
          // An ECDSA key signs its handshakes; it never enciphers keys (RFC 8813).
          usages: ["digital signature", "server auth"],
          expiry: `${Math.round(this.lifetimeMs / 1000)}s`,
          not_before: notBefore.toISOString(),
          not_after: new Date(notBefore.getTime() + this.lifetimeMs).toISOString(),
        },
      },
    }).profile(undefined);
  }

  /** Issues and records a fresh certificate and key. */
  async issue(): Promise<ServingPair> {
    const key = await generatePrivateKey(defaultKeySpec);
    const now = this.clock();
    const issued = issueCertificate(
      this.ca,
      {
        // The CN is the first host name; an address belongs in the SANs only (RFC 5280 and the CA/B
        // Forum deprecate the CN for names, and an IP address there is flagged by linters).
        subject: buildName(subjectFieldsFromRequest({ CN: this.hosts.find((host) => isIP(host.replace(/^\[|\]$/g, "")) === 0) ?? "certwright", names: [{ O: "certwright" }] })),
        spki: key.spki,
        sans: splitHosts(this.hosts),
        profile: this.profileAt(now),
      },
      now,
    );
    await this.record(issued);
    const lifetime = issued.notAfter.getTime() - issued.notBefore.getTime();
    return { cert: issued.pem, key: key.pem, issued, renewAt: new Date(issued.notBefore.getTime() + (lifetime * 2) / 3) };
  }

  describe(): string {
    return `${this.hosts.join(", ")}, ${formatHours(this.lifetimeMs)} certificates renewed two thirds into their lifetime`;
  }
}
