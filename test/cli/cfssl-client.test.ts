// cfssl's own client against several CAs by label: `cfssl gencert -remote … -label` is the code path
// certmgr signs and renews through (cfssl's api/client remote signer), here from Debian's
// golang-cfssl. Skipped where cfssl is not installed, unless CERTWRIGHT_REQUIRE_CFSSL=1 (CI).
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import t from "tap";
import { cfsslSkip } from "../helpers/cfssl.js";
import { getJson } from "../helpers/service-checks.js";
import { mustOpenssl, openssl, startService, tempDir, writeFile } from "../helpers/server.js";

function makeCa(dir: string, name: string, keyArgs: string[]): string {
  const cert = join(dir, `${name}.pem`);
  mustOpenssl([
    "req", "-x509", "-newkey", ...keyArgs, "-nodes", "-keyout", join(dir, `${name}-key.pem`), "-out", cert, "-days", "3650", "-subj", `/CN=cfssl client ${name} CA`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return cert;
}

/** Runs cfssl in `cwd` and parses the JSON it prints. */
function cfssl(cwd: string, args: string[]): Record<string, string> {
  const result = spawnSync("cfssl", args, { cwd, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`cfssl ${args.join(" ")} failed (${result.status}): ${result.stderr}${result.stdout}`);
  return JSON.parse(result.stdout) as Record<string, string>;
}

t.test("cfssl gencert -remote -label gets a certificate from the labelled CA, and again on renewal", { skip: cfsslSkip }, async (t) => {
  const cwd = tempDir(t, "certwright-cfssl-client-");
  const ec = makeCa(cwd, "ec", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
  const rsa = makeCa(cwd, "rsa", ["rsa:2048"]);
  writeFile(cwd, "cas.json", JSON.stringify({ default: "ec", cas: { ec: { certificate: "ec.pem", key: "ec-key.pem" }, rsa: { certificate: "rsa.pem", key: "rsa-key.pem" } } }));
  writeFile(cwd, "csr.json", JSON.stringify({ CN: "labelled.internal", hosts: ["labelled.internal"], key: { algo: "ecdsa", size: 256 } }));
  const service = await startService(t, { cwd, args: ["--ca-config", "cas.json", "--data-dir", "data", "--log-level", "warn"] });
  // cfssl 1.2's remote signer does not reach a bare IP address with a port; a host name it does.
  const remote = `localhost:${service.port}`;
  const verifies = (pem: string, ca: string) => openssl(["verify", "-CAfile", ca, writeFile(cwd, `leaf-${Math.random().toString(36).slice(2)}.pem`, pem)]).status === 0;

  const first = cfssl(cwd, ["gencert", "-remote", remote, "-label", "rsa", "-profile", "server", "csr.json"]);
  t.ok(verifies(first.cert!, rsa), "signed by the RSA CA the label names");
  t.notOk(verifies(first.cert!, ec), "and not by the default CA");
  t.match(first.key, /BEGIN EC PRIVATE KEY/, "cfssl made the key itself; the service only signed");

  const renewed = cfssl(cwd, ["gencert", "-remote", remote, "-label", "rsa", "-profile", "server", "csr.json"]);
  t.ok(verifies(renewed.cert!, rsa), "renewal: signed by the same CA");
  t.not(new X509Certificate(renewed.cert!).serialNumber, new X509Certificate(first.cert!).serialNumber, "with a new serial");

  const unlabelled = cfssl(cwd, ["gencert", "-remote", remote, "-profile", "server", "csr.json"]);
  t.ok(verifies(unlabelled.cert!, ec), "no label: the default CA");

  const info = cfssl(cwd, ["info", "-remote", remote, "-label", "rsa"]);
  t.equal(new X509Certificate(info.certificate!).subject, "CN=cfssl client rsa CA", "info -label answers that CA");

  const listed = await getJson(`${service.url}/api/v1/certificates?label=rsa`);
  t.same(
    listed.body.result.certificates.map((c: { serial_number: string }) => c.serial_number).sort(),
    [first.cert!, renewed.cert!].map((pem) => BigInt(`0x${new X509Certificate(pem).serialNumber}`).toString(10)).sort(),
    "both are in the inventory under the label",
  );
});
