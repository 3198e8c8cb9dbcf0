import type { TLSSocket } from "node:tls";
import type { FastifyRequest } from "fastify";
import { readCertificateSubject } from "../pki/read-certificate.js";
import type { SubjectAttribute } from "../pki/subject.js";
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
  return { cn, names, subject: subjectOf(peer!.raw) };
}

/** Node has verified the certificate; its subject is read as encoded, every RDN, for `own_names_only`. */
function subjectOf(raw: Buffer | undefined): SubjectAttribute[] {
  if (!raw) return [];
  try {
    return readCertificateSubject(raw);
  } catch {
    return [];
  }
}

/** Everything the request proved about who sent it. */
export function requesterOf(request: FastifyRequest, credential?: Credential): Requester {
  return { credential, clientCertificate: clientCertificateOf(request), address: request.ip };
}

/** Who asked, as the audit trail and requested_by write it. */
export function clientIdentity(request: FastifyRequest, credential?: Credential): string {
  return describeRequester(requesterOf(request, credential));
}
