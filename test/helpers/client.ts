// Running the compiled client commands (dist/service/main.cjs) as a user's shell would, stdin included.
import { spawn, type ChildProcess } from "node:child_process";
import { createPublicKey, X509Certificate } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import type { CommitStep } from "../../src/cli/client/commit-steps.js";
import { childEnv, mainJs, type Exit } from "./server.js";

type Teardown = { teardown(fn: () => void | Promise<void>): void };

export interface ClientRun extends Exit {
  stdout: string;
  stderr: string;
}

export interface ClientOptions {
  cwd: string;
  /** Written to stdin, which is then closed; without it stdin is empty. */
  input?: string;
  env?: Record<string, string>;
  /** Node's own flags, before the script (`--import` a preload). */
  execArgv?: string[];
  timeoutMs?: number;
}

/** Starts `certwright <args>`; the caller waits on `done`. Killed in teardown if still running. */
export function startClient(t: Teardown, args: string[], options: ClientOptions): { child: ChildProcess; done: Promise<ClientRun>; stdout(): string } {
  const child = spawn(process.execPath, [...(options.execArgv ?? []), mainJs, ...args], { cwd: options.cwd, env: childEnv(options.env ?? {}), stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdin!.on("error", () => {}); // the command may exit before reading
  child.stdin!.end(options.input ?? "");
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
  t.teardown(() => {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const done = new Promise<ClientRun>((resolve) =>
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return { child, done, stdout: () => stdout };
}

/** Options that make the client SIGKILL itself at `step` of the pair's commit (see kill-at-commit-step.mjs). */
export function killAtCommitStep(step: CommitStep): Pick<ClientOptions, "env" | "execArgv"> {
  return { execArgv: ["--import", new URL("./kill-at-commit-step.mjs", import.meta.url).href], env: { KILL_AT_COMMIT_STEP: step } };
}

/** Runs `certwright <args>` to its end. */
export function client(t: Teardown, args: string[], options: ClientOptions): Promise<ClientRun> {
  return startClient(t, args, options).done;
}

/** Permission bits of a file. */
export function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

/** True when the key file holds the private key of the certificate file. */
export function pairMatches(certFile: string, keyFile: string): boolean {
  const cert = new X509Certificate(readFileSync(certFile));
  const key = createPublicKey(readFileSync(keyFile, "utf8"));
  return cert.publicKey.export({ format: "der", type: "spki" }).equals(key.export({ format: "der", type: "spki" }));
}
