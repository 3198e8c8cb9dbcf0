// Spawning the real, built service (dist/service/main.cjs, what `npm start` runs) for end-to-end tests.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Test } from "tap";
import type { ApiAnswer } from "./app.js";

export type { ApiAnswer };

/** The compiled CLI; `npm test` builds it before tap runs. */
export const mainJs = fileURLToPath(new URL("../../dist/service/main.cjs", import.meta.url));
export const packageRoot = fileURLToPath(new URL("../../", import.meta.url));

type Teardown = { teardown(fn: () => void | Promise<void>): void };

export function tempDir(t: Teardown, prefix = "certwright-e2e-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A port that was free a moment ago: listen on port 0, note the port, close. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, "close");
  return port;
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export async function isListening(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** The environment without any CERTWRIGHT_ variable (or tap's NODE_OPTIONS), plus `extra`. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith("CERTWRIGHT_") || key === "NODE_OPTIONS") continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  url: string;
  api: string;
  cwd: string;
  stdout(): string;
  stderr(): string;
  exited: Promise<Exit>;
  /** Sends the signal and waits for the process to end. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
}

export interface SpawnOptions {
  /** Flags after `serve`. When `port` is not given and no flag names one, `--port <free port>` is added. */
  args?: string[];
  env?: Record<string, string>;
  cwd: string;
  /** The port to expect the service on, when args or env choose it. */
  port?: number;
  timeoutMs?: number;
  /**
   * Run the service as it runs outside tests: tap's process tracking (which it adds to every child's
   * NODE_OPTIONS, and which starts libuv's thread pool before the service does) is left out.
   */
  untracked?: boolean;
}

function spawnCli(args: string[], cwd: string, env: Record<string, string>, untracked = false) {
  const command = untracked ? ["/bin/sh", ["-c", 'unset NODE_OPTIONS; exec "$0" "$@"', process.execPath, mainJs, ...args]] as const : [process.execPath, [mainJs, ...args]] as const;
  const child = spawn(command[0], command[1], { cwd, env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  // A failed spawn (say, a missing cwd) also ends in "close" with code -2 and the error on stderr.
  child.once("error", (error) => (err += `spawn failed: ${error.message}\n`));
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  const exited = new Promise<Exit>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  // "exit" can come before the pipes are drained: wait for "close" too.
  const closed = new Promise<Exit>((resolve) => child.once("close", (code, signal) => resolve({ code, signal })));
  return { child, exited, closed, stdout: () => out, stderr: () => err };
}

/** Starts `certwright serve` and waits until GET /health answers; kills it in t.teardown. */
export async function startService(t: Teardown, options: SpawnOptions): Promise<ServerProcess> {
  const args = [...(options.args ?? [])];
  let port = options.port;
  if (port === undefined) {
    port = await freePort();
    args.push("--port", String(port));
  }
  const { child, closed, stdout, stderr } = spawnCli(["serve", ...args], options.cwd, options.env ?? {}, options.untracked);
  const stop = async (signal: NodeJS.Signals = "SIGKILL") => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return closed;
  };
  t.teardown(() => stop("SIGKILL").then(() => undefined));
  const url = `http://127.0.0.1:${port}`;
  const api = `${url}/api/v1/cfssl`;
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let ended: Exit | undefined;
  void closed.then((exit) => (ended = exit));
  for (;;) {
    if (ended) throw new Error(`certwright exited (${JSON.stringify(ended)}) before answering:\n${stderr()}\n${stdout()}`);
    try {
      const response = await fetch(`${api}/health`);
      if (response.ok) {
        const body = (await response.json()) as { result?: { healthy?: boolean } };
        if (body.result?.healthy) break;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop("SIGKILL");
      throw new Error(`certwright did not answer on ${url} in time:\n${stderr()}\n${stdout()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // The start's log lines travel by pipe, the health answer by TCP: on a loaded machine the answer
  // can come first. A test reading the start's lines gets them all once the last one has arrived.
  const level = /--log-level[ =](\w+)/.exec(args.join(" "))?.[1] ?? options.env?.CERTWRIGHT_LOG_LEVEL ?? "info";
  if (["info", "debug", "trace"].includes(level)) {
    const logged = Date.now() + 5_000;
    while (!stdout().includes("serving cfssl's API on") && Date.now() < logged) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return { child, port, url, api, cwd: options.cwd, stdout, stderr, exited: closed, stop };
}

export interface RunResult extends Exit {
  stdout: string;
  stderr: string;
}

/** Runs the CLI to its end (for refusals and --help); kills it after timeoutMs. */
export async function runCli(t: Teardown, args: string[], options: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<RunResult> {
  const { child, closed, stdout, stderr } = spawnCli(args, options.cwd, options.env ?? {});
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 10_000);
  const exit = await closed;
  clearTimeout(timer);
  return { ...exit, stdout: stdout(), stderr: stderr() };
}

async function postAs(contentType: string, api: string, endpoint: string, body: unknown): Promise<ApiAnswer> {
  const response = await fetch(`${api}/${endpoint}`, { method: "POST", headers: { "content-type": contentType }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as ApiAnswer["body"] };
}

/** POSTs JSON the way `curl -d` does: the body is JSON, the content type is form-urlencoded. */
export const postForm = (api: string, endpoint: string, body: unknown) => postAs("application/x-www-form-urlencoded", api, endpoint, body);

/** POSTs JSON with application/json. */
export const postJson = (api: string, endpoint: string, body: unknown) => postAs("application/json", api, endpoint, body);

/** Runs the openssl command line, the independent verifier; throws when asked to and it fails. */
export function openssl(args: string[], input?: string, cwd?: string) {
  const result = spawnSync("openssl", args, { input, encoding: "utf8", cwd });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export function mustOpenssl(args: string[], cwd?: string): string {
  const result = openssl(args, undefined, cwd);
  if (result.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout;
}

export function writeFile(dir: string, name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** A certificate's serial as the database stores it: decimal text. */
export function decimalSerial(hexSerial: string): string {
  return BigInt(`0x${hexSerial}`).toString(10);
}

/** A certificate's subject key identifier as lower hex, read by openssl. */
export function subjectKeyId(pem: string): string {
  const text = mustOpensslInput(["x509", "-noout", "-ext", "subjectKeyIdentifier"], pem);
  return text.split("\n")[1]!.trim().replace(/:/g, "").toLowerCase();
}

/** A certificate's authority key identifier as lower hex, read by openssl. */
export function authorityKeyId(pem: string): string {
  const text = mustOpensslInput(["x509", "-noout", "-ext", "authorityKeyIdentifier"], pem);
  const line = text.split("\n").slice(1).join("").trim().replace(/^keyid:/, "");
  return line.replace(/:/g, "").toLowerCase();
}

function mustOpensslInput(args: string[], input: string): string {
  const result = openssl(args, input);
  if (result.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout;
}

/** A start-up refusal as the operator sees it: one line on stderr, no stack. */
export function oneLine(t: Test, stderr: string) {
  const lines = stderr.trim().split("\n");
  t.equal(lines.length, 1, `one line on stderr: ${JSON.stringify(stderr)}`);
  t.match(lines[0], /^certwright: /);
  t.notMatch(stderr, /\n\s+at /, "no stack trace");
}

/** `serve` on a free port with one signing thread, for tests that start many services in turn. */
export const serveArgs = async (dataDir: string, ...more: string[]) => ["serve", "--port", String(await freePort()), "--data-dir", dataDir, "--workers", "1", ...more];
