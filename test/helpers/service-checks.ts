// What the end-to-end tests of a running service ask it, each the way an operator or a TLS client
// would (openssl for CSRs, OCSP and CRLs), so the SQLite and PostgreSQL runs share one wording.
import { spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { mustOpenssl, writeFile } from "./server.js";

export interface Envelope {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: the cfssl envelope's result differs per endpoint.
  body: { success: boolean; result: any; errors: { code: number; message: string }[]; messages: { code: number; message: string }[] };
}

async function answer(response: Response): Promise<Envelope> {
  return { status: response.status, body: (await response.json()) as Envelope["body"] };
}

export async function getJson(url: string): Promise<Envelope> {
  return answer(await fetch(url));
}

export async function postBody(url: string, body: unknown): Promise<Envelope> {
  return answer(await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }));
}

/** openssl ocsp -url talks to the service over the network, so it must not block this event loop. */
export function opensslAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("openssl", args);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

export interface OpensslCa {
  cert: string;
  key: string;
}

/** A CA made by openssl, given to `serve` with --ca/--ca-key, so every backend signs with the same one. */
export function makeOpensslCa(dir: string): OpensslCa {
  const cert = join(dir, "ca.pem");
  const key = join(dir, "ca-key.pem");
  mustOpenssl([
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "3650", "-subj", "/CN=Backends Test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return { cert, key };
}

/** A CSR for `cn` with its name as a SAN, made by openssl; the key is thrown away. */
export function opensslCsr(dir: string, cn: string): string {
  const out = join(dir, `${cn}.csr`);
  mustOpenssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, `${cn}-key.pem`), "-subj", `/CN=${cn}`, "-addext", `subjectAltName=DNS:${cn}`, "-out", out]);
  return mustOpenssl(["req", "-in", out]);
}

/** A certificate of this CA that the service never issued (so never recorded): OCSP must say unknown. */
export function unrecordedCertificate(dir: string, ca: OpensslCa): string {
  const csr = join(dir, "stranger.csr");
  mustOpenssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "stranger-key.pem"), "-subj", "/CN=stranger.internal", "-out", csr]);
  const cert = join(dir, "stranger.pem");
  mustOpenssl(["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-set_serial", "0x7a11ce0fdeadbeef", "-days", "2", "-out", cert]);
  return cert;
}

/** What openssl ocsp -url says of a certificate: good, revoked or unknown (and that the answer verified). */
export async function ocspStatus(serviceUrl: string, ca: OpensslCa, certFile: string): Promise<{ status: string; verified: boolean; text: string }> {
  const result = await opensslAsync(["ocsp", "-issuer", ca.cert, "-cert", certFile, "-url", `${serviceUrl}/ocsp`, "-CAfile", ca.cert]);
  const match = new RegExp(`${certFile.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: (\\w+)`).exec(result.stdout);
  return { status: match?.[1] ?? `no answer (${result.status}): ${result.stderr}`, verified: /Response verify OK/.test(result.stderr), text: result.stdout };
}

/** The serials (upper hex, as openssl prints them) a distribution point's CRL lists, checked against the CA. */
export async function crlSerials(serviceUrl: string, dir: string, ca: OpensslCa): Promise<string[]> {
  const response = await fetch(`${serviceUrl}/crl/default.crl`);
  if (response.status !== 200) throw new Error(`GET /crl/default.crl answered ${response.status}`);
  const file = join(dir, `crl-${Date.now()}-${Math.random().toString(36).slice(2)}.der`);
  writeFileSync(file, Buffer.from(await response.arrayBuffer()));
  const text = mustOpenssl(["crl", "-inform", "der", "-in", file, "-CAfile", ca.cert, "-noout", "-text"]);
  return [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]!);
}

/** A certificate's serial as openssl prints it (upper hex, whole bytes): how a CRL's text lists it. */
export function serialHex(pem: string): string {
  const result = spawnSync("openssl", ["x509", "-noout", "-serial"], { input: pem, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`openssl x509 -serial failed: ${result.stderr}`);
  return result.stdout.trim().replace(/^serial=/, "").toUpperCase();
}

/** Writes a PEM to a file for openssl. */
export function pemFile(dir: string, name: string, pem: string): string {
  return writeFile(dir, name, pem);
}
