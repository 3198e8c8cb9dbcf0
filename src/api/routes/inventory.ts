import type { FastifyInstance, FastifyReply } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { InventoryService } from "../../authority/inventory.js";
import {
  certificateSummarySchema,
  inventoryQuerySchema,
  inventoryResultSchema,
  tidyRequestSchema,
  tidyResultSchema,
} from "../../schemas/wire.js";
import { successEnvelope } from "../envelope.js";
import { access } from "../openapi.js";
import { responses, type AdminCheck } from "./common.js";

export const inventoryPrefix = "/api/v1/certificates";

/** The certificate inventory: what was issued, what expires soon, and tidying old records. */
export async function inventoryRoutes(app: FastifyInstance, { inventory, requireAdmin }: { inventory: InventoryService; requireAdmin: AdminCheck }) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  app.addHook("onClose", async () => inventory.close());

  api.get(
    inventoryPrefix,
    {
      schema: {
        operationId: "listCertificates",
        summary: "List issued certificates, newest first, with filters and cursor pagination",
        tags: ["inventory"],
        security: access.admin,
        querystring: inventoryQuerySchema,
        response: responses(inventoryResultSchema, [400, 401, 403, 429]),
      },
    },
    async (request, reply) => {
      requireAdmin(request);
      const { resultJson, messages } = await inventory.list(request.query);
      // The page comes serialized from the reader thread; only the envelope is written here.
      const envelope = successEnvelope(null, messages);
      return (reply as FastifyReply)
        .type("application/json; charset=utf-8")
        .send(`{"success":true,"result":${resultJson},"errors":[],"messages":${JSON.stringify(envelope.messages)}}`);
    },
  );

  api.get(
    `${inventoryPrefix}/:serial`,
    {
      schema: {
        operationId: "getCertificate",
        summary: "One issued certificate by serial: decimal, or hex as openssl prints it",
        tags: ["inventory"],
        security: access.admin,
        params: z.object({ serial: z.string().max(128) }),
        querystring: z.object({ authority_key_id: z.string().max(256).optional() }),
        response: responses(certificateSummarySchema, [400, 401, 403, 404, 429]),
      },
    },
    async (request) => {
      requireAdmin(request);
      return successEnvelope(await inventory.get(request.params.serial, request.query.authority_key_id));
    },
  );

  api.post(
    `${inventoryPrefix}/tidy`,
    {
      schema: {
        operationId: "tidyCertificates",
        summary: "Remove the records of certificates that expired longer ago than older_than",
        tags: ["inventory"],
        security: access.admin,
        body: tidyRequestSchema,
        response: responses(tidyResultSchema, [400, 401, 403, 413, 429]),
      },
    },
    async (request) => {
      requireAdmin(request);
      return successEnvelope(await inventory.tidy(request.body.older_than));
    },
  );
}
