// Takes the screenshots in docs/console/ of the console against a real service. Run by hand, not by
// npm test: npm run screenshots
// The certificates are real, issued by the service; only their recorded issue dates are spread over
// the last weeks afterwards, so the chart has something to show.
import Database from "better-sqlite3";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "../helpers/chromium.js";
import { postJson, startService, tempDir } from "../helpers/server.js";

// `npx tap test/ui` runs every file in the folder: this one is not a test, and must not rewrite docs/.
if (process.env.TAP === "1") {
  console.log("1..0 # SKIP takes docs/console/*.png; run it by hand");
  process.exit(0);
}

const out = fileURLToPath(new URL("../../docs/console/", import.meta.url));
const cleanups: (() => void | Promise<void>)[] = [];
const teardown = { teardown: (fn: () => void | Promise<void>) => void cleanups.push(fn) };

const hosts: [string, string][] = [
  ["server", "api.internal"], ["server", "grafana.internal"], ["server", "vault.internal"], ["peer", "etcd-1.internal"],
  ["peer", "etcd-2.internal"], ["peer", "etcd-3.internal"], ["client", "backup-agent"], ["client", "ci-runner-4"],
  ["kubernetes", "kube-apiserver"], ["server", "registry.internal"], ["server", "wiki.internal"], ["client", "laptop-alice"],
  ["client", "laptop-bob"], ["server", "git.internal"], ["peer", "etcd-4.internal"], ["server", "metrics.internal"],
];

try {
  const cwd = tempDir(teardown, "certwright-screenshots-");
  const service = await startService(teardown, { cwd });
  for (const [profile, cn] of hosts) {
    const answer = await postJson(service.api, "newcert", { request: { CN: cn, hosts: cn.includes(".") ? [cn] : [] }, profile });
    if (!answer.body.success) throw new Error(`newcert ${cn}: ${JSON.stringify(answer.body.errors)}`);
  }
  const db = new Database(join(cwd, "data", "certs.db"));
  const rows = db.prepare("SELECT rowid AS id FROM certificates ORDER BY rowid").all() as { id: number }[];
  const move = db.prepare("UPDATE certificates SET issued_at = ? WHERE rowid = ?");
  for (const [i, { id }] of rows.entries()) move.run(new Date(Date.now() - ((i * 7) % 26) * 86_400_000 - i * 3_600_000).toISOString(), id);
  db.close();
  const bob = (await (await fetch(`${service.url}/api/v1/certificates?q=laptop-bob`)).json()) as { result: { certificates: { serial_number: string; authority_key_id: string }[] } };
  const stolen = bob.result.certificates[0]!;
  await postJson(service.api, "revoke", { serial: stolen.serial_number, reason: "keyCompromise" });

  const { browser, close } = await launchChromium();
  cleanups.push(close);
  const page = await browser.newPage();
  const shoot = async (hash: string, name: string, width = 1200, height = 900) => {
    await page.setViewport({ width, height, deviceScaleFactor: 1, isMobile: width < 600, hasTouch: width < 600 });
    await page.goto(`${service.url}/ui/${hash}`);
    await page.waitForSelector("main[aria-busy=false]");
    await page.waitForNetworkIdle();
    await page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
    console.log(`docs/console/${name}.png`);
  };
  await shoot("#/", "overview");
  await shoot("#/certificates", "inventory");
  await shoot(`#/certificate/${stolen.serial_number}?aki=${stolen.authority_key_id}`, "certificate");
  await shoot("#/certificates?q=laptop", "phone-inventory", 390, 844);
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
