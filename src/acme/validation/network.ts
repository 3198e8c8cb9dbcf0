/**
 * What the three challenge validators share: name resolution (through the configured resolver or
 * the system's), failures carried as a typed problem, and the mapping from Node's error codes to
 * the ACME problem types a client is shown.
 */
import { promises as dns } from "node:dns";
import { isIP } from "node:net";
import type { AcmeIdentifier, ChallengeProblem, ValidationResult, ValidationTargets } from "./types.js";

/** A validation that failed for a reason the client should be told, as the problem it gets. */
export class ValidationFailure extends Error {
  override name = "ValidationFailure";
  constructor(readonly problem: ChallengeProblem) {
    super(problem.detail);
  }
}

export function fail(type: ChallengeProblem["type"], detail: string): never {
  throw new ValidationFailure({ type, detail });
}

export const internalProblem: ChallengeProblem = { type: "serverInternal", detail: "the validation failed on the server's side" };

/**
 * Runs `check` and turns what it throws into a result: a `ValidationFailure` is the problem it
 * carries; anything else is a fault of ours: the client gets serverInternal without its internals,
 * and `onInternalError` (the caller's log) gets the error.
 */
export async function settle(onInternalError: ((error: unknown) => void) | undefined, check: () => Promise<void>): Promise<ValidationResult> {
  try {
    await check();
    return { ok: true };
  } catch (error) {
    if (error instanceof ValidationFailure) return { ok: false, problem: error.problem };
    try {
      onInternalError?.(error);
    } catch {}
    return { ok: false, problem: internalProblem };
  }
}

// A DNS name as ACME identifiers carry them: LDH labels, optionally behind one "*." (RFC 8555 §7.1.3).
const dnsName = /^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.?$/i;

/**
 * Refuses identifiers that cannot be put in a URL or a DNS query as they are. The protocol core
 * checks identifiers at newOrder, so one that gets here is a fault of the caller.
 */
export function checkIdentifier(identifier: AcmeIdentifier): void {
  if (identifier.type !== "dns" && identifier.type !== "ip") fail("serverInternal", `unknown identifier type ${JSON.stringify(identifier.type)}`);
  const valid = identifier.type === "ip" ? isIP(identifier.value) !== 0 : identifier.value.length <= 253 && dnsName.test(identifier.value);
  if (!valid) fail("serverInternal", `the identifier ${JSON.stringify(identifier.value)} is not a valid ${identifier.type} identifier`);
}

export const isWildcard = (identifier: AcmeIdentifier) => identifier.type === "dns" && identifier.value.startsWith("*.");

/**
 * A resolver that asks `targets.dnsResolver` (HOST:PORT, `[v6]:PORT`), or the system's servers
 * from resolv.conf when it is unset. c-ares tries a query twice and doubles the wait for the second
 * try, so a third of the per-attempt timeout each makes a silent server cost about `timeoutMs`.
 */
export function resolverFor(targets: ValidationTargets): dns.Resolver {
  const resolver = new dns.Resolver({ timeout: Math.max(1, Math.floor(targets.timeoutMs / 3)), tries: 2 });
  if (targets.dnsResolver !== undefined) resolver.setServers([targets.dnsResolver]);
  return resolver;
}

/** Cancels `resolver`'s queries when `signal` aborts, so an abandoned validation leaves nothing behind. */
export function cancelOnAbort(resolver: dns.Resolver, signal: AbortSignal): () => void {
  const cancel = () => resolver.cancel();
  signal.addEventListener("abort", cancel, { once: true });
  return () => signal.removeEventListener("abort", cancel);
}

/** The problem for a failed DNS query, from the c-ares error code Node reports. */
export function dnsProblem(error: unknown, rrtype: string, name: string): ChallengeProblem {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const what = `${rrtype} for ${name}`;
  switch (code) {
    case "ENOTFOUND":
      return { type: "dns", detail: `NXDOMAIN looking up ${what}` };
    case "ENODATA":
      return { type: "dns", detail: `no ${rrtype} record found for ${name}` };
    case "ESERVFAIL":
      return { type: "dns", detail: `SERVFAIL looking up ${what}` };
    case "EREFUSED":
      return { type: "dns", detail: `the DNS server refused the query looking up ${what}` };
    case "ETIMEOUT":
    case "ECANCELLED":
      return { type: "dns", detail: `timed out looking up ${what}` };
    default:
      return { type: "dns", detail: `DNS problem looking up ${what}${code ? ` (${code})` : ""}` };
  }
}

/**
 * The addresses to connect to for `host`: the address itself for an IP literal; else AAAA then A
 * records from the configured resolver, or the system's lookup (which reads /etc/hosts) when none
 * is configured. IPv6 first, as Let's Encrypt does; the callers fall back to the next address when
 * one cannot be reached.
 */
export async function addressesOf(host: string, targets: ValidationTargets, signal: AbortSignal): Promise<string[]> {
  if (isIP(host)) return [host];
  if (targets.dnsResolver === undefined) {
    try {
      const found = await dns.lookup(host, { all: true, verbatim: true });
      return [...found.filter((a) => a.family === 6), ...found.filter((a) => a.family === 4)].map((a) => a.address);
    } catch (error) {
      throw new ValidationFailure(dnsProblem(error, "A/AAAA", host));
    }
  }
  const resolver = resolverFor(targets);
  const release = cancelOnAbort(resolver, signal);
  const [v6, v4] = await Promise.allSettled([resolver.resolve6(host), resolver.resolve4(host)]).finally(release);
  const addresses = [...(v6.status === "fulfilled" ? v6.value : []), ...(v4.status === "fulfilled" ? v4.value : [])];
  if (addresses.length > 0) return addresses;
  // A name with only A records answers AAAA with NODATA: that is no failure unless A is empty too.
  for (const [rrtype, outcome] of [["A", v4], ["AAAA", v6]] as const) {
    const code = outcome.status === "rejected" ? (outcome.reason as NodeJS.ErrnoException).code : undefined;
    if (outcome.status === "rejected" && code !== "ENODATA") throw new ValidationFailure(dnsProblem(outcome.reason, rrtype, host));
  }
  fail("dns", `no A or AAAA record found for ${host}`);
}

/** The problem for a socket that failed to connect, or failed while talking. */
export function connectionProblem(error: unknown, where: string): ChallengeProblem {
  if (error instanceof ValidationFailure) return error.problem;
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? "";
  const message = error instanceof Error ? error.message : String(error);
  if (code === "ECONNREFUSED") return { type: "connection", detail: `connection refused by ${where}` };
  if (code === "ETIMEDOUT" || code === "ABORT_ERR") return { type: "connection", detail: `timed out talking to ${where}` };
  if (code === "ECONNRESET" || code === "EPIPE") return { type: "connection", detail: `connection reset by ${where}` };
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH") return { type: "connection", detail: `${where} is unreachable (${code})` };
  if (code.startsWith("HPE_")) return { type: "connection", detail: `malformed HTTP response from ${where}` };
  if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_") || code === "EPROTO" || /SSL|TLS|alert/i.test(message)) {
    return { type: "tls", detail: `TLS error with ${where}: ${message.split("\n")[0]}` };
  }
  return { type: "connection", detail: `connection to ${where} failed${code ? ` (${code})` : ""}` };
}

/** An error with `code`, as Node's socket errors have, for failures this module makes up. */
export function codedError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

/** `address:port`, with an IPv6 address in brackets, for messages and URLs. */
export function hostPort(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}
