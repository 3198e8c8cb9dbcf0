// The operator's commands end to end: `certwright list` over the service's inventory (filters,
// --all through the cursors) and `certwright revoke` by decimal and hex serial and by certificate
// file, checked in the CRL with openssl; then against a service that wants the admin token.
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { client } from "../helpers/client.js";
import { authorityKeyId, mustOpenssl, postJson, startService, tempDir, writeFile } from "../helpers/server.js";

interface Issued {
  cn: string;
  pem: string;
  /** Upper-case hex, as openssl x509 -serial prints it. */
  hex: string;
  decimal: string;
}

async function issue(api: string, cn: string, profile: string, extra: Record<string, unknown> = {}): Promise<Issued> {
  const answer = await postJson(api, "newcert", { request: { CN: cn, hosts: [cn, `alt.${cn}`] }, profile, ...extra });
  if (answer.status !== 200) throw new Error(`newcert ${cn}: ${JSON.stringify(answer.body)}`);
  const pem: string = answer.body.result.certificate;
  const serialHex = new X509Certificate(pem).serialNumber.toUpperCase();
  return { cn, pem, hex: serialHex, decimal: BigInt(`0x${serialHex}`).toString(10) };
}

/** The JSON lines of `list --json`. */
const records = (stdout: string) =>
  stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as { serial_hex: string; serial_number: string; common_name: string; status: string; reason?: string; profile: string });

const sameSerial = (a: string, b: string) => BigInt(`0x${a}`) === BigInt(`0x${b}`);

