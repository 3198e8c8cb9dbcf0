// Start-up and stop failures that used to leave something behind: a full disk's half-made CA, a
// bad --tls-hosts that printed a stack and kept running, and a SIGTERM that a dead stdout pipe held.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { childEnv, freePort, isListening, mainJs, oneLine, postJson, runCli, serveArgs, startService, tempDir } from "../helpers/server.js";

// Many real starts and stops of the service: more than the two minutes a file gets by default, on a busy machine.
t.setTimeout(300_000);

/** A full disk is a small tmpfs, which needs root (CI runs as root) and a system that lets it mount. */
function canMountTmpfs(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = mkdtempSync(join(tmpdir(), "certwright-mount-probe-"));
  try {
    if (spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe]).status !== 0) return false;
    return spawnSync("umount", [probe]).status === 0;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}
const canMount = canMountTmpfs();

t.test("a first start on a full disk leaves nothing half-made; the next start on a good disk works", { skip: canMount ? false : "mounting a small tmpfs needs root" }, async (t) => {
  const mount = tempDir(t, "certwright-tmpfs-");
  t.equal(spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mount]).status, 0, "a 64 KiB tmpfs");
  try {
    await fullDiskCases(t, mount);
  } finally {
    // Before tempDir's teardown removes the folder it is mounted on.
    spawnSync("umount", ["-l", mount]);
  }
});

async function fullDiskCases(t: Test, mount: string) {
  const pageSize = 4096;
  // Free pages when the start begins: 1 fits the lock file only, 2 the CA key, 3 both CA files, 6 not the database.
  for (const freePages of [1, 2, 3, 6]) {
    await t.test(`${freePages} page(s) free`, async (t) => {
      for (const name of readdirSync(mount)) rmSync(join(mount, name), { recursive: true, force: true });
      t.equal(spawnSync("mount", ["-o", "remount,size=64k", mount]).status, 0);
      const filler = join(mount, "filler");
      writeFileSync(filler, Buffer.alloc((16 - freePages) * pageSize));
      const dataDir = join(mount, "data");
      const failed = await runCli(t, await serveArgs(dataDir), { cwd: mount });
      t.equal(failed.code, 1, "exit 1");
      oneLine(t, failed.stderr);
      const left = existsSync(dataDir) ? readdirSync(dataDir).filter((name) => name !== "lock") : [];
      t.same(left, [], `nothing but the lock file is left (${failed.stderr.trim()})`);
      rmSync(filler);
      t.equal(spawnSync("mount", ["-o", "remount,size=4m", mount]).status, 0, "a disk with room");
      const server = await startService(t, { cwd: mount, args: ["--data-dir", dataDir, "--workers", "1"] });
      const answer = await postJson(server.api, "newcert", { request: { CN: "after.example", hosts: ["after.example"], key: { algo: "ecdsa", size: 256 } } });
      t.equal(answer.status, 200, "the next start on a good disk serves and signs");
      await server.stop("SIGTERM");
    });
  }
}

t.test("serve --tls-hosts with a bad host: exit 2 with one line, nothing keeps running", async (t) => {
  const cwd = tempDir(t);
  const port = await freePort();
  const result = await runCli(t, ["serve", "--port", String(port), "--tls-hosts", "bad host!"], { cwd, timeoutMs: 20_000 });
  t.equal(result.code, 2);
  oneLine(t, result.stderr);
  t.match(result.stderr, /--tls-hosts: "bad host!" is not a valid DNS name.*it contains a space/);
  t.notOk(await isListening(port));
});

t.test("SIGTERM exits promptly when stdout is a pipe whose reader is gone", async (t) => {
  const cwd = tempDir(t);
  const fifo = join(cwd, "stdout.fifo");
  t.equal(spawnSync("mkfifo", [fifo]).status, 0);
  const reader = spawn("cat", [fifo], { stdio: ["ignore", "ignore", "ignore"] });
  const writeEnd = openSync(fifo, "w");
  const port = await freePort();
  const child = spawn(process.execPath, [mainJs, "serve", "--port", String(port), "--workers", "1"], { cwd, env: childEnv(), stdio: ["ignore", writeEnd, "pipe"] });
  closeSync(writeEnd);
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const exited = once(child, "exit");
  const deadline = Date.now() + 30_000;
  while (!(await fetch(`http://127.0.0.1:${port}/api/v1/cfssl/health`).then((r) => r.ok, () => false))) {
    if (Date.now() > deadline) throw new Error("the service did not start");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  reader.kill("SIGKILL");
  await once(reader, "exit");
  const stopAt = Date.now();
  child.kill("SIGTERM");
  const bound = 5_000 + 1_000 + 2_000; // the grace for requests in flight, the log's last second, and a slow machine's margin
  const outcome = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve("still running"), bound))]);
  t.not(outcome, "still running", `exited within ${bound} ms of SIGTERM`);
  t.ok(Date.now() - stopAt < bound, `${Date.now() - stopAt} ms`);
  t.notOk(await isListening(port));
});
