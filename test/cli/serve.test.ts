// The real service, end to end: `node dist/service/main.cjs serve` spawned on a free port of 127.0.0.1,
// spoken to over HTTP, its files and database checked on disk, its certificates checked by openssl.
import { X509Certificate, createPrivateKey } from "node:crypto";
import { once } from "node:events";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import Database from "better-sqlite3";
import t, { type Test } from "tap";
import {
  authorityKeyId,
  decimalSerial,
  freePort,
  isListening,
  mustOpenssl,
  openssl,
  packageRoot,
  postForm,
  postJson,
  runCli,
  startService,
  subjectKeyId,
  tempDir,
  writeFile,
  type ApiAnswer,
} from "../helpers/server.js";

const serverCsrJson = JSON.parse(readFileSync(join(packageRoot, "profiles", "server-csr.json"), "utf8"));

interface Row {
  serial_number: string;
  authority_key_identifier: string;
  profile: string;
  pem: string;
  common_name: string;
}

function readRows(dbPath: string): Row[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT * FROM certificates").all() as Row[];
  } finally {
    db.close();
  }
}

/** Makes an ECDSA P-256 key and a CSR with openssl, IP and DNS SANs included. */
function opensslCsr(dir: string, name: string, cn: string, sans: string): string {
  const keyFile = join(dir, `${name}-key.pem`);
  const csrFile = join(dir, `${name}.csr`);
  mustOpenssl(["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", keyFile]);
  mustOpenssl(["req", "-new", "-key", keyFile, "-subj", `/CN=${cn}`, "-addext", `subjectAltName=${sans}`, "-out", csrFile]);
  return readFileSync(csrFile, "utf8");
}

