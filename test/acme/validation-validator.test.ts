import { randomBytes } from "node:crypto";
import t from "tap";
import { dns01Digest } from "../../src/acme/validation/dns-01.js";
import type { ChallengeType, ValidationTargets } from "../../src/acme/validation/types.js";
import { NetworkChallengeValidator } from "../../src/acme/validation/validator.js";
import { startDnsServer } from "../helpers/acme-dns.js";
import { challengePath, startHttp01Responder, startSilentServer, startTlsAlpnResponder, tlsAlpnCertificate } from "../helpers/acme-responders.js";

const newToken = () => randomBytes(16).toString("base64url");
const thumbprint = randomBytes(32).toString("base64url");
const a = { type: "dns", value: "a.test" } as const;

t.test("one validator dispatches each challenge type to its check", async (t) => {
  const token = newToken();
  const keyAuthorization = `${token}.${thumbprint}`;
  const dns = await startDnsServer(t, { "a.test": { A: ["127.0.0.1"] }, "_acme-challenge.a.test": { TXT: [dns01Digest(keyAuthorization)] } });
  const http = await startHttp01Responder(t, { [challengePath(token)]: { body: keyAuthorization } });
  const tls = await startTlsAlpnResponder(t, await tlsAlpnCertificate(a, keyAuthorization));
  const validator = new NetworkChallengeValidator({ httpPort: http.port, tlsPort: tls.port, dnsResolver: dns.address, timeoutMs: 1000 });
  for (const type of ["http-01", "dns-01", "tls-alpn-01"] as const) t.same(await validator.validate(type, a, token, keyAuthorization), { ok: true }, type);
  t.equal(http.requests.length, 1);
  t.same(tls.serverNames, ["a.test"]);
  const wrong = `${token}.${randomBytes(32).toString("base64url")}`;
  for (const type of ["http-01", "dns-01", "tls-alpn-01"] as const) t.match(await validator.validate(type, a, token, wrong), { ok: false, problem: { type: "incorrectResponse" } }, `${type} with another key authorization`);
  t.match(await validator.validate("tls-sni-01" as ChallengeType, a, token, keyAuthorization), { ok: false, problem: { type: "serverInternal", detail: 'unknown challenge type "tls-sni-01"' } });
});

t.test("at most `concurrency` validations run at once; the others wait their turn and all finish", async (t) => {
  const dns = await startDnsServer(t, { "a.test": { A: ["127.0.0.1"] } });
  const tokens = Array.from({ length: 10 }, newToken);
  const http = await startHttp01Responder(t, Object.fromEntries(tokens.map((token) => [challengePath(token), { body: `${token}.${thumbprint}`, delayMs: 150 }])));
  const validator = new NetworkChallengeValidator({ httpPort: http.port, tlsPort: 443, dnsResolver: dns.address, timeoutMs: 2000 }, { concurrency: 3 });
  t.equal(validator.concurrency, 3);
  const started = performance.now();
  const results = tokens.map((token) => validator.validate("http-01", a, token, `${token}.${thumbprint}`));
  t.equal(validator.running, 3, "three start at once");
  t.equal(validator.waiting, 7, "seven wait");
  t.same(await Promise.all(results), tokens.map(() => ({ ok: true })));
  const elapsed = performance.now() - started;
  t.equal(http.maxInFlight, 3, "the responder never saw more than three requests at once");
  t.ok(elapsed >= 4 * 150 - 20, `four rounds of 150 ms: ${Math.round(elapsed)} ms`);
  t.equal(validator.running, 0);
  t.equal(validator.waiting, 0);
});

t.test("a slot freed by a failure goes to the next in line", async (t) => {
  const dns = await startDnsServer(t, {});
  const validator = new NetworkChallengeValidator({ httpPort: 80, tlsPort: 443, dnsResolver: dns.address, timeoutMs: 1000 }, { concurrency: 1 });
  const results = await Promise.all(Array.from({ length: 5 }, () => validator.validate("dns-01", a, "t", "t.x")));
  t.same(results.map((r) => !r.ok && r.problem.type), ["dns", "dns", "dns", "dns", "dns"]);
  t.equal(validator.running, 0);
});

