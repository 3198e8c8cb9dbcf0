// The OpenAPI document and its browsable page, made on first use. @fastify/swagger, @fastify/swagger-ui
// and what they load (yaml, json-schema-resolver, debug, @fastify/static) cost about a fifth of the
// service's start, for pages a client may never ask for.
import { createRequire } from "node:module";
import type { FastifySwaggerOptions, SwaggerOptions } from "@fastify/swagger";
import Fastify, { type FastifyInstance, type RouteOptions } from "fastify";
import { answerFrom } from "./lazy-app.js";

const require = createRequire(import.meta.url);

type SwaggerFunction = FastifyInstance["swagger"];

/** @fastify/swagger's plugin function as it is exported, before fastify-plugin wraps it. */
type SwaggerPlugin = (instance: unknown, options: SwaggerOptions, done: (error?: Error) => void) => void;

type HookName = "onRoute" | "onRegister" | "onReady";

/**
 * Gives `app` the `swagger()` decorator @fastify/swagger gives, and records the routes registered
 * after this call as the plugin would; @fastify/swagger itself is loaded by the first call, which
 * hands it the routes recorded (the document is then cached, as the plugin caches it). Call it
 * where the plugin would be registered: before the routes it documents.
 */
export function documentRoutes(app: FastifyInstance, options: SwaggerOptions): void {
  const routes: RouteOptions[] = [];
  const instances: FastifyInstance[] = [];
  app.addHook("onRoute", (route) => {
    routes.push(route);
  });
  app.addHook("onRegister", (instance) => {
    instances.push(instance);
  });
  let swagger: SwaggerFunction | undefined;
  const document = ((documentOptions?: { yaml?: boolean }) => {
    swagger ??= loadSwagger(app, options, routes, instances);
    return documentOptions ? swagger(documentOptions as { yaml: true }) : swagger();
  }) as SwaggerFunction;
  app.decorate("swagger", document);
}

/** Runs @fastify/swagger's plugin against a stand-in of `app` that replays the routes recorded. */
function loadSwagger(app: FastifyInstance, options: SwaggerOptions, routes: readonly RouteOptions[], instances: readonly FastifyInstance[]): SwaggerFunction {
  const { fastifySwagger } = require("@fastify/swagger") as { fastifySwagger: SwaggerPlugin };
  const hooks: Record<HookName, ((...args: unknown[]) => unknown)[]> = { onRoute: [], onRegister: [], onReady: [] };
  let decorated: SwaggerFunction | undefined;
  const standIn = {
    addHook(name: HookName, hook: (...args: unknown[]) => unknown) {
      hooks[name].push(hook);
    },
    decorate(_name: string, value: SwaggerFunction) {
      decorated = value;
    },
    getSchemas: () => app.getSchemas(),
  };
  let failure: Error | undefined;
  fastifySwagger(standIn, { ...options } as FastifySwaggerOptions & SwaggerOptions, (error) => {
    failure = error;
  });
  if (failure) throw failure;
  for (const instance of instances) for (const hook of hooks.onRegister) void hook(instance);
  for (const route of routes) for (const hook of hooks.onRoute) hook(route);
  for (const hook of hooks.onReady) hook(() => {});
  if (!decorated) throw new Error("@fastify/swagger gave no swagger() function");
  return decorated;
}

/**
 * Serves @fastify/swagger-ui's page under `prefix` (GET `prefix` and `prefix/*`): the first request
 * builds a small app with the plugin, over `app.swagger()`, which answers each request.
 */
export function serveDocsPage(app: FastifyInstance, prefix: string): void {
  const forward = answerFrom(() => docsPage(app, prefix));
  app.get(prefix, { schema: { hide: true } }, forward);
  app.get(`${prefix}/*`, { schema: { hide: true } }, forward);
}

async function docsPage(app: FastifyInstance, prefix: string): Promise<FastifyInstance> {
  const { default: swaggerUi } = await import("@fastify/swagger-ui");
  const page = Fastify();
  // The page's plugin asks for @fastify/swagger by name: this stands in for it, over `app`'s document.
  const documented = Object.assign(
    async (instance: FastifyInstance) => {
      instance.decorate("swagger", ((options?: { yaml?: boolean }) => (options ? app.swagger(options as { yaml: true }) : app.swagger())) as SwaggerFunction);
    },
    { [Symbol.for("skip-override")]: true, [Symbol.for("plugin-meta")]: { name: "@fastify/swagger" } },
  );
  await page.register(documented);
  await page.register(swaggerUi, { routePrefix: prefix });
  await page.ready();
  return page;
}
