// The operator console as the app serves it: its files under /ui/ with strict headers (and the API's
// answers without them), and the two reads it adds, the overview and the profiles.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { consoleContentSecurityPolicy } from "../../src/api/console-static.js";
import { overviewReuseMs } from "../../src/authority/inventory-overview.js";
import { GuardStore } from "../../src/store/guard-store.js";
import { root, tempDir, testApp } from "../helpers/app.js";

const day = 86_400_000;

t.test("the console's files are served under /ui/ with strict headers; the API's answers keep theirs", async (t) => {
  const { app } = await testApp(t, { adminToken: "console-admin-token-0123456789" });
  const index = await app.inject({ method: "GET", url: "/ui/" });
  t.equal(index.statusCode, 200, "served without the token: the page asks for it");
  t.match(index.headers["content-type"], /^text\/html/);
  t.match(index.body, /<script type="module" src="app.js"><\/script>/);
  const csp = String(index.headers["content-security-policy"]);
  t.equal(csp, consoleContentSecurityPolicy);
  t.match(csp, /(^|; )default-src 'self'(;|$)/);
  t.match(csp, /(^|; )frame-ancestors 'none'(;|$)/);
  t.notMatch(csp, /unsafe-inline|unsafe-eval/);
  t.equal(index.headers["x-content-type-options"], "nosniff");
  t.equal(index.headers["referrer-policy"], "no-referrer");
  t.equal(index.headers["x-frame-options"], "DENY");

  const script = await app.inject({ method: "GET", url: "/ui/pages/inventory.js" });
  t.equal(script.statusCode, 200);
  t.match(script.headers["content-type"], /javascript/);
  t.equal(script.headers["content-security-policy"], consoleContentSecurityPolicy);
  const style = await app.inject({ method: "GET", url: "/ui/style.css" });
  t.match(style.headers["content-type"], /^text\/css/);

  const bare = await app.inject({ method: "GET", url: "/ui" });
  t.equal(bare.statusCode, 302, "/ui goes to /ui/, where the relative script paths resolve");
  t.equal(bare.headers.location, "/ui/");
  const missing = await app.inject({ method: "GET", url: "/ui/nothing.js" });
  t.equal(missing.statusCode, 404);
  t.equal(missing.json().errors[0].code, 404, "a missing file gets the envelope, as any unknown path");
  const outside = await app.inject({ method: "GET", url: "/ui/../package.json" });
  t.not(outside.statusCode, 200, "nothing outside ui/ is served");

  const data = await app.inject({ method: "GET", url: "/api/v1/admin/overview", headers: { authorization: "Bearer console-admin-token-0123456789" } });
  t.equal(data.statusCode, 200);
  t.equal(data.headers["cache-control"], "no-store", "data answers are never cached");
  t.equal(data.headers["content-security-policy"], undefined, "the console's headers stay on the console");
});

t.test("loading the console's files does not use up a rate-limited client's allowance; its API calls do", async (t) => {
  const store = GuardStore.open(join(tempDir(t), "guard.db"));
  t.teardown(() => store.close());
  const { app } = await testApp(t, { guard: { store, rateLimit: { requests: 2, periodMs: 60_000 } } });
  for (const url of ["/ui", "/ui/", "/ui/app.js", "/ui/api.js", "/ui/dom.js", "/ui/style.css", "/ui/?x=1"]) {
    const response = await app.inject({ method: "GET", url });
    t.ok(response.statusCode < 400, `${url} served`);
  }
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await app.inject({ method: "GET", url: "/api/v1/admin/overview" })).statusCode);
  t.same(statuses, [200, 200, 429]);
});

t.test("the console's own code runs under that policy: no inline script or style, no HTML strings", async (t) => {
  const dir = join(root, "ui");
  const files = readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => /\.(js|html|css)$/.test(f));
  t.ok(files.length >= 5);
  for (const file of files) {
    const text = readFileSync(join(dir, file), "utf8");
    t.notMatch(text, /<script(?![^>]*\bsrc=)[^>]*>/, `${file}: no inline script`);
    t.notMatch(text, /<style|\sstyle=|\.style\./, `${file}: no inline style`);
    t.notMatch(text, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/, `${file}: no markup or code from strings`);
    t.notMatch(text.replaceAll("http://www.w3.org/2000/svg", ""), /https?:\/\//, `${file}: nothing from another origin`);
  }
});

