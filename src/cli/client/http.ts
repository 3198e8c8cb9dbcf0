// Talking to the service: cfssl's `-remote` forms, POSTs of JSON (and GETs of the inventory) with
// an optional CA to verify an https:// service, and the envelope turned into a result or a
// ServiceError. node:http(s) rather than fetch, because fetch (undici) takes no per-request CA
// without an extra dependency.
import { readFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { UsageError } from "../usage-error.js";
import { ClientError, ServiceError, type ServiceMessage } from "./errors.js";

export interface Remote {
  /** The service's base URL, without the API prefix. */
  base: URL;
  /** PEM trust anchors for an https:// service; undefined uses Node's (the system's) CAs. */
  ca: string | undefined;
  timeoutMs: number;
}

const apiPrefix = "/api/v1/cfssl";
/** Long enough for an RSA-4096 key made by newcert on a busy service; short enough that a hung connection ends a cron run. */
const defaultTimeoutMs = 120_000;
const maxAnswerBytes = 16 * 1024 * 1024;

/**
 * Reads `--remote` (`http://host:port`, `https://host:port/prefix`, or cfssl's `host:port`,
 * which means http) and `--ca-file`.
 */
export function parseRemote(remote: string | undefined, caFile: string | undefined): Remote {
  if (remote === undefined || remote === "") throw new UsageError("--remote URL is required: the service, e.g. --remote http://127.0.0.1:8888");
  let base: URL;
  try {
    base = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(remote) ? remote : `http://${remote}`);
  } catch {
    throw new UsageError(`--remote: "${remote}" is not a URL like http://127.0.0.1:8888 or https://ca.internal:8888`);
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") throw new UsageError(`--remote: "${remote}" must be http:// or https://`);
  base.pathname = base.pathname.replace(/\/+$/, "").replace(new RegExp(`${apiPrefix}$`), "");
  base.search = "";
  base.hash = "";
  let ca: string | undefined;
  if (caFile !== undefined) {
    if (base.protocol !== "https:") throw new UsageError(`--ca-file verifies an https:// service, but --remote is ${base.origin}`);
    try {
      ca = readFileSync(caFile, "utf8");
    } catch (error) {
      throw new ClientError(`--ca-file: cannot read ${caFile}: ${(error as Error).message}`);
    }
    if (!ca.includes("-----BEGIN CERTIFICATE-----")) throw new ClientError(`--ca-file: ${caFile} holds no PEM certificate`);
  }
  return { base, ca, timeoutMs: defaultTimeoutMs };
}

export interface Answer<T> {
  result: T;
  /** The envelope's `messages`: notes such as a lifetime cut at the CA's end. */
  messages: ServiceMessage[];
}

/** What a connection failure means, and what to do about it. */
function connectionProblem(remote: Remote, error: NodeJS.ErrnoException): string {
  const origin = remote.base.origin;
  const code = error.code ?? "";
  if (code === "CERTWRIGHT_TIMEOUT") return `${origin} did not answer within ${remote.timeoutMs / 1000} s; is the service overloaded or stuck? (try again)`;
  if (code === "ECONNREFUSED") return `cannot connect to ${origin}: connection refused; is the service running there? (check --remote)`;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `cannot resolve the host of ${origin} (${code}); check --remote`;
  if (code === "ETIMEDOUT" || code === "EHOSTUNREACH" || code === "ENETUNREACH") return `cannot reach ${origin} (${code}); check --remote and the network`;
  if (/CERT|SELF_SIGNED|UNABLE_TO|ALTNAME|ISSUER|SIGNATURE_FAILURE/.test(code)) {
    return `cannot verify the TLS certificate of ${origin}: ${error.message}; give the CA that issued it with --ca-file`;
  }
  if (remote.base.protocol === "https:" && /EPROTO|ERR_SSL/.test(code + error.message)) {
    const reason = /SSL routines:[^:]*:([^:]+)/.exec(error.message)?.[1] ?? error.message.trim();
    return `TLS with ${origin} failed (${reason}); does the service serve HTTPS there? (try http://)`;
  }
  if (remote.base.protocol === "http:" && (code === "ECONNRESET" || code.startsWith("HPE_"))) {
    return `${origin} cut the connection or answered something that is not HTTP (${code}); if the service serves HTTPS, use an https:// URL`;
  }
  return `cannot reach ${origin}: ${error.message}`;
}

function readAnswer(response: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxAnswerBytes) response.destroy(new Error(`the answer is larger than ${maxAnswerBytes} bytes`));
      else chunks.push(chunk);
    });
    response.on("end", () => resolve(Buffer.concat(chunks)));
    response.on("error", reject);
  });
}

