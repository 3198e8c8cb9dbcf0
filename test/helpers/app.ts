import type { CaChain } from "../../src/pki/chain.js";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { buildApp, type AcmeOptions } from "../../src/api/app.js";
import { SqliteAcmeStore } from "../../src/store/acme-sqlite.js";
import type { Metrics } from "../../src/api/metrics.js";
import { Authority, type CertificateRecorder, type LabelledCa } from "../../src/authority/authority.js";
import { SigningConfigReloader } from "../../src/authority/config-reload.js";
import type { SignerLike } from "../../src/authority/signer.js";
import { operatorServices, sqliteRecords } from "../../src/authority/operator-services.js";
import { ReplayGuard } from "../../src/authority/replay-guard.js";
import type { RateLimit } from "../../src/api/rate-limit.js";
import type { GuardStore } from "../../src/store/guard-store.js";
import { initCa } from "../../src/authority/init-ca.js";
import { loadCertificateAuthority } from "../../src/pki/ca.js";
import type { CertificateAuthority } from "../../src/pki/certificate.js";
import { loadSigningConfig, parseSigningConfig, type SigningConfig } from "../../src/profiles/signing-config.js";
import { SigningConfigs } from "../../src/profiles/signing-configs.js";
import { csrRequestSchema, type CsrRequest } from "../../src/schemas/wire.js";
import { CertificateStore } from "../../src/store/certificate-store.js";
import { GroupCommitRecorder } from "../../src/store/group-commit.js";

export const root = new URL("../../", import.meta.url).pathname;
export const profilesDir = join(root, "profiles");

export function readProfileJson(name: string): CsrRequest {
  return csrRequestSchema.parse(JSON.parse(readFileSync(join(profilesDir, name), "utf8")));
}

export function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "certwright-test-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Makes a CA the way the service does on first start (ECDSA P-256 unless the CSR JSON says otherwise). */
export async function makeCa(request: CsrRequest = readProfileJson("ca-csr.json")): Promise<{
  ca: CertificateAuthority;
  certificate: string;
  private_key: string;
}> {
  const made = await initCa(request, new Date());
  return { ...made, ca: await loadCertificateAuthority(made.certificate, made.private_key) };
}

export interface TestApp {
  app: FastifyInstance;
  authority: Authority;
  store: CertificateStore;
  ca: CertificateAuthority;
  caPem: string;
  dir: string;
}

export interface TestAppOptions {
  /** One config for every CA (parsed, or its document), or each CA's (SigningConfigs). */
  config?: SigningConfig | SigningConfigs | object;
  ca?: CertificateAuthority;
  /** The CA's chain (--ca-bundle); default: the CA alone. */
  chain?: CaChain;
  store?: CertificateRecorder;
  clock?: () => Date;
  bodyLimit?: number;
  adminToken?: string;
  /** Where the app logs (JSON lines, at info); default: no logging. */
  logStream?: { write(line: string): void };
  /** Metrics for the app; with them, certificates are recorded through group commit as `serve` does. */
  metrics?: Metrics;
  /** Replay protection and rate limiting over this guard store (the caller closes it). */
  guard?: { store: GuardStore; replayWindowMs?: number; rateLimit?: RateLimit };
  /** A signing config file: read at start (unless `config` is given) and re-read by POST /api/v1/admin/reload. */
  configPath?: string;
  /** The config files of CAs with their own, by label, re-read with `configPath` by a reload (`config` gives what they start with). */
  ownConfigPaths?: ReadonlyMap<string, string>;
  /** Where signing happens; default: a Signer on this thread. */
  signer?: SignerLike;
  /** CAs served beside `ca` by label, as --ca-config serves them. */
  others?: LabelledCa[];
  /** Serve ACME (the config needs an `acme` section); its records in the same SQLite file unless `store` is given. */
  acme?: Omit<AcmeOptions, "store"> & { store?: AcmeOptions["store"] };
}

/** A real app around a fresh CA and a real SQLite file in a temporary directory. */
export async function testApp(t: { teardown(fn: () => void | Promise<void>): void }, options: TestAppOptions = {}): Promise<TestApp> {
  const dir = tempDir(t);
  const ca = options.ca ?? (await makeCa()).ca;
  const store = CertificateStore.open(join(dir, "certs.db"));
  const config =
    options.config === undefined
      ? loadSigningConfig(options.configPath ?? join(profilesDir, "ca-config.json"))
      : options.config instanceof SigningConfigs || (options.config instanceof Object && "profile" in options.config)
        ? (options.config as SigningConfig | SigningConfigs)
        : parseSigningConfig(options.config);
  const metrics = options.metrics;
  const recorder = metrics ? new GroupCommitRecorder(store, { onCommit: (ms, rows) => metrics.databaseCommitted(ms, rows) }) : undefined;
  const authority = new Authority({
    ca,
    chain: options.chain,
    config,
    store: options.store ?? (recorder ? { insert: (record) => recorder.insert(record), get: (serial, aki) => store.get(serial, aki) } : store),
    clock: options.clock,
    onIssued: metrics && ((record) => metrics.certificateIssued(record)),
    replayGuard: options.guard?.replayWindowMs ? new ReplayGuard(options.guard.store, options.guard.replayWindowMs, options.clock) : undefined,
    signer: options.signer,
    others: options.others,
  });
  const clock = options.clock ?? (() => new Date());
  const acmeStore = options.acme && !options.acme.store ? SqliteAcmeStore.open(join(dir, "certs.db")) : undefined;
  const app = await buildApp({
    authority,
    ...operatorServices(ca, sqliteRecords(store.db), clock, undefined, {}, { others: options.others?.map((other) => other.ca) ?? [] }),
    bodyLimit: options.bodyLimit,
    adminToken: options.adminToken,
    ...(options.logStream ? { logger: { level: "info", stream: options.logStream } } : {}),
    metrics,
    rateLimit: options.guard?.rateLimit ? { limit: options.guard.rateLimit, store: options.guard.store } : undefined,
    reloader: options.configPath ? new SigningConfigReloader(authority, options.configPath, options.ownConfigPaths) : undefined,
    acme: options.acme && { clock: options.clock, ...options.acme, store: options.acme.store ?? acmeStore! },
  });
  t.teardown(async () => {
    await app.close();
    acmeStore?.close();
    store.close();
  });
  return { app, authority, store, ca, caPem: ca.pem, dir };
}

export interface ApiAnswer {
  status: number;
  body: {
    success: boolean;
    // Tests read the fields of whichever endpoint they call, and a wrong read fails the assertion
    // that makes it; typing each of the ~200 reads by endpoint would add casts, not checks.
    // biome-ignore lint/suspicious/noExplicitAny: see above.
    result: any;
    errors: { code: number; message: string }[];
    messages: { code: number; message: string }[];
  };
}

/** POSTs a JSON body the way `curl -d` does (form content type) unless told otherwise. */
export async function post(app: FastifyInstance, path: string, body: unknown, contentType = "application/x-www-form-urlencoded"): Promise<ApiAnswer> {
  const response = await app.inject({
    method: "POST",
    url: `/api/v1/cfssl/${path}`,
    headers: { "content-type": contentType },
    payload: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.statusCode, body: response.json() };
}

/** Runs the openssl command line, the independent verifier. */
export function openssl(args: string[], input?: string) {
  const result = spawnSync("openssl", args, { input, encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export function writeFile(dir: string, name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}
