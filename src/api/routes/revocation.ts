import type { FastifyInstance, FastifyReply } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { createHash } from "node:crypto";
import { maxCachedCrlLifetimes, type OcspAnswer } from "../../authority/revocation.js";
import type { Revocations } from "../../authority/revocations.js";
import { CertwrightError } from "../../errors.js";
import { formatHours, parseDuration } from "../../profiles/duration.js";
import { certificateSummarySchema, ocspSignRequestSchema, ocspSignResultSchema, revokeRequestSchema } from "../../schemas/wire.js";
import { audit } from "../audit.js";
import { clientIdentity } from "../client-identity.js";
import { successEnvelope } from "../envelope.js";
import { apiPrefix } from "./cfssl.js";
import { access, documentedAs } from "../openapi.js";
import { binary, errorAnswers, responses, type AdminCheck } from "./common.js";

/** CRLs and OCSP answers are public and cheap to keep: let caches hold them for five minutes. */
const publicCache = "public, max-age=300";

function sendDer(reply: FastifyReply, type: string, der: Uint8Array) {
  return reply.header("content-type", type).header("cache-control", publicCache).send(Buffer.from(der));
}

/**
 * RFC 5019 6.2: an OCSP answer fetched by GET is cached by HTTP caches and CDNs for as long as it
 * holds: Last-Modified its thisUpdate, Expires its nextUpdate, max-age the seconds left, and an
 * ETag of its bytes. One that does not say how long it holds (unknown, an error, a nonce echoed) is
 * not kept. POST answers are not cacheable (RFC 5019 5).
 */
function sendOcsp(reply: FastifyReply, answer: OcspAnswer, method: "GET" | "POST", now = new Date()) {
  reply.header("content-type", "application/ocsp-response");
  if (method === "GET" && answer.thisUpdate && answer.nextUpdate) {
    const maxAge = Math.max(0, Math.floor((answer.nextUpdate.getTime() - now.getTime()) / 1000));
    reply
      .header("cache-control", `max-age=${maxAge}, public, no-transform, must-revalidate`)
      .header("last-modified", answer.thisUpdate.toUTCString())
      .header("expires", answer.nextUpdate.toUTCString())
      .header("etag", `"${createHash("sha1").update(answer.der).digest("hex")}"`);
  } else {
    reply.header("cache-control", "no-cache, no-store");
  }
  return reply.send(Buffer.from(answer.der));
}

