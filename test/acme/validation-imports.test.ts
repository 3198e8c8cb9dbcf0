// The challenge validators are called by the ACME protocol core and run outside any HTTP framework:
// they import Node's built-ins, each other and the pki/ core's DER helpers, nothing else.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { root } from "../helpers/app.js";

const dir = join(root, "src", "acme", "validation");
const specifiers = /(?:^|\n)\s*(?:import|export)\b[^;"']*?from\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)/g;

t.test("src/acme/validation imports only node: built-ins, itself and pki/", async (t) => {
  const files = readdirSync(dir).filter((name) => name.endsWith(".ts"));
  t.ok(files.length >= 6, `${files.length} modules`);
  const outside = files.flatMap((file) =>
    [...readFileSync(join(dir, file), "utf8").matchAll(specifiers)]
      .map((match) => match[1] ?? match[2]!)
      .filter((specifier) => !specifier.startsWith("node:") && !specifier.startsWith("./") && !specifier.startsWith("../../pki/"))
      .map((specifier) => `${file} → ${specifier}`),
  );
  t.same(outside, []);
});
