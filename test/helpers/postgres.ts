// A throwaway PostgreSQL cluster for a test file: initdb in a temporary directory, a loopback port,
// stopped and removed at teardown. It uses Debian's packages (postgresql 15 or later); on a machine
// without them the tests that need it are skipped, unless CERTWRIGHT_REQUIRE_POSTGRES=1 (CI) makes
// that a failure.
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { migratePostgres } from "../../src/store/postgres/migrate.js";
import { freePort } from "./server.js";

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** Where initdb and pg_ctl are: $CERTWRIGHT_PG_BIN, or the newest of Debian's /usr/lib/postgresql/N/bin. */
function findBinDir(): string | undefined {
  const fromEnv = process.env.CERTWRIGHT_PG_BIN;
  if (fromEnv) return existsSync(join(fromEnv, "initdb")) ? fromEnv : undefined;
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin");
}

const binDir = findBinDir();

/** Why PostgreSQL tests cannot run here (false: they can). */
export const postgresSkip: string | false = binDir
  ? false
  : process.env.CERTWRIGHT_REQUIRE_POSTGRES === "1"
    ? false
    : "PostgreSQL is not installed (apt-get install postgresql); its tests were skipped";

/** initdb refuses to run as root: the cluster then belongs to Debian's postgres user. */
const runAs = process.getuid?.() === 0 ? "postgres" : undefined;

function run(command: string, args: string[]): void {
  if (!binDir) throw new Error("PostgreSQL is required (CERTWRIGHT_REQUIRE_POSTGRES=1) but initdb was not found: apt-get install postgresql");
  const [file, argv] = runAs ? ["runuser", ["-u", runAs, "--", join(binDir, command), ...args]] : [join(binDir, command), args];
  // In / : the user the cluster runs as may not be able to enter the test's working directory.
  const result = spawnSync(file, argv, { cwd: "/", encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status}): ${result.stderr || result.stdout}`);
}

export interface PostgresCluster {
  port: number;
  /** The URL of a database on this cluster (default: postgres). */
  url(database?: string): string;
  /** A new empty database, named uniquely, and its URL. */
  createDatabase(prefix?: string): Promise<string>;
  /** Stops the server (fast: sessions are cut, as in a crash of the database host's service). */
  stop(): void;
  start(): void;
  /**
   * A hot standby of this cluster on a port of its own, streaming from it (pg_basebackup -R), stopped
   * and removed at teardown; it answers reads once it is consistent.
   */
  startStandby(t: Teardown): Promise<PostgresStandby>;
}

export interface PostgresStandby extends PostgresCluster {
  /** Ends recovery (pg_ctl promote -w): from then on the standby is a primary that takes writes. */
  promote(): void;
}

let databases = 0;

/** A new temporary directory the cluster's user owns (the data directory and the socket go in it). */
function clusterDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "certwright-pg-"));
  if (runAs) chownSync(dir, Number(execFileSync("id", ["-u", runAs], { encoding: "utf8" })), Number(execFileSync("id", ["-g", runAs], { encoding: "utf8" })));
  return dir;
}

/** Starts a cluster for this test file; stopped and removed at teardown. */
export async function startPostgres(t: Teardown): Promise<PostgresCluster> {
  const dir = clusterDir();
  run("initdb", ["-D", join(dir, "data"), "-A", "trust", "-U", "certwright", "-E", "UTF8", "--no-sync"]);
  // initdb -A trust also trusts replication connections from 127.0.0.1, which startStandby needs.
  return launch(t, dir, await freePort());
}

/** Starts the server of the data directory in `dir` on `port`; stopped and the directory removed at teardown. */
function launch(t: Teardown, dir: string, port: number): PostgresCluster {
  const data = join(dir, "data");
  // Durable as production runs it (fsync and synchronous_commit on); the socket stays in the
  // temporary directory so nothing is left in /var/run.
  const options = `-h 127.0.0.1 -p ${port} -k ${dir} -c fsync=on -c synchronous_commit=on -c max_connections=200`;
  const start = () => run("pg_ctl", ["-D", data, "-o", options, "-l", join(dir, "log"), "-w", "-t", "60", "start"]);
  const stop = () => run("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
  start();
  let running = true;
  t.teardown(() => {
    if (running) {
      try {
        run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      } catch {
        // Already stopped by the test.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const url = (database = "postgres") => `postgres://certwright@127.0.0.1:${port}/${database}`;
  return {
    port,
    url,
    async createDatabase(prefix = "certwright") {
      const name = `${prefix}_${process.pid}_${++databases}`;
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop() {
      stop();
      running = false;
    },
    start() {
      start();
      running = true;
    },
    async startStandby(t) {
      const standbyDir = clusterDir();
      try {
        // -R writes standby.signal and primary_conninfo; -X stream copies the WAL written meanwhile.
        run("pg_basebackup", ["-D", join(standbyDir, "data"), "-h", "127.0.0.1", "-p", String(port), "-U", "certwright", "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"]);
      } catch (error) {
        rmSync(standbyDir, { recursive: true, force: true });
        throw error;
      }
      const standby = launch(t, standbyDir, await freePort());
      return { ...standby, promote: () => run("pg_ctl", ["-D", join(standbyDir, "data"), "-w", "-t", "60", "promote"]) };
    },
  };
}

/**
 * A migrated database on a new cluster and two pools on it, as two replicas of the service would
 * hold (closed at teardown).
 */
export async function twoReplicas(t: Teardown): Promise<{ url: string; pools: [pg.Pool, pg.Pool] }> {
  const url = await (await startPostgres(t)).createDatabase();
  const pools: [pg.Pool, pg.Pool] = [new pg.Pool({ connectionString: url, max: 4 }), new pg.Pool({ connectionString: url, max: 4 })];
  t.teardown(() => Promise.all(pools.map((pool) => pool.end())));
  const client = await pools[0].connect();
  try {
    await migratePostgres(client);
  } finally {
    client.release();
  }
  return { url, pools };
}
