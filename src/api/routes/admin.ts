import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { SigningConfigReloader } from "../../authority/config-reload.js";
import { reloadResultSchema } from "../../schemas/wire.js";
import { audit } from "../audit.js";
import { clientIdentity } from "../client-identity.js";
import { successEnvelope } from "../envelope.js";
import { access } from "../openapi.js";
import { responses, type AdminCheck } from "./common.js";

export const reloadPath = "/api/v1/admin/reload";

/** The operator's acts on the running service: reloading the signing config (as SIGHUP does). */
export async function adminRoutes(app: FastifyInstance, { reloader, requireAdmin }: { reloader: SigningConfigReloader; requireAdmin: AdminCheck }) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.post(
    reloadPath,
    {
      schema: {
        operationId: "reloadSigningConfig",
        summary: "Re-read the signing config file, as SIGHUP does; if it does not validate, the old config stays (400, code 12300)",
        tags: ["operations"],
        security: access.admin,
        response: responses(reloadResultSchema, [400, 401, 403, 413, 429]),
      },
    },
    async (request) => {
      const entry = audit(request, { endpoint: "reload", client: clientIdentity(request) });
      if (requireAdmin(request)) entry.client = "admin";
      const result = await reloader.reload(request.log);
      entry.outcome = "reloaded";
      return successEnvelope(result);
    },
  );
}
