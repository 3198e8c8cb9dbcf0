import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseRateLimit, type RateLimit } from "../api/rate-limit.js";
import { splitHosts } from "../pki/hosts.js";
import { parseDuration } from "../profiles/duration.js";
import { parseFlags, type FlagDefinition } from "./parse-flags.js";
import { isPostgresUrl, redactedUrl } from "../store/database-url.js";
import { UsageError } from "./usage-error.js";

/** The package's own folder (where `profiles/` and `migrations/` live), from `src/cli` or `dist/cli`. */
export const packageRoot = fileURLToPath(new URL("../../", import.meta.url));

export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof logLevels)[number];

/** The service's settings: read and checked here once, and passed down; nothing below reads the environment. */
export interface ServeOptions {
  address: string;
  port: number;
  dataDir: string;
  /** A PostgreSQL URL shared by replicas, or an SQLite file; undefined: the data directory's certs.db. */
  database: string | undefined;
  config: string;
  ca: string | undefined;
  caKey: string | undefined;
  /** PEM certificates above the CA: its issuer first, up to (and perhaps including) the root. */
  caBundle: string | undefined;
  /** A JSON file naming several CAs by label (cfssl multirootca's model), instead of --ca and --ca-key. */
  caConfig: string | undefined;
  /** The passphrase of an encrypted CA key, in this file (the first line). */
  caKeyPassphraseFile: string | undefined;
  /** The PKCS#11 module (shared library) holding the CA key, when --ca-key is a pkcs11: URI. */
  pkcs11Module: string | undefined;
  /** The file holding that token's user PIN (the first line). */
  pkcs11PinFile: string | undefined;
  /** The systemd credential pkcs11-pin, used when neither the flag nor the URI names the PIN. */
  pkcs11PinCredential: string | undefined;
  logLevel: LogLevel;
  /** Signer worker threads; 0 signs on the main thread. */
  workers: number;
  /** Serve HTTPS with this certificate and key (PEM files), as `cfssl serve -tls-cert -tls-key`. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** Zero-setup TLS: serve with a certificate the CA issues for these names and addresses, renewed. */
  tlsHosts: string[] | undefined;
  tlsLifetimeMs: number;
  /** Mutual TLS: clients must present a certificate from this CA (PEM file)... */
  mutualTlsCa: string | undefined;
  /** ...whose CN matches this regular expression, whole. */
  mutualTlsCn: string | undefined;
  /** A file holding the admin token (init_ca once authentication is configured). */
  adminTokenFile: string | undefined;
  /** The admin token itself, from CERTWRIGHT_ADMIN_TOKEN. */
  adminToken: string | undefined;
  /** Replay protection for authenticated requests: the window their timestamps must fall in. */
  replayWindowMs: number | undefined;
  /** Requests each client may send per period; undefined: no limit. */
  rateLimit: RateLimit | undefined;
  /** A delegated OCSP responder's certificate and key (PEM files), as `cfssl serve -responder`. */
  responder: string | undefined;
  responderKey: string | undefined;
  /** HTTP timeouts: a client must send its headers, and its whole request, within these; an idle keep-alive connection is closed after the third. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** Accept a database new to the CA: an empty one where certs.db is missing or empty, or another CA's. */
  allowNewDatabase: boolean;
  /** ACME http-01 validation connects to this port of the name validated (RFC 8555: 80). */
  acmeHttpPort: number;
  /** ACME tls-alpn-01 validation connects to this port (RFC 8737: 443). */
  acmeTlsPort: number;
  /** ACME dns-01 validation asks this DNS server (HOST:PORT); undefined: the system's resolvers. */
  acmeDnsResolver: string | undefined;
  /** The scheme, host and port ACME clients reach the service at (a load balancer's); undefined: each request's Host. */
  acmeUrl: string | undefined;
}

interface FlagSpec extends FlagDefinition {
  key: keyof ServeOptions;
  env: string;
  /** The value's placeholder; "" for a switch: `--name` alone (or `--name=false`), `1`/`true`/`0`/`false` in its variable. */
  value: string;
  help: string;
  default?: string;
}

