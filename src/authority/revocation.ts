import { X509Certificate } from "node:crypto";
import { CertwrightError } from "../errors.js";
import type { CertificateAuthority } from "../pki/certificate.js";
import { caKeyData } from "../keys/ca-key.js";
import { buildCrlAsync } from "../pki/crl.js";
import {
  buildOcspResponseAsync,
  certIdFor,
  certIdHashes,
  isForIssuer,
  ocspErrorResponse,
  OcspMalformedError,
  parseOcspRequest,
  type OcspRequest,
  responderKeyHash,
  type OcspSigner,
  type OcspSingleResponse,
} from "../pki/ocsp.js";
import { parseRevocationReason, serialToDecimal } from "../pki/revocation.js";
import type { CertificateSummary, OcspSignRequest, RevokeRequest } from "../schemas/wire.js";
import type { InventoryStore, RevocationFeed } from "../store/backend.js";
import { threadEntry } from "../threads/entry.js";
import { SupervisedThread } from "../threads/supervised-thread.js";
import type { CrlApi, CrlThreadData } from "./crl-thread.js";
import { findRecord } from "./inventory.js";
import { toSummary } from "../model/certificate-summary.js";
import type { CertificateRecord } from "../model/issued-certificate.js";

/** What an OCSP answer says of a recorded certificate. */
type OcspStatus = Pick<CertificateRecord, "status" | "revokedAt" | "reason">;

const crlThreadEntry = threadEntry(import.meta.url, "crl-thread");

/** cfssl's default CRL lifetime (its crl endpoint's `expiry`): seven days. */
export const defaultCrlLifetimeMs = 7 * 24 * 3_600_000;

/** A DER OCSP response and, when caches may keep it (RFC 5019), the window it holds for. */
export interface OcspAnswer {
  der: Uint8Array;
  thisUpdate?: Date;
  nextUpdate?: Date;
}

/** How long a client may rely on an OCSP answer: an hour, so a revocation reaches clients soon. */
export const ocspValidityMs = 3_600_000;

/** How many certificates' last status OCSP keeps to answer from while the database is down. */
const maxKnownStatuses = 50_000;

/** More certificates than this in one OCSP request is refused as malformed: nobody needs it. */
const maxOcspRequests = 64;

/**
 * How many CRL lifetimes (cfssl's `?expiry=`) are kept signed at once. Real clients ask for one or
 * two; a client cycling through more gets the nearest lifetime kept instead of a fresh CRL, so no
 * request can make the service sign, write a CRL number and burn it.
 */
export const maxCachedCrlLifetimes = 8;

interface CachedCrl {
  /** Signed in the CRL thread; a CRL that failed to sign leaves the cache. */
  der: Promise<Uint8Array>;
  thisUpdate: Date;
  nextUpdate: Date;
  lifetimeMs: number;
  /** The revocation generation it lists: a revocation since makes it stale. */
  generation: number;
}

/** A CRL as `crl()` answers it; `lifetimeMs` differs from the one asked for when the cache was full. */
export interface ServedCrl {
  der: Uint8Array;
  lifetimeMs: number;
}

/**
 * Revocation and what publishes it: the CRL, kept ready and rebuilt after each revocation or when
 * half its lifetime has passed, so a client fetching it always gets a fresh one cheaply.
 */
export class RevocationService {
  /** Signed CRLs by lifetime, least recently used first. */
  private readonly cached = new Map<number, CachedCrl>();
  /** Grows with each revocation; a cached CRL of an older generation is re-signed before it is served. */
  private generation = 0;
  /** Where CRLs are read and signed, off the HTTP thread; none for an in-memory database (tests). */
  private readonly crlThread: SupervisedThread<CrlApi> | undefined;
  private readonly ocspSigner: OcspSigner;
  private readonly caCertificate: X509Certificate;

  /**
   * The last status read of each certificate OCSP was asked about, kept while the revoked set is
   * unchanged: what OCSP answers from while the database cannot be read (PostgreSQL down).
   */
  private readonly knownStatus = new Map<string, { status: OcspStatus | undefined; at: number }>();
  /**
   * The last CRL signed for each lifetime, kept past its half-life: served, until its own
   * nextUpdate, when a fresh one cannot be made because the database cannot be reached.
   */
  private readonly lastGood = new Map<number, CachedCrl>();

