// POST /api/v1/cfssl/sign with CSRs made by the openssl command line (seeds 003 and 004), and the
// UTF-8 round trip of seed 002, each checked by openssl and node's own X.509 parser.
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import t from "tap";
import { x509 } from "../../src/pki/webcrypto.js";
import { openssl, post, testApp, writeFile, type ApiAnswer } from "../helpers/app.js";

interface CsrOptions {
  /** openssl -newkey argument, e.g. "rsa:2048" or "ec". */
  newkey?: string;
  pkeyopts?: string[];
  subj: string;
  /** subjectAltName value for -addext, e.g. "DNS:a.example.com,IP:10.0.0.1". */
  san?: string;
  /** A whole openssl config file, used instead of -subj/-addext (seed 003's way). */
  config?: string;
}

let csrCounter = 0;

/** Makes a CSR with the openssl command line in a temporary directory; returns its PEM. */
function makeCsr(dir: string, options: CsrOptions): string {
  const n = ++csrCounter;
  const keyFile = `${dir}/key-${n}.pem`;
  const csrFile = `${dir}/req-${n}.csr`;
  const args = ["req", "-new", "-newkey", options.newkey ?? "rsa:2048", ...(options.pkeyopts ?? []).flatMap((o) => ["-pkeyopt", o]), "-nodes", "-keyout", keyFile, "-out", csrFile];
  if (options.config !== undefined) {
    args.push("-config", writeFile(dir, `req-${n}.cnf`, options.config));
  } else {
    args.push("-subj", options.subj);
    if (options.san) args.push("-addext", `subjectAltName=${options.san}`);
  }
  const result = openssl(args);
  if (result.status !== 0) throw new Error(`openssl req failed: ${result.stderr}`);
  return readFileSync(csrFile, "utf8");
}

