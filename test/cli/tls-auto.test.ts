// Zero-setup TLS: --tls-hosts has the service issue its own serving certificate from its CA, and
// renew it two thirds into its lifetime without a restart.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type PeerCertificate } from "node:tls";
import { once } from "node:events";
import Database from "better-sqlite3";
import t from "tap";
import { childEnv, freePort, mainJs, runCli, tempDir } from "../helpers/server.js";

/** Connects with only the CA as trust anchor and returns the certificate the service presented. */
async function servedCertificate(port: number, ca: string, servername?: string): Promise<PeerCertificate> {
  const socket = connect({ host: "127.0.0.1", port, ca, ...(servername ? { servername } : {}) });
  await once(socket, "secureConnect");
  const certificate = socket.getPeerCertificate();
  socket.destroy();
  return certificate;
}

t.test("--tls-hosts serves a certificate from the service's own CA, and renews it", async (t) => {
  const cwd = tempDir(t);
  const dataDir = join(cwd, "data");
  const port = await freePort();
  // startService polls over plain HTTP; this one speaks only HTTPS, so it is spawned here.
  const child = spawn(process.execPath, [mainJs, "serve", "--data-dir", dataDir, "--port", String(port), "--tls-hosts", "127.0.0.1,localhost,pki.internal", "--tls-lifetime", "30s"], {
    cwd,
    env: childEnv(),
    stdio: "ignore",
  });
  t.teardown(() => {
    child.kill("SIGKILL");
  });
  const deadline = Date.now() + 15_000;
  let first: PeerCertificate | undefined;
  while (!first && Date.now() < deadline) {
    try {
      first = await servedCertificate(port, readFileSync(join(dataDir, "ca.pem"), "utf8"));
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  t.ok(first, "a client trusting only the CA connects to 127.0.0.1");
  const ca = readFileSync(join(dataDir, "ca.pem"), "utf8");
  t.equal(first!.subject.CN, "localhost", "the first host name: an address stays in the SANs");
  t.match(first!.subjectaltname, /IP Address:127\.0\.0\.1/);
  t.match(first!.subjectaltname, /DNS:localhost/);
  t.match(first!.subjectaltname, /DNS:pki\.internal/);
  const viaName = await servedCertificate(port, ca, "localhost");
  t.equal(viaName.serialNumber, first!.serialNumber, "the same certificate serves every name it holds");
  t.notOk(readdirSync(dataDir).some((name) => /tls|serving/.test(name)), "the serving key is never written to disk");

  // 30 s lifetime, backdated 3 s: renewal is due 17 s after start.
  await new Promise((resolve) => setTimeout(resolve, 19_000));
  const renewed = await servedCertificate(port, ca);
  t.not(renewed.serialNumber, first!.serialNumber, "a new certificate after two thirds of the lifetime");
  t.not(renewed.fingerprint256, first!.fingerprint256);

  const db = new Database(join(dataDir, "certs.db"), { readonly: true });
  const rows = db.prepare("SELECT profile, requested_by, common_name FROM certificates WHERE profile = 'serving'").all();
  db.close();
  t.equal(rows.length, 2, "each serving certificate is recorded");
  t.match(rows[0], { profile: "serving", requested_by: "certwright", common_name: "localhost" });
});

t.test("--tls-hosts with --tls-cert, or a lifetime under 30s, is bad usage", async (t) => {
  const cwd = tempDir(t);
  const both = await runCli(t, ["serve", "--tls-hosts", "localhost", "--tls-cert", "a.pem", "--tls-key", "b.pem"], { cwd });
  t.equal(both.code, 2);
  t.match(both.stderr, /--tls-hosts and --tls-cert/);
  const short = await runCli(t, ["serve", "--tls-hosts", "localhost", "--tls-lifetime", "5s"], { cwd });
  t.equal(short.code, 2);
  t.match(short.stderr, /at least 30s/);
});
