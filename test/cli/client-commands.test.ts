// The client commands end to end: the compiled `certwright` run as a child process against the
// real service on a free port, its files checked on disk and by openssl.
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { client, mode, pairMatches } from "../helpers/client.js";
import { freePort, mainJs, mustOpenssl, openssl, packageRoot, postForm, startService, tempDir } from "../helpers/server.js";

const serverCsrJson = join(packageRoot, "profiles", "server-csr.json");
const caCsrJson = join(packageRoot, "profiles", "ca-csr.json");

const workDir = tempDir(t, "certwright-client-");
const service = await startService(t, { cwd: workDir, args: ["--workers", "1", "--log-level", "warn"] });
const remote = service.url;

t.test("every command has --help with its exit codes; the top-level help lists them", async (t) => {
  for (const command of ["initca", "gencert", "sign", "info", "json", "renew"]) {
    const help = await client(t, [command, "--help"], { cwd: workDir });
    t.equal(help.code, 0, `${command} --help`);
    t.match(help.stdout, new RegExp(`^Usage: certwright ${command}`), command);
    t.match(help.stdout, /Exit codes: 0 /, `${command} lists its exit codes`);
    t.notMatch(help.stdout, /--\w\b/, `${command}: one-letter flags read -f, not --f`);
    for (const line of help.stdout.split("\n").filter((l) => /^ {2}-/.test(l))) t.match(line, /^ {2}\S.* {1,}\S/, `${command}: "${line.trim()}" has its help after a space`);
  }
  t.match((await client(t, ["json", "--help"], { cwd: workDir })).stdout, /\n {2}-f FILE +read the JSON from FILE/);
  const top = await client(t, ["help"], { cwd: workDir });
  for (const command of ["serve", "initca", "gencert", "sign", "info", "json", "renew"]) t.match(top.stdout, new RegExp(`\\n  ${command} `));
  t.match(top.stdout, /renew also exits 3 when the certificate is not due/);

  const unknown = await client(t, ["gencert", "--remot", remote, serverCsrJson], { cwd: workDir });
  t.equal(unknown.code, 2, "an unknown flag is bad usage");
  t.match(unknown.stderr, /^certwright: gencert: unknown flag "--remot"; see certwright gencert --help/);
  const noRemote = await client(t, ["sign", "x.csr"], { cwd: workDir });
  t.equal(noRemote.code, 2);
  t.match(noRemote.stderr, /--remote URL is required/);
  const noFile = await client(t, ["gencert", "--remote", remote], { cwd: workDir });
  t.equal(noFile.code, 2);
  t.match(noFile.stderr, /missing CSR\.json/);
});

t.test("initca | json --bare ca: a self-signed CA that openssl accepts, its CSR and a 0600 key", async (t) => {
  const dir = tempDir(t);
  const made = await client(t, ["initca", caCsrJson], { cwd: dir });
  t.equal(made.code, 0, made.stderr);
  const output = JSON.parse(made.stdout);
  t.same(Object.keys(output).sort(), ["cert", "csr", "key"], "cfssl's {cert, csr, key}");
  const written = await client(t, ["json", "--bare", "ca"], { cwd: dir, input: made.stdout });
  t.equal(written.code, 0, written.stderr);
  t.equal(mode(join(dir, "ca-key.pem")), 0o600, "ca-key.pem is 0600");
  t.equal(mode(join(dir, "ca.pem")) & 0o600, 0o600);
  const verified = openssl(["verify", "-CAfile", "ca.pem", "ca.pem"], undefined, dir);
  t.equal(verified.status, 0, `openssl verify: ${verified.stderr}`);
  const text = mustOpenssl(["x509", "-in", "ca.pem", "-noout", "-text"], dir);
  t.match(text, /CA:TRUE/);
  t.match(text, /Certificate Sign/);
  t.match(text, /Subject: .*CN ?= ?certwright CA/);
  t.match(mustOpenssl(["req", "-in", "ca.csr", "-noout", "-verify", "-subject"], dir), /CN ?= ?certwright CA/, "the CSR is signed by the CA key");
  t.ok(pairMatches(join(dir, "ca.pem"), join(dir, "ca-key.pem")), "the key belongs to the CA");

  writeFileSync(join(dir, "rsa.json"), JSON.stringify({ CN: "RSA CA", key: { algo: "rsa", size: 3072 }, ca: { expiry: "876h", pathlen: 1 } }));
  const rsa = await client(t, ["initca", "-"], { cwd: dir, input: readFileSync(join(dir, "rsa.json"), "utf8") });
  t.equal(rsa.code, 0, "CSR JSON on stdin");
  const rsaCert = new X509Certificate(JSON.parse(rsa.stdout).cert);
  t.equal(rsaCert.publicKey.asymmetricKeyDetails?.modulusLength, 3072);
  t.equal((Date.parse(rsaCert.validTo) - Date.parse(rsaCert.validFrom)) / 3_600_000, 876, "ca.expiry");

  writeFileSync(join(dir, "weak.json"), JSON.stringify({ CN: "Weak CA", key: { algo: "rsa", size: 1024 } }));
  const weak = await client(t, ["initca", "weak.json"], { cwd: dir });
  t.equal(weak.code, 1);
  t.match(weak.stderr, /^certwright: initca: error 2200: key: rsa size 1024 is too weak/);
  writeFileSync(join(dir, "broken.json"), "{\"CN\": ");
  const broken = await client(t, ["initca", "broken.json"], { cwd: dir });
  t.equal(broken.code, 1);
  t.match(broken.stderr, /^certwright: initca: broken\.json: not JSON/);
  const missing = await client(t, ["initca", "nope.json"], { cwd: dir });
  t.equal(missing.code, 1);
  t.match(missing.stderr, /cannot read nope\.json: no such file/);
});

