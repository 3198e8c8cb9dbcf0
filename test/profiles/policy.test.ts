import t from "tap";
import { CertwrightError } from "../../src/errors.js";
import { emptySans, type SubjectAltNames } from "../../src/pki/hosts.js";
import { enforceKeyPolicy, enforceNamePolicy, parsePolicy, PolicyConfigError, type PolicyJson } from "../../src/profiles/policy.js";
import { ConfigError, parseSigningConfig } from "../../src/profiles/signing-config.js";

function sans(partial: Partial<SubjectAltNames>): SubjectAltNames {
  return { ...emptySans(), ...partial };
}

/** The refusal message, or "ok" when the policy lets the request through. */
function verdict(policy: PolicyJson, request: { commonName?: string; sans?: Partial<SubjectAltNames> }): string {
  try {
    enforceNamePolicy("p", parsePolicy(policy, "policy"), { subject: request.commonName ? [{ oid: "2.5.4.3", name: "CN", value: request.commonName }] : [], sans: sans(request.sans ?? {}) });
    return "ok";
  } catch (error) {
    if (!(error instanceof CertwrightError)) throw error;
    t.equal(error.kind, "policyViolation");
    t.equal(error.code, 5300);
    return error.message;
  }
}

t.test("DNS rules: exact, suffix and wildcard, on label boundaries, case-insensitively", async (t) => {
  const policy = { dns: { allow: ["kubernetes", ".example.com", "*.svc.cluster.local"] } };
  for (const name of ["kubernetes", "KUBERNETES", "a.example.com", "a.b.example.com", "WWW.Example.COM.", "api.svc.cluster.local"]) {
    t.equal(verdict(policy, { sans: { dns: [name] } }), "ok", `${name} is allowed`);
  }
  for (const name of ["evilexample.com", "example.com", "example.com.evil", "a.b.svc.cluster.local", "svc.cluster.local", "kubernetes.default", "xkubernetes"]) {
    t.match(verdict(policy, { sans: { dns: [name] } }), new RegExp(`DNS name "${name.replace(/\./g, "\\.")}" is not in policy.dns.allow`), `${name} is refused`);
  }
  t.equal(verdict(policy, { sans: { dns: ["*.svc.cluster.local"] } }), "ok", "a wildcard request inside a wildcard rule");
  t.equal(verdict(policy, { sans: { dns: ["*.example.com"] } }), "ok", "a wildcard request inside a suffix rule");
});

t.test("deny wins over allow, and the message names the rule", async (t) => {
  const policy = { dns: { allow: [".example.com"], deny: [".prod.example.com"] } };
  t.equal(verdict(policy, { sans: { dns: ["a.dev.example.com"] } }), "ok");
  t.match(verdict(policy, { sans: { dns: ["db.prod.example.com"] } }), /DNS name "db.prod.example.com" matches policy.dns.deny rule ".prod.example.com"/);
  t.match(verdict({ dns: { deny: ["*.internal"] } }, { sans: { dns: ["a.internal", "ok.example.com"] } }), /deny rule "\*\.internal"/);
});

t.test("IP rules compare parsed addresses: CIDR v4 and v6, IPv4-mapped and compressed forms", async (t) => {
  const policy = { ip: { allow: ["10.96.0.0/12", "192.168.4.10", "fd00::/8"], deny: ["10.96.0.10"] } };
  for (const ip of ["10.96.0.1", "10.111.255.254", "192.168.4.10", "fd00::1", "fd12:3456::abcd", "::ffff:10.96.0.1", "::ffff:a60:1"]) {
    t.equal(verdict(policy, { sans: { ip: [ip] } }), "ok", `${ip} is allowed`);
  }
  for (const ip of ["10.112.0.1", "192.168.4.11", "fe80::1", "::ffff:10.112.0.1", "127.0.0.1"]) {
    t.match(verdict(policy, { sans: { ip: [ip] } }), /is not in policy.ip.allow/, `${ip} is refused`);
  }
  t.match(verdict(policy, { sans: { ip: ["10.96.0.10"] } }), /matches policy.ip.deny rule "10.96.0.10"/);
  t.match(verdict(policy, { sans: { ip: ["::ffff:10.96.0.10"] } }), /deny rule/, "the mapped form of a denied address is denied");
  t.equal(verdict({ ip: { allow: ["2001:db8::/32"] } }, { sans: { ip: ["2001:0db8:0000:0000:0000:0000:0000:0001"] } }), "ok", "uncompressed v6");
});

