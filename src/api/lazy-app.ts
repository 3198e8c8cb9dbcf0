import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/** Headers of one hop: the answer sent on is a whole body of its own. */
const hopByHop = new Set(["connection", "keep-alive", "transfer-encoding", "content-length"]);

/**
 * A route handler that answers from a small app built by `build` on the first request (a plugin
 * that serves files, say, whose modules the service need not load before someone asks): the
 * request is injected into it and its answer sent on, headers and all. Its 404 becomes the
 * service's own, in the envelope. A build that fails fails that request, and the next tries again.
 */
export function answerFrom(build: () => Promise<FastifyInstance>): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply> {
  let built: Promise<FastifyInstance> | undefined;
  return async (request, reply) => {
    built ??= build();
    const app = await built.catch((error: unknown) => {
      built = undefined;
      throw error;
    });
    const answer = await app.inject({ method: request.method as "GET", url: request.url, headers: request.headers });
    if (answer.statusCode === 404) {
      reply.callNotFound();
      return reply;
    }
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value !== undefined && !hopByHop.has(name)) reply.header(name, value);
    }
    return reply.code(answer.statusCode).send(answer.rawPayload);
  };
}