t.test("gencert | json --bare server writes files openssl verifies against info --out", async (t) => {
  const dir = tempDir(t);
  const info = await client(t, ["info", "--remote", remote, "--out", "ca.pem"], { cwd: dir });
  t.equal(info.code, 0, info.stderr);
  t.equal(info.stdout, "", "--out prints nothing");
  t.equal(readFileSync(join(dir, "ca.pem"), "utf8"), readFileSync(join(workDir, "data", "ca.pem"), "utf8"), "the service's CA certificate");

  const made = await client(t, ["gencert", "--remote", remote, "--profile", "kubernetes", serverCsrJson], { cwd: dir });
  t.equal(made.code, 0, made.stderr);
  t.same(Object.keys(JSON.parse(made.stdout)).sort(), ["cert", "csr", "key"]);
  const written = await client(t, ["json", "--bare", "server"], { cwd: dir, input: made.stdout });
  t.equal(written.code, 0, written.stderr);
  t.equal(mode(join(dir, "server-key.pem")), 0o600, "server-key.pem is 0600");
  t.equal(mode(join(dir, "server.pem")) & 0o077, mode(join(dir, "server.csr")) & 0o077, "the certificate and CSR are readable as cfssljson's");
  const verified = openssl(["verify", "-CAfile", "ca.pem", "server.pem"], undefined, dir);
  t.equal(verified.status, 0, verified.stderr);
  t.match(verified.stdout, /server\.pem: OK/);
  t.ok(pairMatches(join(dir, "server.pem"), join(dir, "server-key.pem")));
  const text = mustOpenssl(["x509", "-in", "server.pem", "-noout", "-text"], dir);
  t.match(text, /DNS:kubernetes\.default\.svc\.cluster\.local/);
  t.match(text, /IP Address:10\.96\.0\.1/);
  t.doesNotThrow(() => mustOpenssl(["req", "-in", "server.csr", "-noout", "-verify"], dir), "the CSR verifies");

  const hosts = await client(t, ["gencert", "--remote", remote, "--hostname", "api.internal,10.0.0.1", serverCsrJson], { cwd: dir });
  t.equal(hosts.code, 0, hosts.stderr);
  const cert = new X509Certificate(JSON.parse(hosts.stdout).cert);
  t.equal(cert.subjectAltName, "DNS:api.internal, IP Address:10.0.0.1", "--hosts (cfssl's -hostname) replaces the JSON's hosts");

  const printed = await client(t, ["info", "--remote", `${remote}/`], { cwd: dir });
  t.equal(printed.stdout, readFileSync(join(dir, "ca.pem"), "utf8"), "without --out, the PEM on stdout");
  const json = await client(t, ["info", "--remote", remote.replace("http://", ""), "--profile", "client", "--json"], { cwd: dir });
  t.equal(json.code, 0, "cfssl's HOST:PORT form of --remote");
  t.match(JSON.parse(json.stdout), { usages: ["signing", "key encipherment", "client auth"], expiry: "8760h" });
});

