// Real ACME clients for the end-to-end tests: lego and certbot, from Debian's packages (`apt-get
// install certbot lego`; certbot 2.1 and lego 4.9 on bookworm). Each run keeps all its state in a
// directory the test owns and trusts the server's TLS certificate through the CA file it is given.
//
// Names: the clients talk only to the ACME server, so the names in a certificate need not resolve
// for them. It is the server's validator that looks them up (--acme-dns-resolver pointing at the
// test's DNS server, names → 127.0.0.1) and connects to the client's standalone responder on
// --acme-http-port / --acme-tls-port. Run against pebble 2.4 with names under .test that resolve
// nowhere on the machine, both clients get certificates that way. lego's dns-01 is the exception:
// before answering the challenge it checks that the TXT record is visible on the zone's
// authoritative servers, found through --dns.resolvers; `disablePropagationCheck` skips that.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { accessSync, chmodSync, constants, existsSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { delimiter, join } from "node:path";
import type { TestDnsServer } from "./acme-dns.js";

export type AcmeClientName = "certbot" | "lego";

/** The path of the `name` binary on PATH, or undefined when it is not installed. */
export function findAcmeClient(name: AcmeClientName): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {}
  }
  return undefined;
}

/**
 * Why the tests with real ACME clients cannot run here (false: they can), as the other Debian tools'
 * skips are (cfssl.ts); CI, with CERTWRIGHT_REQUIRE_ACME_CLIENTS=1 once .ci/run installs the
 * clients, never skips them.
 */
export const acmeClientsSkip: string | false = (() => {
  const missing = (["certbot", "lego"] as const).filter((name) => !findAcmeClient(name));
  if (missing.length === 0 || process.env.CERTWRIGHT_REQUIRE_ACME_CLIENTS === "1") return false;
  return `${missing.join(" and ")} not installed (apt-get install certbot lego); the real ACME clients were not tried`;
})();

export interface ClientRun {
  /** The command line, for a failing test's message. */
  command: string;
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `file` with `args` and `env` added to the environment; kills it after `timeoutMs`. */
function run(file: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<ClientRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (status) => {
      clearTimeout(timer);
      const command = [...Object.entries(env).map(([k, v]) => `${k}=${v}`), file, ...args].join(" ");
      resolve({ command, status, stdout, stderr });
    });
  });
}

export interface LegoOptions {
  /** The ACME directory URL (`--server`), e.g. https://127.0.0.1:PORT/acme/default/directory. */
  directoryUrl: string;
  /** PEM file of the CA that issued the ACME server's TLS certificate (`LEGO_CA_CERTIFICATES`). */
  caFile: string;
  /** Names (and, lego permitting, addresses) for the certificate, one `--domains` each. */
  domains: string[];
  /** Where lego keeps its account and certificates (`--path`); a fresh temporary directory per test. */
  dir: string;
  /** lego needs an account email (`--email`). Default is acme-test@example.org. */
  email?: string;
  /** Answer http-01 with lego's own server on 127.0.0.1:port (`--http --http.port`). */
  httpPort?: number;
  /** Answer tls-alpn-01 with lego's own server on 127.0.0.1:port (`--tls --tls.port`). */
  tlsPort?: number;
  /** Answer dns-01 through lego's `exec` provider: the program is run as `PROGRAM present|cleanup FQDN VALUE`. */
  dnsExec?: { program: string; env?: Record<string, string> };
  /** HOST:PORT resolvers for lego's own DNS queries (`--dns.resolvers`): the dns-01 propagation check. */
  dnsResolvers?: string[];
  /** Skip lego's check that the TXT record is visible before it answers dns-01. Default is true. */
  disablePropagationCheck?: boolean;
  /** External account binding (`--eab --kid --hmac`), the HMAC key in base64url. */
  eab?: { kid: string; hmac: string };
  /** `--key-type`: ec256 (lego's default), ec384, rsa2048, rsa4096. */
  keyType?: "ec256" | "ec384" | "rsa2048" | "rsa4096";
  /** Default is 120 s: lego polls the order, and the server's validation may take retries. */
  timeoutMs?: number;
}

export interface LegoCertificate {
  /** The leaf followed by its issuers (lego bundles them unless --no-bundle). */
  certificate: string;
  key: string;
  /** The issuer chain alone. */
  issuer: string;
  /** lego's JSON record of the certificate (its URL, used by renew and revoke). */
  resource: string;
}

