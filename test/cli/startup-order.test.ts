// Start-up refusals that must come before anything is made, and must not hang.
import { existsSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import t from "tap";
import { freePort, runCli, tempDir } from "../helpers/server.js";

t.test("a port in use is refused before a CA or database is made", async (t) => {
  const cwd = tempDir(t);
  const port = await freePort();
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(port, "127.0.0.1", resolve));
  t.teardown(() => holder.close());
  const result = await runCli(t, ["serve", "--data-dir", join(cwd, "data"), "--port", String(port)], { cwd, timeoutMs: 20_000 });
  t.equal(result.code, 1);
  t.match(result.stderr, /^certwright: cannot start: port \d+ on 127\.0\.0\.1 is already in use; pick another with --port\n$/);
  t.notOk(existsSync(join(cwd, "data")), "no data directory, CA or database was made");
});

t.test("a data directory under /proc is refused at once with one line (Node's recursive mkdir never returned)", { skip: existsSync("/proc/self") ? false : "no /proc here" }, async (t) => {
  const cwd = tempDir(t);
  const started = Date.now();
  const result = await runCli(t, ["serve", "--data-dir", "/proc/certwright-nope/data", "--port", String(await freePort())], { cwd, timeoutMs: 20_000 });
  t.equal(result.code, 1);
  t.match(result.stderr, /^certwright: cannot start: data directory \/proc\/certwright-nope\/data is not writable \(ENOENT\); pick another with --data-dir\n$/);
  t.ok(Date.now() - started < 15_000, "and promptly");
});

t.test("a data directory that is a file is refused with one line", async (t) => {
  const cwd = tempDir(t);
  writeFileSync(join(cwd, "data"), "not a directory");
  const result = await runCli(t, ["serve", "--data-dir", join(cwd, "data"), "--port", String(await freePort())], { cwd, timeoutMs: 20_000 });
  t.equal(result.code, 1);
  t.match(result.stderr, /^certwright: cannot start: data directory .*data is not writable \(ENOTDIR\); pick another with --data-dir\n$/);
});
