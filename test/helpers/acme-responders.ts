// The other side of an ACME challenge, for the validation tests: an http-01 responder, a
// tls-alpn-01 responder with a certificate made to order (right, or wrong in one chosen way), a
// server that accepts connections and never answers, and a port nothing listens on.
import { createHash, webcrypto } from "node:crypto";
import { once } from "node:events";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createNetServer, type Socket } from "node:net";
import { createSecureContext, createServer as createTlsServer } from "node:tls";
import { octetString } from "../../src/pki/der.js";
import { x509 } from "../../src/pki/webcrypto.js";
import { acmeIdentifierOid } from "../../src/acme/validation/tls-alpn-01.js";
import type { AcmeIdentifier } from "../../src/acme/validation/types.js";

type Teardown = { teardown(fn: () => unknown): void };

/** What the http-01 responder answers at one path. */
export type HttpAnswer = { status?: number; body?: string | Buffer; headers?: Record<string, string>; delayMs?: number } | ((request: IncomingMessage, response: ServerResponse) => void);

export interface Http01Responder {
  port: number;
  /** Answers by path (`/.well-known/acme-challenge/TOKEN`); any other path is a 404. */
  paths: Map<string, HttpAnswer>;
  /** `Host header path` of each request, in order. */
  requests: string[];
  /** The most requests the responder had in flight at once. */
  maxInFlight: number;
}

export const challengePath = (token: string) => `/.well-known/acme-challenge/${token}`;

/** An HTTP server on `host` (127.0.0.1 unless said), a random port. */
export async function startHttp01Responder(t: Teardown, paths: Record<string, HttpAnswer> = {}, host = "127.0.0.1"): Promise<Http01Responder> {
  let inFlight = 0;
  const responder: Http01Responder = { port: 0, paths: new Map(Object.entries(paths)), requests: [], maxInFlight: 0 };
  const server = createHttpServer((request, response) => {
    responder.requests.push(`${request.headers.host} ${request.url}`);
    inFlight++;
    responder.maxInFlight = Math.max(responder.maxInFlight, inFlight);
    response.on("close", () => inFlight--);
    const answer = responder.paths.get(request.url ?? "") ?? { status: 404, body: "not found" };
    if (typeof answer === "function") {
      answer(request, response);
      return;
    }
    setTimeout(() => {
      response.writeHead(answer.status ?? 200, { "content-type": "text/plain", ...answer.headers });
      response.end(answer.body ?? "");
    }, answer.delayMs ?? 0);
  });
  server.listen(0, host);
  await once(server, "listening");
  responder.port = (server.address() as { port: number }).port;
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return responder;
}

/** A TCP server that accepts connections and says nothing: the validator's timeouts meet it. */
export async function startSilentServer(t: Teardown, host = "127.0.0.1"): Promise<{ port: number; connections: () => number }> {
  const sockets = new Set<Socket>();
  let count = 0;
  const server = createNetServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  server.listen(0, host);
  await once(server, "listening");
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { port: (server.address() as { port: number }).port, connections: () => count };
}

/** A port of 127.0.0.1 that nothing listens on (one just closed), so a connection is refused. */
export async function refusedPort(): Promise<number> {
  const server = createNetServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** How a tls-alpn-01 certificate departs from RFC 8737, for the negative tests. */
export interface TlsAlpnVariant {
  /** SANs instead of the identifier alone. */
  sans?: { dns?: string[]; ip?: string[] };
  /** The acmeIdentifier extension's digest instead of SHA-256(key authorization). */
  digest?: Uint8Array;
  /** Default true, as RFC 8737 requires. */
  critical?: boolean;
  /** Leave the acmeIdentifier extension out. */
  noExtension?: boolean;
}

function pem(label: string, der: ArrayBuffer | Uint8Array): string {
  const base64 = Buffer.from(der as ArrayBuffer).toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${base64}\n-----END ${label}-----\n`;
}

/** A self-signed ECDSA P-256 certificate for tls-alpn-01 (RFC 8737 §3), and its key, in PEM. */
export async function tlsAlpnCertificate(identifier: AcmeIdentifier, keyAuthorization: string, variant: TlsAlpnVariant = {}): Promise<{ cert: string; key: string }> {
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as CryptoKeyPair;
  const sans = variant.sans ?? (identifier.type === "ip" ? { ip: [identifier.value] } : { dns: [identifier.value] });
  const names = [...(sans.dns ?? []).map((value) => ({ type: "dns" as const, value })), ...(sans.ip ?? []).map((value) => ({ type: "ip" as const, value }))];
  const digest = variant.digest ?? createHash("sha256").update(keyAuthorization).digest();
  const extensions: x509.Extension[] = [new x509.SubjectAlternativeNameExtension(names)];
  if (!variant.noExtension) extensions.push(new x509.Extension(acmeIdentifierOid, variant.critical ?? true, Buffer.from(octetString(digest))));
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=ACME tls-alpn-01 test",
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    keys,
    signingAlgorithm: algorithm,
    extensions,
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey as unknown as webcrypto.CryptoKey);
  return { cert: `${certificate.toString("pem")}\n`, key: pem("PRIVATE KEY", pkcs8) };
}

export interface TlsAlpnResponder {
  port: number;
  /** The SNI name of each handshake that sent one, in order. */
  serverNames: string[];
}

/**
 * A TLS server presenting `credentials` and negotiating `protocols` (default ["acme-tls/1"]; an
 * empty list turns ALPN off, so the server negotiates nothing).
 */
export async function startTlsAlpnResponder(
  t: Teardown,
  credentials: { cert: string; key: string },
  protocols: string[] = ["acme-tls/1"],
  host = "127.0.0.1",
): Promise<TlsAlpnResponder> {
  const responder: TlsAlpnResponder = { port: 0, serverNames: [] };
  const context = createSecureContext(credentials);
  const server = createTlsServer({
    ...credentials,
    ...(protocols.length > 0 ? { ALPNProtocols: protocols } : {}),
    SNICallback: (name, callback) => {
      responder.serverNames.push(name);
      callback(null, context);
    },
  });
  server.on("secureConnection", (socket) => socket.end());
  server.on("tlsClientError", () => {});
  server.listen(0, host);
  await once(server, "listening");
  responder.port = (server.address() as { port: number }).port;
  t.teardown(() => server.close());
  return responder;
}
