import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { InventoryOverview } from "../../authority/inventory-overview.js";
import { describeProfiles } from "../../authority/profile-catalog.js";
import type { SigningConfig } from "../../profiles/signing-config.js";
import { consoleOverviewSchema, overviewQuerySchema, profileListSchema } from "../../schemas/console.js";
import { successEnvelope } from "../envelope.js";
import { access } from "../openapi.js";
import { responses, type AdminCheck } from "./common.js";

export const overviewPath = "/api/v1/admin/overview";
export const profilesPath = "/api/v1/admin/profiles";

interface ConsoleRouteOptions {
  overview: InventoryOverview;
  /** The signing config in force now: a reload replaces it. */
  config: () => SigningConfig;
  requireAdmin: AdminCheck;
}

/** The reads the operator console needs beyond the inventory: totals at a glance, and the profiles. */
export async function consoleRoutes(app: FastifyInstance, { overview, config, requireAdmin }: ConsoleRouteOptions) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get(
    overviewPath,
    {
      schema: {
        operationId: "getOverview",
        summary: "The CA, the recorded certificates by status, and how many were issued each day",
        tags: ["inventory"],
        security: access.admin,
        querystring: overviewQuerySchema,
        response: responses(consoleOverviewSchema, [400, 401, 403, 429]),
      },
    },
    async (request) => {
      requireAdmin(request);
      return successEnvelope(await overview.overview(request.query.days));
    },
  );

  api.get(
    profilesPath,
    {
      schema: {
        operationId: "listProfiles",
        summary: "The signing profiles in force and their policy, read-only (auth keys by name only)",
        tags: ["operations"],
        security: access.admin,
        response: responses(profileListSchema, [401, 403, 429]),
      },
    },
    async (request) => {
      requireAdmin(request);
      return successEnvelope({ profiles: describeProfiles(config()) });
    },
  );
}