/**
 * POSTs `body` (JSON bytes, sent as they are so that an HMAC over them holds) to
 * `/api/v1/cfssl/<endpoint>` and returns the envelope's result. A `success: false` answer throws
 * a ServiceError with the service's codes; a connection failure or an answer that is not cfssl's
 * envelope throws a ClientError saying what to check.
 */
export async function callService<T>(remote: Remote, endpoint: string, body: Buffer, headers: Record<string, string> = {}): Promise<Answer<T>> {
  return exchange<T>(remote, { method: "POST", path: `${apiPrefix}/${endpoint}`, name: endpoint, body, headers });
}

/**
 * GETs `path` (`/api/v1/certificates`) with `query`, and returns the envelope's result, failing as
 * callService does; `name` names the endpoint in errors.
 */
export async function getService<T>(remote: Remote, path: string, name: string, query: URLSearchParams, headers: Record<string, string> = {}): Promise<Answer<T>> {
  return exchange<T>(remote, { method: "GET", path, name, query, headers });
}

interface Exchange {
  method: "GET" | "POST";
  /** From the API root: `/api/v1/cfssl/sign`. */
  path: string;
  name: string;
  body?: Buffer;
  query?: URLSearchParams;
  headers: Record<string, string>;
}

async function exchange<T>(remote: Remote, call: Exchange): Promise<Answer<T>> {
  const { name: endpoint, body } = call;
  const url = new URL(remote.base.href);
  url.pathname = `${remote.base.pathname.replace(/\/+$/, "")}${call.path}`;
  if (call.query) url.search = call.query.toString();
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  const { status, bytes } = await new Promise<{ status: number; bytes: Buffer }>((resolve, reject) => {
    const request = send(
      url,
      {
        method: call.method,
        headers: {
          ...(body ? { "content-type": "application/json", "content-length": String(body.length) } : {}),
          accept: "application/json",
          ...call.headers,
        },
        ...(remote.ca !== undefined ? { ca: remote.ca } : {}),
        timeout: remote.timeoutMs,
      },
      (response) => {
        readAnswer(response).then(
          (bytes) => resolve({ status: response.statusCode ?? 0, bytes }),
          (error: Error) => reject(new ClientError(`reading the answer of ${url.origin} failed: ${error.message}`)),
        );
      },
    );
    request.on("timeout", () => request.destroy(Object.assign(new Error("timed out"), { code: "CERTWRIGHT_TIMEOUT" })));
    request.on("error", (error: NodeJS.ErrnoException) => reject(new ClientError(connectionProblem(remote, error))));
    request.end(body);
  });
  let envelope: { success?: unknown; result?: unknown; errors?: unknown; messages?: unknown };
  try {
    envelope = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new ClientError(`${url.origin} answered ${endpoint} with HTTP ${status} and no JSON; is --remote the certwright (or cfssl) service?`);
  }
  if (typeof envelope !== "object" || envelope === null || typeof envelope.success !== "boolean") {
    throw new ClientError(`${url.origin} answered ${endpoint} with HTTP ${status} but not cfssl's envelope; is --remote the certwright (or cfssl) service?`);
  }
  if (!envelope.success) throw new ServiceError(endpoint, serviceMessages(envelope.errors), status);
  return { result: envelope.result as T, messages: serviceMessages(envelope.messages) };
}

/** The envelope's `errors` or `messages`, tolerating cfssl's odd shapes (null, missing codes). */
export function serviceMessages(value: unknown): ServiceMessage[] {
  if (!Array.isArray(value)) return [];
  return value.map((entry) => ({
    code: typeof entry?.code === "number" ? entry.code : 0,
    message: typeof entry?.message === "string" ? entry.message : JSON.stringify(entry),
  }));
}

/** JSON bytes of `value`, the exact bytes sent (and signed). */
export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), "utf8");
}
