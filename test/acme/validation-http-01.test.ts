import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer as createHttpsServer } from "node:https";
import t, { type Test } from "tap";
import { maxBodyBytes, validateHttp01 } from "../../src/acme/validation/http-01.js";
import type { AcmeIdentifier, ValidationTargets } from "../../src/acme/validation/types.js";
import { startDnsServer } from "../helpers/acme-dns.js";
import { challengePath, refusedPort, startHttp01Responder, startSilentServer, tlsAlpnCertificate } from "../helpers/acme-responders.js";

const token = randomBytes(16).toString("base64url");
const keyAuthorization = `${token}.${randomBytes(32).toString("base64url")}`;
const path = challengePath(token);
const name = (value: string): AcmeIdentifier => ({ type: "dns", value });

/** A DNS server pointing the test's names at loopback, and an http-01 responder answering `answers`. */
async function setUp(t: Test, answers: Parameters<typeof startHttp01Responder>[1] = { [path]: { body: keyAuthorization } }) {
  const dns = await startDnsServer(t, {
    "a.test": { A: ["127.0.0.1"] },
    "b.test": { A: ["127.0.0.1"] },
    "dual.test": { AAAA: ["::1"], A: ["127.0.0.1"] },
    "servfail.test": { rcode: "SERVFAIL" },
    "nodata.test": { TXT: ["not an address"] },
  });
  const responder = await startHttp01Responder(t, answers);
  const targets: ValidationTargets = { httpPort: responder.port, tlsPort: 443, dnsResolver: dns.address, timeoutMs: 1000 };
  return { dns, responder, targets };
}

t.test("the key authorization at the challenge path validates; the name came from the configured resolver", async (t) => {
  const { dns, responder, targets } = await setUp(t, { [path]: { body: `${keyAuthorization}\r\n \t` } });
  t.same(await validateHttp01(name("a.test"), token, keyAuthorization, targets), { ok: true }, "trailing whitespace is ignored (RFC 8555 §8.3)");
  t.same(responder.requests, [`a.test:${responder.port} ${path}`], "one GET, with the name in the Host header");
  t.ok(dns.queries.includes("A a.test"), "a.test was looked up on the test DNS server");
});

t.test("a body that is not the key authorization is incorrectResponse, and says what came back", async (t) => {
  const { targets } = await setUp(t, { [path]: { body: `${token}.someone-elses-thumbprint` } });
  const result = await validateHttp01(name("a.test"), token, keyAuthorization, targets);
  t.match(result, { ok: false, problem: { type: "incorrectResponse", detail: /does not match this challenge: got ".*someone-elses-thumbprint"/ } });
  const leading = await setUp(t, { [path]: { body: ` ${keyAuthorization}` } });
  t.match(await validateHttp01(name("a.test"), token, keyAuthorization, leading.targets), { ok: false, problem: { type: "incorrectResponse" } }, "only trailing whitespace is forgiven");
});

t.test("a status other than 200 is unauthorized", async (t) => {
  const { targets } = await setUp(t, {});
  t.match(await validateHttp01(name("a.test"), token, keyAuthorization, targets), { ok: false, problem: { type: "unauthorized", detail: /acme-challenge\/.* answered HTTP 404$/ } });
  const error = await setUp(t, { [path]: { status: 500, body: keyAuthorization } });
  t.match(await validateHttp01(name("a.test"), token, keyAuthorization, error.targets), { ok: false, problem: { type: "unauthorized", detail: /answered HTTP 500/ } });
});

t.test("a body over 8 KiB is refused without reading it all", async (t) => {
  const { targets } = await setUp(t, { [path]: { body: keyAuthorization + " ".repeat(maxBodyBytes) } });
  t.match(await validateHttp01(name("a.test"), token, keyAuthorization, targets), { ok: false, problem: { type: "incorrectResponse", detail: `larger than ${maxBodyBytes} bytes` } });
});

