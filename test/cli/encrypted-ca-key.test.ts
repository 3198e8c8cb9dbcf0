// A CA key encrypted at rest: openssl's encrypted PKCS#8 given with --ca-key-passphrase-file, the
// data directory's first CA written encrypted, `initca --encrypt-key`, and the refusals at start.
import { X509Certificate } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { freePort, mustOpenssl, openssl, packageRoot, postJson, runCli, startService, tempDir, writeFile } from "../helpers/server.js";

const serverCsrJson = JSON.parse(readFileSync(join(packageRoot, "profiles", "server-csr.json"), "utf8"));

/** Issues a certificate through the service and checks it against the CA with openssl. */
async function issuesVerifiable(t: Test, api: string, caPem: string, cwd: string) {
  const answer = await postJson(api, "newcert", { request: serverCsrJson, profile: "server" });
  t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
  const leaf = writeFile(cwd, "leaf.pem", answer.body.result.certificate);
  const ca = writeFile(cwd, "ca-check.pem", caPem);
  t.match(mustOpenssl(["verify", "-CAfile", ca, leaf]), /: OK/, "openssl verifies the certificate against the CA");
}

t.test("an openssl-encrypted CA key: served with its passphrase file, refused without it or with a wrong one", async (t) => {
  const cwd = tempDir(t);
  const passphrase = writeFile(cwd, "passphrase", "correct horse battery staple\n");
  const wrong = writeFile(cwd, "wrong", "Tr0ub4dor&3\n");
  const key = join(cwd, "ca-key.pem");
  mustOpenssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256", "-pass", `file:${passphrase}`, "-out", key]);
  t.match(readFileSync(key, "utf8"), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
  const ca = join(cwd, "ca.pem");
  mustOpenssl(["req", "-x509", "-new", "-key", key, "-passin", `file:${passphrase}`, "-subj", "/CN=Encrypted Key CA", "-days", "365",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", ca]);
  const base = ["--ca", ca, "--ca-key", key, "--data-dir", join(cwd, "data")];

  const without = await runCli(t, ["serve", ...base, "--port", String(await freePort())], { cwd });
  t.equal(without.code, 1);
  t.match(without.stderr, /^certwright: cannot start: CA key .*ca-key\.pem is encrypted; give the file holding its passphrase with --ca-key-passphrase-file \(or CERTWRIGHT_CA_KEY_PASSPHRASE_FILE\)\n$/);
  const wrongOne = await runCli(t, ["serve", ...base, "--ca-key-passphrase-file", wrong, "--port", String(await freePort())], { cwd });
  t.equal(wrongOne.code, 1);
  t.match(wrongOne.stderr, /^certwright: cannot start: CA key .*ca-key\.pem cannot be decrypted with the passphrase in .*wrong: a wrong passphrase, or a damaged key\n$/);
  t.notMatch(wrongOne.stderr, /Tr0ub4dor|correct horse/, "no passphrase in the refusal");

  const port = await freePort();
  const server = await startService(t, { cwd, port, args: [...base, "--port", String(port)], env: { CERTWRIGHT_CA_KEY_PASSPHRASE_FILE: passphrase } });
  await issuesVerifiable(t, server.api, readFileSync(ca, "utf8"), cwd);
  t.match(readFileSync(key, "utf8"), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/, "the key file is left encrypted");
  t.same(await server.stop("SIGTERM"), { code: 0, signal: null });
  t.notMatch(server.stdout(), /correct horse|PRIVATE KEY/, "neither the passphrase nor the key is logged");
});

t.test("a data directory's first CA is written encrypted when a passphrase is given, and starts again with it", async (t) => {
  const cwd = tempDir(t);
  const passphrase = writeFile(cwd, "passphrase", "a long passphrase for the data directory\n");
  const dataDir = join(cwd, "data");
  const args = ["--data-dir", dataDir, "--ca-key-passphrase-file", passphrase];
  let port = await freePort();
  const first = await startService(t, { cwd, port, args: [...args, "--port", String(port)] });
  const keyFile = join(dataDir, "ca-key.pem");
  t.match(readFileSync(keyFile, "utf8"), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
  t.equal(statSync(keyFile).mode & 0o777, 0o600);
  t.equal(openssl(["pkey", "-in", keyFile, "-passin", `file:${passphrase}`, "-noout"]).status, 0, "openssl decrypts it with the passphrase");
  t.not(openssl(["pkey", "-in", keyFile, "-passin", "pass:", "-noout"]).status, 0, "and not without");
  const caPem = readFileSync(join(dataDir, "ca.pem"), "utf8");
  await issuesVerifiable(t, first.api, caPem, cwd);
  t.same(await first.stop("SIGTERM"), { code: 0, signal: null });
  t.match(first.stdout(), /created a new CA in .* encrypted with the passphrase in .*passphrase/);

  const refused = await runCli(t, ["serve", "--data-dir", dataDir, "--port", String(await freePort())], { cwd });
  t.equal(refused.code, 1, "the restart without the passphrase is refused");
  t.match(refused.stderr, /CA key .*ca-key\.pem is encrypted/);
  port = await freePort();
  const again = await startService(t, { cwd, port, args: [...args, "--port", String(port)] });
  await issuesVerifiable(t, again.api, caPem, cwd);
});

t.test("a passphrase given for a key that is not encrypted is noted, not refused", async (t) => {
  const cwd = tempDir(t);
  const dataDir = join(cwd, "data");
  let port = await freePort();
  const plain = await startService(t, { cwd, port, args: ["--data-dir", dataDir, "--port", String(port)] });
  t.same(await plain.stop("SIGTERM"), { code: 0, signal: null });
  const passphrase = writeFile(cwd, "passphrase", "unused\n");
  port = await freePort();
  const server = await startService(t, { cwd, port, args: ["--data-dir", dataDir, "--port", String(port), "--ca-key-passphrase-file", passphrase] });
  t.same(await server.stop("SIGTERM"), { code: 0, signal: null });
  // Checked once stopped: the log is written in blocks, and the stop writes out the last one.
  t.match(server.stdout(), /ca-key\.pem is not encrypted: the passphrase from .* is not used/);
  const empty = writeFile(cwd, "empty", "\n");
  const refused = await runCli(t, ["serve", "--data-dir", dataDir, "--port", String(await freePort()), "--ca-key-passphrase-file", empty], { cwd });
  t.match(refused.stderr, /^certwright: cannot start: CA key passphrase file .*empty is empty; put the passphrase on its first line\n$/);
});

t.test("initca --encrypt-key prints a key openssl decrypts with the passphrase", async (t) => {
  const cwd = tempDir(t);
  const passphrase = writeFile(cwd, "passphrase", "initca passphrase\n");
  const csr = writeFile(cwd, "ca-csr.json", JSON.stringify({ CN: "Offline Root", key: { algo: "ecdsa", size: 256 } }));
  const result = await runCli(t, ["initca", "--encrypt-key", passphrase, csr], { cwd });
  t.equal(result.code, 0, result.stderr);
  const { cert, key } = JSON.parse(result.stdout) as { cert: string; key: string };
  t.match(key, /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
  const keyFile = writeFile(cwd, "ca-key.pem", key);
  const publicKey = mustOpenssl(["pkey", "-in", keyFile, "-passin", `file:${passphrase}`, "-pubout"]);
  t.equal(new X509Certificate(cert).publicKey.export({ format: "pem", type: "spki" }).toString(), publicKey, "the key is the certificate's");
  const missing = await runCli(t, ["initca", "--encrypt-key", join(cwd, "nope"), csr], { cwd });
  t.equal(missing.code, 1);
  t.match(missing.stderr, /--encrypt-key: cannot read .*nope: no such file/);
});
