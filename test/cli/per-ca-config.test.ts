// Each CA under its own signing config, end to end on the compiled service with signer threads:
// --ca-config's "config" and a multirootca roots file's `config =` per section; SIGHUP re-reads
// every file, all or nothing; a CA's broken file stops the start naming the CA and the file; and
// cfssl's own client (where Debian's golang-cfssl is installed) gets each CA's lifetime by label.
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import t from "tap";
import { cfsslSkip } from "../helpers/cfssl.js";
import { opensslCsr } from "../helpers/service-checks.js";
import { mustOpenssl, postJson, runCli, startService, tempDir, writeFile, type ServerProcess } from "../helpers/server.js";

function makeCa(dir: string, name: string, keyArgs: string[]): string {
  const cert = join(dir, `${name}.pem`);
  mustOpenssl([
    "req", "-x509", "-newkey", ...keyArgs, "-nodes", "-keyout", join(dir, `${name}-key.pem`), "-out", cert, "-days", "3650", "-subj", `/CN=per-CA config ${name} CA`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return cert;
}

const serverAuth = "1.3.6.1.5.5.7.3.1";
const clientAuth = "1.3.6.1.5.5.7.3.2";

const webConfig = (expiry = "720h") => ({ signing: { default: { usages: ["digital signature", "server auth"], expiry }, profiles: { web: { usages: ["digital signature", "server auth"], expiry } } } });
const deviceConfig = (expiry = "48h") => ({ signing: { default: { usages: ["digital signature", "client auth"], expiry }, profiles: { device: { usages: ["digital signature", "client auth"], expiry } } } });

function lifetimeHours(pem: string): number {
  const cert = new X509Certificate(pem);
  return Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 3_600_000);
}

async function waitForLog(server: ServerProcess, pattern: RegExp, from: number, timeoutMs = 5_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = server.stdout().slice(from).split("\n").find((l) => pattern.test(l));
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no log line matching ${pattern} within ${timeoutMs} ms:\n${server.stdout().slice(from)}\n${server.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

t.test("serve --ca-config with a config per CA: each label signs under its own, in the signer threads; SIGHUP takes all files or none", async (t) => {
  const cwd = tempDir(t, "certwright-per-ca-config-");
  const web = makeCa(cwd, "web", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
  const device = makeCa(cwd, "device", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
  writeFile(cwd, "signing.json", JSON.stringify(webConfig()));
  const devicePath = writeFile(cwd, "device-signing.json", JSON.stringify(deviceConfig()));
  writeFile(cwd, "cas.json", JSON.stringify({ default: "web", cas: { web: { certificate: "web.pem", key: "web-key.pem" }, device: { certificate: "device.pem", key: "device-key.pem", config: "device-signing.json" } } }));
  const service = await startService(t, { cwd, args: ["--ca-config", "cas.json", "--config", "signing.json", "--data-dir", "data", "--workers", "2", "--log-level", "info"] });
  t.match(await waitForLog(service, /its own signing config/, 0), `CA \\"device\\" signs under its own signing config ${devicePath}`);

  const sign = (cn: string, extra: Record<string, unknown>) => postJson(service.api, "sign", { certificate_request: opensslCsr(cwd, cn), ...extra });
  const verifies = (pem: string, ca: string) => new X509Certificate(pem).verify(new X509Certificate(mustOpenssl(["x509", "-in", ca])).publicKey);
  const viaDevice = await sign("sensor.internal", { label: "device", profile: "device" });
  t.equal(viaDevice.status, 200, JSON.stringify(viaDevice.body));
  t.ok(verifies(viaDevice.body.result.certificate, device));
  t.equal(lifetimeHours(viaDevice.body.result.certificate), 48, "the device CA's 48h");
  t.same(new X509Certificate(viaDevice.body.result.certificate).keyUsage, [clientAuth]);
  const viaWeb = await sign("www.internal", { profile: "web" });
  t.equal(viaWeb.status, 200);
  t.ok(verifies(viaWeb.body.result.certificate, web));
  t.equal(lifetimeHours(viaWeb.body.result.certificate), 720, "--config's 720h for the CA without its own");
  t.same(new X509Certificate(viaWeb.body.result.certificate).keyUsage, [serverAuth]);
  const foreign = await sign("x.internal", { label: "device", profile: "web" });
  t.equal(foreign.status, 400);
  t.match(foreign.body.errors?.[0]?.message, /profile "web" does not exist; the profiles are "default", "device"/);
  const newcert = await postJson(service.api, "newcert", { request: { CN: "n.internal", hosts: ["n.internal"] }, label: "device" });
  t.equal(newcert.status, 200);
  t.equal(lifetimeHours(newcert.body.result.certificate), 48, "newcert too");
  const info = await postJson(service.api, "info", { label: "device", profile: "device" });
  t.equal(info.body.result.expiry, "48h");

  writeFile(cwd, "device-signing.json", JSON.stringify(deviceConfig("12h")));
  let mark = service.stdout().length;
  service.child.kill("SIGHUP");
  const reloaded = JSON.parse(await waitForLog(service, /signing configs? reloaded/, mark)) as { msg: string; cas: Record<string, string[]> };
  t.equal(reloaded.msg, "signing configs reloaded: 2 files for 2 CAs");
  t.same(reloaded.cas, { web: ["default", "web"], device: ["default", "device"] });
  const after = await sign("after.internal", { label: "device", profile: "device" });
  t.equal(lifetimeHours(after.body.result.certificate), 12, "the reloaded device config, in the threads");
  t.equal(lifetimeHours((await sign("w2.internal", { profile: "web" })).body.result.certificate), 720);

  writeFile(cwd, "signing.json", JSON.stringify(webConfig("24h")));
  writeFile(cwd, "device-signing.json", JSON.stringify({ signing: { default: { usages: ["digital signature"], expiry: "soon" } } }));
  mark = service.stdout().length;
  service.child.kill("SIGHUP");
  const refused = JSON.parse(await waitForLog(service, /signing config not reloaded/, mark)) as { msg: string; level: number };
  t.equal(refused.level, 50);
  t.match(refused.msg, `the old ones stay in use: CA "device": ${devicePath}: signing.default.expiry`);
  t.equal(lifetimeHours((await sign("w3.internal", { profile: "web" })).body.result.certificate), 720, "--config's good change waits for the other file");
  t.equal(lifetimeHours((await sign("d3.internal", { label: "device" })).body.result.certificate), 12, "the device CA keeps its last good config");
  await service.stop("SIGTERM");

  // The same broken file at start: refused, naming the CA and the file.
  const run = await runCli(t, ["serve", "--port", "0", "--ca-config", "cas.json", "--config", "signing.json", "--data-dir", "data"], { cwd });
  t.equal(run.code, 1, run.stderr);
  t.match(run.stderr, `signing config: CA "device": ${devicePath}: signing.default.expiry`);
});

t.test("a multirootca roots file with a config per section", async (t) => {
  const cwd = tempDir(t, "certwright-per-ca-roots-");
  const primary = makeCa(cwd, "primary", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
  const backup = makeCa(cwd, "backup", ["rsa:2048"]);
  writeFile(cwd, "primary.json", JSON.stringify(webConfig("240h")));
  writeFile(cwd, "backup.json", JSON.stringify(deviceConfig("36h")));
  writeFile(cwd, "multiroot.conf", "[ primary ]\nprivate = file://primary-key.pem\ncertificate = primary.pem\nconfig = primary.json\n\n[ backup ]\nprivate = file://backup-key.pem\ncertificate = backup.pem\nconfig = backup.json\n");
  // No --config: each section names its own, as multirootca's roots files do.
  const service = await startService(t, { cwd, args: ["--ca-config", "multiroot.conf", "--data-dir", "data", "--workers", "1", "--log-level", "warn"] });
  for (const [label, profile, hours] of [["backup", "device", 36], ["", "web", 240], ["primary", "default", 240]] as const) {
    const answer = await postJson(service.api, "sign", { certificate_request: opensslCsr(cwd, `${label || "none"}.internal`), label, profile });
    t.equal(answer.status, 200, JSON.stringify(answer.body));
    t.equal(lifetimeHours(answer.body.result.certificate), hours, `label "${label}" profile ${profile}: its section's config`);
  }

  t.test("cfssl's own client by label gets each section's lifetime", { skip: cfsslSkip }, async (t) => {
    writeFile(cwd, "csr.json", JSON.stringify({ CN: "cfssl.internal", hosts: ["cfssl.internal"], key: { algo: "ecdsa", size: 256 } }));
    const remote = `localhost:${service.port}`;
    const cfssl = (args: string[]) => {
      const result = spawnSync("cfssl", args, { cwd, encoding: "utf8" });
      if (result.status !== 0) throw new Error(`cfssl ${args.join(" ")} failed (${result.status}): ${result.stderr}${result.stdout}`);
      return JSON.parse(result.stdout) as Record<string, string>;
    };
    const viaBackup = cfssl(["gencert", "-remote", remote, "-label", "backup", "-profile", "device", "csr.json"]);
    t.equal(lifetimeHours(viaBackup.cert!), 36);
    t.ok(new X509Certificate(viaBackup.cert!).checkIssued(new X509Certificate(mustOpenssl(["x509", "-in", backup]))), "the backup CA issued it");
    const viaPrimary = cfssl(["gencert", "-remote", remote, "-profile", "web", "csr.json"]);
    t.equal(lifetimeHours(viaPrimary.cert!), 240);
    t.ok(new X509Certificate(viaPrimary.cert!).checkIssued(new X509Certificate(mustOpenssl(["x509", "-in", primary]))));
    const refused = spawnSync("cfssl", ["gencert", "-remote", remote, "-label", "backup", "-profile", "web", "csr.json"], { cwd, encoding: "utf8" });
    t.not(refused.status, 0, "the primary's profile under the backup label is refused");
    // cfssl prints our answer inside its own error, its quotes escaped.
    t.match(refused.stderr + refused.stdout, /5400.*profile \W+web\W+ does not exist/);
  });
});
