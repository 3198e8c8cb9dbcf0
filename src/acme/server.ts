// The ACME protocol (RFC 8555) over the store, the authority and a challenge validator: what each
// endpoint does, without HTTP. The routes (api/routes/acme.ts) hand it the request's JWS and URL
// and send back what it answers.
import { randomBytes, X509Certificate } from "node:crypto";
import { base64url, calculateJwkThumbprint, type JWK } from "jose";
import type { AcmeRequester, Requester } from "../authority/authentication.js";
import type { Outcome, SignResult } from "../authority/authority.js";
import { CertwrightError } from "../errors.js";
import type { IssuedCertificate } from "../model/issued-certificate.js";
import type { CaChain } from "../pki/chain.js";
import type { AcmeProvisioner } from "../profiles/acme-config.js";
import type { SigningConfig } from "../profiles/signing-config.js";
import type { SignRequest } from "../schemas/wire.js";
import type { AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeOrder, AcmeStore } from "../store/acme-records.js";
import { readContact, verifyExternalAccountBinding } from "./accounts.js";
import { challengesFor, checkOrderIdentifiers, identifierKey, readIdentifiers } from "./identifiers.js";
import { decodeJws, payloadJson, publicAccountKey, thumbprintOf, verifyJws, type AcmeProtectedHeader } from "./jws.js";
import { orderCsr } from "./order-csr.js";
import { AcmeProblem, problemDocument, type AcmeProblemType, type ProblemDocument } from "./problems.js";
import { ValidationQueue } from "./validation-queue.js";
import type { AcmeIdentifier, ChallengeType, ChallengeValidator, ValidationResult } from "./validation/types.js";

/** What the ACME server needs of the authority: the current config, signing, and the CAs' chains. */
export interface AcmeAuthority {
  readonly config: SigningConfig;
  /** Every CA's signing config, by the CA's label. */
  readonly configs: { for(label: string): SigningConfig };
  sign(request: SignRequest, requester: Requester): Promise<Outcome<SignResult> & { issued: IssuedCertificate }>;
  readonly cas: { all: readonly { label: string; ca: { pem: string; subjectKeyId: string }; chain: CaChain }[]; get(label: string): { label: string } };
}

/** Revocation through the service's one revocation path (so the CRL and OCSP see it). */
export type AcmeRevoker = (request: { serial: string; authority_key_id: string; reason: string }) => Promise<{ messages: string[] }>;

/** What the server reports, for metrics and the log. */
export interface AcmeEvents {
  orderCreated?(provisioner: string): void;
  certificateIssued?(provisioner: string): void;
  /** Every problem answered or recorded (a failed challenge), by ACME type. */
  problem?(type: AcmeProblemType): void;
  /** A validation that threw or a store write that failed off the request. */
  error?(error: unknown, message: string): void;
}

export interface AcmeServerOptions {
  store: AcmeStore;
  authority: AcmeAuthority;
  validator: ChallengeValidator;
  /** Absent: revokeCert answers serverInternal (no revocation service). */
  revoke?: AcmeRevoker | undefined;
  events?: AcmeEvents;
  /** Default: the system clock. */
  clock?: () => Date;
  /** Challenge validations in flight at once; default 8. */
  maxConcurrentValidations?: number;
  /** How long an order (and its authorizations) may take to become valid; default 24 hours. */
  orderLifetimeMs?: number;
  /** How long a Replay-Nonce is good for; default one hour. */
  nonceLifetimeMs?: number;
}

/** An answer: its status, JSON body (or a PEM chain), and headers beyond Replay-Nonce and the index Link. */
export interface AcmeAnswer {
  status: number;
  body?: unknown;
  /** A body that is not JSON: the content type to send it with. */
  contentType?: string;
  headers?: Record<string, string>;
  /** Link headers beyond the index: rel="up" and the like. */
  links?: string[];
}

/** The provisioner a request is for and the URL prefix of its resources (…/acme/<name>). */
export interface AcmeContext {
  provisioner: AcmeProvisioner;
  base: string;
}

/** A request whose JWS verified: its key, its account (kid) and its payload (undefined: POST-as-GET). */
export interface Authenticated {
  header: AcmeProtectedHeader;
  jwk: JWK;
  account: AcmeAccount | undefined;
  payload: Record<string, unknown> | undefined;
}

const hour = 3_600_000;
/** Seconds a client is told to wait before polling a pending resource again. */
const retryAfterSeconds = "1";
/** How long a validation's outcome waits before each new attempt to record it. */
const recordRetryDelaysMs = [250, 1000, 4000, 15_000];
const revocationReasons = new Set([0, 1, 2, 3, 4, 5, 6, 9, 10]);

function randomId(): string {
  return base64url.encode(randomBytes(16));
}

function iso(ms: number | null): string | undefined {
  return ms === null ? undefined : new Date(ms).toISOString();
}

