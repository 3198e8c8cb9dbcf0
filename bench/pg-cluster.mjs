// A throwaway PostgreSQL cluster for a benchmark, as test/helpers/postgres.ts makes one for a test:
// initdb in a temporary directory (as Debian's postgres user when run as root, since initdb refuses
// root), a loopback port, durable settings (fsync and synchronous_commit on); stop() stops it and
// removes the directory. Debian's packages (/usr/lib/postgresql/N/bin) or $CERTWRIGHT_PG_BIN.
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

/** True when the signal was delivered (signal 0: the process exists). */
function signalled(pid, signal) {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

export function findPgBin() {
  const fromEnv = process.env.CERTWRIGHT_PG_BIN;
  if (fromEnv) return existsSync(join(fromEnv, "initdb")) ? fromEnv : undefined;
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((name) => /^\d+$/.test(name) && existsSync(join(base, name, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(base, versions[0], "bin");
}

/** Starts a cluster on `port`; returns { port, url(db), createDatabase(name), postmasterPid, version, stop() }. */
export function startPgCluster(port) {
  const binDir = findPgBin();
  if (!binDir) throw new Error("PostgreSQL is not installed: apt-get install postgresql (or set CERTWRIGHT_PG_BIN to the directory of initdb and pg_ctl)");
  const runAs = process.getuid?.() === 0 ? "postgres" : undefined;
  const run = (command, args) => {
    const [file, argv] = runAs ? ["runuser", ["-u", runAs, "--", join(binDir, command), ...args]] : [join(binDir, command), args];
    // In / : the cluster's user may not be able to enter our working directory.
    const result = spawnSync(file, argv, { cwd: "/", encoding: "utf8" });
    if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status}): ${result.stderr || result.stdout}`);
    return result.stdout;
  };
  const dir = mkdtempSync(join(tmpdir(), "certwright-bench-pg-"));
  if (runAs) chownSync(dir, Number(execFileSync("id", ["-u", runAs], { encoding: "utf8" })), Number(execFileSync("id", ["-g", runAs], { encoding: "utf8" })));
  const data = join(dir, "data");
  let running = false;
  let postmasterPid;
  // Also at exit after a signal, when pg_ctl may be interrupted too: then the postmaster is told
  // directly (SIGQUIT: immediate shutdown) and waited for, so no server outlives its directory.
  const stop = () => {
    try {
      if (running) run("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
    } catch (error) {
      if (postmasterPid === undefined || !signalled(postmasterPid, "SIGQUIT")) throw error;
      const deadline = Date.now() + 10_000;
      while (signalled(postmasterPid, 0) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    } finally {
      running = false;
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    run("initdb", ["-D", data, "-A", "trust", "-U", "certwright", "-E", "UTF8", "--no-sync"]);
    const options = `-h 127.0.0.1 -p ${port} -k ${dir} -c fsync=on -c synchronous_commit=on -c max_connections=100`;
    run("pg_ctl", ["-D", data, "-o", options, "-l", join(dir, "log"), "-w", "-t", "60", "start"]);
    running = true;
    postmasterPid = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
  } catch (error) {
    stop();
    throw error;
  }
  const url = (database = "postgres") => `postgres://certwright@127.0.0.1:${port}/${database}`;
  const query = async (database, sql) => {
    const client = new pg.Client({ connectionString: url(database) });
    await client.connect();
    try {
      return (await client.query(sql)).rows;
    } finally {
      await client.end();
    }
  };
  return {
    port,
    dir,
    url,
    query,
    postmasterPid,
    version: run("pg_ctl", ["--version"]).trim(),
    async createDatabase(name) {
      await query("postgres", `CREATE DATABASE ${name}`);
      return url(name);
    },
    stop,
  };
}
