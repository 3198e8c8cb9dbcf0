// The real service with --mutual-tls-ca set to its own CA: a client certificate it issued works
// until it is revoked through the API, then the next request is refused, on the connection that
// was open and on a new one, and own_names_only renewal with it is refused (issue 13).
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { Agent, request as httpsRequest } from "node:https";
import { join } from "node:path";
import t from "tap";
import { childEnv, freePort, mainJs, postJson, startService, tempDir, writeFile, type ApiAnswer } from "../helpers/server.js";

const usages = ["digital signature", "key encipherment", "server auth", "client auth"];
const config = { signing: { default: { usages, expiry: "24h" }, profiles: { node: { usages, expiry: "24h", own_names_only: true } } } };

function call(port: number, agent: Agent, path: string, body: object): Promise<ApiAnswer & { reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: "127.0.0.1", port, path: `/api/v1/cfssl/${path}`, method: "POST", agent, headers: { "content-type": "application/json" } }, (response) => {
      let data = "";
      response.on("data", (chunk) => (data += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(data), reused: req.reusedSocket }));
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

t.test("a revoked client certificate of the service's own CA is refused over mutual TLS", async (t) => {
  const cwd = tempDir(t);
  const configFile = writeFile(cwd, "ca-config.json", JSON.stringify(config));
  const common = ["--data-dir", "data", "--config", configFile, "--workers", "1", "--log-level", "warn"];

  // First start, plain HTTP: the CA is made, and two clients get their certificates.
  const plain = await startService(t, { cwd, args: common });
  const issue = async (cn: string) => {
    const answer = await postJson(plain.api, "newcert", { request: { CN: cn, hosts: [cn] } });
    if (!answer.body.success) throw new Error(JSON.stringify(answer.body.errors));
    return { cert: answer.body.result.certificate as string, key: answer.body.result.private_key as string };
  };
  const node1 = await issue("node1.internal");
  const ops = await issue("ops.internal");
  await plain.stop("SIGTERM");

  // Then mutual TLS, with the service's own CA as the clients' CA.
  const port = await freePort();
  const child = spawn(process.execPath, [mainJs, "serve", ...common, "--port", String(port), "--tls-hosts", "127.0.0.1", "--mutual-tls-ca", join(cwd, "data", "ca.pem")], { cwd, env: childEnv(), stdio: "ignore" });
  t.teardown(() => {
    child.kill("SIGKILL");
  });
  const ca = readFileSync(join(cwd, "data", "ca.pem"), "utf8");
  const agentFor = (identity: { cert: string; key: string }) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca, ...identity });
    t.teardown(() => agent.destroy());
    return agent;
  };
  const node1Agent = agentFor(node1);
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await call(port, node1Agent, "info", {});
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  const renew = { request: { CN: "node1.internal", hosts: ["node1.internal"] }, profile: "node" };
  const renewed = await call(port, node1Agent, "newcert", renew);
  t.equal(renewed.status, 200, `node1 renews its own certificate: ${JSON.stringify(renewed.body.errors)}`);
  const serial = BigInt(`0x${new X509Certificate(node1.cert).serialNumber}`).toString(10);
  const revoked = await call(port, agentFor(ops), "revoke", { serial, reason: "keyCompromise" });
  t.equal(revoked.status, 200, `revoked through the API: ${JSON.stringify(revoked.body.errors)}`);

  const again = await call(port, node1Agent, "newcert", renew);
  t.ok(again.reused, "on the connection that was open before the revocation");
  t.equal(again.status, 403, "the renewal is refused");
  t.match(again.body.errors[0], { code: 13200, message: /has been revoked/ });
  const fresh = await call(port, agentFor(node1), "info", {});
  t.notOk(fresh.reused);
  t.equal(fresh.status, 403, "and so is a new connection");
  t.equal((await call(port, agentFor(ops), "info", {})).status, 200, "a client whose certificate is not revoked is served");
});
