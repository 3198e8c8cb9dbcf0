// Several CAs by label (--ca-config, cfssl multirootca's model), end to end on the compiled service:
// each label signs with its CA (openssl verify against it and not the other), info by label, a CRL
// and OCSP answers per CA checked with openssl, revoke under a label, the inventory's label filter
// and `certwright list --label`, a certmgr-style labelled request, and a rotation across a restart.
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { client } from "../helpers/client.js";
import { postgresSkip, startPostgres } from "../helpers/postgres.js";
import { makeSoftHsmToken, softhsmSkip } from "../helpers/softhsm.js";
import { getJson, ocspStatus, opensslCsr, type OpensslCa } from "../helpers/service-checks.js";
import { authorityKeyId, mustOpenssl, openssl, postJson, runCli, startService, subjectKeyId, tempDir, writeFile } from "../helpers/server.js";

function makeCa(dir: string, name: string, keyArgs: string[], cn: string): OpensslCa {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  mustOpenssl([
    "req", "-x509", "-newkey", ...keyArgs, "-nodes", "-keyout", key, "-out", cert, "-days", "3650", "-subj", `/CN=${cn}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return { cert, key };
}

/** Whether openssl verifies `pem` against `ca` alone. */
function verifies(dir: string, ca: OpensslCa, pem: string): boolean {
  const file = writeFile(dir, `leaf-${Math.random().toString(36).slice(2)}.pem`, pem);
  return openssl(["verify", "-CAfile", ca.cert, file]).status === 0;
}

/** The serials (upper hex) a CRL lists, after openssl checked its signature against `ca`; throws when it does not verify. */
async function crlSerials(url: string, dir: string, name: string, ca: OpensslCa): Promise<string[]> {
  const response = await fetch(`${url}/crl/${name}`);
  if (response.status !== 200) throw new Error(`GET /crl/${name} answered ${response.status}`);
  const file = join(dir, `${name}-${Date.now()}-${Math.random().toString(36).slice(2)}.der`);
  writeFileSync(file, Buffer.from(await response.arrayBuffer()));
  const text = mustOpenssl(["crl", "-inform", "der", "-in", file, "-CAfile", ca.cert, "-noout", "-text"]);
  return [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]!);
}

/** The service's output once it says `pattern`: its log lines may follow the first answer by a moment. */
async function outputOnceItSays(service: { stdout(): string }, pattern: RegExp, timeoutMs = 5_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(service.stdout()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  return service.stdout();
}

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber.toUpperCase();

t.test("serve --ca-config: two CAs by label", async (t) => {
  const cwd = tempDir(t, "certwright-ca-config-");
  const ec = makeCa(cwd, "ec", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "Labels EC CA 2026");
  const rsa = makeCa(cwd, "rsa", ["rsa:2048"], "Labels RSA CA 2024");
  // Paths relative to the file's directory; the RSA CA names its own CRL in what it issues.
  const caConfig = (defaultLabel: string, more: Record<string, unknown> = {}) =>
    writeFile(
      cwd,
      "cas.json",
      JSON.stringify({
        default: defaultLabel,
        ...more,
        cas: {
          "ec-2026": { certificate: "ec.pem", key: "ec-key.pem" },
          "rsa-2024": { certificate: "rsa.pem", key: "rsa-key.pem", crl_url: "http://pki.test/crl/rsa-2024.crl", issuer_urls: ["http://pki.test/rsa-2024.pem"] },
        },
      }),
    );
  caConfig("ec-2026");
  writeFile(
    cwd,
    "signing.json",
    JSON.stringify({
      signing: {
        default: { usages: ["signing", "server auth"], expiry: "8760h" },
        profiles: { server: { usages: ["signing", "key encipherment", "server auth"], expiry: "8760h", crl_url: "http://pki.test/crl/default.crl", issuer_urls: ["http://pki.test/ca.pem"] } },
      },
    }),
  );
  const service = await startService(t, { cwd, args: ["--ca-config", "cas.json", "--config", "signing.json", "--workers", "2", "--log-level", "warn"] });

  const sign = async (cn: string, extra: Record<string, unknown> = {}) => {
    const answer = await postJson(service.api, "sign", { certificate_request: opensslCsr(cwd, cn), profile: "server", ...extra });
    return answer;
  };
  const viaDefault = await sign("default.internal");
  t.equal(viaDefault.status, 200, JSON.stringify(viaDefault.body));
  const emptyLabel = await sign("empty.internal", { label: "" });
  const viaRsa = await sign("rsa.internal", { label: "rsa-2024" });
  const viaEc = await sign("ec.internal", { label: "ec-2026" });
  for (const [name, answer, ca, other] of [
    ["no label", viaDefault, ec, rsa],
    ["empty label", emptyLabel, ec, rsa],
    ["rsa-2024", viaRsa, rsa, ec],
    ["ec-2026", viaEc, ec, rsa],
  ] as const) {
    t.equal(answer.status, 200, `${name}: ${JSON.stringify(answer.body)}`);
    t.ok(verifies(cwd, ca, answer.body.result.certificate), `${name}: verifies against its CA`);
    t.notOk(verifies(cwd, other, answer.body.result.certificate), `${name}: does not verify against the other CA`);
  }

  t.test("each CA names its own CRL and certificate: the profile's URLs, or the CA's in place of them", async (t) => {
    const text = (pem: string) => mustOpenssl(["x509", "-noout", "-ext", "crlDistributionPoints,authorityInfoAccess", "-in", writeFile(cwd, "urls.pem", pem)]);
    const ecText = text(viaEc.body.result.certificate);
    t.match(ecText, /URI:http:\/\/pki\.test\/crl\/default\.crl/);
    t.match(ecText, /CA Issuers - URI:http:\/\/pki\.test\/ca\.pem/);
    const rsaText = text(viaRsa.body.result.certificate);
    t.match(rsaText, /URI:http:\/\/pki\.test\/crl\/rsa-2024\.crl/);
    t.match(rsaText, /CA Issuers - URI:http:\/\/pki\.test\/rsa-2024\.pem/);
    t.notMatch(rsaText, /default\.crl/);
  });

  const newcert = await postJson(service.api, "newcert", { request: { CN: "new.internal", hosts: ["new.internal"] }, profile: "server", label: "rsa-2024" });
  t.equal(newcert.status, 200, JSON.stringify(newcert.body));
  t.ok(verifies(cwd, rsa, newcert.body.result.certificate), "newcert under rsa-2024: the RSA CA signed it");

  t.test("info by label; an unknown label is 404 12100 naming the labels", async (t) => {
    const infoOf = async (body: unknown) => (await postJson(service.api, "info", body)).body.result.certificate as string;
    t.equal(new X509Certificate(await infoOf({ label: "rsa-2024" })).subject, "CN=Labels RSA CA 2024");
    t.equal(new X509Certificate(await infoOf({})).subject, "CN=Labels EC CA 2026");
    t.equal(new X509Certificate(await infoOf({ label: "" })).subject, "CN=Labels EC CA 2026");
    for (const endpoint of ["info", "sign"]) {
      const unknown = await postJson(service.api, endpoint, { label: "nope", certificate_request: opensslCsr(cwd, "nope.internal"), profile: "server" });
      t.equal(unknown.status, 404, endpoint);
      t.equal(unknown.body.errors?.[0]?.code, 12100);
      t.match(unknown.body.errors?.[0]?.message, /label "nope": no such CA here; the CAs served are "ec-2026", "rsa-2024"/);
    }
  });

  t.test("a certmgr spec with a label: info and sign as cfssl's remote signer sends them", async (t) => {
    // cfssl's transport (certmgr's authority {"remote", "label", "profile"}) asks info for the CA,
    // then sends a signer.SignRequest marshalled by Go: zero times, empty crl_override, null metadata.
    const info = await postJson(service.api, "info", { label: "rsa-2024", profile: "server" });
    t.equal(info.status, 200);
    const request = {
      hosts: ["certmgr.internal"],
      certificate_request: opensslCsr(cwd, "certmgr.internal"),
      profile: "server",
      crl_override: "",
      label: "rsa-2024",
      NotBefore: "0001-01-01T00:00:00Z",
      NotAfter: "0001-01-01T00:00:00Z",
      ReturnPrecert: false,
      metadata: null,
    };
    const signed = await postJson(service.api, "sign", request);
    t.equal(signed.status, 200, JSON.stringify(signed.body));
    t.ok(verifies(cwd, rsa, signed.body.result.certificate), "signed by the labelled CA");
    t.equal(authorityKeyId(signed.body.result.certificate), subjectKeyId(info.body.result.certificate), "its authority key id is the labelled CA's");
  });

  t.test("the inventory's label filter and certwright list --label", async (t) => {
    const byLabel = async (label: string) => (await getJson(`${service.url}/api/v1/certificates?label=${label}&limit=100`)).body.result as { certificates: { common_name: string; ca_label: string }[] };
    const rsaNames = (await byLabel("rsa-2024")).certificates.map((c) => c.common_name).sort();
    t.same(rsaNames, ["certmgr.internal", "new.internal", "rsa.internal"]);
    const ecRows = (await byLabel("ec-2026")).certificates;
    t.same(ecRows.map((c) => c.common_name).sort(), ["default.internal", "ec.internal", "empty.internal"]);
    t.ok(ecRows.every((row) => row.ca_label === "ec-2026"));
    const listed = await client(t, ["list", "--remote", service.url, "--label", "rsa-2024", "--json"], { cwd });
    t.equal(listed.code, 0, listed.stderr);
    const names = listed.stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line).common_name).sort();
    t.same(names, rsaNames);
  });

  t.test("revocation per CA: the CRL of each label, OCSP for both CAs, revoke by label", async (t) => {
    const rsaPem = writeFile(cwd, "rsa-leaf.pem", viaRsa.body.result.certificate);
    const ecPem = writeFile(cwd, "ec-leaf.pem", viaEc.body.result.certificate);
    const revoked = await postJson(service.api, "revoke", { serial: serialOf(viaRsa.body.result.certificate), label: "rsa-2024", reason: "superseded" });
    t.equal(revoked.status, 200, JSON.stringify(revoked.body));
    t.same(await crlSerials(service.url, cwd, "rsa-2024.crl", rsa), [serialOf(viaRsa.body.result.certificate)]);
    t.same(await crlSerials(service.url, cwd, "ec-2026.crl", ec), []);
    t.same(await crlSerials(service.url, cwd, "default.crl", ec), [], "default.crl is the default CA's");
    const missing = await fetch(`${service.url}/crl/nope.crl`);
    t.equal(missing.status, 404);

    const rsaOcsp = await ocspStatus(service.url, rsa, rsaPem);
    t.equal(rsaOcsp.status, "revoked", rsaOcsp.text);
    t.ok(rsaOcsp.verified, "the RSA CA signed its OCSP answer");
    const ecOcsp = await ocspStatus(service.url, ec, ecPem);
    t.equal(ecOcsp.status, "good", ecOcsp.text);
    t.ok(ecOcsp.verified, "the EC CA signed its OCSP answer");

    // By authority key id instead of label.
    const byAki = await postJson(service.api, "revoke", { serial: serialOf(viaEc.body.result.certificate), authority_key_id: authorityKeyId(viaEc.body.result.certificate) });
    t.equal(byAki.status, 200, JSON.stringify(byAki.body));
    t.same(await crlSerials(service.url, cwd, "ec-2026.crl", ec), [serialOf(viaEc.body.result.certificate)]);
    t.same(await crlSerials(service.url, cwd, "rsa-2024.crl", rsa), [serialOf(viaRsa.body.result.certificate)]);
  });

  t.test("certwright revoke --serial --label: the labelled CA's certificate, in its CRL", async (t) => {
    const serial = serialOf(newcert.body.result.certificate);
    const revoked = await client(t, ["revoke", "--remote", service.url, "--serial", serial, "--label", "rsa-2024", "--reason", "keyCompromise"], { cwd });
    t.equal(revoked.code, 0, revoked.stderr);
    t.match(revoked.stdout, /^revoked serial [0-9A-F]+ \(new\.internal, profile server\): keyCompromise at /);
    t.same((await crlSerials(service.url, cwd, "rsa-2024.crl", rsa)).sort(), [serialOf(viaRsa.body.result.certificate), serial].sort());
    const unknown = await client(t, ["revoke", "--remote", service.url, "--serial", serial, "--label", "nope"], { cwd });
    t.equal(unknown.code, 1);
    t.match(unknown.stderr, /12100/);
  });

  t.test("rotation: restarted with the other CA the default, the same database is accepted and the old CA still answers", async (t) => {
    await service.stop("SIGTERM");
    // The EC CA's certificates name /crl/default.crl: it keeps publishing there.
    caConfig("rsa-2024", { default_crl: "ec-2026" });
    const rotated = await startService(t, { cwd, args: ["--ca-config", "cas.json", "--config", "signing.json", "--workers", "1", "--log-level", "info"] });
    t.match(await outputOnceItSays(rotated, /served here too/), /served here too: the default CA .* is recorded from now on/);
    const signed = await postJson(rotated.api, "sign", { certificate_request: opensslCsr(cwd, "after.internal"), profile: "server" });
    t.equal(signed.status, 200);
    t.ok(verifies(cwd, rsa, signed.body.result.certificate), "the new default signs requests without a label");
    t.same(await crlSerials(rotated.url, cwd, "ec-2026.crl", ec), [serialOf(viaEc.body.result.certificate)], "the old CA's CRL still lists its revocations");
    t.same(await crlSerials(rotated.url, cwd, "default.crl", ec), [serialOf(viaEc.body.result.certificate)], "default_crl keeps /crl/default.crl the old CA's");
    t.same((await crlSerials(rotated.url, cwd, "rsa-2024.crl", rsa)).length, 2);
    const ecOcsp = await ocspStatus(rotated.url, ec, join(cwd, "ec-leaf.pem"));
    t.equal(ecOcsp.status, "revoked");
    t.ok(ecOcsp.verified);
    await rotated.stop("SIGTERM");
  });
});

t.test("--ca-config refusals", async (t) => {
  const cwd = tempDir(t, "certwright-ca-config-bad-");
  makeCa(cwd, "ec", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "Refusals CA");
  const cases: [string, unknown, RegExp][] = [
    ["no-default.json", { default: "x", cas: { a: { certificate: "ec.pem", key: "ec-key.pem" } } }, /default: "x" is not one of the CAs \("a"\)/],
    ["per-ca-config.json", { default: "a", cas: { a: { certificate: "ec.pem", key: "ec-key.pem", config: "c.json" } } }, /signing config: CA "a": .*c\.json: cannot be read \(ENOENT\)/],
    ["twice.json", { default: "a", cas: { a: { certificate: "ec.pem", key: "ec-key.pem" }, b: { certificate: "ec.pem", key: "ec-key.pem" } } }, /"b" and "a" are the same CA/],
    ["bad-default-crl.json", { default: "a", default_crl: "b", cas: { a: { certificate: "ec.pem", key: "ec-key.pem" } } }, /default_crl: "b" is not one of the CAs/],
    ["bad-url.json", { default: "a", cas: { a: { certificate: "ec.pem", key: "ec-key.pem", crl_url: "not a url" } } }, /cas\.a\.crl_url: /],
    ["bad-label.json", { default: "a b", cas: { "a b": { certificate: "ec.pem", key: "ec-key.pem" } } }, /cas\.a b: a label is 1-64 letters/],
  ];
  for (const [file, content, message] of cases) {
    writeFile(cwd, file, JSON.stringify(content));
    const run = await runCli(t, ["serve", "--port", "0", "--ca-config", file], { cwd });
    t.equal(run.code, 1, `${file}: ${run.stderr}`);
    t.match(run.stderr, message, file);
  }
  const both = await runCli(t, ["serve", "--ca-config", "x.json", "--ca", "ec.pem", "--ca-key", "ec-key.pem"], { cwd });
  t.equal(both.code, 2);
  t.match(both.stderr, /--ca-config names every CA .*give it instead of --ca, --ca-key and --ca-bundle/);
});

/** Signs one certificate without a label, and says which CA's key id it names. */
async function signedBy(api: string, dir: string, cn: string): Promise<string> {
  const answer = await postJson(api, "sign", { certificate_request: opensslCsr(dir, cn), profile: "server" });
  if (answer.status !== 200) throw new Error(`sign ${cn}: ${JSON.stringify(answer.body)}`);
  return authorityKeyId(answer.body.result.certificate);
}

for (const backend of ["sqlite", "postgres"] as const) {
  t.test(`the database across a rotation (${backend}): any CA of the file owns it, a CA outside it does not`, { skip: backend === "postgres" && postgresSkip }, async (t) => {
    const cwd = tempDir(t, `certwright-ca-config-${backend}-`);
    const first = makeCa(cwd, "first", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "Rotation First CA");
    const second = makeCa(cwd, "second", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "Rotation Second CA");
    makeCa(cwd, "stranger", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "Rotation Stranger CA");
    const database = backend === "postgres" ? ["--database", await (await startPostgres(t)).createDatabase()] : [];
    const write = (defaultLabel: string, labels: string[]) =>
      writeFile(cwd, "cas.json", JSON.stringify({ default: defaultLabel, cas: Object.fromEntries(labels.map((label) => [label, { certificate: `${label}.pem`, key: `${label}-key.pem` }])) }));
    const args = ["--data-dir", join(cwd, "data"), "--ca-config", "cas.json", "--workers", "0", "--log-level", "info", ...database];

    write("first", ["first"]);
    const before = await startService(t, { cwd, args });
    t.equal(await signedBy(before.api, cwd, "before.internal"), subjectKeyId(mustOpenssl(["x509", "-in", first.cert])));
    await before.stop("SIGTERM");

    write("second", ["second", "first"]);
    const after = await startService(t, { cwd, args });
    t.match(await outputOnceItSays(after, /served here too/), /served here too: the default CA \([0-9a-f]+\) is recorded from now on/);
    t.equal(await signedBy(after.api, cwd, "after.internal"), subjectKeyId(mustOpenssl(["x509", "-in", second.cert])));
    const listed = await getJson(`${after.url}/api/v1/certificates?label=first`);
    t.same(
      listed.body.result.certificates.map((c: { common_name: string }) => c.common_name),
      ["before.internal"],
      "the old CA's records stay, under its label",
    );
    await after.stop("SIGTERM");

    // Restarting the same file again changes nothing; a file without either CA is another CA's database.
    const again = await startService(t, { cwd, args });
    t.notMatch(await outputOnceItSays(again, /serving cfssl's API/), /served here too/);
    await again.stop("SIGTERM");
    write("stranger", ["stranger"]);
    const refused = await runCli(t, ["serve", "--port", "0", ...args], { cwd });
    t.equal(refused.code, 1, refused.stderr);
    t.match(refused.stderr, /belongs to another CA/);
  });
}

t.test("a CA whose key is in a PKCS#11 module beside one in a file", { skip: softhsmSkip }, async (t) => {
  const cwd = tempDir(t, "certwright-ca-config-hsm-");
  const hsm = makeSoftHsmToken(t, "rsa-2048");
  const file = makeCa(cwd, "file", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "File CA");
  writeFile(
    cwd,
    "cas.json",
    JSON.stringify({ default: "file", cas: { file: { certificate: "file.pem", key: "file-key.pem" }, hsm: { certificate: hsm.caFile, key: `pkcs11:token=${hsm.token};object=${hsm.label}` } } }),
  );
  const service = await startService(t, {
    cwd,
    args: ["--ca-config", "cas.json", "--pkcs11-module", hsm.module, "--pkcs11-pin-file", hsm.pinFile, "--workers", "2", "--log-level", "warn"],
    env: hsm.env,
  });
  for (const [label, ca] of [["hsm", { cert: hsm.caFile, key: hsm.keyFile }], ["", file]] as const) {
    const answer = await postJson(service.api, "sign", { certificate_request: opensslCsr(cwd, `${label || "file"}.internal`), profile: "server", label });
    t.equal(answer.status, 200, JSON.stringify(answer.body));
    t.ok(verifies(cwd, ca, answer.body.result.certificate), `label "${label}": signed by its CA`);
    const leaf = writeFile(cwd, `${label || "file"}-leaf.pem`, answer.body.result.certificate);
    const ocsp = await ocspStatus(service.url, ca, leaf);
    t.equal(ocsp.status, "good", ocsp.text);
    t.ok(ocsp.verified, `label "${label}": its OCSP answer verifies`);
  }
  t.same(await crlSerials(service.url, cwd, "hsm.crl", { cert: hsm.caFile, key: hsm.keyFile }), [], "the HSM CA signs its CRL");
});

t.test("a multirootca roots file serves as it is", async (t) => {
  const cwd = tempDir(t, "certwright-roots-");
  const primary = makeCa(cwd, "primary", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "Roots Primary CA");
  const backup = makeCa(cwd, "backup", ["rsa:2048"], "Roots Backup CA");
  writeFile(cwd, "signing.json", JSON.stringify({ signing: { default: { usages: ["signing", "key encipherment", "server auth"], expiry: "720h" } } }));
  writeFile(
    cwd,
    "multiroot.conf",
    "[ primary ]\nprivate = file://primary-key.pem\ncertificate = primary.pem\nconfig = signing.json\n\n[ backup ]\nprivate = file://backup-key.pem\ncertificate = backup.pem\nconfig = signing.json\n",
  );
  const service = await startService(t, { cwd, args: ["--ca-config", "multiroot.conf", "--config", "signing.json", "--workers", "1", "--log-level", "warn"] });
  for (const [label, ca] of [["backup", backup], ["", primary]] as const) {
    const answer = await postJson(service.api, "sign", { certificate_request: opensslCsr(cwd, `${label || "primary"}.internal`), label });
    t.equal(answer.status, 200, JSON.stringify(answer.body));
    t.ok(verifies(cwd, ca, answer.body.result.certificate), `label "${label}": signed by its CA`);
  }
});
