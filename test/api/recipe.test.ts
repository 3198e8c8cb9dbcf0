// Seed 001's cfssl recipe, step by step, each step one call, checked by openssl and a TLS handshake.
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { connect, createServer } from "node:tls";
import t from "tap";
import { openssl, post, readProfileJson, testApp, writeFile } from "../helpers/app.js";

t.test("init_ca makes a self-signed CA from the seed's ca-csr.json and keeps nothing", async (t) => {
  const { app, store, dir } = await testApp(t);
  const request = readProfileJson("kubernetes-ca-csr.json");
  const answer = await post(app, "init_ca", request);
  t.equal(answer.status, 200);
  t.equal(answer.body.success, true);
  const { certificate, private_key } = answer.body.result;
  t.match(private_key, /^-----BEGIN RSA PRIVATE KEY-----/, "RSA keys come as PKCS#1, as cfssl writes them");
  const cert = new X509Certificate(certificate);
  t.ok(cert.ca, "CA:TRUE");
  t.ok(cert.checkPrivateKey(await import("node:crypto").then((c) => c.createPrivateKey(private_key))), "the key belongs to the certificate");
  t.ok(cert.verify(cert.publicKey), "self-signed");
  const lifetimeHours = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 3_600_000;
  t.equal(lifetimeHours, 43800, "five years, as cfssl's default");
  const caFile = writeFile(dir, "ca.pem", certificate);
  const text = openssl(["x509", "-in", caFile, "-noout", "-text"]).stdout;
  t.match(text, /CA:TRUE/);
  t.match(text, /Certificate Sign, CRL Sign/);
  t.match(text, /X509v3 Subject Key Identifier/);
  t.match(text, /Subject: C ?= ?US, ST ?= ?California, L ?= ?San Francisco, O ?= ?Example Team, OU ?= ?Platform, CN ?= ?kubernetes/);
  t.equal(store.count(), 0, "init_ca records nothing");

  const alias = await post(app, "initca", { CN: "alias CA", ca: { pathlen: 1, expiry: "8760h" } });
  t.equal(alias.status, 200, "the design card's name answers too");
  const aliasText = openssl(["x509", "-noout", "-text"], alias.body.result.certificate).stdout;
  t.match(aliasText, /CA:TRUE, pathlen:1/);
  t.match(alias.body.result.private_key, /^-----BEGIN EC PRIVATE KEY-----/, "ECDSA P-256 by default, SEC1");
  const zero = await post(app, "init_ca", { CN: "leaf-only CA", ca: { pathlenzero: true } });
  t.match(openssl(["x509", "-noout", "-text"], zero.body.result.certificate).stdout, /CA:TRUE, pathlen:0/);
});

