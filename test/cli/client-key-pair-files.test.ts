// The pieces of the client that need no service: the pair swap (generations behind one link, the
// journal for two directories) and its recovery at every interruption point, the lock, the renewal
// point, flag and --remote parsing.
import { spawnSync } from "node:child_process";
import { createPublicKey, X509Certificate } from "node:crypto";
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { parseArgs } from "../../src/cli/client/flags.js";
import { parseRemote } from "../../src/cli/client/http.js";
import { commitSteps, type CommitStep } from "../../src/cli/client/commit-steps.js";
import { isLinked } from "../../src/cli/client/pair-generations.js";
import { lockPair } from "../../src/cli/client/pair-lock.js";
import { keyMatchesCertificate, stagedPath, type PairPaths } from "../../src/cli/client/pair-on-disk.js";
import { commitPair, recoverPair } from "../../src/cli/client/replace-pair.js";
import { drawRenewalPoint } from "../../src/cli/client/renew.js";
import { UsageError } from "../../src/cli/usage-error.js";
import { mustOpenssl, tempDir } from "../helpers/server.js";

/** A self-signed certificate and its key, by openssl. */
function pair(dir: string, name: string): { cert: string; key: string } {
  mustOpenssl(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}-key.pem`, "-out", `${name}.pem`, "-subj", `/CN=${name}`, "-days", "1"], dir);
  return { cert: readFileSync(join(dir, `${name}.pem`), "utf8"), key: readFileSync(join(dir, `${name}-key.pem`), "utf8") };
}

const files = (dir: string) => readdirSync(dir).sort();
const modeOf = (path: string) => statSync(path).mode & 0o777;
const read = (path: string) => readFileSync(path, "utf8");

/** Reads --cert and --key as a TLS server would (following links) and says whether the key is the certificate's, with node:crypto. */
function visiblePair(paths: PairPaths): { cert: string; key: string; matches: boolean } {
  const cert = read(paths.cert);
  const key = read(paths.key);
  const spki = (pem: string) => createPublicKey(pem).export({ format: "der", type: "spki" });
  return { cert, key, matches: new X509Certificate(cert).publicKey.export({ format: "der", type: "spki" }).equals(spki(key)) };
}

/** The pair shown at the paths is exactly `expected` (and it is a pair). */
function shows(t: Test, paths: PairPaths, expected: { cert: string; key: string }, message: string): void {
  const seen = visiblePair(paths);
  t.ok(seen.matches, `${message}: the key is the certificate's`);
  t.ok(seen.cert === expected.cert && seen.key === expected.key, `${message}: and it is the expected pair`);
}

/**
 * The directory holds what a finished renewal leaves and nothing else: `--cert` and `--key` as
 * links to `<name>-current`, which names the newest generation, at most one older generation, no
 * temporary or staged file. Returns the generations.
 */
function cleanLinked(t: Test, dir: string, name: string, keyName: string, others: string[] = []): string[] {
  t.same(files(dir), [".certwright", keyName, name, ...others].sort(), "only the two links and .certwright beside the other files");
  t.equal(readlinkSync(join(dir, name)), `.certwright/${name}-current/cert.pem`, "the certificate is a relative link through current");
  t.equal(readlinkSync(join(dir, keyName)), `.certwright/${name}-current/key.pem`, "the key too");
  const store = files(join(dir, ".certwright")).filter((f) => f.startsWith(`${name}-`));
  const generations = store.filter((f) => /-\d+$/.test(f)).sort((a, b) => Number(a.split("-").pop()) - Number(b.split("-").pop()));
  t.same(store.sort(), [...generations, `${name}-current`].sort(), "no temporary link in .certwright");
  t.ok(generations.length >= 1 && generations.length <= 2, `the current generation and at most the previous one: ${generations.join(" ")}`);
  t.equal(readlinkSync(join(dir, ".certwright", `${name}-current`)), generations.at(-1), "current names the newest generation");
  for (const generation of generations) t.same(files(join(dir, ".certwright", generation)), ["cert.pem", "key.pem"], `${generation} holds the pair`);
  return generations;
}