/** The name an authorization is for, as identifierKey gives it (a wildcard's with its `*.`). */
function authorizationKey(authorization: AcmeAuthorization): string {
  return identifierKey(authorization.wildcard ? { type: "dns", value: `*.${authorization.identifier.value}` } : authorization.identifier);
}

/**
 * The names a certificate is for, as identifierKey gives them: its subjectAltName's, and its CN,
 * which must be one of them (a certificate issued outside ACME may name another in its CN).
 * Undefined when a name is neither a DNS name nor an address, or the CN is not among the names:
 * no set of authorizations covers such a certificate. Node quotes a value with a comma or a quote
 * in it, and a quoted value matches no identifier.
 */
function certificateNameKeys(certificate: X509Certificate): string[] | undefined {
  const keys: string[] = [];
  for (const entry of (certificate.subjectAltName ?? "").split(", ").filter(Boolean)) {
    if (entry.startsWith("DNS:")) keys.push(identifierKey({ type: "dns", value: entry.slice(4) }));
    else if (entry.startsWith("IP Address:")) keys.push(identifierKey({ type: "ip", value: entry.slice(11) }));
    else return undefined;
  }
  const cn = /^CN=(.*)$/m.exec(certificate.subject)?.[1];
  if (cn !== undefined && !keys.includes(identifierKey({ type: "dns", value: cn })) && !keys.includes(identifierKey({ type: "ip", value: cn }))) return undefined;
  return keys;
}

/** The server's answer to a missing or foreign resource: RFC 8555 leaves the type open; malformed 404 as Boulder and pebble do. */
function notFound(what: string): AcmeProblem {
  return new AcmeProblem("malformed", `${what} does not exist`, { status: 404 });
}

export class AcmeServer {
  private readonly store: AcmeStore;
  private readonly authority: AcmeAuthority;
  private readonly validator: ChallengeValidator;
  private readonly revoker: AcmeRevoker | undefined;
  private readonly events: AcmeEvents;
  private readonly clock: () => Date;
  private readonly orderLifetimeMs: number;
  private readonly nonceLifetimeMs: number;
  readonly validations: ValidationQueue;
  private readonly caCertificates = new Map<string, X509Certificate>();
  private lastPurge = 0;

  constructor(options: AcmeServerOptions) {
    this.store = options.store;
    this.authority = options.authority;
    this.validator = options.validator;
    this.revoker = options.revoke;
    this.events = options.events ?? {};
    this.clock = options.clock ?? (() => new Date());
    this.orderLifetimeMs = options.orderLifetimeMs ?? 24 * hour;
    this.nonceLifetimeMs = options.nonceLifetimeMs ?? hour;
    this.validations = new ValidationQueue(options.maxConcurrentValidations ?? 8);
  }

  /** The provisioner of this name in the current config; a reload can add or remove one. */
  provisioner(name: string): AcmeProvisioner {
    const provisioner = this.authority.config.acme.get(name);
    if (!provisioner) {
      const names = [...this.authority.config.acme.keys()];
      throw new AcmeProblem("malformed", `no ACME provisioner "${name}" here; the provisioners are ${names.map((n) => `"${n}"`).join(", ") || "none"}`, { status: 404 });
    }
    return provisioner;
  }

  /** A fresh Replay-Nonce, kept in the store until it is used or expires. */
  async newNonce(): Promise<string> {
    const nonce = base64url.encode(randomBytes(16));
    const now = this.clock().getTime();
    await this.store.issueNonce(nonce, now + this.nonceLifetimeMs, now);
    return nonce;
  }

  directory({ provisioner, base }: AcmeContext): AcmeAnswer {
    return {
      status: 200,
      body: {
        newNonce: `${base}/new-nonce`,
        newAccount: `${base}/new-account`,
        newOrder: `${base}/new-order`,
        revokeCert: `${base}/revoke-cert`,
        keyChange: `${base}/key-change`,
        meta: { externalAccountRequired: provisioner.externalAccountRequired },
      },
    };
  }

