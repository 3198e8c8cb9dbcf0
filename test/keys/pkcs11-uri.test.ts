import t from "tap";
import { describeKey, isPkcs11Uri, parsePkcs11Uri } from "../../src/keys/pkcs11-uri.js";

t.test("the attributes that find a token and a key, percent-decoded", async (t) => {
  const uri = parsePkcs11Uri("pkcs11:token=My%20CA;object=root%202026;id=%01%A2;serial=abc123;slot-id=7;type=private");
  t.equal(uri.token, "My CA");
  t.equal(uri.object, "root 2026");
  t.same([...uri.id!], [0x01, 0xa2], "id is bytes");
  t.equal(uri.serial, "abc123");
  t.equal(uri.slotId, 7n);
  t.equal(describeKey(uri), 'label "root 2026" and id 01a2');
  t.ok(isPkcs11Uri("PKCS11:object=x"), "the scheme is case-insensitive");
  t.notOk(isPkcs11Uri("/etc/ca-key.pem"));
});

t.test("the module and the PIN file from the query", async (t) => {
  const uri = parsePkcs11Uri("pkcs11:object=ca?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/certwright/pin");
  t.equal(uri.modulePath, "/usr/lib/softhsm/libsofthsm2.so");
  t.equal(uri.pinFile, "/etc/certwright/pin");
  t.equal(parsePkcs11Uri("pkcs11:object=ca?pin-source=file:///run/pin").pinFile, "/run/pin");
  t.equal(parsePkcs11Uri("pkcs11:object=ca?pin-source=pin.txt").pinFile, "pin.txt", "a bare path is a file");
  t.equal(parsePkcs11Uri("pkcs11:object=ca;pin-source=file:pin.txt").pinFile, "pin.txt", "in the path too, as written by hand");
  t.equal(parsePkcs11Uri("pkcs11:object=ca;manufacturer=SoftHSM%20project").object, "ca", "attributes not matched on are let through");
});

t.test("refusals name the attribute and what to write instead", async (t) => {
  const cases: [string, RegExp][] = [
    ["pkcs11:token=T;object=ca?pin-value=1234", /pin-value is refused.*--pkcs11-pin-file/],
    ["pkcs11:token=T", /names no key; give object=LABEL or id=%XX/],
    ["pkcs11:object=ca;type=public", /type=public cannot sign/],
    ["pkcs11:object=ca;object=other", /object is given twice/],
    ["pkcs11:object=ca;colour=blue", /attribute colour is not known/],
    ["pkcs11:object=ca;id=%zz", /id="%zz" has a % not followed by two hex digits/],
    ["pkcs11:object=ca;slot-id=first", /slot-id "first" is not a number/],
    ["pkcs11:object=ca;token", /"token" is not name=value/],
    ["pkcs11:object=ca?pin-source=|/bin/get-pin", /naming a command .* is not supported/],
    ["pkcs11:object=ca?pin-source=https://vault/pin", /is not a file/],
    ["/etc/ca-key.pem", /is not a pkcs11: URI/],
  ];
  for (const [text, message] of cases) t.throws(() => parsePkcs11Uri(text), { message }, text);
});
