import Fastify, { type FastifyInstance } from "fastify";
import { fileURLToPath } from "node:url";
import { answerFrom } from "./lazy-app.js";

export const consolePrefix = "/ui/";

/** The console's files, shipped in the package beside dist/ (from src/api or dist/api alike). */
export const consoleRoot = fileURLToPath(new URL("../../ui/", import.meta.url));

/**
 * What a console page may do: load its own scripts, styles and images and call its own origin,
 * nothing inline and nothing in a frame, so an injected string can neither run nor be framed.
 */
export const consoleContentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * Serves the operator console's static files under /ui/. Its hook sits in this plugin's own
 * context, so the headers are the console's alone and the API's answers stay as they were.
 */
export async function consoleStatic(app: FastifyInstance, { root = consoleRoot }: { root?: string } = {}) {
  app.addHook("onSend", (_request, reply, payload, done) => {
    reply.header("content-security-policy", consoleContentSecurityPolicy);
    reply.header("referrer-policy", "no-referrer");
    reply.header("x-frame-options", "DENY");
    reply.header("cross-origin-opener-policy", "same-origin");
    done(null, payload);
  });
  // Without the slash, the page's relative paths (app.js, style.css) would resolve from /.
  app.get("/ui", { schema: { hide: true } }, (_request, reply) => reply.redirect(consolePrefix));
  // @fastify/static (with what it loads) is a tenth of the service's start: loaded by the first
  // request for a console file, in a small app of its own that answers the console's requests.
  const files = answerFrom(async () => {
    const { default: fastifyStatic } = await import("@fastify/static");
    const served = Fastify();
    await served.register(fastifyStatic, { root, prefix: consolePrefix, index: "index.html" });
    return served;
  });
  app.get(consolePrefix, { schema: { hide: true } }, files);
  app.get(`${consolePrefix}*`, { schema: { hide: true } }, files);
}
