// A validation's outcome that cannot be recorded at once (the database busy or briefly away) is
// recorded on a later attempt, so the client polling its challenge does not wait for the order to
// expire.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { parseSigningConfig } from "../../src/profiles/signing-config.js";
import { SqliteAcmeStore } from "../../src/store/acme-sqlite.js";
import { AcmeTestClient, http01Responder, loopbackHttp01Validator } from "../helpers/acme-client.js";
import { profilesDir, tempDir, testApp } from "../helpers/app.js";

const config = { ...JSON.parse(readFileSync(join(profilesDir, "ca-config.json"), "utf8")), acme: { default: { profile: "server" } } };

t.test("an outcome the store refuses twice is recorded on the third attempt", async (t) => {
  const store = SqliteAcmeStore.open(join(tempDir(t), "acme.db"));
  t.teardown(() => store.close());
  let refusals = 0;
  const updateChallenge = store.updateChallenge.bind(store);
  store.updateChallenge = (id, from, change) => {
    if (change.status === "valid" && refusals < 2) {
      refusals++;
      throw Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });
    }
    return updateChallenge(id, from, change);
  };
  const responder = await http01Responder(t);
  const { app } = await testApp(t, { config: parseSigningConfig(config), acme: { validator: loopbackHttp01Validator(responder.port), store } });
  const client = await AcmeTestClient.create(app);
  t.equal((await client.newAccount()).status, 201);
  const order = await client.newOrder([{ type: "dns", value: "retry.example.test" }]);
  const authz = await client.post(order.body.authorizations[0], "");
  const challenge = authz.body.challenges.find((c: { type: string }) => c.type === "http-01");
  responder.tokens.set(challenge.token, `${challenge.token}.${await client.thumbprint()}`);
  await client.post(challenge.url, {});
  const done = await client.poll(challenge.url, (body) => body.status !== "processing" && body.status !== "pending", 200);
  t.equal(done.body.status, "valid", JSON.stringify(done.body));
  t.equal(refusals, 2, "two attempts were refused before the third recorded it");
  const ready = await client.poll(order.headers.location as string, (body) => body.status !== "pending");
  t.equal(ready.body.status, "ready");
});
