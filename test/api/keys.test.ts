// newcert with every key the service accepts: the key comes in the PEM form cfssl writes, belongs to
// the certificate, and the certificate verifies against the CA; refused keys say what is accepted.
import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import t from "tap";
import { makeCa, openssl, post, testApp, writeFile } from "../helpers/app.js";

function pemToDer(pem: string, label: string): Buffer {
  const match = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
  if (!match) throw new Error(`no ${label} PEM block`);
  return Buffer.from(match[1]!.replace(/\s+/g, ""), "base64");
}

function upperHex(algorithm: string, data: Buffer): string {
  return createHash(algorithm).update(data).digest("hex").toUpperCase();
}

const accepted = [
  { key: { algo: "ecdsa", size: 256 }, label: "EC PRIVATE KEY", type: "ec", curve: "prime256v1", text: /ASN1 OID: prime256v1/ },
  { key: { algo: "ecdsa", size: 384 }, label: "EC PRIVATE KEY", type: "ec", curve: "secp384r1", text: /ASN1 OID: secp384r1/ },
  { key: { algo: "ecdsa", size: 521 }, label: "EC PRIVATE KEY", type: "ec", curve: "secp521r1", text: /ASN1 OID: secp521r1/ },
  { key: { algo: "ECDSA" }, label: "EC PRIVATE KEY", type: "ec", curve: "prime256v1", text: /ASN1 OID: prime256v1/ },
  { key: { algo: "rsa", size: 2048 }, label: "RSA PRIVATE KEY", type: "rsa", bits: 2048, text: /Public-Key: \(2048 bit\)/ },
  { key: { algo: "rsa", size: 3072 }, label: "RSA PRIVATE KEY", type: "rsa", bits: 3072, text: /Public-Key: \(3072 bit\)/ },
  { key: { algo: "rsa", size: 4096 }, label: "RSA PRIVATE KEY", type: "rsa", bits: 4096, text: /Public-Key: \(4096 bit\)/ },
  { key: { algo: "rsa" }, label: "RSA PRIVATE KEY", type: "rsa", bits: 2048, text: /Public-Key: \(2048 bit\)/ },
  { key: { algo: "ed25519" }, label: "PRIVATE KEY", type: "ed25519", text: /ED25519 Public-Key/ },
  { key: undefined, label: "EC PRIVATE KEY", type: "ec", curve: "prime256v1", text: /ASN1 OID: prime256v1/ },
];

