// `certwright backup` while the service signs: the copy opens, checks, and holds every certificate
// answered before the backup began.
import { spawn, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import t from "tap";
import { openDatabase } from "../../src/store/database.js";
import { decimalSerial, mainJs, mustOpenssl, postJson, runCli, startService, tempDir } from "../helpers/server.js";

t.test("a backup taken under load is consistent and complete up to its start", async (t) => {
  const cwd = tempDir(t);
  const dataDir = join(cwd, "data");
  const server = await startService(t, { cwd, args: ["--data-dir", dataDir, "--workers", "1"] });
  const csr = mustOpenssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(cwd, "k.pem"), "-subj", "/CN=load.internal", "-addext", "subjectAltName=DNS:load.internal"]);

  const answered: string[] = [];
  let failures = 0;
  let stop = false;
  const client = async () => {
    while (!stop) {
      const answer = await postJson(server.api, "sign", { certificate_request: csr, profile: "server" });
      if (answer.status === 200) answered.push(decimalSerial(new X509Certificate(answer.body.result.certificate).serialNumber));
      else failures++;
    }
  };
  const clients = Array.from({ length: 6 }, client);
  while (answered.length < 40) await new Promise((resolve) => setTimeout(resolve, 10));

  const before = [...answered];
  const out = join(cwd, "certs-backup.db");
  writeFileSync(out, "an older backup, replaced");
  const result = await runCli(t, ["backup", "--data-dir", dataDir, "--out", out], { cwd, timeoutMs: 30_000 });
  const duringBackup = answered.length - before.length;
  await new Promise((resolve) => setTimeout(resolve, 200));
  stop = true;
  await Promise.all(clients);

  t.equal(result.code, 0, result.stderr);
  t.match(result.stdout, /^backed up \d+ certificates \(schema version \d+, \d+ bytes\) to /);
  t.match(result.stdout, /ca-key\.pem: keep a copy/);
  t.equal(failures, 0, "the service kept answering");
  t.ok(duringBackup > 0, `certificates were issued while the backup ran (${duringBackup})`);
  t.same(readdirSync(cwd).filter((name) => name.includes(".partial-")), [], "no partial file is left");

  const copy = new Database(out, { readonly: true });
  t.teardown(() => copy.close());
  t.equal(copy.pragma("integrity_check", { simple: true }), "ok");
  t.equal(copy.pragma("journal_mode", { simple: true }), "delete", "one self-contained file");
  t.notOk(existsSync(`${out}-wal`));
  const copied = new Set((copy.prepare("SELECT serial_number FROM certificates").all() as { serial_number: string }[]).map((row) => row.serial_number));
  t.equal(Number(/backed up (\d+)/.exec(result.stdout)?.[1]), copied.size, "the count it printed");
  t.ok(before.every((serial) => copied.has(serial)), `every certificate answered before the backup (${before.length}) is in the copy (${copied.size})`);

  await server.stop("SIGTERM");
  const live = new Database(join(dataDir, "certs.db"), { readonly: true });
  t.teardown(() => live.close());
  const liveSerials = new Set((live.prepare("SELECT serial_number FROM certificates").all() as { serial_number: string }[]).map((row) => row.serial_number));
  t.ok([...copied].every((serial) => liveSerials.has(serial)), "the copy holds nothing the database does not");
  t.ok(answered.every((serial) => liveSerials.has(serial)), "and the live database every answered certificate");
  t.equal(copy.pragma("user_version", { simple: true }), live.pragma("user_version", { simple: true }), "the same schema version");
});

