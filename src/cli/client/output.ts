import type { ServiceMessage } from "./errors.js";

/** One line of JSON on stdout, as cfssl's commands print their results. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** The envelope's `messages` (a lifetime cut at the CA's end, no hosts...), on stderr so stdout stays JSON. */
export function printMessages(endpoint: string, messages: ServiceMessage[]): void {
  for (const message of messages) console.error(`certwright: ${endpoint}: note: ${message.message}`);
}
