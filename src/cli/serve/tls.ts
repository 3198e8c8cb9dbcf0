import type { Server } from "node:https";
import { createSecureContext } from "node:tls";
import type { FastifyBaseLogger } from "fastify";
import { issuedCertificate } from "../../model/issued-certificate.js";
import { ServingCertificate, type ServingPair } from "../../authority/serving-certificate.js";
import type { ServeOptions } from "../options.js";
import { StartupError } from "../startup-error.js";
import { issuersToSend, type CaChain } from "../../pki/chain.js";
import type { LoadedCa } from "./ca-files.js";
import { readStartupFile } from "./read-file.js";
import type { ShutdownStack } from "./shutdown-stack.js";
import type { Storage } from "./storage-parts.js";

/** What the HTTPS listener is given (none: plain HTTP on loopback). */
export interface ListenerTls {
  cert: string;
  key: string;
  clientCa: string | undefined;
  clientCn: RegExp | undefined;
}

/** The client-certificate side of TLS (mutual TLS), whichever certificate the service serves. */
export interface ClientTls {
  clientCa: string | undefined;
  clientCn: RegExp | undefined;
}

/**
 * Reads every TLS file named on the command line (--tls-cert/--tls-key, --mutual-tls-ca) before
 * anything is made, so a bad one is refused before a first start writes a CA and a database.
 */
export function readTlsFiles(options: ServeOptions): { listener: ListenerTls | undefined; client: ClientTls } {
  const client = {
    clientCa: options.mutualTlsCa ? readStartupFile(options.mutualTlsCa, "mutual TLS CA") : undefined,
    clientCn: options.mutualTlsCn ? anchored(options.mutualTlsCn) : undefined,
  };
  if (!options.tlsCert || !options.tlsKey) return { listener: undefined, client };
  const cert = readStartupFile(options.tlsCert, "TLS certificate");
  const key = readStartupFile(options.tlsKey, "TLS key");
  try {
    createSecureContext({ cert, key, ca: client.clientCa });
  } catch (error) {
    throw new StartupError(`--tls-cert ${options.tlsCert} and --tls-key ${options.tlsKey} cannot serve TLS: ${(error as Error).message}`);
  }
  return { listener: { cert, key, ...client }, client };
}

export interface ServingTls {
  listener: ListenerTls;
  /** Renews the certificate two thirds into its life, from when the service listens until it stops. */
  scheduleRenewal(server: Server, log: FastifyBaseLogger, stack: ShutdownStack): void;
}

/** Zero-setup TLS: the service's CA issues the service's certificate, recorded like any other. */
export async function issueServingTls(
  options: Pick<ServeOptions, "tlsHosts" | "tlsLifetimeMs">,
  parts: { ca: LoadedCa; chain: CaChain; storage: Storage; client: ClientTls; note(message: string): void },
): Promise<ServingTls | undefined> {
  if (!options.tlsHosts) return undefined;
  const { ca, storage } = parts;
  const { clientCa } = parts.client;
  const serving = new ServingCertificate(ca.ca, options.tlsHosts, options.tlsLifetimeMs, (issued) =>
    storage.recorder.insert({ ...issuedCertificate(issued, { caLabel: ca.ca.label, issuedAt: new Date(), requestedBy: "certwright" }), profile: "serving" }),
  );
  // Clients that trust only the root need the intermediates too, sent after the certificate.
  const issuers = issuersToSend(parts.chain).join("");
  let pair: ServingPair = await serving.issue();
  parts.note(`serving TLS with a certificate of its own CA for ${serving.describe()}`);
  return {
    listener: { cert: pair.cert + issuers, key: pair.key, ...parts.client },
    scheduleRenewal(server, log, stack) {
      let timer: NodeJS.Timeout | undefined;
      stack.defer(() => clearTimeout(timer));
      const renewAt = (at: Date) => {
        // setTimeout holds at most 2^31-1 ms (24.8 days): longer waits are taken in steps.
        const wait = Math.min(Math.max(at.getTime() - Date.now(), 0), 2 ** 31 - 1);
        timer = setTimeout(() => (Date.now() >= at.getTime() ? void renew() : renewAt(at)), wait).unref();
      };
      const renew = async () => {
        try {
          pair = await serving.issue();
          server.setSecureContext({ cert: pair.cert + issuers, key: pair.key, ca: clientCa, minVersion: "TLSv1.2" });
          log.info({ serial: pair.issued.serialNumber, notAfter: pair.issued.notAfter }, "renewed the service's own TLS certificate");
          renewAt(pair.renewAt);
        } catch (error) {
          log.error({ err: error }, "renewing the service's own TLS certificate failed; trying again in a minute");
          renewAt(new Date(Date.now() + 60_000));
        }
      };
      renewAt(pair.renewAt);
    },
  };
}

function anchored(pattern: string): RegExp {
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch (error) {
    throw new StartupError(`--mutual-tls-cn: not a valid regular expression (${(error as Error).message})`);
  }
}
