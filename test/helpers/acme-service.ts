// The real service for the tests with real ACME clients: `certwright serve` over HTTPS (its own
// serving certificate from its CA, --tls-hosts), an acme provisioner, and its challenge validators
// pointed at the test's DNS server and the clients' loopback responders. What the tests then ask
// it (inventory, CRL, OCSP) goes over HTTPS too, trusting only the CA.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { randomBytes, X509Certificate } from "node:crypto";
import type { Test } from "tap";
import type { ClientRun } from "./acme-clients.js";
import { childEnv, freePort, mainJs, mustOpenssl, tempDir, writeFile } from "./server.js";

type Teardown = { teardown(fn: () => unknown): void };

export interface AcmeService {
  /** https://127.0.0.1:PORT */
  url: string;
  /** The directory of the "default" provisioner. */
  directoryUrl: string;
  /** With `eab`: the directory of provisioner "bound", which needs an external account binding, and its key. */
  eab?: { directoryUrl: string; kid: string; hmac: string };
  /** The CA's certificate (PEM file): what the clients trust and what issued their certificates. */
  caFile: string;
  caPem: string;
  /** A temporary directory of the test's own. */
  dir: string;
  stdout(): string;
  stderr(): string;
  /** Every request the service has logged as completed, its resource ids replaced by ID, and its errors logged. */
  log(): { answers: string[]; errors: string[] };
  /** A request to the service, trusting only the CA. */
  fetch(path: string, init?: { method?: string; contentType?: string; body?: Buffer | string }): Promise<{ status: number; body: Buffer }>;
  /** The inventory's record of a certificate (hex serial). */
  inventory(serialHex: string): Promise<{ status: number; record: Record<string, unknown> | undefined }>;
  /** The serials (decimal) the default CRL lists, the CRL checked against the CA by openssl. */
  crlSerials(): Promise<string[]>;
  /** What the service's OCSP responder says of `certFile` (good, revoked, unknown), read and verified by openssl. */
  ocspStatus(certFile: string): Promise<string>;
}

export interface AcmeServiceOptions {
  /** --acme-http-port: where the client's standalone http-01 server listens. */
  httpPort?: number;
  /** --acme-tls-port: where lego's tls-alpn-01 server listens. */
  tlsPort?: number;
  /** --acme-dns-resolver, HOST:PORT: the test DNS server. */
  dnsResolver: string;
  /**
   * Add provisioner "bound", whose accounts need an external account binding with auth key
   * "acme-eab". An auth key closes the inventory to all but the admin, so the service gets an
   * admin token too, which this helper's requests carry.
   */
  eab?: boolean;
  /** Default 60 s: serve makes its CA and serving certificate first. */
  timeoutMs?: number;
}

const signing = {
  default: { usages: ["digital signature", "key encipherment", "server auth"], expiry: "720h" },
  profiles: { server: { usages: ["digital signature", "key encipherment", "server auth"], expiry: "2160h" } },
};

