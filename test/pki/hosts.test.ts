// splitHosts: how `hosts` entries become SANs, and how bad entries are refused.
import t from "tap";
import { CertwrightError, errorKinds } from "../../src/errors.js";
import { checkSans, emptySans, sanCount, sanList, splitHosts, type SubjectAltNames } from "../../src/pki/hosts.js";

t.test("each kind of entry lands in its SAN type", async (t) => {
  const sans = splitHosts([
    "kubernetes",
    "kubernetes.default.svc.cluster.local",
    "*.example.com",
    "10.254.0.1",
    "192.168.4.10",
    "2001:db8::1",
    "::1",
    "ops@example.com",
    "spiffe://cluster.local/ns/default/sa/x",
    "https://example.com/path",
  ]);
  t.same(sans.dns, ["kubernetes", "kubernetes.default.svc.cluster.local", "*.example.com"]);
  t.same(sans.ip, ["10.254.0.1", "192.168.4.10", "2001:db8::1", "::1"]);
  t.same(sans.email, ["ops@example.com"]);
  t.same(sans.uri, ["spiffe://cluster.local/ns/default/sa/x", "https://example.com/path"]);
  t.equal(sanCount(sans), 10);
  t.same(sanList(sans).slice(0, 4), ["kubernetes", "kubernetes.default.svc.cluster.local", "*.example.com", "10.254.0.1"], "DNS first, then IP");
  t.same(sanList(sans).slice(-3), ["ops@example.com", "spiffe://cluster.local/ns/default/sa/x", "https://example.com/path"], "then email, then URI");
});

t.test("edge forms: brackets, whitespace, underscores, a trailing dot", async (t) => {
  const sans = splitHosts(["[2001:db8::2]", "  padded.example.com  ", "_acme.example.com", "svc_internal", "fqdn.example.com.", "::ffff:10.0.0.1"]);
  t.same(sans.ip, ["2001:db8::2", "::ffff:10.0.0.1"], "a bracketed IPv6 literal is an IP SAN without brackets");
  // RFC 5280's preferred name syntax has no root dot, and clients match the name without it.
  t.same(sans.dns, ["padded.example.com", "_acme.example.com", "svc_internal", "fqdn.example.com"], "entries are trimmed, the root dot dropped");
  t.same(sans.email, []);
  t.same(sans.uri, []);
});

t.test("an empty list gives no SANs", async (t) => {
  t.same(splitHosts([]), emptySans());
  t.equal(sanCount(splitHosts([])), 0);
});

t.test("duplicates are dropped, keeping the first spelling", async (t) => {
  const sans = splitHosts(["a.example.com", "A.Example.COM", "a.example.com", "10.0.0.1", "10.0.0.1", "2001:DB8::1", "2001:db8::1", " a.example.com "]);
  t.same(sans.dns, ["a.example.com"], "DNS names are case-insensitive");
  t.same(sans.ip, ["10.0.0.1", "2001:DB8::1"]);
  t.equal(sanCount(sans), 3);
});

t.test("URIs that differ only in the case of their path are different names", async (t) => {
  // RFC 3986 6.2.2.1: only the scheme and host are case-insensitive; a SPIFFE ID's path is case-sensitive.
  const sans = splitHosts(["spiffe://cluster.local/ns/default/sa/Builder", "spiffe://cluster.local/ns/default/sa/builder"]);
  t.same(sans.uri, ["spiffe://cluster.local/ns/default/sa/Builder", "spiffe://cluster.local/ns/default/sa/builder"]);
});

t.test("a URI holding an @ (userinfo or path) is a URI SAN, not an email address", async (t) => {
  const sans = splitHosts(["https://deploy@git.example.com/repo", "spiffe://cluster.local/ns/default/sa/x@y", "ops@example.com"]);
  t.same(sans.uri, ["https://deploy@git.example.com/repo", "spiffe://cluster.local/ns/default/sa/x@y"]);
  t.same(sans.email, ["ops@example.com"]);
});

