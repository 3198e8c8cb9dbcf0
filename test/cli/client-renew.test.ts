// `certwright renew` end to end against the real service: renewal past the window, nothing on a
// fresh certificate, --exec, --force, --daemon, and renewals interrupted at each step of the swap.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { X509Certificate } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import type { CommitStep } from "../../src/cli/client/commit-steps.js";
import { client, killAtCommitStep, mode, pairMatches, startClient } from "../helpers/client.js";
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
const store = (dir: string) => (existsSync(join(dir, ".certwright")) ? readdirSync(join(dir, ".certwright")).sort() : []);
/** Staged files, temporary links, locks: what a finished run never leaves. */
const leftovers = (dir: string) => [...readdirSync(dir), ...store(dir).map((f) => `.certwright/${f}`)].filter((f) => /certwright-(new|lock|link)|\.tmp$/.test(f));
const isLink = (path: string) => lstatSync(path).isSymbolicLink();

/**
 * `NAME.pem` and `NAME-key.pem` are relative links through `.certwright/NAME.pem-current` to the
 * newest generation, with at most the previous one beside it and nothing left over. Returns the generations.
 */
function cleanLinked(t: Test, dir: string, name: string): string[] {
  t.equal(readlinkSync(join(dir, `${name}.pem`)), `.certwright/${name}.pem-current/cert.pem`, `${name}.pem is a relative link through current`);
  t.equal(readlinkSync(join(dir, `${name}-key.pem`)), `.certwright/${name}.pem-current/key.pem`, `${name}-key.pem too`);
  const entries = store(dir).filter((f) => f.startsWith(`${name}.pem-`));
  const generations = entries.filter((f) => /-\d+$/.test(f)).sort((a, b) => Number(a.split("-").pop()) - Number(b.split("-").pop()));
  t.same(entries, [...generations, `${name}.pem-current`].sort(), "no temporary link in .certwright");
  t.ok(generations.length >= 1 && generations.length <= 2, `the current generation and at most the previous one (${generations.join(" ")})`);
  t.equal(readlinkSync(join(dir, ".certwright", `${name}.pem-current`)), generations.at(-1), "current names the newest generation");
  t.same(leftovers(dir), [], "no staged file, temporary link or lock");
  return generations;
}

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
  t.match(renewed.stdout, /certwright: renew: renewed svc\.pem: serial [0-9A-F]+, valid .* \(the old one was past its renewal point .*, (7\d|8\d|90)% of its lifetime\)/);
  t.match(renewed.stdout, /ran --exec/);
  t.notMatch(renewed.stderr, /warning/, "no warning: the names came back the same");
  const fresh = certOf(dir, "svc");
  t.not(fresh.serialNumber, old.serialNumber, "a new serial");
  t.not(read(dir, "svc-key.pem"), oldKey, "a new key");
  t.ok(pairMatches(join(dir, "svc.pem"), join(dir, "svc-key.pem")), "the key belongs to the certificate");
  t.equal(fresh.subject, old.subject, "the same subject");
  t.equal(fresh.subjectAltName, old.subjectAltName, "the same SANs: DNS, IP, email and URI");
  t.match(fresh.subjectAltName, /DNS:svc\.internal.*IP Address:10\.0\.0\.9.*email:ops@example\.com.*URI:spiffe:\/\/cluster\.local\/ns\/x\/sa\/svc/);
  t.equal(fresh.publicKey.asymmetricKeyDetails?.namedCurve, "secp384r1", "a key of the same type: ECDSA P-384");
  t.equal(mode(join(dir, "svc-key.pem")), 0o600, "the new key is 0600 (through the link)");
  t.equal(openssl(["verify", "-CAfile", caFile, join(dir, "svc.pem")]).status, 0, "openssl verifies the new certificate");
  t.ok(isLink(join(dir, "svc.pem")) && isLink(join(dir, "svc-key.pem")), "the files are links now");
  t.same(cleanLinked(t, dir, "svc"), ["svc.pem-1", "svc.pem-2"], "generation 1 is the old pair (for a rollback), 2 the new one");
  t.equal(readFileSync(join(dir, ".certwright/svc.pem-1/key.pem"), "utf8"), oldKey, "the old key is kept until the next renewal");
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

