import type { TLSSocket } from "node:tls";
import type { FastifyRequest } from "fastify";
import { describeRequester, type ClientCertificate, type Credential, type Requester } from "../authority/authentication.js";

/** The verified client certificate of a mutual-TLS connection, if there is one. */
function clientCertificateOf(request: FastifyRequest): ClientCertificate | undefined {
  const socket = request.raw.socket as Partial<TLSSocket>;
  if (!socket.authorized) return undefined;
  const peer = socket.getPeerCertificate?.();
  const cn = peer?.subject?.CN;
  if (typeof cn !== "string" || cn === "") return undefined;
  // Node prints SANs as "DNS:a, IP Address:10.0.0.1"; only names and addresses identify a client.
  const names = (peer!.subjectaltname ?? "")
    .split(", ")
    .map((entry) => /^(?:DNS|IP Address):(.+)$/.exec(entry)?.[1])
    .filter((name): name is string => name !== undefined);
  return { cn, names };
}

/** Everything the request proved about who sent it. */
export function requesterOf(request: FastifyRequest, credential?: Credential): Requester {
  return { credential, clientCertificate: clientCertificateOf(request), address: request.ip };
}

/** Who asked, as the audit trail and requested_by write it. */
export function clientIdentity(request: FastifyRequest, credential?: Credential): string {
  return describeRequester(requesterOf(request, credential));
}
