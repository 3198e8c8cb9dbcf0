// The signing config: cfssl's ca-config.json files load as they are; each invalid fixture (one per
// failure mode, as cfssl's config/testdata) stops the load with a message naming the JSON path.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import t from "tap";
import { CertwrightError } from "../../src/errors.js";
import { x509 } from "../../src/pki/webcrypto.js";
import { ConfigError, loadSigningConfig, parseSigningConfig, type SigningConfig } from "../../src/profiles/signing-config.js";
import { openssl, post, profilesDir, root, testApp } from "../helpers/app.js";

const fixtures = join(root, "test", "fixtures", "config");
const fixture = (name: string) => join(fixtures, name);
const seedConfig = JSON.parse(readFileSync(fixture("seed-001-ca-config.json"), "utf8")) as object;

const hour = 3_600_000;
const serverUsages = ["signing", "key encipherment", "server auth", "client auth"];

/** Each invalid fixture, with the JSON path its error must name and what else the message says. */
const invalid: Record<string, { path: string; says: RegExp }> = {
  "invalid-expiry.json": { path: "signing.profiles.kubernetes.expiry", says: /"forever".*duration/ },
  "invalid-default-expiry.json": { path: "signing.default.expiry", says: /positive duration/ },
  "invalid-usage.json": { path: "signing.profiles.kubernetes.usages[2]", says: /unknown usage "server".*server auth/ },
  "invalid-usages-type.json": { path: "signing.profiles.kubernetes.usages", says: /array/i },
  "invalid-unknown-field.json": { path: "signing.profiles.kubernetes.usage", says: /unknown field.*usages/ },
  "invalid-auth-key.json": { path: "signing.profiles.kubernetes.auth_key", says: /is not in auth_keys/ },
  "invalid-auth-keys.json": { path: "auth_keys.x.key", says: /not a hex key/ },
  "invalid-name-whitelist.json": { path: "signing.profiles.kubernetes.name_whitelist", says: /regular expression/ },
  "invalid-json.json": { path: "", says: /not valid JSON/ },
  "invalid-not-after.json": { path: "signing.profiles.kubernetes.not_after", says: /later than not_before/ },
  "invalid-not-before.json": { path: "signing.profiles.kubernetes.not_before", says: /"next tuesday".*RFC 3339/ },
  "invalid-ocsp-url.json": { path: "signing.profiles.kubernetes.ocsp_url", says: /"not a url".*not a URL/ },
  "invalid-issuer-url.json": { path: "signing.profiles.kubernetes.issuer_urls[1]", says: /not a URL/ },
  "invalid-backdate.json": { path: "signing.default.backdate", says: /"a while"/ },
  "invalid-ca-constraint.json": { path: "signing.profiles.intermediate.ca_constraint.max_path_len", says: />=0/ },
  "invalid-top-level-field.json": { path: "sigining", says: /unknown field/ },
  "invalid-signing-field.json": { path: "signing.profile", says: /unknown field/ },
  "invalid-profile-type.json": { path: "signing.profiles.kubernetes", says: /must be an object/ },
  "invalid-not-an-object.json": { path: "", says: /JSON object/ },
  "invalid-acme-profile.json": { path: "acme.default.profile", says: /"web" is not a profile of signing \("default", "server"\)/ },
  "invalid-acme-challenge.json": { path: "acme.default.challenges[1]", says: /http-01|dns-01|tls-alpn-01/ },
  "invalid-acme-field.json": { path: "acme.default", says: /unknown field "challenge"/ },
  "invalid-acme-eab-no-keys.json": { path: "acme.default.external_account_binding", says: /needs HMAC keys.*auth_keys/ },
  "invalid-acme-eab-key.json": { path: "acme.default.eab_keys[0]", says: /"team-b" is not in auth_keys \("team-a"\)/ },
  "invalid-acme-name.json": { path: "acme.my provisioner", says: /part of its URL/ },
  "invalid-acme-type.json": { path: "acme", says: /object of named provisioners/ },
};

function loadError(path: string): unknown {
  try {
    loadSigningConfig(path);
  } catch (error) {
    return error;
  }
  return undefined;
}

