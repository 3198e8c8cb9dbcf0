/**
 * The OpenAPI document's frame: what the routes' own schemas do not say (servers, security
 * schemes, the shared error answers), and the finishing pass that keeps the generated document
 * clean under `redocly lint`'s recommended rules (test/openapi-lint.test.ts).
 */
import type { SwaggerOptions, SwaggerTransform } from "@fastify/swagger";
import type { FastifySchema } from "fastify";
import { jsonSchemaTransform, jsonSchemaTransformObject } from "fastify-type-provider-zod";
import { errorKinds } from "../errors.js";

export const openapiInfo = {
  title: "certwright",
  description:
    "A certificate signing service with cfssl's wire API. Every answer uses cfssl's envelope: " +
    "{success, result, errors: [{code, message}], messages}. A path not listed here answers 404 " +
    "(code 404), and a listed path asked with another method 405 (code 405, with an Allow header), " +
    "both in the envelope.",
  license: { name: "Apache-2.0", identifier: "Apache-2.0" },
};

/**
 * How a request proves who sent it. Each endpoint lists the ones it takes (`security`); the
 * service decides per request, so an endpoint that needs a credential only once authentication is
 * configured lists `{}` (nothing) too.
 */
export const securitySchemes = {
  cfsslHmac: {
    type: "apiKey",
    in: "header",
    name: "Authorization",
    description:
      "cfssl's header HMAC: `Authorization: CFSSL-HMAC <key-name>:<base64 HMAC-SHA256 of the request body " +
      "under that auth key>` (the key as the signing config's auth_keys holds it). sign and newcert take it, and " +
      "need it for a profile with an auth_key (401 without, 403 for a wrong HMAC or another key). Being over " +
      "the exact body bytes, it is made by the client for each request (`certwright sign` does), not typed " +
      "into this page.",
  },
  adminToken: {
    type: "http",
    scheme: "bearer",
    description:
      "The admin token (--admin-token-file or CERTWRIGHT_ADMIN_TOKEN): `Authorization: Bearer <token>`. " +
      "init_ca, revoke, ocspsign, the inventory, certinfo of a recorded certificate and reload need it once " +
      "the service authenticates anyone (auth_keys in the signing config, or an admin token); before that " +
      "they are open, as cfssl's are.",
  },
  mutualTLS: {
    type: "mutualTLS",
    description:
      "A client certificate, when the service is started with --mutual-tls-ca: then every connection needs one " +
      "from that CA (and with --mutual-tls-cn one whose CN matches), whatever the endpoint, and one this " +
      "service issued and revoked is refused (403). Profiles with require_client_certificate or own_names_only " +
      "need it on sign and newcert.",
  },
} as const;

type SchemeName = keyof typeof securitySchemes;
type Requirement = Partial<Record<SchemeName, string[]>>;

/** Every alternative holds over a mutual-TLS connection too (the service's --mutual-tls-ca). */
function overMutualTls(alternatives: Requirement[]): Requirement[] {
  return alternatives.flatMap((alternative) => [alternative, { ...alternative, mutualTLS: [] }]);
}

/** Who may call an endpoint, as OpenAPI security requirements (alternatives). */
export const access = {
  /** No credential. */
  open: overMutualTls([{}]),
  /** The admin token once authentication is configured; open before. */
  admin: overMutualTls([{ adminToken: [] }, {}]),
  /** The header HMAC, needed by a profile with an auth_key; none for the others. */
  issuing: overMutualTls([{ cfsslHmac: [] }, {}]),
} satisfies Record<string, Requirement[]>;

/** The error answers an endpoint may give, by HTTP status; all in the envelope with `result: null`. */
const errorResponses = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  413: "PayloadTooLarge",
  429: "TooManyRequests",
  "5XX": "ServerError",
} as const;

export type ErrorStatus = Exclude<keyof typeof errorResponses, "5XX">;

const errorEnvelopeRef = "#/components/schemas/ErrorEnvelope";

