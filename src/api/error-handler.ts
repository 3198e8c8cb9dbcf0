import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { CertwrightError, errorKinds } from "../errors.js";
import { errorEnvelope } from "./envelope.js";
import { maskPem } from "./log-redaction.js";
import { postgresUnavailable } from "../store/postgres/unavailable.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The code of the error envelope this request was answered with, for the metrics. */
    errorCode?: number;
    /** A refusal's message, PEM masked, for the request's one log line. */
    errorMessage?: string;
  }
}

/** `/request/hosts/0` → `request.hosts[0]`, the way the docs and messages name fields. */
function fieldName(instancePath: string): string {
  const parts = instancePath.split("/").filter(Boolean);
  if (parts.length === 0) return "request body";
  return parts.map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : i === 0 ? part : `.${part}`)).join("");
}

/** Turns whatever went wrong into one of the closed set of errors. */
export function toCertwrightError(error: FastifyError | Error): CertwrightError {
  if (error instanceof CertwrightError) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const problems = error.validation.map((issue) => {
      const missing = /received undefined/.test(issue.message ?? "");
      return `${fieldName(issue.instancePath)}: ${missing ? "is required" : issue.message}`;
    });
    return new CertwrightError("invalidRequest", problems.join("; "));
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    return new CertwrightError("bodyTooLarge", "request body is too large; send one certificate request at a time");
  }
  if (fastifyError.code === "FST_ERR_BAD_URL") {
    return new CertwrightError("invalidRequest", "the URL does not decode: a %-escape in it is not valid UTF-8");
  }
  if (fastifyError.code === "FST_ERR_MAX_PARAM_LENGTH") {
    return new CertwrightError("invalidRequest", "a path segment is longer than 100 characters: a serial is at most 20 octets (49 decimal digits)");
  }
  if (error instanceof SyntaxError || fastifyError.code === "FST_ERR_CTP_INVALID_JSON_BODY") {
    return new CertwrightError("malformedBody", `request body is not valid JSON (${error.message})`);
  }
  // A database that takes no writes (a full disk, an I/O error, a lock held past the busy timeout)
  // is the service's state, not the request's fault: 503 as for a certificate that cannot be
  // recorded, wherever the write was (replay nonces, rate-limit counts...).
  const databaseCode = (error as { code?: unknown }).code;
  if (typeof databaseCode === "string" && /^SQLITE_(FULL|IOERR|READONLY|BUSY|LOCKED|CANTOPEN)/.test(databaseCode)) {
    return new CertwrightError("notReady", `the database takes no writes now (${databaseCode}); try again once /api/v1/ready answers 200`, { cause: error });
  }
  // The same for a PostgreSQL database that cannot be reached (or is a standby), wherever the query was.
  const unavailable = postgresUnavailable(error);
  if (unavailable !== undefined) {
    return new CertwrightError("notReady", `${unavailable}; try again once /api/v1/ready answers 200`, { cause: error });
  }
  if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return new CertwrightError("invalidRequest", error.message);
  }
  return new CertwrightError("internal", "internal error; the service log has the details", { cause: error });
}

/** The single place where errors become HTTP answers: the status comes from the error table. */
export function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  const failure = toCertwrightError(error);
  const { status } = errorKinds[failure.kind];
  if (request.audit) Object.assign(request.audit, { outcome: "refused", code: failure.code });
  request.errorCode = failure.code;
  // The client reads its own input back in the message; the log gets it with any PEM masked. A
  // refusal goes on the request's one line (RequestLog); an internal error gets its own, with the cause.
  if (status >= 500) {
    request.log.error({ err: failure.cause ?? error, code: failure.code }, maskPem(failure.message));
  } else {
    request.errorMessage = maskPem(failure.message);
  }
  return reply.status(status).send(errorEnvelope(failure.code, failure.message));
}
