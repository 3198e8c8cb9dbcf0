// Challenge validations run off the request, at most so many at once, and a full queue refuses.
import t from "tap";
import { ValidationQueue } from "../../src/acme/validation-queue.js";
import type { ChallengeValidator } from "../../src/acme/validation/types.js";
import { parseSigningConfig } from "../../src/profiles/signing-config.js";
import { AcmeTestClient } from "../helpers/acme-client.js";
import { testApp } from "../helpers/app.js";

/** A validator that holds every validation until released, counting how many are in flight. */
function heldValidator() {
  const waiting: (() => void)[] = [];
  const state = {
    inFlight: 0,
    most: 0,
    started: 0,
    release() {
      for (const resolve of waiting.splice(0)) resolve();
    },
    validator: {
      async validate() {
        state.started++;
        state.inFlight++;
        state.most = Math.max(state.most, state.inFlight);
        await new Promise<void>((resolve) => waiting.push(resolve));
        state.inFlight--;
        return { ok: true } as const;
      },
    } satisfies ChallengeValidator,
  };
  return state;
}

t.test("the queue runs at most `concurrency` jobs, refuses beyond `maxQueued`, and close waits for the rest", async (t) => {
  const queue = new ValidationQueue(3, 5);
  const held = heldValidator();
  const results: boolean[] = [];
  for (let i = 0; i < 10; i++) results.push(queue.add(async () => void (await held.validator.validate())));
  t.same(results, [true, true, true, true, true, true, true, true, false, false], "3 running and 5 waiting; the 9th and 10th are refused");
  t.equal(held.inFlight, 3);
  t.equal(queue.size, 8);
  const closed = queue.close();
  t.equal(queue.add(async () => {}), false, "a closing queue takes nothing");
  while (queue.size > 0) {
    held.release();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await closed;
  t.equal(held.most, 3);
  t.equal(held.started, 8);
});

t.test("the ACME server answers processing at once and validates at most 8 challenges at a time", async (t) => {
  const held = heldValidator();
  const { app } = await testApp(t, { config: parseSigningConfig({ signing: {}, acme: { default: { profile: "default" } } }), acme: { validator: held.validator } });
  const client = await AcmeTestClient.create(app);
  await client.newAccount();
  const challenges: string[] = [];
  for (let i = 0; i < 12; i++) {
    const order = await client.newOrder([{ type: "dns", value: `q${i}.example.test` }]);
    const { body } = await client.post(order.body.authorizations[0], "");
    challenges.push(body.challenges.find((c: { type: string }) => c.type === "http-01").url);
  }
  for (const url of challenges) {
    const answer = await client.post(url, {});
    t.equal(answer.body.status, "processing", "answered before the validation ends");
    t.equal(answer.headers["retry-after"], "1");
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(held.inFlight, 8, "8 in flight, 4 waiting");
  while (held.started < 12 || held.inFlight > 0) {
    held.release();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  t.equal(held.most, 8);
  const last = await client.poll(challenges[11]!, (body) => body.status !== "processing");
  t.equal(last.body.status, "valid");
});
