// A replica pointed at a PostgreSQL hot standby (pg_is_in_recovery()): it starts without migrating,
// serves what is read (OCSP, the CRL, info, certinfo, the inventory), refuses issuance and
// revocation with 503 saying it is a standby, reports not ready, and once the standby is promoted
// the same process issues again by itself.
import { join } from "node:path";
import pg from "pg";
import t from "tap";
import { postgresSkip, startPostgres } from "../helpers/postgres.js";
import { decimalSerial, oneLine, runCli, startService, tempDir } from "../helpers/server.js";
import { crlSerials, getJson, makeOpensslCa, ocspStatus, opensslCsr, pemFile, postBody, serialHex } from "../helpers/service-checks.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The database's name in a URL, to reach the same database on another server. */
const databaseName = (url: string) => new URL(url).pathname.slice(1);

async function queryOne<T>(url: string, sql: string, values: unknown[] = []): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, values)).rows[0] as T;
  } finally {
    await client.end();
  }
}

/** Polls until `check` holds (replication and the monitor are asynchronous); false at the deadline. */
async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
}

t.test("a replica on a hot standby serves the reads, refuses the writes, and issues once the standby is promoted", { skip: postgresSkip }, async (t) => {
  const dir = tempDir(t);
  const ca = makeOpensslCa(dir);
  const cluster = await startPostgres(t);
  const primaryUrl = await cluster.createDatabase();
  // Never migrated: on the standby it is a schema older than this code's, which a replica cannot fix.
  const unmigratedUrl = await cluster.createDatabase("unmigrated");
  let services = 0;
  // A data directory each: one service holds its directory's lock.
  const serve = (url: string) => startService(t, { cwd: dir, args: ["--data-dir", join(dir, `data-${++services}`), "--ca", ca.cert, "--ca-key", ca.key, "--workers", "1", "--database", url] });

  const primary = await serve(primaryUrl);
  const standby = await cluster.startStandby(t);
  const standbyUrl = standby.url(databaseName(primaryUrl));

  const issued: string[] = [];
  for (const cn of ["one.internal", "two.internal", "three.internal"]) {
    const answer = await postBody(`${primary.api}/newcert`, { request: { CN: cn, hosts: [cn] }, profile: "server" });
    t.equal(answer.status, 200, JSON.stringify(answer.body.errors));
    issued.push(answer.body.result.certificate);
  }
  const files = issued.map((pem, i) => pemFile(dir, `cert-${i}.pem`, pem));
  const described = await postBody(`${primary.api}/certinfo`, { certificate: issued[1] });
  const revokedSerial: string = described.body.result.serial_number;
  const aki: string = described.body.result.authority_key_id;
  const goodSerial = decimalSerial(serialHex(issued[0]!));
  const revoked = await postBody(`${primary.api}/revoke`, { serial: revokedSerial, authority_key_id: aki, reason: "keyCompromise" });
  t.equal(revoked.status, 200, JSON.stringify(revoked.body.errors));
  // The primary's replica publishes each CRL it signs: the one a standby's replica serves.
  t.same(await crlSerials(primary.url, dir, ca), [serialHex(issued[1]!)]);
  t.ok(
    await eventually(async () => (await queryOne<{ n: string }>(standbyUrl, "SELECT count(*) AS n FROM crls")).n === "1", 10_000),
    "the revocation and the CRL reached the standby",
  );

  const replica = await serve(standbyUrl);
  // Logged before the listen; the log stream may reach the pipe a moment after the first answer.
  t.ok(await eventually(async () => /hot standby/.test(replica.stdout() + replica.stderr()), 5_000), "the start says it is on a standby");
  t.equal((await queryOne<{ standby: boolean }>(standbyUrl, "SELECT pg_is_in_recovery() AS standby")).standby, true);

  await t.test("the reads are served", async (t) => {
    const good = await ocspStatus(replica.url, ca, files[0]!);
    t.equal(good.status, "good", good.text);
    t.ok(good.verified);
    const bad = await ocspStatus(replica.url, ca, files[1]!);
    t.equal(bad.status, "revoked", bad.text);
    t.match(bad.text, /Reason: keyCompromise/);

    // A standby cannot take a CRL number (a write): it serves the newest CRL the primary's replicas published.
    const crl = await fetch(`${replica.url}/crl/default.crl`);
    t.equal(crl.status, 200, `the CRL: ${crl.status === 200 ? "" : await crl.text()}`);
    t.same(await crlSerials(replica.url, dir, ca), [serialHex(issued[1]!)], "the primary's CRL, verified against the CA");

    const info = await postBody(`${replica.api}/info`, {});
    t.equal(info.status, 200, JSON.stringify(info.body.errors));
    t.match(info.body.result.certificate, /BEGIN CERTIFICATE/);

    const certinfo = await postBody(`${replica.api}/certinfo`, { serial: revokedSerial, authority_key_id: aki });
    t.equal(certinfo.status, 200, JSON.stringify(certinfo.body.errors));
    t.equal(certinfo.body.result.pem.trim(), issued[1]!.trim());

    const list = await getJson(`${replica.url}/api/v1/certificates?limit=2`);
    t.equal(list.status, 200, JSON.stringify(list.body.errors));
    t.same(
      list.body.result.certificates.map((c: { common_name: string }) => c.common_name),
      ["three.internal", "two.internal"],
    );
    const next = await getJson(`${replica.url}/api/v1/certificates?limit=2&cursor=${encodeURIComponent(list.body.result.next_cursor)}`);
    t.same(
      next.body.result.certificates.map((c: { common_name: string }) => c.common_name),
      ["one.internal"],
    );
    const one = await getJson(`${replica.url}/api/v1/certificates/${revokedSerial}`);
    t.equal(one.body.result?.status, "revoked");

    const overview = await getJson(`${replica.url}/api/v1/admin/overview`);
    t.equal(overview.status, 200, JSON.stringify(overview.body.errors));
    t.same(overview.body.result?.counts, { good: 2, revoked: 1, expired: 0 });
    const metrics = await fetch(`${replica.url}/metrics`);
    t.equal(metrics.status, 200);
    t.match(await metrics.text(), /^certwright_certificates_expiring\{within="30d"\} 0$/m);
  });

  await t.test("the writes are refused with 503, saying it is a standby", async (t) => {
    const newcert = await postBody(`${replica.api}/newcert`, { request: { CN: "refused.internal", hosts: ["refused.internal"] }, profile: "server" });
    t.equal(newcert.status, 503);
    t.equal(newcert.body.errors[0]?.code, 11100);
    t.match(newcert.body.errors[0]?.message, /standby/);
    const sign = await postBody(`${replica.api}/sign`, { certificate_request: opensslCsr(dir, "csr.internal"), profile: "server" });
    t.equal(sign.status, 503);
    t.equal(sign.body.errors[0]?.code, 11100);
    t.match(sign.body.errors[0]?.message, /standby/);
    const revoke = await postBody(`${replica.api}/revoke`, { serial: goodSerial, authority_key_id: aki });
    t.equal(revoke.status, 503);
    t.equal(revoke.body.errors[0]?.code, 12200);
    t.match(revoke.body.errors[0]?.message, /standby/);
    const tidy = await postBody(`${replica.url}/api/v1/certificates/tidy`, { older_than: "1h" });
    t.equal(tidy.status, 503, "tidy is a write too");
    t.equal(tidy.body.errors[0]?.code, 12200);
    const ready = await getJson(`${replica.url}/api/v1/ready`);
    t.equal(ready.status, 503);
    t.match(ready.body.errors[0]?.message, /standby/);
  });

  await t.test("with --rate-limit, whose windows are counted in the database, the reads are still served", async (t) => {
    const limited = await startService(t, {
      cwd: dir,
      args: ["--data-dir", join(dir, "data-limited"), "--ca", ca.cert, "--ca-key", ca.key, "--workers", "1", "--database", standbyUrl, "--rate-limit", "60/m"],
    });
    const list = await getJson(`${limited.url}/api/v1/certificates`);
    t.equal(list.status, 200, JSON.stringify(list.body.errors));
    const info = await postBody(`${limited.api}/info`, {});
    t.equal(info.status, 200, JSON.stringify(info.body.errors));
    await limited.stop("SIGTERM");
  });

  await t.test("after promotion the same process issues, into the promoted database", async (t) => {
    standby.promote();
    const promotedAt = Date.now();
    let answer: Awaited<ReturnType<typeof postBody>> | undefined;
    const issuing = await eventually(async () => {
      answer = await postBody(`${replica.api}/newcert`, { request: { CN: "promoted.internal", hosts: ["promoted.internal"] }, profile: "server" });
      return answer.status === 200;
    }, 10_000);
    t.ok(issuing, `issues after promotion (last answer: ${JSON.stringify(answer?.body.errors)})`);
    t.ok(Date.now() - promotedAt < 5_000, `within a few seconds (${Date.now() - promotedAt} ms)`);
    const row = await queryOne<{ n: string }>(standbyUrl, "SELECT count(*) AS n FROM certificates WHERE common_name = 'promoted.internal'");
    t.equal(row.n, "1", "the certificate is recorded in the promoted database");
    t.equal((await getJson(`${replica.url}/api/v1/ready`)).status, 200, "ready again");
    const revoke = await postBody(`${replica.api}/revoke`, { serial: goodSerial, authority_key_id: aki });
    t.equal(revoke.status, 200, "and revokes");
    t.same(new Set(await crlSerials(replica.url, dir, ca)), new Set([serialHex(issued[0]!), serialHex(issued[1]!)]), "and signs CRLs, listing both revocations");
  });

  await t.test("a standby at an older schema than the code's refuses the start in one line", async (t) => {
    // The unmigrated database was copied by the base backup; the standby is now a primary, so take a fresh one.
    const second = await cluster.startStandby(t);
    const result = await runCli(t, ["serve", "--port", "0", "--data-dir", join(dir, "data-refused"), "--ca", ca.cert, "--ca-key", ca.key, "--workers", "1", "--database", second.url(databaseName(unmigratedUrl))], { cwd: dir, timeoutMs: 20_000 });
    t.equal(result.code, 1, result.stderr);
    oneLine(t, result.stderr);
    t.match(result.stderr, /hot standby at schema version 0, older than/);
  });
});
