// RSA keys for newcert are made on libuv's thread pool, whose threads the service lowers to nice 15
// before anything uses them, so key generation takes only the CPU signing and HTTP leave idle
// (docs/performance.md). Checked on the real service through /proc: Linux only.
import { X509Certificate } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import t from "tap";
import { postJson, startService, tempDir } from "../helpers/server.js";

interface TaskStat {
  tid: string;
  nice: number;
  cpuTicks: number;
}

/** Each thread of `pid`: its nice value and the CPU it has used (utime + stime, in clock ticks). */
function tasks(pid: number): TaskStat[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      // Fields after the command's closing parenthesis, from the third (state) on.
      const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ");
      return [{ tid, nice: Number(fields[16]), cpuTicks: Number(fields[11]) + Number(fields[12]) }];
    } catch {
      return []; // ended meanwhile
    }
  });
}

t.test("RSA keys are made on pool threads at nice 15, never on the HTTP thread", { skip: existsSync("/proc/self/task") ? false : "needs Linux's /proc" }, async (t) => {
  const cwd = tempDir(t);
  const server = await startService(t, { cwd, args: ["--data-dir", "data"], untracked: true });
  const pid = server.child.pid!;
  const match = /RSA keys are made on libuv's (\d+) pool threads, at nice 15/.exec(server.stdout());
  t.ok(match, "the start says how many pool threads it lowered");
  const lowered = tasks(pid).filter((task) => task.nice === 15);
  t.equal(lowered.length, Number(match?.[1]), "that many threads run at nice 15");
  t.ok(lowered.length >= 4, "libuv's pool: at least its default 4 threads");
  t.equal(tasks(pid).find((task) => task.tid === String(pid))?.nice, 0, "the HTTP (main) thread keeps the process's priority");

  // A 4096-bit key takes long enough for the threads' CPU to show which made it.
  const before = new Map(tasks(pid).map((task) => [task.tid, task.cpuTicks]));
  const answer = await postJson(server.api, "newcert", { request: { CN: "rsa.internal", hosts: ["rsa.internal"], key: { algo: "rsa", size: 4096 } } });
  t.equal(answer.status, 200, answer.status === 200 ? "newcert answers" : JSON.stringify(answer.body));
  const result = (answer.body as { result: { certificate: string } }).result;
  t.equal(new X509Certificate(result.certificate).publicKey.asymmetricKeyDetails?.modulusLength, 4096, "an RSA-4096 certificate");
  const used = tasks(pid).map((task) => ({ ...task, used: task.cpuTicks - (before.get(task.tid) ?? 0) }));
  const busiest = used.reduce((a, b) => (b.used > a.used ? b : a));
  t.equal(busiest.nice, 15, `the thread that used the most CPU meanwhile (${busiest.used} ticks) is a lowered pool thread`);
});