  /**
   * Checks a request's JWS (RFC 8555 6.2–6.5): the header's url is the URL requested, its nonce one
   * this server issued and not used, exactly one of kid and jwk as the endpoint wants, the account
   * of the kid exists here and is valid, and the signature verifies.
   */
  async authenticate(context: AcmeContext, body: unknown, url: string, key: "kid" | "jwk" | "either"): Promise<Authenticated> {
    const decoded = decodeJws(body);
    const { header } = decoded;
    if (header.url === undefined) throw new AcmeProblem("malformed", "the protected header has no \"url\"");
    if (header.url !== url) throw new AcmeProblem("unauthorized", `the protected header's url "${header.url}" is not the URL requested, ${url}`);
    if (header.nonce === undefined || header.nonce === "") throw new AcmeProblem("badNonce", "the protected header has no \"nonce\"; get one from newNonce");
    if (!(await this.store.consumeNonce(header.nonce, this.clock().getTime()))) {
      throw new AcmeProblem("badNonce", "the nonce was not issued by this server, was used already, or has expired; use the one in this answer's Replay-Nonce");
    }
    const hasKid = header.kid !== undefined;
    const hasJwk = header.jwk !== undefined;
    if (hasKid === hasJwk) throw new AcmeProblem("malformed", hasKid ? "the protected header has both \"kid\" and \"jwk\"; send exactly one" : "the protected header has neither \"kid\" nor \"jwk\"");
    if (key === "kid" && hasJwk) throw new AcmeProblem("malformed", "this request must be signed with the account's key and name it by \"kid\" (the account URL), not \"jwk\"");
    if (key === "jwk" && hasKid) throw new AcmeProblem("malformed", "this request must carry the key itself in \"jwk\", not an account \"kid\"");
    if (hasJwk) {
      const jwk = publicAccountKey(header.jwk, header.alg);
      return { header, jwk, account: undefined, payload: payloadJson(await verifyJws(decoded, jwk)) };
    }
    const prefix = `${context.base}/account/`;
    const id = header.kid!.startsWith(prefix) ? header.kid!.slice(prefix.length) : undefined;
    const account = id && /^[A-Za-z0-9_-]+$/.test(id) ? await this.store.accountById(id) : undefined;
    if (!account || account.provisioner !== context.provisioner.name) {
      throw new AcmeProblem("accountDoesNotExist", `no account ${header.kid} at this provisioner; create one with newAccount`);
    }
    const jwk = publicAccountKey(account.jwk, header.alg);
    const payload = payloadJson(await verifyJws(decoded, jwk));
    if (account.status !== "valid") throw new AcmeProblem("unauthorized", `the account is ${account.status}; it can no longer be used`);
    return { header, jwk, account, payload };
  }

  // ── accounts ────────────────────────────────────────────────────────────────────────────────

  private accountUrl(context: AcmeContext, id: string): string {
    return `${context.base}/account/${id}`;
  }

  private accountResource(context: AcmeContext, account: AcmeAccount) {
    return { status: account.status, contact: account.contact, orders: `${this.accountUrl(context, account.id)}/orders` };
  }

  async newAccount(context: AcmeContext, request: Authenticated, url: string): Promise<AcmeAnswer> {
    const payload = request.payload;
    if (payload === undefined) throw new AcmeProblem("malformed", "newAccount needs a JSON object payload, not POST-as-GET");
    const thumbprint = await thumbprintOf(request.jwk);
    const existing = await this.store.accountByThumbprint(context.provisioner.name, thumbprint);
    const location = (account: AcmeAccount) => ({ location: this.accountUrl(context, account.id) });
    if (existing) {
      if (existing.status !== "valid") throw new AcmeProblem("unauthorized", `the account of this key is ${existing.status}`);
      return { status: 200, body: this.accountResource(context, existing), headers: location(existing) };
    }
    if (payload.onlyReturnExisting === true) throw new AcmeProblem("accountDoesNotExist", "no account has this key at this provisioner");
    const contact = readContact(payload.contact);
    let eabKeyId: string | null = null;
    if (payload.externalAccountBinding !== undefined) {
      eabKeyId = await verifyExternalAccountBinding(context.provisioner, this.authority.config.authKeys, payload.externalAccountBinding, request.jwk, url);
    } else if (context.provisioner.externalAccountRequired) {
      throw new AcmeProblem("externalAccountRequired", `provisioner "${context.provisioner.name}" requires an external account binding (RFC 8555 7.3.4) with one of its HMAC keys`);
    }
    const id = randomId();
    // Of two requests racing with one new key, the second gets the first's account (200).
    const account = await this.store.insertAccount({
      id,
      provisioner: context.provisioner.name,
      thumbprint,
      jwk: request.jwk as Record<string, unknown>,
      status: "valid",
      contact,
      eabKeyId,
      createdAt: this.clock().getTime(),
    });
    return { status: account.id === id ? 201 : 200, body: this.accountResource(context, account), headers: location(account) };
  }

  private ownAccount(request: Authenticated, id: string): AcmeAccount {
    if (request.account!.id !== id) throw new AcmeProblem("unauthorized", "the request is signed by another account than the one it names");
    return request.account!;
  }

  /** POST to the account URL: read it (POST-as-GET), change its contact, or deactivate it (RFC 8555 7.3.2, 7.3.6). */
  async updateAccount(context: AcmeContext, request: Authenticated, id: string): Promise<AcmeAnswer> {
    const account = this.ownAccount(request, id);
    const payload = request.payload;
    if (payload === undefined) return { status: 200, body: this.accountResource(context, account) };
    const change: { contact?: string[]; status?: "deactivated" } = {};
    if (payload.contact !== undefined) change.contact = readContact(payload.contact);
    if (payload.status !== undefined) {
      if (payload.status !== "deactivated") throw new AcmeProblem("malformed", `status: an account can only be set to "deactivated", not ${JSON.stringify(payload.status)}`);
      change.status = "deactivated";
    }
    await this.store.updateAccount(account.id, change);
    const updated = (await this.store.accountById(account.id))!;
    return { status: 200, body: this.accountResource(context, updated) };
  }