t.test("email domains and URI prefixes", async (t) => {
  const policy = { email: { allow: ["example.com", ".corp.example.com", "ops@partner.org"] }, uri: { allow: ["spiffe://cluster.local/ns/"] } };
  t.equal(verdict(policy, { sans: { email: ["a@example.com", "b@eu.corp.example.com", "ops@PARTNER.org"] } }), "ok");
  t.match(verdict(policy, { sans: { email: ["a@evilexample.com"] } }), /email "a@evilexample.com" is not in policy.email.allow/);
  t.match(verdict(policy, { sans: { email: ["dev@partner.org"] } }), /not in policy.email.allow/);
  t.equal(verdict(policy, { sans: { uri: ["spiffe://cluster.local/ns/default/sa/web", "SPIFFE://Cluster.Local/ns/x"] } }), "ok");
  t.match(verdict(policy, { sans: { uri: ["spiffe://cluster.local.evil/ns/x"] } }), /URI "spiffe:\/\/cluster.local.evil\/ns\/x" is not in policy.uri.allow/);
  t.match(verdict(policy, { sans: { uri: ["spiffe://cluster.local/nsx/y"] } }), /not in policy.uri.allow/);
  t.equal(verdict({ uri: { allow: ["spiffe://td"] } }, { sans: { uri: ["spiffe://td/a"] } }), "ok", "a prefix without slash ends at a path boundary");
  t.match(verdict({ uri: { allow: ["spiffe://td"] } }, { sans: { uri: ["spiffe://tdx/a"] } }), /not in policy.uri.allow/);
});

t.test("wildcards, localhost and IP SANs can be switched off; the CN has its own pattern", async (t) => {
  t.match(verdict({ allow_wildcards: false }, { sans: { dns: ["*.example.com"] } }), /wildcard name "\*\.example\.com" is not allowed \(policy.allow_wildcards is false\)/);
  t.match(verdict({ allow_localhost: false }, { sans: { dns: ["localhost"] } }), /localhost/);
  t.match(verdict({ allow_localhost: false }, { sans: { ip: ["127.0.0.1"] } }), /loopback/);
  t.match(verdict({ allow_localhost: false }, { sans: { ip: ["::1"] } }), /loopback/);
  t.match(verdict({ allow_localhost: false }, { sans: { ip: ["::ffff:127.0.0.2"] } }), /loopback/);
  t.match(verdict({ allow_ip_sans: false }, { sans: { ip: ["10.0.0.1"] } }), /IP address "10.0.0.1" is not allowed \(policy.allow_ip_sans is false\)/);
  const kubelet = { common_name: "system:node:[a-z0-9.-]+", dns: { allow: [".nodes.example.com"] } };
  t.equal(verdict(kubelet, { commonName: "system:node:worker-1" }), "ok", "a kubelet CN is a name, not a host");
  t.match(verdict(kubelet, { commonName: "system:node:worker-1 x" }), /CN "system:node:worker-1 x" does not match policy.common_name/);
  t.match(verdict(kubelet, { commonName: "admin" }), /does not match policy.common_name/);
  // Without a CN pattern, a CN that is a host name must pass the DNS rules, so it cannot smuggle a name in.
  t.match(verdict({ dns: { allow: [".example.com"] } }, { commonName: "evil.com" }), /CN "evil.com" is not in policy.dns.allow/);
  t.match(verdict({ ip: { allow: ["10.0.0.0/8"] } }, { commonName: "192.168.1.1" }), /CN "192.168.1.1" is not in policy.ip.allow/);
  // A profile whose DNS names are limited certifies hosts: a CN that is no host needs common_name.
  t.match(verdict({ dns: { allow: [".example.com"] } }, { commonName: "system:node:x" }), /CN "system:node:x" is not a host name, and policy.dns.allow limits/);
  t.equal(verdict({ ip: { allow: ["10.0.0.0/8"] } }, { commonName: "Team service" }), "ok", "without a DNS allow list, a CN that is no host is left alone");
  t.match(verdict({ max_hosts: 2 }, { sans: { dns: ["a", "b"], ip: ["10.0.0.1"] } }), /3 hosts requested, at most 2 allowed/);
});

