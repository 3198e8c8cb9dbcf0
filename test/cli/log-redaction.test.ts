// The real service at --log-level trace, issuing with every credential and refusing requests that
// carry private keys: nothing secret may appear anywhere in its output.
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { mustOpenssl, startService, tempDir, writeFile, type ApiAnswer } from "../helpers/server.js";

const authKeyHex = "5f1d3c2b4a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001";
const adminToken = `admin-token-${"7c1e9a2b4d6f8e0a".repeat(2)}`;
const wrongAdminToken = `wrong-token-${"0b3d5f7a9c1e2d4f".repeat(2)}`;
const usages = ["signing", "key encipherment", "server auth", "client auth"];
const config = {
  auth_keys: { ci: { type: "standard", key: authKeyHex } },
  signing: {
    default: { usages, expiry: "720h" },
    profiles: { secure: { usages, expiry: "720h", auth_key: "ci" }, open: { usages, expiry: "720h" } },
  },
};

const hmac = (bytes: string | Buffer, key = authKeyHex) => createHmac("sha256", Buffer.from(key, "hex")).update(bytes).digest("base64");

/** The base64 lines of a PEM block, and the whole base64 body on one line. */
function pemPieces(pem: string): string[] {
  const lines = pem
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("-----"));
  // Short last lines could match by chance; full 64-character lines cannot.
  return [lines.join(""), ...lines.filter((line) => line.length >= 40)];
}