t.test("newcert with each accepted key", async (t) => {
  const { app, caPem, dir, store } = await testApp(t);
  const caFile = writeFile(dir, "ca.pem", caPem);
  for (const [i, want] of accepted.entries()) {
    const name = want.key ? JSON.stringify(want.key) : "no key (cfssl's default)";
    await t.test(name, async (t) => {
      const cn = `key${i}.example.com`;
      const answer = await post(app, "newcert", { request: { CN: cn, hosts: [cn], key: want.key }, profile: "server" });
      t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
      t.equal(answer.body.success, true);
      const { private_key, certificate, certificate_request, sums } = answer.body.result;

      const lines = (private_key as string).trim().split("\n");
      t.equal(lines[0], `-----BEGIN ${want.label}-----`, `the key is PEM "${want.label}"`);
      t.equal(lines.at(-1), `-----END ${want.label}-----`);
      const key = createPrivateKey(private_key);
      t.equal(key.asymmetricKeyType, want.type, `a ${want.type} key`);
      if (want.curve) t.equal(key.asymmetricKeyDetails?.namedCurve, want.curve, `on ${want.curve}`);
      if (want.bits) t.equal(key.asymmetricKeyDetails?.modulusLength, want.bits, `of ${want.bits} bits`);

      const cert = new X509Certificate(certificate);
      t.ok(cert.checkPrivateKey(key), "the private key belongs to the certificate");
      t.equal(cert.publicKey.asymmetricKeyType, want.type);
      t.ok(cert.verify(new X509Certificate(caPem).publicKey), "signed by the CA (node:crypto)");

      const certFile = writeFile(dir, `cert${i}.pem`, certificate);
      const verify = openssl(["verify", "-CAfile", caFile, certFile]);
      t.equal(verify.status, 0, `openssl verify: ${verify.stderr}`);
      t.match(verify.stdout, /: OK/);
      t.match(openssl(["x509", "-noout", "-text", "-in", certFile]).stdout, want.text, "openssl sees the same key");
      // openssl reads the key in the form it was handed out.
      const pkey = openssl(["pkey", "-noout", "-text"], private_key);
      t.equal(pkey.status, 0, `openssl reads the private key: ${pkey.stderr}`);

      const csrCheck = openssl(["req", "-noout", "-verify"], certificate_request);
      t.equal(csrCheck.status, 0, `the CSR's own signature verifies: ${csrCheck.stderr}`);

      const certDer = pemToDer(certificate, "CERTIFICATE");
      t.same(certDer, cert.raw, "the PEM decodes to the certificate's DER");
      const csrDer = pemToDer(certificate_request, "CERTIFICATE REQUEST");
      t.equal(sums.certificate.md5, upperHex("md5", certDer), "sums.certificate.md5 is the MD5 of the DER");
      t.equal(sums.certificate["sha-1"], upperHex("sha1", certDer), "sums.certificate.sha-1 is the SHA-1 of the DER");
      t.equal(sums.certificate_request.md5, upperHex("md5", csrDer), "sums.certificate_request.md5 is the MD5 of the CSR DER");
      t.equal(sums.certificate_request["sha-1"], upperHex("sha1", csrDer), "sums.certificate_request.sha-1 is the SHA-1 of the CSR DER");

      const info = await post(app, "certinfo", { certificate });
      t.equal(info.body.result.sigalg, "ECDSAWithSHA256", "the ECDSA P-256 CA signs every key type with ECDSA-SHA256");
    });
  }
  t.equal(store.count(), accepted.length, "every certificate was recorded");
});

t.test("newkey sums are the digests of the CSR's DER", async (t) => {
  const { app, store } = await testApp(t);
  const answer = await post(app, "newkey", { CN: "newkey.example.com", hosts: ["newkey.example.com"], key: { algo: "ecdsa", size: 384 } });
  t.equal(answer.status, 200);
  const der = pemToDer(answer.body.result.certificate_request, "CERTIFICATE REQUEST");
  t.same(answer.body.result.sums, { certificate_request: { md5: upperHex("md5", der), "sha-1": upperHex("sha1", der), "sha-256": upperHex("sha256", der) } });
  t.match(answer.body.result.private_key, /^-----BEGIN EC PRIVATE KEY-----/);
  t.equal(store.count(), 0);
});

t.test("refused keys: 400 code 2200, saying what is accepted", async (t) => {
  const { app, store } = await testApp(t);
  for (const [key, mentions] of [
    [{ algo: "rsa", size: 1024 }, /rsa size 1024/],
    [{ algo: "rsa", size: 1000 }, /rsa size 1000/],
    [{ algo: "rsa", size: 2047 }, /rsa size 2047/],
    [{ algo: "rsa", size: 8192 }, /rsa size 8192/],
    [{ algo: "ecdsa", size: 224 }, /ecdsa size 224/],
    [{ algo: "ecdsa", size: 2048 }, /ecdsa size 2048/],
    [{ algo: "dsa" }, /"dsa"/],
    [{ algo: "dsa", size: 2048 }, /"dsa"/],
    [{ algo: "ed448" }, /"ed448"/],
    [{ size: 256 }, /size/],
  ] as const) {
    for (const path of ["newcert", "newkey", "init_ca"]) {
      const csr = { CN: "weak.example.com", hosts: ["weak.example.com"], key };
      const answer = await post(app, path, path === "newcert" ? { request: csr } : csr);
      t.equal(answer.status, 400, `${path} ${JSON.stringify(key)}: 400`);
      t.equal(answer.body.success, false);
      t.equal(answer.body.result, null);
      t.equal(answer.body.errors[0]?.code, 2200, `${path} ${JSON.stringify(key)}: code 2200`);
      const message = answer.body.errors[0]?.message ?? "";
      t.match(message, mentions, "the message names what was asked");
      for (const acceptedKey of [/ecdsa/, /256, 384 or 521/, /rsa/, /2048, 3072 or 4096/, /ed25519/]) {
        t.match(message, acceptedKey, `the message lists ${acceptedKey.source}`);
      }
    }
  }
  t.equal(store.count(), 0, "nothing was issued");
});

