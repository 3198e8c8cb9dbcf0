// The docs' shell recipes, run as a reader runs them: one working directory, the pages in the order of
// the README's map, `certwright` on the PATH, a real service where the docs say 127.0.0.1:8888.
// A block runs when the line before its fence says `<!-- doc-test: run -->`; with `postgres`, it runs
// with CERTWRIGHT_DATABASE set to a database of a throwaway PostgreSQL cluster; with `check output`,
// its `# …` lines after the first command are output that must appear (`…` stands for anything);
// with `succeeds`, every envelope it prints says success. A page with a JSON block marked
// `service config` gets a service of its own, started with that signing config.
// (test/api/recipe.test.ts checks in depth what the README's recipe issues; this runs the commands as printed.)
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { root } from "../helpers/app.js";
import { docPages, fencedBlocks, missingRecipeTools, markdownLinks, readPage, type FencedBlock } from "../helpers/docs.js";
import { type PostgresCluster, postgresSkip, startPostgres } from "../helpers/postgres.js";
import { childEnv, freePort, mainJs, startService, tempDir } from "../helpers/server.js";

/** The ports the docs use: the service's, and two more for a second `serve` (refused, or a standby). */
const docPorts = [8888, 8889, 8890];

/** What a page's recipes take for granted that no earlier page made. */
const setup: Record<string, string> = {
  // revocation.md revokes "leaked.pem": here, the certificate client.md wrote.
  "docs/revocation.md": "cp server.pem leaked.pem",
};

/** README.md first, then the pages in the order its map lists them. */
function pagesInReadingOrder(): string[] {
  const linked = markdownLinks(readPage("README.md")).filter((target) => /^docs\/[^#]+\.md$/.test(target));
  return ["README.md", ...new Set(linked)];
}

function expectedOutput(block: FencedBlock): RegExp[] {
  const lines = block.code.split("\n");
  const first = lines.findIndex((line) => line.trim() !== "" && !line.startsWith("#"));
  return lines
    .slice(first + 1)
    .filter((line) => line.startsWith("#"))
    .map((line) => line.slice(1).trim())
    .filter(Boolean)
    .map((line) => new RegExp(line.split("…").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\s+/g, "\\s+")).join(".*?")));
}

interface ShellResult {
  code: number | null;
  output: string;
}

/** Runs a script with bash -e -o pipefail in its own process group, which is killed when it ends or times out. */
function runShell(script: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs = 90_000): Promise<ShellResult> {
  return new Promise((resolve) => {
    const child = spawn("bash", ["-e", "-o", "pipefail", "-c", script], { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    const killGroup = () => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      output += `\n(killed after ${timeoutMs} ms)`;
      killGroup();
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      // A command the script left in the background (a standby service) must not outlive it.
      killGroup();
      child.once("close", () => resolve({ code, output }));
    });
  });
}

t.test("the expected-output lines of a block", async (t) => {
  const block = { page: "x.md", line: 1, lang: "sh", marks: [], code: "# prose\ncurl x\n# {\"a\":1}\n# exit …\n" };
  const patterns = expectedOutput(block);
  t.equal(patterns.length, 2, "comments before the first command are prose");
  t.ok(patterns[0]!.test('{"a":1}'));
  t.ok(patterns[1]!.test("exit 1"));
});

// Some thirty commands and three services: more than tap's default two minutes on a loaded machine.
t.setTimeout(300_000);

t.test("the recipes marked `doc-test: run` run and print what the docs say", { skip: missingRecipeTools.length > 0 && `not installed: ${missingRecipeTools.join(", ")}` }, async (t) => {
  const order = pagesInReadingOrder();
  const runnable = docPages().flatMap((page) => fencedBlocks(page).filter((block) => block.marks.includes("run")));
  for (const block of runnable) t.ok(order.includes(block.page), `${block.page} is in the README's map, so its recipes have a place in the reading order`);
  t.ok(runnable.length >= 10, `${runnable.length} runnable blocks`);

  const work = tempDir(t, "certwright-docs-");
  symlinkSync(join(root, "profiles"), join(work, "profiles"));
  const bin = join(work, ".bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "certwright"), `#!/bin/sh\nexec "${process.execPath}" "${mainJs}" "$@"\n`);
  chmodSync(join(bin, "certwright"), 0o755);
  const ports = new Map<number, number>();
  for (const port of docPorts) ports.set(port, await freePort());
  const env = childEnv({ PATH: `${bin}:${process.env.PATH}` });
  await startService(t, { cwd: work, port: ports.get(8888)!, args: ["--port", String(ports.get(8888))], timeoutMs: 60_000 });
  // One database for every page's PostgreSQL recipes, made when the first one runs.
  let cluster: PostgresCluster | undefined;
  let database: string | undefined;

  for (const page of order) {
    const blocks = fencedBlocks(page);
    const runs = blocks.filter((block) => block.marks.includes("run"));
    if (runs.length === 0) continue;
    const config = blocks.find((block) => block.marks.includes("service config"));
    const pagePorts = new Map(ports);
    const pageEnv = { ...env };
    if (config) {
      const own = await startWithConfig(t, work, page, config);
      pagePorts.set(8888, own.port);
      Object.assign(pageEnv, own.env);
    }
    for (const block of runs) {
      const where = `${page}:${block.line}`;
      const blockEnv = { ...pageEnv };
      if (block.marks.includes("postgres")) {
        if (postgresSkip) {
          t.comment(`${where} skipped: ${postgresSkip}`);
          continue;
        }
        cluster ??= await startPostgres(t);
        database ??= await cluster.createDatabase("docs");
        blockEnv.CERTWRIGHT_DATABASE = database;
      }
      const code = block.code.replace(/\b(8888|8889|8890)\b/g, (port) => String(pagePorts.get(Number(port))));
      const result = await runShell(`${setup[page] ?? ""}\n${code}`, work, blockEnv);
      t.equal(result.code, 0, `${where} runs`, { output: result.output });
      if (block.marks.includes("succeeds")) {
        t.match(result.output, /"success":\s*true/, `${where} prints a successful answer`);
        t.notMatch(result.output, /"success":\s*false/, `${where} prints no refusal`, { output: result.output });
      }
      if (!block.marks.includes("check output")) continue;
      for (const pattern of expectedOutput(block)) t.match(result.output, pattern, `${where} prints ${pattern.source}`);
    }
  }
});

/**
 * A service with the page's signing config, in a data directory of its own; each `env:VAR` key the
 * config names gets a fresh key, in the service's environment and the recipes'.
 */
async function startWithConfig(t: Test, work: string, page: string, config: FencedBlock) {
  const name = page.replace(/\W/g, "-");
  const file = join(work, `${name}-config.json`);
  writeFileSync(file, config.code);
  const keys: Record<string, string> = {};
  for (const [, variable] of config.code.matchAll(/"env:(\w+)"/g)) keys[variable!] = randomBytes(32).toString("hex");
  const port = await freePort();
  await startService(t, { cwd: work, port, env: keys, args: ["--port", String(port), "--config", file, "--data-dir", `${name}-data`], timeoutMs: 60_000 });
  return { port, env: keys };
}
