import type { FastifyRequest } from "fastify";

/**
 * The audit record of a request that issues, revokes or makes a CA: who asked, for what, and what
 * came of it. The request's completion log line carries it (see request-log.ts), so each such
 * request is one searchable JSON line; the certificate's row records `requested_by` too.
 */
export interface AuditEntry {
  endpoint: string;
  /** auth-key:<name>, client-cn:<CN>, admin or address:<ip>: the strongest identity proved. */
  client: string;
  profile?: string | undefined;
  /** The issuing CA's label, when the service signs with several (--ca-config). */
  label?: string | undefined;
  cn?: string | undefined;
  sans?: string[] | undefined;
  serial?: string | undefined;
  /** issued, revoked, already revoked, created, reloaded, or refused (with the error code). */
  outcome?: string;
  code?: number;
}

declare module "fastify" {
  interface FastifyRequest {
    audit?: AuditEntry;
  }
}

/** Opens the audit record of a request; the handler or the error handler completes it. */
export function audit(request: FastifyRequest, entry: AuditEntry): AuditEntry {
  request.audit = entry;
  return entry;
}