t.test("a request is refused whole at its first name outside the policy", async (t) => {
  const message = verdict({ dns: { allow: [".example.com"] } }, { sans: { dns: ["ok.example.com", "bad.org", "also.example.com"] } });
  t.match(message, /profile "p" refuses this request: DNS name "bad.org"/);
});

t.test("key rules: algorithms and minimum sizes", async (t) => {
  const policy = parsePolicy({ keys: { algorithms: ["ecdsa", "rsa"], min_rsa_size: 3072, min_ecdsa_size: 384 } }, "policy");
  t.doesNotThrow(() => enforceKeyPolicy("p", policy.keys, { algo: "ecdsa", size: 384 }));
  t.doesNotThrow(() => enforceKeyPolicy("p", policy.keys, { algo: "rsa", size: 4096 }));
  t.throws(() => enforceKeyPolicy("p", policy.keys, { algo: "ecdsa", size: 256 }), { message: /ecdsa 256 is below policy.keys.min_ecdsa_size 384/ });
  t.throws(() => enforceKeyPolicy("p", policy.keys, { algo: "rsa", size: 2048 }), { message: /rsa 2048 is below policy.keys.min_rsa_size 3072/ });
  t.throws(() => enforceKeyPolicy("p", policy.keys, { algo: "ed25519", size: 0 }), { message: /ed25519 keys are not allowed \(policy.keys.algorithms: ecdsa, rsa\)/ });
});

t.test("bad policies stop the config load, naming the JSON path", async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ dns: { allow: ["exa mple.com"] } }, /signing.profiles.p.policy.dns.allow\[0\]: "exa mple.com" is not a DNS name/],
    [{ ip: { allow: ["10.0.0.0/33"] } }, /signing.profiles.p.policy.ip.allow\[0\]: "10.0.0.0\/33" is not an IP address or CIDR range/],
    [{ ip: { deny: ["not-an-ip"] } }, /policy.ip.deny\[0\]/],
    [{ uri: { allow: ["cluster.local"] } }, /policy.uri.allow\[0\]: "cluster.local" is not a URI prefix/],
    [{ email: { allow: ["a@@b"] } }, /policy.email.allow\[0\]/],
    [{ common_name: "(" }, /policy.common_name: not a valid regular expression/],
    [{ keys: { min_rsa_size: 1024 } }, /policy.keys.min_rsa_size/],
    [{ keys: { algorithms: ["dsa"] } }, /policy.keys.algorithms/],
    [{ dns: { allows: ["x"] } }, /policy.dns/],
    [{ allow_wildcard: false }, /policy/],
  ];
  for (const [policy, message] of cases) {
    t.throws(
      () => parseSigningConfig({ signing: { default: { usages: ["signing"] }, profiles: { p: { usages: ["signing"], policy } } } }),
      { name: "ConfigError", message },
      `${JSON.stringify(policy)} → ${message}`,
    );
  }
  t.throws(() => parsePolicy({ ip: { allow: ["x/1"] } }, "policy"), PolicyConfigError);
  t.throws(() => parseSigningConfig({ signing: { profiles: { p: { usages: ["signing"], beyond_ca_expiry: "warn" } } } }), ConfigError);
});

/** A subject attribute as the policy sees it. */
function attr(name: string, value: string) {
  const oids: Record<string, string> = { CN: "2.5.4.3", O: "2.5.4.10", OU: "2.5.4.11", E: "1.2.840.113549.1.9.1", C: "2.5.4.6", DC: "0.9.2342.19200300.100.1.25" };
  return { oid: oids[name] ?? name, name: oids[name] ? name : name, value };
}

