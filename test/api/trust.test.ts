// Issue 13's hostile pass, each finding through the HTTP API: every name in the certificate passes
// the policy (every CN, the subject email, every attribute), every key is a real key, and names
// that clients read as something else are refused. Certificates that are issued are checked with
// openssl and Node's X509Certificate.
import { createHash, createHmac, createPublicKey, randomBytes, verify, X509Certificate } from "node:crypto";
import t from "tap";
import { bitString, derNull, oid, sequence, smallInteger, Tag, tlv, unsignedInteger } from "../../src/pki/der.js";
import { encodeName } from "../../src/pki/name.js";
import { encodePem } from "../../src/pki/pem.js";
import { openssl, post, tempDir, testApp, writeFile } from "../helpers/app.js";

const usages = ["digital signature", "key encipherment", "server auth", "client auth"];
const clusterPolicy = { dns: { allow: [".svc.cluster.local"] } };
const authKey = "00112233445566778899aabbccddeeff";
const config = {
  auth_keys: { ci: { type: "standard", key: authKey } },
  signing: {
    default: { usages, expiry: "24h" },
    profiles: {
      cluster: { usages, expiry: "24h", policy: clusterPolicy },
      "cluster-ci": { usages, expiry: "24h", policy: clusterPolicy, auth_key: "ci" },
      whitelisted: { usages, expiry: "24h", name_whitelist: "[a-z0-9.-]+\\.svc\\.cluster\\.local|[a-z]+@example\\.com" },
      mail: { usages: ["digital signature", "email protection"], expiry: "24h", policy: { email: { allow: ["example.com"] } } },
      kubelet: {
        usages: ["digital signature", "client auth"],
        expiry: "24h",
        policy: { common_name: "system:node:[a-z0-9.-]+", subject: { O: "system:nodes" }, allow_ip_sans: false },
      },
      "cn-only": { usages, expiry: "24h", policy: { subject: {} } },
      "big-rsa": { usages, expiry: "24h", policy: { keys: { max_rsa_size: 8192 } } },
      legacy: { usages, expiry: "24h", policy: { keys: { allow_sha1_csr: true } } },
    },
  },
};

/** A CSR made by openssl with a fresh P-256 key (RSA with `rsaBits`), and extra `req` arguments. */
function opensslCsr(dir: string, subject: string, extra: string[] = [], rsaBits?: number): string {
  const keyArgs = rsaBits ? ["-newkey", `rsa:${rsaBits}`] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
  const made = openssl(["req", "-new", ...keyArgs, "-nodes", "-keyout", `${dir}/key.pem`, "-subj", subject, ...extra]);
  if (made.status !== 0) throw new Error(made.stderr);
  return made.stdout;
}

function subjectOf(pem: string): string {
  return new X509Certificate(pem).subject;
}

t.test("1. a second CN is checked: sign, authsign, name_whitelist, multi-valued RDNs", async (t) => {
  const dir = tempDir(t);
  const { app, store, caPem } = await testApp(t, { config });
  const twoCns = opensslCsr(dir, "/CN=web.svc.cluster.local/CN=evil.com");
  const multiValued = opensslCsr(dir, "/CN=web.svc.cluster.local+CN=evil.com");
  for (const [name, csr] of [["two RDNs", twoCns], ["one multi-valued RDN", multiValued]] as const) {
    const refused = await post(app, "sign", { certificate_request: csr, profile: "cluster" });
    t.equal(refused.status, 403, name);
    t.equal(refused.body.errors[0]?.code, 5300);
    t.match(refused.body.errors[0]?.message, /CN "evil\.com" is not in policy\.dns\.allow \("\.svc\.cluster\.local"\)/);
    const whitelist = await post(app, "sign", { certificate_request: csr, profile: "whitelisted" });
    t.equal(whitelist.status, 403, `${name}, name_whitelist`);
    t.match(whitelist.body.errors[0]?.message, /"evil\.com" does not match name_whitelist/);
  }
  // authsign: cfssl's envelope, the HMAC over the request bytes.
  const request = Buffer.from(JSON.stringify({ certificate_request: twoCns, profile: "cluster-ci" }));
  const token = createHmac("sha256", Buffer.from(authKey, "hex")).update(request).digest("base64");
  const authsign = await post(app, "authsign", { token, request: request.toString("base64") });
  t.equal(authsign.status, 403, "authsign");
  t.match(authsign.body.errors[0]?.message, /CN "evil\.com"/);
  t.equal(store.count(), 0, "nothing refused was recorded");

  // Verifiers do read every CN: two allowed ones are issued, and openssl matches the second.
  const both = await post(app, "sign", { certificate_request: opensslCsr(dir, "/CN=web.svc.cluster.local/CN=api.svc.cluster.local"), profile: "cluster" });
  t.equal(both.status, 200, JSON.stringify(both.body.errors));
  const leaf = writeFile(dir, "leaf.pem", both.body.result.certificate);
  const ca = writeFile(dir, "ca.pem", caPem);
  t.equal(openssl(["verify", "-CAfile", ca, "-verify_hostname", "api.svc.cluster.local", leaf]).status, 0, "openssl takes the second CN as a host name");
  t.match(subjectOf(both.body.result.certificate), /CN=web\.svc\.cluster\.local\nCN=api\.svc\.cluster\.local/);
});

