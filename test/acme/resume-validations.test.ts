// A challenge a service was validating when it stopped (killed, or its machine gone) is left in
// processing; the next start validates it again, so the client polling it is answered instead of
// waiting for the order to expire.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { parseSigningConfig } from "../../src/profiles/signing-config.js";
import { SqliteAcmeStore } from "../../src/store/acme-sqlite.js";
import { AcmeTestClient, http01Responder, loopbackHttp01Validator } from "../helpers/acme-client.js";
import { profilesDir, tempDir, testApp } from "../helpers/app.js";

const config = { ...JSON.parse(readFileSync(join(profilesDir, "ca-config.json"), "utf8")), acme: { default: { profile: "server" } } };

t.test("the next start validates again a challenge left in processing, and only that one", async (t) => {
  const storePath = join(tempDir(t), "acme.db");
  const responder = await http01Responder(t);
  const validator = loopbackHttp01Validator(responder.port);
  const before = SqliteAcmeStore.open(storePath);
  t.teardown(() => before.close());
  const first = await testApp(t, { config: parseSigningConfig(config), acme: { validator, store: before } });
  const client = await AcmeTestClient.create(first.app);
  t.equal((await client.newAccount()).status, 201);
  const order = await client.newOrder([{ type: "dns", value: "resumed.example.test" }, { type: "dns", value: "untouched.example.test" }]);
  const [resumedAuthz, untouchedAuthz] = await Promise.all(order.body.authorizations.map((url: string) => client.post(url, "")));
  const http01 = (authz: typeof resumedAuthz) => authz.body.challenges.find((c: { type: string }) => c.type === "http-01");
  const resumed = http01(resumedAuthz);
  const untouched = http01(untouchedAuthz);
  responder.tokens.set(resumed.token, `${resumed.token}.${await client.thumbprint()}`);
  // What a service killed while it validated leaves behind: the challenge in processing, and no
  // validation running for it anywhere.
  t.ok(await before.updateChallenge(resumed.url.split("/").pop(), ["pending"], { status: "processing" }), "the challenge is left in processing");
  t.equal((await client.post(resumed.url, "")).body.status, "processing", "and answers processing to its client");

  const after = SqliteAcmeStore.open(storePath);
  t.teardown(() => after.close());
  const second = await testApp(t, { ca: first.ca, config: parseSigningConfig(config), acme: { validator, store: after } });
  const again = new AcmeTestClient(second.app, client.key);
  again.directory = (await again.get("/acme/default/directory")).body;
  again.account = client.account;
  const done = await again.poll(resumed.url, (body) => body.status !== "processing", 200);
  t.equal(done.body.status, "valid", `validated again by the next start: ${JSON.stringify(done.body)}`);
  t.equal((await again.post(resumedAuthz.headers.location ?? order.body.authorizations[0], "")).body.status, "valid", "and its authorization is valid");
  t.equal((await again.post(untouched.url, "")).body.status, "pending", "a challenge its client never answered stays pending");
  t.equal((await again.post(order.headers.location as string, "")).body.status, "pending", "the order waits for its other name");
});
