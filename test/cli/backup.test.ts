// `certwright backup` while the service signs: the copy opens, checks, and holds every certificate
// answered before the backup began.
import { X509Certificate } from "node:crypto";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import t from "tap";
import { decimalSerial, mustOpenssl, postJson, runCli, startService, tempDir } from "../helpers/server.js";

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