t.test("2. a subject email address passes policy.email and name_whitelist, from names[].E, the CSR or a subject override", async (t) => {
  const dir = tempDir(t);
  const { app, store, caPem } = await testApp(t, { config });
  const fromNames = await post(app, "newcert", { request: { CN: "alice", names: [{ O: "Example", E: "alice@evil.com" }] }, profile: "mail" });
  t.equal(fromNames.status, 403);
  t.match(fromNames.body.errors[0]?.message, /subject E "alice@evil\.com" is not in policy\.email\.allow \("example\.com"\)/);
  const fromCsr = await post(app, "sign", { certificate_request: opensslCsr(dir, "/CN=alice/emailAddress=alice@evil.com"), profile: "mail" });
  t.equal(fromCsr.status, 403);
  t.match(fromCsr.body.errors[0]?.message, /subject E "alice@evil\.com"/);
  const override = await post(app, "sign", { certificate_request: opensslCsr(dir, "/CN=alice"), subject: { names: [{ E: "alice@evil.com" }] }, profile: "mail" });
  t.equal(override.status, 403);
  t.match(override.body.errors[0]?.message, /subject E "alice@evil\.com"/);
  const whitelisted = await post(app, "sign", { certificate_request: opensslCsr(dir, "/CN=web.svc.cluster.local/emailAddress=root@evil.com"), profile: "whitelisted" });
  t.equal(whitelisted.status, 403);
  t.match(whitelisted.body.errors[0]?.message, /"root@evil\.com" does not match name_whitelist/);
  t.equal(store.count(), 0);

  const allowed = await post(app, "sign", { certificate_request: opensslCsr(dir, "/CN=alice/emailAddress=alice@example.com"), profile: "mail" });
  t.equal(allowed.status, 200, JSON.stringify(allowed.body.errors));
  const leaf = writeFile(dir, "leaf.pem", allowed.body.result.certificate);
  const ca = writeFile(dir, "ca.pem", caPem);
  t.equal(openssl(["verify", "-CAfile", ca, "-verify_email", "alice@example.com", leaf]).status, 0, "openssl takes the subject E as the mailbox");
});

t.test("3. policy.subject: the kubelet profile pins O; unnamed attributes are refused; {} is the CN only", async (t) => {
  const dir = tempDir(t);
  const { app, store } = await testApp(t, { config });
  const masters = await post(app, "sign", { certificate_request: opensslCsr(dir, "/O=system:masters/CN=system:node:n1"), profile: "kubelet" });
  t.equal(masters.status, 403);
  t.equal(masters.body.errors[0]?.code, 5300);
  t.match(masters.body.errors[0]?.message, /subject O "system:masters" does not match policy\.subject\.O \("system:nodes"\)/);
  const viaNewcert = await post(app, "newcert", { request: { CN: "system:node:n1", names: [{ O: "system:masters" }] }, profile: "kubelet" });
  t.equal(viaNewcert.status, 403);
  const viaOverride = await post(app, "sign", { certificate_request: opensslCsr(dir, "/O=system:nodes/CN=system:node:n1"), subject: { names: [{ O: "system:masters" }] }, profile: "kubelet" });
  t.equal(viaOverride.status, 403, "a sign subject override is checked as signed");
  const ou = await post(app, "sign", { certificate_request: opensslCsr(dir, "/O=system:nodes/OU=ops/CN=system:node:n1"), profile: "kubelet" });
  t.match(ou.body.errors[0]?.message, /subject OU "ops" is not allowed: policy\.subject does not name OU \(it names O\)/);
  const dc = await post(app, "sign", { certificate_request: opensslCsr(dir, "/DC=com/CN=web"), profile: "cn-only" });
  t.equal(dc.status, 403);
  t.match(dc.body.errors[0]?.message, /subject DC "com" is not allowed/, "attributes cfssl never writes, copied from a CSR, are named too");
  t.equal(store.count(), 0);

  const node = await post(app, "sign", { certificate_request: opensslCsr(dir, "/O=system:nodes/CN=system:node:n1"), profile: "kubelet" });
  t.equal(node.status, 200, JSON.stringify(node.body.errors));
  t.equal(subjectOf(node.body.result.certificate), "O=system:nodes\nCN=system:node:n1");
  const cnOnly = await post(app, "newcert", { request: { CN: "web", hosts: ["web.internal"] }, profile: "cn-only" });
  t.equal(cnOnly.status, 200, JSON.stringify(cnOnly.body.errors));
});

