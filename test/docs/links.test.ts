// Every link of the README and docs/ leads somewhere: a file or folder of the repository, and the
// heading its #anchor names.
import { existsSync, statSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import t from "tap";
import { root } from "../helpers/app.js";
import { docPages, headingAnchors, markdownLinks, readPage } from "../helpers/docs.js";

const external = /^[a-z][a-z0-9+.-]*:/i;

t.test("each relative link of README.md and docs/*.md points to an existing file and heading", async (t) => {
  let checked = 0;
  for (const page of docPages()) {
    for (const target of markdownLinks(readPage(page))) {
      if (external.test(target)) continue;
      const [path, anchor] = target.split("#", 2) as [string, string | undefined];
      const file = path === "" ? page : normalize(join(dirname(page), path));
      t.ok(existsSync(join(root, file)), `${page}: ${target}: ${file} exists`);
      if (anchor !== undefined && existsSync(join(root, file)) && statSync(join(root, file)).isFile()) {
        t.ok(headingAnchors(readPage(file)).has(anchor), `${page}: ${target}: ${file} has a heading #${anchor}`);
      }
      checked++;
    }
  }
  t.ok(checked > 20, `${checked} links checked`);
});

t.test("the anchors are GitHub's", async (t) => {
  const anchors = headingAnchors("# Revocation, CRL, OCSP and the inventory\n```sh\n# not a heading\n```\n### Ansible: the HTTP API with `ansible.builtin.uri`\n## Lifetimes\n## Lifetimes\n");
  t.same([...anchors], ["revocation-crl-ocsp-and-the-inventory", "ansible-the-http-api-with-ansiblebuiltinuri", "lifetimes", "lifetimes-1"]);
});
