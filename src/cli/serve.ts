import type { Server } from "node:https";
import { availableParallelism } from "node:os";
import { createSecureContext } from "node:tls";
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { dirname, join, resolve as resolvePath } from "node:path";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { buildApp } from "../api/app.js";
import { Metrics } from "../api/metrics.js";
import { authenticationWarnings } from "../authority/authentication.js";
import { Authority } from "../authority/authority.js";
import { SigningConfigReloader } from "../authority/config-reload.js";
import { initCa } from "../authority/init-ca.js";
import { KeyPool } from "../authority/key-pool.js";
import { operatorServices } from "../authority/operator-services.js";
import { ServingCertificate, type ServingPair } from "../authority/serving-certificate.js";
import { ReplayGuard } from "../authority/replay-guard.js";
import { SignerPool } from "../authority/signer-pool.js";
import { loadCertificateAuthority } from "../pki/ca.js";
import type { CertificateAuthority } from "../pki/certificate.js";
import { delegatedSigner } from "../pki/ocsp.js";
import { parseSigningConfigAt, readSigningConfigDocument } from "../profiles/signing-config.js";
import { csrRequestSchema } from "../schemas/wire.js";
import { CertificateStore } from "../store/certificate-store.js";
import { GroupCommitRecorder } from "../store/group-commit.js";
import { GuardStore } from "../store/guard-store.js";
import { captureDatabaseFiles } from "../store/database-files.js";
import { DatabaseHealth } from "../store/database-health.js";
import { WriterThread } from "../store/writer-client.js";
import type { ThreadEvent } from "../threads/supervised-thread.js";
import { packageRoot, type ServeOptions } from "./options.js";
import { StartupError } from "./startup-error.js";
import { caIdentity, checkDatabase, databaseOfSomeCa, lockDataDir, removeTemporaries, syncDirectory, writeNewFile } from "./data-dir.js";

