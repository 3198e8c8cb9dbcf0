import t from "tap";
import { ShutdownStack } from "../../src/cli/serve/shutdown-stack.js";

t.test("parts are taken down newest first, each once, and a failing one does not keep the older ones up", async (t) => {
  const stack = new ShutdownStack();
  const order: string[] = [];
  stack.defer(() => order.push("lock"));
  stack.defer(async () => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    order.push("writer");
  });
  stack.defer(() => {
    order.push("signer");
    throw new Error("signer would not stop");
  });
  stack.defer(() => order.push("app"));
  const failures = await stack.unwind();
  t.same(order, ["app", "signer", "writer", "lock"]);
  t.equal(failures.length, 1);
  t.match((failures[0] as Error).message, "signer would not stop");
  t.same(await stack.unwind(), [], "a second unwind has nothing left to do");
  t.same(order, ["app", "signer", "writer", "lock"]);
});
