// The client commands: one module each, listed here once. main.ts dispatches to them and prints
// this list in its usage; a new command is a module and a line below.
import { CertwrightError } from "../../errors.js";
import { backupCommand } from "../backup.js";
import { UsageError } from "../usage-error.js";
import { ClientError, exitCodes, ServiceError } from "./errors.js";
import { gencertCommand } from "./gencert.js";
import { infoCommand } from "./info.js";
import { initcaCommand } from "./initca.js";
import { jsonCommand } from "./json.js";
import { listCommand } from "./list.js";
import { renewCommand } from "./renew.js";
import { revokeCommand } from "./revoke.js";
import { signCommand } from "./sign.js";

export interface ClientCommand {
  name: string;
  summary: string;
  run(argv: string[], env: NodeJS.ProcessEnv): Promise<number>;
}

export const clientCommands: readonly ClientCommand[] = [
  { name: "initca", summary: "make a CA here, no service needed (cfssl gencert -initca)", run: initcaCommand },
  { name: "gencert", summary: "have the service make a key and certificate from a CSR JSON", run: gencertCommand },
  { name: "sign", summary: "have the service sign a CSR", run: signCommand },
  { name: "info", summary: "print or write the service's CA certificate", run: infoCommand },
  { name: "json", summary: "write NAME.pem, NAME-key.pem, NAME.csr from JSON on stdin (cfssljson)", run: jsonCommand },
  { name: "renew", summary: "renew a certificate at 70-90% of its lifetime (once, or --daemon)", run: renewCommand },
  { name: "revoke", summary: "revoke a certificate by serial or certificate file (admin)", run: revokeCommand },
  { name: "list", summary: "list issued certificates: by status, expiring within, profile, name (admin)", run: listCommand },
  { name: "backup", summary: "copy the certificate database, safe while the service runs", run: backupCommand },
  // Loaded when run: pg is not worth loading for every other command.
  { name: "migrate-db", summary: "copy a SQLite certificate database into PostgreSQL, and check it", run: async (argv, env) => (await import("../migrate-db.js")).migrateDbCommand(argv, env) },
];

/** The commands that call the admin's endpoints: a 13100 there asks for the admin token, not an auth key. */
const adminCommands = new Set(["revoke", "list"]);

/** The lines to print for an error, and the exit code. */
export function describeFailure(command: string, error: unknown): { lines: string[]; code: number } {
  if (error instanceof UsageError) return { lines: [`certwright: ${command}: ${error.message}`], code: exitCodes.usage };
  if (error instanceof ServiceError) {
    const lines = error.lines();
    if (error.errors.some((e) => e.code === 13100)) {
      lines.push(
        adminCommands.has(command)
          ? `certwright: ${command}: the service requires the admin token: give --admin-token-file FILE or set CERTWRIGHT_ADMIN_TOKEN`
          : `certwright: ${command}: the profile takes only authenticated requests: give --auth-key${command === "gencert" ? " and --auth-key-name" : ""}`,
      );
    }
    return { lines, code: exitCodes.failed };
  }
  if (error instanceof ClientError) return { lines: [`certwright: ${command}: ${error.message}`], code: exitCodes.failed };
  // The core's refusals, for the commands that run it here (initca).
  if (error instanceof CertwrightError) return { lines: [`certwright: ${command}: error ${error.code}: ${error.message}`], code: exitCodes.failed };
  return { lines: [`certwright: ${command}: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`], code: exitCodes.failed };
}

/** Runs a client command; errors are printed on stderr, and the exit code returned. */
export async function runClientCommand(command: ClientCommand, argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  try {
    return await command.run(argv, env);
  } catch (error) {
    const { lines, code } = describeFailure(command.name, error);
    for (const line of lines) console.error(line);
    return code;
  }
}