/** Revoking, and the two ways clients learn of it: the CRL and the OCSP responder. */
export async function revocationRoutes(app: FastifyInstance, { revocation, requireAdmin }: { revocation: Revocations; requireAdmin: AdminCheck }) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  app.addHook("onClose", async () => revocation.close());
  const [crlName] = revocation.crlNames;
  const crlNames = revocation.crlNames.join(", ");

  api.post(
    `${apiPrefix}/revoke`,
    {
      schema: {
        operationId: "cfsslRevoke",
        summary: "Revoke a certificate by serial (decimal or hex) and authority key id, with an RFC 5280 reason",
        tags: ["revocation"],
        security: access.admin,
        body: revokeRequestSchema,
        response: responses(certificateSummarySchema, [400, 401, 403, 404, 413, 429]),
      },
    },
    async (request) => {
      const entry = audit(request, { endpoint: "revoke", client: clientIdentity(request), serial: request.body.serial });
      if (requireAdmin(request)) entry.client = "admin";
      const { summary, messages } = await revocation.revoke(request.body);
      Object.assign(entry, {
        outcome: messages.length > 0 ? "already revoked" : "revoked",
        serial: summary.serial_number,
        profile: summary.profile,
        cn: summary.common_name,
        sans: summary.sans,
      });
      return successEnvelope(summary, messages);
    },
  );

  api.get(
    `${apiPrefix}/crl`,
    {
      schema: {
        operationId: "cfsslCrl",
        summary: "The CA's CRL as base64 DER, as cfssl's crl endpoint answers it",
        tags: ["revocation"],
        security: access.open,
        querystring: z.object({ expiry: z.string().max(64).optional().meta({ description: "CRL lifetime as a Go duration; default 168h" }) }),
        response: responses(z.string().meta({ description: "base64 DER CRL" }), [400, 403, 429]),
      },
    },
    async (request) => {
      const { expiry } = request.query;
      const lifetime = expiry === undefined ? undefined : parseDuration(expiry);
      // At least a minute: a cached CRL is re-signed at half its lifetime, so a shorter one would
      // be signed again (taking a CRL number) every few requests.
      if (lifetime !== undefined && (lifetime < 60_000 || lifetime > 366 * 24 * 3_600_000)) {
        throw new CertwrightError("invalidRequest", `expiry: "${expiry}" must be a duration from 1m to a year, such as 168h`);
      }
      if (expiry !== undefined && lifetime === undefined) {
        throw new CertwrightError("invalidRequest", `expiry: "${expiry}" is not a duration; write it as 168h or 7d`);
      }
      if (lifetime === undefined) return successEnvelope(Buffer.from(await revocation.crl()).toString("base64"));
      const served = await revocation.crlFor(lifetime);
      const note =
        served.lifetimeMs === lifetime
          ? []
          : [`expiry ${expiry}: ${maxCachedCrlLifetimes} other lifetimes are kept signed already; this CRL has the nearest, ${formatHours(served.lifetimeMs)}`];
      return successEnvelope(Buffer.from(served.der).toString("base64"), note);
    },
  );

  api.get(
    "/crl/:name",
    {
      schema: {
        operationId: "getCrl",
        summary: `A CRL distribution point: DER, application/pkix-crl (${crlNames} here), for a profile's crl_url`,
        tags: ["revocation"],
        security: access.open,
        params: z.object({ name: z.string().max(300).meta({ description: `The CRL's file name: ${crlNames} here` }) }),
        response: { 200: binary("application/pkix-crl", "The CRL, DER"), ...errorAnswers([400, 403, 404]) },
      },
    },
    async (request, reply) => {
      const service = revocation.byCrl(request.params.name);
      if (!service) {
        const published = revocation.crlNames.length === 1 ? `this service's CA publishes /crl/${crlName}` : `its CAs publish ${revocation.crlNames.map((name) => `/crl/${name}`).join(", ")}`;
        throw new CertwrightError("unknownCaLabel", `no CRL ${request.params.name} here; ${published}`);
      }
      return sendDer(reply, "application/pkix-crl", await service.crl());
    },
  );

  api.post(
    `${apiPrefix}/ocspsign`,
    {
      schema: {
        operationId: "cfsslOcspSign",
        summary: "cfssl's ocspsign: a signed OCSP answer for a certificate of this CA, with the status given",
        tags: ["revocation"],
        security: access.admin,
        body: ocspSignRequestSchema,
        response: responses(ocspSignResultSchema, [400, 401, 403, 413, 429]),
      },
    },
    async (request) => {
      const entry = audit(request, { endpoint: "ocspsign", client: clientIdentity(request) });
      if (requireAdmin(request)) entry.client = "admin";
      entry.outcome = `signed ${request.body.status ?? "good"}`;
      return successEnvelope({ ocspResponse: Buffer.from(await revocation.ocspSign(request.body)).toString("base64") });
    },
  );

  // RFC 6960 appendix A: GET with the base64 DER request in the path (URL-encoded), or POST. An
  // OCSP request the responder cannot read is answered in OCSP (malformedRequest), not with 400.
  const ocspAnswer = binary("application/ocsp-response", "The OCSP response, DER; a request it cannot read gets malformedRequest");
  api.get(
    "/ocsp/*",
    {
      schema: {
        operationId: "ocspGet",
        summary: "OCSP responder (RFC 6960), GET form: /ocsp/<base64 DER request>",
        tags: ["revocation"],
        security: access.open,
        response: { 200: ocspAnswer, ...errorAnswers([403]) },
      },
      // The wildcard, which takes a base64 request with its slashes, has no legal OpenAPI name.
      config: {
        swaggerTransform: documentedAs({
          url: "/ocsp/:request",
          params: z.object({ request: z.string().meta({ description: "The base64 DER OCSP request, URL-encoded (its / as %2F)" }) }),
        }),
      },
    },
    async (request, reply) => {
      const encoded = (request.params as { "*": string })["*"];
      let der: Uint8Array;
      try {
        der = Buffer.from(decodeURIComponent(encoded), "base64");
      } catch {
        der = new Uint8Array();
      }
      return sendOcsp(reply, await revocation.ocsp(der), "GET");
    },
  );

  api.post(
    "/ocsp",
    {
      schema: {
        operationId: "ocspPost",
        summary: "OCSP responder (RFC 6960): POST an application/ocsp-request body",
        tags: ["revocation"],
        security: access.open,
        response: { 200: ocspAnswer, ...errorAnswers([400, 403, 413]) },
      },
      // The body is DER; it is not validated as a schema, since one the responder cannot read is answered in OCSP.
      config: {
        swaggerTransform: documentedAs({
          body: z.string().meta({ format: "binary", description: "The OCSP request, DER" }),
          consumes: ["application/ocsp-request"],
        }),
      },
    },
    async (request, reply) => {
      const der = Buffer.isBuffer(request.body) ? request.body : (request.rawBody ?? Buffer.alloc(0));
      return sendOcsp(reply, await revocation.ocsp(der), "POST");
    },
  );
}
