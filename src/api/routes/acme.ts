// The ACME server's HTTP face (RFC 8555), registered under /acme: it reads the request, asks
// AcmeServer once, and sends what it answers. Its answers are ACME's own, not cfssl's envelope:
// JSON resources, RFC 7807 problem documents, a PEM chain; so the plugin has its own error and
// not-found handlers, and every answer carries a fresh Replay-Nonce and the directory's Link.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { AcmeProblem, type AcmeProblemType } from "../../acme/problems.js";
import type { AcmeAnswer, AcmeContext, AcmeServer, Authenticated } from "../../acme/server.js";
import type { ErrorKind } from "../../errors.js";
import { toCertwrightError } from "../error-handler.js";
import { access, documentedAs } from "../openapi.js";

export interface AcmeRoutesOptions {
  server: AcmeServer;
  /**
   * The scheme, host and port clients reach the service at (what the JWS `url` of each request
   * must start with); default: the request's own, from its Host header and the listener's scheme.
   */
  externalUrl?: string | undefined;
  /** Every problem answered, by ACME type (metrics). */
  onProblem?: ((type: AcmeProblemType) => void) | undefined;
}

declare module "fastify" {
  interface FastifyRequest {
    /** Link headers an ACME answer adds to the directory's. */
    acmeLinks?: string[];
  }
}

const joseType = "application/jose+json";

/** A flattened JWS, as every ACME POST carries (for the document). */
const jwsSchema = z
  .object({ protected: z.string(), payload: z.string().meta({ description: "base64url JSON, or empty for POST-as-GET" }), signature: z.string() })
  .meta({ id: "AcmeJws", description: "A JWS in flattened JSON serialization (RFC 8555 6.2)" });

/** An RFC 7807 problem document as ACME answers it (RFC 8555 6.7). */
const problemSchema = z
  .object({ type: z.string(), detail: z.string(), status: z.number().int().optional(), subproblems: z.array(z.object({}).passthrough()).optional() })
  .meta({ id: "AcmeProblem" });

/** How an error of the service's own table reads to an ACME client. */
const kindProblems: Partial<Record<ErrorKind, { type: AcmeProblemType; status?: number }>> = {
  malformedBody: { type: "malformed" },
  invalidRequest: { type: "malformed" },
  bodyTooLarge: { type: "malformed", status: 413 },
  rateLimited: { type: "rateLimited" },
  authenticationRequired: { type: "unauthorized", status: 401 },
  authenticationFailed: { type: "unauthorized" },
  requestReplayed: { type: "unauthorized" },
  notReady: { type: "serverInternal", status: 503 },
  recordFailed: { type: "serverInternal", status: 503 },
};

/** Whatever went wrong, as one problem; the cause of a 500 goes to the log, never to the client. */
function toProblem(error: FastifyError | Error, request: FastifyRequest): AcmeProblem {
  if (error instanceof AcmeProblem) {
    if (error.status >= 500) request.log.error({ err: error.extra.cause ?? error }, error.detail);
    return error;
  }
  const failure = toCertwrightError(error);
  const mapped = kindProblems[failure.kind];
  if (mapped) return new AcmeProblem(mapped.type, failure.message, { ...(mapped.status ? { status: mapped.status } : {}) });
  request.log.error({ err: failure.cause ?? error }, failure.message);
  return new AcmeProblem("serverInternal", "internal error; the service log has the details");
}

function sendProblemDocument(problem: AcmeProblem, reply: FastifyReply): FastifyReply {
  for (const [name, value] of Object.entries(problem.extra.headers ?? {})) reply.header(name, value);
  return reply.status(problem.status).type("application/problem+json").send(JSON.stringify(problem.toDocument()));
}

/**
 * A URL under /acme/ that fastify refuses before any route sees it (a %-escape that does not
 * decode, a path segment over 100 characters): a problem document too, not cfssl's envelope.
 */
export function answerAcmeFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const tooLong = error.code === "FST_ERR_MAX_PARAM_LENGTH";
  return sendProblemDocument(tooLong ? new AcmeProblem("malformed", "a path segment is longer than 100 characters; no ACME resource has an id that long") : toProblem(error, request), reply);
}

