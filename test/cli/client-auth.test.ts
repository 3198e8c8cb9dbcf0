// Authenticated signing from the command line, against a service whose config has auth_keys:
// gencert with the CFSSL-HMAC header, sign and renew through authsign as cfssl's client does.
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { client, pairMatches } from "../helpers/client.js";
import { mustOpenssl, openssl, startService, tempDir } from "../helpers/server.js";

const ciKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const otherKey = "00112233445566778899aabbccddeeff";
const usages = ["signing", "key encipherment", "server auth", "client auth"];
const config = {
  auth_keys: { ci: { type: "standard", key: ciKey }, other: { type: "standard", key: otherKey } },
  signing: {
    default: { usages, expiry: "8760h" },
    profiles: {
      secure: { usages, expiry: "720h", auth_key: "ci" },
      // Always past its renewal window when issued (see client-renew.test.ts).
      "secure-late": { usages, expiry: "3700s", backdate: "1h", auth_key: "ci" },
    },
  },
};

const workDir = tempDir(t, "certwright-client-auth-");
writeFileSync(join(workDir, "ca-config.json"), JSON.stringify(config));
const service = await startService(t, { cwd: workDir, args: ["--workers", "1", "--log-level", "warn", "--config", "ca-config.json"] });
const remote = service.url;
const caFile = join(workDir, "data", "ca.pem");
writeFileSync(join(workDir, "csr.json"), JSON.stringify({ CN: "secure.internal", hosts: ["secure.internal"] }));
const csrJson = join(workDir, "csr.json");

const hours = (pem: string) => {
  const cert = new X509Certificate(pem);
  return (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 3_600_000;
};

t.test("gencert with --auth-key and --auth-key-name sends the CFSSL-HMAC header", async (t) => {
  const dir = tempDir(t);
  const made = await client(t, ["gencert", "--remote", remote, "--profile", "secure", "--auth-key", ciKey, "--auth-key-name", "ci", csrJson], { cwd: dir });
  t.equal(made.code, 0, made.stderr);
  const cert = JSON.parse(made.stdout).cert;
  t.equal(hours(cert), 720, "signed under the authenticated profile");
  writeFileSync(join(dir, "secure.pem"), cert);
  t.equal(openssl(["verify", "-CAfile", caFile, join(dir, "secure.pem")]).status, 0);

  const anonymous = await client(t, ["gencert", "--remote", remote, "--profile", "secure", csrJson], { cwd: dir });
  t.equal(anonymous.code, 1);
  t.match(anonymous.stderr, /^certwright: newcert: error 13100: profile "secure" requires authentication/);
  t.match(anonymous.stderr, /certwright: gencert: the profile takes only authenticated requests: give --auth-key and --auth-key-name\n$/);
  const wrong = await client(t, ["gencert", "--remote", remote, "--profile", "secure", "--auth-key", otherKey, "--auth-key-name", "ci", csrJson], { cwd: dir });
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /^certwright: newcert: error 13200: Authorization: invalid token: the HMAC does not match auth key "ci"/);
  const otherName = await client(t, ["gencert", "--remote", remote, "--profile", "secure", "--auth-key", otherKey, "--auth-key-name", "other", csrJson], { cwd: dir });
  t.match(otherName.stderr, /^certwright: newcert: error 13200: profile "secure" takes requests signed with auth key "ci", not "other"/);

  const noName = await client(t, ["gencert", "--remote", remote, "--profile", "secure", "--auth-key", ciKey, csrJson], { cwd: dir });
  t.equal(noName.code, 2, "--auth-key without its name is bad usage");
  t.match(noName.stderr, /--auth-key needs --auth-key-name NAME/);
  const badKey = await client(t, ["gencert", "--remote", remote, "--auth-key", "xyz", "--auth-key-name", "ci", csrJson], { cwd: dir });
  t.equal(badKey.code, 2);
  t.match(badKey.stderr, /--auth-key: not a hex key of at least 16 bytes/);
  const unset = await client(t, ["sign", "--remote", remote, "--auth-key", "env:NOT_SET_ANYWHERE", "x.csr"], { cwd: dir });
  t.equal(unset.code, 2);
  t.match(unset.stderr, /the variable NOT_SET_ANYWHERE is not set/);
});

t.test("sign with --auth-key goes through authsign; the key from env: or file:", async (t) => {
  const dir = tempDir(t);
  mustOpenssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "k.pem", "-out", "x.csr", "-subj", "/CN=svc.internal", "-addext", "subjectAltName=DNS:svc.internal"], dir);
  const signed = await client(t, ["sign", "--remote", remote, "--profile", "secure", "--auth-key", "env:CI_AUTH_KEY", "x.csr"], { cwd: dir, env: { CI_AUTH_KEY: ciKey } });
  t.equal(signed.code, 0, signed.stderr);
  t.equal(hours(JSON.parse(signed.stdout).cert), 720);
  writeFileSync(join(dir, "other.key"), `${otherKey}\n`);
  const wrong = await client(t, ["sign", "--remote", remote, "--profile", "secure", "--auth-key", "file:other.key", "x.csr"], { cwd: dir });
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /^certwright: authsign: error 13200: token: invalid token: not the HMAC-SHA256 of request under auth key "ci"/);
  const anonymous = await client(t, ["sign", "--remote", remote, "--profile", "secure", "x.csr"], { cwd: dir });
  t.match(anonymous.stderr, /^certwright: sign: error 13100: .*\ncertwright: sign: the profile takes only authenticated requests: give --auth-key\n$/);
  const open = await client(t, ["sign", "--remote", remote, "--auth-key", ciKey, "x.csr"], { cwd: dir });
  t.equal(open.code, 1, "authsign for a profile without auth_key is refused, as in cfssl");
  t.match(open.stderr, /^certwright: authsign: error 400: .*has no auth_key/);
});

t.test("renew with --auth-key renews under an authenticated profile", async (t) => {
  const dir = tempDir(t);
  const made = await client(t, ["gencert", "--remote", remote, "--profile", "secure-late", "--auth-key", ciKey, "--auth-key-name", "ci", csrJson], { cwd: dir });
  t.equal(made.code, 0, made.stderr);
  t.equal((await client(t, ["json", "--bare", "svc"], { cwd: dir, input: made.stdout })).code, 0);
  const old = readFileSync(join(dir, "svc.pem"), "utf8");
  const refused = await client(t, ["renew", "--cert", "svc.pem", "--key", "svc-key.pem", "--remote", remote, "--profile", "secure-late"], { cwd: dir });
  t.equal(refused.code, 1);
  t.match(refused.stderr, /error 13100/);
  t.equal(readFileSync(join(dir, "svc.pem"), "utf8"), old, "nothing replaced");
  writeFileSync(join(dir, "ci.key"), ciKey);
  const renewed = await client(t, ["renew", "--cert", "svc.pem", "--key", "svc-key.pem", "--remote", remote, "--profile", "secure-late", "--auth-key", "file:ci.key"], { cwd: dir });
  t.equal(renewed.code, 0, renewed.stderr);
  t.not(readFileSync(join(dir, "svc.pem"), "utf8"), old);
  t.ok(pairMatches(join(dir, "svc.pem"), join(dir, "svc-key.pem")));
});
