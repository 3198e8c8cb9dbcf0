// A bounded fuzz test (issue 3): random JSON, random bytes and randomly filled requests of the real
// shapes thrown at every POST endpoint with random content types. Every answer must be cfssl's
// envelope with a 200 or a 4xx (never a 5xx: the process never fails on input), a refusal must write
// no certificate row, and the service must still answer health at the end. Seeded, so a failure
// replays: FUZZ_SEED=<seed> npx tap test/api/fuzz.test.ts (fast-check prints the seed and path).
import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import fc from "fast-check";
import t, { type Test } from "tap";
import { openssl, testApp, tempDir, type TestApp } from "../helpers/app.js";

const prefix = "/api/v1/cfssl";
const seed = Number(process.env.FUZZ_SEED ?? 20_260_301);
const postEndpoints = ["init_ca", "initca", "newkey", "newcert", "gencert", "sign", "info", "certinfo"] as const;

const contentTypes = fc.oneof(
  fc.constantFrom(
    undefined,
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "multipart/form-data; boundary=xyz",
    "application/json; charset=utf-16",
    "",
  ),
  fc.tuple(fc.stringMatching(/^[a-z]{1,10}$/), fc.stringMatching(/^[a-z0-9+.-]{1,12}$/)).map(([type, sub]) => `${type}/${sub}`),
);

/** Any JSON text: fast-check's own, and arbitrary values serialized (strings with lone surrogates, deep nesting...). */
const jsonText = fc.oneof(
  fc.json({ maxDepth: 4 }),
  fc.anything({ maxDepth: 3, withNullPrototype: true, withObjectString: true }).map((value) => {
    try {
      return JSON.stringify(value) ?? "null";
    } catch {
      return "null";
    }
  }),
);

const text = (maxLength: number) => fc.string({ unit: "binary", maxLength });
const oddText = fc.oneof(
  text(80),
  fc.string({ unit: "grapheme", maxLength: 70 }),
  fc.constantFrom("", " ", "\u0000", "a\nb", "测试", "\ud800", "x".repeat(65), "ü".repeat(129)),
);
/** A value of the wrong type as often as of the right one. */
const maybeWrong = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: arb }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) });

const host = fc.oneof(
  fc.domain(),
  fc.ipV4(),
  fc.ipV6(),
  fc.emailAddress(),
  fc.webUrl(),
  text(40),
  fc.constantFrom("a..b", "*.example.com", "*.*.x", "bücher.example", "-x.example.com", "fe80::1%eth0", "a\u0000b", "x".repeat(64), "spiffe://c/ns/a b"),
);
const nameEntry = fc.record(
  { C: maybeWrong(fc.oneof(fc.stringMatching(/^[A-Za-z]{2}$/), oddText)), ST: oddText, L: oddText, O: oddText, OU: oddText, E: oddText, SerialNumber: oddText },
  { requiredKeys: [] },
);
// RSA sizes are kept to the fast ones (and refused ones): 3072 and 4096 generation would dominate the run.
const keyRequest = fc.record(
  {
    algo: maybeWrong(fc.oneof(fc.constantFrom("ecdsa", "ECDSA", "ed25519", "rsa", "dsa", "ed448", ""), text(10))),
    size: maybeWrong(fc.constantFrom(0, 256, 384, 521, 512, 1024, 2047, 2048, -1, 16385, 1.5)),
  },
  { requiredKeys: [] },
);
const duration = fc.oneof(
  fc.constantFrom("8760h", "1h", "-1h", "0", "0h", "1ns", "forever", "1e3h", "99999999999h", "1y", "30d", ""),
  fc.tuple(fc.integer({ min: -100, max: 100_000 }), fc.constantFrom("h", "m", "s", "d", "y", "ms", "")).map(([n, unit]) => `${n}${unit}`),
);
const csrJson = fc.record(
  {
    CN: maybeWrong(oddText),
    hosts: maybeWrong(fc.array(host, { maxLength: 6 })),
    names: maybeWrong(fc.array(nameEntry, { maxLength: 3 })),
    key: maybeWrong(keyRequest),
    ca: maybeWrong(fc.record({ expiry: maybeWrong(duration), pathlen: maybeWrong(fc.integer({ min: -2, max: 120 })), pathlenzero: maybeWrong(fc.boolean()) }, { requiredKeys: [] })),
  },
  { requiredKeys: [] },
);
const profile = maybeWrong(fc.constantFrom(undefined, null, "", "default", "server", "client", "kubernetes", "peer", "nope"));
const label = maybeWrong(fc.constantFrom(undefined, null, "", "other"));
const time = maybeWrong(fc.oneof(fc.constantFrom("0001-01-01T00:00:00Z", "", "not a time", "9999-12-31T23:59:59Z"), fc.date({ noInvalidDate: true }).map((d) => d.toISOString())));

