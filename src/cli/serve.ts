// The composition root of `certwright serve`: builds the parts from their factories in order and
// takes them down in the reverse order. Each factory lives in ./serve/ and has one job.
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import type { Server } from "node:https";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { buildApp } from "../api/app.js";
import { Metrics } from "../api/metrics.js";
import { authenticationWarnings } from "../authority/authentication.js";
import { SigningConfigReloader } from "../authority/config-reload.js";
import { operatorServices } from "../authority/operator-services.js";
import { parseSigningConfigAt, readSigningConfigDocument } from "../profiles/signing-config.js";
import { readSigningConfigs, SigningConfigs, type SigningConfigDocuments } from "../profiles/signing-configs.js";
import { lockDataDir, prepareDataDir, removeTemporaries } from "./data-dir.js";
import { packageRoot, type ServeOptions } from "./options.js";
import { acmeValidationTimeoutMs, createChallengeValidator } from "./serve/acme.js";
import { adminTokenOf } from "./serve/admin-token.js";
import { openCa, openCaChain, openResponder } from "./serve/ca-files.js";
import { openCaConfig, type ServedCa } from "./serve/ca-config.js";
import { checkListenable, listenFailure } from "./serve/listen.js";
import { openLogStream } from "./serve/log-stream.js";
import { ServiceLog } from "./serve/service-log.js";
import { ShutdownStack } from "./serve/shutdown-stack.js";
import { startSigning } from "./serve/signing.js";
import { openStorage } from "./serve/storage.js";
import { issueServingTls, readTlsFiles } from "./serve/tls.js";
import { StartupError } from "./startup-error.js";
import { lowerWorkPoolPriority } from "../threads/priority.js";

export { StartupError };

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string }).version;
}

/**
 * On SIGTERM, how long requests in flight get to finish before their connections are cut: a client
 * that stalls mid-request would otherwise hold the exit for Node's request timeout (5 minutes).
 */