t.test("sign: a CSR made by openssl, its SANs kept or replaced by --hosts", async (t) => {
  const dir = tempDir(t);
  mustOpenssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "node-key.pem", "-out", "node.csr", "-subj", "/CN=node-1.internal", "-addext", "subjectAltName=DNS:node-1.internal,IP:10.0.0.7"], dir);
  const signed = await client(t, ["sign", "--remote", remote, "--profile", "server", "node.csr"], { cwd: dir });
  t.equal(signed.code, 0, signed.stderr);
  t.same(Object.keys(JSON.parse(signed.stdout)), ["cert"], "cfssl sign's {cert}");
  const written = await client(t, ["json", "node"], { cwd: dir, input: signed.stdout });
  t.equal(written.code, 0, written.stderr);
  t.equal(readFileSync(join(dir, "node.csr"), "utf8").includes("CERTIFICATE REQUEST"), true, "no csr in the output: node.csr is untouched");
  writeFileSync(join(dir, "ca.pem"), readFileSync(join(workDir, "data", "ca.pem")));
  t.equal(openssl(["verify", "-CAfile", "ca.pem", "node.pem"], undefined, dir).status, 0, "openssl verifies it");
  t.ok(pairMatches(join(dir, "node.pem"), join(dir, "node-key.pem")), "for openssl's key");
  const cert = new X509Certificate(readFileSync(join(dir, "node.pem")));
  t.equal(cert.subjectAltName, "DNS:node-1.internal, IP Address:10.0.0.7");
  t.match(mustOpenssl(["x509", "-in", "node.pem", "-noout", "-ext", "extendedKeyUsage"], dir), /TLS Web Server Authentication/);

  const replaced = await client(t, ["sign", "--remote", remote, "--hosts", "other.internal", "-"], { cwd: dir, input: readFileSync(join(dir, "node.csr"), "utf8") });
  t.equal(replaced.code, 0, replaced.stderr);
  t.equal(new X509Certificate(JSON.parse(replaced.stdout).cert).subjectAltName, "DNS:other.internal", "--hosts replaces the CSR's SANs; - reads stdin");

  const notCsr = await client(t, ["sign", "--remote", remote, "node-key.pem"], { cwd: dir });
  t.equal(notCsr.code, 1);
  t.match(notCsr.stderr, /no PEM "CERTIFICATE REQUEST" block/);
});

t.test("json takes the envelope, a bare result or cfssl's shape; a failed answer prints its errors", async (t) => {
  const dir = tempDir(t);
  const answer = await postForm(service.api, "newcert", { request: { CN: "env.internal", hosts: ["env.internal"] }, profile: "server" });
  t.equal(answer.body.success, true);
  const envelope = JSON.stringify(answer.body);
  // An existing key file with loose permissions is replaced by a 0600 one.
  writeFileSync(join(dir, "env-key.pem"), "old", { mode: 0o644 });
  const fromEnvelope = await client(t, ["json", "env"], { cwd: dir, input: envelope });
  t.equal(fromEnvelope.code, 0, fromEnvelope.stderr);
  t.equal(readFileSync(join(dir, "env.pem"), "utf8"), answer.body.result.certificate);
  t.equal(readFileSync(join(dir, "env-key.pem"), "utf8"), answer.body.result.private_key);
  t.equal(readFileSync(join(dir, "env.csr"), "utf8"), answer.body.result.certificate_request);
  t.equal(mode(join(dir, "env-key.pem")), 0o600, "a replaced key file is 0600 too");

  const bare = await client(t, ["json", "--bare", "bare"], { cwd: dir, input: JSON.stringify(answer.body.result) });
  t.equal(bare.code, 0, bare.stderr);
  t.equal(readFileSync(join(dir, "bare.pem"), "utf8"), answer.body.result.certificate, "a bare result");
  const fromFile = await client(t, ["json", "-f", "input.json"], { cwd: dir });
  t.equal(fromFile.code, 1);
  t.match(fromFile.stderr, /cannot read input\.json/);
  writeFileSync(join(dir, "input.json"), envelope);
  t.equal((await client(t, ["json", "-f", "input.json"], { cwd: dir })).code, 0, "-f FILE; NAME defaults to cert");
  t.equal(readFileSync(join(dir, "cert.pem"), "utf8"), answer.body.result.certificate);
  const printed = await client(t, ["json", "--stdout"], { cwd: dir, input: envelope });
  t.equal(printed.stdout, answer.body.result.certificate + answer.body.result.private_key + answer.body.result.certificate_request, "--stdout prints instead");

  const refused = await postForm(service.api, "newcert", { request: { CN: "x" }, profile: "nope" });
  const failed = await client(t, ["json", "--bare", "nope"], { cwd: dir, input: JSON.stringify(refused.body) });
  t.equal(failed.code, 1, "a failed answer is a failure");
  t.match(failed.stderr, /^certwright: json: error 5400: profile "nope" does not exist/);
  t.throws(() => readFileSync(join(dir, "nope.pem")), "and writes nothing");
  const empty = await client(t, ["json", "--bare", "x"], { cwd: dir, input: "" });
  t.equal(empty.code, 1);
  t.match(empty.stderr, /the input is empty \(did the command before the pipe fail\?\)/);
  const nothing = await client(t, ["json", "x"], { cwd: dir, input: "{\"hello\": 1}" });
  t.equal(nothing.code, 1);
  t.match(nothing.stderr, /no certificate, key or CSR/);
});

