import { createServer as createNetServer } from "node:net";
import type { ServeOptions } from "../options.js";
import { StartupError } from "../startup-error.js";

/** Why the listener cannot start, as one line for the operator. */
export function listenFailure(error: unknown, options: Pick<ServeOptions, "address" | "port">): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE") return new StartupError(`port ${options.port} on ${options.address} is already in use; pick another with --port`);
  if (code === "EADDRNOTAVAIL") return new StartupError(`address ${options.address} is not an address of this machine; pick another with --address`);
  if (code === "EACCES") return new StartupError(`port ${options.port} needs privileges this process lacks; pick one above 1023 with --port`);
  return error as Error;
}

/**
 * Binds the address and port once and lets go, before anything is made: a port in use would
 * otherwise be found only after a first start had written a CA and a database.
 */
export async function checkListenable(options: Pick<ServeOptions, "address" | "port">): Promise<void> {
  if (options.port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createNetServer();
    probe.once("error", reject);
    probe.listen({ host: options.address, port: options.port, exclusive: true }, () => probe.close(() => resolve()));
  }).catch((error: unknown) => {
    throw listenFailure(error, options);
  });
}