t.test("redirects are followed to another path and another name, ten at most", async (t) => {
  const answers: Parameters<typeof startHttp01Responder>[1] = {};
  // /hop/0 → /hop/1 → … → /hop/10 → the key authorization: the challenge path plus ten redirects.
  answers[path] = { status: 302, headers: { location: "/hop/1" } };
  for (let i = 1; i < 10; i++) answers[`/hop/${i}`] = { status: i % 2 ? 301 : 307, headers: { location: `/hop/${i + 1}` } };
  answers["/hop/10"] = { body: keyAuthorization };
  const { responder, targets } = await setUp(t, answers);
  t.same(await validateHttp01(name("a.test"), token, keyAuthorization, targets), { ok: true }, "ten redirects are followed");
  t.equal(responder.requests.length, 11);

  responder.paths.set("/hop/10", { status: 308, headers: { location: `http://b.test:${responder.port}/hop/11` } });
  responder.paths.set("/hop/11", { body: keyAuthorization });
  const result = await validateHttp01(name("a.test"), token, keyAuthorization, targets);
  t.match(result, { ok: false, problem: { type: "connection", detail: /^too many redirects \(more than 10\)/ } }, "the eleventh is not");

  responder.paths.set(path, { status: 303, headers: { location: `http://b.test:${responder.port}/hop/11` } });
  t.same(await validateHttp01(name("a.test"), token, keyAuthorization, targets), { ok: true }, "an absolute redirect to another name");
  t.equal(responder.requests.at(-1), `b.test:${responder.port} /hop/11`, "the Host header follows the redirect");
});

t.test("a redirect loop fails as soon as a URL comes round again", async (t) => {
  const { responder, targets } = await setUp(t, {
    [path]: { status: 302, headers: { location: "/loop/a" } },
    "/loop/a": { status: 302, headers: { location: "/loop/b" } },
    "/loop/b": { status: 302, headers: { location: path } },
  });
  t.match(await validateHttp01(name("a.test"), token, keyAuthorization, targets), { ok: false, problem: { type: "connection", detail: /^redirect loop: .*\/loop\/b leads back to .*acme-challenge/ } });
  t.equal(responder.requests.length, 3, "no request is repeated");
});

t.test("redirects go only to http on 80 or the HTTP port, https on 443 or the TLS port", async (t) => {
  const { responder, targets } = await setUp(t);
  const redirect = async (location: string) => {
    responder.paths.set(path, { status: 302, headers: { location } });
    return validateHttp01(name("a.test"), token, keyAuthorization, targets);
  };
  t.match(await redirect("http://a.test:8080/x"), { ok: false, problem: { type: "connection", detail: /redirects to port 8080; http redirects are followed to port 80 or \d+ only/ } });
  t.match(await redirect("https://a.test:8443/x"), { ok: false, problem: { type: "connection", detail: /https redirects are followed to port 443 only/ } });
  t.match(await redirect("ftp://a.test/x"), { ok: false, problem: { type: "connection", detail: /only http and https are followed/ } });
  t.match(await redirect(`http://user:pass@a.test:${responder.port}/x`), { ok: false, problem: { type: "connection", detail: /credentials/ } });
  t.match(await redirect("http://[::1"), { ok: false, problem: { type: "connection", detail: /is not a URL/ } });
});

t.test("a redirect to https on the TLS port is followed without checking the certificate", async (t) => {
  const credentials = await tlsAlpnCertificate(name("a.test"), "any");
  const https = createHttpsServer(credentials, (request, response) => {
    response.end(request.url === "/secure" && request.headers.host?.startsWith("a.test:") ? keyAuthorization : "wrong");
  });
  https.listen(0, "127.0.0.1");
  await once(https, "listening");
  t.teardown(() => https.close());
  const tlsPort = (https.address() as { port: number }).port;
  const { targets } = await setUp(t, { [path]: { status: 301, headers: { location: `https://a.test:${tlsPort}/secure` } } });
  t.same(await validateHttp01(name("a.test"), token, keyAuthorization, { ...targets, tlsPort }), { ok: true });
});

