// Live reload on the real service: edit the --config file and send SIGHUP (what systemd's
// ExecReload does), then break the file and send SIGHUP again: the old config keeps serving and the
// log says why. The admin endpoint answers the same way over HTTP.
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { postForm, startService, tempDir, type ServerProcess } from "../helpers/server.js";

const configA = {
  signing: {
    default: { usages: ["signing", "key encipherment", "server auth", "client auth"], expiry: "8760h" },
    profiles: { short: { usages: ["signing", "key encipherment", "server auth"], expiry: "1h" } },
  },
};

const configB = {
  signing: {
    default: configA.signing.default,
    profiles: { ...configA.signing.profiles, added: { usages: ["signing", "key encipherment", "client auth"], expiry: "3h" } },
  },
};

/** Waits until the service's output matches, counting only what came after `from` characters. */
async function waitForLog(server: ServerProcess, pattern: RegExp, from: number, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = server
      .stdout()
      .slice(from)
      .split("\n")
      .find((l) => pattern.test(l));
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no log line matching ${pattern} within ${timeoutMs} ms:\n${server.stdout().slice(from)}\n${server.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function lifetimeHours(pem: string): number {
  const cert = new X509Certificate(pem);
  return Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 3_600_000);
}

const newCert = (server: ServerProcess, profile: string) => postForm(server.api, "newcert", { request: { CN: "svc.internal", hosts: ["svc.internal"] }, profile });

t.test("SIGHUP reloads the signing config; a broken file keeps the old one serving and the log says why", async (t) => {
  const cwd = tempDir(t);
  const configPath = join(cwd, "ca-config.json");
  writeFileSync(configPath, JSON.stringify(configA));
  // Two signer threads: the reload reaches each of them.
  const server = await startService(t, { cwd, args: ["--config", configPath, "--data-dir", join(cwd, "data"), "--workers", "2"] });

  t.equal((await newCert(server, "added")).body.errors[0]?.code, 5400, "no profile \"added\" at start");

  writeFileSync(configPath, JSON.stringify(configB));
  let mark = server.stdout().length;
  server.child.kill("SIGHUP");
  const reloaded = JSON.parse(await waitForLog(server, /signing config reloaded/, mark)) as { msg: string; level: number; generation: number; path: string };
  t.equal(reloaded.msg, "signing config reloaded: 3 profiles");
  t.equal(reloaded.level, 30, "at info level");
  t.equal(reloaded.generation, 1);
  t.equal(reloaded.path, configPath);
  const added = await newCert(server, "added");
  t.equal(added.status, 200, JSON.stringify(added.body.errors));
  t.equal(lifetimeHours(added.body.result.certificate), 3, "the new profile signs, in the worker threads too");

  writeFileSync(configPath, JSON.stringify({ signing: { profiles: { added: { usages: ["signing"], expiry: "three hours" } } } }));
  mark = server.stdout().length;
  server.child.kill("SIGHUP");
  const refused = JSON.parse(await waitForLog(server, /signing config not reloaded/, mark)) as { msg: string; level: number };
  t.equal(refused.level, 50, "at error level");
  t.match(refused.msg, `${configPath}: signing.profiles.added.expiry: "three hours" is not a positive duration`, "naming the file and the field");
  t.equal(server.child.exitCode, null, "the service keeps running");
  const still = await newCert(server, "added");
  t.equal(still.status, 200, "the old config still serves");
  t.equal(lifetimeHours(still.body.result.certificate), 3);
  t.equal(lifetimeHours((await newCert(server, "short")).body.result.certificate), 1);

  const endpoint = await postForm(`${server.url}/api/v1/admin`, "reload", {});
  t.equal(endpoint.status, 400, "the admin endpoint refuses the broken file too");
  t.equal(endpoint.body.errors[0]?.code, 12300);
  writeFileSync(configPath, JSON.stringify(configA));
  const fixed = await postForm(`${server.url}/api/v1/admin`, "reload", {});
  t.equal(fixed.status, 200, JSON.stringify(fixed.body.errors));
  t.same(fixed.body.result, { generation: 2, profiles: ["default", "short"] });
  t.equal((await newCert(server, "added")).body.errors[0]?.code, 5400, "and its reload takes effect");

  t.same(await server.stop("SIGTERM"), { code: 0, signal: null }, "and stops cleanly");
  t.equal(server.stderr(), "", "nothing on stderr");
});
