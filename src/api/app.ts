import type { TLSSocket } from "node:tls";
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import { validatorCompiler } from "fastify-type-provider-zod";
import { requireAdmin } from "../authority/authentication.js";
import type { Authority } from "../authority/authority.js";
import type { SigningConfigReloader } from "../authority/config-reload.js";
import type { InventoryService } from "../authority/inventory.js";
import type { InventoryOverview } from "../authority/inventory-overview.js";
import type { RevocationService } from "../authority/revocation.js";
import { Revocations } from "../authority/revocations.js";
import { CertwrightError } from "../errors.js";
import type { GuardStorage } from "../store/backend.js";
import type { ReadinessService } from "../authority/readiness.js";
import { consoleStatic } from "./console-static.js";
import { handleError } from "./error-handler.js";
import { documentRoutes, serveDocsPage } from "./lazy-docs.js";
import { logSerializers } from "./log-redaction.js";
import type { Metrics } from "./metrics.js";
import { openapiOptions } from "./openapi.js";
import { installRateLimit, type RateLimit } from "./rate-limit.js";
import { refuseRevokedClientCertificates } from "./client-revocation.js";
import { RequestLog } from "./request-log.js";
import { AcmeServer } from "../acme/server.js";
import type { ChallengeValidator } from "../acme/validation/types.js";
import type { AcmeStore } from "../store/acme-records.js";
import { acmeRoutes, answerAcmeFrameworkError, isAcmeUrl } from "./routes/acme.js";
import { adminRoutes } from "./routes/admin.js";
import { cfsslRoutes } from "./routes/cfssl.js";
import { consoleRoutes } from "./routes/console.js";
import type { AdminCheck } from "./routes/common.js";
import { inventoryRoutes } from "./routes/inventory.js";
import { readinessRoutes } from "./routes/readiness.js";
import { revocationRoutes } from "./routes/revocation.js";

export interface AppOptions {
  authority: Authority;
  /** The certificate inventory (list, get, tidy); absent: those endpoints are not served. */
  inventory?: InventoryService | undefined;
  /** The operator console's overview totals; absent: its endpoint is not served (the console's pages still are). */
  overview?: InventoryOverview | undefined;
  /** Revocation, CRL and OCSP; absent: those endpoints are not served. */
  revocation?: RevocationService | undefined;
  /** Revocation for several CAs by label (--ca-config); when given, it serves instead of `revocation`. */
  revocations?: Revocations | undefined;
  /** Fastify's logger option; default: no logging (tests). */
  logger?: FastifyServerOptions["logger"];
  /** Largest request body accepted, in bytes; default 1 MiB. */
  bodyLimit?: number;
  /** Version reported in the OpenAPI document. */
  version?: string;
  /**
   * Serve HTTPS: the certificate and key PEM. TLS 1.2 at least; Node prefers 1.3. With `clientCa`
   * every client must present a certificate from that CA, and with `clientCn` one whose CN matches.
   */
  tls?: { cert: string; key: string; clientCa?: string | undefined; clientCn?: RegExp | undefined } | undefined;
  /** Per-client rate limiting, counted in the guard store; absent: no limit. */
  rateLimit?: { limit: RateLimit; store: GuardStorage } | undefined;
  /** The admin token that init_ca, revoke and the inventory need once any authentication is configured. */
  adminToken?: string | undefined;
  /** Prometheus metrics at GET /metrics, counting every answer; absent: no metrics (tests). */
  metrics?: Metrics | undefined;
  /** The readiness checks behind GET /api/v1/ready; absent: that endpoint is not served. */
  readiness?: ReadinessService | undefined;
  /** Live reload of the signing config at POST /api/v1/admin/reload; absent: that endpoint is not served. */
  reloader?: SigningConfigReloader | undefined;
  /** HTTP timeouts of the listening server; default `defaultHttpTimeouts`. */
  timeouts?: HttpTimeouts | undefined;
  /** The ACME server at /acme/<provisioner>/ for the signing config's `acme` section; absent: not served. */
  acme?: AcmeOptions | undefined;
}

/** What the ACME server needs beside the authority: its records and how challenges are validated. */
export interface AcmeOptions {
  store: AcmeStore;
  validator: ChallengeValidator;
  /** The scheme, host and port clients reach the service at; default: each request's own (Host header). */
  externalUrl?: string | undefined;
  /** Challenge validations in flight at once; default 8. */
  maxConcurrentValidations?: number | undefined;
  /** Default: the system clock. */
  clock?: (() => Date) | undefined;
}

