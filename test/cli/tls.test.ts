// The service over TLS: --tls-cert / --tls-key as cfssl serve has them, TLS 1.2 at least.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { get } from "node:https";
import { connect } from "node:tls";
import t from "tap";
import { openssl, tempDir, writeFile, type ApiAnswer } from "../helpers/app.js";
import { freePort, mainJs } from "../helpers/server.js";

const main = mainJs;

/** GETs over HTTPS with the given trust anchor and, for mutual TLS, a client certificate. */
function request(url: string, options: { ca: string; cert?: string; key?: string }): Promise<ApiAnswer> {
  return new Promise((resolve, reject) => {
    get(url, options, (response) => {
      let data = "";
      response.on("data", (chunk) => (data += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(data) }));
    }).on("error", reject);
  });
}

t.test("serves HTTPS with --tls-cert and --tls-key; clients verify it against the CA", async (t) => {
  const dir = tempDir(t);
  // A CA and a serving certificate for 127.0.0.1 and localhost, made with openssl.
  openssl(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${dir}/ca-key.pem`, "-out", `${dir}/ca.pem`, "-subj", "/CN=TLS test CA", "-days", "2", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
  openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${dir}/tls-key.pem`, "-out", `${dir}/tls.csr`, "-subj", "/CN=localhost"]);
  writeFile(dir, "ext.cnf", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  const made = openssl(["x509", "-req", "-in", `${dir}/tls.csr`, "-CA", `${dir}/ca.pem`, "-CAkey", `${dir}/ca-key.pem`, "-CAcreateserial", "-out", `${dir}/tls.pem`, "-days", "1", "-extfile", `${dir}/ext.cnf`]);
  t.equal(made.status, 0, made.stderr);
  const caPem = openssl(["x509", "-in", `${dir}/ca.pem`]).stdout;

  const port = await freePort();
  const child = spawn(process.execPath, [main, "serve", "--port", String(port), "--data-dir", `${dir}/data`, "--tls-cert", `${dir}/tls.pem`, "--tls-key", `${dir}/tls-key.pem`, "--workers", "1"], { stdio: ["ignore", "pipe", "pipe"] });
  t.teardown(() => child.kill("SIGKILL"));
  let log = "";
  child.stdout.on("data", (chunk) => (log += chunk));
  const deadline = Date.now() + 15_000;
  let health: ApiAnswer | undefined;
  while (!health && Date.now() < deadline) {
    health = await request(`https://127.0.0.1:${port}/api/v1/cfssl/health`, { ca: caPem }).catch(() => undefined);
    if (!health) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(health?.status, 200, "a client that trusts only the CA verifies the service");
  t.same(health?.body.result, { healthy: true });
  // The line comes once the threads have started, which may be after the first answer.
  while (!log.includes("serving cfssl's API on") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.match(log, /serving cfssl's API on https:\/\/127\.0\.0\.1/);

  const tls13 = connect({ host: "127.0.0.1", port, ca: caPem });
  await once(tls13, "secureConnect");
  t.equal(tls13.getProtocol(), "TLSv1.3", "TLS 1.3 when the client offers it");
  tls13.destroy();
  const tls11 = connect({ host: "127.0.0.1", port, ca: caPem, minVersion: "TLSv1.1", maxVersion: "TLSv1.1" });
  const [error] = await once(tls11, "error");
  t.match(String(error), /protocol|version|alert/i, "TLS 1.1 is refused");
  const untrusted = await request(`https://127.0.0.1:${port}/api/v1/cfssl/health`, { ca: "" }).catch((e: Error) => e);
  t.type(untrusted, Error, "a client that does not trust the CA refuses the service");
});

t.test("--tls-cert without --tls-key, or a key that does not fit, stops the start", async (t) => {
  const dir = tempDir(t);
  const run = (args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [main, "serve", "--data-dir", `${dir}/data`, ...args], { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (chunk) => (stderr += chunk));
      child.on("exit", (code) => resolve({ code, stderr }));
    });
  const half = await run(["--tls-cert", "x.pem"]);
  t.equal(half.code, 2);
  t.match(half.stderr, /--tls-cert and --tls-key go together/);
  openssl(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${dir}/a-key.pem`, "-out", `${dir}/a.pem`, "-subj", "/CN=a", "-days", "1"]);
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${dir}/b-key.pem`]);
  const mismatch = await run(["--port", String(await freePort()), "--tls-cert", `${dir}/a.pem`, "--tls-key", `${dir}/b-key.pem`]);
  t.equal(mismatch.code, 1);
  t.match(mismatch.stderr, /cannot serve TLS/);
});


t.test("mutual TLS: --mutual-tls-ca and --mutual-tls-cn, as cfssl serve names them", async (t) => {
  const dir = tempDir(t);
  const ca = (name: string) =>
    openssl(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${dir}/${name}-key.pem`, "-out", `${dir}/${name}.pem`, "-subj", `/CN=${name}`, "-days", "2", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
  const leaf = (name: string, issuer: string, ext: string) => {
    openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${dir}/${name}-key.pem`, "-out", `${dir}/${name}.csr`, "-subj", `/CN=${name}`]);
    writeFile(dir, `${name}.cnf`, ext);
    const made = openssl(["x509", "-req", "-in", `${dir}/${name}.csr`, "-CA", `${dir}/${issuer}.pem`, "-CAkey", `${dir}/${issuer}-key.pem`, "-CAcreateserial", "-out", `${dir}/${name}.pem`, "-days", "1", "-extfile", `${dir}/${name}.cnf`]);
    if (made.status !== 0) throw new Error(made.stderr);
  };
  ca("server-ca");
  ca("puppet-ca");
  ca("other-ca");
  leaf("localhost", "server-ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  leaf("node1.example.com", "puppet-ca", "extendedKeyUsage=clientAuth\n");
  leaf("intruder.example.com", "puppet-ca", "extendedKeyUsage=clientAuth\n");
  leaf("stranger.example.com", "other-ca", "extendedKeyUsage=clientAuth\n");
  const read = (name: string) => openssl(["x509", "-in", `${dir}/${name}.pem`]).stdout;
  const key = (name: string) => openssl(["pkey", "-in", `${dir}/${name}-key.pem`]).stdout;
  const serverCa = read("server-ca");

  const port = await freePort();
  const child = spawn(
    process.execPath,
    [main, "serve", "--port", String(port), "--data-dir", `${dir}/data`, "--workers", "1", "--tls-cert", `${dir}/localhost.pem`, "--tls-key", `${dir}/localhost-key.pem`, "-mutual-tls-ca", `${dir}/puppet-ca.pem`, "-mutual-tls-cn", "node[0-9]+\\.example\\.com"],
    { stdio: "ignore" },
  );
  t.teardown(() => child.kill("SIGKILL"));
  const url = `https://127.0.0.1:${port}/api/v1/cfssl/health`;
  const client = (name: string) => ({ ca: serverCa, cert: read(name), key: key(name) });
  let ok: ApiAnswer | undefined;
  for (const deadline = Date.now() + 15_000; !ok && Date.now() < deadline; ) {
    ok = await request(url, client("node1.example.com")).catch(() => undefined);
    if (!ok) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(ok?.status, 200, "a Puppet agent's certificate with an allowed CN gets in");
  const denied = await request(url, client("intruder.example.com"));
  t.equal(denied.status, 403, "a CN outside --mutual-tls-cn is refused");
  t.equal(denied.body.errors[0]?.code, 13200);
  t.match(denied.body.errors[0]?.message, /client certificate CN "intruder.example.com" is not allowed/);
  const noCert = await request(url, { ca: serverCa }).catch((error: Error) => error);
  t.type(noCert, Error, "a client without a certificate does not complete the handshake");
  const stranger = await request(url, client("stranger.example.com")).catch((error: Error) => error);
  t.type(stranger, Error, "a certificate from another CA does not complete the handshake");
});
