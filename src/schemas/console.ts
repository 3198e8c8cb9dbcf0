/**
 * The wire types of the operator console's own reads (the rest of what it shows comes from the
 * inventory, revocation and cfssl endpoints as they are).
 */
import { z } from "zod";
import { infoResultSchema } from "./wire.js";

export const overviewQuerySchema = z.object({
  days: z.coerce.number().int().min(1).max(366).optional().meta({ description: "Days of issuance to count, today included; default 30" }),
});

export const consoleOverviewSchema = z
  .object({
    ca: z.object({
      label: z.string().meta({ description: "cfssl's CA label; empty for the default CA" }),
      subject: z.string(),
      subject_key_id: z.string().meta({ description: "Lower-case hex: the authority_key_id of what it issues" }),
      not_after: z.string(),
    }),
    counts: z
      .object({ good: z.number(), revoked: z.number(), expired: z.number() })
      .meta({ description: "Recorded certificates by status now (expired: not revoked and past NotAfter)" }),
    issued_per_day: z
      .array(z.object({ day: z.string().meta({ description: "UTC day, YYYY-MM-DD" }), count: z.number() }))
      .meta({ description: "Certificates issued each UTC day, oldest first, today last; days with none are 0" }),
    at: z.string().meta({ description: "The time the counts were taken" }),
  })
  .meta({ id: "ConsoleOverview" });

export type ConsoleOverview = z.infer<typeof consoleOverviewSchema>;

export const profileDescriptionSchema = z
  .object({
    name: z.string().meta({ description: "default for signing.default" }),
    usages: z.array(z.string()),
    expiry: z.string(),
    ca_constraint: z.object({ is_ca: z.boolean(), max_path_len: z.number().nullable() }),
    auth_key: z.string().nullable().meta({ description: "The name of the auth key requests must be signed with (never the key)" }),
    require_client_certificate: z.boolean(),
    own_names_only: z.boolean(),
    name_whitelist: z.string().nullable().meta({ description: "cfssl's name_whitelist as configured" }),
    policy: infoResultSchema.shape.policy,
    beyond_ca_expiry: infoResultSchema.shape.beyond_ca_expiry,
    crl_url: z.string().nullable(),
    ocsp_url: z.string().nullable(),
    issuer_urls: z.array(z.string()),
  })
  .meta({ id: "ProfileDescription" });

export type ProfileDescription = z.infer<typeof profileDescriptionSchema>;

export const profileListSchema = z.object({ profiles: z.array(profileDescriptionSchema) }).meta({ id: "ProfileList" });