/**
 * A CSR for a hand-made RSA public key. With e = 1, "signing" is the identity: the signature is the
 * PKCS#1 v1.5 encoding of the digest itself, which anyone can compute, so the CSR verifies.
 */
function rsaCsr(bits: number, exponent: number, options: { evenModulus?: boolean } = {}): { pem: string; info: Uint8Array; signature: Uint8Array; spki: Uint8Array } {
  const modulus = randomBytes(bits / 8);
  modulus[0]! |= 0x80;
  if (options.evenModulus) modulus[modulus.length - 1]! &= 0xfe;
  else modulus[modulus.length - 1]! |= 1;
  const spki = sequence(sequence(oid("1.2.840.113549.1.1.1"), derNull), bitString(sequence(unsignedInteger(modulus), smallInteger(exponent))));
  const subject = encodeName([[{ oid: "2.5.4.3", tag: Tag.utf8String, value: "forged.example" }]]);
  const info = sequence(smallInteger(0), subject.der, spki, tlv(0xa0));
  const digestInfo = Buffer.concat([Buffer.from("3031300d060960864801650304020105000420", "hex"), createHash("sha256").update(info).digest()]);
  const signature = Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(bits / 8 - 3 - digestInfo.length, 0xff), Buffer.from([0]), digestInfo]);
  const der = sequence(info, sequence(oid("1.2.840.113549.1.1.11"), derNull), bitString(signature));
  return { pem: encodePem("CERTIFICATE REQUEST", der), info, signature, spki };
}

