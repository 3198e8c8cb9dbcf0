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

t.test("a serial is the time of issue in milliseconds, then 14 random octets", async (t) => {
  const before = Date.now();
  const serials = Array.from({ length: 2000 }, () => Buffer.from(randomSerial()));
  const after = Date.now();
  for (const serial of serials) {
    t.equal(serial.length, 20);
    const time = serial.readUIntBE(0, 6);
    if (time < before || time > after) t.fail(`time prefix ${time} is outside ${before}..${after}`);
  }
  t.equal(new Set(serials.map((s) => s.subarray(6).toString("hex"))).size, serials.length, "the random parts all differ");
  const prefixes = serials.map((s) => s.readUIntBE(0, 6));
  t.ok(prefixes.every((p, i) => i === 0 || p >= prefixes[i - 1]!), "serials grow with time");
  t.equal(Buffer.from(randomSerial(Date.UTC(6400, 0))).readUInt8(0) < 0x80, true, "still positive in the year 6400");
});
