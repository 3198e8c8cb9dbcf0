import type { ServeOptions } from "../options.js";
import { StartupError } from "../startup-error.js";
import { readStartupFile } from "./read-file.js";

/** The admin token from --admin-token-file or CERTWRIGHT_ADMIN_TOKEN; a short one is refused. */
export function adminTokenOf(options: Pick<ServeOptions, "adminToken" | "adminTokenFile">): string | undefined {
  const token = options.adminTokenFile ? readStartupFile(options.adminTokenFile, "admin token file").trim() : options.adminToken;
  if (token !== undefined && token.length < 16) {
    throw new StartupError("the admin token is shorter than 16 characters; make a long random one (openssl rand -hex 32)");
  }
  return token;
}
