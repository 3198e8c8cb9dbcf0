// `certwright renew` end to end against the real service: renewal past the window, nothing on a
// fresh certificate, --exec, --force, --daemon, and renewals interrupted at each step of the swap.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { X509Certificate } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { client, mode, pairMatches, startClient } from "../helpers/client.js";
import { freePort, mainJs, openssl, startService, tempDir } from "../helpers/server.js";

const usages = ["signing", "key encipherment", "server auth", "client auth"];
// NotBefore is "now" rounded to the minute, minus the backdate: with a one-hour backdate and a
// lifetime of 3700 s, a fresh certificate is at 96-98% of its lifetime, always past the window.
const config = {
  signing: {
    default: { usages, expiry: "8760h" },
    profiles: { late: { usages, expiry: "3700s", backdate: "1h" } },
  },
};

const workDir = tempDir(t, "certwright-renew-");
writeFileSync(join(workDir, "ca-config.json"), JSON.stringify(config));
const service = await startService(t, { cwd: workDir, args: ["--workers", "1", "--log-level", "warn", "--config", "ca-config.json"] });
const remote = service.url;
const caFile = join(workDir, "data", "ca.pem");

const csrJson = {
  CN: "svc.internal",
  hosts: ["svc.internal", "svc.default.svc.cluster.local", "10.0.0.9", "ops@example.com", "spiffe://cluster.local/ns/x/sa/svc"],
  names: [{ O: "Example Team", OU: "Platform", C: "US" }],
  key: { algo: "ecdsa", size: 384 },
};

/** gencert | json --bare NAME in `dir`, under `profile`. */
async function issue(t: Test, dir: string, name: string, profile: string, request: object = csrJson): Promise<void> {
  writeFileSync(join(dir, `${name}-csr.json`), JSON.stringify(request));
  const made = await client(t, ["gencert", "--remote", remote, "--profile", profile, `${name}-csr.json`], { cwd: dir });
  if (made.code !== 0) throw new Error(made.stderr);
  const written = await client(t, ["json", "--bare", name], { cwd: dir, input: made.stdout });
  if (written.code !== 0) throw new Error(written.stderr);
}

const certOf = (dir: string, name: string) => new X509Certificate(readFileSync(join(dir, `${name}.pem`)));
const read = (dir: string, file: string) => readFileSync(join(dir, file), "utf8");
const leftovers = (dir: string) => readdirSync(dir).filter((f) => /certwright-(new|lock)|\.tmp$/.test(f));

t.test("renew past the window: a new serial and key, the same names, --exec run, files in place", async (t) => {
  const dir = tempDir(t);
  await issue(t, dir, "svc", "late");
  const old = certOf(dir, "svc");
  const oldKey = read(dir, "svc-key.pem");
  const renewed = await client(
    t,
    ["renew", "--cert", "svc.pem", "--key", "svc-key.pem", "--remote", remote, "--profile", "late", "--exec", "touch reloaded && printf '%s %s' \"$CERTWRIGHT_CERT\" \"$CERTWRIGHT_KEY\" > exec-env"],
    { cwd: dir },
  );
  t.equal(renewed.code, 0, `renewed is exit 0: ${renewed.stderr}`);
  t.match(renewed.stdout, /certwright: renew: renewed svc\.pem: serial [0-9a-f]+, valid .* \(the old one was past its renewal point .*, (7\d|8\d|90)% of its lifetime\)/);
  t.match(renewed.stdout, /ran --exec/);
  t.equal(renewed.stderr, "", "no warning: the names came back the same");
  const fresh = certOf(dir, "svc");
  t.not(fresh.serialNumber, old.serialNumber, "a new serial");
  t.not(read(dir, "svc-key.pem"), oldKey, "a new key");
  t.ok(pairMatches(join(dir, "svc.pem"), join(dir, "svc-key.pem")), "the key belongs to the certificate");
  t.equal(fresh.subject, old.subject, "the same subject");
  t.equal(fresh.subjectAltName, old.subjectAltName, "the same SANs: DNS, IP, email and URI");
  t.match(fresh.subjectAltName, /DNS:svc\.internal.*IP Address:10\.0\.0\.9.*email:ops@example\.com.*URI:spiffe:\/\/cluster\.local\/ns\/x\/sa\/svc/);
  t.equal(fresh.publicKey.asymmetricKeyDetails?.namedCurve, "secp384r1", "a key of the same type: ECDSA P-384");
  t.equal(mode(join(dir, "svc-key.pem")), 0o600, "the new key is 0600");
  t.equal(openssl(["verify", "-CAfile", caFile, join(dir, "svc.pem")]).status, 0, "openssl verifies the new certificate");
  t.ok(existsSync(join(dir, "reloaded")), "--exec ran");
  t.equal(read(dir, "exec-env"), "svc.pem svc-key.pem", "with the files in CERTWRIGHT_CERT and CERTWRIGHT_KEY");
  t.same(leftovers(dir), [], "no staged files or lock left");

  for (const key of [{ algo: "rsa", size: 2048 }, { algo: "ed25519" }]) {
    await issue(t, dir, key.algo, "late", { CN: `${key.algo}.internal`, hosts: [`${key.algo}.internal`], key });
    const before = certOf(dir, key.algo);
    const again = await client(t, ["renew", "--cert", `${key.algo}.pem`, "--key", `${key.algo}-key.pem`, "--remote", remote, "--profile", "late"], { cwd: dir });
    t.equal(again.code, 0, again.stderr);
    const after = certOf(dir, key.algo);
    t.not(after.serialNumber, before.serialNumber);
    t.equal(after.publicKey.asymmetricKeyType, before.publicKey.asymmetricKeyType, `${key.algo}: the same key type`);
    t.equal(after.publicKey.asymmetricKeyDetails?.modulusLength, before.publicKey.asymmetricKeyDetails?.modulusLength);
    t.ok(pairMatches(join(dir, `${key.algo}.pem`), join(dir, `${key.algo}-key.pem`)));
  }
});

