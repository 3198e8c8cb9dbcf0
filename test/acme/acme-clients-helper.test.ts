// The real-client helpers' own parts that need no client: the command lines they build, where they
// look for the certificates, and the dns-01 hook lego's exec provider runs, run here as lego would.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { promises as dns } from "node:dns";
import t from "tap";
import { certbotArgs, certbotCertificatePaths, findAcmeClient, legoArgs, legoCertificatePaths, legoDnsHook } from "../helpers/acme-clients.js";
import { startDnsServer } from "../helpers/acme-dns.js";
import { tempDir } from "../helpers/revocation-ca.js";

t.test("lego's flags: server, terms, account, state directory, one --domains each, the challenge servers on loopback", async (t) => {
  const base = { directoryUrl: "https://127.0.0.1:8443/acme/default/directory", caFile: "ca.pem", domains: ["a.test", "b.test"], dir: "state" };
  t.same(legoArgs({ ...base, httpPort: 5002 }), [
    "--server", base.directoryUrl, "--accept-tos", "--email", "acme-test@example.org", "--path", "state",
    "--domains", "a.test", "--domains", "b.test", "--http", "--http.port", "127.0.0.1:5002",
  ]);
  t.same(legoArgs({ ...base, tlsPort: 5001, email: "ops@example.org", keyType: "rsa2048" }).slice(3, 5), ["--email", "ops@example.org"]);
  t.match(legoArgs({ ...base, tlsPort: 5001, keyType: "rsa2048" }).join(" "), /--tls --tls\.port 127\.0\.0\.1:5001 --key-type rsa2048$/);
  t.match(legoArgs({ ...base, dnsExec: { program: "hook" }, dnsResolvers: ["127.0.0.1:5353"] }).join(" "), /--dns exec --dns\.disable-cp --dns\.resolvers 127\.0\.0\.1:5353$/);
  t.notMatch(legoArgs({ ...base, dnsExec: { program: "hook" }, disablePropagationCheck: false }).join(" "), /disable-cp/);
  t.match(legoArgs({ ...base, eab: { kid: "k1", hmac: "c2VjcmV0" } }).join(" "), /--eab --kid k1 --hmac c2VjcmV0$/);
  t.same(legoCertificatePaths("state", ["*.a.test", "a.test"]), {
    certificate: "state/certificates/_.a.test.crt",
    key: "state/certificates/_.a.test.key",
    issuer: "state/certificates/_.a.test.issuer.crt",
    resource: "state/certificates/_.a.test.json",
  });
});

t.test("certbot's flags keep all its state under the test's directory", async (t) => {
  const options = { directoryUrl: "https://127.0.0.1:8443/acme/default/directory", caFile: "ca.pem", domains: ["c.test"], dir: "cb", httpPort: 5002 };
  t.same(certbotArgs(options), ["--non-interactive", "--server", options.directoryUrl, "--config-dir", "cb/config", "--work-dir", "cb/work", "--logs-dir", "cb/logs"]);
  t.equal(certbotCertificatePaths("cb", "c.test").fullchain, "cb/config/live/c.test/fullchain.pem");
});

t.test("the binaries are found on PATH when installed", async (t) => {
  for (const name of ["lego", "certbot"] as const) {
    const path = findAcmeClient(name);
    if (path) t.match(path, new RegExp(`/${name}$`), `${name} at ${path}`);
    else t.pass(`${name} is not installed here`);
  }
});

t.test("lego's dns-01 hook publishes the TXT record on the test DNS server and takes it away", async (t) => {
  const server = await startDnsServer(t, {});
  const hook = await legoDnsHook(t, server, tempDir(t));
  const resolver = new dns.Resolver({ timeout: 1000, tries: 1 });
  resolver.setServers([server.address]);
  // Not execFileSync: the hook posts to this process, whose event loop must stay free to answer.
  const run = promisify(execFile);
  // As lego runs it: PROGRAM present|cleanup FQDN VALUE, the FQDN with its root dot.
  await run(hook.program, ["present", "_acme-challenge.a.test.", "digest-one"]);
  await run(hook.program, ["present", "_acme-challenge.a.test.", "digest-two"]);
  t.same(await resolver.resolveTxt("_acme-challenge.a.test"), [["digest-one"], ["digest-two"]], "a name and its wildcard can publish at once");
  await run(hook.program, ["cleanup", "_acme-challenge.a.test.", "digest-one"]);
  t.same(await resolver.resolveTxt("_acme-challenge.a.test"), [["digest-two"]]);
  t.same(hook.calls, ["present _acme-challenge.a.test.", "present _acme-challenge.a.test.", "cleanup _acme-challenge.a.test."]);
});