/** Starts `serve` over HTTPS with provisioner "default" (profile server, all three challenge types), and "bound" with `eab`; killed in teardown. */
export async function startAcmeService(t: Teardown, options: AcmeServiceOptions): Promise<AcmeService> {
  const dir = tempDir(t, "certwright-acme-clients-");
  const dataDir = join(dir, "data");
  const config = join(dir, "ca-config.json");
  const acme: Record<string, unknown> = { default: { profile: "server", challenges: ["http-01", "dns-01", "tls-alpn-01"] } };
  const eabKey = randomBytes(32);
  const adminToken = randomBytes(24).toString("hex");
  if (options.eab) acme.bound = { profile: "server", challenges: ["http-01"], external_account_binding: true, eab_keys: ["acme-eab"] };
  const authKeys = options.eab ? { auth_keys: { "acme-eab": { type: "standard", key: eabKey.toString("hex") } } } : {};
  writeFileSync(config, JSON.stringify({ ...authKeys, signing, acme }));
  const port = await freePort();
  const args = [mainJs, "serve", "--port", String(port), "--data-dir", dataDir, "--config", config, "--workers", "1", "--tls-hosts", "127.0.0.1,localhost"];
  if (options.eab) args.push("--admin-token-file", writeFile(dir, "admin-token", adminToken));
  args.push("--acme-dns-resolver", options.dnsResolver);
  if (options.httpPort !== undefined) args.push("--acme-http-port", String(options.httpPort));
  if (options.tlsPort !== undefined) args.push("--acme-tls-port", String(options.tlsPort));
  const child = spawn(process.execPath, args, { cwd: dir, env: childEnv(), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  let exited = false;
  child.once("exit", () => (exited = true));
  t.teardown(() => {
    if (!exited) child.kill("SIGKILL");
  });

  const url = `https://127.0.0.1:${port}`;
  const caFile = join(dataDir, "ca.pem");
  let caPem = "";
  const fetchTls = (path: string, init: { method?: string; contentType?: string; body?: Buffer | string } = {}) =>
    new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      const headers: Record<string, string> = init.contentType ? { "content-type": init.contentType } : {};
      if (options.eab) headers.authorization = `Bearer ${adminToken}`;
      const req = request(`${url}${path}`, { method: init.method ?? "GET", ca: caPem, headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
        response.on("error", reject);
      });
      req.on("error", reject);
      req.end(init.body);
    });

  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    if (exited) throw new Error(`certwright exited before answering:\n${err}\n${out}`);
    if (Date.now() > deadline) throw new Error(`certwright did not answer on ${url} in time:\n${err}\n${out}`);
    if (existsSync(caFile)) {
      try {
        caPem = readFileSync(caFile, "utf8");
        new X509Certificate(caPem);
        const health = await fetchTls("/api/v1/cfssl/health");
        if (health.status === 200 && (JSON.parse(health.body.toString()) as { result?: { healthy?: boolean } }).result?.healthy) break;
      } catch {
        // not written whole, or not listening yet
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  let files = 0;
  const scratch = (name: string) => join(dir, `${files++}-${name}`);
  return {
    url,
    directoryUrl: `${url}/acme/default/directory`,
    ...(options.eab ? { eab: { directoryUrl: `${url}/acme/bound/directory`, kid: "acme-eab", hmac: eabKey.toString("base64url") } } : {}),
    caFile,
    caPem,
    dir,
    stdout: () => out,
    stderr: () => err,
    log() {
      const answers: string[] = [];
      const errors: string[] = [];
      // The last piece may be a line still on its way.
      for (const line of out.split("\n").slice(0, -1)) {
        if (!line.startsWith("{")) continue;
        const entry = JSON.parse(line) as { level: number; msg: string; method?: string; url?: string; statusCode?: number };
        if (entry.level >= 50) errors.push(entry.msg);
        if (entry.statusCode !== undefined) answers.push(`${entry.statusCode} ${entry.method} ${entry.url?.replace(/\/(account|order|authz|chall|cert)\/[A-Za-z0-9_-]+/, "/$1/ID")}`);
      }
      return { answers, errors };
    },
    fetch: fetchTls,
    async inventory(serialHex) {
      const answer = await fetchTls(`/api/v1/certificates/${serialHex}`);
      const body = JSON.parse(answer.body.toString()) as { result?: Record<string, unknown> };
      return { status: answer.status, record: body.result };
    },
    async crlSerials() {
      const answer = await fetchTls("/crl/default.crl");
      if (answer.status !== 200) throw new Error(`GET /crl/default.crl answered ${answer.status}`);
      const file = scratch("crl.der");
      writeFileSync(file, answer.body);
      const text = mustOpenssl(["crl", "-inform", "der", "-in", file, "-CAfile", caFile, "-noout", "-text"]);
      return [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => BigInt(`0x${m[1]!}`).toString());
    },
    async ocspStatus(certFile) {
      const requestFile = scratch("ocsp-req.der");
      mustOpenssl(["ocsp", "-issuer", caFile, "-cert", certFile, "-no_nonce", "-reqout", requestFile]);
      const answer = await fetchTls("/ocsp", { method: "POST", contentType: "application/ocsp-request", body: readFileSync(requestFile) });
      const responseFile = scratch("ocsp-resp.der");
      writeFileSync(responseFile, answer.body);
      const text = mustOpenssl(["ocsp", "-respin", responseFile, "-issuer", caFile, "-cert", certFile, "-CAfile", caFile]);
      return new RegExp(`${certFile.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: (\\w+)`).exec(text)?.[1] ?? `unreadable: ${text}`;
    },
  };
}

/** The PEM certificates in `text`, in order. */
export const pemBlocks = (text: string) => text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];

/** A certificate's serial as the inventory and the CRL's text give it, decimal. */
export const decimalSerialOf = (certificate: X509Certificate) => BigInt(`0x${certificate.serialNumber}`).toString();

/** The client ran to success; its command line and output are shown only when it did not. */
export function succeeded(t: Test, run: ClientRun, what: string) {
  t.equal(run.status, 0, `${what} exits 0`);
  if (run.status !== 0) t.comment(`${run.command}\n${run.stdout}\n${run.stderr}`);
}
