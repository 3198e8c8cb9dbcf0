// The logger's redaction, field by field (the end-to-end search is test/cli/log-redaction.test.ts).
import { pino } from "pino";
import t from "tap";
import { logSerializers, maskPem } from "../../src/api/log-redaction.js";

const pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBvx8tQ3k0Yh2cX9b9Jw1dGk\nAwEHoUQDQgAE\n-----END EC PRIVATE KEY-----\n";

/** A line as pino wrote it: the fields logged, an error serialized with its message. */
type LogLine = Record<string, unknown> & { err?: { message: string } };

function logged(write: (log: pino.Logger) => void): LogLine[] {
  const lines: string[] = [];
  write(pino({ serializers: logSerializers }, { write: (line: string) => void lines.push(line) }));
  return lines.map((line) => JSON.parse(line));
}

t.test("secret fields are replaced, whatever they hold", async (t) => {
  const [line] = logged((log) =>
    log.info({ headers: { authorization: "CFSSL-HMAC ci:abc", cookie: "c", "content-type": "application/json" }, body: { a: 1 }, token: "t", private_key: pem, certificate_request: pem }),
  );
  t.same(line?.headers, { authorization: "[redacted]", cookie: "[redacted]", "content-type": "application/json" });
  t.equal(line?.body, "[redacted]");
  t.equal(line?.token, "[redacted]");
  t.equal(line?.private_key, "[redacted]");
  t.equal(line?.certificate_request, "[redacted]");
});

t.test("a line with nothing to hide is logged as it is", async (t) => {
  const audit = { profile: "server", cn: "svc.internal", sans: ["svc.internal"], serial: "12" };
  t.equal(logSerializers.audit(audit), audit, "no copy is made");
  const [line] = logged((log) => log.info({ audit, headers: { "content-type": "application/json" } }, "audit"));
  t.same(line?.audit, audit);
  t.same(line?.headers, { "content-type": "application/json" });
});

t.test("fields that echo a client's input keep it, with PEM blocks masked", async (t) => {
  const [audit, error] = logged((log) => {
    log.info({ audit: { profile: pem, cn: "svc.internal", sans: ["svc.internal", `x ${pem}`], serial: "12" } }, "audit");
    log.error({ err: new Error(`could not read ${pem}`) }, "failed");
  });
  t.same(audit?.audit, { profile: "[redacted PEM]\n", cn: "svc.internal", sans: ["svc.internal", "x [redacted PEM]\n"], serial: "12" });
  t.equal(error?.err?.message, "could not read [redacted PEM]\n");
  t.notMatch(JSON.stringify(error), /PRIVATE KEY|MHcCAQEE/);
});

t.test("maskPem masks blocks, cut-short blocks and JSON-escaped blocks, and keeps a named marker", async (t) => {
  t.equal(maskPem(`profile "${pem}" does not exist`), 'profile "[redacted PEM]\n" does not exist');
  t.equal(maskPem(`label ${pem.slice(0, 50)}`), "label [redacted PEM]");
  t.equal(maskPem(JSON.stringify({ k: pem })), '{"k":"[redacted PEM]\\n"}');
  const named = 'certificate_request: no PEM block "-----BEGIN CERTIFICATE REQUEST-----" found';
  t.equal(maskPem(named), named);
});
