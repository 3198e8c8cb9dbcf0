import type { FastifyRequest } from "fastify";
import { z } from "zod";
import { envelopeSchema, errorEnvelopeSchema } from "../../schemas/wire.js";
import type { ErrorStatus } from "../openapi.js";

/**
 * The answers of an endpoint: its result in the envelope, or the error envelope under one of
 * `errors` (the 4xx statuses it can refuse with; the document explains each, src/api/openapi.ts)
 * or 5xx. 403 is every endpoint's: --mutual-tls-cn and revoked client certificates refuse any request.
 */
export function responses<T extends z.ZodType>(result: T, errors: readonly ErrorStatus[]) {
  return { 200: envelopeSchema(result).meta({ description: "Done: the result, in cfssl's envelope" }), ...errorAnswers(errors) };
}

/** The error envelope under each of `errors` and 5xx. */
export function errorAnswers(errors: readonly ErrorStatus[]) {
  return Object.fromEntries([...errors, "5XX"].map((status) => [status, errorEnvelopeSchema]));
}

/** A binary answer or body of `mediaType`, for the document. */
export function binary(mediaType: string, description: string) {
  return { description, content: { [mediaType]: { schema: z.string().meta({ format: "binary" }) } } };
}

/**
 * Throws unless the request carries the admin credential; true when it did, false when no
 * authentication is configured (and so nothing was checked).
 */
export type AdminCheck = (request: FastifyRequest) => boolean;