  async accountOrders(context: AcmeContext, request: Authenticated, id: string): Promise<AcmeAnswer> {
    const account = this.ownAccount(request, id);
    const ids = await this.store.orderIdsOfAccount(account.id);
    return { status: 200, body: { orders: ids.map((orderId) => `${context.base}/order/${orderId}`) } };
  }

  /** RFC 8555 7.3.5: the payload is a JWS by the new key over {account, oldKey}. */
  async keyChange(context: AcmeContext, request: Authenticated, url: string): Promise<AcmeAnswer> {
    const account = request.account!;
    if (request.payload === undefined) throw new AcmeProblem("malformed", "keyChange needs the inner JWS as its payload");
    const inner = decodeJws(request.payload);
    if (inner.header.jwk === undefined || inner.header.kid !== undefined) throw new AcmeProblem("malformed", "the inner JWS must carry the new key in \"jwk\" and no \"kid\"");
    if (inner.header.url !== url) throw new AcmeProblem("malformed", `the inner JWS's url must be the keyChange URL, ${url}`);
    if (inner.header.nonce !== undefined) throw new AcmeProblem("malformed", "the inner JWS must not have a nonce");
    const newKey = publicAccountKey(inner.header.jwk, inner.header.alg);
    const payload = payloadJson(await verifyJws(inner, newKey));
    if (payload?.account !== this.accountUrl(context, account.id)) throw new AcmeProblem("malformed", "the inner payload's account is not the URL of the account that signed the request");
    const oldThumbprint = await calculateJwkThumbprint(payload.oldKey as JWK, "sha256").catch(() => undefined);
    if (oldThumbprint !== account.thumbprint) throw new AcmeProblem("malformed", "the inner payload's oldKey is not the account's current key");
    const thumbprint = await thumbprintOf(newKey);
    const holder = await this.store.accountByThumbprint(context.provisioner.name, thumbprint);
    const conflict = (other: AcmeAccount) =>
      new AcmeProblem("malformed", "the new key is another account's already", { status: 409, headers: { location: this.accountUrl(context, other.id) } });
    if (holder) throw conflict(holder);
    if (!(await this.store.updateAccount(account.id, { jwk: newKey as Record<string, unknown>, thumbprint }))) {
      const other = await this.store.accountByThumbprint(context.provisioner.name, thumbprint);
      if (other) throw conflict(other);
      throw notFound("the account");
    }
    return { status: 200, body: this.accountResource(context, (await this.store.accountById(account.id))!) };
  }

  // ── orders ──────────────────────────────────────────────────────────────────────────────────

  async newOrder(context: AcmeContext, request: Authenticated): Promise<AcmeAnswer> {
    const payload = request.payload;
    if (payload === undefined) throw new AcmeProblem("malformed", "newOrder needs a JSON object payload with identifiers");
    if (payload.notBefore !== undefined || payload.notAfter !== undefined) {
      throw new AcmeProblem("malformed", "notBefore and notAfter are not supported: the provisioner's profile decides the certificate's lifetime; leave them out");
    }
    const identifiers = readIdentifiers(payload.identifiers);
    const { provisioner } = context;
    checkOrderIdentifiers(identifiers, provisioner, this.authority.configs.for(this.authority.cas.get(provisioner.label).label).profile(provisioner.profile));
    const now = this.clock().getTime();
    const expires = now + this.orderLifetimeMs;
    const order: AcmeOrder = {
      id: randomId(),
      accountId: request.account!.id,
      provisioner: provisioner.name,
      status: "pending",
      expires,
      identifiers,
      notBefore: null,
      notAfter: null,
      error: null,
      certificateSerial: null,
      certificateAuthorityKeyId: null,
      certificatePem: null,
      createdAt: now,
    };
    const authorizations: AcmeAuthorization[] = [];
    const challenges: AcmeChallenge[] = [];
    for (const identifier of identifiers) {
      const wildcard = identifier.type === "dns" && identifier.value.startsWith("*.");
      const authorization: AcmeAuthorization = {
        id: randomId(),
        orderId: order.id,
        identifier: wildcard ? { type: "dns", value: identifier.value.slice(2) } : identifier,
        status: "pending",
        expires,
        wildcard,
      };
      authorizations.push(authorization);
      // One token per authorization, shared by its challenges, as Boulder does: the client serves one file or record.
      const token = base64url.encode(randomBytes(32));
      for (const type of challengesFor(identifier, provisioner)) {
        challenges.push({ id: randomId(), authorizationId: authorization.id, type, token, status: "pending", validated: null, error: null });
      }
    }
    await this.store.insertOrder(order, authorizations, challenges);
    this.events.orderCreated?.(provisioner.name);
    this.purgeStaleOrders(now);
    return { status: 201, body: this.orderResource(context, order, authorizations), headers: { location: `${context.base}/order/${order.id}` } };
  }

