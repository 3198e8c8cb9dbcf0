import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { credentialFromHeader, describeRequester } from "../../authority/authentication.js";
import type { Authority } from "../../authority/authority.js";
import {
  authSignRequestSchema,
  certInfoRequestSchema,
  certInfoResultSchema,
  csrRequestSchema,
  healthResultSchema,
  infoRequestSchema,
  infoResultSchema,
  initCaResultSchema,
  newCertRequestSchema,
  newCertResultSchema,
  newKeyResultSchema,
  signRequestSchema,
  signResultSchema,
} from "../../schemas/wire.js";
import type { IssuedCertificate } from "../../model/issued-certificate.js";
import { audit } from "../audit.js";
import { clientIdentity, requesterOf } from "../client-identity.js";
import { successEnvelope } from "../envelope.js";
import { access } from "../openapi.js";
import { responses, type AdminCheck } from "./common.js";

export const apiPrefix = "/api/v1/cfssl";

function issuedEntry(issued: IssuedCertificate) {
  return {
    outcome: "issued",
    client: issued.requestedBy,
    profile: issued.profile,
    // Only with several CAs: a service with one CA logs as it always did.
    ...(issued.caLabel ? { label: issued.caLabel } : {}),
    serial: issued.serialNumber,
    cn: issued.commonName,
    sans: issued.sans,
  };
}

/** cfssl's endpoints, with the design card's aliases (`initca`, `gencert`). Each handler is one call. */
export async function cfsslRoutes(app: FastifyInstance, { authority, requireAdmin }: { authority: Authority; requireAdmin: AdminCheck }) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  // The keys of the current config of the CA the request names: a reload can add, rotate or remove them.
  const credential = (request: FastifyRequest<{ Body: { label?: string | null | undefined } }>) =>
    credentialFromHeader(request.headers.authorization, request.rawBody ?? Buffer.alloc(0), authority.configFor(request.body.label).authKeys);

  for (const [name, operationId] of [["init_ca", "cfsslInitCa"], ["initca", "cfsslInitCaAlias"]] as const) {
    api.post(
      `${apiPrefix}/${name}`,
      {
        schema: {
          operationId,
          summary: "Make a new self-signed CA from a CSR JSON; nothing is kept",
          tags: ["cfssl"],
          security: access.admin,
          body: csrRequestSchema,
          response: responses(initCaResultSchema, [400, 401, 403, 413, 429]),
        },
      },
      async (request) => {
        const entry = audit(request, { endpoint: name, client: clientIdentity(request), cn: request.body.CN });
        if (requireAdmin(request)) entry.client = "admin";
        const { result, messages } = await authority.initCa(request.body);
        entry.outcome = "created";
        return successEnvelope(result, messages);
      },
    );
  }

  api.post(
    `${apiPrefix}/newkey`,
    {
      schema: {
        operationId: "cfsslNewKey",
        summary: "Make a private key and a CSR from a CSR JSON",
        tags: ["cfssl"],
        security: access.open,
        body: csrRequestSchema,
        response: responses(newKeyResultSchema, [400, 403, 413, 429]),
      },
    },
    async (request) => {
      const { result, messages } = await authority.newKey(request.body);
      return successEnvelope(result, messages);
    },
  );

  for (const [name, operationId] of [["newcert", "cfsslNewCert"], ["gencert", "cfsslGenCert"]] as const) {
    api.post(
      `${apiPrefix}/${name}`,
      {
        schema: {
          operationId,
          summary: "Make a key, a CSR and a certificate signed by the CA under a profile",
          tags: ["cfssl"],
          security: access.issuing,
          body: newCertRequestSchema,
          response: responses(newCertResultSchema, [400, 401, 403, 404, 413, 429]),
        },
      },
      async (request) => {
        // Who connected is known first; the HMAC, checked next, may then name the key.
        const connected = requesterOf(request);
        const entry = audit(request, {
          endpoint: name,
          client: describeRequester(connected),
          profile: request.body.profile ?? undefined,
          cn: request.body.request.CN,
          sans: request.body.request.hosts ?? undefined,
        });
        const requester = { ...connected, credential: credential(request) };
        entry.client = describeRequester(requester);
        const { result, messages, issued } = await authority.newCert(request.body, requester);
        Object.assign(entry, issuedEntry(issued));
        return successEnvelope(result, messages);
      },
    );
  }

  api.post(
    `${apiPrefix}/sign`,
    {
      schema: {
        operationId: "cfsslSign",
        summary: "Sign a PEM CSR under a profile",
        tags: ["cfssl"],
        security: access.issuing,
        body: signRequestSchema,
        response: responses(signResultSchema, [400, 401, 403, 404, 413, 429]),
      },
    },
    async (request) => {
      const connected = requesterOf(request);
      const entry = audit(request, { endpoint: "sign", client: describeRequester(connected), profile: request.body.profile ?? undefined });
      const requester = { ...connected, credential: credential(request) };
      entry.client = describeRequester(requester);
      const { result, messages, issued } = await authority.sign(request.body, requester);
      Object.assign(entry, issuedEntry(issued));
      return successEnvelope(result, messages);
    },
  );

  api.post(
    `${apiPrefix}/authsign`,
    {
      schema: {
        operationId: "cfsslAuthSign",
        summary: "cfssl's authenticated sign: a base64 sign request and its HMAC under the profile's auth key",
        description: "The HMAC is in the body (`token`), not in a header.",
        tags: ["cfssl"],
        security: access.open,
        body: authSignRequestSchema,
        response: responses(signResultSchema, [400, 403, 404, 413, 429]),
      },
    },
    async (request) => {
      const connected = requesterOf(request);
      const entry = audit(request, { endpoint: "authsign", client: describeRequester(connected) });
      const { result, messages, issued } = await authority.authSign(request.body, connected);
      Object.assign(entry, issuedEntry(issued));
      return successEnvelope(result, messages);
    },
  );

  api.post(
    `${apiPrefix}/info`,
    {
      schema: {
        operationId: "cfsslInfo",
        summary: "The CA certificate and a profile's usages and expiry",
        tags: ["cfssl"],
        security: access.open,
        body: infoRequestSchema,
        response: responses(infoResultSchema, [400, 403, 404, 413, 429]),
      },
    },
    async (request) => {
      const { result, messages } = authority.info(request.body);
      return successEnvelope(result, messages);
    },
  );

  api.post(
    `${apiPrefix}/certinfo`,
    {
      schema: {
        summary: "Describe a PEM certificate, or a recorded one by serial and authority key id (admin token needed once authentication is configured)",
        operationId: "cfsslCertInfo",
        tags: ["cfssl"],
        security: access.admin,
        body: certInfoRequestSchema,
        response: responses(certInfoResultSchema, [400, 401, 403, 404, 413, 429]),
      },
    },
    async (request) => {
      // A recorded certificate is the inventory's to show: admin-only once any authentication is
      // configured, as GET /api/v1/certificates/{serial} is. Describing a PEM the client has stays open.
      if (!request.body.certificate && (request.body.serial || request.body.authority_key_id)) requireAdmin(request);
      const { result, messages } = await authority.certInfo(request.body);
      return successEnvelope(result, messages);
    },
  );

  api.get(
    `${apiPrefix}/health`,
    {
      schema: {
        operationId: "cfsslHealth",
        summary: "Liveness, as cfssl answers it",
        tags: ["cfssl"],
        security: access.open,
        response: responses(healthResultSchema, [403]),
      },
    },
    async () => successEnvelope({ healthy: true }),
  );
}