function subjectVerdict(policy: PolicyJson, subject: ReturnType<typeof attr>[], extra: Partial<SubjectAltNames> = {}): string {
  try {
    enforceNamePolicy("p", parsePolicy(policy, "policy"), { subject, sans: sans(extra) });
    return "ok";
  } catch (error) {
    if (!(error instanceof CertwrightError)) throw error;
    t.equal(error.code, 5300);
    return error.message;
  }
}

t.test("every CN value passes the policy, not only the first", async (t) => {
  const policy = { dns: { allow: [".svc.cluster.local"] } };
  t.equal(subjectVerdict(policy, [attr("CN", "web.svc.cluster.local"), attr("CN", "api.svc.cluster.local")]), "ok");
  t.match(subjectVerdict(policy, [attr("CN", "web.svc.cluster.local"), attr("CN", "evil.com")]), /CN "evil.com" is not in policy.dns.allow/);
  t.match(subjectVerdict({ common_name: "system:node:[a-z0-9-]+" }, [attr("CN", "system:node:n1"), attr("CN", "admin")]), /CN "admin" does not match policy.common_name/);
});

t.test("a CN is read as clients read a host: trailing space or dot, IDN, numbers that are addresses", async (t) => {
  const policy = { dns: { allow: [".svc.cluster.local"] }, ip: { allow: ["10.0.0.0/8"] } };
  t.match(subjectVerdict(policy, [attr("CN", "evil.com ")]), /CN "evil.com " is not in policy.dns.allow/);
  t.match(subjectVerdict(policy, [attr("CN", " evil.com.")]), /CN " evil.com." is not in policy.dns.allow/);
  t.match(subjectVerdict(policy, [attr("CN", "bücher.evil.com")]), /CN "bücher.evil.com" is not in policy.dns.allow/);
  t.equal(subjectVerdict({ dns: { allow: [".xn--bcher-kva.example"] } }, [attr("CN", "www.bücher.example")]), "ok", "an IDN CN compares as punycode");
  for (const cn of ["134744072", "010.010.010.010", "0x8.8.8.8", "8.8.8.8.1"]) {
    t.match(subjectVerdict(policy, [attr("CN", cn)]), /ends in a number, so clients read it as an IPv4 address/, cn);
  }
  t.match(subjectVerdict(policy, [attr("CN", "8.8.8.8.")]), /CN "8.8.8.8." is not in policy.ip.allow/, "an address with a trailing dot is an address");
  t.equal(subjectVerdict(policy, [attr("CN", "10.1.2.3")]), "ok");
});

t.test("a subject email address is checked as an email name", async (t) => {
  const policy = { email: { allow: ["example.com"] } };
  t.equal(subjectVerdict(policy, [attr("CN", "alice"), attr("E", "alice@example.com")]), "ok");
  t.match(subjectVerdict(policy, [attr("CN", "alice"), attr("E", "alice@evil.com")]), /subject E "alice@evil.com" is not in policy.email.allow/);
  t.match(subjectVerdict({ email: { deny: ["evil.com"] } }, [attr("E", "x@EVIL.com")]), /subject E "x@EVIL.com" matches policy.email.deny/);
  t.match(subjectVerdict({ allow_localhost: false }, [attr("E", "root@localhost")]), /at localhost/);
});

