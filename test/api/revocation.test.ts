// Revoke through the API, then judge the CRL (both endpoints) and the OCSP responder with the
// openssl command line: openssl crl, openssl verify -crl_check and openssl ocsp.
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { makeCa, openssl, post, testApp, writeFile, type TestApp } from "../helpers/app.js";

const adminToken = "revocation-admin-token-0123456789";

async function newCert(app: TestApp["app"], cn: string, headers: Record<string, string> = {}) {
  const response = await app.inject({
    method: "POST",
    url: "/api/v1/cfssl/newcert",
    headers: { "content-type": "application/json", ...headers },
    payload: JSON.stringify({ request: { CN: cn, hosts: [cn] }, profile: "server" }),
  });
  const body = response.json();
  if (!body.success) throw new Error(`newcert failed: ${JSON.stringify(body.errors)}`);
  return body.result.certificate as string;
}

function serialOf(pem: string) {
  // Node drops a leading zero nibble; openssl prints whole octets.
  const printed = new X509Certificate(pem).serialNumber;
  const hex = printed.length % 2 ? `0${printed}` : printed;
  return { hex, decimal: BigInt(`0x${hex}`).toString(10) };
}

async function revoke(app: TestApp["app"], body: object, token = adminToken) {
  const response = await app.inject({
    method: "POST",
    url: "/api/v1/cfssl/revoke",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    payload: JSON.stringify(body),
  });
  return { status: response.statusCode, body: response.json() };
}

async function crlPem(app: TestApp["app"], dir: string, name: string): Promise<string> {
  const response = await app.inject({ method: "GET", url: "/crl/default.crl" });
  if (response.statusCode !== 200) throw new Error(`GET /crl/default.crl: ${response.statusCode}`);
  const der = join(dir, `${name}.der`);
  writeFileSync(der, response.rawPayload);
  const converted = openssl(["crl", "-inform", "DER", "-in", der, "-out", join(dir, `${name}.pem`)]);
  if (converted.status !== 0) throw new Error(converted.stderr);
  return join(dir, `${name}.pem`);
}