/**
 * Where lego keeps the certificate for `domains` under `dir`: named after the first domain, with
 * `*` written as `_` (lego's own sanitising, for wildcards).
 */
export function legoCertificatePaths(dir: string, domains: string[]): LegoCertificate {
  const base = join(dir, "certificates", domains[0]!.replace(/\*/g, "_"));
  return { certificate: `${base}.crt`, key: `${base}.key`, issuer: `${base}.issuer.crt`, resource: `${base}.json` };
}

/** lego's global flags for `options` (they go before the command). */
export function legoArgs(options: LegoOptions): string[] {
  const args = ["--server", options.directoryUrl, "--accept-tos", "--email", options.email ?? "acme-test@example.org", "--path", options.dir];
  for (const domain of options.domains) args.push("--domains", domain);
  if (options.httpPort !== undefined) args.push("--http", "--http.port", `127.0.0.1:${options.httpPort}`);
  if (options.tlsPort !== undefined) args.push("--tls", "--tls.port", `127.0.0.1:${options.tlsPort}`);
  if (options.dnsExec) {
    args.push("--dns", "exec");
    if (options.disablePropagationCheck ?? true) args.push("--dns.disable-cp");
  }
  for (const resolver of options.dnsResolvers ?? []) args.push("--dns.resolvers", resolver);
  if (options.eab) args.push("--eab", "--kid", options.eab.kid, "--hmac", options.eab.hmac);
  if (options.keyType) args.push("--key-type", options.keyType);
  return args;
}

/**
 * Runs lego: `run` registers an account (first time) and obtains a certificate; `renew` gets a new
 * one whatever the old one's expiry (`--days 100000`, no random sleep); `revoke` revokes it with the
 * account key (reason `reason`, default 0). Answers the run and where the certificate files are;
 * a failure is a status other than 0, with lego's output to show.
 */
export async function runLego(command: "run" | "renew" | "revoke", options: LegoOptions, reason = 0): Promise<ClientRun & { files: LegoCertificate }> {
  const binary = findAcmeClient("lego");
  if (!binary) throw new Error("lego is not installed (apt-get install lego)");
  const commandArgs = command === "renew" ? ["renew", "--days", "100000", "--no-random-sleep"] : command === "revoke" ? ["revoke", "--keep", "--reason", String(reason)] : ["run"];
  const env: Record<string, string> = { LEGO_CA_CERTIFICATES: options.caFile };
  if (options.dnsExec) Object.assign(env, { EXEC_PATH: options.dnsExec.program, EXEC_POLLING_INTERVAL: "1", EXEC_PROPAGATION_TIMEOUT: "30" }, options.dnsExec.env);
  const result = await run(binary, [...legoArgs(options), ...commandArgs], env, options.timeoutMs ?? 120_000);
  return { ...result, files: legoCertificatePaths(options.dir, options.domains) };
}

export interface CertbotOptions {
  /** The ACME directory URL (`--server`). */
  directoryUrl: string;
  /** PEM file of the CA that issued the ACME server's TLS certificate (`REQUESTS_CA_BUNDLE`). */
  caFile: string;
  /** Names for the certificate, one `-d` each; the first names the lineage. */
  domains: string[];
  /** certbot's config, work and logs directories go under it; a fresh temporary directory per test. */
  dir: string;
  /** Answer http-01 with certbot's standalone server on 127.0.0.1:port. */
  httpPort: number;
  /** `--email`; default none (`--register-unsafely-without-email`). */
  email?: string;
  /** External account binding (`--eab-kid --eab-hmac-key`), the HMAC key in base64url. */
  eab?: { kid: string; hmac: string };
  /** `--key-type`: ecdsa (certbot 2's default) or rsa. */
  keyType?: "ecdsa" | "rsa";
  /** Default is 120 s. */
  timeoutMs?: number;
}

export interface CertbotCertificate {
  certificate: string;
  chain: string;
  fullchain: string;
  key: string;
}

/** Where certbot keeps the current certificate of the lineage named after `domain` under `dir`. */
export function certbotCertificatePaths(dir: string, domain: string): CertbotCertificate {
  const live = join(dir, "config", "live", domain);
  return { certificate: join(live, "cert.pem"), chain: join(live, "chain.pem"), fullchain: join(live, "fullchain.pem"), key: join(live, "privkey.pem") };
}