t.test("invalid entries are refused with a CertwrightError naming hosts[i]", async (t) => {
  const cases: [string[], number, RegExp][] = [
    [[""], 0, /hosts\[0\] is empty/],
    [["ok.example.com", "   "], 1, /hosts\[1\] is empty/],
    [["ok.example.com", "10.0.0.1", "not a host"], 2, /hosts\[2\] "not a host" is not a valid DNS name, IP address, email address or URI/],
    [["-leading-hyphen.example.com"], 0, /not a valid DNS name/],
    [["trailing-hyphen-.example.com"], 0, /not a valid DNS name/],
    [["double..dot.example.com"], 0, /not a valid DNS name/],
    [["*.*.example.com"], 0, /not a valid DNS name/],
    [["ex*ample.com"], 0, /not a valid DNS name/],
    [["bad\u202eidn.ünïcode.example.com"], 0, /not a valid DNS name: .*punycode/],
    [["a.example.com\u0000.evil.com"], 0, /hosts\[0\] .* contains a NUL \(U\+0000\); remove it/],
    [["ok.example.com", "a.example.com\n"], 1, /hosts\[1\] .* contains a newline/],
    [["tab\there.example.com"], 0, /contains a tab/],
    [["esc\u001b[31m.example.com"], 0, /control character \(U\+001B\)/],
    [["del\u007f.example.com"], 0, /U\+007F/],
    [["c1\u0085.example.com"], 0, /U\+0085/],
    [["a b.example.com"], 0, /not a valid DNS name, IP address, email address or URI: it contains a space/],
    [["a..b.example.com"], 0, /empty label/],
    [[".leading.example.com"], 0, /empty label/],
    [["trailing.example.com.."], 0, /empty label/],
    [["."], 0, /no labels/],
    [["*"], 0, /no labels/],
    [[`${"a".repeat(64)}.example.com`], 0, /label of 64 characters.*at most 63/],
    [["-x.example.com"], 0, /label "-x" starts or ends with a hyphen/],
    [["x.-y.example.com"], 0, /label "-y"/],
    [["fe80::1%eth0"], 0, /zone index/],
    [["ops@bad..example.com"], 0, /not a valid email address: in its domain, it has an empty label/],
    [["öps@example.com"], 0, /not a valid email address/],
    [["spiffe://cluster.local/ns/a b"], 0, /space or a non-ASCII character/],
    [["https://exämple.com/"], 0, /non-ASCII/],
    [["ok.example.com", "bad\ud800.example.com"], 1, /unpaired surrogate/],
    [[`${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(63)}`], 0, /not a valid DNS name/],
    [["ok.example.com", "a@b@c"], 1, /hosts\[1\] "a@b@c" is not a valid email address/],
    [["user@"], 0, /not a valid email address/],
    [["two words@example.com"], 0, /not a valid email address/],
    [["spiffe://"], 0, /hosts\[0\] "spiffe:\/\/" is not a valid URI/],
    [["://example.com"], 0, /not a valid URI/],
    [["1http://example.com"], 0, /not a valid URI/],
  ];
  for (const [hosts, index, message] of cases) {
    let caught: unknown;
    try {
      splitHosts(hosts);
    } catch (error) {
      caught = error;
    }
    t.ok(caught instanceof CertwrightError, `${JSON.stringify(hosts)} is refused with a CertwrightError`);
    const error = caught as CertwrightError;
    t.equal(error.kind, "csrInvalid", `${JSON.stringify(hosts)}: kind csrInvalid`);
    t.equal(error.code, errorKinds.csrInvalid.code);
    t.equal(error.status, 400);
    t.ok(error.message.startsWith(`hosts[${index}]`), `${JSON.stringify(hosts)}: the message starts with hosts[${index}] (${error.message})`);
    t.match(error.message, message);
  }
});

t.test("a 253-character name is accepted, 254 is not", async (t) => {
  const label = "a".repeat(61);
  const name253 = `${label}.${label}.${label}.${label}.${"b".repeat(5)}`;
  t.equal(name253.length, 253);
  t.same(splitHosts([name253]).dns, [name253]);
  t.throws(() => splitHosts([`${name253}c`]), { kind: "csrInvalid", message: /hosts\[0\]/ });
});

t.test("IDNs are converted to punycode (A-labels), wildcards and email domains too", async (t) => {
  const sans = splitHosts(["bücher.example", "*.münchen.example", "ops@bücher.example", "ÜNÏCODE.example.com", "例え.テスト."]);
  t.same(sans.dns, ["xn--bcher-kva.example", "*.xn--mnchen-3ya.example", "xn--ncode-cta3g.example.com", "xn--r8jz45g.xn--zckzah"]);
  t.same(sans.email, ["ops@xn--bcher-kva.example"]);
  t.same(splitHosts(["bücher.example", "xn--bcher-kva.example"]).dns, ["xn--bcher-kva.example"], "the U-label and its A-label are one name");
  t.same(splitHosts(["Fqdn.example.com.", "fqdn.example.com"]).dns, ["Fqdn.example.com"], "with or without the root dot, one name");
});

t.test("at most 100 hosts", async (t) => {
  const hosts = Array.from({ length: 100 }, (_, i) => `h${i}.example.com`);
  t.equal(splitHosts(hosts).dns.length, 100);
  t.throws(() => splitHosts([...hosts, "one-more.example.com"]), { kind: "csrInvalid", message: /hosts has 101 entries; at most 100/ });
});

t.test("a label of 63 characters is accepted", async (t) => {
  const name = `${"a".repeat(63)}.example.com`;
  t.same(splitHosts([name]).dns, [name]);
  t.same(splitHosts([`*.${name}`]).dns, [`*.${name}`]);
});

t.test("checkSans refuses bad names read from a CSR, naming the source", async (t) => {
  t.doesNotThrow(() => checkSans({ dns: ["a.example.com", "*.example.com"], ip: ["10.0.0.1"], email: ["a@example.com"], uri: ["spiffe://x/y"] }, "certificate_request"));
  const cases: [Partial<SubjectAltNames>, RegExp][] = [
    [{ dns: ["a\u0000.example.com"] }, /certificate_request: DNS SAN .* contains a NUL/],
    [{ dns: ["bücher.example"] }, /non-ASCII/],
    [{ dns: ["a..b"] }, /empty label/],
    [{ dns: [`${"a".repeat(64)}.com`] }, /at most 63/],
    [{ email: ["nobody"] }, /email SAN "nobody" is not an email address/],
    [{ uri: ["not a uri"] }, /URI SAN/],
    [{ dns: Array.from({ length: 101 }, (_, i) => `h${i}.example.com`) }, /101 subject alternative names; at most 100/],
  ];
  for (const [partial, message] of cases) {
    t.throws(() => checkSans({ ...emptySans(), ...partial }, "certificate_request"), { kind: "csrInvalid", message }, String(message));
  }
});