  /**
   * At most once an hour, off the request: orders that expired a week ago without a certificate go,
   * with their authorizations and challenges, so the tables hold about a week of abandoned orders.
   */
  private purgeStaleOrders(now: number): void {
    if (now - this.lastPurge < hour) return;
    this.lastPurge = now;
    Promise.resolve()
      .then(() => this.store.purgeOrders(now - 7 * 24 * hour))
      .catch((error: unknown) => this.events.error?.(error, "stale ACME orders could not be purged"));
  }

  private orderResource(context: AcmeContext, order: AcmeOrder, authorizations: readonly AcmeAuthorization[]) {
    return {
      status: order.status,
      expires: iso(order.expires),
      identifiers: order.identifiers,
      authorizations: authorizations.map((authorization) => `${context.base}/authz/${authorization.id}`),
      finalize: `${context.base}/order/${order.id}/finalize`,
      ...(order.error ? { error: order.error } : {}),
      ...(order.status === "valid" ? { certificate: `${context.base}/cert/${order.id}` } : {}),
    };
  }

  /** An order of the requesting account, or a 404 (another account's order is not shown to exist). */
  private async ownedOrder(request: Authenticated, id: string): Promise<AcmeOrder> {
    const order = await this.store.orderById(id);
    if (!order || order.accountId !== request.account!.id) throw notFound(`order ${id}`);
    return order;
  }

  /** The authorizations of an order, in the order's identifier order. */
  private async authorizationsOf(order: AcmeOrder): Promise<AcmeAuthorization[]> {
    const position = new Map(order.identifiers.map((identifier, i) => [identifierKey(identifier), i]));
    return (await this.store.authorizationsOfOrder(order.id)).sort((a, b) => (position.get(authorizationKey(a)) ?? 0) - (position.get(authorizationKey(b)) ?? 0));
  }

  /**
   * Brings an order up to date (RFC 8555 7.1.6): authorizations past their expiry are expired, an
   * order past its own is invalid, a pending order whose authorizations are all valid is ready and
   * one with an authorization that failed is invalid. Each change is compare-and-set, so replicas agree.
   */
  private async refreshOrder(order: AcmeOrder): Promise<{ order: AcmeOrder; authorizations: AcmeAuthorization[] }> {
    const now = this.clock().getTime();
    const authorizations = await this.authorizationsOf(order);
    for (const authorization of authorizations) {
      if ((authorization.status === "pending" || authorization.status === "valid") && authorization.expires <= now) {
        if (await this.store.updateAuthorization(authorization.id, [authorization.status], "expired")) authorization.status = "expired";
      }
    }
    let next: Pick<AcmeOrder, "status" | "error"> | undefined;
    if ((order.status === "pending" || order.status === "ready") && order.expires <= now) {
      next = { status: "invalid", error: problemDocument("malformed", "the order expired before it was finalized; place a new one") };
    } else if (order.status === "pending") {
      const failed = authorizations.find((a) => a.status !== "pending" && a.status !== "valid");
      if (failed) {
        const challenge = (await this.store.challengesOfAuthorization(failed.id)).find((c) => c.status === "invalid");
        next = {
          status: "invalid",
          error: challenge?.error
            ? { ...challenge.error, identifier: failed.identifier } as ProblemDocument
            : problemDocument("unauthorized", `the authorization for ${failed.identifier.value} is ${failed.status}`, failed.identifier),
        };
      } else if (authorizations.every((a) => a.status === "valid")) {
        next = { status: "ready", error: null };
      }
    }
    if (next && (await this.store.updateOrder(order.id, [order.status], next))) return { order: { ...order, ...next }, authorizations };
    if (next) return { order: (await this.store.orderById(order.id))!, authorizations };
    return { order, authorizations };
  }

  async getOrder(context: AcmeContext, request: Authenticated, id: string): Promise<AcmeAnswer> {
    const { order, authorizations } = await this.refreshOrder(await this.ownedOrder(request, id));
    const pending = order.status === "pending" || order.status === "processing";
    return { status: 200, body: this.orderResource(context, order, authorizations), ...(pending ? { headers: { "retry-after": retryAfterSeconds } } : {}) };
  }

