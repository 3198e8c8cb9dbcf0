// A URL under /acme/ that fastify refuses before routing (a %-escape that does not decode, a path
// segment over 100 characters) is answered as every ACME error is: an RFC 7807 problem document,
// not cfssl's envelope. The rest of the service keeps the envelope.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { parseSigningConfig } from "../../src/profiles/signing-config.js";
import { profilesDir, testApp } from "../helpers/app.js";
import { loopbackHttp01Validator } from "../helpers/acme-client.js";

const config = { ...JSON.parse(readFileSync(join(profilesDir, "ca-config.json"), "utf8")), acme: { default: { profile: "server" } } };

t.test("framework-refused URLs under /acme/ get a problem document", async (t) => {
  const { app } = await testApp(t, { config: parseSigningConfig(config), acme: { validator: loopbackHttp01Validator(1) } });
  for (const url of ["/acme/default/order/%zz", `/acme/default/order/${"a".repeat(101)}`]) {
    const answer = await app.inject({ method: "POST", url, headers: { "content-type": "application/jose+json" }, payload: "{}" });
    t.equal(answer.statusCode, 400, `${url.slice(0, 40)}: 400`);
    t.match(answer.headers["content-type"], /^application\/problem\+json/, "a problem document");
    const problem = answer.json();
    t.equal(problem.type, "urn:ietf:params:acme:error:malformed", "of type malformed");
    t.match(problem.detail, /URL does not decode|no ACME resource has an id that long/, `saying what is wrong: ${problem.detail}`);
  }
  const cfssl = await app.inject({ method: "GET", url: "/api/v1/cfssl/certinfo/%zz" });
  t.equal(cfssl.statusCode, 400);
  t.equal(cfssl.json().success, false, "cfssl's endpoints keep the envelope");
});
