import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createConfig, lintFromString } from "@redocly/openapi-core";
import t from "tap";
import { renderOpenapi } from "../src/cli/write-openapi.js";
import { root, testApp } from "./helpers/app.js";

/** `redocly lint`'s engine with its recommended rules, as `npx @redocly/cli lint openapi.yaml` runs it. */
async function lint(source: string) {
  const config = await createConfig({ extends: ["recommended"] });
  const problems = await lintFromString({ source, absoluteRef: join(root, "openapi.yaml"), config });
  return problems.map((problem) => `${problem.severity} ${problem.ruleId}: ${problem.message} (${problem.location[0]?.pointer ?? ""})`).sort();
}

t.test("the OpenAPI document lints clean under redocly's recommended rules: no errors, no warnings", async (t) => {
  t.same(await lint(await renderOpenapi()), [], "the rendered document");
  t.same(await lint(readFileSync(join(root, "openapi.yaml"), "utf8")), [], "openapi.yaml");
});

t.test("the lint catches what the document used to get wrong", async (t) => {
  const { app } = await testApp(t);
  const document = (await app.inject({ method: "GET", url: "/openapi.json" })).json();
  delete document.servers;
  delete document.paths["/api/v1/cfssl/sign"].post.security;
  delete document.paths["/api/v1/cfssl/sign"].post.operationId;
  const problems = await lint(JSON.stringify(document));
  t.match(problems, [/^error no-empty-servers/, /^error security-defined/, /^warn operation-operationId/]);
});

t.test("every operation says who may call it, and the Swagger UI offers the schemes (its Authorize button)", async (t) => {
  const { app } = await testApp(t);
  const document = (await app.inject({ method: "GET", url: "/openapi.json" })).json() as {
    components: { securitySchemes: Record<string, { type: string; scheme?: string; in?: string; name?: string }> };
    paths: Record<string, Record<string, { operationId: string; security: Record<string, string[]>[] }>>;
  };
  const schemes = document.components.securitySchemes;
  t.match(schemes.cfsslHmac, { type: "apiKey", in: "header", name: "Authorization" });
  t.match(schemes.adminToken, { type: "http", scheme: "bearer" });
  t.match(schemes.mutualTLS, { type: "mutualTLS" });
  const security = (path: string, method = "post") => document.paths[path]![method]!.security.map((alternative) => Object.keys(alternative).sort().join("+"));
  t.same(security("/api/v1/cfssl/sign"), ["cfsslHmac", "cfsslHmac+mutualTLS", "", "mutualTLS"], "sign: the HMAC, needed by an authenticated profile");
  t.same(security("/api/v1/cfssl/revoke"), ["adminToken", "adminToken+mutualTLS", "", "mutualTLS"], "revoke: the admin token once authentication is configured");
  t.same(security("/api/v1/cfssl/health", "get"), ["", "mutualTLS"], "health: open");
  t.ok(document.paths["/ocsp/{request}"]?.get, "the OCSP GET form has a named path parameter");

  const page = await app.inject({ method: "GET", url: "/docs/json" });
  t.equal(page.statusCode, 200);
  t.same(Object.keys(page.json().components.securitySchemes).sort(), ["adminToken", "cfsslHmac", "mutualTLS"], "what /docs renders has the schemes");
});
