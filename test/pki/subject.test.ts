// Subject attributes: X.520 / RFC 5280 upper bounds, two-letter countries, no control characters,
// any script otherwise; refusals name the attribute as the request does.
import t from "tap";
import { CertwrightError } from "../../src/errors.js";
import { buildName, checkSubjectFields, subjectFieldsFromRequest, subjectLimits } from "../../src/pki/subject.js";

function refusal(fn: () => unknown): CertwrightError | undefined {
  try {
    fn();
  } catch (error) {
    return error as CertwrightError;
  }
  return undefined;
}

t.test("values at their limits are accepted, in any script", async (t) => {
  const fields = subjectFieldsFromRequest({
    CN: "c".repeat(64),
    names: [{ C: "us", O: "o".repeat(64), OU: "u".repeat(64), L: "l".repeat(128), ST: "s".repeat(128), E: `${"e".repeat(243)}@example.com`, SerialNumber: "9".repeat(64) }],
  });
  t.equal(fields.E[0]!.length, 255);
  t.doesNotThrow(() => buildName(fields));
  // 64 characters of a script outside the BMP are 128 UTF-16 units: the limit counts characters.
  const cjk = subjectFieldsFromRequest({ CN: "𠀀".repeat(64), names: [{ C: "CN", O: "组织", L: "北京市" }] });
  t.doesNotThrow(() => buildName(cjk));
});

t.test("each attribute over its limit is refused, naming it and the limit", async (t) => {
  const cases: [Parameters<typeof subjectFieldsFromRequest>[0], RegExp][] = [
    [{ CN: "c".repeat(65) }, /^CN is 65 characters long; the common name holds at most 64/],
    [{ CN: "测".repeat(65) }, /^CN is 65 characters/],
    [{ names: [{ O: "o".repeat(65) }] }, /^names\[0\]\.O is 65 .* at most 64/],
    [{ names: [{}, { OU: "u".repeat(65) }] }, /^names\[1\]\.OU .* at most 64/],
    [{ names: [{ L: "l".repeat(129) }] }, /^names\[0\]\.L .* at most 128/],
    [{ names: [{ ST: "s".repeat(129) }] }, /^names\[0\]\.ST .* at most 128/],
    [{ names: [{ SerialNumber: "1".repeat(65) }] }, /^names\[0\]\.SerialNumber .* at most 64/],
    [{ SerialNumber: "1".repeat(65) }, /^SerialNumber .* at most 64/],
    [{ names: [{ E: `${"e".repeat(244)}@example.com` }] }, /^names\[0\]\.E is 256 .* at most 255/],
    [{ names: [{ C: "USA" }] }, /^names\[0\]\.C "USA" must be a two-letter country code/],
    [{ names: [{ C: "U" }] }, /two-letter/],
    [{ names: [{ C: "1A" }] }, /two-letter/],
    [{ names: [{ C: "ÜS" }] }, /two-letter/],
    [{ CN: "a\u0000b" }, /^CN contains NUL \(U\+0000\)/],
    [{ names: [{ O: "line\nbreak" }] }, /^names\[0\]\.O contains a control character \(U\+000A\)/],
    [{ names: [{ OU: "\u009b" }] }, /U\+009B/],
    [{ CN: "bad\ud800" }, /unpaired surrogate/],
    [{ names: [{ E: "ops@bücher.example" }] }, /^names\[0\]\.E must be ASCII/],
  ];
  for (const [request, message] of cases) {
    const error = refusal(() => subjectFieldsFromRequest(request));
    t.ok(error instanceof CertwrightError, `${JSON.stringify(request).slice(0, 60)} is refused`);
    t.equal(error?.kind, "csrInvalid");
    t.equal(error?.code, 9300);
    t.match(error?.message, message);
  }
});

t.test("buildName checks what it is given, however it was collected", async (t) => {
  const fields = { CN: ["x".repeat(65)], C: [], ST: [], L: [], O: [], OU: [], E: [], SerialNumber: [] };
  t.throws(() => buildName(fields), { kind: "csrInvalid", message: /^subject CN is 65 characters/ });
  t.throws(() => checkSubjectFields({ ...fields, CN: [], C: ["US", "Germany"] }), { message: /^C\[1\] "Germany"/ });
  t.same(subjectLimits, { CN: 64, O: 64, OU: 64, L: 128, ST: 128, SerialNumber: 64, E: 255, C: 2 });
});
