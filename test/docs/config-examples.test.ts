// The profiles that docs/profiles.md shows are ones the service loads, and do what the page says.
import t from "tap";
import { parseSigningConfig } from "../../src/profiles/signing-config.js";
import { fencedBlocks } from "../helpers/docs.js";

t.test("the policy example of docs/profiles.md loads as signing.profiles", async (t) => {
  const [block] = fencedBlocks("docs/profiles.md").filter((block) => block.marks.includes("profiles"));
  t.ok(block, "docs/profiles.md has a JSON block marked <!-- doc-test: profiles -->");
  // The page shows the named profiles only, as they sit inside "profiles": {…}.
  const profiles = JSON.parse(`{${block!.code}}`) as Record<string, unknown>;
  const config = parseSigningConfig({ signing: { default: { usages: ["signing", "server auth"], expiry: "8760h" }, profiles } });
  t.same([...config.profiles.keys()].sort(), ["kubelet", "kubernetes"]);
  t.ok(config.profiles.get("kubernetes")?.policy, "kubernetes has its policy");
  t.ok(config.profiles.get("kubelet")?.policy, "kubelet has its policy");
});

t.test("an unknown profile field stops the load, naming its JSON path, as the page says", async (t) => {
  t.throws(() => parseSigningConfig({ signing: { default: { usages: ["signing"], expiry: "1h", expiry_typo: "2h" } } }), /signing\.default\.expiry_typo/);
});