/** Each shared error answer, its description listing the error codes it carries (src/errors.ts). */
function errorResponseComponents() {
  const components: Record<string, unknown> = {};
  for (const [status, name] of Object.entries(errorResponses)) {
    const kinds = Object.values(errorKinds).filter((kind) => (status === "5XX" ? kind.status >= 500 : kind.status === Number(status)));
    const codes = kinds.map((kind) => `- ${kind.code} (HTTP ${kind.status}): ${kind.summary}`).join("\n");
    const extra = status === "429" ? "\n\nThe Retry-After header says how many seconds to wait." : "";
    const what = status === "5XX" ? "The service failed" : "The request was refused";
    components[name] = {
      description: `${what}; \`errors[0].code\` says why:\n${codes}${extra}`,
      ...(status === "429" ? { headers: { "Retry-After": { description: "Seconds until the limit allows another request", schema: { type: "integer" } } } } : {}),
      content: { "application/json": { schema: { $ref: errorEnvelopeRef } } },
    };
  }
  return components;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (value: unknown): value is JsonObject => typeof value === "object" && value !== null && !Array.isArray(value);

/** Every `$ref` under `value`. */
function collectRefs(value: Json, refs: Set<string>): void {
  if (Array.isArray(value)) for (const item of value) collectRefs(item, refs);
  else if (isObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      if (key === "$ref" && typeof child === "string") refs.add(child);
      else collectRefs(child, refs);
    }
  }
}

/**
 * The zod provider emits each registered schema twice, as read (`FooInput`) and as written
 * (`Foo`), though each is used one way only; the unused half is dropped, keeping what the paths
 * reference and what those reference in turn.
 */
function dropUnusedSchemas(document: JsonObject): void {
  const components = document.components as JsonObject;
  const schemas = components.schemas as JsonObject;
  const used = new Set<string>();
  const pending = new Set<string>();
  collectRefs(document.paths!, pending);
  collectRefs(components.responses ?? null, pending);
  while (pending.size > 0) {
    const ref = pending.values().next().value!;
    pending.delete(ref);
    if (used.has(ref)) continue;
    used.add(ref);
    const name = ref.replace("#/components/schemas/", "");
    if (schemas[name] !== undefined) collectRefs(schemas[name]!, pending);
  }
  for (const name of Object.keys(schemas)) if (!used.has(`#/components/schemas/${name}`)) delete schemas[name];
}

/** The error answers the routes list (src/api/routes/common.ts) point at the shared ones. */
function shareErrorResponses(document: JsonObject): void {
  for (const pathItem of Object.values(document.paths as JsonObject)) {
    for (const operation of Object.values(pathItem as JsonObject)) {
      const responses = (operation as JsonObject).responses as JsonObject;
      for (const [status, name] of Object.entries(errorResponses)) {
        if (responses[status] !== undefined) responses[status] = { $ref: `#/components/responses/${name}` };
      }
    }
  }
}

/**
 * The frame and the finishing pass. Routes say their own operationId, security and answers; this
 * adds what is the same for all of them.
 */
export function openapiOptions(version: string): SwaggerOptions {
  return {
    openapi: {
      openapi: "3.1.0",
      info: { ...openapiInfo, version },
      // First the service that serves the document, so /docs tries requests where it was loaded from.
      servers: [
        { url: "/", description: "This service, where the document was fetched from" },
        {
          url: "{scheme}://{address}:{port}",
          description: "certwright serve; its defaults are --address 127.0.0.1 --port 8888, plain HTTP",
          variables: {
            scheme: { default: "http", enum: ["http", "https"] },
            address: { default: "127.0.0.1" },
            port: { default: "8888" },
          },
        },
      ],
      tags: [
        { name: "cfssl", description: "cfssl-compatible endpoints" },
        { name: "revocation", description: "Revoking, CRLs and OCSP" },
        { name: "inventory", description: "The certificates issued" },
        { name: "operations", description: "Readiness, metrics and reloading the signing config" },
        { name: "acme", description: "The ACME server (RFC 8555) of each provisioner in the signing config's acme section; its answers are ACME's, not the envelope" },
      ],
      components: { securitySchemes: structuredClone(securitySchemes) as never },
    },
    transform: jsonSchemaTransform,
    transformObject: (documentObject) => {
      const document = jsonSchemaTransformObject(documentObject) as unknown as JsonObject;
      const components = document.components as JsonObject;
      components.responses = errorResponseComponents() as JsonObject;
      shareErrorResponses(document);
      dropUnusedSchemas(document);
      // A copy without shared objects: YAML would write those as anchors and aliases.
      return JSON.parse(JSON.stringify(document));
    },
  };
}

/**
 * For a route whose document must say more than its validation schema can: `extra` is merged into
 * the schema for the document only (an OCSP body, a path parameter named for a wildcard).
 */
export function documentedAs(extra: FastifySchema & { url?: string }): SwaggerTransform {
  const { url, ...schema } = extra;
  return (route) => jsonSchemaTransform({ ...route, schema: { ...route.schema, ...schema }, url: url ?? route.url } as never);
}
