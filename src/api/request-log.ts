import { LogController, type FastifyReply, type FastifyRequest } from "fastify";

/**
 * One line per request at info, when it completes (method, path, status, time), instead of
 * fastify's two; the "incoming" line moves to debug. Bodies are never logged: they carry keys.
 * A request that issues, revokes or makes a CA logs its audit record on that line, as "audit"; a
 * refused one, its error code and message as "error".
 */
export class RequestLog extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ method: request.method, url: request.url }, "incoming request");
  }

  override requestCompleted(error: Error | null, request: FastifyRequest, reply: FastifyReply): void {
    const line = {
      method: request.method,
      url: request.url,
      statusCode: reply.statusCode,
      responseTime: reply.elapsedTime,
      ...(request.errorMessage !== undefined ? { error: { code: request.errorCode, message: request.errorMessage } } : {}),
    };
    if (error) reply.log.error({ ...line, err: error, audit: request.audit }, "request errored");
    else if (request.audit) reply.log.info({ ...line, audit: { outcome: reply.statusCode < 400 ? "ok" : "refused", ...request.audit } }, "audit");
    else reply.log.info(line, "request completed");
  }
}
