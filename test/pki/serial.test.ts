// Serials come from a pool of random bytes refilled 4 KiB at a time: across many refills every
// serial is still distinct, and its DER INTEGER positive and at most 20 octets, as RFC 5280 wants.
import t from "tap";
import { unsignedInteger } from "../../src/pki/der.js";
import { randomSerial } from "../../src/pki/certificate.js";

t.test("serials across pool refills: distinct, positive, at most 20 octets in DER", async (t) => {
  const seen = new Set<string>();
  const bad: string[] = [];
  let longest = 0;
  for (let i = 0; i < 5000; i++) {
    const serial = randomSerial();
    const der = unsignedInteger(serial); // tag, length, content
    const content = der.subarray(2);
    const hex = Buffer.from(serial).toString("hex");
    if (content.length > 20 || content[0]! >= 0x80 || BigInt(`0x${hex}`) === 0n) bad.push(hex);
    seen.add(hex);
    longest = Math.max(longest, content.length);
  }
  t.same(bad, [], "every serial encodes as a positive INTEGER of at most 20 octets");
  t.equal(seen.size, 5000, "no serial repeats");
  t.equal(longest, 20, "full-length serials occur");
});