t.test("a renewal killed at any step leaves the old pair or the new one, and the next run tidies up", async (t) => {
  const dir = tempDir(t);
  await issue(t, dir, "svc", "default");
  const args = ["renew", "--cert", "svc.pem", "--key", "svc-key.pem", "--remote", remote, "--exec", "touch reloaded"];
  const cert = join(dir, "svc.pem");
  const key = join(dir, "svc-key.pem");
  const shown = () => ({ cert: read(dir, "svc.pem"), key: read(dir, "svc-key.pem") });
  /** `renew --force` killed (SIGKILL) at `step`; returns the pair shown before. */
  const killAt = async (step: CommitStep) => {
    const before = shown();
    const run = await client(t, [...args, "--force"], { cwd: dir, ...killAtCommitStep(step) });
    t.equal(run.signal, "SIGKILL", `killed at ${step}: ${run.stderr}`);
    t.ok(pairMatches(cert, key), `killed at ${step}: the key read through --key is the certificate's read through --cert`);
    return before;
  };
  /** The next (not due) run: exit 3, no --exec, the same pair shown. */
  const nextRun = async (step: string, expected: { cert: string; key: string }, says?: RegExp) => {
    const run = await client(t, args, { cwd: dir });
    t.equal(run.code, 3, `after ${step}, the next run finds the certificate not due: ${run.stderr}`);
    if (says) t.match(run.stdout, says);
    t.same(shown(), expected, `after ${step}, the same pair is in place`);
    t.ok(pairMatches(cert, key));
    t.notOk(existsSync(join(dir, "reloaded")), "--exec did not run");
  };

  // The first renewal converts the plain files. Killed after copying the old pair into .certwright,
  // before touching the files: the plain files are in place, the next run removes the copy.
  let before = await killAt("copied");
  t.same(shown(), before, "copied: the old pair");
  t.notOk(isLink(cert) || isLink(key), "copied: still plain files");
  t.ok(existsSync(join(dir, ".certwright/svc.pem-current")), "copied: with the old pair's generation beside them");
  await nextRun("copied", before, /removed the staged files of a renewal interrupted before its swap/);
  t.notOk(isLink(cert) || isLink(key));
  t.notOk(existsSync(join(dir, ".certwright")), "copied: the next run removes .certwright");
  t.same(leftovers(dir), []);

  // Killed with the key a link and the certificate still a plain file: both are the old pair, and
  // the next run finishes the links.
  before = await killAt("key-linked");
  t.same(shown(), before, "key-linked: the old pair");
  t.ok(isLink(key) && !isLink(cert), "key-linked: the key is a link, the certificate a plain file");
  await nextRun("key-linked", before, /finished making svc\.pem and svc-key\.pem links into \.certwright\/ .*the pair in place is unchanged/);
  t.same(cleanLinked(t, dir, "svc"), ["svc.pem-1"], "key-linked: linked to the old pair");

  // Killed after the new generation is written, and after the temporary link to it is made: the
  // old pair is shown; the next run removes the unfinished generation and link.
  before = await killAt("generation-written");
  t.same(shown(), before, "generation-written: the old pair");
  t.same(store(dir), ["svc.pem-1", "svc.pem-2", "svc.pem-current"], "generation-written: the new generation, unreferenced");
  await nextRun("generation-written", before, /removed the staged files/);
  t.same(cleanLinked(t, dir, "svc"), ["svc.pem-1"]);

  before = await killAt("link-created");
  t.same(shown(), before, "link-created: the old pair");
  t.ok(existsSync(join(dir, ".certwright/svc.pem-current.tmp")), "link-created: the temporary link is there");
  await nextRun("link-created", before, /removed the staged files/);
  t.same(cleanLinked(t, dir, "svc"), ["svc.pem-1"]);

  // A whole renewal, then one killed just after its swap: the new pair is in place; the next run
  // removes the generation before the previous one.
  const whole = await client(t, [...args, "--force"], { cwd: dir });
  t.equal(whole.code, 0, whole.stderr);
  t.ok(existsSync(join(dir, "reloaded")), "--exec ran");
  rmSync(join(dir, "reloaded"));
  t.same(cleanLinked(t, dir, "svc"), ["svc.pem-1", "svc.pem-2"]);
  before = await killAt("swapped");
  t.not(shown().cert, before.cert, "swapped: the new certificate");
  t.not(shown().key, before.key, "swapped: with the new key");
  t.same(store(dir), ["svc.pem-1", "svc.pem-2", "svc.pem-3", "svc.pem-current"], "swapped: the older generations are still there");
  await nextRun("swapped", shown());
  t.same(cleanLinked(t, dir, "svc"), ["svc.pem-2", "svc.pem-3"], "swapped: the next run keeps the current and the previous generation");
  t.equal(mode(key), 0o600, "the key is 0600 through the link");
  t.equal(openssl(["verify", "-CAfile", caFile, cert]).status, 0, "openssl verifies the certificate through the link");
});