/** How long a client may take to send its headers and its whole request, and how long an idle keep-alive connection stays open. */
export interface HttpTimeouts {
  headersMs: number;
  requestMs: number;
  keepAliveMs: number;
}

/**
 * Short enough that clients which open connections and send slowly (or nothing) cannot hold
 * sockets for minutes and run the process out of file descriptors; long enough for any real client.
 */
export const defaultHttpTimeouts: HttpTimeouts = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000 };

/** Node's http server options for these timeouts (headers and request timeouts are Node's own). */
function serverTimeoutOptions(timeouts: HttpTimeouts) {
  return {
    headersTimeout: timeouts.headersMs,
    requestTimeout: timeouts.requestMs,
    // Node looks for connections past those timeouts every this often (default 30 s, which would let
    // a slow client keep its socket up to 30 s past the timeout).
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(timeouts.headersMs / 4))),
  };
}

/** The serializer compiler of every route: the schema is for the document, the answer is plain JSON. */
const serializeJson = () => (data: unknown) => JSON.stringify(data);

// fastify's types describe these factories for ajv's compilers only; at run time a factory returns
// the compiler that routes use, whatever it is.
const ownCompilers = {
  compilersFactory: { buildValidator: () => validatorCompiler, buildSerializer: () => serializeJson },
} as unknown as NonNullable<FastifyServerOptions["schemaController"]>;

declare module "fastify" {
  interface FastifyRequest {
    /** The request body as it arrived. */
    rawBody?: Buffer;
  }
}

