// An ACME provisioner with a `label`: its orders are signed by that CA under that CA's own signing
// config (--ca-config's `config`), its policy checked before any challenge; a provisioner naming a
// CA that is not served, or a profile its CA's config lacks, is refused at start and on reload.
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import t from "tap";
import { ConfigError } from "../../src/profiles/signing-config.js";
import { readSigningConfigs } from "../../src/profiles/signing-configs.js";
import { loadCertificateAuthority } from "../../src/pki/ca.js";
import { bareCaChain } from "../../src/pki/chain.js";
import { AcmeTestClient, csrFor, http01Responder, loopbackHttp01Validator } from "../helpers/acme-client.js";
import { makeCa, openssl, tempDir, testApp, writeFile } from "../helpers/app.js";

const hour = 3_600_000;
const shared = (acme: Record<string, unknown>) => ({
  signing: {
    default: { usages: ["digital signature", "server auth"], expiry: "720h" },
    profiles: { web: { usages: ["digital signature", "server auth"], expiry: "2160h" } },
  },
  acme,
});
const devices = {
  signing: {
    default: { usages: ["digital signature", "client auth"], expiry: "48h" },
    profiles: { device: { usages: ["digital signature", "server auth", "client auth"], expiry: "24h", policy: { dns: { allow: [".devices.test"] } } } },
  },
};

t.test("a labelled provisioner's order is signed by its CA under that CA's own config", async (t) => {
  const dir = tempDir(t);
  const sharedPath = writeFile(dir, "signing.json", JSON.stringify(shared({ default: { profile: "web" }, devices: { profile: "device", label: "devices" } })));
  const own = new Map([["devices", writeFile(dir, "devices.json", JSON.stringify(devices))]]);
  const a = await makeCa();
  const b = await makeCa();
  const responder = await http01Responder(t);
  const { app } = await testApp(t, {
    ca: await loadCertificateAuthority(a.certificate, a.private_key, "web"),
    others: [{ label: "devices", ca: await loadCertificateAuthority(b.certificate, b.private_key, "devices"), chain: bareCaChain(b.certificate) }],
    config: readSigningConfigs(sharedPath, own).configs,
    configPath: sharedPath,
    ownConfigPaths: own,
    acme: { validator: loopbackHttp01Validator(responder.port) },
  });
  const client = await AcmeTestClient.create(app, "ES256", "devices");
  t.equal((await client.newAccount()).status, 201);

  const outside = await client.newOrder([{ type: "dns", value: "www.example.test" }]);
  t.equal(outside.status, 400, "the devices CA's policy, not --config's (which has none), refuses the name");
  t.equal(outside.body.type, "urn:ietf:params:acme:error:rejectedIdentifier");

  const order = await client.newOrder([{ type: "dns", value: "cam1.devices.test" }]);
  t.equal(order.status, 201, order.text);
  const thumbprint = await client.thumbprint();
  const authz = await client.post(order.body.authorizations[0], "");
  const challenge = authz.body.challenges.find((c: { type: string }) => c.type === "http-01");
  responder.tokens.set(challenge.token, `${challenge.token}.${thumbprint}`);
  await client.post(challenge.url, {});
  const ready = await client.poll(order.headers.location as string, (body) => body.status !== "pending");
  t.equal(ready.body.status, "ready", JSON.stringify(ready.body));
  const finalized = await client.post(order.body.finalize, { csr: (await csrFor({ dns: ["cam1.devices.test"] })).b64 });
  t.equal(finalized.status, 200, finalized.text);
  const download = await client.post(finalized.body.certificate, "");
  const pems = download.text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)!;
  const leaf = new X509Certificate(pems[0]!);
  const devicesCa = new X509Certificate(b.certificate);
  t.ok(leaf.checkIssued(devicesCa) && leaf.verify(devicesCa.publicKey), "signed by the devices CA");
  t.equal(pems[1]!.trim(), b.certificate.trim(), "the chain is the devices CA's");
  const lifetime = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom);
  t.ok(lifetime <= 24 * hour + 10 * 60_000 && lifetime > 23 * hour, `the device profile's 24h (${lifetime / hour}h)`);
  t.ok(leaf.keyUsage?.includes("1.3.6.1.5.5.7.3.2"), "client auth, from the devices CA's profile");
  const verified = openssl(["verify", "-CAfile", writeFile(dir, "devices-ca.pem", b.certificate), writeFile(dir, "leaf.pem", pems[0]!)]);
  t.equal(verified.status, 0, verified.stderr);

  // A reload whose provisioner names a profile the devices CA's config lacks keeps the old configs.
  writeFile(dir, "signing.json", JSON.stringify(shared({ devices: { profile: "web", label: "devices" } })));
  const reload = await app.inject({ method: "POST", url: "/api/v1/admin/reload" });
  t.equal(reload.statusCode, 400, reload.body);
  t.match(reload.json().errors[0].message, /acme\.devices\.profile: "web" is not a profile of CA "devices"'s own config/);
  t.equal((await app.inject({ method: "GET", url: "/acme/default/directory" })).statusCode, 200, "the old provisioners are still served");
});

t.test("checkAcme: a provisioner names a served CA and a profile of that CA's config", async (t) => {
  const dir = tempDir(t);
  const own = new Map([["devices", writeFile(dir, "devices.json", JSON.stringify(devices))]]);
  const read = (acme: Record<string, unknown>) => readSigningConfigs(writeFile(dir, "signing.json", JSON.stringify(shared(acme))), own).configs;
  t.doesNotThrow(() => read({ d: { profile: "device", label: "devices" }, w: { profile: "web" } }).checkAcme(["web", "devices"]));
  t.throws(() => read({ d: { profile: "device", label: "nope" } }).checkAcme(["web", "devices"]), new ConfigError('acme.d.label: "nope" is not a CA served here ("web", "devices")'));
  t.throws(() => read({ d: { profile: "web", label: "devices" } }).checkAcme(["web", "devices"]), /acme\.d\.profile: "web" is not a profile of CA "devices"'s own config \("default", "device"\)/);
  t.throws(() => read({ d: { profile: "device", label: "web" } }).checkAcme(["web", "devices"]), /acme\.d\.profile: "device" is not a profile of signing/);
  t.doesNotThrow(() => read({ d: { profile: "default", label: "devices" } }).checkAcme(["web", "devices"]), "default is every config's");
  t.throws(() => readSigningConfigs(writeFile(dir, "plain.json", JSON.stringify(shared({ d: { profile: "device" } })))), /acme\.d\.profile: "device" is not a profile of signing/, "unlabelled: checked as the file is parsed");
});

t.test("serve refuses a provisioner whose CA is not served", async (t) => {
  const { runCli, serveArgs } = await import("../helpers/server.js");
  const dir = tempDir(t);
  const config = writeFile(dir, "signing.json", JSON.stringify(shared({ d: { profile: "web", label: "elsewhere" } })));
  const result = await runCli(t, await serveArgs(join(dir, "data"), "--config", config), { cwd: dir });
  t.equal(result.code, 1);
  t.match(result.stderr, /acme\.d\.label: "elsewhere" is not a CA served here/);
});