/** Whether a URL is the ACME server's (what `answerAcmeFrameworkError` answers for). */
export const isAcmeUrl = (url: string) => url.startsWith("/acme/");

export async function acmeRoutes(app: FastifyInstance, { server, externalUrl, onProblem }: AcmeRoutesOptions) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  app.addHook("onClose", async () => server.close());

  const origin = (request: FastifyRequest) => externalUrl?.replace(/\/$/, "") ?? `${request.protocol}://${request.host}`;
  const contextOf = (request: FastifyRequest): AcmeContext => {
    const name = (request.params as { provisioner?: string }).provisioner ?? "";
    return { provisioner: server.provisioner(name), base: `${origin(request)}/acme/${name}` };
  };
  /** The URL the client asked for, as the JWS must name it. */
  const requestUrl = (request: FastifyRequest) => `${origin(request)}${request.url}`;

  const sendProblem = (problem: AcmeProblem, reply: FastifyReply) => {
    onProblem?.(problem.type);
    return sendProblemDocument(problem, reply);
  };
  app.setErrorHandler((error: FastifyError | Error, request, reply) => sendProblem(toProblem(error, request), reply));
  app.setNotFoundHandler((request, reply) =>
    sendProblem(new AcmeProblem("malformed", `no ACME resource ${request.method} ${request.url.split("?")[0]}; start from /acme/<provisioner>/directory`, { status: 404 }), reply),
  );

  // RFC 8555 6.5: every answer carries a fresh nonce, a badNonce refusal most of all; 7.1: and the
  // directory's Link. A nonce that cannot be stored (the database is down) is left out: the answer
  // itself says what went wrong.
  app.addHook("onSend", async (request, reply, payload) => {
    try {
      reply.header("replay-nonce", await server.newNonce());
    } catch (error) {
      request.log.warn({ err: error }, "no Replay-Nonce: the nonce could not be stored");
    }
    const name = (request.params as { provisioner?: string } | undefined)?.provisioner;
    const links = [...(name ? [`<${origin(request)}/acme/${name}/directory>;rel="index"`] : []), ...(request.acmeLinks ?? [])];
    if (links.length > 0) reply.header("link", links);
    reply.header("cache-control", "no-store");
    return payload;
  });

  const send = (request: FastifyRequest, reply: FastifyReply, answer: AcmeAnswer) => {
    for (const [name, value] of Object.entries(answer.headers ?? {})) reply.header(name, value);
    if (answer.links) request.acmeLinks = answer.links;
    reply.status(answer.status);
    if (answer.body === undefined) return reply.send();
    if (answer.contentType) return reply.type(answer.contentType).send(answer.body);
    return reply.type("application/json").send(JSON.stringify(answer.body));
  };

  const provisionerParams = z.object({ provisioner: z.string().max(64).meta({ description: "The provisioner's name (the signing config's acme section)" }) });
  const resourceParams = provisionerParams.extend({ id: z.string().max(64).meta({ description: "The resource's id" }) });
  // ACME's answers are not cfssl's envelope: RFC 7807 problem documents for every refusal.
  const problems = {
    "4XX": { description: "Refused: an RFC 7807 problem document whose type is urn:ietf:params:acme:error:<type>", content: { "application/problem+json": { schema: problemSchema } } },
    default: { description: "The service failed (serverInternal), a problem document", content: { "application/problem+json": { schema: problemSchema } } },
  };
  const json = (description: string) => ({ description, content: { "application/json": { schema: z.object({}).passthrough() } } });
  const schema = (operationId: string, summary: string, params: z.ZodType, response: Record<string, unknown>) => ({
    operationId,
    summary,
    tags: ["acme"],
    security: access.open,
    params,
    response: { ...response, ...problems },
  });

  api.get("/:provisioner/directory", { schema: schema("acmeDirectory", "ACME directory (RFC 8555 7.1.1): the URLs of the provisioner's resources", provisionerParams, { 200: json("The directory") }) }, async (request, reply) =>
    send(request, reply, server.directory(contextOf(request))),
  );
  // RFC 8555 7.2: HEAD answers 200, GET 204; both only to carry the Replay-Nonce.
  const nonceAnswer = {
    description: "A fresh nonce in the Replay-Nonce header; no body",
    content: { "text/plain": { schema: z.literal("").meta({ description: "empty" }) } },
  };
  app.head("/:provisioner/new-nonce", { schema: schema("acmeNewNonceHead", "A fresh Replay-Nonce (RFC 8555 7.2)", provisionerParams, { 200: nonceAnswer }) }, async (request, reply) => {
    contextOf(request);
    return reply.status(200).send();
  });
  app.get("/:provisioner/new-nonce", { exposeHeadRoute: false, schema: schema("acmeNewNonce", "A fresh Replay-Nonce (RFC 8555 7.2)", provisionerParams, { 204: nonceAnswer }) }, async (request, reply) => {
    contextOf(request);
    return reply.status(204).send();
  });

  /** A POST route: the JWS checked (signed by `key`), then `handle` with the verified request. */
  const post = (
    path: string,
    operationId: string,
    summary: string,
    key: "kid" | "jwk" | "either",
    handle: (context: AcmeContext, request: Authenticated, url: string, id: string) => Promise<AcmeAnswer>,
  ) => {
    const params = path.includes(":id") ? resourceParams : provisionerParams;
    const answers =
      path === "/cert/:id"
        ? { 200: { description: "The certificate and the CAs above it", content: { "application/pem-certificate-chain": { schema: z.string() } } } }
        : { 200: json("The resource"), ...(path.startsWith("/new-") ? { 201: json("Created; Location names it") } : {}) };
    api.post(
      `/:provisioner${path}`,
      {
        schema: schema(operationId, summary, params, answers),
        // The body is a flattened JWS (RFC 8555 6.2), checked by the handler rather than a schema.
        config: { swaggerTransform: documentedAs({ body: jwsSchema, consumes: [joseType] }) },
      },
      async (request, reply) => {
        const type = (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
        if (type !== joseType) throw new AcmeProblem("malformed", `Content-Type must be ${joseType}, not "${type || "none"}"`, { status: 415 });
        const context = contextOf(request);
        const url = requestUrl(request);
        const verified = await server.authenticate(context, request.body, url, key);
        return send(request, reply, await handle(context, verified, url, (request.params as { id?: string }).id ?? ""));
      },
    );
  };

  post("/new-account", "acmeNewAccount", "Create or find an account (RFC 8555 7.3)", "jwk", (c, r, url) => server.newAccount(c, r, url));
  post("/account/:id", "acmeAccount", "Read, update or deactivate an account (RFC 8555 7.3.2, 7.3.6)", "kid", (c, r, _url, id) => server.updateAccount(c, r, id));
  post("/account/:id/orders", "acmeAccountOrders", "The account's orders (RFC 8555 7.1.2.1)", "kid", (c, r, _url, id) => server.accountOrders(c, r, id));
  post("/key-change", "acmeKeyChange", "Roll the account key over (RFC 8555 7.3.5)", "kid", (c, r, url) => server.keyChange(c, r, url));
  post("/new-order", "acmeNewOrder", "Place an order for DNS names and IP addresses (RFC 8555 7.4, RFC 8738)", "kid", (c, r) => server.newOrder(c, r));
  post("/order/:id", "acmeOrder", "Read an order (POST-as-GET)", "kid", (c, r, _url, id) => server.getOrder(c, r, id));
  post("/order/:id/finalize", "acmeFinalize", "Finalize a ready order with a CSR (RFC 8555 7.4)", "kid", (c, r, _url, id) => server.finalize(c, r, id));
  post("/authz/:id", "acmeAuthorization", "Read or deactivate an authorization (RFC 8555 7.5)", "kid", (c, r, _url, id) => server.authorization(c, r, id));
  post("/chall/:id", "acmeChallenge", "Read a challenge, or ({}) have it validated (RFC 8555 7.5.1)", "kid", (c, r, _url, id) => server.challenge(c, r, id));
  post("/cert/:id", "acmeCertificate", "Download the certificate and its chain, PEM (RFC 8555 7.4.2)", "kid", (c, r, _url, id) => server.certificate(c, r, id));
  post("/revoke-cert", "acmeRevokeCert", "Revoke a certificate by the ordering account's key or the certificate's key (RFC 8555 7.6)", "either", (c, r) =>
    server.revokeCert(c, r),
  );
}