  /** RFC 8555 7.4: the CSR must name exactly the order's identifiers; it is signed under the provisioner's profile. */
  async finalize(context: AcmeContext, request: Authenticated, id: string): Promise<AcmeAnswer> {
    const { order, authorizations } = await this.refreshOrder(await this.ownedOrder(request, id));
    if (order.status !== "ready") {
      const why = order.status === "pending" ? "its authorizations are not all valid yet" : order.status === "invalid" ? "it is invalid" : "it was finalized already";
      throw new AcmeProblem("orderNotReady", `the order is ${order.status}: ${why}`);
    }
    if (request.payload === undefined) throw new AcmeProblem("malformed", "finalize needs a payload {\"csr\": base64url DER}");
    const pem = orderCsr(request.payload.csr, order.identifiers);
    if (!(await this.store.updateOrder(order.id, ["ready"], { status: "processing" }))) {
      throw new AcmeProblem("orderNotReady", "the order is being finalized by another request");
    }
    const { provisioner } = context;
    const account = request.account!;
    const acme: AcmeRequester = { provisioner: provisioner.name, accountId: account.id, eabKeyId: account.eabKeyId ?? undefined };
    let issued: IssuedCertificate;
    try {
      ({ issued } = await this.authority.sign(
        { certificate_request: pem, hosts: order.identifiers.map((identifier) => identifier.value), profile: provisioner.profile, label: provisioner.label || undefined },
        { acme },
      ));
    } catch (error) {
      // Back to ready: the client may send another CSR, or try again once the service can record.
      await this.store.updateOrder(order.id, ["processing"], { status: "ready" });
      throw signingProblem(error);
    }
    const done = { status: "valid" as const, certificateSerial: issued.serialNumber, certificateAuthorityKeyId: issued.authorityKeyId, certificatePem: issued.pem };
    await this.store.updateOrder(order.id, ["processing"], done);
    this.events.certificateIssued?.(provisioner.name);
    return {
      status: 200,
      body: this.orderResource(context, { ...order, ...done }, authorizations),
      headers: { location: `${context.base}/order/${order.id}` },
    };
  }

  /** The certificate and the chain above it, PEM (RFC 8555 7.4.2). */
  async certificate(_context: AcmeContext, request: Authenticated, id: string): Promise<AcmeAnswer> {
    const order = await this.ownedOrder(request, id);
    if (order.status !== "valid" || !order.certificatePem) throw notFound(`a certificate for order ${id}`);
    const served = this.authority.cas.all.find((entry) => entry.ca.subjectKeyId === order.certificateAuthorityKeyId);
    const chain = served ? [served.chain.ca, ...served.chain.above] : [];
    const text = [order.certificatePem, ...chain].map((pem) => (pem.endsWith("\n") ? pem : `${pem}\n`)).join("");
    return { status: 200, body: text, contentType: "application/pem-certificate-chain" };
  }

  // ── authorizations and challenges ───────────────────────────────────────────────────────────

  private async ownedAuthorization(request: Authenticated, id: string): Promise<{ authorization: AcmeAuthorization; order: AcmeOrder }> {
    const authorization = await this.store.authorizationById(id);
    const order = authorization && (await this.store.orderById(authorization.orderId));
    if (!authorization || !order || order.accountId !== request.account!.id) throw notFound(`authorization ${id}`);
    return { authorization, order };
  }

  private challengeResource(context: AcmeContext, challenge: AcmeChallenge) {
    return {
      type: challenge.type,
      url: `${context.base}/chall/${challenge.id}`,
      token: challenge.token,
      status: challenge.status,
      ...(challenge.validated !== null ? { validated: iso(challenge.validated) } : {}),
      ...(challenge.error ? { error: challenge.error } : {}),
    };
  }

  private async authorizationAnswer(context: AcmeContext, authorization: AcmeAuthorization): Promise<AcmeAnswer> {
    const challenges = await this.store.challengesOfAuthorization(authorization.id);
    // RFC 8555 7.1.4: a valid authorization lists the challenge that validated it.
    const shown = authorization.status === "valid" ? challenges.filter((c) => c.status === "valid") : challenges;
    return {
      status: 200,
      body: {
        identifier: authorization.identifier,
        status: authorization.status,
        expires: iso(authorization.expires),
        challenges: shown.map((challenge) => this.challengeResource(context, challenge)),
        ...(authorization.wildcard ? { wildcard: true } : {}),
      },
      ...(authorization.status === "pending" ? { headers: { "retry-after": retryAfterSeconds } } : {}),
    };
  }

  /** POST-as-GET reads an authorization; {"status": "deactivated"} deactivates it (RFC 8555 7.5.2). */
  async authorization(context: AcmeContext, request: Authenticated, id: string): Promise<AcmeAnswer> {
    const { authorization, order } = await this.ownedAuthorization(request, id);
    // Expiry is applied through the order, which owns the authorization's lifetime.
    await this.refreshOrder(order);
    let current = (await this.store.authorizationById(authorization.id))!;
    if (request.payload !== undefined) {
      if (request.payload.status !== "deactivated") throw new AcmeProblem("malformed", "an authorization can only be set to {\"status\": \"deactivated\"}");
      if (!(await this.store.updateAuthorization(current.id, ["pending", "valid"], "deactivated"))) {
        throw new AcmeProblem("malformed", `the authorization is ${current.status}; only a pending or valid one can be deactivated`);
      }
      await this.refreshOrder((await this.store.orderById(order.id))!);
      current = (await this.store.authorizationById(authorization.id))!;
    }
    return this.authorizationAnswer(context, current);
  }

