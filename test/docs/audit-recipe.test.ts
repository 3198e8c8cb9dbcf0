// The audit recipe of docs/authentication.md, run as written: `npm start --silent` in the package,
// its stdout through the page's jq filter, one request issued, the service stopped with SIGTERM.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { root } from "../helpers/app.js";
import { fencedBlocks } from "../helpers/docs.js";
import { childEnv, freePort, postForm, tempDir } from "../helpers/server.js";

/** The pid the service wrote into its data directory's lock: SQLite's user_version, 4 bytes at offset 60. */
function lockHolder(dataDir: string): number {
  const fd = openSync(join(dataDir, "lock"), "r");
  try {
    const header = Buffer.alloc(4);
    readSync(fd, header, 0, 4, 60);
    return header.readUInt32BE(0);
  } finally {
    closeSync(fd);
  }
}

const hasJq = spawnSync("jq", ["--version"]).status === 0;

t.test("the audit recipe prints one JSON audit record per issuance, from the service's real stdout", async (t) => {
  const [block] = fencedBlocks("docs/authentication.md").filter((block) => block.marks.includes("audit"));
  t.ok(block, "docs/authentication.md has a block marked <!-- doc-test: audit -->");
  const recipe = block!.code.trim();
  t.match(recipe, /^npm start --silent \| jq /, "npm's banner stays out of the pipe");
  // Without jq, the service's own stdout goes through the same filter here, in JavaScript.
  const command = hasJq ? recipe : recipe.replace(/\|.*$/, "");
  if (!hasJq) t.comment("jq is not installed: the filter select(.msg == \"audit\") | .audit is applied by the test instead");

  const dataDir = join(tempDir(t, "certwright-audit-"), "data");
  const port = await freePort();
  const env = childEnv({ CERTWRIGHT_DATA_DIR: dataDir, CERTWRIGHT_PORT: String(port) });
  const child = spawn("bash", ["-o", "pipefail", "-c", command], { cwd: root, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  t.teardown(() => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  const closed = new Promise<number | null>((resolve) => child.once("close", resolve));

  const api = `http://127.0.0.1:${port}/api/v1/cfssl`;
  for (let tries = 0; ; tries++) {
    const healthy = await fetch(`${api}/health`).then((response) => response.ok, () => false);
    if (healthy) break;
    // npm, then a first start that makes a CA: slow on a loaded machine.
    if (tries > 600) throw new Error(`npm start did not answer on port ${port}:\n${err}\n${out}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const issued = await postForm(api, "newcert", { request: { CN: "audit.internal", hosts: ["audit.internal"] }, profile: "server" });
  t.equal(issued.status, 200);

  process.kill(lockHolder(dataDir), "SIGTERM");
  t.equal(await closed, 0, "the pipeline ends cleanly when the service stops", { stderr: err });
  t.equal(err, "", "jq reads every line as JSON: no parse error");

  const lines = out.split("\n").filter(Boolean);
  const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const audits = hasJq ? records : records.filter((line) => line.msg === "audit").map((line) => line.audit as Record<string, unknown>);
  const issuance = audits.find((audit) => audit.outcome === "issued");
  t.match(issuance, { endpoint: "newcert", profile: "server", cn: "audit.internal", sans: ["audit.internal"], client: "address:127.0.0.1", serial: /^\d+$/ });
  t.notOk(audits.some((audit) => audit.msg !== undefined || audit.level !== undefined), "only the audit records, not the log lines around them");
});
