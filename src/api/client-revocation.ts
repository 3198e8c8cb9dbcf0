import type { TLSSocket } from "node:tls";
import type { FastifyInstance } from "fastify";
import { CertwrightError } from "../errors.js";
import { encodePem } from "../pki/pem.js";
import { readCertificateIds } from "../pki/read-certificate.js";

/** A client certificate as the database records it: serial in decimal, authority key id in lower-case hex. */
interface RecordedIds {
  serialNumber: string;
  authorityKeyId: string;
}

/**
 * Read once per connection: its certificate cannot change while it is open (TLS 1.3 has no
 * renegotiation, and it is refused below for 1.2). null: no verified certificate, or one without
 * an authority key id, which this service never issues.
 */
const idsBySocket = new WeakMap<object, RecordedIds | null>();

function recordedIdsOf(socket: TLSSocket): RecordedIds | null {
  let ids = idsBySocket.get(socket);
  if (ids !== undefined) return ids;
  ids = null;
  const raw = socket.authorized ? socket.getPeerCertificate?.().raw : undefined;
  if (raw) {
    try {
      const read = readCertificateIds(encodePem("CERTIFICATE", raw));
      if (read.authorityKeyId) ids = { serialNumber: BigInt(`0x${read.serialHex}`).toString(10), authorityKeyId: read.authorityKeyId };
    } catch {
      // Node verified it against the mutual-TLS CA; one this reader cannot read was not issued here.
    }
  }
  idsBySocket.set(socket, ids);
  return ids;
}

/**
 * Refuses every request over a connection whose client certificate this service issued and has
 * revoked. The status is read from the database on each request (an indexed lookup), not cached:
 * a revocation counts from the moment it commits, on every replica that shares the database, and
 * on connections that were open before it.
 */
export function refuseRevokedClientCertificates(
  app: FastifyInstance,
  isRevoked: (serialNumber: string, authorityKeyId: string) => boolean | Promise<boolean>,
): void {
  app.server.on("secureConnection", (socket: TLSSocket) => socket.disableRenegotiation());
  app.addHook("onRequest", async (request) => {
    const ids = recordedIdsOf(request.raw.socket as TLSSocket);
    if (ids && (await isRevoked(ids.serialNumber, ids.authorityKeyId))) {
      throw new CertwrightError(
        "authenticationFailed",
        `the client certificate (serial ${ids.serialNumber}) has been revoked and is no longer accepted; connect with a certificate that is not revoked`,
      );
    }
  });
}