/** A CSR whose -subj is read as UTF-8 (openssl's -utf8), as a user in seed 002 would make it. */
function makeCsrUtf8(dir: string, subj: string): string {
  const n = ++csrCounter;
  const csrFile = `${dir}/req-${n}.csr`;
  const result = openssl(["req", "-new", "-utf8", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${dir}/key-${n}.pem`, "-subj", subj, "-out", csrFile]);
  if (result.status !== 0) throw new Error(`openssl req failed: ${result.stderr}`);
  return readFileSync(csrFile, "utf8");
}

function certText(pem: string): string {
  const result = openssl(["x509", "-noout", "-text"], pem);
  if (result.status !== 0) throw new Error(`openssl x509 failed: ${result.stderr}`);
  return result.stdout;
}

/** The SAN entries of a certificate, read with @peculiar/x509: [type, value] pairs. */
function sanItems(pem: string): [string, string][] | undefined {
  const cert = new x509.X509Certificate(pem);
  const extension = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return extension?.names.items.map((item) => [item.type, item.value]);
}

function errorOf(answer: ApiAnswer): { code: number; message: string } {
  return answer.body.errors[0] ?? { code: -1, message: "" };
}

function decimalSerial(pem: string): string {
  return BigInt(`0x${new X509Certificate(pem).serialNumber}`).toString(10);
}

const sanSection = "X509v3 Subject Alternative Name";

t.test("seed 003: an openssl-made RSA CSR with DNS and IP SANs, signed with the kubernetes profile", async (t) => {
  const { app, store, authority, caPem, dir } = await testApp(t);
  const config = `[req]
distinguished_name = req_distinguished_name
req_extensions = v3_req
prompt = no

[req_distinguished_name]
CN = kube-apiserver

[v3_req]
basicConstraints = CA:FALSE
keyUsage = nonRepudiation, digitalSignature, keyEncipherment
subjectAltName = @alt_names

[alt_names]
DNS.1 = kubernetes
DNS.2 = kubernetes.default
DNS.3 = kubernetes.default.svc
DNS.4 = kubernetes.default.svc.cluster.local
IP.1 = 10.254.0.1
IP.2 = 192.168.4.10
`;
  const csr = makeCsr(dir, { newkey: "rsa:2048", subj: "", config });
  t.match(openssl(["req", "-noout", "-text"], csr).stdout, /IP Address:10.254.0.1/, "the CSR carries the IP SANs");

  const answer = await post(app, "sign", { certificate_request: csr, profile: "kubernetes" });
  t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
  t.equal(answer.body.success, true);
  t.same(Object.keys(answer.body.result), ["certificate"]);
  const { certificate } = answer.body.result;
  t.match(certificate, /^-----BEGIN CERTIFICATE-----/);

  const verify = openssl(["verify", "-CAfile", writeFile(dir, "ca.pem", caPem), writeFile(dir, "apiserver.pem", certificate)]);
  t.equal(verify.status, 0, verify.stderr);
  t.match(verify.stdout, /apiserver.pem: OK/);

  const text = certText(certificate);
  for (const name of [
    "DNS:kubernetes,",
    "DNS:kubernetes.default,",
    "DNS:kubernetes.default.svc,",
    "DNS:kubernetes.default.svc.cluster.local",
    "IP Address:10.254.0.1",
    "IP Address:192.168.4.10",
  ]) {
    t.ok(text.includes(name), `SAN ${name} is kept`);
  }
  t.match(text, /Subject: CN ?= ?kube-apiserver/);
  t.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
  t.match(text, /Public-Key: \(2048 bit\)/);

  const cert = new X509Certificate(certificate);
  t.ok(cert.verify(new X509Certificate(caPem).publicKey), "node verifies the CA's signature");
  t.ok(cert.checkHost("kubernetes.default.svc"), "node matches a DNS SAN");
  t.ok(cert.checkIP("10.254.0.1"), "node matches an IP SAN");
  t.equal(cert.checkHost("other.example.com"), undefined, "and no other name");

  const row = store.get(decimalSerial(certificate), authority.ca.subjectKeyId.toLowerCase());
  t.ok(row, "the certificate is recorded under its decimal serial and the CA's key id");
  t.equal(row?.pem, certificate);
  t.equal(row?.profile, "kubernetes");
  t.equal(row?.commonName, "kube-apiserver");
  t.same(row?.sans, [
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "10.254.0.1",
    "192.168.4.10",
  ]);
  t.equal(store.count(), 1);
});

t.test("seed 004: a kubelet ECDSA P-256 CSR with no SANs, signed with the client profile", async (t) => {
  const { app, store, caPem, dir } = await testApp(t);
  const csr = makeCsr(dir, {
    newkey: "ec",
    pkeyopts: ["ec_paramgen_curve:P-256"],
    subj: "/O=system:nodes/CN=system:node:worker-1",
  });
  const answer = await post(app, "sign", { certificate_request: csr, profile: "client" });
  t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
  const { certificate } = answer.body.result;
  t.notMatch(JSON.stringify(answer.body.messages), /no hosts/, "a client certificate needs no hosts: no warning about them");
  t.match(JSON.stringify(answer.body.messages), /key encipherment: not possible with an ECDSA key/, "the profile's key encipherment is left out, and said so");

  const verify = openssl(["verify", "-CAfile", writeFile(dir, "ca.pem", caPem), "-purpose", "sslclient", writeFile(dir, "kubelet.pem", certificate)]);
  t.equal(verify.status, 0, verify.stderr);

  const text = certText(certificate);
  t.match(text, /Subject: O ?= ?system:nodes, CN ?= ?system:node:worker-1/, "subject kept as the kubelet wrote it");
  t.notOk(text.includes(sanSection), "no SAN extension: the CN is not a host name");
  t.match(text, /X509v3 Extended Key Usage: *\n *TLS Web Client Authentication\n/, "client auth only");
  t.notMatch(text, /TLS Web Server Authentication/);
  t.match(text, /ASN1 OID: prime256v1/, "the kubelet's P-256 key is kept");

  const cert = new X509Certificate(certificate);
  t.equal(cert.subjectAltName, undefined, "node sees no SANs");
  t.match(cert.subject, /CN=system:node:worker-1/);
  t.match(cert.subject, /O=system:nodes/);
  t.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");

  const row = store.get(decimalSerial(certificate), caSkiOf(caPem));
  t.equal(row?.commonName, "system:node:worker-1");
  t.same(row?.sans, []);
  t.equal(row?.profile, "client");
});

t.test("hosts replaces the CSR's SANs, [] clears them, null or absent keeps them all", async (t) => {
  const { app, dir } = await testApp(t);
  const csr = makeCsr(dir, {
    newkey: "rsa:2048",
    subj: "/CN=workload",
    san: "DNS:a.example.com,IP:10.0.0.1,email:ops@example.com,URI:spiffe://cluster.local/ns/default/sa/x",
  });

  for (const [label, extra] of [
    ["absent", {}],
    ["null", { hosts: null }],
  ] as const) {
    const answer = await post(app, "sign", { certificate_request: csr, ...extra });
    t.equal(answer.status, 200, `${label}: ${JSON.stringify(answer.body.errors)}`);
    t.same(
      sanItems(answer.body.result.certificate),
      [
        ["dns", "a.example.com"],
        ["ip", "10.0.0.1"],
        ["email", "ops@example.com"],
        ["url", "spiffe://cluster.local/ns/default/sa/x"],
      ],
      `hosts ${label}: the CSR's DNS, IP, email and URI SANs are kept`,
    );
    const text = certText(answer.body.result.certificate);
    t.match(text, /DNS:a.example.com, IP Address:10.0.0.1, email:ops@example.com, URI:spiffe:\/\/cluster.local\/ns\/default\/sa\/x/, `openssl agrees (${label})`);
  }

  const replaced = await post(app, "sign", { certificate_request: csr, hosts: ["b.example.com", "10.9.9.9"] });
  t.equal(replaced.status, 200, JSON.stringify(replaced.body.errors));
  t.same(
    sanItems(replaced.body.result.certificate),
    [
      ["dns", "b.example.com"],
      ["ip", "10.9.9.9"],
    ],
    "hosts replaces all of the CSR's SANs",
  );
  const replacedText = certText(replaced.body.result.certificate);
  t.notOk(replacedText.includes("a.example.com"));
  t.notOk(replacedText.includes("spiffe://"));
  t.notOk(replacedText.includes("ops@example.com"));

  const cleared = await post(app, "sign", { certificate_request: csr, hosts: [] });
  t.equal(cleared.status, 200, JSON.stringify(cleared.body.errors));
  t.notOk(certText(cleared.body.result.certificate).includes(sanSection), "hosts [] leaves no SAN extension");
  t.equal(new X509Certificate(cleared.body.result.certificate).subjectAltName, undefined);
  t.match(cleared.body.messages[0]?.message ?? "", /no hosts/);
});

