// ACME through an intermediate CA (--ca with --ca-bundle): the certificate download is the leaf,
// the intermediate and the chain above it, and a client that trusts only the root verifies it.
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { checkCaChain } from "../../src/pki/chain.js";
import { parseSigningConfig } from "../../src/profiles/signing-config.js";
import { AcmeTestClient, csrFor, http01Responder, loopbackHttp01Validator } from "../helpers/acme-client.js";
import { openssl, profilesDir, tempDir, testApp, writeFile } from "../helpers/app.js";
import { caChain } from "../helpers/chain-ca.js";

const config = { ...JSON.parse(readFileSync(join(profilesDir, "ca-config.json"), "utf8")), acme: { default: { profile: "server" } } };

t.test("the downloaded chain is the leaf, the intermediate and what is above it; openssl verifies it from the root", async (t) => {
  const dir = tempDir(t);
  const [root, int1] = await caChain(1);
  const responder = await http01Responder(t);
  const { app } = await testApp(t, { config: parseSigningConfig(config), ca: int1!.ca, chain: checkCaChain(int1!.pem, root!.pem), acme: { validator: loopbackHttp01Validator(responder.port) } });
  const client = await AcmeTestClient.create(app);
  t.equal((await client.newAccount()).status, 201);
  const order = await client.newOrder([{ type: "dns", value: "chain.example.test" }]);
  const authz = await client.post(order.body.authorizations[0], "");
  const challenge = authz.body.challenges.find((c: { type: string }) => c.type === "http-01");
  responder.tokens.set(challenge.token, `${challenge.token}.${await client.thumbprint()}`);
  await client.post(challenge.url, {});
  t.equal((await client.poll(order.headers.location as string, (body) => body.status !== "pending")).body.status, "ready");
  const finalized = await client.post(order.body.finalize, { csr: (await csrFor({ dns: ["chain.example.test"] })).b64 });
  t.equal(finalized.status, 200, finalized.text);
  const download = await client.post(finalized.body.certificate, "");
  const pems = download.text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)!;
  t.equal(pems[1]!.trim(), int1!.pem.trim(), "the intermediate follows the leaf");
  t.ok(new X509Certificate(pems[0]!).checkIssued(new X509Certificate(int1!.pem)), "the leaf is the intermediate's");
  const rootFile = writeFile(dir, "root.pem", root!.pem);
  const untrusted = writeFile(dir, "chain.pem", pems.slice(1).join(""));
  const verified = openssl(["verify", "-CAfile", rootFile, "-untrusted", untrusted, "-purpose", "sslserver", writeFile(dir, "leaf.pem", pems[0]!)]);
  t.equal(verified.status, 0, verified.stderr);
  t.match(verified.stdout, /leaf\.pem: OK/, "openssl verifies it with the root alone trusted");
});