t.test("revoke, then the CRL and openssl verify -crl_check see it", async (t) => {
  const ctx = await testApp(t, { adminToken });
  const caFile = writeFile(ctx.dir, "ca.pem", ctx.caPem);
  const revokedPem = await newCert(ctx.app, "leaked.internal");
  const goodPem = await newCert(ctx.app, "fine.internal");
  const revokedFile = writeFile(ctx.dir, "leaked.pem", revokedPem);
  const goodFile = writeFile(ctx.dir, "fine.pem", goodPem);
  const serial = serialOf(revokedPem);

  // Admin-only once authentication exists.
  const anonymous = await post(ctx.app, "revoke", { serial: serial.decimal, reason: "keyCompromise" });
  t.equal(anonymous.status, 401);
  t.equal((await revoke(ctx.app, { serial: serial.decimal }, "wrong-token-wrong-token-123")).status, 403);

  // The serial as openssl prints it (hex with colons, lower case) and the key id in upper case.
  const colons = serial.hex.toLowerCase().match(/../g)!.join(":");
  const first = await revoke(ctx.app, { serial: colons, authority_key_id: ctx.ca.subjectKeyId.toUpperCase(), reason: "keyCompromise" });
  t.equal(first.status, 200, JSON.stringify(first.body));
  t.equal(first.body.result.status, "revoked");
  t.equal(first.body.result.reason, "keyCompromise");
  t.equal(first.body.result.serial_number, serial.decimal);
  const revokedAt = first.body.result.revoked_at;
  t.ok(revokedAt);

  // Idempotent: the first revocation stands.
  const again = await revoke(ctx.app, { serial: serial.decimal, reason: "superseded" });
  t.equal(again.status, 200);
  t.equal(again.body.result.revoked_at, revokedAt);
  t.equal(again.body.result.reason, "keyCompromise");
  t.match(again.body.messages[0].message, /already revoked/);

  t.equal((await revoke(ctx.app, { serial: "0x0102030405" })).status, 404, "unknown serial");
  const badReason = await revoke(ctx.app, { serial: serial.decimal, reason: "stolen" });
  t.equal(badReason.status, 400);
  t.match(badReason.body.errors[0].message, /keyCompromise/);
  t.equal((await revoke(ctx.app, { serial: "not a serial" })).status, 400);

  const crlFile = await crlPem(ctx.app, ctx.dir, "crl");
  const verified = openssl(["crl", "-in", crlFile, "-CAfile", caFile, "-noout"]);
  t.equal(verified.status, 0, verified.stderr);
  t.match(verified.stderr + verified.stdout, /verify OK/);
  const text = openssl(["crl", "-in", crlFile, "-noout", "-text"]).stdout;
  t.match(text, new RegExp(`Serial Number: ${serial.hex}`, "i"));
  t.match(text, /Key Compromise/);
  t.notMatch(text, new RegExp(`Serial Number: ${serialOf(goodPem).hex}`, "i"));

  const revokedCheck = openssl(["verify", "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile, revokedFile]);
  t.not(revokedCheck.status, 0);
  t.match(revokedCheck.stdout + revokedCheck.stderr, /certificate revoked/);
  const goodCheck = openssl(["verify", "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile, goodFile]);
  t.equal(goodCheck.status, 0, goodCheck.stderr);

  // cfssl's endpoint: base64 DER in the envelope, same issuer and serials, a higher number.
  const cfssl = await ctx.app.inject({ method: "GET", url: "/api/v1/cfssl/crl?expiry=24h" });
  t.equal(cfssl.statusCode, 200);
  const b64 = cfssl.json().result as string;
  const cfsslDer = join(ctx.dir, "cfssl.crl");
  writeFileSync(cfsslDer, Buffer.from(b64, "base64"));
  const cfsslCheck = openssl(["crl", "-inform", "DER", "-in", cfsslDer, "-CAfile", caFile, "-noout", "-text"]);
  t.equal(cfsslCheck.status, 0, cfsslCheck.stderr);
  t.match(cfsslCheck.stdout, new RegExp(`Serial Number: ${serial.hex}`, "i"));
  const number = (s: string) => Number(/X509v3 CRL Number:\s*\n\s*(\d+)/.exec(s)![1]);
  t.ok(number(cfsslCheck.stdout) > number(text), "every CRL made takes a higher number");
  t.equal((await ctx.app.inject({ method: "GET", url: "/api/v1/cfssl/crl?expiry=soon" })).statusCode, 400);
  t.equal((await ctx.app.inject({ method: "GET", url: "/crl/other.crl" })).statusCode, 404);
});

t.test("the OCSP responder answers good, revoked and unknown, echoing the nonce; openssl verifies it", async (t) => {
  const ctx = await testApp(t, { adminToken });
  const caFile = writeFile(ctx.dir, "ca.pem", ctx.caPem);
  const revokedFile = writeFile(ctx.dir, "revoked.pem", await newCert(ctx.app, "gone.internal"));
  const goodFile = writeFile(ctx.dir, "good.pem", await newCert(ctx.app, "here.internal"));
  t.equal((await revoke(ctx.app, { serial: serialOf(readFileSync(revokedFile, "utf8")).decimal, reason: "superseded" })).status, 200);

  async function ask(certArgs: string[], name: string, method: "GET" | "POST", extra: string[] = []) {
    const reqFile = join(ctx.dir, `${name}.req`);
    const made = openssl(["ocsp", "-issuer", caFile, ...certArgs, "-reqout", reqFile, ...extra]);
    if (made.status !== 0) throw new Error(made.stderr);
    const der = readFileSync(reqFile);
    const response =
      method === "POST"
        ? await ctx.app.inject({ method: "POST", url: "/ocsp", headers: { "content-type": "application/ocsp-request" }, payload: der })
        : await ctx.app.inject({ method: "GET", url: `/ocsp/${encodeURIComponent(der.toString("base64"))}` });
    t.equal(response.statusCode, 200);
    t.equal(response.headers["content-type"], "application/ocsp-response");
    const respFile = join(ctx.dir, `${name}.resp`);
    writeFileSync(respFile, response.rawPayload);
    // The request is read back (-reqin), not made again from -cert, so its nonce is the one checked.
    return openssl(["ocsp", "-respin", respFile, "-reqin", reqFile, "-issuer", caFile, "-CAfile", caFile, "-resp_text"]);
  }

  const good = await ask(["-cert", goodFile], "good", "POST");
  t.equal(good.status, 0, good.stderr);
  t.match(good.stderr, /Response verify OK/);
  t.match(good.stdout, /Cert Status: good/);
  t.match(good.stdout, /Response Extensions:\s*\n\s*OCSP Nonce/);

  const revoked = await ask(["-cert", revokedFile], "revoked", "GET");
  t.equal(revoked.status, 0, revoked.stderr);
  t.match(revoked.stderr, /Response verify OK/);
  t.match(revoked.stdout, /Cert Status: revoked/);
  t.match(revoked.stdout, /Revocation Reason: superseded/);

  const unknown = await ask(["-serial", "0x0A0B0C0D0E0F"], "unknown", "POST", ["-no_nonce"]);
  t.equal(unknown.status, 0, unknown.stderr);
  t.match(unknown.stderr, /Response verify OK/);
  t.match(unknown.stdout, /Cert Status: unknown/);
  t.notMatch(unknown.stdout, /OCSP Nonce/, "no nonce asked, none sent");

  const garbage = await ctx.app.inject({ method: "POST", url: "/ocsp", headers: { "content-type": "application/ocsp-request" }, payload: Buffer.from("not der") });
  t.equal(garbage.statusCode, 200);
  t.same([...garbage.rawPayload], [0x30, 0x03, 0x0a, 0x01, 0x01], "malformedRequest");
});

t.test("OCSP answers fetched by GET carry RFC 5019's caching headers; POST, unknown and nonce answers are not cached", async (t) => {
  const ctx = await testApp(t, { adminToken });
  const caFile = writeFile(ctx.dir, "ca.pem", ctx.caPem);
  const goodFile = writeFile(ctx.dir, "good.pem", await newCert(ctx.app, "cached.internal"));
  const request = (name: string, args: string[]) => {
    const reqFile = join(ctx.dir, `${name}.req`);
    const made = openssl(["ocsp", "-issuer", caFile, ...args, "-reqout", reqFile]);
    if (made.status !== 0) throw new Error(made.stderr);
    return readFileSync(reqFile);
  };
  const get = (der: Buffer) => ctx.app.inject({ method: "GET", url: `/ocsp/${encodeURIComponent(der.toString("base64"))}` });
  const good = await get(request("good", ["-cert", goodFile, "-no_nonce"]));
  t.equal(good.statusCode, 200);
  const lastModified = Date.parse(String(good.headers["last-modified"]));
  const expires = Date.parse(String(good.headers.expires));
  t.equal(expires - lastModified, 3_600_000, "Expires is nextUpdate, Last-Modified thisUpdate: an hour apart");
  t.ok(Math.abs(lastModified - Date.now()) < 5_000, "thisUpdate is now");
  const maxAge = Number(/^max-age=(\d+), public, no-transform, must-revalidate$/.exec(String(good.headers["cache-control"]))?.[1]);
  t.ok(maxAge > 3590 && maxAge <= 3600, `max-age is the seconds left: ${good.headers["cache-control"]}`);
  t.equal(good.headers.etag, `"${createHash("sha1").update(good.rawPayload).digest("hex")}"`, "ETag: the SHA-1 of the answer's bytes");
  const respFile = writeFile(ctx.dir, "good.resp", "");
  writeFileSync(respFile, good.rawPayload);
  const checked = openssl(["ocsp", "-respin", respFile, "-issuer", caFile, "-CAfile", caFile, "-cert", goodFile, "-resp_text"]);
  t.match(checked.stdout, /This Update: .*\n\s*Next Update: /, "the answer's own window, which the headers repeat");

  const withNonce = await get(request("nonce", ["-cert", goodFile]));
  t.equal(withNonce.headers["cache-control"], "no-cache, no-store", "an answer echoing a nonce is for one client");
  const unknown = await get(request("unknown", ["-serial", "0x0A0B0C0D0E0F", "-no_nonce"]));
  t.equal(unknown.headers["cache-control"], "no-cache, no-store", "unknown says nothing of how long it holds");
  t.equal(unknown.headers.etag, undefined);
  const posted = await ctx.app.inject({ method: "POST", url: "/ocsp", headers: { "content-type": "application/ocsp-request" }, payload: request("post", ["-cert", goodFile, "-no_nonce"]) });
  t.equal(posted.headers["cache-control"], "no-cache, no-store", "POST answers are not cacheable (RFC 5019 5)");
});

t.test("the inventory lists with filters and pages, and finds one certificate by serial", async (t) => {
  let now = new Date();
  const ctx = await testApp(t, { adminToken, clock: () => now });
  const pems: string[] = [];
  for (const cn of ["alpha.internal", "beta.internal", "gamma.internal", "delta.example.com"]) pems.push(await newCert(ctx.app, cn));
  const auth = { authorization: `Bearer ${adminToken}` };
  const list = async (query: string) => {
    const response = await ctx.app.inject({ method: "GET", url: `/api/v1/certificates${query}`, headers: auth });
    return { status: response.statusCode, body: response.json() };
  };

  t.equal((await ctx.app.inject({ method: "GET", url: "/api/v1/certificates" })).statusCode, 401, "admin only once auth exists");
  const all = await list("");
  t.equal(all.status, 200);
  t.same(all.body.result.certificates.map((c: { common_name: string }) => c.common_name), ["delta.example.com", "gamma.internal", "beta.internal", "alpha.internal"], "newest first");
  t.equal(all.body.result.next_cursor, null);
  t.equal(all.body.result.certificates[0].status, "good");
  t.notOk("pem" in all.body.result.certificates[0], "no PEMs in lists");

  const page1 = await list("?limit=3");
  t.equal(page1.body.result.certificates.length, 3);
  const page2 = await list(`?limit=3&cursor=${page1.body.result.next_cursor}`);
  t.same(page2.body.result.certificates.map((c: { common_name: string }) => c.common_name), ["alpha.internal"]);
  t.equal(page2.body.result.next_cursor, null);

  t.same((await list("?q=EXAMPLE")).body.result.certificates.map((c: { common_name: string }) => c.common_name), ["delta.example.com"]);
  t.equal((await list("?profile=server")).body.result.certificates.length, 4);
  t.equal((await list("?profile=client")).body.result.certificates.length, 0);

  const beta = serialOf(pems[1]!);
  await revoke(ctx.app, { serial: beta.decimal, reason: "cessationOfOperation" });
  t.same((await list("?status=revoked")).body.result.certificates.map((c: { common_name: string }) => c.common_name), ["beta.internal"]);
  t.equal((await list("?status=good")).body.result.certificates.length, 3);

  // The server profile's certificates live a year: within 400 days they all expire, within 30 none.
  t.equal((await list("?expiring_within=400d")).body.result.certificates.length, 4);
  t.equal((await list("?expiring_within=720h")).body.result.certificates.length, 0);
  t.equal((await list(`?issued_after=${encodeURIComponent(new Date(now.getTime() + 1000).toISOString())}`)).body.result.certificates.length, 0);
  t.equal((await list(`?issued_before=${encodeURIComponent(new Date(now.getTime() + 1000).toISOString())}`)).body.result.certificates.length, 4);

  for (const bad of ["?status=bogus", "?expiring_within=soon", "?issued_after=yesterday", "?limit=0", "?limit=5000", "?cursor=zzz"]) {
    const answer = await list(bad);
    t.equal(answer.status, 400, bad);
    t.equal(answer.body.success, false);
  }

  // One certificate: decimal, hex as openssl prints it, any case, colons.
  for (const form of [beta.decimal, beta.hex, beta.hex.toLowerCase(), `serial=${beta.hex}`, beta.hex.match(/../g)!.join(":")]) {
    const one = await ctx.app.inject({ method: "GET", url: `/api/v1/certificates/${encodeURIComponent(form)}`, headers: auth });
    t.equal(one.statusCode, 200, form);
    const result = one.json().result;
    t.equal(result.common_name, "beta.internal");
    t.equal(result.status, "revoked");
    t.equal(result.reason, "cessationOfOperation");
    t.equal(result.pem, pems[1]);
  }
  t.equal((await ctx.app.inject({ method: "GET", url: "/api/v1/certificates/0x01", headers: auth })).statusCode, 404);

  // Time passes: two years on, all four have expired; tidy removes what expired more than 30 days ago.
  now = new Date(now.getTime() + 2 * 365 * 86_400_000);
  t.equal((await list("?status=expired")).body.result.certificates.length, 3, "revoked ones stay revoked");
  const tidy = await ctx.app.inject({ method: "POST", url: "/api/v1/certificates/tidy", headers: { ...auth, "content-type": "application/json" }, payload: { older_than: "30d" } });
  t.equal(tidy.statusCode, 200);
  t.equal(tidy.json().result.removed, 4);
  t.equal((await list("")).body.result.certificates.length, 0);
});

t.test("tidy never touches an unexpired certificate", async (t) => {
  const ctx = await testApp(t);
  await newCert(ctx.app, "young.internal");
  const tidy = await ctx.app.inject({ method: "POST", url: "/api/v1/certificates/tidy", headers: { "content-type": "application/json" }, payload: { older_than: "1s" } });
  t.equal(tidy.json().result.removed, 0);
  t.equal(ctx.store.count(), 1);
  const bad = await ctx.app.inject({ method: "POST", url: "/api/v1/certificates/tidy", headers: { "content-type": "application/json" }, payload: { older_than: "-5d" } });
  t.equal(bad.statusCode, 400);
});

t.test("cfssl's ocspsign signs the status it is given, for certificates of this CA only", async (t) => {
  const ctx = await testApp(t, { adminToken });
  const caFile = writeFile(ctx.dir, "ca.pem", ctx.caPem);
  const pem = await newCert(ctx.app, "signed.internal");
  const certFile = writeFile(ctx.dir, "signed.pem", pem);
  const ocspSign = (body: object) =>
    ctx.app.inject({
      method: "POST",
      url: "/api/v1/cfssl/ocspsign",
      headers: { "content-type": "application/json", authorization: `Bearer ${adminToken}` },
      payload: JSON.stringify(body),
    });

  for (const [body, expected] of [
    [{ certificate: pem }, /Cert Status: good/],
    [{ certificate: pem, status: "revoked", reason: 1, revoked_at: "2026-01-02T03:04:05Z", issuer_hash: "sha256" }, /Cert Status: revoked[\s\S]*Revocation Time: Jan {2}2 03:04:05 2026 GMT[\s\S]*Revocation Reason: keyCompromise/],
    [{ certificate: pem, status: "unknown" }, /Cert Status: unknown/],
  ] as const) {
    const answer = await ocspSign(body);
    t.equal(answer.statusCode, 200, answer.body);
    const file = join(ctx.dir, "signed.resp");
    writeFileSync(file, Buffer.from(answer.json().result.ocspResponse, "base64"));
    const check = openssl(["ocsp", "-respin", file, "-issuer", caFile, "-CAfile", caFile, "-resp_text"]);
    t.equal(check.status, 0, check.stderr);
    t.match(check.stderr, /Response verify OK/);
    t.match(check.stdout, expected);
  }
  const withCert = openssl(["ocsp", "-respin", join(ctx.dir, "signed.resp"), "-issuer", caFile, "-CAfile", caFile, "-cert", certFile]);
  t.match(withCert.stdout + withCert.stderr, /signed.pem/, "the CertID names the certificate openssl asks about");

  const foreign = await ocspSign({ certificate: (await makeCa()).certificate });
  t.equal(foreign.statusCode, 400, "another CA's certificate");
  t.equal((await ocspSign({ certificate: "not a certificate" })).statusCode, 400);
  t.equal((await ocspSign({ certificate: pem, issuer_hash: "md5" })).statusCode, 400);
  const anonymous = await ctx.app.inject({ method: "POST", url: "/api/v1/cfssl/ocspsign", headers: { "content-type": "application/json" }, payload: { certificate: pem } });
  t.equal(anonymous.statusCode, 401);
});