t.test("sign refuses a CSR with a weak RSA key made by openssl", async (t) => {
  const { app, dir, store } = await testApp(t);
  const keyFile = `${dir}/weak.key`;
  const gen = openssl(["genrsa", "-out", keyFile, "1024"]);
  t.equal(gen.status, 0, gen.stderr);
  const req = openssl(["req", "-new", "-key", keyFile, "-subj", "/CN=weak.example.com"]);
  t.equal(req.status, 0, req.stderr);
  const answer = await post(app, "sign", { certificate_request: req.stdout, profile: "server" });
  t.equal(answer.status, 400);
  t.equal(answer.body.errors[0]?.code, 2200);
  t.match(answer.body.errors[0]?.message, /1024/);
  t.match(answer.body.errors[0]?.message, /ecdsa with size 256, 384 or 521/);
  t.equal(store.count(), 0);
});

t.test("an RSA CA made by init_ca issues certificates that openssl verifies", async (t) => {
  const made = await makeCa({ CN: "RSA test CA", names: [{ O: "Example Team" }], key: { algo: "rsa", size: 2048 } });
  t.match(made.private_key, /^-----BEGIN RSA PRIVATE KEY-----/, "the CA key is PKCS#1");
  const { app, caPem, dir } = await testApp(t, { ca: made.ca });
  const caFile = writeFile(dir, "rsa-ca.pem", caPem);
  for (const key of [{ algo: "ecdsa", size: 256 }, { algo: "rsa", size: 2048 }, { algo: "ed25519" }]) {
    const answer = await post(app, "newcert", { request: { CN: "under-rsa.example.com", hosts: ["under-rsa.example.com"], key }, profile: "server" });
    t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
    const certFile = writeFile(dir, `under-rsa-${key.algo}.pem`, answer.body.result.certificate);
    const verify = openssl(["verify", "-CAfile", caFile, certFile]);
    t.equal(verify.status, 0, `${key.algo} leaf verifies under the RSA CA: ${verify.stderr}`);
    const cert = new X509Certificate(answer.body.result.certificate);
    t.ok(cert.checkPrivateKey(createPrivateKey(answer.body.result.private_key)));
    const info = await post(app, "certinfo", { certificate: answer.body.result.certificate });
    t.equal(info.body.result.sigalg, "SHA256WithRSA", "an RSA-2048 CA signs with SHA-256");
    t.match(openssl(["x509", "-noout", "-text", "-in", certFile]).stdout, /Signature Algorithm: sha256WithRSAEncryption/);
  }
});

t.test("an ECDSA P-384 CA signs with ECDSA-SHA384", async (t) => {
  const made = await makeCa({ CN: "P-384 test CA", key: { algo: "ecdsa", size: 384 } });
  const { app, caPem, dir } = await testApp(t, { ca: made.ca });
  const answer = await post(app, "newcert", { request: { CN: "p384.example.com", hosts: ["p384.example.com"] }, profile: "server" });
  t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
  const verify = openssl(["verify", "-CAfile", writeFile(dir, "ca384.pem", caPem), writeFile(dir, "leaf.pem", answer.body.result.certificate)]);
  t.equal(verify.status, 0, verify.stderr);
  const info = await post(app, "certinfo", { certificate: answer.body.result.certificate });
  t.equal(info.body.result.sigalg, "ECDSAWithSHA384");
});
