// parseCsr: what it exposes (requestsCa) and what it refuses in a correctly signed CSR
// (over-long or control-character subjects, bad SANs), with CSRs made by openssl and by the core.
import { readFileSync } from "node:fs";
import t from "tap";
import { encodeName, type DistinguishedName } from "../../src/pki/name.js";
const nameOf = (oid: string, tag: number, value: string) => encodeName([[{ oid, tag, value }]]);
import { buildCsr, parseCsr } from "../../src/pki/csr.js";
import { emptySans } from "../../src/pki/hosts.js";
import { generatePrivateKey } from "../../src/pki/keys.js";
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
  const cases: [DistinguishedName, RegExp][] = [
    [nameOf("2.5.4.3", 0x0c, "c".repeat(65)), /certificate_request: subject CN is 65 characters.*at most 64/],
    [nameOf("2.5.4.10", 0x0c, "o".repeat(70)), /subject O is 70 characters/],
    [nameOf("2.5.4.6", 0x13, "USA"), /subject C "USA" must be a two-letter country code/],
    [nameOf("2.5.4.3", 0x0c, "a\u0000b"), /subject CN contains NUL/],
    // An attribute the service does not otherwise read (organizationIdentifier) is still checked for control characters.
    [nameOf("2.5.4.97", 0x0c, "x\u0007y"), /subject .* contains a control character \(U\+0007\)/],
  ];
  for (const [name, message] of cases) {
    const { pem } = buildCsr(name, emptySans(), key);
    t.throws(() => parseCsr(pem), { kind: "csrInvalid", code: 9300, message }, String(message));
  }
});

t.test("a correctly signed CSR with SANs that are not valid names is refused", async (t) => {
  const key = await generatePrivateKey({ algo: "ecdsa", size: 256 });
  const name = nameOf("2.5.4.3", 0x13, "sans");
  const dns = (values: string[]) => ({ ...emptySans(), dns: values });
  for (const [sans, message] of [
    [dns(["a..b.example.com"]), /certificate_request: DNS SAN "a..b.example.com" is not a valid DNS name: it has an empty label/],
    [dns([`${"l".repeat(64)}.example.com`]), /at most 63/],
    [dns(["a b.example.com"]), /contains a space/],
    [dns(Array.from({ length: 101 }, (_, i) => `h${i}.example.com`)), /101 subject alternative names/],
  ] as const) {
    const { pem } = buildCsr(name, sans, key);
    t.throws(() => parseCsr(pem), { kind: "csrInvalid", message }, String(message));
  }
});