export { StartupError };

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string }).version;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new StartupError(`${what} ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** A loaded CA and the PEM it came from (signer workers load their own copy). */
interface LoadedCa {
  ca: CertificateAuthority;
  certificatePem: string;
  keyPem: string;
}

async function loadCa(certPath: string, keyPath: string): Promise<LoadedCa> {
  try {
    const certificatePem = readText(certPath, "CA certificate");
    const keyPem = readText(keyPath, "CA key");
    return { ca: await loadCertificateAuthority(certificatePem, keyPem), certificatePem, keyPem };
  } catch (error) {
    if (error instanceof StartupError) throw error;
    throw new StartupError(`${(error as Error).message} (certificate ${certPath}, key ${keyPath})`);
  }
}

/**
 * The CA in the data directory, made on first start from the package's `profiles/ca-csr.json`.
 * Each file is written whole or not at all (a full disk leaves neither), the key first, with mode
 * 0600 and never over an existing file. No CA is made beside a database of another one: those
 * files were lost, and a new CA would silently orphan every certificate recorded there.
 * `created` lists the files made, for a start that fails later to take back.
 */
async function dataDirCa(dataDir: string, log: (message: string) => void): Promise<LoadedCa & { created: string[] }> {
  const certPath = join(dataDir, "ca.pem");
  const keyPath = join(dataDir, "ca-key.pem");
  const haveCert = existsSync(certPath);
  const haveKey = existsSync(keyPath);
  if (haveCert && haveKey) return { ...(await loadCa(certPath, keyPath)), created: [] };
  if (haveCert !== haveKey) {
    throw new StartupError(`${haveCert ? keyPath : certPath} is missing while ${haveCert ? certPath : keyPath} exists; restore it, or move both away to make a new CA`);
  }
  const databasePath = join(dataDir, "certs.db");
  const owner = databaseOfSomeCa(databasePath);
  if (owner) {
    throw new StartupError(
      `${certPath} and ${keyPath} are missing beside ${databasePath}, the database of the CA with subject key id ${owner.caSubjectKeyId ?? "unknown"}; restore both from a backup (no new CA is made over its certificates; to start a new CA, move certs.db away first)`,
    );
  }
  const csrPath = join(packageRoot, "profiles", "ca-csr.json");
  const request = csrRequestSchema.parse(JSON.parse(readText(csrPath, "CA CSR JSON")));
  const { certificate, private_key } = await initCa(request, new Date());
  const created: string[] = [];
  try {
    writeNewFile(keyPath, private_key, 0o600);
    created.push(keyPath);
    writeNewFile(certPath, certificate, 0o644);
    created.push(certPath);
    syncDirectory(dataDir);
  } catch (error) {
    removeCreated(dataDir, created);
    throw new StartupError(`cannot write a new CA in ${dataDir} (${(error as Error).message}); nothing was left half-made`);
  }
  log(`created a new CA in ${dataDir} (ca.pem, ca-key.pem) from ${csrPath}`);
  return { ...(await loadCa(certPath, keyPath)), created };
}

/** Takes back the files a failed first start made, so the next start begins afresh. */
function removeCreated(dataDir: string, created: readonly string[]): void {
  for (const path of created) rmSync(path, { force: true });
  if (created.length > 0) syncDirectory(dataDir);
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdirSync never returns for a path under /proc
 * (the kernel answers ENOENT for every level, and Node keeps retrying).
 */
function makeDirectories(path: string): void {
  const missing: string[] = [];
  for (let dir = resolvePath(path); !existsSync(dir); dir = dirname(dir)) {
    missing.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of missing) {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
}

function prepareDataDir(dataDir: string): void {
  try {
    makeDirectories(dataDir);
    if (!statSync(dataDir).isDirectory()) throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" });
    accessSync(dataDir, constants.W_OK);
  } catch (error) {
    throw new StartupError(`data directory ${dataDir} is not writable (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); pick another with --data-dir`);
  }
}

const synchronousNames = ["OFF", "NORMAL", "FULL", "EXTRA"];

function anchored(pattern: string): RegExp {
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch (error) {
    throw new StartupError(`--mutual-tls-cn: not a valid regular expression (${(error as Error).message})`);
  }
}

/** The admin token from --admin-token-file or CERTWRIGHT_ADMIN_TOKEN; a short one is refused. */
function adminTokenOf(options: ServeOptions): string | undefined {
  const token = options.adminTokenFile ? readText(options.adminTokenFile, "admin token file").trim() : options.adminToken;
  if (token !== undefined && token.length < 16) {
    throw new StartupError("the admin token is shorter than 16 characters; make a long random one (openssl rand -hex 32)");
  }
  return token;
}
/** RSA-2048 keys made ahead for newcert: a burst of this many is answered without waiting for generation. */
const rsaSpares = 8;
/**
 * On SIGTERM, how long requests in flight get to finish before their connections are cut: a client
 * that stalls mid-request would otherwise hold the exit for Node's request timeout (5 minutes).
 */
const shutdownGraceMs = 5_000;
/**
 * How long the start waits for `PRAGMA quick_check`, and on databases up to what size. It reads
 * every page: 1.5 GB (a million certificates) takes 3 s cached and 34 s from a cold disk, so 256 MB
 * is about half a second cached. A check that takes longer, or of a larger database, goes on in the
 * background at low priority and its result is logged.
 */
const quickCheckWaitMs = 1_000;
const quickCheckWaitBytes = 256 * 1024 * 1024;
/** How long the stop waits for the log's last lines to be taken by stdout (a reader that stopped reading must not hold the exit). */
const logFlushMs = 1_000;

/**
 * Writes out the log's buffered lines, waiting at most `ms`. Never sonic-boom's flushSync here: it
 * retries a write that failed with EPIPE (stdout a pipe whose reader is gone) forever, and so did
 * pino's own flush at exit, which a destroyed stream skips. An EPIPE found by this asynchronous
 * write makes pino drop further lines instead.
 */
function flushLog(stream: ReturnType<typeof pino.destination>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stream.destroy();
      resolve();
    }, ms);
    stream.flush(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  /** Re-reads the --config file (SIGHUP); if it does not validate, logs why and keeps the old one. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

/** Why the listener cannot start, as one line for the operator. */
function listenFailure(error: unknown, options: ServeOptions): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE") return new StartupError(`port ${options.port} on ${options.address} is already in use; pick another with --port`);
  if (code === "EADDRNOTAVAIL") return new StartupError(`address ${options.address} is not an address of this machine; pick another with --address`);
  if (code === "EACCES") return new StartupError(`port ${options.port} needs privileges this process lacks; pick one above 1023 with --port`);
  return error as Error;
}

/**
 * Binds the address and port once and lets go, before anything is made: a port in use would
 * otherwise be found only after a first start had written a CA and a database.
 */
async function checkListenable(options: ServeOptions): Promise<void> {
  if (options.port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createNetServer();
    probe.once("error", reject);
    probe.listen({ host: options.address, port: options.port, exclusive: true }, () => probe.close(() => resolve()));
  }).catch((error: unknown) => {
    throw listenFailure(error, options);
  });
}

/** Starts the service: data directory, signing config, CA, database, then the listener. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  await checkListenable(options);
  prepareDataDir(options.dataDir);
  // Held until the process ends: a second service on this directory is refused, naming this one.
  const lock = lockDataDir(options.dataDir);
  removeTemporaries(options.dataDir);
  const adminToken = adminTokenOf(options);
  const clientTls = {
    clientCa: options.mutualTlsCa ? readText(options.mutualTlsCa, "mutual TLS CA") : undefined,
    clientCn: options.mutualTlsCn ? anchored(options.mutualTlsCn) : undefined,
  };
  let tls =
    options.tlsCert && options.tlsKey
      ? {
          cert: readText(options.tlsCert, "TLS certificate"),
          key: readText(options.tlsKey, "TLS key"),
          ...clientTls,
        }
      : undefined;
  if (tls) {
    try {
      createSecureContext({ cert: tls.cert, key: tls.key, ca: tls.clientCa });
    } catch (error) {
      throw new StartupError(`--tls-cert ${options.tlsCert} and --tls-key ${options.tlsKey} cannot serve TLS: ${(error as Error).message}`);
    }
  }
  let configDocument: unknown;
  let config;
  try {
    configDocument = readSigningConfigDocument(options.config);
    config = parseSigningConfigAt(options.config, configDocument);
  } catch (error) {
    throw new StartupError(`signing config: ${(error as Error).message}`);
  }
  const notes: string[] = [];
  const { ca, certificatePem, keyPem, created } =
    options.ca && options.caKey ? { ...(await loadCa(options.ca, options.caKey)), created: [] } : await dataDirCa(options.dataDir, (m) => notes.push(m));
  let responder;
  if (options.responder && options.responderKey) {
    try {
      responder = delegatedSigner(readText(options.responder, "OCSP responder certificate"), readText(options.responderKey, "OCSP responder key"), ca);
    } catch (error) {
      if (error instanceof StartupError) throw error;
      throw new StartupError(`--responder ${options.responder}: ${(error as Error).message}`);
    }
    notes.push(`OCSP answers are signed by the delegated responder ${options.responder}`);
  }
  const databasePath = join(options.dataDir, "certs.db");
  let app: FastifyInstance | undefined;
  try {
    await checkDatabase({
      dataDir: options.dataDir,
      databasePath,
      identity: caIdentity(ca.subjectKeyId, certificatePem),
      caSource: options.ca ? `--ca ${options.ca}` : join(options.dataDir, "ca.pem"),
      allowNewDatabase: options.allowNewDatabase,
      quickCheckWaitMs,
      quickCheckWaitBytes,
      note: (message) => notes.push(message),
      onLateQuickCheck: (result) =>
        result.ok
          ? app?.log.info(`PRAGMA quick_check of ${databasePath}: ok`)
          : app?.log.error(`PRAGMA quick_check of ${databasePath} found damage: ${result.problem}; stop the service and restore certs.db from a backup`),
    });
  } catch (error) {
    // A CA made by this start and no database for it: take the CA back too, so nothing is half-made.
    removeCreated(options.dataDir, created);
    throw error;
  }
  let store: CertificateStore;
  try {
    store = CertificateStore.open(databasePath);
  } catch (error) {
    throw new StartupError(`database ${databasePath} cannot be opened: ${(error as Error).message}`);
  }
  notes.push(`database ${databasePath}: journal_mode=${store.pragma("journal_mode")} synchronous=${synchronousNames[store.pragma("synchronous") as number] ?? "?"}`);
  const logError = (message: string) => (error: unknown) => app?.log.error({ err: error }, message);
  const threadEvent = (event: ThreadEvent) => app?.log[event.level]({ err: event.error }, event.message);
  const signer =
    options.workers > 0
      ? await SignerPool.start(options.workers, { caCertificate: certificatePem, caKey: keyPem, label: ca.label, configDocument }, logError("signer worker failed"), threadEvent)
      : undefined;
  if (signer) notes.push(`signing in ${options.workers} worker thread(s)`);
  // The files as opened: one deleted or replaced under the service stops writes (see DatabaseHealth).
  const health = new DatabaseHealth(captureDatabaseFiles(databasePath), {
    log: (level, message) => app?.log[level](message),
    checkpoint: () => store.db.pragma("wal_checkpoint(FULL)"),
  });
  // The main thread reads (certinfo); a writer thread commits, so fsyncs never block HTTP.
  const writer = await WriterThread.start(databasePath, { health, onEvent: threadEvent });
  health.watch(writer);
  const metrics = new Metrics();
  const recorder = new GroupCommitRecorder(writer, { onCommit: (ms, rows) => metrics.databaseCommitted(ms, rows) });
  const keyPool = new KeyPool({ threads: availableParallelism(), spares: rsaSpares, sizes: [2048] }, threadEvent);
  // Replay nonces and rate-limit counts outlive restarts, in the same database.
  const guardStore = options.replayWindowMs !== undefined || options.rateLimit ? GuardStore.open(databasePath) : undefined;
  if (options.replayWindowMs !== undefined) notes.push(`replay protection: authenticated requests need a timestamp within ${options.replayWindowMs / 1000}s and a fresh nonce`);
  // Inserts not yet committed: close() lets them settle before it stops the writer thread.
  const inserting = new Set<Promise<void>>();
  const trackInsert = (insert: Promise<void>) => {
    inserting.add(insert);
    insert.then(
      () => inserting.delete(insert),
      () => inserting.delete(insert),
    );
    return insert;
  };
  const authority = new Authority({
    ca,
    config,
    store: { insert: (record) => trackInsert(recorder.insert(record)), get: (serial, aki) => store.get(serial, aki) },
    onRecordError: logError("recording a certificate failed"),
    onIssued: (record) => metrics.certificateIssued(record),
    signer,
    keyPool,
    replayGuard: guardStore && options.replayWindowMs !== undefined ? new ReplayGuard(guardStore, options.replayWindowMs) : undefined,
  });
  let serving: ServingCertificate | undefined;
  let servingPair: ServingPair | undefined;
  if (options.tlsHosts) {
    serving = new ServingCertificate(ca, options.tlsHosts, options.tlsLifetimeMs, (issued) =>
      recorder.insert({
        serialNumber: issued.serialNumber,
        authorityKeyId: issued.authorityKeyId,
        caLabel: ca.label,
        profile: "serving",
        expiry: issued.notAfter,
        pem: issued.pem,
        issuedAt: new Date(),
        notBefore: issued.notBefore,
        metadata: null,
        sans: issued.sans,
        commonName: issued.commonName,
        requestedBy: "certwright",
      }),
    );
    servingPair = await serving.issue();
    tls = { cert: servingPair.cert, key: servingPair.key, ...clientTls };
    notes.push(`serving TLS with a certificate of its own CA for ${serving.describe()}`);
  }
  // Buffered, asynchronous writes: a synchronous write per request line costs the HTTP thread more
  // than the request itself. The buffer is flushed on shutdown; the database, not the log, is the record.
  const logStream = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  // A quiet service still shows its lines within a second.
  const logFlusher = setInterval(() => logStream.flush(), 1000).unref();
  const reloader = new SigningConfigReloader(authority, options.config);
  app = await buildApp({
    authority,
    ...operatorServices(ca, store.db, () => new Date(), responder, { writes: health, threads: () => [...(signer?.supervised ?? []), ...keyPool.supervised] }),
    logger: { level: options.logLevel, stream: logStream },
    version: packageVersion(),
    adminToken,
    tls,
    metrics,
    rateLimit: guardStore && options.rateLimit ? { limit: options.rateLimit, store: guardStore } : undefined,
    reloader,
    timeouts: { headersMs: options.headersTimeoutMs, requestMs: options.requestTimeoutMs, keepAliveMs: options.keepAliveTimeoutMs },
  });
  // Answers sent once stopping has begun close their connection: Node's server.close() only drops
  // connections idle at that moment, so a keep-alive client whose request was in flight would
  // otherwise hold the exit for the keep-alive timeout (72 s).
  let closing = false;
  app.addHook("onSend", (_request, reply, payload, done) => {
    if (closing) reply.header("connection", "close");
    done(null, payload);
  });
  // Stops the threads and closes the databases; an insert still committing finishes (or fails)
  // before the writer thread stops, so no transaction is cut short.
  const release = async () => {
    await signer?.close();
    await keyPool.close();
    await Promise.allSettled([...inserting]);
    await writer.close();
    guardStore?.close();
    store.close();
  };
  for (const note of notes) app.log.info(note);
  for (const warning of authenticationWarnings(config, adminToken)) app.log.warn(warning);
  try {
    await app.listen({ host: options.address, port: options.port });
  } catch (error) {
    await release();
    // The notes are in the log's buffer: written now, boundedly, not by pino's flushSync at exit,
    // which a stdout pipe whose reader is gone holds forever.
    clearInterval(logFlusher);
    await flushLog(logStream, logFlushMs);
    throw listenFailure(error, options);
  }
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const host = options.address.includes(":") ? `[${options.address}]` : options.address;
  const scheme = tls ? "https" : "http";
  app.log.info(`certwright ${packageVersion()} serving cfssl's API on ${scheme}://${host}:${port}/api/v1/cfssl/`);
  let renewal: NodeJS.Timeout | undefined;
  if (serving && servingPair) {
    const server = app.server as Server;
    const renewAt = (at: Date) => {
      // setTimeout holds at most 2^31-1 ms (24.8 days): longer waits are taken in steps.
      const wait = Math.min(Math.max(at.getTime() - Date.now(), 0), 2 ** 31 - 1);
      renewal = setTimeout(() => (Date.now() >= at.getTime() ? void renew() : renewAt(at)), wait).unref();
    };
    const renew = async () => {
      try {
        servingPair = await serving.issue();
        server.setSecureContext({ cert: servingPair.cert, key: servingPair.key, ca: clientTls.clientCa, minVersion: "TLSv1.2" });
        app.log.info({ serial: servingPair.issued.serialNumber, notAfter: servingPair.issued.notAfter }, "renewed the service's own TLS certificate");
        renewAt(servingPair.renewAt);
      } catch (error) {
        app.log.error({ err: error }, "renewing the service's own TLS certificate failed; trying again in a minute");
        renewAt(new Date(Date.now() + 60_000));
      }
    };
    renewAt(servingPair.renewAt);
  }
  logStream.flush();
  return {
    app,
    url: `${scheme}://${host}:${port}`,
    async reload() {
      // The reloader logs the outcome either way; a failure leaves the old config serving.
      await reloader.reload(app.log).catch(() => {});
    },
    async close() {
      closing = true;
      clearTimeout(renewal);
      // app.close() stops accepting and waits for every open connection's request to be answered.
      const cut = setTimeout(() => {
        app.log.warn(`requests still in flight ${shutdownGraceMs / 1000}s after the stop began: closing their connections`);
        app.server.closeAllConnections();
      }, shutdownGraceMs);
      await app.close();
      clearTimeout(cut);
      // A request whose client went away (or was cut) may still be committing: release waits for it.
      await release();
      lock.release();
      clearInterval(logFlusher);
      await flushLog(logStream, logFlushMs);
    },
  };
}
