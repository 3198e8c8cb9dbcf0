// The threads that keep operators' reads off the HTTP thread: started on first use, stopped when
// idle and started again, a thread that fails takes its calls with it and the next call starts anew.
import { join } from "node:path";
import t from "tap";
import type { CrlApi, CrlThreadData } from "../../src/authority/crl-thread.js";
import type { InventoryApi } from "../../src/authority/inventory-thread.js";
import { openDatabase } from "../../src/store/database.js";
import { threadEntry } from "../../src/threads/entry.js";
import { SupervisedThread } from "../../src/threads/supervised-thread.js";
import { tempDir } from "../helpers/app.js";

const authority = new URL("../../src/authority/", import.meta.url).href;

t.test("started on the first call, stopped when idle, started again on the next", async (t) => {
  const path = join(tempDir(t), "certs.db");
  openDatabase(path).close();
  const thread = SupervisedThread.lazy<InventoryApi>({
    name: "the inventory reader thread",
    entry: threadEntry(authority, "inventory-thread"),
    workerData: () => ({ source: { kind: "sqlite" as const, path } }),
    idleMs: 200,
  });
  t.teardown(() => thread.close());
  t.equal(thread.running, false, "nothing started before it is needed");
  const first = await thread.call("page", { filter: {}, nowMs: Date.now(), limit: 10 });
  t.same(JSON.parse(first.resultJson), { certificates: [], next_cursor: null });
  t.equal(thread.running, true);
  await new Promise((resolve) => setTimeout(resolve, 600));
  t.equal(thread.running, false, "stopped after being idle");
  const again = await thread.call("page", { filter: { status: "revoked" }, nowMs: Date.now(), limit: 10 });
  t.same(JSON.parse(again.resultJson).certificates, []);
  await thread.close();
  await t.rejects(thread.call("page", { filter: {}, nowMs: Date.now(), limit: 1 }), /is closed/);
});

t.test("a thread that fails rejects its calls, and the next call starts a new one", async (t) => {
  const path = join(tempDir(t), "certs.db");
  openDatabase(path).close();
  const thread = SupervisedThread.lazy<CrlApi>({
    name: "the CRL thread",
    entry: threadEntry(authority, "crl-thread"),
    // Not a CA: the thread fails as it starts.
    workerData: () => ({ source: { kind: "sqlite", path }, caCertificate: "not a certificate", caKey: "not a key", label: "" }) satisfies CrlThreadData,
  });
  t.teardown(() => thread.close());
  const request = { crlNumber: 1n, thisUpdateMs: Date.now(), nextUpdateMs: Date.now() + 3_600_000 };
  await t.rejects(thread.call("sign", request), /^the CRL thread failed: /);
  t.equal(thread.running, false);
  await t.rejects(thread.call("sign", request), /^the CRL thread failed: /, "tried again, with a new thread");
});