t.test("newcert with the kubernetes profile gives the API server certificate of seed 001", async (t) => {
  const { app, store, caPem, dir } = await testApp(t);
  const request = { request: readProfileJson("server-csr.json"), profile: "kubernetes" };
  const answer = await post(app, "newcert", request);
  t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
  const { certificate, private_key, certificate_request, sums } = answer.body.result;
  t.match(certificate_request, /^-----BEGIN CERTIFICATE REQUEST-----/);
  t.match(private_key, /^-----BEGIN RSA PRIVATE KEY-----/);
  t.match(sums.certificate.md5, /^[0-9A-F]{32}$/);
  t.match(sums.certificate["sha-1"], /^[0-9A-F]{40}$/);
  t.match(sums.certificate_request["sha-1"], /^[0-9A-F]{40}$/);

  const caFile = writeFile(dir, "ca.pem", caPem);
  const certFile = writeFile(dir, "server.pem", certificate);
  const verify = openssl(["verify", "-CAfile", caFile, certFile]);
  t.equal(verify.status, 0, verify.stderr);
  t.match(verify.stdout, /server.pem: OK/);
  t.equal(openssl(["req", "-in", writeFile(dir, "server.csr", certificate_request), "-noout", "-verify"]).status, 0, "the CSR verifies");

  const text = openssl(["x509", "-in", certFile, "-noout", "-text"]).stdout;
  t.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
  t.match(text, /Digital Signature, Key Encipherment/);
  t.match(text, /CA:FALSE/);
  for (const name of ["DNS:kubernetes,", "DNS:kubernetes.default,", "DNS:kubernetes.default.svc,", "DNS:kubernetes.default.svc.cluster,", "DNS:kubernetes.default.svc.cluster.local", "IP Address:127.0.0.1", "IP Address:192.168.1.10", "IP Address:10.96.0.1"]) {
    t.ok(text.includes(name), `SAN ${name}`);
  }
  const cert = new X509Certificate(certificate);
  t.equal((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 3_600_000, 8760, "lifetime is exactly the profile's 8760h");
  t.ok(Date.parse(cert.validFrom) <= Date.now() - 4 * 60_000, "backdated by about five minutes, as cfssl");
  t.ok(cert.checkPrivateKey((await import("node:crypto")).createPrivateKey(private_key)));
  // Node prints the serial without a leading zero nibble, so read it as a number.
  const serialHex = cert.serialNumber;
  const serial = BigInt(`0x${serialHex}`);
  t.ok(serial > 0n && serial < 1n << 159n, "positive and at most 159 bits: 20 octets in DER");

  const row = store.get(BigInt(`0x${serialHex}`).toString(10), caSki(caPem));
  t.ok(row, "the certificate is recorded");
  t.equal(row?.profile, "kubernetes");
  t.equal(row?.commonName, "kubernetes");
  t.equal(row?.pem, certificate);
  t.same(row?.sans, ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster", "kubernetes.default.svc.cluster.local", "127.0.0.1", "192.168.1.10", "10.96.0.1"]);
  t.equal(store.count(), 1);

  // A real TLS handshake: a server with the issued pair, a client that trusts only the CA.
  const server = createServer({ key: private_key, cert: certificate }, (socket) => socket.end("hello"));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;
  for (const servername of ["kubernetes.default.svc", "127.0.0.1"]) {
    const socket = connect({ host: "127.0.0.1", port, ca: caPem, servername: servername === "127.0.0.1" ? undefined : servername });
    await once(socket, "secureConnect");
    t.ok(socket.authorized, `TLS client trusts the certificate for ${servername}`);
    socket.destroy();
  }
  const wrong = connect({ host: "127.0.0.1", port, ca: caPem, servername: "other.example.com" });
  const [error] = await once(wrong, "error");
  t.match(String(error), /does not match|altnames/i, "a name outside the SANs is refused by the TLS client");
});

t.test("gencert is newcert; newkey makes a key and CSR only", async (t) => {
  const { app, store } = await testApp(t);
  const gencert = await post(app, "gencert", { request: readProfileJson("client-csr.json"), profile: "client" });
  t.equal(gencert.status, 200);
  t.match(openssl(["x509", "-noout", "-text"], gencert.body.result.certificate).stdout, /TLS Web Client Authentication/);
  t.notMatch(JSON.stringify(gencert.body.messages), /no hosts/, "a client certificate without hosts gets no warning about hosts (cfssl warns; it is meant for servers)");
  const newkey = await post(app, "newkey", readProfileJson("server-csr.json"));
  t.equal(newkey.status, 200);
  t.same(Object.keys(newkey.body.result).sort(), ["certificate_request", "private_key", "sums"]);
  const csrText = openssl(["req", "-noout", "-text", "-verify"], newkey.body.result.certificate_request);
  t.equal(csrText.status, 0);
  t.match(csrText.stdout, /DNS:kubernetes.default.svc.cluster.local/);
  t.match(csrText.stdout, /IP Address:10.96.0.1/);
  t.equal(store.count(), 1, "newkey records nothing; gencert recorded its certificate");
});

function caSki(pem: string): string {
  const text = openssl(["x509", "-noout", "-ext", "subjectKeyIdentifier"], pem).stdout;
  return text.split("\n")[1]!.trim().replace(/:/g, "").toLowerCase();
}
