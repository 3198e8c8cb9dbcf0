// Loading a CA: the validity window is checked against the clock it is given.
import t from "tap";
import { loadCertificateAuthority } from "../../src/pki/ca.js";
import { datedCa } from "../helpers/dated-ca.js";

const notBefore = new Date("2020-01-01T00:00:00.000Z");
const notAfter = new Date("2021-01-01T00:00:00.000Z");

t.test("a CA is loaded only inside its validity window", async (t) => {
  const { certificate, key } = await datedCa(notBefore, notAfter);

  const inside = await loadCertificateAuthority(certificate, key, "", new Date("2020-06-01T00:00:00.000Z"));
  t.equal(inside.notAfter.toISOString(), notAfter.toISOString(), "loads at a time inside the window");
  t.equal(inside.label, "");
  t.ok(await loadCertificateAuthority(certificate, key, "", notBefore), "the first instant is inside");
  t.ok(await loadCertificateAuthority(certificate, key, "", notAfter), "the last instant is inside (RFC 5280: inclusive)");

  await t.rejects(
    loadCertificateAuthority(certificate, key, "", new Date(notAfter.getTime() + 1000)),
    { message: "CA certificate: it expired on 2021-01-01T00:00:00.000Z; renew the CA or pass another with --ca and --ca-key" },
    "one second after NotAfter: expired, with the date",
  );
  await t.rejects(
    loadCertificateAuthority(certificate, key, "", new Date(notBefore.getTime() - 1000)),
    { message: /^CA certificate: it is not valid until 2020-01-01T00:00:00\.000Z; check this machine's clock/ },
    "one second before NotBefore: not valid yet, with the date",
  );
});

t.test("without a clock, the system time decides", async (t) => {
  const expired = await datedCa(notBefore, notAfter);
  await t.rejects(loadCertificateAuthority(expired.certificate, expired.key), { message: /expired on 2021-01-01T00:00:00\.000Z/ });
  const future = await datedCa(new Date("2090-01-01T00:00:00Z"), new Date("2091-01-01T00:00:00Z"));
  await t.rejects(loadCertificateAuthority(future.certificate, future.key), { message: /not valid until 2090-01-01T00:00:00\.000Z/ });
  const now = Date.now();
  const current = await datedCa(new Date(now - 60_000), new Date(now + 86_400_000));
  t.ok(await loadCertificateAuthority(current.certificate, current.key), "a current CA loads with the default clock");
});

t.test("the other refusals are unchanged: the wrong key, no PEM", async (t) => {
  const a = await datedCa(notBefore, notAfter, "A");
  const b = await datedCa(notBefore, notAfter, "B");
  const at = new Date("2020-06-01T00:00:00.000Z");
  await t.rejects(loadCertificateAuthority(a.certificate, b.key, "", at), { message: /does not belong to the CA certificate/ });
  await t.rejects(loadCertificateAuthority("not a pem", a.key, "", at), { message: /no PEM "CERTIFICATE" block/ });
});
