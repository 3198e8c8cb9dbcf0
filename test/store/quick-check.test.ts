// PRAGMA quick_check in a thread of its own, as the start runs it on a large database: the answer
// comes back through the thread, a file that is no database is named so, and the thread is gone
// once it has answered.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { openDatabase } from "../../src/store/database.js";
import { startQuickCheck } from "../../src/store/quick-check.js";
import { tempDir } from "../helpers/app.js";

t.test("a sound database: ok, from the thread", async (t) => {
  const path = join(tempDir(t), "certs.db");
  openDatabase(path).close();
  const check = startQuickCheck(path);
  t.same(await check.done, { ok: true });
  t.same(await check.within(0), { ok: true }, "within() answers at once once it is done");
});

t.test("a file that is no database: the problem says so", async (t) => {
  const path = join(tempDir(t), "certs.db");
  writeFileSync(path, "not a database, but long enough to have a header of a kind ".repeat(200));
  t.same(await startQuickCheck(path).done, { ok: false, problem: "it is not a SQLite database" });
});

t.test("a check still running: within() gives up after the wait, done settles later", async (t) => {
  const path = join(tempDir(t), "certs.db");
  openDatabase(path).close();
  const check = startQuickCheck(path);
  // The thread cannot have loaded and answered within no wait at all.
  t.equal(await check.within(0), undefined);
  t.same(await check.done, { ok: true });
});