t.test("the overview counts certificates by status and issuance per UTC day, days with none as 0", async (t) => {
  let now = new Date("2026-06-10T12:00:00.000Z");
  const ctx = await testApp(t, { clock: () => now });
  const insert = ctx.store.db.prepare(
    `INSERT INTO certificates (serial_number, authority_key_identifier, profile, status, expiry, pem, issued_at, not_before, sans, common_name)
     VALUES (?, 'aa', 'server', ?, ?, 'PEM', ?, ?, '[]', ?)`,
  );
  const rows: [string, string, Date, Date][] = [
    ["good", "good", new Date(now.getTime() + 30 * day), new Date("2026-06-10T01:00:00.000Z")],
    ["good", "good", new Date(now.getTime() + 30 * day), new Date("2026-06-10T23:59:59.000Z")],
    ["revoked", "revoked", new Date(now.getTime() + 30 * day), new Date("2026-06-08T00:00:00.000Z")],
    ["expired", "good", new Date(now.getTime() - day), new Date("2026-06-01T00:00:00.000Z")],
    ["old", "good", new Date(now.getTime() + day), new Date("2026-01-01T00:00:00.000Z")],
  ];
  for (const [i, [cn, status, expiry, issued]] of rows.entries()) {
    insert.run(String(i + 1), status, expiry.toISOString(), issued.toISOString(), issued.toISOString(), cn);
  }

  const response = await ctx.app.inject({ method: "GET", url: "/api/v1/admin/overview?days=10" });
  t.equal(response.statusCode, 200);
  const { result } = response.json();
  t.same(result.counts, { good: 3, revoked: 1, expired: 1 });
  t.equal(result.issued_per_day.length, 10);
  t.same(result.issued_per_day[0], { day: "2026-06-01", count: 1 }, "the first day counted is days - 1 back");
  t.same(result.issued_per_day[7], { day: "2026-06-08", count: 1 });
  t.same(result.issued_per_day[9], { day: "2026-06-10", count: 2 }, "today last, to its end");
  t.equal(result.issued_per_day.reduce((n: number, d: { count: number }) => n + d.count, 0), 4, "January's is before the window");
  t.equal(result.ca.not_after, ctx.ca.notAfter.toISOString());
  t.equal(result.ca.subject_key_id, ctx.ca.subjectKeyId);
  t.match(result.ca.subject, /CN=/);
  t.equal(result.at, now.toISOString());

  insert.run("99", "revoked", new Date(now.getTime() + day).toISOString(), now.toISOString(), now.toISOString(), "later");
  const counted = now;
  now = new Date(now.getTime() + overviewReuseMs - 1);
  const again = (await ctx.app.inject({ method: "GET", url: "/api/v1/admin/overview?days=10" })).json().result;
  t.same(again.counts, { good: 3, revoked: 1, expired: 1 }, "counted again at most every overviewReuseMs");
  t.equal(again.at, counted.toISOString(), "and it says when it was counted");
  now = new Date(counted.getTime() + overviewReuseMs);
  const recounted = (await ctx.app.inject({ method: "GET", url: "/api/v1/admin/overview?days=10" })).json().result;
  t.same(recounted.counts, { good: 3, revoked: 2, expired: 1 });
  t.equal(recounted.at, now.toISOString());

  const standard = await ctx.app.inject({ method: "GET", url: "/api/v1/admin/overview" });
  t.equal(standard.json().result.issued_per_day.length, 30, "30 days unless asked");
  for (const days of ["0", "367", "x"]) {
    const bad = await ctx.app.inject({ method: "GET", url: `/api/v1/admin/overview?days=${days}` });
    t.equal(bad.statusCode, 400, `days=${days} is refused`);
  }
});

t.test("the profiles are listed read-only, with the auth key's name and never the key", async (t) => {
  const key = "00112233445566778899aabbccddeeff";
  const { app } = await testApp(t, {
    adminToken: "console-admin-token-0123456789",
    config: {
      auth_keys: { ci: { type: "standard", key } },
      signing: {
        default: { usages: ["signing", "key encipherment", "server auth"], expiry: "8760h", auth_key: "ci" },
        profiles: {
          server: { usages: ["signing", "server auth"], expiry: "720h", name_whitelist: "[a-z]+\\.internal", auth_key: "ci" },
          intermediate: { usages: ["cert sign", "crl sign"], expiry: "43800h", ca_constraint: { is_ca: true, max_path_len: 0, max_path_len_zero: true }, auth_key: "ci" },
        },
      },
    },
  });
  const refused = await app.inject({ method: "GET", url: "/api/v1/admin/profiles" });
  t.equal(refused.statusCode, 401, "admin only once authentication is configured");
  const wrong = await app.inject({ method: "GET", url: "/api/v1/admin/profiles", headers: { authorization: "Bearer wrong" } });
  t.equal(wrong.statusCode, 403);
  const response = await app.inject({ method: "GET", url: "/api/v1/admin/profiles", headers: { authorization: "Bearer console-admin-token-0123456789" } });
  t.equal(response.statusCode, 200);
  t.notMatch(response.body, key, "the auth key itself never leaves the config");
  const profiles = response.json().result.profiles;
  t.same(profiles.map((p: { name: string }) => p.name), ["default", "intermediate", "server"]);
  t.match(profiles[2], { usages: ["signing", "server auth"], expiry: "720h", auth_key: "ci", name_whitelist: "[a-z]+\\.internal", ca_constraint: { is_ca: false } });
  t.match(profiles[1], { ca_constraint: { is_ca: true, max_path_len: 0 } });
  const overview = await app.inject({ method: "GET", url: "/api/v1/admin/overview" });
  t.equal(overview.statusCode, 401, "so is the overview");
});
