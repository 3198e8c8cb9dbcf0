// cfssl habits that leave gaps looking closed: with auth_keys, the service says at start which
// endpoints no one can use (no admin token) and which profiles still issue to anyone.
import { join } from "node:path";
import t from "tap";
import { startService, tempDir, writeFile } from "../helpers/server.js";

const authKey = "00112233445566778899aabbccddeeff";
const config = {
  auth_keys: { ci: { type: "standard", key: authKey } },
  signing: {
    default: { usages: ["digital signature", "server auth"], expiry: "24h" },
    profiles: {
      locked: { usages: ["digital signature", "server auth"], expiry: "24h", auth_key: "ci" },
      open: { usages: ["digital signature", "client auth"], expiry: "24h" },
    },
  },
};

function warnings(stdout: string): string[] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { level: number; msg: string })
    .filter((line) => line.level === 40)
    .map((line) => line.msg);
}

async function waitFor(check: () => boolean) {
  const deadline = Date.now() + 5_000;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
}

t.test("with auth_keys, start-up warns of closed admin endpoints and of profiles that issue without a key", async (t) => {
  const cwd = tempDir(t);
  const configFile = writeFile(cwd, "ca-config.json", JSON.stringify(config));
  const noToken = await startService(t, { cwd, args: ["--data-dir", join(cwd, "a"), "--config", configFile] });
  await waitFor(() => warnings(noToken.stdout()).length >= 2);
  const said = warnings(noToken.stdout());
  t.match(said[0], /auth_keys are configured but no admin token: init_ca, revoke, the inventory and reload answer 403 to everyone; set --admin-token-file/);
  t.match(said[1], /these profiles issue without authentication: "default", "open" \(a request that names no profile gets default\)/);
  await noToken.stop("SIGTERM");

  const tokenFile = writeFile(cwd, "admin-token", "an-admin-token-0123456789abcdef");
  const withToken = await startService(t, { cwd, args: ["--data-dir", join(cwd, "b"), "--config", configFile, "--admin-token-file", tokenFile] });
  await waitFor(() => warnings(withToken.stdout()).length >= 1);
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  t.same(warnings(withToken.stdout()).map((w) => w.slice(0, 60)), ["auth_keys are configured, yet these profiles issue without a"], "with a token, only the open profiles");
  await withToken.stop("SIGTERM");

  const plain = await startService(t, { cwd, args: ["--data-dir", join(cwd, "c")] });
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  t.same(warnings(plain.stdout()), [], "without auth_keys, cfssl's open service: nothing to warn of");
  await plain.stop("SIGTERM");
});
