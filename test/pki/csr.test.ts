// parseCsr: what it exposes (requestsCa) and what it refuses in a correctly signed CSR
// (over-long or control-character subjects, bad SANs), with CSRs made by openssl and by the core.
import { readFileSync } from "node:fs";
import t from "tap";
import { buildCsr, parseCsr } from "../../src/pki/csr.js";
import { emptySans } from "../../src/pki/hosts.js";
import { generatePrivateKey } from "../../src/pki/keys.js";
import { x509 } from "../../src/pki/webcrypto.js";
import { openssl, tempDir } from "../helpers/app.js";

function opensslCsr(dir: string, name: string, extra: string[]): string {
  const result = openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${dir}/${name}.key`, "-out", `${dir}/${name}.csr`, ...extra]);
  if (result.status !== 0) throw new Error(result.stderr);
  return readFileSync(`${dir}/${name}.csr`, "utf8");
}

t.test("requestsCa is true only for basicConstraints cA TRUE in the extension request", async (t) => {
  const dir = tempDir(t);
  const ca = opensslCsr(dir, "ca", ["-subj", "/CN=wants-to-be-a-ca", "-addext", "basicConstraints=critical,CA:TRUE"]);
  t.match(openssl(["req", "-noout", "-text"], ca).stdout, /CA:TRUE/, "openssl wrote CA:TRUE into the CSR");
  t.equal((await parseCsr(ca)).requestsCa, true);

  const notCa = opensslCsr(dir, "leaf", ["-subj", "/CN=leaf", "-addext", "basicConstraints=critical,CA:FALSE"]);
  t.equal((await parseCsr(notCa)).requestsCa, false, "CA:FALSE is not a CA request");
  const plain = opensslCsr(dir, "plain", ["-subj", "/CN=plain", "-addext", "subjectAltName=DNS:plain.example.com"]);
  const parsed = await parseCsr(plain);
  t.equal(parsed.requestsCa, false, "no basicConstraints is not a CA request");
  t.same(parsed.sans.dns, ["plain.example.com"]);
});

t.test("a correctly signed CSR with a subject over the limits or with control characters is refused", async (t) => {
  const key = await generatePrivateKey({ algo: "ecdsa", size: 256 });
  const cases: [x509.Name, RegExp][] = [
    [new x509.Name([{ "2.5.4.3": [{ utf8String: "c".repeat(65) }] }] as unknown as x509.JsonName), /certificate_request: subject CN is 65 characters.*at most 64/],
    [new x509.Name([{ "2.5.4.10": [{ utf8String: "o".repeat(70) }] }] as unknown as x509.JsonName), /subject O is 70 characters/],
    [new x509.Name([{ "2.5.4.6": [{ printableString: "USA" }] }] as unknown as x509.JsonName), /subject C "USA" must be a two-letter country code/],
    [new x509.Name([{ "2.5.4.3": [{ utf8String: "a\u0000b" }] }] as unknown as x509.JsonName), /subject CN contains NUL/],
    // An attribute the service does not otherwise read (organizationIdentifier) is still checked for control characters.
    [new x509.Name([{ "2.5.4.97": [{ utf8String: "x\u0007y" }] }] as unknown as x509.JsonName), /subject .* contains a control character \(U\+0007\)/],
  ];
  for (const [name, message] of cases) {
    const { pem } = await buildCsr(name, emptySans(), key);
    await t.rejects(parseCsr(pem), { kind: "csrInvalid", code: 9300, message }, String(message));
  }
});

t.test("a correctly signed CSR with SANs that are not valid names is refused", async (t) => {
  const key = await generatePrivateKey({ algo: "ecdsa", size: 256 });
  const name = new x509.Name("CN=sans");
  const dns = (values: string[]) => ({ ...emptySans(), dns: values });
  for (const [sans, message] of [
    [dns(["a..b.example.com"]), /certificate_request: DNS SAN "a..b.example.com" is not a valid DNS name: it has an empty label/],
    [dns([`${"l".repeat(64)}.example.com`]), /at most 63/],
    [dns(["a b.example.com"]), /contains a space/],
    [dns(Array.from({ length: 101 }, (_, i) => `h${i}.example.com`)), /101 subject alternative names/],
  ] as const) {
    const { pem } = await buildCsr(name, sans, key);
    await t.rejects(parseCsr(pem), { kind: "csrInvalid", message }, String(message));
  }
});
