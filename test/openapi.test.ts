import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { renderOpenapi } from "../src/cli/write-openapi.js";
import { root, testApp } from "./helpers/app.js";

t.test("openapi.yaml is what the app serves", async (t) => {
  const rendered = await renderOpenapi();
  const checkedIn = readFileSync(join(root, "openapi.yaml"), "utf8");
  t.equal(rendered, checkedIn, "openapi.yaml is stale: run `npm run build && npm run openapi` and commit it");
});

t.test("the running app serves the document and a browsable page", async (t) => {
  const { app } = await testApp(t);
  const json = await app.inject({ method: "GET", url: "/openapi.json" });
  t.equal(json.statusCode, 200);
  const document = json.json();
  // 3.1: the mutualTLS security scheme is 3.1's.
  t.equal(document.openapi, "3.1.0");
  for (const path of ["init_ca", "initca", "newkey", "newcert", "gencert", "sign", "info", "certinfo", "health"]) {
    t.ok(document.paths[`/api/v1/cfssl/${path}`], `documents ${path}`);
  }
  const page = await app.inject({ method: "GET", url: "/docs/" });
  t.equal(page.statusCode, 200);
  t.match(page.body, /swagger/i);
});