/** `cfssl serve`'s flag names, each with a CERTWRIGHT_ variable; a flag beats its variable. */
export const serveFlags: FlagSpec[] = [
  { name: "address", key: "address", env: "CERTWRIGHT_ADDRESS", value: "ADDR", help: "address to listen on", default: "127.0.0.1" },
  { name: "port", key: "port", env: "CERTWRIGHT_PORT", value: "PORT", help: "port to listen on", default: "8888" },
  { name: "data-dir", key: "dataDir", env: "CERTWRIGHT_DATA_DIR", value: "DIR", help: "data directory: certs.db, and the CA when --ca is not given", default: "./data" },
  { name: "database", key: "database", env: "CERTWRIGHT_DATABASE", value: "URL|FILE", help: "where certificates are recorded: postgres://user@host:5432/db (replicas share it; sslmode and the other libpq settings from the URL, the password from PGPASSWORD or ~/.pgpass) or an SQLite file", default: "DIR/certs.db" },
  { name: "config", key: "config", env: "CERTWRIGHT_CONFIG", value: "FILE", help: "signing config (cfssl's ca-config.json)", default: "<package>/profiles/ca-config.json" },
  { name: "ca", key: "ca", env: "CERTWRIGHT_CA", value: "FILE", help: "CA certificate PEM to sign with (with --ca-key)" },
  { name: "ca-key", key: "caKey", env: "CERTWRIGHT_CA_KEY", value: "FILE|URI", help: "CA private key PEM: PKCS#1, SEC1 or PKCS#8 (with --ca); or a key in a PKCS#11 module: 'pkcs11:token=LABEL;object=LABEL' (RFC 7512)" },
  { name: "ca-config", key: "caConfig", env: "CERTWRIGHT_CA_CONFIG", value: "FILE", help: "several CAs by label, instead of --ca and --ca-key: JSON {\"default\": LABEL, \"cas\": {LABEL: {\"certificate\", \"key\", \"bundle\", \"config\"}}} (\"config\": the CA's own signing config, else --config's), or cfssl multirootca's roots file" },
  { name: "ca-bundle", key: "caBundle", env: "CERTWRIGHT_CA_BUNDLE", value: "FILE", help: "PEM certificates above the CA, its issuer first, up to the root (which may be left out): checked at start, sent as the chain" },
  { name: "ca-key-passphrase-file", key: "caKeyPassphraseFile", env: "CERTWRIGHT_CA_KEY_PASSPHRASE_FILE", value: "FILE", help: "file with the passphrase of an encrypted CA key (default: the systemd credential ca-key-passphrase, if any); a data directory's new CA key is written encrypted with it" },
  { name: "pkcs11-module", key: "pkcs11Module", env: "CERTWRIGHT_PKCS11_MODULE", value: "PATH", help: "the PKCS#11 module (shared library) holding the CA key, when --ca-key is a pkcs11: URI (libsofthsm2.so for SoftHSM2)" },
  { name: "pkcs11-pin-file", key: "pkcs11PinFile", env: "CERTWRIGHT_PKCS11_PIN_FILE", value: "FILE", help: "file with the user PIN of the token holding the CA key (default: pin-source in the URI, or the systemd credential pkcs11-pin)" },
  { name: "workers", key: "workers", env: "CERTWRIGHT_WORKERS", value: "N", help: "worker threads that sign (0: sign on the main thread)", default: "the number of CPUs less one, at least 1" },
  { name: "tls-cert", key: "tlsCert", env: "CERTWRIGHT_TLS_CERT", value: "FILE", help: "serve HTTPS with this certificate PEM (with --tls-key)" },
  { name: "tls-key", key: "tlsKey", env: "CERTWRIGHT_TLS_KEY", value: "FILE", help: "the private key PEM of --tls-cert" },
  { name: "tls-hosts", key: "tlsHosts", env: "CERTWRIGHT_TLS_HOSTS", value: "LIST", help: "serve HTTPS with a certificate the CA issues itself for these comma-separated names and IPs, renewed (instead of --tls-cert)" },
  { name: "tls-lifetime", key: "tlsLifetimeMs", env: "CERTWRIGHT_TLS_LIFETIME", value: "DURATION", help: "lifetime of --tls-hosts certificates, renewed two thirds in", default: "720h" },
  { name: "mutual-tls-ca", key: "mutualTlsCa", env: "CERTWRIGHT_MUTUAL_TLS_CA", value: "FILE", help: "require client certificates issued by this CA (needs --tls-cert or --tls-hosts)" },
  { name: "mutual-tls-cn", key: "mutualTlsCn", env: "CERTWRIGHT_MUTUAL_TLS_CN", value: "REGEX", help: "allowed client certificate CNs, a regular expression matched whole" },
  { name: "admin-token-file", key: "adminTokenFile", env: "CERTWRIGHT_ADMIN_TOKEN_FILE", value: "FILE", help: "file with the admin token for init_ca (or the token itself in CERTWRIGHT_ADMIN_TOKEN)" },
  { name: "replay-window", key: "replayWindowMs", env: "CERTWRIGHT_REPLAY_WINDOW", value: "DURATION", help: "replay protection: authenticated requests must carry a timestamp within this window (5m) and a fresh nonce" },
  { name: "rate-limit", key: "rateLimit", env: "CERTWRIGHT_RATE_LIMIT", value: "N/PERIOD", help: "at most N requests per client per s, m or h (60/m); 429 beyond" },
  { name: "responder", key: "responder", env: "CERTWRIGHT_RESPONDER", value: "FILE", help: "OCSP responder certificate PEM, issued by the CA with ocsp signing (default: the CA answers)" },
  { name: "responder-key", key: "responderKey", env: "CERTWRIGHT_RESPONDER_KEY", value: "FILE", help: "the private key PEM of --responder" },
  { name: "headers-timeout", key: "headersTimeoutMs", env: "CERTWRIGHT_HEADERS_TIMEOUT", value: "DURATION", help: "a client that has not sent its request's headers within this is cut off", default: "10s" },
  { name: "request-timeout", key: "requestTimeoutMs", env: "CERTWRIGHT_REQUEST_TIMEOUT", value: "DURATION", help: "a client that has not sent its whole request (headers and body) within this is cut off", default: "30s" },
  { name: "keep-alive-timeout", key: "keepAliveTimeoutMs", env: "CERTWRIGHT_KEEP_ALIVE_TIMEOUT", value: "DURATION", help: "an idle keep-alive connection is closed after this", default: "5s" },
  { name: "allow-new-database", key: "allowNewDatabase", env: "CERTWRIGHT_ALLOW_NEW_DATABASE", value: "", help: "start once with a database new to the CA: an empty one where certs.db is missing or empty, or another CA's certs.db (refused otherwise)" },
  { name: "acme-http-port", key: "acmeHttpPort", env: "CERTWRIGHT_ACME_HTTP_PORT", value: "PORT", help: "ACME http-01 challenges are fetched from this port of the name validated (for tests, and networks that map port 80)", default: "80" },
  { name: "acme-tls-port", key: "acmeTlsPort", env: "CERTWRIGHT_ACME_TLS_PORT", value: "PORT", help: "ACME tls-alpn-01 challenges connect to this port", default: "443" },
  { name: "acme-url", key: "acmeUrl", env: "CERTWRIGHT_ACME_URL", value: "URL", help: "the https://host:port ACME clients reach the service at, when a load balancer or proxy stands in front (default: each request's Host header)" },
  { name: "acme-dns-resolver", key: "acmeDnsResolver", env: "CERTWRIGHT_ACME_DNS_RESOLVER", value: "HOST:PORT", help: "ACME dns-01 challenges ask this DNS server for the TXT records (default: the system's resolvers)" },
  { name: "log-level", key: "logLevel", env: "CERTWRIGHT_LOG_LEVEL", value: "LEVEL", help: `log level: ${logLevels.join(", ")}`, default: "info" },
];