t.test("a trace-level log of issuance and refusals holds no key, CSR or token", async (t) => {
  const cwd = tempDir(t);
  const dataDir = join(cwd, "data");
  const configPath = writeFile(cwd, "ca-config.json", JSON.stringify(config));
  const server = await startService(t, {
    cwd,
    args: ["--log-level", "trace", "--data-dir", dataDir, "--config", configPath, "--workers", "1"],
    env: { CERTWRIGHT_ADMIN_TOKEN: adminToken },
  });

  /** Secrets to search the log for, with what they are. */
  const secrets: [string, string][] = [
    [authKeyHex, "the auth key (hex)"],
    [Buffer.from(authKeyHex, "hex").toString("base64"), "the auth key (base64)"],
    [adminToken, "the admin token"],
    [wrongAdminToken, "a wrong admin token"],
  ];
  const secretPem = (pem: string, what: string) => {
    for (const piece of pemPieces(pem)) secrets.push([piece, what]);
  };
  secretPem(readFileSync(join(dataDir, "ca-key.pem"), "utf8"), "the CA key");

  const send = async (endpoint: string, body: string, headers: Record<string, string> = {}): Promise<ApiAnswer> => {
    const response = await fetch(`${server.api}/${endpoint}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    const text = await response.text();
    return { status: response.status, body: JSON.parse(text) };
  };
  const csr = (cn: string, key: "ec" | "rsa") => {
    const keyArgs = key === "ec" ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] : ["-newkey", "rsa:2048"];
    const pem = mustOpenssl(["req", "-new", ...keyArgs, "-nodes", "-keyout", join(cwd, `${cn}.key`), "-subj", `/CN=${cn}`, "-addext", `subjectAltName=DNS:${cn}`]);
    secretPem(pem, `the CSR of ${cn}`);
    secretPem(readFileSync(join(cwd, `${cn}.key`), "utf8"), `the key of ${cn}`);
    return pem;
  };

  // newcert with ECDSA and RSA keys: each answer carries a private key and a CSR.
  for (const algo of ["ecdsa", "rsa"]) {
    const size = algo === "rsa" ? 2048 : 256;
    const answer = await send("newcert", JSON.stringify({ request: { CN: `${algo}.internal`, hosts: [`${algo}.internal`], key: { algo, size } }, profile: "open" }));
    t.equal(answer.status, 200, `newcert ${algo}: ${JSON.stringify(answer.body.errors)}`);
    secretPem(answer.body.result.private_key, `newcert's ${algo} private key`);
    secretPem(answer.body.result.certificate_request, `newcert's ${algo} CSR`);
  }

  // newcert on an authenticated profile with the CFSSL-HMAC header.
  const securebody = JSON.stringify({ request: { CN: "secure.internal", hosts: ["secure.internal"] }, profile: "secure" });
  const headerMac = hmac(securebody);
  secrets.push([headerMac, "the CFSSL-HMAC header's token"]);
  const viaHeader = await send("newcert", securebody, { authorization: `CFSSL-HMAC ci:${headerMac}` });
  t.equal(viaHeader.status, 200, JSON.stringify(viaHeader.body.errors));
  secretPem(viaHeader.body.result.private_key, "the HMAC newcert's private key");

  // authsign: cfssl's envelope with a token over the base64 request.
  const signRequest = Buffer.from(JSON.stringify({ certificate_request: csr("authsign.internal", "ec"), profile: "secure" }));
  const token = hmac(signRequest);
  secrets.push([token, "authsign's token"], [signRequest.toString("base64"), "authsign's request"]);
  const authsigned = await send("authsign", JSON.stringify({ token, request: signRequest.toString("base64") }));
  t.equal(authsigned.status, 200, JSON.stringify(authsigned.body.errors));

  // sign with an RSA CSR, and newkey.
  t.equal((await send("sign", JSON.stringify({ certificate_request: csr("signed.internal", "rsa"), profile: "open" }))).status, 200);
  const newkey = await send("newkey", JSON.stringify({ CN: "newkey.internal", hosts: ["newkey.internal"] }));
  t.equal(newkey.status, 200);
  secretPem(newkey.body.result.private_key, "newkey's private key");
  secretPem(newkey.body.result.certificate_request, "newkey's CSR");

  // init_ca with the admin token: a CA key in the answer.
  const initCa = await send("init_ca", JSON.stringify({ CN: "Team CA" }), { authorization: `Bearer ${adminToken}` });
  t.equal(initCa.status, 200, JSON.stringify(initCa.body.errors));
  secretPem(initCa.body.result.private_key, "init_ca's CA key");

  // Refusals whose requests carry secrets where they do not belong.
  const leakedKey = readFileSync(join(cwd, "authsign.internal.key"), "utf8");
  const wrongMac = hmac(securebody, "00".repeat(32));
  secrets.push([wrongMac, "a wrong HMAC"]);
  const refusals: [string, string, string, Record<string, string>?][] = [
    ["a private key as the whole body", "sign", leakedKey],
    ["a private key in a JSON string that is cut short", "sign", `{"certificate_request": ${JSON.stringify(leakedKey).slice(0, -10)}`],
    ["a private key as the CSR", "sign", JSON.stringify({ certificate_request: leakedKey, profile: "open" })],
    ["a private key as the certificate", "certinfo", JSON.stringify({ certificate: leakedKey })],
    ["a private key as the profile", "newcert", JSON.stringify({ request: { CN: "p.internal" }, profile: leakedKey })],
    ["a private key as the label", "sign", JSON.stringify({ certificate_request: csr("label.internal", "ec"), label: leakedKey })],
    ["a private key as the authsign token", "authsign", JSON.stringify({ token: leakedKey, request: signRequest.toString("base64") })],
    ["a private key as the authsign request", "authsign", JSON.stringify({ token, request: Buffer.from(leakedKey).toString("base64") })],
    ["a private key as a field of the wrong type", "newcert", JSON.stringify({ request: { CN: "x.internal", hosts: leakedKey } })],
    ["a wrong HMAC", "newcert", securebody, { authorization: `CFSSL-HMAC ci:${wrongMac}` }],
    ["no HMAC at all", "newcert", securebody],
    ["a malformed HMAC header holding the auth key", "newcert", securebody, { authorization: `CFSSL-HMAC ${authKeyHex}` }],
    ["a wrong admin token", "init_ca", JSON.stringify({ CN: "Rogue CA" }), { authorization: `Bearer ${wrongAdminToken}` }],
    ["the admin token as an HMAC", "newcert", securebody, { authorization: `CFSSL-HMAC ci:${adminToken}` }],
  ];
  for (const [what, endpoint, body, headers] of refusals) {
    const answer = await send(endpoint, body, headers);
    t.ok(answer.status >= 400 && answer.status < 500, `${what}: refused (${answer.status})`);
  }
  // And the admin endpoints with the token.
  const list = await fetch(`${server.url}/api/v1/certificates`, { headers: { authorization: `Bearer ${adminToken}` } });
  t.equal(list.status, 200);

  // The operations endpoints, while here: the served metrics count what was issued.
  const ready = await fetch(`${server.url}/api/v1/ready`);
  t.equal(ready.status, 200, "ready");
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  const issued = [...metrics.matchAll(/^certwright_certificates_issued_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  t.equal(issued, 5, "newcert ×3, authsign and sign");
  t.match(metrics, /^certwright_db_commit_duration_seconds_count [1-9]/m, "commits are timed in the real service");

  const exit = await server.stop("SIGTERM");
  t.equal(exit.code, 0, "stops cleanly, flushing its log");
  const output = server.stdout() + server.stderr();
  const lines = output.split("\n").filter(Boolean);
  t.ok(lines.length > 40, `the trace log has lines to search (${lines.length})`);
  t.ok(lines.some((line) => /"level":20/.test(line)), "the levels below info are on");
  t.ok(lines.some((line) => /"audit"/.test(line) || /"msg":"request completed"/.test(line)), "request lines were written");

  t.notMatch(output, /PRIVATE KEY/, "no PEM private key marker");
  // A refusal may name the marker it looked for ("no PEM block -----BEGIN CERTIFICATE REQUEST----- found"),
  // never a block that follows it.
  t.notMatch(output, /-----BEGIN CERTIFICATE REQUEST-----(?:\s|\\n)*[A-Za-z0-9+/]/, "no PEM CSR");
  for (const [secret, what] of secrets) {
    if (output.includes(secret)) t.fail(`the log holds ${what}: ${output.split("\n").find((line) => line.includes(secret))?.slice(0, 400)}`);
  }
  t.pass(`searched for ${secrets.length} secrets`);
});