interface Pems {
  good: string;
  withSans: string;
  certificate: string;
}

function shapedBody(endpoint: (typeof postEndpoints)[number], pems: Pems): fc.Arbitrary<unknown> {
  switch (endpoint) {
    case "init_ca":
    case "initca":
    case "newkey":
      return csrJson;
    case "newcert":
    case "gencert":
      return fc.record({ request: maybeWrong(csrJson), profile, label, bundle: maybeWrong(fc.boolean()) }, { requiredKeys: [] });
    case "sign": {
      const csr = fc.oneof(
        fc.constantFrom(pems.good, pems.withSans, pems.certificate, pems.good.replace(/A/g, "B"), pems.good.slice(0, 200), "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"),
        text(200),
      );
      return fc.record(
        {
          certificate_request: maybeWrong(csr),
          hosts: maybeWrong(fc.option(fc.array(host, { maxLength: 6 }))),
          subject: maybeWrong(fc.record({ CN: maybeWrong(oddText), names: maybeWrong(fc.array(nameEntry, { maxLength: 3 })) }, { requiredKeys: [] })),
          profile,
          label,
          NotBefore: time,
          NotAfter: time,
          extensions: maybeWrong(fc.constantFrom([], null)),
          metadata: maybeWrong(fc.constantFrom({}, null)),
        },
        { requiredKeys: [] },
      );
    }
    case "info":
      return fc.record({ profile, label }, { requiredKeys: [] });
    case "certinfo":
      return fc.record(
        {
          certificate: maybeWrong(fc.oneof(fc.constantFrom(pems.certificate, pems.good, pems.certificate.slice(0, 300)), text(100))),
          serial: maybeWrong(fc.oneof(fc.bigInt({ min: 0n, max: 1n << 160n }).map(String), text(20))),
          authority_key_id: maybeWrong(fc.oneof(fc.stringMatching(/^[0-9a-f:]{0,60}$/), text(20))),
          domain: maybeWrong(text(20)),
        },
        { requiredKeys: [] },
      );
  }
}

/** Answers by status, reported at the end so a run that only ever hits the JSON parser shows. */
const tally = new Map<number, number>();

interface Shot {
  endpoint: string;
  contentType: string | undefined;
  payload: string | Buffer;
}

/** Whatever JSON came back, read as the envelope it should be: the checks below say where it is not. */
type LooseEnvelope = { success?: unknown; errors?: { code?: unknown; message?: unknown }[]; messages?: unknown; result?: unknown } | null;