t.test("commitPair in one directory: plain files become links into generations, swapped with one rename", async (t) => {
  const dir = tempDir(t);
  const old = pair(dir, "old");
  const next = pair(dir, "next");
  const third = pair(dir, "third");
  const paths = { cert: join(dir, "old.pem"), key: join(dir, "old-key.pem") };
  spawnSync("chmod", ["0640", paths.cert]);
  spawnSync("chmod", ["0644", paths.key]);
  const others = ["next-key.pem", "next.pem", "third-key.pem", "third.pem"];

  commitPair(paths, next.cert, next.key);
  shows(t, paths, next, "after the first renewal");
  t.ok(lstatSync(paths.cert).isSymbolicLink() && lstatSync(paths.key).isSymbolicLink(), "the files are links now");
  t.ok(isLinked(paths));
  t.same(cleanLinked(t, dir, "old.pem", "old-key.pem", others), ["old.pem-1", "old.pem-2"], "generation 1 is the old pair, kept for a rollback; 2 the new one");
  t.equal(read(join(dir, ".certwright/old.pem-1/cert.pem")), old.cert, "the old certificate is kept");
  t.equal(read(join(dir, ".certwright/old.pem-1/key.pem")), old.key);
  t.equal(modeOf(paths.key), 0o600, "the key is 0600 through the link");
  t.equal(modeOf(paths.cert), 0o640, "the certificate's mode is kept");
  t.equal(modeOf(join(dir, ".certwright")), 0o711, ".certwright: others may pass, not list");
  t.equal(modeOf(join(dir, ".certwright/old.pem-2")), 0o710, "a generation is 0700, plus search for the group that may read the certificate");

  commitPair(paths, third.cert, third.key);
  shows(t, paths, third, "after the second renewal");
  t.same(cleanLinked(t, dir, "old.pem", "old-key.pem", others), ["old.pem-2", "old.pem-3"], "the generation before the previous one is removed");
  t.equal(modeOf(paths.cert), 0o640);

  spawnSync("chmod", ["0644", paths.cert]);
  commitPair(paths, next.cert, next.key);
  t.equal(modeOf(join(dir, ".certwright/old.pem-4")), 0o711, "a world-readable certificate: others may pass through its generation");

  // The links are relative: the directory can move.
  const moved = `${dir}-moved`;
  renameSync(dir, moved);
  t.teardown(() => renameSync(moved, dir));
  shows(t, { cert: join(moved, "old.pem"), key: join(moved, "old-key.pem") }, next, "after moving the directory");

  t.notOk(keyMatchesCertificate(old.cert, next.key));
  t.ok(keyMatchesCertificate(next.cert, next.key));
  t.notOk(keyMatchesCertificate("garbage", next.key));
});

t.test("as root, the owner of the files is kept, and that user (not others) reads the key through the links", { skip: process.getuid?.() !== 0 && "needs root" }, async (t) => {
  const dir = tempDir(t);
  spawnSync("chmod", ["0755", dir]);
  pair(dir, "old");
  const next = pair(dir, "next");
  const paths = { cert: join(dir, "old.pem"), key: join(dir, "old-key.pem") };
  spawnSync("chown", ["65534:65534", paths.cert, paths.key]);
  spawnSync("chmod", ["0600", paths.key]);
  commitPair(paths, next.cert, next.key);
  for (const path of [paths.cert, paths.key, join(dir, ".certwright/old.pem-2")]) t.equal(statSync(path).uid, 65534, `${path} keeps the owner`);
  t.equal(lstatSync(paths.key).uid, 65534, "the link too (fs.protected_symlinks)");
  // From "/" and without the NODE_OPTIONS tap adds to every child (its loader lives in this
  // checkout's node_modules): the checkout may sit in a directory that user cannot enter.
  const readAs = (uid: number, path: string) =>
    spawnSync("env", ["-u", "NODE_OPTIONS", process.execPath, "-e", `process.stdout.write(require("fs").readFileSync(${JSON.stringify(path)}, "utf8"))`], { uid, gid: uid, encoding: "utf8", cwd: "/" });
  t.equal(readAs(65534, paths.key).stdout, next.key, "the owner reads the key through the links");
  t.equal(readAs(65533, paths.cert).stdout, next.cert, "another user reads the world-readable certificate");
  t.not(readAs(65533, paths.key).status, 0, "but not the key");

  // A failure before the swap leaves the old pair in view.
  const other = tempDir(t);
  const o = pair(other, "o");
  writeFileSync(join(other, ".certwright"), "in the way");
  t.throws(() => commitPair({ cert: join(other, "o.pem"), key: join(other, "o-key.pem") }, next.cert, next.key), { message: /o\.pem-current: ENOTDIR.*; the old pair is in place$/ });
  t.equal(read(join(other, "o.pem")), o.cert);
  t.equal(read(join(other, "o-key.pem")), o.key);
});