  /**
   * POST-as-GET reads a challenge; any JSON object ({}) asks for it to be validated (RFC 8555
   * 7.5.1). Validation runs in the queue, off this request: the answer says processing.
   */
  async challenge(context: AcmeContext, request: Authenticated, id: string): Promise<AcmeAnswer> {
    const challenge = await this.store.challengeById(id);
    if (!challenge) throw notFound(`challenge ${id}`);
    // Another account's challenge is not shown to exist either.
    const owned = await this.ownedAuthorization(request, challenge.authorizationId).catch((error: unknown) => {
      if (error instanceof AcmeProblem) throw notFound(`challenge ${id}`);
      throw error;
    });
    const up = `<${context.base}/authz/${challenge.authorizationId}>;rel="up"`;
    let current = challenge;
    if (request.payload !== undefined && challenge.status === "pending") {
      await this.refreshOrder(owned.order);
      const authorization = (await this.store.authorizationById(challenge.authorizationId))!;
      if (authorization.status !== "pending") throw new AcmeProblem("malformed", `the authorization is ${authorization.status}; its challenges can no longer be answered`);
      if (await this.store.updateChallenge(challenge.id, ["pending"], { status: "processing" })) {
        current = { ...challenge, status: "processing" };
        const account = request.account!;
        const queued = this.validations.add(() => this.validate(current, authorization, account.thumbprint, owned.order.id));
        if (!queued) {
          await this.store.updateChallenge(challenge.id, ["processing"], { status: "pending" });
          throw new AcmeProblem("rateLimited", "too many validations are waiting; try again shortly", { headers: { "retry-after": "5" } });
        }
      } else {
        current = (await this.store.challengeById(challenge.id))!;
      }
    }
    return {
      status: 200,
      body: this.challengeResource(context, current),
      links: [up],
      ...(current.status === "processing" ? { headers: { "retry-after": retryAfterSeconds } } : {}),
    };
  }

  /**
   * At start: validates again the challenges left in processing, by a process that stopped (or was
   * killed) while it validated them; their clients are still polling. With replicas, one may be
   * validating a challenge still: the outcome recorded first stands (each step is compare-and-set).
   * Returns how many were queued.
   */
  async resumeValidations(): Promise<number> {
    let queued = 0;
    for (const challenge of await this.store.processingChallenges()) {
      const authorization = await this.store.authorizationById(challenge.authorizationId);
      const order = authorization && (await this.store.orderById(authorization.orderId));
      const account = order && (await this.store.accountById(order.accountId));
      if (authorization?.status !== "pending" || authorization.expires <= this.clock().getTime() || !order || !account) continue;
      if (this.validations.add(() => this.validate(challenge, authorization, account.thumbprint, order.id))) queued++;
    }
    return queued;
  }