t.test("service errors are printed with their code; connection failures say what to check", async (t) => {
  const dir = tempDir(t);
  const unknown = await client(t, ["gencert", "--remote", remote, "--profile", "nope", serverCsrJson], { cwd: dir });
  t.equal(unknown.code, 1);
  t.equal(unknown.stdout, "", "nothing on stdout, so json gets nothing to write");
  t.match(unknown.stderr, /^certwright: newcert: error 5400: profile "nope" does not exist; the profiles are/);
  writeFileSync(join(dir, "bad.json"), JSON.stringify({ CN: "x", key: { algo: "dsa" } }));
  const badKey = await client(t, ["gencert", "--remote", remote, "bad.json"], { cwd: dir });
  t.match(badKey.stderr, /^certwright: newcert: error 2200: key: algo "dsa" is not accepted/);
  const label = await client(t, ["info", "--remote", remote, "--label", "other"], { cwd: dir });
  t.equal(label.code, 1);
  t.match(label.stderr, /^certwright: info: error 12100: /);

  const port = await freePort();
  const refused = await client(t, ["gencert", "--remote", `127.0.0.1:${port}`, serverCsrJson], { cwd: dir });
  t.equal(refused.code, 1);
  t.match(refused.stderr, new RegExp(`^certwright: gencert: cannot connect to http://127\\.0\\.0\\.1:${port}: connection refused; is the service running there\\? \\(check --remote\\)\\n$`));
  const tlsToHttp = await client(t, ["info", "--remote", `https://127.0.0.1:${service.port}`], { cwd: dir });
  t.equal(tlsToHttp.code, 1);
  t.match(tlsToHttp.stderr, /TLS with https:\/\/127\.0\.0\.1:\d+ failed .*does the service serve HTTPS there\? \(try http:\/\/\)/);
  const caFileOnHttp = await client(t, ["info", "--remote", remote, "--ca-file", "ca.pem"], { cwd: dir });
  t.equal(caFileOnHttp.code, 2);
  t.match(caFileOnHttp.stderr, /--ca-file verifies an https:\/\/ service/);
});

t.test("--ca-file verifies an https:// service; without it the service's certificate is refused", async (t) => {
  const dir = tempDir(t);
  mustOpenssl(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "tls-ca-key.pem", "-out", "tls-ca.pem", "-subj", "/CN=TLS CA", "-days", "2", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"], dir);
  mustOpenssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "tls-key.pem", "-out", "tls.csr", "-subj", "/CN=localhost"], dir);
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  mustOpenssl(["x509", "-req", "-in", "tls.csr", "-CA", "tls-ca.pem", "-CAkey", "tls-ca-key.pem", "-CAcreateserial", "-out", "tls.pem", "-days", "1", "-extfile", "ext.cnf"], dir);
  const port = await freePort();
  const server = spawn(process.execPath, [mainJs, "serve", "--port", String(port), "--data-dir", "data", "--workers", "1", "--log-level", "warn", "--tls-cert", "tls.pem", "--tls-key", "tls-key.pem"], { cwd: dir, stdio: "ignore" });
  t.teardown(() => {
    server.kill("SIGKILL");
  });
  const https = `https://127.0.0.1:${port}`;
  let info = await client(t, ["info", "--remote", https, "--ca-file", "tls-ca.pem"], { cwd: dir });
  for (let i = 0; info.code !== 0 && i < 100; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    info = await client(t, ["info", "--remote", https, "--ca-file", "tls-ca.pem"], { cwd: dir });
  }
  t.equal(info.code, 0, info.stderr);
  t.match(info.stdout, /BEGIN CERTIFICATE/);
  const made = await client(t, ["gencert", "--remote", https, "--ca-file", "tls-ca.pem", serverCsrJson], { cwd: dir });
  t.equal(made.code, 0, made.stderr);
  const untrusted = await client(t, ["gencert", "--remote", https, serverCsrJson], { cwd: dir });
  t.equal(untrusted.code, 1);
  t.match(untrusted.stderr, new RegExp(`^certwright: gencert: cannot verify the TLS certificate of ${https.replace(/\./g, "\\.")}: .*; give the CA that issued it with --ca-file`));
});
