import { readFileSync } from "node:fs";
import { StartupError } from "../startup-error.js";

/** A file the start needs, or one line saying which and why not. */
export function readStartupFile(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new StartupError(`${what} ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}
