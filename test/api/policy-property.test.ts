// The policy's promise as a property: whatever subject a client puts in its CSR (several CNs,
// multi-valued RDNs, E, O, OU, odd spacing, IDNs, numbers) and whatever the profile's policy, no
// certificate the service issues carries a name or attribute the policy refuses. The certificates
// are read back with @peculiar/x509 (not the service's own DER reader) and checked against a
// model of the policy written here, and Node's X509Certificate must not match them for a host or
// mailbox the policy refuses.
import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { domainToASCII } from "node:url";
import fc from "fast-check";
import t from "tap";
import { buildCsr } from "../../src/pki/csr.js";
import { Tag } from "../../src/pki/der.js";
import { emptySans } from "../../src/pki/hosts.js";
import { generatePrivateKey } from "../../src/pki/keys.js";
import { encodeName, type NameAttribute } from "../../src/pki/name.js";
import { x509 } from "../../src/pki/webcrypto.js";
import { post, testApp } from "../helpers/app.js";

const oids = { CN: "2.5.4.3", E: "1.2.840.113549.1.9.1", O: "2.5.4.10", OU: "2.5.4.11", DC: "0.9.2342.19200300.100.1.25" } as const;
type AttributeType = keyof typeof oids;

const hosts = ["web.svc.cluster.local", "WEB.svc.cluster.local", "api.example.com", "x.api.example.com", "a.corp.example", "a.b.corp.example", "evil.com", "svc.cluster.local"];
const values: Record<AttributeType, string[]> = {
  CN: [...hosts, " web.svc.cluster.local", "evil.com ", "evil.com.", "bücher.evil.com", "www.bücher.corp.example", "system:node:n1", "system:node:N1", "134744072", "010.010.010.010", "10.0.0.1", "Team CA", "evil.com\u00a0"],
  E: ["a@example.com", "a@EXAMPLE.com", "a@evil.com", "b@sub.example.com", "root@localhost"],
  O: ["system:nodes", "system:masters", "Acme", "acme"],
  OU: ["ops", "dev", "ops "],
  DC: ["com", "example"],
};
const mailboxes = values.E;

// The policies: every combination of these parts, one profile each.
const dnsRules = [undefined, [".svc.cluster.local"], ["api.example.com", "*.corp.example"], []];
const emailRules = [undefined, ["example.com"]];
const subjectRules: (Record<string, string | string[]> | undefined)[] = [undefined, {}, { O: "system:nodes" }, { O: ["Acme", "system:nodes"], OU: "ops", E: ".*" }];
const cnRules = [undefined, "system:node:[a-z0-9]+"];
interface PolicyModel {
  dns: string[] | undefined;
  email: string[] | undefined;
  subject: Record<string, string | string[]> | undefined;
  commonName: string | undefined;
}
const models: PolicyModel[] = [];
for (const dns of dnsRules) for (const email of emailRules) for (const subject of subjectRules) for (const commonName of cnRules) models.push({ dns, email, subject, commonName });

const usages = ["digital signature", "key encipherment", "server auth", "client auth", "email protection"];
const config = {
  signing: {
    default: { usages, expiry: "24h" },
    profiles: Object.fromEntries(
      models.map((m, i) => [
        `p${i}`,
        {
          usages,
          expiry: "24h",
          policy: {
            ...(m.dns ? { dns: { allow: m.dns } } : {}),
            ...(m.email ? { email: { allow: m.email } } : {}),
            ...(m.subject ? { subject: m.subject } : {}),
            ...(m.commonName ? { common_name: m.commonName } : {}),
          },
        },
      ]),
    ),
  },
};

/** The model's DNS rule, written apart from the service's. */
function dnsAllowed(rules: string[] | undefined, name: string): boolean {
  if (!rules) return true;
  return rules.some((rule) => {
    if (rule.startsWith("*.")) return name.endsWith(rule.slice(1)) && !name.slice(0, -(rule.length - 1)).includes(".") && name.length > rule.length - 1;
    if (rule.startsWith(".")) return name.endsWith(rule) && name.length > rule.length;
    return name === rule;
  });
}

/** How a client falling back to the CN reads it as a host: trimmed, without a root dot, punycode, lower case. */
function asHost(cn: string): string {
  const trimmed = cn.trim().replace(/\.$/, "");
  return (/[\u0080-\uffff]/.test(trimmed) ? domainToASCII(trimmed) : trimmed).toLowerCase();
}

