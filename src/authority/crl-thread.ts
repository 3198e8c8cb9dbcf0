// The CRL thread: reads what a CRL lists and signs it, on a connection of its own, so re-signing a
// CRL of thousands of entries (~100-150 ms at 10,000) never holds up the thread that serves HTTP.
import { workerData } from "node:worker_threads";
import { openCertificateAuthority, type CaKeyData } from "../keys/ca-key.js";
import type { CertificateAuthority } from "../pki/certificate.js";
import { buildCrl } from "../pki/crl.js";
import type { DatabaseSource } from "../store/backend.js";
import { openReads } from "../store/open-reads.js";
import { lowerThreadPriority } from "../threads/priority.js";
import { serveApi } from "../threads/rpc.js";

export interface CrlThreadData extends CaKeyData {
  /** The certificate database, already migrated by the main thread. */
  source: DatabaseSource;
  caCertificate: string;
  label: string;
}

/** The CRL number is taken by the main thread (it writes); this thread only reads and signs. */
export interface CrlRequest {
  crlNumber: bigint;
  thisUpdateMs: number;
  nextUpdateMs: number;
}

const data = workerData as CrlThreadData;
// Below the HTTP thread and the signers, as the inventory reader is: a relying party can wait for a
// re-signed CRL longer than a client for its certificate.
lowerThreadPriority(10);
const { inventory } = openReads(data.source, "CRL thread");

/** What the CRL thread does for `ca`, called through RevocationService. */
function crlApiOf(ca: CertificateAuthority) {
  return {
    /** The CA's CRL, DER, listing what is revoked and unexpired at `thisUpdateMs`. */
    async sign(request: CrlRequest): Promise<Uint8Array> {
      const thisUpdate = new Date(request.thisUpdateMs);
      const revoked = (await inventory.revokedUnexpired(ca.subjectKeyId, thisUpdate)).map((entry) => ({
        serial: BigInt(entry.serialNumber),
        revokedAt: entry.revokedAt,
        reason: entry.reason,
      }));
      return buildCrl(ca, { crlNumber: request.crlNumber, thisUpdate, nextUpdate: new Date(request.nextUpdateMs), revoked });
    },
  };
}

export type CrlApi = ReturnType<typeof crlApiOf>;

// Not a top-level await: the service's bundle is CommonJS. A key that cannot be opened rejects, and
// the unhandled rejection ends the thread with that error.
void openCertificateAuthority(data.caCertificate, data, data.label).then((ca) => serveApi(crlApiOf(ca)));
