#!/usr/bin/env node
import { setFlagsFromString } from "node:v8";
import { parseServeOptions, serveHelp } from "./options.js";
import { UsageError } from "./usage-error.js";
import { clientCommands, runClientCommand } from "./client/commands.js";
import type { RunningServer } from "./serve.js";
// serve.js (fastify, SQLite, worker threads) is loaded only by the commands that need it, so the
// client commands start in a fraction of the time (they run from cron jobs and provisioning loops).
const loadServe = () => import("./serve.js");

const usage = `Usage: certwright <command> [flags]; certwright <command> --help for each

Commands:
  serve      run the signing service (what npm start runs)
${clientCommands.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`).join("\n")}
  version    print the version
  help       this help

Exit codes: 0 success, 1 failed (the service could not start; a client command was refused or could not
reach the service), 2 bad usage; renew also exits 3 when the certificate is not due yet (a success).`;

/**
 * One line whatever failed (an unexpected error's message, not its stack), then exit at once:
 * threads started before the failure (signers, the writer, key generation) would keep the
 * process running with nothing listening.
 */
function cannotStart(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`certwright: cannot start: ${message.replace(/\s*\n\s*/g, " ").trim()}`);
  process.exit(1);
}

async function serve(argv: string[]): Promise<number> {
  const options = parseServeOptions(argv, process.env);
  if (options === "help") {
    console.log(serveHelp());
    return 0;
  }
  // V8 lets an old generation grow to up to 4× what survived its last full GC before it collects
  // again; the HTTP thread's requests in flight are promoted there under load, so it grew to about
  // 80 MB over 25 MB live. Growing by half each time held the whole service's peak at 152-158 MB
  // instead of 206 MB under the benchmark's sign load, for no measured CPU. Set before any thread is
  // made, it holds for the workers' heaps too. The bundle's loader (src/bundle/run-cached.ts) sets
  // it earlier still, before anything compiles, since it is part of the code cache's key.
  setFlagsFromString("--heap-growing-percent=50");
  // systemd's ExecReload sends SIGHUP: re-read the signing config (the reload logs what came of it).
  // Handled from the start: one that comes while starting (the config is being read anyway) must
  // not end the process, as SIGHUP does by default.
  let server: RunningServer | undefined;
  let stopping = false;
  process.on("SIGHUP", () => {
    if (server && !stopping) void server.reload();
  });
  try {
    server = await (await loadServe()).startServer(options);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    cannotStart(error);
  }
  const running = server;
  // Listening already; the threads finish loading meanwhile. A stop asked before then closes them,
  // which is no failure of the start.
  running.ready.catch((error: unknown) => {
    if (!stopping) cannotStart(error);
  });
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    running.app.log.info(`${signal}: finishing requests in flight, then stopping`);
    running.close().then(
      () => process.exit(0),
      (error) => {
        running.app.log.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  return -1;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve":
      return serve(rest);
    case "version":
    case "--version":
      console.log((await loadServe()).packageVersion());
      return 0;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(usage);
      return command === undefined ? 2 : 0;
    default: {
      const client = clientCommands.find((c) => c.name === command);
      if (client) return runClientCommand(client, rest, process.env);
      console.error(`certwright: unknown command "${command}"\n\n${usage}`);
      return 2;
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(`certwright: ${error.message}`);
      process.exitCode = 2;
    } else if (error instanceof Error && error.name === "StartupError") {
      console.error(`certwright: cannot start: ${error.message}`);
      process.exitCode = 1;
    } else {
      console.error("certwright: failed:", error);
      process.exitCode = 1;
    }
  },
);
