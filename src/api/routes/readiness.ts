import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { ReadinessService } from "../../authority/readiness.js";
import { errorKinds } from "../../errors.js";
import { envelopeSchema, readinessResultSchema } from "../../schemas/wire.js";
import { successEnvelope } from "../envelope.js";
import { access } from "../openapi.js";
import { errorAnswers } from "./common.js";

export const readinessPath = "/api/v1/ready";

/**
 * Readiness, for load balancers and Kubernetes' readinessProbe: 200 when the database takes writes
 * and the CA key signs, 503 (code 12200) with the same result otherwise. Liveness stays cfssl's
 * `/api/v1/cfssl/health`, which answers as long as the process does.
 */
export async function readinessRoutes(app: FastifyInstance, { readiness }: { readiness: ReadinessService }) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const answer = envelopeSchema(readinessResultSchema);
  api.get(
    readinessPath,
    {
      schema: {
        operationId: "getReadiness",
        summary: "Readiness: the database takes writes and the CA key signs; warns when the CA expires within 30 days",
        tags: ["operations"],
        security: access.open,
        response: { 200: answer.meta({ description: "Ready" }), 503: answer.meta({ description: "Not ready: the same result, and code 12200 in errors" }), ...errorAnswers([403]) },
      },
    },
    async (request, reply) => {
      const result = await readiness.check();
      if (result.ready) return successEnvelope(result);
      const { code, status } = errorKinds.notReady;
      const failed = Object.entries(result.checks)
        .filter(([, check]) => !check.ok)
        .map(([name, check]) => `${name}: ${check.detail}`);
      request.errorCode = code;
      request.log.warn({ checks: result.checks }, "not ready");
      return reply.status(status).send({ success: false, result, errors: [{ code, message: `not ready: ${failed.join("; ")}` }], messages: [] });
    },
  );
}
