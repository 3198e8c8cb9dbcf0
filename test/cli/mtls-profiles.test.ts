// Profiles that want a client certificate, and profiles that let a client name only itself (a
// node renews its own certificate, nobody else's), over real mutual TLS with openssl-made agents.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import Database from "better-sqlite3";
import t from "tap";
import { testApp, type ApiAnswer } from "../helpers/app.js";
import { childEnv, freePort, mainJs, mustOpenssl, tempDir, writeFile } from "../helpers/server.js";

const usages = ["digital signature", "key encipherment", "server auth", "client auth"];
const config = {
  signing: {
    default: { usages, expiry: "24h" },
    profiles: {
      node: { usages, expiry: "24h", own_names_only: true },
      agents: { usages, expiry: "24h", require_client_certificate: true },
    },
  },
};

function post(port: number, path: string, body: object, tls: { ca: string; cert: string; key: string }): Promise<ApiAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: "127.0.0.1", port, path: `/api/v1/cfssl/${path}`, method: "POST", ...tls, headers: { "content-type": "application/json" } }, (response) => {
      let data = "";
      response.on("data", (chunk) => (data += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(data) }));
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

t.test("over plain HTTP, a profile that wants a client certificate refuses with 401", async (t) => {
  const ctx = await testApp(t, { config });
  for (const profile of ["agents", "node"]) {
    const answer = await ctx.app.inject({ method: "POST", url: "/api/v1/cfssl/newcert", payload: { request: { CN: "n1.internal", hosts: ["n1.internal"] }, profile } });
    t.equal(answer.statusCode, 401, profile);
    t.match(answer.json().errors[0].message, /client certificate/);
  }
  t.equal(ctx.store.count(), 0);
});

t.test("own_names_only: a Puppet-style agent gets certificates for its own names only", async (t) => {
  const cwd = tempDir(t);
  const dataDir = join(cwd, "data");
  // The agents' CA and two agents, as a Puppet CA would have made them.
  mustOpenssl(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(cwd, "agents-ca-key.pem"), "-out", join(cwd, "agents-ca.pem"), "-subj", "/CN=Puppet CA", "-days", "2", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
  for (const node of ["node1", "node2"]) {
    mustOpenssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(cwd, `${node}-key.pem`), "-out", join(cwd, `${node}.csr`), "-subj", node === "node1" ? "/CN=node1.internal" : "/O=system:nodes/CN=node2.internal"]);
    writeFile(cwd, `${node}.ext`, `subjectAltName=DNS:${node}.internal,IP:10.0.0.${node === "node1" ? 1 : 2}\nextendedKeyUsage=clientAuth\n`);
    mustOpenssl(["x509", "-req", "-in", join(cwd, `${node}.csr`), "-CA", join(cwd, "agents-ca.pem"), "-CAkey", join(cwd, "agents-ca-key.pem"), "-CAcreateserial", "-days", "1", "-extfile", join(cwd, `${node}.ext`), "-out", join(cwd, `${node}.pem`)]);
  }
  const configFile = writeFile(cwd, "ca-config.json", JSON.stringify(config));
  const port = await freePort();
  const child = spawn(process.execPath, [mainJs, "serve", "--data-dir", dataDir, "--port", String(port), "--config", configFile, "--tls-hosts", "127.0.0.1", "--mutual-tls-ca", join(cwd, "agents-ca.pem")], { cwd, env: childEnv(), stdio: "ignore" });
  t.teardown(() => {
    child.kill("SIGKILL");
  });
  const agent = (node: string) => ({ ca: readFileSync(join(dataDir, "ca.pem"), "utf8"), cert: readFileSync(join(cwd, `${node}.pem`), "utf8"), key: readFileSync(join(cwd, `${node}-key.pem`), "utf8") });
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await post(port, "info", {}, agent("node1"));
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  const own = await post(port, "newcert", { request: { CN: "node1.internal", hosts: ["node1.internal", "10.0.0.1"] }, profile: "node" }, agent("node1"));
  t.equal(own.status, 200, JSON.stringify(own.body.errors));
  const other = await post(port, "newcert", { request: { CN: "node2.internal", hosts: ["node2.internal"] }, profile: "node" }, agent("node1"));
  t.equal(other.status, 403, "node1 cannot get node2's certificate");
  t.equal(other.body.errors[0]?.code, 5300);
  t.match(other.body.errors[0]?.message, /own names.*node2\.internal/);
  const extra = await post(port, "newcert", { request: { CN: "node1.internal", hosts: ["node1.internal", "api.internal"] }, profile: "node" }, agent("node1"));
  t.equal(extra.status, 403, "nor add a name of someone else");
  t.match(extra.body.errors[0]?.message, /api\.internal/);
  // The whole subject is the client's own: no group it does not carry (cluster-admin to Kubernetes), no second CN.
  const masters = await post(port, "newcert", { request: { CN: "node1.internal", names: [{ O: "system:masters" }], hosts: ["node1.internal"] }, profile: "node" }, agent("node1"));
  t.equal(masters.status, 403, "node1 cannot add O=system:masters to its own name");
  t.match(masters.body.errors[0]?.message, /not for O=system:masters/);
  const twoCns = mustOpenssl(["req", "-new", "-key", join(cwd, "node1-key.pem"), "-subj", "/CN=node1.internal/CN=node2.internal"]);
  const secondCn = await post(port, "sign", { certificate_request: twoCns, profile: "node" }, agent("node1"));
  t.equal(secondCn.status, 403, "nor carry node2's name in a second CN");
  t.match(secondCn.body.errors[0]?.message, /not for node2\.internal/);

  // sign: the names come from the agent's own CSR.
  const csr = readFileSync(join(cwd, "node2.csr"), "utf8");
  const signed = await post(port, "sign", { certificate_request: csr, hosts: ["node2.internal"], profile: "node" }, agent("node2"));
  t.equal(signed.status, 200, JSON.stringify(signed.body.errors));
  t.match(writeFile(cwd, "node2-issued.pem", signed.body.result.certificate) && mustOpenssl(["x509", "-noout", "-subject", "-in", join(cwd, "node2-issued.pem")]), /O = system:nodes, CN = node2\.internal/, "node2's own O is its to keep");
  const stolen = await post(port, "sign", { certificate_request: csr, hosts: ["node2.internal"], profile: "node" }, agent("node1"));
  t.equal(stolen.status, 403, "node1 cannot have node2's CSR signed");

  const anyone = await post(port, "newcert", { request: { CN: "svc.internal", hosts: ["svc.internal"] }, profile: "agents" }, agent("node2"));
  t.equal(anyone.status, 200, "require_client_certificate alone allows any names");

  child.kill("SIGTERM");
  await new Promise((resolve) => child.once("exit", resolve));
  const db = new Database(join(dataDir, "certs.db"), { readonly: true });
  const rows = db.prepare("SELECT common_name, requested_by FROM certificates WHERE profile != 'serving' ORDER BY rowid").all();
  db.close();
  t.same(rows, [
    { common_name: "node1.internal", requested_by: "client-cn:node1.internal" },
    { common_name: "node2.internal", requested_by: "client-cn:node2.internal" },
    { common_name: "svc.internal", requested_by: "client-cn:node2.internal" },
  ], "only what was allowed was recorded, with who asked");
});