t.test("renew on a fresh certificate does nothing and exits 3; --force renews it", async (t) => {
  const dir = tempDir(t);
  await issue(t, dir, "fresh", "default");
  const cert = read(dir, "fresh.pem");
  const key = read(dir, "fresh-key.pem");
  const args = ["renew", "--cert", "fresh.pem", "--key", "fresh-key.pem", "--remote", remote, "--exec", "touch reloaded"];
  const notDue = await client(t, args, { cwd: dir });
  t.equal(notDue.code, 3, "not due is exit 3");
  t.match(notDue.stdout, /fresh\.pem is not due: renewal point \S+ \((7\d|8\d|90)% of its lifetime, drawn this run in 70-90%\), expires \S+; nothing to do/);
  t.equal(notDue.stderr, "");
  t.equal(read(dir, "fresh.pem"), cert, "the certificate is untouched");
  t.equal(read(dir, "fresh-key.pem"), key, "the key is untouched");
  t.notOk(existsSync(join(dir, "reloaded")), "--exec did not run");
  const quiet = await client(t, [...args, "--quiet"], { cwd: dir });
  t.equal(quiet.code, 3);
  t.equal(quiet.stdout + quiet.stderr, "", "--quiet prints nothing");

  const forced = await client(t, [...args, "--force"], { cwd: dir });
  t.equal(forced.code, 0, forced.stderr);
  t.match(forced.stdout, /renewed fresh\.pem: .*\(--force\)/);
  t.not(read(dir, "fresh.pem"), cert);
  t.ok(pairMatches(join(dir, "fresh.pem"), join(dir, "fresh-key.pem")));
  t.ok(existsSync(join(dir, "reloaded")));
});

t.test("an interrupted renewal leaves the old pair or the new one", async (t) => {
  const dir = tempDir(t);
  await issue(t, dir, "svc", "default");
  const oldCert = read(dir, "svc.pem");
  const args = ["renew", "--cert", "svc.pem", "--key", "svc-key.pem", "--remote", remote, "--exec", "touch reloaded"];

  // Killed after the new pair is staged, before any rename: the old pair is in place and consistent.
  const staged = await client(t, [...args, "--force"], { cwd: dir, env: { CERTWRIGHT_TEST_INTERRUPT_RENEW: "staged" } });
  t.equal(staged.signal, "SIGKILL", "killed during the swap");
  t.equal(read(dir, "svc.pem"), oldCert, "the old certificate is in place");
  t.ok(pairMatches(join(dir, "svc.pem"), join(dir, "svc-key.pem")), "with its own key");
  t.ok(existsSync(join(dir, "svc.pem.certwright-new")), "the staged files are left behind");
  const cleanup = await client(t, args, { cwd: dir });
  t.equal(cleanup.code, 3, "the next run finds it not due");
  t.match(cleanup.stdout, /removed the staged files of a renewal interrupted before its swap/);
  t.same(leftovers(dir), [], "and removes the leftovers and the dead process's lock");
  t.notOk(existsSync(join(dir, "reloaded")));

  // Killed between the two renames (the worst moment): the next run finishes the swap.
  const between = await client(t, [...args, "--force"], { cwd: dir, env: { CERTWRIGHT_TEST_INTERRUPT_RENEW: "key-renamed" } });
  t.equal(between.signal, "SIGKILL");
  const stagedCert = read(dir, "svc.pem.certwright-new");
  t.ok(pairMatches(join(dir, "svc.pem.certwright-new"), join(dir, "svc-key.pem")), "the new key is in place, its certificate staged beside it");
  const finished = await client(t, args, { cwd: dir });
  t.equal(finished.code, 0, `finishing the swap counts as a renewal: ${finished.stderr}`);
  t.match(finished.stdout, /finished an interrupted renewal: svc\.pem and svc-key\.pem are the new pair/);
  t.equal(read(dir, "svc.pem"), stagedCert, "the new certificate is in place");
  t.not(read(dir, "svc.pem"), oldCert);
  t.ok(pairMatches(join(dir, "svc.pem"), join(dir, "svc-key.pem")), "with its key: the new pair");
  t.equal(mode(join(dir, "svc-key.pem")), 0o600);
  t.ok(existsSync(join(dir, "reloaded")), "--exec runs for the finished renewal");
  t.same(leftovers(dir), []);
  t.equal(openssl(["verify", "-CAfile", caFile, join(dir, "svc.pem")]).status, 0);
});