/** A credential systemd passed with LoadCredential=NAME:… (a file in $CREDENTIALS_DIRECTORY), if it did. */
function systemdCredential(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const dir = env.CREDENTIALS_DIRECTORY;
  return dir && existsSync(join(dir, name)) ? join(dir, name) : undefined;
}

export function serveHelp(): string {
  const lines = serveFlags.map((flag) => {
    // At least one space after the flag, however long it is (`--replay-window DURATION` filled the column).
    const left = `${`  --${flag.name}${flag.value ? ` ${flag.value}` : ""}`.padEnd(25)} `;
    const dflt = flag.default ? ` (default ${flag.default})` : "";
    return `${left}${flag.help}${dflt}; env ${flag.env}`;
  });
  return [
    "Usage: certwright serve [flags]",
    "",
    "Serves cfssl's API on http://ADDRESS:PORT/api/v1/cfssl/. Without --ca and --ca-key, the CA in the",
    "data directory is used, and made on first start from the package's profiles/ca-csr.json.",
    "Flags also take cfssl's single-dash form (-port 8888, -ca=ca.pem).",
    "",
    ...lines,
    "  --help                  this help",
  ].join("\n");
}

/**
 * Parses `serve`'s flags (`--name value`, `--name=value`, or cfssl's `-name value`) over the
 * environment's CERTWRIGHT_ variables. Returns "help" when help was asked for.
 */
