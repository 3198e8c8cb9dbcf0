// withFreshSerial: the certificate again, as the CA signed it, with only the serial changed.
import { X509Certificate } from "node:crypto";
import t from "tap";
import { children, readWhole, Tag } from "../../src/pki/der.js";
import { decodePemBlock } from "../../src/pki/pem.js";
import { serialDecimal } from "../../src/pki/certificate.js";
import { withFreshSerial } from "../../src/pki/reissue.js";
import { makeCa, openssl, tempDir } from "../helpers/app.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Signer } from "../../src/authority/signer.js";
import { loadSigningConfig } from "../../src/profiles/signing-config.js";
import { profilesDir } from "../helpers/app.js";

/** The TBSCertificate's fields, each as DER. */
const tbsFields = (pem: string) => children(children(readWhole(decodePemBlock(pem, ["CERTIFICATE"])!, Tag.sequence).value)[0]!.value).map((e) => Buffer.from(e.raw));

for (const algo of ["ecdsa", "rsa", "ed25519"] as const) {
  t.test(`a ${algo} CA's certificate gets a new serial and nothing else changes`, async (t) => {
    const made = await makeCa({ CN: `reissue ${algo}`, key: { algo, size: algo === "rsa" ? 2048 : algo === "ecdsa" ? 256 : 0 } });
    const signer = new Signer(made.ca, loadSigningConfig(join(profilesDir, "ca-config.json")));
    const { issued } = await signer.newCert({ request: { CN: "svc", hosts: ["svc.internal", "10.0.0.7"] }, profile: "server" });
    const again = withFreshSerial(made.ca, issued.pem);
    const [before, after] = [tbsFields(issued.pem), tbsFields(again.pem)];
    t.not(after[1]!.toString("hex"), before[1]!.toString("hex"), "the serial differs");
    t.same([before[0], ...before.slice(2)], [after[0], ...after.slice(2)], "every other field is the same, byte for byte");
    const cert = new X509Certificate(again.pem);
    t.equal(BigInt(`0x${cert.serialNumber}`).toString(10), again.serialNumber, "serialNumber is the decimal of the new serial");
    t.ok(cert.verify(new X509Certificate(made.certificate).publicKey), "the CA's signature verifies");
    const dir = tempDir(t);
    writeFileSync(join(dir, "ca.pem"), made.certificate);
    writeFileSync(join(dir, "leaf.pem"), again.pem);
    t.match(openssl(["verify", "-CAfile", join(dir, "ca.pem"), join(dir, "leaf.pem")]).stdout, /leaf.pem: OK/, "openssl verify accepts it");
  });
}

t.test("serialDecimal reads the serial's octets as an unsigned number", async (t) => {
  t.equal(serialDecimal(Uint8Array.of(1)), "1");
  t.equal(serialDecimal(Uint8Array.of(0x7f, 0xff)), "32767");
  t.equal(serialDecimal(Uint8Array.of(0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00)), (2n ** 64n).toString());
});