t.test("hosts entries land in the right SAN types", async (t) => {
  const { app, dir } = await testApp(t);
  const csr = makeCsr(dir, { newkey: "ec", pkeyopts: ["ec_paramgen_curve:P-256"], subj: "/CN=mixed" });
  const hosts = [
    "*.example.com",
    "www.example.com",
    "10.1.2.3",
    "2001:db8::1",
    "::1",
    "ops@example.com",
    "spiffe://cluster.local/ns/default/sa/x",
  ];
  const answer = await post(app, "sign", { certificate_request: csr, hosts });
  t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
  const { certificate } = answer.body.result;
  const items = sanItems(certificate) ?? [];
  const ofType = (type: string) => items.filter(([kind]) => kind === type).map(([, value]) => value);
  t.same(ofType("dns"), ["*.example.com", "www.example.com"], "wildcard and plain names are DNS SANs");
  t.equal(ofType("ip").length, 3, "three IP SANs");
  t.equal(ofType("email").length, 1);
  t.same(ofType("email"), ["ops@example.com"]);
  t.same(ofType("url"), ["spiffe://cluster.local/ns/default/sa/x"], "the SPIFFE ID is a URI SAN");

  const text = certText(certificate);
  t.ok(text.includes("DNS:*.example.com"));
  t.ok(text.includes("IP Address:10.1.2.3"));
  t.match(text, /IP Address:2001:DB8:0:0:0:0:0:1\b/i, "IPv6 as an IP SAN, not a DNS name");
  t.match(text, /IP Address:0:0:0:0:0:0:0:1\b/, "::1 as an IP SAN");
  t.ok(text.includes("email:ops@example.com"));
  t.ok(text.includes("URI:spiffe://cluster.local/ns/default/sa/x"));
  t.notMatch(text, /DNS:(::1|2001|10\.1|ops@|spiffe)/, "no address or URI became a DNS name");

  const cert = new X509Certificate(certificate);
  t.ok(cert.checkIP("2001:db8::1"), "node matches the IPv6 SAN");
  t.ok(cert.checkIP("::1"));
  t.ok(cert.checkIP("10.1.2.3"));
  t.ok(cert.checkHost("anything.example.com"), "the wildcard matches one label");
  t.ok(cert.checkEmail("ops@example.com"));

  const bad = await post(app, "sign", { certificate_request: csr, hosts: ["good.example.com", "not a host"] });
  t.equal(bad.status, 400);
  t.equal(errorOf(bad).code, 9300);
  t.match(errorOf(bad).message, /hosts\[1\]/, "the bad entry is named");
});

