import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildApp } from "../api/app.js";
import { Metrics } from "../api/metrics.js";
import { Authority } from "../authority/authority.js";
import { SigningConfigReloader } from "../authority/config-reload.js";
import { operatorServices, sqliteRecords } from "../authority/operator-services.js";
import { initCa } from "../authority/init-ca.js";
import { loadCertificateAuthority } from "../pki/ca.js";
import { loadSigningConfig } from "../profiles/signing-config.js";
import { csrRequestSchema } from "../schemas/wire.js";
import { CertificateStore } from "../store/certificate-store.js";
import { SqliteAcmeStore } from "../store/acme-sqlite.js";
import { packageRoot } from "./options.js";
import { acmeValidationTimeoutMs, createChallengeValidator } from "./serve/acme.js";
import { packageVersion } from "./serve.js";

/**
 * Renders the OpenAPI document the app serves, as YAML. It builds a real app around a throwaway
 * CA and an in-memory database: the routes, not their state, make the document.
 */
export async function renderOpenapi(): Promise<string> {
  const request = csrRequestSchema.parse(JSON.parse(readFileSync(join(packageRoot, "profiles", "ca-csr.json"), "utf8")));
  const made = await initCa(request, new Date());
  const store = CertificateStore.open(":memory:");
  const ca = await loadCertificateAuthority(made.certificate, made.private_key);
  const configPath = join(packageRoot, "profiles", "ca-config.json");
  const authority = new Authority({ ca, config: loadSigningConfig(configPath), store });
  const reloader = new SigningConfigReloader(authority, configPath);
  // The served app always has metrics (serve.ts), so the document has GET /metrics.
  const metrics = new Metrics({ defaultMetrics: false });
  // The ACME routes are served once the signing config has an acme section; documented always.
  const acme = { store: new SqliteAcmeStore(store.db), validator: createChallengeValidator({ httpPort: 80, tlsPort: 443, timeoutMs: acmeValidationTimeoutMs }) };
  const app = await buildApp({ authority, ...operatorServices(ca, sqliteRecords(store.db), () => new Date()), reloader, metrics, version: packageVersion(), acme });
  await app.ready();
  const yaml = app.swagger({ yaml: true });
  await app.close();
  store.close();
  return yaml;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(join(packageRoot, "openapi.yaml"), await renderOpenapi());
  console.log("wrote openapi.yaml");
}