/**
 * Builds the HTTP app; it never listens, so tests drive it with `inject` and `serve` owns the port.
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const timeouts = options.timeouts ?? defaultHttpTimeouts;
  const app = Fastify({
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    // A socket with no traffic at all for the request timeout is dropped too (a stalled body).
    connectionTimeout: timeouts.requestMs,
    http: serverTimeoutOptions(timeouts),
    ...(options.tls
      ? {
          https: {
            ...serverTimeoutOptions(timeouts),
            cert: options.tls.cert,
            key: options.tls.key,
            minVersion: "TLSv1.2" as const,
            ...(options.tls.clientCa ? { ca: options.tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
          },
        }
      : {}),
    // Whatever logger is asked for, secrets are kept out of it (log-redaction.ts).
    logger: options.logger ? { ...(options.logger === true ? {} : options.logger), serializers: logSerializers } : false,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // A URL the router refuses (bad percent-encoding, a path parameter over 100 characters) gets the
    // envelope too; or, under /acme/, a problem document, as the rest of ACME.
    frameworkErrors: (error, request, reply) => void (options.acme && isAcmeUrl(request.url) ? answerAcmeFrameworkError(error, request, reply) : handleError(error, request, reply)),
    logController: new RequestLog(),
    // The compilers set below, given as factories too: otherwise fastify loads its defaults (ajv and
    // fast-json-stringify, 90 ms of the start) only to have them replaced.
    schemaController: ownCompilers,
  });
  app.setValidatorCompiler(validatorCompiler);
  // Answers are built by our own code from typed values, so they are not validated again on the way
  // out: the response schemas document them (OpenAPI) and type-check the handlers.
  app.setSerializerCompiler(serializeJson);
  app.setErrorHandler(handleError);
  // Before any route: the document lists the routes registered after it (GET /metrics too).
  documentRoutes(app, openapiOptions(options.version ?? "0.1.0"));
  // Before any route, so every answer is counted, the not-found handler's included.
  const inventory = options.inventory;
  options.metrics?.instrument(app, {
    ca: options.authority.ca,
    countExpiring: inventory ? (withinMs) => inventory.countExpiring(withinMs) : undefined,
  });

  // cfssl reads every body as JSON, whatever its content type says (`curl -d` sends the form type).
  // The raw bytes are kept: the CFSSL-HMAC header authenticates the body exactly as sent.
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (request, body, done) => {
    request.rawBody = body as Buffer;
    const text = (body as Buffer).toString("utf8");
    if (text.trim() === "") return done(null, {});
    parseJson(request, text, done);
  });
  // OCSP requests are DER, never JSON.
  app.addContentTypeParser("application/ocsp-request", { parseAs: "buffer" }, (request, body, done) => {
    request.rawBody = body as Buffer;
    done(null, body);
  });
  // Fastify skips the parser when a request has no content type and no body (`curl -X POST`): that is {} too.
  // Hooks on every request take a callback rather than return a promise: one microtask less each.
  app.addHook("preValidation", (request, _reply, done) => {
    if (request.method === "POST" && request.body === undefined) request.body = {};
    done();
  });

  // Answers carry private keys: nothing may cache them (CRLs and OCSP answers say otherwise
  // themselves), and browsers must not sniff them.
  const hsts = options.tls !== undefined;
  app.addHook("onSend", (_request, reply, payload, done) => {
    if (!reply.hasHeader("cache-control")) reply.header("cache-control", "no-store");
    reply.header("x-content-type-options", "nosniff");
    if (hsts) reply.header("strict-transport-security", "max-age=31536000");
    done(null, payload);
  });

  const clientCn = options.tls?.clientCn;
  if (clientCn) {
    app.addHook("onRequest", async (request) => {
      const cn = (request.raw.socket as TLSSocket).getPeerCertificate?.().subject?.CN;
      if (typeof cn !== "string" || !clientCn.test(cn)) {
        throw new CertwrightError("authenticationFailed", `client certificate CN "${cn ?? ""}" is not allowed (--mutual-tls-cn)`);
      }
    });
  }

  if (options.tls?.clientCa) {
    refuseRevokedClientCertificates(app, (serial, authorityKeyId) => options.authority.isRevoked(serial, authorityKeyId));
  }

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0]!;
    const allowed = ["GET", "POST"].filter((method) => app.hasRoute({ url: path, method }));
    if (allowed.length > 0) {
      reply.header("allow", allowed.join(", "));
      return handleError(
        new CertwrightError("methodNotAllowed", `${request.method} is not allowed on ${path}; use ${allowed.join(" or ")}`),
        request,
        reply,
      );
    }
    return handleError(new CertwrightError("notFound", `no endpoint ${request.method} ${path}; see /openapi.json`), request, reply);
  });

  serveDocsPage(app, "/docs");
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  // Making CAs, revoking, reading the inventory and reloading are an admin's acts once the service
  // authenticates anyone at all (any CA's config has auth_keys); before that, everything is as open
  // as cfssl. Decided per request: a reload can add or remove the configs' auth_keys.
  const authority = options.authority;
  const adminCheck: AdminCheck = (request) => {
    const adminRequired = authority.authenticates || options.adminToken !== undefined;
    if (adminRequired) requireAdmin(request.headers.authorization, options.adminToken);
    return adminRequired;
  };
  if (options.rateLimit) installRateLimit(app, options.rateLimit.limit, options.rateLimit.store, () => authority.authKeySets);
  await app.register(cfsslRoutes, { authority: options.authority, requireAdmin: adminCheck });
  if (options.inventory) await app.register(inventoryRoutes, { inventory: options.inventory, requireAdmin: adminCheck });
  const revocation = options.revocations ?? (options.revocation && new Revocations(options.revocation));
  if (revocation) await app.register(revocationRoutes, { revocation, requireAdmin: adminCheck });
  if (options.readiness) await app.register(readinessRoutes, { readiness: options.readiness });
  if (options.reloader) await app.register(adminRoutes, { reloader: options.reloader, requireAdmin: adminCheck });
  if (options.acme) {
    const metrics = options.metrics;
    const server = new AcmeServer({
      store: options.acme.store,
      authority,
      validator: options.acme.validator,
      revoke: revocation && ((request) => revocation.revoke(request)),
      clock: options.acme.clock,
      maxConcurrentValidations: options.acme.maxConcurrentValidations,
      events: {
        orderCreated: (provisioner) => metrics?.acmeOrder(provisioner, "created"),
        certificateIssued: (provisioner) => metrics?.acmeOrder(provisioner, "issued"),
        // Failed validations; the problems answered are counted by the routes.
        problem: (type) => metrics?.acmeFailure(type),
        error: (error, message) => app.log.error({ err: error }, message),
      },
    });
    await app.register(acmeRoutes, { prefix: "/acme", server, externalUrl: options.acme.externalUrl, onProblem: (type) => metrics?.acmeFailure(type) });
    server.resumeValidations().then(
      (queued) => queued > 0 && app.log.info(`ACME: validating again ${queued} challenge(s) left in processing when the service last stopped`),
      (error: unknown) => app.log.error({ err: error }, "ACME: the challenges left in processing could not be read; their orders expire"),
    );
  }
  if (options.overview) await app.register(consoleRoutes, { overview: options.overview, config: () => authority.config, requireAdmin: adminCheck });
  await app.register(consoleStatic);
  return app;
}