t.test("a key that does not belong to the certificate is refused unless --force; a running renewal's lock is respected", async (t) => {
  const dir = tempDir(t);
  await issue(t, dir, "a", "default");
  await issue(t, dir, "b", "default");
  const args = ["renew", "--cert", "a.pem", "--key", "b-key.pem", "--remote", remote];
  const refused = await client(t, args, { cwd: dir });
  t.equal(refused.code, 1);
  t.match(refused.stderr, /^certwright: renew: b-key\.pem is not the private key of a\.pem; check --cert and --key, or give --force/);
  const bKey = read(dir, "b-key.pem");
  const forced = await client(t, [...args, "--force"], { cwd: dir });
  t.equal(forced.code, 0, forced.stderr);
  t.not(read(dir, "b-key.pem"), bKey);
  t.ok(pairMatches(join(dir, "a.pem"), join(dir, "b-key.pem")));

  writeFileSync(join(dir, "a.pem.certwright-lock"), `${process.pid}\n`);
  const locked = await client(t, ["renew", "--cert", "a.pem", "--key", "b-key.pem", "--remote", remote, "--force"], { cwd: dir });
  t.equal(locked.code, 1);
  t.match(locked.stderr, new RegExp(`another renewal \\(process ${process.pid}\\) is working on a\\.pem`));
});

t.test("renew with the service down fails (exit 1) and changes nothing", async (t) => {
  const dir = tempDir(t);
  await issue(t, dir, "svc", "late");
  const cert = read(dir, "svc.pem");
  const down = await client(t, ["renew", "--cert", "svc.pem", "--key", "svc-key.pem", "--remote", `127.0.0.1:${await freePort()}`], { cwd: dir });
  t.equal(down.code, 1);
  t.match(down.stderr, /^certwright: renew: cannot connect to .*connection refused/);
  t.equal(read(dir, "svc.pem"), cert);
  t.same(leftovers(dir), []);
  const usage = await client(t, ["renew", "--cert", "svc.pem", "--remote", remote], { cwd: dir });
  t.equal(usage.code, 2);
  t.match(usage.stderr, /--cert FILE and --key FILE are required/);
});

t.test("--daemon renews when due, runs --exec, sleeps until the next point, and exits 0 on SIGTERM", async (t) => {
  const dir = tempDir(t);
  await issue(t, dir, "late", "late");
  await issue(t, dir, "fresh", "default");
  const before = certOf(dir, "late").serialNumber;
  const waitFor = async (run: ReturnType<typeof startClient>, pattern: RegExp) => {
    for (let i = 0; i < 300 && !pattern.test(run.stdout()); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    return pattern.test(run.stdout());
  };

  const due = startClient(t, ["renew", "--daemon", "--cert", "late.pem", "--key", "late-key.pem", "--remote", remote, "--profile", "late", "--exec", "touch reloaded"], { cwd: dir });
  t.ok(await waitFor(due, /ran --exec/), "renews at once (past the window) and runs --exec");
  t.not(certOf(dir, "late").serialNumber, before);
  t.ok(pairMatches(join(dir, "late.pem"), join(dir, "late-key.pem")));
  t.ok(existsSync(join(dir, "reloaded")));
  due.child.kill("SIGTERM");
  const dueExit = await due.done;
  t.equal(dueExit.code, 0, "SIGTERM: exit 0");
  t.match(dueExit.stderr, /the new certificate is already at its renewal point .* next attempt in 60 s/, "a certificate born due is not renewed in a loop");

  const waiting = startClient(t, ["renew", "--daemon", "--cert", "fresh.pem", "--key", "fresh-key.pem", "--remote", remote], { cwd: dir });
  t.ok(await waitFor(waiting, /next renewal of fresh\.pem at \S+ \((7\d|8\d|90)% of its lifetime\)/), "a fresh certificate: it says when, and sleeps");
  waiting.child.kill("SIGTERM");
  t.equal((await waiting.done).code, 0, "SIGTERM while sleeping: exit 0");
  t.match(waiting.stdout(), /SIGTERM: stopping/);
  t.same(leftovers(dir), [], "no lock left behind");
});

// A SIGTERM to a one-shot run lands before or after the swap, never inside it.
t.test("SIGTERM during a one-shot renewal leaves a consistent pair", async (t) => {
  const dir = tempDir(t);
  await issue(t, dir, "svc", "late");
  for (let i = 0; i < 3; i++) {
    const child = spawn(process.execPath, [mainJs, "renew", "--cert", "svc.pem", "--key", "svc-key.pem", "--remote", remote, "--profile", "late"], { cwd: dir, stdio: "ignore" });
    setTimeout(() => child.kill("SIGTERM"), 350 + i * 150);
    await once(child, "exit");
    t.ok(pairMatches(join(dir, "svc.pem"), join(dir, "svc-key.pem")), `interrupted at ${350 + i * 150} ms: the key matches the certificate`);
  }
});
