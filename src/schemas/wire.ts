/**
 * The wire types of cfssl's API, one zod schema each: they validate requests, give the handlers
 * their types and produce the OpenAPI document. Unknown fields are dropped (cfssl's CLI sends
 * some); known fields of the wrong type are refused.
 */
import { z } from "zod";
import { policySchema } from "../profiles/policy.js";
import { maxHosts } from "../pki/hosts.js";

const text = (max: number) => z.string().max(max);

/** How deep and how large a free-form value (`metadata`, `extensions`) may be. */
export const freeFormLimits = { depth: 8, bytes: 16 * 1024 };

/**
 * What is wrong with a free-form value, or undefined. Walked without recursion: a value nested
 * thousands of levels deep (a 10 kB body) must be refused here, since anything that copies it
 * recursively later (structured clone to a signer thread) overflows the stack.
 */
export function freeFormProblem(value: unknown): string | undefined {
  let bytes = 0;
  const pending: [unknown, number][] = [[value, 1]];
  while (pending.length > 0) {
    const [item, depth] = pending.pop()!;
    if (item !== null && typeof item === "object") {
      if (depth > freeFormLimits.depth) return `nested deeper than ${freeFormLimits.depth} levels`;
      for (const [key, child] of Object.entries(item)) {
        bytes += key.length + 4;
        pending.push([child, depth + 1]);
      }
    } else {
      bytes += typeof item === "string" ? item.length + 2 : 8;
    }
    if (bytes > freeFormLimits.bytes) return `larger than ${freeFormLimits.bytes / 1024} KiB`;
  }
  return undefined;
}

/** A free-form field, bounded in depth and size (see freeFormProblem). */
function freeForm<T extends z.ZodType>(schema: T, description: string) {
  return schema
    .superRefine((value, context) => {
      const problem = freeFormProblem(value);
      if (problem) context.addIssue({ code: "custom", message: `${problem}; at most ${freeFormLimits.depth} levels and ${freeFormLimits.bytes / 1024} KiB are accepted` });
    })
    .meta({ description: `${description}; at most ${freeFormLimits.depth} levels deep and ${freeFormLimits.bytes / 1024} KiB` });
}

/** At most this many `hosts` entries, the bound `splitHosts` enforces too. */
const hostsField = z
  .array(text(1024))
  .max(maxHosts, { error: `at most ${maxHosts} hosts are accepted in one certificate; split them over several` });

/** cfssl's `names` entry. */
export const nameEntrySchema = z
  .object({
    C: text(256).optional(),
    ST: text(256).optional(),
    L: text(256).optional(),
    O: text(256).optional(),
    OU: text(256).optional(),
    E: text(256).optional(),
    SerialNumber: text(256).optional(),
  })
  .meta({ description: "Subject attributes: country, state, locality, organization, unit, email, serial number." });

/** At most this many `names` entries: each becomes subject attributes, and a subject is short. */
const maxNames = 16;
const namesField = z
  .array(nameEntrySchema)
  .max(maxNames, { error: `at most ${maxNames} names entries are accepted; merge the attributes into fewer entries` });

export const keyRequestSchema = z
  .object({
    algo: z.string().max(32).optional().meta({ description: "ecdsa (default), rsa or ed25519" }),
    size: z.number().int().min(0).max(16384).optional().meta({ description: "ecdsa: 256 (default), 384, 521; rsa: 2048 (default), 3072, 4096" }),
  })
  .meta({ description: "The key to generate." });

export const caRequestSchema = z
  .object({
    pathlen: z.number().int().min(0).max(100).optional(),
    pathlenzero: z.boolean().optional(),
    expiry: z.string().max(64).optional().meta({ description: "CA lifetime as a Go duration; default 43800h (5 years)" }),
  })
  .meta({ description: "CA options of init_ca." });