async function fire(t: Test, { app, store }: TestApp, shot: Shot): Promise<boolean> {
  const before = store.count();
  const response = await app.inject({
    method: "POST",
    url: `${prefix}/${shot.endpoint}`,
    payload: shot.payload,
    headers: shot.contentType === undefined ? {} : { "content-type": shot.contentType },
  });
  const status = response.statusCode;
  tally.set(status, (tally.get(status) ?? 0) + 1);
  const where = `${shot.endpoint} ${shot.contentType ?? "(no type)"} ${String(shot.payload).slice(0, 300)}`;
  let body: LooseEnvelope;
  try {
    body = response.json();
  } catch {
    t.fail(`not JSON: ${response.body.slice(0, 200)} for ${where}`);
    return false;
  }
  const problems: string[] = [];
  if (!(status === 200 || (status >= 400 && status < 500))) problems.push(`status ${status}`);
  if (JSON.stringify(Object.keys(body ?? {}).sort()) !== JSON.stringify(["errors", "messages", "result", "success"])) problems.push("not the envelope");
  if (typeof body?.success !== "boolean" || body.success !== (status === 200)) problems.push("success does not match the status");
  if (!Array.isArray(body?.errors) || !Array.isArray(body?.messages)) problems.push("errors or messages is not an array");
  if (status !== 200) {
    const error = body?.errors?.[0];
    if (body?.errors?.length !== 1 || typeof error?.code !== "number" || typeof error?.message !== "string" || error.message === "") {
      problems.push("a refusal without one {code, message}");
    }
    if (body?.result !== null) problems.push("a refusal with a result");
    if (store.count() !== before) problems.push("a refusal wrote a certificate row");
  }
  if (problems.length > 0) {
    t.fail(`${problems.join(", ")}: ${response.body.slice(0, 300)} for ${where}`);
    return false;
  }
  return true;
}

t.test("random input at every POST endpoint: always the envelope, a 200 or a 4xx, and the service stays up", async (t) => {
  const fuzzed = await testApp(t, { bodyLimit: 64 * 1024 });
  const dir = tempDir(t);
  const make = (name: string, extra: string[]) => {
    const result = openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${dir}/${name}.key`, "-out", `${dir}/${name}.csr`, ...extra]);
    if (result.status !== 0) throw new Error(result.stderr);
    return readFileSync(`${dir}/${name}.csr`, "utf8");
  };
  const pems: Pems = {
    good: make("good", ["-subj", "/CN=fuzz.example.com"]),
    withSans: make("sans", ["-subj", "/O=system:nodes/CN=system:node:x", "-addext", "subjectAltName=DNS:a.example.com,IP:10.0.0.1,email:a@example.com,URI:spiffe://c/x"]),
    certificate: fuzzed.caPem,
  };
  const endpoint = fc.constantFrom(...postEndpoints);
  const started = Date.now();
  let shots = 0;
  const run = async (name: string, numRuns: number, shot: fc.Arbitrary<Shot>) => {
    await fc.assert(
      fc.asyncProperty(shot, async (s) => {
        shots++;
        return fire(t, fuzzed, s);
      }),
      { numRuns, seed, endOnFailure: true },
    );
    t.pass(`${name}: ${numRuns} runs`);
  };

  await run("random JSON", 100, fc.record({ endpoint, contentType: contentTypes, payload: jsonText }));
  await run(
    "random bytes",
    60,
    fc.record({ endpoint, contentType: contentTypes, payload: fc.uint8Array({ maxLength: 400 }).map((bytes) => Buffer.from(bytes)) }),
  );
  await run(
    "requests of the real shapes with random values",
    160,
    endpoint.chain((name) =>
      fc.record({
        endpoint: fc.constant(name),
        contentType: contentTypes.filter((type) => type === undefined || !/utf-16/.test(type)),
        payload: shapedBody(name, pems).map((body) => JSON.stringify(body) ?? "null"),
      }),
    ),
  );
  t.ok(shots >= 320, `${shots} requests sent`);
  t.comment(`answers by status: ${JSON.stringify(Object.fromEntries([...tally].sort()))}`);
  t.ok((tally.get(200) ?? 0) > 0, "some random requests were valid and served");
  t.ok(Date.now() - started < 60_000, `bounded in time (${Date.now() - started} ms)`);

  const app: FastifyInstance = fuzzed.app;
  const health = await app.inject({ method: "GET", url: `${prefix}/health` });
  t.equal(health.statusCode, 200, "health still answers");
  t.same(health.json(), { success: true, result: { healthy: true }, errors: [], messages: [] });
  const info = await app.inject({ method: "POST", url: `${prefix}/info`, payload: "{}" });
  t.equal(info.statusCode, 200, "and the service still serves");
});
