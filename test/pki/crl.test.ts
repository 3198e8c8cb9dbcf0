// CRLs from buildCrl, judged by the openssl command line: the signature verifies against the CA
// for each key type, the text shows the CRL number, serials and reasons, and `openssl verify
// -crl_check` refuses a revoked leaf and accepts a good one.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { buildCrl } from "../../src/pki/crl.js";
import type { KeySpec } from "../../src/pki/keys.js";
import { formatKeyId } from "../../src/pki/pem.js";
import { reasonCodes, serialToHex } from "../../src/pki/revocation.js";
import { issueLeaf, openssl, tempDir, testCa, writeFile } from "../helpers/revocation-ca.js";

const specs: KeySpec[] = [
  { algo: "ecdsa", size: 256 },
  { algo: "rsa", size: 2048 },
  { algo: "ed25519", size: 0 },
];

for (const spec of specs) {
  t.test(`${spec.algo} CA: openssl verifies the CRL and honours it`, async (t) => {
    const dir = tempDir(t);
    const now = new Date();
    const { ca, pem } = await testCa(spec, `CRL test CA ${spec.algo}`);
    const caFile = writeFile(dir, "ca.pem", pem);
    const compromised = await issueLeaf(ca, "compromised.example");
    const replaced = await issueLeaf(ca, "replaced.example");
    const good = await issueLeaf(ca, "good.example");

    const der = buildCrl(ca, {
      crlNumber: 42n,
      thisUpdate: new Date(now.getTime() - 60_000),
      nextUpdate: new Date(now.getTime() + 86_400_000),
      revoked: [
        { serial: compromised.serial, revokedAt: new Date(now.getTime() - 30_000), reason: reasonCodes.keyCompromise },
        { serial: replaced.serial, revokedAt: new Date(now.getTime() - 30_000), reason: reasonCodes.unspecified },
      ],
    });
    const crlFile = join(dir, "x.crl");
    writeFileSync(crlFile, der);

    const verified = openssl(["crl", "-inform", "DER", "-in", crlFile, "-CAfile", caFile, "-noout"]);
    t.equal(verified.status, 0, verified.stderr);
    t.match(verified.stderr + verified.stdout, /verify OK/, "the signature verifies against the CA");

    const text = openssl(["crl", "-inform", "DER", "-in", crlFile, "-noout", "-text"]).stdout;
    t.match(text, /Version 2 \(0x1\)/);
    t.match(text, /X509v3 CRL Number:\s*\n\s*42\n/, "the CRL number");
    t.match(text, new RegExp(`Authority Key Identifier:\\s*\\n\\s*(keyid:)?${formatKeyId(Buffer.from(ca.subjectKeyId, "hex"))}`), "the authority key id is the CA's subject key id");
    t.match(text, new RegExp(`Serial Number: ${serialToHex(compromised.serial)}\\s*\\n\\s*Revocation Date: [^\\n]+\\n\\s*CRL entry extensions:\\s*\\n\\s*X509v3 CRL Reason Code:\\s*\\n\\s*Key Compromise`), "the compromised leaf, with its reason");
    t.match(text, new RegExp(`Serial Number: ${serialToHex(replaced.serial)}\\s*\\n\\s*Revocation Date: [^\\n]+\\n(?!\\s*CRL entry extensions)`), "the unspecified one, without a reason code");
    t.notMatch(text, serialToHex(good.serial), "the good leaf is not listed");

    const crlPem = join(dir, "crl.pem");
    t.equal(openssl(["crl", "-inform", "DER", "-in", crlFile, "-out", crlPem]).status, 0);
    const check = (leafPem: string) => openssl(["verify", "-crl_check", "-CAfile", caFile, "-CRLfile", crlPem, writeFile(dir, "leaf.pem", leafPem)]);
    for (const revoked of [compromised, replaced]) {
      const result = check(revoked.pem);
      t.not(result.status, 0, "a revoked leaf fails verification");
      t.match(result.stdout + result.stderr, /certificate revoked/);
    }
    const ok = check(good.pem);
    t.equal(ok.status, 0, ok.stdout + ok.stderr);
    t.match(ok.stdout, /: OK/, "a good leaf passes with the CRL checked");
  });
}

t.test("an empty CRL leaves out revokedCertificates and still verifies", async (t) => {
  const dir = tempDir(t);
  const now = new Date();
  const { ca, pem } = await testCa({ algo: "ecdsa", size: 256 }, "Empty CRL CA");
  const caFile = writeFile(dir, "ca.pem", pem);
  const der = buildCrl(ca, { crlNumber: 1n, thisUpdate: now, nextUpdate: new Date(now.getTime() + 3_600_000), revoked: [] });
  const crlFile = join(dir, "empty.crl");
  writeFileSync(crlFile, der);
  const verified = openssl(["crl", "-inform", "DER", "-in", crlFile, "-CAfile", caFile, "-noout", "-text"]);
  t.equal(verified.status, 0, verified.stderr);
  t.match(verified.stderr, /verify OK/);
  t.match(verified.stdout, /No Revoked Certificates\./);

  const crlPem = join(dir, "crl.pem");
  openssl(["crl", "-inform", "DER", "-in", crlFile, "-out", crlPem]);
  const leaf = await issueLeaf(ca, "leaf.example");
  const ok = openssl(["verify", "-crl_check", "-CAfile", caFile, "-CRLfile", crlPem, writeFile(dir, "leaf.pem", leaf.pem)]);
  t.equal(ok.status, 0, ok.stdout + ok.stderr);
});

t.test("dates from 2050 are GeneralizedTime; reason codes that are not reasons are refused", async (t) => {
  const dir = tempDir(t);
  const { ca } = await testCa({ algo: "ecdsa", size: 256 }, "Dates CA");
  const der = buildCrl(ca, {
    crlNumber: 2n ** 100n,
    thisUpdate: new Date("2049-12-31T23:59:59Z"),
    nextUpdate: new Date("2051-06-01T12:00:00Z"),
    revoked: [{ serial: 1n, revokedAt: new Date("2050-01-01T00:00:00Z"), reason: reasonCodes.removeFromCRL }],
  });
  const crlFile = join(dir, "dates.crl");
  writeFileSync(crlFile, der);
  const text = openssl(["crl", "-inform", "DER", "-in", crlFile, "-noout", "-text"]).stdout;
  t.match(text, /Last Update: Dec 31 23:59:59 2049 GMT/);
  t.match(text, /Next Update: Jun {2}1 12:00:00 2051 GMT/);
  t.match(text, /Revocation Date: Jan {2}1 00:00:00 2050 GMT/);
  t.match(text, /Remove From CRL/);
  t.match(text, new RegExp(`X509v3 CRL Number:\\s*\\n\\s*${2n ** 100n}\\n`), "a CRL number wider than 64 bits");
  // UTCTime (0x17) for 2049, GeneralizedTime (0x18) from 2050.
  t.ok(Buffer.from(der).includes(Buffer.from("\x17\x0d491231235959Z", "latin1")));
  t.ok(Buffer.from(der).includes(Buffer.from("\x18\x0f20510601120000Z", "latin1")));

  for (const reason of [7, 11, -1]) {
    t.throws(() => buildCrl(ca, { crlNumber: 3n, thisUpdate: new Date(), nextUpdate: new Date(), revoked: [{ serial: 1n, revokedAt: new Date(), reason }] }), RangeError, `reason ${reason}`);
  }
});