t.test("an open service: list with filters and pages, revoke by serial and by file, the CRL lists them", async (t) => {
  const cwd = tempDir(t, "certwright-revoke-list-");
  const service = await startService(t, { cwd, args: ["--workers", "1", "--log-level", "warn"] });
  const remote = service.url;
  const caFile = join(cwd, "data", "ca.pem");

  const web = await issue(service.api, "web.internal", "server");
  const api = await issue(service.api, "api.internal", "client");
  const soon = await issue(service.api, "soon.internal", "server", { expiry: "240h" });
  const newestFirst = [soon, api, web];

  t.test("--help lists the flags and exit codes; bad usage exits 2", async (t) => {
    for (const command of ["revoke", "list"]) {
      const help = await client(t, [command, "--help"], { cwd });
      t.equal(help.code, 0);
      t.match(help.stdout, new RegExp(`^Usage: certwright ${command} --remote URL`));
      t.match(help.stdout, /--admin-token-file FILE/);
      t.match(help.stdout, /\nExit codes: 0 .*1 failed.*2 bad usage/s);
    }
    const top = await client(t, ["help"], { cwd });
    t.match(top.stdout, /\n {2}revoke /);
    t.match(top.stdout, /\n {2}list /);

    const usage: [string[], RegExp][] = [
      [["revoke", "--remote", remote], /give the certificate to revoke: --serial SERIAL or --cert FILE/],
      [["revoke", "--remote", remote, "--serial", web.decimal, "--cert", "x.pem"], /--serial SERIAL or --cert FILE, not both/],
      [["revoke", "--remote", remote, "--serial", "not-a-serial"], /--serial: "not-a-serial" is not a serial number/],
      [["revoke", "--remote", remote, "--serial", web.decimal, "--reason", "tired"], /--reason: "tired" is not a revocation reason; accepted: unspecified, keyCompromise/],
      [["revoke", "--remote", remote, "--serial", web.decimal, "--authority-key-id", "xyz"], /--authority-key-id: "xyz" is not a key id/],
      [["revoke", "--serial", web.decimal], /--remote URL is required/],
      [["list", "--remote", remote, "--status", "valid"], /--status: "valid" is not good, revoked or expired/],
      [["list", "--remote", remote, "--expiring-within", "soon"], /--expiring-within: "soon" is not a duration/],
      [["list", "--remote", remote, "--issued-after", "yesterday"], /--issued-after: "yesterday" is not a time/],
      [["list", "--remote", remote, "--limit", "0"], /--limit: "0" is not a page size from 1 to 1000/],
      [["list", "--remote", remote, "extra"], /unexpected argument "extra"/],
    ];
    for (const [args, message] of usage) {
      const run = await client(t, args, { cwd });
      t.equal(run.code, 2, args.join(" "));
      t.match(run.stderr, message, args.join(" "));
      t.equal(run.stdout, "", "nothing on stdout");
    }
  });

  t.test("list: the table, JSON lines and the filters", async (t) => {
    const table = await client(t, ["list", "--remote", remote], { cwd });
    t.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split("\n");
    t.match(lines[0], /^SERIAL +STATUS +NOT AFTER +PROFILE +CN +SANS$/);
    t.equal(lines.length, 4, "a header and one row each");
    newestFirst.forEach((issued, i) => {
      const cells = lines[i + 1]!.split(/ {2,}/);
      t.ok(sameSerial(cells[0]!, issued.hex), `row ${i + 1} is ${issued.cn}, newest first`);
      t.equal(cells[1], "good");
      t.equal(cells[2], new Date(new X509Certificate(issued.pem).validTo).toISOString().replace(/\.000Z$/, "Z"), "NotAfter");
      t.equal(cells[4], issued.cn);
      t.equal(cells[5], `${issued.cn},alt.${issued.cn}`);
    });
    t.match(lines[2], /\bclient\b/, "the profile column");

    const json = await client(t, ["list", "--remote", remote, "--json"], { cwd });
    t.equal(json.code, 0, json.stderr);
    t.same(
      records(json.stdout).map((r) => r.serial_number),
      newestFirst.map((i) => i.decimal),
      "one JSON record per line, newest first",
    );

    const only = async (args: string[]) => {
      const run = await client(t, ["list", "--remote", remote, "--json", ...args], { cwd });
      t.equal(run.code, 0, run.stderr);
      return records(run.stdout).map((r) => r.common_name);
    };
    t.same(await only(["--profile", "client"]), ["api.internal"], "--profile");
    t.same(await only(["--q", "API.INT"]), ["api.internal"], "--q, any case");
    t.same(await only(["--q", "alt.web"]), ["web.internal"], "--q finds SANs");
    t.same(await only(["--expiring-within", "30d"]), ["soon.internal"], "what expires in the next 30 days");
    t.same(await only(["--expiring-within", "30d", "--status", "good", "--profile", "server"]), ["soon.internal"], "filters combine");
    t.same(await only(["--status", "expired"]), [], "none expired");
    t.same(await only(["--issued-after", "2000-01-01", "--issued-before", "2999-01-01T00:00:00Z"]), ["soon.internal", "api.internal", "web.internal"]);
    t.same(await only(["--label", "other"]), [], "--label");

    const none = await client(t, ["list", "--remote", remote, "--issued-after", "2999-01-01"], { cwd });
    t.equal(none.code, 0, "nothing matching is a success");
    t.equal(none.stdout, "");
    t.match(none.stderr, /^certwright: list: no certificate matches\n$/);
  });

  t.test("list --limit 1 shows one page; --all follows the cursors", async (t) => {
    const page = await client(t, ["list", "--remote", remote, "--json", "--limit", "1"], { cwd });
    t.equal(page.code, 0, page.stderr);
    t.same(records(page.stdout).map((r) => r.common_name), ["soon.internal"]);
    t.match(page.stderr, /certwright: list: more certificates match beyond this page of 1; --all lists them all/);

    const all = await client(t, ["list", "--remote", remote, "--json", "--limit", "1", "--all"], { cwd });
    t.equal(all.code, 0, all.stderr);
    t.equal(all.stderr, "");
    t.same(
      records(all.stdout).map((r) => r.serial_number),
      newestFirst.map((i) => i.decimal),
      "three pages of one, in order, none twice",
    );
    const table = await client(t, ["list", "--remote", remote, "--limit", "2", "--all", "--profile", "server"], { cwd });
    t.equal(table.code, 0, table.stderr);
    t.equal(table.stdout.trimEnd().split("\n").length, 3, "two server certificates across pages, one header");
  });

  t.test("revoke by decimal serial, hex serial and certificate file; the CRL and list --status revoked show them", async (t) => {
    const dir = tempDir(t);
    const byDecimal = await client(t, ["revoke", "--remote", remote, "--serial", web.decimal, "--reason", "keyCompromise"], { cwd: dir });
    t.equal(byDecimal.code, 0, byDecimal.stderr);
    t.match(byDecimal.stdout, /^revoked serial ([0-9A-F]+) \(web\.internal, profile server\): keyCompromise at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/);
    t.ok(sameSerial(/serial ([0-9A-F]+)/.exec(byDecimal.stdout)![1]!, web.hex), "the summary names the serial in hex");
    t.equal(byDecimal.stderr, "");

    // openssl's form: upper-case hex; then colons and lower case.
    const opensslSerial = mustOpenssl(["x509", "-noout", "-serial", "-in", writeFile(dir, "soon.pem", soon.pem)]).trim().replace(/^serial=/, "");
    const byHex = await client(t, ["revoke", "--remote", remote, "--serial", opensslSerial, "--reason", "superseded", "--json"], { cwd: dir });
    t.equal(byHex.code, 0, byHex.stderr);
    const record = JSON.parse(byHex.stdout);
    t.equal(record.serial_number, soon.decimal);
    t.equal(record.status, "revoked");
    t.equal(record.reason, "superseded");
    t.equal(record.common_name, "soon.internal");

    const again = await client(t, ["revoke", "--remote", remote, "--serial", opensslSerial.toLowerCase().match(/../g)!.join(":"), "--reason", "unspecified"], {
      cwd: dir,
    });
    t.equal(again.code, 0, "already revoked is a success");
    t.match(again.stdout, /^already revoked serial [0-9A-F]+ \(soon\.internal, profile server\): superseded at .*; nothing changed\n$/, "the first reason is kept");
    const againJson = await client(t, ["revoke", "--remote", remote, "--serial", soon.decimal, "--json"], { cwd: dir });
    t.equal(againJson.code, 0);
    t.equal(JSON.parse(againJson.stdout).reason, "superseded");
    t.match(againJson.stderr, /^certwright: revoke: note: already revoked at .*; nothing changed\n$/);

    const certFile = writeFile(dir, "api.pem", api.pem);
    const byCert = await client(t, ["revoke", "--remote", remote, "--cert", certFile, "--reason", "cessationOfOperation", "--json"], { cwd: dir });
    t.equal(byCert.code, 0, byCert.stderr);
    const byCertRecord = JSON.parse(byCert.stdout);
    t.equal(byCertRecord.serial_number, api.decimal);
    t.equal(byCertRecord.authority_key_id, authorityKeyId(api.pem), "the authority key id came from the certificate");
    t.equal(byCertRecord.reason, "cessationOfOperation");

    const unknown = await client(t, ["revoke", "--remote", remote, "--serial", "0x1234"], { cwd: dir });
    t.equal(unknown.code, 1);
    t.equal(unknown.stdout, "");
    t.match(unknown.stderr, /^certwright: revoke: error 11200: no certificate with serial 0x1234/);
    const otherCa = await client(t, ["revoke", "--remote", remote, "--serial", web.decimal, "--authority-key-id", "00:11:22:33"], { cwd: dir });
    t.equal(otherCa.code, 1);
    t.match(otherCa.stderr, /error 11200: .*authority key id 00112233/);
    writeFileSync(join(dir, "junk.pem"), "not a certificate\n");
    const junk = await client(t, ["revoke", "--remote", remote, "--cert", "junk.pem"], { cwd: dir });
    t.equal(junk.code, 1);
    t.match(junk.stderr, /^certwright: revoke: --cert: junk\.pem: no PEM "CERTIFICATE" block found/);
    const missing = await client(t, ["revoke", "--remote", remote, "--cert", "nope.pem"], { cwd: dir });
    t.equal(missing.code, 1);
    t.match(missing.stderr, /--cert: cannot read nope\.pem: no such file/);

    // The CRL from the distribution point names all three, with their reasons.
    const response = await fetch(`${service.url}/crl/default.crl`);
    t.equal(response.status, 200);
    const crlFile = join(dir, "ca.crl");
    writeFileSync(crlFile, Buffer.from(await response.arrayBuffer()));
    const crl = mustOpenssl(["crl", "-inform", "DER", "-in", crlFile, "-CAfile", caFile, "-text"]);
    const listed = [...crl.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]!);
    t.equal(listed.length, 3, "three revoked certificates in the CRL");
    for (const issued of [web, soon, api]) t.ok(listed.some((s) => sameSerial(s, issued.hex)), `${issued.cn} is in the CRL`);
    t.match(crl, /Key Compromise/);
    t.match(crl, /Superseded/);
    t.match(crl, /Cessation Of Operation/);

    const revoked = await client(t, ["list", "--remote", remote, "--status", "revoked", "--json"], { cwd: dir });
    t.equal(revoked.code, 0, revoked.stderr);
    t.same(records(revoked.stdout).map((r) => r.common_name).sort(), ["api.internal", "soon.internal", "web.internal"]);
    const table = await client(t, ["list", "--remote", remote, "--status", "revoked", "--q", "web"], { cwd: dir });
    t.match(table.stdout.split("\n")[1], /^[0-9A-F]+ +revoked +\S+ +server +web\.internal /);
    const good = await client(t, ["list", "--remote", remote, "--status", "good", "--json"], { cwd: dir });
    t.same(records(good.stdout), [], "none good any more");
  });

  t.test("a service that cannot be reached: exit 1, what to check", async (t) => {
    const down = await client(t, ["list", "--remote", "http://127.0.0.1:1"], { cwd });
    t.equal(down.code, 1);
    t.match(down.stderr, /^certwright: list: cannot connect to http:\/\/127\.0\.0\.1:1: connection refused/);
  });
});