const shutdownGraceMs = 5_000;

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  /**
   * Settles once the threads are up (they load while the service listens: requests that need one
   * wait for it); rejects if one cannot start, and then the service must stop.
   */
  ready: Promise<void>;
  /** Re-reads the --config file and the CAs' own (SIGHUP); if one does not validate, logs why and keeps the old ones. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

/** Starts the service: data directory, signing config, CA, database, threads, then the listener. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  // Before anything uses libuv's thread pool: it makes the RSA keys (KeyPool), which must take only
  // the CPU that signing and HTTP leave idle; two threads beyond one per CPU stay for the log's writes.
  const poolThreads = lowerWorkPoolPriority(15, Math.max(4, availableParallelism() + 2));
  // Everything that can be refused without making anything comes first.
  await checkListenable(options);
  prepareDataDir(options.dataDir);
  const stack = new ShutdownStack();
  // Held until the process ends: a second service on this directory is refused, naming this one.
  const lock = lockDataDir(options.dataDir);
  stack.defer(() => lock.release());
  try {
    return await build(options, stack, poolThreads);
  } catch (error) {
    // Threads started before the failure would keep the process running with nothing listening.
    await stack.unwind();
    throw error;
  }
}

async function build(options: ServeOptions, stack: ShutdownStack, poolThreads: number): Promise<RunningServer> {
  removeTemporaries(options.dataDir);
  const adminToken = adminTokenOf(options);
  const tlsFiles = readTlsFiles(options);
  let configDocuments: SigningConfigDocuments;
  let configs: SigningConfigs;
  try {
    const shared = readSigningConfigDocument(options.config);
    configs = new SigningConfigs(parseSigningConfigAt(options.config, shared));
    configDocuments = { shared };
  } catch (error) {
    throw new StartupError(`signing config: ${(error as Error).message}`);
  }
  // What the start did, logged once the app's logger exists.
  const notes: string[] = [];
  const note = (message: string) => notes.push(message);
  note(poolThreads > 0 ? `RSA keys are made on libuv's ${poolThreads} pool threads, at nice 15` : "RSA keys are made on libuv's pool, at the process's priority (its threads could not be lowered)");
  const warnings: string[] = [];
  const logStream = openLogStream();
  stack.defer(() => logStream.close());
  const log = new ServiceLog();
  const metrics = new Metrics();
  // The threads are made once the service listens, so they take no CPU from the start; at once
  // with --tls-hosts, whose certificate is recorded (by the writer thread) before it listens.
  let listened = () => {};
  const listening = new Promise<void>((resolve) => (listened = resolve));
  if (options.tlsHosts) listened();

  const { ca, chain, others, defaultCrl, ownConfigs } = await openCas(options, note, (message) => warnings.push(message));
  if (ownConfigs.size > 0) {
    // The CAs' own configs, read with --config again so that all of them are one snapshot.
    try {
      ({ configs, documents: configDocuments } = readSigningConfigs(options.config, ownConfigs));
    } catch (error) {
      throw new StartupError(`signing config: ${(error as Error).message}`);
    }
  }
  try {
    configs.checkAcme([ca.ca.label, ...others.map((other) => other.ca.ca.label)]);
  } catch (error) {
    throw new StartupError(`signing config: ${options.config}: ${(error as Error).message}`);
  }
  const responder = openResponder(options, ca.ca);
  if (responder) note(`OCSP answers are signed by the delegated responder ${options.responder}`);
  const acme = configs.shared.acme.size > 0;
  const storage = await openStorage(options, { ca, others: others.map((other) => other.ca), metrics, log, note, stack, acme, listening });
  const { authority, threads, started } = await startSigning(options, { ca, chain, others, configs, configDocuments, storage, metrics, log, note, stack, listening });
  // The start fails if one of them cannot start.
  const threadsStarted = Promise.all([storage.started, started]);
  threadsStarted.catch(() => {}); // awaited below, or the start failed before that already
  const serving = await issueServingTls(options, { ca, chain, storage, client: tlsFiles.client, note });
  const tls = serving?.listener ?? tlsFiles.listener;
  const reloader = new SigningConfigReloader(authority, options.config, ownConfigs);
  const acmeValidator = acme
    ? createChallengeValidator({ httpPort: options.acmeHttpPort, tlsPort: options.acmeTlsPort, dnsResolver: options.acmeDnsResolver, timeoutMs: acmeValidationTimeoutMs })
    : undefined;
  if (acme) note(`ACME provisioners: ${[...configs.shared.acme.keys()].map((name) => `/acme/${name}/directory`).join(", ")}`);
  const app = await buildApp({
    authority,
    ...operatorServices(
      ca.ca,
      storage.records,
      () => new Date(),
      responder,
      { writes: storage.health, threads },
      { others: others.map((other) => other.ca.ca), defaultCrl },
    ),
    logger: { level: options.logLevel, stream: logStream.stream },
    version: packageVersion(),
    adminToken,
    tls,
    metrics,
    rateLimit: storage.guardStore && options.rateLimit ? { limit: options.rateLimit, store: storage.guardStore } : undefined,
    reloader,
    acme: acmeValidator && storage.acme ? { store: storage.acme, validator: acmeValidator, externalUrl: options.acmeUrl } : undefined,
    timeouts: { headersMs: options.headersTimeoutMs, requestMs: options.requestTimeoutMs, keepAliveMs: options.keepAliveTimeoutMs },
  });
  log.attach(app.log);
  // Answers sent once stopping has begun close their connection: Node's server.close() only drops
  // connections idle at that moment, so a keep-alive client whose request was in flight would
  // otherwise hold the exit for the keep-alive timeout (72 s).
  let closing = false;
  app.addHook("onSend", (_request, reply, payload, done) => {
    if (closing) reply.header("connection", "close");
    done(null, payload);
  });
  for (const message of notes) app.log.info(message);
  for (const warning of [...warnings, ...authenticationWarnings(configs, [ca, ...others.map((other) => other.ca)].map((served) => served.ca.label), adminToken)]) app.log.warn(warning);
  try {
    await app.listen({ host: options.address, port: options.port });
  } catch (error) {
    throw listenFailure(error, options);
  }
  stack.defer(() => closeApp(app));
  listened();
  // What the start did is in the log as soon as the service answers, not a second later.
  logStream.stream.flush();
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const host = options.address.includes(":") ? `[${options.address}]` : options.address;
  const scheme = tls ? "https" : "http";
  serving?.scheduleRenewal(app.server as Server, app.log, stack);
  const ready = threadsStarted.then(() => {
    app.log.info(`certwright ${packageVersion()} serving cfssl's API on ${scheme}://${host}:${port}/api/v1/cfssl/`);
    logStream.stream.flush();
  });
  ready.catch(() => {}); // the caller's to handle
  return {
    app,
    url: `${scheme}://${host}:${port}`,
    ready,
    async reload() {
      // The reloader logs the outcome either way; a failure leaves the old config serving.
      await reloader.reload(app.log).catch(() => {});
    },
    async close() {
      closing = true;
      const [failure] = await stack.unwind();
      if (failure !== undefined) throw failure;
    },
  };
}

/** The CA (--ca, or the data directory's) and its chain; or, with --ca-config, the default CA and the others. */
async function openCas(
  options: ServeOptions,
  note: (message: string) => void,
  warn: (message: string) => void,
): Promise<ServedCa & { others: ServedCa[]; defaultCrl?: string; ownConfigs: Map<string, string> }> {
  if (options.caConfig !== undefined) {
    const { cas, defaultCrl, configs } = await openCaConfig(options, note, warn);
    const [first, ...others] = cas;
    return { ...first!, others, defaultCrl, ownConfigs: configs };
  }
  const ca = await openCa(options, note);
  const chain = openCaChain(options, ca, warn);
  if (chain.above.length > 0) note(`the CA's chain: ${chain.above.length} certificate(s) from ${options.caBundle}${chain.root ? ", up to the root" : ", the root left out"}`);
  return { ca, chain, others: [], ownConfigs: new Map() };
}

/** Stops accepting and waits for every open connection's request to be answered, cutting the ones that stall. */
async function closeApp(app: FastifyInstance): Promise<void> {
  const cut = setTimeout(() => {
    app.log.warn(`requests still in flight ${shutdownGraceMs / 1000}s after the stop began: closing their connections`);
    app.server.closeAllConnections();
  }, shutdownGraceMs);
  await app.close();
  clearTimeout(cut);
}