t.test("backup refuses without --out, and without a database", async (t) => {
  const cwd = tempDir(t);
  const noOut = await runCli(t, ["backup", "--data-dir", cwd], { cwd });
  t.equal(noOut.code, 2);
  t.match(noOut.stderr, /--out FILE is required/);
  const noDb = await runCli(t, ["backup", "--data-dir", join(cwd, "nowhere"), "--out", join(cwd, "b.db")], { cwd });
  t.equal(noDb.code, 1);
  t.match(noDb.stderr, /no database at .*nowhere\/certs\.db/);
  t.notOk(existsSync(join(cwd, "b.db")));
  const help = await runCli(t, ["backup", "--help"], { cwd });
  t.equal(help.code, 0);
  t.match(help.stdout, /online backup/);
});

/** A data directory whose certs.db is big enough (about 300 MB) that copying it takes a while. */
function bigDatabase(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true });
  const db = openDatabase(join(dataDir, "certs.db"));
  db.pragma("synchronous = OFF");
  db.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4800)
    INSERT INTO certificates (serial_number, authority_key_identifier, profile, expiry, pem, issued_at, not_before)
    SELECT i, 'aa', 'server', '2030-01-01T00:00:00.000Z', hex(randomblob(32768)), '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z' FROM n`);
  db.close();
}

/** Spawns `certwright backup` and kills it with `signal` once its partial copy has some pages written. */
async function killMidway(dataDir: string, out: string, signal: NodeJS.Signals) {
  const child = spawn(process.execPath, [mainJs, "backup", "--data-dir", dataDir, "--out", out], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, sig) => resolve({ code, signal: sig })));
  const partial = `${out}.partial-${child.pid}`;
  let sizeWhenKilled = 0;
  while (child.exitCode === null) {
    const size = existsSync(partial) ? statSync(partial).size : 0;
    if (size > 1024 * 1024) {
      sizeWhenKilled = size;
      child.kill(signal);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return { pid: child.pid!, partial, sizeWhenKilled, exit: await exited, stderr: () => stderr };
}

t.test("a backup killed mid-way leaves nothing the next run does not remove; a stopped one removes its own", async (t) => {
  const cwd = tempDir(t);
  const dataDir = join(cwd, "data");
  bigDatabase(dataDir);
  const out = join(cwd, "certs-backup.db");

  const killed = await killMidway(dataDir, out, "SIGKILL");
  t.ok(killed.sizeWhenKilled > 0, `killed with ${killed.sizeWhenKilled} bytes copied`);
  t.equal(killed.exit.signal, "SIGKILL");
  t.ok(existsSync(killed.partial), "SIGKILL leaves the partial copy behind");
  t.notOk(existsSync(out));

  // Beside it: a live process's partial copy (another run in progress) and a file that only has the name.
  const live = `${out}.partial-${process.pid}`;
  writeFileSync(live, "SQLite format 3\0another run, still copying");
  const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
  const notOurs = join(cwd, `notes.txt.partial-${dead}`);
  writeFileSync(notOurs, "not a database");

  const again = await runCli(t, ["backup", "--data-dir", dataDir, "--out", out], { cwd, timeoutMs: 60_000 });
  t.equal(again.code, 0, again.stderr);
  t.match(again.stderr, new RegExp(`removed certs-backup\\.db\\.partial-${killed.pid}, left by a backup run that was killed`));
  t.match(again.stdout, /^backed up 4800 certificates/);
  t.notOk(existsSync(killed.partial), "the killed run's partial copy is gone");
  t.ok(existsSync(live), "a live run's partial copy stays");
  t.ok(existsSync(notOurs), "a file that is not a SQLite copy stays");
  rmSync(live);

  // SIGTERM (systemd's stop): the run removes its own partial copy before it exits.
  const stopped = await killMidway(dataDir, join(cwd, "second.db"), "SIGTERM");
  t.ok(stopped.sizeWhenKilled > 0 || stopped.exit.code === 0, "stopped mid-way (or it had finished)");
  if (stopped.sizeWhenKilled > 0) t.equal(stopped.exit.code, 143, stopped.stderr());
  t.same(readdirSync(cwd).filter((name) => name.includes(".partial-") && name !== `notes.txt.partial-${dead}`), [], "no partial copy is left");
});