t.test("with authentication configured, revoke and list need the admin token", async (t) => {
  const cwd = tempDir(t, "certwright-revoke-admin-");
  const adminToken = "revoke-list-admin-token-0123456789abcdef";
  const usages = ["signing", "key encipherment", "server auth"];
  writeFileSync(
    join(cwd, "ca-config.json"),
    JSON.stringify({
      auth_keys: { ci: { type: "standard", key: "0123456789abcdef0123456789abcdef" } },
      signing: { default: { usages, expiry: "8760h" }, profiles: { secure: { usages, expiry: "720h", auth_key: "ci" } } },
    }),
  );
  const service = await startService(t, {
    cwd,
    args: ["--workers", "1", "--log-level", "warn", "--config", "ca-config.json"],
    env: { CERTWRIGHT_ADMIN_TOKEN: adminToken },
  });
  const remote = service.url;
  const leaked = await issue(service.api, "leaked.internal", "default");

  const revoke = ["revoke", "--remote", remote, "--serial", leaked.hex, "--reason", "keyCompromise"];
  const anonymous = await client(t, revoke, { cwd });
  t.equal(anonymous.code, 1, "no token: refused");
  t.equal(anonymous.stdout, "");
  t.match(anonymous.stderr, /^certwright: revoke: error 13100: this endpoint needs the admin token/);
  t.match(anonymous.stderr, /\ncertwright: revoke: the service requires the admin token: give --admin-token-file FILE or set CERTWRIGHT_ADMIN_TOKEN\n$/);
  const listAnonymous = await client(t, ["list", "--remote", remote], { cwd });
  t.equal(listAnonymous.code, 1);
  t.match(listAnonymous.stderr, /^certwright: certificates: error 13100: /);
  t.match(listAnonymous.stderr, /certwright: list: the service requires the admin token/);

  const wrong = await client(t, revoke, { cwd, env: { CERTWRIGHT_ADMIN_TOKEN: "not-the-admin-token" } });
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /^certwright: revoke: error 13200: the admin token is wrong/);
  const missingFile = await client(t, [...revoke, "--admin-token-file", "nope"], { cwd });
  t.equal(missingFile.code, 2);
  t.match(missingFile.stderr, /--admin-token-file: cannot read nope/);
  writeFileSync(join(cwd, "empty-token"), "\n");
  const empty = await client(t, [...revoke, "--admin-token-file", "empty-token"], { cwd });
  t.equal(empty.code, 2);
  t.match(empty.stderr, /the admin token is empty/);

  const stillGood = await client(t, ["list", "--remote", remote, "--status", "good", "--json"], { cwd, env: { CERTWRIGHT_ADMIN_TOKEN: adminToken } });
  t.equal(stillGood.code, 0, stillGood.stderr);
  t.same(records(stillGood.stdout).map((r) => r.serial_number), [leaked.decimal], "the refusals revoked nothing");

  writeFileSync(join(cwd, "admin-token"), `${adminToken}\n`, { mode: 0o600 });
  const withFile = await client(t, [...revoke, "--admin-token-file", "admin-token"], { cwd });
  t.equal(withFile.code, 0, withFile.stderr);
  t.match(withFile.stdout, /^revoked serial [0-9A-F]+ \(leaked\.internal, profile default\): keyCompromise at /);

  const listed = await client(t, ["list", "--remote", remote, "--status", "revoked", "--json"], { cwd, env: { CERTWRIGHT_ADMIN_TOKEN: adminToken } });
  t.equal(listed.code, 0, listed.stderr);
  const [entry] = records(listed.stdout);
  t.equal(entry?.serial_number, leaked.decimal);
  t.equal(entry?.reason, "keyCompromise");
  const again = await client(t, revoke, { cwd, env: { CERTWRIGHT_ADMIN_TOKEN: adminToken } });
  t.equal(again.code, 0);
  t.match(again.stdout, /^already revoked /);
});
