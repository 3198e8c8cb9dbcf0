// A small ACME client for tests: hand-made flattened JWS (jose), so a test can send every header
// right, or exactly one thing wrong. It talks to the app through inject unless given a base URL.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { base64url, calculateJwkThumbprint, exportJWK, FlattenedSign, generateKeyPair, type CryptoKey, type FlattenedJWS, type JWK } from "jose";
import type { AcmeIdentifier, ChallengeValidator, ValidationResult } from "../../src/acme/validation/types.js";
import { buildCsr } from "../../src/pki/csr.js";
import { generatePrivateKey, type KeySpec, type PrivateKey } from "../../src/pki/keys.js";
import { encodeName } from "../../src/pki/name.js";
import { commonNameOid } from "../../src/pki/subject.js";
import { Tag } from "../../src/pki/der.js";

export type AccountAlg = "ES256" | "ES384" | "RS256" | "EdDSA";

export interface AcmeKey {
  alg: AccountAlg;
  privateKey: CryptoKey;
  jwk: JWK;
}

export async function accountKey(alg: AccountAlg = "ES256", options: { modulusLength?: number } = {}): Promise<AcmeKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === "EdDSA" ? { crv: "Ed25519" } : {}), ...options });
  return { alg, privateKey, jwk: await exportJWK(publicKey) };
}

export interface AcmeResponse {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  // Tests read the resource fields they check; a wrong read fails the assertion that makes it.
  // biome-ignore lint/suspicious/noExplicitAny: see above.
  body: any;
  text: string;
}

export interface JwsOptions {
  /** Sign with the account URL as kid (default once the account exists), or the jwk itself. */
  use?: "kid" | "jwk" | "both" | "neither";
  nonce?: string | null;
  url?: string;
  key?: AcmeKey;
  kid?: string;
  /** Header fields to add or override. */
  header?: Record<string, unknown>;
}

/** Signs a flattened JWS over `payload` ("" for POST-as-GET) with the header given. */
export async function signJws(key: AcmeKey, header: Record<string, unknown>, payload: unknown): Promise<FlattenedJWS> {
  const bytes = payload === "" ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(payload));
  return new FlattenedSign(bytes).setProtectedHeader({ alg: key.alg, ...header } as { alg: string }).sign(key.privateKey);
}

export class AcmeTestClient {
  directory: Record<string, string> = {};
  account: string | undefined;
  private lastNonce: string | undefined;

  constructor(
    readonly app: FastifyInstance,
    public key: AcmeKey,
    readonly provisioner = "default",
  ) {}

  static async create(app: FastifyInstance, alg: AccountAlg = "ES256", provisioner = "default"): Promise<AcmeTestClient> {
    const client = new AcmeTestClient(app, await accountKey(alg), provisioner);
    const answer = await client.get(`/acme/${provisioner}/directory`);
    client.directory = answer.body;
    return client;
  }

  async thumbprint(): Promise<string> {
    return calculateJwkThumbprint(this.key.jwk, "sha256");
  }

  private async answer(response: Awaited<ReturnType<FastifyInstance["inject"]>>): Promise<AcmeResponse> {
    const nonce = response.headers["replay-nonce"];
    if (typeof nonce === "string") this.lastNonce = nonce;
    let body: unknown;
    try {
      body = response.body === "" ? undefined : JSON.parse(response.body);
    } catch {
      body = undefined;
    }
    return { status: response.statusCode, headers: response.headers, body, text: response.body };
  }

  async get(path: string): Promise<AcmeResponse> {
    return this.answer(await this.app.inject({ method: "GET", url: path }));
  }

  async nonce(): Promise<string> {
    const response = await this.app.inject({ method: "HEAD", url: new URL(this.directory.newNonce!).pathname });
    return response.headers["replay-nonce"] as string;
  }

  /** A JWS for `url` as this client would send it, `options` changing what a test wants wrong. */
  async jws(url: string, payload: unknown, options: JwsOptions = {}): Promise<FlattenedJWS> {
    const key = options.key ?? this.key;
    const use = options.use ?? (this.account ? "kid" : "jwk");
    const nonce = options.nonce === undefined ? (this.lastNonce ?? (await this.nonce())) : options.nonce;
    this.lastNonce = undefined;
    const header: Record<string, unknown> = { url: options.url ?? url };
    if (nonce !== null) header.nonce = nonce;
    if (use === "kid" || use === "both") header.kid = options.kid ?? this.account;
    if (use === "jwk" || use === "both") header.jwk = key.jwk;
    return signJws(key, { ...header, ...options.header }, payload);
  }