t.test("an interruption at any step of the first renewal and of later ones leaves a pair; recovery cleans up", async (t) => {
  const dir = tempDir(t);
  const old = pair(dir, "old");
  const next = pair(dir, "next");
  const paths = { cert: join(dir, "svc.pem"), key: join(dir, "svc-key.pem") };
  const others = ["next-key.pem", "next.pem", "old-key.pem", "old.pem"];
  const plain = () => {
    for (const path of [paths.cert, paths.key]) rmSync(path, { force: true });
    writeFileSync(paths.cert, old.cert);
    writeFileSync(paths.key, old.key);
  };

  // At every step, without stopping: the paths always show one whole pair.
  plain();
  const seen: string[] = [];
  commitPair(paths, next.cert, next.key, (step) => {
    seen.push(step);
    const expected = step === "swapped" ? next : old;
    shows(t, paths, expected, `at ${step}`);
  });
  t.same(seen, ["copied", "key-linked", "generation-written", "link-created", "swapped"], "the first renewal passes every step of the links");

  const linkSteps = commitSteps.filter((step) => step !== "staged" && step !== "key-renamed");
  for (const first of [true, false]) {
    for (const step of linkSteps) {
      if (!first && (step === "copied" || step === "key-linked")) continue; // only a conversion has these
      if (first) plain();
      const before = visiblePair(paths);
      const target = before.cert === next.cert ? old : next;
      t.throws(() =>
        commitPair(paths, target.cert, target.key, (at: CommitStep) => {
          if (at === step) throw new Error("interrupted");
        }),
      );
      const expected = step === "swapped" ? target : before;
      shows(t, paths, expected, `${first ? "first renewal" : "renewal"} stopped at ${step}`);
      const recovery = recoverPair(paths);
      t.equal(recovery.state, "consistent", `${step}: recovery finds a pair`);
      if (recovery.state === "consistent") {
        t.equal(recovery.removedStaged, step === "copied" || step === "generation-written" || step === "link-created", `${step}: leftovers of an unfinished renewal removed`);
        t.equal(recovery.finishedLinking, step === "key-linked", `${step}: a half-made conversion is finished`);
      }
      shows(t, paths, expected, `${step}: after recovery`);
      if (step === "copied") {
        t.same(files(dir), [...others, "svc-key.pem", "svc.pem"], "copied: the plain files stay, .certwright is gone");
        t.notOk(lstatSync(paths.cert).isSymbolicLink());
      } else {
        cleanLinked(t, dir, "svc.pem", "svc-key.pem", others);
      }
      t.same(recoverPair(paths), { state: "consistent", removedStaged: false, finishedLinking: false }, `${step}: a second look finds nothing to do`);
    }
  }
});

