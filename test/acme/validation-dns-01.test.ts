import { randomBytes } from "node:crypto";
import t, { type Test } from "tap";
import { dns01Digest, dns01Name, validateDns01 } from "../../src/acme/validation/dns-01.js";
import type { AcmeIdentifier, ValidationTargets } from "../../src/acme/validation/types.js";
import { type DnsEntry, startDnsServer } from "../helpers/acme-dns.js";

const keyAuthorization = `${randomBytes(16).toString("base64url")}.${randomBytes(32).toString("base64url")}`;
const digest = dns01Digest(keyAuthorization);
const name = (value: string): AcmeIdentifier => ({ type: "dns", value });

async function setUp(t: Test, zone: Record<string, DnsEntry>, timeoutMs = 1000) {
  const dns = await startDnsServer(t, zone);
  const targets: ValidationTargets = { httpPort: 80, tlsPort: 443, dnsResolver: dns.address, timeoutMs };
  return { dns, targets };
}

t.test("the digest is base64url(SHA-256(key authorization)) without padding; the name is _acme-challenge.<base name>", async (t) => {
  // RFC 8555 §8.4 gives no vector; this one is computed with the openssl CLI:
  // printf %s 'token.thumbprint' | openssl dgst -sha256 -binary | basenc --base64url | tr -d =
  t.equal(dns01Digest("token.thumbprint"), "61rBZ_4knHblO0MNoxFsXZ_eTFUHum0B6IVRbhvUn5I");
  t.equal(digest.length, 43, "32 octets, unpadded");
  t.equal(dns01Name(name("*.Example.test.")), "_acme-challenge.Example.test", "a wildcard's base name, without the root dot");
});

t.test("the digest in a TXT record at _acme-challenge validates, beside other records", async (t) => {
  const { dns, targets } = await setUp(t, { "_acme-challenge.a.test": { TXT: ["some other client's digest", digest] } });
  t.same(await validateDns01(name("a.test"), keyAuthorization, targets), { ok: true });
  t.same(dns.queries, ["TXT _acme-challenge.a.test"]);
});

t.test("a wildcard identifier is validated at its base name", async (t) => {
  const { dns, targets } = await setUp(t, { "_acme-challenge.a.test": { TXT: [digest] } });
  t.same(await validateDns01(name("*.a.test"), keyAuthorization, targets), { ok: true });
  t.same(dns.queries, ["TXT _acme-challenge.a.test"]);
});

t.test("a TXT record split into several strings is read joined", async (t) => {
  // The helper splits values at 255 octets; a digest padded past that arrives in two strings.
  const { targets } = await setUp(t, { "_acme-challenge.a.test": { TXT: [`${"x".repeat(250)}${digest}`] } });
  t.match(await validateDns01(name("a.test"), keyAuthorization, targets), { ok: false, problem: { type: "incorrectResponse", detail: /found "x{64}…"/ } }, "the joined value, not a piece of it, is compared");
});

t.test("TXT records without the digest are incorrectResponse, and the detail shows them", async (t) => {
  const { targets } = await setUp(t, { "_acme-challenge.a.test": { TXT: [dns01Digest("someone.else"), "v=spf1 -all"] } });
  t.match(await validateDns01(name("a.test"), keyAuthorization, targets), {
    ok: false,
    problem: { type: "incorrectResponse", detail: `no TXT record at _acme-challenge.a.test holds the digest of this challenge's key authorization; found "${dns01Digest("someone.else")}", "v=spf1 -all"` },
  });
});

t.test("a name with no TXT record is unauthorized; NXDOMAIN, SERVFAIL and REFUSED are dns", async (t) => {
  const { targets } = await setUp(t, {
    "_acme-challenge.empty.test": { A: ["127.0.0.1"] },
    "_acme-challenge.servfail.test": { rcode: "SERVFAIL" },
    "_acme-challenge.refused.test": { rcode: "REFUSED" },
  });
  t.match(await validateDns01(name("empty.test"), keyAuthorization, targets), { ok: false, problem: { type: "unauthorized", detail: "no TXT record found at _acme-challenge.empty.test" } });
  t.match(await validateDns01(name("nowhere.test"), keyAuthorization, targets), { ok: false, problem: { type: "dns", detail: "NXDOMAIN looking up TXT for _acme-challenge.nowhere.test" } });
  t.match(await validateDns01(name("servfail.test"), keyAuthorization, targets), { ok: false, problem: { type: "dns", detail: "SERVFAIL looking up TXT for _acme-challenge.servfail.test" } });
  t.match(await validateDns01(name("refused.test"), keyAuthorization, targets), { ok: false, problem: { type: "dns", detail: /refused the query looking up TXT/ } });
});

t.test("a DNS server that never answers times out as a dns problem, within about the timeout", async (t) => {
  const { dns, targets } = await setUp(t, { "_acme-challenge.silent.test": { silent: true } }, 600);
  const started = performance.now();
  const result = await validateDns01(name("silent.test"), keyAuthorization, targets);
  const elapsed = performance.now() - started;
  t.match(result, { ok: false, problem: { type: "dns", detail: "timed out looking up TXT for _acme-challenge.silent.test" } });
  t.ok(elapsed < 3000, `gave up after ${Math.round(elapsed)} ms`);
  t.ok(dns.queries.length >= 2, `the query was tried again (${dns.queries.length} times)`);
});

t.test("an abort stops the query at once", async (t) => {
  const { targets } = await setUp(t, { "_acme-challenge.silent.test": { silent: true } }, 5000);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  const started = performance.now();
  const result = await validateDns01(name("silent.test"), keyAuthorization, targets, controller.signal);
  t.match(result, { ok: false, problem: { type: "dns", detail: /timed out/ } });
  t.ok(performance.now() - started < 3000, "well before the 5 s timeout");
});

t.test("dns-01 cannot validate an IP identifier (RFC 8738 §7)", async (t) => {
  const { dns, targets } = await setUp(t, {});
  t.match(await validateDns01({ type: "ip", value: "127.0.0.1" }, keyAuthorization, targets), { ok: false, problem: { type: "unauthorized", detail: /RFC 8738/ } });
  t.same(dns.queries, [], "nothing was asked");
});