  /** One validation, run by the queue: records the outcome on the challenge, its authorization and its order. */
  private async validate(challenge: AcmeChallenge, authorization: AcmeAuthorization, thumbprint: string, orderId: string): Promise<void> {
    const identifier: AcmeIdentifier = authorization.identifier;
    let result: ValidationResult;
    try {
      result = await this.validator.validate(challenge.type as ChallengeType, identifier, challenge.token, `${challenge.token}.${thumbprint}`);
    } catch (error) {
      this.events.error?.(error, `the ${challenge.type} validation of ${identifier.value} failed unexpectedly`);
      result = { ok: false, problem: { type: "serverInternal", detail: "the validation failed inside the server; the service log has the details" } };
    }
    if (!result.ok) this.events.problem?.(result.problem.type);
    // A challenge left in processing would keep its client polling until the order expires, so a
    // database that is busy or briefly unreachable is waited for. Each step only moves a record
    // on from the state it expects, so running them again after a partial success is harmless.
    for (let attempt = 0; ; attempt++) {
      try {
        if (result.ok) {
          await this.store.updateChallenge(challenge.id, ["processing"], { status: "valid", validated: this.clock().getTime() });
          await this.store.updateAuthorization(authorization.id, ["pending"], "valid");
        } else {
          await this.store.updateChallenge(challenge.id, ["processing"], { status: "invalid", error: problemDocument(result.problem.type, result.problem.detail, identifier) });
          await this.store.updateAuthorization(authorization.id, ["pending"], "invalid");
        }
        const order = await this.store.orderById(orderId);
        if (order) await this.refreshOrder(order);
        return;
      } catch (error) {
        if (attempt === recordRetryDelaysMs.length) {
          this.events.error?.(error, `the outcome of the ${challenge.type} validation of ${identifier.value} could not be recorded`);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, recordRetryDelaysMs[attempt]));
      }
    }
  }

  // ── revocation ──────────────────────────────────────────────────────────────────────────────

  private issuerOf(certificate: X509Certificate): { subjectKeyId: string } | undefined {
    for (const entry of this.authority.cas.all) {
      let ca = this.caCertificates.get(entry.ca.subjectKeyId);
      if (!ca) {
        ca = new X509Certificate(entry.ca.pem);
        this.caCertificates.set(entry.ca.subjectKeyId, ca);
      }
      if (certificate.checkIssued(ca) && certificate.verify(ca.publicKey)) return entry.ca;
    }
    return undefined;
  }

  /** RFC 8555 7.6: an account with a valid, unexpired authorization for each of the certificate's names may revoke it. */
  private async holdsAuthorizationsFor(accountId: string, certificate: X509Certificate): Promise<boolean> {
    const names = certificateNameKeys(certificate);
    if (!names || names.length === 0) return false;
    const held = new Set((await this.store.validAuthorizationsOfAccount(accountId, this.clock().getTime())).map(authorizationKey));
    return names.every((name) => held.has(name));
  }

  /**
   * RFC 8555 7.6: by the account that ordered the certificate or one that holds authorizations for
   * all its names (kid), or by the certificate's own key (jwk). Goes through the service's
   * revocation, so the inventory, the CRL and OCSP have it.
   */
  async revokeCert(_context: AcmeContext, request: Authenticated): Promise<AcmeAnswer> {
    const payload = request.payload;
    if (payload === undefined || typeof payload.certificate !== "string") throw new AcmeProblem("malformed", "revokeCert needs {\"certificate\": base64url DER}");
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(Buffer.from(base64url.decode(payload.certificate)));
    } catch {
      throw new AcmeProblem("malformed", "certificate: not the base64url DER of an X.509 certificate");
    }
    const reason = payload.reason ?? 0;
    if (typeof reason !== "number" || !revocationReasons.has(reason)) {
      throw new AcmeProblem("badRevocationReason", `reason ${JSON.stringify(reason)} is not accepted; use an RFC 5280 reason code: 0-6, 9 or 10`);
    }
    const issuer = this.issuerOf(certificate);
    if (!issuer) throw new AcmeProblem("malformed", "the certificate was not issued by a CA of this server", { status: 404 });
    const serial = BigInt(`0x${certificate.serialNumber}`).toString();
    if (request.account) {
      const order = await this.store.orderByCertificate(serial, issuer.subjectKeyId);
      if (order?.accountId !== request.account.id && !(await this.holdsAuthorizationsFor(request.account.id, certificate))) {
        throw new AcmeProblem(
          "unauthorized",
          "this account did not order the certificate and holds no valid authorization for each of its names; revoke it with the account that did, with the certificate's key, or after validating each name with this account",
        );
      }
    } else {
      const certificateKey = certificate.publicKey.export({ format: "jwk" }) as JWK;
      if ((await calculateJwkThumbprint(certificateKey, "sha256")) !== (await thumbprintOf(request.jwk))) {
        throw new AcmeProblem("unauthorized", "the request is signed with another key than the certificate's");
      }
    }
    if (!this.revoker) throw new AcmeProblem("serverInternal", "this service does not revoke certificates");
    let outcome: { messages: string[] };
    try {
      outcome = await this.revoker({ serial, authority_key_id: issuer.subjectKeyId, reason: String(reason) });
    } catch (error) {
      if (error instanceof CertwrightError && error.kind === "certificateNotFound") throw new AcmeProblem("malformed", "the certificate is not recorded here", { status: 404 });
      throw error;
    }
    if (outcome.messages.length > 0) throw new AcmeProblem("alreadyRevoked", "the certificate is revoked already");
    return { status: 200 };
  }

  async close(): Promise<void> {
    await this.validations.close();
  }
}

/** What a refusal of the signing means to an ACME client. */
function signingProblem(error: unknown): unknown {
  if (!(error instanceof CertwrightError)) return error;
  switch (error.kind) {
    case "csrDecodeFailed":
    case "csrParseFailed":
    case "csrInvalid":
    case "unsupportedKey":
    case "policyViolation":
    case "invalidRequest":
      return new AcmeProblem("badCSR", error.message, { cause: error });
    case "authenticationRequired":
    case "authenticationFailed":
      return new AcmeProblem("unauthorized", error.message, { cause: error });
    case "recordFailed":
    case "notReady":
      return new AcmeProblem("serverInternal", error.message, { status: 503, cause: error, headers: { "retry-after": "10" } });
    default:
      return error;
  }
}