t.test("recoverPair in one directory: files put back by hand, dangling links, leftovers of the journal", async (t) => {
  const dir = tempDir(t);
  const old = pair(dir, "old");
  const next = pair(dir, "next");
  const paths = { cert: join(dir, "svc.pem"), key: join(dir, "svc-key.pem") };
  writeFileSync(paths.cert, old.cert);
  writeFileSync(paths.key, old.key);
  commitPair(paths, next.cert, next.key);

  // Undo as the README says: cp -L, then the layout is a leftover that the next run removes.
  for (const path of [paths.key, paths.cert]) {
    cpSync(path, `${path}.plain`, { dereference: true });
    renameSync(`${path}.plain`, path);
  }
  t.notOk(lstatSync(paths.cert).isSymbolicLink());
  shows(t, paths, next, "plain copies");
  t.same(recoverPair(paths), { state: "consistent", removedStaged: true, finishedLinking: false });
  t.notOk(existsSync(join(dir, ".certwright")), "the store is removed with its last pair");
  shows(t, paths, next, "after recovery");

  // Links whose generations are gone: refused, and --force (a commit) makes a fresh layout.
  commitPair(paths, old.cert, old.key);
  unlinkSync(join(dir, ".certwright/svc.pem-current"));
  t.match(recoverPair(paths), { state: "mismatched", reason: /svc\.pem is a link to \.certwright\/svc\.pem-current\/cert\.pem, which does not exist/ });
  commitPair(paths, next.cert, next.key);
  shows(t, paths, next, "a commit over dangling links");
  cleanLinked(t, dir, "svc.pem", "svc-key.pem", ["next-key.pem", "next.pem", "old-key.pem", "old.pem"]);

  // A mismatched plain pair (--force): linked straight to the new pair.
  const other = tempDir(t);
  const a = pair(other, "a");
  pair(other, "b");
  const mixed = { cert: join(other, "a.pem"), key: join(other, "b-key.pem") };
  t.match(recoverPair(mixed), { state: "mismatched", reason: /b-key\.pem is not the private key of .*a\.pem/ });
  commitPair(mixed, next.cert, next.key);
  shows(t, mixed, next, "--force over a mismatched pair");
  t.equal(readlinkSync(mixed.key), ".certwright/a.pem-current/key.pem");
  t.equal(read(join(other, "a-key.pem")), a.key, "the other pair's files are untouched");

  // Plain files with the journal's staged files beside them (a renewal by an older version, cut
  // between its renames): rolled forward, as before.
  const journal = tempDir(t);
  const o = pair(journal, "o");
  const n = pair(journal, "n");
  const plainPaths = { cert: join(journal, "o.pem"), key: join(journal, "o-key.pem") };
  writeFileSync(plainPaths.key, n.key);
  writeFileSync(stagedPath(plainPaths.cert), n.cert);
  t.same(recoverPair(plainPaths), { state: "completed" });
  shows(t, plainPaths, n, "rolled forward");
  t.notOk(existsSync(stagedPath(plainPaths.cert)));
  t.notOk(o.cert === read(plainPaths.cert));
});

t.test("the journal, for a key and a certificate in different directories", async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, "certs"));
  mkdirSync(join(dir, "private"));
  const old = pair(dir, "old");
  const next = pair(dir, "next");
  const paths = { cert: join(dir, "certs/svc.pem"), key: join(dir, "private/svc-key.pem") };
  const reset = () => {
    writeFileSync(paths.cert, old.cert);
    writeFileSync(paths.key, old.key);
  };
  reset();
  spawnSync("chmod", ["0640", paths.cert]);
  commitPair(paths, next.cert, next.key);
  shows(t, paths, next, "replaced");
  t.notOk(lstatSync(paths.cert).isSymbolicLink() || lstatSync(paths.key).isSymbolicLink(), "plain files: no links across directories");
  t.notOk(isLinked(paths));
  t.same(files(join(dir, "certs")), ["svc.pem"], "nothing staged is left, no .certwright");
  t.same(files(join(dir, "private")), ["svc-key.pem"]);
  t.equal(modeOf(paths.key), 0o600);
  t.equal(modeOf(paths.cert), 0o640, "the certificate's mode is kept");

  const interruptAt = (step: string) => {
    reset();
    t.throws(() =>
      commitPair(paths, next.cert, next.key, (at) => {
        if (at === step) throw new Error("interrupted");
      }),
    );
  };

  interruptAt("staged");
  shows(t, paths, old, "staged only: the old pair is in place");
  t.same(recoverPair(paths), { state: "consistent", removedStaged: true, finishedLinking: false });
  t.equal(read(paths.cert), old.cert);
  t.notOk(existsSync(stagedPath(paths.cert)) || existsSync(stagedPath(paths.key)), "the staged files are removed");

  interruptAt("key-renamed");
  t.notOk(keyMatchesCertificate(read(paths.cert), read(paths.key)), "between the renames the pair is mixed (the journal's one window)...");
  t.same(recoverPair(paths), { state: "completed" }, "...and recovery finishes the swap");
  shows(t, paths, next, "rolled forward");

  // A power loss may persist the second rename and not the first: new certificate, old key, staged key.
  writeFileSync(paths.cert, next.cert);
  writeFileSync(paths.key, old.key);
  writeFileSync(stagedPath(paths.key), next.key);
  t.same(recoverPair(paths), { state: "completed" });
  t.equal(read(paths.key), next.key);
  t.notOk(existsSync(stagedPath(paths.key)));

  // A staged certificate cut short by the crash proves nothing: the pair stays mismatched.
  writeFileSync(paths.cert, old.cert);
  writeFileSync(paths.key, next.key);
  writeFileSync(stagedPath(paths.cert), next.cert.slice(0, 100));
  t.match(recoverPair(paths), { state: "mismatched", reason: /svc-key\.pem is not the private key of .*svc\.pem/ });
  t.match(recoverPair({ cert: paths.cert, key: join(dir, "private/missing-key.pem") }), { state: "mismatched", reason: /missing-key\.pem does not exist/ });
});

