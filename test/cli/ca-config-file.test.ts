// The --ca-config file as read, before any CA is loaded: the example of docs/configuration.md, paths
// resolved against the file, the default first; and CaSet, which picks a CA by a request's label.
import { join } from "node:path";
import t from "tap";
import { CaSet } from "../../src/authority/ca-set.js";
import { readCaConfig } from "../../src/cli/serve/ca-config.js";
import type { CertwrightError } from "../../src/errors.js";
import { fencedBlocks } from "../helpers/docs.js";
import { tempDir, writeFile } from "../helpers/server.js";

t.test("a CA's own signing config: resolved against the file; --config itself is no config of its own", async (t) => {
  const dir = tempDir(t, "certwright-ca-config-file-");
  const file = writeFile(
    dir,
    "cas.json",
    JSON.stringify({
      default: "a",
      cas: { a: { certificate: "a.pem", key: "a-key.pem", config: "a-signing.json" }, b: { certificate: "b.pem", key: "b-key.pem", config: join(dir, "signing.json") }, c: { certificate: "c.pem", key: "c-key.pem" } },
    }),
  );
  const config = readCaConfig(file, join(dir, "signing.json"));
  t.same(
    config.entries.map((entry) => [entry.label, entry.config]),
    [
      ["a", join(dir, "a-signing.json")],
      ["b", undefined],
      ["c", undefined],
    ],
  );
});

t.test("the example of docs/configuration.md reads, the default first, paths relative to the file", async (t) => {
  const [block] = fencedBlocks("docs/configuration.md").filter((block) => block.marks.includes("ca-config"));
  t.ok(block, "docs/configuration.md has a JSON block marked <!-- doc-test: ca-config -->");
  const dir = tempDir(t, "certwright-ca-config-file-");
  const file = writeFile(dir, "cas.json", block!.code);
  const config = readCaConfig(file);
  t.same(
    config.entries.map((entry) => entry.label),
    ["team-2026", "team-2024"],
  );
  t.equal(config.defaultCrl, "team-2026");
  const [first, second] = config.entries;
  t.equal(first!.certificate, join(dir, "team-2026.pem"));
  t.equal(first!.key, join(dir, "team-2026-key.pem"));
  t.equal(first!.urls, undefined);
  t.equal(second!.key, "pkcs11:token=team-ca;object=team-2024", "a pkcs11: URI is kept as written");
  t.equal(second!.bundle, join(dir, "team-2024-chain.pem"));
  t.equal(second!.config, join(dir, "team-2024-signing.json"), "its own signing config, relative to the file");
  t.equal(first!.config, undefined, "the other signs under --config");
  t.same(second!.urls, { crlUrl: "http://pki.internal:8888/crl/team-2024.crl", issuerUrls: undefined });
});

t.test("a file that does not check names what to fix", async (t) => {
  const dir = tempDir(t, "certwright-ca-config-file-");
  const cases: [unknown, RegExp][] = [
    ["{", /not JSON/],
    [{ cas: {} }, /default: .*expected \{"default": LABEL/],
    [{ default: "a", cas: { a: { certificate: "a.pem" } } }, /cas\.a\.key: /],
    [{ default: "a", cas: { a: { certificate: "a.pem", key: "k.pem" } }, roots: {} }, /unknown field\(s\) roots/],
    [{ default: "a", cas: { a: { certificate: "a.pem", key: "k.pem", config: "" } } }, /cas\.a\.config: /],
    [{ default: "default", cas: { default: { certificate: "a.pem", key: "k.pem" } } }, /"default" names the default CA's CRL/],
    [{ default: "a", cas: {} }, /default: "a" is not one of the CAs \(none\)/],
  ];
  for (const [content, message] of cases) {
    const file = writeFile(dir, "cas.json", typeof content === "string" ? content : JSON.stringify(content));
    t.throws(() => readCaConfig(file), message);
  }
});

t.test("CaSet: an empty or absent label is the default; an unknown one is 404 naming the labels", async (t) => {
  const set = new CaSet({ label: "new" }, [{ label: "old" }]);
  t.equal(set.get(undefined).label, "new");
  t.equal(set.get(null).label, "new");
  t.equal(set.get("").label, "new");
  t.equal(set.get("old").label, "old");
  t.same(
    set.all.map((ca) => ca.label),
    ["new", "old"],
  );
  const refusal = (() => {
    try {
      set.get("gone");
    } catch (error) {
      return error as CertwrightError;
    }
  })();
  t.equal(refusal?.code, 12100);
  t.match(refusal?.message, /label "gone": no such CA here; the CAs served are "new", "old" \(an empty or absent label is "new"\)/);
  // One CA, as a service without --ca-config: the message it always gave.
  t.throws(() => new CaSet({ label: "" }).get("x"), /label "x": no such CA here; the default CA's label is ""$/);
  t.throws(() => new CaSet({ label: "a" }, [{ label: "a" }]), /two CAs have the label "a"/);
});

t.test("cfssl multirootca's roots file: sections by label, the first the default, paths from the working directory", async (t) => {
  const dir = tempDir(t, "certwright-roots-file-");
  const signing = writeFile(dir, "signing.json", "{}");
  const roots = writeFile(
    dir,
    "multiroot.conf",
    ["# as multirootca's docs show it", "[ primary ]", "private = file:///etc/ca/primary-key.pem", "certificate = /etc/ca/primary.pem", `config = ${signing}`, "", "[backup]", "private = pkcs11:token=ca;object=backup", "certificate = backup.pem"].join("\n"),
  );
  const config = readCaConfig(roots, signing);
  t.same(
    config.entries.map((entry) => [entry.label, entry.certificate, entry.key, entry.config]),
    [
      ["primary", "/etc/ca/primary.pem", "/etc/ca/primary-key.pem", undefined],
      ["backup", join(process.cwd(), "backup.pem"), "pkcs11:token=ca;object=backup", undefined],
    ],
    "config = --config's file: signs under --config",
  );
  const own = readCaConfig(writeFile(dir, "own.conf", "[a]\nprivate = file://k.pem\ncertificate = c.pem\nconfig = a-signing.json\n"), signing);
  t.equal(own.entries[0]!.config, join(process.cwd(), "a-signing.json"), "a section's own config, from the working directory as multirootca reads it");
  const cases: [string, RegExp][] = [
    ["[a]\nprivate = file://k.pem\ncertificate = c.pem\nconfig =\n", /\[a\] config: name the CA's signing config file, or remove the line/],
    ["[a]\nprivate = file://k.pem\ncertificate = c.pem\nnets = 10.0.0.0/8\n", /\[a\] nets: not supported: per-CA client networks are not enforced here/],
    ["[a]\nprivate = rofile://k.pem\ncertificate = c.pem\n", /only file:\/\/ keys and pkcs11: URIs/],
    ["[a]\ncertificate = c.pem\n", /\[a\]: give both private/],
    ["private = file://k.pem\n", /line 1: private comes before any \[label\] section/],
    ["# nothing\n", /no \[label\] section/],
  ];
  for (const [text, message] of cases) {
    t.throws(() => readCaConfig(writeFile(dir, "bad.conf", text), signing), message);
  }
});