t.test("seed 001's ca-config.json loads as it is", async (t) => {
  const config = loadSigningConfig(fixture("seed-001-ca-config.json"));
  t.same(config.defaultProfile.usages, [], "the seed's default has no usages");
  t.equal(config.defaultProfile.expiryMs, 8760 * hour);
  t.equal(config.defaultProfile.expiry, "8760h");
  t.same([...config.profiles.keys()], ["kubernetes"]);
  const kubernetes = config.profile("kubernetes");
  t.same(kubernetes.usages, serverUsages);
  t.equal(kubernetes.expiryMs, 8760 * hour);
  t.same(kubernetes.extKeyUsages, ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
  t.equal(kubernetes.keyUsage, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, "digitalSignature | keyEncipherment");
  t.equal(kubernetes.isCa, false);
  t.equal(kubernetes.backdateMs, 5 * 60_000, "cfssl's five-minute backdate by default");
  t.equal(kubernetes.nameWhitelist, undefined);
});

t.test("the shipped profiles/ca-config.json loads with default, kubernetes, server, client, peer", async (t) => {
  const config = loadSigningConfig(join(profilesDir, "ca-config.json"));
  t.same([...config.profiles.keys()].sort(), ["client", "kubernetes", "peer", "server"]);
  t.same(config.defaultProfile.usages, serverUsages);
  t.same(config.profile("server").extKeyUsages, ["1.3.6.1.5.5.7.3.1"]);
  t.same(config.profile("client").extKeyUsages, ["1.3.6.1.5.5.7.3.2"]);
  for (const name of ["default", "kubernetes", "server", "client", "peer"]) {
    const profile = config.profile(name);
    t.equal(profile.expiryMs, 8760 * hour, `${name}: one year`);
    t.ok(profile.keyUsage !== 0, `${name}: has key usages`);
  }
});

t.test("fuller profiles load into typed values", async (t) => {
  const config = loadSigningConfig(fixture("valid-full-profile.json"));
  const d = config.defaultProfile;
  t.equal(d.expiryMs, 720 * hour);
  t.equal(d.backdateMs, hour);
  t.same(d.issuerUrls, ["http://ca.example.com/ca.pem"]);
  t.equal(d.ocspUrl, "http://ocsp.example.com");
  t.equal(d.crlUrl, "http://ca.example.com/crl.der");
  t.equal(d.ocspNoCheck, true);
  t.ok(d.nameWhitelist?.test("api.example.com"));
  t.notOk(d.nameWhitelist?.test("api.example.com.evil"), "the whitelist is anchored at the end");
  t.notOk(d.nameWhitelist?.test("evil/api.example.com"), "and at the start");
  const intermediate = config.profile("intermediate");
  t.equal(intermediate.isCa, true);
  t.equal(intermediate.maxPathLen, 0, "max_path_len_zero gives path length 0");
  t.equal(intermediate.expiryMs, 43800 * hour);
  const window = config.profile("window");
  t.equal(window.notBefore?.toISOString(), "2030-01-01T00:00:00.000Z");
  t.equal(window.notAfter?.toISOString(), "2031-01-01T00:00:00.000Z");
  t.equal(window.expiry, "8760h", "no expiry: cfssl's default one year");
});

t.test("unsupported cfssl fields that are empty are accepted", async (t) => {
  const config = loadSigningConfig(fixture("valid-unsupported-but-empty.json"));
  t.same(config.defaultProfile.usages, serverUsages);
  t.same([...config.profiles.keys()], []);
});

t.test("a config with no default gets cfssl's default profile", async (t) => {
  const config = parseSigningConfig({ signing: { profiles: { a: { usages: ["client auth"], expiry: "1h" } } } });
  t.same(config.defaultProfile.usages, serverUsages);
  t.equal(config.defaultProfile.expiryMs, 8760 * hour);
  t.equal(config.profile("a").expiryMs, hour);
  const empty = parseSigningConfig({});
  t.same(empty.defaultProfile.usages, serverUsages);
});

t.test("each invalid fixture fails with a ConfigError naming the JSON path", async (t) => {
  const files = readdirSync(fixtures).filter((name) => name.startsWith("invalid-"));
  t.same(files.sort(), Object.keys(invalid).sort(), "every invalid fixture is checked here, and every case has a fixture");
  for (const [name, want] of Object.entries(invalid)) {
    const path = fixture(name);
    const error = loadError(path);
    t.type(error, ConfigError, `${name}: a ConfigError`);
    const message = (error as Error | undefined)?.message ?? "";
    t.ok(message.startsWith(`${path}: `), `${name}: the message starts with the file's path`);
    if (want.path) {
      t.ok(message.startsWith(`${path}: ${want.path}:`), `${name}: the message names ${want.path} (got: ${message})`);
    }
    t.match(message, want.says, `${name}: the message says what is wrong`);
  }
});

t.test("a missing file is a ConfigError naming it", async (t) => {
  const path = fixture("no-such-file.json");
  const error = loadError(path);
  t.type(error, ConfigError);
  t.match((error as Error).message, `${path}: cannot be read (ENOENT)`);
});

t.test("parseSigningConfig names the path without a file", async (t) => {
  const cases: [unknown, string][] = [
    [{ signing: { default: { usages: ["signing"], expiry: "1w" } } }, "signing.default.expiry"],
    [{ signing: { default: { usages: ["signing"], expiry: "-1h" } } }, "signing.default.expiry"],
    [{ signing: { default: { usages: ["signing"], expiry: 8760 } } }, "signing.default.expiry"],
    [{ signing: { profiles: { p: { usages: ["signing"], ca_constraint: { is_ca: "yes" } } } } }, "signing.profiles.p.ca_constraint.is_ca"],
    [{ signing: { profiles: { p: { usages: ["signing"], copy_extensions: true } } } }, "signing.profiles.p.copy_extensions"],
    [{ signing: { profiles: { p: { usages: ["signing"], crl_url: "::" } } } }, "signing.profiles.p.crl_url"],
    [{ signing: { profiles: [] } }, "signing.profiles"],
    [{ signing: "yes" }, "signing"],
    [{ remotes: { a: "https://x" }, signing: {} }, "remotes"],
  ];
  for (const [document, path] of cases) {
    t.throws(() => parseSigningConfig(document), { name: "ConfigError", message: new RegExp(`^${path.replace(/[.[\]]/g, "\\$&")}:`) }, `${JSON.stringify(document)}: names ${path}`);
  }
});

t.test("profile(): absent, empty or \"default\" is the default; unknown is refused", async (t) => {
  const config: SigningConfig = loadSigningConfig(join(profilesDir, "ca-config.json"));
  for (const name of [undefined, null, "", "default"]) {
    t.equal(config.profile(name), config.defaultProfile, `${JSON.stringify(name)} → default`);
  }
  t.equal(config.profile("kubernetes").name, "kubernetes");
  for (const name of ["nope", "Kubernetes", " default", "DEFAULT"]) {
    let error: unknown;
    try {
      config.profile(name);
    } catch (caught) {
      error = caught;
    }
    t.type(error, CertwrightError, `"${name}" is refused`);
    t.equal((error as CertwrightError).kind, "unknownProfile");
    t.equal((error as CertwrightError).code, 5400);
    t.equal((error as CertwrightError).status, 400);
    t.match((error as Error).message, `profile "${name}" does not exist`);
  }
});

t.test("seed 001's default profile has no usages: newcert and sign with no profile are refused with 5100", async (t) => {
  const { app, store, caPem, dir } = await testApp(t, { config: seedConfig });
  const request = { CN: "kubernetes", hosts: ["kubernetes.default.svc", "10.96.0.1"] };
  for (const profile of [undefined, "", "default"]) {
    const answer = await post(app, "newcert", { request, profile });
    t.equal(answer.status, 400, `profile ${JSON.stringify(profile)}: 400`);
    t.equal(answer.body.errors[0]?.code, 5100);
    t.match(answer.body.errors[0]?.message, /no usages/);
    t.equal(answer.body.result, null);
  }
  const newkey = await post(app, "newkey", request);
  t.equal(newkey.status, 200);
  const sign = await post(app, "sign", { certificate_request: newkey.body.result.certificate_request });
  t.equal(sign.status, 400);
  t.equal(sign.body.errors[0]?.code, 5100);
  t.equal(store.count(), 0, "nothing was issued");

  const info = await post(app, "info", {});
  t.equal(info.status, 200, "info still answers for the default");
  t.same(info.body.result.usages, []);
  t.equal(info.body.result.expiry, "8760h");

  // The seed's recipe names the kubernetes profile, and that works.
  const kubernetes = await post(app, "newcert", { request, profile: "kubernetes" });
  t.equal(kubernetes.status, 200, JSON.stringify(kubernetes.body.errors));
  const certFile = join(dir, "k8s.pem");
  const { writeFileSync } = await import("node:fs");
  writeFileSync(certFile, kubernetes.body.result.certificate);
  writeFileSync(join(dir, "ca.pem"), caPem);
  t.equal(openssl(["verify", "-CAfile", join(dir, "ca.pem"), certFile]).status, 0);
  t.equal(store.count(), 1);
});

t.test("name_whitelist is anchored: it must match the whole name", async (t) => {
  const usages = ["signing", "key encipherment", "server auth"];
  const { app, store } = await testApp(t, {
    config: {
      signing: {
        default: { usages, expiry: "8760h" },
        profiles: {
          restricted: { usages, expiry: "8760h", name_whitelist: "example\\.com" },
          either: { usages, expiry: "8760h", name_whitelist: "a\\.example\\.com|b\\.example\\.com" },
        },
      },
    },
  });
  const ok = await post(app, "newcert", { request: { CN: "example.com", hosts: ["example.com", "127.0.0.1"] }, profile: "restricted" });
  t.equal(ok.status, 200, JSON.stringify(ok.body.errors));
  t.equal(new X509Certificate(ok.body.result.certificate).subjectAltName, "DNS:example.com, IP Address:127.0.0.1");

  const refused: [string, { CN?: string; hosts?: string[] }][] = [
    ["restricted", { CN: "example.com", hosts: ["evilexample.com"] }],
    ["restricted", { CN: "example.com", hosts: ["example.com.evil"] }],
    ["restricted", { CN: "example.com", hosts: ["example.com", "sub.example.com"] }],
    ["restricted", { CN: "exampleXcom", hosts: ["example.com"] }],
    ["restricted", { CN: "evilexample.com" }],
    ["restricted", { CN: "example.com", hosts: ["admin@example.com"] }],
    ["either", { CN: "a.example.com", hosts: ["b.example.com.evil"] }],
    ["either", { CN: "xa.example.com", hosts: ["a.example.com"] }],
  ];
  for (const [profile, request] of refused) {
    const answer = await post(app, "newcert", { request, profile });
    t.equal(answer.status, 403, `${profile} ${JSON.stringify(request)}: 403`);
    t.equal(answer.body.errors[0]?.code, 5300);
    t.match(answer.body.errors[0]?.message, /name_whitelist/);
    t.notMatch(JSON.stringify(answer.body), /BEGIN CERTIFICATE-----/);
  }
  const either = await post(app, "newcert", { request: { CN: "a.example.com", hosts: ["a.example.com", "b.example.com"] }, profile: "either" });
  t.equal(either.status, 200, "both alternatives are allowed");

  // sign is held to the same whitelist, after its hosts override.
  const csr = (await post(app, "newkey", { CN: "example.com", hosts: ["evilexample.com"] })).body.result.certificate_request;
  const signed = await post(app, "sign", { certificate_request: csr, profile: "restricted" });
  t.equal(signed.status, 403);
  t.equal(signed.body.errors[0]?.code, 5300);
  const fixed = await post(app, "sign", { certificate_request: csr, profile: "restricted", hosts: ["example.com"] });
  t.equal(fixed.status, 200, JSON.stringify(fixed.body.errors));
  t.equal(new X509Certificate(fixed.body.result.certificate).subjectAltName, "DNS:example.com");
  t.equal(store.count(), 3, "only the allowed ones were issued");
});

t.test("the acme section: provisioners with their profile, challenges, CA label and external account binding", async (t) => {
  const config = parseSigningConfig({
    auth_keys: { "team-a": { type: "standard", key: "00112233445566778899aabbccddeeff" }, "team-b": { type: "standard", key: "ffeeddccbbaa99887766554433221100" } },
    signing: { profiles: { server: { usages: ["server auth"] } } },
    acme: {
      default: { profile: "server" },
      internal: { profile: "default", challenges: ["dns-01"], label: "intermediate", external_account_binding: true },
      teamb: { profile: "server", external_account_binding: true, eab_keys: ["team-b"] },
    },
  });
  t.same(config.acme.get("default"), { name: "default", profile: "server", challenges: ["http-01", "dns-01", "tls-alpn-01"], label: "", externalAccountRequired: false, eabKeys: ["team-a", "team-b"] });
  t.same(config.acme.get("internal"), { name: "internal", profile: "default", challenges: ["dns-01"], label: "intermediate", externalAccountRequired: true, eabKeys: ["team-a", "team-b"] });
  t.same(config.acme.get("teamb")?.eabKeys, ["team-b"]);
  t.equal(parseSigningConfig({ signing: {} }).acme.size, 0, "no acme section: no ACME server");
  t.throws(() => parseSigningConfig({ signing: {}, acme: { default: { profile: "default", challenges: ["http-01", "http-01"] } } }), /acme\.default\.challenges: a challenge type is named twice/);
});