t.test("a validation past its overall deadline fails as connection and lets go of its socket", async (t) => {
  const dns = await startDnsServer(t, { "a.test": { A: ["127.0.0.1"] } });
  const silent = await startSilentServer(t);
  // A redirect chain slower than the deadline: each hop answers within the per-attempt timeout.
  const token = newToken();
  const hops: Parameters<typeof startHttp01Responder>[1] = { [challengePath(token)]: { status: 302, headers: { location: "/1" }, delayMs: 100 } };
  for (let i = 1; i < 10; i++) hops[`/${i}`] = { status: 302, headers: { location: `/${i + 1}` }, delayMs: 100 };
  const http = await startHttp01Responder(t, hops);
  const validator = new NetworkChallengeValidator({ httpPort: http.port, tlsPort: silent.port, dnsResolver: dns.address, timeoutMs: 5000 }, { validationTimeoutMs: 350 });
  let started = performance.now();
  t.match(await validator.validate("http-01", a, token, `${token}.${thumbprint}`), { ok: false, problem: { type: "connection", detail: "the http-01 validation of a.test did not finish within 350 ms" } });
  t.ok(performance.now() - started < 3000, "the deadline, not the 5 s per-attempt timeout");
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.ok(http.requests.length <= 5, `the redirect chain stopped at the deadline (${http.requests.length} requests)`);

  started = performance.now();
  t.match(await validator.validate("tls-alpn-01", a, token, `${token}.${thumbprint}`), { ok: false, problem: { type: "connection", detail: /did not finish within 350 ms/ } });
  t.ok(performance.now() - started < 3000);
  t.equal(silent.connections(), 1);
  t.equal(validator.running, 0);
  t.equal(validator.validationTimeoutMs, 350);
  t.equal(new NetworkChallengeValidator({ httpPort: 80, tlsPort: 443, timeoutMs: 10_000 }).validationTimeoutMs, 30_000, "default: three per-attempt timeouts");
});

t.test("a validation whose deadline passes during the name lookup connects to nothing afterwards", async (t) => {
  const dns = await startDnsServer(t, { "slow.test": { A: ["127.0.0.1"], delayMs: 400 } });
  const token = newToken();
  const http = await startHttp01Responder(t, { [challengePath(token)]: { body: `${token}.${thumbprint}` } });
  const validator = new NetworkChallengeValidator({ httpPort: http.port, tlsPort: 443, dnsResolver: dns.address, timeoutMs: 2000 }, { validationTimeoutMs: 150 });
  t.match(await validator.validate("http-01", { type: "dns", value: "slow.test" }, token, `${token}.${thumbprint}`), { ok: false, problem: { detail: /did not finish within 150 ms/ } });
  await new Promise((resolve) => setTimeout(resolve, 600));
  t.same(http.requests, [], "the answer that came after the deadline was not acted on");
});

t.test("validate never throws, whatever it is given; a fault of the server's own goes to onInternalError", async (t) => {
  const faults: string[] = [];
  const validator = new NetworkChallengeValidator(
    { httpPort: 80, tlsPort: 443, dnsResolver: "127.0.0.1:9", timeoutMs: 200 },
    {
      onInternalError: (error, type) => {
        faults.push(`${type}: ${(error as Error).name}`);
        throw new Error("a failing logger is ignored too");
      },
    },
  );
  const odd = [
    validator.validate("http-01", { type: "dns", value: "" }, "t", "t.x"),
    validator.validate("tls-alpn-01", { type: "ip", value: "300.1.1.1" }, "t", "t.x"),
    validator.validate("dns-01", { type: "uri" as "dns", value: "x" }, "t", "t.x"),
    validator.validate("http-01", null as never, "t", "t.x"),
  ];
  const results = await Promise.all(odd);
  t.same(results.map((r) => !r.ok && r.problem.type), ["serverInternal", "serverInternal", "serverInternal", "serverInternal"]);
  t.same(results.map((r) => !r.ok && r.problem.detail).slice(0, 2), ['the identifier "" is not a valid dns identifier', 'the identifier "300.1.1.1" is not a valid ip identifier'], "a bad identifier is named");
  t.same(faults, ["http-01: TypeError"], "the null identifier, a TypeError, is the one fault of the server's own; its text stays out of the answer");
  t.equal((results[3] as { problem: { detail: string } }).problem.detail, "the validation failed on the server's side");
});

t.test("bad targets or options are refused when the validator is made, naming what to fix", async (t) => {
  const targets: ValidationTargets = { httpPort: 80, tlsPort: 443, timeoutMs: 1000 };
  t.throws(() => new NetworkChallengeValidator({ ...targets, httpPort: 0 }), { message: "httpPort must be a port number from 1 to 65535, not 0" });
  t.throws(() => new NetworkChallengeValidator({ ...targets, tlsPort: 70000 }), { message: /^tlsPort must be/ });
  t.throws(() => new NetworkChallengeValidator({ ...targets, timeoutMs: 0 }), { message: /^timeoutMs must be a positive/ });
  t.throws(() => new NetworkChallengeValidator({ ...targets, dnsResolver: "not a server" }), { message: 'dnsResolver must be HOST:PORT (an IPv6 address in brackets), not "not a server"' });
  t.throws(() => new NetworkChallengeValidator(targets, { concurrency: 0 }), { message: /^concurrency must be a whole number/ });
  t.doesNotThrow(() => new NetworkChallengeValidator({ ...targets, dnsResolver: "[::1]:5353" }));
});