t.test("policy.subject: each attribute named, its values anchored patterns; the rest refused", async (t) => {
  const kubelet = { common_name: "system:node:[a-z0-9-]+", subject: { O: "system:nodes" } };
  t.equal(subjectVerdict(kubelet, [attr("O", "system:nodes"), attr("CN", "system:node:n1")]), "ok");
  t.match(subjectVerdict(kubelet, [attr("O", "system:masters"), attr("CN", "system:node:n1")]), /subject O "system:masters" does not match policy.subject.O \("system:nodes"\)/);
  t.match(subjectVerdict(kubelet, [attr("O", "system:nodes"), attr("O", "system:masters")]), /subject O "system:masters"/, "a second O is checked too");
  t.match(subjectVerdict(kubelet, [attr("O", "system:nodesX")]), /does not match/, "anchored: no prefix match");
  t.match(subjectVerdict(kubelet, [attr("OU", "ops"), attr("CN", "system:node:n1")]), /subject OU "ops" is not allowed: policy.subject does not name OU \(it names O\)/);
  t.match(subjectVerdict({ subject: {} }, [attr("C", "US")]), /subject C "US" is not allowed: policy.subject does not name C \(it names none\)/, "{} allows the CN only");
  t.equal(subjectVerdict({ subject: {} }, [attr("CN", "anything")]), "ok");
  t.match(subjectVerdict({ subject: { O: "Acme" } }, [attr("DC", "com")]), /subject DC "com" is not allowed/, "attributes the service does not write are named too");
  t.match(subjectVerdict({ subject: { O: "Acme" } }, [attr("2.5.4.45", "x")]), /subject 2\.5\.4\.45 "x" is not allowed/, "unknown types by OID");
  t.equal(subjectVerdict({ subject: { OU: ["ops", "dev-[a-z]+"], dc: "example|com", "2.5.4.45": ".*" } }, [attr("OU", "dev-web"), attr("DC", "com"), attr("2.5.4.45", "x")]), "ok", "arrays, case-insensitive names, OIDs");
  t.match(
    subjectVerdict({ subject: { E: ".*@example\\.com" }, email: { allow: ["corp.example.com"] } }, [attr("E", "a@example.com")]),
    /subject E "a@example.com" is not in policy.email.allow/,
    "E passes both its subject pattern and the email rules",
  );
});

t.test("key rules: RSA between 2048 and max_rsa_size (4096 unless raised)", async (t) => {
  t.throws(() => enforceKeyPolicy("p", parsePolicy({}, "policy").keys, { algo: "rsa", size: 4608 }), { message: /rsa 4608 is above policy.keys.max_rsa_size 4096/ });
  t.doesNotThrow(() => enforceKeyPolicy("p", parsePolicy({ keys: { max_rsa_size: 8192 } }, "policy").keys, { algo: "rsa", size: 4608 }));
});

t.test("bad subject and key rules stop the config load, naming the JSON path", async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ subject: { CN: "x" } }, /policy.subject.CN: the CN has its own rule; use policy.common_name/],
    [{ subject: { Org: "x" } }, /policy.subject.Org: not a subject attribute the service knows/],
    [{ subject: { O: "(" } }, /policy.subject.O: not a valid regular expression/],
    [{ subject: { OU: ["ok", "("] } }, /policy.subject.OU\[1\]: not a valid regular expression/],
    [{ subject: { O: "a", o: "b" } }, /policy.subject.o: O is named twice/],
    [{ subject: { O: [] } }, /policy.subject.O/],
    [{ keys: { max_rsa_size: 16384 } }, /policy.keys.max_rsa_size/],
    [{ keys: { min_rsa_size: 4096, max_rsa_size: 3072 } }, /policy.keys.min_rsa_size: 4096 is above max_rsa_size 3072/],
  ];
  for (const [policy, message] of cases) {
    t.throws(
      () => parseSigningConfig({ signing: { default: { usages: ["signing"] }, profiles: { p: { usages: ["signing"], policy } } } }),
      { name: "ConfigError", message },
      `${JSON.stringify(policy)} → ${message}`,
    );
  }
});

t.test("a profile with cert sign and no ca_constraint does not load: it would issue leaves that claim to sign certificates", async (t) => {
  t.throws(() => parseSigningConfig({ signing: { profiles: { p: { usages: ["digital signature", "cert sign"] } } } }), {
    name: "ConfigError",
    message: /signing.profiles.p.usages\[1\]: "cert sign" is only for CA certificates; add "ca_constraint": \{"is_ca": true\}/,
  });
  t.doesNotThrow(() => parseSigningConfig({ signing: { profiles: { p: { usages: ["cert sign", "crl sign"], ca_constraint: { is_ca: true } } } } }));
});