/** certbot's directory and non-interactive flags for `options`. */
export function certbotArgs(options: CertbotOptions): string[] {
  return [
    "--non-interactive",
    "--server",
    options.directoryUrl,
    "--config-dir",
    join(options.dir, "config"),
    "--work-dir",
    join(options.dir, "work"),
    "--logs-dir",
    join(options.dir, "logs"),
  ];
}

/**
 * Runs certbot: `certonly` registers an account (first time) and obtains a certificate with the
 * standalone http-01 server; `renew` renews every lineage under `dir` now (`--force-renewal`; the
 * standalone settings come from the lineage's renewal file); `revoke` revokes the current
 * certificate with the account key and keeps the files. A failure is a status other than 0.
 */
export async function runCertbot(command: "certonly" | "renew" | "revoke", options: CertbotOptions): Promise<ClientRun & { files: CertbotCertificate }> {
  const binary = findAcmeClient("certbot");
  if (!binary) throw new Error("certbot is not installed (apt-get install certbot)");
  const files = certbotCertificatePaths(options.dir, options.domains[0]!);
  const args = [command, ...certbotArgs(options)];
  if (command === "certonly") {
    args.push("--agree-tos", ...(options.email ? ["--email", options.email] : ["--register-unsafely-without-email"]));
    args.push("--standalone", "--preferred-challenges", "http-01", "--http-01-address", "127.0.0.1", "--http-01-port", String(options.httpPort));
    for (const domain of options.domains) args.push("-d", domain);
    if (options.eab) args.push("--eab-kid", options.eab.kid, "--eab-hmac-key", options.eab.hmac);
    if (options.keyType) args.push("--key-type", options.keyType);
  } else if (command === "renew") {
    args.push("--force-renewal", "--no-random-sleep-on-renew");
  } else {
    if (!existsSync(files.certificate)) throw new Error(`certbot has no certificate at ${files.certificate} to revoke`);
    args.push("--cert-path", files.certificate, "--no-delete-after-revoke", "--reason", "unspecified");
  }
  // certbot's HTTP library (requests) trusts the CA file named by REQUESTS_CA_BUNDLE instead of the system's.
  const result = await run(binary, args, { REQUESTS_CA_BUNDLE: options.caFile }, options.timeoutMs ?? 120_000);
  return { ...result, files };
}

/**
 * A program for lego's `exec` DNS provider (`dnsExec.program`) that publishes the dns-01 TXT record
 * on the test's DNS server: lego runs it as `PROGRAM present|cleanup FQDN VALUE`, and it posts that
 * to a control endpoint of this process, which adds the value to (or takes it from) `dns.zone`.
 * The program is written to `dir`; the endpoint closes with the test.
 */
export async function legoDnsHook(t: { teardown(fn: () => unknown): void }, dns: TestDnsServer, dir: string): Promise<{ program: string; calls: string[] }> {
  const calls: string[] = [];
  const control = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
    request.on("end", () => {
      const { action, fqdn, value } = JSON.parse(body) as { action: string; fqdn: string; value: string };
      calls.push(`${action} ${fqdn}`);
      const name = fqdn.toLowerCase().replace(/\.$/, "");
      const entry = dns.zone.get(name) ?? {};
      const txt = (entry.TXT ?? []).filter((record) => record !== value);
      dns.zone.set(name, { ...entry, TXT: action === "present" ? [...txt, value] : txt });
      response.end("ok");
    });
  });
  control.listen(0, "127.0.0.1");
  await once(control, "listening");
  t.teardown(() => control.close());
  const url = `http://127.0.0.1:${(control.address() as { port: number }).port}/`;
  const script = join(dir, "lego-dns-hook.cjs");
  writeFileSync(
    script,
    `const [action, fqdn, value] = process.argv.slice(2);
fetch(${JSON.stringify(url)}, { method: "POST", body: JSON.stringify({ action, fqdn, value }) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1));
`,
  );
  const program = join(dir, "lego-dns-hook");
  writeFileSync(program, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(script)} "$@"\n`);
  chmodSync(program, 0o755);
  return { program, calls };
}