export function parseServeOptions(argv: readonly string[], env: NodeJS.ProcessEnv): ServeOptions | "help" {
  const parsed = parseFlags(argv, serveFlags, { command: "serve", positionals: false, switchValues: true });
  if (parsed === "help") return "help";
  const values = new Map<string, string>();
  for (const flag of serveFlags) {
    const fromEnv = env[flag.env];
    if (fromEnv !== undefined && fromEnv !== "") values.set(flag.name, fromEnv);
  }
  for (const [name, value] of parsed.flags) values.set(name, value);
  const get = (name: string) => values.get(name) ?? serveFlags.find((f) => f.name === name)!.default;
  const portText = get("port")!;
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new UsageError(`--port: "${portText}" is not a port number (0-65535)`);
  const logLevel = get("log-level")! as LogLevel;
  if (!logLevels.includes(logLevel)) throw new UsageError(`--log-level: "${logLevel}" is not one of ${logLevels.join(", ")}`);
  // The HTTP thread keeps a core busy of its own under load: on two cores one signer answered as
  // many signs as two, at the same CPU per answer, in 19 MB less (docs/performance.md).
  const workersText = values.get("workers") ?? String(Math.max(1, availableParallelism() - 1));
  const workers = Number(workersText);
  if (!/^\d+$/.test(workersText) || workers > 64) throw new UsageError(`--workers: "${workersText}" is not a number of threads (0-64)`);
  const tlsCert = values.get("tls-cert");
  const tlsKey = values.get("tls-key");
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new UsageError("--tls-cert and --tls-key go together: give both to serve HTTPS, or neither for HTTP");
  }
  const tlsHostsText = values.get("tls-hosts");
  const tlsHosts = tlsHostsText?.split(",").map((host) => host.trim()).filter((host) => host !== "");
  if (tlsHosts !== undefined && tlsHosts.length === 0) throw new UsageError("--tls-hosts: name at least one host or address the service is reached by");
  if (tlsHosts) {
    // Checked here, before anything starts, with the rules every issued SAN follows.
    try {
      splitHosts(tlsHosts);
    } catch (error) {
      throw new UsageError(`--tls-hosts: ${(error as Error).message.replace(/^hosts\[\d+\] /, "")}`);
    }
  }
  if (tlsHosts && tlsCert) throw new UsageError("--tls-hosts and --tls-cert are two ways to serve HTTPS: give one of them");
  const tlsLifetimeText = get("tls-lifetime")!;
  const tlsLifetimeMs = parseDuration(tlsLifetimeText);
  if (tlsLifetimeMs === undefined || tlsLifetimeMs < 30_000) throw new UsageError(`--tls-lifetime: "${tlsLifetimeText}" is not a duration of at least 30s, such as 720h`);
  const mutualTlsCa = values.get("mutual-tls-ca");
  const mutualTlsCn = values.get("mutual-tls-cn");
  if ((mutualTlsCa || mutualTlsCn) && !tlsCert && !tlsHosts) throw new UsageError("--mutual-tls-ca and --mutual-tls-cn need TLS: give --tls-cert and --tls-key, or --tls-hosts");
  if (mutualTlsCn && !mutualTlsCa) throw new UsageError("--mutual-tls-cn needs --mutual-tls-ca, the CA client certificates must come from");
  const replayText = values.get("replay-window");
  const replayWindowMs = replayText === undefined ? undefined : parseDuration(replayText);
  if (replayText !== undefined && (replayWindowMs === undefined || replayWindowMs < 1000 || replayWindowMs > 86_400_000)) {
    throw new UsageError(`--replay-window: "${replayText}" is not a duration from 1s to 24h, such as 5m`);
  }
  const rateText = values.get("rate-limit");
  const rateLimit = rateText === undefined ? undefined : parseRateLimit(rateText);
  if (rateText !== undefined && !rateLimit) throw new UsageError(`--rate-limit: "${rateText}" is not N/s, N/m or N/h, such as 60/m`);
  const responder = values.get("responder");
  const responderKey = values.get("responder-key");
  if ((responder === undefined) !== (responderKey === undefined)) {
    throw new UsageError("--responder and --responder-key go together: give both for a delegated OCSP responder, or neither for the CA to answer");
  }
  const timeout = (name: string) => {
    const text = get(name)!;
    const ms = parseDuration(text);
    if (ms === undefined || ms < 100 || ms > 3_600_000) throw new UsageError(`--${name}: "${text}" is not a duration from 100ms to 1h, such as 10s`);
    return ms;
  };
  const headersTimeoutMs = timeout("headers-timeout");
  const requestTimeoutMs = timeout("request-timeout");
  const keepAliveTimeoutMs = timeout("keep-alive-timeout");
  // Node refuses a headers timeout longer than the request timeout: the headers are part of the request.
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new UsageError(`--headers-timeout (${get("headers-timeout")}) is longer than --request-timeout (${get("request-timeout")}); the headers are part of the request`);
  }
  const allowText = values.get("allow-new-database") ?? "false";
  const allowNewDatabase = /^(1|true|yes)$/i.test(allowText);
  if (!allowNewDatabase && !/^(0|false|no)$/i.test(allowText)) throw new UsageError(`--allow-new-database: "${allowText}" is not true or false`);
  const database = values.get("database");
  if (database !== undefined) checkDatabaseFlag(database);
  const acmePort = (name: string) => {
    const text = get(name)!;
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < 1 || value > 65535) throw new UsageError(`--${name}: "${text}" is not a port number (1-65535)`);
    return value;
  };
  const acmeHttpPort = acmePort("acme-http-port");
  const acmeTlsPort = acmePort("acme-tls-port");
  const acmeDnsResolver = values.get("acme-dns-resolver");
  if (acmeDnsResolver !== undefined) checkResolverFlag(acmeDnsResolver);
  const acmeUrl = values.get("acme-url");
  if (acmeUrl !== undefined) checkOriginFlag("acme-url", acmeUrl);
  const ca = values.get("ca");
  const caKey = values.get("ca-key");
  if ((ca === undefined) !== (caKey === undefined)) {
    throw new UsageError("--ca and --ca-key go together: give both, or neither to use the CA in the data directory");
  }
  const caConfig = values.get("ca-config");
  if (caConfig !== undefined && (ca !== undefined || values.get("ca-bundle") !== undefined)) {
    throw new UsageError("--ca-config names every CA (with its key and bundle): give it instead of --ca, --ca-key and --ca-bundle, not with them");
  }
  return {
    address: get("address")!,
    port,
    dataDir: get("data-dir")!,
    database,
    config: values.get("config") ?? `${packageRoot}profiles/ca-config.json`,
    ca,
    caKey,
    caBundle: values.get("ca-bundle"),
    caConfig,
    caKeyPassphraseFile: values.get("ca-key-passphrase-file") ?? systemdCredential(env, "ca-key-passphrase"),
    pkcs11Module: values.get("pkcs11-module"),
    pkcs11PinFile: values.get("pkcs11-pin-file"),
    pkcs11PinCredential: systemdCredential(env, "pkcs11-pin"),
    logLevel,
    workers,
    tlsCert,
    tlsKey,
    tlsHosts,
    tlsLifetimeMs,
    mutualTlsCa,
    replayWindowMs,
    rateLimit,
    responder,
    responderKey,
    mutualTlsCn,
    adminTokenFile: values.get("admin-token-file"),
    adminToken: env.CERTWRIGHT_ADMIN_TOKEN || undefined,
    allowNewDatabase,
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs,
    acmeHttpPort,
    acmeTlsPort,
    acmeDnsResolver,
    acmeUrl,
  };
}

