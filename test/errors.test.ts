import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { CertwrightError, errorKinds } from "../src/errors.js";
import { root } from "./helpers/app.js";

t.test("the documented error table (docs/errors.md) is the error table", async (t) => {
  const page = readFileSync(join(root, "docs", "errors.md"), "utf8");
  const documented = [...page.matchAll(/^\| (\d+) \| (\d+) \| (.+) \|$/gm)].map((m) => `${m[1]} ${m[2]} ${m[3]}`).sort();
  const actual = Object.values(errorKinds).map((kind) => `${kind.code} ${kind.status} ${kind.summary}`).sort();
  t.same(documented, actual, "update the Errors table in docs/errors.md to match src/errors.ts");
});

t.test("every kind maps to a 4xx or 5xx status and errors carry their code", async (t) => {
  for (const [kind, { code, status }] of Object.entries(errorKinds)) {
    t.ok(status >= 400 && status < 600, `${kind} has an HTTP error status`);
    const error = new CertwrightError(kind as keyof typeof errorKinds, "why");
    t.equal(error.code, code);
    t.equal(error.status, status);
  }
});
