// The pieces of the client that need no service: the pair swap and its recovery, the lock, the
// renewal point, flag and --remote parsing.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { parseArgs } from "../../src/cli/client/flags.js";
import { parseRemote } from "../../src/cli/client/http.js";
import { commitPair, keyMatchesCertificate, lockPair, recoverPair, stagedPath } from "../../src/cli/client/key-pair-files.js";
import { drawRenewalPoint } from "../../src/cli/client/renew.js";
import { UsageError } from "../../src/cli/options.js";
import { mustOpenssl, tempDir } from "../helpers/server.js";

/** A self-signed certificate and its key, by openssl. */
function pair(dir: string, name: string): { cert: string; key: string } {
  mustOpenssl(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}-key.pem`, "-out", `${name}.pem`, "-subj", `/CN=${name}`, "-days", "1"], dir);
  return { cert: readFileSync(join(dir, `${name}.pem`), "utf8"), key: readFileSync(join(dir, `${name}-key.pem`), "utf8") };
}

const files = (dir: string) => readdirSync(dir).sort();

t.test("commitPair replaces both files; the key is 0600 and the certificate keeps its mode", async (t) => {
  const dir = tempDir(t);
  const old = pair(dir, "old");
  const next = pair(dir, "next");
  const paths = { cert: join(dir, "old.pem"), key: join(dir, "old-key.pem") };
  spawnSync("chmod", ["0640", paths.cert]);
  commitPair(paths, next.cert, next.key);
  t.equal(readFileSync(paths.cert, "utf8"), next.cert);
  t.equal(readFileSync(paths.key, "utf8"), next.key);
  t.equal(statSync(paths.key).mode & 0o777, 0o600);
  t.equal(statSync(paths.cert).mode & 0o777, 0o640, "the certificate's mode is kept");
  t.same(files(dir), ["next-key.pem", "next.pem", "old-key.pem", "old.pem"], "nothing staged is left");
  t.notOk(keyMatchesCertificate(old.cert, next.key));
  t.ok(keyMatchesCertificate(next.cert, next.key));
  t.notOk(keyMatchesCertificate("garbage", next.key));
});

t.test("recoverPair: an interruption at each step ends in the old pair or the new one", async (t) => {
  const dir = tempDir(t);
  const old = pair(dir, "old");
  const next = pair(dir, "next");
  const paths = { cert: join(dir, "svc.pem"), key: join(dir, "svc-key.pem") };
  const reset = () => {
    writeFileSync(paths.cert, old.cert);
    writeFileSync(paths.key, old.key);
  };
  const interruptAt = (step: string) => {
    reset();
    t.throws(() =>
      commitPair(paths, next.cert, next.key, (at) => {
        if (at === step) throw new Error("interrupted");
      }),
    );
  };

  interruptAt("staged");
  t.ok(keyMatchesCertificate(readFileSync(paths.cert, "utf8"), readFileSync(paths.key, "utf8")), "staged only: the old pair is in place");
  t.same(recoverPair(paths), { state: "consistent", removedStaged: true });
  t.equal(readFileSync(paths.cert, "utf8"), old.cert);
  t.notOk(existsSync(stagedPath(paths.cert)) || existsSync(stagedPath(paths.key)), "the staged files are removed");

  interruptAt("key-renamed");
  t.notOk(keyMatchesCertificate(readFileSync(paths.cert, "utf8"), readFileSync(paths.key, "utf8")), "between the renames the pair is mixed...");
  t.same(recoverPair(paths), { state: "completed" }, "...and recovery finishes the swap");
  t.equal(readFileSync(paths.cert, "utf8"), next.cert);
  t.equal(readFileSync(paths.key, "utf8"), next.key);

  // A power loss may persist the second rename and not the first: new certificate, old key, staged key.
  writeFileSync(paths.cert, next.cert);
  writeFileSync(paths.key, old.key);
  writeFileSync(stagedPath(paths.key), next.key);
  t.same(recoverPair(paths), { state: "completed" });
  t.equal(readFileSync(paths.key, "utf8"), next.key);
  t.notOk(existsSync(stagedPath(paths.key)));

  // A staged certificate cut short by the crash proves nothing: the pair stays mismatched.
  writeFileSync(paths.cert, old.cert);
  writeFileSync(paths.key, next.key);
  writeFileSync(stagedPath(paths.cert), next.cert.slice(0, 100));
  t.match(recoverPair(paths), { state: "mismatched", reason: /svc-key\.pem is not the private key of .*svc\.pem/ });
  t.match(recoverPair({ cert: paths.cert, key: join(dir, "missing-key.pem") }), { state: "mismatched", reason: /missing-key\.pem does not exist/ });
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