t.test("cert and key in different directories: the journal, killed between its two renames, is finished by the next run", async (t) => {
  const dir = tempDir(t);
  await issue(t, dir, "svc", "default");
  mkdirSync(join(dir, "certs"));
  mkdirSync(join(dir, "private"));
  renameSync(join(dir, "svc.pem"), join(dir, "certs/svc.pem"));
  renameSync(join(dir, "svc-key.pem"), join(dir, "private/svc-key.pem"));
  const cert = join(dir, "certs/svc.pem");
  const key = join(dir, "private/svc-key.pem");
  const oldCert = readFileSync(cert, "utf8");
  const args = ["renew", "--cert", "certs/svc.pem", "--key", "private/svc-key.pem", "--remote", remote, "--exec", "touch reloaded"];
  const journalLeftovers = () => [...leftovers(join(dir, "certs")), ...leftovers(join(dir, "private"))];

  // Killed after the new pair is staged, before any rename: the old pair is in place and consistent.
  const staged = await client(t, [...args, "--force"], { cwd: dir, ...killAtCommitStep("staged") });
  t.equal(staged.signal, "SIGKILL", "killed during the swap");
  t.equal(readFileSync(cert, "utf8"), oldCert, "the old certificate is in place");
  t.ok(pairMatches(cert, key), "with its own key");
  t.ok(existsSync(`${cert}.certwright-new`), "the staged files are left behind");
  const cleanup = await client(t, args, { cwd: dir });
  t.equal(cleanup.code, 3, "the next run finds it not due");
  t.match(cleanup.stdout, /removed the staged files of a renewal interrupted before its swap/);
  t.same(journalLeftovers(), [], "and removes the leftovers and the dead process's lock");
  t.notOk(existsSync(join(dir, "reloaded")));

  // Killed between the two renames (the journal's one window): the next run finishes the swap.
  const between = await client(t, [...args, "--force"], { cwd: dir, ...killAtCommitStep("key-renamed") });
  t.equal(between.signal, "SIGKILL");
  const stagedCert = readFileSync(`${cert}.certwright-new`, "utf8");
  t.ok(pairMatches(`${cert}.certwright-new`, key), "the new key is in place, its certificate staged beside it");
  const finished = await client(t, args, { cwd: dir });
  t.equal(finished.code, 0, `finishing the swap counts as a renewal: ${finished.stderr}`);
  t.match(finished.stdout, /finished an interrupted renewal: certs\/svc\.pem and private\/svc-key\.pem are the new pair/);
  t.equal(readFileSync(cert, "utf8"), stagedCert, "the new certificate is in place");
  t.not(readFileSync(cert, "utf8"), oldCert);
  t.ok(pairMatches(cert, key), "with its key: the new pair");
  t.equal(mode(key), 0o600);
  t.ok(existsSync(join(dir, "reloaded")), "--exec runs for the finished renewal");
  t.same(journalLeftovers(), []);
  t.notOk(isLink(cert) || isLink(key), "still plain files: no links across directories");
  t.notOk(existsSync(join(dir, "certs/.certwright")) || existsSync(join(dir, "private/.certwright")));
  t.equal(openssl(["verify", "-CAfile", caFile, cert]).status, 0);

  const help = await client(t, ["renew", "--help"], { cwd: dir });
  t.match(help.stdout.replace(/\s+/g, " "), /When they are in different directories, the new pair is staged beside the files and renamed in/, "--help says so");
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
