/**
 * http-01 (RFC 8555 §8.3): GET http://<name>:<httpPort>/.well-known/acme-challenge/<token> must
 * answer 200 with the key authorization as its body.
 *
 * Redirects: at most 10 are followed, as Let's Encrypt does. Each must go to http on port 80 or
 * the configured HTTP port, or to https on port 443 or the configured TLS port: a validation that
 * could be sent to any port would let whoever controls the name probe the validator's network.
 * The configured ports stand in for 80 and 443 where the operator moved them (a test network, as
 * pebble's flags do). An https target's certificate is not checked, as RFC 8555 §8.3 leaves it and
 * Let's Encrypt does: the key authorization is what proves control, not the certificate.
 *
 * Problem types: a status other than 200 is unauthorized (the server answered, and not with a
 * key authorization); a wrong body, or one over 8 KiB, is incorrectResponse; a refused, reset or
 * silent connection and a redirect that breaks the rules are connection; DNS failures are dns; a
 * failed handshake after an https redirect is tls.
 */
import type { IncomingMessage } from "node:http";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { addressesOf, checkIdentifier, codedError, connectionProblem, fail, isWildcard, settle, ValidationFailure } from "./network.js";
import type { AcmeIdentifier, ValidationResult, ValidationTargets } from "./types.js";

/** How many redirects are followed before the validation fails. */
export const maxRedirects = 10;
/** The largest body read; a key authorization is under 100 bytes, so more is not one. */
export const maxBodyBytes = 8192;
const redirectStatuses = new Set([301, 302, 303, 307, 308]);
// Tokens are base64url (RFC 8555 §8.1); anything else could change the path the GET asks for.
const tokenPattern = /^[A-Za-z0-9_-]+$/;

interface Answer {
  status: number;
  location: string | undefined;
  body: Buffer | undefined;
}

/** Validates an http-01 challenge; never throws (see the module comment for the problem types). */
export function validateHttp01(
  identifier: AcmeIdentifier,
  token: string,
  keyAuthorization: string,
  targets: ValidationTargets,
  signal: AbortSignal = new AbortController().signal,
  onInternalError?: (error: unknown) => void,
): Promise<ValidationResult> {
  return settle(onInternalError, async () => {
    checkIdentifier(identifier);
    if (isWildcard(identifier)) fail("unauthorized", "a wildcard identifier can only be validated by dns-01 (RFC 8555 §7.1.3)");
    if (!tokenPattern.test(token)) fail("serverInternal", "the challenge token is not base64url");
    const host = isIP(identifier.value) === 6 ? `[${identifier.value}]` : identifier.value;
    let url = new URL(`http://${host}:${targets.httpPort}/.well-known/acme-challenge/${token}`);
    const seen = new Set([url.href]);
    for (let redirects = 0; ; redirects++) {
      const answer = await fetchOnce(url, targets, signal);
      if (redirectStatuses.has(answer.status) && answer.location !== undefined) {
        if (redirects === maxRedirects) fail("connection", `too many redirects (more than ${maxRedirects}) fetching ${seen.values().next().value}`);
        const next = redirectTarget(answer.location, url, targets);
        if (seen.has(next.href)) fail("connection", `redirect loop: ${url.href} leads back to ${next.href}`);
        seen.add(next.href);
        url = next;
        continue;
      }
      if (answer.status !== 200) fail("unauthorized", `${url.href} answered HTTP ${answer.status}`);
      // RFC 8555 §8.3: "The server SHOULD ignore whitespace characters at the end of the body."
      const body = answer.body!.toString("utf8").replace(/[ \t\r\n]+$/, "");
      if (body !== keyAuthorization) {
        const shown = body.length > 64 ? `${body.slice(0, 64)}…` : body;
        fail("incorrectResponse", `the key authorization at ${url.href} does not match this challenge: got ${JSON.stringify(shown)}`);
      }
      return;
    }
  });
}

/** The next URL of a redirect, if it keeps to the rules in the module comment. */
function redirectTarget(location: string, from: URL, targets: ValidationTargets): URL {
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    fail("connection", `${from.href} redirects to ${JSON.stringify(location)}, which is not a URL`);
  }
  const allowed = next.protocol === "http:" ? [80, targets.httpPort] : next.protocol === "https:" ? [443, targets.tlsPort] : undefined;
  if (!allowed) fail("connection", `${from.href} redirects to ${next.protocol} ; only http and https are followed`);
  const port = Number(next.port || (next.protocol === "http:" ? 80 : 443));
  if (!allowed.includes(port)) {
    fail("connection", `${from.href} redirects to port ${port}; ${next.protocol.slice(0, -1)} redirects are followed to port ${[...new Set(allowed)].join(" or ")} only`);
  }
  if (next.username || next.password) fail("connection", `${from.href} redirects to a URL with credentials`);
  next.hash = "";
  return next;
}

/** One GET, trying each address of the host in turn while connections fail. */
async function fetchOnce(url: URL, targets: ValidationTargets, signal: AbortSignal): Promise<Answer> {
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  const addresses = await addressesOf(hostname, targets, signal);
  let lastError: unknown;
  for (const address of addresses) {
    try {
      return await get(url, hostname, address, targets.timeoutMs, signal);
    } catch (error) {
      lastError = error;
      const problem = connectionProblem(error, url.host);
      // Only a host that cannot be reached is worth another address; any other answer is final.
      if (problem.type !== "connection" || !["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH"].includes((error as NodeJS.ErrnoException).code ?? "")) break;
    }
  }
  throw new ValidationFailure(connectionProblem(lastError, url.host));
}

/** A GET of `url` sent to `address`, with a timeout for the whole exchange. */
function get(url: URL, hostname: string, address: string, timeoutMs: number, signal: AbortSignal): Promise<Answer> {
  // An abort that came while the name was being looked up finds no listener yet: stop here.
  if (signal.aborted) return Promise.reject(codedError("ABORT_ERR", "aborted"));
  return new Promise<Answer>((resolve, reject) => {
    const https = url.protocol === "https:";
    const port = Number(url.port || (https ? 443 : 80));
    const options = {
      host: address,
      port,
      path: `${url.pathname}${url.search}`,
      method: "GET",
      headers: { host: url.host, accept: "*/*", "user-agent": "certwright-acme-validator", connection: "close" },
      agent: false as const,
      // SNI carries the name, never an address (RFC 6066 §3).
      ...(https ? { servername: isIP(hostname) ? "" : hostname, rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] } : {}),
    };
    const request = (https ? httpsRequest : httpRequest)(options);
    // The first outcome wins; destroying the request afterwards may raise errors nobody needs.
    let settled = false;
    const finish = (outcome: Answer | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", abort);
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
      request.destroy();
    };
    const timer = setTimeout(() => finish(codedError("ETIMEDOUT", "timed out")), timeoutMs);
    const abort = () => finish(codedError("ABORT_ERR", "aborted"));
    signal.addEventListener("abort", abort, { once: true });
    request.on("error", finish);
    request.on("response", (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      const location = response.headers.location;
      if (status !== 200) {
        finish({ status, location, body: undefined });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBodyBytes) {
          finish(new ValidationFailure({ type: "incorrectResponse", detail: `the response from ${url.href} is larger than ${maxBodyBytes} bytes` }));
          return;
        }
        chunks.push(chunk);
      });
      response.on("end", () => finish({ status, location, body: Buffer.concat(chunks) }));
      response.on("error", finish);
    });
    request.end();
  });
}