  /**
   * @param ocspSigner a delegated responder; default: the CA signs its OCSP answers itself.
   * @param revocationsElsewhere revocations made by other replicas on the same database.
   */
  constructor(
    private readonly ca: CertificateAuthority,
    private readonly inventory: InventoryStore,
    private readonly clock: () => Date,
    private readonly crlLifetimeMs = defaultCrlLifetimeMs,
    ocspSigner?: OcspSigner,
    revocationsElsewhere?: RevocationFeed,
  ) {
    this.ocspSigner = ocspSigner ?? { key: ca.key, responderKeyHash: responderKeyHash(ca.key.spki) };
    this.caCertificate = new X509Certificate(ca.pem);
    revocationsElsewhere?.onRevocation(() => this.revokedSetChanged());
    const source = inventory.source;
    this.crlThread =
      source === undefined
        ? undefined
        : SupervisedThread.lazy<CrlApi>({
            name: "the CRL thread",
            entry: crlThreadEntry,
            workerData: () => ({ source, caCertificate: ca.pem, ...caKeyData(ca.key), label: ca.label }) satisfies CrlThreadData,
            // Room for a CRL of 100,000 entries (measured; 300,000 ran out); a small young generation keeps RSS down.
            resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 },
          });
  }

  /** The CA's label; the default CA's is empty. */
  get label(): string {
    return this.ca.label;
  }

  /** The CA this service revokes for and answers OCSP for. */
  get issuer(): CertificateAuthority {
    return this.ca;
  }

  /** Whether `pem` is a certificate this CA signed (false for anything unreadable). */
  signed(pem: string): boolean {
    try {
      const certificate = new X509Certificate(pem);
      return certificate.checkIssued(this.caCertificate) && certificate.verify(this.caCertificate.publicKey);
    } catch {
      return false;
    }
  }

  /** Cached CRLs and statuses list what was revoked before: they are made again on next use. */
  private revokedSetChanged(): void {
    this.generation++;
    this.knownStatus.clear();
  }

  /** Revokes a recorded certificate of this CA; revoking it again changes nothing. */
  async revoke(request: RevokeRequest): Promise<{ summary: CertificateSummary; messages: string[] }> {
    const reason = parseRevocationReason(request.reason ?? "unspecified");
    if (reason === 8) {
      throw new CertwrightError("invalidRequest", "reason: removeFromCRL only has a meaning in delta CRLs; it cannot revoke a certificate");
    }
    const record = await findRecord(this.inventory, request.serial, request.authority_key_id ?? this.ca.subjectKeyId);
    const now = this.clock();
    const outcome = await this.inventory.revoke(record.serialNumber, record.authorityKeyId, reason, now);
    if (!outcome) throw new CertwrightError("certificateNotFound", `no certificate with serial ${request.serial} is recorded`);
    if (!outcome.alreadyRevoked) this.revokedSetChanged();
    const messages = outcome.alreadyRevoked
      ? [`already revoked at ${outcome.record.revokedAt?.toISOString()}; nothing changed`]
      : [];
    return { summary: toSummary(outcome.record, now), messages };
  }

  /** The CA's CRL with the default lifetime, DER. */
  async crl(): Promise<Uint8Array> {
    return (await this.crlFor(this.crlLifetimeMs)).der;
  }

  /** Stops the CRL thread, if one was started. */
  async close(): Promise<void> {
    await this.crlThread?.close();
  }

  /**
   * The CA's CRL with this lifetime (cfssl's `expiry` query), from the cache: signed again only
   * after a revocation or once half its lifetime has passed, so fetching it never takes a CRL
   * number or writes the database. Up to `maxCachedCrlLifetimes` lifetimes are kept; once that many
   * are kept fresh, another lifetime is answered with the nearest kept one (the shorter when two are
   * as near): the CRL a relying party gets is always current, only its nextUpdate differs.
   */
  async crlFor(lifetimeMs: number): Promise<ServedCrl> {
    const now = this.clock();
    const fresh = (entry: CachedCrl) => entry.generation === this.generation && now.getTime() - entry.thisUpdate.getTime() <= entry.lifetimeMs / 2;
    for (const [lifetime, entry] of this.cached) if (!fresh(entry)) this.cached.delete(lifetime);
    let entry = this.cached.get(lifetimeMs);
    if (!entry && this.cached.size >= maxCachedCrlLifetimes) {
      const nearest = [...this.cached.values()].reduce((best, e) => {
        const d = Math.abs(e.lifetimeMs - lifetimeMs);
        const bestD = Math.abs(best.lifetimeMs - lifetimeMs);
        return d < bestD || (d === bestD && e.lifetimeMs < best.lifetimeMs) ? e : best;
      });
      entry = nearest;
    }
    entry ??= this.makeCrl(now, lifetimeMs);
    // Map order is insertion order: re-inserting keeps the most recently used last.
    this.cached.delete(entry.lifetimeMs);
    this.cached.set(entry.lifetimeMs, entry);
    try {
      const der = await entry.der;
      this.keepLastGood(entry);
      return { der, lifetimeMs: entry.lifetimeMs };
    } catch (error) {
      // No CRL number to be had (the database is down, or a read-only standby): the newest CRL a
      // replica published, else the last one signed here, while within its nextUpdate, which is
      // what relying parties would have cached anyway.
      const at = this.clock();
      const published = await Promise.resolve(this.inventory.latestCrl?.(this.ca.subjectKeyId, at)).catch(() => undefined);
      if (published) return { der: published.der, lifetimeMs: published.nextUpdate.getTime() - published.thisUpdate.getTime() };
      const previous = this.lastGood.get(entry.lifetimeMs);
      if (previous && previous.nextUpdate.getTime() > at.getTime()) return { der: await previous.der, lifetimeMs: previous.lifetimeMs };
      throw error;
    }
  }

  /** Keeps a CRL that was served as its lifetime's fallback; ones past their nextUpdate go. */
  private keepLastGood(entry: CachedCrl): void {
    const now = this.clock().getTime();
    for (const [lifetime, kept] of this.lastGood) if (kept.nextUpdate.getTime() <= now) this.lastGood.delete(lifetime);
    this.lastGood.delete(entry.lifetimeMs);
    if (this.lastGood.size >= maxCachedCrlLifetimes) this.lastGood.delete(this.lastGood.keys().next().value!);
    this.lastGood.set(entry.lifetimeMs, entry);
  }

  /**
   * Takes the next CRL number here (a write, on the main connection) and has the CRL thread read
   * the revoked certificates and sign; requests that come while it signs wait for the same CRL.
   */
  private makeCrl(now: Date, lifetimeMs: number): CachedCrl {
    const nextUpdate = new Date(now.getTime() + lifetimeMs);
    const der = (async () => {
      const crlNumber = await this.inventory.nextCrlNumber(this.ca.subjectKeyId);
      // A CRL the thread cannot make (one too large for its heap, a thread that died) is made here,
      // with the number already taken: slower for everyone else for that moment, but never no CRL.
      const signed = this.crlThread
        ? await this.crlThread
            .call("sign", { crlNumber, thisUpdateMs: now.getTime(), nextUpdateMs: nextUpdate.getTime() })
            .catch(() => this.signCrlHere(now, nextUpdate, crlNumber))
        : await this.signCrlHere(now, nextUpdate, crlNumber);
      // For replicas on a standby; this CRL is good whether or not that write succeeds.
      await Promise.resolve(
        this.inventory.publishCrl?.({ authorityKeyId: this.ca.subjectKeyId, crlNumber, thisUpdate: now, nextUpdate, der: signed }),
      ).catch(() => {});
      return signed;
    })();
    const entry: CachedCrl = { der, thisUpdate: now, nextUpdate, lifetimeMs, generation: this.generation };
    der.catch(() => {
      if (this.cached.get(lifetimeMs) === entry) this.cached.delete(lifetimeMs);
    });
    return entry;
  }

  private async signCrlHere(thisUpdate: Date, nextUpdate: Date, crlNumber: bigint): Promise<Uint8Array> {
    const revoked = (await this.inventory.revokedUnexpired(this.ca.subjectKeyId, thisUpdate)).map((entry) => ({
      serial: BigInt(entry.serialNumber),
      revokedAt: entry.revokedAt,
      reason: entry.reason,
    }));
    return buildCrlAsync(this.ca, { crlNumber, thisUpdate, nextUpdate, revoked });
  }

  /**
   * Answers a DER OCSP request from the database (RFC 6960): good, revoked or unknown for each
   * certificate asked about, with the request's nonce echoed. A request this responder cannot read
   * gets `malformedRequest`; one about another CA's certificates only, `unauthorized`.
   */
  async ocsp(der: Uint8Array): Promise<OcspAnswer> {
    let request: OcspRequest;
    try {
      request = parseOcspRequest(der);
    } catch (error) {
      if (error instanceof OcspMalformedError) return { der: ocspErrorResponse("malformedRequest") };
      throw error;
    }
    if (request.requests.length > maxOcspRequests) return { der: ocspErrorResponse("malformedRequest") };
    if (!request.requests.some((r) => isForIssuer(r, this.ca))) return { der: ocspErrorResponse("unauthorized") };
    const now = this.clock();
    const nextUpdate = new Date(now.getTime() + ocspValidityMs);
    let records: (OcspStatus | undefined)[];
    try {
      records = await Promise.all(request.requests.map((r) => (isForIssuer(r, this.ca) ? this.statusOf(serialToDecimal(r.serial), now) : undefined)));
    } catch {
      // The database cannot be read and a status was never read before: a client tries another responder or later.
      return { der: ocspErrorResponse("tryLater") };
    }
    const responses = request.requests.map((r, i): OcspSingleResponse => {
      const record = records[i];
      if (!record) return { certId: r.certId, status: "unknown", thisUpdate: now };
      if (record.status === "revoked") {
        return { certId: r.certId, status: "revoked", revokedAt: record.revokedAt ?? now, reason: record.reason, thisUpdate: now, nextUpdate };
      }
      return { certId: r.certId, status: "good", thisUpdate: now, nextUpdate };
    });
    const answer = await buildOcspResponseAsync(this.ocspSigner, { producedAt: now, responses, ...(request.nonce ? { nonce: request.nonce } : {}) });
    // An "unknown" answer carries no nextUpdate: nothing says how long it holds, so it is not to be cached.
    const cacheable = responses.every((r) => r.nextUpdate !== undefined) && !request.nonce;
    return { der: answer, ...(cacheable ? { thisUpdate: now, nextUpdate } : {}) };
  }

  /**
   * The certificate's record as OCSP answers for it: read from the database each time, so a
   * revocation counts from its commit; when the database cannot be read, the last status read
   * (unless a revocation was seen since, or it is older than an OCSP answer's validity).
   */
  private async statusOf(serialNumber: string, now: Date): Promise<OcspStatus | undefined> {
    const generation = this.generation;
    try {
      const record = (await this.inventory.findBySerial(serialNumber)).find((x) => x.authorityKeyId === this.ca.subjectKeyId);
      const status = record && { status: record.status, revokedAt: record.revokedAt, reason: record.reason };
      if (generation === this.generation) {
        // Oldest first out: Map keeps insertion order, and a re-read serial moves to the end.
        this.knownStatus.delete(serialNumber);
        if (this.knownStatus.size >= maxKnownStatuses) this.knownStatus.delete(this.knownStatus.keys().next().value!);
        this.knownStatus.set(serialNumber, { status, at: now.getTime() });
      }
      return status;
    } catch (error) {
      const known = this.knownStatus.get(serialNumber);
      if (known && now.getTime() - known.at <= ocspValidityMs) return known.status;
      throw error;
    }
  }

  /**
   * cfssl's ocspsign: an OCSP answer for a certificate of this CA with the status the caller
   * states, whatever the database says (cfssl uses it to pre-sign answers). Admin-only, for that reason.
   */
  async ocspSign(request: OcspSignRequest): Promise<Uint8Array> {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(request.certificate);
    } catch {
      throw new CertwrightError("certificateParseFailed", "certificate: not a PEM X.509 certificate");
    }
    if (!certificate.checkIssued(this.caCertificate) || !certificate.verify(this.caCertificate.publicKey)) {
      throw new CertwrightError("invalidRequest", "certificate: not issued by this service's CA, so it cannot answer for it");
    }
    const hash = (request.issuer_hash ?? "sha1").toLowerCase().replace("-", "");
    if (!certIdHashes.includes(hash)) {
      throw new CertwrightError("invalidRequest", `issuer_hash: "${request.issuer_hash}" is not one of ${certIdHashes.join(", ")}`);
    }
    const status = request.status ?? "good";
    const now = this.clock();
    let revokedAt: Date | undefined;
    let reason = 0;
    if (status === "revoked") {
      const at = request.revoked_at ?? "now";
      revokedAt = at === "now" ? now : new Date(at);
      if (Number.isNaN(revokedAt.getTime())) throw new CertwrightError("invalidRequest", `revoked_at: "${at}" is not "now" or an RFC 3339 time`);
      reason = parseRevocationReason(String(request.reason ?? "unspecified"));
    }
    const certId = certIdFor(this.ca, BigInt(`0x${certificate.serialNumber}`), hash);
    return buildOcspResponseAsync(this.ocspSigner, {
      producedAt: now,
      responses: [
        status === "revoked"
          ? { certId, status, revokedAt: revokedAt!, reason, thisUpdate: now, nextUpdate: new Date(now.getTime() + ocspValidityMs) }
          : { certId, status, thisUpdate: now, ...(status === "good" ? { nextUpdate: new Date(now.getTime() + ocspValidityMs) } : {}) },
      ],
    });
  }
}