t.test("a server that never answers times out as a connection problem, within the per-attempt timeout", async (t) => {
  const silent = await startSilentServer(t);
  const { targets } = await setUp(t);
  const started = performance.now();
  const result = await validateHttp01(name("a.test"), token, keyAuthorization, { ...targets, httpPort: silent.port, timeoutMs: 300 });
  const elapsed = performance.now() - started;
  t.match(result, { ok: false, problem: { type: "connection", detail: /^timed out talking to a\.test:\d+$/ } });
  t.ok(elapsed >= 290 && elapsed < 3000, `gave up after ${Math.round(elapsed)} ms`);
  t.equal(silent.connections(), 1);
});

t.test("a refused port is a connection problem", async (t) => {
  const { targets } = await setUp(t);
  const port = await refusedPort();
  t.match(await validateHttp01(name("a.test"), token, keyAuthorization, { ...targets, httpPort: port }), { ok: false, problem: { type: "connection", detail: `connection refused by a.test:${port}` } });
});

t.test("DNS failures are dns problems", async (t) => {
  const { targets } = await setUp(t);
  t.match(await validateHttp01(name("nowhere.test"), token, keyAuthorization, targets), { ok: false, problem: { type: "dns", detail: "NXDOMAIN looking up A for nowhere.test" } });
  t.match(await validateHttp01(name("servfail.test"), token, keyAuthorization, targets), { ok: false, problem: { type: "dns", detail: "SERVFAIL looking up A for servfail.test" } });
  t.match(await validateHttp01(name("nodata.test"), token, keyAuthorization, targets), { ok: false, problem: { type: "dns", detail: "no A or AAAA record found for nodata.test" } });
});

t.test("an unreachable AAAA address falls back to the A address", async (t) => {
  // The responder listens on 127.0.0.1 only, so ::1 refuses the connection. (Upper time bounds in
  // these tests are loose on purpose: the machine is shared; what they rule out is a hang.)
  const { responder, targets } = await setUp(t);
  t.same(await validateHttp01(name("dual.test"), token, keyAuthorization, targets), { ok: true });
  t.equal(responder.requests.length, 1);
});

t.test("IP identifiers are fetched at the address, IPv6 in brackets", async (t) => {
  const { responder, targets } = await setUp(t);
  t.same(await validateHttp01({ type: "ip", value: "127.0.0.1" }, token, keyAuthorization, targets), { ok: true });
  t.equal(responder.requests.at(-1), `127.0.0.1:${responder.port} ${path}`);
  const v6 = await startHttp01Responder(t, { [path]: { body: keyAuthorization } }, "::1");
  t.same(await validateHttp01({ type: "ip", value: "::1" }, token, keyAuthorization, { ...targets, httpPort: v6.port }), { ok: true });
  t.equal(v6.requests.at(-1), `[::1]:${v6.port} ${path}`);
});

t.test("without a configured resolver, names go through the system's lookup (hosts file included)", async (t) => {
  const { targets } = await setUp(t);
  const { dnsResolver: _, ...system } = targets;
  t.same(await validateHttp01(name("localhost"), token, keyAuthorization, system), { ok: true });
});

t.test("what http-01 cannot validate, and identifiers or tokens that would change the URL", async (t) => {
  const { responder, targets } = await setUp(t);
  t.match(await validateHttp01(name("*.a.test"), token, keyAuthorization, targets), { ok: false, problem: { type: "unauthorized", detail: /wildcard .* dns-01/ } });
  t.match(await validateHttp01(name("a.test/evil?"), token, keyAuthorization, targets), { ok: false, problem: { type: "serverInternal", detail: /not a valid dns identifier/ } });
  t.match(await validateHttp01({ type: "ip", value: "a.test" }, token, keyAuthorization, targets), { ok: false, problem: { type: "serverInternal" } });
  t.match(await validateHttp01(name("a.test"), "../../etc", keyAuthorization, targets), { ok: false, problem: { type: "serverInternal", detail: /token/ } });
  t.equal(responder.requests.length, 0, "nothing was fetched");
});
