import type { FastifyInstance, FastifyRequest } from "fastify";
import { credentialFromHeader, type Credential } from "../authority/authentication.js";
import { CertwrightError } from "../errors.js";
import type { GuardStorage } from "../store/backend.js";
import { clientIdentity } from "./client-identity.js";

/** At most `requests` per client in each window of `periodMs`. */
export interface RateLimit {
  requests: number;
  periodMs: number;
}

const periods: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };

/** Reads `N/s`, `N/m` or `N/h` (requests per second, minute or hour); undefined for anything else. */
export function parseRateLimit(text: string): RateLimit | undefined {
  const match = /^(\d{1,9})\/(s|m|h)$/.exec(text.trim());
  if (!match || Number(match[1]) === 0) return undefined;
  return { requests: Number(match[1]), periodMs: periods[match[2]!]! };
}

/**
 * Public, cacheable reads that fleets of TLS clients and monitors poll, and the console's static
 * files (a dozen per page load, no data in them): never limited. The console's API calls are.
 */
const unlimited = /^\/(?:ocsp|crl\/|ui(?:[/?]|$)|metrics$|api\/v1\/ready$|api\/v1\/cfssl\/health$)/;

/**
 * Limits each client — its auth key when the request carries a valid CFSSL-HMAC header, else its
 * client certificate's CN, else its address — to `limit`, in fixed windows counted in the database
 * so a restart hands out no fresh allowance. Over the limit: 429 with Retry-After. `authKeys` gives
 * the current signing configs' keys, one map per config (a reload can change them).
 */
export function installRateLimit(
  app: FastifyInstance,
  limit: RateLimit,
  store: GuardStorage,
  authKeys: () => readonly ReadonlyMap<string, Buffer>[],
  clock: () => Date = () => new Date(),
) {
  const identify = (request: FastifyRequest) => {
    let credential: Credential | undefined;
    // Any CA's config may hold the key; the route checks it against the CA the request names.
    for (const keys of authKeys()) {
      try {
        credential = credentialFromHeader(request.headers.authorization, request.rawBody ?? Buffer.alloc(0), keys);
        break;
      } catch {
        // a wrong HMAC counts against the address; the route refuses it
      }
    }
    return clientIdentity(request, credential);
  };
  // preHandler: after the body is read, so the HMAC can say which key is asking.
  app.addHook("preHandler", async (request, reply) => {
    if (unlimited.test(request.url)) return;
    const now = clock().getTime();
    const windowStart = now - (now % limit.periodMs);
    const count = await store.countRequest(identify(request), windowStart);
    if (count > limit.requests) {
      const retryAfter = Math.max(1, Math.ceil((windowStart + limit.periodMs - now) / 1000));
      reply.header("retry-after", String(retryAfter));
      throw new CertwrightError("rateLimited", `more than ${limit.requests} requests in ${limit.periodMs / 1000}s from this client; retry in ${retryAfter}s`);
    }
  });
}
