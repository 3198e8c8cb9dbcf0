// cfssl's authenticated signing, client side: the key as the service's config writes it, the
// CFSSL-HMAC header over a raw body, and authsign's {token, request} envelope.
import { readFileSync } from "node:fs";
import { hmacToken } from "../../authority/authentication.js";
import { UsageError } from "../usage-error.js";

/**
 * Reads `--auth-key`: the key in hex, `env:VAR` (hex in that variable) or `file:PATH` (hex in that
 * file), as the service's `auth_keys` take it; at least 16 bytes. The two indirect forms keep the
 * key out of `ps` and shell history.
 */
export function readAuthKey(value: string, env: NodeJS.ProcessEnv): Buffer {
  let hex = value;
  if (value.startsWith("env:")) {
    const variable = value.slice(4);
    hex = env[variable] ?? "";
    if (hex === "") throw new UsageError(`--auth-key: the variable ${variable} is not set`);
  } else if (value.startsWith("file:")) {
    try {
      hex = readFileSync(value.slice(5), "utf8");
    } catch (error) {
      throw new UsageError(`--auth-key: cannot read ${value.slice(5)}: ${(error as Error).message}`);
    }
  }
  hex = hex.trim();
  if (!/^([0-9a-fA-F]{2})+$/.test(hex) || hex.length < 32) {
    throw new UsageError("--auth-key: not a hex key of at least 16 bytes (give the hex, env:VAR or file:PATH)");
  }
  return Buffer.from(hex, "hex");
}

/** `Authorization: CFSSL-HMAC <key-name>:<base64 HMAC-SHA256 of the body>`, as the service checks on newcert and sign. */
export function hmacAuthorization(keyName: string, key: Buffer, body: Buffer): string {
  return `CFSSL-HMAC ${keyName}:${hmacToken(key, body).toString("base64")}`;
}

/**
 * authsign's body as `cfssl sign -remote` sends it with an auth key: the sign request's JSON bytes
 * in base64, and the base64 HMAC-SHA256 of those bytes. The service finds the key by the
 * request's profile, so no key name is needed.
 */
export function authSignEnvelope(key: Buffer, signRequest: Buffer): object {
  return { timestamp: 0, remote_address: null, token: hmacToken(key, signRequest).toString("base64"), request: signRequest.toString("base64") };
}

/**
 * The admin token for the admin's endpoints (revoke, the inventory): the contents of
 * `--admin-token-file`, else `CERTWRIGHT_ADMIN_TOKEN`, as the service reads its own; undefined
 * when neither is given (a service without authentication needs none).
 */
export function readAdminToken(file: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  let token: string;
  let source: string;
  if (file !== undefined) {
    try {
      token = readFileSync(file, "utf8");
    } catch (error) {
      throw new UsageError(`--admin-token-file: cannot read ${file}: ${(error as Error).message}`);
    }
    source = `--admin-token-file ${file}`;
  } else if (env.CERTWRIGHT_ADMIN_TOKEN) {
    token = env.CERTWRIGHT_ADMIN_TOKEN;
    source = "CERTWRIGHT_ADMIN_TOKEN";
  } else {
    return undefined;
  }
  token = token.trim();
  if (token === "") throw new UsageError(`${source}: the admin token is empty`);
  if (/\s/.test(token)) throw new UsageError(`${source}: the admin token holds whitespace; it goes in an Authorization header as one word`);
  return token;
}

/** `Authorization: Bearer <token>` when there is a token. */
export function adminHeaders(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}
