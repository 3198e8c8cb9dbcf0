// `serve` with an acme section in its signing config: the ACME server on the real port, the
// --acme-* flags read and checked, and SIGHUP adding a provisioner.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { parseServeOptions } from "../../src/cli/options.js";
import { accountKey, signJws } from "../helpers/acme-client.js";
import { runCli, serveArgs, startService, tempDir } from "../helpers/server.js";

const signing = { default: { usages: ["digital signature", "server auth"], expiry: "720h" }, profiles: { server: { usages: ["digital signature", "server auth"], expiry: "720h" } } };

t.test("the --acme-* flags: defaults, values and refusals", async (t) => {
  const defaults = parseServeOptions([], {});
  t.same(defaults === "help" ? undefined : [defaults.acmeHttpPort, defaults.acmeTlsPort, defaults.acmeDnsResolver], [80, 443, undefined]);
  const set = parseServeOptions(["--acme-http-port", "5002", "--acme-dns-resolver", "[::1]:5353"], { CERTWRIGHT_ACME_TLS_PORT: "5001" });
  t.same(set === "help" ? undefined : [set.acmeHttpPort, set.acmeTlsPort, set.acmeDnsResolver], [5002, 5001, "[::1]:5353"]);
  t.throws(() => parseServeOptions(["--acme-http-port", "0"], {}), /--acme-http-port: "0" is not a port number/);
  t.throws(() => parseServeOptions(["--acme-dns-resolver", "8.8.8.8"], {}), /--acme-dns-resolver: "8\.8\.8\.8" is not HOST:PORT/);
  const behind = parseServeOptions(["--acme-url", "https://ca.example.internal:8443"], {});
  t.equal(behind === "help" ? undefined : behind.acmeUrl, "https://ca.example.internal:8443");
  for (const bad of ["ca.example.internal", "ftp://ca.example.internal", "https://ca.example.internal/acme", "https://user:pw@ca.example.internal", "https://ca.example.internal/?q"]) {
    t.throws(() => parseServeOptions(["--acme-url", bad], {}), /--acme-url: ".*" is not a scheme, host and port/, bad);
  }
});

t.test("--acme-url: behind a load balancer, the directory names the URL clients reach", async (t) => {
  const dir = tempDir(t);
  const config = join(dir, "ca-config.json");
  writeFileSync(config, JSON.stringify({ signing, acme: { default: { profile: "server" } } }));
  const service = await startService(t, { cwd: dir, args: ["--data-dir", join(dir, "data"), "--config", config, "--workers", "0", "--acme-url", "https://ca.example.internal:8443/"] });
  const directory = (await (await fetch(`${service.url}/acme/default/directory`)).json()) as Record<string, string>;
  t.equal(directory.newAccount, "https://ca.example.internal:8443/acme/default/new-account");
  const head = await fetch(`${service.url}/acme/default/new-nonce`, { method: "HEAD" });
  const key = await accountKey("ES256");
  const jws = await signJws(key, { nonce: head.headers.get("replay-nonce"), url: directory.newAccount, jwk: key.jwk }, { termsOfServiceAgreed: true });
  const created = await fetch(`${service.url}/acme/default/new-account`, { method: "POST", headers: { "content-type": "application/jose+json" }, body: JSON.stringify(jws) });
  t.equal(created.status, 201, "the JWS url is checked against the external URL");
  t.equal(created.headers.get("location")?.startsWith("https://ca.example.internal:8443/acme/default/account/"), true);
});

t.test("serve answers ACME at /acme/<provisioner>/ on its port, and a reload adds a provisioner", async (t) => {
  const dir = tempDir(t);
  const config = join(dir, "ca-config.json");
  writeFileSync(config, JSON.stringify({ signing, acme: { default: { profile: "server" } } }));
  const service = await startService(t, { cwd: dir, args: ["--data-dir", join(dir, "data"), "--config", config, "--workers", "0", "--acme-http-port", "5002"] });
  t.match(service.stdout(), /ACME provisioners: \/acme\/default\/directory/);
  t.notMatch(service.stdout(), /ACME challenge validation is not available/, "the network validators are wired in");

  const directory = (await (await fetch(`${service.url}/acme/default/directory`)).json()) as Record<string, string>;
  t.equal(directory.newAccount, `${service.url}/acme/default/new-account`, "URLs on the host and port the client used");
  const head = await fetch(directory.newNonce!, { method: "HEAD" });
  t.equal(head.status, 200);
  const key = await accountKey("ES256");
  const jws = await signJws(key, { nonce: head.headers.get("replay-nonce"), url: directory.newAccount, jwk: key.jwk }, { termsOfServiceAgreed: true });
  const created = await fetch(directory.newAccount!, { method: "POST", headers: { "content-type": "application/jose+json" }, body: JSON.stringify(jws) });
  t.equal(created.status, 201, await created.clone().text());
  t.match(created.headers.get("location"), /\/acme\/default\/account\//);
  t.ok(created.headers.get("replay-nonce"));
  const replayed = await fetch(directory.newAccount!, { method: "POST", headers: { "content-type": "application/jose+json" }, body: JSON.stringify(jws) });
  t.equal(replayed.status, 400);
  t.equal(((await replayed.json()) as { type: string }).type, "urn:ietf:params:acme:error:badNonce", "the nonce was taken from the database");

  t.equal((await fetch(`${service.url}/acme/teams/directory`)).status, 404);
  writeFileSync(config, JSON.stringify({ signing, acme: { default: { profile: "server" }, teams: { profile: "default", challenges: ["dns-01"] } } }));
  service.child.kill("SIGHUP");
  let status = 0;
  for (let i = 0; i < 100 && status !== 200; i++) {
    status = (await fetch(`${service.url}/acme/teams/directory`)).status;
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  t.equal(status, 200, "the reloaded config's provisioner is served");
});

t.test("a bad acme section stops the start with the field named", async (t) => {
  const dir = tempDir(t);
  const config = join(dir, "ca-config.json");
  writeFileSync(config, JSON.stringify({ signing, acme: { default: { profile: "nope" } } }));
  const result = await runCli(t, await serveArgs(join(dir, "data"), "--config", config), { cwd: dir });
  t.not(result.code, 0);
  t.match(result.stderr, /acme\.default\.profile: "nope" is not a profile of signing/);
});
