// Profile policy over HTTP: who may get which names and keys, and for how long.
import { X509Certificate } from "node:crypto";
import t from "tap";
import { makeCa, openssl, post, readProfileJson, tempDir, testApp } from "../helpers/app.js";

const usages = ["signing", "key encipherment", "server auth", "client auth"];
const config = {
  signing: {
    default: { usages, expiry: "8760h" },
    profiles: {
      kubernetes: {
        usages,
        expiry: "8760h",
        policy: {
          dns: { allow: ["kubernetes", ".default", ".svc", ".cluster", ".cluster.local"], deny: ["*.evil.cluster.local"] },
          ip: { allow: ["127.0.0.1", "10.96.0.0/12", "192.168.0.0/16"] },
          allow_wildcards: false,
        },
      },
      kubelet: {
        usages: ["digital signature", "client auth"],
        expiry: "720h",
        policy: { common_name: "system:node:[a-z0-9.-]+", allow_ip_sans: false, keys: { algorithms: ["ecdsa"] } },
      },
      strict: { usages, expiry: "8760h", beyond_ca_expiry: "refuse" },
    },
  },
};

t.test("seed 001's API server certificate passes a policy that names the cluster's names and ranges", async (t) => {
  const { app, store } = await testApp(t, { config });
  const ok = await post(app, "newcert", { request: readProfileJson("server-csr.json"), profile: "kubernetes" });
  t.equal(ok.status, 200, JSON.stringify(ok.body.errors));
  t.equal(store.count(), 1);

  const refusals: [string[], RegExp][] = [
    [["kubernetes", "evil.com"], /DNS name "evil.com" is not in policy.dns.allow \("kubernetes", ".default", ".svc", ".cluster", ".cluster.local"\)/],
    [["kubernetes", "10.128.0.1"], /IP address "10.128.0.1" is not in policy.ip.allow/],
    [["x.evil.cluster.local"], /matches policy.dns.deny rule "\*\.evil\.cluster\.local"/],
    [["*.svc"], /wildcard name "\*\.svc" is not allowed/],
  ];
  for (const [hosts, message] of refusals) {
    const answer = await post(app, "newcert", { request: { ...readProfileJson("server-csr.json"), hosts }, profile: "kubernetes" });
    t.equal(answer.status, 403, hosts.join(","));
    t.equal(answer.body.errors[0]?.code, 5300);
    t.match(answer.body.errors[0]?.message, message);
    t.match(answer.body.errors[0]?.message, /profile "kubernetes" refuses this request/);
  }
  t.equal(store.count(), 1, "refused requests record nothing");
});

t.test("a kubelet profile: the CN pattern, no IP SANs, ECDSA keys only", async (t) => {
  const dir = tempDir(t);
  const { app, store } = await testApp(t, { config });
  const csr = (key: string, subject: string, ext?: string) => {
    const args = ["req", "-new", "-newkey", key, "-nodes", "-keyout", `${dir}/k.pem`, "-subj", subject];
    if (key.startsWith("ec")) args.splice(4, 0, "-pkeyopt", "ec_paramgen_curve:P-256");
    if (ext) args.push("-addext", ext);
    return openssl(args).stdout;
  };
  const good = await post(app, "sign", { certificate_request: csr("ec", "/O=system:nodes/CN=system:node:worker-1"), profile: "kubelet" });
  t.equal(good.status, 200, JSON.stringify(good.body.errors));
  t.equal(new X509Certificate(good.body.result.certificate).subject, "O=system:nodes\nCN=system:node:worker-1");

  const cases: [string, RegExp][] = [
    [csr("ec", "/O=system:nodes/CN=admin"), /CN "admin" does not match policy.common_name/],
    [csr("rsa:2048", "/O=system:nodes/CN=system:node:worker-2"), /rsa keys are not allowed \(policy.keys.algorithms: ecdsa\)/],
    [csr("ec", "/O=system:nodes/CN=system:node:worker-3", "subjectAltName=IP:10.0.0.3"), /IP address "10.0.0.3" is not allowed \(policy.allow_ip_sans is false\)/],
  ];
  for (const [pem, message] of cases) {
    const answer = await post(app, "sign", { certificate_request: pem, profile: "kubelet" });
    t.equal(answer.status, 403);
    t.equal(answer.body.errors[0]?.code, 5300);
    t.match(answer.body.errors[0]?.message, message);
  }
  // The request's hosts are checked too, not only the CSR's.
  const viaHosts = await post(app, "sign", { certificate_request: csr("ec", "/CN=system:node:worker-4"), hosts: ["10.0.0.4"], profile: "kubelet" });
  t.equal(viaHosts.status, 403);
  t.equal(store.count(), 1);
});

t.test("a request may shorten its lifetime, never lengthen it", async (t) => {
  const { app, store } = await testApp(t, { config });
  const request = { request: { CN: "short.svc", hosts: ["short.svc"] }, profile: "kubernetes" };
  const day = await post(app, "newcert", { ...request, expiry: "24h" });
  t.equal(day.status, 200);
  const cert = new X509Certificate(day.body.result.certificate);
  t.equal((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 3_600_000, 24);

  const notAfter = new Date(Date.now() + 48 * 3_600_000);
  notAfter.setUTCMilliseconds(0);
  const until = await post(app, "newcert", { ...request, not_after: notAfter.toISOString() });
  t.equal(until.status, 200);
  t.equal(Date.parse(new X509Certificate(until.body.result.certificate).validTo), notAfter.getTime());

  const longer = await post(app, "newcert", { ...request, expiry: "9000h" });
  t.equal(longer.status, 403);
  t.equal(longer.body.errors[0]?.code, 5300);
  t.match(longer.body.errors[0]?.message, /profile "kubernetes" allows at most 8760h/);
  for (const expiry of ["forever", "-1h", "0"]) {
    const bad = await post(app, "newcert", { ...request, expiry });
    t.equal(bad.status, 400, expiry);
    t.match(bad.body.errors[0]?.message, /expiry: .* is not a positive duration/);
  }
  const late = await post(app, "newcert", { ...request, not_after: "2999-01-01T00:00:00Z" });
  t.equal(late.status, 403);
  t.equal(store.count(), 2);
});

t.test("beyond_ca_expiry: refuse instead of cutting the lifetime at the CA's end", async (t) => {
  const { ca } = await makeCa({ CN: "short CA", ca: { expiry: "100h" } });
  const { app, store } = await testApp(t, { config, ca });
  const refused = await post(app, "newcert", { request: { CN: "x", hosts: ["x.svc"] }, profile: "strict" });
  t.equal(refused.status, 403);
  t.match(refused.body.errors[0]?.message, /after its CA .*beyond_ca_expiry/);
  const fits = await post(app, "newcert", { request: { CN: "x", hosts: ["x.svc"] }, profile: "strict", expiry: "24h" });
  t.equal(fits.status, 200, "a lifetime inside the CA's is fine");
  const cut = await post(app, "newcert", { request: { CN: "x.svc", hosts: ["x.svc"] }, profile: "kubernetes" });
  t.equal(cut.status, 200);
  t.match(cut.body.messages[0]?.message ?? "", /cut to end with its CA/);
  t.equal(store.count(), 2);
});