/** cfssl's CSR JSON (`ca-csr.json`, `server-csr.json`). */
export const csrRequestSchema = z
  .object({
    CN: text(1024).optional(),
    names: namesField.nullish(),
    hosts: hostsField.nullish().meta({ description: "DNS names, IP addresses, email addresses and URIs for the SANs" }),
    key: keyRequestSchema.nullish(),
    ca: caRequestSchema.nullish(),
  })
  .meta({ id: "CertificateSigningRequestJSON", description: "cfssl's CSR JSON: CN, names, hosts, key, ca." });

export type CsrRequest = z.infer<typeof csrRequestSchema>;

export const subjectSchema = z
  .object({
    CN: text(1024).optional(),
    names: namesField.nullish(),
    SerialNumber: text(256).optional(),
  })
  .meta({ description: "Replaces the CSR's subject attributes that it sets." });

const profileField = z.string().max(256).nullish().meta({ description: "Signing profile; absent, empty or \"default\" means signing.default" });
const labelField = z.string().max(256).nullish().meta({ description: "CA label; the default CA's is empty" });
/** cfssl's CLI sends Go's zero time for unset times. */
const goTime = z.string().max(64).nullish().meta({ description: "RFC 3339 time; Go's zero time 0001-01-01T00:00:00Z means unset" });
/** Ours: a lifetime shorter than the profile's, never longer. */
const requestExpiry = z
  .string()
  .max(64)
  .nullish()
  .meta({ description: "A shorter lifetime than the profile's expiry, as a Go duration (\"24h\"); never a longer one" });
/** Replay protection's fields (with --replay-window), inside the JSON the HMAC covers. */
const replayTimestamp = z
  .number()
  .int()
  .nullish()
  .meta({ description: "With replay protection: unix seconds when the request was signed" });
const replayNonce = z
  .string()
  .max(256)
  .nullish()
  .meta({ description: "With replay protection: a random string used once (16 to 128 characters)" });
const requestNotAfter = z
  .string()
  .max(64)
  .nullish()
  .meta({ description: "An earlier end than the profile's, as an RFC 3339 time; never a later one" });

export const signRequestSchema = z
  .object({
    certificate_request: z.string().min(1).max(65536).meta({ description: "The PEM CSR" }),
    hosts: hostsField.nullish().meta({ description: "Replaces the CSR's SANs; [] clears them; absent or null keeps them" }),
    subject: subjectSchema.nullish(),
    profile: profileField,
    label: labelField,
    NotBefore: goTime,
    NotAfter: goTime,
    expiry: requestExpiry,
    not_after: requestNotAfter,
    bundle: z.boolean().nullish(),
    extensions: freeForm(z.array(z.unknown()), "cfssl's extra extensions: refused unless empty (the profile decides the extensions)").nullish(),
    metadata: freeForm(z.record(z.string(), z.unknown()), "cfssl's free-form metadata: accepted and not used").nullish(),
    crl_override: z.string().max(1024).nullish(),
    ReturnPrecert: z.boolean().nullish(),
    timestamp: replayTimestamp,
    nonce: replayNonce,
  })
  .meta({ id: "SignRequest" });

export type SignRequest = z.infer<typeof signRequestSchema>;

/** cfssl's authenticated sign request, as `cfssl sign -remote` with an auth key sends it. */
export const authSignRequestSchema = z
  .object({
    token: z.string().max(1024).meta({ description: "base64 HMAC-SHA256 of the request bytes under the profile's auth key" }),
    request: z.string().max(200_000).meta({ description: "base64 of the JSON sign request" }),
    timestamp: z.number().int().nullish(),
    remote_address: z.string().max(1024).nullish(),
  })
  .meta({ id: "AuthSignRequest" });

export type AuthSignRequest = z.infer<typeof authSignRequestSchema>;

export const newCertRequestSchema = z
  .object({
    request: csrRequestSchema,
    profile: profileField,
    label: labelField,
    bundle: z.boolean().nullish(),
    expiry: requestExpiry,
    not_after: requestNotAfter,
    timestamp: replayTimestamp,
    nonce: replayNonce,
  })
  .meta({ id: "NewCertRequest" });

