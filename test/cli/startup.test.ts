// Start-up refuses a CA outside its validity window, with one line naming the file and the date.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { datedCa } from "../helpers/dated-ca.js";
import { freePort, isListening, mustOpenssl, runCli, startService, tempDir, writeFile } from "../helpers/server.js";

function oneLine(t: Test, stderr: string) {
  const lines = stderr.trim().split("\n");
  t.equal(lines.length, 1, `one line on stderr: ${JSON.stringify(stderr)}`);
  t.match(lines[0], /^certwright: cannot start: /);
  t.notMatch(stderr, /\n\s+at /, "no stack trace");
}

t.test("an expired --ca: exit 1, one line with the file and the date, nothing listening, nothing made", async (t) => {
  const cwd = tempDir(t);
  const { certificate, key } = await datedCa(new Date("2020-01-01T00:00:00Z"), new Date("2020-01-02T00:00:00Z"), "Old CA");
  writeFile(cwd, "old-ca.pem", certificate);
  writeFile(cwd, "old-ca-key.pem", key);
  // openssl agrees that it is expired.
  t.match(mustOpenssl(["x509", "-in", join(cwd, "old-ca.pem"), "-noout", "-enddate"]), /notAfter=Jan {2}2 00:00:00 2020 GMT/);
  const port = await freePort();
  const result = await runCli(t, ["serve", "--port", String(port), "--ca", "old-ca.pem", "--ca-key", "old-ca-key.pem"], { cwd });
  t.equal(result.code, 1, "exit code 1");
  oneLine(t, result.stderr);
  t.match(result.stderr, /expired on 2020-01-02T00:00:00\.000Z/, "says when it expired");
  t.match(result.stderr, /certificate old-ca\.pem/, "names the certificate file");
  t.notOk(await isListening(port), "nothing listens");
  t.notOk(existsSync(join(cwd, "data", "certs.db")), "no database is made");
});

t.test("an expired CA in the data directory is refused too, and is not replaced", async (t) => {
  const cwd = tempDir(t);
  const dataDir = join(cwd, "data");
  mkdirSync(dataDir);
  const { certificate, key } = await datedCa(new Date("2019-03-01T00:00:00Z"), new Date("2024-03-01T12:00:00Z"));
  writeFile(dataDir, "ca.pem", certificate);
  writeFile(dataDir, "ca-key.pem", key);
  const result = await runCli(t, ["serve", "--port", String(await freePort())], { cwd });
  t.equal(result.code, 1);
  oneLine(t, result.stderr);
  t.match(result.stderr, /expired on 2024-03-01T12:00:00\.000Z/);
  t.match(result.stderr, /data\/ca\.pem/, "names the data directory's ca.pem");
  t.equal(readFileSync(join(dataDir, "ca.pem"), "utf8"), certificate, "ca.pem is left as it was");
  t.equal(readFileSync(join(dataDir, "ca-key.pem"), "utf8"), key, "ca-key.pem is left as it was");
});

t.test("a CA not valid yet: exit 1, one line with the file and the date", async (t) => {
  const cwd = tempDir(t);
  const { certificate, key } = await datedCa(new Date("2090-01-01T00:00:00Z"), new Date("2095-01-01T00:00:00Z"), "Future CA");
  writeFile(cwd, "future-ca.pem", certificate);
  writeFile(cwd, "future-ca-key.pem", key);
  const port = await freePort();
  const result = await runCli(t, ["serve", "--port", String(port), "--ca", "future-ca.pem", "--ca-key", "future-ca-key.pem"], { cwd });
  t.equal(result.code, 1);
  oneLine(t, result.stderr);
  t.match(result.stderr, /not valid until 2090-01-01T00:00:00\.000Z/);
  t.match(result.stderr, /certificate future-ca\.pem/);
  t.notOk(await isListening(port));
});

t.test("the same CA files with a current validity window start fine", async (t) => {
  const cwd = tempDir(t);
  const now = Date.now();
  const { certificate, key } = await datedCa(new Date(now - 3_600_000), new Date(now + 30 * 86_400_000), "Current CA");
  writeFile(cwd, "ca.pem", certificate);
  writeFile(cwd, "ca-key.pem", key);
  const server = await startService(t, { cwd, args: ["--ca", "ca.pem", "--ca-key", "ca-key.pem"] });
  t.ok(await isListening(server.port));
});
