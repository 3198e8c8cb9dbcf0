// Signer threads that die: their calls fail at once with 503, readiness says
// so while they are down, and they are restarted. The threads are stopped for real (terminate(),
// as a crash or an out-of-memory end would stop them).
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { ReadinessService } from "../../src/authority/readiness.js";
import { SignerPool } from "../../src/authority/signer-pool.js";
import type { ThreadApi } from "../../src/threads/rpc.js";
import type { SupervisedThread, ThreadEvent } from "../../src/threads/supervised-thread.js";
import { makeCa, post, profilesDir, testApp } from "../helpers/app.js";

async function stop<Api extends ThreadApi>(thread: SupervisedThread<Api>): Promise<void> {
  const worker = thread.worker!;
  const exited = once(worker, "exit");
  await worker.terminate();
  await exited;
}

async function until(condition: () => boolean | Promise<boolean>, ms = 15_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await condition()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return await condition();
}

t.test("a signer thread that dies: calls in flight and calls while it is down fail at once with 503, readiness reports it, and it comes back", async (t) => {
  const made = await makeCa();
  const configDocument = JSON.parse(readFileSync(join(profilesDir, "ca-config.json"), "utf8"));
  const events: ThreadEvent[] = [];
  const pool = await SignerPool.start(1, { caCertificate: made.certificate, caKey: made.private_key, label: made.ca.label, configDocument }, undefined, (event) =>
    events.push(event),
  );
  t.teardown(() => pool.close());
  const { app } = await testApp(t, { ca: made.ca, signer: pool });
  const readiness = new ReadinessService({ ca: made.ca, database: { checkWritable() {} }, threads: () => pool.supervised });
  t.equal((await readiness.check()).ready, true);

  const request = { request: { CN: "svc.internal", hosts: ["svc.internal"] } };
  const inFlight = Array.from({ length: 20 }, () => pool.newCert(request).then(() => "signed", (error: { code?: number }) => error.code));
  await new Promise((resolve) => setImmediate(resolve)); // posted to the thread
  const [thread] = pool.supervised;
  await stop(thread!);
  const settled = await Promise.race([Promise.all(inFlight), new Promise<string>((resolve) => setTimeout(() => resolve("still waiting"), 2000))]);
  t.not(settled, "still waiting", "every call in flight settled at once");
  t.ok((settled as unknown[]).some((outcome) => outcome === 12200), `calls cut off fail with code 12200: ${JSON.stringify(settled)}`);
  t.ok((settled as unknown[]).every((outcome) => outcome === "signed" || outcome === 12200), "and nothing else");

  const down = (await readiness.check());
  t.equal(down.ready, false, "not ready while it is down");
  t.match(down.checks.ca_key.detail, /signer thread 1 is down \(exited with code \d; restarting\)/);
  const refused = await post(app, "newcert", request);
  t.equal(refused.status, 503, "a request while it is down: 503 at once");
  t.match(refused.body, { success: false, result: null, errors: [{ code: 12200, message: /no signer thread is running/ }] });
  t.match(events[0], { level: "error", message: /^signer thread 1 exited with code \d; its calls in flight failed; restarting in 100 ms/ });

  t.ok(await until(async () => (await readiness.check()).ready), "ready again once it is restarted");
  t.match(events[1], { level: "info", message: "signer thread 1 restarted" });
  const signed = await post(app, "newcert", request);
  t.equal(signed.status, 200, "and it signs");
  t.ok(new X509Certificate(signed.body.result.certificate).checkIssued(new X509Certificate(made.certificate)));
});

t.test("a signer thread restarted after a reload knows the new config", async (t) => {
  const made = await makeCa();
  const configDocument = JSON.parse(readFileSync(join(profilesDir, "ca-config.json"), "utf8"));
  const pool = await SignerPool.start(1, { caCertificate: made.certificate, caKey: made.private_key, label: made.ca.label, configDocument });
  t.teardown(() => pool.close());
  const [thread] = pool.supervised;
  await stop(thread!);
  // Reloaded while the thread is down: the restart must start with generation 1.
  const reloaded = structuredClone(configDocument);
  reloaded.signing.profiles.extra = { usages: ["digital signature"], expiry: "24h" };
  const { parseSigningConfigs } = await import("../../src/profiles/signing-configs.js");
  await pool.useConfig(1, parseSigningConfigs({ shared: reloaded }), { shared: reloaded });
  t.ok(await until(() => thread!.down === undefined));
  const outcome = await pool.newCert({ request: { CN: "x.internal", hosts: ["x.internal"] }, profile: "extra" }, undefined, 1);
  t.ok(outcome, "a request under the reloaded config's new profile is signed");
});
