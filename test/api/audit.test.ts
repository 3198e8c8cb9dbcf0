// The audit trail: each issuance, refusal and revocation is one JSON log line saying who asked,
// for what, and what came of it; the database records who asked with the certificate.
import { createHmac } from "node:crypto";
import t from "tap";
import { testApp } from "../helpers/app.js";

const authKey = "00112233445566778899aabbccddeeff";
const adminToken = "audit-admin-token-0123456789abcdef";
const config = {
  auth_keys: { ci: { type: "standard", key: authKey } },
  signing: {
    default: { usages: ["digital signature", "server auth"], expiry: "24h" },
    profiles: {
      locked: { usages: ["digital signature", "server auth"], expiry: "24h", auth_key: "ci" },
      narrow: { usages: ["digital signature", "server auth"], expiry: "24h", policy: { dns: { allow: [".internal"] } } },
    },
  },
};

interface Line {
  msg: string;
  level: number;
  reqId?: string;
  audit?: { endpoint: string; client: string; profile?: string; cn?: string; sans?: string[]; serial?: string; outcome: string; code?: number };
}

t.test("issuances, refusals and revocations each leave one audit line; the row says who asked", async (t) => {
  const lines: Line[] = [];
  const ctx = await testApp(t, { config, adminToken, logStream: { write: (line) => lines.push(JSON.parse(line)) } });
  const send = (url: string, body: object, headers: Record<string, string> = {}) =>
    ctx.app.inject({ method: "POST", url: `/api/v1/cfssl/${url}`, headers: { "content-type": "application/json", ...headers }, payload: JSON.stringify(body) });

  const body = JSON.stringify({ request: { CN: "svc.internal", hosts: ["svc.internal", "10.0.0.5"] }, profile: "locked" });
  const mac = createHmac("sha256", Buffer.from(authKey, "hex")).update(body).digest("base64");
  const issued = await ctx.app.inject({
    method: "POST",
    url: "/api/v1/cfssl/newcert",
    headers: { "content-type": "application/json", authorization: `CFSSL-HMAC ci:${mac}` },
    payload: body,
  });
  t.equal(issued.statusCode, 200);
  const anonymous = await send("newcert", { request: { CN: "svc.internal" }, profile: "locked" });
  t.equal(anonymous.statusCode, 401);
  const outside = await send("newcert", { request: { CN: "evil.example.com", hosts: ["evil.example.com"] }, profile: "narrow" });
  t.equal(outside.statusCode, 403);
  const plain = await send("newcert", { request: { CN: "open.internal", hosts: ["open.internal"] } });
  const { X509Certificate } = await import("node:crypto");
  const serial = BigInt(`0x${new X509Certificate(plain.json().result.certificate).serialNumber}`).toString(10);
  t.equal((await send("revoke", { serial, reason: "superseded" }, { authorization: `Bearer ${adminToken}` })).statusCode, 200);
  await send("health", {});

  const audits = lines.filter((line) => line.audit);
  t.equal(audits.length, 5, "one line per issuing or revoking request, none for the rest");
  for (const line of audits) {
    t.equal(line.msg, "audit");
    t.equal(line.level, 30, "info");
    t.ok(line.reqId, "with the request id");
  }
  const [first, second, third, fourth, fifth] = audits.map((line) => line.audit!);
  t.match(first, { endpoint: "newcert", client: "auth-key:ci", profile: "locked", cn: "svc.internal", sans: ["svc.internal", "10.0.0.5"], outcome: "issued" });
  t.match(first!.serial, /^\d+$/);
  t.match(second, { endpoint: "newcert", profile: "locked", outcome: "refused", code: 13100 });
  t.match(second!.client, /^address:/);
  t.match(third, { endpoint: "newcert", profile: "narrow", cn: "evil.example.com", outcome: "refused", code: 5300 });
  t.match(fourth, { endpoint: "newcert", outcome: "issued", serial });
  t.match(fifth, { endpoint: "revoke", client: "admin", serial, cn: "open.internal", outcome: "revoked" });

  const row = ctx.store.get(first!.serial!, ctx.ca.subjectKeyId);
  t.equal(row?.requestedBy, "auth-key:ci", "the database records who asked");
  t.match(ctx.store.get(serial, ctx.ca.subjectKeyId)?.requestedBy, /^address:/);

  const text = lines.map((line) => JSON.stringify(line)).join("\n");
  t.notMatch(text, /PRIVATE KEY|CERTIFICATE REQUEST/, "no keys or CSRs in the log");
  t.notOk(text.includes(mac), "no HMAC in the log");
  t.notOk(text.includes(adminToken), "no admin token in the log");
});

t.test("a refused request writes one log line, with its error code and message on it", async (t) => {
  const lines: (Line & { error?: { code: number; message: string }; statusCode?: number })[] = [];
  const ctx = await testApp(t, { config, adminToken, logStream: { write: (line) => lines.push(JSON.parse(line)) } });
  const refused = await ctx.app.inject({ method: "POST", url: "/api/v1/cfssl/newcert", payload: { request: { CN: "x", hosts: ["bad host!"] } } });
  t.equal(refused.statusCode, 400);
  const notAudited = await ctx.app.inject({ method: "POST", url: "/api/v1/cfssl/info", payload: { profile: "nope" } });
  t.equal(notAudited.statusCode, 400);
  const byRequest = new Map<string | undefined, typeof lines>();
  for (const line of lines) byRequest.set(line.reqId, [...(byRequest.get(line.reqId) ?? []), line]);
  t.equal(byRequest.size, 2, "two requests");
  for (const [reqId, own] of byRequest) {
    t.equal(own.length, 1, `${reqId}: one line`);
    t.equal(own[0]!.statusCode, 400);
  }
  const [first, second] = [...byRequest.values()].map((own) => own[0]!);
  t.match(first, { msg: "audit", audit: { outcome: "refused", code: 9300 }, error: { code: 9300, message: /hosts\[0\] "bad host!" is not a valid/ } });
  t.match(second, { msg: "request completed", error: { code: 5400, message: /profile "nope" does not exist/ } });
});