  /** POSTs a body as application/jose+json (or `contentType`) to a full URL of the directory's. */
  async postRaw(url: string, body: unknown, contentType = "application/jose+json"): Promise<AcmeResponse> {
    const { pathname } = new URL(url);
    return this.answer(await this.app.inject({ method: "POST", url: pathname, headers: { "content-type": contentType }, payload: JSON.stringify(body) }));
  }

  async post(url: string, payload: unknown, options: JwsOptions = {}): Promise<AcmeResponse> {
    return this.postRaw(url, await this.jws(url, payload, options));
  }

  async newAccount(payload: Record<string, unknown> = { termsOfServiceAgreed: true, contact: ["mailto:ops@example.test"] }): Promise<AcmeResponse> {
    const answer = await this.post(this.directory.newAccount!, payload, { use: "jwk" });
    if (answer.status === 201 || answer.status === 200) this.account = answer.headers.location as string;
    return answer;
  }

  async newOrder(identifiers: AcmeIdentifier[]): Promise<AcmeResponse> {
    return this.post(this.directory.newOrder!, { identifiers });
  }

  /** Polls `url` (POST-as-GET) until `done` says so; fails after `tries`. */
  async poll(url: string, done: (body: AcmeResponse["body"]) => boolean, tries = 100): Promise<AcmeResponse> {
    for (let i = 0; i < tries; i++) {
      const answer = await this.post(url, "");
      if (done(answer.body)) return answer;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`${url} did not reach the state wanted`);
  }
}

/** A key and a CSR for these names (SANs, and the first as CN unless `cn` says otherwise). */
export async function csrFor(
  names: { dns?: string[]; ip?: string[] },
  options: { cn?: string | null; spec?: KeySpec; extraSubject?: { oid: string; value: string }[] } = {},
): Promise<{ der: Uint8Array; key: PrivateKey; b64: string }> {
  const key = await generatePrivateKey(options.spec ?? { algo: "ecdsa", size: 256 });
  const cn = options.cn === undefined ? (names.dns?.[0] ?? names.ip?.[0]) : options.cn;
  const rdns = [
    ...(options.extraSubject ?? []).map((a) => [{ oid: a.oid, tag: Tag.utf8String, value: a.value }]),
    ...(cn ? [[{ oid: commonNameOid, tag: Tag.utf8String, value: cn }]] : []),
  ];
  const { der } = buildCsr(encodeName(rdns), { dns: names.dns ?? [], ip: names.ip ?? [], email: [], uri: [] }, key);
  return { der, key, b64: base64url.encode(der) };
}

/**
 * A real http-01 responder on a loopback port: serves each token's key authorization at
 * /.well-known/acme-challenge/<token>, as certbot's standalone mode does.
 */
export async function http01Responder(t: { teardown(fn: () => unknown): void }): Promise<{ port: number; tokens: Map<string, string>; requests: string[] }> {
  const tokens = new Map<string, string>();
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(request.url ?? "");
    const match = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(request.url ?? "");
    const body = match && tokens.get(match[1]!);
    if (!body) {
      response.writeHead(404).end("no such token");
      return;
    }
    response.writeHead(200, { "content-type": "application/octet-stream" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return { port: (server.address() as AddressInfo).port, tokens, requests };
}

/**
 * A minimal http-01-only validator for tests until the real ones (src/acme/validation/) are wired:
 * it fetches the token from the loopback responder whatever the name, and compares the body.
 */
export function loopbackHttp01Validator(port: number): ChallengeValidator & { calls: number } {
  const validator = {
    calls: 0,
    async validate(type: string, identifier: AcmeIdentifier, token: string, keyAuthorization: string): Promise<ValidationResult> {
      validator.calls++;
      if (type !== "http-01") return { ok: false, problem: { type: "serverInternal", detail: `the test validator does ${type} not` } };
      let response: Response;
      try {
        response = await fetch(`http://127.0.0.1:${port}/.well-known/acme-challenge/${token}`, { redirect: "manual", signal: AbortSignal.timeout(2000) });
      } catch (error) {
        return { ok: false, problem: { type: "connection", detail: `${identifier.value}: ${(error as Error).message}` } };
      }
      const body = (await response.text()).trim();
      if (response.status !== 200) return { ok: false, problem: { type: "unauthorized", detail: `${identifier.value}: HTTP ${response.status} for the token` } };
      if (body !== keyAuthorization) return { ok: false, problem: { type: "incorrectResponse", detail: `${identifier.value}: the key authorization served is not this account's` } };
      return { ok: true };
    },
  };
  return validator;
}