export type NewCertRequest = z.infer<typeof newCertRequestSchema>;

export const infoRequestSchema = z
  .object({ label: labelField, profile: profileField })
  .meta({ id: "InfoRequest" });

export type InfoRequest = z.infer<typeof infoRequestSchema>;

export const certInfoRequestSchema = z
  .object({
    certificate: z.string().max(65536).optional().meta({ description: "A PEM certificate to describe" }),
    serial: z.string().max(128).optional().meta({ description: "With authority_key_id: describe a certificate this service issued" }),
    authority_key_id: z.string().max(256).optional(),
    domain: z.string().max(256).optional().meta({ description: "Not supported: certwright makes no outbound connections" }),
  })
  .meta({ id: "CertInfoRequest" });

export type CertInfoRequest = z.infer<typeof certInfoRequestSchema>;

const sumSchema = z.object({ md5: z.string(), "sha-1": z.string(), "sha-256": z.string() }).meta({ description: "Upper-case hex digests of the DER" });

export const initCaResultSchema = z.object({ certificate: z.string(), private_key: z.string() }).meta({ id: "InitCaResult" });

export const newKeyResultSchema = z
  .object({
    private_key: z.string(),
    certificate_request: z.string(),
    sums: z.object({ certificate_request: sumSchema }),
  })
  .meta({ id: "NewKeyResult" });

export const bundleSchema = z
  .object({
    bundle: z.string().meta({ description: "The certificate, then the issuing CA and those above it, the root left out: PEM, trimmed" }),
    root: z.string().meta({ description: "The root the chain ends in, PEM; \"\" when this service was not given it (--ca-bundle without the root)" }),
    crt: z.string().meta({ description: "The certificate, PEM" }),
    key: z.string().meta({ description: "newcert: the private key (as private_key); sign and authsign: \"\"" }),
    key_type: z.string().meta({ description: "\"2048-bit RSA\", \"256-bit ECDSA\", \"Ed25519\"" }),
    key_size: z.number().int(),
    issuer: z.string().meta({ description: "cfssl's form: /CommonName=…/Organization=…" }),
    subject: z.string(),
    expires: z.string().meta({ description: "When the first certificate of the bundle expires (RFC 3339)" }),
    leaf_expires: z.string(),
    hostnames: z.array(z.string()).meta({ description: "The CN and the DNS names" }),
    ocsp_support: z.boolean(),
    crl_support: z.boolean(),
    ocsp: z.array(z.string()).nullable(),
    signature: z.string(),
    status: z.object({
      rebundled: z.boolean(),
      expiring_SKIs: z.array(z.string()).meta({ description: "Subject key ids of the certificates expiring within 30 days" }),
      untrusted_root_stores: z.array(z.string()).meta({ description: "Always empty: no platform root stores are judged" }),
      messages: z.array(z.string()),
      code: z.number().int().meta({ description: "1: a certificate of the bundle expires within 30 days" }),
    }),
  })
  .meta({ id: "Bundle", description: "cfssl's bundle (bundler.Bundle), sent when the request has \"bundle\": true" });

export const newCertResultSchema = z
  .object({
    private_key: z.string(),
    certificate_request: z.string(),
    certificate: z.string(),
    sums: z.object({ certificate_request: sumSchema, certificate: sumSchema }),
    bundle: bundleSchema.optional(),
  })
  .meta({ id: "NewCertResult" });

export const signResultSchema = z.object({ certificate: z.string(), bundle: bundleSchema.optional() }).meta({ id: "SignResult" });

export const infoResultSchema = z
  .object({
    certificate: z.string().meta({ description: "The CA certificate, PEM" }),
    usages: z.array(z.string()),
    expiry: z.string(),
    policy: policySchema.optional().meta({ id: "ProfilePolicy", description: "certwright's issuance policy of the profile, as configured; absent: any names" }),
    beyond_ca_expiry: z.enum(["truncate", "refuse"]).meta({ description: "What happens to a lifetime that would pass the CA's end" }),
    chain: z
      .array(z.string())
      .optional()
      .meta({ description: "certwright's, not cfssl's: the certificates above the CA (--ca-bundle), its issuer first, PEM; absent without --ca-bundle" }),
  })
  .meta({ id: "InfoResult" });