t.test("subject replaces the attributes it sets and keeps the CSR's others", async (t) => {
  const { app, dir } = await testApp(t);
  const csr = makeCsr(dir, { newkey: "rsa:2048", subj: "/C=US/ST=California/O=Original/OU=Platform/CN=original", san: "DNS:svc.example.com" });
  const answer = await post(app, "sign", { certificate_request: csr, subject: { CN: "override", names: [{ O: "Other" }] } });
  t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
  const text = certText(answer.body.result.certificate);
  const subjectLine = /Subject: (.*)/.exec(text)?.[1] ?? "";
  t.match(subjectLine, /CN ?= ?override/);
  t.match(subjectLine, /O ?= ?Other/);
  t.match(subjectLine, /C ?= ?US/, "country kept from the CSR");
  t.match(subjectLine, /ST ?= ?California/, "state kept");
  t.match(subjectLine, /OU ?= ?Platform/, "unit kept");
  t.notMatch(subjectLine, /Original|CN ?= ?original/, "the replaced values are gone");
  t.ok(text.includes("DNS:svc.example.com"), "SANs untouched by a subject override");
  const subject = new X509Certificate(answer.body.result.certificate).subject.split("\n");
  t.ok(subject.includes("CN=override"));
  t.ok(subject.includes("O=Other"));
  t.ok(subject.includes("C=US"));
});