t.test("4. keys are real keys: RSA exponent and modulus, moduli within max_rsa_size, no SHA-1 or MD5 CSRs", async (t) => {
  const dir = tempDir(t);
  const { app, store } = await testApp(t, { config });
  const forged = rsaCsr(2048, 1);
  const key = createPublicKey({ key: Buffer.from(forged.spki), format: "der", type: "spki" });
  t.ok(verify("sha256", forged.info, key, forged.signature), "the forged CSR's signature does verify with its e = 1 key (OpenSSL imports it)");
  const exponentOne = await post(app, "sign", { certificate_request: forged.pem });
  t.equal(exponentOne.status, 400);
  t.equal(exponentOne.body.errors[0]?.code, 2200);
  t.match(exponentOne.body.errors[0]?.message, /public exponent 1 is not a valid RSA key \(the exponent must be odd and at least 3/);
  const even = await post(app, "sign", { certificate_request: rsaCsr(2048, 4).pem });
  t.match(even.body.errors[0]?.message, /public exponent 4 is not a valid RSA key/);
  const evenModulus = await post(app, "sign", { certificate_request: rsaCsr(2048, 65537, { evenModulus: true }).pem });
  t.match(evenModulus.body.errors[0]?.message, /even modulus/);
  const huge = await post(app, "sign", { certificate_request: rsaCsr(8200 + 56, 65537).pem });
  t.equal(huge.status, 400);
  t.match(huge.body.errors[0]?.message, /rsa key of 8256 bits is larger than the 8192 bits the service reads/);

  const big = opensslCsr(dir, "/CN=big.example", [], 4608);
  const bigDefault = await post(app, "sign", { certificate_request: big });
  t.equal(bigDefault.status, 403, "above 4096 bits by default");
  t.match(bigDefault.body.errors[0]?.message, /rsa 4608 is above policy\.keys\.max_rsa_size 4096/);
  const bigAllowed = await post(app, "sign", { certificate_request: big, profile: "big-rsa" });
  t.equal(bigAllowed.status, 200, "a profile may raise the bound");

  const sha1 = opensslCsr(dir, "/CN=old.example", ["-sha1"]);
  const sha1Refused = await post(app, "sign", { certificate_request: sha1 });
  t.equal(sha1Refused.status, 400);
  t.equal(sha1Refused.body.errors[0]?.code, 9300);
  t.match(sha1Refused.body.errors[0]?.message, /signed with SHA-1, which no longer proves anything; make the CSR again with SHA-256/);
  t.equal((await post(app, "sign", { certificate_request: sha1, profile: "legacy" })).status, 200, "policy.keys.allow_sha1_csr lets a legacy client through");
  const md5 = opensslCsr(dir, "/CN=older.example", ["-md5"], 2048);
  const md5Refused = await post(app, "sign", { certificate_request: md5, profile: "legacy" });
  t.equal(md5Refused.status, 400);
  t.match(md5Refused.body.errors[0]?.message, /signed with MD5/);
  t.equal(store.count(), 2, "only the two allowed certificates were recorded");
});

t.test("7. names clients read differently: a CN with a trailing space or in an IDN, numbers that are addresses, a trailing dot", async (t) => {
  const dir = tempDir(t);
  const { app, store } = await testApp(t, { config });
  for (const cn of ["evil.com ", "evil.com.", "bücher.evil.com"]) {
    const answer = await post(app, "newcert", { request: { CN: cn, hosts: ["web.svc.cluster.local"] }, profile: "cluster" });
    t.equal(answer.status, 403, JSON.stringify(cn));
    t.match(answer.body.errors[0]?.message, /CN ".*" is not in policy\.dns\.allow/);
  }
  const noHost = await post(app, "newcert", { request: { CN: "Team service", hosts: ["web.svc.cluster.local"] }, profile: "cluster" });
  t.equal(noHost.status, 403, "a CN that is no host, under a DNS allow list");
  t.match(noHost.body.errors[0]?.message, /set policy\.common_name to allow CNs that are not host names/);
  for (const host of ["8.8.8.8.", "010.010.010.010", "134744072", "0x8.8.8.8"]) {
    const answer = await post(app, "newcert", { request: { CN: "web", hosts: [host] } });
    t.equal(answer.status, 400, host);
    t.equal(answer.body.errors[0]?.code, 9300);
    t.match(answer.body.errors[0]?.message, /ends in a number, so clients read it as an IPv4 address/);
  }
  const csrSan = await post(app, "sign", { certificate_request: opensslCsr(dir, "/CN=web", ["-addext", "subjectAltName=DNS:134744072"]) });
  t.equal(csrSan.status, 400, "in a CSR's SANs too");
  t.match(csrSan.body.errors[0]?.message, /DNS SAN "134744072" is not a valid DNS name: it ends in a number/);
  t.equal(store.count(), 0);

  const dotted = await post(app, "sign", { certificate_request: opensslCsr(dir, "/CN=web", ["-addext", "subjectAltName=DNS:web.example.com.,DNS:web.example.com"]) });
  t.equal(dotted.status, 200, JSON.stringify(dotted.body.errors));
  t.equal(new X509Certificate(dotted.body.result.certificate).subjectAltName, "DNS:web.example.com", "a CSR SAN's trailing dot is dropped as hosts' is, and the duplicate with it");
});

t.test("7. newcert and newkey refuse a ca section, as cfssl does", async (t) => {
  const { app, store } = await testApp(t, { config });
  for (const path of ["newcert", "newkey"]) {
    const request = { CN: "web", hosts: ["web.internal"], ca: { expiry: "87600h" } };
    const answer = await post(app, path, path === "newcert" ? { request } : request);
    t.equal(answer.status, 400, path);
    t.equal(answer.body.errors[0]?.code, 400);
    t.match(answer.body.errors[0]?.message, /ca: the ca section is only permitted in init_ca/);
  }
  t.equal(store.count(), 0);
  const open = await testApp(t);
  t.equal((await post(open.app, "init_ca", { CN: "Still a CA", ca: { expiry: "87600h" } })).status, 200, "init_ca takes it");
});

t.test("init_ca makes keys the same rules accept", async (t) => {
  // Without auth_keys, so init_ca needs no admin token.
  const { app } = await testApp(t);
  const answer = await post(app, "init_ca", { CN: "RSA CA", key: { algo: "rsa", size: 2048 } });
  t.equal(answer.status, 200);
  const key = new X509Certificate(answer.body.result.certificate).publicKey;
  t.equal(key.asymmetricKeyDetails?.publicExponent, 65537n);
  const tooBig = await post(app, "init_ca", { CN: "RSA CA", key: { algo: "rsa", size: 8192 } });
  t.equal(tooBig.status, 400, "init_ca makes only the documented sizes");
  t.match(tooBig.body.errors[0]?.message, /rsa size 8192 is not accepted/);
});

t.test("1. the inventory records every name the certificate carries, so q= finds a second CN and the subject email", async (t) => {
  const dir = tempDir(t);
  const { app, store } = await testApp(t, { config: { signing: { default: { usages, expiry: "24h" } } } });
  const issued = await post(app, "sign", { certificate_request: opensslCsr(dir, "/CN=web.svc.cluster.local/CN=api.svc.cluster.local/emailAddress=ops@example.com") });
  t.equal(issued.status, 200, JSON.stringify(issued.body.errors));
  const list = async (q: string) => (await app.inject({ method: "GET", url: `/api/v1/certificates?q=${encodeURIComponent(q)}` })).json().result.certificates;
  for (const q of ["web.svc", "API.svc.cluster", "ops@example"]) {
    const found = await list(q);
    t.equal(found.length, 1, `q=${q} finds it`);
    t.same(found[0]?.subject_names, ["api.svc.cluster.local", "ops@example.com"]);
  }
  t.equal((await list("nothing-like-it")).length, 0);
  t.equal(store.count(), 1);
});