function verify(t: Test, caFile: string, certPem: string, dir: string, name: string) {
  const certFile = writeFile(dir, `${name}.pem`, certPem);
  const result = openssl(["verify", "-CAfile", caFile, certFile]);
  t.equal(result.status, 0, `openssl verify ${name}: ${result.stderr}`);
  t.match(result.stdout, new RegExp(`${name}.pem: OK`));
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

t.test("first start with an empty data dir makes the CA and the database; newcert as curl -d sends it", async (t) => {
  const cwd = tempDir(t);
  const server = await startService(t, { cwd });
  const dataDir = join(cwd, "data");
  t.ok(existsSync(join(dataDir, "ca.pem")), "data/ca.pem in the working directory (the default --data-dir)");
  t.ok(existsSync(join(dataDir, "certs.db")), "data/certs.db");
  t.equal(mode(join(dataDir, "ca-key.pem")), 0o600, "ca-key.pem is mode 0600 exactly");

  const caPem = readFileSync(join(dataDir, "ca.pem"), "utf8");
  const ca = new X509Certificate(caPem);
  t.ok(ca.ca, "CA:TRUE");
  t.equal(ca.publicKey.asymmetricKeyType, "ec");
  t.equal(ca.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1", "ECDSA P-256");
  t.ok(ca.verify(ca.publicKey), "self-signed");
  t.ok(ca.checkPrivateKey(createPrivateKey(readFileSync(join(dataDir, "ca-key.pem")))), "ca-key.pem belongs to ca.pem");
  t.match(ca.subject, /CN=certwright CA/, "made from the package's profiles/ca-csr.json");
  t.match(mustOpenssl(["x509", "-in", join(dataDir, "ca.pem"), "-noout", "-text"]), /CA:TRUE/);

  t.match(server.stdout(), /created a new CA/, "the first start says it made a CA");
  t.match(server.stdout(), new RegExp(`serving cfssl's API on http://127\\.0\\.0\\.1:${server.port}/api/v1/cfssl/`), "listens on 127.0.0.1 by default, and says so");

  const answer = await postForm(server.api, "newcert", { request: serverCsrJson, profile: "kubernetes" });
  t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
  t.equal(answer.body.success, true);
  const { certificate, private_key } = answer.body.result;
  verify(t, join(dataDir, "ca.pem"), certificate, cwd, "server");
  const cert = new X509Certificate(certificate);
  t.ok(cert.checkPrivateKey(createPrivateKey(private_key)));
  t.ok(cert.checkIssued(ca));
  t.match(cert.subjectAltName ?? "", /IP Address:10\.96\.0\.1/);
  t.match(cert.subjectAltName ?? "", /DNS:kubernetes\.default\.svc\.cluster\.local/);

  const rows = readRows(join(dataDir, "certs.db"));
  t.equal(rows.length, 1, "the certificate is recorded");
  t.equal(rows[0]?.serial_number, decimalSerial(cert.serialNumber), "serial as decimal text");
  t.equal(rows[0]?.authority_key_identifier, subjectKeyId(caPem), "authority key id as lower hex of the CA's SKI");
  t.equal(rows[0]?.profile, "kubernetes");
  t.equal(rows[0]?.pem, certificate);

  const info = await postForm(server.api, "info", {});
  t.equal(info.body.result.certificate.trim(), caPem.trim(), "info answers the data dir's CA");
});

t.test("durability: every certificate answered with success survives SIGKILL; the restart keeps the CA", async (t) => {
  const cwd = tempDir(t);
  const dataDir = join(cwd, "state");
  const server = await startService(t, { cwd, args: ["--data-dir", dataDir] });
  const caBefore = readFileSync(join(dataDir, "ca.pem"), "utf8");
  const caKeyBefore = readFileSync(join(dataDir, "ca-key.pem"), "utf8");

  const csrs = Array.from({ length: 6 }, (_, i) => opensslCsr(cwd, `node${i}`, `node${i}.example.com`, `DNS:node${i}.example.com,IP:10.1.0.${i + 1}`));
  const issued: string[] = [];
  // Some one at a time, so they are certainly answered before the crash.
  for (const csr of csrs.slice(0, 3)) {
    const answer = await postJson(server.api, "sign", { certificate_request: csr, profile: "server" });
    t.equal(answer.body.success, true, JSON.stringify(answer.body.errors));
    issued.push(answer.body.result.certificate);
  }
  const newcert = await postForm(server.api, "newcert", { request: { CN: "ecdsa.example.com", hosts: ["ecdsa.example.com"] }, profile: "peer" });
  t.equal(newcert.body.success, true);
  issued.push(newcert.body.result.certificate);

  // Then a burst, with the kill arriving while some may still be in flight: whatever was answered
  // with success must be on disk; whatever was not answered does not matter.
  const burst = [
    ...csrs.slice(3).map((csr) => postJson(server.api, "sign", { certificate_request: csr, profile: "client" })),
    ...Array.from({ length: 4 }, (_, i) => postForm(server.api, "newcert", { request: { CN: `burst${i}`, hosts: [`burst${i}.example.com`] } })),
  ].map((p) => p.then((a): ApiAnswer | undefined => a, () => undefined));
  const first = await Promise.race(burst);
  t.ok(first, "at least one burst request answered before the kill");
  const exit = await server.stop("SIGKILL");
  t.equal(exit.signal, "SIGKILL");
  for (const answer of await Promise.all(burst)) {
    if (answer?.body.success) issued.push(answer.body.result.certificate);
  }
  t.ok(issued.length >= 5, `${issued.length} certificates answered with success`);

  // The database as the crash left it (the WAL not yet checkpointed), opened read-only.
  const caSki = subjectKeyId(caBefore);
  const checkRecorded = (rows: Row[], when: string) => {
    const keys = new Set(rows.map((row) => `${row.serial_number}/${row.authority_key_identifier}`));
    for (const pem of issued) {
      const cert = new X509Certificate(pem);
      t.equal(authorityKeyId(pem), caSki, "issued by the data dir's CA");
      t.ok(keys.has(`${decimalSerial(cert.serialNumber)}/${caSki}`), `${when}: ${cert.subject.replace(/\n/g, ",")} serial ${cert.serialNumber} is recorded`);
    }
    t.ok(rows.length >= issued.length, `${when}: ${rows.length} rows for ${issued.length} answered`);
    for (const row of rows) {
      t.match(row.serial_number, /^[1-9]\d*$/, "serial_number is decimal text");
      t.match(row.authority_key_identifier, /^[0-9a-f]+$/, "authority_key_identifier is lower hex");
    }
  };
  checkRecorded(readRows(join(dataDir, "certs.db")), "after SIGKILL");

  const restarted = await startService(t, { cwd, args: ["--data-dir", dataDir] });
  t.equal(readFileSync(join(dataDir, "ca.pem"), "utf8"), caBefore, "ca.pem unchanged");
  t.equal(readFileSync(join(dataDir, "ca-key.pem"), "utf8"), caKeyBefore, "ca-key.pem unchanged");
  t.notMatch(restarted.stdout(), /created a new CA/, "no new CA on restart");
  const info = await postJson(restarted.api, "info", {});
  t.equal(info.body.result.certificate.trim(), caBefore.trim(), "the same CA is served");
  checkRecorded(readRows(join(dataDir, "certs.db")), "after restart");

  // A certificate issued before the crash is found by the restarted service.
  const cert = new X509Certificate(issued[0]!);
  const certinfo = await postJson(restarted.api, "certinfo", { serial: decimalSerial(cert.serialNumber), authority_key_id: caSki });
  t.equal(certinfo.body.success, true, JSON.stringify(certinfo.body.errors));
  t.match(certinfo.body.result.subject?.common_name ?? JSON.stringify(certinfo.body.result), /node0\.example\.com/);
  // And it goes on issuing under the same CA.
  const after = await postJson(restarted.api, "sign", { certificate_request: csrs[0], profile: "server" });
  t.equal(after.body.success, true);
  verify(t, join(dataDir, "ca.pem"), after.body.result.certificate, cwd, "after-restart");
});

t.test("SIGTERM finishes the request in flight, then exits 0", async (t) => {
  const cwd = tempDir(t);
  const server = await startService(t, { cwd });
  // RSA 4096 key generation keeps the request busy long enough to be in flight.
  const pending = postForm(server.api, "newcert", { request: { CN: "slow", hosts: ["slow.example.com"], key: { algo: "rsa", size: 4096 } } });
  const deadline = Date.now() + 5000;
  while (!/"url":"\/api\/v1\/cfssl\/newcert"/.test(server.stdout()) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const signalled = Date.now();
  const exit = await server.stop("SIGTERM");
  t.same(exit, { code: 0, signal: null }, "exit code 0");
  // The keep-alive connection that carried the request must not hold the exit (fastify's
  // keep-alive timeout is 72 s): the answer closes it.
  t.ok(Date.now() - signalled < 10_000, `exits promptly once the answer is sent (${Date.now() - signalled} ms)`);
  const answer = await pending;
  t.equal(answer.body.success, true, "the request in flight was answered");
  verify(t, join(cwd, "data", "ca.pem"), answer.body.result.certificate, cwd, "slow");
  t.match(server.stdout(), /SIGTERM: finishing requests in flight, then stopping/);
  t.equal(readRows(join(cwd, "data", "certs.db")).length, 1);
  t.notOk(await isListening(server.port), "nothing listens after the exit");
});

t.test("SIGTERM on an idle server exits 0 promptly", async (t) => {
  const cwd = tempDir(t);
  const server = await startService(t, { cwd });
  const started = Date.now();
  t.same(await server.stop("SIGTERM"), { code: 0, signal: null });
  t.ok(Date.now() - started < 5000, "stops within seconds");
  t.equal(server.stderr(), "", "nothing on stderr");
});

t.test("bring your own CA (seed 003's Puppet CA): PKCS#1 RSA, SEC1 ECDSA and PKCS#8 keys made by openssl", async (t) => {
  const cases: { name: string; makeKey: (file: string) => string[][]; keyHeader: RegExp; flags: (ca: string, key: string, port: number) => string[] }[] = [
    {
      name: "RSA, PKCS#1 key, --ca FILE --ca-key FILE",
      makeKey: (file) => [["genrsa", "-traditional", "-out", file, "2048"]],
      keyHeader: /^-----BEGIN RSA PRIVATE KEY-----/,
      flags: (ca, key, port) => ["--ca", ca, "--ca-key", key, "--port", String(port)],
    },
    {
      name: "ECDSA P-256, SEC1 key, cfssl's -ca=FILE -ca-key=FILE -port N",
      makeKey: (file) => [["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", file]],
      keyHeader: /^-----BEGIN EC PRIVATE KEY-----/,
      flags: (ca, key, port) => [`-ca=${ca}`, `-ca-key=${key}`, "-port", String(port)],
    },
    {
      name: "ECDSA P-384, PKCS#8 key, --ca=FILE --ca-key=FILE --port=N",
      makeKey: (file) => [["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", file]],
      keyHeader: /^-----BEGIN PRIVATE KEY-----/,
      flags: (ca, key, port) => [`--ca=${ca}`, `--ca-key=${key}`, `--port=${port}`],
    },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const cwd = tempDir(t);
      const keyFile = join(cwd, "puppet-ca-key.pem");
      const caFile = join(cwd, "puppet-ca.pem");
      for (const args of c.makeKey(keyFile)) mustOpenssl(args);
      t.match(readFileSync(keyFile, "utf8"), c.keyHeader, "the key is in the intended form");
      mustOpenssl([
        "req", "-x509", "-new", "-key", keyFile, "-subj", "/CN=Puppet CA: puppet.example.com", "-days", "3650",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", caFile,
      ]);
      const port = await freePort();
      const dataDir = join(cwd, "data");
      const server = await startService(t, { cwd, port, args: [...c.flags(caFile, keyFile, port), "--data-dir", dataDir] });
      t.notOk(existsSync(join(dataDir, "ca.pem")), "no CA is made in the data dir when one is given");
      t.notOk(existsSync(join(dataDir, "ca-key.pem")));

      const csr = opensslCsr(cwd, "agent", "agent1.example.com", "IP:192.0.2.10,IP:2001:db8::10,DNS:agent1.example.com");
      const answer = await postForm(server.api, "sign", { certificate_request: csr, profile: "client" });
      t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
      const pem: string = answer.body.result.certificate;
      verify(t, caFile, pem, cwd, "agent1");
      const cert = new X509Certificate(pem);
      t.match(cert.issuer, /CN=Puppet CA: puppet\.example\.com/);
      t.match(cert.subjectAltName ?? "", /IP Address:192\.0\.2\.10/);
      t.match(cert.subjectAltName ?? "", /IP Address:2001:DB8:0:0:0:0:0:10/i);
      t.match(cert.subjectAltName ?? "", /DNS:agent1\.example\.com/);
      t.equal(authorityKeyId(pem), subjectKeyId(readFileSync(caFile, "utf8")), "AKI is the Puppet CA's SKI");

      const info = await postForm(server.api, "info", { profile: "client" });
      t.equal(info.body.success, true);
      t.ok(new X509Certificate(info.body.result.certificate).raw.equals(new X509Certificate(readFileSync(caFile)).raw), "info answers the Puppet CA certificate");

      const rows = readRows(join(dataDir, "certs.db"));
      t.equal(rows.length, 1);
      t.equal(rows[0]?.serial_number, decimalSerial(cert.serialNumber));
      t.equal(rows[0]?.authority_key_identifier, subjectKeyId(readFileSync(caFile, "utf8")));
    });
  }
});

t.test("configuration by environment: CERTWRIGHT_PORT and CERTWRIGHT_DATA_DIR; a flag beats its variable", async (t) => {
  await t.test("the variables alone", async (t) => {
    const cwd = tempDir(t);
    const port = await freePort();
    const dataDir = join(cwd, "env-data");
    const server = await startService(t, { cwd, port, env: { CERTWRIGHT_PORT: String(port), CERTWRIGHT_DATA_DIR: dataDir } });
    t.equal(server.port, port);
    t.ok(existsSync(join(dataDir, "ca.pem")), "the CA is in CERTWRIGHT_DATA_DIR");
    t.ok(existsSync(join(dataDir, "certs.db")));
    t.notOk(existsSync(join(cwd, "data")), "not in ./data");
  });
  await t.test("flags over variables", async (t) => {
    const cwd = tempDir(t);
    const envPort = await freePort();
    const flagPort = await freePort();
    const envDir = join(cwd, "from-env");
    const flagDir = join(cwd, "from-flag");
    const server = await startService(t, {
      cwd,
      port: flagPort,
      args: ["--port", String(flagPort), "--data-dir", flagDir],
      env: { CERTWRIGHT_PORT: String(envPort), CERTWRIGHT_DATA_DIR: envDir, CERTWRIGHT_LOG_LEVEL: "warn" },
    });
    t.equal(server.port, flagPort);
    t.notOk(await isListening(envPort), "nothing on CERTWRIGHT_PORT");
    t.ok(existsSync(join(flagDir, "ca.pem")), "the CA is in --data-dir");
    t.notOk(existsSync(envDir), "CERTWRIGHT_DATA_DIR is not used");
    t.notMatch(server.stdout(), /"level":30/, "CERTWRIGHT_LOG_LEVEL=warn is honoured: no info lines");
  });
});

t.test("start-up refusals: one clear line on stderr, exit 1 (2 for usage), nothing listening", async (t) => {
  const oneLine = (t: Test, stderr: string) => {
    const lines = stderr.trim().split("\n");
    t.equal(lines.length, 1, `one line on stderr: ${JSON.stringify(stderr)}`);
    t.match(lines[0], /^certwright: /);
    t.notMatch(stderr, /\n\s+at /, "no stack trace");
  };

  await t.test("the port is already taken", async (t) => {
    const cwd = tempDir(t);
    const blocker = createServer();
    blocker.listen(0, "127.0.0.1");
    await once(blocker, "listening");
    t.teardown(() => blocker.close());
    const { port } = blocker.address() as AddressInfo;
    const result = await runCli(t, ["serve", "--port", String(port)], { cwd });
    t.equal(result.code, 1, "exit code 1");
    oneLine(t, result.stderr);
    t.match(result.stderr, new RegExp(`port ${port}.*already in use`));
    t.notMatch(result.stdout, /Server listening/);
  });

  await t.test("--ca without --ca-key is a usage error", async (t) => {
    const cwd = tempDir(t);
    const port = await freePort();
    writeFile(cwd, "ca.pem", "irrelevant");
    const result = await runCli(t, ["serve", "--port", String(port), "--ca", "ca.pem"], { cwd });
    t.equal(result.code, 2, "exit code 2");
    oneLine(t, result.stderr);
    t.match(result.stderr, /--ca-key/);
    t.notOk(await isListening(port));
    t.notOk(existsSync(join(cwd, "data")), "nothing is made on a usage error");
  });

  await t.test("CERTWRIGHT_CA_KEY without CERTWRIGHT_CA is a usage error too", async (t) => {
    const cwd = tempDir(t);
    const result = await runCli(t, ["serve", "--port", String(await freePort())], { cwd, env: { CERTWRIGHT_CA_KEY: "key.pem" } });
    t.equal(result.code, 2);
    oneLine(t, result.stderr);
  });

  await t.test("a --ca-key that does not belong to --ca", async (t) => {
    const cwd = tempDir(t);
    const port = await freePort();
    mustOpenssl(["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", "ca-key.pem"], cwd);
    mustOpenssl(["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", "other-key.pem"], cwd);
    mustOpenssl(["req", "-x509", "-new", "-key", "ca-key.pem", "-subj", "/CN=Mismatch CA", "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE", "-out", "ca.pem"], cwd);
    const result = await runCli(t, ["serve", "--port", String(port), "--ca", "ca.pem", "--ca-key", "other-key.pem"], { cwd });
    t.equal(result.code, 1, "exit code 1");
    oneLine(t, result.stderr);
    t.match(result.stderr, /does not belong to the CA certificate/);
    t.match(result.stderr, /other-key\.pem/, "names the key file");
    t.notOk(await isListening(port));
  });

  await t.test("a --ca that is not a CA certificate", async (t) => {
    const cwd = tempDir(t);
    const port = await freePort();
    mustOpenssl(["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", "key.pem"], cwd);
    mustOpenssl(["req", "-x509", "-new", "-key", "key.pem", "-subj", "/CN=leaf", "-days", "30", "-addext", "basicConstraints=critical,CA:FALSE", "-out", "leaf.pem"], cwd);
    const result = await runCli(t, ["serve", "--port", String(port), "--ca", "leaf.pem", "--ca-key", "key.pem"], { cwd });
    t.equal(result.code, 1);
    oneLine(t, result.stderr);
    t.match(result.stderr, /not a CA certificate/);
    t.notOk(await isListening(port));
  });

  await t.test("a --ca file that does not exist", async (t) => {
    const cwd = tempDir(t);
    const result = await runCli(t, ["serve", "--port", String(await freePort()), "--ca", "missing.pem", "--ca-key", "missing-key.pem"], { cwd });
    t.equal(result.code, 1);
    oneLine(t, result.stderr);
    t.match(result.stderr, /missing\.pem.*ENOENT/);
  });

  await t.test("a signing config with a bad field", async (t) => {
    const cwd = tempDir(t);
    const port = await freePort();
    writeFile(cwd, "ca-config.json", JSON.stringify({ signing: { default: { usages: ["signing"], expiry: "forever" } } }));
    const result = await runCli(t, ["serve", "--port", String(port), "--config", "ca-config.json"], { cwd });
    t.equal(result.code, 1, "exit code 1");
    oneLine(t, result.stderr);
    t.match(result.stderr, /signing\.default\.expiry/, "names the JSON path");
    t.match(result.stderr, /forever/);
    t.match(result.stderr, /ca-config\.json/, "names the file");
    t.notOk(await isListening(port));
  });

  await t.test("a signing config with an unknown profile field", async (t) => {
    const cwd = tempDir(t);
    writeFile(cwd, "ca-config.json", JSON.stringify({ signing: { profiles: { web: { usages: ["server auth"], expiry: "1h", colour: "blue" } } } }));
    const result = await runCli(t, ["serve", "--port", String(await freePort()), "--config=ca-config.json"], { cwd });
    t.equal(result.code, 1);
    oneLine(t, result.stderr);
    t.match(result.stderr, /signing\.profiles\.web\.colour/);
  });

  await t.test("a signing config that is not JSON", async (t) => {
    const cwd = tempDir(t);
    writeFile(cwd, "ca-config.json", "{ signing: ");
    const result = await runCli(t, ["serve", "--port", String(await freePort()), "--config", "ca-config.json"], { cwd });
    t.equal(result.code, 1);
    oneLine(t, result.stderr);
    t.match(result.stderr, /not valid JSON/);
  });

  await t.test("an unknown flag", async (t) => {
    const cwd = tempDir(t);
    const port = await freePort();
    const result = await runCli(t, ["serve", "--port", String(port), "--no-such-flag", "x"], { cwd });
    t.equal(result.code, 2, "exit code 2");
    oneLine(t, result.stderr);
    t.match(result.stderr, /unknown flag "--no-such-flag"/);
    t.notOk(await isListening(port));
  });

  await t.test("a port that is not a number", async (t) => {
    const cwd = tempDir(t);
    for (const bad of ["http", "70000", "-1"]) {
      const result = await runCli(t, ["serve", `--port=${bad}`], { cwd });
      t.equal(result.code, 2, `--port=${bad}: exit code 2`);
      oneLine(t, result.stderr);
    }
  });

  await t.test("a data dir that cannot be made", async (t) => {
    const cwd = tempDir(t);
    writeFile(cwd, "a-file", "not a directory");
    const result = await runCli(t, ["serve", "--port", String(await freePort()), "--data-dir", "a-file/data"], { cwd });
    t.equal(result.code, 1);
    oneLine(t, result.stderr);
    t.match(result.stderr, /data directory a-file\/data/);
  });

  await t.test("half a CA in the data dir", async (t) => {
    const cwd = tempDir(t);
    mkdirSync(join(cwd, "data"));
    writeFile(join(cwd, "data"), "ca.pem", "left over");
    const result = await runCli(t, ["serve", "--port", String(await freePort())], { cwd });
    t.equal(result.code, 1);
    oneLine(t, result.stderr);
    t.match(result.stderr, /ca-key\.pem is missing/);
    t.equal(readFileSync(join(cwd, "data", "ca.pem"), "utf8"), "left over", "nothing is overwritten");
  });
});

t.test("serve --help and the top-level commands", async (t) => {
  const cwd = tempDir(t);
  for (const flag of ["--help", "-h", "-help"]) {
    const result = await runCli(t, ["serve", flag], { cwd });
    t.equal(result.code, 0, `serve ${flag} exits 0`);
    for (const name of ["--address", "--port", "--data-dir", "--config", "--ca ", "--ca-key", "--log-level"]) {
      t.ok(result.stdout.includes(name), `serve ${flag} lists ${name.trim()}`);
    }
    for (const variable of ["CERTWRIGHT_ADDRESS", "CERTWRIGHT_PORT", "CERTWRIGHT_DATA_DIR", "CERTWRIGHT_CONFIG", "CERTWRIGHT_CA", "CERTWRIGHT_CA_KEY"]) {
      t.ok(result.stdout.includes(variable), `serve ${flag} lists ${variable}`);
    }
    t.match(result.stdout, /default 127\.0\.0\.1/, "says the default address");
    t.match(result.stdout, /--replay-window DURATION +replay/, "a long flag still has a space before its help");
    t.match(result.stdout, /--mutual-tls-ca FILE +require client certificates issued by this CA \(needs --tls-cert or --tls-hosts\)/);
  }
  t.notOk(existsSync(join(cwd, "data")), "help makes nothing");
  const version = await runCli(t, ["version"], { cwd });
  t.equal(version.code, 0);
  t.equal(version.stdout.trim(), JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")).version);
  const unknown = await runCli(t, ["serf"], { cwd });
  t.equal(unknown.code, 2, "an unknown command is a usage error");
  t.match(unknown.stderr, /unknown command "serf"/);
  const none = await runCli(t, [], { cwd });
  t.equal(none.code, 2, "no command is a usage error");
});
