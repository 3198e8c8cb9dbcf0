import type { FastifyRequest } from "fastify";
import type { z } from "zod";
import { envelopeSchema, errorEnvelopeSchema } from "../../schemas/wire.js";

/** The answers of an endpoint: its result in the envelope, or the error envelope. */
export function responses<T extends z.ZodType>(result: T) {
  return { 200: envelopeSchema(result), "4xx": errorEnvelopeSchema, "5xx": errorEnvelopeSchema };
}

/**
 * Throws unless the request carries the admin credential; true when it did, false when no
 * authentication is configured (and so nothing was checked).
 */
export type AdminCheck = (request: FastifyRequest) => boolean;