/** Why the model refuses what a certificate carries, or undefined when it allows all of it. */
function modelRefusal(model: PolicyModel, subject: [string, string][], sans: string[]): string | undefined {
  for (const [type, value] of subject) {
    if (type === "CN") {
      if (model.commonName) {
        if (!new RegExp(`^(?:${model.commonName})$`).test(value)) return `CN ${value}`;
      } else if (!isIP(asHost(value)) && model.dns && !dnsAllowed(model.dns, asHost(value))) {
        return `CN ${value}`;
      }
      continue;
    }
    if (model.subject) {
      const rule = model.subject[type];
      if (rule === undefined) return `${type} not named`;
      if (![rule].flat().some((pattern) => new RegExp(`^(?:${pattern})$`).test(value))) return `${type} ${value}`;
    }
    if (type === "E" && model.email && !model.email.includes(value.slice(value.lastIndexOf("@") + 1).toLowerCase())) return `E ${value}`;
  }
  for (const name of sans) if (!dnsAllowed(model.dns, name.toLowerCase())) return `SAN ${name}`;
  return undefined;
}

const attribute = fc.constantFrom(...(Object.keys(oids) as AttributeType[])).chain((type) => fc.constantFrom(...values[type]).map((value) => [type, value] as [AttributeType, string]));
const request = fc.record({
  profile: fc.nat(models.length - 1),
  // One or two attributes per RDN: multi-valued RDNs too.
  rdns: fc.array(fc.array(attribute, { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 4 }),
  hosts: fc.option(fc.subarray(hosts, { maxLength: 2 }), { nil: undefined }),
});

t.test("no issued certificate carries a name or attribute its profile's policy refuses", async (t) => {
  const { app } = await testApp(t, { config });
  const key = await generatePrivateKey({ algo: "ecdsa", size: 256 });
  let issued = 0;
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(request, async ({ profile, rdns, hosts: requestHosts }) => {
      const name = encodeName(
        rdns.map((rdn) => rdn.map(([type, value]): NameAttribute => ({ oid: oids[type], tag: type === "E" || type === "DC" ? Tag.ia5String : Tag.utf8String, value }))),
      );
      const csr = buildCsr(name, emptySans(), key).pem;
      const answer = await post(app, "sign", { certificate_request: csr, profile: `p${profile}`, ...(requestHosts ? { hosts: requestHosts } : {}) });
      if (answer.status !== 200) {
        refused++;
        return [400, 403].includes(answer.status);
      }
      issued++;
      const pem: string = answer.body.result.certificate;
      const certificate = new x509.X509Certificate(pem);
      const subject = certificate.subjectName.toJSON().flatMap((rdn) => Object.entries(rdn).flatMap(([type, list]) => list.map((value) => [type, value] as [string, string])));
      const sanExtension = certificate.getExtension(x509.SubjectAlternativeNameExtension);
      const sans = sanExtension ? sanExtension.names.items.filter((item) => item.type === "dns").map((item) => item.value) : [];
      const model = models[profile]!;
      const why = modelRefusal(model, subject, sans);
      if (why) throw new Error(`p${profile} ${JSON.stringify(model)} issued ${JSON.stringify(subject)} ${JSON.stringify(sans)}: ${why}`);
      // A real verifier agrees: the certificate matches no host or mailbox the policy refuses.
      const node = new X509Certificate(pem);
      for (const host of hosts.concat(["evil.com", "xn--bcher-kva.evil.com"])) {
        if (node.checkHost(host) && !dnsAllowed(model.dns, host.toLowerCase())) throw new Error(`matches host ${host} under p${profile}`);
      }
      for (const mailbox of mailboxes) {
        const domain = mailbox.slice(mailbox.indexOf("@") + 1).toLowerCase();
        if (node.checkEmail(mailbox) && model.email && !model.email.includes(domain)) throw new Error(`matches mailbox ${mailbox} under p${profile}`);
      }
      return true;
    }),
    { numRuns: 600, seed: 20261202 },
  );
  t.ok(issued > 60, `a fair share was issued (${issued} issued, ${refused} refused), so the property is not vacuous`);
  t.ok(refused > 60, `and a fair share refused (${refused})`);
});
