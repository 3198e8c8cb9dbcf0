// Revocation reasons and serials as people type them: RFC 5280 names, cfssl's lower-case names,
// codes; serials in decimal, hex, with colons, as openssl prints them.
import t from "tap";
import { CertwrightError } from "../../src/errors.js";
import { parseRevocationReason, parseSerial, reasonCodes, reasonName, serialToDecimal, serialToHex } from "../../src/pki/revocation.js";

t.test("reasons: RFC names in any case, cfssl's names, decimal codes", async (t) => {
  const cfssl = ["unspecified", "keycompromise", "cacompromise", "affiliationchanged", "superseded", "cessationofoperation", "certificatehold", "removefromcrl", "privilegewithdrawn", "aacompromise"];
  const codes = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10];
  for (const [i, name] of cfssl.entries()) t.equal(parseRevocationReason(name), codes[i], name);
  for (const [name, code] of Object.entries(reasonCodes)) {
    t.equal(parseRevocationReason(name), code, name);
    t.equal(parseRevocationReason(name.toUpperCase()), code, name.toUpperCase());
    t.equal(parseRevocationReason(String(code)), code, String(code));
    t.equal(reasonName(code), name);
  }
  t.equal(parseRevocationReason(" keyCompromise "), 1, "surrounding blanks are ignored");
  t.equal(parseRevocationReason("removeFromCRL"), 8);

  for (const bad of ["7", "11", "-1", "1.0", "01x", "", "key compromise", "revoked", "100"]) {
    t.throws(() => parseRevocationReason(bad), { name: "CertwrightError", kind: "invalidRequest", message: /accepted: unspecified, keyCompromise.*0-6, 8-10/ }, JSON.stringify(bad));
  }
  t.throws(() => reasonName(7), RangeError);
});

t.test("serials: decimal, hex, colons, serial=, and the limits", async (t) => {
  const value = 0x3f0a1b2c3d4e5f60718293a4b5c6d7e8f9001122n;
  t.equal(parseSerial("1234"), 1234n, "digits only: decimal, as cfssl");
  t.equal(parseSerial(value.toString(10)), value, "a 20-octet serial in decimal");
  t.equal(parseSerial("0x1234"), 0x1234n, "0x: hex");
  t.equal(parseSerial("0X00ff"), 0xffn);
  t.equal(parseSerial("3F0A1B2C3D4E5F60718293A4B5C6D7E8F9001122"), value, "hex letters: hex");
  t.equal(parseSerial("3f0a1b2c3d4e5f60718293a4b5c6d7e8f9001122"), value, "lower case");
  t.equal(parseSerial("3f:0A:1b:2C:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9:00:11:22"), value, "colons, mixed case");
  t.equal(parseSerial("serial=3F0A1B2C3D4E5F60718293A4B5C6D7E8F9001122"), value, "openssl x509 -serial output");
  t.equal(parseSerial("serial=1234\n"), 0x1234n, "after serial= digits are hex: openssl always prints hex");
  t.equal(parseSerial("12:34"), 0x1234n, "colons mean hex even without letters");
  t.equal(parseSerial("0"), 0n);

  const twentyOctets = "7f".repeat(20);
  t.equal(parseSerial(twentyOctets), BigInt(`0x${twentyOctets}`), "20 octets is the most");
  t.equal(parseSerial(`0000${twentyOctets}`), BigInt(`0x${twentyOctets}`), "leading zeros do not count");
  const tooLong = [`0x01${"00".repeat(20)}`, (2n ** 160n).toString(10), `serial=${"AB".repeat(21)}`];
  for (const text of tooLong) {
    t.throws(() => parseSerial(text), { name: "CertwrightError", kind: "invalidRequest", message: /longer than 20 octets/ }, text);
  }
  const garbage = ["", "serial=", "0x", "-5", "12 34", "0x12g4", "12:3", "1:2:3", ":12:34", "12::34", "1.5", "serial:1234", "0x0x12", "DE:AD:"];
  for (const text of garbage) {
    t.throws(() => parseSerial(text), { name: "CertwrightError", kind: "invalidRequest", message: /accepted: decimal digits.*0x.*colons.*serial=/ }, JSON.stringify(text));
  }
  t.ok(new CertwrightError("invalidRequest", "x").status === 400);
});

t.test("serials printed as cfssl and openssl print them", async (t) => {
  t.equal(serialToDecimal(0x1234n), "4660");
  t.equal(serialToHex(0x1234n), "1234");
  t.equal(serialToHex(0xabcn), "0ABC", "even length, upper case");
  t.equal(serialToHex(0n), "00");
  const value = 0x3f0a1b2c3d4e5f60718293a4b5c6d7e8f9001122n;
  t.equal(parseSerial(serialToHex(value)), value);
  t.equal(parseSerial(serialToDecimal(value)), value);
});