export type InfoResult = z.infer<typeof infoResultSchema>;

const nameInfoSchema = z.object({
  common_name: z.string().optional(),
  serial_number: z.string().optional(),
  country: z.string().optional(),
  organization: z.string().optional(),
  organizational_unit: z.string().optional(),
  locality: z.string().optional(),
  province: z.string().optional(),
  street_address: z.string().optional(),
  postal_code: z.string().optional(),
  names: z.array(z.string()).optional(),
});

export const certInfoResultSchema = z
  .object({
    subject: nameInfoSchema,
    issuer: nameInfoSchema,
    serial_number: z.string().meta({ description: "Decimal, as cfssl prints it" }),
    sans: z.array(z.string()),
    not_before: z.string(),
    not_after: z.string(),
    sigalg: z.string(),
    authority_key_id: z.string(),
    subject_key_id: z.string(),
    pem: z.string(),
  })
  .meta({ id: "CertInfoResult" });

/** cfssl's revoke request; the serial may be hex too, and the key id in any case. */
export const revokeRequestSchema = z
  .object({
    serial: z.string().min(1).max(128).meta({ description: "Decimal (as cfssl prints it) or hex (as openssl prints it, colons allowed)" }),
    authority_key_id: z.string().max(256).nullish().meta({ description: "The issuing CA's key id, hex in any case; default: this service's CA" }),
    label: labelField.meta({ description: "The issuing CA's label, when several are served and authority_key_id is absent; default: the default CA" }),
    reason: z.string().max(64).nullish().meta({ description: "RFC 5280 reason name (keyCompromise, superseded...) or cfssl's lower-case form; default unspecified" }),
  })
  .meta({ id: "RevokeRequest" });

export type RevokeRequest = z.infer<typeof revokeRequestSchema>;

const certificateStatus = z.enum(["good", "revoked", "expired"]);

/** A recorded certificate, as the inventory and revoke answer it. */
export const certificateSummarySchema = z
  .object({
    serial_number: z.string().meta({ description: "Decimal, as cfssl prints it" }),
    serial_hex: z.string().meta({ description: "Upper-case hex, as openssl x509 -serial prints it" }),
    authority_key_id: z.string(),
    ca_label: z.string(),
    profile: z.string(),
    status: certificateStatus,
    reason: z.string().optional().meta({ description: "The RFC 5280 reason name, when revoked" }),
    revoked_at: z.string().nullable().optional(),
    common_name: z.string(),
    sans: z.array(z.string()),
    subject_names: z.array(z.string()).optional().meta({ description: "The subject's names beyond common_name: further CNs and email addresses" }),
    not_before: z.string(),
    not_after: z.string(),
    issued_at: z.string(),
    requested_by: z.string().nullable().meta({ description: "Who asked: auth key name, client certificate CN or address" }),
    pem: z.string().optional().meta({ description: "The certificate, when one is asked for by serial" }),
  })
  .meta({ id: "CertificateSummary" });

export type CertificateSummary = z.infer<typeof certificateSummarySchema>;

export const inventoryQuerySchema = z
  .object({
    status: certificateStatus.optional(),
    profile: z.string().max(256).optional(),
    label: z.string().max(256).optional(),
    q: z.string().min(1).max(256).optional().meta({ description: "A substring of the CN or a SAN, any case" }),
    expiring_within: z.string().max(64).optional().meta({ description: "Unexpired and ending within this duration: 720h, 30d" }),
    issued_after: z.string().max(64).optional().meta({ description: "RFC 3339 time or date" }),
    issued_before: z.string().max(64).optional().meta({ description: "RFC 3339 time or date" }),
    limit: z.coerce.number().int().min(1).max(1000).optional().meta({ description: "Page size, 1 to 1000; default 100" }),
    cursor: z.string().max(64).optional().meta({ description: "next_cursor of the previous page" }),
  });