/** HOST:PORT of a DNS server: an IPv4 address, [IPv6] or a name, and a port. */
function checkResolverFlag(text: string): void {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text.trim());
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) {
    throw new UsageError(`--acme-dns-resolver: "${text}" is not HOST:PORT, such as 127.0.0.1:53 or [::1]:5353`);
  }
}

/** An origin: http(s), a host and maybe a port, nothing after (ACME's URLs are built on it). */
function checkOriginFlag(name: string, text: string): void {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || !["https:", "http:"].includes(url.protocol) || url.username !== "" || url.password !== "" || !["", "/"].includes(url.pathname) || url.search !== "" || url.hash !== "") {
    throw new UsageError(`--${name}: "${text}" is not a scheme, host and port such as https://ca.example.internal:8443 (no path)`);
  }
}

/** A PostgreSQL URL that parses, or a file path; another database's URL is refused, naming what works. */
function checkDatabaseFlag(text: string): void {
  if (text.trim() === "") throw new UsageError("--database: empty; give postgres://user@host:5432/db or an SQLite file, or leave it out for DIR/certs.db");
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1];
  if (scheme === undefined) return;
  if (!isPostgresUrl(text)) throw new UsageError(`--database: ${scheme}:// is not supported; give postgres://user@host:5432/db or an SQLite file`);
  try {
    new URL(text);
  } catch {
    throw new UsageError(`--database: not a URL (${redactedUrl(text)}); write it as postgres://user@host:5432/db, with special characters in the password percent-encoded`);
  }
}
