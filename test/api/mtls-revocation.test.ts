// Mutual TLS checks revocation (issue 13): a client certificate this service issued and then
// revoked is refused from the moment the revocation commits, on connections opened before it too,
// and on every replica that shares the database; it can no longer renew itself through
// own_names_only. Real TLS: the app listens on a loopback port, clients present real certificates.
import { X509Certificate } from "node:crypto";
import { Agent, request as httpsRequest } from "node:https";
import { join } from "node:path";
import Database from "better-sqlite3";
import t from "tap";
import { buildApp } from "../../src/api/app.js";
import { Authority } from "../../src/authority/authority.js";
import { operatorServices, sqliteRecords } from "../../src/authority/operator-services.js";
import { parseSigningConfig } from "../../src/profiles/signing-config.js";
import { CertificateStore } from "../../src/store/certificate-store.js";
import { makeCa, tempDir, type ApiAnswer } from "../helpers/app.js";

const usages = ["digital signature", "key encipherment", "server auth", "client auth"];
const config = parseSigningConfig({
  signing: { default: { usages, expiry: "24h" }, profiles: { node: { usages, expiry: "24h", own_names_only: true } } },
});

interface Answer extends ApiAnswer {
  /** Whether the request went over a connection that an earlier request opened. */
  reused: boolean;
}

function call(port: number, agent: Agent, method: string, path: string, body?: object): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: "127.0.0.1", port, path, method, agent, headers: { "content-type": "application/json" } }, (response) => {
      let data = "";
      response.on("data", (chunk) => (data += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(data), reused: req.reusedSocket }));
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const serialOf = (pem: string) => BigInt(`0x${new X509Certificate(pem).serialNumber}`).toString(10);

t.test("a revoked client certificate is refused over mutual TLS, on open and new connections, and cannot renew itself", async (t) => {
  const dir = tempDir(t);
  const { ca } = await makeCa();
  const dbPath = join(dir, "certs.db");
  const store = CertificateStore.open(dbPath);
  const authority = new Authority({ ca, config, store });
  const issue = async (cn: string, hosts: string[]) => {
    const { result } = await authority.newCert({ request: { CN: cn, hosts } });
    return { cert: result.certificate, key: result.private_key };
  };
  const serving = await issue("localhost", ["127.0.0.1", "localhost"]);
  const app = await buildApp({ authority, ...operatorServices(ca, sqliteRecords(store.db), () => new Date()), tls: { ...serving, clientCa: ca.pem } });
  t.teardown(async () => {
    await app.close();
    store.close();
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const port = (app.server.address() as { port: number }).port;
  const agentFor = (identity: { cert: string; key: string }) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.pem, ...identity });
    t.teardown(() => agent.destroy());
    return agent;
  };

  const node1 = await issue("node1.internal", ["node1.internal"]);
  const ops = await issue("ops.internal", ["ops.internal"]);
  const node1Agent = agentFor(node1);
  const opsAgent = agentFor(ops);
  const renew = { request: { CN: "node1.internal", hosts: ["node1.internal"] }, profile: "node" };

  t.equal((await call(port, node1Agent, "GET", "/api/v1/cfssl/health")).status, 200, "node1's certificate is accepted");
  const renewed = await call(port, node1Agent, "POST", "/api/v1/cfssl/newcert", renew);
  t.equal(renewed.status, 200, `node1 renews its own name: ${JSON.stringify(renewed.body.errors)}`);
  t.ok(renewed.reused, "over the connection it opened");

  const revoked = await call(port, opsAgent, "POST", "/api/v1/cfssl/revoke", { serial: serialOf(node1.cert), reason: "keyCompromise" });
  t.equal(revoked.status, 200, `revoked through the API: ${JSON.stringify(revoked.body.errors)}`);

  const sameConnection = await call(port, node1Agent, "POST", "/api/v1/cfssl/info", {});
  t.ok(sameConnection.reused, "the next request goes over the connection opened before the revocation");
  t.equal(sameConnection.status, 403, "and is refused");
  t.match(sameConnection.body, { success: false, result: null, errors: [{ code: 13200, message: /client certificate \(serial \d+\) has been revoked/ }] });
  const renewAgain = await call(port, node1Agent, "POST", "/api/v1/cfssl/newcert", renew);
  t.equal(renewAgain.status, 403, "own_names_only renewal with the revoked certificate is refused");
  t.equal(renewAgain.body.errors[0]?.code, 13200);
  const newConnection = await call(port, agentFor(node1), "GET", "/api/v1/cfssl/health");
  t.notOk(newConnection.reused);
  t.equal(newConnection.status, 403, "so is a new connection");
  t.equal((await call(port, opsAgent, "GET", "/api/v1/cfssl/health")).status, 200, "a certificate that is not revoked still works");

  // Another replica revokes through its own connection to the shared database: no cache to wait for.
  const replica = new Database(dbPath);
  replica.prepare("UPDATE certificates SET status = 'revoked', revoked_at = ?, reason = 1 WHERE serial_number = ?").run(new Date().toISOString(), serialOf(ops.cert));
  replica.close();
  const afterReplica = await call(port, opsAgent, "GET", "/api/v1/cfssl/health");
  t.ok(afterReplica.reused);
  t.equal(afterReplica.status, 403, "a revocation committed by another replica counts on the next request");

  const rows = store.db.prepare("SELECT count(*) AS n FROM certificates WHERE common_name = 'node1.internal'").get() as { n: number };
  t.equal(rows.n, 2, "only the renewal made before the revocation was recorded");
});
