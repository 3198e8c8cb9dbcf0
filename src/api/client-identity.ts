import type { TLSSocket } from "node:tls";
import type { FastifyRequest } from "fastify";
import type { Credential } from "../authority/authentication.js";

/**
 * Who asked, for the audit trail and the database's requested_by: the strongest identity the
 * request proved — its auth key, else its client certificate's CN, else only its address.
 */
export function clientIdentity(request: FastifyRequest, credential?: Credential): string {
  if (credential) return `auth-key:${credential.keyName}`;
  const socket = request.raw.socket as Partial<TLSSocket>;
  const cn = socket.getPeerCertificate?.()?.subject?.CN;
  if (typeof cn === "string" && cn !== "") return `client-cn:${cn}`;
  return `address:${request.ip}`;
}