t.test("lockPair: one renewal of a pair at a time; a dead holder's lock is taken over", async (t) => {
  const dir = tempDir(t);
  const paths = { cert: join(dir, "a.pem"), key: join(dir, "a-key.pem") };
  const release = lockPair(paths);
  t.throws(() => lockPair(paths), { message: new RegExp(`another renewal \\(process ${process.pid}\\)`) });
  release();
  t.notOk(existsSync(`${paths.cert}.certwright-lock`));
  const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  writeFileSync(`${paths.cert}.certwright-lock`, dead.stdout);
  const again = lockPair(paths);
  t.equal(readFileSync(`${paths.cert}.certwright-lock`, "utf8").trim(), String(process.pid), "taken over from a process that is gone");
  again();
});

t.test("the renewal point is drawn in 70-90% of the lifetime", async (t) => {
  const notBefore = new Date("2030-01-01T00:00:00Z");
  const notAfter = new Date("2030-01-11T00:00:00Z");
  t.equal(drawRenewalPoint(notBefore, notAfter, () => 0).at.toISOString(), "2030-01-08T00:00:00.000Z", "70%");
  t.equal(drawRenewalPoint(notBefore, notAfter, () => 1).at.toISOString(), "2030-01-10T00:00:00.000Z", "90%");
  const fractions = Array.from({ length: 2000 }, () => drawRenewalPoint(notBefore, notAfter).fraction);
  t.ok(fractions.every((f) => f >= 0.7 && f <= 0.9), "always in the window");
  t.ok(Math.min(...fractions) < 0.72 && Math.max(...fractions) > 0.88, "spread over it (jitter)");
});

t.test("flags and --remote", async (t) => {
  const specs = [{ name: "remote", value: "URL", help: "" }, { name: "hosts", value: "LIST", help: "", aliases: ["hostname"] }, { name: "bare", help: "" }];
  t.same(parseArgs("x", ["-remote=a:1", "--hostname", "h", "--bare", "f.json"], specs), { flags: new Map([["remote", "a:1"], ["hosts", "h"], ["bare", "true"]]), positionals: ["f.json"] }, "cfssl's single dash, aliases, switches");
  t.same(parseArgs("x", ["--", "--bare", "-"], specs), { flags: new Map(), positionals: ["--bare", "-"] }, "-- ends the flags; - is stdin");
  t.equal(parseArgs("x", ["--bare", "-h"], specs), "help");
  t.throws(() => parseArgs("x", ["--nope"], specs), UsageError);
  t.throws(() => parseArgs("x", ["--bare=yes"], specs), { message: "--bare takes no value" });
  t.throws(() => parseArgs("x", ["--remote"], specs), { message: "flag --remote needs a value (URL)" });

  t.equal(parseRemote("127.0.0.1:8888", undefined).base.href, "http://127.0.0.1:8888/", "HOST:PORT means http");
  t.equal(parseRemote("https://ca.internal:8888/pki/api/v1/cfssl/", undefined).base.href, "https://ca.internal:8888/pki", "a path prefix is kept, the API path dropped");
  t.throws(() => parseRemote("ftp://x", undefined), UsageError);
  t.throws(() => parseRemote(undefined, undefined), { message: /--remote URL is required/ });
});