// No schema id: @fastify/swagger cannot expand a $ref into query parameters.

export type InventoryQuery = z.infer<typeof inventoryQuerySchema>;

export const inventoryResultSchema = z
  .object({
    certificates: z.array(certificateSummarySchema),
    next_cursor: z.string().nullable().meta({ description: "Pass as cursor for the next page; null on the last" }),
  })
  .meta({ id: "InventoryResult" });

export const tidyRequestSchema = z
  .object({
    older_than: z.string().max(64).meta({ description: "Remove records of certificates expired longer ago than this: 8760h, 365d" }),
  })
  .meta({ id: "TidyRequest" });

export const tidyResultSchema = z.object({ removed: z.number(), expired_before: z.string() }).meta({ id: "TidyResult" });

/** cfssl's ocspsign: an OCSP answer for a certificate of this CA, with the status the caller states. */
export const ocspSignRequestSchema = z
  .object({
    certificate: z.string().min(1).max(65536).meta({ description: "The PEM certificate the answer is about" }),
    status: z.enum(["good", "revoked", "unknown"]).nullish().meta({ description: "default good" }),
    reason: z.union([z.number().int(), z.string().max(64)]).nullish().meta({ description: "With revoked: an RFC 5280 reason, by code or name" }),
    revoked_at: z.string().max(64).nullish().meta({ description: "With revoked: \"now\" (the default) or an RFC 3339 time" }),
    issuer_hash: z.string().max(16).nullish().meta({ description: "CertID hash: sha1 (default), sha256, sha384 or sha512" }),
  })
  .meta({ id: "OcspSignRequest" });

export type OcspSignRequest = z.infer<typeof ocspSignRequestSchema>;

export const ocspSignResultSchema = z.object({ ocspResponse: z.string().meta({ description: "base64 DER OCSP response" }) }).meta({ id: "OcspSignResult" });

export const healthResultSchema = z.object({ healthy: z.boolean() }).meta({ id: "HealthResult" });

const readinessCheckSchema = z
  .object({ ok: z.boolean(), detail: z.string().meta({ description: "What was checked, or why it failed" }) })
  .meta({ id: "ReadinessCheck" });

export const readinessResultSchema = z
  .object({
    ready: z.boolean(),
    // database: the certificate database takes a write (rolled back); ca_key: the CA key signs and
    // the CA certificate's public key verifies it.
    checks: z.object({ database: readinessCheckSchema, ca_key: readinessCheckSchema }),
    warnings: z.array(z.string()).meta({ description: "Not failures yet: the CA expiring within 30 days" }),
  })
  .meta({ id: "ReadinessResult" });

export type ReadinessResult = z.infer<typeof readinessResultSchema>;

export const reloadResultSchema = z
  .object({
    generation: z.number().int().meta({ description: "The signing config's generation now in use: 0 at start, higher after each reload" }),
    profiles: z.array(z.string()).meta({ description: "The profiles of the config now in use (the default CA's), \"default\" first" }),
    cas: z
      .record(z.string(), z.array(z.string()))
      .optional()
      .meta({ description: "Each CA's profiles by label, \"default\" first; only when a CA of --ca-config has a signing config of its own" }),
  })
  .meta({ id: "ReloadResult" });

export const responseMessageSchema = z.object({ code: z.number(), message: z.string() }).meta({ id: "ResponseMessage" });
export type ResponseMessage = z.infer<typeof responseMessageSchema>;

/** cfssl's envelope around every answer. */
export function envelopeSchema<T extends z.ZodType>(result: T) {
  return z.object({
    success: z.boolean(),
    result,
    errors: z.array(responseMessageSchema),
    messages: z.array(responseMessageSchema),
  });
}

export const errorEnvelopeSchema = envelopeSchema(z.null()).meta({ id: "ErrorEnvelope" });