t.test("the extra fields the cfssl CLI sends are accepted", async (t) => {
  const { app, store, dir } = await testApp(t);
  const csr = makeCsr(dir, { newkey: "rsa:2048", subj: "/CN=cli.example.com", san: "DNS:cli.example.com" });
  const body = {
    hosts: null,
    certificate_request: csr,
    profile: "server",
    crl_override: "",
    label: "",
    NotBefore: "0001-01-01T00:00:00Z",
    NotAfter: "0001-01-01T00:00:00Z",
    ReturnPrecert: false,
    metadata: null,
  };
  const answer = await post(app, "sign", body);
  t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
  const cert = new X509Certificate(answer.body.result.certificate);
  t.equal((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 3_600_000, 8760, "Go's zero times mean the profile's window");
  t.ok(certText(answer.body.result.certificate).includes("DNS:cli.example.com"), "hosts null keeps the CSR's SANs");
  const json = await post(app, "sign", body, "application/json");
  t.equal(json.status, 200, "the JSON content type works too");
  t.equal(store.count(), 2);
});

t.test("NotAfter narrows the lifetime inside the profile's window and is refused beyond it", async (t) => {
  const { app, store, dir } = await testApp(t);
  const csr = makeCsr(dir, { newkey: "rsa:2048", subj: "/CN=short.example.com", san: "DNS:short.example.com" });
  const notAfter = new Date(Math.floor(Date.now() / 1000) * 1000 + 48 * 3_600_000);
  const short = await post(app, "sign", { certificate_request: csr, profile: "kubernetes", NotAfter: notAfter.toISOString() });
  t.equal(short.status, 200, JSON.stringify(short.body.errors));
  const cert = new X509Certificate(short.body.result.certificate);
  t.equal(Date.parse(cert.validTo), notAfter.getTime(), "the certificate ends when the request asked");
  const enddate = openssl(["x509", "-noout", "-enddate", "-dateopt", "iso_8601"], short.body.result.certificate).stdout;
  t.match(enddate, notAfter.toISOString().slice(0, 19).replace("T", " "), "openssl reads the same end");
  t.equal(store.count(), 1);

  const tooLate = new Date(Date.now() + 2 * 8760 * 3_600_000).toISOString();
  const refused = await post(app, "sign", { certificate_request: csr, profile: "kubernetes", NotAfter: tooLate });
  t.equal(refused.status, 403);
  t.equal(errorOf(refused).code, 5300);
  t.match(errorOf(refused).message, /NotAfter/);
  t.match(errorOf(refused).message, /kubernetes/, "names the profile whose window it exceeds");
  t.equal(store.count(), 1, "nothing recorded for the refused request");
});

t.test("bad requests are refused with cfssl's codes, a message saying what to fix, and nothing recorded", async (t) => {
  const { app, store, dir } = await testApp(t);
  const good = makeCsr(dir, { newkey: "rsa:2048", subj: "/CN=ok.example.com", san: "DNS:ok.example.com" });

  const expectError = async (name: string, body: unknown, status: number, code: number, message: RegExp) => {
    const answer = await post(app, "sign", body);
    t.equal(answer.status, status, `${name}: HTTP ${status}`);
    t.equal(answer.body.success, false, `${name}: not a success`);
    t.equal(answer.body.result, null);
    t.equal(errorOf(answer).code, code, `${name}: code ${code}`);
    t.match(errorOf(answer).message, message, `${name}: message says what to fix`);
    t.equal(store.count(), 0, `${name}: nothing recorded`);
    return answer;
  };

  await expectError("garbage text", { certificate_request: "this is not a CSR at all" }, 400, 9002, /certificate_request.*BEGIN CERTIFICATE REQUEST/);

  const random = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7919 + 13) % 256)).toString("base64");
  const randomPem = `-----BEGIN CERTIFICATE REQUEST-----\n${random.match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE REQUEST-----\n`;
  await expectError("random base64 in a CSR block", { certificate_request: randomPem }, 400, 9003, /certificate_request.*PKCS#10/);

  const der = Buffer.from(good.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
  der[der.length - 1]! ^= 0xff;
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE REQUEST-----\n`;
  const opensslCheck = openssl(["req", "-noout", "-verify"], tampered);
  t.match(opensslCheck.stdout + opensslCheck.stderr, /verify failure/, "openssl also refuses the tampered CSR's signature");
  t.notMatch(openssl(["req", "-noout", "-verify"], good).stderr, /failure/, "while the untampered one verifies");
  await expectError("tampered signature", { certificate_request: tampered }, 400, 9300, /signature does not verify/);

  const unknown = await expectError("unknown profile", { certificate_request: good, profile: "nope" }, 400, 5400, /profile "nope"/);
  for (const name of ["default", "kubernetes", "server", "client", "peer"]) {
    t.ok(errorOf(unknown).message.includes(`"${name}"`), `the message lists profile ${name}`);
  }

  await expectError("unknown label", { certificate_request: good, label: "other" }, 404, 12100, /label "other"/);
  await expectError("missing certificate_request", { profile: "kubernetes" }, 400, 400, /certificate_request/);
  await expectError("empty body", "", 400, 400, /certificate_request/);

  const weak = makeCsr(dir, { newkey: "rsa:1024", subj: "/CN=weak.example.com" });
  await expectError("RSA-1024 CSR", { certificate_request: weak }, 400, 2200, /1024.*too weak.*rsa with size 2048/);

  for (const profile of ["default", ""]) {
    const answer = await post(app, "sign", { certificate_request: good, profile });
    t.equal(answer.status, 200, `profile "${profile}" means signing.default`);
    const row = store.get(decimalSerial(answer.body.result.certificate), caSkiOf(answer.body.result.certificate, true));
    t.equal(row?.profile, "default");
  }
  t.equal(store.count(), 2);
});

t.test("the CSR file's whole text is accepted: openssl -text output, old NEW CERTIFICATE REQUEST label, CRLF", async (t) => {
  const { app, store, dir } = await testApp(t);
  const csr = makeCsr(dir, { newkey: "rsa:2048", subj: "/CN=text.example.com", san: "DNS:text.example.com" });
  const withText = openssl(["req", "-text"], csr).stdout;
  t.match(withText, /^Certificate Request:/, "openssl req -text puts a dump before the PEM");
  const legacy = csr.replace(/CERTIFICATE REQUEST/g, "NEW CERTIFICATE REQUEST");
  const crlf = csr.replace(/\n/g, "\r\n");
  for (const [name, pem] of [
    ["with text", withText],
    ["legacy label", legacy],
    ["CRLF", crlf],
  ] as const) {
    const answer = await post(app, "sign", { certificate_request: pem });
    t.equal(answer.status, 200, `${name}: ${JSON.stringify(answer.body.errors)}`);
    t.ok(certText(answer.body.result.certificate).includes("DNS:text.example.com"), `${name}: signed with its SANs`);
  }
  t.equal(store.count(), 3);
});

t.test("a hosts URI holding an @ stays a URI SAN through sign", async (t) => {
  const { app, dir } = await testApp(t);
  const csr = makeCsr(dir, { newkey: "ec", pkeyopts: ["ec_paramgen_curve:P-256"], subj: "/CN=uri" });
  const answer = await post(app, "sign", { certificate_request: csr, hosts: ["https://deploy@git.example.com/repo", "ops@example.com"] });
  t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
  t.same(sanItems(answer.body.result.certificate), [
    ["email", "ops@example.com"],
    ["url", "https://deploy@git.example.com/repo"],
  ]);
  t.match(certText(answer.body.result.certificate), /URI:https:\/\/deploy@git.example.com\/repo/);
});

t.test("seed 002 by sign: an openssl-made CSR with a UTF-8 subject keeps it, and a UTF-8 override too", async (t) => {
  const { app, dir } = await testApp(t);
  const csrUtf8 = makeCsrUtf8(dir, "/C=CN/ST=北京/O=组织/OU=部门/CN=测试");
  t.match(openssl(["req", "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb"], csrUtf8).stdout, /O=组织/, "the CSR itself carries the characters");
  const answer = await post(app, "sign", { certificate_request: csrUtf8, profile: "client" });
  t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
  const subject = openssl(["x509", "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb"], answer.body.result.certificate).stdout;
  for (const value of ["CN=测试", "O=组织", "OU=部门", "ST=北京", "C=CN"]) {
    t.ok(subject.includes(value), `openssl shows ${value}`);
  }
  const override = await post(app, "sign", { certificate_request: csrUtf8, profile: "client", subject: { names: [{ L: "上海市", O: "另一个组织" }] } });
  t.equal(override.status, 200, JSON.stringify(override.body.errors));
  const cert = new X509Certificate(override.body.result.certificate);
  const lines = cert.subject.split("\n");
  for (const value of ["CN=测试", "O=另一个组织", "OU=部门", "L=上海市", "ST=北京"]) {
    t.ok(lines.includes(value), `node shows ${value}`);
  }
  t.notOk(lines.includes("O=组织"), "the overridden organization is gone");
});

t.test("seed 002: non-ASCII subject names round-trip as UTF-8", async (t) => {
  const { app, dir, caPem } = await testApp(t);
  const request = {
    request: { CN: "测试", names: [{ C: "CN", ST: "北京", L: "北京市", O: "组织", OU: "部门" }] },
    profile: "client",
  };
  const answer = await post(app, "newcert", request);
  t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
  const { certificate } = answer.body.result;
  t.equal(openssl(["verify", "-CAfile", writeFile(dir, "ca.pem", caPem), writeFile(dir, "zh.pem", certificate)]).status, 0);

  const subject = openssl(["x509", "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb"], certificate);
  t.equal(subject.status, 0, subject.stderr);
  for (const value of ["CN=测试", "O=组织", "OU=部门", "L=北京市", "ST=北京", "C=CN"]) {
    t.ok(subject.stdout.includes(value), `openssl shows ${value}`);
  }
  const asn1 = openssl(["asn1parse", "-inform", "PEM"], certificate).stdout;
  t.match(asn1, /UTF8STRING\s*:测试/, "the CN is a UTF8String");

  const cert = new X509Certificate(certificate);
  for (const value of ["CN=测试", "O=组织", "OU=部门", "L=北京市", "ST=北京", "C=CN"]) {
    t.ok(cert.subject.split("\n").includes(value), `node shows ${value}`);
  }

  const info = await post(app, "certinfo", { certificate });
  t.equal(info.status, 200, JSON.stringify(info.body.errors));
  t.equal(info.body.result.subject.organization, "组织");
  t.equal(info.body.result.subject.common_name, "测试");
  t.equal(info.body.result.subject.organizational_unit, "部门");
  t.equal(info.body.result.subject.locality, "北京市");
  t.equal(info.body.result.subject.province, "北京");
});

/** The CA's subject key id as the store keys it: read by openssl from the CA certificate, or (issued=true) the AKI of an issued one. */
function caSkiOf(pem: string, issued = false): string {
  const ext = issued ? "authorityKeyIdentifier" : "subjectKeyIdentifier";
  const text = openssl(["x509", "-noout", "-ext", ext], pem).stdout;
  return text
    .split("\n")[1]!
    .trim()
    .replace(/^keyid:/, "")
    .replace(/:/g, "")
    .toLowerCase();
}
